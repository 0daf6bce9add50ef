/*
 * env.c - a container's environment, as kubelet builds it: envFrom (configMapRef/secretRef
 * with prefix, optional), then env in order (value with $(VAR) expansion against what is
 * defined so far, fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef with optional);
 * and $(VAR) expansion of command and args against the result.
 *
 * ConfigMaps and Secrets are read through the API on demand: the first build asks for them
 * and returns "pending"; the answers land in the pod's refs cache and trigger a sync, which
 * builds again. The cache is dropped before every (re)start so a restart sees fresh values.
 *
 * The Services of the service links (the pod namespace's list and default/kubernetes) are
 * asked for by every container start; asked per pod, a burst of 100 pods made 200 GETs, queued
 * behind the status writes on the remote client's connections. They are shared instead: the
 * agent keeps, per path, the latest answer and the GET sent last. A pod takes an answer whose
 * GET was sent after its refs cache began (so it holds every Service that existed when the
 * pod started, as the pod's own GET would), else waits for such a GET, sending one if the one
 * in flight was sent earlier. A burst thus costs about one GET per round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent/volumes.h"
#include "api/client.h"
#include "base/base64.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/json.h"
#include "runtime/image.h"

static const char *
env_lookup(const char *name, size_t len, void *data)
{
    struct agent_env *e = data;
    for (size_t i = e->n; i-- > 0;)
        if (!strncmp(e->kv[i], name, len) && e->kv[i][len] == '=')
            return e->kv[i] + len + 1;
    return NULL;
}

void
agent_env_set(struct agent_env *e, const char *k, const char *v)
{
    size_t kl = strlen(k);
    for (size_t i = 0; i < e->n; i++) {
        if (!strncmp(e->kv[i], k, kl) && e->kv[i][kl] == '=') { /* a later definition wins */
            free(e->kv[i]);
            e->kv[i] = bsn_sprintf("%s=%s", k, v);
            return;
        }
    }
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->kv = bsn_realloc(e->kv, e->cap * sizeof(char *));
    }
    e->kv[e->n++] = bsn_sprintf("%s=%s", k, v);
    e->kv[e->n] = NULL;
}

void
agent_env_free(struct agent_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->kv[i]);
    free(e->kv);
    memset(e, 0, sizeof(*e));
}

/* fieldRef values (downward API). Returns a heap string or NULL when unsupported. */
static char *
field_value(struct agent_pod *p, const char *path)
{
    static const char *const direct[] = {"metadata.name", "metadata.namespace", "metadata.uid",
                                         "spec.nodeName", "spec.serviceAccountName"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(direct); i++)
        if (!strcmp(path, direct[i]))
            return bsn_strdup(bsn_json_str(p->pod, direct[i]) ?: "");
    if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs"))
        return bsn_strdup(p->ip);
    if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs"))
        return bsn_strdup(p->a->node_ip);
    const char *pre[] = {"metadata.labels['", "metadata.annotations['"};
    for (int k = 0; k < 2; k++) {
        size_t pl = strlen(pre[k]);
        if (!strncmp(path, pre[k], pl)) {
            char key[256];
            snprintf(key, sizeof(key), "%s", path + pl);
            char *q = strstr(key, "']");
            if (q)
                *q = '\0';
            json_t *m = bsn_json_path(p->pod, k ? "metadata.annotations" : "metadata.labels");
            return bsn_strdup(json_string_value(json_object_get(m, key)) ?: "");
        }
    }
    return NULL;
}

/* Decodes Secret data (standard base64, as the API server stores it); "" when invalid. */
static char *
b64decode(const char *in)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    if (bsn_base64_decode(in, strlen(in), &b) < 0)
        b.len = 0;
    bsn_buf_append(&b, "", 1);
    return bsn_buf_take(&b);
}

/* Starts p's refs cache (a start's reads) if it is not: what it reads is newer than this. */
static void
refs_begin(struct agent_pod *p)
{
    if (!p->refs_cache) {
        p->refs_cache = json_object();
        p->refs_since = ++p->a->shared_seq;
    }
}

struct ref_req {
    struct agent_pod *p;
    char key[320];
};

static void
ref_done(int status, const char *body, size_t len, void *data)
{
    struct ref_req *r = data;
    struct agent_pod *p = r->p;
    if (!p->gone) {
        struct bsn_err err;
        json_t *obj = status == 200 ? bsn_json_parse(body, len, &err) : NULL;
        refs_begin(p);
        /* null = not found (or unreadable): reported as such by the next build */
        json_object_set_new(p->refs_cache, r->key, obj ? obj : json_null());
        agent_pod_sync_soon(p, 0);
    }
    agent_pod_unref(p);
    free(r);
}

