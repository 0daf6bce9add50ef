/*
 * test_metrics.c - per-pod metrics of a real agent (process runtime) on an in-process API
 * server: a container that burns CPU shows a rate in nanocores and a working set after two
 * samples; the document has the shape pushed to /apis/bosun.dev/v1/nodemetrics/<node>; the
 * push itself (404 on a server without the endpoint) does not disturb the agent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "api/apiserver.h"
#include "api/client.h"
#include "codec/json.h"
#include "loop/loop.h"
#include "store/store.h"

struct fixture {
    struct bsn_loop *loop;
    struct bsn_store *store;
    struct bsn_apiserver *api;
    struct bsn_client *cl;
    struct bsn_agent *agent;
    char dir[64];
    char node[64];
};

static void
rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/bsn-metrics-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->node, sizeof(f->node), "metrics-%d", (int)getpid());
    f->loop = bsn_loop_new();
    bsn_store_open_memory(&f->store);
    struct bsn_apiserver_opts o = {.listen = "127.0.0.1:0", .store = f->store};
    struct bsn_err err;
    f->api = bsn_apiserver_new(f->loop, &o, &err);
    assert_non_null(f->api);
    f->cl = bsn_client_new_local(f->api);
    struct bsn_agent_opts ao = {
        .node_name = f->node,
        .runtime = "process",
        .data_dir = f->dir,
        .api = f->api,
        .metrics_interval_ms = 3600 * 1000, /* only the first sample and ours */
    };
    f->agent = bsn_agent_new(f->loop, bsn_client_new_local(f->api), &ao, &err);
    assert_non_null(f->agent);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    bsn_agent_free(f->agent);
    bsn_client_free(f->cl);
    bsn_apiserver_free(f->api);
    bsn_loop_run_once(f->loop, 0);
    bsn_loop_free(f->loop);
    bsn_store_close(f->store);
    rm_rf(f->dir);
    free(f);
    return 0;
}

struct answer {
    int status, done;
    json_t *body;
};

static void
on_done(int status, const char *body, size_t len, void *data)
{
    struct answer *a = data;
    json_decref(a->body);
    a->status = status;
    a->body = json_loadb(body, len, 0, NULL);
    a->done++;
}

static json_t *
get_pod(struct fixture *f)
{
    struct answer a = {0};
    bsn_client_request(f->cl, "GET", "/api/v1/namespaces/default/pods/burn", NULL, NULL, 0, on_done,
                       &a);
    for (int i = 0; i < 200 && !a.done; i++)
        bsn_loop_run_once(f->loop, 10);
    return a.body;
}

/* "<n>n" / "<n>Ki" -> n, -1 if the suffix is not there */
static long long
quantity(const char *s, const char *suffix)
{
    if (!s)
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    return strcmp(end, suffix) ? -1 : v;
}

static void
test_cpu_rate_and_working_set(void **state)
{
    struct fixture *f = *state;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"burn\"},"
             "\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"spin\",\"image\":\"x\","
             "\"command\":[\"sh\",\"-c\",\"while :; do :; done\"]}]}}",
             f->node);
    struct answer a = {0};
    bsn_client_request(f->cl, "POST", "/api/v1/namespaces/default/pods", NULL, body, strlen(body),
                       on_done, &a);
    /* wait until the container runs */
    bool running = false;
    for (int i = 0; i < 100 && !running; i++) {
        for (int j = 0; j < 10; j++)
            bsn_loop_run_once(f->loop, 10);
        json_t *pod = get_pod(f);
        running =
            bsn_json_path(pod, "status.containerStatuses") &&
            json_object_get(
                json_object_get(json_array_get(bsn_json_path(pod, "status.containerStatuses"), 0),
                                "state"),
                "running");
        json_decref(pod);
    }
    assert_true(running);
    json_decref(a.body);

    bsn_agent_metrics_sample(f->agent); /* first reading: no rate yet */
    for (int i = 0; i < 50; i++)
        bsn_loop_run_once(f->loop, 10); /* ~0.5 s of spinning */
    bsn_agent_metrics_sample(f->agent);
    json_t *m = bsn_agent_metrics_json(f->agent);
    assert_non_null(m);
    assert_string_equal(bsn_json_str(m, "kind"), "NodeMetrics");
    assert_string_equal(bsn_json_str(m, "metadata.name"), f->node);
    assert_string_equal(bsn_json_str(m, "window"), "3600s");
    assert_non_null(bsn_json_str(m, "timestamp"));
    assert_true(quantity(bsn_json_str(m, "node.cpu"), "n") >= 0);
    assert_true(quantity(bsn_json_str(m, "node.memory"), "Ki") > 0);
    json_t *pods = json_object_get(m, "pods");
    assert_int_equal(json_array_size(pods), 1);
    json_t *p = json_array_get(pods, 0);
    assert_string_equal(bsn_json_str(p, "namespace"), "default");
    assert_string_equal(bsn_json_str(p, "name"), "burn");
    json_t *c = json_array_get(json_object_get(p, "containers"), 0);
    assert_string_equal(bsn_json_str(c, "name"), "spin");
    /* a busy loop uses a good part of a core (at least 5 % even on a loaded machine) and at
     * most all of the machine's CPUs */
    long long nano = quantity(bsn_json_str(c, "cpu"), "n");
    assert_true(nano > 50 * 1000 * 1000LL);
    assert_true(nano <= sysconf(_SC_NPROCESSORS_ONLN) * 1000 * 1000 * 1000LL + 100000000LL);
    assert_true(quantity(bsn_json_str(c, "memory"), "Ki") > 0);
    json_decref(m);
    /* the push got its answer (404: this server has no nodemetrics endpoint) and the agent
     * goes on: the pod is still there and running */
    for (int i = 0; i < 20; i++)
        bsn_loop_run_once(f->loop, 10);
    json_t *pod = get_pod(f);
    assert_string_equal(bsn_json_str(pod, "status.phase"), "Running");
    json_decref(pod);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cpu_rate_and_working_set, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
