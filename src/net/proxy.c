/*
 * proxy.c - the service proxy's control side: watches Services and EndpointSlices through the
 * in-process API client, computes each changed Service's desired state and hands the
 * difference to the data path (nftables or userspace). Owns the per-Service bookkeeping, the
 * LoadBalancer status writes and the kube-dns Service (proxy_dnssvc.c).
 *
 * Events only mark Services dirty; a zero-delay timer then syncs every dirty Service in one
 * nftables transaction, so a burst of events (a relist, a rollout) costs one transaction and
 * an idle Service costs nothing.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/client.h"
#include "base/log.h"
#include "base/map.h"
#include "base/hostaddr.h"
#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "net/proxy.h"
#include "net/proxy_int.h"
#include "net/proxy_dnssvc.h"

#define RETRY_MS      1000
#define RELIST_MS     300  /* let a relist's initial events arrive before syncing deletions */
#define USER_RETRY_MS 5000 /* a userspace port that could not be listened on */
#define GC_MS         1000 /* retired chains and sets are deleted in one batch this long after */

struct psvc {
    char key[140];            /* ns/name */
    json_t *svc;              /* NULL: not (or no longer) known */
    struct bsn_map slices;    /* slice name -> json_t* */
    struct bsn_proxy_svc cur; /* what the data path has */
    bool applied;             /* cur is valid */
    bool failing;             /* nftables: its last transaction failed (logged once) */
    bool retry;               /* userspace: some port could not be listened on; apply again */
    char lb_written[16];      /* ingress IP we last wrote to status */
};

struct pwatch {
    struct bsn_proxy *p;
    const char *path;
    bool slices;
    struct bsn_client_watch *w;
    char rv[32];
};

struct bsn_proxy {
    struct bsn_loop *loop;
    struct bsn_client *client;
    enum bsn_proxy_mode mode;
    char table[64];
    char cidr[64];
    char node_ip[16];
    struct bsn_proxy_nft_cfg cfg;
    struct bsn_proxy_nft *nft;
    struct bsn_proxy_user *user;
    struct bsn_map svcs;      /* ns/name -> struct psvc */
    struct bsn_map slice_svc; /* ns/slice -> char* service key */
    struct bsn_map dirty;     /* ns/name -> (void*)1 */
    struct pwatch watches[2];
    struct bsn_timer sync_timer;
    struct bsn_map stale;               /* retired chains/sets waiting for the gc batch */
    struct bsn_proxy_nft_blocks blocks; /* of the map service-slots */
    struct bsn_timer gc_timer;
    struct bsn_proxy_dnssvc *dnssvc;
    bool stopping;
};

int
bsn_proxy_parse_mode(const char *s, enum bsn_proxy_mode *out)
{
    if (!strcmp(s, "nftables"))
        *out = BSN_PROXY_NFTABLES;
    else if (!strcmp(s, "userspace"))
        *out = BSN_PROXY_USERSPACE;
    else if (!strcmp(s, "none"))
        *out = BSN_PROXY_NONE;
    else
        return -1;
    return 0;
}

enum bsn_proxy_mode
bsn_proxy_default_mode(void)
{
    return geteuid() == 0 ? BSN_PROXY_NFTABLES : BSN_PROXY_USERSPACE;
}

enum bsn_proxy_mode
bsn_proxy_mode(const struct bsn_proxy *p)
{
    return p->mode;
}

int
bsn_proxy_user_addr(const char *cluster_ip, char *out, size_t n)
{
    struct in_addr a;
    if (!cluster_ip || inet_pton(AF_INET, cluster_ip, &a) != 1)
        return -1;
    uint32_t v = ntohl(a.s_addr);
    snprintf(out, n, "127.%u.%u.%u", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
    return 0;
}

/*
 * Pods on one bridge reach each other at layer 2: without bridge-nf-call-iptables, the reply
 * of a backend to a client pod on the same bridge would skip conntrack and never be un-DNATed.
 * Turned on (as k3s does) when the module is loaded and the switch is off.
 */
static void
bridge_nf_on(void)
{
    const char *path = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    int c = fgetc(f);
    fclose(f);
    if (c != '0')
        return;
    f = fopen(path, "w");
    if (!f)
        return;
    bool ok = fputs("1", f) >= 0;
    if (fclose(f) == 0 && ok)
        bsn_info("proxy", "set net.bridge.bridge-nf-call-iptables=1 (Services between pods of "
                          "one bridge)");
}

static struct psvc *
psvc_get(struct bsn_proxy *p, const char *key, bool create)
{
    struct psvc *s = bsn_map_get(&p->svcs, key);
    if (!s && create) {
        s = bsn_calloc(1, sizeof(*s));
        snprintf(s->key, sizeof(s->key), "%s", key);
        bsn_map_init(&s->slices);
        bsn_map_put(&p->svcs, key, s);
    }
    return s;
}

static void
psvc_free(struct psvc *s)
{
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&s->slices, &it, &k, &v);)
        json_decref(v);
    bsn_map_fini(&s->slices);
    json_decref(s->svc);
    bsn_proxy_svc_fini(&s->cur);
    free(s);
}

