/*
 * h2upstream.c - the upstream side of gRPC pass-through: HTTP/2 cleartext client sessions
 * (h2c with prior knowledge, RFC 9113 section 3.3) to endpoints, one per endpoint per worker
 * thread carrying many streams (a new one when the current one got GOAWAY); one without
 * streams for GW_POOL_IDLE_MS is closed (GOAWAY) by the worker's sweep. Requests get
 * "te: trailers"; response headers, DATA and trailers go back through h2grpc.c. Windows open
 * only as the client takes the bytes (automatic window updates off). A connection that fails
 * or closes fails its streams: 14 UNAVAILABLE before the response started, else trailers
 * with 14 appended by h2grpc.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_grpc.h"

#define UP_WINDOW     (1 << 20)
#define UP_CONNWIN    (16 << 20)
#define UP_CONNECT_MS 5000 /* connect timeout (Envoy's default); the calls then get 14 */

struct gw_h2up {
    struct gw_worker *w;
    struct gw_h2up *next;
    int fd;
    uint32_t host_id;
    nghttp2_session *s;
    struct gw_gcall *calls;
    struct bsn_buf out;
    size_t out_off;
    bool connected, goaway, dead;
    bool dirty;             /* frames may be queued: flush at the next kick */
    unsigned ev;            /* events registered with the loop */
    uint64_t idle_since;    /* loop ms when its last stream closed (or it opened) */
    struct bsn_timer timer; /* connect timeout */
};

static void up_close(struct gw_h2up *u);

static void
up_mark(struct gw_h2up *u)
{
    if (u && !u->dead) {
        u->dirty = true;
        gw_grpc_kick(u->w);
    }
}

static void
up_unlink_call(struct gw_h2up *u, struct gw_gcall *call)
{
    for (struct gw_gcall **pp = &u->calls; *pp; pp = &(*pp)->unext)
        if (*pp == call) {
            *pp = call->unext;
            return;
        }
}

/* Ends the upstream side of a call (stream closed or connection gone). */
static void
call_detach(struct gw_h2up *u, struct gw_gcall *call, bool unlink)
{
    if (unlink)
        up_unlink_call(u, call);
    if (!u->calls)
        u->idle_since = bsn_loop_now(u->w->loop);
    call->u = NULL;
    call->u_closed = true;
    gw_grpc_call_upstream_closed(call);
}

/* --- callbacks --- */

static int
on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct gw_gcall *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!call)
        return 0;
    bool trailers = frame->headers.cat != NGHTTP2_HCAT_RESPONSE;
    struct bsn_buf *b = trailers ? &call->trl : &call->resph;
    size_t *n = trailers ? &call->ntrl : &call->nresph;
    if (b->len + namelen + valuelen > 65536)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        call->status = atoi((const char *)value);
        return 0;
    }
    if (namelen && name[0] == ':')
        return 0;
    static const char *const hop[] = {"connection", "keep-alive", "transfer-encoding", "upgrade",
                                      "proxy-connection"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(hop); i++)
        if (namelen == strlen(hop[i]) && memcmp(name, hop[i], namelen) == 0)
            return 0;
    bsn_buf_append(b, name, namelen);
    bsn_buf_putc(b, 0);
    bsn_buf_append(b, value, valuelen);
    bsn_buf_putc(b, 0);
    (*n)++;
    return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct gw_h2up *u = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        u->goaway = true;
        return 0;
    }
    struct gw_gcall *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!call)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
        if (call->status >= 100 && call->status < 200) {
            bsn_buf_reset(&call->resph); /* interim response */
            call->nresph = 0;
            return 0;
        }
        call->resp_end = end;
        gw_grpc_front_respond(call);
    } else if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && end) {
        call->resp_end = true;
        gw_grpc_front_resume(call);
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
    if (!call || call->f_closed) {
        nghttp2_session_consume(s, id, len);
        return 0;
    }
    bsn_buf_append(&call->resp, data, len);
    gw_grpc_front_resume(call);
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
    (void)error_code;
    struct gw_h2up *u = ud;
    struct gw_gcall *call = nghttp2_session_get_stream_user_data(s, id);
    if (call) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        call_detach(u, call, true);
    }
    return 0;
}

