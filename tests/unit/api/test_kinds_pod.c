/*
 * test_kinds_pod.c - Pod strategy: defaults, validation, update rules, QoS, the STATUS /
 * READY / RESTARTS columns for many container-state combinations, field selectors, and the
 * Age formatting shared by every kind.
 */
#include "kinds_test.h"

static void
test_human_duration(void **state)
{
    static const struct {
        long secs;
        const char *want;
    } cases[] = {
        {-5, "<invalid>"},
        {-1, "0s"},
        {0, "0s"},
        {59, "59s"},
        {119, "119s"},
        {120, "2m"},
        {125, "2m5s"},
        {599, "9m59s"},
        {600, "10m"},
        {10799, "179m"},
        {10800, "3h"},
        {12600, "3h30m"},
        {28800, "8h"},
        {47 * 3600, "47h"},
        {48 * 3600, "2d"},
        {53 * 3600, "2d5h"},
        {8 * 86400, "8d"},
        {400 * 86400, "400d"},
        {730 * 86400, "2y"},
        {800 * 86400, "2y70d"},
        {3000 * 86400L, "8y"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kc_human_duration(cases[i].secs, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want))
            fail_msg("%ld s: got %s want %s", cases[i].secs, buf, cases[i].want);
    }
    bsn_print_age(NULL, buf, sizeof(buf));
    assert_string_equal(buf, "<unknown>");
    bsn_print_age("garbage", buf, sizeof(buf));
    assert_string_equal(buf, "<unknown>");
    char ts[40];
    bsn_print_age(ts_ago(65, ts, sizeof(ts)), buf, sizeof(buf));
    assert_string_equal(buf, "65s");
    bsn_print_age(ts_ago(3 * 86400 + 3600, ts, sizeof(ts)), buf, sizeof(buf));
    assert_string_equal(buf, "3d1h");
}

