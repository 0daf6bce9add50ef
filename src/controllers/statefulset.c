/*
 * statefulset.c - the StatefulSet controller.
 *
 * Pods are "<set>-<ordinal>" with hostname = pod name and subdomain = serviceName; each
 * volumeClaimTemplate gives the PVC "<claim>-<set>-<ordinal>" (created before the pod, never
 * deleted: retention policy Retain). OrderedReady creates in ordinal order and waits for each
 * pod to be Running and Ready, scales down from the highest ordinal one at a time; Parallel
 * does all at once. Revisions are ControllerRevisions "<set>-<hash>"; a pod's revision is its
 * controller-revision-hash label. RollingUpdate replaces pods from the highest ordinal down to
 * the partition, one at a time once all are ready; OnDelete only uses the new template for
 * pods the user deletes.
 *
 * A pod somebody else deleted (`kubectl delete pod web-0`) comes back under the same name no
 * sooner than RECREATE_GAP_MS after it left, about when a kubelet would have finished with it:
 * `kubectl delete` waits by listing and watching the name, and a successor that appears
 * before its watch has synced looks like the old pod still being there, so kubectl would wait
 * for a deletion that never comes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "controllers/ctrl_int.h"
#include "controllers/logic.h"

#define REV_LABEL       "controller-revision-hash"
#define MAX_REPLICAS    100000
#define RECREATE_GAP_MS 1000
#define GONE_PRUNE_AT   256 /* entries in gone before old ones are dropped */

struct stsctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *sets, *pods, *pvcs, *revs;
    struct bsn_workqueue *q;
    struct bsn_queue_handler self_h, owned_h;
    struct bsn_map gone; /* "ns/pod" -> uint64_t* when a pod we did not delete left */
    struct bsn_map ours; /* "ns/pod" of deletions we asked for (value unused) */
};

static void
pod_key(const json_t *pod, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", bsn_json_str(pod, "metadata.namespace") ?: "",
             bsn_json_str(pod, "metadata.name") ?: "");
}

static void
gone_prune(struct stsctrl *s, uint64_t now)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (bsn_map_next(&s->gone, &it, &k, &v))
        if (now - *(uint64_t *)v >= RECREATE_GAP_MS)
            free(bsn_map_del(&s->gone, k));
}

/* pods informer: remember when a StatefulSet's pod left without the controller asking */
static void
on_pod_delete(json_t *pod, void *data)
{
    struct stsctrl *s = data;
    json_t *ref = bsn_ctrl_owner(pod);
    if (!ref || strcmp(json_string_value(json_object_get(ref, "kind")) ?: "", "StatefulSet"))
        return;
    char k[600];
    pod_key(pod, k, sizeof(k));
    if (bsn_map_get(&s->ours, k)) {
        bsn_map_del(&s->ours, k);
        return;
    }
    uint64_t now = bsn_mono_ms();
    if (s->gone.len >= GONE_PRUNE_AT)
        gone_prune(s, now);
    uint64_t *t = bsn_map_get(&s->gone, k);
    if (!t) {
        t = bsn_calloc(1, sizeof(*t));
        bsn_map_put(&s->gone, k, t);
    }
    *t = now;
}

/* ms until the pod "ns/name" may be created again (0 = now) */
static int
recreate_wait(struct stsctrl *s, const char *ns, const char *name)
{
    char k[600];
    snprintf(k, sizeof(k), "%s/%s", ns, name);
    uint64_t *t = bsn_map_get(&s->gone, k);
    if (!t)
        return 0;
    uint64_t age = bsn_mono_ms() - *t;
    if (age >= RECREATE_GAP_MS) {
        free(bsn_map_del(&s->gone, k));
        return 0;
    }
    return (int)(RECREATE_GAP_MS - age);
}

static json_t *
owner_refs(const json_t *set)
{
    return json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", "apps/v1", "kind", "StatefulSet",
                     "name", bsn_json_str(set, "metadata.name") ?: "", "uid",
                     bsn_json_str(set, "metadata.uid") ?: "", "controller", 1, "blockOwnerDeletion",
                     1);
}

