/*
 * image.c - the local image store: references, the index, blobs, import (OCI layout and
 * `docker save`), pack, resolve, list, remove with garbage collection.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "runtime/image.h"
#include "runtime/image_int.h"
#include "runtime/rt_impl.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER    "application/vnd.oci.image.layer.v1.tar"
#define JSON_MAX        (8u << 20) /* manifests, configs and indexes are small */

struct bsn_image_store {
    char *root;
    pthread_mutex_t mu;
};

/* --- references --- */

bool
rt_img_valid_digest(const char *d)
{
    if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
            return false;
    return true;
}

static bool
valid_tag(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

/* Path components: lowercase alphanumerics separated by '.', '_', '__' or '-'s. */
static bool
valid_path(const char *p)
{
    if (!*p)
        return false;
    const char *c = p;
    while (*c) {
        const char *end = strchrnul(c, '/');
        if (end == c || (!islower((unsigned char)*c) && !isdigit((unsigned char)*c)))
            return false;
        char prev = *c;
        for (const char *q = c + 1; q < end; q++) {
            bool alnum = islower((unsigned char)*q) || isdigit((unsigned char)*q);
            if (!alnum && *q != '.' && *q != '_' && *q != '-')
                return false;
            if (!alnum && *q != '-' && *q != '_' &&
                !(islower((unsigned char)prev) || isdigit((unsigned char)prev)))
                return false;
            prev = *q;
        }
        if (!islower((unsigned char)prev) && !isdigit((unsigned char)prev))
            return false;
        c = *end ? end + 1 : end;
        if (*end && !*c)
            return false;
    }
    return true;
}

static bool
valid_domain(const char *d)
{
    if (!*d || *d == ':')
        return false;
    const char *colon = strchr(d, ':');
    for (const char *p = d; *p && p != colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
            return false;
    if (colon) { /* the port: digits only */
        if (!colon[1])
            return false;
        for (const char *p = colon + 1; *p; p++)
            if (!isdigit((unsigned char)*p))
                return false;
    }
    return true;
}

bool
bsn_image_is_host(const char *ref)
{
    return ref && !strcmp(ref, "host");
}

int
bsn_image_ref_parse(const char *s, struct bsn_image_ref *ref, struct bsn_err *err)
{
    memset(ref, 0, sizeof(*ref));
    if (!s || !*s || strlen(s) > 500)
        return bsn_err_set(err, 400, "Invalid", "invalid image reference '%s'", s ? s : "");
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", s);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (!rt_img_valid_digest(at + 1))
            return bsn_err_set(err, 400, "Invalid",
                               "invalid image reference '%s': digest must be sha256:<64 hex>", s);
        snprintf(ref->digest, sizeof(ref->digest), "%s", at + 1);
    }
    char *slash = strrchr(buf, '/');
    char *colon = strrchr(slash ? slash : buf, ':');
    if (colon) {
        *colon = '\0';
        if (!valid_tag(colon + 1))
            return bsn_err_set(err, 400, "Invalid", "invalid image reference '%s': bad tag", s);
        snprintf(ref->tag, sizeof(ref->tag), "%s", colon + 1);
    }
    char *name = buf;
    char *first = strchr(name, '/');
    if (first) {
        *first = '\0';
        if (strchr(name, '.') || strchr(name, ':') || !strcmp(name, "localhost")) {
            snprintf(ref->domain, sizeof(ref->domain), "%s", name);
            name = first + 1;
        } else {
            *first = '/';
        }
    }
    if (!ref->domain[0] || !strcmp(ref->domain, "index.docker.io"))
        snprintf(ref->domain, sizeof(ref->domain), "docker.io");
    /* Docker caps the normalized repository name (domain/path) at 255 characters. */
    bool library = !strcmp(ref->domain, "docker.io") && !strchr(name, '/');
    if (strlen(ref->domain) + 1 + (library ? 8 : 0) + strlen(name) > 255)
        return bsn_err_set(err, 400, "Invalid", "invalid image reference: name too long");
    if (!valid_domain(ref->domain) || !valid_path(name))
        return bsn_err_set(err, 400, "Invalid",
                           "invalid image reference '%s': repository names are lowercase "
                           "alphanumerics separated by '.', '_' or '-'",
                           s);
    if (!strcmp(ref->domain, "docker.io") && !strchr(name, '/'))
        snprintf(ref->path, sizeof(ref->path), "library/%s", name);
    else
        snprintf(ref->path, sizeof(ref->path), "%s", name);
    if (!ref->tag[0] && !ref->digest[0])
        snprintf(ref->tag, sizeof(ref->tag), "latest");
    return 0;
}

void
bsn_image_ref_name(const struct bsn_image_ref *ref, char *out, size_t n)
{
    if (ref->tag[0])
        snprintf(out, n, "%s/%s:%s", ref->domain, ref->path, ref->tag);
    else
        snprintf(out, n, "%s/%s@%s", ref->domain, ref->path, ref->digest);
}

/* --- store, index and blobs --- */

struct bsn_image_store *
bsn_image_store_open(const char *data_dir, struct bsn_err *err)
{
    struct bsn_image_store *s = bsn_calloc(1, sizeof(*s));
    s->root = bsn_sprintf("%s/images", data_dir);
    pthread_mutex_init(&s->mu, NULL);
    BSN_AUTOFREE char *blobs = bsn_sprintf("%s/blobs/sha256", s->root);
    BSN_AUTOFREE char *layers = bsn_sprintf("%s/layers", s->root);
    int rc = rt_mkdir_p(blobs, 0755);
    if (rc == 0)
        rc = rt_mkdir_p(layers, 0755);
    if (rc < 0) {
        bsn_err_set(err, 500, "InternalError", "image store %s: %s", s->root, strerror(-rc));
        bsn_image_store_close(s);
        return NULL;
    }
    return s;
}

void
bsn_image_store_close(struct bsn_image_store *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->root);
    free(s);
}

