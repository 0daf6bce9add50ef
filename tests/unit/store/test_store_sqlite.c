/*
 * test_store_sqlite.c - SQLite-only store properties: acknowledged writes survive SIGKILL at
 * a random moment, the WAL stays bounded under a long update loop (also while a second
 * connection holds an old snapshot), a second connection reading or briefly writing never
 * makes our writes fail with "database is locked", and a random op sequence gives exactly
 * the same results on the SQLite and memory backends (differential test), store locations
 * and the one-writer lock, and an I/O failure in the middle of a batch (RLIMIT_FSIZE)
 * applying nothing and consuming no revision.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "base/buf.h"
#include "base/time.h"
#include "store_fixture.h"

#define CRASH_BATCH 8

struct ack {
    int64_t rev;   /* revision of the last op of the batch */
    int64_t batch; /* batch number: keys batch*CRASH_BATCH .. +CRASH_BATCH-1 */
};

static void
crash_value(char *buf, size_t n, int64_t idx)
{
    snprintf(buf, n, "{\"idx\":%lld,\"pad\":\"%0200lld\"}", (long long)idx, (long long)idx);
}

/* Child: commits batches forever and reports each acknowledged one. Never returns. */
static void
crash_child(const char *path, const struct bsn_store_opts *opts, int fd, int64_t first_batch)
{
    struct bsn_store *st = NULL;
    struct bsn_err err;
    if (bsn_store_open_sqlite(path, opts, &st, &err) != 0)
        _exit(3);
    char keys[CRASH_BATCH][32], vals[CRASH_BATCH][256], cval[32];
    for (int64_t b = first_batch;; b++) {
        struct bsn_store_op ops[CRASH_BATCH + 1];
        memset(ops, 0, sizeof(ops));
        for (int i = 0; i < CRASH_BATCH; i++) {
            int64_t idx = b * CRASH_BATCH + i;
            snprintf(keys[i], sizeof(keys[i]), "/crash/%08lld", (long long)idx);
            crash_value(vals[i], sizeof(vals[i]), idx);
            ops[i] = (struct bsn_store_op){.type = BSN_STORE_CREATE,
                                           .key = keys[i],
                                           .value = vals[i],
                                           .value_len = strlen(vals[i])};
        }
        snprintf(cval, sizeof(cval), "%lld", (long long)b);
        ops[CRASH_BATCH] = (struct bsn_store_op){.type = BSN_STORE_UPDATE,
                                                 .key = "/crash/counter",
                                                 .value = cval,
                                                 .value_len = strlen(cval)};
        if (bsn_store_commit(st, ops, CRASH_BATCH + 1, &err) != 0)
            _exit(4);
        for (int i = 0; i <= CRASH_BATCH; i++)
            if (ops[i].result != 0)
                _exit(5);
        struct ack a = {ops[CRASH_BATCH].rev, b};
        if (write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
            _exit(6);
        if (b % 50 == 0)
            bsn_store_maybe_compact(st, 1000, &err);
    }
}

/* h[0]: last revision seen, h[1]: events, h[2]: gaps found. */
static int
history_cb(const struct bsn_store_event *ev, void *data)
{
    int64_t *h = data;
    if (ev->kv.mod_rev != h[0] + 1)
        h[2]++;
    h[0] = ev->kv.mod_rev;
    h[1]++;
    return 0;
}

static void
t_crash_kill9(void **state)
{
    struct fixture *fx = *state;
    fx_create(fx->st, "/crash/counter", "-1");
    bsn_store_close(fx->st);
    fx->st = NULL;
    srand((unsigned)(getpid() ^ bsn_mono_ns()));
    int64_t next_batch = 0;
    for (int round = 0; round < 3; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(fx->path, &fx->opts, p[1], next_batch);
        }
        close(p[1]);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        /* Let it run a random 30..330 ms, draining acks so it never blocks on the pipe. */
        uint64_t deadline = bsn_mono_ms() + 30 + (uint64_t)(rand() % 300);
        struct ack last = {0, -1}, a;
        int64_t nacks = 0;
        while (bsn_mono_ms() < deadline) {
            struct pollfd pfd = {.fd = p[0], .events = POLLIN};
            poll(&pfd, 1, 5);
            while (read(p[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
                last = a;
                nacks++;
            }
        }
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read(p[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
            last = a;
            nacks++;
        }
        close(p[0]);
        assert_true(nacks > 0);
        assert_int_equal(last.batch, next_batch + nacks - 1);

        /* Every acknowledged key is there with its value; the revision continues above. */
        fx->st = fx_open_sqlite(fx);
        assert_true(bsn_store_current_rev(fx->st) >= last.rev);
        char key[32], val[256];
        for (int64_t idx = 0; idx < (last.batch + 1) * CRASH_BATCH; idx++) {
            snprintf(key, sizeof(key), "/crash/%08lld", (long long)idx);
            crash_value(val, sizeof(val), idx);
            fx_expect(fx->st, key, val);
        }
        struct bsn_store_kv kv;
        assert_int_equal(bsn_store_get(fx->st, "/crash/counter", &kv, NULL), 0);
        int64_t counter = strtoll(kv.value, NULL, 10);
        bsn_store_kv_fini(&kv);
        /* The child may have committed one more batch that it did not get to report. */
        assert_true(counter == last.batch || counter == last.batch + 1);
        next_batch = counter + 1;
        /* The history after the compaction point is gap-free and ends at the current rev. */
        int64_t h[3] = {bsn_store_compact_rev(fx->st), 0, 0};
        assert_true(bsn_store_events_since(fx->st, h[0], history_cb, h, NULL) >= 0);
        assert_int_equal(h[0], bsn_store_current_rev(fx->st));
        assert_int_equal(h[2], 0);
        int64_t r = fx_update(fx->st, "/crash/counter", "probe");
        assert_true(r > last.rev);
        fx_update(fx->st, "/crash/counter", "x");
        bsn_store_close(fx->st);
        fx->st = NULL;
    }
    fx->st = fx_open_sqlite(fx);
}

static int64_t
file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void
t_wal_bounded(void **state)
{
    struct fixture *fx = *state;
    const int64_t limit = 1024 * 1024;
    bsn_store_close(fx->st);
    fx->opts.wal_limit_bytes = limit;
    fx->st = fx_open_sqlite(fx);
    struct bsn_store *st = fx->st;
    char wal[256];
    snprintf(wal, sizeof(wal), "%s-wal", fx->path);

    /* A second connection that sometimes holds a read snapshot across many commits: while it
     * does, SQLite's autocheckpoint cannot recycle the WAL (kine's unbounded growth). */
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(reader, 1000);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM live", -1, &q, NULL),
                     SQLITE_OK);

    char val[2048];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    char keys[8][32];
    struct bsn_store_op ops[8];
    for (int k = 0; k < 8; k++) {
        snprintf(keys[k], sizeof(keys[k]), "/wal/k%d", k);
        fx_create(st, keys[k], "0");
    }
    int64_t written = 0, max_wal = 0, max_free = 0, window_max[4] = {0};
    struct bsn_err err;
    bsn_err_clear(&err);
    bool holding = false;
    for (int b = 0; b < 2000; b++) {
        /* Hold a snapshot for 150 batches out of every 500. */
        if (b % 500 == 100 && !holding) {
            assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
            assert_int_equal(sqlite3_step(q), SQLITE_ROW);
            holding = true;
        } else if (b % 500 == 250 && holding) {
            sqlite3_reset(q);
            assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
            holding = false;
        }
        val[0] = (char)('a' + b % 26);
        for (int k = 0; k < 8; k++)
            ops[k] = (struct bsn_store_op){.type = BSN_STORE_UPDATE,
                                           .key = keys[k],
                                           .value = val,
                                           .value_len = sizeof(val) - 1};
        assert_int_equal(bsn_store_commit(st, ops, 8, &err), 0);
        written += 8 * (int64_t)sizeof(val);
        if (b % 10 == 0)
            assert_true(bsn_store_maybe_compact(st, 500, &err) >= 0);
        int64_t w = file_size(wal);
        if (w > max_wal)
            max_wal = w;
        if (w > window_max[b / 500])
            window_max[b / 500] = w;
        /* Outside the held-snapshot windows, right after a compaction call (+ one commit),
         * the WAL is back near the limit. */
        if (!holding && b % 500 > 260 && b % 10 == 1 && w > max_free)
            max_free = w;
    }
    sqlite3_finalize(q);
    sqlite3_close(reader);
    /* Once the snapshot is gone, a compaction call brings the WAL back under the limit. */
    assert_true(bsn_store_maybe_compact(st, 500, &err) >= 0);
    struct bsn_store_stats stats;
    assert_int_equal(bsn_store_stats(st, &stats, &err), 0);
    print_message("wal: wrote %lld KiB of values, max WAL %lld KiB (per window %lld %lld %lld "
                  "%lld), max without a held snapshot %lld KiB, final %lld KiB, db %lld KiB, "
                  "rows %lld, forced checkpoints %lld\n",
                  (long long)written / 1024, (long long)max_wal / 1024,
                  (long long)window_max[0] / 1024, (long long)window_max[1] / 1024,
                  (long long)window_max[2] / 1024, (long long)window_max[3] / 1024,
                  (long long)max_free / 1024, (long long)stats.wal_bytes / 1024,
                  (long long)stats.db_bytes / 1024, (long long)stats.rows,
                  (long long)stats.checkpoints);
    assert_true(written > 30 * 1024 * 1024);
    /* While a snapshot is held the WAL must grow (SQLite cannot recycle it), but only by what
     * is written during the hold (150 of 2000 batches): far below what was written in total,
     * and with no growth from one window to the next. */
    assert_true(max_wal <= written / 2);
    for (int i = 1; i < 4; i++)
        assert_true(window_max[i] <= window_max[0] + window_max[0] / 4 + 256 * 1024);
    assert_true(max_free <= limit + 64 * 1024); /* one commit after a forced checkpoint */
    assert_true(stats.wal_bytes <= limit);
    /* Compaction kept history to ~500 revisions: the database does not grow with writes. */
    assert_true(stats.rows <= 8 + 500 + 1000);
    assert_true(stats.db_bytes < 8 * 1024 * 1024);
}

struct locker {
    const char *path;
    int hold_ms;
    int rc;
    volatile int locked;
};

static void *
lock_thread(void *arg)
{
    struct locker *l = arg;
    sqlite3 *db = NULL;
    l->rc = sqlite3_open(l->path, &db);
    if (l->rc == SQLITE_OK)
        l->rc = sqlite3_exec(db,
                             "BEGIN IMMEDIATE; INSERT INTO meta(name, value) "
                             "VALUES('other', 1) ON CONFLICT DO NOTHING;",
                             NULL, NULL, NULL);
    l->locked = 1;
    if (l->rc == SQLITE_OK) {
        usleep((useconds_t)l->hold_ms * 1000);
        l->rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return NULL;
}

static void
t_second_connection(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *st = fx->st;
    fx_create(st, "/sc/a", "1");

    /* A reader with an open snapshot does not block our writes, and keeps its snapshot. */
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open(fx->path, &reader), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM live", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_reset(q);
    fx_create(st, "/sc/b", "2");
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_reset(q);
    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2);
    sqlite3_finalize(q);
    sqlite3_close(reader);

    /* Another connection holding the write lock for 300 ms: our commit waits, then succeeds
     * (no "database is locked"). */
    struct locker l = {.path = fx->path, .hold_ms = 300};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, lock_thread, &l), 0);
    while (!l.locked)
        usleep(1000);
    uint64_t t0 = bsn_mono_ms();
    int64_t r = fx_create(st, "/sc/c", "3");
    uint64_t waited = bsn_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_int_equal(l.rc, SQLITE_OK);
    assert_int_equal(r, 3);
    assert_true(waited >= 100); /* it really had to wait for the other writer */
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_true(bsn_store_compact(st, 3, 0, &err) >= 0);
    fx_expect(st, "/sc/c", "3");
}

