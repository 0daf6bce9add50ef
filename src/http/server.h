/*
 * server.h - HTTP/1.1 server on a bsn_loop: TCP (IPv4/IPv6), Unix sockets and TLS.
 *
 * One server owns one listening socket and its connections; everything runs on the loop's
 * thread. For each request the server reads the head (strict parser, parser.h) and the whole
 * body (Content-Length or chunked, decoded, capped by max_body), then calls the handler once.
 * The handler may answer at once or any time later from the same thread (async: the API server
 * answers after a group commit):
 *
 *     static void handle(struct bsn_http_req *req, void *data) {
 *         bsn_http_req_add_header(req, "Cache-Control", "no-store");
 *         bsn_http_respond(req, 200, "application/json", "{}", 2);
 *     }
 *
 * Every request must be finished exactly once, by bsn_http_respond(), bsn_http_stream_end(),
 * or bsn_http_req_upgrade(); after that (or after its on_close callback has fired) the request
 * pointer is dead. Finishing a request whose client already disconnected is allowed and only
 * frees it.
 *
 * Connections: keep-alive and pipelining (requests are served strictly in order; the next one
 * is read after the previous response is queued), HEAD (no body is sent, Content-Length is
 * kept), Expect: 100-continue, a Date header on every response. Errors found by the parser are
 * answered with their status (400/413/414/431/501/505) and "Connection: close". A client that
 * stays silent on an idle keep-alive connection is closed after idle_timeout_ms; one that starts
 * a request but does not finish its head within header_timeout_ms (or stalls that long in the
 * body) gets a 408.
 *
 * HTTP/2: a TLS connection that negotiates ALPN "h2" (offer it in bsn_tls_server_ctx) is
 * served by nghttp2 with the same request API; each stream is one request, streams run
 * concurrently, a stream reset fires on_close. bsn_http_req_upgrade is not available there
 * (answers 501). minor_version reads 1 for HTTP/2 requests.
 *
 * The server sets SIGPIPE to SIG_IGN (once, if still at the default): OpenSSL writes with
 * write(2), and a reset TLS connection must not kill the process.
 *
 * Streaming (watch): bsn_http_stream_start() sends the head with chunked encoding, each
 * bsn_http_stream_write() sends one chunk. Output is buffered; if a slow client lets more than
 * max_stream_buffer bytes pile up across loop iterations, the connection is closed and
 * on_close fires (one synchronous burst, e.g. an initial list, may exceed the cap).
 */
#ifndef BSN_HTTP_SERVER_H
#define BSN_HTTP_SERVER_H

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "http/parser.h"
#include "loop/loop.h"

struct bsn_http_server;
struct bsn_http_req;

typedef void (*bsn_http_handler)(struct bsn_http_req *req, void *data);
typedef void (*bsn_http_close_cb)(struct bsn_http_req *req, void *data);

struct bsn_http_server_opts {
    /* "127.0.0.1:6443", "[::1]:80", "0.0.0.0:0" (ephemeral port), ":8080" (wildcard;
     * "[::]:8080" serves IPv6 and IPv4), or "unix:/path/to.sock" (an existing socket file
     * is replaced, and removed again by bsn_http_server_free). */
    const char *listen;         /* NULL: no listener (see bsn_http_server_adopt_tls) */
    SSL_CTX *tls;               /* optional; the server takes its own reference */
    size_t max_body;            /* default 3 MiB; larger bodies get 413 */
    unsigned idle_timeout_ms;   /* keep-alive idle; default 120000 */
    unsigned header_timeout_ms; /* head deadline and body inactivity limit; default 10000
                                 * -> 408 (also the TLS handshake deadline) */
    size_t max_stream_buffer;   /* buffered output cap per connection; default 16 MiB */
    unsigned max_conns;         /* default 10000; more are accepted and closed at once */
    int backlog;                /* default 1024 */
    bool reuseport;             /* SO_REUSEPORT (one server per loop thread, gateway) */
    unsigned unix_mode;         /* chmod for a unix: socket file, e.g. 0660 (0 = umask) */
    bsn_http_handler handler;
    void *data;
};

/*
 * The request as the handler sees it. All strings are NUL-terminated and live as long as the
 * request. Header values are also available as views in headers[] (see parser.h).
 */
struct bsn_http_req {
    const char *method;
    const char *path;  /* raw path, not percent-decoded (e.g. "/api/v1/namespaces") */
    const char *query; /* raw query without '?', "" if none */
    int minor_version; /* 0 or 1 */
    const struct bsn_http_header *headers;
    size_t nheaders;
    char *body; /* decoded body, NUL-terminated (body[body_len] == 0); handler may modify */
    size_t body_len;
    const char *remote_addr; /* "1.2.3.4:5678", "[::1]:5678" or "unix" */
    bool tls;                /* arrived over TLS */
    bool head_only;          /* method is HEAD: respond normally, the body is not sent */
    void *data;              /* free for the application's use */
};

struct bsn_http_server *bsn_http_server_new(struct bsn_loop *loop,
                                            const struct bsn_http_server_opts *opts,
                                            struct bsn_err *err);
/* The bound TCP port (useful with port 0), or 0 for a Unix socket. */
int bsn_http_server_port(const struct bsn_http_server *srv);
/* Number of open connections (tests, metrics). */
size_t bsn_http_server_conns(const struct bsn_http_server *srv);
/*
 * Graceful shutdown: stops accepting, closes idle keep-alive connections at once and every
 * other connection after its current response ("Connection: close"). Streams stay open until
 * the application ends them. Watch bsn_http_server_conns() reach 0, then free.
 */
