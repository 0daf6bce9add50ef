/*
 * metrics.c - metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics from samples the node agents
 * (and the simulated nodes) PUT to /apis/bosun.dev/v1/nodemetrics/<node> (see metrics.h).
 *
 * The table is process-wide (one API server per process; tests that run several share it
 * harmlessly since node names differ) and lives on the loop thread like every request.
 */
#include "api/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "codec/selector.h"

#define MAX_NODES  10000
#define MAX_BODY   (4u << 20)
#define STALE_S    600
#define METRICS_GV "metrics.k8s.io/v1beta1"

struct sample {
    time_t received;
    json_t *doc; /* the validated PUT body */
};

static struct bsn_map table;
static bool table_ready;

static struct bsn_map *
tab(void)
{
    if (!table_ready) {
        bsn_map_init(&table);
        table_ready = true;
    }
    return &table;
}

static bool
valid_qty(const json_t *v)
{
    struct bsn_quantity q;
    struct bsn_err err;
    return json_is_string(v) && bsn_quantity_from_json(v, &q, &err) == 0;
}

static bool
valid_usage(const json_t *u)
{
    return json_is_object(u) && valid_qty(json_object_get(u, "cpu")) &&
           valid_qty(json_object_get(u, "memory"));
}

/* Checks the body's shape; message in msg when invalid. */
static bool
valid_sample(const json_t *doc, char *msg, size_t n)
{
    time_t ts;
    const char *t = json_string_value(json_object_get(doc, "timestamp"));
    if (!t || bsn_time_parse(t, &ts) < 0) {
        snprintf(msg, n, "timestamp: must be an RFC 3339 time");
        return false;
    }
    if (json_object_get(doc, "window") && !json_is_string(json_object_get(doc, "window"))) {
        snprintf(msg, n, "window: must be a duration string");
        return false;
    }
    if (!valid_usage(json_object_get(doc, "node"))) {
        snprintf(msg, n, "node: cpu and memory quantities are required");
        return false;
    }
    json_t *pods = json_object_get(doc, "pods");
    if (pods && !json_is_array(pods)) {
        snprintf(msg, n, "pods: must be a list");
        return false;
    }
    size_t i, j;
    json_t *p, *c;
    json_array_foreach(pods, i, p)
    {
        if (!json_is_string(json_object_get(p, "namespace")) ||
            !json_is_string(json_object_get(p, "name")) ||
            !json_is_array(json_object_get(p, "containers"))) {
            snprintf(msg, n, "pods[%zu]: namespace, name and containers are required", i);
            return false;
        }
        json_array_foreach(json_object_get(p, "containers"), j, c)
        {
            if (!json_is_string(json_object_get(c, "name")) || !valid_usage(c)) {
                snprintf(msg, n, "pods[%zu].containers[%zu]: name, cpu and memory are required", i,
                         j);
                return false;
            }
        }
    }
    return true;
}

