/*
 * dns_forward.c - upstream address parsing and the forwarded-response cache (dns_forward.h).
 */
#include "net/dns_forward.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/dns_map.h"

#define CACHE_SHARDS 16
#define CACHE_TTLS   64 /* TTL fields rewritten per entry */
#define KEY_MAX      (BSN_DNS_NAME_MAX + 5)

struct centry {
    struct centry *hnext;       /* hash chain */
    struct centry *prev, *next; /* LRU, most recent first */
    uint32_t hash;
    uint16_t keylen, len, nttl;
    uint16_t qname_len; /* wire length of the question name in data (uncompressed) */
    uint64_t stored_ms, expire_ms;
    uint16_t ttl_off[CACHE_TTLS];
    uint8_t key[KEY_MAX];
    uint8_t data[];
};

struct cshard {
    pthread_mutex_t mu;
    struct centry **tab;
    uint32_t nbuckets;
    size_t count, cap;
    struct centry *head, *tail;
};

struct bsn_dns_cache {
    struct cshard sh[CACHE_SHARDS];
};

static size_t
make_key(const struct bsn_dns_query *q, uint8_t *key)
{
    memcpy(key, q->qname_lc, q->qname_len);
    size_t o = q->qname_len;
    bsn_dns_put16(key + o, q->qtype);
    bsn_dns_put16(key + o + 2, q->qclass);
    key[o + 4] =
        (uint8_t)((q->edns ? 1 : 0) | (q->edns_do ? 2 : 0) | ((q->flags & BSN_DNS_F_CD) ? 4 : 0));
    return o + 5;
}

struct bsn_dns_cache *
bsn_dns_cache_new(size_t capacity)
{
    struct bsn_dns_cache *c = bsn_calloc(1, sizeof(*c));
    if (capacity == 0)
        capacity = 10000;
    size_t per = capacity / CACHE_SHARDS + 1;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        pthread_mutex_init(&c->sh[i].mu, NULL);
        c->sh[i].cap = per;
        uint32_t nb = 16;
        while (nb < per)
            nb <<= 1;
        c->sh[i].nbuckets = nb;
        c->sh[i].tab = bsn_calloc(nb, sizeof(*c->sh[i].tab));
    }
    return c;
}

void
bsn_dns_cache_free(struct bsn_dns_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        struct centry *e = c->sh[i].head;
        while (e) {
            struct centry *n = e->next;
            free(e);
            e = n;
        }
        free(c->sh[i].tab);
        pthread_mutex_destroy(&c->sh[i].mu);
    }
    free(c);
}

size_t
bsn_dns_cache_count(struct bsn_dns_cache *c)
{
    size_t n = 0;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        pthread_mutex_lock(&c->sh[i].mu);
        n += c->sh[i].count;
        pthread_mutex_unlock(&c->sh[i].mu);
    }
    return n;
}

