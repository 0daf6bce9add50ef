/*
 * deployment.c - the Deployment controller.
 *
 * Revisions are ReplicaSets named "<deployment>-<pod-template-hash>" carrying the
 * pod-template-hash label and the deployment.kubernetes.io/revision annotation. The new
 * ReplicaSet is the one whose template equals the Deployment's (ignoring the hash label), so
 * `kubectl rollout undo` (which copies an old template back) revives that ReplicaSet with the
 * next revision. RollingUpdate scales the new ReplicaSet up within maxSurge and old ones down
 * within maxUnavailable; Recreate scales old ones to zero and waits for their pods to go first.
 * Status and the Available / Progressing conditions follow upstream, which is what
 * `kubectl rollout status` reads.
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

#define REV_ANN     "deployment.kubernetes.io/revision"
#define REV_HIST    "deployment.kubernetes.io/revision-history"
#define DESIRED_ANN "deployment.kubernetes.io/desired-replicas"
#define MAX_ANN     "deployment.kubernetes.io/max-replicas"
#define HASH_LABEL  "pod-template-hash"

struct dctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *deps, *sets;
    struct bsn_workqueue *q;
    struct bsn_queue_handler self_h, owned_h;
};

static int64_t
revision_of(const json_t *rs)
{
    const char *r =
        json_string_value(json_object_get(bsn_json_path(rs, "metadata.annotations"), REV_ANN));
    return r ? strtoll(r, NULL, 10) : 0;
}

/* Template equality ignoring the pod-template-hash label (upstream EqualIgnoreHash). */
static bool
template_equal(const json_t *rs_tmpl, const json_t *d_tmpl)
{
    json_t *a = json_deep_copy(rs_tmpl), *b = json_deep_copy(d_tmpl);
    json_t *la = bsn_json_path(a, "metadata.labels"), *lb = bsn_json_path(b, "metadata.labels");
    json_t *ma0 = json_object_get(a, "metadata"), *mb0 = json_object_get(b, "metadata");
    if (ma0)
        json_object_del(ma0, "creationTimestamp");
    if (mb0)
        json_object_del(mb0, "creationTimestamp");
    if (la)
        json_object_del(la, HASH_LABEL);
    if (lb)
        json_object_del(lb, HASH_LABEL);
    if (la && json_object_size(la) == 0)
        json_object_del(json_object_get(a, "metadata"), "labels");
    if (lb && json_object_size(lb) == 0)
        json_object_del(json_object_get(b, "metadata"), "labels");
    json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    if (ma && json_object_size(ma) == 0)
        json_object_del(a, "metadata");
    if (mb && json_object_size(mb) == 0)
        json_object_del(b, "metadata");
    bool eq = bsn_json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return eq;
}

static int
cmp_rs_age(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    const char *ca = bsn_json_str(a, "metadata.creationTimestamp") ?: "";
    const char *cb = bsn_json_str(b, "metadata.creationTimestamp") ?: "";
    int c = strcmp(ca, cb);
    if (c)
        return c;
    return strcmp(bsn_json_str(a, "metadata.name") ?: "", bsn_json_str(b, "metadata.name") ?: "");
}

static int64_t
rs_spec(const json_t *rs)
{
    return bsn_json_int(rs, "spec.replicas", 1);
}

static void
rs_path(const json_t *rs, char *out, size_t n)
{
    bsn_ctrl_obj_path("/apis/apps/v1", "replicasets", bsn_json_str(rs, "metadata.namespace"),
                      bsn_json_str(rs, "metadata.name"), out, n);
}

