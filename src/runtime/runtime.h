/*
 * runtime.h - the container runtime interface the node agent drives pods through.
 *
 * A pod's life on a node:
 *
 *     sandbox_create(cfg)          -> sandbox id; the runtime prepares the pod's shared state
 *                                     (oci: a network namespace bind-mounted at
 *                                     /run/bosun/netns/<id>; both: /etc/hosts, resolv.conf,
 *                                     hostname files) and then calls the network hook
 *                                     (bsn_runtime_opts.net_attach) so the networking layer can
 *                                     plug the pod into the pod network and report its IP.
 *     container_create(sb, cfg)    -> container id (oci: bundle + overlay rootfs + config.json)
 *     container_start(id, cb)      -> async; cb runs on the loop once the process runs
 *     container_status(id)         -> state, pid, exit code, signal, times, reason (OOMKilled)
 *     container_stop(id, grace)    -> async; SIGTERM, SIGKILL after the grace period
 *     container_remove(id)
 *     sandbox_remove(id)           -> net_detach hook, then everything is cleaned up
 *
 * Two implementations sit behind one vtable: "process" (host processes, no root) and "oci"
 * (runc/crun bundles, root). Everything runs on one bsn_loop: child exits are watched with
 * pidfds, container stdout/stderr are pipes read on the loop by the log pump, which writes the
 * CRI log format (`<RFC3339Nano> stdout|stderr F|P <line>`) with size-based rotation.
 *
 * Blocking: create/remove/status calls are synchronous and short (mkdir, mount, writing a
 * file, at most one short `runc delete`); start and stop are asynchronous. The image store
 * (image.h) does the long work (layer unpacking) outside the loop.
 */
#ifndef BSN_RUNTIME_RUNTIME_H
#define BSN_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct bsn_loop;
struct bsn_image_store;
struct bsn_runtime;

/* --- pod sandbox --- */

struct bsn_host_alias {
    const char *ip;
    const char *const *hostnames; /* NULL-terminated */
};

struct bsn_port_mapping {
    int container_port;
    int host_port;        /* 0 = none */
    const char *protocol; /* "TCP" (default), "UDP", "SCTP" */
    const char *host_ip;  /* NULL = all */
};

struct bsn_dns_config {
    const char *const *nameservers; /* NULL-terminated */
    const char *const *searches;    /* NULL-terminated */
    const char *const *options;     /* "ndots:5", ... NULL-terminated */
};

struct bsn_sandbox_config {
    const char *namespace_;               /* pod namespace */
    const char *name;                     /* pod name */
    const char *uid;                      /* pod uid */
    const char *hostname;                 /* defaults to name */
    struct bsn_dns_config dns;            /* -> resolv.conf content */
    const struct bsn_host_alias *aliases; /* hostAliases -> /etc/hosts */
    size_t naliases;
    const struct bsn_port_mapping *ports;
    size_t nports;
    const char *cgroup_parent; /* oci: cgroup path parent, default "/bosun" */
    const char *log_dir;       /* /var/log/pods/<ns>_<name>_<uid>; required */
};

struct bsn_sandbox_status {
    char id[65];
    bool ready;
    char netns_path[256]; /* oci: /run/bosun/netns/<id>; process: "" (host network) */
    char ip[64];          /* pod IP: from the net hook, else the process runtime's 127.x.y.z */
    char hosts_path[512]; /* the files the containers see as /etc/hosts etc. */
    char resolv_path[512];
    char hostname_path[512];
    int64_t created_us;
};

/* --- containers --- */

enum bsn_mount_propagation { BSN_PROP_PRIVATE, BSN_PROP_HOST_TO_CONTAINER, BSN_PROP_BIDIRECTIONAL };

struct bsn_mount {
    const char *host_path;
    const char *container_path;
    bool readonly;
    enum bsn_mount_propagation propagation;
};

struct bsn_resources {
    int64_t cpu_request_millis; /* 0 = unset */
    int64_t cpu_limit_millis;   /* 0 = unlimited */
    int64_t memory_limit_bytes; /* 0 = unlimited */
    int64_t pids_limit;         /* 0 = unlimited */
};

struct bsn_security {
    bool has_run_as_user, has_run_as_group;
    uint32_t run_as_user, run_as_group;
    bool readonly_rootfs;
    const char *const *cap_add;  /* "NET_ADMIN" or "CAP_NET_ADMIN", NULL-terminated; "ALL" ok */
    const char *const *cap_drop; /* NULL-terminated; "ALL" drops the default set */
    bool privileged;
    bool no_new_privs; /* !allowPrivilegeEscalation; default true unless privileged */
    bool seccomp_runtime_default;
};

