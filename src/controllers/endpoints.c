/*
 * endpoints.c - the Endpoints and EndpointSlice controllers (one file: they share the pod to
 * address resolution).
 *
 * For every Service with a selector: the pods it selects that have an IP become addresses.
 * Endpoints: ready pods in `addresses`, others in `notReadyAddresses` (all in `addresses` with
 * publishNotReadyAddresses), terminating pods left out; one subset per distinct set of resolved
 * ports (named targetPorts are looked up in each pod's containers). EndpointSlices: one slice
 * per distinct port set, labelled kubernetes.io/service-name and owned by the Service, with
 * ready / serving / terminating conditions per endpoint. Both are written only when they differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/json.h"
#include "codec/selector.h"
#include "controllers/ctrl_int.h"

#define MANAGED_BY "endpointslice-controller.k8s.io"

struct epctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *svcs, *pods, *eps, *slices;
    struct bsn_workqueue *q;
    struct bsn_map pending; /* svc key -> (uintptr_t) slice creates in flight */
};

static int
selector_of(const json_t *svc, struct bsn_selector *sel)
{
    json_t *s = bsn_json_path(svc, "spec.selector");
    if (!json_is_object(s) || json_object_size(s) == 0)
        return -1;
    json_t *ls = json_pack("{s:O}", "matchLabels", s);
    struct bsn_err err;
    int rc = bsn_selector_from_json(ls, sel, &err);
    json_decref(ls);
    return rc;
}

static void
enqueue_for_pod(struct epctrl *e, const json_t *pod)
{
    const struct bsn_map *m = bsn_informer_ns(e->svcs, bsn_json_str(pod, "metadata.namespace"));
    void *v;
    const char *k;
    size_t it = 0;
    json_t *labels = bsn_json_path(pod, "metadata.labels");
    while (m && bsn_map_next(m, &it, &k, &v)) {
        struct bsn_selector sel;
        if (selector_of(v, &sel) < 0)
            continue;
        if (bsn_selector_match(&sel, labels))
            bsn_workqueue_add_coalesced(e->q, k);
        bsn_selector_fini(&sel);
    }
}

static void
pod_added(json_t *pod, void *data)
{
    enqueue_for_pod(data, pod);
}

static void
pod_updated(json_t *old, json_t *pod, void *data)
{
    enqueue_for_pod(data, pod);
    if (!bsn_json_equal(bsn_json_path(old, "metadata.labels"),
                        bsn_json_path(pod, "metadata.labels")))
        enqueue_for_pod(data, old);
}

static void
svc_changed(json_t *svc, void *data)
{
    struct epctrl *e = data;
    char key[512];
    bsn_obj_key(svc, key, sizeof(key));
    bsn_workqueue_add(e->q, key);
}

static void
svc_updated(json_t *old, json_t *svc, void *data)
{
    svc_changed(svc, data);
}

static void
slice_added(json_t *sl, void *data)
{
    struct epctrl *e = data;
    const char *svc = json_string_value(
        json_object_get(bsn_json_path(sl, "metadata.labels"), "kubernetes.io/service-name"));
    if (!svc)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", bsn_json_str(sl, "metadata.namespace") ?: "", svc);
    uintptr_t n = (uintptr_t)bsn_map_get(&e->pending, key);
    if (n > 1)
        bsn_map_put(&e->pending, key, (void *)(n - 1));
    else if (n == 1)
        bsn_map_del(&e->pending, key);
    bsn_workqueue_add_coalesced(e->q, key);
}

static void
slice_deleted(json_t *sl, void *data)
{
    struct epctrl *e = data;
    const char *svc = json_string_value(
        json_object_get(bsn_json_path(sl, "metadata.labels"), "kubernetes.io/service-name"));
    if (!svc)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", bsn_json_str(sl, "metadata.namespace") ?: "", svc);
    bsn_workqueue_add_coalesced(e->q, key);
}

static void
slice_updated(json_t *old, json_t *sl, void *data)
{
    struct epctrl *e = data;
    const char *svc = json_string_value(
        json_object_get(bsn_json_path(sl, "metadata.labels"), "kubernetes.io/service-name"));
    if (!svc)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", bsn_json_str(sl, "metadata.namespace") ?: "", svc);
    bsn_workqueue_add_coalesced(e->q, key);
}

