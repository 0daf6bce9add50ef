/*
 * dns_upstream.c - forwarding of names outside the cluster zone: pending queries with random
 * ids and source sockets, reply validation, timeouts and retries with SERVFAIL, the response
 * cache, and the completion of ExternalName answers with the target's records.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/dns_server_int.h"

void
dns_chase_free(struct chase *ch)
{
    if (ch) {
        free(ch->pkt);
        free(ch);
    }
}

/* --- forwarding ---------------------------------------------------------------------------- */

static void
deliver(struct worker *w, struct pending *p, const uint8_t *msg, size_t len)
{
    if (!p->tcp) {
        dns_udp_send(w, msg, len, &p->client, p->clen, &p->local);
        return;
    }
    struct conn *c = dns_conn_find(w, p->conn_id);
    if (!c)
        return; /* the client went away */
    c->inflight--;
    dns_conn_reply(c, msg, len);
    dns_conn_flush(c);
}

static void
pend_free(struct worker *w, struct pending *p)
{
    w->id_map[p->up_id] = 0;
    free(p->pkt);
    p->pkt = NULL;
    dns_chase_free(p->chase);
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
    p->up_fd = w->up_fd[u->addr.ss_family == AF_INET6][dns_rand16(w) % UPSOCKS];
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
size_t
dns_forward(struct worker *w, const struct bsn_dns_query *q, const uint8_t *pkt, size_t len,
            size_t limit, struct conn *c, const struct sockaddr_storage *client, socklen_t clen,
            uint8_t *out, struct chase *ch)
{
    if (w->nfree == 0) {
        STAT_INC(w, servfail);
        size_t n = ch ? bsn_dns_reply_error(ch->pkt, &ch->q, BSN_DNS_R_SERVFAIL, out, limit)
                      : bsn_dns_reply_error(pkt, q, BSN_DNS_R_SERVFAIL, out, limit);
        dns_chase_free(ch);
        bsn_dns_put16(out + 2, bsn_dns_get16(out + 2) | BSN_DNS_F_RA);
        return n;
    }
    struct pending *p = &w->pend[w->free_pend[--w->nfree]];
    w->npend++;
    p->used = true;
    uint16_t id;
    do
        id = dns_rand16(w);
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
        if (w->cur_local)
            p->local = *w->cur_local;
        else
            memset(&p->local, 0, sizeof(p->local));
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

bool
dns_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
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

void
dns_on_upstream(struct bsn_loop *loop, int fd, unsigned events, void *data)
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
        if (fd != p->up_fd || !dns_same_addr(&from, &w->srv->ups[p->up_idx].addr))
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

/* --- ExternalName completion ---------------------------------------------------------- */

/* Our answer to q in out is an ExternalName CNAME: resolve its target upstream (or from the
 * cache) and answer CNAME + target records. Returns a reply length now, or 0 (pending). */
size_t
dns_chase_start(struct worker *w, const struct bsn_dns_query *q, const uint8_t *pkt, size_t len,
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
        dns_chase_free(ch);
        return r;
    }
    return dns_forward(w, &uq, up, ul, limit, c, client, clen, out, ch);
}
