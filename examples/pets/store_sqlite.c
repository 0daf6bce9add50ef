/*
 * store_sqlite.c - the SQLite pet store (a file on a PersistentVolumeClaim in a cluster).
 */
#include <sqlite3.h>
#include <stdlib.h>

#include "base/mem.h"
#include "store.h"

struct sql_store {
    struct pet_store base;
    sqlite3 *db;
};

static int
fail(struct sql_store *s, struct bsn_err *err)
{
    return bsn_err_set(err, 500, "StorageError", "sqlite: %s", sqlite3_errmsg(s->db));
}

static json_t *
row(sqlite3_stmt *st)
{
    json_t *p = json_object();
    json_object_set_new(p, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(p, "name", json_string((const char *)sqlite3_column_text(st, 1)));
    json_object_set_new(p, "owner", json_string((const char *)sqlite3_column_text(st, 2)));
    const unsigned char *d = sqlite3_column_text(st, 3);
    json_object_set_new(p, "description", d ? json_string((const char *)d) : json_null());
    return p;
}

static json_t *
sql_query(struct pet_store *base, long id, bool one, struct bsn_err *err)
{
    struct sql_store *s = (struct sql_store *)base;
    sqlite3_stmt *st = NULL;
    const char *q = one ? "SELECT id,name,owner,description FROM pets WHERE id=?"
                        : "SELECT id,name,owner,description FROM pets ORDER BY id";
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) {
        fail(s, err);
        return NULL;
    }
    if (one)
        sqlite3_bind_int64(st, 1, id);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, row(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        fail(s, err);
        return NULL;
    }
    if (!one)
        return arr;
    json_t *p = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return p;
}

static json_t *
sql_list(struct pet_store *s, struct bsn_err *err)
{
    return sql_query(s, 0, false, err);
}

static json_t *
sql_get(struct pet_store *s, long id, struct bsn_err *err)
{
    return sql_query(s, id, true, err);
}

static json_t *
sql_create(struct pet_store *base, const json_t *pet, struct bsn_err *err)
{
    struct sql_store *s = (struct sql_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO pets(name,owner,description) VALUES(?,?,?)", -1, &st,
                           NULL) != SQLITE_OK) {
        fail(s, err);
        return NULL;
    }
    sqlite3_bind_text(st, 1, json_string_value(json_object_get(pet, "name")), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json_string_value(json_object_get(pet, "owner")), -1, SQLITE_STATIC);
    const char *d = json_string_value(json_object_get(pet, "description"));
    if (d)
        sqlite3_bind_text(st, 3, d, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fail(s, err);
        return NULL;
    }
    return sql_get(base, (long)sqlite3_last_insert_rowid(s->db), err);
}

static int
sql_remove(struct pet_store *base, long id, struct bsn_err *err)
{
    struct sql_store *s = (struct sql_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM pets WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return fail(s, err);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(s, err);
    return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

static bool
sql_ready(struct pet_store *base)
{
    struct sql_store *s = (struct sql_store *)base;
    return sqlite3_exec(s->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK;
}

static void
sql_free(struct pet_store *base)
{
    sqlite3_close(((struct sql_store *)base)->db);
    free(base);
}

struct pet_store *
pet_store_sqlite_new(const char *path, struct bsn_err *err)
{
    struct sql_store *s = bsn_calloc(1, sizeof(*s));
    s->base = (struct pet_store){"sqlite",   sql_list,  sql_get, sql_create,
                                 sql_remove, sql_ready, sql_free};
    if (sqlite3_open(path, &s->db) != SQLITE_OK ||
        sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE IF NOT EXISTS pets(id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     "name TEXT NOT NULL, owner TEXT NOT NULL, description TEXT)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        bsn_err_set(err, 500, "StorageError", "sqlite %s: %s", path,
                    s->db ? sqlite3_errmsg(s->db) : "open failed");
        sql_free(&s->base);
        return NULL;
    }
    return &s->base;
}
