/*
 * hpa.c - the HorizontalPodAutoscaler controller (autoscaling/v2, Resource metrics).
 *
 * Every sync period (15 s; BOSUN_HPA_SYNC_PERIOD for tests) and on changes of the HPA, it
 * reads the target's scale (Deployment, ReplicaSet, StatefulSet, ReplicationController from
 * informers), asks the metrics API for the usage of the target's pods, computes the desired
 * replicas per metric (hpa_calc.c, upstream's replica calculator), takes the largest, applies
 * the behavior (stabilisation windows, Pods/Percent policies, selectPolicy) and min/max,
 * writes the target's scale subresource, a SuccessfulRescale event and the status
 * (currentReplicas, desiredReplicas, currentMetrics, lastScaleTime, conditions AbleToScale,
 * ScalingActive, ScalingLimited with upstream's reasons). Times come from bsn_time_now, so
 * BOSUN_DEBUG_CLOCK_FILE moves the windows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "codec/selector.h"
#include "codec/util.h"
#include "controllers/ctrl_int.h"
#include "controllers/hpa.h"

#define HPA_PREFIX "/apis/autoscaling/v2"
#define MAX_RECS   256

struct target_kind {
    const char *kind, *prefix, *plural;
};
static const struct target_kind kinds[] = {
    {"Deployment", "/apis/apps/v1", "deployments"},
    {"ReplicaSet", "/apis/apps/v1", "replicasets"},
    {"StatefulSet", "/apis/apps/v1", "statefulsets"},
    {"ReplicationController", "/api/v1", "replicationcontrollers"},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct hstate {
    struct bsn_hpa_rec recs[MAX_RECS]; /* recommendations */
    size_t nrecs;
    struct bsn_hpa_rec events[MAX_RECS]; /* scale changes */
    size_t nevents;
    bool fetching;
};

struct hpactrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *hpas, *pods, *targets[NKINDS];
    struct bsn_workqueue *q;
    struct bsn_map state; /* key -> struct hstate* */
    uint64_t sync_ms;
};

static struct hstate *
state_of(struct hpactrl *h, const char *key)
{
    struct hstate *s = bsn_map_get(&h->state, key);
    if (!s) {
        s = bsn_calloc(1, sizeof(*s));
        bsn_map_put(&h->state, key, s);
    }
    return s;
}

static void
rec_push(struct bsn_hpa_rec *arr, size_t *n, time_t now, int32_t v, time_t keep)
{
    size_t j = 0;
    for (size_t i = 0; i < *n; i++)
        if (arr[i].at > now - keep)
            arr[j++] = arr[i];
    *n = j;
    if (*n == MAX_RECS) {
        memmove(arr, arr + 1, (MAX_RECS - 1) * sizeof(*arr));
        (*n)--;
    }
    arr[(*n)++] = (struct bsn_hpa_rec){now, v};
}

static const struct target_kind *
target_of(struct hpactrl *h, const json_t *hpa, json_t **tgt, size_t *idx)
{
    const char *kind = bsn_json_str(hpa, "spec.scaleTargetRef.kind") ?: "";
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(kinds[i].kind, kind)) {
            char key[600];
            snprintf(key, sizeof(key), "%s/%s", bsn_json_str(hpa, "metadata.namespace") ?: "",
                     bsn_json_str(hpa, "spec.scaleTargetRef.name") ?: "");
            *tgt = bsn_informer_get(h->targets[i], key);
            *idx = i;
            return &kinds[i];
        }
    *tgt = NULL;
    return NULL;
}

static json_t *
cond(const json_t *hpa, const char *type, bool status, const char *reason, const char *msg)
{
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    const char *when = now;
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(hpa, "status.conditions"), i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) &&
            !strcmp(json_string_value(json_object_get(c, "status")) ?: "",
                    status ? "True" : "False"))
            when = json_string_value(json_object_get(c, "lastTransitionTime")) ?: now;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status ? "True" : "False",
                     "lastTransitionTime", when, "reason", reason, "message", msg);
}

