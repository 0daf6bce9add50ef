/*
 * rest.c - the REST verbs: get, list, create, update, patch, delete, deletecollection, and
 * the status, scale, binding and eviction subresources. Routing of non-resource paths
 * (health, version, metrics, discovery, OpenAPI) happens here too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/metrics.h"
#include "api/nodeproxy.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/patch.h"
#include "codec/selector.h"
#include "codec/yaml.h"
#include "proto/proto.h"
#include "store/store.h"

/* ------------------------------------------------------------------ request helpers */

/* Percent-decodes (the HTTP layer's decoder); malformed escapes are kept as they came. */
static size_t
pct_decode(const char *s, size_t len, bool plus_is_space, char *out, size_t n)
{
    int r = bsn_http_percent_decode(s, len, plus_is_space, out, n);
    if (r >= 0)
        return (size_t)r;
    size_t k = len < n ? len : n - 1;
    memcpy(out, s, k);
    out[k] = '\0';
    return k;
}

bool
api_query(const struct req_ctx *c, const char *name, char *out, size_t n)
{
    const char *q = c->query;
    size_t nl = strlen(name);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t kl = eq ? (size_t)(eq - q) : len;
        if (kl == nl && memcmp(q, name, nl) == 0) {
            if (eq)
                pct_decode(eq + 1, len - kl - 1, true, out, n);
            else if (n)
                out[0] = '\0';
            return true;
        }
        q = amp ? amp + 1 : NULL;
    }
    return false;
}

bool
api_query_bool(const struct req_ctx *c, const char *name)
{
    char v[16];
    if (!api_query(c, name, v, sizeof(v)))
        return false;
    return v[0] == '\0' || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static const char *
resource_ref(const struct req_ctx *c, char *buf, size_t n)
{
    /* upstream's "<plural>.<group>" (just plural for core) used in messages */
    if (c->res && c->res->group[0])
        snprintf(buf, n, "%s.%s", c->res->plural, c->res->group);
    else
        snprintf(buf, n, "%s", c->res ? c->res->plural : c->plural);
    return buf;
}

static void
reply_not_found(struct req_ctx *c, const char *name)
{
    char rr[160];
    api_reply_status(c, 404, "NotFound", "%s \"%s\" not found", resource_ref(c, rr, sizeof(rr)),
                     name);
}

static void
reply_conflict(struct req_ctx *c, const char *name)
{
    char rr[160];
    api_reply_status(c, 409, "Conflict",
                     "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                     "please apply your changes to the latest version and try again",
                     resource_ref(c, rr, sizeof(rr)), name);
}

/* Decodes a request body as JSON or YAML (by Content-Type) into one object. */
static json_t *
decode_body(struct req_ctx *c, struct bsn_err *err)
{
    if (!c->body || c->body_len == 0) {
        bsn_err_set(err, 400, "BadRequest", "the request body is empty");
        return NULL;
    }
    json_t *v;
    if (c->ctype && bsn_proto_content_type(bsn_str_c(c->ctype))) {
        /* kubectl's typed clients (create, drain, autoscale, ...) send protobuf */
        v = bsn_proto_decode(c->body, c->body_len, err);
    } else if (c->ctype && (strstr(c->ctype, "yaml") != NULL)) {
        v = bsn_yaml_parse_one(c->body, c->body_len, err);
    } else {
        char fv[16] = "";
        api_query(c, "fieldValidation", fv, sizeof(fv));
        if (strcmp(fv, "Strict") == 0)
            v = bsn_json_parse_strict(c->body, c->body_len, err);
        else
            v = bsn_json_parse(c->body, c->body_len, err);
    }
    if (!v)
        return NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        bsn_err_set(err, 400, "BadRequest", "the request body must be a JSON object");
        return NULL;
    }
    return v;
}

/*
 * fieldValidation: Strict rejects fields the kind does not have (400, as upstream's strict
 * decoder), Warn (the default) names them in a Warning header, Ignore skips the check. Kinds
 * without a schema here are not checked. Protobuf bodies cannot carry unknown fields.
 */
static int
check_unknown_fields(struct req_ctx *c, const json_t *tree, struct bsn_err *err)
{
    if (c->ctype && bsn_proto_content_type(bsn_str_c(c->ctype)))
        return 0;
    char fv[16] = "";
    api_query(c, "fieldValidation", fv, sizeof(fv));
    if (!strcmp(fv, "Ignore"))
        return 0;
    char av[128];
    snprintf(av, sizeof(av), "%s%s%s", c->res->group, c->res->group[0] ? "/" : "", c->res->version);
    struct bsn_buf b;
    bsn_buf_init(&b);
    int n = bsn_proto_unknown_fields(tree, av, c->res->kind, &b, 16);
    int rc = 0;
    if (n > 0 && !strcmp(fv, "Strict")) {
        rc = bsn_err_set(err, 400, "BadRequest",
                         "%s in version \"%s\" cannot be handled as a %s: strict decoding "
                         "error: %s",
                         c->res->kind, c->res->version, c->res->kind, b.data);
    } else if (n > 0) {
        struct bsn_buf w;
        bsn_buf_init(&w);
        bsn_buf_puts(&w, "299 - \"");
        for (const char *p = b.data; *p; p++) {
            if (*p == '"' || *p == '\\')
                bsn_buf_putc(&w, '\\');
            bsn_buf_putc(&w, *p);
        }
        bsn_buf_putc(&w, '"');
        c->sink->add_header(c, "Warning", w.data);
        bsn_buf_fini(&w);
    }
    bsn_buf_fini(&b);
    return rc;
}

const char *
api_storage_group(const struct bsn_resource *res)
{
    return res->storage_group ? res->storage_group : res->group;
}

void
api_rkey(const struct bsn_resource *res, char *out, size_t n)
{
    const char *g = api_storage_group(res);
    snprintf(out, n, "%s/%s", g[0] ? g : "core", res->plural);
}

void
api_key(const struct bsn_resource *res, const char *ns, const char *name, char *out, size_t n)
{
    const char *g = api_storage_group(res);
    snprintf(out, n, "%s/%s/%s/%s", g[0] ? g : "core", res->plural, res->namespaced ? ns : "",
             name);
}

const struct bsn_resource *
api_storage_resource(const struct bsn_resource *res)
{
    /* The row that owns the storage: same storage group and plural, no storage_group. */
    const char *g = api_storage_group(res);
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++)
        if (!r->storage_group && strcmp(r->group, g) == 0 && strcmp(r->plural, res->plural) == 0)
            return r;
    return res;
}

static void
set_type_meta(json_t *tree, const struct bsn_resource *res)
{
    char av[128];
    if (res->group[0])
        snprintf(av, sizeof(av), "%s/%s", res->group, res->version);
    else
        snprintf(av, sizeof(av), "%s", res->version);
    json_object_set_new(tree, "apiVersion", json_string(av));
    json_object_set_new(tree, "kind", json_string(res->kind));
}

void
api_convert_out(json_t *tree, const struct bsn_resource *res)
{
    const struct bsn_resource *st = api_storage_resource(res);
    if (st != res && res->strategy && res->strategy->convert)
        res->strategy->convert(tree, st, res);
    set_type_meta(tree, res);
}

void
api_convert_in(json_t *tree, const struct bsn_resource *res)
{
    const struct bsn_resource *st = api_storage_resource(res);
    if (st != res && res->strategy && res->strategy->convert)
        res->strategy->convert(tree, res, st);
    set_type_meta(tree, st);
}

json_t *
api_lookup(struct bsn_apiserver *s, const char *key, int64_t *rev)
{
    struct pending *p = bsn_map_get(&s->overlay, key);
    if (p) {
        if (rev)
            *rev = -1; /* not yet committed: no client can hold its resourceVersion */
        if (p->type == BSN_STORE_DELETE)
            return NULL;
        return json_deep_copy(p->tree);
    }
    struct bsn_obj *o = bsn_cache_get(&s->cache, key);
    if (!o)
        return NULL;
    if (rev)
        *rev = o->rev;
    return bsn_obj_tree(o);
}

bool
api_exists(struct bsn_apiserver *s, const char *key)
{
    struct pending *p = bsn_map_get(&s->overlay, key);
    if (p)
        return p->type != BSN_STORE_DELETE;
    return bsn_cache_get(&s->cache, key) != NULL;
}

/* ------------------------------------------------------------------ path parsing */

static int
split(const char *path, char segs[][256], int max)
{
    int n = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    while (*p && n < max) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len >= 256)
            return -1;
        pct_decode(p, len, false, segs[n], 256);
        n++;
        if (!e)
            break;
        p = e + 1;
        while (*p == '/')
            p++;
    }
    return n;
}

static void
copyz(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src);
}

