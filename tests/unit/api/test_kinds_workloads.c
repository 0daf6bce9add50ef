/*
 * test_kinds_workloads.c - Deployment, ReplicaSet, ReplicationController, StatefulSet,
 * DaemonSet, Job and CronJob strategies: upstream defaults on minimal objects, validation
 * causes (selectors, templates, strategies, cron schedules), update rules and columns.
 */
#include "kinds_test.h"

static const char *const tmpl_ok =
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
    "\"name\":\"c\",\"image\":\"nginx:1.25\"}]}}";

static json_t *
workload(const char *kind_extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":"
             "\"1234-abcd\"},\"spec\":{%s}}",
             kind_extra);
    return J(text);
}

static void
test_deployment_defaults(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof(spec), "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},%s", tmpl_ok);
    json_t *d = workload(spec);
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_deployment, d, &err), 0);
    const json_t *s = json_object_get(d, "spec");
    assert_int_equal(kj_int(s, "replicas", 0), 1);
    assert_string_equal(kj_str(s, "strategy.type"), "RollingUpdate");
    assert_string_equal(kj_str(s, "strategy.rollingUpdate.maxUnavailable"), "25%");
    assert_string_equal(kj_str(s, "strategy.rollingUpdate.maxSurge"), "25%");
    assert_int_equal(kj_int(s, "revisionHistoryLimit", 0), 10);
    assert_int_equal(kj_int(s, "progressDeadlineSeconds", 0), 600);
    assert_string_equal(kj_str(s, "template.spec.restartPolicy"), "Always");
    assert_string_equal(
        kj_str(json_array_get(kj_get(s, "template.spec.containers"), 0), "imagePullPolicy"),
        "IfNotPresent");
    /* template pods get no admission-time defaults (those happen when pods are created) */
    assert_null(kj_get(s, "template.spec.tolerations"));
    assert_null(kj_get(s, "template.spec.serviceAccountName"));
    assert_null(kj_get(s, "template.spec.enableServiceLinks"));
    assert_null(kj_get(d, "status"));
    json_decref(d);

    /* Recreate gets no rollingUpdate */
    snprintf(spec, sizeof(spec),
             "\"strategy\":{\"type\":\"Recreate\"},\"selector\":{\"matchLabels\":{\"app\":"
             "\"web\"}},%s",
             tmpl_ok);
    d = workload(spec);
    assert_int_equal(create_check(&bsn_strategy_deployment, d, &err), 0);
    assert_null(kj_get(d, "spec.strategy.rollingUpdate"));
    json_decref(d);
}

