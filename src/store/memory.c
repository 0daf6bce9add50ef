/*
 * memory.c - in-memory store backend with the same semantics as the SQLite one.
 *
 * Owns two arrays:
 *   - the history: slots ordered by revision, each {rev, rec}; compaction frees a record and
 *     leaves a hole (rec == NULL) that is squeezed out once holes are the majority. Holes only
 *     ever exist at or below compact_rev.
 *   - the live index: pointers to the newest record of every live key, sorted by key, so get
 *     and list are binary searches.
 * Used by unit tests and `--store memory`; nothing survives close.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "store/store_int.h"

struct mem_rec {
    int64_t rev;
    int64_t create_rev;
    int64_t prev_rev; /* previous version of the key (0 for a create) */
    bool created;
    bool deleted;
    char *key;
    char *value; /* NUL-terminated copy */
    size_t value_len;
};

struct mem_slot {
    int64_t rev;
    struct mem_rec *rec; /* NULL once compacted away */
};

struct mem_store {
    struct bsn_store base;
    struct mem_slot *slots;
    size_t nslots, slots_cap, nholes;
    struct mem_rec **live; /* sorted by key */
    size_t nlive, live_cap;
};

static struct mem_store *
mem(struct bsn_store *st)
{
    return (struct mem_store *)st;
}

static void
rec_free(struct mem_rec *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->value);
    free(r);
}

static void
rec_kv(const struct mem_rec *r, struct bsn_store_kv *kv)
{
    kv->key = r->key;
    kv->value = r->value;
    kv->value_len = r->value_len;
    kv->create_rev = r->create_rev;
    kv->mod_rev = r->rev;
}

