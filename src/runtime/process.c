/*
 * process.c - the "process" runtime: containers are plain host processes.
 *
 * No root needed. Each container is fork+exec'd with its resolved argv, env and working
 * directory in a new session (its own process group, so stop signals reach the whole group),
 * stdin on /dev/null and stdout/stderr on pipes to the log pump. As root, runAsUser/Group are
 * applied; no_new_privs is always honoured. There is no filesystem, network, PID or resource
 * isolation: see docs/runtime.md.
 *
 * Volume mounts: as root, a container with mounts runs in its own mount namespace (unshare
 * CLONE_NEWNS, everything made private, so nothing propagates back to the host) where each
 * volume is bind-mounted over its mountPath, provided that path already exists on the host
 * with the right type (a directory for a directory, a file for a file): the host's own
 * filesystem is never written to. Exec joins that namespace. Without root, mounts are not
 * made; the agent tells the container where its volumes are (BOSUN_VOLUME_<NAME>).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "runtime/rt_impl.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct proc_container {
    char **argv;
    char **env;
    char *cwd;
    bool has_uid, has_gid;
    uid_t uid;
    gid_t gid;
    bool no_new_privs;
    /* bind mounts made in a private mount namespace (root only), see the header */
    size_t nmounts;
    char **msrc, **mdst;
    bool *mro;
};

static bool
env_has(char **env, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], key, kl) && env[i][kl] == '=')
            return true;
    return false;
}

/* Container env: the config's entries plus PATH and HOSTNAME when not given. */
static char **
build_env(const struct bsn_container_config *cfg, const char *hostname)
{
    size_t n = rt_strv_len(cfg->env);
    char **env = bsn_calloc(n + 3, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        env[k++] = bsn_strdup(cfg->env[i]);
    if (!env_has(env, "PATH"))
        env[k++] = bsn_strdup(DEFAULT_PATH);
    if (!env_has(env, "HOSTNAME"))
        env[k++] = bsn_sprintf("HOSTNAME=%s", hostname);
    return env;
}

static int
proc_sandbox_create(struct bsn_runtime *rt, const struct bsn_sandbox_config *cfg, char id[65],
                    struct bsn_err *err)
{
    struct rt_sandbox *sb = rt_sandbox_new(rt, NULL, cfg, "", err);
    if (!sb)
        return -1;
    memcpy(id, sb->st.id, 65);
    return 0;
}

static int
proc_sandbox_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err)
{
    rt_sandbox_destroy(rt, rt_sandbox_find(rt, id));
    return 0;
}

static int
proc_container_create(struct bsn_runtime *rt, const char *sandbox_id,
                      const struct bsn_container_config *cfg, char id[65], struct bsn_err *err)
{
    if (!cfg->argv || !cfg->argv[0])
        return bsn_err_set(err, 400, "Invalid",
                           "the process runtime needs a resolved command (argv) for %s",
                           cfg->name ? cfg->name : "");
    const struct bsn_security *sec = &cfg->security;
    if ((sec->has_run_as_user || sec->has_run_as_group) && geteuid() != 0) {
        uid_t want = sec->has_run_as_user ? sec->run_as_user : geteuid();
        if (want != geteuid())
            return bsn_err_set(err, 400, "Invalid",
                               "runAsUser %u needs root for the process runtime", (unsigned)want);
    }
    struct rt_sandbox *sb = rt_sandbox_find(rt, sandbox_id);
    struct rt_container *c = rt_container_new(rt, sb, cfg, err);
    if (!c)
        return -1;
    struct proc_container *pc = bsn_calloc(1, sizeof(*pc));
    pc->argv = rt_strv_dup(cfg->argv);
    pc->env = build_env(cfg, sb->hostname);
    pc->cwd = bsn_strdup(cfg->working_dir && *cfg->working_dir ? cfg->working_dir : "/");
    pc->has_uid = sec->has_run_as_user && geteuid() == 0;
    pc->has_gid = sec->has_run_as_group && geteuid() == 0;
    pc->uid = sec->run_as_user;
    pc->gid = sec->run_as_group;
    pc->no_new_privs = sec->no_new_privs;
    if (geteuid() == 0 && cfg->nmounts) {
        pc->msrc = bsn_calloc(cfg->nmounts + 1, sizeof(char *));
        pc->mdst = bsn_calloc(cfg->nmounts + 1, sizeof(char *));
        pc->mro = bsn_calloc(cfg->nmounts, sizeof(bool));
        for (size_t i = 0; i < cfg->nmounts; i++) {
            const struct bsn_mount *m = &cfg->mounts[i];
            struct stat ss, ds;
            if (!m->host_path || !m->container_path || stat(m->host_path, &ss) < 0)
                continue;
            if (stat(m->container_path, &ds) < 0 || S_ISDIR(ss.st_mode) != S_ISDIR(ds.st_mode)) {
                bsn_info("runtime",
                         "container %s: %s does not exist on the host as a %s: volume not "
                         "mounted there (see BOSUN_VOLUME_*)",
                         cfg->name, m->container_path, S_ISDIR(ss.st_mode) ? "directory" : "file");
                continue;
            }
            pc->msrc[pc->nmounts] = bsn_strdup(m->host_path);
            pc->mdst[pc->nmounts] = bsn_strdup(m->container_path);
            pc->mro[pc->nmounts++] = m->readonly;
        }
    }
    c->impl = pc;
    memcpy(id, c->st.id, 65);
    return 0;
}

