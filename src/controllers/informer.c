/*
 * informer.c - list + watch into a local cache, with add/update/delete handlers.
 *
 * Owns the cached objects (one reference each), a per-namespace index and the watch. Relists
 * on 410 Expired and reports the difference between the old cache and the new list.
 */
#include "controllers/informer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/client.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/json.h"

#define MAX_HANDLERS 16

struct bsn_informer {
    struct bsn_loop *loop;
    struct bsn_client *cl;
    char *path;
    struct bsn_map objs;  /* key -> json_t* (owned) */
    struct bsn_map by_ns; /* ns -> struct bsn_map* of key -> json_t* (borrowed from objs) */
    struct bsn_informer_handler h[MAX_HANDLERS];
    int nh;
    struct bsn_client_watch *watch;
    char rv[32];
    bool synced;
    struct bsn_timer retry;
    bsn_informer_transform_fn transform;
};

/* Subtrees shared between slimmed pods (see share() below). */
static struct {
    struct bsn_map tab; /* "%016llx" hash -> json_t* */
    size_t sweep_at;
    int users;
} shared;
static void shared_sweep(bool all);

void
bsn_informer_set_transform(struct bsn_informer *inf, bsn_informer_transform_fn fn)
{
    if (fn == bsn_pod_slim && inf->transform != bsn_pod_slim && shared.users++ == 0) {
        bsn_map_init(&shared.tab);
        shared.sweep_at = 4096;
    }
    inf->transform = fn;
}

void
bsn_obj_key(const json_t *obj, char *out, size_t n)
{
    const char *ns = bsn_json_str(obj, "metadata.namespace");
    const char *name = bsn_json_str(obj, "metadata.name");
    if (ns && *ns)
        snprintf(out, n, "%s/%s", ns, name ? name : "");
    else
        snprintf(out, n, "%s", name ? name : "");
}

static void
index_put(struct bsn_informer *inf, const char *key, json_t *obj)
{
    const char *ns = bsn_json_str(obj, "metadata.namespace");
    if (!ns)
        ns = "";
    struct bsn_map *m = bsn_map_get(&inf->by_ns, ns);
    if (!m) {
        m = bsn_calloc(1, sizeof(*m));
        bsn_map_init(m);
        bsn_map_put(&inf->by_ns, ns, m);
    }
    bsn_map_put(m, key, obj);
}

static void
index_del(struct bsn_informer *inf, const char *key, json_t *obj)
{
    const char *ns = bsn_json_str(obj, "metadata.namespace");
    struct bsn_map *m = bsn_map_get(&inf->by_ns, ns ? ns : "");
    if (m)
        bsn_map_del(m, key);
}

/* Stores obj (takes a reference, or its transform) and fires handlers. */
static void
upsert(struct bsn_informer *inf, json_t *obj)
{
    char key[512];
    bsn_obj_key(obj, key, sizeof(key));
    obj = inf->transform ? inf->transform(obj) : json_incref(obj);
    json_t *old = bsn_map_put(&inf->objs, key, obj);
    if (old)
        index_del(inf, key, old);
    index_put(inf, key, obj);
    for (int i = 0; i < inf->nh; i++) {
        if (old && inf->h[i].on_update)
            inf->h[i].on_update(old, obj, inf->h[i].data);
        else if (!old && inf->h[i].on_add)
            inf->h[i].on_add(obj, inf->h[i].data);
    }
    json_decref(old);
}

static void
remove_key(struct bsn_informer *inf, const char *key)
{
    json_t *old = bsn_map_del(&inf->objs, key);
    if (!old)
        return;
    index_del(inf, key, old);
    for (int i = 0; i < inf->nh; i++)
        if (inf->h[i].on_delete)
            inf->h[i].on_delete(old, inf->h[i].data);
    json_decref(old);
}

static void start_watch(struct bsn_informer *inf);
static void do_list(struct bsn_informer *inf);

static void
retry_cb(struct bsn_loop *loop, void *data)
{
    struct bsn_informer *inf = data;
    if (inf->rv[0])
        start_watch(inf);
    else
        do_list(inf);
}

static void
on_event(const char *type, json_t *obj, void *data)
{
    struct bsn_informer *inf = data;
    if (!strcmp(type, "ERROR")) {
        if (json_integer_value(json_object_get(obj, "code")) == 410)
            inf->rv[0] = '\0'; /* relist when the stream closes */
        return;
    }
    const char *rv = bsn_json_str(obj, "metadata.resourceVersion");
    if (rv)
        snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
    if (!strcmp(type, "BOOKMARK"))
        return;
    if (!strcmp(type, "DELETED")) {
        char key[512];
        bsn_obj_key(obj, key, sizeof(key));
        remove_key(inf, key);
        return;
    }
    upsert(inf, obj);
}