static void
put_sample(struct req_ctx *c, const char *node)
{
    if (c->body_len > MAX_BODY) {
        api_reply_status(c, 413, "RequestEntityTooLarge", "metrics sample larger than %u bytes",
                         MAX_BODY);
        return;
    }
    struct bsn_err err;
    json_t *doc = bsn_json_parse(c->body ? c->body : "", c->body_len, &err);
    char msg[200];
    if (!doc || !json_is_object(doc) || !valid_sample(doc, msg, sizeof(msg))) {
        api_reply_status(c, 400, "BadRequest", "invalid node metrics: %s",
                         doc && json_is_object(doc) ? msg : "body is not a JSON object");
        json_decref(doc);
        return;
    }
    struct sample *s = bsn_map_get(tab(), node);
    if (!s) {
        if (tab()->len >= MAX_NODES) {
            api_reply_status(c, 507, "InsufficientStorage", "too many nodes report metrics");
            json_decref(doc);
            return;
        }
        s = bsn_calloc(1, sizeof(*s));
        bsn_map_put(tab(), node, s);
    }
    json_decref(s->doc);
    s->doc = doc;
    s->received = bsn_time_now();
    api_reply_json(c, 200,
                   json_pack("{s:s,s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                             "status", "Success", "message", node, "code", 200));
}

static bool
fresh(struct sample *s)
{
    return s && s->doc && bsn_time_now() - s->received <= STALE_S;
}

/* labels of a stored object (new reference) or NULL when it does not exist */
static json_t *
object_labels(struct bsn_apiserver *srv, const char *plural, const char *ns, const char *name,
              char *created, size_t n)
{
    const struct bsn_resource *res = bsn_registry_find("", "v1", plural);
    char key[600];
    api_key(res, ns, name, key, sizeof(key));
    json_t *t = api_lookup(srv, key, NULL);
    if (!t)
        return NULL;
    json_t *meta = json_object_get(t, "metadata");
    snprintf(created, n, "%s", json_string_value(json_object_get(meta, "creationTimestamp")) ?: "");
    json_t *l = json_object_get(meta, "labels");
    l = l ? json_incref(l) : json_object();
    json_decref(t);
    return l;
}

static json_t *
meta_json(const char *name, const char *ns, const char *created, json_t *labels)
{
    json_t *m = json_pack("{s:s,s:s}", "name", name, "creationTimestamp", created);
    if (ns)
        json_object_set_new(m, "namespace", json_string(ns));
    if (json_object_size(labels))
        json_object_set(m, "labels", labels);
    return m;
}

static json_t *
node_metrics(struct req_ctx *c, const char *name, struct sample *s, const struct bsn_selector *sel)
{
    char created[40];
    json_t *labels = object_labels(c->srv, "nodes", "", name, created, sizeof(created));
    if (!labels)
        return NULL;
    if (sel && !bsn_selector_match(sel, labels)) {
        json_decref(labels);
        return NULL;
    }
    json_t *node = json_object_get(s->doc, "node");
    json_t *o =
        json_pack("{s:s,s:s,s:o,s:O,s:s,s:{s:O,s:O}}", "kind", "NodeMetrics", "apiVersion",
                  METRICS_GV, "metadata", meta_json(name, NULL, created, labels), "timestamp",
                  json_object_get(s->doc, "timestamp"), "window",
                  json_string_value(json_object_get(s->doc, "window")) ?: "15s", "usage", "cpu",
                  json_object_get(node, "cpu"), "memory", json_object_get(node, "memory"));
    json_decref(labels);
    return o;
}

static json_t *
pod_metrics(struct req_ctx *c, struct sample *s, const json_t *p, const struct bsn_selector *sel)
{
    const char *ns = json_string_value(json_object_get(p, "namespace"));
    const char *name = json_string_value(json_object_get(p, "name"));
    char created[40];
    json_t *labels = object_labels(c->srv, "pods", ns, name, created, sizeof(created));
    if (!labels)
        return NULL;
    if (sel && !bsn_selector_match(sel, labels)) {
        json_decref(labels);
        return NULL;
    }
    json_t *cs = json_array();
    size_t i;
    json_t *ct;
    json_array_foreach(json_object_get(p, "containers"), i, ct)
    {
        json_array_append_new(
            cs, json_pack("{s:O,s:{s:O,s:O}}", "name", json_object_get(ct, "name"), "usage", "cpu",
                          json_object_get(ct, "cpu"), "memory", json_object_get(ct, "memory")));
    }
    json_t *o = json_pack(
        "{s:s,s:s,s:o,s:O,s:s,s:o}", "kind", "PodMetrics", "apiVersion", METRICS_GV, "metadata",
        meta_json(name, ns, created, labels), "timestamp", json_object_get(s->doc, "timestamp"),
        "window", json_string_value(json_object_get(s->doc, "window")) ?: "15s", "containers", cs);
    json_decref(labels);
    return o;
}

static void
reply_list(struct req_ctx *c, const char *kind, json_t *items)
{
    api_reply_json(c, 200,
                   json_pack("{s:s,s:s,s:{},s:o}", "kind", kind, "apiVersion", METRICS_GV,
                             "metadata", "items", items));
}

static void
serve(struct req_ctx *c)
{
    bool nodes = !strcmp(c->plural, "nodes");
    if ((!nodes && strcmp(c->plural, "pods")) || strcmp(c->version, "v1beta1") || c->sub[0] ||
        (nodes && c->ns[0])) {
        api_reply_status(c, 404, "NotFound", "the server could not find the requested resource");
        return;
    }
    if (strcmp(c->method, "GET") && strcmp(c->method, "HEAD")) {
        api_reply_status(c, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
        return;
    }
    char ls[4096] = "";
    struct bsn_selector sel, *selp = NULL;
    if (api_query(c, "labelSelector", ls, sizeof(ls)) && ls[0]) {
        struct bsn_err err;
        if (bsn_selector_parse(ls, &sel, &err) < 0) {
            api_reply_status(c, 400, "BadRequest", "unable to parse requirement: %s", err.msg);
            return;
        }
        selp = &sel;
    }
    json_t *items = json_array();
    const char *k;
    void *v;
    size_t it = 0;
    while (bsn_map_next(tab(), &it, &k, &v)) {
        struct sample *s = v;
        if (!fresh(s))
            continue;
        if (nodes) {
            if (c->name[0] && strcmp(c->name, k))
                continue;
            json_t *o = node_metrics(c, k, s, selp);
            if (o)
                json_array_append_new(items, o);
            continue;
        }
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(s->doc, "pods"), i, p)
        {
            const char *pns = json_string_value(json_object_get(p, "namespace"));
            const char *pname = json_string_value(json_object_get(p, "name"));
            if ((c->ns[0] && strcmp(c->ns, pns)) || (c->name[0] && strcmp(c->name, pname)))
                continue;
            json_t *o = pod_metrics(c, s, p, selp);
            if (o)
                json_array_append_new(items, o);
        }
    }
    if (selp)
        bsn_selector_fini(selp);
    if (!c->name[0]) {
        reply_list(c, nodes ? "NodeMetricsList" : "PodMetricsList", items);
        return;
    }
    if (json_array_size(items) == 0) {
        json_decref(items);
        api_reply_status(c, 404, "NotFound", "%s \"%s\" not found",
                         nodes ? "nodemetrics.metrics.k8s.io" : "podmetrics.metrics.k8s.io",
                         c->name);
        return;
    }
    api_reply_json(c, 200, json_incref(json_array_get(items, 0)));
    json_decref(items);
}

bool
api_resmetrics_handle(struct req_ctx *c)
{
    if (!strcmp(c->group, BSN_METRICS_GROUP)) {
        serve(c);
        return true;
    }
    if (!strcmp(c->group, "bosun.dev") && !strcmp(c->version, "v1") &&
        !strcmp(c->plural, "nodemetrics")) {
        if (!c->name[0] || c->ns[0] || c->sub[0]) {
            api_reply_status(c, 404, "NotFound",
                             "the server could not find the requested resource");
        } else if (!strcmp(c->method, "PUT")) {
            put_sample(c, c->name);
        } else if (!strcmp(c->method, "DELETE")) {
            struct sample *s = bsn_map_del(tab(), c->name);
            if (s) {
                json_decref(s->doc);
                free(s);
            }
            api_reply_json(c, 200,
                           json_pack("{s:s,s:s,s:s}", "kind", "Status", "apiVersion", "v1",
                                     "status", "Success"));
        } else {
            api_reply_status(c, 405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource");
        }
        return true;
    }
    return false;
}

json_t *
api_resmetrics_discovery(bool aggregated, const char *version)
{
    const char *gv = BSN_METRICS_GROUP "/v1beta1";
    if (aggregated) {
        json_t *res = json_array();
        static const char *const r[][3] = {{"nodes", "NodeMetrics", "Cluster"},
                                           {"pods", "PodMetrics", "Namespaced"}};
        for (int i = 0; i < 2; i++)
            json_array_append_new(res,
                                  json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:[s,s]}", "resource",
                                            r[i][0], "responseKind", "group", BSN_METRICS_GROUP,
                                            "version", "v1beta1", "kind", r[i][1], "scope", r[i][2],
                                            "singularResource", "", "verbs", "get", "list"));
        return json_pack("{s:{s:s},s:[{s:s,s:o,s:s}]}", "metadata", "name", BSN_METRICS_GROUP,
                         "versions", "version", "v1beta1", "resources", res, "freshness",
                         "Current");
    }
    if (!version || !version[0]) {
        json_t *g = json_pack("{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}", "name", BSN_METRICS_GROUP,
                              "versions", "groupVersion", gv, "version", "v1beta1",
                              "preferredVersion", "groupVersion", gv, "version", "v1beta1");
        if (version) {
            json_object_set_new(g, "kind", json_string("APIGroup"));
            json_object_set_new(g, "apiVersion", json_string("v1"));
        }
        return g;
    }
    return json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:b,s:s,s:[s,s]},{s:s,s:s,s:b,s:s,s:[s,s]}]}",
                     "kind", "APIResourceList", "apiVersion", "v1", "groupVersion", gv, "resources",
                     "name", "nodes", "singularName", "", "namespaced", 0, "kind", "NodeMetrics",
                     "verbs", "get", "list", "name", "pods", "singularName", "", "namespaced", 1,
                     "kind", "PodMetrics", "verbs", "get", "list");
}
