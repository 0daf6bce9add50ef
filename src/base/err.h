/*
 * err.h - errors that carry an HTTP status, a Kubernetes reason and a message.
 *
 * Control-plane code passes a `struct bsn_err *` out-parameter (crun style). The innermost
 * failure sets it; each layer above may prefix context ("apply deployment default/web: ...").
 * The API server turns it into a Kubernetes `Status` body: code -> .code, reason -> .reason,
 * message -> .message, causes -> .details.causes.
 */
#ifndef BSN_BASE_ERR_H
#define BSN_BASE_ERR_H

#include <stdarg.h>
#include <stdbool.h>

#define BSN_ERR_MSG_MAX    1024
#define BSN_ERR_CAUSES_MAX 16

struct bsn_err_cause {
    char reason[48]; /* FieldValueInvalid, FieldValueRequired, ... */
    char field[160]; /* metadata.name, spec.containers[0].image, ... */
    char message[640];
};

struct bsn_err {
    int code;        /* HTTP status; 0 = no error */
    char reason[40]; /* Kubernetes StatusReason: NotFound, AlreadyExists, Invalid, ... */
    char msg[BSN_ERR_MSG_MAX];
    int ncauses;
    struct bsn_err_cause causes[BSN_ERR_CAUSES_MAX];
    int retry_after; /* seconds, for 429/503/504 */
};

static inline bool
bsn_err_is_set(const struct bsn_err *e)
{
    return e && e->code != 0;
}

void bsn_err_clear(struct bsn_err *e);
/* Sets the error (overwrites). Returns -1 so callers can `return bsn_err_set(...)`. */
int bsn_err_set(struct bsn_err *e, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefixes context to the message: "ctx: old message". Returns -1. */
int bsn_err_prefix(struct bsn_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a field cause (for reason Invalid). */
void bsn_err_add_cause(struct bsn_err *e, const char *reason, const char *field, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
/* Copies src into dst. */
void bsn_err_copy(struct bsn_err *dst, const struct bsn_err *src);

#endif
