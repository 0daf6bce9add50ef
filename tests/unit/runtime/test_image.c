/*
 * test_image.c - image references, safe layer unpacking (.., absolute names, symlink escapes,
 * whiteouts), pack/resolve/list/remove with garbage collection, and import of OCI layouts
 * (directory and tar) and docker save archives built here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/mem.h"
#include "loop/loop.h"
#include "runtime/image.h"
#include "runtime/image_int.h"
#include "runtime/rt_impl.h"

static char tmpdir[256];

static int
setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bsn-img-test-%d-XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown(void **state)
{
    rt_rm_rf(tmpdir);
    return 0;
}

static void
check_ref(const char *in, const char *want)
{
    struct bsn_image_ref r;
    struct bsn_err err = {0};
    assert_int_equal(bsn_image_ref_parse(in, &r, &err), 0);
    char out[512];
    bsn_image_ref_name(&r, out, sizeof(out));
    assert_string_equal(out, want);
}

static void
test_refs(void **state)
{
    check_ref("busybox", "docker.io/library/busybox:latest");
    check_ref("busybox:1.36", "docker.io/library/busybox:1.36");
    check_ref("library/nginx:1.25-alpine", "docker.io/library/nginx:1.25-alpine");
    check_ref("bitnami/redis", "docker.io/bitnami/redis:latest");
    check_ref("index.docker.io/foo/bar:v1", "docker.io/foo/bar:v1");
    check_ref("localhost:5000/app:dev", "localhost:5000/app:dev");
    check_ref("localhost/app", "localhost/app:latest");
    check_ref("ghcr.io/org/team/app:v1.2.3", "ghcr.io/org/team/app:v1.2.3");
    const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char in[200], want[200];
    snprintf(in, sizeof(in), "busybox@%s", dg);
    snprintf(want, sizeof(want), "docker.io/library/busybox@%s", dg);
    check_ref(in, want);
    snprintf(in, sizeof(in), "quay.io/a/b:t@%s", dg);
    struct bsn_image_ref r;
    struct bsn_err err = {0};
    assert_int_equal(bsn_image_ref_parse(in, &r, &err), 0);
    assert_string_equal(r.domain, "quay.io");
    assert_string_equal(r.path, "a/b");
    assert_string_equal(r.tag, "t");
    assert_string_equal(r.digest, dg);
    const char *bad[] = {"",   "Busybox",         "busybox:", "busybox@sha256:abc", "a//b",
                         "-x", "busybox:bad/tag", "foo/-bar", "busybox:.x",         "UPPER/case:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(bsn_image_ref_parse(bad[i], &r, &err), -1);
        assert_int_equal(err.code, 400);
    }
    assert_true(bsn_image_is_host("host"));
    assert_false(bsn_image_is_host("hostx"));
}

/* Writes a tar with hostile and whiteout entries. */
static void
write_evil_tar(const char *path, const char *outside)
{
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    struct {
        const char *name;
        int type;
        const char *data_or_link;
    } ents[] = {
        {"ok/", AE_IFDIR, NULL},          {"ok/file", AE_IFREG, "good"},
        {"../evil", AE_IFREG, "bad"},     {"ok/../../evil2", AE_IFREG, "bad"},
        {"/abs/file", AE_IFREG, "abs"},   {"link", AE_IFLNK, outside},
        {"link/escape", AE_IFREG, "bad"}, {"link/.wh.victim", AE_IFREG, ""},
        {"ok/.wh.gone", AE_IFREG, ""},    {"opq/.wh..wh..opq", AE_IFREG, ""},
        {"hard", AE_IFREG, NULL}, /* hard link to ../outside */
        {"./ok/./dot", AE_IFREG, "dot"},
    };
    for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].name);
        archive_entry_set_perm(e, 0644);
        if (!strcmp(ents[i].name, "hard")) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, "../outside-target");
            archive_entry_set_size(e, 0);
        } else if (ents[i].type == AE_IFLNK) {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, ents[i].data_or_link);
        } else if (ents[i].type == AE_IFDIR) {
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0755);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)strlen(ents[i].data_or_link));
        }
        assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
        if (ents[i].type == AE_IFREG && ents[i].data_or_link && *ents[i].data_or_link)
            archive_write_data(w, ents[i].data_or_link, strlen(ents[i].data_or_link));
        archive_entry_free(e);
    }
    archive_write_close(w);
    archive_write_free(w);
}

