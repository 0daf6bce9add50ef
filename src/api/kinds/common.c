/*
 * common.c - helpers shared by every kind strategy: JSON access by path, validation causes in
 * upstream's wording, name/quantity/selector checks, Table cells and the Age column.
 *
 * Names and quantities go through codec/names.h and codec/quantity.h (upstream's messages and
 * exact quantity arithmetic); label selectors on metav1.LabelSelector JSON are handled here.
 */
#include "api/kinds/kinds.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/names.h"
#include "codec/quantity.h"
#include "codec/selector.h"

/* ---- JSON access ---- */

json_t *
kj_get(const json_t *o, const char *path)
{
    char key[128];
    const json_t *cur = o;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof(key) || !json_is_object(cur))
            return NULL;
        memcpy(key, path, len);
        key[len] = '\0';
        cur = json_object_get(cur, key);
        path += len + (dot ? 1 : 0);
    }
    return (json_t *)cur;
}

const char *
kj_str(const json_t *o, const char *path)
{
    return json_string_value(kj_get(o, path));
}

const char *
kj_str_or(const json_t *o, const char *path, const char *dflt)
{
    const char *s = kj_str(o, path);
    return s ? s : dflt;
}

json_int_t
kj_int(const json_t *o, const char *path, json_int_t dflt)
{
    json_t *v = kj_get(o, path);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

bool
kj_true(const json_t *o, const char *path)
{
    return json_is_true(kj_get(o, path));
}

json_t *
kj_obj(json_t *o, const char *key)
{
    if (!json_is_object(o))
        return NULL; /* (setting a member on a non-object would free the new value) */
    json_t *v = json_object_get(o, key);
    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(o, key, v);
    }
    return v;
}

static bool
missing(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return !v || json_is_null(v);
}

void
kj_def_str(json_t *o, const char *key, const char *v)
{
    if (json_is_object(o) && missing(o, key))
        json_object_set_new(o, key, json_string(v));
}

void
kj_def_int(json_t *o, const char *key, json_int_t v)
{
    if (json_is_object(o) && missing(o, key))
        json_object_set_new(o, key, json_integer(v));
}

void
kj_def_bool(json_t *o, const char *key, bool v)
{
    if (json_is_object(o) && missing(o, key))
        json_object_set_new(o, key, json_boolean(v));
}

size_t
kj_len(const json_t *o, const char *path)
{
    return json_array_size(kj_get(o, path));
}

/* ---- validation causes ---- */

int
bsn_invalid(struct bsn_err *err, const char *reason, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bsn_err_add_cause(err, reason, field, "%s", msg);
    return -1;
}

int
kv_required(struct bsn_err *err, const char *field, const char *detail)
{
    if (detail && *detail)
        return bsn_invalid(err, "FieldValueRequired", field, "Required value: %s", detail);
    return bsn_invalid(err, "FieldValueRequired", field, "Required value");
}

int
kv_forbidden(struct bsn_err *err, const char *field, const char *detail)
{
    if (detail && *detail)
        return bsn_invalid(err, "FieldValueForbidden", field, "Forbidden: %s", detail);
    return bsn_invalid(err, "FieldValueForbidden", field, "Forbidden");
}

int
kv_invalid_raw(struct bsn_err *err, const char *field, const char *value, const char *detail)
{
    if (detail && *detail)
        return bsn_invalid(err, "FieldValueInvalid", field, "Invalid value: %s: %s", value, detail);
    return bsn_invalid(err, "FieldValueInvalid", field, "Invalid value: %s", value);
}

/* Go's %q for the common printable case. */
static void
quote(const char *s, char *out, size_t n)
{
    size_t o = 0;
    if (n < 3)
        return;
    out[o++] = '"';
    for (; *s && o + 3 < n; s++) {
        if (*s == '"' || *s == '\\')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o++] = '"';
    out[o] = '\0';
}

int
kv_invalid_s(struct bsn_err *err, const char *field, const char *value, const char *detail)
{
    char q[200];
    quote(value ? value : "", q, sizeof(q));
    return kv_invalid_raw(err, field, q, detail);
}