/* ---- differential test: the same random ops on both backends give the same answers ---- */

static int
dump_kv(const struct bsn_store_kv *kv, void *data)
{
    struct bsn_buf *b = data;
    bsn_buf_printf(b, "%s=%.*s@%lld/%lld;", kv->key, (int)kv->value_len, kv->value,
                   (long long)kv->mod_rev, (long long)kv->create_rev);
    return 0;
}

static int
dump_ev(const struct bsn_store_event *ev, void *data)
{
    struct bsn_buf *b = data;
    bsn_buf_printf(b, "%d%d:", ev->type, ev->created);
    dump_kv(&ev->kv, b);
    if (ev->prev)
        dump_kv(ev->prev, b);
    bsn_buf_putc(b, '\n');
    return 0;
}

static void
assert_same(struct bsn_store *a, struct bsn_store *b, const char *prefix, int64_t after)
{
    struct bsn_buf da, db;
    bsn_buf_init(&da);
    bsn_buf_init(&db);
    int na = bsn_store_list(a, prefix, NULL, 0, dump_kv, &da, NULL);
    int nb = bsn_store_list(b, prefix, NULL, 0, dump_kv, &db, NULL);
    assert_int_equal(na, nb);
    assert_string_equal(da.data ? da.data : "", db.data ? db.data : "");
    bsn_buf_reset(&da);
    bsn_buf_reset(&db);
    na = bsn_store_events_since(a, after, dump_ev, &da, NULL);
    nb = bsn_store_events_since(b, after, dump_ev, &db, NULL);
    assert_int_equal(na, nb);
    assert_string_equal(da.data ? da.data : "", db.data ? db.data : "");
    bsn_buf_fini(&da);
    bsn_buf_fini(&db);
    assert_int_equal(fx_rows(a), fx_rows(b));
}

