/*
 * cni.h - the pod network of the oci runtime: Bosun's node agent as a CNI *runtime*
 * (Container Network Interface specification 1.0.0).
 *
 * For every pod sandbox the runtime's net hook (runtime.h: net_attach / net_detach) calls
 * bsn_cni_attach / bsn_cni_detach. They execute the plugins of one network configuration
 * list, found in the conf dir, from the bin dir, exactly as the specification describes:
 *
 *     env    CNI_COMMAND=ADD|DEL|CHECK, CNI_CONTAINERID=<sandbox id>, CNI_NETNS=<netns path>,
 *            CNI_IFNAME=eth0, CNI_PATH=<bin dirs>, CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=..;
 *            K8S_POD_NAME=..;K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=.. (as kubelet passes)
 *     stdin  the plugin's object from the list with "cniVersion" and "name" of the list,
 *            "runtimeConfig" for the capabilities it declares (portMappings = the pod's
 *            hostPorts) and "prevResult" (ADD: the previous plugin's result; DEL/CHECK: the
 *            cached result of the ADD)
 *     order  ADD in list order, DEL in reverse order, CHECK in list order
 *     stdout ADD: the result (interfaces, ips, routes, dns; 0.x "ip4"/"ip6" results too);
 *            failure: {"code", "msg", "details"}, reported as "CNI plugin bridge ADD:
 *            code 7 (invalid network config): msg: details"
 *
 * Every plugin runs in a child process with a deadline (timeout_ms, default 10 s: SIGKILL
 * after it) and bounded output (1 MiB stdout, 64 KiB stderr). The agent runs them off its
 * loop: bsn_cni_attach_async and bsn_cni_detach queue ADD and DEL for a small pool of worker
 * threads (opts.workers, default 8, started as jobs queue up). Jobs of different sandboxes run
 * concurrently; jobs of the SAME sandbox run one at a time in queue order (a DEL queued while
 * its ADD waits or runs happens after that ADD), and the garbage pass never runs beside a
 * worker on the same sandbox, so each attachment is released once. The specification forbids
 * parallel operations on one container and allows them on different containers, and the
 * default plugins are written for that: host-local holds an exclusive file lock
 * (<dataDir>/<network>/lock) around each allocation and release, bridge accepts a bridge
 * that a concurrent run created first, and portmap (and bridge with ipMasq, in lists other
 * than ours) run iptables with --wait (the xtables lock serialises the rule changes). bsn_cni_attach is the
 * synchronous ADD for the runtime's hook and tests; the garbage pass runs synchronously at
 * start (see docs/networking.md).
 *
 * The network configuration: the first file (lexical order) of <conf_dir>/{*.conflist,*.conf,
 * *.json}. On creation, if there is none, Bosun writes 99-bosun.conflist: bridge (isGateway,
 * hairpinMode, ipMasq off; host-local IPAM over this node's pod CIDR with its dataDir under
 * the data dir), portmap (capability portMappings) and loopback. Any other list placed in the
 * conf dir (flannel, Calico: 10-*.conflist) sorts first and is used instead. Our own file is
 * rewritten at start to follow the flags. When our own list is the one in use, bsn_cni_new
 * programs the node's masquerade rule (one nftables table per bridge, cni_masq.c: traffic
 * from this node's pod CIDR to outside the cluster CIDR leaves with the node's address) in
 * place of the bridge plugin's iptables chain per pod, and bsn_cni_free removes it.
 *
 * State (survives restarts), under <data_dir>/cni/nodes/<node>/ (per node, so a later
 * multi-node setup keeps one slice per node): node.json (this node's pod CIDR), ipam/
 * (host-local's allocations), attachments/<sandbox>.json (what ADD used and returned, so DEL
 * gets the same configuration, CNI_ARGS and prevResult; removed after the DEL, so each
 * attachment is released once) and pods/<pod uid> (the pod's last IP: a pod whose sandbox is
 * recreated, e.g. after an agent restart, asks host-local for the same address again through
 * CNI_ARGS IP=).
 */
#ifndef BSN_NET_CNI_H
#define BSN_NET_CNI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct bsn_sandbox_config; /* runtime/runtime.h */
struct bsn_loop;
struct bsn_cni;

