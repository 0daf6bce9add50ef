/*
 * simnodes.c - simulated nodes (kwok style): Node objects, their Leases, and a fake kubelet
 * that writes the status a real kubelet would for pods bound to them.
 *
 * Per pod the fake kubelet compares what is (phase, deletionTimestamp) with what the
 * simulation says should be (Running+Ready; or Succeeded/Failed per the bosun.dev/simulate
 * annotation) and writes the difference: a status patch, or the final delete with
 * gracePeriodSeconds=0 once the pod is being deleted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/util.h"
#include "controllers/ctrl_int.h"

#define SIM_ANNOTATION "bosun.dev/simulate"
#define LEASE_RENEW_MS 10000

struct simnode {
    char name[64];
    char ip[32];
    int idx;
    unsigned next_ip;
};

struct simnodes {
    struct bsn_ctrl *ctx;
    struct bsn_informer *pods;
    struct bsn_workqueue *q;
    struct simnode *nodes;
    int n;
    struct bsn_map by_name; /* node name -> struct simnode* */
    struct bsn_map written; /* pod key -> strdup(resourceVersion when the write was sent) */
    struct bsn_timer lease_timer;
    char *cpu, *memory, *pods_cap, *labels;
    struct bsn_informer *node_inf; /* to post Ready again after the lifecycle marked Unknown */
    struct bsn_simmetrics *metrics;
    bool leases_created;
    int inflight; /* pod writes sent, not yet answered */
};

/* Pod status writes in flight at most: a burst of thousands of bound pods is written in
 * waves instead of queueing every pod's update in the API at once (memory high mark). */
#define SIM_MAX_INFLIGHT 256

static json_t *
node_object(struct simnodes *s, struct simnode *n)
{
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    json_t *labels = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kubernetes.io/hostname", n->name,
                               "kubernetes.io/os", "linux", "kubernetes.io/arch", "amd64",
                               "bosun.dev/simulated", "true", "topology.kubernetes.io/zone", "");
    char zone[32];
    snprintf(zone, sizeof(zone), "sim-zone-%c", 'a' + n->idx % 3);
    json_object_set_new(labels, "topology.kubernetes.io/zone", json_string(zone));
    if (s->labels && *s->labels) {
        char *dup = bsn_strdup(s->labels), *save = NULL;
        for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (eq) {
                *eq = '\0';
                json_object_set_new(labels, kv, json_string(eq + 1));
            }
        }
        free(dup);
    }
    json_t *res = json_pack("{s:s,s:s,s:s,s:s}", "cpu", s->cpu, "memory", s->memory, "pods",
                            s->pods_cap, "ephemeral-storage", "100Gi");
    json_t *conds = json_array();
    static const char *const press[][2] = {
        {"MemoryPressure", "KubeletHasSufficientMemory"},
        {"DiskPressure", "KubeletHasNoDiskPressure"},
        {"PIDPressure", "KubeletHasSufficientPID"},
    };
    for (size_t i = 0; i < 3; i++)
        json_array_append_new(conds,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", press[i][0], "status",
                                        "False", "lastHeartbeatTime", now, "lastTransitionTime",
                                        now, "reason", press[i][1], "message", "simulated"));
    json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "Ready", "status",
                                           "True", "lastHeartbeatTime", now, "lastTransitionTime",
                                           now, "reason", "KubeletReady", "message",
                                           "kubelet is posting ready status (simulated)"));
    char cidr[32];
    snprintf(cidr, sizeof(cidr), "10.%d.%d.0/24", 64 + (n->idx + 1) / 256, (n->idx + 1) % 256);
    return json_pack(
        "{s:s,s:s,s:{s:s,s:o,s:{s:s}},s:{s:s,s:[s]},s:{s:o,s:O,s:o,s:[{s:s,s:s},{s:s,s:s}],"
        "s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s},s:{s:{s:i}}}}",
        "apiVersion", "v1", "kind", "Node", "metadata", "name", n->name, "labels", labels,
        "annotations", "node.alpha.kubernetes.io/ttl", "0", "spec", "podCIDR", cidr, "podCIDRs",
        cidr, "status", "capacity", res, "allocatable", res, "conditions", conds, "addresses",
        "type", "InternalIP", "address", n->ip, "type", "Hostname", "address", n->name, "nodeInfo",
        "machineID", "simulated", "systemUUID", "simulated", "bootID", "simulated", "kernelVersion",
        "simulated", "osImage", "bosun simulated node", "containerRuntimeVersion", "sim://1.0",
        "kubeletVersion", "v1.32.0", "kubeProxyVersion", "v1.32.0", "operatingSystem", "linux",
        "architecture", "amd64", "daemonEndpoints", "kubeletEndpoint", "Port", 10250);
}

