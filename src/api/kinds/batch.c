/*
 * batch.c - batch/v1 Job and CronJob: defaults (including the uid-based selector and labels a
 * Job gets unless manualSelector is set), validation (restartPolicy, completion modes, cron
 * schedule syntax in the robfig/cron standard dialect, time zones), and printer columns.
 */
#include "api/kinds/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/time.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

static const char *const job_restart[] = {"OnFailure", "Never", NULL};

/* ---- Job ---- */

static void
job_spec_defaults(json_t *spec, bool has_pod_failure_policy)
{
    json_t *c = json_object_get(spec, "completions"), *p = json_object_get(spec, "parallelism");
    if ((!c || json_is_null(c)) && (!p || json_is_null(p))) {
        json_object_set_new(spec, "completions", json_integer(1));
        json_object_set_new(spec, "parallelism", json_integer(1));
    }
    kj_def_int(spec, "parallelism", 1);
    if (json_object_get(spec, "backoffLimitPerIndex") &&
        !json_is_null(json_object_get(spec, "backoffLimitPerIndex")))
        kj_def_int(spec, "backoffLimit", 2147483647);
    else
        kj_def_int(spec, "backoffLimit", 6);
    kj_def_str(spec, "completionMode", "NonIndexed");
    kj_def_bool(spec, "suspend", false);
    kj_def_str(spec, "podReplacementPolicy",
               has_pod_failure_policy ? "Failed" : "TerminatingOrFailed");
    kj_def_bool(spec, "manualSelector", false);
    size_t i, j;
    json_t *rule, *pat;
    json_array_foreach(kj_get(spec, "podFailurePolicy.rules"), i, rule)
    {
        json_array_foreach(json_object_get(rule, "onPodConditions"), j, pat)
            kj_def_str(pat, "status", "True");
    }
    kp_default_template(json_object_get(spec, "template"));
}

static void
job_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    job_spec_defaults(spec, json_object_get(spec, "podFailurePolicy") != NULL);
    /* Generated selector (upstream does this in the strategy's PrepareForCreate; the uid is
     * assigned before defaults here). */
    const char *uid = kj_str(obj, "metadata.uid"), *name = kj_str(obj, "metadata.name");
    json_t *sel = json_object_get(spec, "selector");
    if (uid && *uid && !kj_true(spec, "manualSelector") && (!sel || json_is_null(sel))) {
        json_object_set_new(
            spec, "selector",
            json_pack("{s:{s:s}}", "matchLabels", "batch.kubernetes.io/controller-uid", uid));
        json_t *tmpl = kj_obj(spec, "template");
        json_t *labels = kj_obj(kj_obj(tmpl, "metadata"), "labels");
        json_object_set_new(labels, "batch.kubernetes.io/controller-uid", json_string(uid));
        json_object_set_new(labels, "controller-uid", json_string(uid));
        if (name) {
            json_object_set_new(labels, "batch.kubernetes.io/job-name", json_string(name));
            json_object_set_new(labels, "job-name", json_string(name));
        }
    }
    /* Job labels default to the template's labels. */
    json_t *tl = kj_get(spec, "template.metadata.labels");
    json_t *md = kj_obj(obj, "metadata");
    if (json_object_size(tl) > 0 && json_object_size(json_object_get(md, "labels")) == 0)
        json_object_set_new(md, "labels", json_deep_copy(tl));
}

