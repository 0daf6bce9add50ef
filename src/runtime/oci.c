/*
 * oci.c - the "oci" runtime: pod sandbox = network namespace (+ pod files), container = OCI
 * bundle run by runc/crun.
 *
 * Sandbox: a new network namespace (loopback up) bind-mounted at <netns_dir>/<id> like
 * `ip netns add`, handed to the net hook; its path goes into every container's spec.
 * Container: rootfs is an overlay mount (image layers as lowerdirs, upper/work in the bundle)
 * or, for image "host", a tmpfs skeleton of read-only binds of the host's top-level
 * directories; config.json from oci_spec.c.
 * Start runs `<runtime> run --detach --pid-file` with stdin on /dev/null and stdout/stderr on
 * the log pump's pipes (the runtime passes them straight to the container process). This
 * process is a child subreaper, so once runc exits the container's init becomes our child and
 * is watched with a pidfd like any process-runtime child; its wait status is the container's.
 * OOM kills are read from the memory cgroup (v1 memory.oom_control oom_kill, v2
 * memory.events oom_kill) before `runc delete` removes the cgroup.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/openat2.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "runtime/image.h"
#include "runtime/oci_spec.h"
#include "runtime/rt_impl.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct oci_runtime {
    char *runc_root; /* --root for runc state */
    bool cgroup_v2;
    bool swap_accounting;
};

struct oci_sandbox {
    char *netns_path;
    bool default_cgroup; /* we chose cgroup_parent: remove it with the sandbox */
};

struct oci_container {
    char *rootfs;
    bool rootfs_mounted;
    char *cgroups_path;
    struct bsn_child runc_child;
    bool runc_running;
    uint64_t runc_t0; /* when `runc run` was spawned (debug log) */
    bsn_runtime_done_cb start_cb;
    void *start_data;
    char **env;        /* final env, for exec */
    int console_lsock; /* tty: listening --console-socket while runc starts, -1 */
    char console_path[108];
};

/* --- helpers --- */

/* Starts argv (PATH lookup) with the given stdio (-1 = /dev/null), signals unblocked and no
 * other descriptor; returns pid or -errno. posix_spawn, not fork: glibc runs the child on our
 * memory (CLONE_VM|CLONE_VFORK) until the exec, so starting `runc run` from the loop copies
 * no page tables and leaves no copy-on-write faults behind, once per container. */
static pid_t
spawn(char *const argv[], int in, int out, int errfd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    const int fds[3] = {in, out, errfd};
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, fds[i], i);
        else
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    int e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return e ? -e : pid;
}

/* Runs argv to completion (short commands only: runc delete/kill). */
static int
run_sync(char *const argv[])
{
    pid_t pid = spawn(argv, -1, -1, -1);
    if (pid < 0)
        return (int)pid;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Calls fn for the directory of `path` in every cgroup hierarchy this process belongs to
 * (relative paths are relative to our own cgroup, as runc treats them). */
static void
cgroup_each(const char *path, void (*fn)(const char *dir, const char *ctrl, void *arg), void *arg)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return;
    struct statfs sfs;
    bool pure_v2 = statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *self = c2 + 1;
        char mnt[512];
        if (!*ctrls)
            snprintf(mnt, sizeof(mnt), pure_v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified");
        else if (!strncmp(ctrls, "name=", 5))
            snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%s", ctrls + 5);
        else
            snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%s", ctrls);
        char dir[1536];
        if (path[0] == '/')
            snprintf(dir, sizeof(dir), "%s%s", mnt, path);
        else
            snprintf(dir, sizeof(dir), "%s%s%s/%s", mnt, self, strcmp(self, "/") ? "" : "", path);
        /* collapse the "//" a root self path leaves */
        for (char *p = strstr(dir, "//"); p; p = strstr(dir, "//"))
            memmove(p, p + 1, strlen(p));
        fn(dir, *ctrls ? ctrls : "unified", arg);
    }
    fclose(f);
}

static void
rmdir_cb(const char *dir, const char *ctrl, void *arg)
{
    rmdir(dir);
}

struct find_memcg {
    bool v2;
    char dir[1536];
};

static void
memcg_cb(const char *dir, const char *ctrl, void *arg)
{
    struct find_memcg *m = arg;
    if ((m->v2 && !strcmp(ctrl, "unified")) || (!m->v2 && strstr(ctrl, "memory")))
        snprintf(m->dir, sizeof(m->dir), "%s", dir);
}

/* The "oom_kill N" counter of a memory cgroup (v1 memory.oom_control, v2 memory.events). */
static long
oom_kills(struct bsn_runtime *rt, const char *cgpath)
{
    struct oci_runtime *o = rt->impl;
    struct find_memcg m = {.v2 = o->cgroup_v2};
    cgroup_each(cgpath, memcg_cb, &m);
    if (!m.dir[0])
        return -1;
    BSN_AUTOFREE char *file =
        bsn_sprintf("%s/%s", m.dir, o->cgroup_v2 ? "memory.events" : "memory.oom_control");
    BSN_AUTOFREE char *s = rt_read_file(file, 65536, NULL);
    const char *p = s ? strstr(s, "oom_kill ") : NULL;
    return p ? strtol(p + 9, NULL, 10) : -1;
}

struct stat_files {
    bool v2;
    char cpu[1536], mem[1536];
};