/*
 * The ConfigMap or Secret (kind "configmaps"/"secrets") name from the cache: the object, or
 * NULL with *pending when it has been requested (now or earlier) and has not arrived, or NULL
 * when it does not exist.
 */
static json_t *ref_get(struct agent_pod *p, const char *key, const char *path, bool *pending);

static json_t *
ref_object(struct agent_pod *p, const char *kind, const char *name, bool *pending)
{
    char key[320], path[700];
    snprintf(key, sizeof(key), "%s/%s", kind, name);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", p->ns, kind, name);
    return ref_get(p, key, path, pending);
}

/* Cached GET of path under key (see ref_object). */
static json_t *
ref_get(struct agent_pod *p, const char *key, const char *path, bool *pending)
{
    json_t *v = p->refs_cache ? json_object_get(p->refs_cache, key) : NULL;
    if (v) {
        if (json_is_true(v))
            *pending = true;
        return json_is_object(v) ? v : NULL;
    }
    refs_begin(p);
    json_object_set_new(p->refs_cache, key, json_true());
    struct ref_req *r = bsn_calloc(1, sizeof(*r));
    r->p = p;
    snprintf(r->key, sizeof(r->key), "%s", key);
    agent_pod_ref(p);
    bsn_client_request(p->a->cl, "GET", path, NULL, NULL, 0, ref_done, r);
    *pending = true;
    return NULL;
}

/* The value of key in a ConfigMap (data, then binaryData as is) or a Secret (decoded). */
static char *
ref_value(json_t *obj, bool secret, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));
    if (v)
        return secret ? b64decode(v) : bsn_strdup(v);
    if (!secret &&
        (v = json_string_value(json_object_get(json_object_get(obj, "binaryData"), key))))
        return bsn_strdup(v);
    if (secret && (v = json_string_value(json_object_get(json_object_get(obj, "stringData"), key))))
        return bsn_strdup(v);
    return NULL;
}

static int
env_from(struct agent_pod *p, json_t *spec, struct agent_env *e, char *why, size_t whylen)
{
    size_t i;
    json_t *src;
    int rc = 0;
    json_array_foreach(json_object_get(spec, "envFrom"), i, src)
    {
        const char *prefix = json_string_value(json_object_get(src, "prefix")) ?: "";
        json_t *ref = json_object_get(src, "configMapRef");
        bool secret = false;
        if (!ref) {
            ref = json_object_get(src, "secretRef");
            secret = true;
        }
        const char *name = json_string_value(json_object_get(ref, "name"));
        if (!name)
            continue;
        bool pending = false;
        json_t *obj = ref_object(p, secret ? "secrets" : "configmaps", name, &pending);
        if (pending) {
            rc = 1;
            continue;
        }
        if (!obj) {
            if (json_is_true(json_object_get(ref, "optional")))
                continue;
            snprintf(why, whylen, "%s \"%s\" not found", secret ? "secret" : "configmap", name);
            return -1;
        }
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(obj, "data"), k, v)
        {
            char *val = ref_value(obj, secret, k);
            char *full = bsn_sprintf("%s%s", prefix, k);
            agent_env_set(e, full, val ? val : "");
            free(full);
            free(val);
        }
    }
    return rc;
}

/* FOO_BAR from foo-bar, as upstream's makeEnvVariableName. */
static void
env_name(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++)
        out[i] = in[i] == '-' ? '_' : (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 32) : in[i];
    out[i] = '\0';
}

