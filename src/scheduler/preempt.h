/*
 * preempt.h - priority preemption (upstream DefaultPreemption, simplified): when a pod fits
 * nowhere, on each node whose failure lower-priority pods could resolve (NodeResourcesFit),
 * remove every lower-priority pod, check the pod fits, then give pods back from the highest
 * priority down while it still fits; what cannot be given back are the victims.
 * PodDisruptionBudgets as upstream: going down by priority, a pod whose eviction would take a
 * budget that selects it below zero disruptions allowed is "violating"; violating pods are
 * given back first. The node chosen has the fewest violating victims, then the lowest
 * highest-victim priority, then the lowest sum of victim priorities, then the fewest victims.
 */
#ifndef BSN_SCHEDULER_PREEMPT_H
#define BSN_SCHEDULER_PREEMPT_H

#include <stddef.h>
#include <stdint.h>

#include "scheduler/scheduler.h"

/* A placed pod that might be preempted. */
struct bsn_sched_cand {
    const char *key;  /* ns/name */
    const char *node; /* node it is on */
    const struct bsn_sched_req *req;
    int64_t priority;
    const size_t *pdbs; /* budgets selecting the pod: indexes into pdb_allowed */
    size_t npdbs;
};

/*
 * Chooses a node and victims for a pod of priority prio that failed on every node (fails[i]
 * for nodes[i]). pdb_allowed[k] is budget k's status.disruptionsAllowed (npdb budgets).
 * Returns the node's index or -1 when preemption does not help; victims get the indexes (into
 * cands) of the pods to delete, *nvictims their count (victims has room for ncand entries),
 * *nviolating how many of them violate a budget (may be NULL).
 */
int bsn_sched_preempt_pick(const json_t *pod, const struct bsn_sched_req *req,
                           struct bsn_sched_node *const *nodes, size_t nnodes,
                           const struct bsn_sched_fail *fails, const struct bsn_sched_cand *cands,
                           size_t ncand, const int64_t *pdb_allowed, size_t npdb, int64_t prio,
                           size_t *victims, size_t *nvictims, size_t *nviolating);

#endif
