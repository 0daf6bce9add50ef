/*
 * nft_update.c - bench/net (b): time to program one endpoint change through the nftables
 * proxy backend with 100, 1,000 and 5,000 Services already in the table (must stay flat).
 *
 * usage (root): bosun-proxy-bench [TABLE]   (default table "bosunbench"; removed at the end)
 * Each Service has one TCP port and 2 endpoints; the measured change adds a third endpoint to
 * one Service and removes it again (one transaction each), median of 100 changes: wall time
 * and this thread's CPU time (user + kernel; robust to a loaded machine).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/time.h"
#include "net/proxy_int.h"

static void
make_svc(struct bsn_proxy_svc *s, int i, int neps)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->ns, sizeof(s->ns), "bench");
    snprintf(s->name, sizeof(s->name), "svc-%d", i);
    snprintf(s->cluster_ip, sizeof(s->cluster_ip), "10.43.%d.%d", 100 + i / 250, 1 + i % 250);
    s->type = BSN_PROXY_CLUSTERIP;
    s->nports = 1;
    s->ports = bsn_calloc(1, sizeof(*s->ports));
    snprintf(s->ports[0].name, sizeof(s->ports[0].name), "http");
    s->ports[0].proto = IPPROTO_TCP;
    s->ports[0].port = 80;
    s->ports[0].nep = (size_t)neps;
    s->ports[0].eps = bsn_calloc((size_t)neps, sizeof(struct bsn_proxy_ep));
    for (int k = 0; k < neps; k++) {
        snprintf(s->ports[0].eps[k].ip, 16, "10.42.%d.%d", (i * 3 + k) / 250 % 250,
                 1 + (i * 3 + k) % 250);
        s->ports[0].eps[k].port = 8080;
    }
}

/* CPU time of this thread, user + kernel: the netlink commit runs in our syscall, so this
 * is the cost itself, without the time the busy machine kept us waiting */
static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    struct bsn_map stale;
    bsn_map_init(&stale);
    struct bsn_proxy_nft_blocks blocks;
    bsn_proxy_nft_blocks_init(&blocks);
    struct bsn_proxy_nft_cfg cfg = {.table = argc > 1 ? argv[1] : "bosunbench",
                                    .cluster_cidr = "10.42.0.0/16",
                                    .stale = &stale,
                                    .blocks = &blocks};
    /* the Services as programmed (the delta reads what it programmed from the old state) */
    struct bsn_proxy_svc *all = bsn_calloc(5001, sizeof(*all));
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_proxy_nft *n = bsn_proxy_nft_open(&cfg, &err);
    if (!n) {
        fprintf(stderr, "bosun-proxy-bench: %s\n", err.msg);
        return 1;
    }
    const int steps[] = {100, 1000, 5000};
    int have = 0;
    struct bsn_buf b;
    bsn_buf_init(&b);
    struct bsn_proxy_nft_elems el = {0};
    for (size_t si = 0; si < 3; si++) {
        /* add Services up to the step, 500 per transaction */
        while (have < steps[si]) {
            bsn_buf_reset(&b);
            for (int k = 0; k < 500 && have < steps[si]; k++, have++) {
                make_svc(&all[have], have, 2);
                bsn_proxy_nft_delta(&cfg, NULL, &all[have], &b, NULL);
            }
            if (bsn_proxy_nft_run(n, b.data, &err) < 0) {
                fprintf(stderr, "bosun-proxy-bench: %s\n", err.msg);
                bsn_proxy_nft_close(n, true);
                return 1;
            }
        }
        struct bsn_proxy_svc two, three;
        bsn_proxy_svc_copy(&two, &all[have / 2]);
        make_svc(&three, have / 2, 3);
        int fast = 0;
        double t[100], cpu[100];
        for (int r = 0; r < 50; r++) {
            for (int dir = 0; dir < 2; dir++) {
                bsn_buf_reset(&b);
                bsn_proxy_nft_elems_reset(&el);
                /* as the proxy does: the delta is computed in the timed section too */
                uint64_t t0 = bsn_mono_ns(), c0 = thread_cpu_ns();
                bsn_proxy_nft_delta(&cfg, dir ? &three : &two, dir ? &two : &three, &b, &el);
                if (bsn_proxy_nft_apply(n, b.data, &el, &err) < 0) {
                    fprintf(stderr, "bosun-proxy-bench: %s\n", err.msg);
                    return 1;
                }
                t[2 * r + dir] = (double)(bsn_mono_ns() - t0) / 1e6;
                fast += !el.other;
                cpu[2 * r + dir] = (double)(thread_cpu_ns() - c0) / 1e6;
            }
        }
        qsort(t, 100, sizeof(t[0]), cmp_d);
        qsort(cpu, 100, sizeof(cpu[0]), cmp_d);
        /* the deferred deletes of the chains retired above, one batch */
        bsn_buf_reset(&b);
        bsn_proxy_nft_gc(&cfg, &b);
        uint64_t t0 = bsn_mono_ns();
        if (bsn_proxy_nft_run(n, b.data, &err) < 0) {
            fprintf(stderr, "bosun-proxy-bench: gc: %s\n", err.msg);
            return 1;
        }
        double gc = (double)(bsn_mono_ns() - t0) / 1e6;
        /* a whole Service added and removed (map elements: libnftables fetches its cache) */
        struct bsn_proxy_svc extra;
        make_svc(&extra, have + 1, 2);
        bsn_buf_reset(&b);
        bsn_proxy_nft_delta(&cfg, NULL, &extra, &b, NULL);
        t0 = bsn_mono_ns();
        int rc = bsn_proxy_nft_run(n, b.data, &err);
        double add = (double)(bsn_mono_ns() - t0) / 1e6;
        bsn_buf_reset(&b);
        bsn_proxy_nft_delta(&cfg, &extra, NULL, &b, NULL);
        rc |= bsn_proxy_nft_run(n, b.data, &err);
        bsn_proxy_svc_fini(&extra);
        if (rc < 0) {
            fprintf(stderr, "bosun-proxy-bench: %s\n", err.msg);
            return 1;
        }
        printf("services=%d endpoint_change_ms median=%.3f p90=%.3f max=%.3f  cpu_ms median=%.3f "
               "p90=%.3f  (elements only: %d/100)  service_add_ms=%.1f gc_ms=%.1f\n",
               have, t[50], t[90], t[99], cpu[50], cpu[90], fast, add, gc);
        fflush(stdout);
        bsn_proxy_svc_fini(&two);
        bsn_proxy_svc_fini(&three);
    }
    bsn_buf_fini(&b);
    bsn_proxy_nft_elems_fini(&el);
    bsn_proxy_nft_close(n, true);
    bsn_map_fini(&stale);
    bsn_proxy_nft_blocks_fini(&blocks);
    for (int i = 0; i < have; i++)
        bsn_proxy_svc_fini(&all[i]);
    free(all);
    return 0;
}
