/*
 * interpod.c - the InterPodAffinity and PodTopologySpread filters: required pod affinity and
 * anti-affinity (checked as upstream: the incoming pod's affinity, its anti-affinity, then
 * existing pods' anti-affinity against it) and
 * topologySpreadConstraints with whenUnsatisfiable DoNotSchedule, over the topology domains
 * given by node labels (kubernetes.io/hostname, topology.kubernetes.io/zone, any label).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/map.h"
#include "base/mem.h"
#include "codec/json.h"
#include "codec/selector.h"
#include "scheduler/scheduler.h"

struct term {
    char *topo_key;
    struct bsn_selector sel;
    json_t *namespaces; /* borrowed; NULL = the pod's namespace; "*" via all_ns */
    bool all_ns;
    struct bsn_map domains; /* domain value -> (uintptr_t) matching pods */
    size_t total;
    int64_t max_skew;
    bool self_match; /* the incoming pod matches its own affinity term */
};

struct bsn_sched_topo {
    const char *ns;
    struct term *aff, *anti, *spread;
    size_t naff, nanti, nspread;
    /* existing pods' anti-affinity terms that match the incoming pod: domains to avoid */
    struct bsn_map avoid; /* "key=value" -> 1 */
};

static bool
ns_ok(const struct term *t, const char *want_ns, const char *pod_ns)
{
    if (t->all_ns)
        return true;
    if (!t->namespaces || json_array_size(t->namespaces) == 0)
        return !strcmp(want_ns ? want_ns : "", pod_ns ? pod_ns : "");
    size_t i;
    json_t *v;
    json_array_foreach(t->namespaces, i, v)
    {
        if (!strcmp(json_string_value(v) ?: "", pod_ns ? pod_ns : ""))
            return true;
    }
    return false;
}

static size_t
load_terms(const json_t *arr, bool spread, struct term **out)
{
    size_t n = json_array_size(arr), k = 0;
    *out = n ? bsn_calloc(n, sizeof(**out)) : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        struct term *t = &(*out)[k];
        struct bsn_err err;
        const char *tk = json_string_value(json_object_get(v, "topologyKey"));
        if (!tk || bsn_selector_from_json(json_object_get(v, "labelSelector"), &t->sel, &err) < 0)
            continue;
        if (spread && strcmp(json_string_value(json_object_get(v, "whenUnsatisfiable")) ?: "",
                             "DoNotSchedule")) {
            bsn_selector_fini(&t->sel);
            continue;
        }
        t->topo_key = bsn_strdup(tk);
        t->namespaces = json_object_get(v, "namespaces");
        t->all_ns = json_object_get(v, "namespaceSelector") != NULL &&
                    json_object_size(json_object_get(v, "namespaceSelector")) == 0;
        t->max_skew = json_integer_value(json_object_get(v, "maxSkew"));
        bsn_map_init(&t->domains);
        k++;
    }
    return k;
}

static void
free_terms(struct term *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].topo_key);
        bsn_selector_fini(&t[i].sel);
        bsn_map_fini(&t[i].domains);
    }
    free(t);
}

static void
count(struct term *t, size_t n, const char *ns, const json_t *pod, const json_t *labels,
      const json_t *node_labels)
{
    for (size_t i = 0; i < n; i++) {
        if (!ns_ok(&t[i], ns, bsn_json_str(pod, "metadata.namespace")) ||
            !bsn_selector_match(&t[i].sel, labels))
            continue;
        const char *dom = json_string_value(json_object_get(node_labels, t[i].topo_key));
        if (!dom)
            continue;
        uintptr_t c = (uintptr_t)bsn_map_get(&t[i].domains, dom);
        bsn_map_put(&t[i].domains, dom, (void *)(c + 1));
        t[i].total++;
    }
}

bool
bsn_sched_topo_needed(const json_t *pod)
{
    json_t *aff = bsn_json_path(pod, "spec.affinity");
    return json_object_get(aff, "podAffinity") || json_object_get(aff, "podAntiAffinity") ||
           json_array_size(bsn_json_path(pod, "spec") ? json_object_get(bsn_json_path(pod, "spec"),
                                                                        "topologySpreadConstraints")
                                                      : NULL) > 0;
}