/* Fills group/version/ns/plural/name/sub. Returns false if this is not a resource path. */
static bool
parse_resource_path(struct req_ctx *c)
{
    char segs[10][256];
    int n = split(c->path, segs, 10);
    int i;
    if (n >= 2 && strcmp(segs[0], "api") == 0) {
        c->group[0] = '\0';
        copyz(c->version, sizeof(c->version), segs[1]);
        i = 2;
    } else if (n >= 3 && strcmp(segs[0], "apis") == 0) {
        copyz(c->group, sizeof(c->group), segs[1]);
        copyz(c->version, sizeof(c->version), segs[2]);
        i = 3;
    } else {
        return false;
    }
    if (i >= n)
        return false; /* discovery document of a group version */
    if (strcmp(segs[i], "watch") == 0) {
        c->watch_path = true;
        i++;
    }
    int rest = n - i;
    if (rest >= 1 && strcmp(segs[i], "namespaces") == 0) {
        if (rest >= 3 && strcmp(segs[i + 2], "status") != 0 &&
            strcmp(segs[i + 2], "finalize") != 0) {
            copyz(c->ns, sizeof(c->ns), segs[i + 1]);
            i += 2;
            rest -= 2;
        }
    }
    if (rest < 1 || rest > 3)
        return rest == 0 ? false : true; /* too many segments: unknown resource */
    copyz(c->plural, sizeof(c->plural), segs[i]);
    if (rest >= 2)
        copyz(c->name, sizeof(c->name), segs[i + 1]);
    if (rest >= 3)
        copyz(c->sub, sizeof(c->sub), segs[i + 2]);
    return true;
}

/* ------------------------------------------------------------------ object preparation */

static bool
has_status_sub(const struct bsn_resource *res)
{
    return (res->subresources & BSN_SUB_STATUS) != 0;
}

/* Checks apiVersion/kind of a body against the resource; fills them when absent. */
static int
check_type(struct req_ctx *c, json_t *tree, struct bsn_err *err)
{
    const char *av = json_string_value(json_object_get(tree, "apiVersion"));
    const char *kind = json_string_value(json_object_get(tree, "kind"));
    char want[128];
    if (c->res->group[0])
        snprintf(want, sizeof(want), "%s/%s", c->res->group, c->res->version);
    else
        snprintf(want, sizeof(want), "%s", c->res->version);
    if (av && strcmp(av, want) != 0)
        return bsn_err_set(err, 400, "BadRequest",
                           "the API version in the data (%s) does not match the expected API "
                           "version (%s)",
                           av, want);
    if (kind && strcmp(kind, c->res->kind) != 0)
        return bsn_err_set(err, 400, "BadRequest",
                           "the kind in the data (%s) does not match the expected kind (%s)", kind,
                           c->res->kind);
    set_type_meta(tree, c->res);
    return 0;
}

static json_t *
meta_of(json_t *tree)
{
    json_t *m = json_object_get(tree, "metadata");
    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(tree, "metadata", m);
    }
    return m;
}

static const char *
meta_str(const json_t *tree, const char *field)
{
    return json_string_value(json_object_get(json_object_get(tree, "metadata"), field));
}

static int
check_namespace(struct req_ctx *c, json_t *tree, struct bsn_err *err)
{
    json_t *meta = meta_of(tree);
    if (!c->res->namespaced) {
        json_object_del(meta, "namespace");
        return 0;
    }
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (ns && *ns && c->ns[0] && strcmp(ns, c->ns) != 0)
        return bsn_err_set(err, 400, "BadRequest",
                           "the namespace of the provided object does not match the namespace "
                           "sent on the request");
    if (!c->ns[0] && ns && *ns)
        copyz(c->ns, sizeof(c->ns), ns);
    if (!c->ns[0])
        copyz(c->ns, sizeof(c->ns), "default");
    json_object_set_new(meta, "namespace", json_string(c->ns));
    return 0;
}

static int
check_namespace_exists(struct req_ctx *c, bool creating, struct bsn_err *err)
{
    if (!c->res->namespaced)
        return 0;
    const struct bsn_resource *nsres = bsn_registry_find("", "v1", "namespaces");
    char key[512];
    api_key(nsres, "", c->ns, key, sizeof(key));
    json_t *ns = api_lookup(c->srv, key, NULL);
    if (!ns)
        return bsn_err_set(err, 404, "NotFound", "namespaces \"%s\" not found", c->ns);
    bool terminating = meta_str(ns, "deletionTimestamp") != NULL;
    json_decref(ns);
    if (creating && terminating) {
        char rr[160];
        return bsn_err_set(err, 403, "Forbidden",
                           "%s \"%s\" is forbidden: unable to create new content in namespace %s "
                           "because it is being terminated",
                           resource_ref(c, rr, sizeof(rr)), c->name[0] ? c->name : "", c->ns);
    }
    return 0;
}

/* Defaults + generic metadata validation + kind validation. */
static int
default_and_validate(struct req_ctx *c, json_t *tree, const json_t *old, struct bsn_err *err)
{
    const struct bsn_strategy *st = c->res->strategy;
    if (st && st->defaults)
        st->defaults(tree);
    bsn_err_clear(err);
    int rc = api_validate_meta(c->res, tree, old, err);
    if (st && st->validate && st->validate(tree, old, err) < 0)
        rc = -1;
    if (rc < 0 || err->ncauses > 0) {
        char msg[BSN_ERR_MSG_MAX];
        struct bsn_buf b;
        bsn_buf_init(&b);
        const char *name = meta_str(tree, "name");
        bsn_buf_printf(&b, "%s%s%s \"%s\" is invalid: ", c->res->kind, c->res->group[0] ? "." : "",
                       c->res->group, name ? name : "");
        if (err->ncauses > 1)
            bsn_buf_putc(&b, '[');
        for (int i = 0; i < err->ncauses; i++) {
            if (i)
                bsn_buf_puts(&b, ", ");
            bsn_buf_printf(&b, "%s: %s", err->causes[i].field, err->causes[i].message);
        }
        if (err->ncauses > 1)
            bsn_buf_putc(&b, ']');
        if (err->ncauses == 0)
            bsn_buf_puts(&b, err->msg[0] ? err->msg : "invalid object");
        snprintf(msg, sizeof(msg), "%s", b.data);
        bsn_buf_fini(&b);
        err->code = 422;
        snprintf(err->reason, sizeof(err->reason), "Invalid");
        snprintf(err->msg, sizeof(err->msg), "%s", msg);
        return -1;
    }
    return 0;
}

static bool
spec_changed(const json_t *a, const json_t *b)
{
    /* Generation tracks everything but metadata and status. */
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v)
    {
        if (!strcmp(k, "metadata") || !strcmp(k, "status") || !strcmp(k, "apiVersion") ||
            !strcmp(k, "kind"))
            continue;
        if (!bsn_json_equal(v, json_object_get(b, k)))
            return true;
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (!strcmp(k, "metadata") || !strcmp(k, "status") || !strcmp(k, "apiVersion") ||
            !strcmp(k, "kind"))
            continue;
        if (!json_object_get(a, k))
            return true;
    }
    return false;
}

/* The members of objects a and b other than skip1 and skip2 are equal. */
static bool
same_members(const json_t *a, const json_t *b, const char *skip1, const char *skip2)
{
    if (!json_is_object(a) || !json_is_object(b))
        return bsn_json_equal(a, b);
    const char *k;
    json_t *v;
    size_t na = 0, nb = 0;
    json_object_foreach((json_t *)a, k, v)
    {
        if (!strcmp(k, skip1) || !strcmp(k, skip2))
            continue;
        na++;
        if (!bsn_json_equal(v, json_object_get(b, k)))
            return false;
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (strcmp(k, skip1) && strcmp(k, skip2))
            nb++;
    }
    return na == nb;
}

/* Equal but for metadata.resourceVersion and metadata.managedFields (compared in place: an
 * update of a large object must not copy it to find out it changed nothing). */
static bool
same_ignoring_rv(const json_t *a, const json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b))
        return bsn_json_equal(a, b);
    json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    if (!same_members(a, b, "metadata", "metadata"))
        return false;
    if (!ma || !mb)
        return ma == mb;
    return same_members(ma, mb, "resourceVersion", "managedFields");
}

/* ------------------------------------------------------------------ create */

/* Admission (DefaultIngressClass): a new Ingress without a class gets the default one. */
static void
default_ingress_class(struct bsn_apiserver *s, json_t *ing)
{
    json_t *spec = json_object_get(ing, "spec");
    json_t *ann = json_object_get(json_object_get(ing, "metadata"), "annotations");
    if (!json_is_object(spec) || json_object_get(spec, "ingressClassName") ||
        json_object_get(ann, "kubernetes.io/ingress.class"))
        return;
    size_t n;
    struct bsn_obj **cls = bsn_cache_list(&s->cache, "networking.k8s.io/ingressclasses", NULL, &n);
    const char *def = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *t = bsn_obj_tree(cls[i]);
        const char *v = json_string_value(
            json_object_get(json_object_get(json_object_get(t, "metadata"), "annotations"),
                            "ingressclass.kubernetes.io/is-default-class"));
        if (v && !strcmp(v, "true") && !def)
            def = cls[i]->name;
        json_decref(t);
    }
    if (def)
        json_object_set_new(spec, "ingressClassName", json_string(def));
    for (size_t i = 0; i < n; i++)
        bsn_obj_unref(cls[i]);
    free(cls);
}

