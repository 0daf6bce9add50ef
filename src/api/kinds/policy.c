/*
 * policy.c - autoscaling HorizontalPodAutoscaler (v2 storage, v1 conversion), policy/v1
 * PodDisruptionBudget, coordination.k8s.io/v1 Lease, storage.k8s.io/v1 StorageClass and
 * scheduling.k8s.io/v1 PriorityClass.
 *
 * HPA objects are stored as autoscaling/v2. autoscaling/v1 carries only the CPU utilization
 * target; everything else round-trips through the autoscaling.alpha.kubernetes.io annotations
 * (metrics, current-metrics, conditions, behavior) as upstream's conversion does.
 */
#include "api/kinds/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

#define ANN_METRICS         "autoscaling.alpha.kubernetes.io/metrics"
#define ANN_CURRENT_METRICS "autoscaling.alpha.kubernetes.io/current-metrics"
#define ANN_CONDITIONS      "autoscaling.alpha.kubernetes.io/conditions"
#define ANN_BEHAVIOR        "autoscaling.alpha.kubernetes.io/behavior"

/* ---- HorizontalPodAutoscaler ---- */

static bool
hpa_is_v1(const json_t *obj)
{
    return strcmp(kj_str_or(obj, "apiVersion", ""), "autoscaling/v1") == 0;
}

static json_t *
default_cpu_metrics(void)
{
    return json_pack("[{s:s, s:{s:s, s:{s:s, s:i}}}]", "type", "Resource", "resource", "name",
                     "cpu", "target", "type", "Utilization", "averageUtilization", 80);
}

/* A specified behavior gets every unset rule field (GenerateHPAScaleUp/DownRules). */
static void
default_scaling_rules(json_t *behavior, const char *key, json_int_t window, bool up)
{
    json_t *r = kj_obj(behavior, key);
    kj_def_int(r, "stabilizationWindowSeconds", window);
    kj_def_str(r, "selectPolicy", "Max");
    if (json_array_size(json_object_get(r, "policies")) == 0) {
        json_t *p = json_array();
        if (up)
            json_array_append_new(
                p, json_pack("{s:s, s:i, s:i}", "type", "Pods", "value", 4, "periodSeconds", 15));
        json_array_append_new(
            p, json_pack("{s:s, s:i, s:i}", "type", "Percent", "value", 100, "periodSeconds", 15));
        json_object_set_new(r, "policies", p);
    }
}

static void
hpa_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_int(spec, "minReplicas", 1);
    if (hpa_is_v1(obj))
        return;
    if (json_array_size(json_object_get(spec, "metrics")) == 0)
        json_object_set_new(spec, "metrics", default_cpu_metrics());
    json_t *beh = json_object_get(spec, "behavior");
    if (json_is_object(beh)) {
        default_scaling_rules(beh, "scaleUp", 0, true);
        default_scaling_rules(beh, "scaleDown", 300, false);
    }
}

