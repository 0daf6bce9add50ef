/*
 * util.c - small helpers shared by the CLI commands.
 */
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"

char *
bsn_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = bsn_malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = bsn_realloc(buf, cap);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int
bsn_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int
bsn_default_data_dir(const char *explicit_dir, char *out, size_t n)
{
    if (explicit_dir && *explicit_dir) {
        snprintf(out, n, "%s", explicit_dir);
        return 0;
    }
    if (geteuid() == 0) {
        snprintf(out, n, "/var/lib/bosun");
        return 0;
    }
    const char *home = getenv("HOME");
    if (!home)
        return -1;
    snprintf(out, n, "%s/.local/share/bosun", home);
    return 0;
}

int
bsn_split_hostport(const char *s, char *host, size_t hostn, int *port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -1;
        snprintf(host, hostn, "%.*s", (int)(end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        snprintf(host, hostn, "%.*s", (int)(colon - s), s);
    }
    char *e;
    long p = strtol(colon + 1, &e, 10);
    if (*e || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}