static void
t_differential(void **state)
{
    struct fixture *fx = *state;
    struct bsn_store *mem = NULL;
    bsn_store_open_memory(&mem);
    unsigned seed = (unsigned)bsn_mono_ns();
    print_message("differential seed %u\n", seed);
    srand(seed);
    char keys[8][32], vals[8][32];
    struct bsn_err err;
    bsn_err_clear(&err);
    for (int round = 0; round < 300; round++) {
        struct bsn_store_op ops_a[8], ops_b[8];
        int n = 1 + rand() % 8;
        for (int i = 0; i < n; i++) {
            snprintf(keys[i], sizeof(keys[i]), "/d/%c/%d", 'a' + rand() % 3, rand() % 12);
            snprintf(vals[i], sizeof(vals[i]), "v%d", rand());
            int64_t cur = bsn_store_current_rev(mem);
            ops_a[i] = (struct bsn_store_op){
                .type = (enum bsn_store_op_type)(rand() % 3),
                .key = keys[i],
                .value = rand() % 4 ? vals[i] : NULL,
                .value_len = 0,
                .expect_rev = rand() % 3 ? 0 : cur - rand() % 5,
            };
            if (ops_a[i].value)
                ops_a[i].value_len = strlen(vals[i]);
            ops_b[i] = ops_a[i];
        }
        assert_int_equal(bsn_store_commit(fx->st, ops_a, (size_t)n, &err), 0);
        assert_int_equal(bsn_store_commit(mem, ops_b, (size_t)n, &err), 0);
        for (int i = 0; i < n; i++) {
            assert_int_equal(ops_a[i].result, ops_b[i].result);
            assert_int_equal(ops_a[i].rev, ops_b[i].rev);
            assert_int_equal(ops_a[i].create_rev, ops_b[i].create_rev);
            assert_int_equal(ops_a[i].cur_rev, ops_b[i].cur_rev);
        }
        if (rand() % 10 == 0) {
            int64_t target = bsn_store_current_rev(mem) - rand() % 40;
            int budget = 1 + rand() % 20;
            int ra = bsn_store_compact(fx->st, target, budget, &err);
            int rb = bsn_store_compact(mem, target, budget, &err);
            assert_int_equal(ra, rb);
            assert_int_equal(bsn_store_compact_rev(fx->st), bsn_store_compact_rev(mem));
        }
        if (rand() % 50 == 0)
            fx_reopen(fx);
        assert_int_equal(bsn_store_current_rev(fx->st), bsn_store_current_rev(mem));
        if (round % 10 == 0)
            assert_same(fx->st, mem, "/d/", bsn_store_compact_rev(mem));
    }
    assert_same(fx->st, mem, "", bsn_store_compact_rev(mem));
    assert_same(fx->st, mem, "/d/b/", bsn_store_compact_rev(mem));
    bsn_store_close(mem);
}

