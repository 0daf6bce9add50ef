/*
 * cronjob.c - the CronJob controller.
 *
 * For each CronJob: finds the latest schedule time that has passed since lastScheduleTime (or
 * creation), honours suspend, startingDeadlineSeconds and concurrencyPolicy (Allow / Forbid /
 * Replace), creates the Job "<cronjob>-<minutes since epoch>" from jobTemplate, keeps
 * status.active / lastScheduleTime / lastSuccessfulTime, and deletes finished Jobs beyond the
 * history limits. Time is read through bsn_time_now(), so tests can move the clock: with the
 * environment variable BOSUN_DEBUG_CLOCK_FILE set, the controllers read a number of seconds
 * from that file every 200 ms and apply it as the wall-clock offset (bsn_time_set_offset).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "controllers/ctrl_int.h"
#include "controllers/logic.h"

#define RESYNC_MS 10000

struct cjctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *cjs, *jobs;
    struct bsn_workqueue *q;
    struct bsn_timer clock_timer;
    char *clock_file;
    long long offset;
    struct bsn_queue_handler self_h, owned_h;
};

static int
job_finished(const json_t *job, bool *ok)
{
    size_t i;
    json_t *cnd;
    json_array_foreach(bsn_json_path(job, "status")
                           ? json_object_get(bsn_json_path(job, "status"), "conditions")
                           : NULL,
                       i, cnd)
    {
        const char *t = json_string_value(json_object_get(cnd, "type")) ?: "";
        const char *s = json_string_value(json_object_get(cnd, "status")) ?: "";
        if (strcmp(s, "True"))
            continue;
        if (!strcmp(t, "Complete")) {
            *ok = true;
            return 1;
        }
        if (!strcmp(t, "Failed")) {
            *ok = false;
            return 1;
        }
    }
    return 0;
}

static int
cmp_job_start(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(bsn_json_str(x, "metadata.creationTimestamp") ?: "",
                  bsn_json_str(y, "metadata.creationTimestamp") ?: "");
}

static void
delete_job(struct cjctrl *c, const json_t *job)
{
    char path[600];
    bsn_ctrl_obj_path("/apis/batch/v1", "jobs", bsn_json_str(job, "metadata.namespace"),
                      bsn_json_str(job, "metadata.name"), path, sizeof(path));
    strncat(path, "?propagationPolicy=Background", sizeof(path) - strlen(path) - 1);
    bsn_ctrl_send(c->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
prune(struct cjctrl *c, json_t **jobs, size_t n, int64_t limit)
{
    if ((int64_t)n <= limit)
        return;
    if (n > 1)
        qsort(jobs, n, sizeof(*jobs), cmp_job_start);
    for (size_t i = 0; i < n - (size_t)limit; i++)
        delete_job(c, jobs[i]);
}

static void
create_job(struct cjctrl *c, const char *key, const json_t *cj, time_t sched, const char *tz)
{
    const char *ns = bsn_json_str(cj, "metadata.namespace");
    const char *name = bsn_json_str(cj, "metadata.name");
    json_t *jt = bsn_json_path(cj, "spec.jobTemplate");
    json_t *meta = json_deep_copy(json_object_get(jt, "metadata"));
    if (!meta)
        meta = json_object();
    char jname[300];
    snprintf(jname, sizeof(jname), "%.200s-%lld", name, (long long)(sched / 60));
    json_object_set_new(meta, "name", json_string(jname));
    json_object_set_new(meta, "namespace", json_string(ns));
    json_object_del(meta, "creationTimestamp");
    char ts[40];
    bsn_time_format(sched, ts, sizeof(ts));
    json_object_set_new(bsn_json_path_mkobj(meta, "annotations"),
                        "batch.kubernetes.io/cronjob-scheduled-timestamp", json_string(ts));
    json_object_set_new(meta, "ownerReferences",
                        json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", "batch/v1", "kind",
                                  "CronJob", "name", name, "uid",
                                  bsn_json_str(cj, "metadata.uid") ?: "", "controller", 1,
                                  "blockOwnerDeletion", 1));
    json_t *spec = json_object_get(jt, "spec");
    json_t *job = json_pack("{s:s,s:s,s:o,s:O}", "apiVersion", "batch/v1", "kind", "Job",
                            "metadata", meta, "spec", spec ? spec : json_object());
    char path[600];
    bsn_ctrl_obj_path("/apis/batch/v1", "jobs", ns, NULL, path, sizeof(path));
    bsn_ctrl_send(c->ctx, "POST", path, NULL, job, NULL, NULL, NULL, NULL);
    json_decref(job);
    bsn_ctrl_event(c->ctx, cj, "Normal", "SuccessfulCreate", "Created job %s", jname);
    BSN_UNUSED(tz);
    BSN_UNUSED(key);
}

static int
reconcile(const char *key, void *data)
{
    struct cjctrl *c = data;
    json_t *cj = bsn_informer_get(c->cjs, key);
    if (!cj || bsn_ctrl_deleting(cj))
        return 0;
    if (!bsn_informer_synced(c->jobs))
        return 100;
    json_t *spec = bsn_json_path(cj, "spec");
    const char *uid = bsn_json_str(cj, "metadata.uid") ?: "";
    /* children */
    json_t **ok = NULL, **bad = NULL, **active = NULL;
    size_t nok = 0, nbad = 0, nactive = 0;
    time_t last_success = 0;
    const struct bsn_map *m = bsn_informer_ns(c->jobs, bsn_json_str(cj, "metadata.namespace"));
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *job = v;
        json_t *ref = bsn_ctrl_owner(job);
        if (!ref || strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid))
            continue;
        bool succeeded;
        if (job_finished(job, &succeeded)) {
            json_t ***arr = succeeded ? &ok : &bad;
            size_t *n = succeeded ? &nok : &nbad;
            *arr = bsn_realloc(*arr, (*n + 1) * sizeof(**arr));
            (*arr)[(*n)++] = job;
            time_t t;
            const char *ct = bsn_json_str(job, "status.completionTime");
            if (succeeded && ct && bsn_time_parse(ct, &t) == 0 && t > last_success)
                last_success = t;
        } else if (!bsn_ctrl_deleting(job)) {
            active = bsn_realloc(active, (nactive + 1) * sizeof(*active));
            active[nactive++] = job;
        }
    }
    prune(c, ok, nok, bsn_json_int(cj, "spec.successfulJobsHistoryLimit", 3));
    prune(c, bad, nbad, bsn_json_int(cj, "spec.failedJobsHistoryLimit", 1));
    free(ok);
    free(bad);
    struct bsn_cron cron;
    char msg[256];
    const char *tz = bsn_json_str(cj, "spec.timeZone");
    int ret = RESYNC_MS;
    time_t now = bsn_time_now();
    time_t last_sched = 0;
    const char *ls = bsn_json_str(cj, "status.lastScheduleTime");
    if (ls)
        bsn_time_parse(ls, &last_sched);
    if (bsn_cron_parse(bsn_json_str(cj, "spec.schedule") ?: "", &cron, msg, sizeof(msg)) < 0) {
        bsn_ctrl_event(c->ctx, cj, "Warning", "UnparseableSchedule", "unparseable schedule: %s",
                       msg);
        ret = 0;
    } else if (!json_is_true(json_object_get(spec, "suspend"))) {
        time_t from = last_sched;
        if (!from)
            bsn_time_parse(bsn_json_str(cj, "metadata.creationTimestamp") ?: "", &from);
        /* the most recent missed time (upstream schedules only the latest) */
        time_t sched = 0;
        int missed = 0;
        for (time_t t = bsn_cron_next(&cron, from, tz); t > 0 && t <= now;
             t = bsn_cron_next(&cron, t, tz)) {
            sched = t;
            if (++missed > 100) {
                bsn_ctrl_event(c->ctx, cj, "Warning", "TooManyMissedTimes",
                               "too many missed start times. Set or decrease "
                               ".spec.startingDeadlineSeconds or check clock skew");
                /* jump to the latest one quickly */
                while ((t = bsn_cron_next(&cron, t, tz)) > 0 && t <= now)
                    sched = t;
                break;
            }
        }
        json_t *sds = json_object_get(spec, "startingDeadlineSeconds");
        const char *policy = bsn_json_str(cj, "spec.concurrencyPolicy") ?: "Allow";
        if (sched && json_is_integer(sds) && sched + json_integer_value(sds) < now) {
            bsn_ctrl_event(c->ctx, cj, "Warning", "MissSchedule",
                           "Missed scheduled time to start a job: %s", ls ? ls : "");
            sched = 0;
        }
        if (sched && !strcmp(policy, "Forbid") && nactive > 0) {
            bsn_ctrl_event(c->ctx, cj, "Normal", "JobAlreadyActive",
                           "Not starting job because prior execution is running and concurrency "
                           "policy is Forbid");
            sched = 0;
            ret = 1000;
        }
        if (sched) {
            if (!strcmp(policy, "Replace")) {
                for (size_t i = 0; i < nactive; i++) {
                    delete_job(c, active[i]);
                    bsn_ctrl_event(c->ctx, cj, "Normal", "SuccessfulDelete", "Deleted job %s",
                                   bsn_json_str(active[i], "metadata.name"));
                }
                nactive = 0;
            }
            create_job(c, key, cj, sched, tz);
            last_sched = sched;
        }
        time_t next = bsn_cron_next(&cron, now, tz);
        if (next > 0 && (next - now) * 1000 < ret)
            ret = (int)((next - now) * 1000 + 20);
    }
    /* status */
    json_t *st = json_object();
    json_t *act = json_array();
    for (size_t i = 0; i < nactive; i++)
        json_array_append_new(act, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", "Job", "namespace",
                                             bsn_json_str(active[i], "metadata.namespace") ?: "",
                                             "name", bsn_json_str(active[i], "metadata.name") ?: "",
                                             "uid", bsn_json_str(active[i], "metadata.uid") ?: "",
                                             "apiVersion", "batch/v1"));
    free(active);
    if (json_array_size(act))
        json_object_set_new(st, "active", act);
    else
        json_decref(act);
    char buf[40];
    if (last_sched) {
        bsn_time_format(last_sched, buf, sizeof(buf));
        json_object_set_new(st, "lastScheduleTime", json_string(buf));
    }
    if (last_success) {
        bsn_time_format(last_success, buf, sizeof(buf));
        json_object_set_new(st, "lastSuccessfulTime", json_string(buf));
    } else if (bsn_json_str(cj, "status.lastSuccessfulTime")) {
        json_object_set_new(st, "lastSuccessfulTime",
                            json_string(bsn_json_str(cj, "status.lastSuccessfulTime")));
    }
    bsn_ctrl_status_put(c->ctx, cj, "/apis/batch/v1", "cronjobs", "batch/v1", "CronJob", st, c->q,
                        key);
    return ret;
}

