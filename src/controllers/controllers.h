/*
 * controllers.h - starts the built-in controllers and the simulated nodes on a shared context.
 *
 * Controllers (names for --disable-controllers): replicaset, replicationcontroller,
 * deployment, endpoints, endpointslice, job, cronjob, statefulset, daemonset, namespace,
 * serviceaccount. Each is one file; each watches through informers and writes through the
 * in-process API client. None calls another.
 *
 * Simulated nodes (kwok style, `bosun server --simulate-nodes N`): N Node objects named
 * sim-node-0..N-1 with the configured capacity and labels, their Leases renewed every 10 s,
 * and a fake kubelet that marks pods bound to them Running and Ready at once. Annotation
 * `bosun.dev/simulate` on a pod changes its fate: `succeed` / `fail` finish it at once
 * (exit code 0 / 1), `succeed-after=2s` / `fail-after=500ms` after a Go duration.
 */
#ifndef BSN_CONTROLLERS_CONTROLLERS_H
#define BSN_CONTROLLERS_CONTROLLERS_H

#include "base/err.h"
#include "controllers/ctrl.h"

struct bsn_controllers_opts {
    int sim_nodes;          /* 0 = none */
    const char *sim_cpu;    /* capacity per node, default "32" */
    const char *sim_memory; /* default "256Gi" */
    const char *sim_pods;   /* default "110" */
    const char *sim_labels; /* extra labels "k=v,k2=v2" */
    const char *disable;    /* comma-separated controller names, "all" = none run */
    const char *data_dir;   /* server data dir (local-path volumes under <dir>/storage) */
};

struct bsn_controllers;

/* Registers the enabled controllers (and simulated nodes) on ctx; start ctx afterwards. */
struct bsn_controllers *bsn_controllers_new(struct bsn_ctrl *ctx,
                                            const struct bsn_controllers_opts *opts,
                                            struct bsn_err *err);
void bsn_controllers_free(struct bsn_controllers *cs);

/* True when name appears in the comma-separated list (or the list is "all"). */
bool bsn_controllers_listed(const char *list, const char *name);

#endif