struct bsn_sched_topo *
bsn_sched_topo_new(const json_t *pod, const struct bsn_sched_placed *placed, size_t n)
{
    struct bsn_sched_topo *t = bsn_calloc(1, sizeof(*t));
    t->ns = bsn_json_str(pod, "metadata.namespace");
    json_t *aff = bsn_json_path(pod, "spec.affinity");
    t->naff = load_terms(json_object_get(json_object_get(aff, "podAffinity"),
                                         "requiredDuringSchedulingIgnoredDuringExecution"),
                         false, &t->aff);
    t->nanti = load_terms(json_object_get(json_object_get(aff, "podAntiAffinity"),
                                          "requiredDuringSchedulingIgnoredDuringExecution"),
                          false, &t->anti);
    t->nspread = load_terms(
        json_object_get(bsn_json_path(pod, "spec"), "topologySpreadConstraints"), true, &t->spread);
    json_t *labels = bsn_json_path(pod, "metadata.labels");
    for (size_t i = 0; i < t->naff; i++)
        t->aff[i].self_match = bsn_selector_match(&t->aff[i].sel, labels);
    bsn_map_init(&t->avoid);
    for (size_t i = 0; i < n; i++) {
        const json_t *p = placed[i].pod;
        json_t *pl = bsn_json_path(p, "metadata.labels");
        count(t->aff, t->naff, t->ns, p, pl, placed[i].node_labels);
        count(t->anti, t->nanti, t->ns, p, pl, placed[i].node_labels);
        count(t->spread, t->nspread, t->ns, p, pl, placed[i].node_labels);
        /* symmetry: an existing pod's required anti-affinity that matches the incoming pod */
        json_t *ea =
            json_object_get(json_object_get(bsn_json_path(p, "spec.affinity"), "podAntiAffinity"),
                            "requiredDuringSchedulingIgnoredDuringExecution");
        if (!ea)
            continue;
        struct term *et;
        size_t ne = load_terms(ea, false, &et);
        for (size_t j = 0; j < ne; j++) {
            if (!ns_ok(&et[j], bsn_json_str(p, "metadata.namespace"), t->ns) ||
                !bsn_selector_match(&et[j].sel, labels))
                continue;
            const char *dom =
                json_string_value(json_object_get(placed[i].node_labels, et[j].topo_key));
            if (dom) {
                char k[512];
                snprintf(k, sizeof(k), "%s=%s", et[j].topo_key, dom);
                bsn_map_put(&t->avoid, k, (void *)1);
            }
        }
        free_terms(et, ne);
    }
    return t;
}

static void
fail(struct bsn_sched_fail *why, const char *msg, bool preemptible)
{
    memset(why, 0, sizeof(*why));
    why->nreasons = 1;
    snprintf(why->reasons[0], sizeof(why->reasons[0]), "%s", msg);
    why->resolvable_by_preemption = preemptible;
}

bool
bsn_sched_topo_filter(struct bsn_sched_topo *t, const json_t *node_labels,
                      const json_t *const *candidates, size_t ncand, struct bsn_sched_fail *why)
{
    for (size_t i = 0; i < t->naff; i++) {
        const char *dom = json_string_value(json_object_get(node_labels, t->aff[i].topo_key));
        bool ok = dom && bsn_map_get(&t->aff[i].domains, dom);
        /* upstream: a pod matching its own term may start the group when none exists yet */
        if (!ok && dom && t->aff[i].total == 0 && t->aff[i].self_match)
            ok = true;
        if (!ok) {
            fail(why, "node(s) didn't match pod affinity rules", false);
            return false;
        }
    }
    for (size_t i = 0; i < t->nanti; i++) {
        const char *dom = json_string_value(json_object_get(node_labels, t->anti[i].topo_key));
        if (dom && bsn_map_get(&t->anti[i].domains, dom)) {
            fail(why, "node(s) didn't match pod anti-affinity rules", true);
            return false;
        }
    }
    if (t->avoid.len) {
        const char *k;
        size_t it = 0;
        while (bsn_map_next(&t->avoid, &it, &k, NULL)) {
            const char *eq = strchr(k, '=');
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - k), k);
            const char *dom = json_string_value(json_object_get(node_labels, key));
            if (dom && !strcmp(dom, eq + 1)) {
                fail(why, "node(s) didn't satisfy existing pods anti-affinity rules", true);
                return false;
            }
        }
    }
    for (size_t i = 0; i < t->nspread; i++) {
        struct term *s = &t->spread[i];
        const char *dom = json_string_value(json_object_get(node_labels, s->topo_key));
        if (!dom) {
            fail(why,
                 "node(s) didn't match pod topology spread constraints (missing required label)",
                 false);
            return false;
        }
        /* the least loaded domain among the candidate nodes */
        int64_t min = -1;
        for (size_t c = 0; c < ncand; c++) {
            const char *cd = json_string_value(json_object_get(candidates[c], s->topo_key));
            if (!cd)
                continue;
            int64_t v = (int64_t)(uintptr_t)bsn_map_get(&s->domains, cd);
            if (min < 0 || v < min)
                min = v;
        }
        if (min < 0)
            min = 0;
        int64_t here = (int64_t)(uintptr_t)bsn_map_get(&s->domains, dom);
        if (here + 1 - min > (s->max_skew > 0 ? s->max_skew : 1)) {
            fail(why, "node(s) didn't match pod topology spread constraints", true);
            return false;
        }
    }
    return true;
}

void
bsn_sched_topo_free(struct bsn_sched_topo *t)
{
    if (!t)
        return;
    free_terms(t->aff, t->naff);
    free_terms(t->anti, t->nanti);
    free_terms(t->spread, t->nspread);
    bsn_map_fini(&t->avoid);
    free(t);
}
