/*
 * gc.c - the garbage collector controller.
 *
 * The API server deletes (or orphans) dependents when their owner is deleted through it;
 * this controller handles the rest, as upstream's garbage collector does:
 * - dependents whose owner no longer exists (by uid: an object of the same name with
 *   another uid does not count) are deleted in the background, or lose the dangling
 *   references when another owner remains. Absence is always confirmed by a live GET of the
 *   owner before anything is written.
 * - owners being deleted in the foreground (finalizer foregroundDeletion) lose the finalizer
 *   once no dependent with blockOwnerDeletion remains; remaining ones are deleted first.
 *
 * It watches the kinds that carry owner references in practice (pods, ReplicaSets,
 * Deployments, StatefulSets, DaemonSets, ControllerRevisions, Jobs, CronJobs,
 * EndpointSlices, PVCs, ReplicationControllers, Services), all shared informers, and keeps two
 * indexes: uid -> object and owner uid -> dependents, so that work is proportional to what
 * changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/registry.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/json.h"
#include "controllers/ctrl_int.h"
#include "controllers/gc.h"

#define FG_FINALIZER "foregroundDeletion"
#define SETTLE_MS    2000

struct watched {
    const char *prefix, *plural;
    bool namespaced;
};
static const struct watched watched[] = {
    {"/api/v1", "pods", true},
    {"/apis/apps/v1", "replicasets", true},
    {"/apis/apps/v1", "deployments", true},
    {"/apis/apps/v1", "statefulsets", true},
    {"/apis/apps/v1", "daemonsets", true},
    {"/apis/apps/v1", "controllerrevisions", true},
    {"/apis/batch/v1", "jobs", true},
    {"/apis/batch/v1", "cronjobs", true},
    {"/apis/discovery.k8s.io/v1", "endpointslices", true},
    {"/api/v1", "persistentvolumeclaims", true},
    {"/api/v1", "replicationcontrollers", true},
    {"/api/v1", "services", true},
};
#define NWATCHED (sizeof(watched) / sizeof(watched[0]))

struct gcctrl;
struct gcinf {
    struct gcctrl *g;
    size_t idx;
    struct bsn_informer *inf;
};

struct gcctrl {
    struct bsn_ctrl *ctx;
    struct gcinf infs[NWATCHED];
    struct bsn_workqueue *q;
    struct bsn_map uids;     /* uid -> strdup("<idx>|<key>") */
    struct bsn_map deps;     /* owner uid -> struct bsn_map* of "<idx>|<key>" */
    struct bsn_map absent;   /* owner uid -> (void*)1: confirmed gone */
    struct bsn_map checking; /* owner uid -> (void*)1: GET in flight */
    struct bsn_map present;  /* owner uid -> (void*)1: confirmed there (kinds not watched) */
};

#define MAX_CONFIRMED 10000

/* ------------------------------------------------------------------ pure */

enum bsn_gc_action
bsn_gc_decide(const json_t *refs, const enum bsn_gc_owner *state, json_t **keep)
{
    *keep = NULL;
    size_t n = json_array_size(refs), solid = 0, gone = 0, unknown = 0;
    for (size_t i = 0; i < n; i++) {
        if (state[i] == BSN_GC_SOLID)
            solid++;
        else if (state[i] == BSN_GC_UNKNOWN)
            unknown++;
        else
            gone++;
    }
    if (n == 0 || gone == 0)
        return BSN_GC_KEEP;
    if (solid > 0) {
        json_t *k = json_array();
        for (size_t i = 0; i < n; i++)
            if (state[i] == BSN_GC_SOLID || state[i] == BSN_GC_UNKNOWN)
                json_array_append(k, json_array_get(refs, i));
        *keep = k;
        return BSN_GC_PATCH;
    }
    return unknown ? BSN_GC_KEEP : BSN_GC_DELETE;
}

/* ------------------------------------------------------------------ indexes */

static void
item_of(size_t idx, const json_t *obj, char *out, size_t n)
{
    char key[512];
    bsn_obj_key(obj, key, sizeof(key));
    snprintf(out, n, "%zu|%s", idx, key);
}

static void
deps_add(struct gcctrl *g, const char *owner, const char *item)
{
    struct bsn_map *set = bsn_map_get(&g->deps, owner);
    if (!set) {
        set = bsn_calloc(1, sizeof(*set));
        bsn_map_init(set);
        bsn_map_put(&g->deps, owner, set);
    }
    bsn_map_put(set, item, (void *)1);
}