static void
test_deployment_validation(void **state)
{
    static const struct {
        const char *spec, *field, *msg;
    } cases[] = {
        {"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
         "\"name\":\"c\",\"image\":\"x\"}]}}",
         "spec.selector", "Required value"},
        {"\"selector\":{\"matchLabels\":{\"app\":\"other\"}},\"template\":{\"metadata\":{"
         "\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
         "\"image\":\"x\"}]}}",
         "spec.template.metadata.labels",
         "Invalid value: map[string]string{\"app\":\"web\", \"tier\":\"fe\"}: `selector` does not "
         "match template `labels`"},
        {"\"selector\":{},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
         "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
         "spec.selector", "empty selector is invalid for deployment"},
        {"\"replicas\":-1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{"
         "\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
         "\"image\":\"x\"}]}}",
         "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"},
        {"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":"
         "{\"app\":\"web\"}},\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\","
         "\"image\":\"x\"}]}}",
         "spec.template.spec.restartPolicy",
         "Unsupported value: \"Never\": supported values: \"Always\""},
        {"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":"
         "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}",
         "spec.template.spec.containers[0].image", "Required value"},
        {"\"strategy\":{\"type\":\"Rolling\"},\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
         "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
         "\"name\":\"c\",\"image\":\"x\"}]}}",
         "spec.strategy.type", "Unsupported value: \"Rolling\""},
        {"\"strategy\":{\"rollingUpdate\":{\"maxSurge\":0,\"maxUnavailable\":0}},\"selector\":{"
         "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":"
         "\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
         "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"},
        {"\"strategy\":{\"rollingUpdate\":{\"maxUnavailable\":\"150%\"}},\"selector\":{"
         "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":"
         "\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
         "spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"},
        {"\"minReadySeconds\":900,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{"
         "\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
         "\"image\":\"x\"}]}}",
         "spec.progressDeadlineSeconds", "must be greater than minReadySeconds"},
        {"\"selector\":{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\"}]},"
         "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
         "\"name\":\"c\",\"image\":\"x\"}]}}",
         "spec.selector.matchExpressions[0].values", "Required value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *d = workload(cases[i].spec);
        struct bsn_err err;
        if (create_check(&bsn_strategy_deployment, d, &err) != -1)
            fail_msg("case %zu accepted", i);
        assert_cause(&err, cases[i].field, cases[i].msg);
        json_decref(d);
    }
}

static void
test_selector_immutable(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof(spec), "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},%s", tmpl_ok);
    const struct bsn_strategy *sts[] = {&bsn_strategy_deployment, &bsn_strategy_replicaset,
                                        &bsn_strategy_daemonset};
    for (size_t i = 0; i < 3; i++) {
        json_t *old = workload(spec);
        struct bsn_err err;
        assert_int_equal(create_check(sts[i], old, &err), 0);
        json_t *upd = json_deep_copy(old);
        json_object_set_new(json_object_get(upd, "spec"), "selector",
                            J("{\"matchLabels\":{\"app\":\"web\",\"x\":\"y\"}}"));
        json_object_set_new(kj_get(upd, "spec.template.metadata.labels"), "x", json_string("y"));
        bsn_err_clear(&err);
        assert_int_equal(sts[i]->validate(upd, old, &err), -1);
        assert_cause(&err, "spec.selector", "field is immutable");
        /* changing the image is fine */
        json_t *ok = json_deep_copy(old);
        json_object_set_new(json_array_get(kj_get(ok, "spec.template.spec.containers"), 0), "image",
                            json_string("nginx:1.26"));
        bsn_err_clear(&err);
        assert_int_equal(sts[i]->validate(ok, old, &err), 0);
        json_decref(ok);
        json_decref(upd);
        json_decref(old);
    }
}

static void
test_deployment_columns(void **state)
{
    char spec[1024], ts[40];
    snprintf(spec, sizeof(spec),
             "\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"},"
             "\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"fe\","
             "\"be\"]}]},\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i1\"},"
             "{\"name\":\"b\",\"image\":\"i2\"}]}}");
    json_t *d = workload(spec);
    json_object_set_new(json_object_get(d, "metadata"), "creationTimestamp",
                        json_string(ts_ago(30, ts, sizeof(ts))));
    json_object_set_new(d, "status",
                        J("{\"readyReplicas\":2,\"updatedReplicas\":3,\"availableReplicas\":2}"));
    const struct bsn_strategy *st = &bsn_strategy_deployment;
    json_t *cells = row_of(st, d);
    assert_string_equal(cell(st, cells, "Ready"), "2/3");
    assert_int_equal(cell_int(st, cells, "Up-to-date"), 3);
    assert_int_equal(cell_int(st, cells, "Available"), 2);
    assert_string_equal(cell(st, cells, "Age"), "30s");
    assert_string_equal(cell(st, cells, "Containers"), "a,b");
    assert_string_equal(cell(st, cells, "Images"), "i1,i2");
    assert_string_equal(cell(st, cells, "Selector"), "app=web,tier in (be,fe)");
    json_decref(cells);
    json_decref(d);
}

