/*
 * test_base.c - unit tests for src/base: buffers, errors, time.
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
#include "base/err.h"
#include "base/map.h"
#include "base/hostaddr.h"
#include "base/lazylib.h"
#include "base/mem.h"
#include "base/time.h"

static void
test_buf_grows_and_consumes(void **state)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        bsn_buf_printf(&b, "%d,", i);
    assert_true(b.len > 3000);
    assert_memory_equal(b.data, "0,1,2,", 6);
    bsn_buf_consume(&b, 2);
    assert_memory_equal(b.data, "1,2,", 4);
    assert_int_equal(b.data[b.len], '\0');
    char *s = bsn_buf_take(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
}

static void
test_str_views(void **state)
{
    struct bsn_str s = bsn_str_c("Content-Length");
    assert_true(bsn_str_case_eq(s, "content-length"));
    assert_false(bsn_str_eq(s, "content-length"));
    assert_true(bsn_str_has_prefix(s, "Content"));
    assert_false(bsn_str_has_prefix(s, "Content-Length-X"));
}

static void
test_err_prefix_and_causes(void **state)
{
    struct bsn_err e;
    bsn_err_clear(&e);
    assert_false(bsn_err_is_set(&e));
    assert_int_equal(bsn_err_set(&e, 422, "Invalid", "name %s is bad", "X"), -1);
    bsn_err_prefix(&e, "create configmap %s", "default/x");
    assert_string_equal(e.msg, "create configmap default/x: name X is bad");
    bsn_err_add_cause(&e, "FieldValueInvalid", "metadata.name", "must be lowercase");
    assert_int_equal(e.ncauses, 1);
    assert_string_equal(e.causes[0].field, "metadata.name");
    assert_int_equal(e.code, 422);
}

static void
test_time_roundtrip(void **state)
{
    char out[64];
    bsn_time_format(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    time_t t;
    assert_int_equal(bsn_time_parse("2024-02-29T12:34:56Z", &t), 0);
    bsn_time_format(t, out, sizeof(out));
    assert_string_equal(out, "2024-02-29T12:34:56Z");
    assert_int_equal(bsn_time_parse("2024-02-29T14:34:56.123+02:00", &t), 0);
    bsn_time_format(t, out, sizeof(out));
    assert_string_equal(out, "2024-02-29T12:34:56Z");
    assert_int_equal(bsn_time_parse("yesterday", &t), -1);
    assert_int_equal(bsn_time_parse("2024-02-29T12:34:56", &t), -1);
    bsn_time_format_micro(1500000, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:01.500000Z");
}

static void
test_map_put_get_del(void **state)
{
    struct bsn_map m;
    bsn_map_init(&m);
    char key[32];
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        assert_null(bsn_map_put(&m, key, (void *)(i + 1)));
    }
    assert_int_equal(m.len, 5000);
    for (long i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "k%ld", i);
        assert_ptr_equal(bsn_map_del(&m, key), (void *)(i + 1));
    }
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        void *v = bsn_map_get(&m, key);
        if (i % 2)
            assert_ptr_equal(v, (void *)(i + 1));
        else
            assert_null(v);
    }
    assert_ptr_equal(bsn_map_put(&m, "k1", (void *)7), (void *)2);
    size_t it = 0, n = 0;
    const char *k;
    void *v;
    while (bsn_map_next(&m, &it, &k, &v))
        n++;
    assert_int_equal(n, 2500);
    bsn_map_fini(&m);
}

static void
test_cidr4(void **state)
{
    (void)state;
    uint32_t net;
    unsigned p;
    assert_int_equal(bsn_cidr4_parse("10.43.0.0/16", 12, 24, &net, &p), 0);
    assert_int_equal(net, 0x0a2b0000u);
    assert_int_equal(p, 16);
    char buf[32];
    bsn_ip4_format(net, 10, buf, sizeof(buf));
    assert_string_equal(buf, "10.43.0.10");
    bsn_ip4_format(net, 0x1234, buf, sizeof(buf));
    assert_string_equal(buf, "10.43.18.52");
    assert_int_equal(bsn_cidr4_parse("10.96.0.0/12", 12, 24, &net, &p), 0);
    assert_int_equal(p, 12);
    assert_int_equal(bsn_cidr4_parse("10.43.0.1/16", 12, 24, &net, &p), -1); /* host bits */
    assert_int_equal(bsn_cidr4_parse("10.43.0.0/8", 12, 24, &net, &p), -1);  /* too large */
    assert_int_equal(bsn_cidr4_parse("10.43.0.0/25", 12, 24, &net, &p), -1); /* too small */
    assert_int_equal(bsn_cidr4_parse("10.43.0.0", 12, 24, &net, &p), -1);
    assert_int_equal(bsn_cidr4_parse("10.43.0.0/", 12, 24, &net, &p), -1);
    assert_int_equal(bsn_cidr4_parse("10.43.0.0/1x", 12, 24, &net, &p), -1);
    assert_int_equal(bsn_cidr4_parse("fd00::/64", 12, 24, &net, &p), -1);
    assert_int_equal(bsn_cidr4_parse(NULL, 12, 24, &net, &p), -1);
}

static struct bsn_lazylib z_lib = BSN_LAZYLIB("libz.so.1", "the test needs it");
static struct bsn_lazylib no_lib = BSN_LAZYLIB("libbosun-no-such.so.7", "the test needs it");

unsigned long lazy_adler32_probe(void);
int lazy_missing_probe(int x);
BSN_LAZY_FN(z_lib, unsigned long, lazy_adler32_probe, (void), (), 0)
BSN_LAZY_FN(no_lib, int, lazy_missing_probe, (int x), (x), -7)

static void
test_lazylib(void **state)
{
    (void)state;
    assert_string_equal(bsn_lazylib_error(&z_lib), "");
    typedef unsigned long (*adler_fn)(unsigned long, const unsigned char *, unsigned);
    adler_fn adler = (adler_fn)bsn_lazylib_sym(&z_lib, "adler32");
    assert_non_null(adler);
    assert_int_equal(adler(1, (const unsigned char *)"abc", 3), 0x024d0127);
    assert_string_equal(bsn_lazylib_error(&z_lib), "");
    assert_null(bsn_lazylib_sym(&z_lib, "no_such_symbol_in_zlib"));
    /* a forwarder whose symbol the library lacks returns its fail value */
    assert_int_equal(lazy_adler32_probe(), 0);
    /* a missing library: NULL, the fail value, and why */
    assert_null(bsn_lazylib_sym(&no_lib, "anything"));
    assert_int_equal(lazy_missing_probe(3), -7);
    assert_non_null(strstr(bsn_lazylib_error(&no_lib),
                           "cannot load libbosun-no-such.so.7 (the test needs it)"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_consumes),
        cmocka_unit_test(test_str_views),
        cmocka_unit_test(test_err_prefix_and_causes),
        cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_map_put_get_del),
        cmocka_unit_test(test_cidr4),
        cmocka_unit_test(test_lazylib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
