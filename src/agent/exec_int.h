/*
 * exec_int.h - internal to exec.c / exec_pf.c: the upgraded WebSocket connection shared by
 * the exec/attach sessions and port-forwarding (bounded input and output buffers, TLS or
 * plain, the remotecommand decoder).
 */
#ifndef BSN_AGENT_EXEC_INT_H
#define BSN_AGENT_EXEC_INT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/exec.h"
#include "base/buf.h"
#include "http/server.h"
#include "http/websocket.h"
#include "loop/loop.h"

#define RC_IN_MAX   ((1u << 20) + (64u << 10)) /* one maximal message plus slack */
#define RC_OUT_HIGH (256u << 10)               /* stop reading the process above this */
#define RC_OUT_LOW  (64u << 10)                /* and resume below this */

struct rc_conn_ops {
    bsn_rc_cb on_msg;         /* a decoded message (return non-zero to stop decoding) */
    void (*on_drain)(void *); /* output fell below RC_OUT_LOW */
    void (*on_gone)(void *);  /* the connection is closed (client gone, or finished) */
};

struct rc_conn {
    struct bsn_loop *loop;
    int fd; /* -1 once closed */
    SSL *ssl;
    struct bsn_buf in, out;
    struct bsn_rc_decoder dec;
    unsigned events;
    bool finishing;        /* close frame queued: close once out is written */
    bool read_paused;      /* the owner cannot take more input now */
    bool want_write;       /* TLS read needs the socket writable */
    bool plain;            /* SPDY upgrade: no WebSocket framing, every byte is RAW */
    struct bsn_timer kick; /* rc_conn_resume */
    const struct rc_conn_ops *ops;
    void *ud;
};

/* Takes over an upgraded connection (fd, ssl and buffers of up). 0 or -1. */
int rc_conn_init(struct rc_conn *c, struct bsn_loop *loop, struct bsn_http_upgraded *up,
                 int version, enum bsn_rc_mode mode, const struct rc_conn_ops *ops, void *ud);
void rc_conn_close(struct rc_conn *c);
void rc_conn_update(struct rc_conn *c);
/* Queue a channel message / a raw WebSocket frame (server side, unmasked). */
void rc_conn_send(struct rc_conn *c, int channel, const void *data, size_t len);
void rc_conn_send_raw(struct rc_conn *c, enum bsn_ws_opcode op, const void *data, size_t len);
/* Writes what the socket takes; -1 if the connection ended (on_gone ran). */
int rc_conn_flush(struct rc_conn *c);
void rc_conn_finish(struct rc_conn *c, uint16_t code, const char *reason);
void rc_conn_resume(struct rc_conn *c);

/* An error response (Kubernetes Status JSON) before any upgrade; finishes req. */
void rc_reply_status(struct bsn_http_req *req, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* SPDY/3.1 upgrade (kubectl < 1.30, and < 1.31 for port-forward): picks the first of protos
 * the client offers in X-Stream-Protocol-Version, answers 101 and hands the connection over.
 * -1 when it answered an error (403: no common protocol). */
int rc_spdy_accept(struct bsn_http_req *req, const char *const *protos, const char **chosen,
                   struct bsn_http_upgraded *up);

/* exec_pf.c */
struct bsn_agent;
struct agent_pod;
void rc_portforward(struct bsn_agent *a, struct bsn_http_req *req, struct agent_pod *p);
/* Frees every port-forward and exec session (agent shutdown). */
void rc_portforward_close_all(struct bsn_agent *a);

#endif
