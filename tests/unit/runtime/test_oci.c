/*
 * test_oci.c - the oci runtime end to end with runc (root only; skips otherwise): a busybox
 * image packed with bsn_image_pack, hostname/exit code/logs, exec, OOMKilled from a memory
 * limit, stop with SIGKILL after the grace period, the "host" image, and full cleanup
 * (netns, mounts, cgroups) after remove.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "runtime/image.h"
#include "runtime/image_int.h"
#include "runtime/rt_impl.h"
#include "runtime/runtime.h"

struct fx {
    char dir[256];
    char hostname[64];
    struct bsn_loop *loop;
    struct bsn_image_store *images;
    struct bsn_runtime *rt;
    int exits, started, stopped;
};

static const char *busybox;

static const char *
find_busybox(void)
{
    const char *c[] = {"/bin/busybox", "/usr/bin/busybox"};
    for (size_t i = 0; i < 2; i++)
        if (access(c[i], X_OK) == 0)
            return c[i];
    return NULL;
}

static bool
have_runc(void)
{
    return access("/usr/sbin/runc", X_OK) == 0 || access("/usr/bin/runc", X_OK) == 0 ||
           access("/usr/local/sbin/runc", X_OK) == 0 || access("/usr/local/bin/runc", X_OK) == 0;
}

static void
on_exit_cb(void *data, const struct bsn_container_status *st)
{
    ((struct fx *)data)->exits++;
}

static int
setup(void **state)
{
    struct fx *f = bsn_calloc(1, sizeof(*f));
    unsigned r = (unsigned)bsn_mono_ns();
    snprintf(f->dir, sizeof(f->dir), "/tmp/bsn-oci-%d-%x-XXXXXX", (int)getpid(), r & 0xffff);
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->hostname, sizeof(f->hostname), "bsn-%d-%x", (int)getpid(), r & 0xffff);
    /* The busybox-static image: /bin/busybox plus applet links. */
    char root[400], p[500];
    snprintf(root, sizeof(root), "%s/imgroot/bin", f->dir);
    assert_int_equal(rt_mkdir_p(root, 0755), 0);
    snprintf(p, sizeof(p), "cp %s %s/busybox", busybox, root);
    assert_int_equal(system(p), 0);
    const char *applets[] = {"sh", "echo", "hostname", "cat",   "sleep", "head",
                             "ls", "test", "id",       "touch", "grep"};
    for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", root, applets[i]);
        assert_int_equal(symlink("busybox", p), 0);
    }
    snprintf(p, sizeof(p), "%s/imgroot/etc", f->dir);
    rt_mkdir_p(p, 0755);
    snprintf(p, sizeof(p), "%s/imgroot/tmp", f->dir);
    rt_mkdir_p(p, 01777);
    snprintf(p, sizeof(p), "%s/imgroot/etc/passwd", f->dir);
    const char *pw = "root:x:0:0:root:/root:/bin/sh\napp:x:1234:5678:app:/:/bin/sh\n";
    rt_write_file(p, pw, strlen(pw), 0644);
    snprintf(p, sizeof(p), "%s/imgroot/etc/group", f->dir);
    const char *gr = "root:x:0:\nstaff:x:4321:app\n";
    rt_write_file(p, gr, strlen(gr), 0644);
    char data[300];
    snprintf(data, sizeof(data), "%s/data", f->dir);
    struct bsn_err err = {0};
    f->images = bsn_image_store_open(data, &err);
    assert_non_null(f->images);
    const char *ep[] = {"/bin/sh", "-c", NULL}, *cmd[] = {"echo default", NULL};
    snprintf(root, sizeof(root), "%s/imgroot", f->dir);
    assert_int_equal(
        bsn_image_pack(f->images, root, "bsn-test/busybox:1", ep, cmd, NULL, NULL, &err), 0);
    f->loop = bsn_loop_new();
    char sd[300], nd[300];
    snprintf(sd, sizeof(sd), "%s/state", f->dir);
    snprintf(nd, sizeof(nd), "%s/netns", f->dir);
    struct bsn_runtime_opts o = {.kind = "oci",
                                 .state_dir = sd,
                                 .netns_dir = nd,
                                 .images = f->images,
                                 .on_exit = on_exit_cb,
                                 .on_exit_data = f};
    f->rt = bsn_runtime_new(f->loop, &o, &err);
    if (!f->rt)
        fail_msg("oci runtime: %s", err.msg);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    bsn_runtime_free(f->rt);
    bsn_loop_free(f->loop);
    bsn_image_store_close(f->images);
    rt_rm_rf(f->dir);
    free(f);
    return 0;
}

