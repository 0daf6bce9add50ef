/*
 * exec_spdy.h - the SPDY/3.1 framing `kubectl port-forward` speaks (inside WebSocket binary
 * messages since kubectl 1.31: subprotocol "SPDY/3.1+portforward.k8s.io"): a server-side
 * frame parser with the zlib header-block context, and the frames a port-forward server
 * sends. No I/O; exec_pf.c drives it.
 *
 * Frames understood: SYN_STREAM (headers decoded), DATA, RST_STREAM, PING, GOAWAY; SETTINGS,
 * WINDOW_UPDATE and HEADERS are consumed (HEADERS still inflated: the zlib context is shared
 * by every header block of the connection). Flow control is not enforced in either direction
 * (the Go client kubectl uses does not enforce it either); buffers are bounded by the caller.
 * Caps: a frame's payload <= BSN_SPDY_MAX_FRAME, a decompressed header block <=
 * BSN_SPDY_MAX_HEADERS, at most 32 header pairs.
 */
#ifndef BSN_AGENT_EXEC_SPDY_H
#define BSN_AGENT_EXEC_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "base/buf.h"

#define BSN_SPDY_MAX_FRAME   (1u << 20)
#define BSN_SPDY_MAX_HEADERS (64u << 10)
#define BSN_SPDY_MAX_PAIRS   32

/* RST_STREAM status codes */
#define BSN_SPDY_PROTOCOL_ERROR 1
#define BSN_SPDY_REFUSED_STREAM 3
#define BSN_SPDY_CANCEL         5

struct bsn_spdy_header {
    const char *name, *value; /* NUL-terminated, valid during the callback */
};

struct bsn_spdy_cbs {
    /* A new stream from the client with its headers (names lower-case). */
    void (*syn_stream)(void *ud, uint32_t sid, const struct bsn_spdy_header *h, size_t n, bool fin);
    void (*data)(void *ud, uint32_t sid, const char *data, size_t len, bool fin);
    void (*rst)(void *ud, uint32_t sid, uint32_t status);
    void (*ping)(void *ud, uint32_t id);
    void (*goaway)(void *ud);
};

struct bsn_spdy {
    z_stream inf, def;
    bool inf_ok, def_ok;
    const struct bsn_spdy_cbs *cbs;
    void *ud;
    char err[128]; /* why parsing failed */
};

void bsn_spdy_init(struct bsn_spdy *s, const struct bsn_spdy_cbs *cbs, void *ud);
void bsn_spdy_fini(struct bsn_spdy *s);
/* Parses the complete frames at the start of buf; returns bytes consumed or -1 (s->err). */
long bsn_spdy_parse(struct bsn_spdy *s, const char *buf, size_t len);

/* Frames to the client (appended to out). */
void bsn_spdy_syn_reply(struct bsn_spdy *s, struct bsn_buf *out, uint32_t sid, bool fin);
void bsn_spdy_data(struct bsn_buf *out, uint32_t sid, const void *data, size_t len, bool fin);
void bsn_spdy_rst(struct bsn_buf *out, uint32_t sid, uint32_t status);
void bsn_spdy_ping(struct bsn_buf *out, uint32_t id);
void bsn_spdy_goaway(struct bsn_buf *out, uint32_t last_sid, uint32_t status);

/* The client side's header block compression, for tests: a SYN_STREAM with headers. */
void bsn_spdy_syn_stream(struct bsn_spdy *s, struct bsn_buf *out, uint32_t sid,
                         const struct bsn_spdy_header *h, size_t n, bool fin);

/* The SPDY/3 header compression dictionary (built once). */
const unsigned char *bsn_spdy_dictionary(size_t *len);

#endif
