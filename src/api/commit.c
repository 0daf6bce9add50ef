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
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
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
/* > 0 while finish_job answers the requests of a committed batch (loop thread only) */
static int answering;

struct pending *
api_write(struct bsn_apiserver *s, int type, const char *key, json_t *tree,
          const struct bsn_resource *res)
{
    struct pending *p = bsn_calloc(1, sizeof(*p));
    p->key = bsn_strdup(key);
    p->type = type;
    /* a reference, not a copy: every caller drops the tree right after queueing it and
     * nothing mutates a queued tree except the commit itself (resourceVersion) */
    p->tree = json_incref(tree);
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
    /* keep order: append at the tail */
    if (!s->deferred)
        s->deferred_tail = &s->deferred;
    *s->deferred_tail = d;
    s->deferred_tail = &d->next;
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

/* One batch on its way to disk. */
struct commit_job {
    struct pending **batch;
    size_t n;
    struct bsn_store_op *ops;
    char **vals;
    int rc;
    struct bsn_err err;
    uint64_t ns;
    struct deferred_reply *deferred; /* replies that wait for this batch */
};

struct commit_writer {
    struct bsn_timer trim; /* gives freed heap back after a burst of writes */
    uint64_t ops_since_trim;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct commit_job *job; /* handed over, not yet taken */
    bool busy, quit;
};

static struct commit_job *
make_job(struct bsn_apiserver *s)
{
    struct commit_job *j = bsn_calloc(1, sizeof(*j));
    j->n = s->batch_len;
    j->batch = s->batch;
    s->batch = NULL;
    s->batch_len = s->batch_cap = 0;
    j->deferred = s->deferred;
    s->deferred = NULL;
    j->ops = bsn_calloc(j->n, sizeof(*j->ops));
    j->vals = bsn_calloc(j->n, sizeof(*j->vals));
    for (size_t i = 0; i < j->n; i++) {
        struct pending *p = j->batch[i];
        j->ops[i].type = p->type;
        j->ops[i].key = p->key;
        if (p->type != BSN_STORE_DELETE) {
            /* stored without a resourceVersion: it is the row's revision */
            json_object_del(json_object_get(p->tree, "metadata"), "resourceVersion");
            j->vals[i] = json_dumps(p->tree, JSON_COMPACT | JSON_PRESERVE_ORDER);
            j->ops[i].value = j->vals[i];
            j->ops[i].value_len = strlen(j->vals[i]);
        }
    }
    return j;
}

static void
run_job(struct bsn_apiserver *s, struct commit_job *j)
{
    bsn_err_clear(&j->err);
    uint64_t t0 = bsn_mono_ns();
    j->rc = bsn_store_commit(s->store, j->ops, j->n, &j->err);
    j->ns = bsn_mono_ns() - t0;
}

static void
flush_deferred(struct deferred_reply *d)
{
    while (d) {
        struct deferred_reply *next = d->next;
        api_reply_raw(d->c, d->status, d->ctype, d->body, d->len);
        free(d->ctype);
        free(d->body);
        free(d);
        d = next;
    }
}

/* On the loop: publish a committed job, answer its requests. */
static void
finish_job(struct bsn_apiserver *s, struct commit_job *j)
{
    size_t n = j->n;
    int rc = j->rc;
    struct bsn_err err;
    bsn_err_copy(&err, &j->err);
    observe_store(s, j->ns, n);
    for (size_t i = 0; i < n; i++) {
        struct pending *p = j->batch[i];
        /* the overlay keeps only writes still queued in a later batch */
        if (bsn_map_get(&s->overlay, p->key) == p)
            bsn_map_del(&s->overlay, p->key);
    }
    for (size_t i = 0; i < n; i++) {
        struct pending *p = j->batch[i];
        if (rc < 0 || j->ops[i].result != 0) {
            if (p->ctx) {
                if (j->ops[i].result == -ESTALE)
                    bsn_err_set(&err, 409, "Conflict",
                                "Operation cannot be fulfilled on %s: the object has been "
                                "modified; please apply your changes to the latest version and "
                                "try again",
                                p->key);
                else
                    bsn_err_set(&err, 500, "InternalError", "storage write failed for %s: %s",
                                p->key,
                                rc < 0 ? j->err.msg : bsn_store_result_str(j->ops[i].result));
                api_reply_err(p->ctx, &err);
            }
            continue;
        }
        int64_t rev = j->ops[i].rev;
        /* the stored bytes plus the resourceVersion: no second serialization; in-process
         * watchers get the tree itself (read-only) instead of parsing the event */
        struct bsn_obj *o = bsn_obj_new_json(p->key, p->tree, j->vals[i], j->ops[i].value_len, rev,
                                             j->ops[i].create_rev);
        if (p->type == BSN_STORE_DELETE)
            bsn_cache_publish_tree(&s->cache, p->key, NULL, o, rev, p->tree);
        else
            bsn_cache_publish_tree(&s->cache, p->key, o, NULL, rev, p->tree);
        p->result = o;
        if (p->type == BSN_STORE_DELETE && !strncmp(p->key, "core/services/", 14))
            api_release_service(s, p->tree);
    }
    if (rc < 0)
        bsn_error("apiserver", "store commit failed: %s", j->err.msg);
    /* answers go out only now that everything is durable and published; they show nothing
     * but durable state, so a batch queued meanwhile does not hold them back (a held answer is
     * a copy of the object kept until the next commit) */
    answering++;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = j->batch[i];
        if (p->result && p->ctx) {
            if (p->answer_status)
                api_reply_json(p->ctx, p->status,
                               json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion",
                                         "v1", "metadata", "status", "Success", "code", p->status));
            else
                api_reply_obj(p->ctx, p->status, p->result);
        }
        if (p->done)
            p->done(s, p, p->done_data);
        bsn_obj_unref(p->result);
        json_decref(p->tree);
        free(p->key);
        free(p);
        free(j->vals[i]);
    }
    answering--;
    free(j->vals);
    free(j->ops);
    free(j->batch);
    struct deferred_reply *d = j->deferred;
    free(j);
    flush_deferred(d);
}

