/*
 * test_api_server.c - unit tests for the API server core: the object cache and its watch
 * window, and the whole request path through the in-process client against a server on a
 * memory store (create, get, conflict, selectors, watch, group commit, errors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/apiserver.h"
#include "api/cache.h"
#include "api/client.h"
#include "loop/loop.h"
#include "store/store.h"
#include "api_fixture.h"

static struct bsn_obj *
mkobj(const char *ns, const char *name, const char *label, int64_t rev)
{
    json_t *t = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}}}", "apiVersion", "v1", "kind", "ConfigMap",
                          "metadata", "name", name, "namespace", ns, "labels", "app", label);
    char key[256];
    snprintf(key, sizeof(key), "core/configmaps/%s/%s", ns, name);
    struct bsn_obj *o = bsn_obj_new(key, t, rev, rev);
    json_decref(t);
    return o;
}

static int events_seen;
static char last_type[16];

static void
count_event(struct bsn_watcher *w, struct bsn_event *e)
{
    events_seen++;
    snprintf(last_type, sizeof(last_type), "%s", bsn_event_type_name(e->type));
}

static void
test_cache_publish_list_replay(void **state)
{
    struct bsn_cache c;
    bsn_cache_init(&c, 4);
    struct bsn_watcher w = {.rkey = "core/configmaps", .fn = count_event};
    bsn_cache_watch(&c, &w);
    events_seen = 0;
    struct bsn_obj *a = mkobj("b", "x", "one", 1), *b = mkobj("a", "y", "two", 2);
    bsn_cache_publish(&c, a->key, a, NULL, 1);
    bsn_cache_publish(&c, b->key, b, NULL, 2);
    assert_int_equal(events_seen, 2);
    assert_string_equal(last_type, "ADDED");
    size_t n;
    struct bsn_obj **all = bsn_cache_list(&c, "core/configmaps", NULL, &n);
    assert_int_equal(n, 2);
    assert_string_equal(all[0]->ns, "a"); /* sorted by key */
    for (size_t i = 0; i < n; i++)
        bsn_obj_unref(all[i]);
    free(all);
    struct bsn_obj **inb = bsn_cache_list(&c, "core/configmaps", "b", &n);
    assert_int_equal(n, 1);
    bsn_obj_unref(inb[0]);
    free(inb);
    /* the stored JSON carries the resourceVersion */
    assert_non_null(strstr(b->json, "\"resourceVersion\":\"2\""));

    struct bsn_obj *a2 = mkobj("b", "x", "changed", 3);
    bsn_cache_publish(&c, a2->key, a2, NULL, 3);
    assert_string_equal(last_type, "MODIFIED");
    bsn_cache_publish(&c, a2->key, NULL, a2, 4);
    assert_string_equal(last_type, "DELETED");
    assert_null(bsn_cache_get(&c, a2->key));

    /* replay from rev 2 sees 3 and 4; the window holds 4 events */
    events_seen = 0;
    assert_int_equal(bsn_cache_replay(&c, "core/configmaps", 2, &w), 0);
    assert_int_equal(events_seen, 2);
    struct bsn_obj *d = mkobj("a", "z", "x", 5);
    bsn_cache_publish(&c, d->key, d, NULL, 5); /* rev 1 falls out of the window */
    assert_int_equal(bsn_cache_replay(&c, "core/configmaps", 0, &w), -1);
    assert_int_equal(bsn_cache_replay(&c, "core/configmaps", 1, &w), 0);
    bsn_cache_unwatch(&c, &w);
    bsn_obj_unref(a);
    bsn_obj_unref(b);
    bsn_obj_unref(a2);
    bsn_obj_unref(d);
    bsn_cache_fini(&c);
}

/* ---- the request path through the in-process client ---- */

struct answer {
    int status;
    json_t *body;
    int done;
};

static void
on_done(int status, const char *body, size_t len, void *data)
{
    struct answer *a = data;
    a->status = status;
    a->body = json_loadb(body, len, 0, NULL);
    a->done++;
}

static int
setup_server(void **state)
{
    struct fixture *f = fixture_new(NULL);
    assert_non_null(f->api);
    f->cl = bsn_client_new_local(f->api);
    *state = f;
    return 0;
}

static int
teardown_server(void **state)
{
    fixture_free(*state);
    return 0;
}

static void
wait_done(struct fixture *f, struct answer *a)
{
    for (int i = 0; i < 1000 && !a->done; i++)
        bsn_loop_run_once(f->loop, 10);
    assert_int_equal(a->done, 1);
}

static void
request(struct fixture *f, const char *method, const char *path, const char *body, struct answer *a)
{
    json_decref(a->body);
    memset(a, 0, sizeof(*a));
    bsn_client_request(f->cl, method, path, NULL, body, body ? strlen(body) : 0, on_done, a);
    wait_done(f, a);
}

