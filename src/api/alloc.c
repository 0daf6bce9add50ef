/*
 * alloc.c - Service ClusterIP (the service CIDR, 10.43.0.0/16 by default) and NodePort
 * (30000-32767) allocation.
 *
 * Bitmaps rebuilt from the cache at startup; allocation happens when a Service is created or
 * updated, release when it is deleted (after the commit). .1 belongs to the `kubernetes`
 * Service and .10 to cluster DNS; both are handed out only when asked for explicitly.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/hostaddr.h"
#include "base/mem.h"

#define NODEPORT_MIN  30000
#define NODEPORT_MAX  32767
#define NODEPORT_SIZE (NODEPORT_MAX - NODEPORT_MIN + 1)

static bool
bit_get(const uint8_t *bm, unsigned i)
{
    return (bm[i / 8] >> (i % 8)) & 1;
}

static void
bit_set(uint8_t *bm, unsigned i, bool on)
{
    if (on)
        bm[i / 8] |= (uint8_t)(1u << (i % 8));
    else
        bm[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

int
bsn_service_ip(const char *service_cidr, unsigned index, char *out, size_t n)
{
    uint32_t net;
    unsigned prefix;
    if (bsn_cidr4_parse(service_cidr ? service_cidr : "10.43.0.0/16", 12, 24, &net, &prefix) < 0 ||
        index >= (1u << (32 - prefix)))
        return -1;
    bsn_ip4_format(net, index, out, n);
    return 0;
}

static int
ip_index(const struct bsn_apiserver *s, const char *ip)
{
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -1;
    uint32_t v = ntohl(a.s_addr);
    if (v - s->svc_net >= s->svc_size)
        return -2;
    return (int)(v - s->svc_net);
}

static void
mark_service(struct bsn_apiserver *s, const json_t *svc, bool on)
{
    json_t *spec = json_object_get(svc, "spec");
    const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
    if (ip) {
        int idx = ip_index(s, ip);
        if (idx >= 0)
            bit_set(s->svc_ips, (unsigned)idx, on);
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
        if (np >= NODEPORT_MIN && np <= NODEPORT_MAX)
            bit_set(s->node_ports, (unsigned)(np - NODEPORT_MIN), on);
    }
}

void
api_alloc_rebuild(struct bsn_apiserver *s)
{
    if (!s->svc_ips)
        s->svc_ips = bsn_calloc(s->svc_size / 8, 1);
    if (!s->node_ports)
        s->node_ports = bsn_calloc(NODEPORT_SIZE / 8 + 1, 1);
    memset(s->svc_ips, 0, s->svc_size / 8);
    memset(s->node_ports, 0, NODEPORT_SIZE / 8 + 1);
    bit_set(s->svc_ips, 0, true);               /* network */
    bit_set(s->svc_ips, s->svc_size - 1, true); /* broadcast */
    size_t n;
    struct bsn_obj **objs = bsn_cache_list(&s->cache, "core/services", NULL, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *t = bsn_obj_tree(objs[i]);
        mark_service(s, t, true);
        json_decref(t);
        bsn_obj_unref(objs[i]);
    }
    free(objs);
}

void
api_release_service(struct bsn_apiserver *s, const json_t *svc)
{
    mark_service(s, svc, false);
}

static bool
needs_node_port(const char *type)
{
    return type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer"));
}