/* Index of the first slot with rev >= rev. */
static size_t
slot_lower(struct mem_store *m, int64_t rev)
{
    size_t lo = 0, hi = m->nslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->slots[mid].rev < rev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct mem_rec *
rec_by_rev(struct mem_store *m, int64_t rev)
{
    if (rev <= 0)
        return NULL;
    size_t i = slot_lower(m, rev);
    return i < m->nslots && m->slots[i].rev == rev ? m->slots[i].rec : NULL;
}

/* Index of the first live key >= key (incl) or > key (!incl). */
static size_t
live_lower(struct mem_store *m, const char *key, bool incl)
{
    size_t lo = 0, hi = m->nlive;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->live[mid]->key, key);
        if (c < 0 || (!incl && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct mem_rec *
live_find(struct mem_store *m, const char *key, size_t *pos)
{
    size_t i = live_lower(m, key, true);
    *pos = i;
    return i < m->nlive && strcmp(m->live[i]->key, key) == 0 ? m->live[i] : NULL;
}

static void
mem_close(struct bsn_store *st)
{
    struct mem_store *m = mem(st);
    for (size_t i = 0; i < m->nslots; i++)
        rec_free(m->slots[i].rec);
    free(m->slots);
    free(m->live);
    free(m);
}

static int
mem_get(struct bsn_store *st, const char *key, struct bsn_store_kv *out, struct bsn_err *err)
{
    size_t pos;
    struct mem_rec *r = live_find(mem(st), key, &pos);
    if (!r)
        return -ENOENT;
    struct bsn_store_kv kv;
    rec_kv(r, &kv);
    bsn_store_kv_copy(out, &kv);
    return 0;
}

static int
mem_list(struct bsn_store *st, const char *lo, bool lo_incl, const char *hi, size_t limit,
         int (*cb)(const struct bsn_store_kv *kv, void *data), void *data, struct bsn_err *err)
{
    struct mem_store *m = mem(st);
    int n = 0;
    for (size_t i = live_lower(m, lo, lo_incl); i < m->nlive; i++) {
        struct mem_rec *r = m->live[i];
        if (hi && strcmp(r->key, hi) >= 0)
            break;
        if (limit && (size_t)n >= limit)
            break;
        struct bsn_store_kv kv;
        rec_kv(r, &kv);
        n++;
        if (cb(&kv, data))
            break;
    }
    return n;
}

static int64_t
mem_count(struct bsn_store *st, const char *lo, const char *hi, struct bsn_err *err)
{
    struct mem_store *m = mem(st);
    size_t a = live_lower(m, lo, true);
    size_t b = hi ? live_lower(m, hi, true) : m->nlive;
    return b > a ? (int64_t)(b - a) : 0;
}

static struct mem_rec *
rec_new(struct bsn_store_op *op, int64_t rev, const struct mem_rec *prev)
{
    struct mem_rec *r = bsn_calloc(1, sizeof(*r));
    r->rev = rev;
    r->key = bsn_strdup(op->key);
    const char *v = op->value;
    size_t vlen = op->value_len;
    if (op->type == BSN_STORE_DELETE && !v) {
        v = prev->value;
        vlen = prev->value_len;
    }
    r->value = bsn_malloc(vlen + 1);
    if (vlen)
        memcpy(r->value, v, vlen);
    r->value[vlen] = '\0';
    r->value_len = vlen;
    r->created = op->type == BSN_STORE_CREATE;
    r->deleted = op->type == BSN_STORE_DELETE;
    r->create_rev = prev ? prev->create_rev : rev;
    r->prev_rev = prev ? prev->rev : 0;
    return r;
}

static void
slot_push(struct mem_store *m, struct mem_rec *r)
{
    if (m->nslots == m->slots_cap) {
        m->slots_cap = m->slots_cap ? m->slots_cap * 2 : 256;
        m->slots = bsn_realloc(m->slots, m->slots_cap * sizeof(*m->slots));
    }
    m->slots[m->nslots++] = (struct mem_slot){r->rev, r};
}

static void
live_insert(struct mem_store *m, size_t pos, struct mem_rec *r)
{
    if (m->nlive == m->live_cap) {
        m->live_cap = m->live_cap ? m->live_cap * 2 : 256;
        m->live = bsn_realloc(m->live, m->live_cap * sizeof(*m->live));
    }
    memmove(&m->live[pos + 1], &m->live[pos], (m->nlive - pos) * sizeof(*m->live));
    m->live[pos] = r;
    m->nlive++;
}

static void
live_remove(struct mem_store *m, size_t pos)
{
    memmove(&m->live[pos], &m->live[pos + 1], (m->nlive - pos - 1) * sizeof(*m->live));
    m->nlive--;
}

/* Memory cannot fail with I/O errors, so each op is applied as it is checked. */
static int
mem_commit(struct bsn_store *st, struct bsn_store_op *ops, size_t n, struct bsn_err *err)
{
    struct mem_store *m = mem(st);
    for (size_t i = 0; i < n; i++) {
        struct bsn_store_op *op = &ops[i];
        if (op->result)
            continue;
        size_t pos;
        struct mem_rec *cur = live_find(m, op->key, &pos);
        if (op->type == BSN_STORE_CREATE) {
            if (cur) {
                op->result = -EEXIST;
                op->cur_rev = cur->rev;
                continue;
            }
        } else {
            if (!cur) {
                op->result = -ENOENT;
                continue;
            }
            if (op->expect_rev && op->expect_rev != cur->rev) {
                op->result = -ESTALE;
                op->cur_rev = cur->rev;
                continue;
            }
        }
        struct mem_rec *r = rec_new(op, st->rev + 1, cur);
        st->rev = r->rev;
        slot_push(m, r);
        if (op->type == BSN_STORE_CREATE)
            live_insert(m, pos, r);
        else if (op->type == BSN_STORE_UPDATE)
            m->live[pos] = r;
        else
            live_remove(m, pos);
        op->rev = r->rev;
        op->create_rev = r->create_rev;
    }
    return 0;
}

static int
mem_events_since(struct bsn_store *st, int64_t after_rev,
                 int (*cb)(const struct bsn_store_event *ev, void *data), void *data,
                 struct bsn_err *err)
{
    struct mem_store *m = mem(st);
    int n = 0;
    for (size_t i = slot_lower(m, after_rev + 1); i < m->nslots; i++) {
        struct mem_rec *r = m->slots[i].rec;
        if (!r)
            continue;
        struct bsn_store_event ev = {0};
        ev.type = r->deleted ? BSN_STORE_EV_DELETE : BSN_STORE_EV_PUT;
        ev.created = r->created;
        rec_kv(r, &ev.kv);
        struct bsn_store_kv prev;
        struct mem_rec *p = rec_by_rev(m, r->prev_rev);
        if (p) {
            rec_kv(p, &prev);
            ev.prev = &prev;
        }
        n++;
        if (cb(&ev, data))
            break;
    }
    return n;
}

static void
remove_rec(struct mem_store *m, int64_t rev)
{
    size_t i = slot_lower(m, rev);
    if (i < m->nslots && m->slots[i].rev == rev && m->slots[i].rec) {
        rec_free(m->slots[i].rec);
        m->slots[i].rec = NULL;
        m->nholes++;
    }
}

static void
squeeze(struct mem_store *m)
{
    size_t j = 0;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].rec)
            m->slots[j++] = m->slots[i];
    m->nslots = j;
    m->nholes = 0;
}

/*
 * Walks revisions (compact_rev, rev]: every version there supersedes its prev_rev, which is
 * removed; a tombstone is itself removed. Both removed rows are <= the walked revision, so
 * holes never appear above compact_rev.
 */
static int
mem_compact(struct bsn_store *st, int64_t rev, int budget, struct bsn_err *err)
{
    struct mem_store *m = mem(st);
    if (rev <= st->compact_rev)
        return 0;
    int done = 0;
    int64_t upto = st->compact_rev;
    size_t i = slot_lower(m, st->compact_rev + 1);
    while (i < m->nslots && m->slots[i].rev <= rev && done < budget) {
        struct mem_rec *r = m->slots[i].rec;
        int64_t r_rev = m->slots[i].rev;
        if (r && r->prev_rev)
            remove_rec(m, r->prev_rev);
        if (r && r->deleted) {
            rec_free(r);
            m->slots[i].rec = NULL;
            m->nholes++;
        }
        upto = r_rev;
        done++;
        i++;
    }
    /* Nothing left in range: the compacted revision is rev itself. */
    if (i >= m->nslots || m->slots[i].rev > rev)
        upto = rev;
    st->compact_rev = upto;
    if (m->nholes > 64 && m->nholes * 2 > m->nslots)
        squeeze(m);
    return done;
}

static int
mem_stats(struct bsn_store *st, struct bsn_store_stats *out, struct bsn_err *err)
{
    struct mem_store *m = mem(st);
    out->rows = (int64_t)(m->nslots - m->nholes);
    out->live_keys = (int64_t)m->nlive;
    return 0;
}

static const struct bsn_store_vt mem_vt = {
    .name = "memory",
    .close = mem_close,
    .get = mem_get,
    .list = mem_list,
    .count = mem_count,
    .commit = mem_commit,
    .events_since = mem_events_since,
    .compact = mem_compact,
    .stats = mem_stats,
};

int
bsn_store_open_memory(struct bsn_store **out)
{
    struct mem_store *m = bsn_calloc(1, sizeof(*m));
    m->base.vt = &mem_vt;
    *out = &m->base;
    return 0;
}
