/*
 * store_memory.c - the in-memory pet store (tests, development).
 */
#include <stdlib.h>

#include "base/mem.h"
#include "store.h"

struct mem_store {
    struct pet_store base;
    json_t *pets; /* array, ordered by id */
    long next_id;
};

static json_t *
mem_list(struct pet_store *s, struct bsn_err *err)
{
    BSN_UNUSED(err);
    return json_deep_copy(((struct mem_store *)s)->pets);
}

static json_t *
mem_get(struct pet_store *s, long id, struct bsn_err *err)
{
    BSN_UNUSED(err);
    struct mem_store *m = (struct mem_store *)s;
    size_t i;
    json_t *p;
    json_array_foreach(m->pets, i, p) if (json_integer_value(json_object_get(p, "id")) ==
                                          id) return json_deep_copy(p);
    return NULL;
}

static json_t *
mem_create(struct pet_store *s, const json_t *pet, struct bsn_err *err)
{
    BSN_UNUSED(err);
    struct mem_store *m = (struct mem_store *)s;
    json_t *p = json_deep_copy(pet);
    json_object_set_new(p, "id", json_integer(m->next_id++));
    json_array_append(m->pets, p);
    return p;
}

static int
mem_remove(struct pet_store *s, long id, struct bsn_err *err)
{
    BSN_UNUSED(err);
    struct mem_store *m = (struct mem_store *)s;
    size_t i;
    json_t *p;
    json_array_foreach(m->pets, i, p) if (json_integer_value(json_object_get(p, "id")) == id)
    {
        json_array_remove(m->pets, i);
        return 1;
    }
    return 0;
}

static bool
mem_ready(struct pet_store *s)
{
    BSN_UNUSED(s);
    return true;
}

static void
mem_free(struct pet_store *s)
{
    json_decref(((struct mem_store *)s)->pets);
    free(s);
}

struct pet_store *
pet_store_memory_new(void)
{
    struct mem_store *m = bsn_calloc(1, sizeof(*m));
    m->base = (struct pet_store){"memory",   mem_list,  mem_get, mem_create,
                                 mem_remove, mem_ready, mem_free};
    m->pets = json_array();
    m->next_id = 1;
    return &m->base;
}
