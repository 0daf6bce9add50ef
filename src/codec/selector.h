/*
 * selector.h - label selectors and field selectors.
 *
 * Label selectors come either as the query-string form
 *     "a=b,a==b,c!=d,e in (x,y),f notin (z),g,!h,n>3"
 * (upstream labels.Parse, with its key/value validation) or as a JSON LabelSelector
 * ({matchLabels, matchExpressions}). An empty selector matches everything; a null JSON
 * selector matches nothing (upstream's LabelSelectorAsSelector).
 *
 * Field selectors ("metadata.name=x,status.phase!=Running") support =, == and != and
 * backslash escapes in values; matching asks a caller-supplied getter for each field's value.
 */
#ifndef BSN_CODEC_SELECTOR_H
#define BSN_CODEC_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define BSN_SELECTOR_MAX_LEN  (64 * 1024)
#define BSN_SELECTOR_MAX_REQS 256

enum bsn_sel_op {
    BSN_SEL_EQ,         /* = or == (and matchLabels) */
    BSN_SEL_NE,         /* != */
    BSN_SEL_IN,         /* in (...) */
    BSN_SEL_NOTIN,      /* notin (...) */
    BSN_SEL_EXISTS,     /* key */
    BSN_SEL_NOT_EXISTS, /* !key */
    BSN_SEL_GT,         /* key > int */
    BSN_SEL_LT,         /* key < int */
};

struct bsn_sel_req {
    char *key;
    enum bsn_sel_op op;
    char **values;
    size_t nvalues;
};

struct bsn_selector {
    struct bsn_sel_req *reqs;
    size_t n;
    bool nothing; /* matches no object (null LabelSelector) */
};

/*
 * Parses the string form into sel (caller calls bsn_selector_fini). "" matches everything.
 * Errors: 400 BadRequest, e.g. `unable to parse requirement: found '(', expected: identifier`
 * or `unable to parse requirement: values[0][app]: Invalid value: "a b": <label message>`.
 */
int bsn_selector_parse(const char *s, struct bsn_selector *sel, struct bsn_err *err);
/* From a JSON LabelSelector (NULL or JSON null -> matches nothing). */
int bsn_selector_from_json(const json_t *ls, struct bsn_selector *sel, struct bsn_err *err);
void bsn_selector_fini(struct bsn_selector *sel);
/* True when sel matches labels (a JSON object of strings, or NULL for no labels). */
bool bsn_selector_match(const struct bsn_selector *sel, const json_t *labels);
/* True when it matches everything. */
bool bsn_selector_is_everything(const struct bsn_selector *sel);
/* Appends the canonical string form (requirements sorted by key, as upstream String()). */
void bsn_selector_string(const struct bsn_selector *sel, struct bsn_buf *out);

/* ---- field selectors ---- */

struct bsn_field_req {
    char *field;
    char *value;
    bool negate; /* != */
};

struct bsn_field_selector {
    struct bsn_field_req *reqs;
    size_t n;
};

/*
 * Returns the value of field for the object (borrowed; NULL counts as ""), setting *known to
 * false when the field is not supported for the kind.
 */
typedef const char *(*bsn_field_getter)(const char *field, void *obj, bool *known);

int bsn_field_selector_parse(const char *s, struct bsn_field_selector *fs, struct bsn_err *err);
void bsn_field_selector_fini(struct bsn_field_selector *fs);
/*
 * Matches obj. Returns 1 match, 0 no match, -1 when a field is not supported (err: 400
 * BadRequest `field label not supported: <field>`).
 */
int bsn_field_selector_match(const struct bsn_field_selector *fs, bsn_field_getter get, void *obj,
                             struct bsn_err *err);
/* A getter over JSON objects using dotted paths (metadata.name, spec.nodeName, ...). */
const char *bsn_field_get_json(const char *field, void *obj, bool *known);

#endif
