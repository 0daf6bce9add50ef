/*
 * proxy.c - the HTTP/1.1 reverse proxy state machine of a worker thread.
 *
 * A client connection (struct gw_conn) carries one request at a time: read the head, route
 * it, run the policies, pick an endpoint, take a keep-alive upstream connection from this
 * thread's pool (or connect), send the head and stream the body, then stream the response
 * back. Pipelined requests wait in the read buffer and are served in order.
 *
 * Zero copy where it matters: request and response heads are parsed in place (http/parser.h);
 * bodies go from the read buffer straight to the other socket with one sendmsg() per batch
 * (head + body + chunk framing in one iovec). Only bytes the kernel did not take are copied,
 * into a per-connection send queue, and the other side stops being read until it drains
 * (backpressure; memory per connection stays bounded by two fixed buffers).
 *
 * Bodies: Content-Length bodies are forwarded as they are; chunked bodies are decoded and
 * re-chunked (trailers dropped); close-delimited responses become chunked for HTTP/1.1
 * clients. After "101 Switching Protocols" the connection becomes a byte tunnel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "gateway/gw_conn.h"

static void up_cb(struct bsn_loop *loop, int fd, unsigned ev, void *data);

/* --- client connections --- */

static void client_cb(struct bsn_loop *loop, int fd, unsigned ev, void *data);
static void conn_timer_cb(struct bsn_loop *loop, void *data);
static void client_drive(struct gw_conn *c);
static void finish_request(struct gw_conn *c);
static void send_request(struct gw_conn *c);

static void
set_deadline(struct gw_conn *c, uint64_t when)
{
    c->deadline = when;
    /* Lazy re-arm: an armed timer that fires early just re-arms for the real deadline. */
    if (!bsn_timer_active(&c->timer) || c->timer.when_ms > when) {
        uint64_t now = bsn_loop_now(c->w->loop);
        bsn_timer_start(c->w->loop, &c->timer, when > now ? when - now : 0, conn_timer_cb, c);
    }
}

static void
tls_pend_run(struct bsn_loop *loop, void *data)
{
    struct gw_worker *w = data;
    struct gw_conn *batch = w->tls_pend;
    w->tls_pend = NULL;
    while (batch) {
        struct gw_conn *c = batch;
        batch = c->tls_next;
        c->tls_pend = false;
        c->tls_next = NULL;
        client_cb(loop, c->fd, BSN_EV_READ, c);
    }
}

static void
tls_schedule(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    if (c->tls_pend)
        return;
    if (!w->tls_pend)
        bsn_loop_defer(w->loop, tls_pend_run, w);
    c->tls_pend = true;
    c->tls_next = w->tls_pend;
    w->tls_pend = c;
}

static void
tls_unschedule(struct gw_conn *c)
{
    if (!c->tls_pend)
        return;
    for (struct gw_conn **pp = &c->w->tls_pend; *pp; pp = &(*pp)->tls_next)
        if (*pp == c) {
            *pp = c->tls_next;
            break;
        }
    c->tls_pend = false;
}

int
gw_client_send(struct gw_conn *c, struct iovec *iov, int iovcnt)
{
    if (!c->ssl)
        return gw_q_send(c->fd, &c->q, iov, iovcnt);
    for (int i = 0; i < iovcnt; i++)
        if (iov[i].iov_len)
            gw_q_append(&c->q, iov[i].iov_base, iov[i].iov_len);
    return gw_tls_flush(c);
}

static void
update_interest(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    struct gw_upconn *u = c->up;
    unsigned ce = 0, ue = 0;
    bool up_blocked = u && gw_q_pending(&u->q);
    switch (c->state) {
    case C_HEAD:
        ce = BSN_EV_READ;
        break;
    case C_BODY:
        if (!c->req_done && u && u->connected && !up_blocked)
            ce = BSN_EV_READ;
        break;
    case C_WAIT:
        /* keep reading: notices a client that went away, and buffers pipelined requests
         * (and it saves two epoll_ctl calls per request) */
        if (c->in_len < GW_IN_CAP)
            ce = BSN_EV_READ;
        break;
    case C_TUNNEL:
        if (!up_blocked)
            ce = BSN_EV_READ;
        break;
    default:
        break;
    }
    if (gw_q_pending(&c->q) || c->tls_want_write)
        ce |= BSN_EV_WRITE;
    bsn_loop_mod_fd(w->loop, c->fd, ce);
    if ((ce & BSN_EV_READ) && gw_tls_pending(c))
        tls_schedule(c); /* decrypted bytes epoll cannot see */
    if (u) {
        if (!u->connected)
            ue = BSN_EV_WRITE;
        else {
            if ((c->ustate == U_HEAD || c->ustate == U_BODY || c->state == C_TUNNEL) &&
                !gw_q_pending(&c->q))
                ue = BSN_EV_READ;
            if (up_blocked)
                ue |= BSN_EV_WRITE;
        }
        bsn_loop_mod_fd(w->loop, u->fd, ue);
    }
}

static void
conn_free(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    gw_agg_cancel(c);
    if (c->conc_counted && c->route && c->route->stats)
        c->route->stats->cells[w->id].inflight--;
    c->conc_counted = false;
    bsn_timer_stop(w->loop, &c->timer);
    bsn_timer_stop(w->loop, &c->retry_timer);
    if (c->fd >= 0) {
        bsn_loop_del_fd(w->loop, c->fd);
        close(c->fd);
    }
    tls_unschedule(c);
    gw_tls_free(c);
    if (c->up) {
        gw_up_close(w, c->up);
        c->up = NULL;
    }
    if (c->cref)
        gw_cfg_release(w, c->cref);
    gw_q_free(&c->q);
    GW_INC(&w->nconns, -1);
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        w->conns = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    if (w->nfree_conns < 64) {
        bsn_buf_reset(&c->uphead);
        bsn_buf_reset(&c->head);
        bsn_buf_reset(&c->fwd);
        bsn_buf_reset(&c->cache_key);
        bsn_buf_fini(&c->cache_body);
        c->next_free = w->free_conns;
        w->free_conns = c;
        w->nfree_conns++;
    } else {
        bsn_buf_fini(&c->uphead);
        bsn_buf_fini(&c->head);
        bsn_buf_fini(&c->fwd);
        bsn_buf_fini(&c->cache_key);
        bsn_buf_fini(&c->cache_body);
        free(c);
    }
}

