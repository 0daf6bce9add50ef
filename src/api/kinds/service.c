/*
 * service.c - core/v1 Service and Endpoints, discovery.k8s.io/v1 EndpointSlice: defaults
 * (type, ports, traffic policies, IP families), validation (ports, node port range, types,
 * immutable cluster IP), allocated values kept across updates, and printer columns.
 *
 * ClusterIP and NodePort allocation is the API server's allocator's job, not done here.
 */
#include "api/kinds/kinds.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

#define NODEPORT_MIN 30000
#define NODEPORT_MAX 32767

static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};

static bool
is_headless(const json_t *spec)
{
    return strcmp(kj_str_or(spec, "clusterIP", ""), "None") == 0;
}

/* ---- Service ---- */

static void
service_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_str(spec, "sessionAffinity", "None");
    kj_def_str(spec, "type", "ClusterIP");
    const char *type = kj_str_or(spec, "type", "");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        kj_def_str(p, "protocol", "TCP");
        json_t *tp = json_object_get(p, "targetPort");
        bool unset = !tp || json_is_null(tp) ||
                     (json_is_integer(tp) && json_integer_value(tp) == 0) ||
                     (json_is_string(tp) && !*json_string_value(tp));
        if (unset && json_is_integer(json_object_get(p, "port")))
            json_object_set(p, "targetPort", json_object_get(p, "port"));
    }
    if (strcmp(kj_str_or(spec, "sessionAffinity", ""), "ClientIP") == 0) {
        json_t *cfg = kj_obj(kj_obj(spec, "sessionAffinityConfig"), "clientIP");
        kj_def_int(cfg, "timeoutSeconds", 10800);
    } else if (strcmp(kj_str_or(spec, "sessionAffinity", ""), "None") == 0) {
        json_object_del(spec, "sessionAffinityConfig");
    }
    if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0)
        kj_def_str(spec, "externalTrafficPolicy", "Cluster");
    if (strcmp(type, "LoadBalancer") == 0) {
        kj_def_bool(spec, "allocateLoadBalancerNodePorts", true);
        size_t k;
        json_t *ing;
        json_array_foreach(kj_get(obj, "status.loadBalancer.ingress"), k, ing)
        {
            if (*kj_str_or(ing, "ip", ""))
                kj_def_str(ing, "ipMode", "VIP");
        }
    }
    if (strcmp(type, "ExternalName") != 0) {
        kj_def_str(spec, "internalTrafficPolicy", "Cluster");
        /* IP families are set by upstream's REST layer: headless services without a selector
         * ask for dual stack, the rest are single stack on the cluster's (IPv4) family */
        bool headless_nosel = strcmp(kj_str_or(spec, "clusterIP", ""), "None") == 0 &&
                              json_object_size(json_object_get(spec, "selector")) == 0;
        kj_def_str(spec, "ipFamilyPolicy", headless_nosel ? "RequireDualStack" : "SingleStack");
        json_t *fam = json_object_get(spec, "ipFamilies");
        if (json_array_size(fam) == 0) {
            const char *ip = kj_str(spec, "clusterIP");
            json_object_set_new(spec, "ipFamilies",
                                json_pack("[s]", ip && strchr(ip, ':') ? "IPv6" : "IPv4"));
        }
        const char *ip = kj_str(spec, "clusterIP");
        if (ip && *ip && json_array_size(json_object_get(spec, "clusterIPs")) == 0)
            json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
    }
}

