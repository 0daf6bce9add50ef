/*
 * ctrl.c - shared context of the controllers: client, informers by path, writes, Events.
 */
#include "controllers/ctrl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/client.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"

#define EVENTS_DEDUP_MAX 4096

/* One allocation: ns points into the same block, after name (thousands are kept). */
struct bsn_ctrl_event {
    int count;
    char *ns;
    char name[];
};

struct bsn_ctrl *
bsn_ctrl_new(struct bsn_loop *loop, struct bsn_apiserver *api)
{
    struct bsn_ctrl *c = bsn_calloc(1, sizeof(*c));
    c->loop = loop;
    c->cl = bsn_client_new_local(api);
    bsn_map_init(&c->informers);
    bsn_map_init(&c->events);
    return c;
}

struct bsn_informer *
bsn_ctrl_informer(struct bsn_ctrl *c, const char *path)
{
    struct bsn_informer *inf = bsn_map_get(&c->informers, path);
    if (!inf) {
        inf = bsn_informer_new(c->loop, c->cl, path);
        if (!strcmp(path, "/api/v1/pods"))
            bsn_informer_set_transform(inf, bsn_pod_slim);
        bsn_map_put(&c->informers, path, inf);
        if (c->started)
            bsn_informer_start(inf);
    }
    return inf;
}

void
bsn_ctrl_start(struct bsn_ctrl *c)
{
    c->started = true;
    size_t it = 0;
    void *v;
    while (bsn_map_next(&c->informers, &it, NULL, &v))
        bsn_informer_start(v);
}

static void
clear_events(struct bsn_ctrl *c)
{
    size_t it = 0;
    void *v;
    while (bsn_map_next(&c->events, &it, NULL, &v))
        free(v);
    bsn_map_fini(&c->events);
    bsn_map_init(&c->events);
}

void
bsn_ctrl_free(struct bsn_ctrl *c)
{
    if (!c)
        return;
    size_t it = 0;
    void *v;
    while (bsn_map_next(&c->informers, &it, NULL, &v))
        bsn_informer_free(v);
    bsn_map_fini(&c->informers);
    bsn_client_free(c->cl);
    clear_events(c);
    bsn_map_fini(&c->events);
    free(c);
}

struct send_ctx {
    struct bsn_workqueue *q;
    char *key;
    bsn_ctrl_done_fn done;
    void *data;
    char what[96];
};

static void
send_done(int status, const char *body, size_t len, void *data)
{
    struct send_ctx *s = data;
    if (status >= 400 && status != 404) {
        if (status != 409) {
            struct bsn_err err;
            json_t *j = body && len > 0 && body[0] == '{' ? bsn_json_parse(body, len, &err) : NULL;
            bsn_warn("controllers", "%s: HTTP %d: %s", s->what, status,
                     j ? bsn_json_str(j, "message") ?: "" : "");
            json_decref(j);
        }
        if (s->q && s->key)
            bsn_workqueue_retry(s->q, s->key);
    }
    if (s->done)
        s->done(status, body, len, s->data);
    free(s->key);
    free(s);
}

bool
bsn_ctrl_answer_name(const char *body, size_t len, char *out, size_t n)
{
    /* the API writes kind, apiVersion, then metadata with name first; fall back to parsing */
    static const char pat[] = "\"metadata\":{\"name\":\"";
    const char *p = body ? memmem(body, len, pat, sizeof(pat) - 1) : NULL;
    if (p) {
        p += sizeof(pat) - 1;
        const char *q = memchr(p, '"', len - (size_t)(p - body));
        if (q && (size_t)(q - p) < n) {
            memcpy(out, p, (size_t)(q - p));
            out[q - p] = '\0';
            return true;
        }
    }
    struct bsn_err err;
    json_t *j = body && len ? bsn_json_parse(body, len, &err) : NULL;
    const char *name = j ? bsn_json_str(j, "metadata.name") : NULL;
    if (name)
        snprintf(out, n, "%s", name);
    json_decref(j);
    return name != NULL;
}

void
bsn_ctrl_send(struct bsn_ctrl *c, const char *method, const char *path, const char *content_type,
              const json_t *body, struct bsn_workqueue *q, const char *key, bsn_ctrl_done_fn done,
              void *data)
{
    struct send_ctx *s = bsn_calloc(1, sizeof(*s));
    s->q = q;
    s->key = key ? bsn_strdup(key) : NULL;
    s->done = done;
    s->data = data;
    snprintf(s->what, sizeof(s->what), "%s %s", method, path);
    if (body)
        bsn_client_request_json(c->cl, method, path, content_type, body, send_done, s);
    else
        bsn_client_request(c->cl, method, path, content_type, NULL, 0, send_done, s);
}

void
bsn_ctrl_now(char *out, size_t n)
{
    bsn_time_format(bsn_time_now(), out, n);
}

