/*
 * sqlite.c - durable store backend on SQLite (WAL mode, synchronous=FULL).
 *
 * Schema (one row per revision, kine-like, but with a separate live index):
 *   kv(id INTEGER PRIMARY KEY        -- the revision
 *      key, created, deleted,        -- deleted=1: tombstone (value = the deleted object)
 *      create_rev, prev_rev,         -- prev_rev: previous version of the key (0 for creates)
 *      value BLOB)
 *   live(key PRIMARY KEY, rev, create_rev) WITHOUT ROWID
 *                                    -- newest version of every existing key
 *   meta(name PRIMARY KEY, value)    -- schema, compact_rev, rev_floor
 * get and list read `live` (a key-ordered B-tree: a prefix list is one range scan) joined to
 * kv by primary key; events_since is a range scan of kv's primary key. No index on kv.key is
 * needed, so a write costs two B-tree inserts.
 *
 * Revisions: assigned here (st->rev + 1 ...), never by SQLite. Because compaction may delete
 * the newest row (a tombstone), it records rev_floor = current revision in meta, and open
 * resumes from max(MAX(id), rev_floor): revisions are never reused.
 *
 * Compaction walks revisions (compact_rev, target] in bounded steps: each version supersedes
 * its prev_rev, which is deleted by primary key; tombstones are deleted themselves. A step is
 * one short transaction. WAL growth is bounded by journal_size_limit, SQLite's autocheckpoint,
 * and a TRUNCATE checkpoint from compaction when the WAL still exceeds the limit (e.g. a
 * reader held an old snapshot); that checkpoint waits for readers only briefly. Space freed
 * by compaction is reused by new rows, and once more than a quarter of the file is free it is
 * handed back to the filesystem a little per idle compaction call (auto_vacuum=INCREMENTAL).
 *
 * One writer: "<path>-lock" is flock'ed while the store is open.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "store/store_int.h"

#define SCHEMA_VERSION     1
#define DEFAULT_WAL_LIMIT  (16 * 1024 * 1024)
#define DEFAULT_BUSY_MS    5000
#define DEFAULT_CACHE_KIB  4096 /* the API server caches every object: pages serve writes */
#define CHECKPOINT_BUSY_MS 20   /* how long a forced checkpoint waits for readers */
#define VACUUM_MIN_FREE    1024 /* free pages before giving space back to the filesystem */
#define VACUUM_PAGES       64   /* pages released per housekeeping call */

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_GET_LIVE,
    S_GET,
    S_INSERT,
    S_INSERT_TOMB,
    S_LIVE_INSERT,
    S_LIVE_UPDATE,
    S_LIVE_DELETE,
    S_LIST_GE,
    S_LIST_GE_LT,
    S_LIST_GT,
    S_LIST_GT_LT,
    S_COUNT,
    S_COUNT_LT,
    S_EVENTS,
    S_BY_ID,
    S_COMPACT_SCAN,
    S_DELETE_ID,
    S_META_SET,
    S_COUNT_ROWS,
    S__N
};

#define LIST_COLS \
    "SELECT l.key, k.id, k.create_rev, k.value FROM live l JOIN kv k ON k.id = l.rev WHERE "