static void
deps_del(struct gcctrl *g, const char *owner, const char *item)
{
    struct bsn_map *set = bsn_map_get(&g->deps, owner);
    if (!set)
        return;
    bsn_map_del(set, item);
    if (set->len == 0) {
        bsn_map_del(&g->deps, owner);
        bsn_map_fini(set);
        free(set);
    }
}

static bool
foreground_deleting(const json_t *obj)
{
    if (!bsn_ctrl_deleting(obj))
        return false;
    size_t i;
    json_t *f;
    json_array_foreach(bsn_json_path(obj, "metadata.finalizers"), i, f)
    {
        if (!strcmp(json_string_value(f) ?: "", FG_FINALIZER))
            return true;
    }
    return false;
}

static void
queue_fg(struct gcctrl *g, const char *item)
{
    char k[600];
    snprintf(k, sizeof(k), "F%s", item);
    bsn_workqueue_add(g->q, k);
}

static void
index_obj(struct gcinf *gi, const json_t *old, const json_t *obj)
{
    struct gcctrl *g = gi->g;
    char item[600];
    item_of(gi->idx, obj, item, sizeof(item));
    size_t i;
    json_t *r;
    if (old)
        json_array_foreach(bsn_json_path(old, "metadata.ownerReferences"), i, r)
        {
            deps_del(g, json_string_value(json_object_get(r, "uid")) ?: "", item);
        }
    const char *uid = bsn_json_str(obj, "metadata.uid");
    if (uid)
        free(bsn_map_put(&g->uids, uid, bsn_strdup(item)));
    bool suspect = false;
    json_array_foreach(bsn_json_path(obj, "metadata.ownerReferences"), i, r)
    {
        const char *ou = json_string_value(json_object_get(r, "uid")) ?: "";
        deps_add(g, ou, item);
        if (!bsn_map_get(&g->uids, ou) && !bsn_map_get(&g->present, ou))
            suspect = true;
    }
    if (suspect)
        bsn_workqueue_add_after(g->q, item, SETTLE_MS);
    if (foreground_deleting(obj))
        queue_fg(g, item);
}

static void
on_add(json_t *obj, void *data)
{
    index_obj(data, NULL, obj);
}

static void
on_update(json_t *old, json_t *obj, void *data)
{
    index_obj(data, old, obj);
}

static void
on_delete(json_t *obj, void *data)
{
    struct gcinf *gi = data;
    struct gcctrl *g = gi->g;
    char item[600];
    item_of(gi->idx, obj, item, sizeof(item));
    size_t i;
    json_t *r;
    json_array_foreach(bsn_json_path(obj, "metadata.ownerReferences"), i, r)
    {
        const char *ou = json_string_value(json_object_get(r, "uid")) ?: "";
        deps_del(g, ou, item);
        /* an owner in foreground deletion may be waiting for this one */
        const char *owner = bsn_map_get(&g->uids, ou);
        if (owner)
            queue_fg(g, owner);
    }
    const char *uid = bsn_json_str(obj, "metadata.uid");
    if (!uid)
        return;
    free(bsn_map_del(&g->uids, uid));
    /* its dependents lost their owner */
    struct bsn_map *set = bsn_map_get(&g->deps, uid);
    const char *k;
    void *v;
    size_t it = 0;
    while (set && bsn_map_next(set, &it, &k, &v))
        bsn_workqueue_add_after(g->q, k, SETTLE_MS);
}

/* ------------------------------------------------------------------ actions */

static json_t *
lookup_item(struct gcctrl *g, const char *item, size_t *idx)
{
    char *bar;
    size_t i = strtoul(item, &bar, 10);
    if (*bar != '|' || i >= NWATCHED)
        return NULL;
    *idx = i;
    return bsn_informer_get(g->infs[i].inf, bar + 1);
}

static void
obj_path(size_t idx, const json_t *obj, char *out, size_t n)
{
    bsn_ctrl_obj_path(watched[idx].prefix, watched[idx].plural,
                      watched[idx].namespaced ? bsn_json_str(obj, "metadata.namespace") : NULL,
                      bsn_json_str(obj, "metadata.name"), out, n);
}

struct check_ctx {
    struct gcctrl *g;
    char uid[80];
    char item[600];
};

