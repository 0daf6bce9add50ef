/*
 * lb.c - choosing a backend (weights) and an endpoint (round robin, least request, random,
 * consistent hash), and passive outlier detection.
 *
 * All state is per worker thread (Envoy does the same for least-request and outlier
 * counters): no locks, no shared cache lines. An endpoint is "available" when it is not
 * ejected by this thread's outlier detection and the active health check has not marked it
 * down. When no endpoint is available the selection ignores health (panic mode) rather than
 * failing every request.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "gateway/gw_worker.h"

#define RING_VNODES 100

static int
ring_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct gw_ring_entry *)a)->hash;
    uint32_t y = ((const struct gw_ring_entry *)b)->hash;
    return x < y ? -1 : x > y;
}

void
gw_lb_build_ring(struct gw_backend *b)
{
    if (b->neps == 0)
        return;
    b->nring = b->neps * RING_VNODES;
    b->ring = bsn_malloc(b->nring * sizeof(*b->ring));
    for (uint32_t e = 0; e < b->neps; e++)
        for (uint32_t v = 0; v < RING_VNODES; v++) {
            const char *n = b->eps[e].name;
            b->ring[e * RING_VNODES + v] =
                (struct gw_ring_entry){(uint32_t)gw_hash_bytes(n, strlen(n), v + 1), e};
        }
    qsort(b->ring, b->nring, sizeof(*b->ring), ring_cmp);
}

struct gw_backend *
gw_lb_pick_backend(struct gw_worker *w, const struct gw_route *r)
{
    if (r->nbackends == 1)
        return r->backends[0].b;
    if (r->nbackends == 0 || r->total_weight == 0)
        return NULL;
    uint32_t x = (uint32_t)(gw_rand(w) % r->total_weight);
    for (int i = 0; i < r->nbackends; i++) {
        if (x < r->backends[i].weight)
            return r->backends[i].b;
        x -= r->backends[i].weight;
    }
    return r->backends[r->nbackends - 1].b;
}

static bool
available(struct gw_worker *w, const struct gw_backend *b, uint32_t i, uint64_t now)
{
    uint32_t id = b->eps[i].host_id;
    struct gw_host *h = gw_host_get(w, id);
    if (h && h->ejected_until > now)
        return false;
    struct gw_host_info *hi = __atomic_load_n(&w->gw->host_info[id], __ATOMIC_ACQUIRE);
    if (hi && !atomic_load_explicit(&hi->healthy, memory_order_relaxed))
        return false;
    return true;
}

/*
 * Slow start: an endpoint that joined less than the window ago is taken with probability
 * max(min, (age / window)^(1 / aggression)) when the balancer lands on it (Envoy's formula).
 */
static bool
ramp_ok(struct gw_worker *w, const struct gw_policy *p, const struct gw_backend *b, uint32_t i,
        uint64_t now)
{
    uint64_t added = b->eps[i].added_ms;
    if (!p->slow_start_ms || !added || now >= added + p->slow_start_ms)
        return true;
    double f = pow((double)(now - added) / p->slow_start_ms, 1.0 / p->slow_start_aggression);
    if (f < p->slow_start_min)
        f = p->slow_start_min;
    return (double)(gw_rand(w) >> 11) * 0x1p-53 < f;
}

static uint64_t
hash_key(const struct gw_policy *p, const struct gw_lb_ctx *ctx)
{
    if (p->hash_src == GW_HASH_HEADER && ctx->req) {
        const struct bsn_http_header *h =
            bsn_http_find_header(ctx->req->headers, ctx->req->nheaders, p->hash_name);
        if (h)
            return gw_hash_bytes(h->value.base, h->value.len, 7);
    } else if (p->hash_src == GW_HASH_COOKIE && ctx->req) {
        const struct bsn_http_header *h =
            bsn_http_find_header(ctx->req->headers, ctx->req->nheaders, "cookie");
        size_t nl = strlen(p->hash_name);
        if (h) {
            const char *s = h->value.base, *end = s + h->value.len;
            while (s < end) {
                while (s < end && (*s == ' ' || *s == ';'))
                    s++;
                const char *semi = memchr(s, ';', (size_t)(end - s));
                const char *stop = semi ? semi : end;
                if ((size_t)(stop - s) > nl && memcmp(s, p->hash_name, nl) == 0 && s[nl] == '=')
                    return gw_hash_bytes(s + nl + 1, (size_t)(stop - s - nl - 1), 7);
                s = stop;
            }
        }
    }
    if (ctx->client) {
        if (ctx->client->sa_family == AF_INET)
            return gw_hash_bytes(&((const struct sockaddr_in *)ctx->client)->sin_addr, 4, 7);
        if (ctx->client->sa_family == AF_INET6)
            return gw_hash_bytes(&((const struct sockaddr_in6 *)ctx->client)->sin6_addr, 16, 7);
    }
    return 0;
}

