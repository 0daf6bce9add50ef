/*
 * rt_impl.h - state shared by the runtime implementations (process.c, oci.c) and the generic
 * front end (runtime.c). Not part of the public interface.
 *
 * runtime.c owns the sandbox and container records, the stop/kill state machine and the exit
 * bookkeeping; an implementation supplies the vtable in runtime.h plus the small hooks below.
 */
#ifndef BSN_RUNTIME_RT_IMPL_H
#define BSN_RUNTIME_RT_IMPL_H

#include "loop/loop.h"
#include "runtime/logpump.h"
#include "runtime/runtime.h"

struct rt_waiter {
    bsn_runtime_done_cb cb;
    void *data;
};

struct rt_sandbox {
    struct rt_sandbox *next;
    struct bsn_sandbox_status st;
    char *dir;     /* <state_dir>/sandboxes/<id> */
    char *log_dir; /* from the config */
    char *hostname;
    char *cgroup_parent;
    void *impl;
};

struct rt_container {
    struct rt_container *next;
    struct bsn_runtime *rt;
    struct rt_sandbox *sb;
    struct bsn_container_status st;
    char *dir; /* <state_dir>/containers/<id> */
    char *log_path;
    struct bsn_logpump *pump;
    bool stdin_open;
    bool tty;
    int stdin_fd; /* write end kept by the runtime, -1 */
    struct bsn_child child;
    bool watching;
    bool stopping;
    struct bsn_timer kill_timer;
    struct rt_waiter *waiters; /* stop callbacks waiting for the exit */
    size_t nwaiters;
    void *impl;
};

/* Implementation hooks beyond the public vtable. */
struct rt_hooks {
    /* Sends sig to the container's process(es). */
    int (*signal)(struct bsn_runtime *rt, struct rt_container *c, int sig);
    /* Frees c->impl / sb->impl (called on remove and free). */
    void (*container_fini)(struct bsn_runtime *rt, struct rt_container *c);
    void (*sandbox_fini)(struct bsn_runtime *rt, struct rt_sandbox *sb);
    /* Reason for an exit other than Completed/Error ("OOMKilled"), or NULL. */
    const char *(*exit_reason)(struct bsn_runtime *rt, struct rt_container *c);
    /* Removes leftovers of an earlier process; returns how many items went. */
    int (*cleanup_stale)(struct bsn_runtime *rt);
};

struct bsn_runtime {
    const struct bsn_runtime_ops *ops;
    const struct rt_hooks *hooks;
    struct bsn_loop *loop;
    struct bsn_runtime_opts opts; /* strings below are owned copies */
    char *state_dir;
    char *oci_runtime;
    char *netns_dir;
    struct rt_sandbox *sandboxes;
    struct rt_container *containers;
    unsigned next_ip;            /* process runtime loopback address counter */
    struct bsn_timer reap_timer; /* oci: orphans of containers' pid namespaces (rt_reap_orphans) */
    void *impl;
};

/*
 * Reaps zombie children that belong to a container's pid namespace but to nobody here: as the
 * subreaper we inherit a container's processes whose `runc exec` died first (an exec probe
 * that timed out, a killed `kubectl exec`). A pid namespace's init cannot finish exiting
 * while one of its processes waits to be reaped. Children with a watch on the loop and the
 * containers' inits are left alone. Cheap when there is no zombie child (one waitid).
 */
void rt_reap_orphans(struct bsn_runtime *rt);

struct rt_sandbox *rt_sandbox_find(struct bsn_runtime *rt, const char *id);
struct rt_container *rt_container_find(struct bsn_runtime *rt, const char *id);
/* Allocates the common sandbox record (id: preset, or NULL for a fresh one), its directory and
 * pod files; calls the net hook. */
struct rt_sandbox *rt_sandbox_new(struct bsn_runtime *rt, const char *id,
                                  const struct bsn_sandbox_config *cfg, const char *netns_path,
                                  struct bsn_err *err);
/* Unlinks, runs the net detach hook, removes the directory, frees. */
void rt_sandbox_destroy(struct bsn_runtime *rt, struct rt_sandbox *sb);
/* Allocates the common container record (id, dir, log path) and links it. */
struct rt_container *rt_container_new(struct bsn_runtime *rt, struct rt_sandbox *sb,
                                      const struct bsn_container_config *cfg, struct bsn_err *err);
void rt_container_destroy(struct bsn_runtime *rt, struct rt_container *c);
/* Pipes for stdout/stderr hooked to a new log pump; out[0]/out[1] are the write ends that the
 * child gets (caller closes them after spawning). With stdin_open, *in is the read end of a
 * new stdin pipe for the child (caller closes it), else -1. */
int rt_container_open_logs(struct bsn_runtime *rt, struct rt_container *c, int out[2], int *in,
                           struct bsn_err *err);
/* Container tty: the log pump reads master as "stdout" (the pump owns it); with stdin_open
 * the stdin fd is a non-blocking dup of master. */
int rt_container_attach_tty(struct bsn_runtime *rt, struct rt_container *c, int master,
                            struct bsn_err *err);
/* Marks the container running with pid and watches it (must be our child). */
int rt_container_running(struct bsn_runtime *rt, struct rt_container *c, pid_t pid,
                         struct bsn_err *err);
/* Records an exit (wstatus from waitpid); reason may be NULL (derived from the status). */
void rt_container_exited(struct bsn_runtime *rt, struct rt_container *c, int wstatus,
                         const char *reason);
/* Marks a start failure: state EXITED, reason StartError, message from err. */
void rt_container_start_failed(struct bsn_runtime *rt, struct rt_container *c,
                               const struct bsn_err *err);

/* Misc helpers. */
/* A new pseudo-terminal pair (both close-on-exec). Returns 0 or -errno. */
int rt_open_pty(int *master, int *slave);
void rt_random_id(char out[65]);
int rt_mkdir_p(const char *path, mode_t mode);
/* rm -rf without crossing mount points; returns 0 or -errno of the first failure. */
int rt_rm_rf(const char *path);
int rt_write_file(const char *path, const char *data, size_t len, mode_t mode);
/* Reads a whole (small) file; NULL on error. */
char *rt_read_file(const char *path, size_t max, size_t *len);
/* Duplicates a NULL-terminated string vector (NULL stays NULL). */
char **rt_strv_dup(const char *const *v);
void rt_strv_free(char **v);
size_t rt_strv_len(const char *const *v);

extern const struct bsn_runtime_ops bsn_process_ops;
extern const struct rt_hooks bsn_process_hooks;
int bsn_process_init(struct bsn_runtime *rt, struct bsn_err *err);
extern const struct bsn_runtime_ops bsn_oci_ops;
extern const struct rt_hooks bsn_oci_hooks;
int bsn_oci_init(struct bsn_runtime *rt, struct bsn_err *err);

#endif