static void
checked(int status, const char *body, size_t len, void *data)
{
    struct check_ctx *c = data;
    bsn_map_del(&c->g->checking, c->uid);
    bool gone = status == 404;
    if (status == 200) {
        struct bsn_err err;
        json_t *o = bsn_json_parse(body, len, &err);
        gone = o && strcmp(bsn_json_str(o, "metadata.uid") ?: "", c->uid);
        json_decref(o);
    }
    struct bsn_map *m = gone ? &c->g->absent : &c->g->present;
    if (status == 200 || gone) {
        if (m->len >= MAX_CONFIRMED) {
            bsn_map_fini(m);
            bsn_map_init(m);
        }
        bsn_map_put(m, c->uid, (void *)1);
    }
    if (gone)
        bsn_workqueue_add(c->g->q, c->item);
    else if (status != 200)
        bsn_workqueue_add_after(c->g->q, c->item, SETTLE_MS); /* could not tell: again */
    free(c);
}

/* Asks the API whether the owner of ref (namespace ns) still exists with its uid. */
static void
confirm(struct gcctrl *g, const char *item, const json_t *ref, const char *ns)
{
    const char *uid = json_string_value(json_object_get(ref, "uid")) ?: "";
    if (bsn_map_get(&g->checking, uid))
        return;
    const char *av = json_string_value(json_object_get(ref, "apiVersion")) ?: "";
    const char *kind = json_string_value(json_object_get(ref, "kind")) ?: "";
    char group[128] = "", version[64];
    const char *slash = strchr(av, '/');
    if (slash) {
        snprintf(group, sizeof(group), "%.*s", (int)(slash - av), av);
        snprintf(version, sizeof(version), "%s", slash + 1);
    } else {
        snprintf(version, sizeof(version), "%s", av);
    }
    const struct bsn_resource *res = bsn_registry_find_kind(group, version, kind);
    if (!res) {
        /* an owner kind this server does not serve cannot exist */
        bsn_map_put(&g->absent, uid, (void *)1);
        bsn_workqueue_add(g->q, item);
        return;
    }
    char prefix[200], path[800];
    if (group[0])
        snprintf(prefix, sizeof(prefix), "/apis/%s/%s", group, version);
    else
        snprintf(prefix, sizeof(prefix), "/api/%s", version);
    bsn_ctrl_obj_path(prefix, res->plural, res->namespaced ? ns : NULL,
                      json_string_value(json_object_get(ref, "name")) ?: "", path, sizeof(path));
    struct check_ctx *c = bsn_calloc(1, sizeof(*c));
    c->g = g;
    snprintf(c->uid, sizeof(c->uid), "%s", uid);
    snprintf(c->item, sizeof(c->item), "%s", item);
    bsn_map_put(&g->checking, uid, (void *)1);
    bsn_ctrl_send(g->ctx, "GET", path, NULL, NULL, NULL, NULL, checked, c);
}

static bool
all_synced(struct gcctrl *g)
{
    for (size_t i = 0; i < NWATCHED; i++)
        if (!bsn_informer_synced(g->infs[i].inf))
            return false;
    return true;
}

static int
check_dependent(struct gcctrl *g, const char *item)
{
    size_t idx;
    json_t *obj = lookup_item(g, item, &idx);
    json_t *refs = obj ? bsn_json_path(obj, "metadata.ownerReferences") : NULL;
    if (!obj || json_array_size(refs) == 0 || bsn_ctrl_deleting(obj))
        return 0;
    size_t n = json_array_size(refs);
    enum bsn_gc_owner *st = bsn_calloc(n, sizeof(*st));
    const char *ns = bsn_json_str(obj, "metadata.namespace");
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(refs, i);
        const char *uid = json_string_value(json_object_get(r, "uid")) ?: "";
        const char *owner = bsn_map_get(&g->uids, uid);
        size_t oidx;
        json_t *o = owner ? lookup_item(g, owner, &oidx) : NULL;
        if (o)
            st[i] = foreground_deleting(o) ? BSN_GC_WAITING : BSN_GC_SOLID;
        else if (bsn_map_get(&g->absent, uid))
            st[i] = BSN_GC_DANGLING;
        else if (bsn_map_get(&g->present, uid))
            st[i] = BSN_GC_SOLID;
        else {
            st[i] = BSN_GC_UNKNOWN;
            confirm(g, item, r, ns);
        }
    }
    json_t *keep;
    enum bsn_gc_action a = bsn_gc_decide(refs, st, &keep);
    free(st);
    char path[800];
    obj_path(idx, obj, path, sizeof(path));
    if (a == BSN_GC_DELETE) {
        bsn_info("gc", "deleting %s: its owners are gone", path);
        strncat(path, "?propagationPolicy=Background", sizeof(path) - strlen(path) - 1);
        bsn_ctrl_send(g->ctx, "DELETE", path, NULL, NULL, g->q, item, NULL, NULL);
    } else if (a == BSN_GC_PATCH) {
        json_t *patch =
            json_pack("{s:{s:o,s:s}}", "metadata", "ownerReferences", keep, "resourceVersion",
                      bsn_json_str(obj, "metadata.resourceVersion") ?: "");
        bsn_ctrl_send(g->ctx, "PATCH", path, "application/merge-patch+json", patch, g->q, item,
                      NULL, NULL);
        json_decref(patch);
    }
    return 0;
}

