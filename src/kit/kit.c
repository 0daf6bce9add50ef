/*
 * kit.c - the microservice kit's app: routing, request contexts, JSON answers and errors,
 * built-in endpoints, access logs, metrics and graceful shutdown (see kit.h).
 */
#include "kit/kit.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "kit/kit_int.h"

#define MAX_BODY (1u << 20)

const double bsn_kit_bucket_bounds[BSN_KIT_NBUCKETS] = {0.001, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,   0.25,  0.5,  1,     5};

struct bsn_kit_ctx {
    struct bsn_kit_app *app;
    struct bsn_http_req *req;
    int route; /* -1 when none */
    struct bsn_kit_params params;
    json_t *body;
    char request_id[72];
    const char *traceparent;
    char tp[56];
    char remote[64];
    char method[16];
    char path[512];
    uint64_t t0;
    bool internal; /* a built-in endpoint: not counted or logged */
    bool answered;
    bool in_handler; /* handle() is still on the stack */
    bool deferred;   /* bsn_kit_defer() was called */
    bool gone;       /* the client went away before the answer (req is dead) */
    int status;
};

/* ---- environment ---- */

const char *
bsn_kit_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

long
bsn_kit_env_int(const char *name, long def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end)
        return def;
    return n;
}

/* ---- path matching ---- */

bool
bsn_kit_match(const char *pattern, const char *path, struct bsn_kit_params *out)
{
    struct bsn_kit_params tmp;
    struct bsn_kit_params *p = out ? out : &tmp;
    p->n = 0;
    const char *a = pattern, *b = path;
    if (*a != '/' || *b != '/')
        return false;
    while (*a == '/' && *b == '/') {
        a++;
        b++;
        size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
        if (la == 0 && lb == 0)
            return a[0] == 0 && b[0] == 0;
        if (la > 2 && a[0] == '{' && a[la - 1] == '}') {
            if (lb == 0 || p->n >= BSN_KIT_MAX_PARAMS || la - 2 >= sizeof(p->name[0]))
                return false;
            if (bsn_http_percent_decode(b, lb, false, p->value[p->n], BSN_KIT_MAX_PARAM_LEN) <= 0)
                return false;
            memcpy(p->name[p->n], a + 1, la - 2);
            p->name[p->n][la - 2] = 0;
            p->n++;
        } else if (la != lb || memcmp(a, b, la) != 0) {
            return false;
        }
        a += la;
        b += lb;
        if (*a == 0 && (*b == 0 || (b[0] == '/' && b[1] == 0)))
            return true;
    }
    return false;
}

/* ---- validation ---- */

const char *
bsn_kit_type_name(enum bsn_kit_type t)
{
    switch (t) {
    case BSN_KIT_STRING:
        return "string";
    case BSN_KIT_INTEGER:
        return "integer";
    case BSN_KIT_NUMBER:
        return "number";
    case BSN_KIT_BOOLEAN:
        return "boolean";
    case BSN_KIT_OBJECT:
        return "object";
    case BSN_KIT_ARRAY:
        return "array";
    }
    return "?";
}

static bool
type_ok(enum bsn_kit_type t, const json_t *v)
{
    switch (t) {
    case BSN_KIT_STRING:
        return json_is_string(v);
    case BSN_KIT_INTEGER:
        return json_is_integer(v);
    case BSN_KIT_NUMBER:
        return json_is_number(v);
    case BSN_KIT_BOOLEAN:
        return json_is_boolean(v);
    case BSN_KIT_OBJECT:
        return json_is_object(v);
    case BSN_KIT_ARRAY:
        return json_is_array(v);
    }
    return false;
}

