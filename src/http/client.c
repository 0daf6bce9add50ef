/*
 * client.c - asynchronous HTTP/1.1 client on bsn_loop with keep-alive reuse and streaming
 * (see client.h).
 *
 * A call is attached to one connection at a time. Connections come from the client's idle
 * list (kept alive after a clean, fully read response) or are dialed fresh. A call that fails
 * on a reused connection before any response byte arrived is retried once on a new one
 * (the server may have closed the idle connection just as we reused it).
 */
#include "http/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/client_int.h"
#include "http/io_int.h"
#include "http/tls.h"

struct aconn {
    struct bsn_http_client *cl;
    struct aconn *next; /* idle list */
    int fd;
    SSL *ssl;
    bool connecting, handshaking, reused;
    unsigned read_want, write_want;
    struct bsn_timer idle_timer;
    struct bsn_http_call *call;
};

struct bsn_http_call {
    struct bsn_http_client *cl;
    struct bsn_http_call *prev, *next; /* active calls */
    struct aconn *conn;
    struct bsn_buf req; /* request bytes */
    size_t req_off;
    bool head_request, idempotent, got_bytes, retried, cancelled, done, started;
    int cb_depth;
    struct bsn_rreader rr;
    struct bsn_timer timer;
    unsigned timeout_ms;
    bsn_http_chunk_cb on_chunk;
    bool split_lines;
    struct bsn_buf line;
    bsn_http_done_cb on_done;
    void *data;
};

struct bsn_http_client {
    struct bsn_loop *loop;
    struct bsn_url url;
    char *base_url;
    char *token;
    SSL_CTX *tls;
    unsigned max_idle, idle_timeout_ms;
    size_t max_body;
    struct aconn *idle;
    unsigned nidle;
    struct bsn_http_call *calls;
};

static bool call_step(struct bsn_http_call *call);
static int stream_sink(void *ctx, const char *p, size_t n);

/* ---- connections ---- */

static void
aconn_free(struct aconn *a)
{
    bsn_timer_stop(a->cl->loop, &a->idle_timer);
    if (a->fd >= 0) {
        bsn_loop_del_fd(a->cl->loop, a->fd);
        close(a->fd);
    }
    if (a->ssl)
        SSL_free(a->ssl);
    free(a);
}

static void
idle_remove(struct bsn_http_client *cl, struct aconn *a)
{
    for (struct aconn **pp = &cl->idle; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            cl->nidle--;
            return;
        }
    }
}

static void
idle_timeout(struct bsn_loop *loop, void *data)
{
    struct aconn *a = data;
    idle_remove(a->cl, a);
    aconn_free(a);
}

static void conn_io(struct bsn_loop *loop, int fd, unsigned events, void *data);

static void
conn_update(struct aconn *a)
{
    unsigned ev = 0;
    if (a->connecting) {
        ev = BSN_EV_WRITE;
    } else if (a->handshaking) {
        ev = a->read_want ? a->read_want : BSN_EV_READ;
    } else {
        ev = a->read_want ? a->read_want : BSN_EV_READ;
        struct bsn_http_call *c = a->call;
        if (c && c->req_off < c->req.len)
            ev |= a->write_want ? a->write_want : BSN_EV_WRITE;
    }
    bsn_loop_mod_fd(a->cl->loop, a->fd, ev);
}

static struct aconn *
conn_get(struct bsn_http_client *cl)
{
    while (cl->idle) {
        struct aconn *a = cl->idle;
        cl->idle = a->next;
        cl->nidle--;
        bsn_timer_stop(cl->loop, &a->idle_timer);
        a->reused = true;
        a->next = NULL;
        return a;
    }
    int fd = bsn_url_connect(&cl->url);
    if (fd < 0)
        return NULL;
    struct aconn *a = bsn_calloc(1, sizeof(*a));
    a->cl = cl;
    a->fd = fd;
    a->connecting = true;
    bsn_timer_init(&a->idle_timer);
    if (cl->tls) {
        a->ssl = bsn_tls_client_ssl(cl->tls, fd, cl->url.host);
        a->handshaking = true;
    }
    if (bsn_loop_add_fd(cl->loop, fd, BSN_EV_WRITE, conn_io, a) < 0) {
        close(fd);
        if (a->ssl)
            SSL_free(a->ssl);
        free(a);
        return NULL;
    }
    return a;
}

