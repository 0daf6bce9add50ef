/*
 * test_process.c - the process runtime and the CRI log pump: exit codes, log lines, stop with
 * SIGTERM then SIGKILL after the grace period, exec, log rotation and line splitting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "runtime/logpump.h"
#include "runtime/rt_impl.h"
#include "runtime/runtime.h"

struct fixture {
    char dir[256];
    struct bsn_loop *loop;
    struct bsn_runtime *rt;
    int exits;
    struct bsn_container_status last;
    int stopped;
};

static void
on_exit_cb(void *data, const struct bsn_container_status *st)
{
    struct fixture *f = data;
    f->exits++;
    f->last = *st;
}

static int
setup(void **state)
{
    struct fixture *f = bsn_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/bsn-rt-test-%d-XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(f->dir));
    f->loop = bsn_loop_new();
    char sd[300];
    snprintf(sd, sizeof(sd), "%s/state", f->dir);
    struct bsn_runtime_opts o = {
        .kind = "process", .state_dir = sd, .on_exit = on_exit_cb, .on_exit_data = f};
    struct bsn_err err = {0};
    f->rt = bsn_runtime_new(f->loop, &o, &err);
    assert_non_null(f->rt);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    bsn_runtime_free(f->rt);
    bsn_loop_free(f->loop);
    rt_rm_rf(f->dir);
    free(f);
    return 0;
}

static void
make_sandbox(struct fixture *f, char id[65])
{
    char logdir[300];
    snprintf(logdir, sizeof(logdir), "%s/logs/default_web_uid1", f->dir);
    struct bsn_sandbox_config sc = {
        .namespace_ = "default", .name = "web", .uid = "uid1", .log_dir = logdir};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_sandbox_create(f->rt, &sc, id, &err), 0);
}

/* Runs the loop until cond(f) or ~10 s. */
static void
run_until(struct fixture *f, int (*cond)(struct fixture *, void *), void *arg)
{
    uint64_t end = bsn_mono_ms() + 10000;
    while (!cond(f, arg) && bsn_mono_ms() < end)
        bsn_loop_run_once(f->loop, 50);
}

static int
exited_n(struct fixture *f, void *arg)
{
    return f->exits >= *(int *)arg;
}

static int
log_has(struct fixture *f, void *arg)
{
    const char **a = arg;
    const char *path = bsn_runtime_log_path(f->rt, a[0]);
    BSN_AUTOFREE char *s = path ? rt_read_file(path, 1 << 20, NULL) : NULL;
    return s && strstr(s, a[1]) != NULL;
}

static void
test_exit_code_and_logs(void **state)
{
    struct fixture *f = *state;
    char sb[65], id[65];
    make_sandbox(f, sb);
    const char *argv[] = {"/bin/sh", "-c", "echo hi; echo oops >&2; exit 3", NULL};
    struct bsn_container_config cc = {.name = "main", .argv = argv};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    struct bsn_container_status st;
    assert_int_equal(bsn_runtime_container_status(f->rt, id, &st, &err), 0);
    assert_int_equal(st.state, BSN_CONTAINER_CREATED);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    int one = 1;
    run_until(f, exited_n, &one);
    assert_int_equal(f->exits, 1);
    assert_int_equal(bsn_runtime_container_status(f->rt, id, &st, &err), 0);
    assert_int_equal(st.state, BSN_CONTAINER_EXITED);
    assert_int_equal(st.exit_code, 3);
    assert_int_equal(st.signal, 0);
    assert_string_equal(st.reason, "Error");
    assert_true(st.finished_us >= st.started_us && st.started_us > 0);
    const char *want[] = {id, " stdout F hi\n"};
    run_until(f, log_has, want);
    assert_true(log_has(f, want));
    const char *want2[] = {id, " stderr F oops\n"};
    run_until(f, log_has, want2);
    assert_true(log_has(f, want2));
    /* The default log path follows kubelet's <log_dir>/<container>/0.log. */
    assert_non_null(strstr(bsn_runtime_log_path(f->rt, id), "/default_web_uid1/main/0.log"));
    /* Starting twice is refused; a second container with the same name too. */
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), -1);
    char id2[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id2, &err), -1);
    assert_int_equal(err.code, 409);
    assert_int_equal(bsn_runtime_container_remove(f->rt, id, &err), 0);
    assert_null(bsn_runtime_log_path(f->rt, id));
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

