/*
 * scheduler.h - the default scheduler: binds pods (spec.schedulerName default-scheduler or
 * unset, spec.nodeName empty) to nodes.
 *
 * Filters, in upstream's order, stopping at a node's first failing plugin: NodeUnschedulable
 * (and not-Ready nodes as the not-ready taint), TaintToleration (NoSchedule/NoExecute),
 * NodeAffinity (nodeSelector + required node affinity), NodePorts, NodeResourcesFit (cpu,
 * memory, ephemeral-storage, pod count against allocatable minus placed pods). Scores:
 * least-allocated, balanced allocation, spreading of a workload's replicas (same controller
 * owner) and preferred node affinity. Binding is a POST to pods/NAME/binding; a pod that fits
 * nowhere gets PodScheduled=False/Unschedulable with upstream's message and a
 * FailedScheduling event, and is retried when a node or a pod changes.
 *
 * Accounting is incremental: each node keeps the sum of what its pods request, updated from
 * the pod informer and at once when the scheduler assumes a binding.
 */
#ifndef BSN_SCHEDULER_SCHEDULER_H
#define BSN_SCHEDULER_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bsn_ctrl;
struct bsn_scheduler;

struct bsn_scheduler *bsn_scheduler_new(struct bsn_ctrl *ctx);
void bsn_scheduler_free(struct bsn_scheduler *s);

/* ---- the pure part, unit-tested ---- */

/* What a pod asks for. */
struct bsn_sched_req {
    int64_t cpu_milli, memory, ephemeral;
    int32_t ports[16]; /* host ports (TCP and UDP alike) */
    int nports;
    /* borrowed from the pod, looked up once */
    json_t *tolerations, *node_selector, *required_terms, *preferred_terms;
};
void bsn_sched_pod_request(const json_t *pod, struct bsn_sched_req *out);

/* One node as the filters see it. */
struct bsn_sched_node {
    char name[254];
    json_t *node;   /* borrowed Node object */
    json_t *labels; /* its metadata.labels and spec.taints, borrowed */
    json_t *taints;
    int64_t alloc_cpu, alloc_mem, alloc_eph, alloc_pods;
    int64_t used_cpu, used_mem, used_eph, used_pods;
    int32_t *ports;
    size_t nports, capports;
    bool ready, unschedulable;
};

/* Filter outcome per node: 0 = fits, otherwise failing plugin and reasons. */
struct bsn_sched_fail {
    int nreasons;
    char reasons[4][160];
    bool resolvable_by_preemption;
};
/* Runs the filters; returns true when the pod fits on the node. */
bool bsn_sched_filter(const json_t *pod, const struct bsn_sched_req *req,
                      const struct bsn_sched_node *n, struct bsn_sched_fail *why);
/* Score 0..~400 (higher is better); same_owner = pods of the same workload already there,
 * max_same = the maximum of that over the nodes. */
int64_t bsn_sched_score(const json_t *pod, const struct bsn_sched_req *req,
                        const struct bsn_sched_node *n, int64_t same_owner, int64_t max_same);
/*
 * Upstream's FailedScheduling message from per-node failures ("0/3 nodes are available: 1
 * Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: 0/3 nodes are
 * available: ..."). Caller frees.
 */
char *bsn_sched_message(const struct bsn_sched_fail *fails, size_t nnodes);

/* ---- inter-pod affinity and topology spread (interpod.c) ---- */

/* A placed pod and the labels of its node. */
struct bsn_sched_placed {
    const json_t *pod;
    const json_t *node_labels;
};
struct bsn_sched_topo;
/* True when the pod has pod (anti-)affinity or topology spread constraints. */
bool bsn_sched_topo_needed(const json_t *pod);
/* Counts, per topology domain, the placed pods each of the pod's terms selects. */
struct bsn_sched_topo *bsn_sched_topo_new(const json_t *pod, const struct bsn_sched_placed *placed,
                                          size_t n);
/*
 * Filters one node (its labels). candidates are the labels of the nodes that passed the other
 * filters (the domains topology spread compares). Reasons as upstream: "node(s) didn't match
 * pod affinity rules", "... pod anti-affinity rules", "node(s) didn't satisfy existing pods
 * anti-affinity rules", "node(s) didn't match pod topology spread constraints".
 */
bool bsn_sched_topo_filter(struct bsn_sched_topo *t, const json_t *node_labels,
                           const json_t *const *candidates, size_t ncand,
                           struct bsn_sched_fail *why);
void bsn_sched_topo_free(struct bsn_sched_topo *t);

#endif
