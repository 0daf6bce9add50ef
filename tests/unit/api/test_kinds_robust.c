/*
 * test_kinds_robust.c - every strategy hook must cope with any JSON a client can send: for a
 * sample object of each kind, each value in the tree is replaced in turn by null, numbers,
 * strings, arrays and objects, and all hooks (prepare, defaults, validate, row, field_value,
 * convert) run on the result under ASan/UBSan. A crash or a leak fails the test; so does a
 * row with the wrong number of cells.
 */
#include "kinds_test.h"

#include "base/mem.h"

/* A reasonably complete object per kind family, so mutations reach deep fields. */
static const char *const samples[] = {
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"d\","
    "\"labels\":{\"a\":\"b\"}},\"spec\":{\"initContainers\":[{\"name\":\"i\",\"image\":\"x\","
    "\"restartPolicy\":\"Always\"}],\"containers\":[{\"name\":\"c\",\"image\":\"x:1\",\"ports\":[{"
    "\"containerPort\":80,\"name\":\"http\",\"hostPort\":8080}],\"env\":[{\"name\":\"A\","
    "\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['a']\"}}}],\"resources\":{"
    "\"limits\":{\"cpu\":\"1\"},\"requests\":{\"cpu\":\"500m\"}},\"livenessProbe\":{\"httpGet\":{"
    "\"port\":\"http\"}},\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/v\"}],"
    "\"securityContext\":{\"runAsUser\":1,\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}}],"
    "\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"items\":[{\"key\":\"k\","
    "\"path\":\"p\"}]}}],\"affinity\":{\"nodeAffinity\":{"
    "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[{"
    "\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[\"v\"]}]}]}},"
    "\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":1,"
    "\"podAffinityTerm\":{\"topologyKey\":\"z\"}}]}},\"tolerations\":[{\"key\":\"k\","
    "\"operator\":\"Exists\"}],\"topologySpreadConstraints\":[{\"maxSkew\":1,\"topologyKey\":"
    "\"z\",\"whenUnsatisfiable\":\"DoNotSchedule\"}],\"hostAliases\":[{\"ip\":\"1.2.3.4\","
    "\"hostnames\":[\"a\"]}],\"dnsConfig\":{\"nameservers\":[\"1.1.1.1\"]},\"readinessGates\":[{"
    "\"conditionType\":\"x\"}]},\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
    "\"Ready\",\"status\":\"True\"}],\"initContainerStatuses\":[{\"name\":\"i\",\"started\":true,"
    "\"state\":{\"running\":{}}}],\"containerStatuses\":[{\"name\":\"c\",\"restartCount\":1,"
    "\"state\":{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\"}},\"lastState\":{"
    "\"terminated\":{\"finishedAt\":\"2024-01-01T00:00:00Z\"}}}],\"podIPs\":[{\"ip\":"
    "\"10.0.0.1\"}]}}",
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"uid\":"
    "\"u\"},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"a\":\"b\"},"
    "\"matchExpressions\":[{\"key\":\"c\",\"operator\":\"In\",\"values\":[\"d\"]}]},\"strategy\":{"
    "\"rollingUpdate\":{\"maxSurge\":\"10%\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\","
    "\"c\":\"d\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}},"
    "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"w\"},\"spec\":{\"accessModes\":["
    "\"ReadWriteOnce\"]}}],\"updateStrategy\":{\"rollingUpdate\":{\"maxUnavailable\":1}}},"
    "\"status\":{\"replicas\":1,\"readyReplicas\":1}}",
    "{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\",\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},"
    "\"spec\":{\"schedule\":\"*/5 * * * *\",\"timeZone\":\"UTC\",\"jobTemplate\":{\"spec\":{"
    "\"completions\":2,\"podFailurePolicy\":{\"rules\":[{\"onPodConditions\":[{\"type\":"
    "\"DisruptionTarget\"}]}]},\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
    "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}},\"template\":{\"spec\":{"
    "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}},\"status\":{"
    "\"active\":[{\"name\":\"a\"}],\"lastScheduleTime\":\"2024-01-01T00:00:00Z\",\"startTime\":"
    "\"2024-01-01T00:00:00Z\",\"conditions\":[{\"type\":\"Complete\",\"status\":\"True\"}]}}",
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":"
    "\"LoadBalancer\",\"clusterIP\":\"10.43.0.1\",\"clusterIPs\":[\"10.43.0.1\"],\"selector\":{"
    "\"a\":\"b\"},\"ports\":[{\"name\":\"h\",\"port\":80,\"targetPort\":\"http\",\"nodePort\":"
    "30000}],\"externalIPs\":[\"1.2.3.4\"],\"sessionAffinity\":\"ClientIP\"},\"status\":{"
    "\"loadBalancer\":{\"ingress\":[{\"ip\":\"1.1.1.1\"}]}},\"subsets\":[{\"addresses\":[{\"ip\":"
    "\"10.0.0.1\"}],\"ports\":[{\"port\":80}]}],\"addressType\":\"IPv4\",\"endpoints\":[{"
    "\"addresses\":[\"10.0.0.1\"]}],\"ports\":[{\"port\":80}]}",
    "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"annotations\":{"
    "\"a\":\"b\"},\"labels\":{\"node-role.kubernetes.io/x\":\"\"}},\"type\":\"kubernetes.io/tls\","
    "\"data\":{\"tls.crt\":\"YQ==\",\"tls.key\":\"YQ==\"},\"stringData\":{\"x\":\"y\"},"
    "\"binaryData\":{\"b\":\"YQ==\"},\"immutable\":true,\"spec\":{\"podCIDR\":\"10.0.0.0/24\","
    "\"taints\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}],\"capacity\":{\"storage\":\"1Gi\"},"
    "\"accessModes\":[\"ReadWriteOnce\"],\"hostPath\":{\"path\":\"/x\"},\"resources\":{"
    "\"requests\":{\"storage\":\"1Gi\"}},\"hard\":{\"pods\":\"1\"},\"limits\":[{\"type\":"
    "\"Container\",\"max\":{\"cpu\":\"1\"}}],\"finalizers\":[\"kubernetes\"]},\"status\":{"
    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"addresses\":[{\"type\":"
    "\"InternalIP\",\"address\":\"1.2.3.4\"}],\"nodeInfo\":{\"kubeletVersion\":\"v1\"},"
    "\"hard\":{\"pods\":\"1\"},\"used\":{\"pods\":\"0\"},\"capacity\":{\"cpu\":\"1\"}}}",
    "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"e\",\"namespace\":\"d\"},"
    "\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":\"d\"},\"regarding\":{"
    "\"kind\":\"Pod\"},\"reason\":\"R\",\"message\":\"m\",\"note\":\"n\",\"type\":\"Normal\","
    "\"source\":{\"component\":\"c\",\"host\":\"h\"},\"count\":2,\"series\":{\"count\":3,"
    "\"lastObservedTime\":\"2024-01-01T00:00:00.000000Z\"},\"eventTime\":"
    "\"2024-01-01T00:00:00.000000Z\",\"reportingComponent\":\"c\",\"reportingInstance\":\"i\","
    "\"action\":\"a\"}",
    "{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\",\"metadata\":{"
    "\"name\":\"h\",\"annotations\":{\"autoscaling.alpha.kubernetes.io/metrics\":\"[{}]\"}},"
    "\"spec\":{\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"d\"},\"minReplicas\":1,"
    "\"maxReplicas\":3,\"targetCPUUtilizationPercentage\":50,\"metrics\":[{\"type\":\"Resource\","
    "\"resource\":{\"name\":\"cpu\",\"target\":{\"type\":\"Utilization\",\"averageUtilization\":"
    "50}}},{\"type\":\"Pods\",\"pods\":{\"target\":{\"averageValue\":\"1\"}}}],\"behavior\":{"
    "\"scaleUp\":{}},\"minAvailable\":1,\"holderIdentity\":\"x\",\"leaseDurationSeconds\":1},"
    "\"status\":{\"currentMetrics\":[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\","
    "\"current\":{\"averageUtilization\":10}}}],\"currentCPUUtilizationPercentage\":3,"
    "\"conditions\":[{\"type\":\"A\"}]},\"provisioner\":\"p\",\"value\":5}",
    "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"i\"},"
    "\"spec\":{\"ingressClassName\":\"c\",\"defaultBackend\":{\"service\":{\"name\":\"s\",\"port\":"
    "{"
    "\"number\":80}}},\"rules\":[{\"host\":\"a.b\",\"http\":{\"paths\":[{\"path\":\"/\","
    "\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"s\",\"port\":{\"name\":\"h\"}}}}]"
    "}}],"
    "\"tls\":[{\"hosts\":[\"a.b\"]}],\"controller\":\"x/y\",\"parameters\":{\"kind\":\"K\","
    "\"name\":\"n\"},\"podSelector\":{},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":"
    "\"10.0.0.0/8\"}}],\"ports\":[{\"port\":80}]}],\"egress\":[{\"to\":[{\"podSelector\":{}}]}],"
    "\"gatewayClassName\":\"g\",\"controllerName\":\"a.b/c\",\"listeners\":[{\"name\":\"l\","
    "\"port\":80,\"protocol\":\"HTTP\"}],\"parentRefs\":[{\"name\":\"g\"}],\"hostnames\":[\"a.b\"]}"
    ","
    "\"status\":{\"loadBalancer\":{\"ingress\":[{\"hostname\":\"h\"}]},\"addresses\":[{\"value\":"
    "\"1.2.3.4\"}]}}",
};

