/*
 * scheduler.c - the scheduling loop: a work queue of pending pods, incremental per-node
 * accounting from the informers, filters + scores (filters.c), binding and failure reporting.
 */
#include "scheduler/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "codec/selector.h"
#include "controllers/ctrl.h"
#include "scheduler/preempt.h"
#include "scheduler/volumes.h"

struct placed {
    char node[254];
    char owner[64];
    struct bsn_sched_req req;
    bool assumed; /* bound by us, not yet seen bound in the informer */
    bool anti;    /* has required pod anti-affinity (checked against every new pod) */
};

struct bsn_scheduler {
    struct bsn_ctrl *ctx;
    struct bsn_informer *nodes, *pods;
    struct bsn_informer *pdbs; /* PodDisruptionBudgets, for preemption */
    struct bsn_workqueue *q;
    /* retry of the unschedulable pods after a burst of changes */
    struct bsn_timer flush_timer;
    uint64_t flush_first_ms;
    struct bsn_map node_map;      /* name -> struct bsn_sched_node* */
    struct bsn_sched_node **list; /* nodes that exist */
    size_t nlist;
    bool list_dirty;
    struct bsn_map placed;    /* pod key -> struct placed* */
    struct bsn_map unsched;   /* pod key -> struct unsched_ent* (last report) */
    struct bsn_map owner_cnt; /* "uid|node" -> (uintptr_t)count */
    size_t rr;
    uint64_t bound;
    size_t anti_placed; /* placed pods with required anti-affinity */
    struct bsn_sched_vol *vol;
    struct bsn_map nominated; /* pod key -> strdup(node) it preempted pods on */
};

static struct bsn_sched_node *
node_get(struct bsn_scheduler *s, const char *name, bool create)
{
    struct bsn_sched_node *n = bsn_map_get(&s->node_map, name);
    if (!n && create) {
        n = bsn_calloc(1, sizeof(*n));
        snprintf(n->name, sizeof(n->name), "%s", name);
        bsn_map_put(&s->node_map, name, n);
    }
    return n;
}

static void
owner_add(struct bsn_scheduler *s, const char *owner, const char *node, int delta)
{
    if (!owner[0])
        return;
    char k[400];
    snprintf(k, sizeof(k), "%s|%s", owner, node);
    intptr_t c = (intptr_t)bsn_map_get(&s->owner_cnt, k) + delta;
    if (c <= 0)
        bsn_map_del(&s->owner_cnt, k);
    else
        bsn_map_put(&s->owner_cnt, k, (void *)c);
}

static void
account(struct bsn_scheduler *s, struct placed *p, int sign)
{
    struct bsn_sched_node *n = node_get(s, p->node, true);
    n->used_cpu += sign * p->req.cpu_milli;
    n->used_mem += sign * p->req.memory;
    n->used_eph += sign * p->req.ephemeral;
    n->used_pods += sign;
    for (int i = 0; i < p->req.nports; i++) {
        if (sign > 0) {
            if (n->nports == n->capports) {
                n->capports = n->capports ? n->capports * 2 : 8;
                n->ports = bsn_realloc(n->ports, n->capports * sizeof(*n->ports));
            }
            n->ports[n->nports++] = p->req.ports[i];
        } else {
            for (size_t j = 0; j < n->nports; j++)
                if (n->ports[j] == p->req.ports[i]) {
                    n->ports[j] = n->ports[--n->nports];
                    break;
                }
        }
    }
    owner_add(s, p->owner, p->node, sign);
}

static void
owner_uid(const json_t *pod, char *out, size_t n)
{
    json_t *ref = bsn_ctrl_owner(pod);
    snprintf(out, n, "%s", ref ? json_string_value(json_object_get(ref, "uid")) ?: "" : "");
}

static struct placed *
place(struct bsn_scheduler *s, const char *key, const json_t *pod, const char *node, bool assumed)
{
    struct placed *p = bsn_calloc(1, sizeof(*p));
    snprintf(p->node, sizeof(p->node), "%s", node);
    owner_uid(pod, p->owner, sizeof(p->owner));
    bsn_sched_pod_request(pod, &p->req);
    p->assumed = assumed;
    p->anti =
        json_object_get(json_object_get(bsn_json_path(pod, "spec.affinity"), "podAntiAffinity"),
                        "requiredDuringSchedulingIgnoredDuringExecution") != NULL;
    s->anti_placed += p->anti;
    account(s, p, +1);
    struct placed *old = bsn_map_put(&s->placed, key, p);
    if (old) {
        s->anti_placed -= old->anti;
        account(s, old, -1);
        free(old);
    }
    return p;
}