static void
test_pod_defaults(void **state)
{
    json_t *pod =
        J("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
          "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\","
          "\"ports\":[{\"containerPort\":80}],"
          "\"livenessProbe\":{\"httpGet\":{\"port\":80}},"
          "\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}}},"
          "{\"name\":\"d\",\"image\":\"busybox:1.36\"},"
          "{\"name\":\"e\",\"image\":\"reg.local:5000/app\"},"
          "{\"name\":\"f\",\"image\":\"app:latest\"},"
          "{\"name\":\"g\",\"image\":\"app@sha256:abcd\"}],"
          "\"volumes\":[{\"name\":\"v1\"},{\"name\":\"v2\",\"configMap\":{\"name\":\"x\"}},"
          "{\"name\":\"v3\",\"secret\":{\"secretName\":\"s\"}},"
          "{\"name\":\"v4\",\"hostPath\":{\"path\":\"/tmp\"}}]}}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_pod, pod, &err), 0);
    assert_no_causes(&err);
    const json_t *spec = json_object_get(pod, "spec");
    assert_string_equal(kj_str(spec, "restartPolicy"), "Always");
    assert_string_equal(kj_str(spec, "dnsPolicy"), "ClusterFirst");
    assert_string_equal(kj_str(spec, "schedulerName"), "default-scheduler");
    assert_int_equal(kj_int(spec, "terminationGracePeriodSeconds", 0), 30);
    assert_true(json_is_object(kj_get(spec, "securityContext")));
    assert_true(kj_true(spec, "enableServiceLinks"));
    assert_string_equal(kj_str(spec, "serviceAccountName"), "default");
    assert_string_equal(kj_str(spec, "serviceAccount"), "default");
    assert_int_equal(kj_int(spec, "priority", -1), 0);
    assert_string_equal(kj_str(spec, "preemptionPolicy"), "PreemptLowerPriority");
    const json_t *tols = kj_get(spec, "tolerations");
    assert_int_equal(json_array_size(tols), 2);
    assert_string_equal(kj_str(json_array_get(tols, 0), "key"), "node.kubernetes.io/not-ready");
    assert_string_equal(kj_str(json_array_get(tols, 1), "key"), "node.kubernetes.io/unreachable");
    assert_int_equal(kj_int(json_array_get(tols, 1), "tolerationSeconds", 0), 300);
    assert_string_equal(kj_str(json_array_get(tols, 0), "effect"), "NoExecute");

    const json_t *cs = kj_get(spec, "containers");
    static const char *const pulls[] = {"Always", "IfNotPresent", "Always", "Always",
                                        "IfNotPresent"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(kj_str(json_array_get(cs, i), "imagePullPolicy"), pulls[i]);
    const json_t *c0 = json_array_get(cs, 0);
    assert_string_equal(kj_str(c0, "terminationMessagePath"), "/dev/termination-log");
    assert_string_equal(kj_str(c0, "terminationMessagePolicy"), "File");
    assert_string_equal(kj_str(json_array_get(kj_get(c0, "ports"), 0), "protocol"), "TCP");
    const json_t *lp = kj_get(c0, "livenessProbe");
    assert_int_equal(kj_int(lp, "timeoutSeconds", 0), 1);
    assert_int_equal(kj_int(lp, "periodSeconds", 0), 10);
    assert_int_equal(kj_int(lp, "successThreshold", 0), 1);
    assert_int_equal(kj_int(lp, "failureThreshold", 0), 3);
    assert_string_equal(kj_str(lp, "httpGet.scheme"), "HTTP");
    assert_string_equal(kj_str(lp, "httpGet.path"), "/");
    /* requests defaulted from limits */
    assert_string_equal(kj_str(c0, "resources.requests.cpu"), "500m");
    assert_string_equal(kj_str(c0, "resources.requests.memory"), "128Mi");
    assert_true(json_is_object(kj_get(json_array_get(cs, 1), "resources")));

    const json_t *vols = kj_get(spec, "volumes");
    assert_true(json_is_object(kj_get(json_array_get(vols, 0), "emptyDir")));
    assert_int_equal(kj_int(json_array_get(vols, 1), "configMap.defaultMode", 0), 420);
    assert_int_equal(kj_int(json_array_get(vols, 2), "secret.defaultMode", 0), 420);
    assert_string_equal(kj_str(json_array_get(vols, 3), "hostPath.type"), "");

    /* initial status */
    assert_string_equal(kj_str(pod, "status.phase"), "Pending");
    assert_string_equal(kj_str(pod, "status.qosClass"), "Burstable");

    /* defaulting twice changes nothing (defaults run on every write) */
    json_t *copy = json_deep_copy(pod);
    bsn_strategy_pod.defaults(copy);
    assert_true(json_equal(copy, pod));
    json_decref(copy);
    json_decref(pod);
}

static void
test_pod_host_network_ports(void **state)
{
    json_t *pod =
        J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"hostNetwork\":true,\"containers\":[{"
          "\"name\":\"c\",\"image\":\"x:1\",\"ports\":[{\"containerPort\":8080}]}]}}");
    bsn_strategy_pod.defaults(pod);
    const json_t *p0 =
        json_array_get(kj_get(json_array_get(kj_get(pod, "spec.containers"), 0), "ports"), 0);
    assert_int_equal(kj_int(p0, "hostPort", 0), 8080);
    json_decref(pod);
}

static void
test_pod_tolerations_not_duplicated(void **state)
{
    json_t *pod = J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
                    "\"image\":\"x:1\"}],\"tolerations\":[{\"key\":\"node.kubernetes.io/"
                    "unreachable\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
                    "\"tolerationSeconds\":5}],\"serviceAccountName\":\"robot\"}}");
    bsn_strategy_pod.defaults(pod);
    const json_t *tols = kj_get(pod, "spec.tolerations");
    assert_int_equal(json_array_size(tols), 2);
    assert_int_equal(kj_int(json_array_get(tols, 0), "tolerationSeconds", 0), 5);
    assert_string_equal(kj_str(pod, "spec.serviceAccountName"), "robot");
    assert_string_equal(kj_str(pod, "spec.serviceAccount"), "robot");
    json_decref(pod);
}

