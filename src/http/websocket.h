/*
 * websocket.h - RFC 6455 WebSocket framing: handshake helpers, a frame encoder and an
 * incremental decoder that reassembles fragmented messages.
 *
 * I/O is the caller's: after bsn_ws_server_accept() the caller owns the upgraded connection
 * (fd, SSL*, buffered bytes; see bsn_http_req_upgrade) and feeds received bytes to
 * bsn_ws_decode(), writing what bsn_ws_encode() produces. Caps: control frames <= 125 bytes
 * (protocol), messages <= max_message (default 16 MiB) -> close code 1009.
 */
#ifndef BSN_HTTP_WEBSOCKET_H
#define BSN_HTTP_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/server.h"

enum bsn_ws_opcode {
    BSN_WS_CONT = 0x0,
    BSN_WS_TEXT = 0x1,
    BSN_WS_BINARY = 0x2,
    BSN_WS_CLOSE = 0x8,
    BSN_WS_PING = 0x9,
    BSN_WS_PONG = 0xA,
};

/* Close codes used by the decoder. */
#define BSN_WS_CLOSE_NORMAL   1000
#define BSN_WS_CLOSE_PROTOCOL 1002
#define BSN_WS_CLOSE_BAD_DATA 1007 /* invalid UTF-8 in a text message */
#define BSN_WS_CLOSE_TOO_BIG  1009

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)); out gets 28 chars. */
void bsn_ws_accept_key(const char *client_key, char out[29]);

/*
 * Validates a WebSocket upgrade request (GET, Connection: upgrade, Upgrade: websocket,
 * Sec-WebSocket-Version: 13, a 16-byte base64 key), picks the first of `protocols`
 * (NULL-terminated, may be NULL) that the client offered in Sec-WebSocket-Protocol, sends
 * 101 and hands the connection over (*out, see bsn_http_req_upgrade). If the request is not
 * a valid upgrade it answers 400 (or 426 for a wrong version) and returns -1; the request is
 * finished either way. *chosen gets the selected subprotocol (NULL if none) when non-NULL.
 */
int bsn_ws_server_accept(struct bsn_http_req *req, const char *const *protocols,
                         const char **chosen, struct bsn_http_upgraded *out);

/*
 * Appends one frame to out. mask = true for client-to-server frames (a random key from the
 * OpenSSL RNG). fin = false starts/continues a fragmented message (then send BSN_WS_CONT).
 */
void bsn_ws_encode(struct bsn_buf *out, enum bsn_ws_opcode op, bool fin, const void *data,
                   size_t len, bool mask);
/* Appends a close frame with a status code and a short reason (truncated to fit 125 bytes). */
void bsn_ws_encode_close(struct bsn_buf *out, uint16_t code, const char *reason, bool mask);

/*
 * Called for every complete message (TEXT/BINARY, reassembled from fragments) and every
 * control frame (PING/PONG/CLOSE; for CLOSE, data is the raw payload: 2-byte code + reason).
 * Return 0 to continue, non-zero to stop decoding (bsn_ws_decode then returns what it
 * consumed so far, including this frame).
 */
typedef int (*bsn_ws_msg_cb)(enum bsn_ws_opcode op, const char *data, size_t len, void *ud);

struct bsn_ws_decoder {
    bool server;        /* true: frames must be masked (we are the server); false: unmasked */
    size_t max_message; /* 0 = 16 MiB */
    struct bsn_buf frag;
    int frag_opcode; /* -1 when no fragmented message is in progress */
};

void bsn_ws_decoder_init(struct bsn_ws_decoder *d, bool server, size_t max_message);
void bsn_ws_decoder_fini(struct bsn_ws_decoder *d);

/*
 * Decodes the complete frames at the start of buf[0..len) (unmasking in place) and returns the
 * number of bytes consumed (the caller keeps the rest for the next call), or -1 on a protocol
 * violation with *close_code set (1002, 1007, 1009): send a close frame and drop the
 * connection.
 */
long bsn_ws_decode(struct bsn_ws_decoder *d, char *buf, size_t len, bsn_ws_msg_cb cb, void *ud,
                   int *close_code);

/* True if s[0..n) is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
bool bsn_utf8_valid(const char *s, size_t n);

#endif
