/*
 * test_gw_lb.c - load balancing (round robin, weights, least request, consistent hash),
 * passive outlier detection, the token-bucket rate limiter and credential checks, on a real
 * gateway object (no listeners, workers not started).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "codec/yaml.h"
#include "gateway/gw_filters.h"
#include "gateway/gw_worker.h"

static const char *YAML =
    "kind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n---\n"
    "kind: EndpointSlice\nmetadata: {name: a, labels: {kubernetes.io/service-name: a}}\n"
    "ports: [{port: 8080}]\nendpoints: [{addresses: [10.0.0.1, 10.0.0.2, 10.0.0.3]}]\n---\n"
    "kind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 80}]}\n---\n"
    "kind: EndpointSlice\nmetadata: {name: b, labels: {kubernetes.io/service-name: b}}\n"
    "ports: [{port: 8080}]\nendpoints: [{addresses: [10.0.1.1]}]\n---\n"
    "kind: Secret\nmetadata: {name: users}\nstringData: {alice: wonderland}\n---\n"
    "kind: GatewayPolicy\nmetadata: {name: lr}\nspec:\n"
    "  targetRefs: [{kind: HTTPRoute, name: lr}]\n  loadBalancer: {type: LeastRequest}\n"
    "  auth: {basic: {secretRef: {name: users}}}\n---\n"
    "kind: GatewayPolicy\nmetadata: {name: hash}\nspec:\n"
    "  targetRefs: [{kind: HTTPRoute, name: hash}]\n"
    "  loadBalancer: {type: ConsistentHash, hash: {header: x-user}}\n---\n"
    "kind: Gateway\nmetadata: {name: gw}\nspec: {gatewayClassName: bosun, listeners: [{name: "
    "l}]}\n---\n"
    "kind: HTTPRoute\nmetadata: {name: rr}\nspec:\n  parentRefs: [{name: gw}]\n"
    "  hostnames: [rr]\n  rules: [{backendRefs: [{name: a, port: 80, weight: 80}, {name: b, "
    "port: 80, weight: 20}]}]\n---\n"
    "kind: HTTPRoute\nmetadata: {name: lr}\nspec:\n  parentRefs: [{name: gw}]\n"
    "  hostnames: [lr]\n  rules: [{backendRefs: [{name: a, port: 80}]}]\n---\n"
    "kind: HTTPRoute\nmetadata: {name: hash}\nspec:\n  parentRefs: [{name: gw}]\n"
    "  hostnames: [hash]\n  rules: [{backendRefs: [{name: a, port: 80}]}]\n";

struct fixture {
    struct bsn_gw *gw;
    struct gw_worker *w;
    struct bsn_gw_config *cfg;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct bsn_err err = {0};
    struct bsn_gw_options o = {.threads = 1};
    f->gw = bsn_gw_new(&o, &err);
    assert_non_null(f->gw);
    json_t *objs = bsn_yaml_parse(YAML, strlen(YAML), &err);
    assert_non_null(objs);
    assert_int_equal(bsn_gw_update(f->gw, objs, &err), 0);
    json_decref(objs);
    f->w = &f->gw->workers[0];
    f->cfg = f->w->cur->cfg;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    bsn_gw_free(f->gw);
    free(f);
    return 0;
}

static const struct gw_route *
route(struct fixture *f, const char *host)
{
    struct bsn_gw_request_info ri = {
        bsn_str_c(host), BSN_STR_LIT("GET"), BSN_STR_LIT("/"), BSN_STR_NULL, NULL, 0};
    const struct gw_route *r = (const struct gw_route *)bsn_gw_route_match(f->cfg, &ri);
    assert_non_null(r);
    return r;
}

static void
test_round_robin_and_weights(void **state)
{
    struct fixture *f = *state;
    const struct gw_route *r = route(f, "rr");
    int nb = 0, counts[3] = {0};
    for (int i = 0; i < 10000; i++) {
        struct gw_backend *b = gw_lb_pick_backend(f->w, r);
        if (strcmp(b->name, "default/b:80") == 0) {
            nb++;
            continue;
        }
        int e = gw_lb_pick_endpoint(f->w, r, b, &(struct gw_lb_ctx){0}, -1);
        assert_true(e >= 0 && e < 3);
        counts[e]++;
    }
    assert_true(nb > 1700 && nb < 2300); /* weight 20 of 100, +-3% */
    int na = 10000 - nb;
    for (int e = 0; e < 3; e++) /* round robin: within one of each other */
        assert_true(counts[e] >= na / 3 - 1 && counts[e] <= na / 3 + 1);
}

