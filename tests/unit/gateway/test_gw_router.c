/*
 * test_gw_router.c - the route tables at scale and their compact layout: thousands of hosts
 * and paths (keys shorter and longer than the inline part of an entry, paths over 63 bytes),
 * near misses that differ only after the inline bytes, Exact and Prefix entries of different
 * lengths in one host group (the per-group length masks must not skip a probe that can hit),
 * entries holding many routes (precedence kept while the route list grows), and effective
 * policies shared by routes with equal inputs, and the route fields every request reads (one
 * backend inline, header modifier count).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/yaml.h"
#include "gateway/gateway.h"
#include "gateway/gw_internal.h"
#include "http/parser.h"

#include "gw_fixture.h"

#define BE  "backend: {service: {name: web, port: {number: 80}}}"
#define SVC "kind: Service\nmetadata: {name: web}\nspec: {ports: [{name: http, port: 80}]}\n"

/* The name of the route matching host + path (GET, no headers), or NULL. */
static const char *
match(const struct bsn_gw_config *cfg, const char *host, const char *path)
{
    struct bsn_gw_request_info ri = {
        bsn_str_c(host), BSN_STR_LIT("GET"), bsn_str_c(path), BSN_STR_NULL, NULL, 0};
    const struct bsn_gw_route *r = bsn_gw_route_match(cfg, &ri);
    return r ? bsn_gw_route_name(r) : NULL;
}

static void
expect(const struct bsn_gw_config *cfg, const char *host, const char *path, const char *want)
{
    const char *got = match(cfg, host, path);
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
        print_error("%s %s -> got %s, want %s\n", host, path, got ? got : "(none)",
                    want ? want : "(none)");
        fail();
    }
}

/* Host i: short ones fit the entry inline, every third is longer than the inline part. */
static void
host_of(int i, char *out, size_t n)
{
    if (i % 3 == 0)
        snprintf(out, n, "service-number-%d.long-subdomain.example.com", i);
    else
        snprintf(out, n, "h%d.example.com", i);
}

/* Path i: short, longer than the inline part, or longer than 63 bytes (the last mask bit). */
static void
path_of(int i, char *out, size_t n)
{
    if (i % 4 == 1)
        snprintf(out, n, "/api/v1/namespaces/default/services/svc%d", i);
    else if (i % 4 == 2)
        snprintf(out, n, "/a/very/long/path/prefix/that/goes/beyond/sixty/three/bytes/for/sure/x%d",
                 i);
    else
        snprintf(out, n, "/svc%d", i);
}

#define NHOSTS 3000

static void
test_many_routes(void **state)
{
    struct bsn_buf y;
    bsn_buf_init(&y);
    bsn_buf_puts(&y, SVC "---\nkind: Ingress\nmetadata: {name: big}\nspec:\n  rules:\n");
    char host[128], path[128];
    for (int i = 0; i < NHOSTS; i++) {
        host_of(i, host, sizeof(host));
        path_of(i, path, sizeof(path));
        bsn_buf_printf(&y, "  - host: %s\n    http: {paths: [{path: %s, pathType: %s, " BE "}]}\n",
                       host, path, i % 2 ? "Prefix" : "Exact");
    }
    struct bsn_gw_config *cfg = build(y.data);
    bsn_buf_fini(&y);
    assert_int_equal(bsn_gw_config_nroutes(cfg), NHOSTS);
    char want[256], probe[160];
    for (int i = 0; i < NHOSTS; i++) {
        host_of(i, host, sizeof(host));
        path_of(i, path, sizeof(path));
        snprintf(want, sizeof(want), "ingress:default/big:%d:%s", i, path);
        expect(cfg, host, path, want);
        snprintf(probe, sizeof(probe), "%s/below", path);
        expect(cfg, host, probe, i % 2 ? want : NULL); /* Prefix matches below, Exact not */
        /* same length, last byte different: beyond the inline bytes for the long keys */
        snprintf(probe, sizeof(probe), "%s", path);
        probe[strlen(probe) - 1] = probe[strlen(probe) - 1] == '0' ? '9' : '0';
        if (strcmp(probe, path) != 0) {
            const char *got = match(cfg, host, probe);
            assert_true(got == NULL || strcmp(got, want) != 0);
        }
        snprintf(probe, sizeof(probe), "%s", host);
        probe[strlen(probe) - 1] = 'x'; /* ".example.cox" */
        expect(cfg, probe, path, NULL);
    }
    /* another host's path is not this host's */
    host_of(4, host, sizeof(host));
    path_of(5, path, sizeof(path));
    expect(cfg, host, path, NULL);
    bsn_gw_config_unref(cfg);
}