static int
hpa_validate_metric(struct bsn_err *err, const json_t *m, size_t i)
{
    static const char *const types[] = {"ContainerResource", "External", "Object", "Pods",
                                        "Resource",          NULL};
    static const char *const target_types[] = {"AverageValue", "Utilization", "Value", NULL};
    char f[160];
    int rc = 0;
    F(f, "spec.metrics[%zu].type", i);
    rc |= kv_enum(err, m, "type", f, types, true);
    const char *type = kj_str_or(m, "type", "");
    const char *member = strcmp(type, "Resource") == 0            ? "resource"
                         : strcmp(type, "ContainerResource") == 0 ? "containerResource"
                         : strcmp(type, "Pods") == 0              ? "pods"
                         : strcmp(type, "Object") == 0            ? "object"
                                                                  : "external";
    const json_t *src = json_object_get(m, member);
    F(f, "spec.metrics[%zu].%s", i, member);
    if (!src)
        return kv_required(err, f, "must populate information for the given metric source");
    if (!strcmp(member, "resource") || !strcmp(member, "containerResource")) {
        F(f, "spec.metrics[%zu].%s.name", i, member);
        if (!*kj_str_or(src, "name", ""))
            rc |= kv_required(err, f, "must specify a resource name");
    }
    const json_t *target = json_object_get(src, "target");
    F(f, "spec.metrics[%zu].%s.target.type", i, member);
    if (!target)
        return rc | kv_required(err, f, "must specify a metric target type");
    rc |= kv_enum(err, target, "type", f, target_types, true);
    const char *tt = kj_str_or(target, "type", "");
    json_t *au = json_object_get(target, "averageUtilization");
    if (strcmp(tt, "Utilization") == 0) {
        F(f, "spec.metrics[%zu].%s.target.averageUtilization", i, member);
        if (!au)
            rc |= kv_required(err, f,
                              "must set either a target raw value or a target "
                              "utilization");
        else if (!json_is_integer(au) || json_integer_value(au) <= 0)
            rc |= kv_invalid_j(err, f, au, "must be greater than 0");
    }
    static const char *const qfields[] = {"value", "averageValue"};
    for (int q = 0; q < 2; q++) {
        json_t *v = json_object_get(target, qfields[q]);
        double d;
        if (!v)
            continue;
        F(f, "spec.metrics[%zu].%s.target.%s", i, member, qfields[q]);
        if (kq_parse(v, &d) < 0 || d <= 0)
            rc |= kv_invalid_j(err, f, v, "must be positive");
    }
    return rc;
}

static int
hpa_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    const json_t *spec = json_object_get(obj, "spec");
    int rc = 0;
    const json_t *ref = json_object_get(spec, "scaleTargetRef");
    if (!*kj_str_or(ref, "kind", ""))
        rc |= kv_required(err, "spec.scaleTargetRef.kind", NULL);
    const char *name = kj_str_or(ref, "name", "");
    if (!*name)
        rc |= kv_required(err, "spec.scaleTargetRef.name", NULL);
    else if (strchr(name, '/') || strchr(name, '%') || !strcmp(name, ".") || !strcmp(name, ".."))
        rc |= kv_invalid_s(err, "spec.scaleTargetRef.name", name,
                           "may not contain '/' or '%' and may not be '.' or '..'");
    json_int_t min = kj_int(spec, "minReplicas", 1);
    json_int_t max = kj_int(spec, "maxReplicas", 0);
    if (min < 1)
        rc |= kv_invalid_i(err, "spec.minReplicas", min, "must be greater than or equal to 1");
    if (max < 1)
        rc |= kv_invalid_i(err, "spec.maxReplicas", max, "must be greater than 0");
    else if (max < min)
        rc |= kv_invalid_i(err, "spec.maxReplicas", max,
                           "must be greater than or equal to `minReplicas`");
    if (hpa_is_v1(obj)) {
        json_t *t = json_object_get(spec, "targetCPUUtilizationPercentage");
        if (t && (!json_is_integer(t) || json_integer_value(t) < 1))
            rc |= kv_invalid_j(err, "spec.targetCPUUtilizationPercentage", t,
                               "must be greater than or equal to 1");
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(spec, "metrics"), i, m) rc |=
            hpa_validate_metric(err, m, i);
    }
    (void)old;
    return rc ? -1 : 0;
}

static bool
is_cpu_utilization(const json_t *m)
{
    return strcmp(kj_str_or(m, "type", ""), "Resource") == 0 &&
           strcmp(kj_str_or(m, "resource.name", ""), "cpu") == 0 &&
           strcmp(kj_str_or(m, "resource.target.type", ""), "Utilization") == 0 &&
           json_is_integer(kj_get(m, "resource.target.averageUtilization"));
}

static void
set_annotation_json(json_t *obj, const char *key, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_object_set_new(kj_obj(kj_obj(obj, "metadata"), "annotations"), key, json_string(s));
    free(s);
}

