/*
 * test_kinds_core.c - Service, Endpoints, ConfigMap, Secret, Namespace, Node, PV/PVC, Event
 * (and its events.k8s.io conversion), HPA (v1 <-> v2 conversion), Ingress, NetworkPolicy,
 * Gateway API, and a sweep over the whole registry: every resource has columns and rows with
 * one cell per column.
 */
#include "kinds_test.h"

static void
test_service_defaults(void **state)
{
    json_t *svc = J("{\"metadata\":{\"name\":\"web\"},\"spec\":{\"selector\":{\"app\":\"web\"},"
                    "\"ports\":[{\"port\":80},{\"name\":\"x\",\"port\":443,\"targetPort\":"
                    "\"https\"}]}}");
    struct bsn_err err;
    int rc = create_check(&bsn_strategy_service, svc, &err);
    /* two ports: the first needs a name */
    assert_int_equal(rc, -1);
    assert_cause(&err, "spec.ports[0].name", "Required value");
    const json_t *s = json_object_get(svc, "spec");
    assert_string_equal(kj_str(s, "type"), "ClusterIP");
    assert_string_equal(kj_str(s, "sessionAffinity"), "None");
    assert_string_equal(kj_str(s, "internalTrafficPolicy"), "Cluster");
    assert_string_equal(kj_str(s, "ipFamilyPolicy"), "SingleStack");
    assert_string_equal(json_string_value(json_array_get(kj_get(s, "ipFamilies"), 0)), "IPv4");
    assert_null(kj_get(s, "externalTrafficPolicy"));
    const json_t *p0 = json_array_get(kj_get(s, "ports"), 0);
    assert_string_equal(kj_str(p0, "protocol"), "TCP");
    assert_int_equal(kj_int(p0, "targetPort", 0), 80);
    assert_string_equal(kj_str(json_array_get(kj_get(s, "ports"), 1), "targetPort"), "https");
    assert_true(json_is_object(kj_get(svc, "status.loadBalancer")));
    json_decref(svc);

    svc = J("{\"metadata\":{\"name\":\"np\"},\"spec\":{\"type\":\"NodePort\",\"sessionAffinity\":"
            "\"ClientIP\",\"ports\":[{\"port\":80,\"nodePort\":30080}]}}");
    assert_int_equal(create_check(&bsn_strategy_service, svc, &err), 0);
    assert_string_equal(kj_str(svc, "spec.externalTrafficPolicy"), "Cluster");
    assert_int_equal(kj_int(svc, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 0), 10800);
    json_decref(svc);
}

static void
test_service_validation(void **state)
{
    static const struct {
        const char *spec, *field, *msg;
    } cases[] = {
        {"{}", "spec.ports", "Required value"},
        {"{\"ports\":[{\"port\":0}]}", "spec.ports[0].port",
         "Invalid value: 0: must be between 1 and 65535, inclusive"},
        {"{\"ports\":[{\"port\":80,\"protocol\":\"HTTP\"}]}", "spec.ports[0].protocol",
         "Unsupported value: \"HTTP\""},
        {"{\"type\":\"Magic\",\"ports\":[{\"port\":80}]}", "spec.type",
         "Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", "
         "\"LoadBalancer\", \"NodePort\""},
        {"{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":80}]}",
         "spec.ports[0].nodePort",
         "Invalid value: 80: provided port is not in the valid range. The range of valid ports "
         "is 30000-32767"},
        {"{\"ports\":[{\"port\":80,\"nodePort\":30001}]}", "spec.ports[0].nodePort",
         "Forbidden: may not be used when `type` is 'ClusterIP'"},
        {"{\"type\":\"ExternalName\"}", "spec.externalName", "Required value"},
        {"{\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"a\",\"port\":81}]}",
         "spec.ports[1].name", "Duplicate value: \"a\""},
        {"{\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"b\",\"port\":80}]}", "spec.ports[1]",
         "Duplicate value"},
        {"{\"clusterIP\":\"10.43.0.300\",\"ports\":[{\"port\":80}]}", "spec.clusterIPs[0]",
         "must be a valid IP address"},
        {"{\"externalTrafficPolicy\":\"Local\",\"ports\":[{\"port\":80}]}",
         "spec.externalTrafficPolicy", "may only be set when `type` is 'NodePort' or"},
        {"{\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{"
         "\"timeoutSeconds\":0}},\"ports\":[{\"port\":80}]}",
         "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
         "Invalid value: 0: must be greater than 0 and less than 86400"},
        {"{\"loadBalancerSourceRanges\":[\"10.0.0.0/8\"],\"ports\":[{\"port\":80}]}",
         "spec.loadBalancerSourceRanges",
         "Forbidden: may only be used when `type` is 'LoadBalancer'"},
        {"{\"ports\":[{\"port\":80,\"targetPort\":\"Not_Valid\"}]}", "spec.ports[0].targetPort",
         "must contain only alpha-numeric characters"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"s\"},\"spec\":%s}", cases[i].spec);
        json_t *svc = J(text);
        struct bsn_err err;
        if (create_check(&bsn_strategy_service, svc, &err) != -1)
            fail_msg("case %zu accepted", i);
        assert_cause(&err, cases[i].field, cases[i].msg);
        json_decref(svc);
    }
    /* headless without ports is fine; without a selector it asks for dual stack */
    json_t *h = J("{\"metadata\":{\"name\":\"h\"},\"spec\":{\"clusterIP\":\"None\"}}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_service, h, &err), 0);
    assert_string_equal(kj_str(h, "spec.ipFamilyPolicy"), "RequireDualStack");
    assert_string_equal(json_string_value(json_array_get(kj_get(h, "spec.clusterIPs"), 0)), "None");
    json_decref(h);
}

