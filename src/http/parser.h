/*
 * parser.h - zero-copy, stateless HTTP/1.x message head parser and chunked-body decoder.
 *
 * The parser never allocates and never keeps state between calls: hand it everything received
 * so far and it either parses the whole head (request line / status line + header fields),
 * says it needs more bytes, or rejects the input. All struct bsn_str results point into the
 * caller's buffer, so they are valid only while that buffer is unchanged.
 *
 * It is deliberately strict (RFC 9112, request-smuggling defence). A request is rejected when:
 *   - a line ends in a bare LF or contains a bare CR (only CRLF ends a line)       -> 400
 *   - a header line starts with SP/HT (obs-fold)                                  -> 400
 *   - the method or a header name has a non-token character, or there is
 *     whitespace between a header name and its colon                             -> 400
 *   - a header value contains a control character other than HT (NUL, DEL, ...)   -> 400
 *   - Content-Length appears twice, is empty, has a non-digit or overflows       -> 400
 *   - Content-Length and Transfer-Encoding are both present                       -> 400
 *   - Transfer-Encoding's final coding is not "chunked", or it lists chunked
 *     twice, or it is sent with HTTP/1.0                                          -> 400
 *   - Transfer-Encoding has a coding other than chunked (gzip, chunked)          -> 501
 *   - HTTP/1.1 without exactly one Host header                                   -> 400
 *   - the request line is longer than BSN_HTTP_MAX_REQUEST_LINE                   -> 414
 *   - the head is longer than BSN_HTTP_MAX_HEAD or has > BSN_HTTP_MAX_HEADERS      -> 431
 *   - the version is HTTP/x.y other than 1.0 / 1.1                                 -> 505
 * Empty lines (CRLF) before a request line are skipped (RFC 9112 2.2), which tolerates the
 * stray CRLF some clients send after a POST body.
 *
 * Speed: lines are found with memchr and characters are checked against 256-entry tables in
 * tight loops; there are no per-byte function calls.
 */
#ifndef BSN_HTTP_PARSER_H
#define BSN_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define BSN_HTTP_MAX_HEADERS      100
#define BSN_HTTP_MAX_REQUEST_LINE 8192
#define BSN_HTTP_MAX_HEAD         65536

/* Return values of the parse functions besides a positive byte count. */
#define BSN_HTTP_ERROR      (-1)
#define BSN_HTTP_INCOMPLETE (-2)

struct bsn_http_header {
    struct bsn_str name, value; /* value has leading/trailing SP/HT trimmed */
};

struct bsn_http_request_head {
    /* target is the raw request-target; path and query (without '?') are views into it. For
     * an absolute-form target ("http://host/p?q", proxies) path is "/p" and host is "host". */
    struct bsn_str method, target, path, query;
    int minor_version; /* 0 or 1 */
    struct bsn_http_header headers[BSN_HTTP_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length; /* -1 if absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool keep_alive;        /* HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive */
    bool upgrade;           /* Connection has "upgrade" and an Upgrade header is present */
    bool expect_continue;   /* Expect: 100-continue */
    struct bsn_str host, upgrade_proto, connection;
};

/*
 * Parses a request head from buf[0..len). Returns the number of bytes of the head (including
 * the final CRLF CRLF and any skipped leading empty lines, > 0), BSN_HTTP_INCOMPLETE (-2) if
 * more bytes are needed, or BSN_HTTP_ERROR (-1) with *status set to the status to answer
 * (400, 414, 431, 501, 505) before closing the connection. `out` is fully overwritten.
 */
int bsn_http_parse_request(const char *buf, size_t len, struct bsn_http_request_head *out,
                           int *status);

struct bsn_http_response_head {
    int status; /* 100..999 */
    struct bsn_str reason;
    int minor_version;
    struct bsn_http_header headers[BSN_HTTP_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length; /* -1 if absent */
    bool chunked, keep_alive, upgrade;
    struct bsn_str connection, upgrade_proto;
};

/*
 * Parses a response head. Same return convention as bsn_http_parse_request (no status out).
 * The same header strictness applies (CL+TE together, bad CL, obs-fold, bare CR/LF are errors).
 * Whether a body follows depends on the request (HEAD) and status (1xx/204/304): the caller
 * decides; content_length/chunked only describe the framing headers.
 */
int bsn_http_parse_response(const char *buf, size_t len, struct bsn_http_response_head *out);

/*
 * Incremental decoder for a chunked body. Initialise with bsn_http_chunked_init(), then feed
 * it the bytes received after the head, as they arrive.
 */
#define BSN_HTTP_CHUNK_MAX_DIGITS  16   /* hex digits of a chunk size (no leading-zero games) */
#define BSN_HTTP_CHUNK_MAX_EXT     1024 /* bytes of chunk extensions on one size line */
#define BSN_HTTP_CHUNK_MAX_TRAILER 8192 /* total bytes of the trailer section */

struct bsn_http_chunked {
    int state;
    unsigned digits;    /* hex digits read on the current size line */
    uint64_t remaining; /* bytes left in the current chunk */
    size_t line_bytes;  /* bytes of extension / trailer read so far (capped) */
    uint64_t total;     /* decoded body bytes so far */
};

void bsn_http_chunked_init(struct bsn_http_chunked *st);

/*
 * Decodes buf[0..*len) in place. On return *len is the number of decoded body bytes now at
 * buf[0..*len). Returns:
 *   BSN_HTTP_INCOMPLETE (-2)  all input consumed, the body continues in later bytes;
 *   BSN_HTTP_ERROR (-1)       malformed (bad size, missing CRLF, too many digits, trailer too
 *                             large, control characters);
 *   n >= 0                    the body is complete; n bytes that followed it (e.g. the next
 *                             pipelined request) have been moved to buf[*len..*len+n).
 */
int bsn_http_chunked_decode(struct bsn_http_chunked *st, char *buf, size_t *len);

/* Finds the first header named `name` (ASCII case-insensitive), or NULL. */
const struct bsn_http_header *bsn_http_find_header(const struct bsn_http_header *h, size_t n,
                                                   const char *name);

/* Reason phrase for a status code ("Not Found"); "Unknown" for unassigned codes. */
const char *bsn_http_status_text(int status);

/*
 * True if the comma-separated header value `list` contains `token` (case-insensitive,
 * OWS-trimmed elements), e.g. bsn_http_list_has(connection, "close").
 */
bool bsn_http_list_has(struct bsn_str list, const char *token);

#endif