/* Scales a ReplicaSet (and stamps the desired/max replica annotations), with an event. */
static void
scale_rs(struct dctrl *d, const char *key, const json_t *dep, const json_t *rs, int64_t to,
         int64_t max_total)
{
    int64_t from = rs_spec(rs);
    char desired[32], maxr[32];
    snprintf(desired, sizeof(desired), "%lld", (long long)bsn_json_int(dep, "spec.replicas", 1));
    snprintf(maxr, sizeof(maxr), "%lld", (long long)max_total);
    json_t *patch =
        json_pack("{s:{s:s,s:{s:s,s:s}},s:{s:I}}", "metadata", "resourceVersion",
                  bsn_json_str(rs, "metadata.resourceVersion") ?: "", "annotations", DESIRED_ANN,
                  desired, MAX_ANN, maxr, "spec", "replicas", (json_int_t)to);
    char path[600];
    rs_path(rs, path, sizeof(path));
    bsn_ctrl_send(d->ctx, "PATCH", path, "application/merge-patch+json", patch, d->q, key, NULL,
                  NULL);
    json_decref(patch);
    if (from != to)
        bsn_ctrl_event(d->ctx, dep, "Normal", "ScalingReplicaSet",
                       "Scaled %s replica set %s from %lld to %lld", to > from ? "up" : "down",
                       bsn_json_str(rs, "metadata.name"), (long long)from, (long long)to);
}

static json_t *
new_rs_object(const json_t *dep, const char *hash, int64_t revision, int64_t replicas,
              int64_t max_total)
{
    const char *name = bsn_json_str(dep, "metadata.name");
    const char *ns = bsn_json_str(dep, "metadata.namespace");
    json_t *tmpl = json_deep_copy(bsn_json_path(dep, "spec.template"));
    json_t *tlabels = bsn_json_path_mkobj(tmpl, "metadata.labels");
    json_object_set_new(tlabels, HASH_LABEL, json_string(hash));
    json_t *sel = json_deep_copy(bsn_json_path(dep, "spec.selector"));
    if (!sel)
        sel = json_object();
    json_t *ml = bsn_json_path_mkobj(sel, "matchLabels");
    json_object_set_new(ml, HASH_LABEL, json_string(hash));
    json_t *ann = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(bsn_json_path(dep, "metadata.annotations"), k, v)
    {
        if (strcmp(k, "kubectl.kubernetes.io/last-applied-configuration") && strcmp(k, REV_ANN) &&
            strcmp(k, REV_HIST) && strcmp(k, DESIRED_ANN) && strcmp(k, MAX_ANN))
            json_object_set(ann, k, v);
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)revision);
    json_object_set_new(ann, REV_ANN, json_string(buf));
    snprintf(buf, sizeof(buf), "%lld", (long long)bsn_json_int(dep, "spec.replicas", 1));
    json_object_set_new(ann, DESIRED_ANN, json_string(buf));
    snprintf(buf, sizeof(buf), "%lld", (long long)max_total);
    json_object_set_new(ann, MAX_ANN, json_string(buf));
    char rsname[300];
    snprintf(rsname, sizeof(rsname), "%.240s-%s", name, hash);
    json_t *labels = json_deep_copy(tlabels);
    json_t *owner = json_pack(
        "[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", "apps/v1", "kind", "Deployment", "name", name,
        "uid", bsn_json_str(dep, "metadata.uid") ?: "", "controller", 1, "blockOwnerDeletion", 1);
    json_t *rs = json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:o,s:o},s:{s:I,s:I,s:o,s:o}}", "apiVersion",
                           "apps/v1", "kind", "ReplicaSet", "metadata", "name", rsname, "namespace",
                           ns, "labels", labels, "annotations", ann, "ownerReferences", owner,
                           "spec", "replicas", (json_int_t)replicas, "minReadySeconds",
                           (json_int_t)bsn_json_int(dep, "spec.minReadySeconds", 0), "selector",
                           sel, "template", tmpl);
    return rs;
}

static json_t *
find_cond(const json_t *dep, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(dep, "status")
                           ? json_object_get(bsn_json_path(dep, "status"), "conditions")
                           : NULL,
                       i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", type))
            return c;
    }
    return NULL;
}

/* A condition, keeping lastTransitionTime when the status did not change (and lastUpdateTime
 * when nothing changed at all). */