static void
test_service_update_keeps_allocations(void **state)
{
    json_t *old = J("{\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":\"NodePort\",\"clusterIP\":"
                    "\"10.43.0.7\",\"clusterIPs\":[\"10.43.0.7\"],\"ports\":[{\"port\":80,"
                    "\"protocol\":\"TCP\",\"nodePort\":30123}]},\"status\":{\"loadBalancer\":{}}}");
    json_t *upd = J("{\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{"
                    "\"port\":80}]}}");
    bsn_strategy_service.prepare_update(upd, old);
    bsn_strategy_service.defaults(upd);
    assert_string_equal(kj_str(upd, "spec.clusterIP"), "10.43.0.7");
    assert_int_equal(kj_int(json_array_get(kj_get(upd, "spec.ports"), 0), "nodePort", 0), 30123);
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_service.validate(upd, old, &err), 0);
    json_object_set_new(json_object_get(upd, "spec"), "clusterIP", json_string("10.43.0.8"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_service.validate(upd, old, &err), -1);
    assert_cause(&err, "spec.clusterIPs[0]", "may not change once set");
    json_decref(upd);

    /* NodePort -> ClusterIP drops the fields that only applied to NodePort */
    upd = json_deep_copy(old);
    json_object_set_new(json_object_get(upd, "spec"), "type", json_string("ClusterIP"));
    json_object_set_new(json_object_get(old, "spec"), "externalTrafficPolicy",
                        json_string("Cluster"));
    json_object_set_new(json_object_get(upd, "spec"), "externalTrafficPolicy",
                        json_string("Cluster"));
    bsn_strategy_service.prepare_update(upd, old);
    bsn_strategy_service.defaults(upd);
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_service.validate(upd, old, &err), 0);
    assert_null(kj_get(upd, "spec.externalTrafficPolicy"));
    assert_null(json_object_get(json_array_get(kj_get(upd, "spec.ports"), 0), "nodePort"));
    assert_string_equal(kj_str(upd, "spec.clusterIP"), "10.43.0.7");
    json_decref(upd);
    json_decref(old);
}

static void
test_service_columns(void **state)
{
    static const struct {
        const char *spec, *status, *ext, *ports, *cip;
    } cases[] = {
        {"{\"type\":\"ClusterIP\",\"clusterIP\":\"10.43.0.10\",\"ports\":[{\"port\":53,"
         "\"protocol\":"
         "\"UDP\"},{\"port\":53,\"protocol\":\"TCP\"}],\"selector\":{\"k8s-app\":\"dns\"}}",
         "{}", "<none>", "53/UDP,53/TCP", "10.43.0.10"},
        {"{\"type\":\"NodePort\",\"clusterIP\":\"10.43.0.11\",\"ports\":[{\"port\":80,"
         "\"protocol\":\"TCP\",\"nodePort\":30080}]}",
         "{}", "<none>", "80:30080/TCP", "10.43.0.11"},
        {"{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.43.0.12\",\"ports\":[{\"port\":80,"
         "\"protocol\":\"TCP\",\"nodePort\":31000}]}",
         "{\"loadBalancer\":{}}", "<pending>", "80:31000/TCP", "10.43.0.12"},
        {"{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.43.0.12\",\"ports\":[]}",
         "{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.168.1.5\"},{\"hostname\":\"lb.example\"}]}"
         "}",
         "192.168.1.5,lb.example", "<none>", "10.43.0.12"},
        {"{\"type\":\"ExternalName\",\"externalName\":\"db.example.com\"}", "{}", "db.example.com",
         "<none>", "<none>"},
        {"{\"type\":\"ClusterIP\",\"clusterIP\":\"None\",\"externalIPs\":[\"1.2.3.4\"]}", "{}",
         "1.2.3.4", "<none>", "None"},
    };
    const struct bsn_strategy *st = &bsn_strategy_service;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"s\"},\"spec\":%s,\"status\":%s}",
                 cases[i].spec, cases[i].status);
        json_t *svc = J(text);
        json_t *cells = row_of(st, svc);
        assert_string_equal(cell(st, cells, "External-IP"), cases[i].ext);
        assert_string_equal(cell(st, cells, "Port(s)"), cases[i].ports);
        assert_string_equal(cell(st, cells, "Cluster-IP"), cases[i].cip);
        if (i == 0)
            assert_string_equal(cell(st, cells, "Selector"), "k8s-app=dns");
        json_decref(cells);
        json_decref(svc);
    }
}

