/*
 * dns_answer.c - answers a parsed query from a zone snapshot, per the Kubernetes DNS
 * specification 1.1.0 (see dns_zone.h for the records and the NXDOMAIN/NODATA rules).
 * Runs on the server threads: no locks, no allocation.
 */
#include <string.h>

#include "net/dns_zone_int.h"

struct ans {
    struct bsn_dns_enc e;
    const struct bsn_dns_zone *z;
    const struct bsn_dns_snap *s;
    const struct bsn_dns_query *q;
    const uint8_t *lab[128]; /* label pointers into q->qname_lc */
    int nlab;
};

static bool
want(const struct ans *a, uint16_t type)
{
    return a->q->qtype == type || a->q->qtype == BSN_DNS_T_ANY;
}

static void
add_addr(struct ans *a, int section, const uint8_t *owner, const struct dns_addr *ip)
{
    if (ip->fam == 4)
        bsn_dns_enc_rr(&a->e, section, owner, BSN_DNS_T_A, a->z->ttl, ip->a, 4);
    else
        bsn_dns_enc_rr(&a->e, section, owner, BSN_DNS_T_AAAA, a->z->ttl, ip->a, 16);
}

static bool
addr_wanted(const struct ans *a, const struct dns_addr *ip)
{
    return want(a, ip->fam == 4 ? BSN_DNS_T_A : BSN_DNS_T_AAAA);
}

static void
add_soa(struct ans *a, int section)
{
    const struct bsn_dns_zone *z = a->z;
    uint8_t rd[2 * BSN_DNS_NAME_MAX + 20];
    memcpy(rd, z->soa_names, z->soa_names_len);
    uint8_t *p = rd + z->soa_names_len;
    bsn_dns_put32(p, a->s->serial);
    bsn_dns_put32(p + 4, 7200);   /* refresh */
    bsn_dns_put32(p + 8, 1800);   /* retry */
    bsn_dns_put32(p + 12, 86400); /* expire */
    bsn_dns_put32(p + 16, z->ttl);
    bsn_dns_enc_rr(&a->e, section, section == 1 ? NULL : z->origin, BSN_DNS_T_SOA, z->ttl, rd,
                   z->soa_names_len + 20u);
}

/* NXDOMAIN, or NODATA (rcode 0 and nothing in the answer section): SOA in authority. */
static size_t
negative(struct ans *a, int rcode)
{
    add_soa(a, 2);
    return bsn_dns_enc_finish(&a->e, a->q, rcode);
}

static size_t
positive(struct ans *a)
{
    if (a->e.counts[1] == 0 && !a->e.truncated)
        return negative(a, BSN_DNS_R_NOERROR);
    return bsn_dns_enc_finish(&a->e, a->q, BSN_DNS_R_NOERROR);
}

static bool
label_is(const uint8_t *l, const char *lit)
{
    size_t n = strlen(lit);
    return l[0] == n && memcmp(l + 1, lit, n) == 0;
}

/* --- reverse names ------------------------------------------------------------------------- */

static int
hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parses a reverse name into a PTR key; 1 if it is a full address, 0 if not reverse or
 * partial. */
static int
reverse_key(const struct ans *a, uint8_t *key)
{
    int n = a->nlab;
    if (n >= 6 && label_is(a->lab[n - 1], "arpa") && label_is(a->lab[n - 2], "in-addr")) {
        if (n != 6)
            return 0;
        memset(key, 0, DNS_PTR_KEYLEN);
        key[0] = 4;
        for (int i = 0; i < 4; i++) {
            const uint8_t *l = a->lab[i];
            if (l[0] < 1 || l[0] > 3)
                return 0;
            int v = 0;
            for (int k = 1; k <= l[0]; k++) {
                if (l[k] < '0' || l[k] > '9')
                    return 0;
                v = v * 10 + (l[k] - '0');
            }
            if (v > 255 || (l[0] > 1 && l[1] == '0'))
                return 0;
            key[1 + 3 - i] = (uint8_t)v;
        }
        return 1;
    }
    if (n >= 2 && label_is(a->lab[n - 1], "arpa") && label_is(a->lab[n - 2], "ip6")) {
        if (n != 34)
            return 0;
        memset(key, 0, DNS_PTR_KEYLEN);
        key[0] = 6;
        for (int i = 0; i < 32; i++) {
            const uint8_t *l = a->lab[i];
            int v = l[0] == 1 ? hexval(l[1]) : -1;
            if (v < 0)
                return 0;
            int nib = 31 - i; /* nibble index from the most significant */
            key[1 + nib / 2] |= (uint8_t)(nib % 2 == 0 ? v << 4 : v);
        }
        return 1;
    }
    return 0;
}