static void
test_create_get_conflict(void **state)
{
    struct fixture *f = *state;
    struct answer a = {0};
    request(f, "POST", "/api/v1/namespaces/default/configmaps",
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\","
            "\"labels\":{\"app\":\"x\"}},\"data\":{\"k\":\"v\"}}",
            &a);
    assert_int_equal(a.status, 201);
    const char *rv =
        json_string_value(json_object_get(json_object_get(a.body, "metadata"), "resourceVersion"));
    assert_non_null(rv);
    char rv1[32];
    snprintf(rv1, sizeof(rv1), "%s", rv);
    assert_non_null(json_object_get(json_object_get(a.body, "metadata"), "uid"));

    request(f, "GET", "/api/v1/namespaces/default/configmaps/c1", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a.body, "data"), "k")),
                        "v");

    /* a second create of the same name */
    request(f, "POST", "/api/v1/namespaces/default/configmaps",
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\"}}", &a);
    assert_int_equal(a.status, 409);
    assert_string_equal(json_string_value(json_object_get(a.body, "reason")), "AlreadyExists");

    /* update with the current resourceVersion works, then the old one conflicts */
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\","
             "\"resourceVersion\":\"%s\"},\"data\":{\"k\":\"v2\"}}",
             rv1);
    request(f, "PUT", "/api/v1/namespaces/default/configmaps/c1", body, &a);
    assert_int_equal(a.status, 200);
    request(f, "PUT", "/api/v1/namespaces/default/configmaps/c1", body, &a);
    assert_int_equal(a.status, 409);
    assert_string_equal(json_string_value(json_object_get(a.body, "reason")), "Conflict");

    /* selectors */
    request(f, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dy", NULL, &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 0);
    request(f, "GET", "/api/v1/configmaps?fieldSelector=metadata.name%3Dc1", NULL, &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 1);

    /* errors */
    request(f, "GET", "/api/v1/namespaces/default/configmaps/nope", NULL, &a);
    assert_int_equal(a.status, 404);
    request(f, "POST", "/api/v1/namespaces/default/configmaps", "{not json", &a);
    assert_int_equal(a.status, 400);
    request(f, "GET", "/apis/nosuch.group/v1/things", NULL, &a);
    assert_int_equal(a.status, 404);
    json_decref(a.body);
}

static int watch_events;
static char watch_last[32];

static void
on_watch(const char *type, json_t *obj, void *data)
{
    watch_events++;
    snprintf(watch_last, sizeof(watch_last), "%s", type);
}

static void
test_watch_and_group_commit(void **state)
{
    struct fixture *f = *state;
    watch_events = 0;
    struct bsn_client_watch *w =
        bsn_client_watch(f->cl, "/api/v1/namespaces/default/configmaps", on_watch, NULL, NULL);
    /* several writes issued in one loop iteration commit together and all answer */
    struct answer a[5];
    memset(a, 0, sizeof(a));
    for (int i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"g%d\"}}",
                 i);
        bsn_client_request(f->cl, "POST", "/api/v1/namespaces/default/configmaps", NULL, body,
                           strlen(body), on_done, &a[i]);
    }
    for (int i = 0; i < 5; i++) {
        wait_done(f, &a[i]);
        assert_int_equal(a[i].status, 201);
        json_decref(a[i].body);
    }
    for (int i = 0; i < 200 && watch_events < 5; i++)
        bsn_loop_run_once(f->loop, 10);
    assert_int_equal(watch_events, 5);
    assert_string_equal(watch_last, "ADDED");
    struct answer d = {0};
    request(f, "DELETE", "/api/v1/namespaces/default/configmaps/g0", NULL, &d);
    assert_int_equal(d.status, 200);
    json_decref(d.body);
    for (int i = 0; i < 200 && watch_events < 6; i++)
        bsn_loop_run_once(f->loop, 10);
    assert_string_equal(watch_last, "DELETED");
    bsn_client_watch_stop(w);
}

/* Two patches of one object in the same batch: the second sees the first (still queued) and
 * neither is refused for a resourceVersion nobody could have known. */
static void
test_patches_in_one_batch(void **state)
{
    struct fixture *f = *state;
    struct answer a = {0};
    request(f, "POST", "/api/v1/namespaces/default/configmaps",
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"pp\"}}", &a);
    assert_int_equal(a.status, 201);
    json_decref(a.body);
    struct answer p1 = {0}, p2 = {0};
    const char *b1 = "{\"metadata\":{\"labels\":{\"a\":\"1\"}}}";
    const char *b2 = "{\"data\":{\"k\":\"v\"}}";
    bsn_client_request(f->cl, "PATCH", "/api/v1/namespaces/default/configmaps/pp",
                       "application/merge-patch+json", b1, strlen(b1), on_done, &p1);
    bsn_client_request(f->cl, "PATCH", "/api/v1/namespaces/default/configmaps/pp",
                       "application/merge-patch+json", b2, strlen(b2), on_done, &p2);
    wait_done(f, &p1);
    wait_done(f, &p2);
    assert_int_equal(p1.status, 200);
    assert_int_equal(p2.status, 200);
    json_decref(p1.body);
    json_decref(p2.body);
    memset(&a, 0, sizeof(a));
    request(f, "GET", "/api/v1/namespaces/default/configmaps/pp", NULL, &a);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(a.body, "metadata"), "labels"), "a")),
                        "1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a.body, "data"), "k")),
                        "v");
    json_decref(a.body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_publish_list_replay),
        cmocka_unit_test_setup_teardown(test_create_get_conflict, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_watch_and_group_commit, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_patches_in_one_batch, setup_server, teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