static void sync_dirty(struct bsn_loop *loop, void *data);

static void
mark_dirty(struct bsn_proxy *p, const char *key, uint64_t delay_ms)
{
    if (!bsn_map_get(&p->dirty, key))
        bsn_map_put(&p->dirty, key, (void *)1);
    /* an event must not wait behind a retry armed for later */
    uint64_t when = bsn_loop_now(p->loop) + delay_ms;
    if (bsn_timer_active(&p->sync_timer) && p->sync_timer.when_ms > when)
        bsn_timer_stop(p->loop, &p->sync_timer);
    if (!bsn_timer_active(&p->sync_timer))
        bsn_timer_start(p->loop, &p->sync_timer, delay_ms, sync_dirty, p);
}

/* --- LoadBalancer status --- */

static void
write_lb_status(struct bsn_proxy *p, struct psvc *s)
{
    const char *want = s->cur.lb_ip;
    if (!s->svc || !want[0] || !strcmp(s->lb_written, want))
        return;
    json_t *ing = json_object_get(
        json_object_get(json_object_get(s->svc, "status"), "loadBalancer"), "ingress");
    const char *have = json_string_value(json_object_get(json_array_get(ing, 0), "ip"));
    snprintf(s->lb_written, sizeof(s->lb_written), "%s", want);
    if (have && !strcmp(have, want) && json_array_size(ing) == 1)
        return;
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services/%s/status", s->cur.ns,
             s->cur.name);
    json_t *patch =
        json_pack("{s:{s:{s:[{s:s}]}}}", "status", "loadBalancer", "ingress", "ip", want);
    bsn_client_request_json(p->client, "PATCH", path, "application/merge-patch+json", patch, NULL,
                            NULL);
    json_decref(patch);
}

/* --- sync --- */

static void
gc(struct bsn_loop *loop, void *data)
{
    (void)loop;
    struct bsn_proxy *p = data;
    struct bsn_buf b;
    struct bsn_err err;
    bsn_buf_init(&b);
    bsn_err_clear(&err);
    bsn_proxy_nft_gc(&p->cfg, &b);
    if (bsn_proxy_nft_run(p->nft, b.data, &err) < 0)
        bsn_warn("proxy", "deleting retired chains: %s", err.msg);
    bsn_buf_fini(&b);
}

struct pending {
    struct psvc *s;
    struct bsn_proxy_svc want;
    bool has_want;
};

static void
commit(struct bsn_proxy *p, struct pending *pd)
{
    struct psvc *s = pd->s;
    if (s->applied)
        bsn_proxy_svc_fini(&s->cur);
    s->applied = pd->has_want;
    if (pd->has_want)
        s->cur = pd->want;
    else
        memset(&pd->want, 0, sizeof(pd->want));
    if (s->applied)
        write_lb_status(p, s);
}

