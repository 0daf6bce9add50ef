/*
 * test_client_remote.c - the remote transport of the API client: the watch stream parser
 * (chunking, ERROR events, junk lines, the line cap, stopping from a callback), and requests and
 * watches over HTTP against a real API server on a memory store (the same server the in-process
 * client talks to), including the request queue bound and a server that is not there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/apiserver.h"
#include "api/client.h"
#include "loop/loop.h"
#include "store/store.h"
#include "api_fixture.h"

/* ---------------------------------------------------------------- the parser */

struct seen {
    int n;
    char types[16][16];
    char names[16][64];
    int stop_after; /* return -1 after this many events (0 = never) */
};

static int
collect(const char *type, json_t *obj, void *data)
{
    struct seen *s = data;
    if (s->n < 16) {
        snprintf(s->types[s->n], sizeof(s->types[0]), "%s", type);
        const char *name =
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name ? name : "");
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? -1 : 0;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\r\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\n";

static void
test_parser_any_chunking(void **state)
{
    /* the same events whatever the chunk size, down to one byte at a time */
    for (size_t chunk = 1; chunk <= sizeof(stream); chunk++) {
        struct bsn_watch_parser p;
        bsn_watch_parser_init(&p, 1024);
        struct seen s = {0};
        for (size_t off = 0; off < sizeof(stream) - 1; off += chunk) {
            size_t n = sizeof(stream) - 1 - off < chunk ? sizeof(stream) - 1 - off : chunk;
            assert_int_equal(bsn_watch_parser_feed(&p, stream + off, n, collect, &s), 0);
        }
        assert_int_equal(s.n, 4);
        assert_string_equal(s.types[0], "ADDED");
        assert_string_equal(s.names[0], "a");
        assert_string_equal(s.types[1], "MODIFIED");
        assert_string_equal(s.names[1], "b");
        assert_string_equal(s.types[2], "BOOKMARK");
        assert_string_equal(s.types[3], "DELETED");
        assert_string_equal(s.names[3], "c");
        assert_int_equal(p.error_code, 0);
        bsn_watch_parser_fini(&p);
    }
}

static void
test_parser_error_and_junk(void **state)
{
    struct bsn_watch_parser p;
    bsn_watch_parser_init(&p, 1024);
    struct seen s = {0};
    const char *in =
        "not json\n"
        "{\"type\":\"ADDED\"}\n"              /* no object */
        "{\"object\":{}}\n"                   /* no type */
        "[1,2,3]\n"                           /* not an object */
        "{\"type\":\"ADDED\",\"object\":7}\n" /* object not an object */
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}\n"
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}"; /* partial */
    assert_int_equal(bsn_watch_parser_feed(&p, in, strlen(in), collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.types[0], "ERROR");
    assert_int_equal(p.error_code, 410);
    assert_int_equal(p.skipped, 5);
    /* the partial line completes with the next chunk */
    assert_int_equal(bsn_watch_parser_feed(&p, "\n", 1, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.names[1], "x");
    /* an ERROR without a sensible code still marks the stream failed */
    const char *bad = "{\"type\":\"ERROR\",\"object\":{\"code\":99999}}\n";
    assert_int_equal(bsn_watch_parser_feed(&p, bad, strlen(bad), collect, &s), 0);
    assert_int_equal(p.error_code, 500);
    bsn_watch_parser_fini(&p);
}

static void
test_parser_line_cap(void **state)
{
    struct bsn_watch_parser p;
    bsn_watch_parser_init(&p, 64);
    struct seen s = {0};
    char big[200];
    memset(big, 'x', sizeof(big));
    /* a line over the cap fails even when it arrives in small pieces without a newline */
    assert_int_equal(bsn_watch_parser_feed(&p, big, 40, collect, &s), 0);
    assert_int_equal(bsn_watch_parser_feed(&p, big, 40, collect, &s), -2);
    assert_true(p.failed);
    /* and the parser stays failed */
    assert_int_equal(bsn_watch_parser_feed(&p, "{}\n", 3, collect, &s), -2);
    assert_int_equal(s.n, 0);
    assert_true(p.cap <= 64); /* never more than the cap */
    bsn_watch_parser_fini(&p);

    /* exactly at the cap is fine */
    bsn_watch_parser_init(&p, 64);
    char line[80];
    int n = snprintf(line, sizeof(line), "{\"type\":\"ADDED\",\"object\":{\"k\":\"%s\"}}\n",
                     "012345678901234567890123456789");
    assert_int_equal(n - 1, 64);
    assert_int_equal(bsn_watch_parser_feed(&p, line, (size_t)n, collect, &s), 0);
    assert_int_equal(s.n, 1);
    bsn_watch_parser_fini(&p);
}

static void
test_parser_stop(void **state)
{
    struct bsn_watch_parser p;
    bsn_watch_parser_init(&p, 1024);
    struct seen s = {.stop_after = 2};
    assert_int_equal(bsn_watch_parser_feed(&p, stream, sizeof(stream) - 1, collect, &s), -1);
    assert_int_equal(s.n, 2);
    bsn_watch_parser_fini(&p);
}

/* ---------------------------------------------------------------- against a real server */

static int
setup_server(void **state)
{
    struct fixture *f = fixture_new("s3cret");
    assert_non_null(f->api);
    struct bsn_err err;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", bsn_apiserver_port(f->api));
    f->cl = bsn_client_new_remote(f->loop, url, "s3cret", NULL, &err);
    assert_non_null(f->cl);
    *state = f;
    return 0;
}

static int
teardown_server(void **state)
{
    fixture_free(*state);
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
    a->status = status;
    a->body = json_loadb(body, len, 0, NULL);
    a->done++;
}

static void
run_until(struct fixture *f, const int *flag, int want)
{
    for (int i = 0; i < 500 && *flag < want; i++)
        bsn_loop_run_once(f->loop, 10);
    assert_true(*flag >= want);
}

static void
test_remote_request_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct answer a = {0};
    const char *cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                     "\"one\"},\"data\":{\"k\":\"v\"}}";
    bsn_client_request(f->cl, "POST", "/api/v1/namespaces/default/configmaps", NULL, cm, strlen(cm),
                       on_done, &a);
    assert_int_equal(a.done, 0); /* never from inside the call */
    run_until(f, &a.done, 1);
    assert_int_equal(a.status, 201);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a.body, "data"), "k")),
                        "v");
    json_decref(a.body);
    /* a second create conflicts: the server's Status comes back as is */
    memset(&a, 0, sizeof(a));
    bsn_client_request(f->cl, "POST", "/api/v1/namespaces/default/configmaps", NULL, cm, strlen(cm),
                       on_done, &a);
    run_until(f, &a.done, 1);
    assert_int_equal(a.status, 409);
    assert_string_equal(json_string_value(json_object_get(a.body, "reason")), "AlreadyExists");
    json_decref(a.body);
}

