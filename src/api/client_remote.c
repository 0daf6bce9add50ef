/*
 * client_remote.c - the remote transport of the API client (client.h): requests and watches
 * over the asynchronous HTTP/1.1 client (http/client.h) to a real API server, and the watch
 * stream parser.
 *
 * Requests: at most BSN_CLIENT_REMOTE_MAX_INFLIGHT on the wire (kept-alive connections from
 * the HTTP client's pool); the rest wait in a FIFO. Watches: one streaming call each; the body
 * goes through bsn_watch_parser (lines capped at BSN_WATCH_LINE_MAX), events are handed to the
 * caller as they are parsed. Everything runs on the loop; the HTTP client never calls back from
 * inside the call that started a request, so neither do we.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/client_remote.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/client.h"

#define REQ_TIMEOUT_MS 30000
#define ERR_BODY_MAX   (64u << 10)

struct rreq {
    struct client_remote *r;
    struct rreq *next, *prev;
    char *method, *path, *ctype, *body;
    size_t len;
    bsn_client_done_fn done;
    void *data;
    struct bsn_http_call *call;
};

struct remote_watch {
    struct client_remote *r;
    struct remote_watch *next, *prev;
    struct bsn_client_watch *handle; /* client.c's handle, freed with us */
    struct bsn_http_call *call;
    bsn_client_event_fn on_event;
    bsn_client_closed_fn on_closed;
    void *data;
    struct bsn_watch_parser parser;
    int status; /* of the response head; 0 until it arrived */
    bool in_cb, stopped;
};

struct client_remote {
    struct bsn_loop *loop;
    struct bsn_http_client *http;
    struct rreq *qhead, *qtail; /* waiting */
    struct rreq *inflight;      /* on the wire */
    unsigned ninflight;
    struct remote_watch *watches;
};

/* ---------------------------------------------------------------- the watch stream parser */

void
bsn_watch_parser_init(struct bsn_watch_parser *p, size_t max_line)
{
    memset(p, 0, sizeof(*p));
    p->max_line = max_line ? max_line : BSN_WATCH_LINE_MAX;
}

void
bsn_watch_parser_fini(struct bsn_watch_parser *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

/* One complete line (without its '\n'): 0 go on, -1 the callback asked to stop. */
static int
parse_line(struct bsn_watch_parser *p, const char *line, size_t n, bsn_watch_event_fn fn,
           void *fndata)
{
    while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    if (!n)
        return 0;
    json_t *ev = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        p->skipped++;
        json_decref(ev);
        return 0;
    }
    if (!strcmp(type, "ERROR")) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        p->error_code = code >= 100 && code <= 599 ? (int)code : 500;
    }
    p->events++;
    int rc = fn ? fn(type, obj, fndata) : 0;
    json_decref(ev);
    return rc < 0 ? -1 : 0;
}

