/*
 * test_decode.c - round trips of realistic objects (bsn_proto_encode -> bsn_proto_decode must
 * give back an equal JSON object) across the supported kinds, plus the JSON-side rules:
 * omitempty zero values dropped, pointer zero values kept, inline structs, canonical
 * quantities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/json.h"
#include "proto/proto.h"

static json_t *
parse(const char *txt)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *v = bsn_json_parse(txt, strlen(txt), &err);
    if (!v)
        fail_msg("bad test JSON: %s", err.msg);
    return v;
}

/* encode(json) then decode; returns the decoded object (caller frees). */
static json_t *
through(const json_t *in)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_buf out;
    bsn_buf_init(&out);
    if (bsn_proto_encode(in, &out, &err) < 0)
        fail_msg("encode: %s", err.msg);
    assert_memory_equal(out.data, "k8s\0", 4);
    json_t *back = bsn_proto_decode(out.data, out.len, &err);
    if (!back)
        fail_msg("decode: %s", err.msg);
    bsn_buf_fini(&out);
    return back;
}

static void
roundtrip(const char *txt)
{
    json_t *in = parse(txt);
    json_t *back = through(in);
    if (!bsn_json_equal(in, back)) {
        char *a = bsn_json_dump(in), *b = bsn_json_dump(back);
        fail_msg("round trip differs:\n in: %s\nout: %s", a, b);
    }
    json_decref(in);
    json_decref(back);
}

/* encode(in) then decode must equal want (for normalizations). */
static void
transforms(const char *in_txt, const char *want_txt)
{
    json_t *in = parse(in_txt), *want = parse(want_txt);
    json_t *back = through(in);
    if (!bsn_json_equal(want, back)) {
        char *b = bsn_json_dump(back);
        fail_msg("got %s\nwant %s", b, want_txt);
    }
    json_decref(in);
    json_decref(want);
    json_decref(back);
}

