/*
 * encode.c - JSON -> Kubernetes protobuf, driven by the schema table.
 *
 * Mirrors Go's generated marshallers so the output matches a Go client byte for byte where
 * the schema knows the Go types: fields in field-number order, non-pointer fields always
 * written (zero values included), pointer fields only when set, map entries sorted by key.
 * Used by tests and by clients that only accept protobuf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "codec/util.h"
#include "proto/proto.h"
#include "proto/schema.h"
#include "proto/wire.h"

struct ectx {
    struct bsn_err *err;
    char path[512];
    size_t plen;
};

static int enc_msg(struct ectx *c, const struct bsn_pmsg *m, const json_t *obj, struct bsn_buf *out,
                   int depth);

static size_t
push(struct ectx *c, const char *name, long idx)
{
    size_t old = c->plen;
    int n;
    if (idx >= 0)
        n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%ld]", idx);
    else
        n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "",
                     name);
    if (n > 0)
        c->plen = BSN_MIN(c->plen + (size_t)n, sizeof(c->path) - 1);
    return old;
}

static void
pop(struct ectx *c, size_t old)
{
    c->plen = old;
    c->path[old] = 0;
}

static int
bad(struct ectx *c, const char *what)
{
    return bsn_err_set(c->err, 400, "BadRequest", "protobuf encode: %s: %s",
                       c->plen ? c->path : "(root)", what);
}

static int
get_int(struct ectx *c, const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v))
        *out = (int64_t)json_real_value(v);
    else
        return bad(c, "expected an integer");
    if (*out < lo || *out > hi)
        return bad(c, "integer out of range");
    return 0;
}

/* Parses RFC 3339 with an optional fraction; returns seconds and nanoseconds. */
static int
parse_time(const char *s, int64_t *secs, int32_t *nanos)
{
    time_t t;
    if (bsn_time_parse(s, &t) < 0)
        return -1;
    *secs = (int64_t)t;
    *nanos = 0;
    const char *dot = strchr(s, '.');
    if (dot) {
        int32_t ns = 0;
        int digits = 0;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 9)
                ns = ns * 10 + (*p - '0');
        for (; digits < 9; digits++)
            ns *= 10;
        *nanos = ns;
    }
    return 0;
}

