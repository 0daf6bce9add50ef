/*
 * test_api_cache.c - the object cache's memory-saving paths give exactly what the plain ones
 * give: resourceVersion spliced into the stored bytes, shared label sets, the published tree
 * handed to watchers only during the fan-out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/cache.h"
#include "api/internal.h"

/* bsn_obj_new_json on the resourceVersion-less serialization == bsn_obj_new. */
static void
check_same(const char *doc)
{
    json_t *a = json_loads(doc, 0, NULL);
    json_t *b = json_loads(doc, 0, NULL);
    assert_non_null(a);
    char *norv = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    struct bsn_obj *plain = bsn_obj_new("core/pods/ns/x", a, 1234, 7);
    struct bsn_obj *spliced = bsn_obj_new_json("core/pods/ns/x", b, norv, strlen(norv), 1234, 7);
    assert_int_equal(plain->len, spliced->len);
    assert_string_equal(plain->json, spliced->json);
    assert_string_equal(plain->ns, spliced->ns);
    assert_string_equal(plain->name, spliced->name);
    assert_string_equal(plain->rkey, "core/pods");
    assert_string_equal(spliced->rkey, "core/pods");
    assert_int_equal(spliced->create_rev, 7);
    /* the tree got its resourceVersion too */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "metadata"), "resourceVersion")),
        "1234");
    free(norv);
    bsn_obj_unref(plain);
    bsn_obj_unref(spliced);
    json_decref(a);
    json_decref(b);
}

static void
test_splice_matches_dump(void **state)
{
    (void)state;
    check_same("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\","
               "\"namespace\":\"ns\",\"uid\":\"u1\"},\"spec\":{}}");
    /* metadata not first, strings with braces, quotes, escapes and a fake "metadata" key */
    check_same("{\"a\":\"}{\\\"metadata\\\":{\",\"b\":[1,{\"metadata\":{\"x\":1}},\"]\"],"
               "\"metadata\":{\"name\":\"x\",\"labels\":{\"k\":\"v}\\\\\"}},\"z\":null}");
    /* empty metadata, metadata last */
    check_same("{\"kind\":\"ConfigMap\",\"data\":{\"k\":\"v\"},\"metadata\":{}}");
    /* no metadata at all: bsn_obj_new adds one, the splice falls back */
    check_same("{\"kind\":\"ConfigMap\",\"n\":1.5}");
    /* numbers and literals around */
    check_same("{\"x\":-1e3,\"metadata\":{\"name\":\"x\",\"generation\":3,\"f\":false},"
               "\"y\":true}");
}

static void
test_member(void **state)
{
    (void)state;
    json_t *t = json_loads("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"x\":\"\\\"spec\\\"\"},"
                           "\"spec\":{\"nodeName\":\"n1\",\"c\":[{\"a\":\"}\"}]},"
                           "\"status\":{\"phase\":\"Running\"}}",
                           0, NULL);
    assert_non_null(t);
    struct bsn_obj *o = bsn_obj_new("core/pods/ns/p", t, 9, 9);
    json_t *spec = bsn_obj_member(o, "spec");
    assert_true(json_equal(spec, json_object_get(t, "spec")));
    json_t *st = bsn_obj_member(o, "status");
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Running");
    assert_null(bsn_obj_member(o, "nope"));
    assert_null(bsn_obj_member(o, "spe"));
    json_decref(spec);
    json_decref(st);
    bsn_obj_unref(o);
    json_decref(t);
}

/* Pod field selectors parse only the member they read; the answers are the full tree's. */
static bool
pod_matches(struct bsn_obj *o, const char *sel)
{
    const struct bsn_resource *res = bsn_registry_find("", "v1", "pods");
    assert_non_null(res);
    struct bsn_err err;
    bsn_err_clear(&err);
    struct api_filter *f = api_filter_new(res, NULL, NULL, sel, &err);
    if (!f)
        fail_msg("%s: %s", sel, err.msg);
    bool m = api_filter_match(f, o);
    api_filter_free(f);
    return m;
}

