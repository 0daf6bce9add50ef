/*
 * core.c - core/v1 kinds without a pod template: Namespace, ConfigMap, Secret, ServiceAccount,
 * Node, PersistentVolume, PersistentVolumeClaim, LimitRange, ResourceQuota.
 */
#include "api/kinds/kinds.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/time.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

#define MAX_DATA_SIZE (1024 * 1024) /* ConfigMap / Secret total size (core.MaxSecretSize) */

static void
prep_strip(json_t *obj)
{
    kh_strip_status(obj);
}

static void
prep_keep_status(json_t *obj, const json_t *old)
{
    kh_keep_status(obj, old);
}

static void
prep_keep_spec(json_t *obj, const json_t *old)
{
    kh_keep_spec(obj, old);
}

/* ---- Namespace ---- */

static void
namespace_defaults(json_t *obj)
{
    json_t *md = kj_obj(obj, "metadata");
    const char *name = kj_str(md, "name");
    if (name && *name)
        json_object_set_new(kj_obj(md, "labels"), "kubernetes.io/metadata.name", json_string(name));
    kj_def_str(kj_obj(obj, "status"), "phase", "Active");
}

static int
namespace_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const phases[] = {"Active", "Terminating", NULL};
    char f[160];
    int rc = 0;
    size_t i;
    json_t *fin;
    json_array_foreach(kj_get(obj, "spec.finalizers"), i, fin)
    {
        F(f, "spec.finalizers[%zu]", i);
        const char *s = json_string_value(fin);
        if (!s || kn_qualified_name(s))
            rc |= kv_invalid_s(err, f, s ? s : "", s ? kn_qualified_name(s) : "must be a string");
    }
    rc |= kv_enum(err, json_object_get(obj, "status"), "phase", "status.phase", phases, false);
    (void)old;
    return rc ? -1 : 0;
}

static void
namespace_prepare_create(json_t *obj)
{
    json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
    json_t *spec = kj_obj(obj, "spec");
    json_t *fins = json_object_get(spec, "finalizers");
    if (!json_is_array(fins)) {
        fins = json_array();
        json_object_set_new(spec, "finalizers", fins);
    }
    size_t i;
    json_t *f;
    json_array_foreach(fins, i, f)
    {
        if (json_string_value(f) && strcmp(json_string_value(f), "kubernetes") == 0)
            return;
    }
    json_array_append_new(fins, json_string("kubernetes"));
}

static void
namespace_prepare_update(json_t *obj, const json_t *old)
{
    kh_keep_status(obj, old);
    json_t *of = kj_get(old, "spec.finalizers");
    json_t *spec = kj_obj(obj, "spec");
    if (of)
        json_object_set_new(spec, "finalizers", json_deep_copy(of));
    else
        json_object_del(spec, "finalizers");
}

static const struct bsn_column namespace_columns[] = {
    KC_NAME,
    {"Status", "string", "", "The status of the namespace", 0},
    KC_AGE,
    KC_END,
};

static void
namespace_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_str(cells, kj_str_or(obj, "status.phase", ""));
    kc_age(cells, obj);
}

static const char *
namespace_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    if (strcmp(field, "status.phase") != 0)
        return NULL;
    snprintf(buf, bufsz, "%s", kj_str_or(obj, field, ""));
    return buf;
}

const struct bsn_strategy bsn_strategy_namespace = {
    .name_rule = BSN_NAME_LABEL,
    .defaults = namespace_defaults,
    .validate = namespace_validate,
    .prepare_create = namespace_prepare_create,
    .prepare_update = namespace_prepare_update,
    .prepare_status_update = prep_keep_spec,
    .columns = namespace_columns,
    .row = namespace_row,
    .field_value = namespace_field_value,
};

/* ---- ConfigMap / Secret data ---- */

