/*
 * h2grpc.c - the client side of gRPC pass-through: an nghttp2 server session on a client
 * connection (TLS with ALPN h2, or h2c prior knowledge) chosen by h2sniff.c. Each stream is
 * routed like an HTTP request (Ingress / HTTPRoute: host, path, headers; then ip lists, auth
 * and rate limits of the route's policy, answered as gRPC statuses) and relayed to an h2c
 * upstream stream (h2upstream.c): request DATA as it arrives, response headers, DATA and
 * trailers as they arrive. Automatic window updates are off on both sessions: a side's window
 * opens only when the other side has taken the bytes, so each stream buffers at most one
 * window (GW_GRPC_WINDOW) in the gateway. Failures before the upstream answers become
 * trailers-only responses: no route 12 UNIMPLEMENTED, no endpoint or a connect error 14
 * UNAVAILABLE (as Envoy), policy denials by the HTTP-to-gRPC mapping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_grpc.h"

#define GW_GRPC_WINDOW  (1 << 20) /* per-stream receive window (bytes buffered per direction) */
#define GW_GRPC_CONNWIN (16 << 20)
#define GW_GRPC_HDR_CAP 16384 /* request header bytes per stream */

struct gw_gfront {
    struct gw_worker *w;
    struct gw_gfront *next;
    int fd;
    SSL *ssl;
    nghttp2_session *s;
    struct sockaddr_storage peer;
    char peer_ip[46];
    struct gw_gcall *calls;
    struct bsn_buf out; /* bytes nghttp2 produced, not yet written */
    size_t out_off;
    bool tls_want_write, dead;
    bool dirty;  /* frames may be queued: flush at the next kick */
    unsigned ev; /* events registered with the loop */
};

struct gw_grpc *
gw_grpc_state(struct gw_worker *w)
{
    if (!w->grpc) {
        w->grpc = bsn_calloc(1, sizeof(*w->grpc));
        bsn_timer_init(&w->grpc->kick);
    }
    return w->grpc;
}

/* --- calls --- */

static void
hdr_add(struct bsn_buf *b, size_t *n, const void *name, size_t nlen, const void *val, size_t vlen)
{
    bsn_buf_append(b, name, nlen);
    bsn_buf_putc(b, 0);
    bsn_buf_append(b, val, vlen);
    bsn_buf_putc(b, 0);
    (*n)++;
}

/* The call's grpc-status: from the trailers, else the (trailers-only) headers; -1 if none. */
static int
call_grpc_status(const struct gw_gcall *call)
{
    const struct bsn_buf *bufs[2] = {&call->trl, &call->resph};
    size_t counts[2] = {call->ntrl, call->nresph};
    for (int k = 0; k < 2; k++) {
        const char *p = bufs[k]->data;
        for (size_t i = 0; i < counts[k]; i++) {
            size_t nl = strlen(p);
            const char *v = p + nl + 1;
            if (strcmp(p, "grpc-status") == 0)
                return atoi(v);
            p = v + strlen(v) + 1;
        }
    }
    return -1;
}