int
bsn_kit_validate(const struct bsn_kit_schema *s, const json_t *v, struct bsn_err *err)
{
    bsn_err_clear(err);
    if (!json_is_object(v))
        return bsn_err_set(err, 400, "ValidationError", "body must be a JSON object");
    size_t maxs = s->max_string ? s->max_string : 4096;
    int bad = 0;
    for (size_t i = 0; i < s->nfields; i++) {
        const struct bsn_kit_field *f = &s->fields[i];
        json_t *x = json_object_get(v, f->name);
        if (!x || json_is_null(x)) {
            if (f->required) {
                bsn_err_add_cause(err, "FieldValueRequired", f->name, "required");
                bad++;
            }
            continue;
        }
        if (!type_ok(f->type, x)) {
            bsn_err_add_cause(err, "FieldValueInvalid", f->name, "must be %s",
                              bsn_kit_type_name(f->type));
            bad++;
        } else if (f->type == BSN_KIT_STRING && json_string_length(x) > maxs) {
            bsn_err_add_cause(err, "FieldValueInvalid", f->name, "longer than %zu", maxs);
            bad++;
        }
    }
    if (!bad)
        return 0;
    int ncauses = err->ncauses;
    struct bsn_buf m;
    bsn_buf_init(&m);
    for (int i = 0; i < ncauses; i++)
        bsn_buf_printf(&m, "%s%s: %s", i ? "; " : "", err->causes[i].field, err->causes[i].message);
    err->code = 400;
    snprintf(err->reason, sizeof(err->reason), "ValidationError");
    snprintf(err->msg, sizeof(err->msg), "invalid body: %s", m.data ? m.data : "");
    bsn_buf_fini(&m);
    return -1;
}

/* ---- app ---- */

struct bsn_kit_app *
bsn_kit_app_new(const char *name)
{
    struct bsn_kit_app *app = bsn_calloc(1, sizeof(*app));
    app->name = bsn_strdup(name);
    app->version = bsn_strdup("1.0.0");
    snprintf(app->listen, sizeof(app->listen), "%s:%ld", bsn_kit_env("HOST", "0.0.0.0"),
             bsn_kit_env_int("PORT", 8080));
    app->access_log = strcmp(bsn_kit_env("ACCESS_LOG", "1"), "0") != 0;
    enum bsn_log_level lvl;
    if (bsn_log_parse_level(bsn_kit_env("LOG_LEVEL", "info"), &lvl) == 0)
        bsn_log_set_level(lvl);
    bsn_log_set_json(1);
    bsn_timer_init(&app->drain_timer);
    return app;
}

void
bsn_kit_app_free(struct bsn_kit_app *app)
{
    if (!app)
        return;
    if (app->loop)
        bsn_timer_stop(app->loop, &app->drain_timer);
    bsn_http_server_free(app->srv);
    free(app->stats);
    free(app->name);
    free(app->version);
    free(app);
}

void
bsn_kit_app_set_version(struct bsn_kit_app *app, const char *version)
{
    free(app->version);
    app->version = bsn_strdup(version);
}

void
bsn_kit_app_set_ready(struct bsn_kit_app *app, bsn_kit_ready_cb cb, void *data)
{
    app->ready = cb;
    app->ready_data = data;
}

int
bsn_kit_route(struct bsn_kit_app *app, const char *method, const char *pattern,
              bsn_kit_handler handler, void *data, const struct bsn_kit_schema *body,
              const char *summary)
{
    if (app->nroutes >= BSN_KIT_MAX_ROUTES || !pattern || pattern[0] != '/' || !handler)
        return -1;
    struct bsn_kit_route *r = &app->routes[app->nroutes++];
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->pattern = pattern;
    r->handler = handler;
    r->data = data;
    r->body = body;
    r->summary = summary;
    return 0;
}

/* ---- context accessors ---- */

const char *
bsn_kit_method(const struct bsn_kit_ctx *ctx)
{
    return ctx->method;
}

const char *
bsn_kit_path(const struct bsn_kit_ctx *ctx)
{
    return ctx->path;
}

const char *
bsn_kit_param(const struct bsn_kit_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->params.n; i++)
        if (strcmp(ctx->params.name[i], name) == 0)
            return ctx->params.value[i];
    return NULL;
}

const char *
bsn_kit_query(const struct bsn_kit_ctx *ctx, const char *key, char *buf, size_t n)
{
    if (!ctx->req)
        return NULL;
    return bsn_http_query_get(ctx->req, key, buf, n) >= 0 ? buf : NULL;
}

const char *
bsn_kit_header(const struct bsn_kit_ctx *ctx, const char *name)
{
    return ctx->req ? bsn_http_req_header(ctx->req, name) : NULL;
}

json_t *
bsn_kit_body(const struct bsn_kit_ctx *ctx)
{
    return ctx->body;
}

const char *
bsn_kit_request_id(const struct bsn_kit_ctx *ctx)
{
    return ctx->request_id;
}

