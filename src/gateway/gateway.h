/*
 * gateway.h - the API gateway / ingress data plane: public interface.
 *
 * Configuration is a set of Kubernetes objects (networking.k8s.io/v1 Ingress + IngressClass,
 * gateway.networking.k8s.io/v1 Gateway + HTTPRoute, v1 Service, discovery.k8s.io/v1
 * EndpointSlice, v1 Endpoints, v1 Secret and our gateway.bosun.dev/v1alpha1 GatewayPolicy).
 * bsn_gw_config_build() compiles them into an immutable, refcounted snapshot holding a fast
 * route matcher; bsn_gw_update() compiles and publishes a new snapshot to every worker thread
 * (RCU style: requests in flight keep the snapshot they started with, the old one is freed
 * when the last of them ends). A route change never closes a connection.
 *
 * The data plane runs one event loop per thread, each with its own SO_REUSEPORT listener and
 * its own keep-alive pools to upstream endpoints; there are no locks on the request path.
 * See docs/gateway.md for the configuration reference.
 *
 * Feeding the gateway from the API server: keep the latest version of every object of the
 * kinds above in a JSON array and call bsn_gw_update(gw, array, &err) after each batch of
 * watch events (it is thread-safe and may be called from any thread; it costs one compile).
 */
#ifndef BSN_GATEWAY_GATEWAY_H
#define BSN_GATEWAY_GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct bsn_gw_config;
struct bsn_gw_route;
struct bsn_gw;

/*
 * Compiles an array of Kubernetes objects into a snapshot (refcount 1). Objects of kinds the
 * gateway does not use are ignored. Invalid routes or policies are skipped with a warning in
 * the log (one bad Ingress must not take the others down); NULL is returned (err set) only
 * when `objects` is not an array. Never touches the network or the filesystem.
 */
struct bsn_gw_config *bsn_gw_config_build(const json_t *objects, struct bsn_err *err);
void bsn_gw_config_ref(struct bsn_gw_config *cfg);
void bsn_gw_config_unref(struct bsn_gw_config *cfg);
/* Number of compiled routes (one per Ingress path / HTTPRoute rule match). */
size_t bsn_gw_config_nroutes(const struct bsn_gw_config *cfg);
/* Warnings produced while compiling (one per line), "" when none. Owned by cfg. */
const char *bsn_gw_config_warnings(const struct bsn_gw_config *cfg);

/*
 * Request attributes the router looks at. host may carry a port (it is stripped) and any
 * case. headers/query are the raw request header array and query string (without '?').
 */
struct bsn_gw_request_info {
    struct bsn_str host, method, path, query;
    const void *headers; /* const struct bsn_http_header * */
    size_t nheaders;
};

/* Finds the route for a request, or NULL (404). The result lives as long as cfg. */
const struct bsn_gw_route *bsn_gw_route_match(const struct bsn_gw_config *cfg,
                                              const struct bsn_gw_request_info *req);
/*
 * Stable route name used in metrics and logs:
 *   "ingress:<ns>/<name>:<rule>:<path>"   for an Ingress path,
 *   "ingress:<ns>/<name>:default"         for an Ingress defaultBackend,
 *   "httproute:<ns>/<name>:<rule>:<match>" for an HTTPRoute rule match.
 */
const char *bsn_gw_route_name(const struct bsn_gw_route *r);
/* Name "<ns>/<service>:<port>" of the route's i-th backend, NULL past the end. */
const char *bsn_gw_route_backend(const struct bsn_gw_route *r, size_t i);

/* Options of a gateway instance. Strings are copied by bsn_gw_new(). */
#define BSN_GW_MAX_LISTENERS 8
struct bsn_gw_options {
    const char *listen[BSN_GW_MAX_LISTENERS]; /* "ADDR:PORT", "[v6]:PORT" or ":PORT" */
    int nlisten;
    const char *tls_listen[BSN_GW_MAX_LISTENERS]; /* HTTPS listeners (certificates by SNI) */
    int ntls_listen;
    const char *admin;         /* "ADDR:PORT" for /metrics and /healthz, or NULL */
    int threads;               /* <= 0: one per online CPU */
    const char *access_log;    /* NULL/"off", "stdout" or a file path */
    bool no_http2;             /* TLS listeners offer only http/1.1 (default: h2 and http/1.1) */
    const char *otlp_endpoint; /* "http://collector:4318": spans of traced routes as OTLP JSON */
};

