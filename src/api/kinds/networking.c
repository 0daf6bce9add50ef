/*
 * networking.c - networking.k8s.io/v1 Ingress, IngressClass, NetworkPolicy and the Gateway API
 * (gateway.networking.k8s.io/v1 GatewayClass, Gateway, HTTPRoute). The Gateway API kinds are
 * CRDs upstream: their defaults mirror the CRD schema defaults and their columns the CRDs'
 * additionalPrinterColumns (Age as a "date" cell, as the CRD table convertor sends it).
 */
#include "api/kinds/kinds.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};

/* DNS subdomain with an optional leading "*." wildcard label. */
static int
validate_host(struct bsn_err *err, const char *host, const char *field)
{
    if (kn_ip(host))
        return kv_invalid_s(err, field, host, "must be a DNS name, not an IP address");
    const char *h = strncmp(host, "*.", 2) == 0 ? host + 2 : host;
    const char *msg = kn_dns1123_subdomain(h);
    if (msg) {
        if (strchr(host, '*'))
            return kv_invalid_s(
                err, field, host,
                "a wildcard DNS-1123 subdomain must start with '*.', followed by a "
                "valid DNS subdomain, which must consist of lower case "
                "alphanumeric characters, '-' or '.' and end with an alphanumeric "
                "character (e.g. '*.example.com', regex used for validation is "
                "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9]"
                ")?)*')");
        return kv_invalid_s(err, field, host, msg);
    }
    return 0;
}

/* ---- Ingress ---- */

static int
validate_ingress_backend(struct bsn_err *err, const json_t *b, const char *field)
{
    char f[200];
    int rc = 0;
    const json_t *svc = json_object_get(b, "service"), *res = json_object_get(b, "resource");
    if (svc && res)
        return kv_invalid_raw(err, field, "\"\"", "cannot set both resource and service backends");
    if (!svc && !res)
        return kv_invalid_raw(err, field, "\"\"", "resource or service backend is required");
    if (res) {
        F(f, "%s.resource.kind", field);
        if (!*kj_str_or(res, "kind", ""))
            rc |= kv_required(err, f, "kind is required");
        F(f, "%s.resource.name", field);
        if (!*kj_str_or(res, "name", ""))
            rc |= kv_required(err, f, "name is required");
        return rc;
    }
    F(f, "%s.service.name", field);
    rc |= kn_check(err, f, kj_str(svc, "name"), kn_dns1035_label);
    const json_t *port = json_object_get(svc, "port");
    const char *pname = kj_str(port, "name");
    json_t *pnum = json_object_get(port, "number");
    bool has_num = pnum && json_is_integer(pnum) && json_integer_value(pnum) != 0;
    if (pname && *pname && has_num) {
        rc |= kv_invalid_raw(err, field, "\"\"", "cannot set both port name & port number");
    } else if (pname && *pname) {
        const char *msg = kn_port_name(pname);
        if (msg) {
            F(f, "%s.service.port.name", field);
            rc |= kv_invalid_s(err, f, pname, msg);
        }
    } else if (has_num) {
        if (json_integer_value(pnum) < 1 || json_integer_value(pnum) > 65535) {
            F(f, "%s.service.port.number", field);
            rc |= kv_invalid_i(err, f, json_integer_value(pnum),
                               "must be between 1 and 65535, inclusive");
        }
    } else {
        rc |= kv_required(err, field, "port name or number is required");
    }
    return rc;
}