static void
test_deployment_full(void **state)
{
    (void)state;
    roundtrip(
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
        "\"namespace\":\"prod\",\"uid\":\"0c7a-11\",\"resourceVersion\":\"42\","
        "\"generation\":3,\"creationTimestamp\":\"2024-05-06T07:08:09Z\","
        "\"labels\":{\"app\":\"web\",\"tier\":\"fe\"},\"annotations\":{\"a/b\":\"c\"},"
        "\"ownerReferences\":[{\"apiVersion\":\"x/v1\",\"kind\":\"Owner\",\"name\":\"o\","
        "\"uid\":\"u1\",\"controller\":true,\"blockOwnerDeletion\":false}],"
        "\"finalizers\":[\"f1\"]},"
        "\"spec\":{\"replicas\":0,\"revisionHistoryLimit\":5,\"progressDeadlineSeconds\":600,"
        "\"selector\":{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":"
        "\"tier\",\"operator\":\"In\",\"values\":[\"fe\",\"be\"]}]},"
        "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":"
        "\"25%\",\"maxSurge\":1}},\"minReadySeconds\":2,"
        "\"template\":{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":"
        "\"web\"}},\"spec\":{\"terminationGracePeriodSeconds\":0,"
        "\"containers\":[{\"name\":\"app\",\"image\":\"nginx:1.25\","
        "\"command\":[\"/bin/sh\",\"-c\"],\"args\":[\"exec nginx\"],"
        "\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}],"
        "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"EMPTY\"},"
        "{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\","
        "\"fieldPath\":\"metadata.name\"}}},{\"name\":\"PASS\",\"valueFrom\":"
        "{\"secretKeyRef\":{\"name\":\"db\",\"key\":\"pw\",\"optional\":false}}},"
        "{\"name\":\"CFG\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cm\",\"key\":"
        "\"k\"}}},{\"name\":\"MEM\",\"valueFrom\":{\"resourceFieldRef\":{\"resource\":"
        "\"limits.memory\",\"divisor\":\"1Mi\"}}}],"
        "\"envFrom\":[{\"prefix\":\"X_\",\"configMapRef\":{\"name\":\"cm\"}},"
        "{\"secretRef\":{\"name\":\"s\",\"optional\":true}}],"
        "\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"},"
        "\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"}},"
        "\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\",\"readOnly\":true},"
        "{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\",\"subPath\":\"x\"}],"
        "\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":\"http\","
        "\"scheme\":\"HTTP\",\"httpHeaders\":[{\"name\":\"X\",\"value\":\"y\"}]},"
        "\"initialDelaySeconds\":5,\"periodSeconds\":10,\"timeoutSeconds\":1,"
        "\"successThreshold\":1,\"failureThreshold\":3},"
        "\"readinessProbe\":{\"tcpSocket\":{\"port\":8080}},"
        "\"startupProbe\":{\"exec\":{\"command\":[\"cat\",\"/ready\"]},"
        "\"failureThreshold\":30},"
        "\"lifecycle\":{\"preStop\":{\"sleep\":{\"seconds\":5}},\"postStart\":{\"exec\":"
        "{\"command\":[\"true\"]}}},"
        "\"securityContext\":{\"runAsNonRoot\":true,\"runAsUser\":1000,"
        "\"allowPrivilegeEscalation\":false,\"readOnlyRootFilesystem\":true,"
        "\"capabilities\":{\"drop\":[\"ALL\"]},\"seccompProfile\":{\"type\":"
        "\"RuntimeDefault\"}},\"imagePullPolicy\":\"IfNotPresent\","
        "\"terminationMessagePath\":\"/dev/termination-log\","
        "\"terminationMessagePolicy\":\"File\"}],"
        "\"initContainers\":[{\"name\":\"init\",\"image\":\"busybox\",\"restartPolicy\":"
        "\"Always\",\"resources\":{}}],"
        "\"volumes\":[{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"pvc\"}},"
        "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"defaultMode\":420,\"items\":"
        "[{\"key\":\"a\",\"path\":\"a.txt\",\"mode\":256}]}},"
        "{\"name\":\"sec\",\"secret\":{\"secretName\":\"s\",\"optional\":true}},"
        "{\"name\":\"tmp\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"64Mi\"}},"
        "{\"name\":\"host\",\"hostPath\":{\"path\":\"/var/log\",\"type\":\"Directory\"}},"
        "{\"name\":\"dapi\",\"downwardAPI\":{\"items\":[{\"path\":\"labels\",\"fieldRef\":"
        "{\"fieldPath\":\"metadata.labels\"}}]}},"
        "{\"name\":\"proj\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{"
        "\"audience\":\"api\",\"expirationSeconds\":3600,\"path\":\"token\"}},"
        "{\"configMap\":{\"name\":\"kube-root-ca.crt\",\"items\":[{\"key\":\"ca.crt\","
        "\"path\":\"ca.crt\"}]}}],\"defaultMode\":420}}],"
        "\"restartPolicy\":\"Always\",\"dnsPolicy\":\"ClusterFirst\","
        "\"serviceAccountName\":\"web\",\"automountServiceAccountToken\":false,"
        "\"nodeSelector\":{\"disk\":\"ssd\"},\"hostNetwork\":true,"
        "\"securityContext\":{\"fsGroup\":2000,\"supplementalGroups\":[1,2]},"
        "\"imagePullSecrets\":[{\"name\":\"reg\"}],"
        "\"affinity\":{\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":"
        "[{\"weight\":100,\"podAffinityTerm\":{\"labelSelector\":{\"matchLabels\":"
        "{\"app\":\"web\"}},\"topologyKey\":\"kubernetes.io/hostname\"}}]},"
        "\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
        "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":"
        "\"In\",\"values\":[\"a\"]}]}]}}},"
        "\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
        "\"tolerationSeconds\":0}],"
        "\"topologySpreadConstraints\":[{\"maxSkew\":1,\"topologyKey\":\"zone\","
        "\"whenUnsatisfiable\":\"DoNotSchedule\",\"labelSelector\":{\"matchLabels\":"
        "{\"app\":\"web\"}}}],\"priorityClassName\":\"high\",\"priority\":0,"
        "\"hostAliases\":[{\"ip\":\"10.0.0.1\",\"hostnames\":[\"a\",\"b\"]}],"
        "\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\"],\"options\":[{\"name\":\"ndots\","
        "\"value\":\"2\"}]},\"enableServiceLinks\":false}}},"
        "\"status\":{\"observedGeneration\":3,\"replicas\":2,\"readyReplicas\":1,"
        "\"conditions\":[{\"type\":\"Available\",\"status\":\"True\",\"reason\":\"R\","
        "\"message\":\"m\",\"lastUpdateTime\":\"2024-05-06T07:08:10Z\","
        "\"lastTransitionTime\":\"2024-05-06T07:08:11Z\"}]}}");
}