static void
test_endpoints(void **state)
{
    json_t *ep = J("{\"metadata\":{\"name\":\"e\"},\"subsets\":[{\"addresses\":[{\"ip\":"
                   "\"10.42.0.1\"},{\"ip\":\"10.42.0.2\"},{\"ip\":\"10.42.0.3\"},{\"ip\":"
                   "\"10.42.0.4\"}],\"ports\":[{\"port\":8080}]}]}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_endpoints, ep, &err), 0);
    json_t *cells = row_of(&bsn_strategy_endpoints, ep);
    assert_string_equal(cell(&bsn_strategy_endpoints, cells, "Endpoints"),
                        "10.42.0.1:8080,10.42.0.2:8080,10.42.0.3:8080 + 1 more...");
    json_decref(cells);
    json_decref(ep);
    ep = J("{\"metadata\":{\"name\":\"e\"},\"subsets\":[{\"addresses\":[{\"ip\":\"bogus\"}],"
           "\"ports\":[{\"port\":0}]}]}");
    assert_int_equal(create_check(&bsn_strategy_endpoints, ep, &err), -1);
    assert_cause(&err, "subsets[0].addresses[0].ip", "must be a valid IP address");
    assert_cause(&err, "subsets[0].ports[0].port", "must be between 1 and 65535");
    json_decref(ep);

    /* long lists are truncated, never overflow (ASan checks) */
    json_t *big = J("{\"metadata\":{\"name\":\"b\"},\"spec\":{\"type\":\"ClusterIP\","
                    "\"externalIPs\":[],\"ports\":[],\"selector\":{}}}");
    for (int k = 0; k < 200; k++) {
        char ip[64], port[32];
        snprintf(ip, sizeof(ip), "2001:db8:aaaa:bbbb:cccc:dddd:eeee:%x", k);
        json_array_append_new(kj_get(big, "spec.externalIPs"), json_string(ip));
        json_array_append_new(kj_get(big, "spec.ports"),
                              json_pack("{s:i, s:s, s:i}", "port", 1000 + k, "protocol", "TCP",
                                        "nodePort", 30000 + k));
        snprintf(port, sizeof(port), "label-key-%d", k);
        json_object_set_new(kj_get(big, "spec.selector"), port, json_string("some-long-value"));
    }
    cells = row_of(&bsn_strategy_service, big);
    assert_true(strlen(cell(&bsn_strategy_service, cells, "External-IP")) > 100);
    assert_true(strlen(cell(&bsn_strategy_service, cells, "Port(s)")) > 100);
    json_decref(cells);
    json_decref(big);

    json_t *es = J("{\"metadata\":{\"name\":\"es\"},\"addressType\":\"IPv4\",\"endpoints\":[{"
                   "\"addresses\":[\"10.42.0.1\"]}],\"ports\":[{\"port\":80}]}");
    assert_int_equal(create_check(&bsn_strategy_endpointslice, es, &err), 0);
    assert_string_equal(kj_str(json_array_get(kj_get(es, "ports"), 0), "protocol"), "TCP");
    cells = row_of(&bsn_strategy_endpointslice, es);
    assert_string_equal(cell(&bsn_strategy_endpointslice, cells, "Ports"), "80");
    assert_string_equal(cell(&bsn_strategy_endpointslice, cells, "Endpoints"), "10.42.0.1");
    json_decref(cells);
    json_decref(es);
}

static void
test_configmap_secret(void **state)
{
    struct bsn_err err;
    json_t *cm = J("{\"metadata\":{\"name\":\"c\"},\"data\":{\"ok.key\":\"v\",\"bad key\":\"v\"}}");
    assert_int_equal(create_check(&bsn_strategy_configmap, cm, &err), -1);
    assert_cause(&err, "data[bad key]", "a valid config key must consist of alphanumeric");
    json_decref(cm);

    /* > 1 MiB total */
    char *big = malloc(1100 * 1024);
    memset(big, 'x', 1100 * 1024 - 1);
    big[1100 * 1024 - 1] = '\0';
    cm = J("{\"metadata\":{\"name\":\"c\"},\"data\":{}}");
    json_object_set_new(json_object_get(cm, "data"), "big", json_string(big));
    free(big);
    assert_int_equal(create_check(&bsn_strategy_configmap, cm, &err), -1);
    assert_string_equal(err.causes[0].reason, "FieldValueTooLong");
    json_decref(cm);

    /* immutable */
    json_t *old = J("{\"metadata\":{\"name\":\"c\"},\"immutable\":true,\"data\":{\"a\":\"1\"}}");
    json_t *upd = J("{\"metadata\":{\"name\":\"c\"},\"immutable\":true,\"data\":{\"a\":\"2\"}}");
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_configmap.validate(upd, old, &err), -1);
    assert_cause(&err, "data", "Forbidden: field is immutable when `immutable` is set");
    json_decref(upd);
    upd = J("{\"metadata\":{\"name\":\"c\"},\"immutable\":true,\"data\":{\"a\":\"1\"}}");
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_configmap.validate(upd, old, &err), 0);
    json_decref(upd);
    json_decref(old);

    json_t *cells;
    cm = J("{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\",\"b\":\"2\"},\"binaryData\":{"
           "\"c\":\"AAE=\"}}");
    cells = row_of(&bsn_strategy_configmap, cm);
    assert_int_equal(cell_int(&bsn_strategy_configmap, cells, "Data"), 3);
    json_decref(cells);
    json_decref(cm);

    /* Secret: type default, stringData merge, type immutable, type-specific keys */
    json_t *s = J("{\"metadata\":{\"name\":\"s\"},\"stringData\":{\"user\":\"admin\"},\"data\":{"
                  "\"pw\":\"c2VjcmV0\"}}");
    assert_int_equal(create_check(&bsn_strategy_secret, s, &err), 0);
    assert_string_equal(kj_str(s, "type"), "Opaque");
    assert_string_equal(kj_str(s, "data.user"), "YWRtaW4=");
    assert_null(kj_get(s, "stringData"));
    cells = row_of(&bsn_strategy_secret, s);
    assert_string_equal(cell(&bsn_strategy_secret, cells, "Type"), "Opaque");
    assert_int_equal(json_integer_value(json_array_get(cells, 2)), 2);
    json_decref(cells);
    char buf[64];
    assert_string_equal(bsn_strategy_secret.field_value(s, "type", buf, sizeof(buf)), "Opaque");
    json_t *s2 = json_deep_copy(s);
    json_object_set_new(s2, "type", json_string("kubernetes.io/tls"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_secret.validate(s2, s, &err), -1);
    assert_cause(&err, "type", "field is immutable");
    assert_cause(&err, "data[tls.key]", "Required value");
    assert_cause(&err, "data[tls.crt]", "Required value");
    json_decref(s2);
    json_decref(s);
    s = J("{\"metadata\":{\"name\":\"s\"},\"type\":\"kubernetes.io/dockerconfigjson\",\"data\":{"
          "\".dockerconfigjson\":\"bm90IGpzb24=\"}}");
    assert_int_equal(create_check(&bsn_strategy_secret, s, &err), -1);
    assert_cause(&err, "data[.dockerconfigjson]", "Invalid value: \"<secret contents redacted>\"");
    json_decref(s);
    s = J("{\"metadata\":{\"name\":\"s\"},\"type\":\"kubernetes.io/dockerconfigjson\",\"data\":{"
          "\".dockerconfigjson\":\"eyJhdXRocyI6e319\"}}");
    assert_int_equal(create_check(&bsn_strategy_secret, s, &err), 0);
    json_decref(s);
    s = J("{\"metadata\":{\"name\":\"s\"},\"data\":{\"k\":\"not base64!\"}}");
    assert_int_equal(create_check(&bsn_strategy_secret, s, &err), -1);
    assert_cause(&err, "data[k]", "illegal base64 data");
    json_decref(s);
}

