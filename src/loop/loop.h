/*
 * loop.h - the event loop: fds (epoll), timers (min-heap), signals (signalfd), child
 * processes (pidfd), deferred callbacks and thread-safe posts (eventfd).
 *
 * One loop per thread. Nothing here locks except bsn_loop_post(), which is the one way for
 * another thread to hand work to a loop. Timers and child watches are caller-allocated
 * handles (libuv style): the caller owns the memory and must stop them before freeing.
 *
 * Deferred callbacks (bsn_loop_defer) run once after the current batch of I/O events, before
 * the loop sleeps again. The API server uses this for group commit: every write request that
 * arrived in one epoll batch is committed in one transaction.
 */
#ifndef BSN_LOOP_LOOP_H
#define BSN_LOOP_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct bsn_loop;

enum { BSN_EV_READ = 1, BSN_EV_WRITE = 2, BSN_EV_ERROR = 4 };

typedef void (*bsn_io_cb)(struct bsn_loop *loop, int fd, unsigned events, void *data);
typedef void (*bsn_cb)(struct bsn_loop *loop, void *data);
typedef void (*bsn_child_cb)(struct bsn_loop *loop, pid_t pid, int wstatus, void *data);

struct bsn_timer {
    uint64_t when_ms; /* monotonic deadline */
    bsn_cb cb;
    void *data;
    int heap_idx; /* -1 when not armed */
};

struct bsn_child {
    pid_t pid;
    int pidfd;
    bsn_child_cb cb;
    void *data;
};

struct bsn_loop *bsn_loop_new(void);
void bsn_loop_free(struct bsn_loop *loop);

/* Runs until bsn_loop_stop(). Returns 0. */
int bsn_loop_run(struct bsn_loop *loop);
/* Runs one iteration, waiting at most timeout_ms (-1 = until something happens). */
int bsn_loop_run_once(struct bsn_loop *loop, int timeout_ms);
void bsn_loop_stop(struct bsn_loop *loop);
/* Milliseconds, monotonic, cached once per iteration. */
uint64_t bsn_loop_now(struct bsn_loop *loop);

/* fd watches. events is a mask of BSN_EV_READ|BSN_EV_WRITE. One watch per fd. */
int bsn_loop_add_fd(struct bsn_loop *loop, int fd, unsigned events, bsn_io_cb cb, void *data);
int bsn_loop_mod_fd(struct bsn_loop *loop, int fd, unsigned events);
void bsn_loop_del_fd(struct bsn_loop *loop, int fd);

/* One-shot timers; re-arm from the callback for periodic work. */
void bsn_timer_init(struct bsn_timer *t);
void bsn_timer_start(struct bsn_loop *loop, struct bsn_timer *t, uint64_t delay_ms, bsn_cb cb,
                     void *data);
void bsn_timer_stop(struct bsn_loop *loop, struct bsn_timer *t);
static inline bool
bsn_timer_active(const struct bsn_timer *t)
{
    return t->heap_idx >= 0;
}

/* Signals: blocks signo in this thread and delivers it through the loop. */
int bsn_loop_add_signal(struct bsn_loop *loop, int signo, bsn_cb cb, void *data);

/* Child exit notification (pidfd). The callback gets the waitpid status; the child is reaped. */
int bsn_loop_watch_child(struct bsn_loop *loop, struct bsn_child *c, pid_t pid, bsn_child_cb cb,
                         void *data);
void bsn_loop_unwatch_child(struct bsn_loop *loop, struct bsn_child *c);
/* True when pid has a child watch on this loop (whoever reaps other children leaves it). */
bool bsn_loop_child_watched(const struct bsn_loop *loop, pid_t pid);

/* Runs cb once after the current batch of events (same thread). */
void bsn_loop_defer(struct bsn_loop *loop, bsn_cb cb, void *data);
/* Thread-safe: runs cb on the loop's thread soon. */
void bsn_loop_post(struct bsn_loop *loop, bsn_cb cb, void *data);

#endif
