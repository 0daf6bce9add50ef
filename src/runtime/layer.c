/*
 * layer.c - layer tars: safe unpacking (libarchive) with overlayfs whiteouts, packing a
 * directory into a tar, and file digests.
 *
 * Safety rules for every entry: the name is cleaned ("./" and leading "/" dropped, empty
 * components collapsed) and refused if any component is ".."; the parent directory is opened
 * component by component with O_NOFOLLOW, so an earlier symlink entry can never redirect a
 * later write outside dest; libarchive additionally runs with SECURE_SYMLINKS and
 * SECURE_NODOTDOT. Hard link targets get the same cleaning.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "runtime/image.h"
#include "runtime/rt_impl.h"

/* Cleans a tar member name into out (relative, no "." or empty components). Returns -1 when a
 * ".." component appears or the result is too long; out may end up "" (the root itself). */
static int
clean_name(const char *in, char *out, size_t n)
{
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            p = end;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (o + len + 2 > n)
            return -1;
        if (o > 0)
            out[o++] = '/';
        memcpy(out + o, p, len);
        o += len;
        p = end;
    }
    out[o] = '\0';
    return 0;
}

/* Opens (creating as needed) the directory rel inside destfd without following symlinks. */
static int
open_dir_nofollow(int destfd, const char *rel)
{
    int fd = dup(destfd);
    if (fd < 0)
        return -errno;
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", rel);
    char *save = NULL;
    for (char *comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT) {
            if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return -e;
            }
            next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        close(fd);
        if (next < 0)
            return -(e == ENOTDIR || e == ELOOP ? EXDEV : e);
        fd = next;
    }
    return fd;
}

static int
unpack_whiteout(int destfd, const char *clean, struct bsn_unpack_stats *st)
{
    const char *slash = strrchr(clean, '/');
    BSN_AUTOFREE char *parent =
        slash ? bsn_sprintf("%.*s", (int)(slash - clean), clean) : bsn_strdup("");
    const char *base = slash ? slash + 1 : clean;
    int dfd = open_dir_nofollow(destfd, parent);
    if (dfd < 0)
        return dfd;
    int rc = 0;
    if (!strcmp(base, ".wh..wh..opq")) {
        if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            rc = -errno;
    } else {
        const char *name = base + 4;
        if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
            rc = -EINVAL;
        } else {
            /* A whiteout replaces whatever the same layer put there. */
            if (unlinkat(dfd, name, 0) < 0 && errno == EISDIR)
                unlinkat(dfd, name, AT_REMOVEDIR);
            if (mknodat(dfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
                rc = -errno;
        }
    }
    close(dfd);
    if (rc == 0)
        st->whiteouts++;
    return rc;
}

int
bsn_layer_unpack(const char *tar_path, const char *dest, bool overlay,
                 struct bsn_unpack_stats *stats, struct bsn_err *err)
{
    struct bsn_unpack_stats local = {0};
    struct bsn_unpack_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof(*st));
    char root[PATH_MAX];
    if (!realpath(dest, root))
        return bsn_err_set(err, 500, "InternalError", "unpack: %s: %s", dest, strerror(errno));
    int destfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (destfd < 0)
        return bsn_err_set(err, 500, "InternalError", "unpack: %s: %s", root, strerror(errno));
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    struct archive *w = archive_write_disk_new();
    int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_XATTR |
                ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                ARCHIVE_EXTRACT_UNLINK;
    bool root_user = geteuid() == 0;
    if (root_user)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(w, flags);
    int rc = 0;
    if (archive_read_open_filename(a, tar_path, 65536) != ARCHIVE_OK) {
        rc =
            bsn_err_set(err, 400, "BadRequest", "unpack %s: %s", tar_path, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    char clean[PATH_MAX], link[PATH_MAX];
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = bsn_err_set(err, 400, "BadRequest", "unpack %s: %s", tar_path,
                             archive_error_string(a));
            goto out;
        }
        st->entries++;
        const char *name = archive_entry_pathname(e);
        if (!name || clean_name(name, clean, sizeof(clean)) < 0) {
            bsn_warn("runtime", "unpack %s: refusing entry '%s'", tar_path, name ? name : "");
            st->skipped++;
            continue;
        }
        if (!clean[0])
            continue; /* the layer root itself */
        const char *base = strrchr(clean, '/');
        base = base ? base + 1 : clean;
        if (!strncmp(base, ".wh.", 4)) {
            int wr = overlay ? unpack_whiteout(destfd, clean, st) : -EPERM;
            if (wr < 0) {
                bsn_warn("runtime", "unpack %s: whiteout '%s' skipped: %s", tar_path, clean,
                         strerror(-wr));
                st->skipped++;
            }
            continue;
        }
        /* The parent must be a real directory inside dest (no symlink on the way). */
        const char *slash = strrchr(clean, '/');
        if (slash) {
            BSN_AUTOFREE char *parent = bsn_sprintf("%.*s", (int)(slash - clean), clean);
            int pfd = open_dir_nofollow(destfd, parent);
            if (pfd < 0) {
                bsn_warn("runtime",
                         "unpack %s: refusing '%s': parent is not a directory inside "
                         "the layer",
                         tar_path, clean);
                st->skipped++;
                continue;
            }
            close(pfd);
        }
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
            if (clean_name(hl, link, sizeof(link)) < 0 || !link[0]) {
                bsn_warn("runtime", "unpack %s: refusing hard link '%s' -> '%s'", tar_path, clean,
                         hl);
                st->skipped++;
                continue;
            }
            BSN_AUTOFREE char *full_link = bsn_sprintf("%s/%s", root, link);
            archive_entry_set_hardlink(e, full_link);
        }
        BSN_AUTOFREE char *full = bsn_sprintf("%s/%s", root, clean);
        archive_entry_set_pathname(e, full);
        r = archive_write_header(w, e);
        if (r < ARCHIVE_WARN) {
            bsn_warn("runtime", "unpack %s: '%s': %s", tar_path, clean, archive_error_string(w));
            st->skipped++;
            continue;
        }
        if (archive_entry_size(e) > 0 && !hl) {
            const void *buf;
            size_t len;
            la_int64_t off;
            while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
                if (archive_write_data_block(w, buf, len, off) < ARCHIVE_WARN)
                    break;
            }
            if (r < ARCHIVE_WARN && r != ARCHIVE_EOF) {
                rc = bsn_err_set(err, 400, "BadRequest", "unpack %s: '%s': %s", tar_path, clean,
                                 archive_error_string(a));
                goto out;
            }
        }
        archive_write_finish_entry(w);
    }
    if (archive_write_close(w) < ARCHIVE_WARN)
        bsn_warn("runtime", "unpack %s: %s", tar_path, archive_error_string(w));
