/*
 * gw_filters.h - rate limiter and credential checks used by filters.c, exposed for the unit
 * tests. Internal.
 */
#ifndef BSN_GATEWAY_GW_FILTERS_H
#define BSN_GATEWAY_GW_FILTERS_H

#include "gateway/gw_internal.h"

struct gw_ratelimiter;
struct gw_worker;

/* A table of nslots token buckets (rounded up to a power of two). */
struct gw_ratelimiter *gw_rl_new(size_t nslots);
void gw_rl_free(struct gw_ratelimiter *rl);
/*
 * Takes one token from the bucket of `key` (refilled at `rate` tokens/s up to `burst`).
 * Returns 0 when allowed, else the seconds until a token will be available.
 */
double gw_rl_take(struct gw_ratelimiter *rl, uint64_t key, double rate, double burst,
                  uint64_t now_ms);
/* The gateway-wide limiter of a worker (gateway.c). */
struct gw_ratelimiter *gw_ratelimiter_of(struct gw_worker *w);

/* The credential matching an "Authorization: Basic ..." value, or NULL. */
const struct gw_cred *gw_auth_basic(const struct gw_policy *p, struct bsn_str authz);
/* The credential whose API key equals key, or NULL. */
const struct gw_cred *gw_auth_apikey(const struct gw_policy *p, struct bsn_str key);

#endif
