/*
 * dns_server_int.h - internal to the DNS server (dns_server.c: sockets, UDP, TCP, threads;
 * dns_upstream.c: forwarding): the per-thread worker, TCP connections, pending forwards.
 */
#ifndef BSN_NET_DNS_SERVER_INT_H
#define BSN_NET_DNS_SERVER_INT_H

#include <stdatomic.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "loop/loop.h"
#include "net/dns_forward.h"
#include "net/dns_server.h"

#define BATCH        32
#define UDP_BUF      BSN_DNS_UDP_MAX
#define PEND_MAX     4096 /* in-flight forwarded queries per thread */
#define TICK_MS      50
#define UPSOCKS      8 /* upstream sockets per family: each query leaves from a random one */
#define TCP_WBUF_MAX (1 << 20) /* stop reading a connection that does not read its replies */

struct stats {
    _Atomic uint64_t udp_queries, tcp_queries, answered_local, forwarded, cache_hits, servfail,
        formerr, dropped, truncated, tcp_conns_rejected;
};
#define STAT_INC(w, f)                                                                            \
    atomic_store_explicit(&(w)->st.f, atomic_load_explicit(&(w)->st.f, memory_order_relaxed) + 1, \
                          memory_order_relaxed)

struct worker;

struct conn {
    struct worker *w;
    int fd;
    uint64_t id;
    uint8_t *rbuf;
    size_t rlen;
    struct bsn_buf wbuf;
    size_t woff;
    struct bsn_timer idle;
    int inflight;
    bool eof;
    bool watched; /* registered with the loop (not while there is nothing to wait for) */
    struct conn *prev, *next;
};

/*
 * The local address a UDP query arrived at (IP_PKTINFO / IPV6_PKTINFO). A server bound to a
 * wildcard address answers from it: otherwise the kernel picks the source by route, and a
 * client that sent to another local address (or to a DNATed service IP, whose conntrack
 * entry expects the reply from the DNAT target) drops the answer.
 */
struct dns_local {
    int family; /* 0: unknown, send without */
    int ifindex;
    struct in_addr v4;
    struct in6_addr v6;
};

struct pending {
    bool used;
    bool tcp;
    uint16_t up_id;
    int up_idx, attempts;
    int up_fd; /* the socket the query left from: the reply must come back to it */
    uint64_t deadline;
    size_t limit;
    struct bsn_dns_query q;
    uint8_t *pkt; /* the query as sent upstream (our id) */
    size_t len;
    uint64_t conn_id;
    struct sockaddr_storage client;
    socklen_t clen;
    struct dns_local local; /* the address the client's query was sent to */
    struct chase *chase;    /* ExternalName: the client's query to answer with CNAME + result */
    bool added_opt;         /* we added EDNS for a TCP client: strip the OPT from the reply */
};

/* An ExternalName answer being completed: the CNAME we answer plus what the upstream says
 * about its target (what the spec's example shows, and what stub resolvers need). */
struct chase {
    struct bsn_dns_query q; /* the client's query */
    uint8_t *pkt;
    size_t len;
    uint32_t ttl;
    uint8_t target[BSN_DNS_NAME_MAX];
};

struct worker {
    struct bsn_dns_server *srv;
    pthread_t th;
    struct bsn_loop *loop;
    int udp_fd, tcp_fd;
    int up_fd[2][UPSOCKS]; /* upstream sockets (IPv4, IPv6), each on its own random port */
    int slot;
    uint64_t rng;
    struct stats st;

    struct pending *pend;
    int npend;
    int *free_pend;
    int nfree;
    uint16_t *id_map; /* upstream id -> pending index + 1 */
    struct bsn_timer tick;

    struct conn *conns;
    int nconns;
    uint64_t next_conn_id;

    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec iov_in[BATCH], iov_out[BATCH];
    struct sockaddr_storage addr[BATCH];
    char cmsg_in[BATCH][64], cmsg_out[BATCH][64]; /* IP_PKTINFO / IPV6_PKTINFO */
    struct dns_local local[BATCH];
    const struct dns_local *cur_local; /* the UDP query being processed, for dns_forward */
    uint8_t (*inbuf)[UDP_BUF];
    uint8_t (*outbuf)[UDP_BUF];
    uint8_t *scratch;  /* 65535 + 2: TCP replies and upstream responses */
    uint8_t *scratch2; /* 65535: ExternalName merges */
};

struct bsn_dns_server {
    struct bsn_dns_zone *zone;
    struct bsn_dns_upstream ups[BSN_DNS_MAX_UPSTREAMS];
    int nups;
    struct bsn_dns_cache *cache;
    int timeout_ms, idle_ms, conns_per_worker;
    uint16_t port;
    int nworkers;
    struct worker *w[BSN_DNS_MAX_THREADS];
};

static inline uint16_t
dns_rand16(struct worker *w)
{
    /* xorshift64*: ids only need to be unpredictable to off-path spoofers, and the state is
     * seeded from getrandom() */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (uint16_t)((w->rng * 2685821657736338717ull) >> 48);
}

/* dns_server.c */
struct conn *dns_conn_find(struct worker *w, uint64_t id);
void dns_conn_reply(struct conn *c, const uint8_t *msg, size_t len);
void dns_conn_flush(struct conn *c);

/* dns_upstream.c */
/* Sends a UDP answer to client from local (when known). */
void dns_udp_send(struct worker *w, const uint8_t *msg, size_t len,
                  const struct sockaddr_storage *client, socklen_t clen,
                  const struct dns_local *local);
/* Fills hdr's control with the source address local; returns the control length used. */
size_t dns_local_cmsg(const struct dns_local *local, char *buf, size_t cap, struct msghdr *hdr);
bool dns_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
void dns_chase_free(struct chase *ch);
/* Starts forwarding q (parsed from pkt); returns the length of an immediate reply written to
 * out (SERVFAIL when too many queries are in flight) or 0. c is the TCP connection or NULL
 * for a UDP client. Takes ownership of ch. */
size_t dns_forward(struct worker *w, const struct bsn_dns_query *q, const uint8_t *pkt, size_t len,
                   size_t limit, struct conn *c, const struct sockaddr_storage *client,
                   socklen_t clen, uint8_t *out, struct chase *ch);
/* Our answer in out (n bytes) is an ExternalName CNAME: completes it with the target's
 * records (from the cache now, or upstream later). Returns a reply length or 0 (pending). */
size_t dns_chase_start(struct worker *w, const struct bsn_dns_query *q, const uint8_t *pkt,
                       size_t len, uint8_t *out, size_t n, size_t limit, struct conn *c,
                       const struct sockaddr_storage *client, socklen_t clen);
/* Reads replies on an upstream socket. */
void dns_on_upstream(struct bsn_loop *loop, int fd, unsigned events, void *data);

#endif
