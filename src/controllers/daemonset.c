/*
 * daemonset.c - the DaemonSet controller.
 *
 * One pod per eligible node: the node matches the template's nodeSelector and required node
 * affinity, and the pod tolerates the node's NoSchedule/NoExecute taints, counting the
 * tolerations upstream adds to every daemon pod (not-ready and unreachable NoExecute;
 * disk-pressure, memory-pressure, pid-pressure and unschedulable NoSchedule;
 * network-unavailable for hostNetwork pods). Like upstream, the pod is pinned with node
 * affinity on metadata.name and bound by the default scheduler. Revisions are
 * ControllerRevisions "<ds>-<hash>" (pod label controller-revision-hash); RollingUpdate
 * replaces old pods at most maxUnavailable at a time; OnDelete waits for the user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/util.h"
#include "controllers/ctrl_int.h"
#include "controllers/logic.h"

#define REV_LABEL "controller-revision-hash"

struct dsctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *sets, *pods, *nodes, *revs;
    struct bsn_workqueue *q;
    struct bsn_queue_handler self_h, owned_h;
};

static void
node_changed(json_t *node, void *data)
{
    struct dsctrl *d = data;
    const char *k;
    size_t it = 0;
    while (bsn_map_next(bsn_informer_ns(d->sets, NULL), &it, &k, NULL))
        bsn_workqueue_add_coalesced(d->q, k);
}

static void
node_updated(json_t *old, json_t *node, void *data)
{
    if (!bsn_json_equal(bsn_json_path(old, "metadata.labels"),
                        bsn_json_path(node, "metadata.labels")) ||
        !bsn_json_equal(bsn_json_path(old, "spec"), bsn_json_path(node, "spec")))
        node_changed(node, data);
}

static bool
tolerates(const json_t *tols, const json_t *taint)
{
    const char *tk = bsn_json_str(taint, "key") ?: "", *tv = bsn_json_str(taint, "value") ?: "";
    const char *te = bsn_json_str(taint, "effect") ?: "";
    size_t i;
    json_t *t;
    json_array_foreach(tols, i, t)
    {
        const char *k = bsn_json_str(t, "key") ?: "";
        const char *op = bsn_json_str(t, "operator") ?: "Equal";
        const char *e = bsn_json_str(t, "effect") ?: "";
        if (*e && strcmp(e, te))
            continue;
        if (!strcmp(op, "Exists") ? (!*k || !strcmp(k, tk))
                                  : (!strcmp(k, tk) && !strcmp(bsn_json_str(t, "value") ?: "", tv)))
            return true;
    }
    return false;
}

static bool
expr_match(const json_t *r, const json_t *labels, const char *name, bool field)
{
    const char *key = bsn_json_str(r, "key") ?: "";
    const char *op = bsn_json_str(r, "operator") ?: "";
    const char *have = field ? (!strcmp(key, "metadata.name") ? name : NULL)
                             : json_string_value(json_object_get(labels, key));
    if (!strcmp(op, "Exists"))
        return have;
    if (!strcmp(op, "DoesNotExist"))
        return !have;
    bool in = false;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "values"), i, v)
    {
        if (have && !strcmp(have, json_string_value(v) ?: ""))
            in = true;
    }
    if (!strcmp(op, "In"))
        return in;
    if (!strcmp(op, "NotIn"))
        return !in;
    if ((!strcmp(op, "Gt") || !strcmp(op, "Lt")) && have) {
        long long a = strtoll(have, NULL, 10);
        long long b = strtoll(
            json_string_value(json_array_get(json_object_get(r, "values"), 0)) ?: "0", NULL, 10);
        return !strcmp(op, "Gt") ? a > b : a < b;
    }
    return false;
}

/* The tolerations of a daemon pod: the template's plus upstream's defaults. */
static json_t *
daemon_tolerations(const json_t *spec)
{
    json_t *tols = json_deep_copy(json_object_get(spec, "tolerations"));
    if (!json_is_array(tols)) {
        json_decref(tols);
        tols = json_array();
    }
    static const char *const noexec[] = {"node.kubernetes.io/not-ready",
                                         "node.kubernetes.io/unreachable"};
    static const char *const nosched[] = {
        "node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable"};
    for (size_t i = 0; i < 2; i++)
        json_array_append_new(tols, json_pack("{s:s,s:s,s:s}", "key", noexec[i], "operator",
                                              "Exists", "effect", "NoExecute"));
    for (size_t i = 0; i < 4; i++)
        json_array_append_new(tols, json_pack("{s:s,s:s,s:s}", "key", nosched[i], "operator",
                                              "Exists", "effect", "NoSchedule"));
    if (json_is_true(json_object_get(spec, "hostNetwork")))
        json_array_append_new(tols, json_pack("{s:s,s:s,s:s}", "key",
                                              "node.kubernetes.io/network-unavailable", "operator",
                                              "Exists", "effect", "NoSchedule"));
    return tols;
}

