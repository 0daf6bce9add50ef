/*
 * h2.c - HTTP/2 server connections (RFC 9113) with nghttp2, behind the same request API as
 * HTTP/1.1 (server.h).
 *
 * A TLS connection whose ALPN selected "h2" gets an nghttp2 server session. Each request
 * stream collects its pseudo-headers, header fields and DATA; at END_STREAM the head is
 * re-expressed as an HTTP/1.1 head and run through the strict parser (parser.h), so handlers
 * see exactly the same struct bsn_http_req. Responses are submitted with a data provider that
 * reads from a per-stream buffer: a complete body for bsn_http_respond(), a growing one for
 * streaming (the provider defers until more data or the end arrives). A stream reset or the
 * connection closing makes the request lose its connection (on_close fires), exactly like an
 * HTTP/1.1 disconnect. nghttp2 does flow control; our per-connection output buffer is capped.
 *
 * nghttp2 rule respected here: nothing calls nghttp2_session_mem_send() or frees the session
 * from inside nghttp2_session_mem_recv() callbacks (h2->in_recv).
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/io_int.h"
#include "http/server_int.h"

#define H2_MAX_STREAMS 250
#define H2_OUT_HIGH    (1u << 20) /* stop pulling frames from nghttp2 above this */

struct bsn_h2_stream {
    int32_t id;
    struct bsn_h2 *h2;
    struct bsn_h2_stream *prev, *next;
    char *method, *path, *authority;
    struct bsn_buf hdr; /* "name: value\r\n" lines */
    struct bsn_buf body;
    bool too_big, dispatched, bad;
    struct req_full *req; /* while the application owns the request */
    struct bsn_buf out;   /* response body bytes not yet handed to nghttp2 */
    size_t out_off;
    bool out_end, deferred;
};

struct bsn_h2 {
    struct conn *c;
    nghttp2_session *s;
    struct bsn_h2_stream *streams;
    size_t nstreams;
    bool in_recv;
    bool more; /* frames left in the session although the socket took everything */
};

static void
stream_free(struct bsn_h2_stream *st)
{
    free(st->method);
    free(st->path);
    free(st->authority);
    bsn_buf_fini(&st->hdr);
    bsn_buf_fini(&st->body);
    bsn_buf_fini(&st->out);
    free(st);
}

static void
stream_unlink(struct bsn_h2 *h2, struct bsn_h2_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        h2->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h2->nstreams--;
}

/*
 * Pulls frames from nghttp2 into c->out and writes them. May close the connection.
 *
 * Output is pulled up to H2_OUT_HIGH bytes at a time; when the socket takes all of it and
 * nghttp2 still has frames, a few more rounds follow, and after that h2->more asks the loop
 * for a writable event (bsn_h2_more) so that other connections get their turn. Without it a
 * large response stalls once the kernel absorbed everything we had pulled: no bytes pending
 * means no EPOLLOUT interest, and nothing else would call us again.
 */
static void
h2_send(struct conn *c)
{
    struct bsn_h2 *h2 = c->h2;
    if (!h2 || h2->in_recv || c->closed)
        return;
    bsn_srv_conn_ref(c);
    bool more = false;
    for (int round = 0; round < 4; round++) {
        more = false;
        for (;;) {
            if (bsn_srv_out_pending(c) >= H2_OUT_HIGH) {
                more = true;
                break;
            }
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(h2->s, &data);
            if (n < 0) {
                bsn_srv_conn_close(c);
                goto out;
            }
            if (n == 0)
                break;
            bsn_buf_append(&c->out, data, (size_t)n);
        }
        bsn_srv_conn_flush(c);
        if (c->closed)
            goto out;
        if (!more || bsn_srv_out_pending(c) > 0)
            break; /* all pulled, or the socket is full: EPOLLOUT resumes us */
    }
    h2->more = more && bsn_srv_out_pending(c) == 0;
    if (!nghttp2_session_want_read(h2->s) && !nghttp2_session_want_write(h2->s) &&
        bsn_srv_out_pending(c) == 0) {
        bsn_srv_conn_close(c); /* GOAWAY exchanged and everything written */
        goto out;
    }
    bsn_srv_conn_update(c);
out:
    bsn_srv_conn_unref(c);
}

