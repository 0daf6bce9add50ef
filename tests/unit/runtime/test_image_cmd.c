/*
 * test_image_cmd.c - `bosun image` verbs through bsn_cmd_image: pack, ls, import, rm, usage
 * errors; output captured from stdout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "runtime/image.h"
#include "runtime/image_cmd.h"
#include "runtime/rt_impl.h"

static char tmpdir[256];

/* Runs bosun image with argv, returning its status; stdout goes to *out. */
static int
run(char **out, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char path[300];
    snprintf(path, sizeof(path), "%s/stdout", tmpdir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    int rc = bsn_cmd_image(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    *out = rt_read_file(path, 1 << 20, NULL);
    return rc;
}

static void
test_cmd(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bsn-imgcmd-%d-XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(tmpdir));
    char src[300], data[300], f[400];
    snprintf(src, sizeof(src), "%s/src", tmpdir);
    snprintf(data, sizeof(data), "%s/data", tmpdir);
    rt_mkdir_p(src, 0755);
    snprintf(f, sizeof(f), "%s/hello.txt", src);
    rt_write_file(f, "hi\n", 3, 0644);
    char *out = NULL;
    assert_int_equal(run(&out, 15, "image", "pack", "--data-dir", data, "--name", "tool:1",
                         "--entrypoint", "/bin/sh", "--entrypoint", "-c", "--cmd", "echo hi",
                         "--env", "A=b", src),
                     0);
    assert_non_null(strstr(out, "packed docker.io/library/tool:1 sha256:"));
    free(out);
    assert_int_equal(run(&out, 4, "image", "ls", "--data-dir", data), 0);
    assert_non_null(strstr(out, "NAME"));
    assert_non_null(strstr(out, "docker.io/library/tool:1"));
    free(out);
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    struct bsn_image_config c;
    assert_int_equal(bsn_image_resolve(s, "tool:1", &c, &err), 0);
    assert_string_equal(c.entrypoint[0], "/bin/sh");
    assert_string_equal(c.entrypoint[1], "-c");
    assert_string_equal(c.cmd[0], "echo hi");
    assert_string_equal(c.env[0], "A=b");
    bsn_image_config_fini(&c);
    bsn_image_store_close(s);
    /* Usage errors. */
    assert_int_equal(run(&out, 4, "image", "pack", "--data-dir", data), 2);
    free(out);
    assert_int_equal(run(&out, 2, "image", "frobnicate"), 2);
    free(out);
    assert_int_equal(run(&out, 5, "image", "import", "--data-dir", data, "/nonexistent"), 1);
    free(out);
    assert_int_equal(run(&out, 2, "image", "--help"), 0);
    assert_non_null(strstr(out, "usage: bosun image"));
    free(out);
    assert_int_equal(run(&out, 5, "image", "rm", "--data-dir", data, "tool:1"), 0);
    assert_non_null(strstr(out, "removed tool:1"));
    free(out);
    assert_int_equal(run(&out, 5, "image", "rm", "--data-dir", data, "tool:1"), 1);
    free(out);
    rt_rm_rf(tmpdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cmd)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
