/*
 * yaml.c - YAML stream -> jansson values (libyaml event parser), with go-yaml v2 scalar typing.
 *
 * The builder keeps an explicit stack of open collections, so nesting depth is bounded by
 * BSN_YAML_MAX_DEPTH rather than by the C stack. Anchored nodes are remembered with their
 * expanded node count; every alias adds that count to a per-stream budget so that
 * "billion laughs" documents fail fast instead of exploding in memory.
 */
#include "codec/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/mem.h"

/* ---- plain scalar resolution (go-yaml v2 resolve.go behaviour) ---- */

static const char *const yaml_true[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                        "True", "TRUE", "on",  "On",  "ON"};
static const char *const yaml_false[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                         "False", "FALSE", "off", "Off", "OFF"};
static const char *const yaml_null[] = {"~", "null", "Null", "NULL"};
static const char *const yaml_nonfinite[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",  ".INF",
                                             "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"};

static bool
in_table(const char *s, size_t len, const char *const *tab, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(tab[i]) == len && memcmp(tab[i], s, len) == 0)
            return true;
    return false;
}

static int
digit_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/*
 * Go strconv.ParseInt/ParseUint(s, 0, 64) semantics on an underscore-free string. Returns 1 and
 * sets *neg and *mag on success, 0 if the syntax is not an integer, -1 on overflow of uint64.
 */
static int
parse_go_int(const char *s, bool allow_sign, bool *neg, uint64_t *mag)
{
    *neg = false;
    if (allow_sign && (*s == '+' || *s == '-')) {
        *neg = *s == '-';
        s++;
    }
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    } else if (s[0] == '0' && s[1] != '\0') {
        base = 8;
        s += 1;
    }
    if (*s == '\0')
        return 0;
    uint64_t v = 0;
    bool overflow = false;
    for (; *s; s++) {
        int d = digit_val(*s);
        if (d >= (int)base)
            return 0;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            overflow = true;
        else
            v = v * base + (uint64_t)d;
    }
    if (overflow)
        return -1;
    *mag = v;
    return 1;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool
is_yaml_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    } else {
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9')
                s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static json_t *
number_from_double(double d)
{
    if (d == trunc(d) && fabs(d) < 9.2e18)
        return json_integer((json_int_t)d);
    return json_real(d);
}

json_t *
bsn_yaml_resolve_plain(const char *s, size_t len)
{
    if (len == 0 || in_table(s, len, yaml_null, BSN_ARRAY_LEN(yaml_null)))
        return json_null();
    if (in_table(s, len, yaml_true, BSN_ARRAY_LEN(yaml_true)))
        return json_true();
    if (in_table(s, len, yaml_false, BSN_ARRAY_LEN(yaml_false)))
        return json_false();
    if (in_table(s, len, yaml_nonfinite, BSN_ARRAY_LEN(yaml_nonfinite)))
        return NULL;
    char c = s[0];
    if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') || len > 512 ||
        memchr(s, '\0', len))
        return json_stringn(s, len);

    char tmp[520];
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '_')
            tmp[n++] = s[i];
    tmp[n] = '\0';

    bool neg;
    uint64_t mag;
    int r = parse_go_int(tmp, true, &neg, &mag);
    if (r == 1) {
        if (!neg && mag <= INT64_MAX)
            return json_integer((json_int_t)mag);
        if (neg && mag <= (uint64_t)INT64_MAX + 1)
            return json_integer(mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(json_int_t)mag);
        if (!neg && tmp[0] != '+')
            return json_real((double)mag); /* ParseUint succeeded: beyond int64 */
    }
    if (is_yaml_float(tmp)) {
        errno = 0;
        double d = strtod(tmp, NULL);
        if (!(errno == ERANGE && isinf(d)) && isfinite(d))
            return number_from_double(d);
    }
    return json_stringn(s, len);
}

/* ---- event-driven tree builder ---- */

