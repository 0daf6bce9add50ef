/*
 * metrics.c - per-pod and per-container resource usage for the metrics API (kubectl top, HPA):
 * every interval (15 s by default, and on demand) the agent reads each running container's
 * counters from the runtime, turns cumulative CPU time into a rate over the window
 * (nanocores) next to the memory working set, adds the node's own usage (/proc/stat,
 * /proc/meminfo) and pushes the lot with PUT /apis/bosun.dev/v1/nodemetrics/<node>:
 *
 *   {"timestamp":"RFC3339","window":"15s","node":{"cpu":"<n>n","memory":"<n>Ki"},
 *    "pods":[{"namespace":..,"name":..,"containers":[{"name":..,"cpu":"<n>n",
 *                                                     "memory":"<n>Ki"}]}]}
 *
 * A container shows up from its second sample on (a rate needs two readings). A server
 * without the endpoint (404) is logged once at debug level and otherwise ignored.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "api/client.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"

#define DEFAULT_INTERVAL_MS 15000
#define FIRST_SAMPLE_MS     1000

struct prev {
    uint64_t cpu_ns;
    int64_t t_us;
    unsigned gen;
};

struct agent_metrics {
    struct bsn_timer timer;
    unsigned interval_ms;
    unsigned gen;
    struct bsn_map prev;            /* runtime container id -> struct prev* */
    uint64_t node_busy, node_total; /* /proc/stat jiffies at the last sample */
    int64_t node_t_us;
    json_t *last;
    int last_status; /* of the last push, logged when it changes */
};

/* Busy and total jiffies over all CPUs. */
static int
read_proc_stat(uint64_t *busy, uint64_t *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 4)
        return -1;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++) /* guest time is already in user */
        t += v[i];
    *total = t;
    *busy = t - v[3] - v[4]; /* minus idle and iowait */
    return 0;
}

static long long
mem_used_ki(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    long long total = 0, avail = 0, kb;
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
            total = kb;
        else if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            avail = kb;
    }
    if (f)
        fclose(f);
    return total > avail ? total - avail : 0;
}

static void
push_done(int status, const char *body, size_t len, void *data)
{
    struct bsn_agent *a = data;
    if (a->closing || !a->metrics)
        return;
    struct agent_metrics *m = a->metrics;
    if (status != m->last_status && status >= 300)
        bsn_debug("agent", "pushing node metrics: HTTP %d: %.*s%s", status, (int)BSN_MIN(len, 200),
                  body, status == 404 ? " (the server has no nodemetrics endpoint)" : "");
    m->last_status = status;
}

static json_t *
node_usage(struct agent_metrics *m, int64_t now_us)
{
    uint64_t busy = 0, total = 0;
    long long cores_n = 0;
    if (read_proc_stat(&busy, &total) == 0) {
        if (m->node_t_us && total > m->node_total && busy >= m->node_busy) {
            /* share of all CPUs busy, times the number of CPUs, in nanocores */
            double share = (double)(busy - m->node_busy) / (double)(total - m->node_total);
            cores_n = (long long)(share * (double)sysconf(_SC_NPROCESSORS_ONLN) * 1e9);
        }
        m->node_busy = busy;
        m->node_total = total;
        m->node_t_us = now_us;
    }
    char cpu[32], mem[32];
    snprintf(cpu, sizeof(cpu), "%lldn", cores_n);
    snprintf(mem, sizeof(mem), "%lldKi", mem_used_ki());
    return json_pack("{s:s,s:s}", "cpu", cpu, "memory", mem);
}

