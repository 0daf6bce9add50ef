/*
 * proxy_nft.c - Service virtual IPs on the kernel data path: nftables rules programmed
 * through libnftables (and element changes over netlink directly), after kube-proxy's nftables
 * mode but laid out so that an endpoint change is a change of map elements only.
 *
 * table ip <name> {
 *   map service-ips       { ipv4_addr . inet_proto . inet_service : verdict }  ClusterIP, LB
 *   map service-nodeports { inet_proto . inet_service : verdict }              NodePort
 *   map no-endpoint-services (filter input/forward/output): reject, no endpoints
 *   set hairpin           { endpoint . endpoint . proto . port . ClusterIP }   pod to itself
 *   nat-prerouting / nat-output (dstnat) -> services: one vmap lookup per new connection
 *   nat-postrouting (srcnat) -> masquerading: masquerade what was marked 0x4000 or hairpins
 *   map tcp-slots-0 .. -127, udp-slots-0 .. -127  { integer : ipv4_addr . inet_service }
 *                           slot -> endpoint, per protocol (the type comes from `tcp dport` /
 *                           `udp dport`: libnftables rejects th dport in a typeof read back)
 *   svc-NS/NAME/PROTO/PORT  per service port: masquerade mark for clients outside the pod
 *                           network, then `dnat to numgen random mod S offset B map
 *                           @tcp-slots-I`: the port owns keys B .. B+S-1 of shard I, S (12,
 *                           60, 360, 2520 or 5040) slots filled round-robin with its endpoints
 *                           (bsn_proxy_nft_slots); an endpoint change rewrites elements only
 *   ext-...                 NodePort/LoadBalancer entry: mark for masquerade, goto svc-...
 *   with sessionAffinity ClientIP, per service port (the older layout, rules per endpoint):
 *   svc-...                 affinity lookups, then numgen random mod N-i == 0 goto ep-i
 *   ep-...__IP/PORT         per endpoint: hairpin mark, affinity update, dnat
 *   aff-...__IP/PORT        per endpoint set of client addresses
 * }
 *
 * A change to one Service produces commands touching only that Service's chains, maps and
 * elements (bsn_proxy_nft_delta). Each batch runs as one nftables transaction. Why elements
 * only: a transaction that adds rules (jumps, NAT) or verdict elements makes nf_tables
 * validate every chain reachable from the base chains, linear in the table; and libnftables
 * lists every set and chain of the table before it runs an element command. Element changes of
 * the slot maps and the hairpin set therefore go over netlink directly (the fast path,
 * bsn_proxy_nft_run_elems) whenever they are all a batch contains.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "net/proxy_int.h"

#define MASQ_MARK   "0x4000"
#define SLOT_SHARDS 128 /* slot maps per protocol; port block b uses PROTO-slots-(b % 128) */

static unsigned
shard(uint32_t key)
{
    return key / BSN_PROXY_SLOT_BLOCK % SLOT_SHARDS;
}

static const char *
proto_name(int proto)
{
    return proto == IPPROTO_UDP ? "udp" : "tcp";
}

/* "NS/NAME/PROTO/PORT": the port's name, or its number when unnamed */
static void
port_id(const struct bsn_proxy_svc *s, const struct bsn_proxy_port *p, char *out, size_t n)
{
    if (p->name[0])
        snprintf(out, n, "%s/%s/%s/%s", s->ns, s->name, proto_name(p->proto), p->name);
    else
        snprintf(out, n, "%s/%s/%s/%u", s->ns, s->name, proto_name(p->proto), p->port);
}

static void
ep_id(const char *pid, const struct bsn_proxy_ep *e, char *out, size_t n)
{
    snprintf(out, n, "%s__%s/%u", pid, e->ip, e->port);
}

static bool
needs_ext(const struct bsn_proxy_svc *s, const struct bsn_proxy_port *p)
{
    return p->node_port || s->lb_ip[0];
}