static int
b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decoded length of standard padded base64, or -1 if invalid. */
static long
b64_decoded_len(const char *s)
{
    size_t len = strlen(s);
    if (len % 4)
        return -1;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') {
            if (i + 2 < len)
                return -1;
            pad++;
        } else if (pad || b64val((unsigned char)s[i]) < 0) {
            return -1;
        }
    }
    return (long)(len / 4 * 3 - pad);
}

static char *
b64_encode(const char *s, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = bsn_malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)s[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Validates keys of a data map; adds value sizes (decoded when base64) to *total. */
static int
validate_data_map(struct bsn_err *err, const json_t *map, const char *field, bool base64,
                  size_t *total)
{
    char f[400];
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v)
    {
        F(f, "%s[%s]", field, k);
        const char *msg = kn_config_key(k);
        if (msg)
            rc |= kv_invalid_s(err, f, k, msg);
        if (!json_is_string(v) && !json_is_null(v)) {
            rc |= kv_invalid_j(err, f, v, "must be a string");
            continue;
        }
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (base64) {
            long n = b64_decoded_len(s);
            if (n < 0) {
                rc |= kv_invalid_raw(err, f, "\"<secret data>\"", "illegal base64 data");
                continue;
            }
            *total += (size_t)n;
        } else {
            *total += json_string_length(v);
        }
        *total += strlen(k);
    }
    return rc;
}

static int
validate_immutable_data(struct bsn_err *err, const json_t *obj, const json_t *old,
                        const char *const *keys)
{
    int rc = 0;
    if (!old || !kj_true(old, "immutable"))
        return 0;
    if (!kj_true(obj, "immutable"))
        rc |= kv_forbidden(err, "immutable", "field is immutable when `immutable` is set");
    for (int i = 0; keys[i]; i++) {
        json_t *a = json_object_get(obj, keys[i]), *b = json_object_get(old, keys[i]);
        bool ea = !a || json_object_size(a) == 0, eb = !b || json_object_size(b) == 0;
        if (ea && eb)
            continue;
        if (ea != eb || !json_equal(a, b))
            rc |= kv_forbidden(err, keys[i], "field is immutable when `immutable` is set");
    }
    return rc;
}

static int
configmap_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const keys[] = {"data", "binaryData", NULL};
    size_t total = 0;
    int rc = validate_data_map(err, json_object_get(obj, "data"), "data", false, &total);
    rc |= validate_data_map(err, json_object_get(obj, "binaryData"), "binaryData", true, &total);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(obj, "data"), k, v)
    {
        if (json_object_get(kj_get(obj, "binaryData"), k)) {
            char f[300];
            F(f, "data[%s]", k);
            rc |= kv_invalid_s(err, f, k, "duplicate of key present in binaryData");
        }
    }
    if (total > MAX_DATA_SIZE)
        rc |= bsn_invalid(err, "FieldValueTooLong", "", "Too long: must have at most %d bytes",
                          MAX_DATA_SIZE);
    rc |= validate_immutable_data(err, obj, old, keys);
    return rc ? -1 : 0;
}

static const struct bsn_column configmap_columns[] = {
    KC_NAME,
    {"Data", "string", "", "Data contains the configuration data.", 0},
    KC_AGE,
    KC_END,
};

static void
configmap_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_int(cells, (json_int_t)(json_object_size(json_object_get(obj, "data")) +
                               json_object_size(json_object_get(obj, "binaryData"))));
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_configmap = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = configmap_validate,
    .columns = configmap_columns,
    .row = configmap_row,
};

/* ---- Secret ---- */

static void
secret_defaults(json_t *obj)
{
    kj_def_str(obj, "type", "Opaque");
    /* stringData is write-only: merged into data (base64), as upstream's conversion does. */
    json_t *sd = json_object_get(obj, "stringData");
    if (json_is_object(sd)) {
        json_t *data = kj_obj(obj, "data");
        const char *k;
        json_t *v;
        json_object_foreach(sd, k, v)
        {
            if (!json_is_string(v))
                continue;
            char *enc = b64_encode(json_string_value(v), json_string_length(v));
            json_object_set_new(data, k, json_string(enc));
            free(enc);
        }
    }
    json_object_del(obj, "stringData");
}

