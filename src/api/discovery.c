/*
 * discovery.c - non-resource endpoints: health (/healthz, /livez, /readyz), /version,
 * /metrics, API discovery (legacy /api, /apis, per group and version, and the aggregated
 * apidiscovery.k8s.io/v2 format kubectl asks for first) and OpenAPI v2/v3 documents.
 *
 * The OpenAPI v3 documents describe every served path with the operations and query
 * parameters kubectl looks for (fieldValidation on PATCH, used to decide on server-side
 * validation) and an object schema per kind carrying x-kubernetes-group-version-kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/metrics.h"
#include "base/mem.h"
#include "base/time.h"
#include "proto/proto.h"

#define K8S_MAJOR "1"
#define K8S_MINOR "32"
#define K8S_GIT   "v1.32.0+bosun"

static const char *
verbs_of(const struct bsn_resource *r)
{
    (void)r;
    return "create,delete,deletecollection,get,list,patch,update,watch";
}

static json_t *
verbs_json(const char *csv)
{
    json_t *a = json_array();
    const char *p = csv;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        p = e ? e + 1 : NULL;
    }
    return a;
}

static json_t *
csv_json(const char *csv)
{
    return csv && *csv ? verbs_json(csv) : NULL;
}

static bool
group_has_version(const char *group, const char *version)
{
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++)
        if (!strcmp(r->group, group) && !strcmp(r->version, version))
            return true;
    return false;
}

/* Versions of a group in preference order (first row order: v2 before v1 for autoscaling). */
static int
group_versions(const char *group, const char *out[], int max)
{
    int n = 0;
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++) {
        if (strcmp(r->group, group) != 0)
            continue;
        bool seen = false;
        for (int i = 0; i < n; i++)
            if (!strcmp(out[i], r->version))
                seen = true;
        if (!seen && n < max)
            out[n++] = r->version;
    }
    return n;
}

static int
groups(const char *out[], int max)
{
    int n = 0;
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++) {
        if (!r->group[0])
            continue;
        bool seen = false;
        for (int i = 0; i < n; i++)
            if (!strcmp(out[i], r->group))
                seen = true;
        if (!seen && n < max)
            out[n++] = r->group;
    }
    return n;
}

static void
add_sub(json_t *list, const struct bsn_resource *r, const char *sub, const char *kind,
        const char *verbs)
{
    char name[128];
    snprintf(name, sizeof(name), "%s/%s", r->plural, sub);
    json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", name, "singularName", "",
                                          "namespaced", r->namespaced, "kind", kind, "verbs",
                                          verbs_json(verbs)));
}

static json_t *
resource_list(const char *group, const char *version)
{
    json_t *list = json_array();
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++) {
        if (strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        json_t *e = json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", r->plural, "singularName",
                              r->singular, "namespaced", r->namespaced, "kind", r->kind, "verbs",
                              verbs_json(verbs_of(r)));
        json_t *sn = csv_json(r->short_names), *cat = csv_json(r->categories);
        if (sn)
            json_object_set_new(e, "shortNames", sn);
        if (cat)
            json_object_set_new(e, "categories", cat);
        json_array_append_new(list, e);
        if (r->subresources & BSN_SUB_STATUS)
            add_sub(list, r, "status", r->kind, "get,patch,update");
        if (r->subresources & BSN_SUB_SCALE)
            add_sub(list, r, "scale", "Scale", "get,patch,update");
        if (r->subresources & BSN_SUB_BINDING)
            add_sub(list, r, "binding", "Binding", "create");
        if (r->subresources & BSN_SUB_EVICTION)
            add_sub(list, r, "eviction", "Eviction", "create");
        if (r->subresources & BSN_SUB_LOG)
            add_sub(list, r, "log", "Pod", "get");
        if (r->subresources & BSN_SUB_EXEC) {
            add_sub(list, r, "exec", "PodExecOptions", "create,get");
            add_sub(list, r, "attach", "PodAttachOptions", "create,get");
            add_sub(list, r, "portforward", "PodPortForwardOptions", "create,get");
        }
    }
    char gv[128];
    snprintf(gv, sizeof(gv), "%s%s%s", group, group[0] ? "/" : "", version);
    return json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", gv, "resources", list);
}

