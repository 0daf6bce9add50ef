/*
 * route_bench.c - route lookup cost against the number of routes: compiles configurations of
 * 1, 10, 100, 1,000 and 10,000 Ingress rules (one host + one path each, plus a wildcard and a
 * catch-all) and times bsn_gw_route_match() for hits on exact hosts, wildcard hosts and
 * misses. Prints ns per lookup and the compile time.
 *
 *   build-bench/src/gateway/gateway-route-bench
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/time.h"
#include "gateway/gateway.h"

static json_t *
config(int n)
{
    json_t *objs = json_array();
    json_array_append_new(objs, json_pack("{s:s,s:{s:s},s:{s:[{s:i}]}}", "kind", "Service",
                                          "metadata", "name", "s", "spec", "ports", "port", 80));
    json_t *rules = json_array();
    for (int i = 0; i < n; i++) {
        char host[64], path[64];
        snprintf(host, sizeof(host), "h%d.example.com", i);
        snprintf(path, sizeof(path), "/svc%d", i);
        json_array_append_new(rules,
                              json_pack("{s:s,s:{s:[{s:s,s:s,s:{s:{s:s,s:{s:i}}}}]}}", "host", host,
                                        "http", "paths", "path", path, "pathType", "Prefix",
                                        "backend", "service", "name", "s", "port", "number", 80));
    }
    json_array_append_new(rules, json_pack("{s:s,s:{s:[{s:s,s:s,s:{s:{s:s,s:{s:i}}}}]}}", "host",
                                           "*.wild.example.com", "http", "paths", "path", "/",
                                           "pathType", "Prefix", "backend", "service", "name", "s",
                                           "port", "number", 80));
    json_array_append_new(objs, json_pack("{s:s,s:{s:s},s:{s:o}}", "kind", "Ingress", "metadata",
                                          "name", "bench", "spec", "rules", rules));
    return objs;
}

static double
time_lookups(struct bsn_gw_config *cfg, const char *host, const char *path, int iters, int *found)
{
    struct bsn_gw_request_info ri = {
        bsn_str_c(host), BSN_STR_LIT("GET"), bsn_str_c(path), BSN_STR_NULL, NULL, 0};
    uint64_t t0 = bsn_mono_ns();
    int hits = 0;
    for (int i = 0; i < iters; i++)
        hits += bsn_gw_route_match(cfg, &ri) != NULL;
    uint64_t t1 = bsn_mono_ns();
    *found = hits == iters;
    return (double)(t1 - t0) / iters;
}

int
main(void)
{
    bsn_log_set_level(BSN_LOG_ERROR);
    static const int sizes[] = {1, 10, 100, 1000, 10000};
    printf("%8s %12s %14s %14s %12s\n", "routes", "compile ms", "exact ns/op", "wildcard ns/op",
           "miss ns/op");
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        int n = sizes[k];
        json_t *objs = config(n);
        struct bsn_err err = {0};
        uint64_t t0 = bsn_mono_ns();
        struct bsn_gw_config *cfg = bsn_gw_config_build(objs, &err);
        uint64_t t1 = bsn_mono_ns();
        json_decref(objs);
        char host[64], path[64];
        snprintf(host, sizeof(host), "h%d.example.com", n / 2);
        snprintf(path, sizeof(path), "/svc%d/api/v1/items", n / 2);
        int f1, f2, f3;
        double exact = time_lookups(cfg, host, path, 2000000, &f1);
        double wild = time_lookups(cfg, "x.wild.example.com", "/a/b/c", 2000000, &f2);
        double miss = time_lookups(cfg, "nope.example.org", "/a", 2000000, &f3);
        printf("%8d %12.2f %14.1f %14.1f %12.1f%s\n", n, (double)(t1 - t0) / 1e6, exact, wild, miss,
               f1 && f2 && !f3 ? "" : "  (unexpected match result!)");
        bsn_gw_config_unref(cfg);
    }
    return 0;
}
