/*
 * dns_zone.c - the cluster zone: writer-side state, snapshot publication (hazard pointers)
 * and the per-service objects readers answer from. Query answering is in dns_answer.c, the
 * Kubernetes object entry point in dns_zone_json.c.
 */
#include "net/dns_zone_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"

/* --- helpers ------------------------------------------------------------------------------ */

static void
lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
}

int
dns_addr_parse(const char *s, struct dns_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (!s)
        return -1;
    if (inet_pton(AF_INET, s, a->a) == 1) {
        a->fam = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a->a) == 1) {
        a->fam = 6;
        return 0;
    }
    return -1;
}

static bool
valid_label(const char *s, size_t n)
{
    if (n == 0 || n > BSN_DNS_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || (unsigned char)s[i] <= 0x20)
            return false;
    return true;
}

/* "svc.ns" lower-cased into key; returns its length or -1. */
int
dns_svc_key(const char *ns, size_t nslen, const char *name, size_t namelen, char *key)
{
    if (!valid_label(ns, nslen) || !valid_label(name, namelen))
        return -1;
    lower_copy(key, name, namelen);
    key[namelen] = '.';
    lower_copy(key + namelen + 1, ns, nslen);
    return (int)(namelen + 1 + nslen);
}

static void
derive_hostname(const struct dns_addr *a, char *out, uint8_t *outlen)
{
    char txt[INET6_ADDRSTRLEN];
    inet_ntop(a->fam == 4 ? AF_INET : AF_INET6, a->a, txt, sizeof(txt));
    size_t n = strlen(txt);
    for (size_t i = 0; i < n; i++)
        out[i] = (txt[i] == '.' || txt[i] == ':') ? '-' : txt[i];
    *outlen = (uint8_t)n;
}

static int
conv_ports(const struct bsn_dns_port *in, size_t n, struct dns_port **out, int *nout,
           struct bsn_err *err)
{
    if (n > BSN_DNS_MAX_PORTS)
        return bsn_err_set(err, 422, "Invalid", "too many ports (%zu > %d)", n, BSN_DNS_MAX_PORTS);
    *out = n ? bsn_calloc(n, sizeof(**out)) : NULL;
    *nout = (int)n;
    for (size_t i = 0; i < n; i++) {
        struct dns_port *p = &(*out)[i];
        const char *name = in[i].name ? in[i].name : "";
        const char *proto = in[i].protocol ? in[i].protocol : "TCP";
        size_t nl = strlen(name), pl = strlen(proto);
        if (nl > 62 || pl == 0 || pl > 15) {
            free(*out);
            *out = NULL;
            return bsn_err_set(err, 422, "Invalid", "port %zu: bad name '%s' or protocol '%s'", i,
                               name, proto);
        }
        lower_copy(p->name, name, nl);
        p->namelen = (uint8_t)nl;
        lower_copy(p->proto, proto, pl);
        p->protolen = (uint8_t)pl;
        p->port = in[i].port;
    }
    return 0;
}

static int
conv_eps(const struct bsn_dns_endpoint *in, size_t n, struct dns_ep **out, int *nout,
         struct bsn_err *err)
{
    if (n > BSN_DNS_MAX_ENDPOINTS)
        return bsn_err_set(err, 422, "Invalid", "too many endpoints (%zu > %d)", n,
                           BSN_DNS_MAX_ENDPOINTS);
    *out = n ? bsn_calloc(n, sizeof(**out)) : NULL;
    *nout = (int)n;
    for (size_t i = 0; i < n; i++) {
        struct dns_ep *e = &(*out)[i];
        if (dns_addr_parse(in[i].ip, &e->ip) < 0) {
            free(*out);
            *out = NULL;
            return bsn_err_set(err, 422, "Invalid", "endpoint %zu: invalid IP '%s'", i,
                               in[i].ip ? in[i].ip : "(null)");
        }
        e->ready = in[i].ready;
        const char *h = in[i].hostname;
        size_t hl = h ? strlen(h) : 0;
        if (hl > 0 && valid_label(h, hl)) {
            lower_copy(e->host, h, hl);
            e->hostlen = (uint8_t)hl;
        } else {
            derive_hostname(&e->ip, e->host, &e->hostlen);
        }
    }
    return 0;
}

/* --- published service objects ------------------------------------------------------------ */