static void
ensure_pvcs(struct stsctrl *s, const json_t *set, int64_t ord)
{
    const char *ns = bsn_json_str(set, "metadata.namespace");
    const char *name = bsn_json_str(set, "metadata.name");
    size_t i;
    json_t *t;
    json_array_foreach(bsn_json_path(set, "spec")
                           ? json_object_get(bsn_json_path(set, "spec"), "volumeClaimTemplates")
                           : NULL,
                       i, t)
    {
        char pvc[600], key[700];
        snprintf(pvc, sizeof(pvc), "%s-%s-%lld", bsn_json_str(t, "metadata.name") ?: "", name,
                 (long long)ord);
        snprintf(key, sizeof(key), "%s/%s", ns, pvc);
        if (bsn_informer_get(s->pvcs, key))
            continue;
        json_t *labels = json_deep_copy(bsn_json_path(set, "spec.selector.matchLabels"));
        if (!labels)
            labels = json_object();
        json_t *obj =
            json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:O}", "apiVersion", "v1", "kind",
                      "PersistentVolumeClaim", "metadata", "name", pvc, "namespace", ns, "labels",
                      labels, "spec", json_object_get(t, "spec") ?: json_object());
        char path[600];
        bsn_ctrl_obj_path("/api/v1", "persistentvolumeclaims", ns, NULL, path, sizeof(path));
        bsn_ctrl_send(s->ctx, "POST", path, NULL, obj, NULL, NULL, NULL, NULL);
        json_decref(obj);
    }
}

static void
create_pod(struct stsctrl *s, const char *key, const json_t *set, int64_t ord, const json_t *tmpl,
           const char *rev)
{
    const char *ns = bsn_json_str(set, "metadata.namespace");
    const char *name = bsn_json_str(set, "metadata.name");
    ensure_pvcs(s, set, ord);
    char pname[300], ordbuf[32];
    snprintf(pname, sizeof(pname), "%s-%lld", name, (long long)ord);
    snprintf(ordbuf, sizeof(ordbuf), "%lld", (long long)ord);
    json_t *meta = json_deep_copy(json_object_get(tmpl, "metadata"));
    if (!meta)
        meta = json_object();
    json_object_del(meta, "creationTimestamp");
    json_object_set_new(meta, "name", json_string(pname));
    json_object_set_new(meta, "namespace", json_string(ns));
    json_t *labels = bsn_json_path_mkobj(meta, "labels");
    json_object_set_new(labels, REV_LABEL, json_string(rev));
    json_object_set_new(labels, "statefulset.kubernetes.io/pod-name", json_string(pname));
    json_object_set_new(labels, "apps.kubernetes.io/pod-index", json_string(ordbuf));
    json_object_set_new(meta, "ownerReferences", owner_refs(set));
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    if (!spec)
        spec = json_object();
    json_object_set_new(spec, "hostname", json_string(pname));
    const char *svc = bsn_json_str(set, "spec.serviceName");
    if (svc && *svc)
        json_object_set_new(spec, "subdomain", json_string(svc));
    json_t *vols = json_object_get(spec, "volumes");
    size_t i;
    json_t *t;
    json_array_foreach(bsn_json_path(set, "spec")
                           ? json_object_get(bsn_json_path(set, "spec"), "volumeClaimTemplates")
                           : NULL,
                       i, t)
    {
        if (!json_is_array(vols)) {
            vols = json_array();
            json_object_set_new(spec, "volumes", vols);
        }
        const char *cn = bsn_json_str(t, "metadata.name") ?: "";
        for (size_t k = 0; k < json_array_size(vols); k++)
            if (!strcmp(bsn_json_str(json_array_get(vols, k), "name") ?: "", cn)) {
                json_array_remove(vols, k);
                break;
            }
        char claim[600];
        snprintf(claim, sizeof(claim), "%s-%s", cn, pname);
        json_array_append_new(vols, json_pack("{s:s,s:{s:s}}", "name", cn, "persistentVolumeClaim",
                                              "claimName", claim));
    }
    json_t *pod = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata",
                            meta, "spec", spec);
    char path[600];
    bsn_ctrl_obj_path("/api/v1", "pods", ns, NULL, path, sizeof(path));
    bsn_ctrl_send(s->ctx, "POST", path, NULL, pod, s->q, key, NULL, NULL);
    json_decref(pod);
    bsn_ctrl_event(s->ctx, set, "Normal", "SuccessfulCreate",
                   "create Pod %s in StatefulSet %s successful", pname, name);
}