static void
test_replicaset_rc(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof(spec), "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},%s", tmpl_ok);
    json_t *rs = workload(spec);
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_replicaset, rs, &err), 0);
    assert_int_equal(kj_int(rs, "spec.replicas", 0), 1);
    json_object_set_new(rs, "status", J("{\"replicas\":2,\"readyReplicas\":1}"));
    json_t *cells = row_of(&bsn_strategy_replicaset, rs);
    assert_int_equal(cell_int(&bsn_strategy_replicaset, cells, "Desired"), 1);
    assert_int_equal(cell_int(&bsn_strategy_replicaset, cells, "Current"), 2);
    assert_int_equal(cell_int(&bsn_strategy_replicaset, cells, "Ready"), 1);
    char buf[32];
    assert_string_equal(
        bsn_strategy_replicaset.field_value(rs, "status.replicas", buf, sizeof(buf)), "2");
    json_decref(cells);
    json_decref(rs);

    /* RC: selector and labels default from the template */
    json_t *rc = J("{\"metadata\":{\"name\":\"rc\"},\"spec\":{\"template\":{\"metadata\":{"
                   "\"labels\":{\"app\":\"nginx\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                   "\"image\":\"nginx\"}]}}}}");
    assert_int_equal(create_check(&bsn_strategy_replicationcontroller, rc, &err), 0);
    assert_string_equal(kj_str(rc, "spec.selector.app"), "nginx");
    assert_string_equal(kj_str(rc, "metadata.labels.app"), "nginx");
    assert_int_equal(kj_int(rc, "spec.replicas", 0), 1);
    cells = row_of(&bsn_strategy_replicationcontroller, rc);
    assert_string_equal(cell(&bsn_strategy_replicationcontroller, cells, "Selector"), "app=nginx");
    json_decref(cells);
    json_object_set_new(json_object_get(rc, "spec"), "selector", J("{\"app\":\"other\"}"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_replicationcontroller.validate(rc, NULL, &err), -1);
    assert_cause(&err, "spec.template.metadata.labels", "`selector` does not match");
    json_decref(rc);
}

static void
test_statefulset(void **state)
{
    char spec[1500];
    snprintf(spec, sizeof(spec),
             "\"serviceName\":\"web\",\"selector\":{\"matchLabels\":{\"app\":\"web\"}},%s,"
             "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"www\"},\"spec\":{"
             "\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":"
             "\"1Gi\"}}}}]",
             tmpl_ok);
    json_t *s = workload(spec);
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_statefulset, s, &err), 0);
    const json_t *sp = json_object_get(s, "spec");
    assert_string_equal(kj_str(sp, "podManagementPolicy"), "OrderedReady");
    assert_string_equal(kj_str(sp, "updateStrategy.type"), "RollingUpdate");
    assert_int_equal(kj_int(sp, "updateStrategy.rollingUpdate.partition", -1), 0);
    assert_int_equal(kj_int(sp, "replicas", 0), 1);
    assert_int_equal(kj_int(sp, "revisionHistoryLimit", 0), 10);
    assert_string_equal(kj_str(sp, "persistentVolumeClaimRetentionPolicy.whenDeleted"), "Retain");
    assert_string_equal(kj_str(sp, "persistentVolumeClaimRetentionPolicy.whenScaled"), "Retain");
    const json_t *vct = json_array_get(kj_get(sp, "volumeClaimTemplates"), 0);
    assert_string_equal(kj_str(vct, "spec.volumeMode"), "Filesystem");

    json_t *upd = json_deep_copy(s);
    json_object_set_new(json_object_get(upd, "spec"), "serviceName", json_string("other"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_statefulset.validate(upd, s, &err), -1);
    assert_cause(&err, "spec", "updates to statefulset spec for fields other than 'replicas'");
    json_object_set_new(json_object_get(upd, "spec"), "serviceName", json_string("web"));
    json_object_set_new(json_object_get(upd, "spec"), "replicas", json_integer(5));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_statefulset.validate(upd, s, &err), 0);

    json_object_set_new(upd, "status", J("{\"readyReplicas\":4}"));
    json_t *cells = row_of(&bsn_strategy_statefulset, upd);
    assert_string_equal(cell(&bsn_strategy_statefulset, cells, "Ready"), "4/5");
    json_decref(cells);
    json_decref(upd);
    json_decref(s);
}