static void
test_secret_binary(void **state)
{
    (void)state;
    /* every byte value survives: base64 in JSON, raw bytes on the wire */
    roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\","
              "\"creationTimestamp\":null},\"type\":\"Opaque\",\"immutable\":false,"
              "\"data\":{\"bin\":\"AAECA/8=\",\"empty\":\"\",\"text\":\"aGVsbG8=\"},"
              "\"stringData\":{\"plain\":\"x\"}}");
    json_t *in = parse("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{},"
                       "\"data\":{\"k\":\"not base64!\"}}");
    struct bsn_buf out;
    struct bsn_err err;
    bsn_buf_init(&out);
    bsn_err_clear(&err);
    assert_int_equal(bsn_proto_encode(in, &out, &err), -1);
    assert_int_equal(err.code, 400);
    assert_non_null(strstr(err.msg, "data.k"));
    bsn_buf_fini(&out);
    json_decref(in);
}

static void
test_service_targetports(void **state)
{
    (void)state;
    roundtrip(
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"svc\","
        "\"creationTimestamp\":null},\"spec\":{\"type\":\"LoadBalancer\","
        "\"selector\":{\"app\":\"web\"},\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":"
        "[\"10.96.0.10\"],\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\","
        "\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":"
        "{\"timeoutSeconds\":10800}},\"externalTrafficPolicy\":\"Local\","
        "\"healthCheckNodePort\":31000,\"allocateLoadBalancerNodePorts\":true,"
        "\"internalTrafficPolicy\":\"Cluster\",\"ports\":[{\"name\":\"http\",\"port\":80,"
        "\"targetPort\":8080,\"protocol\":\"TCP\",\"nodePort\":30080},{\"name\":\"https\","
        "\"port\":443,\"targetPort\":\"https\",\"protocol\":\"TCP\",\"appProtocol\":"
        "\"https\"},{\"name\":\"zero\",\"port\":53,\"targetPort\":0,\"protocol\":\"UDP\"}]},"
        "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"1.2.3.4\",\"ipMode\":\"VIP\"}]},"
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"observedGeneration\":1,"
        "\"lastTransitionTime\":\"2024-01-01T00:00:00Z\",\"reason\":\"R\",\"message\":\"\"}]}}");
}

static void
test_workloads(void **state)
{
    (void)state;
    roundtrip(
        "{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\",\"metadata\":{\"name\":\"cj\","
        "\"creationTimestamp\":null},\"spec\":{\"schedule\":\"*/5 * * * *\",\"timeZone\":"
        "\"Etc/UTC\",\"startingDeadlineSeconds\":100,\"concurrencyPolicy\":\"Forbid\","
        "\"suspend\":false,\"successfulJobsHistoryLimit\":0,\"failedJobsHistoryLimit\":1,"
        "\"jobTemplate\":{\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"backoffLimit\":"
        "2,\"completions\":3,\"parallelism\":1,\"ttlSecondsAfterFinished\":60,"
        "\"completionMode\":\"Indexed\",\"activeDeadlineSeconds\":600,"
        "\"podFailurePolicy\":{\"rules\":[{\"action\":\"Ignore\",\"onExitCodes\":{"
        "\"operator\":\"In\",\"values\":[1,-2,42]}}]},"
        "\"template\":{\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"restartPolicy\":"
        "\"OnFailure\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"resources\":{}}]"
        "}}}}},\"status\":{\"lastScheduleTime\":\"2024-02-03T04:05:06Z\",\"active\":"
        "[{\"kind\":\"Job\",\"name\":\"cj-1\",\"namespace\":\"d\",\"uid\":\"u\"}]}}");
    roundtrip(
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"db\","
        "\"creationTimestamp\":null},\"spec\":{\"replicas\":3,\"serviceName\":\"db\","
        "\"podManagementPolicy\":\"Parallel\",\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
        "\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"partition\":0}},"
        "\"persistentVolumeClaimRetentionPolicy\":{\"whenDeleted\":\"Retain\",\"whenScaled\":"
        "\"Delete\"},\"template\":{\"metadata\":{\"creationTimestamp\":null},\"spec\":"
        "{\"containers\":[{\"name\":\"c\",\"image\":\"pg\",\"resources\":{}}]}},"
        "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\",\"creationTimestamp\":null},"
        "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"storageClassName\":\"\","
        "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}},\"status\":{}}]},"
        "\"status\":{\"replicas\":0,\"availableReplicas\":3}}");
    roundtrip(
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"ds\","
        "\"creationTimestamp\":null},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
        "\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":"
        "1,\"maxSurge\":0}},\"template\":{\"metadata\":{\"creationTimestamp\":null},\"spec\":"
        "{\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{}}]}}},"
        "\"status\":{\"currentNumberScheduled\":1,\"numberMisscheduled\":0,"
        "\"desiredNumberScheduled\":1,\"numberReady\":1}}");
    roundtrip("{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"rs\","
              "\"creationTimestamp\":null},\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":"
              "{\"a\":\"b\"}},\"template\":{\"metadata\":{\"creationTimestamp\":null},\"spec\":"
              "{\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{}}]}}},"
              "\"status\":{\"replicas\":1,\"fullyLabeledReplicas\":1}}");
}

