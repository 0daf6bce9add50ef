/*
 * exec_pf.c - pods/portforward (see exec.h): one WebSocket connection from the client carries
 * any number of TCP connections to the pod's ports.
 *
 * Two protocols:
 *   - "SPDY/3.1+portforward.k8s.io" (kubectl >= 1.31): the binary messages carry a SPDY/3.1
 *     byte stream (exec_spdy.h). Per forwarded connection kubectl opens an error stream and a
 *     data stream with headers streamType, port and requestID; we connect to the port, copy
 *     bytes both ways, and end both streams (FIN) when the pod side closes. A failed connect
 *     is reported as text on the error stream, which kubectl prints.
 *     Older kubectl upgrades to plain SPDY/3.1 ("portforward.k8s.io" in
 *     X-Stream-Protocol-Version): the same streams without the WebSocket around them.
 *   - "v4.channel.k8s.io" / "portforward.k8s.io" (the kubelet's channel protocol, for other
 *     clients): ports come from ?ports=; port i uses channel 2i for data and 2i+1 for errors,
 *     the first message on each carries the port (2 bytes, little-endian); one connection per
 *     port; the WebSocket closes when all of them ended.
 *
 * Where we connect: the oci runtime's pods have their own network namespace, so the socket is
 * created inside it (a short-lived thread setns()es into the namespace, creates the socket,
 * and exits; the socket stays in that namespace) and connects to 127.0.0.1:port; the process
 * runtime's pods share the host network and are reached at their pod IP.
 *
 * Bounds: at most PF_MAX_STREAMS connections per WebSocket; per connection at most 1 MiB
 * waiting for the pod (then the WebSocket is not read) and the pod is not read while more
 * than RC_OUT_HIGH bytes wait for the client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/exec_int.h"
#include "agent/exec_spdy.h"
#include "base/log.h"
#include "base/mem.h"
#include "runtime/runtime.h"

#define PF_MAX_STREAMS 128
#define PF_TO_POD_MAX  (1u << 20)
#define PF_READ_CHUNK  (32u << 10)

struct pf_sess;

struct pf_stream {
    struct pf_sess *s;
    struct pf_stream *next;
    char reqid[40];
    uint32_t data_sid, err_sid; /* SPDY streams (0 = not yet) */
    int chan;                   /* channel mode: port index */
    uint16_t port;
    int fd;
    bool connected, paused, watched;
    struct bsn_buf to_pod;
    bool client_fin;
    char *pending_err; /* error text waiting for the error stream */
};

struct pf_sess {
    struct rc_conn conn;
    struct bsn_agent *a;
    struct pf_sess *next;
    bool spdy;
    struct bsn_spdy sp;
    struct bsn_buf spin;
    char netns[256], ip[64], pod[254], uid[64];
    struct pf_stream *streams;
    size_t nstreams;
    bool freeing;
};

/* ---------------------------------------------------------------- the pod side */

struct netns_sock {
    const char *path;
    int fd, err;
};

static void *
netns_socket_thread(void *arg)
{
    struct netns_sock *ns = arg;
    int nfd = open(ns->path, O_RDONLY | O_CLOEXEC);
    if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) {
        ns->err = errno;
        if (nfd >= 0)
            close(nfd);
        return NULL;
    }
    close(nfd);
    ns->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ns->fd < 0)
        ns->err = errno;
    return NULL; /* the thread ends; its namespace change goes with it */
}

