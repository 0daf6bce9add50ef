/*
 * status.c - the status the gateway reports on its Gateway API objects (as upstream
 * controllers do), computed from the same object set the configuration is compiled from:
 *
 * Gateway (class "bosun", or a GatewayClass with controllerName gateway.bosun.dev/controller):
 *   conditions Accepted (Accepted) and Programmed (Programmed, or Invalid when no listener is
 *   usable); addresses [{type: IPAddress, value: <node address>}]; per listener
 *   supportedKinds [HTTPRoute], attachedRoutes (accepted routes attached to it) and the
 *   conditions Accepted (or UnsupportedProtocol for protocols other than HTTP/HTTPS),
 *   ResolvedRefs (or InvalidCertificateRef when an HTTPS listener's Secret is missing or not a
 *   TLS Secret) and Programmed.
 *
 * HTTPRoute: one entry per parentRef that names one of our Gateways, with controllerName
 *   gateway.bosun.dev/controller and the conditions Accepted (Accepted, or NoMatchingParent
 *   when sectionName/port match no listener) and ResolvedRefs (ResolvedRefs, or
 *   InvalidKind / RefNotPermitted / BackendNotFound). Entries of other controllers are kept.
 *
 * lastTransitionTime is kept while a condition's status does not change, and an update is
 * only produced when the status differs from the object's current one, so writing the status
 * (which comes back as a watch event) settles after one round.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway/gateway.h"

#define BOSUN_CLASS      "bosun"
#define BOSUN_CONTROLLER "gateway.bosun.dev/controller"

static const char *
str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static const char *
meta(const json_t *o, const char *k)
{
    return str(json_object_get(o, "metadata"), k);
}

static const char *
ns_of(const json_t *o)
{
    const char *ns = meta(o, "namespace");
    return ns && *ns ? ns : "default";
}

static bool
is_kind(const json_t *o, const char *kind)
{
    const char *k = str(o, "kind");
    return k && strcmp(k, kind) == 0;
}

static bool
class_ours(const json_t *objects, const char *cls)
{
    if (!cls)
        return false;
    if (strcmp(cls, BOSUN_CLASS) == 0)
        return true;
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        if (!is_kind(o, "GatewayClass") || !meta(o, "name") || strcmp(meta(o, "name"), cls))
            continue;
        const char *ctl = str(json_object_get(o, "spec"), "controllerName");
        if (ctl && strcmp(ctl, BOSUN_CONTROLLER) == 0)
            return true;
    }
    return false;
}

static const json_t *
find(const json_t *objects, const char *kind, const char *ns, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        if (is_kind(o, kind) && meta(o, "name") && strcmp(meta(o, "name"), name) == 0 &&
            strcmp(ns_of(o), ns) == 0)
            return o;
    }
    return NULL;
}

/* A condition; keeps the old lastTransitionTime when the status did not change. */
static json_t *
cond(const json_t *old_conds, const char *type, bool ok, const char *reason, const char *msg,
     json_int_t gen, const char *now)
{
    const char *ltt = now;
    size_t i;
    json_t *c;
    json_array_foreach(old_conds, i, c)
    {
        const char *t = str(c, "type"), *s = str(c, "status");
        if (t && s && strcmp(t, type) == 0 && strcmp(s, ok ? "True" : "False") == 0 &&
            str(c, "lastTransitionTime"))
            ltt = str(c, "lastTransitionTime");
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "status", ok ? "True" : "False",
                          "reason", reason, "message", msg, "lastTransitionTime", ltt);
    if (gen > 0)
        json_object_set_new(o, "observedGeneration", json_integer(gen));
    return o;
}

static json_int_t
generation(const json_t *o)
{
    return json_integer_value(json_object_get(json_object_get(o, "metadata"), "generation"));
}

/* The listeners of gateway gw a parentRef selects (sectionName, port). */
static bool
ref_selects(const json_t *ref, const json_t *l)
{
    const char *section = str(ref, "sectionName");
    if (section && (!str(l, "name") || strcmp(section, str(l, "name")) != 0))
        return false;
    json_int_t port = json_integer_value(json_object_get(ref, "port"));
    if (port > 0 && json_integer_value(json_object_get(l, "port")) != port)
        return false;
    return true;
}

static bool
gateway_ref(const json_t *ref)
{
    const char *kind = str(ref, "kind"), *group = str(ref, "group");
    return (!kind || strcmp(kind, "Gateway") == 0) &&
           (!group || strcmp(group, "gateway.networking.k8s.io") == 0);
}

