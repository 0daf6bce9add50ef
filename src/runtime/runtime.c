/*
 * runtime.c - the generic half of the runtime: vtable dispatch, sandbox and container
 * records, pod files (/etc/hosts, resolv.conf, hostname), the stop state machine (SIGTERM,
 * grace timer, SIGKILL) and exit bookkeeping shared by process.c and oci.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "runtime/rt_impl.h"

const char *
bsn_container_state_name(enum bsn_container_state s)
{
    switch (s) {
    case BSN_CONTAINER_CREATED:
        return "created";
    case BSN_CONTAINER_RUNNING:
        return "running";
    case BSN_CONTAINER_EXITED:
        return "exited";
    default:
        return "unknown";
    }
}

/* --- small helpers --- */

int
rt_open_pty(int *master, int *slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -errno;
    char name[128];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
        int e = errno;
        close(m);
        return -e;
    }
    int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (sl < 0) {
        int e = errno;
        close(m);
        return -e;
    }
    *master = m;
    *slave = sl;
    return 0;
}

void
rt_random_id(char out[65])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        uint64_t t = bsn_mono_ns() ^ (uint64_t)getpid();
        memcpy(raw, &t, sizeof(t));
        memcpy(raw + 8, &t, sizeof(t));
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

int
rt_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int
rm_rf_at(int dirfd, const char *name, dev_t dev)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    if (st.st_dev != dev)
        return -EBUSY; /* a mount point: never descend into another filesystem */
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int r = rm_rf_at(fd, de->d_name, dev);
        if (r < 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

int
rt_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    return rm_rf_at(AT_FDCWD, path, st.st_dev);
}

int
rt_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return -e;
        }
        off += (size_t)n;
    }
    return close(fd) < 0 ? -errno : 0;
}

char *
rt_read_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct bsn_buf b;
    bsn_buf_init(&b);
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (b.len + (size_t)n > max) {
            close(fd);
            bsn_buf_fini(&b);
            errno = EFBIG;
            return NULL;
        }
        bsn_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    if (len)
        *len = b.len;
    bsn_buf_reserve(&b, 1);
    b.data[b.len] = '\0';
    return bsn_buf_take(&b);
}

size_t
rt_strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **
rt_strv_dup(const char *const *v)
{
    if (!v)
        return NULL;
    size_t n = rt_strv_len(v);
    char **out = bsn_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = bsn_strdup(v[i]);
    return out;
}

void
rt_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* --- pod files --- */

char *
bsn_runtime_hosts_content(const struct bsn_sandbox_config *cfg, const char *ip)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_puts(&b, "# Kubernetes-managed hosts file (bosun).\n"
                     "127.0.0.1\tlocalhost\n"
                     "::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "fe00::0\tip6-localnet\n"
                     "fe00::0\tip6-mcastprefix\n"
                     "fe00::1\tip6-allnodes\n"
                     "fe00::2\tip6-allrouters\n");
    const char *host = cfg->hostname && *cfg->hostname ? cfg->hostname : cfg->name;
    if (ip && *ip && host)
        bsn_buf_printf(&b, "%s\t%s\n", ip, host);
    if (cfg->naliases > 0)
        bsn_buf_puts(&b, "\n# Entries added by HostAliases.\n");
    for (size_t i = 0; i < cfg->naliases; i++) {
        const struct bsn_host_alias *a = &cfg->aliases[i];
        if (!a->ip)
            continue;
        bsn_buf_puts(&b, a->ip);
        for (size_t j = 0; a->hostnames && a->hostnames[j]; j++)
            bsn_buf_printf(&b, "\t%s", a->hostnames[j]);
        bsn_buf_putc(&b, '\n');
    }
    bsn_buf_reserve(&b, 1);
    return bsn_buf_take(&b);
}

