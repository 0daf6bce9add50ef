/*
 * router.c - the compiled route matcher.
 *
 * Lookup is three hash probes deep, independent of the number of routes:
 *   1. host group: exact host in `hosts`; else the longest wildcard suffix in `wild`
 *      (".example.com" for "*.example.com"; Ingress wildcards match one label, Gateway API
 *      ones any number); else the catch-all group of rules without a host.
 *   2. path: the Exact entry for the request path, then Prefix entries for the path and each
 *      of its ancestors ("/a/b/c", "/a/b", "/a", "/"), longest first. Prefixes match whole
 *      path elements, so "/foo" matches "/foo", "/foo/" and "/foo/x" but not "/foobar".
 *   3. within an entry, routes are sorted by Gateway API precedence (method, then number of
 *      header matches, then query matches, then oldest, then namespace/name, then rule order)
 *      and the first whose method/header/query conditions hold wins.
 * When no route matches, the Ingress defaultBackend (if any) answers.
 *
 * The cost of a lookup does not grow with the number of routes, and neither does the memory
 * it reads: entries are one cache line with the key's first bytes inline, the host entry
 * carries its group's path lengths (probes for lengths the group has no entry of are
 * skipped), and an entry with one route holds it inline. A request to one of 1,000 routes
 * reads about as many cache lines as one to a single catch-all route.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_internal.h"
#include "http/parser.h"

#define HOST_MAX 255

uint64_t
gw_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    /* 8 bytes per step (keys are hosts and paths: short), then a full avalanche (fmix64) */
    const unsigned char *s = p;
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0x94d049bb133111ebULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static uint64_t
path_key(uint32_t group, enum gw_path_kind kind, const char *path, size_t len)
{
    return gw_hash_bytes(path, len,
                         ((uint64_t)group << 1 | (uint64_t)kind) * 0x9e3779b97f4a7c15ULL);
}

void
gw_router_add(struct bsn_gw_config *cfg, const char *hostname, bool multi_label, struct gw_route *r)
{
    if (cfg->nbinds == cfg->binds_cap) {
        cfg->binds_cap = cfg->binds_cap ? cfg->binds_cap * 2 : 64;
        cfg->binds = bsn_realloc(cfg->binds, cfg->binds_cap * sizeof(*cfg->binds));
    }
    char *h = bsn_strdup(hostname ? hostname : "");
    for (char *c = h; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    cfg->binds[cfg->nbinds++] = (struct gw_host_bind){h, multi_label, r};
}

static size_t
table_size(size_t n)
{
    size_t cap = 8;
    while (cap < n * 2)
        cap *= 2;
    return cap;
}

/* A zeroed table of n entries of `size` bytes, cache-line aligned. */
static void *
table_alloc(size_t n, size_t size)
{
    void *t = aligned_alloc(64, n * size);
    if (!t)
        abort();
    memset(t, 0, n * size);
    return t;
}

/* Does the inline prefix (and the tail through the pointer) of an entry's key equal key? */
static inline bool
key_eq(const char *inl, size_t ninl, const char *full, const char *key, size_t len)
{
    size_t head = len < ninl ? len : ninl;
    return memcmp(inl, key, head) == 0 &&
           (len <= ninl || memcmp(full + ninl, key + ninl, len - ninl) == 0);
}

static inline unsigned
len_bit(size_t len)
{
    return len < 63 ? (unsigned)len : 63;
}

/* Finds or inserts a host entry; returns its group. */
static uint32_t
host_group(struct bsn_gw_config *cfg, struct gw_host_entry *tab, size_t mask, const char *key,
           bool multi)
{
    size_t len = strlen(key);
    uint64_t h = gw_hash_bytes(key, len, 0);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct gw_host_entry *e = &tab[i];
        if (!e->host) {
            *e = (struct gw_host_entry){
                .hash = h, .host = key, .len = (uint16_t)len, .group = cfg->ngroups++};
            e->multi_label = multi;
            memcpy(e->key, key, BSN_MIN(len, sizeof(e->key)));
            return e->group;
        }
        if (e->hash == h && e->len == len && memcmp(e->host, key, len) == 0) {
            e->multi_label |= multi;
            return e->group;
        }
    }
}

