/*
 * store.h - the durable, revisioned key-value log under the API server.
 *
 * Model (etcd/kine-like): every successful write gets the next value of ONE global revision
 * counter (1, 2, 3, ...; never reused, also across restarts and compaction) and is kept as one
 * row per revision: {rev, key, created, deleted, create_rev, prev_rev, value}. The "live" view
 * (get/list) shows the newest row of every key that is not deleted; the history view
 * (events_since) replays rows in revision order so a watch can resume after a restart.
 * Compaction removes superseded history incrementally, a bounded number of rows per call.
 *
 * Keys are NUL-terminated byte strings compared bytewise (the API server uses
 * "/registry/<group>/<resource>/<namespace>/<name>"); values are opaque bytes (JSON).
 *
 * Backends sit behind a vtable (store_int.h): SQLite (default, durable) and memory (tests,
 * `--store memory`); an etcd backend can be added behind the same table.
 *
 * Threading: a struct bsn_store is used from ONE thread at a time (the API server's store
 * thread). Other processes or connections may read the SQLite file concurrently: the backend
 * runs in WAL mode with a busy timeout, so readers never see "database is locked" from us and
 * we wait for them instead of failing. Callbacks (list, events_since) must not call back into
 * the same store. Calls block: a commit waits for one fsync (~0.1-5 ms), so the API server
 * should call the store from its own thread (or worker) and put all writes that arrive
 * while a commit is in flight into the next bsn_store_commit() batch (group commit): that
 * is how >= 10,000 durable writes/s are reached (see bench/store).
 *
 * Durability: bsn_store_commit() returns 0 only after the batch is in the WAL and the WAL is
 * fsync'd (PRAGMA synchronous=FULL). An acknowledged write survives kill -9 and power loss
 * (as far as the disk honours fsync).
 */
#ifndef BSN_STORE_STORE_H
#define BSN_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Hard caps: a key longer than this or a value larger than this fails its op (-EINVAL/-E2BIG).
 * etcd's default request limit is 1.5 MiB; we allow a little more. */
#define BSN_STORE_KEY_MAX   4096
#define BSN_STORE_VALUE_MAX (4u * 1024 * 1024)

struct bsn_store; /* opaque */

/* One version of a key. Owned by the caller after bsn_store_get() (free with _fini); borrowed
 * (valid only during the callback) inside list/events_since callbacks. value is always
 * followed by a NUL byte that is not counted in value_len. */
struct bsn_store_kv {
    char *key;
    char *value;
    size_t value_len;
    int64_t create_rev; /* revision that created this incarnation of the key */
    int64_t mod_rev;    /* revision of this version */
};
void bsn_store_kv_fini(struct bsn_store_kv *kv);
/* Deep copy of src into dst (dst is overwritten, not freed). */
void bsn_store_kv_copy(struct bsn_store_kv *dst, const struct bsn_store_kv *src);

enum bsn_store_op_type { BSN_STORE_CREATE, BSN_STORE_UPDATE, BSN_STORE_DELETE };

struct bsn_store_op {
    enum bsn_store_op_type type;
    const char *key;
    const char *value; /* CREATE/UPDATE: new value; DELETE: optional final value kept in the
                        * tombstone (NULL = the value being deleted) */
    size_t value_len;
    int64_t expect_rev;    /* UPDATE/DELETE: require current mod_rev == expect_rev (0 = any) */
    /* out */ int result;  /* 0, -EEXIST (create of existing), -ENOENT, -ESTALE (rev mismatch),
                           * -EINVAL (empty/too long key), -E2BIG (value too large) */
    /* out */ int64_t rev; /* revision assigned to this op when result == 0 */
    /* out */ int64_t create_rev; /* create revision of the key when result == 0 */
    /* out */ int64_t cur_rev;    /* -ESTALE/-EEXIST: the key's current mod_rev (else 0) */
};

struct bsn_store_opts {
    /* WAL size above which compaction forces a checkpoint (TRUNCATE); also the size the WAL
     * file is cut back to when SQLite restarts it (journal_size_limit). 0 = 16 MiB. */
    int64_t wal_limit_bytes;
    /* How long a write waits for a lock held by another connection. 0 = 5000 ms. */
    int busy_timeout_ms;
    /* Page cache size in KiB. 0 = 4096 (4 MiB). */
    int cache_kib;
};

/* Opens (creating if needed) a SQLite store at path (plus path-wal, path-shm and path-lock
 * next to it). opts may be NULL for defaults. Only one process may have a database open
 * through this API at a time (flock on path-lock): a second open fails with -EBUSY.
 * Returns 0, or negative with err set (500 InternalError). */
int bsn_store_open_sqlite(const char *path, const struct bsn_store_opts *opts,
                          struct bsn_store **out, struct bsn_err *err);
/* Opens a store from a --store style location: "memory", "sqlite:PATH", "sqlite://PATH"
 * or a plain PATH (SQLite). Returns 0, or negative with err set (400 for a bad location). */
int bsn_store_open_uri(const char *uri, const struct bsn_store_opts *opts, struct bsn_store **out,
                       struct bsn_err *err);
