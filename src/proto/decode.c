/*
 * decode.c - Kubernetes protobuf -> JSON, driven by the schema table.
 *
 * The decoder walks the wire data once, building the JSON object as upstream's JSON encoder
 * would print the Go struct that upstream's protobuf decoder fills: fields are emitted when
 * present on the wire, except scalar fields whose JSON tag has omitempty (not pointers) and
 * whose value is the zero value - Go's generated marshallers always send those.
 *
 * Errors name the message and field ("protobuf: ObjectMeta.labels: truncated ..."). All reads
 * are bounds-checked; nesting and the number of JSON values produced are capped.
 */
#include <inttypes.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "codec/util.h"
#include "proto/proto.h"
#include "proto/schema.h"
#include "proto/wire.h"

struct dctx {
    struct bsn_err *err;
    size_t nodes;
    size_t max_nodes;
    int max_depth;
};

static json_t *decode_envelope(struct dctx *c, const uint8_t *p, size_t n, int depth);
static int decode_msg(struct dctx *c, const struct bsn_pmsg *m, const uint8_t *p, size_t n,
                      int depth, json_t *obj);

static int
bad(struct dctx *c, const struct bsn_pmsg *m, const struct bsn_pfield *f, const char *what)
{
    if (bsn_err_is_set(c->err))
        return -1;
    if (f)
        return bsn_err_set(c->err, 400, "BadRequest", "protobuf: %s.%s: %s", m->name, f->json,
                           what);
    return bsn_err_set(c->err, 400, "BadRequest", "protobuf: %s: %s", m ? m->name : "Unknown",
                       what);
}

/* Accounts for one JSON value produced; fails past the cap (a tiny input could otherwise
 * expand into millions of empty objects). */
static int
count(struct dctx *c)
{
    if (++c->nodes > c->max_nodes)
        return bsn_err_set(c->err, 413, "RequestEntityTooLarge",
                           "protobuf: more than %zu values in the object", c->max_nodes);
    return 0;
}

/* Go's time.Time formatting range: years 1..9999. */
#define MIN_SECONDS (-62135596800LL)
#define MAX_SECONDS 253402300799LL

static int
format_time(int64_t secs, int micros, char *out, size_t n)
{
    if (secs < MIN_SECONDS || secs > MAX_SECONDS)
        return -1;
    /* days since 1970-01-01 -> civil date (H. Hinnant's algorithm) */
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t mo = mp < 10 ? mp + 3 : mp - 9;
    if (mo <= 2)
        y++;
    int hh = (int)(rem / 3600), mm = (int)(rem / 60 % 60), ss = (int)(rem % 60);
    if (micros < 0)
        snprintf(out, n, "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02d:%02d:%02dZ", y, mo, d, hh,
                 mm, ss);
    else
        snprintf(out, n, "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02d:%02d:%02d.%06dZ", y, mo, d,
                 hh, mm, ss, micros);
    return 0;
}

/* Reads the single length-delimited or varint field `want` of a small wrapper message. */
struct wrap {
    uint64_t v[4];
    const uint8_t *s[4];
    size_t slen[4];
    uint8_t has[4];
};

static int
read_wrapper(const uint8_t *p, size_t n, struct wrap *w)
{
    memset(w, 0, sizeof(*w));
    if (!p)
        p = (const uint8_t *)""; /* absent payload: empty, and no NULL + 0 arithmetic */
    struct bsn_prd r = {p, p + n};
    while (r.p < r.end) {
        uint64_t key;
        if (bsn_prd_varint(&r, &key) < 0)
            return -1;
        uint64_t num = key >> 3;
        unsigned wt = key & 7;
        if (num >= 1 && num <= 3 && wt == BSN_WT_VARINT) {
            if (bsn_prd_varint(&r, &w->v[num]) < 0)
                return -1;
            w->has[num] = 1;
        } else if (num >= 1 && num <= 3 && wt == BSN_WT_LEN) {
            if (bsn_prd_bytes(&r, &w->s[num], &w->slen[num]) < 0)
                return -1;
            w->has[num] = 2;
        } else if (num == 0 || bsn_prd_skip(&r, wt) < 0) {
            return -1;
        }
    }
    return 0;
}