char *
bsn_runtime_resolv_content(const struct bsn_sandbox_config *cfg)
{
    const struct bsn_dns_config *d = &cfg->dns;
    if (rt_strv_len(d->nameservers) == 0 && rt_strv_len(d->searches) == 0 &&
        rt_strv_len(d->options) == 0) {
        char *host = rt_read_file("/etc/resolv.conf", 65536, NULL);
        return host ? host : bsn_strdup("");
    }
    struct bsn_buf b;
    bsn_buf_init(&b);
    /* resolv.conf honours at most 3 nameservers and 32 search domains (glibc). */
    for (size_t i = 0; d->nameservers && d->nameservers[i] && i < 3; i++)
        bsn_buf_printf(&b, "nameserver %s\n", d->nameservers[i]);
    if (rt_strv_len(d->searches) > 0) {
        bsn_buf_puts(&b, "search");
        for (size_t i = 0; d->searches[i] && i < 32; i++)
            bsn_buf_printf(&b, " %s", d->searches[i]);
        bsn_buf_putc(&b, '\n');
    }
    if (rt_strv_len(d->options) > 0) {
        bsn_buf_puts(&b, "options");
        for (size_t i = 0; d->options[i]; i++)
            bsn_buf_printf(&b, " %s", d->options[i]);
        bsn_buf_putc(&b, '\n');
    }
    bsn_buf_reserve(&b, 1);
    return bsn_buf_take(&b);
}

/* --- records --- */

struct rt_sandbox *
rt_sandbox_find(struct bsn_runtime *rt, const char *id)
{
    for (struct rt_sandbox *sb = rt->sandboxes; sb; sb = sb->next)
        if (id && !strcmp(sb->st.id, id))
            return sb;
    return NULL;
}

struct rt_container *
rt_container_find(struct bsn_runtime *rt, const char *id)
{
    for (struct rt_container *c = rt->containers; c; c = c->next)
        if (id && !strcmp(c->st.id, id))
            return c;
    return NULL;
}

static int
write_pod_files(struct rt_sandbox *sb, const struct bsn_sandbox_config *cfg, struct bsn_err *err)
{
    BSN_AUTOFREE char *hosts = bsn_runtime_hosts_content(cfg, sb->st.ip);
    BSN_AUTOFREE char *resolv = bsn_runtime_resolv_content(cfg);
    BSN_AUTOFREE char *hostname = bsn_sprintf("%s\n", sb->hostname);
    int rc;
    if ((rc = rt_write_file(sb->st.hosts_path, hosts, strlen(hosts), 0644)) < 0 ||
        (rc = rt_write_file(sb->st.resolv_path, resolv, strlen(resolv), 0644)) < 0 ||
        (rc = rt_write_file(sb->st.hostname_path, hostname, strlen(hostname), 0644)) < 0)
        return bsn_err_set(err, 500, "InternalError", "write pod files in %s: %s", sb->dir,
                           strerror(-rc));
    return 0;
}

struct rt_sandbox *
rt_sandbox_new(struct bsn_runtime *rt, const char *id, const struct bsn_sandbox_config *cfg,
               const char *netns_path, struct bsn_err *err)
{
    if (!cfg->name || !*cfg->name || !cfg->log_dir || !*cfg->log_dir) {
        bsn_err_set(err, 400, "Invalid", "sandbox config: name and log_dir are required");
        return NULL;
    }
    struct rt_sandbox *sb = bsn_calloc(1, sizeof(*sb));
    if (id)
        snprintf(sb->st.id, sizeof(sb->st.id), "%s", id);
    else
        rt_random_id(sb->st.id);
    sb->dir = bsn_sprintf("%s/sandboxes/%s", rt->state_dir, sb->st.id);
    sb->log_dir = bsn_strdup(cfg->log_dir);
    sb->hostname =
        bsn_sprintf("%.63s", cfg->hostname && *cfg->hostname ? cfg->hostname : cfg->name);
    sb->cgroup_parent =
        bsn_strdup(cfg->cgroup_parent && *cfg->cgroup_parent ? cfg->cgroup_parent : "/bosun");
    sb->st.created_us = bsn_time_now_us();
    snprintf(sb->st.netns_path, sizeof(sb->st.netns_path), "%s", netns_path ? netns_path : "");
    snprintf(sb->st.hosts_path, sizeof(sb->st.hosts_path), "%s/hosts", sb->dir);
    snprintf(sb->st.resolv_path, sizeof(sb->st.resolv_path), "%s/resolv.conf", sb->dir);
    snprintf(sb->st.hostname_path, sizeof(sb->st.hostname_path), "%s/hostname", sb->dir);
    int rc = rt_mkdir_p(sb->dir, 0755);
    if (rc == 0)
        rc = rt_mkdir_p(sb->log_dir, 0755);
    if (rc < 0) {
        bsn_err_set(err, 500, "InternalError", "create %s: %s", sb->dir, strerror(-rc));
        goto fail;
    }
    if (rt->opts.net_attach) {
        if (rt->opts.net_attach(rt->opts.net_data, sb->st.id, sb->st.netns_path, cfg, sb->st.ip,
                                sizeof(sb->st.ip), err) < 0) {
            bsn_err_prefix(err, "attach pod network");
            goto fail;
        }
    } else if (!sb->st.netns_path[0]) {
        /* Host network: a distinct loopback address per pod (127.1.0.0/16 is routed to lo). */
        unsigned n = ++rt->next_ip;
        snprintf(sb->st.ip, sizeof(sb->st.ip), "127.1.%u.%u", (n / 254) % 256, n % 254 + 1);
    }
    if (write_pod_files(sb, cfg, err) < 0) {
        if (rt->opts.net_detach)
            rt->opts.net_detach(rt->opts.net_data, sb->st.id, sb->st.netns_path);
        goto fail;
    }
    sb->st.ready = true;
    sb->next = rt->sandboxes;
    rt->sandboxes = sb;
    return sb;
fail:
    rt_rm_rf(sb->dir);
    free(sb->dir);
    free(sb->log_dir);
    free(sb->hostname);
    free(sb->cgroup_parent);
    free(sb);
    return NULL;
}

