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
#include <stdbool.h>
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
/* The usual resumable watch: path (no query) with bookmarks, from resourceVersion rv when rv
 * is non-empty (the last one seen in a list, an event or a bookmark), else from now. */
struct bsn_client_watch *bsn_client_watch_from(struct bsn_client *cl, const char *path,
                                               const char *rv, bsn_client_event_fn on_event,
                                               bsn_client_closed_fn on_closed, void *data);

/* ---- remote transport (client_remote.c) ----
 *
 * The same client over HTTPS (or HTTP) to a real API server, for a standalone node agent.
 * Requests go over kept-alive HTTP/1.1 connections, at most BSN_CLIENT_REMOTE_MAX_INFLIGHT at
 * once (more wait in a queue, in order; requests on the wire may complete in any order, so
 * callers that need ordering wait for the answer); each watch holds its own connection and its
 * stream is parsed line by line (bsn_watch_parser below, lines capped at BSN_WATCH_LINE_MAX).
 * The callbacks keep the local semantics: always from the loop, never from inside the call that
 * started the request. A request that fails before an answer (connection refused, TLS error,
 * timeout after 30 s) completes with status 503 and a Status body saying why; a watch whose
 * connection fails or whose stream breaks is closed with status 503 (ERROR events set the
 * status as with the local client). Reconnecting is the caller's job, as with the local one.
 *
 * url: "https://host:port" (or "http://..."); token: bearer token (may be NULL); ca_file: PEM
 * file to verify the server with (NULL = the system CAs; a standalone agent takes it from
 * --ca-file or its kubeconfig's certificate-authority-data). NULL with err on a bad URL or
 * unreadable CA file.
 */
#include "base/err.h"
#include "loop/loop.h"

#define BSN_CLIENT_REMOTE_MAX_INFLIGHT 8
#define BSN_WATCH_LINE_MAX             (16u << 20)

struct bsn_client *bsn_client_new_remote(struct bsn_loop *loop, const char *url, const char *token,
                                         const char *ca_file, struct bsn_err *err);

/*
 * The watch stream parser: a stream of newline-separated JSON objects
 * {"type":"ADDED","object":{...}}. feed() hands each complete line's event to fn (type and
 * object borrowed; lines that are not such an object are skipped); an ERROR event's
 * object.code is kept in error_code. fn returns 0 to go on or -1 to stop (feed returns -1
 * at once). A line longer than max_line is an error: feed returns -2 and the parser stays
 * failed (the caller drops the stream). Exposed for tests and fuzzing.
 */
typedef int (*bsn_watch_event_fn)(const char *type, json_t *object, void *data);
struct bsn_watch_parser {
    char *buf;
    size_t len, cap, max_line;
    int error_code;
    bool failed;
    unsigned long events, skipped;
};
void bsn_watch_parser_init(struct bsn_watch_parser *p, size_t max_line);
void bsn_watch_parser_fini(struct bsn_watch_parser *p);
int bsn_watch_parser_feed(struct bsn_watch_parser *p, const char *data, size_t n,
                          bsn_watch_event_fn fn, void *fndata);

#endif
