/*
 * route_bench.c - route lookup cost against the number of routes, 1 to 10,000, for two kinds
 * of table:
 *
 *   hosts     N Ingress rules of one host and one Prefix path each ("hI.example.com",
 *             "/svcI"), plus a wildcard host; lookups of "/svcI/api/v1/items" on an exact
 *             host, of a wildcard host and of an unknown host (a miss)
 *   prefixes  one host with N Prefix paths two levels deep ("/teamT/svcI", T = I % 64) and N/4
 *             Exact paths; lookups of "/teamT/svcI/api/v1/items/42", which walk the path up
 *             element by element (six candidate prefixes, one Exact probe)
 *
 * "same" repeats one request (everything it reads stays in the CPU cache); "spread" cycles
 * through requests for every route in a shuffled order, so each lookup reads table entries
 * the previous ones did not: what a gateway serving all its routes sees. Prints ns per
 * lookup and the compile time.
 *
 *   build-bench/src/gateway/gateway-route-bench
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/time.h"
#include "gateway/gateway.h"

#define MAXN 10000

static void
add_rule(json_t *rules, const char *host, const char *path, const char *type)
{
    json_t *p = json_pack("{s:s,s:s,s:{s:{s:s,s:{s:i}}}}", "path", path, "pathType", type,
                          "backend", "service", "name", "s", "port", "number", 80);
    json_t *rule = json_pack("{s:{s:[o]}}", "http", "paths", p);
    if (host)
        json_object_set_new(rule, "host", json_string(host));
    json_array_append_new(rules, rule);
}

static json_t *
config(json_t *rules)
{
    json_t *objs = json_array();
    json_array_append_new(objs, json_pack("{s:s,s:{s:s},s:{s:[{s:i}]}}", "kind", "Service",
                                          "metadata", "name", "s", "spec", "ports", "port", 80));
    json_array_append_new(objs, json_pack("{s:s,s:{s:s},s:{s:o}}", "kind", "Ingress", "metadata",
                                          "name", "bench", "spec", "rules", rules));
    return objs;
}

static json_t *
hosts_config(int n)
{
    json_t *rules = json_array();
    char host[64], path[64];
    for (int i = 0; i < n; i++) {
        snprintf(host, sizeof(host), "h%d.example.com", i);
        snprintf(path, sizeof(path), "/svc%d", i);
        add_rule(rules, host, path, "Prefix");
    }
    add_rule(rules, "*.wild.example.com", "/", "Prefix");
    return config(rules);
}

static json_t *
prefixes_config(int n)
{
    json_t *rules = json_array();
    char path[64];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/team%d/svc%d", i % 64, i);
        add_rule(rules, "api.example.com", path, "Prefix");
        if (i % 4 == 0) {
            snprintf(path, sizeof(path), "/team%d/svc%d/health", i % 64, i);
            add_rule(rules, "api.example.com", path, "Exact");
        }
    }
    return config(rules);
}

struct req {
    char host[64], path[80];
};

/* ns per lookup over iters lookups cycling through reqs[0..nreqs); *ok: all matched (or
 * none, for want == 0) */
static double
time_lookups(struct bsn_gw_config *cfg, const struct req *reqs, int nreqs, int iters, int want,
             int *ok)
{
    struct bsn_gw_request_info *ri = calloc((size_t)nreqs, sizeof(*ri));
    for (int i = 0; i < nreqs; i++)
        ri[i] = (struct bsn_gw_request_info){bsn_str_c(reqs[i].host),
                                             BSN_STR_LIT("GET"),
                                             bsn_str_c(reqs[i].path),
                                             BSN_STR_NULL,
                                             NULL,
                                             0};
    int hits = 0, k = 0;
    uint64_t t0 = bsn_mono_ns();
    for (int i = 0; i < iters; i++) {
        hits += bsn_gw_route_match(cfg, &ri[k]) != NULL;
        if (++k == nreqs)
            k = 0;
    }
    uint64_t t1 = bsn_mono_ns();
    free(ri);
    *ok = want ? hits == iters : hits == 0;
    return (double)(t1 - t0) / iters;
}

