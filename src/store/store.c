/*
 * store.c - backend-independent part of the store: argument checks, op validation, prefix
 * ranges, the compaction policy helper, and small kv helpers. Everything else is dispatched
 * through the backend vtable (store_int.h).
 */
#include "store/store_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/time.h"

/* bsn_store_maybe_compact() works in steps of this many revisions (one short transaction
 * each: ~1 ms with SQLite for 1 KiB values) and stops after MAYBE_COMPACT_NS or
 * MAYBE_COMPACT_STEPS steps, whichever comes first. */
#define MAYBE_COMPACT_STEP  200
#define MAYBE_COMPACT_STEPS 5
#define MAYBE_COMPACT_NS    (2 * 1000 * 1000)

void
bsn_store_kv_fini(struct bsn_store_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

void
bsn_store_kv_copy(struct bsn_store_kv *dst, const struct bsn_store_kv *src)
{
    dst->key = bsn_strdup(src->key ? src->key : "");
    dst->value = bsn_malloc(src->value_len + 1);
    if (src->value_len)
        memcpy(dst->value, src->value, src->value_len);
    dst->value[src->value_len] = '\0';
    dst->value_len = src->value_len;
    dst->create_rev = src->create_rev;
    dst->mod_rev = src->mod_rev;
}

void
bsn_store_close(struct bsn_store *st)
{
    if (st)
        st->vt->close(st);
}

int
bsn_store_open_uri(const char *uri, const struct bsn_store_opts *opts, struct bsn_store **out,
                   struct bsn_err *err)
{
    *out = NULL;
    if (!uri || !*uri)
        return bsn_err_set(err, 400, "BadRequest", "store: empty location"), -EINVAL;
    if (strcmp(uri, "memory") == 0 || strcmp(uri, "memory:") == 0)
        return bsn_store_open_memory(out);
    const char *path = uri;
    if (strncmp(uri, "sqlite://", 9) == 0)
        path = uri + 9;
    else if (strncmp(uri, "sqlite:", 7) == 0)
        path = uri + 7;
    else if (strstr(uri, "://"))
        return bsn_err_set(err, 400, "BadRequest",
                           "store: unsupported location %s (expected memory, sqlite:PATH or PATH)",
                           uri),
               -EINVAL;
    if (!*path)
        return bsn_err_set(err, 400, "BadRequest", "store: %s has no path", uri), -EINVAL;
    return bsn_store_open_sqlite(path, opts, out, err);
}

const char *
bsn_store_backend(const struct bsn_store *st)
{
    return st->vt->name;
}

int64_t
bsn_store_current_rev(struct bsn_store *st)
{
    return st->rev;
}

int64_t
bsn_store_compact_rev(struct bsn_store *st)
{
    return st->compact_rev;
}

int
bsn_store_get(struct bsn_store *st, const char *key, struct bsn_store_kv *out, struct bsn_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!key || !*key)
        return -ENOENT;
    return st->vt->get(st, key, out, err);
}

/*
 * The smallest string greater than every string with this prefix, or NULL when there is none
 * (empty prefix, or all 0xff bytes). Caller frees.
 */
static char *
prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
        n--;
    if (n == 0)
        return NULL;
    char *hi = bsn_strndup(prefix, n);
    hi[n - 1] = (char)((unsigned char)hi[n - 1] + 1);
    return hi;
}

int
bsn_store_list(struct bsn_store *st, const char *prefix, const char *start_after, size_t limit,
               int (*cb)(const struct bsn_store_kv *kv, void *data), void *data,
               struct bsn_err *err)
{
    if (!prefix)
        prefix = "";
    BSN_AUTOFREE char *hi = prefix_end(prefix);
    /* Start at whichever bound is later: the prefix (inclusive) or start_after (exclusive). */
    const char *lo = prefix;
    bool lo_incl = true;
    if (start_after && strcmp(start_after, prefix) >= 0) {
        lo = start_after;
        lo_incl = false;
    }
    if (hi && strcmp(lo, hi) >= 0)
        return 0;
    return st->vt->list(st, lo, lo_incl, hi, limit, cb, data, err);
}

