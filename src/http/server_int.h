/*
 * server_int.h - internal: the server object shared by listen.c (sockets, accept) and
 * server.c (connections and requests). Not part of the public API.
 */
#ifndef BSN_HTTP_SERVER_INT_H
#define BSN_HTTP_SERVER_INT_H

#include <sys/socket.h>

#include "http/server.h"

struct conn;
struct req_full;

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

#endif
