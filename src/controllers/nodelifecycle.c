/*
 * nodelifecycle.c - the node lifecycle controller.
 *
 * Every 5 s: a node whose Lease (kube-node-lease/<node>; the Ready condition's heartbeat when
 * there is no lease) was not renewed for 40 s gets its conditions set to Unknown
 * (NodeStatusUnknown, "Kubelet stopped posting node status.") and the
 * node.kubernetes.io/unreachable NoSchedule + NoExecute taints; a node reporting Ready=False
 * gets the not-ready taints; both are removed when the node is Ready again. Pods on a node
 * with NoExecute taints are deleted (evicted) when they do not tolerate a taint, or once the
 * toleration's tolerationSeconds (300 s by default, added by the API's defaulting) have
 * passed since the taint was added.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "controllers/ctrl_int.h"

#define SWEEP_MS        5000
#define GRACE_S         40
#define UNREACHABLE_KEY "node.kubernetes.io/unreachable"
#define NOTREADY_KEY    "node.kubernetes.io/not-ready"

struct nlctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *nodes, *leases, *pods;
    struct bsn_timer timer;
    struct bsn_map evicted; /* pod uid -> (void*)1: delete already sent */
};

static json_t *
ready_cond(const json_t *node)
{
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(node, "status")
                           ? json_object_get(bsn_json_path(node, "status"), "conditions")
                           : NULL,
                       i, c)
    {
        if (!strcmp(bsn_json_str(c, "type") ?: "", "Ready"))
            return c;
    }
    return NULL;
}

static bool
has_taint(const json_t *taints, const char *key, const char *effect)
{
    size_t i;
    json_t *t;
    json_array_foreach(taints, i, t)
    {
        if (!strcmp(bsn_json_str(t, "key") ?: "", key) &&
            !strcmp(bsn_json_str(t, "effect") ?: "", effect))
            return true;
    }
    return false;
}

/* Writes spec.taints so that exactly the lifecycle taints for `want` are present. */
static void
sync_taints(struct nlctrl *n, const json_t *node, const char *want)
{
    json_t *taints = json_object_get(bsn_json_path(node, "spec"), "taints");
    bool ok = true;
    static const char *const keys[] = {UNREACHABLE_KEY, NOTREADY_KEY};
    static const char *const effects[] = {"NoSchedule", "NoExecute"};
    for (int k = 0; k < 2; k++)
        for (int e = 0; e < 2; e++) {
            bool should = want && !strcmp(keys[k], want);
            if (has_taint(taints, keys[k], effects[e]) != should)
                ok = false;
        }
    if (ok)
        return;
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(taints, i, t)
    {
        const char *k = bsn_json_str(t, "key") ?: "";
        if (strcmp(k, UNREACHABLE_KEY) && strcmp(k, NOTREADY_KEY))
            json_array_append(out, t);
    }
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    if (want) {
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:s}", "key", want, "effect", "NoSchedule", "timeAdded", now));
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:s}", "key", want, "effect", "NoExecute", "timeAdded", now));
    }
    json_t *patch = json_pack("{s:{s:o}}", "spec", "taints", out);
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", bsn_json_str(node, "metadata.name"));
    bsn_ctrl_send(n->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL, NULL,
                  NULL);
    json_decref(patch);
}

static void
mark_unknown(struct nlctrl *n, const json_t *node)
{
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    json_t *conds = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(node, "status")
                           ? json_object_get(bsn_json_path(node, "status"), "conditions")
                           : NULL,
                       i, c)
    {
        json_t *nc = json_deep_copy(c);
        json_object_set_new(nc, "status", json_string("Unknown"));
        json_object_set_new(nc, "reason", json_string("NodeStatusUnknown"));
        json_object_set_new(nc, "message", json_string("Kubelet stopped posting node status."));
        json_object_set_new(nc, "lastTransitionTime", json_string(now));
        json_array_append_new(conds, nc);
    }
    json_t *patch = json_pack("{s:{s:o}}", "status", "conditions", conds);
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", bsn_json_str(node, "metadata.name"));
    bsn_ctrl_send(n->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL, NULL,
                  NULL);
    json_decref(patch);
    bsn_ctrl_event(n->ctx, node, "Normal", "NodeNotReady", "Node %s status is now: NodeNotReady",
                   bsn_json_str(node, "metadata.name"));
}

