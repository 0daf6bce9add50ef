/*
 * dns_server.c - the DNS server threads: sockets, UDP batches, TCP connections, query
 * dispatch (zone or dns_upstream.c), start and stop (see dns_server.h).
 */
#include "net/dns_server_int.h"

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

/* --- TCP connections ----------------------------------------------------------------------- */

static void conn_close(struct conn *c);

struct conn *
dns_conn_find(struct worker *w, uint64_t id)
{
    for (struct conn *c = w->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

void
dns_conn_reply(struct conn *c, const uint8_t *msg, size_t len)
{
    uint8_t pre[2];
    bsn_dns_put16(pre, (uint16_t)len);
    bsn_buf_append(&c->wbuf, pre, 2);
    bsn_buf_append(&c->wbuf, msg, len);
}

/* --- query processing ---------------------------------------------------------------------- */

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
                return dns_chase_start(w, &q, pkt, len, out, n, limit, c, client, clen);
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
    return dns_forward(w, &q, pkt, len, limit, c, client, clen, out, NULL);
}

size_t
dns_local_cmsg(const struct dns_local *local, char *buf, size_t cap, struct msghdr *hdr)
{
    hdr->msg_control = NULL;
    hdr->msg_controllen = 0;
    if (!local || !local->family)
        return 0;
    size_t need = local->family == AF_INET ? CMSG_SPACE(sizeof(struct in_pktinfo))
                                           : CMSG_SPACE(sizeof(struct in6_pktinfo));
    if (need > cap)
        return 0;
    memset(buf, 0, need);
    hdr->msg_control = buf;
    hdr->msg_controllen = need;
    struct cmsghdr *cm = CMSG_FIRSTHDR(hdr);
    if (local->family == AF_INET) {
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo pi = {.ipi_spec_dst = local->v4};
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    } else {
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
        struct in6_pktinfo pi = {.ipi6_addr = local->v6, .ipi6_ifindex = (unsigned)local->ifindex};
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    }
    return need;
}

void
dns_udp_send(struct worker *w, const uint8_t *msg, size_t len,
             const struct sockaddr_storage *client, socklen_t clen, const struct dns_local *local)
{
    char cbuf[64];
    struct iovec iov = {(void *)msg, len};
    struct msghdr hdr = {
        .msg_name = (void *)client, .msg_namelen = clen, .msg_iov = &iov, .msg_iovlen = 1};
    dns_local_cmsg(local, cbuf, sizeof(cbuf), &hdr);
    ssize_t r = sendmsg(w->udp_fd, &hdr, MSG_DONTWAIT);
    (void)r;
}

/* The destination address of a received datagram, from its IP_PKTINFO / IPV6_PKTINFO. */
static void
local_from_msg(struct msghdr *hdr, struct dns_local *out)
{
    memset(out, 0, sizeof(*out));
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(hdr); cm; cm = CMSG_NXTHDR(hdr, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            out->family = AF_INET;
            out->v4 = pi.ipi_addr;
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            out->family = AF_INET6;
            out->v6 = pi.ipi6_addr;
            out->ifindex = (int)pi.ipi6_ifindex;
        }
    }
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
                                               .msg_iovlen = 1,
                                               .msg_control = w->cmsg_in[i],
                                               .msg_controllen = sizeof(w->cmsg_in[i])};
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
            local_from_msg(&w->in[i].msg_hdr, &w->local[i]);
            w->cur_local = &w->local[i];
            size_t len = process(w, snap, w->inbuf[i], w->in[i].msg_len, w->outbuf[nout], UDP_BUF,
                                 NULL, &w->addr[i], w->in[i].msg_hdr.msg_namelen);
            w->cur_local = NULL;
            if (!len)
                continue;
            w->iov_out[nout] = (struct iovec){w->outbuf[nout], len};
            w->out[nout].msg_hdr = (struct msghdr){.msg_name = &w->addr[i],
                                                   .msg_namelen = w->in[i].msg_hdr.msg_namelen,
                                                   .msg_iov = &w->iov_out[nout],
                                                   .msg_iovlen = 1};
            dns_local_cmsg(&w->local[i], w->cmsg_out[nout], sizeof(w->cmsg_out[nout]),
                           &w->out[nout].msg_hdr);
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
void
dns_conn_flush(struct conn *c)
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
            dns_conn_reply(c, w->scratch, n);
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
    dns_conn_flush(c);
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
        /* learn each query's destination address, to answer from it (struct dns_local) */
        if (addr->addr.ss_family == AF_INET)
            setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
        else
            setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
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
        dns_chase_free(w->pend[i].chase);
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
                bsn_loop_add_fd(w->loop, fd, BSN_EV_READ, dns_on_upstream, w);
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
            if (!dns_same_addr(&tmp[i].addr, &la.addr)) /* never forward to ourselves */
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
