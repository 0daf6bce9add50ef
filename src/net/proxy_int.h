/*
 * proxy_int.h - the service proxy's internals, shared by proxy*.c and the unit tests.
 *
 * The desired state of one Service is a `struct bsn_proxy_svc`: its addresses (ClusterIP, node
 * ports, load-balancer address) and, per service port, the endpoints that may receive new
 * connections. It is computed from the Service object and the EndpointSlices labelled with
 * its name (bsn_proxy_svc_build). Backends (nftables, userspace) keep the last state they
 * applied per Service and program only the difference to the new one.
 */
#ifndef BSN_NET_PROXY_INT_H
#define BSN_NET_PROXY_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/map.h"

#define BSN_PROXY_MAX_PORTS 64  /* service ports per Service */
#define BSN_PROXY_MAX_EPS   512 /* endpoints per service port */

enum bsn_proxy_type {
    BSN_PROXY_CLUSTERIP,
    BSN_PROXY_NODEPORT,
    BSN_PROXY_LOADBALANCER,
};

struct bsn_proxy_ep {
    char ip[16];
    uint16_t port;
};

struct bsn_proxy_port {
    char name[64]; /* service port name ("" when the only port is unnamed) */
    int proto;     /* IPPROTO_TCP or IPPROTO_UDP */
    uint16_t port;
    uint16_t node_port; /* 0 = none */
    size_t nep;
    struct bsn_proxy_ep *eps; /* sorted by (ip, port); only those that may get new connections */
    /* nftables backend, set by bsn_proxy_nft_delta on `new` (not part of bsn_proxy_svc_equal):
     * the port's slots are keys [slot_base, slot_base + slots) of its slot map */
    uint16_t slots;
    uint32_t slot_base;
};

struct bsn_proxy_svc {
    char ns[64];
    char name[64];
    char cluster_ip[16]; /* IPv4 ClusterIP, "" = none (headless, ExternalName) */
    char lb_ip[16];      /* LoadBalancer: the node address it is served on; "" otherwise */
    enum bsn_proxy_type type;
    uint32_t affinity_timeout; /* sessionAffinity ClientIP: seconds; 0 = none */
    size_t nports;
    struct bsn_proxy_port *ports;
};

/*
 * Builds the desired state of a Service from its object and its EndpointSlices (array of
 * borrowed objects, any order). Returns 1 when the Service needs rules, 0 when it does not
 * (headless, ExternalName, no IPv4 ClusterIP: *out is left zeroed), -1 with err on a Service
 * that cannot be understood. node_ip is the address NodePort/LoadBalancer traffic arrives at.
 * Endpoint choice is upstream's: ready ones; when none is ready, serving+terminating ones.
 */
int bsn_proxy_svc_build(const json_t *svc, json_t *const *slices, size_t nslices,
                        const char *node_ip, struct bsn_proxy_svc *out, struct bsn_err *err);
void bsn_proxy_svc_fini(struct bsn_proxy_svc *s);
bool bsn_proxy_svc_equal(const struct bsn_proxy_svc *a, const struct bsn_proxy_svc *b);
/* Deep copy (dst uninitialised). */
void bsn_proxy_svc_copy(struct bsn_proxy_svc *dst, const struct bsn_proxy_svc *src);

/* --- nftables backend --- */

/*
 * Blocks of slot keys: each service port without session affinity owns one (block b: keys
 * b * BSN_PROXY_SLOT_BLOCK ... of map PROTO-slots-(b % 128)) for as long as it exists. A fixed set
 * of maps rather than one per port: the kernel finds a set by name walking the table's list.
 */
#define BSN_PROXY_SLOT_BLOCK 8192
struct bsn_proxy_nft_blocks {
    struct bsn_map owner; /* port id -> block + 1 */
    uint32_t next;        /* next block never handed out */
    uint32_t *free;       /* handed back (by bsn_proxy_nft_gc) */
    size_t nfree, cap;
};
void bsn_proxy_nft_blocks_init(struct bsn_proxy_nft_blocks *b);
void bsn_proxy_nft_blocks_fini(struct bsn_proxy_nft_blocks *b);

