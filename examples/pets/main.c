/*
 * main.c - the pets service (seed 000's "anatomy of a microservice" on the Bosun kit).
 *
 * Layers: resources (the HTTP handlers below: parse, call the service, map errors), service
 * (pets_* functions: the use cases), domain (pet_check: rules with no I/O), gateway (store.h,
 * memory or SQLite), config (environment: PORT, LOG_LEVEL, PETS_STORE, PETS_DB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "kit/kit.h"
#include "store.h"

/* ---- domain ---- */

/* Parses a pet id; returns -1 when it is not a positive decimal integer. */
static long
pet_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18)
        return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v > 0 ? v : -1;
}

/* Business rules beyond the schema's types. */
static int
pet_check(const json_t *pet, struct bsn_err *err)
{
    const char *name = json_string_value(json_object_get(pet, "name"));
    if (!name || !*name)
        return bsn_err_set(err, 400, "InvalidPet", "a pet needs a name");
    return 0;
}

/* ---- service ---- */

static json_t *
pets_create(struct pet_store *st, const json_t *in, struct bsn_err *err)
{
    if (pet_check(in, err) < 0)
        return NULL;
    json_t *pet = json_pack("{s:O,s:O}", "name", json_object_get(in, "name"), "owner",
                            json_object_get(in, "owner"));
    json_t *d = json_object_get(in, "description");
    if (d)
        json_object_set(pet, "description", d);
    json_t *out = st->create(st, pet, err);
    json_decref(pet);
    return out;
}

/* ---- resources ---- */

static const struct bsn_kit_field new_pet_fields[] = {
    {"name", BSN_KIT_STRING, true, "the pet's name"},
    {"owner", BSN_KIT_STRING, true, "who owns it"},
    {"description", BSN_KIT_STRING, false, "free text"},
};
static const struct bsn_kit_schema new_pet = {"NewPet", new_pet_fields, 3, 256};

static void
list_pets(struct bsn_kit_ctx *ctx, void *data)
{
    struct pet_store *st = data;
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *pets = st->list(st, &err);
    if (!pets)
        return bsn_kit_error_err(ctx, &err);
    bsn_kit_json(ctx, 200, pets);
}

static void
get_pet(struct bsn_kit_ctx *ctx, void *data)
{
    struct pet_store *st = data;
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *ids = bsn_kit_param(ctx, "id");
    long id = pet_id(ids);
    json_t *pet = id > 0 ? st->get(st, id, &err) : NULL;
    if (bsn_err_is_set(&err))
        return bsn_kit_error_err(ctx, &err);
    if (!pet)
        return bsn_kit_error(ctx, 404, "PetNotFound", "pet %s not found", ids);
    bsn_kit_json(ctx, 200, pet);
}

static void
create_pet(struct bsn_kit_ctx *ctx, void *data)
{
    struct pet_store *st = data;
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *pet = pets_create(st, bsn_kit_body(ctx), &err);
    if (!pet)
        return bsn_kit_error_err(ctx, &err);
    char loc[64];
    snprintf(loc, sizeof(loc), "/pets/%lld",
             (long long)json_integer_value(json_object_get(pet, "id")));
    bsn_kit_set_header(ctx, "Location", loc);
    bsn_kit_json(ctx, 201, pet);
}

static void
delete_pet(struct bsn_kit_ctx *ctx, void *data)
{
    struct pet_store *st = data;
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *ids = bsn_kit_param(ctx, "id");
    long id = pet_id(ids);
    int rc = id > 0 ? st->remove(st, id, &err) : 0;
    if (rc < 0)
        return bsn_kit_error_err(ctx, &err);
    if (rc == 0)
        return bsn_kit_error(ctx, 404, "PetNotFound", "pet %s not found", ids);
    bsn_kit_json(ctx, 204, NULL);
}

static bool
store_ready(void *data)
{
    struct pet_store *st = data;
    return st->ready(st);
}

int
main(void)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *kind = bsn_kit_env("PETS_STORE", "memory");
    struct bsn_kit_app *app = bsn_kit_app_new("pets");
    struct pet_store *st = NULL;
    if (strcmp(kind, "sqlite") == 0)
        st = pet_store_sqlite_new(bsn_kit_env("PETS_DB", "pets.db"), &err);
    else if (strcmp(kind, "redis") == 0)
        st = pet_store_redis_new(bsn_kit_env("PETS_REDIS", "redis:6379"), &err);
    else if (strcmp(kind, "memory") == 0)
        st = pet_store_memory_new();
    else
        bsn_err_set(&err, 400, "BadConfig", "PETS_STORE must be memory, sqlite or redis, not %s",
                    kind);
    if (!st) {
        bsn_error("pets", "%s", err.msg);
        bsn_kit_app_free(app);
        return 1;
    }
    bsn_info("pets", "store: %s", st->kind);
    bsn_kit_app_set_ready(app, store_ready, st);
    bsn_kit_route(app, "GET", "/pets", list_pets, st, NULL, "List all pets");
    bsn_kit_route(app, "POST", "/pets", create_pet, st, &new_pet, "Add a new pet");
    bsn_kit_route(app, "GET", "/pets/{id}", get_pet, st, NULL, "Get one pet by id");
    bsn_kit_route(app, "DELETE", "/pets/{id}", delete_pet, st, NULL, "Delete a pet");
    int rc = bsn_kit_app_run(app, &err);
    bsn_kit_app_free(app);
    st->free(st);
    return rc < 0 ? 1 : 0;
}
