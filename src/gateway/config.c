/*
 * config.c - compiles Kubernetes objects into a gateway configuration snapshot.
 *
 * Input: Ingress (class "bosun"), IngressClass, Gateway (class "bosun") + HTTPRoute, Service,
 * EndpointSlice, Endpoints, Secret and GatewayPolicy objects, in any order. Output: a
 * struct bsn_gw_config owning routes, backends (a Service port resolved to ready endpoint
 * addresses), effective policies and the router tables (router.c).
 *
 * Errors in one object never fail the build: the object (or the one rule) is skipped and a
 * warning is recorded in cfg->warnings and logged.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "gateway/gw_internal.h"

#define BOSUN_CLASS      "bosun"
#define BOSUN_CONTROLLER "gateway.bosun.dev/controller"

/* Objects indexed by kind for lookups during the compile. */
struct ctx {
    struct bsn_gw_config *cfg;
    json_t *services;           /* "ns/name" -> Service */
    json_t *slices;             /* "ns/svc" -> [EndpointSlice] */
    json_t *endpoints;          /* "ns/name" -> Endpoints */
    json_t *secrets;            /* "ns/name" -> Secret */
    json_t *gateways;           /* "ns/name" -> Gateway (class bosun only) */
    json_t *policies;           /* "Kind/ns/name" -> [policy index] */
    json_t *backends;           /* "ns/svc:port" -> backend index */
    json_t *ingresses, *routes; /* arrays */
    json_t *ingress_classes;    /* arrays */
    json_t *gateway_classes;
};

void
gw_warn(struct bsn_gw_config *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bsn_warn("gateway", "%s", msg);
    bsn_buf_puts(&cfg->warnings, msg);
    bsn_buf_putc(&cfg->warnings, '\n');
}

static const char *
jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *
meta(const json_t *o, const char *key)
{
    return jstr(json_object_get(o, "metadata"), key);
}

static const char *
ns_of(const json_t *o)
{
    const char *ns = meta(o, "namespace");
    return ns && *ns ? ns : "default";
}

static const char *
annotation(const json_t *o, const char *key)
{
    return jstr(json_object_get(json_object_get(o, "metadata"), "annotations"), key);
}

static void
push(json_t *map, const char *key, json_t *o)
{
    json_t *arr = json_object_get(map, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(map, key, arr);
    }
    json_array_append(arr, o);
}

static void
index_object(struct ctx *c, json_t *o)
{
    const char *kind = jstr(o, "kind");
    const char *name = meta(o, "name");
    if (!kind)
        return;
    size_t kl = strlen(kind);
    if (kl > 4 && strcmp(kind + kl - 4, "List") == 0) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(o, "items"), i, it) index_object(c, it);
        return;
    }
    if (!name)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns_of(o), name);
    if (strcmp(kind, "Service") == 0)
        json_object_set(c->services, key, o);
    else if (strcmp(kind, "Endpoints") == 0)
        json_object_set(c->endpoints, key, o);
    else if (strcmp(kind, "Secret") == 0)
        json_object_set(c->secrets, key, o);
    else if (strcmp(kind, "EndpointSlice") == 0) {
        const char *svc = jstr(json_object_get(json_object_get(o, "metadata"), "labels"),
                               "kubernetes.io/service-name");
        if (svc) {
            snprintf(key, sizeof(key), "%s/%s", ns_of(o), svc);
            push(c->slices, key, o);
        }
    } else if (strcmp(kind, "Ingress") == 0)
        json_array_append(c->ingresses, o);
    else if (strcmp(kind, "HTTPRoute") == 0)
        json_array_append(c->routes, o);
    else if (strcmp(kind, "IngressClass") == 0)
        json_array_append(c->ingress_classes, o);
    else if (strcmp(kind, "GatewayClass") == 0)
        json_array_append(c->gateway_classes, o);
    else if (strcmp(kind, "Gateway") == 0)
        json_object_set(c->gateways, key, o);
    else if (strcmp(kind, "GatewayPolicy") == 0) {
        struct gw_policy *p = bsn_calloc(1, sizeof(*p));
        struct bsn_err err = {0};
        if (gw_policy_parse(p, json_object_get(o, "spec"), ns_of(o), c->secrets, &err) < 0) {
            gw_warn(c->cfg, "GatewayPolicy %s: %s (ignored)", key, err.msg);
            gw_policy_fini(p);
            free(p);
            return;
        }
        struct bsn_gw_config *cfg = c->cfg;
        if (cfg->npolicies == cfg->policies_cap) {
            cfg->policies_cap = cfg->policies_cap ? cfg->policies_cap * 2 : 8;
            cfg->policies = bsn_realloc(cfg->policies, cfg->policies_cap * sizeof(void *));
        }
        cfg->policies[cfg->npolicies++] = p;
        json_t *refs = json_object_get(json_object_get(o, "spec"), "targetRefs");
        json_t *one = json_object_get(json_object_get(o, "spec"), "targetRef");
        json_t *list = json_array();
        if (json_is_array(refs))
            json_array_extend(list, refs);
        if (json_is_object(one))
            json_array_append(list, one);
        size_t i;
        json_t *ref;
        json_array_foreach(list, i, ref)
        {
            const char *k = jstr(ref, "kind"), *n = jstr(ref, "name");
            const char *rns = jstr(ref, "namespace");
            if (!k || !n) {
                gw_warn(cfg, "GatewayPolicy %s: targetRefs[%zu] needs kind and name", key, i);
                continue;
            }
            char tkey[600];
            snprintf(tkey, sizeof(tkey), "%s/%s/%s", k, rns ? rns : ns_of(o), n);
            json_t *v = json_integer((json_int_t)(cfg->npolicies - 1));
            push(c->policies, tkey, v);
            json_decref(v);
        }
        json_decref(list);
        /* Ingresses may also name a policy with the gateway.bosun.dev/policy annotation */
        char nkey[600];
        snprintf(nkey, sizeof(nkey), "Name/%s", key);
        json_t *v = json_integer((json_int_t)(cfg->npolicies - 1));
        push(c->policies, nkey, v);
        json_decref(v);
    }
}

