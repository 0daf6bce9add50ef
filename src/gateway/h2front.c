/*
 * h2front.c - HTTP/2 to clients on the gateway's TLS listeners.
 *
 * The proxy (proxy.c) speaks HTTP/1.1 to clients. A TLS connection whose handshake selected
 * ALPN "h2" is handed to a per-worker HTTP server without a listener (src/http, nghttp2: flow
 * control, stream limits, HPACK, header and body caps). Each HTTP/2 stream then becomes one
 * HTTP/1.1 request on its own socketpair whose other end is adopted by the proxy as a client
 * connection with the real client's address (gw_proxy_adopt): routing, filters, auth, rate
 * limits, retries, caching, compression, logs and metrics are exactly those of HTTP/1.1, and
 * X-Forwarded-Proto is "https" (over TLS). Plain connections that open with the HTTP/2
 * preface (prior knowledge, "h2c") are handed over the same way. The response comes back as HTTP/1.1 (Content-Length,
 * chunked or close-delimited; "Connection: close" is always asked for) and is streamed into
 * the HTTP/2 stream; when the client reads slowly (more than H2X_HIGH bytes buffered in the
 * stream) reading from the socketpair pauses, so a slow HTTP/2 reader stops the upstream like
 * a slow HTTP/1 reader does. A stream reset closes the socketpair, which aborts the proxied
 * request.
 *
 * Limits: request bodies are collected by the HTTP/2 layer before the request is proxied (at
 * most GW_H2_MAX_BODY); WebSocket and other upgrades need HTTP/1.1.
 *
 * gRPC connections (and those routed to appProtocol h2c backends) never get here: h2sniff.c
 * looks at each connection's first request and gives those to h2grpc.c (h2c end to end).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_grpc.h"
#include "http/server.h"

#define H2X_HIGH       (512 * 1024) /* pause reading the proxy above this many buffered bytes */
#define H2X_POLL_MS    2            /* re-check a paused stream */
#define GW_H2_MAX_BODY (8u << 20)   /* request body cap over HTTP/2 (413 beyond) */

struct h2x {
    struct gw_worker *w;
    struct bsn_http_req *req; /* NULL once finished or gone */
    int fd;                   /* our end of the socketpair, -1 when closed */
    struct bsn_buf out;       /* request bytes not yet written */
    size_t out_off;
    char *in; /* response head bytes, then a body read buffer */
    size_t in_len;
    bool head_done, started, chunked, till_eof, paused;
    int64_t left; /* Content-Length body bytes still expected */
    struct bsn_http_chunked ch;
    struct bsn_timer timer;
};

static void h2x_io(struct bsn_loop *loop, int fd, unsigned ev, void *data);

static void
h2x_free(struct h2x *x)
{
    bsn_timer_stop(x->w->loop, &x->timer);
    if (x->fd >= 0) {
        bsn_loop_del_fd(x->w->loop, x->fd);
        close(x->fd);
    }
    bsn_buf_fini(&x->out);
    free(x->in);
    free(x);
}

static void
h2x_on_close(struct bsn_http_req *req, void *data)
{
    struct h2x *x = data;
    x->req = NULL;
    h2x_free(x); /* closing our end aborts the proxied request */
}

/* Ends the exchange: finishes the HTTP/2 response if it is still ours, frees the state. */
static void
h2x_done(struct h2x *x, int status_if_not_started)
{
    struct bsn_http_req *req = x->req;
    x->req = NULL;
    if (req) {
        if (x->started) {
            bsn_http_stream_end(req);
        } else {
            static const char msg[] = "invalid response from upstream\n";
            bsn_http_respond(req, status_if_not_started, "text/plain", msg, sizeof(msg) - 1);
        }
    }
    h2x_free(x);
}

