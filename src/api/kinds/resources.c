/*
 * resources.c - core/v1 kinds about storage and resource accounting: PersistentVolume,
 * PersistentVolumeClaim, LimitRange and ResourceQuota (defaults, validation, columns).
 */
#include "api/kinds/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

static int
cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- PersistentVolume / PersistentVolumeClaim ---- */

static const char *const access_modes[] = {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
                                           "ReadWriteOncePod", NULL};
static const char *const volume_modes[] = {"Block", "Filesystem", NULL};

static int
validate_access_modes(struct bsn_err *err, const json_t *modes, const char *field)
{
    char f[128];
    int rc = 0;
    if (json_array_size(modes) == 0)
        return kv_required(err, field, NULL);
    size_t i;
    json_t *m;
    json_array_foreach(modes, i, m)
    {
        const char *s = json_string_value(m);
        bool ok = false;
        for (int k = 0; s && access_modes[k]; k++)
            if (strcmp(s, access_modes[k]) == 0)
                ok = true;
        if (!ok) {
            F(f, "%s", field);
            rc |= kv_unsupported(err, f, s ? s : "", access_modes);
        }
    }
    return rc;
}

static void
access_modes_short(const json_t *modes, char *out, size_t n)
{
    size_t i, off = 0;
    json_t *m;
    out[0] = '\0';
    static const struct {
        const char *full, *abbr;
    } tbl[] = {{"ReadWriteOnce", "RWO"},
               {"ReadOnlyMany", "ROX"},
               {"ReadWriteMany", "RWX"},
               {"ReadWriteOncePod", "RWOP"}};
    /* kubectl prints them in a fixed order, each once. */
    for (size_t t = 0; t < BSN_ARRAY_LEN(tbl); t++) {
        json_array_foreach(modes, i, m)
        {
            if (json_string_value(m) && strcmp(json_string_value(m), tbl[t].full) == 0 && off < n) {
                kc_appendf(out, n, &off, "%s%s", off ? "," : "", tbl[t].abbr);
                break;
            }
        }
    }
}

static void
pv_defaults(json_t *obj)
{
    json_t *spec = kj_obj(obj, "spec");
    kj_def_str(spec, "persistentVolumeReclaimPolicy", "Retain");
    kq_canonicalize(kj_get(spec, "capacity"));
    kj_def_str(spec, "volumeMode", "Filesystem");
    kj_def_str(kj_obj(obj, "status"), "phase", "Pending");
}

static int
pv_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const policies[] = {"Delete", "Recycle", "Retain", NULL};
    static const char *const sources[] = {"hostPath",
                                          "local",
                                          "nfs",
                                          "csi",
                                          "iscsi",
                                          "fc",
                                          "cephfs",
                                          "rbd",
                                          "glusterfs",
                                          "azureDisk",
                                          "azureFile",
                                          "gcePersistentDisk",
                                          "awsElasticBlockStore",
                                          "cinder",
                                          "flexVolume",
                                          "vsphereVolume",
                                          "portworxVolume",
                                          "scaleIO",
                                          "storageos",
                                          "quobyte",
                                          "photonPersistentDisk",
                                          "flocker"};
    const json_t *spec = json_object_get(obj, "spec");
    int rc = validate_access_modes(err, json_object_get(spec, "accessModes"), "spec.accessModes");
    json_t *cap = kj_get(spec, "capacity.storage");
    double q;
    if (!cap)
        rc |= kv_required(err, "spec.capacity", NULL);
    else if (kq_parse(cap, &q) < 0 || q <= 0)
        rc |= kv_invalid_j(err, "spec.capacity[storage]", cap, "must be greater than zero");
    int n = 0;
    for (size_t i = 0; i < BSN_ARRAY_LEN(sources); i++)
        if (json_object_get(spec, sources[i]))
            n++;
    if (n == 0)
        rc |= kv_required(err, "spec", "must specify a volume type");
    else if (n > 1)
        rc |= kv_forbidden(err, "spec", "may not specify more than 1 volume type");
    rc |= kv_enum(err, spec, "persistentVolumeReclaimPolicy", "spec.persistentVolumeReclaimPolicy",
                  policies, false);
    rc |= kv_enum(err, spec, "volumeMode", "spec.volumeMode", volume_modes, false);
    if (json_object_get(spec, "hostPath") && !*kj_str_or(spec, "hostPath.path", ""))
        rc |= kv_required(err, "spec.hostPath.path", NULL);
    if (old) {
        rc |= kv_immutable(err, obj, old, "spec.volumeMode");
        /* the volume source itself cannot change */
        const json_t *os = kj_get(old, "spec");
        for (size_t i = 0; i < BSN_ARRAY_LEN(sources); i++) {
            json_t *a = json_object_get(spec, sources[i]), *b = json_object_get(os, sources[i]);
            if ((a || b) && !(a && b && json_equal(a, b))) {
                rc |= kv_forbidden(err, "spec.persistentvolumesource",
                                   "spec.persistentvolumesource is forbidden.");
                break;
            }
        }
    }
    return rc ? -1 : 0;
}