/* The policy attached to Kind/ns/name (the first if several), or NULL. */
static const struct gw_policy *
policy_for(struct ctx *c, const char *kind, const char *ns, const char *name)
{
    char key[600];
    snprintf(key, sizeof(key), "%s/%s/%s", kind, ns, name);
    json_t *arr = json_object_get(c->policies, key);
    if (!arr || json_array_size(arr) == 0)
        return NULL;
    return c->cfg->policies[json_integer_value(json_array_get(arr, 0))];
}

static int
add_endpoint(struct gw_backend *b, const char *addr, int port)
{
    struct gw_endpoint ep = {0};
    if (port <= 0 || port > 65535)
        return -1;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ep.sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ep.sa;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        ep.salen = sizeof(*s4);
        snprintf(ep.name, sizeof(ep.name), "%s:%d", addr, port);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        ep.salen = sizeof(*s6);
        snprintf(ep.name, sizeof(ep.name), "[%s]:%d", addr, port);
    } else {
        return -1;
    }
    for (uint32_t i = 0; i < b->neps; i++)
        if (strcmp(b->eps[i].name, ep.name) == 0)
            return 0;
    b->eps = bsn_realloc(b->eps, (b->neps + 1) * sizeof(*b->eps));
    b->eps[b->neps++] = ep;
    return 0;
}

static bool
same_port_name(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Fills b->eps from the EndpointSlices (or Endpoints) of service ns/svc, port `pname`. */
static void
resolve_endpoints(struct ctx *c, struct gw_backend *b, const char *ns, const char *svc,
                  const char *pname, int target_port)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, svc);
    json_t *slices = json_object_get(c->slices, key);
    size_t i, j, k;
    json_t *sl, *ep, *a;
    json_array_foreach(slices, i, sl)
    {
        int port = -1;
        json_t *p;
        json_array_foreach(json_object_get(sl, "ports"), j, p)
        {
            if (same_port_name(jstr(p, "name"), pname))
                port = (int)json_integer_value(json_object_get(p, "port"));
        }
        if (port < 0 && json_array_size(json_object_get(sl, "ports")) == 0)
            port = target_port;
        if (port <= 0)
            continue;
        json_array_foreach(json_object_get(sl, "endpoints"), j, ep)
        {
            json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
            if (json_is_false(ready))
                continue;
            json_array_foreach(json_object_get(ep, "addresses"), k, a)
            {
                if (json_is_string(a) && add_endpoint(b, json_string_value(a), port) < 0)
                    gw_warn(c->cfg, "EndpointSlice for %s: bad address %s", key,
                            json_string_value(a));
            }
        }
    }
    if (slices)
        return;
    json_t *eps = json_object_get(c->endpoints, key), *sub;
    json_array_foreach(json_object_get(eps, "subsets"), i, sub)
    {
        int port = -1;
        json_t *p;
        json_array_foreach(json_object_get(sub, "ports"), j, p)
        {
            if (same_port_name(jstr(p, "name"), pname))
                port = (int)json_integer_value(json_object_get(p, "port"));
        }
        if (port <= 0)
            continue;
        json_array_foreach(json_object_get(sub, "addresses"), k, a)
        {
            const char *ip = jstr(a, "ip");
            if (ip && add_endpoint(b, ip, port) < 0)
                gw_warn(c->cfg, "Endpoints %s: bad address %s", key, ip);
        }
    }
}

/*
 * The backend for service ns/svc port (number > 0, or name), created on first use.
 * A missing Service or port yields a backend without endpoints (requests get 503).
 */
static struct gw_backend *
backend_get(struct ctx *c, const char *ns, const char *svc, int port, const char *port_name)
{
    char key[600];
    if (port > 0)
        snprintf(key, sizeof(key), "%s/%s:%d", ns, svc, port);
    else
        snprintf(key, sizeof(key), "%s/%s:%s", ns, svc, port_name ? port_name : "");
    struct bsn_gw_config *cfg = c->cfg;
    json_t *idx = json_object_get(c->backends, key);
    if (idx)
        return cfg->backends[json_integer_value(idx)];
    struct gw_backend *b = bsn_calloc(1, sizeof(*b));
    b->name = bsn_strdup(key);
    b->idx = (uint32_t)cfg->nbackends;
    if (cfg->nbackends == cfg->backends_cap) {
        cfg->backends_cap = cfg->backends_cap ? cfg->backends_cap * 2 : 16;
        cfg->backends = bsn_realloc(cfg->backends, cfg->backends_cap * sizeof(void *));
    }
    cfg->backends[cfg->nbackends++] = b;
    json_object_set_new(c->backends, key, json_integer(b->idx));

    char skey[512];
    snprintf(skey, sizeof(skey), "%s/%s", ns, svc);
    json_t *s = json_object_get(c->services, skey);
    if (!s) {
        gw_warn(cfg, "backend %s: Service %s not found", key, skey);
        return b;
    }
    b->policy = policy_for(c, "Service", ns, svc);
    json_t *sp, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(s, "spec"), "ports"), i, sp)
    {
        int pn = (int)json_integer_value(json_object_get(sp, "port"));
        if ((port > 0 && pn == port) || (port <= 0 && port_name && jstr(sp, "name") &&
                                         strcmp(jstr(sp, "name"), port_name) == 0))
            found = sp;
    }
    if (!found) {
        gw_warn(cfg, "backend %s: Service %s has no such port", key, skey);
        return b;
    }
    json_t *tp = json_object_get(found, "targetPort");
    int target = json_is_integer(tp) ? (int)json_integer_value(tp)
                                     : (int)json_integer_value(json_object_get(found, "port"));
    const char *ap = jstr(found, "appProtocol");
    b->h2c = ap && (strcmp(ap, "kubernetes.io/h2c") == 0 || strcmp(ap, "grpc") == 0);
    resolve_endpoints(c, b, ns, svc, jstr(found, "name"), target);
    return b;
}

