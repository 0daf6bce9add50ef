/*
 * smp.c - strategic merge patch (apply side), as the upstream API server applies
 * application/strategic-merge-patch+json to built-in kinds.
 *
 * The merge builds a new tree (sharing untouched subtrees with the original, deep-copied once
 * at the end), so errors leave the caller's object untouched. Keyed lists are merged through a hash map from the merge key's JSON text
 * to the element index, so merging two lists costs O(n + m), not O(n * m).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/map.h"
#include "base/mem.h"
#include "codec/json.h"
#include "codec/smp_schema.h"

#define SMP_MAX_DEPTH 256

#define DIR_PATCH          "$patch"
#define DIR_RETAIN         "$retainKeys"
#define DIR_ORDER_PREFIX   "$setElementOrder/"
#define DIR_DELPRIM_PREFIX "$deleteFromPrimitiveList/"

struct smp {
    struct bsn_err *err;
    int depth;
};

static json_t *merge_value(struct smp *s, json_t *orig, const json_t *patch, const char *type,
                           const struct bsn_smp_field *f);

static bool
has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* JSON text of a merge-key value, used as the hash key (so 80 and "80" differ). */
static char *
key_text(const json_t *v)
{
    return bsn_json_dump(v);
}

static int
bad(struct smp *s, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg);
    return bsn_err_set(s->err, 400, "BadRequest", "strategic merge patch: %s", msg);
}

/* Returns the $patch directive of an object patch, or NULL. */
static const char *
patch_directive(const json_t *p)
{
    return json_is_object(p) ? json_string_value(json_object_get(p, DIR_PATCH)) : NULL;
}

/* ---- lists ---- */

static json_t *
merge_primitive_list(json_t *orig, const json_t *patch)
{
    struct bsn_map seen;
    bsn_map_init(&seen);
    json_t *out = json_array();
    size_t i;
    json_t *v;
    const json_t *lists[2] = {orig, patch};
    for (int l = 0; l < 2; l++) {
        json_array_foreach((json_t *)lists[l], i, v)
        {
            char *k = key_text(v);
            if (!bsn_map_get(&seen, k)) {
                bsn_map_put(&seen, k, (void *)1);
                json_array_append(out, v);
            }
            free(k);
        }
    }
    bsn_map_fini(&seen);
    return out;
}

/* Keyed list merge. Returns a new array or NULL with err set. */
static json_t *
merge_keyed_list(struct smp *s, json_t *orig, const json_t *patch, const struct bsn_smp_field *f)
{
    size_t i;
    json_t *p;
    /* a {"$patch": "replace"} element replaces the whole list with the other elements */
    json_array_foreach((json_t *)patch, i, p)
    {
        const char *d = patch_directive(p);
        if (d && strcmp(d, "replace") == 0 && json_object_size(p) == 1) {
            json_t *rest = json_array();
            size_t j;
            json_t *q;
            json_array_foreach((json_t *)patch, j, q)
            {
                if (j != i)
                    json_array_append(rest, q);
            }
            json_t *empty = json_array();
            json_t *out = merge_keyed_list(s, empty, rest, f);
            json_decref(empty);
            json_decref(rest);
            return out;
        }
    }

    json_t *out = json_array();
    struct bsn_map idx;
    bsn_map_init(&idx);
    json_array_foreach(orig, i, p)
    {
        json_array_append(out, p);
        json_t *kv = json_is_object(p) ? json_object_get(p, f->merge_key) : NULL;
        if (kv) {
            char *k = key_text(kv);
            bsn_map_put(&idx, k, (void *)(uintptr_t)(i + 1));
            free(k);
        }
    }
    size_t n = json_array_size(out);
    bool *deleted = bsn_calloc(n + json_array_size(patch) + 1, sizeof(bool));
    int rc = 0;
    json_array_foreach((json_t *)patch, i, p)
    {
        if (!json_is_object(p)) {
            rc = bad(s, "list %s: elements must be objects", f->field);
            break;
        }
        json_t *kv = json_object_get(p, f->merge_key);
        if (!kv) {
            char *txt = bsn_json_dump(p);
            bsn_err_set(s->err, 422, "Invalid",
                        "map: %.300s does not contain declared merge key: %s", txt, f->merge_key);
            free(txt);
            rc = -1;
            break;
        }
        char *k = key_text(kv);
        size_t at = (size_t)(uintptr_t)bsn_map_get(&idx, k);
        const char *d = patch_directive(p);
        if (d && strcmp(d, "delete") == 0) {
            if (at)
                deleted[at - 1] = true;
            free(k);
            continue;
        }
        if (d && strcmp(d, "replace") == 0) {
            json_t *clean = json_copy(p);
            json_object_del(clean, DIR_PATCH);
            json_t *nv = merge_value(s, NULL, clean, f->child, NULL);
            json_decref(clean);
            if (!nv) {
                free(k);
                rc = -1;
                break;
            }
            if (at) {
                json_array_set_new(out, at - 1, nv);
                deleted[at - 1] = false;
            } else {
                json_array_append_new(out, nv);
                bsn_map_put(&idx, k, (void *)(uintptr_t)json_array_size(out));
            }
            free(k);
            continue;
        }
        json_t *cur = at && !deleted[at - 1] ? json_array_get(out, at - 1) : NULL;
        json_t *nv = merge_value(s, cur, p, f->child, NULL);
        if (!nv) {
            free(k);
            rc = -1;
            break;
        }
        if (cur) {
            json_array_set_new(out, at - 1, nv);
        } else if (at) {
            json_array_set_new(out, at - 1, nv);
            deleted[at - 1] = false;
        } else {
            json_array_append_new(out, nv);
            bsn_map_put(&idx, k, (void *)(uintptr_t)json_array_size(out));
        }
        free(k);
    }
    bsn_map_fini(&idx);
    if (rc) {
        free(deleted);
        json_decref(out);
        return NULL;
    }
    json_t *res = json_array();
    json_array_foreach(out, i, p)
    {
        if (!deleted[i])
            json_array_append(res, p);
    }
    free(deleted);
    json_decref(out);
    return res;
}

