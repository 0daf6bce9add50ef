/*
 * map.c - string-keyed hash map.
 */
#include "base/map.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static char tomb_marker;
#define TOMB (&tomb_marker)

uint64_t
bsn_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void
bsn_map_init(struct bsn_map *m)
{
    memset(m, 0, sizeof(*m));
}

void
bsn_map_fini(struct bsn_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            free(m->slots[i].key);
    free(m->slots);
    bsn_map_init(m);
}

static struct bsn_map_slot *
find(const struct bsn_map *m, const char *key, uint64_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct bsn_map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static void
grow(struct bsn_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if ((m->len + 1) * 4 < m->cap * 3 && m->tombs > 0)
        ncap = m->cap; /* rehash in place to drop tombstones */
    struct bsn_map_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = bsn_calloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    m->tombs = 0;
    size_t mask = ncap - 1;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].key || old[i].key == TOMB)
            continue;
        size_t j = old[i].hash & mask;
        while (m->slots[j].key)
            j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void *
bsn_map_get(const struct bsn_map *m, const char *key)
{
    struct bsn_map_slot *s = find(m, key, bsn_hash(key, strlen(key)));
    return s ? s->value : NULL;
}

void *
bsn_map_put(struct bsn_map *m, const char *key, void *value)
{
    uint64_t h = bsn_hash(key, strlen(key));
    struct bsn_map_slot *s = find(m, key, h);
    if (s) {
        void *prev = s->value;
        s->value = value;
        return prev;
    }
    if ((m->len + m->tombs + 1) * 4 >= m->cap * 3)
        grow(m);
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & mask;
    if (m->slots[i].key == TOMB)
        m->tombs--;
    m->slots[i].key = bsn_strdup(key);
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->len++;
    return NULL;
}

void *
bsn_map_del(struct bsn_map *m, const char *key)
{
    struct bsn_map_slot *s = find(m, key, bsn_hash(key, strlen(key)));
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = TOMB;
    s->value = NULL;
    m->len--;
    m->tombs++;
    return v;
}

int
bsn_map_next(const struct bsn_map *m, size_t *iter, const char **key, void **value)
{
    for (size_t i = *iter; i < m->cap; i++) {
        struct bsn_map_slot *s = &m->slots[i];
        if (s->key && s->key != TOMB) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            *iter = i + 1;
            return 1;
        }
    }
    *iter = m->cap;
    return 0;
}