/* Resolves a service port's targetPort for one pod; 0 when a named port is not found. */
static int64_t
resolve_port(const json_t *sp, const json_t *pod)
{
    json_t *tp = json_object_get(sp, "targetPort");
    if (json_is_integer(tp))
        return json_integer_value(tp);
    if (json_is_string(tp)) {
        const char *name = json_string_value(tp);
        char *end;
        long n = strtol(name, &end, 10);
        if (*name && !*end)
            return n;
        size_t i, j;
        json_t *c, *p;
        json_array_foreach(bsn_json_path(pod, "spec")
                               ? json_object_get(bsn_json_path(pod, "spec"), "containers")
                               : NULL,
                           i, c)
        {
            json_array_foreach(json_object_get(c, "ports"), j, p)
            {
                const char *pn = json_string_value(json_object_get(p, "name"));
                if (pn && !strcmp(pn, name))
                    return json_integer_value(json_object_get(p, "containerPort"));
            }
        }
        return 0;
    }
    return json_integer_value(json_object_get(sp, "port"));
}

/* Ports of the service as resolved for pod: [{name, port, protocol}], NULL if a named port is
 * missing for every port. */
static json_t *
pod_ports(const json_t *svc, const json_t *pod, bool slice)
{
    json_t *out = json_array();
    size_t i;
    json_t *sp;
    json_array_foreach(
        bsn_json_path(svc, "spec") ? json_object_get(bsn_json_path(svc, "spec"), "ports") : NULL, i,
        sp)
    {
        int64_t port = resolve_port(sp, pod);
        if (port <= 0)
            continue;
        json_t *p = json_pack("{s:I,s:s}", "port", (json_int_t)port, "protocol",
                              json_string_value(json_object_get(sp, "protocol")) ?: "TCP");
        const char *name = json_string_value(json_object_get(sp, "name"));
        if (name && *name)
            json_object_set_new(p, "name", json_string(name));
        else if (slice)
            json_object_set_new(p, "name", json_string(""));
        json_t *ap = json_object_get(sp, "appProtocol");
        if (ap)
            json_object_set(p, "appProtocol", ap);
        json_array_append_new(out, p);
    }
    return out;
}

static int
cmp_ip(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *ix = json_string_value(json_object_get(x, "ip"));
    if (!ix)
        ix = json_string_value(json_array_get(json_object_get(x, "addresses"), 0));
    const char *iy = json_string_value(json_object_get(y, "ip"));
    if (!iy)
        iy = json_string_value(json_array_get(json_object_get(y, "addresses"), 0));
    return strcmp(ix ?: "", iy ?: "");
}

static void
sort_array(json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return;
    json_t **items = bsn_malloc(n * sizeof(*items));
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(arr, i));
    qsort(items, n, sizeof(*items), cmp_ip);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
}

struct group {
    char *key; /* dumped ports */
    json_t *ports;
    json_t *ready, *notready; /* Endpoints addresses */
    json_t *eps;              /* EndpointSlice endpoints */
};

static struct group *
group_for(struct group **gs, size_t *ng, json_t *ports)
{
    char *k = bsn_json_dump(ports);
    for (size_t i = 0; i < *ng; i++)
        if (!strcmp((*gs)[i].key, k)) {
            free(k);
            json_decref(ports);
            return &(*gs)[i];
        }
    *gs = bsn_realloc(*gs, (*ng + 1) * sizeof(**gs));
    struct group *g = &(*gs)[(*ng)++];
    g->key = k;
    g->ports = ports;
    g->ready = json_array();
    g->notready = json_array();
    g->eps = json_array();
    return g;
}

static void
free_groups(struct group *gs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(gs[i].key);
        json_decref(gs[i].ports);
        json_decref(gs[i].ready);
        json_decref(gs[i].notready);
        json_decref(gs[i].eps);
    }
    free(gs);
}