static json_t *
merge_list(struct smp *s, json_t *orig, const json_t *patch, const struct bsn_smp_field *f)
{
    if (!f || f->strategy == BSN_SMP_STRUCT) {
        /* atomic: replace, but the replacement may itself carry directives for its maps */
        json_t *out = json_array();
        size_t i;
        json_t *p;
        json_array_foreach((json_t *)patch, i, p)
        {
            json_t *nv = merge_value(s, NULL, p, NULL, NULL);
            if (!nv) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, nv);
        }
        return out;
    }
    json_t *empty = orig ? NULL : json_array();
    json_t *out = f->strategy == BSN_SMP_LIST_PRIMITIVE
                      ? merge_primitive_list(orig ? orig : empty, patch)
                      : merge_keyed_list(s, orig ? orig : empty, patch, f);
    json_decref(empty);
    return out;
}

struct ranked {
    size_t rank, seq;
    json_t *item;
};

static int
cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq; /* stable for duplicate keys */
}

/* Reorders list elements named by order (objects {key: v} or primitives); elements not named
 * keep their slots, named ones fill the named elements' slots in the given order. */
static void
apply_element_order(json_t *list, const json_t *order, const struct bsn_smp_field *f)
{
    if (!json_is_array(list) || !json_is_array(order))
        return;
    struct bsn_map pos;
    bsn_map_init(&pos);
    size_t i;
    json_t *o;
    json_array_foreach((json_t *)order, i, o)
    {
        const json_t *kv = f && f->strategy == BSN_SMP_LIST_KEYED && json_is_object(o)
                               ? json_object_get(o, f->merge_key)
                               : o;
        if (!kv)
            continue;
        char *k = key_text(kv);
        bsn_map_put(&pos, k, (void *)(uintptr_t)(i + 1));
        free(k);
    }
    size_t n = json_array_size(list);
    size_t *slots = bsn_malloc((n + 1) * sizeof(size_t));
    struct ranked *items = bsn_malloc((n + 1) * sizeof(*items));
    size_t m = 0;
    for (i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        const json_t *kv = f && f->strategy == BSN_SMP_LIST_KEYED && json_is_object(e)
                               ? json_object_get(e, f->merge_key)
                               : e;
        if (!kv)
            continue;
        char *k = key_text(kv);
        size_t r = (size_t)(uintptr_t)bsn_map_get(&pos, k);
        free(k);
        if (r) {
            slots[m] = i;
            items[m].rank = r;
            items[m].seq = m;
            items[m].item = json_incref(e);
            m++;
        }
    }
    qsort(items, m, sizeof(*items), cmp_ranked);
    for (size_t a = 0; a < m; a++)
        json_array_set_new(list, slots[a], items[a].item);
    free(slots);
    free(items);
    bsn_map_fini(&pos);
}

/* ---- maps ---- */

