/*
 * status.c - answers: Kubernetes Status bodies for errors, objects in the requested format
 * (JSON, YAML, Table), and the glue between the HTTP server and the dispatcher.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/yaml.h"

void
api_ctx_free(struct req_ctx *c)
{
    if (c->sink && c->sink->release)
        c->sink->release(c);
    else
        free(c);
}

void
api_reply_raw(struct req_ctx *c, int status, const char *ctype, const char *body, size_t n)
{
    struct bsn_apiserver *s = c->srv;
    if (api_writes_pending(s)) {
        /* a write is pending: what this request saw may not be durable yet */
        api_defer_reply(s, c, status, ctype, body, n);
        return;
    }
    api_metrics_observe(s, c->res, c->verb, status, c->start_ns);
    c->sink->respond(c, status, ctype, body, n);
    api_ctx_free(c);
}

void
api_reply_json(struct req_ctx *c, int status, json_t *body)
{
    if (c->yaml) {
        struct bsn_buf b;
        bsn_buf_init(&b);
        bsn_yaml_emit(body, &b);
        api_reply_raw(c, status, "application/yaml", b.data ? b.data : "", b.len);
        bsn_buf_fini(&b);
    } else {
        char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        api_reply_raw(c, status, "application/json", s, strlen(s));
        free(s);
    }
    json_decref(body);
}

json_t *
api_status_json(const struct bsn_err *err, const struct req_ctx *c)
{
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", "Failure", "message", err->msg, "reason",
                           err->reason[0] ? err->reason : "InternalError", "code", err->code);
    json_t *details = json_object();
    if (c && c->name[0])
        json_object_set_new(details, "name", json_string(c->name));
    if (c && c->res) {
        if (c->res->group[0])
            json_object_set_new(details, "group", json_string(c->res->group));
        /* upstream names the Kind for Invalid, the resource otherwise */
        json_object_set_new(details, "kind",
                            json_string(err->code == 422 ? c->res->kind : c->res->plural));
    }
    if (err->ncauses > 0) {
        json_t *causes = json_array();
        for (int i = 0; i < err->ncauses; i++) {
            json_t *cause = json_pack("{s:s,s:s}", "reason", err->causes[i].reason, "message",
                                      err->causes[i].message);
            if (err->causes[i].field[0])
                json_object_set_new(cause, "field", json_string(err->causes[i].field));
            json_array_append_new(causes, cause);
        }
        json_object_set_new(details, "causes", causes);
    }
    if (err->retry_after > 0)
        json_object_set_new(details, "retryAfterSeconds", json_integer(err->retry_after));
    if (json_object_size(details) > 0)
        json_object_set_new(st, "details", details);
    else
        json_decref(details);
    return st;
}

void
api_reply_err(struct req_ctx *c, const struct bsn_err *err)
{
    struct bsn_err e;
    bsn_err_copy(&e, err);
    if (e.code == 0)
        bsn_err_set(&e, 500, "InternalError", "%s", err->msg[0] ? err->msg : "internal error");
    if (e.retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", e.retry_after);
        c->sink->add_header(c, "Retry-After", ra);
    }
    c->yaml = false; /* errors are always JSON Status (kubectl decodes them) */
    api_reply_json(c, e.code, api_status_json(&e, c));
}

