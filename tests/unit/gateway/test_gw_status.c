/*
 * test_gw_status.c - Gateway and HTTPRoute status (status.c): conditions per parent and per
 * listener, attachedRoutes, unresolved references, other controllers' entries kept, and no
 * update once the status is current (the write settles).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "codec/yaml.h"
#include "gateway/gateway.h"

static const char *YAML =
    "kind: Gateway\nmetadata: {name: gw, namespace: default, generation: 3}\n"
    "spec:\n  gatewayClassName: bosun\n  listeners:\n"
    "  - {name: web, protocol: HTTP, port: 80}\n"
    "  - {name: tls, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: nocert}]}}\n"
    "  - {name: raw, protocol: TCP, port: 9000}\n---\n"
    "kind: Gateway\nmetadata: {name: other, namespace: default}\n"
    "spec: {gatewayClassName: istio, listeners: [{name: l, protocol: HTTP, port: 80}]}\n---\n"
    "kind: Service\nmetadata: {name: a, namespace: default}\nspec: {ports: [{port: 80}]}\n---\n"
    "kind: HTTPRoute\nmetadata: {name: good, namespace: default, generation: 2}\nspec:\n"
    "  parentRefs: [{name: gw}, {name: other}]\n  rules: [{backendRefs: [{name: a, port: 80}]}]\n"
    "status:\n  parents:\n  - parentRef: {name: other}\n    controllerName: istio.io/x\n"
    "    conditions: [{type: Accepted, status: 'True', reason: Accepted, message: x, "
    "lastTransitionTime: '2020-01-01T00:00:00Z'}]\n---\n"
    "kind: HTTPRoute\nmetadata: {name: bad, namespace: default}\nspec:\n"
    "  parentRefs: [{name: gw, sectionName: nosuch}, {name: gw, sectionName: web}]\n"
    "  rules: [{backendRefs: [{name: missing, port: 80}]}]\n";

static const json_t *
update_for(const json_t *ups, const char *suffix)
{
    size_t i;
    json_t *u;
    json_array_foreach(ups, i, u)
    {
        const char *p = json_string_value(json_object_get(u, "path"));
        if (strlen(p) >= strlen(suffix) && !strcmp(p + strlen(p) - strlen(suffix), suffix))
            return json_object_get(json_object_get(u, "body"), "status");
    }
    return NULL;
}

static const json_t *
condition(const json_t *conds, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "type")), type))
            return c;
    }
    fail_msg("no condition %s", type);
    return NULL;
}

static void
assert_cond(const json_t *conds, const char *type, const char *status, const char *reason)
{
    const json_t *c = condition(conds, type);
    assert_string_equal(json_string_value(json_object_get(c, "status")), status);
    assert_string_equal(json_string_value(json_object_get(c, "reason")), reason);
}

static void
test_status(void **state)
{
    struct bsn_err err = {0};
    json_t *objs = bsn_yaml_parse(YAML, strlen(YAML), &err);
    assert_non_null(objs);
    json_t *ups = bsn_gw_status_updates(objs, "10.0.0.9");
    assert_int_equal(json_array_size(ups), 3); /* gw, good, bad; never the istio Gateway */
    assert_null(update_for(ups, "/gateways/other/status"));

    const json_t *good = update_for(ups, "/namespaces/default/httproutes/good/status");
    assert_non_null(good);
    const json_t *parents = json_object_get(good, "parents");
    assert_int_equal(json_array_size(parents), 2); /* istio's entry kept, ours added */
    const json_t *ours = json_array_get(parents, 1);
    assert_string_equal(json_string_value(json_object_get(ours, "controllerName")),
                        "gateway.bosun.dev/controller");
    assert_cond(json_object_get(ours, "conditions"), "Accepted", "True", "Accepted");
    assert_cond(json_object_get(ours, "conditions"), "ResolvedRefs", "True", "ResolvedRefs");
    assert_int_equal(
        json_integer_value(json_object_get(
            condition(json_object_get(ours, "conditions"), "Accepted"), "observedGeneration")),
        2);

    const json_t *bad = update_for(ups, "/httproutes/bad/status");
    parents = json_object_get(bad, "parents");
    assert_int_equal(json_array_size(parents), 2);
    assert_cond(json_object_get(json_array_get(parents, 0), "conditions"), "Accepted", "False",
                "NoMatchingParent");
    assert_cond(json_object_get(json_array_get(parents, 1), "conditions"), "Accepted", "True",
                "Accepted");
    assert_cond(json_object_get(json_array_get(parents, 1), "conditions"), "ResolvedRefs", "False",
                "BackendNotFound");

    const json_t *gw = update_for(ups, "/gateways/gw/status");
    assert_non_null(gw);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(gw, "addresses"), 0), "value")),
                        "10.0.0.9");
    assert_cond(json_object_get(gw, "conditions"), "Accepted", "True", "Accepted");
    assert_cond(json_object_get(gw, "conditions"), "Programmed", "True", "Programmed");
    const json_t *ls = json_object_get(gw, "listeners");
    assert_int_equal(json_array_size(ls), 3);
    /* web: "good" (all listeners) and "bad" (sectionName web); tls: only "good" */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ls, 0), "attachedRoutes")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ls, 1), "attachedRoutes")),
                     1);
    assert_cond(json_object_get(json_array_get(ls, 0), "conditions"), "Programmed", "True",
                "Programmed");
    assert_cond(json_object_get(json_array_get(ls, 1), "conditions"), "ResolvedRefs", "False",
                "InvalidCertificateRef");
    assert_cond(json_object_get(json_array_get(ls, 2), "conditions"), "Accepted", "False",
                "UnsupportedProtocol");

    /* write the statuses back: the next round has nothing to do */
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *name =
            json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
        char suffix[128];
        snprintf(suffix, sizeof(suffix), "/%s/%s/status",
                 !strcmp(kind, "Gateway") ? "gateways" : "httproutes", name);
        const json_t *st = update_for(ups, suffix);
        if (st && (!strcmp(kind, "Gateway") || !strcmp(kind, "HTTPRoute")))
            json_object_set(o, "status", (json_t *)st);
    }
    json_t *again = bsn_gw_status_updates(objs, "10.0.0.9");
    assert_int_equal(json_array_size(again), 0);
    json_decref(again);
    json_decref(ups);
    json_decref(objs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
