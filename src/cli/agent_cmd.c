/*
 * agent_cmd.c - `bosun agent`: a standalone node agent joined to a remote API server.
 *
 *   bosun agent --server https://HOST:PORT --token TOKEN|--token-file F --data-dir DIR [--node-name N]
 *               [--runtime process|oci] [--ca-file F] [--kubeconfig F] [--kubelet-port N]
 *               [--kubelet-address ADDR] [--node-ip IP] [--metrics-interval SECONDS]
 *
 * The agent runs the same code as the agent embedded in `bosun server`, over the remote API
 * client (api/client.h), and serves its pods' logs/exec/attach/portforward on its own kubelet
 * server that the API server proxies to. --kubeconfig supplies what --server, --token and
 * --ca-file do not (server, certificate-authority[-data], token of the current context).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/client.h"
#include "base/base64.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "cli/commands.h"
#include "cli/util.h"
#include "codec/json.h"
#include "codec/yaml.h"
#include "loop/loop.h"
#include "net/cni.h"

static void
agent_usage(FILE *out)
{
    fprintf(out,
            "usage: bosun agent --server URL --token TOKEN --data-dir DIR [flags]\n\n"
            "Runs a node agent that joins the cluster of a remote `bosun server`.\n\n"
            "flags:\n"
            "  --server URL            API server, e.g. https://10.0.0.1:6443\n"
            "  --token TOKEN           bearer token (the server's <data-dir>/node-token);\n"
            "                          also what the kubelet server requires from the API\n"
            "  --token-file FILE       read the token from FILE (keeps it out of ps)\n"
            "  --data-dir DIR          state directory (runtime state, logs, images)\n"
            "  --node-name NAME        node name (default hostname)\n"
            "  --runtime process|oci   container runtime (default oci as root with runc)\n"
            "  --oci-runtime runc|crun OCI runtime of the oci runtime (default runc;\n"
            "                          also $BOSUN_OCI_RUNTIME)\n"
            "  --ca-file FILE          CA to verify the API server with (the server's\n"
            "                          <data-dir>/tls/ca.crt; default: from --kubeconfig, else\n"
            "                          the system CAs)\n"
            "  --kubeconfig FILE       take server, CA and token from this kubeconfig\n"
            "  --kubelet-port N        kubelet server port (default 10250; 0 = any free)\n"
            "  --kubelet-address ADDR  kubelet server bind address (default 0.0.0.0)\n"
            "  --node-ip IP            InternalIP to advertise (default: first non-loopback)\n"
            "  --metrics-interval S    usage sampling period in seconds (default 15)\n"
            "  --cluster-cidr CIDR     pod network of the cluster (default 10.42.0.0/16)\n"
            "  --pod-cidr CIDR         this node's slice of it (default: remembered, else the\n"
            "                          first /24; give each node its own)\n"
            "  --cni-bin-dir DIRS      CNI plugin dirs (default /usr/lib/cni:/opt/cni/bin)\n"
            "  --cni-conf-dir DIR      CNI network configs (default DATA-DIR/cni/net.d)\n"
            "  --cni-bridge NAME       bridge of the default pod network (default bosun0)\n"
            "  --cni-workers N         CNI ADD/DEL run in parallel for up to N pods (default 8)\n"
            "  --log-level LEVEL       debug, info, warn or error (default info)\n"
            "  -h, --help              show this help\n");
}

static void
on_stop_signal(struct bsn_loop *loop, void *data)
{
    bsn_info("agent", "shutting down");
    bsn_loop_stop(loop);
}

/* The named entry of a kubeconfig list ("clusters", "users"), or the first one. */
static json_t *
kc_entry(json_t *kc, const char *list, const char *name, const char *field)
{
    size_t i;
    json_t *e;
    json_t *first = NULL;
    json_array_foreach(json_object_get(kc, list), i, e)
    {
        if (!first)
            first = e;
        const char *n = json_string_value(json_object_get(e, "name"));
        if (name && n && !strcmp(n, name))
            return json_object_get(e, field);
    }
    return first ? json_object_get(first, field) : NULL;
}