int64_t
bsn_store_count(struct bsn_store *st, const char *prefix, struct bsn_err *err)
{
    if (!prefix)
        prefix = "";
    BSN_AUTOFREE char *hi = prefix_end(prefix);
    return st->vt->count(st, prefix, hi, err);
}

int
bsn_store_commit(struct bsn_store *st, struct bsn_store_op *ops, size_t n, struct bsn_err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct bsn_store_op *op = &ops[i];
        op->result = 0;
        op->rev = 0;
        op->create_rev = 0;
        op->cur_rev = 0;
        if (!op->key || !*op->key || strlen(op->key) > BSN_STORE_KEY_MAX)
            op->result = -EINVAL;
        else if (op->value_len > BSN_STORE_VALUE_MAX)
            op->result = -E2BIG;
        else if (!op->value && op->value_len && op->type != BSN_STORE_DELETE)
            op->result = -EINVAL;
        else if (op->type != BSN_STORE_CREATE && op->type != BSN_STORE_UPDATE &&
                 op->type != BSN_STORE_DELETE)
            op->result = -EINVAL;
    }
    if (n == 0)
        return 0;
    int64_t rev0 = st->rev;
    int rc = st->vt->commit(st, ops, n, err);
    if (rc < 0) {
        /* The backend restores nothing: it must not have advanced the revision. */
        assert(st->rev == rev0);
        (void)rev0;
        for (size_t i = 0; i < n; i++) {
            ops[i].result = rc;
            ops[i].rev = 0;
        }
    }
    return rc;
}

int
bsn_store_events_since(struct bsn_store *st, int64_t after_rev,
                       int (*cb)(const struct bsn_store_event *ev, void *data), void *data,
                       struct bsn_err *err)
{
    if (after_rev < st->compact_rev) {
        bsn_err_set(err, 410, "Expired", "too old resource version: %lld (compacted to %lld)",
                    (long long)after_rev, (long long)st->compact_rev);
        return -ERANGE;
    }
    if (after_rev >= st->rev)
        return 0;
    return st->vt->events_since(st, after_rev, cb, data, err);
}

int
bsn_store_compact(struct bsn_store *st, int64_t rev, int budget, struct bsn_err *err)
{
    if (rev > st->rev)
        rev = st->rev;
    if (budget <= 0)
        budget = 1000;
    if (budget > 100000)
        budget = 100000;
    return st->vt->compact(st, rev, budget, err);
}

int
bsn_store_maybe_compact(struct bsn_store *st, int64_t keep_revisions, struct bsn_err *err)
{
    if (keep_revisions < 0)
        keep_revisions = 0;
    int64_t target = st->rev - keep_revisions;
    if (target < 0)
        target = 0;
    /* The backend's compact also does the file housekeeping (WAL, free pages), so call it
     * even when the history is already compacted far enough. */
    uint64_t t0 = bsn_mono_ns();
    int total = 0;
    for (int step = 0; step < MAYBE_COMPACT_STEPS; step++) {
        int rc = bsn_store_compact(st, target, MAYBE_COMPACT_STEP, err);
        if (rc < 0)
            return rc;
        total += rc;
        if (rc < MAYBE_COMPACT_STEP || bsn_mono_ns() - t0 >= MAYBE_COMPACT_NS)
            break;
    }
    return total;
}

int
bsn_store_stats(struct bsn_store *st, struct bsn_store_stats *out, struct bsn_err *err)
{
    memset(out, 0, sizeof(*out));
    return st->vt->stats(st, out, err);
}

const char *
bsn_store_result_str(int result)
{
    switch (result) {
    case 0:
        return "ok";
    case -EEXIST:
        return "already exists";
    case -ENOENT:
        return "not found";
    case -ESTALE:
        return "revision mismatch";
    case -EINVAL:
        return "invalid key";
    case -E2BIG:
        return "value too large";
    default:
        return "storage error";
    }
}
