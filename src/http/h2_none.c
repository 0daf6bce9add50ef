/*
 * h2_none.c - stand-ins for h2.c when Bosun is built without nghttp2. HTTP/2 is then never
 * negotiated (bsn_tls_server_ctx drops "h2" from ALPN), so these are unreachable except for
 * bsn_h2_start, which refuses.
 */
#include "http/server_int.h"

int
bsn_h2_start(struct conn *c)
{
    return -1;
}

void
bsn_h2_io(struct conn *c)
{
}

void
bsn_h2_send(struct conn *c)
{
}

void
bsn_h2_drain(struct conn *c)
{
}

void
bsn_h2_conn_closed(struct conn *c)
{
}

bool
bsn_h2_more(const struct conn *c)
{
    return false;
}

bool
bsn_h2_idle(const struct conn *c)
{
    return true;
}

void
bsn_h2_respond(struct req_full *r, int status, const char *ctype, const void *body, size_t len)
{
}

int
bsn_h2_stream_start(struct req_full *r, int status, const char *ctype)
{
    return -1;
}

int
bsn_h2_stream_write(struct req_full *r, const void *data, size_t len)
{
    return -1;
}

void
bsn_h2_stream_end(struct req_full *r)
{
}

size_t
bsn_h2_stream_pending(const struct req_full *r)
{
    return 0;
}