static int
ingress_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const path_types[] = {"Exact", "ImplementationSpecific", "Prefix", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    char f[200];
    int rc = 0;
    const json_t *def = json_object_get(spec, "defaultBackend");
    if (json_array_size(json_object_get(spec, "rules")) == 0 && !def)
        rc |= kv_invalid_raw(err, "spec", "[]networking.IngressRule(nil)",
                             "either `defaultBackend` or `rules` must be specified");
    if (def)
        rc |= validate_ingress_backend(err, def, "spec.defaultBackend");
    const char *cls = kj_str(spec, "ingressClassName");
    if (cls && kn_dns1123_subdomain(cls))
        rc |= kv_invalid_s(err, "spec.ingressClassName", cls, kn_dns1123_subdomain(cls));
    size_t i, j;
    json_t *r, *p, *h;
    json_array_foreach(json_object_get(spec, "rules"), i, r)
    {
        const char *host = kj_str(r, "host");
        if (host && *host) {
            F(f, "spec.rules[%zu].host", i);
            rc |= validate_host(err, host, f);
        }
        const json_t *http = json_object_get(r, "http");
        if (!http)
            continue;
        F(f, "spec.rules[%zu].http.paths", i);
        if (kj_len(http, "paths") == 0)
            rc |= kv_required(err, f, NULL);
        json_array_foreach(json_object_get(http, "paths"), j, p)
        {
            const char *pt = kj_str(p, "pathType");
            const char *path = kj_str(p, "path");
            F(f, "spec.rules[%zu].http.paths[%zu].pathType", i, j);
            if (!pt || !*pt)
                rc |= kv_required(err, f, "pathType must be specified");
            else
                rc |= kv_enum(err, p, "pathType", f, path_types, true);
            F(f, "spec.rules[%zu].http.paths[%zu].path", i, j);
            if (pt && (strcmp(pt, "Exact") == 0 || strcmp(pt, "Prefix") == 0)) {
                static const char *const bad_seq[] = {"//", "/./", "/../", "%2f", "%2F"};
                static const char *const bad_suffix[] = {"/..", "/."};
                if (!path || path[0] != '/')
                    rc |= kv_invalid_s(err, f, path ? path : "", "must be an absolute path");
                for (size_t k = 0; path && *path && k < BSN_ARRAY_LEN(bad_seq); k++) {
                    if (strstr(path, bad_seq[k])) {
                        char d[64];
                        F(d, "must not contain '%s'", bad_seq[k]);
                        rc |= kv_invalid_s(err, f, path, d);
                    }
                }
                for (size_t k = 0; path && *path && k < BSN_ARRAY_LEN(bad_suffix); k++) {
                    size_t pl = strlen(path), sl = strlen(bad_suffix[k]);
                    if (pl >= sl && strcmp(path + pl - sl, bad_suffix[k]) == 0) {
                        char d[64];
                        F(d, "cannot end with '%s'", bad_suffix[k]);
                        rc |= kv_invalid_s(err, f, path, d);
                    }
                }
            } else if (path && *path && path[0] != '/') {
                rc |= kv_invalid_s(err, f, path, "must be an absolute path");
            }
            F(f, "spec.rules[%zu].http.paths[%zu].backend", i, j);
            rc |= validate_ingress_backend(err, json_object_get(p, "backend"), f);
        }
    }
    json_t *t;
    json_array_foreach(json_object_get(spec, "tls"), i, t)
    {
        json_array_foreach(json_object_get(t, "hosts"), j, h)
        {
            F(f, "spec.tls[%zu].hosts[%zu]", i, j);
            if (json_string_value(h))
                rc |= validate_host(err, json_string_value(h), f);
        }
        const char *sn = kj_str(t, "secretName");
        if (sn && *sn && kn_dns1123_subdomain(sn)) {
            F(f, "spec.tls[%zu].secretName", i);
            rc |= kv_invalid_s(err, f, sn, kn_dns1123_subdomain(sn));
        }
    }
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column ingress_columns[] = {
    KC_NAME,
    {"Class", "string", "", "The name of the IngressClass resource that should be used", 0},
    {"Hosts", "string", "",
     "Hosts that incoming requests are matched against before the ingress rule", 0},
    {"Address", "string", "", "Address is a list containing ingress points for the load-balancer",
     0},
    {"Ports", "string", "", "Ports of TLS configurations that open", 0},
    KC_AGE,
    KC_END,
};

static void
ingress_row(const json_t *obj, json_t *cells)
{
    char hosts[512] = "", addr[512];
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *rules = json_object_get(spec, "rules");
    size_t i, off = 0, shown = 0;
    bool more = false;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        if (shown == 3)
            more = true;
        const char *h = kj_str_or(r, "host", "");
        if (!more && *h && off < sizeof(hosts)) {
            kc_appendf(hosts, sizeof(hosts), &off, "%s%s", shown ? "," : "", h);
            shown++;
        }
    }
    if (shown == 0)
        F(hosts, "*");
    else if (more && off < sizeof(hosts))
        kc_appendf(hosts, sizeof(hosts), &off, " + %zu more...", json_array_size(rules) - 3);
    kc_lb_ingress(kj_get(obj, "status.loadBalancer.ingress"), addr, sizeof(addr));
    const char *cls = kj_str(spec, "ingressClassName");
    kc_name(cells, obj);
    kc_str(cells, cls && *cls ? cls : "<none>");
    kc_str(cells, hosts);
    kc_str(cells, addr);
    kc_str(cells, kj_len(spec, "tls") ? "80, 443" : "80");
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_ingress = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = ingress_validate,
    .prepare_create = kh_strip_status,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = ingress_columns,
    .row = ingress_row,
};