static json_t *
make_cond(const json_t *dep, const char *type, const char *status, const char *reason,
          const char *msg, const char *now)
{
    json_t *old = find_cond(dep, type);
    const char *os = old ? json_string_value(json_object_get(old, "status")) : NULL;
    const char *orr = old ? json_string_value(json_object_get(old, "reason")) : NULL;
    const char *om = old ? json_string_value(json_object_get(old, "message")) : NULL;
    const char *trans = now, *upd = now;
    if (os && !strcmp(os, status))
        trans = json_string_value(json_object_get(old, "lastTransitionTime")) ?: now;
    if (os && !strcmp(os, status) && orr && !strcmp(orr, reason) && om && !strcmp(om, msg))
        upd = json_string_value(json_object_get(old, "lastUpdateTime")) ?: now;
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status, "lastUpdateTime",
                     upd, "lastTransitionTime", trans, "reason", reason, "message", msg);
}

struct view {
    json_t *dep;
    json_t **rss; /* owned ReplicaSets, oldest first */
    size_t n;
    json_t *new_rs;
    int64_t max_old_rev;
};

/* An orphaned ReplicaSet matching the selector becomes ours (controller ownerReference). */
static void
adopt(struct dctrl *d, const json_t *dep, const json_t *rs)
{
    json_t *refs =
        json_deep_copy(json_object_get(bsn_json_path(rs, "metadata"), "ownerReferences"));
    if (!json_is_array(refs)) {
        json_decref(refs);
        refs = json_array();
    }
    json_array_append_new(refs,
                          json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion", "apps/v1", "kind",
                                    "Deployment", "name", bsn_json_str(dep, "metadata.name") ?: "",
                                    "uid", bsn_json_str(dep, "metadata.uid") ?: "", "controller", 1,
                                    "blockOwnerDeletion", 1));
    json_t *patch = json_pack("{s:{s:o,s:s}}", "metadata", "ownerReferences", refs, "uid",
                              bsn_json_str(rs, "metadata.uid") ?: "");
    char path[600];
    rs_path(rs, path, sizeof(path));
    bsn_ctrl_send(d->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL, NULL,
                  NULL);
    json_decref(patch);
}

static void
collect(struct dctrl *d, json_t *dep, struct view *v)
{
    memset(v, 0, sizeof(*v));
    v->dep = dep;
    const char *uid = bsn_json_str(dep, "metadata.uid") ?: "";
    const struct bsn_map *m = bsn_informer_ns(d->sets, bsn_json_str(dep, "metadata.namespace"));
    void *val;
    size_t it = 0;
    struct bsn_selector sel;
    struct bsn_err err;
    bool have_sel = bsn_selector_from_json(bsn_json_path(dep, "spec.selector"), &sel, &err) == 0;
    while (m && bsn_map_next(m, &it, NULL, &val)) {
        json_t *rs = val;
        json_t *ref = bsn_ctrl_owner(rs);
        if (!ref && have_sel && !bsn_ctrl_deleting(rs) && !bsn_selector_is_everything(&sel) &&
            bsn_selector_match(&sel, bsn_json_path(rs, "metadata.labels"))) {
            adopt(d, dep, rs);
            ref = NULL;
        } else if (!ref || strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid) ||
                   bsn_ctrl_deleting(rs)) {
            continue;
        }
        v->rss = bsn_realloc(v->rss, (v->n + 1) * sizeof(*v->rss));
        v->rss[v->n++] = rs;
    }
    if (have_sel)
        bsn_selector_fini(&sel);
    if (v->n > 1)
        qsort(v->rss, v->n, sizeof(*v->rss), cmp_rs_age);
    json_t *tmpl = bsn_json_path(dep, "spec.template");
    for (size_t i = 0; i < v->n; i++) {
        if (!v->new_rs && template_equal(bsn_json_path(v->rss[i], "spec.template"), tmpl))
            v->new_rs = v->rss[i];
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->rss[i] == v->new_rs)
            continue;
        int64_t r = revision_of(v->rss[i]);
        if (r > v->max_old_rev)
            v->max_old_rev = r;
    }
}

