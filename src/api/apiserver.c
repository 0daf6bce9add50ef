/*
 * apiserver.c - the API server object: loads the cache from the store, serves HTTP(S),
 * authenticates the bearer token, runs compaction and watch bookmarks on timers.
 */
#include "api/apiserver.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "base/hostaddr.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/tls.h"
#include "store/store.h"

struct load_ctx {
    struct bsn_apiserver *s;
    size_t n, bad;
};

static int
load_one(const struct bsn_store_kv *kv, void *data)
{
    struct load_ctx *lc = data;
    json_t *tree = json_loadb(kv->value, kv->value_len, 0, NULL);
    if (!tree) {
        lc->bad++;
        return 0;
    }
    struct bsn_obj *o = bsn_obj_new(kv->key, tree, kv->mod_rev, kv->create_rev);
    bsn_cache_load(&lc->s->cache, o);
    bsn_obj_unref(o);
    json_decref(tree);
    lc->n++;
    return 0;
}

/* Replays recent history into the watch window so watches can resume across restarts. */
struct replay_ctx {
    struct bsn_apiserver *s;
};

static int
replay_one(const struct bsn_store_event *ev, void *data)
{
    struct replay_ctx *rc = data;
    struct bsn_cache *c = &rc->s->cache;
    json_t *tree = json_loadb(ev->kv.value, ev->kv.value_len, 0, NULL);
    if (!tree)
        return 0;
    struct bsn_obj *o = bsn_obj_new(ev->kv.key, tree, ev->kv.mod_rev, ev->kv.create_rev);
    json_decref(tree);
    struct bsn_event *e = bsn_calloc(1, sizeof(*e));
    e->refs = 1;
    e->type = ev->type == BSN_STORE_EV_DELETE ? BSN_EV_DELETED
              : ev->created                   ? BSN_EV_ADDED
                                              : BSN_EV_MODIFIED;
    e->rev = ev->kv.mod_rev;
    e->obj = o;
    if (ev->prev) {
        json_t *pt = json_loadb(ev->prev->value, ev->prev->value_len, 0, NULL);
        if (pt) {
            e->prev = bsn_obj_new(ev->prev->key, pt, ev->prev->mod_rev, ev->prev->create_rev);
            json_decref(pt);
        }
    }
    if (c->ring_len == c->ring_cap) {
        bsn_event_unref(c->ring[c->ring_head]);
        c->ring_head = (c->ring_head + 1) % c->ring_cap;
        c->ring_len--;
    }
    c->ring[(c->ring_head + c->ring_len) % c->ring_cap] = e;
    c->ring_len++;
    return 0;
}

/* ---- the HTTP sink: answers go to the connection ---- */

static void
http_add_header(struct req_ctx *c, const char *name, const char *value)
{
    bsn_http_req_add_header(c->req, name, value);
}

static void
http_respond(struct req_ctx *c, int status, const char *ctype, const char *body, size_t n)
{
    bsn_http_respond(c->req, status, ctype, body, n);
}

static void
http_stream_start(struct req_ctx *c, int status, const char *ctype)
{
    bsn_http_stream_start(c->req, status, ctype);
}

static int
http_stream_write(struct req_ctx *c, const char *data, size_t n)
{
    return bsn_http_stream_write(c->req, data, n);
}

static void
http_stream_end(struct req_ctx *c)
{
    bsn_http_stream_end(c->req);
    free(c->sink_data); /* the close hook: it can no longer fire */
    c->sink_data = NULL;
}

struct close_hook {
    struct req_ctx *c;
    void (*cb)(void *data);
    void *data;
};

static void
http_closed(struct bsn_http_req *req, void *data)
{
    struct close_hook h = *(struct close_hook *)data;
    h.c->sink_data = NULL;
    free(data);
    h.cb(h.data);
}

