/*
 * test_store.c - store semantics, run against BOTH backends (memory and SQLite) from one
 * table of test functions: create/update/delete and preconditions, batch independence,
 * list paging, events_since, compaction, revisions across reopen, value edge cases.
 */
#include "store_fixture.h"

static void
t_create_get(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    assert_int_equal(bsn_store_current_rev(st), 0);
    fx_expect(st, "/registry/pods/default/a", NULL);
    assert_int_equal(fx_create(st, "/registry/pods/default/a", "{\"a\":1}"), 1);
    assert_int_equal(fx_create(st, "/registry/pods/default/b", "{\"b\":1}"), 2);
    fx_expect(st, "/registry/pods/default/a", "{\"a\":1}");

    struct bsn_store_op op = fx_op(st, BSN_STORE_CREATE, "/registry/pods/default/a", "x", 0);
    assert_int_equal(op.result, -EEXIST);
    assert_int_equal(op.cur_rev, 1);
    assert_int_equal(op.rev, 0);
    assert_int_equal(bsn_store_current_rev(st), 2);

    struct bsn_store_kv kv;
    assert_int_equal(bsn_store_get(st, "/registry/pods/default/b", &kv, NULL), 0);
    assert_int_equal(kv.create_rev, 2);
    assert_int_equal(kv.mod_rev, 2);
    bsn_store_kv_fini(&kv);
    fx_reopen(fx);
    fx_expect(fx->st, "/registry/pods/default/b", "{\"b\":1}");
    assert_int_equal(bsn_store_current_rev(fx->st), 2);
}

static void
t_update_delete_preconditions(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    int64_t r1 = fx_create(st, "/k", "v1");
    struct bsn_store_op op = fx_op(st, BSN_STORE_UPDATE, "/k", "v2", r1 + 5);
    assert_int_equal(op.result, -ESTALE);
    assert_int_equal(op.cur_rev, r1);
    fx_expect(st, "/k", "v1");

    op = fx_op(st, BSN_STORE_UPDATE, "/k", "v2", r1);
    assert_int_equal(op.result, 0);
    assert_int_equal(op.rev, r1 + 1);
    assert_int_equal(op.create_rev, r1);
    int64_t r2 = op.rev;

    assert_int_equal(fx_op(st, BSN_STORE_UPDATE, "/missing", "x", 0).result, -ENOENT);
    assert_int_equal(fx_op(st, BSN_STORE_DELETE, "/missing", NULL, 0).result, -ENOENT);
    assert_int_equal(fx_op(st, BSN_STORE_DELETE, "/k", NULL, r1).result, -ESTALE);
    fx_expect(st, "/k", "v2");

    op = fx_op(st, BSN_STORE_DELETE, "/k", NULL, r2);
    assert_int_equal(op.result, 0);
    assert_int_equal(op.rev, r2 + 1);
    fx_expect(st, "/k", NULL);
    assert_int_equal(fx_op(st, BSN_STORE_UPDATE, "/k", "v3", 0).result, -ENOENT);
    assert_int_equal(fx_op(st, BSN_STORE_DELETE, "/k", NULL, 0).result, -ENOENT);

    /* Re-creating after delete starts a new incarnation. */
    op = fx_op(st, BSN_STORE_CREATE, "/k", "again", 0);
    assert_int_equal(op.result, 0);
    assert_int_equal(op.rev, r2 + 2);
    assert_int_equal(op.create_rev, r2 + 2);
    struct bsn_store_kv kv;
    assert_int_equal(bsn_store_get(st, "/k", &kv, NULL), 0);
    assert_int_equal(kv.create_rev, r2 + 2);
    assert_string_equal(kv.value, "again");
    bsn_store_kv_fini(&kv);
    assert_int_equal(bsn_store_current_rev(st), r2 + 2);
}