static bool
is_reverse(const struct ans *a)
{
    int n = a->nlab;
    return n >= 2 && label_is(a->lab[n - 1], "arpa") &&
           (label_is(a->lab[n - 2], "in-addr") || label_is(a->lab[n - 2], "ip6"));
}

/* --- service names ------------------------------------------------------------------------- */

static void
answer_service(struct ans *a, const struct dns_svc *s, int *rcode)
{
    switch (s->type) {
    case BSN_DNS_SVC_CLUSTER_IP:
        for (int i = 0; i < s->nips; i++)
            if (addr_wanted(a, &s->ips[i]))
                add_addr(a, 1, NULL, &s->ips[i]);
        break;
    case BSN_DNS_SVC_HEADLESS:
        if (s->neps == 0) {
            *rcode = BSN_DNS_R_NXDOMAIN; /* spec 2.4.1: no ready endpoints */
            return;
        }
        for (int i = 0; i < s->neps; i++)
            if (addr_wanted(a, &s->eps[i].ip))
                add_addr(a, 1, NULL, &s->eps[i].ip);
        break;
    case BSN_DNS_SVC_EXTERNAL_NAME:
        /* a CNAME answers every type (RFC 1034 3.6.2); the server appends the target's
         * records when it can forward (dns_server.c) */
        bsn_dns_enc_rr(&a->e, 1, NULL, BSN_DNS_T_CNAME, a->z->ttl, s->ext, s->ext_len);
        break;
    }
}

static bool
port_match(const struct dns_port *p, const uint8_t *plabel, const uint8_t *protolabel)
{
    /* labels are "_name" and "_proto" */
    return p->namelen > 0 && plabel[0] == p->namelen + 1 && plabel[1] == '_' &&
           memcmp(plabel + 2, p->name, p->namelen) == 0 && protolabel[0] == p->protolen + 1 &&
           protolabel[1] == '_' && memcmp(protolabel + 2, p->proto, p->protolen) == 0;
}

static bool
proto_exists(const struct dns_svc *s, const uint8_t *protolabel)
{
    const struct dns_port *ports = s->type == BSN_DNS_SVC_HEADLESS ? s->eports : s->ports;
    int n = s->type == BSN_DNS_SVC_HEADLESS ? s->neports : s->nports;
    if (s->type == BSN_DNS_SVC_HEADLESS && s->neps == 0)
        return false;
    for (int i = 0; i < n; i++)
        if (ports[i].namelen > 0 && protolabel[0] == ports[i].protolen + 1 &&
            protolabel[1] == '_' && memcmp(protolabel + 2, ports[i].proto, ports[i].protolen) == 0)
            return true;
    return false;
}

static size_t
ep_name(const struct dns_svc *s, const struct dns_ep *e, uint8_t *out)
{
    if (1u + e->hostlen + s->fqdn_len > BSN_DNS_NAME_MAX)
        return 0;
    out[0] = e->hostlen;
    memcpy(out + 1, e->host, e->hostlen);
    memcpy(out + 1 + e->hostlen, s->fqdn, s->fqdn_len);
    return 1u + e->hostlen + s->fqdn_len;
}

static void
srv_rr(struct ans *a, uint16_t port, const uint8_t *target, size_t tlen)
{
    uint8_t rd[6 + BSN_DNS_NAME_MAX];
    bsn_dns_put16(rd, 0);       /* priority */
    bsn_dns_put16(rd + 2, 100); /* weight */
    bsn_dns_put16(rd + 4, port);
    memcpy(rd + 6, target, tlen);
    bsn_dns_enc_rr(&a->e, 1, NULL, BSN_DNS_T_SRV, a->z->ttl, rd, 6 + tlen);
}

