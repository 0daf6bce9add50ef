/*
 * test_gw_config.c - gateway config compiler and route matching: Ingress precedence (Exact >
 * longest Prefix, element-wise prefixes, wildcard hosts, defaultBackend), Gateway API
 * HTTPRoute precedence (hostname, path, method, headers, query, age), backends resolved from
 * Services + EndpointSlices, and invalid input producing warnings instead of failures.
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
#include "base/mem.h"
#include "codec/yaml.h"
#include "gateway/gateway.h"
#include "gateway/gw_internal.h"
#include <arpa/inet.h>
#include "http/parser.h"

#include "gw_fixture.h"

struct req_case {
    const char *host, *method, *path, *query;
    const char *hname, *hvalue;
    const char *want; /* route name, NULL = no route */
};

static void
run_cases(struct bsn_gw_config *cfg, const struct req_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct req_case *c = &cases[i];
        struct bsn_http_header h = {bsn_str_c(c->hname ? c->hname : "x-none"),
                                    bsn_str_c(c->hvalue ? c->hvalue : "")};
        struct bsn_gw_request_info ri = {bsn_str_c(c->host),
                                         bsn_str_c(c->method ? c->method : "GET"),
                                         bsn_str_c(c->path),
                                         bsn_str_c(c->query ? c->query : ""),
                                         &h,
                                         1};
        const struct bsn_gw_route *r = bsn_gw_route_match(cfg, &ri);
        const char *got = r ? bsn_gw_route_name(r) : NULL;
        if ((got == NULL) != (c->want == NULL) || (got && strcmp(got, c->want) != 0)) {
            print_error("case %zu: %s %s%s%s -> got %s, want %s\n", i, c->host, c->path,
                        c->query ? "?" : "", c->query ? c->query : "", got ? got : "(none)",
                        c->want ? c->want : "(none)");
            fail();
        }
    }
}

#define BE "backend: {service: {name: web, port: {number: 80}}}"

static const char *INGRESS_YAML =
    "kind: Service\nmetadata: {name: web}\nspec: {ports: [{name: http, port: 80}]}\n---\n"
    "kind: Ingress\n"
    "metadata: {name: a, creationTimestamp: '2024-01-01T00:00:00Z'}\n"
    "spec:\n"
    "  defaultBackend: {service: {name: web, port: {number: 80}}}\n"
    "  rules:\n"
    "  - host: a.com\n"
    "    http:\n"
    "      paths:\n"
    "      - {path: /foo, pathType: Exact, " BE "}\n"
    "      - {path: /foo, pathType: Prefix, " BE "}\n"
    "      - {path: /foo/bar/, pathType: Prefix, " BE "}\n"
    "      - {path: /, pathType: Prefix, " BE "}\n"
    "      - {path: /impl, pathType: ImplementationSpecific, " BE "}\n"
    "  - host: '*.a.com'\n"
    "    http: {paths: [{path: /, pathType: Prefix, " BE "}]}\n"
    "  - http: {paths: [{path: /other, pathType: Prefix, " BE "}]}\n"
    "---\n"
    "kind: Ingress\n"
    "metadata: {name: other-class}\n"
    "spec:\n"
    "  ingressClassName: nginx\n"
    "  rules: [{host: b.com, http: {paths: [{path: /, pathType: Prefix, " BE "}]}}]\n";