static void
run_until(struct fx *f, int *counter, int want, int ms)
{
    uint64_t end = bsn_mono_ms() + (uint64_t)ms;
    while (*counter < want && bsn_mono_ms() < end)
        bsn_loop_run_once(f->loop, 50);
}

static void
started_cb(void *data, int rc, const struct bsn_err *err)
{
    struct fx *f = data;
    if (rc < 0)
        print_message("start failed: %s\n", err->msg);
    f->started += rc == 0 ? 1 : 1000;
}

static void
stopped_cb(void *data, int rc, const struct bsn_err *err)
{
    ((struct fx *)data)->stopped++;
}

static char *
read_log(struct fx *f, const char *id)
{
    /* The pipes may still hold data after the exit: let the loop drain them. */
    for (int i = 0; i < 10; i++)
        bsn_loop_run_once(f->loop, 20);
    return rt_read_file(bsn_runtime_log_path(f->rt, id), 1 << 20, NULL);
}

static bool
mounts_mention(const char *s)
{
    BSN_AUTOFREE char *m = rt_read_file("/proc/self/mounts", 1 << 22, NULL);
    return m && strstr(m, s);
}

struct cg_probe {
    bool exists;
};

static void
make_sandbox(struct fx *f, char id[65], struct bsn_sandbox_status *st)
{
    char logdir[400];
    snprintf(logdir, sizeof(logdir), "%s/logs/default_%s_uid", f->dir, f->hostname);
    struct bsn_sandbox_config sc = {
        .namespace_ = "default", .name = f->hostname, .uid = "uid", .log_dir = logdir};
    struct bsn_err err = {0};
    if (bsn_runtime_sandbox_create(f->rt, &sc, id, &err) < 0)
        fail_msg("sandbox: %s", err.msg);
    assert_int_equal(bsn_runtime_sandbox_status(f->rt, id, st, &err), 0);
}