/* Per-route metrics and the access log line of a finished call (as proxy.c does for HTTP). */
static void
call_account(struct gw_gcall *call)
{
    struct gw_worker *w = call->w;
    const struct gw_route *r = call->route;
    uint64_t us = (bsn_mono_ns() - call->start_ns) / 1000;
    int status = call->resp_started ? (call->status ? call->status : 200) : 0;
    if (call->backend) {
        struct gw_host *h = gw_host_get(w, call->backend->eps[call->ep].host_id);
        if (h)
            h->active--;
        /* passive outlier detection as for HTTP: connect errors and resets count as 5xx */
        if (call->up_failed || call->resp_started)
            gw_lb_report(w, r, call->backend, (uint32_t)call->ep, call->up_failed ? 0 : status);
    }
    if (r && r->stats) {
        struct gw_stat_cell *cell = &r->stats->cells[w->id];
        GW_INC(&cell->requests, 1);
        int cls = status >= 100 && status < 600 ? status / 100 : 0;
        GW_INC(&cell->status[cls], 1);
        GW_INC(&cell->bytes_in, call->bytes_in);
        GW_INC(&cell->bytes_out, call->bytes_out);
        GW_INC(&cell->lat_sum_us, us);
        static const uint64_t bounds[GW_LAT_BUCKETS - 1] = {
            500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000};
        int bkt = 0;
        while (bkt < GW_LAT_BUCKETS - 1 && us > bounds[bkt])
            bkt++;
        GW_INC(&cell->lat[bkt], 1);
    }
    if (w->gw->log_fd < 0)
        return;
    struct bsn_buf *b = &w->log;
    char ts[40];
    bsn_time_format_micro(bsn_time_now_us(), ts, sizeof(ts));
    bsn_buf_printf(b, "{\"time\":\"%s\",\"client\":\"%s\",\"method\":", ts, call->peer_ip);
    const char *m = call->method ? call->method : "";
    gw_json_str(b, m, strlen(m));
    bsn_buf_puts(b, ",\"host\":");
    const char *h = call->authority ? call->authority : "";
    gw_json_str(b, h, strlen(h));
    bsn_buf_puts(b, ",\"path\":");
    const char *p = call->path ? call->path : "";
    gw_json_str(b, p, strcspn(p, "?"));
    bsn_buf_printf(b, ",\"status\":%d,\"protocol\":\"h2c\",\"grpc_status\":%d,\"route\":", status,
                   call_grpc_status(call));
    const char *rn = r ? bsn_gw_route_name((const struct bsn_gw_route *)r) : "";
    gw_json_str(b, rn, strlen(rn));
    bsn_buf_puts(b, ",\"upstream\":");
    gw_json_str(b, call->upstream, strlen(call->upstream));
    bsn_buf_printf(b, ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_us\":%llu}\n",
                   (unsigned long long)call->bytes_in, (unsigned long long)call->bytes_out,
                   (unsigned long long)us);
    if (b->len >= 32768)
        gw_log_flush(w);
}

void
gw_grpc_call_free(struct gw_gcall *call)
{
    if (call->cref) {
        call_account(call);
        gw_cfg_release(call->w, call->cref);
        call->w->active_requests--;
        GW_INC(&call->w->nconns, -1);
    }
    bsn_buf_fini(&call->reqh);
    bsn_buf_fini(&call->req);
    bsn_buf_fini(&call->resph);
    bsn_buf_fini(&call->trl);
    bsn_buf_fini(&call->resp);
    free(call->path);
    free(call->authority);
    free(call->method);
    free(call);
}

static void
front_unlink_call(struct gw_gfront *f, struct gw_gcall *call)
{
    for (struct gw_gcall **pp = &f->calls; *pp; pp = &(*pp)->fnext)
        if (*pp == call) {
            *pp = call->fnext;
            return;
        }
}

/* Builds an nghttp2_nv array from "name\0value\0" pairs after `pre` given entries. */
static size_t
nv_fill(nghttp2_nv *nv, size_t at, const struct bsn_buf *b, size_t n)
{
    const char *p = b->data;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(p);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        nv[at++] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
        p = v + vl + 1;
    }
    return at;
}

/* --- client connection I/O --- */

int
gw_h2_rearm(struct bsn_loop *loop, int fd, unsigned *ev, struct nghttp2_session *s, bool pending)
{
    if (!pending && !nghttp2_session_want_read(s) && !nghttp2_session_want_write(s))
        return -1;
    unsigned want = BSN_EV_READ | (pending ? BSN_EV_WRITE : 0);
    if (want != *ev) {
        bsn_loop_mod_fd(loop, fd, want);
        *ev = want;
    }
    return 0;
}

static void
front_mark(struct gw_gfront *f)
{
    if (f && !f->dead) {
        f->dirty = true;
        gw_grpc_kick(f->w);
    }
}