static int
validate_service_port(struct bsn_err *err, const json_t *p, size_t i, size_t nports,
                      const char *type)
{
    char f[128];
    int rc = 0;
    const char *name = kj_str(p, "name");
    F(f, "spec.ports[%zu].name", i);
    if ((!name || !*name) && nports > 1)
        rc |= kv_required(err, f, NULL);
    else if (name && *name && kn_dns1123_label(name))
        rc |= kv_invalid_s(err, f, name, kn_dns1123_label(name));
    json_t *port = json_object_get(p, "port");
    F(f, "spec.ports[%zu].port", i);
    if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
        rc |= port ? kv_invalid_j(err, f, port, "must be between 1 and 65535, inclusive")
                   : kv_invalid_i(err, f, 0, "must be between 1 and 65535, inclusive");
    F(f, "spec.ports[%zu].protocol", i);
    rc |= kv_enum(err, p, "protocol", f, protocols, true);
    json_t *tp = json_object_get(p, "targetPort");
    F(f, "spec.ports[%zu].targetPort", i);
    if (json_is_string(tp)) {
        const char *msg = kn_port_name(json_string_value(tp));
        if (msg)
            rc |= kv_invalid_s(err, f, json_string_value(tp), msg);
    } else if (json_is_integer(tp) &&
               (json_integer_value(tp) < 1 || json_integer_value(tp) > 65535)) {
        rc |=
            kv_invalid_i(err, f, json_integer_value(tp), "must be between 1 and 65535, inclusive");
    }
    json_t *np = json_object_get(p, "nodePort");
    F(f, "spec.ports[%zu].nodePort", i);
    if (np && json_is_integer(np) && json_integer_value(np) != 0) {
        if (strcmp(type, "NodePort") && strcmp(type, "LoadBalancer")) {
            char d[96];
            F(d, "may not be used when `type` is '%s'", type);
            rc |= kv_forbidden(err, f, d);
        } else if (json_integer_value(np) < NODEPORT_MIN || json_integer_value(np) > NODEPORT_MAX) {
            char d[160];
            F(d, "provided port is not in the valid range. The range of valid ports is %d-%d",
              NODEPORT_MIN, NODEPORT_MAX);
            rc |= kv_invalid_i(err, f, json_integer_value(np), d);
        }
    }
    return rc ? -1 : 0;
}

