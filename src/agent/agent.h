/*
 * agent.h - the node agent (kubelet's role): registers this host as a Node, renews its Lease,
 * runs the pods bound to it through a container runtime (runtime/runtime.h), probes them,
 * restarts them with back-off, writes their status back, and serves `kubectl logs`.
 *
 * The agent is a client of the API like any other: it lists and watches pods with
 * fieldSelector spec.nodeName=<node> through an API client (api/client.h) and writes node
 * status, Leases, pod status, metrics and the final pod DELETE through the same path. The
 * client is in-process when the agent is embedded in `bosun server`, or the remote (HTTPS)
 * transport for a standalone `bosun agent`: the code path is the same. Everything runs on one
 * loop; the runtime runs on the same loop.
 *
 * The pod subresources served by the node (pods/log; exec, attach and portforward: exec.h) are
 * registered with the embedded API server (opts.api), or, standalone, served by the agent's
 * own kubelet server (HTTPS, bearer token; kubelet.c) that the API server proxies to.
 *
 * Usage (bosun server):
 *     opts.api = api;
 *     a = bsn_agent_new(loop, bsn_client_new_local(api), &opts, &err); ... bsn_agent_free(a);
 * Standalone (bosun agent):
 *     a = bsn_agent_new(loop, bsn_client_new_remote(loop, url, token, ca, &err), &opts, &err);
 */
#ifndef BSN_AGENT_AGENT_H
#define BSN_AGENT_AGENT_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "runtime/runtime.h"

struct bsn_loop;
struct bsn_apiserver;
struct bsn_agent;
struct bsn_client;

struct bsn_agent_opts {
    const char *node_name;   /* NULL = hostname */
    const char *runtime;     /* "process" or "oci"; NULL = oci as root with runc, else process */
    const char *oci_runtime; /* runc or crun (name or path); NULL = $BOSUN_OCI_RUNTIME, runc */
    const char *data_dir;    /* required: runtime state, pod logs and images under it */
    const char *node_ip;     /* InternalIP; NULL = first non-loopback IPv4, else 127.0.0.1 */
    bool control_plane;      /* label node-role.kubernetes.io/control-plane */
    /* Embedded: the API server to register the pod subresource handlers with. NULL: the agent
     * serves them itself on its kubelet server. */
    struct bsn_apiserver *api;
    const char *kubelet_listen;   /* standalone: "ADDR:PORT" of the kubelet server;
                                 * NULL = "0.0.0.0:10250" (port 0: any free port) */
    const char *kubelet_token;    /* standalone: bearer token kubelet requests must carry */
    unsigned metrics_interval_ms; /* usage sampling and push period; 0 = 15000 */
    /* The pod network of the oci runtime (net/cni.h: bsn_cni_attach, bsn_cni_detach,
     * bsn_cni_gc with the bsn_cni as net_data; NULL = sandboxes get only loopback and pods
     * report the node's IP). net_gc runs once at start, before an earlier run's sandboxes are
     * removed; pod_cidr goes into the Node's spec.podCIDR(s). */
    bsn_runtime_net_attach_fn net_attach;
    bsn_runtime_net_detach_fn net_detach;
    /* ADD off the loop (bsn_cni_attach_async): used instead of net_attach when set; the
     * containers wait for done, which runs on the loop */
    int (*net_add)(void *net_data, const char *sandbox_id, const char *netns_path,
                   const struct bsn_sandbox_config *cfg,
                   void (*done)(void *data, int rc, const char *ip, const struct bsn_err *err),
                   void *data);
    int (*net_gc)(void *net_data, bool (*alive)(void *data, const char *sandbox_id), void *data);
    void *net_data;
    const char *pod_cidr;
    /* resolv.conf of dnsPolicy ClusterFirst: nameserver (NULL = 10.43.0.10) and cluster domain
     * (NULL = cluster.local) */
    const char *cluster_dns_ip;
    const char *cluster_domain;
};

/* Creates the runtime, registers the node and starts the pod watch and the pod subresource
 * handlers (or the kubelet server). The agent takes cl (freed by bsn_agent_free, or here on
 * failure). NULL with err on failure (unknown runtime, oci without root, kubelet port taken). */
struct bsn_agent *bsn_agent_new(struct bsn_loop *loop, struct bsn_client *cl,
                                const struct bsn_agent_opts *opts, struct bsn_err *err);
/* Kills every pod's containers (SIGKILL), removes sandboxes and frees. Pods stay in the API
 * (as a kubelet that stops: the node lifecycle controller handles the node going away). */
void bsn_agent_free(struct bsn_agent *a);
const char *bsn_agent_node_name(const struct bsn_agent *a);
/* The runtime kind chosen ("process" or "oci"). */
const char *bsn_agent_runtime_name(const struct bsn_agent *a);
/* Standalone: the kubelet server's bound port (0 when embedded). */
int bsn_agent_kubelet_port(const struct bsn_agent *a);

/*
 * Per-pod metrics (metrics.c): every metrics_interval_ms the agent reads each running
 * container's usage (bsn_runtime_container_stats) and keeps CPU as a rate over the window
 * (nanocores) and the memory working set, then pushes them with
 * PUT /apis/bosun.dev/v1/nodemetrics/<node>. Sample now (and push) on demand:
 */
void bsn_agent_metrics_sample(struct bsn_agent *a);
/* The last sample as the JSON pushed (new reference), or NULL before the second sample. */
json_t *bsn_agent_metrics_json(struct bsn_agent *a);

#endif
