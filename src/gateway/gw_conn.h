/*
 * gw_conn.h - a proxied client connection and its upstream connection (proxy.c, proxy_resp.c,
 * accesslog.c). Internal.
 */
#ifndef BSN_GATEWAY_GW_CONN_H
#define BSN_GATEWAY_GW_CONN_H

#include "gateway/gw_worker.h"

#define GW_HEADER_TIMEOUT_MS 30000 /* a new connection must send a request head within */
#define GW_IDLE_TIMEOUT_MS   60000 /* keep-alive idle client connections */

/*
 * Socket calls on the hot path go straight to the kernel: the libc wrappers of recv/sendmsg
 * are pthread cancellation points and toggle async-cancel state around every call (about 2%
 * of the proxy's CPU). Nothing in the gateway uses thread cancellation.
 */
#include <sys/syscall.h>
#include <unistd.h>

static inline ssize_t
gw_sys_recv(int fd, void *buf, size_t len)
{
    return syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
}

static inline ssize_t
gw_sys_sendmsg(int fd, const struct msghdr *mh)
{
    return syscall(SYS_sendmsg, fd, mh, MSG_NOSIGNAL);
}

struct gw_sendq {
    char *buf;
    size_t len, off, cap;
};

static inline bool
gw_q_pending(const struct gw_sendq *q)
{
    return q->len > q->off;
}

struct gw_upconn {
    int fd;
    uint32_t host_id;
    struct gw_worker *w;
    struct gw_conn *c; /* NULL while idle in the pool */
    struct gw_upconn *next;
    bool connected, reused;
    uint64_t idle_since;
    struct gw_sendq q;
};

enum gw_cstate { C_HEAD, C_BODY, C_WAIT, C_TUNNEL, C_CLOSING };
enum gw_ustate { U_NONE, U_CONNECTING, U_HEAD, U_BODY, U_DONE };
enum gw_fail {
    GW_FAIL_CONNECT,
    GW_FAIL_CONNECT_TIMEOUT,
    GW_FAIL_RESET,
    GW_FAIL_TRY_TIMEOUT,
    GW_FAIL_TIMEOUT
};

struct gw_conn {
    /* --- reset on accept (everything before `in`) --- */
    int fd;
    struct gw_worker *w;
    struct sockaddr_storage peer;
    char peer_ip[46];
    enum gw_cstate state;
    enum gw_ustate ustate;
    bool keep_alive, closing, driving, aborted, is_head, host_counted;
    bool req_chunked, req_done, retryable, retried;
    bool resp_started, resp_keep_alive, resp_chunked_in, resp_chunked_out, resp_close_delim;
    struct gw_sendq q; /* pending bytes to the client */
    struct bsn_timer timer;
    struct bsn_timer retry_timer; /* back-off before a retry (proxy_resp.c) */
    uint64_t deadline, req_deadline;
    /* current request */
    size_t head_len, body_in_buf, pipe_off; /* pipelined bytes: in[pipe_off..in_len) */
    int64_t req_left, resp_left;
    struct bsn_http_chunked req_ch, resp_ch;
    struct gw_cfg_ref *cref;
    const struct gw_route *route;
    struct gw_backend *backend;
    int ep, attempts, status;
    struct gw_upconn *up;
    uint64_t start_ns, bytes_in, bytes_out;
    size_t up_len;
    struct gw_conn *next_free, *lprev, *lnext;
    struct gw_gzip *gzip; /* response compression in progress (compress.c) */
    bool cacheable, caching;
    struct ssl_st *ssl; /* TLS client connection (tls.c), NULL for plain HTTP */
    bool tls_want_write, tls_pend, handshaken;
    bool h2_tls;        /* an HTTP/2 stream relayed by h2front.c whose client used TLS */
    bool traced;        /* trace[] holds the traceparent sent upstream (otlp.c) */
    struct gw_agg *agg; /* aggregation in progress (aggregate.c) */
    bool conc_counted;  /* counted in the route's inflight (concurrency limit) */
    char trace[56];
    char parent_span[17]; /* the client's span id, "" when the trace started here */
    struct gw_conn *tls_next;
    size_t head_cache_len, cache_head_len;
    uint64_t cache_ttl_ms;
    /* --- kept across connections --- */
    struct bsn_buf uphead; /* upstream request head, kept for retries */
    struct bsn_buf head;   /* response head to the client */
    struct bsn_buf fwd;    /* extra request headers from filters (X-Auth-User, ...) */
    struct bsn_buf cache_key, cache_body;
    size_t in_len;
    struct bsn_http_request_head req;
    struct bsn_http_response_head resp;
    char in[GW_IN_CAP];
    char upin[GW_UP_CAP];
};

/* upstream.c: send queues and keep-alive pools */
void gw_q_append(struct gw_sendq *q, const void *p, size_t n);
/* Sends iov, queueing what the socket does not take; -1 when the peer is gone. */
int gw_q_send(int fd, struct gw_sendq *q, struct iovec *iov, int iovcnt);
int gw_q_flush(int fd, struct gw_sendq *q);
void gw_q_free(struct gw_sendq *q);
void gw_up_close(struct gw_worker *w, struct gw_upconn *u);
void gw_pool_unlink(struct gw_worker *w, struct gw_upconn *u);
/* Parks u in its endpoint's idle list (or closes it when the pool is full). */
void gw_pool_put(struct gw_worker *w, struct gw_upconn *u);
struct gw_upconn *gw_pool_get(struct gw_worker *w, uint32_t host_id);
/* proxy.c */
void gw_local_reply(struct gw_conn *c, int status, const char *extra_headers, const char *body);
void gw_local_reply_ct(struct gw_conn *c, int status, const char *ctype, const char *extra_headers,
                       const char *body, size_t blen);