static void
on_closed(int status, void *data)
{
    struct bsn_informer *inf = data;
    inf->watch = NULL;
    if (status == 410)
        inf->rv[0] = '\0';
    bsn_timer_start(inf->loop, &inf->retry, inf->rv[0] ? 0 : 100, retry_cb, inf);
}

static void
start_watch(struct bsn_informer *inf)
{
    char path[600];
    snprintf(path, sizeof(path), "%s?resourceVersion=%s&allowWatchBookmarks=true", inf->path,
             inf->rv);
    inf->watch = bsn_client_watch(inf->cl, path, on_event, on_closed, inf);
}

static void
on_list(int status, const char *body, size_t len, void *data)
{
    struct bsn_informer *inf = data;
    struct bsn_err err;
    json_t *list = status == 200 ? bsn_json_parse(body, len, &err) : NULL;
    if (!list) {
        bsn_warn("informer", "list %s: HTTP %d; retrying", inf->path, status);
        bsn_timer_start(inf->loop, &inf->retry, 1000, retry_cb, inf);
        return;
    }
    json_t *items = json_object_get(list, "items");
    /* the new list replaces the cache: delete what vanished, upsert the rest */
    struct bsn_map seen;
    bsn_map_init(&seen);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char key[512];
        bsn_obj_key(it, key, sizeof(key));
        bsn_map_put(&seen, key, it);
    }
    const char *k;
    void *v;
    size_t iter = 0;
    char **gone = NULL;
    size_t ngone = 0;
    while (bsn_map_next(&inf->objs, &iter, &k, &v)) {
        if (!bsn_map_get(&seen, k)) {
            gone = bsn_realloc(gone, (ngone + 1) * sizeof(*gone));
            gone[ngone++] = bsn_strdup(k);
        }
    }
    for (size_t j = 0; j < ngone; j++) {
        remove_key(inf, gone[j]);
        free(gone[j]);
    }
    free(gone);
    bsn_map_fini(&seen);
    json_array_foreach(items, i, it)
    {
        char key[512];
        bsn_obj_key(it, key, sizeof(key));
        json_t *old = bsn_map_get(&inf->objs, key);
        if (old && !strcmp(bsn_json_str(old, "metadata.resourceVersion") ?: "",
                           bsn_json_str(it, "metadata.resourceVersion") ?: "-"))
            continue;
        upsert(inf, it);
    }
    snprintf(inf->rv, sizeof(inf->rv), "%s", bsn_json_str(list, "metadata.resourceVersion") ?: "0");
    json_decref(list);
    inf->synced = true;
    start_watch(inf);
}

static void
do_list(struct bsn_informer *inf)
{
    bsn_client_request(inf->cl, "GET", inf->path, NULL, NULL, 0, on_list, inf);
}

struct bsn_informer *
bsn_informer_new(struct bsn_loop *loop, struct bsn_client *cl, const char *path)
{
    struct bsn_informer *inf = bsn_calloc(1, sizeof(*inf));
    inf->loop = loop;
    inf->cl = cl;
    inf->path = bsn_strdup(path);
    bsn_map_init(&inf->objs);
    bsn_map_init(&inf->by_ns);
    bsn_timer_init(&inf->retry);
    return inf;
}

void
bsn_informer_add_handler(struct bsn_informer *inf, const struct bsn_informer_handler *h)
{
    if (inf->nh < MAX_HANDLERS)
        inf->h[inf->nh++] = *h;
}

void
bsn_informer_start(struct bsn_informer *inf)
{
    do_list(inf);
}

bool
bsn_informer_synced(const struct bsn_informer *inf)
{
    return inf->synced;
}

json_t *
bsn_informer_get(const struct bsn_informer *inf, const char *key)
{
    return bsn_map_get(&inf->objs, key);
}

const struct bsn_map *
bsn_informer_ns(const struct bsn_informer *inf, const char *ns)
{
    if (!ns)
        return &inf->objs;
    return bsn_map_get(&inf->by_ns, ns);
}

size_t
bsn_informer_len(const struct bsn_informer *inf)
{
    return inf->objs.len;
}

