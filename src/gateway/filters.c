/*
 * filters.c - request policies run before a request is proxied, in this order:
 *   1. ipAllow / ipDeny                       -> 403
 *   2. CORS preflight (OPTIONS + Origin + Access-Control-Request-Method) -> 204 / 403
 *   3. auth: API key (header) or Basic        -> 401 (WWW-Authenticate for Basic)
 *   4. local rate limit (token bucket)        -> 429 with Retry-After and RateLimit-* headers
 *
 * Rate-limit buckets live in one gateway-wide table of fixed size (bounded memory: a new key
 * evicts whatever hashed to its slot) so that a limit means the same thing whatever thread a
 * client's connection landed on; each slot has its own spinlock, taken only by requests on
 * rate-limited routes that hash to it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/time.h"
#include "gateway/gw_filters.h"
#include "gateway/gw_jwt.h"
#include "gateway/gw_worker.h"

struct gw_rl_slot {
    pthread_spinlock_t lock;
    uint64_t key;
    double tokens;
    uint64_t last_ms;
} __attribute__((aligned(64)));

struct gw_ratelimiter {
    struct gw_rl_slot *slots;
    size_t mask;
};

struct gw_ratelimiter *
gw_rl_new(size_t nslots)
{
    struct gw_ratelimiter *rl = bsn_calloc(1, sizeof(*rl));
    size_t n = 1;
    while (n < nslots)
        n <<= 1;
    rl->slots = aligned_alloc(64, n * sizeof(*rl->slots));
    if (!rl->slots)
        abort();
    memset(rl->slots, 0, n * sizeof(*rl->slots));
    for (size_t i = 0; i < n; i++)
        pthread_spin_init(&rl->slots[i].lock, PTHREAD_PROCESS_PRIVATE);
    rl->mask = n - 1;
    return rl;
}

void
gw_rl_free(struct gw_ratelimiter *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i <= rl->mask; i++)
        pthread_spin_destroy(&rl->slots[i].lock);
    free(rl->slots);
    free(rl);
}

double
gw_rl_take(struct gw_ratelimiter *rl, uint64_t key, double rate, double burst, uint64_t now_ms)
{
    if (key == 0)
        key = 1;
    struct gw_rl_slot *s = &rl->slots[key & rl->mask];
    pthread_spin_lock(&s->lock);
    if (s->key != key) {
        s->key = key;
        s->tokens = burst;
        s->last_ms = now_ms;
    } else if (now_ms > s->last_ms) {
        s->tokens = fmin(burst, s->tokens + rate * (double)(now_ms - s->last_ms) / 1000.0);
        s->last_ms = now_ms;
    }
    double wait = 0;
    if (s->tokens >= 1.0)
        s->tokens -= 1.0;
    else
        wait = (1.0 - s->tokens) / rate;
    pthread_spin_unlock(&s->lock);
    return wait;
}

/* Constant-time comparison of a request value with a stored secret. */
static bool
secret_eq(struct bsn_str v, const char *secret)
{
    size_t n = strlen(secret);
    unsigned diff = (unsigned)(v.len ^ n);
    for (size_t i = 0; i < v.len; i++)
        diff |= (unsigned char)v.base[i] ^ (unsigned char)(i < n ? secret[i] : 0);
    return diff == 0;
}

static int
b64_decode_into(struct bsn_str in, char *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in.len; i++) {
        int c = (unsigned char)in.base[i], v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    *outlen = o;
    return 0;
}

const struct gw_cred *
gw_auth_basic(const struct gw_policy *p, struct bsn_str authz)
{
    if (authz.len < 6 || strncasecmp(authz.base, "Basic ", 6) != 0)
        return NULL;
    char dec[512];
    size_t n;
    struct bsn_str b64 = {authz.base + 6, authz.len - 6};
    while (b64.len && b64.base[0] == ' ') {
        b64.base++;
        b64.len--;
    }
    if (b64_decode_into(b64, dec, sizeof(dec), &n) < 0)
        return NULL;
    const struct gw_cred *found = NULL;
    for (int i = 0; i < p->nbasic; i++)
        if (p->basic[i].secret && secret_eq((struct bsn_str){dec, n}, p->basic[i].secret))
            found = &p->basic[i];
    return found;
}

const struct gw_cred *
gw_auth_apikey(const struct gw_policy *p, struct bsn_str key)
{
    const struct gw_cred *found = NULL;
    for (int i = 0; i < p->napikeys; i++)
        if (secret_eq(key, p->apikeys[i].secret))
            found = &p->apikeys[i];
    return found;
}

static bool
origin_allowed(const struct gw_policy *p, struct bsn_str origin)
{
    for (int i = 0; i < p->ncors_origins; i++) {
        const char *o = p->cors_origins[i];
        if (strcmp(o, "*") == 0 || bsn_str_eq(origin, o))
            return true;
    }
    return false;
}

void
gw_filters_cors_response(const struct gw_policy *p, const struct bsn_http_request_head *req,
                         struct bsn_buf *out)
{
    const struct bsn_http_header *o = bsn_http_find_header(req->headers, req->nheaders, "origin");
    if (!o || !origin_allowed(p, o->value))
        return;
    bsn_buf_puts(out, "Access-Control-Allow-Origin: ");
    bsn_buf_append(out, o->value.base, o->value.len);
    bsn_buf_puts(out, "\r\nVary: Origin\r\n");
    if (p->cors_credentials)
        bsn_buf_puts(out, "Access-Control-Allow-Credentials: true\r\n");
    if (p->cors_expose)
        bsn_buf_printf(out, "Access-Control-Expose-Headers: %s\r\n", p->cors_expose);
}