static void
test_daemonset(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof(spec), "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},%s", tmpl_ok);
    json_t *ds = workload(spec);
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_daemonset, ds, &err), 0);
    assert_string_equal(kj_str(ds, "spec.updateStrategy.type"), "RollingUpdate");
    assert_int_equal(kj_int(ds, "spec.updateStrategy.rollingUpdate.maxUnavailable", 0), 1);
    assert_int_equal(kj_int(ds, "spec.updateStrategy.rollingUpdate.maxSurge", -1), 0);
    assert_int_equal(kj_int(ds, "spec.revisionHistoryLimit", 0), 10);
    json_object_set_new(kj_get(ds, "spec.template.spec"), "nodeSelector",
                        J("{\"kubernetes.io/os\":\"linux\"}"));
    json_object_set_new(ds, "status",
                        J("{\"desiredNumberScheduled\":3,\"currentNumberScheduled\":3,"
                          "\"numberReady\":2,\"updatedNumberScheduled\":1,\"numberAvailable\":2}"));
    json_t *cells = row_of(&bsn_strategy_daemonset, ds);
    assert_int_equal(cell_int(&bsn_strategy_daemonset, cells, "Desired"), 3);
    assert_int_equal(cell_int(&bsn_strategy_daemonset, cells, "Up-to-date"), 1);
    assert_string_equal(cell(&bsn_strategy_daemonset, cells, "Node Selector"),
                        "kubernetes.io/os=linux");
    json_decref(cells);
    json_decref(ds);
}

