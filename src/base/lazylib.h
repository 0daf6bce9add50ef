/*
 * lazylib.h - a shared library loaded on first use.
 *
 * Some libraries are called by only some bosun processes (libarchive by image import, sqlite
 * by the API server's store, libnftables by the service proxy). Linked normally, every
 * process, a standalone node agent too, would map and relocate them at start. Instead, a
 * component declares the functions it calls with BSN_LAZY_FN (with the prototypes of the
 * library's own header, which the compiler checks against the definitions) and each forwards
 * to the library, dlopen()ed at the first call of any of them:
 *
 *   static struct bsn_lazylib sqlite_lib = BSN_LAZYLIB("libsqlite3.so.0", "the store needs it");
 *   BSN_LAZY_FN(sqlite_lib, int, sqlite3_step, (sqlite3_stmt * s), (s), SQLITE_MISUSE)
 *
 * When the library cannot be loaded every forwarder returns its fail value and
 * bsn_lazylib_error says why. Safe from any thread, and in a child after fork (no lock).
 */
#ifndef BSN_BASE_LAZYLIB_H
#define BSN_BASE_LAZYLIB_H

#include <stdbool.h>

struct bsn_lazylib {
    const char *soname;  /* e.g. "libsqlite3.so.0" */
    const char *purpose; /* for the error text: "the store needs it" */
    void *handle;        /* set once loaded */
    int failed;          /* set once loading failed (error holds why) */
    char error[300];
};

#define BSN_LAZYLIB(soname, purpose)     \
    {                                    \
        (soname), (purpose), NULL, 0, "" \
    }

/* The library's definition of name (loading the library at the first call), or NULL when
 * the library or the symbol is missing. A failed load is logged once as a warning. */
void *bsn_lazylib_sym(struct bsn_lazylib *l, const char *name);
/* Why the library could not be loaded, or "" (loaded, or not tried yet). */
const char *bsn_lazylib_error(const struct bsn_lazylib *l);

/* Declares var, of function pointer type fntype: the library's function name, looked up once
 * per call site (a benign race: every thread that looks it up finds the same address). */
#define BSN_LAZY_RESOLVE(lib, name, fntype, var)                                   \
    static __typeof__((fntype)0) var##_cached_;                                    \
    __typeof__((fntype)0) var = __atomic_load_n(&var##_cached_, __ATOMIC_ACQUIRE); \
    if (!var) {                                                                    \
        var = (fntype)bsn_lazylib_sym(&(lib), (name));                             \
        __atomic_store_n(&var##_cached_, var, __ATOMIC_RELEASE);                   \
    }

/* Defines ret name params forwarding to the library; returns fail without it. */
#define BSN_LAZY_FN(lib, ret, name, params, args, fail) \
    ret name params                                     \
    {                                                   \
        BSN_LAZY_RESOLVE(lib, #name, ret(*) params, f_) \
        if (!f_)                                        \
            return fail;                                \
        return f_ args;                                 \
    }

/* The same for a function returning nothing (nothing happens without the library). */
#define BSN_LAZY_VOID(lib, name, params, args)           \
    void name params                                     \
    {                                                    \
        BSN_LAZY_RESOLVE(lib, #name, void(*) params, f_) \
        if (f_)                                          \
            f_ args;                                     \
    }

#endif
