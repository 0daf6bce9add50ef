/*
 * test_preempt.c - choosing preemption victims (preempt.h) on tables of nodes and pods.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler/preempt.h"

static void
node(struct bsn_sched_node *n, const char *name, int64_t cpu_used)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "%s", name);
    n->alloc_cpu = 1000;
    n->alloc_mem = 1LL << 30;
    n->alloc_eph = 1LL << 40;
    n->alloc_pods = 110;
    n->used_cpu = cpu_used;
    n->ready = true;
}

static void
test_pick(void **state)
{
    json_t *pod = json_pack("{s:{}}", "spec");
    struct bsn_sched_req want = {.cpu_milli = 500};
    struct bsn_sched_req r300 = {.cpu_milli = 300}, r500 = {.cpu_milli = 500},
                         r200 = {.cpu_milli = 200};
    struct bsn_sched_node a, b, c;
    node(&a, "a", 1000); /* 500 (prio 5) + 300 (prio 1) + 200 (prio 1) */
    node(&b, "b", 1000); /* 500 (prio 3) + 500 (prio 3) */
    node(&c, "c", 1000); /* 1000 by a pod of priority 100 */
    a.used_pods = 3;
    b.used_pods = 2;
    c.used_pods = 1;
    struct bsn_sched_req r1000 = {.cpu_milli = 1000};
    struct bsn_sched_cand cands[] = {
        {"ns/a1", "a", &r500, 5}, {"ns/a2", "a", &r300, 1}, {"ns/a3", "a", &r200, 1},
        {"ns/b1", "b", &r500, 3}, {"ns/b2", "b", &r500, 3}, {"ns/c1", "c", &r1000, 100},
    };
    struct bsn_sched_node *nodes[] = {&a, &b, &c};
    struct bsn_sched_fail fails[3];
    for (int i = 0; i < 3; i++) {
        memset(&fails[i], 0, sizeof(fails[i]));
        fails[i].resolvable_by_preemption = true;
    }
    size_t victims[6], nv;
    /* priority 10: node a loses its two priority-1 pods (highest victim 1 < b's 3) */
    int ni = bsn_sched_preempt_pick(pod, &want, nodes, 3, fails, cands, 6, NULL, 0, 10, victims,
                                    &nv, NULL);
    assert_int_equal(ni, 0);
    assert_int_equal(nv, 2);
    assert_string_equal(cands[victims[0]].key, "ns/a2");
    assert_string_equal(cands[victims[1]].key, "ns/a3");
    /* the node is not modified */
    assert_int_equal(a.used_cpu, 1000);
    /* priority 4: a's priority-5 pod stays, and freeing 500 there is enough */
    ni = bsn_sched_preempt_pick(pod, &want, nodes, 3, fails, cands, 6, NULL, 0, 4, victims, &nv,
                                NULL);
    assert_int_equal(ni, 0);
    assert_int_equal(nv, 2);
    /* priority 2: only a's priority-1 pods are lower: 500 freed fits */
    ni = bsn_sched_preempt_pick(pod, &want, nodes, 3, fails, cands, 6, NULL, 0, 2, victims, &nv,
                                NULL);
    assert_int_equal(ni, 0);
    /* priority 1: nothing lower anywhere */
    ni = bsn_sched_preempt_pick(pod, &want, nodes, 3, fails, cands, 6, NULL, 0, 1, victims, &nv,
                                NULL);
    assert_int_equal(ni, -1);
    assert_int_equal(nv, 0);
    /* a failure preemption cannot resolve (e.g. a taint) is skipped */
    fails[0].resolvable_by_preemption = false;
    ni = bsn_sched_preempt_pick(pod, &want, nodes, 3, fails, cands, 6, NULL, 0, 10, victims, &nv,
                                NULL);
    assert_int_equal(ni, 1);
    assert_int_equal(nv, 1);
    /* a pod too large for any node even when emptied */
    struct bsn_sched_req huge = {.cpu_milli = 5000};
    ni = bsn_sched_preempt_pick(pod, &huge, nodes, 3, fails, cands, 6, NULL, 0, 1000, victims, &nv,
                                NULL);
    assert_int_equal(ni, -1);
    json_decref(pod);
}

/* PodDisruptionBudgets: the node whose victims break no budget wins over a node with cheaper
 * victims; on one node, pods a budget protects are given back first */
static void
test_pick_pdb(void **state)
{
    (void)state;
    json_t *pod = json_pack("{s:{}}", "spec");
    struct bsn_sched_req want = {.cpu_milli = 500};
    struct bsn_sched_req r500 = {.cpu_milli = 500};
    struct bsn_sched_node a, b;
    node(&a, "a", 1000); /* two guarded pods of priority 1 */
    node(&b, "b", 1000); /* two free pods of priority 5 */
    a.used_pods = 2;
    b.used_pods = 2;
    size_t guard[] = {0};
    struct bsn_sched_cand cands[] = {
        {"ns/a1", "a", &r500, 1, guard, 1},
        {"ns/a2", "a", &r500, 1, guard, 1},
        {"ns/b1", "b", &r500, 5, NULL, 0},
        {"ns/b2", "b", &r500, 5, NULL, 0},
    };
    struct bsn_sched_node *nodes[] = {&a, &b};
    struct bsn_sched_fail fails[2];
    for (int i = 0; i < 2; i++) {
        memset(&fails[i], 0, sizeof(fails[i]));
        fails[i].resolvable_by_preemption = true;
    }
    size_t victims[4], nv, nviol;
    /* without budgets node a (priority-1 victims) is cheaper */
    int ni = bsn_sched_preempt_pick(pod, &want, nodes, 2, fails, cands, 4, NULL, 0, 10, victims,
                                    &nv, &nviol);
    assert_int_equal(ni, 0);
    assert_int_equal(nviol, 0);
    /* a budget with no disruption left guards a1 and a2: node b, nothing violated */
    int64_t none[] = {0};
    ni = bsn_sched_preempt_pick(pod, &want, nodes, 2, fails, cands, 4, none, 1, 10, victims, &nv,
                                &nviol);
    assert_int_equal(ni, 1);
    assert_int_equal(nv, 1);
    assert_int_equal(nviol, 0);
    assert_string_equal(cands[victims[0]].node, "b");
    /* one disruption allowed: evicting one of a's pods is within the budget again */
    int64_t one[] = {1};
    ni = bsn_sched_preempt_pick(pod, &want, nodes, 2, fails, cands, 4, one, 1, 10, victims, &nv,
                                &nviol);
    assert_int_equal(ni, 0);
    assert_int_equal(nv, 1);
    assert_int_equal(nviol, 0);
    /* only node a can make room (b's pods outrank the preemptor): the budget is broken */
    ni = bsn_sched_preempt_pick(pod, &want, nodes, 2, fails, cands, 4, none, 1, 3, victims, &nv,
                                &nviol);
    assert_int_equal(ni, 0);
    assert_int_equal(nv, 1);
    assert_int_equal(nviol, 1);
    json_decref(pod);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pick),
                                       cmocka_unit_test(test_pick_pdb)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