static void
test_ingress_precedence(void **state)
{
    struct bsn_gw_config *cfg = build(INGRESS_YAML);
    assert_int_equal(bsn_gw_config_nroutes(cfg), 8);
    static const struct req_case cases[] = {
        {"a.com", NULL, "/foo", NULL, NULL, NULL, "ingress:default/a:0:/foo"},
        {"a.com", NULL, "/foo/", NULL, NULL, NULL, "ingress:default/a:0:/foo"},
        {"a.com", NULL, "/foo/bar", NULL, NULL, NULL, "ingress:default/a:0:/foo/bar/"},
        {"a.com", NULL, "/foo/bar/", NULL, NULL, NULL, "ingress:default/a:0:/foo/bar/"},
        {"a.com", NULL, "/foo/bar/baz", NULL, NULL, NULL, "ingress:default/a:0:/foo/bar/"},
        {"a.com", NULL, "/foo/barbaz", NULL, NULL, NULL, "ingress:default/a:0:/foo"},
        {"a.com", NULL, "/foobar", NULL, NULL, NULL, "ingress:default/a:0:/"},
        {"a.com", NULL, "/", NULL, NULL, NULL, "ingress:default/a:0:/"},
        {"a.com", NULL, "/impl/x", NULL, NULL, NULL, "ingress:default/a:0:/impl"},
        {"A.COM:8080", NULL, "/foo", NULL, NULL, NULL, "ingress:default/a:0:/foo"},
        {"a.com.", NULL, "/foo", NULL, NULL, NULL, "ingress:default/a:0:/foo"},
        /* wildcard: exactly one label */
        {"x.a.com", NULL, "/anything", NULL, NULL, NULL, "ingress:default/a:1:/"},
        {"y.x.a.com", NULL, "/other/1", NULL, NULL, NULL, "ingress:default/a:2:/other"},
        {"y.x.a.com", NULL, "/nope", NULL, NULL, NULL, "ingress:default/a:default"},
        /* host-less rule and defaultBackend */
        {"zzz", NULL, "/other", NULL, NULL, NULL, "ingress:default/a:2:/other"},
        {"zzz", NULL, "/otherwise", NULL, NULL, NULL, "ingress:default/a:default"},
        {"", NULL, "/", NULL, NULL, NULL, "ingress:default/a:default"},
        /* another class's Ingress is not ours */
        {"b.com", NULL, "/", NULL, NULL, NULL, "ingress:default/a:default"},
    };
    run_cases(cfg, cases, BSN_ARRAY_LEN(cases));
    bsn_gw_config_unref(cfg);
}

static const char *GATEWAY_YAML =
    "kind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 8080}]}\n---\n"
    "kind: Gateway\nmetadata: {name: gw, namespace: shop}\n"
    "spec: {gatewayClassName: bosun, listeners: [{name: http, port: 80, hostname: '*.gw.io'}]}\n"
    "---\n"
    "kind: Gateway\nmetadata: {name: foreign, namespace: shop}\n"
    "spec: {gatewayClassName: istio, listeners: [{name: http, port: 80}]}\n"
    "---\n"
    "kind: HTTPRoute\nmetadata: {name: api, namespace: shop, creationTimestamp: "
    "'2024-01-01T00:00:00Z'}\n"
    "spec:\n"
    "  parentRefs: [{name: gw}]\n"
    "  hostnames: [api.gw.io]\n"
    "  rules:\n"
    "  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: x-canary, value: "
    "'true'}]}]\n"
    "    backendRefs: [{name: web, port: 8080}]\n"
    "  - matches: [{path: {type: PathPrefix, value: /v1}}]\n"
    "    backendRefs: [{name: web, port: 8080}]\n"
    "  - matches: [{path: {type: Exact, value: /v1/health}, method: GET}]\n"
    "    backendRefs: [{name: web, port: 8080}]\n"
    "  - matches: [{path: {type: PathPrefix, value: /v1}, queryParams: [{name: debug, value: "
    "'1'}]}]\n"
    "    backendRefs: [{name: web, port: 8080}]\n"
    "---\n"
    "kind: HTTPRoute\nmetadata: {name: all, namespace: shop, creationTimestamp: "
    "'2024-02-01T00:00:00Z'}\n"
    "spec:\n"
    "  parentRefs: [{name: gw}]\n"
    "  rules: [{backendRefs: [{name: web, port: 8080}]}]\n"
    "---\n"
    "kind: HTTPRoute\nmetadata: {name: older, namespace: shop, creationTimestamp: "
    "'2023-01-01T00:00:00Z'}\n"
    "spec:\n"
    "  parentRefs: [{name: gw}]\n"
    "  hostnames: [dup.gw.io]\n"
    "  rules: [{matches: [{path: {type: PathPrefix, value: /d}}], backendRefs: [{name: web, "
    "port: 8080}]}]\n"
    "---\n"
    "kind: HTTPRoute\nmetadata: {name: newer, namespace: shop, creationTimestamp: "
    "'2025-01-01T00:00:00Z'}\n"
    "spec:\n"
    "  parentRefs: [{name: gw}]\n"
    "  hostnames: [dup.gw.io]\n"
    "  rules: [{matches: [{path: {type: PathPrefix, value: /d}}], backendRefs: [{name: web, "
    "port: 8080}]}]\n"
    "---\n"
    "kind: HTTPRoute\nmetadata: {name: foreign, namespace: shop}\n"
    "spec:\n"
    "  parentRefs: [{name: foreign}]\n"
    "  hostnames: [f.io]\n"
    "  rules: [{backendRefs: [{name: web, port: 8080}]}]\n";

