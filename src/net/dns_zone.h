/*
 * dns_zone.h - the cluster DNS zone: records for Services and Endpoints per the Kubernetes
 * DNS-Based Service Discovery specification 1.1.0, and the query answering logic.
 *
 * Writers (the informers, one thread at a time; calls are serialized by a mutex) feed
 * Services and Endpoints/EndpointSlices with the C API or as raw API objects. Every change is
 * applied to a private draft and published as an immutable snapshot with one atomic pointer
 * swap; readers (the server threads) never take a lock: they pin the current snapshot with a
 * hazard pointer for the duration of a batch of queries. An update costs in proportion to the
 * change (one service object rebuilt, one shard of each index copied), not to the zone size.
 *
 * Records served (<zone> defaults to cluster.local, TTL defaults to 5 s like CoreDNS; the
 * negative-answer TTL is the SOA minimum, equal to the TTL):
 *   dns-version.<zone>                          TXT "1.1.0"
 *   <svc>.<ns>.svc.<zone>                       A/AAAA ClusterIP; headless: every published
 *                                               endpoint (NXDOMAIN if none); ExternalName:
 *                                               CNAME <extname>
 *   <host>.<svc>.<ns>.svc.<zone>                A/AAAA of the headless endpoint(s) with that
 *                                               hostname; an endpoint without hostname gets
 *                                               one derived from its IP (10-1-2-3)
 *   _<port>._<proto>.<svc>.<ns>.svc.<zone>      SRV per named port: ClusterIP -> the service
 *                                               name; headless -> each endpoint's name
 *                                               (additional section: their A/AAAA)
 *   reverse names (in-addr.arpa, ip6.arpa)      PTR for ClusterIPs and headless endpoints
 *   <a-b-c-d>.<ns>.pod.<zone>                   A/AAAA of the address in the name (the
 *                                               CoreDNS "pods insecure" extension)
 *   <zone>                                      SOA, NS
 * Names that exist without records of the asked type (including empty non-terminals such as
 * svc.<zone>, <ns>.svc.<zone> for a namespace with services, _tcp.<svc>...) get NODATA
 * (NOERROR, empty answer); names that do not exist get NXDOMAIN; both carry the SOA in the
 * authority section. Endpoints passed in are the ones to publish: callers pass ready
 * addresses, plus not-ready ones when the service has publishNotReadyAddresses (the JSON
 * entry point does this itself).
 */
#ifndef BSN_NET_DNS_ZONE_H
#define BSN_NET_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "net/dns_wire.h"

#define BSN_DNS_DEFAULT_DOMAIN "cluster.local"
#define BSN_DNS_DEFAULT_TTL    5
#define BSN_DNS_SCHEMA_VERSION "1.1.0"
#define BSN_DNS_ZONE_READERS   128  /* reader slots (server threads, tests) */
#define BSN_DNS_MAX_IPS        8    /* cluster IPs per service */
#define BSN_DNS_MAX_PORTS      256  /* ports per service */
#define BSN_DNS_MAX_ENDPOINTS  8192 /* endpoints per service (after merging slices) */

struct bsn_dns_zone;
struct bsn_dns_snap;

enum bsn_dns_svc_type {
    BSN_DNS_SVC_CLUSTER_IP,    /* spec.clusterIP set (ClusterIP, NodePort, LoadBalancer) */
    BSN_DNS_SVC_HEADLESS,      /* spec.clusterIP: None */
    BSN_DNS_SVC_EXTERNAL_NAME, /* spec.type: ExternalName */
};

struct bsn_dns_port {
    const char *name;     /* "" or NULL: unnamed (no SRV record) */
    const char *protocol; /* "TCP", "UDP", "SCTP" (NULL = TCP) */
    uint16_t port;
};

struct bsn_dns_endpoint {
    const char *ip;       /* IPv4 or IPv6 text */
    const char *hostname; /* NULL or "": derived from the IP */
    bool ready;           /* not-ready endpoints are skipped unless publish_not_ready */
};

/* Creates a zone for domain (NULL = cluster.local) with the given TTL (0 = 5 s). */
struct bsn_dns_zone *bsn_dns_zone_new(const char *domain, uint32_t ttl);
void bsn_dns_zone_free(struct bsn_dns_zone *zone);
/* The zone's domain in wire form (lower case). */
const uint8_t *bsn_dns_zone_origin(const struct bsn_dns_zone *zone);

/* --- writers (thread-safe, serialized) ----------------------------------------------------- */

/*
 * Groups several changes into one published snapshot (e.g. an informer's initial list).
 * Without begin/commit every call below publishes its own snapshot. Nesting is counted.
 */
void bsn_dns_zone_begin(struct bsn_dns_zone *zone);
void bsn_dns_zone_commit(struct bsn_dns_zone *zone);