/* Returns a connection to the idle pool, or frees it. */
static void
conn_release(struct aconn *a, bool reusable)
{
    struct bsn_http_client *cl = a->cl;
    a->call = NULL;
    if (!reusable || cl->nidle >= cl->max_idle) {
        aconn_free(a);
        return;
    }
    a->next = cl->idle;
    cl->idle = a;
    cl->nidle++;
    a->read_want = a->write_want = 0;
    bsn_loop_mod_fd(cl->loop, a->fd, BSN_EV_READ); /* notice the server closing it */
    bsn_timer_start(cl->loop, &a->idle_timer, cl->idle_timeout_ms, idle_timeout, a);
}

/* ---- calls ---- */

static void
call_free(struct bsn_http_call *call)
{
    struct bsn_http_client *cl = call->cl;
    if (cl) {
        bsn_timer_stop(cl->loop, &call->timer);
        if (call->prev)
            call->prev->next = call->next;
        else if (cl->calls == call)
            cl->calls = call->next;
        if (call->next)
            call->next->prev = call->prev;
    }
    if (call->conn)
        aconn_free(call->conn);
    bsn_buf_fini(&call->req);
    bsn_buf_fini(&call->line);
    bsn_rr_fini(&call->rr);
    free(call);
}

static void
fill_resp(struct bsn_http_call *call, struct bsn_http_client_resp *r, const struct bsn_err *err)
{
    memset(r, 0, sizeof(*r));
    r->status = err && !call->rr.head ? 0 : call->rr.status;
    r->headers = call->rr.hdrs;
    r->nheaders = call->rr.nhdrs;
    if (!call->on_chunk && !err) {
        r->body = call->rr.body.data ? call->rr.body.data : "";
        r->body_len = call->rr.body.len;
    }
    r->err = err;
}

/* Ends the call: one on_done callback, then the call is freed. Returns false (not alive). */
static bool
call_finish(struct bsn_http_call *call, const struct bsn_err *err)
{
    if (call->done)
        return false;
    call->done = true;
    if (call->conn) {
        struct aconn *a = call->conn;
        call->conn = NULL;
        bool reusable = !err && call->rr.keep_alive && call->rr.in.len == 0 &&
                        call->rr.st == RR_DONE && !a->handshaking && !a->connecting;
        conn_release(a, reusable);
    }
    if (call->on_done && !call->cancelled) {
        struct bsn_http_client_resp r;
        fill_resp(call, &r, err);
        call->cb_depth++;
        call->on_done(&r, call->data);
        call->cb_depth--;
    }
    call_free(call);
    return false;
}

static bool
call_fail(struct bsn_http_call *call, int code, const char *fmt, const char *detail)
{
    /* Retry an idempotent request once on a fresh connection if a reused one died before
     * answering (the server closed it as we reused it). */
    if (call->conn && call->conn->reused && call->idempotent && !call->got_bytes &&
        !call->retried && code == 502) {
        aconn_free(call->conn);
        call->conn = NULL;
        call->retried = true;
        call->req_off = 0;
        bsn_rr_fini(&call->rr);
        bsn_rr_init(&call->rr, call->head_request, call->cl->max_body);
        if (call->on_chunk) {
            call->rr.sink = stream_sink;
            call->rr.sink_ctx = call;
        }
        return call_step(call);
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    bsn_err_set(&err, code, code == 504 ? "Timeout" : "ServiceUnavailable", fmt, call->cl->base_url,
                detail ? detail : "");
    return call_finish(call, &err);
}

static int
deliver(struct bsn_http_call *call, const char *p, size_t n)
{
    struct bsn_http_client_resp r;
    fill_resp(call, &r, NULL);
    call->cb_depth++;
    int rc = call->on_chunk(&r, p, n, call->data);
    call->cb_depth--;
    return call->cancelled ? -1 : rc;
}

/* Stream sink: forwards body data (or complete lines) to on_chunk. */
static int
stream_sink(void *ctx, const char *p, size_t n)
{
    struct bsn_http_call *call = ctx;
    if (!p || !call->split_lines)
        return deliver(call, p, n);
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (call->line.len + take > call->cl->max_body)
            return -1;
        if (nl && call->line.len == 0) {
            if (deliver(call, p, take) < 0)
                return -1;
        } else {
            bsn_buf_append(&call->line, p, take);
            if (nl) {
                int rc = deliver(call, call->line.data, call->line.len);
                bsn_buf_reset(&call->line);
                if (rc < 0)
                    return -1;
            }
        }
        p += take;
        n -= take;
    }
    return 0;
}