static void
statdirs_cb(const char *dir, const char *ctrl, void *arg)
{
    struct stat_files *f = arg;
    if (f->v2 && !strcmp(ctrl, "unified")) {
        snprintf(f->cpu, sizeof(f->cpu), "%s", dir);
        snprintf(f->mem, sizeof(f->mem), "%s", dir);
    } else if (!f->v2 && strstr(ctrl, "cpuacct")) {
        snprintf(f->cpu, sizeof(f->cpu), "%s", dir);
    } else if (!f->v2 && strstr(ctrl, "memory")) {
        snprintf(f->mem, sizeof(f->mem), "%s", dir);
    }
}

/* "key value" from a stat file (memory.stat, cpu.stat); 0 if absent. */
static uint64_t
stat_key(const char *s, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == ' ')
            return strtoull(p + kl + 1, NULL, 10);
    return 0;
}

static uint64_t
read_u64(const char *dir, const char *file)
{
    BSN_AUTOFREE char *p = bsn_sprintf("%s/%s", dir, file);
    BSN_AUTOFREE char *s = rt_read_file(p, 4096, NULL);
    return s ? strtoull(s, NULL, 10) : 0;
}

static int console_listen(struct oci_runtime *o, char sockpath[108]);
static int console_receive(int lsock, pid_t runc);

/* --- sandboxes --- */

/* On a helper thread: unshare the thread's network namespace (only that thread moves; the
 * agent's threads stay where they are), loopback up, bind it onto path. The namespace lives
 * on through the bind mount after the thread ends. A thread, not a forked child: no copy of
 * the agent's page tables and no child to schedule and reap, which on a loaded node took
 * tens of milliseconds of the agent's loop per pod during a burst. */
struct netns_job {
    const char *path;
    int err;
};

static void *
netns_thread(void *arg)
{
    struct netns_job *j = arg;
    if (unshare(CLONE_NEWNET) < 0) {
        j->err = errno;
        return NULL;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    if (s >= 0)
        close(s);
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/task/%d/ns/net", (int)gettid());
    if (mount(self, j->path, NULL, MS_BIND, NULL) < 0)
        j->err = errno;
    return NULL;
}

static int
netns_create(const char *path, struct bsn_err *err)
{
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return bsn_err_set(err, 500, "InternalError", "create %s: %s", path, strerror(errno));
    close(fd);
    struct netns_job j = {.path = path};
    pthread_t t;
    int e = pthread_create(&t, NULL, netns_thread, &j);
    if (e == 0) {
        pthread_join(t, NULL);
        e = j.err;
    }
    if (e) {
        unlink(path);
        return bsn_err_set(err, 500, "InternalError", "network namespace %s: %s", path,
                           strerror(e));
    }
    return 0;
}

static void
netns_remove(const char *path)
{
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        bsn_warn("runtime", "umount %s: %s", path, strerror(errno));
    unlink(path);
}

static int
oci_sandbox_create(struct bsn_runtime *rt, const struct bsn_sandbox_config *cfg, char id[65],
                   struct bsn_err *err)
{
    char nsid[65];
    rt_random_id(nsid);
    int rc = rt_mkdir_p(rt->netns_dir, 0755);
    if (rc < 0)
        return bsn_err_set(err, 500, "InternalError", "%s: %s", rt->netns_dir, strerror(-rc));
    BSN_AUTOFREE char *path = bsn_sprintf("%s/%s", rt->netns_dir, nsid);
    uint64_t t0 = bsn_mono_ms();
    if (netns_create(path, err) < 0)
        return -1;
    bsn_debug("runtime", "sandbox %.12s: network namespace %llu ms", nsid,
              (unsigned long long)(bsn_mono_ms() - t0));
    /* The netns file is named like the sandbox so operators can match them up. */
    struct rt_sandbox *sb = rt_sandbox_new(rt, nsid, cfg, path, err);
    if (!sb) {
        netns_remove(path);
        return -1;
    }
    struct oci_sandbox *os = bsn_calloc(1, sizeof(*os));
    os->netns_path = bsn_strdup(path);
    os->default_cgroup = !cfg->cgroup_parent || !*cfg->cgroup_parent;
    sb->impl = os;
    if (os->default_cgroup) {
        /* v1: under the agent's own cgroups, so its limits cover the pods. v2 forbids
         * processes in inner nodes (the agent's cgroup would become one): use /bosun. */
        struct oci_runtime *o = rt->impl;
        free(sb->cgroup_parent);
        sb->cgroup_parent = bsn_sprintf("%sbosun/pod-%s", o->cgroup_v2 ? "/" : "", sb->st.id);
    }
    memcpy(id, sb->st.id, 65);
    return 0;
}

static void
oci_sandbox_fini(struct bsn_runtime *rt, struct rt_sandbox *sb)
{
    struct oci_sandbox *os = sb->impl;
    if (!os)
        return;
    netns_remove(os->netns_path);
    if (os->default_cgroup) {
        cgroup_each(sb->cgroup_parent, rmdir_cb, NULL);
        /* fails quietly while other pods use it */
        cgroup_each(sb->cgroup_parent[0] == '/' ? "/bosun" : "bosun", rmdir_cb, NULL);
    }
    free(os->netns_path);
    free(os);
    sb->impl = NULL;
}

static int
oci_sandbox_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err)
{
    rt_sandbox_destroy(rt, rt_sandbox_find(rt, id));
    return 0;
}

/* --- containers --- */

/* Top-level entries of "/" the OCI runtime mounts itself (or that stay private). */
static bool
host_skip(const char *name)
{
    static const char *const skip[] = {"proc", "sys", "dev", "tmp", "run", NULL};
    for (size_t i = 0; skip[i]; i++)
        if (!strcmp(name, skip[i]))
            return true;
    return false;
}

