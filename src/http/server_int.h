/*
 * server_int.h - internal: the server, connection and request objects shared by listen.c
 * (sockets, accept), server.c (HTTP/1.1 connections and the request API) and h2.c (HTTP/2
 * connections). Not part of the public API.
 */
#ifndef BSN_HTTP_SERVER_INT_H
#define BSN_HTTP_SERVER_INT_H

#include <sys/socket.h>

#include "base/buf.h"
#include "http/server.h"

struct conn;
struct req_full;
struct bsn_h2;
struct bsn_h2_stream;

#define IN_CAP         (BSN_HTTP_MAX_HEAD + 16384) /* bytes buffered before a head must parse */
#define OUT_SOFT_LIMIT (256 * 1024) /* stop starting new pipelined requests above this */
#define LINGER_MS      2000

enum cstate { C_HANDSHAKE, C_HEAD, C_BODY, C_HANDLING, C_LINGER, C_CLOSED };

struct req_full {
    struct bsn_http_req pub; /* first member: a bsn_http_req * is a req_full * */
    struct conn *conn;
    struct bsn_loop *loop;
    struct bsn_http_request_head head;
    char *head_buf;
    struct bsn_buf extra; /* extra response header lines */
    bsn_http_close_cb on_close;
    void *on_close_data;
    bool dispatched, finished, dead, defer_pending, close_after, streaming;
    /* dead, unfinished requests without on_close wait on the server's orphan list */
    struct bsn_http_server *orphan_of;
    struct req_full *oprev, *onext;
    struct bsn_h2_stream *h2s; /* HTTP/2 stream, NULL for HTTP/1.x */
};

struct conn {
    struct bsn_http_server *srv;
    struct conn *prev, *next;
    int fd;
    SSL *ssl;
    int refs;
    enum cstate st;
    bool closed, in_process, kick_pending, flush_pending, peer_eof, close_after_write, header_timer;
    unsigned read_want, write_want; /* readiness an SSL call asked for (0 = default) */
    struct bsn_buf in;
    struct bsn_buf out;
    size_t out_off;
    struct bsn_timer timer;
    struct req_full *req; /* request being read or handled */
    /* body reading */
    bool body_chunked;
    uint64_t body_need;
    struct bsn_http_chunked ch;
    struct bsn_buf body;
    char remote[64];
    struct bsn_h2 *h2; /* HTTP/2 session after ALPN "h2", else NULL */
};

struct bsn_http_server {
    struct bsn_loop *loop;
    int lfd;
    int port;
    char *unix_path;
    SSL_CTX *tls;
    size_t max_body;
    unsigned idle_timeout_ms, header_timeout_ms, max_conns;
    size_t max_stream_buffer;
    bsn_http_handler handler;
    void *handler_data;
    struct conn *conns;
    size_t nconns;
    struct req_full *orphans; /* client gone, application still owns the request */
    bool freeing;
    bool draining;                        /* bsn_http_server_shutdown() was called */
    struct bsn_http_request_head scratch; /* parse target, copied into each request */
};

/* Adopts an accepted non-blocking socket. */
void bsn_http_server_conn_new(struct bsn_http_server *srv, int fd, const struct sockaddr *sa);
/* Closes idle connections (graceful shutdown). */
void bsn_http_server_drain_conns(struct bsn_http_server *srv);
/* Closes every connection (server shutdown). */
void bsn_http_server_close_all(struct bsn_http_server *srv);
/* Sends a short error response with "Connection: close" and closes after it is written. */
void bsn_http_server_send_error(struct conn *c, int status);

/* Connection and request helpers (server.c). */
void bsn_srv_conn_ref(struct conn *c);
void bsn_srv_conn_unref(struct conn *c);
void bsn_srv_conn_close(struct conn *c);
void bsn_srv_conn_flush(struct conn *c);
void bsn_srv_conn_update(struct conn *c);
size_t bsn_srv_out_pending(const struct conn *c);
void bsn_srv_arm_timer(struct conn *c, unsigned ms);
void bsn_srv_free_req(struct req_full *r);
void bsn_srv_finish_req(struct req_full *r);
struct req_full *bsn_srv_make_req(struct conn *c, const struct bsn_http_request_head *h,
                                  const char *src, size_t head_len);
void bsn_srv_req_conn_gone(struct bsn_http_server *srv, struct req_full *r);

/* HTTP/2 (h2.c). */
/* Starts an HTTP/2 session on a connection whose TLS handshake selected "h2". */
int bsn_h2_start(struct conn *c);
/* Feeds c->in to the session, sends what it produced. May close the connection. */
void bsn_h2_io(struct conn *c);
/* The connection closed: every stream's request loses its connection; frees the session. */
void bsn_h2_conn_closed(struct conn *c);
/* Pulls pending frames from the session and writes them. */
void bsn_h2_send(struct conn *c);
/* Graceful shutdown: GOAWAY; the connection closes once its streams are done. */
void bsn_h2_drain(struct conn *c);
/* True if the session has frames to send that were not pulled yet (wants a writable event). */
bool bsn_h2_more(const struct conn *c);
/* True if the session has no open streams (idle). */
bool bsn_h2_idle(const struct conn *c);
void bsn_h2_respond(struct req_full *r, int status, const char *ctype, const void *body,
                    size_t len);
int bsn_h2_stream_start(struct req_full *r, int status, const char *ctype);
int bsn_h2_stream_write(struct req_full *r, const void *data, size_t len);
void bsn_h2_stream_end(struct req_full *r);
size_t bsn_h2_stream_pending(const struct req_full *r);

#endif