/* Writes status: conds (stolen) + replicas + metrics (stolen, may be NULL). */
static void
write_status(struct hpactrl *h, const char *key, const json_t *hpa, int64_t current,
             int64_t desired, json_t *metrics, json_t *conds, const char *scaled_at)
{
    json_t *st = json_pack("{s:I,s:I,s:o}", "currentReplicas", (json_int_t)current,
                           "desiredReplicas", (json_int_t)desired, "conditions", conds);
    if (metrics)
        json_object_set_new(st, "currentMetrics", metrics);
    const char *last = scaled_at ? scaled_at : bsn_json_str(hpa, "status.lastScaleTime");
    if (last)
        json_object_set_new(st, "lastScaleTime", json_string(last));
    json_t *gen = bsn_json_path(hpa, "metadata.generation");
    if (gen)
        json_object_set(st, "observedGeneration", gen);
    bsn_ctrl_status_put(h->ctx, hpa, HPA_PREFIX, "horizontalpodautoscalers", "autoscaling/v2",
                        "HorizontalPodAutoscaler", st, h->q, key);
}

static void
parse_rules(const json_t *b, struct bsn_hpa_rules *r)
{
    if (!b)
        return;
    json_t *w = json_object_get(b, "stabilizationWindowSeconds");
    if (json_is_integer(w))
        r->window = (int32_t)json_integer_value(w);
    const char *sel = json_string_value(json_object_get(b, "selectPolicy")) ?: "Max";
    r->select = !strcmp(sel, "Min") ? 1 : !strcmp(sel, "Disabled") ? 2 : 0;
    json_t *pols = json_object_get(b, "policies");
    if (!json_is_array(pols))
        return;
    r->npol = 0;
    size_t i;
    json_t *p;
    json_array_foreach(pols, i, p)
    {
        if (r->npol >= 8)
            break;
        r->pol[r->npol++] = (struct bsn_hpa_policy){
            !strcmp(json_string_value(json_object_get(p, "type")) ?: "", "Pods"),
            (int32_t)json_integer_value(json_object_get(p, "value")),
            (int32_t)json_integer_value(json_object_get(p, "periodSeconds"))};
    }
}

/* The pods of the target with their request and usage of one resource. */
static size_t
collect_pods(struct hpactrl *h, const json_t *hpa, const struct bsn_selector *sel,
             const json_t *usage, const char *res, struct bsn_hpa_pod **out)
{
    bool cpu = !strcmp(res, "cpu");
    const struct bsn_map *m = bsn_informer_ns(h->pods, bsn_json_str(hpa, "metadata.namespace"));
    size_t n = 0, cap = 0;
    struct bsn_hpa_pod *pods = NULL;
    const char *k;
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, &k, &v)) {
        json_t *pod = v;
        if (!bsn_selector_match(sel, bsn_json_path(pod, "metadata.labels")))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            pods = bsn_realloc(pods, cap * sizeof(*pods));
        }
        struct bsn_hpa_pod *p = &pods[n++];
        memset(p, 0, sizeof(*p));
        const char *phase = bsn_json_str(pod, "status.phase") ?: "Pending";
        p->ignored =
            bsn_ctrl_deleting(pod) || !strcmp(phase, "Failed") || !strcmp(phase, "Succeeded");
        p->pending = !strcmp(phase, "Pending");
        p->ready = bsn_pod_ready(pod);
        size_t i;
        json_t *c;
        json_array_foreach(bsn_json_path(pod, "spec.containers"), i, c)
        {
            json_t *r = json_object_get(bsn_json_path(c, "resources.requests"), res);
            if (!r)
                p->request = -1;
            else if (p->request >= 0)
                p->request += bsn_quantity_json_value(r, cpu);
        }
        json_t *u =
            json_object_get(json_object_get(usage, bsn_json_str(pod, "metadata.name")), res);
        if (u) {
            p->has_metrics = true;
            p->usage = json_integer_value(u);
        }
    }
    *out = pods;
    return n;
}

/* metric name as upstream writes it in messages */
static void
metric_name(const char *res, bool util, char *out, size_t n)
{
    snprintf(out, n, util ? "%s resource utilization (percentage of request)" : "%s resource", res);
}

