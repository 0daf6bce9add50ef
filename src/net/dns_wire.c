/*
 * dns_wire.c - DNS wire format: strict query parsing, message walking, response encoding
 * with name compression. See dns_wire.h for the rules enforced.
 */
#include "net/dns_wire.h"

#include <stdio.h>
#include <string.h>

static inline uint8_t
lc(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

int
bsn_dns_name_read(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out, bool lower)
{
    size_t pos = *off, end = 0, outlen = 0;
    /* Every pointer must target an offset strictly below the start of the segment being
     * read: targets decrease strictly, so loops and forward pointers are impossible. */
    size_t ptr_limit = pos;
    bool jumped = false;

    for (;;) {
        if (pos >= len)
            return -1;
        uint8_t c = pkt[pos];
        if ((c & 0xC0) == 0xC0) {
            if (pos + 1 >= len)
                return -1;
            size_t target = (size_t)(c & 0x3F) << 8 | pkt[pos + 1];
            if (!jumped) {
                end = pos + 2;
                jumped = true;
            }
            if (target >= ptr_limit || target < BSN_DNS_HDR_LEN)
                return -1;
            ptr_limit = target;
            pos = target;
            continue;
        }
        if (c & 0xC0)
            return -1; /* 0x40/0x80: extended/obsolete label types */
        if (c == 0) {
            if (outlen + 1 > BSN_DNS_NAME_MAX)
                return -1;
            out[outlen++] = 0;
            pos++;
            break;
        }
        if (pos + 1 + c > len)
            return -1;
        if (outlen + 1 + c + 1 > BSN_DNS_NAME_MAX)
            return -1;
        out[outlen++] = c;
        for (size_t i = 0; i < c; i++)
            out[outlen++] = lower ? lc(pkt[pos + 1 + i]) : pkt[pos + 1 + i];
        pos += 1 + (size_t)c;
    }
    *off = jumped ? end : pos;
    return (int)outlen;
}

size_t
bsn_dns_name_len(const uint8_t *name)
{
    size_t n = 0;
    while (name[n])
        n += 1 + (size_t)name[n];
    return n + 1;
}

bool
bsn_dns_name_eq(const uint8_t *a, const uint8_t *b)
{
    for (;;) {
        if (*a != *b)
            return false;
        uint8_t l = *a;
        if (l == 0)
            return true;
        for (uint8_t i = 1; i <= l; i++)
            if (lc(a[i]) != lc(b[i]))
                return false;
        a += l + 1;
        b += l + 1;
    }
}

int
bsn_dns_name_to_text(const uint8_t *name, char *out, size_t outlen)
{
    size_t o = 0;
    if (name[0] == 0) {
        if (outlen < 2)
            return -1;
        out[0] = '.';
        out[1] = 0;
        return 1;
    }
    while (*name) {
        uint8_t l = *name++;
        for (uint8_t i = 0; i < l; i++) {
            uint8_t c = name[i];
            if (c == '.' || c == '\\' || c <= 0x20 || c >= 0x7f) {
                if (o + 5 >= outlen)
                    return -1;
                o += (size_t)snprintf(out + o, outlen - o, "\\%03u", c);
            } else {
                if (o + 2 >= outlen)
                    return -1;
                out[o++] = (char)c;
            }
        }
        name += l;
        if (o + 2 >= outlen)
            return -1;
        out[o++] = '.';
    }
    out[o] = 0;
    return (int)o;
}

int
bsn_dns_name_from_text(const char *text, size_t textlen, uint8_t *out, bool lower)
{
    size_t o = 0;
    if (textlen > 0 && text[textlen - 1] == '.')
        textlen--;
    if (textlen == 0) {
        out[0] = 0;
        return 1;
    }
    size_t start = 0;
    for (size_t i = 0; i <= textlen; i++) {
        if (i == textlen || text[i] == '.') {
            size_t l = i - start;
            if (l == 0 || l > BSN_DNS_LABEL_MAX || o + 1 + l + 1 > BSN_DNS_NAME_MAX)
                return -1;
            out[o++] = (uint8_t)l;
            for (size_t k = 0; k < l; k++)
                out[o++] = lower ? lc((uint8_t)text[start + k]) : (uint8_t)text[start + k];
            start = i + 1;
        }
    }
    out[o++] = 0;
    return (int)o;
}

/* Walks one RR header at *off (name + fixed fields); fills rr; checks rdata bounds. */
static int
walk_rr(const uint8_t *pkt, size_t len, size_t *off, struct bsn_dns_rr *rr, uint8_t *name)
{
    rr->name_off = (uint16_t)*off;
    if (bsn_dns_name_read(pkt, len, off, name, true) < 0)
        return -1;
    if (*off + 10 > len)
        return -1;
    const uint8_t *p = pkt + *off;
    rr->type = bsn_dns_get16(p);
    rr->rclass = bsn_dns_get16(p + 2);
    rr->ttl = bsn_dns_get32(p + 4);
    rr->ttl_off = (uint16_t)(*off + 4);
    rr->rdlen = bsn_dns_get16(p + 8);
    rr->rdata_off = (uint16_t)(*off + 10);
    if (*off + 10 + rr->rdlen > len)
        return -1;
    *off += 10 + (size_t)rr->rdlen;
    return 0;
}

int
bsn_dns_query_parse(const uint8_t *pkt, size_t len, struct bsn_dns_query *q)
{
    memset(q, 0, offsetof(struct bsn_dns_query, qname_lc));
    q->qname_len = 0;
    q->question_end = 0;
    q->qname_compressed = false;
    q->edns = false;
    q->edns_version = 0;
    q->edns_do = false;
    q->edns_udp = BSN_DNS_UDP_MIN;
    if (len < BSN_DNS_HDR_LEN || len > BSN_DNS_MSG_MAX)
        return BSN_DNS_PARSE_DROP;
    q->id = bsn_dns_get16(pkt);
    q->flags = bsn_dns_get16(pkt + 2);
    if (q->flags & BSN_DNS_F_QR)
        return BSN_DNS_PARSE_DROP; /* never answer a response (reflection loops) */
    q->opcode = (q->flags >> 11) & 0xF;
    if (q->opcode != 0)
        return BSN_DNS_PARSE_NOTIMP;
    uint16_t qd = bsn_dns_get16(pkt + 4), an = bsn_dns_get16(pkt + 6);
    uint16_t ns = bsn_dns_get16(pkt + 8), ar = bsn_dns_get16(pkt + 10);
    if (qd != 1 || an != 0 || ns != 0 || ar > BSN_DNS_MAX_ADDL_Q)
        return BSN_DNS_PARSE_FORMERR;

    size_t off = BSN_DNS_HDR_LEN;
    int nl = bsn_dns_name_read(pkt, len, &off, q->qname_lc, true);
    if (nl < 0 || off + 4 > len)
        return BSN_DNS_PARSE_FORMERR;
    q->qname_len = (uint16_t)nl;
    q->qname_compressed = (off - BSN_DNS_HDR_LEN) != (size_t)nl;
    q->qtype = bsn_dns_get16(pkt + off);
    q->qclass = bsn_dns_get16(pkt + off + 2);
    off += 4;
    q->question_end = (uint16_t)off;
    if (q->qtype == BSN_DNS_T_OPT)
        return BSN_DNS_PARSE_FORMERR;

    int badvers = 0;
    for (uint16_t i = 0; i < ar; i++) {
        struct bsn_dns_rr rr;
        uint8_t name[BSN_DNS_NAME_MAX];
        if (walk_rr(pkt, len, &off, &rr, name) < 0)
            return BSN_DNS_PARSE_FORMERR;
        if (rr.type != BSN_DNS_T_OPT)
            continue; /* e.g. TSIG/SIG(0): not supported, ignored */
        if (q->edns || name[0] != 0)
            return BSN_DNS_PARSE_FORMERR; /* two OPTs, or OPT not owned by the root */
        /* options must exactly fill the rdata */
        size_t o = rr.rdata_off, oend = (size_t)rr.rdata_off + rr.rdlen;
        while (o < oend) {
            if (o + 4 > oend)
                return BSN_DNS_PARSE_FORMERR;
            size_t olen = bsn_dns_get16(pkt + o + 2);
            if (o + 4 + olen > oend)
                return BSN_DNS_PARSE_FORMERR;
            o += 4 + olen;
        }
        q->edns = true;
        q->edns_version = (uint8_t)(rr.ttl >> 16);
        q->edns_do = (rr.ttl & 0x8000) != 0;
        uint16_t udp = rr.rclass;
        q->edns_udp = udp < BSN_DNS_UDP_MIN   ? BSN_DNS_UDP_MIN
                      : udp > BSN_DNS_UDP_MAX ? BSN_DNS_UDP_MAX
                                              : udp;
        if (q->edns_version != 0)
            badvers = 1;
    }
    if (off != len)
        return BSN_DNS_PARSE_FORMERR; /* trailing garbage */
    return badvers ? BSN_DNS_PARSE_BADVERS : BSN_DNS_PARSE_OK;
}

int
bsn_dns_msg_parse(const uint8_t *pkt, size_t len, struct bsn_dns_msg *m)
{
    if (len < BSN_DNS_HDR_LEN || len > BSN_DNS_MSG_MAX)
        return -1;
    m->id = bsn_dns_get16(pkt);
    m->flags = bsn_dns_get16(pkt + 2);
    m->qdcount = bsn_dns_get16(pkt + 4);
    m->ancount = bsn_dns_get16(pkt + 6);
    m->nscount = bsn_dns_get16(pkt + 8);
    m->arcount = bsn_dns_get16(pkt + 10);
    m->nrr = 0;
    if (m->qdcount != 1)
        return -1;
    size_t off = BSN_DNS_HDR_LEN;
    if (bsn_dns_name_read(pkt, len, &off, m->qname_lc, true) < 0 || off + 4 > len)
        return -1;
    m->qtype = bsn_dns_get16(pkt + off);
    m->qclass = bsn_dns_get16(pkt + off + 2);
    off += 4;
    m->question_end = (uint16_t)off;
    size_t total = (size_t)m->ancount + m->nscount + m->arcount;
    if (total > BSN_DNS_MAX_RR)
        return -1;
    for (size_t i = 0; i < total; i++) {
        uint8_t name[BSN_DNS_NAME_MAX];
        struct bsn_dns_rr *rr = &m->rr[m->nrr++];
        if (walk_rr(pkt, len, &off, rr, name) < 0)
            return -1;
        rr->section = i < m->ancount ? 1 : i < (size_t)m->ancount + m->nscount ? 2 : 3;
    }
    return off == len ? 0 : -1;
}

/* --- encoder ------------------------------------------------------------------------------ */

/* Does the (trusted, self-written or validated) name at off in buf equal the uncompressed
 * name, case-insensitively? */
static bool
pkt_name_eq(const uint8_t *buf, size_t off, const uint8_t *name)
{
    for (int hops = 0; hops < 128;) {
        uint8_t c = buf[off];
        if ((c & 0xC0) == 0xC0) {
            off = (size_t)(c & 0x3F) << 8 | buf[off + 1];
            hops++;
            continue;
        }
        if (c != *name)
            return false;
        if (c == 0)
            return true;
        for (uint8_t i = 1; i <= c; i++)
            if (lc(buf[off + i]) != lc(name[i]))
                return false;
        off += 1 + (size_t)c;
        name += 1 + (size_t)c;
    }
    return false;
}

static void
comp_add(struct bsn_dns_enc *e, size_t off)
{
    if (off < 0x4000 && e->ncomp < BSN_DNS_COMP_MAX)
        e->comp[e->ncomp++] = (uint16_t)off;
}

static inline bool
room(const struct bsn_dns_enc *e, size_t n)
{
    return e->len + n + e->reserve <= e->limit;
}

/* Writes name with compression (if compress) and registers its suffixes. */
static int
put_name(struct bsn_dns_enc *e, const uint8_t *name, bool compress)
{
    const uint8_t *p = name;
    while (*p) {
        if (compress) {
            for (int i = 0; i < e->ncomp; i++) {
                if (pkt_name_eq(e->buf, e->comp[i], p)) {
                    if (!room(e, 2))
                        return -1;
                    bsn_dns_put16(e->buf + e->len, (uint16_t)(0xC000 | e->comp[i]));
                    e->len += 2;
                    return 0;
                }
            }
        }
        size_t l = 1 + (size_t)*p;
        if (!room(e, l))
            return -1;
        comp_add(e, e->len);
        memcpy(e->buf + e->len, p, l);
        e->len += l;
        p += l;
    }
    if (!room(e, 1))
        return -1;
    e->buf[e->len++] = 0;
    return 0;
}

void
bsn_dns_enc_init(struct bsn_dns_enc *e, uint8_t *buf, size_t limit, const struct bsn_dns_query *q,
                 const uint8_t *qpkt, bool aa)
{
    e->buf = buf;
    e->limit = limit;
    e->truncated = false;
    e->ncomp = 0;
    memset(e->counts, 0, sizeof(e->counts));
    e->reserve = q->edns ? 11 : 0;
    uint16_t flags = BSN_DNS_F_QR | (q->flags & (BSN_DNS_F_RD | BSN_DNS_F_CD));
    if (aa)
        flags |= BSN_DNS_F_AA;
    bsn_dns_put16(buf, q->id);
    bsn_dns_put16(buf + 2, flags);
    memset(buf + 4, 0, 8);
    e->len = BSN_DNS_HDR_LEN;
    if (q->question_end > BSN_DNS_HDR_LEN && q->question_end <= limit) {
        memcpy(buf + BSN_DNS_HDR_LEN, qpkt + BSN_DNS_HDR_LEN, q->question_end - BSN_DNS_HDR_LEN);
        e->len = q->question_end;
        e->counts[0] = 1;
        if (!q->qname_compressed) {
            size_t off = BSN_DNS_HDR_LEN;
            while (buf[off]) {
                comp_add(e, off);
                off += 1 + (size_t)buf[off];
            }
        }
    }
}

static void
set_rcode(struct bsn_dns_enc *e, int rcode)
{
    e->buf[3] = (uint8_t)((e->buf[3] & 0xF0) | (rcode & 0xF));
}

void
bsn_dns_enc_set_flag(struct bsn_dns_enc *e, uint16_t flag)
{
    bsn_dns_put16(e->buf + 2, bsn_dns_get16(e->buf + 2) | flag);
}

int
bsn_dns_enc_rr(struct bsn_dns_enc *e, int section, const uint8_t *owner, uint16_t type,
               uint32_t ttl, const uint8_t *rdata, size_t rdlen)
{
    size_t save_len = e->len;
    int save_ncomp = e->ncomp;
    if (owner == NULL) {
        if (!room(e, 2))
            goto full;
        bsn_dns_put16(e->buf + e->len, 0xC000 | BSN_DNS_HDR_LEN);
        e->len += 2;
    } else if (put_name(e, owner, true) < 0) {
        goto full;
    }
    if (!room(e, 10))
        goto full;
    uint8_t *hdr = e->buf + e->len;
    bsn_dns_put16(hdr, type);
    bsn_dns_put16(hdr + 2, BSN_DNS_CLASS_IN);
    bsn_dns_put32(hdr + 4, ttl);
    e->len += 10;
    size_t rstart = e->len;
    switch (type) {
    case BSN_DNS_T_CNAME:
    case BSN_DNS_T_PTR:
    case BSN_DNS_T_NS:
        if (put_name(e, rdata, true) < 0)
            goto full;
        break;
    case BSN_DNS_T_SRV:
        if (!room(e, 6))
            goto full;
        memcpy(e->buf + e->len, rdata, 6);
        e->len += 6;
        /* RFC 2782: the SRV target is not compressed */
        if (put_name(e, rdata + 6, false) < 0)
            goto full;
        break;
    case BSN_DNS_T_SOA: {
        size_t n1 = bsn_dns_name_len(rdata);
        size_t n2 = bsn_dns_name_len(rdata + n1);
        if (put_name(e, rdata, true) < 0 || put_name(e, rdata + n1, true) < 0 || !room(e, 20))
            goto full;
        memcpy(e->buf + e->len, rdata + n1 + n2, 20);
        e->len += 20;
        break;
    }
    default:
        if (!room(e, rdlen))
            goto full;
        memcpy(e->buf + e->len, rdata, rdlen);
        e->len += rdlen;
    }
    bsn_dns_put16(hdr + 8, (uint16_t)(e->len - rstart));
    e->counts[section]++;
    return 0;
full:
    e->len = save_len;
    e->ncomp = save_ncomp;
    if (section != 3)
        e->truncated = true;
    return -1;
}

size_t
bsn_dns_enc_finish(struct bsn_dns_enc *e, const struct bsn_dns_query *q, int rcode)
{
    set_rcode(e, rcode);
    if (e->truncated)
        bsn_dns_enc_set_flag(e, BSN_DNS_F_TC);
    if (q->edns && e->reserve >= 11) {
        uint8_t *p = e->buf + e->len;
        p[0] = 0;
        bsn_dns_put16(p + 1, BSN_DNS_T_OPT);
        bsn_dns_put16(p + 3, 1232); /* our payload size (DNS flag day 2020) */
        p[5] = (uint8_t)(rcode >> 4);
        p[6] = 0; /* version */
        p[7] = 0;
        p[8] = 0;
        bsn_dns_put16(p + 9, 0);
        e->len += 11;
        e->reserve = 0;
        e->counts[3]++;
    }
    for (int i = 0; i < 4; i++)
        bsn_dns_put16(e->buf + 4 + 2 * i, e->counts[i]);
    return e->len;
}

size_t
bsn_dns_reply_error(const uint8_t *qpkt, const struct bsn_dns_query *q, int rcode, uint8_t *out,
                    size_t outcap)
{
    struct bsn_dns_enc e;
    struct bsn_dns_query qq = *q;
    if (qq.question_end == 0 || (size_t)qq.question_end + 11 > outcap)
        qq.question_end = 0;
    if (outcap < BSN_DNS_HDR_LEN + 11)
        qq.edns = false;
    bsn_dns_enc_init(&e, out, outcap, &qq, qpkt, false);
    /* keep the opcode of the query */
    bsn_dns_put16(out + 2, bsn_dns_get16(out + 2) | (uint16_t)(q->opcode << 11));
    return bsn_dns_enc_finish(&e, &qq, rcode);
}