struct bsn_proxy_nft_cfg {
    const char *table;        /* nft table name in family ip ("bosun") */
    const char *cluster_cidr; /* pod CIDR: traffic from outside it to a ClusterIP is masqueraded */
    /* NULL: disused chains, sets and maps are deleted in the delta itself; else they are
     * flushed and recorded here ("chain NAME" / "set NAME" / "block PORT") for
     * bsn_proxy_nft_gc */
    struct bsn_map *stale;
    struct bsn_proxy_nft_blocks *blocks; /* required */
};

/*
 * The element changes of a delta, in binary form, for the fast path: when a batch consists of
 * nothing but element changes of maps and sets whose data are not verdicts (`other` false),
 * it is sent as one nf_tables transaction over netlink directly. libnftables would fetch every
 * set and chain of the table first (to learn the set types), and verdict or rule changes make
 * the kernel validate the whole table: both linear in the number of Services.
 */
struct bsn_proxy_nft_elem {
    bool add; /* else delete */
    char set[256];
    uint8_t klen, dlen;
    uint8_t key[20];
    uint8_t data[8];
};
struct bsn_proxy_nft_elems {
    struct bsn_proxy_nft_elem *v;
    size_t n, cap;
    bool other;     /* the batch also has other commands: only the text form is complete */
    size_t textlen; /* bytes of text the element changes account for (internal) */
};
void bsn_proxy_nft_elems_reset(struct bsn_proxy_nft_elems *e);
void bsn_proxy_nft_elems_fini(struct bsn_proxy_nft_elems *e);

/* The commands creating the table with its base chains and maps (replacing a stale one). */
void bsn_proxy_nft_base(const struct bsn_proxy_nft_cfg *cfg, struct bsn_buf *out);
/* Appends the deletes of everything in cfg->stale and empties it. */
void bsn_proxy_nft_gc(const struct bsn_proxy_nft_cfg *cfg, struct bsn_buf *out);
/* The command deleting the table. */
void bsn_proxy_nft_teardown(const struct bsn_proxy_nft_cfg *cfg, struct bsn_buf *out);
/*
 * Appends the commands turning the rules of Service `old` into those of `new`: either may be
 * NULL (added / deleted). Only that Service's chains, maps and elements are touched. Records
 * the slot map sizes it programs in new->ports[].slots (read back from `old` next time). When
 * elems is not NULL the element changes are also appended there (see above).
 */
void bsn_proxy_nft_delta(const struct bsn_proxy_nft_cfg *cfg, const struct bsn_proxy_svc *old,
                         struct bsn_proxy_svc *new, struct bsn_buf *out,
                         struct bsn_proxy_nft_elems *elems);
/* The slot map size for n endpoints given the current one (0: none yet). */
uint16_t bsn_proxy_nft_slots(uint16_t cur, size_t n);

struct bsn_proxy_nft;
/* Opens a libnftables context and creates the table (a stale one is replaced). */
struct bsn_proxy_nft *bsn_proxy_nft_open(const struct bsn_proxy_nft_cfg *cfg, struct bsn_err *err);
/* Runs a command buffer as one transaction. */
int bsn_proxy_nft_run(struct bsn_proxy_nft *n, const char *cmds, struct bsn_err *err);
/* Runs element changes as one transaction over netlink (no libnftables). */
int bsn_proxy_nft_run_elems(struct bsn_proxy_nft *n, const struct bsn_proxy_nft_elems *e,
                            struct bsn_err *err);
/* Runs the output of bsn_proxy_nft_delta: elems alone when they are all of it, else cmds. */
int bsn_proxy_nft_apply(struct bsn_proxy_nft *n, const char *cmds,
                        const struct bsn_proxy_nft_elems *e, struct bsn_err *err);
/* Deletes the table (when remove is true) and frees the context. */
void bsn_proxy_nft_close(struct bsn_proxy_nft *n, bool remove);

/* --- userspace backend --- */

struct bsn_loop;
struct bsn_proxy_user;
struct bsn_proxy_user *bsn_proxy_user_new(struct bsn_loop *loop);
/* Makes the listeners and endpoints of one Service match s (NULL: deleted). key "ns/name".
 * Returns the number of ports that could not be listened on (address in use, privileged);
 * retry: this is a retry of such a failure (logged at debug level only). */
int bsn_proxy_user_apply(struct bsn_proxy_user *u, const char *key, const struct bsn_proxy_svc *s,
                         bool retry);
void bsn_proxy_user_free(struct bsn_proxy_user *u);

#endif
