/*
 * apiserver.h - the Kubernetes API server: REST handlers over the resource registry, the
 * object cache with watches, group commit to the store, discovery and OpenAPI documents.
 *
 * It runs on one bsn_loop. Every write is validated against the cache, queued, and committed
 * with the other writes of the same loop iteration in one store transaction (group commit);
 * responses and watch events go out only after that commit is durable.
 */
#ifndef BSN_API_APISERVER_H
#define BSN_API_APISERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "loop/loop.h"

struct bsn_store;
struct bsn_apiserver;

struct bsn_apiserver_opts {
    const char *listen;   /* "127.0.0.1:6443" */
    const char *tls_cert; /* NULL = plain HTTP */
    const char *tls_key;
    const char *token;             /* admin bearer token; NULL = no authentication */
    struct bsn_store *store;       /* borrowed; must outlive the server */
    const char *advertise_address; /* address of the `kubernetes` Service endpoint */
    int advertise_port;
    size_t watch_window; /* events kept for watch resumption; 0 = 10000 */
    size_t max_body;     /* request body limit; 0 = 3 MiB */
    /* ClusterIP range, IPv4 /12 to /24; NULL = "10.43.0.0/16". Its .1 is the `kubernetes`
     * Service and .10 cluster DNS (bsn_service_ip). */
    const char *service_cidr;
};

/* The service CIDR's address number index ("10.43.0.0/16", 10 -> "10.43.0.10"); -1 if the CIDR
 * is invalid (NULL = the default). */
int bsn_service_ip(const char *service_cidr, unsigned index, char *out, size_t n);

struct bsn_apiserver *bsn_apiserver_new(struct bsn_loop *loop,
                                        const struct bsn_apiserver_opts *opts, struct bsn_err *err);
void bsn_apiserver_free(struct bsn_apiserver *s);
/* Port actually bound (for listen port 0). */
int bsn_apiserver_port(const struct bsn_apiserver *s);

/*
 * Pod subresources served by a node agent (pods/log today; exec, attach and portforward
 * later). The handler answers through the bsn_api_reply functions below, at once or later
 * from the loop; exactly one of reply_error / reply_body / stream_end finishes the request.
 */
struct bsn_api_reply;
typedef void (*bsn_api_subresource_fn)(struct bsn_api_reply *r, const char *ns, const char *pod,
                                       const char *sub, void *data);
void bsn_apiserver_set_pod_handler(struct bsn_apiserver *s, const char *sub,
                                   bsn_api_subresource_fn fn, void *data);
/* Query parameter of the request (percent-decoded); false if absent. */
bool bsn_api_reply_query(struct bsn_api_reply *r, const char *name, char *out, size_t n);
void bsn_api_reply_error(struct bsn_api_reply *r, int code, const char *reason, const char *msg);
void bsn_api_reply_body(struct bsn_api_reply *r, int status, const char *ctype, const char *body,
                        size_t n);
void bsn_api_stream_start(struct bsn_api_reply *r, const char *ctype);
/* -1 once the client is gone (the close callback follows from the loop). */
int bsn_api_stream_write(struct bsn_api_reply *r, const char *data, size_t n);
void bsn_api_stream_end(struct bsn_api_reply *r);
/* cb fires if the client goes away before the stream ends; r is dead afterwards. */
void bsn_api_reply_on_close(struct bsn_api_reply *r, void (*cb)(void *data), void *data);
/*
 * Streaming subresources (exec, attach, portforward; api/stream.c). Before the handler runs,
 * the API server has checked that the pod exists and is bound to a node and that ?container=
 * names one of its containers (or the pod has exactly one). bsn_api_reply_http_req() peeks at
 * the HTTP request behind r; bsn_api_reply_take_http_req() hands it over: r is freed, and the
 * caller finishes the request itself (bsn_http_req_upgrade, bsn_ws_server_accept or
 * bsn_http_respond). Both return NULL (and take nothing) for in-process requests.
 */
struct bsn_http_req;
struct bsn_http_req *bsn_api_reply_http_req(struct bsn_api_reply *r);
struct bsn_http_req *bsn_api_reply_take_http_req(struct bsn_api_reply *r);

#endif