static bool
skip_response_header(struct bsn_str n)
{
    static const char *const names[] = {"connection",        "keep-alive", "proxy-connection",
                                        "transfer-encoding", "upgrade",    "te",
                                        "trailer",           "date",       "content-type"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(names); i++)
        if (n.len == strlen(names[i]) && strncasecmp(n.base, names[i], n.len) == 0)
            return true;
    return false;
}

/* Parses the response head in x->in; starts the HTTP/2 response. 0, 1 (need more), -1. */
static int
h2x_head(struct h2x *x)
{
    struct bsn_http_response_head *h = bsn_malloc(sizeof(*h));
    int rc = bsn_http_parse_response(x->in, x->in_len, h);
    if (rc == BSN_HTTP_INCOMPLETE) {
        free(h);
        return x->in_len >= GW_UP_CAP ? -1 : 1;
    }
    if (rc < 0) {
        free(h);
        return -1;
    }
    if (h->status < 200) { /* 1xx interim (the gateway answers 100-continue itself) */
        memmove(x->in, x->in + rc, x->in_len - (size_t)rc);
        x->in_len -= (size_t)rc;
        free(h);
        return x->in_len ? h2x_head(x) : 1;
    }
    char ctype[256] = "";
    char name[128], value[2048];
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct bsn_http_header *hd = &h->headers[i];
        if (hd->name.len == 12 && strncasecmp(hd->name.base, "content-type", 12) == 0 &&
            hd->value.len < sizeof(ctype)) {
            memcpy(ctype, hd->value.base, hd->value.len);
            ctype[hd->value.len] = 0;
        }
        if (skip_response_header(hd->name) || hd->name.len >= sizeof(name) ||
            hd->value.len >= sizeof(value))
            continue;
        memcpy(name, hd->name.base, hd->name.len);
        name[hd->name.len] = 0;
        memcpy(value, hd->value.base, hd->value.len);
        value[hd->value.len] = 0;
        bsn_http_req_add_header(x->req, name, value);
    }
    bool head = x->req->head_only;
    bool no_body = head || h->status == 204 || h->status == 304;
    x->chunked = !no_body && h->chunked;
    x->left = no_body ? 0 : h->content_length;
    x->till_eof = !no_body && !h->chunked && h->content_length < 0;
    if (x->chunked)
        bsn_http_chunked_init(&x->ch);
    int status = h->status;
    free(h);
    x->head_done = true;
    x->started = true;
    if (bsn_http_stream_start(x->req, status, ctype[0] ? ctype : NULL) < 0)
        return -2; /* the client is gone: on_close frees x */
    /* body bytes that came with the head */
    x->in_len -= (size_t)rc;
    memmove(x->in, x->in + rc, x->in_len);
    return 0;
}

/* Passes x->in[0..in_len) of body on. 1: body complete, 0: more expected, -1: error, -2 gone. */
static int
h2x_body(struct h2x *x)
{
    size_t len = x->in_len;
    x->in_len = 0;
    int done = 0;
    if (x->chunked) {
        int rc = bsn_http_chunked_decode(&x->ch, x->in, &len);
        if (rc == BSN_HTTP_ERROR)
            return -1;
        done = rc >= 0;
    } else if (!x->till_eof) {
        if ((int64_t)len > x->left)
            len = (size_t)x->left; /* bytes past the body: ignored (the proxy closes anyway) */
        x->left -= (int64_t)len;
        done = x->left == 0;
    }
    if (len && bsn_http_stream_write(x->req, x->in, len) < 0)
        return -2;
    return done;
}

static void
h2x_interest(struct h2x *x)
{
    unsigned ev = x->paused ? 0 : BSN_EV_READ;
    if (x->out.len > x->out_off)
        ev |= BSN_EV_WRITE;
    bsn_loop_mod_fd(x->w->loop, x->fd, ev);
}

static void
h2x_resume(struct bsn_loop *loop, void *data)
{
    struct h2x *x = data;
    if (!x->req)
        return;
    if (bsn_http_stream_pending(x->req) > H2X_HIGH) {
        bsn_timer_start(loop, &x->timer, H2X_POLL_MS, h2x_resume, x);
        return;
    }
    x->paused = false;
    h2x_io(loop, x->fd, BSN_EV_READ, x);
}

