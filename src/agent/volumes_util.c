/*
 * volumes_util.c - the pure parts of pod volumes (see volumes.h): payloads of projected
 * volumes, the atomic writer, downward API and resourceFieldRef values, subPath and hostPath
 * checks. No agent, loop or API here, so the unit tests drive them directly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/volumes.h"
#include "base/base64.h"
#include "base/buf.h"
#include "base/mem.h"
#include "codec/json.h"
#include "codec/quantity.h"

void
bsn_vol_payload_add(struct bsn_vol_payload *pl, const char *path, const char *data, size_t len,
                    unsigned mode)
{
    struct bsn_vol_file *f = NULL;
    for (size_t i = 0; i < pl->n; i++)
        if (!strcmp(pl->files[i].path, path))
            f = &pl->files[i];
    if (f) {
        free(f->data);
    } else {
        if (pl->n == pl->cap) {
            pl->cap = pl->cap ? pl->cap * 2 : 8;
            pl->files = bsn_realloc(pl->files, pl->cap * sizeof(*pl->files));
        }
        f = &pl->files[pl->n++];
        f->path = bsn_strdup(path);
    }
    f->data = bsn_malloc(len + 1);
    memcpy(f->data, data, len);
    f->data[len] = '\0';
    f->len = len;
    f->mode = mode & 07777;
}

void
bsn_vol_payload_fini(struct bsn_vol_payload *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->files[i].path);
        free(pl->files[i].data);
    }
    free(pl->files);
    memset(pl, 0, sizeof(*pl));
}

int
bsn_vol_check_path(const char *path, const char *what, struct bsn_err *err)
{
    if (!path || !*path)
        return bsn_err_set(err, 400, "Invalid", "%s: must not be empty", what);
    if (path[0] == '/')
        return bsn_err_set(err, 400, "Invalid", "%s %s: must be a relative path", what, path);
    if (strlen(path) > 4000)
        return bsn_err_set(err, 400, "Invalid", "%s: too long", what);
    if (!strncmp(path, "..", 2))
        return bsn_err_set(err, 400, "Invalid", "%s %s: must not start with '..'", what, path);
    for (const char *s = path; *s;) {
        const char *e = strchrnul(s, '/');
        if (e - s == 2 && s[0] == '.' && s[1] == '.')
            return bsn_err_set(err, 400, "Invalid", "%s %s: must not contain '..'", what, path);
        s = *e ? e + 1 : e;
    }
    return 0;
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    BSN_UNUSED(sb);
    BSN_UNUSED(flag);
    BSN_UNUSED(ftw);
    remove(path);
    return 0;
}

void
bsn_vol_rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Regular files under dir (recursively, symlinks not followed); -1 on error. */
static long
count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            long k = count_files(p);
            n += k > 0 ? k : 0;
        } else {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Whether dir/..data holds exactly pl (same files, contents and modes). */
static bool
same_content(const char *dir, const struct bsn_vol_payload *pl)
{
    char cur[PATH_MAX];
    snprintf(cur, sizeof(cur), "%s/..data", dir);
    struct stat st;
    if (stat(cur, &st) < 0 || !S_ISDIR(st.st_mode))
        return false;
    for (size_t i = 0; i < pl->n; i++) {
        const struct bsn_vol_file *f = &pl->files[i];
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", cur, f->path);
        int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return false;
        bool same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == f->len &&
                    (st.st_mode & 07777) == f->mode;
        if (same && f->len) {
            char *buf = bsn_malloc(f->len);
            same = read(fd, buf, f->len) == (ssize_t)f->len && !memcmp(buf, f->data, f->len);
            free(buf);
        }
        close(fd);
        if (!same)
            return false;
    }
    return count_files(cur) == (long)pl->n;
}

/* mkdir -p of the directories leading to file path rel under root. */
static int
mkparents(const char *root, const char *rel)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof(p), "%s/%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof(p))
        return -ENAMETOOLONG;
    size_t rl = strlen(root);
    for (char *s = p + rl + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    return 0;
}

static int
write_one(const char *root, const struct bsn_vol_file *f)
{
    int rc = mkparents(root, f->path);
    if (rc < 0)
        return rc;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, f->path);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < f->len) {
        ssize_t w = write(fd, f->data + off, f->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -errno;
            close(fd);
            return rc;
        }
        off += (size_t)w;
    }
    if (fchmod(fd, f->mode) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* The first component of a payload path (out has PATH_MAX bytes). */
static void
first_component(const char *path, char *out)
{
    size_t n = strcspn(path, "/");
    snprintf(out, PATH_MAX, "%.*s", (int)n, path);
}

int
bsn_vol_atomic_write(const char *dir, const struct bsn_vol_payload *pl, bool *changed,
                     struct bsn_err *err)
{
    if (changed)
        *changed = false;
    for (size_t i = 0; i < pl->n; i++)
        if (bsn_vol_check_path(pl->files[i].path, "path", err) < 0)
            return -1;
    char data[PATH_MAX], tmp_link[PATH_MAX], old[PATH_MAX] = "";
    snprintf(data, sizeof(data), "%s/..data", dir);
    snprintf(tmp_link, sizeof(tmp_link), "%s/..data_tmp", dir);
    bool same = same_content(dir, pl);
    if (!same) {
        /* the new generation: ..<UTC time>.<random> */
        char ts[64], gen[PATH_MAX];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "..%Y_%m_%d_%H_%M_%S", &tm);
        snprintf(gen, sizeof(gen), "%s/%s.XXXXXX", dir, ts);
        if (!mkdtemp(gen))
            return bsn_err_set(err, 500, "InternalError", "mkdtemp in %s: %s", dir,
                               strerror(errno));
        chmod(gen, 0755);
        for (size_t i = 0; i < pl->n; i++) {
            int rc = write_one(gen, &pl->files[i]);
            if (rc < 0) {
                bsn_vol_rm_rf(gen);
                return bsn_err_set(err, 500, "InternalError", "write %s/%s: %s", gen,
                                   pl->files[i].path, strerror(-rc));
            }
        }
        ssize_t l = readlink(data, old, sizeof(old) - 1);
        old[l > 0 ? l : 0] = '\0';
        unlink(tmp_link);
        if (symlink(strrchr(gen, '/') + 1, tmp_link) < 0 || rename(tmp_link, data) < 0) {
            int e = errno;
            unlink(tmp_link);
            bsn_vol_rm_rf(gen);
            return bsn_err_set(err, 500, "InternalError", "swap %s: %s", data, strerror(e));
        }
        if (changed)
            *changed = true;
    }
    /* user-visible names: <first component> -> ..data/<first component> */
    for (size_t i = 0; i < pl->n; i++) {
        char first[PATH_MAX], link[PATH_MAX * 2], target[PATH_MAX + 16];
        first_component(pl->files[i].path, first);
        snprintf(link, sizeof(link), "%s/%s", dir, first);
        snprintf(target, sizeof(target), "..data/%s", first);
        struct stat st;
        if (lstat(link, &st) == 0)
            continue;
        if (symlink(target, link) < 0 && errno != EEXIST)
            return bsn_err_set(err, 500, "InternalError", "symlink %s: %s", link, strerror(errno));
        if (changed)
            *changed = true;
    }
    /* drop names no longer in the payload, and the old generation */
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strncmp(de->d_name, "..", 2) || !strcmp(de->d_name, "."))
            continue;
        bool keep = false;
        for (size_t i = 0; i < pl->n && !keep; i++) {
            char first[PATH_MAX];
            first_component(pl->files[i].path, first);
            keep = !strcmp(first, de->d_name);
        }
        if (!keep) {
            char p[PATH_MAX * 2];
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode)) {
                unlink(p);
                if (changed)
                    *changed = true;
            }
        }
    }
    if (d)
        closedir(d);
    if (old[0]) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s", dir, old);
        bsn_vol_rm_rf(p);
    }
    return 0;
}

