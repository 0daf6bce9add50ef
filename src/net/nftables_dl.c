/*
 * nftables_dl.c - libnftables, loaded on first use.
 *
 * Only the service proxy (proxy_nft.c) and the pod network's masquerade table (cni_masq.c,
 * in a short-lived child) call libnftables, and it brings libmnl, libnftnl, libxtables and
 * libgmp along. Linked normally, every bosun process would map and relocate all of them at
 * start, a standalone node agent too, which never programs a proxy. So bosun is not linked
 * against it: this file defines the libnftables functions we call (with the prototypes of
 * <nftables/libnftables.h>, which the compiler checks) and forwards each to the library,
 * dlopen()ed once at the first call (the scheme of src/runtime/archive_dl.c).
 *
 * Without libnftables.so.1, nft_ctx_new returns NULL, which both callers report as an error
 * (the proxy then falls back to its userspace mode); the other functions fail.
 */
#include <dlfcn.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stddef.h>

#include "base/log.h"

#define NFT_SONAME "libnftables.so.1"

static pthread_once_t nft_once = PTHREAD_ONCE_INIT;
static void *nft_handle;

static void
nft_open(void)
{
    nft_handle = dlopen(NFT_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!nft_handle) {
        const char *e = dlerror();
        bsn_warn("nftables", "cannot load %s: %s", NFT_SONAME, e ? e : "?");
    }
}

/* The library's definition of name, or NULL (not loaded, or no such symbol). */
static void *
nft_sym(const char *name)
{
    pthread_once(&nft_once, nft_open);
    return nft_handle ? dlsym(nft_handle, name) : NULL;
}

/* One forwarding definition: the symbol is looked up once (a benign race: every thread that
 * looks it up finds the same address). fail is what the call returns when it cannot be made. */
#define NFT_FN(ret, name, params, args, fail)                                            \
    ret name params                                                                      \
    {                                                                                    \
        static ret(*nft_fn_) params;                                                     \
        if (!__atomic_load_n(&nft_fn_, __ATOMIC_ACQUIRE))                                \
            __atomic_store_n(&nft_fn_, (ret(*) params)nft_sym(#name), __ATOMIC_RELEASE); \
        ret(*nft_call_) params = __atomic_load_n(&nft_fn_, __ATOMIC_ACQUIRE);            \
        if (!nft_call_)                                                                  \
            return fail;                                                                 \
        return nft_call_ args;                                                           \
    }

NFT_FN(struct nft_ctx *, nft_ctx_new, (uint32_t flags), (flags), NULL)
NFT_FN(int, nft_ctx_buffer_output, (struct nft_ctx * ctx), (ctx), -1)
NFT_FN(int, nft_ctx_buffer_error, (struct nft_ctx * ctx), (ctx), -1)
NFT_FN(const char *, nft_ctx_get_output_buffer, (struct nft_ctx * ctx), (ctx), NULL)
NFT_FN(const char *, nft_ctx_get_error_buffer, (struct nft_ctx * ctx), (ctx), NULL)
NFT_FN(int, nft_run_cmd_from_buffer, (struct nft_ctx * ctx, const char *buf), (ctx, buf), -1)

void
nft_ctx_free(struct nft_ctx *ctx)
{
    static void (*fn)(struct nft_ctx *);
    if (!__atomic_load_n(&fn, __ATOMIC_ACQUIRE))
        __atomic_store_n(&fn, (void (*)(struct nft_ctx *))nft_sym("nft_ctx_free"),
                         __ATOMIC_RELEASE);
    void (*call)(struct nft_ctx *) = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);
    if (call)
        call(ctx);
}