/* _<port>._<proto>.<svc>.<ns>.svc.<zone> */
static void
answer_srv(struct ans *a, const struct dns_svc *s, int *rcode)
{
    const uint8_t *pl = a->lab[0], *prl = a->lab[1];
    bool found = false;
    if (s->type == BSN_DNS_SVC_CLUSTER_IP) {
        for (int i = 0; i < s->nports; i++) {
            if (!port_match(&s->ports[i], pl, prl))
                continue;
            found = true;
            if (want(a, BSN_DNS_T_SRV))
                srv_rr(a, s->ports[i].port, s->fqdn, s->fqdn_len);
        }
        if (found && want(a, BSN_DNS_T_SRV))
            for (int i = 0; i < s->nips; i++)
                add_addr(a, 3, s->fqdn, &s->ips[i]);
    } else if (s->type == BSN_DNS_SVC_HEADLESS) {
        uint8_t name[BSN_DNS_NAME_MAX];
        for (int i = 0; i < s->neports && s->neps > 0; i++) {
            if (!port_match(&s->eports[i], pl, prl))
                continue;
            found = true;
            if (!want(a, BSN_DNS_T_SRV))
                continue;
            for (int k = 0; k < s->neps; k++) {
                size_t n = ep_name(s, &s->eps[k], name);
                if (n)
                    srv_rr(a, s->eports[i].port, name, n);
            }
        }
        if (found && want(a, BSN_DNS_T_SRV))
            for (int k = 0; k < s->neps; k++) {
                size_t n = ep_name(s, &s->eps[k], name);
                if (n)
                    add_addr(a, 3, name, &s->eps[k].ip);
            }
    }
    if (!found)
        *rcode = BSN_DNS_R_NXDOMAIN;
}

/* <host>.<svc>.<ns>.svc.<zone>, or the empty non-terminal _<proto>.<svc>... */
static void
answer_host(struct ans *a, const struct dns_svc *s, int *rcode)
{
    const uint8_t *hl = a->lab[0];
    if (hl[1] == '_' && s->type != BSN_DNS_SVC_EXTERNAL_NAME) {
        if (!proto_exists(s, hl))
            *rcode = BSN_DNS_R_NXDOMAIN;
        return; /* NODATA */
    }
    if (s->type != BSN_DNS_SVC_HEADLESS || !s->htab) {
        *rcode = BSN_DNS_R_NXDOMAIN;
        return;
    }
    bool found = false;
    uint32_t mask = s->hcap - 1;
    for (uint32_t h = dns_hash(hl + 1, hl[0]) & mask; s->htab[h]; h = (h + 1) & mask) {
        const struct dns_ep *e = &s->eps[s->htab[h] - 1];
        if (e->hostlen != hl[0] || memcmp(e->host, hl + 1, hl[0]) != 0)
            continue;
        found = true;
        if (addr_wanted(a, &e->ip))
            add_addr(a, 1, NULL, &e->ip);
    }
    if (!found)
        *rcode = BSN_DNS_R_NXDOMAIN;
}

/* <a-b-c-d>.<ns>.pod.<zone> (CoreDNS "pods insecure", what k3s configures): the address is
 * taken from the name itself; an extension to the spec, kept for pods that rely on it. */
static size_t
answer_pod(struct ans *a, int k)
{
    if (k == 2)
        return positive(a);
    if (k != 3)
        return negative(a, BSN_DNS_R_NXDOMAIN);
    const uint8_t *l = a->lab[0];
    char txt[BSN_DNS_LABEL_MAX + 1];
    bool v6 = false;
    for (int i = 0; i < l[0]; i++) {
        char ch = (char)l[1 + i];
        txt[i] = ch;
        if (ch == '-')
            txt[i] = '.';
        else if (ch >= 'a' && ch <= 'f')
            v6 = true;
    }
    txt[l[0]] = 0;
    struct dns_addr ip;
    if (v6 || dns_addr_parse(txt, &ip) < 0 || ip.fam != 4) {
        for (int i = 0; i < l[0]; i++)
            txt[i] = l[1 + i] == '-' ? ':' : (char)l[1 + i];
        if (dns_addr_parse(txt, &ip) < 0 || ip.fam != 6)
            return negative(a, BSN_DNS_R_NXDOMAIN);
    }
    if (addr_wanted(a, &ip))
        add_addr(a, 1, NULL, &ip);
    return positive(a);
}