static void
t_batch_independence(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    int64_t base = fx_create(st, "/b/existing", "e");
    char longkey[BSN_STORE_KEY_MAX + 2];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    struct bsn_store_op ops[] = {
        {.type = BSN_STORE_CREATE, .key = "/b/a", .value = "a1", .value_len = 2},
        {.type = BSN_STORE_CREATE, .key = "/b/a", .value = "dup", .value_len = 3},
        {.type = BSN_STORE_UPDATE, .key = "/b/nope", .value = "n", .value_len = 1},
        {.type = BSN_STORE_UPDATE, .key = "/b/a", .value = "a2", .value_len = 2},
        {.type = BSN_STORE_UPDATE,
         .key = "/b/existing",
         .value = "x",
         .value_len = 1,
         .expect_rev = 999},
        {.type = BSN_STORE_CREATE, .key = "", .value = "", .value_len = 0},
        {.type = BSN_STORE_CREATE, .key = longkey, .value = "", .value_len = 0},
        {.type = BSN_STORE_DELETE, .key = "/b/existing", .expect_rev = base},
        {.type = BSN_STORE_CREATE, .key = "/b/existing", .value = "new", .value_len = 3},
    };
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_store_commit(st, ops, BSN_ARRAY_LEN(ops), &err), 0);
    int want[] = {0, -EEXIST, -ENOENT, 0, -ESTALE, -EINVAL, -EINVAL, 0, 0};
    int64_t want_rev[] = {base + 1, 0, 0, base + 2, 0, 0, 0, base + 3, base + 4};
    for (size_t i = 0; i < BSN_ARRAY_LEN(ops); i++) {
        assert_int_equal(ops[i].result, want[i]);
        assert_int_equal(ops[i].rev, want_rev[i]);
    }
    assert_int_equal(ops[3].create_rev, base + 1);
    assert_int_equal(bsn_store_current_rev(st), base + 4);
    fx_reopen(fx);
    fx_expect(fx->st, "/b/a", "a2");
    fx_expect(fx->st, "/b/existing", "new");
    fx_expect(fx->st, "/b/nope", NULL);

    /* A batch in which everything fails consumes no revision. */
    struct bsn_store_op bad = {
        .type = BSN_STORE_UPDATE, .key = "/b/zzz", .value = "1", .value_len = 1};
    assert_int_equal(bsn_store_commit(fx->st, &bad, 1, &err), 0);
    assert_int_equal(bad.result, -ENOENT);
    assert_int_equal(bsn_store_current_rev(fx->st), base + 4);
}

struct collect {
    char keys[64][64];
    int64_t revs[64];
    int n;
    int stop_at;
};

static int
collect_cb(const struct bsn_store_kv *kv, void *data)
{
    struct collect *c = data;
    assert_true(c->n < 64);
    snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", kv->key);
    c->revs[c->n] = kv->mod_rev;
    assert_int_equal(strlen(kv->value), kv->value_len);
    c->n++;
    return c->stop_at && c->n >= c->stop_at;
}

static void
t_list(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    char key[64], val[64];
    /* Insert out of order so key order is not insertion order. */
    for (int i = 9; i >= 0; i--) {
        snprintf(key, sizeof(key), "/r/pods/ns1/p%d", i);
        snprintf(val, sizeof(val), "pod-%d", i);
        fx_create(st, key, val);
        snprintf(key, sizeof(key), "/r/pods/ns2/p%d", i);
        fx_create(st, key, val);
    }
    fx_create(st, "/r/pods/ns10/x", "x");
    fx_create(st, "/r/podsX/y", "y");
    fx_create(st, "/r/services/ns1/s", "s");
    fx_update(st, "/r/pods/ns1/p3", "pod-3-v2");
    fx_delete(st, "/r/pods/ns1/p5");
    fx_reopen(fx);
    st = fx->st;

    struct collect c = {0};
    assert_int_equal(bsn_store_list(st, "/r/pods/ns1/", NULL, 0, collect_cb, &c, NULL), 9);
    assert_int_equal(c.n, 9);
    assert_string_equal(c.keys[0], "/r/pods/ns1/p0");
    assert_string_equal(c.keys[3], "/r/pods/ns1/p3");
    assert_string_equal(c.keys[5], "/r/pods/ns1/p6"); /* p5 deleted */
    assert_int_equal(c.revs[3], bsn_store_current_rev(st) - 1);
    for (int i = 1; i < c.n; i++)
        assert_true(strcmp(c.keys[i - 1], c.keys[i]) < 0);
    assert_int_equal(bsn_store_count(st, "/r/pods/ns1/", NULL), 9);

    /* "/r/pods/" covers ns1, ns10 and ns2 but not "/r/podsX". */
    assert_int_equal(bsn_store_count(st, "/r/pods/", NULL), 20);
    assert_int_equal(bsn_store_count(st, "", NULL), 22);
    assert_int_equal(bsn_store_count(st, "/nothing", NULL), 0);

    /* Paging with start_after + limit visits every key exactly once. */
    char after[64] = "";
    int pages = 0, total = 0;
    for (;;) {
        memset(&c, 0, sizeof(c));
        int n = bsn_store_list(st, "/r/pods/", after[0] ? after : NULL, 6, collect_cb, &c, NULL);
        assert_true(n >= 0 && n <= 6);
        if (n == 0)
            break;
        if (total > 0)
            assert_true(strcmp(c.keys[0], after) > 0);
        total += n;
        pages++;
        snprintf(after, sizeof(after), "%s", c.keys[n - 1]);
    }
    assert_int_equal(total, 20);
    assert_int_equal(pages, 4);
    assert_string_equal(after, "/r/pods/ns2/p9");

    /* start_after before the prefix starts at the prefix; after the range yields nothing. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(bsn_store_list(st, "/r/pods/ns2/", "/a", 2, collect_cb, &c, NULL), 2);
    assert_string_equal(c.keys[0], "/r/pods/ns2/p0");
    memset(&c, 0, sizeof(c));
    assert_int_equal(bsn_store_list(st, "/r/pods/ns2/", "/z", 0, collect_cb, &c, NULL), 0);

    /* The callback can stop early. */
    memset(&c, 0, sizeof(c));
    c.stop_at = 3;
    assert_int_equal(bsn_store_list(st, "", NULL, 0, collect_cb, &c, NULL), 3);
    assert_int_equal(c.n, 3);
}

