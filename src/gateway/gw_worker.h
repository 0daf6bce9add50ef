/*
 * gw_worker.h - data-plane internals: the gateway object, worker threads, per-thread upstream
 * host state, connections and statistics. Shared by gateway.c (lifecycle, publish, admin),
 * proxy.c (the HTTP proxy state machine), lb.c (endpoint selection) and filters.c (policies).
 */
#ifndef BSN_GATEWAY_GW_WORKER_H
#define BSN_GATEWAY_GW_WORKER_H

#include <pthread.h>
#include <stdio.h>
#include <sys/uio.h>

#include "base/map.h"
#include "gateway/gw_internal.h"
#include "http/parser.h"
#include "loop/loop.h"

#define GW_IN_CAP       16384 /* client read buffer: a request head must fit (else 431) */
#define GW_UP_CAP       16384 /* upstream read buffer: a response head must fit (else 502) */
#define GW_HOST_CHUNK   256
#define GW_HOST_CHUNKS  256 /* at most 65,536 distinct upstream endpoints */
#define GW_POOL_MAX     256 /* idle keep-alive connections per endpoint per thread */
#define GW_POOL_IDLE_MS 30000
#define GW_LAT_BUCKETS  12

/* Relaxed counters: written by one thread, read by the admin thread. */
#define GW_INC(p, v) \
    __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define GW_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* Per-route, per-thread counters (one cache line pair each). */
struct gw_stat_cell {
    uint64_t requests, status[6]; /* status[1..5] = 1xx..5xx, [0] = no response */
    uint64_t bytes_in, bytes_out;
    uint64_t lat_sum_us;
    uint64_t lat[GW_LAT_BUCKETS];
    int64_t inflight;     /* requests of the route in flight on this thread (concurrency limit) */
    uint64_t rejected;    /* refused by the concurrency limit */
    uint64_t ratelimited; /* answered 429 by the rate limiter */
} __attribute__((aligned(64)));

struct gw_stats {
    char *name;
    char *label;                /* name escaped for a Prometheus label value */
    struct gw_stat_cell *cells; /* [nthreads] */
};

/* Gateway-wide record of an upstream endpoint address. */
struct gw_host_info {
    char name[64];
    atomic_int healthy; /* active health check verdict (1 until a check fails) */
    uint64_t seen_gen;  /* last publish whose configuration had it (gw->mu) */
    uint64_t added_ms;  /* when it (re)appeared after the first publish, for slow start */
};

/* Per-thread state of an upstream endpoint. */
struct gw_upconn;
struct gw_host {
    struct gw_upconn *idle;
    int nidle;
    int active, conns, pending;
    int consecutive_5xx, ejections;
    uint64_t ejected_until;
    /* counters read by /metrics */
    uint64_t requests, failures, ejected_total, connects;
};

/* A snapshot as seen by one worker: counts this worker's requests still using it. */
struct gw_cfg_ref {
    struct bsn_gw_config *cfg;
    long inflight;
    bool retired;
};

struct gw_bucket {
    uint64_t key;
    double tokens;
    uint64_t last_ms;
};

struct gw_conn;
struct bsn_http_server;
struct gw_tls_shim;

struct gw_worker {
    struct bsn_gw *gw;
    int id;
    struct bsn_loop *loop;
    pthread_t thread;
    int lfds[2 * BSN_GW_MAX_LISTENERS];
    bool lfd_tls[2 * BSN_GW_MAX_LISTENERS];
    int nlfds;
    struct gw_conn *tls_pend; /* TLS connections with decrypted bytes waiting (tls.c) */
    struct gw_cfg_ref *cur;
    struct gw_host *hosts[GW_HOST_CHUNKS];
    uint32_t *rr;
    size_t nrr;
    uint64_t rng;
    struct gw_conn *free_conns;
    struct gw_conn *conns; /* open connections, for shutdown */
    int nfree_conns;
    long nconns;
    struct bsn_timer sweep;
    struct bsn_timer accept_pause; /* accepts paused after EMFILE */
    bool draining;
    struct bsn_buf log;
    struct bsn_buf spans; /* otlp.c: span objects not yet handed to the exporter */
    uint64_t nspans;
    /* rate limiting: token buckets keyed by (route, key) hash; bounded, evicts on collision */
    struct gw_bucket *buckets;
    size_t nbuckets;
    /* retry budget */
    long active_requests, active_retries;
    uint64_t conns_total, requests_total, cache_hits;
    struct gw_cache *cache;        /* cache.c, created on first store */
    struct gw_mirror *mirror_list; /* mirror.c: in-flight mirrored requests */
    struct bsn_http_server *h2srv; /* h2front.c: HTTP/2 client connections (created lazily) */
    struct gw_grpc *grpc;          /* h2grpc.c: gRPC pass-through state (created lazily) */
    struct gw_tls_shim *tls_shims; /* upstream_tls.c: TLS connections to upstreams */
    int mirrors;
};

