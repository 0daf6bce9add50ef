/*
 * image_int.h - internal helpers of the image store shared by image.c and pull.c.
 */
#ifndef BSN_RUNTIME_IMAGE_INT_H
#define BSN_RUNTIME_IMAGE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/image.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER    "application/vnd.oci.image.layer.v1.tar"
#define JSON_MAX        (8u << 20) /* manifests, configs and indexes are small */

struct bsn_image_store {
    char *root;
    pthread_mutex_t mu;
};

/* A stored JSON blob (manifest, config), parsed; NULL with err. */
json_t *rt_img_blob_json(struct bsn_image_store *s, const char *digest, struct bsn_err *err);
/* Stores a JSON value as a blob (compact, sorted keys). */
int rt_img_blob_put_json(struct bsn_image_store *s, json_t *j, char digest[72], int64_t *size,
                         struct bsn_err *err);

bool rt_img_valid_digest(const char *d);
char *rt_img_blob_path(struct bsn_image_store *s, const char *digest);
bool rt_img_blob_exists(struct bsn_image_store *s, const char *digest);
/* Copies a file into the blob store, verified against expect when given. */
int rt_img_blob_put_file(struct bsn_image_store *s, const char *src, const char *expect,
                         char digest[72], int64_t *size, struct bsn_err *err);
/* Stores bytes as a blob, verified against expect when given. */
int rt_img_blob_put_mem(struct bsn_image_store *s, const void *data, size_t len, const char *expect,
                        char digest[72], struct bsn_err *err);
/* Unpacks the layers of a stored manifest and points name at it in the index. */
int rt_img_commit(struct bsn_image_store *s, const char *manifest_digest, const char *name,
                  struct bsn_err *err);
/* From an image index / manifest list: the linux/amd64 entry's digest (else the first). */
const char *rt_img_pick_platform(json_t *index);
/* True if the media type names an index or a manifest list. */
bool rt_img_is_index(const char *media_type);

/* Extracts key="value" (or key=value) from a WWW-Authenticate challenge's parameters into
 * out (truncated to n). */
bool rt_img_challenge_param(const char *params, const char *key, char *out, size_t n);

/* Shared gc.lock held while blobs are added (see image.c); returns the fd to pass to end. */
int rt_img_guard_begin(struct bsn_image_store *s);
void rt_img_guard_end(int fd);

#endif
