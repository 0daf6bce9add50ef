/*
 * dns_map.h - internal to the DNS server: a sharded copy-on-write hash map used for the zone's
 * published snapshots (and, with a fixed generation, as the writer's own mutable maps).
 *
 * A map is 256 shard pointers. Each shard is an open-addressing table of refcounted items
 * (key bytes + value). A writer working on generation `gen` mutates a shard in place only if
 * the shard was created in that generation; otherwise it copies the shard first (O(shard)),
 * so publishing a change costs one shard per touched key, never a rebuild of the whole map.
 *
 * All refcounts are touched only by the single writer (under the zone mutex); readers only
 * read, and are protected from frees by the zone's hazard pointers.
 */
#ifndef BSN_NET_DNS_MAP_H
#define BSN_NET_DNS_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MAP_SHARDS 256

struct dns_item {
    uint32_t refcnt;
    uint32_t hash;
    uint32_t klen;
    void *val;
    unsigned char key[];
};

struct dns_shard {
    uint32_t refcnt;
    uint32_t cap, n; /* cap is a power of two; n <= cap / 2 */
    uint64_t gen;
    struct dns_item **slots;
};

struct dns_map {
    struct dns_shard *shards[DNS_MAP_SHARDS];
    void (*release)(void *val); /* called when the last item holding val goes */
};

uint32_t dns_hash(const void *key, size_t len);
void dns_map_init(struct dns_map *m, void (*release)(void *val));
/* Drops this map's references to its shards. */
void dns_map_fini(struct dns_map *m);
/* dst becomes a copy sharing all of src's shards. */
void dns_map_share(struct dns_map *dst, const struct dns_map *src);

void *dns_map_get(const struct dns_map *m, const void *key, size_t klen);
void *dns_map_get_h(const struct dns_map *m, const void *key, size_t klen, uint32_t h);
/* Inserts or replaces (the old value is released); takes ownership of val. */
void dns_map_put(struct dns_map *m, uint64_t gen, const void *key, size_t klen, void *val);
/* Removes key; returns true if it was present. */
bool dns_map_del(struct dns_map *m, uint64_t gen, const void *key, size_t klen);
size_t dns_map_count(const struct dns_map *m);
void dns_map_foreach(const struct dns_map *m,
                     void (*cb)(const void *key, size_t klen, void *val, void *arg), void *arg);

#endif