struct evlog {
    int n;
    int64_t revs[64];
    int types[64];
    bool created[64];
    char keys[64][32];
    char values[64][32];
    char prev[64][32];
};

static int
ev_cb(const struct bsn_store_event *ev, void *data)
{
    struct evlog *l = data;
    assert_true(l->n < 64);
    int i = l->n++;
    l->revs[i] = ev->kv.mod_rev;
    l->types[i] = ev->type;
    l->created[i] = ev->created;
    snprintf(l->keys[i], sizeof(l->keys[i]), "%s", ev->kv.key);
    snprintf(l->values[i], sizeof(l->values[i]), "%s", ev->kv.value);
    snprintf(l->prev[i], sizeof(l->prev[i]), "%s", ev->prev ? ev->prev->value : "-");
    return 0;
}

static void
t_events_since(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    fx_create(st, "/e/a", "a1"); /* 1 */
    fx_create(st, "/e/b", "b1"); /* 2 */
    fx_update(st, "/e/a", "a2"); /* 3 */
    fx_delete(st, "/e/b");       /* 4 */
    struct bsn_store_op op = {
        .type = BSN_STORE_DELETE, .key = "/e/a", .value = "final", .value_len = 5}; /* 5 */
    assert_int_equal(bsn_store_commit(st, &op, 1, NULL), 0);
    fx_create(st, "/e/a", "a3"); /* 6 */
    fx_reopen(fx);
    st = fx->st;

    struct evlog l = {0};
    assert_int_equal(bsn_store_events_since(st, 0, ev_cb, &l, NULL), 6);
    int64_t want_rev[] = {1, 2, 3, 4, 5, 6};
    int want_type[] = {BSN_STORE_EV_PUT,    BSN_STORE_EV_PUT,    BSN_STORE_EV_PUT,
                       BSN_STORE_EV_DELETE, BSN_STORE_EV_DELETE, BSN_STORE_EV_PUT};
    bool want_created[] = {true, true, false, false, false, true};
    const char *want_val[] = {"a1", "b1", "a2", "b1", "final", "a3"};
    const char *want_prev[] = {"-", "-", "a1", "b1", "a2", "-"};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(l.revs[i], want_rev[i]);
        assert_int_equal(l.types[i], want_type[i]);
        assert_int_equal(l.created[i], want_created[i]);
        assert_string_equal(l.values[i], want_val[i]);
        assert_string_equal(l.prev[i], want_prev[i]);
    }
    assert_string_equal(l.keys[3], "/e/b");

    memset(&l, 0, sizeof(l));
    assert_int_equal(bsn_store_events_since(st, 4, ev_cb, &l, NULL), 2);
    assert_int_equal(l.revs[0], 5);
    memset(&l, 0, sizeof(l));
    assert_int_equal(bsn_store_events_since(st, 6, ev_cb, &l, NULL), 0);
    assert_int_equal(bsn_store_events_since(st, 100, ev_cb, &l, NULL), 0);
}

