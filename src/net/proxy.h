/*
 * proxy.h - the service proxy: Service virtual IPs, NodePorts and LoadBalancer addresses
 * forwarded to ready endpoints (see docs/networking.md, "Services").
 *
 * The proxy watches Services and EndpointSlices through the in-process API client and keeps
 * one data path in step with them:
 *   - nftables (root): kernel rules in a table of our own (`ip bosun`), as kube-proxy's
 *     nftables mode lays them out; each change touches only the Service it concerns; the
 *     table is removed by bsn_proxy_stop and a stale one is replaced at start.
 *   - userspace (no root): each Service listens on the loopback address
 *     bsn_proxy_user_addr(ClusterIP) at its ports and forwards TCP and UDP to ready endpoints
 *     round robin.
 * LoadBalancer Services get status.loadBalancer.ingress = the node address (as k3s's servicelb)
 * and are served on it. With a cluster DNS address, the Service kube-system/kube-dns
 * (10.43.0.10, 53/UDP + 53/TCP, no selector) and its EndpointSlice pointing at the DNS server
 * are kept in the API so pods reach cluster DNS at 10.43.0.10.
 */
#ifndef BSN_NET_PROXY_H
#define BSN_NET_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct bsn_loop;
struct bsn_apiserver;
struct bsn_proxy;

enum bsn_proxy_mode { BSN_PROXY_NONE, BSN_PROXY_NFTABLES, BSN_PROXY_USERSPACE };

struct bsn_proxy_opts {
    enum bsn_proxy_mode mode;
    const char *table;        /* nftables table (family ip); default "bosun" */
    const char *cluster_cidr; /* pod CIDR; default 10.42.0.0/16 */
    const char *node_ip;      /* NodePort/LoadBalancer address; default: first non-loopback IPv4 */
    const char *cluster_dns;  /* "ADDR:PORT" of the embedded cluster DNS server, or NULL */
    const char *dns_service_ip; /* ClusterIP of kube-dns; NULL = 10.43.0.10 */
};

/* "nftables" | "userspace" | "none" -> mode; -1 on anything else. */
int bsn_proxy_parse_mode(const char *s, enum bsn_proxy_mode *out);
/* The default mode: nftables as root, userspace otherwise. */
enum bsn_proxy_mode bsn_proxy_default_mode(void);

/*
 * Starts the proxy on the API server's loop. With mode none only the kube-dns Service is
 * kept (when cluster_dns is set). Returns NULL with err when the data path cannot be set up
 * (libnftables refused: not root, no nf_tables).
 */
struct bsn_proxy *bsn_proxy_start(struct bsn_loop *loop, struct bsn_apiserver *api,
                                  const struct bsn_proxy_opts *opts, struct bsn_err *err);
/* Stops watching and removes the rules (nftables table, userspace listeners). NULL is a no-op. */
void bsn_proxy_stop(struct bsn_proxy *p);
enum bsn_proxy_mode bsn_proxy_mode(const struct bsn_proxy *p);

/*
 * Userspace mode's address for a ClusterIP: 127.X.Y.Z for ClusterIP W.X.Y.Z (10.43.0.10 ->
 * 127.43.0.10). Returns 0, or -1 when cluster_ip is not IPv4.
 */
int bsn_proxy_user_addr(const char *cluster_ip, char *out, size_t n);

#endif