static const char *const replacements[] = {"null", "0",  "-1",   "70000", "\"\"",      "\"x\"",
                                           "[]",   "{}", "true", "[1]",   "{\"a\":1}", "1.5"};

static void
run_hooks(const struct bsn_resource *r, json_t *obj)
{
    const struct bsn_strategy *st = r->strategy;
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *old = json_deep_copy(obj);
    if (st->prepare_create)
        st->prepare_create(obj);
    if (st->defaults)
        st->defaults(obj);
    if (st->validate) {
        (void)st->validate(obj, NULL, &err);
        bsn_err_clear(&err);
        (void)st->validate(obj, old, &err);
    }
    if (st->prepare_update)
        st->prepare_update(obj, old);
    if (st->prepare_status_update)
        st->prepare_status_update(obj, old);
    json_t *cells = json_array();
    st->row(obj, cells);
    assert_int_equal(json_array_size(cells), ncolumns(st));
    json_decref(cells);
    char buf[128];
    static const char *const fields[] = {"spec.nodeName",
                                         "status.phase",
                                         "status.podIP",
                                         "involvedObject.name",
                                         "source",
                                         "type",
                                         "status.replicas",
                                         "status.successful",
                                         "spec.unschedulable",
                                         "spec.hostNetwork"};
    if (st->field_value)
        for (size_t i = 0; i < BSN_ARRAY_LEN(fields); i++)
            (void)st->field_value(obj, fields[i], buf, sizeof(buf));
    if (st->convert) {
        for (const struct bsn_resource *o = bsn_resources; o->kind; o++) {
            if (o != r && o->strategy == st) {
                st->convert(obj, r, o);
                st->convert(obj, o, r);
            }
        }
        if (strcmp(r->kind, "Event") == 0) {
            const struct bsn_resource *a = bsn_registry_find("", "v1", "events");
            const struct bsn_resource *b = bsn_registry_find("events.k8s.io", "v1", "events");
            st->convert(obj, a, b);
            st->convert(obj, b, a);
        }
    }
    json_decref(old);
}