/*
 * The host image's rootfs: a small writable tmpfs skeleton holding, for each top-level entry
 * of the host's "/", the same symlink or a read-only bind of that directory (the mount found
 * at that path, without its submounts). The skeleton lets the OCI runtime create mount points
 * for volumes at new top-level paths (/app, /data); it is remounted read-only by the runtime
 * afterwards (readonly root), so nothing of the host can be changed.
 */
static int
mount_host_rootfs(struct oci_container *oc, struct bsn_err *err)
{
    if (mount("tmpfs", oc->rootfs, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m") < 0)
        return bsn_err_set(err, 500, "InternalError", "tmpfs on %s: %s", oc->rootfs,
                           strerror(errno));
    oc->rootfs_mounted = true;
    DIR *d = opendir("/");
    if (!d)
        return bsn_err_set(err, 500, "InternalError", "read /: %s", strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
            continue;
        BSN_AUTOFREE char *src = bsn_sprintf("/%s", e->d_name);
        BSN_AUTOFREE char *dst = bsn_sprintf("%s/%s", oc->rootfs, e->d_name);
        struct stat st;
        if (lstat(src, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(src, target, sizeof(target) - 1);
            if (n > 0) {
                target[n] = 0;
                if (symlink(target, dst) < 0)
                    rc = bsn_err_set(err, 500, "InternalError", "symlink %s: %s", dst,
                                     strerror(errno));
            }
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(dst, st.st_mode & 07777) < 0 && errno != EEXIST)
                rc = bsn_err_set(err, 500, "InternalError", "mkdir %s: %s", dst, strerror(errno));
        } else if (S_ISREG(st.st_mode)) {
            int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0)
                close(fd);
        } else {
            continue;
        }
        if (rc < 0 || host_skip(e->d_name))
            continue;
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
            rc = bsn_err_set(err, 500, "InternalError", "bind %s read-only: %s", src,
                             strerror(errno));
    }
    closedir(d);
    return rc;
}

static int
mount_rootfs(struct rt_container *c, const struct bsn_image_config *img, struct bsn_err *err)
{
    struct oci_container *oc = c->impl;
    oc->rootfs = bsn_sprintf("%s/rootfs", c->dir);
    if (mkdir(oc->rootfs, 0755) < 0 && errno != EEXIST)
        return bsn_err_set(err, 500, "InternalError", "mkdir %s: %s", oc->rootfs, strerror(errno));
    if (img->is_host)
        return mount_host_rootfs(oc, err);
    BSN_AUTOFREE char *upper = bsn_sprintf("%s/upper", c->dir);
    BSN_AUTOFREE char *work = bsn_sprintf("%s/work", c->dir);
    BSN_AUTOFREE char *empty = bsn_sprintf("%s/empty", c->dir);
    mkdir(upper, 0755);
    mkdir(work, 0700);
    struct bsn_buf opts;
    bsn_buf_init(&opts);
    bsn_buf_puts(&opts, "lowerdir=");
    if (img->nlayers == 0) {
        mkdir(empty, 0755);
        bsn_buf_puts(&opts, empty);
    }
    for (size_t i = img->nlayers; i-- > 0;) /* overlay wants the top layer first */
        bsn_buf_printf(&opts, "%s%s", img->layer_dirs[i], i ? ":" : "");
    bsn_buf_printf(&opts, ",upperdir=%s,workdir=%s", upper, work);
    int rc = 0;
    if (opts.len >= 4000) /* a mount option string must fit in one page */
        rc = bsn_err_set(err, 400, "BadRequest",
                         "image %s: too many layers for one overlay "
                         "mount (%zu)",
                         img->name, img->nlayers);
    else if (mount("overlay", oc->rootfs, "overlay", 0, opts.data) < 0)
        rc = bsn_err_set(err, 500, "InternalError", "overlay mount on %s: %s", oc->rootfs,
                         strerror(errno));
    else
        oc->rootfs_mounted = true;
    bsn_buf_fini(&opts);
    return rc;
}

static char **
merge_env(char **image_env, const char *const *env, const char *hostname)
{
    size_t n1 = rt_strv_len((const char *const *)image_env), n2 = rt_strv_len(env);
    char **out = bsn_calloc(n1 + n2 + 2, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n1; i++) {
        size_t kl = strcspn(image_env[i], "=");
        bool overridden = false;
        for (size_t j = 0; j < n2; j++)
            overridden |= !strncmp(env[j], image_env[i], kl) && env[j][kl] == '=';
        if (!overridden)
            out[k++] = bsn_strdup(image_env[i]);
    }
    for (size_t j = 0; j < n2; j++)
        out[k++] = bsn_strdup(env[j]);
    bool has_host = false;
    for (size_t i = 0; i < k; i++)
        has_host |= !strncmp(out[i], "HOSTNAME=", 9);
    if (!has_host)
        out[k++] = bsn_sprintf("HOSTNAME=%s", hostname);
    return out;
}

/* Opens path inside rootfs with every symlink resolved inside it (openat2 RESOLVE_IN_ROOT),
 * so an image's /etc/passwd can never point at the host's files. */
static FILE *
open_in_root(const char *rootfs, const char *path)
{
    int rfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return NULL;
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    int fd = (int)syscall(SYS_openat2, rfd, path, &how, sizeof(how));
    close(rfd);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f && fd >= 0)
        close(fd);
    return f;
}