static void
pv_prepare_create(json_t *obj)
{
    json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
}

static const struct bsn_column pv_columns[] = {
    KC_NAME,
    {"Capacity", "string", "",
     "capacity is the description of the persistent volume's resources "
     "and capacity.",
     0},
    {"Access Modes", "string", "", "accessModes contains all ways the volume can be mounted.", 0},
    {"Reclaim Policy", "string", "",
     "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released "
     "from its claim.",
     0},
    {"Status", "string", "",
     "phase indicates if a volume is available, bound to a claim, or "
     "released by a claim.",
     0},
    {"Claim", "string", "",
     "claimRef is part of a bi-directional binding between "
     "PersistentVolume and PersistentVolumeClaim.",
     0},
    {"StorageClass", "string", "", "StorageClass of the pv", 0},
    {"VolumeAttributesClass", "string", "", "VolumeAttributesClass of the pv", 0},
    {"Reason", "string", "",
     "reason is a brief CamelCase string that describes any failure and "
     "is meant for machine parsing and tidy display in the CLI.",
     0},
    KC_AGE,
    {"VolumeMode", "string", "",
     "volumeMode defines if a volume is intended to be used with a "
     "formatted filesystem or to remain in raw block state.",
     1},
    KC_END,
};

static void
pv_row(const json_t *obj, json_t *cells)
{
    char buf[256];
    const json_t *spec = json_object_get(obj, "spec");
    kc_name(cells, obj);
    kq_text(kj_get(spec, "capacity.storage"), buf, sizeof(buf));
    kc_str(cells, buf);
    access_modes_short(json_object_get(spec, "accessModes"), buf, sizeof(buf));
    kc_str(cells, buf);
    kc_str(cells, kj_str_or(spec, "persistentVolumeReclaimPolicy", ""));
    const char *phase = kj_str_or(obj, "status.phase", "");
    kc_str(cells, kj_str(obj, "metadata.deletionTimestamp") ? "Terminating" : phase);
    const json_t *cr = json_object_get(spec, "claimRef");
    if (cr)
        F(buf, "%s/%s", kj_str_or(cr, "namespace", ""), kj_str_or(cr, "name", ""));
    else
        buf[0] = '\0';
    kc_str(cells, buf);
    kc_str(cells, kj_str_or(spec, "storageClassName", ""));
    const char *vac = kj_str(spec, "volumeAttributesClassName");
    kc_str(cells, vac && *vac ? vac : "<unset>");
    kc_str(cells, kj_str_or(obj, "status.reason", ""));
    kc_age(cells, obj);
    const char *vm = kj_str(spec, "volumeMode");
    kc_str(cells, vm ? vm : "<unset>");
}

const struct bsn_strategy bsn_strategy_pv = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = pv_defaults,
    .validate = pv_validate,
    .prepare_create = pv_prepare_create,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = pv_columns,
    .row = pv_row,
};

static void
pvc_defaults(json_t *obj)
{
    kj_def_str(kj_obj(obj, "spec"), "volumeMode", "Filesystem");
    kq_canonicalize(kj_get(obj, "spec.resources.requests"));
    kq_canonicalize(kj_get(obj, "spec.resources.limits"));
    kj_def_str(kj_obj(obj, "status"), "phase", "Pending");
}

static int
pvc_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    const json_t *spec = json_object_get(obj, "spec");
    int rc = validate_access_modes(err, json_object_get(spec, "accessModes"), "spec.accessModes");
    json_t *st = kj_get(spec, "resources.requests.storage");
    double q;
    if (!st)
        rc |= kv_required(err, "spec.resources[storage]", NULL);
    else if (kq_parse(st, &q) < 0 || q <= 0)
        rc |=
            kv_invalid_j(err, "spec.resources.requests[storage]", st, "must be greater than zero");
    rc |= kv_enum(err, spec, "volumeMode", "spec.volumeMode", volume_modes, false);
    if (json_object_get(spec, "selector"))
        rc |= ks_validate_selector(err, json_object_get(spec, "selector"), "spec.selector");
    if (old) {
        json_t *a = json_deep_copy(spec), *b = json_deep_copy(kj_get(old, "spec"));
        json_object_del(a, "resources");
        json_object_del(b, "resources");
        json_object_del(a, "volumeAttributesClassName");
        json_object_del(b, "volumeAttributesClassName");
        if (!*kj_str_or(b, "volumeName", "")) {
            json_object_del(a, "volumeName");
            json_object_del(b, "volumeName");
        }
        if (!json_equal(a, b))
            rc |= kv_forbidden(err, "spec",
                               "spec is immutable after creation except resources.requests and "
                               "volumeAttributesClassName for bound claims");
        json_decref(a);
        json_decref(b);
    }
    return rc ? -1 : 0;
}

