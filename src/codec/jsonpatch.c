/*
 * jsonpatch.c - RFC 6902 JSON Patch and RFC 7386 JSON Merge Patch.
 *
 * JSON Patch runs on a deep copy of the document, so a failing operation leaves the caller's
 * value untouched (the whole patch is atomic, as the RFC requires).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "codec/patch.h"

/* Decodes one reference token (between slashes) into out; returns -1 on a bad escape. */
static int
unescape_token(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= outsz)
            return -1;
        if (s[i] == '~') {
            if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
                return -1;
            out[o++] = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return 0;
}

/* Parses an array index token: digits only, no leading zeros. Returns -1 if not an index. */
static long
parse_index(const char *tok)
{
    if (!*tok || (tok[0] == '0' && tok[1]) || strlen(tok) > 9)
        return -1;
    long v = 0;
    for (const char *p = tok; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

#define TOK_MAX 1024

/*
 * Splits a pointer into its parent container and last token. Returns the parent (borrowed) or
 * NULL; sets *bad when the pointer is malformed.
 */
static json_t *
resolve_parent(json_t *root, const char *ptr, char *last, bool *bad)
{
    *bad = false;
    if (ptr[0] != '/') {
        *bad = true;
        return NULL;
    }
    json_t *cur = root;
    const char *p = ptr + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char tok[TOK_MAX];
        if (unescape_token(p, n, tok, sizeof(tok)) < 0) {
            *bad = true;
            return NULL;
        }
        if (!slash) {
            snprintf(last, TOK_MAX, "%s", tok);
            return cur;
        }
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            long i = parse_index(tok);
            cur = i < 0 ? NULL : json_array_get(cur, (size_t)i);
        } else {
            cur = NULL;
        }
        if (!cur)
            return NULL;
        p = slash + 1;
    }
}

json_t *
bsn_json_pointer_get(const json_t *root, const char *pointer)
{
    if (!pointer[0])
        return (json_t *)root;
    char last[TOK_MAX];
    bool bad;
    json_t *parent = resolve_parent((json_t *)root, pointer, last, &bad);
    if (json_is_object(parent))
        return json_object_get(parent, last);
    if (json_is_array(parent)) {
        long i = parse_index(last);
        return i < 0 ? NULL : json_array_get(parent, (size_t)i);
    }
    return NULL;
}

static int
bad_patch(struct bsn_err *err, size_t op, const char *what)
{
    return bsn_err_set(err, 400, "BadRequest", "json patch operation %zu: %s", op, what);
}

static int
unprocessable(struct bsn_err *err, size_t op, const char *opname, const char *path,
              const char *what)
{
    return bsn_err_set(err, 422, "Invalid", "json patch %s operation %zu on path \"%s\": %s",
                       opname, op, path, what);
}

/* Inserts (stealing v) at ptr. For arrays "add" inserts; "replace"-style is done by caller. */
static int
do_add(json_t **root, const char *path, json_t *v, size_t op, const char *opname,
       struct bsn_err *err)
{
    if (!path[0]) {
        json_decref(*root);
        *root = v;
        return 0;
    }
    char last[TOK_MAX];
    bool bad;
    json_t *parent = resolve_parent(*root, path, last, &bad);
    if (bad) {
        json_decref(v);
        return bad_patch(err, op, "invalid JSON pointer");
    }
    if (json_is_object(parent)) {
        json_object_set_new(parent, last, v);
        return 0;
    }
    if (json_is_array(parent)) {
        size_t n = json_array_size(parent);
        if (strcmp(last, "-") == 0) {
            json_array_append_new(parent, v);
            return 0;
        }
        long i = parse_index(last);
        if (i < 0 || (size_t)i > n) {
            json_decref(v);
            return unprocessable(err, op, opname, path, "array index out of range");
        }
        json_array_insert_new(parent, (size_t)i, v);
        return 0;
    }
    json_decref(v);
    return unprocessable(err, op, opname, path, "parent path does not exist");
}

/* Removes the value at path; if out is not NULL, hands the removed value to the caller. */
static int
do_remove(json_t *root, const char *path, json_t **out, size_t op, const char *opname,
          struct bsn_err *err)
{
    if (!path[0])
        return unprocessable(err, op, opname, path, "cannot remove the whole document");
    char last[TOK_MAX];
    bool bad;
    json_t *parent = resolve_parent(root, path, last, &bad);
    if (bad)
        return bad_patch(err, op, "invalid JSON pointer");
    if (json_is_object(parent)) {
        json_t *v = json_object_get(parent, last);
        if (!v)
            return unprocessable(err, op, opname, path, "path does not exist");
        if (out)
            *out = json_incref(v);
        json_object_del(parent, last);
        return 0;
    }
    if (json_is_array(parent)) {
        long i = parse_index(last);
        if (i < 0 || (size_t)i >= json_array_size(parent))
            return unprocessable(err, op, opname, path, "array index out of range");
        if (out)
            *out = json_incref(json_array_get(parent, (size_t)i));
        json_array_remove(parent, (size_t)i);
        return 0;
    }
    return unprocessable(err, op, opname, path, "path does not exist");
}

