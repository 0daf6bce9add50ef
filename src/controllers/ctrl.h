/*
 * ctrl.h - the shared context of the controllers and the scheduler: one in-process API client,
 * informers shared by collection path, write helpers and Events.
 *
 * Usage: ctx = bsn_ctrl_new(loop, api); register controllers (each asks for the informers it
 * needs with bsn_ctrl_informer and adds handlers); bsn_ctrl_start(ctx) starts every informer;
 * bsn_ctrl_free(ctx) stops them. Everything runs on the API server's loop.
 */
#ifndef BSN_CONTROLLERS_CTRL_H
#define BSN_CONTROLLERS_CTRL_H

#include <jansson.h>
#include <stdbool.h>

#include "controllers/informer.h"

struct bsn_apiserver;
struct bsn_client;

struct bsn_ctrl {
    struct bsn_loop *loop;
    struct bsn_client *cl;
    struct bsn_map informers; /* path -> struct bsn_informer* */
    struct bsn_map events;    /* dedup key -> struct bsn_ctrl_event* */
    bool started;
};

struct bsn_ctrl *bsn_ctrl_new(struct bsn_loop *loop, struct bsn_apiserver *api);
/* Shared informer for a collection path ("/api/v1/pods"); created on first use. */
struct bsn_informer *bsn_ctrl_informer(struct bsn_ctrl *c, const char *path);
/* Starts every informer registered so far (later ones start at creation). */
void bsn_ctrl_start(struct bsn_ctrl *c);
void bsn_ctrl_free(struct bsn_ctrl *c);

/*
 * Answer of a write: status and the raw body (borrowed). Bodies are not parsed: at thousands
 * of writes a second parsing every answer would cost more than the write itself.
 */
typedef void (*bsn_ctrl_done_fn)(int status, const char *body, size_t len, void *data);
/* metadata.name of the object in an answer body, into out; false when not found. */
bool bsn_ctrl_answer_name(const char *body, size_t len, char *out, size_t n);

/*
 * Sends a write (body borrowed; NULL for none). When the answer is an error other than 404
 * and q/key are given, key is requeued with back-off (409 Conflict included: the cache was
 * stale). done (may be NULL) sees every answer.
 */
void bsn_ctrl_send(struct bsn_ctrl *c, const char *method, const char *path,
                   const char *content_type, const json_t *body, struct bsn_workqueue *q,
                   const char *key, bsn_ctrl_done_fn done, void *data);

/*
 * Records an Event about obj (type "Normal"/"Warning", upstream reason). Repeats of the same
 * (object, reason, message) bump count and lastTimestamp instead of creating a new Event.
 */
void bsn_ctrl_event(struct bsn_ctrl *c, const json_t *obj, const char *type, const char *reason,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* API path of an object: "/apis/apps/v1/namespaces/ns/replicasets/name" from its kind. */
void bsn_ctrl_obj_path(const char *prefix, const char *plural, const char *ns, const char *name,
                       char *out, size_t n);

/* The controller ownerReference of obj (borrowed), or NULL. */
json_t *bsn_ctrl_owner(const json_t *obj);
/*
 * Writes obj's status subresource when st (stolen) differs from its current status; errors
 * requeue key on q. _patch sends a merge patch (keys absent from st stay); _put replaces the
 * whole status (for statuses whose keys come and go, e.g. a Job's completionTime).
 * prefix/plural locate the collection ("/apis/apps/v1", "daemonsets"); api_version and kind
 * are written into the PUT body.
 */
void bsn_ctrl_status_patch(struct bsn_ctrl *c, const json_t *obj, const char *prefix,
                           const char *plural, json_t *st, struct bsn_workqueue *q,
                           const char *key);
void bsn_ctrl_status_put(struct bsn_ctrl *c, const json_t *obj, const char *prefix,
                         const char *plural, const char *api_version, const char *kind, json_t *st,
                         struct bsn_workqueue *q, const char *key);

/* The work-queue key ("ns/name") of obj's controller owner when that owner is a `kind`. */
bool bsn_ctrl_owner_key(const json_t *obj, const char *kind, char *key, size_t n);

/*
 * Informer handlers that put keys on a work queue: bsn_ctrl_queue_self queues an object's own
 * key on every change; bsn_ctrl_queue_owned queues (coalesced) the key of the controller owner
 * of kind h->owner_kind of the objects a controller creates. h must outlive the informer.
 */
struct bsn_queue_handler {
    struct bsn_workqueue *q;
    const char *owner_kind;
};
void bsn_ctrl_queue_self(struct bsn_informer *inf, struct bsn_queue_handler *h);
void bsn_ctrl_queue_owned(struct bsn_informer *inf, struct bsn_queue_handler *h);
/* True when obj is being deleted. */
bool bsn_ctrl_deleting(const json_t *obj);
/* Pod helpers. */
bool bsn_pod_ready(const json_t *pod);
bool bsn_pod_active(const json_t *pod); /* not terminal, not deleting */
/* True when a Ready pod has been ready for at least min_ready seconds at now. */
bool bsn_pod_available(const json_t *pod, int64_t min_ready, time_t now);
/* Seconds-precision timestamp in RFC 3339. */
void bsn_ctrl_now(char *out, size_t n);

#endif
