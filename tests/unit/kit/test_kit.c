/*
 * test_kit.c - the microservice kit: path matching, schema validation, and a real app served
 * on a loop thread and driven over HTTP (params, query, bodies, 404/405, error mapping,
 * request ids, traceparent, metrics, OpenAPI) plus the client's retries and circuit breaker.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/json.h"
#include "http/client.h"
#include "kit/kit.h"

/* ---- pure parts ---- */

static void
test_match(void **state)
{
    (void)state;
    struct bsn_kit_params p;
    assert_true(bsn_kit_match("/pets", "/pets", &p));
    assert_int_equal(p.n, 0);
    assert_true(bsn_kit_match("/pets", "/pets/", &p));
    assert_false(bsn_kit_match("/pets", "/pet", &p));
    assert_false(bsn_kit_match("/pets", "/pets/1", &p));
    assert_true(bsn_kit_match("/pets/{id}", "/pets/42", &p));
    assert_int_equal(p.n, 1);
    assert_string_equal(p.name[0], "id");
    assert_string_equal(p.value[0], "42");
    assert_false(bsn_kit_match("/pets/{id}", "/pets/", &p));
    assert_false(bsn_kit_match("/pets/{id}", "/pets", &p));
    assert_false(bsn_kit_match("/pets/{id}", "/pets/1/x", &p));
    assert_true(bsn_kit_match("/a/{x}/b/{y}", "/a/hello%20w/b/2", &p));
    assert_int_equal(p.n, 2);
    assert_string_equal(p.value[0], "hello w");
    assert_string_equal(p.name[1], "y");
    assert_string_equal(p.value[1], "2");
    assert_false(bsn_kit_match("/a/{x}", "/a/%zz", &p)); /* bad escape */
    assert_true(bsn_kit_match("/", "/", &p));
    assert_false(bsn_kit_match("/", "/x", &p));
}

static const struct bsn_kit_field fields[] = {
    {"name", BSN_KIT_STRING, true, NULL},
    {"age", BSN_KIT_INTEGER, false, NULL},
    {"tags", BSN_KIT_ARRAY, false, NULL},
    {"ok", BSN_KIT_BOOLEAN, true, NULL},
};
static const struct bsn_kit_schema schema = {"Thing", fields, 4, 8};

