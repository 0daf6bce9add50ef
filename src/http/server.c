/*
 * server.c - HTTP/1.1 server connections on bsn_loop (see server.h).
 *
 * A connection moves through states: HANDSHAKE (TLS) -> HEAD (waiting for/reading a request
 * head) -> BODY (reading the body) -> HANDLING (handler owns the request; for streaming
 * responses it stays here until the stream ends) -> HEAD again, or LINGER (response sent with
 * "Connection: close": write side shut, input drained briefly so the client sees the response
 * instead of a reset) -> CLOSED.
 *
 * Lifetimes: a connection is refcounted (one ref while open, one per deferred callback or
 * active loop callback), so closing it from inside any callback is safe. A request is owned by
 * the application from dispatch until it is finished; if the connection dies first the request
 * is marked dead and, if it has an on_close callback, that callback is deferred to the loop.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/io_int.h"
#include "http/server_int.h"

static void process_input(struct conn *c);

/* ---- small helpers ---- */

void
bsn_srv_conn_ref(struct conn *c)
{
    c->refs++;
}

void
bsn_srv_conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    bsn_buf_fini(&c->in);
    bsn_buf_fini(&c->out);
    bsn_buf_fini(&c->body);
    free(c);
}

size_t
bsn_srv_out_pending(const struct conn *c)
{
    return c->out.len - c->out_off;
}

void
bsn_srv_free_req(struct req_full *r)
{
    free(r->head_buf);
    free(r->pub.body);
    bsn_buf_fini(&r->extra);
    free(r);
}

static void
fire_on_close(struct bsn_loop *loop, void *data)
{
    struct req_full *r = data;
    r->defer_pending = false;
    if (!r->finished) {
        r->finished = true;
        if (r->on_close)
            r->on_close(&r->pub, r->on_close_data);
    }
    bsn_srv_free_req(r);
}

static void
orphan_remove(struct req_full *r)
{
    struct bsn_http_server *srv = r->orphan_of;
    if (!srv)
        return;
    if (r->oprev)
        r->oprev->onext = r->onext;
    else
        srv->orphans = r->onext;
    if (r->onext)
        r->onext->oprev = r->oprev;
    r->orphan_of = NULL;
}

/* Marks the request finished; frees it unless a deferred on_close still refers to it. */
void
bsn_srv_finish_req(struct req_full *r)
{
    assert(!r->finished);
    r->finished = true;
    orphan_remove(r);
    if (r->conn && r->conn->req == r)
        r->conn->req = NULL;
    r->conn = NULL;
    if (!r->defer_pending)
        bsn_srv_free_req(r);
}

static void conn_read(struct conn *c);

static void
kick_cb(struct bsn_loop *loop, void *data)
{
    struct conn *c = data;
    c->kick_pending = false;
    if (!c->closed && c->h2) {
        /* decrypted HTTP/2 bytes waiting in the SSL object (epoll cannot see them) */
        conn_read(c);
        if (!c->closed)
            bsn_h2_io(c);
        if (!c->closed)
            bsn_srv_conn_update(c);
    } else if (!c->closed) {
        process_input(c);
        if (!c->closed)
            bsn_srv_conn_update(c);
    }
    bsn_srv_conn_unref(c);
}

static void
flush_cb(struct bsn_loop *loop, void *data)
{
    struct conn *c = data;
    c->flush_pending = false;
    if (!c->closed && c->h2) {
        bsn_h2_send(c);
    } else if (!c->closed) {
        bsn_srv_conn_flush(c);
        bsn_srv_conn_update(c);
    }
    bsn_srv_conn_unref(c);
}

static void
conn_kick(struct conn *c)
{
    if (c->closed || c->kick_pending || c->in_process)
        return;
    c->kick_pending = true;
    bsn_srv_conn_ref(c);
    bsn_loop_defer(c->srv->loop, kick_cb, c);
}

/* ---- timers ---- */

static void
timer_cb(struct bsn_loop *loop, void *data)
{
    struct conn *c = data;
    if (c->closed)
        return;
    bsn_srv_conn_ref(c);
    if (c->close_after_write) {
        bsn_srv_conn_close(c); /* could not deliver the final response in time */
        bsn_srv_conn_unref(c);
        return;
    }
    switch (c->st) {
    case C_HEAD:
        if (c->in.len == 0 && !c->req) {
            bsn_srv_conn_close(c); /* idle keep-alive connection */
            break;
        }
        /* fallthrough */
    case C_BODY:
        bsn_http_server_send_error(c, 408);
        break;
    default:
        bsn_srv_conn_close(c);
        break;
    }
    bsn_srv_conn_unref(c);
}