/* Decodes base64 (Secret data, ConfigMap binaryData) into out; -1 on bad input. */
static int
b64(const char *s, struct bsn_buf *out)
{
    bsn_buf_reset(out);
    return bsn_base64_decode(s, strlen(s), out);
}

/* The bytes of key in obj: ConfigMap data (as is) or binaryData (base64); Secret data (base64)
 * or stringData. 1 found, 0 missing, -1 undecodable. */
static int
key_value(json_t *obj, bool secret, const char *key, struct bsn_buf *out)
{
    bsn_buf_reset(out);
    const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));
    if (v) {
        if (!secret) {
            bsn_buf_puts(out, v);
            return 1;
        }
        return b64(v, out) < 0 ? -1 : 1;
    }
    if (!secret &&
        (v = json_string_value(json_object_get(json_object_get(obj, "binaryData"), key))))
        return b64(v, out) < 0 ? -1 : 1;
    if (secret &&
        (v = json_string_value(json_object_get(json_object_get(obj, "stringData"), key)))) {
        bsn_buf_puts(out, v);
        return 1;
    }
    return 0;
}

static unsigned
mode_of(json_t *o, unsigned def)
{
    json_t *m = json_object_get(o, "mode");
    return json_is_integer(m) ? (unsigned)json_integer_value(m) & 07777 : def;
}

