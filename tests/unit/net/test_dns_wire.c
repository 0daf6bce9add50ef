/*
 * test_dns_wire.c - DNS wire codec: query parsing (every malformed case), name handling,
 * the encoder (compression, truncation) and error replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dns_test_util.h"
#include "net/dns_wire.h"

static size_t
hdr(uint8_t *p, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
    bsn_dns_put16(p, 0x1234);
    bsn_dns_put16(p + 2, flags);
    bsn_dns_put16(p + 4, qd);
    bsn_dns_put16(p + 6, an);
    bsn_dns_put16(p + 8, ns);
    bsn_dns_put16(p + 10, ar);
    return BSN_DNS_HDR_LEN;
}

static void
test_parse_ok(void **state)
{
    uint8_t p[512];
    struct bsn_dns_query q;
    size_t n = tq_build(p, 77, "Web.Default.SVC.cluster.local", BSN_DNS_T_A, 1232);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_OK);
    assert_int_equal(q.id, 77);
    assert_int_equal(q.qtype, BSN_DNS_T_A);
    assert_true(q.edns);
    assert_int_equal(q.edns_udp, 1232);
    char txt[300];
    bsn_dns_name_to_text(q.qname_lc, txt, sizeof(txt));
    assert_string_equal(txt, "web.default.svc.cluster.local.");
    assert_int_equal(q.question_end, n - 11);

    /* advertised sizes are clamped */
    n = tq_build(p, 1, "a", BSN_DNS_T_A, 100);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_OK);
    assert_int_equal(q.edns_udp, 512);
    n = tq_build(p, 1, "a", BSN_DNS_T_A, 65000);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_OK);
    assert_int_equal(q.edns_udp, BSN_DNS_UDP_MAX);
    /* root name */
    n = tq_build(p, 1, ".", BSN_DNS_T_NS, 0);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_OK);
    assert_int_equal(q.qname_len, 1);
}

static void
test_parse_header_errors(void **state)
{
    uint8_t p[512];
    struct bsn_dns_query q;
    /* truncated header: dropped */
    size_t n = tq_build(p, 1, "a.b", BSN_DNS_T_A, 0);
    assert_int_equal(bsn_dns_query_parse(p, 11, &q), BSN_DNS_PARSE_DROP);
    assert_int_equal(bsn_dns_query_parse(p, 0, &q), BSN_DNS_PARSE_DROP);
    /* a response is never answered */
    bsn_dns_put16(p + 2, BSN_DNS_F_QR);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_DROP);
    /* opcode NOTIFY (4) */
    bsn_dns_put16(p + 2, 4 << 11);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_NOTIMP);
    assert_int_equal(q.opcode, 4);
    assert_int_equal(q.id, 1);
    bsn_dns_put16(p + 2, 0);
    /* qdcount 0 and 2 */
    bsn_dns_put16(p + 4, 0);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_FORMERR);
    bsn_dns_put16(p + 4, 2);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_FORMERR);
    bsn_dns_put16(p + 4, 1);
    /* answer records in a query */
    bsn_dns_put16(p + 6, 1);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_FORMERR);
    bsn_dns_put16(p + 6, 0);
    /* too many additional records */
    bsn_dns_put16(p + 10, 100);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_FORMERR);
    bsn_dns_put16(p + 10, 0);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_OK);
    /* trailing garbage */
    p[n] = 0;
    assert_int_equal(bsn_dns_query_parse(p, n + 1, &q), BSN_DNS_PARSE_FORMERR);
    /* truncated question: name cut, then type cut */
    assert_int_equal(bsn_dns_query_parse(p, 14, &q), BSN_DNS_PARSE_FORMERR);
    assert_int_equal(bsn_dns_query_parse(p, n - 2, &q), BSN_DNS_PARSE_FORMERR);
}