static int
validate(const char *js, struct bsn_err *err)
{
    json_t *v = json_loads(js, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    int rc = bsn_kit_validate(&schema, v, err);
    json_decref(v);
    return rc;
}

static void
test_validate(void **state)
{
    (void)state;
    struct bsn_err err;
    assert_int_equal(validate("{\"name\":\"a\",\"ok\":true}", &err), 0);
    assert_int_equal(validate("{\"name\":\"a\",\"ok\":false,\"age\":3,\"tags\":[],\"x\":1}", &err),
                     0);
    assert_int_equal(validate("{\"ok\":true}", &err), -1);
    assert_int_equal(err.code, 400);
    assert_string_equal(err.reason, "ValidationError");
    assert_int_equal(err.ncauses, 1);
    assert_string_equal(err.causes[0].field, "name");
    assert_string_equal(err.causes[0].reason, "FieldValueRequired");
    assert_int_equal(validate("{\"name\":1,\"ok\":\"yes\",\"age\":1.5}", &err), -1);
    assert_int_equal(err.ncauses, 3);
    assert_non_null(strstr(err.msg, "age: must be integer"));
    assert_int_equal(validate("{\"name\":\"123456789\",\"ok\":true}", &err), -1); /* > 8 */
    assert_int_equal(validate("[1]", &err), -1);
    assert_int_equal(validate("{\"name\":null,\"ok\":true}", &err), -1);
}

/* ---- a served app ---- */

static atomic_int flaky_left;

static void
h_echo(struct bsn_kit_ctx *ctx, void *data)
{
    (void)data;
    char q[64];
    json_t *o = json_object();
    json_object_set_new(o, "a", json_string(bsn_kit_param(ctx, "a")));
    json_object_set_new(o, "b", json_string(bsn_kit_param(ctx, "b")));
    const char *qv = bsn_kit_query(ctx, "q", q, sizeof(q));
    json_object_set_new(o, "q", qv ? json_string(qv) : json_null());
    json_object_set_new(o, "missing", bsn_kit_param(ctx, "zz") ? json_true() : json_false());
    json_t *body = bsn_kit_body(ctx);
    if (body)
        json_object_set(o, "body", body);
    json_object_set_new(o, "rid", json_string(bsn_kit_request_id(ctx)));
    bsn_kit_json(ctx, 200, o);
}

static void
h_conflict(struct bsn_kit_ctx *ctx, void *data)
{
    (void)data;
    bsn_kit_error(ctx, 409, "PetExists", "pet %s exists", "rex");
}

static void
h_silent(struct bsn_kit_ctx *ctx, void *data)
{
    (void)ctx;
    (void)data;
}

static void
h_flaky(struct bsn_kit_ctx *ctx, void *data)
{
    (void)data;
    if (atomic_fetch_sub(&flaky_left, 1) > 0)
        return bsn_kit_error(ctx, 503, "Unavailable", "try again");
    bsn_kit_json(ctx, 200, json_pack("{s:s,s:s?}", "ok", "yes", "tp", bsn_kit_traceparent(ctx)));
}

static struct bsn_loop *loop;
static struct bsn_kit_app *app;
static atomic_int later_gone;

struct later {
    struct bsn_timer t;
    struct bsn_kit_ctx *ctx;
};

static void
later_fire(struct bsn_loop *l, void *data)
{
    (void)l;
    struct later *w = data;
    if (bsn_kit_client_gone(w->ctx))
        atomic_fetch_add(&later_gone, 1);
    bsn_kit_json(w->ctx, 200, json_pack("{s:s}", "id", bsn_kit_param(w->ctx, "id")));
    free(w);
}

/* answers after ?ms= milliseconds from a timer */
static void
h_later(struct bsn_kit_ctx *ctx, void *data)
{
    (void)data;
    char ms[16];
    struct later *w = calloc(1, sizeof(*w));
    bsn_timer_init(&w->t);
    w->ctx = bsn_kit_defer(ctx);
    bsn_timer_start(loop, &w->t, (uint64_t)atoi(bsn_kit_query(ctx, "ms", ms, sizeof(ms))),
                    later_fire, w);
}
static pthread_t thr;
static struct bsn_kit_client *self_client, *dead_client;

static void
proxy_done(int status, json_t *body, const struct bsn_err *err, void *data)
{
    struct bsn_kit_ctx *ctx = data;
    if (!status)
        return bsn_kit_error_err(ctx, err);
    bsn_kit_json(ctx, 200, json_pack("{s:i,s:O?}", "upstream", status, "body", body));
}

/* answers from an asynchronous call to /flaky on this same app, or to a dead upstream */
static void
h_proxy(struct bsn_kit_ctx *ctx, void *data)
{
    (void)data;
    bool self = strcmp(bsn_kit_param(ctx, "which"), "self") == 0;
    struct bsn_kit_client *c = self ? self_client : dead_client;
    assert_int_equal(bsn_kit_client_call_async(c, ctx, "GET", self ? "/flaky" : "/", NULL,
                                               proxy_done, bsn_kit_defer(ctx)),
                     0);
}
static char base[64];

static void *
run_loop(void *arg)
{
    (void)arg;
    bsn_loop_run(loop);
    return NULL;
}

static void
stop_cb(struct bsn_loop *l, void *d)
{
    (void)d;
    bsn_loop_stop(l);
}

static int
setup(void **state)
{
    (void)state;
    setenv("ACCESS_LOG", "0", 1);
    loop = bsn_loop_new();
    app = bsn_kit_app_new("testsvc");
    assert_int_equal(bsn_kit_route(app, "GET", "/echo/{a}/x/{b}", h_echo, NULL, NULL, "echo"), 0);
    assert_int_equal(bsn_kit_route(app, "POST", "/things", h_echo, NULL, &schema, "make"), 0);
    assert_int_equal(bsn_kit_route(app, "PUT", "/conflict", h_conflict, NULL, NULL, NULL), 0);
    assert_int_equal(bsn_kit_route(app, "GET", "/silent", h_silent, NULL, NULL, NULL), 0);
    assert_int_equal(bsn_kit_route(app, "GET", "/flaky", h_flaky, NULL, NULL, NULL), 0);
    assert_int_equal(bsn_kit_route(app, "GET", "/later/{id}", h_later, NULL, NULL, NULL), 0);
    assert_int_equal(bsn_kit_route(app, "GET", "bad", h_flaky, NULL, NULL, NULL), -1);
    struct bsn_err err;
    assert_int_equal(bsn_kit_app_listen(app, loop, "127.0.0.1:0", &err), 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", bsn_kit_app_port(app));
    struct bsn_kit_client_opts so = {.base_url = base, .retries = 3, .backoff_ms = 1, .loop = loop};
    self_client = bsn_kit_client_new(&so);
    struct bsn_kit_client_opts dopt = {.base_url = "http://127.0.0.1:1",
                                       .retries = 1,
                                       .backoff_ms = 1,
                                       .timeout_ms = 500,
                                       .breaker_failures = 2,
                                       .breaker_open_ms = 60000,
                                       .loop = loop};
    dead_client = bsn_kit_client_new(&dopt);
    assert_int_equal(bsn_kit_route(app, "GET", "/proxy/{which}", h_proxy, NULL, NULL, NULL), 0);
    assert_int_equal(pthread_create(&thr, NULL, run_loop, NULL), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    bsn_loop_post(loop, stop_cb, NULL);
    pthread_join(thr, NULL);
    bsn_kit_client_free(self_client);
    bsn_kit_client_free(dead_client);
    bsn_kit_app_free(app);
    bsn_loop_free(loop);
    return 0;
}

static int
req(const char *method, const char *path, const char *body, const char *const *hdrs,
    struct bsn_http_fetch_result *res)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", base, path);
    struct bsn_http_fetch_opts o = {.url = url,
                                    .method = method,
                                    .headers = hdrs,
                                    .body = body,
                                    .body_len = body ? strlen(body) : 0,
                                    .content_type = body ? "application/json" : NULL,
                                    .timeout_ms = 5000};
    struct bsn_err err;
    assert_int_equal(bsn_http_fetch(&o, res, &err), 0);
    return res->status;
}

static json_t *
body_json(struct bsn_http_fetch_result *res)
{
    json_t *v = json_loads(res->body, 0, NULL);
    assert_non_null(v);
    return v;
}

static void
test_params_query(void **state)
{
    (void)state;
    struct bsn_http_fetch_result res;
    const char *hdrs[] = {"X-Request-Id: abc-123", NULL};
    assert_int_equal(req("GET", "/echo/one/x/t%2Fwo?q=a+b", NULL, hdrs, &res), 200);
    json_t *v = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(v, "a")), "one");
    assert_string_equal(json_string_value(json_object_get(v, "b")), "t/wo");
    assert_string_equal(json_string_value(json_object_get(v, "q")), "a b");
    assert_true(json_is_false(json_object_get(v, "missing")));
    assert_string_equal(json_string_value(json_object_get(v, "rid")), "abc-123");
    assert_string_equal(bsn_http_fetch_header(&res, "X-Request-Id"), "abc-123");
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
    /* an unsafe request id is replaced by a generated one */
    const char *bad[] = {"X-Request-Id: a b<c>", NULL};
    assert_int_equal(req("GET", "/echo/1/x/2", NULL, bad, &res), 200);
    const char *rid = bsn_http_fetch_header(&res, "X-Request-Id");
    assert_non_null(rid);
    assert_int_equal(strlen(rid), 24);
    bsn_http_fetch_result_fini(&res);
}