int
api_alloc_service(struct bsn_apiserver *s, json_t *svc, const json_t *old, struct bsn_err *err)
{
    json_t *spec = json_object_get(svc, "spec");
    if (!json_is_object(spec))
        return 0;
    const char *type = json_string_value(json_object_get(spec, "type"));
    json_t *ospec = json_object_get(old, "spec");
    const char *oldip = json_string_value(json_object_get(ospec, "clusterIP"));
    const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
    bool external = type && !strcmp(type, "ExternalName");

    /* --- cluster IP --- */
    if (old) {
        if (ip && *ip && oldip && strcmp(ip, oldip) != 0 && strcmp(oldip, "") != 0) {
            bsn_err_set(err, 422, "Invalid",
                        "Service \"%s\" is invalid: spec.clusterIPs[0]: "
                        "Invalid value: []string{\"%s\"}: may not change "
                        "once set",
                        json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"))
                            ?: "",
                        ip);
            bsn_err_add_cause(err, "FieldValueInvalid", "spec.clusterIPs[0]",
                              "Invalid value: \"%s\": field is immutable", ip);
            return -1;
        }
        if (oldip && *oldip && (!ip || !*ip))
            json_object_set_new(spec, "clusterIP", json_string(oldip));
    } else if (!external) {
        if (ip && strcmp(ip, "None") == 0) {
            /* headless */
        } else if (ip && *ip) {
            int idx = ip_index(s, ip);
            if (idx < 0 || bit_get(s->svc_ips, (unsigned)idx)) {
                char msg[256];
                if (idx == -2)
                    snprintf(msg, sizeof(msg),
                             "the provided IP (%s) is not in the valid range. The range of valid "
                             "IPs is %s",
                             ip, s->svc_cidr);
                else if (idx < 0)
                    snprintf(msg, sizeof(msg), "must be a valid IP address (%s)", ip);
                else
                    snprintf(msg, sizeof(msg),
                             "failed to allocate IP %s: provided IP is already allocated", ip);
                bsn_err_set(
                    err, 422, "Invalid",
                    "Service \"%s\" is invalid: spec.clusterIPs: "
                    "Invalid value: []string{\"%s\"}: %s",
                    json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"))
                        ?: "",
                    ip, msg);
                bsn_err_add_cause(err, "FieldValueInvalid", "spec.clusterIPs", "%s", msg);
                return -1;
            }
            bit_set(s->svc_ips, (unsigned)idx, true);
        } else {
            /* random start, skip .1 and .10 (reserved for kubernetes and DNS) */
            unsigned start = 11 + (unsigned)(rand() % (s->svc_size - 20));
            int found = -1;
            for (unsigned k = 0; k < s->svc_size; k++) {
                unsigned idx = (start + k) % s->svc_size;
                if (idx <= 10 || bit_get(s->svc_ips, idx))
                    continue;
                found = (int)idx;
                break;
            }
            if (found < 0)
                return bsn_err_set(err, 500, "InternalError",
                                   "failed to allocate a serviceIP: range is full");
            bit_set(s->svc_ips, (unsigned)found, true);
            char buf[32];
            bsn_ip4_format(s->svc_net, (uint32_t)found, buf, sizeof(buf));
            json_object_set_new(spec, "clusterIP", json_string(buf));
        }
        const char *now = json_string_value(json_object_get(spec, "clusterIP"));
        if (now)
            json_object_set_new(spec, "clusterIPs", json_pack("[s]", now));
    }
    if (old && oldip) {
        json_t *ips = json_object_get(ospec, "clusterIPs");
        if (ips)
            json_object_set(spec, "clusterIPs", ips);
    }

    /* --- node ports --- */
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        json_t *npv = json_object_get(p, "nodePort");
        json_int_t np = json_integer_value(npv);
        if (!needs_node_port(type)) {
            json_object_del(p, "nodePort");
            continue;
        }
        /* keep the old port of the same service port */
        json_int_t oldnp = 0;
        size_t j;
        json_t *op;
        json_array_foreach(json_object_get(ospec, "ports"), j, op)
        {
            if (json_integer_value(json_object_get(op, "port")) ==
                json_integer_value(json_object_get(p, "port")))
                oldnp = json_integer_value(json_object_get(op, "nodePort"));
        }
        if (np == 0 && oldnp) {
            json_object_set_new(p, "nodePort", json_integer(oldnp));
            continue;
        }
        if (np != 0) {
            if (np == oldnp)
                continue;
            if (np < NODEPORT_MIN || np > NODEPORT_MAX) {
                bsn_err_set(
                    err, 422, "Invalid",
                    "Service \"%s\" is invalid: spec.ports[%zu].nodePort: Invalid value: "
                    "%lld: provided port is not in the valid range. The range of valid "
                    "ports is 30000-32767",
                    json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"))
                        ?: "",
                    i, (long long)np);
                bsn_err_add_cause(err, "FieldValueInvalid", "spec.ports[].nodePort",
                                  "provided port is not in the valid range");
                return -1;
            }
            if (bit_get(s->node_ports, (unsigned)(np - NODEPORT_MIN))) {
                bsn_err_set(
                    err, 422, "Invalid",
                    "Service \"%s\" is invalid: spec.ports[%zu].nodePort: Invalid value: "
                    "%lld: provided port is already allocated",
                    json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"))
                        ?: "",
                    i, (long long)np);
                bsn_err_add_cause(err, "FieldValueInvalid", "spec.ports[].nodePort",
                                  "provided port is already allocated");
                return -1;
            }
            bit_set(s->node_ports, (unsigned)(np - NODEPORT_MIN), true);
            continue;
        }
        unsigned start = (unsigned)(rand() % NODEPORT_SIZE);
        for (unsigned k = 0; k < NODEPORT_SIZE; k++) {
            unsigned idx = (start + k) % NODEPORT_SIZE;
            if (!bit_get(s->node_ports, idx)) {
                bit_set(s->node_ports, idx, true);
                json_object_set_new(p, "nodePort", json_integer(NODEPORT_MIN + (int)idx));
                break;
            }
        }
    }
    return 0;
}