static void
sync_endpoints(struct epctrl *e, const char *key, const json_t *svc, struct group *gs, size_t ng)
{
    json_t *subsets = json_array();
    for (size_t i = 0; i < ng; i++) {
        if (json_array_size(gs[i].ready) == 0 && json_array_size(gs[i].notready) == 0)
            continue;
        json_t *ss = json_object();
        sort_array(gs[i].ready);
        sort_array(gs[i].notready);
        if (json_array_size(gs[i].ready))
            json_object_set(ss, "addresses", gs[i].ready);
        if (json_array_size(gs[i].notready))
            json_object_set(ss, "notReadyAddresses", gs[i].notready);
        if (json_array_size(gs[i].ports))
            json_object_set(ss, "ports", gs[i].ports);
        json_array_append_new(subsets, ss);
    }
    json_t *cur = bsn_informer_get(e->eps, key);
    json_t *cs = cur ? json_object_get(cur, "subsets") : NULL;
    if (cur && ((json_array_size(subsets) == 0 && json_array_size(cs) == 0) ||
                (cs && bsn_json_equal(cs, subsets)))) {
        json_decref(subsets);
        return;
    }
    const char *ns = bsn_json_str(svc, "metadata.namespace");
    const char *name = bsn_json_str(svc, "metadata.name");
    json_t *labels = json_deep_copy(bsn_json_path(svc, "metadata.labels"));
    if (!labels)
        labels = json_object();
    json_object_set_new(labels, "endpoints.kubernetes.io/managed-by",
                        json_string("endpoint-controller"));
    json_t *obj =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:o}", "apiVersion", "v1", "kind", "Endpoints",
                  "metadata", "name", name, "namespace", ns, "labels", labels, "subsets", subsets);
    char path[600];
    if (cur) {
        json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
                            json_string(bsn_json_str(cur, "metadata.resourceVersion") ?: ""));
        bsn_ctrl_obj_path("/api/v1", "endpoints", ns, name, path, sizeof(path));
        bsn_ctrl_send(e->ctx, "PUT", path, NULL, obj, e->q, key, NULL, NULL);
    } else {
        bsn_ctrl_obj_path("/api/v1", "endpoints", ns, NULL, path, sizeof(path));
        bsn_ctrl_send(e->ctx, "POST", path, NULL, obj, e->q, key, NULL, NULL);
    }
    json_decref(obj);
}

static void
sync_slices(struct epctrl *e, const char *key, const json_t *svc, struct group *gs, size_t ng)
{
    const char *ns = bsn_json_str(svc, "metadata.namespace");
    const char *name = bsn_json_str(svc, "metadata.name");
    /* existing slices of this service */
    json_t **have = NULL;
    size_t nhave = 0;
    const struct bsn_map *m = bsn_informer_ns(e->slices, ns);
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *labels = bsn_json_path(v, "metadata.labels");
        const char *sn = json_string_value(json_object_get(labels, "kubernetes.io/service-name"));
        const char *mb =
            json_string_value(json_object_get(labels, "endpointslice.kubernetes.io/managed-by"));
        if (sn && !strcmp(sn, name) && mb && !strcmp(mb, MANAGED_BY) && !bsn_ctrl_deleting(v)) {
            have = bsn_realloc(have, (nhave + 1) * sizeof(*have));
            have[nhave++] = v;
        }
    }
    bool *used = bsn_calloc(nhave + 1, sizeof(*used));
    bool creating = bsn_map_get(&e->pending, key) != NULL;
    /* a service without pods still gets one empty slice */
    size_t want = ng;
    for (size_t i = 0; i < want; i++) {
        struct group *g = &gs[i];
        sort_array(g->eps);
        json_t *match = NULL;
        for (size_t j = 0; j < nhave; j++) {
            if (!used[j] && bsn_json_equal(json_object_get(have[j], "ports"), g->ports)) {
                match = have[j];
                used[j] = true;
                break;
            }
        }
        if (!match) {
            for (size_t j = 0; j < nhave; j++)
                if (!used[j]) {
                    match = have[j];
                    used[j] = true;
                    break;
                }
        }
        if (match && bsn_json_equal(json_object_get(match, "endpoints"), g->eps) &&
            bsn_json_equal(json_object_get(match, "ports"), g->ports))
            continue;
        if (!match && creating)
            continue;
        json_t *labels = json_deep_copy(bsn_json_path(svc, "metadata.labels"));
        if (!labels)
            labels = json_object();
        json_object_set_new(labels, "kubernetes.io/service-name", json_string(name));
        json_object_set_new(labels, "endpointslice.kubernetes.io/managed-by",
                            json_string(MANAGED_BY));
        char gen[300];
        snprintf(gen, sizeof(gen), "%.200s-", name);
        json_t *sl = json_pack(
            "{s:s,s:s,s:{s:s,s:s,s:o,s:[{s:s,s:s,s:s,s:s,s:b,s:b}]},s:s,s:O,s:O}", "apiVersion",
            "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "generateName", gen,
            "namespace", ns, "labels", labels, "ownerReferences", "apiVersion", "v1", "kind",
            "Service", "name", name, "uid", bsn_json_str(svc, "metadata.uid") ?: "", "controller",
            1, "blockOwnerDeletion", 1, "addressType", "IPv4", "endpoints", g->eps, "ports",
            g->ports);
        char path[600];
        if (match) {
            json_t *meta = json_object_get(sl, "metadata");
            json_object_del(meta, "generateName");
            json_object_set_new(meta, "name",
                                json_string(bsn_json_str(match, "metadata.name") ?: ""));
            json_object_set_new(meta, "resourceVersion",
                                json_string(bsn_json_str(match, "metadata.resourceVersion") ?: ""));
            bsn_ctrl_obj_path("/apis/discovery.k8s.io/v1", "endpointslices", ns,
                              bsn_json_str(match, "metadata.name"), path, sizeof(path));
            bsn_ctrl_send(e->ctx, "PUT", path, NULL, sl, e->q, key, NULL, NULL);
        } else {
            bsn_ctrl_obj_path("/apis/discovery.k8s.io/v1", "endpointslices", ns, NULL, path,
                              sizeof(path));
            uintptr_t n = (uintptr_t)bsn_map_get(&e->pending, key);
            bsn_map_put(&e->pending, key, (void *)(n + 1));
            bsn_ctrl_send(e->ctx, "POST", path, NULL, sl, e->q, key, NULL, NULL);
        }
        json_decref(sl);
    }
    for (size_t j = 0; j < nhave; j++) {
        if (used[j])
            continue;
        char path[600];
        bsn_ctrl_obj_path("/apis/discovery.k8s.io/v1", "endpointslices", ns,
                          bsn_json_str(have[j], "metadata.name"), path, sizeof(path));
        bsn_ctrl_send(e->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
    }
    free(used);
    free(have);
}