static void
test_httproute_precedence(void **state)
{
    struct bsn_gw_config *cfg = build(GATEWAY_YAML);
    static const struct req_case cases[] = {
        {"api.gw.io", "GET", "/v1/x", NULL, "x-canary", "true", "httproute:shop/api:0:0"},
        {"api.gw.io", "GET", "/v1/x", NULL, "x-canary", "false", "httproute:shop/api:1:0"},
        {"api.gw.io", "GET", "/v1/health", NULL, NULL, NULL, "httproute:shop/api:2:0"},
        {"api.gw.io", "POST", "/v1/health", NULL, NULL, NULL, "httproute:shop/api:1:0"},
        {"api.gw.io", "GET", "/v1/x", "a=b&debug=1", NULL, NULL, "httproute:shop/api:3:0"},
        {"api.gw.io", "GET", "/v1/x", "debug=1", "x-canary", "true", "httproute:shop/api:0:0"},
        {"api.gw.io", "GET", "/v1/x", "debug=10", NULL, NULL, "httproute:shop/api:1:0"},
        {"api.gw.io", "GET", "/v2", NULL, NULL, NULL, NULL},
        /* no hostnames: the listener's wildcard, any number of labels */
        {"other.gw.io", "GET", "/anything", NULL, NULL, NULL, "httproute:shop/all:0:0"},
        {"deep.sub.gw.io", "GET", "/", NULL, NULL, NULL, "httproute:shop/all:0:0"},
        {"gw.io", "GET", "/", NULL, NULL, NULL, NULL},
        /* same host and path: the oldest route wins */
        {"dup.gw.io", "GET", "/d/1", NULL, NULL, NULL, "httproute:shop/older:0:0"},
        /* attached to another implementation's Gateway: ignored */
        {"f.io", "GET", "/", NULL, NULL, NULL, NULL},
    };
    run_cases(cfg, cases, BSN_ARRAY_LEN(cases));
    bsn_gw_config_unref(cfg);
}

static void
test_ingress_classes(void **state)
{
    struct bsn_gw_config *cfg = build(
        "kind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n"
        "kind: IngressClass\nmetadata: {name: edge, annotations: "
        "{ingressclass.kubernetes.io/is-default-class: 'true'}}\n"
        "spec: {controller: gateway.bosun.dev/controller}\n---\n"
        "kind: IngressClass\nmetadata: {name: nginx}\nspec: {controller: k8s.io/ingress-nginx}\n"
        "---\n"
        "kind: Ingress\nmetadata: {name: by-class}\nspec: {ingressClassName: edge, rules: "
        "[{host: a.com, http: {paths: [{path: /, pathType: Prefix, " BE "}]}}]}\n---\n"
        "kind: Ingress\nmetadata: {name: by-default}\nspec: {rules: "
        "[{host: b.com, http: {paths: [{path: /, pathType: Prefix, " BE "}]}}]}\n---\n"
        "kind: Ingress\nmetadata: {name: theirs}\nspec: {ingressClassName: nginx, rules: "
        "[{host: c.com, http: {paths: [{path: /, pathType: Prefix, " BE "}]}}]}\n");
    static const struct req_case cases[] = {
        {"a.com", NULL, "/", NULL, NULL, NULL, "ingress:default/by-class:0:/"},
        {"b.com", NULL, "/", NULL, NULL, NULL, "ingress:default/by-default:0:/"},
        {"c.com", NULL, "/", NULL, NULL, NULL, NULL},
    };
    run_cases(cfg, cases, BSN_ARRAY_LEN(cases));
    bsn_gw_config_unref(cfg);
}