static void
dsvc_unref(void *p)
{
    struct dns_svc *s = p;
    if (!s || --s->refcnt > 0)
        return;
    free(s->ext);
    free(s->ports);
    free(s->eports);
    free(s->eps);
    free(s->htab);
    free(s);
}

static void
wset_free(struct dns_epset *e)
{
    free(e->name);
    free(e->eps);
    free(e->ports);
    memset(e, 0, sizeof(*e));
}

static void
wsvc_free(void *p)
{
    struct dns_wsvc *w = p;
    free(w->ports);
    free(w->ext);
    wset_free(&w->legacy);
    for (int i = 0; i < w->nslices; i++)
        wset_free(&w->slices[i]);
    free(w->slices);
    dsvc_unref(w->pub);
    free(w);
}

static void
append_ep(struct dns_svc *s, const struct dns_ep *e)
{
    if (s->neps < BSN_DNS_MAX_ENDPOINTS)
        s->eps[s->neps++] = *e;
}

static struct dns_svc *
dsvc_build(struct bsn_dns_zone *z, const struct dns_wsvc *w)
{
    struct dns_svc *s = bsn_calloc(1, sizeof(*s));
    s->refcnt = 1;
    s->type = w->type;
    /* fqdn: <name>.<ns>.svc.<zone> */
    size_t o = 0;
    s->fqdn[o++] = (uint8_t)w->namelen;
    memcpy(s->fqdn + o, w->key, w->namelen);
    o += w->namelen;
    s->fqdn[o++] = (uint8_t)w->nslen;
    memcpy(s->fqdn + o, w->key + w->namelen + 1, w->nslen);
    o += w->nslen;
    memcpy(s->fqdn + o, "\3svc", 4);
    o += 4;
    memcpy(s->fqdn + o, z->origin, z->origin_len);
    s->fqdn_len = (uint16_t)(o + z->origin_len);
    s->nips = w->nips;
    memcpy(s->ips, w->ips, sizeof(s->ips));
    if (w->ext_len) {
        s->ext = bsn_malloc(w->ext_len);
        memcpy(s->ext, w->ext, w->ext_len);
        s->ext_len = w->ext_len;
    }
    if (w->nports) {
        s->ports = bsn_malloc((size_t)w->nports * sizeof(*s->ports));
        memcpy(s->ports, w->ports, (size_t)w->nports * sizeof(*s->ports));
        s->nports = w->nports;
    }
    if (s->type != BSN_DNS_SVC_HEADLESS)
        return s;

    /* endpoints: the union of the slices if any, else the Endpoints object */
    const struct dns_epset *sets = w->nslices ? w->slices : &w->legacy;
    int nsets = w->nslices ? w->nslices : 1;
    size_t total = 0;
    const struct dns_epset *portsrc = NULL;
    for (int i = 0; i < nsets; i++) {
        total += (size_t)sets[i].neps;
        if (!portsrc && sets[i].nports)
            portsrc = &sets[i];
    }
    if (total > BSN_DNS_MAX_ENDPOINTS)
        total = BSN_DNS_MAX_ENDPOINTS;
    s->eps = total ? bsn_malloc(total * sizeof(*s->eps)) : NULL;
    for (int i = 0; i < nsets; i++)
        for (int k = 0; k < sets[i].neps; k++)
            if (sets[i].eps[k].ready || w->publish_not_ready)
                append_ep(s, &sets[i].eps[k]);
    /* headless SRV port numbers come from the endpoints (the pods' real ports), else the
     * service's ports */
    const struct dns_port *ep_ports = portsrc ? portsrc->ports : w->ports;
    int nep_ports = portsrc ? portsrc->nports : w->nports;
    if (nep_ports) {
        s->eports = bsn_malloc((size_t)nep_ports * sizeof(*s->eports));
        memcpy(s->eports, ep_ports, (size_t)nep_ports * sizeof(*s->eports));
        s->neports = nep_ports;
    }
    /* hostname index: open addressing over endpoint indexes (+1) */
    if (s->neps) {
        uint32_t cap = 4;
        while (cap < (uint32_t)s->neps * 2)
            cap <<= 1;
        s->hcap = cap;
        s->htab = bsn_calloc(cap, sizeof(*s->htab));
        for (int i = 0; i < s->neps; i++) {
            uint32_t h = dns_hash(s->eps[i].host, s->eps[i].hostlen) & (cap - 1);
            while (s->htab[h])
                h = (h + 1) & (cap - 1);
            s->htab[h] = (uint32_t)i + 1;
        }
    }
    return s;
}