static void front_close(struct gw_gfront *f);

static int
front_write(struct gw_gfront *f)
{
    while (f->out.len > f->out_off) {
        size_t len = f->out.len - f->out_off;
        if (f->ssl) {
            int n = SSL_write(f->ssl, f->out.data + f->out_off, (int)BSN_MIN(len, 1u << 30));
            if (n <= 0) {
                int e = SSL_get_error(f->ssl, n);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    f->tls_want_write = true;
                    return 0;
                }
                return -1;
            }
            f->tls_want_write = false;
            f->out_off += (size_t)n;
        } else {
            ssize_t n = send(f->fd, f->out.data + f->out_off, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return errno == EAGAIN ? 0 : -1;
            }
            f->out_off += (size_t)n;
        }
    }
    bsn_buf_reset(&f->out);
    f->out_off = 0;
    return 0;
}

/* Writes what nghttp2 has to send; closes the connection when it is finished or broken. */
static void
front_flush(struct gw_gfront *f)
{
    if (f->dead)
        return;
    for (;;) {
        if (front_write(f) < 0) {
            front_close(f);
            return;
        }
        if (f->out.len > f->out_off)
            break;
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(f->s, &data);
        if (n < 0) {
            front_close(f);
            return;
        }
        if (n == 0)
            break;
        bsn_buf_append(&f->out, data, (size_t)n);
        if (f->out.len < 65536)
            continue;
    }
    if (gw_h2_rearm(f->w->loop, f->fd, &f->ev, f->s, f->out.len > f->out_off) < 0)
        front_close(f);
}

