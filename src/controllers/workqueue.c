/*
 * workqueue.c - de-duplicating, rate-limited work queue of keys processed on the loop.
 *
 * Immediate keys sit in a FIFO plus a set (so a queued key is never queued twice); delayed
 * keys sit in a map key -> deadline served by one timer. Keys are processed in batches of
 * BATCH from a zero-delay timer so that a long queue never starves I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "controllers/informer.h"

#define BATCH          512
#define BACKOFF_BASE   5
#define BACKOFF_MAX_MS 30000

struct delayed {
    uint64_t when;
};

struct bsn_workqueue {
    struct bsn_loop *loop;
    char *name;
    bsn_reconcile_fn fn;
    void *data;
    char **fifo; /* ring of owned keys */
    size_t head, len, cap;
    struct bsn_map queued;   /* key -> (void*)1 */
    struct bsn_map delayed;  /* key -> struct delayed* */
    struct bsn_map failures; /* key -> (void*)(uintptr_t)count */
    struct bsn_map cost;     /* key -> (void*)(uintptr_t)last reconcile in µs, when >= 1 ms */
    struct bsn_timer run_timer, delay_timer;
    uint64_t delay_when;
};

static void run_batch(struct bsn_loop *loop, void *data);

static void
schedule(struct bsn_workqueue *q)
{
    if (!bsn_timer_active(&q->run_timer))
        bsn_timer_start(q->loop, &q->run_timer, 0, run_batch, q);
}

void
bsn_workqueue_add(struct bsn_workqueue *q, const char *key)
{
    if (bsn_map_get(&q->queued, key))
        return;
    bsn_map_put(&q->queued, key, (void *)1);
    if (q->len == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 64;
        char **n = bsn_malloc(ncap * sizeof(*n));
        for (size_t i = 0; i < q->len; i++)
            n[i] = q->fifo[(q->head + i) % q->cap];
        free(q->fifo);
        q->fifo = n;
        q->cap = ncap;
        q->head = 0;
    }
    q->fifo[(q->head + q->len) % q->cap] = bsn_strdup(key);
    q->len++;
    schedule(q);
}

static void
run_batch(struct bsn_loop *loop, void *data)
{
    struct bsn_workqueue *q = data;
    size_t n = BSN_MIN(q->len, (size_t)BATCH);
    for (size_t i = 0; i < n && q->len > 0; i++) {
        char *key = q->fifo[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        bsn_map_del(&q->queued, key);
        uint64_t t0 = bsn_mono_ns();
        int rc = q->fn(key, q->data);
        uint64_t us = (bsn_mono_ns() - t0) / 1000;
        if (us >= 1000)
            bsn_map_put(&q->cost, key, (void *)(uintptr_t)us);
        else if (q->cost.len)
            bsn_map_del(&q->cost, key);
        if (rc < 0)
            bsn_workqueue_retry(q, key);
        else {
            bsn_workqueue_forget(q, key);
            if (rc > 0)
                bsn_workqueue_add_after(q, key, (uint64_t)rc);
        }
        free(key);
    }
    if (q->len > 0)
        schedule(q);
}

static void
delay_fire(struct bsn_loop *loop, void *data)
{
    struct bsn_workqueue *q = data;
    uint64_t now = bsn_mono_ms();
    uint64_t next = 0;
    const char *k;
    void *v;
    size_t it = 0;
    char **due = NULL;
    size_t ndue = 0;
    while (bsn_map_next(&q->delayed, &it, &k, &v)) {
        struct delayed *d = v;
        if (d->when <= now) {
            due = bsn_realloc(due, (ndue + 1) * sizeof(*due));
            due[ndue++] = bsn_strdup(k);
        } else if (!next || d->when < next) {
            next = d->when;
        }
    }
    for (size_t i = 0; i < ndue; i++) {
        free(bsn_map_del(&q->delayed, due[i]));
        bsn_workqueue_add(q, due[i]);
        free(due[i]);
    }
    free(due);
    q->delay_when = 0;
    if (next) {
        q->delay_when = next;
        bsn_timer_start(loop, &q->delay_timer, next - now, delay_fire, q);
    }
}

void
bsn_workqueue_add_after(struct bsn_workqueue *q, const char *key, uint64_t delay_ms)
{
    if (delay_ms == 0) {
        bsn_workqueue_add(q, key);
        return;
    }
    uint64_t when = bsn_mono_ms() + delay_ms;
    struct delayed *d = bsn_map_get(&q->delayed, key);
    if (d) {
        if (d->when <= when)
            return;
        d->when = when;
    } else {
        d = bsn_malloc(sizeof(*d));
        d->when = when;
        bsn_map_put(&q->delayed, key, d);
    }
    if (!q->delay_when || when < q->delay_when) {
        q->delay_when = when;
        bsn_timer_stop(q->loop, &q->delay_timer);
        bsn_timer_start(q->loop, &q->delay_timer, delay_ms, delay_fire, q);
    }
}

void
bsn_workqueue_add_coalesced(struct bsn_workqueue *q, const char *key)
{
    uint64_t delay = BSN_COALESCE_MS;
    uintptr_t us = q->cost.len ? (uintptr_t)bsn_map_get(&q->cost, key) : 0;
    if (us * 10 / 1000 > delay)
        delay = BSN_MIN(us * 10 / 1000, 5000);
    bsn_workqueue_add_after(q, key, delay);
}

void
bsn_workqueue_retry(struct bsn_workqueue *q, const char *key)
{
    uintptr_t n = (uintptr_t)bsn_map_get(&q->failures, key);
    uint64_t delay = BACKOFF_BASE;
    for (uintptr_t i = 0; i < n && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    bsn_map_put(&q->failures, key, (void *)(n + 1));
    bsn_workqueue_add_after(q, key, delay);
}

void
bsn_workqueue_forget(struct bsn_workqueue *q, const char *key)
{
    if (q->failures.len)
        bsn_map_del(&q->failures, key);
}

size_t
bsn_workqueue_len(const struct bsn_workqueue *q)
{
    return q->len + q->delayed.len;
}

struct bsn_workqueue *
bsn_workqueue_new(struct bsn_loop *loop, const char *name, bsn_reconcile_fn fn, void *data)
{
    struct bsn_workqueue *q = bsn_calloc(1, sizeof(*q));
    q->loop = loop;
    q->name = bsn_strdup(name);
    q->fn = fn;
    q->data = data;
    bsn_map_init(&q->queued);
    bsn_map_init(&q->delayed);
    bsn_map_init(&q->failures);
    bsn_map_init(&q->cost);
    bsn_timer_init(&q->run_timer);
    bsn_timer_init(&q->delay_timer);
    return q;
}

void
bsn_workqueue_free(struct bsn_workqueue *q)
{
    if (!q)
        return;
    bsn_timer_stop(q->loop, &q->run_timer);
    bsn_timer_stop(q->loop, &q->delay_timer);
    for (size_t i = 0; i < q->len; i++)
        free(q->fifo[(q->head + i) % q->cap]);
    free(q->fifo);
    size_t it = 0;
    void *v;
    while (bsn_map_next(&q->delayed, &it, NULL, &v))
        free(v);
    bsn_map_fini(&q->delayed);
    bsn_map_fini(&q->queued);
    bsn_map_fini(&q->failures);
    bsn_map_fini(&q->cost);
    free(q->name);
    free(q);
}
