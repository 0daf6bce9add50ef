/*
 * base64.h - standard base64 (RFC 4648 section 4, with padding), as Go's encoding/json writes
 * []byte and Kubernetes stores Secret data.
 */
#ifndef BSN_BASE_BASE64_H
#define BSN_BASE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Appends the encoding of p[0..n) to out. */
void bsn_base64_encode(const uint8_t *p, size_t n, struct bsn_buf *out);
/* Decodes s[0..n) (padding required as Go's StdEncoding; \r \n ignored), appending to out.
 * -1 on bad input. */
int bsn_base64_decode(const char *s, size_t n, struct bsn_buf *out);

#endif