static void
test_oci_lifecycle(void **state)
{
    struct fx *f = *state;
    char sb[65], id[65];
    struct bsn_sandbox_status ss;
    make_sandbox(f, sb, &ss);
    struct stat sst;
    assert_int_equal(stat(ss.netns_path, &sst), 0);
    assert_true(mounts_mention(ss.netns_path));
    assert_string_equal(strrchr(ss.netns_path, '/') + 1, sb);
    struct bsn_err err = {0};

    /* 1. hostname, exit code, stdout/stderr in the log, pod files mounted. */
    const char *argv[] = {"/bin/sh", "-c",
                          "hostname; echo err >&2; test -s /etc/hosts && echo hosts-ok; "
                          "cat /etc/hostname; exit 7",
                          NULL};
    struct bsn_container_config cc = {.name = "main", .image = "bsn-test/busybox:1", .argv = argv};
    if (bsn_runtime_container_create(f->rt, sb, &cc, id, &err) < 0)
        fail_msg("create: %s", err.msg);
    BSN_AUTOFREE char *cdir = bsn_sprintf("%s/state/containers/%s/rootfs", f->dir, id);
    assert_true(mounts_mention(cdir));
    assert_int_equal(bsn_runtime_container_start(f->rt, id, started_cb, f, &err), 0);
    run_until(f, &f->started, 1, 10000);
    assert_int_equal(f->started, 1);
    run_until(f, &f->exits, 1, 10000);
    struct bsn_container_status st;
    bsn_runtime_container_status(f->rt, id, &st, &err);
    assert_int_equal(st.state, BSN_CONTAINER_EXITED);
    assert_int_equal(st.exit_code, 7);
    assert_string_equal(st.reason, "Error");
    assert_string_equal(st.image, "bsn-test/busybox:1");
    assert_true(bsn_str_has_prefix(bsn_str_c(st.image_id), "docker.io/bsn-test/busybox@sha256:"));
    BSN_AUTOFREE char *log = read_log(f, id);
    BSN_AUTOFREE char *want = bsn_sprintf(" stdout F %s\n", f->hostname);
    assert_non_null(log);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, " stderr F err\n"));
    assert_non_null(strstr(log, " stdout F hosts-ok\n"));
    assert_int_equal(bsn_runtime_container_remove(f->rt, id, &err), 0);
    assert_false(mounts_mention(cdir));

    /* 1b. securityContext: runAsUser/Group, read-only root, all capabilities dropped. */
    const char *sec_argv[] = {"/bin/sh", "-c",
                              "id -u; id -g; touch /x 2>/dev/null && echo rw || echo ro; "
                              "grep CapEff /proc/self/status",
                              NULL};
    const char *drop_all[] = {"ALL", NULL};
    struct bsn_container_config cs = {
        .name = "secure", .image = "bsn-test/busybox:1", .argv = sec_argv};
    cs.security = (struct bsn_security){.has_run_as_user = true,
                                        .run_as_user = 1000,
                                        .has_run_as_group = true,
                                        .run_as_group = 3000,
                                        .readonly_rootfs = true,
                                        .cap_drop = drop_all,
                                        .no_new_privs = true,
                                        .seccomp_runtime_default = true};
    char ids[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cs, ids, &err), 0);
    int ex0 = f->exits;
    assert_int_equal(bsn_runtime_container_start(f->rt, ids, NULL, NULL, &err), 0);
    run_until(f, &f->exits, ex0 + 1, 10000);
    BSN_AUTOFREE char *slog = read_log(f, ids);
    assert_non_null(strstr(slog, " stdout F 1000\n"));
    assert_non_null(strstr(slog, " stdout F 3000\n"));
    assert_non_null(strstr(slog, " stdout F ro\n"));
    assert_non_null(strstr(slog, "stdout F CapEff:\t0000000000000000"));
    assert_int_equal(bsn_runtime_container_remove(f->rt, ids, &err), 0);

    /* 1c. Users by name: an image whose config says User "app:staff", and runAsUser taking
     * its primary group from the image's /etc/passwd. */
    struct bsn_image_config base;
    assert_int_equal(bsn_image_resolve(f->images, "bsn-test/busybox:1", &base, &err), 0);
    json_t *man = rt_img_blob_json(f->images, base.digest, &err);
    const char *cfgd = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
    json_t *cfgj = rt_img_blob_json(f->images, cfgd, &err);
    json_object_set_new(json_object_get(cfgj, "config"), "User", json_string("app:staff"));
    char ncd[72], nmd[72];
    int64_t ncs = 0;
    assert_int_equal(rt_img_blob_put_json(f->images, cfgj, ncd, &ncs, &err), 0);
    json_object_set_new(json_object_get(man, "config"), "digest", json_string(ncd));
    json_object_set_new(json_object_get(man, "config"), "size", json_integer(ncs));
    assert_int_equal(rt_img_blob_put_json(f->images, man, nmd, NULL, &err), 0);
    assert_int_equal(rt_img_commit(f->images, nmd, "bsn-test/busybox:user", &err), 0);
    json_decref(man);
    json_decref(cfgj);
    bsn_image_config_fini(&base);
    const char *idargv[] = {"/bin/sh", "-c", "echo ids:$(id -u):$(id -g)", NULL};
    const char *uimgs[] = {"bsn-test/busybox:user", "bsn-test/busybox:1"};
    const char *uwant[] = {" stdout F ids:1234:4321\n", " stdout F ids:1234:5678\n"};
    for (int k = 0; k < 2; k++) {
        struct bsn_container_config cu = {
            .name = k ? "runas" : "named", .image = uimgs[k], .argv = idargv};
        if (k)
            cu.security = (struct bsn_security){.has_run_as_user = true, .run_as_user = 1234};
        char idu[65];
        assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cu, idu, &err), 0);
        int eu = f->exits;
        assert_int_equal(bsn_runtime_container_start(f->rt, idu, NULL, NULL, &err), 0);
        run_until(f, &f->exits, eu + 1, 10000);
        BSN_AUTOFREE char *ulog = read_log(f, idu);
        if (!strstr(ulog, uwant[k]))
            fail_msg("want '%s' in log: %s", uwant[k], ulog);
        assert_int_equal(bsn_runtime_container_remove(f->rt, idu, &err), 0);
    }

    /* 2. Image defaults (entrypoint + cmd) and exec into a running container; stop falls back
     * to SIGKILL because pid 1 without a TERM handler ignores SIGTERM. */
    struct bsn_container_config c2 = {.name = "sleeper", .image = "bsn-test/busybox:1"};
    const char *sargv[] = {"/bin/sh", "-c", "echo default-ok; exec sleep 60", NULL};
    c2.argv = NULL;
    char id2[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &c2, id2, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id2, started_cb, f, &err), 0);
    run_until(f, &f->started, 2, 10000);
    run_until(f, &f->exits, 2, 10000);
    BSN_AUTOFREE char *log2 = read_log(f, id2);
    assert_non_null(strstr(log2, " stdout F default\n"));
    assert_int_equal(bsn_runtime_container_remove(f->rt, id2, &err), 0);
    c2.argv = sargv;
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &c2, id2, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id2, started_cb, f, &err), 0);
    run_until(f, &f->started, 3, 10000);
    assert_int_equal(f->started, 3);
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *eargv[] = {"/bin/sh", "-c", "echo exec:$HOSTNAME:$X; exit 4", NULL};
    const char *eenv[] = {"X=y", NULL};
    struct bsn_exec_config ec = {
        .argv = eargv, .env = eenv, .fd_in = -1, .fd_out = p[1], .fd_err = -1};
    pid_t epid;
    assert_int_equal(bsn_runtime_exec(f->rt, id2, &ec, &epid, &err), 0);
    close(p[1]);
    char buf[256] = {0};
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    BSN_AUTOFREE char *ewant = bsn_sprintf("exec:%s:y\n", f->hostname);
    assert_string_equal(buf, ewant);
    int wst;
    assert_int_equal(waitpid(epid, &wst, 0), epid);
    assert_int_equal(WEXITSTATUS(wst), 4);
    /* exec with a tty (runc --tty --console-socket). */
    int master = -1;
    const char *targv[] = {"/bin/sh", "-c",
                           "test -t 0 && test -t 1 && echo tty-yes; read x; echo got-$x", NULL};
    struct bsn_exec_config tc = {.argv = targv, .tty = true, .pty_master = &master};
    if (bsn_runtime_exec(f->rt, id2, &tc, &epid, &err) < 0)
        fail_msg("tty exec: %s", err.msg);
    assert_int_equal(write(master, "abc\n", 4), 4);
    char tbuf[512] = {0};
    size_t tl = 0;
    uint64_t tend = bsn_mono_ms() + 5000;
    while (!strstr(tbuf, "got-abc") && bsn_mono_ms() < tend) {
        ssize_t r = read(master, tbuf + tl, sizeof(tbuf) - 1 - tl);
        if (r <= 0)
            break;
        tl += (size_t)r;
    }
    close(master);
    assert_non_null(strstr(tbuf, "tty-yes"));
    assert_non_null(strstr(tbuf, "got-abc"));
    assert_int_equal(waitpid(epid, &wst, 0), epid);
    assert_int_equal(WEXITSTATUS(wst), 0);

    uint64_t t0 = bsn_mono_ms();
    assert_int_equal(bsn_runtime_container_stop(f->rt, id2, 300, stopped_cb, f, &err), 0);
    run_until(f, &f->stopped, 1, 10000);
    assert_int_equal(f->stopped, 1);
    assert_true(bsn_mono_ms() - t0 >= 300);
    bsn_runtime_container_status(f->rt, id2, &st, &err);
    assert_int_equal(st.signal, SIGKILL);
    assert_int_equal(st.exit_code, 137);
    assert_string_equal(st.reason, "Error");

    /* 2a. stdin_open: the agent writes the container's stdin. */
    const char *rargv[] = {"/bin/sh", "-c", "read l; echo got:$l", NULL};
    struct bsn_container_config cr = {
        .name = "reader", .image = "bsn-test/busybox:1", .argv = rargv, .stdin_open = true};
    char idr[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cr, idr, &err), 0);
    int sr = f->started, er = f->exits;
    assert_int_equal(bsn_runtime_container_start(f->rt, idr, started_cb, f, &err), 0);
    run_until(f, &f->started, sr + 1, 10000);
    int in = bsn_runtime_container_stdin(f->rt, idr);
    assert_true(in >= 0);
    assert_int_equal(write(in, "hello\n", 6), 6);
    bsn_runtime_container_close_stdin(f->rt, idr);
    run_until(f, &f->exits, er + 1, 10000);
    BSN_AUTOFREE char *rlog = read_log(f, idr);
    assert_non_null(strstr(rlog, " stdout F got:hello\n"));

    /* 2a'. tty: true — output through a pseudo-terminal, stdin written to it. */
    const char *ttargv[] = {"/bin/sh", "-c",
                            "test -t 0 && test -t 1 && echo is-tty; read l; echo got-$l", NULL};
    struct bsn_container_config ct = {.name = "tty",
                                      .image = "bsn-test/busybox:1",
                                      .argv = ttargv,
                                      .tty = true,
                                      .stdin_open = true};
    char idt[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &ct, idt, &err), 0);
    int stt = f->started, ett = f->exits;
    assert_int_equal(bsn_runtime_container_start(f->rt, idt, started_cb, f, &err), 0);
    run_until(f, &f->started, stt + 1, 10000);
    assert_int_equal(f->started, stt + 1);
    int tin = bsn_runtime_container_stdin(f->rt, idt);
    assert_true(tin >= 0);
    assert_int_equal(write(tin, "xyz\n", 4), 4);
    run_until(f, &f->exits, ett + 1, 10000);
    BSN_AUTOFREE char *tlog = read_log(f, idt);
    if (!strstr(tlog, " stdout F is-tty") || !strstr(tlog, " stdout F got-xyz"))
        fail_msg("tty log: %s", tlog);
    bsn_runtime_container_status(f->rt, idt, &st, &err);
    assert_int_equal(st.exit_code, 0);

    /* 2b. A pid 1 that handles SIGTERM exits gracefully within the grace period. */
    const char *gargv[] = {"/bin/sh", "-c",
                           "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
                           NULL};
    struct bsn_container_config cgr = {
        .name = "graceful", .image = "bsn-test/busybox:1", .argv = gargv};
    char idg[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cgr, idg, &err), 0);
    int sg = f->started;
    assert_int_equal(bsn_runtime_container_start(f->rt, idg, started_cb, f, &err), 0);
    run_until(f, &f->started, sg + 1, 10000);
    for (int i = 0; i < 100; i++) { /* wait until the trap is installed */
        BSN_AUTOFREE char *gl = read_log(f, idg);
        if (gl && strstr(gl, "stdout F ready"))
            break;
    }
    t0 = bsn_mono_ms();
    int stg = f->stopped;
    assert_int_equal(bsn_runtime_container_stop(f->rt, idg, 10000, stopped_cb, f, &err), 0);
    run_until(f, &f->stopped, stg + 1, 10000);
    assert_true(bsn_mono_ms() - t0 < 5000);
    bsn_runtime_container_status(f->rt, idg, &st, &err);
    assert_int_equal(st.exit_code, 0);
    assert_string_equal(st.reason, "Completed");
    BSN_AUTOFREE char *glog = read_log(f, idg);
    assert_non_null(strstr(glog, " stdout F bye\n"));

    /* 2c. Stats from the container's cgroup. */
    const char *busy[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    struct bsn_container_config cb2 = {.name = "busy", .image = "bsn-test/busybox:1", .argv = busy};
    char idb[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cb2, idb, &err), 0);
    int sbz = f->started;
    assert_int_equal(bsn_runtime_container_start(f->rt, idb, started_cb, f, &err), 0);
    run_until(f, &f->started, sbz + 1, 10000);
    struct bsn_container_stats cs0, cs1;
    if (bsn_runtime_container_stats(f->rt, idb, &cs0, &err) < 0)
        fail_msg("stats: %s", err.msg);
    uint64_t send = bsn_mono_ms() + 400;
    while (bsn_mono_ms() < send)
        bsn_loop_run_once(f->loop, 50);
    assert_int_equal(bsn_runtime_container_stats(f->rt, idb, &cs1, &err), 0);
    assert_true(cs1.cpu_usage_ns > cs0.cpu_usage_ns);
    assert_true(cs1.memory_working_set > 0);
    int stb = f->stopped;
    assert_int_equal(bsn_runtime_container_stop(f->rt, idb, 0, stopped_cb, f, &err), 0);
    run_until(f, &f->stopped, stb + 1, 10000);

    /* 3. A memory hog in 32 MiB is OOMKilled. */
    const char *hog[] = {"/bin/sh", "-c", "a=xxxxxxxx; while :; do a=\"$a$a\"; done", NULL};
    struct bsn_container_config c3 = {.name = "hog", .image = "bsn-test/busybox:1", .argv = hog};
    c3.resources.memory_limit_bytes = 32 << 20;
    char id3[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &c3, id3, &err), 0);
    int exits = f->exits;
    assert_int_equal(bsn_runtime_container_start(f->rt, id3, started_cb, f, &err), 0);
    run_until(f, &f->exits, exits + 1, 30000);
    bsn_runtime_container_status(f->rt, id3, &st, &err);
    assert_int_equal(st.state, BSN_CONTAINER_EXITED);
    assert_string_equal(st.reason, "OOMKilled");
    assert_int_equal(st.signal, SIGKILL);

    /* 3b. Removing the image of a live container keeps its layers (overlay lowerdirs). */
    const char *slp[] = {"/bin/sleep", "60", NULL};
    struct bsn_container_config cl = {
        .name = "layer-user", .image = "bsn-test/busybox:1", .argv = slp};
    char idl[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cl, idl, &err), 0);
    struct bsn_image_config ic;
    assert_int_equal(bsn_image_resolve(f->images, "bsn-test/busybox:1", &ic, &err), 0);
    BSN_AUTOFREE char *layer = bsn_strdup(ic.layer_dirs[0]);
    bsn_image_config_fini(&ic);
    assert_int_equal(bsn_image_remove(f->images, "bsn-test/busybox:1", &err), 0);
    assert_int_equal(stat(layer, &sst), 0);
    assert_int_equal(bsn_runtime_container_remove(f->rt, idl, &err), 0);

    /* 4. Removing the sandbox removes its containers, mounts, netns and cgroups. */
    BSN_AUTOFREE char *statedir = bsn_sprintf("%s/state", f->dir);
    assert_true(mounts_mention(statedir));
    BSN_AUTOFREE char *netns = bsn_strdup(ss.netns_path);
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
    assert_int_equal(stat(netns, &sst), -1);
    assert_false(mounts_mention(netns));
    assert_false(mounts_mention(statedir));
    BSN_AUTOFREE char *cg = rt_read_file("/proc/self/cgroup", 65536, NULL);
    char *mline = strstr(cg, ":memory:");
    assert_non_null(mline);
    mline += 8;
    mline[strcspn(mline, "\n")] = '\0';
    BSN_AUTOFREE char *podcg =
        bsn_sprintf("/sys/fs/cgroup/memory%s/bosun/pod-%s", strcmp(mline, "/") ? mline : "", sb);
    if (stat("/sys/fs/cgroup/memory", &sst) == 0)
        assert_int_equal(stat(podcg, &sst), -1);
    BSN_AUTOFREE char *pidcg = bsn_sprintf("/sys/fs/cgroup/pids/bosun/pod-%s", sb);
    assert_int_equal(stat(pidcg, &sst), -1);
}