static void
test_policy_and_autoscaling(void **state)
{
    (void)state;
    roundtrip("{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadata\":"
              "{\"name\":\"p\",\"creationTimestamp\":null},\"spec\":{\"minAvailable\":\"50%\","
              "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"unhealthyPodEvictionPolicy\":"
              "\"AlwaysAllow\"},\"status\":{\"disruptionsAllowed\":1,\"currentHealthy\":2,"
              "\"desiredHealthy\":1,\"expectedPods\":2,\"disruptedPods\":{\"p-1\":"
              "\"2024-01-01T00:00:00Z\"}}}");
    roundtrip("{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"p1\","
              "\"namespace\":\"default\",\"creationTimestamp\":null},\"deleteOptions\":"
              "{\"gracePeriodSeconds\":0,\"propagationPolicy\":\"Foreground\",\"dryRun\":[\"All\"],"
              "\"preconditions\":{\"uid\":\"u1\",\"resourceVersion\":\"\"},"
              "\"orphanDependents\":false}}");
    roundtrip("{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\","
              "\"metadata\":{\"name\":\"h\",\"creationTimestamp\":null},\"spec\":{"
              "\"scaleTargetRef\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":"
              "\"web\"},\"minReplicas\":1,\"maxReplicas\":10,\"metrics\":[{\"type\":\"Resource\","
              "\"resource\":{\"name\":\"cpu\",\"target\":{\"type\":\"Utilization\","
              "\"averageUtilization\":80}}},{\"type\":\"Pods\",\"pods\":{\"metric\":{\"name\":"
              "\"qps\"},\"target\":{\"type\":\"AverageValue\",\"averageValue\":\"1k\"}}}],"
              "\"behavior\":{\"scaleDown\":{\"stabilizationWindowSeconds\":300,\"selectPolicy\":"
              "\"Max\",\"policies\":[{\"type\":\"Percent\",\"value\":10,\"periodSeconds\":60}]}}},"
              "\"status\":{\"desiredReplicas\":2,\"currentReplicas\":2,\"lastScaleTime\":"
              "\"2024-01-01T00:00:00Z\",\"conditions\":[{\"type\":\"AbleToScale\",\"status\":"
              "\"True\",\"lastTransitionTime\":\"2024-01-01T00:00:01Z\"}]}}");
    roundtrip(
        "{\"apiVersion\":\"autoscaling/v1\",\"kind\":\"Scale\",\"metadata\":{\"name\":\"web\","
        "\"creationTimestamp\":null},\"spec\":{\"replicas\":4},\"status\":{\"replicas\":2,"
        "\"selector\":\"app=web\"}}");
}