static int
service_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const types[] = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort",
                                        NULL};
    static const char *const affinity[] = {"ClientIP", "None", NULL};
    static const char *const policies[] = {"Cluster", "Local", NULL};
    static const char *const fam_pol[] = {"SingleStack", "PreferDualStack", "RequireDualStack",
                                          NULL};
    static const char *const families[] = {"IPv4", "IPv6", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    int rc = 0;
    char f[128];
    rc |= kv_enum(err, spec, "type", "spec.type", types, true);
    const char *type = kj_str_or(spec, "type", "");
    bool extname = strcmp(type, "ExternalName") == 0;
    size_t nports = kj_len(spec, "ports");
    if (nports == 0 && !extname && !is_headless(spec))
        rc |= kv_required(err, "spec.ports", NULL);
    struct {
        const char *name;
        json_int_t port;
        const char *proto;
    } seen[128];
    size_t nseen = 0, i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        rc |= validate_service_port(err, p, i, nports, type);
        const char *name = kj_str_or(p, "name", "");
        json_int_t port = kj_int(p, "port", 0);
        const char *proto = kj_str_or(p, "protocol", "TCP");
        for (size_t k = 0; k < nseen; k++) {
            if (*name && strcmp(seen[k].name, name) == 0) {
                F(f, "spec.ports[%zu].name", i);
                rc |= kv_duplicate(err, f, name);
            }
            if (seen[k].port == port && strcmp(seen[k].proto, proto) == 0) {
                char v[240];
                F(f, "spec.ports[%zu]", i);
                /* %#v of the {Protocol, Port} key upstream checks */
                F(v,
                  "core.ServicePort{Name:\"\", Protocol:\"%s\", AppProtocol:(*string)(nil), "
                  "Port:%lld, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, "
                  "NodePort:0}",
                  proto, (long long)port);
                rc |= bsn_invalid(err, "FieldValueDuplicate", f, "Duplicate value: %s", v);
            }
        }
        if (nseen < BSN_ARRAY_LEN(seen))
            seen[nseen++] = (typeof(seen[0])){name, port, proto};
    }
    if (extname) {
        const char *en = kj_str(spec, "externalName");
        if (!en || !*en) {
            rc |= kv_required(err, "spec.externalName", NULL);
        } else {
            char tmp[256];
            F(tmp, "%s", en);
            size_t l = strlen(tmp);
            if (l && tmp[l - 1] == '.')
                tmp[l - 1] = '\0';
            if (kn_dns1123_subdomain(tmp))
                rc |= kv_invalid_s(err, "spec.externalName", en, kn_dns1123_subdomain(tmp));
        }
        const char *cip = kj_str(spec, "clusterIP");
        if (cip && *cip)
            rc |= kv_forbidden(err, "spec.clusterIP", "may not be set for ExternalName services");
    }
    const char *cip = kj_str(spec, "clusterIP");
    if (cip && *cip && strcmp(cip, "None") && !kn_ip(cip))
        rc |= kv_invalid_s(err, "spec.clusterIPs[0]", cip,
                           "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
    rc |= kv_enum(err, spec, "sessionAffinity", "spec.sessionAffinity", affinity, false);
    json_t *tmo = kj_get(spec, "sessionAffinityConfig.clientIP.timeoutSeconds");
    if (tmo && !json_is_null(tmo) &&
        (!json_is_integer(tmo) || json_integer_value(tmo) <= 0 || json_integer_value(tmo) > 86400))
        rc |= kv_invalid_j(err, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", tmo,
                           "must be greater than 0 and less than 86400");
    const json_t *lbsr = json_object_get(spec, "loadBalancerSourceRanges");
    if (json_array_size(lbsr) > 0 && strcmp(type, "LoadBalancer") != 0)
        rc |= kv_forbidden(err, "spec.loadBalancerSourceRanges",
                           "may only be used when `type` is 'LoadBalancer'");
    json_t *cidr;
    json_array_foreach(lbsr, i, cidr)
    {
        F(f, "spec.loadBalancerSourceRanges[%zu]", i);
        if (!kn_cidr(json_string_value(cidr)))
            rc |= kv_invalid_j(err, f, cidr,
                               "must be a list of IP ranges. For example, "
                               "10.240.0.0/24,10.250.0.0/24 ");
    }
    if (json_object_get(spec, "selector"))
        rc |= ks_validate_labels(err, json_object_get(spec, "selector"), "spec.selector");
    rc |=
        kv_enum(err, spec, "externalTrafficPolicy", "spec.externalTrafficPolicy", policies, false);
    const char *etp = kj_str(spec, "externalTrafficPolicy");
    if (etp && *etp && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer"))
        rc |= kv_invalid_s(err, "spec.externalTrafficPolicy", etp,
                           "may only be set when `type` is 'NodePort' or 'LoadBalancer'");
    rc |=
        kv_enum(err, spec, "internalTrafficPolicy", "spec.internalTrafficPolicy", policies, false);
    rc |= kv_enum(err, spec, "ipFamilyPolicy", "spec.ipFamilyPolicy", fam_pol, false);
    json_t *fam;
    json_array_foreach(json_object_get(spec, "ipFamilies"), i, fam)
    {
        F(f, "spec.ipFamilies[%zu]", i);
        if (!json_is_string(fam))
            rc |= kv_invalid_j(err, f, fam, "must be a string");
        else if (strcmp(json_string_value(fam), "IPv4") && strcmp(json_string_value(fam), "IPv6"))
            rc |= kv_unsupported(err, f, json_string_value(fam), families);
    }
    json_t *eip;
    json_array_foreach(json_object_get(spec, "externalIPs"), i, eip)
    {
        F(f, "spec.externalIPs[%zu]", i);
        if (!kn_ip(json_string_value(eip)))
            rc |= kv_invalid_j(err, f, eip,
                               "must be a valid IP address, (e.g. 10.9.8.7 or "
                               "2001:db8::ffff)");
    }
    if (old) {
        const char *ocip = kj_str(old, "spec.clusterIP");
        const char *ntype = type, *otype = kj_str_or(old, "spec.type", "");
        bool type_change_ok =
            strcmp(otype, "ExternalName") == 0 || strcmp(ntype, "ExternalName") == 0;
        if (ocip && *ocip && !type_change_ok && strcmp(ocip, kj_str_or(spec, "clusterIP", "")))
            rc |= kv_invalid_s(err, "spec.clusterIPs[0]", kj_str_or(spec, "clusterIP", ""),
                               "may not change once set");
    }
    return rc ? -1 : 0;
}

static void
service_prepare_create(json_t *obj)
{
    json_object_set_new(obj, "status", json_pack("{s:{}}", "loadBalancer"));
}

static bool
needs_node_port(const json_t *spec)
{
    const char *t = kj_str_or(spec, "type", "ClusterIP");
    return strcmp(t, "NodePort") == 0 || strcmp(t, "LoadBalancer") == 0;
}

static bool
externally_accessible(const json_t *spec)
{
    const char *t = kj_str_or(spec, "type", "ClusterIP");
    return needs_node_port(spec) ||
           (strcmp(t, "ClusterIP") == 0 && kj_len(spec, "externalIPs") > 0);
}

static bool
same_value(const json_t *a, const json_t *b, const char *key)
{
    json_t *x = json_object_get(a, key), *y = json_object_get(b, key);
    return (!x && !y) || (x && y && json_equal(x, y));
}

static bool
same_node_ports(const json_t *spec, const json_t *os)
{
    const json_t *np = json_object_get(spec, "ports"), *op = json_object_get(os, "ports");
    size_t i;
    json_t *p;
    json_array_foreach(np, i, p)
    {
        json_int_t n = kj_int(p, "nodePort", 0);
        if (!n)
            continue;
        bool found = false;
        size_t j;
        json_t *q;
        json_array_foreach(op, j, q)
        {
            if (kj_int(q, "nodePort", 0) == n)
                found = true;
        }
        if (!found)
            return false;
    }
    return true;
}

/*
 * Upstream's dropTypeDependentFields: when the type changes, fields that only made sense for
 * the old type and that the user did not change are wiped (so `kubectl apply` of a ClusterIP
 * manifest over a NodePort service works).
 */
static void
drop_type_dependent_fields(json_t *spec, const json_t *os)
{
    const char *nt = kj_str_or(spec, "type", "ClusterIP"), *ot = kj_str_or(os, "type", "ClusterIP");
    if (strcmp(ot, "ExternalName") != 0 && strcmp(nt, "ExternalName") == 0) {
        if (same_value(spec, os, "clusterIP") && same_value(spec, os, "clusterIPs")) {
            json_object_del(spec, "clusterIP");
            json_object_del(spec, "clusterIPs");
        }
        if (same_value(spec, os, "ipFamilies"))
            json_object_del(spec, "ipFamilies");
        if (same_value(spec, os, "ipFamilyPolicy"))
            json_object_del(spec, "ipFamilyPolicy");
    }
    if (needs_node_port(os) && !needs_node_port(spec) && same_node_ports(spec, os)) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(spec, "ports"), i, p) json_object_del(p, "nodePort");
    }
    if (strcmp(ot, "LoadBalancer") == 0 && strcmp(nt, "LoadBalancer") != 0) {
        if (same_value(spec, os, "healthCheckNodePort"))
            json_object_del(spec, "healthCheckNodePort");
        if (same_value(spec, os, "allocateLoadBalancerNodePorts"))
            json_object_del(spec, "allocateLoadBalancerNodePorts");
        if (same_value(spec, os, "loadBalancerClass"))
            json_object_del(spec, "loadBalancerClass");
    }
    if (externally_accessible(os) && !externally_accessible(spec) &&
        same_value(spec, os, "externalTrafficPolicy"))
        json_object_del(spec, "externalTrafficPolicy");
    if (strcmp(nt, "ExternalName") == 0)
        json_object_del(spec, "internalTrafficPolicy");
}