/* ---- IngressClass ---- */

static int
ingressclass_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const scopes[] = {"Cluster", "Namespace", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    int rc = 0;
    const char *ctl = kj_str(spec, "controller");
    if (!ctl || !*ctl)
        rc |= kv_required(err, "spec.controller", NULL);
    else if (strlen(ctl) > 250)
        rc |= kv_toolong(err, "spec.controller", 250);
    const json_t *par = json_object_get(spec, "parameters");
    if (par) {
        if (!*kj_str_or(par, "kind", ""))
            rc |= kv_required(err, "spec.parameters.kind", NULL);
        if (!*kj_str_or(par, "name", ""))
            rc |= kv_required(err, "spec.parameters.name", NULL);
        rc |= kv_enum(err, par, "scope", "spec.parameters.scope", scopes, false);
        const char *scope = kj_str_or(par, "scope", "");
        if (strcmp(scope, "Namespace") == 0 && !*kj_str_or(par, "namespace", ""))
            rc |= kv_required(err, "spec.parameters.namespace",
                              "`parameters.scope` is set to 'Namespace'");
    }
    if (old)
        rc |= kv_immutable(err, obj, old, "spec.controller");
    return rc ? -1 : 0;
}

static void
ingressclass_defaults(json_t *obj)
{
    json_t *par = kj_get(obj, "spec.parameters");
    if (json_is_object(par))
        kj_def_str(par, "scope", "Cluster");
}

static const struct bsn_column ingressclass_columns[] = {
    KC_NAME,
    {"Controller", "string", "", "Controller that is responsible for handling this class", 0},
    {"Parameters", "string", "", "A reference to a resource with additional parameters", 0},
    KC_AGE,
    KC_END,
};

static void
ingressclass_row(const json_t *obj, json_t *cells)
{
    char par[300] = "<none>";
    const json_t *p = kj_get(obj, "spec.parameters");
    if (p) {
        const char *g = kj_str(p, "apiGroup");
        if (g)
            F(par, "%s.%s/%s", kj_str_or(p, "kind", ""), g, kj_str_or(p, "name", ""));
        else
            F(par, "%s/%s", kj_str_or(p, "kind", ""), kj_str_or(p, "name", ""));
    }
    kc_name(cells, obj);
    kc_str(cells, kj_str_or(obj, "spec.controller", ""));
    kc_str(cells, par);
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_ingressclass = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = ingressclass_defaults,
    .validate = ingressclass_validate,
    .columns = ingressclass_columns,
    .row = ingressclass_row,
};

