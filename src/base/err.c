/*
 * err.c - errors with HTTP status and Kubernetes reason.
 */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

void
bsn_err_clear(struct bsn_err *e)
{
    if (!e)
        return;
    e->code = 0;
    e->reason[0] = '\0';
    e->msg[0] = '\0';
    e->ncauses = 0;
    e->retry_after = 0;
}

int
bsn_err_set(struct bsn_err *e, int code, const char *reason, const char *fmt, ...)
{
    if (!e)
        return -1;
    e->code = code;
    snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->ncauses = 0;
    e->retry_after = 0;
    return -1;
}

int
bsn_err_prefix(struct bsn_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char ctx[512], old[BSN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    snprintf(e->msg, sizeof(e->msg), "%s: %s", ctx, old);
    return -1;
}

void
bsn_err_add_cause(struct bsn_err *e, const char *reason, const char *field, const char *fmt, ...)
{
    if (!e || e->ncauses >= BSN_ERR_CAUSES_MAX)
        return;
    struct bsn_err_cause *c = &e->causes[e->ncauses++];
    snprintf(c->reason, sizeof(c->reason), "%s", reason);
    snprintf(c->field, sizeof(c->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
}

void
bsn_err_copy(struct bsn_err *dst, const struct bsn_err *src)
{
    if (dst && src && dst != src)
        memcpy(dst, src, sizeof(*dst));
}
