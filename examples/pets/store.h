/*
 * store.h - the pets example's gateway to its datastore: one interface, three implementations
 * (in memory, SQLite, Redis), chosen by PETS_STORE=memory|sqlite|redis (PETS_DB is the SQLite
 * file, PETS_REDIS the Redis address).
 *
 * Pets cross this boundary as JSON objects {"id","name","owner","description"}.
 */
#ifndef PETS_STORE_H
#define PETS_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

struct pet_store {
    const char *kind;
    /* array of pets, new reference */
    json_t *(*list)(struct pet_store *s, struct bsn_err *err);
    /* pet or NULL (err unset when simply missing) */
    json_t *(*get)(struct pet_store *s, long id, struct bsn_err *err);
    /* stores pet (without id), returns it with its new id */
    json_t *(*create)(struct pet_store *s, const json_t *pet, struct bsn_err *err);
    /* 1 deleted, 0 missing, -1 error */
    int (*remove)(struct pet_store *s, long id, struct bsn_err *err);
    bool (*ready)(struct pet_store *s);
    void (*free)(struct pet_store *s);
};

struct pet_store *pet_store_memory_new(void);
struct pet_store *pet_store_sqlite_new(const char *path, struct bsn_err *err);
/* addr: host:port of a Redis server (RESP2). Connects lazily; ready() pings. */
struct pet_store *pet_store_redis_new(const char *addr, struct bsn_err *err);

#endif