struct frame {
    json_t *node;   /* object or array being filled */
    char *anchor;   /* anchor to register when the node completes */
    size_t nodes;   /* expanded node count so far (including itself) */
    char *key;      /* map: pending key (heap) */
    bool have_key;  /* map: key read, waiting for value */
    bool merge_key; /* map: pending key is the merge key << */
    json_t *merges; /* map: array of objects from << to apply at the end */
    size_t line;    /* for messages */
};

struct anchor {
    char *name;
    json_t *value;
    size_t nodes;
};

struct builder {
    struct frame stack[BSN_YAML_MAX_DEPTH + 1];
    int depth;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    size_t budget; /* expanded nodes in the whole stream */
    json_t *doc;
    bool doc_set;
    struct bsn_err *err;
    bool strict; /* duplicate keys are an error */
};

static int
yerr(struct builder *b, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    return bsn_err_set(b->err, 400, "BadRequest", "yaml: line %zu, column %zu: %s", m->line + 1,
                       m->column + 1, msg);
}

static void
anchor_put(struct builder *b, const char *name, const json_t *v, size_t nodes)
{
    for (size_t i = 0; i < b->nanchors; i++) {
        if (strcmp(b->anchors[i].name, name) == 0) {
            json_decref(b->anchors[i].value);
            b->anchors[i].value = json_deep_copy(v);
            b->anchors[i].nodes = nodes;
            return;
        }
    }
    if (b->nanchors == b->capanchors) {
        b->capanchors = b->capanchors ? b->capanchors * 2 : 8;
        b->anchors = bsn_realloc(b->anchors, b->capanchors * sizeof(*b->anchors));
    }
    b->anchors[b->nanchors++] = (struct anchor){bsn_strdup(name), json_deep_copy(v), nodes};
}

static void
builder_free(struct builder *b)
{
    for (int i = 0; i < b->depth; i++) {
        json_decref(b->stack[i].node);
        json_decref(b->stack[i].merges);
        free(b->stack[i].anchor);
        free(b->stack[i].key);
    }
    b->depth = 0;
    for (size_t i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].value);
    }
    free(b->anchors);
    b->anchors = NULL;
    b->nanchors = b->capanchors = 0;
    json_decref(b->doc);
    b->doc = NULL;
}

/* Converts a value used as a mapping key into its string form (sigs.k8s.io/yaml rules). */
static char *
key_string(const json_t *k)
{
    char tmp[64];
    switch (json_typeof(k)) {
    case JSON_STRING:
        return bsn_strndup(json_string_value(k), json_string_length(k));
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        return bsn_strdup(tmp);
    case JSON_REAL:
        snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(k));
        for (int p = 1; p <= 17; p++) {
            char t2[64];
            snprintf(t2, sizeof(t2), "%.*g", p, json_real_value(k));
            if (strtod(t2, NULL) == json_real_value(k)) {
                memcpy(tmp, t2, sizeof(tmp));
                break;
            }
        }
        return bsn_strdup(tmp);
    case JSON_TRUE:
        return bsn_strdup("true");
    case JSON_FALSE:
        return bsn_strdup("false");
    case JSON_NULL:
        return bsn_strdup("null");
    default:
        return NULL;
    }
}

/* Applies collected merge sources: keys already present win, earlier sources win. */
static void
apply_merges(json_t *obj, json_t *merges)
{
    size_t i;
    json_t *src;
    json_array_foreach(merges, i, src)
    {
        const char *k;
        json_t *v;
        json_object_foreach(src, k, v)
        {
            if (!json_object_get(obj, k))
                json_object_set(obj, k, v);
        }
    }
}

