/*
 * test_yaml.c - YAML parsing with Kubernetes typing, limits, errors, and kubectl-style emit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "codec/yaml.h"

static json_t *
one(const char *y)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *v = bsn_yaml_parse_one(y, strlen(y), &err);
    if (!v)
        printf("parse error: %s\n", err.msg);
    assert_non_null(v);
    return v;
}

/* Parses "v: <scalar>" and compares the value with the JSON text want. */
static void
check_scalar(const char *scalar, const char *want)
{
    char y[256];
    snprintf(y, sizeof(y), "v: %s\n", scalar);
    json_t *doc = one(y);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    json_t *got = json_object_get(doc, "v");
    if (!bsn_json_equal(got, w) || json_typeof(got) != json_typeof(w)) {
        char *g = bsn_json_dump(got);
        printf("scalar %s: got %s want %s\n", scalar, g, want);
        free(g);
        fail();
    }
    json_decref(w);
    json_decref(doc);
}

static void
test_scalar_typing(void **state)
{
    static const char *cases[][2] = {
        {"", "null"},
        {"~", "null"},
        {"null", "null"},
        {"Null", "null"},
        {"NULL", "null"},
        {"nULL", "\"nULL\""},
        {"true", "true"},
        {"True", "true"},
        {"TRUE", "true"},
        {"yes", "true"},
        {"Yes", "true"},
        {"YES", "true"},
        {"on", "true"},
        {"ON", "true"},
        {"y", "true"},
        {"Y", "true"},
        {"no", "false"},
        {"off", "false"},
        {"n", "false"},
        {"False", "false"},
        {"tRUE", "\"tRUE\""},
        {"\"true\"", "\"true\""},
        {"'yes'", "\"yes\""},
        {"!!str true", "\"true\""},
        {"123", "123"},
        {"-17", "-17"},
        {"+5", "5"},
        {"0x1F", "31"},
        {"0o17", "15"},
        {"017", "15"},
        {"0b101", "5"},
        {"1_000", "1000"},
        {"09", "9"},
        {"1.5", "1.5"},
        {"1e3", "1000"},
        {".5", "0.5"},
        {"-0.25", "-0.25"},
        {"1.0", "1"},
        {"\"123\"", "\"123\""},
        {"9223372036854775807", "9223372036854775807"},
        {"1.2.3", "\"1.2.3\""},
        {"0x", "\"0x\""},
        {"12abc", "\"12abc\""},
        {"v1.2", "\"v1.2\""},
        {"2001-12-14", "\"2001-12-14\""},
        {"!!int \"42\"", "42"},
        {"|\n  a\n  b\n", "\"a\\nb\\n\""},
        {">-\n  a\n  b\n", "\"a b\""},
        {"1e400", "\"1e400\""},
        {"'-'", "\"-\""},
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(cases); i++)
        check_scalar(cases[i][0], cases[i][1]);
}

static void
test_nonfinite_rejected(void **state)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *y = "a: 1\nb: .inf\n";
    assert_null(bsn_yaml_parse(y, strlen(y), &err));
    assert_int_equal(err.code, 400);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_non_null(strstr(err.msg, ".inf"));
    check_scalar("'.inf'", "\".inf\"");
}

static void
test_multi_document(void **state)
{
    const char *y = "---\n# only a comment\n---\napiVersion: v1\nkind: Pod\n---\n\n---\nnull\n"
                    "---\nkind: Service\n...\n";
    struct bsn_err err;
    json_t *docs = bsn_yaml_parse(y, strlen(y), &err);
    assert_non_null(docs);
    assert_int_equal(json_array_size(docs), 2);
    assert_string_equal(bsn_json_str(json_array_get(docs, 0), "kind"), "Pod");
    assert_string_equal(bsn_json_str(json_array_get(docs, 1), "kind"), "Service");
    json_decref(docs);
    docs = bsn_yaml_parse("", 0, &err);
    assert_int_equal(json_array_size(docs), 0);
    json_decref(docs);
    assert_null(bsn_yaml_parse_one("a: 1\n---\nb: 2\n", 14, &err));
    assert_int_equal(err.code, 400);
}