static int
require_key(struct bsn_err *err, const json_t *obj, const char *key)
{
    if (json_object_get(kj_get(obj, "data"), key))
        return 0;
    char f[128];
    F(f, "data[%s]", key);
    return kv_required(err, f, NULL);
}

static int
secret_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const keys[] = {"data", NULL};
    size_t total = 0;
    int rc = validate_data_map(err, json_object_get(obj, "data"), "data", true, &total);
    if (total > MAX_DATA_SIZE)
        rc |= bsn_invalid(err, "FieldValueTooLong", "data", "Too long: must have at most %d bytes",
                          MAX_DATA_SIZE);
    const char *type = kj_str_or(obj, "type", "");
    if (strcmp(type, "kubernetes.io/service-account-token") == 0) {
        if (!*kj_str_or(json_object_get(kj_get(obj, "metadata.annotations"),
                                        "kubernetes.io/service-account.name"),
                        "", ""))
            rc |=
                kv_required(err, "metadata.annotations[kubernetes.io/service-account.name]", NULL);
    } else if (strcmp(type, "kubernetes.io/dockercfg") == 0) {
        rc |= require_key(err, obj, ".dockercfg");
    } else if (strcmp(type, "kubernetes.io/dockerconfigjson") == 0) {
        rc |= require_key(err, obj, ".dockerconfigjson");
    } else if (strcmp(type, "kubernetes.io/ssh-auth") == 0) {
        rc |= require_key(err, obj, "ssh-privatekey");
    } else if (strcmp(type, "kubernetes.io/tls") == 0) {
        rc |= require_key(err, obj, "tls.key");
        rc |= require_key(err, obj, "tls.crt");
    } else if (strcmp(type, "kubernetes.io/basic-auth") == 0) {
        if (!json_object_get(kj_get(obj, "data"), "username") &&
            !json_object_get(kj_get(obj, "data"), "password"))
            rc |= kv_required(err, "data[username]", NULL);
    }
    if (old) {
        const char *ot = kj_str_or(old, "type", "");
        if (strcmp(ot, type) != 0)
            rc |= kv_invalid_s(err, "type", type, "field is immutable");
    }
    rc |= validate_immutable_data(err, obj, old, keys);
    return rc ? -1 : 0;
}

static const struct bsn_column secret_columns[] = {
    KC_NAME,
    {"Type", "string", "", "Used to facilitate programmatic handling of secret data.", 0},
    {"Data", "string", "", "Data contains the secret data.", 0},
    KC_AGE,
    KC_END,
};

static void
secret_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_str(cells, kj_str_or(obj, "type", ""));
    kc_int(cells, (json_int_t)json_object_size(json_object_get(obj, "data")));
    kc_age(cells, obj);
}

static const char *
secret_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    if (strcmp(field, "type") != 0)
        return NULL;
    snprintf(buf, bufsz, "%s", kj_str_or(obj, "type", ""));
    return buf;
}

const struct bsn_strategy bsn_strategy_secret = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = secret_defaults,
    .validate = secret_validate,
    .columns = secret_columns,
    .row = secret_row,
    .field_value = secret_field_value,
};

/* ---- ServiceAccount ---- */

static int
serviceaccount_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    char f[128];
    int rc = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(obj, "imagePullSecrets"), i, s)
    {
        F(f, "imagePullSecrets[%zu].name", i);
        const char *n = kj_str(s, "name");
        if (n && *n && kn_dns1123_subdomain(n))
            rc |= kv_invalid_s(err, f, n, kn_dns1123_subdomain(n));
    }
    (void)old;
    return rc ? -1 : 0;
}