/* aggregate.c: answers the request from several backends' JSON; cancel on abort */
struct gw_agg;
void gw_agg_start(struct gw_conn *c);
void gw_agg_cancel(struct gw_conn *c);
/* Local reply, or cutting the connection when the response has started. */
void gw_fail_reply(struct gw_conn *c, int status, const char *msg);
/* proxy_resp.c */
void gw_upstream_read(struct gw_conn *c);
/* Handles a failed attempt: retries when allowed, else answers 502/503/504. Returns -1. */
int gw_upstream_failed(struct gw_conn *c, enum gw_fail why);
/* Shared with proxy_resp.c */
int gw_proxy_retry(struct gw_conn *c);
void gw_proxy_finish(struct gw_conn *c);
void gw_proxy_interest(struct gw_conn *c);
void gw_up_discard(struct gw_conn *c);
/* header helpers (proxy_resp.c) */
bool gw_is_hop_header(struct bsn_str n);
bool gw_mod_drops(const struct gw_header_mod *m, struct bsn_str n);
void gw_put_mods(struct bsn_buf *b, const struct gw_header_mod *m);
/* compress.c */
bool gw_gzip_wanted(struct gw_conn *c);
int gw_gzip_start(struct gw_conn *c);
long gw_gzip_body(struct gw_conn *c, char *data, size_t len, bool last, struct iovec *pre,
                  int npre);
void gw_gzip_end(struct gw_conn *c);
/* True when the response being compressed uses brotli ("br") rather than gzip. */
bool gw_gzip_is_br(const struct gw_conn *c);
/* tls.c */
void *gw_tls_listener_ctx(void);
int gw_tls_accept(struct gw_conn *c, void *listener_ctx);
void gw_tls_free(struct gw_conn *c);
ssize_t gw_tls_read(struct gw_conn *c, char *buf, size_t len);
int gw_tls_flush(struct gw_conn *c);
bool gw_tls_pending(struct gw_conn *c);
/* Drives the handshake: 1 done, 0 in progress (want flags set), -1 failed. */
int gw_tls_handshake(struct gw_conn *c);
/* True when the handshake selected ALPN "h2". */
bool gw_tls_is_h2(struct gw_conn *c);
/* Offer "h2" in ALPN on TLS listeners (default: when built with nghttp2). */
void gw_tls_set_h2(bool on);
/* h2front.c: HTTP/2 client connections (owned from now on: fd and ssl), drain, teardown. */
int gw_h2_adopt(struct gw_worker *w, int fd, struct ssl_st *ssl, const struct sockaddr *peer,
                const void *pre, size_t pre_len);
/* tls.c: whether HTTP/2 is offered (ALPN h2, and h2c prior knowledge on plain listeners) */
bool gw_tls_h2_on(void);
void gw_h2_drain(struct gw_worker *w);
void gw_h2_fini(struct gw_worker *w);
/* upstream_tls.c: a socketpair end speaking plain HTTP to a TLS upstream (backendTLS) */
int gw_up_tls_open(struct gw_worker *w, const struct gw_endpoint *e, const struct gw_policy *p);
void gw_up_tls_fini(struct gw_worker *w);
/* proxy.c: a connected client socket (a socketpair end from h2front.c) as a connection. */
int gw_proxy_adopt(struct gw_worker *w, int fd, const struct sockaddr_storage *peer, bool https);
/* proxy.c: writes to the client, through TLS when the connection has it */
int gw_client_send(struct gw_conn *c, struct iovec *iov, int iovcnt);
/* mirror.c */
struct gw_mirror;
void gw_mirror_request(struct gw_conn *c);
void gw_mirror_fini(struct gw_worker *w);
/* cache.c */
bool gw_cache_request(struct gw_conn *c);
bool gw_cache_serve(struct gw_conn *c);
uint64_t gw_cache_ttl(struct gw_conn *c);
void gw_cache_capture_start(struct gw_conn *c, uint64_t ttl_ms);
void gw_cache_capture(struct gw_conn *c, const char *data, size_t len);
void gw_cache_capture_end(struct gw_conn *c, bool complete);
void gw_cache_free(struct gw_worker *w);
/* otlp.c: OTLP/HTTP JSON span export (see otlp.c) */
struct gw_otlp *gw_otlp_new(const char *endpoint);
int gw_otlp_start(struct gw_otlp *o);
void gw_otlp_free(struct gw_otlp *o);
void gw_otlp_flush(struct gw_worker *w);
void gw_otlp_span(struct gw_conn *c);
void gw_otlp_metrics(struct bsn_gw *gw, struct bsn_buf *out);
/* accesslog.c */
void gw_json_str(struct bsn_buf *b, const char *s, size_t n);
void gw_log_request(struct gw_conn *c);
void gw_log_flush(struct gw_worker *w);
/* gateway.c */
void gw_cfg_release(struct gw_worker *w, struct gw_cfg_ref *ref);

#endif
