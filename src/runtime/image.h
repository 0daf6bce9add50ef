/*
 * image.h - the local, content-addressed image store.
 *
 * Layout under <data-dir>/images:
 *
 *     blobs/sha256/<hex>    manifests, configs and layer tars, named by their digest
 *     layers/<diffid-hex>/  unpacked layers (overlay lowerdirs), shared between images
 *     index.json            {"images": {"docker.io/library/busybox:latest": "sha256:<manifest>"}}
 *
 * Images come in through bsn_image_import (an OCI image layout directory or tar, or a
 * `docker save` archive) or bsn_image_pack (one directory -> a single-layer image). Layer tars
 * are unpacked with libarchive and checked entry by entry: ".." components are refused,
 * absolute names are made relative, nothing is written through a symlink, and whiteouts
 * (".wh.<name>", ".wh..wh..opq") become overlayfs whiteouts (0/0 character devices and the
 * trusted.overlay.opaque xattr; both need root, without it they are skipped with a warning).
 *
 * The special image name "host" is not stored: it stands for a read-only view of the node's
 * own root filesystem (see docs/runtime.md); bsn_image_resolve reports it with is_host.
 *
 * Registry pull: bsn_image_pull speaks the OCI distribution API (GET /v2/<name>/manifests/<ref>
 * and /v2/<name>/blobs/<digest>) over HTTP(S) with bearer-token (from the WWW-Authenticate
 * challenge) or basic auth, follows blob redirects, resolves multi-arch indexes to
 * linux/amd64, verifies every digest, then unpacks through the same path as import.
 *
 * Thread safety: one store may be used from several threads; the index is guarded by a mutex
 * and an flock (so `bosun image` and a running agent can share a data dir). Import and pack
 * block for as long as unpacking takes: call them off the loop (bsn_image_import_async).
 */
#ifndef BSN_RUNTIME_IMAGE_H
#define BSN_RUNTIME_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct bsn_loop;
struct bsn_image_store;

/* A parsed image reference, normalized like Docker: "busybox" ->
 * domain "docker.io", path "library/busybox", tag "latest". */
struct bsn_image_ref {
    char domain[256];
    char path[256];
    char tag[129];   /* "" when only a digest was given */
    char digest[72]; /* "sha256:<64 hex>" or "" */
};

/* Parses name, name:tag, name@sha256:..., host[:port]/path:tag. Returns 0 or -1 with err. */
int bsn_image_ref_parse(const char *s, struct bsn_image_ref *ref, struct bsn_err *err);
/* "domain/path:tag" (or "domain/path@digest" when there is no tag). */
void bsn_image_ref_name(const struct bsn_image_ref *ref, char *out, size_t n);
/* True for the special image "host". */
bool bsn_image_is_host(const char *ref);

typedef void (*bsn_image_done_cb)(void *data, int rc, const struct bsn_err *err);

struct bsn_image_store *bsn_image_store_open(const char *data_dir, struct bsn_err *err);
void bsn_image_store_close(struct bsn_image_store *s);
const char *bsn_image_store_root(const struct bsn_image_store *s);

/* What a container needs from its image. Arrays are NULL-terminated (NULL when absent). */
struct bsn_image_config {
    bool is_host;
    char *name;   /* normalized name:tag */
    char *digest; /* manifest digest */
    char **entrypoint;
    char **cmd;
    char **env;
    char *working_dir;
    char *user;
    char **layer_dirs; /* absolute unpacked layer dirs, bottom layer first */
    size_t nlayers;
};

void bsn_image_config_fini(struct bsn_image_config *c);
/* The argv a pod container runs, by Kubernetes' rules: command + args; command alone (the
 * image's Cmd is dropped); args alone after the image's Entrypoint; neither: Entrypoint +
 * Cmd. img may be NULL (no image defaults). Returns a NULL-terminated vector (free each string
 * and the array) or NULL when nothing is left to run. */
char **bsn_image_container_argv(const struct bsn_image_config *img, const char *const *command,
                                const char *const *args);
/* Resolves a pod's image ref to its config and layer directories. 404 NotFound if the store
 * does not hold it. */
int bsn_image_resolve(struct bsn_image_store *s, const char *ref, struct bsn_image_config *out,
                      struct bsn_err *err);

/* Imports an OCI image layout (directory or tar) or a `docker save` tar. Every image found is
 * added to the index under its tag(s); images without a name get default_name when given.
 * names (optional) receives the imported names (NULL-terminated, caller frees each and the
 * array). */