static const struct bsn_column serviceaccount_columns[] = {
    KC_NAME,
    {"Secrets", "string", "",
     "Secrets is a list of the secrets in the same namespace that pods running using this "
     "ServiceAccount are allowed to use.",
     0},
    KC_AGE,
    KC_END,
};

static void
serviceaccount_row(const json_t *obj, json_t *cells)
{
    kc_name(cells, obj);
    kc_int(cells, (json_int_t)kj_len(obj, "secrets"));
    kc_age(cells, obj);
}

const struct bsn_strategy bsn_strategy_serviceaccount = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = serviceaccount_validate,
    .columns = serviceaccount_columns,
    .row = serviceaccount_row,
};

/* ---- Node ---- */

static void
node_defaults(json_t *obj)
{
    json_t *st = json_object_get(obj, "status");
    kq_canonicalize(kj_get(st, "capacity"));
    kq_canonicalize(kj_get(st, "allocatable"));
    if (json_is_object(st) && json_is_object(json_object_get(st, "capacity")) &&
        !json_object_get(st, "allocatable"))
        json_object_set_new(st, "allocatable", json_deep_copy(json_object_get(st, "capacity")));
}

static bool
valid_cidr(const char *s)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return false;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    unsigned char buf[16];
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1)
        return false;
    if (inet_pton(AF_INET, ip, buf) == 1)
        return bits >= 0 && bits <= 32;
    if (inet_pton(AF_INET6, ip, buf) == 1)
        return bits >= 0 && bits <= 128;
    return false;
}

