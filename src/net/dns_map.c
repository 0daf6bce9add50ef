/*
 * dns_map.c - sharded copy-on-write hash map (see dns_map.h).
 */
#include "net/dns_map.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

uint32_t
dns_hash(const void *key, size_t len)
{
    /* FNV-1a with a final avalanche (murmur3 fmix32): keys are short names */
    const unsigned char *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

void
dns_map_init(struct dns_map *m, void (*release)(void *val))
{
    memset(m->shards, 0, sizeof(m->shards));
    m->release = release;
}

static void
item_unref(struct dns_map *m, struct dns_item *it)
{
    if (--it->refcnt == 0) {
        if (m->release && it->val)
            m->release(it->val);
        free(it);
    }
}

static void
shard_unref(struct dns_map *m, struct dns_shard *s)
{
    if (!s || --s->refcnt > 0)
        return;
    for (uint32_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            item_unref(m, s->slots[i]);
    free(s->slots);
    free(s);
}

void
dns_map_fini(struct dns_map *m)
{
    for (int i = 0; i < DNS_MAP_SHARDS; i++) {
        shard_unref(m, m->shards[i]);
        m->shards[i] = NULL;
    }
}

void
dns_map_share(struct dns_map *dst, const struct dns_map *src)
{
    dst->release = src->release;
    for (int i = 0; i < DNS_MAP_SHARDS; i++) {
        dst->shards[i] = src->shards[i];
        if (dst->shards[i])
            dst->shards[i]->refcnt++;
    }
}

static struct dns_shard *
shard_new(uint32_t cap, uint64_t gen)
{
    struct dns_shard *s = bsn_calloc(1, sizeof(*s));
    s->refcnt = 1;
    s->cap = cap;
    s->gen = gen;
    s->slots = bsn_calloc(cap, sizeof(*s->slots));
    return s;
}

static void
slot_insert(struct dns_shard *s, struct dns_item *it)
{
    uint32_t mask = s->cap - 1;
    for (uint32_t i = it->hash & mask;; i = (i + 1) & mask) {
        if (!s->slots[i]) {
            s->slots[i] = it;
            s->n++;
            return;
        }
    }
}

/* Returns a shard of generation gen at index idx, copying/growing as needed for one more. */
static struct dns_shard *
shard_mut(struct dns_map *m, int idx, uint64_t gen)
{
    struct dns_shard *s = m->shards[idx];
    if (!s) {
        s = shard_new(8, gen);
        m->shards[idx] = s;
        return s;
    }
    bool grow = (s->n + 1) * 2 > s->cap;
    if (s->gen == gen && !grow)
        return s;
    struct dns_shard *c = shard_new(grow ? s->cap * 2 : s->cap, gen);
    for (uint32_t i = 0; i < s->cap; i++) {
        if (s->slots[i]) {
            slot_insert(c, s->slots[i]);
            s->slots[i]->refcnt++;
        }
    }
    shard_unref(m, s);
    m->shards[idx] = c;
    return c;
}

void *
dns_map_get_h(const struct dns_map *m, const void *key, size_t klen, uint32_t h)
{
    const struct dns_shard *s = m->shards[h >> 24];
    if (!s)
        return NULL;
    uint32_t mask = s->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const struct dns_item *it = s->slots[i];
        if (!it)
            return NULL;
        if (it->hash == h && it->klen == klen && memcmp(it->key, key, klen) == 0)
            return it->val;
    }
}

void *
dns_map_get(const struct dns_map *m, const void *key, size_t klen)
{
    return dns_map_get_h(m, key, klen, dns_hash(key, klen));
}

void
dns_map_put(struct dns_map *m, uint64_t gen, const void *key, size_t klen, void *val)
{
    uint32_t h = dns_hash(key, klen);
    struct dns_shard *s = shard_mut(m, (int)(h >> 24), gen);
    struct dns_item *it = bsn_malloc(sizeof(*it) + klen);
    it->refcnt = 1;
    it->hash = h;
    it->klen = (uint32_t)klen;
    it->val = val;
    memcpy(it->key, key, klen);
    uint32_t mask = s->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        struct dns_item *o = s->slots[i];
        if (!o) {
            s->slots[i] = it;
            s->n++;
            return;
        }
        if (o->hash == h && o->klen == klen && memcmp(o->key, key, klen) == 0) {
            s->slots[i] = it;
            item_unref(m, o);
            return;
        }
    }
}

bool
dns_map_del(struct dns_map *m, uint64_t gen, const void *key, size_t klen)
{
    uint32_t h = dns_hash(key, klen);
    if (!dns_map_get_h(m, key, klen, h))
        return false;
    struct dns_shard *s = shard_mut(m, (int)(h >> 24), gen);
    uint32_t mask = s->cap - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        struct dns_item *o = s->slots[i];
        assert(o);
        if (o->hash == h && o->klen == klen && memcmp(o->key, key, klen) == 0)
            break;
    }
    item_unref(m, s->slots[i]);
    s->slots[i] = NULL;
    s->n--;
    /* re-seat the rest of the probe cluster (linear probing, no tombstones) */
    for (uint32_t j = (i + 1) & mask; s->slots[j]; j = (j + 1) & mask) {
        struct dns_item *o = s->slots[j];
        s->slots[j] = NULL;
        s->n--;
        slot_insert(s, o);
    }
    return true;
}

size_t
dns_map_count(const struct dns_map *m)
{
    size_t n = 0;
    for (int i = 0; i < DNS_MAP_SHARDS; i++)
        if (m->shards[i])
            n += m->shards[i]->n;
    return n;
}

void
dns_map_foreach(const struct dns_map *m,
                void (*cb)(const void *key, size_t klen, void *val, void *arg), void *arg)
{
    for (int i = 0; i < DNS_MAP_SHARDS; i++) {
        const struct dns_shard *s = m->shards[i];
        if (!s)
            continue;
        for (uint32_t k = 0; k < s->cap; k++)
            if (s->slots[k])
                cb(s->slots[k]->key, s->slots[k]->klen, s->slots[k]->val, arg);
    }
}