_Static_assert(offsetof(struct gw_route, one_backend) == 64 &&
                   offsetof(struct gw_route, req_hdr) == 128,
               "the fields every request reads fill the first two cache lines of a route");

static struct gw_route *
route_new(struct ctx *c, const json_t *owner, const char *kind, int rule)
{
    struct bsn_gw_config *cfg = c->cfg;
    size_t size = (sizeof(struct gw_route) + 63) & ~(size_t)63;
    struct gw_route *r = aligned_alloc(64, size); /* see struct gw_route */
    if (!r)
        abort();
    memset(r, 0, size);
    r->idx = (uint32_t)cfg->nroutes;
    r->rule_index = rule;
    r->origin = bsn_sprintf("%s/%s", ns_of(owner), meta(owner, "name"));
    r->timeout_request_ms = r->timeout_backend_ms = -1;
    const char *ts = meta(owner, "creationTimestamp");
    time_t t = 0;
    if (ts && bsn_time_parse(ts, &t) == 0)
        r->created = (int64_t)t;
    BSN_UNUSED(kind);
    if (cfg->nroutes == cfg->routes_cap) {
        cfg->routes_cap = cfg->routes_cap ? cfg->routes_cap * 2 : 32;
        cfg->routes = bsn_realloc(cfg->routes, cfg->routes_cap * sizeof(void *));
    }
    cfg->routes[cfg->nroutes++] = r;
    return r;
}

static void
route_add_backend(struct gw_route *r, struct gw_backend *b, uint32_t weight)
{
    if (r->nbackends == 0) {
        r->backends = &r->one_backend; /* in the route's hot cache lines */
    } else if (r->nbackends == 1) {
        r->backends = bsn_malloc(2 * sizeof(*r->backends));
        r->backends[0] = r->one_backend;
    } else {
        r->backends = bsn_realloc(r->backends, (size_t)(r->nbackends + 1) * sizeof(*r->backends));
    }
    r->backends[r->nbackends++] = (struct gw_wbackend){b, weight};
    r->total_weight += weight;
}

/* Normalises a path for its kind; NULL when invalid. */
static char *
norm_path(const char *p, enum gw_path_kind kind)
{
    if (!p || p[0] != '/' || strlen(p) > 4096)
        return NULL;
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '?' || *s == '#')
            return NULL;
    size_t n = strlen(p);
    if (kind == GW_PATH_PREFIX)
        while (n > 1 && p[n - 1] == '/')
            n--;
    return bsn_strndup(p, n);
}

/* A DNS name, optionally starting with the wildcard label "*." (nothing else may be '*'). */
static bool
valid_host(const char *h)
{
    if (h[0] == '*') {
        if (h[1] != '.' || !h[2])
            return false;
        h += 2;
    }
    size_t n = strlen(h);
    if (n == 0 || n > 253)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return false;
    return true;
}

static bool gateway_class_ours(struct ctx *c, const char *cls);

/* --- TLS certificates --- */

/* Adds Secret ns/name (kubernetes.io/tls) as the certificate of each host in hosts. */
static void
add_cert(struct ctx *c, const char *ns, const char *name, const char *const *hosts, size_t nh,
         const char *what, const char *client_ca_secret)
{
    struct bsn_gw_config *cfg = c->cfg;
    char *crt = gw_secret_value(c->secrets, ns, name, "tls.crt");
    char *key = gw_secret_value(c->secrets, ns, name, "tls.key");
    if (!crt || !key) {
        gw_warn(cfg, "%s: TLS Secret %s/%s not found or without tls.crt/tls.key", what, ns, name);
        free(crt);
        free(key);
        return;
    }
    struct bsn_err err = {0};
    void *tctx = gw_tls_ctx_new(crt, key, &err);
    free(crt);
    free(key);
    if (!tctx) {
        gw_warn(cfg, "%s: TLS Secret %s/%s: %s", what, ns, name, err.msg);
        return;
    }
    if (client_ca_secret) {
        char *ca = gw_secret_value(c->secrets, ns, client_ca_secret, "ca.crt");
        int rc = ca ? gw_tls_ctx_client_ca(tctx, ca, &err) : -1;
        free(ca);
        if (rc < 0) {
            /* fail closed: certificates are still required, and none can verify */
            gw_warn(cfg, "%s: client CA Secret %s/%s: %s (no client certificate is accepted)", what,
                    ns, client_ca_secret, ca ? err.msg : "not found or without ca.crt");
            gw_tls_ctx_client_ca(tctx, NULL, &err);
        }
    }
    static const char *const none[] = {""};
    if (nh == 0) {
        hosts = none;
        nh = 1;
    }
    for (size_t i = 0; i < nh; i++) {
        cfg->certs = bsn_realloc(cfg->certs, (cfg->ncerts + 1) * sizeof(*cfg->certs));
        if (i > 0)
            gw_tls_ctx_ref(tctx);
        cfg->certs[cfg->ncerts++] = (struct gw_tls_cert){bsn_strdup(hosts[i]), tctx};
    }
}