static void
test_stdin(void **state)
{
    struct fixture *f = *state;
    char sb[65], id[65];
    make_sandbox(f, sb);
    const char *argv[] = {"/bin/sh", "-c", "while read l; do echo in:$l; done; echo eof", NULL};
    struct bsn_container_config cc = {.name = "cat", .argv = argv, .stdin_open = true};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_stdin(f->rt, id), -1); /* not running yet */
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    int fd = bsn_runtime_container_stdin(f->rt, id);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "one\ntwo\n", 8), 8);
    bsn_runtime_container_close_stdin(f->rt, id);
    int one = 1;
    run_until(f, exited_n, &one);
    const char *w1[] = {id, " stdout F in:two\n"}, *w2[] = {id, " stdout F eof\n"};
    run_until(f, log_has, w2);
    assert_true(log_has(f, w1));
    assert_true(log_has(f, w2));
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

static void
test_container_tty(void **state)
{
    struct fixture *f = *state;
    char sb[65], id[65];
    make_sandbox(f, sb);
    const char *argv[] = {"/bin/sh", "-c",
                          "test -t 0 && test -t 1 && echo is-tty; read x; echo got-$x", NULL};
    struct bsn_container_config cc = {.name = "tty", .argv = argv, .tty = true, .stdin_open = true};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    int fd = bsn_runtime_container_stdin(f->rt, id);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc\n", 4), 4);
    int one = 1;
    run_until(f, exited_n, &one);
    const char *w1[] = {id, " stdout F is-tty"}, *w2[] = {id, " stdout F got-abc"};
    run_until(f, log_has, w2);
    assert_true(log_has(f, w1));
    assert_true(log_has(f, w2));
    struct bsn_container_status st;
    bsn_runtime_container_status(f->rt, id, &st, &err);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

static void
test_stats(void **state)
{
    struct fixture *f = *state;
    char sb[65], id[65];
    make_sandbox(f, sb);
    const char *argv[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    struct bsn_container_config cc = {.name = "busy", .argv = argv};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    struct bsn_container_stats s0, s1;
    assert_int_equal(bsn_runtime_container_stats(f->rt, id, &s0, &err), -1); /* not running */
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    assert_int_equal(bsn_runtime_container_stats(f->rt, id, &s0, &err), 0);
    uint64_t end = bsn_mono_ms() + 400;
    while (bsn_mono_ms() < end)
        bsn_loop_run_once(f->loop, 50);
    assert_int_equal(bsn_runtime_container_stats(f->rt, id, &s1, &err), 0);
    assert_true(s1.cpu_usage_ns > s0.cpu_usage_ns);
    assert_true(s1.memory_rss > 0);
    assert_true(s1.timestamp_us > s0.timestamp_us);
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

/* The command is looked up in the container's PATH, not the agent's. */
static void
test_container_path(void **state)
{
    struct fixture *f = *state;
    char sb[65], id[65], bin[400], tool[420];
    make_sandbox(f, sb);
    snprintf(bin, sizeof(bin), "%s/mybin", f->dir);
    assert_int_equal(rt_mkdir_p(bin, 0755), 0);
    snprintf(tool, sizeof(tool), "%s/only-here", bin);
    assert_int_equal(rt_write_file(tool, "#!/bin/sh\necho found-it\n", 24, 0755), 0);
    BSN_AUTOFREE char *pathenv = bsn_sprintf("PATH=%s:/bin:/usr/bin", bin);
    const char *argv[] = {"only-here", NULL}, *env[] = {pathenv, NULL};
    struct bsn_container_config cc = {.name = "pathy", .argv = argv, .env = env};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    const char *w[] = {id, " stdout F found-it\n"};
    run_until(f, log_has, w);
    assert_true(log_has(f, w));
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

static void
test_bad_command(void **state)
{
    struct fixture *f = *state;
    char sb[65], id[65];
    make_sandbox(f, sb);
    const char *argv[] = {"/nonexistent/prog", NULL};
    struct bsn_container_config cc = {.name = "bad", .argv = argv};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    struct bsn_container_status st;
    bsn_runtime_container_status(f->rt, id, &st, &err);
    assert_int_equal(st.state, BSN_CONTAINER_EXITED);
    assert_string_equal(st.reason, "StartError");
    assert_non_null(strstr(st.message, "No such file"));
    /* on_exit is deferred to the loop, not called from inside start */
    assert_int_equal(f->exits, 0);
    bsn_loop_run_once(f->loop, 0);
    assert_int_equal(f->exits, 1);
    assert_string_equal(f->last.reason, "StartError");
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

static void
stop_done(void *data, int rc, const struct bsn_err *err)
{
    struct fixture *f = data;
    f->stopped++;
}

static int
stopped_n(struct fixture *f, void *arg)
{
    return f->stopped >= *(int *)arg;
}

static void
test_stop_term_then_kill(void **state)
{
    struct fixture *f = *state;
    char sb[65], polite[65], stubborn[65];
    make_sandbox(f, sb);
    struct bsn_err err = {0};
    const char *a1[] = {"/bin/sh", "-c", "echo ready; exec sleep 30", NULL};
    const char *a2[] = {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done",
                        NULL};
    struct bsn_container_config c1 = {.name = "polite", .argv = a1};
    struct bsn_container_config c2 = {.name = "stubborn", .argv = a2};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &c1, polite, &err), 0);
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &c2, stubborn, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, polite, NULL, NULL, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, stubborn, NULL, NULL, &err), 0);
    const char *r1[] = {polite, "stdout F ready"}, *r2[] = {stubborn, "stdout F ready"};
    run_until(f, log_has, r1);
    run_until(f, log_has, r2);
    struct bsn_container_status st;
    bsn_runtime_container_status(f->rt, stubborn, &st, &err);
    assert_int_equal(st.state, BSN_CONTAINER_RUNNING);
    assert_true(st.pid > 0);

    /* polite dies of SIGTERM long before its 5 s grace period. */
    uint64_t t0 = bsn_mono_ms();
    assert_int_equal(bsn_runtime_container_stop(f->rt, polite, 5000, stop_done, f, &err), 0);
    int one = 1;
    run_until(f, stopped_n, &one);
    assert_int_equal(f->stopped, 1);
    assert_true(bsn_mono_ms() - t0 < 3000);
    bsn_runtime_container_status(f->rt, polite, &st, &err);
    assert_int_equal(st.signal, SIGTERM);
    assert_int_equal(st.exit_code, 128 + SIGTERM);

    /* stubborn ignores SIGTERM and is killed once the 400 ms grace period is over. */
    t0 = bsn_mono_ms();
    assert_int_equal(bsn_runtime_container_stop(f->rt, stubborn, 400, stop_done, f, &err), 0);
    int two = 2;
    run_until(f, stopped_n, &two);
    assert_int_equal(f->stopped, 2);
    assert_true(bsn_mono_ms() - t0 >= 400);
    bsn_runtime_container_status(f->rt, stubborn, &st, &err);
    assert_int_equal(st.signal, SIGKILL);
    assert_int_equal(st.exit_code, 137);

    /* Stopping an exited container completes right away. */
    assert_int_equal(bsn_runtime_container_stop(f->rt, stubborn, 400, stop_done, f, &err), 0);
    int three = 3;
    run_until(f, stopped_n, &three);
    assert_int_equal(f->stopped, 3);
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

static void
test_exec(void **state)
{
    struct fixture *f = *state;
    char sb[65], id[65];
    make_sandbox(f, sb);
    struct bsn_err err = {0};
    const char *argv[] = {"/bin/sleep", "30", NULL};
    const char *env[] = {"GREETING=hello", NULL};
    struct bsn_container_config cc = {
        .name = "app", .argv = argv, .env = env, .working_dir = "/tmp"};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *eargv[] = {"/bin/sh", "-c", "echo $GREETING $(pwd); exit 7", NULL};
    struct bsn_exec_config ec = {.argv = eargv, .fd_in = -1, .fd_out = p[1], .fd_err = -1};
    pid_t pid;
    assert_int_equal(bsn_runtime_exec(f->rt, id, &ec, &pid, &err), 0);
    close(p[1]);
    char buf[128] = {0};
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    assert_string_equal(buf, "hello /tmp\n");
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 7);
    /* With a tty: the process sees a terminal on stdin/stdout and reads what we type. */
    int master = -1;
    const char *targv[] = {"/bin/sh", "-c",
                           "test -t 0 && test -t 1 && echo tty-yes; read x; echo got-$x", NULL};
    struct bsn_exec_config tc = {.argv = targv, .tty = true, .pty_master = &master};
    assert_int_equal(bsn_runtime_exec(f->rt, id, &tc, &pid, &err), 0);
    assert_true(master >= 0);
    assert_int_equal(write(master, "abc\n", 4), 4);
    char tbuf[512] = {0};
    size_t tl = 0;
    uint64_t end = bsn_mono_ms() + 5000;
    while (!strstr(tbuf, "got-abc") && bsn_mono_ms() < end) {
        ssize_t r = read(master, tbuf + tl, sizeof(tbuf) - 1 - tl);
        if (r <= 0)
            break;
        tl += (size_t)r;
    }
    assert_non_null(strstr(tbuf, "tty-yes\r\n"));
    assert_non_null(strstr(tbuf, "got-abc"));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    close(master);
    /* Removing the sandbox kills what still runs. */
    struct bsn_container_status st;
    bsn_runtime_container_status(f->rt, id, &st, &err);
    pid_t cpid = st.pid;
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
    assert_int_equal(kill(cpid, 0), -1);
    struct bsn_sandbox_status ss;
    assert_int_equal(bsn_runtime_sandbox_status(f->rt, sb, &ss, &err), -1);
}

static void
test_sandbox_files(void **state)
{
    struct fixture *f = *state;
    const char *ns[] = {"10.43.0.10", NULL},
               *search[] = {"default.svc.cluster.local", "svc.cluster.local", NULL};
    const char *opts[] = {"ndots:5", NULL}, *names[] = {"foo.local", "bar.local", NULL};
    struct bsn_host_alias alias = {.ip = "10.1.2.3", .hostnames = names};
    char logdir[300];
    snprintf(logdir, sizeof(logdir), "%s/logs/x", f->dir);
    struct bsn_sandbox_config sc = {.namespace_ = "default",
                                    .name = "web-0",
                                    .hostname = "web",
                                    .dns = {ns, search, opts},
                                    .aliases = &alias,
                                    .naliases = 1,
                                    .log_dir = logdir};
    char id[65];
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_sandbox_create(f->rt, &sc, id, &err), 0);
    struct bsn_sandbox_status st;
    assert_int_equal(bsn_runtime_sandbox_status(f->rt, id, &st, &err), 0);
    assert_true(st.ready);
    assert_string_equal(st.netns_path, "");
    assert_int_equal(strncmp(st.ip, "127.1.", 6), 0);
    /* The pod IP is bindable as is (all of 127.0.0.0/8 is routed to lo). */
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, st.ip, &sa.sin_addr), 1);
    assert_int_equal(bind(sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(sock);
    BSN_AUTOFREE char *hosts = rt_read_file(st.hosts_path, 65536, NULL);
    BSN_AUTOFREE char *resolv = rt_read_file(st.resolv_path, 65536, NULL);
    BSN_AUTOFREE char *hn = rt_read_file(st.hostname_path, 65536, NULL);
    assert_non_null(strstr(hosts, "127.0.0.1\tlocalhost\n"));
    char line[128];
    snprintf(line, sizeof(line), "%s\tweb\n", st.ip);
    assert_non_null(strstr(hosts, line));
    assert_non_null(strstr(hosts, "10.1.2.3\tfoo.local\tbar.local\n"));
    assert_string_equal(resolv, "nameserver 10.43.0.10\n"
                                "search default.svc.cluster.local svc.cluster.local\n"
                                "options ndots:5\n");
    assert_string_equal(hn, "web\n");
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, id, &err), 0);
    struct stat sst;
    assert_int_equal(stat(st.hosts_path, &sst), -1);
}

