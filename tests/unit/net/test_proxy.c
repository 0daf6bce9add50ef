/*
 * test_proxy.c - the service proxy's desired state (endpoint choice, ports, types, affinity)
 * and the nftables commands it generates for add / update / delete deltas; with root, the
 * generated commands are also run against the kernel in a table of the test's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "net/proxy.h"
#include "net/proxy_int.h"

static json_t *
J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, s);
    return j;
}

static const char *SVC =
    "{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"type\":\"%s\","
    "\"clusterIP\":\"10.43.0.5\",%s\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\","
    "\"nodePort\":30080,\"targetPort\":\"web\"},{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\","
    "\"nodePort\":30053}]}}";

static json_t *
svc_json(const char *type, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), SVC, type, extra);
    return J(buf);
}

/* slice with endpoints: ip, ready, serving, terminating for http=8080 and dns=5353 */
static json_t *
slice(const char *name, const char *eps)
{
    char buf[4096];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"namespace\":\"default\",\"name\":\"%s\",\"labels\":{"
             "\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
             "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"},"
             "{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"}],\"endpoints\":[%s]}",
             name, eps);
    return J(buf);
}

#define EP(ip, r, s, t)                                                            \
    "{\"addresses\":[\"" ip "\"],\"conditions\":{\"ready\":" #r ",\"serving\":" #s \
    ",\"terminating\":" #t "}}"

static void
build(json_t *svc, json_t **sl, size_t n, struct bsn_proxy_svc *out, int want_rc)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_proxy_svc_build(svc, sl, n, "192.0.2.7", out, &err), want_rc);
}

static void
test_ready_only(void **st)
{
    (void)st;
    json_t *svc = svc_json("ClusterIP", "");
    json_t *sl[2] = {
        slice("web-a", EP("10.42.0.9", true, true, false) "," EP("10.42.0.3", false, false, false)),
        slice("web-b", EP("10.42.0.4", true, true, false) "," EP("10.42.0.5", false, true, true))};
    struct bsn_proxy_svc s;
    build(svc, sl, 2, &s, 1);
    assert_string_equal(s.cluster_ip, "10.43.0.5");
    assert_int_equal(s.nports, 2);
    assert_int_equal(s.ports[0].proto, IPPROTO_TCP);
    assert_int_equal(s.ports[0].port, 80);
    assert_int_equal(s.ports[0].node_port, 0); /* ClusterIP: nodePort ignored */
    assert_int_equal(s.ports[0].nep, 2);       /* ready only, sorted numerically */
    assert_string_equal(s.ports[0].eps[0].ip, "10.42.0.4");
    assert_string_equal(s.ports[0].eps[1].ip, "10.42.0.9");
    assert_int_equal(s.ports[0].eps[0].port, 8080); /* resolved targetPort from the slice */
    assert_int_equal(s.ports[1].proto, IPPROTO_UDP);
    assert_int_equal(s.ports[1].eps[0].port, 5353);
    assert_int_equal(s.lb_ip[0], '\0');
    assert_int_equal(s.affinity_timeout, 0);
    bsn_proxy_svc_fini(&s);
    json_decref(sl[0]);
    json_decref(sl[1]);
    json_decref(svc);
}

static void
test_terminating_fallback(void **st)
{
    (void)st;
    json_t *svc = svc_json("ClusterIP", "");
    json_t *sl = slice("web-a", EP("10.42.0.5", false, true,
                                   true) "," EP("10.42.0.6", false, false,
                                                true) "," EP("10.42.0.7", false, true, false));
    struct bsn_proxy_svc s;
    build(svc, &sl, 1, &s, 1);
    /* no ready endpoint: serving + terminating ones drain; not serving and not terminating no */
    assert_int_equal(s.ports[0].nep, 1);
    assert_string_equal(s.ports[0].eps[0].ip, "10.42.0.5");
    bsn_proxy_svc_fini(&s);
    json_decref(sl);
    sl = slice("web-a", EP("10.42.0.5", false, true, true) "," EP("10.42.0.8", true, true, false));
    build(svc, &sl, 1, &s, 1);
    assert_int_equal(s.ports[0].nep, 1); /* a ready one exists: terminating gets nothing new */
    assert_string_equal(s.ports[0].eps[0].ip, "10.42.0.8");
    bsn_proxy_svc_fini(&s);
    json_decref(sl);
    json_decref(svc);
}

