/*
 * volumes.c - the scheduler's volume plugin (see volumes.h): PersistentVolumeClaims of a pod
 * against claims, volumes and classes from shared informers.
 */
#include "scheduler/volumes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "controllers/ctrl.h"
#include "controllers/volume.h"

struct bsn_sched_vol {
    struct bsn_ctrl *ctx;
    struct bsn_workqueue *q;
    struct bsn_informer *pvcs, *pvs, *classes;
    struct bsn_map waiting; /* claim key -> strdup(pod key) of a pod waiting for its binding */
};

enum bsn_claim_state
bsn_sched_claim_state(const json_t *claim, const json_t *sc)
{
    if (!claim || bsn_json_str(claim, "metadata.deletionTimestamp"))
        return BSN_CLAIM_MISSING;
    const char *vn = bsn_json_str(claim, "spec.volumeName");
    if (vn && *vn)
        return BSN_CLAIM_BOUND;
    const char *mode = json_string_value(json_object_get(sc, "volumeBindingMode")) ?: "";
    if (strcmp(mode, "WaitForFirstConsumer"))
        return BSN_CLAIM_IMMEDIATE;
    json_t *ann = bsn_json_path(claim, "metadata.annotations");
    return json_object_get(ann, BSN_SELECTED_NODE_ANN) ? BSN_CLAIM_SELECTED : BSN_CLAIM_WAIT;
}

bool
bsn_sched_pv_admits(const json_t *pv, const json_t *node_labels, const char *node_name)
{
    json_t *terms = bsn_json_path(pv, "spec.nodeAffinity.required.nodeSelectorTerms");
    if (!json_is_array(terms))
        return true;
    return bsn_sched_terms_match(terms, node_labels, node_name);
}

/* Calls fn for each claim the pod uses; stops when fn returns false. */
static void
each_claim(struct bsn_sched_vol *v, const json_t *pod,
           bool (*fn)(struct bsn_sched_vol *v, const char *name, const json_t *claim,
                      const json_t *sc, void *arg),
           void *arg)
{
    const char *ns = bsn_json_str(pod, "metadata.namespace") ?: "";
    size_t i;
    json_t *vol;
    json_array_foreach(bsn_json_path(pod, "spec.volumes"), i, vol)
    {
        const char *cn = json_string_value(
            json_object_get(json_object_get(vol, "persistentVolumeClaim"), "claimName"));
        if (!cn)
            continue;
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", ns, cn);
        json_t *claim = bsn_informer_get(v->pvcs, key);
        const char *cls = claim ? bsn_pvc_class(claim) : "";
        json_t *sc = *cls ? bsn_informer_get(v->classes, cls) : NULL;
        if (!fn(v, cn, claim, sc, arg))
            return;
    }
}

struct pre {
    const char *pod_key, *ns;
    char *msg;
    size_t n;
    int rc;
};

static bool
pre_one(struct bsn_sched_vol *v, const char *name, const json_t *claim, const json_t *sc, void *arg)
{
    struct pre *p = arg;
    switch (bsn_sched_claim_state(claim, sc)) {
    case BSN_CLAIM_MISSING:
        snprintf(p->msg, p->n,
                 claim ? "persistentvolumeclaim \"%s\" is being deleted"
                       : "persistentvolumeclaim \"%s\" not found",
                 name);
        p->rc = -1;
        return false;
    case BSN_CLAIM_IMMEDIATE:
    case BSN_CLAIM_SELECTED: {
        /* the claim's binding queues the pod again */
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", p->ns, name);
        free(bsn_map_put(&v->waiting, key, bsn_strdup(p->pod_key)));
        if (bsn_sched_claim_state(claim, sc) == BSN_CLAIM_IMMEDIATE) {
            snprintf(p->msg, p->n, "pod has unbound immediate PersistentVolumeClaims");
            p->rc = -1;
        } else if (p->rc == 0) {
            p->rc = 2000;
        }
        break;
    }
    case BSN_CLAIM_BOUND:
        if (!bsn_informer_get(v->pvs, bsn_json_str(claim, "spec.volumeName"))) {
            snprintf(p->msg, p->n, "pvc(s) bound to non-existent pv(s)");
            p->rc = -1;
            return false;
        }
        break;
    case BSN_CLAIM_WAIT:
        break;
    }
    return true;
}

int
bsn_sched_vol_prefilter(struct bsn_sched_vol *v, const char *pod_key, const json_t *pod,
                        size_t nnodes, char *msg, size_t n)
{
    if (!bsn_json_path(pod, "spec.volumes"))
        return 0;
    if (!bsn_informer_synced(v->pvcs) || !bsn_informer_synced(v->pvs) ||
        !bsn_informer_synced(v->classes))
        return 200;
    char reason[300] = "";
    struct pre p = {pod_key, bsn_json_str(pod, "metadata.namespace") ?: "", reason, sizeof(reason),
                    0};
    each_claim(v, pod, pre_one, &p);
    if (p.rc < 0)
        snprintf(msg, n,
                 "0/%zu nodes are available: %s. preemption: 0/%zu nodes are available: %zu "
                 "Preemption is not helpful for scheduling.",
                 nnodes, reason, nnodes, nnodes);
    return p.rc;
}