static void
test_keys_converted(void **state)
{
    json_t *v = one("1: a\ntrue: b\nyes: c\n1.5: d\n~: e\n");
    assert_string_equal(json_string_value(json_object_get(v, "1")), "a");
    assert_string_equal(json_string_value(json_object_get(v, "true")), "c"); /* last wins */
    assert_string_equal(json_string_value(json_object_get(v, "1.5")), "d");
    assert_string_equal(json_string_value(json_object_get(v, "null")), "e");
    json_decref(v);
    struct bsn_err err;
    const char *dup = "a: 1\nb:\n  c: 1\n  c: 2\n";
    v = bsn_yaml_parse(dup, strlen(dup), &err);
    assert_non_null(v);
    json_decref(v);
    assert_null(bsn_yaml_parse_strict(dup, strlen(dup), &err));
    assert_string_equal(err.msg, "yaml: line 4: key \"c\" already set in map");
    v = bsn_yaml_parse_strict("a: 1\nb: {a: 2}\n", 15, &err);
    assert_non_null(v);
    json_decref(v);
    assert_null(bsn_yaml_parse("? [a]\n: 1\n", 10, &err));
    assert_int_equal(err.code, 400);
}

static void
test_anchors_and_merge(void **state)
{
    json_t *v = one("base: &b {cpu: 1, mem: 2}\n"
                    "x:\n  <<: *b\n  cpu: 5\n"
                    "w:\n  <<: [*b, {gpu: 1, mem: 9}]\n"
                    "list: &l [1, 2]\nz: *l\n");
    assert_int_equal(bsn_json_int(v, "x.cpu", 0), 5);
    assert_int_equal(bsn_json_int(v, "x.mem", 0), 2);
    assert_int_equal(bsn_json_int(v, "w.mem", 0), 2); /* earlier source wins */
    assert_int_equal(bsn_json_int(v, "w.gpu", 0), 1);
    assert_null(json_object_get(json_object_get(v, "x"), "<<"));
    /* aliases are copies: changing one must not change the other */
    json_t *z = json_object_get(v, "z");
    json_array_append_new(z, json_integer(3));
    assert_int_equal(json_array_size(json_object_get(v, "list")), 2);
    json_decref(v);
    /* a quoted "<<" is an ordinary key */
    v = one("'<<': {a: 1}\n");
    assert_non_null(json_object_get(v, "<<"));
    json_decref(v);
    struct bsn_err err;
    assert_null(bsn_yaml_parse("a: *nope\n", 9, &err));
    assert_non_null(strstr(err.msg, "nope"));
}

static void
test_billion_laughs(void **state)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_puts(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 12; i++) {
        bsn_buf_printf(&b, "a%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++)
            bsn_buf_printf(&b, "%s*a%d", j ? ", " : "", i - 1);
        bsn_buf_puts(&b, "]\n");
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_null(bsn_yaml_parse(b.data, b.len, &err));
    assert_int_equal(err.code, 400);
    assert_non_null(strstr(err.msg, "alias"));
    bsn_buf_fini(&b);
}

static void
test_depth_cap(void **state)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    for (int i = 0; i < 150; i++)
        bsn_buf_putc(&b, '[');
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_null(bsn_yaml_parse(b.data, b.len, &err));
    assert_non_null(strstr(err.msg, "depth"));
    bsn_buf_reset(&b);
    for (int i = 0; i < 90; i++)
        bsn_buf_putc(&b, '[');
    for (int i = 0; i < 90; i++)
        bsn_buf_putc(&b, ']');
    json_t *v = bsn_yaml_parse(b.data, b.len, &err);
    assert_non_null(v);
    json_decref(v);
    bsn_buf_fini(&b);
}

