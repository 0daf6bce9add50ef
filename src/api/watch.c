/*
 * watch.c - watch streams: initial state, resumption from a resourceVersion inside the watch
 * window (410 Expired outside it), selector transitions (an object that stops matching is
 * sent as DELETED, one that starts matching as ADDED, as upstream does), Table watches,
 * bookmarks and timeouts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/log.h"
#include "base/mem.h"

struct watch_conn {
    struct bsn_watcher w;
    struct req_ctx *c;
    struct api_filter *f;
    bool table, bookmarks, sent_columns, convert, closed;
    int64_t last_rev;
    struct bsn_timer timeout;
    struct watch_conn *next, *prev;
};

static void
unlink_conn(struct bsn_apiserver *s, struct watch_conn *wc)
{
    if (wc->prev)
        wc->prev->next = wc->next;
    else if (s->watches == wc)
        s->watches = wc->next;
    if (wc->next)
        wc->next->prev = wc->prev;
    wc->next = wc->prev = NULL;
}

static void
conn_free(struct watch_conn *wc, bool end_stream)
{
    struct bsn_apiserver *s = wc->c->srv;
    bsn_cache_unwatch(&s->cache, &wc->w);
    bsn_timer_stop(s->loop, &wc->timeout);
    unlink_conn(s, wc);
    s->metrics.watchers--;
    if (end_stream)
        wc->c->sink->stream_end(wc->c);
    api_filter_free(wc->f);
    free(wc->w.rkey);
    api_ctx_free(wc->c);
    free(wc);
}

static void
on_client_close(void *data)
{
    conn_free(data, false);
}

static void
send_line(struct watch_conn *wc, const char *line, size_t len)
{
    if (wc->closed)
        return;
    if (wc->c->sink->stream_write(wc->c, line, len) < 0)
        wc->closed = true; /* on_close will follow from the loop */
}

static void
send_event(struct watch_conn *wc, enum bsn_event_type type, struct bsn_event *e,
           struct bsn_obj *obj)
{
    if (!wc->table && !wc->convert && e && e->tree && type == e->type && obj == e->obj &&
        wc->c->sink->stream_event) {
        /* an in-process reader shares the published tree: nothing to serialize or parse */
        if (!wc->closed && wc->c->sink->stream_event(wc->c, bsn_event_type_name(type), e->tree) < 0)
            wc->closed = true;
        return;
    }
    if (!wc->table && !wc->convert && e && type == e->type && obj == e->obj) {
        size_t len;
        const char *line = bsn_event_line(e, &len);
        send_line(wc, line, len);
        return;
    }
    json_t *tree = bsn_obj_tree(obj);
    api_convert_out(tree, wc->c->res);
    json_t *payload;
    if (wc->table) {
        char rv[32];
        snprintf(rv, sizeof(rv), "%lld", (long long)obj->rev);
        payload = api_table_from_trees(wc->c->res, &tree, 1, rv, !wc->sent_columns);
        wc->sent_columns = true;
        json_decref(tree);
    } else {
        payload = tree;
    }
    json_t *ev = json_pack("{s:s,s:o}", "type", bsn_event_type_name(type), "object", payload);
    char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t n = strlen(s);
    s = bsn_realloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = '\0';
    send_line(wc, s, n + 1);
    free(s);
    json_decref(ev);
}

static void
on_event(struct bsn_watcher *w, struct bsn_event *e)
{
    struct watch_conn *wc = (struct watch_conn *)w;
    if (e->rev <= wc->last_rev)
        return;
    wc->last_rev = e->rev;
    bool now = api_filter_match(wc->f, e->obj);
    bool before = e->prev ? api_filter_match(wc->f, e->prev) : false;
    switch (e->type) {
    case BSN_EV_ADDED:
        if (now)
            send_event(wc, BSN_EV_ADDED, e, e->obj);
        break;
    case BSN_EV_MODIFIED:
        if (now && before)
            send_event(wc, BSN_EV_MODIFIED, e, e->obj);
        else if (now)
            send_event(wc, BSN_EV_ADDED, e, e->obj);
        else if (before)
            send_event(wc, BSN_EV_DELETED, e, e->obj);
        break;
    case BSN_EV_DELETED:
        if (now)
            send_event(wc, BSN_EV_DELETED, e, e->obj);
        break;
    default:
        break;
    }
}