/* Finds a passwd (by name, or by uid when name is NULL) or group entry: fields 0 name,
 * 2 id, 3 primary gid (passwd). Returns 0 and fills id/gid, or -1. */
static int
etc_lookup(const char *rootfs, const char *file, const char *name, uint32_t want_id, uint32_t *id,
           uint32_t *gid)
{
    FILE *f = open_in_root(rootfs, file);
    if (!f)
        return -1;
    char line[1024];
    int rc = -1;
    while (rc < 0 && fgets(line, sizeof(line), f)) {
        char *fields[4] = {0};
        char *p = line;
        for (int i = 0; i < 4 && p; i++) {
            fields[i] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        if (!fields[2])
            continue;
        char *end;
        unsigned long v = strtoul(fields[2], &end, 10);
        if (end == fields[2])
            continue;
        if (name ? strcmp(fields[0], name) != 0 : v != want_id)
            continue;
        *id = (uint32_t)v;
        if (gid)
            *gid = fields[3] ? (uint32_t)strtoul(fields[3], NULL, 10) : 0;
        rc = 0;
    }
    fclose(f);
    return rc;
}

static bool
all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* uid/gid for the container the way Docker and containerd resolve them: the image's User
 * ("name", "uid", "name:group", "uid:gid"; names from the image's /etc/passwd and
 * /etc/group), then runAsUser (primary group from /etc/passwd, else 0) and runAsGroup. */
static int
resolve_user(const char *rootfs, const char *user, const struct bsn_security *sec, uint32_t *uid,
             uint32_t *gid, struct bsn_err *err)
{
    *uid = 0;
    *gid = 0;
    if (user && *user) {
        char u[256], *g;
        snprintf(u, sizeof(u), "%s", user);
        g = strchr(u, ':');
        if (g)
            *g++ = '\0';
        if (all_digits(u)) {
            *uid = (uint32_t)strtoul(u, NULL, 10);
            uint32_t pw_uid;
            if (etc_lookup(rootfs, "/etc/passwd", NULL, *uid, &pw_uid, gid) < 0)
                *gid = 0;
        } else if (etc_lookup(rootfs, "/etc/passwd", u, 0, uid, gid) < 0 && !sec->has_run_as_user) {
            return bsn_err_set(err, 400, "Invalid",
                               "image user '%s' is not in the image's /etc/passwd", u);
        }
        if (g && all_digits(g))
            *gid = (uint32_t)strtoul(g, NULL, 10);
        else if (g && etc_lookup(rootfs, "/etc/group", g, 0, gid, NULL) < 0)
            return bsn_err_set(err, 400, "Invalid",
                               "image group '%s' is not in the image's /etc/group", g);
    }
    if (sec->has_run_as_user) {
        *uid = sec->run_as_user;
        uint32_t pw_uid;
        if (etc_lookup(rootfs, "/etc/passwd", NULL, *uid, &pw_uid, gid) < 0)
            *gid = 0;
    }
    if (sec->has_run_as_group)
        *gid = sec->run_as_group;
    return 0;
}

static int
oci_container_create(struct bsn_runtime *rt, const char *sandbox_id,
                     const struct bsn_container_config *cfg, char id[65], struct bsn_err *err)
{
    struct oci_runtime *o = rt->impl;
    struct rt_sandbox *sb = rt_sandbox_find(rt, sandbox_id);
    struct oci_sandbox *os = sb->impl;
    struct bsn_image_config img = {0};
    if (!cfg->image || !*cfg->image)
        return bsn_err_set(err, 400, "Invalid", "container %s: image is required",
                           cfg->name ? cfg->name : "");
    if (!bsn_image_is_host(cfg->image) && !rt->opts.images)
        return bsn_err_set(err, 500, "InternalError", "the oci runtime has no image store");
    if (bsn_image_resolve(rt->opts.images, cfg->image, &img, err) < 0)
        return -1;
    struct rt_container *c = rt_container_new(rt, sb, cfg, err);
    if (!c) {
        bsn_image_config_fini(&img);
        return -1;
    }
    struct oci_container *oc = bsn_calloc(1, sizeof(*oc));
    oc->console_lsock = -1;
    c->impl = oc;
    uint64_t t0 = bsn_mono_ms();
    if (img.digest) {
        /* imageID as kubelet reports it: the repository with the manifest digest */
        const char *at = strchr(img.name, '@');
        const char *colon = strrchr(img.name, ':');
        const char *slash = strrchr(img.name, '/');
        int repo_len = at                                   ? (int)(at - img.name)
                       : colon && (!slash || colon > slash) ? (int)(colon - img.name)
                                                            : (int)strlen(img.name);
        snprintf(c->st.image_id, sizeof(c->st.image_id), "%.*s@%s", repo_len, img.name, img.digest);
    }
    oc->cgroups_path = bsn_sprintf("%s/%s", sb->cgroup_parent, c->st.id);
    json_t *spec = NULL;
    char **argv = NULL;
    char *data_dir = NULL;
    int rc = -1;
    argv = cfg->argv && cfg->argv[0] ? rt_strv_dup(cfg->argv)
                                     : bsn_image_container_argv(&img, NULL, NULL);
    if (!argv || !argv[0]) {
        bsn_err_set(err, 400, "Invalid",
                    "container %s: no command and image %s has neither "
                    "Entrypoint nor Cmd",
                    cfg->name, img.name);
        goto out;
    }
    oc->env = merge_env(img.env, cfg->env, sb->hostname);
    if (mount_rootfs(c, &img, err) < 0)
        goto out;
    uint32_t uid, gid;
    if (resolve_user(oc->rootfs, img.user, &cfg->security, &uid, &gid, err) < 0)
        goto out;
    struct bsn_oci_spec_in in = {
        .argv = (const char *const *)argv,
        .env = (const char *const *)oc->env,
        .cwd = cfg->working_dir && *cfg->working_dir ? cfg->working_dir
               : img.working_dir                     ? img.working_dir
                                                     : "/",
        .uid = uid,
        .gid = gid,
        .hostname = sb->hostname,
        .rootfs = oc->rootfs,
        .host_image = img.is_host,
        .netns_path = os->netns_path,
        .cgroups_path = oc->cgroups_path,
        .cgroup_v2 = o->cgroup_v2,
        .hosts_path = sb->st.hosts_path,
        .resolv_path = sb->st.resolv_path,
        .hostname_path = sb->st.hostname_path,
        .mounts = cfg->mounts,
        .nmounts = cfg->nmounts,
        .resources = cfg->resources,
        .security = cfg->security,
        .swap_accounting = o->swap_accounting,
        .terminal = cfg->tty,
    };
    /* The host image shows the node's root filesystem: hide its secrets and Bosun's own
     * state (data dir with keys and images, runtime state, network namespaces). */
    data_dir = rt->opts.images ? bsn_strdup(bsn_image_store_root(rt->opts.images)) : NULL;
    if (data_dir && strrchr(data_dir, '/') && strrchr(data_dir, '/') != data_dir)
        *strrchr(data_dir, '/') = '\0';
    const char *host_masked[] = {"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root",
                                 rt->state_dir, rt->netns_dir,  data_dir,       NULL};
    if (img.is_host)
        in.extra_masked = host_masked;
    spec = bsn_oci_spec(&in, err);
    if (!spec)
        goto out;
    char *path = bsn_sprintf("%s/config.json", c->dir);
    int wr = json_dump_file(spec, path, JSON_INDENT(2));
    if (wr < 0)
        bsn_err_set(err, 500, "InternalError", "write %s", path);
    free(path);
    if (wr < 0)
        goto out;
    memcpy(id, c->st.id, 65);
    rc = 0;
    bsn_debug("runtime", "sandbox %.12s container %s: bundle %llu ms", sandbox_id, c->st.name,
              (unsigned long long)(bsn_mono_ms() - t0));
out:
    free(data_dir);
    json_decref(spec);
    rt_strv_free(argv);
    bsn_image_config_fini(&img);
    if (rc < 0)
        rt_container_destroy(rt, c);
    return rc;
}

static char *
runc_error(struct rt_container *c)
{
    /* runc's --log file is JSON lines; the last "msg" is the reason. */
    BSN_AUTOFREE char *path = bsn_sprintf("%s/runc.log", c->dir);
    BSN_AUTOFREE char *s = rt_read_file(path, 1 << 20, NULL);
    if (!s || !*s)
        return bsn_strdup("the OCI runtime failed (no log)");
    char *last = NULL;
    for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n"))
        if (strstr(l, "\"level\":\"error\"") || !last)
            last = l;
    json_t *j = last ? json_loads(last, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "msg"));
    char *out = bsn_strdup(msg ? msg : last ? last : "unknown error");
    json_decref(j);
    return out;
}

