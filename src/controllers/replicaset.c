/*
 * replicaset.c - the ReplicaSet and ReplicationController controller.
 *
 * Keeps spec.replicas active pods matching the selector: adopts matching orphans, releases
 * owned pods whose labels stopped matching, creates from the template (generateName
 * "<name>-") or deletes in bsn_rank_pods_for_deletion order, and writes status. Expectations
 * (creates/deletes sent but not yet seen in the pod informer) keep it from acting twice on a
 * stale cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/selector.h"
#include "controllers/ctrl_int.h"
#include "controllers/logic.h"

#define BURST              500
#define EXPECTATIONS_TTL_S 30

struct expect {
    int64_t adds, dels;
    uint64_t since_ms;
};

struct rsctrl {
    struct bsn_ctrl *ctx;
    bool rc; /* ReplicationController flavour */
    const char *kind, *api_version, *prefix, *plural;
    struct bsn_informer *sets, *pods;
    struct bsn_workqueue *q;
    struct bsn_map expect; /* key -> struct expect* */
};

static struct expect *
expect_get(struct rsctrl *r, const char *key, bool create)
{
    struct expect *e = bsn_map_get(&r->expect, key);
    if (!e && create) {
        e = bsn_calloc(1, sizeof(*e));
        bsn_map_put(&r->expect, key, e);
    }
    return e;
}

static bool
expect_satisfied(struct rsctrl *r, const char *key)
{
    struct expect *e = expect_get(r, key, false);
    if (!e || (e->adds <= 0 && e->dels <= 0))
        return true;
    return bsn_mono_ms() - e->since_ms > EXPECTATIONS_TTL_S * 1000;
}

/* Owner key of a pod for this controller's kind, or false. */
static bool
owner_key(struct rsctrl *r, const json_t *pod, char *key, size_t n)
{
    json_t *ref = bsn_ctrl_owner(pod);
    if (!ref)
        return false;
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    if (!kind || strcmp(kind, r->kind))
        return false;
    snprintf(key, n, "%s/%s", bsn_json_str(pod, "metadata.namespace") ?: "",
             json_string_value(json_object_get(ref, "name")) ?: "");
    return true;
}

static int
selector_of(struct rsctrl *r, const json_t *set, struct bsn_selector *sel)
{
    struct bsn_err err;
    json_t *s = bsn_json_path(set, "spec.selector");
    if (r->rc) {
        if (!json_is_object(s) || json_object_size(s) == 0)
            s = bsn_json_path(set, "spec.template.metadata.labels");
        json_t *ls = json_pack("{s:O}", "matchLabels", s ? s : json_object());
        int rc = bsn_selector_from_json(ls, sel, &err);
        json_decref(ls);
        return rc;
    }
    return bsn_selector_from_json(s, sel, &err);
}

/* Orphan pods: queue every set of the namespace whose selector matches. */
static void
enqueue_matching_sets(struct rsctrl *r, const json_t *pod)
{
    const struct bsn_map *m = bsn_informer_ns(r->sets, bsn_json_str(pod, "metadata.namespace"));
    if (!m)
        return;
    const char *k;
    void *v;
    size_t it = 0;
    json_t *labels = bsn_json_path(pod, "metadata.labels");
    while (bsn_map_next(m, &it, &k, &v)) {
        struct bsn_selector sel;
        if (selector_of(r, v, &sel) < 0)
            continue;
        if (!bsn_selector_is_everything(&sel) && bsn_selector_match(&sel, labels))
            bsn_workqueue_add_coalesced(r->q, k);
        bsn_selector_fini(&sel);
    }
}

static void
pod_added(json_t *pod, void *data)
{
    struct rsctrl *r = data;
    char key[512];
    if (owner_key(r, pod, key, sizeof(key))) {
        struct expect *e = expect_get(r, key, false);
        if (e && e->adds > 0)
            e->adds--;
        bsn_workqueue_add_coalesced(r->q, key);
    } else if (!bsn_ctrl_owner(pod)) {
        enqueue_matching_sets(r, pod);
    }
}