static void
update_dep_revision(struct dctrl *d, const char *key, const json_t *dep, int64_t rev)
{
    const char *cur =
        json_string_value(json_object_get(bsn_json_path(dep, "metadata.annotations"), REV_ANN));
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)rev);
    if (cur && !strcmp(cur, buf))
        return;
    json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", REV_ANN, buf);
    char path[600];
    bsn_ctrl_obj_path("/apis/apps/v1", "deployments", bsn_json_str(dep, "metadata.namespace"),
                      bsn_json_str(dep, "metadata.name"), path, sizeof(path));
    bsn_ctrl_send(d->ctx, "PATCH", path, "application/merge-patch+json", patch, d->q, key, NULL,
                  NULL);
    json_decref(patch);
}

/* The new ReplicaSet became current again (rollout undo): give it the next revision. */
static bool
bump_revision(struct dctrl *d, const char *key, struct view *v)
{
    int64_t cur = revision_of(v->new_rs);
    if (cur > v->max_old_rev)
        return false;
    int64_t next = v->max_old_rev + 1;
    json_t *ann = bsn_json_path(v->new_rs, "metadata.annotations");
    const char *hist = json_string_value(json_object_get(ann, REV_HIST));
    char revbuf[32], histbuf[512];
    snprintf(revbuf, sizeof(revbuf), "%lld", (long long)next);
    if (hist && *hist)
        snprintf(histbuf, sizeof(histbuf), "%s,%lld", hist, (long long)cur);
    else
        snprintf(histbuf, sizeof(histbuf), "%lld", (long long)cur);
    json_t *patch = json_pack("{s:{s:s,s:{s:s,s:s}}}", "metadata", "resourceVersion",
                              bsn_json_str(v->new_rs, "metadata.resourceVersion") ?: "",
                              "annotations", REV_ANN, revbuf, REV_HIST, histbuf);
    char path[600];
    rs_path(v->new_rs, path, sizeof(path));
    bsn_ctrl_send(d->ctx, "PATCH", path, "application/merge-patch+json", patch, d->q, key, NULL,
                  NULL);
    json_decref(patch);
    return true;
}

static void
cleanup_history(struct dctrl *d, const char *key, struct view *v)
{
    int64_t limit = bsn_json_int(v->dep, "spec.revisionHistoryLimit", 10);
    size_t old = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->rss[i] != v->new_rs)
            old++;
    if ((int64_t)old <= limit)
        return;
    int64_t excess = (int64_t)old - limit;
    for (size_t i = 0; i < v->n && excess > 0; i++) {
        json_t *rs = v->rss[i];
        if (rs == v->new_rs || rs_spec(rs) != 0 || bsn_json_int(rs, "status.replicas", 0) != 0)
            continue;
        char path[600];
        rs_path(rs, path, sizeof(path));
        bsn_ctrl_send(d->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
        excess--;
    }
}