void
bsn_proxy_nft_base(const struct bsn_proxy_nft_cfg *c, struct bsn_buf *o)
{
    const char *t = c->table;
    /* add + delete + add replaces a stale table from a crashed run in one transaction */
    bsn_buf_printf(o, "add table ip %s\ndelete table ip %s\nadd table ip %s\n", t, t, t);
    bsn_buf_printf(
        o,
        "add map ip %s service-ips { type ipv4_addr . inet_proto . inet_service : "
        "verdict; }\n"
        "add map ip %s service-nodeports { type inet_proto . inet_service : verdict; }\n",
        t, t);
    bsn_buf_printf(o,
                   "add chain ip %s mark-for-masquerade\n"
                   "add rule ip %s mark-for-masquerade meta mark set meta mark | " MASQ_MARK "\n",
                   t, t);
    /* the slot maps, early in the table's list of sets (the kernel finds a set by name walking
     * that list); shards, because adding an element to a map checks its data against every
     * rule using the map */
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < SLOT_SHARDS; i++)
            bsn_buf_printf(o,
                           "add map ip %s %s-slots-%d { typeof numgen random mod 2 : ip daddr . %s "
                           "dport; }\n",
                           t, p ? "udp" : "tcp", i, p ? "udp" : "tcp");
    /* hairpin: a pod reaching itself through a ClusterIP must see the reply come from the VIP:
     * source == destination after DNAT, spelled as set elements (nft compares a field only
     * with constants) that name the Service too, so no two Services share one */
    bsn_buf_printf(o,
                   "add set ip %s hairpin { type ipv4_addr . ipv4_addr . inet_proto . "
                   "inet_service . ipv4_addr; }\n",
                   t);
    bsn_buf_printf(o,
                   "add chain ip %s masquerading\n"
                   "add rule ip %s masquerading ct status dnat ip saddr . ip daddr . meta l4proto "
                   ". th dport . ct original ip daddr @hairpin meta mark set meta mark | " MASQ_MARK
                   "\n"
                   "add rule ip %s masquerading meta mark & " MASQ_MARK " == 0 return\n"
                   "add rule ip %s masquerading meta mark set meta mark ^ " MASQ_MARK "\n"
                   "add rule ip %s masquerading masquerade fully-random\n",
                   t, t, t, t, t);
    bsn_buf_printf(o,
                   "add chain ip %s services\n"
                   "add rule ip %s services ip daddr . meta l4proto . th dport vmap @service-ips\n"
                   "add rule ip %s services fib daddr type local ip daddr != 127.0.0.0/8 "
                   "meta l4proto . th dport vmap @service-nodeports\n",
                   t, t, t);
    /* a Service without endpoints refuses new connections at once (as kube-proxy does)
     * instead of letting them time out */
    bsn_buf_printf(o,
                   "add map ip %s no-endpoint-services { type ipv4_addr . inet_proto . "
                   "inet_service : verdict; }\n"
                   "add chain ip %s reject-chain { reject; }\n"
                   "add chain ip %s no-endpoints { ip daddr . meta l4proto . th dport vmap "
                   "@no-endpoint-services; }\n",
                   t, t, t);
    static const char *const fhooks[] = {"input", "forward", "output"};
    for (size_t i = 0; i < 3; i++)
        bsn_buf_printf(o,
                       "add chain ip %s filter-%s { type filter hook %s priority -110; ct state "
                       "new jump no-endpoints; }\n",
                       t, fhooks[i], fhooks[i]);
    bsn_buf_printf(
        o,
        "add chain ip %s nat-prerouting { type nat hook prerouting priority dstnat; }\n"
        "add rule ip %s nat-prerouting jump services\n"
        "add chain ip %s nat-output { type nat hook output priority -100; }\n"
        "add rule ip %s nat-output jump services\n"
        "add chain ip %s nat-postrouting { type nat hook postrouting priority srcnat; }\n"
        "add rule ip %s nat-postrouting jump masquerading\n",
        t, t, t, t, t, t);
}

void
bsn_proxy_nft_blocks_init(struct bsn_proxy_nft_blocks *b)
{
    memset(b, 0, sizeof(*b));
    bsn_map_init(&b->owner);
    b->next = 1;
}

void
bsn_proxy_nft_blocks_fini(struct bsn_proxy_nft_blocks *b)
{
    bsn_map_fini(&b->owner);
    free(b->free);
    memset(b, 0, sizeof(*b));
}

static void
block_free(struct bsn_proxy_nft_blocks *b, const char *pid)
{
    void *v = bsn_map_del(&b->owner, pid);
    if (!v)
        return;
    if (b->nfree == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->free = bsn_realloc(b->free, b->cap * sizeof(*b->free));
    }
    b->free[b->nfree++] = (uint32_t)((uintptr_t)v - 1);
}

void
bsn_proxy_nft_gc(const struct bsn_proxy_nft_cfg *c, struct bsn_buf *o)
{
    if (!c->stale)
        return;
    /* chains first: a retired chain may still name a retired set or map */
    for (int pass = 0; pass < 2; pass++) {
        const char *k;
        void *v;
        for (size_t it = 0; bsn_map_next(c->stale, &it, &k, &v);)
            if ((pass == 0) == (strncmp(k, "chain ", 6) == 0)) {
                const char *sp = strchr(k, ' ');
                if (!strncmp(k, "block ", 6)) /* its elements are gone: reusable from now */
                    block_free(c->blocks, sp + 1);
                else
                    bsn_buf_printf(o, "delete %.*s ip %s %s\n", (int)(sp - k), k, c->table, sp + 1);
            }
    }
    bsn_map_fini(c->stale);
    bsn_map_init(c->stale);
}

void
bsn_proxy_nft_teardown(const struct bsn_proxy_nft_cfg *c, struct bsn_buf *o)
{
    bsn_buf_printf(o, "delete table ip %s\n", c->table);
}

/* --- map elements of one Service --- */

struct elem {
    const char *map;
    char key[64];
    char val[300];
};

static size_t
elems_of(const struct bsn_proxy_svc *s, struct elem *out)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (size_t i = 0; i < s->nports; i++) {
        const struct bsn_proxy_port *p = &s->ports[i];
        char pid[256];
        port_id(s, p, pid, sizeof(pid));
        const char *pr = proto_name(p->proto);
        out[n].map = "service-ips";
        snprintf(out[n].key, sizeof(out[n].key), "%s . %s . %u", s->cluster_ip, pr, p->port);
        snprintf(out[n].val, sizeof(out[n].val), "goto svc-%s", pid);
        n++;
        if (p->node_port) {
            out[n].map = "service-nodeports";
            snprintf(out[n].key, sizeof(out[n].key), "%s . %u", pr, p->node_port);
            snprintf(out[n].val, sizeof(out[n].val), "goto ext-%s", pid);
            n++;
        }
        if (s->lb_ip[0]) {
            out[n].map = "service-ips";
            snprintf(out[n].key, sizeof(out[n].key), "%s . %s . %u", s->lb_ip, pr, p->port);
            snprintf(out[n].val, sizeof(out[n].val), "goto ext-%s", pid);
            n++;
        }
        if (!p->nep) {
            out[n].map = "no-endpoint-services";
            snprintf(out[n].key, sizeof(out[n].key), "%s . %s . %u", s->cluster_ip, pr, p->port);
            snprintf(out[n].val, sizeof(out[n].val), "goto reject-chain");
            n++;
            if (s->lb_ip[0]) {
                out[n].map = "no-endpoint-services";
                snprintf(out[n].key, sizeof(out[n].key), "%s . %s . %u", s->lb_ip, pr, p->port);
                snprintf(out[n].val, sizeof(out[n].val), "goto reject-chain");
                n++;
            }
        }
    }
    return n;
}