static size_t
answer_zone(struct ans *a, int k)
{
    const struct bsn_dns_snap *s = a->s;
    int rcode = BSN_DNS_R_NOERROR;
    if (k == 0) {
        if (want(a, BSN_DNS_T_SOA))
            add_soa(a, 1);
        if (want(a, BSN_DNS_T_NS))
            bsn_dns_enc_rr(&a->e, 1, NULL, BSN_DNS_T_NS, a->z->ttl, a->z->soa_names,
                           a->z->ns_name_len);
        return positive(a);
    }
    const uint8_t *top = a->lab[k - 1];
    if (k == 1) {
        if (label_is(top, "dns-version")) {
            if (want(a, BSN_DNS_T_TXT)) {
                uint8_t txt[1 + sizeof(BSN_DNS_SCHEMA_VERSION)];
                txt[0] = sizeof(BSN_DNS_SCHEMA_VERSION) - 1;
                memcpy(txt + 1, BSN_DNS_SCHEMA_VERSION, txt[0]);
                bsn_dns_enc_rr(&a->e, 1, NULL, BSN_DNS_T_TXT, a->z->ttl, txt, 1u + txt[0]);
            }
            return positive(a);
        }
        if (label_is(top, "svc") || label_is(top, "pod"))
            return positive(a); /* empty non-terminals */
        return negative(a, BSN_DNS_R_NXDOMAIN);
    }
    if (label_is(top, "pod"))
        return answer_pod(a, k);
    if (!label_is(top, "svc") || k > 5)
        return negative(a, BSN_DNS_R_NXDOMAIN);
    const uint8_t *nsl = a->lab[k - 2];
    if (k == 2)
        return negative(a, dns_map_get(&s->nss, nsl + 1, nsl[0]) ? BSN_DNS_R_NOERROR
                                                                 : BSN_DNS_R_NXDOMAIN);
    const uint8_t *svl = a->lab[k - 3];
    char key[2 * BSN_DNS_LABEL_MAX + 2];
    memcpy(key, svl + 1, svl[0]);
    key[svl[0]] = '.';
    memcpy(key + svl[0] + 1, nsl + 1, nsl[0]);
    const struct dns_svc *svc = dns_map_get(&s->svcs, key, svl[0] + 1u + nsl[0]);
    if (!svc)
        return negative(a, BSN_DNS_R_NXDOMAIN);
    if (k == 3)
        answer_service(a, svc, &rcode);
    else if (k == 4)
        answer_host(a, svc, &rcode);
    else if (a->lab[0][1] == '_' && a->lab[1][1] == '_')
        answer_srv(a, svc, &rcode);
    else
        rcode = BSN_DNS_R_NXDOMAIN;
    if (rcode != BSN_DNS_R_NOERROR)
        return negative(a, rcode);
    return positive(a);
}

int
bsn_dns_zone_answer(const struct bsn_dns_zone *z, const struct bsn_dns_snap *snap,
                    const struct bsn_dns_query *q, const uint8_t *qpkt, uint8_t *out, size_t limit,
                    size_t *outlen)
{
    struct ans a;
    a.z = z;
    a.s = snap;
    a.q = q;
    a.nlab = 0;
    for (const uint8_t *p = q->qname_lc; *p && a.nlab < 128; p += 1 + *p)
        a.lab[a.nlab++] = p;

    if (q->qtype == 251 || q->qtype == 252) { /* IXFR/AXFR: zone transfers not offered */
        *outlen = bsn_dns_reply_error(qpkt, q, BSN_DNS_R_NOTIMP, out, limit);
        return BSN_DNS_ANSWERED;
    }
    if (is_reverse(&a)) {
        uint8_t key[DNS_PTR_KEYLEN];
        const struct dns_ptr *p =
            reverse_key(&a, key) ? dns_map_get(&snap->ptrs, key, sizeof(key)) : NULL;
        if (!p)
            return BSN_DNS_NOT_IN_ZONE;
        bsn_dns_enc_init(&a.e, out, limit, q, qpkt, true);
        if (want(&a, BSN_DNS_T_PTR)) {
            const uint8_t *n = p->names;
            for (int i = 0; i < p->n; i++) {
                bsn_dns_enc_rr(&a.e, 1, NULL, BSN_DNS_T_PTR, z->ttl, n, 0);
                n += bsn_dns_name_len(n);
            }
        }
        *outlen = a.e.counts[1] ? bsn_dns_enc_finish(&a.e, q, BSN_DNS_R_NOERROR)
                                : negative(&a, BSN_DNS_R_NOERROR);
        return BSN_DNS_ANSWERED;
    }
    int k = a.nlab - z->origin_labels;
    if (k < 0 || memcmp(k < a.nlab ? a.lab[k] : q->qname_lc + q->qname_len - 1, z->origin,
                        z->origin_len) != 0)
        return BSN_DNS_NOT_IN_ZONE;
    if (q->qclass != BSN_DNS_CLASS_IN && q->qclass != BSN_DNS_T_ANY) {
        *outlen = bsn_dns_reply_error(qpkt, q, BSN_DNS_R_REFUSED, out, limit);
        return BSN_DNS_ANSWERED;
    }
    bsn_dns_enc_init(&a.e, out, limit, q, qpkt, true);
    *outlen = answer_zone(&a, k);
    return BSN_DNS_ANSWERED;
}
