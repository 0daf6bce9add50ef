/*
 * client.c - the kit's client for calling other services: timeouts, retries with backoff, a
 * circuit breaker, request id and traceparent propagation (see kit.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "http/client.h"
#include "kit/kit.h"

struct acall;

struct bsn_kit_client {
    struct bsn_kit_client_opts o;
    struct bsn_http_client *hc; /* created on the first async call */
    struct acall *calls;        /* pending async calls */
    char *base;
    int failures;
    enum bsn_kit_breaker_state state;
    uint64_t open_until_ms;
};

struct bsn_kit_client *
bsn_kit_client_new(const struct bsn_kit_client_opts *o)
{
    struct bsn_kit_client *c = bsn_calloc(1, sizeof(*c));
    c->o = *o;
    c->base = bsn_strdup(o->base_url ? o->base_url : "");
    size_t n = strlen(c->base);
    if (n && c->base[n - 1] == '/')
        c->base[n - 1] = 0;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = 2000;
    if (c->o.retries == 0)
        c->o.retries = 2;
    if (c->o.retries < 0)
        c->o.retries = 0;
    if (c->o.backoff_ms <= 0)
        c->o.backoff_ms = 50;
    if (c->o.breaker_failures <= 0)
        c->o.breaker_failures = 5;
    if (c->o.breaker_open_ms <= 0)
        c->o.breaker_open_ms = 5000;
    c->o.base_url = c->base;
    return c;
}

static void acall_free(struct acall *a);

void
bsn_kit_client_free(struct bsn_kit_client *c)
{
    if (!c)
        return;
    while (c->calls)
        acall_free(c->calls);
    bsn_http_client_free(c->hc);
    free(c->base);
    free(c);
}

enum bsn_kit_breaker_state
bsn_kit_client_state(const struct bsn_kit_client *c)
{
    if (c->state == BSN_KIT_OPEN && bsn_mono_ms() >= c->open_until_ms)
        return BSN_KIT_HALF_OPEN;
    return c->state;
}

static bool
idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void
failed(struct bsn_kit_client *c)
{
    c->failures++;
    if (c->state == BSN_KIT_HALF_OPEN || c->failures >= c->o.breaker_failures) {
        if (c->state != BSN_KIT_OPEN)
            bsn_warn("kit", "circuit to %s opened after %d failures", c->base, c->failures);
        c->state = BSN_KIT_OPEN;
        c->open_until_ms = bsn_mono_ms() + (uint64_t)c->o.breaker_open_ms;
    }
}

int
bsn_kit_client_call(struct bsn_kit_client *c, const struct bsn_kit_ctx *ctx, const char *method,
                    const char *path, const json_t *body, int *status, json_t **out,
                    struct bsn_err *err)
{
    bsn_err_clear(err);
    if (out)
        *out = NULL;
    *status = 0;
    enum bsn_kit_breaker_state st = bsn_kit_client_state(c);
    if (st == BSN_KIT_OPEN)
        return bsn_err_set(err, 503, "CircuitOpen", "circuit to %s is open", c->base);
    c->state = st;
    char *url = bsn_sprintf("%s%s", c->base, path);
    char *data = body ? bsn_json_dump(body) : NULL;
    char hrid[100] = "", htp[80] = "";
    const char *hdrs[3] = {NULL, NULL, NULL};
    size_t nh = 0;
    if (ctx) {
        snprintf(hrid, sizeof(hrid), "X-Request-Id: %s", bsn_kit_request_id(ctx));
        hdrs[nh++] = hrid;
        if (bsn_kit_traceparent(ctx)) {
            snprintf(htp, sizeof(htp), "traceparent: %s", bsn_kit_traceparent(ctx));
            hdrs[nh++] = htp;
        }
    }
    /* a half-open circuit gets exactly one trial */
    int attempts = 1 + (st == BSN_KIT_CLOSED && idempotent(method) ? c->o.retries : 0);
    int backoff = c->o.backoff_ms, rc = -1;
    for (int a = 0; a < attempts; a++) {
        if (a > 0) {
            sleep_ms(backoff);
            backoff *= 2;
        }
        struct bsn_http_fetch_opts fo = {
            .url = url,
            .method = method,
            .headers = hdrs,
            .body = data,
            .body_len = data ? strlen(data) : 0,
            .content_type = data ? "application/json" : NULL,
            .timeout_ms = c->o.timeout_ms,
            .max_body = 8u << 20,
        };
        struct bsn_http_fetch_result res;
        bsn_err_clear(err);
        if (bsn_http_fetch(&fo, &res, err) < 0)
            continue;
        *status = res.status;
        bool retryable = res.status == 502 || res.status == 503 || res.status == 504;
        if (retryable && a + 1 < attempts) {
            bsn_http_fetch_result_fini(&res);
            continue;
        }
        const char *ct = bsn_http_fetch_header(&res, "Content-Type");
        if (out && ct && strstr(ct, "json") && res.body_len > 0) {
            struct bsn_err jerr;
            *out = bsn_json_parse(res.body, res.body_len, &jerr);
        }
        bsn_http_fetch_result_fini(&res);
        rc = 0;
        if (retryable)
            failed(c);
        else {
            c->failures = 0;
            c->state = BSN_KIT_CLOSED;
        }
        break;
    }
    if (rc < 0)
        failed(c);
    free(url);
    free(data);
    return rc;
}

/* ---- asynchronous calls ---- */