static void
test_quantities_canonical(void **state)
{
    json_t *pod = J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
                    "\"image\":\"x:1\",\"resources\":{\"limits\":{\"cpu\":\"0.5\",\"memory\":"
                    "1073741824},\"requests\":{\"cpu\":1,\"memory\":\"1024Mi\"}}}],\"volumes\":[{"
                    "\"name\":\"v\",\"emptyDir\":{\"sizeLimit\":\"1000M\"}}]}}");
    json_object_set_new(
        kj_get(json_array_get(kj_get(pod, "spec.containers"), 0), "resources.requests"),
        "ephemeral-storage", json_string("0.0001"));
    bsn_strategy_pod.defaults(pod);
    const json_t *r = kj_get(json_array_get(kj_get(pod, "spec.containers"), 0), "resources");
    assert_string_equal(
        json_string_value(json_object_get(kj_get(r, "requests"), "ephemeral-storage")), "1m");
    assert_string_equal(kj_str(r, "limits.cpu"), "500m");
    assert_string_equal(kj_str(r, "limits.memory"), "1073741824");
    assert_string_equal(kj_str(r, "requests.cpu"), "1");
    assert_string_equal(kj_str(r, "requests.memory"), "1Gi");
    assert_string_equal(
        kj_str(json_array_get(kj_get(pod, "spec.volumes"), 0), "emptyDir.sizeLimit"), "1G");
    /* request 1 > limit 500m: rejected with upstream's wording */
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_pod.validate(pod, NULL, &err), -1);
    assert_cause(&err, "spec.containers[0].resources.requests",
                 "Invalid value: \"1\": must be less than or equal to cpu limit of 500m");
    json_decref(pod);

    json_t *lr = J("{\"metadata\":{\"name\":\"l\"},\"spec\":{\"limits\":[{\"type\":\"Container\","
                   "\"max\":{\"cpu\":\"2\"},\"min\":{\"memory\":\"64Mi\"},\"default\":{\"memory\":"
                   "\"0.5Gi\"}}]}}");
    bsn_strategy_limitrange.defaults(lr);
    const json_t *l0 = json_array_get(kj_get(lr, "spec.limits"), 0);
    assert_string_equal(kj_str(l0, "default.cpu"), "2");
    assert_string_equal(kj_str(l0, "default.memory"), "512Mi");
    assert_string_equal(kj_str(l0, "defaultRequest.cpu"), "2");
    assert_string_equal(kj_str(l0, "defaultRequest.memory"), "512Mi");
    json_decref(lr);
}

