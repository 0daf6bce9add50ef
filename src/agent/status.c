/*
 * status.c - the pod status the agent writes, in kubelet's shape: phase, the five
 * conditions with lastTransitionTime kept while a status does not change, init and regular
 * containerStatuses (waiting / running / terminated, lastState, restartCount, ready, started,
 * image, imageID, containerID), podIP(s), hostIP(s), startTime.
 *
 * Writes are merge patches of /status, one in flight per pod; a status identical to the last
 * one written is not sent again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "api/client.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"

static void
ts(int64_t us, char *out, size_t n)
{
    agent_time_str(us ? us : bsn_time_now_us(), out, n);
}

static json_t *
term_json(const struct agent_pod *p, const struct ctr_term *t)
{
    char s[40], f[40], cid[128];
    ts(t->started_us, s, sizeof(s));
    if (!t->started_us && !strcmp(t->reason, "StartError")) /* never ran: the epoch, as upstream */
        agent_time_str(0, s, sizeof(s));
    ts(t->finished_us, f, sizeof(f));
    json_t *o = json_pack("{s:i,s:s,s:s,s:s}", "exitCode", t->exit_code, "reason", t->reason,
                          "startedAt", s, "finishedAt", f);
    if (t->signal)
        json_object_set_new(o, "signal", json_integer(t->signal));
    if (t->message[0])
        json_object_set_new(o, "message", json_string(t->message));
    if (t->id[0]) {
        snprintf(cid, sizeof(cid), "%s://%s", bsn_runtime_name(p->a->rt), t->id);
        json_object_set_new(o, "containerID", json_string(cid));
    }
    return o;
}

static bool
crashlooping(const struct agent_ctr *c)
{
    return c->st == CT_EXITED && !strcmp(c->waiting_reason, "CrashLoopBackOff");
}

static json_t *
ctr_status(const struct agent_pod *p, const struct agent_ctr *c)
{
    json_t *state, *last = json_object();
    char t[40];
    switch (c->st) {
    case CT_RUNNING:
        ts(c->started_us, t, sizeof(t));
        state = json_pack("{s:{s:s}}", "running", "startedAt", t);
        break;
    case CT_EXITED:
        if (crashlooping(c)) {
            state = json_pack("{s:{s:s,s:s}}", "waiting", "reason", c->waiting_reason, "message",
                              c->waiting_msg);
            json_object_set_new(last, "terminated", term_json(p, &c->term));
            goto out;
        }
        state = json_pack("{s:o}", "terminated", term_json(p, &c->term));
        break;
    case CT_STARTING:
        state = json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating");
        break;
    default:
        state = json_pack("{s:{s:s}}", "waiting", "reason",
                          c->waiting_reason[0] ? c->waiting_reason : "ContainerCreating");
        if (c->waiting_msg[0])
            json_object_set_new(json_object_get(state, "waiting"), "message",
                                json_string(c->waiting_msg));
        break;
    }
    if (c->has_last)
        json_object_set_new(last, "terminated", term_json(p, &c->last));
out:;
    const char *image = json_string_value(json_object_get(c->spec, "image")) ?: "";
    json_t *o =
        json_pack("{s:s,s:o,s:o,s:b,s:i,s:s,s:s,s:b}", "name", c->name, "state", state, "lastState",
                  last, "ready", c->ready && c->st == CT_RUNNING, "restartCount", c->restart_count,
                  "image", image, "imageID", c->image_id[0] ? c->image_id : image, "started",
                  c->started && c->st == CT_RUNNING);
    const char *id = c->id[0] ? c->id : NULL;
    if (id) {
        char cid[128];
        snprintf(cid, sizeof(cid), "%s://%s", bsn_runtime_name(p->a->rt), id);
        json_object_set_new(o, "containerID", json_string(cid));
    }
    return o;
}

static void
names_list(struct bsn_buf *b, const char *name)
{
    if (b->len)
        bsn_buf_putc(b, ' ');
    bsn_buf_puts(b, name);
}

