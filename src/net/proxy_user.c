/*
 * proxy_user.c - the userspace service proxy (no root): each Service port listens on the
 * loopback address bsn_proxy_user_addr(ClusterIP) at the service port and forwards to the
 * ready endpoints round robin. TCP is relayed through two fixed buffers per connection; UDP
 * keeps one connected socket per client address (a session) that expires after 30 s idle.
 *
 * Listeners follow the Service (created, kept or closed by bsn_proxy_user_apply); connections
 * already relayed are not cut when the endpoints change, as with conntrack on the kernel path.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "loop/loop.h"
#include "net/proxy.h"
#include "net/proxy_int.h"

#define RELAY_BUF     65536
#define MAX_CONNS     4096 /* TCP connections relayed at once, all Services */
#define UDP_MAX_SESS  1024 /* per UDP service port */
#define UDP_IDLE_MS   30000
#define UDP_SWEEP_MS  5000
#define UDP_MAX_DGRAM 65536

struct ulistener;

struct udp_sess {
    struct ulistener *l;
    int fd; /* connected to the endpoint */
    struct sockaddr_in client;
    uint64_t last_ms;
};

struct ulistener {
    struct bsn_proxy_user *u;
    int fd;
    int proto;
    char addr[16];
    uint16_t port;
    size_t nep, rr;
    struct bsn_proxy_ep *eps;
    struct bsn_map sessions; /* "ip:port" of the client -> udp_sess (UDP) */
    bool keep;               /* mark during apply */
};

struct usvc {
    size_t n;
    struct ulistener **ls;
};

struct dir {
    int src, dst;
    char *buf;
    size_t len, off;
    bool eof, done;
};

struct uconn {
    struct bsn_proxy_user *u;
    struct uconn *prev, *next;
    int cfd, bfd;
    bool connecting;
    struct dir d[2]; /* 0: client -> backend, 1: backend -> client */
};

struct bsn_proxy_user {
    struct bsn_loop *loop;
    struct bsn_map svcs; /* ns/name -> usvc */
    size_t nconns;
    struct uconn *conns; /* all relayed connections, freed with the proxy */
    struct bsn_timer sweep;
    char *dgram;
};

static bool
pick(struct ulistener *l, struct sockaddr_in *sa)
{
    if (!l->nep)
        return false;
    const struct bsn_proxy_ep *e = &l->eps[l->rr++ % l->nep];
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(e->port);
    inet_pton(AF_INET, e->ip, &sa->sin_addr);
    return true;
}

/* --- TCP relay --- */

static void conn_io(struct bsn_loop *loop, int fd, unsigned ev, void *data);

