/*
 * buf.c - growable byte buffer and string views.
 */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "base/mem.h"

bool
bsn_str_eq(struct bsn_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.base, lit, n) == 0;
}

bool
bsn_str_case_eq(struct bsn_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && strncasecmp(a.base, lit, n) == 0;
}

bool
bsn_str_has_prefix(struct bsn_str a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.base, prefix, n) == 0;
}

char *
bsn_str_dup(struct bsn_str s)
{
    return bsn_strndup(s.base ? s.base : "", s.len);
}

void
bsn_buf_init(struct bsn_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
bsn_buf_fini(struct bsn_buf *b)
{
    free(b->data);
    bsn_buf_init(b);
}

void
bsn_buf_reset(struct bsn_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void
bsn_buf_reserve(struct bsn_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = bsn_realloc(b->data, cap);
    b->cap = cap;
}

void
bsn_buf_append(struct bsn_buf *b, const void *data, size_t len)
{
    bsn_buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void
bsn_buf_puts(struct bsn_buf *b, const char *s)
{
    bsn_buf_append(b, s, strlen(s));
}

void
bsn_buf_putc(struct bsn_buf *b, char c)
{
    bsn_buf_append(b, &c, 1);
}

void
bsn_buf_vprintf(struct bsn_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    bsn_buf_reserve(b, 128);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        bsn_buf_reserve(b, (size_t)n);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    if (n > 0)
        b->len += (size_t)n;
}

void
bsn_buf_printf(struct bsn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bsn_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void
bsn_buf_consume(struct bsn_buf *b, size_t n)
{
    if (n >= b->len) {
        bsn_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *
bsn_buf_take(struct bsn_buf *b)
{
    char *d = b->data;
    if (!d)
        d = bsn_strdup("");
    bsn_buf_init(b);
    return d;
}
