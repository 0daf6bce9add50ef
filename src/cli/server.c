/*
 * server.c - `bosun server`: the control plane in one process (API server + store), and
 * `bosun kubeconfig`, which prints the admin kubeconfig the server wrote.
 *
 * First start in a data dir creates: tls/ (CA, serving certificate), token (admin bearer
 * token), db/state.db (SQLite store) and kubeconfig (for kubectl --kubeconfig).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/apiserver.h"
#include "api/client.h"
#include "base/base64.h"
#include "base/buf.h"
#include "base/hostaddr.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "cli/commands.h"
#include "cli/embed_dns.h"
#include "cli/embed_gateway.h"
#include "cli/util.h"
#include "controllers/controllers.h"
#include "scheduler/scheduler.h"
#include "http/tls.h"
#include "loop/loop.h"
#include "net/cni.h"
#include "net/proxy.h"
#include "store/store.h"

static void
server_usage(FILE *out)
{
    fprintf(out,
            "usage: bosun server [flags]\n\n"
            "Runs the control plane: Kubernetes API server and store.\n\n"
            "flags:\n"
            "  --data-dir DIR          state directory (default /var/lib/bosun as root,\n"
            "                          ~/.local/share/bosun otherwise)\n"
            "  --listen ADDR:PORT      API address (default 127.0.0.1:6443)\n"
            "  --advertise-address IP  address other nodes and pods use for the API\n"
            "                          (default: the listen address; for 0.0.0.0 the\n"
            "                          node's first non-loopback IPv4, as upstream)\n"
            "  --store sqlite|memory   storage backend (default sqlite in DATA-DIR/db)\n"
            "  --insecure-http         serve plain HTTP without TLS or authentication\n"
            "                          (local development and benchmarks only)\n"
            "  --log-level LEVEL       debug, info, warn or error (default info)\n"
            "  --log-json              log as JSON lines\n"
            "  --simulate-nodes N      register N simulated nodes (kwok style) whose pods\n"
            "                          run at once without a runtime\n"
            "  --sim-node-cpu Q, --sim-node-memory Q, --sim-node-pods N, --sim-node-labels\n"
            "                          K=V,...  capacity and labels of simulated nodes\n"
            "  --disable-controllers LIST  comma-separated controllers not to run, or all\n"
            "                          (scheduler is one of them)\n"
            "  --disable-agent         do not run pods on this host (no embedded agent;\n"
            "                          the default with --simulate-nodes unless --runtime\n"
            "                          or --node-name is given)\n"
            "  --runtime process|oci   container runtime of the embedded agent (default oci\n"
            "                          as root when runc is installed, else process)\n"
            "  --oci-runtime runc|crun OCI runtime of the oci runtime (default runc;\n"
            "                          also $BOSUN_OCI_RUNTIME)\n"
            "  --node-name NAME        node name of the embedded agent (default hostname)\n"
            "  --gateway-listen ADDR:PORT      HTTP listener of the embedded API gateway\n"
            "                          (repeatable; default :80 as root, :8080 otherwise)\n"
            "  --gateway-tls-listen ADDR:PORT  HTTPS listener (SNI from Secrets; default\n"
            "                          :443 as root, none otherwise)\n"
            "  --gateway-admin ADDR:PORT       gateway /metrics and /healthz (default none)\n"
            "  --disable-gateway       do not run the embedded gateway\n"
            "  --cluster-dns ADDR:PORT serve the cluster DNS zone (Services, EndpointSlices)\n"
            "                          on this address, UDP and TCP (default: off)\n"
            "  --cluster-domain NAME   the cluster zone (default cluster.local)\n"
            "  --cluster-dns-ip IP     nameserver of pods with dnsPolicy ClusterFirst\n"
            "                          (default: the service CIDR's .10)\n"
            "  --service-cidr CIDR     ClusterIP range, IPv4 /12 to /24 (default\n"
            "                          10.43.0.0/16; .1 is kubernetes, .10 kube-dns)\n"
            "  --cluster-cidr CIDR     pod network of the cluster (default 10.42.0.0/16)\n"
            "  --pod-cidr CIDR         this node's slice of it (default: the first /24)\n"
            "  --cni-bin-dir DIRS      CNI plugin dirs (default /usr/lib/cni:/opt/cni/bin)\n"
            "  --cni-conf-dir DIR      CNI network configs (default DATA-DIR/cni/net.d)\n"
            "  --cni-bridge NAME       bridge of the default pod network (default bosun0)\n"
            "  --cni-workers N         CNI ADD/DEL run in parallel for up to N pods (default 8)\n"
            "  --proxy-mode MODE       service proxy: nftables, userspace or none (default\n"
            "                          nftables as root, userspace otherwise)\n"
            "  --proxy-table NAME      nftables table of the proxy (default bosun)\n"
            "  -h, --help              show this help\n");
}

static int
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fchmod(fileno(f), mode);
    size_t w = fwrite(data, 1, len, f);
    if (fflush(f) != 0 || w != len || fsync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        return -EIO;
    }
    fclose(f);
    if (rename(tmp, path) < 0)
        return -errno;
    return 0;
}

static char *
ensure_token(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/token", dir);
    char *tok = bsn_read_file(path, NULL);
    if (tok) {
        tok[strcspn(tok, "\r\n")] = '\0';
        if (*tok)
            return tok;
        free(tok);
    }
    unsigned char raw[24];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return NULL;
    char hex[64];
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    if (write_file(path, hex, strlen(hex), 0600) < 0)
        return NULL;
    return bsn_strdup(hex);
}

static int
write_kubeconfig(const char *dir, const char *server_url, const char *token, bool tls)
{
    char path[PATH_MAX];
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_printf(&b,
                   "apiVersion: v1\nkind: Config\nclusters:\n- name: bosun\n  cluster:\n"
                   "    server: %s\n",
                   server_url);
    if (tls) {
        snprintf(path, sizeof(path), "%s/tls/ca.crt", dir);
        size_t n;
        char *ca = bsn_read_file(path, &n);
        if (!ca) {
            bsn_buf_fini(&b);
            return -1;
        }
        bsn_buf_puts(&b, "    certificate-authority-data: ");
        bsn_base64_encode((const uint8_t *)ca, n, &b);
        bsn_buf_putc(&b, '\n');
        free(ca);
    }
    bsn_buf_puts(&b, "users:\n- name: admin\n  user:\n");
    if (token)
        bsn_buf_printf(&b, "    token: %s\n", token);
    bsn_buf_puts(&b, "contexts:\n- name: bosun\n  context:\n    cluster: bosun\n    user: admin\n"
                     "    namespace: default\ncurrent-context: bosun\n");
    snprintf(path, sizeof(path), "%s/kubeconfig", dir);
    int rc = write_file(path, b.data, b.len, 0600);
    bsn_buf_fini(&b);
    return rc;
}

struct server_state {
    struct bsn_loop *loop;
};

static void
on_stop_signal(struct bsn_loop *loop, void *data)
{
    bsn_info("server", "shutting down");
    bsn_loop_stop(loop);
}

int
bsn_cmd_server(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"advertise-address", required_argument, NULL, 'a'},
        {"store", required_argument, NULL, 's'},
        {"insecure-http", no_argument, NULL, 'I'},
        {"log-level", required_argument, NULL, 'L'},
        {"log-json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {"simulate-nodes", required_argument, NULL, 1001},
        {"sim-node-cpu", required_argument, NULL, 1002},
        {"sim-node-memory", required_argument, NULL, 1003},
        {"sim-node-pods", required_argument, NULL, 1004},
        {"sim-node-labels", required_argument, NULL, 1005},
        {"disable-controllers", required_argument, NULL, 1006},
        {"disable-agent", no_argument, NULL, 1101},
        {"oci-runtime", required_argument, NULL, 1107},
        {"runtime", required_argument, NULL, 1102},
        {"node-name", required_argument, NULL, 1103},
        {"gateway-listen", required_argument, NULL, 1201},
        {"gateway-tls-listen", required_argument, NULL, 1202},
        {"gateway-admin", required_argument, NULL, 1203},
        {"disable-gateway", no_argument, NULL, 1204},
        {"cluster-dns", required_argument, NULL, 1301},
        {"cluster-domain", required_argument, NULL, 1302},
        {"proxy-mode", required_argument, NULL, 1501},
        {"proxy-table", required_argument, NULL, 1502},
        {"cluster-dns-ip", required_argument, NULL, 1401},
        {"cluster-cidr", required_argument, NULL, 1402},
        {"service-cidr", required_argument, NULL, 1410},
        {"pod-cidr", required_argument, NULL, 1403},
        {"cni-bin-dir", required_argument, NULL, 1404},
        {"cni-conf-dir", required_argument, NULL, 1405},
        {"cni-bridge", required_argument, NULL, 1406},
        {"cni-workers", required_argument, NULL, 1409},
        {NULL, 0, NULL, 0},
    };
    struct bsn_controllers_opts copts = {0};
    struct bsn_agent_opts agopts = {.control_plane = true};
    struct bsn_cni_opts cnio = {0}; /* the oci runtime's pod network (net/cni.h) */
    bool no_agent = false;
    const char *data_dir = NULL, *listen = "127.0.0.1:6443", *advertise = NULL;
    const char *store_kind = "sqlite";
    bool insecure = false;
    struct bsn_gw_options gwo = {0};
    bool no_gateway = false;
    const char *cluster_dns = NULL, *cluster_domain = "cluster.local";
    const char *service_cidr = NULL;
    struct bsn_proxy_opts pxo = {.mode = bsn_proxy_default_mode()};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            data_dir = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'a':
            advertise = optarg;
            break;
        case 's':
            store_kind = optarg;
            break;
        case 'I':
            insecure = true;
            break;
        case 'L': {
            enum bsn_log_level lvl;
            if (bsn_log_parse_level(optarg, &lvl) < 0) {
                fprintf(stderr, "bosun server: --log-level: unknown level '%s'\n", optarg);
                return 2;
            }
            bsn_log_set_level(lvl);
            break;
        }
        case 'J':
            bsn_log_set_json(1);
            break;
        case 1001:
            copts.sim_nodes = atoi(optarg);
            break;
        case 1002:
            copts.sim_cpu = optarg;
            break;
        case 1003:
            copts.sim_memory = optarg;
            break;
        case 1004:
            copts.sim_pods = optarg;
            break;
        case 1005:
            copts.sim_labels = optarg;
            break;
        case 1006:
            copts.disable = optarg;
            break;
        case 1101:
            no_agent = true;
            break;
        case 1107:
            agopts.oci_runtime = optarg;
            break;
        case 1102:
            agopts.runtime = optarg;
            break;
        case 1103:
            agopts.node_name = optarg;
            break;
        case 1201:
            if (gwo.nlisten < BSN_GW_MAX_LISTENERS)
                gwo.listen[gwo.nlisten++] = optarg;
            break;
        case 1202:
            if (gwo.ntls_listen < BSN_GW_MAX_LISTENERS)
                gwo.tls_listen[gwo.ntls_listen++] = optarg;
            break;
        case 1203:
            gwo.admin = optarg;
            break;
        case 1204:
            no_gateway = true;
            break;
        case 1301:
            cluster_dns = optarg;
            break;
        case 1302:
            cluster_domain = optarg;
            break;
        case 1401:
            agopts.cluster_dns_ip = optarg;
            break;
        case 1402:
            cnio.cluster_cidr = optarg;
            break;
        case 1410:
            service_cidr = optarg;
            break;
        case 1403:
            cnio.pod_cidr = optarg;
            break;
        case 1404:
            cnio.bin_dir = optarg;
            break;
        case 1405:
            cnio.conf_dir = optarg;
            break;
        case 1409:
            cnio.workers = atoi(optarg);
            if (cnio.workers < 1 || cnio.workers > 16) {
                fprintf(stderr, "bosun server: --cni-workers: expected 1-16, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 1406:
            cnio.bridge = optarg;
            break;
        case 1501:
            if (bsn_proxy_parse_mode(optarg, &pxo.mode) < 0) {
                fprintf(stderr, "bosun server: --proxy-mode: nftables, userspace or none\n");
                return 2;
            }
            break;
        case 1502:
            pxo.table = optarg;
            break;
        case 'h':
            server_usage(stdout);
            return 0;
        default:
            server_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bosun server: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (strcmp(store_kind, "sqlite") && strcmp(store_kind, "memory")) {
        fprintf(stderr, "bosun server: --store: must be sqlite or memory, not '%s'\n", store_kind);
        return 2;
    }
    /* the service CIDR's .1 is the `kubernetes` Service, its .10 kube-dns */
    char kube_ip[20], dns_ip[20];
    if (bsn_service_ip(service_cidr, 1, kube_ip, sizeof(kube_ip)) < 0 ||
        bsn_service_ip(service_cidr, 10, dns_ip, sizeof(dns_ip)) < 0) {
        fprintf(stderr,
                "bosun server: --service-cidr: want an IPv4 network address with a prefix of "
                "/12 to /24 (e.g. 10.43.0.0/16), got '%s'\n",
                service_cidr);
        return 2;
    }
    if (!agopts.cluster_dns_ip)
        agopts.cluster_dns_ip = dns_ip;
    char dir[PATH_MAX];
    if (bsn_default_data_dir(data_dir, dir, sizeof(dir)) < 0 || bsn_mkdir_p(dir, 0700) < 0) {
        fprintf(stderr, "bosun server: cannot create data dir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char host[256];
    int port;
    if (bsn_split_hostport(listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "bosun server: --listen: expected ADDR:PORT, got '%s'\n", listen);
        return 2;
    }
    /* the address the `kubernetes` Service points at: the listen address, or for a wildcard
     * listener the node's own address (as upstream), so pods reach the API through the
     * `kubernetes` Service */
    char node_ip[64];
    if (!advertise) {
        if (strcmp(host, "0.0.0.0") && strcmp(host, "::") && host[0]) {
            advertise = host;
        } else {
            bsn_host_ipv4(node_ip, sizeof(node_ip));
            advertise = node_ip;
        }
    }

    struct bsn_err err;
    bsn_err_clear(&err);
    uint64_t t0 = bsn_mono_ns();
    char path[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
    char *token = NULL;
    if (!insecure) {
        snprintf(path, sizeof(path), "%s/tls", dir);
        const char *names[] = {"localhost",
                               "kubernetes",
                               "kubernetes.default",
                               "kubernetes.default.svc",
                               "kubernetes.default.svc.cluster.local",
                               NULL,
                               NULL};
        char hn[256] = "";
        if (gethostname(hn, sizeof(hn)) == 0 && hn[0])
            names[5] = hn;
        const char *ips[] = {"127.0.0.1", kube_ip, advertise, NULL};
        if (bsn_tls_ensure_pki(path, names, ips, &err) < 0) {
            fprintf(stderr, "bosun server: %s\n", err.msg);
            return 1;
        }
        snprintf(cert, sizeof(cert), "%s/tls/server.crt", dir);
        snprintf(key, sizeof(key), "%s/tls/server.key", dir);
        token = ensure_token(dir);
        if (!token) {
            fprintf(stderr, "bosun server: cannot create the admin token in %s\n", dir);
            return 1;
        }
    }
    struct bsn_store *store = NULL;
    if (!strcmp(store_kind, "memory")) {
        bsn_store_open_memory(&store);
    } else {
        snprintf(path, sizeof(path), "%s/db", dir);
        bsn_mkdir_p(path, 0700);
        snprintf(path, sizeof(path), "%s/db/state.db", dir);
        if (bsn_store_open_sqlite(path, NULL, &store, &err) < 0) {
            fprintf(stderr, "bosun server: %s\n", err.msg);
            free(token);
            return 1;
        }
    }
    struct bsn_loop *loop = bsn_loop_new();
    /* before any thread starts, so every thread inherits the blocked mask */
    bsn_loop_add_signal(loop, SIGTERM, on_stop_signal, NULL);
    bsn_loop_add_signal(loop, SIGINT, on_stop_signal, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct bsn_apiserver_opts ao = {
        .listen = listen,
        .tls_cert = insecure ? NULL : cert,
        .tls_key = insecure ? NULL : key,
        .token = token,
        .store = store,
        .advertise_address = advertise,
        .advertise_port = port,
        .service_cidr = service_cidr,
    };
    struct bsn_apiserver *api = bsn_apiserver_new(loop, &ao, &err);
    if (!api) {
        fprintf(stderr, "bosun server: %s\n", err.msg);
        bsn_loop_free(loop);
        bsn_store_close(store);
        free(token);
        return 1;
    }
    char url[300];
    int bound = bsn_apiserver_port(api);
    const char *urlhost = strcmp(host, "0.0.0.0") == 0 || host[0] == '\0' ? "127.0.0.1" : host;
    if (strchr(urlhost, ':'))
        snprintf(url, sizeof(url), "%s://[%s]:%d", insecure ? "http" : "https", urlhost, bound);
    else
        snprintf(url, sizeof(url), "%s://%s:%d", insecure ? "http" : "https", urlhost, bound);
    if (write_kubeconfig(dir, url, token, !insecure) < 0)
        bsn_warn("server", "could not write %s/kubeconfig", dir);
    /* the join token for `bosun agent --token` (the admin token; see docs/agent.md) */
    snprintf(path, sizeof(path), "%s/node-token", dir);
    if (token && write_file(path, token, strlen(token), 0600) < 0)
        bsn_warn("server", "could not write %s", path);
    bsn_info("server", "ready in %.1f ms; kubeconfig: %s/kubeconfig",
             (double)(bsn_mono_ns() - t0) / 1e6, dir);
    /* controllers and scheduler: clients of the API on the same loop */
    struct bsn_ctrl *ctrl = bsn_ctrl_new(loop, api);
    copts.data_dir = dir; /* local-path volumes under <data-dir>/storage */
    struct bsn_controllers *ctrls = bsn_controllers_new(ctrl, &copts, &err);
    struct bsn_scheduler *sched =
        bsn_controllers_listed(copts.disable, "scheduler") ? NULL : bsn_scheduler_new(ctrl);
    bsn_ctrl_start(ctrl);
    /* the embedded node agent: one more client of the API on the same loop */
    struct bsn_agent *agent = NULL;
    /* a simulated cluster runs no real pods unless an agent flag asks for it */
    if (copts.sim_nodes > 0 && !agopts.runtime && !agopts.node_name)
        no_agent = true;
    struct bsn_cni *cni = NULL;
    if (!no_agent && geteuid() == 0 && (!agopts.runtime || !strcmp(agopts.runtime, "oci"))) {
        cnio.data_dir = dir;
        cnio.node_name = agopts.node_name;
        cnio.loop = loop;
        cni = bsn_cni_new(&cnio, &err);
        if (!cni)
            bsn_error("server", "pod network: %s (pods get only loopback)", err.msg);
        agopts.net_attach = cni ? bsn_cni_attach : NULL;
        agopts.net_detach = cni ? bsn_cni_detach : NULL;
        agopts.net_add = cni ? bsn_cni_attach_async : NULL;
        agopts.net_gc = cni ? bsn_cni_gc : NULL;
        agopts.net_data = cni;
        agopts.pod_cidr = cni ? bsn_cni_pod_cidr(cni) : NULL;
    }
    agopts.cluster_domain = cluster_domain;
    if (!no_agent) {
        agopts.data_dir = dir;
        agopts.api = api;
        agent = bsn_agent_new(loop, bsn_client_new_local(api), &agopts, &err);
        if (!agent)
            bsn_error("server", "%s (running without a node agent)", err.msg);
    }
    /* the embedded API gateway / ingress, configured from the API */
    struct bsn_embedded_gw *gateway = NULL;
    if (!no_gateway) {
        if (gwo.nlisten == 0 && gwo.ntls_listen == 0) {
            gwo.listen[gwo.nlisten++] = geteuid() == 0 ? ":80" : ":8080";
            if (geteuid() == 0)
                gwo.tls_listen[gwo.ntls_listen++] = ":443";
        }
        gateway = bsn_embed_gateway_start(loop, api, &gwo, advertise, &err);
        if (!gateway)
            bsn_error("server", "gateway: %s (running without the embedded gateway)", err.msg);
    }
    /* the cluster DNS server, its zone fed from the API */
    struct bsn_embedded_dns *dns = NULL;
    if (cluster_dns) {
        dns = bsn_embed_dns_start(loop, api, cluster_dns, cluster_domain, &err);
        if (!dns)
            bsn_error("server", "cluster DNS: %s (running without it)", err.msg);
        else
            bsn_info("server", "cluster DNS for %s on %s", cluster_domain, cluster_dns);
    }
    /* the service proxy (Service VIPs, NodePorts, LoadBalancers) and the kube-dns Service */
    pxo.cluster_cidr = cnio.cluster_cidr;
    pxo.cluster_dns = cluster_dns;
    pxo.dns_service_ip = dns_ip;
    struct bsn_proxy *proxy = bsn_proxy_start(loop, api, &pxo, &err);
    if (!proxy && pxo.mode == BSN_PROXY_NFTABLES) {
        bsn_error("server", "service proxy: %s (using the userspace proxy)", err.msg);
        pxo.mode = BSN_PROXY_USERSPACE;
        proxy = bsn_proxy_start(loop, api, &pxo, &err);
    }
    if (!proxy)
        bsn_error("server", "service proxy: %s (running without it)", err.msg);
    if (dns && proxy && bsn_proxy_mode(proxy) == BSN_PROXY_USERSPACE)
        bsn_embed_dns_userspace_ips(dns);
    bsn_loop_run(loop);
    bsn_proxy_stop(proxy);
    bsn_embed_dns_stop(dns);
    bsn_embed_gateway_stop(gateway);
    bsn_agent_free(agent);
    bsn_cni_free(cni);
    bsn_scheduler_free(sched);
    bsn_controllers_free(ctrls);
    bsn_ctrl_free(ctrl);
    bsn_apiserver_free(api);
    bsn_loop_free(loop);
    bsn_store_close(store);
    free(token);
    return 0;
}

int
bsn_cmd_kubeconfig(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            data_dir = optarg;
            break;
        case 'h':
            printf("usage: bosun kubeconfig [--data-dir DIR]\n\n"
                   "Prints the admin kubeconfig written by 'bosun server'.\n");
            return 0;
        default:
            return 2;
        }
    }
    char dir[PATH_MAX], path[PATH_MAX];
    if (bsn_default_data_dir(data_dir, dir, sizeof(dir)) < 0)
        return 1;
    snprintf(path, sizeof(path), "%s/kubeconfig", dir);
    size_t n;
    char *kc = bsn_read_file(path, &n);
    if (!kc) {
        fprintf(stderr, "bosun kubeconfig: %s: %s (has 'bosun server --data-dir %s' run?)\n", path,
                strerror(errno), dir);
        return 1;
    }
    fwrite(kc, 1, n, stdout);
    free(kc);
    return 0;
}
