/*
 * agent.c - the agent object: runtime selection, the pod list + watch (fieldSelector
 * spec.nodeName=<node>) that feeds the pod workers, and shutdown.
 *
 * The watch is resumed from the last resourceVersion seen; a 410 Expired (or an ERROR event)
 * relists, and pods missing from the new list are treated as deleted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "api/client.h"
#include "api/nodeproxy.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "runtime/image.h"

static void start_list(struct bsn_agent *a);

void
agent_time_str(int64_t us, char *out, size_t n)
{
    bsn_time_format((time_t)(us / 1000000), out, n);
}

static void
on_exit_cb(void *data, const struct bsn_container_status *st)
{
    struct bsn_agent *a = data;
    if (!a->closing)
        agent_container_exited(a, st);
}

/* crun refuses cgroup hybrid hosts (v1 controllers with cgroup2 on /sys/fs/cgroup/unified):
 * say so once at start, not only in each container's StartError. */
static void
warn_crun_hybrid(const char *oci_runtime)
{
    struct statfs root, uni;
    if (!oci_runtime || !strstr(oci_runtime, "crun"))
        return;
    if (statfs("/sys/fs/cgroup", &root) == 0 && root.f_type == TMPFS_MAGIC &&
        statfs("/sys/fs/cgroup/unified", &uni) == 0 && uni.f_type == CGROUP2_SUPER_MAGIC)
        bsn_warn("agent",
                 "%s refuses this cgroup hybrid host (v1 controllers with cgroup2 on "
                 "/sys/fs/cgroup/unified): containers will fail with StartError; use runc",
                 oci_runtime);
}

static void
handle_pod(struct bsn_agent *a, json_t *pod)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", bsn_json_str(pod, "metadata.namespace") ?: "",
             bsn_json_str(pod, "metadata.name") ?: "");
    const char *node = bsn_json_str(pod, "spec.nodeName");
    struct agent_pod *p = bsn_map_get(&a->pods, key);
    if (p && strcmp(p->uid, bsn_json_str(pod, "metadata.uid") ?: "")) {
        agent_pod_gone(p); /* same name, new pod */
        p = NULL;
    }
    if (!node || strcmp(node, a->node))
        return;
    if (p) {
        agent_pod_update(p, pod);
        return;
    }
    agent_pod_new(a, pod);
}

static void
handle_deleted(struct bsn_agent *a, json_t *pod)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", bsn_json_str(pod, "metadata.namespace") ?: "",
             bsn_json_str(pod, "metadata.name") ?: "");
    struct agent_pod *p = bsn_map_get(&a->pods, key);
    if (p && !strcmp(p->uid, bsn_json_str(pod, "metadata.uid") ?: ""))
        agent_pod_gone(p);
}

static void
rewatch_cb(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    start_list(data);
}

static void
on_event(const char *type, json_t *obj, void *data)
{
    struct bsn_agent *a = data;
    const char *rv = bsn_json_str(obj, "metadata.resourceVersion");
    if (!strcmp(type, "ERROR")) {
        a->rv[0] = '\0';
        return;
    }
    if (rv)
        snprintf(a->rv, sizeof(a->rv), "%s", rv);
    if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
        handle_pod(a, obj);
    else if (!strcmp(type, "DELETED"))
        handle_deleted(a, obj);
}

static void start_watch(struct bsn_agent *a);

static void
on_closed(int status, void *data)
{
    struct bsn_agent *a = data;
    a->watch = NULL;
    if (a->closing)
        return;
    if (status == 410)
        a->rv[0] = '\0';
    /* an unreachable server (remote client: 503) is retried once a second, not in a loop */
    bsn_timer_start(a->loop, &a->rewatch, status >= 500 ? 1000 : a->rv[0] ? 0 : 200, rewatch_cb, a);
}

static void
start_watch(struct bsn_agent *a)
{
    char path[700];
    snprintf(path, sizeof(path),
             "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&resourceVersion=%s"
             "&allowWatchBookmarks=true",
             a->node, a->rv);
    a->watch = bsn_client_watch(a->cl, path, on_event, on_closed, a);
}