static void
ingress_tls(struct ctx *c, const json_t *ing, const char *what)
{
    size_t i, j;
    json_t *t, *h;
    json_array_foreach(json_object_get(json_object_get(ing, "spec"), "tls"), i, t)
    {
        const char *secret = jstr(t, "secretName");
        if (!secret)
            continue;
        const char *hosts[64];
        size_t nh = 0;
        json_array_foreach(json_object_get(t, "hosts"), j, h)
        {
            if (json_is_string(h) && nh < 64)
                hosts[nh++] = json_string_value(h);
        }
        add_cert(c, ns_of(ing), secret, hosts, nh, what,
                 annotation(ing, "gateway.bosun.dev/client-ca-secret"));
    }
}

static void
gateway_tls(struct ctx *c)
{
    const char *key;
    json_t *gw;
    json_object_foreach(c->gateways, key, gw)
    {
        if (!gateway_class_ours(c, jstr(json_object_get(gw, "spec"), "gatewayClassName")))
            continue;
        size_t i, j;
        json_t *l, *ref;
        json_array_foreach(json_object_get(json_object_get(gw, "spec"), "listeners"), i, l)
        {
            const char *proto = jstr(l, "protocol");
            if (!proto || strcmp(proto, "HTTPS") != 0)
                continue;
            const char *host = jstr(l, "hostname");
            json_array_foreach(json_object_get(json_object_get(l, "tls"), "certificateRefs"), j,
                               ref)
            {
                const char *n = jstr(ref, "name");
                if (!n)
                    continue;
                char what[600];
                snprintf(what, sizeof(what), "Gateway %s listener %zu", key, i);
                add_cert(c, jstr(ref, "namespace") ? jstr(ref, "namespace") : ns_of(gw), n,
                         host ? &host : NULL, host ? 1 : 0, what, NULL);
            }
        }
    }
}

/* --- Ingress --- */

static bool
ingress_is_ours(struct ctx *c, const json_t *ing)
{
    const char *cls = jstr(json_object_get(ing, "spec"), "ingressClassName");
    if (!cls)
        cls = annotation(ing, "kubernetes.io/ingress.class");
    size_t i;
    json_t *ic;
    if (cls) { /* "bosun", or any IngressClass whose controller is ours */
        if (strcmp(cls, BOSUN_CLASS) == 0)
            return true;
        json_array_foreach(c->ingress_classes, i, ic)
        {
            const char *ctl = jstr(json_object_get(ic, "spec"), "controller");
            if (meta(ic, "name") && strcmp(meta(ic, "name"), cls) == 0 && ctl &&
                strcmp(ctl, BOSUN_CONTROLLER) == 0)
                return true;
        }
        return false;
    }
    /* no class: ours if our IngressClass is the default, or there are no classes at all */
    if (json_array_size(c->ingress_classes) == 0)
        return true;
    json_array_foreach(c->ingress_classes, i, ic)
    {
        const char *def = annotation(ic, "ingressclass.kubernetes.io/is-default-class");
        const char *ctl = jstr(json_object_get(ic, "spec"), "controller");
        bool ours = (meta(ic, "name") && strcmp(meta(ic, "name"), BOSUN_CLASS) == 0) ||
                    (ctl && strcmp(ctl, BOSUN_CONTROLLER) == 0);
        if (ours && def && strcmp(def, "true") == 0)
            return true;
    }
    return false;
}

static struct gw_backend *
ingress_backend(struct ctx *c, const char *ns, const json_t *be, const char *what)
{
    const json_t *svc = json_object_get(be, "service");
    const char *name = jstr(svc, "name");
    const json_t *port = json_object_get(svc, "port");
    int num = (int)json_integer_value(json_object_get(port, "number"));
    const char *pname = jstr(port, "name");
    if (!name || (num <= 0 && !pname)) {
        gw_warn(c->cfg, "%s: backend.service needs name and port.number or port.name", what);
        return NULL;
    }
    return backend_get(c, ns, name, num, pname);
}