void
rt_sandbox_destroy(struct bsn_runtime *rt, struct rt_sandbox *sb)
{
    for (struct rt_sandbox **pp = &rt->sandboxes; *pp; pp = &(*pp)->next) {
        if (*pp == sb) {
            *pp = sb->next;
            break;
        }
    }
    if (rt->opts.net_detach)
        rt->opts.net_detach(rt->opts.net_data, sb->st.id, sb->st.netns_path);
    if (rt->hooks->sandbox_fini)
        rt->hooks->sandbox_fini(rt, sb);
    rt_rm_rf(sb->dir);
    free(sb->dir);
    free(sb->log_dir);
    free(sb->hostname);
    free(sb->cgroup_parent);
    free(sb);
}

struct rt_container *
rt_container_new(struct bsn_runtime *rt, struct rt_sandbox *sb,
                 const struct bsn_container_config *cfg, struct bsn_err *err)
{
    if (!cfg->name || !*cfg->name || strchr(cfg->name, '/')) {
        bsn_err_set(err, 400, "Invalid", "container config: invalid name '%s'",
                    cfg->name ? cfg->name : "");
        return NULL;
    }
    for (struct rt_container *o = rt->containers; o; o = o->next) {
        if (o->sb == sb && !strcmp(o->st.name, cfg->name)) {
            bsn_err_set(err, 409, "AlreadyExists", "container %s already exists in sandbox %s",
                        cfg->name, sb->st.id);
            return NULL;
        }
    }
    struct rt_container *c = bsn_calloc(1, sizeof(*c));
    c->sb = sb;
    c->rt = rt;
    rt_random_id(c->st.id);
    snprintf(c->st.name, sizeof(c->st.name), "%s", cfg->name);
    snprintf(c->st.image, sizeof(c->st.image), "%s", cfg->image ? cfg->image : "");
    c->st.state = BSN_CONTAINER_CREATED;
    c->st.created_us = bsn_time_now_us();
    c->dir = bsn_sprintf("%s/containers/%s", rt->state_dir, c->st.id);
    c->log_path = cfg->log_path ? bsn_strdup(cfg->log_path)
                                : bsn_sprintf("%s/%s/0.log", sb->log_dir, cfg->name);
    c->child.pidfd = -1;
    c->stdin_open = cfg->stdin_open;
    c->tty = cfg->tty;
    c->stdin_fd = -1;
    bsn_timer_init(&c->kill_timer);
    BSN_AUTOFREE char *logdir = bsn_strdup(c->log_path);
    char *slash = strrchr(logdir, '/');
    if (slash && slash != logdir)
        *slash = '\0';
    int rc = rt_mkdir_p(c->dir, 0700);
    if (rc == 0 && slash)
        rc = rt_mkdir_p(logdir, 0755);
    if (rc < 0) {
        bsn_err_set(err, 500, "InternalError", "create container dirs for %s: %s", cfg->name,
                    strerror(-rc));
        rt_rm_rf(c->dir);
        free(c->dir);
        free(c->log_path);
        free(c);
        return NULL;
    }
    c->next = rt->containers;
    rt->containers = c;
    return c;
}