static json_t *
group_json(const char *g)
{
    const char *vs[8];
    int nv = group_versions(g, vs, 8);
    json_t *versions = json_array();
    for (int i = 0; i < nv; i++) {
        char gv[128];
        snprintf(gv, sizeof(gv), "%s/%s", g, vs[i]);
        json_array_append_new(versions,
                              json_pack("{s:s,s:s}", "groupVersion", gv, "version", vs[i]));
    }
    char pgv[128];
    snprintf(pgv, sizeof(pgv), "%s/%s", g, nv ? vs[0] : "v1");
    return json_pack("{s:s,s:o,s:{s:s,s:s}}", "name", g, "versions", versions, "preferredVersion",
                     "groupVersion", pgv, "version", nv ? vs[0] : "v1");
}

/* ---- aggregated discovery (apidiscovery.k8s.io/v2) ---- */

static json_t *
agg_sub(const char *sub, const char *group, const char *version, const char *kind,
        const char *verbs)
{
    return json_pack("{s:s,s:{s:s,s:s,s:s},s:o}", "subresource", sub, "responseKind", "group",
                     group, "version", version, "kind", kind, "verbs", verbs_json(verbs));
}

static json_t *
agg_version(const char *group, const char *version)
{
    json_t *res = json_array();
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++) {
        if (strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        json_t *e = json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:o}", "resource", r->plural,
                              "responseKind", "group", r->group, "version", r->version, "kind",
                              r->kind, "scope", r->namespaced ? "Namespaced" : "Cluster",
                              "singularResource", r->singular, "verbs", verbs_json(verbs_of(r)));
        json_t *sn = csv_json(r->short_names), *cat = csv_json(r->categories);
        if (sn)
            json_object_set_new(e, "shortNames", sn);
        if (cat)
            json_object_set_new(e, "categories", cat);
        json_t *subs = json_array();
        if (r->subresources & BSN_SUB_STATUS)
            json_array_append_new(
                subs, agg_sub("status", r->group, r->version, r->kind, "get,patch,update"));
        if (r->subresources & BSN_SUB_SCALE)
            json_array_append_new(
                subs, agg_sub("scale", "autoscaling", "v1", "Scale", "get,patch,update"));
        if (r->subresources & BSN_SUB_BINDING)
            json_array_append_new(subs, agg_sub("binding", "", "v1", "Binding", "create"));
        if (r->subresources & BSN_SUB_EVICTION)
            json_array_append_new(subs, agg_sub("eviction", "policy", "v1", "Eviction", "create"));
        if (r->subresources & BSN_SUB_LOG)
            json_array_append_new(subs, agg_sub("log", "", "v1", "Pod", "get"));
        if (r->subresources & BSN_SUB_EXEC) {
            json_array_append_new(subs, agg_sub("exec", "", "v1", "PodExecOptions", "create,get"));
            json_array_append_new(subs,
                                  agg_sub("attach", "", "v1", "PodAttachOptions", "create,get"));
            json_array_append_new(
                subs, agg_sub("portforward", "", "v1", "PodPortForwardOptions", "create,get"));
        }
        if (json_array_size(subs))
            json_object_set_new(e, "subresources", subs);
        else
            json_decref(subs);
        json_array_append_new(res, e);
    }
    return json_pack("{s:s,s:o,s:s}", "version", version, "resources", res, "freshness", "Current");
}

static json_t *
agg_group(const char *g)
{
    const char *vs[8];
    int nv = group_versions(g, vs, 8);
    json_t *versions = json_array();
    for (int i = 0; i < nv; i++)
        json_array_append_new(versions, agg_version(g, vs[i]));
    json_t *meta = json_object();
    if (g[0])
        json_object_set_new(meta, "name", json_string(g));
    return json_pack("{s:o,s:o}", "metadata", meta, "versions", versions);
}

