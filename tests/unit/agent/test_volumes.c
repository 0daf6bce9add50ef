/*
 * test_volumes.c - the pure parts of pod volumes: the atomic writer (generations, the ..data
 * swap, stale names removed, nothing rewritten when unchanged), configMap/secret projection
 * (items, modes, optional, errors), downward API values, resourceFieldRef, subPath checks and
 * hostPath type checks. Works in a private temporary directory.
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/volumes.h"

static char tmp[PATH_MAX];

static int
setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/bsn-vol-test.XXXXXX");
    assert_non_null(mkdtemp(tmp));
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    bsn_vol_rm_rf(tmp);
    return 0;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 8192);
    size_t n = fread(buf, 1, 8191, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
expect_file(const char *dir, const char *rel, const char *want, unsigned mode)
{
    char p[PATH_MAX + 256];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    char *got = slurp(p);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, mode);
}

static json_t *
J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    if (!v)
        fail_msg("bad json %s: %s", s, e.text);
    return v;
}

static void
test_atomic_writer(void **state)
{
    (void)state;
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/v", tmp);
    mkdir(dir, 0755);
    struct bsn_err err;
    struct bsn_vol_payload pl = {0};
    bsn_vol_payload_add(&pl, "a", "one", 3, 0644);
    bsn_vol_payload_add(&pl, "sub/b", "two", 3, 0400);
    bool changed = false;
    assert_int_equal(bsn_vol_atomic_write(dir, &pl, &changed, &err), 0);
    assert_true(changed);
    expect_file(dir, "a", "one", 0644);
    expect_file(dir, "sub/b", "two", 0400);
    /* user names are symlinks into ..data, which points at a ..<timestamp> directory */
    char link[PATH_MAX + 64], target[PATH_MAX];
    snprintf(link, sizeof(link), "%s/a", dir);
    ssize_t l = readlink(link, target, sizeof(target) - 1);
    assert_true(l > 0);
    target[l] = '\0';
    assert_string_equal(target, "..data/a");
    snprintf(link, sizeof(link), "%s/..data", dir);
    l = readlink(link, target, sizeof(target) - 1);
    assert_true(l > 0);
    target[l] = '\0';
    assert_true(!strncmp(target, "..", 2) && strlen(target) > 10);
    char gen1[PATH_MAX];
    snprintf(gen1, sizeof(gen1), "%s", target);

    /* same payload: nothing written, same generation */
    assert_int_equal(bsn_vol_atomic_write(dir, &pl, &changed, &err), 0);
    assert_false(changed);
    l = readlink(link, target, sizeof(target) - 1);
    target[l] = '\0';
    assert_string_equal(target, gen1);

    /* an update: new generation, old one gone, "a" dropped, "c" added */
    bsn_vol_payload_fini(&pl);
    bsn_vol_payload_add(&pl, "sub/b", "three", 5, 0400);
    bsn_vol_payload_add(&pl, "c", "", 0, 0600);
    assert_int_equal(bsn_vol_atomic_write(dir, &pl, &changed, &err), 0);
    assert_true(changed);
    expect_file(dir, "sub/b", "three", 0400);
    expect_file(dir, "c", "", 0600);
    snprintf(link, sizeof(link), "%s/a", dir);
    struct stat st;
    assert_int_not_equal(lstat(link, &st), 0);
    char old[PATH_MAX * 2];
    snprintf(old, sizeof(old), "%s/%s", dir, gen1);
    assert_int_not_equal(lstat(old, &st), 0);

    /* a mode change alone is an update */
    bsn_vol_payload_add(&pl, "c", "", 0, 0644);
    assert_int_equal(bsn_vol_atomic_write(dir, &pl, &changed, &err), 0);
    assert_true(changed);
    expect_file(dir, "c", "", 0644);

    /* bad paths are refused before anything is written */
    bsn_vol_payload_add(&pl, "../escape", "x", 1, 0644);
    assert_int_equal(bsn_vol_atomic_write(dir, &pl, &changed, &err), -1);
    assert_non_null(strstr(err.msg, ".."));
    bsn_vol_payload_fini(&pl);
}