/*
 * A burst of writes (a Deployment scaled to thousands of pods) leaves the heap at its high
 * mark: requests, pending trees and answers in flight. Once writes have been quiet for a while
 * the free pages go back to the system.
 */
#define TRIM_QUIET_MS 2000
#define TRIM_MIN_OPS  2000 /* a burst; steady trickles (lease renewals) never trim */

static void
trim_heap(struct bsn_loop *loop, void *data)
{
    struct bsn_apiserver *s = data;
    s->writer->ops_since_trim = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void start_next(struct bsn_apiserver *s);

static void
job_done(struct bsn_loop *loop, void *data)
{
    struct bsn_apiserver *s = data;
    struct commit_job *j = s->inflight;
    if (!j)
        return; /* already finished synchronously by api_commit_now */
    pthread_mutex_lock(&s->writer->mu);
    bool busy = s->writer->busy;
    pthread_mutex_unlock(&s->writer->mu);
    if (busy)
        return;
    s->inflight = NULL;
    s->writer->ops_since_trim += j->n;
    finish_job(s, j);
    start_next(s);
    if (!s->inflight && s->writer->ops_since_trim >= TRIM_MIN_OPS)
        bsn_timer_start(s->loop, &s->writer->trim, TRIM_QUIET_MS, trim_heap, s);
    if (!s->inflight && s->batch_len == 0 && s->deferred) {
        /* reads made while the last batch was in flight saw only durable state now */
        struct deferred_reply *d = s->deferred;
        s->deferred = NULL;
        flush_deferred(d);
    }
}

static void *
writer_main(void *arg)
{
    struct bsn_apiserver *s = arg;
    struct commit_writer *w = s->writer;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->job && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->job && w->quit)
            break;
        struct commit_job *j = w->job;
        w->job = NULL;
        pthread_mutex_unlock(&w->mu);
        run_job(s, j);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        pthread_cond_broadcast(&w->cv);
        bsn_loop_post(s->loop, job_done, s);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void
api_writer_start(struct bsn_apiserver *s)
{
    struct commit_writer *w = bsn_calloc(1, sizeof(*w));
    bsn_timer_init(&w->trim);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    s->writer = w;
    if (pthread_create(&w->thread, NULL, writer_main, s) != 0) {
        bsn_warn("apiserver", "no writer thread: committing on the loop");
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        s->writer = NULL;
    }
}

void
api_writer_stop(struct bsn_apiserver *s)
{
    struct commit_writer *w = s->writer;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    bsn_timer_stop(s->loop, &w->trim);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    s->writer = NULL;
}

bool
api_writes_pending(const struct bsn_apiserver *s)
{
    if (answering > 0)
        return false; /* finish_job answering the writes it just made durable */
    return s->batch_len > 0 || s->inflight != NULL;
}

static void
start_next(struct bsn_apiserver *s)
{
    if (s->inflight || s->batch_len == 0)
        return;
    struct commit_job *j = make_job(s);
    if (!s->writer) {
        run_job(s, j);
        finish_job(s, j);
        return;
    }
    s->inflight = j;
    pthread_mutex_lock(&s->writer->mu);
    s->writer->job = j;
    s->writer->busy = true;
    pthread_cond_broadcast(&s->writer->cv);
    pthread_mutex_unlock(&s->writer->mu);
}

void
api_commit_now(struct bsn_apiserver *s)
{
    s->commit_scheduled = false;
    if (s->inflight) {
        /* wait for the writer, then finish its job here (job_done will find nothing) */
        struct commit_writer *w = s->writer;
        pthread_mutex_lock(&w->mu);
        while (w->busy)
            pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
        struct commit_job *j = s->inflight;
        s->inflight = NULL;
        finish_job(s, j);
    }
    while (s->batch_len > 0) {
        struct commit_job *j = make_job(s);
        run_job(s, j);
        finish_job(s, j);
    }
    struct deferred_reply *d = s->deferred;
    s->deferred = NULL;
    flush_deferred(d);
}

static void
commit_cb(struct bsn_loop *loop, void *data)
{
    struct bsn_apiserver *s = data;
    s->commit_scheduled = false;
    start_next(s);
}