static void
reply_aggregated(struct req_ctx *c, bool core, const char *ver)
{
    json_t *items = json_array();
    if (core) {
        json_array_append_new(items, agg_group(""));
    } else {
        const char *gs[32];
        int n = groups(gs, 32);
        for (int i = 0; i < n; i++)
            json_array_append_new(items, agg_group(gs[i]));
        json_array_append_new(items, api_resmetrics_discovery(true, NULL));
    }
    json_t *doc = json_pack("{s:s,s:s,s:{},s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
                            ver, "metadata", "items", items);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char ctype[160];
    snprintf(ctype, sizeof(ctype),
             "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList",
             strcmp(ver, "apidiscovery.k8s.io/v2") == 0 ? "v2" : "v2beta1");
    json_decref(doc);
    c->sink->add_header(c, "Vary", "Accept");
    api_reply_raw(c, 200, ctype, s, strlen(s));
    free(s);
}

/* ---- OpenAPI ---- */

static const char *const query_params[] = {"dryRun", "fieldManager", "fieldValidation", "pretty",
                                           NULL};

static json_t *
op_json(const struct bsn_resource *r, const char *action, bool with_params)
{
    json_t *params = json_array();
    if (with_params)
        for (int i = 0; query_params[i]; i++)
            json_array_append_new(params,
                                  json_pack("{s:s,s:s,s:{s:s},s:b}", "name", query_params[i], "in",
                                            "query", "schema", "type", "string", "uniqueItems", 1));
    char opid[160];
    snprintf(opid, sizeof(opid), "%s%s", action, r->kind);
    return json_pack("{s:s,s:o,s:{s:s,s:s,s:s},s:s,s:{s:{s:s}}}", "operationId", opid, "parameters",
                     params, "x-kubernetes-group-version-kind", "group", r->group, "version",
                     r->version, "kind", r->kind, "x-kubernetes-action", action, "responses", "200",
                     "description", "OK");
}

static void
schema_name(const struct bsn_resource *r, char *out, size_t n)
{
    /* io.k8s.api.<group-short>.<version>.<Kind> as upstream names them */
    char g[64];
    if (!r->group[0])
        snprintf(g, sizeof(g), "core");
    else {
        const char *dot = strchr(r->group, '.');
        size_t len = dot ? (size_t)(dot - r->group) : strlen(r->group);
        snprintf(g, sizeof(g), "%.*s", (int)len, r->group);
    }
    snprintf(out, n, "io.k8s.api.%s.%s.%s", g, r->version, r->kind);
}

static json_t *
object_meta_schema(void)
{
    json_t *props = json_object();
    static const char *const strs[] = {"name",
                                       "namespace",
                                       "generateName",
                                       "uid",
                                       "resourceVersion",
                                       "creationTimestamp",
                                       "deletionTimestamp",
                                       NULL};
    for (int i = 0; strs[i]; i++)
        json_object_set_new(props, strs[i], json_pack("{s:s}", "type", "string"));
    json_object_set_new(
        props, "labels",
        json_pack("{s:s,s:{s:s}}", "type", "object", "additionalProperties", "type", "string"));
    json_object_set_new(
        props, "annotations",
        json_pack("{s:s,s:{s:s}}", "type", "object", "additionalProperties", "type", "string"));
    json_object_set_new(props, "generation",
                        json_pack("{s:s,s:s}", "type", "integer", "format", "int64"));
    json_object_set_new(props, "finalizers",
                        json_pack("{s:s,s:{s:s}}", "type", "array", "items", "type", "string"));
    json_object_set_new(props, "ownerReferences",
                        json_pack("{s:s,s:{s:s}}", "type", "array", "items", "type", "object"));
    return json_pack("{s:s,s:s,s:o}", "description",
                     "ObjectMeta is metadata that all persisted resources must have, which "
                     "includes all objects users must create.",
                     "type", "object", "properties", props);
}

