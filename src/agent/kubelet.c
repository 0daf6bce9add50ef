/*
 * kubelet.c - the standalone agent's kubelet server: HTTPS on the node (default port 10250),
 * bearer-token authenticated, serving the pod subresources the API server proxies to it
 * (api/nodeproxy.h) on the API's own paths:
 *
 *     /api/v1/namespaces/{ns}/pods/{name}/log          same query as pods/log (logs.c)
 *     /api/v1/namespaces/{ns}/pods/{name}/exec         exec.h
 *     /api/v1/namespaces/{ns}/pods/{name}/attach
 *     /api/v1/namespaces/{ns}/pods/{name}/portforward
 *     /healthz                                         "ok", no token needed
 *
 * The handlers are the ones the embedded agent registers with the API server; here they are
 * registered with a pod host (an API server without storage, bsn_api_podhost_new) and the
 * requests are handed to it. The serving certificate is issued on first start by a CA of the
 * node's own under <data-dir>/agent/kubelet-tls/ (the API server does not verify it, as
 * upstream without --kubelet-certificate-authority).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "api/nodeproxy.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/server.h"
#include "http/tls.h"

/* exec.h's entry point, declared here as a weak reference (see KUBELET-STREAMS below) */
void bsn_agent_stream_serve(struct bsn_agent *a, struct bsn_http_req *req, const char *sub,
                            const char *ns, const char *pod) __attribute__((weak));

struct agent_kubelet {
    struct bsn_http_server *http;
    char *token;
    int port;
};

static void
reply(struct bsn_http_req *req, int code, const char *reason, const char *msg)
{
    json_t *st =
        json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                  "metadata", "status", "Failure", "message", msg, "reason", reason, "code", code);
    char *s = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    bsn_http_respond(req, code, "application/json", s, strlen(s));
    free(s);
}

/* Constant-time comparison of the presented token with ours. */
static bool
token_ok(const struct agent_kubelet *k, const char *auth)
{
    if (!k->token || !k->token[0])
        return true;
    if (!auth || strncmp(auth, "Bearer ", 7))
        return false;
    const char *t = auth + 7;
    size_t n = strlen(t), m = strlen(k->token);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)(k->token[i] ^ (i < n ? t[i] : 0));
    return diff == 0;
}

/* Splits "/api/v1/namespaces/{ns}/pods/{name}/{sub}"; false if the path is not that. */
static bool
parse_path(const char *path, char *ns, size_t nsz, char *pod, size_t psz, char *sub, size_t ssz)
{
    static const char pre[] = "/api/v1/namespaces/";
    if (strncmp(path, pre, sizeof(pre) - 1))
        return false;
    const char *p = path + sizeof(pre) - 1;
    const char *e = strchr(p, '/');
    if (!e || e == p || (size_t)(e - p) >= nsz || strncmp(e, "/pods/", 6))
        return false;
    snprintf(ns, nsz, "%.*s", (int)(e - p), p);
    p = e + 6;
    e = strchr(p, '/');
    if (!e || e == p || (size_t)(e - p) >= psz)
        return false;
    snprintf(pod, psz, "%.*s", (int)(e - p), p);
    p = e + 1;
    if (!*p || strchr(p, '/') || strlen(p) >= ssz)
        return false;
    snprintf(sub, ssz, "%s", p);
    return true;
}

static void
on_request(struct bsn_http_req *req, void *data)
{
    struct bsn_agent *a = data;
    struct agent_kubelet *k = a->kubelet;
    if (!strcmp(req->path, "/healthz")) {
        bsn_http_respond(req, 200, "text/plain", "ok", 2);
        return;
    }
    if (!token_ok(k, bsn_http_req_header(req, "authorization"))) {
        reply(req, 401, "Unauthorized", "Unauthorized");
        return;
    }
    char ns[254], pod[254], sub[32];
    if (!parse_path(req->path, ns, sizeof(ns), pod, sizeof(pod), sub, sizeof(sub))) {
        reply(req, 404, "NotFound", "the kubelet serves only pod subresources");
        return;
    }
    if (!strcmp(sub, "log")) {
        bsn_api_podhost_serve(a->api, req, ns, pod, sub);
        return;
    }
    if (!strcmp(sub, "exec") || !strcmp(sub, "attach") || !strcmp(sub, "portforward")) {
        /* KUBELET-STREAMS: the one call site of exec.h's entry point. It is a weak reference
         * so this file links before exec.c is in the build; without it, handlers registered
         * with the pod host (if any) answer, else 404. */
        if (bsn_agent_stream_serve)
            bsn_agent_stream_serve(a, req, sub, ns, pod);
        else
            bsn_api_podhost_serve(a->api, req, ns, pod, sub);
        return;
    }
    reply(req, 404, "NotFound", "unknown pod subresource");
}

int
agent_kubelet_start(struct bsn_agent *a, const char *listen, const char *token, struct bsn_err *err)
{
    BSN_AUTOFREE char *dir = bsn_sprintf("%s/kubelet-tls", a->data_dir);
    const char *names[] = {a->node, "localhost", NULL};
    const char *ips[] = {"127.0.0.1", a->node_ip, NULL};
    if (bsn_tls_ensure_pki(dir, names, ips, err) < 0) {
        bsn_err_prefix(err, "kubelet certificate");
        return -1;
    }
    BSN_AUTOFREE char *cert = bsn_sprintf("%s/server.crt", dir);
    BSN_AUTOFREE char *key = bsn_sprintf("%s/server.key", dir);
    static const char *const alpn[] = {"http/1.1", NULL};
    SSL_CTX *tls = bsn_tls_server_ctx(cert, key, alpn, err);
    if (!tls)
        return -1;
    struct agent_kubelet *k = bsn_calloc(1, sizeof(*k));
    k->token = token ? bsn_strdup(token) : NULL;
    struct bsn_http_server_opts ho = {
        .listen = listen ? listen : "0.0.0.0:10250",
        .tls = tls,
        .max_body = 64 << 10,
        .handler = on_request,
        .data = a,
    };
    k->http = bsn_http_server_new(a->loop, &ho, err);
    SSL_CTX_free(tls);
    if (!k->http) {
        bsn_err_prefix(err, "kubelet server on %s", ho.listen);
        free(k->token);
        free(k);
        return -1;
    }
    k->port = bsn_http_server_port(k->http);
    a->kubelet = k;
    bsn_info("agent", "kubelet server on %s (port %d)", ho.listen, k->port);
    return 0;
}

void
agent_kubelet_stop(struct bsn_agent *a)
{
    struct agent_kubelet *k = a->kubelet;
    if (!k)
        return;
    bsn_http_server_free(k->http);
    free(k->token);
    free(k);
    a->kubelet = NULL;
}

int
agent_kubelet_port(const struct bsn_agent *a)
{
    return a->kubelet ? a->kubelet->port : 0;
}
