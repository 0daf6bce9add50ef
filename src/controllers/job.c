/*
 * job.c - the Job controller.
 *
 * Counts the Job's pods (succeeded, failed, active), creates pods up to parallelism while
 * completions remain (Indexed mode: one pod per pending index, named "<job>-<index>-xxxxx",
 * with the completion-index annotation/label, JOB_COMPLETION_INDEX and hostname), backs off
 * after failures (10 s doubling, capped at 6 min, base overridable with the environment
 * variable BOSUN_JOB_BACKOFF_BASE, a Go duration, for tests), and finishes the Job: on success
 * SuccessCriteriaMet + Complete, on backoffLimit or activeDeadlineSeconds FailureTarget +
 * Failed, deleting what still runs. Suspend deletes active pods; ttlSecondsAfterFinished
 * deletes the finished Job. Terminal pods are counted from the pods themselves (never below
 * the counts already in status), a simplification of upstream's finalizer-based tracking.
 * podFailurePolicy (jobpolicy.h): per failed pod, FailJob fails the Job (PodFailurePolicy),
 * Ignore does not count it, FailIndex fails an Indexed Job's index for good (the Job fails
 * with FailedIndexes once every index is done or failed), Count counts it.
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
#include "controllers/jobpolicy.h"

#define INDEX_ANN     "batch.kubernetes.io/job-completion-index"
#define BACKOFF_MAX_S 360
#define MAX_INDEXES   100000

struct jobctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *jobs, *pods;
    struct bsn_workqueue *q;
    struct bsn_map expect; /* key -> (intptr_t) creates in flight */
    int64_t backoff_base_ms;
};

static bool
value_in(const json_t *values, json_int_t v)
{
    size_t i;
    json_t *x;
    json_array_foreach(values, i, x)
    {
        if (json_integer_value(x) == v)
            return true;
    }
    return false;
}

enum bsn_pfp_action
bsn_pfp_action(const json_t *policy, const json_t *pod, char *msg, size_t n)
{
    static const char *const names[] = {"Count", "Ignore", "FailJob", "FailIndex"};
    size_t ri;
    json_t *rule;
    json_array_foreach(json_object_get(policy, "rules"), ri, rule)
    {
        const char *act = json_string_value(json_object_get(rule, "action")) ?: "";
        enum bsn_pfp_action a = BSN_PFP_COUNT;
        for (int k = 0; k < 4; k++)
            if (!strcmp(act, names[k]))
                a = (enum bsn_pfp_action)k;
        json_t *oe = json_object_get(rule, "onExitCodes");
        if (oe) {
            const char *cn = json_string_value(json_object_get(oe, "containerName"));
            bool in = strcmp(json_string_value(json_object_get(oe, "operator")) ?: "In", "NotIn");
            size_t i;
            json_t *c;
            json_array_foreach(bsn_json_path(pod, "status.containerStatuses"), i, c)
            {
                json_t *code = bsn_json_path(c, "state.terminated.exitCode");
                const char *name = json_string_value(json_object_get(c, "name")) ?: "";
                if (!json_is_integer(code) || json_integer_value(code) == 0 ||
                    (cn && strcmp(cn, name)))
                    continue;
                if (value_in(json_object_get(oe, "values"), json_integer_value(code)) == in) {
                    snprintf(msg, n,
                             "Container %s for pod %s/%s failed with exit code %lld matching "
                             "%s rule at index %zu",
                             name, bsn_json_str(pod, "metadata.namespace") ?: "",
                             bsn_json_str(pod, "metadata.name") ?: "",
                             (long long)json_integer_value(code), act, ri);
                    return a;
                }
            }
        }
        size_t j;
        json_t *pc;
        json_array_foreach(json_object_get(rule, "onPodConditions"), j, pc)
        {
            const char *type = json_string_value(json_object_get(pc, "type")) ?: "";
            const char *want = json_string_value(json_object_get(pc, "status")) ?: "True";
            size_t i;
            json_t *c;
            json_array_foreach(bsn_json_path(pod, "status.conditions"), i, c)
            {
                if (!strcmp(bsn_json_str(c, "type") ?: "", type) &&
                    !strcmp(bsn_json_str(c, "status") ?: "", want)) {
                    snprintf(msg, n, "Pod %s/%s has condition %s matching %s rule at index %zu",
                             bsn_json_str(pod, "metadata.namespace") ?: "",
                             bsn_json_str(pod, "metadata.name") ?: "", type, act, ri);
                    return a;
                }
            }
        }
    }
    return BSN_PFP_COUNT;
}

