/*
 * kinds_test.h - helpers shared by the kinds unit tests: JSON literals, running a strategy's
 * defaults + validation, and looking for a cause in the resulting error.
 */
#ifndef BSN_TEST_KINDS_H
#define BSN_TEST_KINDS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/kinds/kinds.h"
#include "api/registry.h"
#include "base/err.h"
#include "base/time.h"

static inline json_t *
J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("bad JSON in test: %s at %d: %s", e.text, e.position, text);
    return v;
}

/* Runs defaults then validate (as the API server does on create); returns validate's rc. */
static inline int
create_check(const struct bsn_strategy *st, json_t *obj, struct bsn_err *err)
{
    bsn_err_clear(err);
    if (st->prepare_create)
        st->prepare_create(obj);
    if (st->defaults)
        st->defaults(obj);
    return st->validate ? st->validate(obj, NULL, err) : 0;
}

/* Index of the cause with this field whose message contains msg, or -1. */
static inline int
find_cause(const struct bsn_err *err, const char *field, const char *msg)
{
    for (int i = 0; i < err->ncauses; i++)
        if (strcmp(err->causes[i].field, field) == 0 &&
            (!msg || strstr(err->causes[i].message, msg)))
            return i;
    return -1;
}

static inline void
dump_causes(const struct bsn_err *err)
{
    for (int i = 0; i < err->ncauses; i++)
        fprintf(stderr, "  cause %s %s: %s\n", err->causes[i].reason, err->causes[i].field,
                err->causes[i].message);
}

#define assert_cause(err, field, msg)                                 \
    do {                                                              \
        if (find_cause((err), (field), (msg)) < 0) {                  \
            dump_causes(err);                                         \
            fail_msg("no cause %s: %s", (field), (msg) ? (msg) : ""); \
        }                                                             \
    } while (0)

#define assert_no_causes(err)              \
    do {                                   \
        if ((err)->ncauses) {              \
            dump_causes(err);              \
            fail_msg("unexpected causes"); \
        }                                  \
    } while (0)

/* Column count of a strategy. */
static inline size_t
ncolumns(const struct bsn_strategy *st)
{
    size_t n = 0;
    while (st->columns && st->columns[n].name)
        n++;
    return n;
}

/* Row cells for obj; asserts one cell per column. Caller decrefs. */
static inline json_t *
row_of(const struct bsn_strategy *st, const json_t *obj)
{
    json_t *cells = json_array();
    st->row(obj, cells);
    assert_int_equal(json_array_size(cells), ncolumns(st));
    return cells;
}

/* Cell text by column name ("" if not a string). */
static inline const char *
cell(const struct bsn_strategy *st, const json_t *cells, const char *col)
{
    for (size_t i = 0; st->columns[i].name; i++)
        if (strcmp(st->columns[i].name, col) == 0)
            return json_string_value(json_array_get(cells, i)) ?: "";
    fail_msg("no column %s", col);
    return "";
}

static inline json_int_t
cell_int(const struct bsn_strategy *st, const json_t *cells, const char *col)
{
    for (size_t i = 0; st->columns[i].name; i++)
        if (strcmp(st->columns[i].name, col) == 0)
            return json_integer_value(json_array_get(cells, i));
    fail_msg("no column %s", col);
    return -1;
}

/* RFC 3339 timestamp `ago` seconds before now. */
static inline const char *
ts_ago(long ago, char *buf, size_t n)
{
    bsn_time_format(bsn_time_now() - ago, buf, n);
    return buf;
}

#endif
