/*
 * test_filters.c - table-driven tests of the scheduler's filters, scores and messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/json.h"
#include "scheduler/scheduler.h"

static json_t *
J(const char *s)
{
    struct bsn_err err;
    json_t *j = bsn_json_parse(s, strlen(s), &err);
    assert_non_null(j);
    return j;
}

static void
mknode(struct bsn_sched_node *n, json_t *obj, int64_t cpu_used)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "%s", bsn_json_str(obj, "metadata.name"));
    n->node = obj;
    n->labels = bsn_json_path(obj, "metadata.labels");
    n->taints =
        bsn_json_path(obj, "spec") ? json_object_get(bsn_json_path(obj, "spec"), "taints") : NULL;
    n->alloc_cpu = 4000;
    n->alloc_mem = 8LL << 30;
    n->alloc_eph = 100LL << 30;
    n->alloc_pods = 3;
    n->used_cpu = cpu_used;
    n->ready = true;
}

static void
test_filter_table(void **state)
{
    static const struct {
        const char *pod, *node;
        int64_t cpu_used, pods_used;
        bool unsched, ready;
        const char *reason; /* NULL = fits */
    } cases[] = {
        {"{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}}",
         "{\"metadata\":{\"name\":\"n\"}}", 0, 0, false, true, NULL},
        {"{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}}",
         "{\"metadata\":{\"name\":\"n\"}}", 3500, 0, false, true, "Insufficient cpu"},
        {"{\"spec\":{\"containers\":[{}]}}", "{\"metadata\":{\"name\":\"n\"}}", 0, 3, false, true,
         "Too many pods"},
        {"{\"spec\":{\"containers\":[{}]}}", "{\"metadata\":{\"name\":\"n\"}}", 0, 0, true, true,
         "node(s) were unschedulable"},
        {"{\"spec\":{\"containers\":[{}]}}", "{\"metadata\":{\"name\":\"n\"}}", 0, 0, false, false,
         "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"},
        {"{\"spec\":{\"containers\":[{}]}}",
         "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"taints\":[{\"key\":\"k\",\"value\":\"v\","
         "\"effect\":\"NoSchedule\"}]}}",
         0, 0, false, true, "node(s) had untolerated taint {k: v}"},
        {"{\"spec\":{\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\"}],\"containers\":[{}]}"
         "}",
         "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"taints\":[{\"key\":\"k\",\"value\":\"v\","
         "\"effect\":\"NoSchedule\"}]}}",
         0, 0, false, true, NULL},
        {"{\"spec\":{\"containers\":[{}]}}", /* PreferNoSchedule does not filter */
         "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"taints\":[{\"key\":\"k\","
         "\"effect\":\"PreferNoSchedule\"}]}}",
         0, 0, false, true, NULL},
        {"{\"spec\":{\"nodeSelector\":{\"disk\":\"ssd\"},\"containers\":[{}]}}",
         "{\"metadata\":{\"name\":\"n\",\"labels\":{\"disk\":\"hdd\"}}}", 0, 0, false, true,
         "node(s) didn't match Pod's node affinity/selector"},
        {"{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
         "\"requiredDuringSchedulingIgnoredDuringExecution\":"
         "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
         "\"values\":[\"a\",\"b\"]}]}]}}},\"containers\":[{}]}}",
         "{\"metadata\":{\"name\":\"n\",\"labels\":{\"zone\":\"b\"}}}", 0, 0, false, true, NULL},
        {"{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
         "\"requiredDuringSchedulingIgnoredDuringExecution\":"
         "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"NotIn\","
         "\"values\":[\"b\"]}]}]}}},\"containers\":[{}]}}",
         "{\"metadata\":{\"name\":\"n\",\"labels\":{\"zone\":\"b\"}}}", 0, 0, false, true,
         "node(s) didn't match Pod's node affinity/selector"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = J(cases[i].pod), *no = J(cases[i].node);
        struct bsn_sched_node n;
        mknode(&n, no, cases[i].cpu_used);
        n.used_pods = cases[i].pods_used;
        n.unschedulable = cases[i].unsched;
        n.ready = cases[i].ready;
        struct bsn_sched_req req;
        bsn_sched_pod_request(p, &req);
        struct bsn_sched_fail why;
        bool fits = bsn_sched_filter(p, &req, &n, &why);
        if (!cases[i].reason) {
            assert_true(fits);
        } else {
            assert_false(fits);
            assert_int_equal(why.nreasons, 1);
            assert_string_equal(why.reasons[0], cases[i].reason);
        }
        json_decref(p);
        json_decref(no);
    }
}