/* Writes field f with value v (NULL or JSON null: the Go zero value). */
static int
enc_value(struct ectx *c, const struct bsn_pfield *f, const json_t *v, struct bsn_buf *out,
          int depth)
{
    int64_t x;
    struct bsn_buf sub;
    int rc = 0;
    if (json_is_null(v))
        v = NULL;
    switch (f->type) {
    case BSN_PT_STRING:
        if (v && !json_is_string(v))
            return bad(c, "expected a string");
        bsn_pwr_lenfield(out, f->num, v ? json_string_value(v) : "", v ? json_string_length(v) : 0);
        return 0;
    case BSN_PT_BYTES:
        if (v && !json_is_string(v))
            return bad(c, "expected a base64 string");
        bsn_buf_init(&sub);
        if (v && bsn_base64_decode(json_string_value(v), json_string_length(v), &sub) < 0)
            rc = bad(c, "illegal base64 data");
        else
            bsn_pwr_lenfield(out, f->num, sub.data, sub.len);
        bsn_buf_fini(&sub);
        return rc;
    case BSN_PT_INT32:
        x = 0;
        if (v && get_int(c, v, INT32_MIN, INT32_MAX, &x) < 0)
            return -1;
        bsn_pwr_tag(out, f->num, BSN_WT_VARINT);
        bsn_pwr_varint(out, (uint64_t)x); /* negative int32 is sign-extended to 10 bytes */
        return 0;
    case BSN_PT_INT64:
        x = 0;
        if (v && get_int(c, v, INT64_MIN, INT64_MAX, &x) < 0)
            return -1;
        bsn_pwr_tag(out, f->num, BSN_WT_VARINT);
        bsn_pwr_varint(out, (uint64_t)x);
        return 0;
    case BSN_PT_BOOL:
        if (v && !json_is_boolean(v))
            return bad(c, "expected a boolean");
        bsn_pwr_tag(out, f->num, BSN_WT_VARINT);
        bsn_pwr_varint(out, v && json_is_true(v));
        return 0;
    case BSN_PT_DOUBLE: {
        if (v && !json_is_number(v))
            return bad(c, "expected a number");
        double d = v ? json_number_value(v) : 0;
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        bsn_pwr_tag(out, f->num, BSN_WT_I64);
        bsn_pwr_fixed64(out, bits);
        return 0;
    }
    default:
        break;
    }
    /* length-delimited wrapper or message: build the payload, then tag + length */
    bsn_buf_init(&sub);
    switch (f->type) {
    case BSN_PT_TIME:
    case BSN_PT_MTIME:
        if (v) {
            int64_t secs;
            int32_t nanos;
            if (!json_is_string(v) || parse_time(json_string_value(v), &secs, &nanos) < 0) {
                rc = bad(c, "expected an RFC 3339 time string");
                break;
            }
            if (f->type == BSN_PT_TIME)
                nanos = 0;
            else
                nanos = nanos / 1000 * 1000;
            bsn_pwr_tag(&sub, 1, BSN_WT_VARINT);
            bsn_pwr_varint(&sub, (uint64_t)secs);
            bsn_pwr_tag(&sub, 2, BSN_WT_VARINT);
            bsn_pwr_varint(&sub, (uint64_t)(int64_t)nanos);
        }
        break;
    case BSN_PT_QTY: {
        const char *s = "0";
        char buf[BSN_QUANTITY_STR_MAX];
        if (v && json_is_string(v)) {
            s = json_string_value(v);
        } else if (v) {
            struct bsn_quantity q;
            struct bsn_err qe;
            bsn_err_clear(&qe);
            if (bsn_quantity_from_json(v, &q, &qe) < 0) {
                rc = bad(c, "expected a quantity");
                break;
            }
            bsn_quantity_format(&q, buf, sizeof(buf));
            s = buf;
        }
        bsn_pwr_lenfield(&sub, 1, s, strlen(s));
        break;
    }
    case BSN_PT_INTSTR:
        if (v && json_is_string(v)) {
            bsn_pwr_tag(&sub, 1, BSN_WT_VARINT);
            bsn_pwr_varint(&sub, 1);
            bsn_pwr_tag(&sub, 2, BSN_WT_VARINT);
            bsn_pwr_varint(&sub, 0);
            bsn_pwr_lenfield(&sub, 3, json_string_value(v), json_string_length(v));
        } else {
            x = 0;
            if (v && get_int(c, v, INT32_MIN, INT32_MAX, &x) < 0) {
                rc = -1;
                break;
            }
            bsn_pwr_tag(&sub, 1, BSN_WT_VARINT);
            bsn_pwr_varint(&sub, 0);
            bsn_pwr_tag(&sub, 2, BSN_WT_VARINT);
            bsn_pwr_varint(&sub, (uint64_t)x);
            bsn_pwr_lenfield(&sub, 3, "", 0);
        }
        break;
    case BSN_PT_DUR: {
        int64_t ns = 0;
        struct bsn_err de;
        bsn_err_clear(&de);
        if (v && (!json_is_string(v) || bsn_duration_parse(json_string_value(v), &ns, &de) < 0)) {
            rc = bad(c, "expected a duration string");
            break;
        }
        bsn_pwr_tag(&sub, 1, BSN_WT_VARINT);
        bsn_pwr_varint(&sub, (uint64_t)ns);
        break;
    }
    case BSN_PT_RAW:
    case BSN_PT_FIELDS:
        if (v) {
            char *txt = bsn_json_dump(v);
            if (!txt) {
                rc = bad(c, "cannot serialize embedded JSON");
                break;
            }
            bsn_pwr_lenfield(&sub, 1, txt, strlen(txt));
            free(txt);
        }
        break;
    case BSN_PT_MSG:
        if (v && !json_is_object(v)) {
            rc = bad(c, "expected an object");
            break;
        }
        rc = enc_msg(c, f->msg, v, &sub, depth + 1);
        break;
    default:
        rc = bad(c, "internal: unknown field type");
        break;
    }
    if (rc == 0)
        bsn_pwr_lenfield(out, f->num, sub.data, sub.len);
    bsn_buf_fini(&sub);
    return rc;
}

struct mkey {
    const char *s;
    size_t n;
    json_t *v;
};