struct acall {
    struct bsn_kit_client *c;
    struct acall *prev, *next;
    char method[16];
    char *path, *data;
    char hrid[100], htp[80];
    const char *hdrs[3];
    int attempts_left, backoff;
    struct bsn_timer timer;
    struct bsn_http_call *call;
    struct bsn_err err;
    bsn_kit_client_cb cb;
    void *cbdata;
};

static void
acall_free(struct acall *a)
{
    struct bsn_kit_client *c = a->c;
    if (a->call)
        bsn_http_call_cancel(a->call);
    bsn_timer_stop(c->o.loop, &a->timer);
    if (a->prev)
        a->prev->next = a->next;
    else
        c->calls = a->next;
    if (a->next)
        a->next->prev = a->prev;
    free(a->path);
    free(a->data);
    free(a);
}

/* Ends a call: breaker bookkeeping, the callback, free. */
static void
acall_end(struct acall *a, int status, const char *body, size_t len, bool json)
{
    struct bsn_kit_client *c = a->c;
    if (status == 0 || status == 502 || status == 503 || status == 504) {
        if (strcmp(a->err.reason, "CircuitOpen") != 0)
            failed(c);
    } else {
        c->failures = 0;
        c->state = BSN_KIT_CLOSED;
    }
    json_t *v = NULL;
    if (json && len > 0) {
        struct bsn_err jerr;
        v = bsn_json_parse(body, len, &jerr);
    }
    bsn_kit_client_cb cb = a->cb;
    void *cbdata = a->cbdata;
    struct bsn_err err;
    bsn_err_copy(&err, &a->err);
    acall_free(a);
    cb(status, v, status ? NULL : &err, cbdata);
    json_decref(v);
}

static void attempt(struct bsn_loop *loop, void *data);

static void
acall_done(const struct bsn_http_client_resp *resp, void *data)
{
    struct acall *a = data;
    a->call = NULL;
    bool retryable =
        resp->status == 0 || resp->status == 502 || resp->status == 503 || resp->status == 504;
    if (resp->status == 0 && resp->err)
        bsn_err_copy(&a->err, resp->err);
    if (retryable && a->attempts_left > 0) {
        bsn_timer_start(a->c->o.loop, &a->timer, (uint64_t)a->backoff, attempt, a);
        a->backoff *= 2;
        return;
    }
    if (resp->status == 0 && !bsn_err_is_set(&a->err))
        bsn_err_set(&a->err, 502, "BadGateway", "%s%s: no answer", a->c->base, a->path);
    const char *ct = NULL;
    for (size_t i = 0; i < resp->nheaders; i++)
        if (bsn_str_case_eq(resp->headers[i].name, "Content-Type"))
            ct = resp->headers[i].value.base;
    acall_end(a, resp->status, resp->body, resp->body_len, ct && strstr(ct, "json"));
}

static void
attempt(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    struct acall *a = data;
    if (a->attempts_left < 0) { /* the circuit was open: fail from the loop */
        acall_end(a, 0, NULL, 0, false);
        return;
    }
    a->attempts_left--;
    struct bsn_http_call_opts o = {
        .method = a->method,
        .path = a->path,
        .headers = a->hdrs,
        .body = a->data,
        .body_len = a->data ? strlen(a->data) : 0,
        .content_type = a->data ? "application/json" : NULL,
        .timeout_ms = (unsigned)a->c->o.timeout_ms,
        .on_done = acall_done,
        .data = a,
    };
    a->call = bsn_http_client_request(a->c->hc, &o);
}

int
bsn_kit_client_call_async(struct bsn_kit_client *c, const struct bsn_kit_ctx *ctx,
                          const char *method, const char *path, const json_t *body,
                          bsn_kit_client_cb cb, void *data)
{
    if (!c->o.loop)
        return -1;
    if (!c->hc) {
        struct bsn_http_client_opts ho = {.base_url = c->base, .max_body = 8u << 20};
        struct bsn_err err;
        c->hc = bsn_http_client_new(c->o.loop, &ho, &err);
        if (!c->hc) {
            bsn_error("kit", "client %s: %s", c->base, err.msg);
            return -1;
        }
    }
    struct acall *a = bsn_calloc(1, sizeof(*a));
    a->c = c;
    snprintf(a->method, sizeof(a->method), "%s", method);
    a->path = bsn_strdup(path);
    a->data = body ? bsn_json_dump(body) : NULL;
    size_t nh = 0;
    if (ctx) {
        snprintf(a->hrid, sizeof(a->hrid), "X-Request-Id: %s", bsn_kit_request_id(ctx));
        a->hdrs[nh++] = a->hrid;
        if (bsn_kit_traceparent(ctx)) {
            snprintf(a->htp, sizeof(a->htp), "traceparent: %s", bsn_kit_traceparent(ctx));
            a->hdrs[nh++] = a->htp;
        }
    }
    a->cb = cb;
    a->cbdata = data;
    a->backoff = c->o.backoff_ms;
    bsn_timer_init(&a->timer);
    a->next = c->calls;
    if (c->calls)
        c->calls->prev = a;
    c->calls = a;
    enum bsn_kit_breaker_state st = bsn_kit_client_state(c);
    if (st == BSN_KIT_OPEN) {
        bsn_err_set(&a->err, 503, "CircuitOpen", "circuit to %s is open", c->base);
        a->attempts_left = -1;
    } else {
        c->state = st;
        a->attempts_left = 1 + (st == BSN_KIT_CLOSED && idempotent(method) ? c->o.retries : 0);
    }
    bsn_timer_start(c->o.loop, &a->timer, 0, attempt, a);
    return 0;
}
