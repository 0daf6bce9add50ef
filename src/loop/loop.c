/*
 * loop.c - epoll event loop with a timer heap, signalfd, pidfd and an eventfd post queue.
 */
#include "loop/loop.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"

#include "base/time.h"

struct fd_watch {
    bsn_io_cb cb;
    void *data;
    unsigned events;
    bool active;
};

struct deferred {
    bsn_cb cb;
    void *data;
};

struct sig_watch {
    int signo;
    bsn_cb cb;
    void *data;
};

struct bsn_loop {
    int epfd;
    bool stop;
    uint64_t now;

    struct fd_watch *fds;
    int nfds_cap;

    struct bsn_timer **heap;
    int heap_len, heap_cap;

    struct deferred *defer;
    int defer_len, defer_cap;

    int evfd;
    pthread_mutex_t post_mu;
    struct deferred *posts;
    int posts_len, posts_cap;

    int sigfd;
    sigset_t sigmask;
    struct sig_watch sigs[16];
    int nsigs;
};

static void
post_drain(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&loop->post_mu);
    struct deferred *items = loop->posts;
    int n = loop->posts_len;
    loop->posts = NULL;
    loop->posts_len = loop->posts_cap = 0;
    pthread_mutex_unlock(&loop->post_mu);
    for (int i = 0; i < n; i++)
        items[i].cb(loop, items[i].data);
    free(items);
}

struct bsn_loop *
bsn_loop_new(void)
{
    struct bsn_loop *loop = bsn_calloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->sigfd = -1;
    loop->now = bsn_mono_ms();
    pthread_mutex_init(&loop->post_mu, NULL);
    loop->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    bsn_loop_add_fd(loop, loop->evfd, BSN_EV_READ, post_drain, NULL);
    return loop;
}

void
bsn_loop_free(struct bsn_loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    close(loop->evfd);
    if (loop->sigfd >= 0) {
        close(loop->sigfd);
        pthread_sigmask(SIG_UNBLOCK, &loop->sigmask, NULL);
    }
    pthread_mutex_destroy(&loop->post_mu);
    free(loop->fds);
    free(loop->heap);
    free(loop->defer);
    free(loop->posts);
    free(loop);
}

uint64_t
bsn_loop_now(struct bsn_loop *loop)
{
    return loop->now;
}

void
bsn_loop_stop(struct bsn_loop *loop)
{
    loop->stop = true;
    uint64_t one = 1;
    ssize_t r = write(loop->evfd, &one, sizeof(one));
    (void)r;
}

static uint32_t
to_epoll(unsigned ev)
{
    uint32_t e = 0;
    if (ev & BSN_EV_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (ev & BSN_EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

int
bsn_loop_add_fd(struct bsn_loop *loop, int fd, unsigned events, bsn_io_cb cb, void *data)
{
    assert(fd >= 0);
    if (fd >= loop->nfds_cap) {
        int cap = loop->nfds_cap ? loop->nfds_cap : 64;
        while (cap <= fd)
            cap *= 2;
        loop->fds = bsn_realloc(loop->fds, (size_t)cap * sizeof(*loop->fds));
        memset(loop->fds + loop->nfds_cap, 0, (size_t)(cap - loop->nfds_cap) * sizeof(*loop->fds));
        loop->nfds_cap = cap;
    }
    struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    loop->fds[fd] = (struct fd_watch){cb, data, events, true};
    return 0;
}

int
bsn_loop_mod_fd(struct bsn_loop *loop, int fd, unsigned events)
{
    assert(fd < loop->nfds_cap && loop->fds[fd].active);
    if (loop->fds[fd].events == events)
        return 0;
    struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -errno;
    loop->fds[fd].events = events;
    return 0;
}

void
bsn_loop_del_fd(struct bsn_loop *loop, int fd)
{
    if (fd < 0 || fd >= loop->nfds_cap || !loop->fds[fd].active)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->fds[fd].active = false;
    loop->fds[fd].cb = NULL;
}

/* --- timers: binary min-heap on when_ms --- */

static void
heap_swap(struct bsn_loop *loop, int a, int b)
{
    struct bsn_timer *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_idx = a;
    loop->heap[b]->heap_idx = b;
}

static void
heap_up(struct bsn_loop *loop, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (loop->heap[p]->when_ms <= loop->heap[i]->when_ms)
            break;
        heap_swap(loop, p, i);
        i = p;
    }
}

static void
heap_down(struct bsn_loop *loop, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->heap_len && loop->heap[l]->when_ms < loop->heap[m]->when_ms)
            m = l;
        if (r < loop->heap_len && loop->heap[r]->when_ms < loop->heap[m]->when_ms)
            m = r;
        if (m == i)
            break;
        heap_swap(loop, i, m);
        i = m;
    }
}

