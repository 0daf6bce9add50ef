/*
 * proxy_resp.c - the response half of the proxy: parsing the upstream response head,
 * retries and failure statuses, rewriting the head for the client and streaming the body,
 * plus the WebSocket/Upgrade tunnel after 101.
 *
 * Failures before the response head reached the client become clear local answers:
 *   502 "upstream reset" / "invalid response from upstream"
 *   503 "upstream connect error" / "upstream connect timeout" / "no healthy upstream"
 *   504 "upstream timeout"
 * After the head was sent, the only honest signal left is closing the client connection.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/mem.h"
#include "gateway/gw_conn.h"

bool
gw_is_hop_header(struct bsn_str n)
{
    switch (n.len) {
    case 2:
        return bsn_str_case_eq(n, "te");
    case 7:
        return bsn_str_case_eq(n, "trailer") || bsn_str_case_eq(n, "upgrade");
    case 10:
        return bsn_str_case_eq(n, "connection") || bsn_str_case_eq(n, "keep-alive");
    case 16:
        return bsn_str_case_eq(n, "proxy-connection");
    case 17:
        return bsn_str_case_eq(n, "transfer-encoding");
    default:
        return false;
    }
}

bool
gw_mod_drops(const struct gw_header_mod *m, struct bsn_str n)
{
    for (int i = 0; i < m->nremove; i++)
        if (n.len == strlen(m->remove[i]) && strncasecmp(n.base, m->remove[i], n.len) == 0)
            return true;
    for (int i = 0; i < m->nset; i++)
        if (n.len == m->set[i].name_len && strncasecmp(n.base, m->set[i].name, n.len) == 0)
            return true;
    return false;
}

void
gw_put_mods(struct bsn_buf *b, const struct gw_header_mod *m)
{
    for (int i = 0; i < m->nset; i++) {
        bsn_buf_append(b, m->set[i].name, m->set[i].name_len);
        bsn_buf_puts(b, ": ");
        bsn_buf_append(b, m->set[i].value, m->set[i].value_len);
        bsn_buf_puts(b, "\r\n");
    }
    for (int i = 0; i < m->nadd; i++) {
        bsn_buf_append(b, m->add[i].name, m->add[i].name_len);
        bsn_buf_puts(b, ": ");
        bsn_buf_append(b, m->add[i].value, m->add[i].value_len);
        bsn_buf_puts(b, "\r\n");
    }
}

static bool
budget_ok(struct gw_worker *w, const struct gw_policy *p)
{
    long limit = w->active_requests * p->retry_budget_pct / 100;
    if (limit < 3)
        limit = 3; /* Envoy's minimum retry concurrency */
    return w->active_retries < limit;
}

static bool
may_retry(struct gw_conn *c)
{
    const struct gw_policy *p = c->route->policy;
    return c->retryable && !c->resp_started && c->attempts < p->retry_attempts &&
           (c->retried || budget_ok(c->w, p));
}

static void
retry_fire(struct bsn_loop *loop, void *data)
{
    gw_proxy_retry(data);
}

/*
 * Retries now when another endpoint can take it (the first retry), else after an
 * exponential, jittered back-off: base * 2^(n-1) * [0.5, 1), capped at 10 x base.
 */
static int
retry(struct gw_conn *c)
{
    if (!c->retried) {
        c->retried = true;
        c->w->active_retries++;
    }
    const struct gw_policy *p = c->route->policy;
    if ((c->attempts <= 1 && c->backend->neps > 1) || p->retry_backoff_ms == 0)
        return gw_proxy_retry(c);
    uint64_t d = (uint64_t)p->retry_backoff_ms << BSN_MIN(c->attempts - 1, 10);
    d = BSN_MIN(d, (uint64_t)p->retry_backoff_ms * 10);
    d = d / 2 + gw_rand(c->w) % (d / 2 + 1);
    c->ustate = U_NONE;
    bsn_timer_start(c->w->loop, &c->retry_timer, d, retry_fire, c);
    gw_proxy_interest(c);
    return 0;
}

