/*
 * layer_unpack.c - fuzz target: layer tars (registry input) through bsn_layer_unpack.
 * Property: nothing is ever written outside the destination directory (a sibling directory
 * and the parent stay untouched), whatever the archive holds.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "runtime/image.h"
#include "runtime/rt_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.' || (de->d_name[1] && strcmp(de->d_name, ".."));
    if (d)
        closedir(d);
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char root[64];
    if (!root[0]) {
        snprintf(root, sizeof(root), "/tmp/bsn-fuzz-unpack-%d", (int)getpid());
        bsn_log_set_level(BSN_LOG_ERROR);
    }
    char dest[128], outside[128], tar[128];
    snprintf(dest, sizeof(dest), "%s/layer", root);
    snprintf(outside, sizeof(outside), "%s/outside", root);
    snprintf(tar, sizeof(tar), "%s/in.tar", root);
    rt_rm_rf(root);
    rt_mkdir_p(dest, 0755);
    rt_mkdir_p(outside, 0755);
    if (rt_write_file(tar, (const char *)data, size, 0644) < 0)
        abort();
    struct bsn_err err = {0};
    struct bsn_unpack_stats st;
    bsn_layer_unpack(tar, dest, true, &st, &err);
    /* root holds exactly layer/, outside/ and in.tar; outside/ is still empty */
    if (count(outside) != 0 || count(root) != 3)
        abort();
    rt_rm_rf(root);
    return 0;
}