const char *
bsn_image_store_root(const struct bsn_image_store *s)
{
    return s->root;
}

/* Takes the in-process mutex and the cross-process flock; returns the lock fd. */
static int
store_lock(struct bsn_image_store *s, int how)
{
    pthread_mutex_lock(&s->mu);
    BSN_AUTOFREE char *path = bsn_sprintf("%s/index.lock", s->root);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        flock(fd, how);
    return fd;
}

static void
store_unlock(struct bsn_image_store *s, int fd)
{
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&s->mu);
}

static json_t *
index_load(struct bsn_image_store *s)
{
    BSN_AUTOFREE char *path = bsn_sprintf("%s/index.json", s->root);
    json_t *j = json_load_file(path, 0, NULL);
    if (!j || !json_is_object(json_object_get(j, "images"))) {
        json_decref(j);
        j = json_pack("{s:{}}", "images");
    }
    return j;
}

static int
index_save(struct bsn_image_store *s, json_t *idx)
{
    BSN_AUTOFREE char *path = bsn_sprintf("%s/index.json", s->root);
    BSN_AUTOFREE char *tmp = bsn_sprintf("%s/.index.json.%d", s->root, (int)getpid());
    if (json_dump_file(idx, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
        return -EIO;
    return rename(tmp, path) < 0 ? -errno : 0;
}

char *
rt_img_blob_path(struct bsn_image_store *s, const char *digest)
{
    return bsn_sprintf("%s/blobs/sha256/%s", s->root, digest + 7);
}

bool
rt_img_blob_exists(struct bsn_image_store *s, const char *digest)
{
    if (!rt_img_valid_digest(digest))
        return false;
    BSN_AUTOFREE char *p = rt_img_blob_path(s, digest);
    struct stat st;
    return stat(p, &st) == 0;
}

int
rt_img_blob_put_mem(struct bsn_image_store *s, const void *data, size_t len, const char *expect,
                    char digest[72], struct bsn_err *err)
{
    BSN_AUTOFREE char *tmp = bsn_sprintf("%s/blobs/sha256/.mem-XXXXXX", s->root);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return bsn_err_set(err, 500, "InternalError", "blob temp: %s", strerror(errno));
    size_t off = 0;
    int e = 0;
    while (off < len) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            break;
        }
        off += (size_t)n;
    }
    if (close(fd) < 0 && !e)
        e = errno;
    int rc = e ? bsn_err_set(err, 500, "InternalError", "write blob: %s", strerror(e))
               : rt_img_blob_put_file(s, tmp, expect, digest, NULL, err);
    unlink(tmp);
    return rc;
}

bool
rt_img_is_index(const char *mt)
{
    return mt && (strstr(mt, "image.index") || strstr(mt, "manifest.list"));
}

const char *
rt_img_pick_platform(json_t *index)
{
    json_t *ms = json_object_get(index, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return NULL;
    json_t *best = json_array_get(ms, 0);
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *p = json_object_get(json_array_get(ms, i), "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        if (os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64")) {
            best = json_array_get(ms, i);
            break;
        }
    }
    return json_string_value(json_object_get(best, "digest"));
}