/* Opens an empty in-memory store with the same semantics (nothing survives close). */
int bsn_store_open_memory(struct bsn_store **out);
/* Closes the store and frees it. NULL is allowed. */
void bsn_store_close(struct bsn_store *st);
/* "sqlite" or "memory". */
const char *bsn_store_backend(const struct bsn_store *st);

/* Highest revision assigned so far (0 for an empty store). */
int64_t bsn_store_current_rev(struct bsn_store *st);
/* History at or below this revision may be gone (events_since(after < this) is -ERANGE). */
int64_t bsn_store_compact_rev(struct bsn_store *st);

/* Current value of key into out (caller owns; free with bsn_store_kv_fini).
 * Returns 0, -ENOENT if absent or deleted (err not set), other negative with err set. */
int bsn_store_get(struct bsn_store *st, const char *key, struct bsn_store_kv *out,
                  struct bsn_err *err);

/* Lists live keys with the prefix as of now, in key order, starting after start_after (NULL =
 * from the beginning), at most limit (0 = all). cb gets a borrowed kv; it returns non-zero to
 * stop early. Returns the number of keys passed to cb (>= 0), or negative with err set. */
int bsn_store_list(struct bsn_store *st, const char *prefix, const char *start_after, size_t limit,
                   int (*cb)(const struct bsn_store_kv *kv, void *data), void *data,
                   struct bsn_err *err);

/* Number of live keys with the prefix (for list's remainingItemCount). Negative on error. */
int64_t bsn_store_count(struct bsn_store *st, const char *prefix, struct bsn_err *err);

/* Commits a batch in ONE durable transaction (group commit). Ops are independent: a failed
 * precondition fails only that op (op->result), and later ops see the effect of earlier ones
 * in the same batch. Each successful op gets the next revision, in array order.
 * Returns 0 when the batch is durable; negative on I/O failure, in which case nothing of the
 * batch is applied, no revision is consumed, and every op->result is that error. */
int bsn_store_commit(struct bsn_store *st, struct bsn_store_op *ops, size_t n, struct bsn_err *err);

enum bsn_store_event_type { BSN_STORE_EV_PUT, BSN_STORE_EV_DELETE };

struct bsn_store_event {
    enum bsn_store_event_type type;
    bool created; /* PUT that created the key (an ADDED watch event); false = MODIFIED */
    /* kv.mod_rev is the event's revision. For DELETE, kv.value is the value kept in the
     * tombstone (the deleted object unless the delete op supplied a final value). */
    struct bsn_store_kv kv;
    /* Previous version of the key (for PUT that modified, and DELETE), NULL if it was
     * created by this event or has been compacted away. Borrowed. */
    const struct bsn_store_kv *prev;
};

/* Calls cb for every event with revision > after_rev, in revision order, up to the current
 * revision. cb returns non-zero to stop. Returns the number of events delivered, -ERANGE (err
 * 410 Expired) if after_rev < compact_rev, other negative with err set. */
int bsn_store_events_since(struct bsn_store *st, int64_t after_rev,
                           int (*cb)(const struct bsn_store_event *ev, void *data), void *data,
                           struct bsn_err *err);

/* Incremental compaction towards rev (clamped to the current revision): removes history rows
 * with revision <= rev that are superseded by a newer version with revision <= rev, and
 * tombstones <= rev, looking at no more than `budget` revisions per call (<= 0: 1000), so
 * one call stays short. The newest version of every live key is never removed. Advances
 * compact_rev as it goes. Returns the number of revisions processed in this call (> 0 while
 * work remains; call again), 0 when compaction up to rev is complete, negative on error.
 * Also keeps the WAL bounded: when the WAL file is larger than opts.wal_limit_bytes it runs a
 * TRUNCATE checkpoint (giving up quickly if a reader holds it back; retried next call). */
int bsn_store_compact(struct bsn_store *st, int64_t rev, int budget, struct bsn_err *err);

/* Bounded compaction policy for a periodic timer: compacts towards
 * current_rev - keep_revisions in steps of 200 revisions, stopping after ~2 ms (or 1000
 * revisions), and keeps the files bounded (WAL checkpoint, free pages returned to the
 * filesystem once more than a quarter of the database is free). Cheap when there is nothing
 * to do. Returns the number of revisions processed (> 0: there may be more, call again soon;
 * 0: caught up), negative with err set on failure. A timer every 100-1000 ms that re-arms
 * at ~10 ms while the result is > 0 keeps up with any sustained write rate the store takes. */
int bsn_store_maybe_compact(struct bsn_store *st, int64_t keep_revisions, struct bsn_err *err);

struct bsn_store_stats {
    int64_t rows;           /* history rows stored (live versions + superseded + tombstones) */
    int64_t live_keys;      /* keys that currently exist */
    int64_t db_bytes;       /* database size (pages in use + free; 0 for memory) */
    int64_t wal_bytes;      /* WAL file size (0 for memory) */
    int64_t checkpoints;    /* forced (TRUNCATE) WAL checkpoints run since open */
    int64_t vacuumed_pages; /* free pages given back to the filesystem since open */
};
int bsn_store_stats(struct bsn_store *st, struct bsn_store_stats *out, struct bsn_err *err);

/* Human-readable name of an op result (for messages): "ok", "already exists", ... */
const char *bsn_store_result_str(int result);

#endif