static const char *const sql_text[S__N] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_GET_LIVE] = "SELECT rev, create_rev FROM live WHERE key = ?1",
    [S_GET] = "SELECT k.id, k.create_rev, k.value FROM live l JOIN kv k ON k.id = l.rev "
              "WHERE l.key = ?1",
    [S_INSERT] = "INSERT INTO kv(id, key, created, deleted, create_rev, prev_rev, value) "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_INSERT_TOMB] = "INSERT INTO kv(id, key, created, deleted, create_rev, prev_rev, value) "
                      "SELECT ?1, key, 0, 1, create_rev, id, value FROM kv WHERE id = ?2",
    [S_LIVE_INSERT] = "INSERT INTO live(key, rev, create_rev) VALUES(?1, ?2, ?3)",
    [S_LIVE_UPDATE] = "UPDATE live SET rev = ?2 WHERE key = ?1",
    [S_LIVE_DELETE] = "DELETE FROM live WHERE key = ?1",
    [S_LIST_GE] = LIST_COLS "l.key >= ?1 ORDER BY l.key LIMIT ?3",
    [S_LIST_GE_LT] = LIST_COLS "l.key >= ?1 AND l.key < ?2 ORDER BY l.key LIMIT ?3",
    [S_LIST_GT] = LIST_COLS "l.key > ?1 ORDER BY l.key LIMIT ?3",
    [S_LIST_GT_LT] = LIST_COLS "l.key > ?1 AND l.key < ?2 ORDER BY l.key LIMIT ?3",
    [S_COUNT] = "SELECT count(*) FROM live WHERE key >= ?1",
    [S_COUNT_LT] = "SELECT count(*) FROM live WHERE key >= ?1 AND key < ?2",
    [S_EVENTS] = "SELECT id, key, created, deleted, create_rev, prev_rev, value FROM kv "
                 "WHERE id > ?1 ORDER BY id",
    [S_BY_ID] = "SELECT id, key, create_rev, value FROM kv WHERE id = ?1",
    [S_COMPACT_SCAN] = "SELECT id, prev_rev, deleted FROM kv WHERE id > ?1 AND id <= ?2 "
                       "ORDER BY id LIMIT ?3",
    [S_DELETE_ID] = "DELETE FROM kv WHERE id = ?1",
    [S_META_SET] = "INSERT INTO meta(name, value) VALUES(?1, ?2) "
                   "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    [S_COUNT_ROWS] = "SELECT (SELECT count(*) FROM kv), (SELECT count(*) FROM live)",
};

struct sq_store {
    struct bsn_store base;
    sqlite3 *db;
    sqlite3_stmt *stmt[S__N];
    char *path;
    char *wal_path;
    int64_t wal_limit;
    int busy_ms;
    int64_t checkpoints;
    int64_t vacuumed;
    bool incremental_vacuum;
    int lock_fd; /* flock'ed "<path>-lock" */
};

static struct sq_store *
sq(struct bsn_store *st)
{
    return (struct sq_store *)st;
}

/* Maps a SQLite failure to a negative errno and sets err (500, or 503 for busy). */
static int
sq_fail(struct sq_store *s, int rc, struct bsn_err *err, const char *what)
{
    int prim = rc & 0xff;
    int neg = -EIO;
    int code = 500;
    const char *reason = "InternalError";
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) {
        neg = -EBUSY;
        code = 503;
        reason = "ServiceUnavailable";
    } else if (prim == SQLITE_FULL) {
        neg = -ENOSPC;
    }
    bsn_err_set(err, code, reason, "store %s: %s: %s", s->path, what,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return neg;
}

static sqlite3_stmt *
stmt(struct sq_store *s, int which)
{
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_reset(st);
    return st;
}

/* Steps a statement that returns no rows; resets it. Returns a SQLite code (SQLITE_DONE ok). */
static int
run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static void
rollback(struct sq_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        run(stmt(s, S_ROLLBACK));
}

static int
meta_set(struct sq_store *s, const char *name, int64_t v)
{
    sqlite3_stmt *st = stmt(s, S_META_SET);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    return run(st);
}

static void
sq_close(struct bsn_store *base)
{
    struct sq_store *s = sq(base);
    for (int i = 0; i < S__N; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db)
        sqlite3_close_v2(s->db);
    free(s->path);
    free(s->wal_path);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
}

/* Points kv at the given columns of the current row (borrowed until the next step/reset). */
static void
col_kv(sqlite3_stmt *st, int kcol, int idcol, int crcol, int vcol, struct bsn_store_kv *kv)
{
    kv->key = (char *)sqlite3_column_text(st, kcol);
    kv->mod_rev = sqlite3_column_int64(st, idcol);
    kv->create_rev = sqlite3_column_int64(st, crcol);
    const char *v = (const char *)sqlite3_column_text(st, vcol);
    kv->value_len = (size_t)sqlite3_column_bytes(st, vcol);
    kv->value = (char *)(v ? v : "");
}