/* Upstream keeps allocated values (clusterIP(s), nodePorts, healthCheckNodePort) when an
 * update omits them (kubectl apply/replace of a manifest without them). */
static void
service_prepare_update(json_t *obj, const json_t *old)
{
    kh_keep_status(obj, old);
    json_t *spec = json_object_get(obj, "spec");
    const json_t *os = json_object_get(old, "spec");
    if (!json_is_object(spec) || !os)
        return;
    drop_type_dependent_fields(spec, os);
    const char *type = kj_str_or(spec, "type", "ClusterIP");
    if (strcmp(type, "ExternalName") != 0 &&
        strcmp(kj_str_or(os, "type", ""), "ExternalName") != 0) {
        if (!*kj_str_or(spec, "clusterIP", "") && kj_str(os, "clusterIP"))
            json_object_set(spec, "clusterIP", json_object_get(os, "clusterIP"));
        if (json_array_size(json_object_get(spec, "clusterIPs")) == 0 &&
            json_object_get(os, "clusterIPs"))
            json_object_set_new(spec, "clusterIPs",
                                json_deep_copy(json_object_get(os, "clusterIPs")));
    }
    if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0) {
        size_t i, j;
        json_t *p, *op;
        json_array_foreach(json_object_get(spec, "ports"), i, p)
        {
            if (kj_int(p, "nodePort", 0) != 0)
                continue;
            json_array_foreach(json_object_get(os, "ports"), j, op)
            {
                if (kj_int(op, "port", -1) == kj_int(p, "port", -2) &&
                    strcmp(kj_str_or(op, "protocol", "TCP"), kj_str_or(p, "protocol", "TCP")) ==
                        0 &&
                    kj_int(op, "nodePort", 0) != 0) {
                    json_object_set(p, "nodePort", json_object_get(op, "nodePort"));
                    break;
                }
            }
        }
        if (!json_object_get(spec, "healthCheckNodePort") &&
            json_object_get(os, "healthCheckNodePort"))
            json_object_set(spec, "healthCheckNodePort",
                            json_object_get(os, "healthCheckNodePort"));
    }
}

