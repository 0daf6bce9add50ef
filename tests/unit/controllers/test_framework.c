/*
 * test_framework.c - informers, the work queue and the ReplicaSet controller against a real
 * in-process API server (memory store), driven by its loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/apiserver.h"
#include "api/client.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "controllers/controllers.h"
#include "loop/loop.h"
#include "store/store.h"

struct env {
    struct bsn_loop *loop;
    struct bsn_store *store;
    struct bsn_apiserver *api;
    struct bsn_ctrl *ctrl;
};

static int
setup(void **state)
{
    struct env *e = bsn_calloc(1, sizeof(*e));
    e->loop = bsn_loop_new();
    assert_int_equal(bsn_store_open_memory(&e->store), 0);
    struct bsn_apiserver_opts ao = {.listen = "127.0.0.1:0",
                                    .store = e->store,
                                    .advertise_address = "127.0.0.1",
                                    .advertise_port = 6443};
    struct bsn_err err;
    e->api = bsn_apiserver_new(e->loop, &ao, &err);
    assert_non_null(e->api);
    e->ctrl = bsn_ctrl_new(e->loop, e->api);
    *state = e;
    return 0;
}

static void
settle(struct env *e, int ms)
{
    uint64_t end = bsn_mono_ms() + (uint64_t)ms;
    while (bsn_mono_ms() < end)
        bsn_loop_run_once(e->loop, 10);
}

static int
teardown(void **state)
{
    struct env *e = *state;
    settle(e, 200); /* answers in flight come back before the client goes */
    bsn_ctrl_free(e->ctrl);
    bsn_apiserver_free(e->api);
    bsn_loop_free(e->loop);
    bsn_store_close(e->store);
    free(e);
    return 0;
}

/* Runs the loop until *flag or ms elapse. */
static void
run_until(struct env *e, bool (*cond)(void *), void *arg, int ms)
{
    uint64_t end = bsn_mono_ms() + (uint64_t)ms;
    while (!cond(arg) && bsn_mono_ms() < end)
        bsn_loop_run_once(e->loop, 10);
}

struct counts {
    int adds, updates, deletes;
    char last_value[64];
};

static void
on_add(json_t *o, void *d)
{
    ((struct counts *)d)->adds++;
}

static void
on_update(json_t *old, json_t *o, void *d)
{
    struct counts *c = d;
    c->updates++;
    snprintf(c->last_value, sizeof(c->last_value), "%s", bsn_json_str(o, "data.k") ?: "");
}

static void
on_delete(json_t *o, void *d)
{
    ((struct counts *)d)->deletes++;
}

static bool
counts_reached(void *arg)
{
    struct counts *c = arg;
    return c->adds >= 1 && c->updates >= 1 && c->deletes >= 1;
}

static void
send(struct env *e, const char *method, const char *path, const char *ctype, const char *body)
{
    bsn_client_request(e->ctrl->cl, method, path, ctype, body, body ? strlen(body) : 0, NULL, NULL);
}

static void
test_informer_events(void **state)
{
    struct env *e = *state;
    struct bsn_informer *inf = bsn_ctrl_informer(e->ctrl, "/api/v1/configmaps");
    struct counts c = {0};
    struct bsn_informer_handler h = {on_add, on_update, on_delete, &c};
    bsn_informer_add_handler(inf, &h);
    bsn_ctrl_start(e->ctrl);
    send(e, "POST", "/api/v1/namespaces/default/configmaps", NULL,
         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"},"
         "\"data\":{\"k\":\"1\"}}");
    send(e, "PATCH", "/api/v1/namespaces/default/configmaps/a", "application/merge-patch+json",
         "{\"data\":{\"k\":\"2\"}}");
    run_until(e, counts_reached, &c, 2000);
    assert_true(bsn_informer_synced(inf));
    assert_int_equal(c.adds, 1);
    assert_string_equal(c.last_value, "2");
    json_t *cm = bsn_informer_get(inf, "default/a");
    /* the delete was not sent: deletes stay 0 until it is */
    assert_int_equal(c.deletes, 0);
    assert_non_null(cm);
    assert_string_equal(bsn_json_str(cm, "data.k"), "2");
    assert_non_null(bsn_informer_ns(inf, "default"));
    send(e, "DELETE", "/api/v1/namespaces/default/configmaps/a", NULL, NULL);
    run_until(e, counts_reached, &c, 2000);
    assert_int_equal(c.deletes, 1);
    assert_null(bsn_informer_get(inf, "default/a"));
}

struct qlog {
    char seen[32][16];
    int n;
    int fail_c;
    uint64_t t_delayed;
};

static int
rec(const char *key, void *data)
{
    struct qlog *l = data;
    if (l->n < 32)
        snprintf(l->seen[l->n++], sizeof(l->seen[0]), "%s", key);
    if (!strcmp(key, "c") && l->fail_c-- > 0)
        return -1;
    if (!strcmp(key, "d"))
        l->t_delayed = bsn_mono_ms();
    return 0;
}