struct bsn_cni_opts {
    const char *data_dir;     /* required; state under <data_dir>/cni */
    const char *node_name;    /* NULL = the host name, lower-cased (the agent's default) */
    const char *bin_dir;      /* plugin dirs, ':'-separated; default /usr/lib/cni:/opt/cni/bin */
    const char *conf_dir;     /* default <data_dir>/cni/net.d */
    const char *cluster_cidr; /* default 10.42.0.0/16 */
    const char *pod_cidr;     /* this node's slice; default: remembered, else the first /24 */
    const char *bridge;       /* default bosun0 */
    const char *ifname;       /* default eth0 */
    int timeout_ms;           /* per plugin execution; default 10000 */
    int workers; /* ADD/DEL worker threads (different sandboxes); 0 = $BOSUN_CNI_WORKERS, else
                  * 8; at most 16 */
    struct bsn_loop *loop; /* where bsn_cni_attach_async reports; NULL = no async ADD */
};

/* Validates the options, chooses this node's pod CIDR and writes the default network
 * configuration when the conf dir has none. Runs no plugin. NULL with err on bad options. */
struct bsn_cni *bsn_cni_new(const struct bsn_cni_opts *opts, struct bsn_err *err);
void bsn_cni_free(struct bsn_cni *c);
/* This node's pod CIDR ("10.42.0.0/24"), for the Node's spec.podCIDR. */
const char *bsn_cni_pod_cidr(const struct bsn_cni *c);
/* Path of the network configuration in use now, or NULL if none can be loaded. */
char *bsn_cni_conf_path(const struct bsn_cni *c);

/* The runtime's hooks (bsn_runtime_opts.net_attach / net_detach, data = the bsn_cni). attach
 * runs the ADD chain and writes the pod's IP (IPv4 preferred) into ip; on failure it runs DEL
 * to undo a partial ADD and returns -1 with err. detach queues DEL (once per attachment; a
 * failed DEL keeps the record for the next garbage pass) for the workers and returns at
 * once: it holds the network namespace open, so the plugins still see the pod's interface
 * after the runtime unmounted it (CNI_NETNS=/proc/<pid>/fd/<n>). */
int bsn_cni_attach(void *cni, const char *sandbox_id, const char *netns_path,
                   const struct bsn_sandbox_config *cfg, char *ip, size_t iplen,
                   struct bsn_err *err);
void bsn_cni_detach(void *cni, const char *sandbox_id, const char *netns_path);
/* ADD off the loop: queued for the workers (in order with the same sandbox's DELs, so a
 * sandbox removed while its ADD waits or runs is released after it), done(data, rc, ip, err) runs on opts.loop. cfg
 * is copied (namespace, name, uid, ports). Returns -1 without a loop (use bsn_cni_attach). */
typedef void (*bsn_cni_done_fn)(void *data, int rc, const char *ip, const struct bsn_err *err);
int bsn_cni_attach_async(void *cni, const char *sandbox_id, const char *netns_path,
                         const struct bsn_sandbox_config *cfg, bsn_cni_done_fn done, void *data);
/* Waits until every queued ADD and DEL has run (tests; bsn_cni_free also drains the queue). */
void bsn_cni_flush(struct bsn_cni *c);
/* CHECK of an attachment with its cached result. 0, or -1 with the plugin's error. */
int bsn_cni_check(struct bsn_cni *c, const char *sandbox_id, struct bsn_err *err);
/* Garbage pass: runs DEL for every recorded attachment whose sandbox alive() denies (alive
 * NULL: all of them) and drops remembered pod IPs unused for a day. Call at agent start
 * before the runtime removes an earlier run's network namespaces. Returns how many were
 * released. */
int bsn_cni_gc(void *cni, bool (*alive)(void *data, const char *sandbox_id), void *data);

/* --- the protocol, exposed for tests (cni_exec.c) --- */

/* Loads a .conflist, or a single-plugin .conf/.json wrapped as a list: returns
 * {"cniVersion", "name", "plugins": [...]} (new reference) or NULL with err. */