static json_t *
condition(struct agent_pod *p, const char *type, bool ok, const char *reason, const char *msg,
          const char *now)
{
    const char *ltt = now;
    size_t i;
    json_t *c;
    json_array_foreach(p->conds_prev, i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) &&
            !strcmp(json_string_value(json_object_get(c, "status")) ?: "", ok ? "True" : "False"))
            ltt = json_string_value(json_object_get(c, "lastTransitionTime")) ?: now;
    }
    json_t *o = json_pack("{s:s,s:s,s:n,s:s}", "type", type, "status", ok ? "True" : "False",
                          "lastProbeTime", "lastTransitionTime", ltt);
    if (reason)
        json_object_set_new(o, "reason", json_string(reason));
    if (msg)
        json_object_set_new(o, "message", json_string(msg));
    return o;
}

json_t *
agent_pod_status(struct agent_pod *p)
{
    const char *policy = bsn_json_str(p->pod, "spec.restartPolicy") ?: "Always";
    bool init_pending = false, init_failed = false, sidecars_ready = true;
    struct bsn_buf uninit, unready;
    bsn_buf_init(&uninit);
    bsn_buf_init(&unready);
    json_t *ics = json_array(), *cs = json_array();
    for (size_t i = 0; i < p->ninit; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        json_array_append_new(ics, ctr_status(p, c));
        if (c->sidecar) {
            if (!c->sidecar_up) {
                init_pending = true;
                names_list(&uninit, c->name);
            }
            if (!(c->ready && c->st == CT_RUNNING)) {
                sidecars_ready = false;
                names_list(&unready, c->name);
            }
            continue;
        }
        if (!(c->st == CT_EXITED && c->term.exit_code == 0)) {
            init_pending = true;
            names_list(&uninit, c->name);
            if (c->st == CT_EXITED && !strcmp(policy, "Never"))
                init_failed = true;
        }
    }
    size_t n = p->nctrs - p->ninit;
    struct bsn_ctr_summary *sum = bsn_calloc(n ? n : 1, sizeof(*sum));
    bool all_ready = sidecars_ready;
    for (size_t i = 0; i < n; i++) {
        struct agent_ctr *c = &p->ctrs[p->ninit + i];
        json_array_append_new(cs, ctr_status(p, c));
        if (c->st == CT_RUNNING) {
            sum[i].state = BSN_CS_RUNNING;
        } else if (c->st == CT_EXITED && !crashlooping(c)) {
            sum[i].state = BSN_CS_TERMINATED;
            sum[i].exit_code = c->term.exit_code;
        } else {
            sum[i].state = BSN_CS_WAITING;
            sum[i].last_terminated = c->st == CT_EXITED || c->has_last;
        }
        if (!(c->ready && c->st == CT_RUNNING)) {
            all_ready = false;
            names_list(&unready, c->name);
        }
    }
    const char *phase = bsn_agent_pod_phase(policy, init_pending, init_failed, sum, n);
    free(sum);
    char now[40], start[40], msg[1200];
    bsn_time_format(bsn_time_now(), now, sizeof(now));
    agent_time_str(p->start_time, start, sizeof(start));
    bool done = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
    json_t *conds = json_array();
    /* PodScheduled comes from the scheduler; keep it as it is */
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(p->pod, "status.conditions"), i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", "PodScheduled"))
            json_array_append(conds, c);
    }
    if (!json_array_size(conds)) /* bound directly through spec.nodeName */
        json_array_append_new(conds, condition(p, "PodScheduled", true, NULL, NULL, start));
    json_array_append_new(
        conds, condition(p, "PodReadyToStartContainers", p->sandbox[0] != '\0', NULL, NULL, now));
    snprintf(msg, sizeof(msg), "containers with incomplete status: [%s]", uninit.data ?: "");
    json_array_append_new(conds, condition(p, "Initialized", !init_pending,
                                           init_pending ? "ContainersNotInitialized" : NULL,
                                           init_pending ? msg : NULL, now));
    snprintf(msg, sizeof(msg), "containers with unready status: [%s]", unready.data ?: "");
    bool ready = all_ready && !strcmp(phase, "Running");
    const char *why = ready ? NULL : done ? "PodCompleted" : "ContainersNotReady";
    json_array_append_new(
        conds, condition(p, "ContainersReady", ready, why, ready || done ? NULL : msg, now));
    json_array_append_new(conds,
                          condition(p, "Ready", ready, why, ready || done ? NULL : msg, now));
    bsn_buf_fini(&uninit);
    bsn_buf_fini(&unready);
    json_t *st = json_pack("{s:s,s:O,s:s,s:[{s:s}],s:s,s:o}", "phase", phase, "conditions", conds,
                           "hostIP", p->a->node_ip, "hostIPs", "ip", p->a->node_ip, "startTime",
                           start, "containerStatuses", cs);
    if (p->ip[0]) {
        json_object_set_new(st, "podIP", json_string(p->ip));
        json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", p->ip));
    }
    if (p->ninit)
        json_object_set_new(st, "initContainerStatuses", ics);
    else
        json_decref(ics);
    json_decref(p->conds_prev);
    p->conds_prev = conds;
    return st;
}

