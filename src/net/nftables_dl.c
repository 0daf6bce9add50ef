/*
 * nftables_dl.c - libnftables, loaded on first use.
 *
 * Only the service proxy (proxy_nft.c) and the pod network's masquerade table (cni_masq.c,
 * in a short-lived child) call libnftables, and it brings libmnl, libnftnl, libxtables and
 * libgmp along. Linked normally, every bosun process would map and relocate all of them at
 * start, a standalone node agent too, which never programs a proxy. So bosun is not linked
 * against it: this file defines the libnftables functions we call (with the prototypes of
 * <nftables/libnftables.h>, which the compiler checks) and forwards each to the library,
 * dlopen()ed once at the first call (base/lazylib.h).
 *
 * Without libnftables.so.1, nft_ctx_new returns NULL, which both callers report as an error
 * (the proxy then falls back to its userspace mode); the other functions fail.
 */
#include <nftables/libnftables.h>
#include <stddef.h>

#include "base/lazylib.h"

static struct bsn_lazylib nft_lib = BSN_LAZYLIB("libnftables.so.1", "nftables rules need it");

#define NFT_FN(ret, name, params, args, fail) BSN_LAZY_FN(nft_lib, ret, name, params, args, fail)

NFT_FN(struct nft_ctx *, nft_ctx_new, (uint32_t flags), (flags), NULL)
NFT_FN(int, nft_ctx_buffer_output, (struct nft_ctx * ctx), (ctx), -1)
NFT_FN(int, nft_ctx_buffer_error, (struct nft_ctx * ctx), (ctx), -1)
NFT_FN(const char *, nft_ctx_get_output_buffer, (struct nft_ctx * ctx), (ctx), NULL)
NFT_FN(const char *, nft_ctx_get_error_buffer, (struct nft_ctx * ctx), (ctx), NULL)
NFT_FN(int, nft_run_cmd_from_buffer, (struct nft_ctx * ctx, const char *buf), (ctx, buf), -1)

BSN_LAZY_VOID(nft_lib, nft_ctx_free, (struct nft_ctx * ctx), (ctx))