static struct gw_path_entry *
path_slot(struct bsn_gw_config *cfg, uint32_t group, enum gw_path_kind kind, const char *path)
{
    size_t len = strlen(path);
    uint64_t h = path_key(group, kind, path, len);
    for (size_t i = h & cfg->paths_mask;; i = (i + 1) & cfg->paths_mask) {
        struct gw_path_entry *e = &cfg->paths[i];
        if (!e->path) {
            *e = (struct gw_path_entry){.hash = h,
                                        .group = group,
                                        .kind = (uint8_t)kind,
                                        .path = path,
                                        .path_len = (uint32_t)len};
            memcpy(e->key, path, BSN_MIN(len, sizeof(e->key)));
            return e;
        }
        if (e->hash == h && e->group == group && e->kind == kind && e->path_len == len &&
            memcmp(e->path, path, len) == 0)
            return e;
    }
}

static void
entry_add(struct gw_path_entry *e, struct gw_route *r)
{
    for (int k = 0; k < e->nroutes; k++)
        if (e->routes[k] == r)
            return;
    if (e->nroutes == 0) {
        e->one = r;
        e->routes = &e->one;
    } else {
        /* capacity: the next power of two >= nroutes (1 is the inline slot) */
        int n = e->nroutes;
        if ((n & (n - 1)) == 0) {
            struct gw_route **grown = bsn_malloc((size_t)n * 2 * sizeof(*grown));
            memcpy(grown, e->routes, (size_t)n * sizeof(*grown));
            if (e->routes != &e->one)
                free(e->routes);
            e->routes = grown;
        }
        e->routes[n] = r;
    }
    e->nroutes++;
}

static int
route_cmp(const void *pa, const void *pb)
{
    const struct gw_route *a = *(struct gw_route *const *)pa, *b = *(struct gw_route *const *)pb;
    if ((a->method != NULL) != (b->method != NULL))
        return a->method ? -1 : 1;
    if (a->nheaders != b->nheaders)
        return b->nheaders - a->nheaders;
    if (a->nqueries != b->nqueries)
        return b->nqueries - a->nqueries;
    if (a->created != b->created)
        return a->created < b->created ? -1 : 1;
    int c = strcmp(a->origin ? a->origin : "", b->origin ? b->origin : "");
    if (c)
        return c;
    if (a->rule_index != b->rule_index)
        return a->rule_index - b->rule_index;
    return (int)a->idx - (int)b->idx;
}

static void
copy_lens(struct gw_host_entry *tab, size_t mask, const struct gw_group_lens *lens)
{
    for (size_t i = 0; i <= mask; i++)
        if (tab[i].host)
            tab[i].lens = lens[tab[i].group];
}

