/*
 * gw_grpc.h - gRPC pass-through: HTTP/2 client connections whose first request is gRPC are
 * proxied stream by stream to upstreams over HTTP/2 cleartext (h2c prior knowledge), with
 * bodies streamed under HTTP/2 flow control, and response headers and trailers relayed.
 * Internal to the gateway (h2sniff.c, h2grpc.c, h2upstream.c).
 */
#ifndef BSN_GATEWAY_GW_GRPC_H
#define BSN_GATEWAY_GW_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "loop/loop.h"

struct gw_worker;
struct ssl_st;

/* --- h2sniff.c: pure framing helpers (unit tested) --- */

enum gw_sniff { GW_SNIFF_MORE, GW_SNIFF_GRPC, GW_SNIFF_OTHER };
#define GW_SNIFF_CAP 81920 /* bytes held before the hand-over (what src/http takes as pre-read) */

/*
 * Looks at the first bytes a client sent on an HTTP/2 connection (the connection preface, then
 * frames) and decides whether its first request is gRPC (content-type application/grpc...).
 * The first SETTINGS ACK (of the gateway's empty SETTINGS) is removed from buf (*len shrinks,
 * *acked set). GW_SNIFF_MORE until the first HEADERS frame is complete and the ACK was seen,
 * then GRPC or OTHER (with the first request's :authority and :path in *req, which may be NULL,
 * for a routing decision). Anything unexpected (no preface, CONTINUATION, more than GW_SNIFF_CAP
 * bytes) is OTHER.
 */
struct gw_sniff_req {
    char authority[256], path[1024]; /* "" when absent or too long */
};
enum gw_sniff gw_grpc_sniff(uint8_t *buf, size_t *len, bool *acked, struct gw_sniff_req *req);

/* The gRPC status for an HTTP status answered without one (gRPC's HTTP-to-gRPC mapping). */
int gw_grpc_status_for_http(int http_status);

/* --- h2sniff.c: HTTP/2 connections (replaces the direct hand-over to h2front.c) --- */

/* Reads the first request of an HTTP/2 connection, then hands it to h2grpc.c or h2front.c. */
int gw_h2_sniff_adopt(struct gw_worker *w, int fd, struct ssl_st *ssl, const struct sockaddr *peer,
                      const void *pre, size_t pre_len);
void gw_h2_sniff_fini(struct gw_worker *w);
/* h2front.c: the HTTP/1.1-bridged HTTP/2 server (takes fd and ssl in all cases). */
int gw_h2_adopt_http(struct gw_worker *w, int fd, struct ssl_st *ssl, const struct sockaddr *peer,
                     const void *pre, size_t pre_len);

/* --- one proxied gRPC stream, shared by h2grpc.c (client side) and h2upstream.c --- */

struct gw_gfront;
struct gw_h2up;

struct gw_gcall {
    struct gw_worker *w;
    struct gw_gfront *f; /* client connection; NULL once the client stream is closed */
    int32_t fid;
    struct gw_h2up *u; /* upstream connection; NULL once the upstream stream is closed */
    int32_t uid;       /* -1 until submitted */
    struct gw_gcall *fnext, *unext; /* lists of the front and of the upstream connection */
    /* request headers "name\0value\0" (pseudo-headers rewritten at submit) */
    struct bsn_buf reqh;
    size_t nreqh;
    char *path, *authority, *method;
    bool grpc; /* content-type application/grpc...: failures are answered as gRPC statuses */
    /* request body: client DATA not yet taken by the upstream */
    struct bsn_buf req;
    size_t req_off;
    bool req_end, req_deferred;
    /* response */
    struct bsn_buf resph, trl; /* "name\0value\0" */
    size_t nresph, ntrl;
    int status;
    struct bsn_buf resp;
    size_t resp_off;
    bool resp_started, resp_end, resp_deferred;
    bool f_closed, u_closed; /* each side's stream closed (or never opened) */
    /* for metrics and the access log (the snapshot is held while the call lives) */
    struct gw_cfg_ref *cref;
    const struct gw_route *route;
    const struct gw_backend *backend; /* with ep: the endpoint (passive health, least request) */
    int ep;
    bool up_failed; /* connect error or reset before the answer: a gateway error (5xx) */
    char upstream[64], peer_ip[46];
    uint64_t start_ns, bytes_in, bytes_out;
};

/* Per-worker state (gw_worker.grpc, created on first use). */
struct gw_sniffer;
struct gw_grpc {
    struct gw_gfront *fronts;
    struct gw_h2up *ups;
    struct gw_sniffer *sniffs;
    struct bsn_timer kick; /* flushes connections marked dirty (frames to send) */
    bool kicked;
    bool dead; /* a connection is closed and waits to be freed by the kick */
};
struct gw_grpc *gw_grpc_state(struct gw_worker *w);

/* h2grpc.c */
int gw_grpc_front_adopt(struct gw_worker *w, int fd, struct ssl_st *ssl,
                        const struct sockaddr *peer, const void *pre, size_t pre_len);
/* Response headers from the upstream are in call->resph (trailers-only when ended). */
void gw_grpc_front_respond(struct gw_gcall *call);
/* More response bytes or the end (with trailers in call->trl) are available. */
void gw_grpc_front_resume(struct gw_gcall *call);
/* The upstream failed before answering: a trailers-only response with grpc-status. */
void gw_grpc_front_fail(struct gw_gcall *call, int grpc_status, const char *msg);
/* The upstream stream is closed: frees the call once the client side is closed too. */
void gw_grpc_call_upstream_closed(struct gw_gcall *call);
void gw_grpc_call_free(struct gw_gcall *call);
/* The upstream took n request bytes: opens the client's window by as much. */
void gw_grpc_front_consumed(struct gw_gcall *call, size_t n);
void gw_grpc_drain(struct gw_worker *w);
void gw_grpc_fini(struct gw_worker *w);
/* Schedules the per-worker flush of every connection with frames to send. */
void gw_grpc_kick(struct gw_worker *w);
/* After a flush of an HTTP/2 connection (either side): -1 when the session is finished (nothing
 * to read, write or send: close it), else re-arms fd for read, plus write while bytes are
 * pending (only when that changed since *ev). */
struct nghttp2_session;
int gw_h2_rearm(struct bsn_loop *loop, int fd, unsigned *ev, struct nghttp2_session *s,
                bool pending);

/* h2upstream.c */
/* Starts call on an h2c connection to the endpoint (reused per worker); <0: fails the call. */
int gw_h2up_start(struct gw_worker *w, struct gw_gcall *call, const struct sockaddr_storage *sa,
                  socklen_t salen, uint32_t host_id);
/* More request body (or its end) is available. */
void gw_h2up_resume(struct gw_gcall *call);
/* The client went away: resets the upstream stream. */
void gw_h2up_cancel(struct gw_gcall *call);
/* The client consumed n response bytes: opens the upstream window by as much. */
void gw_h2up_consumed(struct gw_gcall *call, size_t n);
/* Sends pending frames of the upstream connections marked dirty. */
void gw_h2up_flush_all(struct gw_worker *w);
/* Frees closed upstream connections. */
void gw_h2up_free_dead(struct gw_worker *w);
/* Closes h2c connections without streams for GW_POOL_IDLE_MS (from the worker's sweep). */
void gw_h2up_sweep(struct gw_worker *w);
void gw_h2up_fini(struct gw_worker *w);

#endif