static json_t *
blob_json(struct bsn_image_store *s, const char *digest, struct bsn_err *err)
{
    if (!digest || !rt_img_valid_digest(digest)) {
        bsn_err_set(err, 400, "BadRequest", "invalid digest '%s'", digest ? digest : "");
        return NULL;
    }
    BSN_AUTOFREE char *path = rt_img_blob_path(s, digest);
    size_t len;
    BSN_AUTOFREE char *data = rt_read_file(path, JSON_MAX, &len);
    if (!data) {
        bsn_err_set(err, 404, "NotFound", "blob %s not in the store", digest);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(data, len, 0, &je);
    if (!j)
        bsn_err_set(err, 400, "BadRequest", "blob %s: invalid JSON: %s", digest, je.text);
    return j;
}

/* Copies src into the blob store; verifies it against expect when given. */
int
rt_img_blob_put_file(struct bsn_image_store *s, const char *src, const char *expect,
                     char digest[72], int64_t *size, struct bsn_err *err)
{
    BSN_AUTOFREE char *tmp = bsn_sprintf("%s/blobs/sha256/.tmp-XXXXXX", s->root);
    int out = mkstemp(tmp);
    if (out < 0)
        return bsn_err_set(err, 500, "InternalError", "blob temp: %s", strerror(errno));
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        int e = errno;
        close(out);
        unlink(tmp);
        return bsn_err_set(err, 400, "BadRequest", "read %s: %s", src, strerror(e));
    }
    char buf[65536];
    ssize_t n;
    int e = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            e = errno ? errno : EIO;
            break;
        }
    }
    if (n < 0)
        e = errno;
    close(in);
    fchmod(out, 0644);
    if (close(out) < 0 && !e)
        e = errno;
    if (e || bsn_file_digest(tmp, digest, size) < 0) {
        unlink(tmp);
        return bsn_err_set(err, 500, "InternalError", "copy %s: %s", src, strerror(e ? e : EIO));
    }
    if (expect && strcmp(expect, digest) != 0) {
        unlink(tmp);
        return bsn_err_set(err, 400, "BadRequest", "blob %s: digest mismatch (content is %s)",
                           expect, digest);
    }
    BSN_AUTOFREE char *final = rt_img_blob_path(s, digest);
    if (rename(tmp, final) < 0) {
        e = errno;
        unlink(tmp);
        return bsn_err_set(err, 500, "InternalError", "store blob %s: %s", digest, strerror(e));
    }
    return 0;
}

static int
blob_put_json(struct bsn_image_store *s, json_t *j, char digest[72], int64_t *size,
              struct bsn_err *err)
{
    BSN_AUTOFREE char *tmp =
        bsn_sprintf("%s/blobs/sha256/.json-%d-%p", s->root, (int)getpid(), (void *)j);
    if (json_dump_file(j, tmp, JSON_COMPACT | JSON_SORT_KEYS) < 0)
        return bsn_err_set(err, 500, "InternalError", "write %s", tmp);
    int rc = rt_img_blob_put_file(s, tmp, NULL, digest, size, err);
    unlink(tmp);
    return rc;
}

/* Unpacks layer blob `digest` into layers/<diffid hex> unless it is already there. */
static int
layer_ensure(struct bsn_image_store *s, const char *digest, const char *diffid, struct bsn_err *err)
{
    if (!rt_img_valid_digest(diffid))
        return bsn_err_set(err, 400, "BadRequest", "invalid diff_id '%s'", diffid);
    BSN_AUTOFREE char *dir = bsn_sprintf("%s/layers/%s", s->root, diffid + 7);
    struct stat st;
    if (stat(dir, &st) == 0)
        return 0;
    BSN_AUTOFREE char *tmp = bsn_sprintf("%s/layers/.tmp-XXXXXX", s->root);
    if (!mkdtemp(tmp))
        return bsn_err_set(err, 500, "InternalError", "layer temp: %s", strerror(errno));
    chmod(tmp, 0755);
    BSN_AUTOFREE char *blob = rt_img_blob_path(s, digest);
    struct bsn_unpack_stats us;
    if (bsn_layer_unpack(blob, tmp, true, &us, err) < 0) {
        rt_rm_rf(tmp);
        return bsn_err_prefix(err, "layer %s", digest);
    }
    if (rename(tmp, dir) < 0) {
        rt_rm_rf(tmp); /* someone else unpacked it meanwhile */
        if (stat(dir, &st) < 0)
            return bsn_err_set(err, 500, "InternalError", "layer %s: %s", diffid, strerror(errno));
    }
    bsn_debug("runtime", "unpacked layer %s: %d entries, %d whiteouts, %d skipped", diffid,
              us.entries, us.whiteouts, us.skipped);
    return 0;
}

/* Stores name -> manifest digest after making sure every layer is unpacked. */
int
rt_img_commit(struct bsn_image_store *s, const char *manifest_digest, const char *name,
              struct bsn_err *err)
{
    json_t *m = blob_json(s, manifest_digest, err);
    if (!m)
        return -1;
    int rc = 0;
    const char *cfgd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    json_t *cfg = blob_json(s, cfgd, err);
    if (!cfg) {
        json_decref(m);
        return bsn_err_prefix(err, "image %s: config", name);
    }
    json_t *layers = json_object_get(m, "layers");
    json_t *diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(layers) || json_array_size(layers) != json_array_size(diffs)) {
        rc = bsn_err_set(err, 400, "BadRequest",
                         "image %s: manifest has %zu layers but config %zu diff_ids", name,
                         json_array_size(layers), json_array_size(diffs));
        goto out;
    }
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const char *ld = json_string_value(json_object_get(json_array_get(layers, i), "digest"));
        if ((rc = layer_ensure(s, ld ? ld : "", json_string_value(json_array_get(diffs, i)) ?: "",
                               err)) < 0)
            goto out;
    }
    struct bsn_image_ref ref;
    if ((rc = bsn_image_ref_parse(name, &ref, err)) < 0)
        goto out;
    char full[512];
    bsn_image_ref_name(&ref, full, sizeof(full));
    int lk = store_lock(s, LOCK_EX);
    json_t *idx = index_load(s);
    json_object_set_new(json_object_get(idx, "images"), full, json_string(manifest_digest));
    int sr = index_save(s, idx);
    json_decref(idx);
    store_unlock(s, lk);
    if (sr < 0)
        rc = bsn_err_set(err, 500, "InternalError", "save image index: %s", strerror(-sr));
    else
        bsn_info("runtime", "image %s -> %s", full, manifest_digest);