/* Reads and processes the response. Returns false if the call ended (and was freed). */
static bool
call_read(struct bsn_http_call *call)
{
    struct aconn *a = call->conn;
    for (int i = 0; i < 16; i++) {
        bsn_buf_reserve(&call->rr.in, 65536);
        unsigned want = 0;
        ssize_t n = bsn_io_read(a->fd, a->ssl, call->rr.in.data + call->rr.in.len,
                                call->rr.in.cap - call->rr.in.len - 1, &want);
        if (n > 0) {
            call->got_bytes = true;
            call->rr.in.len += (size_t)n;
            a->read_want = 0;
            int rc = bsn_rr_process(&call->rr);
            if (rc == 1)
                return call_finish(call, NULL);
            if (rc == -3) { /* the stream consumer said stop */
                call->cancelled = true;
                return call_finish(call, NULL);
            }
            if (rc < 0)
                return call_fail(call, 502, "response from %s: %s", call->rr.error);
            continue;
        }
        if (n == 0) {
            int rc = call->got_bytes ? bsn_rr_eof(&call->rr) : -1;
            if (rc == 1)
                return call_finish(call, NULL);
            if (rc == -3) {
                call->cancelled = true;
                return call_finish(call, NULL);
            }
            return call_fail(call, 502, "%s: connection closed: %s",
                             call->rr.error ? call->rr.error : "no response");
        }
        if (n == BSN_IO_AGAIN) {
            a->read_want = want;
            return true;
        }
        return call_fail(call, 502, "%s: read failed%s", "");
    }
    return true;
}

/* Drives the call's connection: connect, handshake, write, read. */
static bool
call_step(struct bsn_http_call *call)
{
    if (!call->conn) {
        call->conn = conn_get(call->cl);
        if (!call->conn) {
            return call_fail(call, 502, "connect %s: %s", strerror(errno));
        }
        call->conn->call = call;
    }
    struct aconn *a = call->conn;
    if (a->connecting) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            return call_fail(call, 502, "connect %s: %s", strerror(soerr));
        }
        a->connecting = false;
    }
    if (a->handshaking) {
        unsigned want = 0;
        int rc = bsn_io_handshake(a->ssl, &want);
        if (rc == BSN_IO_ERR) {
            long vr = SSL_get_verify_result(a->ssl);
            return call_fail(call, 502, "TLS handshake with %s failed: %s",
                             vr != X509_V_OK ? X509_verify_cert_error_string(vr)
                                             : "protocol error");
        }
        if (rc == BSN_IO_AGAIN) {
            a->read_want = want;
            conn_update(a);
            return true;
        }
        a->handshaking = false;
        a->read_want = 0;
    }
    while (call->req_off < call->req.len) {
        unsigned want = 0;
        ssize_t n = bsn_io_write(a->fd, a->ssl, call->req.data + call->req_off,
                                 call->req.len - call->req_off, &want);
        if (n > 0) {
            call->req_off += (size_t)n;
            a->write_want = 0;
            continue;
        }
        if (n == BSN_IO_AGAIN) {
            a->write_want = want;
            break;
        }
        return call_fail(call, 502, "send to %s failed%s", "");
    }
    if (!call_read(call))
        return false;
    conn_update(a);
    return true;
}

static void
conn_io(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct aconn *a = data;
    if (!a->call) {
        /* Idle connection became readable: server closed it (or sent garbage). */
        idle_remove(a->cl, a);
        aconn_free(a);
        return;
    }
    call_step(a->call);
}

static void
call_timeout(struct bsn_loop *loop, void *data)
{
    struct bsn_http_call *call = data;
    call->retried = true; /* no retry after a timeout */
    (void)call_fail(call, 504, "request to %s timed out%s", "");
}

static void
call_start(struct bsn_loop *loop, void *data)
{
    struct bsn_http_call *call = data;
    call->started = true;
    if (call->cancelled) {
        call->done = true;
        call_free(call);
        return;
    }
    if (call->timeout_ms)
        bsn_timer_start(loop, &call->timer, call->timeout_ms, call_timeout, call);
    call_step(call);
}