void
bsn_srv_arm_timer(struct conn *c, unsigned ms)
{
    bsn_timer_start(c->srv->loop, &c->timer, ms, timer_cb, c);
}

/* ---- output ---- */

/* Writes as much of c->out as the socket takes. May close the connection. */
void
bsn_srv_conn_flush(struct conn *c)
{
    while (!c->closed && bsn_srv_out_pending(c) > 0) {
        unsigned want = 0;
        ssize_t n =
            bsn_io_write(c->fd, c->ssl, c->out.data + c->out_off, bsn_srv_out_pending(c), &want);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->write_want = 0;
            continue;
        }
        if (n == BSN_IO_AGAIN) {
            c->write_want = want;
            break;
        }
        bsn_srv_conn_close(c);
        return;
    }
    if (c->closed)
        return;
    if (bsn_srv_out_pending(c) == 0) {
        bsn_buf_reset(&c->out);
        c->out_off = 0;
        if (c->close_after_write && c->st != C_LINGER) {
            /* Lingering close: stop writing, drain input briefly, then close. */
            c->st = C_LINGER;
            if (c->ssl)
                SSL_shutdown(c->ssl);
            shutdown(c->fd, SHUT_WR);
            bsn_srv_arm_timer(c, LINGER_MS);
        }
    } else if (c->out_off > 65536 && c->out_off > c->out.len / 2) {
        bsn_buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
}

void
bsn_srv_conn_update(struct conn *c)
{
    if (c->closed)
        return;
    unsigned ev = 0;
    if (c->st == C_HANDSHAKE) {
        ev = c->read_want ? c->read_want : BSN_EV_READ;
    } else {
        bool paused = c->in.len >= IN_CAP;
        if (!paused)
            ev |= c->read_want ? c->read_want : BSN_EV_READ;
        if (bsn_srv_out_pending(c) > 0)
            ev |= c->write_want ? c->write_want : BSN_EV_WRITE;
        else if (c->h2 && bsn_h2_more(c))
            ev |= BSN_EV_WRITE; /* writable at once: the next iteration pulls more frames */
        if (!paused && c->ssl && SSL_pending(c->ssl) > 0)
            conn_kick(c); /* decrypted bytes epoll cannot see */
    }
    bsn_loop_mod_fd(c->srv->loop, c->fd, ev);
}

/* Validates an application-supplied header name/value (no injection). */
static bool
header_ok(const char *name, const char *value)
{
    if (!*name)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *p))
            return false;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < ' ' && *p != '\t') || *p == 0x7f) /* obs-text (UTF-8) is allowed */
            return false;
    return true;
}

/* Appends the status line and headers. clen < 0: no Content-Length. */
static void
put_head(struct conn *c, struct req_full *r, int status, const char *ctype, int64_t clen,
         bool chunked, bool keep)
{
    char date[30];
    bsn_http_date(date);
    bsn_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, bsn_http_status_text(status),
                   date);
    if (ctype && header_ok("Content-Type", ctype))
        bsn_buf_printf(&c->out, "Content-Type: %s\r\n", ctype);
    if (clen >= 0)
        bsn_buf_printf(&c->out, "Content-Length: %lld\r\n", (long long)clen);
    if (chunked)
        bsn_buf_puts(&c->out, "Transfer-Encoding: chunked\r\n");
    if (r && r->extra.len)
        bsn_buf_append(&c->out, r->extra.data, r->extra.len);
    if (!keep)
        bsn_buf_puts(&c->out, "Connection: close\r\n");
    else if (r && r->head.minor_version == 0)
        bsn_buf_puts(&c->out, "Connection: keep-alive\r\n");
    bsn_buf_puts(&c->out, "\r\n");
}