static void
expect_error(const char *method, const char *path, const char *body, int status, const char *code)
{
    struct bsn_http_fetch_result res;
    assert_int_equal(req(method, path, body, NULL, &res), status);
    json_t *v = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(v, "error")), code);
    assert_int_equal(json_integer_value(json_object_get(v, "status")), status);
    assert_non_null(json_string_value(json_object_get(v, "message")));
    assert_string_equal(json_string_value(json_object_get(v, "requestId")),
                        bsn_http_fetch_header(&res, "X-Request-Id"));
    if (status == 405)
        assert_non_null(bsn_http_fetch_header(&res, "Allow"));
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
}

static void
test_errors(void **state)
{
    (void)state;
    expect_error("GET", "/nope", NULL, 404, "NotFound");
    expect_error("GET", "/echo/1", NULL, 404, "NotFound");
    expect_error("DELETE", "/echo/1/x/2", NULL, 405, "MethodNotAllowed");
    expect_error("GET", "/things", NULL, 405, "MethodNotAllowed");
    expect_error("PUT", "/conflict", NULL, 409, "PetExists");
    expect_error("GET", "/silent", NULL, 500, "InternalError");
    expect_error("POST", "/things", "{\"name\":", 400, "BadRequest");
    expect_error("POST", "/things", NULL, 400, "BadRequest");
    expect_error("POST", "/things", "{\"name\":\"x\"}", 400, "ValidationError");
    struct bsn_http_fetch_result res;
    assert_int_equal(req("POST", "/things", "{\"name\":5}", NULL, &res), 400);
    json_t *v = body_json(&res);
    assert_int_equal(json_array_size(json_object_get(v, "details")), 2);
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
    char url[256];
    snprintf(url, sizeof(url), "%s/things", base);
    struct bsn_http_fetch_opts o = {.url = url,
                                    .method = "POST",
                                    .body = "{}",
                                    .body_len = 2,
                                    .content_type = "text/plain",
                                    .timeout_ms = 5000};
    struct bsn_err err;
    assert_int_equal(bsn_http_fetch(&o, &res, &err), 0);
    assert_int_equal(res.status, 415);
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(req("POST", "/things", "{\"name\":\"x\",\"ok\":true}", NULL, &res), 200);
    v = body_json(&res);
    assert_string_equal(bsn_json_str(v, "body.name"), "x");
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
}