static void
test_pod_validation(void **state)
{
    static const struct {
        const char *spec, *field, *msg;
    } cases[] = {
        {"{\"containers\":[{\"name\":\"c\"}]}", "spec.containers[0].image", "Required value"},
        {"{\"containers\":[]}", "spec.containers", "Required value"},
        {"{\"containers\":[{\"name\":\"Bad_Name\",\"image\":\"x\"}]}", "spec.containers[0].name",
         "Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"a\",\"image\":\"y\"}]}",
         "spec.containers[1].name", "Duplicate value: \"a\""},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"ports\":[{\"containerPort\":70000}]}]"
         "}",
         "spec.containers[0].ports[0].containerPort",
         "Invalid value: 70000: must be between 1 and 65535, inclusive"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"ports\":[{\"containerPort\":0}]}]}",
         "spec.containers[0].ports[0].containerPort", "Required value"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,"
         "\"name\":\"much-too-long-port-name\"}]}]}",
         "spec.containers[0].ports[0].name", "must be no more than 15 characters"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,"
         "\"protocol\":\"HTTP\"}]}]}",
         "spec.containers[0].ports[0].protocol",
         "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""},
        {"{\"restartPolicy\":\"Sometimes\",\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.restartPolicy",
         "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", "
         "\"Never\""},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"imagePullPolicy\":\"Sometimes\"}]}",
         "spec.containers[0].imagePullPolicy",
         "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", "
         "\"Never\""},
        {"{\"dnsPolicy\":\"Foo\",\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.dnsPolicy", "Unsupported value: \"Foo\""},
        {"{\"dnsPolicy\":\"None\",\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.dnsConfig", "Required value: must provide `dnsConfig` when `dnsPolicy` is None"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"volumeMounts\":[{\"name\":\"nope\","
         "\"mountPath\":\"/d\"}]}]}",
         "spec.containers[0].volumeMounts[0].name", "Not found: \"nope\""},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":"
         "\"2\"},\"limits\":{\"cpu\":\"1\"}}}]}",
         "spec.containers[0].resources.requests",
         "Invalid value: \"2\": must be less than or equal to cpu limit of 1"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"limits\":{\"memory\":"
         "\"lots\"}}}]}",
         "spec.containers[0].resources.limits[memory]",
         "quantities must match the regular expression"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"limits\":{\"pods\":"
         "\"1\"}}}]}",
         "spec.containers[0].resources.limits[pods]",
         "Invalid value: \"pods\": must be a standard resource for containers"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"limits\":{"
         "\"nvidia.com/gpu\":\"2\"},\"requests\":{\"nvidia.com/gpu\":\"1\"}}}]}",
         "spec.containers[0].resources.requests",
         "Invalid value: \"1\": must be equal to nvidia.com/gpu limit of 2"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"env\":[{\"name\":\"N\",\"valueFrom\":{"
         "\"fieldRef\":{\"fieldPath\":\"spec.bogus\"}}}]}]}",
         "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
         "Unsupported value: \"spec.bogus\": supported values: \"metadata.name\", "
         "\"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\""},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"env\":[{\"name\":\"N\",\"valueFrom\":{"
         "\"configMapKeyRef\":{\"name\":\"c\"},\"secretKeyRef\":{\"name\":\"s\",\"key\":\"k\"}}}]}]"
         "}",
         "spec.containers[0].env[0].valueFrom",
         "may not have more than one field specified at a time"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"env\":[{\"name\":\"N\",\"valueFrom\":{"
         "\"secretKeyRef\":{\"name\":\"s\"}}}]}]}",
         "spec.containers[0].env[0].valueFrom.secretKeyRef.key", "Required value"},
        {"{\"affinity\":{\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":["
         "{"
         "\"weight\":100,\"podAffinityTerm\":{\"labelSelector\":{\"matchLabels\":{\"a\":\"b\"}}}}]}"
         "},"
         "\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]."
         "podAffinityTerm.topologyKey",
         "Required value: can not be empty"},
        {"{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{"
         "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\"}]}]}}"
         "},"
         "\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
         "nodeSelectorTerms[0].matchExpressions[0].values",
         "Required value: must be specified when `operator` is 'In' or 'NotIn'"},
        {"{\"topologySpreadConstraints\":[{\"maxSkew\":0,\"topologyKey\":\"zone\","
         "\"whenUnsatisfiable\":\"Maybe\"}],\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.topologySpreadConstraints[0].whenUnsatisfiable",
         "Unsupported value: \"Maybe\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""},
        {"{\"securityContext\":{\"runAsUser\":-1},\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]"
         "}",
         "spec.securityContext.runAsUser",
         "Invalid value: -1: must be between 0 and 2147483647, inclusive"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,"
         "\"hostPort\":8080}]},{\"name\":\"b\",\"image\":\"x\",\"ports\":[{\"containerPort\":81,"
         "\"hostPort\":8080}]}]}",
         "spec.containers[1].ports[0].hostPort", "Duplicate value: \"8080/TCP\""},
        {"{\"hostAliases\":[{\"ip\":\"not-an-ip\",\"hostnames\":[\"a\"]}],\"containers\":[{"
         "\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.hostAliases[0].ip", "must be a valid IP address"},
        {"{\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"items\":[{\"key\":\"k\","
         "\"path\":\"../etc/passwd\"}]}}],\"containers\":[{\"name\":\"a\",\"image\":\"x\","
         "\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/v\",\"subPath\":\"/abs\"}]}]}",
         "spec.volumes[0].configMap.items[0].path", "must not contain '..'"},
        {"{\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}],\"containers\":[{\"name\":\"a\","
         "\"image\":\"x\",\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/v\",\"subPath\":"
         "\"/abs\"}]}]}",
         "spec.containers[0].volumeMounts[0].subPath",
         "Invalid value: \"/abs\": must be a relative path"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"livenessProbe\":{}}]}",
         "spec.containers[0].livenessProbe", "Required value: must specify a handler type"},
        {"{\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"livenessProbe\":{\"exec\":{"
         "\"command\":"
         "[\"true\"]},\"successThreshold\":3}}]}",
         "spec.containers[0].livenessProbe.successThreshold", "Invalid value: 3: must be 1"},
        {"{\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"c\"},\"secret\":{\"secretName\":"
         "\"s\"}}],\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.volumes[0].configMap", "may not specify more than 1 volume type"},
        {"{\"initContainers\":[{\"name\":\"i\",\"image\":\"x\",\"readinessProbe\":{\"exec\":"
         "{\"command\":[\"true\"]}}}],\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.initContainers[0].readinessProbe", "Forbidden"},
        {"{\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\",\"value\":\"v\"}],"
         "\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}",
         "spec.tolerations[0].operator", "value must be empty when `operator` is 'Exists'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"p\"},\"spec\":%s}", cases[i].spec);
        json_t *pod = J(text);
        struct bsn_err err;
        int rc = create_check(&bsn_strategy_pod, pod, &err);
        if (rc != -1)
            fail_msg("case %zu accepted", i);
        assert_cause(&err, cases[i].field, cases[i].msg);
        json_decref(pod);
    }
}