static void
delete_pod(struct stsctrl *s, const json_t *set, const json_t *pod)
{
    char k[600];
    pod_key(pod, k, sizeof(k));
    if (s->ours.len >= GONE_PRUNE_AT * 16) { /* deletions whose event never came */
        bsn_map_fini(&s->ours);
        bsn_map_init(&s->ours);
    }
    bsn_map_put(&s->ours, k, s);
    char path[600];
    bsn_ctrl_obj_path("/api/v1", "pods", bsn_json_str(pod, "metadata.namespace"),
                      bsn_json_str(pod, "metadata.name"), path, sizeof(path));
    bsn_ctrl_send(s->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
    bsn_ctrl_event(s->ctx, set, "Normal", "SuccessfulDelete",
                   "delete Pod %s in StatefulSet %s successful", bsn_json_str(pod, "metadata.name"),
                   bsn_json_str(set, "metadata.name"));
}

/* The update revision: ensures its ControllerRevision exists; returns its name in out. */
static json_t *
ensure_revision(struct stsctrl *s, const json_t *set, char *out, size_t n, int64_t *maxrev)
{
    const char *ns = bsn_json_str(set, "metadata.namespace");
    const char *name = bsn_json_str(set, "metadata.name");
    char hash[32];
    bsn_pod_template_hash(bsn_json_path(set, "spec.template"),
                          bsn_json_int(set, "status.collisionCount", 0), hash, sizeof(hash));
    snprintf(out, n, "%s-%s", name, hash);
    *maxrev = 0;
    const char *uid = bsn_json_str(set, "metadata.uid") ?: "";
    const struct bsn_map *m = bsn_informer_ns(s->revs, ns);
    void *v;
    size_t it = 0;
    json_t *found = NULL;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *ref = bsn_ctrl_owner(v);
        if (!ref || strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid))
            continue;
        int64_t r = bsn_json_int(v, "revision", 0);
        if (r > *maxrev)
            *maxrev = r;
        if (!strcmp(bsn_json_str(v, "metadata.name") ?: "", out))
            found = v;
    }
    if (found)
        return found;
    json_t *labels = json_deep_copy(bsn_json_path(set, "spec.selector.matchLabels"));
    if (!labels)
        labels = json_object();
    json_object_set_new(labels, REV_LABEL, json_string(hash));
    json_t *tmpl = json_deep_copy(bsn_json_path(set, "spec.template"));
    if (!tmpl)
        tmpl = json_object();
    json_object_set_new(tmpl, "$patch", json_string("replace"));
    json_t *cr = json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:o},s:{s:{s:o}},s:I}", "apiVersion", "apps/v1",
                           "kind", "ControllerRevision", "metadata", "name", out, "namespace", ns,
                           "labels", labels, "ownerReferences", owner_refs(set), "data", "spec",
                           "template", tmpl, "revision", (json_int_t)(*maxrev + 1));
    char path[600];
    bsn_ctrl_obj_path("/apis/apps/v1", "controllerrevisions", ns, NULL, path, sizeof(path));
    bsn_ctrl_send(s->ctx, "POST", path, NULL, cr, NULL, NULL, NULL, NULL);
    json_decref(cr);
    return NULL;
}

static bool
running_ready(const json_t *pod)
{
    return pod && !bsn_ctrl_deleting(pod) && bsn_pod_ready(pod);
}

