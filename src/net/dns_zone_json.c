/*
 * dns_zone_json.c - feeds raw Kubernetes objects (Service, Endpoints, EndpointSlice, or a
 * List of them) into the DNS zone through the C API of dns_zone.h.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/dns_zone.h"

static const char *
jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
meta(const json_t *obj, const char **ns, const char **name, struct bsn_err *err)
{
    const json_t *md = json_object_get(obj, "metadata");
    *name = jstr(md, "name");
    *ns = jstr(md, "namespace");
    if (!*ns || !**ns)
        *ns = "default";
    if (!*name || !**name)
        return bsn_err_set(err, 422, "Invalid", "%s: metadata.name: Required value",
                           jstr(obj, "kind"));
    return 0;
}

/* Reads a ports array (Service spec.ports, Endpoints subset ports, EndpointSlice ports). */
static size_t
read_ports(const json_t *arr, struct bsn_dns_port **out)
{
    size_t n = json_array_size(arr);
    if (n > BSN_DNS_MAX_PORTS)
        n = BSN_DNS_MAX_PORTS;
    *out = n ? bsn_calloc(n, sizeof(**out)) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(arr, i);
        json_int_t port = json_integer_value(json_object_get(p, "port"));
        if (port <= 0 || port > 65535)
            continue;
        (*out)[k].name = jstr(p, "name");
        (*out)[k].protocol = jstr(p, "protocol");
        (*out)[k].port = (uint16_t)port;
        k++;
    }
    return k;
}

static int
apply_service(struct bsn_dns_zone *z, const json_t *obj, bool deleted, struct bsn_err *err)
{
    const char *ns, *name;
    if (meta(obj, &ns, &name, err) < 0)
        return -1;
    if (deleted)
        return bsn_dns_zone_delete_service(z, ns, name);
    const json_t *spec = json_object_get(obj, "spec");
    const char *type = jstr(spec, "type");
    const char *cip = jstr(spec, "clusterIP");
    const json_t *cips = json_object_get(spec, "clusterIPs");
    enum bsn_dns_svc_type t = BSN_DNS_SVC_CLUSTER_IP;
    const char *ips[BSN_DNS_MAX_IPS];
    size_t nips = 0;
    if (type && strcmp(type, "ExternalName") == 0) {
        t = BSN_DNS_SVC_EXTERNAL_NAME;
    } else if (cip && strcmp(cip, "None") == 0) {
        t = BSN_DNS_SVC_HEADLESS;
    } else {
        for (size_t i = 0; i < json_array_size(cips) && nips < BSN_DNS_MAX_IPS; i++) {
            const json_t *v = json_array_get(cips, i);
            if (json_is_string(v) && *json_string_value(v))
                ips[nips++] = json_string_value(v);
        }
        if (nips == 0 && cip && *cip)
            ips[nips++] = cip;
        if (nips == 0)
            return 0; /* ClusterIP not allocated yet: nothing to publish */
    }
    const json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
    const char *tol = jstr(ann, "service.alpha.kubernetes.io/tolerate-unready-endpoints");
    bool pnr = json_is_true(json_object_get(spec, "publishNotReadyAddresses")) ||
               (tol && strcmp(tol, "true") == 0);
    BSN_AUTOFREE struct bsn_dns_port *ports = NULL;
    size_t np = read_ports(json_object_get(spec, "ports"), &ports);
    return bsn_dns_zone_put_service(z, ns, name, t, ips, nips, ports, np,
                                    jstr(spec, "externalName"), pnr, err);
}

struct eplist {
    struct bsn_dns_endpoint *v;
    size_t n, cap;
};

static void
ep_add(struct eplist *l, const char *ip, const char *host, bool ready)
{
    if (!ip || l->n >= BSN_DNS_MAX_ENDPOINTS)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = bsn_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = (struct bsn_dns_endpoint){ip, host, ready};
}

static int
apply_endpoints(struct bsn_dns_zone *z, const json_t *obj, bool deleted, struct bsn_err *err)
{
    const char *ns, *name;
    if (meta(obj, &ns, &name, err) < 0)
        return -1;
    if (deleted)
        return bsn_dns_zone_delete_endpoints(z, ns, name);
    struct eplist l = {0};
    const json_t *subsets = json_object_get(obj, "subsets");
    const json_t *ports_arr = NULL;
    for (size_t i = 0; i < json_array_size(subsets); i++) {
        const json_t *ss = json_array_get(subsets, i);
        const json_t *a = json_object_get(ss, "addresses");
        for (size_t k = 0; k < json_array_size(a); k++)
            ep_add(&l, jstr(json_array_get(a, k), "ip"), jstr(json_array_get(a, k), "hostname"),
                   true);
        a = json_object_get(ss, "notReadyAddresses");
        for (size_t k = 0; k < json_array_size(a); k++)
            ep_add(&l, jstr(json_array_get(a, k), "ip"), jstr(json_array_get(a, k), "hostname"),
                   false);
        if (!ports_arr && json_array_size(json_object_get(ss, "ports")))
            ports_arr = json_object_get(ss, "ports");
    }
    BSN_AUTOFREE struct bsn_dns_port *ports = NULL;
    size_t np = read_ports(ports_arr, &ports);
    int rc = bsn_dns_zone_put_endpoints(z, ns, name, l.v, l.n, ports, np, err);
    free(l.v);
    return rc;
}