static void
sync_dirty(struct bsn_loop *loop, void *data)
{
    (void)loop;
    struct bsn_proxy *p = data;
    size_t n = p->dirty.len, k = 0;
    if (!n)
        return;
    uint64_t t0 = bsn_mono_ns();
    struct pending *pd = bsn_calloc(n, sizeof(*pd));
    const char *key;
    void *v;
    for (size_t it = 0; bsn_map_next(&p->dirty, &it, &key, &v);) {
        struct psvc *s = psvc_get(p, key, false);
        if (!s)
            continue;
        struct bsn_err err;
        bsn_err_clear(&err);
        json_t **sl = bsn_calloc(s->slices.len + 1, sizeof(*sl));
        size_t ns = 0;
        const char *sk;
        void *sv;
        for (size_t j = 0; bsn_map_next(&s->slices, &j, &sk, &sv);)
            sl[ns++] = sv;
        int rc = s->svc ? bsn_proxy_svc_build(s->svc, sl, ns, p->node_ip, &pd[k].want, &err) : 0;
        free(sl);
        if (rc < 0)
            bsn_debug("proxy", "service %s: %s", key, err.msg);
        pd[k].has_want = rc > 0;
        if (!s->retry && pd[k].has_want == s->applied &&
            (!s->applied || bsn_proxy_svc_equal(&pd[k].want, &s->cur))) {
            bsn_proxy_svc_fini(&pd[k].want);
            if (!s->svc && !s->applied && s->slices.len == 0) { /* gone, never had rules */
                bsn_map_del(&p->svcs, s->key);
                psvc_free(s);
            }
            continue;
        }
        pd[k++].s = s;
    }
    bsn_map_fini(&p->dirty);
    bsn_map_init(&p->dirty);
    if (p->mode == BSN_PROXY_NFTABLES && k) {
        struct bsn_buf b;
        struct bsn_proxy_nft_elems el = {0};
        bsn_buf_init(&b);
        for (size_t i = 0; i < k; i++)
            bsn_proxy_nft_delta(&p->cfg, pd[i].s->applied ? &pd[i].s->cur : NULL,
                                pd[i].has_want ? &pd[i].want : NULL, &b, &el);
        struct bsn_err err;
        bsn_err_clear(&err);
        if (bsn_proxy_nft_apply(p->nft, b.data, &el, &err) == 0) {
            for (size_t i = 0; i < k; i++)
                commit(p, &pd[i]);
        } else {
            /* one Service's rules failed the whole batch: apply them one by one */
            bsn_debug("proxy", "batch of %zu services failed (%s); one by one", k, err.msg);
            for (size_t i = 0; i < k; i++) {
                bsn_buf_reset(&b);
                bsn_proxy_nft_elems_reset(&el);
                bsn_proxy_nft_delta(&p->cfg, pd[i].s->applied ? &pd[i].s->cur : NULL,
                                    pd[i].has_want ? &pd[i].want : NULL, &b, &el);
                if (bsn_proxy_nft_apply(p->nft, b.data, &el, &err) == 0) {
                    commit(p, &pd[i]);
                    pd[i].s->failing = false;
                } else {
                    /* said once; the retries every second stay quiet */
                    bsn_log(pd[i].s->failing ? BSN_LOG_DEBUG : BSN_LOG_ERROR, "proxy",
                            "service %s: %s (retrying)", pd[i].s->key, err.msg);
                    pd[i].s->failing = true;
                    bsn_proxy_svc_fini(&pd[i].want);
                    mark_dirty(p, pd[i].s->key, RETRY_MS);
                }
            }
        }
        bsn_buf_fini(&b);
        bsn_proxy_nft_elems_fini(&el);
        if (p->stale.len && !bsn_timer_active(&p->gc_timer))
            bsn_timer_start(p->loop, &p->gc_timer, GC_MS, gc, p);
    } else {
        for (size_t i = 0; i < k; i++) {
            int failed =
                p->user ? bsn_proxy_user_apply(p->user, pd[i].s->key,
                                               pd[i].has_want ? &pd[i].want : NULL, pd[i].s->retry)
                        : 0;
            commit(p, &pd[i]);
            pd[i].s->retry = failed > 0;
            if (failed)
                mark_dirty(p, pd[i].s->key, USER_RETRY_MS);
        }
    }
    /* forget Services that are gone and have no rules left */
    for (size_t i = 0; i < k; i++) {
        struct psvc *s = pd[i].s;
        if (!s->svc && !s->applied && s->slices.len == 0 && !bsn_map_get(&p->dirty, s->key)) {
            bsn_map_del(&p->svcs, s->key);
            psvc_free(s);
        }
    }
    if (k)
        bsn_debug("proxy", "synced %zu services in %.2f ms", k, (double)(bsn_mono_ns() - t0) / 1e6);
    free(pd);
}

/* --- watches --- */

static const char *
jpath2(const json_t *o, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(o, a), b));
}