static void accept_conns(struct bsn_loop *loop, int lfd, struct gw_worker *w, bool tls);
static int conn_setup(struct gw_worker *w, int fd, const struct sockaddr_storage *ss, bool tls,
                      bool h2_tls);

static void
accept_resume(struct bsn_loop *loop, void *data)
{
    struct gw_worker *w = data;
    for (int i = 0; i < w->nlfds; i++)
        bsn_loop_mod_fd(loop, w->lfds[i], BSN_EV_READ);
}

void
gw_proxy_accept(struct bsn_loop *loop, int lfd, unsigned events, void *data)
{
    accept_conns(loop, lfd, data, false);
}

void
gw_proxy_accept_tls(struct bsn_loop *loop, int lfd, unsigned events, void *data)
{
    accept_conns(loop, lfd, data, true);
}

static void
accept_conns(struct bsn_loop *loop, int lfd, struct gw_worker *w, bool tls)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: the listener would fire again at once (level-
                 * triggered), so stop accepting for a moment instead of spinning */
                if (!bsn_timer_active(&w->accept_pause)) {
                    bsn_warn("gateway", "accept: %s; pausing accepts for 100 ms", strerror(errno));
                    for (int k = 0; k < w->nlfds; k++)
                        bsn_loop_mod_fd(loop, w->lfds[k], 0);
                    bsn_timer_start(loop, &w->accept_pause, 100, accept_resume, w);
                }
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_setup(w, fd, &ss, tls, false);
    }
}

/* Wraps a client socket into a connection. h2_tls: a stream from h2front.c over TLS. */
static int
conn_setup(struct gw_worker *w, int fd, const struct sockaddr_storage *ss, bool tls, bool h2_tls)
{
    struct bsn_loop *loop = w->loop;
    struct gw_conn *c = w->free_conns;
    if (c) {
        w->free_conns = c->next_free;
        w->nfree_conns--;
    } else {
        c = bsn_malloc(sizeof(*c));
        bsn_buf_init(&c->uphead);
        bsn_buf_init(&c->head);
        bsn_buf_init(&c->fwd);
        bsn_buf_init(&c->cache_key);
        bsn_buf_init(&c->cache_body);
    }
    memset(c, 0, offsetof(struct gw_conn, uphead));
    c->fd = fd;
    c->w = w;
    c->peer = *ss;
    c->h2_tls = h2_tls;
    c->in_len = 0;
    bsn_timer_init(&c->timer);
    bsn_timer_init(&c->retry_timer);
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, c->peer_ip,
                  sizeof(c->peer_ip));
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, c->peer_ip,
                  sizeof(c->peer_ip));
    else
        strcpy(c->peer_ip, "unix");
    if ((tls && gw_tls_accept(c, w->gw->tls_ctx) < 0) ||
        bsn_loop_add_fd(loop, fd, BSN_EV_READ, client_cb, c) < 0) {
        gw_tls_free(c);
        close(fd);
        bsn_buf_fini(&c->uphead);
        bsn_buf_fini(&c->head);
        bsn_buf_fini(&c->fwd);
        bsn_buf_fini(&c->cache_key);
        bsn_buf_fini(&c->cache_body);
        free(c);
        return -1;
    }
    c->state = C_HEAD;
    c->lprev = NULL;
    c->lnext = w->conns;
    if (w->conns)
        w->conns->lprev = c;
    w->conns = c;
    GW_INC(&w->nconns, 1);
    GW_INC(&w->conns_total, 1);
    set_deadline(c, bsn_loop_now(loop) + GW_HEADER_TIMEOUT_MS);
    return 0;
}

int
gw_proxy_adopt(struct gw_worker *w, int fd, const struct sockaddr_storage *peer, bool https)
{
    return conn_setup(w, fd, peer, false, https);
}

/* --- local replies --- */

/* Sends a complete response generated by the gateway and finishes the request. */
void
gw_local_reply(struct gw_conn *c, int status, const char *extra_headers, const char *body)
{
    gw_local_reply_ct(c, status, "text/plain; charset=utf-8", extra_headers, body,
                      body ? strlen(body) : 0);
}

void
gw_local_reply_ct(struct gw_conn *c, int status, const char *ctype, const char *extra_headers,
                  const char *body, size_t blen)
{
    const struct gw_policy *fp = c->route ? c->route->policy : NULL;
    char fb_hdr[64];
    if (fp && fp->fallback_status && status >= 502 && status <= 504 && !extra_headers) {
        /* the route's fallback response instead of the gateway's error */
        snprintf(fb_hdr, sizeof(fb_hdr), "X-Bosun-Fallback: %d\r\n", status);
        extra_headers = fb_hdr;
        status = fp->fallback_status;
        ctype = fp->fallback_ctype;
        body = fp->fallback_body;
        blen = strlen(body);
    }
    if (c->req_left != 0 || (c->req_chunked && !c->req_done))
        c->keep_alive = false; /* unread request body: cannot keep the conn (say so) */
    bsn_buf_reset(&c->head);
    bsn_buf_printf(&c->head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\n%s%s\r\n",
                   status, bsn_http_status_text(status), ctype, blen,
                   extra_headers ? extra_headers : "",
                   c->keep_alive ? "" : "Connection: close\r\n");
    struct iovec iov[2] = {{c->head.data, c->head.len}, {(void *)body, c->is_head ? 0 : blen}};
    c->status = status;
    c->bytes_out += c->head.len + iov[1].iov_len;
    if (gw_client_send(c, iov, 2) < 0)
        c->keep_alive = false;
    c->req_done = true;
    if (c->req_left != 0 || c->req_chunked) /* unread request body: cannot keep the conn */
        c->keep_alive = false;
    finish_request(c);
}

