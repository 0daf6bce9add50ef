/*
 * bootstrap.c - objects every cluster has, created on first start as upstream does: the
 * namespaces default, kube-system, kube-public and kube-node-lease, the `kubernetes` Service
 * (the service CIDR's .1, port 443 -> the API server) with its Endpoints and EndpointSlice, and the default
 * ServiceAccount of each namespace. Existing objects are left alone, except that the
 * kubernetes endpoints follow the server's advertised address.
 */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "base/hostaddr.h"
#include "store/store.h"

static void
ensure(struct bsn_apiserver *s, const char *plural, const char *group, json_t *tree)
{
    const struct bsn_resource *res = bsn_registry_find(group, group[0] ? "v1" : "v1", plural);
    const char *ns =
        json_string_value(json_object_get(json_object_get(tree, "metadata"), "namespace"));
    const char *name =
        json_string_value(json_object_get(json_object_get(tree, "metadata"), "name"));
    char key[600];
    api_key(res, ns ? ns : "", name, key, sizeof(key));
    if (api_exists(s, key)) {
        json_decref(tree);
        return;
    }
    char av[64];
    snprintf(av, sizeof(av), "%s%s%s", group, group[0] ? "/" : "", "v1");
    json_object_set_new(tree, "apiVersion", json_string(av));
    json_object_set_new(tree, "kind", json_string(res->kind));
    api_prepare_create_meta(s, res, tree);
    if (res->strategy && res->strategy->prepare_create)
        res->strategy->prepare_create(tree);
    if (res->strategy && res->strategy->defaults)
        res->strategy->defaults(tree);
    if (!strcmp(plural, "services")) {
        struct bsn_err err;
        api_alloc_service(s, tree, NULL, &err);
    }
    api_write(s, BSN_STORE_CREATE, key, tree, res);
    json_decref(tree);
}

void
api_bootstrap(struct bsn_apiserver *s)
{
    static const char *const nss[] = {"default", "kube-system", "kube-public", "kube-node-lease",
                                      NULL};
    for (int i = 0; nss[i]; i++) {
        ensure(s, "namespaces", "",
               json_pack("{s:{s:s,s:{s:s}}}", "metadata", "name", nss[i], "labels",
                         "kubernetes.io/metadata.name", nss[i]));
        ensure(s, "serviceaccounts", "",
               json_pack("{s:{s:s,s:s}}", "metadata", "name", "default", "namespace", nss[i]));
    }
    char kip[20];
    bsn_ip4_format(s->svc_net, 1, kip, sizeof(kip));
    ensure(s, "services", "",
           json_pack("{s:{s:s,s:s,s:{s:s,s:s}},s:{s:s,s:s,s:[{s:s,s:s,s:i,s:i}],s:s}}", "metadata",
                     "name", "kubernetes", "namespace", "default", "labels", "component",
                     "apiserver", "provider", "kubernetes", "spec", "type", "ClusterIP",
                     "clusterIP", kip, "ports", "name", "https", "protocol", "TCP", "port", 443,
                     "targetPort", s->advertise_port, "sessionAffinity", "None"));
    const char *addr = s->advertise_address ? s->advertise_address : "127.0.0.1";
    json_t *ep =
        json_pack("{s:{s:s,s:s,s:{s:s}},s:[{s:[{s:s}],s:[{s:s,s:i,s:s}]}]}", "metadata", "name",
                  "kubernetes", "namespace", "default", "labels",
                  "endpointslice.kubernetes.io/skip-mirror", "true", "subsets", "addresses", "ip",
                  addr, "ports", "name", "https", "port", s->advertise_port, "protocol", "TCP");
    ensure(s, "endpoints", "", ep);
    json_t *slice = json_pack(
        "{s:{s:s,s:s,s:{s:s,s:s}},s:s,s:[{s:[s],s:{s:b}}],s:[{s:s,s:i,s:s}]}", "metadata", "name",
        "kubernetes", "namespace", "default", "labels", "kubernetes.io/service-name", "kubernetes",
        "endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io", "addressType",
        "IPv4", "endpoints", "addresses", addr, "conditions", "ready", 1, "ports", "name", "https",
        "port", s->advertise_port, "protocol", "TCP");
    ensure(s, "endpointslices", "discovery.k8s.io", slice);
    /* the embedded gateway's classes; the IngressClass is the cluster default */
    ensure(s, "ingressclasses", "networking.k8s.io",
           json_pack("{s:{s:s,s:{s:s}},s:{s:s}}", "metadata", "name", "bosun", "annotations",
                     "ingressclass.kubernetes.io/is-default-class", "true", "spec", "controller",
                     "gateway.bosun.dev/controller"));
    ensure(s, "gatewayclasses", "gateway.networking.k8s.io",
           json_pack("{s:{s:s},s:{s:s,s:s}}", "metadata", "name", "bosun", "spec", "controllerName",
                     "gateway.bosun.dev/controller", "description",
                     "Bosun's embedded API gateway"));
    /* the default StorageClass: a directory per claim on the node its first pod lands on */
    ensure(s, "storageclasses", "storage.k8s.io",
           json_pack("{s:{s:s,s:{s:s}},s:s,s:s,s:s}", "metadata", "name", "local-path",
                     "annotations", "storageclass.kubernetes.io/is-default-class", "true",
                     "provisioner", "bosun.dev/local-path", "volumeBindingMode",
                     "WaitForFirstConsumer", "reclaimPolicy", "Delete"));
    api_commit_now(s);
}