/* Counts events and checks they are strictly increasing. */
static int
ev_count_cb(const struct bsn_store_event *ev, void *data)
{
    int64_t *last = data;
    assert_true(ev->kv.mod_rev > last[0]);
    last[0] = ev->kv.mod_rev;
    last[1]++;
    return 0;
}

static void
t_compaction(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    char key[32], val[32];
    /* 10 keys x 20 versions, then delete keys 0-2: 200 + 3 rows. */
    for (int v = 0; v < 20; v++)
        for (int k = 0; k < 10; k++) {
            snprintf(key, sizeof(key), "/c/k%d", k);
            snprintf(val, sizeof(val), "k%d-v%d", k, v);
            if (v == 0)
                fx_create(st, key, val);
            else
                fx_update(st, key, val);
        }
    int64_t mid = bsn_store_current_rev(st); /* 200 */
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof(key), "/c/k%d", k);
        fx_delete(st, key);
    }
    int64_t end = bsn_store_current_rev(st);
    assert_int_equal(end, 203);
    assert_int_equal(fx_rows(st), 203);

    struct bsn_err err;
    bsn_err_clear(&err);
    /* Compact to `mid` in small steps: each step processes at most the budget. */
    int steps = 0, rc;
    while ((rc = bsn_store_compact(st, mid, 16, &err)) > 0) {
        assert_true(rc <= 16);
        assert_true(bsn_store_compact_rev(st) <= mid);
        steps++;
    }
    assert_int_equal(rc, 0);
    assert_true(steps >= 200 / 16);
    assert_int_equal(bsn_store_compact_rev(st), mid);
    /* The newest version <= mid of each of the 10 keys survives, plus the 3 tombstones. */
    assert_int_equal(fx_rows(st), 13);
    for (int k = 0; k < 10; k++) {
        snprintf(key, sizeof(key), "/c/k%d", k);
        snprintf(val, sizeof(val), "k%d-v19", k);
        fx_expect(st, key, k < 3 ? NULL : val);
    }

    /* Too old: 410 Expired; at compact_rev: the 3 deletes, with their previous versions. */
    int64_t acc[2] = {0, 0};
    assert_int_equal(bsn_store_events_since(st, mid - 1, ev_count_cb, acc, &err), -ERANGE);
    assert_int_equal(err.code, 410);
    struct evlog l = {0};
    assert_int_equal(bsn_store_events_since(st, mid, ev_cb, &l, NULL), 3);
    assert_int_equal(l.types[0], BSN_STORE_EV_DELETE);
    assert_string_equal(l.prev[0], "k0-v19");

    fx_reopen(fx);
    st = fx->st;
    assert_int_equal(bsn_store_compact_rev(st), mid);
    /* Compacting everything leaves exactly the live keys. */
    while ((rc = bsn_store_compact(st, end + 100, 0, &err)) > 0)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(bsn_store_compact_rev(st), end);
    assert_int_equal(fx_rows(st), 7);
    assert_int_equal(bsn_store_count(st, "/c/", NULL), 7);
    acc[0] = acc[1] = 0;
    assert_int_equal(bsn_store_events_since(st, end, ev_count_cb, acc, NULL), 0);
    /* Compaction never goes backwards. */
    assert_int_equal(bsn_store_compact(st, 5, 0, &err), 0);
    assert_int_equal(bsn_store_compact_rev(st), end);

    /* The newest row was a tombstone that compaction removed: the revision still moves on. */
    fx_reopen(fx);
    st = fx->st;
    assert_int_equal(bsn_store_current_rev(st), end);
    assert_int_equal(fx_create(st, "/c/k0", "reborn"), end + 1);
    acc[0] = end;
    acc[1] = 0;
    assert_int_equal(bsn_store_events_since(st, end, ev_count_cb, acc, NULL), 1);
}