/* JSON for one length-delimited value of a wrapper type. */
static json_t *
decode_special(struct dctx *c, const struct bsn_pmsg *m, const struct bsn_pfield *f,
               const uint8_t *p, size_t n, int depth)
{
    struct wrap w;
    char buf[BSN_QUANTITY_STR_MAX + 64];
    if (read_wrapper(p, n, &w) < 0) {
        bad(c, m, f, "malformed embedded message");
        return NULL;
    }
    switch (f->type) {
    case BSN_PT_TIME:
    case BSN_PT_MTIME: {
        /* an empty message is Go's zero time, which marshals as null */
        if (n == 0)
            return json_null();
        if ((w.has[1] && w.has[1] != 1) || (w.has[2] && w.has[2] != 1)) {
            bad(c, m, f, "malformed timestamp");
            return NULL;
        }
        int64_t secs = (int64_t)w.v[1];
        int32_t nanos = (int32_t)w.v[2];
        if (nanos < 0 || nanos > 999999999) {
            bad(c, m, f, "timestamp nanos out of range");
            return NULL;
        }
        /* metav1.Time keeps whole seconds only (upstream drops nanos on unmarshal) */
        if (format_time(secs, f->type == BSN_PT_MTIME ? nanos / 1000 : -1, buf, sizeof(buf)) < 0) {
            bad(c, m, f, "timestamp out of range (years 1-9999)");
            return NULL;
        }
        return json_string(buf);
    }
    case BSN_PT_QTY: {
        if (!w.has[1])
            return json_string("0");
        if (w.has[1] != 2 || w.slen[1] >= 128) {
            bad(c, m, f, "malformed quantity");
            return NULL;
        }
        char s[128];
        memcpy(s, w.s[1], w.slen[1]);
        s[w.slen[1]] = 0;
        struct bsn_err qe;
        bsn_err_clear(&qe);
        char *canon = bsn_quantity_canonical(s, &qe);
        if (!canon) {
            snprintf(buf, sizeof(buf), "invalid quantity: %.200s", qe.msg);
            bad(c, m, f, buf);
            return NULL;
        }
        json_t *v = json_string(canon);
        free(canon);
        return v;
    }
    case BSN_PT_INTSTR:
        if ((w.has[1] && w.has[1] != 1) || (w.has[2] && w.has[2] != 1) ||
            (w.has[3] && w.has[3] != 2)) {
            bad(c, m, f, "malformed IntOrString");
            return NULL;
        }
        if (w.v[1] == 1)
            return bsn_pjson_string(w.s[3], w.slen[3]);
        return json_integer((int32_t)w.v[2]);
    case BSN_PT_DUR:
        if (w.has[1] && w.has[1] != 1) {
            bad(c, m, f, "malformed duration");
            return NULL;
        }
        bsn_duration_format((int64_t)w.v[1], buf, sizeof(buf));
        return json_string(buf);
    case BSN_PT_RAW:
    case BSN_PT_FIELDS: {
        if (w.has[1] && w.has[1] != 2) {
            bad(c, m, f, "malformed raw extension");
            return NULL;
        }
        if (w.slen[1] == 0)
            return json_null();
        if (f->type == BSN_PT_RAW && w.slen[1] >= BSN_PROTO_MAGIC_LEN &&
            !memcmp(w.s[1], BSN_PROTO_MAGIC, BSN_PROTO_MAGIC_LEN))
            return decode_envelope(c, w.s[1], w.slen[1], depth + 1);
        struct bsn_err je;
        bsn_err_clear(&je);
        json_t *v = bsn_json_parse((const char *)w.s[1], w.slen[1], &je);
        if (!v) {
            snprintf(buf, sizeof(buf), "embedded JSON: %.200s", je.msg);
            bad(c, m, f, buf);
        }
        return v;
    }
    default:
        bad(c, m, f, "internal: not a wrapper type");
        return NULL;
    }
}

