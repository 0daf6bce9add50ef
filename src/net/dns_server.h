/*
 * dns_server.h - the cluster DNS server: UDP and TCP on one address, N worker threads, each
 * with its own event loop and its own SO_REUSEPORT UDP socket and TCP listener (the kernel
 * spreads clients over them). UDP is read and written in batches (recvmmsg/sendmmsg).
 *
 * Names in the cluster zone (and reverse names of ClusterIPs/endpoints) are answered from the
 * zone's current snapshot without locks; other names are forwarded to the upstream resolvers
 * (given, or the nameservers of a resolv.conf) with a random query id from one of 8 sockets
 * (random source ports) per thread, and the reply is accepted only on that socket, from that
 * upstream, with the same id and question; after the timeout the next
 * upstream is tried once, then the client gets SERVFAIL. Forwarded answers are cached (see
 * dns_forward.h). Without upstreams, out-of-zone names are REFUSED. An ExternalName service
 * asked with recursion desired is answered like CoreDNS does (and the spec's example shows):
 * the CNAME followed by the target's records of the asked type, resolved upstream.
 *
 * UDP replies honour the client's EDNS0 payload size (512 bytes without EDNS); a reply that
 * does not fit is truncated with TC set so the client retries over TCP. TCP connections carry
 * length-prefixed messages, may pipeline queries (replies to forwarded queries may come back
 * out of order, RFC 7766), are closed after an idle timeout, and are capped in number.
 */
#ifndef BSN_NET_DNS_SERVER_H
#define BSN_NET_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "net/dns_zone.h"

#define BSN_DNS_MAX_THREADS 64

struct bsn_dns_server_config {
    const char *listen;           /* "IP:PORT" or "[IPv6]:PORT"; port 0 picks a free port */
    int threads;                  /* worker threads; 0 = 1 */
    struct bsn_dns_zone *zone;    /* borrowed; must outlive the server */
    const char *const *upstreams; /* "IP[:PORT]" strings (port 53 by default) */
    size_t n_upstreams;
    const char *resolv_conf; /* used when n_upstreams == 0 (NULL: no forwarding) */
    int upstream_timeout_ms; /* per attempt; 0 = 2000 */
    size_t cache_entries;    /* forward cache size; 0 = 10,000 */
    int tcp_idle_ms;         /* idle TCP connections are closed; 0 = 10,000 */
    int max_tcp_conns;       /* across all threads; 0 = 1,024 */
};

struct bsn_dns_stats {
    uint64_t udp_queries, tcp_queries, answered_local, forwarded, cache_hits, servfail, formerr,
        dropped, truncated, tcp_conns_rejected;
};

struct bsn_dns_server;

/* Binds the sockets and starts the threads. Returns NULL with err set on failure. */
struct bsn_dns_server *bsn_dns_server_start(const struct bsn_dns_server_config *cfg,
                                            struct bsn_err *err);
/* The bound port (useful with port 0). */
uint16_t bsn_dns_server_port(const struct bsn_dns_server *s);
/* Counters summed over the threads (approximate while running). */
void bsn_dns_server_stats(const struct bsn_dns_server *s, struct bsn_dns_stats *out);
/* Stops the threads, closes everything and frees the server. */
void bsn_dns_server_stop(struct bsn_dns_server *s);

/* `bosun dns [flags]` (dns_cmd.c): a standalone server fed from a records file; see --help. */
int bsn_cmd_dns(int argc, char **argv);

#endif