static void
run_waiters(struct bsn_runtime *rt, struct rt_container *c)
{
    struct rt_waiter *w = c->waiters;
    size_t n = c->nwaiters;
    c->waiters = NULL;
    c->nwaiters = 0;
    for (size_t i = 0; i < n; i++)
        w[i].cb(w[i].data, 0, NULL);
    free(w);
}

void
rt_container_destroy(struct bsn_runtime *rt, struct rt_container *c)
{
    for (struct rt_container **pp = &rt->containers; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    if (c->watching)
        bsn_loop_unwatch_child(rt->loop, &c->child);
    bsn_timer_stop(rt->loop, &c->kill_timer);
    if (rt->hooks->container_fini)
        rt->hooks->container_fini(rt, c);
    bsn_logpump_free(c->pump);
    if (c->stdin_fd >= 0)
        close(c->stdin_fd);
    run_waiters(rt, c);
    rt_rm_rf(c->dir);
    free(c->dir);
    free(c->log_path);
    free(c);
}

int
rt_container_open_logs(struct bsn_runtime *rt, struct rt_container *c, int out[2], int *in,
                       struct bsn_err *err)
{
    *in = -1;
    if (c->stdin_open) {
        int pi[2];
        if (pipe2(pi, O_CLOEXEC) < 0)
            return bsn_err_set(err, 500, "InternalError", "pipe: %s", strerror(errno));
        if (c->stdin_fd >= 0)
            close(c->stdin_fd);
        c->stdin_fd = pi[1];
        fcntl(pi[1], F_SETFL, O_NONBLOCK); /* written from the loop: never block it */
        *in = pi[0];
    }
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0)
        return bsn_err_set(err, 500, "InternalError", "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]);
        close(po[1]);
        return bsn_err_set(err, 500, "InternalError", "pipe: %s", strerror(errno));
    }
    bsn_logpump_free(c->pump);
    c->pump =
        bsn_logpump_new(rt->loop, c->log_path, rt->opts.log_max_bytes, rt->opts.log_max_files, err);
    if (!c->pump) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        if (*in >= 0) {
            close(*in);
            *in = -1;
        }
        return -1;
    }
    bsn_logpump_add(c->pump, po[0], "stdout");
    bsn_logpump_add(c->pump, pe[0], "stderr");
    out[0] = po[1];
    out[1] = pe[1];
    return 0;
}

void
rt_container_exited(struct bsn_runtime *rt, struct rt_container *c, int wstatus, const char *reason)
{
    bsn_timer_stop(rt->loop, &c->kill_timer);
    c->st.state = BSN_CONTAINER_EXITED;
    c->st.finished_us = bsn_time_now_us();
    if (WIFSIGNALED(wstatus)) {
        c->st.signal = WTERMSIG(wstatus);
        c->st.exit_code = 128 + c->st.signal;
    } else {
        c->st.signal = 0;
        c->st.exit_code = WEXITSTATUS(wstatus);
    }
    if (!reason && rt->hooks->exit_reason)
        reason = rt->hooks->exit_reason(rt, c);
    if (!reason)
        reason = c->st.exit_code == 0 ? "Completed" : "Error";
    snprintf(c->st.reason, sizeof(c->st.reason), "%s", reason);
    bsn_debug("runtime", "container %s (%s) exited: code %d signal %d reason %s", c->st.name,
              c->st.id, c->st.exit_code, c->st.signal, c->st.reason);
    c->stopping = false;
    run_waiters(rt, c);
    if (rt->opts.on_exit)
        rt->opts.on_exit(rt->opts.on_exit_data, &c->st);
}

struct exit_note {
    struct bsn_runtime *rt;
    struct bsn_container_status st;
};

static void
exit_note_run(struct bsn_loop *loop, void *data)
{
    struct exit_note *n = data;
    if (n->rt->opts.on_exit)
        n->rt->opts.on_exit(n->rt->opts.on_exit_data, &n->st);
    free(n);
}