json_t *bsn_cni_conf_parse(const char *data, size_t len, bool single, struct bsn_err *err);
/* The first loadable configuration of dir; *path gets its file name (caller frees). */
json_t *bsn_cni_conf_find(const char *dir, char **path, struct bsn_err *err);
/* What plugin i of list gets on stdin: its object plus cniVersion, name, the runtimeConfig
 * entries of the capabilities it declares and prevResult (either may be NULL). */
json_t *bsn_cni_plugin_stdin(const json_t *list, size_t i, const json_t *runtime_config,
                             const json_t *prev_result);

struct bsn_cni_call {
    const char *command;      /* ADD, DEL, CHECK, VERSION */
    const char *container_id; /* sandbox id */
    const char *netns;
    const char *ifname;
    const char *args; /* CNI_ARGS */
    const char *path; /* CNI_PATH, also where the plugin binary is looked up */
    int timeout_ms;
};
/* CNI_ARGS as kubelet builds them (ip: a requested address or NULL). Caller frees. */
char *bsn_cni_args(const char *ns, const char *name, const char *uid, const char *sandbox_id,
                   const char *ip);
/* The plugin's environment: base (may be NULL) without its CNI_* entries, then the CNI_*
 * variables of call. NULL-terminated; free with bsn_cni_env_free. */
char **bsn_cni_env(const struct bsn_cni_call *call, char *const *base);
void bsn_cni_env_free(char **env);
/* The executable of plugin `type` in the ':'-separated dirs of path (NULL = the default), or
 * NULL. Caller frees. */
char *bsn_cni_find_plugin(const char *path, const char *type);
/* Runs plugin `type` with conf on stdin. 0 with *result (stdout parsed as JSON; NULL when
 * empty) or -1 with err carrying the plugin's error (code, msg, details), its stderr, the
 * timeout or the exec failure. */
int bsn_cni_exec(const struct bsn_cni_call *call, const char *type, const json_t *conf,
                 json_t **result, struct bsn_err *err);
/* Formats a plugin's error object into err ("code 7 (invalid network config): msg: details").
 * Returns -1. */
int bsn_cni_error(const json_t *obj, const char *what, struct bsn_err *err);
/* The pod's addresses from a result (1.0 "ips" with interface indexes into "interfaces",
 * preferring the sandbox's interfaces; 0.x "ip4"/"ip6"), without prefix length. Each out
 * buffer may be NULL. Returns how many addresses were found. */
int bsn_cni_result_ips(const json_t *result, char *ip4, size_t ip4len, char *ip6, size_t ip6len);
/* The default configuration list (new reference), self-contained: its bridge has ipMasq on.
 * bsn_cni_new writes it with ipMasq off and programs the node's rule instead. */
json_t *bsn_cni_default_conf(const char *bridge, const char *subnet, const char *ipam_dir);
/* The node's masquerade rule (cni_masq.c). The table's name for a bridge:
 * "bosun-masq-<bridge>" (characters nft does not take in a name written as _xx). */
void bsn_cni_masq_table(const char *bridge, char *out, size_t outlen);
/* Creates or replaces (one transaction) table ip <bsn_cni_masq_table(bridge)> with a nat
 * postrouting chain: ip saddr <pod_cidr> ip daddr != <cluster_cidr> ip daddr != 224.0.0.0/4
 * masquerade, and comment "bosun agent pid <getpid()>". First it drops other bosun-masq-*
 * tables whose agent (that pid) is gone and whose bridge no longer exists (a killed
 * server's). Runs libnftables in a short-lived child. 0, or -1 with err (not root, no
 * nf_tables, bad CIDRs). */
int bsn_cni_masq_install(const char *bridge, const char *pod_cidr, const char *cluster_cidr,
                         struct bsn_err *err);
/* Deletes that table; a missing table is not an error. */
int bsn_cni_masq_remove(const char *bridge, struct bsn_err *err);
/* "10.42.0.0/16" -> the n-th /24 inside it ("10.42.n.0/24"); -1 if not IPv4 or smaller than
 * a /24 or n out of range. */
int bsn_cni_node_subnet(const char *cluster_cidr, unsigned n, char *out, size_t outlen);

#endif