static void
test_pod_update_rules(void **state)
{
    json_t *old = J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
                    "\"image\":\"nginx:1\"}]}}");
    bsn_strategy_pod.prepare_create(old);
    bsn_strategy_pod.defaults(old);
    json_t *img = json_deep_copy(old);
    json_object_set_new(json_array_get(kj_get(img, "spec.containers"), 0), "image",
                        json_string("nginx:2"));
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_pod.validate(img, old, &err), 0);

    json_t *bad = json_deep_copy(old);
    json_object_set_new(json_object_get(bad, "spec"), "restartPolicy", json_string("Never"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_pod.validate(bad, old, &err), -1);
    assert_cause(&err, "spec", "Forbidden: pod updates may not change fields other than");

    /* scheduling gates may be removed, not added */
    json_t *gated = json_deep_copy(old);
    json_object_set_new(json_object_get(gated, "spec"), "schedulingGates",
                        J("[{\"name\":\"a\"},{\"name\":\"b\"}]"));
    json_t *ungate = json_deep_copy(gated);
    json_object_set_new(json_object_get(ungate, "spec"), "schedulingGates",
                        J("[{\"name\":\"b\"}]"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_pod.validate(ungate, gated, &err), 0);
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_pod.validate(gated, ungate, &err), -1);
    json_decref(ungate);
    json_decref(gated);

    /* status is kept on a main-resource update; spec is kept on a status update */
    json_object_set_new(json_object_get(old, "status"), "podIP", json_string("10.42.0.5"));
    json_object_set_new(img, "status", json_pack("{s:s}", "phase", "Failed"));
    bsn_strategy_pod.prepare_update(img, old);
    assert_string_equal(kj_str(img, "status.podIP"), "10.42.0.5");
    json_t *st = json_deep_copy(img);
    json_object_set_new(json_object_get(st, "spec"), "nodeName", json_string("sneaky"));
    json_object_set_new(json_object_get(st, "status"), "phase", json_string("Running"));
    bsn_strategy_pod.prepare_status_update(st, old);
    assert_null(kj_str(st, "spec.nodeName"));
    assert_string_equal(kj_str(st, "status.phase"), "Running");
    json_decref(st);
    json_decref(bad);
    json_decref(img);
    json_decref(old);
}

static void
test_qos(void **state)
{
    static const struct {
        const char *containers, *want;
    } cases[] = {
        {"[{\"name\":\"a\"}]", "BestEffort"},
        {"[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]", "Burstable"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]",
         "Guaranteed"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
         "\"requests\":{\"cpu\":\"1000m\",\"memory\":\"1024Mi\"}}}]",
         "Guaranteed"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
         "\"requests\":{\"cpu\":\"500m\"}}}]",
         "Burstable"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}},"
         "{\"name\":\"b\"}]",
         "Burstable"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]", "Burstable"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "{\"containers\":%s}", cases[i].containers);
        json_t *spec = J(text);
        if (strcmp(kp_qos_class(spec), cases[i].want))
            fail_msg("case %zu: %s want %s", i, kp_qos_class(spec), cases[i].want);
        json_decref(spec);
    }
}

/* ---- the STATUS column ---- */

struct status_case {
    const char *pod; /* extra members of the pod object: "spec":..., "status":..., metadata */
    const char *status, *ready, *restarts;
};

