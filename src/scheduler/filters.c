/*
 * filters.c - the scheduler's filter and score plugins and its failure message (pure code).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "scheduler/scheduler.h"
#include "scheduler/volumes.h"

void
bsn_sched_pod_request(const json_t *pod, struct bsn_sched_req *out)
{
    memset(out, 0, sizeof(*out));
    json_t *spec = bsn_json_path(pod, "spec");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        json_t *r = bsn_json_path(c, "resources.requests");
        out->cpu_milli += bsn_quantity_json_value(json_object_get(r, "cpu"), true);
        out->memory += bsn_quantity_json_value(json_object_get(r, "memory"), false);
        out->ephemeral += bsn_quantity_json_value(json_object_get(r, "ephemeral-storage"), false);
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            json_int_t hp = json_integer_value(json_object_get(p, "hostPort"));
            if (hp > 0 && out->nports < (int)BSN_ARRAY_LEN(out->ports))
                out->ports[out->nports++] = (int32_t)hp;
        }
    }
    /* init containers run one at a time: the pod needs at least the largest of them */
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        json_t *r = bsn_json_path(c, "resources.requests");
        int64_t cpu = bsn_quantity_json_value(json_object_get(r, "cpu"), true);
        int64_t mem = bsn_quantity_json_value(json_object_get(r, "memory"), false);
        if (cpu > out->cpu_milli)
            out->cpu_milli = cpu;
        if (mem > out->memory)
            out->memory = mem;
    }
    out->tolerations = json_object_get(spec, "tolerations");
    out->node_selector = json_object_get(spec, "nodeSelector");
    json_t *na = bsn_json_path(pod, "spec.affinity.nodeAffinity");
    out->required_terms = json_object_get(
        json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution"), "nodeSelectorTerms");
    out->preferred_terms = json_object_get(na, "preferredDuringSchedulingIgnoredDuringExecution");
    json_t *oh = json_object_get(spec, "overhead");
    out->cpu_milli += bsn_quantity_json_value(json_object_get(oh, "cpu"), true);
    out->memory += bsn_quantity_json_value(json_object_get(oh, "memory"), false);
}

static bool
tolerated_kv(const json_t *tolerations, const char *tk, const char *tv, const char *te)
{
    size_t i;
    json_t *t;
    json_array_foreach(tolerations, i, t)
    {
        const char *k = json_string_value(json_object_get(t, "key")) ?: "";
        const char *op = json_string_value(json_object_get(t, "operator")) ?: "Equal";
        const char *v = json_string_value(json_object_get(t, "value")) ?: "";
        const char *e = json_string_value(json_object_get(t, "effect")) ?: "";
        if (*e && strcmp(e, te))
            continue;
        if (!strcmp(op, "Exists")) {
            if (!*k || !strcmp(k, tk))
                return true;
        } else if (!strcmp(k, tk) && !strcmp(v, tv)) {
            return true;
        }
    }
    return false;
}

static bool
tolerated(const json_t *tolerations, const json_t *taint)
{
    return tolerated_kv(tolerations, json_string_value(json_object_get(taint, "key")) ?: "",
                        json_string_value(json_object_get(taint, "value")) ?: "",
                        json_string_value(json_object_get(taint, "effect")) ?: "");
}

/* One NodeSelectorRequirement against labels (or the node name for matchFields). */
static bool
req_match(const json_t *req, const json_t *labels, const char *field_value)
{
    const char *key = json_string_value(json_object_get(req, "key")) ?: "";
    const char *op = json_string_value(json_object_get(req, "operator")) ?: "";
    json_t *vals = json_object_get(req, "values");
    const char *have = field_value ? field_value : json_string_value(json_object_get(labels, key));
    if (!strcmp(op, "Exists"))
        return have != NULL;
    if (!strcmp(op, "DoesNotExist"))
        return have == NULL;
    if (!strcmp(op, "In") || !strcmp(op, "NotIn")) {
        bool found = false;
        size_t i;
        json_t *v;
        json_array_foreach(vals, i, v)
        {
            if (have && !strcmp(have, json_string_value(v) ?: ""))
                found = true;
        }
        return !strcmp(op, "In") ? found : !found;
    }
    if (!strcmp(op, "Gt") || !strcmp(op, "Lt")) {
        if (!have || json_array_size(vals) != 1)
            return false;
        long long a = strtoll(have, NULL, 10);
        long long b = strtoll(json_string_value(json_array_get(vals, 0)) ?: "0", NULL, 10);
        return !strcmp(op, "Gt") ? a > b : a < b;
    }
    return false;
}