/* Writes status + conditions when they differ. Returns ms to look again (deadline), or 0. */
static int
sync_status(struct dctrl *d, const char *key, struct view *v, int64_t unavailable_max,
            bool created_new)
{
    json_t *dep = v->dep;
    int64_t want = bsn_json_int(dep, "spec.replicas", 1);
    int64_t replicas = 0, ready = 0, available = 0, updated = 0;
    for (size_t i = 0; i < v->n; i++) {
        replicas += bsn_json_int(v->rss[i], "status.replicas", 0);
        ready += bsn_json_int(v->rss[i], "status.readyReplicas", 0);
        available += bsn_json_int(v->rss[i], "status.availableReplicas", 0);
    }
    if (v->new_rs)
        updated = bsn_json_int(v->new_rs, "status.replicas", 0);
    int64_t unavail = want - available > 0 ? want - available : 0;
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    json_t *conds = json_array();
    bool avail_ok = available >= want - unavailable_max;
    json_array_append_new(
        conds, avail_ok ? make_cond(dep, "Available", "True", "MinimumReplicasAvailable",
                                    "Deployment has minimum availability.", now)
                        : make_cond(dep, "Available", "False", "MinimumReplicasUnavailable",
                                    "Deployment does not have minimum availability.", now));
    const char *rsname = v->new_rs ? bsn_json_str(v->new_rs, "metadata.name") : "";
    char msg[400];
    bool paused = json_is_true(
        bsn_json_path(dep, "spec") ? json_object_get(bsn_json_path(dep, "spec"), "paused") : NULL);
    bool complete = v->new_rs && updated == want && replicas == want && available == want &&
                    rs_spec(v->new_rs) == want;
    int64_t deadline = bsn_json_int(dep, "spec.progressDeadlineSeconds", 600);
    json_t *oldp = find_cond(dep, "Progressing");
    const char *oldreason = oldp ? json_string_value(json_object_get(oldp, "reason")) : NULL;
    int ret = 0;
    json_t *prog;
    if (paused) {
        prog = make_cond(dep, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                         now);
    } else if (complete) {
        snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has successfully progressed.", rsname);
        prog = make_cond(dep, "Progressing", "True", "NewReplicaSetAvailable", msg, now);
    } else if (created_new) {
        snprintf(msg, sizeof(msg), "Created new replica set \"%s\"", rsname);
        prog = make_cond(dep, "Progressing", "True", "NewReplicaSetCreated", msg, now);
    } else {
        /* progress = more updated or available replicas than the last status said */
        bool progressed = !oldp || updated > bsn_json_int(dep, "status.updatedReplicas", 0) ||
                          available > bsn_json_int(dep, "status.availableReplicas", 0) ||
                          (oldreason && (!strcmp(oldreason, "NewReplicaSetAvailable") ||
                                         !strcmp(oldreason, "DeploymentPaused")));
        time_t last = 0;
        const char *lu = oldp ? json_string_value(json_object_get(oldp, "lastUpdateTime")) : NULL;
        if (lu)
            bsn_time_parse(lu, &last);
        if (progressed || !oldp) {
            snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" is progressing.", rsname);
            prog = make_cond(dep, "Progressing", "True", "ReplicaSetUpdated", msg, now);
            /* a fresh update time: the deadline counts from now */
            json_object_set_new(prog, "lastUpdateTime", json_string(now));
            ret = (int)BSN_MIN(deadline * 1000 + 100, 3600 * 1000);
        } else if (oldreason && !strcmp(oldreason, "ProgressDeadlineExceeded")) {
            prog = json_deep_copy(oldp);
        } else if (last && last + deadline <= bsn_time_now()) {
            snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has timed out progressing.", rsname);
            prog = make_cond(dep, "Progressing", "False", "ProgressDeadlineExceeded", msg, now);
        } else {
            prog = json_deep_copy(oldp);
            if (last)
                ret = (int)BSN_MIN((last + deadline - bsn_time_now()) * 1000 + 100, 3600 * 1000);
        }
    }
    json_array_append_new(conds, prog);
    int64_t gen = bsn_json_int(dep, "metadata.generation", 0);
    json_t *st =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "observedGeneration", (json_int_t)gen,
                  "replicas", (json_int_t)replicas, "updatedReplicas", (json_int_t)updated,
                  "readyReplicas", (json_int_t)ready, "availableReplicas", (json_int_t)available,
                  "unavailableReplicas", (json_int_t)unavail, "conditions", conds);
    json_t *cc = bsn_json_path(dep, "status.collisionCount");
    if (cc)
        json_object_set(st, "collisionCount", cc);
    json_t *cur = bsn_json_path(dep, "status");
    if (!cur || !bsn_json_equal(cur, st)) {
        json_t *body = json_pack("{s:o,s:{s:s}}", "status", st, "metadata", "resourceVersion",
                                 bsn_json_str(dep, "metadata.resourceVersion") ?: "");
        char path[600];
        bsn_ctrl_obj_path("/apis/apps/v1", "deployments", bsn_json_str(dep, "metadata.namespace"),
                          bsn_json_str(dep, "metadata.name"), path, sizeof(path));
        strncat(path, "/status", sizeof(path) - strlen(path) - 1);
        bsn_ctrl_send(d->ctx, "PATCH", path, "application/merge-patch+json", body, d->q, key, NULL,
                      NULL);
        json_decref(body);
    } else {
        json_decref(st);
    }
    return ret;
}