/* Fills what is still NULL from the kubeconfig; the CA data goes to ca_out. */
static int
read_kubeconfig(const char *path, const char *ca_out, char **server, char **token, char **ca)
{
    size_t n;
    char *text = bsn_read_file(path, &n);
    if (!text) {
        fprintf(stderr, "bosun agent: --kubeconfig %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *kc = bsn_yaml_parse_one(text, n, &err);
    free(text);
    if (!kc) {
        fprintf(stderr, "bosun agent: --kubeconfig %s: %s\n", path, err.msg);
        return -1;
    }
    const char *cur = json_string_value(json_object_get(kc, "current-context"));
    json_t *ctx = kc_entry(kc, "contexts", cur, "context");
    json_t *cluster =
        kc_entry(kc, "clusters", json_string_value(json_object_get(ctx, "cluster")), "cluster");
    json_t *user = kc_entry(kc, "users", json_string_value(json_object_get(ctx, "user")), "user");
    const char *s = json_string_value(json_object_get(cluster, "server"));
    if (!*server && s)
        *server = bsn_strdup(s);
    const char *t = json_string_value(json_object_get(user, "token"));
    if (!*token && t)
        *token = bsn_strdup(t);
    const char *caf = json_string_value(json_object_get(cluster, "certificate-authority"));
    const char *cad = json_string_value(json_object_get(cluster, "certificate-authority-data"));
    int rc = 0;
    if (!*ca && caf) {
        *ca = bsn_strdup(caf);
    } else if (!*ca && cad) {
        struct bsn_buf b;
        bsn_buf_init(&b);
        FILE *f = NULL;
        if (bsn_base64_decode(cad, strlen(cad), &b) < 0 || !(f = fopen(ca_out, "w")) ||
            fwrite(b.data, 1, b.len, f) != b.len) {
            fprintf(stderr, "bosun agent: --kubeconfig %s: bad certificate-authority-data\n", path);
            rc = -1;
        } else {
            *ca = bsn_strdup(ca_out);
        }
        if (f)
            fclose(f);
        bsn_buf_fini(&b);
    }
    json_decref(kc);
    return rc;
}

int
bsn_cmd_agent(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"token", required_argument, NULL, 't'},
        {"token-file", required_argument, NULL, 'T'},
        {"data-dir", required_argument, NULL, 'd'},
        {"node-name", required_argument, NULL, 'n'},
        {"runtime", required_argument, NULL, 'r'},
        {"ca-file", required_argument, NULL, 'c'},
        {"kubeconfig", required_argument, NULL, 'k'},
        {"kubelet-port", required_argument, NULL, 'p'},
        {"kubelet-address", required_argument, NULL, 'a'},
        {"node-ip", required_argument, NULL, 'i'},
        {"metrics-interval", required_argument, NULL, 'm'},
        {"log-level", required_argument, NULL, 'L'},
        {"cluster-cidr", required_argument, NULL, 1401},
        {"oci-runtime", required_argument, NULL, 1406},
        {"pod-cidr", required_argument, NULL, 1402},
        {"cni-bin-dir", required_argument, NULL, 1403},
        {"cni-conf-dir", required_argument, NULL, 1404},
        {"cni-bridge", required_argument, NULL, 1405},
        {"cni-workers", required_argument, NULL, 1407},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *server = NULL, *token = NULL, *ca = NULL;
    const char *data_dir = NULL, *kubeconfig = NULL, *kaddr = "0.0.0.0";
    int kport = 10250;
    struct bsn_agent_opts o = {0};
    struct bsn_cni_opts cnio = {0}; /* the oci runtime's pod network (net/cni.h) */
    int opt, rc = 1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            free(server);
            server = bsn_strdup(optarg);
            break;
        case 't':
            free(token);
            token = bsn_strdup(optarg);
            break;
        case 'T': {
            char *t = bsn_read_file(optarg, NULL);
            if (!t) {
                fprintf(stderr, "bosun agent: --token-file %s: %s\n", optarg, strerror(errno));
                goto out;
            }
            t[strcspn(t, "\r\n")] = '\0';
            free(token);
            token = t;
            break;
        }
        case 'd':
            data_dir = optarg;
            break;
        case 'n':
            o.node_name = optarg;
            break;
        case 'r':
            o.runtime = optarg;
            break;
        case 'c':
            free(ca);
            ca = bsn_strdup(optarg);
            break;
        case 'k':
            kubeconfig = optarg;
            break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 65535) {
                fprintf(stderr, "bosun agent: --kubelet-port: expected 0-65535, not '%s'\n",
                        optarg);
                goto out_usage;
            }
            kport = (int)v;
            break;
        }
        case 'a':
            kaddr = optarg;
            break;
        case 'i':
            o.node_ip = optarg;
            break;
        case 'm': {
            long v = atol(optarg);
            if (v <= 0 || v > 3600) {
                fprintf(stderr, "bosun agent: --metrics-interval: expected 1-3600 seconds\n");
                goto out_usage;
            }
            o.metrics_interval_ms = (unsigned)v * 1000;
            break;
        }
        case 'L': {
            enum bsn_log_level lvl;
            if (bsn_log_parse_level(optarg, &lvl) < 0) {
                fprintf(stderr, "bosun agent: --log-level: unknown level '%s'\n", optarg);
                goto out_usage;
            }
            bsn_log_set_level(lvl);
            break;
        }
        case 1406:
            o.oci_runtime = optarg;
            break;
        case 1407:
            cnio.workers = atoi(optarg);
            if (cnio.workers < 1 || cnio.workers > 16) {
                fprintf(stderr, "bosun agent: --cni-workers: expected 1-16, got '%s'\n", optarg);
                goto out_usage;
            }
            break;
        case 1401:
            cnio.cluster_cidr = optarg;
            break;
        case 1402:
            cnio.pod_cidr = optarg;
            break;
        case 1403:
            cnio.bin_dir = optarg;
            break;
        case 1404:
            cnio.conf_dir = optarg;
            break;
        case 1405:
            cnio.bridge = optarg;
            break;
        case 'h':
            agent_usage(stdout);
            rc = 0;
            goto out;
        default:
            goto out_usage;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bosun agent: unexpected argument '%s'\n", argv[optind]);
        goto out_usage;
    }
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (bsn_default_data_dir(data_dir, dir, sizeof(dir)) < 0 || bsn_mkdir_p(dir, 0700) < 0) {
        fprintf(stderr, "bosun agent: cannot create data dir %s: %s\n", dir, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/agent", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/agent/api-ca.crt", dir);
    if (kubeconfig && read_kubeconfig(kubeconfig, path, &server, &token, &ca) < 0)
        goto out;
    if (!server) {
        fprintf(stderr, "bosun agent: --server (or --kubeconfig) is required\n");
        goto out_usage;
    }
    char klisten[300];
    snprintf(klisten, sizeof(klisten), strchr(kaddr, ':') ? "[%s]:%d" : "%s:%d", kaddr, kport);
    o.kubelet_listen = klisten;
    o.kubelet_token = token;
    o.data_dir = dir;

    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_loop *loop = bsn_loop_new();
    bsn_loop_add_signal(loop, SIGTERM, on_stop_signal, NULL);
    bsn_loop_add_signal(loop, SIGINT, on_stop_signal, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* as root with the oci runtime, pods join the CNI pod network as in `bosun server` */
    struct bsn_cni *cni = NULL;
    if (geteuid() == 0 && (!o.runtime || !strcmp(o.runtime, "oci"))) {
        cnio.data_dir = dir;
        cnio.node_name = o.node_name;
        cnio.loop = loop;
        cni = bsn_cni_new(&cnio, &err);
        if (!cni) {
            fprintf(stderr, "bosun agent: pod network: %s\n", err.msg);
            bsn_loop_free(loop);
            goto out;
        }
        o.net_attach = bsn_cni_attach;
        o.net_detach = bsn_cni_detach;
        o.net_add = bsn_cni_attach_async;
        o.net_gc = bsn_cni_gc;
        o.net_data = cni;
        o.pod_cidr = bsn_cni_pod_cidr(cni);
    }
    struct bsn_client *cl = bsn_client_new_remote(loop, server, token, ca, &err);
    struct bsn_agent *a = cl ? bsn_agent_new(loop, cl, &o, &err) : NULL;
    if (!a) {
        fprintf(stderr, "bosun agent: %s\n", err.msg);
        bsn_cni_free(cni);
        bsn_loop_free(loop);
        goto out;
    }
    bsn_info("agent", "joined %s as node %s; kubelet on port %d", server, bsn_agent_node_name(a),
             bsn_agent_kubelet_port(a));
    bsn_loop_run(loop);
    bsn_agent_free(a);
    bsn_cni_free(cni);
    bsn_loop_free(loop);
    rc = 0;
    goto out;
out_usage:
    agent_usage(stderr);
    rc = 2;
out:
    free(server);
    free(token);
    free(ca);
    return rc;
}
