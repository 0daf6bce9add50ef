/*
 * nodeproxy.c - pod subresources across nodes (see nodeproxy.h): the byte-level proxy from the
 * API server to a node's kubelet server, and the pod host a standalone agent serves its
 * kubelet endpoint with.
 *
 * The proxy takes the client's connection over (bsn_http_req_upgrade with status 0), sends the
 * request to the kubelet with the admin token instead of the client's credentials, and then
 * copies bytes both ways until either side closes. It runs on a thread of its own per proxied
 * request with blocking I/O (a `logs -f` or an exec session lives as long as the user keeps it
 * open): the loop never waits on a node.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/nodeproxy.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/tls.h"

#define CONNECT_TIMEOUT_S 10 /* connect and TLS handshake with the kubelet */
#define PUMP_BUF          (32u << 10)
#define MAX_PROXIED       256 /* streams proxied at once (one thread each); more get 503 */

static _Atomic int proxied; /* streams being proxied now */

struct proxy {
    int cfd; /* the client (kubectl) */
    SSL *cssl;
    char *cin; /* bytes the client sent after the request head */
    size_t cin_len;
    char *cout; /* response bytes the server had not written yet */
    size_t cout_len;
    char host[256];
    int port;
    struct bsn_buf head; /* the request for the kubelet: head and body */
    char what[300];
};

/* ---------------------------------------------------------------- blocking I/O helpers */