static void
test_parse_name_errors(void **state)
{
    uint8_t p[1024];
    struct bsn_dns_query q;
    size_t o = hdr(p, 0, 1, 0, 0, 0);
    /* pointer to itself */
    p[o] = 0xC0;
    p[o + 1] = 12;
    memset(p + o + 2, 0, 4);
    p[o + 3] = 1;
    assert_int_equal(bsn_dns_query_parse(p, o + 6, &q), BSN_DNS_PARSE_FORMERR);
    /* two-step loop: label, then pointer back to the start */
    memcpy(p + o, "\1a\xC0\x0C", 4);
    memset(p + o + 4, 0, 4);
    assert_int_equal(bsn_dns_query_parse(p, o + 8, &q), BSN_DNS_PARSE_FORMERR);
    /* forward pointer */
    memcpy(p + o, "\xC0\x10\0\0\1a\0", 7);
    assert_int_equal(bsn_dns_query_parse(p, o + 7, &q), BSN_DNS_PARSE_FORMERR);
    /* pointer into the header */
    memcpy(p + o, "\xC0\x02\0\1\0\1", 6);
    assert_int_equal(bsn_dns_query_parse(p, o + 6, &q), BSN_DNS_PARSE_FORMERR);
    /* extended label types 0x40 and 0x80 (a "label > 63") */
    memcpy(p + o,
           "\x40"
           "a\0\0\1\0\1",
           7);
    assert_int_equal(bsn_dns_query_parse(p, o + 7, &q), BSN_DNS_PARSE_FORMERR);
    p[o] = 0x80;
    assert_int_equal(bsn_dns_query_parse(p, o + 7, &q), BSN_DNS_PARSE_FORMERR);
    /* a 63-byte label is fine */
    p[o] = 63;
    memset(p + o + 1, 'x', 63);
    p[o + 64] = 0;
    memcpy(p + o + 65, "\0\1\0\1", 4);
    assert_int_equal(bsn_dns_query_parse(p, o + 69, &q), BSN_DNS_PARSE_OK);
    /* name of exactly 255 bytes: 3 x 63 + one 61-byte label + root */
    size_t k = o;
    for (int i = 0; i < 3; i++) {
        p[k++] = 63;
        memset(p + k, 'a', 63);
        k += 63;
    }
    p[k++] = 61;
    memset(p + k, 'b', 61);
    k += 61;
    p[k++] = 0;
    assert_int_equal(k - o, 255);
    memcpy(p + k, "\0\1\0\1", 4);
    assert_int_equal(bsn_dns_query_parse(p, k + 4, &q), BSN_DNS_PARSE_OK);
    assert_int_equal(q.qname_len, 255);
    /* one byte more: 256 */
    k = o;
    for (int i = 0; i < 3; i++) {
        p[k++] = 63;
        memset(p + k, 'a', 63);
        k += 63;
    }
    p[k++] = 62;
    memset(p + k, 'b', 62);
    k += 62;
    p[k++] = 0;
    memcpy(p + k, "\0\1\0\1", 4);
    assert_int_equal(bsn_dns_query_parse(p, k + 4, &q), BSN_DNS_PARSE_FORMERR);
    /* pointer-built name longer than 255 (each hop adds labels) */
    k = o;
    size_t prev = 0;
    uint8_t big[2048];
    memcpy(big, p, o);
    for (int i = 0; i < 6; i++) {
        size_t start = k;
        big[k++] = 50;
        memset(big + k, 'c', 50);
        k += 50;
        if (prev) {
            big[k++] = (uint8_t)(0xC0 | (prev >> 8));
            big[k++] = (uint8_t)prev;
        } else {
            big[k++] = 0;
        }
        prev = start;
    }
    size_t off = prev;
    uint8_t name[BSN_DNS_NAME_MAX];
    assert_int_equal(bsn_dns_name_read(big, k, &off, name, true), -1);
}

static void
test_name_read_pointer(void **state)
{
    uint8_t p[64];
    hdr(p, 0, 1, 0, 0, 0);
    memcpy(p + 12, "\3FOO\0\3bar\xC0\x0C", 11);
    uint8_t name[BSN_DNS_NAME_MAX];
    size_t off = 17;
    assert_int_equal(bsn_dns_name_read(p, 23, &off, name, true), 9);
    assert_int_equal(off, 23);
    char txt[64];
    bsn_dns_name_to_text(name, txt, sizeof(txt));
    assert_string_equal(txt, "bar.foo.");
    off = 17;
    bsn_dns_name_read(p, 23, &off, name, false);
    bsn_dns_name_to_text(name, txt, sizeof(txt));
    assert_string_equal(txt, "bar.FOO.");
    /* truncated pointer */
    off = 17;
    assert_int_equal(bsn_dns_name_read(p, 22, &off, name, true), -1);
}