int
gw_lb_pick_endpoint(struct gw_worker *w, const struct gw_route *r, const struct gw_backend *b,
                    const struct gw_lb_ctx *ctx, int avoid)
{
    uint32_t n = b->neps;
    if (n == 0)
        return -1;
    if (n == 1)
        return 0;
    uint64_t now = bsn_loop_now(w->loop);
    const struct gw_policy *p = r->policy;
    uint32_t navail = 0;
    for (uint32_t i = 0; i < n && navail < 2; i++)
        navail += available(w, b, i, now) && (int)i != avoid;
    bool panic = navail == 0;
#define OK(i)  (panic ? (int)(i) != avoid || n == 1 : available(w, b, (i), now) && (int)(i) != avoid)
#define OKR(i) (OK(i) && ramp_ok(w, p, b, (i), now))
    switch (p->lb) {
    case GW_LB_HASH:
        if (b->ring) {
            uint32_t h = (uint32_t)hash_key(p, ctx);
            uint32_t lo = 0, hi = b->nring;
            while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (b->ring[mid].hash < h)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (uint32_t k = 0; k < b->nring; k++) {
                uint32_t e = b->ring[(lo + k) % b->nring].ep;
                if (OK(e))
                    return (int)e;
            }
        }
        break;
    case GW_LB_LEAST_REQUEST: {
        /* power of two choices */
        int best = -1, best_active = 0;
        for (int tries = 0; tries < 2; tries++) {
            for (int k = 0; k < 4; k++) {
                uint32_t e = (uint32_t)(gw_rand(w) % n);
                if (!OKR(e))
                    continue;
                struct gw_host *h = gw_host_get(w, b->eps[e].host_id);
                int act = h ? h->active : 0;
                if (best < 0 || act < best_active) {
                    best = (int)e;
                    best_active = act;
                }
                break;
            }
        }
        if (best >= 0)
            return best;
        break;
    }
    case GW_LB_RANDOM: {
        uint32_t start = (uint32_t)(gw_rand(w) % n);
        for (uint32_t k = 0; k < n; k++)
            if (OKR((start + k) % n))
                return (int)((start + k) % n);
        break;
    }
    case GW_LB_ROUND_ROBIN:
        break;
    }
    uint32_t start = 0;
    if (b->idx < w->nrr)
        start = w->rr[b->idx]++;
    for (uint32_t k = 0; k < n; k++)
        if (OKR((start + k) % n))
            return (int)((start + k) % n);
    for (uint32_t k = 0; k < n; k++)
        if (OK((start + k) % n))
            return (int)((start + k) % n);
#undef OKR
#undef OK
    return (int)(start % n);
}

void
gw_lb_report(struct gw_worker *w, const struct gw_route *r, const struct gw_backend *b, uint32_t ep,
             int status)
{
    struct gw_host *h = gw_host_get(w, b->eps[ep].host_id);
    if (!h)
        return;
    const struct gw_policy *p = r->policy;
    GW_INC(&h->requests, 1);
    /* status 0: connect failure / reset, counted like a 5xx (Envoy's gateway errors) */
    if (status != 0 && status < 500) {
        h->consecutive_5xx = 0;
        return;
    }
    GW_INC(&h->failures, 1);
    if (p->outlier_consecutive_5xx <= 0 || ++h->consecutive_5xx < p->outlier_consecutive_5xx)
        return;
    h->consecutive_5xx = 0;
    uint64_t now = bsn_loop_now(w->loop);
    uint32_t ejected = 0;
    for (uint32_t i = 0; i < b->neps; i++) {
        struct gw_host *o = gw_host_get(w, b->eps[i].host_id);
        ejected += o && o->ejected_until > now;
    }
    uint32_t max = b->neps * (uint32_t)p->outlier_max_pct / 100;
    if (max < 1)
        max = 1;
    if (ejected >= max || b->neps < 2)
        return;
    h->ejections = h->ejections < 10 ? h->ejections + 1 : 10;
    h->ejected_until = now + (uint64_t)p->outlier_base_ms * (uint64_t)h->ejections;
    GW_INC(&h->ejected_total, 1);
}