/* Hands a completed node (stolen reference) to its parent, or makes it the document root. */
static int
attach(struct builder *b, json_t *v, size_t nodes, bool is_merge_key, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        json_decref(b->doc);
        b->doc = v;
        b->doc_set = true;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    f->nodes += nodes;
    if (json_is_array(f->node)) {
        json_array_append_new(f->node, v);
        return 0;
    }
    if (!f->have_key) {
        f->key = key_string(v);
        json_decref(v);
        if (!f->key)
            return yerr(b, m, "%sunsupported map key: a mapping key must be a scalar", NULL);
        f->have_key = true;
        f->merge_key = is_merge_key;
        return 0;
    }
    f->have_key = false;
    if (f->merge_key) {
        f->merge_key = false;
        free(f->key);
        f->key = NULL;
        if (json_is_object(v)) {
            json_array_append_new(f->merges, v);
            return 0;
        }
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if (!json_is_object(e)) {
                    json_decref(v);
                    return yerr(b, m, "%smap merge requires map or sequence of maps as the value",
                                NULL);
                }
                json_array_append(f->merges, e);
            }
            json_decref(v);
            return 0;
        }
        json_decref(v);
        return yerr(b, m, "%smap merge requires map or sequence of maps as the value", NULL);
    }
    if (b->strict && json_object_get(f->node, f->key)) {
        json_decref(v);
        return bsn_err_set(b->err, 400, "BadRequest",
                           "yaml: line %zu: key \"%.200s\" already set in map", m->line + 1,
                           f->key);
    }
    json_object_set_new(f->node, f->key, v); /* duplicate keys: last wins, as go-yaml v2 */
    free(f->key);
    f->key = NULL;
    return 0;
}

static int
push(struct builder *b, json_t *node, const yaml_char_t *anchor, const yaml_mark_t *m)
{
    if (b->depth >= BSN_YAML_MAX_DEPTH) {
        json_decref(node);
        return yerr(b, m, "%sexceeded max depth of 100", NULL);
    }
    struct frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->anchor = anchor ? bsn_strdup((const char *)anchor) : NULL;
    f->nodes = 1;
    if (json_is_object(node))
        f->merges = json_array();
    return 0;
}

static int
pop(struct builder *b, const yaml_mark_t *m)
{
    struct frame f = b->stack[--b->depth];
    if (f.merges) {
        apply_merges(f.node, f.merges);
        json_decref(f.merges);
    }
    free(f.key);
    if (f.anchor) {
        anchor_put(b, f.anchor, f.node, f.nodes);
        free(f.anchor);
    }
    return attach(b, f.node, f.nodes, false, m);
}

static bool
tag_is(const yaml_char_t *tag, const char *short_name)
{
    const char *t = (const char *)tag;
    return t && strncmp(t, "tag:yaml.org,2002:", 18) == 0 && strcmp(t + 18, short_name) == 0;
}

static int
on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    json_t *v;
    bool merge = false;

    if (tag && !tag_is(tag, "str") && !tag_is(tag, "binary") &&
        (tag_is(tag, "int") || tag_is(tag, "float") || tag_is(tag, "bool") ||
         tag_is(tag, "null"))) {
        v = bsn_yaml_resolve_plain(s, len);
        bool ok = v != NULL;
        if (ok && tag_is(tag, "int"))
            ok = json_is_integer(v);
        else if (ok && tag_is(tag, "float"))
            ok = json_is_number(v);
        else if (ok && tag_is(tag, "bool"))
            ok = json_is_boolean(v);
        else if (ok && tag_is(tag, "null"))
            ok = json_is_null(v);
        if (!ok) {
            json_decref(v);
            char what[96];
            snprintf(what, sizeof(what), "%.*s", (int)BSN_MIN(len, 64), s);
            return yerr(b, &ev->start_mark, "cannot decode `%s` with the given tag", what);
        }
    } else if (tag || !plain) {
        v = json_stringn(s, len);
    } else {
        if (len == 2 && memcmp(s, "<<", 2) == 0)
            merge = true;
        v = bsn_yaml_resolve_plain(s, len);
        if (!v) {
            char what[96];
            snprintf(what, sizeof(what), "%.*s", (int)BSN_MIN(len, 64), s);
            return yerr(b, &ev->start_mark, "cannot represent %s in JSON", what);
        }
    }
    if (!v)
        return yerr(b, &ev->start_mark, "%sinvalid UTF-8 in scalar", NULL);
    if (ev->data.scalar.anchor)
        anchor_put(b, (const char *)ev->data.scalar.anchor, v, 1);
    if (++b->budget > BSN_YAML_MAX_NODES) {
        json_decref(v);
        return yerr(b, &ev->start_mark, "%sdocument has too many nodes", NULL);
    }
    return attach(b, v, 1, merge, &ev->start_mark);
}