void
gw_fail_reply(struct gw_conn *c, int status, const char *msg)
{
    if (c->resp_started) { /* too late for a status: cut the connection */
        c->keep_alive = false;
        c->status = c->status ? c->status : status;
        c->aborted = true;
        finish_request(c);
        return;
    }
    gw_local_reply(c, status, NULL, msg);
}

/* --- request path --- */

static void
conn_close_now(struct gw_conn *c)
{
    if (c->cref && !c->driving) {
        c->aborted = true;
        c->keep_alive = false;
        finish_request(c); /* frees c */
        return;
    }
    conn_free(c);
}

static int
start_upstream(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    const struct gw_route *r = c->route;
    struct gw_lb_ctx lctx = {(const struct sockaddr *)&c->peer, &c->req};
    int ep = gw_lb_pick_endpoint(w, r, c->backend, &lctx, c->ep);
    if (ep < 0) {
        gw_local_reply(c, 503, NULL, "no healthy upstream\n");
        return -1;
    }
    c->ep = ep;
    const struct gw_endpoint *e = &c->backend->eps[ep];
    struct gw_host *h = gw_host_get(w, e->host_id);
    const struct gw_policy *p = r->policy;
    if (p->cb_max_requests > 0 && h->active >= p->cb_max_requests) {
        gw_local_reply(c, 503, "X-Bosun-Overflow: requests\r\n", "upstream overflow\n");
        return -1;
    }
    c->attempts++;
    struct gw_upconn *u = gw_pool_get(w, e->host_id);
    if (!u) {
        if (p->cb_max_connections > 0 && h->conns >= p->cb_max_connections) {
            gw_local_reply(c, 503, "X-Bosun-Overflow: connections\r\n", "upstream overflow\n");
            return -1;
        }
        if (p->cb_max_pending > 0 && h->pending >= p->cb_max_pending) {
            gw_local_reply(c, 503, "X-Bosun-Overflow: pending\r\n", "upstream overflow\n");
            return -1;
        }
        /* TLS to the upstream: the backend Service's policy, else the route's */
        const struct gw_policy *tp = c->backend->policy && c->backend->policy->btls_ctx
                                         ? c->backend->policy
                                         : (p->btls_ctx ? p : NULL);
        int fd = tp ? gw_up_tls_open(w, e, tp)
                    : socket(e->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            gw_local_reply(c, 503, NULL, "upstream connect error\n");
            return -1;
        }
        int one = 1;
        if (!tp)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        u = bsn_calloc(1, sizeof(*u));
        u->fd = fd;
        u->host_id = e->host_id;
        u->w = w;
        h->conns++;
        GW_INC(&h->connects, 1);
        int rc = tp ? 0 : connect(fd, (const struct sockaddr *)&e->sa, e->salen);
        u->connected = rc == 0;
        if (!u->connected)
            h->pending++; /* waiting for the connection: counts against maxPendingRequests */
        if (rc < 0 && errno != EINPROGRESS) {
            gw_up_close(w, u);
            c->up = NULL;
            return gw_upstream_failed(c, GW_FAIL_CONNECT);
        }
        if (bsn_loop_add_fd(w->loop, fd, u->connected ? BSN_EV_READ : BSN_EV_WRITE, up_cb, u) < 0) {
            gw_up_close(w, u);
            gw_local_reply(c, 503, NULL, "upstream connect error\n");
            return -1;
        }
    }
    u->c = c;
    c->up = u;
    h->active++;
    c->host_counted = true;
    uint64_t now = bsn_loop_now(w->loop);
    if (!u->connected) {
        c->ustate = U_CONNECTING;
        set_deadline(c, BSN_MIN(c->req_deadline, now + (p->connect_ms ? p->connect_ms : 5000)));
        update_interest(c);
        return 0;
    }
    send_request(c);
    return 0;
}

/* Forwards request body bytes data[0..len) (already decoded if chunked) to the upstream. */
static int
forward_req_body(struct gw_conn *c, char *data, size_t len, bool last, struct iovec *pre, int npre)
{
    struct iovec iov[6];
    int n = 0;
    for (int i = 0; i < npre; i++)
        iov[n++] = pre[i];
    char chdr[24];
    if (c->req_chunked) {
        if (len > 0) {
            iov[n++] = (struct iovec){chdr, (size_t)snprintf(chdr, sizeof(chdr), "%zx\r\n", len)};
            iov[n++] = (struct iovec){data, len};
            iov[n++] = (struct iovec){"\r\n", 2};
        }
        if (last)
            iov[n++] = (struct iovec){"0\r\n\r\n", 5};
    } else if (len > 0) {
        iov[n++] = (struct iovec){data, len};
    }
    c->bytes_in += len;
    if (n == 0)
        return 0;
    return gw_q_send(c->up->fd, &c->up->q, iov, n);
}

/*
 * Consumes request body bytes from c->in[off..in_len): forwards them and notes where a
 * pipelined next request starts. Returns -1 on a malformed chunked body.
 */
static int
take_req_body(struct gw_conn *c, size_t off, struct iovec *pre, int npre)
{
    char *data = c->in + off;
    size_t avail = c->in_len - off;
    size_t len;
    bool last = false;
    if (c->req_chunked) {
        len = avail;
        int rc = bsn_http_chunked_decode(&c->req_ch, data, &len);
        if (rc == BSN_HTTP_ERROR)
            return -1;
        int64_t max = c->route->policy->max_body;
        if (max > 0 && c->req_ch.total > (uint64_t)max)
            return -3; /* chunked body over the policy's limit */
        if (rc >= 0) {
            last = true;
            c->pipe_off = off + len;
            c->in_len = off + len + (size_t)rc; /* the decoder moved what follows the body */
        }
    } else {
        len = (size_t)BSN_MIN((int64_t)avail, c->req_left);
        c->req_left -= (int64_t)len;
        if (c->req_left == 0) {
            last = true;
            c->pipe_off = off + len;
        }
    }
    if (last)
        c->req_done = true;
    if (forward_req_body(c, data, len, last, pre, npre) < 0)
        return -2;
    return 0;
}