static void
test_outlier_ejection(void **state)
{
    struct fixture *f = *state;
    const struct gw_route *r = route(f, "rr");
    struct gw_backend *a = r->backends[0].b;
    assert_int_equal(a->neps, 3);
    for (int i = 0; i < 4; i++)
        gw_lb_report(f->w, r, a, 1, 503);
    struct gw_host *h1 = gw_host_get(f->w, a->eps[1].host_id);
    assert_int_equal(h1->ejected_until, 0); /* 4 < 5 consecutive */
    gw_lb_report(f->w, r, a, 1, 200);       /* a success resets the streak */
    for (int i = 0; i < 5; i++)
        gw_lb_report(f->w, r, a, 1, i % 2 ? 502 : 0); /* 5xx and connect failures */
    assert_true(h1->ejected_until > bsn_loop_now(f->w->loop));
    assert_int_equal(h1->ejected_total, 1);
    for (int i = 0; i < 300; i++)
        assert_int_not_equal(gw_lb_pick_endpoint(f->w, r, a, &(struct gw_lb_ctx){0}, -1), 1);
    /* at most max(1, 10%) ejected at once: a second bad endpoint stays in */
    for (int i = 0; i < 5; i++)
        gw_lb_report(f->w, r, a, 2, 500);
    struct gw_host *h2 = gw_host_get(f->w, a->eps[2].host_id);
    assert_int_equal(h2->ejected_until, 0);
    h1->ejected_until = 0;
}

static void
test_least_request(void **state)
{
    struct fixture *f = *state;
    const struct gw_route *r = route(f, "lr");
    struct gw_backend *a = r->backends[0].b;
    gw_host_get(f->w, a->eps[0].host_id)->active = 50;
    gw_host_get(f->w, a->eps[1].host_id)->active = 50;
    int busy = 0;
    for (int i = 0; i < 1000; i++) {
        int e = gw_lb_pick_endpoint(f->w, r, a, &(struct gw_lb_ctx){0}, -1);
        busy += e != 2;
    }
    /* two random choices: a busy endpoint wins only when both picks are busy (4/9) */
    assert_true(busy < 550);
    assert_true(busy > 300);
    gw_host_get(f->w, a->eps[0].host_id)->active = 0;
    gw_host_get(f->w, a->eps[1].host_id)->active = 0;
}

static void
test_consistent_hash(void **state)
{
    struct fixture *f = *state;
    const struct gw_route *r = route(f, "hash");
    struct gw_backend *a = r->backends[0].b;
    assert_non_null(a->ring);
    int seen[3] = {0};
    for (int u = 0; u < 200; u++) {
        char val[32];
        snprintf(val, sizeof(val), "user-%d", u);
        struct bsn_http_request_head req;
        memset(&req, 0, sizeof(req));
        req.headers[0].name = BSN_STR_LIT("X-User");
        req.headers[0].value = bsn_str_c(val);
        req.nheaders = 1;
        struct gw_lb_ctx ctx = {NULL, &req};
        int e = gw_lb_pick_endpoint(f->w, r, a, &ctx, -1);
        for (int k = 0; k < 5; k++) /* sticky */
            assert_int_equal(gw_lb_pick_endpoint(f->w, r, a, &ctx, -1), e);
        seen[e]++;
    }
    for (int e = 0; e < 3; e++) /* spread */
        assert_true(seen[e] > 30);
}

static void
test_rate_limiter(void **state)
{
    struct gw_ratelimiter *rl = gw_rl_new(64);
    uint64_t t = 1000000;
    for (int i = 0; i < 5; i++)
        assert_true(gw_rl_take(rl, 42, 1.0, 5, t) == 0);
    double wait = gw_rl_take(rl, 42, 1.0, 5, t);
    assert_true(wait > 0.99 && wait <= 1.0);
    assert_true(gw_rl_take(rl, 43, 1.0, 5, t) == 0); /* other key, own bucket */
    assert_true(gw_rl_take(rl, 42, 1.0, 5, t + 500) > 0);
    assert_true(gw_rl_take(rl, 42, 1.0, 5, t + 1000) == 0);
    assert_true(gw_rl_take(rl, 42, 1.0, 5, t + 1000) > 0);
    /* refill is capped at burst */
    for (int i = 0; i < 5; i++)
        assert_true(gw_rl_take(rl, 42, 1.0, 5, t + 100000) == 0);
    assert_true(gw_rl_take(rl, 42, 1.0, 5, t + 100000) > 0);
    gw_rl_free(rl);
}