void
bsn_http_server_send_error(struct conn *c, int status)
{
    if (c->closed || c->st == C_LINGER)
        return;
    if (c->req && c->req->dispatched) {
        /* The application owns the request; just drop the connection. */
        bsn_srv_conn_close(c);
        return;
    }
    if (c->req) {
        bsn_srv_free_req(c->req);
        c->req = NULL;
    }
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, bsn_http_status_text(status));
    put_head(c, NULL, status, "text/plain; charset=utf-8", n, false, false);
    bsn_buf_append(&c->out, body, (size_t)n);
    c->close_after_write = true;
    c->st = C_BODY; /* stop parsing; LINGER follows once flushed */
    bsn_srv_conn_flush(c);
    bsn_srv_conn_update(c);
}

/* ---- request intake ---- */

static void
rebase(struct bsn_str *s, const char *from, char *to)
{
    if (s->base)
        s->base = to + (s->base - from);
}

/*
 * Creates the request from a parsed head: copies the head bytes so the request owns them, and
 * NUL-terminates method/path/query/header names and values in the copy.
 */
struct req_full *
bsn_srv_make_req(struct conn *c, const struct bsn_http_request_head *h, const char *src,
                 size_t head_len)
{
    struct req_full *r = bsn_calloc(1, sizeof(*r));
    r->conn = c;
    r->loop = c->srv->loop;
    r->head_buf = bsn_malloc(head_len + 1);
    memcpy(r->head_buf, src, head_len);
    r->head_buf[head_len] = 0;
    r->head = *h;
    const char *from = src;
    char *to = r->head_buf;
    struct bsn_http_request_head *rh = &r->head;
    rebase(&rh->method, from, to);
    rebase(&rh->target, from, to);
    rebase(&rh->path, from, to);
    rebase(&rh->query, from, to);
    rebase(&rh->host, from, to);
    rebase(&rh->upgrade_proto, from, to);
    rebase(&rh->connection, from, to);
    for (size_t i = 0; i < rh->nheaders; i++) {
        rebase(&rh->headers[i].name, from, to);
        rebase(&rh->headers[i].value, from, to);
    }
    /* Every view is followed by a delimiter byte inside the copy (SP, '?', ':', CR). */
    char *cut[4 + 2 * BSN_HTTP_MAX_HEADERS];
    size_t ncut = 0;
    cut[ncut++] = (char *)rh->method.base + rh->method.len;
    cut[ncut++] = (char *)rh->path.base + rh->path.len;
    if (rh->query.len || rh->path.len != rh->target.len)
        cut[ncut++] = (char *)rh->query.base + rh->query.len;
    for (size_t i = 0; i < rh->nheaders; i++) {
        cut[ncut++] = (char *)rh->headers[i].name.base + rh->headers[i].name.len;
        cut[ncut++] = (char *)rh->headers[i].value.base + rh->headers[i].value.len;
    }
    for (size_t i = 0; i < ncut; i++)
        *cut[i] = 0;
    r->pub.method = rh->method.base;
    r->pub.path = rh->path.base;
    r->pub.query = rh->path.len != rh->target.len ? rh->query.base : "";
    r->pub.minor_version = rh->minor_version;
    r->pub.headers = rh->headers;
    r->pub.nheaders = rh->nheaders;
    r->pub.remote_addr = c->remote;
    r->pub.tls = c->ssl != NULL;
    r->pub.head_only = strcmp(r->pub.method, "HEAD") == 0;
    return r;
}

static void
dispatch(struct conn *c)
{
    struct req_full *r = c->req;
    bsn_buf_putc(&c->body, 0); /* ensures data != NULL and a terminating NUL */
    c->body.len--;
    r->pub.body_len = c->body.len;
    r->pub.body = bsn_buf_take(&c->body);
    r->dispatched = true;
    c->st = C_HANDLING;
    bsn_timer_stop(c->srv->loop, &c->timer);
    c->srv->handler(&r->pub, c->srv->handler_data);
}

/* Moves body bytes from c->in into c->body. Returns true when the body is complete. */
static bool
read_body(struct conn *c)
{
    size_t max = c->srv->max_body;
    if (!c->body_chunked) {
        size_t take = c->in.len < c->body_need ? c->in.len : (size_t)c->body_need;
        bsn_buf_append(&c->body, c->in.data, take);
        bsn_buf_consume(&c->in, take);
        c->body_need -= take;
        return c->body_need == 0;
    }
    size_t len = c->in.len;
    int rc = bsn_http_chunked_decode(&c->ch, c->in.data, &len);
    if (rc == BSN_HTTP_ERROR) {
        bsn_http_server_send_error(c, 400);
        return false;
    }
    if (c->body.len + len > max) {
        bsn_http_server_send_error(c, 413);
        return false;
    }
    bsn_buf_append(&c->body, c->in.data, len);
    if (rc == BSN_HTTP_INCOMPLETE) {
        c->in.len = 0;
        return false;
    }
    memmove(c->in.data, c->in.data + len, (size_t)rc);
    c->in.len = (size_t)rc;
    return true;
}