static void
runc_run_exited(struct bsn_loop *loop, pid_t pid, int wstatus, void *data)
{
    struct rt_container *c = data;
    struct bsn_runtime *rt = c->rt;
    struct oci_container *oc = c->impl;
    oc->runc_running = false;
    bsn_debug("runtime", "sandbox %.12s container %s: %s run %llu ms", c->sb->st.id, c->st.name,
              rt->oci_runtime, (unsigned long long)(bsn_mono_ms() - oc->runc_t0));
    struct bsn_err err = {0};
    int rc = -1;
    if (oc->console_lsock >= 0) {
        int m = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0
                    ? console_receive(oc->console_lsock, 0)
                    : -ECHILD;
        close(oc->console_lsock);
        oc->console_lsock = -1;
        unlink(oc->console_path);
        if (m >= 0 && rt_container_attach_tty(rt, c, m, &err) < 0)
            m = -EIO;
        if (m < 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
            /* running but without a console: nothing to log; kill it, it cannot be used */
            BSN_AUTOFREE char *pf = bsn_sprintf("%s/pid", c->dir);
            BSN_AUTOFREE char *ps = rt_read_file(pf, 64, NULL);
            if (ps && atoi(ps) > 0)
                kill(atoi(ps), SIGKILL);
        }
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        BSN_AUTOFREE char *pf = bsn_sprintf("%s/pid", c->dir);
        BSN_AUTOFREE char *s = rt_read_file(pf, 64, NULL);
        pid_t cpid = s ? (pid_t)strtol(s, NULL, 10) : 0;
        if (cpid <= 0)
            bsn_err_set(&err, 500, "StartError", "runc did not write a pid file");
        else
            rc = rt_container_running(rt, c, cpid, &err);
    } else {
        BSN_AUTOFREE char *msg = runc_error(c);
        bsn_err_set(&err, 500, "StartError", "%s run: %s", rt->oci_runtime, msg);
    }
    bsn_runtime_done_cb cb = oc->start_cb;
    void *cbdata = oc->start_data;
    oc->start_cb = NULL;
    if (rc < 0)
        rt_container_start_failed(rt, c, &err);
    if (cb)
        cb(cbdata, rc, rc < 0 ? &err : NULL);
}

