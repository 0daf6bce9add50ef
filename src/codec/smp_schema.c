/*
 * smp_schema.c - the strategic-merge-patch schema of built-in types.
 *
 * Each row mirrors one upstream struct field carrying a `patchStrategy` / `patchMergeKey` tag
 * (k8s.io/api core/v1, apps/v1, batch/v1), or a field whose type has such rows below it (so the
 * walk from a kind's root reaches them). Fields not listed behave as upstream's untagged
 * fields: maps merge recursively, lists are replaced.
 */
#include <string.h>

#include "codec/smp_schema.h"

static const struct bsn_smp_field fields[] = {
    /* ObjectMeta */
    {"ObjectMeta", "ownerReferences", BSN_SMP_LIST_KEYED, "uid", NULL},
    {"ObjectMeta", "finalizers", BSN_SMP_LIST_PRIMITIVE, NULL, NULL},

    /* PodTemplateSpec and JobTemplateSpec */
    {"PodTemplateSpec", "metadata", BSN_SMP_STRUCT, NULL, "ObjectMeta"},
    {"PodTemplateSpec", "spec", BSN_SMP_STRUCT, NULL, "PodSpec"},
    {"JobTemplateSpec", "metadata", BSN_SMP_STRUCT, NULL, "ObjectMeta"},
    {"JobTemplateSpec", "spec", BSN_SMP_STRUCT, NULL, "WorkloadSpec"},

    /* PodSpec */
    {"PodSpec", "volumes", BSN_SMP_LIST_KEYED, "name", "Volume"}, /* merge,retainKeys */
    {"PodSpec", "initContainers", BSN_SMP_LIST_KEYED, "name", "Container"},
    {"PodSpec", "containers", BSN_SMP_LIST_KEYED, "name", "Container"},
    {"PodSpec", "ephemeralContainers", BSN_SMP_LIST_KEYED, "name", "Container"},
    {"PodSpec", "imagePullSecrets", BSN_SMP_LIST_KEYED, "name", NULL},
    {"PodSpec", "hostAliases", BSN_SMP_LIST_KEYED, "ip", NULL},
    {"PodSpec", "topologySpreadConstraints", BSN_SMP_LIST_KEYED, "topologyKey", NULL},
    {"PodSpec", "schedulingGates", BSN_SMP_LIST_KEYED, "name", NULL},
    {"PodSpec", "resourceClaims", BSN_SMP_LIST_KEYED, "name", NULL}, /* merge,retainKeys */

    /* Container (and EphemeralContainerCommon, which has the same tags) */
    {"Container", "ports", BSN_SMP_LIST_KEYED, "containerPort", NULL},
    {"Container", "env", BSN_SMP_LIST_KEYED, "name", NULL},
    {"Container", "volumeMounts", BSN_SMP_LIST_KEYED, "mountPath", NULL},
    {"Container", "volumeDevices", BSN_SMP_LIST_KEYED, "devicePath", NULL},

    /* statuses */
    {"PodStatus", "conditions", BSN_SMP_LIST_KEYED, "type", NULL},
    {"PodStatus", "podIPs", BSN_SMP_LIST_KEYED, "ip", NULL},
    {"PodStatus", "hostIPs", BSN_SMP_LIST_KEYED, "ip", NULL},
    {"ConditionsStatus", "conditions", BSN_SMP_LIST_KEYED, "type", NULL},
    {"NodeStatus", "conditions", BSN_SMP_LIST_KEYED, "type", NULL},
    {"NodeStatus", "addresses", BSN_SMP_LIST_KEYED, "type", NULL},

    /* specs */
    {"NodeSpec", "podCIDRs", BSN_SMP_LIST_PRIMITIVE, NULL, NULL},
    {"ServiceSpec", "ports", BSN_SMP_LIST_KEYED, "port", NULL},
    {"DeploymentSpec", "template", BSN_SMP_STRUCT, NULL, "PodTemplateSpec"},
    {"DeploymentSpec", "strategy", BSN_SMP_STRUCT, NULL, NULL}, /* retainKeys */
    {"WorkloadSpec", "template", BSN_SMP_STRUCT, NULL, "PodTemplateSpec"},
    {"CronJobSpec", "jobTemplate", BSN_SMP_STRUCT, NULL, "JobTemplateSpec"},

    /* roots: one per kind; every root also gets metadata -> ObjectMeta (see lookup) */
    {"Pod", "spec", BSN_SMP_STRUCT, NULL, "PodSpec"},
    {"Pod", "status", BSN_SMP_STRUCT, NULL, "PodStatus"},
    {"PodTemplate", "template", BSN_SMP_STRUCT, NULL, "PodTemplateSpec"},
    {"ReplicationController", "spec", BSN_SMP_STRUCT, NULL, "WorkloadSpec"},
    {"ReplicationController", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"Service", "spec", BSN_SMP_STRUCT, NULL, "ServiceSpec"},
    {"Service", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"Node", "spec", BSN_SMP_STRUCT, NULL, "NodeSpec"},
    {"Node", "status", BSN_SMP_STRUCT, NULL, "NodeStatus"},
    {"Namespace", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"PersistentVolumeClaim", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"ServiceAccount", "secrets", BSN_SMP_LIST_KEYED, "name", NULL},
    {"Deployment", "spec", BSN_SMP_STRUCT, NULL, "DeploymentSpec"},
    {"Deployment", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"ReplicaSet", "spec", BSN_SMP_STRUCT, NULL, "WorkloadSpec"},
    {"ReplicaSet", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"StatefulSet", "spec", BSN_SMP_STRUCT, NULL, "WorkloadSpec"},
    {"StatefulSet", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"DaemonSet", "spec", BSN_SMP_STRUCT, NULL, "WorkloadSpec"},
    {"DaemonSet", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"Job", "spec", BSN_SMP_STRUCT, NULL, "WorkloadSpec"},
    {"Job", "status", BSN_SMP_STRUCT, NULL, "ConditionsStatus"},
    {"CronJob", "spec", BSN_SMP_STRUCT, NULL, "CronJobSpec"},
};

