/*
 * cache.c - object cache, event window and watcher fan-out.
 */
#include "api/cache.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

/*
 * Label sets are shared between object versions and between objects (the pods of one workload
 * have the same labels): a table maps a label set's canonical JSON to one read-only object.
 * Entries only the table still references are dropped when it has doubled since the last
 * sweep; the table lives while a cache does.
 */
static struct {
    struct bsn_map tab; /* sorted compact JSON -> json_t* */
    size_t sweep_at;
    int users;
} label_sets;

static void
label_sets_sweep(bool all)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (bsn_map_next(&label_sets.tab, &it, &k, &v)) {
        json_t *j = v;
        if (all || j->refcount == 1) {
            bsn_map_del(&label_sets.tab, k);
            json_decref(j);
        }
    }
    label_sets.sweep_at = BSN_MAX(label_sets.tab.len * 2, (size_t)1024);
}

/* A read-only label set equal to labels (a new reference). */
static json_t *
label_set(json_t *labels)
{
    if (label_sets.users == 0)
        return json_deep_copy(labels);
    char *k = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
    if (!k || strlen(k) > 4096) {
        free(k);
        return json_deep_copy(labels);
    }
    json_t *c = bsn_map_get(&label_sets.tab, k);
    if (!c) {
        if (label_sets.tab.len >= label_sets.sweep_at)
            label_sets_sweep(false);
        c = json_deep_copy(labels);
        bsn_map_put(&label_sets.tab, k, c);
    }
    free(k);
    return json_incref(c);
}

/* The common part: key, bucket, revisions and the parsed fields filters need; sets
 * metadata.resourceVersion in the tree. The strings live in the same allocation as the
 * object. */
static struct bsn_obj *
obj_alloc(const char *key, json_t *tree, int64_t rev, int64_t create_rev, const char *rv)
{
    json_t *meta = json_object_get(tree, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(tree, "metadata", meta);
    }
    json_object_set_new(meta, "resourceVersion", json_string(rv));
    const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "";
    const char *name = json_string_value(json_object_get(meta, "name")) ?: "";
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    /* rkey = first two path components */
    const char *p = strchr(key, '/');
    p = p ? strchr(p + 1, '/') : NULL;
    size_t kl = strlen(key), rl = p ? (size_t)(p - key) : kl, nl = strlen(ns), ml = strlen(name),
           ul = uid ? strlen(uid) : 0;
    struct bsn_obj *o = bsn_calloc(1, sizeof(*o) + kl + rl + nl + ml + ul + 5);
    char *w = (char *)(o + 1);
    o->key = memcpy(w, key, kl);
    w += kl + 1;
    o->rkey = memcpy(w, key, rl);
    w += rl + 1;
    o->ns = memcpy(w, ns, nl);
    w += nl + 1;
    o->name = memcpy(w, name, ml);
    w += ml + 1;
    if (uid)
        o->uid = memcpy(w, uid, ul);
    o->refs = 1;
    o->rev = rev;
    o->create_rev = create_rev;
    json_t *labels = json_object_get(meta, "labels");
    if (json_is_object(labels))
        o->labels = label_set(labels);
    return o;
}

struct bsn_obj *
bsn_obj_new(const char *key, json_t *tree, int64_t rev, int64_t create_rev)
{
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", (long long)rev);
    struct bsn_obj *o = obj_alloc(key, tree, rev, create_rev, rv);
    o->json = json_dumps(tree, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!o->json)
        o->json = bsn_strdup("{}");
    o->len = strlen(o->json);
    return o;
}

/* Past the JSON string starting at p ('"'), or NULL. */
static const char *
skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past the compact JSON value starting at p, or NULL. */
static const char *
skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    int depth = 0;
    while (p < end) {
        char ch = *p;
        if (ch == '"') {
            p = skip_string(p, end);
            if (!p)
                return NULL;
            if (depth == 0)
                return p;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return p; /* end of a scalar inside the enclosing container */
            if (--depth == 0)
                return p + 1;
        } else if (ch == ',' && depth == 0)
            return p;
        p++;
    }
    return depth == 0 ? p : NULL;
}

