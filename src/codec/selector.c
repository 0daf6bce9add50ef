/*
 * selector.c - label selector parsing (string and JSON forms), matching, and field selectors.
 *
 * The string parser is a small lexer + recursive-descent parser over upstream's grammar:
 * identifiers are runs of characters other than whitespace and the symbols ! = ( ) , < >.
 */
#include "codec/selector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "codec/names.h"

/* ---- building ---- */

static struct bsn_sel_req *
add_req(struct bsn_selector *sel, const char *key, size_t klen, enum bsn_sel_op op)
{
    sel->reqs = bsn_realloc(sel->reqs, (sel->n + 1) * sizeof(*sel->reqs));
    struct bsn_sel_req *r = &sel->reqs[sel->n++];
    r->key = bsn_strndup(key, klen);
    r->op = op;
    r->values = NULL;
    r->nvalues = 0;
    return r;
}

static void
add_value(struct bsn_sel_req *r, const char *v, size_t len)
{
    r->values = bsn_realloc(r->values, (r->nvalues + 1) * sizeof(char *));
    r->values[r->nvalues++] = bsn_strndup(v, len);
}

void
bsn_selector_fini(struct bsn_selector *sel)
{
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->reqs[i].key);
        for (size_t j = 0; j < sel->reqs[i].nvalues; j++)
            free(sel->reqs[i].values[j]);
        free(sel->reqs[i].values);
    }
    free(sel->reqs);
    sel->reqs = NULL;
    sel->n = 0;
}

static int
invalid(struct bsn_err *err, const char *field, const char *value, const char *msg)
{
    return bsn_err_set(err, 400, "BadRequest",
                       "unable to parse requirement: %s: Invalid value: \"%.200s\": %s", field,
                       value, msg);
}

/* Upstream NewRequirement's checks. */
static int
validate_req(const struct bsn_sel_req *r, struct bsn_err *err)
{
    struct bsn_name_msgs m = {0};
    if (bsn_validate_qualified_name(r->key, &m))
        return invalid(err, "key", r->key, m.msg[0]);
    switch (r->op) {
    case BSN_SEL_IN:
    case BSN_SEL_NOTIN:
        if (r->nvalues == 0)
            return bsn_err_set(err, 400, "BadRequest",
                               "unable to parse requirement: values: Invalid value: []: for "
                               "'in', 'notin' operators, values set can't be empty");
        break;
    case BSN_SEL_EQ:
    case BSN_SEL_NE:
        if (r->nvalues != 1)
            return bsn_err_set(err, 400, "BadRequest",
                               "unable to parse requirement: values: Invalid value: []: exact-"
                               "match compatibility requires one single value");
        break;
    case BSN_SEL_EXISTS:
    case BSN_SEL_NOT_EXISTS:
        if (r->nvalues != 0)
            return bsn_err_set(err, 400, "BadRequest",
                               "unable to parse requirement: values: Invalid value: [%s]: values "
                               "set must be empty for exists and does not exist",
                               r->values[0]);
        break;
    case BSN_SEL_GT:
    case BSN_SEL_LT: {
        if (r->nvalues != 1)
            return bsn_err_set(err, 400, "BadRequest",
                               "unable to parse requirement: values: Invalid value: []: for "
                               "'Gt', 'Lt' operators, exactly one value is required");
        char *end;
        errno = 0;
        strtoll(r->values[0], &end, 10);
        if (!r->values[0][0] || *end || errno)
            return invalid(err, "values[0]", r->values[0],
                           "for 'Gt', 'Lt' operators, the value must be an integer");
        return 0;
    }
    }
    for (size_t i = 0; i < r->nvalues; i++) {
        memset(&m, 0, sizeof(m));
        if (bsn_validate_label_value(r->values[i], &m)) {
            char field[300];
            snprintf(field, sizeof(field), "values[%zu][%s]", i, r->key);
            return invalid(err, field, r->values[i], m.msg[0]);
        }
    }
    return 0;
}

/* ---- lexer ---- */

enum tok {
    T_END,
    T_IDENT,
    T_NOT,    /* ! */
    T_NE,     /* != */
    T_EQ,     /* = */
    T_DEQ,    /* == */
    T_GT,     /* > */
    T_LT,     /* < */
    T_LPAREN, /* ( */
    T_RPAREN, /* ) */
    T_COMMA,  /* , */
    T_IN,
    T_NOTIN,
};

struct lexer {
    const char *p;
    enum tok t;
    const char *lit;
    size_t len;
};

static bool
special(char c)
{
    return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>';
}