/* Data provider: hands nghttp2 the stream's buffered body, deferring while it is empty. */
static ssize_t
read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
        nghttp2_data_source *src, void *ud)
{
    struct bsn_h2_stream *st = src->ptr;
    size_t avail = st->out.len - st->out_off;
    size_t n = avail < length ? avail : length;
    if (n)
        memcpy(buf, st->out.data + st->out_off, n);
    st->out_off += n;
    if (st->out_off == st->out.len) {
        bsn_buf_reset(&st->out);
        st->out_off = 0;
        if (st->out_end) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        } else if (n == 0) {
            st->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

static void
respond_simple(struct bsn_h2 *h2, struct bsn_h2_stream *st, int status)
{
    char code[8], len[24], date[30];
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, bsn_http_status_text(status));
    snprintf(code, sizeof(code), "%d", status);
    snprintf(len, sizeof(len), "%d", n);
    bsn_http_date(date);
    bsn_buf_append(&st->out, body, (size_t)n);
    st->out_end = true;
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)code, 7, strlen(code), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"date", (uint8_t *)date, 4, strlen(date), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/plain; charset=utf-8", 12, 25,
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)len, 14, strlen(len), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_cb};
    nghttp2_submit_response(h2->s, st->id, nv, BSN_ARRAY_LEN(nv), &prd);
}

static void
dispatch(struct bsn_h2 *h2, struct bsn_h2_stream *st)
{
    struct conn *c = h2->c;
    struct bsn_http_server *srv = c->srv;
    st->dispatched = true;
    if (st->bad || !st->method || !st->path || strcmp(st->method, "CONNECT") == 0) {
        respond_simple(h2, st, st->bad ? 400 : (st->method && st->path ? 501 : 400));
        return;
    }
    if (st->too_big) {
        respond_simple(h2, st, 413);
        return;
    }
    struct bsn_buf head;
    bsn_buf_init(&head);
    bsn_buf_printf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", st->method, st->path,
                   st->authority ? st->authority : "");
    if (st->hdr.len)
        bsn_buf_append(&head, st->hdr.data, st->hdr.len);
    bsn_buf_puts(&head, "\r\n");
    int status = 0;
    int rc = bsn_http_parse_request(head.data, head.len, &srv->scratch, &status);
    if (rc <= 0) {
        respond_simple(h2, st, rc == BSN_HTTP_INCOMPLETE ? 400 : status);
        bsn_buf_fini(&head);
        return;
    }
    struct req_full *r = bsn_srv_make_req(c, &srv->scratch, head.data, (size_t)rc);
    bsn_buf_fini(&head);
    r->h2s = st;
    st->req = r;
    r->head.keep_alive = true;
    bsn_buf_putc(&st->body, 0);
    st->body.len--;
    r->pub.body_len = st->body.len;
    r->pub.body = bsn_buf_take(&st->body);
    r->dispatched = true;
    srv->handler(&r->pub, srv->handler_data);
}

/* ---- nghttp2 callbacks ---- */

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct bsn_h2 *h2 = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct bsn_h2_stream *st = bsn_calloc(1, sizeof(*st));
    st->id = frame->hd.stream_id;
    st->h2 = h2;
    bsn_buf_init(&st->hdr);
    bsn_buf_init(&st->body);
    bsn_buf_init(&st->out);
    st->next = h2->streams;
    if (h2->streams)
        h2->streams->prev = st;
    h2->streams = st;
    h2->nstreams++;
    bsn_timer_stop(h2->c->srv->loop, &h2->c->timer);
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct bsn_h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!st || st->dispatched)
        return 0;
    const char *n = (const char *)name, *v = (const char *)value;
    if (namelen > 0 && n[0] == ':') {
        char **slot = NULL;
        if (namelen == 7 && memcmp(n, ":method", 7) == 0)
            slot = &st->method;
        else if (namelen == 5 && memcmp(n, ":path", 5) == 0)
            slot = &st->path;
        else if (namelen == 10 && memcmp(n, ":authority", 10) == 0)
            slot = &st->authority;
        if (slot) {
            free(*slot);
            *slot = bsn_strndup(v, valuelen);
        }
        return 0;
    }
    if (namelen == 4 && memcmp(n, "host", 4) == 0) {
        if (!st->authority)
            st->authority = bsn_strndup(v, valuelen);
        return 0;
    }
    if (st->hdr.len + namelen + valuelen + 4 > BSN_HTTP_MAX_HEAD) {
        st->bad = true;
        return 0;
    }
    bsn_buf_append(&st->hdr, n, namelen);
    bsn_buf_puts(&st->hdr, ": ");
    bsn_buf_append(&st->hdr, v, valuelen);
    bsn_buf_puts(&st->hdr, "\r\n");
    return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *ud)
{
    struct bsn_h2 *h2 = ud;
    struct bsn_h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || st->too_big || st->dispatched)
        return 0;
    if (st->body.len + len > h2->c->srv->max_body) {
        st->too_big = true;
        bsn_buf_fini(&st->body);
        return 0;
    }
    bsn_buf_append(&st->body, data, len);
    return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct bsn_h2 *h2 = ud;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct bsn_h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
        if (st && !st->dispatched)
            dispatch(h2, st);
    }
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
    struct bsn_h2 *h2 = ud;
    struct bsn_h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    stream_unlink(h2, st);
    struct req_full *r = st->req;
    if (r) {
        st->req = NULL;
        r->h2s = NULL;
        bsn_srv_req_conn_gone(h2->c->srv, r);
    }
    stream_free(st);
    if (h2->nstreams == 0 && !h2->c->closed)
        bsn_srv_arm_timer(h2->c, h2->c->srv->idle_timeout_ms);
    return 0;
}

