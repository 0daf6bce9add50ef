/*
 * cache.h - the API server's object cache and watch hub.
 *
 * The cache holds the latest version of every stored object as an immutable, refcounted
 * struct bsn_obj (serialized JSON with metadata.resourceVersion set, plus the few parsed fields
 * that list/watch filtering needs). Writes go to the store first (group commit) and are
 * published here only once durable; every published change appends a struct bsn_event to a
 * bounded ring (the watch window) and is offered to every watcher of that resource. An event's
 * wire line ({"type":..,"object":..}) is serialized once and shared by all plain JSON watchers.
 *
 * Keys: "<storage-group>/<plural>/<namespace>/<name>" ("" namespace for cluster-scoped).
 */
#ifndef BSN_API_CACHE_H
#define BSN_API_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/registry.h"
#include "base/map.h"

struct bsn_obj {
    int refs;
    char *key;
    char *ns, *name, *uid;
    char *rkey; /* "<storage-group>/<plural>": the resource bucket */
    int64_t rev, create_rev;
    char *json; /* serialized object, resourceVersion included */
    size_t len;
    json_t *labels; /* metadata.labels (object) or NULL */
};

/*
 * Makes an object version from a tree (resourceVersion is set to rev in the tree first).
 * The tree is borrowed.
 */
struct bsn_obj *bsn_obj_new(const char *key, json_t *tree, int64_t rev, int64_t create_rev);
/*
 * Same, from the tree's serialization without metadata.resourceVersion (json_norv, what the
 * store keeps): resourceVersion is spliced into the bytes instead of serializing again. The
 * result is byte for byte what bsn_obj_new gives. The tree still gets its resourceVersion.
 */
struct bsn_obj *bsn_obj_new_json(const char *key, json_t *tree, const char *json_norv, size_t len,
                                 int64_t rev, int64_t create_rev);
struct bsn_obj *bsn_obj_ref(struct bsn_obj *o);
void bsn_obj_unref(struct bsn_obj *o);
/* A fresh mutable tree parsed from the object's JSON. */
json_t *bsn_obj_tree(const struct bsn_obj *o);
/* Only the top-level member `name` of the object, parsed (a new reference), or NULL when the
 * object has none: field selectors on large objects without parsing all of each. */
json_t *bsn_obj_member(const struct bsn_obj *o, const char *name);

enum bsn_event_type { BSN_EV_ADDED, BSN_EV_MODIFIED, BSN_EV_DELETED, BSN_EV_BOOKMARK };
const char *bsn_event_type_name(enum bsn_event_type t);

struct bsn_event {
    enum bsn_event_type type;
    int64_t rev;
    struct bsn_obj *obj;  /* for DELETED: the last version, resourceVersion = deletion rev */
    struct bsn_obj *prev; /* previous version for MODIFIED (selector transitions), or NULL */
    /* the parsed object, set only while the publish fans the event out (NULL on replay):
     * in-process watchers share it read-only instead of parsing the wire line */
    json_t *tree;
    char *line; /* "{"type":..,"object":..}\n", built on first use, dropped after fan-out */
    size_t line_len;
    int refs;
};

struct bsn_event *bsn_event_ref(struct bsn_event *e);
void bsn_event_unref(struct bsn_event *e);
/* The shared wire line for plain JSON watchers. */
const char *bsn_event_line(struct bsn_event *e, size_t *len);

struct bsn_watcher;
/* Called for each event of the watcher's bucket; the watcher filters and writes. */
typedef void (*bsn_watch_fn)(struct bsn_watcher *w, struct bsn_event *e);

struct bsn_watcher {
    char *rkey; /* bucket */
    bsn_watch_fn fn;
    void *data;
    struct bsn_watcher *next, *prev;
};

struct bsn_bucket {
    struct bsn_map objs; /* key -> struct bsn_obj* */
    struct bsn_watcher *watchers;
};

struct bsn_cache {
    struct bsn_map buckets; /* rkey -> struct bsn_bucket* */
    int64_t rev;            /* latest published revision */
    struct bsn_event **ring;
    size_t ring_cap, ring_head, ring_len;
    size_t nobjs;
};

void bsn_cache_init(struct bsn_cache *c, size_t window);
void bsn_cache_fini(struct bsn_cache *c);
struct bsn_obj *bsn_cache_get(struct bsn_cache *c, const char *key);
struct bsn_bucket *bsn_cache_bucket(struct bsn_cache *c, const char *rkey, bool create);
/*
 * Publishes a change: obj is the new version (NULL with `deleted` set for deletions, in which
 * case `tomb` is the deleted version with its resourceVersion = rev). Takes a reference on the
 * objects it keeps. Appends to the ring and notifies the bucket's watchers.
 */
void bsn_cache_publish(struct bsn_cache *c, const char *key, struct bsn_obj *obj,
                       struct bsn_obj *tomb, int64_t rev);
/* Same, with the parsed object (borrowed; must equal the object's JSON and never be mutated
 * by watchers) handed to watchers as bsn_event.tree during the fan-out. */
void bsn_cache_publish_tree(struct bsn_cache *c, const char *key, struct bsn_obj *obj,
                            struct bsn_obj *tomb, int64_t rev, json_t *tree);
/* Loads an object without an event (startup). */
void bsn_cache_load(struct bsn_cache *c, struct bsn_obj *obj);
/*
 * Replays events with rev > after for a bucket to fn. Returns -1 if `after` is older than the
 * watch window (the caller answers 410 Gone), 0 otherwise.
 */
int bsn_cache_replay(struct bsn_cache *c, const char *rkey, int64_t after, struct bsn_watcher *w);
/* Oldest revision the window can resume from (events with rev > this are all present). */
int64_t bsn_cache_window_start(const struct bsn_cache *c);
void bsn_cache_watch(struct bsn_cache *c, struct bsn_watcher *w);
void bsn_cache_unwatch(struct bsn_cache *c, struct bsn_watcher *w);
/* Sorted (by key) array of the bucket's objects, each referenced; caller unrefs and frees. */
struct bsn_obj **bsn_cache_list(struct bsn_cache *c, const char *rkey, const char *ns, size_t *n);

#endif