static const char *
component_for(const char *kind, const char *reason, char *buf, size_t n)
{
    if (!strcmp(reason, "Scheduled") || !strcmp(reason, "FailedScheduling")) {
        snprintf(buf, n, "default-scheduler");
        return buf;
    }
    size_t j = 0;
    for (const char *p = kind; *p && j + 12 < n; p++)
        buf[j++] = (char)tolower((unsigned char)*p);
    snprintf(buf + j, n - j, "-controller");
    return buf;
}

void
bsn_ctrl_event(struct bsn_ctrl *c, const json_t *obj, const char *type, const char *reason,
               const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *ns = bsn_json_str(obj, "metadata.namespace");
    const char *name = bsn_json_str(obj, "metadata.name") ?: "";
    const char *uid = bsn_json_str(obj, "metadata.uid") ?: "";
    const char *kind = bsn_json_str(obj, "kind") ?: "";
    if (!ns || !*ns)
        ns = "default";
    char now[40];
    bsn_ctrl_now(now, sizeof(now));
    char dkey[1400];
    snprintf(dkey, sizeof(dkey), "%s|%s|%s|%s", uid, type, reason, msg);
    struct bsn_ctrl_event *ev = bsn_map_get(&c->events, dkey);
    char path[700];
    if (ev) {
        ev->count++;
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", ev->ns, ev->name);
        json_t *patch = json_pack("{s:i,s:s}", "count", ev->count, "lastTimestamp", now);
        bsn_ctrl_send(c, "PATCH", path, "application/merge-patch+json", patch, NULL, NULL, NULL,
                      NULL);
        json_decref(patch);
        return;
    }
    if (c->events.len >= EVENTS_DEDUP_MAX)
        clear_events(c);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = bsn_mono_ns();
    char ename[300];
    snprintf(ename, sizeof(ename), "%.200s.%016llx", name, (unsigned long long)rnd);
    size_t el = strlen(ename), nl = strnlen(ns, 253);
    ev = bsn_calloc(1, sizeof(*ev) + el + nl + 2);
    memcpy(ev->name, ename, el);
    ev->ns = ev->name + el + 1;
    memcpy(ev->ns, ns, nl);
    ev->count = 1;
    bsn_map_put(&c->events, dkey, ev);
    char comp[80];
    json_t *inv =
        json_pack("{s:s,s:s,s:s,s:s}", "kind", kind, "namespace", ns, "name", name, "uid", uid);
    const char *av = bsn_json_str(obj, "apiVersion");
    if (av)
        json_object_set_new(inv, "apiVersion", json_string(av));
    const char *rv = bsn_json_str(obj, "metadata.resourceVersion");
    if (rv)
        json_object_set_new(inv, "resourceVersion", json_string(rv));
    json_error_t jerr;
    json_t *e = json_pack_ex(
        &jerr, 0, "{s:s,s:s,s:{s:s,s:s},s:o,s:s,s:s,s:{s:s},s:s,s:s,s:i,s:s,s:s,s:s}", "apiVersion",
        "v1", "kind", "Event", "metadata", "name", ev->name, "namespace", ns, "involvedObject", inv,
        "reason", reason, "message", msg, "source", "component",
        component_for(kind, reason, comp, sizeof(comp)), "firstTimestamp", now, "lastTimestamp",
        now, "count", 1, "type", type, "reportingComponent", comp, "reportingInstance", "bosun");
    if (!e) {
        bsn_warn("controllers", "event %s: %s", reason, jerr.text);
        return;
    }
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
    bsn_ctrl_send(c, "POST", path, NULL, e, NULL, NULL, NULL, NULL);
    json_decref(e);
}

void
bsn_ctrl_obj_path(const char *prefix, const char *plural, const char *ns, const char *name,
                  char *out, size_t n)
{
    if (ns && *ns)
        snprintf(out, n, "%s/namespaces/%s/%s%s%s", prefix, ns, plural, name ? "/" : "",
                 name ? name : "");
    else
        snprintf(out, n, "%s/%s%s%s", prefix, plural, name ? "/" : "", name ? name : "");
}

json_t *
bsn_ctrl_owner(const json_t *obj)
{
    json_t *refs = bsn_json_path(obj, "metadata")
                       ? json_object_get(bsn_json_path(obj, "metadata"), "ownerReferences")
                       : NULL;
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r)
    {
        if (json_is_true(json_object_get(r, "controller")))
            return r;
    }
    return NULL;
}

static void
status_path(const json_t *obj, const char *prefix, const char *plural, char *path, size_t n)
{
    bsn_ctrl_obj_path(prefix, plural, bsn_json_str(obj, "metadata.namespace"),
                      bsn_json_str(obj, "metadata.name"), path, n);
    strncat(path, "/status", n - strlen(path) - 1);
}