static void
test_core_misc(void **state)
{
    (void)state;
    roundtrip("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":"
              "{\"name\":\"l\",\"creationTimestamp\":null},\"spec\":{\"holderIdentity\":\"n1\","
              "\"leaseDurationSeconds\":40,\"renewTime\":\"2024-03-04T05:06:07.123456Z\","
              "\"acquireTime\":\"2024-03-04T05:00:00.000000Z\",\"leaseTransitions\":0}}");
    roundtrip(
        "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":"
        "{\"name\":\"e\",\"creationTimestamp\":null,\"labels\":{\"kubernetes.io/service-name\":"
        "\"svc\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],"
        "\"conditions\":{\"ready\":true,\"serving\":true,\"terminating\":false},"
        "\"nodeName\":\"n1\",\"targetRef\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":"
        "\"d\",\"uid\":\"u\"}}],\"ports\":[{\"name\":\"\",\"port\":80,\"protocol\":\"TCP\"}]}");
    roundtrip(
        "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"e\","
        "\"namespace\":\"d\",\"creationTimestamp\":null},\"involvedObject\":{\"kind\":\"Pod\","
        "\"name\":\"p\"},\"reason\":\"Started\",\"message\":\"ok\",\"source\":{\"component\":"
        "\"kubelet\"},\"firstTimestamp\":\"2024-01-01T00:00:00Z\",\"lastTimestamp\":null,"
        "\"count\":1,\"type\":\"Normal\",\"eventTime\":\"2024-01-01T00:00:00.500000Z\","
        "\"reportingComponent\":\"\",\"reportingInstance\":\"\"}");
    roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\","
              "\"creationTimestamp\":null},\"spec\":{\"podCIDR\":\"10.244.0.0/24\",\"taints\":"
              "[{\"key\":\"k\",\"effect\":\"NoSchedule\"}],\"unschedulable\":true},\"status\":{"
              "\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\",\"pods\":\"110\"},\"conditions\":"
              "[{\"type\":\"Ready\",\"status\":\"True\",\"lastHeartbeatTime\":"
              "\"2024-01-01T00:00:00Z\",\"lastTransitionTime\":null}],\"addresses\":[{\"type\":"
              "\"InternalIP\",\"address\":\"10.0.0.5\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":"
              "{\"Port\":10250}},\"nodeInfo\":{\"machineID\":\"m\",\"systemUUID\":\"s\",\"bootID\":"
              "\"b\",\"kernelVersion\":\"6.1\",\"osImage\":\"Debian\",\"containerRuntimeVersion\":"
              "\"bosun://0.1\",\"kubeletVersion\":\"v1.32.0\",\"kubeProxyVersion\":\"\","
              "\"operatingSystem\":\"linux\",\"architecture\":\"amd64\"}}}");
    roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"p\","
              "\"creationTimestamp\":null},\"target\":{\"kind\":\"Node\",\"name\":\"n1\"}}");
    roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"s\","
              "\"creationTimestamp\":null},\"subsets\":[{\"addresses\":[{\"ip\":\"10.0.0.1\","
              "\"nodeName\":\"n1\"}],\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]}]}");
    roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
              "\"creationTimestamp\":null,\"deletionTimestamp\":\"2024-01-01T00:00:00Z\","
              "\"deletionGracePeriodSeconds\":30},\"spec\":{\"containers\":[{\"name\":\"c\","
              "\"image\":\"x\",\"resources\":{}}]},\"status\":{\"phase\":\"Running\","
              "\"podIP\":\"10.1.0.2\",\"podIPs\":[{\"ip\":\"10.1.0.2\"}],\"startTime\":"
              "\"2024-01-01T00:00:00Z\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":false,"
              "\"restartCount\":0,\"image\":\"x\",\"imageID\":\"\",\"started\":false,\"state\":"
              "{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\",\"startedAt\":null,"
              "\"finishedAt\":\"2024-01-01T00:01:00Z\"}},\"lastState\":{}}]}}");
    roundtrip(
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\",\"metadata\":{"
        "\"name\":\"r\",\"creationTimestamp\":null,\"managedFields\":[{\"manager\":\"kubectl\","
        "\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\",\"time\":"
        "\"2024-01-01T00:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{}}}]},"
        "\"data\":{\"spec\":{\"template\":{\"$patch\":\"replace\"}},\"n\":[1,2.5,null]},"
        "\"revision\":7}");
}