/* A non-blocking TCP socket connecting to the pod's port: 0 (connecting) or -errno. */
static int
pod_connect(struct pf_sess *s, uint16_t port, int *out)
{
    int fd;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (s->netns[0]) {
        struct netns_sock ns = {.path = s->netns, .fd = -1};
        pthread_t t;
        if (pthread_create(&t, NULL, netns_socket_thread, &ns) != 0)
            return -EAGAIN;
        pthread_join(t, NULL);
        if (ns.fd < 0)
            return -ns.err;
        fd = ns.fd;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        if (inet_pton(AF_INET, s->ip[0] ? s->ip : "127.0.0.1", &sa.sin_addr) != 1)
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out = fd;
    return 0;
}

/* ---------------------------------------------------------------- to the client */

static void
send_spdy(struct pf_sess *s, struct bsn_buf *frames)
{
    if (frames->len)
        rc_conn_send_raw(&s->conn, BSN_WS_BINARY, frames->data, frames->len);
    bsn_buf_reset(frames);
}

static void
send_data(struct pf_stream *st, const char *data, size_t len, bool fin)
{
    struct pf_sess *s = st->s;
    if (s->spdy) {
        if (!st->data_sid)
            return;
        struct bsn_buf f;
        bsn_buf_init(&f);
        bsn_spdy_data(&f, st->data_sid, data, len, fin);
        send_spdy(s, &f);
        bsn_buf_fini(&f);
    } else if (len) {
        rc_conn_send(&s->conn, 2 * st->chan, data, len);
    }
}

/* Error text for the client (the error stream, then its end). */
static void
send_error(struct pf_stream *st, const char *msg)
{
    struct pf_sess *s = st->s;
    if (!s->spdy) {
        rc_conn_send(&s->conn, 2 * st->chan + 1, msg, strlen(msg));
        return;
    }
    if (!st->err_sid) {
        free(st->pending_err);
        st->pending_err = bsn_strdup(msg);
        return;
    }
    struct bsn_buf f;
    bsn_buf_init(&f);
    bsn_spdy_data(&f, st->err_sid, msg, strlen(msg), false);
    send_spdy(s, &f);
    bsn_buf_fini(&f);
}

/* ---------------------------------------------------------------- streams */

static void pod_io(struct bsn_loop *loop, int fd, unsigned events, void *data);
static void sess_maybe_done(struct pf_sess *s);

static void
stream_watch(struct pf_stream *st)
{
    if (st->fd < 0)
        return;
    unsigned ev = 0;
    if (!st->connected || st->to_pod.len)
        ev |= BSN_EV_WRITE;
    if (st->connected && !st->paused)
        ev |= BSN_EV_READ;
    if (!st->watched) {
        bsn_loop_add_fd(st->s->a->loop, st->fd, ev, pod_io, st);
        st->watched = true;
    } else {
        bsn_loop_mod_fd(st->s->a->loop, st->fd, ev);
    }
}

/* Ends a forwarded connection: FIN on both streams (SPDY), the socket closed, unlinked. */
static void
stream_end(struct pf_stream *st, bool send_fins)
{
    struct pf_sess *s = st->s;
    if (send_fins && s->spdy && s->conn.fd >= 0) {
        struct bsn_buf f;
        bsn_buf_init(&f);
        if (st->data_sid)
            bsn_spdy_data(&f, st->data_sid, NULL, 0, true);
        if (st->err_sid)
            bsn_spdy_data(&f, st->err_sid, NULL, 0, true);
        send_spdy(s, &f);
        bsn_buf_fini(&f);
    }
    if (st->fd >= 0) {
        if (st->watched)
            bsn_loop_del_fd(s->a->loop, st->fd);
        close(st->fd);
        st->fd = -1;
    }
    struct pf_stream **pp = &s->streams;
    while (*pp && *pp != st)
        pp = &(*pp)->next;
    if (*pp)
        *pp = st->next;
    s->nstreams--;
    bsn_buf_fini(&st->to_pod);
    free(st->pending_err);
    free(st);
}

static void
stream_fail(struct pf_stream *st, int err)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "error forwarding port %u to pod %s, uid %s: connect %s:%u: %s",
             st->port, st->s->pod, st->s->uid, st->s->netns[0] ? "127.0.0.1" : st->s->ip, st->port,
             strerror(err));
    send_error(st, msg);
    if (st->s->spdy && !st->err_sid)
        return; /* told when the error stream arrives; the socket is gone already */
    stream_end(st, true);
}

static void
stream_flush(struct pf_stream *st)
{
    while (st->to_pod.len) {
        ssize_t n = write(st->fd, st->to_pod.data, st->to_pod.len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0) {
            bsn_buf_reset(&st->to_pod);
            break;
        }
        bsn_buf_consume(&st->to_pod, (size_t)n);
    }
    if (!st->to_pod.len && st->client_fin)
        shutdown(st->fd, SHUT_WR);
    if (st->to_pod.len < PF_TO_POD_MAX / 2 && st->s->conn.read_paused)
        rc_conn_resume(&st->s->conn);
}