/* --- PTR ownership (writer) ---------------------------------------------------------------- */

/* Who publishes a PTR for one address: the target names (a few bytes each, exact size). */
struct ptr_owner {
    int n, cap;
    struct {
        uint16_t len;
        uint8_t *name;
    } * t;
};

static void
ptr_owner_free(void *p)
{
    struct ptr_owner *o = p;
    for (int i = 0; i < o->n; i++)
        free(o->t[i].name);
    free(o->t);
    free(o);
}

struct touched {
    int n, cap;
    uint8_t (*keys)[DNS_PTR_KEYLEN];
};

static void
ptr_key(const struct dns_addr *a, uint8_t *key)
{
    key[0] = a->fam;
    memcpy(key + 1, a->a, 16);
}

static void
touch(struct touched *t, const uint8_t *key)
{
    for (int i = 0; i < t->n; i++)
        if (memcmp(t->keys[i], key, DNS_PTR_KEYLEN) == 0)
            return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->keys = bsn_realloc(t->keys, (size_t)t->cap * DNS_PTR_KEYLEN);
    }
    memcpy(t->keys[t->n++], key, DNS_PTR_KEYLEN);
}

static void
ptr_pair(struct bsn_dns_zone *z, const struct dns_addr *a, const uint8_t *target, size_t tlen,
         bool add, struct touched *t)
{
    uint8_t key[DNS_PTR_KEYLEN];
    ptr_key(a, key);
    struct ptr_owner *o = dns_map_get(&z->wptr, key, sizeof(key));
    if (add) {
        if (!o) {
            o = bsn_calloc(1, sizeof(*o));
            dns_map_put(&z->wptr, 0, key, sizeof(key), o);
        }
        if (o->n == o->cap) {
            o->cap = o->cap ? o->cap * 2 : 2;
            o->t = bsn_realloc(o->t, (size_t)o->cap * sizeof(*o->t));
        }
        o->t[o->n].len = (uint16_t)tlen;
        o->t[o->n].name = bsn_malloc(tlen);
        memcpy(o->t[o->n].name, target, tlen);
        o->n++;
    } else if (o) {
        for (int i = 0; i < o->n; i++) {
            if (o->t[i].len == tlen && memcmp(o->t[i].name, target, tlen) == 0) {
                free(o->t[i].name);
                o->t[i] = o->t[--o->n];
                break;
            }
        }
    }
    touch(t, key);
}

/* Adds (or removes) every PTR of service s. */
static void
ptr_service(struct bsn_dns_zone *z, const struct dns_svc *s, bool add, struct touched *t)
{
    if (!s)
        return;
    if (s->type == BSN_DNS_SVC_CLUSTER_IP) {
        for (int i = 0; i < s->nips; i++)
            ptr_pair(z, &s->ips[i], s->fqdn, s->fqdn_len, add, t);
    } else if (s->type == BSN_DNS_SVC_HEADLESS) {
        uint8_t name[BSN_DNS_NAME_MAX];
        for (int i = 0; i < s->neps; i++) {
            const struct dns_ep *e = &s->eps[i];
            if (1 + e->hostlen + s->fqdn_len > BSN_DNS_NAME_MAX)
                continue;
            name[0] = e->hostlen;
            memcpy(name + 1, e->host, e->hostlen);
            memcpy(name + 1 + e->hostlen, s->fqdn, s->fqdn_len);
            ptr_pair(z, &e->ip, name, 1 + e->hostlen + s->fqdn_len, add, t);
        }
    }
}

static void
ptr_publish(struct bsn_dns_zone *z, struct touched *t)
{
    struct bsn_dns_snap *d = z->draft;
    for (int i = 0; i < t->n; i++) {
        const uint8_t *key = t->keys[i];
        struct ptr_owner *o = dns_map_get(&z->wptr, key, DNS_PTR_KEYLEN);
        if (!o || o->n == 0) {
            if (o)
                dns_map_del(&z->wptr, 0, key, DNS_PTR_KEYLEN);
            dns_map_del(&d->ptrs, d->gen, key, DNS_PTR_KEYLEN);
            continue;
        }
        size_t total = 0;
        for (int k = 0; k < o->n; k++)
            total += o->t[k].len;
        struct dns_ptr *p = bsn_malloc(sizeof(*p) + total);
        p->n = o->n;
        p->len = (uint32_t)total;
        size_t off = 0;
        for (int k = 0; k < o->n; k++) {
            memcpy(p->names + off, o->t[k].name, o->t[k].len);
            off += o->t[k].len;
        }
        dns_map_put(&d->ptrs, d->gen, key, DNS_PTR_KEYLEN, p);
    }
    free(t->keys);
}