static void
next(struct lexer *l)
{
    while (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')
        l->p++;
    l->lit = l->p;
    char c = *l->p;
    if (!c) {
        l->t = T_END;
        l->len = 0;
        return;
    }
    if (special(c)) {
        l->len = 1;
        if (c == '!' && l->p[1] == '=') {
            l->t = T_NE;
            l->len = 2;
        } else if (c == '=' && l->p[1] == '=') {
            l->t = T_DEQ;
            l->len = 2;
        } else {
            l->t = c == '!'   ? T_NOT
                   : c == '=' ? T_EQ
                   : c == '(' ? T_LPAREN
                   : c == ')' ? T_RPAREN
                   : c == ',' ? T_COMMA
                   : c == '<' ? T_LT
                              : T_GT;
        }
        l->p += l->len;
        return;
    }
    while (*l->p && !special(*l->p) && *l->p != ' ' && *l->p != '\t' && *l->p != '\n' &&
           *l->p != '\r')
        l->p++;
    l->len = (size_t)(l->p - l->lit);
    l->t = T_IDENT;
    if (l->len == 2 && memcmp(l->lit, "in", 2) == 0)
        l->t = T_IN;
    else if (l->len == 5 && memcmp(l->lit, "notin", 5) == 0)
        l->t = T_NOTIN;
}

static int
lex_err(struct bsn_err *err, const struct lexer *l, const char *expected)
{
    return bsn_err_set(err, 400, "BadRequest",
                       "unable to parse requirement: found '%.*s', expected: %s",
                       (int)BSN_MIN(l->len, 100), l->t == T_END ? "" : l->lit, expected);
}

static int
parse_req(struct lexer *l, struct bsn_selector *sel, struct bsn_err *err)
{
    if (l->t == T_NOT) {
        next(l);
        if (l->t != T_IDENT)
            return lex_err(err, l, "identifier after '!'");
        struct bsn_sel_req *r = add_req(sel, l->lit, l->len, BSN_SEL_NOT_EXISTS);
        next(l);
        return validate_req(r, err);
    }
    if (l->t != T_IDENT)
        return lex_err(err, l, "identifier");
    struct bsn_sel_req *r = add_req(sel, l->lit, l->len, BSN_SEL_EXISTS);
    next(l);
    switch (l->t) {
    case T_END:
    case T_COMMA:
        return validate_req(r, err);
    case T_EQ:
    case T_DEQ:
    case T_NE:
    case T_GT:
    case T_LT:
        r->op = l->t == T_NE   ? BSN_SEL_NE
                : l->t == T_GT ? BSN_SEL_GT
                : l->t == T_LT ? BSN_SEL_LT
                               : BSN_SEL_EQ;
        next(l);
        if (l->t == T_IDENT || l->t == T_IN || l->t == T_NOTIN) {
            add_value(r, l->lit, l->len);
            next(l);
        } else if (l->t == T_END || l->t == T_COMMA) {
            add_value(r, "", 0);
        } else {
            return lex_err(err, l, "identifier");
        }
        return validate_req(r, err);
    case T_IN:
    case T_NOTIN:
        r->op = l->t == T_IN ? BSN_SEL_IN : BSN_SEL_NOTIN;
        next(l);
        if (l->t != T_LPAREN)
            return lex_err(err, l, "'('");
        next(l);
        if (l->t == T_RPAREN) { /* "in ()" is the set holding "" */
            add_value(r, "", 0);
            next(l);
            return validate_req(r, err);
        }
        for (;;) {
            if (l->t == T_IDENT || l->t == T_IN || l->t == T_NOTIN) {
                add_value(r, l->lit, l->len);
                next(l);
            } else if (l->t == T_COMMA || l->t == T_RPAREN) {
                add_value(r, "", 0); /* empty element: "(a,,b)" or "(a,)" */
            } else {
                return lex_err(err, l, "',', ')' or identifier");
            }
            if (l->t == T_RPAREN) {
                next(l);
                break;
            }
            if (l->t != T_COMMA)
                return lex_err(err, l, "',' or ')'");
            next(l);
        }
        return validate_req(r, err);
    default:
        return lex_err(err, l, "in, notin, =, ==, !=, gt, lt");
    }
}

int
bsn_selector_parse(const char *s, struct bsn_selector *sel, struct bsn_err *err)
{
    memset(sel, 0, sizeof(*sel));
    if (strlen(s) > BSN_SELECTOR_MAX_LEN)
        return bsn_err_set(err, 400, "BadRequest", "selector too long (%zu bytes)", strlen(s));
    struct lexer l = {.p = s};
    next(&l);
    if (l.t == T_END)
        return 0;
    for (;;) {
        if (sel->n >= BSN_SELECTOR_MAX_REQS) {
            bsn_selector_fini(sel);
            return bsn_err_set(err, 400, "BadRequest", "selector has too many requirements");
        }
        if (parse_req(&l, sel, err)) {
            bsn_selector_fini(sel);
            return -1;
        }
        if (l.t == T_END)
            return 0;
        if (l.t != T_COMMA) {
            lex_err(err, &l, "',' or 'end of string'");
            bsn_selector_fini(sel);
            return -1;
        }
        next(&l);
    }
}

int
bsn_selector_from_json(const json_t *ls, struct bsn_selector *sel, struct bsn_err *err)
{
    memset(sel, 0, sizeof(*sel));
    if (!ls || json_is_null(ls)) {
        sel->nothing = true;
        return 0;
    }
    if (!json_is_object(ls))
        return bsn_err_set(err, 400, "BadRequest", "label selector must be an object");
    const json_t *ml = json_object_get(ls, "matchLabels");
    const json_t *me = json_object_get(ls, "matchExpressions");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ml, k, v)
    {
        if (!json_is_string(v)) {
            bsn_selector_fini(sel);
            return bsn_err_set(err, 400, "BadRequest", "matchLabels[%s] must be a string", k);
        }
        struct bsn_sel_req *r = add_req(sel, k, strlen(k), BSN_SEL_EQ);
        add_value(r, json_string_value(v), json_string_length(v));
        if (validate_req(r, err)) {
            bsn_selector_fini(sel);
            return -1;
        }
    }
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)me, i, e)
    {
        const char *key = bsn_json_str(e, "key");
        const char *op = bsn_json_str(e, "operator");
        enum bsn_sel_op o;
        if (!op || !key) {
            bsn_selector_fini(sel);
            return bsn_err_set(err, 400, "BadRequest",
                               "matchExpressions[%zu]: key and operator are required", i);
        }
        if (strcmp(op, "In") == 0)
            o = BSN_SEL_IN;
        else if (strcmp(op, "NotIn") == 0)
            o = BSN_SEL_NOTIN;
        else if (strcmp(op, "Exists") == 0)
            o = BSN_SEL_EXISTS;
        else if (strcmp(op, "DoesNotExist") == 0)
            o = BSN_SEL_NOT_EXISTS;
        else {
            bsn_selector_fini(sel);
            return bsn_err_set(err, 400, "BadRequest",
                               "\"%.64s\" is not a valid label selector operator", op);
        }
        struct bsn_sel_req *r = add_req(sel, key, strlen(key), o);
        size_t j;
        json_t *val;
        json_array_foreach(json_object_get(e, "values"), j, val)
        {
            if (json_is_string(val))
                add_value(r, json_string_value(val), json_string_length(val));
        }
        if (validate_req(r, err)) {
            bsn_selector_fini(sel);
            return -1;
        }
    }
    return 0;
}