static void
test_types(void **st)
{
    (void)st;
    struct bsn_proxy_svc s;
    json_t *svc = svc_json("NodePort", "\"sessionAffinity\":\"ClientIP\",");
    build(svc, NULL, 0, &s, 1);
    assert_int_equal(s.type, BSN_PROXY_NODEPORT);
    assert_int_equal(s.ports[0].node_port, 30080);
    assert_int_equal(s.affinity_timeout, 10800); /* upstream default */
    assert_int_equal(s.ports[0].nep, 0);
    bsn_proxy_svc_fini(&s);
    json_decref(svc);
    svc = svc_json("LoadBalancer", "\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{"
                                   "\"clientIP\":{\"timeoutSeconds\":60}},");
    build(svc, NULL, 0, &s, 1);
    assert_string_equal(s.lb_ip, "192.0.2.7");
    assert_int_equal(s.affinity_timeout, 60);
    bsn_proxy_svc_fini(&s);
    json_decref(svc);
    svc = J("{\"metadata\":{\"namespace\":\"d\",\"name\":\"h\"},\"spec\":{\"clusterIP\":\"None\","
            "\"ports\":[{\"port\":80}]}}");
    build(svc, NULL, 0, &s, 0); /* headless: no rules */
    json_decref(svc);
    svc = J("{\"metadata\":{\"namespace\":\"d\",\"name\":\"x\"},\"spec\":{\"type\":"
            "\"ExternalName\",\"externalName\":\"example.com\"}}");
    build(svc, NULL, 0, &s, 0); /* ExternalName: DNS only */
    json_decref(svc);
    svc = J("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"clusterIP\":\"10.43.0.9\"}}");
    build(svc, NULL, 0, &s, -1);
    json_decref(svc);
}

/* --- nft deltas --- */

static struct bsn_proxy_nft_blocks BLK;
static struct bsn_proxy_nft_cfg CFG = {
    .table = "t", .cluster_cidr = "10.42.0.0/16", .blocks = &BLK};

static void
mk(struct bsn_proxy_svc *s, const char *name, int neps, uint32_t aff)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->ns, sizeof(s->ns), "default");
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->cluster_ip, sizeof(s->cluster_ip), "10.43.0.5");
    s->affinity_timeout = aff;
    s->nports = 1;
    s->ports = calloc(1, sizeof(*s->ports));
    snprintf(s->ports[0].name, sizeof(s->ports[0].name), "http");
    s->ports[0].proto = IPPROTO_TCP;
    s->ports[0].port = 80;
    s->ports[0].nep = (size_t)neps;
    s->ports[0].eps = calloc((size_t)neps + 1, sizeof(struct bsn_proxy_ep));
    for (int i = 0; i < neps; i++) {
        snprintf(s->ports[0].eps[i].ip, 16, "10.42.0.%d", i + 1);
        s->ports[0].eps[i].port = 8080;
    }
}

static int
count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* the slot map of port p ("tcp-slots-N") */
static const char *
slot_map(const struct bsn_proxy_port *p)
{
    static char name[32];
    snprintf(name, sizeof(name), "%s-slots-%u", p->proto == IPPROTO_UDP ? "udp" : "tcp",
             p->slot_base / BSN_PROXY_SLOT_BLOCK % 128);
    return name;
}