static void
unplace(struct bsn_scheduler *s, const char *key)
{
    struct placed *p = bsn_map_del(&s->placed, key);
    if (p) {
        s->anti_placed -= p->anti;
        account(s, p, -1);
        free(p);
    }
}

/* Cluster changes come in bursts (a drain, nodes joining or uncordoned one after another): the
 * unschedulable pods are retried once the burst is over, FLUSH_QUIET_MS after its last
 * change but at most FLUSH_MAX_MS after its first, instead of once per change (each retry
 * of a pod that still does not fit costs a status write and an Event). */
#define FLUSH_QUIET_MS 20
#define FLUSH_MAX_MS   200

static void
flush_now(struct bsn_loop *loop, void *data)
{
    struct bsn_scheduler *s = data;
    const char *k;
    void *v;
    size_t it = 0;
    while (bsn_map_next(&s->unsched, &it, &k, &v))
        bsn_workqueue_add(s->q, k);
}

/* Something changed that may let unschedulable pods fit: queue them all again. */
static void
flush_unschedulable(struct bsn_scheduler *s)
{
    if (s->unsched.len == 0)
        return;
    uint64_t now = bsn_mono_ms();
    if (!bsn_timer_active(&s->flush_timer))
        s->flush_first_ms = now;
    uint64_t last = s->flush_first_ms + FLUSH_MAX_MS;
    uint64_t delay = now + FLUSH_QUIET_MS <= last ? FLUSH_QUIET_MS : last > now ? last - now : 0;
    bsn_timer_stop(s->ctx->loop, &s->flush_timer);
    bsn_timer_start(s->ctx->loop, &s->flush_timer, delay, flush_now, s);
}

static bool
pod_wants_us(const json_t *pod)
{
    const char *sn = bsn_json_str(pod, "spec.schedulerName");
    const char *node = bsn_json_str(pod, "spec.nodeName");
    return (!sn || !strcmp(sn, "default-scheduler")) && (!node || !*node) && bsn_pod_active(pod);
}

static void
pod_seen(struct bsn_scheduler *s, json_t *pod)
{
    char key[512];
    bsn_obj_key(pod, key, sizeof(key));
    const char *node = bsn_json_str(pod, "spec.nodeName");
    const char *phase = bsn_json_str(pod, "status.phase") ?: "";
    bool terminal = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
    if (node && *node) {
        free(bsn_map_del(&s->unsched, key));
        if (terminal) {
            if (bsn_map_get(&s->placed, key)) {
                unplace(s, key);
                flush_unschedulable(s);
            }
            return;
        }
        struct placed *p = bsn_map_get(&s->placed, key);
        if (p && !strcmp(p->node, node)) {
            p->assumed = false;
            return;
        }
        place(s, key, pod, node, false);
        return;
    }
    if (pod_wants_us(pod))
        bsn_workqueue_add(s->q, key);
}

static void
pod_added(json_t *pod, void *data)
{
    pod_seen(data, pod);
}

static void
pod_updated(json_t *old, json_t *pod, void *data)
{
    pod_seen(data, pod);
}

static void
pod_deleted(json_t *pod, void *data)
{
    struct bsn_scheduler *s = data;
    char key[512];
    bsn_obj_key(pod, key, sizeof(key));
    free(bsn_map_del(&s->unsched, key));
    free(bsn_map_del(&s->nominated, key));
    if (bsn_map_get(&s->placed, key)) {
        unplace(s, key);
        flush_unschedulable(s);
    }
}

