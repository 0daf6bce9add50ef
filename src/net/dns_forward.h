/*
 * dns_forward.h - forwarding of names outside the cluster zone: upstream list parsing
 * (resolv.conf) and the shared response cache.
 *
 * The cache is a bounded LRU (sharded, one mutex per shard; only forwarded names touch it).
 * Entries live for the smallest TTL in the response (capped at BSN_DNS_CACHE_TTL_MAX);
 * negative answers (NXDOMAIN, NODATA) live for min(SOA TTL, SOA minimum) (RFC 2308) and are
 * not cached without an SOA. SERVFAIL and truncated responses are never cached. A hit is
 * rewritten for the asking client: its id, its question bytes (case), TTLs minus the age.
 */
#ifndef BSN_NET_DNS_FORWARD_H
#define BSN_NET_DNS_FORWARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/dns_wire.h"

#define BSN_DNS_CACHE_TTL_MAX   3600
#define BSN_DNS_CACHE_ENTRY_MAX 4096 /* larger responses are not cached */
#define BSN_DNS_MAX_UPSTREAMS   4

struct bsn_dns_cache;

/* capacity = maximum number of entries (0 = 10,000). */
struct bsn_dns_cache *bsn_dns_cache_new(size_t capacity);
void bsn_dns_cache_free(struct bsn_dns_cache *c);
/* Stores the upstream response resp to query q if it is cacheable. */
void bsn_dns_cache_put(struct bsn_dns_cache *c, const struct bsn_dns_query *q, const uint8_t *resp,
                       size_t len, uint64_t now_ms);
/* On a hit that fits limit, writes the rewritten response to out and returns its length;
 * returns 0 on a miss. */
size_t bsn_dns_cache_get(struct bsn_dns_cache *c, const struct bsn_dns_query *q,
                         const uint8_t *qpkt, uint8_t *out, size_t limit, uint64_t now_ms);
size_t bsn_dns_cache_count(struct bsn_dns_cache *c);

/* An upstream resolver address. */
struct bsn_dns_upstream {
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* Parses "IP", "IP:PORT", "[IPv6]:PORT" or a bare IPv6 (port 53 by default). Returns 0/-1. */
int bsn_dns_parse_hostport(const char *s, uint16_t default_port, struct bsn_dns_upstream *out);
/* Reads the nameserver lines of a resolv.conf; returns how many were stored (<= max). */
int bsn_dns_read_resolv_conf(const char *path, struct bsn_dns_upstream *out, int max);

#endif