static void
test_pod_field_selectors(void **state)
{
    (void)state;
    json_t *t = json_loads("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},"
                           "\"spec\":{\"nodeName\":\"n1\",\"restartPolicy\":\"Always\"},"
                           "\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.0.0.9\"}]}}",
                           0, NULL);
    struct bsn_obj *o = bsn_obj_new("core/pods/d/p", t, 3, 3);
    assert_true(pod_matches(o, "spec.nodeName=n1"));
    assert_false(pod_matches(o, "spec.nodeName="));
    assert_true(pod_matches(o, "spec.nodeName!=n2,status.phase=Running"));
    assert_false(pod_matches(o, "status.phase=Running,spec.restartPolicy=Never"));
    assert_true(pod_matches(o, "status.podIP=10.0.0.9,metadata.name=p"));
    assert_true(pod_matches(o, "spec.schedulerName="));
    bsn_obj_unref(o);
    json_decref(t);
    /* an unbound pod: no nodeName at all */
    t = json_loads("{\"metadata\":{\"name\":\"q\"},\"spec\":{}}", 0, NULL);
    o = bsn_obj_new("core/pods/d/q", t, 4, 4);
    assert_true(pod_matches(o, "spec.nodeName="));
    assert_false(pod_matches(o, "status.phase=Running"));
    bsn_obj_unref(o);
    json_decref(t);
}

static void
test_label_sets_shared(void **state)
{
    (void)state;
    struct bsn_cache c;
    bsn_cache_init(&c, 16);
    json_t *t1 = json_loads(
        "{\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"w\",\"h\":\"1\"}}}", 0, NULL);
    json_t *t2 = json_loads(
        "{\"metadata\":{\"name\":\"b\",\"labels\":{\"h\":\"1\",\"app\":\"w\"}}}", 0, NULL);
    json_t *t3 =
        json_loads("{\"metadata\":{\"name\":\"c\",\"labels\":{\"app\":\"other\"}}}", 0, NULL);
    struct bsn_obj *a = bsn_obj_new("core/pods/ns/a", t1, 1, 1);
    struct bsn_obj *b = bsn_obj_new("core/pods/ns/b", t2, 2, 2);
    struct bsn_obj *o = bsn_obj_new("core/pods/ns/c", t3, 3, 3);
    assert_ptr_equal(a->labels, b->labels); /* equal sets, whatever the member order */
    assert_ptr_not_equal(a->labels, o->labels);
    assert_string_equal(json_string_value(json_object_get(o->labels, "app")), "other");
    /* the shared set is not the tree's own object: editing the tree changes nothing */
    json_object_set_new(json_object_get(json_object_get(t1, "metadata"), "labels"), "app",
                        json_string("changed"));
    assert_string_equal(json_string_value(json_object_get(b->labels, "app")), "w");
    bsn_cache_load(&c, a);
    bsn_cache_load(&c, b);
    bsn_cache_load(&c, o);
    bsn_obj_unref(a);
    bsn_obj_unref(b);
    bsn_obj_unref(o);
    json_decref(t1);
    json_decref(t2);
    json_decref(t3);
    bsn_cache_fini(&c);
}

struct seen {
    int calls;
    json_t *tree;
    bool line_ok;
};

static void
on_event(struct bsn_watcher *w, struct bsn_event *e)
{
    struct seen *s = w->data;
    s->calls++;
    s->tree = e->tree;
    size_t len;
    const char *line = bsn_event_line(e, &len);
    s->line_ok = len > 0 && line[len - 1] == '\n' && strstr(line, "\"type\":\"ADDED\"") != NULL;
}

static void
test_tree_only_during_fanout(void **state)
{
    (void)state;
    struct bsn_cache c;
    bsn_cache_init(&c, 16);
    struct seen s = {0};
    struct bsn_watcher w = {.rkey = "core/configmaps", .fn = on_event, .data = &s};
    bsn_cache_watch(&c, &w);
    json_t *t = json_loads("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}}", 0, NULL);
    struct bsn_obj *o = bsn_obj_new("core/configmaps/n/a", t, 5, 5);
    bsn_cache_publish_tree(&c, o->key, o, NULL, 5, t);
    assert_int_equal(s.calls, 1);
    assert_ptr_equal(s.tree, t);
    assert_true(s.line_ok);
    /* after the fan-out the ring keeps neither the tree nor a second copy of the object */
    struct bsn_event *e = c.ring[(c.ring_head + c.ring_len - 1) % c.ring_cap];
    assert_null(e->tree);
    assert_null(e->line);
    /* a replay has no tree: readers fall back to the wire line */
    s = (struct seen){0};
    assert_int_equal(bsn_cache_replay(&c, "core/configmaps", 0, &w), 0);
    assert_int_equal(s.calls, 1);
    assert_null(s.tree);
    assert_true(s.line_ok);
    bsn_cache_unwatch(&c, &w);
    bsn_obj_unref(o);
    json_decref(t);
    bsn_cache_fini(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splice_matches_dump),     cmocka_unit_test(test_member),
        cmocka_unit_test(test_pod_field_selectors),     cmocka_unit_test(test_label_sets_shared),
        cmocka_unit_test(test_tree_only_during_fanout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
