/*
 * dns_zone_int.h - internal to the DNS zone (dns_zone.c, dns_answer.c, dns_zone_json.c):
 * the writer's state, the published per-service objects and the snapshot layout.
 */
#ifndef BSN_NET_DNS_ZONE_INT_H
#define BSN_NET_DNS_ZONE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "net/dns_map.h"
#include "net/dns_zone.h"

#define DNS_PTR_KEYLEN 17 /* family byte + 16 address bytes */

struct dns_addr {
    uint8_t fam; /* 4 or 6 */
    uint8_t a[16];
};

struct dns_port {
    char name[63], proto[16]; /* lower case, not NUL-terminated */
    uint8_t namelen, protolen;
    uint16_t port;
};

struct dns_ep {
    struct dns_addr ip;
    bool ready;
    uint8_t hostlen;
    char host[BSN_DNS_LABEL_MAX]; /* lower case; derived from the IP when not given */
};

/* Published, immutable once in a snapshot; refcount touched by the writer only. */
struct dns_svc {
    uint32_t refcnt;
    enum bsn_dns_svc_type type;
    uint16_t fqdn_len, ext_len;
    uint8_t fqdn[BSN_DNS_NAME_MAX]; /* <svc>.<ns>.svc.<zone>, wire, lower */
    uint8_t *ext;                   /* ExternalName target, wire (NULL otherwise) */
    int nips;
    struct dns_addr ips[BSN_DNS_MAX_IPS];
    int nports, neports, neps;
    struct dns_port *ports;  /* service ports */
    struct dns_port *eports; /* ports for headless SRV */
    struct dns_ep *eps;      /* published endpoints (headless) */
    uint32_t hcap;
    uint32_t *htab; /* hostname -> endpoint index + 1 */
};

/* Published PTR value: n concatenated wire names. */
struct dns_ptr {
    int n;
    uint32_t len;
    uint8_t names[];
};

struct bsn_dns_snap {
    uint64_t gen;
    uint32_t serial;
    struct dns_map svcs; /* "svc.ns" -> struct dns_svc */
    struct dns_map nss;  /* "ns" -> (void *)1 while it has services */
    struct dns_map ptrs; /* family + address -> struct dns_ptr */
    struct bsn_dns_snap *next_retired;
};

/* Writer side: what the informers told us about one service. */
struct dns_epset {
    char *name; /* slice name (NULL for the Endpoints object) */
    int neps, nports;
    struct dns_ep *eps;
    struct dns_port *ports;
};

struct dns_wsvc {
    char key[2 * BSN_DNS_LABEL_MAX + 2]; /* "svc.ns" */
    uint16_t keylen;
    uint8_t namelen, nslen;
    bool has_svc, has_eps, publish_not_ready;
    enum bsn_dns_svc_type type;
    int nips, nports, nslices;
    struct dns_addr ips[BSN_DNS_MAX_IPS];
    struct dns_port *ports;
    uint8_t *ext; /* ExternalName target, wire (NULL otherwise) */
    uint16_t ext_len;
    struct dns_epset legacy;
    struct dns_epset *slices;
    struct dns_svc *pub; /* what the draft/published snapshot holds */
};

struct bsn_dns_zone {
    pthread_mutex_t mu;
    uint8_t origin[BSN_DNS_NAME_MAX];
    uint16_t origin_len;
    int origin_labels;
    uint32_t ttl;
    uint8_t soa_names[2 * BSN_DNS_NAME_MAX]; /* mname + rname */
    uint16_t soa_names_len, ns_name_len;

    _Atomic(struct bsn_dns_snap *) cur;
    struct bsn_dns_snap *draft;
    struct bsn_dns_snap *retired;
    int depth;
    uint64_t gen;
    /* hazard pointers, one cache line each: reader threads pin without sharing a line */
    struct {
        _Atomic(struct bsn_dns_snap *) p;
        char pad[64 - sizeof(void *)];
    } hp[BSN_DNS_ZONE_READERS];
    atomic_bool slot_used[BSN_DNS_ZONE_READERS];

    struct dns_map wsvcs; /* "svc.ns" -> struct dns_wsvc */
    struct dns_map wns;   /* "ns" -> int count */
    struct dns_map wptr;  /* ptr key -> owners */
};

int dns_addr_parse(const char *s, struct dns_addr *a);
int dns_svc_key(const char *ns, size_t nslen, const char *name, size_t namelen, char *key);

#endif
