/*
 * cache.c - response caching (GatewayPolicy spec.cache), one cache per worker thread (no
 * locks; a popular object ends up cached once per thread).
 *
 * Cacheable requests: GET or HEAD, no Authorization header, no "Cache-Control: no-cache /
 * no-store" from the client. Stored responses: 200 with a Content-Length body of at most
 * maxObjectSize, no Set-Cookie, no Vary other than Accept-Encoding, not compressed by us,
 * and a freshness lifetime: s-maxage or max-age from Cache-Control, else the policy's ttl;
 * "no-store", "no-cache" and "private" are never stored. Memory is bounded: least recently
 * used entries are evicted to keep each worker under maxBytes / threads.
 * Responses carry X-Cache: HIT (with Age) or MISS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "gateway/gw_conn.h"

#define CACHE_SLOTS 4096 /* hash buckets per worker (chained) */

struct gw_cache_entry {
    uint64_t hash;
    char *key;
    char *data; /* head (without Connection lines and final CRLF), then body */
    size_t head_len, body_len;
    uint64_t stored_ms, expires_ms;
    struct gw_cache_entry *hnext;         /* bucket chain */
    struct gw_cache_entry *lprev, *lnext; /* LRU list, most recent first */
};

struct gw_cache {
    struct gw_cache_entry *buckets[CACHE_SLOTS];
    struct gw_cache_entry *lru_head, *lru_tail;
    size_t bytes, entries;
};

static bool
header_has(const struct bsn_http_header *h, size_t n, const char *name, const char *token)
{
    const struct bsn_http_header *f = bsn_http_find_header(h, n, name);
    if (!f)
        return false;
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= f->value.len; i++)
        if (strncasecmp(f->value.base + i, token, tl) == 0)
            return true;
    return false;
}