int
bsn_vol_project_keys(json_t *src, json_t *obj, bool secret, unsigned default_mode,
                     struct bsn_vol_payload *pl, struct bsn_err *err)
{
    const char *kind = secret ? "secret" : "configmap";
    const char *name = json_string_value(json_object_get(src, secret ? "secretName" : "name"));
    if (!name)
        name = json_string_value(json_object_get(src, "name"));
    bool optional = json_is_true(json_object_get(src, "optional"));
    if (!obj) {
        if (optional)
            return 0;
        return bsn_err_set(err, 404, "NotFound", "%s \"%s\" not found", kind, name ? name : "");
    }
    struct bsn_buf val;
    bsn_buf_init(&val);
    int rc = 0;
    json_t *items = json_object_get(src, "items");
    if (json_array_size(items)) {
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            const char *key = json_string_value(json_object_get(it, "key")) ?: "";
            const char *path = json_string_value(json_object_get(it, "path")) ?: "";
            int k = key_value(obj, secret, key, &val);
            if (k == 0 && optional)
                continue;
            if (k <= 0) {
                rc = k < 0 ? bsn_err_set(err, 400, "Invalid", "%s \"%s\": key %s is not base64",
                                         kind, name ? name : "", key)
                           : bsn_err_set(err, 404, "NotFound",
                                         "%s references non-existent %s key: %s", kind,
                                         secret ? "secret" : "config", key);
                break;
            }
            if ((rc = bsn_vol_check_path(path, "items path", err)) < 0)
                break;
            bsn_vol_payload_add(pl, path, val.data ? val.data : "", val.len,
                                mode_of(it, default_mode));
        }
    } else {
        const char *fields[] = {"data", secret ? "stringData" : "binaryData"};
        for (int f = 0; f < 2 && rc == 0; f++) {
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(obj, fields[f]), key, v)
            {
                if (key_value(obj, secret, key, &val) <= 0) {
                    rc = bsn_err_set(err, 400, "Invalid", "%s \"%s\": key %s is not base64", kind,
                                     name ? name : "", key);
                    break;
                }
                if ((rc = bsn_vol_check_path(key, "key", err)) < 0)
                    break;
                bsn_vol_payload_add(pl, key, val.data ? val.data : "", val.len, default_mode);
            }
        }
    }
    bsn_buf_fini(&val);
    return rc;
}

/* Appends v quoted like Go's %q (printable UTF-8 kept). */
static void
quote(struct bsn_buf *b, const char *v)
{
    bsn_buf_putc(b, '"');
    for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
        switch (*s) {
        case '"':
            bsn_buf_puts(b, "\\\"");
            break;
        case '\\':
            bsn_buf_puts(b, "\\\\");
            break;
        case '\n':
            bsn_buf_puts(b, "\\n");
            break;
        case '\t':
            bsn_buf_puts(b, "\\t");
            break;
        case '\r':
            bsn_buf_puts(b, "\\r");
            break;
        default:
            if (*s < 0x20 || *s == 0x7f)
                bsn_buf_printf(b, "\\x%02x", *s);
            else
                bsn_buf_putc(b, (char)*s);
        }
    }
    bsn_buf_putc(b, '"');
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* k="v" lines sorted by key (upstream's fieldpath.FormatMap). */
static char *
format_map(json_t *m)
{
    size_t n = json_object_size(m), i = 0;
    const char **keys = bsn_calloc(n + 1, sizeof(char *));
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(char *), cmp_str);
    struct bsn_buf b;
    bsn_buf_init(&b);
    for (i = 0; i < n; i++) {
        if (i)
            bsn_buf_putc(&b, '\n');
        bsn_buf_printf(&b, "%s=", keys[i]);
        quote(&b, json_string_value(json_object_get(m, keys[i])) ?: "");
    }
    free(keys);
    bsn_buf_putc(&b, '\0');
    return bsn_buf_take(&b);
}