/* Admission (DefaultStorageClass): a new claim without storageClassName gets the default
 * class (the newest one annotated is-default-class=true, as upstream). */
static void
default_storage_class(struct bsn_apiserver *s, json_t *pvc)
{
    json_t *spec = json_object_get(pvc, "spec");
    if (!json_is_object(spec) || json_object_get(spec, "storageClassName"))
        return;
    size_t n;
    struct bsn_obj **cls = bsn_cache_list(&s->cache, "storage.k8s.io/storageclasses", NULL, &n);
    json_t *def = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *t = bsn_obj_tree(cls[i]);
        json_t *ann = json_object_get(json_object_get(t, "metadata"), "annotations");
        const char *v =
            json_string_value(json_object_get(ann, "storageclass.kubernetes.io/is-default-class"));
        const char *ts =
            json_string_value(json_object_get(json_object_get(t, "metadata"), "creationTimestamp"));
        const char *dts = def ? json_string_value(json_object_get(json_object_get(def, "metadata"),
                                                                  "creationTimestamp"))
                              : NULL;
        if (v && !strcmp(v, "true") && (!def || strcmp(ts ?: "", dts ?: "") > 0)) {
            json_decref(def);
            def = t;
        } else {
            json_decref(t);
        }
    }
    if (def)
        json_object_set(spec, "storageClassName",
                        json_object_get(json_object_get(def, "metadata"), "name"));
    json_decref(def);
    for (size_t i = 0; i < n; i++)
        bsn_obj_unref(cls[i]);
    free(cls);
}

/* Admission (Priority): a pod's priorityClassName (or the globalDefault class) gives its
 * spec.priority and preemptionPolicy; an unknown class is refused. */
static int
admit_priority(struct bsn_apiserver *s, json_t *pod, struct bsn_err *err)
{
    json_t *spec = json_object_get(pod, "spec");
    if (!json_is_object(spec))
        return 0;
    const char *name = json_string_value(json_object_get(spec, "priorityClassName"));
    const struct bsn_resource *res =
        bsn_registry_find("scheduling.k8s.io", "v1", "priorityclasses");
    json_t *pc = NULL;
    if (name && *name) {
        char key[600];
        api_key(res, "", name, key, sizeof(key));
        pc = api_lookup(s, key, NULL);
        if (!pc) {
            bsn_err_set(err, 403, "Forbidden", "no PriorityClass with name %s was found", name);
            return -1;
        }
    } else {
        size_t n;
        struct bsn_obj **cls =
            bsn_cache_list(&s->cache, "scheduling.k8s.io/priorityclasses", NULL, &n);
        for (size_t i = 0; i < n; i++) {
            json_t *t = bsn_obj_tree(cls[i]);
            if (!pc && json_is_true(json_object_get(t, "globalDefault")))
                pc = t;
            else
                json_decref(t);
            bsn_obj_unref(cls[i]);
        }
        free(cls);
        if (pc)
            json_object_set(spec, "priorityClassName",
                            json_object_get(json_object_get(pc, "metadata"), "name"));
    }
    if (pc) {
        json_object_set(spec, "priority", json_object_get(pc, "value"));
        const char *pp = json_string_value(json_object_get(pc, "preemptionPolicy"));
        json_object_set_new(spec, "preemptionPolicy",
                            json_string(pp ? pp : "PreemptLowerPriority"));
        json_decref(pc);
    }
    return 0;
}

static void
finish_write(struct req_ctx *c, struct pending *p, int status)
{
    p->req = c->req;
    p->ctx = c;
    p->status = status;
}

static void
reply_dry_run(struct req_ctx *c, int status, json_t *tree)
{
    api_convert_out(tree, c->res);
    struct bsn_obj *o = bsn_obj_new("dry/run/x/x", tree, 0, 0);
    /* dry-run objects carry no resourceVersion of their own */
    json_t *t = bsn_obj_tree(o);
    bsn_obj_unref(o);
    api_reply_json(c, status, t);
}

static void
do_create(struct req_ctx *c, json_t *tree)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    if (check_type(c, tree, &err) < 0 || check_namespace(c, tree, &err) < 0) {
        api_reply_err(c, &err);
        json_decref(tree);
        return;
    }
    json_t *meta = meta_of(tree);
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *gen = json_string_value(json_object_get(meta, "generateName"));
    if ((!name || !*name) && gen && *gen) {
        char suffix[8], full[300];
        char key[600];
        for (int tries = 0; tries < 8; tries++) {
            api_random_suffix(suffix, 6);
            snprintf(full, sizeof(full), "%.*s%s", 253 - 5, gen, suffix);
            api_key(c->res, c->ns, full, key, sizeof(key));
            if (!api_exists(c->srv, key))
                break;
        }
        json_object_set_new(meta, "name", json_string(full));
        name = json_string_value(json_object_get(meta, "name"));
    }
    copyz(c->name, sizeof(c->name), name ? name : "");
    if (check_namespace_exists(c, true, &err) < 0) {
        api_reply_err(c, &err);
        json_decref(tree);
        return;
    }
    api_prepare_create_meta(c->srv, c->res, tree);
    if (!strcmp(c->res->plural, "ingresses") && !strcmp(c->res->group, "networking.k8s.io"))
        default_ingress_class(c->srv, tree);
    if (!strcmp(c->res->plural, "persistentvolumeclaims") && !c->res->group[0])
        default_storage_class(c->srv, tree);
    if (!strcmp(c->res->plural, "pods") && !c->res->group[0] &&
        admit_priority(c->srv, tree, &err) < 0) {
        api_reply_err(c, &err);
        json_decref(tree);
        return;
    }
    if (c->res->strategy && c->res->strategy->prepare_create)
        c->res->strategy->prepare_create(tree);
    if (default_and_validate(c, tree, NULL, &err) < 0) {
        api_reply_err(c, &err);
        json_decref(tree);
        return;
    }
    char key[600];
    api_key(c->res, c->ns, c->name, key, sizeof(key));
    if (api_exists(c->srv, key)) {
        char rr[160];
        api_reply_status(c, 409, "AlreadyExists", "%s \"%s\" already exists",
                         resource_ref(c, rr, sizeof(rr)), c->name);
        json_decref(tree);
        return;
    }
    if (strcmp(c->res->plural, "services") == 0 && !c->res->group[0]) {
        if (api_alloc_service(c->srv, tree, NULL, &err) < 0) {
            api_reply_err(c, &err);
            json_decref(tree);
            return;
        }
        if (c->dry_run)
            api_release_service(c->srv, tree);
    }
    if (c->dry_run) {
        reply_dry_run(c, 201, tree);
        json_decref(tree);
        return;
    }
    api_convert_in(tree, c->res);
    struct pending *p = api_write(c->srv, BSN_STORE_CREATE, key, tree, c->res);
    finish_write(c, p, 201);
    json_decref(tree);
}

/* ------------------------------------------------------------------ update / patch */

static void do_delete_obj(struct req_ctx *c, json_t *old, const char *key, int64_t grace,
                          const char *propagation, bool reply);