static void
on_timeout(struct bsn_loop *loop, void *data)
{
    conn_free(data, true);
}

static void
send_error(struct req_ctx *c, int code, const char *reason, const char *msg)
{
    struct bsn_err e;
    bsn_err_set(&e, code, reason, "%s", msg);
    json_t *st = api_status_json(&e, NULL);
    json_t *ev = json_pack("{s:s,s:o}", "type", "ERROR", "object", st);
    char *s = json_dumps(ev, JSON_COMPACT);
    c->sink->stream_write(c, s, strlen(s));
    c->sink->stream_write(c, "\n", 1);
    free(s);
    json_decref(ev);
}

void
api_watch(struct req_ctx *c, const char *rv, const char *label_sel, const char *field_sel,
          bool bookmarks, long timeout_s)
{
    struct bsn_apiserver *s = c->srv;
    struct bsn_err err;
    bsn_err_clear(&err);
    struct api_filter *f = api_filter_new(c->res, c->ns, label_sel, field_sel, &err);
    if (!f) {
        api_reply_err(c, &err);
        return;
    }
    char *end = NULL;
    long long from = rv && *rv ? strtoll(rv, &end, 10) : 0;
    if (rv && *rv && (!end || *end || from < 0)) {
        api_filter_free(f);
        api_reply_status(c, 400, "BadRequest", "invalid resource version: %s", rv);
        return;
    }
    /* Writes still pending are not in the cache yet: they reach this watcher as events
     * once durable, after the initial state sent below. */
    struct watch_conn *wc = bsn_calloc(1, sizeof(*wc));
    wc->c = c;
    wc->f = f;
    wc->table = c->table;
    wc->bookmarks = bookmarks;
    wc->convert = strcmp(api_storage_group(c->res), c->res->group) != 0;
    char rkey[200];
    api_rkey(c->res, rkey, sizeof(rkey));
    wc->w.rkey = bsn_strdup(rkey);
    wc->w.fn = on_event;
    wc->w.data = wc;
    bsn_timer_init(&wc->timeout);
    wc->next = s->watches;
    if (s->watches)
        s->watches->prev = wc;
    s->watches = wc;
    s->metrics.watchers++;
    api_metrics_observe(s, c->res, VERB_WATCH, 200, c->start_ns);

    c->sink->on_close(c, on_client_close, wc);
    c->sink->stream_start(c, 200, "application/json");
    if (!rv || !*rv || from == 0) {
        /* initial state as synthetic ADDED events, then everything after it */
        size_t n;
        struct bsn_obj **objs = bsn_cache_list(&s->cache, rkey, c->ns, &n);
        for (size_t i = 0; i < n; i++) {
            if (api_filter_match(f, objs[i]))
                send_event(wc, BSN_EV_ADDED, NULL, objs[i]);
            bsn_obj_unref(objs[i]);
        }
        free(objs);
        wc->last_rev = s->cache.rev;
        if (bookmarks) {
            /* initial-events-end marker for clients that ask for it */
        }
    } else {
        wc->last_rev = from;
        if (bsn_cache_replay(&s->cache, rkey, from, &wc->w) < 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "too old resource version: %lld (%lld)", from,
                     (long long)bsn_cache_window_start(&s->cache) + 1);
            send_error(c, 410, "Expired", msg);
            conn_free(wc, true);
            return;
        }
    }
    bsn_cache_watch(&s->cache, &wc->w);
    if (timeout_s <= 0)
        timeout_s = 1800 + rand() % 1800; /* upstream: min-request-timeout 1800 s, randomized */
    bsn_timer_start(s->loop, &wc->timeout, (uint64_t)timeout_s * 1000, on_timeout, wc);
}

void
api_watch_bookmarks(struct bsn_apiserver *s)
{
    for (struct watch_conn *wc = s->watches; wc; wc = wc->next) {
        if (!wc->bookmarks || wc->closed)
            continue;
        char line[512];
        const struct bsn_resource *r = wc->c->res;
        int n = snprintf(
            line, sizeof(line),
            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s%s%s\","
            "\"metadata\":{\"resourceVersion\":\"%lld\"}}}\n",
            r->kind, r->group, r->group[0] ? "/" : "", r->version, (long long)s->cache.rev);
        send_line(wc, line, (size_t)n);
    }
}

void
api_watch_close_all(struct bsn_apiserver *s)
{
    while (s->watches)
        conn_free(s->watches, true);
}