static int
oci_container_start(struct bsn_runtime *rt, const char *id, bsn_runtime_done_cb cb, void *data,
                    struct bsn_err *err)
{
    struct oci_runtime *o = rt->impl;
    struct rt_container *c = rt_container_find(rt, id);
    struct oci_container *oc = c->impl;
    if (oc->runc_running)
        return bsn_err_set(err, 409, "Conflict", "container %s is starting", c->st.name);
    int out[2] = {-1, -1}, in = -1;
    if (c->tty) {
        /* the pty master arrives on the console socket; the log pump reads it once runc
         * has handed it over (runc_run_exited) */
        oc->console_lsock = console_listen(o, oc->console_path);
        if (oc->console_lsock < 0)
            return bsn_err_set(err, 500, "InternalError", "console socket: %s",
                               strerror(-oc->console_lsock));
    } else if (rt_container_open_logs(rt, c, out, &in, err) < 0) {
        return -1;
    }
    BSN_AUTOFREE char *pidfile = bsn_sprintf("%s/pid", c->dir);
    BSN_AUTOFREE char *logfile = bsn_sprintf("%s/runc.log", c->dir);
    char *argv[20];
    int k = 0;
    argv[k++] = rt->oci_runtime;
    argv[k++] = "--root";
    argv[k++] = o->runc_root;
    argv[k++] = "--log";
    argv[k++] = logfile;
    argv[k++] = "--log-format";
    argv[k++] = "json";
    argv[k++] = "run";
    argv[k++] = "--detach";
    argv[k++] = "--bundle";
    argv[k++] = c->dir;
    argv[k++] = "--pid-file";
    argv[k++] = pidfile;
    if (c->tty) {
        argv[k++] = "--console-socket";
        argv[k++] = oc->console_path;
    }
    argv[k++] = c->st.id;
    argv[k] = NULL;
    pid_t pid = spawn(argv, in, out[0], out[1]);
    if (out[0] >= 0)
        close(out[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (in >= 0)
        close(in);
    if (pid < 0)
        return bsn_err_set(err, 500, "InternalError", "spawn %s: %s", rt->oci_runtime,
                           strerror((int)-pid));
    oc->start_cb = cb;
    oc->start_data = data;
    oc->runc_t0 = bsn_mono_ms();
    int rc = bsn_loop_watch_child(rt->loop, &oc->runc_child, pid, runc_run_exited, c);
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return bsn_err_set(err, 500, "InternalError", "watch runc: %s", strerror(-rc));
    }
    oc->runc_running = true;
    return 0;
}

static int
oci_signal(struct bsn_runtime *rt, struct rt_container *c, int sig)
{
    /* The container's init is our child (subreaper) until we reap it, so its pid cannot be
     * reused under us; killing pid 1 of the pid namespace with SIGKILL takes everything. */
    if (c->st.pid <= 0)
        return -ESRCH;
    return kill(c->st.pid, sig) == 0 ? 0 : -errno;
}

static int
oci_stats(struct bsn_runtime *rt, const char *id, struct bsn_container_stats *st,
          struct bsn_err *err)
{
    struct oci_runtime *o = rt->impl;
    struct rt_container *c = rt_container_find(rt, id);
    struct oci_container *oc = c->impl;
    struct stat_files f = {.v2 = o->cgroup_v2};
    cgroup_each(oc->cgroups_path, statdirs_cb, &f);
    if (!f.cpu[0] || !f.mem[0])
        return bsn_err_set(err, 500, "InternalError", "container %s: no cgroup found", c->st.name);
    BSN_AUTOFREE char *mstat_path = bsn_sprintf("%s/memory.stat", f.mem);
    BSN_AUTOFREE char *mstat = rt_read_file(mstat_path, 1 << 16, NULL);
    uint64_t usage, inactive;
    if (o->cgroup_v2) {
        BSN_AUTOFREE char *cpath = bsn_sprintf("%s/cpu.stat", f.cpu);
        BSN_AUTOFREE char *cstat = rt_read_file(cpath, 1 << 16, NULL);
        st->cpu_usage_ns = (cstat ? stat_key(cstat, "usage_usec") : 0) * 1000;
        usage = read_u64(f.mem, "memory.current");
        inactive = mstat ? stat_key(mstat, "inactive_file") : 0;
        st->memory_rss = mstat ? stat_key(mstat, "anon") + stat_key(mstat, "file_mapped") : 0;
    } else {
        st->cpu_usage_ns = read_u64(f.cpu, "cpuacct.usage");
        usage = read_u64(f.mem, "memory.usage_in_bytes");
        inactive = mstat ? stat_key(mstat, "total_inactive_file") : 0;
        st->memory_rss =
            mstat ? stat_key(mstat, "total_rss") + stat_key(mstat, "total_mapped_file") : 0;
    }
    st->memory_working_set = usage > inactive ? usage - inactive : 0;
    return 0;
}

static const char *
oci_exit_reason(struct bsn_runtime *rt, struct rt_container *c)
{
    struct oci_container *oc = c->impl;
    if (oc && oom_kills(rt, oc->cgroups_path) > 0)
        return "OOMKilled";
    return NULL;
}

static void
oci_container_fini(struct bsn_runtime *rt, struct rt_container *c)
{
    struct oci_runtime *o = rt->impl;
    struct oci_container *oc = c->impl;
    if (!oc)
        return;
    bool was_starting = oc->runc_running;
    if (oc->runc_running) {
        /* Removed while `runc run` is still going: stop it and fail the start. */
        bsn_loop_unwatch_child(rt->loop, &oc->runc_child);
        kill(oc->runc_child.pid, SIGKILL);
        waitpid(oc->runc_child.pid, NULL, 0);
        oc->runc_running = false;
        if (oc->start_cb) {
            struct bsn_err e = {0};
            bsn_err_set(&e, 409, "Conflict", "container %s removed while starting", c->st.name);
            bsn_runtime_done_cb cb = oc->start_cb;
            oc->start_cb = NULL;
            cb(oc->start_data, -1, &e);
        }
    }
    char *argv[] = {rt->oci_runtime, "--root", o->runc_root, "delete", "--force", c->st.id, NULL};
    run_sync(argv);
    if (was_starting) {
        /* Its init (re-parented to us, the subreaper) is dead now: reap it. */
        BSN_AUTOFREE char *pf = bsn_sprintf("%s/pid", c->dir);
        BSN_AUTOFREE char *ps = rt_read_file(pf, 64, NULL);
        pid_t pid = ps ? (pid_t)strtol(ps, NULL, 10) : 0;
        for (int i = 0; pid > 0 && i < 100 && waitpid(pid, NULL, WNOHANG) == 0; i++)
            usleep(10000);
    }
    if (oc->rootfs_mounted && umount2(oc->rootfs, MNT_DETACH) < 0 && errno != ENOENT &&
        errno != EINVAL)
        bsn_warn("runtime", "umount %s: %s", oc->rootfs, strerror(errno));
    /* runc removes the container's cgroup; make sure, in case it never ran. */
    cgroup_each(oc->cgroups_path, rmdir_cb, NULL);
    if (oc->console_lsock >= 0) {
        close(oc->console_lsock);
        unlink(oc->console_path);
    }
    free(oc->rootfs);
    free(oc->cgroups_path);
    rt_strv_free(oc->env);
    free(oc);
    c->impl = NULL;
}

static int
oci_container_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err)
{
    rt_container_destroy(rt, rt_container_find(rt, id));
    return 0;
}