/* An owner in foreground deletion: finish it once no blocking dependent is left. */
static int
check_foreground(struct gcctrl *g, const char *item)
{
    size_t idx;
    json_t *obj = lookup_item(g, item, &idx);
    if (!obj || !foreground_deleting(obj))
        return 0;
    const char *uid = bsn_json_str(obj, "metadata.uid") ?: "";
    struct bsn_map *set = bsn_map_get(&g->deps, uid);
    size_t blocking = 0;
    const char *k;
    void *v;
    size_t it = 0;
    while (set && bsn_map_next(set, &it, &k, &v)) {
        size_t didx;
        json_t *d = lookup_item(g, k, &didx);
        if (!d)
            continue;
        size_t i;
        json_t *r;
        json_array_foreach(bsn_json_path(d, "metadata.ownerReferences"), i, r)
        {
            if (strcmp(json_string_value(json_object_get(r, "uid")) ?: "", uid) ||
                !json_is_true(json_object_get(r, "blockOwnerDeletion")))
                continue;
            blocking++;
            if (!bsn_ctrl_deleting(d)) {
                char path[800];
                obj_path(didx, d, path, sizeof(path));
                strncat(path, "?propagationPolicy=Foreground", sizeof(path) - strlen(path) - 1);
                bsn_ctrl_send(g->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
            }
        }
    }
    if (blocking > 0)
        return 1000; /* look again; their deletion queues us too */
    json_t *fins = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(bsn_json_path(obj, "metadata.finalizers"), i, f)
    {
        if (strcmp(json_string_value(f) ?: "", FG_FINALIZER))
            json_array_append(fins, f);
    }
    json_t *patch = json_pack("{s:{s:o,s:s}}", "metadata", "finalizers", fins, "resourceVersion",
                              bsn_json_str(obj, "metadata.resourceVersion") ?: "");
    char path[800];
    obj_path(idx, obj, path, sizeof(path));
    char qk[620];
    snprintf(qk, sizeof(qk), "F%s", item);
    bsn_ctrl_send(g->ctx, "PATCH", path, "application/merge-patch+json", patch, g->q, qk, NULL,
                  NULL);
    json_decref(patch);
    return 0;
}

static int
reconcile(const char *key, void *data)
{
    struct gcctrl *g = data;
    if (!all_synced(g))
        return 500;
    return key[0] == 'F' ? check_foreground(g, key + 1) : check_dependent(g, key);
}

void *
bsn_gc_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct gcctrl *g = bsn_calloc(1, sizeof(*g));
    g->ctx = ctx;
    bsn_map_init(&g->uids);
    bsn_map_init(&g->deps);
    bsn_map_init(&g->absent);
    bsn_map_init(&g->checking);
    bsn_map_init(&g->present);
    g->q = bsn_workqueue_new(ctx->loop, "garbagecollector", reconcile, g);
    for (size_t i = 0; i < NWATCHED; i++) {
        char path[200];
        snprintf(path, sizeof(path), "%s/%s", watched[i].prefix, watched[i].plural);
        g->infs[i] = (struct gcinf){g, i, bsn_ctrl_informer(ctx, path)};
        struct bsn_informer_handler h = {on_add, on_update, on_delete, &g->infs[i]};
        bsn_informer_add_handler(g->infs[i].inf, &h);
    }
    return g;
}

void
bsn_gc_ctrl_free(void *self)
{
    struct gcctrl *g = self;
    if (!g)
        return;
    bsn_workqueue_free(g->q);
    size_t it = 0;
    void *v;
    while (bsn_map_next(&g->uids, &it, NULL, &v))
        free(v);
    bsn_map_fini(&g->uids);
    it = 0;
    while (bsn_map_next(&g->deps, &it, NULL, &v)) {
        bsn_map_fini(v);
        free(v);
    }
    bsn_map_fini(&g->deps);
    bsn_map_fini(&g->absent);
    bsn_map_fini(&g->checking);
    bsn_map_fini(&g->present);
    free(g);
}
