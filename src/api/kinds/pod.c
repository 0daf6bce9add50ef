/*
 * pod.c - the Pod strategy: defaults (PodSpec + pod-only admission defaults), validation
 * (spec, and the narrow set of fields a pod update may change), initial status (Pending + QoS
 * class), the `kubectl get pods` columns with upstream's Status/Restarts computation, and the
 * pod field selectors. Also the scheduling/security half of PodSpec validation
 * (kp_validate_scheduling: affinity, topology spread, security contexts, host aliases, DNS
 * config, host ports), shared with every pod template.
 */
#include "api/kinds/kinds.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/time.h"

static void
pod_defaults(json_t *obj)
{
    kp_default_podspec(kj_obj(obj, "spec"), true);
}

/*
 * Upstream allows a pod update to change only container images, activeDeadlineSeconds,
 * tolerations (additions) and terminationGracePeriodSeconds: copy those from the new spec into
 * a copy of the old one and require equality.
 */
static int
validate_pod_update(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    json_t *ns = json_object_get(obj, "spec"), *os = json_object_get(old, "spec");
    if (!json_is_object(ns) || !json_is_object(os))
        return 0;
    json_t *mut = json_deep_copy(os);
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        json_t *oc = json_object_get(mut, lists[l]), *nc = json_object_get(ns, lists[l]);
        if (json_array_size(oc) != json_array_size(nc))
            continue;
        for (size_t i = 0; i < json_array_size(oc); i++) {
            json_t *img = json_object_get(json_array_get(nc, i), "image");
            if (img)
                json_object_set(json_array_get(oc, i), "image", img);
        }
    }
    static const char *const keys[] = {"activeDeadlineSeconds", "tolerations",
                                       "terminationGracePeriodSeconds"};
    for (size_t k = 0; k < BSN_ARRAY_LEN(keys); k++) {
        json_t *v = json_object_get(ns, keys[k]);
        if (v)
            json_object_set(mut, keys[k], v);
        else
            json_object_del(mut, keys[k]);
    }
    /* The scheduler's binding fills nodeName once. */
    if (!*kj_str_or(os, "nodeName", "") && json_object_get(ns, "nodeName"))
        json_object_set(mut, "nodeName", json_object_get(ns, "nodeName"));
    /* Scheduling gates may be removed (never added); while the pod is still gated its node
     * selector and affinity may be made stricter (accepted here without the stricter check). */
    json_t *ogates = json_object_get(os, "schedulingGates");
    if (json_array_size(ogates) > 0) {
        json_t *ng = json_object_get(ns, "schedulingGates");
        bool subset = true;
        size_t gi, gj;
        json_t *g, *og;
        json_array_foreach(ng, gi, g)
        {
            bool found = false;
            json_array_foreach(ogates, gj, og)
            {
                if (json_equal(g, og))
                    found = true;
            }
            if (!found)
                subset = false;
        }
        if (subset) {
            static const char *const gated[] = {"schedulingGates", "nodeSelector", "affinity"};
            for (size_t k = 0; k < BSN_ARRAY_LEN(gated); k++) {
                json_t *v = json_object_get(ns, gated[k]);
                if (v)
                    json_object_set(mut, gated[k], v);
                else
                    json_object_del(mut, gated[k]);
            }
        }
    }
    int rc = 0;
    if (!json_equal(mut, ns))
        rc = kv_forbidden(err, "spec",
                          "pod updates may not change fields other than "
                          "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                          "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
                          "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it "
                          "to be set to 1 if it was previously negative)");
    json_decref(mut);
    return rc;
}

static int
pod_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    int rc = kp_validate_podspec(err, json_object_get(obj, "spec"), "spec");
    if (old)
        rc |= validate_pod_update(obj, old, err);
    return rc ? -1 : 0;
}

static void
pod_prepare_create(json_t *obj)
{
    json_t *st = json_object();
    json_object_set_new(st, "phase", json_string("Pending"));
    json_object_set_new(st, "qosClass", json_string(kp_qos_class(kj_get(obj, "spec"))));
    json_object_set_new(obj, "status", st);
}

