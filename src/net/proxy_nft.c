/*
 * proxy_nft.c - Service virtual IPs on the kernel data path: nftables rules programmed
 * through libnftables, laid out as kube-proxy's nftables mode does.
 *
 * table ip <name> {
 *   map service-ips       { ipv4_addr . inet_proto . inet_service : verdict }  ClusterIP, LB
 *   map service-nodeports { inet_proto . inet_service : verdict }              NodePort
 *   map no-endpoint-services (filter input/forward/output): reject, no endpoints
 *   nat-prerouting / nat-output (dstnat) -> services: one vmap lookup per new connection
 *   nat-postrouting (srcnat) -> masquerading: masquerade what was marked 0x4000
 *   svc-NS/NAME/PROTO/PORT  per service port: affinity lookups, then a uniform random
 *                           choice (numgen random mod N-i == 0 goto ep-i)
 *   ext-...                 NodePort/LoadBalancer entry: mark for masquerade, goto svc-...
 *   ep-...__IP/PORT         per endpoint: hairpin mark, affinity update, dnat
 *   aff-...__IP/PORT        per endpoint set of client addresses (sessionAffinity ClientIP)
 * }
 *
 * A change to one Service produces commands touching only that Service's chains, sets and map
 * elements (bsn_proxy_nft_delta), so its cost does not depend on how many Services exist. Each
 * batch of commands runs as one nftables transaction.
 */
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "net/proxy_int.h"

#define MASQ_MARK "0x4000"

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
    bsn_buf_printf(o,
                   "add chain ip %s masquerading\n"
                   "add rule ip %s masquerading meta mark & " MASQ_MARK " == 0 return\n"
                   "add rule ip %s masquerading meta mark set meta mark ^ " MASQ_MARK "\n"
                   "add rule ip %s masquerading masquerade fully-random\n",
                   t, t, t, t);
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
bsn_proxy_nft_gc(const struct bsn_proxy_nft_cfg *c, struct bsn_buf *o)
{
    if (!c->stale)
        return;
    /* chains first: a retired chain may still name a retired set */
    for (int pass = 0; pass < 2; pass++) {
        const char *k;
        void *v;
        for (size_t it = 0; bsn_map_next(c->stale, &it, &k, &v);)
            if ((pass == 0) == (strncmp(k, "chain ", 6) == 0))
                bsn_buf_printf(o, "delete %s ip %s %s\n", pass ? "set" : "chain", c->table,
                               strchr(k, ' ') + 1);
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

/* Creates or refreshes the chains of new port np (op: the same port before, or NULL). */
static void
port_update(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
            const struct bsn_proxy_port *op, const struct bsn_proxy_svc *new,
            const struct bsn_proxy_port *np, struct bsn_buf *o)
{
    const char *t = c->table;
    char pid[256], eid[400];
    port_id(new, np, pid, sizeof(pid));
    bool aff_old = op && old->affinity_timeout, aff_new = new->affinity_timeout != 0;
    bool regen_eps = !op || old->affinity_timeout != new->affinity_timeout;
    bool same = op && !regen_eps && op->nep == np->nep && !strcmp(old->cluster_ip, new->cluster_ip);
    for (size_t i = 0; same && i < np->nep; i++)
        same = op->eps[i].port == np->eps[i].port && !strcmp(op->eps[i].ip, np->eps[i].ip);
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
    if (same)
        return;
    for (size_t i = 0; i < np->nep; i++) {
        const struct bsn_proxy_ep *e = &np->eps[i];
        bool existed = has_ep(op, e);
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
    for (size_t i = 0; op && i < op->nep; i++) {
        const struct bsn_proxy_ep *e = &op->eps[i];
        bool kept = has_ep(np, e);
        ep_id(pid, e, eid, sizeof(eid));
        if (!kept)
            retire_chain(c, "ep-", eid, o);
        if (aff_old && (!kept || !aff_new))
            retire_set(c, eid, o);
    }
}

/* Removes every chain and set of old port op (its map elements are already gone). */
static void
port_remove(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
            const struct bsn_proxy_port *op, struct bsn_buf *o)
{
    char pid[256], eid[400];
    port_id(old, op, pid, sizeof(pid));
    if (needs_ext(old, op))
        retire_chain(c, "ext-", pid, o);
    bsn_buf_printf(o, "flush chain ip %s svc-%s\n", c->table, pid);
    for (size_t i = 0; i < op->nep; i++) {
        ep_id(pid, &op->eps[i], eid, sizeof(eid));
        retire_chain(c, "ep-", eid, o);
        if (old->affinity_timeout)
            retire_set(c, eid, o);
    }
    char name[300];
    snprintf(name, sizeof(name), "svc-%s", pid);
    retire(c, "chain", name, o);
}

void
bsn_proxy_nft_delta(const struct bsn_proxy_nft_cfg *c, const struct bsn_proxy_svc *old,
                    const struct bsn_proxy_svc *new, struct bsn_buf *o)
{
    const char *t = c->table;
    struct elem *eo = bsn_calloc(5 * BSN_PROXY_MAX_PORTS, sizeof(*eo));
    struct elem *en = bsn_calloc(5 * BSN_PROXY_MAX_PORTS, sizeof(*en));
    size_t no = elems_of(old, eo), nn = elems_of(new, en);
    /* 1. stale map elements first, so nothing leads to chains about to change or go */
    for (size_t i = 0; i < no; i++)
        if (!elem_in(&eo[i], en, nn))
            bsn_buf_printf(o, "delete element ip %s %s { %s }\n", t, eo[i].map, eo[i].key);
    /* 2. chains of the ports that stay or arrive */
    for (size_t i = 0; new &&i < new->nports; i++)
        port_update(c, old, find_port(old, &new->ports[i]), new, &new->ports[i], o);
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
    for (size_t i = 0; i < nn; i++)
        if (!elem_in(&en[i], eo, no))
            bsn_buf_printf(o, "add element ip %s %s { %s : %s }\n", t, en[i].map, en[i].key,
                           en[i].val);
    free(eo);
    free(en);
}

/* --- libnftables --- */

struct bsn_proxy_nft {
    struct nft_ctx *ctx;
    char table[64];
    char cidr[64];
    struct bsn_proxy_nft_cfg cfg;
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
    free(n);
}
