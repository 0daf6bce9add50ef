/*
 * simmetrics.c - synthetic resource usage of the simulated nodes, pushed to the metrics API
 * exactly as a real node agent does (PUT /apis/bosun.dev/v1/nodemetrics/<node>, see
 * src/api/metrics.h), so that `kubectl top` and the HorizontalPodAutoscaler work on them.
 *
 * Every container of a Running pod uses what its pod's annotations say
 * (`bosun.dev/sim-cpu: 200m`, `bosun.dev/sim-memory: 64Mi`; 0 when absent); a node uses the
 * sum of its pods. A node's sample is pushed within a second of a change of one of its pods
 * and refreshed every minute otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "controllers/ctrl_int.h"

#define SIM_CPU_ANN "bosun.dev/sim-cpu"
#define SIM_MEM_ANN "bosun.dev/sim-memory"
#define TICK_MS     1000
#define REFRESH_MS  60000

struct bsn_simmetrics {
    struct bsn_ctrl *ctx;
    struct bsn_informer *pods;
    const struct bsn_map *nodes; /* simulated node names (borrowed) */
    struct bsn_map dirty;        /* node name -> (void*)1 */
    struct bsn_timer timer;
    uint64_t last_full_ms;
};

static int64_t
ann_qty(const json_t *pod, const char *ann, bool milli)
{
    return bsn_quantity_json_value(json_object_get(bsn_json_path(pod, "metadata.annotations"), ann),
                                   milli);
}

void
bsn_sim_pod_usage(const json_t *pod, int64_t *nanocores, int64_t *kib)
{
    *nanocores = ann_qty(pod, SIM_CPU_ANN, true) * 1000000;
    *kib = ann_qty(pod, SIM_MEM_ANN, false) / 1024;
}

struct node_acc {
    json_t *pods;
    int64_t cpu, mem;
};

static void
push(struct bsn_simmetrics *m, bool all)
{
    struct bsn_map acc;
    bsn_map_init(&acc);
    const char *k;
    void *v;
    size_t it = 0;
    while (bsn_map_next(m->nodes, &it, &k, &v))
        if (all || bsn_map_get(&m->dirty, k)) {
            struct node_acc *a = bsn_calloc(1, sizeof(*a));
            a->pods = json_array();
            bsn_map_put(&acc, k, a);
        }
    const struct bsn_map *pods = bsn_informer_ns(m->pods, NULL);
    it = 0;
    while (pods && bsn_map_next(pods, &it, &k, &v)) {
        json_t *pod = v;
        const char *node = bsn_json_str(pod, "spec.nodeName");
        struct node_acc *a = node ? bsn_map_get(&acc, node) : NULL;
        if (!a || bsn_ctrl_deleting(pod) ||
            strcmp(bsn_json_str(pod, "status.phase") ?: "", "Running"))
            continue;
        int64_t cpu, mem;
        bsn_sim_pod_usage(pod, &cpu, &mem);
        json_t *cs = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(bsn_json_path(pod, "spec.containers"), i, c)
        {
            char cq[40], mq[40];
            snprintf(cq, sizeof(cq), "%lldn", (long long)cpu);
            snprintf(mq, sizeof(mq), "%lldKi", (long long)mem);
            json_array_append_new(cs, json_pack("{s:O,s:s,s:s}", "name", json_object_get(c, "name"),
                                                "cpu", cq, "memory", mq));
            a->cpu += cpu;
            a->mem += mem;
        }
        json_array_append_new(a->pods,
                              json_pack("{s:s,s:s,s:o}", "namespace",
                                        bsn_json_str(pod, "metadata.namespace"), "name",
                                        bsn_json_str(pod, "metadata.name"), "containers", cs));
    }
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    it = 0;
    while (bsn_map_next(&acc, &it, &k, &v)) {
        struct node_acc *a = v;
        char cq[40], mq[40], path[300];
        snprintf(cq, sizeof(cq), "%lldn", (long long)a->cpu);
        snprintf(mq, sizeof(mq), "%lldKi", (long long)a->mem);
        json_t *body = json_pack("{s:s,s:s,s:{s:s,s:s},s:o}", "timestamp", now, "window", "15s",
                                 "node", "cpu", cq, "memory", mq, "pods", a->pods);
        snprintf(path, sizeof(path), "/apis/bosun.dev/v1/nodemetrics/%s", k);
        bsn_ctrl_send(m->ctx, "PUT", path, NULL, body, NULL, NULL, NULL, NULL);
        json_decref(body);
        free(a);
    }
    bsn_map_fini(&acc);
    it = 0;
    while (bsn_map_next(&m->dirty, &it, &k, &v))
        bsn_map_del(&m->dirty, k);
}

static void
tick(struct bsn_loop *loop, void *data)
{
    struct bsn_simmetrics *m = data;
    uint64_t now = bsn_mono_ms();
    bool all = now - m->last_full_ms >= REFRESH_MS;
    if (bsn_informer_synced(m->pods) && (all || m->dirty.len > 0)) {
        push(m, all);
        if (all)
            m->last_full_ms = now;
    }
    bsn_timer_start(loop, &m->timer, TICK_MS, tick, m);
}

static void
pod_changed(json_t *pod, void *data)
{
    struct bsn_simmetrics *m = data;
    const char *node = bsn_json_str(pod, "spec.nodeName");
    if (node && bsn_map_get(m->nodes, node))
        bsn_map_put(&m->dirty, node, (void *)1);
}

static void
pod_updated(json_t *old, json_t *pod, void *data)
{
    pod_changed(pod, data);
}

struct bsn_simmetrics *
bsn_simmetrics_new(struct bsn_ctrl *ctx, const struct bsn_map *nodes)
{
    struct bsn_simmetrics *m = bsn_calloc(1, sizeof(*m));
    m->ctx = ctx;
    m->nodes = nodes;
    bsn_map_init(&m->dirty);
    m->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    struct bsn_informer_handler h = {pod_changed, pod_updated, pod_changed, m};
    bsn_informer_add_handler(m->pods, &h);
    bsn_timer_init(&m->timer);
    bsn_timer_start(ctx->loop, &m->timer, TICK_MS, tick, m);
    return m;
}

void
bsn_simmetrics_free(struct bsn_simmetrics *m)
{
    if (!m)
        return;
    bsn_timer_stop(m->ctx->loop, &m->timer);
    bsn_map_fini(&m->dirty);
    free(m);
}