static int
apply_op(json_t **root, const json_t *o, size_t idx, struct bsn_err *err)
{
    if (!json_is_object(o))
        return bad_patch(err, idx, "operation must be an object");
    const char *opname = json_string_value(json_object_get(o, "op"));
    const char *path = json_string_value(json_object_get(o, "path"));
    if (!opname)
        return bad_patch(err, idx, "missing \"op\"");
    if (!path)
        return bad_patch(err, idx, "missing \"path\"");
    if (path[0] && path[0] != '/')
        return bad_patch(err, idx, "\"path\" must be a JSON pointer starting with '/'");
    json_t *value = json_object_get(o, "value");
    const char *from = json_string_value(json_object_get(o, "from"));

    if (strcmp(opname, "add") == 0) {
        if (!value)
            return bad_patch(err, idx, "add requires \"value\"");
        return do_add(root, path, json_deep_copy(value), idx, opname, err);
    }
    if (strcmp(opname, "remove") == 0)
        return do_remove(*root, path, NULL, idx, opname, err);
    if (strcmp(opname, "replace") == 0) {
        if (!value)
            return bad_patch(err, idx, "replace requires \"value\"");
        if (!path[0]) {
            json_decref(*root);
            *root = json_deep_copy(value);
            return 0;
        }
        char last[TOK_MAX];
        bool bad;
        json_t *parent = resolve_parent(*root, path, last, &bad);
        if (bad)
            return bad_patch(err, idx, "invalid JSON pointer");
        if (json_is_object(parent) && json_object_get(parent, last)) {
            json_object_set_new(parent, last, json_deep_copy(value));
            return 0;
        }
        if (json_is_array(parent)) {
            long i = parse_index(last);
            if (i >= 0 && (size_t)i < json_array_size(parent)) {
                json_array_set_new(parent, (size_t)i, json_deep_copy(value));
                return 0;
            }
        }
        return unprocessable(err, idx, opname, path, "path does not exist");
    }
    if (strcmp(opname, "test") == 0) {
        if (!value)
            return bad_patch(err, idx, "test requires \"value\"");
        json_t *cur = bsn_json_pointer_get(*root, path);
        if (!cur)
            return unprocessable(err, idx, opname, path, "path does not exist");
        if (!bsn_json_equal(cur, value))
            return unprocessable(err, idx, opname, path, "testing value failed");
        return 0;
    }
    if (strcmp(opname, "move") == 0 || strcmp(opname, "copy") == 0) {
        if (!from)
            return bad_patch(err, idx, "move/copy requires \"from\"");
        if (from[0] && from[0] != '/')
            return bad_patch(err, idx, "\"from\" must be a JSON pointer");
        bool move = opname[0] == 'm';
        if (move) {
            size_t fl = strlen(from);
            if (strncmp(path, from, fl) == 0 && path[fl] == '/')
                return unprocessable(err, idx, opname, path,
                                     "cannot move a value into one of its children");
            if (strcmp(path, from) == 0)
                return bsn_json_pointer_get(*root, from)
                           ? 0
                           : unprocessable(err, idx, opname, from, "from path does not exist");
            json_t *v = NULL;
            if (!from[0])
                return unprocessable(err, idx, opname, from, "cannot move the whole document");
            if (do_remove(*root, from, &v, idx, opname, err))
                return -1;
            return do_add(root, path, v, idx, opname, err);
        }
        json_t *src = bsn_json_pointer_get(*root, from);
        if (!src)
            return unprocessable(err, idx, opname, from, "from path does not exist");
        return do_add(root, path, json_deep_copy(src), idx, opname, err);
    }
    char what[128];
    snprintf(what, sizeof(what), "unknown op \"%.64s\"", opname);
    return bad_patch(err, idx, what);
}

int
bsn_json_patch_apply(json_t **doc, const json_t *patch, struct bsn_err *err)
{
    if (!json_is_array(patch))
        return bsn_err_set(err, 400, "BadRequest",
                           "json patch: the patch must be a JSON array of operations");
    size_t n = json_array_size(patch);
    if (n > BSN_JSON_PATCH_MAX_OPS)
        return bsn_err_set(err, 400, "BadRequest",
                           "json patch: %zu operations exceed the limit of %d", n,
                           BSN_JSON_PATCH_MAX_OPS);
    json_t *work = *doc ? json_deep_copy(*doc) : json_null();
    for (size_t i = 0; i < n; i++) {
        if (apply_op(&work, json_array_get(patch, i), i, err)) {
            json_decref(work);
            return -1;
        }
    }
    json_decref(*doc);
    *doc = work;
    return 0;
}

/* ---- RFC 7386 ---- */

json_t *
bsn_merge_patch_apply(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(out, k);
        } else {
            json_t *merged = bsn_merge_patch_apply(json_object_get(out, k), v);
            json_object_set_new(out, k, merged);
        }
    }
    return out;
}