/* Takes (removes) an annotation holding JSON; returns the parsed value or NULL. */
static json_t *
take_annotation_json(json_t *obj, const char *key)
{
    json_t *ann = kj_get(obj, "metadata.annotations");
    const char *s = json_string_value(json_object_get(ann, key));
    json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    if (s)
        json_object_del(ann, key);
    if (ann && json_object_size(ann) == 0)
        json_object_del(kj_get(obj, "metadata"), "annotations");
    return v;
}

static void
hpa_to_v1(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    json_t *metrics = json_object_get(spec, "metrics");
    json_t *rest = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(metrics, i, m)
    {
        if (is_cpu_utilization(m) && !json_object_get(spec, "targetCPUUtilizationPercentage"))
            json_object_set(spec, "targetCPUUtilizationPercentage",
                            kj_get(m, "resource.target.averageUtilization"));
        else
            json_array_append(rest, m);
    }
    if (json_array_size(rest))
        set_annotation_json(obj, ANN_METRICS, rest);
    json_decref(rest);
    json_object_del(spec, "metrics");
    json_t *beh = json_object_get(spec, "behavior");
    if (beh) {
        set_annotation_json(obj, ANN_BEHAVIOR, beh);
        json_object_del(spec, "behavior");
    }
    json_t *st = json_object_get(obj, "status");
    if (json_is_object(st)) {
        json_t *cur = json_object_get(st, "currentMetrics");
        json_t *crest = json_array();
        json_array_foreach(cur, i, m)
        {
            if (strcmp(kj_str_or(m, "type", ""), "Resource") == 0 &&
                strcmp(kj_str_or(m, "resource.name", ""), "cpu") == 0 &&
                json_is_integer(kj_get(m, "resource.current.averageUtilization")) &&
                !json_object_get(st, "currentCPUUtilizationPercentage"))
                json_object_set(st, "currentCPUUtilizationPercentage",
                                kj_get(m, "resource.current.averageUtilization"));
            else
                json_array_append(crest, m);
        }
        if (json_array_size(crest))
            set_annotation_json(obj, ANN_CURRENT_METRICS, crest);
        json_decref(crest);
        json_object_del(st, "currentMetrics");
        json_t *conds = json_object_get(st, "conditions");
        if (json_array_size(conds))
            set_annotation_json(obj, ANN_CONDITIONS, conds);
        json_object_del(st, "conditions");
        kj_def_int(st, "currentReplicas", 0);
        kj_def_int(st, "desiredReplicas", 0);
    }
    json_object_set_new(obj, "apiVersion", json_string("autoscaling/v1"));
}

static void
hpa_to_v2(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    json_t *metrics = json_array();
    json_t *t = json_object_get(spec, "targetCPUUtilizationPercentage");
    if (json_is_integer(t))
        json_array_append_new(metrics, json_pack("{s:s, s:{s:s, s:{s:s, s:O}}}", "type", "Resource",
                                                 "resource", "name", "cpu", "target", "type",
                                                 "Utilization", "averageUtilization", t));
    json_object_del(spec, "targetCPUUtilizationPercentage");
    json_t *rest = take_annotation_json(obj, ANN_METRICS);
    if (json_is_array(rest))
        json_array_extend(metrics, rest);
    json_decref(rest);
    if (json_array_size(metrics)) {
        json_object_set_new(spec, "metrics", metrics);
    } else {
        /* upstream defaults the v2 form when it is decoded: an 80% CPU target */
        json_decref(metrics);
        json_object_set_new(spec, "metrics", default_cpu_metrics());
    }
    json_t *beh = take_annotation_json(obj, ANN_BEHAVIOR);
    if (beh)
        json_object_set_new(spec, "behavior", beh);
    json_t *cur_rest = take_annotation_json(obj, ANN_CURRENT_METRICS);
    json_t *conds = take_annotation_json(obj, ANN_CONDITIONS);
    json_t *st = json_object_get(obj, "status");
    if (json_is_object(st)) {
        json_t *cur = json_array();
        json_t *c = json_object_get(st, "currentCPUUtilizationPercentage");
        if (json_is_integer(c))
            json_array_append_new(cur, json_pack("{s:s, s:{s:s, s:{s:O}}}", "type", "Resource",
                                                 "resource", "name", "cpu", "current",
                                                 "averageUtilization", c));
        json_object_del(st, "currentCPUUtilizationPercentage");
        if (json_is_array(cur_rest))
            json_array_extend(cur, cur_rest);
        if (json_array_size(cur))
            json_object_set_new(st, "currentMetrics", cur);
        else
            json_decref(cur);
        if (json_is_array(conds))
            json_object_set(st, "conditions", conds);
    }
    json_decref(cur_rest);
    json_decref(conds);
    json_object_set_new(obj, "apiVersion", json_string("autoscaling/v2"));
}

