/*
 * registry.c - the table of served resources. One row per group/version/resource.
 */
#include "api/registry.h"

#include <string.h>

/*
 * A kind whose strategy file has not been written gets generic behaviour (no defaults or
 * kind-specific validation, Name/Age columns): these weak definitions are overridden by the
 * strong ones in src/api/kinds/ (the bosun executable links this library whole, so the strong ones always win).
 */
#define BSN_GENERIC_STRATEGY(n) \
    __attribute__((weak)) const struct bsn_strategy bsn_strategy_##n = {0}
BSN_GENERIC_STRATEGY(namespace);
BSN_GENERIC_STRATEGY(pod);
BSN_GENERIC_STRATEGY(service);
BSN_GENERIC_STRATEGY(endpoints);
BSN_GENERIC_STRATEGY(configmap);
BSN_GENERIC_STRATEGY(secret);
BSN_GENERIC_STRATEGY(node);
BSN_GENERIC_STRATEGY(event);
BSN_GENERIC_STRATEGY(serviceaccount);
BSN_GENERIC_STRATEGY(pv);
BSN_GENERIC_STRATEGY(pvc);
BSN_GENERIC_STRATEGY(replicationcontroller);
BSN_GENERIC_STRATEGY(deployment);
BSN_GENERIC_STRATEGY(replicaset);
BSN_GENERIC_STRATEGY(statefulset);
BSN_GENERIC_STRATEGY(daemonset);
BSN_GENERIC_STRATEGY(controllerrevision);
BSN_GENERIC_STRATEGY(job);
BSN_GENERIC_STRATEGY(cronjob);
BSN_GENERIC_STRATEGY(ingress);
BSN_GENERIC_STRATEGY(ingressclass);
BSN_GENERIC_STRATEGY(networkpolicy);
BSN_GENERIC_STRATEGY(endpointslice);
BSN_GENERIC_STRATEGY(hpa);
BSN_GENERIC_STRATEGY(lease);
BSN_GENERIC_STRATEGY(pdb);
BSN_GENERIC_STRATEGY(events_event);
BSN_GENERIC_STRATEGY(storageclass);
BSN_GENERIC_STRATEGY(priorityclass);
BSN_GENERIC_STRATEGY(limitrange);
BSN_GENERIC_STRATEGY(resourcequota);
BSN_GENERIC_STRATEGY(gatewayclass);
BSN_GENERIC_STRATEGY(gateway);
BSN_GENERIC_STRATEGY(httproute);
BSN_GENERIC_STRATEGY(gatewaypolicy);

#define ALL "all"
#define NS  true
#define CL  false