void
rt_container_start_failed(struct bsn_runtime *rt, struct rt_container *c, const struct bsn_err *err)
{
    c->st.state = BSN_CONTAINER_EXITED;
    c->st.finished_us = bsn_time_now_us();
    c->st.exit_code = 128;
    snprintf(c->st.reason, sizeof(c->st.reason), "StartError");
    snprintf(c->st.message, sizeof(c->st.message), "%s", err ? err->msg : "start failed");
    run_waiters(rt, c);
    /* Deferred: this may run inside bsn_runtime_container_start() itself. */
    if (rt->opts.on_exit) {
        struct exit_note *n = bsn_calloc(1, sizeof(*n));
        n->rt = rt;
        n->st = c->st;
        bsn_loop_defer(rt->loop, exit_note_run, n);
    }
}

int
rt_container_attach_tty(struct bsn_runtime *rt, struct rt_container *c, int master,
                        struct bsn_err *err)
{
    bsn_logpump_free(c->pump);
    c->pump =
        bsn_logpump_new(rt->loop, c->log_path, rt->opts.log_max_bytes, rt->opts.log_max_files, err);
    if (!c->pump) {
        close(master);
        return -1;
    }
    if (c->stdin_open) {
        if (c->stdin_fd >= 0)
            close(c->stdin_fd);
        c->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
        if (c->stdin_fd >= 0)
            fcntl(c->stdin_fd, F_SETFL, O_NONBLOCK);
    }
    bsn_logpump_add(c->pump, master, "stdout");
    return 0;
}

static void
child_exited(struct bsn_loop *loop, pid_t pid, int wstatus, void *data)
{
    struct rt_container *c = data;
    c->watching = false;
    rt_container_exited(c->rt, c, wstatus, NULL);
}

int
rt_container_running(struct bsn_runtime *rt, struct rt_container *c, pid_t pid, struct bsn_err *err)
{
    c->st.pid = pid;
    c->st.state = BSN_CONTAINER_RUNNING;
    c->st.started_us = bsn_time_now_us();
    int rc = bsn_loop_watch_child(rt->loop, &c->child, pid, child_exited, c);
    if (rc < 0)
        return bsn_err_set(err, 500, "InternalError", "watch pid %d: %s", (int)pid, strerror(-rc));
    c->watching = true;
    return 0;
}

/* --- front end --- */

/* A zombie child of ours whose pid lives in a nested pid namespace and is not its init. */
static bool
orphan_zombie(pid_t pid, pid_t self)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    BSN_AUTOFREE char *stat = rt_read_file(path, 4096, NULL);
    const char *rp = stat ? strrchr(stat, ')') : NULL; /* comm may hold spaces and parentheses */
    char state = 0;
    int ppid = 0;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || state != 'Z' || ppid != self)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    BSN_AUTOFREE char *status = rt_read_file(path, 8192, NULL);
    const char *ns = status ? strstr(status, "\nNSpid:") : NULL;
    if (!ns)
        return false;
    int levels = 0;
    long inner = 0;
    for (const char *p = ns + 8; *p && *p != '\n';) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        levels++;
        inner = v;
        p = end;
    }
    return levels >= 2 && inner != 1;
}

void
rt_reap_orphans(struct bsn_runtime *rt)
{
    siginfo_t si = {0};
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
        return; /* no zombie child at all */
    pid_t self = getpid();
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || !orphan_zombie((pid_t)pid, self) ||
            bsn_loop_child_watched(rt->loop, (pid_t)pid))
            continue;
        bool tracked = false;
        for (struct rt_container *c = rt->containers; c && !tracked; c = c->next)
            tracked = c->st.pid == pid;
        if (!tracked && waitpid((pid_t)pid, NULL, WNOHANG) == pid)
            bsn_debug("runtime", "reaped orphan %ld of a container's pid namespace", pid);
    }
    closedir(d);
}

static void
on_reap_timer(struct bsn_loop *loop, void *data)
{
    struct bsn_runtime *rt = data;
    rt_reap_orphans(rt);
    bsn_timer_start(loop, &rt->reap_timer, 2000, on_reap_timer, rt);
}

/*
 * SIGKILLs a running container and reaps its init, reaping the orphans of its pid namespace
 * meanwhile, for at most 5 s (never forever: this runs on the loop). True when reaped.
 */