struct bsn_container_config {
    const char *name;
    const char *image;       /* image ref; "host" = read-only host root (see image.h) */
    const char *const *argv; /* resolved command + args; NULL = image entrypoint + cmd */
    const char *const *env;  /* "K=V", NULL-terminated; appended after the image's env */
    const char *working_dir; /* NULL = image's, else "/" (process runtime: inherit) */
    const struct bsn_mount *mounts;
    size_t nmounts;
    struct bsn_resources resources;
    struct bsn_security security;
    bool stdin_open;      /* stdin is a pipe the agent writes (bsn_runtime_container_stdin);
                        otherwise /dev/null */
    bool tty;             /* accepted but not implemented: stdout/stderr stay pipes */
    const char *log_path; /* NULL = <sandbox log_dir>/<name>/0.log */
};

enum bsn_container_state {
    BSN_CONTAINER_CREATED,
    BSN_CONTAINER_RUNNING,
    BSN_CONTAINER_EXITED,
    BSN_CONTAINER_UNKNOWN,
};

struct bsn_container_status {
    char id[65];
    char name[128];
    enum bsn_container_state state;
    pid_t pid;     /* host pid while running */
    int exit_code; /* 128+signal when killed by a signal (Kubernetes convention) */
    int signal;    /* terminating signal, 0 if exited normally */
    int64_t created_us, started_us, finished_us; /* wall clock, 0 = not yet */
    char image[256];                             /* the image ref the container was created from */
    char image_id[320]; /* resolved "<name>@sha256:<manifest>" (oci); "" for process/host */
    char reason[32];    /* "OOMKilled", "Error", "Completed", "StartError" */
    char message[256];
};

const char *bsn_container_state_name(enum bsn_container_state s);

/* Resource usage (metrics API / kubectl top / HPA). */
struct bsn_container_stats {
    int64_t timestamp_us;        /* wall clock when read */
    uint64_t cpu_usage_ns;       /* cumulative CPU time of all the container's processes */
    uint64_t memory_working_set; /* bytes: usage minus inactive file cache (as kubelet) */
    uint64_t memory_rss;         /* bytes: anonymous + mapped resident memory */
};

/* --- exec --- */

struct bsn_exec_config {
    const char *const *argv;   /* NULL-terminated, required */
    const char *const *env;    /* extra "K=V", may be NULL */
    int fd_in, fd_out, fd_err; /* caller's fds, dup'ed into the child; -1 = /dev/null */
    /* tty: allocate a pseudo-terminal; the process gets its slave side as stdin, stdout,
     * stderr and controlling terminal (fd_* are ignored) and *pty_master receives the master
     * side (caller reads output from it, writes input to it, resizes it with TIOCSWINSZ and
     * closes it). */
    bool tty;
    int *pty_master;
    /* oci, non-tty: the OCI runtime writes the process's host pid here once it runs (the
     * returned pid is the `runc exec` process; kill the real one through this file). The
     * caller removes the file. NULL = none. Ignored by the process runtime. */
    const char *pid_file;
};

/* --- the runtime object --- */

typedef void (*bsn_runtime_done_cb)(void *data, int rc, const struct bsn_err *err);
/* Called on the loop whenever a container's process exits, and after a failed start (reason
 * StartError, reported from the loop, not from inside bsn_runtime_container_start), with the
 * status at that moment. bsn_runtime_sandbox_remove reports the exits of the containers it
 * kills before it returns. */
typedef void (*bsn_runtime_exit_cb)(void *data, const struct bsn_container_status *st);
/* Network hooks supplied by the networking layer. netns_path is "" for the process runtime.
 * attach writes the pod IP into ip (size iplen); returns 0 or -1 with err set. */
typedef int (*bsn_runtime_net_attach_fn)(void *data, const char *sandbox_id, const char *netns_path,
                                         const struct bsn_sandbox_config *cfg, char *ip,
                                         size_t iplen, struct bsn_err *err);
typedef void (*bsn_runtime_net_detach_fn)(void *data, const char *sandbox_id,
                                          const char *netns_path);

struct bsn_runtime_opts {
    const char *kind;               /* "process" or "oci" */
    const char *state_dir;          /* bundles, pod files; default /run/bosun/runtime (oci) */
    const char *oci_runtime;        /* "runc" (default) or "crun", or a path */
    const char *netns_dir;          /* default /run/bosun/netns */
    struct bsn_image_store *images; /* required for oci (except image "host") */
    size_t log_max_bytes;           /* rotate a container log above this; default 10 MiB */
    int log_max_files;              /* files kept including the live one; default 5 */
    bsn_runtime_exit_cb on_exit;
    void *on_exit_data;
    bsn_runtime_net_attach_fn net_attach; /* optional */
    bsn_runtime_net_detach_fn net_detach; /* optional */
    void *net_data;
};

/* The vtable; each implementation fills one. Stop is generic (runtime.c): SIGTERM, a grace
 * timer, SIGKILL, through the implementation's signal hook (rt_impl.h). */