/* Builds the cache key into c->fwd-independent storage; returns false if not cacheable. */
bool
gw_cache_request(struct gw_conn *c)
{
    const struct gw_policy *p = c->route->policy;
    const struct bsn_http_request_head *q = &c->req;
    if (p->cache_max_bytes <= 0 || c->req_left != 0 || c->req_chunked)
        return false;
    if (!bsn_str_eq(q->method, "GET") && !bsn_str_eq(q->method, "HEAD"))
        return false;
    if (bsn_http_find_header(q->headers, q->nheaders, "authorization") ||
        header_has(q->headers, q->nheaders, "cache-control", "no-cache") ||
        header_has(q->headers, q->nheaders, "cache-control", "no-store"))
        return false;
    bsn_buf_reset(&c->cache_key);
    bsn_buf_puts(&c->cache_key, c->route->name);
    bsn_buf_putc(&c->cache_key, ' ');
    for (size_t i = 0; i < q->host.len; i++) {
        char ch = q->host.base[i];
        bsn_buf_putc(&c->cache_key, (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch);
    }
    bsn_buf_append(&c->cache_key, q->target.base, q->target.len);
    return true;
}

static void
lru_unlink(struct gw_cache *k, struct gw_cache_entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        k->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        k->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void
lru_push(struct gw_cache *k, struct gw_cache_entry *e)
{
    e->lnext = k->lru_head;
    e->lprev = NULL;
    if (k->lru_head)
        k->lru_head->lprev = e;
    k->lru_head = e;
    if (!k->lru_tail)
        k->lru_tail = e;
}

static void
entry_remove(struct gw_cache *k, struct gw_cache_entry *e)
{
    struct gw_cache_entry **pp = &k->buckets[e->hash % CACHE_SLOTS];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(k, e);
    k->bytes -= e->head_len + e->body_len + strlen(e->key);
    k->entries--;
    free(e->key);
    free(e->data);
    free(e);
}

static struct gw_cache_entry *
lookup(struct gw_cache *k, const char *key, size_t len, uint64_t h)
{
    for (struct gw_cache_entry *e = k->buckets[h % CACHE_SLOTS]; e; e = e->hnext)
        if (e->hash == h && strlen(e->key) == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

/* Serves a fresh cached response; true when it did (the request is finished). */
bool
gw_cache_serve(struct gw_conn *c)
{
    struct gw_cache *k = c->w->cache;
    if (!k)
        return false;
    uint64_t h = gw_hash_bytes(c->cache_key.data, c->cache_key.len, 3);
    struct gw_cache_entry *e = lookup(k, c->cache_key.data, c->cache_key.len, h);
    if (!e)
        return false;
    uint64_t now = bsn_loop_now(c->w->loop);
    if (now >= e->expires_ms) {
        entry_remove(k, e);
        return false;
    }
    lru_unlink(k, e);
    lru_push(k, e);
    char tail[128];
    int tl = snprintf(tail, sizeof(tail), "X-Cache: HIT\r\nAge: %llu\r\n%s\r\n",
                      (unsigned long long)((now - e->stored_ms) / 1000),
                      !c->keep_alive              ? "Connection: close\r\n"
                      : c->req.minor_version == 0 ? "Connection: keep-alive\r\n"
                                                  : "");
    struct iovec iov[3] = {{e->data, e->head_len},
                           {tail, (size_t)tl},
                           {e->data + e->head_len, c->is_head ? 0 : e->body_len}};
    c->status = 200;
    c->bytes_out += e->head_len + (size_t)tl + iov[2].iov_len;
    if (gw_client_send(c, iov, 3) < 0)
        c->keep_alive = false;
    GW_INC(&c->w->cache_hits, 1);
    return true;
}

/* Freshness lifetime in ms of the response in c->resp, or 0 when it must not be stored. */
uint64_t
gw_cache_ttl(struct gw_conn *c)
{
    const struct bsn_http_response_head *r = &c->resp;
    const struct gw_policy *p = c->route->policy;
    if (r->status != 200 || r->content_length < 0 || r->chunked ||
        r->content_length > p->cache_max_object || c->gzip)
        return 0;
    if (bsn_http_find_header(r->headers, r->nheaders, "set-cookie"))
        return 0;
    const struct bsn_http_header *vary = bsn_http_find_header(r->headers, r->nheaders, "vary");
    if (vary && !bsn_str_case_eq(vary->value, "accept-encoding"))
        return 0;
    const struct bsn_http_header *cc =
        bsn_http_find_header(r->headers, r->nheaders, "cache-control");
    if (!cc)
        return p->cache_ttl_ms;
    if (header_has(r->headers, r->nheaders, "cache-control", "no-store") ||
        header_has(r->headers, r->nheaders, "cache-control", "no-cache") ||
        header_has(r->headers, r->nheaders, "cache-control", "private"))
        return 0;
    const char *v = cc->value.base, *end = v + cc->value.len;
    long best = -1;
    for (const char *s = v; s < end; s++) {
        bool smax = (size_t)(end - s) > 9 && strncasecmp(s, "s-maxage=", 9) == 0;
        bool max = (size_t)(end - s) > 8 && strncasecmp(s, "max-age=", 8) == 0;
        if (!smax && !max)
            continue;
        const char *d = s + (smax ? 9 : 8);
        long n = 0;
        while (d < end && *d >= '0' && *d <= '9' && n < 100000000)
            n = n * 10 + (*d++ - '0');
        if (smax || best < 0)
            best = n;
        if (smax)
            break;
    }
    return best >= 0 ? (uint64_t)best * 1000 : p->cache_ttl_ms;
}

/* Starts capturing the response (head already built in c->head up to head_cache_len). */
void
gw_cache_capture_start(struct gw_conn *c, uint64_t ttl_ms)
{
    c->cache_ttl_ms = ttl_ms;
    bsn_buf_reset(&c->cache_body);
    bsn_buf_append(&c->cache_body, c->head.data, c->head_cache_len);
    c->cache_head_len = c->head_cache_len;
    c->caching = true;
}

void
gw_cache_capture(struct gw_conn *c, const char *data, size_t len)
{
    if (c->caching)
        bsn_buf_append(&c->cache_body, data, len);
}

/* Stores the captured response if it is complete. */
void
gw_cache_capture_end(struct gw_conn *c, bool complete)
{
    if (!c->caching)
        return;
    c->caching = false;
    if (!complete || c->cache_body.len - c->cache_head_len != (size_t)c->resp.content_length)
        return;
    struct gw_worker *w = c->w;
    if (!w->cache)
        w->cache = bsn_calloc(1, sizeof(*w->cache));
    struct gw_cache *k = w->cache;
    const struct gw_policy *p = c->route->policy;
    size_t limit = (size_t)(p->cache_max_bytes / w->gw->nthreads);
    size_t size = c->cache_body.len + c->cache_key.len;
    if (size > limit)
        return;
    uint64_t h = gw_hash_bytes(c->cache_key.data, c->cache_key.len, 3);
    struct gw_cache_entry *old = lookup(k, c->cache_key.data, c->cache_key.len, h);
    if (old)
        entry_remove(k, old);
    while (k->bytes + size > limit && k->lru_tail)
        entry_remove(k, k->lru_tail);
    struct gw_cache_entry *e = bsn_calloc(1, sizeof(*e));
    e->hash = h;
    e->key = bsn_strndup(c->cache_key.data, c->cache_key.len);
    e->head_len = c->cache_head_len;
    e->body_len = c->cache_body.len - c->cache_head_len;
    e->data = bsn_buf_take(&c->cache_body);
    e->stored_ms = bsn_loop_now(w->loop);
    e->expires_ms = e->stored_ms + c->cache_ttl_ms;
    e->hnext = k->buckets[h % CACHE_SLOTS];
    k->buckets[h % CACHE_SLOTS] = e;
    lru_push(k, e);
    k->bytes += size;
    k->entries++;
}

void
gw_cache_free(struct gw_worker *w)
{
    struct gw_cache *k = w->cache;
    if (!k)
        return;
    while (k->lru_head)
        entry_remove(k, k->lru_head);
    free(k);
    w->cache = NULL;
}
