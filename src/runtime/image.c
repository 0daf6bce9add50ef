/*
 * image.c - the local image store: references, the index, blobs, layer unpacking into the
 * store, resolve, list, remove with garbage collection. Import and pack are in import.c,
 * registry pull in pull.c.
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

json_t *
rt_img_blob_json(struct bsn_image_store *s, const char *digest, struct bsn_err *err)
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

int
rt_img_blob_put_json(struct bsn_image_store *s, json_t *j, char digest[72], int64_t *size,
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
    json_t *m = rt_img_blob_json(s, manifest_digest, err);
    if (!m)
        return -1;
    int rc = 0;
    const char *cfgd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    json_t *cfg = rt_img_blob_json(s, cfgd, err);
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

static void
strv_append(char ***v, size_t *n, const char *const *add)
{
    for (size_t i = 0; add && add[i]; i++) {
        *v = bsn_realloc(*v, (*n + 2) * sizeof(char *));
        (*v)[(*n)++] = bsn_strdup(add[i]);
        (*v)[*n] = NULL;
    }
}

char **
bsn_image_container_argv(const struct bsn_image_config *img, const char *const *command,
                         const char *const *args)
{
    char **v = NULL;
    size_t n = 0;
    bool has_cmd = command && command[0], has_args = args && args[0];
    if (has_cmd) {
        strv_append(&v, &n, command);
    } else if (img) {
        strv_append(&v, &n, (const char *const *)img->entrypoint);
    }
    if (has_args)
        strv_append(&v, &n, args);
    else if (!has_cmd && img)
        strv_append(&v, &n, (const char *const *)img->cmd);
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
    json_t *m = rt_img_blob_json(s, md, err), *cfg = NULL;
    if (!m)
        return bsn_err_prefix(err, "image %s", full);
    int rc = 0;
    cfg = rt_img_blob_json(
        s, json_string_value(json_object_get(json_object_get(m, "config"), "digest")), err);
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
    json_t *m = rt_img_blob_json(s, md, NULL);
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
        json_t *m = md ? rt_img_blob_json(s, md, NULL) : NULL;
        if (!m)
            continue;
        json_object_set_new(keep, md + 7, json_true());
        const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
        json_t *cfg = cd ? rt_img_blob_json(s, cd, NULL) : NULL;
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