static void
t_open_uri_and_lock(void **state)
{
    struct fixture *fx = *state;
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_store *st = NULL;
    /* The fixture holds fx->path: a second writer is refused with a clear message. */
    assert_int_equal(bsn_store_open_sqlite(fx->path, NULL, &st, &err), -EBUSY);
    assert_null(st);
    assert_non_null(strstr(err.msg, "in use by another process"));
    char uri[256];
    snprintf(uri, sizeof(uri), "sqlite://%s", fx->path);
    assert_int_equal(bsn_store_open_uri(uri, NULL, &st, &err), -EBUSY);
    fx_create(fx->st, "/u/a", "1");
    bsn_store_close(fx->st);
    fx->st = NULL;
    /* Released on close: the same file opens through every spelling of the location. */
    const char *forms[] = {"sqlite://%s", "sqlite:%s", "%s"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(forms); i++) {
        snprintf(uri, sizeof(uri), forms[i], fx->path);
        assert_int_equal(bsn_store_open_uri(uri, NULL, &st, &err), 0);
        assert_string_equal(bsn_store_backend(st), "sqlite");
        fx_expect(st, "/u/a", "1");
        bsn_store_close(st);
    }
    assert_int_equal(bsn_store_open_uri("memory", NULL, &st, &err), 0);
    assert_string_equal(bsn_store_backend(st), "memory");
    fx_expect(st, "/u/a", NULL);
    bsn_store_close(st);
    bsn_err_clear(&err);
    assert_int_equal(bsn_store_open_uri("etcd://127.0.0.1:2379", NULL, &st, &err), -EINVAL);
    assert_int_equal(err.code, 400);
    assert_int_equal(bsn_store_open_uri("sqlite:", NULL, &st, &err), -EINVAL);
    bsn_err_clear(&err);
    assert_true(bsn_store_open_sqlite("/nonexistent-dir/x/state.db", NULL, &st, &err) < 0);
    assert_true(bsn_err_is_set(&err));
    assert_null(st);
    fx->st = fx_open_sqlite(fx);
}