/* ---- NetworkPolicy ---- */

static void
default_np_ports(json_t *rules)
{
    size_t i, j;
    json_t *r, *p;
    json_array_foreach(rules, i, r)
    {
        json_array_foreach(json_object_get(r, "ports"), j, p) kj_def_str(p, "protocol", "TCP");
    }
}

static void
networkpolicy_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    if (!json_object_get(spec, "podSelector"))
        json_object_set_new(spec, "podSelector", json_object());
    default_np_ports(json_object_get(spec, "ingress"));
    default_np_ports(json_object_get(spec, "egress"));
    if (json_array_size(json_object_get(spec, "policyTypes")) == 0) {
        json_t *types = json_pack("[s]", "Ingress");
        if (json_array_size(json_object_get(spec, "egress")) > 0)
            json_array_append_new(types, json_string("Egress"));
        json_object_set_new(spec, "policyTypes", types);
    }
}

static int
validate_np_rules(struct bsn_err *err, const json_t *rules, const char *field, const char *peers)
{
    char f[200];
    int rc = 0;
    size_t i, j;
    json_t *r, *p;
    json_array_foreach(rules, i, r)
    {
        json_array_foreach(json_object_get(r, "ports"), j, p)
        {
            F(f, "%s[%zu].ports[%zu].protocol", field, i, j);
            rc |= kv_enum(err, p, "protocol", f, protocols, false);
            json_t *port = json_object_get(p, "port");
            F(f, "%s[%zu].ports[%zu].port", field, i, j);
            if (json_is_integer(port) &&
                (json_integer_value(port) < 1 || json_integer_value(port) > 65535))
                rc |= kv_invalid_i(err, f, json_integer_value(port),
                                   "must be between 1 and 65535, inclusive");
            else if (json_is_string(port) && kn_port_name(json_string_value(port)))
                rc |= kv_invalid_s(err, f, json_string_value(port),
                                   kn_port_name(json_string_value(port)));
        }
        json_array_foreach(json_object_get(r, peers), j, p)
        {
            const json_t *ipb = json_object_get(p, "ipBlock");
            int n = (json_object_get(p, "podSelector") != NULL) +
                    (json_object_get(p, "namespaceSelector") != NULL);
            if (ipb && n) {
                F(f, "%s[%zu].%s[%zu]", field, i, peers, j);
                rc |= kv_forbidden(err, f, "may not specify both ipBlock and another peer");
            }
            if (ipb) {
                F(f, "%s[%zu].%s[%zu].ipBlock.cidr", field, i, peers, j);
                const char *cidr = kj_str(ipb, "cidr");
                if (!cidr || !*cidr)
                    rc |= kv_required(err, f, NULL);
                else if (!kn_cidr(cidr))
                    rc |= kv_invalid_s(err, f, cidr,
                                       "must be a valid CIDR value, (e.g. "
                                       "10.9.8.0/24 or 2001:db8::/64)");
            }
            F(f, "%s[%zu].%s[%zu].podSelector", field, i, peers, j);
            rc |= ks_validate_selector(err, json_object_get(p, "podSelector"), f);
            F(f, "%s[%zu].%s[%zu].namespaceSelector", field, i, peers, j);
            rc |= ks_validate_selector(err, json_object_get(p, "namespaceSelector"), f);
        }
    }
    return rc;
}