void bsn_http_server_shutdown(struct bsn_http_server *srv);
/*
 * Closes the listener and every connection. Pending requests with an on_close callback get it;
 * all pending requests are freed, so nothing may respond to them afterwards.
 */
void bsn_http_server_free(struct bsn_http_server *srv);

/*
 * Hands the server a connection whose TLS handshake another component already completed (the
 * gateway terminates TLS itself and passes on the connections that negotiated ALPN "h2"). The
 * server owns fd and ssl from now on (also when it returns -1: then both were freed) and speaks
 * HTTP/2 on it if "h2" was selected, else HTTP/1.1. A server created with opts->listen == NULL
 * has no listener and serves only such connections.
 */
int bsn_http_server_adopt_tls(struct bsn_http_server *srv, int fd, SSL *ssl,
                              const struct sockaddr *sa);
/*
 * The general form: ssl may be NULL (a plain connection); h2 forces HTTP/2 (prior knowledge,
 * "h2c": the client starts with the connection preface); pre[0..pre_len) are bytes already
 * read from the connection (e.g. the preface), processed before anything else.
 */
int bsn_http_server_adopt(struct bsn_http_server *srv, int fd, SSL *ssl, const struct sockaddr *sa,
                          bool h2, const void *pre, size_t pre_len);

/* Value of the first header `name` (case-insensitive), or NULL. */
const char *bsn_http_req_header(const struct bsn_http_req *req, const char *name);
/*
 * Looks up query parameter `key` in req->query, percent-decodes it ('+' is a space) into
 * buf (NUL-terminated). Returns the decoded length (>= 0; "?watch" gives ""), -1 if the key is
 * absent, -2 if the value does not fit in bufsize or has a bad %-escape.
 */
int bsn_http_query_get(const struct bsn_http_req *req, const char *key, char *buf, size_t bufsize);
/* Percent-decodes s[0..n) into out (NUL-terminated). Returns length or -1 (bad escape/space). */
int bsn_http_percent_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t outsize);

/*
 * Identity from a verified TLS client certificate (see bsn_tls_server_verify_clients):
 * Kubernetes maps the subject CN to the user name and each O to a group. Copies the CN into
 * cn and the O values, comma-separated, into orgs. Returns 0, or -1 if the request did not
 * come with a certificate that verified against the configured CA (or the client is gone).
 */
int bsn_http_req_client_cert(const struct bsn_http_req *req, char *cn, size_t cnsz, char *orgs,
                             size_t orgsz);

/*
 * Adds a response header (before responding/streaming). Names must be tokens and values must
 * not contain CR/LF; invalid ones are dropped with a warning (no header injection).
 * Content-Length, Transfer-Encoding, Date and Connection are managed by the server.
 */
void bsn_http_req_add_header(struct bsn_http_req *req, const char *name, const char *value);
/* Asks for the connection to be closed after this response. */
void bsn_http_req_close_after(struct bsn_http_req *req);

/*
 * Sends a complete response with Content-Length and finishes the request. content_type may be
 * NULL (no Content-Type). body may be NULL when len is 0.
 */
void bsn_http_respond(struct bsn_http_req *req, int status, const char *content_type,
                      const void *body, size_t len);

/*
 * Called if the client goes away (or is dropped as too slow) before the request is finished.
 * The callback runs from the loop (never inside a server call made by the application); after
 * it returns the request is freed and must not be used.
 */
void bsn_http_req_on_close(struct bsn_http_req *req, bsn_http_close_cb cb, void *data);

/* Starts a chunked streaming response (Connection: close framing for HTTP/1.0 clients). */
int bsn_http_stream_start(struct bsn_http_req *req, int status, const char *content_type);
/*
 * Queues one chunk (len 0 is a no-op). Chunks queued during one loop iteration are written
 * together after the iteration's events (one syscall for a burst of watch events). Returns 0,
 * or -1 when the client is gone or too slow; in that case on_close will fire from the loop,
 * the caller just stops writing.
 */
int bsn_http_stream_write(struct bsn_http_req *req, const void *data, size_t len);
/* Bytes of this stream still buffered in the server (for callers that want to throttle). */
size_t bsn_http_stream_pending(const struct bsn_http_req *req);
/* Ends the stream (last-chunk) and finishes the request. */
void bsn_http_stream_end(struct bsn_http_req *req);

/*
 * Protocol upgrade (WebSocket, gateway pass-through). Sends the status line with `status`
 * (normally 101, with headers added by bsn_http_req_add_header) unless status is 0 (the caller
 * sends its own response bytes), then detaches the connection from the server: the loop no
 * longer watches the fd and the caller owns everything in *out. Finishes the request.
 * Returns 0, or -1 if the client is already gone.
 */
struct bsn_http_upgraded {
    int fd;
    SSL *ssl; /* NULL for plain TCP; caller frees with SSL_free */
    char *in; /* bytes already read after the request head (caller frees) */
    size_t in_len;
    char *out; /* response bytes not yet written: send these first (caller frees) */
    size_t out_len;
};
int bsn_http_req_upgrade(struct bsn_http_req *req, int status, struct bsn_http_upgraded *out);

#endif