static void
test_project_configmap(void **state)
{
    (void)state;
    struct bsn_err err;
    struct bsn_vol_payload pl = {0};
    json_t *cm = J("{\"data\":{\"k1\":\"v1\",\"k2\":\"v2\"},\"binaryData\":{\"bin\":\"AAEC\"}}");
    json_t *src = J("{\"name\":\"cfg\"}");
    assert_int_equal(bsn_vol_project_keys(src, cm, false, 0644, &pl, &err), 0);
    assert_int_equal(pl.n, 3);
    assert_string_equal(pl.files[0].path, "k1");
    assert_string_equal(pl.files[0].data, "v1");
    assert_int_equal(pl.files[2].len, 3); /* binaryData decoded: 00 01 02 */
    assert_int_equal(pl.files[2].data[2], 2);
    bsn_vol_payload_fini(&pl);
    json_decref(src);

    /* items: only the named keys, at their paths, with their modes */
    src = J("{\"name\":\"cfg\",\"items\":[{\"key\":\"k2\",\"path\":\"dir/two\",\"mode\":256}]}");
    assert_int_equal(bsn_vol_project_keys(src, cm, false, 0644, &pl, &err), 0);
    assert_int_equal(pl.n, 1);
    assert_string_equal(pl.files[0].path, "dir/two");
    assert_string_equal(pl.files[0].data, "v2");
    assert_int_equal(pl.files[0].mode, 0400);
    bsn_vol_payload_fini(&pl);
    json_decref(src);

    /* a missing key in items */
    src = J("{\"name\":\"cfg\",\"items\":[{\"key\":\"nope\",\"path\":\"x\"}]}");
    assert_int_equal(bsn_vol_project_keys(src, cm, false, 0644, &pl, &err), -1);
    assert_string_equal(err.msg, "configmap references non-existent config key: nope");
    bsn_vol_payload_fini(&pl);
    json_decref(src);
    /* item path escaping the volume */
    src = J("{\"name\":\"cfg\",\"items\":[{\"key\":\"k1\",\"path\":\"../x\"}]}");
    assert_int_equal(bsn_vol_project_keys(src, cm, false, 0644, &pl, &err), -1);
    bsn_vol_payload_fini(&pl);
    json_decref(src);

    /* missing object: an error unless optional */
    src = J("{\"name\":\"x\"}");
    assert_int_equal(bsn_vol_project_keys(src, NULL, false, 0644, &pl, &err), -1);
    assert_string_equal(err.msg, "configmap \"x\" not found");
    json_decref(src);
    src = J("{\"name\":\"x\",\"optional\":true}");
    assert_int_equal(bsn_vol_project_keys(src, NULL, false, 0644, &pl, &err), 0);
    assert_int_equal(pl.n, 0);
    json_decref(src);
    json_decref(cm);

    /* secrets: base64-decoded data, defaultMode */
    json_t *sec = J("{\"data\":{\"password\":\"czNjcjN0\"}}");
    src = J("{\"secretName\":\"s\"}");
    assert_int_equal(bsn_vol_project_keys(src, sec, true, 0400, &pl, &err), 0);
    assert_int_equal(pl.n, 1);
    assert_string_equal(pl.files[0].data, "s3cr3t");
    assert_int_equal(pl.files[0].mode, 0400);
    bsn_vol_payload_fini(&pl);
    json_decref(src);
    src = J("{\"secretName\":\"gone\"}");
    assert_int_equal(bsn_vol_project_keys(src, NULL, true, 0400, &pl, &err), -1);
    assert_string_equal(err.msg, "secret \"gone\" not found");
    json_decref(src);
    json_decref(sec);
}

static const struct bsn_vol_node node = {
    .cpu_millis = 4000, .memory_bytes = 8LL << 30, .ephemeral_bytes = 100LL << 30};

static json_t *
test_pod(void)
{
    return J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns1\",\"uid\":\"u-1\","
             "\"labels\":{\"b\":\"2\",\"a\":\"x\\\"y\"},\"annotations\":{\"note\":\"l1\\nl2\"}},"
             "\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{"
             "\"limits\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"},"
             "\"requests\":{\"cpu\":\"100m\"}}},{\"name\":\"bare\"}]}}");
}

