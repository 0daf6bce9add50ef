/*
 * client.h - an in-process client of the API server.
 *
 * Requests take exactly the path an HTTP request takes (routing, admission, validation, group
 * commit, watch) minus the socket, so controllers, the scheduler and the embedded node agent
 * see the same API a remote kubectl does. Everything runs on the API server's loop; callbacks
 * are always invoked from the loop, never from inside the call that started the request.
 */
#ifndef BSN_API_CLIENT_H
#define BSN_API_CLIENT_H

#include <jansson.h>
#include <stddef.h>

struct bsn_apiserver;
struct bsn_client;

struct bsn_client *bsn_client_new_local(struct bsn_apiserver *s);
/* Stops the client's watches (their closed callbacks do not fire) and frees it. Requests still
 * in flight complete without calling back. */
void bsn_client_free(struct bsn_client *cl);

/* Called once per request: HTTP status and the response body (borrowed, NUL-terminated). */
typedef void (*bsn_client_done_fn)(int status, const char *body, size_t len, void *data);

/*
 * Sends a request. path includes the query ("/api/v1/namespaces/default/pods?labelSelector=a").
 * content_type may be NULL for application/json. done may be NULL (fire and forget).
 */
void bsn_client_request(struct bsn_client *cl, const char *method, const char *path,
                        const char *content_type, const char *body, size_t len,
                        bsn_client_done_fn done, void *data);
/* Convenience: body is a JSON tree (borrowed). */
void bsn_client_request_json(struct bsn_client *cl, const char *method, const char *path,
                             const char *content_type, const json_t *body, bsn_client_done_fn done,
                             void *data);

/* A watch event: type "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR"; object borrowed. */
typedef void (*bsn_client_event_fn)(const char *type, json_t *object, void *data);
typedef void (*bsn_client_closed_fn)(int status, void *data);

struct bsn_client_watch;
/*
 * Starts a watch (path without "watch=1"; it is added). Events arrive in order; closed fires
 * once when the server ends the stream (timeout, 410 Expired: status 410) unless the watch was
 * stopped first.
 */
struct bsn_client_watch *bsn_client_watch(struct bsn_client *cl, const char *path,
                                          bsn_client_event_fn on_event,
                                          bsn_client_closed_fn on_closed, void *data);
void bsn_client_watch_stop(struct bsn_client_watch *w);

#endif