static bool
elem_in(const struct elem *e, const struct elem *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(set[i].map, e->map) && !strcmp(set[i].key, e->key) &&
            !strcmp(set[i].val, e->val))
            return true;
    return false;
}

/* --- chains of one service port --- */

static const struct bsn_proxy_port *
find_port(const struct bsn_proxy_svc *s, const struct bsn_proxy_port *p)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->nports; i++)
        if (s->ports[i].proto == p->proto && !strcmp(s->ports[i].name, p->name) &&
            (p->name[0] || s->ports[i].port == p->port))
            return &s->ports[i];
    return NULL;
}

static bool
has_ep(const struct bsn_proxy_port *p, const struct bsn_proxy_ep *e)
{
    if (!p)
        return false;
    for (size_t i = 0; i < p->nep; i++)
        if (p->eps[i].port == e->port && !strcmp(p->eps[i].ip, e->ip))
            return true;
    return false;
}

/*
 * Chains get their rules in the block form (`add chain T C { r1; r2; }`, after a flush when the
 * chain exists) and disused chains and sets are only flushed and handed to cfg->stale for a
 * later batch delete: libnftables fetches the whole ruleset into its cache for `add rule`,
 * `delete` and element commands but not for these, which keeps an endpoint change independent
 * of the number of Services. Without cfg->stale they are deleted at once.
 */
static void
retire(const struct bsn_proxy_nft_cfg *c, const char *kind, const char *name, struct bsn_buf *o)
{
    if (c->stale) {
        char key[420];
        snprintf(key, sizeof(key), "%s %s", kind, name);
        bsn_map_put(c->stale, key, (void *)1);
    } else {
        bsn_buf_printf(o, "delete %s ip %s %s\n", kind, c->table, name);
    }
}

/* Declares chain/set `name` for (re)use: true when it was waiting for deletion (exists). */
static bool
revive(const struct bsn_proxy_nft_cfg *c, const char *kind, const char *name)
{
    if (!c->stale)
        return false;
    char key[420];
    snprintf(key, sizeof(key), "%s %s", kind, name);
    return bsn_map_del(c->stale, key) != NULL;
}

static void
fill_ep(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *s,
        const struct bsn_proxy_port *p, const char *eid, const struct bsn_proxy_ep *e,
        struct bsn_buf *o)
{
    /* hairpin: a pod reaching itself through its Service must see a reply from the VIP */
    bsn_buf_printf(o, "add chain ip %s ep-%s { ip saddr %s jump mark-for-masquerade; ", c->table,
                   eid, e->ip);
    if (s->affinity_timeout)
        bsn_buf_printf(o, "update @aff-%s { ip saddr timeout %us }; ", eid, s->affinity_timeout);
    bsn_buf_printf(o, "meta l4proto %s dnat to %s:%u; }\n", proto_name(p->proto), e->ip, e->port);
}

static void
fill_svc(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *s,
         const struct bsn_proxy_port *p, const char *pid, bool exists, struct bsn_buf *o)
{
    const char *t = c->table;
    char eid[400];
    if (exists)
        bsn_buf_printf(o, "flush chain ip %s svc-%s\n", t, pid);
    /* ClusterIP traffic from outside the pod network: masquerade so replies come back here */
    bsn_buf_printf(o,
                   "add chain ip %s svc-%s { ip daddr %s ip saddr != %s jump mark-for-masquerade; ",
                   t, pid, s->cluster_ip, c->cluster_cidr);
    if (s->affinity_timeout)
        for (size_t i = 0; i < p->nep; i++) {
            ep_id(pid, &p->eps[i], eid, sizeof(eid));
            bsn_buf_printf(o, "ip saddr @aff-%s goto ep-%s; ", eid, eid);
        }
    /* uniform choice without an anonymous map per Service (each one costs the kernel a walk
     * over the table's sets): endpoint i of N is taken with probability 1/(N-i) among those
     * not taken before, the last one unconditionally */
    for (size_t i = 0; i < p->nep; i++) {
        ep_id(pid, &p->eps[i], eid, sizeof(eid));
        if (i + 1 < p->nep)
            bsn_buf_printf(o, "numgen random mod %zu == 0 goto ep-%s; ", p->nep - i, eid);
        else
            bsn_buf_printf(o, "goto ep-%s; ", eid);
    }
    bsn_buf_puts(o, "}\n");
}

static void
retire_chain(const struct bsn_proxy_nft_cfg *c, const char *prefix, const char *id,
             struct bsn_buf *o)
{
    char name[420];
    snprintf(name, sizeof(name), "%s%s", prefix, id);
    bsn_buf_printf(o, "flush chain ip %s %s\n", c->table, name);
    retire(c, "chain", name, o);
}

static void
retire_set(const struct bsn_proxy_nft_cfg *c, const char *eid, struct bsn_buf *o)
{
    char name[420];
    snprintf(name, sizeof(name), "aff-%s", eid);
    retire(c, "set", name, o);
}

static void
new_set(const struct bsn_proxy_nft_cfg *c, const char *eid, struct bsn_buf *o)
{
    char name[420];
    snprintf(name, sizeof(name), "aff-%s", eid);
    if (revive(c, "set", name))
        bsn_buf_printf(o, "flush set ip %s %s\n", c->table, name);
    else
        bsn_buf_printf(o, "add set ip %s %s { type ipv4_addr; flags dynamic,timeout; }\n", c->table,
                       name);
}