static void
node_created(int status, const char *body, size_t len, void *data)
{
    struct simnode *n = data;
    BSN_UNUSED(n);
    if (status >= 400 && status != 409)
        bsn_warn("simnodes", "register node: HTTP %d", status);
}

static void
renew_leases(struct bsn_loop *loop, void *data)
{
    struct simnodes *s = data;
    char now[48];
    bsn_time_format_micro(bsn_time_now_us(), now, sizeof(now));
    for (int i = 0; i < s->n; i++) {
        struct simnode *n = &s->nodes[i];
        char path[300];
        if (!s->leases_created) {
            json_t *lease = json_pack(
                "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:i,s:s}}", "apiVersion", "coordination.k8s.io/v1",
                "kind", "Lease", "metadata", "name", n->name, "namespace", "kube-node-lease",
                "spec", "holderIdentity", n->name, "leaseDurationSeconds", 40, "renewTime", now);
            bsn_ctrl_send(s->ctx, "POST",
                          "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", NULL,
                          lease, NULL, NULL, NULL, NULL);
            json_decref(lease);
        }
        snprintf(path, sizeof(path),
                 "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s", n->name);
        json_t *patch =
            json_pack("{s:{s:s,s:s}}", "spec", "holderIdentity", n->name, "renewTime", now);
        bsn_ctrl_send(s->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL,
                      NULL, NULL);
        json_decref(patch);
        /* like a kubelet: a Ready condition someone else changed (the node lifecycle marks it
         * Unknown when a lease is late, e.g. after a test moved the clock) is posted again */
        json_t *node = bsn_informer_get(s->node_inf, n->name);
        json_t *c;
        size_t ci;
        bool ready = !node;
        json_array_foreach(bsn_json_path(node, "status.conditions"), ci, c)
        {
            if (!strcmp(bsn_json_str(c, "type") ?: "", "Ready"))
                ready = !strcmp(bsn_json_str(c, "status") ?: "", "True");
        }
        if (!ready) {
            json_t *obj = node_object(s, n);
            json_t *sp = json_pack("{s:{s:O}}", "status", "conditions",
                                   bsn_json_path(obj, "status.conditions"));
            snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", n->name);
            bsn_ctrl_send(s->ctx, "PATCH", path, "application/merge-patch+json", sp, NULL, NULL,
                          NULL, NULL);
            json_decref(sp);
            json_decref(obj);
        }
    }
    s->leases_created = true;
    bsn_timer_start(loop, &s->lease_timer, LEASE_RENEW_MS, renew_leases, s);
}

/* Parses the annotation: *outcome 0 = run forever, 1 = succeed, 2 = fail; *after_ms delay. */
static void
sim_fate(const json_t *pod, int *outcome, int64_t *after_ms)
{
    *outcome = 0;
    *after_ms = 0;
    const char *a = json_string_value(
        json_object_get(bsn_json_path(pod, "metadata.annotations"), SIM_ANNOTATION));
    if (!a)
        return;
    if (!strncmp(a, "succeed", 7))
        *outcome = 1;
    else if (!strncmp(a, "fail", 4))
        *outcome = 2;
    const char *eq = strstr(a, "-after=");
    if (eq) {
        int64_t ns;
        struct bsn_err err;
        if (bsn_duration_parse(eq + 7, &ns, &err) == 0)
            *after_ms = ns / 1000000;
    }
}

static json_t *
container_statuses(const json_t *pod, int outcome, const char *started, const char *now)
{
    json_t *arr = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(pod, "spec")
                           ? json_object_get(bsn_json_path(pod, "spec"), "containers")
                           : NULL,
                       i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name")) ?: "";
        const char *image = json_string_value(json_object_get(c, "image")) ?: "";
        json_t *state;
        if (outcome == 0)
            state = json_pack("{s:{s:s}}", "running", "startedAt", started);
        else
            state = json_pack("{s:{s:i,s:s,s:s,s:s,s:s}}", "terminated", "exitCode",
                              outcome == 1 ? 0 : 1, "reason", outcome == 1 ? "Completed" : "Error",
                              "startedAt", started, "finishedAt", now, "containerID",
                              "sim://terminated");
        char cid[160];
        snprintf(cid, sizeof(cid), "sim://%s", name);
        json_array_append_new(arr, json_pack("{s:s,s:o,s:b,s:i,s:s,s:s,s:s,s:b}", "name", name,
                                             "state", state, "ready", outcome == 0, "restartCount",
                                             0, "image", image, "imageID", image, "containerID",
                                             cid, "started", outcome == 0));
    }
    return arr;
}

