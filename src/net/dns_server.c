/*
 * dns_server.c - the DNS server threads: UDP batches, TCP connections, forwarding with
 * pending-query tracking and timeouts (see dns_server.h).
 */
#include "net/dns_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "loop/loop.h"
#include "net/dns_forward.h"

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
    struct chase *chase; /* ExternalName: the client's query to answer with CNAME + result */
    bool added_opt;      /* we added EDNS for a TCP client: strip the OPT from the reply */
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

static void
chase_free(struct chase *ch)
{
    if (ch) {
        free(ch->pkt);
        free(ch);
    }
}

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

static uint16_t
rand16(struct worker *w)
{
    /* xorshift64*: ids only need to be unpredictable to off-path spoofers, and the state is
     * seeded from getrandom() */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (uint16_t)((w->rng * 2685821657736338717ull) >> 48);
}

/* --- TCP connections ----------------------------------------------------------------------- */

static void conn_close(struct conn *c);
static void conn_flush(struct conn *c);

static struct conn *
conn_find(struct worker *w, uint64_t id)
{
    for (struct conn *c = w->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static void
conn_reply(struct conn *c, const uint8_t *msg, size_t len)
{
    uint8_t pre[2];
    bsn_dns_put16(pre, (uint16_t)len);
    bsn_buf_append(&c->wbuf, pre, 2);
    bsn_buf_append(&c->wbuf, msg, len);
}

/* --- forwarding ---------------------------------------------------------------------------- */

static void
deliver(struct worker *w, struct pending *p, const uint8_t *msg, size_t len)
{
    if (!p->tcp) {
        ssize_t r =
            sendto(w->udp_fd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&p->client, p->clen);
        (void)r;
        return;
    }
    struct conn *c = conn_find(w, p->conn_id);
    if (!c)
        return; /* the client went away */
    c->inflight--;
    conn_reply(c, msg, len);
    conn_flush(c);
}

static void
pend_free(struct worker *w, struct pending *p)
{
    w->id_map[p->up_id] = 0;
    free(p->pkt);
    p->pkt = NULL;
    chase_free(p->chase);
    p->chase = NULL;
    p->used = false;
    w->free_pend[w->nfree++] = (int)(p - w->pend);
    w->npend--;
}

static void
servfail(struct worker *w, struct pending *p)
{
    uint8_t out[BSN_DNS_HDR_LEN + BSN_DNS_NAME_MAX + 4 + 11];
    /* rebuild the client's question from the packet we sent (same bytes but the id) */
    size_t n;
    if (p->chase) {
        n = bsn_dns_reply_error(p->chase->pkt, &p->chase->q, BSN_DNS_R_SERVFAIL, out, sizeof(out));
    } else {
        struct bsn_dns_query q = p->q;
        bsn_dns_put16(p->pkt, q.id);
        n = bsn_dns_reply_error(p->pkt, &q, BSN_DNS_R_SERVFAIL, out, sizeof(out));
    }
    bsn_dns_put16(out + 2, bsn_dns_get16(out + 2) | BSN_DNS_F_RA);
    STAT_INC(w, servfail);
    deliver(w, p, out, n);
}

static int
send_upstream(struct worker *w, struct pending *p)
{
    const struct bsn_dns_upstream *u = &w->srv->ups[p->up_idx];
    p->up_fd = w->up_fd[u->addr.ss_family == AF_INET6][rand16(w) % UPSOCKS];
    ssize_t r = sendto(p->up_fd, p->pkt, p->len, MSG_DONTWAIT, (const struct sockaddr *)&u->addr,
                       u->addrlen);
    p->deadline = bsn_loop_now(w->loop) + (uint64_t)w->srv->timeout_ms;
    p->attempts++;
    return r < 0 ? -1 : 0;
}

static void
tick(struct bsn_loop *loop, void *data)
{
    struct worker *w = data;
    uint64_t now = bsn_loop_now(loop);
    for (int i = 0; i < PEND_MAX && w->npend > 0; i++) {
        struct pending *p = &w->pend[i];
        if (!p->used || p->deadline > now)
            continue;
        if (p->attempts < 2 && w->srv->nups > 1) {
            p->up_idx = (p->up_idx + 1) % w->srv->nups;
            if (send_upstream(w, p) == 0)
                continue;
        }
        servfail(w, p);
        pend_free(w, p);
    }
    if (w->npend > 0)
        bsn_timer_start(loop, &w->tick, TICK_MS, tick, w);
}

/*
 * A TCP client can take any size, but the upstream is asked over UDP: ask for 4096 bytes so
 * that large answers do not come back truncated (adding an OPT record when the client sent
 * none; it is stripped from the reply again).
 */
static void
tcp_upgrade_edns(struct pending *p)
{
    static _Thread_local struct bsn_dns_msg m;
    if (!p->q.edns) {
        uint8_t *o = p->pkt + p->len;
        o[0] = 0;
        bsn_dns_put16(o + 1, BSN_DNS_T_OPT);
        bsn_dns_put16(o + 3, BSN_DNS_UDP_MAX);
        memset(o + 5, 0, 6);
        p->len += 11;
        bsn_dns_put16(p->pkt + 10, (uint16_t)(bsn_dns_get16(p->pkt + 10) + 1));
        p->added_opt = true;
    } else if (bsn_dns_msg_parse(p->pkt, p->len, &m) == 0) {
        for (int i = 0; i < m.nrr; i++)
            if (m.rr[i].type == BSN_DNS_T_OPT)
                bsn_dns_put16(p->pkt + m.rr[i].ttl_off - 2, BSN_DNS_UDP_MAX);
    }
}

/* Starts forwarding q; returns the length of an immediate reply (SERVFAIL) or 0. */
static size_t
forward(struct worker *w, const struct bsn_dns_query *q, const uint8_t *pkt, size_t len,
        size_t limit, struct conn *c, const struct sockaddr_storage *client, socklen_t clen,
        uint8_t *out, struct chase *ch)
{
    if (w->nfree == 0) {
        STAT_INC(w, servfail);
        size_t n = ch ? bsn_dns_reply_error(ch->pkt, &ch->q, BSN_DNS_R_SERVFAIL, out, limit)
                      : bsn_dns_reply_error(pkt, q, BSN_DNS_R_SERVFAIL, out, limit);
        chase_free(ch);
        bsn_dns_put16(out + 2, bsn_dns_get16(out + 2) | BSN_DNS_F_RA);
        return n;
    }
    struct pending *p = &w->pend[w->free_pend[--w->nfree]];
    w->npend++;
    p->used = true;
    uint16_t id;
    do
        id = rand16(w);
    while (w->id_map[id]);
    p->up_id = id;
    w->id_map[id] = (uint16_t)(p - w->pend + 1);
    p->q = *q;
    p->pkt = bsn_malloc(len + 11);
    memcpy(p->pkt, pkt, len);
    bsn_dns_put16(p->pkt, id);
    p->len = len;
    p->added_opt = false;
    if (c)
        tcp_upgrade_edns(p);
    p->limit = limit;
    p->up_idx = 0;
    p->attempts = 0;
    p->chase = ch;
    p->tcp = c != NULL;
    if (c) {
        p->conn_id = c->id;
        c->inflight++;
    } else {
        memcpy(&p->client, client, clen);
        p->clen = clen;
    }
    STAT_INC(w, forwarded);
    send_upstream(w, p); /* a send error is retried by the tick like a timeout */
    if (!bsn_timer_active(&w->tick))
        bsn_timer_start(w->loop, &w->tick, TICK_MS, tick, w);
    return 0;
}

/* Builds the client's answer: our CNAME, then the upstream's answer records for its target
 * (names decompressed and re-encoded; record types with other embedded names are skipped). */
static size_t
chase_merge(const struct chase *ch, const uint8_t *resp, size_t rlen, uint8_t *out, size_t limit)
{
    static _Thread_local struct bsn_dns_msg m;
    struct bsn_dns_enc e;
    bsn_dns_enc_init(&e, out, limit, &ch->q, ch->pkt, true);
    bsn_dns_enc_rr(&e, 1, NULL, BSN_DNS_T_CNAME, ch->ttl, ch->target, 0);
    int rcode = BSN_DNS_R_SERVFAIL;
    if (bsn_dns_msg_parse(resp, rlen, &m) == 0) {
        rcode = m.flags & 0xF;
        for (int i = 0; i < m.nrr; i++) {
            const struct bsn_dns_rr *rr = &m.rr[i];
            uint8_t owner[BSN_DNS_NAME_MAX], name[BSN_DNS_NAME_MAX];
            size_t off = rr->name_off;
            if (rr->section != 1 || bsn_dns_name_read(resp, rlen, &off, owner, false) < 0)
                continue;
            const uint8_t *rd = resp + rr->rdata_off;
            size_t rdlen = rr->rdlen;
            if (rr->type == BSN_DNS_T_CNAME || rr->type == BSN_DNS_T_PTR) {
                off = rr->rdata_off;
                if (bsn_dns_name_read(resp, rlen, &off, name, false) < 0)
                    continue;
                rd = name;
            } else if (rr->type != BSN_DNS_T_A && rr->type != BSN_DNS_T_AAAA &&
                       rr->type != BSN_DNS_T_TXT) {
                continue;
            }
            bsn_dns_enc_rr(&e, 1, owner, rr->type, rr->ttl, rd, rdlen);
        }
    }
    size_t n = bsn_dns_enc_finish(&e, &ch->q, rcode);
    bsn_dns_put16(out + 2, bsn_dns_get16(out + 2) | BSN_DNS_F_RA);
    return n;
}

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static void
on_upstream(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct worker *w = data;
    static _Thread_local struct bsn_dns_msg m;
    for (int rounds = 0; rounds < 64; rounds++) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(fd, w->scratch, 65535, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n < 0)
            return;
        if (n < BSN_DNS_HDR_LEN)
            continue;
        int idx = w->id_map[bsn_dns_get16(w->scratch)];
        if (!idx)
            continue;
        struct pending *p = &w->pend[idx - 1];
        /* accept only the upstream we asked, with our id and our question */
        if (fd != p->up_fd || !same_addr(&from, &w->srv->ups[p->up_idx].addr))
            continue;
        if (bsn_dns_msg_parse(w->scratch, (size_t)n, &m) < 0 || !(m.flags & BSN_DNS_F_QR) ||
            m.qtype != p->q.qtype || m.qclass != p->q.qclass ||
            !bsn_dns_name_eq(m.qname_lc, p->q.qname_lc))
            continue;
        if (p->added_opt && m.nrr > 0 && m.rr[m.nrr - 1].type == BSN_DNS_T_OPT &&
            m.rr[m.nrr - 1].section == 3) {
            /* the OPT we added is the last record: cut it off */
            n = m.rr[m.nrr - 1].name_off;
            bsn_dns_put16(w->scratch + 10, (uint16_t)(m.arcount - 1));
        }
        if ((size_t)n > p->limit) {
            servfail(w, p);
            pend_free(w, p);
            continue;
        }
        bsn_dns_cache_put(w->srv->cache, &p->q, w->scratch, (size_t)n, bsn_loop_now(loop));
        if (p->chase) {
            size_t mn = chase_merge(p->chase, w->scratch, (size_t)n, w->scratch2, p->limit);
            deliver(w, p, w->scratch2, mn);
        } else {
            bsn_dns_put16(w->scratch, p->q.id);
            deliver(w, p, w->scratch, (size_t)n);
        }
        pend_free(w, p);
    }
}

/* --- query processing ---------------------------------------------------------------------- */

/* Our answer to q in out is an ExternalName CNAME: resolve its target upstream (or from the
 * cache) and answer CNAME + target records. Returns a reply length now, or 0 (pending). */
static size_t
chase_start(struct worker *w, const struct bsn_dns_query *q, const uint8_t *pkt, size_t len,
            uint8_t *out, size_t n, size_t limit, struct conn *c,
            const struct sockaddr_storage *client, socklen_t clen)
{
    struct chase *ch = bsn_calloc(1, sizeof(*ch));
    size_t qe = q->question_end, off = qe + 12;
    ch->ttl = bsn_dns_get32(out + qe + 6);
    int tl = bsn_dns_name_read(out, n, &off, ch->target, false);
    uint8_t up[BSN_DNS_HDR_LEN + BSN_DNS_NAME_MAX + 4 + 11];
    size_t ul = 0;
    struct bsn_dns_query uq;
    if (tl > 0) {
        memset(up, 0, BSN_DNS_HDR_LEN);
        bsn_dns_put16(up + 2, BSN_DNS_F_RD | (q->flags & BSN_DNS_F_CD));
        bsn_dns_put16(up + 4, 1);
        memcpy(up + BSN_DNS_HDR_LEN, ch->target, (size_t)tl);
        ul = BSN_DNS_HDR_LEN + (size_t)tl;
        bsn_dns_put16(up + ul, q->qtype);
        bsn_dns_put16(up + ul + 2, BSN_DNS_CLASS_IN);
        ul += 4;
        if (q->edns) {
            bsn_dns_put16(up + 10, 1);
            up[ul] = 0;
            bsn_dns_put16(up + ul + 1, BSN_DNS_T_OPT);
            bsn_dns_put16(up + ul + 3, q->edns_udp);
            bsn_dns_put32(up + ul + 5, q->edns_do ? 0x8000 : 0);
            bsn_dns_put16(up + ul + 9, 0);
            ul += 11;
        }
    }
    if (tl <= 0 || bsn_dns_query_parse(up, ul, &uq) != BSN_DNS_PARSE_OK) {
        free(ch);
        return n; /* keep the plain CNAME answer */
    }
    ch->q = *q;
    ch->pkt = bsn_malloc(len);
    memcpy(ch->pkt, pkt, len);
    ch->len = len;
    size_t hit =
        bsn_dns_cache_get(w->srv->cache, &uq, up, w->scratch2, limit, bsn_loop_now(w->loop));
    if (hit) {
        STAT_INC(w, cache_hits);
        size_t r = chase_merge(ch, w->scratch2, hit, out, limit);
        chase_free(ch);
        return r;
    }
    return forward(w, &uq, up, ul, limit, c, client, clen, out, ch);
}

/* Handles one query; returns the length of a reply written to out now, or 0 (dropped or
 * forwarded). outcap bounds TCP replies. */
static size_t
process(struct worker *w, const struct bsn_dns_snap *snap, const uint8_t *pkt, size_t len,
        uint8_t *out, size_t outcap, struct conn *c, const struct sockaddr_storage *client,
        socklen_t clen)
{
    struct bsn_dns_server *srv = w->srv;
    struct bsn_dns_query q;
    int rc = bsn_dns_query_parse(pkt, len, &q);
    if (rc == BSN_DNS_PARSE_DROP) {
        STAT_INC(w, dropped);
        return 0;
    }
    size_t limit = c ? outcap : (q.edns ? q.edns_udp : BSN_DNS_UDP_MIN);
    if (limit > outcap)
        limit = outcap;
    if (rc != BSN_DNS_PARSE_OK) {
        STAT_INC(w, formerr);
        int rcode = rc == BSN_DNS_PARSE_NOTIMP    ? BSN_DNS_R_NOTIMP
                    : rc == BSN_DNS_PARSE_BADVERS ? BSN_DNS_R_BADVERS
                                                  : BSN_DNS_R_FORMERR;
        return bsn_dns_reply_error(pkt, &q, rcode, out, limit);
    }
    size_t n = 0;
    if (bsn_dns_zone_answer(srv->zone, snap, &q, pkt, out, limit, &n) == BSN_DNS_ANSWERED) {
        STAT_INC(w, answered_local);
        if (srv->nups) {
            bsn_dns_put16(out + 2, bsn_dns_get16(out + 2) | BSN_DNS_F_RA);
            size_t qe = q.question_end;
            uint16_t flags = bsn_dns_get16(out + 2);
            if ((q.flags & BSN_DNS_F_RD) && q.qtype != BSN_DNS_T_CNAME &&
                q.qtype != BSN_DNS_T_ANY && (flags & 0xF) == 0 && !(flags & BSN_DNS_F_TC) &&
                bsn_dns_get16(out + 6) == 1 && n >= qe + 12 &&
                bsn_dns_get16(out + qe + 2) == BSN_DNS_T_CNAME)
                return chase_start(w, &q, pkt, len, out, n, limit, c, client, clen);
        }
        if (bsn_dns_get16(out + 2) & BSN_DNS_F_TC)
            STAT_INC(w, truncated);
        return n;
    }
    if (!srv->nups)
        return bsn_dns_reply_error(pkt, &q, BSN_DNS_R_REFUSED, out, limit);
    n = bsn_dns_cache_get(srv->cache, &q, pkt, out, limit, bsn_loop_now(w->loop));
    if (n) {
        STAT_INC(w, cache_hits);
        return n;
    }
    return forward(w, &q, pkt, len, limit, c, client, clen, out, NULL);
}

static void
on_udp(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct worker *w = data;
    for (int rounds = 0; rounds < 16; rounds++) {
        for (int i = 0; i < BATCH; i++) {
            w->iov_in[i] = (struct iovec){w->inbuf[i], UDP_BUF};
            w->in[i].msg_hdr = (struct msghdr){.msg_name = &w->addr[i],
                                               .msg_namelen = sizeof(w->addr[i]),
                                               .msg_iov = &w->iov_in[i],
                                               .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, w->in, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        const struct bsn_dns_snap *snap = bsn_dns_zone_pin(w->srv->zone, w->slot);
        int nout = 0;
        for (int i = 0; i < n; i++) {
            STAT_INC(w, udp_queries);
            if (w->in[i].msg_hdr.msg_flags & MSG_TRUNC) {
                STAT_INC(w, dropped);
                continue;
            }
            size_t len = process(w, snap, w->inbuf[i], w->in[i].msg_len, w->outbuf[nout], UDP_BUF,
                                 NULL, &w->addr[i], w->in[i].msg_hdr.msg_namelen);
            if (!len)
                continue;
            w->iov_out[nout] = (struct iovec){w->outbuf[nout], len};
            w->out[nout].msg_hdr = (struct msghdr){.msg_name = &w->addr[i],
                                                   .msg_namelen = w->in[i].msg_hdr.msg_namelen,
                                                   .msg_iov = &w->iov_out[nout],
                                                   .msg_iovlen = 1};
            nout++;
        }
        bsn_dns_zone_unpin(w->srv->zone, w->slot);
        for (int sent = 0; sent < nout;) {
            int r = sendmmsg(fd, w->out + sent, (unsigned)(nout - sent), MSG_DONTWAIT);
            if (r <= 0)
                break; /* socket buffer full: UDP may drop, the client retries */
            sent += r;
        }
        if (n < BATCH)
            return;
    }
}

/* --- TCP ----------------------------------------------------------------------------------- */

static void
conn_close(struct conn *c)
{
    struct worker *w = c->w;
    bsn_timer_stop(w->loop, &c->idle);
    if (c->watched)
        bsn_loop_del_fd(w->loop, c->fd);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    free(c->rbuf);
    bsn_buf_fini(&c->wbuf);
    free(c);
}

static void
on_idle(struct bsn_loop *loop, void *data)
{
    struct conn *c = data;
    if (c->inflight > 0) {
        bsn_timer_start(loop, &c->idle, (uint64_t)c->w->srv->idle_ms, on_idle, c);
        return;
    }
    conn_close(c);
}

static void conn_io(struct bsn_loop *loop, int fd, unsigned events, void *data);

static void
conn_update(struct conn *c)
{
    bool want_write = c->wbuf.len > c->woff;
    unsigned ev = want_write ? BSN_EV_WRITE : 0;
    if (!c->eof && c->wbuf.len - c->woff < TCP_WBUF_MAX)
        ev |= BSN_EV_READ;
    /* a half-closed connection waiting only for forwarded answers is taken off the loop, or
     * epoll would keep reporting its hang-up */
    if (ev == 0) {
        if (c->watched)
            bsn_loop_del_fd(c->w->loop, c->fd);
        c->watched = false;
    } else if (c->watched) {
        bsn_loop_mod_fd(c->w->loop, c->fd, ev);
    } else {
        bsn_loop_add_fd(c->w->loop, c->fd, ev, conn_io, c);
        c->watched = true;
    }
}

/* Writes what it can; closes the connection once the peer is done and nothing is owed. */
static void
conn_flush(struct conn *c)
{
    while (c->woff < c->wbuf.len) {
        ssize_t r =
            send(c->fd, c->wbuf.data + c->woff, c->wbuf.len - c->woff, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(c);
            return;
        }
        c->woff += (size_t)r;
    }
    if (c->woff == c->wbuf.len) {
        bsn_buf_reset(&c->wbuf);
        c->woff = 0;
        if (c->eof && c->inflight == 0) {
            conn_close(c);
            return;
        }
    }
    conn_update(c);
}

static void
conn_read(struct conn *c)
{
    struct worker *w = c->w;
    const size_t cap = 2 + 65535;
    ssize_t r = recv(c->fd, c->rbuf + c->rlen, cap - c->rlen, MSG_DONTWAIT);
    if (r == 0) {
        c->eof = true;
    } else if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            c->eof = true;
        return;
    }
    c->rlen += (size_t)(r > 0 ? r : 0);
    bsn_timer_start(w->loop, &c->idle, (uint64_t)w->srv->idle_ms, on_idle, c);
    size_t off = 0;
    const struct bsn_dns_snap *snap = NULL;
    while (c->rlen - off >= 2) {
        size_t mlen = bsn_dns_get16(c->rbuf + off);
        if (mlen < BSN_DNS_HDR_LEN) {
            c->eof = true; /* nonsense framing: stop reading, finish what is owed */
            break;
        }
        if (c->rlen - off < 2 + mlen)
            break;
        if (!snap)
            snap = bsn_dns_zone_pin(w->srv->zone, w->slot);
        STAT_INC(w, tcp_queries);
        size_t n = process(w, snap, c->rbuf + off + 2, mlen, w->scratch, 65535, c, NULL, 0);
        if (n)
            conn_reply(c, w->scratch, n);
        off += 2 + mlen;
    }
    if (snap)
        bsn_dns_zone_unpin(w->srv->zone, w->slot);
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
}

static void
conn_io(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct conn *c = data;
    if (events & (BSN_EV_READ | BSN_EV_ERROR))
        conn_read(c);
    conn_flush(c);
}

static void
on_accept(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct worker *w = data;
    for (int i = 0; i < 64; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        if (w->nconns >= w->srv->conns_per_worker) {
            STAT_INC(w, tcp_conns_rejected);
            close(cfd);
            continue;
        }
        struct conn *c = bsn_calloc(1, sizeof(*c));
        c->w = w;
        c->fd = cfd;
        c->id = ++w->next_conn_id;
        c->rbuf = bsn_malloc(2 + 65535);
        bsn_buf_init(&c->wbuf);
        bsn_timer_init(&c->idle);
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        w->nconns++;
        bsn_loop_add_fd(loop, cfd, BSN_EV_READ, conn_io, c);
        c->watched = true;
        bsn_timer_start(loop, &c->idle, (uint64_t)w->srv->idle_ms, on_idle, c);
    }
}

/* --- setup --------------------------------------------------------------------------------- */

static int
bind_socket(int type, const struct bsn_dns_upstream *addr, struct bsn_err *err)
{
    int fd = socket(addr->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bsn_err_set(err, 500, "InternalError", "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (type == SOCK_DGRAM) {
        int sz = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    if (bind(fd, (const struct sockaddr *)&addr->addr, addr->addrlen) < 0 ||
        (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
        int e = errno;
        close(fd);
        return bsn_err_set(err, 500, "InternalError", "bind %s: %s",
                           type == SOCK_DGRAM ? "udp" : "tcp", strerror(e));
    }
    return fd;
}

static void
set_port(struct bsn_dns_upstream *a, uint16_t port)
{
    if (a->addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->addr)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&a->addr)->sin6_port = htons(port);
}

static uint16_t
bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &l);
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void
worker_free(struct worker *w)
{
    if (!w)
        return;
    while (w->conns)
        conn_close(w->conns);
    for (int i = 0; i < PEND_MAX; i++) {
        free(w->pend[i].pkt);
        chase_free(w->pend[i].chase);
    }
    if (w->loop) {
        bsn_timer_stop(w->loop, &w->tick);
        bsn_loop_free(w->loop);
    }
    if (w->udp_fd >= 0)
        close(w->udp_fd);
    if (w->tcp_fd >= 0)
        close(w->tcp_fd);
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < UPSOCKS; i++)
            if (w->up_fd[f][i] >= 0)
                close(w->up_fd[f][i]);
    if (w->slot >= 0)
        bsn_dns_zone_reader_free(w->srv->zone, w->slot);
    free(w->pend);
    free(w->free_pend);
    free(w->id_map);
    free(w->inbuf);
    free(w->outbuf);
    free(w->scratch);
    free(w->scratch2);
    free(w);
}

static struct worker *
worker_new(struct bsn_dns_server *srv, struct bsn_err *err)
{
    struct worker *w = bsn_calloc(1, sizeof(*w));
    w->srv = srv;
    w->udp_fd = w->tcp_fd = -1;
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < UPSOCKS; i++)
            w->up_fd[f][i] = -1;
    w->slot = bsn_dns_zone_reader_new(srv->zone);
    w->loop = bsn_loop_new();
    w->pend = bsn_calloc(PEND_MAX, sizeof(*w->pend));
    w->free_pend = bsn_malloc(PEND_MAX * sizeof(int));
    for (int i = 0; i < PEND_MAX; i++)
        w->free_pend[i] = PEND_MAX - 1 - i;
    w->nfree = PEND_MAX;
    w->id_map = bsn_calloc(65536, sizeof(*w->id_map));
    w->inbuf = bsn_malloc(BATCH * sizeof(*w->inbuf));
    w->outbuf = bsn_malloc(BATCH * sizeof(*w->outbuf));
    w->scratch = bsn_malloc(65535 + 2);
    w->scratch2 = bsn_malloc(65535);
    bsn_timer_init(&w->tick);
    if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || w->rng == 0)
        w->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)w;
    if (w->slot < 0 || !w->loop) {
        bsn_err_set(err, 500, "InternalError", "dns: no reader slot or event loop");
        worker_free(w);
        return NULL;
    }
    for (int f = 0; f < 2; f++) {
        for (int i = 0; i < UPSOCKS && srv->nups; i++) {
            int fd = socket(f ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            w->up_fd[f][i] = fd;
            if (fd >= 0)
                bsn_loop_add_fd(w->loop, fd, BSN_EV_READ, on_upstream, w);
        }
    }
    return w;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    bsn_loop_run(w->loop);
    return NULL;
}