static void
test_remote_many_requests_in_order(void **state)
{
    /* more requests than may be in flight: all complete, the queue drains */
    struct fixture *f = *state;
    enum { N = BSN_CLIENT_REMOTE_MAX_INFLIGHT * 3 };
    struct answer a[N];
    memset(a, 0, sizeof(a));
    int total = 0;
    for (int i = 0; i < N; i++) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c%d\"}}",
                 i);
        bsn_client_request(f->cl, "POST", "/api/v1/namespaces/default/configmaps", NULL, body,
                           strlen(body), on_done, &a[i]);
    }
    for (int i = 0; i < 1000 && total < N; i++) {
        bsn_loop_run_once(f->loop, 10);
        total = 0;
        for (int j = 0; j < N; j++)
            total += a[j].done;
    }
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(a[i].status, 201);
        json_decref(a[i].body);
    }
    struct answer l = {0};
    bsn_client_request(f->cl, "GET", "/api/v1/namespaces/default/configmaps", NULL, NULL, 0,
                       on_done, &l);
    run_until(f, &l.done, 1);
    assert_int_equal(json_array_size(json_object_get(l.body, "items")), N);
    json_decref(l.body);
}

struct wstate {
    int events, closed, closed_status;
    char last_name[64];
    struct bsn_client_watch *w;
    bool stop_in_event;
};

static void
w_event(const char *type, json_t *obj, void *data)
{
    struct wstate *ws = data;
    ws->events++;
    const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    snprintf(ws->last_name, sizeof(ws->last_name), "%s", n ? n : "");
    if (ws->stop_in_event) {
        bsn_client_watch_stop(ws->w);
        ws->w = NULL;
    }
}

static void
w_closed(int status, void *data)
{
    struct wstate *ws = data;
    ws->closed++;
    ws->closed_status = status;
    ws->w = NULL;
}