static void
compile_ingress(struct ctx *c, const json_t *ing)
{
    const char *ns = ns_of(ing), *name = meta(ing, "name");
    const json_t *spec = json_object_get(ing, "spec");
    char what[600];
    snprintf(what, sizeof(what), "Ingress %s/%s", ns, name);
    ingress_tls(c, ing, what);
    const struct gw_policy *pol = policy_for(c, "Ingress", ns, name);
    const char *ann_policy = annotation(ing, "gateway.bosun.dev/policy");
    if (!pol && ann_policy)
        pol = policy_for(c, "Name", ns, ann_policy);
    /* gateway.bosun.dev/rewrite-target: replaces the matched path prefix */
    const char *rewrite = annotation(ing, "gateway.bosun.dev/rewrite-target");
    if (rewrite && rewrite[0] != '/') {
        gw_warn(c->cfg, "%s: annotation gateway.bosun.dev/rewrite-target %s: must start with '/'",
                what, rewrite);
        rewrite = NULL;
    }

    const json_t *def = json_object_get(spec, "defaultBackend");
    if (def) {
        struct gw_backend *b = ingress_backend(c, ns, def, what);
        if (b) {
            struct gw_route *r = route_new(c, ing, "ingress", -1);
            r->name = bsn_sprintf("ingress:%s/%s:default", ns, name);
            r->path_kind = GW_PATH_PREFIX;
            r->path = bsn_strdup("/");
            r->policy = pol;
            route_add_backend(r, b, 1);
            if (!c->cfg->default_route)
                c->cfg->default_route = r;
        }
    }
    size_t i, j;
    json_t *rule, *p;
    json_array_foreach(json_object_get(spec, "rules"), i, rule)
    {
        const char *host = jstr(rule, "host");
        if (host && !*host)
            host = NULL;
        if (host && !valid_host(host)) {
            gw_warn(c->cfg, "%s: rules[%zu].host %s: a wildcard must be '*.' + domain", what, i,
                    host);
            continue;
        }
        json_array_foreach(json_object_get(json_object_get(rule, "http"), "paths"), j, p)
        {
            const char *type = jstr(p, "pathType");
            const char *path = jstr(p, "path");
            enum gw_path_kind kind = GW_PATH_PREFIX;
            if (type && strcmp(type, "Exact") == 0)
                kind = GW_PATH_EXACT;
            else if (type && strcmp(type, "Prefix") != 0 &&
                     strcmp(type, "ImplementationSpecific") != 0) {
                gw_warn(c->cfg,
                        "%s: rules[%zu].paths[%zu].pathType %s: expected Exact, Prefix "
                        "or ImplementationSpecific",
                        what, i, j, type);
                continue;
            }
            char *np = norm_path(path ? path : "/", kind);
            if (!np) {
                gw_warn(c->cfg, "%s: rules[%zu].paths[%zu].path %s: must start with '/'", what, i,
                        j, path);
                continue;
            }
            struct gw_backend *b = ingress_backend(c, ns, json_object_get(p, "backend"), what);
            if (!b) {
                free(np);
                continue;
            }
            struct gw_route *r = route_new(c, ing, "ingress", (int)i);
            r->name = bsn_sprintf("ingress:%s/%s:%zu:%s", ns, name, i, path ? path : "/");
            r->path_kind = kind;
            r->path = np;
            r->policy = pol;
            if (rewrite && kind == GW_PATH_PREFIX)
                r->rewrite_prefix = bsn_strdup(rewrite);
            route_add_backend(r, b, 1);
            gw_router_add(c->cfg, host ? host : "", false, r);
        }
    }
}

/* --- Gateway API: Gateway + HTTPRoute --- */

static bool
gateway_class_ours(struct ctx *c, const char *cls)
{
    if (!cls)
        return false;
    if (strcmp(cls, BOSUN_CLASS) == 0)
        return true;
    size_t i;
    json_t *gc;
    json_array_foreach(c->gateway_classes, i, gc)
    {
        const char *ctl = jstr(json_object_get(gc, "spec"), "controllerName");
        if (meta(gc, "name") && strcmp(meta(gc, "name"), cls) == 0 && ctl &&
            strcmp(ctl, BOSUN_CONTROLLER) == 0)
            return true;
    }
    return false;
}

static int
parse_kv_list(const json_t *arr, struct gw_match_hdr **out, const char *what,
              struct bsn_gw_config *cfg)
{
    size_t i;
    json_t *m;
    int n = 0;
    json_array_foreach(arr, i, m)
    {
        const char *type = jstr(m, "type"), *name = jstr(m, "name"), *value = jstr(m, "value");
        if (type && strcmp(type, "Exact") != 0) {
            gw_warn(cfg, "%s[%zu].type %s: only Exact is supported", what, i, type);
            return -1;
        }
        if (!name || !value) {
            gw_warn(cfg, "%s[%zu]: name and value are required", what, i);
            return -1;
        }
        *out = bsn_realloc(*out, (size_t)(n + 1) * sizeof(**out));
        (*out)[n].name = bsn_strdup(name);
        (*out)[n].value = bsn_strdup(value);
        n++;
    }
    return n;
}