static void
conn_close(struct uconn *c)
{
    bsn_loop_del_fd(c->u->loop, c->cfd);
    bsn_loop_del_fd(c->u->loop, c->bfd);
    close(c->cfd);
    close(c->bfd);
    free(c->d[0].buf);
    free(c->d[1].buf);
    c->u->nconns--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->u->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void
conn_arm(struct uconn *c)
{
    int fds[2] = {c->cfd, c->bfd};
    for (int i = 0; i < 2; i++) {
        unsigned ev = 0;
        for (int k = 0; k < 2; k++) {
            struct dir *d = &c->d[k];
            if (d->src == fds[i] && !d->eof && d->len == 0)
                ev |= BSN_EV_READ;
            if (d->dst == fds[i] && d->len > d->off)
                ev |= BSN_EV_WRITE;
        }
        bsn_loop_mod_fd(c->u->loop, fds[i], ev);
    }
}

/* Moves what it can in one direction; -1 on a hard error. */
static int
pump(struct dir *d)
{
    if (d->len == 0 && !d->eof) {
        ssize_t n = read(d->src, d->buf, RELAY_BUF);
        if (n > 0) {
            d->len = (size_t)n;
            d->off = 0;
        } else if (n == 0) {
            d->eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    while (d->len > d->off) {
        ssize_t n = send(d->dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            return -1;
        }
        d->off += (size_t)n;
    }
    d->len = d->off = 0;
    if (d->eof && !d->done) {
        shutdown(d->dst, SHUT_WR);
        d->done = true;
    }
    return 0;
}

static void
conn_io(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    (void)loop;
    (void)fd;
    struct uconn *c = data;
    if (c->connecting) {
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e || (ev & BSN_EV_ERROR)) {
            conn_close(c);
            return;
        }
        c->connecting = false;
    }
    for (int k = 0; k < 2; k++)
        if (pump(&c->d[k]) < 0) {
            conn_close(c);
            return;
        }
    if (c->d[0].done && c->d[1].done) {
        conn_close(c);
        return;
    }
    conn_arm(c);
}

static void
on_accept(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    (void)ev;
    struct ulistener *l = data;
    for (int i = 0; i < 64; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        struct sockaddr_in sa;
        if (l->u->nconns >= MAX_CONNS || !pick(l, &sa)) {
            close(cfd);
            continue;
        }
        int bfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (bfd < 0 ||
            (connect(bfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)) {
            if (bfd >= 0)
                close(bfd);
            close(cfd);
            continue;
        }
        struct uconn *c = bsn_calloc(1, sizeof(*c));
        c->u = l->u;
        c->cfd = cfd;
        c->bfd = bfd;
        c->connecting = true;
        c->d[0] = (struct dir){.src = cfd, .dst = bfd, .buf = bsn_malloc(RELAY_BUF)};
        c->d[1] = (struct dir){.src = bfd, .dst = cfd, .buf = bsn_malloc(RELAY_BUF)};
        l->u->nconns++;
        c->next = l->u->conns;
        if (c->next)
            c->next->prev = c;
        l->u->conns = c;
        bsn_loop_add_fd(loop, cfd, 0, conn_io, c);
        bsn_loop_add_fd(loop, bfd, BSN_EV_WRITE, conn_io, c);
    }
}

/* --- UDP --- */

static void
sess_free(struct udp_sess *s)
{
    bsn_loop_del_fd(s->l->u->loop, s->fd);
    close(s->fd);
    free(s);
}

static void
on_sess(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    (void)ev;
    struct udp_sess *s = data;
    char *buf = s->l->u->dgram;
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(fd, buf, UDP_MAX_DGRAM, 0);
        if (n < 0)
            return;
        s->last_ms = bsn_loop_now(loop);
        sendto(s->l->fd, buf, (size_t)n, 0, (struct sockaddr *)&s->client, sizeof(s->client));
    }
}

static void
on_udp(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    (void)ev;
    struct ulistener *l = data;
    char *buf = l->u->dgram;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, UDP_MAX_DGRAM, 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        char key[32], ip[16];
        inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
        snprintf(key, sizeof(key), "%s:%u", ip, ntohs(from.sin_port));
        struct udp_sess *s = bsn_map_get(&l->sessions, key);
        if (!s) {
            struct sockaddr_in sa;
            if (l->sessions.len >= UDP_MAX_SESS || !pick(l, &sa))
                continue;
            int sfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (sfd < 0)
                continue;
            if (connect(sfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(sfd);
                continue;
            }
            s = bsn_calloc(1, sizeof(*s));
            s->l = l;
            s->fd = sfd;
            s->client = from;
            bsn_map_put(&l->sessions, key, s);
            bsn_loop_add_fd(loop, sfd, BSN_EV_READ, on_sess, s);
        }
        s->last_ms = bsn_loop_now(loop);
        send(s->fd, buf, (size_t)n, 0);
    }
}

static void
sweep(struct bsn_loop *loop, void *data)
{
    struct bsn_proxy_user *u = data;
    uint64_t now = bsn_loop_now(loop);
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&u->svcs, &it, &k, &v);) {
        struct usvc *us = v;
        for (size_t i = 0; i < us->n; i++) {
            struct ulistener *l = us->ls[i];
            const char *sk;
            void *sv;
            for (size_t j = 0; bsn_map_next(&l->sessions, &j, &sk, &sv);) {
                struct udp_sess *s = sv;
                if (now - s->last_ms > UDP_IDLE_MS) {
                    bsn_map_del(&l->sessions, sk);
                    sess_free(s);
                }
            }
        }
    }
    bsn_timer_start(loop, &u->sweep, UDP_SWEEP_MS, sweep, u);
}

/* --- listeners --- */

