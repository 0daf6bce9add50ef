/*
 * yaml_emit.c - jansson values -> block YAML as `kubectl -o yaml` prints it.
 *
 * go-yaml v2 (which kubectl uses) is a port of libyaml's emitter, so we drive libyaml's emitter
 * directly and only make the decisions go-yaml makes above it: key order (go-yaml's natural
 * sort), which strings must be quoted (those a plain scalar would read back as another type),
 * literal blocks for multi-line strings, and number formatting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/mem.h"
#include "codec/yaml.h"

static int
write_handler(void *data, unsigned char *buffer, size_t size)
{
    bsn_buf_append(data, buffer, size);
    return 1;
}

static int
emit_scalar(yaml_emitter_t *em, const char *s, size_t len, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

/* Shortest representation of d that reads back to the same double. */
static void
format_real(double d, char *out, size_t n)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(out, n, "%.*g", p, d);
        if (strtod(out, NULL) == d)
            break;
    }
    /* a float must not read back as an int: 1e+20 fine, "3" is not produced for non-integral */
}

static bool
needs_quotes(const char *s, size_t len)
{
    json_t *r = bsn_yaml_resolve_plain(s, len);
    bool q = !r || !json_is_string(r);
    json_decref(r);
    if (q)
        return true;
    /* go-yaml also quotes strings that YAML 1.1 readers would take as base-60 numbers or
     * timestamps-ish values; we quote anything starting with a digit containing ':' */
    if (len && s[0] >= '0' && s[0] <= '9' && memchr(s, ':', len))
        return true;
    return false;
}

/* Literal blocks are only used when they round-trip: no trailing spaces on lines, no tabs
 * or control characters, no leading space on the first line. */
static bool
literal_ok(const char *s, size_t len)
{
    if (len == 0 || s[0] == ' ' || s[0] == '\n')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' && i > 0 && s[i - 1] == ' ')
            return false;
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return false;
    }
    return s[len - 1] != ' ';
}

static int emit_value(yaml_emitter_t *em, const json_t *v, int depth);

static bool
is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/*
 * go-yaml's map key order (what kubectl prints): at the first differing character, letters
 * sort after non-letters, and runs of digits compare by numeric value ("a2" < "a10").
 */
static int
cmp_keys(const void *pa, const void *pb)
{
    const unsigned char *a = *(const unsigned char *const *)pa;
    const unsigned char *b = *(const unsigned char *const *)pb;
    size_t la = strlen((const char *)a), lb = strlen((const char *)b);
    for (size_t i = 0; i < la && i < lb; i++) {
        if (a[i] == b[i])
            continue;
        bool al = is_letter(a[i]), bl = is_letter(b[i]);
        if (al && bl)
            return a[i] < b[i] ? -1 : 1;
        if (al || bl)
            return bl ? -1 : 1;
        unsigned long long an = 0, bn = 0;
        if (a[i] == '0' || b[i] == '0') {
            for (size_t j = i; j-- > 0 && is_digit(a[j]);) {
                if (a[j] != '0') {
                    an = bn = 1;
                    break;
                }
            }
        }
        size_t ai = i, bi = i;
        for (; ai < la && is_digit(a[ai]); ai++)
            an = an * 10 + (unsigned)(a[ai] - '0');
        for (; bi < lb && is_digit(b[bi]); bi++)
            bn = bn * 10 + (unsigned)(b[bi] - '0');
        if (an != bn)
            return an < bn ? -1 : 1;
        if (ai != bi)
            return ai < bi ? -1 : 1;
        return a[i] < b[i] ? -1 : 1;
    }
    return la < lb ? -1 : la > lb ? 1 : 0;
}

static int
emit_object(yaml_emitter_t *em, const json_t *v, int depth)
{
    yaml_event_t ev;
    size_t n = json_object_size(v);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                        n ? YAML_BLOCK_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE);
    if (!yaml_emitter_emit(em, &ev))
        return -1;
    const char **keys = bsn_malloc((n ? n : 1) * sizeof(*keys));
    size_t i = 0;
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_keys);
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        size_t kl = strlen(keys[i]);
        rc = emit_scalar(em, keys[i], kl,
                         needs_quotes(keys[i], kl) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                                   : YAML_ANY_SCALAR_STYLE);
        if (rc == 0)
            rc = emit_value(em, json_object_get(v, keys[i]), depth + 1);
    }
    free(keys);
    if (rc)
        return rc;
    yaml_mapping_end_event_initialize(&ev);
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int
emit_value(yaml_emitter_t *em, const json_t *v, int depth)
{
    char num[64];
    yaml_event_t ev;
    if (depth > 1000)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return emit_object(em, v, depth);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        yaml_sequence_start_event_initialize(
            &ev, NULL, NULL, 1, n ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (emit_value(em, json_array_get(v, i), depth + 1))
                return -1;
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev) ? 0 : -1;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        yaml_scalar_style_t st = YAML_ANY_SCALAR_STYLE;
        if (memchr(s, '\n', len))
            st = literal_ok(s, len) ? YAML_LITERAL_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        else if (needs_quotes(s, len))
            st = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        return emit_scalar(em, s, len, st);
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
    case JSON_REAL:
        format_real(json_real_value(v), num, sizeof(num));
        return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
    case JSON_TRUE:
        return emit_scalar(em, "true", 4, YAML_PLAIN_SCALAR_STYLE);
    case JSON_FALSE:
        return emit_scalar(em, "false", 5, YAML_PLAIN_SCALAR_STYLE);
    case JSON_NULL:
    default:
        return emit_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    }
}

int
bsn_yaml_emit(const json_t *v, struct bsn_buf *out)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em))
        abort();
    yaml_emitter_set_output(&em, write_handler, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_indent(&em, 2);
    yaml_emitter_set_width(&em, -1);
    int rc = -1;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit(&em, &ev))
        goto done;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (!yaml_emitter_emit(&em, &ev))
        goto done;
    if (emit_value(&em, v, 0))
        goto done;
    yaml_document_end_event_initialize(&ev, 1);
    if (!yaml_emitter_emit(&em, &ev))
        goto done;
    yaml_stream_end_event_initialize(&ev);
    if (!yaml_emitter_emit(&em, &ev))
        goto done;
    rc = 0;
done:
    yaml_emitter_delete(&em);
    return rc;
}