out:
    json_decref(m);
    json_decref(cfg);
    return rc;
}

/* --- import --- */

static void
names_add(char ***names, size_t *n, const char *name)
{
    if (!names)
        return;
    *names = bsn_realloc(*names, (*n + 2) * sizeof(char *));
    (*names)[(*n)++] = bsn_strdup(name);
    (*names)[*n] = NULL;
}

/* Follows an index descriptor to a single manifest digest (linux/amd64 preferred). */
static const char *
pick_manifest(json_t *desc, const char *layout, json_t **keep, struct bsn_err *err)
{
    const char *mt = json_string_value(json_object_get(desc, "mediaType"));
    const char *d = json_string_value(json_object_get(desc, "digest"));
    if (!d || !rt_img_valid_digest(d)) {
        bsn_err_set(err, 400, "BadRequest", "index entry without a valid digest");
        return NULL;
    }
    if (!rt_img_is_index(mt))
        return d;
    BSN_AUTOFREE char *path = bsn_sprintf("%s/blobs/sha256/%s", layout, d + 7);
    json_t *sub = json_load_file(path, 0, NULL);
    const char *pick = rt_img_pick_platform(sub);
    if (!pick) {
        json_decref(sub);
        bsn_err_set(err, 400, "BadRequest", "nested index %s has no manifests", d);
        return NULL;
    }
    *keep = sub;
    return pick;
}

/* Copies a manifest, its config and layers from an OCI layout into the store. */
static int
copy_manifest(struct bsn_image_store *s, const char *layout, const char *md, struct bsn_err *err)
{
    char got[72];
    BSN_AUTOFREE char *mpath = bsn_sprintf("%s/blobs/sha256/%s", layout, md + 7);
    if (rt_img_blob_put_file(s, mpath, md, got, NULL, err) < 0)
        return -1;
    json_t *m = blob_json(s, md, err);
    if (!m)
        return -1;
    int rc = 0;
    const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    json_t *layers = json_object_get(m, "layers");
    if (!cd || !rt_img_valid_digest(cd) || !json_is_array(layers)) {
        rc = bsn_err_set(err, 400, "BadRequest", "manifest %s: missing config or layers", md);
        goto out;
    }
    char *cpath = bsn_sprintf("%s/blobs/sha256/%s", layout, cd + 7);
    rc = rt_img_blob_put_file(s, cpath, cd, got, NULL, err);
    free(cpath);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const char *ld = json_string_value(json_object_get(json_array_get(layers, i), "digest"));
        if (!ld || !rt_img_valid_digest(ld)) {
            rc = bsn_err_set(err, 400, "BadRequest", "manifest %s: layer %zu: bad digest", md, i);
            goto out;
        }
        BSN_AUTOFREE char *lpath = bsn_sprintf("%s/blobs/sha256/%s", layout, ld + 7);
        if ((rc = rt_img_blob_put_file(s, lpath, ld, got, NULL, err)) < 0)
            goto out;
    }
out:
    json_decref(m);
    return rc;
}

static char *
name_with_tag(const char *default_name, const char *tag)
{
    if (!default_name)
        return NULL;
    const char *slash = strrchr(default_name, '/');
    if (strchr(slash ? slash : default_name, ':') || strchr(default_name, '@') || !tag)
        return bsn_strdup(default_name);
    return bsn_sprintf("%s:%s", default_name, tag);
}

static int
import_oci_layout(struct bsn_image_store *s, const char *dir, const char *default_name,
                  char ***names, size_t *nnames, struct bsn_err *err)
{
    BSN_AUTOFREE char *ipath = bsn_sprintf("%s/index.json", dir);
    json_error_t je;
    json_t *idx = json_load_file(ipath, 0, &je);
    if (!idx)
        return bsn_err_set(err, 400, "BadRequest", "%s: %s", ipath, je.text);
    json_t *ms = json_object_get(idx, "manifests");
    int rc = 0, imported = 0;
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *desc = json_array_get(ms, i), *keep = NULL;
        json_t *ann = json_object_get(desc, "annotations");
        const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
        const char *refname =
            json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
        BSN_AUTOFREE char *name = NULL;
        if (full)
            name = bsn_strdup(full);
        else if (refname && (strchr(refname, '/') || strchr(refname, ':')))
            name = bsn_strdup(refname);
        else
            name = name_with_tag(default_name, refname);
        if (!name) {
            rc = bsn_err_set(err, 400, "BadRequest",
                             "%s: manifest %zu has no name annotation; give a name", dir, i);
            break;
        }
        const char *md = pick_manifest(desc, dir, &keep, err);
        if (!md || copy_manifest(s, dir, md, err) < 0 || rt_img_commit(s, md, name, err) < 0) {
            json_decref(keep);
            rc = -1;
            break;
        }
        struct bsn_image_ref ref;
        char nm[512];
        bsn_image_ref_parse(name, &ref, NULL);
        bsn_image_ref_name(&ref, nm, sizeof(nm));
        names_add(names, nnames, nm);
        json_decref(keep);
        imported++;
    }
    json_decref(idx);
    if (rc == 0 && imported == 0)
        rc = bsn_err_set(err, 400, "BadRequest", "%s: index.json lists no images", dir);
    return rc;
}

