/*
 * test_wire.c - hand-built wire bytes: the Kubernetes special types (Time, MicroTime,
 * IntOrString, Quantity, maps, RawExtension, bytes), protobuf corner cases (unknown fields,
 * packed repeated, negative int32, repeated message merge, invalid UTF-8), and malformed or
 * hostile input rejected with the right status and never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/json.h"
#include "proto/proto.h"
#include "proto/wire.h"

/* Builds "k8s\0" + Unknown{typeMeta{apiv, kind}, raw} around an object payload. */
static void
envelope(struct bsn_buf *out, const char *apiv, const char *kind, const void *raw, size_t n)
{
    struct bsn_buf tm, env;
    bsn_buf_init(&tm);
    bsn_buf_init(&env);
    bsn_pwr_lenfield(&tm, 1, apiv, strlen(apiv));
    bsn_pwr_lenfield(&tm, 2, kind, strlen(kind));
    bsn_pwr_lenfield(&env, 1, tm.data, tm.len);
    bsn_pwr_lenfield(&env, 2, raw, n);
    bsn_buf_append(out, "k8s\0", 4);
    bsn_buf_append(out, env.data, env.len);
    bsn_buf_fini(&tm);
    bsn_buf_fini(&env);
}

static json_t *
decode_obj(const char *apiv, const char *kind, const void *raw, size_t n, struct bsn_err *err)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    envelope(&b, apiv, kind, raw, n);
    bsn_err_clear(err);
    json_t *v = bsn_proto_decode(b.data, b.len, err);
    bsn_buf_fini(&b);
    return v;
}

static void
expect_json(json_t *got, const char *want_txt)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *want = bsn_json_parse(want_txt, strlen(want_txt), &err);
    assert_non_null(want);
    if (!got)
        fail_msg("decode failed, want %s", want_txt);
    if (!bsn_json_equal(got, want)) {
        char *g = bsn_json_dump(got);
        fail_msg("got  %s\nwant %s", g, want_txt);
    }
    json_decref(want);
    json_decref(got);
}

static void
expect_error(const void *data, size_t n, int code, const char *needle)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *v = bsn_proto_decode(data, n, &err);
    if (v) {
        char *g = bsn_json_dump(v);
        fail_msg("expected error %d, decoded %s", code, g);
    }
    assert_int_equal(err.code, code);
    if (needle && !strstr(err.msg, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
}

static void
expect_obj_error(const char *apiv, const char *kind, const void *raw, size_t n, int code,
                 const char *needle)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    envelope(&b, apiv, kind, raw, n);
    expect_error(b.data, b.len, code, needle);
    bsn_buf_fini(&b);
}

#define RAW(s) (s), (sizeof(s) - 1)