static void
test_backends_from_endpointslices(void **state)
{
    struct bsn_gw_config *cfg = build(
        "kind: Service\nmetadata: {name: web}\n"
        "spec: {ports: [{name: http, port: 80, targetPort: 8080}, {name: admin, port: 81}]}\n"
        "---\n"
        "kind: EndpointSlice\nmetadata: {name: web-a, labels: {kubernetes.io/service-name: web}}\n"
        "ports: [{name: http, port: 8080}, {name: admin, port: 9000}]\n"
        "endpoints:\n"
        "- addresses: [10.0.0.1]\n"
        "- addresses: [10.0.0.2]\n  conditions: {ready: false}\n"
        "---\n"
        "kind: EndpointSlice\nmetadata: {name: web-b, labels: {kubernetes.io/service-name: web}}\n"
        "ports: [{name: http, port: 8080}]\n"
        "endpoints: [{addresses: [10.0.0.3, 'fd00::3']}]\n"
        "---\n"
        "kind: Ingress\nmetadata: {name: i}\nspec:\n  rules:\n"
        "  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: "
        "{name: http}}}},\n"
        "                   {path: /admin, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 81}}}},\n"
        "                   {path: /missing, pathType: Prefix, backend: {service: {name: nope, "
        "port: {number: 1}}}}]}\n");
    assert_int_equal(cfg->nbackends, 3);
    struct gw_backend *http = cfg->backends[0], *admin = cfg->backends[1];
    assert_string_equal(http->name, "default/web:http");
    assert_int_equal(http->neps, 3); /* not-ready endpoint left out */
    assert_string_equal(http->eps[0].name, "10.0.0.1:8080");
    assert_string_equal(http->eps[1].name, "10.0.0.3:8080");
    assert_string_equal(http->eps[2].name, "[fd00::3]:8080");
    assert_int_equal(admin->neps, 1);
    assert_string_equal(admin->eps[0].name, "10.0.0.1:9000");
    assert_int_equal(cfg->backends[2]->neps, 0);
    assert_non_null(strstr(bsn_gw_config_warnings(cfg), "Service default/nope not found"));
    bsn_gw_config_unref(cfg);
}

static void
test_invalid_input_warns(void **state)
{
    struct bsn_err err = {0};
    json_t *notarray = json_object();
    assert_null(bsn_gw_config_build(notarray, &err));
    assert_int_equal(err.code, 400);
    json_decref(notarray);
    struct bsn_gw_config *cfg =
        build("kind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n"
              "kind: Ingress\nmetadata: {name: bad}\nspec:\n  rules:\n"
              "  - host: 'x*.com'\n    http: {paths: [{path: /, " BE "}]}\n"
              "  - http: {paths: [{path: relative, " BE "}, {path: /ok, pathType: Regex, " BE "},\n"
              "                   {path: /good, pathType: Prefix, " BE "}]}\n"
              "---\n"
              "kind: GatewayPolicy\nmetadata: {name: p}\n"
              "spec: {targetRefs: [{kind: Service, name: web}], timeouts: {connect: soon}}\n");
    assert_int_equal(bsn_gw_config_nroutes(cfg), 1);
    const char *w = bsn_gw_config_warnings(cfg);
    assert_non_null(strstr(w, "rules[0].host x*.com"));
    assert_non_null(strstr(w, "path relative"));
    assert_non_null(strstr(w, "pathType Regex"));
    assert_non_null(strstr(w, "spec.timeouts.connect"));
    bsn_gw_config_unref(cfg);
}