static void
pod_prepare_update(json_t *obj, const json_t *old)
{
    kh_keep_status(obj, old);
}

static void
pod_prepare_status_update(json_t *obj, const json_t *old)
{
    kh_keep_spec(obj, old);
}

static const struct bsn_column pod_columns[] = {
    KC_NAME,
    {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0},
    {"Status", "string", "", "The aggregate status of the containers in this pod.", 0},
    {"Restarts", "string", "",
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted.",
     0},
    KC_AGE,
    {"IP", "string", "",
     "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
     "allocated.",
     1},
    {"Node", "string", "",
     "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate "
     "for scheduling by the scheduler defined in schedulerName.",
     1},
    {"Nominated Node", "string", "",
     "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot "
     "be scheduled right away as preemption victims receive their graceful termination periods.",
     1},
    {"Readiness Gates", "string", "",
     "If specified, all readiness gates will be evaluated for pod readiness.", 1},
    KC_END,
};

static bool
condition_true(const json_t *status, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        if (strcmp(kj_str_or(c, "type", ""), type) == 0)
            return strcmp(kj_str_or(c, "status", ""), "True") == 0;
    }
    return false;
}

static bool
has_condition(const json_t *status, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        if (strcmp(kj_str_or(c, "type", ""), type) == 0)
            return true;
    }
    return false;
}

static const json_t *
find_container(const json_t *list, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        if (name && strcmp(kj_str_or(c, "name", ""), name) == 0)
            return c;
    }
    return NULL;
}

static bool
restartable_init(const json_t *c)
{
    return c && strcmp(kj_str_or(c, "restartPolicy", ""), "Always") == 0;
}

/* Keeps the latest lastState.terminated.finishedAt in *best (RFC 3339 strings sort by time when
 * they share a format; compare parsed values to be safe). */
static void
track_restart(const json_t *cs, time_t *best)
{
    const char *fin = kj_str(cs, "lastState.terminated.finishedAt");
    time_t t;
    if (fin && bsn_time_parse(fin, &t) == 0 && t > *best)
        *best = t;
}

/*
 * The STATUS, READY and RESTARTS cells as upstream's printPod computes them. reason and
 * restarts are written to caller buffers.
 */