static void
hpa_convert(json_t *obj, const struct bsn_resource *from, const struct bsn_resource *to)
{
    if (!to || (from && strcmp(from->version, to->version) == 0))
        return;
    if (strcmp(to->version, "v1") == 0)
        hpa_to_v1(obj);
    else
        hpa_to_v2(obj);
}

static const struct bsn_column hpa_columns[] = {
    KC_NAME,
    {"Reference", "string", "", "Reference to the target resource", 0},
    {"Targets", "string", "", "Current and target metrics", 0},
    {"MinPods", "string", "", "Minimum number of replicas", 0},
    {"MaxPods", "string", "", "Maximum number of replicas", 0},
    {"Replicas", "string", "", "Current number of replicas", 0},
    KC_AGE,
    KC_END,
};

static void
quantity_at(const json_t *o, const char *path, char *out, size_t n)
{
    json_t *v = kj_get(o, path);
    if (v)
        kq_text(v, out, n);
    else
        snprintf(out, n, "<unknown>");
}

/* One "name: current/target" entry as upstream's formatHPAMetrics prints it. */
static void
hpa_metric_text(const json_t *spec_m, const json_t *status_m, char *out, size_t n)
{
    const char *type = kj_str_or(spec_m, "type", "");
    char cur[64] = "<unknown>", tgt[64] = "<auto>";
    if (!strcmp(type, "Resource") || !strcmp(type, "ContainerResource")) {
        const char *member = !strcmp(type, "Resource") ? "resource" : "containerResource";
        const json_t *s = json_object_get(spec_m, member);
        const json_t *c = json_object_get(status_m, member);
        const json_t *av = kj_get(s, "target.averageValue");
        if (av) {
            if (c)
                quantity_at(c, "current.averageValue", cur, sizeof(cur));
            kq_text(av, tgt, sizeof(tgt));
        } else {
            if (c && json_is_integer(kj_get(c, "current.averageUtilization")))
                F(cur, "%lld%%", (long long)kj_int(c, "current.averageUtilization", 0));
            if (json_is_integer(kj_get(s, "target.averageUtilization")))
                F(tgt, "%lld%%", (long long)kj_int(s, "target.averageUtilization", 0));
        }
        if (!strcmp(type, "Resource"))
            snprintf(out, n, "%s: %s/%s", kj_str_or(s, "name", ""), cur, tgt);
        else
            snprintf(out, n, "%s:%s: %s/%s", kj_str_or(s, "container", ""),
                     kj_str_or(s, "name", ""), cur, tgt);
        return;
    }
    const char *member = !strcmp(type, "Pods")     ? "pods"
                         : !strcmp(type, "Object") ? "object"
                                                   : "external";
    const json_t *s = json_object_get(spec_m, member);
    const json_t *c = json_object_get(status_m, member);
    bool value = kj_get(s, "target.value") != NULL;
    if (c)
        quantity_at(c, value ? "current.value" : "current.averageValue", cur, sizeof(cur));
    quantity_at(s, value ? "target.value" : "target.averageValue", tgt, sizeof(tgt));
    if (!value && strcmp(type, "Pods"))
        snprintf(out, n, "%s/%s (avg)", cur, tgt);
    else
        snprintf(out, n, "%s/%s", cur, tgt);
}

