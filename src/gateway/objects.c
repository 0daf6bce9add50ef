/*
 * objects.c - the set of Kubernetes objects the gateway is configured from, kept up to date
 * from watch events, for feeding bsn_gw_update() from the API server (see gateway.h).
 *
 * Objects are keyed by kind/namespace/name; only the kinds the config compiler reads are
 * kept, so events for Pods, Deployments, ... cost one string compare and change nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "gateway/gateway.h"

struct bsn_gw_objects {
    json_t *byKey; /* "Kind/ns/name" -> object */
};

static const char *const KINDS[] = {
    "Ingress",       "IngressClass", "Gateway", "GatewayClass",  "HTTPRoute", "Service",
    "EndpointSlice", "Endpoints",    "Secret",  "GatewayPolicy", NULL};

bool
bsn_gw_kind_relevant(const char *kind)
{
    for (int i = 0; kind && KINDS[i]; i++)
        if (strcmp(kind, KINDS[i]) == 0)
            return true;
    return false;
}

struct bsn_gw_objects *
bsn_gw_objects_new(void)
{
    struct bsn_gw_objects *o = bsn_calloc(1, sizeof(*o));
    o->byKey = json_object();
    return o;
}

void
bsn_gw_objects_free(struct bsn_gw_objects *o)
{
    if (!o)
        return;
    json_decref(o->byKey);
    free(o);
}

int
bsn_gw_objects_apply(struct bsn_gw_objects *o, const char *type, const json_t *obj)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    if (!type || !bsn_gw_kind_relevant(kind) || !name)
        return 0;
    char key[768];
    snprintf(key, sizeof(key), "%s/%s/%s", kind, ns && *ns ? ns : "default", name);
    if (strcmp(type, "DELETED") == 0)
        return json_object_del(o->byKey, key) == 0;
    if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0)
        return 0; /* BOOKMARK, ERROR */
    json_t *old = json_object_get(o->byKey, key);
    if (old && json_equal(old, obj))
        return 0;
    json_object_set_new(o->byKey, key, json_deep_copy(obj));
    return 1;
}

json_t *
bsn_gw_objects_array(const struct bsn_gw_objects *o)
{
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(o->byKey, k, v) json_array_append(arr, v);
    return arr;
}

size_t
bsn_gw_objects_count(const struct bsn_gw_objects *o)
{
    return json_object_size(o->byKey);
}