static bool
is_numeric(uint8_t t)
{
    return t == BSN_PT_INT32 || t == BSN_PT_INT64 || t == BSN_PT_BOOL || t == BSN_PT_DOUBLE;
}

static unsigned
wire_type_of(uint8_t t)
{
    switch (t) {
    case BSN_PT_INT32:
    case BSN_PT_INT64:
    case BSN_PT_BOOL:
        return BSN_WT_VARINT;
    case BSN_PT_DOUBLE:
        return BSN_WT_I64;
    default:
        return BSN_WT_LEN;
    }
}

static json_t *
scalar_json(uint8_t t, uint64_t v)
{
    switch (t) {
    case BSN_PT_INT32:
        return json_integer((int32_t)v);
    case BSN_PT_INT64:
        return json_integer((json_int_t)(int64_t)v);
    case BSN_PT_BOOL:
        return json_boolean(v != 0);
    default: {
        double d;
        memcpy(&d, &v, sizeof(d));
        return json_real(d);
    }
    }
}

/* Moves obj's members that belong to m (inline members included) into dst, in m's
 * declaration order. */
static void
move_in_order(const struct bsn_pmsg *m, json_t *obj, json_t *dst)
{
    for (uint32_t i = 0; i < m->nfields; i++) {
        const struct bsn_pfield *f = &m->fields[m->order[i]];
        if (f->flags & BSN_PF_INLINE) {
            move_in_order(f->msg, obj, dst);
            continue;
        }
        json_t *v = json_object_get(obj, f->json);
        if (v)
            json_object_set(dst, f->json, v);
    }
}

/* Wire order is field-number order; upstream's JSON follows the Go struct, which is the
 * declaration order recorded in the schema. Rebuilds obj in that order. */
static void
reorder(const struct bsn_pmsg *m, json_t *obj)
{
    if (json_object_size(obj) < 2)
        return;
    json_t *tmp = json_object();
    move_in_order(m, obj, tmp);
    json_object_update_missing(tmp, obj); /* nothing expected; keeps any stray member */
    json_object_clear(obj);
    json_object_update(obj, tmp);
    json_decref(tmp);
}

/* Decodes one value of field f from the cursor (wire type wt already read). */
static json_t *
decode_value(struct dctx *c, const struct bsn_pmsg *m, const struct bsn_pfield *f, unsigned wt,
             struct bsn_prd *r, int depth)
{
    uint64_t v;
    const uint8_t *p;
    size_t n;
    if (count(c) < 0)
        return NULL;
    if (wt != wire_type_of(f->type)) {
        bad(c, m, f, "unexpected wire type");
        return NULL;
    }
    if (wt == BSN_WT_VARINT) {
        if (bsn_prd_varint(r, &v) < 0) {
            bad(c, m, f, "truncated varint");
            return NULL;
        }
        return scalar_json(f->type, v);
    }
    if (wt == BSN_WT_I64) {
        if (bsn_prd_fixed64(r, &v) < 0) {
            bad(c, m, f, "truncated fixed64");
            return NULL;
        }
        return scalar_json(f->type, v);
    }
    if (bsn_prd_bytes(r, &p, &n) < 0) {
        bad(c, m, f, "length runs past the end of the message");
        return NULL;
    }
    switch (f->type) {
    case BSN_PT_STRING:
        return bsn_pjson_string(p, n);
    case BSN_PT_BYTES: {
        struct bsn_buf b;
        bsn_buf_init(&b);
        bsn_base64_encode(p, n, &b);
        json_t *s = json_stringn(b.data ? b.data : "", b.len);
        bsn_buf_fini(&b);
        return s;
    }
    case BSN_PT_MSG: {
        if (depth + 1 > c->max_depth) {
            bad(c, m, f, "nesting too deep");
            return NULL;
        }
        json_t *o = json_object();
        if (decode_msg(c, f->msg, p, n, depth + 1, o) < 0) {
            json_decref(o);
            return NULL;
        }
        reorder(f->msg, o);
        return o;
    }
    default:
        if (depth + 1 > c->max_depth) {
            bad(c, m, f, "nesting too deep");
            return NULL;
        }
        return decode_special(c, m, f, p, n, depth + 1);
    }
}