/* ---- connection ---- */

int
bsn_h2_start(struct conn *c)
{
    struct bsn_h2 *h2 = bsn_calloc(1, sizeof(*h2));
    h2->c = c;
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, 65536);
    int rv = nghttp2_session_server_new2(&h2->s, cbs, h2, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        free(h2);
        return -1;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, BSN_HTTP_MAX_HEAD},
    };
    nghttp2_submit_settings(h2->s, NGHTTP2_FLAG_NONE, iv, BSN_ARRAY_LEN(iv));
    c->h2 = h2;
    c->st = C_HANDLING; /* the HTTP/1 state machine stays out of the way */
    bsn_srv_arm_timer(c, c->srv->idle_timeout_ms);
    return 0;
}

void
bsn_h2_io(struct conn *c)
{
    struct bsn_h2 *h2 = c->h2;
    if (c->in.len) {
        h2->in_recv = true;
        ssize_t rv = nghttp2_session_mem_recv(h2->s, (const uint8_t *)c->in.data, c->in.len);
        h2->in_recv = false;
        bsn_buf_reset(&c->in);
        if (rv < 0) {
            bsn_debug("http", "%s: HTTP/2 protocol error: %s", c->remote,
                      nghttp2_strerror((int)rv));
            /* nghttp2 queued a GOAWAY; try to send it, then close */
            h2_send(c);
            if (!c->closed)
                bsn_srv_conn_close(c);
            return;
        }
    }
    h2_send(c);
}

void
bsn_h2_send(struct conn *c)
{
    h2_send(c);
}

void
bsn_h2_conn_closed(struct conn *c)
{
    struct bsn_h2 *h2 = c->h2;
    c->h2 = NULL;
    while (h2->streams) {
        struct bsn_h2_stream *st = h2->streams;
        stream_unlink(h2, st);
        if (st->req) {
            st->req->h2s = NULL;
            bsn_srv_req_conn_gone(c->srv, st->req);
        }
        stream_free(st);
    }
    nghttp2_session_del(h2->s);
    free(h2);
}

bool
bsn_h2_more(const struct conn *c)
{
    return c->h2 && c->h2->more;
}

bool
bsn_h2_idle(const struct conn *c)
{
    return c->h2 && c->h2->nstreams == 0;
}

