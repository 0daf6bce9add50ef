/*
 * workloads.c - apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision and
 * core/v1 ReplicationController: defaults, validation (selector/template agreement, update
 * strategies, immutable selectors), status handling and printer columns.
 */
#include "api/kinds/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

static const char *const always_only[] = {"Always", NULL};

/* ---- shared pieces ---- */

/* Go's %#v of a *metav1.LabelSelector, close enough for error messages. */
static void
go_selector(const json_t *sel, char *out, size_t n)
{
    char ml[512];
    const json_t *m = json_object_get(sel, "matchLabels");
    ks_go_map(m, ml, sizeof(ml));
    size_t ne = kj_len(sel, "matchExpressions");
    if (ne == 0)
        snprintf(out, n,
                 "v1.LabelSelector{MatchLabels:%s, "
                 "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}",
                 ml);
    else
        snprintf(out, n,
                 "v1.LabelSelector{MatchLabels:%s, MatchExpressions:[]v1.LabelSelectorRequirement{"
                 "...}}",
                 ml);
}

/*
 * spec.selector (metav1.LabelSelector) + spec.template for the apps kinds: selector required
 * and non-empty, template labels must match it, template restartPolicy Always (unless
 * restart_allowed is given), selector immutable on update.
 */
static int
validate_selector_template(struct bsn_err *err, const json_t *obj, const json_t *old,
                           const char *kind, const char *const *restart_allowed,
                           bool selector_immutable)
{
    int rc = 0;
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *sel = json_object_get(spec, "selector");
    const json_t *tmpl = json_object_get(spec, "template");
    char buf[768], d[128];
    if (!sel || json_is_null(sel)) {
        rc |= kv_required(err, "spec.selector", NULL);
    } else {
        rc |= ks_validate_selector(err, sel, "spec.selector");
        if (json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
            kj_len(sel, "matchExpressions") == 0) {
            go_selector(sel, buf, sizeof(buf));
            F(d, "empty selector is invalid for %s", kind);
            rc |= kv_invalid_raw(err, "spec.selector", buf, d);
        } else if (tmpl && !ks_selector_matches(sel, kj_get(tmpl, "metadata.labels"))) {
            ks_go_map(kj_get(tmpl, "metadata.labels"), buf, sizeof(buf));
            rc |= kv_invalid_raw(err, "spec.template.metadata.labels", buf,
                                 "`selector` does not match template `labels`");
        }
    }
    rc |= kp_validate_template(err, tmpl, "spec.template",
                               restart_allowed ? restart_allowed : always_only);
    json_t *ads = kj_get(tmpl, "spec.activeDeadlineSeconds");
    if (ads && !json_is_null(ads))
        rc |= kv_forbidden(err, "spec.template.spec.activeDeadlineSeconds",
                           "activeDeadlineSeconds in ReplicaSet is not Supported");
    if (old && selector_immutable) {
        const json_t *osel = kj_get(old, "spec.selector");
        if (osel && sel && !json_equal(osel, sel)) {
            go_selector(sel, buf, sizeof(buf));
            rc |= kv_invalid_raw(err, "spec.selector", buf, "field is immutable");
        }
    }
    return rc ? -1 : 0;
}

/* IntOrString "25%" / 1: validates and returns the integer or percent value (-1 if invalid). */
static int
validate_int_or_percent(struct bsn_err *err, const json_t *v, const char *field, long *out,
                        bool *is_pct, bool cap100)
{
    *out = 0;
    *is_pct = false;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        if (*out < 0)
            return kv_invalid_i(err, field, *out, "must be greater than or equal to 0");
        return 0;
    }
    const char *s = json_string_value(v);
    char *end = NULL;
    long p = s ? strtol(s, &end, 10) : -1;
    if (!s || end == s || strcmp(end, "%") != 0)
        return kv_invalid_j(err, field, v,
                            "a valid percent string must be a numeric string "
                            "followed by an ending '%' (e.g. '1%',  or '93%', "
                            "regex used for validation is '[0-9]+%')");
    *is_pct = true;
    *out = p;
    if (p < 0)
        return kv_invalid_s(err, field, s, "must be greater than or equal to 0");
    if (cap100 && p > 100)
        return kv_invalid_s(err, field, s, "must not be greater than 100%");
    return 0;
}

/* Upstream checks replicas first, then selector and template, then these. */
static int
validate_replicas(struct bsn_err *err, const json_t *spec)
{
    return kv_nonneg(err, spec, "replicas", "spec.replicas");
}