static void
pod_status_cells(const json_t *obj, char *reason, size_t rn, char *ready, size_t readyn,
                 char *restarts_s, size_t resn)
{
    const json_t *spec = json_object_get(obj, "spec"), *st = json_object_get(obj, "status");
    json_int_t restarts = 0, sidecar_restarts = 0;
    size_t total = json_array_size(json_object_get(spec, "containers"));
    size_t ready_n = 0;
    time_t last_restart = 0, last_sidecar_restart = 0;
    const char *phase = kj_str_or(st, "phase", "");
    snprintf(reason, rn, "%s", phase);
    if (*kj_str_or(st, "reason", ""))
        snprintf(reason, rn, "%s", kj_str(st, "reason"));

    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(st, "conditions"), i, c)
    {
        if (strcmp(kj_str_or(c, "type", ""), "PodScheduled") == 0 &&
            strcmp(kj_str_or(c, "reason", ""), "SchedulingGated") == 0)
            snprintf(reason, rn, "SchedulingGated");
    }
    const json_t *init_specs = json_object_get(spec, "initContainers");
    json_array_foreach(init_specs, i, c)
    {
        if (restartable_init(c))
            total++;
    }

    bool initializing = false;
    const json_t *init_st = json_object_get(st, "initContainerStatuses");
    json_array_foreach(init_st, i, c)
    {
        restarts += kj_int(c, "restartCount", 0);
        track_restart(c, &last_restart);
        const json_t *cspec = find_container(init_specs, kj_str(c, "name"));
        bool sidecar = restartable_init(cspec);
        if (sidecar) {
            sidecar_restarts += kj_int(c, "restartCount", 0);
            track_restart(c, &last_sidecar_restart);
        }
        const json_t *term = kj_get(c, "state.terminated");
        const json_t *wait = kj_get(c, "state.waiting");
        if (term && kj_int(term, "exitCode", 0) == 0)
            continue;
        if (sidecar && kj_true(c, "started")) {
            if (kj_true(c, "ready"))
                ready_n++;
            continue;
        }
        if (term) {
            const char *r = kj_str_or(term, "reason", "");
            if (!*r) {
                if (kj_int(term, "signal", 0) != 0)
                    snprintf(reason, rn, "Init:Signal:%lld", (long long)kj_int(term, "signal", 0));
                else
                    snprintf(reason, rn, "Init:ExitCode:%lld",
                             (long long)kj_int(term, "exitCode", 0));
            } else {
                snprintf(reason, rn, "Init:%s", r);
            }
        } else if (wait && *kj_str_or(wait, "reason", "") &&
                   strcmp(kj_str(wait, "reason"), "PodInitializing") != 0) {
            snprintf(reason, rn, "Init:%s", kj_str(wait, "reason"));
        } else {
            snprintf(reason, rn, "Init:%zu/%zu", i, json_array_size(init_specs));
        }
        initializing = true;
        break;
    }

    if (!initializing || condition_true(st, "Initialized")) {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        bool has_running = false;
        const json_t *cst = json_object_get(st, "containerStatuses");
        for (size_t k = json_array_size(cst); k-- > 0;) {
            const json_t *cs = json_array_get(cst, k);
            restarts += kj_int(cs, "restartCount", 0);
            track_restart(cs, &last_restart);
            const json_t *term = kj_get(cs, "state.terminated");
            const json_t *wait = kj_get(cs, "state.waiting");
            if (wait && *kj_str_or(wait, "reason", "")) {
                snprintf(reason, rn, "%s", kj_str(wait, "reason"));
            } else if (term && *kj_str_or(term, "reason", "")) {
                snprintf(reason, rn, "%s", kj_str(term, "reason"));
            } else if (term) {
                if (kj_int(term, "signal", 0) != 0)
                    snprintf(reason, rn, "Signal:%lld", (long long)kj_int(term, "signal", 0));
                else
                    snprintf(reason, rn, "ExitCode:%lld", (long long)kj_int(term, "exitCode", 0));
            } else if (kj_true(cs, "ready") && kj_get(cs, "state.running")) {
                has_running = true;
                ready_n++;
            }
        }
        if (strcmp(reason, "Completed") == 0 && has_running)
            snprintf(reason, rn, "%s", condition_true(st, "Ready") ? "Running" : "NotReady");
    }

    bool terminal = strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0;
    if (kj_str(obj, "metadata.deletionTimestamp") &&
        strcmp(kj_str_or(st, "reason", ""), "NodeLost") == 0)
        snprintf(reason, rn, "Unknown");
    else if (kj_str(obj, "metadata.deletionTimestamp") && !terminal)
        snprintf(reason, rn, "Terminating");

    snprintf(ready, readyn, "%zu/%zu", ready_n, total);
    if (restarts != 0 && last_restart != 0) {
        char ago[32];
        kc_human_duration((int64_t)(bsn_time_now() - last_restart), ago, sizeof(ago));
        snprintf(restarts_s, resn, "%lld (%s ago)", (long long)restarts, ago);
    } else {
        snprintf(restarts_s, resn, "%lld", (long long)restarts);
    }
    (void)has_condition;
}

