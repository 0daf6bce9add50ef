/*
 * proxy_model.c - the desired state of one Service for the proxy: its addresses and, per
 * service port, the endpoints that may receive new connections.
 *
 * Endpoint choice follows upstream kube-proxy: the ready endpoints of the EndpointSlices whose
 * port matches the service port by name and protocol; when none is ready, the ones that are
 * serving and terminating (so a rolling update drains instead of dropping traffic). Named
 * targetPorts arrive already resolved in the slices.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/proxy_int.h"

static const char *
jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Conditions default as the API documents: ready nil = true, serving nil = ready. */
static bool
cond(const json_t *conds, const char *k, bool def)
{
    json_t *v = json_object_get(conds, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static int
parse_proto(const char *s)
{
    if (!s || !strcmp(s, "TCP"))
        return IPPROTO_TCP;
    if (!strcmp(s, "UDP"))
        return IPPROTO_UDP;
    return -1; /* SCTP: not proxied */
}

static bool
is_ipv4(const char *s)
{
    struct in_addr a;
    return s && strlen(s) < 16 && inet_pton(AF_INET, s, &a) == 1;
}

static int
ep_cmp(const void *a, const void *b)
{
    const struct bsn_proxy_ep *x = a, *y = b;
    struct in_addr ia, ib;
    inet_pton(AF_INET, x->ip, &ia);
    inet_pton(AF_INET, y->ip, &ib);
    uint32_t u = ntohl(ia.s_addr), v = ntohl(ib.s_addr);
    if (u != v)
        return u < v ? -1 : 1;
    return (int)x->port - (int)y->port;
}

static void
ep_add(struct bsn_proxy_ep *eps, size_t *n, const char *ip, uint16_t port)
{
    for (size_t i = 0; i < *n; i++)
        if (eps[i].port == port && !strcmp(eps[i].ip, ip))
            return;
    if (*n >= BSN_PROXY_MAX_EPS)
        return;
    snprintf(eps[*n].ip, sizeof(eps[*n].ip), "%s", ip);
    eps[*n].port = port;
    (*n)++;
}

/* Collects the endpoints of one service port over all slices. */
static void
collect(struct bsn_proxy_port *p, json_t *const *slices, size_t nslices)
{
    struct bsn_proxy_ep *ready = bsn_calloc(BSN_PROXY_MAX_EPS, sizeof(*ready));
    struct bsn_proxy_ep *drain = bsn_calloc(BSN_PROXY_MAX_EPS, sizeof(*drain));
    size_t nready = 0, ndrain = 0;
    for (size_t i = 0; i < nslices; i++) {
        const json_t *sl = slices[i];
        const char *at = jstr(sl, "addressType");
        if (at && strcmp(at, "IPv4"))
            continue;
        /* the slice port matching this service port by name and protocol */
        long tport = -1;
        size_t k;
        json_t *sp;
        json_array_foreach(json_object_get(sl, "ports"), k, sp)
        {
            const char *pn = jstr(sp, "name");
            if (strcmp(pn ? pn : "", p->name) || parse_proto(jstr(sp, "protocol")) != p->proto)
                continue;
            json_int_t v = json_integer_value(json_object_get(sp, "port"));
            if (v > 0 && v < 65536)
                tport = (long)v;
            break;
        }
        if (tport < 0)
            continue;
        json_t *ep;
        json_array_foreach(json_object_get(sl, "endpoints"), k, ep)
        {
            json_t *conds = json_object_get(ep, "conditions");
            bool r = cond(conds, "ready", true);
            bool serving = cond(conds, "serving", r);
            bool term = cond(conds, "terminating", false);
            size_t m;
            json_t *a;
            json_array_foreach(json_object_get(ep, "addresses"), m, a)
            {
                const char *ip = json_string_value(a);
                if (!is_ipv4(ip))
                    continue;
                if (r)
                    ep_add(ready, &nready, ip, (uint16_t)tport);
                else if (serving && term)
                    ep_add(drain, &ndrain, ip, (uint16_t)tport);
            }
        }
    }
    if (nready) {
        p->eps = ready;
        p->nep = nready;
        free(drain);
    } else if (ndrain) {
        p->eps = drain;
        p->nep = ndrain;
        free(ready);
    } else {
        free(ready);
        free(drain);
    }
    if (p->nep)
        qsort(p->eps, p->nep, sizeof(*p->eps), ep_cmp);
}

int
bsn_proxy_svc_build(const json_t *svc, json_t *const *slices, size_t nslices, const char *node_ip,
                    struct bsn_proxy_svc *out, struct bsn_err *err)
{
    memset(out, 0, sizeof(*out));
    const json_t *meta = json_object_get(svc, "metadata");
    const json_t *spec = json_object_get(svc, "spec");
    const char *ns = jstr(meta, "namespace"), *name = jstr(meta, "name");
    if (!ns || !name || strlen(ns) >= sizeof(out->ns) || strlen(name) >= sizeof(out->name))
        return bsn_err_set(err, 400, "Invalid", "service without a valid namespace/name");
    const char *type = jstr(spec, "type");
    if (!type || !strcmp(type, "ClusterIP"))
        out->type = BSN_PROXY_CLUSTERIP;
    else if (!strcmp(type, "NodePort"))
        out->type = BSN_PROXY_NODEPORT;
    else if (!strcmp(type, "LoadBalancer"))
        out->type = BSN_PROXY_LOADBALANCER;
    else
        return 0; /* ExternalName: DNS only */
    const char *cip = jstr(spec, "clusterIP");
    if (!is_ipv4(cip))
        return 0; /* headless ("None") or not allocated yet */
    snprintf(out->ns, sizeof(out->ns), "%s", ns);
    snprintf(out->name, sizeof(out->name), "%s", name);
    snprintf(out->cluster_ip, sizeof(out->cluster_ip), "%s", cip);
    if (out->type == BSN_PROXY_LOADBALANCER && is_ipv4(node_ip))
        snprintf(out->lb_ip, sizeof(out->lb_ip), "%s", node_ip);
    const char *aff = jstr(spec, "sessionAffinity");
    if (aff && !strcmp(aff, "ClientIP")) {
        json_int_t t = json_integer_value(json_object_get(
            json_object_get(json_object_get(spec, "sessionAffinityConfig"), "clientIP"),
            "timeoutSeconds"));
        out->affinity_timeout = t > 0 && t <= 86400 ? (uint32_t)t : 10800;
    }
    json_t *ports = json_object_get(spec, "ports");
    size_t np = json_array_size(ports);
    if (np > BSN_PROXY_MAX_PORTS)
        np = BSN_PROXY_MAX_PORTS;
    out->ports = bsn_calloc(np ? np : 1, sizeof(*out->ports));
    for (size_t i = 0; i < np; i++) {
        json_t *sp = json_array_get(ports, i);
        int proto = parse_proto(jstr(sp, "protocol"));
        json_int_t port = json_integer_value(json_object_get(sp, "port"));
        if (proto < 0 || port <= 0 || port > 65535)
            continue;
        struct bsn_proxy_port *p = &out->ports[out->nports++];
        const char *pn = jstr(sp, "name");
        snprintf(p->name, sizeof(p->name), "%s", pn ? pn : "");
        p->proto = proto;
        p->port = (uint16_t)port;
        json_int_t npv = json_integer_value(json_object_get(sp, "nodePort"));
        if (out->type != BSN_PROXY_CLUSTERIP && npv > 0 && npv < 65536)
            p->node_port = (uint16_t)npv;
        collect(p, slices, nslices);
    }
    return 1;
}

void
bsn_proxy_svc_fini(struct bsn_proxy_svc *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nports; i++)
        free(s->ports[i].eps);
    free(s->ports);
    memset(s, 0, sizeof(*s));
}

static bool
port_equal(const struct bsn_proxy_port *a, const struct bsn_proxy_port *b)
{
    if (strcmp(a->name, b->name) || a->proto != b->proto || a->port != b->port ||
        a->node_port != b->node_port || a->nep != b->nep)
        return false;
    for (size_t i = 0; i < a->nep; i++)
        if (a->eps[i].port != b->eps[i].port || strcmp(a->eps[i].ip, b->eps[i].ip))
            return false;
    return true;
}

bool
bsn_proxy_svc_equal(const struct bsn_proxy_svc *a, const struct bsn_proxy_svc *b)
{
    if (strcmp(a->ns, b->ns) || strcmp(a->name, b->name) || strcmp(a->cluster_ip, b->cluster_ip) ||
        strcmp(a->lb_ip, b->lb_ip) || a->type != b->type ||
        a->affinity_timeout != b->affinity_timeout || a->nports != b->nports)
        return false;
    for (size_t i = 0; i < a->nports; i++)
        if (!port_equal(&a->ports[i], &b->ports[i]))
            return false;
    return true;
}

void
bsn_proxy_svc_copy(struct bsn_proxy_svc *dst, const struct bsn_proxy_svc *src)
{
    *dst = *src;
    dst->ports = bsn_calloc(src->nports ? src->nports : 1, sizeof(*dst->ports));
    for (size_t i = 0; i < src->nports; i++) {
        dst->ports[i] = src->ports[i];
        if (src->ports[i].nep) {
            dst->ports[i].eps = bsn_malloc(src->ports[i].nep * sizeof(struct bsn_proxy_ep));
            memcpy(dst->ports[i].eps, src->ports[i].eps,
                   src->ports[i].nep * sizeof(struct bsn_proxy_ep));
        } else {
            dst->ports[i].eps = NULL;
        }
    }
}