/* Common tail of PUT and PATCH: tree is the complete new object (in c->res's version). */
static void
do_update_tree(struct req_ctx *c, json_t *tree, json_t *old, int64_t cur_rev, const char *key)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    if (check_type(c, tree, &err) < 0) {
        api_reply_err(c, &err);
        goto out;
    }
    json_t *meta = meta_of(tree);
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (name && strcmp(name, c->name) != 0) {
        api_reply_status(c, 400, "BadRequest",
                         "the name of the object (%s) does not match the name on the URL (%s)",
                         name, c->name);
        goto out;
    }
    json_object_set_new(meta, "name", json_string(c->name));
    if (c->res->namespaced) {
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        if (ns && *ns && strcmp(ns, c->ns) != 0) {
            api_reply_status(c, 400, "BadRequest",
                             "the namespace of the provided object does not match the namespace "
                             "sent on the request");
            goto out;
        }
        json_object_set_new(meta, "namespace", json_string(c->ns));
    } else {
        json_object_del(meta, "namespace");
    }
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    if (rv && *rv) {
        char cur[32];
        snprintf(cur, sizeof(cur), "%lld", (long long)cur_rev);
        if (cur_rev < 0 || strcmp(rv, cur) != 0) {
            reply_conflict(c, c->name);
            goto out;
        }
    }
    /* what the client may not change */
    json_t *ometa = json_object_get(old, "metadata");
    static const char *const keep[] = {
        "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
        NULL};
    for (int i = 0; keep[i]; i++) {
        json_t *v = json_object_get(ometa, keep[i]);
        if (v)
            json_object_set(meta, keep[i], v);
        else
            json_object_del(meta, keep[i]);
    }
    json_object_set_new(meta, "resourceVersion", json_string(""));
    const struct bsn_strategy *st = c->res->strategy;
    if (strcmp(c->sub, "status") == 0) {
        /* status update: only status (and nothing of spec) may change */
        json_t *oldcopy = json_deep_copy(old);
        json_object_set(oldcopy, "status",
                        json_object_get(tree, "status") ? json_object_get(tree, "status")
                                                        : json_object());
        json_t *m2 = meta_of(oldcopy);
        json_object_set_new(m2, "resourceVersion", json_string(""));
        if (st && st->prepare_status_update)
            st->prepare_status_update(oldcopy, old);
        json_decref(tree);
        tree = oldcopy;
        meta = meta_of(tree);
    } else {
        if (has_status_sub(c->res)) {
            json_t *s = json_object_get(old, "status");
            if (s)
                json_object_set(tree, "status", s);
            else
                json_object_del(tree, "status");
        }
        if (st && st->prepare_update)
            st->prepare_update(tree, old);
    }
    if (default_and_validate(c, tree, old, &err) < 0) {
        api_reply_err(c, &err);
        goto out;
    }
    if (spec_changed(old, tree)) {
        json_int_t g = json_integer_value(json_object_get(ometa, "generation"));
        json_object_set_new(meta, "generation", json_integer(g + 1));
    }
    if (strcmp(c->res->plural, "services") == 0 && !c->res->group[0]) {
        if (api_alloc_service(c->srv, tree, old, &err) < 0) {
            api_reply_err(c, &err);
            goto out;
        }
    }
    /* finalizers gone on an object being deleted: the delete completes now */
    json_t *fin = json_object_get(meta, "finalizers");
    if (json_object_get(meta, "deletionTimestamp") && json_array_size(fin) == 0 && !c->dry_run) {
        json_object_set_new(meta, "resourceVersion",
                            json_string(meta_str(old, "resourceVersion") ?: ""));
        do_delete_obj(c, tree, key, 0, "Background", true);
        json_decref(old);
        return;
    }
    bool same = same_ignoring_rv(old, tree);
    if (same || c->dry_run) {
        /* no-op update: answer with the current object, nothing written */
        if (same) {
            json_t *cur = json_deep_copy(old);
            api_convert_out(cur, c->res);
            api_reply_json(c, 200, cur);
        } else {
            reply_dry_run(c, 200, tree);
        }
        goto out;
    }
    api_convert_in(tree, c->res);
    struct pending *p = api_write(c->srv, BSN_STORE_UPDATE, key, tree, c->res);
    finish_write(c, p, 200);
    json_decref(tree);
    json_decref(old);
    return;
out:
    json_decref(tree);
    json_decref(old);
}

static json_t *
load_current(struct req_ctx *c, char *key, size_t keyn, int64_t *rev)
{
    api_key(c->res, c->ns, c->name, key, keyn);
    json_t *old = api_lookup(c->srv, key, rev);
    if (!old)
        return NULL;
    api_convert_out(old, c->res);
    return old;
}

static void
do_update(struct req_ctx *c, json_t *tree)
{
    char key[600];
    int64_t rev = 0;
    json_t *old = load_current(c, key, sizeof(key), &rev);
    if (!old) {
        reply_not_found(c, c->name);
        json_decref(tree);
        return;
    }
    do_update_tree(c, tree, old, rev, key);
}

enum patch_type { PATCH_JSON, PATCH_MERGE, PATCH_STRATEGIC, PATCH_APPLY, PATCH_UNKNOWN };

static enum patch_type
patch_type_of(const char *ctype)
{
    if (!ctype)
        return PATCH_UNKNOWN;
    if (strncmp(ctype, "application/json-patch+json", 27) == 0)
        return PATCH_JSON;
    if (strncmp(ctype, "application/merge-patch+json", 28) == 0)
        return PATCH_MERGE;
    if (strncmp(ctype, "application/strategic-merge-patch+json", 38) == 0)
        return PATCH_STRATEGIC;
    if (strncmp(ctype, "application/apply-patch+yaml", 28) == 0)
        return PATCH_APPLY;
    return PATCH_UNKNOWN;
}

static void
do_patch(struct req_ctx *c)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    enum patch_type pt = patch_type_of(c->ctype);
    if (pt == PATCH_UNKNOWN) {
        api_reply_status(c, 415, "UnsupportedMediaType",
                         "the body of the request was in an unknown format - accepted media "
                         "types include: application/json-patch+json, "
                         "application/merge-patch+json, application/apply-patch+yaml, "
                         "application/strategic-merge-patch+json");
        return;
    }
    json_t *patch = NULL;
    if (pt == PATCH_APPLY)
        patch = bsn_yaml_parse_one(c->body ? c->body : "", c->body_len, &err);
    else
        patch = bsn_json_parse(c->body ? c->body : "", c->body_len, &err);
    if (!patch || (pt != PATCH_JSON && check_unknown_fields(c, patch, &err) < 0)) {
        json_decref(patch);
        api_reply_err(c, &err);
        return;
    }
    char key[600];
    int64_t rev = 0;
    json_t *old = load_current(c, key, sizeof(key), &rev);
    if (!old) {
        if (pt == PATCH_APPLY && !c->sub[0] && json_is_object(patch)) {
            /* server-side apply creates what does not exist */
            do_create(c, patch);
            return;
        }
        reply_not_found(c, c->name);
        json_decref(patch);
        return;
    }
    json_t *doc = json_deep_copy(old);
    int rc = 0;
    switch (pt) {
    case PATCH_JSON:
        if (!json_is_array(patch)) {
            rc = bsn_err_set(&err, 400, "BadRequest",
                             "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
            break;
        }
        rc = bsn_json_patch_apply(&doc, patch, &err);
        break;
    case PATCH_MERGE: {
        if (!json_is_object(patch)) {
            rc = bsn_err_set(&err, 400, "BadRequest", "merge patch must be a JSON object");
            break;
        }
        json_t *n = bsn_merge_patch_apply(doc, patch);
        json_decref(doc);
        doc = n;
        break;
    }
    case PATCH_STRATEGIC:
        if (!bsn_smp_supported(c->res->group, c->res->kind)) {
            rc = bsn_err_set(&err, 415, "UnsupportedMediaType",
                             "strategic merge patch is not supported for %s", c->res->kind);
            break;
        }
        if (!json_is_object(patch)) {
            rc = bsn_err_set(&err, 400, "BadRequest", "strategic merge patch must be an object");
            break;
        }
        rc = bsn_smp_apply(&doc, patch, c->res->group, c->res->kind, &err);
        break;
    case PATCH_APPLY:
        /* Server-side apply without field ownership: the applied configuration is merged
         * into the live object with strategic-merge semantics (fields are set, never
         * removed). See docs/api.md. */
        if (!json_is_object(patch)) {
            rc = bsn_err_set(&err, 400, "BadRequest", "apply patch must be an object");
            break;
        }
        json_object_del(json_object_get(patch, "metadata"), "resourceVersion");
        if (bsn_smp_supported(c->res->group, c->res->kind))
            rc = bsn_smp_apply(&doc, patch, c->res->group, c->res->kind, &err);
        else {
            json_t *n = bsn_merge_patch_apply(doc, patch);
            json_decref(doc);
            doc = n;
        }
        break;
    default:
        break;
    }
    json_decref(patch);
    if (rc < 0 || !doc) {
        if (!bsn_err_is_set(&err))
            bsn_err_set(&err, 422, "Invalid", "the patch could not be applied");
        if (err.code == 400 && pt == PATCH_JSON)
            err.code = 422, snprintf(err.reason, sizeof(err.reason), "Invalid");
        api_reply_err(c, &err);
        json_decref(doc);
        json_decref(old);
        return;
    }
    /* a patch that does not mention resourceVersion is unconditional (also when the object
     * has a write still queued in this batch, whose version no client can know yet) */
    const char *prv = meta_str(doc, "resourceVersion");
    const char *orv = meta_str(old, "resourceVersion");
    if (prv && orv && strcmp(prv, orv) == 0)
        json_object_del(meta_of(doc), "resourceVersion");
    do_update_tree(c, doc, old, rev, key);
}

/* ------------------------------------------------------------------ delete */

static void cascade_dependents(struct bsn_apiserver *s, const char *uid, bool orphan, int depth);

static void
write_delete(struct bsn_apiserver *s, const char *key, json_t *tree, const char *uid,
             bool orphan_deps, int depth)
{
    api_write(s, BSN_STORE_DELETE, key, tree, NULL);
    json_decref(tree);
    if (uid)
        cascade_dependents(s, uid, orphan_deps, depth + 1);
}

/* Garbage collection of dependents (ownerReferences) at delete time. Background and
 * Foreground both delete dependents; Orphan removes the owner reference instead. */