/* Calls fn on every value slot (object member or array element) of tree, depth first. */
static size_t
count_slots(const json_t *v)
{
    size_t n = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) n += 1 + count_slots(c);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) n += 1 + count_slots(c);
    }
    return n;
}

/* Replaces the idx-th slot (same order as count_slots) with rep; returns true if found. */
static bool
replace_slot(json_t *v, size_t *idx, const json_t *rep)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
        {
            if ((*idx)-- == 0) {
                json_object_set_new(v, k, json_deep_copy(rep));
                return true;
            }
            if (replace_slot(c, idx, rep))
                return true;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            if ((*idx)-- == 0) {
                json_array_set_new(v, i, json_deep_copy(rep));
                return true;
            }
            if (replace_slot(c, idx, rep))
                return true;
        }
    }
    return false;
}

static void
test_mutations(void **state)
{
    size_t runs = 0;
    json_t *reps[BSN_ARRAY_LEN(replacements)];
    for (size_t i = 0; i < BSN_ARRAY_LEN(replacements); i++)
        reps[i] = json_loads(replacements[i], JSON_DECODE_ANY, NULL);
    for (size_t s = 0; s < BSN_ARRAY_LEN(samples); s++) {
        json_t *base = J(samples[s]);
        size_t slots = count_slots(base);
        for (const struct bsn_resource *r = bsn_resources; r->kind; r++) {
            /* the whole object (and a few non-objects) as every kind */
            json_t *copy = json_deep_copy(base);
            run_hooks(r, copy);
            json_decref(copy);
            for (size_t slot = 0; slot < slots; slot++) {
                for (size_t k = 0; k < BSN_ARRAY_LEN(replacements); k++) {
                    /* the kind the sample was written for gets half the replacements at every
                     * slot, the other kinds one at every third slot (keeps the run short) */
                    bool own = strcmp(r->kind, kj_str_or(base, "kind", "")) == 0;
                    if (own ? k % 2 != slot % 2 : (slot % 3 || k % 6 != (slot / 3) % 6))
                        continue;
                    json_t *m = json_deep_copy(base);
                    size_t idx = slot;
                    replace_slot(m, &idx, reps[k]);
                    run_hooks(r, m);
                    json_decref(m);
                    runs++;
                }
            }
        }
        json_decref(base);
    }
    for (size_t i = 0; i < BSN_ARRAY_LEN(replacements); i++)
        json_decref(reps[i]);
    assert_true(runs > 5000);
}

static void
test_non_objects(void **state)
{
    static const char *const odd[] = {"{}", "{\"metadata\":null}", "{\"spec\":[]}",
                                      "{\"spec\":\"x\",\"status\":1}",
                                      "{\"metadata\":{\"name\":7},\"spec\":{\"containers\":{}}}"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(odd); i++)
        for (const struct bsn_resource *r = bsn_resources; r->kind; r++) {
            json_t *o = J(odd[i]);
            run_hooks(r, o);
            json_decref(o);
        }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_objects),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