struct scale_ctx {
    struct hpactrl *h;
    char key[512];
};

static void
scale_done(int status, const char *body, size_t len, void *data)
{
    struct scale_ctx *s = data;
    if (status >= 300) {
        json_t *hpa = bsn_informer_get(s->h->hpas, s->key);
        if (hpa)
            bsn_ctrl_event(s->h->ctx, hpa, "Warning", "FailedRescale",
                           "New size: failed; error: HTTP %d %.*s", status, (int)BSN_MIN(len, 200),
                           body);
    }
    free(s);
}

/* The decision once the pods' usage is known (usage: pod name -> {cpu: milli, memory: B}). */
static void
decide(struct hpactrl *h, const char *key, const json_t *usage, const char *fetch_err)
{
    json_t *hpa = bsn_informer_get(h->hpas, key);
    json_t *tgt;
    size_t ti;
    const struct target_kind *tk = hpa ? target_of(h, hpa, &tgt, &ti) : NULL;
    if (!hpa || !tk || !tgt)
        return;
    struct hstate *hs = state_of(h, key);
    time_t now = bsn_time_now();
    int64_t current = bsn_json_int(tgt, "spec.replicas", 1);
    int64_t status_replicas = bsn_json_int(tgt, "status.replicas", 0);
    int32_t min = (int32_t)bsn_json_int(hpa, "spec.minReplicas", 1);
    int32_t max = (int32_t)bsn_json_int(hpa, "spec.maxReplicas", 1);
    json_t *conds = json_array();
    json_array_append_new(conds, cond(hpa, "AbleToScale", true, "SucceededGetScale",
                                      "the HPA controller was able to get the target's current "
                                      "scale"));
    if (current == 0 && min != 0) {
        json_array_append_new(conds,
                              cond(hpa, "ScalingActive", false, "ScalingDisabled",
                                   "scaling is disabled since the replica count of the target "
                                   "is zero"));
        write_status(h, key, hpa, status_replicas, 0, NULL, conds, NULL);
        return;
    }
    struct bsn_selector sel;
    struct bsn_err err;
    if (bsn_selector_from_json(bsn_json_path(tgt, "spec.selector"), &sel, &err) < 0) {
        json_array_append_new(conds, cond(hpa, "ScalingActive", false, "InvalidSelector",
                                          "the HPA target's scale has an invalid selector"));
        write_status(h, key, hpa, status_replicas, current, NULL, conds, NULL);
        return;
    }
    json_t *specs = bsn_json_path(hpa, "spec.metrics");
    json_t *deflt = NULL;
    if (json_array_size(specs) == 0)
        specs = deflt =
            json_pack("[{s:s,s:{s:s,s:{s:s,s:i}}}]", "type", "Resource", "resource", "name", "cpu",
                      "target", "type", "Utilization", "averageUtilization", 80);
    json_t *current_metrics = json_array();
    int32_t best = -1;
    char best_name[160] = "", errmsg[300] = "";
    size_t i;
    json_t *ms;
    json_array_foreach(specs, i, ms)
    {
        const char *type = json_string_value(json_object_get(ms, "type")) ?: "";
        json_t *r = json_object_get(ms, "resource");
        const char *res = json_string_value(json_object_get(r, "name")) ?: "";
        if (strcmp(type, "Resource") || (strcmp(res, "cpu") && strcmp(res, "memory"))) {
            snprintf(errmsg, sizeof(errmsg), "unsupported metric type %s", type);
            continue;
        }
        bool cpu = !strcmp(res, "cpu");
        json_t *t = json_object_get(r, "target");
        int64_t tu = bsn_json_int(t, "averageUtilization", 0);
        int64_t ta = tu > 0 ? 0 : bsn_quantity_json_value(json_object_get(t, "averageValue"), cpu);
        if (fetch_err) {
            snprintf(errmsg, sizeof(errmsg), "unable to get metrics for resource %s: %s", res,
                     fetch_err);
            continue;
        }
        struct bsn_hpa_pod *pods;
        size_t n = collect_pods(h, hpa, &sel, usage, res, &pods);
        int32_t want;
        int64_t util, avg;
        char msg[200];
        int rc = bsn_hpa_resource_replicas(pods, n, (int32_t)current, tu, ta, cpu, &want, &util,
                                           &avg, msg, sizeof(msg));
        free(pods);
        if (rc < 0) {
            snprintf(errmsg, sizeof(errmsg), "failed to get %s utilization: %s", res, msg);
            continue;
        }
        char av[40];
        snprintf(av, sizeof(av), cpu ? "%lldm" : "%lld", (long long)avg);
        json_t *cur = json_pack("{s:s}", "averageValue", av);
        if (tu > 0)
            json_object_set_new(cur, "averageUtilization", json_integer(util));
        json_array_append_new(current_metrics, json_pack("{s:s,s:{s:s,s:o}}", "type", "Resource",
                                                         "resource", "name", res, "current", cur));
        if (want > best) {
            best = want;
            metric_name(res, tu > 0, best_name, sizeof(best_name));
        }
    }
    json_decref(deflt);
    bsn_selector_fini(&sel);
    if (best < 0) {
        char m[400];
        snprintf(m, sizeof(m), "the HPA was unable to compute the replica count: %s", errmsg);
        json_array_append_new(conds,
                              cond(hpa, "ScalingActive", false, "FailedGetResourceMetric", m));
        bsn_ctrl_event(h->ctx, hpa, "Warning", "FailedGetResourceMetric", "%s", errmsg);
        write_status(h, key, hpa, status_replicas, current, current_metrics, conds, NULL);
        return;
    }
    char m[300];
    snprintf(m, sizeof(m), "the HPA was able to successfully calculate a replica count from %s",
             best_name);
    json_array_append_new(conds, cond(hpa, "ScalingActive", true, "ValidMetricFound", m));
    struct bsn_hpa_rules up, down;
    bsn_hpa_default_rules(&up, &down);
    parse_rules(bsn_json_path(hpa, "spec.behavior.scaleUp"), &up);
    parse_rules(bsn_json_path(hpa, "spec.behavior.scaleDown"), &down);
    int32_t stab = bsn_hpa_stabilize(hs->recs, hs->nrecs, now, (int32_t)current, best, &up, &down);
    time_t keep = BSN_MAX(up.window, down.window) + 1;
    rec_push(hs->recs, &hs->nrecs, now, best, keep);
    struct bsn_hpa_limit why;
    int32_t desired = bsn_hpa_limit_rate(hs->events, hs->nevents, now, (int32_t)current, stab, min,
                                         max, &up, &down, &why);
    char scaled_at[40] = "";
    if (desired != current) {
        char path[700];
        snprintf(path, sizeof(path), "%s/namespaces/%s/%s/%s/scale", tk->prefix,
                 bsn_json_str(hpa, "metadata.namespace"), tk->plural,
                 bsn_json_str(tgt, "metadata.name"));
        json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", desired);
        struct scale_ctx *sc = bsn_calloc(1, sizeof(*sc));
        sc->h = h;
        snprintf(sc->key, sizeof(sc->key), "%s", key);
        bsn_ctrl_send(h->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL,
                      scale_done, sc);
        json_decref(patch);
        int32_t keep_ev = 0;
        for (int p = 0; p < up.npol; p++)
            keep_ev = BSN_MAX(keep_ev, up.pol[p].period);
        for (int p = 0; p < down.npol; p++)
            keep_ev = BSN_MAX(keep_ev, down.pol[p].period);
        rec_push(hs->events, &hs->nevents, now, desired - (int32_t)current, keep_ev + 1);
        char reason[200];
        if (desired > current)
            snprintf(reason, sizeof(reason), "%s above target", best_name);
        else
            snprintf(reason, sizeof(reason), "All metrics below target");
        bsn_ctrl_event(h->ctx, hpa, "Normal", "SuccessfulRescale", "New size: %d; reason: %s",
                       desired, reason);
        bsn_ctrl_now(scaled_at, sizeof(scaled_at));
        char am[200];
        snprintf(am, sizeof(am), "the HPA controller was able to update the target scale to %d",
                 desired);
        json_array_set_new(conds, 0, cond(hpa, "AbleToScale", true, "SucceededRescale", am));
    } else {
        json_array_set_new(conds, 0,
                           cond(hpa, "AbleToScale", true, "ReadyForNewScale",
                                "recommended size matches current size"));
    }
    json_array_append_new(conds, cond(hpa, "ScalingLimited", why.limited, why.reason, why.message));
    write_status(h, key, hpa, status_replicas, desired, current_metrics, conds,
                 scaled_at[0] ? scaled_at : NULL);
}