static bool
ip_allowed(const struct gw_policy *p, const struct sockaddr *peer)
{
    for (int i = 0; i < p->ndeny; i++)
        if (gw_cidr_match(&p->deny[i], peer))
            return false;
    if (p->nallow == 0)
        return true;
    for (int i = 0; i < p->nallow; i++)
        if (gw_cidr_match(&p->allow[i], peer))
            return true;
    return false;
}

int
gw_filters_request(struct gw_worker *w, const struct gw_route *r,
                   const struct bsn_http_request_head *req, const struct sockaddr *peer,
                   struct bsn_buf *fwd, struct gw_local_reply *reply)
{
    const struct gw_policy *p = r->policy;
    if ((p->nallow || p->ndeny) && !ip_allowed(p, peer)) {
        reply->body = "forbidden\n";
        return 403;
    }
    if (p->ncors_origins && bsn_str_eq(req->method, "OPTIONS")) {
        const struct bsn_http_header *o =
            bsn_http_find_header(req->headers, req->nheaders, "origin");
        const struct bsn_http_header *m =
            bsn_http_find_header(req->headers, req->nheaders, "access-control-request-method");
        if (o && m) {
            if (!origin_allowed(p, o->value)) {
                reply->body = "CORS origin not allowed\n";
                return 403;
            }
            gw_filters_cors_response(p, req, &reply->headers);
            bsn_buf_printf(&reply->headers,
                           "Access-Control-Allow-Methods: %s\r\nAccess-Control-Max-Age: %d\r\n",
                           p->cors_methods ? p->cors_methods : "GET, POST, PUT, DELETE, PATCH",
                           p->cors_max_age);
            if (p->cors_headers)
                bsn_buf_printf(&reply->headers, "Access-Control-Allow-Headers: %s\r\n",
                               p->cors_headers);
            reply->body = "";
            return 204;
        }
    }
    struct bsn_str api_key = BSN_STR_NULL;
    if (p->apikey_header || p->basic || p->jwt) {
        const struct gw_cred *who = NULL;
        const char *why = NULL;
        if (p->jwt) {
            const struct bsn_http_header *h =
                bsn_http_find_header(req->headers, req->nheaders, "authorization");
            if (h && h->value.len > 7 && strncasecmp(h->value.base, "Bearer ", 7) == 0) {
                struct bsn_str tok = {h->value.base + 7, h->value.len - 7};
                size_t mark = fwd->len;
                if (gw_jwt_verify(p->jwt, tok, (int64_t)bsn_time_now(), fwd, &why) == 0)
                    goto authed;
                fwd->len = mark;
            } else {
                why = "missing bearer token";
            }
        }
        if (p->apikey_header) {
            const struct bsn_http_header *h =
                bsn_http_find_header(req->headers, req->nheaders, p->apikey_header);
            if (h) {
                api_key = h->value;
                who = gw_auth_apikey(p, h->value);
            }
        }
        if (!who && p->basic) {
            const struct bsn_http_header *h =
                bsn_http_find_header(req->headers, req->nheaders, "authorization");
            if (h)
                who = gw_auth_basic(p, h->value);
        }
        if (!who) {
            if (p->basic)
                bsn_buf_printf(&reply->headers, "WWW-Authenticate: Basic realm=\"%s\"\r\n",
                               p->basic_realm ? p->basic_realm : "bosun");
            if (p->jwt)
                bsn_buf_printf(&reply->headers,
                               "WWW-Authenticate: Bearer error=\"invalid_token\", "
                               "error_description=\"%s\"\r\n",
                               why ? why : "missing bearer token");
            reply->body = "unauthorized\n";
            return 401;
        }
        bsn_buf_printf(fwd, "X-Auth-User: %s\r\n", who->user);
    }
authed:
    if (p->rl_rate > 0) {
        uint64_t key = gw_hash_bytes(r->name, strlen(r->name), 11);
        switch (p->rl_key) {
        case GW_RL_ROUTE:
            break;
        case GW_RL_CLIENT_IP:
            if (peer->sa_family == AF_INET)
                key = gw_hash_bytes(&((const struct sockaddr_in *)peer)->sin_addr, 4, key);
            else if (peer->sa_family == AF_INET6)
                key = gw_hash_bytes(&((const struct sockaddr_in6 *)peer)->sin6_addr, 16, key);
            break;
        case GW_RL_HEADER: {
            const struct bsn_http_header *h =
                bsn_http_find_header(req->headers, req->nheaders, p->rl_header);
            if (h)
                key = gw_hash_bytes(h->value.base, h->value.len, key);
            break;
        }
        case GW_RL_API_KEY:
            if (api_key.len)
                key = gw_hash_bytes(api_key.base, api_key.len, key);
            break;
        }
        double wait =
            gw_rl_take(gw_ratelimiter_of(w), key, p->rl_rate, p->rl_burst, bsn_loop_now(w->loop));
        if (wait > 0) {
            int secs = (int)ceil(wait);
            bsn_buf_printf(&reply->headers,
                           "Retry-After: %d\r\nRateLimit-Limit: %.0f\r\nRateLimit-Remaining: 0\r\n"
                           "RateLimit-Reset: %d\r\n",
                           secs, p->rl_burst, secs);
            reply->body = "rate limited\n";
            if (r->stats)
                GW_INC(&r->stats->cells[w->id].ratelimited, 1);
            return 429;
        }
    }
    return 0;
}