const char *
bsn_kit_traceparent(const struct bsn_kit_ctx *ctx)
{
    return ctx->traceparent;
}

struct bsn_kit_app *
bsn_kit_ctx_app(const struct bsn_kit_ctx *ctx)
{
    return ctx->app;
}

void
bsn_kit_set_header(struct bsn_kit_ctx *ctx, const char *name, const char *value)
{
    if (!ctx->answered && ctx->req)
        bsn_http_req_add_header(ctx->req, name, value);
}

/* ---- answers ---- */

static void finish(struct bsn_kit_ctx *ctx);

void
bsn_kit_text(struct bsn_kit_ctx *ctx, int status, const char *content_type, const char *body,
             size_t len)
{
    if (ctx->answered) {
        bsn_warn("kit", "request %s answered twice", ctx->request_id);
        return;
    }
    ctx->answered = true;
    ctx->status = status;
    if (ctx->req)
        bsn_http_respond(ctx->req, status, content_type, body, len);
    ctx->req = NULL;
    if (!ctx->in_handler)
        finish(ctx);
}

void
bsn_kit_json(struct bsn_kit_ctx *ctx, int status, json_t *json)
{
    if (!json) {
        bsn_kit_text(ctx, status, NULL, NULL, 0);
        return;
    }
    char *s = bsn_json_dump(json);
    json_decref(json);
    bsn_kit_text(ctx, status, "application/json", s, strlen(s));
    free(s);
}

static void
error_json(struct bsn_kit_ctx *ctx, int status, const char *code, const char *msg,
           const struct bsn_err *causes)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(code));
    json_object_set_new(o, "message", json_string(msg));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "requestId", json_string(ctx->request_id));
    if (causes && causes->ncauses > 0) {
        json_t *d = json_array();
        for (int i = 0; i < causes->ncauses; i++)
            json_array_append_new(d, json_pack("{s:s,s:s,s:s}", "field", causes->causes[i].field,
                                               "reason", causes->causes[i].reason, "message",
                                               causes->causes[i].message));
        json_object_set_new(o, "details", d);
    }
    bsn_kit_json(ctx, status, o);
}

void
bsn_kit_error(struct bsn_kit_ctx *ctx, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    error_json(ctx, status, code, msg, NULL);
}

void
bsn_kit_error_err(struct bsn_kit_ctx *ctx, const struct bsn_err *err)
{
    int code = err->code >= 400 && err->code <= 599 ? err->code : 500;
    error_json(ctx, code, err->reason[0] ? err->reason : "InternalError", err->msg, err);
}

/* ---- request ids ---- */

static bool
sane_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && !strchr("._-", s[n]))
            return false;
    return n > 0 && n <= 64;
}