struct bsn_http_call *
bsn_http_client_request(struct bsn_http_client *cl, const struct bsn_http_call_opts *o)
{
    struct bsn_http_call *call = bsn_calloc(1, sizeof(*call));
    call->cl = cl;
    const char *method = o->method ? o->method : (o->body ? "POST" : "GET");
    call->head_request = strcmp(method, "HEAD") == 0;
    call->idempotent = call->head_request || strcmp(method, "GET") == 0 ||
                       strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0 ||
                       strcmp(method, "OPTIONS") == 0;
    bsn_buf_init(&call->req);
    bsn_buf_init(&call->line);
    /* The base URL's path (e.g. a unix: URL's) prefixes o->path. */
    struct bsn_buf path;
    bsn_buf_init(&path);
    if (strcmp(cl->url.path, "/") != 0)
        bsn_buf_puts(&path, cl->url.path);
    bsn_buf_puts(&path, o->path ? o->path : "/");
    bsn_http_build_request(&call->req, method, path.data, cl->url.host_header, o->headers,
                           o->content_type, cl->token, o->body, o->body_len, true);
    bsn_buf_fini(&path);
    bsn_rr_init(&call->rr, call->head_request, cl->max_body);
    call->on_chunk = o->on_chunk;
    call->split_lines = o->split_lines;
    if (o->on_chunk) {
        call->rr.sink = stream_sink;
        call->rr.sink_ctx = call;
    }
    call->on_done = o->on_done;
    call->data = o->data;
    call->timeout_ms = o->timeout_ms;
    bsn_timer_init(&call->timer);
    call->next = cl->calls;
    if (cl->calls)
        cl->calls->prev = call;
    cl->calls = call;
    bsn_loop_defer(cl->loop, call_start, call);
    return call;
}

void
bsn_http_call_cancel(struct bsn_http_call *call)
{
    if (call->done || call->cancelled)
        return;
    call->cancelled = true;
    if (call->cb_depth > 0 || !call->started)
        return; /* the running callback's caller, or call_start, frees it */
    call->done = true;
    call_free(call);
}

struct bsn_http_client *
bsn_http_client_new(struct bsn_loop *loop, const struct bsn_http_client_opts *o,
                    struct bsn_err *err)
{
    bsn_io_ignore_sigpipe();
    struct bsn_http_client *cl = bsn_calloc(1, sizeof(*cl));
    cl->loop = loop;
    cl->base_url = bsn_strdup(o->base_url ? o->base_url : "");
    if (bsn_url_parse(cl->base_url, &cl->url) < 0) {
        bsn_err_set(err, 400, "BadRequest", "invalid base URL \"%s\"", cl->base_url);
        free(cl->base_url);
        free(cl);
        return NULL;
    }
    if (cl->url.tls) {
        cl->tls = bsn_tls_client_ctx(o->tls.ca_file, o->tls.insecure, o->tls.client_cert,
                                     o->tls.client_key, err);
        if (!cl->tls) {
            free(cl->base_url);
            free(cl);
            return NULL;
        }
    }
    cl->token = o->bearer_token ? bsn_strdup(o->bearer_token) : NULL;
    cl->max_idle = o->max_idle_conns ? o->max_idle_conns : 4;
    cl->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 30000;
    cl->max_body = o->max_body ? o->max_body : (64u << 20);
    return cl;
}

void
bsn_http_client_free(struct bsn_http_client *cl)
{
    if (!cl)
        return;
    while (cl->calls) {
        struct bsn_http_call *call = cl->calls;
        cl->calls = call->next;
        call->prev = call->next = NULL;
        call->cancelled = true;
        if (!call->started) {
            call->cl = NULL; /* call_start (already deferred) frees it */
            continue;
        }
        bsn_timer_stop(cl->loop, &call->timer);
        call->cl = NULL;
        call->done = true;
        call_free(call);
    }
    while (cl->idle) {
        struct aconn *a = cl->idle;
        cl->idle = a->next;
        aconn_free(a);
    }
    if (cl->tls)
        SSL_CTX_free(cl->tls);
    free(cl->token);
    free(cl->base_url);
    free(cl);
}