/* Offset of the closing brace of the top-level "metadata" object in compact JSON, and
 * whether that object is empty; -1 when there is none. */
static long
metadata_end(const char *s, size_t len, bool *empty)
{
    const char *p = s, *end = s + len;
    if (p >= end || *p != '{')
        return -1;
    p++;
    while (p < end && *p == '"') {
        const char *k = p;
        p = skip_string(p, end);
        if (!p || p >= end || *p != ':')
            return -1;
        bool is_meta = p - k == 10 && !memcmp(k, "\"metadata\"", 10);
        const char *v = ++p;
        p = skip_value(p, end);
        if (!p)
            return -1;
        if (is_meta) {
            if (*v != '{' || p[-1] != '}')
                return -1;
            *empty = p - v == 2;
            return (long)(p - 1 - s);
        }
        if (p < end && *p == ',')
            p++;
    }
    return -1;
}

json_t *
bsn_obj_member(const struct bsn_obj *o, const char *name)
{
    const char *p = o->json, *end = o->json + o->len;
    size_t nl = strlen(name);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    while (p < end && *p == '"') {
        const char *k = p;
        p = skip_string(p, end);
        if (!p || p >= end || *p != ':')
            break;
        bool hit = (size_t)(p - k) == nl + 2 && !memcmp(k + 1, name, nl);
        const char *v = ++p;
        p = skip_value(p, end);
        if (!p)
            break;
        if (hit)
            return json_loadb(v, (size_t)(p - v), JSON_DECODE_ANY, NULL);
        if (p < end && *p == ',')
            p++;
    }
    /* not compact JSON as we write it (or no such member): the slow, sure way */
    json_t *t = bsn_obj_tree(o);
    json_t *m = json_incref(json_object_get(t, name));
    json_decref(t);
    return m;
}

struct bsn_obj *
bsn_obj_new_json(const char *key, json_t *tree, const char *json_norv, size_t len, int64_t rev,
                 int64_t create_rev)
{
    bool empty = false;
    long at = json_norv ? metadata_end(json_norv, len, &empty) : -1;
    if (at < 0 || json_object_get(json_object_get(tree, "metadata"), "resourceVersion"))
        return bsn_obj_new(key, tree, rev, create_rev);
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", (long long)rev);
    struct bsn_obj *o = obj_alloc(key, tree, rev, create_rev, rv);
    char ins[64];
    int n = snprintf(ins, sizeof(ins), "%s\"resourceVersion\":\"%s\"", empty ? "" : ",", rv);
    o->len = len + (size_t)n;
    o->json = bsn_malloc(o->len + 1);
    memcpy(o->json, json_norv, (size_t)at);
    memcpy(o->json + at, ins, (size_t)n);
    memcpy(o->json + at + n, json_norv + at, len - (size_t)at);
    o->json[o->len] = '\0';
    return o;
}

struct bsn_obj *
bsn_obj_ref(struct bsn_obj *o)
{
    if (o)
        o->refs++;
    return o;
}

void
bsn_obj_unref(struct bsn_obj *o)
{
    if (!o || --o->refs > 0)
        return;
    free(o->json); /* the strings are part of o */
    json_decref(o->labels);
    free(o);
}

json_t *
bsn_obj_tree(const struct bsn_obj *o)
{
    return json_loadb(o->json, o->len, JSON_DECODE_ANY, NULL);
}

const char *
bsn_event_type_name(enum bsn_event_type t)
{
    switch (t) {
    case BSN_EV_ADDED:
        return "ADDED";
    case BSN_EV_MODIFIED:
        return "MODIFIED";
    case BSN_EV_DELETED:
        return "DELETED";
    case BSN_EV_BOOKMARK:
        return "BOOKMARK";
    }
    return "ERROR";
}

struct bsn_event *
bsn_event_ref(struct bsn_event *e)
{
    e->refs++;
    return e;
}