static void
test_basic_auth(void **state)
{
    struct fixture *f = *state;
    const struct gw_route *r = route(f, "lr");
    const struct gw_policy *p = r->policy;
    assert_int_equal(p->nbasic, 1);
    /* alice:wonderland */
    const struct gw_cred *c = gw_auth_basic(p, BSN_STR_LIT("Basic YWxpY2U6d29uZGVybGFuZA=="));
    assert_non_null(c);
    assert_string_equal(c->user, "alice");
    assert_null(gw_auth_basic(p, BSN_STR_LIT("Basic YWxpY2U6d29uZGVybGFuZQ=="))); /* ...e */
    assert_null(gw_auth_basic(p, BSN_STR_LIT("Bearer YWxpY2U6d29uZGVybGFuZA==")));
    assert_null(gw_auth_basic(p, BSN_STR_LIT("Basic !!!")));
}

static const char *SLOW =
    "kind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n---\n"
    "kind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: s}}\n"
    "ports: [{port: 8080}]\nendpoints: [{addresses: [10.0.2.1, 10.0.2.2%s]}]\n---\n"
    "kind: GatewayPolicy\nmetadata: {name: slow}\nspec:\n"
    "  targetRefs: [{kind: Service, name: s}]\n"
    "  loadBalancer: {type: RoundRobin, slowStart: {window: 10s, minWeightPercent: 10}}\n---\n"
    "kind: Ingress\nmetadata: {name: s}\nspec:\n  rules: [{http: {paths: [{path: /, pathType: "
    "Prefix, backend: {service: {name: s, port: {number: 80}}}}]}}]\n";

static void
load_slow(struct bsn_gw *gw, bool third)
{
    struct bsn_err err = {0};
    char y[2048];
    snprintf(y, sizeof(y), SLOW, third ? ", 10.0.2.3" : "");
    json_t *objs = bsn_yaml_parse(y, strlen(y), &err);
    assert_non_null(objs);
    assert_int_equal(bsn_gw_update(gw, objs, &err), 0);
    json_decref(objs);
}

static void
test_slow_start(void **state)
{
    struct bsn_err err = {0};
    struct bsn_gw_options o = {.threads = 1};
    struct bsn_gw *gw = bsn_gw_new(&o, &err);
    assert_non_null(gw);
    load_slow(gw, false);
    struct gw_worker *w = &gw->workers[0];
    struct fixture f = {gw, w, w->cur->cfg};
    const struct gw_route *r = route(&f, "any");
    assert_int_equal(r->backends[0].b->eps[0].added_ms, 0); /* the first config: no ramp */
    load_slow(gw, true);                                    /* 10.0.2.3 joins */
    f.cfg = w->cur->cfg;
    r = route(&f, "any");
    struct gw_backend *b = r->backends[0].b;
    assert_int_equal(b->neps, 3);
    int fresh = -1;
    for (uint32_t e = 0; e < 3; e++)
        if (strncmp(b->eps[e].name, "10.0.2.3", 8) == 0)
            fresh = (int)e;
    assert_true(fresh >= 0);
    assert_true(b->eps[fresh].added_ms > 0);
    for (uint32_t e = 0; e < 3; e++)
        if ((int)e != fresh)
            assert_int_equal(b->eps[e].added_ms, 0);
    /* just joined: taken 10% of the times round robin lands on it (~1/30 of the requests) */
    int counts[3] = {0};
    b->eps[fresh].added_ms = bsn_loop_now(w->loop);
    for (int i = 0; i < 6000; i++)
        counts[gw_lb_pick_endpoint(w, r, b, &(struct gw_lb_ctx){0}, -1)]++;
    assert_true(counts[fresh] > 60 && counts[fresh] < 400);
    /* half-way through the window (aggression 1): half of its turns */
    memset(counts, 0, sizeof(counts));
    b->eps[fresh].added_ms = bsn_loop_now(w->loop) - 5000;
    for (int i = 0; i < 6000; i++)
        counts[gw_lb_pick_endpoint(w, r, b, &(struct gw_lb_ctx){0}, -1)]++;
    assert_true(counts[fresh] > 700 && counts[fresh] < 1400);
    /* after the window: a full share */
    memset(counts, 0, sizeof(counts));
    b->eps[fresh].added_ms = bsn_loop_now(w->loop) - 10001;
    for (int i = 0; i < 6000; i++)
        counts[gw_lb_pick_endpoint(w, r, b, &(struct gw_lb_ctx){0}, -1)]++;
    assert_true(counts[fresh] >= 1999 && counts[fresh] <= 2001);
    bsn_gw_free(gw);
}

int
main(void)
{
    bsn_log_set_level(BSN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_robin_and_weights, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outlier_ejection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_least_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consistent_hash, setup, teardown),
        cmocka_unit_test(test_rate_limiter),
        cmocka_unit_test(test_slow_start),
        cmocka_unit_test_setup_teardown(test_basic_auth, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