bool
bsn_selector_is_everything(const struct bsn_selector *sel)
{
    return !sel->nothing && sel->n == 0;
}

static bool
in_values(const struct bsn_sel_req *r, const char *v)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

static bool
req_match(const struct bsn_sel_req *r, const json_t *labels)
{
    const char *v = json_string_value(json_object_get(labels, r->key));
    switch (r->op) {
    case BSN_SEL_EQ:
    case BSN_SEL_IN:
        return v && in_values(r, v);
    case BSN_SEL_NE:
    case BSN_SEL_NOTIN:
        return !v || !in_values(r, v);
    case BSN_SEL_EXISTS:
        return v != NULL;
    case BSN_SEL_NOT_EXISTS:
        return v == NULL;
    case BSN_SEL_GT:
    case BSN_SEL_LT: {
        if (!v)
            return false;
        char *end;
        errno = 0;
        long long lv = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return false;
        long long rv = strtoll(r->values[0], NULL, 10);
        return r->op == BSN_SEL_GT ? lv > rv : lv < rv;
    }
    }
    return false;
}

bool
bsn_selector_match(const struct bsn_selector *sel, const json_t *labels)
{
    if (sel->nothing)
        return false;
    for (size_t i = 0; i < sel->n; i++)
        if (!req_match(&sel->reqs[i], labels))
            return false;
    return true;
}