static void
test_remote_watch(void **state)
{
    struct fixture *f = *state;
    struct wstate ws = {0};
    ws.w = bsn_client_watch(f->cl, "/api/v1/namespaces/default/configmaps?resourceVersion=0",
                            w_event, w_closed, &ws);
    assert_non_null(ws.w);
    struct answer a = {0};
    const char *cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                     "\"watched\"}}";
    bsn_client_request(f->cl, "POST", "/api/v1/namespaces/default/configmaps", NULL, cm, strlen(cm),
                       on_done, &a);
    run_until(f, &ws.events, 1);
    assert_string_equal(ws.last_name, "watched");
    json_decref(a.body);
    /* stopped from inside its own event: no closed callback, nothing leaks */
    ws.stop_in_event = true;
    const char *cm2 = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                      "\"second\"}}";
    memset(&a, 0, sizeof(a));
    bsn_client_request(f->cl, "POST", "/api/v1/namespaces/default/configmaps", NULL, cm2,
                       strlen(cm2), on_done, &a);
    run_until(f, &ws.events, 2);
    run_until(f, &a.done, 1);
    json_decref(a.body);
    for (int i = 0; i < 20; i++)
        bsn_loop_run_once(f->loop, 5);
    assert_int_equal(ws.closed, 0);
    assert_null(ws.w);
}

static void
test_remote_watch_error_answer(void **state)
{
    /* a watch the server refuses (bad selector) closes with the server's status */
    struct fixture *f = *state;
    struct wstate ws = {0};
    ws.w = bsn_client_watch(f->cl, "/api/v1/pods?labelSelector=a%20in%20(", w_event, w_closed, &ws);
    run_until(f, &ws.closed, 1);
    assert_int_equal(ws.closed_status, 400);
    assert_int_equal(ws.events, 0);
}

static void
test_remote_unauthorized_and_unreachable(void **state)
{
    struct fixture *f = *state;
    struct bsn_err err;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", bsn_apiserver_port(f->api));
    struct bsn_client *bad = bsn_client_new_remote(f->loop, url, "wrong", NULL, &err);
    struct answer a = {0};
    bsn_client_request(bad, "GET", "/api/v1/namespaces", NULL, NULL, 0, on_done, &a);
    run_until(f, &a.done, 1);
    assert_int_equal(a.status, 401);
    json_decref(a.body);
    bsn_client_free(bad);

    /* nothing listens there: 503 with a Status, and a watch closes with 503 */
    struct bsn_client *gone =
        bsn_client_new_remote(f->loop, "http://127.0.0.1:1", NULL, NULL, &err);
    memset(&a, 0, sizeof(a));
    bsn_client_request(gone, "GET", "/api/v1/namespaces", NULL, NULL, 0, on_done, &a);
    run_until(f, &a.done, 1);
    assert_int_equal(a.status, 503);
    assert_string_equal(json_string_value(json_object_get(a.body, "reason")), "ServiceUnavailable");
    json_decref(a.body);
    struct wstate ws = {0};
    ws.w = bsn_client_watch(gone, "/api/v1/pods", w_event, w_closed, &ws);
    run_until(f, &ws.closed, 1);
    assert_int_equal(ws.closed_status, 503);
    bsn_client_free(gone);

    /* a bad URL is refused up front */
    bsn_err_clear(&err);
    assert_null(bsn_client_new_remote(f->loop, "ftp://x", NULL, NULL, &err));
    assert_int_equal(err.code, 400);
}

static void
test_remote_free_with_work_pending(void **state)
{
    /* freeing the client with queued requests and an open watch calls nothing back */
    struct fixture *f = *state;
    struct bsn_err err;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", bsn_apiserver_port(f->api));
    struct bsn_client *cl = bsn_client_new_remote(f->loop, url, "s3cret", NULL, &err);
    struct answer a[BSN_CLIENT_REMOTE_MAX_INFLIGHT + 4];
    memset(a, 0, sizeof(a));
    for (size_t i = 0; i < BSN_CLIENT_REMOTE_MAX_INFLIGHT + 4; i++)
        bsn_client_request(cl, "GET", "/api/v1/namespaces", NULL, NULL, 0, on_done, &a[i]);
    struct wstate ws = {0};
    ws.w = bsn_client_watch(cl, "/api/v1/pods", w_event, w_closed, &ws);
    bsn_loop_run_once(f->loop, 0);
    bsn_client_free(cl);
    for (int i = 0; i < 20; i++)
        bsn_loop_run_once(f->loop, 5);
    for (size_t i = 0; i < BSN_CLIENT_REMOTE_MAX_INFLIGHT + 4; i++)
        assert_int_equal(a[i].done, 0);
    assert_int_equal(ws.closed, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_any_chunking),
        cmocka_unit_test(test_parser_error_and_junk),
        cmocka_unit_test(test_parser_line_cap),
        cmocka_unit_test(test_parser_stop),
        cmocka_unit_test_setup_teardown(test_remote_request_roundtrip, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_remote_many_requests_in_order, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_remote_watch, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_remote_watch_error_answer, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_remote_unauthorized_and_unreachable, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_remote_free_with_work_pending, setup_server,
                                        teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