static void
pod_row(const json_t *obj, json_t *cells)
{
    char reason[128], ready[32], restarts[64];
    pod_status_cells(obj, reason, sizeof(reason), ready, sizeof(ready), restarts, sizeof(restarts));
    kc_name(cells, obj);
    kc_str(cells, ready);
    kc_str(cells, reason);
    kc_str(cells, restarts);
    kc_age(cells, obj);
    const json_t *st = json_object_get(obj, "status");
    const char *ip = kj_str(json_array_get(json_object_get(st, "podIPs"), 0), "ip");
    if (!ip || !*ip)
        ip = kj_str(st, "podIP");
    kc_str(cells, ip && *ip ? ip : "<none>");
    const char *node = kj_str(obj, "spec.nodeName");
    kc_str(cells, node && *node ? node : "<none>");
    const char *nom = kj_str(st, "nominatedNodeName");
    kc_str(cells, nom && *nom ? nom : "<none>");
    const json_t *gates = kj_get(obj, "spec.readinessGates");
    if (json_array_size(gates) == 0) {
        kc_str(cells, "<none>");
    } else {
        size_t i, n = 0;
        json_t *g;
        json_array_foreach(gates, i, g)
        {
            if (condition_true(st, kj_str_or(g, "conditionType", "")))
                n++;
        }
        char buf[32];
        snprintf(buf, sizeof(buf), "%zu/%zu", n, json_array_size(gates));
        kc_str(cells, buf);
    }
}

static const char *
pod_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    static const char *const str_fields[] = {"spec.nodeName",      "spec.restartPolicy",
                                             "spec.schedulerName", "spec.serviceAccountName",
                                             "status.phase",       "status.nominatedNodeName"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(str_fields); i++)
        if (strcmp(field, str_fields[i]) == 0) {
            snprintf(buf, bufsz, "%s", kj_str_or(obj, field, ""));
            return buf;
        }
    if (strcmp(field, "spec.hostNetwork") == 0) {
        snprintf(buf, bufsz, "%s", kj_true(obj, field) ? "true" : "false");
        return buf;
    }
    if (strcmp(field, "status.podIP") == 0) {
        const char *ip = kj_str(json_array_get(kj_get(obj, "status.podIPs"), 0), "ip");
        snprintf(buf, bufsz, "%s", ip ? ip : kj_str_or(obj, "status.podIP", ""));
        return buf;
    }
    return NULL;
}

const struct bsn_strategy bsn_strategy_pod = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = pod_defaults,
    .validate = pod_validate,
    .prepare_create = pod_prepare_create,
    .prepare_update = pod_prepare_update,
    .prepare_status_update = pod_prepare_status_update,
    .columns = pod_columns,
    .row = pod_row,
    .field_value = pod_field_value,
};

/* ==== PodSpec scheduling and security validation (kp_validate_scheduling) ==== */

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

static bool
is_ip(const char *s)
{
    unsigned char b[16];
    return s && (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1);
}

/* ---- node affinity ---- */

static int
validate_node_selector_requirement(struct bsn_err *err, const json_t *r, const char *field)
{
    static const char *const ops[] = {"DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn", NULL};
    char f[300];
    int rc = 0;
    const char *op = kj_str_or(r, "operator", "");
    size_t nv = kj_len(r, "values");
    F(f, "%s.operator", field);
    rc |= kv_enum(err, r, "operator", f, ops, true);
    F(f, "%s.values", field);
    if ((!strcmp(op, "In") || !strcmp(op, "NotIn")) && nv == 0)
        rc |= kv_required(err, f, "must be specified when `operator` is 'In' or 'NotIn'");
    else if ((!strcmp(op, "Exists") || !strcmp(op, "DoesNotExist")) && nv > 0)
        rc |= kv_forbidden(err, f,
                           "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    else if ((!strcmp(op, "Gt") || !strcmp(op, "Lt")) && nv != 1)
        rc |= kv_required(err, f, "must be specified single value when `operator` is 'Lt' or 'Gt'");
    F(f, "%s.key", field);
    rc |= kn_check(err, f, kj_str(r, "key"), kn_qualified_name);
    return rc;
}

static int
validate_node_selector_term(struct bsn_err *err, const json_t *term, const char *field)
{
    char f[300];
    int rc = 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(term, "matchExpressions"), i, r)
    {
        F(f, "%s.matchExpressions[%zu]", field, i);
        rc |= validate_node_selector_requirement(err, r, f);
    }
    json_array_foreach(json_object_get(term, "matchFields"), i, r)
    {
        F(f, "%s.matchFields[%zu]", field, i);
        const char *key = kj_str_or(r, "key", "");
        static const char *const fields[] = {"metadata.name", NULL};
        if (strcmp(key, "metadata.name") != 0) {
            char kf[320];
            F(kf, "%s.key", f);
            rc |= kv_unsupported(err, kf, key, fields);
        }
    }
    return rc;
}