static void
test_time(void **state)
{
    (void)state;
    struct bsn_err err;
    /* ConfigMap{metadata{name "x", creationTimestamp{seconds 1700000000, nanos 5}}} */
    static const char cm[] = "\x0a\x0d\x0a\x01x\x42\x08\x08\x80\xe2\xcf\xaa\x06\x10\x05";
    expect_json(decode_obj("v1", "ConfigMap", cm, sizeof(cm) - 1, &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\","
                "\"creationTimestamp\":\"2023-11-14T22:13:20Z\"}}");
    /* the zero time (empty message) is null; year 1 and year 9999 format with 4 digits */
    static const char zero[] = "\x0a\x02\x42\x00";
    expect_json(decode_obj("v1", "ConfigMap", RAW(zero), &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                "\"creationTimestamp\":null}}");
    struct bsn_buf b, md;
    bsn_buf_init(&b);
    bsn_buf_init(&md);
    bsn_pwr_tag(&b, 1, BSN_WT_VARINT);
    bsn_pwr_varint(&b, (uint64_t)-62135596800LL); /* 0001-01-01T00:00:00Z */
    bsn_pwr_lenfield(&md, 9, b.data, b.len);      /* deletionTimestamp */
    bsn_buf_reset(&b);
    bsn_pwr_lenfield(&b, 1, md.data, md.len);
    expect_json(decode_obj("v1", "ConfigMap", b.data, b.len, &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                "\"deletionTimestamp\":\"0001-01-01T00:00:00Z\"}}");
    /* year 10000 cannot be written as RFC 3339: rejected, naming the field */
    bsn_buf_reset(&b);
    bsn_buf_reset(&md);
    bsn_pwr_tag(&b, 1, BSN_WT_VARINT);
    bsn_pwr_varint(&b, 253402300800ULL);
    bsn_pwr_lenfield(&md, 8, b.data, b.len);
    bsn_buf_reset(&b);
    bsn_pwr_lenfield(&b, 1, md.data, md.len);
    expect_obj_error("v1", "ConfigMap", b.data, b.len, 400, "ObjectMeta.creationTimestamp");
    bsn_buf_fini(&b);
    bsn_buf_fini(&md);
}

static void
test_microtime(void **state)
{
    (void)state;
    struct bsn_err err;
    /* Lease{spec{renewTime{seconds 86400, nanos 123456789}, leaseTransitions 0}} */
    static const char lease[] = "\x12\x0d\x22\x09\x08\x80\xa3\x05\x10\x95\x9a\xef\x3a\x28\x00";
    expect_json(decode_obj("coordination.k8s.io/v1", "Lease", RAW(lease), &err),
                "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"spec\":{"
                "\"renewTime\":\"1970-01-02T00:00:00.123456Z\",\"leaseTransitions\":0}}");
    /* nanos out of range */
    static const char badn[] = "\x12\x0a\x22\x08\x08\x01\x10\x80\x94\xeb\xdc\x03";
    expect_obj_error("coordination.k8s.io/v1", "Lease", RAW(badn), 400, NULL);
}

static void
test_intorstring(void **state)
{
    (void)state;
    struct bsn_err err;
    /* Service{spec{ports[{port 80, targetPort{type 1, strVal "http"}},
     *                  {port 81, targetPort{intVal 8081}}, {port 82, targetPort{}}]}} */
    static const char svc[] = "\x12\x20"
                              "\x0a\x0c\x18\x50\x22\x08\x08\x01\x1a\x04http"
                              "\x0a\x09\x18\x51\x22\x05\x08\x00\x10\x91\x3f"
                              "\x0a\x05\x18\x52\x22\x01\x00";
    /* the last targetPort is not a valid message (a lone 0 byte: field number 0) */
    expect_obj_error("v1", "Service", RAW(svc), 400, "targetPort");
    static const char svc2[] = "\x12\x1f"
                               "\x0a\x0c\x18\x50\x22\x08\x08\x01\x1a\x04http"
                               "\x0a\x09\x18\x51\x22\x05\x08\x00\x10\x91\x3f"
                               "\x0a\x04\x18\x52\x22\x00";
    expect_json(decode_obj("v1", "Service", RAW(svc2), &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"spec\":{\"ports\":["
                "{\"port\":80,\"targetPort\":\"http\"},{\"port\":81,\"targetPort\":8081},"
                "{\"port\":82,\"targetPort\":0}]}}");
    /* type string without strVal is the empty string; unknown fields inside are skipped
     * (found by fuzzing: this once returned NULL without an error) */
    static const char svc3[] = "\x12\x0f\x0a\x0d\x18\x50\x22\x09\x08\x01\x10\x52\x65"
                               "sour";
    expect_json(decode_obj("v1", "Service", RAW(svc3), &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"spec\":{\"ports\":["
                "{\"port\":80,\"targetPort\":\"\"}]}}");
    /* an envelope without raw bytes is an object with only apiVersion and kind */
    expect_json(decode_obj("networking.k8s.io/v1", "Ingress", "", 0, &err),
                "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\"}");
}

static void
test_quantity_and_maps(void **state)
{
    (void)state;
    struct bsn_err err;
    /* ResourceQuota{spec{hard{"cpu": {"1000m"}, "mem": {}, "x": (no value)},
     *                     hard{"cpu": {"2"}} (a later duplicate key wins)}} */
    static const char rq[] = "\x12\x2a"
                             "\x0a\x0e\x0a\x03"
                             "cpu"
                             "\x12\x07\x0a\x05"
                             "1000m"
                             "\x0a\x07\x0a\x03"
                             "mem"
                             "\x12\x00"
                             "\x0a\x03\x0a\x01"
                             "x"
                             "\x0a\x0a\x0a\x03"
                             "cpu"
                             "\x12\x03\x0a\x01"
                             "2";
    expect_json(decode_obj("v1", "ResourceQuota", RAW(rq), &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"spec\":{\"hard\":{"
                "\"cpu\":\"2\",\"mem\":\"0\",\"x\":\"0\"}}}");
    static const char badq[] = "\x12\x0c\x0a\x0a\x0a\x03"
                               "cpu"
                               "\x12\x03\x0a\x01"
                               "z";
    expect_obj_error("v1", "ResourceQuota", RAW(badq), 400, "quantity");
    /* ConfigMap data map with an entry without key, and binaryData as base64 */
    static const char nul[] = "\x12\x08\x0a\x03"
                              "a\0b"
                              "\x12\x01v";
    json_t *nv = decode_obj("v1", "ConfigMap", RAW(nul), &err);
    assert_non_null(nv);
    assert_non_null(json_object_getn(json_object_get(nv, "data"), "a\0b", 3));
    struct bsn_buf back;
    bsn_buf_init(&back);
    assert_int_equal(bsn_proto_encode(nv, &back, &err), 0);
    assert_non_null(memmem(back.data, back.len,
                           "\x0a\x03"
                           "a\0b",
                           5)); /* key kept whole */
    bsn_buf_fini(&back);
    json_decref(nv);
    static const char cm[] = "\x12\x03\x12\x01v"
                             "\x1a\x08\x0a\x01"
                             "b"
                             "\x12\x03\x00\xff\x01";
    expect_json(decode_obj("v1", "ConfigMap", RAW(cm), &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"\":\"v\"},"
                "\"binaryData\":{\"b\":\"AP8B\"}}");
}

static void
test_raw_extension(void **state)
{
    (void)state;
    struct bsn_err err;
    /* ControllerRevision{data{raw '{"a":[1,true]}'}, revision 3} */
    static const char cr[] = "\x12\x10\x0a\x0e{\"a\":[1,true]}\x18\x03";
    expect_json(decode_obj("apps/v1", "ControllerRevision", RAW(cr), &err),
                "{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\",\"data\":"
                "{\"a\":[1,true]},\"revision\":3}");
    /* raw holding a Kubernetes protobuf object decodes recursively */
    struct bsn_buf inner, raw, obj;
    bsn_buf_init(&inner);
    bsn_buf_init(&raw);
    bsn_buf_init(&obj);
    envelope(&inner, "v1", "ConfigMap", "\x12\x06\x0a\x01k\x12\x01v", 8);
    bsn_pwr_lenfield(&raw, 1, inner.data, inner.len);
    bsn_pwr_lenfield(&obj, 2, raw.data, raw.len);
    expect_json(decode_obj("apps/v1", "ControllerRevision", obj.data, obj.len, &err),
                "{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\",\"data\":{"
                "\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"k\":\"v\"}}}");
    bsn_buf_fini(&inner);
    bsn_buf_fini(&raw);
    bsn_buf_fini(&obj);
    static const char badjson[] = "\x12\x04\x0a\x02{x";
    expect_obj_error("apps/v1", "ControllerRevision", RAW(badjson), 400, "ControllerRevision.data");
}

static void
test_wire_corners(void **state)
{
    (void)state;
    struct bsn_err err;
    /* unknown fields of every wire type are skipped; a varint int32 of -2 is 10 bytes;
     * PodSecurityContext.supplementalGroups arrives packed; two spec fragments merge */
    struct bsn_buf b;
    bsn_buf_init(&b);
    struct bsn_buf spec1, spec2, psc;
    bsn_buf_init(&spec1);
    bsn_buf_init(&spec2);
    bsn_buf_init(&psc);
    bsn_pwr_lenfield(&psc, 4, "\x01\x02\x03", 3); /* packed supplementalGroups */
    bsn_pwr_tag(&psc, 5, BSN_WT_VARINT);          /* fsGroup */
    bsn_pwr_varint(&psc, 1000);
    bsn_pwr_lenfield(&spec1, 14, psc.data, psc.len);
    bsn_pwr_tag(&spec2, 25, BSN_WT_VARINT); /* priority = -2 */
    bsn_pwr_varint(&spec2, (uint64_t)(int64_t)-2);
    bsn_pwr_tag(&b, 111, BSN_WT_VARINT);
    bsn_pwr_varint(&b, 1);
    bsn_pwr_tag(&b, 112, BSN_WT_I32);
    bsn_buf_append(&b, "\x01\x02\x03\x04", 4);
    bsn_pwr_tag(&b, 113, BSN_WT_I64);
    bsn_buf_append(&b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    bsn_pwr_lenfield(&b, 114, "junk", 4);
    bsn_pwr_lenfield(&b, 2, spec1.data, spec1.len);
    bsn_pwr_lenfield(&b, 2, spec2.data, spec2.len);
    expect_json(decode_obj("v1", "Pod", b.data, b.len, &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"securityContext\":{"
                "\"supplementalGroups\":[1,2,3],\"fsGroup\":1000},\"priority\":-2}}");
    /* invalid UTF-8 in a string becomes U+FFFD, as Go's JSON encoder writes it */
    bsn_buf_reset(&b);
    bsn_buf_reset(&spec1);
    bsn_pwr_lenfield(&spec1, 1,
                     "a\xff"
                     "b\xc3",
                     4);
    bsn_pwr_lenfield(&b, 1, spec1.data, spec1.len);
    expect_json(decode_obj("v1", "ConfigMap", b.data, b.len, &err),
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                "\"a\\ufffdb\\ufffd\"}}");
    bsn_buf_fini(&b);
    bsn_buf_fini(&spec1);
    bsn_buf_fini(&spec2);
    bsn_buf_fini(&psc);
}

static void
test_malformed(void **state)
{
    (void)state;
    expect_error("", 0, 400, "magic");
    expect_error(RAW("{\"kind\":\"ConfigMap\"}"), 400, "magic");
    expect_error(RAW("k8s\0\x0a"), 400, NULL);               /* truncated length */
    expect_error(RAW("k8s\0\x0a\x80"), 400, NULL);           /* truncated varint */
    expect_error(RAW("k8s\0\x0a\x7f\x0a\x02v1"), 400, NULL); /* length past the end */
    expect_error(RAW("k8s\0\x0b\x00"), 400, NULL);           /* group wire type */
    expect_error(RAW("k8s\0\x0a\x00\x12\x00"), 415, "no protobuf schema");
    expect_obj_error("example.com/v1", "Widget", "", 0, 415, "Widget");
    /* gzip content encoding is refused */
    expect_error(RAW("k8s\0\x0a\x0f\x0a\x02v1\x12\x09"
                     "ConfigMap\x12\x00\x1a\x04gzip"),
                 415, "gzip");
    /* object-level problems name the message and field */
    expect_obj_error("v1", "ConfigMap", RAW("\x0a\x03\x0a\x05x"), 400, "ObjectMeta.name");
    expect_obj_error("v1", "ConfigMap", RAW("\x0a\x02\x08\x01"), 400, "ObjectMeta.name");
    expect_obj_error("v1", "ConfigMap", RAW("\x0a\x01\x80"), 400, "ObjectMeta");
    expect_obj_error("v1", "ConfigMap", RAW("\x0a\x02\x00\x00"), 400, "field number");
    expect_obj_error("v1", "ConfigMap", RAW("\x12\x03\x0a\x05x"), 400, "ConfigMap.data");
    /* overlong varint (11 bytes) */
    expect_obj_error("v1", "ConfigMap",
                     RAW("\x0a\x0c\x38\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), 400,
                     "ObjectMeta.generation");
}

static void
test_limits(void **state)
{
    (void)state;
    /* over the size cap: refused before reading */
    size_t big = BSN_PROTO_MAX_BYTES + 1;
    char *p = calloc(1, big);
    memcpy(p, "k8s\0", 4);
    expect_error(p, big, 413, NULL);
    free(p);

    /* RawExtension nesting: ControllerRevision inside ControllerRevision ... */
    struct bsn_buf cur, next, raw, obj;
    bsn_buf_init(&cur);
    bsn_buf_init(&next);
    bsn_buf_init(&raw);
    bsn_buf_init(&obj);
    envelope(&cur, "v1", "ConfigMap", "", 0);
    for (int i = 0; i < 40; i++) {
        bsn_buf_reset(&raw);
        bsn_buf_reset(&obj);
        bsn_buf_reset(&next);
        bsn_pwr_lenfield(&raw, 1, cur.data, cur.len);
        bsn_pwr_lenfield(&obj, 2, raw.data, raw.len);
        envelope(&next, "apps/v1", "ControllerRevision", obj.data, obj.len);
        bsn_buf_reset(&cur);
        bsn_buf_append(&cur, next.data, next.len);
    }
    expect_error(cur.data, cur.len, 400, "too deep");
    bsn_buf_fini(&cur);
    bsn_buf_fini(&next);
    bsn_buf_fini(&raw);
    bsn_buf_fini(&obj);

    /* a small body expanding into over a million empty objects is refused (413) */
    size_t n = 1200;
    struct bsn_buf spec, pod;
    bsn_buf_init(&spec);
    bsn_buf_init(&pod);
    bsn_buf_reserve(&spec, 2 * n);
    for (size_t i = 0; i < n; i++)
        bsn_buf_append(&spec, "\x12\x00", 2); /* containers: {} */
    bsn_pwr_lenfield(&pod, 2, spec.data, spec.len);
    struct bsn_buf env;
    bsn_buf_init(&env);
    envelope(&env, "v1", "Pod", pod.data, pod.len);
    struct bsn_proto_limits lim = {.max_nodes = 1000};
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_null(bsn_proto_decode_ex(env.data, env.len, &lim, &err));
    assert_int_equal(err.code, 413);
    /* the same body is fine under the default cap */
    json_t *v = bsn_proto_decode(env.data, env.len, &err);
    assert_non_null(v);
    assert_int_equal(json_array_size(bsn_json_path(v, "spec")
                                         ? json_object_get(bsn_json_path(v, "spec"), "containers")
                                         : NULL),
                     n);
    json_decref(v);
    bsn_buf_fini(&env);
    bsn_buf_fini(&spec);
    bsn_buf_fini(&pod);
}

static void
test_content_type(void **state)
{
    (void)state;
    assert_true(bsn_proto_content_type(bsn_str_c("application/vnd.kubernetes.protobuf")));
    assert_true(bsn_proto_content_type(bsn_str_c(" Application/Vnd.Kubernetes.Protobuf ; x=y")));
    assert_false(bsn_proto_content_type(bsn_str_c("application/json")));
    assert_false(bsn_proto_content_type(bsn_str_c("application/vnd.kubernetes.protobufx")));
    assert_false(
        bsn_proto_content_type(bsn_str_c("application/vnd.kubernetes.protobuf;stream=watch")));
    assert_false(bsn_proto_content_type(BSN_STR_NULL));
    struct bsn_str partial = {"application/vnd.kubernetes.protobuf-and-more", 35};
    assert_true(bsn_proto_content_type(partial)); /* a view, not a C string */
}

int main(void);

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),          cmocka_unit_test(test_microtime),
        cmocka_unit_test(test_intorstring),   cmocka_unit_test(test_quantity_and_maps),
        cmocka_unit_test(test_raw_extension), cmocka_unit_test(test_wire_corners),
        cmocka_unit_test(test_malformed),     cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