static void
service_prepare_status(json_t *obj, const json_t *old)
{
    kh_keep_spec(obj, old);
}

static const struct bsn_column service_columns[] = {
    KC_NAME,
    {"Type", "string", "", "type determines how the Service is exposed. Defaults to ClusterIP.", 0},
    {"Cluster-IP", "string", "",
     "clusterIP is the IP address of the service and is usually assigned randomly.", 0},
    {"External-IP", "string", "",
     "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
     "traffic for this service.",
     0},
    {"Port(s)", "string", "", "The list of ports that are exposed by this service.", 0},
    KC_AGE,
    {"Selector", "string", "",
     "Route service traffic to pods with label keys and values matching this selector.", 1},
    KC_END,
};

static int
cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
kc_lb_ingress(const json_t *ingress, char *out, size_t n)
{
    /* a sorted set, as upstream's loadBalancerStatusStringer */
    const char *vals[64];
    size_t nv = 0, i, off = 0;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(ingress, i, e)
    {
        const char *v = kj_str(e, "ip");
        if (!v || !*v)
            v = kj_str(e, "hostname");
        if (v && *v && nv < BSN_ARRAY_LEN(vals))
            vals[nv++] = v;
    }
    qsort(vals, nv, sizeof(vals[0]), cmp_cstr);
    for (i = 0; i < nv && off < n; i++) {
        if (i && strcmp(vals[i], vals[i - 1]) == 0)
            continue;
        kc_appendf(out, n, &off, "%s%s", off ? "," : "", vals[i]);
    }
}

