/*
 * buf.h - growable byte buffer and {base,len} string views.
 *
 * struct bsn_buf owns its memory; it always keeps a NUL after the data so it can be used as a
 * C string. struct bsn_str is a non-owning view (h2o style) used by parsers.
 */
#ifndef BSN_BASE_BUF_H
#define BSN_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct bsn_str {
    const char *base;
    size_t len;
};

#define BSN_STR_LIT(s) ((struct bsn_str){(s), sizeof(s) - 1})
#define BSN_STR_NULL   ((struct bsn_str){NULL, 0})

static inline struct bsn_str
bsn_str_c(const char *s)
{
    return (struct bsn_str){s, s ? strlen(s) : 0};
}

bool bsn_str_eq(struct bsn_str a, const char *lit);
bool bsn_str_case_eq(struct bsn_str a, const char *lit);
bool bsn_str_has_prefix(struct bsn_str a, const char *prefix);
/* Duplicates a view into a heap C string. */
char *bsn_str_dup(struct bsn_str s);

struct bsn_buf {
    char *data;
    size_t len;
    size_t cap;
};

void bsn_buf_init(struct bsn_buf *b);
void bsn_buf_fini(struct bsn_buf *b);
void bsn_buf_reset(struct bsn_buf *b);
void bsn_buf_reserve(struct bsn_buf *b, size_t extra);
void bsn_buf_append(struct bsn_buf *b, const void *data, size_t len);
void bsn_buf_puts(struct bsn_buf *b, const char *s);
void bsn_buf_putc(struct bsn_buf *b, char c);
void bsn_buf_printf(struct bsn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bsn_buf_vprintf(struct bsn_buf *b, const char *fmt, va_list ap);
/* Removes the first n bytes. */
void bsn_buf_consume(struct bsn_buf *b, size_t n);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *bsn_buf_take(struct bsn_buf *b);

#endif
