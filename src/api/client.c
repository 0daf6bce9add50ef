/*
 * client.c - the in-process API client: a request context with a sink that hands the answer
 * (or the watch stream's lines) back through callbacks on the loop.
 */
#include "api/client.h"

#include <stdlib.h>
#include <string.h>

#include "api/client_remote.h"
#include "api/internal.h"
#include "base/mem.h"

struct bsn_client {
    struct bsn_apiserver *srv;
    struct bsn_client_watch *watches;
    struct local_req *inflight;
    struct client_remote *remote; /* the remote transport (client_remote.c); NULL = local */
};

struct local_req {
    struct req_ctx c; /* first: api_ctx_free hands us this pointer */
    struct bsn_client *cl;
    char *path, *query, *body, *ctype;
    bsn_client_done_fn done;
    void *data;
    struct local_req *next, *prev; /* in-flight list */
    /* the answer, delivered from a deferred callback */
    int status;
    char *answer;
    size_t answer_len;
    /* watch */
    struct bsn_client_watch *watch;
    struct bsn_buf partial;
};

struct bsn_client_watch {
    struct bsn_client *cl;
    struct local_req *lr;
    bsn_client_event_fn on_event;
    bsn_client_closed_fn on_closed;
    void *data;
    void (*close_cb)(void *data); /* the server side's close hook */
    void *close_data;
    bool ended, stopped;
    int status;
    struct bsn_client_watch *next, *prev;
    struct remote_watch *rw; /* remote transport: its watch (owns this handle) */
};

static void
unlink_req(struct local_req *lr)
{
    struct bsn_client *cl = lr->cl;
    if (!cl)
        return;
    if (lr->prev)
        lr->prev->next = lr->next;
    else if (cl->inflight == lr)
        cl->inflight = lr->next;
    if (lr->next)
        lr->next->prev = lr->prev;
    lr->next = lr->prev = NULL;
}

static void
local_release(struct req_ctx *c)
{
    struct local_req *lr = (struct local_req *)c;
    if (lr->answer)
        return; /* the deferred delivery frees it */
    unlink_req(lr);
    free(lr->path);
    free(lr->query);
    free(lr->body);
    free(lr->ctype);
    bsn_buf_fini(&lr->partial);
    free(lr);
}

static void
deliver(struct bsn_loop *loop, void *data)
{
    struct local_req *lr = data;
    if (lr->cl && lr->done)
        lr->done(lr->status, lr->answer, lr->answer_len, lr->data);
    free(lr->answer);
    lr->answer = NULL;
    local_release(&lr->c);
}

static void
local_add_header(struct req_ctx *c, const char *name, const char *value)
{
}

static void
local_respond(struct req_ctx *c, int status, const char *ctype, const char *body, size_t n)
{
    struct local_req *lr = (struct local_req *)c;
    lr->status = status;
    lr->answer = bsn_malloc(n + 1);
    memcpy(lr->answer, body, n);
    lr->answer[n] = '\0';
    lr->answer_len = n;
    bsn_loop_defer(c->srv->loop, deliver, lr);
}

static void
local_stream_start(struct req_ctx *c, int status, const char *ctype)
{
    struct local_req *lr = (struct local_req *)c;
    if (lr->watch)
        lr->watch->status = status;
}

static int
local_stream_write(struct req_ctx *c, const char *data, size_t n)
{
    struct local_req *lr = (struct local_req *)c;
    struct bsn_client_watch *w = lr->watch;
    if (!w || w->stopped)
        return -1;
    bsn_buf_append(&lr->partial, data, n);
    char *nl;
    while (lr->partial.len && (nl = memchr(lr->partial.data, '\n', lr->partial.len))) {
        size_t len = (size_t)(nl - lr->partial.data);
        json_t *ev = json_loadb(lr->partial.data, len, 0, NULL);
        bsn_buf_consume(&lr->partial, len + 1);
        if (!ev)
            continue;
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *obj = json_object_get(ev, "object");
        if (type && !strcmp(type, "ERROR"))
            w->status = (int)json_integer_value(json_object_get(obj, "code"));
        if (type && w->on_event && !w->stopped)
            w->on_event(type, obj, w->data);
        json_decref(ev);
        if (w->stopped)
            return -1;
    }
    return 0;
}

static int
local_stream_event(struct req_ctx *c, const char *type, json_t *obj)
{
    struct local_req *lr = (struct local_req *)c;
    struct bsn_client_watch *w = lr->watch;
    if (!w || w->stopped)
        return -1;
    if (w->on_event)
        w->on_event(type, obj, w->data);
    return w->stopped ? -1 : 0;
}

