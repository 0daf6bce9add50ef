/*
 * pod.c - the Pod strategy: defaults (PodSpec + pod-only admission defaults), validation
 * (spec, and the narrow set of fields a pod update may change), initial status (Pending + QoS
 * class), the `kubectl get pods` columns with upstream's Status/Restarts computation, and the
 * pod field selectors.
 */
#include "api/kinds/kinds.h"

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
