/*
 * json.c - JSON decoding with limits, strict duplicate detection, and path helpers.
 *
 * jansson itself has a depth limit (2048) but no duplicate-key report other than a fatal
 * error, so the strict decoder runs a tiny tokenizer over the input to find duplicates with
 * their path; the depth cap is checked with the same scanner (it only tracks brackets and
 * strings, so it is linear and allocation-light).
 */
#include "codec/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Checks bracket depth; returns the offset where the cap is exceeded or -1. */
static long
depth_exceeded(const char *s, size_t len)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > BSN_JSON_MAX_DEPTH)
                return (long)i;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return -1;
}

static json_t *
parse(const char *data, size_t len, size_t flags, struct bsn_err *err)
{
    if (len > BSN_JSON_MAX_BYTES) {
        bsn_err_set(err, 413, "RequestEntityTooLarge", "json: body of %zu bytes exceeds %u", len,
                    BSN_JSON_MAX_BYTES);
        return NULL;
    }
    long at = depth_exceeded(data, len);
    if (at >= 0) {
        bsn_err_set(err, 400, "BadRequest", "json: exceeded max depth of %d at byte %ld",
                    BSN_JSON_MAX_DEPTH, at);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | flags, &je);
    if (!v) {
        bsn_err_set(err, 400, "BadRequest", "json: line %d, column %d (byte %d): %s", je.line,
                    je.column, je.position, je.text);
        return NULL;
    }
    return v;
}

json_t *
bsn_json_parse(const char *data, size_t len, struct bsn_err *err)
{
    return parse(data, len, 0, err);
}

/* ---- strict: find duplicate keys with their dotted path ---- */

struct dupscan {
    char path[512];
    bool found;
};

/* jansson's JSON_REJECT_DUPLICATES detects duplicates but does not say where; once it fires,
 * a token scan over the (already validated) text finds the dotted path. */
static const char *
skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *
scan_string(const char *p, const char *end, const char **sb, size_t *sl)
{
    /* p at opening quote; returns after closing quote. Raw (escaped) contents returned. */
    p++;
    *sb = p;
    while (p < end && *p != '"') {
        if (*p == '\\')
            p++;
        p++;
    }
    *sl = (size_t)(p - *sb);
    return p < end ? p + 1 : end;
}

struct keyset {
    struct bsn_str *keys;
    size_t n, cap;
};

static const char *scan_value(const char *p, const char *end, struct dupscan *d, size_t plen);

static const char *
scan_object(const char *p, const char *end, struct dupscan *d, size_t plen)
{
    struct keyset ks = {0};
    p++;
    while (p < end && !d->found) {
        p = skip_ws(p, end);
        if (p >= end || *p == '}') {
            p++;
            break;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != '"')
            break;
        const char *kb;
        size_t kl;
        p = scan_string(p, end, &kb, &kl);
        size_t np = plen;
        if (np + kl + 2 < sizeof(d->path)) {
            if (np)
                d->path[np++] = '.';
            memcpy(d->path + np, kb, kl);
            np += kl;
            d->path[np] = '\0';
        }
        for (size_t i = 0; i < ks.n; i++) {
            if (ks.keys[i].len == kl && memcmp(ks.keys[i].base, kb, kl) == 0) {
                d->found = true;
                break;
            }
        }
        if (d->found)
            break;
        if (ks.n == ks.cap) {
            ks.cap = ks.cap ? ks.cap * 2 : 8;
            ks.keys = bsn_realloc(ks.keys, ks.cap * sizeof(*ks.keys));
        }
        ks.keys[ks.n++] = (struct bsn_str){kb, kl};
        p = skip_ws(p, end);
        if (p < end && *p == ':')
            p++;
        p = scan_value(skip_ws(p, end), end, d, np);
        if (!d->found)
            d->path[plen] = '\0';
    }
    free(ks.keys);
    return p;
}

static const char *
scan_value(const char *p, const char *end, struct dupscan *d, size_t plen)
{
    if (p >= end)
        return p;
    if (*p == '{')
        return scan_object(p, end, d, plen);
    if (*p == '[') {
        p++;
        while (p < end && !d->found) {
            p = skip_ws(p, end);
            if (p >= end || *p == ']')
                return p + 1;
            if (*p == ',') {
                p++;
                continue;
            }
            p = scan_value(p, end, d, plen);
            if (!d->found)
                d->path[plen] = '\0';
        }
        return p;
    }
    if (*p == '"') {
        const char *sb;
        size_t sl;
        return scan_string(p, end, &sb, &sl);
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']')
        p++;
    return p;
}

json_t *
bsn_json_parse_strict(const char *data, size_t len, struct bsn_err *err)
{
    json_t *v = parse(data, len, 0, err);
    if (!v)
        return NULL;
    json_error_t je;
    json_t *chk =
        json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (chk) {
        json_decref(chk);
        return v;
    }
    json_decref(v);
    /* Objects are small; the scan runs only when a duplicate exists (quadratic per object at
     * worst, bounded by the size cap). */
    struct dupscan d = {.path = "", .found = false};
    scan_value(skip_ws(data, data + len), data + len, &d, 0);
    bsn_err_set(err, 400, "BadRequest", "json: duplicate field \"%s\"", d.found ? d.path : je.text);
    return NULL;
}

char *
bsn_json_dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!s)
        abort();
    return s;
}

static int
dump_cb(const char *buffer, size_t size, void *data)
{
    bsn_buf_append(data, buffer, size);
    return 0;
}

int
bsn_json_dump_buf(const json_t *v, struct bsn_buf *out)
{
    return json_dump_callback(v, dump_cb, out,
                              JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

json_t *
bsn_json_path(const json_t *root, const char *dotted)
{
    const json_t *cur = root;
    const char *p = dotted;
    char key[256];
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(key) || !json_is_object(cur))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p += n + (dot ? 1 : 0);
    }
    return (json_t *)cur;
}

const char *
bsn_json_str(const json_t *root, const char *dotted)
{
    return json_string_value(bsn_json_path(root, dotted));
}

json_int_t
bsn_json_int(const json_t *root, const char *dotted, json_int_t def)
{
    json_t *v = bsn_json_path(root, dotted);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

json_t *
bsn_json_path_mkobj(json_t *root, const char *dotted)
{
    json_t *cur = root;
    const char *p = dotted;
    char key[256];
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        json_t *next = json_object_get(cur, key);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(cur, key, next);
        }
        cur = next;
        p += n + (dot ? 1 : 0);
    }
    return cur;
}

bool
bsn_json_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            if (!bsn_json_equal(v, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    if (json_is_array(a)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!bsn_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}