/* The docker-link style variables of one Service (upstream's envvars.FromServices). */
static void
service_env(struct agent_env *e, json_t *svc)
{
    const char *ip = bsn_json_str(svc, "spec.clusterIP");
    json_t *ports = bsn_json_path(svc, "spec.ports");
    if (!ip || !*ip || !strcmp(ip, "None") || !json_array_size(ports))
        return;
    char n[300], k[400], v[400], pn[128];
    env_name(bsn_json_str(svc, "metadata.name") ?: "", n, sizeof(n));
    bool v6 = strchr(ip, ':') != NULL;
    snprintf(k, sizeof(k), "%s_SERVICE_HOST", n);
    agent_env_set(e, k, ip);
    snprintf(k, sizeof(k), "%s_SERVICE_PORT", n);
    snprintf(v, sizeof(v), "%lld", (long long)bsn_json_int(json_array_get(ports, 0), "port", 0));
    agent_env_set(e, k, v);
    size_t i;
    json_t *pt;
    json_array_foreach(ports, i, pt)
    {
        const char *name = json_string_value(json_object_get(pt, "name"));
        long long port = (long long)bsn_json_int(pt, "port", 0);
        if (name && *name) {
            env_name(name, pn, sizeof(pn));
            snprintf(k, sizeof(k), "%s_SERVICE_PORT_%s", n, pn);
            snprintf(v, sizeof(v), "%lld", port);
            agent_env_set(e, k, v);
        }
    }
    json_array_foreach(ports, i, pt)
    {
        char proto[16], PROTO[16], url[200], ps[32];
        snprintf(proto, sizeof(proto), "%s",
                 json_string_value(json_object_get(pt, "protocol")) ?: "TCP");
        env_name(proto, PROTO, sizeof(PROTO));
        for (char *c = proto; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        long long port = (long long)bsn_json_int(pt, "port", 0);
        snprintf(ps, sizeof(ps), "%lld", port);
        snprintf(url, sizeof(url), v6 ? "%s://[%s]:%lld" : "%s://%s:%lld", proto, ip, port);
        if (i == 0) {
            snprintf(k, sizeof(k), "%s_PORT", n);
            agent_env_set(e, k, url);
        }
        snprintf(k, sizeof(k), "%s_PORT_%lld_%s", n, port, PROTO);
        agent_env_set(e, k, url);
        snprintf(k, sizeof(k), "%s_PORT_%lld_%s_PROTO", n, port, PROTO);
        agent_env_set(e, k, proto);
        snprintf(k, sizeof(k), "%s_PORT_%lld_%s_PORT", n, port, PROTO);
        agent_env_set(e, k, ps);
        snprintf(k, sizeof(k), "%s_PORT_%lld_%s_ADDR", n, port, PROTO);
        agent_env_set(e, k, ip);
    }
}

/* ---- Service lists shared by the pods (see the top of the file) ---- */

struct shared_req;

struct agent_shared_get {
    json_t *obj;               /* the latest answer; NULL = not found (or unreadable) */
    uint64_t obj_sent;         /* shared_seq when its GET was sent; 0 = no answer yet */
    struct shared_req *latest; /* the GET sent last, while in flight */
    struct shared_req *reqs;   /* every GET in flight */
};

struct shared_req {
    struct bsn_agent *a;
    struct agent_shared_get *g;
    struct shared_req *next, *prev;
    uint64_t sent;
    struct agent_pod **waiters; /* referenced; synced when the answer comes */
    size_t nwait, cap;
};

static void
shared_unlink(struct shared_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        r->g->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->g->latest == r)
        r->g->latest = NULL;
}

static void
shared_done(int status, const char *body, size_t len, void *data)
{
    struct shared_req *r = data;
    struct agent_shared_get *g = r->g;
    shared_unlink(r);
    if (r->sent > g->obj_sent) { /* newer than what we have (answers may cross) */
        struct bsn_err err;
        json_decref(g->obj);
        g->obj = status == 200 ? bsn_json_parse(body, len, &err) : NULL;
        g->obj_sent = r->sent;
    }
    for (size_t i = 0; i < r->nwait; i++) {
        if (!r->a->closing)
            agent_pod_sync_soon(r->waiters[i], 0);
        agent_pod_unref(r->waiters[i]);
    }
    free(r->waiters);
    free(r);
}

/* GET of path shared by the pods: 0 with *obj (borrowed until the loop turns; NULL = not
 * found) read after p's refs cache began, or 1: p syncs when such an answer comes. */
static int
shared_get(struct agent_pod *p, const char *path, json_t **obj)
{
    struct bsn_agent *a = p->a;
    refs_begin(p);
    struct agent_shared_get *g = bsn_map_get(&a->shared_gets, path);
    if (!g) {
        g = bsn_calloc(1, sizeof(*g));
        bsn_map_put(&a->shared_gets, path, g);
    }
    if (g->obj_sent > p->refs_since) {
        *obj = g->obj;
        return 0;
    }
    struct shared_req *r = g->latest;
    if (!r || r->sent < p->refs_since) {
        r = bsn_calloc(1, sizeof(*r));
        r->a = a;
        r->g = g;
        r->sent = ++a->shared_seq;
        r->next = g->reqs;
        if (g->reqs)
            g->reqs->prev = r;
        g->reqs = r;
        g->latest = r;
        bsn_client_request(a->cl, "GET", path, NULL, NULL, 0, shared_done, r);
    }
    for (size_t i = 0; i < r->nwait; i++)
        if (r->waiters[i] == p)
            return 1;
    if (r->nwait == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->waiters = bsn_realloc(r->waiters, r->cap * sizeof(*r->waiters));
    }
    agent_pod_ref(p);
    r->waiters[r->nwait++] = p;
    return 1;
}