static void
pod_updated(json_t *old, json_t *pod, void *data)
{
    struct rsctrl *r = data;
    char key[512], okey[512];
    bool has = owner_key(r, pod, key, sizeof(key));
    bool had = owner_key(r, old, okey, sizeof(okey));
    if (has) {
        if (bsn_ctrl_deleting(pod) && !bsn_ctrl_deleting(old)) {
            struct expect *e = expect_get(r, key, false);
            if (e && e->dels > 0)
                e->dels--;
        }
        bsn_workqueue_add_coalesced(r->q, key);
    }
    if (had && (!has || strcmp(key, okey)))
        bsn_workqueue_add_coalesced(r->q, okey);
    if (!bsn_ctrl_owner(pod))
        enqueue_matching_sets(r, pod);
}

static void
pod_deleted(json_t *pod, void *data)
{
    struct rsctrl *r = data;
    char key[512];
    if (owner_key(r, pod, key, sizeof(key))) {
        if (!bsn_ctrl_deleting(pod)) {
            struct expect *e = expect_get(r, key, false);
            if (e && e->dels > 0)
                e->dels--;
        }
        bsn_workqueue_add_coalesced(r->q, key);
    }
}

static void
set_changed(json_t *obj, void *data)
{
    struct rsctrl *r = data;
    char key[512];
    bsn_obj_key(obj, key, sizeof(key));
    bsn_workqueue_add(r->q, key);
}

static void
set_updated(json_t *old, json_t *obj, void *data)
{
    set_changed(obj, data);
}

static void
set_deleted(json_t *obj, void *data)
{
    struct rsctrl *r = data;
    char key[512];
    bsn_obj_key(obj, key, sizeof(key));
    free(bsn_map_del(&r->expect, key));
}

struct write_ctx {
    struct rsctrl *r;
    char key[512];
    char pod[254];
    bool add;
};

static void
write_done(int status, const char *body, size_t len, void *data)
{
    struct write_ctx *w = data;
    if (status >= 300 && !(status == 404 && !w->add)) {
        struct expect *e = expect_get(w->r, w->key, false);
        if (e) {
            if (w->add && e->adds > 0)
                e->adds--;
            else if (!w->add && e->dels > 0)
                e->dels--;
        }
    } else if (status < 300) {
        json_t *set = bsn_informer_get(w->r->sets, w->key);
        char buf[256];
        const char *name = w->pod;
        if (w->add)
            name = bsn_ctrl_answer_name(body, len, buf, sizeof(buf)) ? buf : NULL;
        if (set && name)
            bsn_ctrl_event(w->r->ctx, set, "Normal",
                           w->add ? "SuccessfulCreate" : "SuccessfulDelete", "%s pod: %s",
                           w->add ? "Created" : "Deleted", name);
    }
    free(w);
}

static json_t *
owner_ref(struct rsctrl *r, const json_t *set)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion", r->api_version, "kind", r->kind,
                     "name", bsn_json_str(set, "metadata.name") ?: "", "uid",
                     bsn_json_str(set, "metadata.uid") ?: "", "controller", 1, "blockOwnerDeletion",
                     1);
}

static void
create_pods(struct rsctrl *r, const char *key, const json_t *set, int64_t n)
{
    const char *ns = bsn_json_str(set, "metadata.namespace");
    const char *name = bsn_json_str(set, "metadata.name");
    json_t *tmpl = bsn_json_path(set, "spec.template");
    json_t *tmeta = json_object_get(tmpl, "metadata");
    json_t *meta = json_object();
    char gen[300];
    snprintf(gen, sizeof(gen), "%.240s-", name);
    json_object_set_new(meta, "generateName", json_string(gen));
    json_object_set_new(meta, "namespace", json_string(ns));
    static const char *const copy[] = {"labels", "annotations", "finalizers"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(copy); i++) {
        json_t *v = json_object_get(tmeta, copy[i]);
        if (v)
            json_object_set(meta, copy[i], v);
    }
    json_object_set_new(meta, "ownerReferences", json_pack("[o]", owner_ref(r, set)));
    json_t *spec = json_object_get(tmpl, "spec");
    json_t *pod = json_pack("{s:s,s:s,s:o,s:O}", "apiVersion", "v1", "kind", "Pod", "metadata",
                            meta, "spec", spec ? spec : json_object());
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
    struct expect *e = expect_get(r, key, true);
    e->adds += n;
    e->since_ms = bsn_mono_ms();
    for (int64_t i = 0; i < n; i++) {
        struct write_ctx *w = bsn_calloc(1, sizeof(*w));
        w->r = r;
        w->add = true;
        snprintf(w->key, sizeof(w->key), "%s", key);
        bsn_ctrl_send(r->ctx, "POST", path, NULL, pod, r->q, key, write_done, w);
    }
    json_decref(pod);
}