/* Before (re)filling chain prefix+id: flush it if it is a retired one. */
static bool
new_chain(const struct bsn_proxy_nft_cfg *c, const char *prefix, const char *id, struct bsn_buf *o)
{
    char name[420];
    snprintf(name, sizeof(name), "%s%s", prefix, id);
    if (revive(c, "chain", name)) {
        bsn_buf_printf(o, "flush chain ip %s %s\n", c->table, name);
        return true;
    }
    return false;
}

/* --- element changes (text and binary) --- */

void
bsn_proxy_nft_elems_reset(struct bsn_proxy_nft_elems *e)
{
    e->n = 0;
    e->other = false;
    e->textlen = 0;
}

void
bsn_proxy_nft_elems_fini(struct bsn_proxy_nft_elems *e)
{
    free(e->v);
    memset(e, 0, sizeof(*e));
}

static struct bsn_proxy_nft_elem *
elem_push(struct bsn_proxy_nft_elems *e, bool add, const char *set)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 32;
        e->v = bsn_realloc(e->v, e->cap * sizeof(*e->v));
    }
    struct bsn_proxy_nft_elem *x = &e->v[e->n++];
    memset(x, 0, sizeof(*x));
    x->add = add;
    snprintf(x->set, sizeof(x->set), "%s", set);
    return x;
}

/* an IPv4 address as nf_tables keeps it (network order) */
static void
put_ip(uint8_t *out, const char *ip)
{
    struct in_addr a = {0};
    inet_pton(AF_INET, ip, &a);
    memcpy(out, &a.s_addr, 4);
}

/* a port in a concatenation: network order, padded to a 32-bit register */
static void
put_port(uint8_t *out, uint16_t port)
{
    uint16_t be = htons(port);
    memcpy(out, &be, 2);
    out[2] = out[3] = 0;
}

/* Key k of its slot map: deleted, or added pointing at endpoint ep. */
static void
elem_slot(const struct bsn_proxy_nft_cfg *c, int proto, uint32_t k, const struct bsn_proxy_ep *ep,
          bool add, struct bsn_buf *o, struct bsn_proxy_nft_elems *el)
{
    size_t before = o->len;
    if (add)
        bsn_buf_printf(o, "add element ip %s %s-slots-%u { %u : %s . %u }\n", c->table,
                       proto_name(proto), shard(k), k, ep->ip, ep->port);
    else
        bsn_buf_printf(o, "delete element ip %s %s-slots-%u { %u }\n", c->table, proto_name(proto),
                       shard(k), k);
    if (!el)
        return;
    char set[32];
    snprintf(set, sizeof(set), "%s-slots-%u", proto_name(proto), shard(k));
    struct bsn_proxy_nft_elem *x = elem_push(el, add, set);
    x->klen = 4; /* numgen's result: a host-order 32-bit integer */
    memcpy(x->key, &k, 4);
    if (add) {
        x->dlen = 8;
        put_ip(x->data, ep->ip);
        put_port(x->data + 4, ep->port);
    }
    el->textlen += o->len - before;
}

struct hairpin {
    const struct bsn_proxy_ep *ep;
    int proto;
};

static void
elem_hairpin(const struct bsn_proxy_nft_cfg *c, const char *vip, const struct hairpin *h, bool add,
             struct bsn_buf *o, struct bsn_proxy_nft_elems *el)
{
    size_t before = o->len;
    bsn_buf_printf(o, "%s element ip %s hairpin { %s . %s . %s . %u . %s }\n",
                   add ? "add" : "delete", c->table, h->ep->ip, h->ep->ip, proto_name(h->proto),
                   h->ep->port, vip);
    if (!el)
        return;
    struct bsn_proxy_nft_elem *x = elem_push(el, add, "hairpin");
    x->klen = 20;
    put_ip(x->key, h->ep->ip);
    put_ip(x->key + 4, h->ep->ip);
    x->key[8] = (uint8_t)h->proto; /* inet_proto: one byte, padded */
    put_port(x->key + 12, h->ep->port);
    put_ip(x->key + 16, vip);
    el->textlen += o->len - before;
}

/* The hairpin elements of a Service's slot-map ports, without duplicates. */
static size_t
hairpins_of(const struct bsn_proxy_svc *s, struct hairpin **out)
{
    *out = NULL;
    if (!s || s->affinity_timeout)
        return 0;
    size_t total = 0, n = 0;
    for (size_t i = 0; i < s->nports; i++)
        total += s->ports[i].nep;
    if (!total)
        return 0;
    struct hairpin *h = bsn_calloc(total, sizeof(*h));
    for (size_t i = 0; i < s->nports; i++)
        for (size_t j = 0; j < s->ports[i].nep; j++) {
            const struct bsn_proxy_ep *e = &s->ports[i].eps[j];
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = h[k].proto == s->ports[i].proto && h[k].ep->port == e->port &&
                      !strcmp(h[k].ep->ip, e->ip);
            if (!dup)
                h[n++] = (struct hairpin){e, s->ports[i].proto};
        }
    *out = h;
    return n;
}

static bool
hairpin_in(const struct hairpin *h, const struct hairpin *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i].proto == h->proto && set[i].ep->port == h->ep->port &&
            !strcmp(set[i].ep->ip, h->ep->ip))
            return true;
    return false;
}