static void
test_builtins(void **state)
{
    (void)state;
    struct bsn_http_fetch_result res;
    assert_int_equal(req("GET", "/healthz", NULL, NULL, &res), 200);
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(req("GET", "/readyz", NULL, NULL, &res), 200);
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(req("GET", "/echo/1/x/2", NULL, NULL, &res), 200);
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(req("GET", "/metrics", NULL, NULL, &res), 200);
    assert_non_null(strstr(res.body, "kit_http_requests_total{service=\"testsvc\",route=\"/echo/{a}"
                                     "/x/{b}\",method=\"GET\",status=\"200\"}"));
    assert_non_null(
        strstr(res.body, "kit_http_request_duration_seconds_count{service=\"testsvc\""));
    assert_non_null(strstr(res.body, "route=\"unmatched\",method=\"\",status=\"404\"} "));
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(req("GET", "/openapi.json", NULL, NULL, &res), 200);
    json_t *v = body_json(&res);
    assert_string_equal(bsn_json_str(v, "openapi"), "3.0.3");
    json_t *paths = json_object_get(v, "paths");
    assert_non_null(json_object_get(paths, "/echo/{a}/x/{b}"));
    json_t *params = bsn_json_path(paths, "/echo/{a}/x/{b}");
    params = json_object_get(json_object_get(params, "get"), "parameters");
    assert_int_equal(json_array_size(params), 2);
    json_t *post = json_object_get(json_object_get(paths, "/things"), "post");
    assert_non_null(post);
    json_t *thing = json_object_get(bsn_json_path(v, "components.schemas"), "Thing");
    assert_int_equal(json_array_size(json_object_get(thing, "required")), 2);
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(req("GET", "/docs", NULL, NULL, &res), 200);
    assert_non_null(strstr(res.body, "openapi.json"));
    assert_null(strstr(res.body, "http://"));
    assert_null(strstr(res.body, "https://"));
    bsn_http_fetch_result_fini(&res);
}

static void
test_deferred(void **state)
{
    (void)state;
    struct bsn_http_fetch_result res;
    assert_int_equal(req("GET", "/later/7?ms=50", NULL, NULL, &res), 200);
    json_t *v = body_json(&res);
    assert_string_equal(bsn_json_str(v, "id"), "7");
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
    /* the client gives up before the answer: the context survives, the answer is dropped */
    char url[256];
    snprintf(url, sizeof(url), "%s/later/8?ms=300", base);
    struct bsn_http_fetch_opts o = {.url = url, .timeout_ms = 100};
    struct bsn_err err;
    assert_int_equal(bsn_http_fetch(&o, &res, &err), -1);
    assert_int_equal(err.code, 504);
    struct timespec ts = {0, 400 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&later_gone), 1);
    assert_int_equal(req("GET", "/metrics", NULL, NULL, &res), 200);
    assert_non_null(strstr(res.body, "route=\"/later/{id}\",method=\"GET\",status=\"200\"} 2"));
    assert_non_null(strstr(res.body, "kit_http_inflight_requests 1\n")); /* the /metrics one */
    bsn_http_fetch_result_fini(&res);
}