/* Child of t_io_failure: returns 0 when every check holds, else the failing check's line. */
static int
io_failure_child(struct fixture *fx)
{
    signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG instead */
    struct bsn_store *st = fx->st;
    struct bsn_err err;
    bsn_err_clear(&err);
    int64_t rev = bsn_store_current_rev(st);
    char wal[256];
    snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)(BSN_MAX(file_size(wal), file_size(fx->path)) + 8192);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return __LINE__;
    size_t big = 1024 * 1024;
    char *v = bsn_calloc(1, big);
    struct bsn_store_op ops[] = {
        {.type = BSN_STORE_CREATE, .key = "/io/small", .value = "s", .value_len = 1},
        {.type = BSN_STORE_UPDATE, .key = "/io/a", .value = "changed", .value_len = 7},
        {.type = BSN_STORE_CREATE, .key = "/io/big", .value = v, .value_len = big},
    };
    int rc = bsn_store_commit(st, ops, 3, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    if (rc >= 0 || !bsn_err_is_set(&err))
        return __LINE__;
    for (int i = 0; i < 3; i++)
        if (ops[i].result != rc || ops[i].rev != 0)
            return __LINE__;
    /* Nothing applied, no revision consumed; the store keeps working. */
    if (bsn_store_current_rev(st) != rev)
        return __LINE__;
    struct bsn_store_kv kv;
    if (bsn_store_get(st, "/io/small", &kv, NULL) != -ENOENT)
        return __LINE__;
    if (bsn_store_get(st, "/io/a", &kv, NULL) != 0)
        return __LINE__;
    bool same = strcmp(kv.value, "1") == 0;
    bsn_store_kv_fini(&kv);
    if (!same)
        return __LINE__;
    rc = bsn_store_commit(st, ops, 3, &err);
    free(v);
    if (rc != 0 || ops[0].rev != rev + 1 || ops[2].rev != rev + 3)
        return __LINE__;
    return 0;
}

static void
t_io_failure(void **state)
{
    struct fixture *fx = *state;
    fx_create(fx->st, "/io/a", "1");
    bsn_store_close(fx->st);
    fx->st = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fx->st = fx_open_sqlite(fx);
        int line = io_failure_child(fx);
        bsn_store_close(fx->st);
        _exit(line > 255 ? 255 : line);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("I/O failure check failed (line %d, mod 256)", WEXITSTATUS(status));
    /* What the child committed after the failure is durable; the failed batch left nothing. */
    fx->st = fx_open_sqlite(fx);
    assert_int_equal(bsn_store_current_rev(fx->st), 4);
    fx_expect(fx->st, "/io/a", "changed");
    fx_expect(fx->st, "/io/small", "s");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_crash_kill9, fx_setup_sqlite, fx_teardown),
        cmocka_unit_test_setup_teardown(t_wal_bounded, fx_setup_sqlite, fx_teardown),
        cmocka_unit_test_setup_teardown(t_second_connection, fx_setup_sqlite, fx_teardown),
        cmocka_unit_test_setup_teardown(t_differential, fx_setup_sqlite, fx_teardown),
        cmocka_unit_test_setup_teardown(t_open_uri_and_lock, fx_setup_sqlite, fx_teardown),
        cmocka_unit_test_setup_teardown(t_io_failure, fx_setup_sqlite, fx_teardown),
    };
    return cmocka_run_group_tests_name("store/sqlite-durability", tests, NULL, NULL);
}