static int
validate_node_affinity(struct bsn_err *err, const json_t *na, const char *field)
{
    char f[300];
    int rc = 0;
    const json_t *req = json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
    if (req && !json_is_null(req)) {
        F(f, "%s.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", field);
        if (kj_len(req, "nodeSelectorTerms") == 0)
            rc |= kv_required(err, f, "must have at least one node selector term");
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(req, "nodeSelectorTerms"), i, t)
        {
            char tf[320];
            F(tf, "%s[%zu]", f, i);
            rc |= validate_node_selector_term(err, t, tf);
        }
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(na, "preferredDuringSchedulingIgnoredDuringExecution"), i, p)
    {
        json_int_t w = kj_int(p, "weight", 0);
        F(f, "%s.preferredDuringSchedulingIgnoredDuringExecution[%zu].weight", field, i);
        if (w < 1 || w > 100)
            rc |= kv_invalid_i(err, f, w, "must be in the range 1-100");
        F(f, "%s.preferredDuringSchedulingIgnoredDuringExecution[%zu].preference", field, i);
        rc |= validate_node_selector_term(err, json_object_get(p, "preference"), f);
    }
    return rc;
}

/* ---- pod (anti-)affinity ---- */

static int
validate_pod_affinity_term(struct bsn_err *err, const json_t *term, const char *field)
{
    char f[300];
    int rc = 0;
    F(f, "%s.labelSelector", field);
    rc |= ks_validate_selector(err, json_object_get(term, "labelSelector"), f);
    F(f, "%s.namespaceSelector", field);
    rc |= ks_validate_selector(err, json_object_get(term, "namespaceSelector"), f);
    size_t i;
    json_t *ns;
    json_array_foreach(json_object_get(term, "namespaces"), i, ns)
    {
        F(f, "%s.namespaces[%zu]", field, i);
        const char *s = json_string_value(ns);
        if (!s || kn_dns1123_label(s))
            rc |= kv_invalid_s(err, f, s ? s : "", s ? kn_dns1123_label(s) : "must be a string");
    }
    const char *tk = kj_str(term, "topologyKey");
    F(f, "%s.topologyKey", field);
    if (!tk || !*tk)
        rc |= kv_required(err, f, "can not be empty");
    else if (kn_qualified_name(tk))
        rc |= kv_invalid_s(err, f, tk, kn_qualified_name(tk));
    return rc;
}

static int
validate_pod_affinity(struct bsn_err *err, const json_t *pa, const char *field)
{
    char f[300];
    int rc = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(pa, "requiredDuringSchedulingIgnoredDuringExecution"), i, t)
    {
        F(f, "%s.requiredDuringSchedulingIgnoredDuringExecution[%zu]", field, i);
        rc |= validate_pod_affinity_term(err, t, f);
    }
    json_array_foreach(json_object_get(pa, "preferredDuringSchedulingIgnoredDuringExecution"), i, t)
    {
        json_int_t w = kj_int(t, "weight", 0);
        F(f, "%s.preferredDuringSchedulingIgnoredDuringExecution[%zu].weight", field, i);
        if (w < 1 || w > 100)
            rc |= kv_invalid_i(err, f, w, "must be in the range 1-100");
        F(f, "%s.preferredDuringSchedulingIgnoredDuringExecution[%zu].podAffinityTerm", field, i);
        rc |= validate_pod_affinity_term(err, json_object_get(t, "podAffinityTerm"), f);
    }
    return rc;
}