void
bsn_event_unref(struct bsn_event *e)
{
    if (!e || --e->refs > 0)
        return;
    bsn_obj_unref(e->obj);
    bsn_obj_unref(e->prev);
    free(e->line);
    free(e);
}

const char *
bsn_event_line(struct bsn_event *e, size_t *len)
{
    if (!e->line) {
        struct bsn_buf b;
        bsn_buf_init(&b);
        bsn_buf_printf(&b, "{\"type\":\"%s\",\"object\":", bsn_event_type_name(e->type));
        bsn_buf_append(&b, e->obj->json, e->obj->len);
        bsn_buf_puts(&b, "}\n");
        e->line_len = b.len;
        e->line = bsn_buf_take(&b);
    }
    *len = e->line_len;
    return e->line;
}

/* The wire line is only needed while the event is being written out: the ring keeps the
 * object, not a second copy of it. */
static void
event_drop_line(struct bsn_event *e)
{
    free(e->line);
    e->line = NULL;
    e->line_len = 0;
}

void
bsn_cache_init(struct bsn_cache *c, size_t window)
{
    memset(c, 0, sizeof(*c));
    bsn_map_init(&c->buckets);
    c->ring_cap = window ? window : 1;
    c->ring = bsn_calloc(c->ring_cap, sizeof(*c->ring));
    if (label_sets.users++ == 0) {
        bsn_map_init(&label_sets.tab);
        label_sets.sweep_at = 1024;
    }
}

void
bsn_cache_fini(struct bsn_cache *c)
{
    size_t it = 0;
    void *v;
    while (bsn_map_next(&c->buckets, &it, NULL, &v)) {
        struct bsn_bucket *b = v;
        size_t j = 0;
        void *o;
        while (bsn_map_next(&b->objs, &j, NULL, &o))
            bsn_obj_unref(o);
        bsn_map_fini(&b->objs);
        free(b);
    }
    bsn_map_fini(&c->buckets);
    for (size_t i = 0; i < c->ring_len; i++)
        bsn_event_unref(c->ring[(c->ring_head + i) % c->ring_cap]);
    free(c->ring);
    if (c->ring_cap && --label_sets.users == 0) {
        label_sets_sweep(true);
        bsn_map_fini(&label_sets.tab);
    }
    memset(c, 0, sizeof(*c));
}

struct bsn_bucket *
bsn_cache_bucket(struct bsn_cache *c, const char *rkey, bool create)
{
    struct bsn_bucket *b = bsn_map_get(&c->buckets, rkey);
    if (!b && create) {
        b = bsn_calloc(1, sizeof(*b));
        bsn_map_init(&b->objs);
        bsn_map_put(&c->buckets, rkey, b);
    }
    return b;
}

struct bsn_obj *
bsn_cache_get(struct bsn_cache *c, const char *key)
{
    const char *p = strchr(key, '/');
    p = p ? strchr(p + 1, '/') : NULL;
    if (!p)
        return NULL;
    char rkey[256];
    size_t n = (size_t)(p - key);
    if (n >= sizeof(rkey))
        return NULL;
    memcpy(rkey, key, n);
    rkey[n] = '\0';
    struct bsn_bucket *b = bsn_cache_bucket(c, rkey, false);
    return b ? bsn_map_get(&b->objs, key) : NULL;
}

void
bsn_cache_load(struct bsn_cache *c, struct bsn_obj *obj)
{
    struct bsn_bucket *b = bsn_cache_bucket(c, obj->rkey, true);
    struct bsn_obj *old = bsn_map_put(&b->objs, obj->key, bsn_obj_ref(obj));
    if (old)
        bsn_obj_unref(old);
    else
        c->nobjs++;
    if (obj->rev > c->rev)
        c->rev = obj->rev;
}

static void
ring_push(struct bsn_cache *c, struct bsn_event *e)
{
    if (c->ring_len == c->ring_cap) {
        bsn_event_unref(c->ring[c->ring_head]);
        c->ring_head = (c->ring_head + 1) % c->ring_cap;
        c->ring_len--;
    }
    c->ring[(c->ring_head + c->ring_len) % c->ring_cap] = bsn_event_ref(e);
    c->ring_len++;
}