static void
watch_unlink(struct bsn_client_watch *w)
{
    struct bsn_client *cl = w->cl;
    if (!cl)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else if (cl->watches == w)
        cl->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

static void
closed_later(struct bsn_loop *loop, void *data)
{
    struct bsn_client_watch *w = data;
    if (!w->stopped && w->on_closed)
        w->on_closed(w->status ? w->status : 200, w->data);
    free(w);
}

static void
local_stream_end(struct req_ctx *c)
{
    struct local_req *lr = (struct local_req *)c;
    struct bsn_client_watch *w = lr->watch;
    if (!w)
        return;
    w->ended = true;
    w->lr = NULL;
    watch_unlink(w);
    bsn_loop_defer(c->srv->loop, closed_later, w);
}

static void
local_on_close(struct req_ctx *c, void (*cb)(void *data), void *data)
{
    struct local_req *lr = (struct local_req *)c;
    if (lr->watch) {
        lr->watch->close_cb = cb;
        lr->watch->close_data = data;
    }
}

static const struct api_sink_ops local_sink = {
    local_add_header, local_respond,  local_stream_start, local_stream_write,
    local_stream_end, local_on_close, local_release,      local_stream_event,
};

struct bsn_client *
bsn_client_new_local(struct bsn_apiserver *s)
{
    struct bsn_client *cl = bsn_calloc(1, sizeof(*cl));
    cl->srv = s;
    return cl;
}

static struct local_req *
make_req(struct bsn_client *cl, const char *method, const char *path, const char *ctype,
         const char *body, size_t len)
{
    struct local_req *lr = bsn_calloc(1, sizeof(*lr));
    lr->cl = cl;
    const char *q = strchr(path, '?');
    lr->path = q ? bsn_strndup(path, (size_t)(q - path)) : bsn_strdup(path);
    lr->query = bsn_strdup(q ? q + 1 : "");
    lr->ctype = bsn_strdup(ctype ? ctype : "application/json");
    if (body) {
        lr->body = bsn_malloc(len + 1);
        memcpy(lr->body, body, len);
        lr->body[len] = '\0';
    }
    bsn_buf_init(&lr->partial);
    struct req_ctx *c = &lr->c;
    c->sink = &local_sink;
    c->srv = cl->srv;
    c->method = method;
    c->path = lr->path;
    c->query = lr->query;
    c->body = lr->body;
    c->body_len = body ? len : 0;
    c->ctype = lr->ctype;
    c->accept = "application/json";
    c->verb = VERB_OTHER;
    lr->next = cl->inflight;
    if (cl->inflight)
        cl->inflight->prev = lr;
    cl->inflight = lr;
    return lr;
}

void
bsn_client_request(struct bsn_client *cl, const char *method, const char *path,
                   const char *content_type, const char *body, size_t len, bsn_client_done_fn done,
                   void *data)
{
    if (cl->remote) {
        client_remote_request(cl->remote, method, path, content_type, body, len, done, data);
        return;
    }
    struct local_req *lr = make_req(cl, method, path, content_type, body, len);
    lr->done = done;
    lr->data = data;
    api_handle(&lr->c);
}

void
bsn_client_request_json(struct bsn_client *cl, const char *method, const char *path,
                        const char *content_type, const json_t *body, bsn_client_done_fn done,
                        void *data)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    bsn_client_request(cl, method, path, content_type, s, s ? strlen(s) : 0, done, data);
    free(s);
}

struct bsn_client_watch *
bsn_client_watch_from(struct bsn_client *cl, const char *path, const char *rv,
                      bsn_client_event_fn on_event, bsn_client_closed_fn on_closed, void *data)
{
    char full[512];
    if (rv && rv[0])
        snprintf(full, sizeof(full), "%s?allowWatchBookmarks=true&resourceVersion=%s", path, rv);
    else
        snprintf(full, sizeof(full), "%s?allowWatchBookmarks=true", path);
    return bsn_client_watch(cl, full, on_event, on_closed, data);
}

struct bsn_client_watch *
bsn_client_watch(struct bsn_client *cl, const char *path, bsn_client_event_fn on_event,
                 bsn_client_closed_fn on_closed, void *data)
{
    struct bsn_client_watch *w = bsn_calloc(1, sizeof(*w));
    if (cl->remote) {
        w->rw = client_remote_watch_start(cl->remote, w, path, on_event, on_closed, data);
        return w;
    }
    w->cl = cl;
    w->on_event = on_event;
    w->on_closed = on_closed;
    w->data = data;
    w->next = cl->watches;
    if (cl->watches)
        cl->watches->prev = w;
    cl->watches = w;
    char *full = bsn_sprintf("%s%swatch=1", path, strchr(path, '?') ? "&" : "?");
    struct local_req *lr = make_req(cl, "GET", full, NULL, NULL, 0);
    free(full);
    lr->watch = w;
    w->lr = lr;
    api_handle(&lr->c);
    /* an immediate error answer (bad selector, ...) ends the watch */
    if (lr->answer && !w->ended) {
        w->status = lr->status;
        w->ended = true;
        w->lr = NULL;
        watch_unlink(w);
        lr->watch = NULL;
        bsn_loop_defer(cl->srv->loop, closed_later, w);
    }
    return w;
}

void
bsn_client_watch_stop(struct bsn_client_watch *w)
{
    if (w && w->rw) {
        client_remote_watch_stop(w->rw); /* frees w */
        return;
    }
    if (!w || w->stopped)
        return;
    w->stopped = true;
    if (w->ended)
        return; /* closed_later frees it */
    watch_unlink(w);
    struct local_req *lr = w->lr;
    w->lr = NULL;
    if (lr) {
        lr->watch = NULL;
        /* tell the server side the reader is gone: it frees the request */
        if (w->close_cb)
            w->close_cb(w->close_data);
    }
    free(w);
}

void
bsn_client_free(struct bsn_client *cl)
{
    if (!cl)
        return;
    if (cl->remote) {
        client_remote_free(cl->remote);
        free(cl);
        return;
    }
    while (cl->watches)
        bsn_client_watch_stop(cl->watches);
    for (struct local_req *lr = cl->inflight; lr; lr = lr->next)
        lr->cl = NULL; /* complete silently */
    free(cl);
}

struct bsn_client *
client_wrap_remote(struct client_remote *r)
{
    struct bsn_client *cl = bsn_calloc(1, sizeof(*cl));
    cl->remote = r;
    return cl;
}