/* execvpe() searches the agent's PATH; a container's command is looked up in the
 * container's own PATH (from env) instead. Stack buffers only: this runs after fork. */
static void
exec_in_path(char **argv, char **env)
{
    if (strchr(argv[0], '/')) {
        execve(argv[0], argv, env);
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], "PATH=", 5))
            path = env[i] + 5;
    int first_err = ENOENT;
    for (const char *p = path;;) {
        const char *end = strchrnul(p, ':');
        char full[4096];
        int n = snprintf(full, sizeof(full), "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "",
                         argv[0]);
        if (n > 0 && (size_t)n < sizeof(full)) {
            execve(full, argv, env);
            if (errno != ENOENT && errno != ENOTDIR)
                first_err = errno; /* e.g. EACCES: report it unless a later entry works */
        }
        if (!*end)
            break;
        p = end + 1;
    }
    errno = first_err;
}

/* In the child after fork: only async-signal-safe calls until exec. Writes errno to errfd. */
/* In the child: a private mount namespace with the container's binds (container start), or
 * the running container's namespace (exec, join_pid > 0). Async-signal-safe calls only. */
static int
child_mounts(const struct proc_container *pc, pid_t join_pid)
{
    if (!pc->nmounts)
        return 0;
    if (join_pid > 0) {
        char path[64] = "/proc/";
        size_t k = strlen(path);
        char digits[16];
        int nd = 0;
        for (unsigned v = (unsigned)join_pid; v; v /= 10)
            digits[nd++] = (char)('0' + v % 10);
        while (nd)
            path[k++] = digits[--nd];
        memcpy(path + k, "/ns/mnt", 8);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        int rc = setns(fd, CLONE_NEWNS);
        close(fd);
        return rc;
    }
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -1;
    for (size_t i = 0; i < pc->nmounts; i++) {
        if (mount(pc->msrc[i], pc->mdst[i], NULL, MS_BIND | MS_REC, NULL) < 0)
            return -1;
        if (pc->mro[i] &&
            mount(NULL, pc->mdst[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
            return -1;
    }
    return 0;
}

static void __attribute__((noreturn))
child_exec(const struct proc_container *pc, char **argv, char **env, int in, int out, int errfd,
           int report, bool new_session, bool ctty, pid_t join_pid)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    if (new_session)
        setsid();
    int devnull = open("/dev/null", O_RDWR);
    if (in < 0)
        in = devnull;
    if (out < 0)
        out = devnull;
    if (errfd < 0)
        errfd = devnull;
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
        goto fail;
    if (ctty && ioctl(0, TIOCSCTTY, 0) < 0)
        goto fail;
    /* Nothing else of the agent's leaks into the container (the report pipe is already
     * close-on-exec). */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (child_mounts(pc, join_pid) < 0)
        goto fail;
    if (chdir(pc->cwd) < 0)
        goto fail;
    if (pc->has_gid || pc->has_uid) {
        gid_t g = pc->has_gid ? pc->gid : (pc->has_uid ? pc->uid : getgid());
        if (setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0)
            goto fail;
    }
    if (pc->has_uid && setresuid(pc->uid, pc->uid, pc->uid) < 0)
        goto fail;
    if (pc->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        goto fail;
    exec_in_path(argv, env);
fail:;
    int e = errno;
    ssize_t r = write(report, &e, sizeof(e));
    (void)r;
    _exit(127);
}

/* Forks and execs; returns the pid, or -1 with err (exec failures are reported back through a
 * close-on-exec pipe, so "no such file" is an error here rather than a 127 exit later). */
static pid_t
spawn(const struct proc_container *pc, char **argv, char **env, int in, int out, int errfd,
      bool new_session, bool ctty, pid_t join_pid, struct bsn_err *err)
{
    int rep[2];
    if (pipe2(rep, O_CLOEXEC) < 0) {
        bsn_err_set(err, 500, "InternalError", "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(rep[0]);
        close(rep[1]);
        bsn_err_set(err, 500, "InternalError", "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(rep[0]);
        child_exec(pc, argv, env, in, out, errfd, rep[1], new_session, ctty, join_pid);
    }
    close(rep[1]);
    int e = 0;
    ssize_t n;
    do
        n = read(rep[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(rep[0]);
    if (n == (ssize_t)sizeof(e)) {
        waitpid(pid, NULL, 0);
        bsn_err_set(err, 400, "StartError", "exec %s (cwd %s): %s", argv[0], pc->cwd, strerror(e));
        return -1;
    }
    return pid;
}

struct start_done {
    bsn_runtime_done_cb cb;
    void *data;
    int rc;
    struct bsn_err err;
};

static void
start_done_run(struct bsn_loop *loop, void *data)
{
    struct start_done *d = data;
    d->cb(d->data, d->rc, d->rc < 0 ? &d->err : NULL);
    free(d);
}

static int
proc_container_start(struct bsn_runtime *rt, const char *id, bsn_runtime_done_cb cb, void *data,
                     struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    struct proc_container *pc = c->impl;
    struct start_done *d = bsn_calloc(1, sizeof(*d));
    d->cb = cb;
    d->data = data;
    int out[2], in;
    int master = -1, slave = -1;
    if (c->tty) {
        int rc = rt_open_pty(&master, &slave);
        if (rc < 0) {
            bsn_err_set(&d->err, 500, "InternalError", "pty: %s", strerror(-rc));
            d->rc = -1;
        } else if (rt_container_attach_tty(rt, c, master, &d->err) < 0) { /* takes master */
            close(slave);
            d->rc = -1;
        } else {
            pid_t pid = spawn(pc, pc->argv, pc->env, slave, slave, slave, true, true, 0, &d->err);
            close(slave);
            if (pid < 0 || rt_container_running(rt, c, pid, &d->err) < 0)
                d->rc = -1;
        }
    } else if (rt_container_open_logs(rt, c, out, &in, &d->err) < 0) {
        d->rc = -1;
    } else {
        pid_t pid = spawn(pc, pc->argv, pc->env, in, out[0], out[1], true, false, 0, &d->err);
        close(out[0]);
        close(out[1]);
        if (in >= 0)
            close(in);
        if (pid < 0 || rt_container_running(rt, c, pid, &d->err) < 0)
            d->rc = -1;
    }
    if (d->rc < 0)
        rt_container_start_failed(rt, c, &d->err);
    if (cb)
        bsn_loop_defer(rt->loop, start_done_run, d);
    else
        free(d);
    return 0;
}

static int
proc_signal(struct bsn_runtime *rt, struct rt_container *c, int sig)
{
    if (c->st.pid <= 0)
        return -ESRCH;
    /* The container leads its own session/process group: signal the whole group. */
    if (kill(-c->st.pid, sig) == 0)
        return 0;
    return kill(c->st.pid, sig) == 0 ? 0 : -errno;
}

static int
proc_container_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    rt_container_destroy(rt, c);
    return 0;
}

static void
proc_container_fini(struct bsn_runtime *rt, struct rt_container *c)
{
    struct proc_container *pc = c->impl;
    if (!pc)
        return;
    rt_strv_free(pc->argv);
    rt_strv_free(pc->env);
    rt_strv_free(pc->msrc);
    rt_strv_free(pc->mdst);
    free(pc->mro);
    free(pc->cwd);
    free(pc);
    c->impl = NULL;
}

static int
proc_exec(struct bsn_runtime *rt, const char *id, const struct bsn_exec_config *cfg, pid_t *pid,
          struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    struct proc_container *pc = c->impl;
    size_t n1 = rt_strv_len((const char *const *)pc->env), n2 = rt_strv_len(cfg->env);
    char **env = bsn_calloc(n1 + n2 + 1, sizeof(char *));
    memcpy(env, pc->env, n1 * sizeof(char *));
    if (n2)
        memcpy(env + n1, cfg->env, n2 * sizeof(char *));
    char **argv = (char **)cfg->argv;
    int master = -1, slave = -1;
    if (cfg->tty) {
        int rc = rt_open_pty(&master, &slave);
        if (rc < 0) {
            free(env);
            return bsn_err_set(err, 500, "InternalError", "exec in %s: pty: %s", c->st.name,
                               strerror(-rc));
        }
    }
    pid_t join = c->st.state == BSN_CONTAINER_RUNNING ? c->st.pid : 0;
    pid_t p = cfg->tty ? spawn(pc, argv, env, slave, slave, slave, true, true, join, err)
                       : spawn(pc, argv, env, cfg->fd_in, cfg->fd_out, cfg->fd_err, true, false,
                               join, err);
    free(env);
    if (slave >= 0)
        close(slave);
    if (p < 0) {
        if (master >= 0)
            close(master);
        return bsn_err_prefix(err, "exec in %s", c->st.name);
    }
    if (cfg->tty)
        *cfg->pty_master = master;
    *pid = p;
    return 0;
}

/* Sums CPU time and resident memory over the container's process group (/proc/<pid>/stat:
 * pgrp is field 5, utime/stime 14/15, rss 24 in pages). */
static int
proc_stats(struct bsn_runtime *rt, const char *id, struct bsn_container_stats *st,
           struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    DIR *d = opendir("/proc");
    if (!d)
        return bsn_err_set(err, 500, "InternalError", "/proc: %s", strerror(errno));
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    uint64_t ticks = 0, pages = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        BSN_AUTOFREE char *s = rt_read_file(path, 4096, NULL);
        char *rp = s ? strrchr(s, ')') : NULL; /* comm may contain spaces */
        if (!rp)
            continue;
        long pgrp = 0, rss = 0;
        unsigned long ut = 0, stime = 0;
        /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
         * utime stime cutime cstime priority nice threads itreal starttime vsize rss */
        if (sscanf(rp + 2,
                   "%*c %*d %ld %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d "
                   "%*d %*d %*d %*u %*u %ld",
                   &pgrp, &ut, &stime, &rss) != 4)
            continue;
        if (pgrp != c->st.pid)
            continue;
        ticks += ut + stime;
        pages += rss > 0 ? (uint64_t)rss : 0;
    }
    closedir(d);
    st->cpu_usage_ns = ticks * (1000000000ull / (uint64_t)(tick > 0 ? tick : 100));
    st->memory_rss = pages * (uint64_t)page;
    st->memory_working_set = st->memory_rss;
    return 0;
}

/* Process containers of an earlier run cannot be found again (they were plain children of
 * the old agent); only their directories are removed. */
static int
proc_cleanup_stale(struct bsn_runtime *rt)
{
    int n = 0;
    const char *kinds[] = {"containers", "sandboxes"};
    for (int k = 0; k < 2; k++) {
        BSN_AUTOFREE char *dir = bsn_sprintf("%s/%s", rt->state_dir, kinds[k]);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.' || rt_container_find(rt, de->d_name) ||
                rt_sandbox_find(rt, de->d_name))
                continue;
            BSN_AUTOFREE char *p = bsn_sprintf("%s/%s", dir, de->d_name);
            rt_rm_rf(p);
            n++;
        }
        if (d)
            closedir(d);
    }
    return n;
}

int
bsn_process_init(struct bsn_runtime *rt, struct bsn_err *err)
{
    return 0;
}

const struct bsn_runtime_ops bsn_process_ops = {
    .name = "process",
    .sandbox_create = proc_sandbox_create,
    .sandbox_remove = proc_sandbox_remove,
    .container_create = proc_container_create,
    .container_start = proc_container_start,
    .container_remove = proc_container_remove,
    .exec = proc_exec,
    .stats = proc_stats,
};

const struct rt_hooks bsn_process_hooks = {
    .signal = proc_signal,
    .container_fini = proc_container_fini,
    .cleanup_stale = proc_cleanup_stale,
};
