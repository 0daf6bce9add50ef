/*
 * archive_dl.c - libarchive, loaded on first use.
 *
 * Only image import and pull (layer.c: unpacking a layer into the store, packing a
 * directory) need libarchive, and it brings a long chain of libraries (libxml2, ICU,
 * libstdc++, nettle, lzma, zstd, lz4, bz2, acl). Linked normally, every bosun process maps and
 * relocates all of them at start: about 2.4 MB of the idle node agent's 12.5 MB RSS, for a
 * library an agent whose images are already in the store never calls. So bosun is not linked
 * against it: this file defines the libarchive functions layer.c calls (with the prototypes
 * of <archive.h>) and forwards each to the library, dlopen()ed once, at the first call.
 *
 * Without libarchive.so.13 on the machine, the constructors (archive_*_new) return NULL,
 * every other function fails (ARCHIVE_FATAL, -1, NULL or nothing), and archive_error_string
 * says why, so layer.c reports "cannot load libarchive.so.13: ..." as the layer's error.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stddef.h>

#include "base/lazylib.h"

static struct bsn_lazylib arc_lib = BSN_LAZYLIB("libarchive.so.13", "image layers need it");

#define ARC_FN(ret, name, params, args, fail) BSN_LAZY_FN(arc_lib, ret, name, params, args, fail)
#define ARC_VOID(name, params, args)          BSN_LAZY_VOID(arc_lib, name, params, args)

/* reading and writing archives */
ARC_FN(struct archive *, archive_read_new, (void), (), NULL)
ARC_FN(struct archive *, archive_write_new, (void), (), NULL)
ARC_FN(struct archive *, archive_read_disk_new, (void), (), NULL)
ARC_FN(struct archive *, archive_write_disk_new, (void), (), NULL)
ARC_FN(int, archive_read_support_filter_all, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_read_support_format_tar, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_read_support_format_gnutar, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_read_open_filename, (struct archive * a, const char *file, size_t bs),
       (a, file, bs), ARCHIVE_FATAL)
ARC_FN(int, archive_read_next_header, (struct archive * a, struct archive_entry **e), (a, e),
       ARCHIVE_FATAL)
ARC_FN(int, archive_read_next_header2, (struct archive * a, struct archive_entry *e), (a, e),
       ARCHIVE_FATAL)
ARC_FN(int, archive_read_data_block,
       (struct archive * a, const void **buf, size_t *size, la_int64_t *off), (a, buf, size, off),
       ARCHIVE_FATAL)
ARC_FN(int, archive_read_free, (struct archive * a), (a), ARCHIVE_OK)
ARC_FN(int, archive_read_disk_open, (struct archive * a, const char *p), (a, p), ARCHIVE_FATAL)
ARC_FN(int, archive_read_disk_descend, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_read_disk_set_standard_lookup, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_read_disk_set_symlink_physical, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_write_disk_set_options, (struct archive * a, int flags), (a, flags),
       ARCHIVE_FATAL)
ARC_FN(int, archive_write_set_format_pax_restricted, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_write_open_filename, (struct archive * a, const char *file), (a, file),
       ARCHIVE_FATAL)
ARC_FN(int, archive_write_header, (struct archive * a, struct archive_entry *e), (a, e),
       ARCHIVE_FATAL)
ARC_FN(la_ssize_t, archive_write_data, (struct archive * a, const void *b, size_t n), (a, b, n), -1)
ARC_FN(la_ssize_t, archive_write_data_block,
       (struct archive * a, const void *b, size_t n, la_int64_t off), (a, b, n, off), -1)
ARC_FN(int, archive_write_finish_entry, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_write_close, (struct archive * a), (a), ARCHIVE_FATAL)
ARC_FN(int, archive_write_free, (struct archive * a), (a), ARCHIVE_OK)

/* entries */
ARC_FN(struct archive_entry *, archive_entry_new, (void), (), NULL)
ARC_VOID(archive_entry_free, (struct archive_entry * e), (e))
ARC_FN(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e), 0)
ARC_FN(const char *, archive_entry_pathname, (struct archive_entry * e), (e), NULL)
ARC_FN(const char *, archive_entry_hardlink, (struct archive_entry * e), (e), NULL)
ARC_FN(const char *, archive_entry_sourcepath, (struct archive_entry * e), (e), NULL)
ARC_FN(la_int64_t, archive_entry_size, (struct archive_entry * e), (e), 0)
ARC_VOID(archive_entry_set_pathname, (struct archive_entry * e, const char *s), (e, s))
ARC_VOID(archive_entry_set_hardlink, (struct archive_entry * e, const char *s), (e, s))
ARC_VOID(archive_entry_set_uname, (struct archive_entry * e, const char *s), (e, s))
ARC_VOID(archive_entry_set_gname, (struct archive_entry * e, const char *s), (e, s))
ARC_VOID(archive_entry_set_uid, (struct archive_entry * e, la_int64_t id), (e, id))
ARC_VOID(archive_entry_set_gid, (struct archive_entry * e, la_int64_t id), (e, id))

/* the library's message, or why there is no library */
const char *
archive_error_string(struct archive *a)
{
    BSN_LAZY_RESOLVE(arc_lib, "archive_error_string", const char *(*)(struct archive *), f)
    if (!f || !a) {
        const char *e = bsn_lazylib_error(&arc_lib);
        return *e ? e : "libarchive: no archive";
    }
    return f(a);
}