/*
 * Slot map sizes: numbers with many divisors, so that common endpoint counts divide them and
 * get exactly equal shares; otherwise a size of at least 8 slots per endpoint keeps the
 * difference between two endpoints' shares at most one slot in eight (12.5%). The size is kept
 * while it still qualifies (so endpoints coming and going mostly change elements only), and
 * shrunk when it is far larger than needed.
 */
static const uint16_t slot_sizes[] = {12, 60, 360, 2520, 5040};

static bool
slots_fit(uint16_t s, size_t n)
{
    return n == 0 || s % n == 0 || s >= 8 * n;
}

uint16_t
bsn_proxy_nft_slots(uint16_t cur, size_t n)
{
    if (cur && slots_fit(cur, n) && (cur <= 60 || cur <= 32 * n))
        return cur;
    size_t ns = sizeof(slot_sizes) / sizeof(slot_sizes[0]);
    for (size_t i = 0; i < ns; i++)
        if (slots_fit(slot_sizes[i], n))
            return slot_sizes[i];
    return slot_sizes[ns - 1]; /* more than 630 endpoints: not reached (BSN_PROXY_MAX_EPS) */
}

/* The block of slot keys of port pid (the one it had, or a new one). */
static uint32_t
block_take(const struct bsn_proxy_nft_cfg *c, const char *pid)
{
    struct bsn_proxy_nft_blocks *b = c->blocks;
    void *v = bsn_map_get(&b->owner, pid);
    if (v) { /* still its own (a retry, or given back and not yet reused) */
        if (c->stale) {
            char key[300];
            snprintf(key, sizeof(key), "block %s", pid);
            bsn_map_del(c->stale, key);
        }
        return (uint32_t)((uintptr_t)v - 1);
    }
    uint32_t n = b->nfree ? b->free[--b->nfree] : b->next++;
    bsn_map_put(&b->owner, pid, (void *)((uintptr_t)n + 1));
    return n;
}

/* Deletes the slot elements of slot-map port op (if any) and gives its block back. */
static void
slots_release(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_port *op, const char *pid,
              bool block, struct bsn_buf *o)
{
    if (op->nep && op->slots) {
        bsn_buf_printf(o, "delete element ip %s %s-slots-%u { ", c->table, proto_name(op->proto),
                       shard(op->slot_base));
        for (uint32_t k = 0; k < op->slots; k++)
            bsn_buf_printf(o, "%s%u", k ? ", " : "", op->slot_base + k);
        bsn_buf_puts(o, " }\n");
    }
    if (!block)
        return;
    if (c->stale) { /* reusable after the deletes have run: see bsn_proxy_nft_gc */
        char key[300];
        snprintf(key, sizeof(key), "block %s", pid);
        bsn_map_put(c->stale, key, (void *)1);
    } else {
        bsn_map_del(&c->blocks->owner, pid); /* never reused */
    }
}

/* Retires the per-endpoint chains and affinity sets of port op of the older layout. */
static void
retire_eps(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
           const struct bsn_proxy_port *op, const char *pid, struct bsn_buf *o)
{
    char eid[400];
    for (size_t i = 0; i < op->nep; i++) {
        ep_id(pid, &op->eps[i], eid, sizeof(eid));
        retire_chain(c, "ep-", eid, o);
        if (old->affinity_timeout)
            retire_set(c, eid, o);
    }
}

/*
 * Slot-map port np (no affinity); op: the same port before when it had a slot map too. The
 * rule names the slot count only: as long as it stays, an endpoint change is element changes.
 */
static void
port_flat(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
          const struct bsn_proxy_port *op, const struct bsn_proxy_svc *new,
          struct bsn_proxy_port *np, const char *pid, bool svc_exists, struct bsn_buf *o,
          struct bsn_proxy_nft_elems *el)
{
    const char *t = c->table;
    uint16_t s_old = op ? op->slots : 0;
    uint16_t s = bsn_proxy_nft_slots(s_old, np->nep);
    np->slots = s;
    np->slot_base =
        (op ? op->slot_base / BSN_PROXY_SLOT_BLOCK : block_take(c, pid)) * BSN_PROXY_SLOT_BLOCK;
    uint32_t base = np->slot_base;
    bool refill = !op || s != s_old;
    if (refill) {
        if (op)
            slots_release(c, op, pid, false, o);
        if (np->nep) {
            bsn_buf_printf(o, "add element ip %s %s-slots-%u { ", t, proto_name(np->proto),
                           shard(base));
            for (uint32_t k = 0; k < s; k++) {
                const struct bsn_proxy_ep *e = &np->eps[k % np->nep];
                bsn_buf_printf(o, "%s%u : %s . %u", k ? ", " : "", base + k, e->ip, e->port);
            }
            bsn_buf_puts(o, " }\n");
        }
    } else {
        /* the slots whose endpoint changes: deleted, then added again in the same transaction
         * (all deletes first: one netlink message each way) */
        for (int pass = 0; pass < 2; pass++)
            for (uint32_t k = 0; k < s; k++) {
                const struct bsn_proxy_ep *a = op->nep ? &op->eps[k % op->nep] : NULL;
                const struct bsn_proxy_ep *b = np->nep ? &np->eps[k % np->nep] : NULL;
                if (a && b && a->port == b->port && !strcmp(a->ip, b->ip))
                    continue;
                if (pass == 0 && a)
                    elem_slot(c, np->proto, base + k, NULL, false, o, el);
                if (pass == 1 && b)
                    elem_slot(c, np->proto, base + k, b, true, o, el);
            }
    }
    if (!refill && !strcmp(old->cluster_ip, new->cluster_ip))
        return;
    if (svc_exists)
        bsn_buf_printf(o, "flush chain ip %s svc-%s\n", t, pid);
    /* the map again (a no-op for the kernel): libnftables knows no map it has not fetched or
     * seen in the batch, and a batch of chains only fetches nothing */
    const char *pr = proto_name(np->proto);
    bsn_buf_printf(o,
                   "add map ip %s %s-slots-%u { typeof numgen random mod 2 : ip daddr . %s dport; "
                   "}\n",
                   t, pr, shard(base), pr);
    /* ClusterIP traffic from outside the pod network: masquerade so replies come back here */
    bsn_buf_printf(o,
                   "add chain ip %s svc-%s { ip daddr %s ip saddr != %s jump mark-for-masquerade; "
                   "meta l4proto %s dnat to numgen random mod %u offset %u map @%s-slots-%u; }\n",
                   t, pid, new->cluster_ip, c->cluster_cidr, proto_name(np->proto), s, base,
                   proto_name(np->proto), shard(base));
}