static void
shuffle(struct req *r, int n)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int j = (int)(x % (uint64_t)(i + 1));
        struct req t = r[i];
        r[i] = r[j];
        r[j] = t;
    }
}

static struct bsn_gw_config *
compile(json_t *objs, double *ms)
{
    struct bsn_err err = {0};
    uint64_t t0 = bsn_mono_ns();
    struct bsn_gw_config *cfg = bsn_gw_config_build(objs, &err);
    *ms = (double)(bsn_mono_ns() - t0) / 1e6;
    json_decref(objs);
    if (!cfg) {
        fprintf(stderr, "route_bench: %s\n", err.msg);
        exit(1);
    }
    return cfg;
}

#define ITERS 2000000

int
main(void)
{
    bsn_log_set_level(BSN_LOG_ERROR);
    static const int sizes[] = {1, 10, 100, 1000, 10000};
    static struct req reqs[MAXN];
    printf("%-9s %7s %11s %9s %10s %12s %9s %10s\n", "table", "routes", "compile ms", "same ns",
           "spread ns", "wildcard ns", "miss ns", "spread/1");
    double base = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int n = sizes[s], ok = 1, f;
        double ms;
        struct bsn_gw_config *cfg = compile(hosts_config(n), &ms);
        for (int i = 0; i < n; i++) {
            snprintf(reqs[i].host, sizeof(reqs[i].host), "h%d.example.com", i);
            snprintf(reqs[i].path, sizeof(reqs[i].path), "/svc%d/api/v1/items", i);
        }
        shuffle(reqs, n);
        double same = time_lookups(cfg, &reqs[n / 2], 1, ITERS, 1, &f);
        ok &= f;
        double spread = time_lookups(cfg, reqs, n, ITERS, 1, &f);
        ok &= f;
        struct req w = {"x.wild.example.com", "/a/b/c"}, m = {"nope.example.org", "/a"};
        double wild = time_lookups(cfg, &w, 1, ITERS, 1, &f);
        ok &= f;
        double miss = time_lookups(cfg, &m, 1, ITERS, 0, &f);
        ok &= f;
        if (n == 1)
            base = spread;
        printf("%-9s %7d %11.2f %9.1f %10.1f %12.1f %9.1f %10.2f%s\n", "hosts", n, ms, same, spread,
               wild, miss, spread / base, ok ? "" : "  (unexpected match result!)");
        bsn_gw_config_unref(cfg);
    }
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int n = sizes[s], ok = 1, f;
        double ms;
        struct bsn_gw_config *cfg = compile(prefixes_config(n), &ms);
        for (int i = 0; i < n; i++) {
            snprintf(reqs[i].host, sizeof(reqs[i].host), "api.example.com");
            snprintf(reqs[i].path, sizeof(reqs[i].path), "/team%d/svc%d/api/v1/items/42", i % 64,
                     i);
        }
        shuffle(reqs, n);
        double same = time_lookups(cfg, &reqs[n / 2], 1, ITERS, 1, &f);
        ok &= f;
        double spread = time_lookups(cfg, reqs, n, ITERS, 1, &f);
        ok &= f;
        struct req m = {"api.example.com", "/team1/nosuch/api/v1/items/42"};
        double miss = time_lookups(cfg, &m, 1, ITERS, 0, &f);
        ok &= f;
        if (n == 1)
            base = spread;
        printf("%-9s %7d %11.2f %9.1f %10.1f %12s %9.1f %10.2f%s\n", "prefixes", n, ms, same,
               spread, "-", miss, spread / base, ok ? "" : "  (unexpected match result!)");
        bsn_gw_config_unref(cfg);
    }
    return 0;
}