static int
reconcile(const char *key, void *data)
{
    struct epctrl *e = data;
    if (!bsn_informer_synced(e->pods) || !bsn_informer_synced(e->eps) ||
        !bsn_informer_synced(e->slices))
        return 100;
    json_t *svc = bsn_informer_get(e->svcs, key);
    struct bsn_selector sel;
    if (!svc || selector_of(svc, &sel) < 0) {
        json_t *cur = bsn_informer_get(e->eps, key);
        const char *mb =
            cur ? json_string_value(json_object_get(bsn_json_path(cur, "metadata.labels"),
                                                    "endpoints.kubernetes.io/managed-by"))
                : NULL;
        if (!svc && cur && mb) {
            char path[600];
            bsn_ctrl_obj_path("/api/v1", "endpoints", bsn_json_str(cur, "metadata.namespace"),
                              bsn_json_str(cur, "metadata.name"), path, sizeof(path));
            bsn_ctrl_send(e->ctx, "DELETE", path, NULL, NULL, NULL, NULL, NULL, NULL);
        }
        return 0;
    }
    bool publish_all =
        json_is_true(json_object_get(bsn_json_path(svc, "spec"), "publishNotReadyAddresses"));
    const char *svcname = bsn_json_str(svc, "metadata.name");
    struct group *gs = NULL;
    size_t ng = 0;
    const struct bsn_map *m = bsn_informer_ns(e->pods, bsn_json_str(svc, "metadata.namespace"));
    void *v;
    size_t it = 0;
    while (m && bsn_map_next(m, &it, NULL, &v)) {
        json_t *pod = v;
        if (!bsn_selector_match(&sel, bsn_json_path(pod, "metadata.labels")))
            continue;
        const char *ip = bsn_json_str(pod, "status.podIP");
        const char *phase = bsn_json_str(pod, "status.phase") ?: "";
        if (!ip || !*ip || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))
            continue;
        bool terminating = bsn_ctrl_deleting(pod);
        bool ready = bsn_pod_ready(pod);
        json_t *ref = json_pack("{s:s,s:s,s:s,s:s}", "kind", "Pod", "namespace",
                                bsn_json_str(pod, "metadata.namespace") ?: "", "name",
                                bsn_json_str(pod, "metadata.name") ?: "", "uid",
                                bsn_json_str(pod, "metadata.uid") ?: "");
        const char *node = bsn_json_str(pod, "spec.nodeName");
        const char *hn = bsn_json_str(pod, "spec.hostname");
        const char *sd = bsn_json_str(pod, "spec.subdomain");
        bool named = hn && sd && !strcmp(sd, svcname);
        struct group *g = group_for(&gs, &ng, pod_ports(svc, pod, false));
        if (!terminating || publish_all) {
            json_t *addr = json_pack("{s:s,s:O}", "ip", ip, "targetRef", ref);
            if (node)
                json_object_set_new(addr, "nodeName", json_string(node));
            if (named)
                json_object_set_new(addr, "hostname", json_string(hn));
            json_array_append_new(ready || publish_all ? g->ready : g->notready, addr);
        }
        /* slices group by their own port form (unnamed ports carry name "") */
        struct group *slg = group_for(&gs, &ng, pod_ports(svc, pod, true));
        json_t *ep = json_pack("{s:[s],s:{s:b,s:b,s:b},s:O}", "addresses", ip, "conditions",
                               "ready", (ready && !terminating) || publish_all, "serving", ready,
                               "terminating", terminating, "targetRef", ref);
        if (node)
            json_object_set_new(ep, "nodeName", json_string(node));
        if (named)
            json_object_set_new(ep, "hostname", json_string(hn));
        json_array_append_new(slg->eps, ep);
        json_decref(ref);
    }
    bsn_selector_fini(&sel);
    /* Endpoints use the groups with Endpoints-style ports, slices the others; a group holds
     * addresses of one kind only, so the two writers below each skip the other's */
    struct group *eg = NULL, *sgs = NULL;
    size_t neg = 0, nsg = 0;
    for (size_t i = 0; i < ng; i++) {
        if (json_array_size(gs[i].ready) || json_array_size(gs[i].notready)) {
            eg = bsn_realloc(eg, (neg + 1) * sizeof(*eg));
            eg[neg++] = gs[i];
        }
        if (json_array_size(gs[i].eps)) {
            sgs = bsn_realloc(sgs, (nsg + 1) * sizeof(*sgs));
            sgs[nsg++] = gs[i];
        }
    }
    sync_endpoints(e, key, svc, eg, neg);
    if (nsg == 0) {
        /* no endpoints: one empty slice with the service's ports */
        json_t *ports = pod_ports(svc, NULL, true);
        struct group empty = {.key = NULL, .ports = ports, .eps = json_array()};
        sync_slices(e, key, svc, &empty, 1);
        json_decref(ports);
        json_decref(empty.eps);
    } else {
        sync_slices(e, key, svc, sgs, nsg);
    }
    free(eg);
    free(sgs);
    free_groups(gs, ng);
    return 0;
}