static ssize_t
req_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
            nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)ud;
    struct gw_gcall *call = src->ptr;
    size_t avail = call->req.len - call->req_off;
    size_t n = BSN_MIN(avail, length);
    if (n) {
        memcpy(buf, call->req.data + call->req_off, n);
        call->req_off += n;
        gw_grpc_front_consumed(call, n);
    }
    if (call->req_off == call->req.len) {
        bsn_buf_reset(&call->req);
        call->req_off = 0;
        if (call->req_end || call->f_closed) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        } else if (n == 0) {
            call->req_deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

/* --- I/O --- */

static void
up_flush(struct gw_h2up *u)
{
    if (u->dead || !u->connected)
        return;
    for (;;) {
        while (u->out.len > u->out_off) {
            ssize_t n =
                send(u->fd, u->out.data + u->out_off, u->out.len - u->out_off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            if (n < 0) {
                up_close(u);
                return;
            }
            u->out_off += (size_t)n;
        }
        if (u->out.len > u->out_off)
            break;
        bsn_buf_reset(&u->out);
        u->out_off = 0;
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(u->s, &data);
        if (n < 0) {
            up_close(u);
            return;
        }
        if (n == 0)
            break;
        bsn_buf_append(&u->out, data, (size_t)n);
    }
    if (gw_h2_rearm(u->w->loop, u->fd, &u->ev, u->s, u->out.len > u->out_off) < 0)
        up_close(u);
}

static void
up_io(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    (void)loop;
    struct gw_h2up *u = data;
    if (!u->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            up_close(u);
            return;
        }
        if (!(ev & (BSN_EV_WRITE | BSN_EV_READ)))
            return;
        u->connected = true;
        bsn_timer_stop(u->w->loop, &u->timer);
    }
    uint8_t buf[16384];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0 || nghttp2_session_mem_recv(u->s, buf, (size_t)n) < 0) {
            up_close(u);
            return;
        }
    }
    up_flush(u); /* client sessions with new frames were marked by the callbacks */
}

/* Fails the connection's calls and marks it for freeing (by gw_h2up_flush_all). */
static void
up_close(struct gw_h2up *u)
{
    if (u->dead)
        return;
    u->dead = true;
    bsn_timer_stop(u->w->loop, &u->timer);
    bsn_loop_del_fd(u->w->loop, u->fd);
    while (u->calls) {
        struct gw_gcall *call = u->calls;
        u->calls = call->unext;
        nghttp2_session_set_stream_user_data(u->s, call->uid, NULL);
        call_detach(u, call, false);
    }
    gw_grpc_state(u->w)->dead = true;
    gw_grpc_kick(u->w); /* the kick frees it */
}

static void
up_connect_timeout(struct bsn_loop *loop, void *data)
{
    (void)loop;
    struct gw_h2up *u = data;
    bsn_warn("gateway", "h2c upstream: connect timeout");
    up_close(u); /* the kick it schedules frees u */
}

static void
up_free(struct gw_h2up *u)
{
    nghttp2_session_del(u->s);
    close(u->fd);
    bsn_buf_fini(&u->out);
    free(u);
}

static struct gw_h2up *
up_open(struct gw_worker *w, const struct sockaddr_storage *sa, socklen_t salen, uint32_t host_id)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, (const struct sockaddr *)sa, salen);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    struct gw_h2up *u = bsn_calloc(1, sizeof(*u));
    u->w = w;
    u->fd = fd;
    u->host_id = host_id;
    u->connected = rc == 0;
    u->idle_since = bsn_loop_now(w->loop);
    bsn_buf_init(&u->out);
    bsn_timer_init(&u->timer);
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    rc = nghttp2_session_client_new2(&u->s, cbs, u, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        close(fd);
        bsn_buf_fini(&u->out);
        free(u);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, UP_WINDOW}};
    nghttp2_submit_settings(u->s, NGHTTP2_FLAG_NONE, iv, BSN_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(u->s, NGHTTP2_FLAG_NONE, 0, UP_CONNWIN);
    u->ev = BSN_EV_READ | BSN_EV_WRITE;
    if (bsn_loop_add_fd(w->loop, fd, BSN_EV_READ | BSN_EV_WRITE, up_io, u) < 0) {
        up_free(u);
        return NULL;
    }
    struct gw_grpc *g = gw_grpc_state(w);
    u->next = g->ups;
    g->ups = u;
    if (!u->connected)
        bsn_timer_start(w->loop, &u->timer, UP_CONNECT_MS, up_connect_timeout, u);
    return u;
}