/* Creates or refreshes the chains of new port np (op: the same port before, or NULL). */
static void
port_update(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
            const struct bsn_proxy_port *op, const struct bsn_proxy_svc *new,
            struct bsn_proxy_port *np, struct bsn_buf *o, struct bsn_proxy_nft_elems *el)
{
    const char *t = c->table;
    char pid[256], eid[400];
    port_id(new, np, pid, sizeof(pid));
    bool flat_old = op && !old->affinity_timeout, flat_new = !new->affinity_timeout;
    bool svc_exists = op != NULL;
    if (!op)
        svc_exists = new_chain(c, "svc-", pid, o);
    if (!svc_exists) /* before the ext chain that jumps to it */
        bsn_buf_printf(o, "add chain ip %s svc-%s\n", t, pid);
    if (needs_ext(new, np) && !(op && needs_ext(old, op))) {
        new_chain(c, "ext-", pid, o);
        bsn_buf_printf(o, "add chain ip %s ext-%s { jump mark-for-masquerade; goto svc-%s; }\n", t,
                       pid, pid);
    }
    if (flat_new) {
        port_flat(c, old, flat_old ? op : NULL, new, np, pid, svc_exists, o, el);
        if (op && !flat_old) /* from the per-endpoint layout: its chains are unreferenced now */
            retire_eps(c, old, op, pid, o);
        return;
    }
    /* sessionAffinity: chains per endpoint; ap is the same port before in this layout */
    const struct bsn_proxy_port *ap = flat_old ? NULL : op;
    np->slots = 0;
    np->slot_base = 0;
    bool aff_old = ap && old->affinity_timeout, aff_new = true;
    bool regen_eps = !ap || old->affinity_timeout != new->affinity_timeout;
    bool same = ap && !regen_eps && ap->nep == np->nep && !strcmp(old->cluster_ip, new->cluster_ip);
    for (size_t i = 0; same && i < np->nep; i++)
        same = ap->eps[i].port == np->eps[i].port && !strcmp(ap->eps[i].ip, np->eps[i].ip);
    if (same)
        return;
    for (size_t i = 0; i < np->nep; i++) {
        const struct bsn_proxy_ep *e = &np->eps[i];
        bool existed = has_ep(ap, e);
        if (existed && !regen_eps)
            continue;
        ep_id(pid, e, eid, sizeof(eid));
        if (aff_new && !(existed && aff_old))
            new_set(c, eid, o);
        if (existed)
            bsn_buf_printf(o, "flush chain ip %s ep-%s\n", t, eid);
        else
            new_chain(c, "ep-", eid, o);
        fill_ep(c, new, np, eid, e, o);
    }
    fill_svc(c, new, np, pid, svc_exists, o);
    /* endpoints gone (and affinity sets no longer used): now unreferenced */
    for (size_t i = 0; ap && i < ap->nep; i++) {
        const struct bsn_proxy_ep *e = &ap->eps[i];
        bool kept = has_ep(np, e);
        ep_id(pid, e, eid, sizeof(eid));
        if (!kept)
            retire_chain(c, "ep-", eid, o);
        if (aff_old && !kept)
            retire_set(c, eid, o);
    }
    if (flat_old) /* from the slot-map layout */
        slots_release(c, op, pid, true, o);
}

/* Removes every chain, set and map of old port op (its map elements are already gone). */
static void
port_remove(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
            const struct bsn_proxy_port *op, struct bsn_buf *o)
{
    char pid[256];
    port_id(old, op, pid, sizeof(pid));
    if (needs_ext(old, op))
        retire_chain(c, "ext-", pid, o);
    bsn_buf_printf(o, "flush chain ip %s svc-%s\n", c->table, pid);
    if (old->affinity_timeout)
        retire_eps(c, old, op, pid, o);
    else
        slots_release(c, op, pid, true, o);
    char name[300];
    snprintf(name, sizeof(name), "svc-%s", pid);
    retire(c, "chain", name, o);
}

