/*
 * test_json.c - JSON decoding limits/errors, strict duplicate detection, path helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "codec/json.h"

static void
test_parse_and_dump_order(void **state)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *in = "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\","
                     "\"namespace\":\"b\"},\"n\":[1,2.5,true,null]}";
    json_t *v = bsn_json_parse(in, strlen(in), &err);
    assert_non_null(v);
    char *out = bsn_json_dump(v);
    assert_string_equal(out, in);
    free(out);
    struct bsn_buf b;
    bsn_buf_init(&b);
    assert_int_equal(bsn_json_dump_buf(v, &b), 0);
    assert_string_equal(b.data, in);
    bsn_buf_fini(&b);
    json_decref(v);
    /* any top-level value */
    v = bsn_json_parse(" 42 ", 4, &err);
    assert_true(json_is_integer(v));
    json_decref(v);
}

static void
test_parse_errors(void **state)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *in = "{\"a\": 1,\n \"b\": }";
    assert_null(bsn_json_parse(in, strlen(in), &err));
    assert_int_equal(err.code, 400);
    assert_string_equal(err.reason, "BadRequest");
    assert_non_null(strstr(err.msg, "line 2"));
    assert_null(bsn_json_parse("{} x", 4, &err));
    assert_null(bsn_json_parse("", 0, &err));
    assert_int_equal(err.code, 400);

    struct bsn_buf b;
    bsn_buf_init(&b);
    for (int i = 0; i < 101; i++)
        bsn_buf_putc(&b, '[');
    for (int i = 0; i < 101; i++)
        bsn_buf_putc(&b, ']');
    assert_null(bsn_json_parse(b.data, b.len, &err));
    assert_non_null(strstr(err.msg, "depth"));
    /* brackets inside strings do not count */
    bsn_buf_reset(&b);
    bsn_buf_puts(&b, "{\"a\":\"");
    for (int i = 0; i < 300; i++)
        bsn_buf_putc(&b, '[');
    bsn_buf_puts(&b, "\\\"\"}");
    json_t *v = bsn_json_parse(b.data, b.len, &err);
    assert_non_null(v);
    json_decref(v);
    bsn_buf_fini(&b);
}

static void
test_duplicates(void **state)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *in = "{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"1\"},\"name\":\"b\"}}";
    json_t *v = bsn_json_parse(in, strlen(in), &err);
    assert_non_null(v);
    assert_string_equal(bsn_json_str(v, "metadata.name"), "b"); /* last wins */
    json_decref(v);
    assert_null(bsn_json_parse_strict(in, strlen(in), &err));
    assert_int_equal(err.code, 400);
    assert_string_equal(err.msg, "json: duplicate field \"metadata.name\"");
    in = "{\"spec\":{\"c\":[{\"a\":1},{\"image\":\"x\",\"image\":\"y\"}]}}";
    assert_null(bsn_json_parse_strict(in, strlen(in), &err));
    assert_string_equal(err.msg, "json: duplicate field \"spec.c.image\"");
    in = "{\"a\":{\"x\":1},\"b\":{\"x\":1}}";
    v = bsn_json_parse_strict(in, strlen(in), &err);
    assert_non_null(v);
    json_decref(v);
}

static void
test_paths(void **state)
{
    struct bsn_err err;
    const char *in = "{\"metadata\":{\"name\":\"web\",\"generation\":3},\"spec\":{\"template\":"
                     "{\"metadata\":{\"labels\":{\"app\":\"w\"}}}}}";
    json_t *v = bsn_json_parse(in, strlen(in), &err);
    assert_string_equal(bsn_json_str(v, "metadata.name"), "web");
    assert_null(bsn_json_str(v, "metadata.generation"));
    assert_int_equal(bsn_json_int(v, "metadata.generation", -1), 3);
    assert_int_equal(bsn_json_int(v, "metadata.nope", -1), -1);
    assert_true(json_is_object(bsn_json_path(v, "spec.template.metadata.labels")));
    assert_null(bsn_json_path(v, "metadata.name.x"));
    assert_null(bsn_json_path(v, "spec.missing.labels"));
    json_t *ann = bsn_json_path_mkobj(v, "metadata.annotations");
    json_object_set_new(ann, "k", json_string("v"));
    assert_string_equal(bsn_json_str(v, "metadata.annotations.k"), "v");
    json_decref(v);
}

static void
test_equal_numeric(void **state)
{
    json_t *a = json_loads("{\"a\":[1,2.0]}", 0, NULL);
    json_t *b = json_loads("{\"a\":[1.0,2]}", 0, NULL);
    json_t *c = json_loads("{\"a\":[1.0,3]}", 0, NULL);
    assert_true(bsn_json_equal(a, b));
    assert_false(bsn_json_equal(a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_dump_order), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_duplicates),           cmocka_unit_test(test_paths),
        cmocka_unit_test(test_equal_numeric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
