/*
 * proxy_dnssvc.h - keeps the Service kube-system/kube-dns (ClusterIP: the service CIDR's .10,
 * 10.43.0.10 by default; ports dns 53/UDP and dns-tcp 53/TCP, no selector) and its
 * EndpointSlice kube-system/kube-dns-bosun pointing at the embedded cluster DNS server, so pods
 * resolving through that address reach it
 * through the proxy's rules. Created at start and checked again every 10 s (recreated when
 * deleted, the slice rewritten when it no longer points at the DNS server).
 */
#ifndef BSN_NET_PROXY_DNSSVC_H
#define BSN_NET_PROXY_DNSSVC_H

#include <stdbool.h>

struct bsn_loop;
struct bsn_client;
struct bsn_proxy_dnssvc;

#define BSN_CLUSTER_DNS_IP "10.43.0.10"

/*
 * listen: the DNS server's "ADDR:PORT"; a wildcard address (0.0.0.0, empty) is replaced by
 * node_ip. service_ip: the kube-dns ClusterIP (NULL = BSN_CLUSTER_DNS_IP). The client is
 * borrowed and must outlive the returned object.
 */
struct bsn_proxy_dnssvc *bsn_proxy_dnssvc_start(struct bsn_loop *loop, struct bsn_client *cl,
                                                const char *listen, const char *node_ip,
                                                const char *service_ip);
void bsn_proxy_dnssvc_stop(struct bsn_proxy_dnssvc *d);

/*
 * True when the DNS server's "ADDR:PORT" (IPv4 or [IPv6]) is a loopback address: the host and
 * process-runtime pods reach it through the kube-dns rules, pods in network namespaces (the
 * oci runtime) cannot (the kernel does not route DNATed traffic to 127.0.0.0/8 from another
 * namespace), so the nftables proxy warns at start.
 */
bool bsn_proxy_dnssvc_is_loopback(const char *listen);

#endif
