/*
 * test_logic.c - table-driven tests of the controllers' pure decisions (logic.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/time.h"
#include "codec/json.h"
#include "controllers/logic.h"

static json_t *
J(const char *s)
{
    struct bsn_err err;
    json_t *j = bsn_json_parse(s, strlen(s), &err);
    assert_non_null(j);
    return j;
}

static json_t *
pod(const char *name, const char *node, const char *phase, bool ready, const char *created)
{
    json_t *p = json_pack("{s:{s:s,s:s,s:{s:s}},s:{},s:{}}", "metadata", "name", name,
                          "creationTimestamp", created, "labels", "app", "a", "spec", "status");
    if (node)
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
    if (phase)
        json_object_set_new(json_object_get(p, "status"), "phase", json_string(phase));
    json_object_set_new(json_object_get(p, "status"), "conditions",
                        json_pack("[{s:s,s:s,s:s}]", "type", "Ready", "status",
                                  ready ? "True" : "False", "lastTransitionTime",
                                  "2026-01-01T00:00:00Z"));
    return p;
}

static void
test_rank_for_deletion(void **state)
{
    json_t *pods[] = {
        pod("ready-old", "n1", "Running", true, "2026-01-01T00:00:00Z"),
        pod("ready-new", "n1", "Running", true, "2026-01-01T00:01:00Z"),
        pod("notready", "n1", "Running", false, "2026-01-01T00:00:00Z"),
        pod("pending", "n1", "Pending", false, "2026-01-01T00:00:00Z"),
        pod("unscheduled", NULL, "Pending", false, "2026-01-01T00:00:00Z"),
    };
    const char *want[] = {"unscheduled", "pending", "notready", "ready-new", "ready-old"};
    bsn_rank_pods_for_deletion(pods, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(bsn_json_str(pods[i], "metadata.name"), want[i]);
        json_decref(pods[i]);
    }
}

static void
test_rs_status(void **state)
{
    json_t *pods[] = {
        pod("a", "n1", "Running", true, "2026-01-01T00:00:00Z"),
        pod("b", "n1", "Running", false, "2026-01-01T00:00:00Z"),
        pod("c", "n1", "Pending", false, "2026-01-01T00:00:00Z"),
    };
    json_object_set_new(bsn_json_path(pods[2], "metadata.labels"), "app", json_string("other"));
    json_t *tl = J("{\"app\":\"a\"}");
    struct bsn_rs_status st;
    /* ready since 2026-01-01T00:00:00Z = 1767225600 */
    bsn_rs_compute_status(pods, 3, tl, 0, 1767225600 + 5, &st);
    assert_int_equal(st.replicas, 3);
    assert_int_equal(st.fully_labeled, 2);
    assert_int_equal(st.ready, 1);
    assert_int_equal(st.available, 1);
    /* minReadySeconds 10: ready 5 s ago is not available yet, 15 s ago is */
    bsn_rs_compute_status(pods, 3, tl, 10, 1767225600 + 5, &st);
    assert_int_equal(st.available, 0);
    bsn_rs_compute_status(pods, 3, tl, 10, 1767225600 + 15, &st);
    assert_int_equal(st.available, 1);
    for (int i = 0; i < 3; i++)
        json_decref(pods[i]);
    json_decref(tl);
}

static void
test_rolling_limits(void **state)
{
    static const struct {
        const char *surge, *unavail;
        int64_t replicas, want_surge, want_unavail;
        int rc;
    } cases[] = {
        {NULL, NULL, 10, 3, 2, 0},      /* 25%: surge rounds up, unavailable down */
        {NULL, NULL, 1, 1, 0, 0},       /* 25% of 1 */
        {"0", "0", 4, 0, 1, 0},         /* both zero: unavailable becomes 1 */
        {"\"50%\"", "1", 4, 2, 1, 0},   /* mixed */
        {"2", "\"0%\"", 1000, 2, 0, 0}, /* numbers */
        {"\"abc\"", "1", 4, 0, 0, -1},  /* malformed */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *s = cases[i].surge ? J(cases[i].surge) : NULL;
        json_t *u = cases[i].unavail ? J(cases[i].unavail) : NULL;
        int64_t gs = -1, gu = -1;
        int rc = bsn_rolling_limits(s, u, cases[i].replicas, &gs, &gu);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal(gs, cases[i].want_surge);
            assert_int_equal(gu, cases[i].want_unavail);
        }
        json_decref(s);
        json_decref(u);
    }
}

