/*
 * client_remote.h - internal: the glue between the client front end (client.c) and its remote
 * transport (client_remote.c). Not a public interface; see client.h.
 */
#ifndef BSN_API_CLIENT_REMOTE_H
#define BSN_API_CLIENT_REMOTE_H

#include "api/client.h"

struct client_remote;
struct remote_watch;

/* client.c: a client front end over a remote transport (takes r). */
struct bsn_client *client_wrap_remote(struct client_remote *r);

/* client_remote.c */
void client_remote_request(struct client_remote *r, const char *method, const char *path,
                           const char *content_type, const char *body, size_t len,
                           bsn_client_done_fn done, void *data);
/* Starts a watch for the handle w (allocated by client.c); the transport frees w when the
 * watch ends (after on_closed) or is stopped. */
struct remote_watch *client_remote_watch_start(struct client_remote *r, struct bsn_client_watch *w,
                                               const char *path, bsn_client_event_fn on_event,
                                               bsn_client_closed_fn on_closed, void *data);
/* Stops the watch without a callback; frees it and its handle. */
void client_remote_watch_stop(struct remote_watch *rw);
/* Stops every watch (no callbacks), drops queued requests, cancels calls in flight. */
void client_remote_free(struct client_remote *r);

#endif