static void
send_request(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    struct iovec pre = {c->uphead.data, c->uphead.len};
    uint64_t now = bsn_loop_now(w->loop);
    c->ustate = U_HEAD;
    c->up_len = 0;
    if (c->req_done) {
        /* retry, or no body: everything is still in the buffer */
        struct iovec iov[2] = {pre, {c->in + c->head_len, c->body_in_buf}};
        if (gw_q_send(c->up->fd, &c->up->q, iov, c->body_in_buf ? 2 : 1) < 0) {
            gw_upstream_failed(c, GW_FAIL_RESET);
            return;
        }
    } else {
        int rc = take_req_body(c, c->head_len, &pre, 1);
        if (rc == -1 || rc == -3) {
            c->keep_alive = false;
            gw_fail_reply(c, rc == -1 ? 400 : 413,
                          rc == -1 ? "malformed chunked body\n" : "request body too large\n");
            return;
        }
        if (rc == -2) {
            gw_upstream_failed(c, GW_FAIL_RESET);
            return;
        }
        if (c->req_done && !c->req_chunked) {
            c->body_in_buf = c->pipe_off - c->head_len; /* retryable */
            c->retryable = true;
        } else {
            c->retryable = false;
            if (!c->req_done)
                c->in_len = c->head_len; /* body bytes are gone; keep the head */
        }
    }
    c->state = c->req_done ? C_WAIT : C_BODY;
    const struct gw_policy *p = c->route->policy;
    uint64_t d = c->req_deadline;
    if (p->per_try_ms)
        d = BSN_MIN(d, now + p->per_try_ms);
    set_deadline(c, d);
    update_interest(c);
}

static void
put_hex(char *out, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < digits; i++)
        out[i] = hex[(v >> (4 * (digits - 1 - i))) & 15];
}

/*
 * W3C Trace Context: the gateway is a hop, so it keeps the trace id of a valid incoming
 * traceparent ("00-<32 hex>-<16 hex>-<2 hex>") and replaces the parent id with its own span
 * id; without one (or with a malformed one) it starts a new sampled trace.
 */
static void
put_traceparent(struct gw_conn *c, struct bsn_buf *b, struct bsn_str in)
{
    char tp[13 + 55 + 2] = "traceparent: ";
    char *v = tp + 13;
    bool valid = in.len == 55 && in.base[2] == '-' && in.base[35] == '-' && in.base[52] == '-';
    for (size_t i = 0; valid && i < 55; i++)
        if (i != 2 && i != 35 && i != 52)
            valid = (in.base[i] >= '0' && in.base[i] <= '9') ||
                    (in.base[i] >= 'a' && in.base[i] <= 'f');
    if (valid && memcmp(in.base + 3, "00000000000000000000000000000000", 32) == 0)
        valid = false;
    if (valid) {
        memcpy(v, in.base, 55);
    } else {
        memcpy(v, "00-", 3);
        put_hex(v + 3, gw_rand(c->w), 16);
        put_hex(v + 19, gw_rand(c->w), 16);
        memcpy(v + 52, "-01", 3);
    }
    v[35] = '-';
    put_hex(v + 36, gw_rand(c->w) | 1, 16);
    memcpy(c->trace, v, 55);
    c->trace[55] = 0;
    c->parent_span[0] = 0;
    if (valid) {
        memcpy(c->parent_span, in.base + 36, 16);
        c->parent_span[16] = 0;
    }
    c->traced = true;
    v[55] = '\r';
    v[56] = '\n';
    bsn_buf_append(b, tp, 13 + 57);
}