static int
networkpolicy_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const types[] = {"Ingress", "Egress", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    int rc = ks_validate_selector(err, json_object_get(spec, "podSelector"), "spec.podSelector");
    rc |= validate_np_rules(err, json_object_get(spec, "ingress"), "spec.ingress", "from");
    rc |= validate_np_rules(err, json_object_get(spec, "egress"), "spec.egress", "to");
    size_t i;
    json_t *t;
    if (kj_len(spec, "policyTypes") > 2)
        rc |= kv_invalid_raw(err, "spec.policyTypes", "[...]",
                             "may not specify more than two "
                             "policyTypes");
    json_array_foreach(json_object_get(spec, "policyTypes"), i, t)
    {
        char f[64];
        F(f, "spec.policyTypes[%zu]", i);
        const char *s = json_string_value(t);
        if (!s || (strcmp(s, "Ingress") && strcmp(s, "Egress")))
            rc |= kv_unsupported(err, f, s ? s : "", types);
    }
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column networkpolicy_columns[] = {
    KC_NAME,
    {"Pod-Selector", "string", "",
     "podSelector selects the pods to which this NetworkPolicy object applies.", 0},
    KC_AGE,
    KC_END,
};

static void
networkpolicy_row(const json_t *obj, json_t *cells)
{
    char sel[512];
    ks_selector_string(kj_get(obj, "spec.podSelector"), sel, sizeof(sel));
    kc_name(cells, obj);
    kc_str(cells, *sel ? sel : "<none>");
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_networkpolicy = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = networkpolicy_defaults,
    .validate = networkpolicy_validate,
    .columns = networkpolicy_columns,
    .row = networkpolicy_row,
};

/* ---- Gateway API ---- */

#define GW_GROUP "gateway.networking.k8s.io"
#define CRD_AGE                  \
    {                            \
        "Age", "date", "", "", 0 \
    }

static json_t *
pending_condition(const char *type)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status", "Unknown", "reason",
                     "Pending", "message", "Waiting for controller", "lastTransitionTime",
                     "1970-01-01T00:00:00Z");
}

static void
cell_date(json_t *cells, const json_t *obj)
{
    const char *ts = kj_str(obj, "metadata.creationTimestamp");
    json_array_append_new(cells, ts ? json_string(ts) : json_null());
}

static void
cell_opt(json_t *cells, const char *s)
{
    json_array_append_new(cells, s ? json_string(s) : json_null());
}

static const char *
condition_status(const json_t *obj, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(kj_get(obj, "status.conditions"), i, c)
    {
        if (strcmp(kj_str_or(c, "type", ""), type) == 0)
            return kj_str(c, "status");
    }
    return NULL;
}

static int
validate_controller_name(struct bsn_err *err, const char *name, const char *field)
{
    if (!name || !*name)
        return kv_required(err, field, NULL);
    const char *slash = strchr(name, '/');
    char dom[256];
    if (!slash || slash == name || !slash[1] || (size_t)(slash - name) >= sizeof(dom))
        return kv_invalid_s(err, field, name,
                            "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
                            "[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$'");
    memcpy(dom, name, (size_t)(slash - name));
    dom[slash - name] = '\0';
    if (kn_dns1123_subdomain(dom))
        return kv_invalid_s(err, field, name, kn_dns1123_subdomain(dom));
    if (strlen(name) > 253)
        return kv_toolong(err, field, 253);
    return 0;
}

static void
gatewayclass_prepare_create(json_t *obj)
{
    json_t *conds = json_array();
    json_array_append_new(conds, pending_condition("Accepted"));
    json_object_set_new(obj, "status", json_pack("{s:o}", "conditions", conds));
}

static int
gatewayclass_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    int rc =
        validate_controller_name(err, kj_str(obj, "spec.controllerName"), "spec.controllerName");
    if (old && !json_equal(kj_get(obj, "spec.controllerName"), kj_get(old, "spec.controllerName")))
        rc |= kv_invalid_s(err, "spec.controllerName", kj_str_or(obj, "spec.controllerName", ""),
                           "Value is immutable");
    const char *d = kj_str(obj, "spec.description");
    if (d && strlen(d) > 64)
        rc |= kv_toolong(err, "spec.description", 64);
    return rc ? -1 : 0;
}