void
agent_env_cache_free(struct bsn_agent *a)
{
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&a->shared_gets, &it, &k, &v);) {
        struct agent_shared_get *g = v;
        while (g->reqs) { /* the client is gone: no answer comes; the pods go with the agent */
            struct shared_req *r = g->reqs;
            shared_unlink(r);
            free(r->waiters);
            free(r);
        }
        json_decref(g->obj);
        free(g);
    }
    bsn_map_fini(&a->shared_gets);
}

/* Service links: the pod namespace's Services (enableServiceLinks, default true) and always
 * default/kubernetes. 1 while the lists are on their way. */
static int
services_lists(struct agent_pod *p, json_t **master, json_t **list)
{
    *master = *list = NULL;
    int pending = shared_get(p, "/api/v1/namespaces/default/services/kubernetes", master);
    json_t *links = bsn_json_path(p->pod, "spec.enableServiceLinks");
    if (!json_is_false(links)) {
        char path[400];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services", p->ns);
        pending |= shared_get(p, path, list);
    }
    return pending;
}

void
agent_env_prefetch(struct agent_pod *p)
{
    json_t *master, *list;
    services_lists(p, &master, &list);
}

static int
services_env(struct agent_pod *p, struct agent_env *e)
{
    json_t *master, *list;
    if (services_lists(p, &master, &list))
        return 1;
    size_t i;
    json_t *svc;
    json_array_foreach(json_object_get(list, "items"), i, svc)
    {
        if (!strcmp(p->ns, "default") &&
            !strcmp(bsn_json_str(svc, "metadata.name") ?: "", "kubernetes"))
            continue; /* from master below */
        service_env(e, svc);
    }
    if (master)
        service_env(e, master);
    return 0;
}

int
agent_build_env(struct agent_pod *p, json_t *spec, struct agent_env *e, char *why, size_t whylen)
{
    int src = services_env(p, e);
    int rc = env_from(p, spec, e, why, whylen);
    if (rc == 0)
        rc = src;
    if (rc < 0)
        return rc;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(spec, "env"), i, ev)
    {
        const char *name = json_string_value(json_object_get(ev, "name"));
        if (!name)
            continue;
        const char *value = json_string_value(json_object_get(ev, "value"));
        json_t *from = json_object_get(ev, "valueFrom");
        if (value || !from) {
            char *v = bsn_agent_expand(value ? value : "", env_lookup, e);
            agent_env_set(e, name, v);
            free(v);
            continue;
        }
        const char *fp = bsn_json_str(from, "fieldRef.fieldPath");
        if (fp) {
            char *v = field_value(p, fp);
            if (!v) {
                snprintf(why, whylen, "env %s: unsupported fieldRef %s", name, fp);
                return -1;
            }
            agent_env_set(e, name, v);
            free(v);
            continue;
        }
        json_t *rf = json_object_get(from, "resourceFieldRef");
        if (rf) {
            struct bsn_vol_node node;
            struct bsn_err err;
            char v[64];
            agent_node_alloc(p->a, &node);
            if (bsn_vol_resource_value(p->pod, json_string_value(json_object_get(spec, "name")), rf,
                                       &node, v, sizeof(v), &err) < 0) {
                snprintf(why, whylen, "env %s: %s", name, err.msg);
                return -1;
            }
            agent_env_set(e, name, v);
            continue;
        }
        json_t *ref = json_object_get(from, "configMapKeyRef");
        bool secret = false;
        if (!ref) {
            ref = json_object_get(from, "secretKeyRef");
            secret = true;
        }
        const char *rname = json_string_value(json_object_get(ref, "name"));
        const char *rkey = json_string_value(json_object_get(ref, "key"));
        if (!rname || !rkey) {
            snprintf(why, whylen,
                     "env %s: only value, fieldRef, resourceFieldRef, configMapKeyRef "
                     "and secretKeyRef are supported by this agent",
                     name);
            return -1;
        }
        bool optional = json_is_true(json_object_get(ref, "optional"));
        bool pending = false;
        json_t *obj = ref_object(p, secret ? "secrets" : "configmaps", rname, &pending);
        if (pending) {
            rc = 1;
            continue;
        }
        char *v = obj ? ref_value(obj, secret, rkey) : NULL;
        if (!v) {
            if (optional)
                continue;
            if (!obj)
                snprintf(why, whylen, "%s \"%s\" not found", secret ? "secret" : "configmap",
                         rname);
            else
                snprintf(why, whylen, "couldn't find key %s in %s %s/%s", rkey,
                         secret ? "Secret" : "ConfigMap", p->ns, rname);
            return -1;
        }
        agent_env_set(e, name, v);
        free(v);
    }
    return rc;
}

