/*
 * commit.c - group commit: writes queued during one loop iteration are committed to the store
 * in one transaction, then published to the cache (watch events) and answered.
 *
 * The API server is the store's only writer, so preconditions (exists, resourceVersion) are
 * checked against the cache plus the overlay of writes still pending in the current batch;
 * the store checks them again. A failed commit (I/O error) answers every request of the batch
 * with 500 and publishes nothing: nothing partial is ever visible.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "store/store.h"

struct deferred_reply {
    struct req_ctx *c;
    int status;
    char *ctype;
    char *body;
    size_t len;
    struct deferred_reply *next;
};

static void commit_cb(struct bsn_loop *loop, void *data);

struct pending *
api_write(struct bsn_apiserver *s, int type, const char *key, json_t *tree,
          const struct bsn_resource *res)
{
    struct pending *p = bsn_calloc(1, sizeof(*p));
    p->key = bsn_strdup(key);
    p->type = type;
    p->tree = json_deep_copy(tree);
    p->res = res;
    struct pending *prev = bsn_map_get(&s->overlay, key);
    if (prev)
        p->create_rev = prev->create_rev;
    else {
        struct bsn_obj *o = bsn_cache_get(&s->cache, key);
        p->create_rev = o ? o->create_rev : 0;
    }
    bsn_map_put(&s->overlay, key, p);
    if (s->batch_len == s->batch_cap) {
        s->batch_cap = s->batch_cap ? s->batch_cap * 2 : 64;
        s->batch = bsn_realloc(s->batch, s->batch_cap * sizeof(*s->batch));
    }
    s->batch[s->batch_len++] = p;
    if (!s->commit_scheduled) {
        s->commit_scheduled = true;
        bsn_loop_defer(s->loop, commit_cb, s);
    }
    return p;
}

void
api_defer_reply(struct bsn_apiserver *s, struct req_ctx *c, int status, const char *ctype,
                const char *body, size_t len)
{
    struct deferred_reply *d = bsn_calloc(1, sizeof(*d));
    d->c = c;
    d->status = status;
    d->ctype = bsn_strdup(ctype);
    d->body = bsn_malloc(len + 1);
    memcpy(d->body, body, len);
    d->len = len;
    /* keep order: append */
    struct deferred_reply **pp = &s->deferred;
    while (*pp)
        pp = &(*pp)->next;
    *pp = d;
}

static void
observe_store(struct bsn_apiserver *s, uint64_t ns, size_t nops)
{
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
    double sec = (double)ns / 1e9;
    s->metrics.store_commits++;
    s->metrics.store_ops += nops;
    s->metrics.store_seconds += sec;
    for (int i = 0; i < 12; i++)
        if (sec <= bounds[i])
            s->metrics.store_buckets[i]++;
}

void
api_commit_now(struct bsn_apiserver *s)
{
    s->commit_scheduled = false;
    size_t n = s->batch_len;
    if (n == 0)
        return;
    struct pending **batch = s->batch;
    s->batch = NULL;
    s->batch_len = s->batch_cap = 0;

    struct bsn_store_op *ops = bsn_calloc(n, sizeof(*ops));
    char **vals = bsn_calloc(n, sizeof(*vals));
    for (size_t i = 0; i < n; i++) {
        struct pending *p = batch[i];
        ops[i].type = p->type;
        ops[i].key = p->key;
        if (p->type != BSN_STORE_DELETE) {
            /* stored without a resourceVersion: it is the row's revision */
            json_object_del(json_object_get(p->tree, "metadata"), "resourceVersion");
            vals[i] = json_dumps(p->tree, JSON_COMPACT | JSON_PRESERVE_ORDER);
            ops[i].value = vals[i];
            ops[i].value_len = strlen(vals[i]);
        }
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    uint64_t t0 = bsn_mono_ns();
    int rc = bsn_store_commit(s->store, ops, n, &err);
    observe_store(s, bsn_mono_ns() - t0, n);
    bsn_map_fini(&s->overlay);
    bsn_map_init(&s->overlay);

    for (size_t i = 0; i < n; i++) {
        struct pending *p = batch[i];
        int res = rc < 0 ? rc : ops[i].result;
        if (res == -EEXIST && p->type == BSN_STORE_CREATE) {
            res = 0; /* cannot happen: prechecked; keep going safely */
        }
        if (rc < 0 || ops[i].result != 0) {
            if (p->req && p->ctx) {
                bsn_err_set(&err, 500, "InternalError", "storage write failed for %s: %s", p->key,
                            rc < 0 ? err.msg : bsn_store_result_str(ops[i].result));
                if (ops[i].result == -ESTALE)
                    bsn_err_set(&err, 409, "Conflict",
                                "Operation cannot be fulfilled on %s: the object has been "
                                "modified; please apply your changes to the latest version and "
                                "try again",
                                p->key);
                api_reply_err(p->ctx, &err);
            }
            continue;
        }
        int64_t rev = ops[i].rev;
        if (p->type == BSN_STORE_DELETE) {
            struct bsn_obj *tomb = bsn_obj_new(p->key, p->tree, rev, ops[i].create_rev);
            bsn_cache_publish(&s->cache, p->key, NULL, tomb, rev);
            p->result = tomb;
        } else {
            struct bsn_obj *o = bsn_obj_new(p->key, p->tree, rev, ops[i].create_rev);
            bsn_cache_publish(&s->cache, p->key, o, NULL, rev);
            p->result = o;
        }
        if (p->type == BSN_STORE_DELETE && !strncmp(p->key, "core/services/", 14))
            api_release_service(s, p->tree);
    }
    /* answers go out only now that everything is durable and published */
    for (size_t i = 0; i < n; i++) {
        struct pending *p = batch[i];
        if (p->result && p->req && p->ctx) {
            if (p->answer_status) {
                api_reply_json(p->ctx, p->status,
                               json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion",
                                         "v1", "metadata", "status", "Success", "code", p->status));
            } else {
                api_reply_obj(p->ctx, p->status, p->result);
            }
        }
        if (p->done)
            p->done(s, p, p->done_data);
        bsn_obj_unref(p->result);
        json_decref(p->tree);
        free(p->key);
        free(p);
        free(vals[i]);
    }
    free(vals);
    free(ops);
    free(batch);
    if (rc < 0)
        bsn_error("apiserver", "store commit failed: %s", err.msg);

    /* replies held back while the batch was pending */
    struct deferred_reply *d = s->deferred;
    s->deferred = NULL;
    while (d) {
        struct deferred_reply *next = d->next;
        api_reply_raw(d->c, d->status, d->ctype, d->body, d->len);
        free(d->ctype);
        free(d->body);
        free(d);
        d = next;
    }
}

static void
commit_cb(struct bsn_loop *loop, void *data)
{
    api_commit_now(data);
}
