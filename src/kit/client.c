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

struct bsn_kit_client {
    struct bsn_kit_client_opts o;
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

void
bsn_kit_client_free(struct bsn_kit_client *c)
{
    if (!c)
        return;
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
    int attempts = 1 + (idempotent(method) || (st == BSN_KIT_HALF_OPEN) ? c->o.retries : 0);
    if (st == BSN_KIT_HALF_OPEN)
        attempts = 1;
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