static int
validate_history(struct bsn_err *err, const json_t *spec)
{
    int rc = 0;
    rc |= kv_nonneg(err, spec, "minReadySeconds", "spec.minReadySeconds");
    rc |= kv_nonneg(err, spec, "revisionHistoryLimit", "spec.revisionHistoryLimit");
    return rc;
}

static void
row_template_wide(json_t *cells, const json_t *obj, bool with_selector)
{
    char buf[1024];
    const json_t *ps = kj_get(obj, "spec.template.spec");
    kc_containers(ps, false, buf, sizeof(buf));
    kc_str(cells, buf);
    kc_containers(ps, true, buf, sizeof(buf));
    kc_str(cells, buf);
    if (with_selector) {
        ks_selector_string(kj_get(obj, "spec.selector"), buf, sizeof(buf));
        kc_str(cells, buf);
    }
}

static void
prep_create(json_t *obj)
{
    kh_strip_status(obj);
}

static void
prep_update(json_t *obj, const json_t *old)
{
    kh_keep_status(obj, old);
}

static void
prep_status(json_t *obj, const json_t *old)
{
    kh_keep_spec(obj, old);
}

/* metadata.generation starts at 1 and is bumped on spec changes by the lead's code; the apps
 * kinds have nothing more to prepare. */

#define COL_CONTAINERS                                                            \
    {                                                                             \
        "Containers", "string", "", "Names of each container in the template.", 1 \
    }
#define COL_IMAGES                                                                        \
    {                                                                                     \
        "Images", "string", "", "Images referenced by each container in the template.", 1 \
    }
#define COL_SELECTOR                                                          \
    {                                                                         \
        "Selector", "string", "",                                             \
            "Label selector for pods. Existing ReplicaSets whose pods are "   \
            "selected by this will be the ones affected by this deployment.", \
            1                                                                 \
    }

/* ---- Deployment ---- */

static void
deployment_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_int(spec, "replicas", 1);
    json_t *strat = kj_obj(spec, "strategy");
    kj_def_str(strat, "type", "RollingUpdate");
    if (strcmp(kj_str_or(strat, "type", ""), "RollingUpdate") == 0) {
        json_t *ru = kj_obj(strat, "rollingUpdate");
        kj_def_str(ru, "maxUnavailable", "25%");
        kj_def_str(ru, "maxSurge", "25%");
    }
    kj_def_int(spec, "revisionHistoryLimit", 10);
    kj_def_int(spec, "progressDeadlineSeconds", 600);
    kp_default_template(json_object_get(spec, "template"));
}

static int
deployment_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const types[] = {"Recreate", "RollingUpdate", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    int rc = validate_replicas(err, spec);
    rc |= validate_selector_template(err, obj, old, "deployment", NULL, true);
    const json_t *strat = json_object_get(spec, "strategy");
    rc |= kv_enum(err, strat, "type", "spec.strategy.type", types, false);
    const json_t *ru = json_object_get(strat, "rollingUpdate");
    if (strcmp(kj_str_or(strat, "type", ""), "Recreate") == 0 && ru && !json_is_null(ru)) {
        rc |= kv_forbidden(err, "spec.strategy.rollingUpdate",
                           "may not be specified when strategy `type` is 'Recreate'");
    } else if (ru) {
        long mu, ms;
        bool mu_pct, ms_pct;
        rc |= validate_int_or_percent(err, json_object_get(ru, "maxUnavailable"),
                                      "spec.strategy.rollingUpdate.maxUnavailable", &mu, &mu_pct,
                                      true);
        rc |= validate_int_or_percent(err, json_object_get(ru, "maxSurge"),
                                      "spec.strategy.rollingUpdate.maxSurge", &ms, &ms_pct, false);
        if (mu == 0 && ms == 0 && json_object_get(ru, "maxUnavailable"))
            rc |= kv_invalid_j(err, "spec.strategy.rollingUpdate.maxUnavailable",
                               json_object_get(ru, "maxUnavailable"),
                               "may not be 0 when `maxSurge` is 0");
    }
    rc |= validate_history(err, spec);
    json_int_t pds = kj_int(spec, "progressDeadlineSeconds", -1);
    rc |= kv_nonneg(err, spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds");
    if (pds >= 0 && pds <= kj_int(spec, "minReadySeconds", 0))
        rc |= kv_invalid_i(err, "spec.progressDeadlineSeconds", pds,
                           "must be greater than minReadySeconds");
    return rc ? -1 : 0;
}

static const struct bsn_column deployment_columns[] = {
    KC_NAME,
    {"Ready", "string", "", "Number of the pod with ready state", 0},
    {"Up-to-date", "string", "",
     "Total number of non-terminated pods targeted by this deployment that have the desired "
     "template spec.",
     0},
    {"Available", "string", "",
     "Total number of available pods (ready for at least minReadySeconds) targeted by this "
     "deployment.",
     0},
    KC_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    COL_SELECTOR,
    KC_END,
};

static void
deployment_row(const json_t *obj, json_t *cells)
{
    char buf[64];
    kc_name(cells, obj);
    F(buf, "%lld/%lld", (long long)kj_int(obj, "status.readyReplicas", 0),
      (long long)kj_int(obj, "spec.replicas", 0));
    kc_str(cells, buf);
    kc_int(cells, kj_int(obj, "status.updatedReplicas", 0));
    kc_int(cells, kj_int(obj, "status.availableReplicas", 0));
    kc_age(cells, obj);
    row_template_wide(cells, obj, true);
}

const struct bsn_strategy bsn_strategy_deployment = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = deployment_defaults,
    .validate = deployment_validate,
    .prepare_create = prep_create,
    .prepare_update = prep_update,
    .prepare_status_update = prep_status,
    .columns = deployment_columns,
    .row = deployment_row,
};