static int
sq_get(struct bsn_store *base, const char *key, struct bsn_store_kv *out, struct bsn_err *err)
{
    struct sq_store *s = sq(base);
    sqlite3_stmt *st = stmt(s, S_GET);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return -ENOENT;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return sq_fail(s, rc, err, "get");
    }
    struct bsn_store_kv kv;
    kv.key = (char *)key;
    kv.mod_rev = sqlite3_column_int64(st, 0);
    kv.create_rev = sqlite3_column_int64(st, 1);
    const char *v = (const char *)sqlite3_column_text(st, 2);
    kv.value_len = (size_t)sqlite3_column_bytes(st, 2);
    kv.value = (char *)(v ? v : "");
    bsn_store_kv_copy(out, &kv);
    sqlite3_reset(st);
    return 0;
}

static int
sq_list(struct bsn_store *base, const char *lo, bool lo_incl, const char *hi, size_t limit,
        int (*cb)(const struct bsn_store_kv *kv, void *data), void *data, struct bsn_err *err)
{
    struct sq_store *s = sq(base);
    int which = lo_incl ? (hi ? S_LIST_GE_LT : S_LIST_GE) : (hi ? S_LIST_GT_LT : S_LIST_GT);
    sqlite3_stmt *st = stmt(s, which);
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
    if (hi)
        sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct bsn_store_kv kv;
        col_kv(st, 0, 1, 2, 3, &kv);
        n++;
        if (cb(&kv, data)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(s, rc, err, "list");
    return n;
}

static int64_t
sq_count(struct bsn_store *base, const char *lo, const char *hi, struct bsn_err *err)
{
    struct sq_store *s = sq(base);
    sqlite3_stmt *st = stmt(s, hi ? S_COUNT_LT : S_COUNT);
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
    if (hi)
        sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return sq_fail(s, rc, err, "count");
    return n;
}

static int
insert_row(struct sq_store *s, int64_t rev, const char *key, int created, int deleted,
           int64_t create_rev, int64_t prev_rev, const char *value, size_t value_len)
{
    sqlite3_stmt *st = stmt(s, S_INSERT);
    sqlite3_bind_int64(st, 1, rev);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, created);
    sqlite3_bind_int(st, 4, deleted);
    sqlite3_bind_int64(st, 5, create_rev);
    sqlite3_bind_int64(st, 6, prev_rev);
    sqlite3_bind_blob64(st, 7, value ? value : "", value_len, SQLITE_STATIC);
    return run(st);
}

/* Applies one validated op inside the open transaction. Returns a SQLite code; a failed
 * precondition is SQLITE_DONE with op->result set. */
static int
apply_op(struct sq_store *s, struct bsn_store_op *op, int64_t rev)
{
    sqlite3_stmt *st = stmt(s, S_GET_LIVE);
    sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bool exists = rc == SQLITE_ROW;
    int64_t cur = exists ? sqlite3_column_int64(st, 0) : 0;
    int64_t cur_create = exists ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rc;

    if (op->type == BSN_STORE_CREATE && exists) {
        op->result = -EEXIST;
        op->cur_rev = cur;
        return SQLITE_DONE;
    }
    if (op->type != BSN_STORE_CREATE) {
        if (!exists) {
            op->result = -ENOENT;
            return SQLITE_DONE;
        }
        if (op->expect_rev && op->expect_rev != cur) {
            op->result = -ESTALE;
            op->cur_rev = cur;
            return SQLITE_DONE;
        }
    }

    switch (op->type) {
    case BSN_STORE_CREATE:
        rc = insert_row(s, rev, op->key, 1, 0, rev, 0, op->value, op->value_len);
        if (rc != SQLITE_DONE)
            return rc;
        st = stmt(s, S_LIVE_INSERT);
        sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rev);
        sqlite3_bind_int64(st, 3, rev);
        rc = run(st);
        cur_create = rev;
        break;
    case BSN_STORE_UPDATE:
        rc = insert_row(s, rev, op->key, 0, 0, cur_create, cur, op->value, op->value_len);
        if (rc != SQLITE_DONE)
            return rc;
        st = stmt(s, S_LIVE_UPDATE);
        sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rev);
        rc = run(st);
        break;
    case BSN_STORE_DELETE:
        if (op->value) {
            rc = insert_row(s, rev, op->key, 0, 1, cur_create, cur, op->value, op->value_len);
        } else {
            /* Tombstone keeps the deleted object, copied inside SQLite. */
            st = stmt(s, S_INSERT_TOMB);
            sqlite3_bind_int64(st, 1, rev);
            sqlite3_bind_int64(st, 2, cur);
            rc = run(st);
        }
        if (rc != SQLITE_DONE)
            return rc;
        st = stmt(s, S_LIVE_DELETE);
        sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
        rc = run(st);
        break;
    }
    if (rc == SQLITE_DONE) {
        op->rev = rev;
        op->create_rev = cur_create;
    }
    return rc;
}