int
kv_invalid_i(struct bsn_err *err, const char *field, json_int_t value, const char *detail)
{
    char v[32];
    snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT, value);
    return kv_invalid_raw(err, field, v, detail);
}

int
kv_invalid_j(struct bsn_err *err, const char *field, const json_t *value, const char *detail)
{
    if (json_is_string(value))
        return kv_invalid_s(err, field, json_string_value(value), detail);
    if (json_is_integer(value))
        return kv_invalid_i(err, field, json_integer_value(value), detail);
    char *txt = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = kv_invalid_raw(err, field, txt ? txt : "null", detail);
    free(txt);
    return rc;
}

int
kv_unsupported(struct bsn_err *err, const char *field, const char *value,
               const char *const *supported)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    char q[128];
    quote(value ? value : "", q, sizeof(q));
    bsn_buf_printf(&b, "Unsupported value: %s", q);
    if (supported && supported[0]) {
        bsn_buf_puts(&b, ": supported values: ");
        for (int i = 0; supported[i]; i++)
            bsn_buf_printf(&b, "%s\"%s\"", i ? ", " : "", supported[i]);
    }
    bsn_invalid(err, "FieldValueNotSupported", field, "%s", b.data);
    bsn_buf_fini(&b);
    return -1;
}

int
kv_duplicate(struct bsn_err *err, const char *field, const char *value)
{
    char q[128];
    quote(value ? value : "", q, sizeof(q));
    return bsn_invalid(err, "FieldValueDuplicate", field, "Duplicate value: %s", q);
}

int
kv_toolong(struct bsn_err *err, const char *field, size_t max)
{
    return bsn_invalid(err, "FieldValueTooLong", field, "Too long: may not be more than %zu bytes",
                       max);
}

int
kv_enum(struct bsn_err *err, const json_t *o, const char *key, const char *field,
        const char *const *supported, bool required)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
        return required ? kv_required(err, field, NULL) : 0;
    const char *s = json_string_value(v);
    if (s)
        for (int i = 0; supported[i]; i++)
            if (strcmp(s, supported[i]) == 0)
                return 0;
    return kv_unsupported(err, field, s ? s : "", supported);
}

int
kv_min(struct bsn_err *err, const json_t *o, const char *key, const char *field, json_int_t min)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return kv_invalid_j(err, field, v, "must be an integer");
    if (json_integer_value(v) < min) {
        char d[64];
        snprintf(d, sizeof(d), "must be greater than or equal to %" JSON_INTEGER_FORMAT, min);
        return kv_invalid_i(err, field, json_integer_value(v), d);
    }
    return 0;
}

int
kv_nonneg(struct bsn_err *err, const json_t *o, const char *key, const char *field)
{
    return kv_min(err, o, key, field, 0);
}

int
kv_immutable(struct bsn_err *err, const json_t *obj, const json_t *old, const char *path)
{
    if (!old)
        return 0;
    json_t *a = kj_get(obj, path), *b = kj_get(old, path);
    if (json_is_null(a))
        a = NULL;
    if (json_is_null(b))
        b = NULL;
    if ((!a && !b) || (a && b && json_equal(a, b)))
        return 0;
    return bsn_invalid(err, "FieldValueInvalid", path, "Invalid value: %s: field is immutable",
                       a && json_is_string(a) ? json_string_value(a) : "<object>");
}

/* ---- names (codec/names.h; the first of upstream's messages) ---- */

static __thread struct bsn_name_msgs name_msgs;

#define KN_WRAP(fn, codec)                                              \
    const char *fn(const char *s)                                       \
    {                                                                   \
        memset(&name_msgs, 0, sizeof(name_msgs));                       \
        return codec(s ? s : "", &name_msgs) ? name_msgs.msg[0] : NULL; \
    }

KN_WRAP(kn_dns1123_label, bsn_validate_dns1123_label)
KN_WRAP(kn_dns1123_subdomain, bsn_validate_dns1123_subdomain)
KN_WRAP(kn_dns1035_label, bsn_validate_dns1035_label)
KN_WRAP(kn_port_name, bsn_validate_port_name)
KN_WRAP(kn_qualified_name, bsn_validate_qualified_name)
KN_WRAP(kn_label_value, bsn_validate_label_value)
KN_WRAP(kn_config_key, bsn_validate_config_map_key)