static void
test_unpack_safety(void **state)
{
    char dest[300], outside[300], tar[300], p[400];
    snprintf(dest, sizeof(dest), "%s/root/layer", tmpdir);
    snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
    snprintf(tar, sizeof(tar), "%s/evil.tar", tmpdir);
    assert_int_equal(rt_mkdir_p(dest, 0755), 0);
    assert_int_equal(rt_mkdir_p(outside, 0755), 0);
    write_evil_tar(tar, outside);
    struct bsn_unpack_stats st;
    struct bsn_err err = {0};
    assert_int_equal(bsn_layer_unpack(tar, dest, true, &st, &err), 0);
    struct stat sb;
    snprintf(p, sizeof(p), "%s/ok/file", dest);
    BSN_AUTOFREE char *good = rt_read_file(p, 100, NULL);
    assert_string_equal(good, "good");
    snprintf(p, sizeof(p), "%s/ok/dot", dest);
    assert_int_equal(stat(p, &sb), 0);
    /* ".." entries are refused: nothing lands next to dest or above it. */
    snprintf(p, sizeof(p), "%s/root/evil", tmpdir);
    assert_int_equal(stat(p, &sb), -1);
    snprintf(p, sizeof(p), "%s/evil2", tmpdir);
    assert_int_equal(stat(p, &sb), -1);
    snprintf(p, sizeof(p), "%s/root/evil2", tmpdir);
    assert_int_equal(stat(p, &sb), -1);
    /* Absolute names are made relative to the layer. */
    snprintf(p, sizeof(p), "%s/abs/file", dest);
    BSN_AUTOFREE char *abs = rt_read_file(p, 100, NULL);
    assert_string_equal(abs, "abs");
    /* The symlink itself exists, but nothing was written through it. */
    snprintf(p, sizeof(p), "%s/link", dest);
    assert_int_equal(lstat(p, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    snprintf(p, sizeof(p), "%s/escape", outside);
    assert_int_equal(lstat(p, &sb), -1);
    snprintf(p, sizeof(p), "%s/victim", outside);
    assert_int_equal(lstat(p, &sb), -1);
    snprintf(p, sizeof(p), "%s/hard", dest);
    assert_int_equal(lstat(p, &sb), -1);
    assert_true(st.skipped >= 5);
    if (geteuid() == 0) {
        snprintf(p, sizeof(p), "%s/ok/gone", dest);
        assert_int_equal(lstat(p, &sb), 0);
        assert_true(S_ISCHR(sb.st_mode));
        assert_int_equal(sb.st_rdev, makedev(0, 0));
        snprintf(p, sizeof(p), "%s/ok/.wh.gone", dest);
        assert_int_equal(lstat(p, &sb), -1);
        snprintf(p, sizeof(p), "%s/opq", dest);
        char v[8] = {0};
        assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
        assert_string_equal(v, "y");
        assert_int_equal(st.whiteouts, 2);
    } else {
        print_message("not root: overlay whiteouts not checked\n");
    }
}

static void
make_tree(const char *dir, const char *content)
{
    char p[400];
    snprintf(p, sizeof(p), "%s/bin", dir);
    assert_int_equal(rt_mkdir_p(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/etc/motd", dir);
    rt_mkdir_p(strcat(strcpy((char[400]){0}, dir), "/etc"), 0755);
    assert_int_equal(rt_write_file(p, content, strlen(content), 0644), 0);
    snprintf(p, sizeof(p), "%s/bin/app", dir);
    assert_int_equal(rt_write_file(p, "#!/bin/sh\necho app\n", 19, 0755), 0);
    char l[400];
    snprintf(l, sizeof(l), "%s/bin/alias", dir);
    assert_int_equal(symlink("app", l), 0);
}

static int
count_entries(const char *dir)
{
    BSN_AUTOFREE char *cmd = bsn_sprintf("ls -A %s | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

static void
test_pack_resolve_remove(void **state)
{
    char data[300], src[300];
    snprintf(data, sizeof(data), "%s/data", tmpdir);
    snprintf(src, sizeof(src), "%s/src", tmpdir);
    make_tree(src, "hello motd\n");
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    assert_non_null(s);
    const char *ep[] = {"/bin/app", NULL}, *cmd[] = {"--flag", NULL},
               *env[] = {"A=1", "PATH=/bin", NULL};
    assert_int_equal(bsn_image_pack(s, src, "myapp:v1", ep, cmd, env, "/srv", &err), 0);
    /* The same content under a second name shares its layer. */
    assert_int_equal(
        bsn_image_pack(s, src, "docker.io/library/myapp:v2", ep, NULL, NULL, NULL, &err), 0);
    struct bsn_image_config c;
    assert_int_equal(bsn_image_resolve(s, "myapp:v1", &c, &err), 0);
    assert_string_equal(c.name, "docker.io/library/myapp:v1");
    assert_string_equal(c.entrypoint[0], "/bin/app");
    assert_null(c.entrypoint[1]);
    assert_string_equal(c.cmd[0], "--flag");
    assert_string_equal(c.env[0], "A=1");
    assert_string_equal(c.working_dir, "/srv");
    assert_int_equal(c.nlayers, 1);
    char p[600];
    snprintf(p, sizeof(p), "%s/etc/motd", c.layer_dirs[0]);
    BSN_AUTOFREE char *motd = rt_read_file(p, 100, NULL);
    assert_string_equal(motd, "hello motd\n");
    snprintf(p, sizeof(p), "%s/bin/alias", c.layer_dirs[0]);
    char lnk[64] = {0};
    assert_int_equal(readlink(p, lnk, sizeof(lnk)), 3);
    BSN_AUTOFREE char *digest_ref = bsn_sprintf("myapp@%s", c.digest);
    BSN_AUTOFREE char *layer0 = bsn_strdup(c.layer_dirs[0]);
    bsn_image_config_fini(&c);
    /* By digest. */
    assert_int_equal(bsn_image_resolve(s, digest_ref, &c, &err), 0);
    assert_string_equal(c.entrypoint[0], "/bin/app");
    bsn_image_config_fini(&c);
    assert_int_equal(bsn_image_resolve(s, "myapp:v2", &c, &err), 0);
    assert_null(c.cmd);
    assert_string_equal(c.layer_dirs[0], layer0);
    bsn_image_config_fini(&c);
    assert_int_equal(bsn_image_resolve(s, "host", &c, &err), 0);
    assert_true(c.is_host);
    bsn_image_config_fini(&c);
    assert_int_equal(bsn_image_resolve(s, "nothere", &c, &err), -1);
    assert_int_equal(err.code, 404);

    struct bsn_image_entry *list;
    size_t n;
    assert_int_equal(bsn_image_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(list[0].size > 0);
    free(list);

    char layers[400], blobs[400];
    snprintf(layers, sizeof(layers), "%s/images/layers", data);
    snprintf(blobs, sizeof(blobs), "%s/images/blobs/sha256", data);
    int nblobs = count_entries(blobs);
    assert_int_equal(count_entries(layers), 1);
    /* Removing v1 keeps the shared layer; removing v2 collects everything. */
    assert_int_equal(bsn_image_remove(s, "myapp:v1", &err), 0);
    assert_int_equal(count_entries(layers), 1);
    assert_true(count_entries(blobs) < nblobs);
    assert_int_equal(bsn_image_remove(s, "myapp:v1", &err), -1);
    assert_int_equal(err.code, 404);
    assert_int_equal(bsn_image_remove(s, "myapp:v2", &err), 0);
    assert_int_equal(count_entries(layers), 0);
    assert_int_equal(count_entries(blobs), 0);
    bsn_image_store_close(s);
}

/* GC never runs while an import/pack/pull holds the guard (their blobs are not indexed yet). */
static void
check_argv(char **got, const char *want)
{
    char buf[256] = "";
    for (size_t i = 0; got && got[i]; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "", got[i]);
    assert_string_equal(buf, want);
    rt_strv_free(got);
}

static void
test_container_argv(void **state)
{
    char *ep[] = {"/entry", "-x", NULL}, *cmd[] = {"serve", "--port=80", NULL};
    struct bsn_image_config img = {.entrypoint = ep, .cmd = cmd};
    const char *c[] = {"/bin/sh", "-c", NULL}, *a[] = {"echo hi", NULL};
    check_argv(bsn_image_container_argv(&img, NULL, NULL), "/entry -x serve --port=80");
    check_argv(bsn_image_container_argv(&img, c, NULL), "/bin/sh -c");
    check_argv(bsn_image_container_argv(&img, NULL, a), "/entry -x echo hi");
    check_argv(bsn_image_container_argv(&img, c, a), "/bin/sh -c echo hi");
    const char *empty[] = {NULL};
    check_argv(bsn_image_container_argv(&img, empty, empty), "/entry -x serve --port=80");
    assert_null(bsn_image_container_argv(NULL, NULL, NULL));
    check_argv(bsn_image_container_argv(NULL, NULL, a), "echo hi");
}

static void
test_gc_guard(void **state)
{
    char data[300], a[300], b[300], blobs[400];
    snprintf(data, sizeof(data), "%s/data", tmpdir);
    snprintf(a, sizeof(a), "%s/a", tmpdir);
    snprintf(b, sizeof(b), "%s/b", tmpdir);
    snprintf(blobs, sizeof(blobs), "%s/images/blobs/sha256", data);
    make_tree(a, "aaa\n");
    make_tree(b, "bbb\n");
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    assert_int_equal(bsn_image_pack(s, a, "a:1", NULL, NULL, NULL, NULL, &err), 0);
    assert_int_equal(bsn_image_pack(s, b, "b:1", NULL, NULL, NULL, NULL, &err), 0);
    int n = count_entries(blobs);
    int g = rt_img_guard_begin(s);
    assert_int_equal(bsn_image_remove(s, "a:1", &err), 0);
    assert_int_equal(count_entries(blobs), n); /* GC skipped */
    rt_img_guard_end(g);
    assert_int_equal(bsn_image_remove(s, "b:1", &err), 0);
    assert_int_equal(count_entries(blobs), 0); /* collects a's leftovers too */
    bsn_image_store_close(s);
}

/* Writes a JSON value to dir/blobs/sha256/<digest> and returns its descriptor fields. */
static void
put_blob_json(const char *layout, json_t *j, char digest[72], int64_t *size)
{
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s/tmp.json", layout);
    assert_int_equal(json_dump_file(j, tmp, JSON_COMPACT), 0);
    assert_int_equal(bsn_file_digest(tmp, digest, size), 0);
    char dst[500];
    snprintf(dst, sizeof(dst), "%s/blobs/sha256/%s", layout, digest + 7);
    assert_int_equal(rename(tmp, dst), 0);
}

/* Builds an OCI layout with one image (ref.name tag "1.0") from the tree at src. */
static void
build_oci_layout(const char *layout, const char *src)
{
    char p[500], ld[72], cd[72], md[72];
    int64_t lsize, csize, msize;
    snprintf(p, sizeof(p), "%s/blobs/sha256", layout);
    assert_int_equal(rt_mkdir_p(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/oci-layout", layout);
    rt_write_file(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644);
    snprintf(p, sizeof(p), "%s/layer.tar", layout);
    struct bsn_err err = {0};
    assert_int_equal(bsn_layer_pack(src, p, &err), 0);
    assert_int_equal(bsn_file_digest(p, ld, &lsize), 0);
    char dst[500];
    snprintf(dst, sizeof(dst), "%s/blobs/sha256/%s", layout, ld + 7);
    assert_int_equal(rename(p, dst), 0);
    json_t *cfg = json_pack("{s:s,s:s,s:{s:[s],s:[s]},s:{s:s,s:[s]}}", "architecture", "amd64",
                            "os", "linux", "config", "Cmd", "/bin/app", "Env", "X=oci", "rootfs",
                            "type", "layers", "diff_ids", ld);
    put_blob_json(layout, cfg, cd, &csize);
    json_decref(cfg);
    json_t *man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2,
                            "mediaType", "application/vnd.oci.image.manifest.v1+json", "config",
                            "mediaType", "application/vnd.oci.image.config.v1+json", "digest", cd,
                            "size", (json_int_t)csize, "layers", "mediaType",
                            "application/vnd.oci.image.layer.v1.tar", "digest", ld, "size",
                            (json_int_t)lsize);
    put_blob_json(layout, man, md, &msize);
    json_decref(man);
    json_t *idx =
        json_pack("{s:i,s:[{s:s,s:s,s:I,s:{s:s}}]}", "schemaVersion", 2, "manifests", "mediaType",
                  "application/vnd.oci.image.manifest.v1+json", "digest", md, "size",
                  (json_int_t)msize, "annotations", "org.opencontainers.image.ref.name", "1.0");
    snprintf(p, sizeof(p), "%s/index.json", layout);
    assert_int_equal(json_dump_file(idx, p, 0), 0);
    json_decref(idx);
}

static void
test_import_oci(void **state)
{
    char data[300], src[300], layout[300], tar[300];
    snprintf(data, sizeof(data), "%s/data", tmpdir);
    snprintf(src, sizeof(src), "%s/src", tmpdir);
    snprintf(layout, sizeof(layout), "%s/layout", tmpdir);
    snprintf(tar, sizeof(tar), "%s/layout.tar", tmpdir);
    make_tree(src, "oci motd\n");
    build_oci_layout(layout, src);
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    char **names = NULL;
    /* Without a name the ref.name tag alone is not enough. */
    assert_int_equal(bsn_image_import(s, layout, NULL, NULL, &err), -1);
    assert_int_equal(bsn_image_import(s, layout, "example.com/team/web", &names, &err), 0);
    assert_string_equal(names[0], "example.com/team/web:1.0");
    assert_null(names[1]);
    rt_strv_free(names);
    /* The same layout as a tar. */
    assert_int_equal(bsn_layer_pack(layout, tar, &err), 0);
    assert_int_equal(bsn_image_import(s, tar, "web", &names, &err), 0);
    assert_string_equal(names[0], "docker.io/library/web:1.0");
    rt_strv_free(names);
    struct bsn_image_config c;
    assert_int_equal(bsn_image_resolve(s, "web:1.0", &c, &err), 0);
    assert_string_equal(c.cmd[0], "/bin/app");
    assert_string_equal(c.env[0], "X=oci");
    char p[600];
    snprintf(p, sizeof(p), "%s/etc/motd", c.layer_dirs[0]);
    BSN_AUTOFREE char *motd = rt_read_file(p, 100, NULL);
    assert_string_equal(motd, "oci motd\n");
    bsn_image_config_fini(&c);
    /* A corrupted layer blob is caught by digest verification. */
    char ld[72];
    snprintf(p, sizeof(p), "%s/tmp-layer.tar", tmpdir);
    assert_int_equal(bsn_layer_pack(src, p, &err), 0);
    assert_int_equal(bsn_file_digest(p, ld, NULL), 0);
    char lp[600];
    snprintf(lp, sizeof(lp), "%s/blobs/sha256/%s", layout, ld + 7);
    FILE *f = fopen(lp, "r+b");
    assert_non_null(f);
    fseek(f, 600, SEEK_SET);
    fputc('Z', f);
    fclose(f);
    assert_int_equal(bsn_image_import(s, layout, "corrupt", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "digest mismatch"));
    bsn_image_store_close(s);
}

static void
test_import_docker_save(void **state)
{
    char data[300], src[300], dir[300], p[500];
    snprintf(data, sizeof(data), "%s/data", tmpdir);
    snprintf(src, sizeof(src), "%s/src", tmpdir);
    snprintf(dir, sizeof(dir), "%s/save", tmpdir);
    make_tree(src, "docker motd\n");
    snprintf(p, sizeof(p), "%s/abc", dir);
    assert_int_equal(rt_mkdir_p(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/abc/layer.tar", dir);
    struct bsn_err err = {0};
    assert_int_equal(bsn_layer_pack(src, p, &err), 0);
    char ld[72];
    assert_int_equal(bsn_file_digest(p, ld, NULL), 0);
    json_t *cfg = json_pack("{s:s,s:s,s:{s:[s],s:s},s:{s:s,s:[s]}}", "architecture", "amd64", "os",
                            "linux", "config", "Entrypoint", "/bin/app", "User", "1000", "rootfs",
                            "type", "layers", "diff_ids", ld);
    snprintf(p, sizeof(p), "%s/cfg.json", dir);
    json_dump_file(cfg, p, 0);
    json_decref(cfg);
    json_t *man = json_pack("[{s:s,s:[s],s:[s]}]", "Config", "cfg.json", "RepoTags", "saved/app:7",
                            "Layers", "abc/layer.tar");
    snprintf(p, sizeof(p), "%s/manifest.json", dir);
    json_dump_file(man, p, 0);
    json_decref(man);
    char tar[300];
    snprintf(tar, sizeof(tar), "%s/save.tar", tmpdir);
    assert_int_equal(bsn_layer_pack(dir, tar, &err), 0);
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    char **names = NULL;
    assert_int_equal(bsn_image_import(s, tar, NULL, &names, &err), 0);
    assert_string_equal(names[0], "docker.io/saved/app:7");
    rt_strv_free(names);
    struct bsn_image_config c;
    assert_int_equal(bsn_image_resolve(s, "saved/app:7", &c, &err), 0);
    assert_string_equal(c.entrypoint[0], "/bin/app");
    assert_string_equal(c.user, "1000");
    snprintf(p, sizeof(p), "%s/etc/motd", c.layer_dirs[0]);
    BSN_AUTOFREE char *motd = rt_read_file(p, 100, NULL);
    assert_string_equal(motd, "docker motd\n");
    bsn_image_config_fini(&c);
    /* A manifest.json pointing outside the archive is refused. */
    man = json_pack("[{s:s,s:[s],s:[s]}]", "Config", "../../etc/passwd", "RepoTags", "x:1",
                    "Layers", "abc/layer.tar");
    snprintf(p, sizeof(p), "%s/manifest.json", dir);
    json_dump_file(man, p, 0);
    json_decref(man);
    assert_int_equal(bsn_image_import(s, dir, NULL, NULL, &err), -1);
    assert_int_equal(err.code, 400);
    bsn_image_store_close(s);
}

static int async_done;

static void
import_cb(void *data, int rc, const struct bsn_err *err)
{
    async_done = rc == 0 ? 1 : -1;
    bsn_loop_stop(data);
}

static void
test_import_async(void **state)
{
    char data[300], src[300], layout[300];
    snprintf(data, sizeof(data), "%s/data", tmpdir);
    snprintf(src, sizeof(src), "%s/src", tmpdir);
    snprintf(layout, sizeof(layout), "%s/layout", tmpdir);
    make_tree(src, "async\n");
    build_oci_layout(layout, src);
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    struct bsn_loop *loop = bsn_loop_new();
    async_done = 0;
    assert_int_equal(bsn_image_import_async(s, loop, layout, "asyncimg", import_cb, loop), 0);
    bsn_loop_run(loop);
    assert_int_equal(async_done, 1);
    struct bsn_image_config c;
    assert_int_equal(bsn_image_resolve(s, "asyncimg:1.0", &c, &err), 0);
    bsn_image_config_fini(&c);
    bsn_loop_free(loop);
    bsn_image_store_close(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refs),
        cmocka_unit_test_setup_teardown(test_unpack_safety, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_resolve_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_guard, setup, teardown),
        cmocka_unit_test(test_container_argv),
        cmocka_unit_test_setup_teardown(test_import_oci, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_docker_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_async, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
