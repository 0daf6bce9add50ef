/*
 * proxy_dnssvc.c - the kube-dns Service and its hand-written EndpointSlice (see
 * proxy_dnssvc.h). The endpoints controller leaves selectorless Services alone, so the slice
 * (managed-by bosun-proxy) is ours to keep.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/client.h"
#include "base/log.h"
#include "base/mem.h"
#include "loop/loop.h"
#include "net/proxy_dnssvc.h"

#define CHECK_MS   10000
#define SLICE_PATH "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices"

struct bsn_proxy_dnssvc {
    struct bsn_loop *loop;
    struct bsn_client *cl;
    char ip[64];
    char svc_ip[20]; /* the Service's ClusterIP */
    int port;
    struct bsn_timer timer;
    bool busy; /* a check is in flight */
};

static json_t *
service_obj(const struct bsn_proxy_dnssvc *d)
{
    return json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:s,s:[{s:s,s:s,s:i,s:i},{s:s,s:s,s:i,s:i}]}}",
        "apiVersion", "v1", "kind", "Service", "metadata", "name", "kube-dns", "namespace",
        "kube-system", "labels", "k8s-app", "kube-dns", "spec", "clusterIP", d->svc_ip, "ports",
        "name", "dns", "protocol", "UDP", "port", 53, "targetPort", 53, "name", "dns-tcp",
        "protocol", "TCP", "port", 53, "targetPort", 53);
}

static json_t *
slice_obj(const struct bsn_proxy_dnssvc *d)
{
    return json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s}},s:s,s:[{s:[s],s:{s:b}}],s:[{s:s,s:s,s:i},{s:s,s:s,s:i}]}",
        "apiVersion", "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "name",
        "kube-dns-bosun", "namespace", "kube-system", "labels", "kubernetes.io/service-name",
        "kube-dns", "endpointslice.kubernetes.io/managed-by", "bosun-proxy", "addressType", "IPv4",
        "endpoints", "addresses", d->ip, "conditions", "ready", 1, "ports", "name", "dns",
        "protocol", "UDP", "port", d->port, "name", "dns-tcp", "protocol", "TCP", "port", d->port);
}

static void check(struct bsn_loop *loop, void *data);

static void
done_generic(int status, const char *body, size_t len, void *data)
{
    struct bsn_proxy_dnssvc *d = data;
    (void)len;
    if (status >= 300 && status != 409)
        bsn_warn("proxy", "kube-dns: %d %.200s", status, body);
    d->busy = false;
}

static bool
slice_matches(const struct bsn_proxy_dnssvc *d, const json_t *sl)
{
    json_t *eps = json_object_get(sl, "endpoints");
    const char *ip =
        json_string_value(json_array_get(json_object_get(json_array_get(eps, 0), "addresses"), 0));
    json_int_t port = json_integer_value(
        json_object_get(json_array_get(json_object_get(sl, "ports"), 0), "port"));
    return json_array_size(eps) == 1 && ip && !strcmp(ip, d->ip) && port == d->port &&
           json_array_size(json_object_get(sl, "ports")) == 2;
}

static void
on_slice_get(int status, const char *body, size_t len, void *data)
{
    struct bsn_proxy_dnssvc *d = data;
    json_t *want = slice_obj(d);
    if (status == 404) {
        bsn_client_request_json(d->cl, "POST", SLICE_PATH, NULL, want, done_generic, d);
    } else if (status == 200) {
        json_t *have = json_loadb(body, len, 0, NULL);
        if (have && !slice_matches(d, have)) {
            json_object_set(json_object_get(want, "metadata"), "resourceVersion",
                            json_object_get(json_object_get(have, "metadata"), "resourceVersion"));
            bsn_client_request_json(d->cl, "PUT", SLICE_PATH "/kube-dns-bosun", NULL, want,
                                    done_generic, d);
        } else {
            d->busy = false;
        }
        json_decref(have);
    } else {
        d->busy = false;
    }
    json_decref(want);
}

static void
on_service_post(int status, const char *body, size_t len, void *data)
{
    struct bsn_proxy_dnssvc *d = data;
    (void)len;
    if (status >= 300 && status != 409)
        bsn_warn("proxy", "kube-dns Service: %d %.200s", status, body);
    bsn_client_request(d->cl, "GET", SLICE_PATH "/kube-dns-bosun", NULL, NULL, 0, on_slice_get, d);
}

static void
check(struct bsn_loop *loop, void *data)
{
    struct bsn_proxy_dnssvc *d = data;
    if (!d->busy) {
        d->busy = true;
        json_t *svc = service_obj(d);
        bsn_client_request_json(d->cl, "POST", "/api/v1/namespaces/kube-system/services", NULL, svc,
                                on_service_post, d);
        json_decref(svc);
    }
    bsn_timer_start(loop, &d->timer, CHECK_MS, check, d);
}

struct bsn_proxy_dnssvc *
bsn_proxy_dnssvc_start(struct bsn_loop *loop, struct bsn_client *cl, const char *listen,
                       const char *node_ip, const char *service_ip)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
        bsn_warn("proxy", "cluster DNS address '%s' is not ADDR:PORT; no kube-dns Service",
                 listen ? listen : "");
        return NULL;
    }
    struct bsn_proxy_dnssvc *d = bsn_calloc(1, sizeof(*d));
    d->loop = loop;
    d->cl = cl;
    snprintf(d->svc_ip, sizeof(d->svc_ip), "%s", service_ip ? service_ip : BSN_CLUSTER_DNS_IP);
    d->port = atoi(colon + 1);
    size_t hl = (size_t)(colon - listen);
    if (hl == 0 || (hl == 7 && !strncmp(listen, "0.0.0.0", 7)))
        snprintf(d->ip, sizeof(d->ip), "%s", node_ip);
    else
        snprintf(d->ip, sizeof(d->ip), "%.*s", (int)(hl < 63 ? hl : 63), listen);
    bsn_timer_init(&d->timer);
    bsn_timer_start(loop, &d->timer, 0, check, d);
    return d;
}

bool
bsn_proxy_dnssvc_is_loopback(const char *listen)
{
    if (!listen)
        return false;
    if (!strncmp(listen, "127.", 4) || !strncmp(listen, "localhost:", 10))
        return true;
    return !strncmp(listen, "[::1]:", 6);
}

void
bsn_proxy_dnssvc_stop(struct bsn_proxy_dnssvc *d)
{
    if (!d)
        return;
    bsn_timer_stop(d->loop, &d->timer);
    free(d);
}