static void
node_seen(struct bsn_scheduler *s, json_t *node)
{
    const char *name = bsn_json_str(node, "metadata.name");
    if (!name)
        return;
    struct bsn_sched_node *n = node_get(s, name, true);
    if (!n->node)
        s->list_dirty = true;
    n->node = node;
    n->labels = bsn_json_path(node, "metadata.labels");
    n->taints = json_object_get(bsn_json_path(node, "spec"), "taints");
    json_t *alloc = bsn_json_path(node, "status.allocatable");
    if (!alloc)
        alloc = bsn_json_path(node, "status.capacity");
    n->alloc_cpu = bsn_quantity_json_value(json_object_get(alloc, "cpu"), true);
    n->alloc_mem = bsn_quantity_json_value(json_object_get(alloc, "memory"), false);
    n->alloc_eph = bsn_quantity_json_value(json_object_get(alloc, "ephemeral-storage"), false);
    if (!json_object_get(alloc, "ephemeral-storage"))
        n->alloc_eph = INT64_MAX / 2;
    n->alloc_pods = bsn_quantity_json_value(json_object_get(alloc, "pods"), false);
    n->unschedulable = json_is_true(
        bsn_json_path(node, "spec") ? json_object_get(bsn_json_path(node, "spec"), "unschedulable")
                                    : NULL);
    n->ready = false;
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(node, "status")
                           ? json_object_get(bsn_json_path(node, "status"), "conditions")
                           : NULL,
                       i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", "Ready"))
            n->ready = !strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True");
    }
    flush_unschedulable(s);
}

static void
node_added(json_t *node, void *data)
{
    node_seen(data, node);
}

static void
node_updated(json_t *old, json_t *node, void *data)
{
    node_seen(data, node);
}

static void
node_deleted(json_t *node, void *data)
{
    struct bsn_scheduler *s = data;
    struct bsn_sched_node *n = node_get(s, bsn_json_str(node, "metadata.name") ?: "", false);
    if (n) {
        n->node = NULL;
        s->list_dirty = true;
    }
}

static void
rebuild_list(struct bsn_scheduler *s)
{
    free(s->list);
    s->list = bsn_calloc(s->node_map.len + 1, sizeof(*s->list));
    s->nlist = 0;
    void *v;
    size_t it = 0;
    while (bsn_map_next(&s->node_map, &it, NULL, &v)) {
        struct bsn_sched_node *n = v;
        if (n->node)
            s->list[s->nlist++] = n;
    }
    s->list_dirty = false;
}

struct bind_ctx {
    struct bsn_scheduler *s;
    char key[512];
};

static void
bind_done(int status, const char *body, size_t len, void *data)
{
    struct bind_ctx *b = data;
    if (status >= 300) {
        struct placed *p = bsn_map_get(&b->s->placed, b->key);
        if (p && p->assumed)
            unplace(b->s, b->key);
    } else {
        b->s->bound++;
    }
    free(b);
}

/* What was last reported about an unschedulable pod (one allocation: free() frees it). */
struct unsched_ent {
    uint64_t at_ms; /* when it was written */
    unsigned reports;
    char msg[];
};

/* A pod whose failure message keeps changing (nodes joining one by one, ...) is reported
 * again only after an interval that starts at 1 s and doubles per report up to 10 s (upstream's
 * pod back-off); it is looked at again when the interval is over and what is true then is
 * reported. Binding never waits for this. */
static uint64_t
report_interval(const struct unsched_ent *ue)
{
    unsigned n = ue->reports > 4 ? 4 : ue->reports;
    uint64_t ms = 1000ull << (n ? n - 1 : 0);
    return ms > 10000 ? 10000 : ms;
}

static void
report_unschedulable(struct bsn_scheduler *s, const char *key, const json_t *pod, const char *msg)
{
    struct unsched_ent *ue = bsn_map_get(&s->unsched, key);
    const char *prev = ue ? ue->msg : NULL;
    uint64_t now_ms = bsn_mono_ms();
    if (prev && strcmp(prev, msg) && now_ms - ue->at_ms < report_interval(ue)) {
        bsn_workqueue_add_after(s->q, key, report_interval(ue) - (now_ms - ue->at_ms));
        return;
    }
    json_t *cond = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(pod, "status")
                           ? json_object_get(bsn_json_path(pod, "status"), "conditions")
                           : NULL,
                       i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", "PodScheduled"))
            cond = c;
    }
    bool same = cond && !strcmp(json_string_value(json_object_get(cond, "message")) ?: "", msg);
    if (!(prev && !strcmp(prev, msg)))
        bsn_ctrl_event(s->ctx, pod, "Warning", "FailedScheduling", "%s", msg);
    if (!prev || strcmp(prev, msg)) {
        size_t ml = strlen(msg);
        struct unsched_ent *ne = bsn_malloc(sizeof(*ne) + ml + 1);
        ne->at_ms = now_ms;
        ne->reports = ue ? ue->reports + 1 : 1;
        memcpy(ne->msg, msg, ml + 1);
        free(bsn_map_put(&s->unsched, key, ne));
    }
    if (same)
        return;
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    json_t *patch = json_pack("{s:{s:[{s:s,s:s,s:n,s:s,s:s,s:s}]}}", "status", "conditions", "type",
                              "PodScheduled", "status", "False", "lastProbeTime",
                              "lastTransitionTime", now, "reason", "Unschedulable", "message", msg);
    char path[600];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status",
             bsn_json_str(pod, "metadata.namespace"), bsn_json_str(pod, "metadata.name"));
    bsn_ctrl_send(s->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL, NULL,
                  NULL);
    json_decref(patch);
}