static void
front_io(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    (void)loop;
    (void)ev;
    struct gw_gfront *f = data;
    uint8_t buf[16384];
    for (int i = 0; i < 64 || (f->ssl && SSL_pending(f->ssl) > 0); i++) {
        ssize_t n;
        if (f->ssl) {
            int r = SSL_read(f->ssl, buf, sizeof(buf));
            if (r <= 0) {
                int e = SSL_get_error(f->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                front_close(f);
                return;
            }
            n = r;
        } else {
            n = recv(fd, buf, sizeof(buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            if (n <= 0) {
                front_close(f);
                return;
            }
        }
        if (nghttp2_session_mem_recv(f->s, buf, (size_t)n) < 0) {
            front_close(f);
            return;
        }
    }
    front_flush(f);
}

/* --- responses to the client --- */

static ssize_t
resp_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
             nghttp2_data_source *src, void *ud)
{
    (void)ud;
    struct gw_gcall *call = src->ptr;
    size_t avail = call->resp.len - call->resp_off;
    size_t n = BSN_MIN(avail, length);
    if (n) {
        memcpy(buf, call->resp.data + call->resp_off, n);
        call->resp_off += n;
        call->bytes_out += n;
        gw_h2up_consumed(call, n);
    }
    if (call->resp_off == call->resp.len) {
        bsn_buf_reset(&call->resp);
        call->resp_off = 0;
        if (call->resp_end) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (call->ntrl) {
                nghttp2_nv *nv = bsn_calloc(call->ntrl, sizeof(*nv));
                size_t nn = nv_fill(nv, 0, &call->trl, call->ntrl);
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                if (nghttp2_submit_trailer(s, id, nv, nn) != 0)
                    *flags &= ~(uint32_t)NGHTTP2_DATA_FLAG_NO_END_STREAM;
                free(nv);
            }
        } else if (n == 0) {
            call->resp_deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

void
gw_grpc_front_respond(struct gw_gcall *call)
{
    struct gw_gfront *f = call->f;
    if (!f || call->resp_started)
        return;
    call->resp_started = true;
    char code[8];
    snprintf(code, sizeof(code), "%d", call->status ? call->status : 200);
    nghttp2_nv *nv = bsn_calloc(call->nresph + 1, sizeof(*nv));
    nv[0] =
        (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, strlen(code), NGHTTP2_NV_FLAG_NONE};
    size_t n = nv_fill(nv, 1, &call->resph, call->nresph);
    bool only = call->resp_end && call->resp.len == call->resp_off && call->ntrl == 0;
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = resp_read_cb};
    nghttp2_submit_response(f->s, call->fid, nv, n, only ? NULL : &prd);
    free(nv);
    front_mark(f);
}

void
gw_grpc_front_resume(struct gw_gcall *call)
{
    if (call->f && call->resp_deferred) {
        call->resp_deferred = false;
        nghttp2_session_resume_data(call->f->s, call->fid);
    }
    front_mark(call->f);
}

void
gw_grpc_front_fail(struct gw_gcall *call, int grpc_status, const char *msg)
{
    if (!call->f)
        return;
    char code[8];
    snprintf(code, sizeof(code), "%d", grpc_status);
    bsn_buf_reset(&call->trl);
    call->ntrl = 0;
    if (!call->resp_started && !call->grpc) {
        /* a plain HTTP/2 request (appProtocol h2c backend): an HTTP status and a text body */
        static const int http_for[17] = {502, 502, 502, 502, 504, 502, 502, 403, 429,
                                         502, 502, 502, 404, 400, 503, 502, 401};
        bsn_buf_reset(&call->resph);
        call->nresph = 0;
        call->status = grpc_status >= 0 && grpc_status <= 16 ? http_for[grpc_status] : 502;
        hdr_add(&call->resph, &call->nresph, "content-type", 12, "text/plain", 10);
        bsn_buf_reset(&call->resp);
        call->resp_off = 0;
        bsn_buf_puts(&call->resp, msg);
        bsn_buf_putc(&call->resp, '\n');
        call->resp_end = true;
        gw_grpc_front_respond(call);
        return;
    }
    if (!call->resp_started) {
        bsn_buf_reset(&call->resph);
        call->nresph = 0;
        call->status = 200;
        hdr_add(&call->resph, &call->nresph, "content-type", 12, "application/grpc", 16);
        hdr_add(&call->resph, &call->nresph, "grpc-status", 11, code, strlen(code));
        hdr_add(&call->resph, &call->nresph, "grpc-message", 12, msg, strlen(msg));
        call->resp_end = true;
        bsn_buf_reset(&call->resp);
        call->resp_off = 0;
        gw_grpc_front_respond(call);
        return;
    }
    /* headers went out already: end the stream with an error status in trailers */
    hdr_add(&call->trl, &call->ntrl, "grpc-status", 11, code, strlen(code));
    hdr_add(&call->trl, &call->ntrl, "grpc-message", 12, msg, strlen(msg));
    call->resp_end = true;
    gw_grpc_front_resume(call);
}

void
gw_grpc_front_consumed(struct gw_gcall *call, size_t n)
{
    if (call->f) {
        nghttp2_session_consume(call->f->s, call->fid, n);
        front_mark(call->f);
    }
}

void
gw_grpc_call_upstream_closed(struct gw_gcall *call)
{
    if (call->f_closed) {
        gw_grpc_call_free(call);
        return;
    }
    if (!call->resp_started) {
        call->up_failed = true;
        gw_grpc_front_fail(call, 14, "upstream connection closed");
    } else if (!call->resp_end) {
        call->up_failed = true;
        gw_grpc_front_fail(call, 14, "upstream stream reset");
    } else
        gw_grpc_front_resume(call);
}

/* --- routing a new stream --- */

static void
call_start(struct gw_gfront *f, struct gw_gcall *call)
{
    struct gw_worker *w = f->w;
    call->start_ns = bsn_mono_ns();
    call->cref = w->cur;
    call->cref->inflight++;
    w->active_requests++;
    GW_INC(&w->nconns, 1); /* like a bridged HTTP/2 stream: a drain waits for it */
    if (!call->path || !call->authority || !call->method) {
        gw_grpc_front_fail(call, 13, "missing :path or :authority");
        return;
    }
    /* the request as the HTTP router and filters see it */
    struct bsn_http_request_head *q = bsn_calloc(1, sizeof(*q));
    const char *p = call->reqh.data;
    for (size_t i = 0; i < call->nreqh && q->nheaders < BSN_HTTP_MAX_HEADERS; i++) {
        size_t nl = strlen(p);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        q->headers[q->nheaders++] = (struct bsn_http_header){{p, nl}, {v, vl}};
        p = v + vl + 1;
    }
    char *qm = strchr(call->path, '?');
    q->method = (struct bsn_str){call->method, strlen(call->method)};
    q->path = (struct bsn_str){call->path, qm ? (size_t)(qm - call->path) : strlen(call->path)};
    q->query = qm ? (struct bsn_str){qm + 1, strlen(qm + 1)} : (struct bsn_str){"", 0};
    q->target = (struct bsn_str){call->path, strlen(call->path)};
    q->host = (struct bsn_str){call->authority, strlen(call->authority)};
    q->content_length = -1;
    q->minor_version = 1;
    struct bsn_gw_request_info ri = {q->host,  q->method,  q->path,
                                     q->query, q->headers, q->nheaders};
    const struct gw_route *r = (const struct gw_route *)bsn_gw_route_match(call->cref->cfg, &ri);
    call->route = r;
    if (!r) {
        gw_grpc_front_fail(call, 12, "no route");
        goto out;
    }
    struct bsn_buf fwd;
    bsn_buf_init(&fwd);
    struct gw_local_reply lr = {0};
    bsn_buf_init(&lr.headers);
    int st = gw_filters_request(w, r, q, (const struct sockaddr *)&f->peer, &fwd, &lr);
    bsn_buf_fini(&lr.headers);
    if (st > 0) {
        bsn_buf_fini(&fwd);
        gw_grpc_front_fail(call, gw_grpc_status_for_http(st),
                           lr.body ? lr.body : "denied by the gateway");
        goto out;
    }
    /* headers added by filters ("Name: value\r\n" lines), lower-cased for HTTP/2 */
    for (char *l = fwd.data; l && *l;) {
        char *eol = strstr(l, "\r\n");
        char *colon = strchr(l, ':');
        if (!eol || !colon || colon > eol)
            break;
        for (char *c = l; c < colon; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        hdr_add(&call->reqh, &call->nreqh, l, (size_t)(colon - l), v, (size_t)(eol - v));
        l = eol + 2;
    }
    bsn_buf_fini(&fwd);
    hdr_add(&call->reqh, &call->nreqh, "x-forwarded-for", 15, f->peer_ip, strlen(f->peer_ip));
    hdr_add(&call->reqh, &call->nreqh, "x-forwarded-proto", 17, f->ssl ? "https" : "http",
            f->ssl ? 5 : 4);
    struct gw_backend *b = r->direct_status ? NULL : gw_lb_pick_backend(w, r);
    struct gw_lb_ctx lctx = {(const struct sockaddr *)&f->peer, q};
    int ep = b && b->neps ? gw_lb_pick_endpoint(w, r, b, &lctx, -1) : -1;
    if (ep < 0) {
        gw_grpc_front_fail(call, 14, "no healthy upstream");
        goto out;
    }
    const struct gw_endpoint *e = &b->eps[ep];
    snprintf(call->upstream, sizeof(call->upstream), "%s", e->name);
    call->backend = b;
    call->ep = ep;
    struct gw_host *host = gw_host_get(w, e->host_id);
    if (host)
        host->active++; /* least request counts gRPC calls too */
    gw_h2up_start(w, call, &e->sa, e->salen, e->host_id);
out:
    free(q);
}

/* --- server session callbacks --- */

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct gw_gfront *f = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct gw_gcall *call = bsn_calloc(1, sizeof(*call));
    call->w = f->w;
    call->f = f;
    call->fid = frame->hd.stream_id;
    call->uid = -1;
    memcpy(call->peer_ip, f->peer_ip, sizeof(call->peer_ip));
    call->u_closed = true; /* until an upstream stream exists */
    bsn_buf_init(&call->reqh);
    bsn_buf_init(&call->req);
    bsn_buf_init(&call->resph);
    bsn_buf_init(&call->trl);
    bsn_buf_init(&call->resp);
    call->fnext = f->calls;
    f->calls = call;
    nghttp2_session_set_stream_user_data(s, call->fid, call);
    return 0;
}

static bool
skip_req_header(const uint8_t *n, size_t len)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
        "te",         "host",       "x-forwarded-for",  "x-forwarded-proto"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(names); i++)
        if (len == strlen(names[i]) && memcmp(n, names[i], len) == 0)
            return true;
    return false;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct gw_gcall *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!call)
        return 0;
    if (call->reqh.len + namelen + valuelen > GW_GRPC_HDR_CAP)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        free(call->path);
        call->path = bsn_strndup((const char *)value, valuelen);
    } else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
        free(call->authority);
        call->authority = bsn_strndup((const char *)value, valuelen);
    } else if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
        free(call->method);
        call->method = bsn_strndup((const char *)value, valuelen);
    } else if (namelen == 4 && memcmp(name, "host", 4) == 0 && !call->authority) {
        call->authority = bsn_strndup((const char *)value, valuelen);
    } else if (namelen && name[0] != ':' && !skip_req_header(name, namelen)) {
        if (namelen == 12 && memcmp(name, "content-type", 12) == 0 && valuelen >= 16 &&
            strncasecmp((const char *)value, "application/grpc", 16) == 0)
            call->grpc = true;
        hdr_add(&call->reqh, &call->nreqh, name, namelen, value, valuelen);
    }
    return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct gw_gfront *f = ud;
    struct gw_gcall *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!call)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        call->req_end = end;
        call_start(f, call);
    } else if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end) {
        call->req_end = true;
        gw_h2up_resume(call);
    }
    return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *ud)
{
    (void)flags;
    (void)ud;
    struct gw_gcall *call = nghttp2_session_get_stream_user_data(s, id);
    if (!call || call->u_closed) {
        nghttp2_session_consume(s, id, len); /* nobody takes it: discard */
        return 0;
    }
    bsn_buf_append(&call->req, data, len);
    call->bytes_in += len;
    gw_h2up_resume(call);
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
    (void)error_code;
    struct gw_gfront *f = ud;
    struct gw_gcall *call = nghttp2_session_get_stream_user_data(s, id);
    if (!call)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    front_unlink_call(f, call);
    call->f = NULL;
    call->f_closed = true;
    if (call->u_closed)
        gw_grpc_call_free(call);
    else
        gw_h2up_cancel(call);
    return 0;
}