static bool
kill_and_reap(struct bsn_runtime *rt, struct rt_container *c, int *status)
{
    rt->hooks->signal(rt, c, SIGKILL);
    for (int i = 0; i < 500; i++) {
        pid_t r = waitpid(c->st.pid, status, WNOHANG);
        if (r == c->st.pid)
            return true;
        if (r < 0)
            return false;
        rt_reap_orphans(rt);
        usleep(10000);
    }
    bsn_warn("runtime", "container %s (pid %d) still there 5 s after SIGKILL", c->st.name,
             (int)c->st.pid);
    return false;
}

struct bsn_runtime *
bsn_runtime_new(struct bsn_loop *loop, const struct bsn_runtime_opts *opts, struct bsn_err *err)
{
    const char *kind = opts->kind ? opts->kind : "process";
    struct bsn_runtime *rt = bsn_calloc(1, sizeof(*rt));
    rt->loop = loop;
    rt->opts = *opts;
    /* Process-runtime pod addresses start at a random point of 127.1.0.0/16, so two nodes (or
     * test servers) on one host rarely hand out the same address. */
    rt->next_ip = (unsigned)(bsn_mono_ns() ^ ((uint64_t)getpid() << 16)) % (254u * 200u);
    bool oci = !strcmp(kind, "oci");
    if (!oci && strcmp(kind, "process") != 0) {
        bsn_err_set(err, 400, "Invalid", "unknown runtime '%s' (expected process or oci)", kind);
        free(rt);
        return NULL;
    }
    rt->state_dir = opts->state_dir ? bsn_strdup(opts->state_dir)
                    : oci           ? bsn_strdup("/run/bosun/runtime")
                                    : bsn_sprintf("/tmp/bosun-runtime-%d", (int)getuid());
    rt->oci_runtime = bsn_strdup(opts->oci_runtime ? opts->oci_runtime : "runc");
    rt->netns_dir = bsn_strdup(opts->netns_dir ? opts->netns_dir : "/run/bosun/netns");
    rt->opts.state_dir = rt->state_dir;
    rt->opts.oci_runtime = rt->oci_runtime;
    rt->opts.netns_dir = rt->netns_dir;
    if (!rt->opts.log_max_bytes)
        rt->opts.log_max_bytes = 10u << 20;
    if (rt->opts.log_max_files <= 0)
        rt->opts.log_max_files = 5;
    rt->ops = oci ? &bsn_oci_ops : &bsn_process_ops;
    rt->hooks = oci ? &bsn_oci_hooks : &bsn_process_hooks;
    int rc = rt_mkdir_p(rt->state_dir, 0711);
    if (rc < 0) {
        bsn_err_set(err, 500, "InternalError", "create state dir %s: %s", rt->state_dir,
                    strerror(-rc));
        goto fail;
    }
    if ((oci ? bsn_oci_init(rt, err) : bsn_process_init(rt, err)) < 0)
        goto fail;
    bsn_timer_init(&rt->reap_timer);
    if (oci)
        bsn_timer_start(loop, &rt->reap_timer, 2000, on_reap_timer, rt);
    return rt;
fail:
    free(rt->state_dir);
    free(rt->oci_runtime);
    free(rt->netns_dir);
    free(rt);
    return NULL;
}

void
bsn_runtime_free(struct bsn_runtime *rt)
{
    if (!rt)
        return;
    while (rt->containers) {
        struct rt_container *c = rt->containers;
        if (c->st.state == BSN_CONTAINER_RUNNING && c->watching) {
            int status = 0;
            if (kill_and_reap(rt, c, &status)) {
                bsn_loop_unwatch_child(rt->loop, &c->child);
                c->watching = false;
                c->st.state = BSN_CONTAINER_EXITED;
            }
        }
        rt_container_destroy(rt, c);
    }
    while (rt->sandboxes)
        rt_sandbox_destroy(rt, rt->sandboxes);
    bsn_timer_stop(rt->loop, &rt->reap_timer);
    if (rt->ops->destroy)
        rt->ops->destroy(rt);
    free(rt->state_dir);
    free(rt->oci_runtime);
    free(rt->netns_dir);
    free(rt);
}

const char *
bsn_runtime_name(const struct bsn_runtime *rt)
{
    return rt->ops->name;
}

