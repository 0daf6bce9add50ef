/*
 * grpc.c - gRPC health checks for `grpc` probes (see grpc.h): message framing and one
 * Health/Check call over h2c with nghttp2 on the loop (a non-blocking socket, a client session,
 * one stream; the response DATA is capped at BSN_GRPC_RESPONSE_MAX).
 *
 * nghttp2 rule (as in http/h2.c): nothing sends or frees the session from inside
 * nghttp2_session_mem_recv() callbacks; they only record what arrived.
 */
#include "agent/grpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"

#define GRPC_PATH "/grpc.health.v1.Health/Check"

/* ---------------------------------------------------------------- framing */

size_t
bsn_grpc_health_request(const char *service, uint8_t *out, size_t cap)
{
    size_t sl = service ? strlen(service) : 0;
    if (sl > BSN_GRPC_SERVICE_MAX)
        return 0;
    uint8_t pb[BSN_GRPC_SERVICE_MAX + 8];
    size_t n = 0;
    if (sl) {
        pb[n++] = 0x0a; /* field 1, length-delimited */
        size_t v = sl;
        while (v >= 0x80) {
            pb[n++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        pb[n++] = (uint8_t)v;
        memcpy(pb + n, service, sl);
        n += sl;
    }
    if (cap < n + 5)
        return 0;
    out[0] = 0; /* not compressed */
    out[1] = (uint8_t)(n >> 24);
    out[2] = (uint8_t)(n >> 16);
    out[3] = (uint8_t)(n >> 8);
    out[4] = (uint8_t)n;
    memcpy(out + 5, pb, n);
    return n + 5;
}

/* Reads a varint at *pos; -1 if truncated or longer than 10 bytes. */
static int
varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t b = p[(*pos)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

int
bsn_grpc_parse_health_response(const uint8_t *data, size_t len, int *status)
{
    if (len < 5)
        return 1;
    if (data[0] != 0)
        return -1; /* compressed: we never asked for it */
    uint32_t n = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
                 (uint32_t)data[4];
    if (len - 5 < n)
        return 1;
    if (len - 5 > n)
        return -1; /* a unary call answers one message */
    const uint8_t *pb = data + 5;
    size_t pos = 0;
    *status = BSN_GRPC_UNKNOWN; /* proto3: absent means the default */
    while (pos < n) {
        uint64_t key, v;
        if (varint(pb, n, &pos, &key) < 0)
            return -1;
        unsigned field = (unsigned)(key >> 3), wt = (unsigned)(key & 7);
        switch (wt) {
        case 0:
            if (varint(pb, n, &pos, &v) < 0)
                return -1;
            if (field == 1)
                *status = v > 0x7fffffff ? -1 : (int)v;
            break;
        case 1:
            if (n - pos < 8)
                return -1;
            pos += 8;
            break;
        case 2:
            if (varint(pb, n, &pos, &v) < 0 || v > n - pos)
                return -1;
            pos += (size_t)v;
            break;
        case 5:
            if (n - pos < 4)
                return -1;
            pos += 4;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

const char *
bsn_grpc_status_name(int status)
{
    switch (status) {
    case BSN_GRPC_SERVING:
        return "SERVING";
    case BSN_GRPC_NOT_SERVING:
        return "NOT_SERVING";
    case BSN_GRPC_SERVICE_UNKNOWN:
        return "SERVICE_UNKNOWN";
    default:
        return "UNKNOWN";
    }
}

static const char *
code_name(int code)
{
    static const char *const names[] = {
        "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated"};
    return code >= 0 && code < (int)BSN_ARRAY_LEN(names) ? names[code] : "Unknown";
}

/* ---------------------------------------------------------------- the call */

#if __has_include(<nghttp2/nghttp2.h>)
#include <nghttp2/nghttp2.h>

struct bsn_grpc_check {
    struct bsn_loop *loop;
    int fd;
    nghttp2_session *s;
    int32_t sid;
    uint8_t req[BSN_GRPC_SERVICE_MAX + 16];
    size_t req_len, req_off;
    struct bsn_buf out;
    uint8_t resp[BSN_GRPC_RESPONSE_MAX];
    size_t resp_len;
    bool resp_overflow, connected, stream_closed;
    int http_status, grpc_status;
    char grpc_msg[256];
    char target[300];
    unsigned timeout_ms;
    struct bsn_timer deadline;
    bsn_grpc_done_fn done;
    void *data;
};

static void go_duration(unsigned ms, char *out, size_t n);

static void
teardown(struct bsn_grpc_check *c)
{
    bsn_timer_stop(c->loop, &c->deadline);
    if (c->fd >= 0) {
        bsn_loop_del_fd(c->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    if (c->s)
        nghttp2_session_del(c->s);
    c->s = NULL;
    bsn_buf_fini(&c->out);
}

static void
complete(struct bsn_grpc_check *c, int ok, const char *msg)
{
    teardown(c);
    bsn_grpc_done_fn done = c->done;
    void *data = c->data;
    free(c);
    done(ok, msg, data);
}

static void
fail_rpc(struct bsn_grpc_check *c, const char *fmt, const char *arg)
{
    char m[600], m2[700];
    snprintf(m, sizeof(m), fmt, arg);
    snprintf(m2, sizeof(m2), "error: health rpc probe failed: %s", m);
    complete(c, 0, m2);
}

static void
evaluate(struct bsn_grpc_check *c)
{
    char m[600];
    if (c->http_status != 200) {
        snprintf(m, sizeof(m), "rpc error: code = Unknown desc = unexpected HTTP status code %d",
                 c->http_status);
        fail_rpc(c, "%s", m);
        return;
    }
    if (c->grpc_status != 0) {
        snprintf(m, sizeof(m), "rpc error: code = %s desc = %s",
                 c->grpc_status < 0 ? "Internal" : code_name(c->grpc_status),
                 c->grpc_status < 0 ? "server closed the stream without sending trailers"
                                    : c->grpc_msg);
        fail_rpc(c, "%s", m);
        return;
    }
    int st;
    if (c->resp_overflow || bsn_grpc_parse_health_response(c->resp, c->resp_len, &st) != 0) {
        fail_rpc(c, "%s", "rpc error: code = Internal desc = malformed HealthCheckResponse");
        return;
    }
    if (st != BSN_GRPC_SERVING) {
        snprintf(m, sizeof(m), "service unhealthy (responded with \"%s\")",
                 bsn_grpc_status_name(st));
        complete(c, 0, m);
        return;
    }
    complete(c, 1, "");
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct bsn_grpc_check *c = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != c->sid)
        return 0;
    if (namelen == 7 && !memcmp(name, ":status", 7))
        c->http_status = atoi((const char *)value);
    else if (namelen == 11 && !memcmp(name, "grpc-status", 11))
        c->grpc_status = atoi((const char *)value);
    else if (namelen == 12 && !memcmp(name, "grpc-message", 12))
        snprintf(c->grpc_msg, sizeof(c->grpc_msg), "%.*s", (int)valuelen, value);
    return 0;
}

static int
on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud)
{
    struct bsn_grpc_check *c = ud;
    if (sid != c->sid)
        return 0;
    if (len > sizeof(c->resp) - c->resp_len) {
        c->resp_overflow = true;
        return 0;
    }
    memcpy(c->resp + c->resp_len, data, len);
    c->resp_len += len;
    return 0;
}

static int
on_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *ud)
{
    struct bsn_grpc_check *c = ud;
    if (sid == c->sid)
        c->stream_closed = true;
    return 0;
}

static ssize_t
read_req(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
         nghttp2_data_source *src, void *ud)
{
    struct bsn_grpc_check *c = ud;
    size_t n = BSN_MIN(len, c->req_len - c->req_off);
    memcpy(buf, c->req + c->req_off, n);
    c->req_off += n;
    if (c->req_off == c->req_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Moves what nghttp2 wants to send to the socket. -1 on a write error. */
static int
flush(struct bsn_grpc_check *c)
{
    while (nghttp2_session_want_write(c->s)) {
        const uint8_t *d;
        ssize_t n = nghttp2_session_mem_send(c->s, &d);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        bsn_buf_append(&c->out, d, (size_t)n);
    }
    while (c->out.len) {
        ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (w <= 0)
            return -1;
        bsn_buf_consume(&c->out, (size_t)w);
    }
    bsn_loop_mod_fd(c->loop, c->fd, BSN_EV_READ | (c->out.len ? BSN_EV_WRITE : 0));
    return 0;
}

#define NV(n, v)                                                                       \
    {                                                                                  \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE \
    }

static int
start_session(struct bsn_grpc_check *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    int rv = nghttp2_session_client_new(&c->s, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return -1;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, BSN_ARRAY_LEN(iv));
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%um", c->timeout_ms);
    nghttp2_nv hdrs[] = {
        NV(":method", "POST"),
        NV(":scheme", "http"),
        NV(":path", GRPC_PATH),
        NV(":authority", c->target),
        NV("content-type", "application/grpc"),
        NV("te", "trailers"),
        NV("grpc-timeout", timeout),
        NV("user-agent", "kube-probe/1.32"),
    };
    nghttp2_data_provider prd = {.read_callback = read_req};
    c->sid = nghttp2_submit_request(c->s, NULL, hdrs, BSN_ARRAY_LEN(hdrs), &prd, c);
    return c->sid < 0 ? -1 : 0;
}

static void
io_cb(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct bsn_grpc_check *c = data;
    char m[600];
    if (!c->connected) {
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e) {
            char d[32];
            go_duration(c->timeout_ms, d, sizeof(d));
            snprintf(m, sizeof(m), "failed to connect service \"%s\" within %s: %s", c->target, d,
                     strerror(e));
            complete(c, 0, m);
            return;
        }
        c->connected = true;
        if (start_session(c) < 0 || flush(c) < 0) {
            fail_rpc(c, "%s", "cannot start the HTTP/2 session");
            return;
        }
        return;
    }
    if (events & BSN_EV_READ || events & BSN_EV_ERROR) {
        uint8_t buf[16384];
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            fail_rpc(c, "%s", "rpc error: code = Unavailable desc = connection closed");
            return;
        }
        if (nghttp2_session_mem_recv(c->s, buf, (size_t)r) < 0) {
            fail_rpc(c, "%s", "rpc error: code = Internal desc = HTTP/2 protocol error");
            return;
        }
        if (c->stream_closed) {
            evaluate(c);
            return;
        }
    }
    if (flush(c) < 0) {
        fail_rpc(c, "%s", "rpc error: code = Unavailable desc = connection reset");
        return;
    }
    /* a connection error (GOAWAY sent or received) ends the session without closing the
     * stream: nothing more will come */
    if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s))
        fail_rpc(c, "%s",
                 "rpc error: code = Unavailable desc = the connection was closed by "
                 "an HTTP/2 protocol error");
}

/* A duration as Go prints it for whole seconds or milliseconds ("1s", "250ms"). */
static void
go_duration(unsigned ms, char *out, size_t n)
{
    if (ms % 1000 == 0)
        snprintf(out, n, "%us", ms / 1000);
    else
        snprintf(out, n, "%ums", ms);
}

static void
deadline_cb(struct bsn_loop *loop, void *data)
{
    struct bsn_grpc_check *c = data;
    char m[400], d[32];
    go_duration(c->timeout_ms, d, sizeof(d));
    if (!c->connected)
        snprintf(m, sizeof(m),
                 "failed to connect service \"%s\" within %s: context deadline exceeded", c->target,
                 d);
    else
        snprintf(m, sizeof(m), "timeout: health rpc did not complete within %s", d);
    complete(c, 0, m);
}

struct bsn_grpc_check *
bsn_grpc_check(struct bsn_loop *loop, const char *host, int port, const char *service,
               unsigned timeout_ms, bsn_grpc_done_fn done, void *data)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return NULL;
    struct bsn_grpc_check *c = bsn_calloc(1, sizeof(*c));
    c->req_len = bsn_grpc_health_request(service, c->req, sizeof(c->req));
    if (!c->req_len) {
        free(c);
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        free(c);
        return NULL;
    }
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
        close(fd);
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->fd = fd;
    c->grpc_status = -1;
    c->timeout_ms = timeout_ms ? timeout_ms : 1000;
    snprintf(c->target, sizeof(c->target), "%s:%d", host, port);
    c->done = done;
    c->data = data;
    bsn_buf_init(&c->out);
    bsn_timer_init(&c->deadline);
    bsn_loop_add_fd(loop, fd, BSN_EV_WRITE, io_cb, c);
    bsn_timer_start(loop, &c->deadline, c->timeout_ms, deadline_cb, c);
    return c;
}

void
bsn_grpc_check_cancel(struct bsn_grpc_check *c)
{
    if (!c)
        return;
    teardown(c);
    free(c);
}

#else /* built without nghttp2: grpc probes cannot run */

struct bsn_grpc_check *
bsn_grpc_check(struct bsn_loop *loop, const char *host, int port, const char *service,
               unsigned timeout_ms, bsn_grpc_done_fn done, void *data)
{
    return NULL;
}

void
bsn_grpc_check_cancel(struct bsn_grpc_check *c)
{
}

#endif
