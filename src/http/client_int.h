/*
 * client_int.h - internal: URL parsing, request building and the incremental response reader
 * shared by the blocking fetch (fetch.c) and the async client (client.c).
 */
#ifndef BSN_HTTP_CLIENT_INT_H
#define BSN_HTTP_CLIENT_INT_H

#include <openssl/ssl.h>

#include "base/buf.h"
#include "http/client.h"

struct bsn_url {
    bool tls, unix_sock;
    char host[256]; /* without brackets */
    char port[8];
    char sock[108];
    char host_header[280];
    const char *path; /* points into the URL; "/" if empty */
};

/* Parses a URL (see client.h). Returns 0 or -1. */
int bsn_url_parse(const char *url, struct bsn_url *u);
/* Starts a non-blocking connect. Returns the fd (connect may still be in progress) or -1. */
int bsn_url_connect(const struct bsn_url *u);

/* Appends a request to out. */
void bsn_http_build_request(struct bsn_buf *out, const char *method, const char *path,
                            const char *host_header, const char *const *headers,
                            const char *content_type, const char *bearer, const void *body,
                            size_t body_len, bool keep_alive);

enum { RR_HEAD, RR_CL, RR_CHUNKED, RR_EOF, RR_DONE };

typedef int (*bsn_rr_sink)(void *ctx, const char *p, size_t n);

/* Incremental response reader. */
struct bsn_rreader {
    int st;
    bool head_request;
    struct bsn_buf in;
    int status;
    bool keep_alive;
    char *head;
    struct bsn_http_header *hdrs;
    size_t nhdrs;
    uint64_t need;
    struct bsn_http_chunked ch;
    size_t max_body;
    struct bsn_buf body;
    bsn_rr_sink sink; /* stream mode: body bytes go here instead of `body` */
    void *sink_ctx;
    const char *error;
};

void bsn_rr_init(struct bsn_rreader *r, bool head_request, size_t max_body);
void bsn_rr_fini(struct bsn_rreader *r);
/*
 * Processes r->in. Returns 1 when the response is complete, 0 when more input is needed,
 * -1 on a protocol error or body too large (r->error says which), -3 when the sink asked to
 * stop. With a sink, the sink is also called once with (NULL, 0) right after the head.
 */
int bsn_rr_process(struct bsn_rreader *r);
/* The peer closed: returns 1 if that completes the response (read-until-EOF body), else -1. */
int bsn_rr_eof(struct bsn_rreader *r);

#endif