static bool
term_match(const json_t *term, const json_t *labels, const char *node_name)
{
    json_t *exprs = json_object_get(term, "matchExpressions");
    json_t *fields = json_object_get(term, "matchFields");
    if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
        return false; /* an empty term matches nothing */
    size_t i;
    json_t *r;
    json_array_foreach(exprs, i, r)
    {
        if (!req_match(r, labels, NULL))
            return false;
    }
    json_array_foreach(fields, i, r)
    {
        const char *k = json_string_value(json_object_get(r, "key")) ?: "";
        if (strcmp(k, "metadata.name") || !req_match(r, labels, node_name))
            return false;
    }
    return true;
}

bool
bsn_sched_terms_match(const json_t *terms, const json_t *labels, const char *node_name)
{
    size_t i;
    json_t *t;
    json_array_foreach(terms, i, t)
    {
        if (term_match(t, labels, node_name))
            return true;
    }
    return false;
}

static bool
affinity_match(const struct bsn_sched_req *req, const json_t *labels, const char *node_name)
{
    json_t *ns = req->node_selector;
    const char *k;
    json_t *v;
    json_object_foreach(ns, k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!have || strcmp(have, json_string_value(v) ?: ""))
            return false;
    }
    json_t *terms = req->required_terms;
    if (!json_is_array(terms))
        return true;
    size_t i;
    json_t *t;
    json_array_foreach(terms, i, t)
    {
        if (term_match(t, labels, node_name))
            return true;
    }
    return false;
}

static void
add_reason(struct bsn_sched_fail *why, const char *fmt, const char *a, const char *b)
{
    if (why->nreasons >= 4)
        return;
    snprintf(why->reasons[why->nreasons++], sizeof(why->reasons[0]), fmt, a, b);
}

bool
bsn_sched_filter(const json_t *pod, const struct bsn_sched_req *req, const struct bsn_sched_node *n,
                 struct bsn_sched_fail *why)
{
    memset(why, 0, sizeof(*why));
    json_t *tol = req->tolerations;
    /* NodeUnschedulable: cordoned nodes, unless the pod tolerates the unschedulable taint */
    if (n->unschedulable) {
        if (!tolerated_kv(tol, "node.kubernetes.io/unschedulable", "", "NoSchedule")) {
            add_reason(why, "node(s) were unschedulable", NULL, NULL);
            return false;
        }
    }
    /* TaintToleration (a not-Ready node counts as tainted not-ready:NoSchedule) */
    if (!n->ready) {
        json_t *t =
            json_pack("{s:s,s:s}", "key", "node.kubernetes.io/not-ready", "effect", "NoSchedule");
        bool ok = tolerated(tol, t);
        json_decref(t);
        if (!ok) {
            add_reason(why, "node(s) had untolerated taint {%s: %s}",
                       "node.kubernetes.io/not-ready", "");
            return false;
        }
    }
    size_t i;
    json_t *taint;
    json_array_foreach(n->taints, i, taint)
    {
        const char *eff = json_string_value(json_object_get(taint, "effect")) ?: "";
        if (strcmp(eff, "NoSchedule") && strcmp(eff, "NoExecute"))
            continue;
        if (!tolerated(tol, taint)) {
            add_reason(why, "node(s) had untolerated taint {%s: %s}",
                       json_string_value(json_object_get(taint, "key")) ?: "",
                       json_string_value(json_object_get(taint, "value")) ?: "");
            return false;
        }
    }
    /* NodeAffinity */
    if (!affinity_match(req, n->labels, n->name)) {
        add_reason(why, "node(s) didn't match Pod's node affinity/selector", NULL, NULL);
        return false;
    }
    /* NodePorts */
    for (int p = 0; p < req->nports; p++)
        for (size_t j = 0; j < n->nports; j++)
            if (n->ports[j] == req->ports[p]) {
                add_reason(why, "node(s) didn't have free ports for the requested pod ports", NULL,
                           NULL);
                return false;
            }
    /* NodeResourcesFit: every insufficient resource is reported */
    why->resolvable_by_preemption = true;
    if (n->used_pods + 1 > n->alloc_pods)
        add_reason(why, "Too many pods", NULL, NULL);
    if (req->cpu_milli > 0 && n->used_cpu + req->cpu_milli > n->alloc_cpu)
        add_reason(why, "Insufficient cpu", NULL, NULL);
    if (req->memory > 0 && n->used_mem + req->memory > n->alloc_mem)
        add_reason(why, "Insufficient memory", NULL, NULL);
    if (req->ephemeral > 0 && n->used_eph + req->ephemeral > n->alloc_eph)
        add_reason(why, "Insufficient ephemeral-storage", NULL, NULL);
    if (why->nreasons > 0)
        return false;
    why->resolvable_by_preemption = false;
    return true;
}