static const char *
layer_media_type(const char *path)
{
    unsigned char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, magic, sizeof(magic)) < 0)
            magic[0] = 0;
        close(fd);
    }
    if (magic[0] == 0x1f && magic[1] == 0x8b)
        return MT_OCI_LAYER "+gzip";
    if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        return MT_OCI_LAYER "+zstd";
    return MT_OCI_LAYER;
}

/* A safe path inside dir for a member name from manifest.json. */
static char *
member_path(const char *dir, const char *name)
{
    char clean[PATH_MAX];
    if (!name || strstr(name, "..") || name[0] == '/')
        return NULL;
    snprintf(clean, sizeof(clean), "%s", name);
    return bsn_sprintf("%s/%s", dir, clean);
}

static int
import_docker_save(struct bsn_image_store *s, const char *dir, const char *default_name,
                   char ***names, size_t *nnames, struct bsn_err *err)
{
    BSN_AUTOFREE char *mpath = bsn_sprintf("%s/manifest.json", dir);
    json_error_t je;
    json_t *list = json_load_file(mpath, 0, &je);
    if (!json_is_array(list)) {
        json_decref(list);
        return bsn_err_set(err, 400, "BadRequest", "%s: %s", mpath,
                           list ? "not an array" : je.text);
    }
    int rc = 0;
    for (size_t i = 0; i < json_array_size(list) && rc == 0; i++) {
        json_t *ent = json_array_get(list, i);
        BSN_AUTOFREE char *cpath =
            member_path(dir, json_string_value(json_object_get(ent, "Config")));
        json_t *layers = json_object_get(ent, "Layers");
        if (!cpath || !json_is_array(layers)) {
            rc = bsn_err_set(err, 400, "BadRequest", "%s: entry %zu: bad Config/Layers", mpath, i);
            break;
        }
        char cd[72];
        int64_t csize = 0;
        if ((rc = rt_img_blob_put_file(s, cpath, NULL, cd, &csize, err)) < 0)
            break;
        json_t *ldescs = json_array();
        for (size_t l = 0; l < json_array_size(layers) && rc == 0; l++) {
            BSN_AUTOFREE char *lp = member_path(dir, json_string_value(json_array_get(layers, l)));
            char ld[72];
            int64_t lsize = 0;
            if (!lp) {
                rc = bsn_err_set(err, 400, "BadRequest", "%s: bad layer path", mpath);
                break;
            }
            if ((rc = rt_img_blob_put_file(s, lp, NULL, ld, &lsize, err)) < 0)
                break;
            json_array_append_new(ldescs,
                                  json_pack("{s:s,s:s,s:I}", "mediaType", layer_media_type(lp),
                                            "digest", ld, "size", (json_int_t)lsize));
        }
        if (rc < 0) {
            json_decref(ldescs);
            break;
        }
        json_t *man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
                                MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest", cd,
                                "size", (json_int_t)csize, "layers", ldescs);
        char md[72];
        rc = blob_put_json(s, man, md, NULL, err);
        json_decref(man);
        if (rc < 0)
            break;
        json_t *tags = json_object_get(ent, "RepoTags");
        size_t ntags = json_array_size(tags);
        if (ntags == 0 && !default_name) {
            rc = bsn_err_set(err, 400, "BadRequest", "%s: image %zu has no RepoTags; give a name",
                             mpath, i);
            break;
        }
        for (size_t t = 0; t < (ntags ? ntags : 1) && rc == 0; t++) {
            const char *nm = ntags ? json_string_value(json_array_get(tags, t)) : default_name;
            if ((rc = rt_img_commit(s, md, nm ? nm : "", err)) == 0) {
                struct bsn_image_ref ref;
                char full[512];
                bsn_image_ref_parse(nm, &ref, NULL);
                bsn_image_ref_name(&ref, full, sizeof(full));
                names_add(names, nnames, full);
            }
        }
    }
    json_decref(list);
    return rc;
}

static int
import_dir(struct bsn_image_store *s, const char *dir, const char *default_name, char ***names,
           size_t *nnames, struct bsn_err *err)
{
    BSN_AUTOFREE char *manifest = bsn_sprintf("%s/manifest.json", dir);
    BSN_AUTOFREE char *layout = bsn_sprintf("%s/oci-layout", dir);
    struct stat st;
    /* docker save (also Docker 25+, which adds an OCI layout) names images in manifest.json. */
    if (stat(manifest, &st) == 0)
        return import_docker_save(s, dir, default_name, names, nnames, err);
    if (stat(layout, &st) == 0)
        return import_oci_layout(s, dir, default_name, names, nnames, err);
    return bsn_err_set(err, 400, "BadRequest",
                       "%s is neither an OCI image layout (oci-layout, index.json) nor a docker "
                       "save archive (manifest.json)",
                       dir);
}