int
gw_h2up_start(struct gw_worker *w, struct gw_gcall *call, const struct sockaddr_storage *sa,
              socklen_t salen, uint32_t host_id)
{
    struct gw_grpc *g = gw_grpc_state(w);
    struct gw_h2up *u = NULL;
    for (u = g->ups; u; u = u->next)
        if (u->host_id == host_id && !u->dead && !u->goaway)
            break;
    if (!u)
        u = up_open(w, sa, salen, host_id);
    if (!u) {
        call->up_failed = true;
        gw_grpc_front_fail(call, 14, "upstream connect error");
        return -1;
    }
    size_t max = call->nreqh + 5;
    nghttp2_nv *nv = bsn_calloc(max, sizeof(*nv));
    size_t n = 0;
#define NV(nm, val)                                                                    \
    nv[n++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(val), strlen(nm), strlen(val), \
                           NGHTTP2_NV_FLAG_NONE}
    NV(":method", call->method);
    NV(":scheme", "http");
    NV(":path", call->path);
    NV(":authority", call->authority);
    NV("te", "trailers");
#undef NV
    const char *p = call->reqh.data;
    for (size_t i = 0; i < call->nreqh; i++) {
        size_t nl = strlen(p);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        nv[n++] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
        p = v + vl + 1;
    }
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = req_read_cb};
    bool no_body = call->req_end && call->req.len == call->req_off;
    int32_t id = nghttp2_submit_request(u->s, NULL, nv, n, no_body ? NULL : &prd, call);
    free(nv);
    if (id < 0) {
        call->up_failed = true;
        gw_grpc_front_fail(call, 14, "upstream stream error");
        return -1;
    }
    call->uid = id;
    call->u = u;
    call->u_closed = false;
    call->unext = u->calls;
    u->calls = call;
    up_mark(u);
    return 0;
}

void
gw_h2up_resume(struct gw_gcall *call)
{
    if (call->u && call->req_deferred) {
        call->req_deferred = false;
        nghttp2_session_resume_data(call->u->s, call->uid);
    }
    up_mark(call->u);
}

void
gw_h2up_cancel(struct gw_gcall *call)
{
    if (call->u) {
        nghttp2_submit_rst_stream(call->u->s, NGHTTP2_FLAG_NONE, call->uid, NGHTTP2_CANCEL);
        up_mark(call->u);
    }
}

void
gw_h2up_consumed(struct gw_gcall *call, size_t n)
{
    if (call->u) {
        nghttp2_session_consume(call->u->s, call->uid, n);
        up_mark(call->u);
    }
}

void
gw_h2up_flush_all(struct gw_worker *w)
{
    for (struct gw_h2up *u = w->grpc->ups; u; u = u->next)
        if (u->dirty) {
            u->dirty = false;
            up_flush(u);
        }
}

void
gw_h2up_free_dead(struct gw_worker *w)
{
    struct gw_grpc *g = w->grpc;
    for (struct gw_h2up **pp = &g->ups; *pp;) {
        struct gw_h2up *u = *pp;
        if (u->dead) {
            *pp = u->next;
            up_free(u);
        } else {
            pp = &u->next;
        }
    }
}

void
gw_h2up_sweep(struct gw_worker *w)
{
    struct gw_grpc *g = w->grpc;
    if (!g)
        return;
    uint64_t now = bsn_loop_now(w->loop);
    for (struct gw_h2up *u = g->ups; u; u = u->next)
        if (!u->dead && !u->calls && now - u->idle_since > GW_POOL_IDLE_MS) {
            u->goaway = true; /* no new streams; GOAWAY sent, then closed by up_flush */
            nghttp2_session_terminate_session(u->s, NGHTTP2_NO_ERROR);
            up_mark(u);
        }
}

void
gw_h2up_fini(struct gw_worker *w)
{
    struct gw_grpc *g = w->grpc;
    while (g->ups) {
        struct gw_h2up *u = g->ups;
        g->ups = u->next;
        up_close(u);
        up_free(u);
    }
}