static const struct bsn_column gatewayclass_columns[] = {
    KC_NAME, {"Controller", "string", "", "", 0},  {"Accepted", "string", "", "", 0},
    CRD_AGE, {"Description", "string", "", "", 1}, KC_END,
};

static void
gatewayclass_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    cell_opt(cells, kj_str(obj, "spec.controllerName"));
    cell_opt(cells, condition_status(obj, "Accepted"));
    cell_date(cells, obj);
    cell_opt(cells, kj_str(obj, "spec.description"));
}

const struct bsn_strategy bsn_strategy_gatewayclass = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = gatewayclass_validate,
    .prepare_create = gatewayclass_prepare_create,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = gatewayclass_columns,
    .row = gatewayclass_row,
};

static void
gateway_defaults(json_t *obj)
{
    size_t i;
    json_t *l;
    json_array_foreach(kj_get(obj, "spec.listeners"), i, l)
    {
        json_t *ar = kj_obj(l, "allowedRoutes");
        kj_def_str(kj_obj(ar, "namespaces"), "from", "Same");
    }
}

static void
gateway_prepare_create(json_t *obj)
{
    json_t *conds = json_array();
    json_array_append_new(conds, pending_condition("Accepted"));
    json_array_append_new(conds, pending_condition("Programmed"));
    json_object_set_new(obj, "status", json_pack("{s:o}", "conditions", conds));
}

static int
gateway_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const from[] = {"All", "Selector", "Same", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    char f[160];
    int rc = 0;
    const char *cls = kj_str(spec, "gatewayClassName");
    if (!cls || !*cls)
        rc |= kv_required(err, "spec.gatewayClassName", NULL);
    size_t n = kj_len(spec, "listeners");
    if (n == 0)
        rc |= kv_required(err, "spec.listeners", NULL);
    else if (n > 64)
        rc |= kv_toolong(err, "spec.listeners", 64);
    size_t i, j;
    json_t *l, *o;
    json_array_foreach(json_object_get(spec, "listeners"), i, l)
    {
        const char *name = kj_str(l, "name");
        F(f, "spec.listeners[%zu].name", i);
        rc |= kn_check(err, f, name, kn_dns1123_subdomain);
        json_array_foreach(json_object_get(spec, "listeners"), j, o)
        {
            if (j < i && name && strcmp(name, kj_str_or(o, "name", "")) == 0)
                rc |= kv_duplicate(err, f, name);
        }
        F(f, "spec.listeners[%zu].port", i);
        json_int_t port = kj_int(l, "port", 0);
        if (port < 1 || port > 65535)
            rc |= kv_invalid_i(err, f, port, "must be between 1 and 65535, inclusive");
        F(f, "spec.listeners[%zu].protocol", i);
        if (!*kj_str_or(l, "protocol", ""))
            rc |= kv_required(err, f, NULL);
        const char *host = kj_str(l, "hostname");
        if (host && *host) {
            F(f, "spec.listeners[%zu].hostname", i);
            rc |= validate_host(err, host, f);
        }
        F(f, "spec.listeners[%zu].allowedRoutes.namespaces.from", i);
        rc |= kv_enum(err, kj_get(l, "allowedRoutes.namespaces"), "from", f, from, false);
        const char *proto = kj_str_or(l, "protocol", "");
        if ((strcmp(proto, "HTTPS") == 0 || strcmp(proto, "TLS") == 0) &&
            !json_object_get(l, "tls")) {
            F(f, "spec.listeners[%zu].tls", i);
            rc |= kv_required(err, f, "tls must be specified for protocols ['HTTPS', 'TLS']");
        }
    }
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column gateway_columns[] = {
    KC_NAME,
    {"Class", "string", "", "", 0},
    {"Address", "string", "", "", 0},
    {"Programmed", "string", "", "", 0},
    CRD_AGE,
    KC_END,
};

static void
gateway_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    cell_opt(cells, kj_str(obj, "spec.gatewayClassName"));
    cell_opt(cells, kj_str(json_array_get(kj_get(obj, "status.addresses"), 0), "value"));
    cell_opt(cells, condition_status(obj, "Programmed"));
    cell_date(cells, obj);
}