struct bsn_runtime_ops {
    const char *name;
    int (*sandbox_create)(struct bsn_runtime *rt, const struct bsn_sandbox_config *cfg, char id[65],
                          struct bsn_err *err);
    int (*sandbox_remove)(struct bsn_runtime *rt, const char *id, struct bsn_err *err);
    int (*container_create)(struct bsn_runtime *rt, const char *sandbox_id,
                            const struct bsn_container_config *cfg, char id[65],
                            struct bsn_err *err);
    int (*container_start)(struct bsn_runtime *rt, const char *id, bsn_runtime_done_cb cb,
                           void *data, struct bsn_err *err);
    int (*container_remove)(struct bsn_runtime *rt, const char *id, struct bsn_err *err);
    int (*exec)(struct bsn_runtime *rt, const char *id, const struct bsn_exec_config *cfg,
                pid_t *pid, struct bsn_err *err);
    int (*stats)(struct bsn_runtime *rt, const char *id, struct bsn_container_stats *st,
                 struct bsn_err *err);
    void (*destroy)(struct bsn_runtime *rt);
};

/* Creates a runtime of opts->kind on loop. NULL with err set on failure (unknown kind, oci
 * without root or without the OCI runtime binary). */
struct bsn_runtime *bsn_runtime_new(struct bsn_loop *loop, const struct bsn_runtime_opts *opts,
                                    struct bsn_err *err);
/* Kills every container still running (SIGKILL), removes all sandboxes, frees. */
void bsn_runtime_free(struct bsn_runtime *rt);
const char *bsn_runtime_name(const struct bsn_runtime *rt);

int bsn_runtime_sandbox_create(struct bsn_runtime *rt, const struct bsn_sandbox_config *cfg,
                               char id[65], struct bsn_err *err);
int bsn_runtime_sandbox_status(struct bsn_runtime *rt, const char *id,
                               struct bsn_sandbox_status *st, struct bsn_err *err);
/* Stops (SIGKILL) and removes the sandbox's remaining containers first. */
int bsn_runtime_sandbox_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err);

int bsn_runtime_container_create(struct bsn_runtime *rt, const char *sandbox_id,
                                 const struct bsn_container_config *cfg, char id[65],
                                 struct bsn_err *err);
/* Starts a created container. cb (may be NULL) runs on the loop with rc 0 once the process
 * runs, or rc < 0 and err (state becomes EXITED with reason StartError). Returns -1 only for
 * immediate errors (unknown id, wrong state), in which case cb is not called. */
int bsn_runtime_container_start(struct bsn_runtime *rt, const char *id, bsn_runtime_done_cb cb,
                                void *data, struct bsn_err *err);
/* SIGTERM to the container's processes, SIGKILL after grace_ms; cb runs once it has exited
 * (immediately, deferred, if it is not running). */
int bsn_runtime_container_stop(struct bsn_runtime *rt, const char *id, int64_t grace_ms,
                               bsn_runtime_done_cb cb, void *data, struct bsn_err *err);
/* Removes a container that is not running (kill it with stop first). */
int bsn_runtime_container_remove(struct bsn_runtime *rt, const char *id, struct bsn_err *err);
int bsn_runtime_container_status(struct bsn_runtime *rt, const char *id,
                                 struct bsn_container_status *st, struct bsn_err *err);
/* Current resource usage of a running container (oci: its cgroup; process: the sum over its
 * process group from /proc). 409 if it is not running. */
int bsn_runtime_container_stats(struct bsn_runtime *rt, const char *id,
                                struct bsn_container_stats *st, struct bsn_err *err);
/* The write end of a running container's stdin pipe (stdin_open), or -1. Non-blocking: write
 * what fits and wait for BSN_EV_WRITE on the loop for the rest. The runtime owns it;
 * bsn_runtime_container_close_stdin() closes it (the process then reads EOF, stdinOnce). */
int bsn_runtime_container_stdin(struct bsn_runtime *rt, const char *id);
void bsn_runtime_container_close_stdin(struct bsn_runtime *rt, const char *id);
/* Ids of a sandbox's containers (caller frees the array and strings). */
int bsn_runtime_container_list(struct bsn_runtime *rt, const char *sandbox_id, char ***ids,
                               size_t *n);
/* Runs argv inside a running container with the given stdio fds. The returned pid is a child
 * of this process: watch it with bsn_loop_watch_child for the exit status. */
int bsn_runtime_exec(struct bsn_runtime *rt, const char *id, const struct bsn_exec_config *cfg,
                     pid_t *pid, struct bsn_err *err);
/* Removes what an earlier process using the same state dir left behind (oci: kills and
 * deletes its runc containers, unmounts rootfs and netns, removes pod cgroups). Call once at
 * startup; containers are not adopted. Returns the number of items removed. */
int bsn_runtime_cleanup_stale(struct bsn_runtime *rt);
/* The live CRI log file of a container (rotated files are path.1 .. path.N-1), or NULL. */
const char *bsn_runtime_log_path(struct bsn_runtime *rt, const char *id);

/* --- helpers shared by the implementations and tests --- */

/* /etc/hosts for a pod: localhost lines, "<ip> <hostname>", then hostAliases. */
char *bsn_runtime_hosts_content(const struct bsn_sandbox_config *cfg, const char *ip);
/* resolv.conf from dns config (empty config: copy of the host's /etc/resolv.conf). */
char *bsn_runtime_resolv_content(const struct bsn_sandbox_config *cfg);

#endif