static void
test_namespace_node(void **state)
{
    json_t *ns = J("{\"metadata\":{\"name\":\"team-a\"}}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_namespace, ns, &err), 0);
    assert_string_equal(kj_str(ns, "status.phase"), "Active");
    assert_string_equal(json_string_value(json_array_get(kj_get(ns, "spec.finalizers"), 0)),
                        "kubernetes");
    assert_string_equal(json_string_value(json_object_get(kj_get(ns, "metadata.labels"),
                                                          "kubernetes.io/metadata.name")),
                        "team-a");
    assert_int_equal(bsn_strategy_namespace.name_rule, BSN_NAME_LABEL);
    json_t *cells = row_of(&bsn_strategy_namespace, ns);
    assert_string_equal(cell(&bsn_strategy_namespace, cells, "Status"), "Active");
    json_decref(cells);
    char buf[32];
    assert_string_equal(bsn_strategy_namespace.field_value(ns, "status.phase", buf, sizeof(buf)),
                        "Active");
    json_decref(ns);

    json_t *node = J(
        "{\"metadata\":{\"name\":\"n1\",\"labels\":{\"node-role.kubernetes.io/control-plane\":"
        "\"\",\"node-role.kubernetes.io/master\":\"true\"}},\"spec\":{\"unschedulable\":true,"
        "\"podCIDR\":\"10.42.0.0/24\"},\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\","
        "\"status\":\"False\"},{\"type\":\"Ready\",\"status\":\"True\"}],\"addresses\":[{\"type\":"
        "\"InternalIP\",\"address\":\"192.168.0.2\"},{\"type\":\"Hostname\",\"address\":\"n1\"}],"
        "\"nodeInfo\":{\"kubeletVersion\":\"v1.31.0-bosun\",\"osImage\":\"Debian GNU/Linux 12\"},"
        "\"capacity\":{\"cpu\":\"2\"}}}");
    assert_int_equal(create_check(&bsn_strategy_node, node, &err), 0);
    assert_string_equal(kj_str(node, "status.allocatable.cpu"), "2");
    cells = row_of(&bsn_strategy_node, node);
    const struct bsn_strategy *st = &bsn_strategy_node;
    assert_string_equal(cell(st, cells, "Status"), "Ready,SchedulingDisabled");
    assert_string_equal(cell(st, cells, "Roles"), "control-plane,master");
    assert_string_equal(cell(st, cells, "Version"), "v1.31.0-bosun");
    assert_string_equal(cell(st, cells, "Internal-IP"), "192.168.0.2");
    assert_string_equal(cell(st, cells, "External-IP"), "<none>");
    assert_string_equal(cell(st, cells, "Kernel-Version"), "<unknown>");
    json_decref(cells);
    assert_string_equal(st->field_value(node, "spec.unschedulable", buf, sizeof(buf)), "true");
    json_t *upd = json_deep_copy(node);
    json_object_set_new(json_object_get(upd, "spec"), "podCIDR", json_string("10.42.1.0/24"));
    bsn_err_clear(&err);
    assert_int_equal(st->validate(upd, node, &err), -1);
    json_decref(upd);
    json_object_set_new(json_object_get(node, "spec"), "unschedulable", json_false());
    json_object_set_new(json_array_get(kj_get(node, "status.conditions"), 1), "status",
                        json_string("Unknown"));
    cells = row_of(st, node);
    assert_string_equal(cell(st, cells, "Status"), "NotReady");
    json_decref(cells);
    json_decref(node);
}

static void
test_pv_pvc(void **state)
{
    json_t *pv = J("{\"metadata\":{\"name\":\"pv\"},\"spec\":{\"capacity\":{\"storage\":\"10Gi\"},"
                   "\"accessModes\":[\"ReadWriteMany\",\"ReadWriteOnce\"],\"hostPath\":{\"path\":"
                   "\"/mnt/data\"},\"storageClassName\":\"manual\",\"claimRef\":{\"namespace\":"
                   "\"default\",\"name\":\"c\"}}}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_pv, pv, &err), 0);
    assert_string_equal(kj_str(pv, "spec.persistentVolumeReclaimPolicy"), "Retain");
    assert_string_equal(kj_str(pv, "status.phase"), "Pending");
    json_t *pv2 = json_deep_copy(pv);
    json_object_set_new(json_object_get(pv2, "spec"), "hostPath", J("{\"path\":\"/elsewhere\"}"));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_pv.validate(pv2, pv, &err), -1);
    assert_cause(&err, "spec.persistentvolumesource", "Forbidden");
    json_decref(pv2);
    json_t *cells = row_of(&bsn_strategy_pv, pv);
    assert_string_equal(cell(&bsn_strategy_pv, cells, "Access Modes"), "RWO,RWX");
    assert_string_equal(cell(&bsn_strategy_pv, cells, "Claim"), "default/c");
    assert_string_equal(cell(&bsn_strategy_pv, cells, "Capacity"), "10Gi");
    json_decref(cells);
    json_decref(pv);

    json_t *pvc = J("{\"metadata\":{\"name\":\"c\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
                    "\"resources\":{\"requests\":{\"storage\":\"0\"}}}}");
    assert_int_equal(create_check(&bsn_strategy_pvc, pvc, &err), -1);
    assert_cause(&err, "spec.resources.requests[storage]", "must be greater than zero");
    assert_string_equal(kj_str(pvc, "spec.volumeMode"), "Filesystem");
    assert_string_equal(kj_str(pvc, "status.phase"), "Pending");
    json_decref(pvc);
}

static void
test_event_conversion(void **state)
{
    const struct bsn_resource *core = bsn_registry_find("", "v1", "events");
    const struct bsn_resource *ev = bsn_registry_find("events.k8s.io", "v1", "events");
    assert_non_null(core);
    assert_non_null(ev);
    json_t *e = J("{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"web.1\","
                  "\"namespace\":\"default\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":"
                  "\"web\",\"namespace\":\"default\",\"fieldPath\":\"spec.containers{c}\"},"
                  "\"reason\":\"Pulled\",\"message\":\"  Pulled image  \",\"type\":\"Normal\","
                  "\"source\":{\"component\":\"kubelet\",\"host\":\"n1\"},\"count\":3,"
                  "\"firstTimestamp\":\"2024-01-01T00:00:00Z\",\"lastTimestamp\":"
                  "\"2024-01-01T00:05:00Z\",\"reportingComponent\":\"kubelet\"}");
    json_t *orig = json_deep_copy(e);
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_event.validate(e, NULL, &err), 0);
    json_t *cells = row_of(&bsn_strategy_event, e);
    const struct bsn_strategy *st = &bsn_strategy_event;
    assert_string_equal(cell(st, cells, "Object"), "pod/web");
    assert_string_equal(cell(st, cells, "Message"), "Pulled image");
    assert_string_equal(cell(st, cells, "Source"), "kubelet, n1");
    assert_string_equal(cell(st, cells, "Subobject"), "spec.containers{c}");
    assert_int_equal(cell_int(st, cells, "Count"), 3);
    json_decref(cells);
    char buf[64];
    assert_string_equal(st->field_value(e, "involvedObject.name", buf, sizeof(buf)), "web");
    assert_string_equal(st->field_value(e, "source", buf, sizeof(buf)), "kubelet");
    assert_string_equal(st->field_value(e, "reason", buf, sizeof(buf)), "Pulled");
    assert_null(st->field_value(e, "message", buf, sizeof(buf)));

    st->convert(e, core, ev);
    assert_string_equal(kj_str(e, "apiVersion"), "events.k8s.io/v1");
    assert_string_equal(kj_str(e, "regarding.name"), "web");
    assert_string_equal(kj_str(e, "note"), "  Pulled image  ");
    assert_string_equal(kj_str(e, "reportingController"), "kubelet");
    assert_string_equal(kj_str(e, "deprecatedSource.host"), "n1");
    assert_int_equal(kj_int(e, "deprecatedCount", 0), 3);
    assert_null(kj_get(e, "involvedObject"));
    assert_null(kj_get(e, "message"));
    cells = row_of(&bsn_strategy_events_event, e);
    assert_string_equal(cell(&bsn_strategy_events_event, cells, "Object"), "pod/web");
    json_decref(cells);
    assert_string_equal(
        bsn_strategy_events_event.field_value(e, "regarding.kind", buf, sizeof(buf)), "Pod");
    bsn_strategy_events_event.convert(e, ev, core);
    /* equal up to the always-present core fields (eventTime: null, ...) */
    bsn_strategy_event.defaults(e);
    bsn_strategy_event.defaults(orig);
    assert_true(json_equal(e, orig));
    assert_true(json_is_null(json_object_get(e, "eventTime")));
    json_decref(orig);
    json_decref(e);

    /* events.k8s.io requires eventTime, reportingController/Instance, action */
    e = J("{\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},\"regarding\":{\"kind\":"
          "\"Pod\",\"namespace\":\"other\"},\"reason\":\"R\",\"type\":\"Odd\"}");
    assert_int_equal(create_check(&bsn_strategy_events_event, e, &err), -1);
    assert_cause(&err, "eventTime", "Required value");
    assert_cause(&err, "reportingController", "Required value");
    assert_cause(&err, "action", "Required value");
    assert_cause(&err, "type", "Unsupported value: \"Odd\"");
    assert_cause(&err, "regarding.namespace", "does not match event.namespace");
    json_decref(e);
}