out:
    archive_read_free(a);
    archive_write_free(w);
    close(destfd);
    return rc;
}

int
bsn_layer_pack(const char *dir, const char *out_path, struct bsn_err *err)
{
    char root[PATH_MAX];
    if (!realpath(dir, root))
        return bsn_err_set(err, 400, "BadRequest", "pack: %s: %s", dir, strerror(errno));
    struct archive *disk = archive_read_disk_new();
    archive_read_disk_set_symlink_physical(disk);
    archive_read_disk_set_standard_lookup(disk);
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    int rc = 0;
    if (archive_write_open_filename(w, out_path) != ARCHIVE_OK) {
        rc = bsn_err_set(err, 500, "InternalError", "pack: %s: %s", out_path,
                         archive_error_string(w));
        goto out;
    }
    if (archive_read_disk_open(disk, root) != ARCHIVE_OK) {
        rc = bsn_err_set(err, 400, "BadRequest", "pack: %s: %s", root, archive_error_string(disk));
        goto out;
    }
    size_t rootlen = strlen(root);
    for (;;) {
        struct archive_entry *e = archive_entry_new();
        int r = archive_read_next_header2(disk, e);
        if (r == ARCHIVE_EOF) {
            archive_entry_free(e);
            break;
        }
        if (r < ARCHIVE_WARN) {
            rc = bsn_err_set(err, 400, "BadRequest", "pack %s: %s", root,
                             archive_error_string(disk));
            archive_entry_free(e);
            goto out;
        }
        archive_read_disk_descend(disk);
        const char *src = archive_entry_sourcepath(e);
        const char *rel = src + rootlen;
        while (*rel == '/')
            rel++;
        if (!*rel) {
            archive_entry_free(e);
            continue;
        }
        archive_entry_set_pathname(e, rel);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_uname(e, "root");
        archive_entry_set_gname(e, "root");
        if (archive_write_header(w, e) < ARCHIVE_WARN) {
            rc =
                bsn_err_set(err, 500, "InternalError", "pack %s: %s", rel, archive_error_string(w));
            archive_entry_free(e);
            goto out;
        }
        if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
            int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0) {
                rc = bsn_err_set(err, 400, "BadRequest", "pack: %s: %s", src, strerror(errno));
                archive_entry_free(e);
                goto out;
            }
            char buf[65536];
            ssize_t n;
            while ((n = read(fd, buf, sizeof(buf))) > 0)
                archive_write_data(w, buf, (size_t)n);
            close(fd);
        }
        archive_entry_free(e);
    }
    if (archive_write_close(w) != ARCHIVE_OK)
        rc = bsn_err_set(err, 500, "InternalError", "pack: %s: %s", out_path,
                         archive_error_string(w));
out:
    archive_read_free(disk);
    archive_write_free(w);
    return rc;
}

int
bsn_file_digest(const char *path, char out[72], int64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    char buf[65536];
    ssize_t n;
    int64_t total = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        total += n;
    }
    int e = n < 0 ? errno : 0;
    close(fd);
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (e)
        return -e;
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    if (size)
        *size = total;
    return 0;
}