/* --- connections --- */

static void
front_close(struct gw_gfront *f)
{
    if (f->dead)
        return;
    f->dead = true;
    while (f->calls) {
        struct gw_gcall *call = f->calls;
        f->calls = call->fnext;
        call->f = NULL;
        call->f_closed = true;
        if (call->u_closed)
            gw_grpc_call_free(call);
        else
            gw_h2up_cancel(call);
    }
    bsn_loop_del_fd(f->w->loop, f->fd);
    gw_grpc_state(f->w)->dead = true;
    gw_grpc_kick(f->w); /* the kick frees it */
}

static void
front_free(struct gw_gfront *f)
{
    nghttp2_session_del(f->s);
    if (f->ssl)
        SSL_free(f->ssl);
    close(f->fd);
    bsn_buf_fini(&f->out);
    free(f);
}

int
gw_grpc_front_adopt(struct gw_worker *w, int fd, struct ssl_st *ssl, const struct sockaddr *peer,
                    const void *pre, size_t pre_len)
{
    struct gw_grpc *g = gw_grpc_state(w);
    struct gw_gfront *f = bsn_calloc(1, sizeof(*f));
    f->w = w;
    f->fd = fd;
    f->ssl = ssl;
    bsn_buf_init(&f->out);
    if (peer->sa_family == AF_INET6) {
        memcpy(&f->peer, peer, sizeof(struct sockaddr_in6));
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, f->peer_ip,
                  sizeof(f->peer_ip));
    } else {
        memcpy(&f->peer, peer, sizeof(struct sockaddr_in));
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, f->peer_ip,
                  sizeof(f->peer_ip));
    }
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rc = nghttp2_session_server_new2(&f->s, cbs, f, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        if (ssl)
            SSL_free(ssl);
        close(fd);
        bsn_buf_fini(&f->out);
        free(f);
        return -1;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, GW_GRPC_WINDOW},
                                   {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GW_GRPC_HDR_CAP}};
    nghttp2_submit_settings(f->s, NGHTTP2_FLAG_NONE, iv, BSN_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(f->s, NGHTTP2_FLAG_NONE, 0, GW_GRPC_CONNWIN);
    f->next = g->fronts;
    g->fronts = f;
    f->ev = BSN_EV_READ | BSN_EV_WRITE;
    if (bsn_loop_add_fd(w->loop, fd, BSN_EV_READ | BSN_EV_WRITE, front_io, f) < 0) {
        front_close(f);
        return -1;
    }
    if (pre_len && nghttp2_session_mem_recv(f->s, pre, pre_len) < 0) {
        front_close(f);
        return -1;
    }
    front_io(w->loop, fd, BSN_EV_READ, f); /* bytes TLS already decrypted */
    return 0;
}