static bool
valid_traceparent(const char *s)
{
    /* version(2)-traceid(32)-parentid(16)-flags(2), lower-case hex */
    if (strlen(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    for (size_t i = 0; i < 55; i++) {
        if (i == 2 || i == 35 || i == 52)
            continue;
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    }
    return strncmp(s, "ff", 2) != 0;
}

static void
gen_id(char *out, size_t n)
{
    unsigned char r[12];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t t = bsn_mono_ns();
        memcpy(r, &t, sizeof(t));
        memset(r + 8, 0x5a, 4);
    }
    size_t k = 0;
    for (size_t i = 0; i < sizeof(r) && k + 2 < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%02x", r[i]);
}

/* ---- metrics ---- */

static void
record(struct bsn_kit_app *app, int route, int status, double secs)
{
    if (route >= 0) {
        struct bsn_kit_route *r = &app->routes[route];
        r->count++;
        r->sum_s += secs;
        for (size_t i = 0; i < BSN_KIT_NBUCKETS; i++)
            if (secs <= bsn_kit_bucket_bounds[i]) {
                r->buckets[i]++;
                break;
            }
    }
    for (size_t i = 0; i < app->nstats; i++)
        if (app->stats[i].route == route && app->stats[i].status == status) {
            app->stats[i].count++;
            return;
        }
    if (app->nstats == app->capstats) {
        app->capstats = app->capstats ? app->capstats * 2 : 16;
        app->stats = bsn_realloc(app->stats, app->capstats * sizeof(*app->stats));
    }
    app->stats[app->nstats++] = (struct bsn_kit_stat){route, status, 1};
}

static void
metrics(struct bsn_kit_ctx *ctx)
{
    struct bsn_kit_app *app = ctx->app;
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_puts(&b, "# HELP kit_http_requests_total HTTP requests by route, method and status.\n"
                     "# TYPE kit_http_requests_total counter\n");
    for (size_t i = 0; i < app->nstats; i++) {
        const struct bsn_kit_stat *s = &app->stats[i];
        const char *route = s->route >= 0 ? app->routes[s->route].pattern : "unmatched";
        const char *method = s->route >= 0 ? app->routes[s->route].method : "";
        bsn_buf_printf(&b,
                       "kit_http_requests_total{service=\"%s\",route=\"%s\",method=\"%s\","
                       "status=\"%d\"} %llu\n",
                       app->name, route, method, s->status, (unsigned long long)s->count);
    }
    bsn_buf_puts(&b, "# HELP kit_http_request_duration_seconds Request latency by route.\n"
                     "# TYPE kit_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < app->nroutes; i++) {
        const struct bsn_kit_route *r = &app->routes[i];
        if (!r->count)
            continue;
        uint64_t cum = 0;
        char lbl[512];
        snprintf(lbl, sizeof(lbl), "service=\"%s\",route=\"%s\",method=\"%s\"", app->name,
                 r->pattern, r->method);
        for (size_t k = 0; k < BSN_KIT_NBUCKETS; k++) {
            cum += r->buckets[k];
            bsn_buf_printf(&b, "kit_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", lbl,
                           bsn_kit_bucket_bounds[k], (unsigned long long)cum);
        }
        bsn_buf_printf(&b, "kit_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lbl,
                       (unsigned long long)r->count);
        bsn_buf_printf(&b, "kit_http_request_duration_seconds_sum{%s} %.6f\n", lbl, r->sum_s);
        bsn_buf_printf(&b, "kit_http_request_duration_seconds_count{%s} %llu\n", lbl,
                       (unsigned long long)r->count);
    }
    bsn_buf_printf(&b, "# TYPE kit_http_inflight_requests gauge\nkit_http_inflight_requests %llu\n",
                   (unsigned long long)app->inflight);
    bsn_kit_text(ctx, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
    bsn_buf_fini(&b);
}

/* ---- dispatch ---- */

static bool
builtin(struct bsn_kit_ctx *ctx)
{
    struct bsn_http_req *req = ctx->req;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return false;
    const char *p = req->path;
    if (strcmp(p, "/healthz") == 0) {
        bsn_kit_json(ctx, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(p, "/readyz") == 0) {
        bool ok =
            !ctx->app->draining && (!ctx->app->ready || ctx->app->ready(ctx->app->ready_data));
        bsn_kit_json(ctx, ok ? 200 : 503, json_pack("{s:s}", "status", ok ? "ready" : "not ready"));
    } else if (strcmp(p, "/metrics") == 0) {
        metrics(ctx);
    } else if (strcmp(p, "/openapi.json") == 0) {
        bsn_kit_json(ctx, 200, bsn_kit_openapi(ctx->app));
    } else if (strcmp(p, "/docs") == 0) {
        bsn_kit_text(ctx, 200, "text/html; charset=utf-8", bsn_kit_docs_html,
                     strlen(bsn_kit_docs_html));
    } else {
        return false;
    }
    return true;
}

static bool
method_is(const char *route_method, const char *m)
{
    return strcmp(route_method, m) == 0 ||
           (strcmp(m, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void
route_request(struct bsn_kit_ctx *ctx)
{
    struct bsn_kit_app *app = ctx->app;
    struct bsn_http_req *req = ctx->req;
    struct bsn_buf allow;
    bsn_buf_init(&allow);
    for (size_t i = 0; i < app->nroutes; i++) {
        struct bsn_kit_route *r = &app->routes[i];
        struct bsn_kit_params params;
        if (!bsn_kit_match(r->pattern, req->path, &params))
            continue;
        if (!method_is(r->method, req->method)) {
            if (!strstr(allow.data ? allow.data : "", r->method))
                bsn_buf_printf(&allow, "%s%s", allow.len ? ", " : "", r->method);
            continue;
        }
        ctx->route = (int)i;
        ctx->params = params;
        bsn_buf_fini(&allow);
        if (req->body_len > 0 || r->body) {
            struct bsn_err err;
            bsn_err_clear(&err);
            if (req->body_len == 0) {
                bsn_kit_error(ctx, 400, "BadRequest", "a JSON body is required");
                return;
            }
            const char *ct = bsn_http_req_header(req, "Content-Type");
            if (ct && !strstr(ct, "json") && !strstr(ct, "x-www-form-urlencoded")) {
                bsn_kit_error(ctx, 415, "UnsupportedMediaType",
                              "expected an application/json body, got %s", ct);
                return;
            }
            ctx->body = bsn_json_parse(req->body, req->body_len, &err);
            if (!ctx->body) {
                bsn_kit_error(ctx, err.code == 413 ? 413 : 400, "BadRequest", "%s", err.msg);
                return;
            }
            if (r->body && bsn_kit_validate(r->body, ctx->body, &err) < 0) {
                bsn_kit_error_err(ctx, &err);
                return;
            }
        }
        r->handler(ctx, r->data);
        if (!ctx->answered && !ctx->deferred) {
            bsn_error("kit", "handler for %s %s did not answer", r->method, r->pattern);
            bsn_kit_error(ctx, 500, "InternalError", "handler did not answer");
        }
        return;
    }
    if (allow.len) {
        bsn_http_req_add_header(req, "Allow", allow.data);
        bsn_kit_error(ctx, 405, "MethodNotAllowed", "method %s not allowed on %s", req->method,
                      req->path);
    } else {
        bsn_kit_error(ctx, 404, "NotFound", "no route for %s %s", req->method, req->path);
    }
    bsn_buf_fini(&allow);
}

static void
access_log(const struct bsn_kit_ctx *ctx, double secs)
{
    json_t *o = json_object();
    char ts[40];
    bsn_time_format_micro(bsn_time_now_us(), ts, sizeof(ts));
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string("info"));
    json_object_set_new(o, "service", json_string(ctx->app->name));
    json_object_set_new(o, "msg", json_string("request"));
    json_object_set_new(o, "method", json_string(ctx->method));
    json_object_set_new(o, "path", json_string(ctx->path));
    if (ctx->route >= 0)
        json_object_set_new(o, "route", json_string(ctx->app->routes[ctx->route].pattern));
    json_object_set_new(o, "status", json_integer(ctx->status));
    json_object_set_new(o, "durationUs", json_integer((json_int_t)(secs * 1e6)));
    json_object_set_new(o, "requestId", json_string(ctx->request_id));
    if (ctx->traceparent)
        json_object_set_new(o, "traceparent", json_string(ctx->traceparent));
    json_object_set_new(o, "remote", json_string(ctx->remote));
    if (ctx->gone)
        json_object_set_new(o, "clientGone", json_true());
    char *s = bsn_json_dump(o);
    json_decref(o);
    fprintf(stderr, "%s\n", s);
    free(s);
}

/* Bookkeeping once a request is answered (and the handler has returned): metrics, log, free. */
static void
finish(struct bsn_kit_ctx *ctx)
{
    struct bsn_kit_app *app = ctx->app;
    app->inflight--;
    double secs = (double)(bsn_mono_ns() - ctx->t0) / 1e9;
    if (!ctx->internal) {
        record(app, ctx->route, ctx->status, secs);
        if (app->access_log)
            access_log(ctx, secs);
    }
    json_decref(ctx->body);
    free(ctx);
}

static void
on_gone(struct bsn_http_req *req, void *data)
{
    BSN_UNUSED(req);
    struct bsn_kit_ctx *ctx = data;
    ctx->req = NULL;
    ctx->gone = true;
}

struct bsn_kit_ctx *
bsn_kit_defer(struct bsn_kit_ctx *ctx)
{
    if (!ctx->answered && !ctx->deferred && ctx->req) {
        ctx->deferred = true;
        bsn_http_req_on_close(ctx->req, on_gone, ctx);
    }
    return ctx;
}

bool
bsn_kit_client_gone(const struct bsn_kit_ctx *ctx)
{
    return ctx->gone;
}

static void
handle(struct bsn_http_req *req, void *data)
{
    struct bsn_kit_app *app = data;
    struct bsn_kit_ctx *ctx = bsn_calloc(1, sizeof(*ctx));
    ctx->app = app;
    ctx->req = req;
    ctx->route = -1;
    ctx->t0 = bsn_mono_ns();
    const char *rid = bsn_http_req_header(req, "X-Request-Id");
    if (rid && sane_id(rid))
        snprintf(ctx->request_id, sizeof(ctx->request_id), "%s", rid);
    else
        gen_id(ctx->request_id, sizeof(ctx->request_id));
    const char *tp = bsn_http_req_header(req, "traceparent");
    if (tp && valid_traceparent(tp)) {
        memcpy(ctx->tp, tp, 56);
        ctx->traceparent = ctx->tp;
        bsn_http_req_add_header(req, "traceparent", tp);
    }
    bsn_http_req_add_header(req, "X-Request-Id", ctx->request_id);
    /* copies: the request is freed by the answer, the log is written after it */
    snprintf(ctx->method, sizeof(ctx->method), "%s", req->method);
    snprintf(ctx->path, sizeof(ctx->path), "%s", req->path);
    snprintf(ctx->remote, sizeof(ctx->remote), "%s", req->remote_addr ? req->remote_addr : "");
    app->inflight++;
    ctx->in_handler = true;
    ctx->internal = builtin(ctx);
    if (!ctx->internal)
        route_request(ctx);
    ctx->in_handler = false;
    if (ctx->answered)
        finish(ctx);
}

/* ---- serving and shutdown ---- */

int
bsn_kit_app_listen(struct bsn_kit_app *app, struct bsn_loop *loop, const char *listen,
                   struct bsn_err *err)
{
    struct bsn_http_server_opts o = {
        .listen = listen ? listen : app->listen,
        .max_body = MAX_BODY,
        .handler = handle,
        .data = app,
    };
    app->loop = loop;
    app->srv = bsn_http_server_new(loop, &o, err);
    if (!app->srv)
        return -1;
    bsn_info("kit", "%s listening on %s (port %d)", app->name, o.listen,
             bsn_http_server_port(app->srv));
    return 0;
}

int
bsn_kit_app_port(const struct bsn_kit_app *app)
{
    return app->srv ? bsn_http_server_port(app->srv) : 0;
}

static void
drain_check(struct bsn_loop *loop, void *data)
{
    struct bsn_kit_app *app = data;
    if (app->srv && bsn_http_server_conns(app->srv) > 0) {
        bsn_timer_start(loop, &app->drain_timer, 20, drain_check, app);
        return;
    }
    bsn_info("kit", "%s drained", app->name);
    if (app->drain_done)
        app->drain_done(loop, app->drain_data);
}

void
bsn_kit_app_shutdown(struct bsn_kit_app *app, bsn_cb done, void *data)
{
    if (app->draining || !app->srv)
        return;
    app->draining = true;
    app->drain_done = done;
    app->drain_data = data;
    bsn_info("kit", "%s shutting down: draining %zu connections", app->name,
             bsn_http_server_conns(app->srv));
    bsn_http_server_shutdown(app->srv);
    bsn_timer_start(app->loop, &app->drain_timer, 0, drain_check, app);
}

static void
stop_loop(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(data);
    bsn_loop_stop(loop);
}

static void
on_signal(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    bsn_kit_app_shutdown(data, stop_loop, NULL);
}

int
bsn_kit_app_run_on(struct bsn_kit_app *app, struct bsn_loop *loop, struct bsn_err *err)
{
    struct bsn_err local;
    if (!err)
        err = &local;
    bsn_err_clear(err);
    if (bsn_kit_app_listen(app, loop, NULL, err) < 0) {
        bsn_error("kit", "%s: listen %s: %s", app->name, app->listen, err->msg);
        app->loop = NULL;
        return -1;
    }
    bsn_loop_add_signal(loop, SIGTERM, on_signal, app);
    bsn_loop_add_signal(loop, SIGINT, on_signal, app);
    bsn_loop_run(loop);
    bsn_timer_stop(loop, &app->drain_timer);
    bsn_http_server_free(app->srv);
    app->srv = NULL;
    app->loop = NULL;
    bsn_info("kit", "%s stopped", app->name);
    return 0;
}

int
bsn_kit_app_run(struct bsn_kit_app *app, struct bsn_err *err)
{
    struct bsn_loop *loop = bsn_loop_new();
    int rc = bsn_kit_app_run_on(app, loop, err);
    bsn_loop_free(loop);
    return rc;
}