/* Parses and dispatches as many requests as the buffered input allows. */
static void
process_input(struct conn *c)
{
    struct bsn_http_server *srv = c->srv;
    c->in_process = true;
    while (!c->closed) {
        if (c->st == C_HEAD) {
            if (bsn_srv_out_pending(c) > OUT_SOFT_LIMIT)
                break; /* let the client read first */
            if (srv->draining && c->in.len == 0) {
                if (bsn_srv_out_pending(c) == 0)
                    bsn_srv_conn_close(c);
                else
                    c->close_after_write = true;
                break;
            }
            if (c->in.len == 0) {
                if (c->header_timer || !bsn_timer_active(&c->timer)) {
                    bsn_srv_arm_timer(c, srv->idle_timeout_ms);
                    c->header_timer = false;
                }
                break;
            }
            int status = 0;
            int rc = bsn_http_parse_request(c->in.data, c->in.len, &srv->scratch, &status);
            if (rc == BSN_HTTP_INCOMPLETE) {
                if (!c->header_timer) {
                    bsn_srv_arm_timer(c, srv->header_timeout_ms);
                    c->header_timer = true;
                }
                break;
            }
            if (rc == BSN_HTTP_ERROR) {
                bsn_http_server_send_error(c, status);
                break;
            }
            c->header_timer = false;
            struct bsn_http_request_head *h = &srv->scratch;
            if (h->content_length > 0 && (uint64_t)h->content_length > srv->max_body) {
                bsn_http_server_send_error(c, 413);
                break;
            }
            c->req = bsn_srv_make_req(c, h, c->in.data, (size_t)rc);
            bsn_buf_consume(&c->in, (size_t)rc);
            bsn_buf_reset(&c->body);
            if (h->chunked) {
                c->body_chunked = true;
                bsn_http_chunked_init(&c->ch);
            } else {
                c->body_chunked = false;
                c->body_need = h->content_length > 0 ? (uint64_t)h->content_length : 0;
                if (c->body_need == 0) {
                    dispatch(c);
                    continue;
                }
            }
            c->st = C_BODY;
            bsn_srv_arm_timer(c, srv->header_timeout_ms);
            if (h->expect_continue && c->in.len == 0 && c->req->head.minor_version == 1) {
                bsn_buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                bsn_srv_conn_flush(c);
            }
            continue;
        }
        if (c->st == C_BODY) {
            if (!c->req || c->close_after_write)
                break; /* error response pending; input is ignored */
            if (c->in.len == 0)
                break;
            bsn_srv_arm_timer(c, srv->header_timeout_ms); /* progress resets the body deadline */
            if (read_body(c))
                dispatch(c);
            continue;
        }
        if (c->st == C_LINGER)
            bsn_buf_reset(&c->in);
        break;
    }
    c->in_process = false;
}

/* Reads what the socket has, up to IN_CAP buffered bytes. May close the connection. */
static void
conn_read(struct conn *c)
{
    for (int i = 0; i < 8 && !c->closed; i++) {
        if (c->in.len >= IN_CAP)
            break;
        bsn_buf_reserve(&c->in, 16384);
        size_t room = BSN_MIN(c->in.cap - c->in.len - 1, IN_CAP - c->in.len);
        unsigned want = 0;
        ssize_t n = bsn_io_read(c->fd, c->ssl, c->in.data + c->in.len, room, &want);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->in.data[c->in.len] = 0;
            c->read_want = 0;
            if (c->st == C_LINGER)
                bsn_buf_reset(&c->in);
            continue;
        }
        if (n == 0) {
            c->peer_eof = true;
            break;
        }
        if (n == BSN_IO_AGAIN) {
            c->read_want = want;
            break;
        }
        bsn_srv_conn_close(c);
    }
}

