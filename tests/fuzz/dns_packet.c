/*
 * dns_packet.c - fuzz target for the DNS wire format: the query parser, the message walker
 * and the zone's answer path (every parsed query is answered from a small zone).
 */
#include <stdint.h>
#include <stdlib.h>

#include <string.h>

#include "net/dns_forward.h"
#include "net/dns_wire.h"
#include "net/dns_zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bsn_dns_zone *
zone(void)
{
    static struct bsn_dns_zone *z;
    if (z)
        return z;
    z = bsn_dns_zone_new("cluster.local", 5);
    const char *ips[] = {"10.43.0.10", "fd00::10"};
    struct bsn_dns_port ports[] = {{"dns", "UDP", 53}, {"http", "TCP", 80}};
    bsn_dns_zone_put_service(z, "kube-system", "kube-dns", BSN_DNS_SVC_CLUSTER_IP, ips, 2, ports, 2,
                             NULL, false, NULL);
    bsn_dns_zone_put_service(z, "default", "web", BSN_DNS_SVC_HEADLESS, NULL, 0, ports, 2, NULL,
                             false, NULL);
    struct bsn_dns_endpoint eps[] = {
        {"10.42.0.5", "web-0", true}, {"10.42.0.6", NULL, true}, {"fd00::6", "web-1", true}};
    bsn_dns_zone_put_endpoints(z, "default", "web", eps, 3, ports, 2, NULL);
    bsn_dns_zone_put_service(z, "default", "ext", BSN_DNS_SVC_EXTERNAL_NAME, NULL, 0, NULL, 0,
                             "example.com", false, NULL);
    return z;
}

/* Treats the input as an upstream response: cache it and serve it from the cache; what comes
 * out must still be a well-formed message. */
static void
as_upstream_response(const uint8_t *data, size_t size, struct bsn_dns_msg *m, uint8_t *out)
{
    static struct bsn_dns_cache *cache;
    if (!cache)
        cache = bsn_dns_cache_new(64);
    uint8_t qp[BSN_DNS_HDR_LEN + BSN_DNS_NAME_MAX + 4];
    size_t nl = 0;
    while (m->qname_lc[nl])
        nl += 1u + m->qname_lc[nl];
    nl++;
    memset(qp, 0, BSN_DNS_HDR_LEN);
    bsn_dns_put16(qp + 4, 1);
    memcpy(qp + BSN_DNS_HDR_LEN, m->qname_lc, nl);
    bsn_dns_put16(qp + BSN_DNS_HDR_LEN + nl, m->qtype);
    bsn_dns_put16(qp + BSN_DNS_HDR_LEN + nl + 2, m->qclass);
    struct bsn_dns_query q;
    if (bsn_dns_query_parse(qp, BSN_DNS_HDR_LEN + nl + 4, &q) != BSN_DNS_PARSE_OK)
        return;
    bsn_dns_cache_put(cache, &q, data, size, 1000);
    size_t n = bsn_dns_cache_get(cache, &q, qp, out, 65535, 2000);
    if (n && bsn_dns_msg_parse(out, n, m) < 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsn_dns_query q;
    static struct bsn_dns_msg m;
    static uint8_t out[65535];
    if (bsn_dns_msg_parse(data, size, &m) == 0)
        as_upstream_response(data, size, &m, out);
    int rc = bsn_dns_query_parse(data, size, &q);
    if (rc == BSN_DNS_PARSE_DROP)
        return 0;
    if (rc != BSN_DNS_PARSE_OK) {
        size_t n = bsn_dns_reply_error(data, &q, BSN_DNS_R_FORMERR, out, 512);
        if (n < BSN_DNS_HDR_LEN || bsn_dns_msg_parse(out, n, &m) < 0)
            if (q.question_end)
                abort();
        return 0;
    }
    struct bsn_dns_zone *z = zone();
    int slot = 0;
    static int have;
    if (!have) {
        slot = bsn_dns_zone_reader_new(z);
        have = 1;
    }
    const struct bsn_dns_snap *s = bsn_dns_zone_pin(z, slot);
    size_t n = 0;
    size_t limit = q.edns ? q.edns_udp : 512;
    if (bsn_dns_zone_answer(z, s, &q, data, out, limit, &n) == BSN_DNS_ANSWERED) {
        if (n > limit || bsn_dns_msg_parse(out, n, &m) < 0)
            abort(); /* our own answers must always be well-formed */
    }
    bsn_dns_zone_unpin(z, slot);
    return 0;
}
