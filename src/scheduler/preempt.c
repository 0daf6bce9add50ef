/*
 * preempt.c - choosing preemption victims (see preempt.h). Pure: the scheduling loop
 * (scheduler.c) gathers the candidates and deletes the victims.
 */
#include "scheduler/preempt.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct pick {
    size_t idx; /* into cands */
    int64_t prio;
    bool violating; /* its eviction takes a budget below zero */
};

static int
by_prio_desc(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;
    return x->prio < y->prio ? 1 : x->prio > y->prio ? -1 : 0;
}

static void
take(struct bsn_sched_node *n, const struct bsn_sched_req *r, int sign)
{
    n->used_cpu += sign * r->cpu_milli;
    n->used_mem += sign * r->memory;
    n->used_eph += sign * r->ephemeral;
    n->used_pods += sign;
}

/* Marks the violating pods of lower (sorted by priority, highest first) as upstream's
 * filterPodsWithPDBViolation: each pod uses one disruption of every budget selecting it. */
static void
mark_violating(struct pick *lower, size_t nl, const struct bsn_sched_cand *cands,
               const int64_t *pdb_allowed, size_t npdb, int64_t *left)
{
    if (npdb)
        memcpy(left, pdb_allowed, npdb * sizeof(*left));
    for (size_t k = 0; k < nl; k++) {
        const struct bsn_sched_cand *c = &cands[lower[k].idx];
        lower[k].violating = false;
        for (size_t j = 0; j < c->npdbs; j++)
            if (c->pdbs[j] < npdb && --left[c->pdbs[j]] < 0)
                lower[k].violating = true;
    }
}

/* Gives back the pods of one class (violating or not), most important first, while the pod
 * still fits; the others become victims. */
static void
reprieve(const json_t *pod, const struct bsn_sched_req *req, struct bsn_sched_node *n,
         const struct pick *lower, size_t nl, const struct bsn_sched_cand *cands, bool violating,
         size_t *cur, size_t *nv, size_t *nviol, int64_t *vmax, int64_t *vsum)
{
    struct bsn_sched_fail why;
    for (size_t k = 0; k < nl; k++) {
        if (lower[k].violating != violating)
            continue;
        take(n, cands[lower[k].idx].req, +1);
        if (bsn_sched_filter(pod, req, n, &why))
            continue;
        take(n, cands[lower[k].idx].req, -1);
        cur[(*nv)++] = lower[k].idx;
        *vsum += lower[k].prio;
        if (lower[k].prio > *vmax)
            *vmax = lower[k].prio;
        if (violating)
            (*nviol)++;
    }
}

int
bsn_sched_preempt_pick(const json_t *pod, const struct bsn_sched_req *req,
                       struct bsn_sched_node *const *nodes, size_t nnodes,
                       const struct bsn_sched_fail *fails, const struct bsn_sched_cand *cands,
                       size_t ncand, const int64_t *pdb_allowed, size_t npdb, int64_t prio,
                       size_t *victims, size_t *nvictims, size_t *nviolating)
{
    int best = -1;
    int64_t best_max = 0, best_sum = 0;
    size_t best_n = 0, best_viol = 0;
    struct pick *lower = bsn_calloc(ncand + 1, sizeof(*lower));
    size_t *cur = bsn_calloc(ncand + 1, sizeof(*cur));
    int64_t *left = bsn_calloc(npdb + 1, sizeof(*left));
    *nvictims = 0;
    if (nviolating)
        *nviolating = 0;
    for (size_t i = 0; i < nnodes; i++) {
        if (!fails[i].resolvable_by_preemption)
            continue;
        struct bsn_sched_node n = *nodes[i];
        size_t nl = 0;
        for (size_t c = 0; c < ncand; c++)
            if (cands[c].priority < prio && !strcmp(cands[c].node, n.name)) {
                lower[nl++] = (struct pick){c, cands[c].priority, false};
                take(&n, cands[c].req, -1);
            }
        struct bsn_sched_fail why;
        if (nl == 0 || !bsn_sched_filter(pod, req, &n, &why))
            continue;
        qsort(lower, nl, sizeof(*lower), by_prio_desc);
        mark_violating(lower, nl, cands, pdb_allowed, npdb, left);
        size_t nv = 0, nviol = 0;
        int64_t vmax = INT64_MIN, vsum = 0;
        reprieve(pod, req, &n, lower, nl, cands, true, cur, &nv, &nviol, &vmax, &vsum);
        reprieve(pod, req, &n, lower, nl, cands, false, cur, &nv, &nviol, &vmax, &vsum);
        if (nv == 0)
            continue;
        if (best < 0 || nviol < best_viol ||
            (nviol == best_viol && (vmax < best_max || (vmax == best_max && vsum < best_sum) ||
                                    (vmax == best_max && vsum == best_sum && nv < best_n)))) {
            best = (int)i;
            best_viol = nviol;
            best_max = vmax;
            best_sum = vsum;
            best_n = nv;
            memcpy(victims, cur, nv * sizeof(*cur));
            *nvictims = nv;
            if (nviolating)
                *nviolating = nviol;
        }
    }
    free(lower);
    free(cur);
    free(left);
    return best;
}