static void
test_nft_add(void **st)
{
    (void)st;
    struct bsn_proxy_svc s;
    mk(&s, "web", 2, 0);
    s.ports[0].node_port = 30080;
    struct bsn_buf b;
    bsn_buf_init(&b);
    struct bsn_proxy_nft_elems el = {0};
    bsn_proxy_nft_delta(&CFG, NULL, &s, &b, &el);
    const char *o = b.data;
    assert_true(el.other); /* chains and verdict elements: the text form runs */
    assert_int_equal(s.ports[0].slots, 12);
    uint32_t base = s.ports[0].slot_base;
    assert_true(base >= BSN_PROXY_SLOT_BLOCK && base % BSN_PROXY_SLOT_BLOCK == 0);
    char want[256];
    snprintf(want, sizeof(want),
             "add chain ip t svc-default/web/tcp/http { ip daddr 10.43.0.5 ip saddr != "
             "10.42.0.0/16 jump mark-for-masquerade; meta l4proto tcp dnat to numgen random mod 12 "
             "offset %u map @%s; }\n",
             base, slot_map(&s.ports[0]));
    assert_non_null(strstr(o, want));
    /* 12 slots, round-robin: 6 each */
    snprintf(want, sizeof(want),
             "add element ip t %s { %u : 10.42.0.1 . 8080, %u : 10.42.0.2 . 8080",
             slot_map(&s.ports[0]), base, base + 1);
    assert_non_null(strstr(o, want));
    assert_int_equal(count(o, " : 10.42.0.1 . 8080"), 6);
    assert_int_equal(count(o, " : 10.42.0.2 . 8080"), 6);
    assert_non_null(strstr(o, "add element ip t hairpin { 10.42.0.2 . 10.42.0.2 . tcp . 8080 . "
                              "10.43.0.5 }"));
    assert_null(strstr(o, "add rule")); /* block form only: no ruleset cache fetch */
    assert_non_null(strstr(o, "add element ip t service-ips { 10.43.0.5 . tcp . 80 : goto "
                              "svc-default/web/tcp/http }"));
    assert_non_null(strstr(
        o, "add element ip t service-nodeports { tcp . 30080 : goto ext-default/web/tcp/http }"));
    assert_int_equal(count(o, "delete"), 0);
    assert_null(strstr(o, "ep-"));                  /* no chains per endpoint */
    assert_null(strstr(o, "aff-"));                 /* no affinity, no sets */
    assert_null(strstr(o, "no-endpoint-services")); /* it has endpoints */
    /* map elements come after the chains they lead to */
    assert_true(strstr(o, "add element ip t service-ips") > strstr(o, "numgen"));
    assert_null(strstr(o, "vmap")); /* no anonymous map per Service */
    /* nothing changed: nothing to do */
    bsn_buf_reset(&b);
    bsn_proxy_nft_elems_reset(&el);
    struct bsn_proxy_svc same;
    bsn_proxy_svc_copy(&same, &s);
    bsn_proxy_nft_delta(&CFG, &s, &same, &b, &el);
    assert_int_equal(b.len, 0);
    assert_int_equal(el.n, 0);
    assert_false(el.other);
    assert_int_equal(same.ports[0].slot_base, base);
    bsn_proxy_nft_elems_fini(&el);
    bsn_buf_fini(&b);
    bsn_proxy_svc_fini(&s);
    bsn_proxy_svc_fini(&same);
}

static void
test_nft_no_endpoints(void **st)
{
    (void)st;
    struct bsn_proxy_svc a, c;
    mk(&a, "web", 0, 0);
    mk(&c, "web", 1, 0);
    struct bsn_buf b;
    bsn_buf_init(&b);
    /* no endpoints: new connections are refused; the rule is there, the slots are empty */
    bsn_proxy_nft_delta(&CFG, NULL, &a, &b, NULL);
    assert_non_null(strstr(b.data, "add element ip t no-endpoint-services { 10.43.0.5 . tcp . 80 "
                                   ": goto reject-chain }"));
    assert_non_null(strstr(b.data, "numgen random mod 12 offset"));
    assert_null(strstr(b.data, "add element ip t tcp-slots-"));
    /* the first endpoint arrives: the refusal is lifted, every slot leads to it */
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&CFG, &a, &c, &b, NULL);
    assert_non_null(
        strstr(b.data, "delete element ip t no-endpoint-services { 10.43.0.5 . tcp . 80 }"));
    assert_int_equal(count(b.data, " : 10.42.0.1 . 8080 }"), 12);
    assert_null(strstr(b.data, "chain"));
    assert_int_equal(c.ports[0].slot_base, a.ports[0].slot_base);
    /* and leaves again: the slots are emptied */
    bsn_buf_reset(&b);
    a.ports[0].slots = 0;
    bsn_proxy_nft_delta(&CFG, &c, &a, &b, NULL);
    assert_int_equal(count(b.data, "delete element ip t tcp-slots-"), 12);
    assert_null(strstr(b.data, "add element ip t tcp-slots-"));
    assert_int_equal(a.ports[0].slots, 12);
    bsn_buf_fini(&b);
    bsn_proxy_svc_fini(&a);
    bsn_proxy_svc_fini(&c);
}