/* A listening Unix socket for runc's --console-socket (path written to sockpath, 108 bytes).
 * Returns the fd or -errno. */
static int
console_listen(struct oci_runtime *o, char sockpath[108])
{
    char rnd[65];
    rt_random_id(rnd);
    /* sun_path is short: keep the socket in the runc root, not the bundle */
    snprintf(sockpath, 108, "%s/c-%.16s.sock", o->runc_root, rnd);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sockpath) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
    int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lsock < 0)
        return -errno;
    if (bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lsock, 1) < 0) {
        int e = errno;
        close(lsock);
        return -e;
    }
    return lsock;
}

/* Receives the pty master runc sends over the console socket (SCM_RIGHTS); waits at most
 * 10 s or until runc exits. Returns the fd or -errno. */
static int
console_receive(int lsock, pid_t runc)
{
    int conn = -1;
    for (int i = 0; i < 200 && conn < 0; i++) {
        struct pollfd p = {.fd = lsock, .events = POLLIN};
        if (poll(&p, 1, 50) > 0)
            conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
        else if (runc <= 0 || waitpid(runc, NULL, WNOHANG) == runc)
            return -ECHILD; /* runc is gone without handing over a console */
    }
    if (conn < 0)
        return -ETIMEDOUT;
    char buf[256];
    char ctrl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof(ctrl)};
    struct pollfd p = {.fd = conn, .events = POLLIN};
    ssize_t n = poll(&p, 1, 10000) > 0 ? recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) : -1;
    close(conn);
    struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
    return fd;
}

static int
oci_exec(struct bsn_runtime *rt, const char *id, const struct bsn_exec_config *cfg, pid_t *pid,
         struct bsn_err *err)
{
    struct oci_runtime *o = rt->impl;
    struct rt_container *c = rt_container_find(rt, id);
    size_t ne = rt_strv_len(cfg->env), na = rt_strv_len(cfg->argv);
    char **argv = bsn_calloc(12 + 2 * ne + na + 1, sizeof(char *));
    size_t k = 0;
    argv[k++] = rt->oci_runtime;
    argv[k++] = "--root";
    argv[k++] = o->runc_root;
    argv[k++] = "exec";
    int lsock = -1;
    char sockpath[108] = "";
    BSN_AUTOFREE char *pidfile = NULL;
    if (cfg->tty) {
        lsock = console_listen(o, sockpath);
        if (lsock < 0) {
            free(argv);
            return bsn_err_set(err, 500, "InternalError", "exec in %s: console socket: %s",
                               c->st.name, strerror(-lsock));
        }
        /* runc only hands out the console in detached mode; the process is then
         * re-parented to us (subreaper) and found through the pid file. */
        argv[k++] = "--detach";
        argv[k++] = "--tty";
        argv[k++] = "--console-socket";
        argv[k++] = sockpath;
        argv[k++] = "--pid-file";
        argv[k++] = pidfile =
            bsn_sprintf("%s/exec-%.16s.pid", c->dir, sockpath + strlen(o->runc_root) + 3);
    } else if (cfg->pid_file) {
        argv[k++] = "--pid-file";
        argv[k++] = (char *)cfg->pid_file;
    }
    for (size_t i = 0; i < ne; i++) {
        argv[k++] = "--env";
        argv[k++] = (char *)cfg->env[i];
    }
    argv[k++] = (char *)id;
    for (size_t i = 0; i < na; i++)
        argv[k++] = (char *)cfg->argv[i];
    pid_t p =
        cfg->tty ? spawn(argv, -1, -1, -1) : spawn(argv, cfg->fd_in, cfg->fd_out, cfg->fd_err);
    free(argv);
    if (p < 0) {
        if (lsock >= 0) {
            close(lsock);
            unlink(sockpath);
        }
        return bsn_err_set(err, 500, "InternalError", "spawn %s exec: %s", rt->oci_runtime,
                           strerror((int)-p));
    }
    if (cfg->tty) {
        int m = console_receive(lsock, p);
        close(lsock);
        unlink(sockpath);
        if (m < 0) {
            if (m != -ECHILD) {
                kill(p, SIGKILL);
                waitpid(p, NULL, 0);
            }
            return bsn_err_set(err, 500, "InternalError", "exec in %s: no console from %s: %s",
                               c->st.name, rt->oci_runtime, strerror(-m));
        }
        int status = 0;
        while (waitpid(p, &status, 0) < 0 && errno == EINTR)
            ;
        BSN_AUTOFREE char *ps = rt_read_file(pidfile, 64, NULL);
        unlink(pidfile);
        p = ps ? (pid_t)strtol(ps, NULL, 10) : 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || p <= 0) {
            close(m);
            return bsn_err_set(err, 500, "InternalError", "exec in %s: %s exec failed", c->st.name,
                               rt->oci_runtime);
        }
        *cfg->pty_master = m;
    }
    *pid = p;
    return 0;
}

