/*
 * mem.h - allocation helpers that abort on failure.
 *
 * Bosun treats allocation failure as fatal (STYLE.md: "Allocation failure aborts"), so callers
 * never check for NULL from these. Use them instead of malloc/calloc/realloc/strdup.
 */
#ifndef BSN_BASE_MEM_H
#define BSN_BASE_MEM_H

#include <stddef.h>

void *bsn_malloc(size_t n);
void *bsn_calloc(size_t nmemb, size_t size);
void *bsn_realloc(void *p, size_t n);
char *bsn_strdup(const char *s);
char *bsn_strndup(const char *s, size_t n);
/* printf into a freshly allocated string. */
char *bsn_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cleanup attribute helpers (crun style): `BSN_AUTOFREE char *p = ...;` */
void bsn_freep(void *pp);
void bsn_closep(int *fd);
#define BSN_AUTOFREE  __attribute__((cleanup(bsn_freep)))
#define BSN_AUTOCLOSE __attribute__((cleanup(bsn_closep)))

#define BSN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BSN_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define BSN_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define BSN_UNUSED(x)    ((void)(x))

#endif
