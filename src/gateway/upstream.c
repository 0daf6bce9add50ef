/*
 * upstream.c - per-connection send queues and the per-thread keep-alive pools of upstream
 * connections (LIFO per endpoint, bounded, idle ones closed after GW_POOL_IDLE_MS by the
 * worker's sweep timer, which also flushes the access log).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_grpc.h"

/* --- send queues --- */

void
gw_q_append(struct gw_sendq *q, const void *p, size_t n)
{
    if (q->off > 0 && q->off == q->len)
        q->off = q->len = 0;
    if (q->len + n > q->cap) {
        if (q->off > 0) {
            memmove(q->buf, q->buf + q->off, q->len - q->off);
            q->len -= q->off;
            q->off = 0;
        }
        if (q->len + n > q->cap) {
            q->cap = BSN_MAX(q->cap * 2, q->len + n);
            q->buf = bsn_realloc(q->buf, q->cap);
        }
    }
    memcpy(q->buf + q->len, p, n);
    q->len += n;
}

/*
 * Sends iov to fd, queueing what the kernel does not take. Returns 0, or -1 on a socket
 * error (the peer is gone).
 */
int
gw_q_send(int fd, struct gw_sendq *q, struct iovec *iov, int iovcnt)
{
    size_t sent = 0;
    if (!gw_q_pending(q)) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t n;
        do
            n = gw_sys_sendmsg(fd, &mh);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno != EAGAIN)
                return -1;
            n = 0;
        }
        sent = (size_t)n;
    }
    for (int i = 0; i < iovcnt; i++) {
        if (sent >= iov[i].iov_len) {
            sent -= iov[i].iov_len;
            continue;
        }
        gw_q_append(q, (char *)iov[i].iov_base + sent, iov[i].iov_len - sent);
        sent = 0;
    }
    return 0;
}

/* Writes queued bytes; returns 0 (maybe still pending) or -1 on error. */
int
gw_q_flush(int fd, struct gw_sendq *q)
{
    while (gw_q_pending(q)) {
        ssize_t n = send(fd, q->buf + q->off, q->len - q->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        q->off += (size_t)n;
    }
    q->off = q->len = 0;
    return 0;
}

void
gw_q_free(struct gw_sendq *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

/* --- upstream connections --- */

void
gw_up_close(struct gw_worker *w, struct gw_upconn *u)
{
    struct gw_host *h = gw_host_get(w, u->host_id);
    if (h) {
        h->conns--;
        if (!u->connected)
            h->pending--;
    }
    bsn_loop_del_fd(w->loop, u->fd);
    close(u->fd);
    gw_q_free(&u->q);
    free(u);
}

/* Removes u from its host's idle list. */
void
gw_pool_unlink(struct gw_worker *w, struct gw_upconn *u)
{
    struct gw_host *h = gw_host_get(w, u->host_id);
    for (struct gw_upconn **pp = &h->idle; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            h->nidle--;
            return;
        }
}

void
gw_pool_put(struct gw_worker *w, struct gw_upconn *u)
{
    struct gw_host *h = gw_host_get(w, u->host_id);
    if (!h || h->nidle >= GW_POOL_MAX || gw_q_pending(&u->q)) {
        gw_up_close(w, u);
        return;
    }
    u->c = NULL;
    u->idle_since = bsn_loop_now(w->loop);
    u->next = h->idle;
    h->idle = u;
    h->nidle++;
    bsn_loop_mod_fd(w->loop, u->fd, BSN_EV_READ); /* a read event = closed by the upstream */
}

struct gw_upconn *
gw_pool_get(struct gw_worker *w, uint32_t host_id)
{
    struct gw_host *h = gw_host_get(w, host_id);
    struct gw_upconn *u = h ? h->idle : NULL;
    if (u) {
        h->idle = u->next;
        h->nidle--;
        u->next = NULL;
        u->reused = true;
    }
    return u;
}

void
gw_proxy_sweep(struct bsn_loop *loop, void *data)
{
    struct gw_worker *w = data;
    uint64_t now = bsn_loop_now(loop);
    uint32_t nhosts = __atomic_load_n(&w->gw->nhosts, __ATOMIC_ACQUIRE);
    for (uint32_t id = 0; id < nhosts; id++) {
        struct gw_host *h = gw_host_get(w, id);
        if (!h)
            continue;
        struct gw_upconn **pp = &h->idle;
        while (*pp) {
            struct gw_upconn *u = *pp;
            if (now - u->idle_since > GW_POOL_IDLE_MS) {
                *pp = u->next;
                h->nidle--;
                gw_up_close(w, u);
            } else {
                pp = &u->next;
            }
        }
    }
#ifdef BSN_HAVE_NGHTTP2
    gw_h2up_sweep(w); /* idle h2c connections (gRPC pass-through) */
#endif
    gw_log_flush(w);
    gw_otlp_flush(w);
    bsn_timer_start(loop, &w->sweep, 1000, gw_proxy_sweep, w);
}
