/*
 * map.h - string-keyed hash map (open addressing, linear probing, FNV-1a).
 *
 * Keys are copied and owned by the map; values are caller-owned pointers. Iteration order is
 * unspecified. Not thread-safe.
 */
#ifndef BSN_BASE_MAP_H
#define BSN_BASE_MAP_H

#include <stddef.h>
#include <stdint.h>

struct bsn_map_slot {
    char *key; /* NULL = empty; BSN_MAP_TOMB = deleted */
    uint64_t hash;
    void *value;
};

struct bsn_map {
    struct bsn_map_slot *slots;
    size_t cap;   /* power of two */
    size_t len;   /* live entries */
    size_t tombs; /* deleted slots */
};

uint64_t bsn_hash(const void *data, size_t len);

void bsn_map_init(struct bsn_map *m);
/* Frees keys and slots; values are not touched (free them first via iteration). */
void bsn_map_fini(struct bsn_map *m);
void *bsn_map_get(const struct bsn_map *m, const char *key);
/* Sets key to value; returns the previous value or NULL. */
void *bsn_map_put(struct bsn_map *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *bsn_map_del(struct bsn_map *m, const char *key);

/* Iteration: `for (size_t i = 0; bsn_map_next(m, &i, &k, &v);)`. Do not modify while iterating
 * (bsn_map_del of the current key is allowed). */
int bsn_map_next(const struct bsn_map *m, size_t *iter, const char **key, void **value);

#endif