static void
h2x_io(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct h2x *x = data;
    if (ev & BSN_EV_WRITE) {
        while (x->out.len > x->out_off) {
            ssize_t n = send(fd, x->out.data + x->out_off, x->out.len - x->out_off, MSG_NOSIGNAL);
            if (n > 0) {
                x->out_off += (size_t)n;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            h2x_done(x, 502);
            return;
        }
    }
    if ((ev & (BSN_EV_READ | BSN_EV_ERROR)) && !x->paused) {
        for (int i = 0; i < 16; i++) {
            if (x->head_done && bsn_http_stream_pending(x->req) > H2X_HIGH) {
                x->paused = true; /* the client reads slowly: stop the proxy side */
                bsn_timer_start(loop, &x->timer, H2X_POLL_MS, h2x_resume, x);
                break;
            }
            ssize_t n = recv(fd, x->in + x->in_len, GW_UP_CAP - x->in_len, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            if (n <= 0) {
                /* end of the response (close-delimited) or a cut one */
                if (x->head_done && !x->till_eof && !x->chunked && x->left > 0)
                    bsn_warn("gateway", "HTTP/2 stream: response cut short by the proxy");
                h2x_done(x, 502);
                return;
            }
            x->in_len += (size_t)n;
            if (!x->head_done) {
                int rc = h2x_head(x);
                if (rc == 1)
                    continue;
                if (rc == -2) {
                    bsn_loop_mod_fd(loop, fd, 0); /* client gone; on_close frees x */
                    return;
                }
                if (rc < 0) {
                    h2x_done(x, 502);
                    return;
                }
            }
            int rc = h2x_body(x);
            if (rc == -2) {
                bsn_loop_mod_fd(loop, fd, 0);
                return;
            }
            if (rc != 0) {
                h2x_done(x, 502);
                return;
            }
        }
    }
    h2x_interest(x);
}

static bool
skip_request_header(struct bsn_str n)
{
    static const char *const names[] = {
        "host",    "connection", "keep-alive",     "proxy-connection", "transfer-encoding",
        "upgrade", "te",         "content-length", "expect",           "http2-settings"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(names); i++)
        if (n.len == strlen(names[i]) && strncasecmp(n.base, names[i], n.len) == 0)
            return true;
    return false;
}

/* "1.2.3.4:5678" / "[::1]:5678" back to a socket address. */
static void
parse_remote(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    char ip[64];
    const char *end;
    if (s[0] == '[') {
        end = strchr(s, ']');
        size_t n = end ? (size_t)(end - s - 1) : 0;
        if (n >= sizeof(ip))
            n = 0;
        memcpy(ip, s + 1, n);
        ip[n] = 0;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons((uint16_t)atoi(end + 2));
        }
        return;
    }
    end = strrchr(s, ':');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    if (n >= sizeof(ip))
        n = 0;
    memcpy(ip, s, n);
    ip[n] = 0;
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(end ? (uint16_t)atoi(end + 1) : 0);
    }
}