void
gw_router_build(struct bsn_gw_config *cfg)
{
    size_t nexact = 0, nwild = 0;
    for (size_t i = 0; i < cfg->nbinds; i++) {
        if (cfg->binds[i].host[0] == '*')
            nwild++;
        else if (cfg->binds[i].host[0])
            nexact++;
    }
    cfg->hosts_mask = table_size(nexact) - 1;
    cfg->wild_mask = table_size(nwild) - 1;
    cfg->paths_mask = table_size(cfg->nbinds) - 1;
    cfg->hosts = table_alloc(cfg->hosts_mask + 1, sizeof(*cfg->hosts));
    cfg->wild = table_alloc(cfg->wild_mask + 1, sizeof(*cfg->wild));
    cfg->paths = table_alloc(cfg->paths_mask + 1, sizeof(*cfg->paths));
    cfg->catchall_group = -1;
    /* at most one group per registration */
    struct gw_group_lens *lens = bsn_calloc(cfg->nbinds + 1, sizeof(*lens));
    for (size_t i = 0; i < cfg->nbinds; i++) {
        struct gw_host_bind *b = &cfg->binds[i];
        uint32_t g;
        if (b->host[0] == '*')
            g = host_group(cfg, cfg->wild, cfg->wild_mask, b->host + 1, b->multi);
        else if (b->host[0])
            g = host_group(cfg, cfg->hosts, cfg->hosts_mask, b->host, false);
        else {
            if (cfg->catchall_group < 0)
                cfg->catchall_group = (int32_t)cfg->ngroups++;
            g = (uint32_t)cfg->catchall_group;
        }
        struct gw_path_entry *e = path_slot(cfg, g, b->route->path_kind, b->route->path);
        entry_add(e, b->route);
        uint64_t bit = 1ULL << len_bit(e->path_len);
        if (b->route->path_kind == GW_PATH_EXACT)
            lens[g].exact |= bit;
        else
            lens[g].prefix |= bit;
    }
    copy_lens(cfg->hosts, cfg->hosts_mask, lens);
    copy_lens(cfg->wild, cfg->wild_mask, lens);
    if (cfg->catchall_group >= 0)
        cfg->catchall_lens = lens[cfg->catchall_group];
    free(lens);
    for (size_t i = 0; i <= cfg->paths_mask; i++)
        if (cfg->paths[i].nroutes > 1)
            qsort(cfg->paths[i].routes, (size_t)cfg->paths[i].nroutes, sizeof(struct gw_route *),
                  route_cmp);
    /* host keys point into binds[].host: keep the strings, drop the array */
    cfg->binds_cap = 0;
}

void
gw_router_fini(struct bsn_gw_config *cfg)
{
    if (cfg->paths)
        for (size_t i = 0; i <= cfg->paths_mask; i++)
            if (cfg->paths[i].routes != &cfg->paths[i].one)
                free(cfg->paths[i].routes);
    free(cfg->paths);
    free(cfg->hosts);
    free(cfg->wild);
    for (size_t i = 0; i < cfg->nbinds; i++)
        free(cfg->binds[i].host);
    free(cfg->binds);
}

static const struct gw_host_entry *
host_find(const struct gw_host_entry *tab, size_t mask, const char *key, size_t len)
{
    if (!tab)
        return NULL;
    uint64_t h = gw_hash_bytes(key, len, 0);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const struct gw_host_entry *e = &tab[i];
        if (!e->host)
            return NULL;
        if (e->hash == h && e->len == len && key_eq(e->key, sizeof(e->key), e->host, key, len))
            return e;
    }
}

static const struct gw_path_entry *
path_find(const struct bsn_gw_config *cfg, uint32_t group, enum gw_path_kind kind, const char *path,
          size_t len)
{
    uint64_t h = path_key(group, kind, path, len);
    for (size_t i = h & cfg->paths_mask;; i = (i + 1) & cfg->paths_mask) {
        const struct gw_path_entry *e = &cfg->paths[i];
        if (!e->path)
            return NULL;
        if (e->hash == h && e->group == group && e->kind == kind && e->path_len == len &&
            key_eq(e->key, sizeof(e->key), e->path, path, len))
            return e;
    }
}

