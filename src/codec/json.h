/*
 * json.h - JSON decoding/encoding (jansson) with the API server's limits and error shape, and
 * small path helpers over object trees.
 *
 * Decoding accepts any JSON value at the top level; duplicate object keys are accepted (last
 * wins) as Kubernetes does, unless the strict variant is used, which reports them the way
 * strict field validation does. Nesting is capped at BSN_JSON_MAX_DEPTH and input size at
 * BSN_JSON_MAX_BYTES.
 */
#ifndef BSN_CODEC_JSON_H
#define BSN_CODEC_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define BSN_JSON_MAX_DEPTH 100
#define BSN_JSON_MAX_BYTES (16u << 20)

/*
 * Parses one JSON value (trailing whitespace allowed, nothing else). On error returns NULL
 * and sets err: 400 BadRequest "json: line L, column C (byte N): problem"; 413 when too big.
 */
json_t *bsn_json_parse(const char *data, size_t len, struct bsn_err *err);

/*
 * As bsn_json_parse, but duplicate keys in any object are an error (400 BadRequest, message
 * `json: duplicate field "<path>"`, e.g. `duplicate field "metadata.name"`).
 */
json_t *bsn_json_parse_strict(const char *data, size_t len, struct bsn_err *err);

/* Compact encoding, keys in insertion order, any value at top level. Caller frees. */
char *bsn_json_dump(const json_t *v);
/* As bsn_json_dump, appending to a buffer. Returns 0 or -1. */
int bsn_json_dump_buf(const json_t *v, struct bsn_buf *out);

/*
 * Walks a dotted path of object keys ("spec.template.metadata.labels"). Returns a borrowed
 * reference or NULL when any step is missing or not an object.
 */
json_t *bsn_json_path(const json_t *root, const char *dotted);
/* String at a dotted path, or NULL if missing or not a string. */
const char *bsn_json_str(const json_t *root, const char *dotted);
/* Integer at a dotted path, or def when missing or not an integer. */
json_int_t bsn_json_int(const json_t *root, const char *dotted, json_int_t def);
/*
 * Returns the object at a dotted path, creating empty objects along the way (replacing
 * non-objects). Borrowed reference.
 */
json_t *bsn_json_path_mkobj(json_t *root, const char *dotted);

/* Deep equality where integers and reals compare numerically (1 == 1.0). */
bool bsn_json_equal(const json_t *a, const json_t *b);

#endif
