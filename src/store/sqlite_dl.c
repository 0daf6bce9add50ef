/*
 * sqlite_dl.c - SQLite, loaded on first use.
 *
 * Only the API server's store (sqlite.c) calls SQLite. Linked normally, every bosun process
 * would map and relocate it at start, a standalone node agent too, which never opens a store:
 * about 0.4 MB of the agent's idle RSS for nothing. So bosun is not linked against
 * libsqlite3: this file defines the SQLite functions sqlite.c calls (with the prototypes of
 * <sqlite3.h>, which the compiler checks) and forwards each to the library, dlopen()ed once at
 * the first call (base/lazylib.h).
 *
 * Without libsqlite3.so.0 on the machine, sqlite3_open_v2 fails with SQLITE_CANTOPEN and
 * sqlite3_errmsg / sqlite3_errstr say why, so the server reports it as the store's error.
 */
#include <sqlite3.h>
#include <stddef.h>

#include "base/lazylib.h"

static struct bsn_lazylib sql_lib = BSN_LAZYLIB("libsqlite3.so.0", "the store needs it");

#define SQL_FN(ret, name, params, args, fail) BSN_LAZY_FN(sql_lib, ret, name, params, args, fail)

typedef void (*sql_destructor)(void *);

/* connections */
int
sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs)
{
    BSN_LAZY_RESOLVE(sql_lib, "sqlite3_open_v2",
                     int (*)(const char *, sqlite3 **, int, const char *), f)
    if (!f) {
        *db = NULL;
        return SQLITE_CANTOPEN;
    }
    return f(filename, db, flags, vfs);
}
SQL_FN(int, sqlite3_close_v2, (sqlite3 * db), (db), SQLITE_MISUSE)
SQL_FN(int, sqlite3_busy_timeout, (sqlite3 * db, int ms), (db, ms), SQLITE_MISUSE)
SQL_FN(int, sqlite3_extended_result_codes, (sqlite3 * db, int onoff), (db, onoff), SQLITE_MISUSE)
SQL_FN(int, sqlite3_get_autocommit, (sqlite3 * db), (db), 0)
SQL_FN(const char *, sqlite3_errmsg, (sqlite3 * db), (db), bsn_lazylib_error(&sql_lib))
SQL_FN(const char *, sqlite3_errstr, (int rc), (rc), bsn_lazylib_error(&sql_lib))
SQL_FN(sqlite3_filename, sqlite3_db_filename, (sqlite3 * db, const char *name), (db, name), NULL)
SQL_FN(const char *, sqlite3_filename_wal, (sqlite3_filename f), (f), NULL)
SQL_FN(int, sqlite3_wal_checkpoint_v2,
       (sqlite3 * db, const char *name, int mode, int *nlog, int *nckpt),
       (db, name, mode, nlog, nckpt), SQLITE_MISUSE)

/* statements */
SQL_FN(int, sqlite3_prepare_v2,
       (sqlite3 * db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail),
       (db, sql, n, stmt, tail), SQLITE_MISUSE)
SQL_FN(int, sqlite3_prepare_v3,
       (sqlite3 * db, const char *sql, int n, unsigned int flags, sqlite3_stmt **stmt,
        const char **tail),
       (db, sql, n, flags, stmt, tail), SQLITE_MISUSE)
SQL_FN(int, sqlite3_step, (sqlite3_stmt * s), (s), SQLITE_MISUSE)
SQL_FN(int, sqlite3_reset, (sqlite3_stmt * s), (s), SQLITE_MISUSE)
SQL_FN(int, sqlite3_finalize, (sqlite3_stmt * s), (s), SQLITE_MISUSE)
SQL_FN(int, sqlite3_bind_int, (sqlite3_stmt * s, int i, int v), (s, i, v), SQLITE_MISUSE)
SQL_FN(int, sqlite3_bind_int64, (sqlite3_stmt * s, int i, sqlite3_int64 v), (s, i, v),
       SQLITE_MISUSE)
SQL_FN(int, sqlite3_bind_text, (sqlite3_stmt * s, int i, const char *v, int n, sql_destructor d),
       (s, i, v, n, d), SQLITE_MISUSE)
SQL_FN(int, sqlite3_bind_blob64,
       (sqlite3_stmt * s, int i, const void *v, sqlite3_uint64 n, sql_destructor d),
       (s, i, v, n, d), SQLITE_MISUSE)
SQL_FN(int, sqlite3_column_int, (sqlite3_stmt * s, int i), (s, i), 0)
SQL_FN(sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt * s, int i), (s, i), 0)
SQL_FN(const unsigned char *, sqlite3_column_text, (sqlite3_stmt * s, int i), (s, i), NULL)
SQL_FN(int, sqlite3_column_bytes, (sqlite3_stmt * s, int i), (s, i), 0)