static void
test_host_ports(void **state)
{
    json_t *p =
        J("{\"spec\":{\"containers\":[{\"ports\":[{\"containerPort\":80,\"hostPort\":8080}]}]}}");
    json_t *no = J("{\"metadata\":{\"name\":\"n\"}}");
    struct bsn_sched_node n;
    mknode(&n, no, 0);
    int32_t used[] = {8080};
    n.ports = used;
    n.nports = 1;
    struct bsn_sched_req req;
    bsn_sched_pod_request(p, &req);
    assert_int_equal(req.nports, 1);
    struct bsn_sched_fail why;
    assert_false(bsn_sched_filter(p, &req, &n, &why));
    assert_string_equal(why.reasons[0],
                        "node(s) didn't have free ports for the requested pod ports");
    n.nports = 0;
    assert_true(bsn_sched_filter(p, &req, &n, &why));
    json_decref(p);
    json_decref(no);
}

static void
test_scores(void **state)
{
    json_t *p = J("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}}");
    json_t *no = J("{\"metadata\":{\"name\":\"n\"}}");
    struct bsn_sched_node empty, busy;
    mknode(&empty, no, 0);
    mknode(&busy, no, 3000);
    struct bsn_sched_req req;
    bsn_sched_pod_request(p, &req);
    /* least allocated wins; same-workload spreading wins over equal nodes */
    assert_true(bsn_sched_score(p, &req, &empty, 0, 0) > bsn_sched_score(p, &req, &busy, 0, 0));
    assert_true(bsn_sched_score(p, &req, &empty, 0, 2) > bsn_sched_score(p, &req, &empty, 2, 2));
    json_decref(p);
    json_decref(no);
}

static void
test_message(void **state)
{
    struct bsn_sched_fail f[3];
    memset(f, 0, sizeof(f));
    f[0].nreasons = 1;
    strcpy(f[0].reasons[0], "Insufficient cpu");
    f[0].resolvable_by_preemption = true;
    f[1].nreasons = 1;
    strcpy(f[1].reasons[0],
           "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }");
    f[2] = f[1];
    char *m = bsn_sched_message(f, 3);
    assert_string_equal(m, "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated "
                           "taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes "
                           "are available: 1 No preemption victims found for incoming pod, 2 "
                           "Preemption is not helpful for scheduling.");
    free(m);
    m = bsn_sched_message(NULL, 0);
    assert_string_equal(m, "no nodes available to schedule pods");
    free(m);
}