/* --- snapshots ----------------------------------------------------------------------------- */

static struct bsn_dns_snap *
snap_new(void)
{
    struct bsn_dns_snap *s = bsn_calloc(1, sizeof(*s));
    dns_map_init(&s->svcs, dsvc_unref);
    dns_map_init(&s->nss, NULL);
    dns_map_init(&s->ptrs, free);
    return s;
}

static void
snap_free(struct bsn_dns_snap *s)
{
    dns_map_fini(&s->svcs);
    dns_map_fini(&s->nss);
    dns_map_fini(&s->ptrs);
    free(s);
}

static void
ensure_draft(struct bsn_dns_zone *z)
{
    if (z->draft)
        return;
    struct bsn_dns_snap *cur = atomic_load(&z->cur);
    struct bsn_dns_snap *d = snap_new();
    d->gen = ++z->gen;
    d->serial = cur->serial + 1;
    dns_map_share(&d->svcs, &cur->svcs);
    dns_map_share(&d->nss, &cur->nss);
    dns_map_share(&d->ptrs, &cur->ptrs);
    z->draft = d;
}

static void
reclaim(struct bsn_dns_zone *z, bool force)
{
    struct bsn_dns_snap **pp = &z->retired;
    while (*pp) {
        struct bsn_dns_snap *r = *pp;
        bool pinned = false;
        for (int i = 0; i < BSN_DNS_ZONE_READERS && !force; i++)
            if (atomic_load(&z->hp[i].p) == r) {
                pinned = true;
                break;
            }
        if (pinned) {
            pp = &r->next_retired;
        } else {
            *pp = r->next_retired;
            snap_free(r);
        }
    }
}

static void
publish(struct bsn_dns_zone *z)
{
    if (!z->draft || z->depth > 0)
        return;
    struct bsn_dns_snap *old = atomic_exchange(&z->cur, z->draft);
    z->draft = NULL;
    old->next_retired = z->retired;
    z->retired = old;
    reclaim(z, false);
}

/* --- zone ---------------------------------------------------------------------------------- */

struct bsn_dns_zone *
bsn_dns_zone_new(const char *domain, uint32_t ttl)
{
    struct bsn_dns_zone *z = bsn_calloc(1, sizeof(*z));
    pthread_mutex_init(&z->mu, NULL);
    if (!domain || !*domain)
        domain = BSN_DNS_DEFAULT_DOMAIN;
    int n = bsn_dns_name_from_text(domain, strlen(domain), z->origin, true);
    if (n < 0 || n > 128) /* leave room for <host>.<svc>.<ns>.svc. */
        n = bsn_dns_name_from_text(BSN_DNS_DEFAULT_DOMAIN, 13, z->origin, true);
    z->origin_len = (uint16_t)n;
    for (const uint8_t *p = z->origin; *p; p += 1 + *p)
        z->origin_labels++;
    z->ttl = ttl ? ttl : BSN_DNS_DEFAULT_TTL;
    /* SOA names: ns.dns.<zone> hostmaster.<zone> */
    size_t o = 0;
    memcpy(z->soa_names, "\2ns\3dns", 7);
    o = 7;
    memcpy(z->soa_names + o, z->origin, z->origin_len);
    o += z->origin_len;
    z->ns_name_len = (uint16_t)o;
    memcpy(z->soa_names + o, "\12hostmaster", 11);
    o += 11;
    memcpy(z->soa_names + o, z->origin, z->origin_len);
    o += z->origin_len;
    z->soa_names_len = (uint16_t)o;
    struct bsn_dns_snap *s = snap_new();
    s->serial = (uint32_t)time(NULL);
    atomic_store(&z->cur, s);
    dns_map_init(&z->wsvcs, wsvc_free);
    dns_map_init(&z->wns, free);
    dns_map_init(&z->wptr, ptr_owner_free);
    return z;
}