const struct bsn_strategy bsn_strategy_gateway = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = gateway_defaults,
    .validate = gateway_validate,
    .prepare_create = gateway_prepare_create,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = gateway_columns,
    .row = gateway_row,
};

static json_t *
default_match(void)
{
    return json_pack("{s:{s:s, s:s}}", "path", "type", "PathPrefix", "value", "/");
}

static void
httproute_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    json_t *rules = json_object_get(spec, "rules");
    if (!json_is_array(rules)) {
        rules = json_array();
        json_array_append_new(rules, json_object());
        json_object_set_new(spec, "rules", rules);
    }
    size_t i, j;
    json_t *r, *m, *b;
    json_array_foreach(rules, i, r)
    {
        json_t *matches = json_object_get(r, "matches");
        if (!json_is_array(matches)) {
            matches = json_array();
            json_array_append_new(matches, default_match());
            json_object_set_new(r, "matches", matches);
        }
        json_array_foreach(matches, j, m)
        {
            json_t *path = json_object_get(m, "path");
            if (!json_is_object(path) && !json_object_get(m, "headers") &&
                !json_object_get(m, "queryParams") && !json_object_get(m, "method")) {
                json_object_set_new(m, "path",
                                    json_pack("{s:s, s:s}", "type", "PathPrefix", "value", "/"));
            } else if (json_is_object(path)) {
                kj_def_str(path, "type", "PathPrefix");
                kj_def_str(path, "value", "/");
            }
            size_t k;
            json_t *h;
            json_array_foreach(json_object_get(m, "headers"), k, h) kj_def_str(h, "type", "Exact");
            json_array_foreach(json_object_get(m, "queryParams"), k, h)
                kj_def_str(h, "type", "Exact");
        }
        json_array_foreach(json_object_get(r, "backendRefs"), j, b)
        {
            kj_def_str(b, "group", "");
            kj_def_str(b, "kind", "Service");
            kj_def_int(b, "weight", 1);
        }
    }
    json_t *pr;
    json_array_foreach(json_object_get(spec, "parentRefs"), i, pr)
    {
        kj_def_str(pr, "group", GW_GROUP);
        kj_def_str(pr, "kind", "Gateway");
    }
}

static int
validate_route_rule(struct bsn_err *err, const json_t *r, size_t i)
{
    static const char *const path_types[] = {"Exact", "PathPrefix", "RegularExpression", NULL};
    char f[200];
    int rc = 0;
    size_t j;
    json_t *m, *b;
    json_array_foreach(json_object_get(r, "matches"), j, m)
    {
        const json_t *path = json_object_get(m, "path");
        if (!path)
            continue;
        F(f, "spec.rules[%zu].matches[%zu].path.type", i, j);
        rc |= kv_enum(err, path, "type", f, path_types, false);
        const char *v = kj_str_or(path, "value", "/");
        const char *t = kj_str_or(path, "type", "PathPrefix");
        F(f, "spec.rules[%zu].matches[%zu].path", i, j);
        if (strcmp(t, "RegularExpression") != 0 && v[0] != '/')
            rc |= kv_invalid_raw(err, f, "\"object\"",
                                 "value must be an absolute path and start with '/' when type "
                                 "one of ['Exact', 'PathPrefix']");
        else if (strcmp(t, "RegularExpression") != 0 && strstr(v, "//"))
            rc |= kv_invalid_raw(err, f, "\"object\"",
                                 "must not contain '//' when type one of ['Exact', 'PathPrefix']");
    }
    json_array_foreach(json_object_get(r, "backendRefs"), j, b)
    {
        F(f, "spec.rules[%zu].backendRefs[%zu]", i, j);
        const char *kind = kj_str_or(b, "kind", "Service");
        const char *group = kj_str_or(b, "group", "");
        if (strcmp(kind, "Service") == 0 && !*group && !json_object_get(b, "port"))
            rc |= kv_invalid_raw(err, f, "\"object\"", "Must have port for Service reference");
        char nf[220];
        F(nf, "%s.name", f);
        if (!*kj_str_or(b, "name", ""))
            rc |= kv_required(err, nf, NULL);
        json_int_t w = kj_int(b, "weight", 1);
        if (w < 0 || w > 1000000) {
            F(nf, "%s.weight", f);
            rc |= kv_invalid_i(err, nf, w, "must be between 0 and 1000000, inclusive");
        }
        json_int_t port = kj_int(b, "port", 1);
        if (port < 1 || port > 65535) {
            F(nf, "%s.port", f);
            rc |= kv_invalid_i(err, nf, port, "must be between 1 and 65535, inclusive");
        }
    }
    return rc;
}