static void
conn_io(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct conn *c = data;
    bsn_srv_conn_ref(c);
    if (c->st == C_HANDSHAKE) {
        unsigned want = 0;
        int rc = bsn_io_handshake(c->ssl, &want);
        if (rc == BSN_IO_ERR) {
            bsn_srv_conn_close(c);
            goto out;
        }
        if (rc == BSN_IO_AGAIN) {
            c->read_want = want;
            bsn_srv_conn_update(c);
            goto out;
        }
        c->read_want = 0;
        c->st = C_HEAD;
        bsn_srv_arm_timer(c, c->srv->idle_timeout_ms);
        events |= BSN_EV_READ; /* the client's first request may already be decrypted */
        const unsigned char *alpn = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
        if (alen == 2 && memcmp(alpn, "h2", 2) == 0 && bsn_h2_start(c) < 0) {
            bsn_srv_conn_close(c);
            goto out;
        }
    }
    if (c->h2) {
        if (bsn_srv_out_pending(c) > 0)
            bsn_srv_conn_flush(c);
        if (!c->closed && (events & (BSN_EV_READ | BSN_EV_ERROR)))
            conn_read(c);
        if (!c->closed)
            bsn_h2_io(c);
        if (!c->closed && c->peer_eof)
            bsn_srv_conn_close(c);
        bsn_srv_conn_update(c);
        goto out;
    }
    if (bsn_srv_out_pending(c) > 0)
        bsn_srv_conn_flush(c);
    if (!c->closed && (events & (BSN_EV_READ | BSN_EV_ERROR)))
        conn_read(c);
    if (!c->closed)
        process_input(c);
    if (!c->closed && c->peer_eof) {
        /* Client closed its side. Finish writing what is queued for idle connections;
         * otherwise (mid-request, or while a handler/stream owns the request) drop it. */
        if (c->st == C_HEAD && c->in.len == 0 && !c->req && bsn_srv_out_pending(c) > 0)
            c->close_after_write = true;
        else
            bsn_srv_conn_close(c);
    }
    if (!c->closed && c->st == C_HEAD && c->close_after_write && bsn_srv_out_pending(c) == 0)
        bsn_srv_conn_close(c);
    bsn_srv_conn_update(c);
out:
    bsn_srv_conn_unref(c);
}

/*
 * The connection under r is gone. An undispatched request is freed; a dispatched one is
 * marked dead and its on_close is deferred (or, during server shutdown, called now), or it
 * waits on the orphan list for the application to finish it.
 */
void
bsn_srv_req_conn_gone(struct bsn_http_server *srv, struct req_full *r)
{
    r->conn = NULL;
    if (!r->dispatched) {
        bsn_srv_free_req(r);
        return;
    }
    r->dead = true;
    if (srv->freeing) {
        /* Server shutdown: nobody may answer later; notify now and free. */
        r->finished = true;
        if (r->on_close)
            r->on_close(&r->pub, r->on_close_data);
        if (!r->defer_pending)
            bsn_srv_free_req(r);
    } else if (r->on_close && !r->defer_pending) {
        r->defer_pending = true;
        bsn_loop_defer(srv->loop, fire_on_close, r);
    } else if (!r->on_close) {
        r->orphan_of = srv;
        r->onext = srv->orphans;
        if (srv->orphans)
            srv->orphans->oprev = r;
        srv->orphans = r;
    }
}

/* ---- connection lifecycle ---- */

