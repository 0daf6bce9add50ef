/*
 * lazylib.c - a shared library loaded on first use (see lazylib.h).
 */
#include "base/lazylib.h"

#include <dlfcn.h>
#include <stdio.h>

#include "base/log.h"

void *
bsn_lazylib_sym(struct bsn_lazylib *l, const char *name)
{
    void *h = __atomic_load_n(&l->handle, __ATOMIC_ACQUIRE);
    if (!h && !__atomic_load_n(&l->failed, __ATOMIC_ACQUIRE)) {
        /* two threads may both load it: dlopen counts references, the loser drops its own */
        h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
        if (h) {
            void *none = NULL;
            if (!__atomic_compare_exchange_n(&l->handle, &none, h, false, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE)) {
                dlclose(h);
                h = none;
            }
        } else {
            int zero = 0;
            const char *e = dlerror();
            /* one thread writes the text, readers see it after the flag */
            char msg[sizeof(l->error)];
            snprintf(msg, sizeof(msg), "cannot load %s (%s): %s", l->soname, l->purpose,
                     e ? e : "?");
            if (__atomic_compare_exchange_n(&l->failed, &zero, 2, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                snprintf(l->error, sizeof(l->error), "%s", msg);
                __atomic_store_n(&l->failed, 1, __ATOMIC_RELEASE);
                bsn_warn("lazylib", "%s", msg);
            }
        }
    }
    return h ? dlsym(h, name) : NULL;
}

const char *
bsn_lazylib_error(const struct bsn_lazylib *l)
{
    return __atomic_load_n(&l->failed, __ATOMIC_ACQUIRE) == 1 ? l->error : "";
}
