/*
 * agent_int.h - the agent's internal state, shared by its files: agent.c (pod watch, worker
 * map), node.c (Node + Lease), worker.c (pod lifecycle), status.c (pod status JSON), probe.c
 * and logs.c.
 *
 * Lifetime: a pod worker is refcounted; asynchronous work the agent cannot cancel (API
 * requests, runtime start/stop callbacks) holds a reference. Everything that can be cancelled
 * (timers, probe sockets and exec children) is cancelled synchronously when a worker or a
 * container goes away.
 */
#ifndef BSN_AGENT_AGENT_INT_H
#define BSN_AGENT_AGENT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/logic.h"
#include "base/map.h"
#include "loop/loop.h"
#include "runtime/runtime.h"

struct bsn_client;
struct bsn_client_watch;
struct bsn_image_store;
struct agent_pod;
struct agent_ctr;
struct agent_vols;
struct bsn_vol_node;

enum probe_kind { PROBE_STARTUP, PROBE_LIVENESS, PROBE_READINESS, PROBE_KINDS };

struct agent_probe {
    struct agent_ctr *ctr;
    enum probe_kind kind;
    struct bsn_probe_counter counter;
    struct bsn_timer timer;
    /* one attempt in flight */
    int fd;
    struct bsn_timer deadline;
    struct bsn_child child;
    pid_t pid;
    bool running;
    char buf[64];
    size_t buflen;
    char req[1024];
    size_t reqlen, reqoff;
    struct bsn_grpc_check *grpc; /* grpc probe call in flight (grpc.h) */
};

enum ctr_state { CT_NONE, CT_STARTING, CT_RUNNING, CT_EXITED };

struct ctr_term {
    int exit_code;
    int signal;
    char reason[32];
    char message[4097]; /* terminationMessagePath / FallbackToLogsOnError: up to 4096 bytes */
    int64_t started_us, finished_us;
    char id[65];
};

struct agent_ctr {
    struct agent_pod *pod;
    bool init;
    bool sidecar;    /* restartable init container (restartPolicy Always) */
    bool sidecar_up; /* it started (and passed its startup probe): init goes on */
    json_t *spec;    /* borrowed from pod->pod */
    char name[128];
    char id[65];        /* current runtime container, "" = none */
    char image_id[320]; /* resolved by the runtime (oci), "" = the image name */
    enum ctr_state st;
    int64_t started_us;
    int restart_count;
    struct ctr_term term; /* the current exit, when st == CT_EXITED */
    bool has_last;
    struct ctr_term last;   /* lastState.terminated */
    int64_t backoff_ms;     /* delay applied before the next restart */
    uint64_t backoff_until; /* monotonic ms */
    char waiting_reason[40];
    char waiting_msg[512];
    bool ready, started;
    bool killing; /* liveness failure: being stopped to restart */
    /* image pulls (oci): ensured once per start, with back-off after failures */
    bool pulling, pulled;
    int64_t pull_backoff_ms;
    uint64_t pull_until; /* monotonic ms */
    struct agent_probe *probes[PROBE_KINDS];
    /* postStart (after the start) or preStop (while the pod terminates) exec hook */
    bool hook_post;
    pid_t hook_pid;
    struct bsn_child hook_child;
    struct bsn_timer hook_timer;
    uint64_t hook_t0;
    int64_t hook_grace_ms;
};

