/*
 * openapi.c - OpenAPI v3 schemas of the built-in kinds, from the same schema tables the
 * protobuf codec uses: every field with its JSON name and type, nested types as $refs, so that
 * `kubectl explain deployment.spec.template.spec.containers` walks the real structure.
 */
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/schema.h"

#define PREFIX "io.k8s.bosun."

static void add_msg(json_t *schemas, const struct bsn_pmsg *m, int depth);

static json_t *
scalar_schema(uint8_t type)
{
    switch (type) {
    case BSN_PT_STRING:
    case BSN_PT_DUR:
        return json_pack("{s:s}", "type", "string");
    case BSN_PT_BYTES:
        return json_pack("{s:s,s:s}", "type", "string", "format", "byte");
    case BSN_PT_INT32:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int32");
    case BSN_PT_INT64:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int64");
    case BSN_PT_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    case BSN_PT_DOUBLE:
        return json_pack("{s:s,s:s}", "type", "number", "format", "double");
    case BSN_PT_TIME:
    case BSN_PT_MTIME:
        return json_pack("{s:s,s:s}", "type", "string", "format", "date-time");
    case BSN_PT_QTY:
        return json_pack("{s:s,s:s}", "type", "string", "description",
                         "A resource quantity (e.g. 500m, 2Gi).");
    case BSN_PT_INTSTR:
        return json_pack("{s:b,s:s}", "x-kubernetes-int-or-string", 1, "description",
                         "An integer or a string.");
    default:
        return json_pack("{s:s}", "type", "object");
    }
}

static json_t *
value_schema(json_t *schemas, const struct bsn_pfield *f, int depth)
{
    if (f->type == BSN_PT_MSG && f->msg) {
        add_msg(schemas, f->msg, depth + 1);
        char ref[200];
        snprintf(ref, sizeof(ref), "#/components/schemas/" PREFIX "%s", f->msg->name);
        return json_pack("{s:[{s:s}]}", "allOf", "$ref", ref);
    }
    return scalar_schema(f->type);
}

static void
add_props(json_t *schemas, json_t *props, const struct bsn_pmsg *m, int depth)
{
    for (uint32_t i = 0; i < m->nfields; i++) {
        const struct bsn_pfield *f = &m->fields[m->order ? m->order[i] : i];
        if (f->flags & BSN_PF_INLINE) {
            if (f->msg && depth < 8)
                add_props(schemas, props, f->msg, depth + 1);
            continue;
        }
        if (!f->json)
            continue;
        json_t *v = value_schema(schemas, f, depth);
        if (f->flags & BSN_PF_MAP)
            v = json_pack("{s:s,s:o}", "type", "object", "additionalProperties", v);
        else if (f->flags & BSN_PF_REPEATED)
            v = json_pack("{s:s,s:o}", "type", "array", "items", v);
        json_object_set_new(props, f->json, v);
    }
}

static void
add_msg(json_t *schemas, const struct bsn_pmsg *m, int depth)
{
    char name[160];
    snprintf(name, sizeof(name), PREFIX "%s", m->name);
    if (json_object_get(schemas, name) || depth > 32)
        return;
    json_t *props = json_object();
    json_t *s = json_pack("{s:s,s:o}", "type", "object", "properties", props);
    json_object_set_new(schemas, name, s); /* before recursing: types refer to themselves */
    add_props(schemas, props, m, depth);
}

json_t *
bsn_proto_openapi_schema(const char *api_version, const char *kind, json_t *schemas)
{
    const struct bsn_pmsg *m = bsn_pschema_kind(api_version, kind);
    if (!m)
        return NULL;
    json_t *props = json_object();
    json_object_set_new(props, "apiVersion",
                        json_pack("{s:s,s:s}", "type", "string", "description",
                                  "APIVersion defines the versioned schema of this "
                                  "representation of an object."));
    json_object_set_new(props, "kind",
                        json_pack("{s:s,s:s}", "type", "string", "description",
                                  "Kind is a string value representing the REST resource this "
                                  "object represents."));
    add_props(schemas, props, m, 0);
    return json_pack("{s:s,s:o}", "type", "object", "properties", props);
}