/* ---- topology spread ---- */

static int
validate_topology_spread(struct bsn_err *err, const json_t *list, const char *prefix)
{
    static const char *const unsat[] = {"DoNotSchedule", "ScheduleAnyway", NULL};
    static const char *const policies[] = {"Honor", "Ignore", NULL};
    char f[300];
    int rc = 0;
    size_t i, j;
    json_t *c, *o;
    json_array_foreach(list, i, c)
    {
        F(f, "%s.topologySpreadConstraints[%zu].maxSkew", prefix, i);
        json_int_t skew = kj_int(c, "maxSkew", 0);
        if (skew <= 0)
            rc |= kv_invalid_i(err, f, skew, "must be greater than zero");
        F(f, "%s.topologySpreadConstraints[%zu].topologyKey", prefix, i);
        const char *tk = kj_str(c, "topologyKey");
        if (!tk || !*tk)
            rc |= kv_required(err, f, "can not be empty");
        else if (kn_qualified_name(tk))
            rc |= kv_invalid_s(err, f, tk, kn_qualified_name(tk));
        F(f, "%s.topologySpreadConstraints[%zu].whenUnsatisfiable", prefix, i);
        rc |= kv_enum(err, c, "whenUnsatisfiable", f, unsat, true);
        json_t *md = json_object_get(c, "minDomains");
        if (md && !json_is_null(md) && (!json_is_integer(md) || json_integer_value(md) <= 0)) {
            F(f, "%s.topologySpreadConstraints[%zu].minDomains", prefix, i);
            rc |= kv_invalid_j(err, f, md, "must be greater than 0");
        }
        F(f, "%s.topologySpreadConstraints[%zu].nodeAffinityPolicy", prefix, i);
        rc |= kv_enum(err, c, "nodeAffinityPolicy", f, policies, false);
        F(f, "%s.topologySpreadConstraints[%zu].nodeTaintsPolicy", prefix, i);
        rc |= kv_enum(err, c, "nodeTaintsPolicy", f, policies, false);
        F(f, "%s.topologySpreadConstraints[%zu].labelSelector", prefix, i);
        rc |= ks_validate_selector(err, json_object_get(c, "labelSelector"), f);
        /* a {topologyKey, whenUnsatisfiable} pair may appear once */
        json_array_foreach(list, j, o)
        {
            if (j >= i)
                break;
            if (tk && strcmp(tk, kj_str_or(o, "topologyKey", "")) == 0 &&
                strcmp(kj_str_or(c, "whenUnsatisfiable", ""),
                       kj_str_or(o, "whenUnsatisfiable", "")) == 0) {
                char v[400];
                F(f, "%s.topologySpreadConstraints[%zu]", prefix, i);
                F(v, "{%s, %s}", tk, kj_str_or(c, "whenUnsatisfiable", ""));
                rc |= bsn_invalid(err, "FieldValueDuplicate", f, "Duplicate value: \"%s\"", v);
            }
        }
    }
    return rc;
}

/* ---- security contexts ---- */

static int
validate_id(struct bsn_err *err, const json_t *sc, const char *key, const char *prefix)
{
    json_t *v = json_object_get(sc, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 2147483647) {
        char f[300];
        F(f, "%s.%s", prefix, key);
        return kv_invalid_j(err, f, v, "must be between 0 and 2147483647, inclusive");
    }
    return 0;
}

static int
validate_seccomp(struct bsn_err *err, const json_t *sp, const char *field)
{
    static const char *const types[] = {"Localhost", "RuntimeDefault", "Unconfined", NULL};
    char f[300];
    int rc = 0;
    if (!sp || json_is_null(sp))
        return 0;
    F(f, "%s.type", field);
    rc |= kv_enum(err, sp, "type", f, types, true);
    const char *t = kj_str_or(sp, "type", "");
    const char *lp = kj_str(sp, "localhostProfile");
    F(f, "%s.localhostProfile", field);
    if (!strcmp(t, "Localhost") && (!lp || !*lp))
        rc |= kv_required(err, f, "must be set when seccomp type is Localhost");
    else if (strcmp(t, "Localhost") && lp)
        rc |= kv_invalid_s(err, f, lp, "can only be set when seccomp type is Localhost");
    return rc;
}

