/*
 * aggregate.c - request aggregation: a route whose policy has `aggregate` answers GET/HEAD
 * requests itself by sending one request to each part's Service (concurrently, load-balanced
 * like any backend, through the asynchronous HTTP client of src/http) and merging the JSON
 * bodies into one object keyed by part name:
 *
 *   {"user": {...}, "orders": [...]}
 *
 * The client's query string is appended to each part's path; X-Forwarded-For, X-Request-Id,
 * traceparent, Authorization and the headers added by the gateway's filters (auth claims)
 * are passed on. A part that fails (connect error, timeout, non-2xx status, a body that is
 * not JSON) becomes null and is listed under "errors" ({"orders": "HTTP 503"}, "timeout",
 * "upstream connect error", "no healthy upstream", "invalid JSON: ..."); the status is
 * 200 when at least one part succeeded, else 502. The whole exchange is bounded by
 * aggregate.timeout (default 5 s): parts still running then count as failed. Each part's body
 * is capped at GW_AGG_MAX_BODY.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_conn.h"
#include "http/client.h"

#define GW_AGG_MAX_BODY (4u << 20)

struct agg_part {
    struct gw_agg *agg;
    struct bsn_http_client *client;
    struct bsn_http_call *call;
    json_t *value; /* parsed body, NULL while running or on failure */
    char *error;   /* failure reason, NULL when fine or still running */
    bool done;
};

struct gw_agg {
    struct gw_conn *c;
    const struct gw_policy *p;
    struct agg_part parts[16];
    int nparts, pending;
    struct bsn_timer timer;
    bool answered;
};

static void
client_free_cb(struct bsn_loop *loop, void *data)
{
    bsn_http_client_free(data);
}

/* Releases everything; clients are freed from the loop (we may be inside their callback). */
static void
agg_free(struct gw_agg *a)
{
    struct gw_worker *w = a->c->w;
    bsn_timer_stop(w->loop, &a->timer);
    for (int i = 0; i < a->nparts; i++) {
        struct agg_part *pt = &a->parts[i];
        if (pt->call && !pt->done)
            bsn_http_call_cancel(pt->call);
        if (pt->client)
            bsn_loop_defer(w->loop, client_free_cb, pt->client);
        json_decref(pt->value);
        free(pt->error);
    }
    free(a);
}

static void
answer(struct gw_agg *a)
{
    struct gw_conn *c = a->c;
    json_t *out = json_object(), *errs = json_object();
    int ok = 0;
    for (int i = 0; i < a->nparts; i++) {
        struct agg_part *pt = &a->parts[i];
        const char *name = a->p->agg[i].name;
        if (pt->value) {
            json_object_set(out, name, pt->value);
            ok++;
        } else {
            json_object_set_new(out, name, json_null());
            json_object_set_new(errs, name, json_string(pt->error ? pt->error : "timeout"));
        }
    }
    if (json_object_size(errs))
        json_object_set(out, "errors", errs);
    json_decref(errs);
    char *body = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    c->agg = NULL;
    agg_free(a);
    gw_local_reply_ct(c, ok ? 200 : 502, "application/json", NULL, body, strlen(body));
    free(body);
}

static void
part_done(const struct bsn_http_client_resp *resp, void *data)
{
    struct agg_part *pt = data;
    struct gw_agg *a = pt->agg;
    pt->done = true;
    pt->call = NULL;
    if (resp->status == 0) {
        /* no internal addresses in what the client sees; the log has the details */
        bsn_debug("gateway", "aggregate part %s: %s", a->p->agg[pt - a->parts].name,
                  resp->err ? resp->err->msg : "failed");
        pt->error =
            bsn_strdup(resp->err && resp->err->code == 504 ? "timeout" : "upstream connect error");
    } else if (resp->status < 200 || resp->status > 299) {
        pt->error = bsn_sprintf("HTTP %d", resp->status);
    } else {
        json_error_t je;
        pt->value = json_loadb(resp->body ? resp->body : "", resp->body_len,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!pt->value)
            pt->error = bsn_sprintf("invalid JSON: %s", je.text);
    }
    if (--a->pending == 0)
        answer(a);
}

static void
agg_timeout(struct bsn_loop *loop, void *data)
{
    struct gw_agg *a = data;
    for (int i = 0; i < a->nparts; i++)
        if (!a->parts[i].done && !a->parts[i].error)
            a->parts[i].error = bsn_strdup("timeout");
    answer(a);
}