/* Removes what an earlier process left under state_dir: runc containers (killed), rootfs
 * mounts, bundles, network namespaces and pod cgroups of its sandboxes. */
static int
oci_cleanup_stale(struct bsn_runtime *rt)
{
    struct oci_runtime *o = rt->impl;
    int n = 0;
    BSN_AUTOFREE char *cdir = bsn_sprintf("%s/containers", rt->state_dir);
    DIR *d = opendir(cdir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || rt_container_find(rt, de->d_name))
            continue;
        char *argv[] = {rt->oci_runtime, "--root",   o->runc_root, "delete",
                        "--force",       de->d_name, NULL};
        run_sync(argv);
        BSN_AUTOFREE char *dir = bsn_sprintf("%s/%s", cdir, de->d_name);
        BSN_AUTOFREE char *rootfs = bsn_sprintf("%s/rootfs", dir);
        umount2(rootfs, MNT_DETACH);
        rt_rm_rf(dir);
        n++;
    }
    if (d)
        closedir(d);
    BSN_AUTOFREE char *sdir = bsn_sprintf("%s/sandboxes", rt->state_dir);
    d = opendir(sdir);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || rt_sandbox_find(rt, de->d_name))
            continue;
        BSN_AUTOFREE char *ns = bsn_sprintf("%s/%s", rt->netns_dir, de->d_name);
        netns_remove(ns);
        BSN_AUTOFREE char *cg = bsn_sprintf("%sbosun/pod-%s", o->cgroup_v2 ? "/" : "", de->d_name);
        cgroup_each(cg, rmdir_cb, NULL);
        BSN_AUTOFREE char *dir = bsn_sprintf("%s/%s", sdir, de->d_name);
        rt_rm_rf(dir);
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void
oci_destroy(struct bsn_runtime *rt)
{
    struct oci_runtime *o = rt->impl;
    if (!o)
        return;
    free(o->runc_root);
    free(o);
    rt->impl = NULL;
}

static bool
in_path(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    BSN_AUTOFREE char *copy =
        bsn_strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin");
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        BSN_AUTOFREE char *p = bsn_sprintf("%s/%s", d, prog);
        if (access(p, X_OK) == 0)
            return true;
    }
    return false;
}

int
bsn_oci_init(struct bsn_runtime *rt, struct bsn_err *err)
{
    if (geteuid() != 0)
        return bsn_err_set(err, 403, "Forbidden", "the oci runtime needs root");
    if (!in_path(rt->oci_runtime))
        return bsn_err_set(err, 400, "BadRequest", "OCI runtime '%s' not found in PATH",
                           rt->oci_runtime);
    /* Containers' init processes become our children once runc exits. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return bsn_err_set(err, 500, "InternalError", "PR_SET_CHILD_SUBREAPER: %s",
                           strerror(errno));
    struct oci_runtime *o = bsn_calloc(1, sizeof(*o));
    o->runc_root = bsn_sprintf("%s/%s", rt->state_dir,
                               strrchr(rt->oci_runtime, '/') ? strrchr(rt->oci_runtime, '/') + 1
                                                             : rt->oci_runtime);
    struct statfs sfs;
    o->cgroup_v2 = statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
    struct stat st;
    o->swap_accounting =
        !o->cgroup_v2 && stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", &st) == 0;
    rt->impl = o;
    int rc = rt_mkdir_p(o->runc_root, 0700);
    if (rc < 0)
        return bsn_err_set(err, 500, "InternalError", "%s: %s", o->runc_root, strerror(-rc));
    return 0;
}

const struct bsn_runtime_ops bsn_oci_ops = {
    .name = "oci",
    .sandbox_create = oci_sandbox_create,
    .sandbox_remove = oci_sandbox_remove,
    .container_create = oci_container_create,
    .container_start = oci_container_start,
    .container_remove = oci_container_remove,
    .exec = oci_exec,
    .stats = oci_stats,
    .destroy = oci_destroy,
};

const struct rt_hooks bsn_oci_hooks = {
    .signal = oci_signal,
    .container_fini = oci_container_fini,
    .sandbox_fini = oci_sandbox_fini,
    .exit_reason = oci_exit_reason,
    .cleanup_stale = oci_cleanup_stale,
};