static int
reconcile(const char *key, void *data)
{
    struct stsctrl *s = data;
    json_t *set = bsn_informer_get(s->sets, key);
    if (!set || bsn_ctrl_deleting(set))
        return 0;
    if (!bsn_informer_synced(s->pods) || !bsn_informer_synced(s->revs) ||
        !bsn_informer_synced(s->pvcs))
        return 100;
    const char *ns = bsn_json_str(set, "metadata.namespace");
    const char *name = bsn_json_str(set, "metadata.name");
    int64_t replicas = BSN_MIN(bsn_json_int(set, "spec.replicas", 1), MAX_REPLICAS);
    int64_t start = bsn_json_int(set, "spec.ordinals.start", 0);
    bool parallel = !strcmp(bsn_json_str(set, "spec.podManagementPolicy") ?: "", "Parallel");
    bool ondelete = !strcmp(bsn_json_str(set, "spec.updateStrategy.type") ?: "", "OnDelete");
    int64_t partition = bsn_json_int(set, "spec.updateStrategy.rollingUpdate.partition", 0);
    char update_rev[300];
    int64_t maxrev;
    json_t *cr = ensure_revision(s, set, update_rev, sizeof(update_rev), &maxrev);
    if (!cr)
        return 200; /* wait for the revision to show up */
    const char *current_rev = bsn_json_str(set, "status.currentRevision");
    if (!current_rev || !*current_rev)
        current_rev = update_rev;
    /* the current revision's template, for pods below the partition */
    json_t *cur_tmpl = NULL;
    char ckey[700];
    snprintf(ckey, sizeof(ckey), "%s/%s", ns, current_rev);
    json_t *ccr = bsn_informer_get(s->revs, ckey);
    if (ccr)
        cur_tmpl = bsn_json_path(ccr, "data.spec.template");
    json_t *upd_tmpl = bsn_json_path(set, "spec.template");
    /* pods by ordinal */
    int64_t ready = 0, available = 0, current = 0, updated = 0, existing = 0;
    json_t **pods = bsn_calloc((size_t)replicas + 1, sizeof(*pods));
    json_t **extra = NULL;
    size_t nextra = 0;
    const char *uid = bsn_json_str(set, "metadata.uid") ?: "";
    const struct bsn_map *m = bsn_informer_ns(s->pods, ns);
    void *v;
    size_t it = 0;
    size_t nlen = strlen(name);
    int64_t min_ready = bsn_json_int(set, "spec.minReadySeconds", 0);
    time_t now = bsn_time_now();
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *pod = v;
        json_t *ref = bsn_ctrl_owner(pod);
        if (!ref || strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid))
            continue;
        const char *pn = bsn_json_str(pod, "metadata.name") ?: "";
        if (strncmp(pn, name, nlen) || pn[nlen] != '-')
            continue;
        char *end;
        long long ord = strtoll(pn + nlen + 1, &end, 10);
        if (*end)
            continue;
        existing++;
        if (bsn_pod_ready(pod)) {
            ready++;
            if (bsn_pod_available(pod, min_ready, now))
                available++;
        }
        const char *prev =
            json_string_value(json_object_get(bsn_json_path(pod, "metadata.labels"), REV_LABEL));
        if (prev && !strcmp(prev, update_rev))
            updated++;
        if (prev && !strcmp(prev, current_rev))
            current++;
        if (ord >= start && ord < start + replicas) {
            pods[ord - start] = pod;
        } else {
            extra = bsn_realloc(extra, (nextra + 1) * sizeof(*extra));
            extra[nextra++] = pod;
        }
    }
    bool acted = false;
    /* failed pods are replaced */
    for (int64_t i = 0; i < replicas; i++) {
        const char *phase = pods[i] ? bsn_json_str(pods[i], "status.phase") : NULL;
        if (phase && !strcmp(phase, "Failed") && !bsn_ctrl_deleting(pods[i])) {
            delete_pod(s, set, pods[i]);
            pods[i] = NULL;
            acted = true;
        }
    }
    /* create missing, in order (OrderedReady waits for each to be ready) */
    bool all_ready = true;
    int wait_ms = 0;
    for (int64_t i = 0; i < replicas; i++) {
        if (!pods[i]) {
            char pname[300];
            snprintf(pname, sizeof(pname), "%s-%lld", name, (long long)(start + i));
            int w = recreate_wait(s, ns, pname);
            if (w > 0) {
                if (!wait_ms || w < wait_ms)
                    wait_ms = w;
                acted = true;
                all_ready = false;
                if (!parallel)
                    break;
                continue;
            }
            bool use_update = ondelete ? true : (start + i) >= partition;
            const json_t *tmpl = use_update || !cur_tmpl ? upd_tmpl : cur_tmpl;
            create_pod(s, key, set, start + i, tmpl,
                       use_update || !cur_tmpl ? update_rev : current_rev);
            acted = true;
            all_ready = false;
            if (!parallel)
                break;
            continue;
        }
        if (!running_ready(pods[i])) {
            all_ready = false;
            if (!parallel)
                break;
        }
    }
    /* scale down: highest ordinal first */
    if (nextra > 0 && (parallel || (all_ready && !acted))) {
        json_t *victim = NULL;
        long long best = -1;
        for (size_t i = 0; i < nextra; i++) {
            if (bsn_ctrl_deleting(extra[i]))
                continue;
            long long ord = strtoll(bsn_json_str(extra[i], "metadata.name") + nlen + 1, NULL, 10);
            if (parallel)
                delete_pod(s, set, extra[i]);
            else if (ord > best) {
                best = ord;
                victim = extra[i];
            }
        }
        if (victim)
            delete_pod(s, set, victim);
        acted = true;
    }
    /* rolling update: highest ordinal at an old revision, down to the partition */
    if (!ondelete && !acted && all_ready && nextra == 0) {
        for (int64_t i = replicas - 1; i >= 0 && start + i >= partition; i--) {
            const char *prev = json_string_value(
                json_object_get(bsn_json_path(pods[i], "metadata.labels"), REV_LABEL));
            if (!prev || strcmp(prev, update_rev)) {
                delete_pod(s, set, pods[i]);
                break;
            }
        }
    }
    free(pods);
    free(extra);
    /* status */
    const char *new_current = current_rev;
    if (updated == replicas && ready == replicas && existing == replicas)
        new_current = update_rev;
    if (!strcmp(new_current, update_rev))
        current = updated;
    int64_t gen = bsn_json_int(set, "metadata.generation", 0);
    json_t *st = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:I}", "observedGeneration", (json_int_t)gen, "replicas",
        (json_int_t)existing, "readyReplicas", (json_int_t)ready, "currentReplicas",
        (json_int_t)current, "updatedReplicas", (json_int_t)updated, "availableReplicas",
        (json_int_t)available, "currentRevision", new_current, "updateRevision", update_rev,
        "collisionCount", (json_int_t)bsn_json_int(set, "status.collisionCount", 0));
    bsn_ctrl_status_patch(s->ctx, set, "/apis/apps/v1", "statefulsets", st, s->q, key);
    if (wait_ms > 0)
        return wait_ms;
    return min_ready > 0 && ready > available ? 1000 : 0;
}