int
gw_upstream_failed(struct gw_conn *c, enum gw_fail why)
{
    const struct gw_policy *p = c->route->policy;
    bool reused = c->up && c->up->reused;
    if (c->ep >= 0)
        gw_lb_report(c->w, c->route, c->backend, (uint32_t)c->ep, 0);
    gw_up_discard(c);
    bool allowed = false;
    switch (why) {
    case GW_FAIL_CONNECT:
    case GW_FAIL_CONNECT_TIMEOUT:
        allowed = p->retry_connect;
        break;
    case GW_FAIL_RESET:
        allowed = p->retry_reset || reused;
        if (reused && c->up_len == 0)
            c->attempts--; /* a stale keep-alive connection does not use up an attempt */
        break;
    case GW_FAIL_TRY_TIMEOUT:
        allowed = p->retry_5xx;
        break;
    case GW_FAIL_TIMEOUT:
        break;
    }
    if (allowed && may_retry(c)) {
        retry(c);
        return -1;
    }
    switch (why) {
    case GW_FAIL_CONNECT:
        gw_fail_reply(c, 503, "upstream connect error\n");
        break;
    case GW_FAIL_CONNECT_TIMEOUT:
        gw_fail_reply(c, 503, "upstream connect timeout\n");
        break;
    case GW_FAIL_RESET:
        gw_fail_reply(c, 502, "upstream reset before response\n");
        break;
    default:
        gw_fail_reply(c, 504, "upstream timeout\n");
        break;
    }
    return -1;
}

static void
abort_conn(struct gw_conn *c)
{
    c->aborted = true;
    c->keep_alive = false;
    gw_proxy_finish(c);
}