char **
agent_expand_list(json_t *arr, struct agent_env *e)
{
    if (!json_is_array(arr))
        return NULL;
    size_t n = json_array_size(arr);
    char **out = bsn_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = bsn_agent_expand(json_string_value(json_array_get(arr, i)) ?: "", env_lookup, e);
    return out;
}

void
agent_free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

/* --- imagePullSecrets --- */

/* The registry host of a .dockerconfigjson "auths" key: "https://host:port/v1/" -> host:port;
 * Docker Hub's aliases are one. */
static void
auth_key_host(const char *key, char *out, size_t n)
{
    const char *s = key;
    if (!strncmp(s, "https://", 8))
        s += 8;
    else if (!strncmp(s, "http://", 7))
        s += 7;
    size_t len = strcspn(s, "/");
    snprintf(out, n, "%.*s", (int)len, s);
    if (!strcmp(out, "index.docker.io") || !strcmp(out, "registry-1.docker.io"))
        snprintf(out, n, "docker.io");
}

/* Fills user/pass from one auths entry ({username, password} or auth = base64(user:pass)). */
static bool
auth_entry_creds(json_t *ent, char **user, char **pass)
{
    const char *u = json_string_value(json_object_get(ent, "username"));
    const char *pw = json_string_value(json_object_get(ent, "password"));
    if (u && *u && pw) {
        *user = bsn_strdup(u);
        *pass = bsn_strdup(pw);
        return true;
    }
    const char *a = json_string_value(json_object_get(ent, "auth"));
    if (!a || !*a)
        return false;
    char *dec = b64decode(a);
    char *colon = strchr(dec, ':');
    if (!colon) {
        free(dec);
        return false;
    }
    *colon = '\0';
    *user = bsn_strdup(dec);
    *pass = bsn_strdup(colon + 1);
    free(dec);
    return true;
}

int
agent_pull_creds(struct agent_pod *p, const char *image, char **user, char **pass)
{
    *user = *pass = NULL;
    json_t *secrets = json_object_get(json_object_get(p->pod, "spec"), "imagePullSecrets");
    if (!json_array_size(secrets))
        return 0;
    struct bsn_image_ref ref;
    struct bsn_err err;
    if (bsn_image_ref_parse(image, &ref, &err) < 0)
        return 0;
    bool pending = false;
    size_t i;
    json_t *s;
    json_array_foreach(secrets, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (!name || !*name)
            continue;
        json_t *obj = ref_object(p, "secrets", name, &pending);
        if (!obj)
            continue; /* missing: kubelet warns and pulls without it */
        /* kubernetes.io/dockerconfigjson ({"auths": {...}}) or the older dockercfg ({...}) */
        char *raw = ref_value(obj, true, ".dockerconfigjson");
        bool legacy = !raw && (raw = ref_value(obj, true, ".dockercfg"));
        if (!raw)
            continue;
        json_t *cfg = json_loads(raw, 0, NULL);
        free(raw);
        json_t *auths = legacy ? cfg : json_object_get(cfg, "auths");
        const char *key;
        json_t *ent;
        bool found = false;
        json_object_foreach(auths, key, ent)
        {
            char host[256];
            auth_key_host(key, host, sizeof(host));
            if (!strcmp(host, ref.domain) && auth_entry_creds(ent, user, pass)) {
                found = true;
                break;
            }
        }
        json_decref(cfg);
        if (found)
            return 1;
        if (!pending)
            bsn_debug("agent", "pod %s: pull secret %s has no credentials for %s", p->key, name,
                      ref.domain);
    }
    return pending ? -1 : 0;
}
