/*
 * test_hpa.c - table-driven tests of the HorizontalPodAutoscaler arithmetic (hpa.h): the
 * replica calculator, stabilisation windows and scaling policies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controllers/hpa.h"

#define P(req, use)                        \
    {                                      \
        req, use, true, true, false, false \
    }
#define MISSING(req)                      \
    {                                     \
        req, 0, false, true, false, false \
    }
#define UNREADY(req, use)                   \
    {                                       \
        req, use, true, false, false, false \
    }
#define PENDING(req)                      \
    {                                     \
        req, 0, false, false, true, false \
    }
#define IGNORED(req)                    \
    {                                   \
        req, 0, true, true, false, true \
    }

static void
test_resource_replicas(void **state)
{
    struct {
        const char *name;
        struct bsn_hpa_pod pods[6];
        size_t n;
        int32_t current;
        int64_t util, avg;
        bool cpu;
        int rc;
        int32_t want;
        int64_t want_util;
    } cases[] = {
        {"2x over target", {P(100, 200)}, 1, 1, 50, 0, true, 0, 4, 200},
        {"within tolerance", {P(100, 52), P(100, 54)}, 2, 2, 50, 0, true, 0, 2, 53},
        {"scale down",
         {P(100, 10), P(100, 10), P(100, 10), P(100, 10)},
         4,
         4,
         50,
         0,
         true,
         0,
         1,
         10},
        {"ignored pods do not count", {P(100, 100), IGNORED(100)}, 2, 2, 50, 0, true, 0, 2, 100},
        /* missing pod on scale up counts as 0: (200+0)/200 = 100 % -> 2x of 2 pods = 4 */
        {"missing on scale up", {P(100, 200), MISSING(100)}, 2, 2, 50, 0, true, 0, 4, 200},
        /* missing pod on scale down counts as 100 % of its request: (10+100)/200 = 55 % */
        {"missing on scale down", {P(100, 10), MISSING(100)}, 2, 2, 50, 0, true, 0, 2, 10},
        /* unready cpu pod on scale up counts as 0: 300/200 = 150 % -> 3x of 2 */
        {"unready on scale up", {P(100, 300), UNREADY(100, 300)}, 2, 2, 50, 0, true, 0, 6, 300},
        /* memory ignores readiness */
        {"memory ignores readiness",
         {P(100, 300), UNREADY(100, 300)},
         2,
         2,
         50,
         0,
         false,
         0,
         12,
         300},
        {"pending counts as unready", {P(100, 100), PENDING(100)}, 2, 2, 50, 0, true, 0, 2, 100},
        {"missing request", {P(-1, 100)}, 1, 1, 50, 0, true, -1, 1, 0},
        {"no metrics", {MISSING(100)}, 1, 1, 50, 0, true, -1, 1, 0},
        {"no pods", {{0}}, 0, 3, 50, 0, true, -1, 3, 0},
        /* AverageValue: 3 pods at 300m against 100m -> 9 */
        {"average value", {P(-1, 300), P(-1, 300), P(-1, 300)}, 3, 3, 0, 100, true, 0, 9, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t d;
        int64_t u, a;
        char msg[200] = "";
        int rc =
            bsn_hpa_resource_replicas(cases[i].pods, cases[i].n, cases[i].current, cases[i].util,
                                      cases[i].avg, cases[i].cpu, &d, &u, &a, msg, sizeof(msg));
        print_message("%s: rc %d desired %d util %lld (%s)\n", cases[i].name, rc, d, (long long)u,
                      msg);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(d, cases[i].want);
        if (rc == 0 && cases[i].util > 0)
            assert_int_equal(u, cases[i].want_util);
        if (rc < 0)
            assert_true(msg[0] != '\0');
    }
}

static void
test_stabilize(void **state)
{
    struct bsn_hpa_rules up, down;
    bsn_hpa_default_rules(&up, &down);
    struct bsn_hpa_rec recs[] = {{1000, 10}, {1100, 8}, {1250, 4}};
    /* scale down: the highest recommendation of the last 300 s wins */
    assert_int_equal(bsn_hpa_stabilize(recs, 3, 1290, 10, 2, &up, &down), 10);
    assert_int_equal(bsn_hpa_stabilize(recs, 3, 1350, 10, 2, &up, &down), 8);
    assert_int_equal(bsn_hpa_stabilize(recs, 3, 1600, 10, 2, &up, &down), 2);
    /* scale up is immediate by default */
    assert_int_equal(bsn_hpa_stabilize(recs, 3, 1290, 4, 12, &up, &down), 12);
    /* with a scale-up window the lowest recommendation of it wins */
    up.window = 100;
    assert_int_equal(bsn_hpa_stabilize(recs, 3, 1290, 4, 12, &up, &down), 4);
}

static void
test_limit_rate(void **state)
{
    struct bsn_hpa_rules up, down;
    bsn_hpa_default_rules(&up, &down);
    struct bsn_hpa_limit why;
    /* defaults: max(+100 %, +4) per 15 s */
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 1, 20, 1, 50, &up, &down, &why), 5);
    assert_string_equal(why.reason, "ScaleUpLimit");
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 10, 40, 1, 50, &up, &down, &why), 20);
    /* 4 added 5 s ago: the period started at 1 */
    struct bsn_hpa_rec ev[] = {{95, 4}};
    assert_int_equal(bsn_hpa_limit_rate(ev, 1, 100, 5, 20, 1, 50, &up, &down, &why), 5);
    /* ... and 20 s later it is out of the period */
    assert_int_equal(bsn_hpa_limit_rate(ev, 1, 115, 5, 20, 1, 50, &up, &down, &why), 10);
    /* max replicas */
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 8, 16, 1, 10, &up, &down, &why), 10);
    assert_string_equal(why.reason, "TooManyReplicas");
    assert_true(why.limited);
    /* min replicas and the scale-down policy (100 % per 15 s) */
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 10, 0, 2, 10, &up, &down, &why), 2);
    assert_string_equal(why.reason, "TooFewReplicas");
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 10, 3, 1, 10, &up, &down, &why), 3);
    assert_string_equal(why.reason, "DesiredWithinRange");
    assert_false(why.limited);
    /* a Pods policy of 1 per 60 s, selectPolicy Min among two */
    down.npol = 2;
    down.pol[0] = (struct bsn_hpa_policy){true, 1, 60};
    down.pol[1] = (struct bsn_hpa_policy){false, 50, 60};
    down.select = 1;
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 10, 3, 1, 10, &up, &down, &why), 9);
    assert_string_equal(why.reason, "ScaleDownLimit");
    down.select = 0; /* Max: the policy allowing the largest change */
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 10, 3, 1, 10, &up, &down, &why), 5);
    down.select = 2; /* Disabled */
    assert_int_equal(bsn_hpa_limit_rate(NULL, 0, 100, 10, 3, 1, 10, &up, &down, &why), 10);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resource_replicas),
        cmocka_unit_test(test_stabilize),
        cmocka_unit_test(test_limit_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