/* The PodDisruptionBudgets that select each preemption candidate (cands[c].pdbs). */
struct budgets {
    size_t n;
    int64_t *allowed;          /* status.disruptionsAllowed per budget */
    struct bsn_selector *sels; /* spec.selector per budget */
    const char **ns;           /* namespace per budget */
    size_t *idx;               /* storage of the candidates' pdbs lists */
};

static void
budgets_load(struct bsn_scheduler *s, struct budgets *b, struct bsn_sched_cand *cands, size_t nc)
{
    const struct bsn_map *all = bsn_informer_ns(s->pdbs, NULL);
    size_t max = all ? all->len : 0;
    b->allowed = bsn_calloc(max + 1, sizeof(*b->allowed));
    b->sels = bsn_calloc(max + 1, sizeof(*b->sels));
    b->ns = bsn_calloc(max + 1, sizeof(*b->ns));
    b->n = 0;
    size_t it = 0;
    void *v;
    while (all && bsn_map_next(all, &it, NULL, &v)) {
        struct bsn_err e;
        bsn_err_clear(&e);
        if (bsn_selector_from_json(bsn_json_path(v, "spec.selector"), &b->sels[b->n], &e) < 0)
            continue;
        b->allowed[b->n] = bsn_json_int(v, "status.disruptionsAllowed", 0);
        b->ns[b->n] = bsn_json_str(v, "metadata.namespace");
        b->n++;
    }
    b->idx = bsn_calloc(nc * b->n + 1, sizeof(*b->idx));
    for (size_t c = 0; c < nc && b->n; c++) {
        json_t *pp = bsn_informer_get(s->pods, cands[c].key);
        const char *pns = bsn_json_str(pp, "metadata.namespace");
        size_t *mine = b->idx + c * b->n;
        cands[c].pdbs = mine;
        cands[c].npdbs = 0;
        for (size_t j = 0; j < b->n; j++)
            if (pns && b->ns[j] && !strcmp(pns, b->ns[j]) &&
                bsn_selector_match(&b->sels[j], bsn_json_path(pp, "metadata.labels")))
                mine[cands[c].npdbs++] = j;
    }
}

static void
budgets_free(struct budgets *b)
{
    for (size_t j = 0; j < b->n; j++)
        bsn_selector_fini(&b->sels[j]);
    free(b->sels);
    free(b->allowed);
    free(b->ns);
    free(b->idx);
}

/* Priority preemption (preempt.c): deletes lower-priority victims on one node and nominates
 * it for the pod, which is retried as they go. Nothing while earlier victims still go. */
