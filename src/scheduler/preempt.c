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

int
bsn_sched_preempt_pick(const json_t *pod, const struct bsn_sched_req *req,
                       struct bsn_sched_node *const *nodes, size_t nnodes,
                       const struct bsn_sched_fail *fails, const struct bsn_sched_cand *cands,
                       size_t ncand, int64_t prio, size_t *victims, size_t *nvictims)
{
    int best = -1;
    int64_t best_max = 0, best_sum = 0;
    size_t best_n = 0;
    struct pick *lower = bsn_calloc(ncand + 1, sizeof(*lower));
    size_t *cur = bsn_calloc(ncand + 1, sizeof(*cur));
    *nvictims = 0;
    for (size_t i = 0; i < nnodes; i++) {
        if (!fails[i].resolvable_by_preemption)
            continue;
        struct bsn_sched_node n = *nodes[i];
        size_t nl = 0;
        for (size_t c = 0; c < ncand; c++)
            if (cands[c].priority < prio && !strcmp(cands[c].node, n.name)) {
                lower[nl++] = (struct pick){c, cands[c].priority};
                take(&n, cands[c].req, -1);
            }
        struct bsn_sched_fail why;
        if (nl == 0 || !bsn_sched_filter(pod, req, &n, &why))
            continue;
        /* give pods back, most important first, while the pod still fits */
        qsort(lower, nl, sizeof(*lower), by_prio_desc);
        size_t nv = 0;
        int64_t vmax = INT64_MIN, vsum = 0;
        for (size_t k = 0; k < nl; k++) {
            take(&n, cands[lower[k].idx].req, +1);
            if (bsn_sched_filter(pod, req, &n, &why))
                continue;
            take(&n, cands[lower[k].idx].req, -1);
            cur[nv++] = lower[k].idx;
            vsum += lower[k].prio;
            if (lower[k].prio > vmax)
                vmax = lower[k].prio;
        }
        if (nv == 0)
            continue;
        if (best < 0 || vmax < best_max || (vmax == best_max && vsum < best_sum) ||
            (vmax == best_max && vsum == best_sum && nv < best_n)) {
            best = (int)i;
            best_max = vmax;
            best_sum = vsum;
            best_n = nv;
            memcpy(victims, cur, nv * sizeof(*cur));
            *nvictims = nv;
        }
    }
    free(lower);
    free(cur);
    return best;
}