static void
h2x_handler(struct bsn_http_req *req, void *data)
{
    struct gw_worker *w = data;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        static const char msg[] = "gateway overloaded\n";
        bsn_http_respond(req, 503, "text/plain", msg, sizeof(msg) - 1);
        return;
    }
    struct sockaddr_storage peer;
    parse_remote(req->remote_addr, &peer);
    if (gw_proxy_adopt(w, sv[0], &peer, req->tls) < 0) {
        close(sv[1]);
        static const char msg[] = "gateway overloaded\n";
        bsn_http_respond(req, 503, "text/plain", msg, sizeof(msg) - 1);
        return;
    }
    struct h2x *x = bsn_calloc(1, sizeof(*x));
    x->w = w;
    x->req = req;
    x->fd = sv[1];
    x->in = bsn_malloc(GW_UP_CAP);
    bsn_buf_init(&x->out);
    bsn_timer_init(&x->timer);
    const char *host = bsn_http_req_header(req, "host");
    bsn_buf_printf(&x->out, "%s %s%s%s HTTP/1.1\r\nHost: %s\r\n", req->method, req->path,
                   req->query[0] ? "?" : "", req->query, host ? host : "");
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct bsn_http_header *h = &req->headers[i];
        if (skip_request_header(h->name))
            continue;
        bsn_buf_append(&x->out, h->name.base, h->name.len);
        bsn_buf_puts(&x->out, ": ");
        bsn_buf_append(&x->out, h->value.base, h->value.len);
        bsn_buf_puts(&x->out, "\r\n");
    }
    bool has_len = bsn_http_req_header(req, "content-length") != NULL;
    if (req->body_len || has_len || !strcmp(req->method, "POST") || !strcmp(req->method, "PUT") ||
        !strcmp(req->method, "PATCH"))
        bsn_buf_printf(&x->out, "Content-Length: %zu\r\n", req->body_len);
    bsn_buf_puts(&x->out, "Connection: close\r\n\r\n");
    if (req->body_len)
        bsn_buf_append(&x->out, req->body, req->body_len);
    bsn_http_req_on_close(req, h2x_on_close, x);
    if (bsn_loop_add_fd(w->loop, x->fd, BSN_EV_WRITE, h2x_io, x) < 0) {
        close(x->fd);
        x->fd = -1;
        h2x_done(x, 503);
        return;
    }
    h2x_io(w->loop, x->fd, BSN_EV_WRITE, x);
}

int
gw_h2_adopt(struct gw_worker *w, int fd, struct ssl_st *ssl, const struct sockaddr *peer,
            const void *pre, size_t pre_len)
{
#ifdef BSN_HAVE_NGHTTP2
    /* gRPC connections go to h2grpc.c (h2sniff.c decides on the first request) */
    return gw_h2_sniff_adopt(w, fd, ssl, peer, ssl ? NULL : pre, ssl ? 0 : pre_len);
#else
    return gw_h2_adopt_http(w, fd, ssl, peer, ssl ? NULL : pre, ssl ? 0 : pre_len);
#endif
}

int
gw_h2_adopt_http(struct gw_worker *w, int fd, struct ssl_st *ssl, const struct sockaddr *peer,
                 const void *pre, size_t pre_len)
{
    if (!w->h2srv) {
        struct bsn_err err;
        bsn_err_clear(&err);
        struct bsn_http_server_opts o = {
            .listen = NULL,
            .handler = h2x_handler,
            .data = w,
            .max_body = GW_H2_MAX_BODY,
            .idle_timeout_ms = GW_IDLE_TIMEOUT_MS,
            .header_timeout_ms = GW_HEADER_TIMEOUT_MS,
        };
        w->h2srv = bsn_http_server_new(w->loop, &o, &err);
        if (!w->h2srv) {
            bsn_warn("gateway", "HTTP/2: %s", err.msg);
            if (ssl)
                SSL_free(ssl);
            close(fd);
            return -1;
        }
    }
    return bsn_http_server_adopt(w->h2srv, fd, ssl, peer, ssl == NULL, pre, pre_len);
}

void
gw_h2_drain(struct gw_worker *w)
{
    if (w->h2srv)
        bsn_http_server_shutdown(w->h2srv);
#ifdef BSN_HAVE_NGHTTP2
    gw_grpc_drain(w);
#endif
}

void
gw_h2_fini(struct gw_worker *w)
{
    bsn_http_server_free(w->h2srv); /* on_close of open streams closes their socketpairs */
    w->h2srv = NULL;
#ifdef BSN_HAVE_NGHTTP2
    gw_grpc_fini(w);
#endif
}