static int
apply_slice(struct bsn_dns_zone *z, const json_t *obj, bool deleted, struct bsn_err *err)
{
    const char *ns, *name;
    if (meta(obj, &ns, &name, err) < 0)
        return -1;
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    const char *svc = jstr(labels, "kubernetes.io/service-name");
    if (!svc)
        return 0; /* not owned by a service */
    if (deleted)
        return bsn_dns_zone_delete_endpoint_slice(z, ns, svc, name);
    const char *at = jstr(obj, "addressType");
    if (at && strcmp(at, "FQDN") == 0)
        return 0;
    struct eplist l = {0};
    const json_t *eps = json_object_get(obj, "endpoints");
    for (size_t i = 0; i < json_array_size(eps); i++) {
        const json_t *e = json_array_get(eps, i);
        const json_t *ready = json_object_get(json_object_get(e, "conditions"), "ready");
        bool r = !json_is_false(ready); /* unset means ready */
        const json_t *addrs = json_object_get(e, "addresses");
        for (size_t k = 0; k < json_array_size(addrs); k++) {
            const json_t *ip = json_array_get(addrs, k);
            ep_add(&l, json_is_string(ip) ? json_string_value(ip) : NULL, jstr(e, "hostname"), r);
        }
    }
    BSN_AUTOFREE struct bsn_dns_port *ports = NULL;
    size_t np = read_ports(json_object_get(obj, "ports"), &ports);
    int rc = bsn_dns_zone_put_endpoint_slice(z, ns, svc, name, l.v, l.n, ports, np, err);
    free(l.v);
    return rc;
}

static int
apply_kind(struct bsn_dns_zone *z, const json_t *obj, const char *kind, bool deleted,
           struct bsn_err *err)
{
    if (strcmp(kind, "Service") == 0)
        return apply_service(z, obj, deleted, err);
    if (strcmp(kind, "Endpoints") == 0)
        return apply_endpoints(z, obj, deleted, err);
    if (strcmp(kind, "EndpointSlice") == 0)
        return apply_slice(z, obj, deleted, err);
    size_t kl = strlen(kind);
    const json_t *items = json_object_get(obj, "items");
    if (kl >= 4 && strcmp(kind + kl - 4, "List") == 0 && json_is_array(items)) {
        /* items of a typed list (ServiceList) carry no kind of their own */
        char item_kind[64] = "";
        if (kl > 4 && kl - 4 < sizeof(item_kind))
            memcpy(item_kind, kind, kl - 4);
        int rc = 0;
        bsn_dns_zone_begin(z);
        for (size_t i = 0; i < json_array_size(items) && rc == 0; i++) {
            const json_t *it = json_array_get(items, i);
            const char *ik = jstr(it, "kind");
            if (!ik)
                ik = item_kind;
            if (!json_is_object(it))
                rc = bsn_err_set(err, 400, "BadRequest", "not an object");
            else
                rc = apply_kind(z, it, ik, deleted, err);
            if (rc < 0)
                bsn_err_prefix(err, "items[%zu]", i);
        }
        bsn_dns_zone_commit(z);
        return rc;
    }
    return 0;
}

int
bsn_dns_zone_apply_object(struct bsn_dns_zone *z, const json_t *obj, bool deleted,
                          struct bsn_err *err)
{
    const char *kind = jstr(obj, "kind");
    if (!json_is_object(obj) || !kind)
        return bsn_err_set(err, 400, "BadRequest", "dns: object without kind");
    return apply_kind(z, obj, kind, deleted, err);
}

int
bsn_dns_zone_apply_kind(struct bsn_dns_zone *z, const char *kind, const json_t *obj, bool deleted,
                        struct bsn_err *err)
{
    if (!json_is_object(obj) || !kind)
        return bsn_err_set(err, 400, "BadRequest", "dns: not an object");
    return apply_kind(z, obj, kind, deleted, err);
}