static void
test_nft_update_one_endpoint(void **st)
{
    (void)st;
    struct bsn_proxy_svc a, c, d;
    mk(&a, "web", 3, 0);
    mk(&c, "web", 3, 0);
    c.ports[0].nep = 2; /* 10.42.0.3 goes away */
    mk(&d, "web", 3, 0);
    struct bsn_buf b;
    bsn_buf_init(&b);
    struct bsn_proxy_nft_elems el = {0};
    bsn_proxy_nft_delta(&CFG, NULL, &a, &b, NULL);
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&CFG, &a, &c, &b, &el);
    const char *o = b.data;
    /* element changes only: no rule, chain or verdict changes (no table validation) */
    assert_false(el.other);
    assert_null(strstr(o, "chain"));
    assert_null(strstr(o, "service-ips"));
    assert_int_equal(c.ports[0].slots, 12);
    /* slots 2-5 and 8-11 change hands (i % 3 -> i % 2): deleted, then added */
    assert_int_equal(count(o, "delete element ip t tcp-slots-"), 8);
    assert_int_equal(count(o, "add element ip t tcp-slots-"), 8);
    assert_int_equal(count(o, "10.42.0.3 . 8080 }"), 0);
    assert_non_null(strstr(o, "delete element ip t hairpin { 10.42.0.3 . 10.42.0.3 . tcp . 8080 . "
                              "10.43.0.5 }"));
    assert_int_equal(el.n, 17);
    assert_int_equal(count(o, "\n"), 17);
    assert_true(strstr(o, "add element ip t tcp-slots-") >
                strstr(o, "delete element ip t tcp-slots-"));
    /* the binary form: a host-order slot number and address . port (padded) */
    const struct bsn_proxy_nft_elem *x = &el.v[9]; /* after the hairpin and 8 slot deletes */
    assert_true(x->add);
    assert_string_equal(x->set, slot_map(&c.ports[0]));
    uint32_t k;
    memcpy(&k, x->key, 4);
    assert_int_equal(k, c.ports[0].slot_base + 2);
    const uint8_t d1[8] = {10, 42, 0, 1, 0x1f, 0x90, 0, 0};
    assert_int_equal(x->dlen, 8);
    assert_memory_equal(x->data, d1, 8);
    /* and back: elements only as well */
    bsn_buf_reset(&b);
    bsn_proxy_nft_elems_reset(&el);
    bsn_proxy_nft_delta(&CFG, &c, &d, &b, &el);
    assert_false(el.other);
    assert_int_equal(count(b.data, "add element ip t hairpin"), 1);
    bsn_proxy_nft_elems_fini(&el);
    bsn_buf_fini(&b);
    bsn_proxy_svc_fini(&a);
    bsn_proxy_svc_fini(&c);
    bsn_proxy_svc_fini(&d);
}

/* Slot counts: an even spread for every endpoint count, kept while endpoints come and go. */
static void
test_nft_slots(void **st)
{
    (void)st;
    for (size_t n = 1; n <= BSN_PROXY_MAX_EPS; n++) {
        uint16_t s = bsn_proxy_nft_slots(0, n);
        size_t lo = s / n, hi = (s + n - 1) / n; /* round-robin shares */
        assert_true(lo >= 1);
        assert_true(lo == hi || lo >= 8); /* at most one slot in eight more than another */
    }
    assert_int_equal(bsn_proxy_nft_slots(0, 2), 12);
    assert_int_equal(bsn_proxy_nft_slots(12, 3), 12);
    assert_int_equal(bsn_proxy_nft_slots(12, 0), 12);
    assert_int_equal(bsn_proxy_nft_slots(12, 5), 60);
    assert_int_equal(bsn_proxy_nft_slots(60, 4), 60); /* no change back for a rollout */
    assert_int_equal(bsn_proxy_nft_slots(60, 7), 60); /* 9 or 8 slots each */
    assert_int_equal(bsn_proxy_nft_slots(60, 11), 360);
    assert_int_equal(bsn_proxy_nft_slots(5040, 2), 12); /* far too large: shrunk */
}