static void
service_row(const json_t *obj, json_t *cells)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *type = kj_str_or(spec, "type", "");
    char ext[512] = "", ports[512] = "", buf[512];
    size_t i, off = 0;
    json_t *v;
    json_array_foreach(json_object_get(spec, "externalIPs"), i, v)
        kc_appendf(ext, sizeof(ext), &off, "%s%s", i ? "," : "",
                   json_string_value(v) ? json_string_value(v) : "");
    if (strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0) {
        if (!*ext)
            F(ext, "<none>");
    } else if (strcmp(type, "LoadBalancer") == 0) {
        kc_lb_ingress(kj_get(obj, "status.loadBalancer.ingress"), buf, sizeof(buf));
        if (*ext && *buf) {
            char tmp[512];
            F(tmp, "%s,%s", buf, ext);
            F(ext, "%s", tmp);
        } else if (*buf) {
            F(ext, "%s", buf);
        } else if (!*ext) {
            F(ext, "<pending>");
        }
    } else if (strcmp(type, "ExternalName") == 0) {
        F(ext, "%s", kj_str_or(spec, "externalName", ""));
    } else {
        F(ext, "<unknown>");
    }
    off = 0;
    json_array_foreach(json_object_get(spec, "ports"), i, v)
    {
        const char *proto = kj_str_or(v, "protocol", "TCP");
        json_int_t np = kj_int(v, "nodePort", 0);
        if (off >= sizeof(ports))
            break;
        if (np)
            kc_appendf(ports, sizeof(ports), &off, "%s%lld:%lld/%s", i ? "," : "",
                       (long long)kj_int(v, "port", 0), (long long)np, proto);
        else
            kc_appendf(ports, sizeof(ports), &off, "%s%lld/%s", i ? "," : "",
                       (long long)kj_int(v, "port", 0), proto);
    }
    if (!*ports)
        F(ports, "<none>");
    kc_name(cells, obj);
    kc_str(cells, type);
    const char *cip = json_string_value(json_array_get(json_object_get(spec, "clusterIPs"), 0));
    if (!cip || !*cip)
        cip = kj_str(spec, "clusterIP");
    kc_str(cells, cip && *cip ? cip : "<none>");
    kc_str(cells, ext);
    kc_str(cells, ports);
    kc_age(cells, obj);
    ks_labels_string(json_object_get(spec, "selector"), buf, sizeof(buf));
    kc_str(cells, buf);
}

static const char *
service_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    if (strcmp(field, "spec.clusterIP") == 0 || strcmp(field, "spec.type") == 0) {
        snprintf(buf, bufsz, "%s", kj_str_or(obj, field, ""));
        return buf;
    }
    return NULL;
}

const struct bsn_strategy bsn_strategy_service = {
    .name_rule = BSN_NAME_DNS1035,
    .defaults = service_defaults,
    .validate = service_validate,
    .prepare_create = service_prepare_create,
    .prepare_update = service_prepare_update,
    .prepare_status_update = service_prepare_status,
    .columns = service_columns,
    .row = service_row,
    .field_value = service_field_value,
};

/* ---- Endpoints ---- */

static void
endpoints_defaults(json_t *obj)
{
    size_t i, j;
    json_t *ss, *p;
    json_array_foreach(json_object_get(obj, "subsets"), i, ss)
    {
        json_array_foreach(json_object_get(ss, "ports"), j, p)
        {
            kj_def_str(p, "protocol", "TCP");
        }
    }
}

static int
validate_address_list(struct bsn_err *err, const json_t *list, const char *field)
{
    char f[160];
    int rc = 0;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        F(f, "%s[%zu].ip", field, i);
        const char *ip = kj_str(a, "ip");
        if (!ip || !*ip)
            rc |= kv_required(err, f, NULL);
        else if (!kn_ip(ip))
            rc |= kv_invalid_s(err, f, ip,
                               "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
    }
    return rc;
}