static int
httproute_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    const json_t *spec = json_object_get(obj, "spec");
    char f[200];
    int rc = 0;
    size_t i;
    json_t *r, *h;
    if (kj_len(spec, "rules") > 16)
        rc |= kv_toolong(err, "spec.rules", 16);
    if (kj_len(spec, "parentRefs") > 32)
        rc |= kv_toolong(err, "spec.parentRefs", 32);
    json_array_foreach(json_object_get(spec, "hostnames"), i, h)
    {
        F(f, "spec.hostnames[%zu]", i);
        if (json_string_value(h))
            rc |= validate_host(err, json_string_value(h), f);
    }
    json_array_foreach(json_object_get(spec, "parentRefs"), i, r)
    {
        F(f, "spec.parentRefs[%zu].name", i);
        if (!*kj_str_or(r, "name", ""))
            rc |= kv_required(err, f, NULL);
    }
    json_array_foreach(json_object_get(spec, "rules"), i, r) rc |= validate_route_rule(err, r, i);
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column httproute_columns[] = {
    KC_NAME,
    {"Hostnames", "string", "", "", 0},
    CRD_AGE,
    KC_END,
};

static void
httproute_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    const json_t *hn = kj_get(obj, "spec.hostnames");
    if (json_is_array(hn)) {
        char *s = json_dumps(hn, JSON_COMPACT);
        kc_str(cells, s ? s : "");
        free(s);
    } else {
        json_array_append_new(cells, json_null());
    }
    cell_date(cells, obj);
}

const struct bsn_strategy bsn_strategy_httproute = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = httproute_defaults,
    .validate = httproute_validate,
    .prepare_create = kh_strip_status,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = httproute_columns,
    .row = httproute_row,
};

/* ---- GatewayPolicy (gateway.bosun.dev/v1alpha1, the embedded gateway's policy kind) ---- */

static const struct bsn_column gatewaypolicy_columns[] = {
    KC_NAME,
    {"Target", "string", "", "The route, service or gateway the policy applies to", 0},
    KC_AGE,
    KC_END,
};

static void
gatewaypolicy_row(const json_t *obj, json_t *cells)
{
    char target[300] = "<none>";
    const json_t *t = kj_get(obj, "spec.targetRef");
    if (t)
        F(target, "%s/%s", kj_str_or(t, "kind", ""), kj_str_or(t, "name", ""));
    kc_name(cells, obj);
    kc_str(cells, target);
    kc_age(cells, obj);
}

static int
gatewaypolicy_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    int rc = 0;
    const json_t *spec = kj_get(obj, "spec");
    if (spec && !json_is_object(spec))
        rc = kv_invalid_raw(err, "spec", "", "must be an object");
    return rc;
}

const struct bsn_strategy bsn_strategy_gatewaypolicy = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = gatewaypolicy_validate,
    .columns = gatewaypolicy_columns,
    .row = gatewaypolicy_row,
};