static void
test_nft_affinity_and_delete(void **st)
{
    (void)st;
    struct bsn_proxy_svc a, c, d;
    mk(&a, "web", 2, 0);
    mk(&c, "web", 2, 30);
    mk(&d, "web", 2, 0);
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_proxy_nft_delta(&CFG, NULL, &a, &b, NULL);
    /* turning ClientIP affinity on: sets per endpoint, lookups in the service chain; the slots
     * and hairpin elements go */
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&CFG, &a, &c, &b, NULL);
    const char *o = b.data;
    assert_int_equal(count(o, "add set ip t aff-"), 2);
    assert_non_null(strstr(o, "update @aff-default/web/tcp/http__10.42.0.1/8080 { ip saddr "
                              "timeout 30s }"));
    assert_non_null(strstr(o, "ip saddr @aff-default/web/tcp/http__10.42.0.2/8080 goto "
                              "ep-default/web/tcp/http__10.42.0.2/8080"));
    assert_non_null(strstr(o, "ip saddr 10.42.0.1 jump mark-for-masquerade")); /* hairpin */
    assert_int_equal(count(o, "delete element ip t hairpin"), 2);
    char want[128];
    snprintf(want, sizeof(want), "delete element ip t %s { %u, %u,", slot_map(&a.ports[0]),
             a.ports[0].slot_base, a.ports[0].slot_base + 1);
    assert_non_null(strstr(o, want));
    assert_true(strstr(o, want) > strstr(o, "add chain ip t svc-")); /* after the rule went */
    assert_int_equal(c.ports[0].slots, 0);
    /* and off again: back to slots */
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&CFG, &c, &d, &b, NULL);
    o = b.data;
    assert_int_equal(count(o, "delete set ip t aff-"), 2);
    assert_int_equal(count(o, "delete chain ip t ep-"), 2);
    assert_int_equal(count(o, "add element ip t hairpin"), 2);
    assert_non_null(strstr(o, "dnat to numgen random mod 12"));
    assert_true(strstr(o, "delete chain ip t ep-") > strstr(o, "dnat to numgen"));
    /* deleting the Service removes all of it, verdict elements first */
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&CFG, &c, NULL, &b, NULL);
    o = b.data;
    assert_non_null(strstr(o, "delete element ip t service-ips { 10.43.0.5 . tcp . 80 }"));
    assert_int_equal(count(o, "delete set ip t aff-"), 2);
    assert_int_equal(count(o, "delete chain"), 3);
    assert_null(strstr(o, "add "));
    assert_true(strstr(o, "delete element") < strstr(o, "delete chain"));
    bsn_buf_fini(&b);
    bsn_proxy_svc_fini(&a);
    bsn_proxy_svc_fini(&c);
    bsn_proxy_svc_fini(&d);
}

static void
test_nft_stale(void **st)
{
    (void)st;
    struct bsn_map stale;
    bsn_map_init(&stale);
    struct bsn_proxy_nft_blocks blk;
    bsn_proxy_nft_blocks_init(&blk);
    struct bsn_proxy_nft_cfg cfg = CFG;
    cfg.stale = &stale;
    cfg.blocks = &blk;
    struct bsn_proxy_svc a, c, f, g;
    mk(&a, "web", 3, 60);
    mk(&c, "web", 3, 60);
    c.ports[0].nep = 2;
    struct bsn_buf b;
    bsn_buf_init(&b);
    /* (affinity) an endpoint leaves: its chain is flushed, its delete waits for the gc batch */
    bsn_proxy_nft_delta(&cfg, &a, &c, &b, NULL);
    assert_null(strstr(b.data, "delete"));
    assert_non_null(strstr(b.data, "flush chain ip t ep-default/web/tcp/http__10.42.0.3/8080\n"));
    assert_int_equal(stale.len, 2); /* chain and affinity set */
    /* it comes back before the gc: the chain is reused, not deleted later */
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&cfg, &c, &a, &b, NULL);
    assert_non_null(strstr(b.data, "add chain ip t ep-default/web/tcp/http__10.42.0.3/8080 {"));
    assert_int_equal(stale.len, 0);
    /* the Service goes: all chains wait for the gc, which deletes them */
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&cfg, &a, NULL, &b, NULL);
    assert_non_null(strstr(b.data, "delete element"));
    assert_int_equal(stale.len, 7); /* svc, 3 ep chains, 3 sets */
    bsn_buf_reset(&b);
    bsn_proxy_nft_gc(&cfg, &b);
    assert_int_equal(count(b.data, "delete chain ip t "), 4);
    assert_int_equal(count(b.data, "delete set ip t "), 3);
    assert_true(strstr(b.data, "delete set") > strstr(b.data, "delete chain"));
    assert_non_null(strstr(b.data, "delete chain ip t svc-default/web/tcp/http\n"));
    assert_int_equal(stale.len, 0);
    /* slot blocks: given back by the gc, then reused */
    mk(&f, "one", 2, 0);
    mk(&g, "two", 2, 0);
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&cfg, NULL, &f, &b, NULL);
    uint32_t fb = f.ports[0].slot_base;
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&cfg, &f, NULL, &b, NULL);
    assert_int_equal(count(b.data, "delete element ip t tcp-slots-"), 1);
    assert_int_equal(stale.len, 2); /* svc chain, block */
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&cfg, NULL, &g, &b, NULL);
    assert_int_not_equal(g.ports[0].slot_base, fb); /* not before the deletes ran */
    bsn_buf_reset(&b);
    bsn_proxy_nft_gc(&cfg, &b);
    assert_int_equal(blk.nfree, 1);
    struct bsn_proxy_svc h;
    mk(&h, "three", 1, 0);
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&cfg, NULL, &h, &b, NULL);
    assert_int_equal(h.ports[0].slot_base, fb);
    bsn_buf_fini(&b);
    bsn_map_fini(&stale);
    bsn_proxy_nft_blocks_fini(&blk);
    bsn_proxy_svc_fini(&a);
    bsn_proxy_svc_fini(&c);
    bsn_proxy_svc_fini(&f);
    bsn_proxy_svc_fini(&g);
    bsn_proxy_svc_fini(&h);
}