static int
job_spec_validate(struct bsn_err *err, const json_t *spec, const char *p, bool check_selector)
{
    static const char *const modes[] = {"NonIndexed", "Indexed", NULL};
    static const char *const rpp[] = {"TerminatingOrFailed", "Failed", NULL};
    char f[200], buf[512];
    int rc = 0;
    static const char *const nonneg[] = {"parallelism",          "completions",
                                         "backoffLimit",         "ttlSecondsAfterFinished",
                                         "backoffLimitPerIndex", "maxFailedIndexes"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(nonneg); i++) {
        F(f, "%s.%s", p, nonneg[i]);
        rc |= kv_nonneg(err, spec, nonneg[i], f);
    }
    json_t *ads = json_object_get(spec, "activeDeadlineSeconds");
    if (ads && json_is_integer(ads) && json_integer_value(ads) <= 0) {
        F(f, "%s.activeDeadlineSeconds", p);
        rc |= kv_invalid_i(err, f, json_integer_value(ads), "must be greater than 0");
    }
    F(f, "%s.completionMode", p);
    rc |= kv_enum(err, spec, "completionMode", f, modes, false);
    if (strcmp(kj_str_or(spec, "completionMode", ""), "Indexed") == 0 &&
        !json_is_integer(json_object_get(spec, "completions"))) {
        F(f, "%s.completions", p);
        rc |= kv_required(err, f, "when completion mode is Indexed");
    }
    F(f, "%s.podReplacementPolicy", p);
    rc |= kv_enum(err, spec, "podReplacementPolicy", f, rpp, false);
    const json_t *sel = json_object_get(spec, "selector");
    const json_t *tmpl = json_object_get(spec, "template");
    if (check_selector) {
        F(f, "%s.selector", p);
        if (!sel || json_is_null(sel)) {
            rc |= kv_required(err, f, NULL);
        } else {
            rc |= ks_validate_selector(err, sel, f);
            if (tmpl && !ks_selector_matches(sel, kj_get(tmpl, "metadata.labels"))) {
                ks_go_map(kj_get(tmpl, "metadata.labels"), buf, sizeof(buf));
                F(f, "%s.template.metadata.labels", p);
                rc |= kv_invalid_raw(err, f, buf, "`selector` does not match template `labels`");
            }
        }
    }
    F(f, "%s.template", p);
    if (!tmpl)
        return kv_required(err, f, NULL);
    const char *rp = kj_str(tmpl, "spec.restartPolicy");
    rc |= kp_validate_template(err, tmpl, f, NULL);
    if (!rp || (strcmp(rp, "OnFailure") && strcmp(rp, "Never"))) {
        F(f, "%s.template.spec.restartPolicy", p);
        rc |= kv_unsupported(err, f, rp ? rp : "", job_restart);
    }
    return rc ? -1 : 0;
}

/* Without manualSelector the selector must be the generated one (upstream
 * validateGeneratedSelector). */
static int
validate_generated_selector(const json_t *obj, struct bsn_err *err)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *uid = kj_str(obj, "metadata.uid");
    if (kj_true(spec, "manualSelector") || !uid || !*uid)
        return 0;
    const json_t *sel = json_object_get(spec, "selector");
    const json_t *ml = json_object_get(sel, "matchLabels");
    const char *want = json_string_value(json_object_get(ml, "batch.kubernetes.io/controller-uid"));
    const char *legacy = json_string_value(json_object_get(ml, "controller-uid"));
    bool ok = json_object_size(sel) == 1 && json_object_size(ml) == 1 &&
              ((want && strcmp(want, uid) == 0) || (legacy && strcmp(legacy, uid) == 0));
    if (!ok) {
        char buf[512], val[600];
        ks_go_map(ml, buf, sizeof(buf));
        F(val, "v1.LabelSelector{MatchLabels:%s, MatchExpressions:[]v1.LabelSelectorRequirement%s}",
          buf, kj_len(sel, "matchExpressions") ? "{...}" : "(nil)");
        return kv_invalid_raw(err, "spec.selector", val, "`selector` not auto-generated");
    }
    const json_t *tl = kj_get(spec, "template.metadata.labels");
    const char *tv = json_string_value(json_object_get(tl, "batch.kubernetes.io/controller-uid"));
    if (want && (!tv || strcmp(tv, uid) != 0)) {
        char d[160];
        F(d, "must be '%s'", uid);
        if (!tv)
            return kv_required(
                err, "spec.template.metadata.labels[batch.kubernetes.io/controller-uid]", d);
        return kv_invalid_s(
            err, "spec.template.metadata.labels[batch.kubernetes.io/controller-uid]", tv, d);
    }
    return 0;
}