struct fetch_ctx {
    struct hpactrl *h;
    char key[512];
};

static void
fetched(int status, const char *body, size_t len, void *data)
{
    struct fetch_ctx *f = data;
    struct hpactrl *h = f->h;
    struct hstate *hs = bsn_map_get(&h->state, f->key);
    if (hs)
        hs->fetching = false;
    json_t *usage = json_object();
    char err[200] = "";
    struct bsn_err e;
    json_t *doc = status == 200 ? bsn_json_parse(body, len, &e) : NULL;
    if (!doc)
        snprintf(err, sizeof(err), "unable to fetch metrics from resource metrics API: HTTP %d",
                 status);
    size_t i, j;
    json_t *pm, *c;
    json_array_foreach(json_object_get(doc, "items"), i, pm)
    {
        int64_t cpu = 0, mem = 0;
        json_array_foreach(json_object_get(pm, "containers"), j, c)
        {
            cpu += bsn_quantity_json_value(bsn_json_path(c, "usage.cpu"), true);
            mem += bsn_quantity_json_value(bsn_json_path(c, "usage.memory"), false);
        }
        json_object_set_new(
            usage, bsn_json_str(pm, "metadata.name") ?: "",
            json_pack("{s:I,s:I}", "cpu", (json_int_t)cpu, "memory", (json_int_t)mem));
    }
    json_decref(doc);
    if (hs)
        decide(h, f->key, usage, err[0] ? err : NULL);
    json_decref(usage);
    if (bsn_informer_get(h->hpas, f->key))
        bsn_workqueue_add_after(h->q, f->key, h->sync_ms);
    free(f);
}