static bool
is_zero(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_length(v) == 0;
    case JSON_INTEGER:
        return json_integer_value(v) == 0;
    case JSON_REAL:
        return json_real_value(v) == 0;
    case JSON_FALSE:
        return true;
    default:
        return false;
    }
}

/* One map entry {key=1, value=2} into obj[f->json]. */
static int
decode_map_entry(struct dctx *c, const struct bsn_pmsg *m, const struct bsn_pfield *f,
                 struct bsn_prd *r, int depth, json_t *obj)
{
    const uint8_t *p;
    size_t n;
    if (bsn_prd_bytes(r, &p, &n) < 0)
        return bad(c, m, f, "length runs past the end of the message");
    if (depth + 1 > c->max_depth)
        return bad(c, m, f, "nesting too deep");
    struct bsn_prd er = {p, p + n};
    json_t *key = NULL, *val = NULL;
    while (er.p < er.end) {
        uint64_t tag;
        if (bsn_prd_varint(&er, &tag) < 0)
            goto fail_trunc;
        unsigned wt = tag & 7;
        if ((tag >> 3) == 1 && wt == BSN_WT_LEN) {
            const uint8_t *kp;
            size_t kn;
            if (bsn_prd_bytes(&er, &kp, &kn) < 0)
                goto fail_trunc;
            json_decref(key);
            key = bsn_pjson_string(kp, kn);
        } else if ((tag >> 3) == 2) {
            json_decref(val);
            val = decode_value(c, m, f, wt, &er, depth + 1);
            if (!val)
                goto fail;
        } else if ((tag >> 3) == 0 || bsn_prd_skip(&er, wt) < 0) {
            goto fail_trunc;
        }
    }
    if (!val) {
        /* a missing value is the zero value of the type */
        static const uint8_t zero[1] = {0};
        if (f->type == BSN_PT_STRING || f->type == BSN_PT_BYTES)
            val = json_string("");
        else if (f->type == BSN_PT_MSG || f->type >= BSN_PT_TIME) {
            struct bsn_prd zr = {zero, zero + 1}; /* a zero-length payload */
            val = decode_value(c, m, f, BSN_WT_LEN, &zr, depth + 1);
        } else
            val = scalar_json(f->type, 0);
        if (!val)
            goto fail;
    }
    json_t *mobj = json_object_get(obj, f->json);
    if (!json_is_object(mobj)) {
        if (count(c) < 0)
            goto fail;
        mobj = json_object();
        json_object_set_new(obj, f->json, mobj);
    }
    /* keys may hold NUL bytes; setn keeps them, as Go's map[string] would */
    if (key)
        json_object_setn_new(mobj, json_string_value(key), json_string_length(key), val);
    else
        json_object_set_new(mobj, "", val);
    json_decref(key);
    return 0;
fail_trunc:
    bad(c, m, f, "malformed map entry");
fail:
    json_decref(key);
    json_decref(val);
    return -1;
}