static void
on_list(int status, const char *body, size_t len, void *data)
{
    struct bsn_agent *a = data;
    if (a->closing)
        return;
    struct bsn_err err;
    json_t *list = status == 200 ? bsn_json_parse(body, len, &err) : NULL;
    if (!list) {
        bsn_warn("agent", "list pods: HTTP %d; retrying", status);
        bsn_timer_start(a->loop, &a->rewatch, 1000, rewatch_cb, a);
        return;
    }
    struct bsn_map seen;
    bsn_map_init(&seen);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", bsn_json_str(it, "metadata.namespace") ?: "",
                 bsn_json_str(it, "metadata.name") ?: "");
        bsn_map_put(&seen, key, it);
        handle_pod(a, it);
    }
    /* pods that disappeared while we were not watching */
    const char *k;
    void *v;
    for (size_t iter = 0; bsn_map_next(&a->pods, &iter, &k, &v);)
        if (!bsn_map_get(&seen, k))
            agent_pod_gone(v);
    bsn_map_fini(&seen);
    snprintf(a->rv, sizeof(a->rv), "%s", bsn_json_str(list, "metadata.resourceVersion") ?: "0");
    json_decref(list);
    start_watch(a);
}

static void
start_list(struct bsn_agent *a)
{
    if (a->rv[0]) {
        start_watch(a);
        return;
    }
    char path[600];
    snprintf(path, sizeof(path), "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", a->node);
    bsn_client_request(a->cl, "GET", path, NULL, NULL, 0, on_list, a);
}

static bool
have_runc(void)
{
    const char *dirs[] = {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/bin/runc",
                          "/usr/local/sbin/runc"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(dirs); i++)
        if (access(dirs[i], X_OK) == 0)
            return true;
    return false;
}