static void
test_interpod(void **state)
{
    json_t *n1 = J("{\"kubernetes.io/hostname\":\"n1\",\"zone\":\"a\"}");
    json_t *n2 = J("{\"kubernetes.io/hostname\":\"n2\",\"zone\":\"a\"}");
    json_t *n3 = J("{\"kubernetes.io/hostname\":\"n3\",\"zone\":\"b\"}");
    json_t *web = J("{\"metadata\":{\"namespace\":\"d\",\"labels\":{\"app\":\"web\"}}}");
    json_t *db = J("{\"metadata\":{\"namespace\":\"d\",\"labels\":{\"app\":\"db\"}},"
                   "\"spec\":{\"affinity\":{\"podAntiAffinity\":{"
                   "\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\":"
                   "{\"matchLabels\":{\"app\":\"cache\"}},\"topologyKey\":\"zone\"}]}}}}");
    struct bsn_sched_placed placed[] = {{web, n1}, {db, n3}};
    const json_t *cands[] = {n1, n2, n3};
    struct bsn_sched_fail why;
    /* affinity to web by hostname: only n1 */
    json_t *p = J("{\"metadata\":{\"namespace\":\"d\",\"labels\":{\"app\":\"x\"}},"
                  "\"spec\":{\"affinity\":{\"podAffinity\":{"
                  "\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\":"
                  "{\"matchLabels\":{\"app\":\"web\"}},\"topologyKey\":"
                  "\"kubernetes.io/hostname\"}]}}}}");
    assert_true(bsn_sched_topo_needed(p));
    struct bsn_sched_topo *t = bsn_sched_topo_new(p, placed, 2);
    assert_true(bsn_sched_topo_filter(t, n1, cands, 3, &why));
    assert_false(bsn_sched_topo_filter(t, n2, cands, 3, &why));
    assert_string_equal(why.reasons[0], "node(s) didn't match pod affinity rules");
    bsn_sched_topo_free(t);
    json_decref(p);
    /* anti-affinity to web by zone: n1 and n2 share zone a */
    p = J("{\"metadata\":{\"namespace\":\"d\"},\"spec\":{\"affinity\":{\"podAntiAffinity\":{"
          "\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\":"
          "{\"matchLabels\":{\"app\":\"web\"}},\"topologyKey\":\"zone\"}]}}}}");
    t = bsn_sched_topo_new(p, placed, 2);
    assert_false(bsn_sched_topo_filter(t, n2, cands, 3, &why));
    assert_string_equal(why.reasons[0], "node(s) didn't match pod anti-affinity rules");
    assert_true(bsn_sched_topo_filter(t, n3, cands, 3, &why));
    bsn_sched_topo_free(t);
    json_decref(p);
    /* an existing pod's anti-affinity keeps a cache pod out of zone b */
    p = J("{\"metadata\":{\"namespace\":\"d\",\"labels\":{\"app\":\"cache\"}}}");
    assert_false(bsn_sched_topo_needed(p));
    t = bsn_sched_topo_new(p, placed, 2);
    assert_false(bsn_sched_topo_filter(t, n3, cands, 3, &why));
    assert_string_equal(why.reasons[0], "node(s) didn't satisfy existing pods anti-affinity rules");
    assert_true(bsn_sched_topo_filter(t, n1, cands, 3, &why));
    bsn_sched_topo_free(t);
    json_decref(p);
    /* spread by zone, maxSkew 1: zone a has one web pod, b none -> only b fits */
    p = J("{\"metadata\":{\"namespace\":\"d\",\"labels\":{\"app\":\"web\"}},"
          "\"spec\":{\"topologySpreadConstraints\":[{\"maxSkew\":1,\"topologyKey\":\"zone\","
          "\"whenUnsatisfiable\":\"DoNotSchedule\",\"labelSelector\":{\"matchLabels\":"
          "{\"app\":\"web\"}}}]}}");
    t = bsn_sched_topo_new(p, placed, 2);
    assert_false(bsn_sched_topo_filter(t, n2, cands, 3, &why));
    assert_string_equal(why.reasons[0], "node(s) didn't match pod topology spread constraints");
    assert_true(bsn_sched_topo_filter(t, n3, cands, 3, &why));
    bsn_sched_topo_free(t);
    json_decref(p);
    json_decref(n1);
    json_decref(n2);
    json_decref(n3);
    json_decref(web);
    json_decref(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_table), cmocka_unit_test(test_host_ports),
        cmocka_unit_test(test_scores),       cmocka_unit_test(test_message),
        cmocka_unit_test(test_interpod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