/* True when the filter-added header lines in fwd set header n. */
static bool
in_fwd(const struct bsn_buf *fwd, struct bsn_str n)
{
    const char *p = fwd->data, *end = fwd->data + fwd->len;
    while (p < end) {
        if ((size_t)(end - p) > n.len && p[n.len] == ':' && strncasecmp(p, n.base, n.len) == 0)
            return true;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    return false;
}

/* Builds the upstream request head into c->uphead. */
static void
build_uphead(struct gw_conn *c)
{
    const struct gw_route *r = c->route;
    const struct gw_policy *p = r->policy;
    const struct bsn_http_request_head *q = &c->req;
    struct bsn_buf *b = &c->uphead;
    bsn_buf_reset(b);
    bsn_buf_reserve(b, c->head_len + 256);
    bsn_buf_append(b, q->method.base, q->method.len);
    bsn_buf_putc(b, ' ');
    if (r->rewrite_full) {
        bsn_buf_puts(b, r->rewrite_full);
    } else if (r->rewrite_prefix && r->path_kind == GW_PATH_PREFIX) {
        size_t pl = strlen(r->path);
        if (pl == 1) /* prefix "/" */
            pl = 0;
        const char *rest = q->path.base + BSN_MIN(pl, q->path.len);
        size_t restlen = q->path.len - BSN_MIN(pl, q->path.len);
        size_t rpl = strlen(r->rewrite_prefix);
        bsn_buf_puts(b, r->rewrite_prefix);
        if (restlen == 0 && rpl == 0)
            bsn_buf_putc(b, '/');
        else if (restlen > 0 && rpl > 0 && r->rewrite_prefix[rpl - 1] == '/' && rest[0] == '/')
            b->len--; /* avoid "//" */
        bsn_buf_append(b, rest, restlen);
    } else {
        bsn_buf_append(b, q->path.base, q->path.len);
    }
    if (q->target.len > q->path.len) { /* keep "?query" as sent */
        bsn_buf_putc(b, '?');
        bsn_buf_append(b, q->query.base, q->query.len);
    }
    bsn_buf_puts(b, " HTTP/1.1\r\nHost: ");
    if (r->rewrite_host)
        bsn_buf_puts(b, r->rewrite_host);
    else
        bsn_buf_append(b, q->host.base, q->host.len);
    bsn_buf_puts(b, "\r\n");
    bool conn_tokens = q->connection.len > 0 && !bsn_str_case_eq(q->connection, "keep-alive") &&
                       !bsn_str_case_eq(q->connection, "close");
    struct bsn_str xff = BSN_STR_NULL, tp = BSN_STR_NULL;
    bool has_rid = false;
    for (size_t i = 0; i < q->nheaders; i++) {
        struct bsn_str n = q->headers[i].name;
        if (n.len == 4 && bsn_str_case_eq(n, "host"))
            continue;
        if (gw_is_hop_header(n))
            continue;
        if (n.len == 15 && bsn_str_case_eq(n, "x-forwarded-for")) {
            xff = q->headers[i].value;
            continue;
        }
        if ((n.len == 17 && bsn_str_case_eq(n, "x-forwarded-proto")) ||
            (n.len == 16 && bsn_str_case_eq(n, "x-forwarded-host")))
            continue;
        if (n.len == 12 && bsn_str_case_eq(n, "x-request-id"))
            has_rid = true;
        if (n.len == 6 && q->expect_continue && bsn_str_case_eq(n, "expect"))
            continue; /* the gateway answered 100 Continue itself */
        if (n.len == 11 && p->gen_traceparent && bsn_str_case_eq(n, "traceparent")) {
            tp = q->headers[i].value;
            continue;
        }
        if (conn_tokens) {
            char tmp[64];
            if (n.len < sizeof(tmp)) {
                memcpy(tmp, n.base, n.len);
                tmp[n.len] = '\0';
                if (bsn_http_list_has(q->connection, tmp))
                    continue;
            }
        }
        if ((r->nmods && gw_mod_drops(&r->req_hdr, n)) || gw_mod_drops(&p->req_hdr, n))
            continue;
        if (c->fwd.len && in_fwd(&c->fwd, n)) /* X-Auth-User, JWT claims: ours, not the client's */
            continue;
        /* the original line is contiguous in the read buffer: "Name: value" */
        bsn_buf_append(b, n.base,
                       (size_t)(q->headers[i].value.base + q->headers[i].value.len - n.base));
        bsn_buf_puts(b, "\r\n");
    }
    bsn_buf_puts(b, "X-Forwarded-For: ");
    if (xff.len) {
        bsn_buf_append(b, xff.base, xff.len);
        bsn_buf_puts(b, ", ");
    }
    bsn_buf_puts(b, c->peer_ip);
    bsn_buf_puts(b, c->ssl || c->h2_tls ? "\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: "
                                        : "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ");
    bsn_buf_append(b, q->host.base, q->host.len);
    bsn_buf_puts(b, "\r\n");
    if (!has_rid && p->gen_request_id) {
        static const char hex[] = "0123456789abcdef";
        char rid[14 + 32 + 2] = "X-Request-Id: ";
        uint64_t r1 = gw_rand(c->w), r2 = gw_rand(c->w);
        for (int i = 0; i < 16; i++) {
            rid[14 + i] = hex[(r1 >> (60 - 4 * i)) & 15];
            rid[30 + i] = hex[(r2 >> (60 - 4 * i)) & 15];
        }
        rid[46] = '\r';
        rid[47] = '\n';
        bsn_buf_append(b, rid, sizeof(rid));
    }
    if (p->gen_traceparent)
        put_traceparent(c, b, tp);
    if (r->nmods)
        gw_put_mods(b, &r->req_hdr);
    gw_put_mods(b, &p->req_hdr);
    if (c->fwd.len)
        bsn_buf_append(b, c->fwd.data, c->fwd.len);
    if (q->upgrade) {
        bsn_buf_puts(b, "Connection: upgrade\r\nUpgrade: ");
        bsn_buf_append(b, q->upgrade_proto.base, q->upgrade_proto.len);
        bsn_buf_puts(b, "\r\n");
    }
    if (q->chunked)
        bsn_buf_puts(b, "Transfer-Encoding: chunked\r\n");
    bsn_buf_puts(b, "\r\n");
}

static void
redirect_reply(struct gw_conn *c)
{
    const struct gw_route *r = c->route;
    const struct bsn_http_request_head *q = &c->req;
    struct bsn_buf loc;
    bsn_buf_init(&loc);
    bsn_buf_puts(&loc, "Location: ");
    bsn_buf_puts(&loc, r->redirect_scheme ? r->redirect_scheme : "http");
    bsn_buf_puts(&loc, "://");
    if (r->redirect_host) {
        bsn_buf_puts(&loc, r->redirect_host);
    } else {
        const char *colon = memchr(q->host.base, ':', q->host.len);
        bsn_buf_append(&loc, q->host.base, colon ? (size_t)(colon - q->host.base) : q->host.len);
    }
    if (r->redirect_port)
        bsn_buf_printf(&loc, ":%d", r->redirect_port);
    if (r->redirect_path) {
        bsn_buf_puts(&loc, r->redirect_path);
    } else if (r->rewrite_prefix && r->path_kind == GW_PATH_PREFIX) {
        size_t pl = strlen(r->path) == 1 ? 0 : strlen(r->path);
        bsn_buf_puts(&loc, r->rewrite_prefix);
        bsn_buf_append(&loc, q->path.base + BSN_MIN(pl, q->path.len),
                       q->path.len - BSN_MIN(pl, q->path.len));
    } else {
        bsn_buf_append(&loc, q->path.base, q->path.len);
    }
    if (q->target.len > q->path.len) {
        bsn_buf_putc(&loc, '?');
        bsn_buf_append(&loc, q->query.base, q->query.len);
    }
    bsn_buf_puts(&loc, "\r\n");
    gw_local_reply(c, r->redirect_status, loc.data, "");
    bsn_buf_fini(&loc);
}

/* Handles a parsed request head (c->req, c->head_len). */
static void
start_request(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    const struct bsn_http_request_head *q = &c->req;
    c->start_ns = bsn_mono_ns();
    c->cref = w->cur;
    c->cref->inflight++;
    w->active_requests++;
    GW_INC(&w->requests_total, 1);
    c->keep_alive = q->keep_alive && !w->draining;
    c->is_head = bsn_str_eq(q->method, "HEAD");
    c->req_chunked = q->chunked;
    c->req_left = q->chunked ? 0 : (q->content_length > 0 ? q->content_length : 0);
    c->req_done = !q->chunked && c->req_left == 0;
    c->body_in_buf = 0;
    c->pipe_off = c->head_len;
    c->retryable = c->req_done;
    c->ep = -1;
    c->backend = NULL;
    c->retried = false;
    c->attempts = 0;
    c->status = 0;
    c->bytes_in = c->head_len;
    c->bytes_out = 0;
    c->resp_started = false;
    c->aborted = false;
    c->traced = false;
    if (c->req_chunked)
        bsn_http_chunked_init(&c->req_ch);
    bsn_buf_reset(&c->fwd);
    struct bsn_gw_request_info ri = {q->host,  q->method,  q->path,
                                     q->query, q->headers, q->nheaders};
    const struct gw_route *r = (const struct gw_route *)bsn_gw_route_match(c->cref->cfg, &ri);
    c->route = r;
    if (!r) {
        gw_local_reply(c, 404, NULL, "no route\n");
        return;
    }
    /* with many routes these lines are likely cold: fetch them while the request is handled
     * (the counters are written when it finishes) */
    __builtin_prefetch((const char *)r + 64);
    if (r->cells) {
        __builtin_prefetch(&r->cells[w->id], 1);
        __builtin_prefetch((const char *)&r->cells[w->id] + 64, 1);
    }
    const struct gw_policy *p = r->policy;
    uint64_t now = bsn_loop_now(w->loop);
    c->req_deadline = now + (p->request_ms ? p->request_ms : 86400000);
    if (p->max_concurrent > 0 && r->cells) {
        struct gw_stat_cell *cell = &r->cells[w->id];
        int nth = w->gw->nthreads;
        int64_t share = (p->max_concurrent + nth - 1) / nth; /* per worker thread */
        if (cell->inflight >= share) {
            GW_INC(&cell->rejected, 1);
            gw_local_reply(c, 503, "Retry-After: 1\r\nX-Bosun-Overflow: concurrency\r\n",
                           "route concurrency limit\n");
            return;
        }
        cell->inflight++;
        c->conc_counted = true;
    }
    if (p->max_body > 0 && q->content_length > p->max_body) {
        gw_local_reply(c, 413, NULL, "request body too large\n");
        return;
    }
    if (q->expect_continue && c->req_left > 0) {
        /* We stream the body anyway; tell the client to go ahead. */
        struct iovec iov = {"HTTP/1.1 100 Continue\r\n\r\n", 25};
        gw_client_send(c, &iov, 1);
    }
    struct gw_local_reply lr = {0};
    bsn_buf_init(&lr.headers);
    int st = gw_filters_request(w, r, q, (const struct sockaddr *)&c->peer, &c->fwd, &lr);
    if (st > 0) {
        gw_local_reply(c, st, lr.headers.data, lr.body);
        bsn_buf_fini(&lr.headers);
        return;
    }
    bsn_buf_fini(&lr.headers);
    if (r->direct_status) {
        gw_local_reply(c, r->direct_status, NULL, "route has no valid backend\n");
        return;
    }
    if (r->redirect_status) {
        redirect_reply(c);
        return;
    }
    if (r->policy->nagg > 0) {
        set_deadline(c, now + r->policy->agg_timeout_ms + 1000);
        gw_agg_start(c);
        return;
    }
    c->cacheable = gw_cache_request(c);
    if (c->cacheable && gw_cache_serve(c)) {
        c->req_done = true;
        finish_request(c);
        return;
    }
    c->backend = gw_lb_pick_backend(w, r);
    if (!c->backend || c->backend->neps == 0) {
        gw_local_reply(c, 503, NULL, "no healthy upstream\n");
        return;
    }
    build_uphead(c);
    if (r->mirror)
        gw_mirror_request(c);
    start_upstream(c);
}

/* Sets up request state for answering a request head that could not be parsed. */
static void
begin_error(struct gw_conn *c)
{
    c->keep_alive = false;
    c->cref = c->w->cur;
    c->cref->inflight++;
    c->w->active_requests++;
    c->start_ns = bsn_mono_ns();
    c->route = NULL;
    c->backend = NULL;
    c->ep = -1;
    c->head_len = 0;
    c->req_left = 0;
    c->req_chunked = false;
    c->is_head = false;
    c->status = 0;
    c->bytes_in = c->in_len;
    c->bytes_out = 0;
    c->resp_started = false;
}

/* Parses and starts requests already in the buffer. */
static void
client_drive(struct gw_conn *c)
{
    if (c->driving)
        return;
    c->driving = true;
    while (c->state == C_HEAD && c->in_len > 0) {
        int status = 400;
        int rc = bsn_http_parse_request(c->in, c->in_len, &c->req, &status);
        if (rc == BSN_HTTP_INCOMPLETE) {
            if (c->in_len == GW_IN_CAP) {
                begin_error(c);
                gw_local_reply(c, 431, NULL, "request header fields too large\n");
            }
            break;
        }
        if (rc < 0) {
            begin_error(c);
            gw_local_reply(c, status, NULL, "bad request\n");
            break;
        }
        c->head_len = (size_t)rc;
        c->state = C_BODY;
        start_request(c);
    }
    c->driving = false;
    if (c->closing && !gw_q_pending(&c->q)) {
        conn_free(c);
        return;
    }
    update_interest(c);
}

/* The request is over (response sent or given up): account, release, next. */
static void
finish_request(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    const struct gw_route *r = c->route;
    uint64_t idle_ms = r && r->policy->idle_ms ? r->policy->idle_ms : GW_IDLE_TIMEOUT_MS;
    gw_agg_cancel(c);
    if (c->conc_counted) {
        r->cells[w->id].inflight--;
        c->conc_counted = false;
    }
    if (c->up) {
        struct gw_upconn *u = c->up;
        c->up = NULL;
        bool reuse = !c->aborted && c->ustate == U_DONE && c->resp_keep_alive && c->req_done &&
                     c->up_len == 0 && c->state != C_TUNNEL;
        if (reuse)
            gw_pool_put(w, u);
        else
            gw_up_close(w, u);
    }
    if (c->host_counted) {
        struct gw_host *h = gw_host_get(w, c->backend->eps[c->ep].host_id);
        h->active--;
        c->host_counted = false;
    }
    bsn_timer_stop(w->loop, &c->retry_timer);
    gw_gzip_end(c);
    gw_cache_capture_end(c, false);
    c->cacheable = false;
    if (r && r->cells) {
        struct gw_stat_cell *cell = &r->cells[w->id];
        uint64_t us = (bsn_mono_ns() - c->start_ns) / 1000;
        GW_INC(&cell->requests, 1);
        int cls = c->status >= 100 && c->status < 600 ? c->status / 100 : 0;
        GW_INC(&cell->status[cls], 1);
        GW_INC(&cell->bytes_in, c->bytes_in);
        GW_INC(&cell->bytes_out, c->bytes_out);
        GW_INC(&cell->lat_sum_us, us);
        int bkt = 0;
        static const uint64_t bounds[GW_LAT_BUCKETS - 1] = {
            500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000};
        while (bkt < GW_LAT_BUCKETS - 1 && us > bounds[bkt])
            bkt++;
        GW_INC(&cell->lat[bkt], 1);
    }
    if (w->gw->log_fd >= 0)
        gw_log_request(c);
    if (c->traced)
        gw_otlp_span(c);
    if (c->cref) {
        gw_cfg_release(w, c->cref);
        c->cref = NULL;
        w->active_requests--;
    }
    if (c->retried) {
        w->active_retries--;
        c->retried = false;
    }
    c->route = NULL;
    c->ustate = U_NONE;
    if (c->state == C_TUNNEL)
        c->keep_alive = false;
    if (!c->keep_alive || c->aborted) {
        c->closing = true;
        c->state = C_CLOSING;
        c->in_len = 0;
        if (!c->driving && (!gw_q_pending(&c->q) || c->aborted))
            conn_free(c);
        else if (!c->driving)
            update_interest(c);
        return;
    }
    /* keep the pipelined bytes that followed this request */
    size_t rest = c->in_len > c->pipe_off ? c->in_len - c->pipe_off : 0;
    if (rest && c->pipe_off)
        memmove(c->in, c->in + c->pipe_off, rest);
    c->in_len = rest;
    c->pipe_off = 0;
    c->state = C_HEAD;
    set_deadline(c, bsn_loop_now(w->loop) + idle_ms); /* r may be gone: cref released */
    if (!c->driving)
        client_drive(c);
}

/* --- client events --- */

/* The client negotiated HTTP/2: the connection (socket and TLS state) moves to h2front.c. */
static void
h2_handoff(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    int fd = c->fd;
    struct ssl_st *ssl = c->ssl;
    struct sockaddr_storage peer = c->peer;
    bsn_loop_del_fd(w->loop, fd);
    tls_unschedule(c);
    c->ssl = NULL;
    c->fd = -1;
    size_t npre = c->in_len; /* h2c: the preface (and what followed it) already read */
    char *pre = npre ? bsn_malloc(npre) : NULL;
    if (npre)
        memcpy(pre, c->in, npre);
    conn_free(c);
    gw_h2_adopt(w, fd, ssl, (const struct sockaddr *)&peer, pre, npre);
    free(pre);
}

static void
client_read(struct gw_conn *c)
{
    for (;;) {
        size_t space = GW_IN_CAP - c->in_len;
        if (space == 0) {
            update_interest(c); /* stop reading until the buffer drains */
            return;
        }
        if (c->ssl && !c->handshaken) {
            int hs = gw_tls_handshake(c);
            if (hs == 0) {
                update_interest(c);
                return;
            }
            if (hs < 0) {
                conn_close_now(c);
                return;
            }
            c->handshaken = true;
            if (gw_tls_is_h2(c)) {
                h2_handoff(c);
                return;
            }
        }
        ssize_t n = c->ssl ? gw_tls_read(c, c->in + c->in_len, space)
                           : gw_sys_recv(c->fd, c->in + c->in_len, space);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_close_now(c);
            return;
        }
        if (n == 0) {
            conn_close_now(c);
            return;
        }
        size_t off = c->in_len;
        c->in_len += (size_t)n;
        if (c->state == C_HEAD && !c->ssl && c->in[0] == 'P' && gw_tls_h2_on()) {
            /* HTTP/2 with prior knowledge (h2c): the connection preface */
            static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
            size_t m = BSN_MIN(c->in_len, sizeof(preface) - 1);
            if (memcmp(c->in, preface, m) == 0) {
                if (m < sizeof(preface) - 1)
                    continue; /* read the rest of it */
                h2_handoff(c);
                return;
            }
        }
        if (c->state == C_HEAD) {
            client_drive(c);
            return;
        }
        if (c->state == C_BODY) {
            int rc = take_req_body(c, off, NULL, 0);
            if (rc < 0) {
                c->keep_alive = false;
                if (rc == -1)
                    gw_fail_reply(c, 400, "malformed chunked body\n");
                else if (rc == -3)
                    gw_fail_reply(c, 413, "request body too large\n");
                else
                    gw_upstream_failed(c, GW_FAIL_RESET);
                return;
            }
            if (!c->req_done)
                c->in_len = off; /* forwarded */
            else
                c->state = C_WAIT;
            update_interest(c);
            return;
        }
        if (c->state == C_WAIT) { /* pipelined bytes: served after the current response */
            if (c->in_len == GW_IN_CAP)
                update_interest(c);
            return;
        }
        if (c->state == C_TUNNEL) {
            struct iovec iov = {c->in + off, (size_t)n};
            c->in_len = off;
            c->bytes_in += (size_t)n;
            if (gw_q_send(c->up->fd, &c->up->q, &iov, 1) < 0) {
                conn_close_now(c);
                return;
            }
            update_interest(c);
            return;
        }
        return;
    }
}