void
bsn_timer_init(struct bsn_timer *t)
{
    memset(t, 0, sizeof(*t));
    t->heap_idx = -1;
}

void
bsn_timer_start(struct bsn_loop *loop, struct bsn_timer *t, uint64_t delay_ms, bsn_cb cb,
                void *data)
{
    if (t->heap_idx >= 0)
        bsn_timer_stop(loop, t);
    t->when_ms = bsn_mono_ms() + delay_ms;
    t->cb = cb;
    t->data = data;
    if (loop->heap_len == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 32;
        loop->heap = bsn_realloc(loop->heap, (size_t)loop->heap_cap * sizeof(*loop->heap));
    }
    t->heap_idx = loop->heap_len;
    loop->heap[loop->heap_len++] = t;
    heap_up(loop, t->heap_idx);
}

void
bsn_timer_stop(struct bsn_loop *loop, struct bsn_timer *t)
{
    int i = t->heap_idx;
    if (i < 0)
        return;
    assert(i < loop->heap_len && loop->heap[i] == t);
    int last = --loop->heap_len;
    if (i != last) {
        loop->heap[i] = loop->heap[last];
        loop->heap[i]->heap_idx = i;
        heap_down(loop, i);
        heap_up(loop, i);
    }
    t->heap_idx = -1;
}

static void
run_timers(struct bsn_loop *loop)
{
    uint64_t now = bsn_mono_ms();
    while (loop->heap_len > 0 && loop->heap[0]->when_ms <= now) {
        struct bsn_timer *t = loop->heap[0];
        bsn_timer_stop(loop, t);
        t->cb(loop, t->data);
    }
}

/* --- signals --- */

static void
sig_ready(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        for (int i = 0; i < loop->nsigs; i++)
            if (loop->sigs[i].signo == (int)si.ssi_signo)
                loop->sigs[i].cb(loop, loop->sigs[i].data);
    }
}

int
bsn_loop_add_signal(struct bsn_loop *loop, int signo, bsn_cb cb, void *data)
{
    if (loop->nsigs >= (int)(sizeof(loop->sigs) / sizeof(loop->sigs[0])))
        return -ENOSPC;
    if (loop->sigfd < 0)
        sigemptyset(&loop->sigmask);
    sigaddset(&loop->sigmask, signo);
    pthread_sigmask(SIG_BLOCK, &loop->sigmask, NULL);
    int fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (loop->sigfd < 0) {
        loop->sigfd = fd;
        bsn_loop_add_fd(loop, fd, BSN_EV_READ, sig_ready, NULL);
    }
    loop->sigs[loop->nsigs++] = (struct sig_watch){signo, cb, data};
    return 0;
}

/* --- children --- */

static void
child_ready(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct bsn_child *c = data;
    int status = 0;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == 0)
        return; /* spurious */
    pid_t pid = c->pid;
    bsn_loop_unwatch_child(loop, c);
    if (r < 0)
        status = 0;
    c->cb(loop, pid, status, c->data);
}

int
bsn_loop_watch_child(struct bsn_loop *loop, struct bsn_child *c, pid_t pid, bsn_child_cb cb,
                     void *data)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    c->pid = pid;
    c->pidfd = fd;
    c->cb = cb;
    c->data = data;
    int rc = bsn_loop_add_fd(loop, fd, BSN_EV_READ, child_ready, c);
    if (rc < 0) {
        close(fd);
        c->pidfd = -1;
    }
    return rc;
}