static void
stop_cb(struct bsn_loop *loop, void *data)
{
    bsn_loop_stop(loop);
}

struct bsn_dns_server *
bsn_dns_server_start(const struct bsn_dns_server_config *cfg, struct bsn_err *err)
{
    struct bsn_dns_upstream la;
    if (!cfg->zone)
        return bsn_err_set(err, 400, "BadRequest", "dns: no zone"), NULL;
    if (bsn_dns_parse_hostport(cfg->listen ? cfg->listen : "127.0.0.1:53", 53, &la) < 0)
        return bsn_err_set(err, 400, "BadRequest", "dns: invalid listen address '%s'", cfg->listen),
               NULL;
    struct bsn_dns_server *srv = bsn_calloc(1, sizeof(*srv));
    srv->zone = cfg->zone;
    srv->timeout_ms = cfg->upstream_timeout_ms > 0 ? cfg->upstream_timeout_ms : 2000;
    srv->idle_ms = cfg->tcp_idle_ms > 0 ? cfg->tcp_idle_ms : 10000;
    int threads = cfg->threads > 0 ? cfg->threads : 1;
    if (threads > BSN_DNS_MAX_THREADS)
        threads = BSN_DNS_MAX_THREADS;
    int maxc = cfg->max_tcp_conns > 0 ? cfg->max_tcp_conns : 1024;
    srv->conns_per_worker = (maxc + threads - 1) / threads;
    for (size_t i = 0; i < cfg->n_upstreams && srv->nups < BSN_DNS_MAX_UPSTREAMS; i++) {
        if (bsn_dns_parse_hostport(cfg->upstreams[i], 53, &srv->ups[srv->nups]) < 0) {
            bsn_err_set(err, 400, "BadRequest", "dns: invalid upstream '%s'", cfg->upstreams[i]);
            free(srv);
            return NULL;
        }
        srv->nups++;
    }
    if (cfg->n_upstreams == 0 && cfg->resolv_conf) {
        struct bsn_dns_upstream tmp[BSN_DNS_MAX_UPSTREAMS];
        int n = bsn_dns_read_resolv_conf(cfg->resolv_conf, tmp, BSN_DNS_MAX_UPSTREAMS);
        for (int i = 0; i < n; i++)
            if (!same_addr(&tmp[i].addr, &la.addr)) /* never forward to ourselves */
                srv->ups[srv->nups++] = tmp[i];
    }
    if (srv->nups)
        srv->cache = bsn_dns_cache_new(cfg->cache_entries);

    uint16_t want =
        ntohs(la.addr.ss_family == AF_INET ? ((struct sockaddr_in *)&la.addr)->sin_port
                                           : ((struct sockaddr_in6 *)&la.addr)->sin6_port);
    for (int attempt = 0; attempt < 20; attempt++) {
        set_port(&la, want);
        bool ok = true;
        for (int i = 0; i < threads && ok; i++) {
            struct worker *w = worker_new(srv, err);
            if (!w) {
                ok = false;
                break;
            }
            srv->w[srv->nworkers++] = w;
            w->udp_fd = bind_socket(SOCK_DGRAM, &la, err);
            if (w->udp_fd >= 0 && i == 0 && want == 0)
                set_port(&la, bound_port(w->udp_fd));
            if (w->udp_fd >= 0)
                w->tcp_fd = bind_socket(SOCK_STREAM, &la, err);
            ok = w->udp_fd >= 0 && w->tcp_fd >= 0;
        }
        if (ok) {
            srv->port = bound_port(srv->w[0]->udp_fd);
            break;
        }
        for (int i = 0; i < srv->nworkers; i++)
            worker_free(srv->w[i]);
        srv->nworkers = 0;
        if (want != 0) /* a fixed port that is taken: report it */
            break;
    }
    if (srv->nworkers == 0) {
        bsn_err_prefix(err, "dns: listen %s", cfg->listen);
        bsn_dns_cache_free(srv->cache);
        free(srv);
        return NULL;
    }
    for (int i = 0; i < srv->nworkers; i++) {
        struct worker *w = srv->w[i];
        bsn_loop_add_fd(w->loop, w->udp_fd, BSN_EV_READ, on_udp, w);
        bsn_loop_add_fd(w->loop, w->tcp_fd, BSN_EV_READ, on_accept, w);
        pthread_create(&w->th, NULL, worker_main, w);
    }
    return srv;
}

uint16_t
bsn_dns_server_port(const struct bsn_dns_server *s)
{
    return s->port;
}

void
bsn_dns_server_stats(const struct bsn_dns_server *s, struct bsn_dns_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < s->nworkers; i++) {
        const struct stats *st = &s->w[i]->st;
#define ADD(f) out->f += atomic_load_explicit(&st->f, memory_order_relaxed)
        ADD(udp_queries);
        ADD(tcp_queries);
        ADD(answered_local);
        ADD(forwarded);
        ADD(cache_hits);
        ADD(servfail);
        ADD(formerr);
        ADD(dropped);
        ADD(truncated);
        ADD(tcp_conns_rejected);
#undef ADD
    }
}

void
bsn_dns_server_stop(struct bsn_dns_server *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nworkers; i++)
        bsn_loop_post(s->w[i]->loop, stop_cb, NULL);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->w[i]->th, NULL);
    for (int i = 0; i < s->nworkers; i++)
        worker_free(s->w[i]);
    bsn_dns_cache_free(s->cache);
    free(s);
}
