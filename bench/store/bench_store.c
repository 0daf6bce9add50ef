/*
 * bench_store.c - store benchmark: durable creates/s with 1 KiB values in batches of 1, 16,
 * 64 and 256 (with commit latency), get latency, time to list 10,000 keys, compaction step cost, and a raw SQLite
 * baseline (same machine, same durability) for comparison. Prints a table.
 *
 * Usage: bsn_store_bench [-d dir] [-n creates]   (dir defaults to a fresh /tmp directory;
 * it must be on the disk you care about, not tmpfs, for the fsync numbers to mean anything)
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/time.h"
#include "store/store.h"

#define VALUE_LEN 1024

static char g_dir[256];
static char g_value[VALUE_LEN + 1];

static void
die(const char *what, const struct bsn_err *err)
{
    fprintf(stderr, "bench: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(1);
}

static struct bsn_store *
open_store(const char *name, bool memory)
{
    struct bsn_store *st = NULL;
    if (memory) {
        bsn_store_open_memory(&st);
        return st;
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.db", g_dir, name);
    unlink(path);
    struct bsn_err err;
    if (bsn_store_open_sqlite(path, NULL, &st, &err) != 0)
        die("open", &err);
    return st;
}

static double
secs_since(uint64_t t0)
{
    return (double)(bsn_mono_ns() - t0) / 1e9;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct load_result {
    double rate;                   /* creates per second */
    double p50_ms, p99_ms, max_ms; /* commit latency */
};

/* Creates n keys "/registry/bench/ns/k%08d" in batches. */
static struct load_result
load(struct bsn_store *st, int n, int batch)
{
    struct bsn_store_op *ops = bsn_calloc((size_t)batch, sizeof(*ops));
    char(*keys)[64] = bsn_calloc((size_t)batch, 64);
    size_t ncommits = (size_t)(n + batch - 1) / (size_t)batch, c = 0;
    uint64_t *lat = bsn_calloc(ncommits, sizeof(*lat));
    struct bsn_err err;
    uint64_t t0 = bsn_mono_ns();
    for (int i = 0; i < n; i += batch) {
        int m = BSN_MIN(batch, n - i);
        for (int j = 0; j < m; j++) {
            snprintf(keys[j], 64, "/registry/bench/ns/k%08d", i + j);
            ops[j] = (struct bsn_store_op){
                .type = BSN_STORE_CREATE, .key = keys[j], .value = g_value, .value_len = VALUE_LEN};
        }
        uint64_t c0 = bsn_mono_ns();
        if (bsn_store_commit(st, ops, (size_t)m, &err) != 0)
            die("commit", &err);
        lat[c++] = bsn_mono_ns() - c0;
        if (ops[0].result != 0)
            die("create result", NULL);
    }
    struct load_result r = {.rate = n / secs_since(t0)};
    qsort(lat, c, sizeof(*lat), cmp_u64);
    r.p50_ms = lat[c / 2] / 1e6;
    r.p99_ms = lat[c * 99 / 100] / 1e6;
    r.max_ms = lat[c - 1] / 1e6;
    free(lat);
    free(ops);
    free(keys);
    return r;
}

static int
count_cb(const struct bsn_store_kv *kv, void *data)
{
    size_t *bytes = data;
    *bytes += kv->value_len;
    return 0;
}

struct row {
    const char *name;
    char value[64];
};