/*
 * Creates the gateway: binds the listeners (SO_REUSEPORT, one socket per thread) and the
 * admin port. Workers start with an empty configuration (every request gets 404) until the
 * first bsn_gw_update().
 */
struct bsn_gw *bsn_gw_new(const struct bsn_gw_options *opts, struct bsn_err *err);
/* Compiles `objects` and swaps it in on every worker. Thread-safe. */
int bsn_gw_update(struct bsn_gw *gw, const json_t *objects, struct bsn_err *err);
/* Publishes an already built snapshot (takes the caller's reference). Thread-safe. */
void bsn_gw_publish(struct bsn_gw *gw, struct bsn_gw_config *cfg);
/* Starts the worker threads and the admin server; returns 0 or a negative errno. */
int bsn_gw_start(struct bsn_gw *gw, struct bsn_err *err);
/*
 * Graceful shutdown, first half: stop accepting, close idle keep-alive connections, answer
 * in-flight requests with "Connection: close", and wait up to timeout_ms for every client
 * connection to finish. Returns the number of connections still open. Follow with
 * bsn_gw_stop()/bsn_gw_free().
 */
long bsn_gw_drain(struct bsn_gw *gw, int timeout_ms);
/* Asks every worker to stop and joins them. */
void bsn_gw_stop(struct bsn_gw *gw);
void bsn_gw_free(struct bsn_gw *gw);
/* Appends Prometheus text exposition of the gateway's metrics. */
void bsn_gw_metrics(struct bsn_gw *gw, struct bsn_buf *out);

/*
 * The objects to compile, maintained from watch events (objects.c). Typical API-server feed:
 *
 *   struct bsn_gw_objects *set = bsn_gw_objects_new();
 *   for each watch event (type, object) of the kinds below:
 *       changed |= bsn_gw_objects_apply(set, type, object);
 *   after a batch, if changed:
 *       json_t *arr = bsn_gw_objects_array(set);
 *       bsn_gw_update(gw, arr, &err);
 *       json_decref(arr);
 *
 * Kinds read: Ingress, IngressClass, Gateway, GatewayClass, HTTPRoute, Service,
 * EndpointSlice, Endpoints, Secret, GatewayPolicy (others are ignored).
 */
struct bsn_gw_objects;
struct bsn_gw_objects *bsn_gw_objects_new(void);
void bsn_gw_objects_free(struct bsn_gw_objects *o);
/* True for the kinds the gateway reads (what to watch). */
bool bsn_gw_kind_relevant(const char *kind);
/*
 * Applies a watch event ("ADDED", "MODIFIED", "DELETED"; others ignored). The object is
 * copied. Returns 1 when the set changed, 0 when not (irrelevant kind, identical object).
 */
int bsn_gw_objects_apply(struct bsn_gw_objects *o, const char *type, const json_t *obj);
/* A new array holding the current objects (the caller decrefs it). */
json_t *bsn_gw_objects_array(const struct bsn_gw_objects *o);
size_t bsn_gw_objects_count(const struct bsn_gw_objects *o);

/*
 * Status for the Gateway API objects of the set that belong to this gateway (status.c): a new
 * array of {"path": ".../status", "body": {"status": {...}}} to send as merge patches, one per
 * Gateway or HTTPRoute whose status differs from what it should be (Gateway: Accepted,
 * Programmed, addresses, listeners with attachedRoutes; HTTPRoute: per parent Accepted and
 * ResolvedRefs). Empty when everything is current. address: the node address to report.
 */
json_t *bsn_gw_status_updates(const json_t *objects, const char *address);

/* `bosun gateway` (see gateway_cmd.c for flags). */
int bsn_cmd_gateway(int argc, char **argv);

#endif