struct agent_pod {
    struct bsn_agent *a;
    int refs;
    bool gone; /* removed from the agent's map; freed when refs reach 0 */
    char key[512], ns[254], name[254], uid[64];
    json_t *pod; /* latest object (owned) */
    char sandbox[65];
    char ip[64];
    char log_dir[1024];
    int64_t start_time;
    struct agent_ctr *ctrs;
    size_t ninit, nctrs; /* ctrs[0..ninit) are init containers */
    bool terminating, stopping, delete_sent, terminal, finished;
    bool net_pending; /* the pod network's ADD for net_sandbox runs (worker.c) */
    char net_sandbox[65];
    int stops_pending;
    struct bsn_timer sync_timer;
    /* status writes: one in flight, the latest pending */
    char *last_status; /* JSON of the last status sent */
    bool writing, write_again;
    uint64_t write_t0; /* when the write in flight was sent (debug log) */
    uint64_t seen_ms;  /* when the agent first saw the pod (debug log) */
    unsigned nwrites;
    uint64_t defer_since;    /* loop time status writes began to wait for a start (status.c) */
    json_t *conds_prev;      /* conditions last written (for lastTransitionTime) */
    json_t *refs_cache;      /* "configmaps/<name>" -> object | null (missing) | true (asked) */
    uint64_t refs_since;     /* a->shared_seq when refs_cache began: Services read after */
    struct agent_vols *vols; /* volumes.c */
};

struct bsn_agent {
    struct bsn_loop *loop;
    struct bsn_apiserver *api;
    struct bsn_client *cl;
    struct bsn_runtime *rt;
    struct bsn_image_store *images;
    char *node;
    char *node_ip;
    char *pod_cidr, *cluster_dns_ip, *cluster_domain; /* pod network (agent.h) */
    int (*net_add)(void *net_data, const char *sandbox_id, const char *netns_path,
                   const struct bsn_sandbox_config *cfg,
                   void (*done)(void *data, int rc, const char *ip, const struct bsn_err *err),
                   void *data);
    void *net_data;
    char *data_dir;
    bool control_plane;
    bool closing;
    void *streams;             /* exec.c: exec/attach sessions */
    void *forwards;            /* exec_pf.c: port-forward connections */
    struct bsn_map pods;       /* "ns/name" -> struct agent_pod* */
    struct bsn_map containers; /* runtime container id -> struct agent_ctr* */
    /* pod watch */
    struct bsn_client_watch *watch;
    char rv[64];
    struct bsn_timer rewatch;
    /* node */
    struct bsn_timer lease_timer;
    int lease_ticks;
    bool node_created, lease_created;
    /* standalone: the kubelet server (kubelet.c); a->api is then a pod host the agent owns */
    struct agent_kubelet *kubelet;
    bool own_api;
    struct bsn_timer register_timer; /* node registration retry (server unreachable) */
    /* per-pod metrics (metrics.c) */
    struct agent_metrics *metrics;
    /* env.c: Service lists shared by the pods (path -> struct agent_shared_get *); seq orders
     * the pods' refs_since against the GETs */
    struct bsn_map shared_gets;
    uint64_t shared_seq;
};

/* node.c */
void agent_node_start(struct bsn_agent *a);
void agent_node_stop(struct bsn_agent *a);

/* worker.c */
struct agent_pod *agent_pod_new(struct bsn_agent *a, json_t *pod);
void agent_pod_update(struct agent_pod *p, json_t *pod);
/* The pod is gone from the API: kill everything now and drop it. */
void agent_pod_gone(struct agent_pod *p);
void agent_pod_ref(struct agent_pod *p);
void agent_pod_unref(struct agent_pod *p);
void agent_pod_sync_soon(struct agent_pod *p, uint64_t delay_ms);
/* Destroys a worker at shutdown (runtime already freed). */
void agent_pod_destroy(struct agent_pod *p);
void agent_container_exited(struct bsn_agent *a, const struct bsn_container_status *st);

/* env.c: a container's "K=V" list (NULL-terminated kv) */
struct agent_env {
    char **kv;
    size_t n, cap;
};
/* 0 done, 1 pending (ConfigMaps/Secrets requested; a sync follows), -1 with why. */
int agent_build_env(struct agent_pod *p, json_t *spec, struct agent_env *e, char *why,
                    size_t whylen);
/* Asks for what the next agent_build_env of p needs from the API (the Service lists) while
 * the pod network's ADD runs, so the start does not wait for it afterwards. */