/* Applies the filters of an HTTPRoute rule to route r; -1 when one is invalid. */
static int
apply_filters(struct ctx *c, struct gw_route *r, const json_t *filters, const char *ns,
              const char *what)
{
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        const char *type = jstr(f, "type");
        if (!type)
            continue;
        if (strcmp(type, "RequestHeaderModifier") == 0) {
            if (gw_header_mod_parse(&r->req_hdr, json_object_get(f, "requestHeaderModifier"),
                                    true) < 0)
                goto bad;
        } else if (strcmp(type, "ResponseHeaderModifier") == 0) {
            if (gw_header_mod_parse(&r->resp_hdr, json_object_get(f, "responseHeaderModifier"),
                                    true) < 0)
                goto bad;
        } else if (strcmp(type, "URLRewrite") == 0) {
            const json_t *u = json_object_get(f, "urlRewrite");
            const json_t *path = json_object_get(u, "path");
            if (jstr(u, "hostname"))
                r->rewrite_host = bsn_strdup(jstr(u, "hostname"));
            const char *pt = jstr(path, "type");
            if (pt && strcmp(pt, "ReplaceFullPath") == 0 && jstr(path, "replaceFullPath"))
                r->rewrite_full = bsn_strdup(jstr(path, "replaceFullPath"));
            else if (pt && strcmp(pt, "ReplacePrefixMatch") == 0 &&
                     jstr(path, "replacePrefixMatch"))
                r->rewrite_prefix = bsn_strdup(jstr(path, "replacePrefixMatch"));
            else if (path)
                goto bad;
        } else if (strcmp(type, "RequestRedirect") == 0) {
            const json_t *rr = json_object_get(f, "requestRedirect");
            r->redirect_status = (int)json_integer_value(json_object_get(rr, "statusCode"));
            if (r->redirect_status == 0)
                r->redirect_status = 302;
            if (r->redirect_status != 301 && r->redirect_status != 302 &&
                r->redirect_status != 303 && r->redirect_status != 307 && r->redirect_status != 308)
                goto bad;
            if (jstr(rr, "scheme"))
                r->redirect_scheme = bsn_strdup(jstr(rr, "scheme"));
            if (jstr(rr, "hostname"))
                r->redirect_host = bsn_strdup(jstr(rr, "hostname"));
            r->redirect_port = (int)json_integer_value(json_object_get(rr, "port"));
            const json_t *path = json_object_get(rr, "path");
            if (jstr(path, "replaceFullPath"))
                r->redirect_path = bsn_strdup(jstr(path, "replaceFullPath"));
            else if (jstr(path, "replacePrefixMatch"))
                r->rewrite_prefix = bsn_strdup(jstr(path, "replacePrefixMatch"));
        } else if (strcmp(type, "RequestMirror") == 0) {
            const json_t *ref = json_object_get(json_object_get(f, "requestMirror"), "backendRef");
            const char *n = jstr(ref, "name");
            int port = (int)json_integer_value(json_object_get(ref, "port"));
            if (!n || port <= 0)
                goto bad;
            r->mirror =
                backend_get(c, jstr(ref, "namespace") ? jstr(ref, "namespace") : ns, n, port, NULL);
        } else {
            gw_warn(c->cfg, "%s: filters[%zu].type %s is not supported (ignored)", what, i, type);
        }
        continue;
    bad:
        gw_warn(c->cfg, "%s: filters[%zu] (%s) is invalid", what, i, type);
        return -1;
    }
    return 0;
}

/* Hostnames an HTTPRoute is served under: its own, else its Gateways' listener hostnames. */
static json_t *
route_hostnames(struct ctx *c, const json_t *hr, bool *attached)
{
    json_t *hosts = json_array();
    const json_t *spec = json_object_get(hr, "spec");
    size_t i, j;
    json_t *ref, *l;
    *attached = false;
    json_t *lhosts = json_array();
    json_array_foreach(json_object_get(spec, "parentRefs"), i, ref)
    {
        const char *kind = jstr(ref, "kind");
        if (kind && strcmp(kind, "Gateway") != 0)
            continue;
        char key[512];
        snprintf(key, sizeof(key), "%s/%s",
                 jstr(ref, "namespace") ? jstr(ref, "namespace") : ns_of(hr),
                 jstr(ref, "name") ? jstr(ref, "name") : "");
        json_t *gw = json_object_get(c->gateways, key);
        if (!gw || !gateway_class_ours(c, jstr(json_object_get(gw, "spec"), "gatewayClassName")))
            continue;
        const char *section = jstr(ref, "sectionName");
        json_int_t port = json_integer_value(json_object_get(ref, "port"));
        json_array_foreach(json_object_get(json_object_get(gw, "spec"), "listeners"), j, l)
        {
            if (section && (!jstr(l, "name") || strcmp(section, jstr(l, "name")) != 0))
                continue;
            if (port > 0 && json_integer_value(json_object_get(l, "port")) != port)
                continue;
            *attached = true; /* a listener accepts it (status.c reports the same) */
            const char *h = jstr(l, "hostname");
            json_array_append_new(lhosts, json_string(h ? h : ""));
        }
    }
    json_t *own = json_object_get(spec, "hostnames");
    if (json_array_size(own) > 0)
        json_array_extend(hosts, own);
    else if (json_array_size(lhosts) > 0)
        json_array_extend(hosts, lhosts);
    else
        json_array_append_new(hosts, json_string(""));
    json_decref(lhosts);
    return hosts;
}