static int
endpoints_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    char f[160];
    int rc = 0;
    size_t i, j;
    json_t *ss, *p;
    json_array_foreach(json_object_get(obj, "subsets"), i, ss)
    {
        F(f, "subsets[%zu].addresses", i);
        rc |= validate_address_list(err, json_object_get(ss, "addresses"), f);
        F(f, "subsets[%zu].notReadyAddresses", i);
        rc |= validate_address_list(err, json_object_get(ss, "notReadyAddresses"), f);
        size_t np = kj_len(ss, "ports");
        json_array_foreach(json_object_get(ss, "ports"), j, p)
        {
            const char *name = kj_str(p, "name");
            F(f, "subsets[%zu].ports[%zu].name", i, j);
            if (np > 1 && (!name || !*name))
                rc |= kv_required(err, f, NULL);
            else if (name && *name && kn_dns1123_label(name))
                rc |= kv_invalid_s(err, f, name, kn_dns1123_label(name));
            F(f, "subsets[%zu].ports[%zu].port", i, j);
            json_int_t port = kj_int(p, "port", 0);
            if (port < 1 || port > 65535)
                rc |= kv_invalid_i(err, f, port, "must be between 1 and 65535, inclusive");
            F(f, "subsets[%zu].ports[%zu].protocol", i, j);
            rc |= kv_enum(err, p, "protocol", f, protocols, true);
        }
    }
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column endpoints_columns[] = {
    KC_NAME,
    {"Endpoints", "string", "", "The set of all endpoints is the union of all subsets.", 0},
    KC_AGE,
    KC_END,
};

static void
endpoints_row(const json_t *obj, json_t *cells)
{
    char list[512] = "";
    size_t off = 0, count = 0, shown = 0, i, j, k;
    const size_t max = 3;
    const json_t *subsets = json_object_get(obj, "subsets");
    json_t *ss, *a, *p;
    json_array_foreach(subsets, i, ss)
    {
        const json_t *addrs = json_object_get(ss, "addresses");
        const json_t *ports = json_object_get(ss, "ports");
        if (json_array_size(ports) == 0) {
            count += json_array_size(addrs);
            json_array_foreach(addrs, j, a)
            {
                if (shown < max && off < sizeof(list)) {
                    kc_appendf(list, sizeof(list), &off, "%s%s", shown ? "," : "",
                               kj_str_or(a, "ip", ""));
                    shown++;
                }
            }
            continue;
        }
        json_array_foreach(ports, k, p)
        {
            count += json_array_size(addrs);
            json_array_foreach(addrs, j, a)
            {
                if (shown < max && off < sizeof(list)) {
                    const char *ip = kj_str_or(a, "ip", "");
                    bool v6 = strchr(ip, ':') != NULL;
                    kc_appendf(list, sizeof(list), &off, "%s%s%s%s:%lld", shown ? "," : "",
                               v6 ? "[" : "", ip, v6 ? "]" : "", (long long)kj_int(p, "port", 0));
                    shown++;
                }
            }
        }
    }
    if (json_array_size(subsets) == 0)
        F(list, "<none>");
    else if (count > max && off < sizeof(list))
        kc_appendf(list, sizeof(list), &off, " + %zu more...", count - max);
    kc_name(cells, obj);
    kc_str(cells, list);
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_endpoints = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = endpoints_defaults,
    .validate = endpoints_validate,
    .columns = endpoints_columns,
    .row = endpoints_row,
};

/* ---- EndpointSlice ---- */

static void
endpointslice_defaults(json_t *obj)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(obj, "ports"), i, p)
    {
        kj_def_str(p, "name", "");
        kj_def_str(p, "protocol", "TCP");
    }
}

