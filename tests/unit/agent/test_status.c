/*
 * test_status.c - the pod status JSON the agent writes, computed from container states
 * (status.c) on hand-built pod workers: phase, conditions with upstream reasons, waiting /
 * running / terminated states, CrashLoopBackOff with lastState, init container statuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent_int.h"
#include "codec/json.h"
#include "loop/loop.h"

struct fixture {
    struct bsn_loop *loop;
    struct bsn_runtime *rt;
    struct bsn_agent a;
    char dir[64];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/bsn-agent-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->loop = bsn_loop_new();
    struct bsn_err err;
    struct bsn_runtime_opts o = {.kind = "process", .state_dir = f->dir};
    f->rt = bsn_runtime_new(f->loop, &o, &err);
    assert_non_null(f->rt);
    f->a.loop = f->loop;
    f->a.rt = f->rt;
    f->a.node_ip = "192.0.2.7";
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    bsn_runtime_free(f->rt);
    bsn_loop_free(f->loop);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A worker for pod JSON with n containers (the first ninit are init containers). */
static struct agent_pod *
make_pod(struct fixture *f, const char *json, size_t ninit)
{
    struct bsn_err err;
    struct agent_pod *p = calloc(1, sizeof(*p));
    p->a = &f->a;
    p->pod = bsn_json_parse(json, strlen(json), &err);
    assert_non_null(p->pod);
    snprintf(p->ns, sizeof(p->ns), "default");
    snprintf(p->name, sizeof(p->name), "%s", bsn_json_str(p->pod, "metadata.name"));
    snprintf(p->sandbox, sizeof(p->sandbox), "sb");
    snprintf(p->ip, sizeof(p->ip), "127.1.0.9");
    p->start_time = 1700000000LL * 1000000;
    json_t *init = bsn_json_path(p->pod, "spec.initContainers");
    json_t *ctrs = bsn_json_path(p->pod, "spec.containers");
    p->ninit = ninit;
    p->nctrs = ninit + json_array_size(ctrs);
    p->ctrs = calloc(p->nctrs, sizeof(*p->ctrs));
    for (size_t i = 0; i < p->nctrs; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        c->pod = p;
        c->init = i < ninit;
        bsn_timer_init(&c->hook_timer);
        c->spec = c->init ? json_array_get(init, i) : json_array_get(ctrs, i - ninit);
        snprintf(c->name, sizeof(c->name), "%s",
                 json_string_value(json_object_get(c->spec, "name")));
    }
    return p;
}

static void
free_pod(struct agent_pod *p)
{
    free(p->ctrs);
    json_decref(p->pod);
    json_decref(p->conds_prev);
    free(p);
}

static const char *
cond_field(json_t *st, const char *type, const char *field)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(st, "conditions"), i,
                       c) if (!strcmp(json_string_value(json_object_get(c, "type")),
                                      type)) return json_string_value(json_object_get(c, field));
    return NULL;
}

static void
test_running_ready(void **state)
{
    struct fixture *f = *state;
    struct agent_pod *p = make_pod(f,
                                   "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"containers\":[{"
                                   "\"name\":\"c\",\"image\":\"x\"}]}}",
                                   0);
    struct agent_ctr *c = &p->ctrs[0];
    snprintf(c->id, sizeof(c->id), "abc");
    c->st = CT_RUNNING;
    c->started_us = 1700000001LL * 1000000;
    c->ready = c->started = true;
    json_t *st = agent_pod_status(p);
    assert_string_equal(bsn_json_str(st, "phase"), "Running");
    assert_string_equal(bsn_json_str(st, "podIP"), "127.1.0.9");
    assert_string_equal(bsn_json_str(st, "hostIP"), "192.0.2.7");
    assert_string_equal(bsn_json_str(st, "startTime"), "2023-11-14T22:13:20Z");
    assert_string_equal(cond_field(st, "Ready", "status"), "True");
    assert_string_equal(cond_field(st, "ContainersReady", "status"), "True");
    assert_string_equal(cond_field(st, "PodScheduled", "status"), "True");
    json_t *cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
    assert_string_equal(bsn_json_str(cs, "state.running.startedAt"), "2023-11-14T22:13:21Z");
    assert_string_equal(bsn_json_str(cs, "containerID"), "process://abc");
    assert_true(json_is_true(json_object_get(cs, "ready")));
    json_decref(st);
    /* unready: reasons and messages as upstream, lastTransitionTime moves */
    c->ready = false;
    st = agent_pod_status(p);
    assert_string_equal(cond_field(st, "Ready", "status"), "False");
    assert_string_equal(cond_field(st, "Ready", "reason"), "ContainersNotReady");
    assert_string_equal(cond_field(st, "Ready", "message"), "containers with unready status: [c]");
    json_decref(st);
    free_pod(p);
}