static int
job_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    const json_t *spec = json_object_get(obj, "spec");
    int rc = job_spec_validate(err, spec, "spec", true);
    rc |= validate_generated_selector(obj, err);
    if (old) {
        rc |= kv_immutable(err, obj, old, "spec.selector");
        rc |= kv_immutable(err, obj, old, "spec.completionMode");
        if (!kj_true(old, "spec.suspend")) {
            json_t *a = kj_get(obj, "spec.template"), *b = kj_get(old, "spec.template");
            if (a && b && !json_equal(a, b))
                rc |= kv_invalid_raw(err, "spec.template", "core.PodTemplateSpec{...}",
                                     "field is immutable");
        }
        if (strcmp(kj_str_or(obj, "spec.completionMode", ""), "Indexed") != 0)
            rc |= kv_immutable(err, obj, old, "spec.completions");
    }
    return rc ? -1 : 0;
}

static bool
cond_true(const json_t *obj, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(kj_get(obj, "status.conditions"), i, c)
    {
        if (strcmp(kj_str_or(c, "type", ""), type) == 0 &&
            strcmp(kj_str_or(c, "status", ""), "True") == 0)
            return true;
    }
    return false;
}

static const struct bsn_column job_columns[] = {
    KC_NAME,
    {"Status", "string", "", "Status of the job.", 0},
    {"Completions", "string", "", "The completion status of the job", 0},
    {"Duration", "string", "", "Time required to complete the job.", 0},
    KC_AGE,
    {"Containers", "string", "", "Names of each container in the template.", 1},
    {"Images", "string", "", "Images referenced by each container in the template.", 1},
    {"Selector", "string", "", "A label query over pods that should match the pod count.", 1},
    KC_END,
};

static void
job_row(const json_t *obj, json_t *cells)
{
    char comp[64], dur[32] = "", buf[1024];
    const json_t *spec = json_object_get(obj, "spec");
    json_int_t succ = kj_int(obj, "status.succeeded", 0);
    if (json_is_integer(json_object_get(spec, "completions"))) {
        F(comp, "%lld/%lld", (long long)succ, (long long)kj_int(spec, "completions", 0));
    } else {
        json_int_t par = kj_int(spec, "parallelism", 0);
        if (par > 1)
            F(comp, "%lld/1 of %lld", (long long)succ, (long long)par);
        else
            F(comp, "%lld/1", (long long)succ);
    }
    time_t start, end;
    const char *st = kj_str(obj, "status.startTime"), *ct = kj_str(obj, "status.completionTime");
    if (st && bsn_time_parse(st, &start) == 0) {
        if (ct && bsn_time_parse(ct, &end) == 0)
            kc_human_duration((int64_t)(end - start), dur, sizeof(dur));
        else
            kc_human_duration((int64_t)(bsn_time_now() - start), dur, sizeof(dur));
    }
    const char *status = "Running";
    if (cond_true(obj, "Complete"))
        status = "Complete";
    else if (cond_true(obj, "Failed"))
        status = "Failed";
    else if (kj_str(obj, "metadata.deletionTimestamp"))
        status = "Terminating";
    else if (cond_true(obj, "Suspended"))
        status = "Suspended";
    else if (cond_true(obj, "FailureTarget"))
        status = "FailureTarget";
    else if (cond_true(obj, "SuccessCriteriaMet"))
        status = "SuccessCriteriaMet";
    kc_name(cells, obj);
    kc_str(cells, status);
    kc_str(cells, comp);
    kc_str(cells, dur);
    kc_age(cells, obj);
    kc_containers(kj_get(spec, "template.spec"), false, buf, sizeof(buf));
    kc_str(cells, buf);
    kc_containers(kj_get(spec, "template.spec"), true, buf, sizeof(buf));
    kc_str(cells, buf);
    ks_selector_string(json_object_get(spec, "selector"), buf, sizeof(buf));
    kc_str(cells, buf);
}