static void
pod_added(json_t *pod, void *data)
{
    struct jobctrl *j = data;
    char key[512];
    if (!bsn_ctrl_owner_key(pod, "Job", key, sizeof(key)))
        return;
    intptr_t n = (intptr_t)bsn_map_get(&j->expect, key);
    if (n > 1)
        bsn_map_put(&j->expect, key, (void *)(n - 1));
    else if (n == 1)
        bsn_map_del(&j->expect, key);
    bsn_workqueue_add_coalesced(j->q, key);
}

static void
pod_updated(json_t *old, json_t *pod, void *data)
{
    struct jobctrl *j = data;
    char key[512];
    if (bsn_ctrl_owner_key(pod, "Job", key, sizeof(key)))
        bsn_workqueue_add_coalesced(j->q, key);
}

static void
pod_deleted(json_t *pod, void *data)
{
    pod_updated(NULL, pod, data);
}

static void
job_changed(json_t *job, void *data)
{
    struct jobctrl *j = data;
    char key[512];
    bsn_obj_key(job, key, sizeof(key));
    bsn_workqueue_add(j->q, key);
}

static void
job_updated(json_t *old, json_t *job, void *data)
{
    job_changed(job, data);
}

static void
job_deleted(json_t *job, void *data)
{
    struct jobctrl *j = data;
    char key[512];
    bsn_obj_key(job, key, sizeof(key));
    bsn_map_del(&j->expect, key);
}

static json_t *
cond_of(const json_t *job, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(bsn_json_path(job, "status")
                           ? json_object_get(bsn_json_path(job, "status"), "conditions")
                           : NULL,
                       i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", type))
            return c;
    }
    return NULL;
}

static bool
cond_true(const json_t *job, const char *type)
{
    json_t *c = cond_of(job, type);
    return c && !strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True");
}

static json_t *
mkcond(const char *type, const char *status, const char *reason, const char *msg, const char *now)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status, "lastProbeTime",
                     now, "lastTransitionTime", now, "reason", reason, "message", msg);
}

static int64_t
pod_index(const json_t *pod)
{
    const char *s =
        json_string_value(json_object_get(bsn_json_path(pod, "metadata.annotations"), INDEX_ANN));
    if (!s || !*s)
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end ? -1 : v;
}

/* "0-2,4,6-7" from a bitmap. */
static void
format_indexes(const bool *done, int64_t n, struct bsn_buf *out)
{
    for (int64_t i = 0; i < n;) {
        if (!done[i]) {
            i++;
            continue;
        }
        int64_t j = i;
        while (j + 1 < n && done[j + 1])
            j++;
        if (out->len)
            bsn_buf_putc(out, ',');
        if (j > i) /* as upstream: two consecutive indexes are "1,2", more "1-3" */
            bsn_buf_printf(out, "%lld%c%lld", (long long)i, j == i + 1 ? ',' : '-', (long long)j);
        else
            bsn_buf_printf(out, "%lld", (long long)i);
        i = j + 1;
    }
}

static void
delete_pod(struct jobctrl *j, const json_t *pod)
{
    char path[600];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s",
             bsn_json_str(pod, "metadata.namespace"), bsn_json_str(pod, "metadata.name"));
    bsn_ctrl_send(j->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
}

struct create_ctx {
    struct jobctrl *j;
    char key[512];
};

static void
create_done(int status, const char *body, size_t len, void *data)
{
    struct create_ctx *c = data;
    if (status >= 300) {
        intptr_t n = (intptr_t)bsn_map_get(&c->j->expect, c->key);
        if (n > 1)
            bsn_map_put(&c->j->expect, c->key, (void *)(n - 1));
        else if (n == 1)
            bsn_map_del(&c->j->expect, c->key);
    } else {
        json_t *job = bsn_informer_get(c->j->jobs, c->key);
        char name[256];
        if (job && bsn_ctrl_answer_name(body, len, name, sizeof(name)))
            bsn_ctrl_event(c->j->ctx, job, "Normal", "SuccessfulCreate", "Created pod: %s", name);
    }
    free(c);
}