/* ResolvedRefs of a route: NULL reason when every backendRef resolves. */
static const char *
route_refs(const json_t *objects, const json_t *hr, char *msg, size_t msgsz)
{
    const char *ns = ns_of(hr);
    size_t i, j;
    json_t *rule, *br;
    json_array_foreach(json_object_get(json_object_get(hr, "spec"), "rules"), i, rule)
    {
        json_array_foreach(json_object_get(rule, "backendRefs"), j, br)
        {
            const char *kind = str(br, "kind"), *group = str(br, "group");
            const char *name = str(br, "name"), *bns = str(br, "namespace");
            if ((kind && strcmp(kind, "Service") != 0) || (group && *group)) {
                snprintf(msg, msgsz, "backendRef %s: only core Services are supported",
                         name ? name : "");
                return "InvalidKind";
            }
            if (bns && strcmp(bns, ns) != 0) {
                snprintf(msg, msgsz,
                         "backendRef %s/%s: cross-namespace references are not "
                         "permitted",
                         bns, name ? name : "");
                return "RefNotPermitted";
            }
            if (!name || !find(objects, "Service", ns, name)) {
                snprintf(msg, msgsz, "backendRef %s: Service not found", name ? name : "");
                return "BackendNotFound";
            }
        }
    }
    snprintf(msg, msgsz, "all references resolved");
    return NULL;
}

/* Listener checks: protocol, and for HTTPS its certificate Secrets. */
static const char *
listener_problem(const json_t *objects, const json_t *gw, const json_t *l, bool *refs_ok)
{
    *refs_ok = true;
    const char *proto = str(l, "protocol");
    if (proto && strcmp(proto, "HTTP") != 0 && strcmp(proto, "HTTPS") != 0)
        return "UnsupportedProtocol";
    if (proto && strcmp(proto, "HTTPS") == 0) {
        size_t i;
        json_t *ref;
        json_array_foreach(json_object_get(json_object_get(l, "tls"), "certificateRefs"), i, ref)
        {
            const char *n = str(ref, "name"), *rns = str(ref, "namespace");
            const json_t *s = n ? find(objects, "Secret", rns ? rns : ns_of(gw), n) : NULL;
            const json_t *data = json_object_get(s, "data");
            if (!json_object_get(data, "tls.crt"))
                data = json_object_get(s, "stringData");
            if (!s || !json_object_get(data, "tls.crt") || !json_object_get(data, "tls.key"))
                *refs_ok = false;
        }
    }
    return NULL;
}

static void
add_update(json_t *out, const char *path, json_t *status)
{
    json_array_append_new(out, json_pack("{s:s,s:{s:o}}", "path", path, "body", "status", status));
}