static void
bench_backend(const char *b, bool memory, int n)
{
    int batches[] = {1, 16, 64, 256};
    for (size_t i = 0; i < BSN_ARRAY_LEN(batches); i++) {
        struct bsn_store *st = open_store("creates", memory);
        int total = batches[i] == 1 ? n / 5 : n;
        struct load_result r = load(st, total, batches[i]);
        printf("%-8s| creates, 1 KiB, batch %-3d        | %10.0f ops/s | %6.0f commits/s, "
               "commit p50 %.2f p99 %.2f max %.2f ms\n",
               b, batches[i], r.rate, r.rate / batches[i], r.p50_ms, r.p99_ms, r.max_ms);
        bsn_store_close(st);
    }

    /* 10,000 keys for get and list. */
    struct bsn_store *st = open_store("read", memory);
    load(st, 10000, 256);
    enum { NGET = 20000 };
    uint64_t *lat = bsn_malloc(NGET * sizeof(*lat));
    char key[64];
    struct bsn_err err;
    srand(1);
    for (int i = 0; i < NGET; i++) {
        snprintf(key, sizeof(key), "/registry/bench/ns/k%08d", rand() % 10000);
        struct bsn_store_kv kv;
        uint64_t t0 = bsn_mono_ns();
        if (bsn_store_get(st, key, &kv, &err) != 0)
            die("get", &err);
        lat[i] = bsn_mono_ns() - t0;
        bsn_store_kv_fini(&kv);
    }
    qsort(lat, NGET, sizeof(*lat), cmp_u64);
    printf("%-8s| get (10k keys), p50 / p99        | %8.1f us    | %6.1f us p99\n", b,
           lat[NGET / 2] / 1e3, lat[NGET * 99 / 100] / 1e3);
    uint64_t best = UINT64_MAX;
    for (int r = 0; r < 10; r++) {
        size_t bytes = 0;
        uint64_t t0 = bsn_mono_ns();
        int got = bsn_store_list(st, "/registry/bench/", NULL, 0, count_cb, &bytes, &err);
        uint64_t d = bsn_mono_ns() - t0;
        if (got != 10000 || bytes != 10000u * VALUE_LEN)
            die("list", &err);
        best = BSN_MIN(best, d);
    }
    printf("%-8s| list 10,000 keys (1 KiB), best   | %8.2f ms    |\n", b, best / 1e6);
    best = UINT64_MAX;
    for (int r = 0; r < 10; r++) {
        size_t bytes = 0;
        uint64_t t0 = bsn_mono_ns();
        bsn_store_list(st, "/registry/bench/", "/registry/bench/ns/k00005000", 500, count_cb,
                       &bytes, &err);
        best = BSN_MIN(best, bsn_mono_ns() - t0);
    }
    printf("%-8s| list page of 500 from the middle | %8.2f ms    |\n", b, best / 1e6);

    /* Compaction: 50 updates of each of 2,000 keys (100k superseded rows), then compact with
     * the policy helper's bounded step; report the worst and mean call. */
    struct bsn_store_op ops[256];
    char keys[256][64];
    for (int round = 0; round < 50; round++)
        for (int k0 = 0; k0 < 2000; k0 += 250) {
            for (int j = 0; j < 250; j++) {
                snprintf(keys[j], 64, "/registry/bench/ns/k%08d", k0 + j);
                ops[j] = (struct bsn_store_op){.type = BSN_STORE_UPDATE,
                                               .key = keys[j],
                                               .value = g_value,
                                               .value_len = VALUE_LEN};
            }
            if (bsn_store_commit(st, ops, 250, &err) != 0)
                die("update", &err);
        }
    uint64_t worst = 0, sum = 0;
    int calls = 0, rc;
    for (;;) {
        uint64_t t0 = bsn_mono_ns();
        rc = bsn_store_maybe_compact(st, 0, &err);
        uint64_t d = bsn_mono_ns() - t0;
        if (rc < 0)
            die("compact", &err);
        if (rc == 0)
            break;
        worst = BSN_MAX(worst, d);
        sum += d;
        calls++;
    }
    printf("%-8s| maybe_compact call mean/max      | %6.2f ms    | %6.2f ms max (%d calls)\n", b,
           calls ? sum / 1e6 / calls : 0.0, worst / 1e6, calls);
    struct bsn_store_stats stats;
    bsn_store_stats(st, &stats, &err);
    if (!memory) {
        int64_t before = stats.db_bytes;
        /* Idle calls give free pages back to the filesystem, a bounded amount each. */
        worst = sum = 0;
        int vcalls = 0;
        for (int64_t last = -1; vcalls < 5000 && stats.vacuumed_pages != last; vcalls++) {
            last = stats.vacuumed_pages;
            uint64_t t0 = bsn_mono_ns();
            if (bsn_store_maybe_compact(st, 0, &err) < 0)
                die("vacuum", &err);
            uint64_t d = bsn_mono_ns() - t0;
            worst = BSN_MAX(worst, d);
            sum += d;
            bsn_store_stats(st, &stats, &err);
        }
        printf("%-8s| idle compact call (vacuum) mean/max | %6.2f ms | %6.2f ms max (%d calls)\n",
               b, vcalls ? sum / 1e6 / vcalls : 0.0, worst / 1e6, vcalls);
        printf("%-8s| after compaction: rows %lld, db %lld -> %lld KiB, wal %lld KiB\n", b,
               (long long)stats.rows, (long long)before / 1024, (long long)stats.db_bytes / 1024,
               (long long)stats.wal_bytes / 1024);
    }
    free(lat);
    bsn_store_close(st);
}