struct bsn_agent *
bsn_agent_new(struct bsn_loop *loop, struct bsn_client *cl, const struct bsn_agent_opts *o,
              struct bsn_err *err)
{
    if (!cl) {
        bsn_err_set(err, 400, "Invalid", "agent: no API client");
        return NULL;
    }
    const char *kind = o->runtime                        ? o->runtime
                       : (geteuid() == 0 && have_runc()) ? "oci"
                                                         : "process";
    if (strcmp(kind, "process") && strcmp(kind, "oci")) {
        bsn_err_set(err, 400, "Invalid", "--runtime: expected process or oci, not '%s'", kind);
        bsn_client_free(cl);
        return NULL;
    }
    if (!o->data_dir) {
        bsn_err_set(err, 400, "Invalid", "agent: data dir required");
        bsn_client_free(cl);
        return NULL;
    }
    struct bsn_agent *a = bsn_calloc(1, sizeof(*a));
    a->loop = loop;
    a->cl = cl;
    a->api = o->api;
    a->data_dir = bsn_sprintf("%s/agent", o->data_dir);
    mkdir(a->data_dir, 0700);
    char hn[256] = "localhost";
    if (!o->node_name || !*o->node_name) {
        if (gethostname(hn, sizeof(hn)) < 0 || !hn[0])
            snprintf(hn, sizeof(hn), "localhost");
        for (char *c = hn; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    }
    a->node = bsn_strdup(o->node_name && *o->node_name ? o->node_name : hn);
    a->node_ip = o->node_ip ? bsn_strdup(o->node_ip) : NULL;
    bool podnet = !strcmp(kind, "oci") && (o->net_attach || o->net_add);
    a->pod_cidr = podnet && o->pod_cidr ? bsn_strdup(o->pod_cidr) : NULL;
    a->net_add = podnet ? o->net_add : NULL;
    a->net_data = o->net_data;
    a->cluster_dns_ip = bsn_strdup(o->cluster_dns_ip ? o->cluster_dns_ip : "10.43.0.10");
    a->cluster_domain = bsn_strdup(o->cluster_domain ? o->cluster_domain : "cluster.local");
    a->control_plane = o->control_plane;
    bsn_map_init(&a->pods);
    bsn_map_init(&a->containers);
    bsn_map_init(&a->shared_gets);
    bsn_timer_init(&a->rewatch);
    bsn_timer_init(&a->lease_timer);
    bsn_timer_init(&a->register_timer);
    if (!strcmp(kind, "oci")) {
        a->images = bsn_image_store_open(o->data_dir, err);
        if (!a->images)
            goto fail;
    }
    const char *ocirt = o->oci_runtime ? o->oci_runtime : getenv("BOSUN_OCI_RUNTIME");
    if (!strcmp(kind, "oci"))
        warn_crun_hybrid(ocirt);
    BSN_AUTOFREE char *state = bsn_sprintf("%s/runtime", a->data_dir);
    struct bsn_runtime_opts ro = {
        .kind = kind,
        .state_dir = state,
        /* runc (default) or crun: --oci-runtime, else $BOSUN_OCI_RUNTIME */
        .oci_runtime = ocirt,
        .images = a->images,
        .on_exit = on_exit_cb,
        .on_exit_data = a,
        /* the pod network: oci sandboxes only (the process runtime shares the host's) */
        .net_attach = podnet && !o->net_add ? o->net_attach : NULL,
        .net_detach = podnet ? o->net_detach : NULL,
        .net_data = o->net_data,
    };
    a->rt = bsn_runtime_new(loop, &ro, err);
    if (!a->rt)
        goto fail;
    /* release the pod network of an earlier run's sandboxes while their netns still exist */
    if (podnet && o->net_gc)
        o->net_gc(o->net_data, NULL, NULL);
    bsn_runtime_cleanup_stale(a->rt);
    if (!a->api) {
        /* standalone: the handlers serve the kubelet server through a pod host */
        a->api = bsn_api_podhost_new(loop);
        a->own_api = true;
        if (agent_kubelet_start(a, o->kubelet_listen, o->kubelet_token, err) < 0)
            goto fail;
    }
    agent_logs_register(a);
    agent_exec_register(a);
    agent_node_start(a);
    start_list(a);
    agent_metrics_start(a, o->metrics_interval_ms);
    bsn_info("agent", "node %s, runtime %s", a->node, kind);
    return a;
fail:
    bsn_err_prefix(err, "agent");
    agent_kubelet_stop(a);
    if (a->own_api)
        bsn_api_podhost_free(a->api);
    if (a->rt)
        bsn_runtime_free(a->rt);
    bsn_client_free(a->cl);
    if (a->images)
        bsn_image_store_close(a->images);
    bsn_map_fini(&a->pods);
    bsn_map_fini(&a->containers);
    agent_env_cache_free(a);
    free(a->node);
    free(a->node_ip);
    free(a->pod_cidr);
    free(a->cluster_dns_ip);
    free(a->cluster_domain);
    free(a->data_dir);
    free(a);
    return NULL;
}

void
bsn_agent_free(struct bsn_agent *a)
{
    if (!a)
        return;
    a->closing = true;
    agent_metrics_stop(a);
    agent_node_stop(a);
    agent_kubelet_stop(a);
    bsn_timer_stop(a->loop, &a->rewatch);
    if (a->watch)
        bsn_client_watch_stop(a->watch);
    bsn_client_free(a->cl);
    a->cl = NULL;
    agent_exec_close_all(a); /* exec processes die before their containers */
    /* probes and timers first, then the runtime kills what is left */
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&a->pods, &it, &k, &v);) {
        struct agent_pod *p = v;
        bsn_timer_stop(a->loop, &p->sync_timer);
        for (size_t i = 0; i < p->nctrs; i++)
            agent_probes_stop(&p->ctrs[i]);
    }
    bsn_runtime_free(a->rt);
    for (size_t it = 0; bsn_map_next(&a->pods, &it, &k, &v);)
        agent_pod_destroy(v);
    bsn_map_fini(&a->pods);
    agent_env_cache_free(a);
    bsn_map_fini(&a->containers);
    if (a->images)
        bsn_image_store_close(a->images);
    if (a->own_api)
        bsn_api_podhost_free(a->api);
    free(a->node);
    free(a->node_ip);
    free(a->pod_cidr);
    free(a->cluster_dns_ip);
    free(a->cluster_domain);
    free(a->data_dir);
    free(a);
}

int
bsn_agent_kubelet_port(const struct bsn_agent *a)
{
    return agent_kubelet_port(a);
}

const char *
bsn_agent_node_name(const struct bsn_agent *a)
{
    return a->node;
}

const char *
bsn_agent_runtime_name(const struct bsn_agent *a)
{
    return bsn_runtime_name(a->rt);
}