static int
import_guarded(struct bsn_image_store *s, const char *path, const char *default_name, char ***names,
               struct bsn_err *err)
{
    size_t nnames = 0;
    if (names)
        *names = NULL;
    struct stat st;
    if (stat(path, &st) < 0)
        return bsn_err_set(err, 404, "NotFound", "import %s: %s", path, strerror(errno));
    int rc;
    if (S_ISDIR(st.st_mode)) {
        rc = import_dir(s, path, default_name, names, &nnames, err);
    } else {
        BSN_AUTOFREE char *tmp = bsn_sprintf("%s/.import-XXXXXX", s->root);
        if (!mkdtemp(tmp))
            return bsn_err_set(err, 500, "InternalError", "import temp: %s", strerror(errno));
        rc = bsn_layer_unpack(path, tmp, false, NULL, err);
        if (rc == 0)
            rc = import_dir(s, tmp, default_name, names, &nnames, err);
        rt_rm_rf(tmp);
    }
    if (rc < 0)
        return bsn_err_prefix(err, "import %s", path);
    return 0;
}

/* --- pack --- */

static json_t *
strv_json(const char *const *v)
{
    if (!v)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

int
bsn_image_import(struct bsn_image_store *s, const char *path, const char *default_name,
                 char ***names, struct bsn_err *err)
{
    int g = rt_img_guard_begin(s);
    int rc = import_guarded(s, path, default_name, names, err);
    rt_img_guard_end(g);
    return rc;
}

static int pack_guarded(struct bsn_image_store *s, const char *dir, const char *name,
                        const char *const *entrypoint, const char *const *cmd,
                        const char *const *env, const char *workdir, struct bsn_err *err);

int
bsn_image_pack(struct bsn_image_store *s, const char *dir, const char *name,
               const char *const *entrypoint, const char *const *cmd, const char *const *env,
               const char *workdir, struct bsn_err *err)
{
    int g = rt_img_guard_begin(s);
    int rc = pack_guarded(s, dir, name, entrypoint, cmd, env, workdir, err);
    rt_img_guard_end(g);
    return rc;
}

static int
pack_guarded(struct bsn_image_store *s, const char *dir, const char *name,
             const char *const *entrypoint, const char *const *cmd, const char *const *env,
             const char *workdir, struct bsn_err *err)
{
    struct bsn_image_ref ref;
    if (bsn_image_ref_parse(name, &ref, err) < 0)
        return bsn_err_prefix(err, "pack");
    BSN_AUTOFREE char *tar = bsn_sprintf("%s/.pack-%d-%llu.tar", s->root, (int)getpid(),
                                         (unsigned long long)bsn_mono_ns());
    if (bsn_layer_pack(dir, tar, err) < 0)
        return bsn_err_prefix(err, "pack %s", dir);
    char ld[72], cd[72], md[72];
    int64_t lsize = 0, csize = 0;
    int rc = rt_img_blob_put_file(s, tar, NULL, ld, &lsize, err);
    unlink(tar);
    if (rc < 0)
        return bsn_err_prefix(err, "pack %s", dir);
    char created[32];
    bsn_time_format(bsn_time_now(), created, sizeof(created));
    json_t *config = json_object();
    json_object_set_new(config, "Entrypoint", strv_json(entrypoint));
    json_object_set_new(config, "Cmd", strv_json(cmd));
    const char *defenv[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                            NULL};
    json_object_set_new(config, "Env", strv_json(env ? env : defenv));
    json_object_set_new(config, "WorkingDir", json_string(workdir ? workdir : ""));
    json_t *cfg =
        json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:[s]}}", "created", created, "architecture", "amd64",
                  "os", "linux", "config", config, "rootfs", "type", "layers", "diff_ids", ld);
    rc = blob_put_json(s, cfg, cd, &csize, err);
    json_decref(cfg);
    if (rc < 0)
        return -1;
    json_t *man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2,
                            "mediaType", MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG,
                            "digest", cd, "size", (json_int_t)csize, "layers", "mediaType",
                            MT_OCI_LAYER, "digest", ld, "size", (json_int_t)lsize);
    rc = blob_put_json(s, man, md, NULL, err);
    json_decref(man);
    if (rc < 0)
        return -1;
    return rt_img_commit(s, md, name, err);
}

/* --- resolve, list, remove --- */

static char **
json_strv(json_t *a)
{
    if (!json_is_array(a))
        return NULL;
    char **v = bsn_calloc(json_array_size(a) + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(a); i++)
        if (json_is_string(json_array_get(a, i)))
            v[k++] = bsn_strdup(json_string_value(json_array_get(a, i)));
    return v;
}

void
bsn_image_config_fini(struct bsn_image_config *c)
{
    free(c->name);
    free(c->digest);
    rt_strv_free(c->entrypoint);
    rt_strv_free(c->cmd);
    rt_strv_free(c->env);
    free(c->working_dir);
    free(c->user);
    rt_strv_free(c->layer_dirs);
    memset(c, 0, sizeof(*c));
}