static void
clock_tick(struct bsn_loop *loop, void *data)
{
    struct cjctrl *c = data;
    char *s = NULL;
    FILE *f = fopen(c->clock_file, "r");
    if (f) {
        char buf[64] = "";
        if (fgets(buf, sizeof(buf), f))
            s = buf;
        fclose(f);
        long long off = s ? strtoll(s, NULL, 10) : 0;
        if (off != c->offset) {
            c->offset = off;
            bsn_time_set_offset(off);
            bsn_info("cronjob", "debug clock offset now %lld s", off);
            const char *k;
            size_t it = 0;
            while (bsn_map_next(bsn_informer_ns(c->cjs, NULL), &it, &k, NULL))
                bsn_workqueue_add(c->q, k);
        }
    }
    bsn_timer_start(loop, &c->clock_timer, 200, clock_tick, c);
}

void *
bsn_cronjob_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct cjctrl *c = bsn_calloc(1, sizeof(*c));
    c->ctx = ctx;
    c->q = bsn_workqueue_new(ctx->loop, "cronjob", reconcile, c);
    c->cjs = bsn_ctrl_informer(ctx, "/apis/batch/v1/cronjobs");
    c->jobs = bsn_ctrl_informer(ctx, "/apis/batch/v1/jobs");
    c->self_h = (struct bsn_queue_handler){c->q, NULL};
    c->owned_h = (struct bsn_queue_handler){c->q, "CronJob"};
    bsn_ctrl_queue_self(c->cjs, &c->self_h);
    bsn_ctrl_queue_owned(c->jobs, &c->owned_h);
    bsn_timer_init(&c->clock_timer);
    const char *cf = getenv("BOSUN_DEBUG_CLOCK_FILE");
    if (cf && *cf) {
        c->clock_file = bsn_strdup(cf);
        bsn_timer_start(ctx->loop, &c->clock_timer, 0, clock_tick, c);
    }
    return c;
}

void
bsn_cronjob_ctrl_free(void *self)
{
    struct cjctrl *c = self;
    if (!c)
        return;
    bsn_timer_stop(c->ctx->loop, &c->clock_timer);
    bsn_workqueue_free(c->q);
    free(c->clock_file);
    free(c);
}
