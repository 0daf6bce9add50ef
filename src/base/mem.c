/*
 * mem.c - allocation helpers that abort on failure.
 */
#include "base/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
oom(size_t n)
{
    fprintf(stderr, "bosun: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
bsn_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *
bsn_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *
bsn_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *
bsn_strdup(const char *s)
{
    return bsn_strndup(s, strlen(s));
}

char *
bsn_strndup(const char *s, size_t n)
{
    n = strnlen(s, n); /* like strndup: stop at a NUL before n */
    char *p = bsn_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
bsn_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return out;
}

void
bsn_freep(void *pp)
{
    void **p = pp;
    free(*p);
    *p = NULL;
}

void
bsn_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}