static void
test_downward(void **state)
{
    (void)state;
    struct bsn_err err;
    json_t *pod = test_pod();
    char *v = bsn_vol_field_value(pod, "metadata.labels", &err);
    assert_string_equal(v, "a=\"x\\\"y\"\nb=\"2\""); /* sorted, quoted */
    free(v);
    v = bsn_vol_field_value(pod, "metadata.annotations", &err);
    assert_string_equal(v, "note=\"l1\\nl2\"");
    free(v);
    v = bsn_vol_field_value(pod, "metadata.labels['b']", &err);
    assert_string_equal(v, "2");
    free(v);
    v = bsn_vol_field_value(pod, "metadata.namespace", &err);
    assert_string_equal(v, "ns1");
    free(v);
    assert_null(bsn_vol_field_value(pod, "status.podIP", &err));

    struct bsn_vol_payload pl = {0};
    json_t *items = J("[{\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"}},"
                      "{\"path\":\"mem\",\"mode\":384,\"resourceFieldRef\":{\"containerName\":"
                      "\"c\",\"resource\":\"limits.memory\",\"divisor\":\"1Mi\"}}]");
    assert_int_equal(bsn_vol_downward_items(items, pod, &node, 0644, &pl, &err), 0);
    assert_int_equal(pl.n, 2);
    assert_string_equal(pl.files[0].data, "web");
    assert_int_equal(pl.files[0].mode, 0644);
    assert_string_equal(pl.files[1].data, "64");
    assert_int_equal(pl.files[1].mode, 0600);
    bsn_vol_payload_fini(&pl);
    json_decref(items);
    json_decref(pod);
}

static void
expect_res(json_t *pod, const char *ctr, const char *ref, const char *want)
{
    struct bsn_err err;
    char out[64];
    json_t *r = J(ref);
    int rc = bsn_vol_resource_value(pod, ctr, r, &node, out, sizeof(out), &err);
    json_decref(r);
    if (!want) {
        assert_int_equal(rc, -1);
        return;
    }
    if (rc)
        fail_msg("%s: %s", ref, err.msg);
    assert_string_equal(out, want);
}

static void
test_resource_field_ref(void **state)
{
    (void)state;
    json_t *pod = test_pod();
    expect_res(pod, "c", "{\"resource\":\"limits.cpu\"}", "1"); /* ceil(0.25) */
    expect_res(pod, "c", "{\"resource\":\"limits.cpu\",\"divisor\":\"1m\"}", "250");
    expect_res(pod, "c", "{\"resource\":\"requests.cpu\",\"divisor\":\"1m\"}", "100");
    expect_res(pod, "c", "{\"resource\":\"limits.memory\"}", "67108864");
    expect_res(pod, "c", "{\"resource\":\"limits.memory\",\"divisor\":\"1Mi\"}", "64");
    expect_res(pod, "c", "{\"resource\":\"requests.memory\",\"divisor\":\"1Mi\"}", "64");
    /* no limit: node allocatable */
    expect_res(pod, "bare", "{\"resource\":\"limits.cpu\"}", "4");
    expect_res(pod, "bare", "{\"resource\":\"limits.memory\",\"divisor\":\"1Gi\"}", "8");
    expect_res(pod, "bare", "{\"resource\":\"limits.ephemeral-storage\",\"divisor\":\"1Gi\"}",
               "100");
    expect_res(pod, "bare", "{\"resource\":\"requests.cpu\"}", "0");
    /* containerName overrides the default container */
    expect_res(pod, "bare",
               "{\"containerName\":\"c\",\"resource\":\"limits.cpu\","
               "\"divisor\":\"1m\"}",
               "250");
    expect_res(pod, "c", "{\"resource\":\"limits.gpu\"}", NULL);
    expect_res(pod, "nope", "{\"resource\":\"limits.cpu\"}", NULL);
    expect_res(pod, "c", "{\"resource\":\"limits.cpu\",\"divisor\":\"0\"}", NULL);
    json_decref(pod);
}