static void
test_parse_opt_errors(void **state)
{
    uint8_t p[512];
    struct bsn_dns_query q;
    size_t n = tq_build(p, 9, "x.y", BSN_DNS_T_A, 1232);
    size_t opt = n - 11;
    /* EDNS version 1: BADVERS, EDNS info kept for the reply */
    p[opt + 6] = 1;
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_BADVERS);
    assert_true(q.edns);
    p[opt + 6] = 0;
    /* OPT owned by a non-root name */
    uint8_t p2[512];
    memcpy(p2, p, opt);
    memcpy(p2 + opt, "\1x", 3);
    memcpy(p2 + opt + 3, p + opt + 1, 10);
    assert_int_equal(bsn_dns_query_parse(p2, n + 3, &q), BSN_DNS_PARSE_FORMERR);
    /* two OPT records */
    memcpy(p2, p, n);
    memcpy(p2 + n, p + opt, 11);
    bsn_dns_put16(p2 + 10, 2);
    assert_int_equal(bsn_dns_query_parse(p2, n + 11, &q), BSN_DNS_PARSE_FORMERR);
    /* rdata longer than the packet */
    memcpy(p2, p, n);
    bsn_dns_put16(p2 + opt + 9, 8);
    assert_int_equal(bsn_dns_query_parse(p2, n, &q), BSN_DNS_PARSE_FORMERR);
    /* option whose length overruns the rdata */
    memcpy(p2, p, n);
    bsn_dns_put16(p2 + opt + 9, 4);
    memcpy(p2 + n, "\0\12\0\10", 4); /* COOKIE, len 8, no data */
    assert_int_equal(bsn_dns_query_parse(p2, n + 4, &q), BSN_DNS_PARSE_FORMERR);
    /* a well-formed option is fine */
    bsn_dns_put16(p2 + opt + 9, 12);
    memcpy(p2 + n,
           "\0\12\0\10"
           "abcdefgh",
           12);
    assert_int_equal(bsn_dns_query_parse(p2, n + 12, &q), BSN_DNS_PARSE_OK);
    /* an OPT cut in its fixed part */
    assert_int_equal(bsn_dns_query_parse(p, n - 3, &q), BSN_DNS_PARSE_FORMERR);
}

static void
test_names_text(void **state)
{
    uint8_t a[BSN_DNS_NAME_MAX], b[BSN_DNS_NAME_MAX];
    assert_int_equal(bsn_dns_name_from_text("Foo.Bar.", 8, a, false), 9);
    assert_int_equal(bsn_dns_name_from_text("foo.bar", 7, b, true), 9);
    assert_true(bsn_dns_name_eq(a, b));
    assert_int_equal(bsn_dns_name_from_text("foo..bar", 8, b, true), -1);
    char big[300];
    memset(big, 'a', 64);
    assert_int_equal(bsn_dns_name_from_text(big, 64, b, true), -1);
    assert_int_equal(bsn_dns_name_from_text(".", 1, b, true), 1);
    char txt[32];
    assert_int_equal(bsn_dns_name_to_text(b, txt, sizeof(txt)), 1);
    assert_string_equal(txt, ".");
    assert_int_equal(bsn_dns_name_to_text(a, txt, 4), -1);
}