struct flt {
    const struct bsn_sched_node *node;
    const char *reason;
};

static bool
filter_one(struct bsn_sched_vol *v, const char *name, const json_t *claim, const json_t *sc,
           void *arg)
{
    struct flt *f = arg;
    enum bsn_claim_state st = bsn_sched_claim_state(claim, sc);
    if (st == BSN_CLAIM_BOUND) {
        json_t *pv = bsn_informer_get(v->pvs, bsn_json_str(claim, "spec.volumeName"));
        if (pv && !bsn_sched_pv_admits(pv, f->node->labels, f->node->name)) {
            f->reason = "node(s) had volume node affinity conflict";
            return false;
        }
    } else if (st == BSN_CLAIM_WAIT) {
        if (json_string_value(json_object_get(sc, "provisioner")))
            return true; /* dynamic provisioning (local-path: any node) */
        const struct bsn_map *all = bsn_informer_ns(v->pvs, NULL);
        const char *k;
        void *pv;
        size_t it = 0;
        while (all && bsn_map_next(all, &it, &k, &pv))
            if (bsn_pv_matches(claim, pv, NULL) && !bsn_json_path(pv, "spec.claimRef") &&
                bsn_sched_pv_admits(pv, f->node->labels, f->node->name))
                return true;
        f->reason = "node(s) didn't find available persistent volumes to bind";
        return false;
    }
    return true;
}

bool
bsn_sched_vol_filter(struct bsn_sched_vol *v, const json_t *pod, const struct bsn_sched_node *n,
                     struct bsn_sched_fail *why)
{
    if (!bsn_json_path(pod, "spec.volumes"))
        return true;
    struct flt f = {n, NULL};
    each_claim(v, pod, filter_one, &f);
    if (!f.reason)
        return true;
    memset(why, 0, sizeof(*why));
    why->nreasons = 1;
    snprintf(why->reasons[0], sizeof(why->reasons[0]), "%s", f.reason);
    return false;
}

struct res {
    const char *pod_key, *ns, *node;
    bool wait;
};

static bool
reserve_one(struct bsn_sched_vol *v, const char *name, const json_t *claim, const json_t *sc,
            void *arg)
{
    struct res *r = arg;
    if (bsn_sched_claim_state(claim, sc) != BSN_CLAIM_WAIT)
        return true;
    char key[512], path[700];
    snprintf(key, sizeof(key), "%s/%s", r->ns, name);
    free(bsn_map_put(&v->waiting, key, bsn_strdup(r->pod_key)));
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s", r->ns, name);
    json_t *patch =
        json_pack("{s:{s:{s:s}}}", "metadata", "annotations", BSN_SELECTED_NODE_ANN, r->node);
    bsn_ctrl_send(v->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL, NULL,
                  NULL);
    json_decref(patch);
    r->wait = true;
    return true;
}

bool
bsn_sched_vol_reserve(struct bsn_sched_vol *v, const char *pod_key, const json_t *pod,
                      const char *node)
{
    if (!bsn_json_path(pod, "spec.volumes"))
        return false;
    struct res r = {pod_key, bsn_json_str(pod, "metadata.namespace") ?: "", node, false};
    each_claim(v, pod, reserve_one, &r);
    return r.wait;
}

static void
claim_changed(json_t *claim, void *data)
{
    struct bsn_sched_vol *v = data;
    char key[512];
    bsn_obj_key(claim, key, sizeof(key));
    char *pod = bsn_map_get(&v->waiting, key);
    if (!pod)
        return;
    if (bsn_sched_claim_state(claim, NULL) == BSN_CLAIM_BOUND) {
        bsn_workqueue_add(v->q, pod);
        free(bsn_map_del(&v->waiting, key));
    }
}

static void
claim_updated(json_t *old, json_t *claim, void *data)
{
    claim_changed(claim, data);
}

static void
claim_deleted(json_t *claim, void *data)
{
    struct bsn_sched_vol *v = data;
    char key[512];
    bsn_obj_key(claim, key, sizeof(key));
    free(bsn_map_del(&v->waiting, key));
}

struct bsn_sched_vol *
bsn_sched_vol_new(struct bsn_ctrl *ctx, struct bsn_workqueue *q)
{
    struct bsn_sched_vol *v = bsn_calloc(1, sizeof(*v));
    v->ctx = ctx;
    v->q = q;
    bsn_map_init(&v->waiting);
    v->pvcs = bsn_ctrl_informer(ctx, "/api/v1/persistentvolumeclaims");
    v->pvs = bsn_ctrl_informer(ctx, "/api/v1/persistentvolumes");
    v->classes = bsn_ctrl_informer(ctx, "/apis/storage.k8s.io/v1/storageclasses");
    struct bsn_informer_handler h = {claim_changed, claim_updated, claim_deleted, v};
    bsn_informer_add_handler(v->pvcs, &h);
    return v;
}

void
bsn_sched_vol_free(struct bsn_sched_vol *v)
{
    if (!v)
        return;
    size_t it = 0;
    void *val;
    while (bsn_map_next(&v->waiting, &it, NULL, &val))
        free(val);
    bsn_map_fini(&v->waiting);
    free(v);
}