void
bsn_informer_free(struct bsn_informer *inf)
{
    if (!inf)
        return;
    if (inf->watch)
        bsn_client_watch_stop(inf->watch);
    bsn_timer_stop(inf->loop, &inf->retry);
    size_t it = 0;
    void *v;
    while (bsn_map_next(&inf->objs, &it, NULL, &v))
        json_decref(v);
    bsn_map_fini(&inf->objs);
    it = 0;
    while (bsn_map_next(&inf->by_ns, &it, NULL, &v)) {
        bsn_map_fini(v);
        free(v);
    }
    bsn_map_fini(&inf->by_ns);
    if (inf->transform == bsn_pod_slim && --shared.users == 0) {
        shared_sweep(true);
        bsn_map_fini(&shared.tab);
    }
    free(inf->path);
    /* a list still in flight must not call back: free the client right after the informers
     * (bsn_client_free drops the callbacks of requests in flight) */
    free(inf);
}

/*
 * Identical subtrees of slimmed pods are kept once. Pods of one workload carry the same
 * labels, owner references, containers, tolerations, ...; the informer's pods are read-only,
 * so a table maps a structural hash to one canonical subtree (the table holds a reference)
 * and every pod with an equal subtree points at it. Entries only the table still references
 * are dropped when the table has doubled since the last sweep, and all of them when the last
 * informer using the table goes away.
 */

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static uint64_t
bytes_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Structural hash; objects hash independently of member order (json_equal's notion). */
static uint64_t
tree_hash(const json_t *v)
{
    uint64_t h = mix64((uint64_t)json_typeof(v) + 1);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        uint64_t acc = json_object_size(v);
        json_object_foreach((json_t *)v, k, m)
        {
            acc += mix64(bytes_hash(k, strlen(k)) ^ (tree_hash(m) * 31));
        }
        return mix64(h ^ acc);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            h = mix64(h * 1099511628211ull ^ tree_hash(m));
        }
        return h;
    }
    case JSON_STRING:
        return mix64(h ^ bytes_hash(json_string_value(v), json_string_length(v)));
    case JSON_INTEGER:
        return mix64(h ^ (uint64_t)json_integer_value(v));
    case JSON_REAL: {
        double d = json_real_value(v);
        uint64_t b;
        memcpy(&b, &d, sizeof(b));
        return mix64(h ^ b);
    }
    default:
        return h;
    }
}

static void
shared_sweep(bool all)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (bsn_map_next(&shared.tab, &it, &k, &v)) {
        json_t *j = v;
        if (all || j->refcount == 1) {
            bsn_map_del(&shared.tab, k);
            json_decref(j);
        }
    }
    shared.sweep_at = BSN_MAX(shared.tab.len * 2, (size_t)4096);
}

/* Takes a reference to v; returns a reference to the canonical equal subtree. */
static json_t *
share(json_t *v)
{
    if (!v || shared.users == 0)
        return v;
    char k[24];
    snprintf(k, sizeof(k), "%016llx", (unsigned long long)tree_hash(v));
    json_t *c = bsn_map_get(&shared.tab, k);
    if (c) {
        if (c == v || !json_equal(c, v))
            return v; /* already canonical, or a hash collision: keep it apart */
        json_incref(c);
        json_decref(v);
        return c;
    }
    if (shared.tab.len >= shared.sweep_at)
        shared_sweep(false);
    bsn_map_put(&shared.tab, k, json_incref(v));
    return v;
}

/* Replaces member key of obj (if present) by its canonical subtree. */
static void
share_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v)
        json_object_set_new(obj, key, share(json_incref(v)));
}

/* Copies the listed members of src (those present) into a new object. */
static json_t *
pick(const json_t *src, const char *const *keys, size_t n)
{
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(src, keys[i]);
        if (v)
            json_object_set(out, keys[i], v);
    }
    return out;
}

static json_t *
pick_array(const json_t *arr, const char *const *keys, size_t n)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        json_array_append_new(out, pick(v, keys, n));
    }
    return out;
}