static void
hpa_row(const json_t *obj, json_t *cells)
{
    char ref[300], targets[512] = "", minp[32] = "<unset>", entry[200];
    const json_t *spec = json_object_get(obj, "spec");
    F(ref, "%s/%s", kj_str_or(spec, "scaleTargetRef.kind", ""),
      kj_str_or(spec, "scaleTargetRef.name", ""));
    if (hpa_is_v1(obj)) {
        json_t *t = json_object_get(spec, "targetCPUUtilizationPercentage");
        json_t *c = kj_get(obj, "status.currentCPUUtilizationPercentage");
        char cur[32] = "<unknown>";
        if (json_is_integer(c))
            F(cur, "%lld%%", (long long)json_integer_value(c));
        if (json_is_integer(t))
            F(targets, "cpu: %s/%lld%%", cur, (long long)json_integer_value(t));
        else
            F(targets, "<none>");
    } else {
        const json_t *metrics = json_object_get(spec, "metrics");
        const json_t *current = kj_get(obj, "status.currentMetrics");
        size_t i, off = 0, n = json_array_size(metrics);
        json_t *m;
        /* upstream prints at most two metrics */
        json_array_foreach(metrics, i, m)
        {
            if (i == 2)
                break;
            hpa_metric_text(m, json_array_get(current, i), entry, sizeof(entry));
            kc_appendf(targets, sizeof(targets), &off, "%s%s", i ? ", " : "", entry);
        }
        if (n == 0)
            F(targets, "<none>");
        else if (n > 2 && off < sizeof(targets))
            kc_appendf(targets, sizeof(targets), &off, " + %zu more...", n - 2);
    }
    if (json_is_integer(json_object_get(spec, "minReplicas")))
        F(minp, "%lld", (long long)kj_int(spec, "minReplicas", 0));
    kc_name(cells, obj);
    kc_str(cells, ref);
    kc_str(cells, targets);
    kc_str(cells, minp);
    kc_int(cells, kj_int(spec, "maxReplicas", 0));
    kc_int(cells, kj_int(obj, "status.currentReplicas", 0));
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_hpa = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = hpa_defaults,
    .validate = hpa_validate,
    .prepare_create = kh_strip_status,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = hpa_columns,
    .row = hpa_row,
    .convert = hpa_convert,
};

/* ---- PodDisruptionBudget ---- */

static int
validate_int_or_pct(struct bsn_err *err, const json_t *v, const char *field)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        return json_integer_value(v) < 0 ? kv_invalid_i(err, field, json_integer_value(v),
                                                        "must be greater than or equal to 0")
                                         : 0;
    const char *s = json_string_value(v);
    char *end = NULL;
    long p = s ? strtol(s, &end, 10) : -1;
    if (!s || end == s || strcmp(end, "%") != 0)
        return kv_invalid_j(err, field, v,
                            "a valid percent string must be a numeric string followed by an "
                            "ending '%' (e.g. '1%',  or '93%', regex used for validation is "
                            "'[0-9]+%')");
    if (p > 100)
        return kv_invalid_s(err, field, s, "must not be greater than 100%");
    return 0;
}