static void
client_cb(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct gw_conn *c = data;
    if (ev & BSN_EV_WRITE) {
        if ((c->ssl ? gw_tls_flush(c) : gw_q_flush(fd, &c->q)) < 0) {
            conn_close_now(c);
            return;
        }
        if (c->tls_want_write) { /* a handshake/read waited for the socket to drain */
            c->tls_want_write = false;
            ev |= BSN_EV_READ;
        }
        if (!gw_q_pending(&c->q) && c->closing) {
            conn_free(c);
            return;
        }
        update_interest(c);
    }
    if (ev & BSN_EV_READ) {
        if (c->state == C_HEAD || c->state == C_BODY || c->state == C_TUNNEL || c->state == C_WAIT)
            client_read(c);
        else if (ev & BSN_EV_ERROR)
            conn_close_now(c);
    } else if (ev & BSN_EV_ERROR) {
        conn_close_now(c);
    }
}

static void
conn_timer_cb(struct bsn_loop *loop, void *data)
{
    struct gw_conn *c = data;
    uint64_t now = bsn_loop_now(loop);
    if (now < c->deadline) {
        bsn_timer_start(loop, &c->timer, c->deadline - now, conn_timer_cb, c);
        return;
    }
    switch (c->state) {
    case C_HEAD:
    case C_CLOSING:
        conn_free(c);
        return;
    default:
        break;
    }
    if (c->ustate == U_CONNECTING) {
        gw_upstream_failed(c, GW_FAIL_CONNECT_TIMEOUT);
        return;
    }
    if (c->ustate == U_NONE && !c->resp_started && c->route) { /* waiting to retry */
        gw_fail_reply(c, 504, "upstream timeout\n");
        return;
    }
    if (c->ustate == U_HEAD && !c->resp_started) {
        gw_upstream_failed(c, now >= c->req_deadline ? GW_FAIL_TIMEOUT : GW_FAIL_TRY_TIMEOUT);
        return;
    }
    conn_close_now(c);
}