static int
reconcile(const char *key, void *data)
{
    struct dctrl *d = data;
    json_t *dep = bsn_informer_get(d->deps, key);
    if (!dep)
        return 0;
    if (!bsn_informer_synced(d->sets))
        return 100;
    if (bsn_ctrl_deleting(dep))
        return 0;
    struct view v;
    collect(d, dep, &v);
    int64_t want = bsn_json_int(dep, "spec.replicas", 1);
    const char *strategy = bsn_json_str(dep, "spec.strategy.type") ?: "RollingUpdate";
    bool recreate = !strcmp(strategy, "Recreate");
    json_t *ru = bsn_json_path(dep, "spec.strategy.rollingUpdate");
    int64_t surge = 0, unavail = 0;
    if (!recreate &&
        bsn_rolling_limits(json_object_get(ru, "maxSurge"), json_object_get(ru, "maxUnavailable"),
                           want, &surge, &unavail) < 0) {
        free(v.rss);
        return 0;
    }
    bool paused = json_is_true(json_object_get(bsn_json_path(dep, "spec"), "paused"));
    bool created = false;
    int64_t total = 0;
    for (size_t i = 0; i < v.n; i++)
        total += rs_spec(v.rss[i]);
    if (paused) {
        /* paused: only keep the current revisions' sizes in line with spec.replicas */
        if (v.new_rs && total != want) {
            int64_t others = total - rs_spec(v.new_rs);
            int64_t to = want - others > 0 ? want - others : 0;
            scale_rs(d, key, dep, v.new_rs, to, want + surge);
        }
        int ret = sync_status(d, key, &v, unavail, false);
        free(v.rss);
        return ret;
    }
    if (v.new_rs && bump_revision(d, key, &v)) {
        free(v.rss);
        return 0; /* the ReplicaSet update brings us back */
    }
    if (!v.new_rs) {
        char hash[32];
        int64_t coll = bsn_json_int(dep, "status.collisionCount", 0);
        bsn_pod_template_hash(bsn_json_path(dep, "spec.template"), coll, hash, sizeof(hash));
        char rsname[300];
        snprintf(rsname, sizeof(rsname), "%.240s/%.240s-%s",
                 bsn_json_str(dep, "metadata.namespace"), bsn_json_str(dep, "metadata.name"), hash);
        if (bsn_informer_get(d->sets, rsname)) {
            /* same name, other template: a hash collision; count it and try again */
            json_t *patch =
                json_pack("{s:{s:I}}", "status", "collisionCount", (json_int_t)coll + 1);
            char path[600];
            bsn_ctrl_obj_path("/apis/apps/v1", "deployments",
                              bsn_json_str(dep, "metadata.namespace"),
                              bsn_json_str(dep, "metadata.name"), path, sizeof(path));
            strncat(path, "/status", sizeof(path) - strlen(path) - 1);
            bsn_ctrl_send(d->ctx, "PATCH", path, "application/merge-patch+json", patch, d->q, key,
                          NULL, NULL);
            json_decref(patch);
            free(v.rss);
            return 0;
        }
        int64_t initial;
        if (recreate)
            initial = total == 0 ? want : 0;
        else
            initial = v.n == 0 ? want : bsn_rolling_new_rs_size(want, surge, total, 0);
        json_t *rs = new_rs_object(dep, hash, v.max_old_rev + 1, initial, want + surge);
        char path[600];
        bsn_ctrl_obj_path("/apis/apps/v1", "replicasets", bsn_json_str(dep, "metadata.namespace"),
                          NULL, path, sizeof(path));
        bsn_ctrl_send(d->ctx, "POST", path, NULL, rs, d->q, key, NULL, NULL);
        json_decref(rs);
        bsn_ctrl_event(d->ctx, dep, "Normal", "ScalingReplicaSet",
                       "Scaled up replica set %s-%s from 0 to %lld",
                       bsn_json_str(dep, "metadata.name"), hash, (long long)initial);
        update_dep_revision(d, key, dep, v.max_old_rev + 1);
        created = true;
        sync_status(d, key, &v, unavail, true);
        free(v.rss);
        return 0;
    }
    update_dep_revision(d, key, dep, revision_of(v.new_rs));
    int64_t new_spec = rs_spec(v.new_rs);
    if (recreate) {
        bool old_running = false;
        for (size_t i = 0; i < v.n; i++) {
            json_t *rs = v.rss[i];
            if (rs == v.new_rs)
                continue;
            if (rs_spec(rs) > 0)
                scale_rs(d, key, dep, rs, 0, want);
            if (rs_spec(rs) > 0 || bsn_json_int(rs, "status.replicas", 0) > 0)
                old_running = true;
        }
        if (!old_running && new_spec != want)
            scale_rs(d, key, dep, v.new_rs, want, want);
    } else {
        /* new ReplicaSet up within maxSurge */
        int64_t target =
            new_spec > want ? want : bsn_rolling_new_rs_size(want, surge, total, new_spec);
        if (target != new_spec) {
            scale_rs(d, key, dep, v.new_rs, target, want + surge);
            total += target - new_spec;
            new_spec = target;
        }
        /* old ReplicaSets down within maxUnavailable */
        int64_t min_avail = want - unavail;
        int64_t new_unavail = new_spec - bsn_json_int(v.new_rs, "status.availableReplicas", 0);
        if (new_unavail < 0)
            new_unavail = 0;
        int64_t max_down = total - min_avail - new_unavail;
        int64_t all_avail = 0;
        for (size_t i = 0; i < v.n; i++)
            all_avail += bsn_json_int(v.rss[i], "status.availableReplicas", 0);
        /* unhealthy old replicas go first; they do not count against availability */
        for (size_t i = 0; i < v.n && max_down > 0; i++) {
            json_t *rs = v.rss[i];
            if (rs == v.new_rs || rs_spec(rs) == 0)
                continue;
            int64_t unhealthy = rs_spec(rs) - bsn_json_int(rs, "status.availableReplicas", 0);
            if (unhealthy <= 0)
                continue;
            int64_t down = BSN_MIN(unhealthy, max_down);
            scale_rs(d, key, dep, rs, rs_spec(rs) - down, want + surge);
            max_down -= down;
            goto status; /* one step per sync; the ReplicaSet update brings us back */
        }
        if (max_down > 0 && all_avail > min_avail) {
            int64_t todo = BSN_MIN(all_avail - min_avail, max_down);
            for (size_t i = 0; i < v.n && todo > 0; i++) {
                json_t *rs = v.rss[i];
                if (rs == v.new_rs || rs_spec(rs) == 0)
                    continue;
                int64_t down = BSN_MIN(rs_spec(rs), todo);
                scale_rs(d, key, dep, rs, rs_spec(rs) - down, want + surge);
                todo -= down;
            }
        }
    }
status:;
    int ret = sync_status(d, key, &v, unavail, created);
    bool complete =
        bsn_json_int(v.new_rs, "status.availableReplicas", 0) == want && new_spec == want;
    if (complete)
        cleanup_history(d, key, &v);
    free(v.rss);
    return ret;
}

void *
bsn_deploy_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct dctrl *d = bsn_calloc(1, sizeof(*d));
    d->ctx = ctx;
    d->q = bsn_workqueue_new(ctx->loop, "deployment", reconcile, d);
    d->deps = bsn_ctrl_informer(ctx, "/apis/apps/v1/deployments");
    d->sets = bsn_ctrl_informer(ctx, "/apis/apps/v1/replicasets");
    d->self_h = (struct bsn_queue_handler){d->q, NULL};
    d->owned_h = (struct bsn_queue_handler){d->q, "Deployment"};
    bsn_ctrl_queue_self(d->deps, &d->self_h);
    bsn_ctrl_queue_owned(d->sets, &d->owned_h);
    return d;
}

void
bsn_deploy_ctrl_free(void *self)
{
    struct dctrl *d = self;
    if (!d)
        return;
    bsn_workqueue_free(d->q);
    free(d);
}