/*
 * Adds or replaces a Service. cluster_ips are the spec.clusterIPs (ignored unless
 * type is CLUSTER_IP), ports the spec.ports, external_name spec.externalName (EXTERNAL_NAME
 * only). publish_not_ready mirrors spec.publishNotReadyAddresses (or the tolerate-unready
 * annotation) and decides whether not-ready endpoints are published.
 * Returns 0, or -1 with err set (code 422) when a value is invalid (bad IP, name too long).
 */
int bsn_dns_zone_put_service(struct bsn_dns_zone *zone, const char *ns, const char *name,
                             enum bsn_dns_svc_type type, const char *const *cluster_ips,
                             size_t n_ips, const struct bsn_dns_port *ports, size_t n_ports,
                             const char *external_name, bool publish_not_ready,
                             struct bsn_err *err);
int bsn_dns_zone_delete_service(struct bsn_dns_zone *zone, const char *ns, const char *name);

/*
 * Sets the endpoints of service ns/svc from an Endpoints object (all subsets flattened).
 * ports are the endpoint ports (used for headless SRV records; ClusterIP SRV records use the
 * Service's ports). Endpoints may arrive before their Service; they are kept until it does.
 */
int bsn_dns_zone_put_endpoints(struct bsn_dns_zone *zone, const char *ns, const char *svc,
                               const struct bsn_dns_endpoint *eps, size_t n_eps,
                               const struct bsn_dns_port *ports, size_t n_ports,
                               struct bsn_err *err);
int bsn_dns_zone_delete_endpoints(struct bsn_dns_zone *zone, const char *ns, const char *svc);

/*
 * Same for one EndpointSlice (named slice) of service ns/svc. When a service has slices, the
 * union of its slices is used and an Endpoints object for it is ignored.
 */
int bsn_dns_zone_put_endpoint_slice(struct bsn_dns_zone *zone, const char *ns, const char *svc,
                                    const char *slice, const struct bsn_dns_endpoint *eps,
                                    size_t n_eps, const struct bsn_dns_port *ports, size_t n_ports,
                                    struct bsn_err *err);
int bsn_dns_zone_delete_endpoint_slice(struct bsn_dns_zone *zone, const char *ns, const char *svc,
                                       const char *slice);

/*
 * Feeds a raw Kubernetes object (kind Service, Endpoints or EndpointSlice; a List of them is
 * applied item by item in one snapshot). deleted = the object was deleted (watch DELETED).
 * Other kinds are ignored (returns 0). Returns -1 with err set for a malformed object.
 */
int bsn_dns_zone_apply_object(struct bsn_dns_zone *zone, const json_t *obj, bool deleted,
                              struct bsn_err *err);
/* The same for an object whose kind is known to the caller but absent from the JSON (items of
 * a typed list, informer caches that strip it): kind is "Service", "Endpoints",
 * "EndpointSlice" or "<Kind>List". */
int bsn_dns_zone_apply_kind(struct bsn_dns_zone *zone, const char *kind, const json_t *obj,
                            bool deleted, struct bsn_err *err);

/*
 * Forgets every Service, Endpoints and EndpointSlice. Inside begin/commit this is the way to
 * replace the whole zone atomically (an informer's relist, a records file reload): readers
 * see the old zone until commit, then the new one.
 */
void bsn_dns_zone_reset(struct bsn_dns_zone *zone);

/* Number of services currently published (for tests and metrics). */
size_t bsn_dns_zone_service_count(struct bsn_dns_zone *zone);

/* --- readers (lock-free) ------------------------------------------------------------------- */

/* Claims a reader slot for one thread; returns the slot or -1 if all are taken. */
int bsn_dns_zone_reader_new(struct bsn_dns_zone *zone);
void bsn_dns_zone_reader_free(struct bsn_dns_zone *zone, int slot);
/* Pins the current snapshot for reader slot until unpin (or the next pin on that slot). */
const struct bsn_dns_snap *bsn_dns_zone_pin(struct bsn_dns_zone *zone, int slot);
void bsn_dns_zone_unpin(struct bsn_dns_zone *zone, int slot);

enum bsn_dns_answer_result {
    BSN_DNS_ANSWERED = 0,    /* out holds the reply */
    BSN_DNS_NOT_IN_ZONE = 1, /* name outside our zones: forward it (or refuse) */
};

/*
 * Answers query q (parsed from qpkt) from snapshot snap into out, which must have room for
 * limit bytes (the client's UDP payload size, or 65535 over TCP); a reply that does not fit
 * is truncated with TC set. Returns BSN_DNS_ANSWERED with *outlen set, or NOT_IN_ZONE.
 * Reverse names that are not ClusterIPs/endpoints are NOT_IN_ZONE (so they can be forwarded).
 */
int bsn_dns_zone_answer(const struct bsn_dns_zone *zone, const struct bsn_dns_snap *snap,
                        const struct bsn_dns_query *q, const uint8_t *qpkt, uint8_t *out,
                        size_t limit, size_t *outlen);

#endif