static void
pvc_prepare_create(json_t *obj)
{
    json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
}

static const struct bsn_column pvc_columns[] = {
    KC_NAME,
    {"Status", "string", "", "phase represents the current phase of PersistentVolumeClaim.", 0},
    {"Volume", "string", "",
     "volumeName is the binding reference to the PersistentVolume backing this claim.", 0},
    {"Capacity", "string", "",
     "capacity represents the actual resources of the underlying "
     "volume.",
     0},
    {"Access Modes", "string", "",
     "accessModes contains the actual access modes the volume backing the PVC has.", 0},
    {"StorageClass", "string", "", "StorageClass of the pvc", 0},
    {"VolumeAttributesClass", "string", "", "VolumeAttributesClass of the pvc", 0},
    KC_AGE,
    {"VolumeMode", "string", "",
     "volumeMode defines what type of volume is required by the "
     "claim.",
     1},
    KC_END,
};

static void
pvc_row(const json_t *obj, json_t *cells)
{
    char buf[256] = "";
    const json_t *spec = json_object_get(obj, "spec");
    const char *phase = kj_str_or(obj, "status.phase", "");
    kc_name(cells, obj);
    kc_str(cells, kj_str(obj, "metadata.deletionTimestamp") ? "Terminating" : phase);
    const char *vol = kj_str_or(spec, "volumeName", "");
    kc_str(cells, vol);
    if (*vol)
        kq_text(kj_get(obj, "status.capacity.storage"), buf, sizeof(buf));
    kc_str(cells, buf);
    buf[0] = '\0';
    if (*vol)
        access_modes_short(kj_get(obj, "status.accessModes"), buf, sizeof(buf));
    kc_str(cells, buf);
    kc_str(cells, kj_str_or(spec, "storageClassName", ""));
    const char *vac = kj_str(spec, "volumeAttributesClassName");
    kc_str(cells, vac && *vac ? vac : "<unset>");
    kc_age(cells, obj);
    const char *vm = kj_str(spec, "volumeMode");
    kc_str(cells, vm ? vm : "<unset>");
}

const struct bsn_strategy bsn_strategy_pvc = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = pvc_defaults,
    .validate = pvc_validate,
    .prepare_create = pvc_prepare_create,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = pvc_columns,
    .row = pvc_row,
};

/* ---- LimitRange ---- */

static int
validate_quantity_map(struct bsn_err *err, const json_t *map, const char *field)
{
    char f[200];
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v)
    {
        double q;
        F(f, "%s[%s]", field, k);
        if (kq_parse(v, &q) < 0)
            rc |= kv_invalid_j(err, f, v,
                               "quantities must match the regular expression "
                               "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
        else if (q < 0)
            rc |= kv_invalid_j(err, f, v, "must be greater than or equal to 0");
    }
    return rc;
}

static int
limitrange_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const types[] = {"Container", "PersistentVolumeClaim", "Pod", NULL};
    static const char *const sect[] = {"max", "min", "default", "defaultRequest",
                                       "maxLimitRequestRatio"};
    char f[160];
    int rc = 0;
    size_t i;
    json_t *l;
    json_array_foreach(kj_get(obj, "spec.limits"), i, l)
    {
        F(f, "spec.limits[%zu].type", i);
        rc |= kv_enum(err, l, "type", f, types, true);
        for (size_t s = 0; s < BSN_ARRAY_LEN(sect); s++) {
            F(f, "spec.limits[%zu].%s", i, sect[s]);
            rc |= validate_quantity_map(err, json_object_get(l, sect[s]), f);
        }
    }
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column limitrange_columns[] = {
    KC_NAME,
    {"Created At", "date", "",
     "CreationTimestamp is a timestamp representing the server time when this object was "
     "created.",
     0},
    KC_END,
};

static void
limitrange_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_str(cells, kj_str_or(obj, "metadata.creationTimestamp", ""));
}