static int
cmp_req(const void *a, const void *b)
{
    const struct bsn_sel_req *x = *(const struct bsn_sel_req *const *)a;
    const struct bsn_sel_req *y = *(const struct bsn_sel_req *const *)b;
    return strcmp(x->key, y->key);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
bsn_selector_string(const struct bsn_selector *sel, struct bsn_buf *out)
{
    const struct bsn_sel_req **v = bsn_malloc((sel->n + 1) * sizeof(*v));
    for (size_t i = 0; i < sel->n; i++)
        v[i] = &sel->reqs[i];
    /* stable enough: keys are compared, ties keep relative order in practice */
    qsort(v, sel->n, sizeof(*v), cmp_req);
    for (size_t i = 0; i < sel->n; i++) {
        const struct bsn_sel_req *r = v[i];
        if (i)
            bsn_buf_putc(out, ',');
        if (r->op == BSN_SEL_NOT_EXISTS)
            bsn_buf_putc(out, '!');
        bsn_buf_puts(out, r->key);
        switch (r->op) {
        case BSN_SEL_EQ:
            bsn_buf_printf(out, "=%s", r->values[0]);
            break;
        case BSN_SEL_NE:
            bsn_buf_printf(out, "!=%s", r->values[0]);
            break;
        case BSN_SEL_GT:
            bsn_buf_printf(out, ">%s", r->values[0]);
            break;
        case BSN_SEL_LT:
            bsn_buf_printf(out, "<%s", r->values[0]);
            break;
        case BSN_SEL_IN:
        case BSN_SEL_NOTIN: {
            char **vals = bsn_malloc(r->nvalues * sizeof(char *));
            memcpy(vals, r->values, r->nvalues * sizeof(char *));
            qsort(vals, r->nvalues, sizeof(char *), cmp_str);
            bsn_buf_puts(out, r->op == BSN_SEL_IN ? " in (" : " notin (");
            for (size_t j = 0; j < r->nvalues; j++)
                bsn_buf_printf(out, "%s%s", j ? "," : "", vals[j]);
            bsn_buf_putc(out, ')');
            free(vals);
            break;
        }
        default:
            break;
        }
    }
    free(v);
}

/* ---- field selectors ---- */

void
bsn_field_selector_fini(struct bsn_field_selector *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->reqs[i].field);
        free(fs->reqs[i].value);
    }
    free(fs->reqs);
    fs->reqs = NULL;
    fs->n = 0;
}

/* Removes backslash escapes. */
static char *
unescape(const char *s, size_t n)
{
    char *out = bsn_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

static int
parse_term(const char *t, size_t n, struct bsn_field_selector *fs, const char *whole,
           struct bsn_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\\') {
            i++;
            continue;
        }
        size_t oplen = 0;
        bool neg = false;
        if (t[i] == '!' && i + 1 < n && t[i + 1] == '=') {
            oplen = 2;
            neg = true;
        } else if (t[i] == '=' && i + 1 < n && t[i + 1] == '=') {
            oplen = 2;
        } else if (t[i] == '=') {
            oplen = 1;
        }
        if (!oplen)
            continue;
        if (i == 0)
            break;
        fs->reqs = bsn_realloc(fs->reqs, (fs->n + 1) * sizeof(*fs->reqs));
        struct bsn_field_req *r = &fs->reqs[fs->n++];
        r->field = bsn_strndup(t, i);
        r->value = unescape(t + i + oplen, n - i - oplen);
        r->negate = neg;
        return 0;
    }
    return bsn_err_set(err, 400, "BadRequest",
                       "invalid selector: '%.200s'; can't understand '%.*s'", whole,
                       (int)BSN_MIN(n, 200), t);
}

int
bsn_field_selector_parse(const char *s, struct bsn_field_selector *fs, struct bsn_err *err)
{
    memset(fs, 0, sizeof(*fs));
    size_t len = strlen(s);
    if (len > BSN_SELECTOR_MAX_LEN)
        return bsn_err_set(err, 400, "BadRequest", "field selector too long (%zu bytes)", len);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i + 1 < len && s[i] == '\\') {
            i++;
            continue;
        }
        if (i < len && s[i] != ',')
            continue;
        if (i > start) { /* empty terms are skipped, as upstream */
            if (fs->n >= BSN_SELECTOR_MAX_REQS) {
                bsn_field_selector_fini(fs);
                return bsn_err_set(err, 400, "BadRequest", "field selector has too many terms");
            }
            if (parse_term(s + start, i - start, fs, s, err)) {
                bsn_field_selector_fini(fs);
                return -1;
            }
        }
        start = i + 1;
    }
    return 0;
}

int
bsn_field_selector_match(const struct bsn_field_selector *fs, bsn_field_getter get, void *obj,
                         struct bsn_err *err)
{
    for (size_t i = 0; i < fs->n; i++) {
        bool known = true;
        const char *v = get(fs->reqs[i].field, obj, &known);
        if (!known) {
            bsn_err_set(err, 400, "BadRequest", "field label not supported: %s", fs->reqs[i].field);
            return -1;
        }
        bool eq = strcmp(v ? v : "", fs->reqs[i].value) == 0;
        if (eq == fs->reqs[i].negate)
            return 0;
    }
    return 1;
}

const char *
bsn_field_get_json(const char *field, void *obj, bool *known)
{
    *known = true;
    json_t *v = bsn_json_path(obj, field);
    if (json_is_string(v))
        return json_string_value(v);
    return NULL;
}