struct bsn_gw {
    struct bsn_gw_options opts;
    char *listen[BSN_GW_MAX_LISTENERS];
    char *admin_addr, *access_log_path;
    int log_fd; /* -1 = off */
    int nthreads;
    struct gw_worker *workers;
    pthread_mutex_t mu; /* guards registries, cur, publish */
    struct bsn_gw_config *cur;
    struct bsn_map stats;    /* route name -> struct gw_stats* */
    struct bsn_map host_ids; /* endpoint name -> (id + 1) */
    struct gw_host_info **host_info;
    uint32_t nhosts;
    uint64_t reloads;
    uint64_t publish_gen; /* publishes so far (gw->mu) */
    bool had_endpoints;   /* a published configuration had endpoints (slow start) */
    struct gw_ratelimiter *rl;
    void *tls_ctx;        /* listening SSL_CTX with the SNI callback, NULL without --tls-listen */
    struct gw_hc *hc;     /* active health checks (healthcheck.c) */
    struct gw_otlp *otlp; /* span exporter (otlp.c), NULL without an endpoint */
    struct gw_jwks *jwks; /* jwksUri fetcher (jwks.c) */
    /* admin */
    int admin_fd;
    struct bsn_loop *admin_loop;
    pthread_t admin_thread;
    bool started;
};

static inline struct gw_host *
gw_host_get(struct gw_worker *w, uint32_t id)
{
    struct gw_host *chunk = w->hosts[id / GW_HOST_CHUNK];
    return chunk ? &chunk[id % GW_HOST_CHUNK] : NULL;
}

static inline uint64_t
gw_rand(struct gw_worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return x;
}

/* lb.c */
struct gw_lb_ctx {
    const struct sockaddr *client;
    const struct bsn_http_request_head *req;
};
/* Picks a backend of r by weight. */
struct gw_backend *gw_lb_pick_backend(struct gw_worker *w, const struct gw_route *r);
/* Picks an endpoint index of b, or -1 when it has none. `avoid` (or -1) is skipped if possible. */
int gw_lb_pick_endpoint(struct gw_worker *w, const struct gw_route *r, const struct gw_backend *b,
                        const struct gw_lb_ctx *ctx, int avoid);
/* Reports the outcome of a request to an endpoint (passive outlier detection). */
void gw_lb_report(struct gw_worker *w, const struct gw_route *r, const struct gw_backend *b,
                  uint32_t ep, int status);

/* jwks.c */
struct gw_jwks;
struct gw_jwks *gw_jwks_new(struct bsn_gw *gw);
void gw_jwks_free(struct gw_jwks *j);
json_t *gw_jwks_prepare(struct gw_jwks *j, const json_t *objects);

/* healthcheck.c */
struct gw_hc;
void gw_hc_init(struct bsn_gw *gw);
/* Rebuilds the probe list from a published config (gw->mu held). */
void gw_hc_update(struct bsn_gw *gw, const struct bsn_gw_config *cfg);
int gw_hc_start(struct bsn_gw *gw);
void gw_hc_stop(struct bsn_gw *gw);
void gw_hc_free(struct bsn_gw *gw);

/* proxy.c */
void gw_proxy_accept(struct bsn_loop *loop, int fd, unsigned events, void *data);
void gw_proxy_accept_tls(struct bsn_loop *loop, int fd, unsigned events, void *data);
void gw_proxy_worker_init(struct gw_worker *w);
void gw_proxy_worker_fini(struct gw_worker *w);
/* Stops accepting and closes idle connections; the rest close after their response. */
void gw_proxy_drain(struct gw_worker *w);
/* Drops idle pool connections not belonging to the current hosts (after a swap). */
void gw_proxy_sweep(struct bsn_loop *loop, void *data);

/* filters.c: request policies. Return 0 to continue or a status already answered. */
struct gw_local_reply {
    int status;
    const char *body;
    struct bsn_buf headers; /* extra "Name: value\r\n" lines */
};
/*
 * Runs ip allow/deny, CORS preflight, auth and rate limiting for a request. Returns 0 when the
 * request may proceed (extra request headers to forward appended to fwd_headers), or a status
 * with *reply filled (caller sends it).
 */
int gw_filters_request(struct gw_worker *w, const struct gw_route *r,
                       const struct bsn_http_request_head *req, const struct sockaddr *peer,
                       struct bsn_buf *fwd_headers, struct gw_local_reply *reply);
/* Adds CORS response headers for an allowed Origin. */
void gw_filters_cors_response(const struct gw_policy *p, const struct bsn_http_request_head *req,
                              struct bsn_buf *out);

#endif