void
bsn_proxy_nft_delta(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
                    struct bsn_proxy_svc *new, struct bsn_buf *o, struct bsn_proxy_nft_elems *el)
{
    const char *t = c->table;
    size_t start = o->len, tstart = el ? el->textlen : 0;
    struct elem *eo = bsn_calloc(5 * BSN_PROXY_MAX_PORTS, sizeof(*eo));
    struct elem *en = bsn_calloc(5 * BSN_PROXY_MAX_PORTS, sizeof(*en));
    size_t no = elems_of(old, eo), nn = elems_of(new, en);
    struct hairpin *ho, *hn;
    size_t nho = hairpins_of(old, &ho), nhn = hairpins_of(new, &hn);
    /* 1. stale map elements first, so nothing leads to chains about to change or go */
    for (size_t i = 0; i < no; i++)
        if (!elem_in(&eo[i], en, nn))
            bsn_buf_printf(o, "delete element ip %s %s { %s }\n", t, eo[i].map, eo[i].key);
    for (size_t i = 0; i < nho; i++)
        if (!(new && !strcmp(old->cluster_ip, new->cluster_ip) && hairpin_in(&ho[i], hn, nhn)))
            elem_hairpin(c, old->cluster_ip, &ho[i], false, o, el);
    /* 2. chains of the ports that stay or arrive */
    for (size_t i = 0; new &&i < new->nports; i++)
        port_update(c, old, find_port(old, &new->ports[i]), new, &new->ports[i], o, el);
    /* 3. ports that went away; ext chains no longer needed */
    for (size_t i = 0; old && i < old->nports; i++) {
        const struct bsn_proxy_port *op = &old->ports[i];
        const struct bsn_proxy_port *np = find_port(new, op);
        if (!np) {
            port_remove(c, old, op, o);
        } else if (needs_ext(old, op) && !needs_ext(new, np)) {
            char pid[256];
            port_id(old, op, pid, sizeof(pid));
            retire_chain(c, "ext-", pid, o);
        }
    }
    /* 4. new map elements last: their chains exist and are complete */
    for (size_t i = 0; i < nhn; i++)
        if (!(old && !strcmp(old->cluster_ip, new->cluster_ip) && hairpin_in(&hn[i], ho, nho)))
            elem_hairpin(c, new->cluster_ip, &hn[i], true, o, el);
    for (size_t i = 0; i < nn; i++)
        if (!elem_in(&en[i], eo, no))
            bsn_buf_printf(o, "add element ip %s %s { %s : %s }\n", t, en[i].map, en[i].key,
                           en[i].val);
    if (el && o->len - start != el->textlen - tstart)
        el->other = true;
    free(ho);
    free(hn);
    free(eo);
    free(en);
}

/* --- libnftables --- */

struct bsn_proxy_nft {
    struct nft_ctx *ctx;
    char table[64];
    char cidr[64];
    struct bsn_proxy_nft_cfg cfg;
    int nl; /* NETLINK_NETFILTER socket of the fast path, -1 until first used */
    uint32_t seq;
};

int
bsn_proxy_nft_run(struct bsn_proxy_nft *n, const char *cmds, struct bsn_err *err)
{
    if (!cmds || !cmds[0])
        return 0;
    int rc = nft_run_cmd_from_buffer(n->ctx, cmds);
    const char *msg = nft_ctx_get_error_buffer(n->ctx);
    if (rc != 0) {
        bsn_err_set(err, 500, "InternalError", "nft: %.900s", msg && *msg ? msg : "failed");
        bsn_debug("proxy", "failed nft batch:\n%s", cmds);
        return -1;
    }
    return 0;
}

/* --- the fast path: element changes as one nf_tables batch over netlink --- */

#define FAST_MAX_ELEMS 1024 /* larger batches take the libnftables path (socket buffers) */

static void
nla_put(struct bsn_buf *b, uint16_t type, const void *data, size_t len)
{
    static const uint8_t pad[4];
    struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
    bsn_buf_append(b, &a, sizeof(a));
    bsn_buf_append(b, data, len);
    bsn_buf_append(b, pad, NLA_ALIGN(len) - len);
}

static size_t
nest_start(struct bsn_buf *b, uint16_t type)
{
    size_t off = b->len;
    struct nlattr a = {.nla_len = 0, .nla_type = type | NLA_F_NESTED};
    bsn_buf_append(b, &a, sizeof(a));
    return off;
}

static void
nest_end(struct bsn_buf *b, size_t off)
{
    uint16_t len = (uint16_t)(b->len - off);
    memcpy(b->data + off + offsetof(struct nlattr, nla_len), &len, sizeof(len));
}

static size_t
msg_start(struct bsn_buf *b, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family,
          uint16_t res_id)
{
    size_t off = b->len;
    struct nlmsghdr h = {
        .nlmsg_type = type, .nlmsg_flags = NLM_F_REQUEST | flags, .nlmsg_seq = seq};
    struct nfgenmsg g = {.nfgen_family = family, .version = NFNETLINK_V0, .res_id = htons(res_id)};
    bsn_buf_append(b, &h, sizeof(h));
    bsn_buf_append(b, &g, sizeof(g));
    return off;
}

static void
msg_end(struct bsn_buf *b, size_t off)
{
    uint32_t len = (uint32_t)(b->len - off);
    memcpy(b->data + off + offsetof(struct nlmsghdr, nlmsg_len), &len, sizeof(len));
}

/* One message for ops v[0..n) (same set, same direction). */
static void
elem_msg(struct bsn_buf *b, const char *table, const struct bsn_proxy_nft_elem *v, size_t n,
         uint32_t seq)
{
    bool add = v[0].add;
    uint16_t type = (NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    size_t m = msg_start(b, type, NLM_F_ACK | (add ? NLM_F_CREATE : 0), seq, NFPROTO_IPV4, 0);
    nla_put(b, NFTA_SET_ELEM_LIST_TABLE, table, strlen(table) + 1);
    nla_put(b, NFTA_SET_ELEM_LIST_SET, v[0].set, strlen(v[0].set) + 1);
    size_t list = nest_start(b, NFTA_SET_ELEM_LIST_ELEMENTS);
    for (size_t i = 0; i < n; i++) {
        const struct bsn_proxy_nft_elem *x = &v[i];
        size_t el = nest_start(b, NFTA_LIST_ELEM);
        size_t k = nest_start(b, NFTA_SET_ELEM_KEY);
        nla_put(b, NFTA_DATA_VALUE, x->key, x->klen);
        nest_end(b, k);
        if (add && x->dlen) {
            size_t d = nest_start(b, NFTA_SET_ELEM_DATA);
            nla_put(b, NFTA_DATA_VALUE, x->data, x->dlen);
            nest_end(b, d);
        }
        nest_end(b, el);
    }
    nest_end(b, list);
    msg_end(b, m);
}

static int
fast_socket(struct bsn_proxy_nft *n, struct bsn_err *err)
{
    if (n->nl >= 0)
        return 0;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    struct timeval tv = {.tv_sec = 2};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return bsn_err_set(err, 500, "InternalError", "netfilter netlink socket: %s", strerror(e));
    }
    n->nl = fd;
    return 0;
}