/* Finds query parameter `name` in a raw query string; value out (raw, not decoded). */
static bool
query_get(struct bsn_str q, const char *name, struct bsn_str *val)
{
    size_t nl = strlen(name);
    const char *p = q.base, *end = q.base + q.len;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nl && memcmp(p, name, nl) == 0) {
            *val = eq ? (struct bsn_str){eq + 1, (size_t)(stop - eq - 1)} : (struct bsn_str){"", 0};
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static bool
route_conditions(const struct gw_route *r, const struct bsn_gw_request_info *req)
{
    if (r->method && !bsn_str_eq(req->method, r->method))
        return false;
    for (int i = 0; i < r->nheaders; i++) {
        const struct bsn_http_header *h =
            bsn_http_find_header(req->headers, req->nheaders, r->headers[i].name);
        if (!h || !bsn_str_eq(h->value, r->headers[i].value))
            return false;
    }
    for (int i = 0; i < r->nqueries; i++) {
        struct bsn_str v;
        if (!query_get(req->query, r->queries[i].name, &v) || !bsn_str_eq(v, r->queries[i].value))
            return false;
    }
    return true;
}

static const struct gw_route *
entry_pick(const struct gw_path_entry *e, const struct bsn_gw_request_info *req)
{
    if (!e)
        return NULL;
    for (int i = 0; i < e->nroutes; i++)
        if (route_conditions(e->routes[i], req))
            return e->routes[i];
    return NULL;
}

/* The group of a Host header value, or -1; *lens: the group's path lengths. */
static int32_t
find_group(const struct bsn_gw_config *cfg, struct bsn_str host, const struct gw_group_lens **lens)
{
    char lower[HOST_MAX + 1];
    *lens = &cfg->catchall_lens;
    size_t n = host.len;
    if (n > 0 && host.base[0] == '[') { /* [v6]:port */
        const char *rb = memchr(host.base, ']', n);
        n = rb ? (size_t)(rb - host.base) + 1 : n;
    } else {
        const char *colon = memchr(host.base, ':', n);
        if (colon)
            n = (size_t)(colon - host.base);
    }
    if (n > 0 && host.base[n - 1] == '.') /* absolute FQDN */
        n--;
    if (n == 0 || n > HOST_MAX)
        return cfg->catchall_group;
    for (size_t i = 0; i < n; i++) {
        char c = host.base[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    lower[n] = '\0';
    const struct gw_host_entry *e = host_find(cfg->hosts, cfg->hosts_mask, lower, n);
    if (e) {
        *lens = &e->lens;
        return (int32_t)e->group;
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (lower[i] != '.')
            continue;
        e = host_find(cfg->wild, cfg->wild_mask, lower + i, n - i);
        if (e && (first || e->multi_label)) {
            *lens = &e->lens;
            return (int32_t)e->group;
        }
        first = false;
    }
    return cfg->catchall_group;
}

const struct bsn_gw_route *
bsn_gw_route_match(const struct bsn_gw_config *cfg, const struct bsn_gw_request_info *req)
{
    if (!cfg)
        return NULL;
    const struct gw_group_lens *lens = NULL;
    int32_t g = cfg->nbinds ? find_group(cfg, req->host, &lens) : -1;
    if (g >= 0) {
        const char *path = req->path.base;
        size_t len = req->path.len;
        if (len == 0 || path[0] != '/') { /* "*" or absolute-form leftovers */
            path = "/";
            len = 1;
        }
        const struct gw_route *r;
        if (lens->exact >> len_bit(len) & 1) {
            r = entry_pick(path_find(cfg, (uint32_t)g, GW_PATH_EXACT, path, len), req);
            if (r)
                return (const struct bsn_gw_route *)r;
        }
        while (len > 1 && path[len - 1] == '/')
            len--;
        for (;;) {
            if (lens->prefix >> len_bit(len) & 1) {
                r = entry_pick(path_find(cfg, (uint32_t)g, GW_PATH_PREFIX, path, len), req);
                if (r)
                    return (const struct bsn_gw_route *)r;
            }
            if (len <= 1)
                break;
            while (len > 1 && path[len - 1] != '/')
                len--;
            while (len > 1 && path[len - 1] == '/')
                len--;
        }
    }
    return (const struct bsn_gw_route *)cfg->default_route;
}

const char *
bsn_gw_route_name(const struct bsn_gw_route *r)
{
    return r ? ((const struct gw_route *)r)->name : NULL;
}

const char *
bsn_gw_route_backend(const struct bsn_gw_route *r, size_t i)
{
    const struct gw_route *gr = (const struct gw_route *)r;
    if (!gr || i >= (size_t)gr->nbackends)
        return NULL;
    return gr->backends[i].b->name;
}

_Static_assert(sizeof(struct gw_path_entry) == 64, "a path entry is one cache line");
_Static_assert(sizeof(struct gw_host_entry) == 64, "a host entry is one cache line");