static json_t *
cond(const char *type, bool status, const char *now)
{
    return json_pack("{s:s,s:s,s:n,s:s}", "type", type, "status", status ? "True" : "False",
                     "lastProbeTime", "lastTransitionTime", now);
}

static void
write_done(int status, const char *body, size_t len, void *data)
{
    BSN_UNUSED(body);
    struct simnodes *s = data;
    s->inflight--;
}

static int
reconcile_pod(const char *key, void *data)
{
    struct simnodes *s = data;
    json_t *pod = bsn_informer_get(s->pods, key);
    if (!pod) {
        free(bsn_map_del(&s->written, key));
        return 0;
    }
    const char *node = bsn_json_str(pod, "spec.nodeName");
    struct simnode *n = node ? bsn_map_get(&s->by_name, node) : NULL;
    if (!n)
        return 0;
    const char *rv = bsn_json_str(pod, "metadata.resourceVersion") ?: "";
    char *prev = bsn_map_get(&s->written, key);
    if (prev && !strcmp(prev, rv))
        return 0; /* our last write for this version is still on its way */
    if (s->inflight >= SIM_MAX_INFLIGHT)
        return 5; /* look again once earlier writes are answered */
    const char *ns = bsn_json_str(pod, "metadata.namespace");
    const char *name = bsn_json_str(pod, "metadata.name");
    char path[700];
    if (bsn_ctrl_deleting(pod)) {
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s?gracePeriodSeconds=0", ns,
                 name);
        free(bsn_map_put(&s->written, key, bsn_strdup(rv)));
        s->inflight++;
        bsn_ctrl_send(s->ctx, "DELETE", path, NULL, NULL, s->q, key, write_done, s);
        return 0;
    }
    const char *phase = bsn_json_str(pod, "status.phase") ?: "";
    int outcome;
    int64_t after_ms;
    sim_fate(pod, &outcome, &after_ms);
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    const char *started = bsn_json_str(pod, "status.startTime");
    int target; /* 0 running, 1 succeeded, 2 failed */
    if (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))
        return 0;
    if (!strcmp(phase, "Running")) {
        if (outcome == 0)
            return 0;
        time_t st;
        if (started && bsn_time_parse(started, &st) == 0) {
            int64_t due_ms = (int64_t)st * 1000 + after_ms - bsn_time_now_us() / 1000;
            if (due_ms > 0)
                return (int)BSN_MIN(due_ms + 5, 3600 * 1000);
        }
        target = outcome;
    } else {
        target = after_ms > 0 ? 0 : outcome;
    }
    if (!started)
        started = now;
    char ip[32];
    unsigned hostpart = n->next_ip++ % 65000;
    snprintf(ip, sizeof(ip), "10.%d.%d.%u", 64 + (n->idx + 1) / 256, (n->idx + 1) % 256,
             hostpart % 253 + 1);
    const char *podip = bsn_json_str(pod, "status.podIP");
    if (podip)
        snprintf(ip, sizeof(ip), "%s", podip);
    bool running = target == 0;
    json_t *conds = json_array();
    json_array_append_new(conds, cond("PodReadyToStartContainers", running, started));
    json_array_append_new(conds, cond("Initialized", true, started));
    json_t *rc = cond("Ready", running, started);
    json_t *cc = cond("ContainersReady", running, started);
    if (!running) {
        json_object_set_new(rc, "reason", json_string("PodCompleted"));
        json_object_set_new(cc, "reason", json_string("PodCompleted"));
    }
    json_array_append_new(conds, rc);
    json_array_append_new(conds, cc);
    json_array_append_new(conds, cond("PodScheduled", true, started));
    json_t *st = json_pack("{s:s,s:o,s:s,s:[{s:s}],s:s,s:[{s:s}],s:s,s:o}", "phase",
                           target == 0   ? "Running"
                           : target == 1 ? "Succeeded"
                                         : "Failed",
                           "conditions", conds, "hostIP", n->ip, "hostIPs", "ip", n->ip, "podIP",
                           ip, "podIPs", "ip", ip, "startTime", started, "containerStatuses",
                           container_statuses(pod, target, started, now));
    json_t *patch = json_pack("{s:o}", "status", st);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", ns, name);
    free(bsn_map_put(&s->written, key, bsn_strdup(rv)));
    s->inflight++;
    bsn_ctrl_send(s->ctx, "PATCH", path, "application/merge-patch+json", patch, s->q, key,
                  write_done, s);
    json_decref(patch);
    if (target == 0 && outcome != 0)
        return (int)BSN_MIN(after_ms + 5, 3600 * 1000);
    return 0;
}