static int
sq_commit(struct bsn_store *base, struct bsn_store_op *ops, size_t n, struct bsn_err *err)
{
    struct sq_store *s = sq(base);
    int rc = run(stmt(s, S_BEGIN));
    if (rc != SQLITE_DONE)
        return sq_fail(s, rc, err, "begin");
    int64_t rev = base->rev;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].result)
            continue;
        rc = apply_op(s, &ops[i], rev + 1);
        if (rc != SQLITE_DONE) {
            int neg = sq_fail(s, rc, err, "write");
            rollback(s);
            return neg;
        }
        if (ops[i].result == 0)
            rev++;
    }
    rc = run(stmt(s, S_COMMIT));
    if (rc != SQLITE_DONE) {
        int neg = sq_fail(s, rc, err, "commit");
        rollback(s);
        return neg;
    }
    base->rev = rev;
    return 0;
}

static int
sq_events_since(struct bsn_store *base, int64_t after_rev,
                int (*cb)(const struct bsn_store_event *ev, void *data), void *data,
                struct bsn_err *err)
{
    struct sq_store *s = sq(base);
    sqlite3_stmt *st = stmt(s, S_EVENTS);
    sqlite3_bind_int64(st, 1, after_rev);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct bsn_store_event ev = {0};
        ev.created = sqlite3_column_int(st, 2) != 0;
        ev.type = sqlite3_column_int(st, 3) ? BSN_STORE_EV_DELETE : BSN_STORE_EV_PUT;
        col_kv(st, 1, 0, 4, 6, &ev.kv);
        int64_t prev_rev = sqlite3_column_int64(st, 5);
        struct bsn_store_kv prev;
        sqlite3_stmt *pst = NULL;
        if (prev_rev > 0) {
            pst = stmt(s, S_BY_ID);
            sqlite3_bind_int64(pst, 1, prev_rev);
            int prc = sqlite3_step(pst);
            if (prc == SQLITE_ROW) {
                col_kv(pst, 1, 0, 2, 3, &prev);
                ev.prev = &prev;
            } else if (prc != SQLITE_DONE) {
                sqlite3_reset(pst);
                rc = prc;
                break;
            }
        }
        n++;
        int stop = cb(&ev, data);
        if (pst)
            sqlite3_reset(pst);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(s, rc, err, "events");
    return n;
}