/* Kinds with a root row above, with their API group. */
static const struct {
    const char *group, *kind;
} roots[] = {
    {"", "Pod"},
    {"", "PodTemplate"},
    {"", "ReplicationController"},
    {"", "Service"},
    {"", "Node"},
    {"", "Namespace"},
    {"", "ServiceAccount"},
    {"", "PersistentVolumeClaim"},
    {"apps", "Deployment"},
    {"apps", "ReplicaSet"},
    {"apps", "StatefulSet"},
    {"apps", "DaemonSet"},
    {"batch", "Job"},
    {"batch", "CronJob"},
};

/* API groups whose types are compiled into the upstream API server (SMP allowed). */
static const char *const builtin_groups[] = {
    "",
    "core",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "scheduling.k8s.io",
    "node.k8s.io",
    "events.k8s.io",
    "certificates.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "resource.k8s.io",
    "internal.apiserver.k8s.io",
};

static const struct bsn_smp_field meta_field = {"", "metadata", BSN_SMP_STRUCT, NULL, "ObjectMeta"};

const struct bsn_smp_field *
bsn_smp_field(const char *type, const char *name)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strcmp(fields[i].field, name) == 0 && strcmp(fields[i].type, type) == 0)
            return &fields[i];
    /* every root type (a kind) has ObjectMeta at metadata */
    if (strcmp(name, "metadata") == 0 && type[0] >= 'A' && type[0] <= 'Z' &&
        (strcmp(type, "Object") == 0 || bsn_smp_is_root(type)))
        return &meta_field;
    return NULL;
}

bool
bsn_smp_is_root(const char *kind)
{
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        if (strcmp(roots[i].kind, kind) == 0)
            return true;
    return false;
}

const char *
bsn_smp_root_type(const char *group, const char *kind)
{
    if (!bsn_smp_supported(group, kind))
        return NULL;
    const char *g = group && strcmp(group, "core") != 0 ? group : "";
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        if (strcmp(roots[i].kind, kind) == 0 && strcmp(roots[i].group, g) == 0)
            return roots[i].kind;
    return "Object"; /* built-in kind without tagged lists: only metadata is typed */
}

bool
bsn_smp_supported(const char *api_group, const char *kind)
{
    const char *g = api_group ? api_group : "";
    for (size_t i = 0; i < sizeof(builtin_groups) / sizeof(builtin_groups[0]); i++)
        if (strcmp(builtin_groups[i], g) == 0)
            return kind && kind[0];
    return false;
}
