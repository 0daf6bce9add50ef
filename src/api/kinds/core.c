/*
 * core.c - core/v1 kinds without a pod template: Namespace, ConfigMap, Secret, ServiceAccount
 * and Node (PersistentVolume(Claim), LimitRange and ResourceQuota are in resources.c).
 */
#include "api/kinds/kinds.h"
#include "base/base64.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/time.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

#define MAX_DATA_SIZE (1024 * 1024) /* ConfigMap / Secret total size (core.MaxSecretSize) */

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
    .prepare_status_update = kh_keep_spec,
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
        rc |= kv_toolong(err, "", MAX_DATA_SIZE);
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
            struct bsn_buf enc;
            bsn_buf_init(&enc);
            bsn_base64_encode((const uint8_t *)json_string_value(v), json_string_length(v), &enc);
            json_object_set_new(data, k, json_stringn(enc.data ? enc.data : "", enc.len));
            bsn_buf_fini(&enc);
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

/* Decodes standard base64 into a new NUL-terminated buffer (NULL if invalid). */
static char *
b64_decode(const char *s, size_t *outlen)
{
    long n = b64_decoded_len(s);
    if (n < 0)
        return NULL;
    char *out = bsn_malloc((size_t)n + 1);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = s; *p && *p != '='; p++) {
        acc = (acc << 6) | (unsigned)b64val((unsigned char)*p);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* The docker config secrets must hold JSON (upstream unmarshals it). */
static int
require_json(struct bsn_err *err, const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(kj_get(obj, "data"), key));
    size_t len;
    char *raw = v ? b64_decode(v, &len) : NULL;
    if (!raw)
        return 0; /* missing or bad base64 is reported elsewhere */
    json_error_t je;
    json_t *doc = json_loadb(raw, len, JSON_DECODE_ANY, &je);
    free(raw);
    if (doc) {
        json_decref(doc);
        return 0;
    }
    char f[128];
    F(f, "data[%s]", key);
    return kv_invalid_raw(err, f, "\"<secret contents redacted>\"", je.text);
}

static int
secret_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const keys[] = {"data", NULL};
    size_t total = 0;
    int rc = validate_data_map(err, json_object_get(obj, "data"), "data", true, &total);
    if (total > MAX_DATA_SIZE)
        rc |= kv_toolong(err, "data", MAX_DATA_SIZE);
    const char *type = kj_str_or(obj, "type", "");
    if (strcmp(type, "kubernetes.io/service-account-token") == 0) {
        if (!*kj_str_or(json_object_get(kj_get(obj, "metadata.annotations"),
                                        "kubernetes.io/service-account.name"),
                        "", ""))
            rc |=
                kv_required(err, "metadata.annotations[kubernetes.io/service-account.name]", NULL);
    } else if (strcmp(type, "kubernetes.io/dockercfg") == 0) {
        rc |= require_key(err, obj, ".dockercfg") ?: require_json(err, obj, ".dockercfg");
    } else if (strcmp(type, "kubernetes.io/dockerconfigjson") == 0) {
        rc |= require_key(err, obj, ".dockerconfigjson")
                  ?: require_json(err, obj, ".dockerconfigjson");
    } else if (strcmp(type, "kubernetes.io/ssh-auth") == 0) {
        rc |= require_key(err, obj, "ssh-privatekey");
    } else if (strcmp(type, "kubernetes.io/tls") == 0) {
        rc |= require_key(err, obj, "tls.key");
        rc |= require_key(err, obj, "tls.crt");
    } else if (strcmp(type, "kubernetes.io/basic-auth") == 0) {
        if (!json_object_get(kj_get(obj, "data"), "username") &&
            !json_object_get(kj_get(obj, "data"), "password")) {
            rc |= kv_required(err, "data[username]", NULL);
            rc |= kv_required(err, "data[password]", NULL);
        }
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

static int
node_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    static const char *const effects[] = {"NoExecute", "NoSchedule", "PreferNoSchedule", NULL};
    char f[160];
    int rc = 0;
    const json_t *spec = json_object_get(obj, "spec");
    const char *cidr = kj_str(spec, "podCIDR");
    if (cidr && *cidr && !kn_cidr(cidr))
        rc |= kv_invalid_s(err, "spec.podCIDR", cidr,
                           "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(spec, "podCIDRs"), i, t)
    {
        F(f, "spec.podCIDRs[%zu]", i);
        if (!json_string_value(t) || !kn_cidr(json_string_value(t)))
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
        kc_appendf(roles, sizeof(roles), &off, "%s%s", i ? "," : "", rl[i]);
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
    .prepare_update = kh_keep_status,
    .prepare_status_update = kh_keep_spec,
    .columns = node_columns,
    .row = node_row,
    .field_value = node_field_value,
};