static void
test_policy_attachment_and_filters(void **state)
{
    struct bsn_gw_config *cfg =
        build("kind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n"
              "kind: Secret\nmetadata: {name: keys}\nstringData: {alice: k-alice}\ndata: {bob: "
              "ay1ib2I=}\n---\n"
              "kind: GatewayPolicy\nmetadata: {name: svc}\n"
              "spec:\n  targetRefs: [{kind: Service, name: web}]\n"
              "  loadBalancer: {type: LeastRequest}\n  timeouts: {connect: 250ms, request: 2s}\n"
              "---\n"
              "kind: GatewayPolicy\nmetadata: {name: route}\n"
              "spec:\n  targetRefs: [{group: networking.k8s.io, kind: Ingress, name: i}]\n"
              "  rateLimit: {requests: 10, per: 1m, key: clientIP}\n"
              "  auth: {apiKey: {secretRef: {name: keys}}}\n"
              "  ipDeny: [10.0.0.0/8]\n  timeouts: {request: 7s}\n"
              "---\n"
              "kind: Ingress\nmetadata: {name: i}\nspec:\n  rules:\n"
              "  - http: {paths: [{path: /, pathType: Prefix, " BE "}]}\n"
              "---\n"
              "kind: Ingress\nmetadata: {name: j}\nspec:\n  rules:\n"
              "  - host: j.com\n    http: {paths: [{path: /, pathType: Prefix, " BE "}]}\n");
    assert_int_equal(cfg->nroutes, 2);
    const struct gw_policy *pi = cfg->routes[0]->policy, *pj = cfg->routes[1]->policy;
    /* route policy's timeouts win; the service's LB applies since the route sets none */
    assert_int_equal(pi->request_ms, 7000);
    assert_int_equal(pi->lb, GW_LB_LEAST_REQUEST);
    assert_true(pi->rl_rate > 0.16 && pi->rl_rate < 0.17);
    assert_int_equal(pi->rl_key, GW_RL_CLIENT_IP);
    assert_int_equal(pi->napikeys, 2);
    assert_int_equal(pi->ndeny, 1);
    assert_int_equal(pj->connect_ms, 250);
    assert_int_equal(pj->request_ms, 2000);
    assert_int_equal(pj->napikeys, 0);
    assert_true(pj->rl_rate == 0);
    /* defaults fill the rest */
    assert_int_equal(pj->outlier_consecutive_5xx, 5);
    assert_int_equal(pj->outlier_base_ms, 30000);
    bsn_gw_config_unref(cfg);
}

static void
test_httproute_filters_and_weights(void **state)
{
    struct bsn_gw_config *cfg = build(
        "kind: Service\nmetadata: {name: v1}\nspec: {ports: [{port: 80}]}\n---\n"
        "kind: Service\nmetadata: {name: v2}\nspec: {ports: [{port: 80}]}\n---\n"
        "kind: Gateway\nmetadata: {name: gw}\nspec: {gatewayClassName: bosun, listeners: "
        "[{name: l, port: 80}]}\n---\n"
        "kind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n"
        "  - matches: [{path: {type: PathPrefix, value: /app}}]\n"
        "    filters:\n"
        "    - {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, "
        "replacePrefixMatch: /}}}\n"
        "    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-A, value: "
        "'1'}], remove: [X-B]}}\n"
        "    backendRefs: [{name: v1, port: 80, weight: 90}, {name: v2, port: 80, weight: 10}]\n"
        "    timeouts: {request: 3s, backendRequest: 1500ms}\n"
        "  - matches: [{path: {type: Exact, value: /old}}]\n"
        "    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: "
        "301}}]\n"
        "  - matches: [{path: {type: Exact, value: /none}}]\n");
    assert_int_equal(cfg->nroutes, 3);
    struct gw_route *app = cfg->routes[0], *old = cfg->routes[1], *none = cfg->routes[2];
    assert_int_equal(app->nbackends, 2);
    assert_int_equal(app->total_weight, 100);
    assert_string_equal(app->rewrite_prefix, "/");
    assert_int_equal(app->req_hdr.nset, 1);
    assert_int_equal(app->req_hdr.nremove, 1);
    assert_int_equal(old->redirect_status, 301);
    assert_string_equal(old->redirect_scheme, "https");
    assert_int_equal(none->direct_status, 500);
    assert_int_equal(app->policy->request_ms, 3000);
    assert_int_equal(app->policy->per_try_ms, 1500);
    assert_int_equal(old->policy->request_ms, 60000); /* default */
    bsn_gw_config_unref(cfg);
}