static void
delete_pods(struct rsctrl *r, const char *key, const json_t *set, json_t **pods, int64_t n)
{
    struct expect *e = expect_get(r, key, true);
    e->dels += n;
    e->since_ms = bsn_mono_ms();
    for (int64_t i = 0; i < n; i++) {
        char path[600];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s",
                 bsn_json_str(pods[i], "metadata.namespace"),
                 bsn_json_str(pods[i], "metadata.name"));
        struct write_ctx *w = bsn_calloc(1, sizeof(*w));
        w->r = r;
        snprintf(w->key, sizeof(w->key), "%s", key);
        snprintf(w->pod, sizeof(w->pod), "%s", bsn_json_str(pods[i], "metadata.name"));
        bsn_ctrl_send(r->ctx, "DELETE", path, NULL, NULL, r->q, key, write_done, w);
    }
}

/* Adopt (add our controller ref) or release (drop it) a pod. */
static void
set_owner(struct rsctrl *r, const char *key, const json_t *set, const json_t *pod, bool adopt)
{
    json_t *refs = json_array();
    size_t i;
    json_t *ref;
    const char *uid = bsn_json_str(set, "metadata.uid") ?: "";
    json_array_foreach(bsn_json_path(pod, "metadata")
                           ? json_object_get(bsn_json_path(pod, "metadata"), "ownerReferences")
                           : NULL,
                       i, ref)
    {
        if (strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid))
            json_array_append(refs, ref);
    }
    if (adopt)
        json_array_append_new(refs, owner_ref(r, set));
    json_t *patch = json_pack("{s:{s:o,s:s}}", "metadata", "ownerReferences", refs, "uid",
                              bsn_json_str(pod, "metadata.uid") ?: "");
    char path[600];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s",
             bsn_json_str(pod, "metadata.namespace"), bsn_json_str(pod, "metadata.name"));
    bsn_ctrl_send(r->ctx, "PATCH", path, "application/merge-patch+json", patch, r->q, key, NULL,
                  NULL);
    json_decref(patch);
}