static void
test_encode_compress_truncate(void **state)
{
    uint8_t p[512], out[4096];
    struct bsn_dns_query q;
    size_t n = tq_build(p, 5, "Many.Example", BSN_DNS_T_A, 0);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), 0);
    struct bsn_dns_enc e;
    bsn_dns_enc_init(&e, out, 512, &q, p, true);
    uint8_t ip[4] = {10, 0, 0, 0};
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        ip[3] = (uint8_t)i;
        if (bsn_dns_enc_rr(&e, 1, NULL, BSN_DNS_T_A, 5, ip, 4) == 0)
            ok++;
    }
    size_t len = bsn_dns_enc_finish(&e, &q, 0);
    assert_true(len <= 512);
    /* 12 + question (14 + 4) + 16 bytes per compressed A record */
    assert_int_equal(ok, (512 - 30) / 16);
    struct bsn_dns_msg m;
    assert_int_equal(bsn_dns_msg_parse(out, len, &m), 0);
    assert_true(m.flags & BSN_DNS_F_TC);
    assert_true(m.flags & BSN_DNS_F_AA);
    assert_true(m.flags & BSN_DNS_F_RD);
    assert_int_equal(m.ancount, ok);
    /* the question is echoed with its case */
    assert_memory_equal(out + 12, "\4Many\7Example", 13);

    /* names compress against each other; additional records that do not fit: no TC */
    bsn_dns_enc_init(&e, out, 100, &q, p, true);
    uint8_t target[64];
    bsn_dns_name_from_text("a.many.example", 14, target, true);
    assert_int_equal(bsn_dns_enc_rr(&e, 1, NULL, BSN_DNS_T_CNAME, 5, target, 0), 0);
    /* owner 2 + 10 fixed + "\1a" + pointer (4) */
    assert_int_equal(e.len, 30 + 16);
    for (int i = 0; i < 10; i++)
        bsn_dns_enc_rr(&e, 3, target, BSN_DNS_T_A, 5, ip, 4);
    len = bsn_dns_enc_finish(&e, &q, 0);
    assert_int_equal(bsn_dns_msg_parse(out, len, &m), 0);
    assert_false(m.flags & BSN_DNS_F_TC);
    assert_true(m.arcount >= 1);
    char txt[256];
    tq_section(out, len, &m, 1, txt, sizeof(txt));
    assert_string_equal(txt, "CNAME a.Many.Example.");
}

static void
test_error_reply(void **state)
{
    uint8_t p[512], out[512];
    struct bsn_dns_query q;
    size_t n = tq_build(p, 4242, "x.y", BSN_DNS_T_A, 1232);
    p[n - 11 + 6] = 3; /* EDNS version 3 */
    assert_int_equal(bsn_dns_query_parse(p, n, &q), BSN_DNS_PARSE_BADVERS);
    size_t len = bsn_dns_reply_error(p, &q, BSN_DNS_R_BADVERS, out, sizeof(out));
    struct bsn_dns_msg m;
    assert_int_equal(bsn_dns_msg_parse(out, len, &m), 0);
    assert_int_equal(m.id, 4242);
    assert_int_equal(m.flags & 0xF, 0); /* BADVERS = 16: low bits 0, high bits in OPT */
    assert_int_equal(m.nrr, 1);
    assert_int_equal(m.rr[0].type, BSN_DNS_T_OPT);
    assert_int_equal(m.rr[0].ttl >> 24, 1);
    /* FORMERR with no parseable question: header only */
    uint8_t bad[14];
    hdr(bad, 0, 2, 0, 0, 0);
    assert_int_equal(bsn_dns_query_parse(bad, sizeof(bad), &q), BSN_DNS_PARSE_FORMERR);
    len = bsn_dns_reply_error(bad, &q, BSN_DNS_R_FORMERR, out, sizeof(out));
    assert_int_equal(len, 12);
    assert_int_equal(bsn_dns_get16(out + 2) & 0xF, BSN_DNS_R_FORMERR);
    assert_true(bsn_dns_get16(out + 2) & BSN_DNS_F_QR);
    assert_int_equal(bsn_dns_get16(out + 4), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_header_errors),
        cmocka_unit_test(test_parse_name_errors),
        cmocka_unit_test(test_name_read_pointer),
        cmocka_unit_test(test_parse_opt_errors),
        cmocka_unit_test(test_names_text),
        cmocka_unit_test(test_encode_compress_truncate),
        cmocka_unit_test(test_error_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