static void
written(int status, const char *body, size_t len, void *data)
{
    struct agent_pod *p = data;
    p->writing = false;
    bsn_debug("agent", "pod %s: status write %u: HTTP %d in %llu ms", p->key, p->nwrites, status,
              (unsigned long long)(bsn_mono_ms() - p->write_t0));
    if (status >= 400 && status != 404 && !p->gone)
        bsn_warn("agent", "pod %s: write status: HTTP %d: %.*s", p->key, status,
                 (int)BSN_MIN(len, 300), body);
    if (status >= 400 && status != 404) {
        free(p->last_status); /* try again on the next sync */
        p->last_status = NULL;
    }
    if (p->write_again && !p->gone && !p->a->closing) {
        p->write_again = false;
        agent_pod_write_status(p);
    }
    agent_pod_unref(p);
}

/* How long a status write may wait for a container start in flight (see below). */
#define STATUS_DEFER_MS 1000

static bool
start_in_flight(const struct agent_pod *p)
{
    if (p->net_pending)
        return true;
    for (size_t i = 0; i < p->nctrs; i++)
        if (p->ctrs[i].st == CT_STARTING)
            return true;
    return false;
}

void
agent_pod_write_status(struct agent_pod *p)
{
    if (p->gone || p->a->closing || p->terminating)
        return;
    /* The pod's start is in flight (the pod network's ADD, or a container's `runc run`): its
     * outcome follows within a second or so and brings a write of its own; a write now
     * (ContainerCreating, the pod IP) would only queue ahead of it. In a burst of pods these
     * were two of three writes per pod on the remote client's connections, and the one that
     * says Ready waited behind them (one write in flight per pod). So it waits, at most
     * STATUS_DEFER_MS from the first deferred write (a sync then writes whatever the state
     * is: a slow start still shows ContainerCreating after a second). */
    uint64_t now = bsn_loop_now(p->a->loop);
    if (start_in_flight(p)) {
        if (!p->defer_since) {
            p->defer_since = now;
            agent_pod_sync_soon(p, STATUS_DEFER_MS);
        }
        if (now < p->defer_since + STATUS_DEFER_MS)
            return;
    }
    p->defer_since = 0;
    if (p->writing) {
        p->write_again = true;
        return;
    }
    json_t *st = agent_pod_status(p);
    const char *phase = json_string_value(json_object_get(st, "phase"));
    bool done = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
    char *dump = json_dumps(st, JSON_SORT_KEYS | JSON_COMPACT);
    if (p->last_status && !strcmp(p->last_status, dump)) {
        free(dump);
        json_decref(st);
        return;
    }
    free(p->last_status);
    p->last_status = dump;
    char path[700];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
    json_t *patch = json_pack("{s:o}", "status", st);
    p->writing = true;
    p->write_t0 = bsn_mono_ms();
    p->nwrites++;
    agent_pod_ref(p);
    bsn_client_request_json(p->a->cl, "PATCH", path, "application/merge-patch+json", patch, written,
                            p);
    json_decref(patch);
    if (done && !p->finished) {
        p->finished = true; /* terminal: never restarted; logs stay for kubectl logs */
        bsn_debug("agent", "pod %s finished: %s", p->key, phase);
    }
}