/* Raw SQLite: one table, INSERT of 1 KiB blobs, WAL + synchronous=FULL, one commit per
 * row and 256 rows per commit: what the hardware and SQLite give before our schema. */
static void
bench_raw(int n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/raw.db", g_dir);
    int batches[] = {1, 256};
    for (size_t i = 0; i < BSN_ARRAY_LEN(batches); i++) {
        unlink(path);
        sqlite3 *db;
        sqlite3_open(path, &db);
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB)",
                     NULL, NULL, NULL);
        sqlite3_stmt *ins;
        sqlite3_prepare_v2(db, "INSERT INTO t(k, v) VALUES(?1, ?2)", -1, &ins, NULL);
        int total = batches[i] == 1 ? n / 5 : n;
        char key[64];
        uint64_t t0 = bsn_mono_ns();
        for (int r = 0; r < total; r += batches[i]) {
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
            for (int j = 0; j < batches[i]; j++) {
                snprintf(key, sizeof(key), "/registry/bench/ns/k%08d", r + j);
                sqlite3_bind_text(ins, 1, key, -1, SQLITE_STATIC);
                sqlite3_bind_blob(ins, 2, g_value, VALUE_LEN, SQLITE_STATIC);
                sqlite3_step(ins);
                sqlite3_reset(ins);
            }
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        }
        double rate = total / secs_since(t0);
        printf("raw     | INSERT, 1 KiB, batch %-3d         | %10.0f ops/s | %8.0f commits/s\n",
               batches[i], rate, rate / batches[i]);
        sqlite3_finalize(ins);
        sqlite3_close(db);
    }
    unlink(path);
}

int
main(int argc, char **argv)
{
    int n = 51200, opt;
    const char *dir = NULL;
    while ((opt = getopt(argc, argv, "d:n:")) != -1) {
        if (opt == 'd')
            dir = optarg;
        else if (opt == 'n')
            n = atoi(optarg);
        else {
            fprintf(stderr, "usage: %s [-d dir] [-n creates]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1280)
        n = 1280;
    if (dir) {
        snprintf(g_dir, sizeof(g_dir), "%s", dir);
    } else {
        snprintf(g_dir, sizeof(g_dir), "/var/tmp/bsn-store-bench-XXXXXX");
        if (!mkdtemp(g_dir))
            die("mkdtemp", NULL);
    }
    for (int i = 0; i < VALUE_LEN; i++)
        g_value[i] = (char)('a' + i % 26);
    printf("store benchmark: %d creates per batched run (batch 1: %d), values 1 KiB, dir %s\n", n,
           n / 5, g_dir);
    printf("backend | measurement                       | result        |\n");
    printf("--------+-----------------------------------+---------------+------------\n");
    bench_raw(n);
    bench_backend("sqlite", false, n);
    bench_backend("memory", true, n);
    if (!dir) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