static json_t *
openapi_v3_doc(const char *group, const char *version)
{
    json_t *paths = json_object();
    json_t *schemas = json_object();
    json_object_set_new(schemas, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                        object_meta_schema());
    char prefix[128];
    if (group[0])
        snprintf(prefix, sizeof(prefix), "/apis/%s/%s", group, version);
    else
        snprintf(prefix, sizeof(prefix), "/api/%s", version);
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++) {
        if (strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        char coll[256], item[320];
        if (r->namespaced)
            snprintf(coll, sizeof(coll), "%s/namespaces/{namespace}/%s", prefix, r->plural);
        else
            snprintf(coll, sizeof(coll), "%s/%s", prefix, r->plural);
        snprintf(item, sizeof(item), "%s/{name}", coll);
        json_object_set_new(paths, coll,
                            json_pack("{s:o,s:o}", "get", op_json(r, "list", false), "post",
                                      op_json(r, "post", true)));
        json_object_set_new(paths, item,
                            json_pack("{s:o,s:o,s:o,s:o}", "get", op_json(r, "get", false), "put",
                                      op_json(r, "put", true), "patch", op_json(r, "patch", true),
                                      "delete", op_json(r, "delete", false)));
        char name[200];
        schema_name(r, name, sizeof(name));
        json_t *props = json_pack(
            "{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:[{s:s}]},s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion",
            "type", "string", "description",
            "APIVersion defines the versioned schema of this representation of an object.", "kind",
            "type", "string", "description",
            "Kind is a string value representing the REST resource this object represents.",
            "metadata", "description", "Standard object's metadata.", "allOf", "$ref",
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "spec", "type",
            "object", "description", "Specification of the desired behavior.", "status", "type",
            "object", "description", "Most recently observed status.");
        if (!strcmp(r->kind, "ConfigMap") || !strcmp(r->kind, "Secret")) {
            json_object_del(props, "spec");
            json_object_del(props, "status");
            json_object_set_new(props, "data",
                                json_pack("{s:s,s:{s:s}}", "type", "object", "additionalProperties",
                                          "type", "string"));
        }
        char desc[256], av[128];
        snprintf(desc, sizeof(desc), "%s as served by Bosun (%s%s%s).", r->kind, group,
                 group[0] ? "/" : "", version);
        snprintf(av, sizeof(av), "%s%s%s", group, group[0] ? "/" : "", version);
        /* the full structure where the schema tables know the kind */
        json_t *full = bsn_proto_openapi_schema(av, r->kind, schemas);
        if (full) {
            json_t *fp = json_object_get(full, "properties");
            json_object_set(fp, "metadata", json_object_get(props, "metadata"));
            json_decref(props);
            props = json_incref(fp);
            json_decref(full);
        }
        json_object_set_new(schemas, name,
                            json_pack("{s:s,s:s,s:o,s:[{s:s,s:s,s:s}]}", "description", desc,
                                      "type", "object", "properties", props,
                                      "x-kubernetes-group-version-kind", "group", r->group,
                                      "version", r->version, "kind", r->kind));
    }
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.0", "info", "title",
                     "Kubernetes", "version", K8S_GIT, "paths", paths, "components", "schemas",
                     schemas);
}

static json_t *
openapi_v3_root(void)
{
    json_t *paths = json_object();
    json_object_set_new(paths, "api/v1",
                        json_pack("{s:s}", "serverRelativeURL", "/openapi/v3/api/v1?hash=bsn1"));
    const char *gs[32];
    int n = groups(gs, 32);
    for (int i = 0; i < n; i++) {
        const char *vs[8];
        int nv = group_versions(gs[i], vs, 8);
        for (int j = 0; j < nv; j++) {
            char k[160], url[200];
            snprintf(k, sizeof(k), "apis/%s/%s", gs[i], vs[j]);
            snprintf(url, sizeof(url), "/openapi/v3/%s?hash=bsn1", k);
            json_object_set_new(paths, k, json_pack("{s:s}", "serverRelativeURL", url));
        }
    }
    return json_pack("{s:o}", "paths", paths);
}