/* ---- ReplicaSet / ReplicationController ---- */

static void
replicaset_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_int(spec, "replicas", 1);
    kp_default_template(json_object_get(spec, "template"));
}

static int
replicaset_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    int rc = validate_replicas(err, json_object_get(obj, "spec"));
    rc |= validate_selector_template(err, obj, old, "replicaset", NULL, true);
    rc |= validate_history(err, json_object_get(obj, "spec"));
    return rc ? -1 : 0;
}

static const struct bsn_column replicaset_columns[] = {
    KC_NAME,
    {"Desired", "integer", "", "Replicas is the number of desired pods.", 0},
    {"Current", "integer", "", "Replicas is the most recently observed number of replicas.", 0},
    {"Ready", "integer", "", "The number of ready replicas for this replica set.", 0},
    KC_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    {"Selector", "string", "",
     "Selector is a label query over pods that should match the replica count.", 1},
    KC_END,
};

static void
replicaset_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_int(cells, kj_int(obj, "spec.replicas", 0));
    kc_int(cells, kj_int(obj, "status.replicas", 0));
    kc_int(cells, kj_int(obj, "status.readyReplicas", 0));
    kc_age(cells, obj);
    row_template_wide(cells, obj, true);
}

static const char *
replicas_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    if (strcmp(field, "status.replicas") != 0)
        return NULL;
    snprintf(buf, bufsz, "%lld", (long long)kj_int(obj, "status.replicas", 0));
    return buf;
}

const struct bsn_strategy bsn_strategy_replicaset = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = replicaset_defaults,
    .validate = replicaset_validate,
    .prepare_create = prep_create,
    .prepare_update = prep_update,
    .prepare_status_update = prep_status,
    .columns = replicaset_columns,
    .row = replicaset_row,
    .field_value = replicas_field_value,
};

static void
rc_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_int(spec, "replicas", 1);
    json_t *tl = kj_get(spec, "template.metadata.labels");
    if (json_object_size(tl) > 0) {
        json_t *sel = json_object_get(spec, "selector");
        if (json_object_size(sel) == 0)
            json_object_set_new(spec, "selector", json_deep_copy(tl));
        json_t *md = kj_obj(obj, "metadata");
        if (json_object_size(json_object_get(md, "labels")) == 0)
            json_object_set_new(md, "labels", json_deep_copy(tl));
    }
    kp_default_template(json_object_get(spec, "template"));
}

static int
rc_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *sel = json_object_get(spec, "selector");
    const json_t *tmpl = json_object_get(spec, "template");
    int rc = validate_replicas(err, spec);
    rc |= validate_history(err, spec);
    char buf[512];
    if (json_object_size(sel) == 0) {
        rc |= kv_required(err, "spec.selector", NULL);
    } else {
        rc |= ks_validate_labels(err, sel, "spec.selector");
        if (tmpl && !ks_map_matches(sel, kj_get(tmpl, "metadata.labels"))) {
            ks_go_map(kj_get(tmpl, "metadata.labels"), buf, sizeof(buf));
            rc |= kv_invalid_raw(err, "spec.template.metadata.labels", buf,
                                 "`selector` does not match template `labels`");
        }
    }
    if (!tmpl)
        rc |= kv_required(err, "spec.template", NULL);
    else
        rc |= kp_validate_template(err, tmpl, "spec.template", always_only);
    return rc ? -1 : 0;
}