void
bsn_h2_drain(struct conn *c)
{
    struct bsn_h2 *h2 = c->h2;
    nghttp2_submit_goaway(h2->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h2->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    h2_send(c);
}

/* ---- responses ---- */

/* Builds response headers; extra lines come from bsn_http_req_add_header (lowercased). */
static size_t
build_nv(struct req_full *r, nghttp2_nv *nv, size_t max, char *code, const char *ctype,
         const char *clen, char *date, struct bsn_buf *names)
{
    size_t n = 0;
#define NV(nm, nml, v)                                                                \
    do {                                                                              \
        if (n < max)                                                                  \
            nv[n++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(v), (nml), strlen(v), \
                                   NGHTTP2_NV_FLAG_NONE};                             \
    } while (0)
    NV(":status", 7, code);
    NV("date", 4, date);
    if (ctype)
        NV("content-type", 12, ctype);
    if (clen)
        NV("content-length", 14, clen);
    /* r->extra is "Name: value\r\n" lines; lowercase a copy of it in place for h2 */
    bsn_buf_reset(names);
    if (r->extra.len)
        bsn_buf_append(names, r->extra.data, r->extra.len);
    char *p = names->data, *e = names->data ? names->data + names->len : NULL;
    while (p && p < e) {
        char *colon = memchr(p, ':', (size_t)(e - p));
        char *eol = colon ? memchr(colon, '\r', (size_t)(e - colon)) : NULL;
        if (!colon || !eol)
            break;
        for (char *q = p; q < colon; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q + 32);
        *colon = 0;
        *eol = 0;
        const char *val = colon + 2;
        size_t nl = (size_t)(colon - p);
        /* connection-specific fields are not allowed in HTTP/2 */
        if (!(nl == 10 && !memcmp(p, "connection", 10)) && !(nl == 7 && !memcmp(p, "upgrade", 7)) &&
            !(nl == 10 && !memcmp(p, "keep-alive", 10)) &&
            !(nl == 17 && !memcmp(p, "transfer-encoding", 17)) && n < max)
            nv[n++] =
                (nghttp2_nv){(uint8_t *)p, (uint8_t *)val, nl, strlen(val), NGHTTP2_NV_FLAG_NONE};
        p = eol + 2;
    }
#undef NV
    return n;
}

static void
submit(struct req_full *r, int status, const char *ctype, int64_t clen, bool with_data)
{
    struct bsn_h2_stream *st = r->h2s;
    struct bsn_h2 *h2 = st->h2;
    char code[8], date[30], lenbuf[24];
    snprintf(code, sizeof(code), "%d", status);
    bsn_http_date(date);
    if (clen >= 0)
        snprintf(lenbuf, sizeof(lenbuf), "%lld", (long long)clen);
    nghttp2_nv nv[64];
    struct bsn_buf names;
    bsn_buf_init(&names);
    size_t n =
        build_nv(r, nv, BSN_ARRAY_LEN(nv), code, ctype, clen >= 0 ? lenbuf : NULL, date, &names);
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_cb};
    nghttp2_submit_response(h2->s, st->id, nv, n, with_data ? &prd : NULL);
    bsn_buf_fini(&names);
}

void
bsn_h2_respond(struct req_full *r, int status, const char *ctype, const void *body, size_t len)
{
    struct bsn_h2_stream *st = r->h2s;
    struct conn *c = r->conn;
    bool no_body = status == 204 || status == 304;
    bool send_body = !no_body && !r->pub.head_only && len > 0;
    if (send_body)
        bsn_buf_append(&st->out, body, len);
    st->out_end = true;
    submit(r, status, no_body ? NULL : ctype, no_body ? -1 : (int64_t)len, send_body);
    st->req = NULL;
    r->h2s = NULL;
    bsn_srv_finish_req(r);
    h2_send(c);
}

int
bsn_h2_stream_start(struct req_full *r, int status, const char *ctype)
{
    submit(r, status, ctype, -1, true);
    h2_send(r->conn);
    return r->conn ? 0 : -1;
}

int
bsn_h2_stream_write(struct req_full *r, const void *data, size_t len)
{
    struct bsn_h2_stream *st = r->h2s;
    struct conn *c = r->conn;
    size_t pending = st->out.len - st->out_off;
    if (!c->flush_pending && pending + len > c->srv->max_stream_buffer) {
        bsn_warn("http", "%s: resetting slow HTTP/2 stream %d", c->remote, (int)st->id);
        nghttp2_submit_rst_stream(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
        h2_send(c); /* on_stream_close marks the request dead; on_close is deferred */
        return -1;
    }
    bsn_buf_append(&st->out, data, len);
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->h2->s, st->id);
    }
    return 0; /* the caller (server.c) schedules the coalesced send */
}

void
bsn_h2_stream_end(struct req_full *r)
{
    struct bsn_h2_stream *st = r->h2s;
    struct conn *c = r->conn;
    st->out_end = true;
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->h2->s, st->id);
    }
    st->req = NULL;
    r->h2s = NULL;
    bsn_srv_finish_req(r);
    h2_send(c);
}

size_t
bsn_h2_stream_pending(const struct req_full *r)
{
    const struct bsn_h2_stream *st = r->h2s;
    return st ? st->out.len - st->out_off : 0;
}