static void
cascade_dependents(struct bsn_apiserver *s, const char *uid, bool orphan, int depth)
{
    if (depth > 8)
        return;
    size_t it = 0;
    void *bv;
    const char *bkey;
    /* collect first: writes change the cache's overlay but not the buckets */
    struct bsn_obj **deps = NULL;
    size_t ndeps = 0, cap = 0;
    while (bsn_map_next(&s->cache.buckets, &it, &bkey, &bv)) {
        struct bsn_bucket *b = bv;
        size_t j = 0;
        void *ov;
        while (bsn_map_next(&b->objs, &j, NULL, &ov)) {
            struct bsn_obj *o = ov;
            if (!strstr(o->json, "\"ownerReferences\"") || !strstr(o->json, uid))
                continue;
            if (ndeps == cap) {
                cap = cap ? cap * 2 : 16;
                deps = bsn_realloc(deps, cap * sizeof(*deps));
            }
            deps[ndeps++] = bsn_obj_ref(o);
        }
    }
    for (size_t i = 0; i < ndeps; i++) {
        struct bsn_obj *o = deps[i];
        if (!api_exists(s, o->key)) {
            bsn_obj_unref(o);
            continue;
        }
        json_t *tree = api_lookup(s, o->key, NULL);
        json_t *refs = json_object_get(json_object_get(tree, "metadata"), "ownerReferences");
        size_t idx;
        json_t *ref;
        int found = -1, total = (int)json_array_size(refs);
        json_array_foreach(refs, idx, ref)
        {
            if (strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid) == 0)
                found = (int)idx;
        }
        if (found < 0) {
            json_decref(tree);
            bsn_obj_unref(o);
            continue;
        }
        if (orphan || total > 1) {
            json_array_remove(refs, (size_t)found);
            if (json_array_size(refs) == 0)
                json_object_del(json_object_get(tree, "metadata"), "ownerReferences");
            api_write(s, BSN_STORE_UPDATE, o->key, tree, NULL);
            json_decref(tree);
        } else {
            write_delete(s, o->key, tree, o->uid, false, depth);
        }
        bsn_obj_unref(o);
    }
    free(deps);
}

static void delete_namespace_contents(struct bsn_apiserver *s, const char *ns);

static void
do_delete_obj(struct req_ctx *c, json_t *old, const char *key, int64_t grace,
              const char *propagation, bool reply)
{
    json_t *meta = meta_of(old);
    /* Foreground: the owner stays, being deleted, with the foregroundDeletion finalizer that
     * the garbage collector removes once its blocking dependents are gone (deleted now) */
    bool foreground = propagation && !strcmp(propagation, "Foreground") && !c->dry_run &&
                      !json_object_get(meta, "deletionTimestamp");
    if (foreground) {
        json_t *f = json_object_get(meta, "finalizers");
        if (!json_is_array(f)) {
            f = json_array();
            json_object_set_new(meta, "finalizers", f);
        }
        json_array_append_new(f, json_string("foregroundDeletion"));
    }
    json_t *fin = json_object_get(meta, "finalizers");
    bool orphan = propagation && strcmp(propagation, "Orphan") == 0;
    if (json_array_size(fin) > 0) {
        /* finalizers: mark for deletion; whoever owns the finalizer completes it */
        if (!json_object_get(meta, "deletionTimestamp")) {
            char now[40];
            api_now_rfc3339(now, sizeof(now));
            json_object_set_new(meta, "deletionTimestamp", json_string(now));
            json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(0));
            if (c->dry_run) {
                reply_dry_run(c, 200, old);
                json_decref(old);
                return;
            }
            api_convert_in(old, c->res);
            struct pending *p = api_write(c->srv, BSN_STORE_UPDATE, key, old, c->res);
            if (reply)
                finish_write(c, p, 200);
            if (foreground && meta_str(old, "uid"))
                cascade_dependents(c->srv, meta_str(old, "uid"), false, 0);
            json_decref(old);
            return;
        }
        if (reply) {
            api_reply_json(c, 200, old);
            return;
        }
        json_decref(old);
        return;
    }
    /* pods bound to a node terminate gracefully: the node agent finishes the delete */
    bool is_pod = !c->res->group[0] && strcmp(c->res->plural, "pods") == 0;
    const char *node = json_string_value(json_object_get(json_object_get(old, "spec"), "nodeName"));
    const char *phase = json_string_value(json_object_get(json_object_get(old, "status"), "phase"));
    bool finished = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
    if (is_pod && node && *node && grace != 0 && !finished) {
        if (grace < 0) {
            grace = json_integer_value(
                json_object_get(json_object_get(old, "spec"), "terminationGracePeriodSeconds"));
            if (!json_object_get(json_object_get(old, "spec"), "terminationGracePeriodSeconds"))
                grace = 30;
        }
        if (grace > 0) {
            json_t *dgp = json_object_get(meta, "deletionGracePeriodSeconds");
            if (!json_object_get(meta, "deletionTimestamp") ||
                (dgp && json_integer_value(dgp) > grace)) {
                char when[40];
                bsn_time_format(bsn_time_now() + grace, when, sizeof(when));
                json_object_set_new(meta, "deletionTimestamp", json_string(when));
                json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(grace));
                if (c->dry_run) {
                    reply_dry_run(c, 200, old);
                    json_decref(old);
                    return;
                }
                api_convert_in(old, c->res);
                struct pending *p = api_write(c->srv, BSN_STORE_UPDATE, key, old, c->res);
                if (reply)
                    finish_write(c, p, 200);
                json_decref(old);
                return;
            }
            if (reply)
                api_reply_json(c, 200, old);
            else
                json_decref(old);
            return;
        }
    }
    if (c->dry_run) {
        if (reply)
            reply_dry_run(c, 200, old);
        json_decref(old);
        return;
    }
    bool is_ns = !c->res->group[0] && strcmp(c->res->plural, "namespaces") == 0;
    if (is_ns)
        delete_namespace_contents(c->srv, c->name);
    char *uid = bsn_strdup(meta_str(old, "uid") ?: "");
    api_convert_in(old, c->res);
    struct pending *p = api_write(c->srv, BSN_STORE_DELETE, key, old, c->res);
    if (reply)
        finish_write(c, p, 200);
    if (*uid)
        cascade_dependents(c->srv, uid, orphan, 0);
    free(uid);
    json_decref(old);
}

static void
delete_namespace_contents(struct bsn_apiserver *s, const char *ns)
{
    size_t it = 0;
    void *bv;
    while (bsn_map_next(&s->cache.buckets, &it, NULL, &bv)) {
        struct bsn_bucket *b = bv;
        size_t j = 0;
        void *ov;
        while (bsn_map_next(&b->objs, &j, NULL, &ov)) {
            struct bsn_obj *o = ov;
            if (!o->ns[0] || strcmp(o->ns, ns) != 0 || !api_exists(s, o->key))
                continue;
            json_t *tree = api_lookup(s, o->key, NULL);
            api_write(s, BSN_STORE_DELETE, o->key, tree, NULL);
            json_decref(tree);
        }
    }
}

static void
parse_delete_opts(struct req_ctx *c, int64_t *grace, char *prop, size_t propn, char *pre_uid,
                  char *pre_rv, bool *bad)
{
    char v[64];
    *grace = -1;
    *bad = false;
    pre_uid[0] = pre_rv[0] = '\0';
    if (api_query(c, "gracePeriodSeconds", v, sizeof(v)))
        *grace = strtoll(v, NULL, 10);
    if (api_query(c, "propagationPolicy", v, sizeof(v)))
        copyz(prop, propn, v);
    if (api_query(c, "orphanDependents", v, sizeof(v)) && strcmp(v, "true") == 0)
        copyz(prop, propn, "Orphan");
    if (c->body && c->body_len > 0) {
        struct bsn_err err;
        json_t *o = c->ctype && bsn_proto_content_type(bsn_str_c(c->ctype))
                        ? bsn_proto_decode(c->body, c->body_len, &err)
                        : bsn_json_parse(c->body, c->body_len, &err);
        if (!o || !json_is_object(o)) {
            *bad = true;
            json_decref(o);
            return;
        }
        json_t *g = json_object_get(o, "gracePeriodSeconds");
        if (json_is_integer(g))
            *grace = json_integer_value(g);
        const char *pp = json_string_value(json_object_get(o, "propagationPolicy"));
        if (pp)
            copyz(prop, propn, pp);
        if (json_is_true(json_object_get(o, "orphanDependents")))
            copyz(prop, propn, "Orphan");
        json_t *pre = json_object_get(o, "preconditions");
        const char *u = json_string_value(json_object_get(pre, "uid"));
        const char *r = json_string_value(json_object_get(pre, "resourceVersion"));
        if (u)
            copyz(pre_uid, 64, u);
        if (r)
            copyz(pre_rv, 32, r);
        json_t *dr = json_object_get(o, "dryRun");
        if (json_array_size(dr) > 0)
            c->dry_run = true;
        json_decref(o);
    }
}

