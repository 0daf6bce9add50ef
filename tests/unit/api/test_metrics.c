/*
 * test_metrics.c - the resource metrics API (metrics.k8s.io/v1beta1) through the in-process
 * client: node samples in, NodeMetrics/PodMetrics out with labels, selectors, 404s and
 * validation; the PVC DefaultStorageClass admission.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/apiserver.h"
#include "api/client.h"
#include "base/time.h"
#include "codec/json.h"
#include "loop/loop.h"
#include "store/store.h"
#include "api_fixture.h"

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

static void
request(struct fixture *f, const char *method, const char *path, const char *body, struct answer *a)
{
    json_decref(a->body);
    memset(a, 0, sizeof(*a));
    bsn_client_request(f->cl, method, path, NULL, body, body ? strlen(body) : 0, on_done, a);
    for (int i = 0; i < 1000 && !a->done; i++)
        bsn_loop_run_once(f->loop, 10);
    assert_int_equal(a->done, 1);
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

static const char *
str(const json_t *j, const char *path)
{
    return bsn_json_str(j, path) ?: "";
}

static void
test_metrics(void **state)
{
    struct fixture *f = *state;
    struct answer a = {0};
    request(f, "POST", "/api/v1/nodes",
            "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"labels\":"
            "{\"zone\":\"a\"}}}",
            &a);
    assert_int_equal(a.status, 201);
    for (int i = 0; i < 3; i++) {
        char body[300];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%d\","
                 "\"labels\":{\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                 "\"image\":\"x\"}]}}",
                 i, i < 2 ? "web" : "db");
        request(f, "POST", "/api/v1/namespaces/default/pods", body, &a);
        assert_int_equal(a.status, 201);
    }
    /* p9 does not exist: its sample is not served */
    const char *sample =
        "{\"timestamp\":\"2026-01-01T00:00:00Z\",\"window\":\"15s\",\"node\":{\"cpu\":"
        "\"300000000n\",\"memory\":\"2048Ki\"},\"pods\":["
        "{\"namespace\":\"default\",\"name\":\"p0\",\"containers\":[{\"name\":\"c\",\"cpu\":"
        "\"100000000n\",\"memory\":\"1024Ki\"}]},"
        "{\"namespace\":\"default\",\"name\":\"p1\",\"containers\":[{\"name\":\"c\",\"cpu\":"
        "\"200000000n\",\"memory\":\"1024Ki\"}]},"
        "{\"namespace\":\"default\",\"name\":\"p2\",\"containers\":[{\"name\":\"c\",\"cpu\":"
        "\"0\",\"memory\":\"0\"}]},"
        "{\"namespace\":\"default\",\"name\":\"p9\",\"containers\":[]}]}";
    request(f, "PUT", "/apis/bosun.dev/v1/nodemetrics/n1", sample, &a);
    assert_int_equal(a.status, 200);

    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "kind"), "NodeMetricsList");
    json_t *n1 = json_array_get(json_object_get(a.body, "items"), 0);
    assert_string_equal(str(n1, "metadata.name"), "n1");
    assert_string_equal(str(n1, "metadata.labels.zone"), "a");
    assert_string_equal(str(n1, "usage.cpu"), "300000000n");
    assert_string_equal(str(n1, "window"), "15s");

    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db", NULL, &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 0);

    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", NULL, &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 3);

    request(f, "GET",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb", NULL,
            &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 2);

    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/pods", NULL, &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 3);

    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/other/pods", NULL, &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 0);

    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/p1", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(str(a.body, "kind"), "PodMetrics");
    json_t *c = json_array_get(json_object_get(a.body, "containers"), 0);
    assert_string_equal(str(c, "usage.cpu"), "200000000n");
    assert_string_equal(str(c, "usage.memory"), "1024Ki");

    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/p9", NULL, &a);
    assert_int_equal(a.status, 404);
    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/nodes/nope", NULL, &a);
    assert_int_equal(a.status, 404);
    request(f, "DELETE", "/apis/metrics.k8s.io/v1beta1/nodes/n1", NULL, &a);
    assert_int_equal(a.status, 405);

    /* validation */
    request(f, "PUT", "/apis/bosun.dev/v1/nodemetrics/n1", "{\"timestamp\":\"x\"}", &a);
    assert_int_equal(a.status, 400);
    request(f, "PUT", "/apis/bosun.dev/v1/nodemetrics/n1",
            "{\"timestamp\":\"2026-01-01T00:00:00Z\",\"node\":{\"cpu\":\"1n\",\"memory\":\"1\"},"
            "\"pods\":[{\"namespace\":\"default\",\"name\":\"p0\",\"containers\":[{\"name\":"
            "\"c\",\"cpu\":\"bad\",\"memory\":\"1\"}]}]}",
            &a);
    assert_int_equal(a.status, 400);
    request(f, "PUT", "/apis/bosun.dev/v1/nodemetrics/n1", "[]", &a);
    assert_int_equal(a.status, 400);

    /* discovery lists the group with get and list */
    request(f, "GET", "/apis/metrics.k8s.io/v1beta1", NULL, &a);
    assert_int_equal(a.status, 200);
    json_t *r0 = json_array_get(json_object_get(a.body, "resources"), 0);
    assert_string_equal(str(r0, "kind"), "NodeMetrics");
    assert_int_equal(json_array_size(json_object_get(r0, "verbs")), 2);

    /* a node's sample can be removed */
    request(f, "DELETE", "/apis/bosun.dev/v1/nodemetrics/n1", NULL, &a);
    assert_int_equal(a.status, 200);
    request(f, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", NULL, &a);
    assert_int_equal(json_array_size(json_object_get(a.body, "items")), 0);
    json_decref(a.body);
}

static void
test_default_storage_class(void **state)
{
    struct fixture *f = *state;
    struct answer a = {0};
    const char *claim = "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":"
                        "{\"name\":\"%s\"},\"spec\":{%s\"accessModes\":[\"ReadWriteOnce\"],"
                        "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}";
    char body[400];
    snprintf(body, sizeof(body), claim, "c1", "");
    request(f, "POST", "/api/v1/namespaces/default/persistentvolumeclaims", body, &a);
    assert_int_equal(a.status, 201);
    assert_string_equal(str(a.body, "spec.storageClassName"), "local-path");
    /* an explicit "" stays: no dynamic provisioning */
    snprintf(body, sizeof(body), claim, "c2", "\"storageClassName\":\"\",");
    request(f, "POST", "/api/v1/namespaces/default/persistentvolumeclaims", body, &a);
    assert_int_equal(a.status, 201);
    assert_string_equal(str(a.body, "spec.storageClassName"), "");
    /* no default class any more: nothing is set */
    request(f, "DELETE", "/apis/storage.k8s.io/v1/storageclasses/local-path", NULL, &a);
    assert_int_equal(a.status, 200);
    snprintf(body, sizeof(body), claim, "c3", "");
    request(f, "POST", "/api/v1/namespaces/default/persistentvolumeclaims", body, &a);
    assert_int_equal(a.status, 201);
    assert_null(bsn_json_path(a.body, "spec.storageClassName"));
    json_decref(a.body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_default_storage_class, setup_server, teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