static void
test_user_addr(void **st)
{
    (void)st;
    char a[16];
    assert_int_equal(bsn_proxy_user_addr("10.43.0.10", a, sizeof(a)), 0);
    assert_string_equal(a, "127.43.0.10");
    assert_int_equal(bsn_proxy_user_addr("10.43.2.200", a, sizeof(a)), 0);
    assert_string_equal(a, "127.43.2.200");
    assert_int_equal(bsn_proxy_user_addr("None", a, sizeof(a)), -1);
}

/* The output of `nft list map ...` (a fresh process: the kernel's view). */
static void
nft_list(const char *what, char *out, size_t n)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "nft list %s 2>&1", what);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t got = fread(out, 1, n - 1, f);
    out[got] = 0;
    pclose(f);
}

/* With root: the generated commands are valid for the kernel (add, update, delete), and the
 * fast path's elements are what the text form says. */
static void
test_nft_kernel(void **st)
{
    (void)st;
    if (geteuid() != 0) {
        skip();
        return;
    }
    char table[32];
    snprintf(table, sizeof(table), "bsnut%d", (int)getpid());
    struct bsn_map stale;
    bsn_map_init(&stale);
    struct bsn_proxy_nft_blocks blk;
    bsn_proxy_nft_blocks_init(&blk);
    struct bsn_proxy_nft_cfg cfg = {
        .table = table, .cluster_cidr = "10.42.0.0/16", .stale = &stale, .blocks = &blk};
    struct bsn_err err;
    bsn_err_clear(&err);
    /* a stale table from a crashed run, with a chain of its own: replaced at open */
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "nft add table ip %s && nft add chain ip %s junk", table, table);
    int stale_rc = system(cmd);
    struct bsn_proxy_nft *n = bsn_proxy_nft_open(&cfg, &err);
    if (!n) {
        print_message("no nftables here (%s): skipped\n", err.msg);
        skip();
        return;
    }
    if (stale_rc == 0) {
        snprintf(cmd, sizeof(cmd), "nft list chain ip %s junk >/dev/null 2>&1", table);
        assert_int_not_equal(system(cmd), 0);
    }
    struct bsn_proxy_svc s[7];
    mk(&s[0], "web", 3, 0);
    mk(&s[1], "web", 2, 60);
    s[1].ports[0].node_port = 30080;
    snprintf(s[1].lb_ip, 16, "192.0.2.7");
    mk(&s[2], "web", 3, 0);
    mk(&s[3], "other", 0, 0); /* no endpoints: refused */
    snprintf(s[3].cluster_ip, 16, "10.43.0.6");
    s[3].ports[0].node_port = 30081;   /* a new Service with an ext chain from the start */
    s[3].ports[0].proto = IPPROTO_UDP; /* UDP shares the slot maps with TCP */
    mk(&s[4], "web", 2, 0);            /* an endpoint less: elements only */
    mk(&s[5], "web", 5, 0);            /* 12 slots no longer fit: 60 */
    mk(&s[6], "other", 1, 0);          /* the first endpoint: elements and a verdict element */
    snprintf(s[6].cluster_ip, 16, "10.43.0.6");
    s[6].ports[0].node_port = 30081;
    s[6].ports[0].proto = IPPROTO_UDP;
    struct bsn_buf b;
    bsn_buf_init(&b);
    struct bsn_proxy_nft_elems el = {0};
    struct bsn_proxy_svc *steps[][2] = {{NULL, &s[0]},  {NULL, &s[3]},  {&s[0], &s[1]},
                                        {&s[1], &s[2]}, {&s[2], &s[4]}, {&s[4], &s[5]},
                                        {&s[3], &s[6]}, {&s[5], NULL},  {&s[6], NULL}};
    char out[8192], want[128];
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        bsn_buf_reset(&b);
        bsn_proxy_nft_elems_reset(&el);
        bsn_proxy_nft_delta(&cfg, steps[i][0], steps[i][1], &b, &el);
        assert_int_equal(!el.other, i == 4); /* the fast path: only for the endpoint change */
        if (bsn_proxy_nft_apply(n, b.data, &el, &err) < 0)
            fail_msg("step %zu: %s\n%s", i, err.msg, b.data);
        if (i == 4) { /* what the netlink batch wrote, as nft sees it */
            const struct bsn_proxy_port *p = &s[4].ports[0];
            snprintf(cmd, sizeof(cmd), "map ip %s %s", table, slot_map(p));
            nft_list(cmd, out, sizeof(out));
            for (uint32_t k = 0; k < 12; k++) {
                snprintf(want, sizeof(want), "%u : 10.42.0.%u . 8080", p->slot_base + k, k % 2 + 1);
                if (!strstr(out, want))
                    fail_msg("no '%s' in\n%s", want, out);
            }
            assert_null(strstr(out, "10.42.0.3 . 8080"));
            snprintf(cmd, sizeof(cmd), "set ip %s hairpin", table);
            nft_list(cmd, out, sizeof(out));
            assert_non_null(strstr(out, "10.42.0.2 . 10.42.0.2 . tcp . 8080 . 10.43.0.5"));
            assert_null(strstr(out, "10.42.0.3 . 10.42.0.3"));
        }
        if (i % 2) { /* garbage-collect every other step */
            bsn_buf_reset(&b);
            bsn_proxy_nft_gc(&cfg, &b);
            if (bsn_proxy_nft_run(n, b.data, &err) < 0)
                fail_msg("gc after step %zu: %s\n%s", i, err.msg, b.data);
        }
    }
    /* a failing fast batch is reported (the element is not there) */
    bsn_proxy_nft_elems_reset(&el);
    bsn_buf_reset(&b);
    bsn_proxy_nft_delta(&cfg, &s[2], &s[4], &b, &el);
    assert_int_equal(bsn_proxy_nft_run_elems(n, &el, &err), -1);
    assert_non_null(strstr(err.msg, "deleting element"));
    /* everything is gone but the base */
    snprintf(cmd, sizeof(cmd), "table ip %s", table);
    nft_list(cmd, out, sizeof(out));
    assert_null(strstr(out, "svc-"));
    assert_null(strstr(out, " : 10.42."));
    assert_null(strstr(out, "10.42.0.1 . 10.42.0.1"));
    bsn_map_fini(&stale);
    bsn_proxy_nft_blocks_fini(&blk);
    bsn_proxy_nft_elems_fini(&el);
    bsn_buf_fini(&b);
    bsn_proxy_nft_close(n, true);
    for (int i = 0; i < 7; i++)
        bsn_proxy_svc_fini(&s[i]);
    snprintf(cmd, sizeof(cmd), "nft list table ip %s >/dev/null 2>&1", table);
    assert_int_not_equal(system(cmd), 0); /* removed on close */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_only),
        cmocka_unit_test(test_terminating_fallback),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_nft_add),
        cmocka_unit_test(test_nft_no_endpoints),
        cmocka_unit_test(test_nft_update_one_endpoint),
        cmocka_unit_test(test_nft_slots),
        cmocka_unit_test(test_nft_affinity_and_delete),
        cmocka_unit_test(test_nft_stale),
        cmocka_unit_test(test_user_addr),
        cmocka_unit_test(test_nft_kernel),
    };
    bsn_proxy_nft_blocks_init(&BLK);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    bsn_proxy_nft_blocks_fini(&BLK);
    return rc;
}