void *
bsn_endpoints_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct epctrl *e = bsn_calloc(1, sizeof(*e));
    e->ctx = ctx;
    bsn_map_init(&e->pending);
    e->q = bsn_workqueue_new(ctx->loop, "endpoints", reconcile, e);
    e->svcs = bsn_ctrl_informer(ctx, "/api/v1/services");
    e->pods = bsn_ctrl_informer(ctx, "/api/v1/pods");
    e->eps = bsn_ctrl_informer(ctx, "/api/v1/endpoints");
    e->slices = bsn_ctrl_informer(ctx, "/apis/discovery.k8s.io/v1/endpointslices");
    struct bsn_informer_handler hs = {svc_changed, svc_updated, svc_changed, e};
    bsn_informer_add_handler(e->svcs, &hs);
    struct bsn_informer_handler hp = {pod_added, pod_updated, pod_added, e};
    bsn_informer_add_handler(e->pods, &hp);
    struct bsn_informer_handler hl = {slice_added, slice_updated, slice_deleted, e};
    bsn_informer_add_handler(e->slices, &hl);
    return e;
}

void
bsn_endpoints_ctrl_free(void *self)
{
    struct epctrl *e = self;
    if (!e)
        return;
    bsn_workqueue_free(e->q);
    bsn_map_fini(&e->pending);
    free(e);
}