static bool
node_eligible(const json_t *spec, const json_t *tols, const json_t *node)
{
    const char *name = bsn_json_str(node, "metadata.name") ?: "";
    json_t *labels = bsn_json_path(node, "metadata.labels");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(spec, "nodeSelector"), k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!have || strcmp(have, json_string_value(v) ?: ""))
            return false;
    }
    json_t *terms = json_object_get(
        bsn_json_path(json_object_get(spec, "affinity"),
                      "nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"),
        "nodeSelectorTerms");
    if (json_is_array(terms) && json_array_size(terms) > 0) {
        bool any = false;
        size_t i;
        json_t *t;
        json_array_foreach(terms, i, t)
        {
            bool all = json_array_size(json_object_get(t, "matchExpressions")) +
                           json_array_size(json_object_get(t, "matchFields")) >
                       0;
            size_t j;
            json_t *r;
            json_array_foreach(json_object_get(t, "matchExpressions"), j, r)
            {
                if (!expr_match(r, labels, name, false))
                    all = false;
            }
            json_array_foreach(json_object_get(t, "matchFields"), j, r)
            {
                if (!expr_match(r, labels, name, true))
                    all = false;
            }
            if (all)
                any = true;
        }
        if (!any)
            return false;
    }
    size_t i;
    json_t *taint;
    json_array_foreach(json_object_get(bsn_json_path(node, "spec"), "taints"), i, taint)
    {
        const char *eff = bsn_json_str(taint, "effect") ?: "";
        if ((!strcmp(eff, "NoSchedule") || !strcmp(eff, "NoExecute")) && !tolerates(tols, taint))
            return false;
    }
    return true;
}

static json_t *
owner_refs(const json_t *ds)
{
    return json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", "apps/v1", "kind", "DaemonSet",
                     "name", bsn_json_str(ds, "metadata.name") ?: "", "uid",
                     bsn_json_str(ds, "metadata.uid") ?: "", "controller", 1, "blockOwnerDeletion",
                     1);
}

static bool
ensure_revision(struct dsctrl *d, const json_t *ds, char *out, size_t n)
{
    const char *ns = bsn_json_str(ds, "metadata.namespace");
    char hash[32];
    bsn_pod_template_hash(bsn_json_path(ds, "spec.template"),
                          bsn_json_int(ds, "status.collisionCount", 0), hash, sizeof(hash));
    snprintf(out, n, "%s-%s", bsn_json_str(ds, "metadata.name"), hash);
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", ns, out);
    if (bsn_informer_get(d->revs, key))
        return true;
    int64_t maxrev = 0;
    const char *uid = bsn_json_str(ds, "metadata.uid") ?: "";
    const struct bsn_map *m = bsn_informer_ns(d->revs, ns);
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *ref = bsn_ctrl_owner(v);
        if (ref && !strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid))
            maxrev = BSN_MAX(maxrev, bsn_json_int(v, "revision", 0));
    }
    json_t *tmpl = json_deep_copy(bsn_json_path(ds, "spec.template"));
    if (!tmpl)
        tmpl = json_object();
    json_object_set_new(tmpl, "$patch", json_string("replace"));
    json_t *labels = json_deep_copy(bsn_json_path(ds, "spec.selector.matchLabels"));
    if (!labels)
        labels = json_object();
    json_object_set_new(labels, REV_LABEL, json_string(hash));
    json_t *cr = json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:o},s:{s:{s:o}},s:I}", "apiVersion", "apps/v1",
                           "kind", "ControllerRevision", "metadata", "name", out, "namespace", ns,
                           "labels", labels, "ownerReferences", owner_refs(ds), "data", "spec",
                           "template", tmpl, "revision", (json_int_t)(maxrev + 1));
    char path[600];
    bsn_ctrl_obj_path("/apis/apps/v1", "controllerrevisions", ns, NULL, path, sizeof(path));
    bsn_ctrl_send(d->ctx, "POST", path, NULL, cr, NULL, NULL, NULL, NULL);
    json_decref(cr);
    return false;
}