/* --- upstream events --- */

static void
up_cb(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct gw_upconn *u = data;
    struct gw_conn *c = u->c;
    if (!c) { /* idle in the pool: the upstream closed it (or sent garbage) */
        gw_pool_unlink(u->w, u);
        gw_up_close(u->w, u);
        return;
    }
    if (!u->connected) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (ev & BSN_EV_ERROR)) {
            gw_upstream_failed(c, GW_FAIL_CONNECT);
            return;
        }
        u->connected = true;
        struct gw_host *h = gw_host_get(u->w, u->host_id);
        if (h)
            h->pending--;
        send_request(c);
        return;
    }
    if (ev & BSN_EV_WRITE) {
        if (gw_q_flush(fd, &u->q) < 0) {
            gw_upstream_failed(c, GW_FAIL_RESET);
            return;
        }
        update_interest(c);
    }
    if (ev & (BSN_EV_READ | BSN_EV_ERROR))
        gw_upstream_read(c);
}

/* --- entry points for proxy_resp.c --- */

int
gw_proxy_retry(struct gw_conn *c)
{
    c->ustate = U_NONE;
    c->up_len = 0;
    return start_upstream(c);
}

void
gw_proxy_finish(struct gw_conn *c)
{
    finish_request(c);
}

void
gw_proxy_interest(struct gw_conn *c)
{
    update_interest(c);
}