static int
endpointslice_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const types[] = {"IPv4", "IPv6", "FQDN", NULL};
    char f[160];
    int rc = kv_enum(err, obj, "addressType", "addressType", types, true);
    const char *at = kj_str_or(obj, "addressType", "");
    size_t i, j;
    json_t *ep, *a, *p;
    json_array_foreach(json_object_get(obj, "endpoints"), i, ep)
    {
        size_t na = kj_len(ep, "addresses");
        F(f, "endpoints[%zu].addresses", i);
        if (na == 0)
            rc |= kv_required(err, f, "must contain at least 1 address");
        else if (na > 100)
            rc |= kv_toolong(err, f, 100);
        json_array_foreach(json_object_get(ep, "addresses"), j, a)
        {
            F(f, "endpoints[%zu].addresses[%zu]", i, j);
            const char *s = json_string_value(a);
            if (strcmp(at, "FQDN") == 0) {
                if (!s || kn_dns1123_subdomain(s))
                    rc |= kv_invalid_s(err, f, s ? s : "", s ? kn_dns1123_subdomain(s) : "");
            } else if (!kn_ip(s)) {
                rc |= kv_invalid_s(err, f, s ? s : "", "must be a valid IP address");
            }
        }
    }
    json_array_foreach(json_object_get(obj, "ports"), i, p)
    {
        F(f, "ports[%zu].protocol", i);
        rc |= kv_enum(err, p, "protocol", f, protocols, false);
        json_t *port = json_object_get(p, "port");
        if (port && !json_is_null(port) &&
            (!json_is_integer(port) || json_integer_value(port) < 1 ||
             json_integer_value(port) > 65535)) {
            F(f, "ports[%zu].port", i);
            rc |= kv_invalid_j(err, f, port, "must be between 1 and 65535, inclusive");
        }
    }
    if (old)
        rc |= kv_immutable(err, obj, old, "addressType");
    return rc ? -1 : 0;
}

static const struct bsn_column endpointslice_columns[] = {
    KC_NAME,
    {"AddressType", "string", "",
     "addressType specifies the type of address carried by this EndpointSlice.", 0},
    {"Ports", "string", "",
     "ports specifies the list of network ports exposed by each endpoint "
     "in this slice.",
     0},
    {"Endpoints", "string", "", "endpoints is a list of unique endpoints in this slice.", 0},
    KC_AGE,
    KC_END,
};

static void
endpointslice_row(const json_t *obj, json_t *cells)
{
    char ports[256] = "", eps[512] = "";
    size_t off = 0, i, j, count = 0, shown = 0;
    json_t *p, *ep, *a;
    size_t nports = json_array_size(json_object_get(obj, "ports"));
    json_array_foreach(json_object_get(obj, "ports"), i, p)
    {
        if (i == 3 || off >= sizeof(ports))
            break;
        json_t *port = json_object_get(p, "port");
        const char *pname = kj_str(p, "name");
        if (json_is_integer(port))
            kc_appendf(ports, sizeof(ports), &off, "%s%lld", i ? "," : "",
                       (long long)json_integer_value(port));
        else
            kc_appendf(ports, sizeof(ports), &off, "%s%s", i ? "," : "", pname ? pname : "*");
    }
    if (nports > 3 && off < sizeof(ports))
        kc_appendf(ports, sizeof(ports), &off, " + %zu more...", nports - 3);
    if (!*ports)
        F(ports, "<unset>");
    off = 0;
    json_array_foreach(json_object_get(obj, "endpoints"), i, ep)
    {
        json_array_foreach(json_object_get(ep, "addresses"), j, a)
        {
            count++;
            if (shown < 3 && off < sizeof(eps)) {
                kc_appendf(eps, sizeof(eps), &off, "%s%s", shown ? "," : "",
                           json_string_value(a) ? json_string_value(a) : "");
                shown++;
            }
        }
    }
    if (count == 0)
        F(eps, "<unset>");
    else if (count > 3 && off < sizeof(eps))
        kc_appendf(eps, sizeof(eps), &off, " + %zu more...", count - 3);
    kc_name(cells, obj);
    kc_str(cells, kj_str_or(obj, "addressType", ""));
    kc_str(cells, ports);
    kc_str(cells, eps);
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_endpointslice = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = endpointslice_defaults,
    .validate = endpointslice_validate,
    .columns = endpointslice_columns,
    .row = endpointslice_row,
};
