/*
 * mirror.c - request mirroring (HTTPRoute RequestMirror filter): a copy of each request is
 * sent to the mirror backend and its response is read and thrown away. Fire and forget: the
 * client never waits for the mirror, and a slow or failing mirror changes nothing for it.
 *
 * Only requests whose body is entirely in the gateway's buffer (no body, or a Content-Length
 * body that arrived with the head) are mirrored. Each worker keeps at most GW_MIRROR_MAX
 * mirrors in flight (more are skipped) and each gets GW_MIRROR_TIMEOUT_MS to finish.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"
#include "gateway/gw_conn.h"

#define GW_MIRROR_MAX        256
#define GW_MIRROR_TIMEOUT_MS 10000

struct gw_mirror {
    struct gw_worker *w;
    int fd;
    bool connected;
    char *out;
    size_t out_len, out_off;
    struct bsn_timer timer;
    struct gw_mirror *prev, *next; /* the worker's list, for shutdown */
};

static void
mirror_free(struct gw_mirror *m)
{
    bsn_timer_stop(m->w->loop, &m->timer);
    bsn_loop_del_fd(m->w->loop, m->fd);
    close(m->fd);
    m->w->mirrors--;
    if (m->prev)
        m->prev->next = m->next;
    else
        m->w->mirror_list = m->next;
    if (m->next)
        m->next->prev = m->prev;
    free(m->out);
    free(m);
}

static void
mirror_timeout(struct bsn_loop *loop, void *data)
{
    mirror_free(data);
}

static void
mirror_cb(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct gw_mirror *m = data;
    if (!m->connected && (ev & (BSN_EV_WRITE | BSN_EV_ERROR))) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            mirror_free(m);
            return;
        }
        m->connected = true;
    }
    if (m->out_off < m->out_len && (ev & BSN_EV_WRITE)) {
        ssize_t n = send(fd, m->out + m->out_off, m->out_len - m->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            mirror_free(m);
            return;
        }
        if (n > 0)
            m->out_off += (size_t)n;
        if (m->out_off == m->out_len)
            bsn_loop_mod_fd(loop, fd, BSN_EV_READ);
        return;
    }
    if (ev & (BSN_EV_READ | BSN_EV_ERROR)) {
        /* drain and discard; done when the mirror closes or sent a full response */
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            mirror_free(m);
            return;
        }
        if (n > 0) {
            struct bsn_http_response_head rh;
            int rc = bsn_http_parse_response(buf, (size_t)n, &rh);
            if (rc > 0 && rh.content_length >= 0 &&
                (size_t)rc + (size_t)rh.content_length <= (size_t)n) /* whole small response */
                mirror_free(m);
        }
    }
}

void
gw_mirror_request(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    const struct gw_backend *b = c->route->mirror;
    if (!b || b->neps == 0 || c->req_chunked || w->mirrors >= GW_MIRROR_MAX)
        return;
    size_t body = 0;
    if (c->req.content_length > 0) {
        if (c->in_len - c->head_len < (size_t)c->req.content_length)
            return; /* body not all here */
        body = (size_t)c->req.content_length;
    }
    const struct gw_endpoint *e = &b->eps[gw_rand(w) % b->neps];
    int fd = socket(e->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&e->sa, e->salen) < 0 && errno != EINPROGRESS) {
        close(fd);
        return;
    }
    struct gw_mirror *m = bsn_calloc(1, sizeof(*m));
    m->w = w;
    m->fd = fd;
    m->out_len = c->uphead.len + body;
    m->out = bsn_malloc(m->out_len);
    memcpy(m->out, c->uphead.data, c->uphead.len);
    memcpy(m->out + c->uphead.len, c->in + c->head_len, body);
    bsn_timer_init(&m->timer);
    if (bsn_loop_add_fd(w->loop, fd, BSN_EV_WRITE, mirror_cb, m) < 0) {
        close(fd);
        free(m->out);
        free(m);
        return;
    }
    w->mirrors++;
    m->next = w->mirror_list;
    if (m->next)
        m->next->prev = m;
    w->mirror_list = m;
    bsn_timer_start(w->loop, &m->timer, GW_MIRROR_TIMEOUT_MS, mirror_timeout, m);
}

void
gw_mirror_fini(struct gw_worker *w)
{
    while (w->mirror_list)
        mirror_free(w->mirror_list);
}