static int
reconcile(const char *key, void *data)
{
    struct rsctrl *r = data;
    json_t *set = bsn_informer_get(r->sets, key);
    if (!set || !bsn_informer_synced(r->pods))
        return set ? 100 : 0;
    if (bsn_ctrl_deleting(set))
        return 0;
    struct bsn_selector sel;
    if (selector_of(r, set, &sel) < 0)
        return 0;
    const char *uid = bsn_json_str(set, "metadata.uid") ?: "";
    const struct bsn_map *m = bsn_informer_ns(r->pods, bsn_json_str(set, "metadata.namespace"));
    json_t **active = NULL;
    size_t nactive = 0, cap = 0;
    void *v;
    size_t it = 0;
    bool can_adopt = !bsn_selector_is_everything(&sel);
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *pod = v;
        json_t *ref = bsn_ctrl_owner(pod);
        bool match = bsn_selector_match(&sel, bsn_json_path(pod, "metadata.labels"));
        bool ours = ref && !strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid);
        if (ours && !match) {
            set_owner(r, key, set, pod, false);
            continue;
        }
        if (!ref && match && can_adopt && bsn_pod_active(pod)) {
            set_owner(r, key, set, pod, true);
            ours = true;
        }
        if (!ours || !bsn_pod_active(pod))
            continue;
        if (nactive == cap) {
            cap = cap ? cap * 2 : 16;
            active = bsn_realloc(active, cap * sizeof(*active));
        }
        active[nactive++] = pod;
    }
    bsn_selector_fini(&sel);
    int64_t want = bsn_json_int(set, "spec.replicas", 1);
    int ret = 0;
    if (expect_satisfied(r, key)) {
        free(bsn_map_del(&r->expect, key));
        int64_t diff = (int64_t)nactive - want;
        if (diff < 0) {
            create_pods(r, key, set, BSN_MIN(-diff, BURST));
        } else if (diff > 0) {
            bsn_rank_pods_for_deletion(active, nactive);
            delete_pods(r, key, set, active, BSN_MIN(diff, BURST));
        }
    }
    int64_t min_ready = bsn_json_int(set, "spec.minReadySeconds", 0);
    struct bsn_rs_status st;
    time_t now = bsn_time_now();
    bsn_rs_compute_status(active, nactive, bsn_json_path(set, "spec.template.metadata.labels"),
                          min_ready, now, &st);
    if (st.ready > st.available)
        ret = 1000; /* look again when minReadySeconds may have passed */
    free(active);
    int64_t gen = bsn_json_int(set, "metadata.generation", 0);
    if (bsn_json_int(set, "status.replicas", -1) != st.replicas ||
        bsn_json_int(set, "status.fullyLabeledReplicas", 0) != st.fully_labeled ||
        bsn_json_int(set, "status.readyReplicas", 0) != st.ready ||
        bsn_json_int(set, "status.availableReplicas", 0) != st.available ||
        bsn_json_int(set, "status.observedGeneration", -1) != gen) {
        json_t *patch =
            json_pack("{s:{s:I,s:I,s:I,s:I,s:I},s:{s:s}}", "status", "replicas",
                      (json_int_t)st.replicas, "fullyLabeledReplicas", (json_int_t)st.fully_labeled,
                      "readyReplicas", (json_int_t)st.ready, "availableReplicas",
                      (json_int_t)st.available, "observedGeneration", (json_int_t)gen, "metadata",
                      "resourceVersion", bsn_json_str(set, "metadata.resourceVersion") ?: "");
        char path[600];
        bsn_ctrl_obj_path(r->prefix, r->plural, bsn_json_str(set, "metadata.namespace"),
                          bsn_json_str(set, "metadata.name"), path, sizeof(path));
        strncat(path, "/status", sizeof(path) - strlen(path) - 1);
        bsn_ctrl_send(r->ctx, "PATCH", path, "application/merge-patch+json", patch, r->q, key, NULL,
                      NULL);
        json_decref(patch);
    }
    return ret;
}

static void *
rsctrl_new(struct bsn_ctrl *ctx, bool rc)
{
    struct rsctrl *r = bsn_calloc(1, sizeof(*r));
    r->ctx = ctx;
    r->rc = rc;
    r->kind = rc ? "ReplicationController" : "ReplicaSet";
    r->api_version = rc ? "v1" : "apps/v1";
    r->prefix = rc ? "/api/v1" : "/apis/apps/v1";
    r->plural = rc ? "replicationcontrollers" : "replicasets";
    bsn_map_init(&r->expect);
    r->q = bsn_workqueue_new(ctx->loop, r->plural, reconcile, r);
    char path[100];
    snprintf(path, sizeof(path), "%s/%s", r->prefix, r->plural);
    r->sets = bsn_ctrl_informer(ctx, path);
    r->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    struct bsn_informer_handler hs = {set_changed, set_updated, set_deleted, r};
    bsn_informer_add_handler(r->sets, &hs);
    struct bsn_informer_handler hp = {pod_added, pod_updated, pod_deleted, r};
    bsn_informer_add_handler(r->pods, &hp);
    return r;
}

void *
bsn_rs_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    return rsctrl_new(ctx, false);
}

void *
bsn_rc_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    return rsctrl_new(ctx, true);
}

void
bsn_rs_ctrl_free(void *self)
{
    struct rsctrl *r = self;
    if (!r)
        return;
    bsn_workqueue_free(r->q);
    size_t it = 0;
    void *v;
    while (bsn_map_next(&r->expect, &it, NULL, &v))
        free(v);
    bsn_map_fini(&r->expect);
    free(r);
}
