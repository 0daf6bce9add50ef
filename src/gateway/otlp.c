/*
 * otlp.c - spans exported as OTLP/HTTP JSON (OpenTelemetry protocol, "ExportTraceServiceRequest"
 * encoded as JSON, POSTed to <endpoint>/v1/traces).
 *
 * A request gets a span when its route's policy has tracing.traceparent on and the gateway
 * runs with an OTLP endpoint (--otlp-endpoint): the span's trace id and span id are those of
 * the traceparent the gateway forwarded upstream, its parent the client's span (when the
 * client sent a valid traceparent). Workers append span objects to a per-thread buffer
 * (no locks on the request path); the sweep timer hands a full or one-second-old buffer to
 * the exporter thread, which POSTs each batch with a 5 s timeout. The queue is bounded
 * (OTLP_MAX_QUEUED batches, OTLP_MAX_BATCH bytes each): when the collector is slow or down,
 * spans are dropped and counted, never buffered without limit.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "gateway/gw_conn.h"
#include "http/client.h"

#define OTLP_MAX_BATCH  (512 * 1024)
#define OTLP_MAX_QUEUED 16

struct otlp_batch {
    struct otlp_batch *next;
    char *spans; /* comma-separated span objects */
    size_t len;
    uint64_t count;
};

struct gw_otlp {
    char *url;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct otlp_batch *head, *tail;
    int queued;
    bool stop, started;
    /* counters (read by /metrics) */
    uint64_t exported, dropped, failed_posts;
};

static void *
exporter(void *arg)
{
    struct gw_otlp *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->head && !o->stop)
            pthread_cond_wait(&o->cv, &o->mu);
        if (!o->head)
            break; /* stopping and nothing left */
        struct otlp_batch *b = o->head;
        o->head = b->next;
        if (!o->head)
            o->tail = NULL;
        o->queued--;
        pthread_mutex_unlock(&o->mu);
        struct bsn_buf body;
        bsn_buf_init(&body);
        bsn_buf_puts(&body, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
                            "\"service.name\",\"value\":{\"stringValue\":\"bosun-gateway\"}}]},"
                            "\"scopeSpans\":[{\"scope\":{\"name\":\"bosun.gateway\"},\"spans\":[");
        bsn_buf_append(&body, b->spans, b->len);
        bsn_buf_puts(&body, "]}]}]}");
        struct bsn_http_fetch_opts fo = {
            .url = o->url,
            .method = "POST",
            .body = body.data,
            .body_len = body.len,
            .content_type = "application/json",
            .timeout_ms = 5000,
            .max_body = 65536,
        };
        struct bsn_http_fetch_result res;
        struct bsn_err err;
        bsn_err_clear(&err);
        bool ok = false;
        if (bsn_http_fetch(&fo, &res, &err) == 0) {
            ok = res.status >= 200 && res.status < 300;
            if (!ok)
                bsn_warn("gateway", "OTLP export to %s: HTTP %d", o->url, res.status);
            bsn_http_fetch_result_fini(&res);
        } else {
            bsn_warn("gateway", "OTLP export to %s: %s", o->url, err.msg);
        }
        bsn_buf_fini(&body);
        pthread_mutex_lock(&o->mu);
        if (ok)
            o->exported += b->count;
        else {
            o->dropped += b->count;
            o->failed_posts++;
        }
        free(b->spans);
        free(b);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

struct gw_otlp *
gw_otlp_new(const char *endpoint)
{
    struct gw_otlp *o = bsn_calloc(1, sizeof(*o));
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    /* "http://collector:4318" -> ".../v1/traces"; a URL already ending in it is kept */
    if (n >= 10 && memcmp(endpoint + n - 10, "/v1/traces", 10) == 0)
        o->url = bsn_strndup(endpoint, n);
    else
        o->url = bsn_sprintf("%.*s/v1/traces", (int)n, endpoint);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    return o;
}

int
gw_otlp_start(struct gw_otlp *o)
{
    int rc = pthread_create(&o->thread, NULL, exporter, o);
    o->started = rc == 0;
    return -rc;
}

void
gw_otlp_free(struct gw_otlp *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (o->started)
        pthread_join(o->thread, NULL); /* sends what is queued first */
    while (o->head) {
        struct otlp_batch *b = o->head;
        o->head = b->next;
        free(b->spans);
        free(b);
    }
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o->url);
    free(o);
}

