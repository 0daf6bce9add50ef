/*
 * dns_cmd.c - `bosun dns`: a standalone cluster DNS server fed from a JSON file holding a
 * Kubernetes List of Services, Endpoints and EndpointSlices (used by the benchmark and the
 * integration tests; the agent embeds the same server fed by its informers).
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "net/dns_server.h"
#include "net/dns_zone.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: bosun dns [flags]\n\n"
            "Serves the cluster DNS zone (Kubernetes DNS spec " BSN_DNS_SCHEMA_VERSION
            ") over UDP and TCP.\n\n"
            "flags:\n"
            "  --listen ADDR:PORT     address to serve on (default 127.0.0.1:53; port 0 = any)\n"
            "  --records FILE         JSON: a List of Service, Endpoints, EndpointSlice objects\n"
            "  --domain DOMAIN        cluster domain (default " BSN_DNS_DEFAULT_DOMAIN ")\n"
            "  --ttl SECONDS          TTL of cluster records (default 5)\n"
            "  --threads N            worker threads (default 1)\n"
            "  --upstream IP[:PORT]   forward other names there (repeatable, up to 4)\n"
            "  --resolv-conf FILE     upstreams from FILE when no --upstream (default "
            "/etc/resolv.conf)\n"
            "  --no-forward           answer REFUSED for names outside the cluster zone\n"
            "  --timeout MS           upstream timeout per attempt (default 2000)\n"
            "  --cache N              forward cache entries (default 10000)\n"
            "  --max-tcp N            TCP connection cap (default 1024)\n"
            "  --tcp-idle MS          idle TCP connection timeout (default 10000)\n"
            "  --help                 this text\n\n"
            "SIGHUP reloads the records file; SIGINT/SIGTERM stop the server.\n");
}

static int
load_records(struct bsn_dns_zone *zone, const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        fprintf(stderr, "bosun dns: %s:%d: %s\n", path, jerr.line, jerr.text);
        return -1;
    }
    struct bsn_err err = {0};
    int rc = bsn_dns_zone_apply_object(zone, doc, false, &err);
    json_decref(doc);
    if (rc < 0)
        fprintf(stderr, "bosun dns: %s: %s\n", path, err.msg);
    return rc;
}

int
bsn_cmd_dns(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"records", required_argument, NULL, 'r'},
        {"domain", required_argument, NULL, 'd'},
        {"ttl", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 't'},
        {"upstream", required_argument, NULL, 'u'},
        {"resolv-conf", required_argument, NULL, 'R'},
        {"no-forward", no_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'o'},
        {"cache", required_argument, NULL, 'c'},
        {"max-tcp", required_argument, NULL, 'm'},
        {"tcp-idle", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bsn_dns_server_config cfg = {.listen = "127.0.0.1:53", .threads = 1};
    const char *records = NULL, *domain = NULL, *resolv = "/etc/resolv.conf";
    const char *ups[4];
    size_t nups = 0;
    bool no_forward = false;
    long ttl = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            cfg.listen = optarg;
            break;
        case 'r':
            records = optarg;
            break;
        case 'd':
            domain = optarg;
            break;
        case 'T':
            ttl = atol(optarg);
            break;
        case 't':
            cfg.threads = atoi(optarg);
            break;
        case 'u':
            if (nups == 4) {
                fprintf(stderr, "bosun dns: at most 4 --upstream\n");
                return 2;
            }
            ups[nups++] = optarg;
            break;
        case 'R':
            resolv = optarg;
            break;
        case 'n':
            no_forward = true;
            break;
        case 'o':
            cfg.upstream_timeout_ms = atoi(optarg);
            break;
        case 'c':
            cfg.cache_entries = (size_t)atol(optarg);
            break;
        case 'm':
            cfg.max_tcp_conns = atoi(optarg);
            break;
        case 'i':
            cfg.tcp_idle_ms = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || cfg.threads < 1 || cfg.threads > BSN_DNS_MAX_THREADS || ttl < 0) {
        usage(stderr);
        return 2;
    }
    struct bsn_dns_zone *zone = bsn_dns_zone_new(domain, (uint32_t)ttl);
    if (records && load_records(zone, records) < 0) {
        bsn_dns_zone_free(zone);
        return 1;
    }
    malloc_trim(0); /* give back the JSON document's memory */
    cfg.zone = zone;
    if (!no_forward) {
        cfg.upstreams = ups;
        cfg.n_upstreams = nups;
        cfg.resolv_conf = nups ? NULL : resolv;
    }
    /* block the stop signals before the threads start so only sigwait() sees them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct bsn_err err = {0};
    struct bsn_dns_server *srv = bsn_dns_server_start(&cfg, &err);
    if (!srv) {
        fprintf(stderr, "bosun dns: %s\n", err.msg);
        bsn_dns_zone_free(zone);
        return 1;
    }
    char txt[BSN_DNS_NAME_MAX * 4];
    bsn_dns_name_to_text(bsn_dns_zone_origin(zone), txt, sizeof(txt));
    fprintf(stderr, "bosun dns: serving %s (%zu services) on %s port %u, udp+tcp, %d thread(s)\n",
            txt, bsn_dns_zone_service_count(zone), cfg.listen, bsn_dns_server_port(srv),
            cfg.threads);
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        if (!records)
            continue;
        /* reload: the new contents replace the old in one snapshot; on error the zone keeps
         * what was applied before the failing item (logged) */
        bsn_dns_zone_begin(zone);
        bsn_dns_zone_reset(zone);
        int rc = load_records(zone, records);
        bsn_dns_zone_commit(zone);
        malloc_trim(0);
        fprintf(stderr, "bosun dns: reloaded %s: %zu services%s\n", records,
                bsn_dns_zone_service_count(zone), rc < 0 ? " (with errors)" : "");
    }
    bsn_dns_server_stop(srv);
    bsn_dns_zone_free(zone);
    return 0;
}