static int
on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    for (size_t i = b->nanchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) != 0)
            continue;
        b->budget += b->anchors[i].nodes;
        if (b->budget > BSN_YAML_MAX_NODES)
            return yerr(b, &ev->start_mark, "%sdocument contains excessive aliasing", NULL);
        return attach(b, json_deep_copy(b->anchors[i].value), b->anchors[i].nodes, false,
                      &ev->start_mark);
    }
    return yerr(b, &ev->start_mark, "unknown anchor '%s' referenced", name);
}

static int
parser_error(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR)
        return bsn_err_set(b->err, 400, "BadRequest", "yaml: out of memory");
    if (p->context)
        return bsn_err_set(b->err, 400, "BadRequest", "yaml: line %zu, column %zu: %s %s",
                           p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
                           p->context);
    return bsn_err_set(b->err, 400, "BadRequest", "yaml: line %zu, column %zu: %s",
                       p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

static json_t *
parse_stream(const char *data, size_t len, bool strict, struct bsn_err *err)
{
    if (len > BSN_YAML_MAX_BYTES) {
        bsn_err_set(err, 413, "RequestEntityTooLarge", "yaml: document of %zu bytes exceeds %u",
                    len, BSN_YAML_MAX_BYTES);
        return NULL;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        abort();
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);

    struct builder b;
    memset(&b, 0, sizeof(b));
    b.err = err;
    b.strict = strict;
    json_t *docs = json_array();
    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = parser_error(&b, &p);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            json_decref(b.doc);
            b.doc = NULL;
            b.doc_set = false;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (b.doc && !json_is_null(b.doc))
                json_array_append(docs, b.doc);
            json_decref(b.doc);
            b.doc = NULL;
            /* anchors are scoped to their document */
            for (size_t i = 0; i < b.nanchors; i++) {
                free(b.anchors[i].name);
                json_decref(b.anchors[i].value);
            }
            b.nanchors = 0;
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(&b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = push(&b, json_array(), ev.data.sequence_start.anchor, &ev.start_mark);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = push(&b, json_object(), ev.data.mapping_start.anchor, &ev.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = pop(&b, &ev.start_mark);
            if (rc == 0 && ++b.budget > BSN_YAML_MAX_NODES)
                rc = yerr(&b, &ev.start_mark, "%sdocument has too many nodes", NULL);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    builder_free(&b);
    yaml_parser_delete(&p);
    if (rc != 0) {
        json_decref(docs);
        return NULL;
    }
    return docs;
}

json_t *
bsn_yaml_parse(const char *data, size_t len, struct bsn_err *err)
{
    return parse_stream(data, len, false, err);
}

json_t *
bsn_yaml_parse_strict(const char *data, size_t len, struct bsn_err *err)
{
    return parse_stream(data, len, true, err);
}

json_t *
bsn_yaml_parse_one(const char *data, size_t len, struct bsn_err *err)
{
    json_t *docs = bsn_yaml_parse(data, len, err);
    if (!docs)
        return NULL;
    size_t n = json_array_size(docs);
    if (n > 1) {
        json_decref(docs);
        bsn_err_set(err, 400, "BadRequest", "yaml: expected a single document, found %zu", n);
        return NULL;
    }
    json_t *v = n ? json_incref(json_array_get(docs, 0)) : json_null();
    json_decref(docs);
    return v;
}