/* Go sorts map keys as byte strings. */
static int
cmp_keys(const void *a, const void *b)
{
    const struct mkey *x = a, *y = b;
    int c = memcmp(x->s, y->s, BSN_MIN(x->n, y->n));
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int
enc_map(struct ectx *c, const struct bsn_pfield *f, const json_t *v, struct bsn_buf *out, int depth)
{
    if (!json_is_object(v))
        return bad(c, "expected an object");
    size_t n = json_object_size(v), i = 0;
    if (!n)
        return 0;
    struct mkey *keys = bsn_calloc(n, sizeof(*keys));
    for (void *it = json_object_iter((json_t *)v); it && i < n;
         it = json_object_iter_next((json_t *)v, it), i++) {
        keys[i].s = json_object_iter_key(it);
        keys[i].n = json_object_iter_key_len(it); /* keys may contain NUL bytes */
        keys[i].v = json_object_iter_value(it);
    }
    n = i;
    qsort(keys, n, sizeof(*keys), cmp_keys);
    struct bsn_pfield vf = *f;
    vf.num = 2;
    vf.flags = 0;
    int rc = 0;
    struct bsn_buf entry;
    bsn_buf_init(&entry);
    for (i = 0; i < n && rc == 0; i++) {
        bsn_buf_reset(&entry);
        bsn_pwr_lenfield(&entry, 1, keys[i].s, keys[i].n);
        size_t old = push(c, keys[i].s, -1);
        rc = enc_value(c, &vf, keys[i].v, &entry, depth + 1);
        pop(c, old);
        if (rc == 0)
            bsn_pwr_lenfield(out, f->num, entry.data, entry.len);
    }
    bsn_buf_fini(&entry);
    free(keys);
    return rc;
}

static int
enc_msg(struct ectx *c, const struct bsn_pmsg *m, const json_t *obj, struct bsn_buf *out, int depth)
{
    if (depth > BSN_PROTO_MAX_DEPTH)
        return bad(c, "nesting too deep");
    for (uint32_t i = 0; i < m->nfields; i++) {
        const struct bsn_pfield *f = &m->fields[i];
        int rc = 0;
        if (f->flags & BSN_PF_INLINE) {
            /* an embedded struct takes its fields from the same JSON object */
            struct bsn_buf sub;
            bsn_buf_init(&sub);
            rc = enc_msg(c, f->msg, obj, &sub, depth + 1);
            if (rc == 0)
                bsn_pwr_lenfield(out, f->num, sub.data, sub.len);
            bsn_buf_fini(&sub);
            if (rc < 0)
                return -1;
            continue;
        }
        const json_t *v = obj ? json_object_get(obj, f->json) : NULL;
        size_t old = push(c, f->json, -1);
        if (f->flags & BSN_PF_MAP) {
            if (v && !json_is_null(v))
                rc = enc_map(c, f, v, out, depth);
        } else if (f->flags & BSN_PF_REPEATED) {
            if (v && !json_is_null(v)) {
                if (!json_is_array(v)) {
                    rc = bad(c, "expected an array");
                } else {
                    struct bsn_pfield ef = *f;
                    ef.flags = 0;
                    for (size_t j = 0; j < json_array_size(v) && rc == 0; j++) {
                        size_t o2 = push(c, NULL, (long)j);
                        rc = enc_value(c, &ef, json_array_get(v, j), out, depth);
                        pop(c, o2);
                    }
                }
            }
        } else if (v && !json_is_null(v)) {
            rc = enc_value(c, f, v, out, depth);
        } else if (!(f->flags & BSN_PF_PTR) && f->type != BSN_PT_BYTES) {
            rc = enc_value(c, f, NULL, out, depth); /* Go writes non-pointer zero values */
        }
        pop(c, old);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int
bsn_proto_encode(const json_t *obj, struct bsn_buf *out, struct bsn_err *err)
{
    struct ectx c = {.err = err};
    if (!json_is_object(obj))
        return bsn_err_set(err, 400, "BadRequest", "protobuf encode: expected an object");
    const char *apiv = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const struct bsn_pmsg *m = bsn_pschema_kind(apiv, kind);
    if (!m)
        return bsn_err_set(err, 415, "UnsupportedMediaType",
                           "protobuf encode: no protobuf schema for %s, Kind=%s",
                           apiv ? apiv : "(no apiVersion)", kind ? kind : "(no kind)");
    struct bsn_buf raw, tm, env;
    bsn_buf_init(&raw);
    if (enc_msg(&c, m, obj, &raw, 0) < 0) {
        bsn_buf_fini(&raw);
        return -1;
    }
    bsn_buf_init(&tm);
    bsn_pwr_lenfield(&tm, 1, apiv, strlen(apiv));
    bsn_pwr_lenfield(&tm, 2, kind, strlen(kind));
    bsn_buf_init(&env);
    bsn_pwr_lenfield(&env, 1, tm.data, tm.len);
    bsn_pwr_lenfield(&env, 2, raw.data, raw.len);
    bsn_pwr_lenfield(&env, 3, "", 0); /* contentEncoding */
    bsn_pwr_lenfield(&env, 4, "", 0); /* contentType */
    bsn_buf_append(out, BSN_PROTO_MAGIC, BSN_PROTO_MAGIC_LEN);
    bsn_buf_append(out, env.data, env.len);
    bsn_buf_fini(&env);
    bsn_buf_fini(&tm);
    bsn_buf_fini(&raw);
    return 0;
}