static void
try_preempt(struct bsn_scheduler *s, const char *key, const json_t *pod,
            const struct bsn_sched_req *req, const struct bsn_sched_fail *fails, size_t n)
{
    if (!strcmp(bsn_json_str(pod, "spec.preemptionPolicy") ?: "", "Never"))
        return;
    int64_t prio = bsn_json_int(pod, "spec.priority", 0);
    const char *nom = bsn_map_get(&s->nominated, key);
    struct bsn_sched_cand *cands = bsn_calloc(s->placed.len + 1, sizeof(*cands));
    size_t nc = 0;
    const char *pk;
    void *v;
    size_t it = 0;
    while (bsn_map_next(&s->placed, &it, &pk, &v)) {
        struct placed *p = v;
        json_t *pp = bsn_informer_get(s->pods, pk);
        if (!pp)
            continue;
        if (bsn_ctrl_deleting(pp)) {
            if (nom && !strcmp(nom, p->node))
                goto out; /* our victims are still terminating */
            continue;
        }
        int64_t pr = bsn_json_int(pp, "spec.priority", 0);
        if (pr < prio)
            cands[nc++] = (struct bsn_sched_cand){pk, p->node, &p->req, pr};
    }
    struct budgets b;
    budgets_load(s, &b, cands, nc);
    size_t *vict = bsn_calloc(nc + 1, sizeof(*vict)), nv = 0, nviol = 0;
    int ni = nc ? bsn_sched_preempt_pick(pod, req, s->list, n, fails, cands, nc, b.allowed, b.n,
                                         prio, vict, &nv, &nviol)
                : -1;
    budgets_free(&b);
    if (ni >= 0) {
        const char *node = s->list[ni]->name;
        if (nviol)
            bsn_info("scheduler",
                     "preempting %zu pods on %s for %s: %zu of them against a "
                     "PodDisruptionBudget (no node has victims without)",
                     nv, node, key, nviol);
        for (size_t i = 0; i < nv; i++) {
            json_t *victim = bsn_informer_get(s->pods, cands[vict[i]].key);
            char path[600];
            snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s",
                     bsn_json_str(victim, "metadata.namespace"),
                     bsn_json_str(victim, "metadata.name"));
            bsn_ctrl_event(s->ctx, victim, "Normal", "Preempted", "Preempted by pod %s on node %s",
                           bsn_json_str(pod, "metadata.uid") ?: "", node);
            bsn_ctrl_send(s->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
        }
        free(bsn_map_put(&s->nominated, key, bsn_strdup(node)));
        json_t *patch = json_pack("{s:{s:s}}", "status", "nominatedNodeName", node);
        char path[600];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status",
                 bsn_json_str(pod, "metadata.namespace"), bsn_json_str(pod, "metadata.name"));
        bsn_ctrl_send(s->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL,
                      NULL, NULL);
        json_decref(patch);
    }
    free(vict);
out:
    free(cands);
}

static int
schedule_one(const char *key, void *data)
{
    struct bsn_scheduler *s = data;
    json_t *pod = bsn_informer_get(s->pods, key);
    if (!pod || !pod_wants_us(pod))
        return 0;
    if (!bsn_informer_synced(s->nodes) || !bsn_informer_synced(s->pods))
        return 200;
    struct placed *already = bsn_map_get(&s->placed, key);
    if (already && already->assumed)
        return 0; /* binding in flight */
    if (s->list_dirty)
        rebuild_list(s);
    char vmsg[600];
    int vrc = bsn_sched_vol_prefilter(s->vol, key, pod, s->nlist, vmsg, sizeof(vmsg));
    if (vrc < 0)
        report_unschedulable(s, key, pod, vmsg);
    if (vrc != 0)
        return vrc < 0 ? 0 : vrc;
    struct bsn_sched_req req;
    bsn_sched_pod_request(pod, &req);
    char owner[64];
    owner_uid(pod, owner, sizeof(owner));
    size_t n = s->nlist;
    struct bsn_sched_fail *fails = bsn_calloc(n ? n : 1, sizeof(*fails));
    int64_t *same = bsn_calloc(n ? n : 1, sizeof(*same));
    int64_t max_same = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!bsn_sched_filter(pod, &req, s->list[i], &fails[i]) ||
            !bsn_sched_vol_filter(s->vol, pod, s->list[i], &fails[i])) {
            same[i] = -1;
            continue;
        }
        any = true;
        if (owner[0]) {
            char k[400];
            snprintf(k, sizeof(k), "%s|%s", owner, s->list[i]->name);
            same[i] = (intptr_t)bsn_map_get(&s->owner_cnt, k);
            if (same[i] > max_same)
                max_same = same[i];
        }
    }
    if (any && (s->anti_placed > 0 || bsn_sched_topo_needed(pod))) {
        /* second pass: inter-pod affinity and topology spread over the nodes that fit */
        struct bsn_sched_placed *pv = bsn_calloc(s->placed.len + 1, sizeof(*pv));
        size_t npv = 0;
        const char *pk;
        void *v;
        size_t it = 0;
        while (bsn_map_next(&s->placed, &it, &pk, &v)) {
            struct placed *p = v;
            json_t *ppod = bsn_informer_get(s->pods, pk);
            struct bsn_sched_node *pn = node_get(s, p->node, false);
            if (ppod && pn && pn->node)
                pv[npv++] = (struct bsn_sched_placed){ppod, pn->labels};
        }
        const json_t **cands = bsn_calloc(n + 1, sizeof(*cands));
        size_t ncand = 0;
        for (size_t i = 0; i < n; i++)
            if (same[i] >= 0)
                cands[ncand++] = s->list[i]->labels;
        struct bsn_sched_topo *topo = bsn_sched_topo_new(pod, pv, npv);
        any = false;
        for (size_t i = 0; i < n; i++) {
            if (same[i] < 0)
                continue;
            if (!bsn_sched_topo_filter(topo, s->list[i]->labels, cands, ncand, &fails[i]))
                same[i] = -1;
            else
                any = true;
        }
        bsn_sched_topo_free(topo);
        free(cands);
        free(pv);
    }
    if (!any) {
        char *msg = bsn_sched_message(fails, n);
        try_preempt(s, key, pod, &req, fails, n);
        report_unschedulable(s, key, pod, msg);
        free(msg);
        free(fails);
        free(same);
        return 0;
    }
    struct bsn_sched_node *best = NULL;
    int64_t best_score = -1;
    s->rr++;
    for (size_t j = 0; j < n; j++) {
        size_t i = (j + s->rr) % n;
        if (same[i] < 0)
            continue;
        int64_t sc = bsn_sched_score(pod, &req, s->list[i], same[i], max_same);
        if (sc > best_score) {
            best_score = sc;
            best = s->list[i];
        }
    }
    free(fails);
    free(same);
    free(bsn_map_del(&s->unsched, key));
    free(bsn_map_del(&s->nominated, key));
    if (bsn_sched_vol_reserve(s->vol, key, pod, best->name))
        return 0; /* its claims are being bound on that node; queued again once they are */
    place(s, key, pod, best->name, true);
    const char *ns = bsn_json_str(pod, "metadata.namespace");
    const char *name = bsn_json_str(pod, "metadata.name");
    json_t *b = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s}}", "apiVersion", "v1", "kind",
                          "Binding", "metadata", "name", name, "namespace", ns, "target",
                          "apiVersion", "v1", "kind", "Node", "name", best->name);
    char path[600];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/binding", ns, name);
    struct bind_ctx *bc = bsn_calloc(1, sizeof(*bc));
    bc->s = s;
    snprintf(bc->key, sizeof(bc->key), "%s", key);
    bsn_ctrl_send(s->ctx, "POST", path, NULL, b, s->q, key, bind_done, bc);
    json_decref(b);
    bsn_ctrl_event(s->ctx, pod, "Normal", "Scheduled", "Successfully assigned %s/%s to %s", ns,
                   name, best->name);
    return 0;
}