static void
limitrange_defaults(json_t *obj)
{
    static const char *const sect[] = {"max", "min", "default", "defaultRequest",
                                       "maxLimitRequestRatio"};
    size_t i;
    json_t *l;
    json_array_foreach(kj_get(obj, "spec.limits"), i, l)
    {
        for (size_t s = 0; s < BSN_ARRAY_LEN(sect); s++)
            kq_canonicalize(json_object_get(l, sect[s]));
        /* upstream: a Container limit's default and defaultRequest fall back to max */
        if (strcmp(kj_str_or(l, "type", ""), "Container") != 0)
            continue;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(l, "max"), k, v)
        {
            json_t *d = kj_obj(l, "default");
            if (!json_object_get(d, k))
                json_object_set(d, k, v);
        }
        static const char *const from[] = {"default", "min"};
        for (int f = 0; f < 2; f++) {
            json_object_foreach(json_object_get(l, from[f]), k, v)
            {
                json_t *d = kj_obj(l, "defaultRequest");
                if (!json_object_get(d, k))
                    json_object_set(d, k, v);
            }
        }
    }
}

const struct bsn_strategy bsn_strategy_limitrange = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = limitrange_defaults,
    .validate = limitrange_validate,
    .columns = limitrange_columns,
    .row = limitrange_row,
};

/* ---- ResourceQuota ---- */

static int
resourcequota_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const scopes[] = {"BestEffort",
                                         "CrossNamespacePodAffinity",
                                         "NotBestEffort",
                                         "NotTerminating",
                                         "PriorityClass",
                                         "Terminating",
                                         NULL};
    int rc = validate_quantity_map(err, kj_get(obj, "spec.hard"), "spec.hard");
    rc |= validate_quantity_map(err, kj_get(obj, "status.hard"), "status.hard");
    rc |= validate_quantity_map(err, kj_get(obj, "status.used"), "status.used");
    size_t i;
    json_t *s;
    json_array_foreach(kj_get(obj, "spec.scopes"), i, s)
    {
        const char *v = json_string_value(s);
        bool ok = false;
        for (int k = 0; v && scopes[k]; k++)
            if (strcmp(v, scopes[k]) == 0)
                ok = true;
        if (!ok)
            rc |= kv_unsupported(err, "spec.scopes", v ? v : "", scopes);
    }
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column resourcequota_columns[] = {
    KC_NAME,
    {"Request", "string", "",
     "Request represents a minimum amount of cpu/memory that a "
     "container may consume.",
     0},
    {"Limit", "string", "",
     "Limits control the maximum amount of cpu/memory that a container may "
     "use independent of contention on the node.",
     0},
    KC_AGE,
    KC_END,
};

static void
resourcequota_row(const json_t *obj, json_t *cells)
{
    const char *keys[128];
    size_t nk = 0;
    const char *k;
    json_t *v;
    json_object_foreach(kj_get(obj, "status.hard"), k, v)
    {
        if (nk < BSN_ARRAY_LEN(keys))
            keys[nk++] = k;
    }
    qsort(keys, nk, sizeof(keys[0]), cmp_cstr);
    struct bsn_buf req, lim;
    bsn_buf_init(&req);
    bsn_buf_init(&lim);
    for (size_t i = 0; i < nk; i++) {
        char used[64], hard[64];
        json_t *u = json_object_get(kj_get(obj, "status.used"), keys[i]);
        json_t *h = json_object_get(kj_get(obj, "status.hard"), keys[i]);
        if (u)
            kq_text(u, used, sizeof(used));
        else
            F(used, "0");
        if (h)
            kq_text(h, hard, sizeof(hard));
        else
            F(hard, "0");
        struct bsn_buf *w = strncmp(keys[i], "limits.", 7) == 0 ? &lim : &req;
        bsn_buf_printf(w, "%s%s: %s/%s", w->len ? ", " : "", keys[i], used, hard);
    }
    kc_name(cells, obj);
    kc_str(cells, req.data ? req.data : "");
    kc_str(cells, lim.data ? lim.data : "");
    kc_age(cells, obj);
    bsn_buf_fini(&req);
    bsn_buf_fini(&lim);
}

static void
resourcequota_defaults(json_t *obj)
{
    kq_canonicalize(kj_get(obj, "spec.hard"));
}

const struct bsn_strategy bsn_strategy_resourcequota = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = resourcequota_defaults,
    .validate = resourcequota_validate,
    .prepare_create = kh_strip_status,
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = resourcequota_columns,
    .row = resourcequota_row,
};