static void
url_escape(const char *s, struct bsn_buf *b)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_')
            bsn_buf_putc(b, (char)ch);
        else
            bsn_buf_printf(b, "%%%02X", ch);
    }
}

static int
reconcile(const char *key, void *data)
{
    struct hpactrl *h = data;
    json_t *hpa = bsn_informer_get(h->hpas, key);
    if (!hpa) {
        struct hstate *hs = bsn_map_get(&h->state, key);
        if (hs && !hs->fetching)
            free(bsn_map_del(&h->state, key));
        return 0;
    }
    if (!bsn_informer_synced(h->pods))
        return 200;
    struct hstate *hs = state_of(h, key);
    if (hs->fetching)
        return 0;
    json_t *tgt;
    size_t ti;
    const struct target_kind *tk = target_of(h, hpa, &tgt, &ti);
    if (!tk || !tgt) {
        if (tk && !bsn_informer_synced(h->targets[ti]))
            return 200;
        char nf[300], m[400];
        snprintf(nf, sizeof(nf), "%s%s%s \"%s\" not found", tk ? tk->plural : "",
                 tk && strstr(tk->prefix, "apps") ? ".apps" : "",
                 tk ? "" : bsn_json_str(hpa, "spec.scaleTargetRef.kind") ?: "",
                 bsn_json_str(hpa, "spec.scaleTargetRef.name") ?: "");
        snprintf(m, sizeof(m),
                 "the HPA controller was unable to get the target's current scale: %s", nf);
        bsn_ctrl_event(h->ctx, hpa, "Warning", "FailedGetScale", "%s", nf);
        json_t *conds = json_pack("[o]", cond(hpa, "AbleToScale", false, "FailedGetScale", m));
        write_status(h, key, hpa, bsn_json_int(hpa, "status.currentReplicas", 0),
                     bsn_json_int(hpa, "status.desiredReplicas", 0),
                     json_incref(bsn_json_path(hpa, "status.currentMetrics")), conds, NULL);
        return (int)h->sync_ms;
    }
    struct bsn_selector sel;
    struct bsn_err err;
    struct bsn_buf path, s;
    bsn_buf_init(&path);
    bsn_buf_init(&s);
    if (bsn_selector_from_json(bsn_json_path(tgt, "spec.selector"), &sel, &err) == 0) {
        bsn_selector_string(&sel, &s);
        bsn_selector_fini(&sel);
    }
    bsn_buf_printf(&path, "/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods?labelSelector=",
                   bsn_json_str(hpa, "metadata.namespace"));
    bsn_buf_putc(&s, '\0');
    url_escape(s.data ? s.data : "", &path);
    bsn_buf_putc(&path, '\0');
    struct fetch_ctx *f = bsn_calloc(1, sizeof(*f));
    f->h = h;
    snprintf(f->key, sizeof(f->key), "%s", key);
    hs->fetching = true;
    bsn_ctrl_send(h->ctx, "GET", path.data, NULL, NULL, NULL, NULL, fetched, f);
    bsn_buf_fini(&path);
    bsn_buf_fini(&s);
    return 0;
}