int
bsn_watch_parser_feed(struct bsn_watch_parser *p, const char *data, size_t n, bsn_watch_event_fn fn,
                      void *fndata)
{
    if (p->failed)
        return -2;
    size_t off = 0;
    while (off < n) {
        const char *nl = memchr(data + off, '\n', n - off);
        size_t take = nl ? (size_t)(nl - (data + off)) : n - off;
        if (p->len + take > p->max_line) {
            p->failed = true;
            p->len = 0;
            return -2;
        }
        int rc = 0;
        if (nl && p->len == 0) {
            rc = parse_line(p, data + off, take, fn, fndata); /* whole line in this chunk */
        } else {
            if (p->len + take > p->cap) {
                size_t cap = p->cap ? p->cap : BSN_MIN((size_t)4096, p->max_line);
                while (cap < p->len + take)
                    cap = BSN_MIN(cap * 2, p->max_line);
                p->buf = bsn_realloc(p->buf, cap);
                p->cap = cap;
            }
            memcpy(p->buf + p->len, data + off, take);
            p->len += take;
            if (nl) {
                size_t len = p->len;
                p->len = 0;
                rc = parse_line(p, p->buf, len, fn, fndata);
            }
        }
        off += take + (nl ? 1 : 0);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- requests */

static void pump(struct client_remote *r);

static void
rreq_free(struct rreq *q)
{
    free(q->method);
    free(q->path);
    free(q->ctype);
    free(q->body);
    free(q);
}

static void
inflight_unlink(struct rreq *q)
{
    struct client_remote *r = q->r;
    if (q->prev)
        q->prev->next = q->next;
    else if (r->inflight == q)
        r->inflight = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->next = q->prev = NULL;
    r->ninflight--;
}

static void
req_done(const struct bsn_http_client_resp *resp, void *data)
{
    struct rreq *q = data;
    struct client_remote *r = q->r;
    q->call = NULL;
    inflight_unlink(q);
    pump(r); /* before the callback: it may free the client */
    if (!q->done) {
        rreq_free(q);
        return;
    }
    if (resp->status > 0) {
        q->done(resp->status, resp->body ? resp->body : "", resp->body ? resp->body_len : 0,
                q->data);
    } else {
        const char *why = resp->err && resp->err->msg[0] ? resp->err->msg : "no answer";
        json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion",
                               "v1", "metadata", "status", "Failure", "message", why, "reason",
                               "ServiceUnavailable", "code", 503);
        char *s = json_dumps(st, JSON_COMPACT);
        json_decref(st);
        q->done(503, s, strlen(s), q->data);
        free(s);
    }
    rreq_free(q);
}

static void
pump(struct client_remote *r)
{
    while (r->qhead && r->ninflight < BSN_CLIENT_REMOTE_MAX_INFLIGHT) {
        struct rreq *q = r->qhead;
        r->qhead = q->next;
        if (!r->qhead)
            r->qtail = NULL;
        q->next = r->inflight;
        q->prev = NULL;
        if (r->inflight)
            r->inflight->prev = q;
        r->inflight = q;
        r->ninflight++;
        static const char *const hdrs[] = {"Accept: application/json", NULL};
        struct bsn_http_call_opts o = {
            .method = q->method,
            .path = q->path,
            .headers = hdrs,
            .body = q->body,
            .body_len = q->len,
            .content_type = q->body ? q->ctype : NULL,
            .timeout_ms = REQ_TIMEOUT_MS,
            .on_done = req_done,
            .data = q,
        };
        q->call = bsn_http_client_request(r->http, &o);
    }
}

void
client_remote_request(struct client_remote *r, const char *method, const char *path,
                      const char *content_type, const char *body, size_t len,
                      bsn_client_done_fn done, void *data)
{
    struct rreq *q = bsn_calloc(1, sizeof(*q));
    q->r = r;
    q->method = bsn_strdup(method);
    q->path = bsn_strdup(path);
    q->ctype = bsn_strdup(content_type ? content_type : "application/json");
    if (body) {
        q->body = bsn_malloc(len + 1);
        memcpy(q->body, body, len);
        q->body[len] = '\0';
        q->len = len;
    }
    q->done = done;
    q->data = data;
    if (r->qtail)
        r->qtail->next = q;
    else
        r->qhead = q;
    r->qtail = q;
    pump(r);
}

/* ---------------------------------------------------------------- watches */

static void
watch_unlink(struct remote_watch *rw)
{
    struct client_remote *r = rw->r;
    if (!r)
        return;
    if (rw->prev)
        rw->prev->next = rw->next;
    else if (r->watches == rw)
        r->watches = rw->next;
    if (rw->next)
        rw->next->prev = rw->prev;
    rw->next = rw->prev = NULL;
    rw->r = NULL;
}

static void
watch_free(struct remote_watch *rw)
{
    bsn_watch_parser_fini(&rw->parser);
    free(rw->handle);
    free(rw);
}

/* The stream is over (the call is already finished): tell the caller and free. */
static void
watch_finish(struct remote_watch *rw, int status)
{
    rw->call = NULL;
    watch_unlink(rw);
    if (!rw->stopped && rw->on_closed)
        rw->on_closed(status, rw->data);
    watch_free(rw);
}

static int
watch_event(const char *type, json_t *obj, void *data)
{
    struct remote_watch *rw = data;
    if (rw->stopped)
        return -1;
    if (rw->on_event)
        rw->on_event(type, obj, rw->data);
    return rw->stopped ? -1 : 0;
}

static int
watch_chunk(const struct bsn_http_client_resp *resp, const char *data, size_t len, void *cbdata)
{
    struct remote_watch *rw = cbdata;
    if (!data) {
        rw->status = resp->status;
        return 0;
    }
    if (rw->status != 200)
        return 0; /* an error answer: its status closes the watch when it ends */
    rw->in_cb = true;
    int rc = bsn_watch_parser_feed(&rw->parser, data, len, watch_event, rw);
    rw->in_cb = false;
    if (rw->stopped) {
        watch_free(rw); /* unlinked by the stop; the call ends as we return -1 */
        return -1;
    }
    if (rc == -2) {
        bsn_warn("client", "watch: an event line exceeds %zu bytes; closing the stream",
                 rw->parser.max_line);
        watch_finish(rw, 500);
        return -1;
    }
    return 0;
}

static void
watch_done(const struct bsn_http_client_resp *resp, void *data)
{
    struct remote_watch *rw = data;
    int status;
    if (resp->status == 0 || rw->status == 0)
        status = 503; /* no answer: connection refused, TLS failure, ... */
    else if (rw->status != 200)
        status = rw->status;
    else if (rw->parser.error_code)
        status = rw->parser.error_code;
    else
        status = resp->err ? 503 : 200; /* a broken stream vs. the server ending it */
    watch_finish(rw, status);
}

struct remote_watch *
client_remote_watch_start(struct client_remote *r, struct bsn_client_watch *w, const char *path,
                          bsn_client_event_fn on_event, bsn_client_closed_fn on_closed, void *data)
{
    struct remote_watch *rw = bsn_calloc(1, sizeof(*rw));
    rw->r = r;
    rw->handle = w;
    rw->on_event = on_event;
    rw->on_closed = on_closed;
    rw->data = data;
    bsn_watch_parser_init(&rw->parser, BSN_WATCH_LINE_MAX);
    rw->next = r->watches;
    if (r->watches)
        r->watches->prev = rw;
    r->watches = rw;
    BSN_AUTOFREE char *full = bsn_sprintf("%s%swatch=1", path, strchr(path, '?') ? "&" : "?");
    static const char *const hdrs[] = {"Accept: application/json", NULL};
    struct bsn_http_call_opts o = {
        .method = "GET",
        .path = full,
        .headers = hdrs,
        .on_chunk = watch_chunk,
        .on_done = watch_done,
        .data = rw,
    };
    rw->call = bsn_http_client_request(r->http, &o);
    return rw;
}

void
client_remote_watch_stop(struct remote_watch *rw)
{
    if (!rw || rw->stopped)
        return;
    rw->stopped = true;
    watch_unlink(rw);
    if (rw->in_cb)
        return; /* watch_chunk frees it when the parser returns */
    if (rw->call)
        bsn_http_call_cancel(rw->call);
    rw->call = NULL;
    watch_free(rw);
}

/* ---------------------------------------------------------------- the client */

struct bsn_client *
bsn_client_new_remote(struct bsn_loop *loop, const char *url, const char *token,
                      const char *ca_file, struct bsn_err *err)
{
    if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))) {
        bsn_err_set(err, 400, "Invalid", "API server URL: expected https://HOST:PORT, not '%s'",
                    url ? url : "");
        return NULL;
    }
    struct bsn_http_client_opts o = {
        .base_url = url,
        .bearer_token = token && *token ? token : NULL,
        .tls = {.ca_file = ca_file},
        .max_idle_conns = BSN_CLIENT_REMOTE_MAX_INFLIGHT,
    };
    struct client_remote *r = bsn_calloc(1, sizeof(*r));
    r->loop = loop;
    r->http = bsn_http_client_new(loop, &o, err);
    if (!r->http) {
        bsn_err_prefix(err, "API client for %s", url);
        free(r);
        return NULL;
    }
    return client_wrap_remote(r);
}

void
client_remote_free(struct client_remote *r)
{
    while (r->watches)
        client_remote_watch_stop(r->watches);
    while (r->qhead) {
        struct rreq *q = r->qhead;
        r->qhead = q->next;
        rreq_free(q);
    }
    while (r->inflight) {
        struct rreq *q = r->inflight;
        inflight_unlink(q);
        if (q->call)
            bsn_http_call_cancel(q->call);
        rreq_free(q);
    }
    bsn_http_client_free(r->http);
    free(r);
}
