/*
 * client.h - HTTP/1.1 client: a blocking one-shot fetch (CLI, tests, remote agent) and a
 * loop-based asynchronous client with keep-alive connection reuse and a streaming mode (watch
 * streams, health checks).
 *
 * URLs: "http://host:port/path?q", "https://host:port/path?q" (IPv6 as "[::1]:6443"), or
 * "unix:/run/bosun.sock:/path?q" (socket path, then the request path after the next ':').
 * Responses are read with the same strict parser as the server (parser.h); bodies are capped
 * (max_body) and chunked bodies are decoded.
 */
#ifndef BSN_HTTP_CLIENT_H
#define BSN_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "http/parser.h"
#include "loop/loop.h"

/* TLS and authentication settings shared by both clients. */
struct bsn_http_tls_opts {
    const char *ca_file;     /* verify the server against this CA (NULL = system CAs) */
    bool insecure;           /* skip verification (tests, --insecure-skip-tls-verify) */
    const char *client_cert; /* optional client certificate + key (PEM files) */
    const char *client_key;
};

struct bsn_http_fetch_opts {
    const char *url;
    const char *method;         /* default "GET", or "POST" when body is set */
    const char *const *headers; /* optional NULL-terminated "Name: value" strings */
    const void *body;
    size_t body_len;
    const char *content_type; /* Content-Type for the body */
    const char *bearer_token; /* adds "Authorization: Bearer <token>" */
    int timeout_ms;           /* whole exchange; default 30000 */
    size_t max_body;          /* response body cap; default 64 MiB */
    struct bsn_http_tls_opts tls;
};

struct bsn_http_fetch_result {
    int status;
    char *body; /* NUL-terminated */
    size_t body_len;
    char *head; /* raw response head; header names/values below point into it */
    struct bsn_http_header *headers;
    size_t nheaders;
};

/*
 * Performs one request on a fresh connection (Connection: close). Returns 0 with *res filled
 * for any HTTP status, or -1 with err set (code 502 for connection/protocol failures, 504 for
 * timeouts, 400 for a bad URL). Call bsn_http_fetch_result_fini() on success.
 */
int bsn_http_fetch(const struct bsn_http_fetch_opts *o, struct bsn_http_fetch_result *res,
                   struct bsn_err *err);
void bsn_http_fetch_result_fini(struct bsn_http_fetch_result *res);
/* Value of a response header (NUL-terminated, case-insensitive name), or NULL. */
const char *bsn_http_fetch_header(const struct bsn_http_fetch_result *res, const char *name);

/* ---- asynchronous client ---- */

struct bsn_http_client;
struct bsn_http_call;

struct bsn_http_client_opts {
    const char *base_url;     /* "https://127.0.0.1:6443", "http://[::1]:80", "unix:/path" */
    const char *bearer_token; /* added to every request */
    struct bsn_http_tls_opts tls;
    unsigned max_idle_conns;  /* kept-alive idle connections; default 4 */
    unsigned idle_timeout_ms; /* idle connection lifetime; default 30000 */
    size_t max_body;          /* buffered-mode body cap; default 64 MiB */
};

/* What a call delivers when it ends. */
struct bsn_http_client_resp {
    int status;                            /* 0 if the request failed before a response (see err) */
    const struct bsn_http_header *headers; /* NUL-terminated name/value views */
    size_t nheaders;
    const char *body; /* buffered mode: the whole body (NUL-terminated); stream mode: NULL */
    size_t body_len;
    const struct bsn_err *err; /* set when status == 0 or the stream broke */
};

typedef void (*bsn_http_done_cb)(const struct bsn_http_client_resp *resp, void *data);
/*
 * Stream mode: called with the response head first (data == NULL, len == 0), then with body
 * data as it arrives. With split_lines each call is one complete line including its '\n'
 * (lines are capped at max_body). Return 0 to continue, -1 to stop the stream (the done
 * callback is then not called).
 */
typedef int (*bsn_http_chunk_cb)(const struct bsn_http_client_resp *resp, const char *data,
                                 size_t len, void *cbdata);

struct bsn_http_call_opts {
    const char *method;         /* default GET, or POST with a body */
    const char *path;           /* "/api/v1/pods?watch=1" */
    const char *const *headers; /* optional NULL-terminated "Name: value" */
    const void *body;
    size_t body_len;
    const char *content_type;
    unsigned timeout_ms;        /* 0 = no deadline (watch); otherwise the whole call */
    bsn_http_chunk_cb on_chunk; /* non-NULL selects stream mode */
    bool split_lines;
    bsn_http_done_cb on_done; /* called once at the end (success, error or server EOF) */
    void *data;
};

struct bsn_http_client *bsn_http_client_new(struct bsn_loop *loop,
                                            const struct bsn_http_client_opts *o,
                                            struct bsn_err *err);
/* Cancels every call (no callbacks) and closes all connections. */
void bsn_http_client_free(struct bsn_http_client *c);

/*
 * Starts a call; callbacks run on the loop thread, never from inside this function. The
 * returned handle is valid until on_done runs, the chunk callback returns -1, or
 * bsn_http_call_cancel() is called.
 */
struct bsn_http_call *bsn_http_client_request(struct bsn_http_client *c,
                                              const struct bsn_http_call_opts *o);
/* Cancels a call: no more callbacks, the connection is closed. */
void bsn_http_call_cancel(struct bsn_http_call *call);

#endif