int
bsn_proxy_nft_run_elems(struct bsn_proxy_nft *n, const struct bsn_proxy_nft_elems *e,
                        struct bsn_err *err)
{
    if (!e->n)
        return 0;
    if (fast_socket(n, err) < 0)
        return -1;
    /* consecutive changes of one set in one direction share a message: the kernel finds a
     * set by name walking the table's list of sets, once per message */
    uint32_t seq0 = ++n->seq, nmsg = 0;
    size_t *first_op = bsn_calloc(e->n, sizeof(*first_op)); /* message -> its first op */
    struct bsn_buf b;
    bsn_buf_init(&b);
    msg_end(&b, msg_start(&b, NFNL_MSG_BATCH_BEGIN, 0, seq0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES));
    for (size_t i = 0, j; i < e->n; i = j) {
        for (j = i + 1; j < e->n && e->v[j].add == e->v[i].add && !strcmp(e->v[j].set, e->v[i].set);
             j++)
            ;
        first_op[nmsg] = i;
        elem_msg(&b, n->table, &e->v[i], j - i, seq0 + 1 + nmsg++);
    }
    msg_end(&b,
            msg_start(&b, NFNL_MSG_BATCH_END, 0, seq0 + nmsg + 1, AF_UNSPEC, NFNL_SUBSYS_NFTABLES));
    n->seq = seq0 + nmsg + 1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t w = sendto(n->nl, b.data, b.len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    bsn_buf_fini(&b);
    if (w < 0) {
        free(first_op);
        return bsn_err_set(err, 500, "InternalError", "netlink send: %s", strerror(errno));
    }
    /* one acknowledgement per message (errors included); the batch is all or nothing */
    size_t acks = 0;
    int first = 0;
    size_t bad = 0;
    char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
    while (acks < nmsg) {
        ssize_t r = recv(n->nl, buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            /* a lost reply leaves the socket out of step: start over with a new one */
            int eno = errno;
            close(n->nl);
            n->nl = -1;
            free(first_op);
            return bsn_err_set(err, 500, "InternalError", "netlink receive: %s", strerror(eno));
        }
        int len = (int)r;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq <= seq0 || h->nlmsg_seq > seq0 + nmsg || h->nlmsg_type != NLMSG_ERROR)
                continue;
            const struct nlmsgerr *ne = NLMSG_DATA(h);
            acks++;
            if (ne->error && !first) {
                first = ne->error;
                bad = first_op[h->nlmsg_seq - seq0 - 1];
            }
        }
    }
    free(first_op);
    if (first) {
        const struct bsn_proxy_nft_elem *x = &e->v[bad];
        return bsn_err_set(err, 500, "InternalError", "netlink: %s element of %s: %s",
                           x->add ? "adding" : "deleting", x->set, strerror(-first));
    }
    return 0;
}

int
bsn_proxy_nft_apply(struct bsn_proxy_nft *n, const char *cmds, const struct bsn_proxy_nft_elems *e,
                    struct bsn_err *err)
{
    if (e && !e->other && e->n <= FAST_MAX_ELEMS)
        return bsn_proxy_nft_run_elems(n, e, err);
    return bsn_proxy_nft_run(n, cmds, err);
}

struct bsn_proxy_nft *
bsn_proxy_nft_open(const struct bsn_proxy_nft_cfg *cfg, struct bsn_err *err)
{
    struct bsn_proxy_nft *n = bsn_calloc(1, sizeof(*n));
    n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!n->ctx) {
        free(n);
        bsn_err_set(err, 500, "InternalError", "nft_ctx_new failed");
        return NULL;
    }
    n->nl = -1;
    nft_ctx_buffer_output(n->ctx);
    nft_ctx_buffer_error(n->ctx);
    snprintf(n->table, sizeof(n->table), "%s", cfg->table);
    snprintf(n->cidr, sizeof(n->cidr), "%s", cfg->cluster_cidr);
    n->cfg.table = n->table;
    n->cfg.cluster_cidr = n->cidr;
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_proxy_nft_base(&n->cfg, &b);
    int rc = bsn_proxy_nft_run(n, b.data, err);
    bsn_buf_fini(&b);
    if (rc < 0) {
        bsn_proxy_nft_close(n, false);
        return NULL;
    }
    return n;
}

void
bsn_proxy_nft_close(struct bsn_proxy_nft *n, bool remove)
{
    if (!n)
        return;
    if (remove) {
        struct bsn_buf b;
        struct bsn_err err;
        bsn_buf_init(&b);
        bsn_err_clear(&err);
        bsn_proxy_nft_teardown(&n->cfg, &b);
        if (bsn_proxy_nft_run(n, b.data, &err) < 0)
            bsn_warn("proxy", "removing table %s: %s", n->table, err.msg);
        bsn_buf_fini(&b);
    }
    nft_ctx_free(n->ctx);
    if (n->nl >= 0)
        close(n->nl);
    free(n);
}