static const char *
job_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    if (strcmp(field, "status.successful") != 0)
        return NULL;
    snprintf(buf, bufsz, "%lld", (long long)kj_int(obj, "status.succeeded", 0));
    return buf;
}

static void
prep_create(json_t *obj)
{
    kh_strip_status(obj);
}

static void
prep_update(json_t *obj, const json_t *old)
{
    kh_keep_status(obj, old);
}

static void
prep_status(json_t *obj, const json_t *old)
{
    kh_keep_spec(obj, old);
}

const struct bsn_strategy bsn_strategy_job = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = job_defaults,
    .validate = job_validate,
    .prepare_create = prep_create,
    .prepare_update = prep_update,
    .prepare_status_update = prep_status,
    .columns = job_columns,
    .row = job_row,
    .field_value = job_field_value,
};

/* ---- cron schedules (robfig/cron standard parser dialect) ---- */

struct cron_field {
    int min, max;
    const char *const *names; /* optional, index == value - min */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct cron_field cron_fields[5] = {
    {0, 59, NULL}, {0, 23, NULL}, {1, 31, NULL}, {1, 12, month_names}, {0, 6, dow_names},
};

static int
cron_number(const char *s, size_t len, const struct cron_field *cf, int *out, char *msg,
            size_t msgn)
{
    char tok[32];
    if (len >= sizeof(tok))
        len = sizeof(tok) - 1;
    memcpy(tok, s, len);
    tok[len] = '\0';
    if (cf && cf->names) {
        for (int i = 0; cf->names[i]; i++)
            if (strcasecmp(tok, cf->names[i]) == 0) {
                *out = cf->min + i;
                return 0;
            }
    }
    char *end;
    long v = strtol(tok, &end, 10);
    if (!*tok || *end || tok[0] == '+' || tok[0] == ' ') {
        snprintf(msg, msgn,
                 "failed to parse int from %s: strconv.Atoi: parsing \"%s\": invalid "
                 "syntax",
                 tok, tok);
        return -1;
    }
    if (v < 0) {
        snprintf(msg, msgn, "negative number (%ld) not allowed: %s", v, tok);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int
cron_range(const char *expr, size_t len, const struct cron_field *cf, char *msg, size_t msgn)
{
    char r[64];
    if (len >= sizeof(r))
        len = sizeof(r) - 1;
    memcpy(r, expr, len);
    r[len] = '\0';
    char *slash = strchr(r, '/');
    if (slash && strchr(slash + 1, '/')) {
        snprintf(msg, msgn, "too many slashes: %s", r);
        return -1;
    }
    size_t rlen = slash ? (size_t)(slash - r) : strlen(r);
    int start, end;
    bool star = (rlen == 1 && (r[0] == '*' || r[0] == '?'));
    if (star) {
        start = cf->min;
        end = cf->max;
    } else {
        const char *dash = memchr(r, '-', rlen);
        if (dash && memchr(dash + 1, '-', rlen - (size_t)(dash - r) - 1)) {
            snprintf(msg, msgn, "too many hyphens: %s", r);
            return -1;
        }
        if (cron_number(r, dash ? (size_t)(dash - r) : rlen, cf, &start, msg, msgn) < 0)
            return -1;
        if (dash) {
            if (cron_number(dash + 1, rlen - (size_t)(dash - r) - 1, cf, &end, msg, msgn) < 0)
                return -1;
        } else {
            end = start;
        }
    }
    if (slash) {
        int step;
        if (cron_number(slash + 1, strlen(slash + 1), NULL, &step, msg, msgn) < 0)
            return -1;
        if (step <= 0) {
            snprintf(msg, msgn, "step of range should be a positive number: %s", r);
            return -1;
        }
    }
    if (start < cf->min) {
        snprintf(msg, msgn, "beginning of range (%d) below minimum (%d): %s", start, cf->min, r);
        return -1;
    }
    if (end > cf->max) {
        snprintf(msg, msgn, "end of range (%d) above maximum (%d): %s", end, cf->max, r);
        return -1;
    }
    if (start > end) {
        snprintf(msg, msgn, "beginning of range (%d) beyond end of range (%d): %s", start, end, r);
        return -1;
    }
    return 0;
}

/* Returns 0 if spec parses; else writes robfig's error text into msg. */
static int
cron_parse(const char *spec, char *msg, size_t msgn)
{
    while (*spec == ' ' || *spec == '\t')
        spec++;
    if (!*spec) {
        snprintf(msg, msgn, "empty spec string");
        return -1;
    }
    if (spec[0] == '@') {
        static const char *const desc[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                           "@daily",  "@midnight", "@hourly",  NULL};
        for (int i = 0; desc[i]; i++)
            if (strcmp(spec, desc[i]) == 0)
                return 0;
        if (strncmp(spec, "@every ", 7) == 0 && spec[7])
            return 0;
        snprintf(msg, msgn, "unrecognized descriptor: %s", spec);
        return -1;
    }
    const char *fields[8];
    size_t lens[8];
    int n = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n < 8) {
            fields[n] = s;
            lens[n] = (size_t)(p - s);
        }
        n++;
    }
    if (n != 5) {
        size_t off = 0;
        kc_appendf(msg, msgn, &off, "expected exactly 5 fields, found %d: [", n);
        for (int i = 0; i < n && i < 8 && off < msgn; i++)
            kc_appendf(msg, msgn, &off, "%s%.*s", i ? " " : "", (int)lens[i], fields[i]);
        if (off < msgn)
            kc_appendf(msg, msgn, &off, "]");
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        const char *f = fields[i], *fend = fields[i] + lens[i];
        while (f <= fend) {
            const char *comma = memchr(f, ',', (size_t)(fend - f));
            const char *e = comma ? comma : fend;
            if (cron_range(f, (size_t)(e - f), &cron_fields[i], msg, msgn) < 0)
                return -1;
            f = e + 1;
        }
    }
    return 0;
}

/* ---- CronJob ---- */

static void
cronjob_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_str(spec, "concurrencyPolicy", "Allow");
    kj_def_bool(spec, "suspend", false);
    kj_def_int(spec, "successfulJobsHistoryLimit", 3);
    kj_def_int(spec, "failedJobsHistoryLimit", 1);
    kp_default_template(kj_get(spec, "jobTemplate.spec.template"));
}