void
bsn_dns_zone_free(struct bsn_dns_zone *z)
{
    if (!z)
        return;
    if (z->draft)
        snap_free(z->draft);
    reclaim(z, true);
    snap_free(atomic_load(&z->cur));
    dns_map_fini(&z->wsvcs);
    dns_map_fini(&z->wns);
    dns_map_fini(&z->wptr);
    pthread_mutex_destroy(&z->mu);
    free(z);
}

const uint8_t *
bsn_dns_zone_origin(const struct bsn_dns_zone *z)
{
    return z->origin;
}

void
bsn_dns_zone_begin(struct bsn_dns_zone *z)
{
    pthread_mutex_lock(&z->mu);
    z->depth++;
    pthread_mutex_unlock(&z->mu);
}

void
bsn_dns_zone_commit(struct bsn_dns_zone *z)
{
    pthread_mutex_lock(&z->mu);
    if (z->depth > 0)
        z->depth--;
    publish(z);
    pthread_mutex_unlock(&z->mu);
}

size_t
bsn_dns_zone_service_count(struct bsn_dns_zone *z)
{
    /* the writer frees snapshots only under the mutex, so cur is safe to read here */
    pthread_mutex_lock(&z->mu);
    size_t n = dns_map_count(&atomic_load(&z->cur)->svcs);
    pthread_mutex_unlock(&z->mu);
    return n;
}

/* Recomputes the published state of writer entry w (under the mutex, draft ensured). */
static void
svc_sync(struct bsn_dns_zone *z, struct dns_wsvc *w)
{
    struct bsn_dns_snap *d = z->draft;
    struct dns_svc *old = w->pub;
    struct dns_svc *nw = w->has_svc ? dsvc_build(z, w) : NULL;
    struct touched t = {0};
    ptr_service(z, old, false, &t);
    ptr_service(z, nw, true, &t);
    ptr_publish(z, &t);

    const char *ns = w->key + w->namelen + 1;
    if (nw) {
        nw->refcnt++; /* one for the map item, one for w->pub */
        dns_map_put(&d->svcs, d->gen, w->key, w->keylen, nw);
    } else if (old) {
        dns_map_del(&d->svcs, d->gen, w->key, w->keylen);
    }
    if (!old != !nw) {
        int *cnt = dns_map_get(&z->wns, ns, w->nslen);
        if (nw) {
            if (!cnt) {
                cnt = bsn_calloc(1, sizeof(*cnt));
                dns_map_put(&z->wns, 0, ns, w->nslen, cnt);
                dns_map_put(&d->nss, d->gen, ns, w->nslen, (void *)1);
            }
            (*cnt)++;
        } else if (cnt && --(*cnt) == 0) {
            dns_map_del(&z->wns, 0, ns, w->nslen);
            dns_map_del(&d->nss, d->gen, ns, w->nslen);
        }
    }
    w->pub = nw;
    dsvc_unref(old);
    if (!w->has_svc && !w->has_eps && w->nslices == 0)
        dns_map_del(&z->wsvcs, 0, w->key, w->keylen);
}

/* Finds or creates the writer entry for ns/name; NULL if the names are invalid. */
static struct dns_wsvc *
wsvc_get(struct bsn_dns_zone *z, const char *ns, const char *name, bool create)
{
    char key[2 * BSN_DNS_LABEL_MAX + 2];
    size_t nsl = ns ? strlen(ns) : 0, nl = name ? strlen(name) : 0;
    int kl = dns_svc_key(ns ? ns : "", nsl, name ? name : "", nl, key);
    if (kl < 0)
        return NULL;
    struct dns_wsvc *w = dns_map_get(&z->wsvcs, key, (size_t)kl);
    if (w || !create)
        return w;
    w = bsn_calloc(1, sizeof(*w));
    memcpy(w->key, key, (size_t)kl);
    w->keylen = (uint16_t)kl;
    w->namelen = (uint8_t)nl;
    w->nslen = (uint8_t)nsl;
    dns_map_put(&z->wsvcs, 0, key, (size_t)kl, w);
    return w;
}

static void
lock_draft(struct bsn_dns_zone *z)
{
    pthread_mutex_lock(&z->mu);
    ensure_draft(z);
}

static void
unlock_publish(struct bsn_dns_zone *z)
{
    publish(z);
    pthread_mutex_unlock(&z->mu);
}