static void
test_rolling_steps(void **state)
{
    /* desired 4, surge 1: total 4 (all old) -> new may go to 1 */
    assert_int_equal(bsn_rolling_new_rs_size(4, 1, 4, 0), 1);
    /* total at max: no room */
    assert_int_equal(bsn_rolling_new_rs_size(4, 1, 5, 1), 1);
    /* never beyond desired */
    assert_int_equal(bsn_rolling_new_rs_size(4, 10, 4, 3), 4);
    /* old scale-down: 5 available, min 3 (4-1), new has 1 unavailable -> 1 may go */
    assert_int_equal(bsn_rolling_old_scale_down(4, 1, 5, 1), 1);
    assert_int_equal(bsn_rolling_old_scale_down(4, 0, 4, 0), 0);
    assert_int_equal(bsn_rolling_old_scale_down(4, 1, 2, 0), 0);
}

static void
test_template_hash(void **state)
{
    json_t *a = J("{\"metadata\":{\"labels\":{\"app\":\"x\"}},\"spec\":{\"containers\":[]}}");
    json_t *b = J("{\"metadata\":{\"labels\":{\"app\":\"y\"}},\"spec\":{\"containers\":[]}}");
    char h1[32], h2[32], h3[32], h4[32];
    bsn_pod_template_hash(a, 0, h1, sizeof(h1));
    bsn_pod_template_hash(a, 0, h2, sizeof(h2));
    bsn_pod_template_hash(b, 0, h3, sizeof(h3));
    bsn_pod_template_hash(a, 1, h4, sizeof(h4));
    assert_string_equal(h1, h2);
    assert_string_not_equal(h1, h3);
    assert_string_not_equal(h1, h4);
    for (const char *p = h1; *p; p++)
        assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
    json_decref(a);
    json_decref(b);
}

static void
test_cron(void **state)
{
    static const struct {
        const char *spec;
        const char *from, *next; /* UTC */
    } cases[] = {
        {"*/5 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"},
        {"*/5 * * * *", "2026-01-01T00:04:59Z", "2026-01-01T00:05:00Z"},
        {"0 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"},
        {"@hourly", "2026-01-01T10:30:00Z", "2026-01-01T11:00:00Z"},
        {"@daily", "2026-01-31T10:30:00Z", "2026-02-01T00:00:00Z"},
        {"30 2 * * mon-fri", "2026-01-02T03:00:00Z", "2026-01-05T02:30:00Z"}, /* Fri -> Mon */
        {"0 0 1,15 * *", "2026-01-02T00:00:00Z", "2026-01-15T00:00:00Z"},
        {"0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},  /* leap day */
        {"0 12 13 * 5", "2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z"}, /* dom OR dow */
        {"15-20/5 1 * JAN,dec *", "2026-02-01T00:00:00Z", "2026-12-01T01:15:00Z"},
        {"0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"}, /* 7 = Sunday */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bsn_cron c;
        char msg[200];
        assert_int_equal(bsn_cron_parse(cases[i].spec, &c, msg, sizeof(msg)), 0);
        time_t from, want;
        assert_int_equal(bsn_time_parse(cases[i].from, &from), 0);
        assert_int_equal(bsn_time_parse(cases[i].next, &want), 0);
        time_t got = bsn_cron_next(&c, from, NULL);
        char gs[40];
        bsn_time_format(got, gs, sizeof(gs));
        assert_string_equal(gs, cases[i].next);
    }
    /* a zone: 09:00 in Europe/Paris is 08:00 UTC in winter */
    struct bsn_cron c;
    char msg[200];
    assert_int_equal(bsn_cron_parse("0 9 * * *", &c, msg, sizeof(msg)), 0);
    time_t from;
    bsn_time_parse("2026-01-10T00:00:00Z", &from);
    char gs[40];
    bsn_time_format(bsn_cron_next(&c, from, "Europe/Paris"), gs, sizeof(gs));
    assert_string_equal(gs, "2026-01-10T08:00:00Z");
    static const char *const bad[] = {"* * * *", "60 * * * *",  "* 24 * * *",  "* * 0 * *",
                                      "@often",  "* * * foo *", "*/0 * * * *", "5-1 * * * *"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        assert_int_equal(bsn_cron_parse(bad[i], &c, msg, sizeof(msg)), -1);
        assert_true(msg[0] != '\0');
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_for_deletion), cmocka_unit_test(test_rs_status),
        cmocka_unit_test(test_rolling_limits),    cmocka_unit_test(test_rolling_steps),
        cmocka_unit_test(test_template_hash),     cmocka_unit_test(test_cron),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