int
kn_check(struct bsn_err *err, const char *field, const char *name, const char *(*fn)(const char *))
{
    if (!name || !*name)
        return kv_required(err, field, NULL);
    const char *msg = fn(name);
    return msg ? kv_invalid_s(err, field, name, msg) : 0;
}

/* ---- quantities (codec/quantity.h) ---- */

int
kq_parse_str(const char *s, double *out)
{
    struct bsn_quantity q;
    struct bsn_err e;
    bsn_err_clear(&e);
    if (!s || bsn_quantity_parse(s, &q, &e) < 0)
        return -1;
    *out = (double)q.nanos / 1e9;
    return 0;
}

int
kq_parse(const json_t *v, double *out)
{
    struct bsn_quantity q;
    struct bsn_err e;
    bsn_err_clear(&e);
    if (!v || bsn_quantity_from_json(v, &q, &e) < 0)
        return -1;
    *out = (double)q.nanos / 1e9;
    return 0;
}

int
kq_cmp(const json_t *a, const json_t *b, int *out)
{
    struct bsn_quantity qa, qb;
    struct bsn_err e;
    bsn_err_clear(&e);
    if (!a || !b || bsn_quantity_from_json(a, &qa, &e) < 0 ||
        bsn_quantity_from_json(b, &qb, &e) < 0)
        return -1;
    *out = bsn_quantity_cmp(&qa, &qb);
    return 0;
}

void
kq_canonicalize(json_t *map)
{
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v)
    {
        struct bsn_quantity q;
        struct bsn_err e;
        bsn_err_clear(&e);
        if (bsn_quantity_from_json(v, &q, &e) < 0)
            continue; /* validation reports it */
        /* SetDefaults_ResourceList: rounded up to milli precision */
        __int128 milli = 1000000, r = q.nanos % milli;
        if (r > 0)
            q.nanos += milli - r;
        else if (r < 0)
            q.nanos -= milli + r;
        char buf[BSN_QUANTITY_STR_MAX];
        bsn_quantity_format(&q, buf, sizeof(buf));
        if (!json_is_string(v) || strcmp(json_string_value(v), buf) != 0)
            json_object_set_new(map, k, json_string(buf));
    }
}

void
kq_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, n, "%g", json_real_value(v));
    else
        snprintf(out, n, "%s", "");
}

/* ---- label selectors (matching and printing through codec/selector.h) ---- */

void
ks_selector_string(const json_t *sel, char *out, size_t n)
{
    struct bsn_selector s;
    struct bsn_err e;
    bsn_err_clear(&e);
    out[0] = '\0';
    if (!sel || json_is_null(sel))
        return;
    if (bsn_selector_from_json(sel, &s, &e) < 0) {
        snprintf(out, n, "<invalid>");
        return;
    }
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_selector_string(&s, &b);
    snprintf(out, n, "%s", b.data ? b.data : "");
    bsn_buf_fini(&b);
    bsn_selector_fini(&s);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t
sorted_keys(const json_t *map, const char **keys, size_t max)
{
    size_t nk = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v)
    {
        if (nk < max)
            keys[nk++] = k;
    }
    qsort(keys, nk, sizeof(keys[0]), cmp_str);
    return nk;
}

void
ks_labels_string(const json_t *map, char *out, size_t n)
{
    const char *keys[128];
    size_t nk = sorted_keys(map, keys, BSN_ARRAY_LEN(keys)), off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < nk && off < n; i++) {
        const char *v = json_string_value(json_object_get(map, keys[i]));
        kc_appendf(out, n, &off, "%s%s=%s", i ? "," : "", keys[i], v ? v : "");
    }
    if (nk == 0)
        snprintf(out, n, "<none>");
}

