/*
 * quantity.h - Kubernetes resource.Quantity: "100m", "1.5", "2Gi", "500M", "1e3".
 *
 * A quantity is held exactly as a signed count of nano-units (128-bit), which covers every
 * suffix up to Ei with nano precision; as upstream, precision finer than 1n is rounded up
 * (away from zero) when parsing. The format (decimal SI, binary SI, decimal exponent) comes
 * from the suffix and decides how the canonical string is printed, as upstream's String().
 */
#ifndef BSN_CODEC_QUANTITY_H
#define BSN_CODEC_QUANTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define BSN_QUANTITY_REGEX "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

enum bsn_quantity_format {
    BSN_QTY_DECIMAL_SI,       /* "", n u m k M G T P E */
    BSN_QTY_BINARY_SI,        /* Ki Mi Gi Ti Pi Ei */
    BSN_QTY_DECIMAL_EXPONENT, /* e3, E-6 */
};

struct bsn_quantity {
    __int128 nanos;
    enum bsn_quantity_format format;
};

/* Longest canonical string plus NUL. */
#define BSN_QUANTITY_STR_MAX 64

/*
 * Parses s. Errors are 400 BadRequest naming the value, e.g.
 * `quantity "abc": quantities must match the regular expression '<BSN_QUANTITY_REGEX>'`.
 */
int bsn_quantity_parse(const char *s, struct bsn_quantity *q, struct bsn_err *err);
/* Accepts a JSON string or number (as upstream's UnmarshalJSON). */
int bsn_quantity_from_json(const json_t *v, struct bsn_quantity *q, struct bsn_err *err);
/* Canonical string ("1500m", "2Gi", "1k", "129e6"); out has BSN_QUANTITY_STR_MAX bytes. */
void bsn_quantity_format(const struct bsn_quantity *q, char *out, size_t n);
/* Parses and returns the canonical string (heap), or NULL with err set. */
char *bsn_quantity_canonical(const char *s, struct bsn_err *err);

/* <0, 0, >0 like strcmp. */
int bsn_quantity_cmp(const struct bsn_quantity *a, const struct bsn_quantity *b);
/* a += b / a -= b (saturating; a keeps its format unless it was zero). */
void bsn_quantity_add(struct bsn_quantity *a, const struct bsn_quantity *b);
void bsn_quantity_sub(struct bsn_quantity *a, const struct bsn_quantity *b);
/* Value in milli-units / whole units, rounded up away from zero, saturating to int64. */
int64_t bsn_quantity_milli(const struct bsn_quantity *q);
int64_t bsn_quantity_value(const struct bsn_quantity *q);
/* A JSON quantity's value in milli-units (milli) or whole units; 0 when absent or invalid
 * (resource requests, limits and usage read by controllers and the scheduler). */
int64_t bsn_quantity_json_value(const json_t *v, bool milli);
/* Builders. */
struct bsn_quantity bsn_quantity_from_milli(int64_t milli, enum bsn_quantity_format f);
struct bsn_quantity bsn_quantity_from_int(int64_t v, enum bsn_quantity_format f);

#endif