static void
test_objects_from_watch_events(void **state)
{
    struct bsn_gw_objects *set = bsn_gw_objects_new();
    json_t *svc = json_pack("{s:s,s:{s:s,s:s},s:{s:[{s:i}]}}", "kind", "Service", "metadata",
                            "name", "web", "namespace", "shop", "spec", "ports", "port", 80);
    json_t *pod = json_pack("{s:s,s:{s:s}}", "kind", "Pod", "metadata", "name", "p");
    json_t *ing =
        json_pack("{s:s,s:{s:s,s:s},s:{s:[{s:s,s:{s:[{s:s,s:s,s:{s:{s:s,s:{s:i}}}}]}}]}}", "kind",
                  "Ingress", "metadata", "name", "web", "namespace", "shop", "spec", "rules",
                  "host", "shop.test", "http", "paths", "path", "/", "pathType", "Prefix",
                  "backend", "service", "name", "web", "port", "number", 80);
    assert_int_equal(bsn_gw_objects_apply(set, "ADDED", svc), 1);
    assert_int_equal(bsn_gw_objects_apply(set, "ADDED", pod), 0);
    assert_int_equal(bsn_gw_objects_apply(set, "MODIFIED", svc), 0); /* identical */
    assert_int_equal(bsn_gw_objects_apply(set, "ADDED", ing), 1);
    assert_int_equal(bsn_gw_objects_apply(set, "BOOKMARK", ing), 0);
    assert_int_equal(bsn_gw_objects_count(set), 2);
    json_t *arr = bsn_gw_objects_array(set);
    struct bsn_err err = {0};
    struct bsn_gw_config *cfg = bsn_gw_config_build(arr, &err);
    json_decref(arr);
    assert_int_equal(bsn_gw_config_nroutes(cfg), 1);
    bsn_gw_config_unref(cfg);
    assert_int_equal(bsn_gw_objects_apply(set, "DELETED", ing), 1);
    assert_int_equal(bsn_gw_objects_apply(set, "DELETED", ing), 0);
    arr = bsn_gw_objects_array(set);
    cfg = bsn_gw_config_build(arr, &err);
    json_decref(arr);
    assert_int_equal(bsn_gw_config_nroutes(cfg), 0);
    bsn_gw_config_unref(cfg);
    json_decref(svc);
    json_decref(pod);
    json_decref(ing);
    bsn_gw_objects_free(set);
}

static void
test_value_parsers(void **state)
{
    assert_int_equal(gw_parse_duration_ms("5s"), 5000);
    assert_int_equal(gw_parse_duration_ms("250ms"), 250);
    assert_int_equal(gw_parse_duration_ms("1m30s"), 90000);
    assert_int_equal(gw_parse_duration_ms("1.5s"), 1500);
    assert_int_equal(gw_parse_duration_ms("2"), 2000);
    assert_true(gw_parse_duration_ms("soon") < 0);
    assert_true(gw_parse_duration_ms("-1s") < 0);
    assert_true(gw_parse_duration_ms("") < 0);
    struct gw_cidr c;
    struct sockaddr_in in = {.sin_family = AF_INET};
    assert_int_equal(gw_parse_cidr("10.1.0.0/16", &c), 0);
    in.sin_addr.s_addr = htonl(0x0a01ff01);
    assert_true(gw_cidr_match(&c, (struct sockaddr *)&in));
    in.sin_addr.s_addr = htonl(0x0a02ff01);
    assert_false(gw_cidr_match(&c, (struct sockaddr *)&in));
    assert_int_equal(gw_parse_cidr("10.0.0.1/33", &c), -1);
    assert_int_equal(gw_parse_cidr("nope", &c), -1);
    assert_int_equal(gw_parse_cidr("::1", &c), 0);
    assert_int_equal(c.bits, 128);
}

int
main(void)
{
    bsn_log_set_level(BSN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingress_precedence),
        cmocka_unit_test(test_httproute_precedence),
        cmocka_unit_test(test_ingress_classes),
        cmocka_unit_test(test_backends_from_endpointslices),
        cmocka_unit_test(test_invalid_input_warns),
        cmocka_unit_test(test_policy_attachment_and_filters),
        cmocka_unit_test(test_httproute_filters_and_weights),
        cmocka_unit_test(test_objects_from_watch_events),
        cmocka_unit_test(test_value_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