static void
create_pod(struct jobctrl *j, const char *key, const json_t *job, int64_t index)
{
    const char *ns = bsn_json_str(job, "metadata.namespace");
    const char *name = bsn_json_str(job, "metadata.name");
    json_t *tmpl = bsn_json_path(job, "spec.template");
    json_t *meta = json_deep_copy(json_object_get(tmpl, "metadata"));
    if (!meta)
        meta = json_object();
    json_object_del(meta, "creationTimestamp");
    char gen[300];
    if (index >= 0)
        snprintf(gen, sizeof(gen), "%.200s-%lld-", name, (long long)index);
    else
        snprintf(gen, sizeof(gen), "%.240s-", name);
    json_object_set_new(meta, "generateName", json_string(gen));
    json_object_set_new(meta, "namespace", json_string(ns));
    json_object_set_new(meta, "ownerReferences",
                        json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", "batch/v1", "kind",
                                  "Job", "name", name, "uid",
                                  bsn_json_str(job, "metadata.uid") ?: "", "controller", 1,
                                  "blockOwnerDeletion", 1));
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    if (!spec)
        spec = json_object();
    if (index >= 0) {
        char ix[32];
        snprintf(ix, sizeof(ix), "%lld", (long long)index);
        json_object_set_new(bsn_json_path_mkobj(meta, "annotations"), INDEX_ANN, json_string(ix));
        json_object_set_new(bsn_json_path_mkobj(meta, "labels"), INDEX_ANN, json_string(ix));
        if (!json_object_get(spec, "hostname")) {
            char hn[300];
            snprintf(hn, sizeof(hn), "%.200s-%lld", name, (long long)index);
            json_object_set_new(spec, "hostname", json_string(hn));
        }
        size_t i;
        json_t *c;
        const char *lists[] = {"containers", "initContainers"};
        for (int l = 0; l < 2; l++) {
            json_array_foreach(json_object_get(spec, lists[l]), i, c)
            {
                json_t *env = json_object_get(c, "env");
                if (!json_is_array(env)) {
                    env = json_array();
                    json_object_set_new(c, "env", env);
                }
                json_array_append_new(env,
                                      json_pack("{s:s,s:{s:{s:s}}}", "name", "JOB_COMPLETION_INDEX",
                                                "valueFrom", "fieldRef", "fieldPath",
                                                "metadata.annotations['" INDEX_ANN "']"));
            }
        }
    }
    json_t *pod = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata",
                            meta, "spec", spec);
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
    intptr_t n = (intptr_t)bsn_map_get(&j->expect, key);
    bsn_map_put(&j->expect, key, (void *)(n + 1));
    struct create_ctx *cc = bsn_calloc(1, sizeof(*cc));
    cc->j = j;
    snprintf(cc->key, sizeof(cc->key), "%s", key);
    bsn_ctrl_send(j->ctx, "POST", path, NULL, pod, j->q, key, create_done, cc);
    json_decref(pod);
}

static time_t
finish_time(const json_t *pod)
{
    size_t i;
    json_t *cs;
    time_t best = 0;
    json_array_foreach(bsn_json_path(pod, "status")
                           ? json_object_get(bsn_json_path(pod, "status"), "containerStatuses")
                           : NULL,
                       i, cs)
    {
        const char *f = bsn_json_str(cs, "state.terminated.finishedAt");
        time_t t;
        if (f && bsn_time_parse(f, &t) == 0 && t > best)
            best = t;
    }
    return best;
}

/* The status is replaced as a whole (a merge patch would keep stale keys such as
 * completionTime). */
static void
write_status(struct jobctrl *j, const char *key, const json_t *job, json_t *st)
{
    bsn_ctrl_status_put(j->ctx, job, "/apis/batch/v1", "jobs", "batch/v1", "Job", st, j->q, key);
}