/* clang-format off */
const struct bsn_resource bsn_resources[] = {
    /* group, version, kind, plural, singular, shortNames, categories, namespaced, subresources,
     * storage_group, strategy */
    {"", "v1", "Namespace", "namespaces", "namespace", "ns", "", CL, BSN_SUB_STATUS, NULL, &bsn_strategy_namespace, 0},
    {"", "v1", "Pod", "pods", "pod", "po", ALL, NS, BSN_SUB_STATUS | BSN_SUB_BINDING | BSN_SUB_EVICTION | BSN_SUB_LOG | BSN_SUB_EXEC | BSN_SUB_PROXY, NULL, &bsn_strategy_pod, 0},
    {"", "v1", "Service", "services", "service", "svc", ALL, NS, BSN_SUB_STATUS | BSN_SUB_PROXY, NULL, &bsn_strategy_service, 0},
    {"", "v1", "Endpoints", "endpoints", "endpoints", "ep", "", NS, 0, NULL, &bsn_strategy_endpoints, 0},
    {"", "v1", "ConfigMap", "configmaps", "configmap", "cm", "", NS, 0, NULL, &bsn_strategy_configmap, 0},
    {"", "v1", "Secret", "secrets", "secret", "", "", NS, 0, NULL, &bsn_strategy_secret, 0},
    {"", "v1", "Node", "nodes", "node", "no", "", CL, BSN_SUB_STATUS | BSN_SUB_PROXY, NULL, &bsn_strategy_node, 0},
    {"", "v1", "Event", "events", "event", "ev", "", NS, 0, NULL, &bsn_strategy_event, 0},
    {"", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", "sa", "", NS, 0, NULL, &bsn_strategy_serviceaccount, 0},
    {"", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", "pv", "", CL, BSN_SUB_STATUS, NULL, &bsn_strategy_pv, 0},
    {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", "pvc", "", NS, BSN_SUB_STATUS, NULL, &bsn_strategy_pvc, 0},
    {"", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", "rc", ALL, NS, BSN_SUB_STATUS | BSN_SUB_SCALE, NULL, &bsn_strategy_replicationcontroller, 0},
    {"", "v1", "LimitRange", "limitranges", "limitrange", "limits", "", NS, 0, NULL, &bsn_strategy_limitrange, 0},
    {"", "v1", "ResourceQuota", "resourcequotas", "resourcequota", "quota", "", NS, BSN_SUB_STATUS, NULL, &bsn_strategy_resourcequota, 0},
    {"apps", "v1", "Deployment", "deployments", "deployment", "deploy", ALL, NS, BSN_SUB_STATUS | BSN_SUB_SCALE, NULL, &bsn_strategy_deployment, 0},
    {"apps", "v1", "ReplicaSet", "replicasets", "replicaset", "rs", ALL, NS, BSN_SUB_STATUS | BSN_SUB_SCALE, NULL, &bsn_strategy_replicaset, 0},
    {"apps", "v1", "StatefulSet", "statefulsets", "statefulset", "sts", ALL, NS, BSN_SUB_STATUS | BSN_SUB_SCALE, NULL, &bsn_strategy_statefulset, 0},
    {"apps", "v1", "DaemonSet", "daemonsets", "daemonset", "ds", ALL, NS, BSN_SUB_STATUS, NULL, &bsn_strategy_daemonset, 0},
    {"apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", "", "", NS, 0, NULL, &bsn_strategy_controllerrevision, 0},
    {"batch", "v1", "Job", "jobs", "job", "", ALL, NS, BSN_SUB_STATUS, NULL, &bsn_strategy_job, 0},
    {"batch", "v1", "CronJob", "cronjobs", "cronjob", "cj", ALL, NS, BSN_SUB_STATUS, NULL, &bsn_strategy_cronjob, 0},
    {"networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", "ing", "", NS, BSN_SUB_STATUS, NULL, &bsn_strategy_ingress, 0},
    {"networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", "", "", CL, 0, NULL, &bsn_strategy_ingressclass, 0},
    {"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", "netpol", "", NS, 0, NULL, &bsn_strategy_networkpolicy, 0},
    {"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", "", "", NS, 0, NULL, &bsn_strategy_endpointslice, 0},
    {"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", "hpa", ALL, NS, BSN_SUB_STATUS, NULL, &bsn_strategy_hpa, 0},
    {"autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", "hpa", ALL, NS, BSN_SUB_STATUS, "autoscaling", &bsn_strategy_hpa, 0},
    {"coordination.k8s.io", "v1", "Lease", "leases", "lease", "", "", NS, 0, NULL, &bsn_strategy_lease, 0},
    {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", "pdb", "", NS, BSN_SUB_STATUS, NULL, &bsn_strategy_pdb, 0},
    {"events.k8s.io", "v1", "Event", "events", "event", "", "", NS, 0, "", &bsn_strategy_events_event, 0},
    {"storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", "sc", "", CL, 0, NULL, &bsn_strategy_storageclass, 0},
    {"scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", "pc", "", CL, 0, NULL, &bsn_strategy_priorityclass, 0},
    {"gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses", "gatewayclass", "gc", "", CL, BSN_SUB_STATUS, NULL, &bsn_strategy_gatewayclass, 0},
    {"gateway.networking.k8s.io", "v1", "Gateway", "gateways", "gateway", "gtw", "", NS, BSN_SUB_STATUS, NULL, &bsn_strategy_gateway, 0},
    {"gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", "httproute", "", "", NS, BSN_SUB_STATUS, NULL, &bsn_strategy_httproute, 0},
    {"gateway.bosun.dev", "v1alpha1", "GatewayPolicy", "gatewaypolicies", "gatewaypolicy", "gwp", "", NS, 0, NULL, &bsn_strategy_gatewaypolicy, 0},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, 0, NULL, NULL, 0},
};
/* clang-format on */

const struct bsn_resource *
bsn_registry_find(const char *group, const char *version, const char *plural)
{
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++)
        if (strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0 &&
            strcmp(r->plural, plural) == 0)
            return r;
    return NULL;
}

const struct bsn_resource *
bsn_registry_find_kind(const char *group, const char *version, const char *kind)
{
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++)
        if (strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0 &&
            strcmp(r->kind, kind) == 0)
            return r;
    return NULL;
}

const struct bsn_resource *
bsn_registry_find_any_version(const char *group, const char *plural)
{
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++)
        if (strcmp(r->group, group) == 0 && strcmp(r->plural, plural) == 0)
            return r;
    return NULL;
}