static void
test_storage(void **state)
{
    (void)state;
    roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":"
              "\"pv1\",\"creationTimestamp\":null},\"spec\":{\"capacity\":{\"storage\":\"10Gi\"},"
              "\"hostPath\":{\"path\":\"/srv/pv1\",\"type\":\"DirectoryOrCreate\"},"
              "\"accessModes\":[\"ReadWriteOnce\"],\"claimRef\":{\"namespace\":\"d\",\"name\":"
              "\"c\"},\"persistentVolumeReclaimPolicy\":\"Retain\",\"storageClassName\":"
              "\"local\",\"volumeMode\":\"Filesystem\",\"nodeAffinity\":{\"required\":{"
              "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"kubernetes.io/hostname\","
              "\"operator\":\"In\",\"values\":[\"n1\"]}]}]}}},\"status\":{\"phase\":"
              "\"Bound\"}}");
    roundtrip("{\"apiVersion\":\"storage.k8s.io/v1\",\"kind\":\"StorageClass\",\"metadata\":"
              "{\"name\":\"local\",\"creationTimestamp\":null,\"annotations\":{"
              "\"storageclass.kubernetes.io/is-default-class\":\"true\"}},\"provisioner\":"
              "\"bosun.dev/local\",\"parameters\":{\"root\":\"/srv\"},\"reclaimPolicy\":"
              "\"Delete\",\"allowVolumeExpansion\":false,\"volumeBindingMode\":"
              "\"WaitForFirstConsumer\",\"allowedTopologies\":[{\"matchLabelExpressions\":[{"
              "\"key\":\"zone\",\"values\":[\"a\"]}]}]}");
    roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{"
              "\"name\":\"c\",\"creationTimestamp\":null},\"spec\":{\"accessModes\":"
              "[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},"
              "\"storageClassName\":\"local\",\"volumeName\":\"pv1\"},\"status\":{\"phase\":"
              "\"Bound\",\"capacity\":{\"storage\":\"10Gi\"}}}");
}

/* The JSON rules upstream's encoder applies after a protobuf decode. */
static void
test_json_rules(void **state)
{
    (void)state;
    /* non-pointer omitempty zero values disappear; pointer zeros stay; quantities canonical */
    transforms("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"\","
               "\"generation\":0,\"labels\":{}},\"immutable\":false}",
               "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"creationTimestamp\":"
               "null},\"immutable\":false}");
    transforms(
        "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{},\"spec\":"
        "{\"hard\":{\"cpu\":\"0.5\",\"memory\":1024,\"pods\":\"1000m\"}}}",
        "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"creationTimestamp\":"
        "null},\"spec\":{\"hard\":{\"cpu\":\"500m\",\"memory\":\"1024\",\"pods\":\"1\"}},"
        "\"status\":{}}");
    /* Time keeps whole seconds (upstream drops sub-seconds); required fields get defaults */
    transforms("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\","
               "\"creationTimestamp\":\"2024-01-01T00:00:00.9Z\"},\"status\":{\"conditions\":"
               "[{\"type\":\"T\",\"status\":\"True\"}]}}",
               "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\","
               "\"creationTimestamp\":\"2024-01-01T00:00:00Z\"},\"spec\":{},\"status\":"
               "{\"conditions\":[{\"type\":\"T\",\"status\":\"True\",\"lastTransitionTime\":"
               "null}]}}");
    /* inline structs: Volume.volumeSource and selector's LocalObjectReference are flattened */
    transforms("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{},\"spec\":{\"containers\":"
               "[],\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"cm\"}}]}}",
               "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"creationTimestamp\":null},"
               "\"spec\":{\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"cm\"}}]},"
               "\"status\":{}}");
}

static void
test_unknown_kind_encode(void **state)
{
    (void)state;
    struct bsn_err err;
    struct bsn_buf out;
    bsn_buf_init(&out);
    bsn_err_clear(&err);
    json_t *in = parse("{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\"}");
    assert_int_equal(bsn_proto_encode(in, &out, &err), -1);
    assert_int_equal(err.code, 415);
    assert_int_equal(out.len, 0);
    json_decref(in);
    in = parse("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"spec\":{\"ports\":[{\"port\":"
               "\"eighty\"}]}}");
    assert_int_equal(bsn_proto_encode(in, &out, &err), -1);
    assert_int_equal(err.code, 400);
    assert_non_null(strstr(err.msg, "spec.ports[0].port"));
    json_decref(in);
    bsn_buf_fini(&out);
    assert_true(bsn_proto_has_kind("apps/v1", "Deployment"));
    assert_false(bsn_proto_has_kind("apps/v1", "Widget"));
}

int main(void);

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deployment_full),
        cmocka_unit_test(test_secret_binary),
        cmocka_unit_test(test_service_targetports),
        cmocka_unit_test(test_workloads),
        cmocka_unit_test(test_policy_and_autoscaling),
        cmocka_unit_test(test_core_misc),
        cmocka_unit_test(test_storage),
        cmocka_unit_test(test_json_rules),
        cmocka_unit_test(test_unknown_kind_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