void
ks_go_map(const json_t *map, char *out, size_t n)
{
    const char *keys[128];
    size_t nk = sorted_keys(map, keys, BSN_ARRAY_LEN(keys));
    size_t off = 0;
    kc_appendf(out, n, &off, "map[string]string{");
    for (size_t i = 0; i < nk && off < n; i++) {
        const char *v = json_string_value(json_object_get(map, keys[i]));
        kc_appendf(out, n, &off, "%s\"%s\":\"%s\"", i ? ", " : "", keys[i], v ? v : "");
    }
    if (off < n)
        kc_appendf(out, n, &off, "}");
    if (nk == 0)
        snprintf(out, n, "map[string]string(nil)");
}

bool
ks_map_matches(const json_t *sel, const json_t *labels)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sel, k, v)
    {
        json_t *l = json_object_get(labels, k);
        if (!l || !json_equal(l, v))
            return false;
    }
    return true;
}

bool
ks_selector_matches(const json_t *sel, const json_t *labels)
{
    struct bsn_selector s;
    struct bsn_err e;
    bsn_err_clear(&e);
    if (bsn_selector_from_json(sel, &s, &e) < 0)
        return false;
    bool ok = bsn_selector_match(&s, json_is_object(labels) ? labels : NULL);
    bsn_selector_fini(&s);
    return ok;
}

int
ks_validate_labels(struct bsn_err *err, const json_t *labels, const char *field)
{
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
    {
        const char *msg = kn_qualified_name(k);
        if (msg)
            rc = kv_invalid_s(err, field, k, msg);
        if (!json_is_string(v)) {
            rc = kv_invalid_j(err, field, v, "label values must be strings");
            continue;
        }
        if ((msg = kn_label_value(json_string_value(v))))
            rc = kv_invalid_s(err, field, json_string_value(v), msg);
    }
    return rc;
}

int
ks_validate_selector(struct bsn_err *err, const json_t *sel, const char *field)
{
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
    char f[200];
    int rc = 0;
    if (!sel || json_is_null(sel))
        return 0;
    snprintf(f, sizeof(f), "%s.matchLabels", field);
    rc |= ks_validate_labels(err, json_object_get(sel, "matchLabels"), f);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
    {
        snprintf(f, sizeof(f), "%s.matchExpressions[%zu].operator", field, i);
        rc |= kv_enum(err, e, "operator", f, ops, true);
        snprintf(f, sizeof(f), "%s.matchExpressions[%zu].key", field, i);
        rc |= kn_check(err, f, kj_str(e, "key"), kn_qualified_name);
        const char *op = kj_str(e, "operator");
        size_t nv = kj_len(e, "values");
        snprintf(f, sizeof(f), "%s.matchExpressions[%zu].values", field, i);
        if (op && (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) && nv == 0)
            rc |= kv_required(err, f, "must be specified when `operator` is 'In' or 'NotIn'");
        if (op && (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) && nv > 0)
            rc |= kv_forbidden(err, f,
                               "may not be specified when `operator` is 'Exists' or "
                               "'DoesNotExist'");
    }
    return rc ? -1 : 0;
}

/* ---- Table cells and ages ---- */

void
kc_appendf(char *buf, size_t n, size_t *off, const char *fmt, ...)
{
    if (n == 0)
        return;
    if (*off >= n - 1) {
        *off = n - 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf + *off, n - *off, fmt, ap);
    va_end(ap);
    if (r > 0)
        *off += (size_t)r;
    if (*off > n - 1)
        *off = n - 1; /* truncated: stays NUL-terminated, later appends are no-ops */
}

void
kc_str(json_t *cells, const char *s)
{
    json_array_append_new(cells, json_string(s ? s : ""));
}

void
kc_int(json_t *cells, json_int_t v)
{
    json_array_append_new(cells, json_integer(v));
}

void
kc_bool(json_t *cells, bool v)
{
    json_array_append_new(cells, json_boolean(v));
}

