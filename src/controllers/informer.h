/*
 * informer.h - shared informers and the rate-limited work queue every controller uses.
 *
 * An informer lists one resource through the in-process API client, keeps every object in a
 * local cache keyed "ns/name" (or "name" for cluster-scoped kinds), then watches from the list's
 * resourceVersion. When the watch ends it resumes from the last resourceVersion seen; when the
 * server answers 410 Expired it lists again and reports the differences as add/update/delete.
 * Cached objects are shared and must be treated as read-only (json_deep_copy before editing).
 *
 * The work queue holds keys, not objects: adding a key that is already queued is a no-op, keys
 * are processed in batches on the loop, and a key whose reconcile fails is retried with
 * per-key exponential back-off (5 ms doubling up to 30 s), reset by a success.
 */
#ifndef BSN_CONTROLLERS_INFORMER_H
#define BSN_CONTROLLERS_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/map.h"
#include "loop/loop.h"

struct bsn_client;
struct bsn_informer;

/* Handlers see borrowed objects; old is the previous cached version. Any may be NULL. */
struct bsn_informer_handler {
    void (*on_add)(json_t *obj, void *data);
    void (*on_update)(json_t *old, json_t *obj, void *data);
    void (*on_delete)(json_t *obj, void *data);
    void *data;
};

/* path is a collection path, e.g. "/api/v1/pods" or "/apis/apps/v1/replicasets". */
struct bsn_informer *bsn_informer_new(struct bsn_loop *loop, struct bsn_client *cl,
                                      const char *path);
void bsn_informer_free(struct bsn_informer *inf);
/*
 * Optional transform applied to every object before it is cached (client-go's SetTransform):
 * returns a new reference (the informer owns it) holding only what the controllers read.
 * Set before bsn_informer_start.
 */
typedef json_t *(*bsn_informer_transform_fn)(json_t *obj);
void bsn_informer_set_transform(struct bsn_informer *inf, bsn_informer_transform_fn fn);
/* The transform the shared pods informer uses: drops fields no controller reads (container
 * commands, env, volumes, probes, managedFields, last-applied annotation, ...). */
json_t *bsn_pod_slim(json_t *pod);

/* Registers a handler (before or after start; objects already cached are not replayed). */
void bsn_informer_add_handler(struct bsn_informer *inf, const struct bsn_informer_handler *h);
/* Starts the initial list. */
void bsn_informer_start(struct bsn_informer *inf);
/* True once the first list has been delivered. */
bool bsn_informer_synced(const struct bsn_informer *inf);
/* Cached object by key ("ns/name" or "name"), borrowed; NULL when absent. */
json_t *bsn_informer_get(const struct bsn_informer *inf, const char *key);
/* All objects of one namespace (NULL = every object): a map key -> json_t*, or NULL if none. */
const struct bsn_map *bsn_informer_ns(const struct bsn_informer *inf, const char *ns);
/* Number of cached objects. */
size_t bsn_informer_len(const struct bsn_informer *inf);

/* "ns/name" or "name" of an object into out. */
void bsn_obj_key(const json_t *obj, char *out, size_t n);

/* ---- work queue ---- */

struct bsn_workqueue;
/* Delay for keys queued because a dependent object changed: a burst of pod updates is handled
 * by one reconcile of their owner. */
#define BSN_COALESCE_MS 20
/*
 * Reconciles one key. Returns 0 when done, a negative value to retry with back-off, or a
 * positive number of milliseconds to look again after (without counting as a failure).
 */
typedef int (*bsn_reconcile_fn)(const char *key, void *data);

struct bsn_workqueue *bsn_workqueue_new(struct bsn_loop *loop, const char *name,
                                        bsn_reconcile_fn fn, void *data);
void bsn_workqueue_free(struct bsn_workqueue *q);
/* Queues key (no-op when already queued). */
void bsn_workqueue_add(struct bsn_workqueue *q, const char *key);
/* Queues key after delay_ms (keeps the earliest pending deadline per key). */
void bsn_workqueue_add_after(struct bsn_workqueue *q, const char *key, uint64_t delay_ms);
/*
 * Queues key because something it depends on changed: after BSN_COALESCE_MS, or ten times the
 * key's last reconcile time when that is longer, so that a large object's reconciles never
 * take more than a tenth of the loop however fast its dependents change.
 */
void bsn_workqueue_add_coalesced(struct bsn_workqueue *q, const char *key);
/* Queues key after its back-off delay and doubles the delay. */
void bsn_workqueue_retry(struct bsn_workqueue *q, const char *key);
/* Forgets the back-off of key. */
void bsn_workqueue_forget(struct bsn_workqueue *q, const char *key);
/* Keys waiting (immediate + delayed). */
size_t bsn_workqueue_len(const struct bsn_workqueue *q);

#endif
