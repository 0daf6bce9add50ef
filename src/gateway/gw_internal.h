/*
 * gw_internal.h - the gateway's compiled configuration model, shared by the config compiler
 * (config.c, policy_parse.c), the router (router.c), load balancing (lb.c) and the data plane
 * (proxy.c). Not a public interface: see gateway.h.
 *
 * Everything reachable from a struct bsn_gw_config is immutable once built, except the
 * fields documented as "bound at publish" (filled once by bsn_gw_publish() before any worker
 * sees the snapshot) and the refcount.
 */
#ifndef BSN_GATEWAY_GW_INTERNAL_H
#define BSN_GATEWAY_GW_INTERNAL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "gateway/gateway.h"

#define GW_MAX_THREADS 64

/* --- policy (GatewayPolicy spec, compiled) --- */

enum gw_lb_kind { GW_LB_ROUND_ROBIN, GW_LB_LEAST_REQUEST, GW_LB_RANDOM, GW_LB_HASH };
enum gw_hash_src { GW_HASH_CLIENT_IP, GW_HASH_HEADER, GW_HASH_COOKIE };
enum gw_rl_key { GW_RL_ROUTE, GW_RL_CLIENT_IP, GW_RL_HEADER, GW_RL_API_KEY };

struct gw_jwt;

struct gw_cidr {
    int family; /* AF_INET / AF_INET6 */
    uint8_t addr[16];
    int bits;
};

struct gw_kv {
    char *name, *value;
    size_t name_len, value_len;
};

struct gw_header_mod {
    struct gw_kv *set, *add;
    char **remove;
    int nset, nadd, nremove;
};

/* One credential accepted by apiKey or basic auth: the key, or "user:password". */
struct gw_cred {
    char *secret; /* api key, or "user:password" */
    char *user;   /* forwarded as X-Auth-User */
};

struct gw_backend;

/* One upstream request of an aggregating route (policy "aggregate", aggregate.c). */
struct gw_agg_part {
    char *name;    /* key in the merged JSON object */
    char *service; /* Service in the policy's namespace */
    int port;
    char *path;                 /* request path (and query) sent to it */
    struct gw_backend *backend; /* resolved by the config compiler */
};

struct gw_policy {
    /* which fields were set (for merging a route policy over a service policy) */
    unsigned set;
#define GW_P_LB       0x001
#define GW_P_TIMEOUTS 0x002
#define GW_P_RETRY    0x004
#define GW_P_OUTLIER  0x008
#define GW_P_RATE     0x010
#define GW_P_AUTH     0x020
#define GW_P_IP       0x040
#define GW_P_CORS     0x080
#define GW_P_HEADERS  0x100
#define GW_P_CB       0x200
#define GW_P_HC       0x400
#define GW_P_COMP     0x800
#define GW_P_CACHE    0x1000
#define GW_P_TRACE    0x2000
#define GW_P_LIMITS   0x4000
#define GW_P_AGG      0x8000
#define GW_P_FALLBACK 0x10000
#define GW_P_CONC     0x20000
#define GW_P_BTLS     0x40000
    enum gw_lb_kind lb;
    enum gw_hash_src hash_src;
    char *hash_name; /* header or cookie name */
    /* slow start: new endpoints get a share rising to full over the window (0 = off) */
    uint32_t slow_start_ms;
    double slow_start_aggression; /* share = max(min, (age/window)^(1/aggression)) */
    double slow_start_min;        /* minimum share, 0..1 */
    /* timeouts, ms (0 = none) */
    uint32_t connect_ms, request_ms, per_try_ms, idle_ms;
    /* retries */
    int retry_attempts;
    bool retry_5xx, retry_connect, retry_reset;
    uint32_t retry_backoff_ms;
    int retry_budget_pct;
    /* passive outlier detection */
    int outlier_consecutive_5xx;
    uint32_t outlier_base_ms;
    int outlier_max_pct;
    /* circuit breaker (per worker thread share of the totals) */
    int cb_max_connections, cb_max_pending, cb_max_requests;
    /* active health check */
    char *hc_path;
    uint32_t hc_interval_ms, hc_timeout_ms;
    int hc_unhealthy, hc_healthy;
    /* local rate limit: token bucket */
    double rl_rate; /* tokens per second */
    double rl_burst;
    enum gw_rl_key rl_key;
    char *rl_header;
    /* auth */
    char *apikey_header; /* NULL = no api key auth */
    struct gw_cred *apikeys;
    int napikeys;
    struct gw_cred *basic; /* NULL/0 = no basic auth */
    int nbasic;
    char *basic_realm;
    struct gw_jwt *jwt; /* NULL = no JWT auth */
    /* ip allow / deny */
    struct gw_cidr *allow, *deny;
    int nallow, ndeny;
    /* cors */
    char **cors_origins;
    int ncors_origins;
    char *cors_methods, *cors_headers, *cors_expose;
    int cors_max_age;
    bool cors_credentials;
    /* headers */
    struct gw_header_mod req_hdr, resp_hdr;
    /* compression */
    bool gzip, brotli; /* brotli: "br" preferred when the client accepts it */
    int64_t gzip_min_size;
    char **gzip_types;
    int gzip_ntypes;
    /* tracing: generate X-Request-Id / continue traceparent */
    bool gen_request_id, gen_traceparent;
    /* response cache */
    int64_t cache_max_bytes, cache_max_object;
    uint64_t cache_ttl_ms;
    /* request limits (0 = none) */
    int64_t max_body;
    /* request aggregation: the route answers with the merged JSON of these requests */
    struct gw_agg_part *agg;
    int nagg;
    uint32_t agg_timeout_ms;
    char *ns; /* the policy's namespace (aggregate parts resolve there) */
    /* fallback response instead of the gateway's own 502/503/504 */
    int fallback_status; /* 0 = none */
    char *fallback_body, *fallback_ctype;
    /* concurrency limit: requests in flight on the route (shared out per worker thread) */
    int max_concurrent;
    /* TLS to the upstream (backendTLS): client SSL_CTX (CA, verification), SNI/check name */
    void *btls_ctx; /* SSL_CTX *, NULL = plain HTTP to the upstream */
    char *btls_host;
};