int
bsn_dns_zone_put_service(struct bsn_dns_zone *z, const char *ns, const char *name,
                         enum bsn_dns_svc_type type, const char *const *cluster_ips, size_t n_ips,
                         const struct bsn_dns_port *ports, size_t n_ports,
                         const char *external_name, bool publish_not_ready, struct bsn_err *err)
{
    struct dns_addr ips[BSN_DNS_MAX_IPS];
    int nips = 0;
    if (type == BSN_DNS_SVC_CLUSTER_IP) {
        for (size_t i = 0; i < n_ips && nips < BSN_DNS_MAX_IPS; i++) {
            if (cluster_ips[i] && strcmp(cluster_ips[i], "None") == 0)
                continue;
            if (dns_addr_parse(cluster_ips[i], &ips[nips]) < 0)
                return bsn_err_set(err, 422, "Invalid", "service %s/%s: invalid clusterIP '%s'", ns,
                                   name, cluster_ips[i] ? cluster_ips[i] : "(null)");
            nips++;
        }
        if (nips == 0)
            type = BSN_DNS_SVC_HEADLESS;
    }
    uint8_t ext[BSN_DNS_NAME_MAX];
    int ext_len = 0;
    if (type == BSN_DNS_SVC_EXTERNAL_NAME) {
        ext_len = external_name
                      ? bsn_dns_name_from_text(external_name, strlen(external_name), ext, true)
                      : -1;
        if (ext_len <= 1)
            return bsn_err_set(err, 422, "Invalid", "service %s/%s: invalid externalName '%s'", ns,
                               name, external_name ? external_name : "(null)");
    }
    struct dns_port *p = NULL;
    int np = 0;
    if (conv_ports(ports, n_ports, &p, &np, err) < 0)
        return bsn_err_prefix(err, "service %s/%s", ns, name);

    lock_draft(z);
    struct dns_wsvc *w = wsvc_get(z, ns, name, true);
    if (!w) {
        pthread_mutex_unlock(&z->mu);
        free(p);
        return bsn_err_set(err, 422, "Invalid", "service '%s/%s': invalid name", ns ? ns : "",
                           name ? name : "");
    }
    w->has_svc = true;
    w->type = type;
    w->publish_not_ready = publish_not_ready;
    w->nips = nips;
    memcpy(w->ips, ips, sizeof(ips));
    free(w->ext);
    w->ext = ext_len ? bsn_malloc((size_t)ext_len) : NULL;
    if (ext_len)
        memcpy(w->ext, ext, (size_t)ext_len);
    w->ext_len = (uint16_t)ext_len;
    free(w->ports);
    w->ports = p;
    w->nports = np;
    svc_sync(z, w);
    unlock_publish(z);
    return 0;
}

int
bsn_dns_zone_delete_service(struct bsn_dns_zone *z, const char *ns, const char *name)
{
    lock_draft(z);
    struct dns_wsvc *w = wsvc_get(z, ns, name, false);
    if (w && w->has_svc) {
        w->has_svc = false;
        svc_sync(z, w);
    }
    unlock_publish(z);
    return 0;
}

static int
put_set(struct bsn_dns_zone *z, const char *ns, const char *svc, const char *slice,
        const struct bsn_dns_endpoint *eps, size_t n_eps, const struct bsn_dns_port *ports,
        size_t n_ports, struct bsn_err *err)
{
    struct dns_epset set = {0};
    if (conv_eps(eps, n_eps, &set.eps, &set.neps, err) < 0 ||
        conv_ports(ports, n_ports, &set.ports, &set.nports, err) < 0) {
        wset_free(&set);
        return bsn_err_prefix(err, "endpoints %s/%s", ns, svc);
    }
    lock_draft(z);
    struct dns_wsvc *w = wsvc_get(z, ns, svc, true);
    if (!w) {
        pthread_mutex_unlock(&z->mu);
        wset_free(&set);
        return bsn_err_set(err, 422, "Invalid", "endpoints '%s/%s': invalid name", ns ? ns : "",
                           svc ? svc : "");
    }
    if (!slice) {
        wset_free(&w->legacy);
        w->legacy = set;
        w->has_eps = true;
    } else {
        int i;
        for (i = 0; i < w->nslices; i++)
            if (strcmp(w->slices[i].name, slice) == 0)
                break;
        if (i == w->nslices) {
            w->slices = bsn_realloc(w->slices, (size_t)(w->nslices + 1) * sizeof(*w->slices));
            w->nslices++;
        } else {
            wset_free(&w->slices[i]);
        }
        set.name = bsn_strdup(slice);
        w->slices[i] = set;
    }
    svc_sync(z, w);
    unlock_publish(z);
    return 0;
}