static void
rc_row(const json_t *obj, json_t *cells)
{
    char buf[1024];
    kc_name(cells, obj);
    kc_int(cells, kj_int(obj, "spec.replicas", 0));
    kc_int(cells, kj_int(obj, "status.replicas", 0));
    kc_int(cells, kj_int(obj, "status.readyReplicas", 0));
    kc_age(cells, obj);
    row_template_wide(cells, obj, false);
    ks_labels_string(kj_get(obj, "spec.selector"), buf, sizeof(buf));
    kc_str(cells, buf);
}

const struct bsn_strategy bsn_strategy_replicationcontroller = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = rc_defaults,
    .validate = rc_validate,
    .prepare_create = prep_create,
    .prepare_update = prep_update,
    .prepare_status_update = prep_status,
    .columns = replicaset_columns,
    .row = rc_row,
    .field_value = replicas_field_value,
};

/* ---- StatefulSet ---- */

static void
statefulset_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_str(spec, "podManagementPolicy", "OrderedReady");
    /* as upstream: rollingUpdate is created only when the type was defaulted too */
    json_t *us = kj_obj(spec, "updateStrategy");
    if (!*kj_str_or(us, "type", "")) {
        json_object_set_new(us, "type", json_string("RollingUpdate"));
        kj_obj(us, "rollingUpdate");
    }
    json_t *ru = json_object_get(us, "rollingUpdate");
    if (strcmp(kj_str_or(us, "type", ""), "RollingUpdate") == 0 && json_is_object(ru))
        kj_def_int(ru, "partition", 0);
    kj_def_int(spec, "replicas", 1);
    kj_def_int(spec, "revisionHistoryLimit", 10);
    json_t *pol = kj_obj(spec, "persistentVolumeClaimRetentionPolicy");
    kj_def_str(pol, "whenDeleted", "Retain");
    kj_def_str(pol, "whenScaled", "Retain");
    size_t i;
    json_t *vct;
    json_array_foreach(json_object_get(spec, "volumeClaimTemplates"), i, vct)
    {
        kj_def_str(kj_obj(vct, "spec"), "volumeMode", "Filesystem");
        kj_def_str(kj_obj(vct, "status"), "phase", "Pending");
        if (!json_object_get(vct, "apiVersion"))
            json_object_set_new(vct, "apiVersion", json_string("v1"));
        if (!json_object_get(vct, "kind"))
            json_object_set_new(vct, "kind", json_string("PersistentVolumeClaim"));
    }
    kp_default_template(json_object_get(spec, "template"));
}

