/*
 * zone_update.c - cost of zone updates (the informer side of the DNS server): one batch of N
 * services (a relist), then single-service updates each published as its own snapshot, then
 * memory per service. Built and run by bench/dns/run.sh --zone.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "net/dns_zone.h"

static long
rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            sscanf(line + 6, "%ld", &v);
    if (f)
        fclose(f);
    return v;
}

static void
put(struct bsn_dns_zone *z, int i, int generation)
{
    char name[32], ip[32];
    struct bsn_dns_port p[] = {{"http", "TCP", 80}};
    snprintf(name, sizeof(name), "svc-%d", i);
    if (i % 5 != 4) {
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", 43 + generation, i / 250, i % 250 + 1);
        const char *ips[] = {ip};
        bsn_dns_zone_put_service(z, "bench", name, BSN_DNS_SVC_CLUSTER_IP, ips, 1, p, 1, NULL,
                                 false, NULL);
        return;
    }
    char ep[3][32];
    struct bsn_dns_endpoint e[3];
    for (int k = 0; k < 3; k++) {
        snprintf(ep[k], sizeof(ep[k]), "10.%d.%d.%d", 100 + generation, i / 80,
                 (i % 80) * 3 + k + 1);
        e[k] = (struct bsn_dns_endpoint){ep[k], NULL, true};
    }
    bsn_dns_zone_put_service(z, "bench", name, BSN_DNS_SVC_HEADLESS, NULL, 0, p, 1, NULL, false,
                             NULL);
    bsn_dns_zone_put_endpoints(z, "bench", name, e, 3, p, 1, NULL);
}

int
main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    long r0 = rss_kb();
    struct bsn_dns_zone *z = bsn_dns_zone_new(NULL, 0);
    uint64_t t0 = bsn_mono_ns();
    bsn_dns_zone_begin(z);
    for (int i = 0; i < n; i++)
        put(z, i, 0);
    bsn_dns_zone_commit(z);
    uint64_t t1 = bsn_mono_ns();
    int updates = 2000;
    for (int u = 0; u < updates; u++)
        put(z, (u * 7919) % n, 1);
    uint64_t t2 = bsn_mono_ns();
    malloc_trim(0);
    printf("zone: %d services (1/5 headless x3 endpoints): relist in one snapshot %.1f ms; "
           "single update published %.1f us; %ld KB (%.2f KB/service)\n",
           n, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e3 / updates, rss_kb() - r0,
           (double)(rss_kb() - r0) / n);
    bsn_dns_zone_free(z);
    return 0;
}