static json_t *
openapi_v2(void)
{
    json_t *defs = json_object();
    json_t *paths = json_object();
    const char *gs[33];
    int n = groups(gs + 1, 32);
    gs[0] = "";
    for (int i = 0; i <= n; i++) {
        const char *vs[8];
        int nv = group_versions(gs[i], vs, 8);
        for (int j = 0; j < nv; j++) {
            json_t *d = openapi_v3_doc(gs[i], vs[j]);
            json_object_update(paths, json_object_get(d, "paths"));
            json_object_update(defs, json_object_get(json_object_get(d, "components"), "schemas"));
            json_decref(d);
        }
    }
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:o}", "swagger", "2.0", "info", "title", "Kubernetes",
                     "version", K8S_GIT, "paths", paths, "definitions", defs);
}

static void
reply_doc(struct req_ctx *c, json_t *doc)
{
    c->yaml = false;
    api_reply_json(c, 200, doc);
}

bool
api_discovery(struct req_ctx *c)
{
    const char *p = c->path;
    struct bsn_apiserver *s = c->srv;
    if (!strcmp(p, "/healthz") || !strcmp(p, "/livez") || !strcmp(p, "/readyz") ||
        !strncmp(p, "/healthz/", 9) || !strncmp(p, "/livez/", 7) || !strncmp(p, "/readyz/", 8)) {
        if (api_query_bool(c, "verbose")) {
            const char *txt = "[+]ping ok\n[+]etcd ok\n[+]poststarthook/bootstrap ok\n"
                              "healthz check passed\n";
            api_reply_raw(c, 200, "text/plain; charset=utf-8", txt, strlen(txt));
        } else {
            api_reply_raw(c, 200, "text/plain; charset=utf-8", "ok", 2);
        }
        return true;
    }
    if (!strcmp(p, "/version") || !strcmp(p, "/version/")) {
        json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", K8S_MAJOR, "minor",
                              K8S_MINOR, "gitVersion", K8S_GIT, "gitCommit", "bosun-" BSN_VERSION,
                              "gitTreeState", "clean", "buildDate", "2026-01-01T00:00:00Z",
                              "goVersion", "c17", "compiler", "gcc", "platform", "linux/amd64");
        reply_doc(c, v);
        return true;
    }
    if (!strcmp(p, "/metrics")) {
        struct bsn_buf b;
        bsn_buf_init(&b);
        api_metrics_text(s, &b);
        api_reply_raw(c, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
        bsn_buf_fini(&b);
        return true;
    }
    const char *accept = c->accept ? c->accept : "";
    bool want_agg = strstr(accept, "as=APIGroupDiscoveryList") != NULL;
    const char *agg_ver = strstr(accept, "v=v2;") || strstr(accept, "v=v2,") ||
                                  (strstr(accept, "v=v2") && !strstr(accept, "v=v2beta1"))
                              ? "apidiscovery.k8s.io/v2"
                              : "apidiscovery.k8s.io/v2beta1";
    if (!strcmp(p, "/api") || !strcmp(p, "/api/")) {
        if (want_agg) {
            reply_aggregated(c, true, agg_ver);
            return true;
        }
        reply_doc(c, json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions", "v1",
                               "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
                               "serverAddress", s->advertise_address ? s->advertise_address : ""));
        return true;
    }
    if (!strcmp(p, "/apis") || !strcmp(p, "/apis/")) {
        if (want_agg) {
            reply_aggregated(c, false, agg_ver);
            return true;
        }
        json_t *list = json_array();
        const char *gs[32];
        int n = groups(gs, 32);
        for (int i = 0; i < n; i++)
            json_array_append_new(list, group_json(gs[i]));
        json_array_append_new(list, api_resmetrics_discovery(false, NULL));
        reply_doc(c, json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1",
                               "groups", list));
        return true;
    }
    if (!strcmp(p, "/api/v1") || !strcmp(p, "/api/v1/")) {
        reply_doc(c, resource_list("", "v1"));
        return true;
    }
    if (!strncmp(p, "/apis/" BSN_METRICS_GROUP, 6 + strlen(BSN_METRICS_GROUP))) {
        const char *v = p + 6 + strlen(BSN_METRICS_GROUP);
        if (!strcmp(v, "") || !strcmp(v, "/")) {
            reply_doc(c, api_resmetrics_discovery(false, ""));
            return true;
        }
        if (!strcmp(v, "/v1beta1") || !strcmp(v, "/v1beta1/")) {
            reply_doc(c, api_resmetrics_discovery(false, "v1beta1"));
            return true;
        }
    }
    if (!strncmp(p, "/apis/", 6)) {
        char g[128] = "", v[64] = "";
        const char *rest = p + 6;
        const char *slash = strchr(rest, '/');
        if (!slash || slash[1] == '\0') {
            snprintf(g, sizeof(g), "%.*s", (int)(slash ? slash - rest : (long)strlen(rest)), rest);
            const char *vs[8];
            if (group_versions(g, vs, 8) == 0)
                return false;
            json_t *gj = group_json(g);
            json_object_set_new(gj, "kind", json_string("APIGroup"));
            json_object_set_new(gj, "apiVersion", json_string("v1"));
            reply_doc(c, gj);
            return true;
        }
        snprintf(g, sizeof(g), "%.*s", (int)(slash - rest), rest);
        const char *vv = slash + 1;
        const char *s2 = strchr(vv, '/');
        if (!s2 || s2[1] == '\0') {
            snprintf(v, sizeof(v), "%.*s", (int)(s2 ? s2 - vv : (long)strlen(vv)), vv);
            if (!group_has_version(g, v))
                return false;
            reply_doc(c, resource_list(g, v));
            return true;
        }
        return false;
    }
    if (!strcmp(p, "/openapi/v3") || !strcmp(p, "/openapi/v3/")) {
        reply_doc(c, openapi_v3_root());
        return true;
    }
    if (!strncmp(p, "/openapi/v3/", 12)) {
        const char *gv = p + 12;
        char g[128] = "", v[64] = "";
        if (!strncmp(gv, "api/", 4)) {
            snprintf(v, sizeof(v), "%s", gv + 4);
        } else if (!strncmp(gv, "apis/", 5)) {
            const char *sl = strchr(gv + 5, '/');
            if (!sl)
                return false;
            snprintf(g, sizeof(g), "%.*s", (int)(sl - gv - 5), gv + 5);
            snprintf(v, sizeof(v), "%s", sl + 1);
        }
        if (!group_has_version(g, v)) {
            api_reply_raw(c, 404, "text/plain", "404 page not found\n", 19);
            return true;
        }
        reply_doc(c, openapi_v3_doc(g, v));
        return true;
    }
    if (!strcmp(p, "/openapi/v2")) {
        if (strstr(accept, "protobuf") && !strstr(accept, "application/json")) {
            /* kubectl asks for the gnostic protobuf form only to validate kinds the v3
             * documents do not cover (those get server-side validation). An empty document
             * (swagger "2.0", info) tells it there is no client-side schema for them, so it
             * goes on to its own "no matches for kind" error exactly as against upstream. */
            static const char pb[] = "\x0a\x03"
                                     "2.0"
                                     "\x12\x1b\x0a\x0aKubernetes\x12\x0d" K8S_GIT;
            api_reply_raw(c, 200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", pb,
                          sizeof(pb) - 1);
            return true;
        }
        reply_doc(c, openapi_v2());
        return true;
    }
    return false;
}