static int64_t
file_size(const char *path)
{
    struct stat sb;
    return path && stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* Returns the single integer a PRAGMA yields (0 on error). */
static int64_t
pragma_int(struct sq_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*
 * Keeps the files bounded, a little per call:
 *  - WAL: a TRUNCATE checkpoint when it exceeds its limit (SQLite's own autocheckpoint keeps
 *    it small unless a reader pinned an old snapshot); waits for readers only
 *    CHECKPOINT_BUSY_MS and otherwise leaves it for the next call.
 *  - database (only when vacuum is set, i.e. on calls that had no compaction work, so one
 *    call never pays for both): once more than a quarter of the pages are free (after
 *    compaction removed a large history), returns VACUUM_PAGES of them to the filesystem
 *    (auto_vacuum=INCREMENTAL). Below that, free pages are simply reused by new writes.
 */
static void
housekeeping(struct sq_store *s, bool vacuum)
{
    if (file_size(s->wal_path) > s->wal_limit) {
        sqlite3_busy_timeout(s->db, CHECKPOINT_BUSY_MS);
        int rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_busy_timeout(s->db, s->busy_ms);
        s->checkpoints++;
        if (rc != SQLITE_OK)
            bsn_debug("store", "wal checkpoint deferred: %s", sqlite3_errstr(rc));
    }
    if (!vacuum || !s->incremental_vacuum)
        return;
    int64_t free_pages = pragma_int(s, "PRAGMA freelist_count");
    if (free_pages < VACUUM_MIN_FREE)
        return;
    int64_t pages = pragma_int(s, "PRAGMA page_count");
    if (free_pages * 4 < pages)
        return;
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", VACUUM_PAGES);
    /* Each step of incremental_vacuum returns a row; run it to completion. */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
    sqlite3_finalize(st);
    s->vacuumed += VACUUM_PAGES;
}

static int
sq_compact(struct bsn_store *base, int64_t rev, int budget, struct bsn_err *err)
{
    struct sq_store *s = sq(base);
    if (rev <= base->compact_rev) {
        housekeeping(s, true);
        return 0;
    }
    int64_t *ids = bsn_malloc((size_t)budget * 3 * sizeof(*ids));
    int rc = run(stmt(s, S_BEGIN));
    if (rc != SQLITE_DONE) {
        free(ids);
        return sq_fail(s, rc, err, "compact begin");
    }
    sqlite3_stmt *st = stmt(s, S_COMPACT_SCAN);
    sqlite3_bind_int64(st, 1, base->compact_rev);
    sqlite3_bind_int64(st, 2, rev);
    sqlite3_bind_int64(st, 3, budget);
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < budget) {
        ids[3 * n] = sqlite3_column_int64(st, 0);
        ids[3 * n + 1] = sqlite3_column_int64(st, 1);
        ids[3 * n + 2] = sqlite3_column_int64(st, 2);
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto fail;
    rc = SQLITE_DONE;
    for (int i = 0; i < n && rc == SQLITE_DONE; i++) {
        sqlite3_stmt *del = stmt(s, S_DELETE_ID);
        if (ids[3 * i + 1] > 0) {
            sqlite3_bind_int64(del, 1, ids[3 * i + 1]);
            rc = run(del);
        }
        if (rc == SQLITE_DONE && ids[3 * i + 2]) {
            sqlite3_bind_int64(del, 1, ids[3 * i]);
            rc = run(del);
        }
    }
    int64_t upto = n < budget ? rev : ids[3 * (n - 1)];
    if (rc == SQLITE_DONE)
        rc = meta_set(s, "compact_rev", upto);
    if (rc == SQLITE_DONE)
        rc = meta_set(s, "rev_floor", base->rev);
    if (rc == SQLITE_DONE)
        rc = run(stmt(s, S_COMMIT));
    if (rc != SQLITE_DONE)
        goto fail;
    free(ids);
    base->compact_rev = upto;
    housekeeping(s, false);
    return n;
fail:
    free(ids);
    rc = sq_fail(s, rc, err, "compact");
    rollback(s);
    return rc;
}

static int
sq_stats(struct bsn_store *base, struct bsn_store_stats *out, struct bsn_err *err)
{
    struct sq_store *s = sq(base);
    sqlite3_stmt *st = stmt(s, S_COUNT_ROWS);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->rows = sqlite3_column_int64(st, 0);
        out->live_keys = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return sq_fail(s, rc, err, "stats");
    /* Logical size: the file itself shrinks to this at the next checkpoint after a vacuum. */
    out->db_bytes = pragma_int(s, "PRAGMA page_count") * pragma_int(s, "PRAGMA page_size");
    out->wal_bytes = file_size(s->wal_path);
    out->checkpoints = s->checkpoints;
    out->vacuumed_pages = s->vacuumed;
    return 0;
}

static const struct bsn_store_vt sq_vt = {
    .name = "sqlite",
    .close = sq_close,
    .get = sq_get,
    .list = sq_list,
    .count = sq_count,
    .commit = sq_commit,
    .events_since = sq_events_since,
    .compact = sq_compact,
    .stats = sq_stats,
};

/* Runs one SQL statement returning at most one integer (or text for journal_mode). */
static int
exec_int(struct sq_store *s, const char *sql, int64_t *out, struct bsn_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, err, sql);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(s, rc, err, sql);
    return rc == SQLITE_ROW ? 1 : 0;
}

static int
setup(struct sq_store *s, const struct bsn_store_opts *opts, struct bsn_err *err)
{
    s->wal_limit = opts && opts->wal_limit_bytes > 0 ? opts->wal_limit_bytes : DEFAULT_WAL_LIMIT;
    s->busy_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : DEFAULT_BUSY_MS;
    int cache = opts && opts->cache_kib > 0 ? opts->cache_kib : DEFAULT_CACHE_KIB;
    sqlite3_busy_timeout(s->db, s->busy_ms);

    /* Only takes effect on a new database, and only before it switches to WAL. */
    if (exec_int(s, "PRAGMA auto_vacuum=INCREMENTAL", NULL, err) < 0)
        return -EIO;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sq_fail(s, rc, err, "journal_mode=WAL");
    }
    bool wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal)
        return bsn_err_set(err, 500, "InternalError",
                           "store %s: the filesystem does not support WAL mode", s->path),
               -EIO;

    char sql[256];
    const char *setup_sql[] = {
        "PRAGMA synchronous=FULL",
        "PRAGMA temp_store=MEMORY",
        "PRAGMA foreign_keys=OFF",
        "CREATE TABLE IF NOT EXISTS kv(id INTEGER PRIMARY KEY, key TEXT NOT NULL, "
        "created INTEGER NOT NULL, deleted INTEGER NOT NULL, create_rev INTEGER NOT NULL, "
        "prev_rev INTEGER NOT NULL, value BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS live(key TEXT PRIMARY KEY, rev INTEGER NOT NULL, "
        "create_rev INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) "
        "WITHOUT ROWID",
        "INSERT OR IGNORE INTO meta(name, value) VALUES('schema', 1)",
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(setup_sql); i++)
        if (exec_int(s, setup_sql[i], NULL, err) < 0)
            return -EIO;
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", cache);
    if (exec_int(s, sql, NULL, err) < 0)
        return -EIO;
    snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld", (long long)s->wal_limit);
    if (exec_int(s, sql, NULL, err) < 0)
        return -EIO;

    int64_t schema = 0, maxid = 0, floor = 0, crev = 0;
    if (exec_int(s, "SELECT value FROM meta WHERE name='schema'", &schema, err) < 0 ||
        exec_int(s, "SELECT coalesce(max(id), 0) FROM kv", &maxid, err) < 0 ||
        exec_int(s, "SELECT value FROM meta WHERE name='rev_floor'", &floor, err) < 0 ||
        exec_int(s, "SELECT value FROM meta WHERE name='compact_rev'", &crev, err) < 0)
        return -EIO;
    if (schema != SCHEMA_VERSION)
        return bsn_err_set(err, 500, "InternalError",
                           "store %s: schema version %lld, this binary knows %d", s->path,
                           (long long)schema, SCHEMA_VERSION),
               -EIO;
    s->base.rev = BSN_MAX(maxid, BSN_MAX(floor, crev));
    s->incremental_vacuum = pragma_int(s, "PRAGMA auto_vacuum") == 2;
    s->base.compact_rev = crev;

    for (int i = 0; i < S__N; i++) {
        rc = sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                                NULL);
        if (rc != SQLITE_OK)
            return sq_fail(s, rc, err, sql_text[i]);
    }
    const char *dbfile = sqlite3_db_filename(s->db, "main");
    if (dbfile && *dbfile)
        s->wal_path = bsn_strdup(sqlite3_filename_wal(dbfile));
    return 0;
}

int
bsn_store_open_sqlite(const char *path, const struct bsn_store_opts *opts, struct bsn_store **out,
                      struct bsn_err *err)
{
    *out = NULL;
    struct sq_store *s = bsn_calloc(1, sizeof(*s));
    s->base.vt = &sq_vt;
    s->path = bsn_strdup(path);
    s->lock_fd = -1;
    /* One writer per database: revisions are assigned from memory, so a second process
     * writing the same file would collide. The lock dies with the process (kill -9 too). */
    char *lock_path = bsn_sprintf("%s-lock", path);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock_path);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        bsn_err_set(err, 500, "InternalError", "store %s: %s", path,
                    e == EWOULDBLOCK ? "in use by another process (one writer per database)"
                                     : strerror(e));
        sq_close(&s->base);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int neg = sq_fail(s, rc, err, "open");
        sq_close(&s->base);
        return neg;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (setup(s, opts, err) < 0) {
        sq_close(&s->base);
        return -EIO;
    }
    bsn_debug("store", "opened %s at revision %lld (compacted to %lld)", path,
              (long long)s->base.rev, (long long)s->base.compact_rev);
    *out = &s->base;
    return 0;
}