void
bsn_ctrl_status_patch(struct bsn_ctrl *c, const json_t *obj, const char *prefix, const char *plural,
                      json_t *st, struct bsn_workqueue *q, const char *key)
{
    json_t *cur = bsn_json_path(obj, "status");
    if (cur && bsn_json_equal(cur, st)) {
        json_decref(st);
        return;
    }
    char path[600];
    status_path(obj, prefix, plural, path, sizeof(path));
    json_t *body = json_pack("{s:o}", "status", st);
    bsn_ctrl_send(c, "PATCH", path, "application/merge-patch+json", body, q, key, NULL, NULL);
    json_decref(body);
}

void
bsn_ctrl_status_put(struct bsn_ctrl *c, const json_t *obj, const char *prefix, const char *plural,
                    const char *api_version, const char *kind, json_t *st, struct bsn_workqueue *q,
                    const char *key)
{
    json_t *cur = bsn_json_path(obj, "status");
    if (cur && bsn_json_equal(cur, st)) {
        json_decref(st);
        return;
    }
    char path[600];
    status_path(obj, prefix, plural, path, sizeof(path));
    json_t *full = json_deep_copy(obj);
    json_object_set_new(full, "status", st);
    json_object_set_new(full, "apiVersion", json_string(api_version));
    json_object_set_new(full, "kind", json_string(kind));
    bsn_ctrl_send(c, "PUT", path, NULL, full, q, key, NULL, NULL);
    json_decref(full);
}

bool
bsn_ctrl_owner_key(const json_t *obj, const char *kind, char *key, size_t n)
{
    json_t *ref = bsn_ctrl_owner(obj);
    if (!ref || strcmp(json_string_value(json_object_get(ref, "kind")) ?: "", kind))
        return false;
    snprintf(key, n, "%s/%s", bsn_json_str(obj, "metadata.namespace") ?: "",
             json_string_value(json_object_get(ref, "name")) ?: "");
    return true;
}

static void
self_changed(json_t *obj, void *data)
{
    struct bsn_queue_handler *h = data;
    char key[512];
    bsn_obj_key(obj, key, sizeof(key));
    bsn_workqueue_add(h->q, key);
}

static void
self_updated(json_t *old, json_t *obj, void *data)
{
    self_changed(obj, data);
}

static void
owned_changed(json_t *obj, void *data)
{
    struct bsn_queue_handler *h = data;
    char key[512];
    if (bsn_ctrl_owner_key(obj, h->owner_kind, key, sizeof(key)))
        bsn_workqueue_add_coalesced(h->q, key);
}

static void
owned_updated(json_t *old, json_t *obj, void *data)
{
    owned_changed(obj, data);
}

void
bsn_ctrl_queue_self(struct bsn_informer *inf, struct bsn_queue_handler *h)
{
    struct bsn_informer_handler ih = {self_changed, self_updated, NULL, h};
    bsn_informer_add_handler(inf, &ih);
}

void
bsn_ctrl_queue_owned(struct bsn_informer *inf, struct bsn_queue_handler *h)
{
    struct bsn_informer_handler ih = {owned_changed, owned_updated, owned_changed, h};
    bsn_informer_add_handler(inf, &ih);
}

bool
bsn_ctrl_deleting(const json_t *obj)
{
    return bsn_json_str(obj, "metadata.deletionTimestamp") != NULL;
}

static json_t *
pod_condition(const json_t *pod, const char *type)
{
    json_t *conds = json_object_get(bsn_json_path(pod, "status"), "conditions");
    size_t i;
    json_t *cnd;
    json_array_foreach(conds, i, cnd)
    {
        const char *t = json_string_value(json_object_get(cnd, "type"));
        if (t && !strcmp(t, type))
            return cnd;
    }
    return NULL;
}

bool
bsn_pod_ready(const json_t *pod)
{
    json_t *c = pod_condition(pod, "Ready");
    const char *s = c ? json_string_value(json_object_get(c, "status")) : NULL;
    const char *phase = bsn_json_str(pod, "status.phase");
    return s && !strcmp(s, "True") && phase && !strcmp(phase, "Running");
}

bool
bsn_pod_active(const json_t *pod)
{
    const char *phase = bsn_json_str(pod, "status.phase");
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
        return false;
    return !bsn_ctrl_deleting(pod);
}

bool
bsn_pod_available(const json_t *pod, int64_t min_ready, time_t now)
{
    if (!bsn_pod_ready(pod))
        return false;
    if (min_ready <= 0)
        return true;
    json_t *c = pod_condition(pod, "Ready");
    const char *lt = json_string_value(json_object_get(c, "lastTransitionTime"));
    time_t t;
    if (!lt || bsn_time_parse(lt, &t) < 0)
        return false;
    return t + min_ready <= now;
}