int64_t
bsn_sched_score(const json_t *pod, const struct bsn_sched_req *req, const struct bsn_sched_node *n,
                int64_t same_owner, int64_t max_same)
{
    /* upstream scores pods without requests as if they asked for 100m cpu and 200Mi */
    int64_t cpu = req->cpu_milli ? req->cpu_milli : 100;
    int64_t mem = req->memory ? req->memory : 200LL * 1024 * 1024;
    int64_t ucpu = n->used_cpu + cpu, umem = n->used_mem + mem;
    int64_t acpu = n->alloc_cpu > 0 ? n->alloc_cpu : 1, amem = n->alloc_mem > 0 ? n->alloc_mem : 1;
    double fc = (double)ucpu / (double)acpu, fm = (double)umem / (double)amem;
    if (fc > 1)
        fc = 1;
    if (fm > 1)
        fm = 1;
    int64_t least = (int64_t)(((1 - fc) + (1 - fm)) * 50);
    double diff = fc > fm ? fc - fm : fm - fc;
    int64_t balanced = (int64_t)((1 - diff) * 100);
    int64_t spread = max_same > 0 ? 100 - same_owner * 100 / max_same : 100;
    int64_t pref = 0;
    size_t i;
    json_t *t;
    json_array_foreach(req->preferred_terms, i, t)
    {
        if (term_match(json_object_get(t, "preference"), n->labels, n->name))
            pref += json_integer_value(json_object_get(t, "weight"));
    }
    return least + balanced + 2 * spread + pref;
}

struct reason_count {
    char text[160];
    size_t n;
};

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
count_into(struct reason_count **rc, size_t *nrc, const char *text)
{
    for (size_t i = 0; i < *nrc; i++)
        if (!strcmp((*rc)[i].text, text)) {
            (*rc)[i].n++;
            return;
        }
    *rc = bsn_realloc(*rc, (*nrc + 1) * sizeof(**rc));
    snprintf((*rc)[*nrc].text, sizeof((*rc)[0].text), "%s", text);
    (*rc)[*nrc].n = 1;
    (*nrc)++;
}

static void
append_sorted(struct bsn_buf *b, struct reason_count *rc, size_t nrc)
{
    char **strs = bsn_calloc(nrc ? nrc : 1, sizeof(*strs));
    for (size_t i = 0; i < nrc; i++)
        strs[i] = bsn_sprintf("%zu %s", rc[i].n, rc[i].text);
    qsort(strs, nrc, sizeof(*strs), cmp_str);
    for (size_t i = 0; i < nrc; i++) {
        bsn_buf_printf(b, "%s%s", i ? ", " : "", strs[i]);
        free(strs[i]);
    }
    free(strs);
}

char *
bsn_sched_message(const struct bsn_sched_fail *fails, size_t nnodes)
{
    if (nnodes == 0)
        return bsn_strdup("no nodes available to schedule pods");
    struct reason_count *rc = NULL, *pc = NULL;
    size_t nrc = 0, npc = 0;
    for (size_t i = 0; i < nnodes; i++) {
        for (int j = 0; j < fails[i].nreasons; j++)
            count_into(&rc, &nrc, fails[i].reasons[j]);
        count_into(&pc, &npc,
                   fails[i].resolvable_by_preemption
                       ? "No preemption victims found for incoming pod"
                       : "Preemption is not helpful for scheduling");
    }
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_printf(&b, "0/%zu nodes are available: ", nnodes);
    append_sorted(&b, rc, nrc);
    bsn_buf_printf(&b, ". preemption: 0/%zu nodes are available: ", nnodes);
    append_sorted(&b, pc, npc);
    bsn_buf_putc(&b, '.');
    free(rc);
    free(pc);
    return bsn_buf_take(&b);
}