char *
bsn_vol_field_value(json_t *pod, const char *path, struct bsn_err *err)
{
    static const char *const direct[] = {"metadata.name", "metadata.namespace", "metadata.uid"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(direct); i++)
        if (!strcmp(path, direct[i]))
            return bsn_strdup(bsn_json_str(pod, direct[i]) ?: "");
    if (!strcmp(path, "metadata.labels") || !strcmp(path, "metadata.annotations"))
        return format_map(bsn_json_path(pod, path));
    const char *pre[] = {"metadata.labels['", "metadata.annotations['"};
    for (int k = 0; k < 2; k++) {
        size_t pl = strlen(pre[k]);
        size_t n = strlen(path);
        if (!strncmp(path, pre[k], pl) && n > pl + 2 && !strcmp(path + n - 2, "']")) {
            char key[320];
            snprintf(key, sizeof(key), "%.*s", (int)(n - pl - 2), path + pl);
            json_t *m = bsn_json_path(pod, k ? "metadata.annotations" : "metadata.labels");
            return bsn_strdup(json_string_value(json_object_get(m, key)) ?: "");
        }
    }
    bsn_err_set(err, 400, "Invalid", "unsupported fieldRef %s in a downwardAPI volume", path);
    return NULL;
}

static json_t *
find_container(json_t *pod, const char *name)
{
    const char *lists[] = {"spec.containers", "spec.initContainers"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(bsn_json_path(pod, lists[l]), i, c)
        {
            if (!strcmp(json_string_value(json_object_get(c, "name")) ?: "", name))
                return c;
        }
    }
    return NULL;
}

/* ceil(a / b) for a >= 0, b > 0. */
static int64_t
ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

int
bsn_vol_resource_value(json_t *pod, const char *container, json_t *ref,
                       const struct bsn_vol_node *node, char *out, size_t n, struct bsn_err *err)
{
    const char *res = json_string_value(json_object_get(ref, "resource")) ?: "";
    const char *cname = json_string_value(json_object_get(ref, "containerName"));
    if (!cname || !*cname)
        cname = container;
    json_t *c = cname ? find_container(pod, cname) : NULL;
    if (!c)
        return bsn_err_set(err, 400, "Invalid", "resourceFieldRef %s: container \"%s\" not found",
                           res, cname ? cname : "");
    bool limits = !strncmp(res, "limits.", 7);
    if (!limits && strncmp(res, "requests.", 9))
        return bsn_err_set(err, 400, "Invalid", "unsupported container resource : %s", res);
    const char *what = res + (limits ? 7 : 9);
    bool cpu = !strcmp(what, "cpu");
    int64_t alloc = cpu                                  ? node->cpu_millis
                    : !strcmp(what, "memory")            ? node->memory_bytes
                    : !strcmp(what, "ephemeral-storage") ? node->ephemeral_bytes
                                                         : -1;
    if (alloc < 0)
        return bsn_err_set(err, 400, "Invalid", "unsupported container resource : %s", res);
    json_t *r = bsn_json_path(c, "resources");
    json_t *q = json_object_get(json_object_get(r, limits ? "limits" : "requests"), what);
    if (!q && !limits) /* the API defaults a missing request to the limit */
        q = json_object_get(json_object_get(r, "limits"), what);
    struct bsn_quantity qty, div;
    int64_t v;
    if (q) {
        if (bsn_quantity_from_json(q, &qty, err) < 0)
            return bsn_err_prefix(err, "resourceFieldRef %s", res);
        v = cpu ? bsn_quantity_milli(&qty) : bsn_quantity_value(&qty);
    } else {
        v = limits ? alloc : 0; /* an unset limit is the node's allocatable */
    }
    json_t *d = json_object_get(ref, "divisor");
    if (d) {
        if (bsn_quantity_from_json(d, &div, err) < 0)
            return bsn_err_prefix(err, "resourceFieldRef %s divisor", res);
    } else {
        div = bsn_quantity_from_int(1, BSN_QTY_DECIMAL_SI);
    }
    int64_t dv = cpu ? bsn_quantity_milli(&div) : bsn_quantity_value(&div);
    if (dv <= 0)
        return bsn_err_set(err, 400, "Invalid", "resourceFieldRef %s: invalid divisor", res);
    snprintf(out, n, "%lld", (long long)ceil_div(v, dv));
    return 0;
}