/* Hands the worker's spans to the exporter (sweep timer, shutdown). */
void
gw_otlp_flush(struct gw_worker *w)
{
    struct gw_otlp *o = w->gw->otlp;
    if (!o || w->spans.len == 0)
        return;
    struct otlp_batch *b = bsn_calloc(1, sizeof(*b));
    b->len = w->spans.len;
    b->count = w->nspans;
    b->spans = bsn_buf_take(&w->spans);
    w->nspans = 0;
    pthread_mutex_lock(&o->mu);
    if (o->queued >= OTLP_MAX_QUEUED || o->stop) {
        o->dropped += b->count;
        pthread_mutex_unlock(&o->mu);
        free(b->spans);
        free(b);
        return;
    }
    if (o->tail)
        o->tail->next = b;
    else
        o->head = b;
    o->tail = b;
    o->queued++;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

static void
put_attr_str(struct bsn_buf *b, const char *key, const char *v, size_t n, bool comma)
{
    bsn_buf_printf(b, "%s{\"key\":\"%s\",\"value\":{\"stringValue\":", comma ? "," : "", key);
    gw_json_str(b, v, n);
    bsn_buf_puts(b, "}}");
}

/* Records the finished request's span (when traced and exporting). */
void
gw_otlp_span(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    if (!c->traced || !w->gw->otlp || !c->route)
        return;
    if (w->spans.len >= OTLP_MAX_BATCH) {
        gw_otlp_flush(w);
        if (w->spans.len >= OTLP_MAX_BATCH)
            return;
    }
    struct bsn_buf *b = &w->spans;
    uint64_t end_real = bsn_time_now_us() * 1000ull, now_mono = bsn_mono_ns();
    uint64_t dur = now_mono > c->start_ns ? now_mono - c->start_ns : 0;
    const struct bsn_http_request_head *q = &c->req;
    if (b->len)
        bsn_buf_putc(b, ',');
    bsn_buf_printf(b, "{\"traceId\":\"%.32s\",\"spanId\":\"%.16s\",", c->trace + 3, c->trace + 36);
    if (c->parent_span[0])
        bsn_buf_printf(b, "\"parentSpanId\":\"%.16s\",", c->parent_span);
    bsn_buf_puts(b, "\"name\":");
    char name[160];
    int nl = snprintf(name, sizeof(name), "%.*s %s", (int)BSN_MIN(q->method.len, 16),
                      q->method.base, bsn_gw_route_name((const struct bsn_gw_route *)c->route));
    gw_json_str(b, name, (size_t)BSN_MIN(nl, (int)sizeof(name) - 1));
    bsn_buf_printf(b,
                   ",\"kind\":2,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
                   "\"attributes\":[",
                   (unsigned long long)(end_real - dur), (unsigned long long)end_real);
    put_attr_str(b, "http.request.method", q->method.base, q->method.len, false);
    put_attr_str(b, "url.path", q->path.base, q->path.len, true);
    put_attr_str(b, "server.address", q->host.base, q->host.len, true);
    put_attr_str(b, "client.address", c->peer_ip, strlen(c->peer_ip), true);
    bsn_buf_printf(b, ",{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"%d\"}}",
                   c->status);
    const char *rn = bsn_gw_route_name((const struct bsn_gw_route *)c->route);
    put_attr_str(b, "bosun.route", rn, strlen(rn), true);
    if (c->backend && c->ep >= 0 && (uint32_t)c->ep < c->backend->neps) {
        const char *up = c->backend->eps[c->ep].name;
        put_attr_str(b, "bosun.upstream", up, strlen(up), true);
    }
    bsn_buf_printf(b, "],\"status\":{\"code\":%d}}",
                   c->status >= 500 || c->status == 0 || c->aborted ? 2 : 0);
    w->nspans++;
}

void
gw_otlp_metrics(struct bsn_gw *gw, struct bsn_buf *out)
{
    struct gw_otlp *o = gw->otlp;
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    uint64_t ex = o->exported, dr = o->dropped, fp = o->failed_posts;
    pthread_mutex_unlock(&o->mu);
    bsn_buf_printf(out,
                   "# TYPE bosun_gateway_otlp_spans_exported_total counter\n"
                   "bosun_gateway_otlp_spans_exported_total %llu\n"
                   "# TYPE bosun_gateway_otlp_spans_dropped_total counter\n"
                   "bosun_gateway_otlp_spans_dropped_total %llu\n"
                   "# TYPE bosun_gateway_otlp_export_failures_total counter\n"
                   "bosun_gateway_otlp_export_failures_total %llu\n",
                   (unsigned long long)ex, (unsigned long long)dr, (unsigned long long)fp);
}