void
bsn_cache_publish(struct bsn_cache *c, const char *key, struct bsn_obj *obj, struct bsn_obj *tomb,
                  int64_t rev)
{
    bsn_cache_publish_tree(c, key, obj, tomb, rev, NULL);
}

void
bsn_cache_publish_tree(struct bsn_cache *c, const char *key, struct bsn_obj *obj,
                       struct bsn_obj *tomb, int64_t rev, json_t *tree)
{
    struct bsn_obj *cur = obj ? obj : tomb;
    assert(cur);
    struct bsn_bucket *b = bsn_cache_bucket(c, cur->rkey, true);
    struct bsn_obj *old;
    if (obj)
        old = bsn_map_put(&b->objs, key, bsn_obj_ref(obj));
    else
        old = bsn_map_del(&b->objs, key);
    if (obj && !old)
        c->nobjs++;
    if (!obj && old)
        c->nobjs--;

    struct bsn_event *e = bsn_calloc(1, sizeof(*e));
    e->refs = 1;
    e->type = !obj ? BSN_EV_DELETED : old ? BSN_EV_MODIFIED : BSN_EV_ADDED;
    e->rev = rev;
    e->obj = bsn_obj_ref(cur);
    e->prev = old; /* the map's reference moves to the event */
    if (rev > c->rev)
        c->rev = rev;
    ring_push(c, e);
    e->tree = tree;
    for (struct bsn_watcher *w = b->watchers, *next; w; w = next) {
        next = w->next; /* the callback may unwatch itself */
        w->fn(w, e);
    }
    e->tree = NULL;
    event_drop_line(e);
    bsn_event_unref(e);
}

int64_t
bsn_cache_window_start(const struct bsn_cache *c)
{
    if (c->ring_len < c->ring_cap)
        return 0; /* the window has not wrapped: everything since startup is there */
    return c->ring[c->ring_head]->rev - 1;
}

int
bsn_cache_replay(struct bsn_cache *c, const char *rkey, int64_t after, struct bsn_watcher *w)
{
    if (after < bsn_cache_window_start(c))
        return -1;
    for (size_t i = 0; i < c->ring_len; i++) {
        struct bsn_event *e = c->ring[(c->ring_head + i) % c->ring_cap];
        if (e->rev > after && strcmp(e->obj->rkey, rkey) == 0) {
            w->fn(w, e);
            event_drop_line(e);
        }
    }
    return 0;
}

void
bsn_cache_watch(struct bsn_cache *c, struct bsn_watcher *w)
{
    struct bsn_bucket *b = bsn_cache_bucket(c, w->rkey, true);
    w->prev = NULL;
    w->next = b->watchers;
    if (b->watchers)
        b->watchers->prev = w;
    b->watchers = w;
}

void
bsn_cache_unwatch(struct bsn_cache *c, struct bsn_watcher *w)
{
    struct bsn_bucket *b = bsn_cache_bucket(c, w->rkey, false);
    if (!b)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else if (b->watchers == w)
        b->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

static int
cmp_obj(const void *a, const void *b)
{
    const struct bsn_obj *x = *(struct bsn_obj *const *)a, *y = *(struct bsn_obj *const *)b;
    return strcmp(x->key, y->key);
}

struct bsn_obj **
bsn_cache_list(struct bsn_cache *c, const char *rkey, const char *ns, size_t *n)
{
    struct bsn_bucket *b = bsn_cache_bucket(c, rkey, false);
    *n = 0;
    if (!b || b->objs.len == 0)
        return NULL;
    struct bsn_obj **out = bsn_malloc(b->objs.len * sizeof(*out));
    size_t it = 0, k = 0;
    void *v;
    while (bsn_map_next(&b->objs, &it, NULL, &v)) {
        struct bsn_obj *o = v;
        if (ns && *ns && strcmp(o->ns, ns) != 0)
            continue;
        out[k++] = bsn_obj_ref(o);
    }
    qsort(out, k, sizeof(*out), cmp_obj);
    *n = k;
    return out;
}