static void
compile_httproute(struct ctx *c, const json_t *hr)
{
    const char *ns = ns_of(hr), *name = meta(hr, "name");
    const json_t *spec = json_object_get(hr, "spec");
    char what[600];
    snprintf(what, sizeof(what), "HTTPRoute %s/%s", ns, name);
    bool attached;
    json_t *hosts = route_hostnames(c, hr, &attached);
    if (!attached) {
        json_decref(hosts);
        return; /* not for a bosun Gateway */
    }
    const struct gw_policy *pol = policy_for(c, "HTTPRoute", ns, name);
    size_t i, j, k;
    json_t *rule, *m, *h;
    json_array_foreach(json_object_get(spec, "rules"), i, rule)
    {
        json_t *matches = json_object_get(rule, "matches");
        json_t *defmatch = NULL;
        if (json_array_size(matches) == 0) {
            defmatch = json_pack("[{s:{s:s,s:s}}]", "path", "type", "PathPrefix", "value", "/");
            matches = defmatch;
        }
        json_array_foreach(matches, j, m)
        {
            const json_t *path = json_object_get(m, "path");
            const char *ptype = path ? jstr(path, "type") : "PathPrefix";
            const char *pval = path ? jstr(path, "value") : "/";
            enum gw_path_kind kind;
            if (!ptype || strcmp(ptype, "PathPrefix") == 0)
                kind = GW_PATH_PREFIX;
            else if (strcmp(ptype, "Exact") == 0)
                kind = GW_PATH_EXACT;
            else {
                gw_warn(c->cfg, "%s: rules[%zu].matches[%zu].path.type %s is not supported", what,
                        i, j, ptype);
                continue;
            }
            char *np = norm_path(pval ? pval : "/", kind);
            if (!np) {
                gw_warn(c->cfg, "%s: rules[%zu].matches[%zu].path.value %s: must start with '/'",
                        what, i, j, pval);
                continue;
            }
            struct gw_route *r = route_new(c, hr, "httproute", (int)i);
            r->name = bsn_sprintf("httproute:%s/%s:%zu:%zu", ns, name, i, j);
            r->path_kind = kind;
            r->path = np;
            r->policy = pol;
            if (jstr(m, "method"))
                r->method = bsn_strdup(jstr(m, "method"));
            const json_t *to = json_object_get(rule, "timeouts");
            if (jstr(to, "request") &&
                (r->timeout_request_ms = gw_parse_duration_ms(jstr(to, "request"))) < 0)
                gw_warn(c->cfg, "%s: rules[%zu].timeouts.request %s: not a duration", what, i,
                        jstr(to, "request"));
            if (jstr(to, "backendRequest") &&
                (r->timeout_backend_ms = gw_parse_duration_ms(jstr(to, "backendRequest"))) < 0)
                gw_warn(c->cfg, "%s: rules[%zu].timeouts.backendRequest %s: not a duration", what,
                        i, jstr(to, "backendRequest"));
            char w2[700];
            snprintf(w2, sizeof(w2), "%s: rules[%zu].matches[%zu].headers", what, i, j);
            r->nheaders = parse_kv_list(json_object_get(m, "headers"), &r->headers, w2, c->cfg);
            snprintf(w2, sizeof(w2), "%s: rules[%zu].matches[%zu].queryParams", what, i, j);
            r->nqueries = parse_kv_list(json_object_get(m, "queryParams"), &r->queries, w2, c->cfg);
            bool bad = r->nheaders < 0 || r->nqueries < 0;
            if (r->nheaders < 0)
                r->nheaders = 0;
            if (r->nqueries < 0)
                r->nqueries = 0;
            if (bad || apply_filters(c, r, json_object_get(rule, "filters"), ns, what) < 0) {
                r->direct_status = 500; /* an invalid rule answers 500 (Gateway API) */
            }
            json_t *br;
            json_array_foreach(json_object_get(rule, "backendRefs"), k, br)
            {
                const char *bk = jstr(br, "kind");
                const char *bn = jstr(br, "name");
                int port = (int)json_integer_value(json_object_get(br, "port"));
                json_t *wj = json_object_get(br, "weight");
                int weight = wj ? (int)json_integer_value(wj) : 1;
                if ((bk && strcmp(bk, "Service") != 0) || !bn || port <= 0 || weight < 0 ||
                    weight > 1000000) {
                    gw_warn(c->cfg, "%s: rules[%zu].backendRefs[%zu] is invalid", what, i, k);
                    r->direct_status = 500;
                    continue;
                }
                if (weight == 0)
                    continue;
                route_add_backend(r,
                                  backend_get(c, jstr(br, "namespace") ? jstr(br, "namespace") : ns,
                                              bn, port, NULL),
                                  (uint32_t)weight);
            }
            if (r->nbackends == 0 && !r->redirect_status && !r->direct_status)
                r->direct_status = 500;
            size_t hi;
            json_array_foreach(hosts, hi, h)
            {
                const char *hn = json_string_value(h);
                if (!hn || (*hn && !valid_host(hn))) {
                    gw_warn(c->cfg, "%s: hostname %s is not a valid DNS name", what,
                            hn ? hn : "(not a string)");
                    continue;
                }
                gw_router_add(c->cfg, hn, true, r);
            }
        }
        json_decref(defmatch);
    }
    json_decref(hosts);
}

/* A new effective policy for r (bp: its first backend's Service policy), owned by cfg. */
static struct gw_policy *
effective_new(struct bsn_gw_config *cfg, const struct gw_route *r, const struct gw_policy *bp)
{
    struct gw_policy *eff = bsn_calloc(1, sizeof(*eff));
    if (r->policy)
        gw_policy_merge(eff, r->policy);
    if (bp)
        gw_policy_merge(eff, bp);
    gw_policy_merge(eff, &cfg->default_policy);
    eff->set = 0x80000000u; /* marks an effective (shallow) copy */
    /* HTTPRoute rules[].timeouts win over policies ("0s" disables the timeout) */
    if (r->timeout_request_ms >= 0)
        eff->request_ms = (uint32_t)BSN_MIN(r->timeout_request_ms, 86400000);
    if (r->timeout_backend_ms >= 0)
        eff->per_try_ms = (uint32_t)BSN_MIN(r->timeout_backend_ms, 86400000);
    if (cfg->neffective == cfg->effective_cap) {
        cfg->effective_cap = cfg->effective_cap ? cfg->effective_cap * 2 : 8;
        cfg->effective = bsn_realloc(cfg->effective, cfg->effective_cap * sizeof(void *));
    }
    cfg->effective[cfg->neffective++] = eff;
    return eff;
}