static bool
qdone(void *arg)
{
    struct qlog *l = arg;
    return l->t_delayed != 0 && l->n >= 6;
}

static void
test_workqueue(void **state)
{
    struct env *e = *state;
    struct qlog l = {.fail_c = 2};
    struct bsn_workqueue *q = bsn_workqueue_new(e->loop, "t", rec, &l);
    bsn_workqueue_add(q, "a");
    bsn_workqueue_add(q, "a");
    bsn_workqueue_add(q, "b");
    bsn_workqueue_add(q, "a");
    bsn_workqueue_add(q, "c");
    uint64_t t0 = bsn_mono_ms();
    bsn_workqueue_add_after(q, "d", 60);
    run_until(e, qdone, &l, 2000);
    /* a and b once each (de-duplicated), c three times (two failures, back-off), d once */
    int a = 0, b = 0, c = 0, d = 0;
    for (int i = 0; i < l.n; i++) {
        a += !strcmp(l.seen[i], "a");
        b += !strcmp(l.seen[i], "b");
        c += !strcmp(l.seen[i], "c");
        d += !strcmp(l.seen[i], "d");
    }
    assert_int_equal(a, 1);
    assert_int_equal(b, 1);
    assert_int_equal(c, 3);
    assert_int_equal(d, 1);
    assert_true(l.t_delayed - t0 >= 60);
    assert_string_equal(l.seen[0], "a");
    assert_string_equal(l.seen[1], "b");
    bsn_workqueue_free(q);
}

static bool
pods_are(void *arg)
{
    void **a = arg;
    struct bsn_informer *pods = a[0];
    size_t want = (size_t)(uintptr_t)a[1];
    const struct bsn_map *m = bsn_informer_ns(pods, "default");
    size_t n = 0;
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v))
        if (!bsn_ctrl_deleting(v))
            n++;
    return n == want;
}

static void
test_replicaset_reconcile(void **state)
{
    struct env *e = *state;
    struct bsn_controllers_opts o = {
        .disable = "replicationcontroller,deployment,endpoints,job,cronjob,statefulset,daemonset,"
                   "serviceaccount,disruption,nodelifecycle"};
    struct bsn_err err;
    struct bsn_controllers *cs = bsn_controllers_new(e->ctrl, &o, &err);
    struct bsn_informer *pods = bsn_ctrl_informer(e->ctrl, "/api/v1/pods");
    struct bsn_informer *rss = bsn_ctrl_informer(e->ctrl, "/apis/apps/v1/replicasets");
    bsn_ctrl_start(e->ctrl);
    /* an orphan matching the selector is adopted and counts as a replica */
    send(e, "POST", "/api/v1/namespaces/default/pods", NULL,
         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"orphan\",\"labels\":"
         "{\"app\":\"r\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}");
    send(e, "POST", "/apis/apps/v1/namespaces/default/replicasets", NULL,
         "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"r\"},"
         "\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"r\"}},\"template\":"
         "{\"metadata\":{\"labels\":{\"app\":\"r\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
         "\"image\":\"x\"}]}}}}");
    void *arg[2] = {pods, (void *)(uintptr_t)3};
    run_until(e, pods_are, arg, 3000);
    assert_true(pods_are(arg));
    /* let adoption and status settle */
    uint64_t end = bsn_mono_ms() + 300;
    while (bsn_mono_ms() < end)
        bsn_loop_run_once(e->loop, 10);
    json_t *orphan = bsn_informer_get(pods, "default/orphan");
    assert_non_null(orphan);
    json_t *ref = bsn_ctrl_owner(orphan);
    assert_non_null(ref);
    assert_string_equal(json_string_value(json_object_get(ref, "kind")), "ReplicaSet");
    json_t *rs = bsn_informer_get(rss, "default/r");
    assert_int_equal(bsn_json_int(rs, "status.replicas", -1), 3);
    assert_int_equal(bsn_json_int(rs, "status.fullyLabeledReplicas", -1), 3);
    /* generateName "<rs>-" */
    int generated = 0;
    const struct bsn_map *m = bsn_informer_ns(pods, "default");
    const char *k;
    size_t it = 0;
    while (bsn_map_next(m, &it, &k, NULL))
        generated += !strncmp(k, "default/r-", 10) && strlen(k) == 15;
    assert_int_equal(generated, 2);
    /* scale down to 1 */
    send(e, "PATCH", "/apis/apps/v1/namespaces/default/replicasets/r",
         "application/merge-patch+json", "{\"spec\":{\"replicas\":1}}");
    arg[1] = (void *)(uintptr_t)1;
    run_until(e, pods_are, arg, 3000);
    assert_true(pods_are(arg));
    settle(e, 200);
    bsn_controllers_free(cs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_informer_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workqueue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replicaset_reconcile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