static int
pdb_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const policies[] = {"AlwaysAllow", "IfHealthyBudget", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    json_t *mina = json_object_get(spec, "minAvailable");
    json_t *maxu = json_object_get(spec, "maxUnavailable");
    int rc = 0;
    if (mina && maxu && !json_is_null(mina) && !json_is_null(maxu))
        rc |= kv_invalid_raw(err, "spec", "policy.PodDisruptionBudgetSpec{...}",
                             "minAvailable and maxUnavailable cannot be both set");
    rc |= validate_int_or_pct(err, mina, "spec.minAvailable");
    rc |= validate_int_or_pct(err, maxu, "spec.maxUnavailable");
    rc |= ks_validate_selector(err, json_object_get(spec, "selector"), "spec.selector");
    rc |= kv_enum(err, spec, "unhealthyPodEvictionPolicy", "spec.unhealthyPodEvictionPolicy",
                  policies, false);
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column pdb_columns[] = {
    KC_NAME,
    {"Min Available", "string", "", "The minimum number of pods that must be available.", 0},
    {"Max Unavailable", "string", "", "The maximum number of pods that may be unavailable.", 0},
    {"Allowed Disruptions", "integer", "",
     "Calculated number of pods that may be disrupted at this time.", 0},
    KC_AGE,
    KC_END,
};

static void
int_or_str_text(const json_t *v, char *out, size_t n)
{
    if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else
        snprintf(out, n, "N/A");
}

static void
pdb_row(const json_t *obj, json_t *cells)
{
    char a[32], b[32];
    int_or_str_text(kj_get(obj, "spec.minAvailable"), a, sizeof(a));
    int_or_str_text(kj_get(obj, "spec.maxUnavailable"), b, sizeof(b));
    kc_name(cells, obj);
    kc_str(cells, a);
    kc_str(cells, b);
    kc_int(cells, kj_int(obj, "status.disruptionsAllowed", 0));
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_pdb = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = pdb_validate,
    .prepare_create = kh_strip_status,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = pdb_columns,
    .row = pdb_row,
};

/* ---- Lease ---- */

static int
lease_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    const json_t *spec = json_object_get(obj, "spec");
    int rc = 0;
    json_t *d = json_object_get(spec, "leaseDurationSeconds");
    if (d && !json_is_null(d) && (!json_is_integer(d) || json_integer_value(d) <= 0))
        rc |= kv_invalid_j(err, "spec.leaseDurationSeconds", d, "must be greater than 0");
    rc |= kv_nonneg(err, spec, "leaseTransitions", "spec.leaseTransitions");
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column lease_columns[] = {
    KC_NAME,
    {"Holder", "string", "", "The holder of the lease", 0},
    KC_AGE,
    KC_END,
};

static void
lease_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_str(cells, kj_str_or(obj, "spec.holderIdentity", ""));
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_lease = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = lease_validate,
    .columns = lease_columns,
    .row = lease_row,
};

/* ---- StorageClass ---- */

static void
storageclass_defaults(json_t *obj)
{
    kj_def_str(obj, "reclaimPolicy", "Delete");
    kj_def_str(obj, "volumeBindingMode", "Immediate");
}

static int
storageclass_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const policies[] = {"Delete", "Retain", NULL};
    static const char *const modes[] = {"Immediate", "WaitForFirstConsumer", NULL};
    int rc = 0;
    const char *prov = kj_str(obj, "provisioner");
    if (!prov || !*prov)
        rc |= kv_required(err, "provisioner", NULL);
    else if (strlen(prov) > 63)
        rc |= kv_toolong(err, "provisioner", 63);
    else if (kn_qualified_name(prov))
        rc |= kv_invalid_s(err, "provisioner", prov, kn_qualified_name(prov));
    rc |= kv_enum(err, obj, "reclaimPolicy", "reclaimPolicy", policies, false);
    rc |= kv_enum(err, obj, "volumeBindingMode", "volumeBindingMode", modes, false);
    if (old) {
        static const char *const fixed[] = {"parameters", "provisioner", "reclaimPolicy",
                                            "volumeBindingMode"};
        for (size_t i = 0; i < BSN_ARRAY_LEN(fixed); i++) {
            json_t *a = json_object_get(obj, fixed[i]), *b = json_object_get(old, fixed[i]);
            if ((a || b) && !(a && b && json_equal(a, b))) {
                char d[64];
                F(d, "updates to %s are forbidden.", fixed[i]);
                rc |= kv_forbidden(err, fixed[i], d);
            }
        }
    }
    return rc ? -1 : 0;
}