static void
test_async_client(void **state)
{
    (void)state;
    struct bsn_http_fetch_result res;
    const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    char th[100];
    snprintf(th, sizeof(th), "traceparent: %s", tp);
    const char *hdrs[] = {th, NULL};
    /* two 503s, then success: retried while the loop keeps serving; traceparent forwarded */
    atomic_store(&flaky_left, 2);
    assert_int_equal(req("GET", "/proxy/self", NULL, hdrs, &res), 200);
    json_t *v = body_json(&res);
    assert_int_equal(json_integer_value(json_object_get(v, "upstream")), 200);
    assert_string_equal(bsn_json_str(v, "body.ok"), "yes");
    assert_string_equal(bsn_json_str(v, "body.tp"), tp);
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(atomic_load(&flaky_left), -1);
    /* retries exhausted: the last 503 is delivered */
    atomic_store(&flaky_left, 10);
    assert_int_equal(req("GET", "/proxy/self", NULL, NULL, &res), 200);
    v = body_json(&res);
    assert_int_equal(json_integer_value(json_object_get(v, "upstream")), 503);
    json_decref(v);
    bsn_http_fetch_result_fini(&res);
    assert_int_equal(atomic_load(&flaky_left), 6); /* 1 + 3 retries */
    atomic_store(&flaky_left, 0);
    /* a dead upstream: the connection error twice (2 failed calls), then the open circuit */
    expect_error("GET", "/proxy/dead", NULL, 502, "ServiceUnavailable");
    expect_error("GET", "/proxy/dead", NULL, 502, "ServiceUnavailable");
    expect_error("GET", "/proxy/dead", NULL, 503, "CircuitOpen");
}

static void
test_client(void **state)
{
    (void)state;
    const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    struct bsn_kit_client_opts o = {.base_url = base, .retries = 3, .backoff_ms = 1};
    struct bsn_kit_client *c = bsn_kit_client_new(&o);
    struct bsn_err err;
    int status;
    json_t *out;
    /* two 503s then success: retried */
    atomic_store(&flaky_left, 2);
    assert_int_equal(bsn_kit_client_call(c, NULL, "GET", "/flaky", NULL, &status, &out, &err), 0);
    assert_int_equal(status, 200);
    assert_string_equal(bsn_json_str(out, "ok"), "yes");
    json_decref(out);
    assert_int_equal(atomic_load(&flaky_left), -1);
    /* traceparent through a direct request */
    char th[100];
    snprintf(th, sizeof(th), "traceparent: %s", tp);
    const char *hdrs[] = {th, NULL};
    struct bsn_http_fetch_result res;
    assert_int_equal(req("GET", "/flaky", NULL, hdrs, &res), 200);
    assert_string_equal(bsn_http_fetch_header(&res, "traceparent"), tp);
    bsn_http_fetch_result_fini(&res);
    /* a POST is not retried */
    atomic_store(&flaky_left, 1);
    assert_int_equal(bsn_kit_client_call(c, NULL, "POST", "/flaky", NULL, &status, NULL, &err), 0);
    assert_int_equal(status, 405); /* only GET is routed; answered, not retried */
    atomic_store(&flaky_left, 0);
    bsn_kit_client_free(c);

    /* nothing listens: failures open the circuit, then calls fail fast */
    struct bsn_kit_client_opts d = {.base_url = "http://127.0.0.1:1",
                                    .retries = -1,
                                    .timeout_ms = 500,
                                    .breaker_failures = 2,
                                    .breaker_open_ms = 200};
    c = bsn_kit_client_new(&d);
    assert_int_equal(bsn_kit_client_call(c, NULL, "GET", "/", NULL, &status, NULL, &err), -1);
    assert_int_equal(bsn_kit_client_state(c), BSN_KIT_CLOSED);
    assert_int_equal(bsn_kit_client_call(c, NULL, "GET", "/", NULL, &status, NULL, &err), -1);
    assert_int_equal(bsn_kit_client_state(c), BSN_KIT_OPEN);
    assert_int_equal(bsn_kit_client_call(c, NULL, "GET", "/", NULL, &status, NULL, &err), -1);
    assert_string_equal(err.reason, "CircuitOpen");
    assert_int_equal(err.code, 503);
    struct timespec ts = {0, 250 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(bsn_kit_client_state(c), BSN_KIT_HALF_OPEN);
    assert_int_equal(bsn_kit_client_call(c, NULL, "GET", "/", NULL, &status, NULL, &err), -1);
    assert_string_not_equal(err.reason, "CircuitOpen");
    assert_int_equal(bsn_kit_client_state(c), BSN_KIT_OPEN);
    bsn_kit_client_free(c);
}

int
main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_validate),
    };
    const struct CMUnitTest served[] = {
        cmocka_unit_test(test_params_query), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_builtins),     cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_async_client), cmocka_unit_test(test_client),
    };
    int rc = cmocka_run_group_tests(pure, NULL, NULL);
    return rc + cmocka_run_group_tests(served, setup, teardown);
}