static void
test_subpath(void **state)
{
    (void)state;
    struct bsn_err err;
    assert_int_equal(bsn_vol_check_path("a/b", "subPath", &err), 0);
    assert_int_equal(bsn_vol_check_path("a..b/c", "subPath", &err), 0);
    assert_int_equal(bsn_vol_check_path("../a", "subPath", &err), -1);
    assert_int_equal(bsn_vol_check_path("a/../../b", "subPath", &err), -1);
    assert_int_equal(bsn_vol_check_path("a/..", "subPath", &err), -1);
    assert_int_equal(bsn_vol_check_path("/etc", "subPath", &err), -1);
    assert_int_equal(bsn_vol_check_path("", "subPath", &err), -1);

    char base[PATH_MAX + 8], p[PATH_MAX + 64], want[PATH_MAX + 64];
    snprintf(base, sizeof(base), "%s/vol", tmp);
    mkdir(base, 0755);
    /* created when missing */
    char *r = bsn_vol_subpath_resolve(base, "x/y", true, &err);
    assert_non_null(r);
    snprintf(want, sizeof(want), "%s/x/y", base);
    char real[PATH_MAX];
    assert_non_null(realpath(want, real));
    assert_string_equal(r, real);
    free(r);
    /* not created: error */
    assert_null(bsn_vol_subpath_resolve(base, "missing", false, &err));
    /* a symlink inside the volume pointing out of it is refused */
    snprintf(p, sizeof(p), "%s/out", base);
    assert_int_equal(symlink("/etc", p), 0);
    assert_null(bsn_vol_subpath_resolve(base, "out", false, &err));
    assert_non_null(strstr(err.msg, "outside"));
    assert_null(bsn_vol_subpath_resolve(base, "out/sub", true, &err));
    /* a symlink staying inside is fine */
    snprintf(p, sizeof(p), "%s/in", base);
    assert_int_equal(symlink("x", p), 0);
    r = bsn_vol_subpath_resolve(base, "in/y", false, &err);
    assert_non_null(r);
    assert_string_equal(r, real);
    free(r);
    assert_null(bsn_vol_subpath_resolve(base, "../vol", true, &err));
}

static void
test_hostpath(void **state)
{
    (void)state;
    struct bsn_err err;
    char d[PATH_MAX + 32], f[PATH_MAX + 32], s[PATH_MAX + 32];
    snprintf(d, sizeof(d), "%s/hp/a/b", tmp);
    snprintf(f, sizeof(f), "%s/hp/file", tmp);
    snprintf(s, sizeof(s), "%s/hp/sock", tmp);
    assert_int_equal(bsn_vol_hostpath_check(d, "Directory", &err), -1);
    assert_non_null(strstr(err.msg, "hostPath type check failed"));
    assert_non_null(strstr(err.msg, "is not a directory"));
    assert_int_equal(bsn_vol_hostpath_check(d, "DirectoryOrCreate", &err), 0);
    struct stat st;
    assert_int_equal(stat(d, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(bsn_vol_hostpath_check(d, "Directory", &err), 0);
    assert_int_equal(bsn_vol_hostpath_check(d, "File", &err), -1);
    assert_non_null(strstr(err.msg, "is not a file"));
    assert_int_equal(bsn_vol_hostpath_check(f, "File", &err), -1);
    assert_int_equal(bsn_vol_hostpath_check(f, "FileOrCreate", &err), 0);
    assert_int_equal(stat(f, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(bsn_vol_hostpath_check(f, "DirectoryOrCreate", &err), -1);
    assert_int_equal(bsn_vol_hostpath_check(f, "Socket", &err), -1);
    assert_non_null(strstr(err.msg, "is not a socket file"));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(bsn_vol_hostpath_check(s, "Socket", &err), 0);
    close(fd);
    assert_int_equal(bsn_vol_hostpath_check("/dev/null", "CharDevice", &err), 0);
    assert_int_equal(bsn_vol_hostpath_check("/dev/null", "BlockDevice", &err), -1);
    assert_int_equal(bsn_vol_hostpath_check("/nonexistent-bsn", "", &err), 0); /* no check */
    assert_int_equal(bsn_vol_hostpath_check("relative", "", &err), -1);
    assert_int_equal(bsn_vol_hostpath_check(d, "Bogus", &err), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_writer, setup, teardown),
        cmocka_unit_test(test_project_configmap),
        cmocka_unit_test(test_downward),
        cmocka_unit_test(test_resource_field_ref),
        cmocka_unit_test_setup_teardown(test_subpath, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostpath, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