static int
statefulset_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const pmp[] = {"OrderedReady", "Parallel", NULL};
    static const char *const ust[] = {"OnDelete", "RollingUpdate", NULL};
    static const char *const pol[] = {"Delete", "Retain", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    /* Containers may mount the claim templates: validate the template as if they were pod
     * volumes, as upstream does. */
    json_t *aug = json_deep_copy(obj);
    json_t *ps = kj_get(aug, "spec.template.spec");
    size_t k;
    json_t *vct;
    json_array_foreach(kj_get(obj, "spec.volumeClaimTemplates"), k, vct)
    {
        const char *vn = kj_str(vct, "metadata.name");
        if (!json_is_object(ps) || !vn)
            continue;
        json_t *vols = json_object_get(ps, "volumes");
        if (!json_is_array(vols)) {
            vols = json_array();
            json_object_set_new(ps, "volumes", vols);
        }
        json_array_append_new(vols, json_pack("{s:s, s:{s:s}}", "name", vn, "persistentVolumeClaim",
                                              "claimName", vn));
    }
    int rc = validate_replicas(err, spec);
    rc |= validate_selector_template(err, aug, old, "statefulset", NULL, false);
    json_decref(aug);
    rc |= validate_history(err, spec);
    rc |= kv_enum(err, spec, "podManagementPolicy", "spec.podManagementPolicy", pmp, false);
    const json_t *us = json_object_get(spec, "updateStrategy");
    rc |= kv_enum(err, us, "type", "spec.updateStrategy.type", ust, false);
    if (strcmp(kj_str_or(us, "type", ""), "OnDelete") == 0 &&
        json_object_get(us, "rollingUpdate") && !json_is_null(json_object_get(us, "rollingUpdate")))
        rc |= kv_invalid_raw(err, "spec.updateStrategy.rollingUpdate", "{...}",
                             "only allowed for updateStrategy 'RollingUpdate'");
    rc |= kv_nonneg(err, json_object_get(us, "rollingUpdate"), "partition",
                    "spec.updateStrategy.rollingUpdate.partition");
    const json_t *p = json_object_get(spec, "persistentVolumeClaimRetentionPolicy");
    rc |= kv_enum(err, p, "whenDeleted", "spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
                  pol, false);
    rc |= kv_enum(err, p, "whenScaled", "spec.persistentVolumeClaimRetentionPolicy.whenScaled", pol,
                  false);
    const char *svc = kj_str(spec, "serviceName");
    if (svc && *svc && kn_dns1123_label(svc))
        rc |= kv_invalid_s(err, "spec.serviceName", svc, kn_dns1123_label(svc));
    if (old) {
        /* Only replicas, ordinals, template, updateStrategy, retention policy and
         * minReadySeconds may change. */
        json_t *a = json_deep_copy(spec), *b = json_deep_copy(kj_get(old, "spec"));
        static const char *const mut[] = {"replicas",
                                          "ordinals",
                                          "template",
                                          "updateStrategy",
                                          "persistentVolumeClaimRetentionPolicy",
                                          "minReadySeconds",
                                          "revisionHistoryLimit"};
        for (size_t i = 0; i < BSN_ARRAY_LEN(mut); i++) {
            json_object_del(a, mut[i]);
            json_object_del(b, mut[i]);
        }
        if (!json_equal(a, b))
            rc |= kv_forbidden(err, "spec",
                               "updates to statefulset spec for fields other than 'replicas', "
                               "'ordinals', 'template', 'updateStrategy', "
                               "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                               "are forbidden");
        json_decref(a);
        json_decref(b);
    }
    return rc ? -1 : 0;
}

static const struct bsn_column statefulset_columns[] = {
    KC_NAME,    {"Ready", "string", "", "Number of the pod with ready state", 0},
    KC_AGE,     COL_CONTAINERS,
    COL_IMAGES, KC_END,
};

static void
statefulset_row(const json_t *obj, json_t *cells)
{
    char buf[64];
    kc_name(cells, obj);
    F(buf, "%lld/%lld", (long long)kj_int(obj, "status.readyReplicas", 0),
      (long long)kj_int(obj, "spec.replicas", 0));
    kc_str(cells, buf);
    kc_age(cells, obj);
    row_template_wide(cells, obj, false);
}

const struct bsn_strategy bsn_strategy_statefulset = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = statefulset_defaults,
    .validate = statefulset_validate,
    .prepare_create = prep_create,
    .prepare_update = prep_update,
    .prepare_status_update = prep_status,
    .columns = statefulset_columns,
    .row = statefulset_row,
};

/* ---- DaemonSet ---- */

static void
daemonset_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    json_t *us = kj_obj(spec, "updateStrategy");
    kj_def_str(us, "type", "RollingUpdate");
    if (strcmp(kj_str_or(us, "type", ""), "RollingUpdate") == 0) {
        json_t *ru = kj_obj(us, "rollingUpdate");
        kj_def_int(ru, "maxUnavailable", 1);
        kj_def_int(ru, "maxSurge", 0);
    }
    kj_def_int(spec, "revisionHistoryLimit", 10);
    kp_default_template(json_object_get(spec, "template"));
}

static int
daemonset_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const ust[] = {"OnDelete", "RollingUpdate", NULL};
    const json_t *spec = json_object_get(obj, "spec");
    int rc = validate_selector_template(err, obj, old, "daemonset", NULL, true);
    rc |= kv_nonneg(err, spec, "minReadySeconds", "spec.minReadySeconds");
    rc |= kv_nonneg(err, spec, "revisionHistoryLimit", "spec.revisionHistoryLimit");
    const json_t *us = json_object_get(spec, "updateStrategy");
    rc |= kv_enum(err, us, "type", "spec.updateStrategy.type", ust, false);
    const json_t *ru = json_object_get(us, "rollingUpdate");
    if (ru && strcmp(kj_str_or(us, "type", ""), "RollingUpdate") == 0) {
        long mu, ms;
        bool p1, p2;
        rc |= validate_int_or_percent(err, json_object_get(ru, "maxUnavailable"),
                                      "spec.updateStrategy.rollingUpdate.maxUnavailable", &mu, &p1,
                                      true);
        rc |=
            validate_int_or_percent(err, json_object_get(ru, "maxSurge"),
                                    "spec.updateStrategy.rollingUpdate.maxSurge", &ms, &p2, false);
        if (mu == 0 && ms == 0)
            rc |= kv_invalid_j(err, "spec.updateStrategy.rollingUpdate.maxUnavailable",
                               json_object_get(ru, "maxUnavailable"),
                               "may not be 0 when `maxSurge` is 0");
    }
    return rc ? -1 : 0;
}