static void
test_run_as_user(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        print_message("not root: runAsUser not checked\n");
        return;
    }
    char sb[65], id[65];
    make_sandbox(f, sb);
    const char *argv[] = {"/bin/sh", "-c", "id -u; id -g", NULL};
    struct bsn_container_config cc = {.name = "nobody", .argv = argv};
    cc.security = (struct bsn_security){.has_run_as_user = true,
                                        .run_as_user = 65534,
                                        .has_run_as_group = true,
                                        .run_as_group = 65533,
                                        .no_new_privs = true};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, NULL, NULL, &err), 0);
    const char *w1[] = {id, " stdout F 65534\n"}, *w2[] = {id, " stdout F 65533\n"};
    run_until(f, log_has, w1);
    run_until(f, log_has, w2);
    assert_true(log_has(f, w1));
    assert_true(log_has(f, w2));
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
}

static void
test_cri_format(void **state)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    /* 2021-01-02T03:04:05Z = 1609556645 */
    bsn_cri_log_format(&b, 1609556645LL * 1000000000 + 7, "stdout", false, "hello", 5);
    bsn_cri_log_format(&b, 1609556645LL * 1000000000 + 123456789, "stderr", true, "ab", 2);
    assert_string_equal(b.data, "2021-01-02T03:04:05.000000007Z stdout F hello\n"
                                "2021-01-02T03:04:05.123456789Z stderr P ab\n");
    /* and back */
    struct bsn_cri_line l;
    const char *first = b.data;
    const char *nl = strchr(first, '\n');
    assert_int_equal(bsn_cri_log_parse(first, (size_t)(nl - first + 1), &l), 0);
    assert_true(l.ts_ns == 1609556645LL * 1000000000 + 7);
    assert_true(bsn_str_eq(l.stream, "stdout"));
    assert_false(l.partial);
    assert_true(bsn_str_eq(l.text, "hello"));
    assert_int_equal(bsn_cri_log_parse(nl + 1, strlen(nl + 1), &l), 0);
    assert_true(l.partial);
    assert_true(bsn_str_eq(l.stream, "stderr"));
    assert_true(bsn_str_eq(l.text, "ab"));
    assert_true(l.ts_ns == 1609556645LL * 1000000000 + 123456789);
    const char *other = "2021-01-02T05:04:05.5+02:00 stdout F x y";
    assert_int_equal(bsn_cri_log_parse(other, strlen(other), &l), 0);
    assert_true(l.ts_ns == 1609556645LL * 1000000000 + 500000000);
    assert_true(bsn_str_eq(l.text, "x y"));
    const char *empty = "2021-01-02T03:04:05Z stdout F";
    assert_int_equal(bsn_cri_log_parse(empty, strlen(empty), &l), 0);
    assert_int_equal(l.text.len, 0);
    const char *bad[] = {"",
                         "hello",
                         "2021-01-02T03:04:05Z",
                         "2021-01-02T03:04:05Z stdout X hi",
                         "2021-01-02 03:04:05Z stdout F hi",
                         "2021-01-02T03:04:05. stdout F x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(bsn_cri_log_parse(bad[i], strlen(bad[i]), &l), -1);
    bsn_buf_fini(&b);
}