int
bsn_dns_zone_put_endpoints(struct bsn_dns_zone *z, const char *ns, const char *svc,
                           const struct bsn_dns_endpoint *eps, size_t n_eps,
                           const struct bsn_dns_port *ports, size_t n_ports, struct bsn_err *err)
{
    return put_set(z, ns, svc, NULL, eps, n_eps, ports, n_ports, err);
}

int
bsn_dns_zone_put_endpoint_slice(struct bsn_dns_zone *z, const char *ns, const char *svc,
                                const char *slice, const struct bsn_dns_endpoint *eps, size_t n_eps,
                                const struct bsn_dns_port *ports, size_t n_ports,
                                struct bsn_err *err)
{
    if (!slice || !*slice)
        return bsn_err_set(err, 422, "Invalid", "endpointslice for %s/%s: missing name", ns, svc);
    return put_set(z, ns, svc, slice, eps, n_eps, ports, n_ports, err);
}

int
bsn_dns_zone_delete_endpoints(struct bsn_dns_zone *z, const char *ns, const char *svc)
{
    lock_draft(z);
    struct dns_wsvc *w = wsvc_get(z, ns, svc, false);
    if (w && w->has_eps) {
        wset_free(&w->legacy);
        w->has_eps = false;
        svc_sync(z, w);
    }
    unlock_publish(z);
    return 0;
}

int
bsn_dns_zone_delete_endpoint_slice(struct bsn_dns_zone *z, const char *ns, const char *svc,
                                   const char *slice)
{
    lock_draft(z);
    struct dns_wsvc *w = wsvc_get(z, ns, svc, false);
    if (w && slice) {
        for (int i = 0; i < w->nslices; i++) {
            if (strcmp(w->slices[i].name, slice) == 0) {
                wset_free(&w->slices[i]);
                w->slices[i] = w->slices[--w->nslices];
                svc_sync(z, w);
                break;
            }
        }
    }
    unlock_publish(z);
    return 0;
}

static void
collect_wsvc(const void *key, size_t klen, void *val, void *arg)
{
    struct dns_wsvc ***cursor = arg;
    *(*cursor)++ = val;
}

void
bsn_dns_zone_reset(struct bsn_dns_zone *z)
{
    lock_draft(z);
    size_t n = dns_map_count(&z->wsvcs);
    struct dns_wsvc **all = bsn_malloc((n ? n : 1) * sizeof(*all)), **cursor = all;
    dns_map_foreach(&z->wsvcs, collect_wsvc, &cursor);
    for (size_t i = 0; i < n; i++) {
        struct dns_wsvc *w = all[i];
        w->has_svc = w->has_eps = false;
        wset_free(&w->legacy);
        for (int k = 0; k < w->nslices; k++)
            wset_free(&w->slices[k]);
        w->nslices = 0;
        svc_sync(z, w); /* unpublishes and drops the entry */
    }
    free(all);
    unlock_publish(z);
}

/* --- readers ------------------------------------------------------------------------------- */

int
bsn_dns_zone_reader_new(struct bsn_dns_zone *z)
{
    for (int i = 0; i < BSN_DNS_ZONE_READERS; i++) {
        bool expected = false;
        if (atomic_compare_exchange_strong(&z->slot_used[i], &expected, true))
            return i;
    }
    return -1;
}

void
bsn_dns_zone_reader_free(struct bsn_dns_zone *z, int slot)
{
    if (slot < 0 || slot >= BSN_DNS_ZONE_READERS)
        return;
    atomic_store(&z->hp[slot].p, NULL);
    atomic_store(&z->slot_used[slot], false);
}

const struct bsn_dns_snap *
bsn_dns_zone_pin(struct bsn_dns_zone *z, int slot)
{
    for (;;) {
        struct bsn_dns_snap *s = atomic_load(&z->cur);
        atomic_store(&z->hp[slot].p, s);
        if (atomic_load(&z->cur) == s)
            return s;
    }
}

void
bsn_dns_zone_unpin(struct bsn_dns_zone *z, int slot)
{
    atomic_store(&z->hp[slot].p, NULL);
}