static int
validate_security_context(struct bsn_err *err, const json_t *sc, const char *field, bool pod)
{
    int rc = 0;
    char f[300];
    if (!json_is_object(sc))
        return 0;
    rc |= validate_id(err, sc, "runAsUser", field);
    rc |= validate_id(err, sc, "runAsGroup", field);
    if (pod) {
        rc |= validate_id(err, sc, "fsGroup", field);
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(sc, "supplementalGroups"), i, g)
        {
            if (!json_is_integer(g) || json_integer_value(g) < 0) {
                F(f, "%s.supplementalGroups[%zu]", field, i);
                rc |= kv_invalid_j(err, f, g, "must be between 0 and 2147483647, inclusive");
            }
        }
        static const char *const fsgcp[] = {"Always", "OnRootMismatch", NULL};
        F(f, "%s.fsGroupChangePolicy", field);
        rc |= kv_enum(err, sc, "fsGroupChangePolicy", f, fsgcp, false);
        json_array_foreach(json_object_get(sc, "sysctls"), i, g)
        {
            F(f, "%s.sysctls[%zu].name", field, i);
            if (!*kj_str_or(g, "name", ""))
                rc |= kv_required(err, f, NULL);
        }
    } else {
        static const char *const pm[] = {"Default", "Unmasked", NULL};
        F(f, "%s.procMount", field);
        rc |= kv_enum(err, sc, "procMount", f, pm, false);
        if (kj_true(sc, "privileged") &&
            json_is_false(json_object_get(sc, "allowPrivilegeEscalation"))) {
            F(f, "%s", field);
            rc |= kv_invalid_raw(err, f, "\"\"",
                                 "cannot set `allowPrivilegeEscalation` to false and "
                                 "`privileged` to true");
        }
    }
    F(f, "%s.seccompProfile", field);
    rc |= validate_seccomp(err, json_object_get(sc, "seccompProfile"), f);
    return rc;
}

/* ---- host aliases / DNS config ---- */

static int
validate_host_aliases(struct bsn_err *err, const json_t *list, const char *prefix)
{
    char f[300];
    int rc = 0;
    size_t i, j;
    json_t *a, *h;
    json_array_foreach(list, i, a)
    {
        const char *ip = kj_str(a, "ip");
        F(f, "%s.hostAliases[%zu].ip", prefix, i);
        if (!ip || !*ip)
            rc |= kv_required(err, f, NULL);
        else if (!is_ip(ip))
            rc |= kv_invalid_s(err, f, ip, "must be a valid IP address");
        json_array_foreach(json_object_get(a, "hostnames"), j, h)
        {
            const char *s = json_string_value(h);
            F(f, "%s.hostAliases[%zu].hostnames[%zu]", prefix, i, j);
            if (!s || kn_dns1123_subdomain(s))
                rc |= kv_invalid_s(err, f, s ? s : "", s ? kn_dns1123_subdomain(s) : "");
        }
    }
    return rc;
}