static void
test_error_positions(void **state)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *y = "apiVersion: v1\nkind: Pod\nmetadata: name: x\n";
    assert_null(bsn_yaml_parse(y, strlen(y), &err));
    assert_int_equal(err.code, 400);
    assert_string_equal(err.reason, "BadRequest");
    assert_non_null(strstr(err.msg, "yaml: line 3, column "));
    assert_non_null(strstr(err.msg, "mapping values are not allowed"));
    y = "a:\n  - b\n c: d\n";
    assert_null(bsn_yaml_parse(y, strlen(y), &err));
    assert_non_null(strstr(err.msg, "line 3"));
    y = "a: \"unterminated\n";
    assert_null(bsn_yaml_parse(y, strlen(y), &err));
    assert_non_null(strstr(err.msg, "yaml: line"));
}

static void
check_emit(const char *json, const char *want)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_PRESERVE_ORDER, NULL);
    assert_non_null(v);
    struct bsn_buf out;
    bsn_buf_init(&out);
    assert_int_equal(bsn_yaml_emit(v, &out), 0);
    if (strcmp(out.data, want) != 0) {
        printf("emit %s:\n--- got\n%s--- want\n%s", json, out.data, want);
        fail();
    }
    struct bsn_err err;
    json_t *back = bsn_yaml_parse_one(out.data, out.len, &err);
    assert_non_null(back);
    assert_true(bsn_json_equal(back, v));
    json_decref(back);
    json_decref(v);
    bsn_buf_fini(&out);
}

static void
test_emit_kubectl_style(void **state)
{
    check_emit("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\","
               "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
               "\"image\":\"nginx:1.25\",\"ports\":[{\"containerPort\":80}],"
               "\"args\":[\"--x\",\"true\",\"123\",\"\",\"a: b\",\"*\"]}]}}",
               "apiVersion: v1\n"
               "kind: Pod\n"
               "metadata:\n"
               "  labels:\n"
               "    app: web\n"
               "  name: web\n"
               "spec:\n"
               "  containers:\n"
               "  - args:\n"
               "    - --x\n"
               "    - \"true\"\n"
               "    - \"123\"\n"
               "    - \"\"\n"
               "    - 'a: b'\n"
               "    - '*'\n"
               "    image: nginx:1.25\n"
               "    name: c\n"
               "    ports:\n"
               "    - containerPort: 80\n");
    check_emit("{\"a\":{},\"b\":[],\"c\":null,\"d\":1.5,\"e\":false,\"f\":\"yes\",\"g\":\"null\"}",
               "a: {}\nb: []\nc: null\nd: 1.5\ne: false\nf: \"yes\"\ng: \"null\"\n");
    check_emit("{\"script\":\"echo hi\\nexit 0\\n\"}", "script: |\n  echo hi\n  exit 0\n");
    check_emit("{\"s\":\"a\\nb\"}", "s: |-\n  a\n  b\n");
    check_emit("[\"x\",{\"k\":\"v\"}]", "- x\n- k: v\n");
    check_emit("{\"t\":\"trailing \\nspace\"}", "t: \"trailing \\nspace\"\n");
    check_emit("{\"1\":\"a\",\"on\":1}", "\"1\": a\n\"on\": 1\n");
    check_emit("{\"u\":\"日本\"}", "u: 日本\n");
    /* go-yaml key order: digits by value, non-letters before letters, prefixes first */
    check_emit("{\"a10\":1,\"a9\":2,\"ab\":3,\"a-b\":4,\"a\":5,\"B\":6,\"b\":7}",
               "B: 6\na: 5\na-b: 4\na9: 2\na10: 1\nab: 3\nb: 7\n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_typing),      cmocka_unit_test(test_nonfinite_rejected),
        cmocka_unit_test(test_multi_document),     cmocka_unit_test(test_keys_converted),
        cmocka_unit_test(test_anchors_and_merge),  cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_depth_cap),          cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_emit_kubectl_style),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