void
gw_up_discard(struct gw_conn *c)
{
    if (c->up) {
        gw_up_close(c->w, c->up);
        c->up = NULL;
    }
    if (c->host_counted) {
        struct gw_host *h = gw_host_get(c->w, c->backend->eps[c->ep].host_id);
        h->active--;
        c->host_counted = false;
    }
}

void
gw_proxy_worker_init(struct gw_worker *w)
{
    BSN_UNUSED(w);
}

void
gw_proxy_worker_fini(struct gw_worker *w)
{
    gw_h2_fini(w); /* first: its streams' socketpairs belong to connections below */
    gw_up_tls_fini(w);
    while (w->conns)
        conn_close_now(w->conns);
    while (w->free_conns) {
        struct gw_conn *c = w->free_conns;
        w->free_conns = c->next_free;
        bsn_buf_fini(&c->uphead);
        bsn_buf_fini(&c->head);
        bsn_buf_fini(&c->fwd);
        bsn_buf_fini(&c->cache_key);
        bsn_buf_fini(&c->cache_body);
        free(c);
    }
    w->nfree_conns = 0;
    gw_cache_free(w);
    gw_mirror_fini(w);
    for (int ch = 0; ch < GW_HOST_CHUNKS; ch++) {
        if (!w->hosts[ch])
            continue;
        for (int i = 0; i < GW_HOST_CHUNK; i++) {
            struct gw_host *h = &w->hosts[ch][i];
            while (h->idle) {
                struct gw_upconn *u = h->idle;
                h->idle = u->next;
                h->nidle--;
                gw_up_close(w, u);
            }
        }
    }
    bsn_timer_stop(w->loop, &w->sweep);
    bsn_timer_stop(w->loop, &w->accept_pause);
    gw_log_flush(w);
    gw_otlp_flush(w);
}

void
gw_proxy_drain(struct gw_worker *w)
{
    w->draining = true;
    gw_h2_drain(w);
    bsn_timer_stop(w->loop, &w->accept_pause);
    for (int i = 0; i < w->nlfds; i++) {
        bsn_loop_del_fd(w->loop, w->lfds[i]);
        close(w->lfds[i]);
    }
    w->nlfds = 0;
    struct gw_conn *c = w->conns;
    while (c) {
        struct gw_conn *next = c->lnext;
        if (c->state == C_HEAD && c->in_len == 0 && !gw_q_pending(&c->q))
            conn_free(c); /* idle keep-alive */
        else
            c->keep_alive = false; /* "Connection: close" on the response being made */
        c = next;
    }
}