/* --- backends --- */

struct gw_endpoint {
    struct sockaddr_storage sa;
    socklen_t salen;
    char name[64];     /* "10.42.0.5:8080" */
    uint32_t host_id;  /* bound at publish: index into the gateway's host registry */
    uint64_t added_ms; /* bound at publish: when it joined (monotonic ms; 0 = from the start) */
};

struct gw_ring_entry {
    uint32_t hash;
    uint32_t ep;
};

struct gw_backend {
    char *name; /* "ns/svc:port" */
    struct gw_endpoint *eps;
    uint32_t neps;
    uint32_t idx;                   /* index in cfg->backends */
    const struct gw_policy *policy; /* service-level policy or NULL */
    struct gw_ring_entry *ring;     /* consistent-hash ring, sorted by hash */
    uint32_t nring;
    bool h2c; /* Service port appProtocol kubernetes.io/h2c or grpc: HTTP/2 streams go h2c */
};

struct gw_wbackend {
    struct gw_backend *b;
    uint32_t weight;
};

/* --- routes --- */

enum gw_path_kind { GW_PATH_EXACT, GW_PATH_PREFIX };

struct gw_match_hdr {
    char *name, *value;
};

/*
 * Fields read by every request come first, in the first two cache lines (routes are
 * allocated 64-byte aligned), so that with many routes a request touches few lines of its
 * route.
 */
struct gw_route {
    /* --- line 0: match conditions, policy, counters, backends --- */
    /* effective policy: route-level merged over service-level; never NULL; shared by the
     * routes with the same policies and timeouts (cfg->effective) */
    const struct gw_policy *policy;
    struct gw_stat_cell *cells;   /* bound at publish: stats->cells, [worker id] */
    struct gw_wbackend *backends; /* &one_backend while there is one */
    int nbackends;
    uint32_t total_weight;
    char *method;
    int nheaders, nqueries;
    struct gw_match_hdr *headers, *queries;
    /* --- line 1: actions --- */
    struct gw_wbackend one_backend;
    int direct_status;   /* > 0: answer with this status, no backend (e.g. 500 for bad refs) */
    int redirect_status; /* 0 = no redirect */
    struct gw_backend *mirror;
    /* HTTPRoute filters */
    char *rewrite_prefix; /* ReplacePrefixMatch */
    char *rewrite_full;   /* ReplaceFullPath */
    char *rewrite_host;
    int nmods; /* req_hdr and resp_hdr entries: 0 = neither is read */
    enum gw_path_kind path_kind;
    /* --- colder --- */
    struct gw_header_mod req_hdr, resp_hdr;
    char *path;             /* normalised: prefixes have no trailing '/' except "/" */
    struct gw_stats *stats; /* bound at publish */
    char *name;
    uint32_t idx;
    int rule_index;
    int64_t created; /* precedence among routes sharing host and path */
    char *origin;    /* "ns/name" of the Ingress/HTTPRoute */
    int redirect_port;
    char *redirect_scheme, *redirect_host, *redirect_path;
    int64_t timeout_request_ms, timeout_backend_ms; /* HTTPRoute rules[].timeouts, -1 unset */
};

/*
 * The router's tables are open-addressed arrays of 64-byte entries (one cache line each) that
 * hold their key's first bytes inline, so a lookup hit reads one line per probe however many
 * routes there are (longer keys compare their tail through the pointer).
 */
#define GW_PATH_INLINE 19
#define GW_HOST_INLINE 25

/* Which path lengths a host group has entries for: bit min(length, 63), so lookups skip the
 * probes that cannot hit. */
struct gw_group_lens {
    uint64_t exact, prefix;
};