static int
node_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const effects[] = {"NoExecute", "NoSchedule", "PreferNoSchedule", NULL};
    char f[160];
    int rc = 0;
    const json_t *spec = json_object_get(obj, "spec");
    const char *cidr = kj_str(spec, "podCIDR");
    if (cidr && *cidr && !valid_cidr(cidr))
        rc |= kv_invalid_s(err, "spec.podCIDR", cidr,
                           "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(spec, "podCIDRs"), i, t)
    {
        F(f, "spec.podCIDRs[%zu]", i);
        if (!json_string_value(t) || !valid_cidr(json_string_value(t)))
            rc |= kv_invalid_j(err, f, t,
                               "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
    }
    json_array_foreach(json_object_get(spec, "taints"), i, t)
    {
        F(f, "spec.taints[%zu].key", i);
        rc |= kn_check(err, f, kj_str(t, "key"), kn_qualified_name);
        F(f, "spec.taints[%zu].effect", i);
        rc |= kv_enum(err, t, "effect", f, effects, true);
        const char *v = kj_str(t, "value");
        if (v && *v && kn_label_value(v)) {
            F(f, "spec.taints[%zu].value", i);
            rc |= kv_invalid_s(err, f, v, kn_label_value(v));
        }
    }
    if (old) {
        const char *oc = kj_str(old, "spec.podCIDR");
        if (oc && *oc && strcmp(oc, kj_str_or(spec, "podCIDR", "")) != 0)
            rc |= kv_forbidden(err, "spec.podCIDRs",
                               "node updates may not change podCIDR except "
                               "from \"\" to valid");
    }
    return rc ? -1 : 0;
}

static const struct bsn_column node_columns[] = {
    KC_NAME,
    {"Status", "string", "", "The status of the node", 0},
    {"Roles", "string", "", "The roles of the node", 0},
    KC_AGE,
    {"Version", "string", "", "Kubelet Version reported by the node.", 0},
    {"Internal-IP", "string", "", "List of addresses reachable to the node.", 1},
    {"External-IP", "string", "", "List of addresses reachable to the node.", 1},
    {"OS-Image", "string", "",
     "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1},
    {"Kernel-Version", "string", "",
     "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1},
    {"Container-Runtime", "string", "",
     "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
     "containerd://1.4.2).",
     1},
    KC_END,
};

static int
cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
node_row(const json_t *obj, json_t *cells)
{
    char status[128] = "", roles[512] = "", buf[128];
    const json_t *st = json_object_get(obj, "status");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(st, "conditions"), i, c)
    {
        if (strcmp(kj_str_or(c, "type", ""), "Ready") != 0)
            continue;
        F(status, "%s", strcmp(kj_str_or(c, "status", ""), "True") == 0 ? "Ready" : "NotReady");
    }
    if (!*status)
        F(status, "Unknown");
    if (kj_true(obj, "spec.unschedulable")) {
        size_t l = strlen(status);
        snprintf(status + l, sizeof(status) - l, ",SchedulingDisabled");
    }
    const char *rl[64];
    size_t nr = 0;
    const char *k;
    json_t *v;
    json_object_foreach(kj_get(obj, "metadata.labels"), k, v)
    {
        const char *role = NULL;
        if (strncmp(k, "node-role.kubernetes.io/", 24) == 0 && k[24])
            role = k + 24;
        else if (strcmp(k, "kubernetes.io/role") == 0 && json_string_value(v) &&
                 *json_string_value(v))
            role = json_string_value(v);
        if (!role || nr >= BSN_ARRAY_LEN(rl))
            continue;
        bool dup = false;
        for (size_t j = 0; j < nr; j++)
            if (strcmp(rl[j], role) == 0)
                dup = true;
        if (!dup)
            rl[nr++] = role;
    }
    qsort(rl, nr, sizeof(rl[0]), cmp_cstr);
    size_t off = 0;
    for (i = 0; i < nr && off < sizeof(roles); i++)
        off += (size_t)snprintf(roles + off, sizeof(roles) - off, "%s%s", i ? "," : "", rl[i]);
    if (!nr)
        F(roles, "<none>");
    kc_name(cells, obj);
    kc_str(cells, status);
    kc_str(cells, roles);
    kc_age(cells, obj);
    kc_str(cells, kj_str_or(st, "nodeInfo.kubeletVersion", ""));
    static const char *const types[] = {"InternalIP", "ExternalIP"};
    for (int t = 0; t < 2; t++) {
        F(buf, "<none>");
        json_array_foreach(json_object_get(st, "addresses"), i, c)
        {
            if (strcmp(kj_str_or(c, "type", ""), types[t]) == 0) {
                F(buf, "%s", kj_str_or(c, "address", ""));
                break;
            }
        }
        kc_str(cells, buf);
    }
    static const char *const info[] = {"nodeInfo.osImage", "nodeInfo.kernelVersion",
                                       "nodeInfo.containerRuntimeVersion"};
    for (int t = 0; t < 3; t++) {
        const char *s = kj_str(st, info[t]);
        kc_str(cells, s && *s ? s : "<unknown>");
    }
}

static const char *
node_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    if (strcmp(field, "spec.unschedulable") != 0)
        return NULL;
    snprintf(buf, bufsz, "%s", kj_true(obj, field) ? "true" : "false");
    return buf;
}

const struct bsn_strategy bsn_strategy_node = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = node_defaults,
    .validate = node_validate,
    .prepare_update = prep_keep_status,
    .prepare_status_update = prep_keep_spec,
    .columns = node_columns,
    .row = node_row,
    .field_value = node_field_value,
};

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
                off += (size_t)snprintf(out + off, n - off, "%s%s", off ? "," : "", tbl[t].abbr);
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
    if (old)
        rc |= kv_immutable(err, obj, old, "spec.volumeMode");
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
    .prepare_update = prep_keep_status,
    .prepare_status_update = prep_keep_spec,
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
    .prepare_update = prep_keep_status,
    .prepare_status_update = prep_keep_spec,
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
    .prepare_create = prep_strip,
    .prepare_update = prep_keep_status,
    .prepare_status_update = prep_keep_spec,
    .columns = resourcequota_columns,
    .row = resourcequota_row,
};