static void
test_hpa_conversion(void **state)
{
    const struct bsn_resource *v1 =
        bsn_registry_find("autoscaling", "v1", "horizontalpodautoscalers");
    const struct bsn_resource *v2 =
        bsn_registry_find("autoscaling", "v2", "horizontalpodautoscalers");
    assert_non_null(v1);
    assert_non_null(v2);
    json_t *h = J("{\"apiVersion\":\"autoscaling/v1\",\"kind\":\"HorizontalPodAutoscaler\","
                  "\"metadata\":{\"name\":\"web\"},\"spec\":{\"scaleTargetRef\":{\"apiVersion\":"
                  "\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"web\"},\"minReplicas\":2,"
                  "\"maxReplicas\":5,\"targetCPUUtilizationPercentage\":60},\"status\":{"
                  "\"currentReplicas\":2,\"desiredReplicas\":2,\"currentCPUUtilizationPercentage\":"
                  "30}}");
    json_t *orig = json_deep_copy(h);
    bsn_strategy_hpa.convert(h, v1, v2);
    assert_string_equal(kj_str(h, "apiVersion"), "autoscaling/v2");
    const json_t *m = json_array_get(kj_get(h, "spec.metrics"), 0);
    assert_string_equal(kj_str(m, "type"), "Resource");
    assert_string_equal(kj_str(m, "resource.name"), "cpu");
    assert_string_equal(kj_str(m, "resource.target.type"), "Utilization");
    assert_int_equal(kj_int(m, "resource.target.averageUtilization", 0), 60);
    assert_null(kj_get(h, "spec.targetCPUUtilizationPercentage"));
    assert_int_equal(kj_int(json_array_get(kj_get(h, "status.currentMetrics"), 0),
                            "resource.current.averageUtilization", 0),
                     30);
    json_t *cells = row_of(&bsn_strategy_hpa, h);
    assert_string_equal(cell(&bsn_strategy_hpa, cells, "Targets"), "cpu: 30%/60%");
    assert_string_equal(cell(&bsn_strategy_hpa, cells, "Reference"), "Deployment/web");
    assert_string_equal(cell(&bsn_strategy_hpa, cells, "MinPods"), "2");
    json_decref(cells);
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_hpa.validate(h, NULL, &err), 0);

    /* a memory metric and conditions survive v2 -> v1 -> v2 via annotations */
    json_array_append_new(json_object_get(json_object_get(h, "spec"), "metrics"),
                          J("{\"type\":\"Resource\",\"resource\":{\"name\":\"memory\",\"target\":"
                            "{\"type\":\"AverageValue\",\"averageValue\":\"100Mi\"}}}"));
    json_object_set_new(json_object_get(h, "status"), "conditions",
                        J("[{\"type\":\"AbleToScale\",\"status\":\"True\"}]"));
    json_t *v2copy = json_deep_copy(h);
    bsn_strategy_hpa.convert(h, v2, v1);
    assert_string_equal(kj_str(h, "apiVersion"), "autoscaling/v1");
    assert_int_equal(kj_int(h, "spec.targetCPUUtilizationPercentage", 0), 60);
    assert_int_equal(kj_int(h, "status.currentCPUUtilizationPercentage", 0), 30);
    assert_non_null(json_object_get(kj_get(h, "metadata.annotations"),
                                    "autoscaling.alpha.kubernetes.io/metrics"));
    assert_null(kj_get(h, "status.conditions"));
    bsn_strategy_hpa.convert(h, v1, v2);
    assert_true(json_equal(h, v2copy));
    json_decref(v2copy);

    /* plain v1 -> v2 -> v1 round trip */
    json_t *back = json_deep_copy(orig);
    bsn_strategy_hpa.convert(back, v1, v2);
    bsn_strategy_hpa.convert(back, v2, v1);
    assert_true(json_equal(back, orig));
    json_decref(back);

    /* v2 defaults: minReplicas 1 and an 80% CPU target */
    json_t *d =
        J("{\"apiVersion\":\"autoscaling/v2\",\"metadata\":{\"name\":\"x\"},\"spec\":{"
          "\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"x\"},\"maxReplicas\":3}}");
    assert_int_equal(create_check(&bsn_strategy_hpa, d, &err), 0);
    assert_int_equal(kj_int(d, "spec.minReplicas", 0), 1);
    assert_int_equal(kj_int(json_array_get(kj_get(d, "spec.metrics"), 0),
                            "resource.target.averageUtilization", 0),
                     80);
    /* a v1 object without a target reads back in v2 with the default target */
    json_t *v1obj =
        J("{\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"y\"},\"spec\":{"
          "\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"y\"},\"maxReplicas\":2}}");
    bsn_strategy_hpa.convert(v1obj, v1, v2);
    assert_int_equal(kj_int(json_array_get(kj_get(v1obj, "spec.metrics"), 0),
                            "resource.target.averageUtilization", 0),
                     80);
    json_decref(v1obj);
    /* behavior rules are completed */
    json_object_set_new(json_object_get(d, "spec"), "behavior",
                        J("{\"scaleDown\":{\"stabilizationWindowSeconds\":60}}"));
    bsn_strategy_hpa.defaults(d);
    assert_int_equal(kj_int(d, "spec.behavior.scaleDown.stabilizationWindowSeconds", 0), 60);
    assert_int_equal(kj_len(d, "spec.behavior.scaleDown.policies"), 1);
    assert_int_equal(kj_len(d, "spec.behavior.scaleUp.policies"), 2);
    assert_string_equal(kj_str(d, "spec.behavior.scaleUp.selectPolicy"), "Max");
    json_object_set_new(json_object_get(d, "spec"), "maxReplicas", json_integer(0));
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_hpa.validate(d, NULL, &err), -1);
    assert_cause(&err, "spec.maxReplicas", "Invalid value: 0: must be greater than 0");
    json_decref(d);
    json_decref(orig);
    json_decref(h);
}

