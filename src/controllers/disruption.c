/*
 * disruption.c - the PodDisruptionBudget status controller: counts the healthy (Ready) pods a
 * budget selects and writes currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed
 * and the DisruptionAllowed condition. The API server's eviction handler reads
 * status.disruptionsAllowed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "codec/selector.h"
#include "codec/util.h"
#include "controllers/ctrl_int.h"

struct pdbctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *pdbs, *pods;
    struct bsn_workqueue *q;
};

static void
pdb_changed(json_t *o, void *data)
{
    struct pdbctrl *p = data;
    char key[512];
    bsn_obj_key(o, key, sizeof(key));
    bsn_workqueue_add(p->q, key);
}

static void
pdb_updated(json_t *old, json_t *o, void *data)
{
    pdb_changed(o, data);
}

static void
pod_changed(json_t *pod, void *data)
{
    struct pdbctrl *p = data;
    const struct bsn_map *m = bsn_informer_ns(p->pdbs, bsn_json_str(pod, "metadata.namespace"));
    const char *k;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, &k, NULL))
        bsn_workqueue_add_coalesced(p->q, k);
}

static void
pod_updated(json_t *old, json_t *pod, void *data)
{
    pod_changed(pod, data);
}

static int
reconcile(const char *key, void *data)
{
    struct pdbctrl *p = data;
    json_t *pdb = bsn_informer_get(p->pdbs, key);
    if (!pdb)
        return 0;
    if (!bsn_informer_synced(p->pods))
        return 100;
    struct bsn_selector sel;
    struct bsn_err err;
    if (bsn_selector_from_json(bsn_json_path(pdb, "spec.selector"), &sel, &err) < 0)
        return 0;
    int64_t expected = 0, healthy = 0;
    const struct bsn_map *m = bsn_informer_ns(p->pods, bsn_json_str(pdb, "metadata.namespace"));
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        if (!bsn_pod_active(v) || !bsn_selector_match(&sel, bsn_json_path(v, "metadata.labels")))
            continue;
        expected++;
        if (bsn_pod_ready(v))
            healthy++;
    }
    bsn_selector_fini(&sel);
    json_t *spec = bsn_json_path(pdb, "spec");
    json_t *minav = json_object_get(spec, "minAvailable");
    json_t *maxun = json_object_get(spec, "maxUnavailable");
    int64_t desired = 0, n = 0;
    if (minav && bsn_intstr_scaled(minav, expected, true, &n, &err) == 0)
        desired = n;
    else if (maxun && bsn_intstr_scaled(maxun, expected, true, &n, &err) == 0)
        desired = expected - n > 0 ? expected - n : 0;
    else if (!minav && !maxun)
        desired = 0;
    int64_t allowed = healthy - desired > 0 ? healthy - desired : 0;
    if (expected == 0)
        allowed = 0;
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    json_t *old = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(pdb, "status")
                           ? json_object_get(bsn_json_path(pdb, "status"), "conditions")
                           : NULL,
                       i, c)
    {
        if (!strcmp(bsn_json_str(c, "type") ?: "", "DisruptionAllowed"))
            old = c;
    }
    const char *cs = allowed > 0 ? "True" : "False";
    const char *reason = allowed > 0 ? "SufficientPods" : "InsufficientPods";
    const char *trans = now;
    if (old && !strcmp(bsn_json_str(old, "status") ?: "", cs))
        trans = bsn_json_str(old, "lastTransitionTime") ?: now;
    int64_t gen = bsn_json_int(pdb, "metadata.generation", 0);
    json_t *st = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:[{s:s,s:s,s:s,s:s,s:s,s:I}]}", "observedGeneration",
        (json_int_t)gen, "currentHealthy", (json_int_t)healthy, "desiredHealthy",
        (json_int_t)desired, "expectedPods", (json_int_t)expected, "disruptionsAllowed",
        (json_int_t)allowed, "conditions", "type", "DisruptionAllowed", "status", cs, "reason",
        reason, "message", "", "lastTransitionTime", trans, "observedGeneration", (json_int_t)gen);
    json_t *cur = bsn_json_path(pdb, "status");
    /* disruptedPods is kept as the eviction handler wrote it */
    json_t *dp = cur ? json_object_get(cur, "disruptedPods") : NULL;
    if (dp)
        json_object_set(st, "disruptedPods", dp);
    bsn_ctrl_status_put(p->ctx, pdb, "/apis/policy/v1", "poddisruptionbudgets", "policy/v1",
                        "PodDisruptionBudget", st, p->q, key);
    return 0;
}

void *
bsn_pdb_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct pdbctrl *p = bsn_calloc(1, sizeof(*p));
    p->ctx = ctx;
    p->q = bsn_workqueue_new(ctx->loop, "disruption", reconcile, p);
    p->pdbs = bsn_ctrl_informer(ctx, "/apis/policy/v1/poddisruptionbudgets");
    p->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    struct bsn_informer_handler hb = {pdb_changed, pdb_updated, NULL, p};
    bsn_informer_add_handler(p->pdbs, &hb);
    struct bsn_informer_handler hp = {pod_changed, pod_updated, pod_changed, p};
    bsn_informer_add_handler(p->pods, &hp);
    return p;
}

void
bsn_pdb_ctrl_free(void *self)
{
    struct pdbctrl *p = self;
    if (!p)
        return;
    bsn_workqueue_free(p->q);
    free(p);
}