static void
finish_policies(struct ctx *c)
{
    struct bsn_gw_config *cfg = c->cfg;
    gw_policy_defaults(&cfg->default_policy);
    /* aggregate parts name Services in their policy's namespace */
    for (size_t i = 0; i < cfg->npolicies; i++) {
        struct gw_policy *p = cfg->policies[i];
        for (int k = 0; k < p->nagg; k++)
            p->agg[k].backend = backend_get(c, p->ns, p->agg[k].service, p->agg[k].port, NULL);
    }
    /*
     * The effective policy is a function of (route policy, first backend's Service policy,
     * HTTPRoute timeouts): routes with the same inputs share one copy, so a request touches
     * the same few cache lines of policy whichever of 1,000 routes it takes.
     */
    json_t *interned = json_object();
    for (size_t i = 0; i < cfg->nroutes; i++) {
        struct gw_route *r = cfg->routes[i];
        const struct gw_policy *bp = r->nbackends > 0 ? r->backends[0].b->policy : NULL;
        r->nmods = r->req_hdr.nset + r->req_hdr.nadd + r->req_hdr.nremove + r->resp_hdr.nset +
                   r->resp_hdr.nadd + r->resp_hdr.nremove;
        char key[96];
        snprintf(key, sizeof(key), "%p/%p/%lld/%lld", (const void *)r->policy, (const void *)bp,
                 (long long)r->timeout_request_ms, (long long)r->timeout_backend_ms);
        json_t *idx = json_object_get(interned, key);
        struct gw_policy *eff;
        if (idx) {
            eff = cfg->effective[json_integer_value(idx)];
        } else {
            eff = effective_new(cfg, r, bp);
            json_object_set_new(interned, key, json_integer((json_int_t)cfg->neffective - 1));
        }
        r->policy = eff;
        if (eff->lb == GW_LB_HASH)
            for (int k = 0; k < r->nbackends; k++)
                if (!r->backends[k].b->ring)
                    gw_lb_build_ring(r->backends[k].b);
    }
    json_decref(interned);
}

struct bsn_gw_config *
bsn_gw_config_build(const json_t *objects, struct bsn_err *err)
{
    if (!json_is_array(objects)) {
        bsn_err_set(err, 400, "BadRequest", "gateway config: expected an array of objects");
        return NULL;
    }
    struct bsn_gw_config *cfg = bsn_calloc(1, sizeof(*cfg));
    atomic_init(&cfg->refs, 1);
    bsn_buf_init(&cfg->warnings);
    bsn_buf_puts(&cfg->warnings, "");
    cfg->catchall_group = -1;
    struct ctx c = {cfg,           json_object(), json_object(), json_object(),
                    json_object(), json_object(), json_object(), json_object(),
                    json_array(),  json_array(),  json_array(),  json_array()};
    size_t i;
    json_t *o;
    /* Secrets first: policies reference them while being parsed. */
    json_array_foreach(objects, i, o)
    {
        if (jstr(o, "kind") && strcmp(jstr(o, "kind"), "Secret") == 0)
            index_object(&c, o);
    }
    json_array_foreach(objects, i, o)
    {
        if (!jstr(o, "kind") || strcmp(jstr(o, "kind"), "Secret") != 0)
            index_object(&c, o);
    }
    /* Ingresses naming a policy by annotation: index policies by name as "Name/ns/name" */
    json_array_foreach(c.ingresses, i, o)
    {
        if (ingress_is_ours(&c, o))
            compile_ingress(&c, o);
    }
    json_array_foreach(c.routes, i, o) compile_httproute(&c, o);
    gateway_tls(&c);
    finish_policies(&c);
    gw_router_build(cfg);
    json_decref(c.services);
    json_decref(c.slices);
    json_decref(c.endpoints);
    json_decref(c.secrets);
    json_decref(c.gateways);
    json_decref(c.policies);
    json_decref(c.backends);
    json_decref(c.ingresses);
    json_decref(c.routes);
    json_decref(c.ingress_classes);
    json_decref(c.gateway_classes);
    return cfg;
}

void
bsn_gw_config_ref(struct bsn_gw_config *cfg)
{
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
}

static void
route_free(struct gw_route *r)
{
    free(r->name);
    free(r->path);
    free(r->method);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    for (int i = 0; i < r->nqueries; i++) {
        free(r->queries[i].name);
        free(r->queries[i].value);
    }
    free(r->headers);
    free(r->queries);
    free(r->origin);
    if (r->backends != &r->one_backend)
        free(r->backends);
    gw_header_mod_fini(&r->req_hdr);
    gw_header_mod_fini(&r->resp_hdr);
    free(r->rewrite_prefix);
    free(r->rewrite_full);
    free(r->rewrite_host);
    free(r->redirect_scheme);
    free(r->redirect_host);
    free(r->redirect_path);
    free(r);
}

void
bsn_gw_config_unref(struct bsn_gw_config *cfg)
{
    if (!cfg || atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) != 1)
        return;
    gw_router_fini(cfg);
    for (size_t i = 0; i < cfg->nroutes; i++)
        route_free(cfg->routes[i]);
    free(cfg->routes);
    for (size_t i = 0; i < cfg->nbackends; i++) {
        free(cfg->backends[i]->name);
        free(cfg->backends[i]->eps);
        free(cfg->backends[i]->ring);
        free(cfg->backends[i]);
    }
    free(cfg->backends);
    for (size_t i = 0; i < cfg->npolicies; i++) {
        gw_policy_fini(cfg->policies[i]);
        free(cfg->policies[i]);
    }
    free(cfg->policies);
    for (size_t i = 0; i < cfg->neffective; i++)
        free(cfg->effective[i]); /* shallow copies */
    free(cfg->effective);
    for (size_t i = 0; i < cfg->ncerts; i++) {
        free(cfg->certs[i].host);
        gw_tls_ctx_free(cfg->certs[i].ctx);
    }
    free(cfg->certs);
    bsn_buf_fini(&cfg->warnings);
    free(cfg);
}

size_t
bsn_gw_config_nroutes(const struct bsn_gw_config *cfg)
{
    return cfg ? cfg->nroutes : 0;
}

const char *
bsn_gw_config_warnings(const struct bsn_gw_config *cfg)
{
    return cfg->warnings.data ? cfg->warnings.data : "";
}