static void
test_ingress_netpol(void **state)
{
    json_t *ing = J("{\"metadata\":{\"name\":\"i\"},\"spec\":{\"ingressClassName\":\"bosun\","
                    "\"tls\":[{\"hosts\":[\"a.example.com\"]}],\"rules\":[{\"host\":"
                    "\"a.example.com\",\"http\":{\"paths\":[{\"path\":\"/\",\"pathType\":"
                    "\"Prefix\",\"backend\":{\"service\":{\"name\":\"web\",\"port\":{\"number\":"
                    "80}}}}]}},{\"host\":\"*.b.example.com\",\"http\":{\"paths\":[{\"path\":"
                    "\"/api\",\"pathType\":\"Exact\",\"backend\":{\"service\":{\"name\":\"api\","
                    "\"port\":{\"name\":\"http\"}}}}]}}]},\"status\":{\"loadBalancer\":{"
                    "\"ingress\":[{\"ip\":\"10.0.0.1\"}]}}}");
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_strategy_ingress.validate(ing, NULL, &err), 0);
    json_t *cells = row_of(&bsn_strategy_ingress, ing);
    const struct bsn_strategy *st = &bsn_strategy_ingress;
    assert_string_equal(cell(st, cells, "Class"), "bosun");
    assert_string_equal(cell(st, cells, "Hosts"), "a.example.com,*.b.example.com");
    assert_string_equal(cell(st, cells, "Address"), "10.0.0.1");
    assert_string_equal(cell(st, cells, "Ports"), "80, 443");
    json_decref(cells);
    json_decref(ing);

    ing = J("{\"metadata\":{\"name\":\"i\"},\"spec\":{\"rules\":[{\"host\":\"1.2.3.4\",\"http\":{"
            "\"paths\":[{\"path\":\"api\",\"backend\":{\"service\":{\"name\":\"web\"}}}]}}]}}");
    assert_int_equal(create_check(&bsn_strategy_ingress, ing, &err), -1);
    assert_cause(&err, "spec.rules[0].host", "must be a DNS name, not an IP address");
    assert_cause(&err, "spec.rules[0].http.paths[0].pathType",
                 "Required value: pathType must be specified");
    assert_cause(&err, "spec.rules[0].http.paths[0].backend",
                 "Required value: port name or number is required");
    json_decref(ing);

    json_t *np = J("{\"metadata\":{\"name\":\"n\"},\"spec\":{\"podSelector\":{},\"egress\":[{"
                   "\"ports\":[{\"port\":53}]}]}}");
    assert_int_equal(create_check(&bsn_strategy_networkpolicy, np, &err), 0);
    const json_t *types = kj_get(np, "spec.policyTypes");
    assert_int_equal(json_array_size(types), 2);
    assert_string_equal(json_string_value(json_array_get(types, 1)), "Egress");
    cells = row_of(&bsn_strategy_networkpolicy, np);
    assert_string_equal(cell(&bsn_strategy_networkpolicy, cells, "Pod-Selector"), "<none>");
    json_decref(cells);
    json_decref(np);
}