void
bsn_agent_metrics_sample(struct bsn_agent *a)
{
    struct agent_metrics *m = a->metrics;
    if (!m || a->closing)
        return;
    m->gen++;
    int64_t now_us = bsn_time_now_us();
    json_t *pods = json_array();
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&a->pods, &it, &k, &v);) {
        struct agent_pod *p = v;
        json_t *ctrs = json_array();
        for (size_t i = 0; i < p->nctrs; i++) {
            struct agent_ctr *c = &p->ctrs[i];
            if (!c->id[0] || c->st != CT_RUNNING)
                continue;
            struct bsn_container_stats st;
            struct bsn_err err;
            bsn_err_clear(&err);
            if (bsn_runtime_container_stats(a->rt, c->id, &st, &err) < 0)
                continue;
            struct prev *pv = bsn_map_get(&m->prev, c->id);
            if (!pv) {
                pv = bsn_calloc(1, sizeof(*pv));
                bsn_map_put(&m->prev, c->id, pv);
            } else if (st.timestamp_us > pv->t_us && st.cpu_usage_ns >= pv->cpu_ns) {
                double secs = (double)(st.timestamp_us - pv->t_us) / 1e6;
                long long nano = (long long)((double)(st.cpu_usage_ns - pv->cpu_ns) / secs);
                char cpu[32], mem[32];
                snprintf(cpu, sizeof(cpu), "%lldn", nano);
                snprintf(mem, sizeof(mem), "%" PRIu64 "Ki", st.memory_working_set / 1024);
                json_array_append_new(
                    ctrs, json_pack("{s:s,s:s,s:s}", "name", c->name, "cpu", cpu, "memory", mem));
            }
            pv->cpu_ns = st.cpu_usage_ns;
            pv->t_us = st.timestamp_us;
            pv->gen = m->gen;
        }
        if (json_array_size(ctrs))
            json_array_append_new(pods, json_pack("{s:s,s:s,s:o}", "namespace", p->ns, "name",
                                                  p->name, "containers", ctrs));
        else
            json_decref(ctrs);
    }
    /* forget containers that are gone */
    for (size_t it = 0; bsn_map_next(&m->prev, &it, &k, &v);) {
        struct prev *pv = v;
        if (pv->gen != m->gen) {
            bsn_map_del(&m->prev, k);
            free(pv);
        }
    }
    char ts[40], window[32];
    bsn_time_format((time_t)(now_us / 1000000), ts, sizeof(ts));
    snprintf(window, sizeof(window), "%gs", m->interval_ms / 1000.0);
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:{s:s},s:o,s:o}", "apiVersion", "bosun.dev/v1",
                            "kind", "NodeMetrics", "timestamp", ts, "window", window, "metadata",
                            "name", a->node, "node", node_usage(m, now_us), "pods", pods);
    json_decref(m->last);
    m->last = doc;
    char path[400];
    snprintf(path, sizeof(path), "/apis/bosun.dev/v1/nodemetrics/%s", a->node);
    bsn_client_request_json(a->cl, "PUT", path, NULL, doc, push_done, a);
}

json_t *
bsn_agent_metrics_json(struct bsn_agent *a)
{
    return a->metrics && a->metrics->last ? json_incref(a->metrics->last) : NULL;
}

static void
tick(struct bsn_loop *loop, void *data)
{
    struct bsn_agent *a = data;
    bsn_agent_metrics_sample(a);
    bsn_timer_start(loop, &a->metrics->timer, a->metrics->interval_ms, tick, a);
}

void
agent_metrics_start(struct bsn_agent *a, unsigned interval_ms)
{
    struct agent_metrics *m = bsn_calloc(1, sizeof(*m));
    m->interval_ms = interval_ms ? interval_ms : DEFAULT_INTERVAL_MS;
    bsn_map_init(&m->prev);
    bsn_timer_init(&m->timer);
    a->metrics = m;
    bsn_timer_start(a->loop, &m->timer, BSN_MIN(FIRST_SAMPLE_MS, m->interval_ms), tick, a);
}

void
agent_metrics_stop(struct bsn_agent *a)
{
    struct agent_metrics *m = a->metrics;
    if (!m)
        return;
    bsn_timer_stop(a->loop, &m->timer);
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&m->prev, &it, &k, &v);)
        free(v);
    bsn_map_fini(&m->prev);
    json_decref(m->last);
    free(m);
    a->metrics = NULL;
}
