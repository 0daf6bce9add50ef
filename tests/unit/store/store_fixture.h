/*
 * store_fixture.h - shared helpers for the store unit tests: a fixture that opens either
 * backend in a fresh temporary directory, "reopen" (a real close/open for SQLite, a no-op for
 * memory), and one-op commit shorthands. Included by the test_store*.c files only.
 */
#ifndef BSN_TEST_STORE_FIXTURE_H
#define BSN_TEST_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "store/store.h"

struct fixture {
    struct bsn_store *st;
    bool sqlite;
    char dir[128];
    char path[192];
    struct bsn_store_opts opts;
};

static inline struct bsn_store *
fx_open_sqlite(struct fixture *fx)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_store *st = NULL;
    int rc = bsn_store_open_sqlite(fx->path, &fx->opts, &st, &err);
    if (rc != 0)
        fail_msg("open %s: %s", fx->path, err.msg);
    return st;
}

static inline int
fx_setup(void **state, bool sqlite)
{
    struct fixture *fx = bsn_calloc(1, sizeof(*fx));
    fx->sqlite = sqlite;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/bsn-store-test-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/state.db", fx->dir);
    if (sqlite)
        fx->st = fx_open_sqlite(fx);
    else
        bsn_store_open_memory(&fx->st);
    *state = fx;
    return 0;
}

static inline int
fx_setup_memory(void **state)
{
    return fx_setup(state, false);
}

static inline int
fx_setup_sqlite(void **state)
{
    return fx_setup(state, true);
}

static inline int
fx_teardown(void **state)
{
    struct fixture *fx = *state;
    bsn_store_close(fx->st);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

/* Closes and reopens a SQLite store (no-op for memory, which cannot survive a close). */
static inline void
fx_reopen(struct fixture *fx)
{
    if (!fx->sqlite)
        return;
    bsn_store_close(fx->st);
    fx->st = fx_open_sqlite(fx);
}

/* Commits one op and returns it (with result/rev filled); fails the test on I/O error. */
static inline struct bsn_store_op
fx_op(struct bsn_store *st, enum bsn_store_op_type type, const char *key, const char *value,
      int64_t expect)
{
    struct bsn_store_op op = {.type = type,
                              .key = key,
                              .value = value,
                              .value_len = value ? strlen(value) : 0,
                              .expect_rev = expect};
    struct bsn_err err;
    bsn_err_clear(&err);
    int rc = bsn_store_commit(st, &op, 1, &err);
    if (rc != 0)
        fail_msg("commit %s: %s", key, err.msg);
    return op;
}

static inline int64_t
fx_create(struct bsn_store *st, const char *key, const char *value)
{
    struct bsn_store_op op = fx_op(st, BSN_STORE_CREATE, key, value, 0);
    assert_int_equal(op.result, 0);
    return op.rev;
}

static inline int64_t
fx_update(struct bsn_store *st, const char *key, const char *value)
{
    struct bsn_store_op op = fx_op(st, BSN_STORE_UPDATE, key, value, 0);
    assert_int_equal(op.result, 0);
    return op.rev;
}

static inline int64_t
fx_delete(struct bsn_store *st, const char *key)
{
    struct bsn_store_op op = fx_op(st, BSN_STORE_DELETE, key, NULL, 0);
    assert_int_equal(op.result, 0);
    return op.rev;
}

/* Asserts key's current value (NULL = absent). */
static inline void
fx_expect(struct bsn_store *st, const char *key, const char *value)
{
    struct bsn_store_kv kv;
    struct bsn_err err;
    bsn_err_clear(&err);
    int rc = bsn_store_get(st, key, &kv, &err);
    if (!value) {
        assert_int_equal(rc, -ENOENT);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(kv.key, key);
    assert_int_equal(kv.value_len, strlen(value));
    assert_string_equal(kv.value, value);
    bsn_store_kv_fini(&kv);
}

static inline int64_t
fx_rows(struct bsn_store *st)
{
    struct bsn_store_stats stats;
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_store_stats(st, &stats, &err), 0);
    return stats.rows;
}

#endif