static const struct bsn_column storageclass_columns[] = {
    KC_NAME,
    {"Provisioner", "string", "", "Indicates the type of the provisioner.", 0},
    {"ReclaimPolicy", "string", "",
     "Indicates the type of the reclaim policy for dynamically provisioned volumes.", 0},
    {"VolumeBindingMode", "string", "",
     "Indicates how PersistentVolumeClaims should be provisioned and bound.", 0},
    {"AllowVolumeExpansion", "string", "",
     "Indicates whether the storage class allow volume "
     "expand.",
     0},
    KC_AGE,
    KC_END,
};

static void
storageclass_row(const json_t *obj, json_t *cells)
{
    char name[300];
    const json_t *ann = kj_get(obj, "metadata.annotations");
    const char *def =
        json_string_value(json_object_get(ann, "storageclass.kubernetes.io/is-default-class"));
    if (!def)
        def = json_string_value(
            json_object_get(ann, "storageclass.beta.kubernetes.io/is-default-class"));
    if (def && strcmp(def, "true") == 0)
        F(name, "%s (default)", kj_str_or(obj, "metadata.name", ""));
    else
        F(name, "%s", kj_str_or(obj, "metadata.name", ""));
    kc_str(cells, name);
    kc_str(cells, kj_str_or(obj, "provisioner", ""));
    kc_str(cells, kj_str_or(obj, "reclaimPolicy", "Delete"));
    kc_str(cells, kj_str_or(obj, "volumeBindingMode", "Immediate"));
    kc_bool(cells, kj_true(obj, "allowVolumeExpansion"));
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_storageclass = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = storageclass_defaults,
    .validate = storageclass_validate,
    .columns = storageclass_columns,
    .row = storageclass_row,
};

/* ---- PriorityClass ---- */

#define HIGHEST_USER_PRIORITY 1000000000

static void
priorityclass_defaults(json_t *obj)
{
    kj_def_str(obj, "preemptionPolicy", "PreemptLowerPriority");
}

static int
priorityclass_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const policies[] = {"Never", "PreemptLowerPriority", NULL};
    int rc = 0;
    const char *name = kj_str_or(obj, "metadata.name", "");
    json_int_t v = kj_int(obj, "value", 0);
    bool system = strncmp(name, "system-", 7) == 0;
    if (system && strcmp(name, "system-cluster-critical") && strcmp(name, "system-node-critical"))
        rc |= kv_forbidden(err, "metadata.name",
                           "priority class names with 'system-' prefix are reserved");
    if (!system && v > HIGHEST_USER_PRIORITY)
        rc |= kv_forbidden(err, "value",
                           "maximum allowed value of a user defined priority is 1000000000");
    rc |= kv_enum(err, obj, "preemptionPolicy", "preemptionPolicy", policies, false);
    if (old) {
        if (kj_int(old, "value", 0) != v)
            rc |= kv_forbidden(err, "value", "may not be changed in an update.");
        if (strcmp(kj_str_or(old, "preemptionPolicy", ""), kj_str_or(obj, "preemptionPolicy", "")))
            rc |= kv_invalid_s(err, "preemptionPolicy", kj_str_or(obj, "preemptionPolicy", ""),
                               "field is immutable");
    }
    return rc ? -1 : 0;
}

static const struct bsn_column priorityclass_columns[] = {
    KC_NAME,
    {"Value", "integer", "", "value represents the integer value of this priority class.", 0},
    {"Global-Default", "boolean", "",
     "globalDefault specifies whether this PriorityClass should be considered as the default "
     "priority for pods that do not have any priority class.",
     0},
    KC_AGE,
    {"PreemptionPolicy", "string", "",
     "preemptionPolicy is the Policy for preempting pods with lower priority.", 0},
    KC_END,
};

static void
priorityclass_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_int(cells, kj_int(obj, "value", 0));
    kc_bool(cells, kj_true(obj, "globalDefault"));
    kc_age(cells, obj);
    kc_str(cells, kj_str_or(obj, "preemptionPolicy", ""));
}

const struct bsn_strategy bsn_strategy_priorityclass = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = priorityclass_defaults,
    .validate = priorityclass_validate,
    .columns = priorityclass_columns,
    .row = priorityclass_row,
};