int bsn_image_import(struct bsn_image_store *s, const char *path, const char *default_name,
                     char ***names, struct bsn_err *err);

/* Builds a single-layer image from dir (owners recorded as root) and tags it name. */
int bsn_image_pack(struct bsn_image_store *s, const char *dir, const char *name,
                   const char *const *entrypoint, const char *const *cmd, const char *const *env,
                   const char *workdir, struct bsn_err *err);

struct bsn_image_entry {
    char name[512];
    char digest[72];
    int64_t size; /* sum of the layer blob sizes */
};

/* Lists the index (caller frees *out). */
int bsn_image_list(struct bsn_image_store *s, struct bsn_image_entry **out, size_t *n,
                   struct bsn_err *err);
/* Removes a name (or every name pointing at a digest ref) and garbage-collects blobs and
 * layers no image references any more. */
int bsn_image_remove(struct bsn_image_store *s, const char *ref, struct bsn_err *err);

/* Runs bsn_image_import on a worker thread; cb runs on loop with the result. */
int bsn_image_import_async(struct bsn_image_store *s, struct bsn_loop *loop, const char *path,
                           const char *default_name, bsn_image_done_cb cb, void *data);

/* --- registry pull --- */

struct bsn_registry_auth {
    const char *username; /* basic credentials: sent as Basic auth or to the token realm */
    const char *password;
    const char *token;   /* a bearer token used as is */
    const char *mirror;  /* base URL used instead of the registry ("http://127.0.0.1:5000") */
    bool plain_http;     /* http:// instead of https:// (always for localhost/127.x) */
    bool insecure_tls;   /* skip certificate verification */
    const char *ca_file; /* extra CA bundle for the registry */
};

/* Blobs above this are refused (manifests are capped at 8 MiB). */
#define BSN_IMAGE_PULL_MAX_BLOB ((size_t)2 << 30)

/* Pulls ref (auth may be NULL) into the store; the stored name goes to name (may be NULL).
 * Blocking: call it off the loop (bsn_image_pull_async). */
int bsn_image_pull(struct bsn_image_store *s, const char *ref, const struct bsn_registry_auth *auth,
                   char *name, size_t namelen, struct bsn_err *err);
/* bsn_image_pull on a worker thread (auth strings are copied); cb runs on loop. */
int bsn_image_pull_async(struct bsn_image_store *s, struct bsn_loop *loop, const char *ref,
                         const struct bsn_registry_auth *auth, bsn_image_done_cb cb, void *data);

/* imagePullPolicy. */
enum bsn_pull_policy { BSN_PULL_IF_NOT_PRESENT, BSN_PULL_ALWAYS, BSN_PULL_NEVER };

/* Kubernetes' default policy for a ref: Always for ":latest" or no tag, else IfNotPresent. */
enum bsn_pull_policy bsn_image_default_policy(const char *ref);
/* Parses "Always" / "IfNotPresent" / "Never" (NULL or "" -> default for ref); -1 if unknown. */
int bsn_image_parse_policy(const char *s, const char *ref, enum bsn_pull_policy *out);
/* Makes ref available in the store under policy: Never only checks (404 reason
 * ErrImageNeverPull when missing), IfNotPresent pulls when missing, Always pulls (digest refs
 * already present are not pulled again). "host" is always available. Blocking. */
int bsn_image_ensure(struct bsn_image_store *s, const char *ref, enum bsn_pull_policy policy,
                     const struct bsn_registry_auth *auth, struct bsn_err *err);
int bsn_image_ensure_async(struct bsn_image_store *s, struct bsn_loop *loop, const char *ref,
                           enum bsn_pull_policy policy, const struct bsn_registry_auth *auth,
                           bsn_image_done_cb cb, void *data);

/* --- layer tars (also used by tests) --- */

struct bsn_unpack_stats {
    int entries;
    int skipped;   /* refused entries (.., escapes, unsupported) */
    int whiteouts; /* whiteouts converted */
};

/* Unpacks a (possibly compressed) layer tar into dest (which must exist). With overlay, ".wh."
 * entries become overlay whiteouts; without, they are refused like any other odd entry. */
int bsn_layer_unpack(const char *tar_path, const char *dest, bool overlay,
                     struct bsn_unpack_stats *stats, struct bsn_err *err);
/* Writes dir as an uncompressed tar (owners 0:0) to out_path. */
int bsn_layer_pack(const char *dir, const char *out_path, struct bsn_err *err);
/* sha256 of a file as "sha256:<hex>". */
int bsn_file_digest(const char *path, char out[72], int64_t *size);

#endif