static void
test_pod_status_column(void **state)
{
    char fin[40], tmp[4096];
    ts_ago(300, fin, sizeof(fin));
    const struct status_case cases[] = {
        {"\"status\":{\"phase\":\"Pending\"}", "Pending", "0/1", "0"},
        {"\"status\":{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":false,"
         "\"restartCount\":0,\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}",
         "ContainerCreating", "0/1", "0"},
        {"\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":true,"
         "\"restartCount\":0,\"state\":{\"running\":{}}}]}",
         "Running", "1/1", "0"},
        {"\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":"
         "false,\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":"
         "\"Completed\"}}}]}",
         "Completed", "0/1", "0"},
        {"\"status\":{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":"
         "false,\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":1,\"reason\":"
         "\"Error\"}}}]}",
         "Error", "0/1", "0"},
        {"\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":false,"
         "\"restartCount\":5,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}},"
         "\"lastState\":{\"terminated\":{\"exitCode\":1,\"finishedAt\":\"FIN\"}}}]}",
         "CrashLoopBackOff", "0/1", "5 (5m ago)"},
        {"\"status\":{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"c\",\"state\":"
         "{\"terminated\":{\"exitCode\":137,\"signal\":9}}}]}",
         "Signal:9", "0/1", "0"},
        {"\"status\":{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"c\",\"state\":"
         "{\"terminated\":{\"exitCode\":3}}}]}",
         "ExitCode:3", "0/1", "0"},
        {"\"spec\":{\"initContainers\":[{\"name\":\"i\"}],\"containers\":[{\"name\":\"c\"}]},"
         "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"i\",\"state\":"
         "{\"running\":{}}}],\"containerStatuses\":[{\"name\":\"c\",\"state\":{\"waiting\":"
         "{\"reason\":\"PodInitializing\"}}}]}",
         "Init:0/1", "0/1", "0"},
        {"\"spec\":{\"initContainers\":[{\"name\":\"i\"},{\"name\":\"j\"}],\"containers\":[{"
         "\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":"
         "\"i\",\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}},{\"name\":"
         "\"j\",\"state\":{\"waiting\":{\"reason\":\"PodInitializing\"}}}]}",
         "Init:1/2", "0/1", "0"},
        {"\"spec\":{\"initContainers\":[{\"name\":\"i\"}],\"containers\":[{\"name\":\"c\"}]},"
         "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"i\",\"state\":"
         "{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\"}},\"restartCount\":2}]}",
         "Init:Error", "0/1", "2"},
        {"\"spec\":{\"initContainers\":[{\"name\":\"i\"}],\"containers\":[{\"name\":\"c\"}]},"
         "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"i\",\"state\":"
         "{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}",
         "Init:CrashLoopBackOff", "0/1", "0"},
        {"\"spec\":{\"initContainers\":[{\"name\":\"i\"}],\"containers\":[{\"name\":\"c\"}]},"
         "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"i\",\"state\":"
         "{\"terminated\":{\"exitCode\":2}}}]}",
         "Init:ExitCode:2", "0/1", "0"},
        {"\"metadata\":{\"name\":\"p\",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},"
         "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":true,"
         "\"state\":{\"running\":{}}}]}",
         "Terminating", "1/1", "0"},
        {"\"metadata\":{\"name\":\"p\",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},"
         "\"status\":{\"phase\":\"Running\",\"reason\":\"NodeLost\"}",
         "Unknown", "0/1", "0"},
        {"\"metadata\":{\"name\":\"p\",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},"
         "\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":[{\"name\":\"c\",\"state\":"
         "{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}}]}",
         "Completed", "0/1", "0"},
        {"\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\",\"message\":\"low on memory\"}",
         "Evicted", "0/1", "0"},
        {"\"status\":{\"phase\":\"Running\",\"reason\":\"NodeLost\"}", "NodeLost", "0/1", "0"},
        {"\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":false,"
         "\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}",
         "ImagePullBackOff", "0/1", "0"},
        {"\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},\"status\":{\"phase\":"
         "\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
         "\"containerStatuses\":[{\"name\":\"a\",\"ready\":true,\"state\":{\"running\":{}}},"
         "{\"name\":\"b\",\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}}]}",
         "Running", "1/2", "0"},
        {"\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},\"status\":{\"phase\":"
         "\"Running\",\"containerStatuses\":[{\"name\":\"a\",\"ready\":true,\"state\":{\"running\":"
         "{}}},{\"name\":\"b\",\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":"
         "\"Completed\"}}}]}",
         "NotReady", "1/2", "0"},
        {"\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\",\"status\":"
         "\"False\",\"reason\":\"SchedulingGated\"}]}",
         "SchedulingGated", "0/1", "0"},
        {"\"spec\":{\"initContainers\":[{\"name\":\"side\",\"restartPolicy\":\"Always\"}],"
         "\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Running\",\"conditions\":[{"
         "\"type\":\"Initialized\",\"status\":\"True\"}],\"initContainerStatuses\":[{\"name\":"
         "\"side\",\"started\":true,\"ready\":true,\"restartCount\":1,\"state\":{\"running\":{}}}],"
         "\"containerStatuses\":[{\"name\":\"c\",\"ready\":true,\"restartCount\":2,\"state\":{"
         "\"running\":{}}}]}",
         "Running", "2/2", "3"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* substitute FIN with a real timestamp */
        char body[3000];
        const char *src = cases[i].pod, *p;
        size_t o = 0;
        while ((p = strstr(src, "FIN"))) {
            o += (size_t)snprintf(body + o, sizeof(body) - o, "%.*s%s", (int)(p - src), src, fin);
            src = p + 3;
        }
        snprintf(body + o, sizeof(body) - o, "%s", src);
        bool has_meta = strstr(body, "\"metadata\"") != NULL;
        bool has_spec = strstr(body, "\"spec\"") != NULL;
        snprintf(tmp, sizeof(tmp), "{%s%s%s}", has_meta ? "" : "\"metadata\":{\"name\":\"p\"},",
                 has_spec ? "" : "\"spec\":{\"containers\":[{\"name\":\"c\"}]},", body);
        json_t *pod = J(tmp);
        json_t *cells = row_of(&bsn_strategy_pod, pod);
        const char *st = cell(&bsn_strategy_pod, cells, "Status");
        const char *rd = cell(&bsn_strategy_pod, cells, "Ready");
        const char *rs = cell(&bsn_strategy_pod, cells, "Restarts");
        if (strcmp(st, cases[i].status) || strcmp(rd, cases[i].ready) ||
            strcmp(rs, cases[i].restarts))
            fail_msg("case %zu: got %s %s %s, want %s %s %s", i, st, rd, rs, cases[i].status,
                     cases[i].ready, cases[i].restarts);
        json_decref(cells);
        json_decref(pod);
    }
}

static void
test_pod_wide_columns_and_fields(void **state)
{
    json_t *pod = J("{\"metadata\":{\"name\":\"web\"},\"spec\":{\"nodeName\":\"n1\","
                    "\"hostNetwork\":true,\"containers\":[{\"name\":\"c\"}],\"readinessGates\":"
                    "[{\"conditionType\":\"x/ok\"},{\"conditionType\":\"x/lb\"}]},"
                    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.42.0.9\",\"podIPs\":[{\"ip\":"
                    "\"10.42.0.9\"}],\"conditions\":[{\"type\":\"x/ok\",\"status\":\"True\"}]}}");
    json_t *cells = row_of(&bsn_strategy_pod, pod);
    assert_string_equal(cell(&bsn_strategy_pod, cells, "Name"), "web");
    assert_string_equal(cell(&bsn_strategy_pod, cells, "IP"), "10.42.0.9");
    assert_string_equal(cell(&bsn_strategy_pod, cells, "Node"), "n1");
    assert_string_equal(cell(&bsn_strategy_pod, cells, "Nominated Node"), "<none>");
    assert_string_equal(cell(&bsn_strategy_pod, cells, "Readiness Gates"), "1/2");
    assert_string_equal(cell(&bsn_strategy_pod, cells, "Age"), "<unknown>");
    assert_int_equal(bsn_strategy_pod.columns[5].priority, 1);
    assert_int_equal(bsn_strategy_pod.columns[4].priority, 0);
    json_decref(cells);

    char buf[64];
    const struct bsn_strategy *st = &bsn_strategy_pod;
    assert_string_equal(st->field_value(pod, "spec.nodeName", buf, sizeof(buf)), "n1");
    assert_string_equal(st->field_value(pod, "status.phase", buf, sizeof(buf)), "Running");
    assert_string_equal(st->field_value(pod, "status.podIP", buf, sizeof(buf)), "10.42.0.9");
    assert_string_equal(st->field_value(pod, "spec.hostNetwork", buf, sizeof(buf)), "true");
    assert_string_equal(st->field_value(pod, "spec.restartPolicy", buf, sizeof(buf)), "");
    assert_string_equal(st->field_value(pod, "status.nominatedNodeName", buf, sizeof(buf)), "");
    assert_null(st->field_value(pod, "spec.containers", buf, sizeof(buf)));
    json_decref(pod);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_duration),
        cmocka_unit_test(test_pod_defaults),
        cmocka_unit_test(test_pod_tolerations_not_duplicated),
        cmocka_unit_test(test_pod_host_network_ports),
        cmocka_unit_test(test_quantities_canonical),
        cmocka_unit_test(test_pod_validation),
        cmocka_unit_test(test_pod_update_rules),
        cmocka_unit_test(test_qos),
        cmocka_unit_test(test_pod_status_column),
        cmocka_unit_test(test_pod_wide_columns_and_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