void
kc_human_duration(int64_t seconds, char *out, size_t n)
{
    if (seconds < -1) {
        snprintf(out, n, "<invalid>");
        return;
    }
    if (seconds < 0)
        seconds = 0;
    if (seconds < 120) {
        snprintf(out, n, "%llds", (long long)seconds);
        return;
    }
    long long minutes = seconds / 60;
    if (minutes < 10) {
        long long s = seconds % 60;
        if (s == 0)
            snprintf(out, n, "%lldm", minutes);
        else
            snprintf(out, n, "%lldm%llds", minutes, s);
        return;
    }
    if (minutes < 60 * 3) {
        snprintf(out, n, "%lldm", minutes);
        return;
    }
    long long hours = seconds / 3600;
    if (hours < 8) {
        long long m = minutes % 60;
        if (m == 0)
            snprintf(out, n, "%lldh", hours);
        else
            snprintf(out, n, "%lldh%lldm", hours, m);
    } else if (hours < 48) {
        snprintf(out, n, "%lldh", hours);
    } else if (hours < 24 * 8) {
        long long h = hours % 24;
        if (h == 0)
            snprintf(out, n, "%lldd", hours / 24);
        else
            snprintf(out, n, "%lldd%lldh", hours / 24, h);
    } else if (hours < 24 * 365 * 2) {
        snprintf(out, n, "%lldd", hours / 24);
    } else if (hours < 24 * 365 * 8) {
        long long dy = (hours / 24) % 365;
        if (dy == 0)
            snprintf(out, n, "%lldy", hours / 24 / 365);
        else
            snprintf(out, n, "%lldy%lldd", hours / 24 / 365, dy);
    } else {
        snprintf(out, n, "%lldy", hours / 24 / 365);
    }
}

void
bsn_print_age(const char *rfc3339, char *out, size_t n)
{
    time_t t;
    if (!rfc3339 || !*rfc3339 || bsn_time_parse(rfc3339, &t) < 0) {
        snprintf(out, n, "<unknown>");
        return;
    }
    kc_human_duration((int64_t)(bsn_time_now() - t), out, n);
}

void
kc_since(const char *ts, char *out, size_t n)
{
    bsn_print_age(ts, out, n);
}

void
kc_age(json_t *cells, const json_t *obj)
{
    char age[32];
    bsn_print_age(kj_str(obj, "metadata.creationTimestamp"), age, sizeof(age));
    kc_str(cells, age);
}

void
kc_name(json_t *cells, const json_t *obj)
{
    kc_str(cells, kj_str_or(obj, "metadata.name", ""));
}

void
kc_containers(const json_t *podspec, bool images, char *out, size_t n)
{
    size_t i, off = 0;
    json_t *c;
    out[0] = '\0';
    json_array_foreach(json_object_get(podspec, "containers"), i, c)
    {
        if (off >= n)
            break;
        kc_appendf(out, n, &off, "%s%s", i ? "," : "", kj_str_or(c, images ? "image" : "name", ""));
    }
}

/* ---- shared hooks ---- */

void
kh_strip_status(json_t *obj)
{
    json_object_del(obj, "status");
}

void
kh_keep_status(json_t *obj, const json_t *old)
{
    json_t *st = json_object_get(old, "status");
    if (st)
        json_object_set_new(obj, "status", json_deep_copy(st));
    else
        json_object_del(obj, "status");
}

void
kh_keep_spec(json_t *obj, const json_t *old)
{
    /* Everything except metadata and status comes from old (spec, data, ...). */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, k, v)
    {
        if (strcmp(k, "metadata") && strcmp(k, "status") && strcmp(k, "apiVersion") &&
            strcmp(k, "kind"))
            json_object_del(obj, k);
    }
    json_object_foreach((json_t *)old, k, v)
    {
        if (strcmp(k, "metadata") && strcmp(k, "status") && strcmp(k, "apiVersion") &&
            strcmp(k, "kind"))
            json_object_set_new(obj, k, json_deep_copy(v));
    }
}

bool
kn_ip(const char *s)
{
    unsigned char buf[16];
    return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

bool
kn_cidr(const char *s)
{
    char ip[64];
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return false;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    unsigned char b[16];
    if (*end || end == slash + 1)
        return false;
    if (inet_pton(AF_INET, ip, b) == 1)
        return bits >= 0 && bits <= 32;
    return inet_pton(AF_INET6, ip, b) == 1 && bits >= 0 && bits <= 128;
}
