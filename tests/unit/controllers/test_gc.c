/*
 * test_gc.c - table-driven tests of the garbage collector's decision (gc.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controllers/gc.h"

#define S BSN_GC_SOLID
#define D BSN_GC_DANGLING
#define W BSN_GC_WAITING
#define U BSN_GC_UNKNOWN

static void
test_decide(void **state)
{
    struct {
        const char *name;
        size_t n;
        enum bsn_gc_owner st[3];
        enum bsn_gc_action want;
        const char *kept; /* uids left by a patch */
    } cases[] = {
        {"no owners", 0, {S}, BSN_GC_KEEP, NULL},
        {"owner exists", 1, {S}, BSN_GC_KEEP, NULL},
        {"owner gone", 1, {D}, BSN_GC_DELETE, NULL},
        {"not confirmed yet", 1, {U}, BSN_GC_KEEP, NULL},
        {"two gone", 2, {D, D}, BSN_GC_DELETE, NULL},
        {"one gone one unconfirmed", 2, {D, U}, BSN_GC_KEEP, NULL},
        {"one gone one live", 2, {D, S}, BSN_GC_PATCH, "u1"},
        {"waiting and live", 3, {S, W, D}, BSN_GC_PATCH, "u0"},
        {"only waiting owner", 1, {W}, BSN_GC_DELETE, NULL},
        {"live and unconfirmed", 2, {S, U}, BSN_GC_KEEP, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *refs = json_array();
        for (size_t j = 0; j < cases[i].n; j++) {
            char uid[8];
            snprintf(uid, sizeof(uid), "u%zu", j);
            json_array_append_new(refs, json_pack("{s:s,s:s}", "uid", uid, "name", "o"));
        }
        json_t *keep;
        enum bsn_gc_action a = bsn_gc_decide(refs, cases[i].st, &keep);
        print_message("%s -> %d\n", cases[i].name, a);
        assert_int_equal(a, cases[i].want);
        if (a == BSN_GC_PATCH) {
            assert_int_equal(json_array_size(keep), 1);
            assert_string_equal(json_string_value(json_object_get(json_array_get(keep, 0), "uid")),
                                cases[i].kept);
        } else {
            assert_null(keep);
        }
        json_decref(keep);
        json_decref(refs);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_decide)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