static void
test_oci_host_image(void **state)
{
    struct fx *f = *state;
    char sb[65], id[65];
    struct bsn_sandbox_status ss;
    make_sandbox(f, sb, &ss);
    const char *argv[] = {
        "/bin/sh", "-c",
        "cat /etc/hostname; if touch /usr/bsn-probe 2>/dev/null; then echo "
        "writable; else echo readonly; fi; echo x > /tmp/y && cat /tmp/y; "
        "test -x /usr/bin/env && echo host-tools; test -s /etc/shadow && echo shadow-visible "
        "|| echo shadow-hidden; ls /run/bosun /var/lib/bosun 2>/dev/null | wc -l",
        NULL};
    struct bsn_container_config cc = {.name = "hosty", .image = "host", .argv = argv};
    cc.security.seccomp_runtime_default = true;
    cc.security.no_new_privs = true;
    struct bsn_err err = {0};
    if (bsn_runtime_container_create(f->rt, sb, &cc, id, &err) < 0)
        fail_msg("create: %s", err.msg);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, started_cb, f, &err), 0);
    run_until(f, &f->exits, 1, 10000);
    struct bsn_container_status st;
    bsn_runtime_container_status(f->rt, id, &st, &err);
    assert_int_equal(st.exit_code, 0);
    BSN_AUTOFREE char *log = read_log(f, id);
    BSN_AUTOFREE char *want = bsn_sprintf(" stdout F %s\n", f->hostname);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, " stdout F readonly\n"));
    assert_non_null(strstr(log, " stdout F x\n"));
    assert_non_null(strstr(log, " stdout F host-tools\n"));
    assert_non_null(strstr(log, " stdout F shadow-hidden\n"));
    struct stat sst;
    assert_int_equal(stat("/usr/bsn-probe", &sst), -1);

    /* Removed while `runc run` is still starting it: the start fails, nothing is left. */
    const char *sl[] = {"/bin/sleep", "60", NULL};
    struct bsn_container_config cq = {.name = "quick", .image = "host", .argv = sl};
    char idq[65];
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cq, idq, &err), 0);
    int started = f->started;
    assert_int_equal(bsn_runtime_container_start(f->rt, idq, started_cb, f, &err), 0);
    assert_int_equal(bsn_runtime_container_remove(f->rt, idq, &err), 0);
    assert_int_equal(f->started, started + 1000);
    BSN_AUTOFREE char *qroot = bsn_sprintf("%s/state/containers/%s", f->dir, idq);
    assert_false(mounts_mention(qroot));
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
    BSN_AUTOFREE char *statedir = bsn_sprintf("%s/state", f->dir);
    assert_false(mounts_mention(statedir));
}