void
bsn_srv_conn_close(struct conn *c)
{
    if (c->closed)
        return;
    struct bsn_http_server *srv = c->srv;
    c->closed = true;
    c->st = C_CLOSED;
    bsn_timer_stop(srv->loop, &c->timer);
    if (c->fd >= 0) {
        bsn_loop_del_fd(srv->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    struct req_full *r = c->req;
    c->req = NULL;
    if (r)
        bsn_srv_req_conn_gone(srv, r);
    if (c->h2)
        bsn_h2_conn_closed(c);
    bsn_srv_conn_unref(c);
}

static struct conn *conn_new(struct bsn_http_server *srv, int fd, const struct sockaddr *sa,
                             SSL *adopted);

void
bsn_http_server_conn_new(struct bsn_http_server *srv, int fd, const struct sockaddr *sa)
{
    conn_new(srv, fd, sa, NULL);
}

/* A new connection; `adopted`: an SSL object whose handshake is done. NULL if it closed. */
static struct conn *
conn_new(struct bsn_http_server *srv, int fd, const struct sockaddr *sa, SSL *adopted)
{
    struct conn *c = bsn_calloc(1, sizeof(*c));
    c->srv = srv;
    c->fd = fd;
    c->refs = 1;
    bsn_buf_init(&c->in);
    bsn_buf_init(&c->out);
    bsn_buf_init(&c->body);
    bsn_timer_init(&c->timer);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(c->remote, sizeof(c->remote), "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(c->remote, sizeof(c->remote), "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        strcpy(c->remote, "unix");
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (adopted) {
        c->ssl = adopted;
        c->st = C_HEAD;
        bsn_srv_arm_timer(c, srv->idle_timeout_ms);
    } else if (srv->tls) {
        c->ssl = SSL_new(srv->tls);
        SSL_set_fd(c->ssl, fd);
        SSL_set_accept_state(c->ssl);
        c->st = C_HANDSHAKE;
        bsn_srv_arm_timer(c, srv->header_timeout_ms);
    } else {
        c->st = C_HEAD;
        bsn_srv_arm_timer(c, srv->idle_timeout_ms);
    }
    if (bsn_loop_add_fd(srv->loop, fd, BSN_EV_READ, conn_io, c) < 0) {
        bsn_srv_conn_close(c);
        return NULL;
    }
    return c;
}

int
bsn_http_server_adopt_tls(struct bsn_http_server *srv, int fd, SSL *ssl, const struct sockaddr *sa)
{
    return bsn_http_server_adopt(srv, fd, ssl, sa, false, NULL, 0);
}

int
bsn_http_server_adopt(struct bsn_http_server *srv, int fd, SSL *ssl, const struct sockaddr *sa,
                      bool h2, const void *pre, size_t pre_len)
{
    if (srv->draining || srv->freeing || pre_len > IN_CAP) {
        if (ssl)
            SSL_free(ssl);
        close(fd);
        return -1;
    }
    struct conn *c = conn_new(srv, fd, sa, ssl);
    if (!c)
        return -1;
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    if (ssl)
        SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (pre_len) {
        bsn_buf_append(&c->in, pre, pre_len);
        c->in.data[c->in.len] = 0;
    }
    if ((h2 || (alen == 2 && memcmp(alpn, "h2", 2) == 0)) && bsn_h2_start(c) < 0) {
        bsn_srv_conn_close(c);
        return -1;
    }
    conn_kick(c); /* bytes the handshake already decrypted */
    return 0;
}

void
bsn_http_server_drain_conns(struct bsn_http_server *srv)
{
    struct conn *c = srv->conns;
    while (c) {
        struct conn *next = c->next;
        /* Idle keep-alive connections go now; busy ones close after their response. */
        if (c->h2) {
            if (bsn_h2_idle(c))
                bsn_srv_conn_close(c);
            else
                bsn_h2_drain(c);
        } else if ((c->st == C_HEAD || c->st == C_HANDSHAKE) && c->in.len == 0 && !c->req &&
                   bsn_srv_out_pending(c) == 0) {
            bsn_srv_conn_close(c);
        }
        c = next;
    }
}

void
bsn_http_server_close_all(struct bsn_http_server *srv)
{
    srv->freeing = true;
    while (srv->conns)
        bsn_srv_conn_close(srv->conns);
    while (srv->orphans) {
        struct req_full *r = srv->orphans;
        orphan_remove(r);
        r->finished = true;
        if (!r->defer_pending)
            bsn_srv_free_req(r);
    }
}

/* ---- request API ---- */

static struct req_full *
full(struct bsn_http_req *req)
{
    return (struct req_full *)req;
}

const char *
bsn_http_req_header(const struct bsn_http_req *req, const char *name)
{
    const struct bsn_http_header *h = bsn_http_find_header(req->headers, req->nheaders, name);
    return h ? h->value.base : NULL;
}

int
bsn_http_req_client_cert(const struct bsn_http_req *req, char *cn, size_t cnsz, char *orgs,
                         size_t orgsz)
{
    const struct req_full *r = (const struct req_full *)req;
    if (cnsz)
        cn[0] = 0;
    if (orgsz)
        orgs[0] = 0;
    if (!r->conn || !r->conn->ssl)
        return -1;
    X509 *x = SSL_get0_peer_certificate(r->conn->ssl);
    if (!x || SSL_get_verify_result(r->conn->ssl) != X509_V_OK)
        return -1;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_get_text_by_NID(name, NID_commonName, cn, (int)cnsz) < 0)
        return -1;
    size_t used = 0;
    int idx = -1;
    while ((idx = X509_NAME_get_index_by_NID(name, NID_organizationName, idx)) >= 0) {
        ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
        const unsigned char *v = ASN1_STRING_get0_data(d);
        size_t vl = (size_t)ASN1_STRING_length(d);
        if (used + vl + 2 > orgsz)
            break;
        if (used)
            orgs[used++] = ',';
        memcpy(orgs + used, v, vl);
        used += vl;
        orgs[used] = 0;
    }
    return 0;
}

void
bsn_http_req_add_header(struct bsn_http_req *req, const char *name, const char *value)
{
    if (!header_ok(name, value)) {
        bsn_warn("http", "dropping invalid response header %s", name);
        return;
    }
    bsn_buf_printf(&full(req)->extra, "%s: %s\r\n", name, value);
}

void
bsn_http_req_close_after(struct bsn_http_req *req)
{
    full(req)->close_after = true;
}

void
bsn_http_req_on_close(struct bsn_http_req *req, bsn_http_close_cb cb, void *data)
{
    struct req_full *r = full(req);
    r->on_close = cb;
    r->on_close_data = data;
    if (r->dead && cb && !r->defer_pending && !r->conn) {
        /* The client left before the callback was set: still tell the application. */
        orphan_remove(r);
        r->defer_pending = true;
        bsn_loop_defer(r->loop, fire_on_close, r);
    }
}

static bool
keep_alive(struct conn *c, struct req_full *r)
{
    return r->head.keep_alive && !r->close_after && !c->close_after_write && !c->peer_eof &&
           !c->srv->draining;
}

/* After the response to r is queued: move on to the next request. */
static void
response_queued(struct conn *c, struct req_full *r, bool keep)
{
    bsn_srv_finish_req(r);
    if (!keep)
        c->close_after_write = true;
    else
        c->st = C_HEAD;
    bsn_srv_conn_flush(c);
    if (!c->closed && keep)
        conn_kick(c);
    if (!c->closed)
        bsn_srv_conn_update(c);
}

void
bsn_http_respond(struct bsn_http_req *req, int status, const char *content_type, const void *body,
                 size_t len)
{
    struct req_full *r = full(req);
    struct conn *c = r->conn;
    assert(!r->finished && !r->streaming && status >= 200 && status <= 999);
    if (!c) {
        bsn_srv_finish_req(r);
        return;
    }
    if (r->h2s) {
        bsn_h2_respond(r, status, content_type, body, len);
        return;
    }
    bsn_srv_conn_ref(c);
    bool keep = keep_alive(c, r);
    bool no_body = status == 204 || status == 304;
    put_head(c, r, status, no_body ? NULL : content_type, no_body ? -1 : (int64_t)len, false, keep);
    if (!no_body && !req->head_only && len)
        bsn_buf_append(&c->out, body, len);
    response_queued(c, r, keep);
    bsn_srv_conn_unref(c);
}

int
bsn_http_stream_start(struct bsn_http_req *req, int status, const char *content_type)
{
    struct req_full *r = full(req);
    struct conn *c = r->conn;
    assert(!r->finished && !r->streaming);
    r->streaming = true;
    if (!c)
        return -1;
    if (r->h2s)
        return bsn_h2_stream_start(r, status, content_type);
    bool chunked = r->head.minor_version == 1;
    if (!chunked)
        r->close_after = true;
    put_head(c, r, status, content_type, -1, chunked, keep_alive(c, r));
    bsn_srv_conn_ref(c);
    bsn_srv_conn_flush(c);
    bsn_srv_conn_update(c);
    bool gone = c->closed;
    bsn_srv_conn_unref(c);
    return gone ? -1 : 0;
}

int
bsn_http_stream_write(struct bsn_http_req *req, const void *data, size_t len)
{
    struct req_full *r = full(req);
    struct conn *c = r->conn;
    assert(r->streaming && !r->finished);
    if (!c)
        return -1;
    if (len == 0)
        return 0;
    if (r->h2s) {
        if (bsn_h2_stream_write(r, data, len) < 0)
            return -1;
        if (!c->flush_pending) {
            c->flush_pending = true;
            bsn_srv_conn_ref(c);
            bsn_loop_defer(c->srv->loop, flush_cb, c);
        }
        return 0;
    }
    /* A client is too slow when the backlog left from earlier loop iterations exceeds the
     * cap. Writes within one iteration (flush_pending) may burst past it: an initial watch
     * list is bounded by the application, not by how fast this client reads. */
    if (!c->flush_pending && bsn_srv_out_pending(c) + len > c->srv->max_stream_buffer) {
        bsn_warn("http", "%s: closing slow stream (%zu bytes buffered)", c->remote,
                 bsn_srv_out_pending(c));
        bsn_srv_conn_close(c);
        return -1;
    }
    if (r->head.minor_version == 1)
        bsn_buf_printf(&c->out, "%zx\r\n", len);
    bsn_buf_append(&c->out, data, len);
    if (r->head.minor_version == 1)
        bsn_buf_puts(&c->out, "\r\n");
    /* Coalesce: chunks written during this loop iteration go out together, but a large
     * burst (an initial watch list) is written as it grows so the kernel absorbs it. */
    if (bsn_srv_out_pending(c) >= OUT_SOFT_LIMIT) {
        bsn_srv_conn_ref(c);
        bsn_srv_conn_flush(c);
        bsn_srv_conn_update(c);
        bool gone = c->closed;
        bsn_srv_conn_unref(c);
        if (gone)
            return -1;
    }
    if (!c->flush_pending && bsn_srv_out_pending(c) > 0) {
        c->flush_pending = true;
        bsn_srv_conn_ref(c);
        bsn_loop_defer(c->srv->loop, flush_cb, c);
    }
    return 0;
}

size_t
bsn_http_stream_pending(const struct bsn_http_req *req)
{
    const struct req_full *r = (const struct req_full *)req;
    if (r->h2s)
        return bsn_h2_stream_pending(r);
    return r->conn ? bsn_srv_out_pending(r->conn) : 0;
}

void
bsn_http_stream_end(struct bsn_http_req *req)
{
    struct req_full *r = full(req);
    struct conn *c = r->conn;
    assert(r->streaming && !r->finished);
    if (!c) {
        bsn_srv_finish_req(r);
        return;
    }
    if (r->h2s) {
        bsn_h2_stream_end(r);
        return;
    }
    bsn_srv_conn_ref(c);
    bool keep = keep_alive(c, r);
    if (r->head.minor_version == 1)
        bsn_buf_puts(&c->out, "0\r\n\r\n");
    response_queued(c, r, keep);
    bsn_srv_conn_unref(c);
}

int
bsn_http_req_upgrade(struct bsn_http_req *req, int status, struct bsn_http_upgraded *out)
{
    struct req_full *r = full(req);
    struct conn *c = r->conn;
    assert(!r->finished && !r->streaming);
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (!c) {
        bsn_srv_finish_req(r);
        return -1;
    }
    if (r->h2s) {
        static const char msg[] = "protocol upgrades are not available over HTTP/2\n";
        bsn_http_respond(req, 501, "text/plain", msg, sizeof(msg) - 1);
        return -1;
    }
    bsn_srv_conn_ref(c);
    if (status) {
        char date[30];
        bsn_http_date(date);
        bsn_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
                       bsn_http_status_text(status), date);
        bsn_buf_append(&c->out, r->extra.data ? r->extra.data : "", r->extra.len);
        bsn_buf_puts(&c->out, "\r\n");
    }
    bsn_srv_conn_flush(c);
    bsn_srv_finish_req(r);
    int rc = -1;
    if (!c->closed) {
        out->fd = c->fd;
        out->ssl = c->ssl;
        out->in_len = c->in.len;
        out->in = c->in.len ? bsn_strndup(c->in.data, c->in.len) : NULL;
        out->out_len = bsn_srv_out_pending(c);
        out->out = out->out_len ? bsn_strndup(c->out.data + c->out_off, out->out_len) : NULL;
        bsn_loop_del_fd(c->srv->loop, c->fd);
        c->fd = -1;
        c->ssl = NULL;
        bsn_srv_conn_close(c);
        rc = 0;
    }
    bsn_srv_conn_unref(c);
    return rc;
}
