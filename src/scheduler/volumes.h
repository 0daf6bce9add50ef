/*
 * volumes.h - the scheduler's volume plugin (upstream VolumeBinding + VolumeRestrictions'
 * PVC checks): pods using PersistentVolumeClaims.
 *
 * - PreFilter: a claim that does not exist, is being deleted, or is unbound in an Immediate
 *   class makes the pod unschedulable ("pod has unbound immediate PersistentVolumeClaims");
 *   a WaitForFirstConsumer claim that already has a selected node but no volume yet makes the
 *   pod wait (the local-path provisioner / binder is at work).
 * - Filter: a bound claim's volume nodeAffinity must admit the node ("node(s) had volume node
 *   affinity conflict"); an unbound WaitForFirstConsumer claim needs a provisioner or a
 *   matching Available volume for the node ("node(s) didn't find available persistent volumes
 *   to bind").
 * - Reserve: on the chosen node, unbound WaitForFirstConsumer claims get the annotation
 *   volume.kubernetes.io/selected-node and the pod waits; once the claim is bound the pod is
 *   queued again and its volume's nodeAffinity pins it to that node.
 */
#ifndef BSN_SCHEDULER_VOLUMES_H
#define BSN_SCHEDULER_VOLUMES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scheduler/scheduler.h"

struct bsn_ctrl;
struct bsn_workqueue;
struct bsn_sched_vol;

/* Watches claims, volumes and classes; q is the scheduler's queue (pods waiting for a claim
 * are queued again when it changes). */
struct bsn_sched_vol *bsn_sched_vol_new(struct bsn_ctrl *ctx, struct bsn_workqueue *q);
void bsn_sched_vol_free(struct bsn_sched_vol *v);

/* 0 = go on; > 0 = look again after that many ms; < 0 = unschedulable, message in msg. */
int bsn_sched_vol_prefilter(struct bsn_sched_vol *v, const char *pod_key, const json_t *pod,
                            size_t nnodes, char *msg, size_t n);
/* True when the pod's claims allow node n; otherwise a reason in why. */
bool bsn_sched_vol_filter(struct bsn_sched_vol *v, const json_t *pod,
                          const struct bsn_sched_node *n, struct bsn_sched_fail *why);
/* True when the pod must wait: selected-node was written on its unbound claims. */
bool bsn_sched_vol_reserve(struct bsn_sched_vol *v, const char *pod_key, const json_t *pod,
                           const char *node);

/* ---- pure, unit-tested ---- */

/* True when one of the NodeSelectorTerms matches the node (filters.c). */
bool bsn_sched_terms_match(const json_t *terms, const json_t *labels, const char *node_name);

enum bsn_claim_state {
    BSN_CLAIM_MISSING,   /* not found or being deleted */
    BSN_CLAIM_BOUND,     /* spec.volumeName set */
    BSN_CLAIM_IMMEDIATE, /* unbound, Immediate (or no) class */
    BSN_CLAIM_WAIT,      /* unbound, WaitForFirstConsumer, no node selected yet */
    BSN_CLAIM_SELECTED,  /* unbound, WaitForFirstConsumer, node selected: being provisioned */
};
enum bsn_claim_state bsn_sched_claim_state(const json_t *claim, const json_t *sc);
/* True when a volume's required nodeAffinity admits a node (labels + name). */
bool bsn_sched_pv_admits(const json_t *pv, const json_t *node_labels, const char *node_name);

#endif
