/*
 * wire.h - internal: protobuf wire-format primitives, base64 and UTF-8 helpers.
 *
 * A struct bsn_prd is a bounds-checked cursor over untrusted bytes; every read fails (returns
 * -1) instead of running past the end.
 */
#ifndef BSN_PROTO_WIRE_H
#define BSN_PROTO_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base64.h"
#include "base/buf.h"

enum {
    BSN_WT_VARINT = 0,
    BSN_WT_I64 = 1,
    BSN_WT_LEN = 2,
    BSN_WT_SGROUP = 3,
    BSN_WT_EGROUP = 4,
    BSN_WT_I32 = 5
};

struct bsn_prd {
    const uint8_t *p;
    const uint8_t *end;
};

/* Reads a base-128 varint (at most 10 bytes). -1 when truncated or overlong. */
int bsn_prd_varint(struct bsn_prd *r, uint64_t *v);
/* Reads a length-delimited payload; -1 when the length runs past the end. */
int bsn_prd_bytes(struct bsn_prd *r, const uint8_t **p, size_t *n);
/* Reads 8 or 4 little-endian bytes. */
int bsn_prd_fixed64(struct bsn_prd *r, uint64_t *v);
int bsn_prd_fixed32(struct bsn_prd *r, uint32_t *v);
/* Skips one value of wire type wt; -1 for groups, bad wire types or truncation. */
int bsn_prd_skip(struct bsn_prd *r, unsigned wt);

void bsn_pwr_varint(struct bsn_buf *b, uint64_t v);
void bsn_pwr_tag(struct bsn_buf *b, uint32_t num, unsigned wt);
/* tag + length + bytes */
void bsn_pwr_lenfield(struct bsn_buf *b, uint32_t num, const void *p, size_t n);
void bsn_pwr_fixed64(struct bsn_buf *b, uint64_t v);

/* A JSON string from bytes; invalid UTF-8 sequences become U+FFFD as Go's encoder does. */
json_t *bsn_pjson_string(const uint8_t *p, size_t n);

#endif