static int
reconcile(const char *key, void *data)
{
    struct jobctrl *j = data;
    json_t *job = bsn_informer_get(j->jobs, key);
    if (!job)
        return 0;
    if (!bsn_informer_synced(j->pods))
        return 100;
    if (bsn_ctrl_deleting(job))
        return 0;
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    time_t tnow = bsn_time_now();
    json_t *spec = bsn_json_path(job, "spec");
    bool finished = cond_true(job, "Complete") || cond_true(job, "Failed");
    if (finished) {
        json_t *ttl = json_object_get(spec, "ttlSecondsAfterFinished");
        if (!json_is_integer(ttl))
            return 0;
        const char *ft = bsn_json_str(job, "status.completionTime");
        json_t *fc = cond_true(job, "Failed") ? cond_of(job, "Failed") : NULL;
        if (!ft && fc)
            ft = json_string_value(json_object_get(fc, "lastTransitionTime"));
        time_t t;
        if (!ft || bsn_time_parse(ft, &t) < 0)
            return 0;
        int64_t left = t + json_integer_value(ttl) - tnow;
        if (left > 0)
            return (int)BSN_MIN(left * 1000 + 50, 3600 * 1000);
        char path[600];
        bsn_ctrl_obj_path("/apis/batch/v1", "jobs", bsn_json_str(job, "metadata.namespace"),
                          bsn_json_str(job, "metadata.name"), path, sizeof(path));
        strncat(path, "?propagationPolicy=Background", sizeof(path) - strlen(path) - 1);
        bsn_ctrl_send(j->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
        return 0;
    }
    bool indexed = !strcmp(bsn_json_str(job, "spec.completionMode") ?: "", "Indexed");
    json_t *jc = json_object_get(spec, "completions");
    int64_t completions = json_is_integer(jc) ? json_integer_value(jc) : -1;
    int64_t parallelism = bsn_json_int(job, "spec.parallelism", 1);
    int64_t backoff_limit = bsn_json_int(job, "spec.backoffLimit", 6);
    bool suspended = json_is_true(json_object_get(spec, "suspend"));
    const char *uid = bsn_json_str(job, "metadata.uid") ?: "";
    /* the Job's pods */
    int64_t succeeded = 0, failed = 0, ready = 0, terminating = 0;
    json_t **active = NULL;
    size_t nactive = 0;
    time_t last_fail = 0;
    int64_t nidx = indexed && completions > 0 ? BSN_MIN(completions, MAX_INDEXES) : 0;
    bool *done = nidx ? bsn_calloc((size_t)nidx, sizeof(bool)) : NULL;
    bool *running = nidx ? bsn_calloc((size_t)nidx, sizeof(bool)) : NULL;
    bool *failed_ix = nidx ? bsn_calloc((size_t)nidx, sizeof(bool)) : NULL;
    json_t *pfp = json_object_get(spec, "podFailurePolicy");
    char pfp_msg[400] = "";
    int64_t nfailed_ix = 0;
    const struct bsn_map *m = bsn_informer_ns(j->pods, bsn_json_str(job, "metadata.namespace"));
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *pod = v;
        json_t *ref = bsn_ctrl_owner(pod);
        if (!ref || strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid))
            continue;
        const char *phase = bsn_json_str(pod, "status.phase") ?: "";
        int64_t ix = pod_index(pod);
        if (!strcmp(phase, "Succeeded")) {
            if (nidx && ix >= 0 && ix < nidx) {
                if (!done[ix])
                    succeeded++;
                done[ix] = true;
            } else if (!nidx) {
                succeeded++;
            }
        } else if (!strcmp(phase, "Failed")) {
            char pm[400] = "";
            enum bsn_pfp_action a = pfp ? bsn_pfp_action(pfp, pod, pm, sizeof(pm)) : BSN_PFP_COUNT;
            if (a == BSN_PFP_IGNORE)
                continue;
            if (a == BSN_PFP_FAIL_JOB && !pfp_msg[0])
                snprintf(pfp_msg, sizeof(pfp_msg), "%s", pm);
            if (a == BSN_PFP_FAIL_INDEX && nidx && ix >= 0 && ix < nidx && !failed_ix[ix]) {
                failed_ix[ix] = true;
                nfailed_ix++;
            }
            failed++;
            time_t ft = finish_time(pod);
            if (ft > last_fail)
                last_fail = ft;
        } else if (bsn_ctrl_deleting(pod)) {
            terminating++;
        } else {
            active = bsn_realloc(active, (nactive + 1) * sizeof(*active));
            active[nactive++] = pod;
            if (bsn_pod_ready(pod))
                ready++;
            if (nidx && ix >= 0 && ix < nidx)
                running[ix] = true;
        }
    }
    if (!nidx)
        succeeded = BSN_MAX(succeeded, bsn_json_int(job, "status.succeeded", 0));
    failed = BSN_MAX(failed, bsn_json_int(job, "status.failed", 0));
    json_t *st = json_object();
    const char *start = bsn_json_str(job, "status.startTime");
    json_t *conds = json_deep_copy(bsn_json_path(job, "status")
                                       ? json_object_get(bsn_json_path(job, "status"), "conditions")
                                       : NULL);
    if (!conds)
        conds = json_array();
    int ret = 0;
    bool finish_ok = false, finish_fail = false;
    const char *fail_reason = NULL, *fail_msg = NULL;
    int64_t ads = bsn_json_int(job, "spec.activeDeadlineSeconds", -1);
    time_t tstart = 0;
    if (start)
        bsn_time_parse(start, &tstart);
    if (pfp_msg[0]) {
        finish_fail = true;
        fail_reason = "PodFailurePolicy";
        fail_msg = pfp_msg;
    } else if (nfailed_ix > 0 && succeeded + nfailed_ix >= completions) {
        finish_fail = true;
        fail_reason = "FailedIndexes";
        fail_msg = "Job has failed indexes";
    } else if (completions < 0 ? (succeeded > 0 && nactive == 0)
                               : (succeeded >= completions && completions >= 0)) {
        finish_ok = true;
    } else if (failed > backoff_limit) {
        finish_fail = true;
        fail_reason = "BackoffLimitExceeded";
        fail_msg = "Job has reached the specified backoff limit";
    } else if (ads >= 0 && tstart && !suspended && tstart + ads <= tnow) {
        finish_fail = true;
        fail_reason = "DeadlineExceeded";
        fail_msg = "Job was active longer than specified deadline";
    }
    if (finish_ok || finish_fail) {
        for (size_t i = 0; i < nactive; i++)
            delete_pod(j, active[i]);
        if (finish_ok) {
            json_array_append_new(conds, mkcond("SuccessCriteriaMet", "True", "CompletionsReached",
                                                "Reached expected number of succeeded pods", now));
            json_array_append_new(conds, mkcond("Complete", "True", "CompletionsReached",
                                                "Reached expected number of succeeded pods", now));
            json_object_set_new(st, "completionTime", json_string(now));
            bsn_ctrl_event(j->ctx, job, "Normal", "Completed", "Job completed");
        } else {
            json_array_append_new(conds,
                                  mkcond("FailureTarget", "True", fail_reason, fail_msg, now));
            json_array_append_new(conds, mkcond("Failed", "True", fail_reason, fail_msg, now));
            bsn_ctrl_event(j->ctx, job, "Warning", fail_reason, "%s", fail_msg);
        }
        nactive = 0;
        ready = 0;
        if (json_is_integer(json_object_get(spec, "ttlSecondsAfterFinished")))
            ret = 50;
    } else if (suspended) {
        for (size_t i = 0; i < nactive; i++)
            delete_pod(j, active[i]);
        nactive = 0;
        ready = 0;
        if (!cond_true(job, "Suspended")) {
            json_t *old = cond_of(job, "Suspended");
            if (old) {
                for (size_t i = 0; i < json_array_size(conds); i++)
                    if (!strcmp(bsn_json_str(json_array_get(conds, i), "type") ?: "", "Suspended"))
                        json_array_remove(conds, i);
            }
            json_array_append_new(
                conds, mkcond("Suspended", "True", "JobSuspended", "Job suspended", now));
            bsn_ctrl_event(j->ctx, job, "Normal", "Suspended", "Job suspended");
        }
        start = NULL;
    } else {
        if (cond_true(job, "Suspended")) {
            for (size_t i = 0; i < json_array_size(conds); i++)
                if (!strcmp(bsn_json_str(json_array_get(conds, i), "type") ?: "", "Suspended"))
                    json_array_remove(conds, i);
            json_array_append_new(conds,
                                  mkcond("Suspended", "False", "JobResumed", "Job resumed", now));
            bsn_ctrl_event(j->ctx, job, "Normal", "Resumed", "Job resumed");
            start = NULL;
        }
        if (!start)
            start = now;
        if (ads >= 0) {
            time_t ts0 = tstart && start != now ? tstart : tnow;
            ret = (int)BSN_MIN((ts0 + ads - tnow) * 1000 + 50, 3600 * 1000);
        }
        /* how many pods to start */
        int64_t want;
        if (nidx)
            want = parallelism;
        else if (completions < 0)
            want = succeeded > 0 ? 0 : parallelism;
        else
            want = BSN_MIN(parallelism, completions - succeeded);
        int64_t pending = (intptr_t)bsn_map_get(&j->expect, key);
        int64_t need = want - (int64_t)nactive - pending;
        if (need > 0 && failed > 0 && last_fail) {
            int64_t delay = j->backoff_base_ms;
            for (int64_t k = 1; k < failed && delay < BACKOFF_MAX_S * 1000; k++)
                delay *= 2;
            if (delay > BACKOFF_MAX_S * 1000)
                delay = BACKOFF_MAX_S * 1000;
            int64_t left_ms = (int64_t)last_fail * 1000 + delay - bsn_time_now_us() / 1000;
            if (left_ms > 0) {
                need = 0;
                ret = (int)BSN_MIN(left_ms + 20, 3600 * 1000);
            }
        }
        if (pending == 0) {
            for (int64_t ix = 0; need > 0 && nidx && ix < nidx; ix++) {
                if (done[ix] || running[ix] || failed_ix[ix])
                    continue;
                create_pod(j, key, job, ix);
                need--;
            }
            for (; need > 0 && !nidx; need--)
                create_pod(j, key, job, -1);
        }
    }
    if (start)
        json_object_set_new(st, "startTime", json_string(start));
    const char *ct = bsn_json_str(job, "status.completionTime");
    if (ct && !json_object_get(st, "completionTime"))
        json_object_set_new(st, "completionTime", json_string(ct));
    json_object_set_new(st, "active", json_integer((json_int_t)nactive));
    json_object_set_new(st, "ready", json_integer(ready));
    json_object_set_new(st, "succeeded", json_integer(succeeded));
    json_object_set_new(st, "failed", json_integer(failed));
    json_object_set_new(st, "terminating", json_integer(terminating));
    json_object_set_new(st, "uncountedTerminatedPods", json_object());
    if (nidx) {
        struct bsn_buf b;
        bsn_buf_init(&b);
        format_indexes(done, nidx, &b);
        if (b.len)
            json_object_set_new(st, "completedIndexes", json_string(b.data));
        bsn_buf_fini(&b);
        if (nfailed_ix > 0) {
            bsn_buf_init(&b);
            format_indexes(failed_ix, nidx, &b);
            if (b.len)
                json_object_set_new(st, "failedIndexes", json_string(b.data));
            bsn_buf_fini(&b);
        }
    }
    if (json_array_size(conds))
        json_object_set_new(st, "conditions", conds);
    else
        json_decref(conds);
    /* keep upstream's omitempty look for zero counters */
    static const char *const zeros[] = {"active", "succeeded", "failed", "terminating"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(zeros); i++)
        if (json_integer_value(json_object_get(st, zeros[i])) == 0)
            json_object_del(st, zeros[i]);
    write_status(j, key, job, st);
    free(active);
    free(done);
    free(running);
    free(failed_ix);
    return ret;
}

void *
bsn_job_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct jobctrl *j = bsn_calloc(1, sizeof(*j));
    j->ctx = ctx;
    j->backoff_base_ms = 10000;
    const char *env = getenv("BOSUN_JOB_BACKOFF_BASE");
    int64_t ns;
    struct bsn_err err;
    if (env && bsn_duration_parse(env, &ns, &err) == 0 && ns >= 0)
        j->backoff_base_ms = ns / 1000000;
    bsn_map_init(&j->expect);
    j->q = bsn_workqueue_new(ctx->loop, "job", reconcile, j);
    j->jobs = bsn_ctrl_informer(ctx, "/apis/batch/v1/jobs");
    j->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    struct bsn_informer_handler hj = {job_changed, job_updated, job_deleted, j};
    bsn_informer_add_handler(j->jobs, &hj);
    struct bsn_informer_handler hp = {pod_added, pod_updated, pod_deleted, j};
    bsn_informer_add_handler(j->pods, &hp);
    return j;
}

void
bsn_job_ctrl_free(void *self)
{
    struct jobctrl *j = self;
    if (!j)
        return;
    bsn_workqueue_free(j->q);
    bsn_map_fini(&j->expect);
    free(j);
}