struct bsn_scheduler *
bsn_scheduler_new(struct bsn_ctrl *ctx)
{
    struct bsn_scheduler *s = bsn_calloc(1, sizeof(*s));
    s->ctx = ctx;
    bsn_map_init(&s->node_map);
    bsn_map_init(&s->placed);
    bsn_map_init(&s->unsched);
    bsn_timer_init(&s->flush_timer);
    bsn_map_init(&s->owner_cnt);
    bsn_map_init(&s->nominated);
    s->q = bsn_workqueue_new(ctx->loop, "scheduler", schedule_one, s);
    s->nodes = bsn_ctrl_informer(ctx, "/api/v1/nodes");
    s->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    s->pdbs = bsn_ctrl_informer(ctx, "/apis/policy/v1/poddisruptionbudgets");
    s->vol = bsn_sched_vol_new(ctx, s->q);
    struct bsn_informer_handler hn = {node_added, node_updated, node_deleted, s};
    bsn_informer_add_handler(s->nodes, &hn);
    struct bsn_informer_handler hp = {pod_added, pod_updated, pod_deleted, s};
    bsn_informer_add_handler(s->pods, &hp);
    return s;
}

void
bsn_scheduler_free(struct bsn_scheduler *s)
{
    if (!s)
        return;
    bsn_timer_stop(s->ctx->loop, &s->flush_timer);
    bsn_workqueue_free(s->q);
    bsn_sched_vol_free(s->vol);
    void *v;
    size_t it = 0;
    while (bsn_map_next(&s->node_map, &it, NULL, &v)) {
        struct bsn_sched_node *n = v;
        free(n->ports);
        free(n);
    }
    bsn_map_fini(&s->node_map);
    it = 0;
    while (bsn_map_next(&s->placed, &it, NULL, &v))
        free(v);
    bsn_map_fini(&s->placed);
    it = 0;
    while (bsn_map_next(&s->unsched, &it, NULL, &v))
        free(v);
    bsn_map_fini(&s->unsched);
    bsn_map_fini(&s->owner_cnt);
    it = 0;
    while (bsn_map_next(&s->nominated, &it, NULL, &v))
        free(v);
    bsn_map_fini(&s->nominated);
    free(s->list);
    free(s);
}
