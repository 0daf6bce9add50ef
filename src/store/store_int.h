/*
 * store_int.h - the backend vtable behind struct bsn_store (private to src/store).
 *
 * A backend allocates a struct that starts with `struct bsn_store base` and fills `vt`.
 * store.c validates arguments and handles the generic parts (op validation, policy), so
 * backends can assume: keys non-NULL, ops validated (op->result == 0 means "try it").
 */
#ifndef BSN_STORE_STORE_INT_H
#define BSN_STORE_STORE_INT_H

#include "store/store.h"

struct bsn_store_vt {
    const char *name;
    void (*close)(struct bsn_store *st);
    int (*get)(struct bsn_store *st, const char *key, struct bsn_store_kv *out,
               struct bsn_err *err);
    /* Keys k with lo <= k (lo_incl) or lo < k (!lo_incl), and k < hi (hi NULL = no upper
     * bound), in key order; limit 0 = all. Returns the number of keys passed to cb. */
    int (*list)(struct bsn_store *st, const char *lo, bool lo_incl, const char *hi, size_t limit,
                int (*cb)(const struct bsn_store_kv *kv, void *data), void *data,
                struct bsn_err *err);
    /* Live keys with lo <= k < hi (hi NULL = no upper bound). */
    int64_t (*count)(struct bsn_store *st, const char *lo, const char *hi, struct bsn_err *err);
    /* Ops whose result is already non-zero are skipped. */
    int (*commit)(struct bsn_store *st, struct bsn_store_op *ops, size_t n, struct bsn_err *err);
    int (*events_since)(struct bsn_store *st, int64_t after_rev,
                        int (*cb)(const struct bsn_store_event *ev, void *data), void *data,
                        struct bsn_err *err);
    /* rev already clamped to [.., current_rev]; budget > 0. */
    int (*compact)(struct bsn_store *st, int64_t rev, int budget, struct bsn_err *err);
    int (*stats)(struct bsn_store *st, struct bsn_store_stats *out, struct bsn_err *err);
};

struct bsn_store {
    const struct bsn_store_vt *vt;
    int64_t rev;         /* highest revision assigned */
    int64_t compact_rev; /* history <= this may be gone */
};

#endif