static void
pod_io(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct pf_stream *st = data;
    struct pf_sess *s = st->s;
    BSN_UNUSED(loop);
    if (!st->connected) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            bsn_loop_del_fd(s->a->loop, fd);
            st->watched = false;
            close(fd);
            st->fd = -1;
            stream_fail(st, err);
            sess_maybe_done(s);
            return;
        }
        st->connected = true;
    }
    if (events & BSN_EV_WRITE)
        stream_flush(st);
    if ((events & (BSN_EV_READ | BSN_EV_ERROR)) && !st->paused) {
        char buf[PF_READ_CHUNK];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            /* nothing */
        } else if (n <= 0) {
            if (n < 0)
                send_error(st, strerror(errno));
            stream_end(st, true);
            rc_conn_flush(&s->conn);
            sess_maybe_done(s);
            return;
        } else {
            send_data(st, buf, (size_t)n, false);
            if (s->conn.out.len >= RC_OUT_HIGH)
                st->paused = true;
            if (rc_conn_flush(&s->conn) < 0)
                return;
        }
    }
    stream_watch(st);
}

static struct pf_stream *
stream_new(struct pf_sess *s, uint16_t port)
{
    struct pf_stream *st = bsn_calloc(1, sizeof(*st));
    st->s = s;
    st->port = port;
    st->fd = -1;
    bsn_buf_init(&st->to_pod);
    st->next = s->streams;
    s->streams = st;
    s->nstreams++;
    return st;
}

static void
stream_start(struct pf_stream *st)
{
    int rc = pod_connect(st->s, st->port, &st->fd);
    if (rc < 0) {
        st->fd = -1;
        stream_fail(st, -rc);
        return;
    }
    stream_watch(st);
}

static void
to_pod(struct pf_stream *st, const char *data, size_t len, bool fin)
{
    if (len)
        bsn_buf_append(&st->to_pod, data, len);
    if (fin)
        st->client_fin = true;
    if (st->to_pod.len >= PF_TO_POD_MAX)
        st->s->conn.read_paused = true;
    if (st->connected)
        stream_flush(st);
    stream_watch(st);
}

/* ---------------------------------------------------------------- SPDY callbacks */

static struct pf_stream *
by_sid(struct pf_sess *s, uint32_t sid)
{
    for (struct pf_stream *st = s->streams; st; st = st->next)
        if (st->data_sid == sid || st->err_sid == sid)
            return st;
    return NULL;
}

static void
sp_syn(void *ud, uint32_t sid, const struct bsn_spdy_header *h, size_t n, bool fin)
{
    struct pf_sess *s = ud;
    BSN_UNUSED(fin);
    const char *type = NULL, *port = NULL, *req = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(h[i].name, "streamtype"))
            type = h[i].value;
        else if (!strcmp(h[i].name, "port"))
            port = h[i].value;
        else if (!strcmp(h[i].name, "requestid"))
            req = h[i].value;
    }
    struct bsn_buf f;
    bsn_buf_init(&f);
    long p = port ? strtol(port, NULL, 10) : 0;
    bool data = type && !strcmp(type, "data");
    if (!type || (!data && strcmp(type, "error") != 0) || p < 1 || p > 65535) {
        bsn_spdy_rst(&f, sid, BSN_SPDY_PROTOCOL_ERROR);
        send_spdy(s, &f);
        bsn_buf_fini(&f);
        return;
    }
    struct pf_stream *st = NULL;
    for (st = s->streams; st; st = st->next)
        if (!strcmp(st->reqid, req ? req : ""))
            break;
    if (!st && s->nstreams >= PF_MAX_STREAMS) {
        bsn_spdy_rst(&f, sid, BSN_SPDY_REFUSED_STREAM);
        send_spdy(s, &f);
        bsn_buf_fini(&f);
        return;
    }
    bsn_spdy_syn_reply(&s->sp, &f, sid, false);
    send_spdy(s, &f);
    bsn_buf_fini(&f);
    if (!st) {
        st = stream_new(s, (uint16_t)p);
        snprintf(st->reqid, sizeof(st->reqid), "%s", req ? req : "");
    }
    if (data) {
        st->data_sid = sid;
        stream_start(st);
    } else {
        st->err_sid = sid;
        if (st->pending_err) {
            char *m = st->pending_err;
            st->pending_err = NULL;
            send_error(st, m);
            free(m);
            if (st->fd < 0 && st->data_sid)
                stream_end(st, true); /* the connect had failed already */
        }
    }
}