static char *
index_lookup(struct bsn_image_store *s, const char *full)
{
    int lk = store_lock(s, LOCK_SH);
    json_t *idx = index_load(s);
    const char *d = json_string_value(json_object_get(json_object_get(idx, "images"), full));
    char *out = d ? bsn_strdup(d) : NULL;
    json_decref(idx);
    store_unlock(s, lk);
    return out;
}

int
bsn_image_resolve(struct bsn_image_store *s, const char *refstr, struct bsn_image_config *out,
                  struct bsn_err *err)
{
    memset(out, 0, sizeof(*out));
    if (bsn_image_is_host(refstr)) {
        out->is_host = true;
        out->name = bsn_strdup("host");
        const char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                             NULL};
        out->env = rt_strv_dup(env);
        return 0;
    }
    struct bsn_image_ref ref;
    if (bsn_image_ref_parse(refstr, &ref, err) < 0)
        return -1;
    char full[512];
    bsn_image_ref_name(&ref, full, sizeof(full));
    BSN_AUTOFREE char *md = ref.digest[0] ? bsn_strdup(ref.digest) : index_lookup(s, full);
    if (!md)
        return bsn_err_set(err, 404, "NotFound", "image %s not found in %s", full, s->root);
    json_t *m = blob_json(s, md, err), *cfg = NULL;
    if (!m)
        return bsn_err_prefix(err, "image %s", full);
    int rc = 0;
    cfg = blob_json(s, json_string_value(json_object_get(json_object_get(m, "config"), "digest")),
                    err);
    if (!cfg) {
        rc = bsn_err_prefix(err, "image %s: config", full);
        goto out;
    }
    json_t *c = json_object_get(cfg, "config");
    out->name = bsn_strdup(full);
    out->digest = bsn_strdup(md);
    out->entrypoint = json_strv(json_object_get(c, "Entrypoint"));
    out->cmd = json_strv(json_object_get(c, "Cmd"));
    out->env = json_strv(json_object_get(c, "Env"));
    const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
    out->working_dir = wd && *wd ? bsn_strdup(wd) : NULL;
    const char *user = json_string_value(json_object_get(c, "User"));
    out->user = user && *user ? bsn_strdup(user) : NULL;
    json_t *diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    out->nlayers = json_array_size(diffs);
    out->layer_dirs = bsn_calloc(out->nlayers + 1, sizeof(char *));
    for (size_t i = 0; i < out->nlayers; i++) {
        const char *d = json_string_value(json_array_get(diffs, i));
        if (!d || !rt_img_valid_digest(d)) {
            rc = bsn_err_set(err, 400, "BadRequest", "image %s: bad diff_id %zu", full, i);
            goto out;
        }
        out->layer_dirs[i] = bsn_sprintf("%s/layers/%s", s->root, d + 7);
        struct stat st;
        if (stat(out->layer_dirs[i], &st) < 0) {
            rc = bsn_err_set(err, 500, "InternalError", "image %s: layer %s is not unpacked", full,
                             d);
            goto out;
        }
    }
out:
    if (rc < 0)
        bsn_image_config_fini(out);
    json_decref(m);
    json_decref(cfg);
    return rc;
}

static int64_t
image_size(struct bsn_image_store *s, const char *md)
{
    json_t *m = blob_json(s, md, NULL);
    int64_t total = 0;
    json_t *layers = json_object_get(m, "layers");
    for (size_t i = 0; i < json_array_size(layers); i++)
        total += json_integer_value(json_object_get(json_array_get(layers, i), "size"));
    json_decref(m);
    return total;
}

int
bsn_image_list(struct bsn_image_store *s, struct bsn_image_entry **out, size_t *n,
               struct bsn_err *err)
{
    int lk = store_lock(s, LOCK_SH);
    json_t *idx = index_load(s);
    store_unlock(s, lk);
    json_t *images = json_object_get(idx, "images");
    *n = json_object_size(images);
    *out = bsn_calloc(*n + 1, sizeof(**out));
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(images, key, val)
    {
        snprintf((*out)[i].name, sizeof((*out)[i].name), "%s", key);
        snprintf((*out)[i].digest, sizeof((*out)[i].digest), "%s", json_string_value(val) ?: "");
        (*out)[i].size = image_size(s, (*out)[i].digest);
        i++;
    }
    json_decref(idx);
    return 0;
}

/* Writers (import, pack, pull) hold gc.lock shared while they add blobs that no index entry
 * references yet; GC runs only when it gets the lock exclusively (else it is skipped, and the
 * next remove collects). */
int
rt_img_guard_begin(struct bsn_image_store *s)
{
    BSN_AUTOFREE char *path = bsn_sprintf("%s/gc.lock", s->root);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        flock(fd, LOCK_SH);
    return fd;
}

