/*
 * test_quantity.c - resource.Quantity parse/format/arithmetic, durations, IntOrString.
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
#include "codec/quantity.h"
#include "codec/util.h"

static const char *const canon[][2] = {
    {"100m", "100m"},
    {"1.5", "1500m"},
    {"2Gi", "2Gi"},
    {"500M", "500M"},
    {"1e3", "1e3"},
    {"0.1", "100m"},
    {"128974848", "128974848"},
    {"129e6", "129e6"},
    {"129M", "129M"},
    {"123Mi", "123Mi"},
    {"1000", "1k"},
    {"1000m", "1"},
    {"1024", "1024"},
    {"1Ki", "1Ki"},
    {"1024Mi", "1Gi"},
    {"1536Mi", "1536Mi"},
    {"1.5Gi", "1536Mi"},
    {"0.5Ki", "512"},
    {"1.5Ki", "1536"},
    {"0", "0"},
    {"-0", "0"},
    {"0Gi", "0"},
    {"+5", "5"},
    {"-100m", "-100m"},
    {"1.0", "1"},
    {"5.", "5"},
    {".5", "500m"},
    {"0.0000000001", "1n"},
    {"1n", "1n"},
    {"1u", "1u"},
    {"1000n", "1u"},
    {"1.5k", "1500"},
    {"12E", "12E"},
    {"1E3", "1e3"},
    {"1e-3", "1e-3"},
    {"100e-3", "100e-3"},
    {"8Ei", "8Ei"},
    {"0.001m", "1u"},
    {"1234567890123", "1234567890123"},
    {"1k", "1k"},
    {"1000k", "1M"},
    {"1P", "1P"},
    {"1000P", "1E"},
};

static const char *const bad[] = {"",   "abc", "1.2.3", "1Gb", "1 Gi",    "--1", "1ki",
                                  "Gi", "1e",  "1Ki1",  ".",   "1e99999", "1KiB"};

static void
test_canonical(void **state)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(canon); i++) {
        struct bsn_err err;
        bsn_err_clear(&err);
        char *c = bsn_quantity_canonical(canon[i][0], &err);
        if (!c || strcmp(c, canon[i][1]) != 0) {
            printf("%s: got %s want %s (%s)\n", canon[i][0], c ? c : "(error)", canon[i][1],
                   err.msg);
            fail();
        }
        /* canonical form must be a fixed point */
        char *c2 = bsn_quantity_canonical(c, &err);
        assert_string_equal(c2, c);
        free(c);
        free(c2);
    }
    for (size_t i = 0; i < BSN_ARRAY_LEN(bad); i++) {
        struct bsn_err err;
        bsn_err_clear(&err);
        struct bsn_quantity q;
        if (bsn_quantity_parse(bad[i], &q, &err) == 0) {
            printf("%s: expected an error\n", bad[i]);
            fail();
        }
        assert_int_equal(err.code, 400);
        char want[64];
        snprintf(want, sizeof(want), "quantity \"%s\"", bad[i]);
        assert_non_null(strstr(err.msg, want));
    }
    struct bsn_err err;
    struct bsn_quantity q;
    assert_int_equal(bsn_quantity_parse("abc", &q, &err), -1);
    assert_string_equal(err.msg, "quantity \"abc\": quantities must match the regular expression "
                                 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

static void
test_values(void **state)
{
    struct bsn_err err;
    struct bsn_quantity q;
    assert_int_equal(bsn_quantity_parse("100m", &q, &err), 0);
    assert_int_equal(bsn_quantity_milli(&q), 100);
    assert_int_equal(bsn_quantity_value(&q), 1); /* rounds up */
    assert_int_equal(bsn_quantity_parse("2Gi", &q, &err), 0);
    assert_int_equal(bsn_quantity_value(&q), 2147483648LL);
    assert_int_equal(bsn_quantity_milli(&q), 2147483648000LL);
    assert_int_equal(bsn_quantity_parse("1.5", &q, &err), 0);
    assert_int_equal(bsn_quantity_value(&q), 2);
    assert_int_equal(bsn_quantity_milli(&q), 1500);
    assert_int_equal(bsn_quantity_parse("0.5m", &q, &err), 0);
    assert_int_equal(bsn_quantity_milli(&q), 1);
    assert_int_equal(bsn_quantity_parse("-1.5", &q, &err), 0);
    assert_int_equal(bsn_quantity_value(&q), -2); /* away from zero */
    assert_int_equal(bsn_quantity_parse("8Ei", &q, &err), 0);
    assert_int_equal(bsn_quantity_value(&q), INT64_MAX); /* saturates */
    assert_int_equal(bsn_quantity_milli(&q), INT64_MAX);

    struct bsn_quantity a, b;
    bsn_quantity_parse("1", &a, &err);
    bsn_quantity_parse("1000m", &b, &err);
    assert_int_equal(bsn_quantity_cmp(&a, &b), 0);
    bsn_quantity_parse("1Gi", &b, &err);
    assert_true(bsn_quantity_cmp(&a, &b) < 0);
    assert_true(bsn_quantity_cmp(&b, &a) > 0);

    bsn_quantity_parse("500m", &a, &err);
    bsn_quantity_parse("1.5", &b, &err);
    bsn_quantity_add(&a, &b);
    char s[BSN_QUANTITY_STR_MAX];
    bsn_quantity_format(&a, s, sizeof(s));
    assert_string_equal(s, "2");
    bsn_quantity_sub(&a, &b);
    bsn_quantity_sub(&a, &b);
    bsn_quantity_format(&a, s, sizeof(s));
    assert_string_equal(s, "-1");
    bsn_quantity_parse("1Gi", &a, &err);
    bsn_quantity_parse("1Gi", &b, &err);
    bsn_quantity_add(&a, &b);
    bsn_quantity_format(&a, s, sizeof(s));
    assert_string_equal(s, "2Gi");
    /* zero takes the other operand's format */
    struct bsn_quantity z = bsn_quantity_from_int(0, BSN_QTY_DECIMAL_SI);
    bsn_quantity_add(&z, &b);
    bsn_quantity_format(&z, s, sizeof(s));
    assert_string_equal(s, "1Gi");
    z = bsn_quantity_from_milli(250, BSN_QTY_DECIMAL_SI);
    bsn_quantity_format(&z, s, sizeof(s));
    assert_string_equal(s, "250m");

    json_t *n = json_integer(3);
    assert_int_equal(bsn_quantity_from_json(n, &q, &err), 0);
    assert_int_equal(bsn_quantity_milli(&q), 3000);
    json_decref(n);
    n = json_real(0.5);
    assert_int_equal(bsn_quantity_from_json(n, &q, &err), 0);
    assert_int_equal(bsn_quantity_milli(&q), 500);
    json_decref(n);
    n = json_real(0.1);
    assert_int_equal(bsn_quantity_from_json(n, &q, &err), 0);
    char s2[BSN_QUANTITY_STR_MAX];
    bsn_quantity_format(&q, s2, sizeof(s2));
    assert_string_equal(s2, "100m");
    json_decref(n);
    n = json_real(1e20);
    assert_int_equal(bsn_quantity_from_json(n, &q, &err), 0);
    bsn_quantity_format(&q, s2, sizeof(s2));
    assert_string_equal(s2, "100e18"); /* exponents stop at 18 (E) */
    json_decref(n);
    n = json_true();
    assert_int_equal(bsn_quantity_from_json(n, &q, &err), -1);
}

static void
test_durations(void **state)
{
    static const struct {
        const char *in;
        int64_t ns;
        const char *out;
    } ok[] = {
        {"1h30m", 5400000000000LL, "1h30m0s"},
        {"500ms", 500000000LL, "500ms"},
        {"0", 0, "0s"},
        {"1.5s", 1500000000LL, "1.5s"},
        {"-2m", -120000000000LL, "-2m0s"},
        {"10us", 10000, "10µs"},
        {"10µs", 10000, "10µs"},
        {"3ns", 3, "3ns"},
        {"1h1m1s", 3661000000000LL, "1h1m1s"},
        {".5m", 30000000000LL, "30s"},
        {"2m0.5s", 120500000000LL, "2m0.5s"},
        {"72h", 259200000000000LL, "72h0m0s"},
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(ok); i++) {
        struct bsn_err err;
        int64_t ns = -1;
        if (bsn_duration_parse(ok[i].in, &ns, &err))
            printf("%s: %s\n", ok[i].in, err.msg);
        assert_int_equal(ns, ok[i].ns);
        char s[32];
        bsn_duration_format(ns, s, sizeof(s));
        assert_string_equal(s, ok[i].out);
    }
    struct bsn_err err;
    int64_t ns;
    assert_int_equal(bsn_duration_parse("1", &ns, &err), -1);
    assert_string_equal(err.msg, "time: missing unit in duration \"1\"");
    assert_int_equal(bsn_duration_parse("1d", &ns, &err), -1);
    assert_string_equal(err.msg, "time: unknown unit \"d\" in duration \"1d\"");
    assert_int_equal(bsn_duration_parse("", &ns, &err), -1);
    assert_string_equal(err.msg, "time: invalid duration \"\"");
    assert_int_equal(bsn_duration_parse("h", &ns, &err), -1);
    assert_int_equal(bsn_duration_parse("99999999999h", &ns, &err), -1);
}

static void
test_intstr(void **state)
{
    struct bsn_err err;
    int64_t out;
    json_t *v = json_string("25%");
    assert_int_equal(bsn_intstr_scaled(v, 10, true, &out, &err), 0);
    assert_int_equal(out, 3);
    assert_int_equal(bsn_intstr_scaled(v, 10, false, &out, &err), 0);
    assert_int_equal(out, 2);
    assert_true(bsn_intstr_valid(v));
    json_decref(v);
    v = json_integer(4);
    assert_int_equal(bsn_intstr_scaled(v, 10, true, &out, &err), 0);
    assert_int_equal(out, 4);
    json_decref(v);
    v = json_string("100%");
    assert_int_equal(bsn_intstr_scaled(v, 7, false, &out, &err), 0);
    assert_int_equal(out, 7);
    json_decref(v);
    v = json_string("5");
    assert_int_equal(bsn_intstr_scaled(v, 7, false, &out, &err), -1);
    assert_int_equal(err.code, 400);
    assert_false(bsn_intstr_valid(v));
    json_decref(v);
    v = json_string("x%");
    assert_false(bsn_intstr_valid(v));
    json_decref(v);
}

static void
test_quantity_from_json_value(void **state)
{
    (void)state;
    json_t *v = json_string("250m");
    assert_int_equal(bsn_quantity_json_value(v, true), 250);
    assert_int_equal(bsn_quantity_json_value(v, false), 1); /* rounded up */
    json_decref(v);
    v = json_string("64Mi");
    assert_int_equal(bsn_quantity_json_value(v, false), 64 * 1024 * 1024);
    json_decref(v);
    v = json_integer(3);
    assert_int_equal(bsn_quantity_json_value(v, true), 3000);
    json_decref(v);
    v = json_string("lots");
    assert_int_equal(bsn_quantity_json_value(v, false), 0);
    json_decref(v);
    assert_int_equal(bsn_quantity_json_value(NULL, true), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_intstr),
        cmocka_unit_test(test_quantity_from_json_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
