/*
 * embed_gateway.c - feeds the embedded gateway from API watches.
 *
 * One watch per relevant resource; each event updates the gateway's object set, and a change
 * schedules one rebuild at the end of the loop iteration (so a burst of events costs one
 * snapshot). A watch the server ends is resumed from the last resourceVersion seen; if that is
 * too old (410), all watches start again from a fresh object set.
 */
#include "cli/embed_gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/client.h"
#include "base/log.h"
#include "base/mem.h"

static const char *const watched[] = {
    "/apis/networking.k8s.io/v1/ingresses",
    "/apis/networking.k8s.io/v1/ingressclasses",
    "/api/v1/services",
    "/apis/discovery.k8s.io/v1/endpointslices",
    "/api/v1/secrets",
    "/apis/gateway.networking.k8s.io/v1/gatewayclasses",
    "/apis/gateway.networking.k8s.io/v1/gateways",
    "/apis/gateway.networking.k8s.io/v1/httproutes",
    "/apis/gateway.bosun.dev/v1alpha1/gatewaypolicies",
    NULL,
};
#define NWATCH (sizeof(watched) / sizeof(watched[0]) - 1)

struct gw_watch {
    struct bsn_embedded_gw *e;
    const char *path;
    struct bsn_client_watch *w;
    char rv[32];
};

struct bsn_embedded_gw {
    struct bsn_loop *loop;
    struct bsn_client *client;
    struct bsn_gw *gw;
    struct bsn_gw_objects *objs;
    struct gw_watch watches[NWATCH];
    bool rebuild_scheduled, stopping;
    char address[64];
};

static void start_watch(struct gw_watch *gw);

static void
rebuild(struct bsn_loop *loop, void *data)
{
    struct bsn_embedded_gw *e = data;
    e->rebuild_scheduled = false;
    if (e->stopping)
        return;
    json_t *arr = bsn_gw_objects_array(e->objs);
    struct bsn_err err;
    bsn_err_clear(&err);
    if (bsn_gw_update(e->gw, arr, &err) < 0)
        bsn_warn("gateway", "configuration not applied: %s", err.msg);
    /* Gateway / HTTPRoute status (written only when it differs, so this settles) */
    json_t *ups = bsn_gw_status_updates(arr, e->address);
    size_t i;
    json_t *u;
    json_array_foreach(ups, i, u)
    {
        bsn_client_request_json(e->client, "PATCH", json_string_value(json_object_get(u, "path")),
                                "application/merge-patch+json", json_object_get(u, "body"), NULL,
                                NULL);
    }
    json_decref(ups);
    json_decref(arr);
}

/* Ingresses of our class (or of no class: ours is the default) report the node's address. */
static void
ingress_status(struct bsn_embedded_gw *e, json_t *ing)
{
    json_t *meta = json_object_get(ing, "metadata");
    const char *cls =
        json_string_value(json_object_get(json_object_get(ing, "spec"), "ingressClassName"));
    if (cls && strcmp(cls, "bosun") != 0)
        return;
    if (json_object_get(meta, "deletionTimestamp"))
        return;
    json_t *cur =
        json_object_get(json_object_get(json_object_get(ing, "status"), "loadBalancer"), "ingress");
    const char *ip = json_string_value(json_object_get(json_array_get(cur, 0), "ip"));
    if (ip && json_array_size(cur) == 1 && strcmp(ip, e->address) == 0)
        return;
    char path[600];
    snprintf(path, sizeof(path), "/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s/status",
             json_string_value(json_object_get(meta, "namespace")) ?: "default",
             json_string_value(json_object_get(meta, "name")) ?: "");
    json_t *patch =
        json_pack("{s:{s:{s:[{s:s}]}}}", "status", "loadBalancer", "ingress", "ip", e->address);
    bsn_client_request_json(e->client, "PATCH", path, "application/merge-patch+json", patch, NULL,
                            NULL);
    json_decref(patch);
}

static void
on_event(const char *type, json_t *obj, void *data)
{
    struct gw_watch *w = data;
    struct bsn_embedded_gw *e = w->e;
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv)
        snprintf(w->rv, sizeof(w->rv), "%s", rv);
    if (!strcmp(type, "BOOKMARK") || !strcmp(type, "ERROR"))
        return;
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (kind && !strcmp(kind, "Ingress") && strcmp(type, "DELETED") != 0)
        ingress_status(e, obj);
    if (bsn_gw_objects_apply(e->objs, type, obj) > 0 && !e->rebuild_scheduled) {
        e->rebuild_scheduled = true;
        bsn_loop_defer(e->loop, rebuild, e);
    }
}

static void
restart_all(struct bsn_embedded_gw *e)
{
    for (size_t i = 0; i < NWATCH; i++) {
        bsn_client_watch_stop(e->watches[i].w);
        e->watches[i].w = NULL;
        e->watches[i].rv[0] = '\0';
    }
    bsn_gw_objects_free(e->objs);
    e->objs = bsn_gw_objects_new();
    for (size_t i = 0; i < NWATCH; i++)
        start_watch(&e->watches[i]);
}

static void
on_closed(int status, void *data)
{
    struct gw_watch *w = data;
    struct bsn_embedded_gw *e = w->e;
    w->w = NULL;
    if (e->stopping)
        return;
    if (status == 410) {
        bsn_info("gateway", "watch of %s expired: relisting everything", w->path);
        restart_all(e);
        return;
    }
    start_watch(w);
}

static void
start_watch(struct gw_watch *w)
{
    w->w = bsn_client_watch_from(w->e->client, w->path, w->rv, on_event, on_closed, w);
}

struct bsn_embedded_gw *
bsn_embed_gateway_start(struct bsn_loop *loop, struct bsn_apiserver *api,
                        const struct bsn_gw_options *opts, const char *address, struct bsn_err *err)
{
    struct bsn_embedded_gw *e = bsn_calloc(1, sizeof(*e));
    e->loop = loop;
    snprintf(e->address, sizeof(e->address), "%s", address ? address : "127.0.0.1");
    e->gw = bsn_gw_new(opts, err);
    if (!e->gw) {
        free(e);
        return NULL;
    }
    if (bsn_gw_start(e->gw, err) < 0) {
        bsn_gw_free(e->gw);
        free(e);
        return NULL;
    }
    e->client = bsn_client_new_local(api);
    e->objs = bsn_gw_objects_new();
    for (size_t i = 0; i < NWATCH; i++) {
        e->watches[i].e = e;
        e->watches[i].path = watched[i];
        start_watch(&e->watches[i]);
    }
    return e;
}

void
bsn_embed_gateway_stop(struct bsn_embedded_gw *e)
{
    if (!e)
        return;
    e->stopping = true;
    bsn_client_free(e->client); /* stops the watches */
    bsn_gw_drain(e->gw, 2000);
    bsn_gw_stop(e->gw);
    bsn_gw_free(e->gw);
    bsn_gw_objects_free(e->objs);
    free(e);
}