json_t *
bsn_gw_status_updates(const json_t *objects, const char *address)
{
    json_t *out = json_array();
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t i, j, k;
    json_t *o, *ref, *l;
    /* routes first: listeners count the routes they accepted */
    json_t *attached = json_object(); /* "ns/gw/listener-index" -> count */
    json_array_foreach(objects, i, o)
    {
        if (!is_kind(o, "HTTPRoute") || meta(o, "deletionTimestamp"))
            continue;
        const json_t *old_parents = json_object_get(json_object_get(o, "status"), "parents");
        json_t *parents = json_array();
        /* keep other controllers' entries */
        json_array_foreach(old_parents, j, ref)
        {
            const char *ctl = str(ref, "controllerName");
            if (!ctl || strcmp(ctl, BOSUN_CONTROLLER) != 0)
                json_array_append(parents, ref);
        }
        char refmsg[300];
        const char *bad = route_refs(objects, o, refmsg, sizeof(refmsg));
        json_int_t gen = generation(o);
        json_array_foreach(json_object_get(json_object_get(o, "spec"), "parentRefs"), j, ref)
        {
            if (!gateway_ref(ref) || !str(ref, "name"))
                continue;
            const char *gns = str(ref, "namespace") ? str(ref, "namespace") : ns_of(o);
            const json_t *gw = find(objects, "Gateway", gns, str(ref, "name"));
            if (!gw || !class_ours(objects, str(json_object_get(gw, "spec"), "gatewayClassName")))
                continue;
            bool any = false;
            json_array_foreach(json_object_get(json_object_get(gw, "spec"), "listeners"), k, l)
            {
                if (!ref_selects(ref, l))
                    continue;
                any = true;
                char key[600];
                snprintf(key, sizeof(key), "%s/%s/%zu", gns, str(ref, "name"), k);
                json_int_t n = json_integer_value(json_object_get(attached, key));
                json_object_set_new(attached, key, json_integer(n + 1));
            }
            /* the old entry for this parent, for lastTransitionTime */
            const json_t *old_conds = NULL;
            size_t m;
            json_t *op;
            json_array_foreach(old_parents, m, op)
            {
                const json_t *pr = json_object_get(op, "parentRef");
                if (str(op, "controllerName") &&
                    strcmp(str(op, "controllerName"), BOSUN_CONTROLLER) == 0 &&
                    json_equal(json_object_get(pr, "name"), json_object_get(ref, "name")) &&
                    json_equal(json_object_get(pr, "sectionName"),
                               json_object_get(ref, "sectionName")))
                    old_conds = json_object_get(op, "conditions");
            }
            json_t *conds = json_array();
            json_array_append_new(
                conds, cond(old_conds, "Accepted", any, any ? "Accepted" : "NoMatchingParent",
                            any ? "accepted by the bosun gateway"
                                : "no listener matches the parentRef's sectionName/port",
                            gen, now));
            json_array_append_new(conds, cond(old_conds, "ResolvedRefs", !bad,
                                              bad ? bad : "ResolvedRefs", refmsg, gen, now));
            json_array_append_new(parents,
                                  json_pack("{s:O,s:s,s:o}", "parentRef", ref, "controllerName",
                                            BOSUN_CONTROLLER, "conditions", conds));
        }
        json_t *status = json_pack("{s:o}", "parents", parents);
        const json_t *curp = json_object_get(json_object_get(o, "status"), "parents");
        bool same = curp ? json_equal(curp, parents) : json_array_size(parents) == 0;
        if (!same) {
            char path[600];
            snprintf(path, sizeof(path),
                     "/apis/gateway.networking.k8s.io/v1/namespaces/%s/httproutes/%s/status",
                     ns_of(o), meta(o, "name") ? meta(o, "name") : "");
            add_update(out, path, json_incref(status));
        }
        json_decref(status);
    }
    json_array_foreach(objects, i, o)
    {
        if (!is_kind(o, "Gateway") || meta(o, "deletionTimestamp") ||
            !class_ours(objects, str(json_object_get(o, "spec"), "gatewayClassName")))
            continue;
        const json_t *cur = json_object_get(o, "status");
        json_int_t gen = generation(o);
        json_t *listeners = json_array();
        int usable = 0;
        json_array_foreach(json_object_get(json_object_get(o, "spec"), "listeners"), j, l)
        {
            const json_t *old_conds = NULL;
            size_t m;
            json_t *ol;
            json_array_foreach(json_object_get(cur, "listeners"), m, ol)
            {
                if (json_equal(json_object_get(ol, "name"), json_object_get(l, "name")))
                    old_conds = json_object_get(ol, "conditions");
            }
            bool refs_ok;
            const char *problem = listener_problem(objects, o, l, &refs_ok);
            char key[600];
            snprintf(key, sizeof(key), "%s/%s/%zu", ns_of(o), meta(o, "name"), j);
            json_int_t n = json_integer_value(json_object_get(attached, key));
            json_t *conds = json_array();
            json_array_append_new(
                conds,
                cond(old_conds, "Accepted", !problem, problem ? problem : "Accepted",
                     problem ? "only HTTP and HTTPS listeners are supported" : "listener accepted",
                     gen, now));
            json_array_append_new(conds,
                                  cond(old_conds, "ResolvedRefs", refs_ok,
                                       refs_ok ? "ResolvedRefs" : "InvalidCertificateRef",
                                       refs_ok ? "all references resolved"
                                               : "a certificateRef is missing or not a TLS Secret",
                                       gen, now));
            bool prog = !problem && refs_ok;
            usable += prog;
            json_array_append_new(
                conds, cond(old_conds, "Programmed", prog, prog ? "Programmed" : "Invalid",
                            prog ? "listener programmed" : "listener invalid", gen, now));
            json_array_append_new(
                listeners,
                json_pack("{s:O,s:[{s:s,s:s}],s:I,s:o}", "name",
                          json_object_get(l, "name") ? json_object_get(l, "name") : json_string(""),
                          "supportedKinds", "group", "gateway.networking.k8s.io", "kind",
                          "HTTPRoute", "attachedRoutes", (json_int_t)n, "conditions", conds));
        }
        const json_t *old_conds = json_object_get(cur, "conditions");
        json_t *conds = json_array();
        json_array_append_new(conds, cond(old_conds, "Accepted", true, "Accepted",
                                          "accepted by the bosun gateway", gen, now));
        json_array_append_new(
            conds, cond(old_conds, "Programmed", usable > 0, usable ? "Programmed" : "Invalid",
                        usable ? "configuration applied" : "no usable listener", gen, now));
        json_t *status =
            json_pack("{s:[{s:s,s:s}],s:o,s:o}", "addresses", "type", "IPAddress", "value",
                      address ? address : "127.0.0.1", "conditions", conds, "listeners", listeners);
        if (!json_equal(cur, status)) {
            char path[600];
            snprintf(path, sizeof(path),
                     "/apis/gateway.networking.k8s.io/v1/namespaces/%s/gateways/%s/status",
                     ns_of(o), meta(o, "name") ? meta(o, "name") : "");
            add_update(out, path, json_incref(status));
        }
        json_decref(status);
    }
    json_decref(attached);
    return out;
}