static void
t_maybe_compact_policy(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    fx_create(st, "/m/a", "0");
    /* 3000 updates of one key, 100 per batch (later ops in a batch see earlier ones). */
    char val[100][16];
    struct bsn_store_op ops[100];
    for (int i = 1; i <= 3000; i += 100) {
        for (int j = 0; j < 100; j++) {
            snprintf(val[j], sizeof(val[j]), "%d", i + j);
            ops[j] = (struct bsn_store_op){.type = BSN_STORE_UPDATE,
                                           .key = "/m/a",
                                           .value = val[j],
                                           .value_len = strlen(val[j]),
                                           .expect_rev = i + j};
        }
        assert_int_equal(bsn_store_commit(st, ops, 100, NULL), 0);
        for (int j = 0; j < 100; j++)
            assert_int_equal(ops[j].rev, i + j + 1);
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    /* One call is bounded: it cannot process all 3000 revisions at once. */
    int rc = bsn_store_maybe_compact(st, 100, &err);
    assert_true(rc > 0 && rc <= 1000);
    assert_true(bsn_store_compact_rev(st) < 3001 - 100);
    while ((rc = bsn_store_maybe_compact(st, 100, &err)) > 0)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(bsn_store_compact_rev(st), 3001 - 100);
    /* Revisions newer than the kept window stay: 100 versions after compact_rev + 1 base. */
    assert_int_equal(fx_rows(st), 101);
    fx_expect(st, "/m/a", "3000");
}

static void
t_values(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    /* Embedded NUL and empty values round-trip with their length. */
    static const char bin[] = {'a', '\0', 'b', '\xff', '\0'};
    struct bsn_store_op ops[] = {
        {.type = BSN_STORE_CREATE, .key = "/v/bin", .value = bin, .value_len = sizeof(bin)},
        {.type = BSN_STORE_CREATE, .key = "/v/empty", .value = NULL, .value_len = 0},
        {.type = BSN_STORE_CREATE,
         .key = "/v/big",
         .value = NULL,
         .value_len = BSN_STORE_VALUE_MAX + 1},
    };
    char *huge = bsn_calloc(1, BSN_STORE_VALUE_MAX + 1);
    ops[2].value = huge;
    assert_int_equal(bsn_store_commit(st, ops, 3, NULL), 0);
    assert_int_equal(ops[0].result, 0);
    assert_int_equal(ops[1].result, 0);
    assert_int_equal(ops[2].result, -E2BIG);
    free(huge);

    size_t mib = 1024 * 1024;
    char *large = bsn_malloc(mib);
    for (size_t i = 0; i < mib; i++)
        large[i] = (char)('a' + i % 26);
    struct bsn_store_op lop = {
        .type = BSN_STORE_CREATE, .key = "/v/large", .value = large, .value_len = mib};
    assert_int_equal(bsn_store_commit(st, &lop, 1, NULL), 0);
    assert_int_equal(lop.result, 0);
    fx_reopen(fx);
    st = fx->st;

    struct bsn_store_kv kv;
    assert_int_equal(bsn_store_get(st, "/v/bin", &kv, NULL), 0);
    assert_int_equal(kv.value_len, sizeof(bin));
    assert_memory_equal(kv.value, bin, sizeof(bin));
    bsn_store_kv_fini(&kv);
    assert_int_equal(bsn_store_get(st, "/v/empty", &kv, NULL), 0);
    assert_int_equal(kv.value_len, 0);
    assert_string_equal(kv.value, "");
    bsn_store_kv_fini(&kv);
    assert_int_equal(bsn_store_get(st, "/v/large", &kv, NULL), 0);
    assert_int_equal(kv.value_len, mib);
    assert_memory_equal(kv.value, large, mib);
    bsn_store_kv_fini(&kv);
    free(large);
    assert_int_equal(bsn_store_get(st, "", &kv, NULL), -ENOENT);
}

#define SHARED_TESTS(setup)                                                                 \
    cmocka_unit_test_setup_teardown(t_create_get, setup, fx_teardown),                      \
        cmocka_unit_test_setup_teardown(t_update_delete_preconditions, setup, fx_teardown), \
        cmocka_unit_test_setup_teardown(t_batch_independence, setup, fx_teardown),          \
        cmocka_unit_test_setup_teardown(t_list, setup, fx_teardown),                        \
        cmocka_unit_test_setup_teardown(t_events_since, setup, fx_teardown),                \
        cmocka_unit_test_setup_teardown(t_compaction, setup, fx_teardown),                  \
        cmocka_unit_test_setup_teardown(t_maybe_compact_policy, setup, fx_teardown),        \
        cmocka_unit_test_setup_teardown(t_values, setup, fx_teardown)

int
main(void)
{
    const struct CMUnitTest memory_tests[] = {SHARED_TESTS(fx_setup_memory)};
    const struct CMUnitTest sqlite_tests[] = {SHARED_TESTS(fx_setup_sqlite)};
    int failed = cmocka_run_group_tests_name("store/memory", memory_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("store/sqlite", sqlite_tests, NULL, NULL);
    return failed;
}