static void
do_delete(struct req_ctx *c)
{
    char key[600], prop[32] = "Background", pre_uid[64], pre_rv[32];
    int64_t grace, rev = 0;
    bool bad;
    parse_delete_opts(c, &grace, prop, sizeof(prop), pre_uid, pre_rv, &bad);
    if (bad) {
        api_reply_status(c, 400, "BadRequest", "the request body is not valid DeleteOptions");
        return;
    }
    if (strcmp(prop, "Background") && strcmp(prop, "Foreground") && strcmp(prop, "Orphan")) {
        api_reply_status(c, 422, "Invalid",
                         "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: "
                         "Unsupported value: \"%s\": supported values: \"Foreground\", "
                         "\"Background\", \"Orphan\", \"nil\"",
                         prop);
        return;
    }
    json_t *old = load_current(c, key, sizeof(key), &rev);
    if (!old) {
        reply_not_found(c, c->name);
        return;
    }
    if (pre_uid[0] && strcmp(pre_uid, meta_str(old, "uid") ?: "") != 0) {
        char rr[160];
        api_reply_status(c, 409, "Conflict",
                         "Operation cannot be fulfilled on %s \"%s\": Precondition failed: "
                         "UID in precondition: %s, UID in object meta: %s",
                         resource_ref(c, rr, sizeof(rr)), c->name, pre_uid,
                         meta_str(old, "uid") ?: "");
        json_decref(old);
        return;
    }
    if (pre_rv[0] && strcmp(pre_rv, meta_str(old, "resourceVersion") ?: "") != 0) {
        reply_conflict(c, c->name);
        json_decref(old);
        return;
    }
    do_delete_obj(c, old, key, grace, prop, true);
}

/* ------------------------------------------------------------------ get / list */

static void
do_get(struct req_ctx *c)
{
    char key[600];
    api_key(c->res, c->ns, c->name, key, sizeof(key));
    struct bsn_obj *o = bsn_cache_get(&c->srv->cache, key);
    if (!o) {
        reply_not_found(c, c->name);
        return;
    }
    api_reply_obj(c, 200, o);
}

static void
encode_continue(const char *key, int64_t rev, char *out, size_t n)
{
    /* base64url of {"v":"meta.k8s.io/v1","rv":N,"start":"key"} */
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char raw[800];
    int len = snprintf(raw, sizeof(raw), "{\"v\":\"meta.k8s.io/v1\",\"rv\":%lld,\"start\":\"%s\"}",
                       (long long)rev, key);
    size_t k = 0;
    for (int i = 0; i < len && k + 5 < n; i += 3) {
        unsigned v = (unsigned char)raw[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)raw[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)raw[i + 2];
        out[k++] = tbl[(v >> 18) & 63];
        out[k++] = tbl[(v >> 12) & 63];
        if (i + 1 < len)
            out[k++] = tbl[(v >> 6) & 63];
        if (i + 2 < len)
            out[k++] = tbl[v & 63];
    }
    out[k] = '\0';
}

static int
decode_continue(const char *tok, char *key, size_t keyn)
{
    char raw[800];
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = tok; *p; p++) {
        int v;
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '-' || ch == '+')
            v = 62;
        else if (ch == '_' || ch == '/')
            v = 63;
        else if (ch == '=')
            break;
        else
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k + 1 >= sizeof(raw))
                return -1;
            raw[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    raw[k] = '\0';
    struct bsn_err err;
    json_t *o = bsn_json_parse(raw, k, &err);
    const char *start = json_string_value(json_object_get(o, "start"));
    if (!start) {
        json_decref(o);
        return -1;
    }
    copyz(key, keyn, start);
    json_decref(o);
    return 0;
}

static void
do_list(struct req_ctx *c)
{
    char lsel[4096] = "", fsel[4096] = "", lim[32] = "", cont[1100] = "";
    api_query(c, "labelSelector", lsel, sizeof(lsel));
    api_query(c, "fieldSelector", fsel, sizeof(fsel));
    api_query(c, "limit", lim, sizeof(lim));
    api_query(c, "continue", cont, sizeof(cont));
    struct bsn_err err;
    bsn_err_clear(&err);
    struct api_filter *f = api_filter_new(c->res, c->ns, lsel, fsel, &err);
    if (!f) {
        api_reply_err(c, &err);
        return;
    }
    char start[600] = "";
    if (cont[0] && decode_continue(cont, start, sizeof(start)) < 0) {
        api_reply_status(c, 400, "BadRequest", "continue key is not valid: illegal base64 data");
        api_filter_free(f);
        return;
    }
    long limit = lim[0] ? strtol(lim, NULL, 10) : 0;
    char rkey[200];
    api_rkey(c->res, rkey, sizeof(rkey));
    size_t n;
    struct bsn_obj **objs = bsn_cache_list(&c->srv->cache, rkey, c->ns, &n);
    struct bsn_obj **sel = bsn_malloc((n ? n : 1) * sizeof(*sel));
    size_t k = 0, remaining = 0;
    const char *next_key = NULL;
    for (size_t i = 0; i < n; i++) {
        if (start[0] && strcmp(objs[i]->key, start) <= 0)
            continue;
        if (!api_filter_match(f, objs[i]))
            continue;
        if (limit > 0 && (long)k >= limit) {
            remaining++;
            continue;
        }
        sel[k++] = objs[i];
    }
    if (remaining > 0 && k > 0)
        next_key = sel[k - 1]->key;
    char rv[32], ctok[1100] = "";
    snprintf(rv, sizeof(rv), "%lld", (long long)c->srv->cache.rev);
    if (next_key)
        encode_continue(next_key, c->srv->cache.rev, ctok, sizeof(ctok));

    if (c->table) {
        json_t *t = api_table(c->res, sel, k, rv, ctok, true);
        api_reply_json(c, 200, t);
    } else {
        const struct bsn_resource *st = api_storage_resource(c->res);
        bool convert = st != c->res;
        struct bsn_buf b;
        bsn_buf_init(&b);
        char av[128];
        if (c->res->group[0])
            snprintf(av, sizeof(av), "%s/%s", c->res->group, c->res->version);
        else
            snprintf(av, sizeof(av), "%s", c->res->version);
        bsn_buf_printf(&b, "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{",
                       c->res->kind, av);
        bsn_buf_printf(&b, "\"resourceVersion\":\"%s\"", rv);
        if (ctok[0])
            bsn_buf_printf(&b, ",\"continue\":\"%s\",\"remainingItemCount\":%zu", ctok, remaining);
        bsn_buf_puts(&b, "},\"items\":[");
        for (size_t i = 0; i < k; i++) {
            if (i)
                bsn_buf_putc(&b, ',');
            if (convert) {
                json_t *t = bsn_obj_tree(sel[i]);
                api_convert_out(t, c->res);
                bsn_json_dump_buf(t, &b);
                json_decref(t);
            } else {
                bsn_buf_append(&b, sel[i]->json, sel[i]->len);
            }
        }
        bsn_buf_puts(&b, "]}");
        if (c->yaml) {
            json_t *t = bsn_json_parse(b.data, b.len, &err);
            api_reply_json(c, 200, t);
        } else {
            api_reply_raw(c, 200, "application/json", b.data, b.len);
        }
        bsn_buf_fini(&b);
    }
    for (size_t i = 0; i < n; i++)
        bsn_obj_unref(objs[i]);
    free(objs);
    free(sel);
    api_filter_free(f);
}

static void
do_delete_collection(struct req_ctx *c)
{
    char lsel[4096] = "", fsel[4096] = "";
    api_query(c, "labelSelector", lsel, sizeof(lsel));
    api_query(c, "fieldSelector", fsel, sizeof(fsel));
    struct bsn_err err;
    struct api_filter *f = api_filter_new(c->res, c->ns, lsel, fsel, &err);
    if (!f) {
        api_reply_err(c, &err);
        return;
    }
    char rkey[200], prop[32] = "Background", pre_uid[64], pre_rv[32];
    int64_t grace;
    bool bad;
    parse_delete_opts(c, &grace, prop, sizeof(prop), pre_uid, pre_rv, &bad);
    api_rkey(c->res, rkey, sizeof(rkey));
    size_t n;
    struct bsn_obj **objs = bsn_cache_list(&c->srv->cache, rkey, c->ns, &n);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        if (api_filter_match(f, objs[i]) && api_exists(c->srv, objs[i]->key)) {
            json_t *t = bsn_obj_tree(objs[i]);
            copyz(c->name, sizeof(c->name), objs[i]->name);
            json_array_append(items, t);
            do_delete_obj(c, t, objs[i]->key, grace, prop, false);
        }
        bsn_obj_unref(objs[i]);
    }
    free(objs);
    api_filter_free(f);
    char av[128];
    snprintf(av, sizeof(av), "%s%s%s", c->res->group, c->res->group[0] ? "/" : "", c->res->version);
    json_t *list = json_pack("{s:s+,s:s,s:{},s:o}", "kind", c->res->kind, "List", "apiVersion", av,
                             "metadata", "items", items);
    api_reply_json(c, 200, list);
}

/* ------------------------------------------------------------------ scale */

