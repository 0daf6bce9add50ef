/*
 * agent.h - the node agent (kubelet's role): registers this host as a Node, renews its Lease,
 * runs the pods bound to it through a container runtime (runtime/runtime.h), probes them,
 * restarts them with back-off, writes their status back, and serves `kubectl logs`.
 *
 * The agent is a client of the API like any other: it lists and watches pods with
 * fieldSelector spec.nodeName=<node> through the in-process client (api/client.h) and writes
 * node status, Leases, pod status and the final pod DELETE through the same path. Everything
 * runs on the API server's loop; the runtime runs on the same loop.
 *
 * Usage (bosun server): a = bsn_agent_new(loop, api, &opts, &err); ... bsn_agent_free(a).
 */
#ifndef BSN_AGENT_AGENT_H
#define BSN_AGENT_AGENT_H

#include <stdbool.h>

#include "base/err.h"

struct bsn_loop;
struct bsn_apiserver;
struct bsn_agent;

struct bsn_agent_opts {
    const char *node_name; /* NULL = hostname */
    const char *runtime;   /* "process" or "oci"; NULL = oci as root with runc, else process */
    const char *data_dir;  /* required: runtime state, pod logs and images under it */
    const char *node_ip;   /* InternalIP; NULL = first non-loopback IPv4, else 127.0.0.1 */
    bool control_plane;    /* label node-role.kubernetes.io/control-plane */
};

/* Creates the runtime, registers the node and starts the pod watch and the pods/log handler.
 * NULL with err on failure (unknown runtime, oci without root). */
struct bsn_agent *bsn_agent_new(struct bsn_loop *loop, struct bsn_apiserver *api,
                                const struct bsn_agent_opts *opts, struct bsn_err *err);
/* Kills every pod's containers (SIGKILL), removes sandboxes and frees. Pods stay in the API
 * (as a kubelet that stops: the node lifecycle controller handles the node going away). */
void bsn_agent_free(struct bsn_agent *a);
const char *bsn_agent_node_name(const struct bsn_agent *a);
/* The runtime kind chosen ("process" or "oci"). */
const char *bsn_agent_runtime_name(const struct bsn_agent *a);

#endif