int
bsn_runtime_sandbox_create(struct bsn_runtime *rt, const struct bsn_sandbox_config *cfg,
                           char id[65], struct bsn_err *err)
{
    if (rt->ops->sandbox_create(rt, cfg, id, err) < 0)
        return bsn_err_prefix(err, "create sandbox %s/%s", cfg->namespace_ ? cfg->namespace_ : "",
                              cfg->name ? cfg->name : "");
    return 0;
}

int
bsn_runtime_sandbox_status(struct bsn_runtime *rt, const char *id, struct bsn_sandbox_status *st,
                           struct bsn_err *err)
{
    struct rt_sandbox *sb = rt_sandbox_find(rt, id);
    if (!sb)
        return bsn_err_set(err, 404, "NotFound", "sandbox %s not found", id ? id : "");
    *st = sb->st;
    return 0;
}

int
bsn_runtime_sandbox_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err)
{
    struct rt_sandbox *sb = rt_sandbox_find(rt, id);
    if (!sb)
        return bsn_err_set(err, 404, "NotFound", "sandbox %s not found", id ? id : "");
    /* Containers first: kill whatever still runs and reap it synchronously (SIGKILL is quick). */
    for (struct rt_container *c = rt->containers, *next; c; c = next) {
        next = c->next;
        if (c->sb != sb)
            continue;
        if (c->st.state == BSN_CONTAINER_RUNNING && c->watching) {
            int status = 0;
            if (kill_and_reap(rt, c, &status)) {
                bsn_loop_unwatch_child(rt->loop, &c->child);
                c->watching = false;
                rt_container_exited(rt, c, status, NULL);
            }
        }
        struct bsn_err e2 = {0};
        if (rt->ops->container_remove(rt, c->st.id, &e2) < 0)
            bsn_warn("runtime", "remove container %s: %s", c->st.id, e2.msg);
    }
    return rt->ops->sandbox_remove(rt, id, err);
}

int
bsn_runtime_container_create(struct bsn_runtime *rt, const char *sandbox_id,
                             const struct bsn_container_config *cfg, char id[65],
                             struct bsn_err *err)
{
    if (!rt_sandbox_find(rt, sandbox_id))
        return bsn_err_set(err, 404, "NotFound", "sandbox %s not found",
                           sandbox_id ? sandbox_id : "");
    if (rt->ops->container_create(rt, sandbox_id, cfg, id, err) < 0)
        return bsn_err_prefix(err, "create container %s", cfg->name ? cfg->name : "");
    return 0;
}

int
bsn_runtime_container_start(struct bsn_runtime *rt, const char *id, bsn_runtime_done_cb cb,
                            void *data, struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    if (!c)
        return bsn_err_set(err, 404, "NotFound", "container %s not found", id ? id : "");
    if (c->st.state != BSN_CONTAINER_CREATED)
        return bsn_err_set(err, 409, "Conflict", "container %s is %s, not created", c->st.name,
                           bsn_container_state_name(c->st.state));
    return rt->ops->container_start(rt, id, cb, data, err);
}

struct done_later {
    bsn_runtime_done_cb cb;
    void *data;
};

static void
done_later_run(struct bsn_loop *loop, void *data)
{
    struct done_later *d = data;
    d->cb(d->data, 0, NULL);
    free(d);
}

static void
kill_timer_fired(struct bsn_loop *loop, void *data)
{
    struct rt_container *c = data;
    if (c->st.state == BSN_CONTAINER_RUNNING) {
        bsn_info("runtime", "container %s did not exit within its grace period: SIGKILL",
                 c->st.name);
        c->rt->hooks->signal(c->rt, c, SIGKILL);
    }
}

int
bsn_runtime_container_stop(struct bsn_runtime *rt, const char *id, int64_t grace_ms,
                           bsn_runtime_done_cb cb, void *data, struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    if (!c)
        return bsn_err_set(err, 404, "NotFound", "container %s not found", id ? id : "");
    if (c->st.state != BSN_CONTAINER_RUNNING) {
        if (cb) {
            struct done_later *d = bsn_calloc(1, sizeof(*d));
            d->cb = cb;
            d->data = data;
            bsn_loop_defer(rt->loop, done_later_run, d);
        }
        return 0;
    }
    if (cb) {
        c->waiters = bsn_realloc(c->waiters, (c->nwaiters + 1) * sizeof(*c->waiters));
        c->waiters[c->nwaiters++] = (struct rt_waiter){cb, data};
    }
    if (grace_ms < 0)
        grace_ms = 0;
    if (!c->stopping) {
        c->stopping = true;
        rt->hooks->signal(rt, c, grace_ms > 0 ? SIGTERM : SIGKILL);
        if (grace_ms > 0)
            bsn_timer_start(rt->loop, &c->kill_timer, (uint64_t)grace_ms, kill_timer_fired, c);
    } else if (grace_ms == 0) {
        rt->hooks->signal(rt, c, SIGKILL);
    }
    return 0;
}