static void
test_job_defaults_and_selector(void **state)
{
    json_t *job = J("{\"metadata\":{\"name\":\"pi\",\"uid\":\"u-1\"},\"spec\":{\"template\":{"
                    "\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"pi\","
                    "\"image\":\"perl:5.34\"}]}}}}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_job, job, &err), 0);
    assert_no_causes(&err);
    const json_t *s = json_object_get(job, "spec");
    assert_int_equal(kj_int(s, "completions", 0), 1);
    assert_int_equal(kj_int(s, "parallelism", 0), 1);
    assert_int_equal(kj_int(s, "backoffLimit", 0), 6);
    assert_string_equal(kj_str(s, "completionMode"), "NonIndexed");
    assert_true(json_is_false(kj_get(s, "suspend")));
    assert_true(json_is_false(kj_get(s, "manualSelector")));
    assert_string_equal(kj_str(s, "podReplacementPolicy"), "TerminatingOrFailed");
    const json_t *ml = kj_get(s, "selector.matchLabels");
    assert_string_equal(
        json_string_value(json_object_get(ml, "batch.kubernetes.io/controller-uid")), "u-1");
    const json_t *tl = kj_get(s, "template.metadata.labels");
    assert_string_equal(
        json_string_value(json_object_get(tl, "batch.kubernetes.io/controller-uid")), "u-1");
    assert_string_equal(json_string_value(json_object_get(tl, "batch.kubernetes.io/job-name")),
                        "pi");
    assert_string_equal(kj_str(tl, "controller-uid"), "u-1");
    assert_string_equal(kj_str(tl, "job-name"), "pi");
    assert_string_equal(json_string_value(json_object_get(kj_get(job, "metadata.labels"),
                                                          "batch.kubernetes.io/job-name")),
                        "pi");

    /* parallelism only: completions stays unset */
    json_t *j2 = J("{\"metadata\":{\"name\":\"w\",\"uid\":\"u-2\"},\"spec\":{\"parallelism\":3,"
                   "\"template\":{\"spec\":{\"restartPolicy\":\"OnFailure\",\"containers\":[{"
                   "\"name\":\"c\",\"image\":\"x\"}]}}}}");
    assert_int_equal(create_check(&bsn_strategy_job, j2, &err), 0);
    assert_null(kj_get(j2, "spec.completions"));
    json_object_set_new(j2, "status", J("{\"succeeded\":1}"));
    json_t *cells = row_of(&bsn_strategy_job, j2);
    assert_string_equal(cell(&bsn_strategy_job, cells, "Completions"), "1/1 of 3");
    assert_string_equal(cell(&bsn_strategy_job, cells, "Status"), "Running");
    assert_string_equal(cell(&bsn_strategy_job, cells, "Duration"), "");
    json_decref(cells);
    json_decref(j2);

    /* a hand-written selector needs manualSelector: true */
    json_t *man = J("{\"metadata\":{\"name\":\"m\",\"uid\":\"u-9\"},\"spec\":{\"selector\":{"
                    "\"matchLabels\":{\"app\":\"m\"}},\"template\":{\"metadata\":{\"labels\":{"
                    "\"app\":\"m\"}},\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{"
                    "\"name\":\"c\",\"image\":\"x\"}]}}}}");
    assert_int_equal(create_check(&bsn_strategy_job, man, &err), -1);
    assert_cause(&err, "spec.selector", "`selector` not auto-generated");
    json_object_set_new(json_object_get(man, "spec"), "manualSelector", json_true());
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_job.validate(man, NULL, &err), 0);
    json_decref(man);

    /* restartPolicy Always is rejected */
    json_t *bad = J("{\"metadata\":{\"name\":\"b\",\"uid\":\"u-3\"},\"spec\":{\"template\":{"
                    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}");
    assert_int_equal(create_check(&bsn_strategy_job, bad, &err), -1);
    assert_cause(&err, "spec.template.spec.restartPolicy",
                 "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"");
    json_decref(bad);

    /* template is immutable on update (unless suspended) */
    json_t *upd = json_deep_copy(job);
    json_object_set_new(json_array_get(kj_get(upd, "spec.template.spec.containers"), 0), "image",
                        json_string("perl:5.36"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_job.validate(upd, job, &err), -1);
    assert_cause(&err, "spec.template", "field is immutable");
    json_decref(upd);

    /* status column */
    char start[40], end[40];
    json_object_set_new(job, "status",
                        json_pack("{s:s, s:s, s:i, s:[{s:s, s:s}]}", "startTime",
                                  ts_ago(100, start, sizeof(start)), "completionTime",
                                  ts_ago(40, end, sizeof(end)), "succeeded", 1, "conditions",
                                  "type", "Complete", "status", "True"));
    cells = row_of(&bsn_strategy_job, job);
    assert_string_equal(cell(&bsn_strategy_job, cells, "Status"), "Complete");
    assert_string_equal(cell(&bsn_strategy_job, cells, "Completions"), "1/1");
    assert_string_equal(cell(&bsn_strategy_job, cells, "Duration"), "60s");
    assert_string_equal(cell(&bsn_strategy_job, cells, "Selector"),
                        "batch.kubernetes.io/controller-uid=u-1");
    char buf[16];
    assert_string_equal(bsn_strategy_job.field_value(job, "status.successful", buf, sizeof(buf)),
                        "1");
    json_decref(cells);
    json_decref(job);
}

static void
test_job_status_values(void **state)
{
    static const struct {
        const char *conds, *want;
    } cases[] = {
        {"[]", "Running"},
        {"[{\"type\":\"Failed\",\"status\":\"True\"}]", "Failed"},
        {"[{\"type\":\"Suspended\",\"status\":\"True\"}]", "Suspended"},
        {"[{\"type\":\"Complete\",\"status\":\"False\"}]", "Running"},
        {"[{\"type\":\"FailureTarget\",\"status\":\"True\"}]", "FailureTarget"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"metadata\":{\"name\":\"j\"},\"spec\":{\"completions\":2},\"status\":{"
                 "\"conditions\":%s}}",
                 cases[i].conds);
        json_t *j = J(text);
        json_t *cells = row_of(&bsn_strategy_job, j);
        assert_string_equal(cell(&bsn_strategy_job, cells, "Status"), cases[i].want);
        assert_string_equal(cell(&bsn_strategy_job, cells, "Completions"), "0/2");
        json_decref(cells);
        json_decref(j);
    }
}

static void
test_cronjob(void **state)
{
    static const struct {
        const char *schedule, *msg; /* msg NULL = valid */
    } cases[] = {
        {"*/5 * * * *", NULL},
        {"0 0 * * 0", NULL},
        {"@hourly", NULL},
        {"@every 1h", NULL},
        {"0 9-17 * JAN-MAR mon-fri", NULL},
        {"1,2,3 */2 1-31/3 ? *", NULL},
        {"foo", "expected exactly 5 fields, found 1: [foo]"},
        {"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
        {"60 * * * *", "end of range (60) above maximum (59): 60"},
        {"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
        {"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
        {"a * * * *", "failed to parse int from a"},
        {"*/0 * * * *", "step of range should be a positive number: */0"},
        {"@fortnightly", "unrecognized descriptor: @fortnightly"},
        {"TZ=UTC 0 * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 "{\"metadata\":{\"name\":\"hello\"},\"spec\":{\"schedule\":\"%s\","
                 "\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":"
                 "\"OnFailure\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}}}",
                 cases[i].schedule);
        json_t *cj = J(text);
        struct bsn_err err;
        int rc = create_check(&bsn_strategy_cronjob, cj, &err);
        if (!cases[i].msg) {
            if (rc != 0) {
                dump_causes(&err);
                fail_msg("case %zu (%s) rejected", i, cases[i].schedule);
            }
        } else {
            if (rc != -1)
                fail_msg("case %zu (%s) accepted", i, cases[i].schedule);
            assert_cause(&err, "spec.schedule", cases[i].msg);
        }
        json_decref(cj);
    }

    json_t *cj = J("{\"metadata\":{\"name\":\"hello\"},\"spec\":{\"schedule\":\"* * * * *\","
                   "\"timeZone\":\"Mars/Olympus\",\"jobTemplate\":{\"spec\":{\"template\":{"
                   "\"spec\":{\"restartPolicy\":\"Always\",\"containers\":[{\"name\":\"c\","
                   "\"image\":\"busybox\"}]}}}}}}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_cronjob, cj, &err), -1);
    assert_cause(&err, "spec.timeZone", "unknown time zone Mars/Olympus");
    assert_cause(&err, "spec.jobTemplate.spec.template.spec.restartPolicy",
                 "Unsupported value: \"Always\"");
    const json_t *s = json_object_get(cj, "spec");
    assert_string_equal(kj_str(s, "concurrencyPolicy"), "Allow");
    assert_true(json_is_false(kj_get(s, "suspend")));
    assert_int_equal(kj_int(s, "successfulJobsHistoryLimit", 0), 3);
    assert_int_equal(kj_int(s, "failedJobsHistoryLimit", 0), 1);

    char ts[40];
    json_object_set_new(cj, "status",
                        json_pack("{s:[{s:s}], s:s}", "active", "name", "hello-1",
                                  "lastScheduleTime", ts_ago(42, ts, sizeof(ts))));
    json_t *cells = row_of(&bsn_strategy_cronjob, cj);
    assert_string_equal(cell(&bsn_strategy_cronjob, cells, "Schedule"), "* * * * *");
    assert_string_equal(cell(&bsn_strategy_cronjob, cells, "Timezone"), "Mars/Olympus");
    assert_string_equal(cell(&bsn_strategy_cronjob, cells, "Suspend"), "False");
    assert_int_equal(cell_int(&bsn_strategy_cronjob, cells, "Active"), 1);
    assert_string_equal(cell(&bsn_strategy_cronjob, cells, "Last Schedule"), "42s");
    json_decref(cells);
    json_decref(cj);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deployment_defaults),
        cmocka_unit_test(test_deployment_validation),
        cmocka_unit_test(test_selector_immutable),
        cmocka_unit_test(test_deployment_columns),
        cmocka_unit_test(test_replicaset_rc),
        cmocka_unit_test(test_statefulset),
        cmocka_unit_test(test_daemonset),
        cmocka_unit_test(test_job_defaults_and_selector),
        cmocka_unit_test(test_job_status_values),
        cmocka_unit_test(test_cronjob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