json_t *
bsn_pod_slim(json_t *pod)
{
    static const char *const top[] = {"apiVersion", "kind"};
    static const char *const meta[] = {"name",
                                       "namespace",
                                       "uid",
                                       "resourceVersion",
                                       "generation",
                                       "creationTimestamp",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       "labels",
                                       "annotations",
                                       "ownerReferences",
                                       "finalizers"};
    static const char *const spec[] = {
        "nodeName",        "schedulerName", "hostname",      "subdomain",
        "nodeSelector",    "affinity",      "tolerations",   "overhead",
        "priority",        "hostNetwork",   "restartPolicy", "topologySpreadConstraints",
        "preemptionPolicy"};
    static const char *const ctr[] = {"name", "image", "ports", "resources"};
    static const char *const status[] = {"phase", "podIP", "hostIP", "startTime", "reason"};
    static const char *const cond[] = {"type", "status", "lastTransitionTime", "reason", "message"};
    json_t *out = pick(pod, top, BSN_ARRAY_LEN(top));
    share_member(out, "apiVersion");
    share_member(out, "kind");
    json_t *m = pick(json_object_get(pod, "metadata"), meta, BSN_ARRAY_LEN(meta));
    json_t *ann = json_object_get(m, "annotations");
    if (json_object_get(ann, "kubectl.kubernetes.io/last-applied-configuration")) {
        ann = json_copy(ann);
        json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
        json_object_set_new(m, "annotations", ann);
    }
    static const char *const meta_shared[] = {"namespace",        "labels",     "annotations",
                                              "ownerReferences",  "finalizers", "generation",
                                              "creationTimestamp"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(meta_shared); i++)
        share_member(m, meta_shared[i]);
    json_object_set_new(out, "metadata", m);
    json_t *ps = json_object_get(pod, "spec");
    json_t *sp = pick(ps, spec, BSN_ARRAY_LEN(spec));
    json_object_set_new(sp, "containers",
                        pick_array(json_object_get(ps, "containers"), ctr, BSN_ARRAY_LEN(ctr)));
    if (json_object_get(ps, "initContainers"))
        json_object_set_new(
            sp, "initContainers",
            pick_array(json_object_get(ps, "initContainers"), ctr, BSN_ARRAY_LEN(ctr)));
    /* the scheduler's volume filter reads the claims a pod uses */
    json_t *vols = NULL, *vol;
    size_t vi;
    json_array_foreach(json_object_get(ps, "volumes"), vi, vol)
    {
        json_t *pvc = json_object_get(vol, "persistentVolumeClaim");
        if (!pvc)
            continue;
        if (!vols)
            vols = json_array();
        json_array_append_new(vols, json_pack("{s:O,s:O}", "name", json_object_get(vol, "name"),
                                              "persistentVolumeClaim", pvc));
    }
    if (vols)
        json_object_set_new(sp, "volumes", vols);
    json_object_set_new(out, "spec", sp);
    json_t *pst = json_object_get(pod, "status");
    if (pst) {
        json_t *st = pick(pst, status, BSN_ARRAY_LEN(status));
        /* only the Ready and PodScheduled conditions are read; of container statuses only
         * when terminated containers finished */
        json_t *conds = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(pst, "conditions"), i, c)
        {
            const char *t = json_string_value(json_object_get(c, "type")) ?: "";
            if (!strcmp(t, "Ready") || !strcmp(t, "PodScheduled") ||
                !strcmp(t, "DisruptionTarget")) /* the Job's podFailurePolicy reads it */
                json_array_append_new(conds, pick(c, cond, BSN_ARRAY_LEN(cond)));
        }
        json_object_set_new(st, "conditions", share(conds));
        json_t *cs = NULL;
        json_array_foreach(json_object_get(pst, "containerStatuses"), i, c)
        {
            json_t *term = bsn_json_path(c, "state.terminated");
            if (!term)
                continue;
            if (!cs)
                cs = json_array();
            json_array_append_new(
                cs, json_pack("{s:O,s:{s:{s:O,s:O}}}", "name",
                              json_object_get(c, "name") ?: json_null(), "state", "terminated",
                              "finishedAt", json_object_get(term, "finishedAt") ?: json_null(),
                              "exitCode", json_object_get(term, "exitCode") ?: json_null()));
        }
        if (cs)
            json_object_set_new(st, "containerStatuses", cs);
        json_object_set_new(out, "status", st);
    }
    static const char *const spec_shared[] = {
        "containers", "initContainers",           "tolerations", "nodeSelector", "affinity",
        "volumes",    "topologySpreadConstraints"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(spec_shared); i++)
        share_member(sp, spec_shared[i]);
    share_member(out, "spec");
    /* timestamps have second granularity: the pods of a burst share them too */
    static const char *const status_shared[] = {"phase", "hostIP", "startTime"};
    json_t *stt = json_object_get(out, "status");
    for (size_t i = 0; stt && i < BSN_ARRAY_LEN(status_shared); i++)
        share_member(stt, status_shared[i]);
    return out;
}