static struct ulistener *
listener_new(struct bsn_proxy_user *u, const char *addr, const struct bsn_proxy_port *p, bool quiet)
{
    bool udp = p->proto == IPPROTO_UDP;
    int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p->port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (!udp && listen(fd, 512) < 0)) {
        bsn_log(quiet ? BSN_LOG_DEBUG : BSN_LOG_WARN, "proxy",
                "userspace: cannot listen on %s:%u/%s: %s (retried every few seconds)", addr,
                p->port, udp ? "udp" : "tcp", strerror(errno));
        close(fd);
        return NULL;
    }
    struct ulistener *l = bsn_calloc(1, sizeof(*l));
    l->u = u;
    l->fd = fd;
    l->proto = p->proto;
    l->port = p->port;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    bsn_map_init(&l->sessions);
    bsn_loop_add_fd(u->loop, fd, BSN_EV_READ, udp ? on_udp : on_accept, l);
    return l;
}

static void
listener_free(struct ulistener *l)
{
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&l->sessions, &it, &k, &v);)
        sess_free(v);
    bsn_map_fini(&l->sessions);
    bsn_loop_del_fd(l->u->loop, l->fd);
    close(l->fd);
    free(l->eps);
    free(l);
}

int
bsn_proxy_user_apply(struct bsn_proxy_user *u, const char *key, const struct bsn_proxy_svc *s,
                     bool retry)
{
    int failed = 0;
    struct usvc *old = bsn_map_get(&u->svcs, key);
    struct usvc *nw = bsn_calloc(1, sizeof(*nw));
    char addr[16] = "";
    if (s)
        bsn_proxy_user_addr(s->cluster_ip, addr, sizeof(addr));
    nw->ls = bsn_calloc(s && s->nports ? s->nports : 1, sizeof(*nw->ls));
    for (size_t i = 0; s && i < s->nports; i++) {
        const struct bsn_proxy_port *p = &s->ports[i];
        struct ulistener *l = NULL;
        for (size_t j = 0; old && j < old->n && !l; j++) {
            struct ulistener *o = old->ls[j];
            if (!o->keep && o->proto == p->proto && o->port == p->port && !strcmp(o->addr, addr))
                l = o;
        }
        if (l)
            l->keep = true;
        else if (!(l = listener_new(u, addr, p, retry))) {
            failed++;
            continue;
        }
        free(l->eps);
        l->eps = NULL;
        l->nep = p->nep;
        if (p->nep) {
            l->eps = bsn_malloc(p->nep * sizeof(*l->eps));
            memcpy(l->eps, p->eps, p->nep * sizeof(*l->eps));
        }
        nw->ls[nw->n++] = l;
    }
    for (size_t j = 0; old && j < old->n; j++) {
        if (old->ls[j]->keep)
            old->ls[j]->keep = false;
        else
            listener_free(old->ls[j]);
    }
    if (old) {
        free(old->ls);
        free(old);
    }
    if (s) {
        bsn_map_put(&u->svcs, key, nw);
        bsn_debug("proxy", "userspace: %s on %s (%zu ports)", key, addr, nw->n);
    } else {
        bsn_map_del(&u->svcs, key);
        free(nw->ls);
        free(nw);
    }
    return failed;
}

struct bsn_proxy_user *
bsn_proxy_user_new(struct bsn_loop *loop)
{
    struct bsn_proxy_user *u = bsn_calloc(1, sizeof(*u));
    u->loop = loop;
    u->dgram = bsn_malloc(UDP_MAX_DGRAM);
    bsn_map_init(&u->svcs);
    bsn_timer_init(&u->sweep);
    bsn_timer_start(loop, &u->sweep, UDP_SWEEP_MS, sweep, u);
    return u;
}

void
bsn_proxy_user_free(struct bsn_proxy_user *u)
{
    if (!u)
        return;
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&u->svcs, &it, &k, &v);) {
        struct usvc *us = v;
        for (size_t i = 0; i < us->n; i++)
            listener_free(us->ls[i]);
        free(us->ls);
        free(us);
    }
    bsn_map_fini(&u->svcs);
    while (u->conns)
        conn_close(u->conns);
    bsn_timer_stop(u->loop, &u->sweep);
    free(u->dgram);
    free(u);
}