static void
create_pod(struct dsctrl *d, const char *key, const json_t *ds, const char *node, const char *rev,
           const json_t *tols)
{
    const char *ns = bsn_json_str(ds, "metadata.namespace");
    json_t *tmpl = bsn_json_path(ds, "spec.template");
    json_t *meta = json_deep_copy(json_object_get(tmpl, "metadata"));
    if (!meta)
        meta = json_object();
    json_object_del(meta, "creationTimestamp");
    char gen[300];
    snprintf(gen, sizeof(gen), "%.240s-", bsn_json_str(ds, "metadata.name"));
    json_object_set_new(meta, "generateName", json_string(gen));
    json_object_set_new(meta, "namespace", json_string(ns));
    json_object_set_new(bsn_json_path_mkobj(meta, "labels"), REV_LABEL,
                        json_string(strrchr(rev, '-') ? strrchr(rev, '-') + 1 : rev));
    json_object_set_new(meta, "ownerReferences", owner_refs(ds));
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    if (!spec)
        spec = json_object();
    json_object_set(spec, "tolerations", (json_t *)tols);
    /* pin to the node the way upstream does: required affinity on metadata.name */
    json_t *aff = bsn_json_path_mkobj(spec, "affinity");
    json_t *na = bsn_json_path_mkobj(aff, "nodeAffinity");
    json_object_set_new(na, "requiredDuringSchedulingIgnoredDuringExecution",
                        json_pack("{s:[{s:[{s:s,s:s,s:[s]}]}]}", "nodeSelectorTerms", "matchFields",
                                  "key", "metadata.name", "operator", "In", "values", node));
    json_t *pod = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata",
                            meta, "spec", spec);
    char path[600];
    bsn_ctrl_obj_path("/api/v1", "pods", ns, NULL, path, sizeof(path));
    bsn_ctrl_send(d->ctx, "POST", path, NULL, pod, d->q, key, NULL, NULL);
    json_decref(pod);
}