static void
test_gateway_api(void **state)
{
    json_t *r = J("{\"metadata\":{\"name\":\"r\"},\"spec\":{\"parentRefs\":[{\"name\":\"gw\"}],"
                  "\"hostnames\":[\"a.example.com\"],\"rules\":[{\"backendRefs\":[{\"name\":"
                  "\"web\",\"port\":80}]},{\"matches\":[{\"path\":{\"value\":\"/api\"}}],"
                  "\"backendRefs\":[{\"name\":\"api\"}]}]}}");
    struct bsn_err err;
    assert_int_equal(create_check(&bsn_strategy_httproute, r, &err), -1);
    assert_cause(&err, "spec.rules[1].backendRefs[0]", "Must have port for Service reference");
    const json_t *r0 = json_array_get(kj_get(r, "spec.rules"), 0);
    const json_t *m0 = json_array_get(kj_get(r0, "matches"), 0);
    assert_string_equal(kj_str(m0, "path.type"), "PathPrefix");
    assert_string_equal(kj_str(m0, "path.value"), "/");
    const json_t *b0 = json_array_get(kj_get(r0, "backendRefs"), 0);
    assert_int_equal(kj_int(b0, "weight", 0), 1);
    assert_string_equal(kj_str(b0, "kind"), "Service");
    assert_string_equal(kj_str(b0, "group"), "");
    assert_string_equal(kj_str(json_array_get(kj_get(r, "spec.parentRefs"), 0), "group"),
                        "gateway.networking.k8s.io");
    assert_string_equal(
        kj_str(json_array_get(kj_get(json_array_get(kj_get(r, "spec.rules"), 1), "matches"), 0),
               "path.type"),
        "PathPrefix");
    json_t *cells = row_of(&bsn_strategy_httproute, r);
    assert_string_equal(cell(&bsn_strategy_httproute, cells, "Hostnames"), "[\"a.example.com\"]");
    json_decref(cells);
    json_decref(r);

    json_t *gw = J("{\"metadata\":{\"name\":\"gw\"},\"spec\":{\"gatewayClassName\":\"bosun\","
                   "\"listeners\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"HTTP\"}]}}");
    assert_int_equal(create_check(&bsn_strategy_gateway, gw, &err), 0);
    assert_string_equal(
        kj_str(json_array_get(kj_get(gw, "spec.listeners"), 0), "allowedRoutes.namespaces.from"),
        "Same");
    assert_int_equal(json_array_size(kj_get(gw, "status.conditions")), 2);
    cells = row_of(&bsn_strategy_gateway, gw);
    assert_string_equal(cell(&bsn_strategy_gateway, cells, "Programmed"), "Unknown");
    json_decref(cells);
    json_decref(gw);

    json_t *gc = J("{\"metadata\":{\"name\":\"c\"},\"spec\":{\"controllerName\":\"nope\"}}");
    assert_int_equal(create_check(&bsn_strategy_gatewayclass, gc, &err), -1);
    assert_cause(&err, "spec.controllerName", "Invalid value: \"nope\"");
    json_decref(gc);
}