static ssize_t
p_read(int fd, SSL *ssl, char *buf, size_t n)
{
    if (ssl) {
        int r = SSL_read(ssl, buf, (int)n);
        return r > 0 ? r : (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
    }
    ssize_t r;
    do
        r = read(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r;
}

static int
p_write_all(int fd, SSL *ssl, const char *buf, size_t n)
{
    while (n) {
        ssize_t w;
        if (ssl) {
            int r = SSL_write(ssl, buf, (int)BSN_MIN(n, (size_t)1 << 30));
            w = r > 0 ? r : -1;
        } else {
            do
                w = write(fd, buf, n);
            while (w < 0 && errno == EINTR);
        }
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static void
set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static int
dial(const char *host, int port)
{
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        /* bounded connect and handshake; cleared once the TLS session is up */
        struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static void
answer_502(struct proxy *p, const char *why)
{
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", "Failure", "message", why, "reason",
                           "InternalError", "code", 502);
    char *body = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    char *resp = bsn_sprintf("HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             strlen(body), body);
    p_write_all(p->cfd, p->cssl, resp, strlen(resp));
    free(resp);
    free(body);
}

/* Copies bytes both ways until one side closes or fails. */
static void
pump(struct proxy *p, int kfd, SSL *kssl)
{
    char *buf = bsn_malloc(PUMP_BUF);
    for (;;) {
        bool cready = p->cssl && SSL_pending(p->cssl) > 0;
        bool kready = kssl && SSL_pending(kssl) > 0;
        if (!cready && !kready) {
            struct pollfd pf[2] = {{.fd = p->cfd, .events = POLLIN}, {.fd = kfd, .events = POLLIN}};
            if (poll(pf, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            cready = pf[0].revents != 0;
            kready = pf[1].revents != 0;
        }
        if (kready) {
            ssize_t n = p_read(kfd, kssl, buf, PUMP_BUF);
            if (n <= 0 || p_write_all(p->cfd, p->cssl, buf, (size_t)n) < 0)
                break;
        }
        if (cready) {
            ssize_t n = p_read(p->cfd, p->cssl, buf, PUMP_BUF);
            if (n <= 0 || p_write_all(kfd, kssl, buf, (size_t)n) < 0)
                break;
        }
    }
    free(buf);
}

static void *
proxy_thread(void *arg)
{
    struct proxy *p = arg;
    set_blocking(p->cfd);
    if (p->cout_len)
        p_write_all(p->cfd, p->cssl, p->cout, p->cout_len);
    struct bsn_err err;
    bsn_err_clear(&err);
    SSL_CTX *ctx = NULL;
    SSL *kssl = NULL;
    int kfd = dial(p->host, p->port);
    if (kfd < 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s: cannot reach the kubelet at %s:%d: %s", p->what, p->host,
                 p->port, strerror(errno));
        answer_502(p, why);
        goto out;
    }
    ctx = bsn_tls_client_ctx(NULL, true, NULL, NULL, &err);
    if (ctx)
        kssl = SSL_new(ctx);
    if (!kssl || !SSL_set_fd(kssl, kfd) || SSL_connect(kssl) != 1) {
        char why[512];
        snprintf(why, sizeof(why), "%s: TLS handshake with the kubelet at %s:%d failed", p->what,
                 p->host, p->port);
        answer_502(p, why);
        goto out;
    }
    struct timeval zero = {0};
    setsockopt(kfd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
    setsockopt(kfd, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof(zero));
    if (p_write_all(kfd, kssl, p->head.data, p->head.len) < 0 ||
        (p->cin_len && p_write_all(kfd, kssl, p->cin, p->cin_len) < 0)) {
        answer_502(p, "writing the request to the kubelet failed");
        goto out;
    }
    pump(p, kfd, kssl);
out:
    if (kssl)
        SSL_free(kssl);
    if (ctx)
        SSL_CTX_free(ctx);
    if (kfd >= 0)
        close(kfd);
    if (p->cssl)
        SSL_free(p->cssl);
    close(p->cfd);
    free(p->cin);
    free(p->cout);
    bsn_buf_fini(&p->head);
    free(p);
    proxied--;
    return NULL;
}

/* ---------------------------------------------------------------- the API server side */

static bool
skip_header(const char *name, bool upgrade)
{
    static const char *const always[] = {
        "host",       "authorization",    "content-length", "transfer-encoding",
        "keep-alive", "proxy-connection", "expect"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(always); i++)
        if (!strcasecmp(name, always[i]))
            return true;
    return !upgrade && !strcasecmp(name, "connection");
}

bool
api_nodeproxy(struct req_ctx *c, const struct bsn_obj *o)
{
    json_t *pod = json_loadb(o->json, o->len, 0, NULL);
    const char *nn = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    const struct bsn_resource *nres = bsn_registry_find("", "v1", "nodes");
    char key[600];
    struct bsn_obj *no = NULL;
    if (nn && nn[0] && nres) {
        api_key(nres, "", nn, key, sizeof(key));
        no = bsn_cache_get(&c->srv->cache, key);
    }
    json_t *node = no ? json_loadb(no->json, no->len, 0, NULL) : NULL;
    const char *flag = json_string_value(json_object_get(
        json_object_get(json_object_get(node, "metadata"), "annotations"), BSN_KUBELET_ANNOTATION));
    if (!flag || strcmp(flag, "true")) {
        json_decref(node);
        json_decref(pod);
        return false;
    }
    json_t *st = json_object_get(node, "status");
    json_int_t port = json_integer_value(json_object_get(
        json_object_get(json_object_get(st, "daemonEndpoints"), "kubeletEndpoint"), "Port"));
    const char *ip = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(st, "addresses"), i, a)
    {
        const char *t = json_string_value(json_object_get(a, "type"));
        if (t && !strcmp(t, "InternalIP") && !ip)
            ip = json_string_value(json_object_get(a, "address"));
    }
    if (!ip || port <= 0 || port > 65535) {
        api_reply_status(c, 502, "InternalError",
                         "node %s has no kubelet endpoint (InternalIP and daemonEndpoints)", nn);
        json_decref(node);
        json_decref(pod);
        return true;
    }
    if (proxied >= MAX_PROXIED) {
        api_reply_status(c, 503, "ServiceUnavailable",
                         "too many pod streams proxied to nodes (%d); try again later",
                         MAX_PROXIED);
        json_decref(node);
        json_decref(pod);
        return true;
    }
    if (c->sink != &api_http_sink || !c->req) {
        api_reply_status(c, 400, "BadRequest",
                         "pods/%s of pods on node %s is only served over HTTP", c->sub, nn);
        json_decref(node);
        json_decref(pod);
        return true;
    }
    struct bsn_http_req *req = c->req;
    struct proxy *p = bsn_calloc(1, sizeof(*p));
    snprintf(p->host, sizeof(p->host), "%s", ip);
    p->port = (int)port;
    snprintf(p->what, sizeof(p->what), "pods/%s %s/%s on node %s", c->sub, c->ns, c->name, nn);
    bool upgrade = bsn_http_req_header(req, "upgrade") != NULL;
    bsn_buf_init(&p->head);
    bsn_buf_printf(&p->head, "%s %s%s%s HTTP/1.1\r\nHost: %s%s%s:%d\r\n", req->method, req->path,
                   req->query[0] ? "?" : "", req->query, strchr(ip, ':') ? "[" : "", ip,
                   strchr(ip, ':') ? "]" : "", p->port);
    if (c->srv->token)
        bsn_buf_printf(&p->head, "Authorization: Bearer %s\r\n", c->srv->token);
    for (size_t h = 0; h < req->nheaders; h++) {
        const struct bsn_http_header *hd = &req->headers[h];
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)BSN_MIN(hd->name.len, sizeof(name) - 1),
                 hd->name.base);
        if (skip_header(name, upgrade))
            continue;
        bsn_buf_printf(&p->head, "%s: %.*s\r\n", name, (int)hd->value.len, hd->value.base);
    }
    if (!upgrade)
        bsn_buf_puts(&p->head, "Connection: close\r\n");
    if (req->body_len)
        bsn_buf_printf(&p->head, "Content-Length: %zu\r\n", req->body_len);
    bsn_buf_puts(&p->head, "\r\n");
    if (req->body_len)
        bsn_buf_append(&p->head, req->body, req->body_len);
    json_decref(node);
    json_decref(pod);

    struct bsn_http_upgraded up;
    if (bsn_http_req_upgrade(req, 0, &up) < 0) {
        bsn_buf_fini(&p->head);
        free(p);
        api_ctx_free(c);
        return true;
    }
    api_ctx_free(c);
    p->cfd = up.fd;
    p->cssl = up.ssl;
    p->cin = up.in;
    p->cin_len = up.in_len;
    p->cout = up.out;
    p->cout_len = up.out_len;
    proxied++;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, proxy_thread, p) != 0) {
        bsn_warn("apiserver", "%s: cannot start the proxy thread", p->what);
        proxied--;
        if (p->cssl)
            SSL_free(p->cssl);
        close(p->cfd);
        free(p->cin);
        free(p->cout);
        bsn_buf_fini(&p->head);
        free(p);
    }
    pthread_attr_destroy(&attr);
    return true;
}

/* ---------------------------------------------------------------- the pod host */

struct bsn_apiserver *
bsn_api_podhost_new(struct bsn_loop *loop)
{
    struct bsn_apiserver *s = bsn_calloc(1, sizeof(*s));
    s->loop = loop;
    bsn_map_init(&s->metrics.by_resource);
    return s;
}

void
bsn_api_podhost_free(struct bsn_apiserver *host)
{
    if (!host)
        return;
    bsn_map_fini(&host->metrics.by_resource);
    free(host);
}

void
bsn_api_podhost_serve(struct bsn_apiserver *host, struct bsn_http_req *req, const char *ns,
                      const char *pod, const char *sub)
{
    struct req_ctx *c = api_req_ctx_http(host, req);
    c->verb = VERB_GET;
    snprintf(c->ns, sizeof(c->ns), "%s", ns);
    snprintf(c->name, sizeof(c->name), "%s", pod);
    snprintf(c->sub, sizeof(c->sub), "%s", sub);
    for (size_t i = 0; i < BSN_ARRAY_LEN(host->pod_handlers); i++) {
        struct pod_handler *h = &host->pod_handlers[i];
        if (h->fn && !strcmp(h->sub, sub)) {
            h->fn((struct bsn_api_reply *)c, ns, pod, sub, h->data);
            return;
        }
    }
    api_reply_status(c, 404, "NotFound", "pods/%s is not served by this node", sub);
}