json_t *
api_scale_json(const json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *status = json_object_get(obj, "status");
    json_t *meta = json_object_get(obj, "metadata");
    json_t *sel = json_object_get(spec, "selector");
    char selstr[1024] = "";
    json_t *ml = json_object_get(sel, "matchLabels");
    if (!ml && json_is_object(sel) && !json_object_get(sel, "matchExpressions"))
        ml = sel; /* ReplicationController: a plain map */
    const char *k;
    json_t *v;
    size_t off = 0;
    json_object_foreach(ml, k, v)
    {
        off += (size_t)snprintf(selstr + off, sizeof(selstr) - off, "%s%s=%s", off ? "," : "", k,
                                json_string_value(v) ?: "");
        if (off >= sizeof(selstr))
            break;
    }
    json_t *s = json_pack(
        "{s:s,s:s,s:{s:O*,s:O*,s:O*,s:O*,s:O*},s:{s:I},s:{s:I,s:s}}", "kind", "Scale", "apiVersion",
        "autoscaling/v1", "metadata", "name", json_object_get(meta, "name"), "namespace",
        json_object_get(meta, "namespace"), "uid", json_object_get(meta, "uid"), "resourceVersion",
        json_object_get(meta, "resourceVersion"), "creationTimestamp",
        json_object_get(meta, "creationTimestamp"), "spec", "replicas",
        (json_int_t)json_integer_value(json_object_get(spec, "replicas")), "status", "replicas",
        (json_int_t)json_integer_value(json_object_get(status, "replicas")), "selector", selstr);
    return s;
}

static void
do_scale(struct req_ctx *c)
{
    char key[600];
    int64_t rev = 0;
    json_t *old = load_current(c, key, sizeof(key), &rev);
    if (!old) {
        reply_not_found(c, c->name);
        return;
    }
    if (strcmp(c->method, "GET") == 0) {
        api_reply_json(c, 200, api_scale_json(old));
        json_decref(old);
        return;
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *scale = api_scale_json(old);
    json_t *next = NULL;
    if (strcmp(c->method, "PUT") == 0) {
        next = decode_body(c, &err);
    } else {
        enum patch_type pt = patch_type_of(c->ctype);
        json_t *patch = bsn_json_parse(c->body ? c->body : "", c->body_len, &err);
        if (patch) {
            next = json_deep_copy(scale);
            if (pt == PATCH_JSON) {
                if (bsn_json_patch_apply(&next, patch, &err) < 0) {
                    json_decref(next);
                    next = NULL;
                }
            } else {
                json_t *n = bsn_merge_patch_apply(next, patch);
                json_decref(next);
                next = n;
            }
            json_decref(patch);
        }
    }
    if (!next) {
        api_reply_err(c, &err);
        json_decref(scale);
        json_decref(old);
        return;
    }
    json_t *r = json_object_get(json_object_get(next, "spec"), "replicas");
    if (!json_is_integer(r) || json_integer_value(r) < 0) {
        api_reply_status(c, 422, "Invalid",
                         "Scale.autoscaling \"%s\" is invalid: spec.replicas: Invalid value: %lld: "
                         "must be greater than or equal to 0",
                         c->name, (long long)json_integer_value(r));
        json_decref(next);
        json_decref(scale);
        json_decref(old);
        return;
    }
    const char *srv = meta_str(next, "resourceVersion");
    json_t *tree = json_deep_copy(old);
    json_object_set(json_object_get(tree, "spec"), "replicas", r);
    if (srv && *srv)
        json_object_set_new(meta_of(tree), "resourceVersion", json_string(srv));
    json_decref(next);
    json_decref(scale);
    /* respond with a Scale: convert the update's answer in the done hook */
    c->sub[0] = '\0';
    copyz(c->sub, sizeof(c->sub), "scale-write");
    do_update_tree(c, tree, old, rev, key);
}

/* ------------------------------------------------------------------ binding / eviction */

static void
do_binding(struct req_ctx *c)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *b = decode_body(c, &err);
    if (!b) {
        api_reply_err(c, &err);
        return;
    }
    const char *target = json_string_value(json_object_get(json_object_get(b, "target"), "name"));
    if (!target || !*target) {
        api_reply_status(c, 422, "Invalid",
                         "Binding \"%s\" is invalid: target.name: Required value", c->name);
        json_decref(b);
        return;
    }
    char key[600];
    int64_t rev;
    json_t *pod = load_current(c, key, sizeof(key), &rev);
    if (!pod) {
        reply_not_found(c, c->name);
        json_decref(b);
        return;
    }
    json_t *spec = json_object_get(pod, "spec");
    const char *cur = json_string_value(json_object_get(spec, "nodeName"));
    if (cur && *cur) {
        api_reply_status(c, 409, "Conflict",
                         "Operation cannot be fulfilled on pods/binding \"%s\": pod %s is already "
                         "assigned to node \"%s\"",
                         c->name, c->name, cur);
        json_decref(pod);
        json_decref(b);
        return;
    }
    json_object_set_new(spec, "nodeName", json_string(target));
    json_t *status = json_object_get(pod, "status");
    if (!json_is_object(status)) {
        status = json_object();
        json_object_set_new(pod, "status", status);
    }
    json_t *conds = json_object_get(status, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    size_t i;
    json_t *cond;
    json_array_foreach(conds, i, cond)
    {
        if (strcmp(json_string_value(json_object_get(cond, "type")) ?: "", "PodScheduled") == 0) {
            json_array_remove(conds, i);
            break;
        }
    }
    char now[40];
    api_now_rfc3339(now, sizeof(now));
    json_array_append_new(conds, json_pack("{s:s,s:s,s:n,s:s}", "type", "PodScheduled", "status",
                                           "True", "lastProbeTime", "lastTransitionTime", now));
    json_decref(b);
    api_convert_in(pod, c->res);
    struct pending *p = api_write(c->srv, BSN_STORE_UPDATE, key, pod, c->res);
    p->answer_status = true;
    finish_write(c, p, 201);
    json_decref(pod);
}

static void
do_eviction(struct req_ctx *c)
{
    char key[600];
    int64_t rev;
    json_t *pod = load_current(c, key, sizeof(key), &rev);
    if (!pod) {
        reply_not_found(c, c->name);
        return;
    }
    /* PodDisruptionBudgets: refuse if a matching budget has no disruptions left */
    const struct bsn_resource *pdbres = bsn_registry_find("policy", "v1", "poddisruptionbudgets");
    char rkey[200];
    api_rkey(pdbres, rkey, sizeof(rkey));
    size_t n;
    struct bsn_obj **pdbs = bsn_cache_list(&c->srv->cache, rkey, c->ns, &n);
    bool blocked = false;
    char pdbname[254] = "";
    json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
    for (size_t i = 0; i < n; i++) {
        json_t *pdb = bsn_obj_tree(pdbs[i]);
        json_t *sel = json_object_get(json_object_get(pdb, "spec"), "selector");
        /* a PDB's selector (matchLabels and matchExpressions); an empty one matches all pods */
        struct bsn_err err;
        struct bsn_selector ls;
        bool match = false;
        if (bsn_selector_from_json(sel, &ls, &err) == 0) {
            match = bsn_selector_match(&ls, labels);
            bsn_selector_fini(&ls);
        }
        if (match) {
            json_t *allowed = json_object_get(json_object_get(pdb, "status"), "disruptionsAllowed");
            if (!allowed || json_integer_value(allowed) <= 0) {
                blocked = true;
                copyz(pdbname, sizeof(pdbname), pdbs[i]->name);
            }
        }
        json_decref(pdb);
        bsn_obj_unref(pdbs[i]);
    }
    free(pdbs);
    if (blocked) {
        struct bsn_err err;
        bsn_err_set(&err, 429, "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.");
        bsn_err_add_cause(&err, "DisruptionBudget", "",
                          "The disruption budget %s needs more healthy pods to allow eviction",
                          pdbname);
        err.retry_after = 10;
        api_reply_err(c, &err);
        json_decref(pod);
        return;
    }
    do_delete_obj(c, pod, key, -1, "Background", false);
    api_reply_json(c, 201,
                   json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                             "metadata", "status", "Success", "code", 201));
}

/* ------------------------------------------------------------------ agent subresources */

static void
do_pod_subresource(struct req_ctx *c)
{
    c->verb = VERB_GET;
    char key[600];
    api_key(c->res, c->ns, c->name, key, sizeof(key));
    struct bsn_obj *pod = bsn_cache_get(&c->srv->cache, key);
    if (!pod) {
        reply_not_found(c, c->name);
        return;
    }
    if (!api_stream_validate(c, pod))
        return;
    if (api_nodeproxy(c, pod)) /* the pod's node serves its own kubelet endpoint */
        return;
    for (size_t i = 0; i < BSN_ARRAY_LEN(c->srv->pod_handlers); i++) {
        struct pod_handler *h = &c->srv->pod_handlers[i];
        if (h->fn && !strcmp(h->sub, c->sub)) {
            h->fn((struct bsn_api_reply *)c, c->ns, c->name, c->sub, h->data);
            return;
        }
    }
    api_reply_status(c, 400, "BadRequest",
                     "pods/%s for pod %s/%s: no node agent serves this subresource", c->sub, c->ns,
                     c->name);
}