static int
validate_dns_config(struct bsn_err *err, const json_t *dc, const char *prefix)
{
    char f[300];
    int rc = 0;
    if (!json_is_object(dc))
        return 0;
    size_t n = kj_len(dc, "nameservers"), i;
    json_t *s;
    if (n > 3) {
        F(f, "%s.dnsConfig.nameservers", prefix);
        rc |= kv_invalid_raw(err, f, "[...]", "must not have more than 3 nameservers");
    }
    json_array_foreach(json_object_get(dc, "nameservers"), i, s)
    {
        F(f, "%s.dnsConfig.nameservers[%zu]", prefix, i);
        if (!is_ip(json_string_value(s)))
            rc |= kv_invalid_j(err, f, s, "must be valid IP address");
    }
    if (kj_len(dc, "searches") > 32) {
        F(f, "%s.dnsConfig.searches", prefix);
        rc |= kv_invalid_raw(err, f, "[...]", "must not have more than 32 search paths");
    }
    json_array_foreach(json_object_get(dc, "options"), i, s)
    {
        F(f, "%s.dnsConfig.options[%zu].name", prefix, i);
        if (!*kj_str_or(s, "name", ""))
            rc |= kv_required(err, f, "Option.Name must not be empty");
    }
    return rc;
}

/* hostPort+protocol must be unique across the pod's containers. */
static int
validate_host_ports(struct bsn_err *err, const json_t *spec, const char *prefix)
{
    struct {
        json_int_t port;
        const char *proto;
    } seen[128];
    size_t ns = 0;
    int rc = 0;
    static const char *const lists[] = {"initContainers", "containers"};
    for (int l = 0; l < 2; l++) {
        size_t i, j;
        json_t *c, *p;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            json_array_foreach(json_object_get(c, "ports"), j, p)
            {
                json_int_t hp = kj_int(p, "hostPort", 0);
                const char *proto = kj_str_or(p, "protocol", "TCP");
                if (hp <= 0)
                    continue;
                bool dup = false;
                for (size_t k = 0; k < ns; k++)
                    if (seen[k].port == hp && strcmp(seen[k].proto, proto) == 0)
                        dup = true;
                if (dup) {
                    char f[300], v[64];
                    F(f, "%s.%s[%zu].ports[%zu].hostPort", prefix, lists[l], i, j);
                    F(v, "%lld/%s", (long long)hp, proto);
                    rc |= kv_duplicate(err, f, v);
                } else if (ns < BSN_ARRAY_LEN(seen)) {
                    seen[ns].port = hp;
                    seen[ns].proto = proto;
                    ns++;
                }
            }
        }
    }
    return rc;
}

int
kp_validate_scheduling(struct bsn_err *err, const json_t *spec, const char *prefix)
{
    char f[300];
    int rc = 0;
    const json_t *aff = json_object_get(spec, "affinity");
    if (json_is_object(aff)) {
        F(f, "%s.affinity.nodeAffinity", prefix);
        rc |= validate_node_affinity(err, json_object_get(aff, "nodeAffinity"), f);
        F(f, "%s.affinity.podAffinity", prefix);
        rc |= validate_pod_affinity(err, json_object_get(aff, "podAffinity"), f);
        F(f, "%s.affinity.podAntiAffinity", prefix);
        rc |= validate_pod_affinity(err, json_object_get(aff, "podAntiAffinity"), f);
    }
    rc |= validate_topology_spread(err, json_object_get(spec, "topologySpreadConstraints"), prefix);
    F(f, "%s.securityContext", prefix);
    rc |= validate_security_context(err, json_object_get(spec, "securityContext"), f, true);
    static const char *const lists[] = {"containers", "initContainers"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            F(f, "%s.%s[%zu].securityContext", prefix, lists[l], i);
            rc |= validate_security_context(err, json_object_get(c, "securityContext"), f, false);
        }
    }
    rc |= validate_host_aliases(err, json_object_get(spec, "hostAliases"), prefix);
    rc |= validate_dns_config(err, json_object_get(spec, "dnsConfig"), prefix);
    rc |= validate_host_ports(err, spec, prefix);
    json_t *pcn = json_object_get(spec, "priorityClassName");
    if (json_is_string(pcn) && *json_string_value(pcn) &&
        kn_dns1123_subdomain(json_string_value(pcn))) {
        F(f, "%s.priorityClassName", prefix);
        rc |= kv_invalid_s(err, f, json_string_value(pcn),
                           kn_dns1123_subdomain(json_string_value(pcn)));
    }
    return rc ? -1 : 0;
}