static int
validate_timezone(struct bsn_err *err, const char *tz)
{
    if (strcasecmp(tz, "Local") == 0)
        return kv_invalid_s(err, "spec.timeZone", tz,
                            "timeZone must be an explicit time zone as defined in "
                            "https://www.iana.org/time-zones");
    if (strcmp(tz, "UTC") == 0)
        return 0;
    char path[320];
    bool ok = *tz && tz[0] != '/' && !strstr(tz, "..") && strlen(tz) < 200;
    if (ok) {
        F(path, "/usr/share/zoneinfo/%s", tz);
        ok = access(path, R_OK) == 0;
    }
    if (!ok) {
        char d[256];
        F(d, "unknown time zone %s", tz);
        return kv_invalid_s(err, "spec.timeZone", tz, d);
    }
    return 0;
}

static int
cronjob_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const conc[] = {"Allow", "Forbid", "Replace", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    int rc = 0;
    char msg[256];
    const char *name = kj_str(obj, "metadata.name");
    if (name && strlen(name) > 52)
        rc |= kv_invalid_s(err, "metadata.name", name, "must be no more than 52 characters");
    const char *sched = kj_str(spec, "schedule");
    if (!sched || !*sched) {
        rc |= kv_required(err, "spec.schedule", NULL);
    } else if (strstr(sched, "TZ=")) {
        rc |= kv_invalid_s(err, "spec.schedule", sched,
                           "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    } else if (cron_parse(sched, msg, sizeof(msg)) < 0) {
        rc |= kv_invalid_s(err, "spec.schedule", sched, msg);
    }
    const char *tz = kj_str(spec, "timeZone");
    if (tz)
        rc |= validate_timezone(err, tz);
    rc |= kv_enum(err, spec, "concurrencyPolicy", "spec.concurrencyPolicy", conc, false);
    rc |= kv_nonneg(err, spec, "startingDeadlineSeconds", "spec.startingDeadlineSeconds");
    rc |= kv_nonneg(err, spec, "successfulJobsHistoryLimit", "spec.successfulJobsHistoryLimit");
    rc |= kv_nonneg(err, spec, "failedJobsHistoryLimit", "spec.failedJobsHistoryLimit");
    const json_t *js = kj_get(spec, "jobTemplate.spec");
    if (!js)
        rc |= kv_required(err, "spec.jobTemplate.spec.template", NULL);
    else
        rc |= job_spec_validate(err, js, "spec.jobTemplate.spec",
                                json_object_get(js, "selector") != NULL);
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column cronjob_columns[] = {
    KC_NAME,
    {"Schedule", "string", "",
     "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", 0},
    {"Timezone", "string", "", "The time zone name for the given schedule.", 0},
    {"Suspend", "boolean", "",
     "This flag tells the controller to suspend subsequent executions, it does not apply to "
     "already started executions.  Defaults to false.",
     0},
    {"Active", "integer", "", "A list of pointers to currently running jobs.", 0},
    {"Last Schedule", "string", "",
     "Information when was the last time the job was successfully scheduled.", 0},
    KC_AGE,
    {"Containers", "string", "", "Names of each container in the template.", 1},
    {"Images", "string", "", "Images referenced by each container in the template.", 1},
    {"Selector", "string", "", "A label query over pods that should match the pod count.", 1},
    KC_END,
};

static void
cronjob_row(const json_t *obj, json_t *cells)
{
    char buf[1024];
    const json_t *spec = json_object_get(obj, "spec");
    kc_name(cells, obj);
    kc_str(cells, kj_str_or(spec, "schedule", ""));
    const char *tz = kj_str(spec, "timeZone");
    kc_str(cells, tz ? tz : "<none>");
    json_t *susp = json_object_get(spec, "suspend");
    /* upstream's printBoolPtr: a string in a column declared boolean */
    kc_str(cells, json_is_boolean(susp) ? (json_is_true(susp) ? "True" : "False") : "<unset>");
    kc_int(cells, (json_int_t)kj_len(obj, "status.active"));
    const char *last = kj_str(obj, "status.lastScheduleTime");
    if (last && *last) {
        kc_since(last, buf, sizeof(buf));
        kc_str(cells, buf);
    } else {
        kc_str(cells, "<none>");
    }
    kc_age(cells, obj);
    const json_t *ps = kj_get(spec, "jobTemplate.spec.template.spec");
    kc_containers(ps, false, buf, sizeof(buf));
    kc_str(cells, buf);
    kc_containers(ps, true, buf, sizeof(buf));
    kc_str(cells, buf);
    ks_selector_string(kj_get(spec, "jobTemplate.spec.selector"), buf, sizeof(buf));
    kc_str(cells, buf);
}

const struct bsn_strategy bsn_strategy_cronjob = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = cronjob_defaults,
    .validate = cronjob_validate,
    .prepare_create = prep_create,
    .prepare_update = prep_update,
    .prepare_status_update = prep_status,
    .columns = cronjob_columns,
    .row = cronjob_row,
};