static void
target_changed(json_t *obj, void *data)
{
    /* a target's scale changed: look at the HPAs of its namespace that point at it */
    struct hpactrl *h = data;
    const struct bsn_map *m = bsn_informer_ns(h->hpas, bsn_json_str(obj, "metadata.namespace"));
    const char *k;
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, &k, &v))
        if (!strcmp(bsn_json_str(v, "spec.scaleTargetRef.name") ?: "",
                    bsn_json_str(obj, "metadata.name") ?: ""))
            bsn_workqueue_add_after(h->q, k, 1000);
}

static void
target_updated(json_t *old, json_t *obj, void *data)
{
    if (bsn_json_int(old, "spec.replicas", 1) != bsn_json_int(obj, "spec.replicas", 1))
        target_changed(obj, data);
}

static void
hpa_changed(json_t *obj, void *data)
{
    struct hpactrl *h = data;
    char key[512];
    bsn_obj_key(obj, key, sizeof(key));
    bsn_workqueue_add(h->q, key);
}

static void
hpa_updated(json_t *old, json_t *obj, void *data)
{
    /* our own status writes come back here: only spec changes matter */
    if (!bsn_json_equal(bsn_json_path(old, "spec"), bsn_json_path(obj, "spec")))
        hpa_changed(obj, data);
}

void *
bsn_hpa_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct hpactrl *h = bsn_calloc(1, sizeof(*h));
    h->ctx = ctx;
    h->sync_ms = 15000;
    const char *env = getenv("BOSUN_HPA_SYNC_PERIOD");
    int64_t ns;
    struct bsn_err err;
    if (env && bsn_duration_parse(env, &ns, &err) == 0 && ns >= 1000000)
        h->sync_ms = (uint64_t)(ns / 1000000);
    bsn_map_init(&h->state);
    h->q = bsn_workqueue_new(ctx->loop, "hpa", reconcile, h);
    h->hpas = bsn_ctrl_informer(ctx, HPA_PREFIX "/horizontalpodautoscalers");
    h->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    struct bsn_informer_handler hh = {hpa_changed, hpa_updated, NULL, h};
    bsn_informer_add_handler(h->hpas, &hh);
    for (size_t i = 0; i < NKINDS; i++) {
        char path[200];
        snprintf(path, sizeof(path), "%s/%s", kinds[i].prefix, kinds[i].plural);
        h->targets[i] = bsn_ctrl_informer(ctx, path);
        struct bsn_informer_handler ht = {NULL, target_updated, NULL, h};
        bsn_informer_add_handler(h->targets[i], &ht);
    }
    return h;
}

void
bsn_hpa_ctrl_free(void *self)
{
    struct hpactrl *h = self;
    if (!h)
        return;
    bsn_workqueue_free(h->q);
    size_t it = 0;
    void *v;
    while (bsn_map_next(&h->state, &it, NULL, &v))
        free(v);
    bsn_map_fini(&h->state);
    free(h);
}