void
api_reply_status(struct req_ctx *c, int code, const char *reason, const char *fmt, ...)
{
    struct bsn_err e;
    bsn_err_clear(&e);
    e.code = code;
    snprintf(e.reason, sizeof(e.reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    api_reply_err(c, &e);
}

void
api_reply_obj(struct req_ctx *c, int status, const struct bsn_obj *o)
{
    if (strcmp(c->sub, "scale-write") == 0) {
        json_t *t = bsn_obj_tree(o);
        api_reply_json(c, status, api_scale_json(t));
        json_decref(t);
        return;
    }
    if (c->table) {
        struct bsn_obj *one = (struct bsn_obj *)o;
        char rv[32];
        snprintf(rv, sizeof(rv), "%lld", (long long)o->rev);
        api_reply_json(c, status, api_table(c->res, &one, 1, rv, "", true));
        return;
    }
    /* stored in the requested group and version: the bytes as they are */
    bool same = api_storage_resource(c->res) == c->res;
    if (same && !c->yaml) {
        api_reply_raw(c, status, "application/json", o->json, o->len);
        return;
    }
    json_t *t = bsn_obj_tree(o);
    api_convert_out(t, c->res);
    api_reply_json(c, status, t);
}

/* ------------------------------------------------------------------ metrics */

static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.2,
                                    0.4,   0.6,  0.8,   1.0,  2.0, 5.0};

static const char *const verb_names[] = {"GET", "LIST",  "WATCH",  "POST",
                                         "PUT", "PATCH", "DELETE", "OTHER"};
static const char *const class_names[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

void
api_metrics_observe(struct bsn_apiserver *s, const struct bsn_resource *res, int verb, int status,
                    uint64_t start_ns)
{
    if (verb < 0 || verb > VERB_OTHER)
        verb = VERB_OTHER;
    int cls = status >= 100 && status < 600 ? status / 100 - 1 : 5;
    s->metrics.requests[verb][cls]++;
    if (res) {
        char key[160];
        snprintf(key, sizeof(key), "%s|%s%s%s|%s", verb_names[verb], res->plural,
                 res->group[0] ? "." : "", res->group, class_names[cls]);
        uint64_t *n = bsn_map_get(&s->metrics.by_resource, key);
        if (!n) {
            n = bsn_calloc(1, sizeof(*n));
            bsn_map_put(&s->metrics.by_resource, key, n);
        }
        (*n)++;
    }
    if (!start_ns)
        return;
    double sec = (double)(bsn_mono_ns() - start_ns) / 1e9;
    s->metrics.latency_sum[verb] += sec;
    s->metrics.latency_count[verb]++;
    for (int i = 0; i < 12; i++)
        if (sec <= lat_bounds[i])
            s->metrics.latency_buckets[verb][i]++;
}

void
api_metrics_text(struct bsn_apiserver *s, struct bsn_buf *b)
{
    bsn_buf_puts(b, "# HELP apiserver_request_total Requests by verb, resource and status class "
                    "(resource \"\" for non-resource paths).\n"
                    "# TYPE apiserver_request_total counter\n");
    size_t it = 0;
    const char *key;
    void *val;
    uint64_t with_res[8][6];
    memset(with_res, 0, sizeof(with_res));
    while (bsn_map_next(&s->metrics.by_resource, &it, &key, &val)) {
        char verb[16], resource[128], code[8];
        if (sscanf(key, "%15[^|]|%127[^|]|%7s", verb, resource, code) != 3)
            continue;
        bsn_buf_printf(b, "apiserver_request_total{verb=\"%s\",resource=\"%s\",code=\"%s\"} %llu\n",
                       verb, resource, code, (unsigned long long)*(uint64_t *)val);
        for (int v = 0; v <= VERB_OTHER; v++)
            for (int k = 0; k < 6; k++)
                if (!strcmp(verb, verb_names[v]) && !strcmp(code, class_names[k]))
                    with_res[v][k] += *(uint64_t *)val;
    }
    for (int v = 0; v <= VERB_OTHER; v++)
        for (int k = 0; k < 6; k++)
            if (s->metrics.requests[v][k] > with_res[v][k])
                bsn_buf_printf(b,
                               "apiserver_request_total{verb=\"%s\",resource=\"\",code=\"%s\"} "
                               "%llu\n",
                               verb_names[v], class_names[k],
                               (unsigned long long)(s->metrics.requests[v][k] - with_res[v][k]));
    bsn_buf_puts(b, "# HELP apiserver_request_duration_seconds Request latency by verb.\n"
                    "# TYPE apiserver_request_duration_seconds histogram\n");
    for (int v = 0; v <= VERB_OTHER; v++) {
        if (!s->metrics.latency_count[v])
            continue;
        for (int i = 0; i < 12; i++)
            bsn_buf_printf(
                b, "apiserver_request_duration_seconds_bucket{verb=\"%s\",le=\"%g\"} %llu\n",
                verb_names[v], lat_bounds[i], (unsigned long long)s->metrics.latency_buckets[v][i]);
        bsn_buf_printf(b,
                       "apiserver_request_duration_seconds_bucket{verb=\"%s\",le=\"+Inf\"} %llu\n",
                       verb_names[v], (unsigned long long)s->metrics.latency_count[v]);
        bsn_buf_printf(b, "apiserver_request_duration_seconds_sum{verb=\"%s\"} %g\n", verb_names[v],
                       s->metrics.latency_sum[v]);
        bsn_buf_printf(b, "apiserver_request_duration_seconds_count{verb=\"%s\"} %llu\n",
                       verb_names[v], (unsigned long long)s->metrics.latency_count[v]);
    }
    static const double sb[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
    bsn_buf_puts(b, "# HELP bosun_store_commit_duration_seconds Group commit latency.\n"
                    "# TYPE bosun_store_commit_duration_seconds histogram\n");
    for (int i = 0; i < 12; i++)
        bsn_buf_printf(b, "bosun_store_commit_duration_seconds_bucket{le=\"%g\"} %llu\n", sb[i],
                       (unsigned long long)s->metrics.store_buckets[i]);
    bsn_buf_printf(b,
                   "bosun_store_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                   "bosun_store_commit_duration_seconds_sum %g\n"
                   "bosun_store_commit_duration_seconds_count %llu\n",
                   (unsigned long long)s->metrics.store_commits, s->metrics.store_seconds,
                   (unsigned long long)s->metrics.store_commits);
    bsn_buf_printf(b,
                   "# HELP bosun_store_ops_total Writes committed.\n"
                   "# TYPE bosun_store_ops_total counter\nbosun_store_ops_total %llu\n",
                   (unsigned long long)s->metrics.store_ops);
    bsn_buf_printf(b,
                   "# HELP apiserver_registered_watchers Open watches.\n"
                   "# TYPE apiserver_registered_watchers gauge\napiserver_registered_watchers "
                   "%lld\n",
                   (long long)s->metrics.watchers);
    bsn_buf_printf(b,
                   "# HELP apiserver_storage_objects Objects stored.\n"
                   "# TYPE apiserver_storage_objects gauge\napiserver_storage_objects %zu\n",
                   s->cache.nobjs);
}