static void
http_on_close(struct req_ctx *c, void (*cb)(void *data), void *data)
{
    struct close_hook *h = bsn_malloc(sizeof(*h));
    h->c = c;
    h->cb = cb;
    h->data = data;
    c->sink_data = h;
    bsn_http_req_on_close(c->req, http_closed, h);
}

const struct api_sink_ops api_http_sink = {
    http_add_header,   http_respond,    http_stream_start,
    http_stream_write, http_stream_end, http_on_close,
};

struct req_ctx *
api_req_ctx_http(struct bsn_apiserver *s, struct bsn_http_req *req)
{
    struct req_ctx *c = bsn_calloc(1, sizeof(*c));
    c->srv = s;
    c->req = req;
    c->sink = &api_http_sink;
    c->method = req->method;
    c->path = req->path;
    c->query = req->query;
    c->body = req->body;
    c->body_len = req->body_len;
    c->ctype = bsn_http_req_header(req, "content-type");
    c->accept = bsn_http_req_header(req, "accept");
    return c;
}

static void
on_request(struct bsn_http_req *req, void *data)
{
    struct bsn_apiserver *s = data;
    struct req_ctx *c = api_req_ctx_http(s, req);
    c->start_ns = bsn_mono_ns();
    c->verb = VERB_OTHER;
    bsn_http_req_add_header(req, "Cache-Control", "no-cache, private");
    if (s->token) {
        const char *auth = bsn_http_req_header(req, "authorization");
        bool public_path = !strcmp(c->path, "/healthz") || !strcmp(c->path, "/livez") ||
                           !strcmp(c->path, "/readyz") || !strcmp(c->path, "/version");
        bool ok = auth && !strncmp(auth, "Bearer ", 7) && !strcmp(auth + 7, s->token);
        if (!ok && !public_path) {
            api_reply_status(c, 401, "Unauthorized", "Unauthorized");
            return;
        }
    }
    api_handle(c);
}