/* Forwards response body bytes upin[off..up_len) (and `pre`, the head) to the client. */
static void
forward_resp(struct gw_conn *c, size_t off, struct iovec *pre, int npre)
{
    char *data = c->upin + off;
    size_t avail = c->up_len - off, len, extra = 0;
    bool last = false;
    if (c->resp_chunked_in) {
        len = avail;
        int rc = bsn_http_chunked_decode(&c->resp_ch, data, &len);
        if (rc == BSN_HTTP_ERROR) {
            abort_conn(c);
            return;
        }
        if (rc >= 0) {
            last = true;
            extra = (size_t)rc;
        }
    } else if (c->resp_close_delim) {
        len = avail;
    } else {
        len = (size_t)BSN_MIN((int64_t)avail, c->resp_left);
        c->resp_left -= (int64_t)len;
        last = c->resp_left == 0;
        extra = avail - len;
    }
    if (c->gzip) {
        long sent = gw_gzip_body(c, data, len, last, pre, npre);
        c->up_len = 0;
        if (sent < 0) {
            abort_conn(c);
            return;
        }
        c->bytes_out += (uint64_t)sent;
        if (extra)
            c->resp_keep_alive = false;
        if (last) {
            c->ustate = U_DONE;
            gw_proxy_finish(c);
        } else {
            gw_proxy_interest(c);
        }
        return;
    }
    gw_cache_capture(c, data, len);
    struct iovec iov[6];
    int n = 0;
    for (int i = 0; i < npre; i++)
        iov[n++] = pre[i];
    char chdr[24];
    if (c->resp_chunked_out) {
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
    for (int i = 0; i < n; i++)
        c->bytes_out += iov[i].iov_len;
    c->up_len = 0;
    if (extra)
        c->resp_keep_alive = false; /* the upstream sent more than one response */
    if (n > 0 && gw_client_send(c, iov, n) < 0) {
        abort_conn(c);
        return;
    }
    if (last) {
        gw_cache_capture_end(c, true);
        c->ustate = U_DONE;
        gw_proxy_finish(c);
        return;
    }
    gw_proxy_interest(c);
}

static void
cors_headers(struct gw_conn *c, struct bsn_buf *b)
{
    const struct gw_policy *p = c->route->policy;
    if (p->ncors_origins)
        gw_filters_cors_response(p, &c->req, b);
}

/* Builds the client response head into c->head. */
static void
build_head(struct gw_conn *c)
{
    const struct bsn_http_response_head *r = &c->resp;
    const struct gw_route *route = c->route;
    const struct gw_policy *p = route->policy;
    struct bsn_buf *b = &c->head;
    bsn_buf_reset(b);
    bsn_buf_printf(b, "HTTP/1.1 %d ", r->status);
    if (r->reason.len)
        bsn_buf_append(b, r->reason.base, r->reason.len);
    else
        bsn_buf_puts(b, bsn_http_status_text(r->status));
    bsn_buf_puts(b, "\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        struct bsn_str n = r->headers[i].name;
        if (gw_is_hop_header(n) || (route->nmods && gw_mod_drops(&route->resp_hdr, n)) ||
            gw_mod_drops(&p->resp_hdr, n))
            continue;
        if (c->gzip && n.len == 14 && bsn_str_case_eq(n, "content-length"))
            continue;
        bsn_buf_append(b, n.base,
                       (size_t)(r->headers[i].value.base + r->headers[i].value.len - n.base));
        bsn_buf_puts(b, "\r\n");
    }
    if (route->nmods)
        gw_put_mods(b, &route->resp_hdr);
    gw_put_mods(b, &p->resp_hdr);
    cors_headers(c, b);
    if (c->gzip)
        bsn_buf_puts(b, gw_gzip_is_br(c) ? "Content-Encoding: br\r\nVary: Accept-Encoding\r\n"
                                         : "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
    if (c->resp_chunked_out)
        bsn_buf_puts(b, "Transfer-Encoding: chunked\r\n");
    c->head_cache_len = b->len;
    if (c->cacheable)
        bsn_buf_puts(b, "X-Cache: MISS\r\n");
    if (!c->keep_alive)
        bsn_buf_puts(b, "Connection: close\r\n");
    else if (c->req.minor_version == 0)
        bsn_buf_puts(b, "Connection: keep-alive\r\n");
    bsn_buf_puts(b, "\r\n");
}

static void
start_tunnel(struct gw_conn *c, size_t hlen)
{
    /* 101: pass the head through as is (Connection/Upgrade included) and splice */
    struct iovec iov = {c->upin, c->up_len};
    c->status = 101;
    c->resp_started = true;
    c->bytes_out += c->up_len;
    c->up_len = 0;
    (void)hlen;
    if (gw_client_send(c, &iov, 1) < 0) {
        abort_conn(c);
        return;
    }
    c->state = C_TUNNEL;
    c->ustate = U_BODY;
    if (c->in_len > c->pipe_off) {
        struct iovec up = {c->in + c->pipe_off, c->in_len - c->pipe_off};
        if (gw_q_send(c->up->fd, &c->up->q, &up, 1) < 0) {
            abort_conn(c);
            return;
        }
    }
    c->in_len = c->pipe_off = 0;
    c->deadline = bsn_loop_now(c->w->loop) + 3600000;
    gw_proxy_interest(c);
}

static void
handle_head(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    const struct gw_policy *p = c->route->policy;
    for (;;) {
        int rc = bsn_http_parse_response(c->upin, c->up_len, &c->resp);
        if (rc == BSN_HTTP_INCOMPLETE) {
            if (c->up_len == GW_UP_CAP) {
                gw_up_discard(c);
                gw_fail_reply(c, 502, "upstream response head too large\n");
                return;
            }
            gw_proxy_interest(c);
            return;
        }
        if (rc < 0) {
            gw_lb_report(w, c->route, c->backend, (uint32_t)c->ep, 502);
            gw_up_discard(c);
            gw_fail_reply(c, 502, "invalid response from upstream\n");
            return;
        }
        int status = c->resp.status;
        if (status == 101) {
            if (!c->req.upgrade) {
                gw_up_discard(c);
                gw_fail_reply(c, 502, "unexpected 101 from upstream\n");
                return;
            }
            gw_lb_report(w, c->route, c->backend, (uint32_t)c->ep, status);
            start_tunnel(c, (size_t)rc);
            return;
        }
        if (status >= 100 && status < 200) {
            /* interim responses: pass 100 Continue only to clients that asked for it */
            if (status != 100 || c->req.expect_continue) {
                struct iovec iov = {c->upin, (size_t)rc};
                gw_client_send(c, &iov, 1);
            }
            memmove(c->upin, c->upin + rc, c->up_len - (size_t)rc);
            c->up_len -= (size_t)rc;
            if (c->up_len == 0) {
                gw_proxy_interest(c);
                return;
            }
            continue;
        }
        gw_lb_report(w, c->route, c->backend, (uint32_t)c->ep, status);
        if (status >= 500 && p->retry_5xx && may_retry(c)) {
            gw_up_discard(c);
            retry(c);
            return;
        }
        c->status = status;
        bool nobody = c->is_head || status == 204 || status == 304;
        c->resp_keep_alive = c->resp.keep_alive;
        c->resp_chunked_in = !nobody && c->resp.chunked;
        c->resp_close_delim = !nobody && !c->resp.chunked && c->resp.content_length < 0;
        c->resp_left = nobody ? 0 : c->resp.content_length;
        if (c->resp_close_delim)
            c->resp_keep_alive = false;
        c->resp_chunked_out =
            c->resp_chunked_in || (c->resp_close_delim && c->req.minor_version == 1);
        if (c->resp_close_delim && !c->resp_chunked_out)
            c->keep_alive = false;
        if (!c->req_done)
            c->keep_alive = false; /* answered before the body ended: close afterwards */
        if (c->resp_chunked_in)
            bsn_http_chunked_init(&c->resp_ch);
        if (!nobody && gw_gzip_wanted(c) && gw_gzip_start(c) == 0)
            c->resp_chunked_out = true;
        build_head(c);
        if (c->cacheable && !c->is_head) {
            uint64_t ttl = gw_cache_ttl(c);
            if (ttl)
                gw_cache_capture_start(c, ttl);
        }
        c->resp_started = true;
        c->ustate = U_BODY;
        struct iovec pre = {c->head.data, c->head.len};
        if (nobody) {
            c->resp_left = 0;
            c->resp_chunked_in = c->resp_chunked_out = c->resp_close_delim = false;
            if ((size_t)rc < c->up_len)
                c->resp_keep_alive = false;
            c->up_len = (size_t)rc;
        }
        forward_resp(c, (size_t)rc, &pre, 1);
        return;
    }
}

void
gw_upstream_read(struct gw_conn *c)
{
    struct gw_upconn *u = c->up;
    if (!u)
        return;
    size_t space = GW_UP_CAP - c->up_len;
    if (space == 0) {
        gw_proxy_interest(c);
        return;
    }
    ssize_t n;
    do
        n = gw_sys_recv(u->fd, c->upin + c->up_len, space);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        if (c->state == C_TUNNEL) {
            abort_conn(c);
            return;
        }
        if (c->ustate == U_HEAD) {
            if (c->up_len == 0) {
                gw_upstream_failed(c, GW_FAIL_RESET);
            } else {
                gw_up_discard(c);
                gw_fail_reply(c, 502, "upstream closed mid-head\n");
            }
            return;
        }
        if (c->ustate == U_BODY && c->resp_close_delim) {
            c->resp_keep_alive = false;
            struct iovec iov = {"0\r\n\r\n", 5};
            if (c->gzip)
                gw_gzip_body(c, NULL, 0, true, NULL, 0);
            else if (c->resp_chunked_out)
                gw_client_send(c, &iov, 1);
            c->ustate = U_DONE;
            gw_proxy_finish(c);
            return;
        }
        abort_conn(c); /* truncated response */
        return;
    }
    size_t off = c->up_len;
    c->up_len += (size_t)n;
    if (c->state == C_TUNNEL) {
        struct iovec iov = {c->upin, c->up_len};
        c->bytes_out += c->up_len;
        c->up_len = 0;
        if (gw_client_send(c, &iov, 1) < 0) {
            abort_conn(c);
            return;
        }
        gw_proxy_interest(c);
        return;
    }
    if (c->ustate == U_HEAD) {
        handle_head(c);
        return;
    }
    if (c->ustate == U_BODY)
        forward_resp(c, off, NULL, 0);
}