bool
bsn_loop_child_watched(const struct bsn_loop *loop, pid_t pid)
{
    for (int fd = 0; fd < loop->nfds_cap; fd++) {
        const struct fd_watch *w = &loop->fds[fd];
        if (w->active && w->cb == child_ready && ((const struct bsn_child *)w->data)->pid == pid)
            return true;
    }
    return false;
}

void
bsn_loop_unwatch_child(struct bsn_loop *loop, struct bsn_child *c)
{
    if (c->pidfd >= 0) {
        bsn_loop_del_fd(loop, c->pidfd);
        close(c->pidfd);
        c->pidfd = -1;
    }
}

/* --- deferred and posted callbacks --- */

void
bsn_loop_defer(struct bsn_loop *loop, bsn_cb cb, void *data)
{
    if (loop->defer_len == loop->defer_cap) {
        loop->defer_cap = loop->defer_cap ? loop->defer_cap * 2 : 16;
        loop->defer = bsn_realloc(loop->defer, (size_t)loop->defer_cap * sizeof(*loop->defer));
    }
    loop->defer[loop->defer_len++] = (struct deferred){cb, data};
}

void
bsn_loop_post(struct bsn_loop *loop, bsn_cb cb, void *data)
{
    pthread_mutex_lock(&loop->post_mu);
    if (loop->posts_len == loop->posts_cap) {
        loop->posts_cap = loop->posts_cap ? loop->posts_cap * 2 : 16;
        loop->posts = bsn_realloc(loop->posts, (size_t)loop->posts_cap * sizeof(*loop->posts));
    }
    loop->posts[loop->posts_len++] = (struct deferred){cb, data};
    pthread_mutex_unlock(&loop->post_mu);
    uint64_t one = 1;
    ssize_t r = write(loop->evfd, &one, sizeof(one));
    (void)r;
}

static void
run_deferred(struct bsn_loop *loop)
{
    /* Callbacks may defer more work; keep going until the queue is empty. */
    while (loop->defer_len > 0) {
        struct deferred *items = loop->defer;
        int n = loop->defer_len;
        loop->defer = NULL;
        loop->defer_len = loop->defer_cap = 0;
        for (int i = 0; i < n; i++)
            items[i].cb(loop, items[i].data);
        free(items);
    }
}

int
bsn_loop_run_once(struct bsn_loop *loop, int timeout_ms)
{
    struct epoll_event evs[256];
    int timeout = timeout_ms;
    if (loop->defer_len > 0) {
        timeout = 0;
    } else if (loop->heap_len > 0) {
        uint64_t now = bsn_mono_ms();
        uint64_t when = loop->heap[0]->when_ms;
        int until = when <= now ? 0 : (int)BSN_MIN(when - now, (uint64_t)INT32_MAX);
        if (timeout < 0 || until < timeout)
            timeout = until;
    }
    int n = epoll_wait(loop->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
    loop->now = bsn_mono_ms();
    if (n < 0 && errno != EINTR)
        return -errno;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd >= loop->nfds_cap || !loop->fds[fd].active)
            continue;
        unsigned ev = 0;
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
            ev |= BSN_EV_READ;
        if (evs[i].events & EPOLLOUT)
            ev |= BSN_EV_WRITE;
        if (evs[i].events & (EPOLLERR | EPOLLHUP))
            ev |= BSN_EV_ERROR;
        struct fd_watch *w = &loop->fds[fd];
        w->cb(loop, fd, ev, w->data);
    }
    run_deferred(loop);
    run_timers(loop);
    run_deferred(loop);
    return 0;
}

int
bsn_loop_run(struct bsn_loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int rc = bsn_loop_run_once(loop, -1);
        if (rc < 0) {
            bsn_error("loop", "epoll_wait: %s", strerror(-rc));
            return rc;
        }
    }
    return 0;
}