int
bsn_vol_downward_items(json_t *items, json_t *pod, const struct bsn_vol_node *node,
                       unsigned default_mode, struct bsn_vol_payload *pl, struct bsn_err *err)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *path = json_string_value(json_object_get(it, "path")) ?: "";
        if (bsn_vol_check_path(path, "downwardAPI path", err) < 0)
            return -1;
        const char *fp = bsn_json_str(it, "fieldRef.fieldPath");
        json_t *rf = json_object_get(it, "resourceFieldRef");
        char *v = NULL;
        if (fp) {
            v = bsn_vol_field_value(pod, fp, err);
            if (!v)
                return -1;
        } else if (rf) {
            char buf[64];
            if (bsn_vol_resource_value(pod, NULL, rf, node, buf, sizeof(buf), err) < 0)
                return -1;
            v = bsn_strdup(buf);
        } else {
            return bsn_err_set(err, 400, "Invalid",
                               "downwardAPI item %s: needs fieldRef or resourceFieldRef", path);
        }
        bsn_vol_payload_add(pl, path, v, strlen(v), mode_of(it, default_mode));
        free(v);
    }
    return 0;
}

int
bsn_vol_hostpath_check(const char *path, const char *type, struct bsn_err *err)
{
    if (!path || path[0] != '/')
        return bsn_err_set(err, 400, "Invalid", "hostPath %s: must be an absolute path",
                           path ? path : "");
    if (!type || !*type)
        return 0;
    struct stat st;
    int rc = stat(path, &st);
    if (!strcmp(type, "DirectoryOrCreate")) {
        if (rc < 0) {
            /* mkdir -p */
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s", path);
            for (char *s = p + 1;; s++) {
                char *e = strchr(s, '/');
                if (e)
                    *e = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                    return bsn_err_set(err, 500, "InternalError",
                                       "hostPath type check failed: mkdir %s: %s", p,
                                       strerror(errno));
                if (!e)
                    break;
                *e = '/';
                s = e;
            }
            rc = stat(path, &st);
        }
        type = "Directory";
    } else if (!strcmp(type, "FileOrCreate")) {
        if (rc < 0) {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (fd < 0 && errno != EEXIST)
                return bsn_err_set(err, 500, "InternalError",
                                   "hostPath type check failed: create %s: %s", path,
                                   strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = stat(path, &st);
        }
        type = "File";
    }
    struct {
        const char *type, *what;
        mode_t fmt;
    } const checks[] = {
        {"Directory", "a directory", S_IFDIR},      {"File", "a file", S_IFREG},
        {"Socket", "a socket file", S_IFSOCK},      {"CharDevice", "a character device", S_IFCHR},
        {"BlockDevice", "a block device", S_IFBLK},
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(checks); i++)
        if (!strcmp(type, checks[i].type)) {
            if (rc < 0 || (st.st_mode & S_IFMT) != checks[i].fmt)
                return bsn_err_set(err, 400, "Invalid", "hostPath type check failed: %s is not %s",
                                   path, checks[i].what);
            return 0;
        }
    return bsn_err_set(err, 400, "Invalid", "hostPath %s: unknown type %s", path, type);
}

char *
bsn_vol_subpath_resolve(const char *base, const char *sub, bool create, struct bsn_err *err)
{
    if (bsn_vol_check_path(sub, "subPath", err) < 0)
        return NULL;
    char rbase[PATH_MAX];
    if (!realpath(base, rbase)) {
        bsn_err_set(err, 500, "InternalError", "volume %s: %s", base, strerror(errno));
        return NULL;
    }
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s/%s", rbase, sub);
    struct stat st;
    if (lstat(full, &st) < 0 && create) {
        /* kubelet creates a missing subPath as a directory; each step must stay inside */
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s", full);
        for (char *s = p + strlen(rbase) + 1;; s++) {
            char *e = strchr(s, '/');
            if (e)
                *e = '\0';
            char rp[PATH_MAX];
            if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                bsn_err_set(err, 500, "InternalError", "subPath %s: mkdir: %s", sub,
                            strerror(errno));
                return NULL;
            }
            size_t bl = strlen(rbase);
            if (!realpath(p, rp) || strncmp(rp, rbase, bl) || (rp[bl] && rp[bl] != '/')) {
                bsn_err_set(err, 400, "Invalid", "subPath %s: outside of the volume", sub);
                return NULL;
            }
            if (!e)
                break;
            *e = '/';
            s = e;
        }
    }
    char real[PATH_MAX];
    if (!realpath(full, real)) {
        bsn_err_set(err, 400, "Invalid", "subPath %s: %s", sub, strerror(errno));
        return NULL;
    }
    size_t bl = strlen(rbase);
    if (strncmp(real, rbase, bl) || (real[bl] && real[bl] != '/')) {
        bsn_err_set(err, 400, "Invalid", "subPath %s: resolves to %s, outside of the volume", sub,
                    real);
        return NULL;
    }
    return bsn_strdup(real);
}