static void
test_lengths_in_one_group(void **state)
{
    struct bsn_gw_config *cfg = build(
        SVC "---\nkind: Ingress\nmetadata: {name: g}\nspec:\n  rules:\n"
            "  - host: g.com\n    http:\n      paths:\n"
            "      - {path: /a, pathType: Exact, " BE "}\n"
            "      - {path: /abc, pathType: Prefix, " BE "}\n"
            "      - {path: /abc/defghijklmnopqrstuvwxyz/0123456789, pathType: Prefix, " BE "}\n"
            "      - {path: '/x/0123456789012345678901234567890123456789012345678901234567890"
            "123456789', pathType: Exact, " BE "}\n"
            "  - http: {paths: [{path: /, pathType: Prefix, " BE "}]}\n");
    expect(cfg, "g.com", "/a", "ingress:default/g:0:/a");
    expect(cfg, "g.com", "/a/", NULL);
    expect(cfg, "g.com", "/ab", NULL);
    expect(cfg, "g.com", "/abc", "ingress:default/g:0:/abc");
    expect(cfg, "g.com", "/abc///", "ingress:default/g:0:/abc");
    expect(cfg, "g.com", "/abc/defghijklmnopqrstuvwxyz", "ingress:default/g:0:/abc");
    expect(cfg, "g.com", "/abc/defghijklmnopqrstuvwxyz/0123456789/z",
           "ingress:default/g:0:/abc/defghijklmnopqrstuvwxyz/0123456789");
    expect(cfg, "g.com", "/abc/defghijklmnopqrstuvwxyz/0123456780/z", "ingress:default/g:0:/abc");
    expect(cfg, "g.com",
           "/x/0123456789012345678901234567890123456789012345678901234567890123456789",
           "ingress:default/g:0:/x/"
           "0123456789012345678901234567890123456789012345678901234567890123456789");
    expect(cfg, "g.com",
           "/x/0123456789012345678901234567890123456789012345678901234567890123456788", NULL);
    /* the host-less rule is its own group with its own lengths */
    expect(cfg, "other.com", "/abc", "ingress:default/g:1:/");
    expect(cfg, "other.com", "/", "ingress:default/g:1:/");
    bsn_gw_config_unref(cfg);
}

static void
test_entry_with_many_routes(void **state)
{
    /* nine Ingresses with the same host and path: one entry, the oldest wins */
    struct bsn_buf y;
    bsn_buf_init(&y);
    bsn_buf_puts(&y, SVC);
    static const int order[] = {5, 3, 8, 1, 9, 2, 7, 4, 6}; /* creation year offsets */
    for (size_t k = 0; k < BSN_ARRAY_LEN(order); k++)
        bsn_buf_printf(&y,
                       "---\nkind: Ingress\nmetadata: {name: i%zu, creationTimestamp: "
                       "'20%02d-01-01T00:00:00Z'}\nspec:\n  rules:\n"
                       "  - host: same.com\n    http: {paths: [{path: /p, pathType: Prefix, " BE
                       "}]}\n",
                       k, 10 + order[k]);
    struct bsn_gw_config *cfg = build(y.data);
    bsn_buf_fini(&y);
    assert_int_equal(bsn_gw_config_nroutes(cfg), 9);
    expect(cfg, "same.com", "/p/q", "ingress:default/i3:0:/p"); /* 2011 */
    int found = 0;
    for (size_t i = 0; i <= cfg->paths_mask; i++) {
        const struct gw_path_entry *e = &cfg->paths[i];
        if (!e->path)
            continue;
        found++;
        assert_int_equal(e->nroutes, 9);
        for (int k = 1; k < e->nroutes; k++)
            assert_true(e->routes[k - 1]->created < e->routes[k]->created);
    }
    assert_int_equal(found, 1);
    bsn_gw_config_unref(cfg);
}