static void
kick_cb(struct bsn_loop *loop, void *data)
{
    (void)loop;
    struct gw_worker *w = data;
    struct gw_grpc *g = w->grpc;
    for (int round = 0; round < 4; round++) {
        g->kicked = false;
        for (struct gw_gfront *f = g->fronts; f; f = f->next)
            if (f->dirty) {
                f->dirty = false;
                front_flush(f);
            }
        gw_h2up_flush_all(w);
        if (!g->dead)
            goto next;
        g->dead = false;
        for (struct gw_gfront **pp = &g->fronts; *pp;) {
            struct gw_gfront *f = *pp;
            if (f->dead) {
                *pp = f->next;
                front_free(f);
            } else {
                pp = &f->next;
            }
        }
        gw_h2up_free_dead(w);
    next:
        if (!g->kicked)
            return;
    }
    bsn_timer_stop(loop, &g->kick);
    bsn_timer_start(loop, &g->kick, 0, kick_cb, w);
}

void
gw_grpc_kick(struct gw_worker *w)
{
    struct gw_grpc *g = gw_grpc_state(w);
    if (g->kicked)
        return;
    g->kicked = true;
    bsn_timer_start(w->loop, &g->kick, 0, kick_cb, w);
}

void
gw_grpc_drain(struct gw_worker *w)
{
    if (!w->grpc)
        return;
    for (struct gw_gfront *f = w->grpc->fronts; f; f = f->next)
        if (!f->dead) {
            nghttp2_submit_goaway(f->s, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(f->s), NGHTTP2_NO_ERROR,
                                  NULL, 0);
            front_mark(f);
        }
}

void
gw_grpc_fini(struct gw_worker *w)
{
    struct gw_grpc *g = w->grpc;
    if (!g)
        return;
    gw_h2_sniff_fini(w);
    for (struct gw_gfront *f = g->fronts; f; f = f->next)
        front_close(f);
    gw_h2up_fini(w); /* frees the calls: every client side is closed now */
    while (g->fronts) {
        struct gw_gfront *f = g->fronts;
        g->fronts = f->next;
        front_free(f);
    }
    bsn_timer_stop(w->loop, &g->kick);
    free(g);
    w->grpc = NULL;
}