/* Seconds until pod must go for the node's NoExecute taints: <=0 now, INT64_MAX never. */
static int64_t
eviction_in(const json_t *pod, const json_t *taints, time_t now)
{
    int64_t best = INT64_MAX;
    json_t *tols = json_object_get(bsn_json_path(pod, "spec"), "tolerations");
    size_t i;
    json_t *t;
    json_array_foreach(taints, i, t)
    {
        if (strcmp(bsn_json_str(t, "effect") ?: "", "NoExecute"))
            continue;
        const char *tk = bsn_json_str(t, "key") ?: "", *tv = bsn_json_str(t, "value") ?: "";
        json_t *match = NULL;
        size_t j;
        json_t *tol;
        json_array_foreach(tols, j, tol)
        {
            const char *k = bsn_json_str(tol, "key") ?: "";
            const char *op = bsn_json_str(tol, "operator") ?: "Equal";
            const char *e = bsn_json_str(tol, "effect") ?: "";
            if (*e && strcmp(e, "NoExecute"))
                continue;
            bool m = !strcmp(op, "Exists")
                         ? (!*k || !strcmp(k, tk))
                         : (!strcmp(k, tk) && !strcmp(bsn_json_str(tol, "value") ?: "", tv));
            if (m) {
                match = tol;
                break;
            }
        }
        if (!match)
            return 0;
        json_t *ts = json_object_get(match, "tolerationSeconds");
        if (!json_is_integer(ts))
            continue;
        time_t added = now;
        const char *ta = bsn_json_str(t, "timeAdded");
        if (ta)
            bsn_time_parse(ta, &added);
        int64_t left = added + json_integer_value(ts) - now;
        if (left < best)
            best = left;
    }
    return best;
}

static void
sweep(struct bsn_loop *loop, void *data)
{
    struct nlctrl *n = data;
    time_t now = bsn_time_now();
    struct bsn_map noexec; /* node name -> taints (borrowed) */
    bsn_map_init(&noexec);
    void *v;
    size_t it = 0;
    while (bsn_informer_synced(n->nodes) && bsn_informer_synced(n->leases) &&
           bsn_map_next(bsn_informer_ns(n->nodes, NULL), &it, NULL, &v)) {
        json_t *node = v;
        const char *name = bsn_json_str(node, "metadata.name") ?: "";
        char lkey[400];
        snprintf(lkey, sizeof(lkey), "kube-node-lease/%s", name);
        json_t *lease = bsn_informer_get(n->leases, lkey);
        json_t *rc = ready_cond(node);
        const char *beat = lease ? bsn_json_str(lease, "spec.renewTime") : NULL;
        if (!beat && rc)
            beat = bsn_json_str(rc, "lastHeartbeatTime");
        time_t last = 0;
        if (beat)
            bsn_time_parse(beat, &last);
        const char *rs = rc ? bsn_json_str(rc, "status") : NULL;
        const char *want = NULL;
        if (last && now - last > GRACE_S) {
            if (!rs || strcmp(rs, "Unknown"))
                mark_unknown(n, node);
            want = UNREACHABLE_KEY;
        } else if (rs && !strcmp(rs, "Unknown")) {
            want = UNREACHABLE_KEY; /* until the kubelet posts its status again */
        } else if (rs && !strcmp(rs, "False")) {
            want = NOTREADY_KEY;
        }
        sync_taints(n, node, want);
        json_t *taints = json_object_get(bsn_json_path(node, "spec"), "taints");
        size_t i;
        json_t *t;
        json_array_foreach(taints, i, t)
        {
            if (!strcmp(bsn_json_str(t, "effect") ?: "", "NoExecute")) {
                bsn_map_put(&noexec, name, taints);
                break;
            }
        }
    }
    if (noexec.len > 0) {
        it = 0;
        while (bsn_map_next(bsn_informer_ns(n->pods, NULL), &it, NULL, &v)) {
            json_t *pod = v;
            const char *node = bsn_json_str(pod, "spec.nodeName");
            json_t *taints = node ? bsn_map_get(&noexec, node) : NULL;
            if (!taints || !bsn_pod_active(pod))
                continue;
            const char *uid = bsn_json_str(pod, "metadata.uid") ?: "";
            if (bsn_map_get(&n->evicted, uid) || eviction_in(pod, taints, now) > 0)
                continue;
            bsn_map_put(&n->evicted, uid, (void *)1);
            char path[600];
            bsn_ctrl_obj_path("/api/v1", "pods", bsn_json_str(pod, "metadata.namespace"),
                              bsn_json_str(pod, "metadata.name"), path, sizeof(path));
            bsn_ctrl_send(n->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
            bsn_ctrl_event(
                n->ctx, pod, "Normal", "TaintManagerEviction", "Marking for deletion Pod %s/%s",
                bsn_json_str(pod, "metadata.namespace"), bsn_json_str(pod, "metadata.name"));
        }
    }
    if (n->evicted.len > 10000) {
        bsn_map_fini(&n->evicted);
        bsn_map_init(&n->evicted);
    }
    bsn_map_fini(&noexec);
    bsn_timer_start(loop, &n->timer, SWEEP_MS, sweep, n);
}

void *
bsn_nodelifecycle_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct nlctrl *n = bsn_calloc(1, sizeof(*n));
    n->ctx = ctx;
    bsn_map_init(&n->evicted);
    n->nodes = bsn_ctrl_informer(ctx, "/api/v1/nodes");
    n->leases = bsn_ctrl_informer(ctx, "/apis/coordination.k8s.io/v1/leases");
    n->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    bsn_timer_init(&n->timer);
    bsn_timer_start(ctx->loop, &n->timer, SWEEP_MS, sweep, n);
    return n;
}

void
bsn_nodelifecycle_ctrl_free(void *self)
{
    struct nlctrl *n = self;
    if (!n)
        return;
    bsn_timer_stop(n->ctx->loop, &n->timer);
    bsn_map_fini(&n->evicted);
    free(n);
}