static const struct bsn_column daemonset_columns[] = {
    KC_NAME,
    {"Desired", "integer", "",
     "The total number of nodes that should be running the daemon pod (including nodes "
     "correctly running the daemon pod).",
     0},
    {"Current", "integer", "",
     "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
     "daemon pod.",
     0},
    {"Ready", "integer", "",
     "numberReady is the number of nodes that should be running the daemon pod and have one or "
     "more of the daemon pod running with a Ready Condition.",
     0},
    {"Up-to-date", "integer", "", "The total number of nodes that are running updated daemon pod",
     0},
    {"Available", "integer", "",
     "The number of nodes that should be running the daemon pod and have one or more of the "
     "daemon pod running and available (ready for at least spec.minReadySeconds)",
     0},
    {"Node Selector", "string", "",
     "NodeSelector is a selector which must be true for the pod to fit on a node.", 0},
    KC_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    {"Selector", "string", "", "A label query over pods that are managed by the daemon set.", 1},
    KC_END,
};

static void
daemonset_row(const json_t *obj, json_t *cells)
{
    char buf[1024];
    kc_name(cells, obj);
    kc_int(cells, kj_int(obj, "status.desiredNumberScheduled", 0));
    kc_int(cells, kj_int(obj, "status.currentNumberScheduled", 0));
    kc_int(cells, kj_int(obj, "status.numberReady", 0));
    kc_int(cells, kj_int(obj, "status.updatedNumberScheduled", 0));
    kc_int(cells, kj_int(obj, "status.numberAvailable", 0));
    ks_labels_string(kj_get(obj, "spec.template.spec.nodeSelector"), buf, sizeof(buf));
    kc_str(cells, buf);
    kc_age(cells, obj);
    row_template_wide(cells, obj, true);
}

const struct bsn_strategy bsn_strategy_daemonset = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = daemonset_defaults,
    .validate = daemonset_validate,
    .prepare_create = prep_create,
    .prepare_update = prep_update,
    .prepare_status_update = prep_status,
    .columns = daemonset_columns,
    .row = daemonset_row,
};

/* ---- ControllerRevision ---- */

static int
controllerrevision_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    int rc = kv_nonneg(err, obj, "revision", "revision");
    if (old) {
        json_t *a = json_object_get(obj, "data"), *b = json_object_get(old, "data");
        if ((a || b) && !(a && b && json_equal(a, b)))
            rc |= kv_invalid_raw(err, "data", "runtime.RawExtension{...}", "field is immutable");
    }
    return rc ? -1 : 0;
}

static const struct bsn_column controllerrevision_columns[] = {
    KC_NAME,
    {"Controller", "string", "", "Controller of the object", 0},
    {"Revision", "string", "", "Revision indicates the revision of the state represented by Data.",
     0},
    KC_AGE,
    KC_END,
};

static void
controllerrevision_row(const json_t *obj, json_t *cells)
{
    char buf[400] = "<none>";
    size_t i;
    json_t *ref;
    json_array_foreach(kj_get(obj, "metadata.ownerReferences"), i, ref)
    {
        if (!kj_true(ref, "controller"))
            continue;
        const char *api = kj_str_or(ref, "apiVersion", "");
        const char *slash = strchr(api, '/');
        char kind[128];
        snprintf(kind, sizeof(kind), "%s", kj_str_or(ref, "kind", ""));
        for (char *p = kind; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        if (slash)
            F(buf, "%s.%.*s/%s", kind, (int)(slash - api), api, kj_str_or(ref, "name", ""));
        else
            F(buf, "%s/%s", kind, kj_str_or(ref, "name", ""));
        break;
    }
    kc_name(cells, obj);
    kc_str(cells, buf);
    kc_int(cells, kj_int(obj, "revision", 0));
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_controllerrevision = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = controllerrevision_validate,
    .columns = controllerrevision_columns,
    .row = controllerrevision_row,
};
