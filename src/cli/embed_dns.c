/*
 * embed_dns.c - feeds the embedded DNS server's zone from API watches.
 *
 * Two watches (Services, EndpointSlices); every event is applied to the zone at once (an update
 * costs in proportion to the service it touches and is published atomically to the DNS
 * threads). A watch the server ends is resumed from the last resourceVersion; when that is too
 * old (410), both watches start again and the zone is rebuilt inside one begin/commit, so
 * queries see the old zone until the new one is complete.
 */
#include "cli/embed_dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/client.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/dns_server.h"
#include "net/dns_zone.h"
#include "net/proxy.h"

struct dns_watch {
    struct bsn_embedded_dns *e;
    const char *path;
    const char *kind;
    struct bsn_client_watch *w;
    char rv[32];
    bool relisting; /* initial events of a relist: the zone is inside begin() */
};

struct bsn_embedded_dns {
    struct bsn_client *client;
    struct bsn_dns_zone *zone;
    struct bsn_dns_server *server;
    struct dns_watch watches[2];
    bool stopping;
    bool user_ips; /* ClusterIPs answered as the userspace proxy's loopback addresses */
};

static void start_watch(struct dns_watch *w);

/* A copy of a Service whose ClusterIPs are the userspace proxy's addresses (net/proxy.h). */
static json_t *
userspace_ips(json_t *svc)
{
    json_t *c = json_deep_copy(svc);
    json_t *spec = json_object_get(c, "spec");
    char a[16];
    if (bsn_proxy_user_addr(json_string_value(json_object_get(spec, "clusterIP")), a, sizeof(a)) ==
        0)
        json_object_set_new(spec, "clusterIP", json_string(a));
    size_t i;
    json_t *ip;
    json_array_foreach(json_object_get(spec, "clusterIPs"), i, ip)
    {
        if (bsn_proxy_user_addr(json_string_value(ip), a, sizeof(a)) == 0)
            json_string_set(ip, a);
    }
    return c;
}

static void
on_event(const char *type, json_t *obj, void *data)
{
    struct dns_watch *w = data;
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv)
        snprintf(w->rv, sizeof(w->rv), "%s", rv);
    if (!strcmp(type, "BOOKMARK") || !strcmp(type, "ERROR"))
        return;
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *copy = NULL;
    if (w->e->user_ips && !strcmp(w->kind, "Service"))
        obj = copy = userspace_ips(obj);
    if (bsn_dns_zone_apply_kind(w->e->zone, w->kind, obj, !strcmp(type, "DELETED"), &err) < 0)
        bsn_debug("dns", "%s not applied: %s", w->kind, err.msg);
    json_decref(copy);
}

/* Stops both watches and lists everything again into an emptied zone. */
static void
relist(struct bsn_embedded_dns *e)
{
    for (size_t i = 0; i < 2; i++) {
        bsn_client_watch_stop(e->watches[i].w);
        e->watches[i].w = NULL;
        e->watches[i].rv[0] = '\0';
    }
    bsn_dns_zone_begin(e->zone);
    bsn_dns_zone_reset(e->zone);
    for (size_t i = 0; i < 2; i++)
        start_watch(&e->watches[i]);
    bsn_dns_zone_commit(e->zone);
}

static void
on_closed(int status, void *data)
{
    struct dns_watch *w = data;
    struct bsn_embedded_dns *e = w->e;
    w->w = NULL;
    if (e->stopping)
        return;
    if (status == 410) {
        /* too old to resume: rebuild the whole zone from fresh lists */
        relist(e);
        return;
    }
    start_watch(w);
}

static void
start_watch(struct dns_watch *w)
{
    w->w = bsn_client_watch_from(w->e->client, w->path, w->rv, on_event, on_closed, w);
}

struct bsn_embedded_dns *
bsn_embed_dns_start(struct bsn_loop *loop, struct bsn_apiserver *api, const char *listen,
                    const char *domain, struct bsn_err *err)
{
    struct bsn_embedded_dns *e = bsn_calloc(1, sizeof(*e));
    e->zone = bsn_dns_zone_new(domain ? domain : "cluster.local", 0);
    struct bsn_dns_server_config cfg = {
        .listen = listen,
        .threads = 1,
        .zone = e->zone,
        .resolv_conf = "/etc/resolv.conf",
    };
    e->server = bsn_dns_server_start(&cfg, err);
    if (!e->server) {
        bsn_dns_zone_free(e->zone);
        free(e);
        return NULL;
    }
    e->client = bsn_client_new_local(api);
    e->watches[0] = (struct dns_watch){.e = e, .path = "/api/v1/services", .kind = "Service"};
    e->watches[1] = (struct dns_watch){
        .e = e, .path = "/apis/discovery.k8s.io/v1/endpointslices", .kind = "EndpointSlice"};
    for (size_t i = 0; i < 2; i++)
        start_watch(&e->watches[i]);
    (void)loop;
    return e;
}

void
bsn_embed_dns_userspace_ips(struct bsn_embedded_dns *e)
{
    if (!e || e->user_ips)
        return;
    e->user_ips = true;
    /* the watches may have delivered objects already: list again into a fresh zone */
    relist(e);
}

void
bsn_embed_dns_stop(struct bsn_embedded_dns *e)
{
    if (!e)
        return;
    e->stopping = true;
    bsn_client_free(e->client);
    bsn_dns_server_stop(e->server);
    bsn_dns_zone_free(e->zone);
    free(e);
}