int
bsn_runtime_container_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    if (!c)
        return bsn_err_set(err, 404, "NotFound", "container %s not found", id ? id : "");
    if (c->st.state == BSN_CONTAINER_RUNNING)
        return bsn_err_set(err, 409, "Conflict", "container %s is running; stop it first",
                           c->st.name);
    return rt->ops->container_remove(rt, id, err);
}

int
bsn_runtime_container_status(struct bsn_runtime *rt, const char *id,
                             struct bsn_container_status *st, struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    if (!c)
        return bsn_err_set(err, 404, "NotFound", "container %s not found", id ? id : "");
    *st = c->st;
    return 0;
}

int
bsn_runtime_container_list(struct bsn_runtime *rt, const char *sandbox_id, char ***ids, size_t *n)
{
    size_t cnt = 0;
    for (struct rt_container *c = rt->containers; c; c = c->next)
        cnt += !sandbox_id || !strcmp(c->sb->st.id, sandbox_id);
    char **out = bsn_calloc(cnt + 1, sizeof(char *));
    size_t i = 0;
    for (struct rt_container *c = rt->containers; c; c = c->next)
        if (!sandbox_id || !strcmp(c->sb->st.id, sandbox_id))
            out[i++] = bsn_strdup(c->st.id);
    *ids = out;
    *n = cnt;
    return 0;
}

int
bsn_runtime_exec(struct bsn_runtime *rt, const char *id, const struct bsn_exec_config *cfg,
                 pid_t *pid, struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    if (!c)
        return bsn_err_set(err, 404, "NotFound", "container %s not found", id ? id : "");
    if (c->st.state != BSN_CONTAINER_RUNNING)
        return bsn_err_set(err, 409, "Conflict", "container %s is not running", c->st.name);
    if (!cfg->argv || !cfg->argv[0])
        return bsn_err_set(err, 400, "Invalid", "exec: empty command");
    if (cfg->tty && !cfg->pty_master)
        return bsn_err_set(err, 400, "Invalid", "exec: tty needs somewhere to put the pty");
    return rt->ops->exec(rt, id, cfg, pid, err);
}

int
bsn_runtime_cleanup_stale(struct bsn_runtime *rt)
{
    int n = rt->hooks->cleanup_stale ? rt->hooks->cleanup_stale(rt) : 0;
    if (n > 0)
        bsn_info("runtime", "removed %d leftovers of an earlier run from %s", n, rt->state_dir);
    return n;
}

int
bsn_runtime_container_stats(struct bsn_runtime *rt, const char *id, struct bsn_container_stats *st,
                            struct bsn_err *err)
{
    struct rt_container *c = rt_container_find(rt, id);
    if (!c)
        return bsn_err_set(err, 404, "NotFound", "container %s not found", id ? id : "");
    if (c->st.state != BSN_CONTAINER_RUNNING)
        return bsn_err_set(err, 409, "Conflict", "container %s is not running", c->st.name);
    memset(st, 0, sizeof(*st));
    st->timestamp_us = bsn_time_now_us();
    return rt->ops->stats(rt, id, st, err);
}

int
bsn_runtime_container_stdin(struct bsn_runtime *rt, const char *id)
{
    struct rt_container *c = rt_container_find(rt, id);
    return c && c->st.state == BSN_CONTAINER_RUNNING ? c->stdin_fd : -1;
}

void
bsn_runtime_container_close_stdin(struct bsn_runtime *rt, const char *id)
{
    struct rt_container *c = rt_container_find(rt, id);
    if (c && c->stdin_fd >= 0) {
        close(c->stdin_fd);
        c->stdin_fd = -1;
    }
}

const char *
bsn_runtime_log_path(struct bsn_runtime *rt, const char *id)
{
    struct rt_container *c = rt_container_find(rt, id);
    return c ? c->log_path : NULL;
}