static void
sp_data(void *ud, uint32_t sid, const char *data, size_t len, bool fin)
{
    struct pf_sess *s = ud;
    struct pf_stream *st = by_sid(s, sid);
    if (st && sid == st->data_sid)
        to_pod(st, data, len, fin);
}

static void
sp_rst(void *ud, uint32_t sid, uint32_t status)
{
    struct pf_sess *s = ud;
    BSN_UNUSED(status);
    struct pf_stream *st = by_sid(s, sid);
    if (st) {
        /* kubectl resets the data stream and then waits for the error stream's end */
        if (st->err_sid && st->err_sid != sid) {
            struct bsn_buf f;
            bsn_buf_init(&f);
            bsn_spdy_data(&f, st->err_sid, NULL, 0, true);
            send_spdy(s, &f);
            bsn_buf_fini(&f);
        }
        stream_end(st, false);
    }
}

static void
sp_ping(void *ud, uint32_t id)
{
    struct pf_sess *s = ud;
    struct bsn_buf f;
    bsn_buf_init(&f);
    bsn_spdy_ping(&f, id);
    send_spdy(s, &f);
    bsn_buf_fini(&f);
}

static void
sp_goaway(void *ud)
{
    struct pf_sess *s = ud;
    rc_conn_finish(&s->conn, BSN_WS_CLOSE_NORMAL, "");
}

static const struct bsn_spdy_cbs spdy_cbs = {sp_syn, sp_data, sp_rst, sp_ping, sp_goaway};

/* ---------------------------------------------------------------- the WebSocket side */

static int
pf_msg(const struct bsn_rc_msg *m, void *ud)
{
    struct pf_sess *s = ud;
    switch (m->ev) {
    case BSN_RC_EV_PING:
        rc_conn_send_raw(&s->conn, BSN_WS_PONG, m->data, m->len);
        break;
    case BSN_RC_EV_CLOSE:
        rc_conn_finish(&s->conn, BSN_WS_CLOSE_NORMAL, "");
        return 1;
    case BSN_RC_EV_RAW:
        if (s->spin.len + m->len > BSN_SPDY_MAX_FRAME + RC_IN_MAX) {
            rc_conn_finish(&s->conn, BSN_WS_CLOSE_TOO_BIG, "SPDY frame too large");
            return 1;
        }
        bsn_buf_append(&s->spin, m->data, m->len);
        long used = bsn_spdy_parse(&s->sp, s->spin.data, s->spin.len);
        if (s->conn.fd < 0)
            return 1;
        if (used < 0) {
            bsn_warn("agent", "port-forward %s: %s", s->pod, s->sp.err);
            rc_conn_finish(&s->conn, BSN_WS_CLOSE_PROTOCOL, "SPDY protocol error");
            return 1;
        }
        bsn_buf_consume(&s->spin, (size_t)used);
        break;
    case BSN_RC_EV_DATA: {
        if (s->spdy || (m->channel & 1))
            break;
        for (struct pf_stream *st = s->streams; st; st = st->next)
            if (2 * st->chan == m->channel)
                to_pod(st, m->data, m->len, false);
        break;
    }
    default:
        break;
    }
    return s->conn.read_paused ? 1 : 0;
}

static void
pf_drain(void *ud)
{
    struct pf_sess *s = ud;
    for (struct pf_stream *st = s->streams; st; st = st->next)
        if (st->paused) {
            st->paused = false;
            stream_watch(st);
        }
}

static void
pf_free_cb(struct bsn_loop *loop, void *data)
{
    struct pf_sess *s = data;
    BSN_UNUSED(loop);
    bsn_spdy_fini(&s->sp);
    bsn_buf_fini(&s->spin);
    free(s);
}

static void
pf_release(struct pf_sess *s)
{
    struct pf_sess **pp = (struct pf_sess **)&s->a->forwards;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    while (s->streams)
        stream_end(s->streams, false);
    rc_conn_close(&s->conn);
}

