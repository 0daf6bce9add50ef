/*
 * dns_test_util.h - helpers shared by the DNS unit tests: build queries, render the records
 * of a reply as text ("A 10.0.0.1", "SRV 0 100 80 web.default.svc.cluster.local.").
 */
#ifndef BSN_TEST_DNS_UTIL_H
#define BSN_TEST_DNS_UTIL_H

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "net/dns_wire.h"

/* Builds a query for name/type; edns_udp 0 = no OPT record. Returns its length. */
static inline size_t
tq_build(uint8_t *out, uint16_t id, const char *name, uint16_t qtype, uint16_t edns_udp)
{
    memset(out, 0, BSN_DNS_HDR_LEN);
    bsn_dns_put16(out, id);
    bsn_dns_put16(out + 2, BSN_DNS_F_RD);
    bsn_dns_put16(out + 4, 1);
    size_t o = BSN_DNS_HDR_LEN;
    /* keep the caller's case: encode without lower-casing */
    int n = bsn_dns_name_from_text(name, strlen(name), out + o, false);
    if (n < 0)
        return 0;
    o += (size_t)n;
    bsn_dns_put16(out + o, qtype);
    bsn_dns_put16(out + o + 2, BSN_DNS_CLASS_IN);
    o += 4;
    if (edns_udp) {
        bsn_dns_put16(out + 10, 1);
        out[o] = 0;
        bsn_dns_put16(out + o + 1, BSN_DNS_T_OPT);
        bsn_dns_put16(out + o + 3, edns_udp);
        memset(out + o + 5, 0, 6);
        o += 11;
    }
    return o;
}

static inline const char *
tq_type_name(uint16_t t)
{
    switch (t) {
    case BSN_DNS_T_A:
        return "A";
    case BSN_DNS_T_AAAA:
        return "AAAA";
    case BSN_DNS_T_CNAME:
        return "CNAME";
    case BSN_DNS_T_SOA:
        return "SOA";
    case BSN_DNS_T_PTR:
        return "PTR";
    case BSN_DNS_T_TXT:
        return "TXT";
    case BSN_DNS_T_SRV:
        return "SRV";
    case BSN_DNS_T_NS:
        return "NS";
    case BSN_DNS_T_OPT:
        return "OPT";
    }
    return "?";
}

/* Renders one record's type and rdata (names decompressed). */
static inline void
tq_rr_text(const uint8_t *pkt, size_t len, const struct bsn_dns_rr *rr, char *out, size_t cap)
{
    uint8_t name[BSN_DNS_NAME_MAX];
    char txt[1024];
    const uint8_t *rd = pkt + rr->rdata_off;
    size_t off = rr->rdata_off;
    txt[0] = 0;
    switch (rr->type) {
    case BSN_DNS_T_A:
        inet_ntop(AF_INET, rd, txt, sizeof(txt));
        break;
    case BSN_DNS_T_AAAA:
        inet_ntop(AF_INET6, rd, txt, sizeof(txt));
        break;
    case BSN_DNS_T_CNAME:
    case BSN_DNS_T_PTR:
    case BSN_DNS_T_NS:
        if (bsn_dns_name_read(pkt, len, &off, name, false) > 0)
            bsn_dns_name_to_text(name, txt, sizeof(txt));
        break;
    case BSN_DNS_T_SRV: {
        off += 6;
        char t[512] = "";
        if (bsn_dns_name_read(pkt, len, &off, name, false) > 0)
            bsn_dns_name_to_text(name, t, sizeof(t));
        snprintf(txt, sizeof(txt), "%u %u %u %s", bsn_dns_get16(rd), bsn_dns_get16(rd + 2),
                 bsn_dns_get16(rd + 4), t);
        break;
    }
    case BSN_DNS_T_TXT:
        snprintf(txt, sizeof(txt), "\"%.*s\"", rd[0], (const char *)rd + 1);
        break;
    case BSN_DNS_T_SOA:
        if (bsn_dns_name_read(pkt, len, &off, name, false) > 0)
            bsn_dns_name_to_text(name, txt, sizeof(txt));
        break;
    }
    snprintf(out, cap, "%s %s", tq_type_name(rr->type), txt);
}

/* Renders all records of a section joined by ';'. */
static inline void
tq_section(const uint8_t *pkt, size_t len, const struct bsn_dns_msg *m, int section, char *out,
           size_t cap)
{
    out[0] = 0;
    size_t o = 0;
    for (int i = 0; i < m->nrr; i++) {
        if (m->rr[i].section != section || m->rr[i].type == BSN_DNS_T_OPT)
            continue;
        char one[600];
        tq_rr_text(pkt, len, &m->rr[i], one, sizeof(one));
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ";" : "", one);
        if (o >= cap)
            break;
    }
}

#endif