static void
on_slice(struct bsn_proxy *p, json_t *obj, bool deleted)
{
    const char *ns = jpath2(obj, "metadata", "namespace");
    const char *name = jpath2(obj, "metadata", "name");
    const char *svc = json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "labels"), "kubernetes.io/service-name"));
    if (!ns || !name)
        return;
    char skey[300], key[140];
    snprintf(skey, sizeof(skey), "%s/%s", ns, name);
    /* the slice leaves the Service it was filed under (deleted, or relabelled) */
    char *prev = bsn_map_get(&p->slice_svc, skey);
    if (prev && (deleted || !svc || strcmp(prev + strlen(ns) + 1, svc))) {
        struct psvc *s = psvc_get(p, prev, false);
        if (s) {
            json_decref(bsn_map_del(&s->slices, name));
            mark_dirty(p, prev, 0);
        }
        bsn_map_del(&p->slice_svc, skey);
        free(prev);
    }
    if (deleted || !svc)
        return;
    snprintf(key, sizeof(key), "%s/%s", ns, svc);
    struct psvc *s = psvc_get(p, key, true);
    json_decref(bsn_map_put(&s->slices, name, json_incref(obj)));
    if (!bsn_map_get(&p->slice_svc, skey))
        bsn_map_put(&p->slice_svc, skey, bsn_strdup(key));
    mark_dirty(p, key, 0);
}

static void
on_service(struct bsn_proxy *p, json_t *obj, bool deleted)
{
    const char *ns = jpath2(obj, "metadata", "namespace");
    const char *name = jpath2(obj, "metadata", "name");
    if (!ns || !name)
        return;
    char key[140];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    struct psvc *s = psvc_get(p, key, !deleted);
    if (!s)
        return;
    json_decref(s->svc);
    s->svc = deleted ? NULL : json_incref(obj);
    if (deleted)
        s->lb_written[0] = '\0';
    mark_dirty(p, key, 0);
}

static void start_watch(struct pwatch *w);

static void
on_event(const char *type, json_t *obj, void *data)
{
    struct pwatch *w = data;
    const char *rv = jpath2(obj, "metadata", "resourceVersion");
    if (rv)
        snprintf(w->rv, sizeof(w->rv), "%s", rv);
    if (!strcmp(type, "BOOKMARK") || !strcmp(type, "ERROR"))
        return;
    bool deleted = !strcmp(type, "DELETED");
    if (w->slices)
        on_slice(w->p, obj, deleted);
    else
        on_service(w->p, obj, deleted);
}

static void
on_closed(int status, void *data)
{
    struct pwatch *w = data;
    struct bsn_proxy *p = w->p;
    w->w = NULL;
    if (p->stopping)
        return;
    if (status == 410) {
        /* too old to resume: forget the objects (not the rules) and list again; every Service
         * we knew is re-synced once the fresh list has arrived */
        for (size_t i = 0; i < 2; i++) {
            bsn_client_watch_stop(p->watches[i].w);
            p->watches[i].w = NULL;
            p->watches[i].rv[0] = '\0';
        }
        const char *k;
        void *v;
        for (size_t it = 0; bsn_map_next(&p->slice_svc, &it, &k, &v);)
            free(v);
        bsn_map_fini(&p->slice_svc);
        bsn_map_init(&p->slice_svc);
        for (size_t it = 0; bsn_map_next(&p->svcs, &it, &k, &v);) {
            struct psvc *s = v;
            json_decref(s->svc);
            s->svc = NULL;
            const char *sk;
            void *sv;
            for (size_t j = 0; bsn_map_next(&s->slices, &j, &sk, &sv);)
                json_decref(sv);
            bsn_map_fini(&s->slices);
            bsn_map_init(&s->slices);
            if (!bsn_map_get(&p->dirty, k))
                bsn_map_put(&p->dirty, k, (void *)1);
        }
        bsn_timer_stop(p->loop, &p->sync_timer);
        bsn_timer_start(p->loop, &p->sync_timer, RELIST_MS, sync_dirty, p);
        for (size_t i = 0; i < 2; i++)
            start_watch(&p->watches[i]);
        return;
    }
    start_watch(w);
}

static void
start_watch(struct pwatch *w)
{
    w->w = bsn_client_watch_from(w->p->client, w->path, w->rv, on_event, on_closed, w);
}

