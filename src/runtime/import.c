/*
 * import.c - getting images into the store from files: OCI image layouts (directory or tar),
 * `docker save` archives, and single-layer images packed from a directory; plus the async
 * import wrapper for the agent's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "runtime/image.h"
#include "runtime/image_int.h"
#include "runtime/rt_impl.h"

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
    json_t *m = rt_img_blob_json(s, md, err);
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
        rc = rt_img_blob_put_json(s, man, md, NULL, err);
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
    rc = rt_img_blob_put_json(s, cfg, cd, &csize, err);
    json_decref(cfg);
    if (rc < 0)
        return -1;
    json_t *man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2,
                            "mediaType", MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG,
                            "digest", cd, "size", (json_int_t)csize, "layers", "mediaType",
                            MT_OCI_LAYER, "digest", ld, "size", (json_int_t)lsize);
    rc = rt_img_blob_put_json(s, man, md, NULL, err);
    json_decref(man);
    if (rc < 0)
        return -1;
    return rt_img_commit(s, md, name, err);
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
