/*
 * test_loop.c - unit tests for the event loop: timers fire in order, cancelled timers do not
 * fire, fds and posts from other threads are delivered, children are reaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop/loop.h"

static char order[16];
static int norder;

static void
mark(struct bsn_loop *loop, void *data)
{
    order[norder++] = *(const char *)data;
    if (norder == 3)
        bsn_loop_stop(loop);
}

static void
test_timers_in_order(void **state)
{
    struct bsn_loop *loop = bsn_loop_new();
    struct bsn_timer a, b, c, d;
    bsn_timer_init(&a);
    bsn_timer_init(&b);
    bsn_timer_init(&c);
    bsn_timer_init(&d);
    norder = 0;
    bsn_timer_start(loop, &a, 30, mark, "c");
    bsn_timer_start(loop, &b, 1, mark, "a");
    bsn_timer_start(loop, &c, 10, mark, "b");
    bsn_timer_start(loop, &d, 5, mark, "x");
    bsn_timer_stop(loop, &d);
    assert_false(bsn_timer_active(&d));
    bsn_loop_run(loop);
    assert_int_equal(norder, 3);
    assert_memory_equal(order, "abc", 3);
    bsn_loop_free(loop);
}

static int got_bytes;

static void
on_read(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0)
        got_bytes += (int)n;
    bsn_loop_stop(loop);
}

static void
test_fd_readable(void **state)
{
    struct bsn_loop *loop = bsn_loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(bsn_loop_add_fd(loop, p[0], BSN_EV_READ, on_read, NULL), 0);
    assert_int_equal(write(p[1], "hello", 5), 5);
    got_bytes = 0;
    bsn_loop_run(loop);
    assert_int_equal(got_bytes, 5);
    bsn_loop_del_fd(loop, p[0]);
    close(p[0]);
    close(p[1]);
    bsn_loop_free(loop);
}

static int posted;

static void
on_post(struct bsn_loop *loop, void *data)
{
    posted += *(int *)data;
    if (posted == 10 * 1000)
        bsn_loop_stop(loop);
}

static void *
poster(void *arg)
{
    static int one = 1;
    for (int i = 0; i < 1000; i++)
        bsn_loop_post(arg, on_post, &one);
    return NULL;
}

static void
test_post_from_threads(void **state)
{
    struct bsn_loop *loop = bsn_loop_new();
    pthread_t th[10];
    posted = 0;
    for (int i = 0; i < 10; i++)
        pthread_create(&th[i], NULL, poster, loop);
    bsn_loop_run(loop);
    for (int i = 0; i < 10; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(posted, 10000);
    bsn_loop_free(loop);
}

static int child_status = -1;

static void
on_child(struct bsn_loop *loop, pid_t pid, int wstatus, void *data)
{
    child_status = wstatus;
    bsn_loop_stop(loop);
}

static void
test_child_exit(void **state)
{
    struct bsn_loop *loop = bsn_loop_new();
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    struct bsn_child c;
    assert_int_equal(bsn_loop_watch_child(loop, &c, pid, on_child, NULL), 0);
    bsn_loop_run(loop);
    assert_true(WIFEXITED(child_status));
    assert_int_equal(WEXITSTATUS(child_status), 7);
    bsn_loop_free(loop);
}

static int deferred_runs;

static void
on_defer(struct bsn_loop *loop, void *data)
{
    deferred_runs++;
    bsn_loop_stop(loop);
}

static void
test_defer_runs_once(void **state)
{
    struct bsn_loop *loop = bsn_loop_new();
    deferred_runs = 0;
    bsn_loop_defer(loop, on_defer, NULL);
    bsn_loop_run(loop);
    assert_int_equal(deferred_runs, 1);
    bsn_loop_free(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_in_order),   cmocka_unit_test(test_fd_readable),
        cmocka_unit_test(test_post_from_threads), cmocka_unit_test(test_child_exit),
        cmocka_unit_test(test_defer_runs_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