static int
decode_field(struct dctx *c, const struct bsn_pmsg *m, const struct bsn_pfield *f, unsigned wt,
             struct bsn_prd *r, int depth, json_t *obj)
{
    if (f->flags & BSN_PF_MAP) {
        if (wt != BSN_WT_LEN)
            return bad(c, m, f, "unexpected wire type for a map entry");
        return decode_map_entry(c, m, f, r, depth, obj);
    }
    if (f->flags & BSN_PF_INLINE) {
        const uint8_t *p;
        size_t n;
        if (wt != BSN_WT_LEN)
            return bad(c, m, f, "unexpected wire type");
        if (bsn_prd_bytes(r, &p, &n) < 0)
            return bad(c, m, f, "length runs past the end of the message");
        if (depth + 1 > c->max_depth)
            return bad(c, m, f, "nesting too deep");
        return decode_msg(c, f->msg, p, n, depth + 1, obj);
    }
    if (f->flags & BSN_PF_REPEATED) {
        json_t *arr = json_object_get(obj, f->json);
        if (!json_is_array(arr)) {
            arr = json_array();
            json_object_set_new(obj, f->json, arr);
        }
        if (wt == BSN_WT_LEN && is_numeric(f->type)) {
            /* packed encoding of a repeated scalar */
            const uint8_t *p;
            size_t n;
            if (bsn_prd_bytes(r, &p, &n) < 0)
                return bad(c, m, f, "length runs past the end of the message");
            struct bsn_prd pr = {p, p + n};
            while (pr.p < pr.end) {
                json_t *v = decode_value(c, m, f, wire_type_of(f->type), &pr, depth);
                if (!v)
                    return -1;
                json_array_append_new(arr, v);
            }
            return 0;
        }
        json_t *v = decode_value(c, m, f, wt, r, depth);
        if (!v)
            return -1;
        json_array_append_new(arr, v);
        return 0;
    }
    json_t *prev = json_object_get(obj, f->json);
    if (f->type == BSN_PT_MSG && wt == BSN_WT_LEN && json_is_object(prev)) {
        /* a repeated occurrence of a message field merges into the first (protobuf rule) */
        const uint8_t *p;
        size_t n;
        if (bsn_prd_bytes(r, &p, &n) < 0)
            return bad(c, m, f, "length runs past the end of the message");
        if (depth + 1 > c->max_depth)
            return bad(c, m, f, "nesting too deep");
        if (decode_msg(c, f->msg, p, n, depth + 1, prev) < 0)
            return -1;
        reorder(f->msg, prev);
        return 0;
    }
    json_t *v = decode_value(c, m, f, wt, r, depth);
    if (!v)
        return -1;
    if (!(f->flags & (BSN_PF_PTR | BSN_PF_REQ)) && f->type <= BSN_PT_DOUBLE && is_zero(v)) {
        /* omitempty: Go sends non-pointer zero values, its JSON drops them */
        json_decref(v);
        json_object_del(obj, f->json);
        return 0;
    }
    json_object_set_new(obj, f->json, v);
    return 0;
}

static int
decode_msg(struct dctx *c, const struct bsn_pmsg *m, const uint8_t *p, size_t n, int depth,
           json_t *obj)
{
    if (!p)
        p = (const uint8_t *)"";
    struct bsn_prd r = {p, p + n};
    while (r.p < r.end) {
        uint64_t key;
        if (bsn_prd_varint(&r, &key) < 0)
            return bad(c, m, NULL, "truncated field tag");
        uint64_t num = key >> 3;
        unsigned wt = key & 7;
        if (num == 0 || num > 0x1fffffff)
            return bad(c, m, NULL, "invalid field number");
        const struct bsn_pfield *f = bsn_pschema_field(m, (uint32_t)num);
        if (!f) {
            if (bsn_prd_skip(&r, wt) < 0)
                return bad(c, m, NULL, "malformed unknown field");
            continue;
        }
        if (decode_field(c, m, f, wt, &r, depth, obj) < 0)
            return -1;
    }
    return 0;
}

/* runtime.Unknown: typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3,
 * contentType=4. */