/* crun refuses cgroup v1/v2 hybrid hosts; either it runs the container or start fails with
 * crun's own message as a StartError (never a hang or a silent exit). */
static void
test_oci_crun(void **state)
{
    struct fx *f = *state;
    if (access("/usr/bin/crun", X_OK) != 0 && access("/usr/local/bin/crun", X_OK) != 0) {
        print_message("crun not installed: skipped\n");
        return;
    }
    char sd[300], nd[300];
    snprintf(sd, sizeof(sd), "%s/state-crun", f->dir);
    snprintf(nd, sizeof(nd), "%s/netns-crun", f->dir);
    struct bsn_runtime_opts o = {.kind = "oci",
                                 .oci_runtime = "crun",
                                 .state_dir = sd,
                                 .netns_dir = nd,
                                 .images = f->images,
                                 .on_exit = on_exit_cb,
                                 .on_exit_data = f};
    struct bsn_err err = {0};
    bsn_runtime_free(f->rt);
    f->rt = bsn_runtime_new(f->loop, &o, &err);
    assert_non_null(f->rt);
    char sb[65], id[65];
    struct bsn_sandbox_status ss;
    make_sandbox(f, sb, &ss);
    const char *argv[] = {"/bin/sh", "-c", "hostname; exit 7", NULL};
    struct bsn_container_config cc = {.name = "c", .image = "bsn-test/busybox:1", .argv = argv};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, started_cb, f, &err), 0);
    run_until(f, &f->started, 1, 10000);
    assert_true(f->started >= 1);
    struct bsn_container_status st;
    if (f->started == 1) {
        run_until(f, &f->exits, 1, 10000);
        bsn_runtime_container_status(f->rt, id, &st, &err);
        assert_int_equal(st.exit_code, 7);
    } else {
        bsn_runtime_container_status(f->rt, id, &st, &err);
        assert_string_equal(st.reason, "StartError");
        assert_true(strlen(st.message) > 10);
        print_message("crun refused: %s\n", st.message);
    }
    assert_int_equal(bsn_runtime_sandbox_remove(f->rt, sb, &err), 0);
    assert_false(mounts_mention(sd));
}