static void
test_more_columns(void **state)
{
    /* ResourceQuota: Request/Limit from status.hard, sorted, limits.* in Limit */
    json_t *rq = J("{\"metadata\":{\"name\":\"q\"},\"spec\":{\"hard\":{\"pods\":\"10\"}},"
                   "\"status\":{\"hard\":{\"pods\":\"10\",\"requests.cpu\":\"2\",\"limits.memory\":"
                   "\"2Gi\"},\"used\":{\"pods\":\"3\",\"limits.memory\":\"512Mi\"}}}");
    const struct bsn_strategy *st = &bsn_strategy_resourcequota;
    json_t *cells = row_of(st, rq);
    assert_string_equal(st->columns[1].name, "Request");
    assert_string_equal(cell(st, cells, "Request"), "pods: 3/10, requests.cpu: 0/2");
    assert_string_equal(cell(st, cells, "Limit"), "limits.memory: 512Mi/2Gi");
    json_decref(cells);
    json_decref(rq);

    /* HPA prints at most two metrics */
    json_t *h = J("{\"apiVersion\":\"autoscaling/v2\",\"metadata\":{\"name\":\"h\"},\"spec\":{"
                  "\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"w\"},\"maxReplicas\":4,"
                  "\"metrics\":[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"target\":{"
                  "\"type\":\"Utilization\",\"averageUtilization\":50}}},{\"type\":\"Resource\","
                  "\"resource\":{\"name\":\"memory\",\"target\":{\"type\":\"AverageValue\","
                  "\"averageValue\":\"100Mi\"}}},{\"type\":\"Pods\",\"pods\":{\"metric\":{\"name\":"
                  "\"qps\"},\"target\":{\"type\":\"AverageValue\",\"averageValue\":\"10\"}}}]}}");
    cells = row_of(&bsn_strategy_hpa, h);
    assert_string_equal(cell(&bsn_strategy_hpa, cells, "Targets"),
                        "cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more...");
    assert_string_equal(cell(&bsn_strategy_hpa, cells, "MinPods"), "<unset>");
    json_decref(cells);
    json_decref(h);

    /* LoadBalancer ingress is a sorted set; EndpointSlice ports without numbers print "*" */
    json_t *svc =
        J("{\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":\"LoadBalancer\","
          "\"clusterIPs\":[\"10.43.0.9\"],\"ports\":[]},\"status\":{\"loadBalancer\":{"
          "\"ingress\":[{\"ip\":\"10.0.0.9\"},{\"ip\":\"10.0.0.1\"},{\"ip\":\"10.0.0.9\"}]}}}");
    cells = row_of(&bsn_strategy_service, svc);
    assert_string_equal(cell(&bsn_strategy_service, cells, "External-IP"), "10.0.0.1,10.0.0.9");
    assert_string_equal(cell(&bsn_strategy_service, cells, "Cluster-IP"), "10.43.0.9");
    json_decref(cells);
    json_decref(svc);
    json_t *es = J("{\"metadata\":{\"name\":\"e\"},\"addressType\":\"IPv4\",\"ports\":[{\"name\":"
                   "\"http\"},{},{\"port\":1},{\"port\":2}],\"endpoints\":[]}");
    cells = row_of(&bsn_strategy_endpointslice, es);
    assert_string_equal(cell(&bsn_strategy_endpointslice, cells, "Ports"), "http,*,1 + 1 more...");
    assert_string_equal(cell(&bsn_strategy_endpointslice, cells, "Endpoints"), "<unset>");
    json_decref(cells);
    json_decref(es);
}

/* Every served resource prints a row with one cell per column, even for an empty object. */
static void
test_registry_sweep(void **state)
{
    size_t n = 0;
    for (const struct bsn_resource *r = bsn_resources; r->kind; r++, n++) {
        const struct bsn_strategy *st = r->strategy;
        assert_non_null(st);
        if (!st->columns || !st->row)
            fail_msg("%s/%s has no columns", r->group, r->kind);
        assert_string_equal(st->columns[0].name, strcmp(r->kind, "Event") ? "Name" : "Last Seen");
        json_t *obj = J("{\"metadata\":{\"name\":\"x\",\"namespace\":\"default\","
                        "\"creationTimestamp\":\"2020-01-01T00:00:00Z\"}}");
        json_t *cells = row_of(st, obj);
        json_decref(cells);
        /* hooks cope with an empty object */
        struct bsn_err err;
        bsn_err_clear(&err);
        if (st->prepare_create)
            st->prepare_create(obj);
        if (st->defaults)
            st->defaults(obj);
        if (st->validate)
            (void)st->validate(obj, NULL, &err);
        cells = row_of(st, obj);
        json_decref(cells);
        json_decref(obj);
    }
    assert_true(n >= 35);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_defaults),
        cmocka_unit_test(test_service_validation),
        cmocka_unit_test(test_service_update_keeps_allocations),
        cmocka_unit_test(test_service_columns),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_configmap_secret),
        cmocka_unit_test(test_namespace_node),
        cmocka_unit_test(test_pv_pvc),
        cmocka_unit_test(test_event_conversion),
        cmocka_unit_test(test_hpa_conversion),
        cmocka_unit_test(test_ingress_netpol),
        cmocka_unit_test(test_gateway_api),
        cmocka_unit_test(test_more_columns),
        cmocka_unit_test(test_registry_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