void agent_env_prefetch(struct agent_pod *p);
/* Frees the shared Service lists (after the client is freed: no answer comes any more). */
void agent_env_cache_free(struct bsn_agent *a);
void agent_env_free(struct agent_env *e);
char **agent_expand_list(json_t *arr, struct agent_env *e);
/* Sets K=V (a later definition replaces an earlier one). */
void agent_env_set(struct agent_env *e, const char *k, const char *v);
/* Credentials for image from the pod's imagePullSecrets (dockerconfigjson / dockercfg, entry
 * matched by registry host): 1 with *user and *pass (caller frees), 0 none, -1 a Secret is
 * being read (a sync follows). */
int agent_pull_creds(struct agent_pod *p, const char *image, char **user, char **pass);

/* volumes.c (see volumes.h): 0 ready, 1 pending (API reads; a sync follows), -1 with why
 * (FailedMount: the pod stays ContainerCreating; retry later). */
int agent_volumes_setup(struct agent_pod *p, char *why, size_t whylen);
/* The mounts of c (volumeMounts with subPath/subPathExpr expanded against e, and the
 * termination message file); the process runtime also gets BOSUN_VOLUME_<NAME> in e. */
struct agent_mounts {
    struct bsn_mount *m;
    size_t n;
    char **owned;
    size_t nowned;
};
int agent_volumes_mounts(struct agent_pod *p, struct agent_ctr *c, struct agent_env *e,
                         struct agent_mounts *m, char *why, size_t whylen);
void agent_mounts_free(struct agent_mounts *m);
/* Unmounts and removes the pod's volumes (idempotent). */
void agent_volumes_teardown(struct agent_pod *p);
/* c exited: c->term.message from its terminationMessagePath file or, with
 * FallbackToLogsOnError and a failure, the end of its log. */
void agent_termination_message(struct agent_ctr *c);
/* The node's allocatable cpu/memory/ephemeral-storage (resourceFieldRef defaults). */
void agent_node_alloc(struct bsn_agent *a, struct bsn_vol_node *n);
/* volumes_hooks.c: starts an httpGet lifecycle hook (http = the hook's httpGet) as a child
 * process that exits 0 on a 2xx/3xx answer; watch *pid like an exec hook. */
/* A probe's or hook's port: a number, or the name of one of the container's ports (-1 when
 * neither). */
int agent_ctr_port(struct agent_ctr *c, json_t *port);
int agent_http_hook(struct agent_pod *p, struct agent_ctr *c, json_t *http, pid_t *pid,
                    struct bsn_err *err);
void agent_free_list(char **l);

/* status.c */
json_t *agent_pod_status(struct agent_pod *p);
void agent_pod_write_status(struct agent_pod *p);

/* probe.c */
void agent_probes_start(struct agent_ctr *c);
/* Stops c's probes and cancels its preStop hook (kills the hook process). */
void agent_probes_stop(struct agent_ctr *c);
void agent_hook_cancel(struct agent_ctr *c);
/* a probe's result changed (probe.c -> worker.c) */
void agent_probe_changed(struct agent_ctr *c, enum probe_kind kind, enum bsn_probe_result r);

/* kubelet.c: the standalone agent's HTTPS endpoint for pod subresources */
int agent_kubelet_start(struct bsn_agent *a, const char *listen, const char *token,
                        struct bsn_err *err);
void agent_kubelet_stop(struct bsn_agent *a);
int agent_kubelet_port(const struct bsn_agent *a);

/* metrics.c */
void agent_metrics_start(struct bsn_agent *a, unsigned interval_ms);
void agent_metrics_stop(struct bsn_agent *a);

/* logs.c */
void agent_logs_register(struct bsn_agent *a);
/* The log file of a container at restart number n. */
void agent_log_path(const struct agent_pod *p, const char *ctr, int n, char *out, size_t len);

/* exec.c: pods/exec, attach, portforward (exec.h) */
void agent_exec_register(struct bsn_agent *a);
void agent_exec_close_all(struct bsn_agent *a);

/* RFC 3339 from microseconds (seconds precision, as the API's Time). */
void agent_time_str(int64_t us, char *out, size_t n);

#endif