static void
lru_unlink(struct cshard *s, struct centry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
lru_push(struct cshard *s, struct centry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

static void
remove_entry(struct cshard *s, struct centry *e)
{
    struct centry **pp = &s->tab[e->hash & (s->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(s, e);
    s->count--;
    free(e);
}

static struct centry *
find(struct cshard *s, const uint8_t *key, size_t klen, uint32_t h)
{
    for (struct centry *e = s->tab[h & (s->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->keylen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

void
bsn_dns_cache_put(struct bsn_dns_cache *c, const struct bsn_dns_query *q, const uint8_t *resp,
                  size_t len, uint64_t now_ms)
{
    if (len > BSN_DNS_CACHE_ENTRY_MAX)
        return;
    static _Thread_local struct bsn_dns_msg m;
    if (bsn_dns_msg_parse(resp, len, &m) < 0)
        return;
    int rcode = m.flags & 0xF;
    if ((m.flags & BSN_DNS_F_TC) || (rcode != BSN_DNS_R_NOERROR && rcode != BSN_DNS_R_NXDOMAIN))
        return;
    /* the question must be stored uncompressed right after the header, so a hit can take the
     * client's own question bytes */
    if (m.question_end != BSN_DNS_HDR_LEN + q->qname_len + 4)
        return;
    uint32_t ttl = BSN_DNS_CACHE_TTL_MAX;
    int nttl = 0;
    bool negative = m.ancount == 0, have_soa = false;
    uint16_t offs[CACHE_TTLS];
    for (int i = 0; i < m.nrr; i++) {
        const struct bsn_dns_rr *rr = &m.rr[i];
        if (rr->type == BSN_DNS_T_OPT)
            continue;
        if (nttl == CACHE_TTLS)
            return;
        offs[nttl++] = rr->ttl_off;
        uint32_t t = rr->ttl;
        if (negative && rr->section == 2 && rr->type == BSN_DNS_T_SOA && rr->rdlen >= 22) {
            uint32_t minimum = bsn_dns_get32(resp + rr->rdata_off + rr->rdlen - 4);
            if (minimum < t)
                t = minimum;
            have_soa = true;
        }
        if (t < ttl)
            ttl = t;
    }
    if ((negative && !have_soa) || ttl == 0)
        return;

    uint8_t key[KEY_MAX];
    size_t klen = make_key(q, key);
    uint32_t h = dns_hash(key, klen);
    struct cshard *s = &c->sh[h % CACHE_SHARDS];
    struct centry *e = bsn_malloc(sizeof(*e) + len);
    e->hash = h;
    e->keylen = (uint16_t)klen;
    memcpy(e->key, key, klen);
    e->len = (uint16_t)len;
    e->nttl = (uint16_t)nttl;
    memcpy(e->ttl_off, offs, (size_t)nttl * sizeof(offs[0]));
    e->qname_len = q->qname_len;
    e->stored_ms = now_ms;
    e->expire_ms = now_ms + (uint64_t)ttl * 1000;
    memcpy(e->data, resp, len);
    pthread_mutex_lock(&s->mu);
    struct centry *old = find(s, key, klen, h);
    if (old)
        remove_entry(s, old);
    while (s->count >= s->cap && s->tail)
        remove_entry(s, s->tail);
    e->hnext = s->tab[h & (s->nbuckets - 1)];
    s->tab[h & (s->nbuckets - 1)] = e;
    e->prev = e->next = NULL;
    lru_push(s, e);
    s->count++;
    pthread_mutex_unlock(&s->mu);
}

size_t
bsn_dns_cache_get(struct bsn_dns_cache *c, const struct bsn_dns_query *q, const uint8_t *qpkt,
                  uint8_t *out, size_t limit, uint64_t now_ms)
{
    uint8_t key[KEY_MAX];
    size_t klen = make_key(q, key);
    uint32_t h = dns_hash(key, klen);
    struct cshard *s = &c->sh[h % CACHE_SHARDS];
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    struct centry *e = find(s, key, klen, h);
    if (e && now_ms >= e->expire_ms) {
        remove_entry(s, e);
        e = NULL;
    }
    if (e && e->len <= limit && !q->qname_compressed) {
        lru_unlink(s, e);
        lru_push(s, e);
        n = e->len;
        memcpy(out, e->data, n);
        uint32_t age = (uint32_t)((now_ms - e->stored_ms) / 1000);
        for (int i = 0; i < e->nttl; i++) {
            uint8_t *p = out + e->ttl_off[i];
            uint32_t t = bsn_dns_get32(p);
            bsn_dns_put32(p, t > age ? t - age : 0);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (n) {
        bsn_dns_put16(out, q->id);
        /* echo the client's question bytes (same name, maybe other case) */
        memcpy(out + BSN_DNS_HDR_LEN, qpkt + BSN_DNS_HDR_LEN, q->qname_len);
        /* RD as asked */
        uint16_t f = bsn_dns_get16(out + 2);
        f = (uint16_t)((f & ~BSN_DNS_F_RD) | (q->flags & BSN_DNS_F_RD));
        bsn_dns_put16(out + 2, f);
    }
    return n;
}

/* --- upstream addresses -------------------------------------------------------------------- */

int
bsn_dns_parse_hostport(const char *s, uint16_t default_port, struct bsn_dns_upstream *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port = NULL;
    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return -1;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || (size_t)(e - s - 1) >= sizeof(host))
            return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        if (e[1] == ':')
            port = e + 2;
        else if (e[1])
            return -1;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* bare IPv6 */
        size_t hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s, hl);
        host[hl] = 0;
        if (colon)
            port = colon + 1;
    }
    long p = default_port;
    if (port) {
        char *end;
        p = strtol(port, &end, 10);
        if (*port == 0 || *end || p < 0 || p > 65535)
            return -1;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        out->addrlen = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        out->addrlen = sizeof(*a6);
        return 0;
    }
    return -1;
}

int
bsn_dns_read_resolv_conf(const char *path, struct bsn_dns_upstream *out, int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (strncmp(p, "nameserver", 10) != 0 || !isspace((unsigned char)p[10]))
            continue;
        p += 10;
        while (isspace((unsigned char)*p))
            p++;
        char *e = p;
        while (*e && !isspace((unsigned char)*e))
            e++;
        *e = 0;
        char *pct = strchr(p, '%'); /* fe80::1%eth0: scope ids are not supported */
        if (pct)
            continue;
        if (bsn_dns_parse_hostport(p, 53, &out[n]) == 0 && !strchr(p, ']'))
            n++;
    }
    fclose(f);
    return n;
}