static void
test_effective_policies_shared(void **state)
{
    struct bsn_buf y;
    bsn_buf_init(&y);
    bsn_buf_puts(&y,
                 SVC "---\nkind: GatewayPolicy\nmetadata: {name: p}\n"
                     "spec:\n  targetRefs: [{group: networking.k8s.io, kind: Ingress, name: "
                     "limited}]\n  timeouts: {request: 3s}\n"
                     "---\nkind: Ingress\nmetadata: {name: limited}\nspec:\n  rules:\n"
                     "  - host: l.com\n    http: {paths: [{path: /, pathType: Prefix, " BE "}]}\n"
                     "---\nkind: Ingress\nmetadata: {name: many}\nspec:\n  rules:\n");
    for (int i = 0; i < 200; i++)
        bsn_buf_printf(
            &y, "  - host: m%d.com\n    http: {paths: [{path: /, pathType: Prefix, " BE "}]}\n", i);
    struct bsn_gw_config *cfg = build(y.data);
    bsn_buf_fini(&y);
    assert_int_equal(cfg->nroutes, 201);
    const struct gw_policy *limited = cfg->routes[0]->policy, *plain = cfg->routes[1]->policy;
    assert_int_equal(limited->request_ms, 3000);
    assert_int_equal(plain->request_ms, cfg->default_policy.request_ms);
    assert_int_not_equal(plain->request_ms, 3000);
    assert_ptr_not_equal(limited, plain);
    for (size_t i = 1; i < cfg->nroutes; i++)
        assert_ptr_equal(cfg->routes[i]->policy, plain);
    assert_int_equal(cfg->neffective, 2);
    for (size_t i = 0; i < cfg->nroutes; i++)
        assert_int_equal((uintptr_t)cfg->routes[i] % 64, 0);
    bsn_gw_config_unref(cfg);
}

static void
test_route_hot_fields(void **state)
{
    struct bsn_gw_config *cfg = build(
        SVC
        "---\nkind: Service\nmetadata: {name: v2}\nspec: {ports: [{port: 80}]}\n---\n"
        "kind: Gateway\nmetadata: {name: gw}\nspec: {gatewayClassName: bosun, listeners: "
        "[{name: http, port: 80}]}\n---\n"
        "kind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: gw}]\n"
        "  rules:\n"
        "  - matches: [{path: {type: PathPrefix, value: /mods}}]\n"
        "    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {remove: [X-A]}}]\n"
        "    backendRefs: [{name: web, port: 80, weight: 3}, {name: v2, port: 80, weight: 1}, "
        "{name: web, port: 80, weight: 2}]\n"
        "  - matches: [{path: {type: PathPrefix, value: /plain}}]\n"
        "    backendRefs: [{name: v2, port: 80}]\n");
    assert_int_equal(cfg->nroutes, 2);
    const struct gw_route *mods = cfg->routes[0], *plain = cfg->routes[1];
    assert_int_equal(mods->nmods, 1);
    assert_int_equal(plain->nmods, 0);
    /* one backend lives in the route, more in an array, in order */
    assert_ptr_equal(plain->backends, &plain->one_backend);
    assert_string_equal(plain->backends[0].b->name, "default/v2:80");
    assert_ptr_not_equal(mods->backends, &mods->one_backend);
    assert_int_equal(mods->nbackends, 3);
    assert_int_equal(mods->total_weight, 6);
    assert_string_equal(mods->backends[0].b->name, "default/web:80");
    assert_int_equal(mods->backends[0].weight, 3);
    assert_string_equal(mods->backends[1].b->name, "default/v2:80");
    assert_int_equal(mods->backends[2].weight, 2);
    bsn_gw_config_unref(cfg);
}

int
main(void)
{
    bsn_log_set_level(BSN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_routes),
        cmocka_unit_test(test_lengths_in_one_group),
        cmocka_unit_test(test_entry_with_many_routes),
        cmocka_unit_test(test_effective_policies_shared),
        cmocka_unit_test(test_route_hot_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