static json_t *
merge_map(struct smp *s, json_t *orig, const json_t *patch, const char *type)
{
    const char *d = patch_directive(patch);
    if (json_object_get(patch, DIR_PATCH) && !d) {
        bad(s, "%s must be a string", DIR_PATCH);
        return NULL;
    }
    if (d && strcmp(d, "replace") == 0) {
        json_t *clean = json_copy((json_t *)patch);
        json_object_del(clean, DIR_PATCH);
        json_t *out = merge_map(s, NULL, clean, type);
        json_decref(clean);
        return out;
    }
    if (d && strcmp(d, "delete") == 0)
        return json_object();
    if (d && strcmp(d, "merge") != 0) {
        bad(s, "unknown patch type: %s in map", d);
        return NULL;
    }
    /* shallow copy: untouched children stay shared until the final deep copy */
    json_t *out = orig && json_is_object(orig) ? json_copy(orig) : json_object();

    const json_t *retain = json_object_get(patch, DIR_RETAIN);
    if (retain && !json_is_array(retain)) {
        json_decref(out);
        bad(s, "%s must be a list of field names", DIR_RETAIN);
        return NULL;
    }
    const char *k;
    json_t *v;
    /* $deleteFromPrimitiveList first, so a patch can delete and add in one go */
    json_object_foreach((json_t *)patch, k, v)
    {
        if (!has_prefix(k, DIR_DELPRIM_PREFIX))
            continue;
        const char *field = k + strlen(DIR_DELPRIM_PREFIX);
        json_t *list = json_object_get(out, field);
        if (!json_is_array(v)) {
            json_decref(out);
            bad(s, "%s value must be a list", k);
            return NULL;
        }
        if (!json_is_array(list))
            continue;
        json_t *kept = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            bool drop = false;
            size_t j;
            json_t *x;
            json_array_foreach(v, j, x)
            {
                if (bsn_json_equal(e, x)) {
                    drop = true;
                    break;
                }
            }
            if (!drop)
                json_array_append(kept, e);
        }
        json_object_set_new(out, field, kept);
    }
    json_object_foreach((json_t *)patch, k, v)
    {
        if (k[0] == '$')
            continue;
        if (json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        const struct bsn_smp_field *f = bsn_smp_field(type, k);
        json_t *nv = merge_value(s, json_object_get(out, k), v,
                                 f && f->strategy == BSN_SMP_STRUCT ? f->child : NULL, f);
        if (!nv) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k, nv);
    }
    json_object_foreach((json_t *)patch, k, v)
    {
        if (has_prefix(k, DIR_ORDER_PREFIX)) {
            const char *field = k + strlen(DIR_ORDER_PREFIX);
            json_t *list = json_object_get(out, field);
            if (!json_is_array(list))
                continue;
            json_t *own = json_copy(list); /* the list may still be shared with orig */
            apply_element_order(own, v, bsn_smp_field(type, field));
            json_object_set_new(out, field, own);
        }
    }
    if (retain) {
        void *iter = json_object_iter(out);
        while (iter) {
            const char *key = json_object_iter_key(iter);
            bool keep = false;
            size_t i;
            json_t *r;
            json_array_foreach((json_t *)retain, i, r)
            {
                if (json_is_string(r) && strcmp(json_string_value(r), key) == 0) {
                    keep = true;
                    break;
                }
            }
            void *next = json_object_iter_next(out, iter);
            if (!keep)
                json_object_del(out, key);
            iter = next;
        }
    }
    return out;
}

/*
 * Merges patch into orig (borrowed, may be NULL) and returns a new reference, or NULL on error.
 * type is the object type for map values; f the field row for list values.
 */
static json_t *
merge_value(struct smp *s, json_t *orig, const json_t *patch, const char *type,
            const struct bsn_smp_field *f)
{
    if (++s->depth > SMP_MAX_DEPTH) {
        s->depth--;
        bsn_err_set(s->err, 400, "BadRequest", "strategic merge patch: nesting too deep");
        return NULL;
    }
    json_t *out;
    if (json_is_object(patch))
        out = merge_map(s, json_is_object(orig) ? orig : NULL, patch, type);
    else if (json_is_array(patch))
        out = merge_list(s, json_is_array(orig) ? orig : NULL, patch, f);
    else
        out = json_deep_copy(patch);
    s->depth--;
    return out;
}

int
bsn_smp_apply(json_t **doc, const json_t *patch, const char *api_group, const char *kind,
              struct bsn_err *err)
{
    if (!json_is_object(patch))
        return bsn_err_set(err, 400, "BadRequest",
                           "strategic merge patch: the patch must be a JSON object");
    struct smp s = {.err = err, .depth = 0};
    const char *root = kind ? bsn_smp_root_type(api_group, kind) : NULL;
    json_t *out = merge_value(&s, json_is_object(*doc) ? *doc : NULL, patch, root, NULL);
    if (!out)
        return -1;
    /* the merge shares unpatched subtrees with the original; hand back an independent tree so
     * the caller may mutate it while others still hold the old object */
    json_t *own = json_deep_copy(out);
    json_decref(out);
    json_decref(*doc);
    *doc = own;
    return 0;
}