static json_t *
decode_envelope(struct dctx *c, const uint8_t *p, size_t n, int depth)
{
    static const struct bsn_pmsg unknown = {"Unknown", NULL, 0};
    if (depth > c->max_depth) {
        bad(c, &unknown, NULL, "nesting too deep");
        return NULL;
    }
    if (n < BSN_PROTO_MAGIC_LEN || memcmp(p, BSN_PROTO_MAGIC, BSN_PROTO_MAGIC_LEN)) {
        bsn_err_set(c->err, 400, "BadRequest",
                    "protobuf: body does not start with the Kubernetes protobuf magic k8s\\0");
        return NULL;
    }
    struct wrap env, tm;
    if (read_wrapper(p + BSN_PROTO_MAGIC_LEN, n - BSN_PROTO_MAGIC_LEN, &env) < 0 ||
        (env.has[1] && env.has[1] != 2) || (env.has[2] && env.has[2] != 2) ||
        (env.has[3] && env.has[3] != 2)) {
        bad(c, &unknown, NULL, "malformed envelope");
        return NULL;
    }
    /* field 4 (contentType) is beyond read_wrapper's 1..3 and skipped: it is informational */
    if (env.slen[3] > 0) {
        bsn_err_set(c->err, 415, "UnsupportedMediaType",
                    "protobuf: content encoding %.*s is not supported",
                    (int)BSN_MIN(env.slen[3], 32), (const char *)env.s[3]);
        return NULL;
    }
    if (read_wrapper(env.s[1], env.slen[1], &tm) < 0 || (tm.has[1] && tm.has[1] != 2) ||
        (tm.has[2] && tm.has[2] != 2) || tm.slen[1] > 253 || tm.slen[2] > 253) {
        bad(c, &unknown, NULL, "malformed typeMeta");
        return NULL;
    }
    char apiv[256], kind[256];
    memcpy(apiv, tm.s[1] ? (const char *)tm.s[1] : "", tm.slen[1]);
    apiv[tm.slen[1]] = 0;
    memcpy(kind, tm.s[2] ? (const char *)tm.s[2] : "", tm.slen[2]);
    kind[tm.slen[2]] = 0;
    const struct bsn_pmsg *m = bsn_pschema_kind(apiv, kind);
    if (!m) {
        bsn_err_set(c->err, 415, "UnsupportedMediaType",
                    "protobuf: no protobuf schema for %s, Kind=%s; send it as "
                    "application/json",
                    apiv[0] ? apiv : "(no apiVersion)", kind[0] ? kind : "(no kind)");
        return NULL;
    }
    json_t *body = json_object();
    if (decode_msg(c, m, env.s[2], env.slen[2], depth, body) < 0) {
        json_decref(body);
        return NULL;
    }
    reorder(m, body);
    /* TypeMeta is inlined first in every Go object: kind, then apiVersion */
    json_t *obj = json_object();
    json_object_set_new(obj, "kind", json_string(kind));
    json_object_set_new(obj, "apiVersion", json_string(apiv));
    json_object_update(obj, body);
    json_decref(body);
    return obj;
}

json_t *
bsn_proto_decode_ex(const void *data, size_t len, const struct bsn_proto_limits *lim,
                    struct bsn_err *err)
{
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : BSN_PROTO_MAX_BYTES;
    struct dctx c = {err, 0, lim && lim->max_nodes ? lim->max_nodes : BSN_PROTO_MAX_NODES,
                     lim && lim->max_depth > 0 ? lim->max_depth : BSN_PROTO_MAX_DEPTH};
    if (len > max_bytes) {
        bsn_err_set(err, 413, "RequestEntityTooLarge",
                    "protobuf: body of %zu bytes is over the limit of %zu", len, max_bytes);
        return NULL;
    }
    return decode_envelope(&c, data ? data : "", data ? len : 0, 0);
}

json_t *
bsn_proto_decode(const void *data, size_t len, struct bsn_err *err)
{
    return bsn_proto_decode_ex(data, len, NULL, err);
}

bool
bsn_proto_has_kind(const char *api_version, const char *kind)
{
    return bsn_pschema_kind(api_version, kind) != NULL;
}

bool
bsn_proto_content_type(struct bsn_str ct)
{
    const char *p = ct.base, *end = ct.base ? ct.base + ct.len : NULL;
    if (!p)
        return false;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *mend = semi ? semi : end;
    while (mend > p && (mend[-1] == ' ' || mend[-1] == '\t'))
        mend--;
    struct bsn_str media = {p, (size_t)(mend - p)};
    if (!bsn_str_case_eq(media, BSN_PROTO_CONTENT_TYPE))
        return false;
    /* a watch stream is framed differently; it is never a request body we decode */
    for (const char *q = semi; q && q < end; q++)
        if ((size_t)(end - q) >= 12 && !strncasecmp(q, "stream=watch", 12))
            return false;
    return true;
}