/* Routes sharing (host group, path kind, path), sorted by precedence. */
struct gw_path_entry {
    uint64_t hash;
    uint32_t group;
    uint32_t path_len;
    int32_t nroutes;
    uint8_t kind; /* enum gw_path_kind */
    char key[GW_PATH_INLINE];
    const char *path;
    struct gw_route **routes; /* &one while there is one route */
    struct gw_route *one;
};

struct gw_host_entry {
    uint64_t hash;
    struct gw_group_lens lens; /* of the entry's group */
    uint32_t group;
    uint16_t len;
    bool multi_label; /* Gateway API wildcards match several labels, Ingress ones only one */
    char key[GW_HOST_INLINE];
    const char *host; /* exact host, or the suffix ".example.com" of a wildcard */
};

struct gw_hash {
    void *slots; /* array of entries, open addressing */
    size_t mask; /* capacity - 1, capacity a power of two; 0 when empty */
};

struct gw_host_bind {
    char *host;
    bool multi;
    struct gw_route *route;
};

struct gw_tls_cert {
    char *host; /* "a.example.com", "*.example.com" or "" (no host: default only) */
    void *ctx;  /* SSL_CTX *, one reference per entry */
};

struct bsn_gw_config {
    atomic_int refs;
    struct gw_tls_cert *certs; /* the first is the default certificate */
    size_t ncerts;
    struct gw_route **routes;
    size_t nroutes, routes_cap;
    struct gw_backend **backends;
    size_t nbackends, backends_cap;
    struct gw_policy **policies;
    size_t npolicies, policies_cap;
    struct gw_policy default_policy;
    struct gw_policy **effective; /* routes' effective policies, shared by equal inputs */
    size_t neffective, effective_cap;
    /* router */
    struct gw_host_entry *hosts, *wild; /* open-addressed tables */
    size_t hosts_mask, wild_mask;
    struct gw_path_entry *paths;
    size_t paths_mask;
    uint32_t ngroups;
    int32_t catchall_group; /* -1 when no host-less rule */
    struct gw_group_lens catchall_lens;
    struct gw_route *default_route; /* Ingress spec.defaultBackend */
    struct bsn_buf warnings;
    struct gw_host_bind *binds; /* registrations, freed by gw_router_build */
    size_t nbinds, binds_cap;
    /* bound at publish */
    void *gw;
};

/* --- helpers shared by the compiler files --- */

uint64_t gw_hash_bytes(const void *p, size_t n, uint64_t seed);
/* Parses "5s", "250ms", "1m", "1h", "1.5s" or a bare number of seconds; -1 on error. */
int64_t gw_parse_duration_ms(const char *s);
/* Parses "10.0.0.0/8", "::1/128" or a bare address. */
int gw_parse_cidr(const char *s, struct gw_cidr *out);
bool gw_cidr_match(const struct gw_cidr *c, const struct sockaddr *sa);
void gw_warn(struct bsn_gw_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The decoded value of Secret ns/name's key (data or stringData), or NULL. Caller frees. */
char *gw_secret_value(const json_t *secrets, const char *ns, const char *name, const char *key);
/* tls.c: an SSL_CTX for a PEM chain and key, or NULL with err set. */
void *gw_tls_ctx_new(const char *cert_pem, const char *key_pem, struct bsn_err *err);
void gw_tls_ctx_free(void *ctx);
/* Requires client certificates verified against the PEM CA bundle (mutual TLS); with
 * ca_pem NULL certificates are required and none verifies. */
int gw_tls_ctx_client_ca(void *ctx, const char *ca_pem, struct bsn_err *err);
void gw_tls_ctx_ref(void *ctx);
/* Parses a GatewayPolicy spec into *p (secrets: the config's Secret objects by ns/name). */
int gw_policy_parse(struct gw_policy *p, const json_t *spec, const char *ns, const json_t *secrets,
                    struct bsn_err *err);
void gw_policy_fini(struct gw_policy *p);
void gw_policy_defaults(struct gw_policy *p);
/* Copies into dst the field groups set in src and not in dst (shallow: pointers shared). */
void gw_policy_merge(struct gw_policy *dst, const struct gw_policy *src);
void gw_header_mod_fini(struct gw_header_mod *m);
int gw_header_mod_parse(struct gw_header_mod *m, const json_t *obj, bool gateway_api_style);
/*
 * Registers route r under hostname (exact "a.example.com", wildcard "*.example.com" or ""
 * for every host). multi_label: the wildcard may match several labels (Gateway API).
 */
void gw_router_add(struct bsn_gw_config *cfg, const char *hostname, bool multi_label,
                   struct gw_route *r);
/* Builds the router tables from the registrations (sorts by precedence). */
void gw_router_build(struct bsn_gw_config *cfg);
void gw_router_fini(struct bsn_gw_config *cfg);
void gw_lb_build_ring(struct gw_backend *b);
/* jwks.c: the synthetic Secret name ("bosun-jwks/<name>", key "jwks") of a jwksUri. */
void gw_jwks_name(const char *uri, char out[24]);

#endif