static void
pod_changed(json_t *pod, void *data)
{
    struct simnodes *s = data;
    const char *node = bsn_json_str(pod, "spec.nodeName");
    if (!node || !bsn_map_get(&s->by_name, node))
        return;
    char key[512];
    bsn_obj_key(pod, key, sizeof(key));
    bsn_workqueue_add(s->q, key);
}

static void
pod_updated(json_t *old, json_t *pod, void *data)
{
    pod_changed(pod, data);
}

static void
pod_deleted(json_t *pod, void *data)
{
    struct simnodes *s = data;
    char key[512];
    bsn_obj_key(pod, key, sizeof(key));
    free(bsn_map_del(&s->written, key));
}

static void
register_nodes(struct bsn_loop *loop, void *data)
{
    struct simnodes *s = data;
    for (int i = 0; i < s->n; i++) {
        json_t *node = node_object(s, &s->nodes[i]);
        bsn_ctrl_send(s->ctx, "POST", "/api/v1/nodes", NULL, node, NULL, NULL, node_created,
                      &s->nodes[i]);
        json_decref(node);
        /* a node left from an earlier run: refresh its status */
        char path[200];
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", s->nodes[i].name);
        node = node_object(s, &s->nodes[i]);
        json_t *patch = json_pack("{s:O}", "status", json_object_get(node, "status"));
        bsn_ctrl_send(s->ctx, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL,
                      NULL, NULL);
        json_decref(patch);
        json_decref(node);
    }
    renew_leases(loop, s);
}

void *
bsn_simnodes_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    if (o->sim_nodes <= 0)
        return NULL;
    struct simnodes *s = bsn_calloc(1, sizeof(*s));
    s->ctx = ctx;
    s->n = o->sim_nodes;
    s->cpu = bsn_strdup(o->sim_cpu ? o->sim_cpu : "32");
    s->memory = bsn_strdup(o->sim_memory ? o->sim_memory : "256Gi");
    s->pods_cap = bsn_strdup(o->sim_pods ? o->sim_pods : "110");
    s->labels = o->sim_labels ? bsn_strdup(o->sim_labels) : NULL;
    s->nodes = bsn_calloc((size_t)s->n, sizeof(*s->nodes));
    bsn_map_init(&s->by_name);
    bsn_map_init(&s->written);
    for (int i = 0; i < s->n; i++) {
        struct simnode *n = &s->nodes[i];
        n->idx = i;
        snprintf(n->name, sizeof(n->name), "sim-node-%d", i);
        snprintf(n->ip, sizeof(n->ip), "172.30.%d.%d", (i + 2) / 256, (i + 2) % 256);
        bsn_map_put(&s->by_name, n->name, n);
    }
    s->q = bsn_workqueue_new(ctx->loop, "simkubelet", reconcile_pod, s);
    s->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    s->node_inf = bsn_ctrl_informer(ctx, "/api/v1/nodes");
    struct bsn_informer_handler h = {pod_changed, pod_updated, pod_deleted, s};
    bsn_informer_add_handler(s->pods, &h);
    bsn_timer_init(&s->lease_timer);
    bsn_timer_start(ctx->loop, &s->lease_timer, 0, register_nodes, s);
    s->metrics = bsn_simmetrics_new(ctx, &s->by_name);
    bsn_info("simnodes", "%d simulated nodes (cpu %s, memory %s, pods %s)", s->n, s->cpu, s->memory,
             s->pods_cap);
    return s;
}

void
bsn_simnodes_free(void *self)
{
    struct simnodes *s = self;
    if (!s)
        return;
    bsn_timer_stop(s->ctx->loop, &s->lease_timer);
    bsn_simmetrics_free(s->metrics);
    bsn_workqueue_free(s->q);
    size_t it = 0;
    void *v;
    while (bsn_map_next(&s->written, &it, NULL, &v))
        free(v);
    bsn_map_fini(&s->written);
    bsn_map_fini(&s->by_name);
    free(s->nodes);
    free(s->cpu);
    free(s->memory);
    free(s->pods_cap);
    free(s->labels);
    free(s);
}