void *
bsn_sts_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct stsctrl *s = bsn_calloc(1, sizeof(*s));
    s->ctx = ctx;
    s->q = bsn_workqueue_new(ctx->loop, "statefulset", reconcile, s);
    s->sets = bsn_ctrl_informer(ctx, "/apis/apps/v1/statefulsets");
    s->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    s->pvcs = bsn_ctrl_informer(ctx, "/api/v1/persistentvolumeclaims");
    s->revs = bsn_ctrl_informer(ctx, "/apis/apps/v1/controllerrevisions");
    s->self_h = (struct bsn_queue_handler){s->q, NULL};
    s->owned_h = (struct bsn_queue_handler){s->q, "StatefulSet"};
    bsn_ctrl_queue_self(s->sets, &s->self_h);
    bsn_ctrl_queue_owned(s->pods, &s->owned_h);
    bsn_ctrl_queue_owned(s->revs, &s->owned_h);
    bsn_map_init(&s->gone);
    bsn_map_init(&s->ours);
    struct bsn_informer_handler gh = {NULL, NULL, on_pod_delete, s};
    bsn_informer_add_handler(s->pods, &gh);
    return s;
}

void
bsn_sts_ctrl_free(void *self)
{
    struct stsctrl *s = self;
    if (!s)
        return;
    bsn_workqueue_free(s->q);
    size_t it = 0;
    void *v;
    while (bsn_map_next(&s->gone, &it, NULL, &v))
        free(v);
    bsn_map_fini(&s->gone);
    bsn_map_fini(&s->ours);
    free(s);
}