void
bsn_apiserver_set_pod_handler(struct bsn_apiserver *s, const char *sub, bsn_api_subresource_fn fn,
                              void *data)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(s->pod_handlers); i++) {
        struct pod_handler *h = &s->pod_handlers[i];
        if (!h->fn || !strcmp(h->sub, sub)) {
            snprintf(h->sub, sizeof(h->sub), "%s", sub);
            h->fn = fn;
            h->data = data;
            return;
        }
    }
}

bool
bsn_api_reply_query(struct bsn_api_reply *r, const char *name, char *out, size_t n)
{
    return api_query((struct req_ctx *)r, name, out, n);
}

void
bsn_api_reply_error(struct bsn_api_reply *r, int code, const char *reason, const char *msg)
{
    api_reply_status((struct req_ctx *)r, code, reason, "%s", msg);
}

void
bsn_api_reply_body(struct bsn_api_reply *r, int status, const char *ctype, const char *body,
                   size_t n)
{
    api_reply_raw((struct req_ctx *)r, status, ctype, body, n);
}

void
bsn_api_stream_start(struct bsn_api_reply *r, const char *ctype)
{
    struct req_ctx *c = (struct req_ctx *)r;
    c->sink->stream_start(c, 200, ctype);
}

int
bsn_api_stream_write(struct bsn_api_reply *r, const char *data, size_t n)
{
    struct req_ctx *c = (struct req_ctx *)r;
    return c->sink->stream_write(c, data, n);
}

void
bsn_api_stream_end(struct bsn_api_reply *r)
{
    struct req_ctx *c = (struct req_ctx *)r;
    c->sink->stream_end(c);
    free(c->close_hook);
    api_ctx_free(c);
}

struct reply_close {
    struct req_ctx *c;
    void (*cb)(void *data);
    void *data;
};

static void
reply_closed(void *data)
{
    struct reply_close rc = *(struct reply_close *)data;
    free(data);
    rc.cb(rc.data);
    api_ctx_free(rc.c);
}

void
bsn_api_reply_on_close(struct bsn_api_reply *r, void (*cb)(void *data), void *data)
{
    struct req_ctx *c = (struct req_ctx *)r;
    struct reply_close *rc = bsn_malloc(sizeof(*rc));
    rc->c = c;
    rc->cb = cb;
    rc->data = data;
    c->close_hook = rc;
    c->sink->on_close(c, reply_closed, rc);
}

/* ------------------------------------------------------------------ dispatch */

static bool
parse_accept(struct req_ctx *c)
{
    const char *a = c->accept;
    if (!a)
        return true;
    if (strstr(a, "as=Table"))
        c->table = true;
    if (strstr(a, "application/yaml") && !strstr(a, "application/json"))
        c->yaml = true;
    return true;
}

static void
dispatch_resource(struct req_ctx *c)
{
    const char *m = c->method;
    char dr[32];
    if (api_query(c, "dryRun", dr, sizeof(dr))) {
        if (strcmp(dr, "All") != 0) {
            api_reply_status(c, 400, "BadRequest",
                             "Invalid dryRun value: %s (supported values: All)", dr);
            return;
        }
        c->dry_run = true;
    }
    char fv[32];
    if (api_query(c, "fieldValidation", fv, sizeof(fv)) && strcmp(fv, "Strict") &&
        strcmp(fv, "Warn") && strcmp(fv, "Ignore") && fv[0]) {
        api_reply_status(c, 400, "BadRequest",
                         "fieldValidation parameter unsupported: %s (supported values: Strict, "
                         "Warn, Ignore)",
                         fv);
        return;
    }
    bool watch = c->watch_path || api_query_bool(c, "watch");
    const struct bsn_resource *res = c->res;
    if (c->sub[0] &&
        (!strcmp(c->sub, "log") || !strcmp(c->sub, "exec") || !strcmp(c->sub, "attach") ||
         !strcmp(c->sub, "portforward")) &&
        (res->subresources & (BSN_SUB_LOG | BSN_SUB_EXEC))) {
        do_pod_subresource(c);
        return;
    }
    unsigned subs = res->subresources;
    if (c->sub[0]) {
        bool ok = (!strcmp(c->sub, "status") && (subs & BSN_SUB_STATUS)) ||
                  (!strcmp(c->sub, "scale") && (subs & BSN_SUB_SCALE)) ||
                  (!strcmp(c->sub, "binding") && (subs & BSN_SUB_BINDING)) ||
                  (!strcmp(c->sub, "eviction") && (subs & BSN_SUB_EVICTION)) ||
                  (!strcmp(c->sub, "log") && (subs & BSN_SUB_LOG)) ||
                  ((!strcmp(c->sub, "exec") || !strcmp(c->sub, "attach") ||
                    !strcmp(c->sub, "portforward")) &&
                   (subs & BSN_SUB_EXEC)) ||
                  (!strcmp(c->sub, "finalize") && !strcmp(res->plural, "namespaces"));
        if (!ok) {
            api_reply_status(c, 404, "NotFound",
                             "the server could not find the requested resource");
            return;
        }
    }
    if (res->namespaced && c->ns[0]) {
        /* object paths: namespace must be a valid name; missing namespaces give 404 on get */
    }
    if (!res->namespaced && c->ns[0]) {
        api_reply_status(c, 404, "NotFound", "the server could not find the requested resource");
        return;
    }
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        c->verb = watch ? VERB_WATCH : c->name[0] ? VERB_GET : VERB_LIST;
        if (!strcmp(c->sub, "scale")) {
            do_scale(c);
        } else if (watch) {
            char rv[32] = "", ls[4096] = "", fs[4096] = "", to[32] = "";
            api_query(c, "resourceVersion", rv, sizeof(rv));
            api_query(c, "labelSelector", ls, sizeof(ls));
            api_query(c, "fieldSelector", fs, sizeof(fs));
            api_query(c, "timeoutSeconds", to, sizeof(to));
            if (c->name[0]) {
                /* watch of one object: a field selector on its name */
                char both[4400];
                snprintf(both, sizeof(both), "metadata.name=%s%s%s", c->name, fs[0] ? "," : "", fs);
                copyz(fs, sizeof(fs), both);
            }
            api_watch(c, rv, ls, fs, api_query_bool(c, "allowWatchBookmarks"),
                      to[0] ? strtol(to, NULL, 10) : 0);
        } else if (c->name[0]) {
            do_get(c);
        } else {
            do_list(c);
        }
        return;
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    if (!strcmp(m, "POST")) {
        c->verb = VERB_CREATE;
        if (!strcmp(c->sub, "binding")) {
            do_binding(c);
            return;
        }
        if (!strcmp(c->sub, "eviction")) {
            do_eviction(c);
            return;
        }
        if (c->name[0] && !c->sub[0]) {
            api_reply_status(c, 405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource");
            return;
        }
        json_t *tree = decode_body(c, &err);
        if (!tree || check_unknown_fields(c, tree, &err) < 0) {
            json_decref(tree);
            api_reply_err(c, &err);
            return;
        }
        do_create(c, tree);
    } else if (!strcmp(m, "PUT")) {
        c->verb = VERB_UPDATE;
        if (!c->name[0]) {
            api_reply_status(c, 405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource");
            return;
        }
        if (!strcmp(c->sub, "scale")) {
            do_scale(c);
            return;
        }
        json_t *tree = decode_body(c, &err);
        if (!tree || check_unknown_fields(c, tree, &err) < 0) {
            json_decref(tree);
            api_reply_err(c, &err);
            return;
        }
        if (!strcmp(c->sub, "finalize"))
            copyz(c->sub, sizeof(c->sub), "");
        do_update(c, tree);
    } else if (!strcmp(m, "PATCH")) {
        c->verb = VERB_PATCH;
        if (!c->name[0]) {
            api_reply_status(c, 405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource");
            return;
        }
        if (!strcmp(c->sub, "scale")) {
            do_scale(c);
            return;
        }
        do_patch(c);
    } else if (!strcmp(m, "DELETE")) {
        c->verb = VERB_DELETE;
        if (c->name[0])
            do_delete(c);
        else
            do_delete_collection(c);
    } else {
        api_reply_status(c, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    }
}

void
api_handle(struct req_ctx *c)
{
    parse_accept(c);
    if (api_discovery(c))
        return;
    if (!parse_resource_path(c)) {
        api_reply_status(c, 404, "NotFound", "the server could not find the requested resource");
        return;
    }
    if (api_resmetrics_handle(c))
        return;
    c->res = bsn_registry_find(c->group, c->version, c->plural);
    if (!c->res) {
        const struct bsn_resource *other = bsn_registry_find_any_version(c->group, c->plural);
        if (other)
            api_reply_status(c, 404, "NotFound",
                             "the server could not find the requested resource (%s %s.%s)",
                             c->version, c->plural, c->group);
        else
            api_reply_status(c, 404, "NotFound",
                             "the server could not find the requested resource");
        return;
    }
    dispatch_resource(c);
}