struct bsn_proxy *
bsn_proxy_start(struct bsn_loop *loop, struct bsn_apiserver *api, const struct bsn_proxy_opts *opts,
                struct bsn_err *err)
{
    struct bsn_proxy *p = bsn_calloc(1, sizeof(*p));
    p->loop = loop;
    p->mode = opts->mode;
    snprintf(p->table, sizeof(p->table), "%s", opts->table ? opts->table : "bosun");
    snprintf(p->cidr, sizeof(p->cidr), "%s",
             opts->cluster_cidr ? opts->cluster_cidr : "10.42.0.0/16");
    if (opts->node_ip)
        snprintf(p->node_ip, sizeof(p->node_ip), "%s", opts->node_ip);
    else
        bsn_host_ipv4(p->node_ip, sizeof(p->node_ip));
    p->cfg.table = p->table;
    p->cfg.cluster_cidr = p->cidr;
    bsn_map_init(&p->stale);
    p->cfg.stale = &p->stale;
    bsn_proxy_nft_blocks_init(&p->blocks);
    p->cfg.blocks = &p->blocks;
    bsn_timer_init(&p->gc_timer);
    for (const char *c = p->table; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-')) {
            bsn_map_fini(&p->stale);
            bsn_proxy_nft_blocks_fini(&p->blocks);
            free(p);
            bsn_err_set(err, 400, "Invalid", "proxy table name '%s': letters, digits, - and _",
                        opts->table);
            return NULL;
        }
    if (p->mode == BSN_PROXY_NFTABLES) {
        bridge_nf_on();
        p->nft = bsn_proxy_nft_open(&p->cfg, err);
        if (!p->nft) {
            bsn_map_fini(&p->stale);
            bsn_proxy_nft_blocks_fini(&p->blocks);
            free(p);
            return NULL;
        }
    } else if (p->mode == BSN_PROXY_USERSPACE) {
        p->user = bsn_proxy_user_new(loop);
    }
    bsn_map_init(&p->svcs);
    bsn_map_init(&p->slice_svc);
    bsn_map_init(&p->dirty);
    bsn_timer_init(&p->sync_timer);
    p->client = bsn_client_new_local(api);
    if (p->mode != BSN_PROXY_NONE) {
        p->watches[0] = (struct pwatch){.p = p, .path = "/api/v1/services"};
        p->watches[1] = (struct pwatch){
            .p = p, .path = "/apis/discovery.k8s.io/v1/endpointslices", .slices = true};
        for (size_t i = 0; i < 2; i++)
            start_watch(&p->watches[i]);
    }
    if (opts->cluster_dns)
        p->dnssvc = bsn_proxy_dnssvc_start(loop, p->client, opts->cluster_dns, p->node_ip,
                                           opts->dns_service_ip);
    if (p->mode == BSN_PROXY_NFTABLES && bsn_proxy_dnssvc_is_loopback(opts->cluster_dns))
        bsn_warn("proxy",
                 "cluster DNS %s is on loopback: pods in network namespaces (oci runtime) cannot "
                 "reach it through %s; serve it on 0.0.0.0:PORT or a node address",
                 opts->cluster_dns,
                 opts->dns_service_ip ? opts->dns_service_ip : BSN_CLUSTER_DNS_IP);
    bsn_info("proxy", "mode %s%s%s, node address %s",
             p->mode == BSN_PROXY_NFTABLES    ? "nftables, table ip "
             : p->mode == BSN_PROXY_USERSPACE ? "userspace"
                                              : "none",
             p->mode == BSN_PROXY_NFTABLES ? p->table : "", "", p->node_ip);
    return p;
}

void
bsn_proxy_stop(struct bsn_proxy *p)
{
    if (!p)
        return;
    p->stopping = true;
    bsn_timer_stop(p->loop, &p->sync_timer);
    bsn_timer_stop(p->loop, &p->gc_timer);
    bsn_proxy_dnssvc_stop(p->dnssvc);
    bsn_client_free(p->client);
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&p->svcs, &it, &k, &v);) {
        struct psvc *s = v;
        if (p->user && s->applied)
            bsn_proxy_user_apply(p->user, s->key, NULL, false);
        psvc_free(s);
    }
    bsn_map_fini(&p->svcs);
    for (size_t it = 0; bsn_map_next(&p->slice_svc, &it, &k, &v);)
        free(v);
    bsn_map_fini(&p->slice_svc);
    bsn_map_fini(&p->dirty);
    bsn_map_fini(&p->stale);
    bsn_proxy_nft_blocks_fini(&p->blocks);
    bsn_proxy_nft_close(p->nft, true);
    bsn_proxy_user_free(p->user);
    free(p);
}