static void
pf_gone(void *ud)
{
    struct pf_sess *s = ud;
    if (s->freeing)
        return;
    s->freeing = true;
    pf_release(s);
    bsn_loop_defer(s->a->loop, pf_free_cb, s);
}

/* Channel mode: the WebSocket ends once every port's connection has. */
static void
sess_maybe_done(struct pf_sess *s)
{
    if (!s->spdy && !s->streams && s->conn.fd >= 0)
        rc_conn_finish(&s->conn, BSN_WS_CLOSE_NORMAL, "");
}

static const struct rc_conn_ops pf_ops = {pf_msg, pf_drain, pf_gone};

static const char *const pf_protocols[] = {"SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io",
                                           "portforward.k8s.io", NULL};

void
rc_portforward(struct bsn_agent *a, struct bsn_http_req *req, struct agent_pod *p)
{
    struct bsn_rc_opts o;
    char why[256];
    if (bsn_rc_opts_parse(req->query, &o, why, sizeof(why)) < 0) {
        rc_reply_status(req, 400, "BadRequest", "%s", why);
        return;
    }
    bsn_rc_opts_fini(&o);
    struct bsn_sandbox_status sb;
    struct bsn_err err;
    bsn_err_clear(&err);
    if (!p->sandbox[0] || bsn_runtime_sandbox_status(a->rt, p->sandbox, &sb, &err) < 0) {
        rc_reply_status(req, 400, "BadRequest", "pod %s is not running", p->name);
        return;
    }
    const char *chosen = NULL;
    struct bsn_http_upgraded up;
    const char *v = bsn_http_req_header(req, "upgrade");
    bool ws = v && strcasestr(v, "websocket");
    static const char *const spdy_protocols[] = {"portforward.k8s.io", NULL};
    if ((ws ? bsn_ws_server_accept(req, pf_protocols, &chosen, &up)
            : rc_spdy_accept(req, spdy_protocols, &chosen, &up)) < 0)
        return;
    bool spdy = !ws || (chosen && !strcmp(chosen, pf_protocols[0]));
    struct pf_sess *s = bsn_calloc(1, sizeof(*s));
    s->a = a;
    s->spdy = spdy;
    snprintf(s->netns, sizeof(s->netns), "%s", sb.netns_path);
    snprintf(s->ip, sizeof(s->ip), "%s", p->ip[0] ? p->ip : sb.ip);
    snprintf(s->pod, sizeof(s->pod), "%s", p->name);
    snprintf(s->uid, sizeof(s->uid), "%s", p->uid);
    bsn_spdy_init(&s->sp, &spdy_cbs, s);
    bsn_buf_init(&s->spin);
    s->next = a->forwards;
    a->forwards = s;
    if (rc_conn_init(&s->conn, a->loop, &up, 4, spdy ? BSN_RC_MODE_RAW : BSN_RC_MODE_PORTS, &pf_ops,
                     s) < 0) {
        pf_gone(s);
        return;
    }
    s->conn.plain = !ws;
    if (!spdy) {
        if (!o.nports) {
            rc_conn_send(&s->conn, 1, "query parameter \"ports\" is required", 35);
            rc_conn_finish(&s->conn, BSN_WS_CLOSE_NORMAL, "");
            return;
        }
        for (size_t i = 0; i < o.nports; i++) {
            struct pf_stream *st = stream_new(s, o.ports[i]);
            st->chan = (int)i;
            unsigned char pb[2] = {(unsigned char)(o.ports[i] & 0xff),
                                   (unsigned char)(o.ports[i] >> 8)};
            rc_conn_send(&s->conn, (int)(2 * i), pb, 2);
            rc_conn_send(&s->conn, (int)(2 * i + 1), pb, 2);
        }
        for (struct pf_stream *st = s->streams, *nx; st; st = nx) {
            nx = st->next;
            stream_start(st);
        }
    }
    if (s->conn.fd >= 0)
        rc_conn_resume(&s->conn);
    if (s->conn.fd >= 0)
        rc_conn_flush(&s->conn);
}

void
rc_portforward_close_all(struct bsn_agent *a)
{
    while (a->forwards) {
        struct pf_sess *s = a->forwards;
        s->freeing = true;
        pf_release(s);
        pf_free_cb(a->loop, s);
    }
}