static void
test_crashloop(void **state)
{
    struct fixture *f = *state;
    struct agent_pod *p = make_pod(f,
                                   "{\"metadata\":{\"name\":\"crash\"},\"spec\":{\"containers\":[{"
                                   "\"name\":\"c\",\"image\":\"x\"}]}}",
                                   0);
    struct agent_ctr *c = &p->ctrs[0];
    c->st = CT_EXITED;
    c->restart_count = 1;
    c->term.exit_code = 1;
    snprintf(c->term.reason, sizeof(c->term.reason), "Error");
    c->term.started_us = 1700000001LL * 1000000;
    c->term.finished_us = 1700000002LL * 1000000;
    snprintf(c->waiting_reason, sizeof(c->waiting_reason), "CrashLoopBackOff");
    snprintf(c->waiting_msg, sizeof(c->waiting_msg), "back-off 10s");
    json_t *st = agent_pod_status(p);
    assert_string_equal(bsn_json_str(st, "phase"), "Running"); /* as kubelet */
    json_t *cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
    assert_string_equal(bsn_json_str(cs, "state.waiting.reason"), "CrashLoopBackOff");
    assert_int_equal(bsn_json_int(cs, "lastState.terminated.exitCode", -1), 1);
    assert_string_equal(bsn_json_str(cs, "lastState.terminated.finishedAt"),
                        "2023-11-14T22:13:22Z");
    assert_int_equal(bsn_json_int(cs, "restartCount", -1), 1);
    json_decref(st);
    /* restartPolicy Never, exited 0: Succeeded and PodCompleted */
    json_object_set_new(json_object_get(p->pod, "spec"), "restartPolicy", json_string("Never"));
    c->waiting_reason[0] = '\0';
    c->term.exit_code = 0;
    snprintf(c->term.reason, sizeof(c->term.reason), "Completed");
    st = agent_pod_status(p);
    assert_string_equal(bsn_json_str(st, "phase"), "Succeeded");
    assert_string_equal(cond_field(st, "Ready", "reason"), "PodCompleted");
    cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
    assert_string_equal(bsn_json_str(cs, "state.terminated.reason"), "Completed");
    json_decref(st);
    free_pod(p);
}

static void
test_init(void **state)
{
    struct fixture *f = *state;
    struct agent_pod *p = make_pod(
        f,
        "{\"metadata\":{\"name\":\"i\"},\"spec\":{\"initContainers\":[{\"name\":\"a\",\"image\":"
        "\"x\"}],\"containers\":[{\"name\":\"b\",\"image\":\"x\"}]}}",
        1);
    p->ctrs[0].st = CT_RUNNING;
    snprintf(p->ctrs[1].waiting_reason, sizeof(p->ctrs[1].waiting_reason), "PodInitializing");
    json_t *st = agent_pod_status(p);
    assert_string_equal(bsn_json_str(st, "phase"), "Pending");
    assert_string_equal(cond_field(st, "Initialized", "status"), "False");
    assert_string_equal(cond_field(st, "Initialized", "reason"), "ContainersNotInitialized");
    assert_string_equal(cond_field(st, "Initialized", "message"),
                        "containers with incomplete status: [a]");
    json_t *ics = json_array_get(json_object_get(st, "initContainerStatuses"), 0);
    assert_non_null(bsn_json_path(ics, "state.running"));
    json_t *cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
    assert_string_equal(bsn_json_str(cs, "state.waiting.reason"), "PodInitializing");
    json_decref(st);
    /* the init container failed under Never: the pod fails */
    json_object_set_new(json_object_get(p->pod, "spec"), "restartPolicy", json_string("Never"));
    p->ctrs[0].st = CT_EXITED;
    p->ctrs[0].term.exit_code = 2;
    st = agent_pod_status(p);
    assert_string_equal(bsn_json_str(st, "phase"), "Failed");
    json_decref(st);
    free_pod(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_running_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crashloop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