/* Copies header `name` of the request into the list when present. */
static void
pass_header(const struct bsn_http_request_head *q, const char *name, struct bsn_buf *lines)
{
    const struct bsn_http_header *h = bsn_http_find_header(q->headers, q->nheaders, name);
    if (h)
        bsn_buf_printf(lines, "%s: %.*s%c", name, (int)h->value.len, h->value.base, 0);
}

void
gw_agg_start(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    const struct gw_policy *p = c->route->policy;
    const struct bsn_http_request_head *q = &c->req;
    if (!bsn_str_eq(q->method, "GET") && !bsn_str_eq(q->method, "HEAD")) {
        gw_local_reply(c, 405, "Allow: GET, HEAD\r\n", "aggregating route: GET or HEAD only\n");
        return;
    }
    struct gw_agg *a = bsn_calloc(1, sizeof(*a));
    a->c = c;
    a->p = p;
    a->nparts = BSN_MIN(p->nagg, (int)BSN_ARRAY_LEN(a->parts));
    bsn_timer_init(&a->timer);
    c->agg = a;
    c->state = C_WAIT;
    /* headers passed on: NUL-separated lines, then pointers into them */
    struct bsn_buf lines;
    bsn_buf_init(&lines);
    bsn_buf_printf(&lines, "X-Forwarded-For: %s%c", c->peer_ip, 0);
    pass_header(q, "x-request-id", &lines);
    pass_header(q, "traceparent", &lines);
    pass_header(q, "authorization", &lines);
    pass_header(q, "accept-language", &lines);
    /* filter-added headers ("Name: value\r\n" lines) */
    for (const char *s = c->fwd.data, *e = s ? s + c->fwd.len : NULL; s && s < e;) {
        const char *nl = memchr(s, '\r', (size_t)(e - s));
        if (!nl)
            break;
        bsn_buf_append(&lines, s, (size_t)(nl - s));
        bsn_buf_putc(&lines, 0);
        s = nl + 2;
    }
    const char *hdrs[16];
    int nh = 0;
    for (size_t off = 0; off < lines.len && nh < 15;) {
        hdrs[nh++] = lines.data + off;
        off += strlen(lines.data + off) + 1;
    }
    hdrs[nh] = NULL;
    a->pending = a->nparts;
    struct gw_lb_ctx lctx = {(const struct sockaddr *)&c->peer, q};
    for (int i = 0; i < a->nparts; i++) {
        const struct gw_agg_part *def = &p->agg[i];
        struct agg_part *pt = &a->parts[i];
        pt->agg = a;
        struct gw_backend *b = def->backend;
        int ep = b ? gw_lb_pick_endpoint(w, c->route, b, &lctx, -1) : -1;
        if (ep < 0) {
            pt->done = true;
            pt->error = bsn_strdup("no healthy upstream");
            a->pending--;
            continue;
        }
        char base[96];
        snprintf(base, sizeof(base), "http://%s", b->eps[ep].name);
        struct bsn_err err;
        bsn_err_clear(&err);
        struct bsn_http_client_opts co = {
            .base_url = base, .max_idle_conns = 1, .max_body = GW_AGG_MAX_BODY};
        pt->client = bsn_http_client_new(w->loop, &co, &err);
        if (!pt->client) {
            pt->done = true;
            pt->error = bsn_sprintf("%s", err.msg);
            a->pending--;
            continue;
        }
        char *path = q->query.len
                         ? bsn_sprintf("%s%c%.*s", def->path, strchr(def->path, '?') ? '&' : '?',
                                       (int)q->query.len, q->query.base)
                         : bsn_strdup(def->path);
        struct bsn_http_call_opts o = {
            .method = "GET",
            .path = path,
            .headers = hdrs,
            .timeout_ms = p->agg_timeout_ms,
            .on_done = part_done,
            .data = pt,
        };
        pt->call = bsn_http_client_request(pt->client, &o);
        free(path);
        if (!pt->call) {
            pt->done = true;
            pt->error = bsn_strdup("request failed");
            a->pending--;
        }
    }
    bsn_buf_fini(&lines);
    if (a->pending == 0) {
        answer(a); /* nothing to wait for */
        return;
    }
    bsn_timer_start(w->loop, &a->timer, p->agg_timeout_ms, agg_timeout, a);
}

void
gw_agg_cancel(struct gw_conn *c)
{
    struct gw_agg *a = c->agg;
    if (!a)
        return;
    c->agg = NULL;
    agg_free(a);
}