static void
on_compact(struct bsn_loop *loop, void *data)
{
    struct bsn_apiserver *s = data;
    if (s->inflight) {
        /* the writer thread owns the store during a commit */
        bsn_timer_start(loop, &s->compact_timer, 100, on_compact, s);
        return;
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    /* keep at least the watch window's worth of history */
    int rc = bsn_store_maybe_compact(s->store, (int64_t)s->cache.ring_cap + 1000, &err);
    if (rc < 0)
        bsn_warn("apiserver", "compaction: %s", err.msg);
    bsn_timer_start(loop, &s->compact_timer, rc > 0 ? 50 : 5000, on_compact, s);
}

static void
on_bookmark(struct bsn_loop *loop, void *data)
{
    struct bsn_apiserver *s = data;
    api_watch_bookmarks(s);
    bsn_timer_start(loop, &s->bookmark_timer, 30000, on_bookmark, s);
}

struct bsn_apiserver *
bsn_apiserver_new(struct bsn_loop *loop, const struct bsn_apiserver_opts *opts, struct bsn_err *err)
{
    struct bsn_apiserver *s = bsn_calloc(1, sizeof(*s));
    s->loop = loop;
    s->store = opts->store;
    s->token = opts->token ? bsn_strdup(opts->token) : NULL;
    s->max_body = opts->max_body ? opts->max_body : 3 * 1024 * 1024;
    s->advertise_address =
        bsn_strdup(opts->advertise_address ? opts->advertise_address : "127.0.0.1");
    s->advertise_port = opts->advertise_port ? opts->advertise_port : 6443;
    const char *cidr = opts->service_cidr ? opts->service_cidr : "10.43.0.0/16";
    if (bsn_cidr4_parse(cidr, 12, 24, &s->svc_net, &s->svc_prefix) < 0) {
        bsn_err_set(err, 400, "BadRequest",
                    "service CIDR %s: want an IPv4 network address with a prefix of /12 to /24",
                    cidr);
        free(s->advertise_address);
        free(s->token);
        free(s);
        return NULL;
    }
    s->svc_size = 1u << (32 - s->svc_prefix);
    snprintf(s->svc_cidr, sizeof(s->svc_cidr), "%s", cidr);
    s->started_ms = bsn_mono_ms();
    bsn_map_init(&s->overlay);
    bsn_timer_init(&s->compact_timer);
    bsn_timer_init(&s->bookmark_timer);
    size_t window = opts->watch_window ? opts->watch_window : 10000;
    bsn_cache_init(&s->cache, window);
    srand((unsigned)time(NULL) ^ (unsigned)(uintptr_t)s);

    struct load_ctx lc = {s, 0, 0};
    if (bsn_store_list(s->store, "", NULL, 0, load_one, &lc, err) < 0) {
        bsn_err_prefix(err, "loading objects");
        bsn_apiserver_free(s);
        return NULL;
    }
    int64_t cur = bsn_store_current_rev(s->store);
    if (cur > s->cache.rev)
        s->cache.rev = cur;
    int64_t from = cur - (int64_t)window;
    if (from < bsn_store_compact_rev(s->store))
        from = bsn_store_compact_rev(s->store);
    if (from < 0)
        from = 0;
    struct replay_ctx rc = {s};
    struct bsn_err e2;
    bsn_err_clear(&e2);
    if (cur > 0 && bsn_store_events_since(s->store, from, replay_one, &rc, &e2) < 0)
        bsn_warn("apiserver", "watch history not restored: %s", e2.msg);
    if (lc.bad)
        bsn_warn("apiserver", "%zu stored objects could not be decoded", lc.bad);
    api_alloc_rebuild(s);
    api_bootstrap(s);
    api_writer_start(s);

    SSL_CTX *tls = NULL;
    if (opts->tls_cert) {
        /* HTTP/1.1 only: large HTTP/2 responses stall in src/http/h2.c (see docs/api.md) */
        static const char *const alpn[] = {"http/1.1", NULL};
        tls = bsn_tls_server_ctx(opts->tls_cert, opts->tls_key, alpn, err);
        if (!tls) {
            bsn_apiserver_free(s);
            return NULL;
        }
    }
    struct bsn_http_server_opts ho = {
        .listen = opts->listen ? opts->listen : "127.0.0.1:6443",
        .tls = tls,
        .max_body = s->max_body,
        .handler = on_request,
        .data = s,
    };
    s->http = bsn_http_server_new(loop, &ho, err);
    if (tls)
        SSL_CTX_free(tls);
    if (!s->http) {
        bsn_err_prefix(err, "listen on %s", ho.listen);
        bsn_apiserver_free(s);
        return NULL;
    }
    bsn_timer_start(loop, &s->compact_timer, 5000, on_compact, s);
    bsn_timer_start(loop, &s->bookmark_timer, 30000, on_bookmark, s);
    bsn_info("apiserver", "serving on %s (%zu objects, revision %lld)", ho.listen, lc.n,
             (long long)s->cache.rev);
    return s;
}

int
bsn_apiserver_port(const struct bsn_apiserver *s)
{
    return bsn_http_server_port(s->http);
}

void
bsn_apiserver_free(struct bsn_apiserver *s)
{
    if (!s)
        return;
    api_commit_now(s);
    api_writer_stop(s);
    api_watch_close_all(s);
    bsn_timer_stop(s->loop, &s->compact_timer);
    bsn_timer_stop(s->loop, &s->bookmark_timer);
    if (s->http)
        bsn_http_server_free(s->http);
    bsn_cache_fini(&s->cache);
    bsn_map_fini(&s->overlay);
    size_t it = 0;
    void *val;
    while (bsn_map_next(&s->metrics.by_resource, &it, NULL, &val))
        free(val);
    bsn_map_fini(&s->metrics.by_resource);
    free(s->svc_ips);
    free(s->node_ports);
    free(s->token);
    free(s->advertise_address);
    free(s->batch);
    free(s);
}