static int
streams_closed(struct fixture *f, void *arg)
{
    return bsn_logpump_open_streams(arg) == 0;
}

static void
test_rotation_and_partial(void **state)
{
    struct fixture *f = *state;
    char path[320];
    snprintf(path, sizeof(path), "%s/rot.log", f->dir);
    struct bsn_err err = {0};
    struct bsn_logpump *p = bsn_logpump_new(f->loop, path, 4096, 3, &err);
    assert_non_null(p);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(bsn_logpump_add(p, fds[0], "stdout"), 0);
    /* One long line (split into P chunks + F), then many short lines to force rotations. */
    size_t big = BSN_LOGPUMP_LINE_MAX + 100;
    char *line = bsn_malloc(big + 1);
    memset(line, 'x', big);
    line[big] = '\n';
    pid_t w = fork();
    if (w == 0) {
        close(fds[0]);
        if (write(fds[1], line, big + 1) < 0)
            _exit(1);
        for (int i = 0; i < 400; i++) {
            char s[64];
            int n = snprintf(s, sizeof(s), "line %d\n", i);
            if (write(fds[1], s, (size_t)n) < 0)
                _exit(1);
        }
        if (write(fds[1], "tail-no-newline", 15) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    free(line);
    run_until(f, streams_closed, p);
    waitpid(w, NULL, 0);
    bsn_logpump_free(p);
    char p1[340], p2[340], p3[340];
    snprintf(p1, sizeof(p1), "%s.1", path);
    snprintf(p2, sizeof(p2), "%s.2", path);
    snprintf(p3, sizeof(p3), "%s.3", path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size < 4096 + 200);
    assert_int_equal(stat(p1, &st), 0);
    assert_int_equal(stat(p2, &st), 0);
    assert_int_equal(stat(p3, &st), -1); /* only 3 files kept */
    BSN_AUTOFREE char *live = rt_read_file(path, 1 << 20, NULL);
    BSN_AUTOFREE char *prev = rt_read_file(p1, 1 << 20, NULL);
    assert_true(strstr(live, " stdout F line 399\n") || strstr(prev, " stdout F line 399\n"));
    assert_non_null(strstr(live, " stdout F tail-no-newline\n"));
    /* Every line in the kept files has the CRI shape. */
    const char *files[] = {path, p1, p2};
    for (int i = 0; i < 3; i++) {
        BSN_AUTOFREE char *s = rt_read_file(files[i], 1 << 20, NULL);
        for (char *l = s; *l;) {
            char *nl = strchr(l, '\n');
            assert_non_null(nl);
            assert_true(nl - l > 33);
            assert_int_equal(l[4], '-');
            assert_int_equal(l[29], 'Z');
            assert_true(!strncmp(l + 30, " stdout F ", 10) || !strncmp(l + 30, " stdout P ", 10));
            l = nl + 1;
        }
    }
    /* Rotation itself: with 2 files, .1 is replaced. */
    char rp[340];
    snprintf(rp, sizeof(rp), "%s/r.log", f->dir);
    rt_write_file(rp, "a", 1, 0644);
    assert_int_equal(bsn_log_rotate(rp, 2), 0);
    rt_write_file(rp, "b", 1, 0644);
    assert_int_equal(bsn_log_rotate(rp, 2), 0);
    char rp1[350];
    snprintf(rp1, sizeof(rp1), "%s.1", rp);
    BSN_AUTOFREE char *one = rt_read_file(rp1, 100, NULL);
    assert_string_equal(one, "b");
    assert_int_equal(stat(rp, &st), -1);
}

static void
test_partial_chunks(void **state)
{
    struct fixture *f = *state;
    char path[320];
    snprintf(path, sizeof(path), "%s/part.log", f->dir);
    struct bsn_err err = {0};
    struct bsn_logpump *p = bsn_logpump_new(f->loop, path, 0, 1, &err);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    bsn_logpump_add(p, fds[0], "stderr");
    size_t big = 2 * BSN_LOGPUMP_LINE_MAX + 5;
    char *line = bsn_malloc(big + 1);
    memset(line, 'y', big);
    line[big] = '\n';
    pid_t w = fork();
    if (w == 0) {
        close(fds[0]);
        _exit(write(fds[1], line, big + 1) < 0);
    }
    close(fds[1]);
    free(line);
    run_until(f, streams_closed, p);
    waitpid(w, NULL, 0);
    bsn_logpump_free(p);
    BSN_AUTOFREE char *s = rt_read_file(path, 1 << 20, NULL);
    int np = 0, nf = 0;
    for (char *l = s; (l = strstr(l, " stderr ")); l++) {
        np += l[8] == 'P';
        nf += l[8] == 'F';
    }
    assert_int_equal(np, 2);
    assert_int_equal(nf, 1);
    assert_non_null(strstr(s, " stderr F yyyyy\n"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cri_format),
        cmocka_unit_test_setup_teardown(test_exit_code_and_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_term_then_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_as_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_and_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_chunks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