void
rt_img_guard_end(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Marks every blob and layer an indexed image uses; removes the rest. Caller holds the lock. */
static void
gc(struct bsn_image_store *s, json_t *idx)
{
    BSN_AUTOFREE char *gpath = bsn_sprintf("%s/gc.lock", s->root);
    int gfd = open(gpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (gfd < 0 || flock(gfd, LOCK_EX | LOCK_NB) < 0) {
        bsn_info("runtime", "image GC skipped: an import or pull is in progress");
        if (gfd >= 0)
            close(gfd);
        return;
    }
    json_t *keep = json_object();
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(idx, "images"), key, val)
    {
        const char *md = json_string_value(val);
        json_t *m = md ? blob_json(s, md, NULL) : NULL;
        if (!m)
            continue;
        json_object_set_new(keep, md + 7, json_true());
        const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
        json_t *cfg = cd ? blob_json(s, cd, NULL) : NULL;
        if (cd)
            json_object_set_new(keep, cd + 7, json_true());
        json_t *layers = json_object_get(m, "layers");
        for (size_t i = 0; i < json_array_size(layers); i++) {
            const char *ld =
                json_string_value(json_object_get(json_array_get(layers, i), "digest"));
            if (ld && rt_img_valid_digest(ld))
                json_object_set_new(keep, ld + 7, json_true());
        }
        json_t *diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
        for (size_t i = 0; i < json_array_size(diffs); i++) {
            const char *d = json_string_value(json_array_get(diffs, i));
            if (d && rt_img_valid_digest(d)) {
                BSN_AUTOFREE char *k = bsn_sprintf("layer:%s", d + 7);
                json_object_set_new(keep, k, json_true());
            }
        }
        json_decref(cfg);
        json_decref(m);
    }
    BSN_AUTOFREE char *mounts = rt_read_file("/proc/self/mountinfo", 16u << 20, NULL);
    const char *dirs[] = {"blobs/sha256", "layers"};
    for (int k = 0; k < 2; k++) {
        BSN_AUTOFREE char *dpath = bsn_sprintf("%s/%s", s->root, dirs[k]);
        DIR *d = opendir(dpath);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue; /* in-progress temp files and dirs */
            BSN_AUTOFREE char *kk = bsn_sprintf("%s%s", k ? "layer:" : "", de->d_name);
            if (json_object_get(keep, kk))
                continue;
            BSN_AUTOFREE char *p = bsn_sprintf("%s/%s", dpath, de->d_name);
            /* A layer still under a container's overlay mount stays until a later GC. */
            if (k == 1 && mounts && strstr(mounts, p)) {
                bsn_info("runtime", "image GC: layer %s is in use, kept", de->d_name);
                continue;
            }
            rt_rm_rf(p);
        }
        if (d)
            closedir(d);
    }
    json_decref(keep);
    close(gfd);
}

int
bsn_image_remove(struct bsn_image_store *s, const char *refstr, struct bsn_err *err)
{
    struct bsn_image_ref ref;
    if (bsn_image_ref_parse(refstr, &ref, err) < 0)
        return -1;
    char full[512];
    bsn_image_ref_name(&ref, full, sizeof(full));
    int lk = store_lock(s, LOCK_EX);
    json_t *idx = index_load(s);
    json_t *images = json_object_get(idx, "images");
    int removed = 0;
    if (ref.digest[0] && !ref.tag[0]) {
        const char *key;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(images, tmp, key, val)
        {
            if (!strcmp(json_string_value(val) ?: "", ref.digest)) {
                json_object_del(images, key);
                removed++;
            }
        }
    } else if (json_object_get(images, full)) {
        json_object_del(images, full);
        removed++;
    }
    int rc = 0;
    if (!removed) {
        rc = bsn_err_set(err, 404, "NotFound", "image %s not found", full);
    } else if (index_save(s, idx) < 0) {
        rc = bsn_err_set(err, 500, "InternalError", "save image index: %s", strerror(errno));
    } else {
        gc(s, idx);
    }
    json_decref(idx);
    store_unlock(s, lk);
    return rc;
}

/* --- async import --- */

struct import_job {
    struct bsn_image_store *s;
    struct bsn_loop *loop;
    char *path;
    char *name;
    bsn_image_done_cb cb;
    void *data;
    int rc;
    struct bsn_err err;
};

static void
import_done(struct bsn_loop *loop, void *data)
{
    struct import_job *j = data;
    j->cb(j->data, j->rc, j->rc < 0 ? &j->err : NULL);
    free(j->path);
    free(j->name);
    free(j);
}

static void *
import_thread(void *arg)
{
    struct import_job *j = arg;
    j->rc = bsn_image_import(j->s, j->path, j->name, NULL, &j->err);
    bsn_loop_post(j->loop, import_done, j);
    return NULL;
}

int
bsn_image_import_async(struct bsn_image_store *s, struct bsn_loop *loop, const char *path,
                       const char *default_name, bsn_image_done_cb cb, void *data)
{
    struct import_job *j = bsn_calloc(1, sizeof(*j));
    j->s = s;
    j->loop = loop;
    j->path = bsn_strdup(path);
    j->name = default_name ? bsn_strdup(default_name) : NULL;
    j->cb = cb;
    j->data = data;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, import_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(j->path);
        free(j->name);
        free(j);
        return -rc;
    }
    return 0;
}