/* A second runtime on the same state dir cleans up what the first one left running. */
static void
test_oci_cleanup_stale(void **state)
{
    struct fx *f = *state;
    char sb[65], id[65];
    struct bsn_sandbox_status ss;
    make_sandbox(f, sb, &ss);
    const char *sl[] = {"/bin/sleep", "60", NULL};
    struct bsn_container_config cc = {.name = "left", .image = "bsn-test/busybox:1", .argv = sl};
    struct bsn_err err = {0};
    assert_int_equal(bsn_runtime_container_create(f->rt, sb, &cc, id, &err), 0);
    assert_int_equal(bsn_runtime_container_start(f->rt, id, started_cb, f, &err), 0);
    run_until(f, &f->started, 1, 10000);
    assert_int_equal(f->started, 1);
    struct bsn_container_status st;
    bsn_runtime_container_status(f->rt, id, &st, &err);
    /* A new runtime object (as after an agent restart) sees only the leftovers. */
    char sd[300], nd[300];
    snprintf(sd, sizeof(sd), "%s/state", f->dir);
    snprintf(nd, sizeof(nd), "%s/netns", f->dir);
    struct bsn_loop *loop2 = bsn_loop_new();
    struct bsn_runtime_opts o = {
        .kind = "oci", .state_dir = sd, .netns_dir = nd, .images = f->images};
    struct bsn_runtime *rt2 = bsn_runtime_new(loop2, &o, &err);
    assert_non_null(rt2);
    assert_int_equal(bsn_runtime_cleanup_stale(rt2), 2);
    /* The container's init was killed by runc delete; it is our child: reap it. */
    int wst = 0;
    assert_int_equal(waitpid(st.pid, &wst, 0), st.pid);
    assert_true(WIFSIGNALED(wst));
    assert_false(mounts_mention(sd));
    assert_false(mounts_mention(ss.netns_path));
    bsn_runtime_free(rt2);
    bsn_loop_free(loop2);
    /* The first runtime's bookkeeping still points at the dead container: forget it. */
    bsn_loop_unwatch_child(f->loop, &rt_container_find(f->rt, id)->child);
    rt_container_find(f->rt, id)->watching = false;
    rt_container_find(f->rt, id)->st.state = BSN_CONTAINER_EXITED;
}

int
main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: oci runtime tests need root\n");
        return 77;
    }
    if (!have_runc()) {
        printf("SKIP: runc not installed\n");
        return 77;
    }
    busybox = find_busybox();
    if (!busybox) {
        printf("SKIP: busybox (busybox-static) not installed\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oci_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_host_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_crun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_cleanup_stale, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