static void
delete_pod(struct dsctrl *d, const json_t *pod)
{
    char path[600];
    bsn_ctrl_obj_path("/api/v1", "pods", bsn_json_str(pod, "metadata.namespace"),
                      bsn_json_str(pod, "metadata.name"), path, sizeof(path));
    bsn_ctrl_send(d->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
}

/* The node a daemon pod is for: spec.nodeName, or the pinned metadata.name affinity. */
static const char *
pod_node(const json_t *pod)
{
    const char *n = bsn_json_str(pod, "spec.nodeName");
    if (n && *n)
        return n;
    json_t *terms = json_object_get(
        bsn_json_path(pod,
                      "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"),
        "nodeSelectorTerms");
    json_t *mf = json_object_get(json_array_get(terms, 0), "matchFields");
    return json_string_value(json_array_get(json_object_get(json_array_get(mf, 0), "values"), 0));
}

struct slot {
    json_t **pods;
    size_t n;
};

static int
reconcile(const char *key, void *data)
{
    struct dsctrl *d = data;
    json_t *ds = bsn_informer_get(d->sets, key);
    if (!ds || bsn_ctrl_deleting(ds))
        return 0;
    if (!bsn_informer_synced(d->pods) || !bsn_informer_synced(d->nodes) ||
        !bsn_informer_synced(d->revs))
        return 100;
    char rev[300];
    if (!ensure_revision(d, ds, rev, sizeof(rev)))
        return 200;
    const char *hash = strrchr(rev, '-') ? strrchr(rev, '-') + 1 : rev;
    json_t *spec = bsn_json_path(ds, "spec.template.spec");
    json_t *tols = daemon_tolerations(spec);
    const char *uid = bsn_json_str(ds, "metadata.uid") ?: "";
    /* pods by node */
    struct bsn_map by_node;
    bsn_map_init(&by_node);
    const struct bsn_map *m = bsn_informer_ns(d->pods, bsn_json_str(ds, "metadata.namespace"));
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *pod = v;
        json_t *ref = bsn_ctrl_owner(pod);
        if (!ref || strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid) ||
            bsn_ctrl_deleting(pod))
            continue;
        const char *node = pod_node(pod);
        if (!node)
            continue;
        const char *phase = bsn_json_str(pod, "status.phase") ?: "";
        if (!strcmp(phase, "Failed")) {
            delete_pod(d, pod);
            continue;
        }
        struct slot *s = bsn_map_get(&by_node, node);
        if (!s) {
            s = bsn_calloc(1, sizeof(*s));
            bsn_map_put(&by_node, node, s);
        }
        s->pods = bsn_realloc(s->pods, (s->n + 1) * sizeof(*s->pods));
        s->pods[s->n++] = pod;
    }
    int64_t desired = 0, scheduled = 0, misscheduled = 0, ready = 0, updated = 0, available = 0;
    int64_t min_ready = bsn_json_int(ds, "spec.minReadySeconds", 0);
    time_t now = bsn_time_now();
    json_t **old_pods = NULL;
    size_t nold = 0;
    int64_t unavailable_now = 0;
    it = 0;
    while (bsn_map_next(bsn_informer_ns(d->nodes, NULL), &it, NULL, &v)) {
        json_t *node = v;
        const char *name = bsn_json_str(node, "metadata.name") ?: "";
        bool want = node_eligible(spec, tols, node);
        struct slot *s = bsn_map_get(&by_node, name);
        if (want)
            desired++;
        if (!s) {
            if (want) {
                create_pod(d, key, ds, name, rev, tols);
                unavailable_now++;
            }
            continue;
        }
        if (!want) {
            misscheduled++;
            for (size_t i = 0; i < s->n; i++)
                delete_pod(d, s->pods[i]);
            continue;
        }
        scheduled++;
        for (size_t i = 1; i < s->n; i++)
            delete_pod(d, s->pods[i]); /* one per node */
        json_t *pod = s->pods[0];
        const char *ph =
            json_string_value(json_object_get(bsn_json_path(pod, "metadata.labels"), REV_LABEL));
        bool is_new = ph && !strcmp(ph, hash);
        if (is_new)
            updated++;
        if (bsn_pod_ready(pod)) {
            ready++;
            if (bsn_pod_available(pod, min_ready, now))
                available++;
            else
                unavailable_now++;
        } else {
            unavailable_now++;
        }
        if (!is_new) {
            old_pods = bsn_realloc(old_pods, (nold + 1) * sizeof(*old_pods));
            old_pods[nold++] = pod;
        }
    }
    /* rolling update: replace old pods, keeping at most maxUnavailable down */
    if (nold > 0 && strcmp(bsn_json_str(ds, "spec.updateStrategy.type") ?: "", "OnDelete")) {
        int64_t maxun = 1;
        struct bsn_err err;
        json_t *mu = bsn_json_path(ds, "spec.updateStrategy.rollingUpdate")
                         ? json_object_get(bsn_json_path(ds, "spec.updateStrategy.rollingUpdate"),
                                           "maxUnavailable")
                         : NULL;
        if (mu && bsn_intstr_scaled(mu, desired, true, &maxun, &err) < 0)
            maxun = 1;
        if (maxun < 1)
            maxun = 1;
        /* not-ready old pods go first: they cost no availability */
        for (size_t i = 0; i < nold; i++)
            if (!bsn_pod_ready(old_pods[i])) {
                delete_pod(d, old_pods[i]);
                old_pods[i] = NULL;
            }
        for (size_t i = 0; i < nold && unavailable_now < maxun; i++) {
            if (!old_pods[i])
                continue;
            delete_pod(d, old_pods[i]);
            unavailable_now++;
        }
    }
    free(old_pods);
    it = 0;
    while (bsn_map_next(&by_node, &it, NULL, &v)) {
        free(((struct slot *)v)->pods);
        free(v);
    }
    bsn_map_fini(&by_node);
    json_decref(tols);
    int64_t gen = bsn_json_int(ds, "metadata.generation", 0);
    json_t *st = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "currentNumberScheduled",
                           (json_int_t)scheduled, "numberMisscheduled", (json_int_t)misscheduled,
                           "desiredNumberScheduled", (json_int_t)desired, "numberReady",
                           (json_int_t)ready, "observedGeneration", (json_int_t)gen,
                           "updatedNumberScheduled", (json_int_t)updated, "numberAvailable",
                           (json_int_t)available, "numberUnavailable",
                           (json_int_t)(desired - available > 0 ? desired - available : 0));
    bsn_ctrl_status_patch(d->ctx, ds, "/apis/apps/v1", "daemonsets", st, d->q, key);
    return min_ready > 0 && ready > available ? 1000 : 0;
}

void *
bsn_ds_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct dsctrl *d = bsn_calloc(1, sizeof(*d));
    d->ctx = ctx;
    d->q = bsn_workqueue_new(ctx->loop, "daemonset", reconcile, d);
    d->sets = bsn_ctrl_informer(ctx, "/apis/apps/v1/daemonsets");
    d->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    d->nodes = bsn_ctrl_informer(ctx, "/api/v1/nodes");
    d->revs = bsn_ctrl_informer(ctx, "/apis/apps/v1/controllerrevisions");
    d->self_h = (struct bsn_queue_handler){d->q, NULL};
    d->owned_h = (struct bsn_queue_handler){d->q, "DaemonSet"};
    bsn_ctrl_queue_self(d->sets, &d->self_h);
    bsn_ctrl_queue_owned(d->pods, &d->owned_h);
    bsn_ctrl_queue_owned(d->revs, &d->owned_h);
    struct bsn_informer_handler hn = {node_changed, node_updated, node_changed, d};
    bsn_informer_add_handler(d->nodes, &hn);
    return d;
}

void
bsn_ds_ctrl_free(void *self)
{
    struct dsctrl *d = self;
    if (!d)
        return;
    bsn_workqueue_free(d->q);
    free(d);
}
