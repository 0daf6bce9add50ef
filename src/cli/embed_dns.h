/*
 * embed_dns.h - the cluster DNS server embedded in `bosun server`: its zone follows the API's
 * Services and EndpointSlices through watches (as CoreDNS's kubernetes plugin does).
 */
#ifndef BSN_CLI_EMBED_DNS_H
#define BSN_CLI_EMBED_DNS_H

#include "base/err.h"
#include "loop/loop.h"

struct bsn_apiserver;
struct bsn_embedded_dns;

/* listen: "ADDR:PORT" (UDP and TCP); domain: the cluster zone ("cluster.local"). */
struct bsn_embedded_dns *bsn_embed_dns_start(struct bsn_loop *loop, struct bsn_apiserver *api,
                                             const char *listen, const char *domain,
                                             struct bsn_err *err);
void bsn_embed_dns_stop(struct bsn_embedded_dns *e);
/* Userspace service proxy: answer ClusterIP names with the proxy's loopback address
 * (bsn_proxy_user_addr) instead of the ClusterIP. Call before the loop runs. */
void bsn_embed_dns_userspace_ips(struct bsn_embedded_dns *e);

#endif
