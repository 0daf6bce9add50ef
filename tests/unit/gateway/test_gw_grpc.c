/*
 * test_gw_grpc.c - the gRPC pass-through's framing helpers (h2sniff.c): deciding from a
 * client's first HTTP/2 bytes whether the connection is gRPC (preface, frames before the
 * first HEADERS, padding and priority, partial input, CONTINUATION, the cap), taking the ACK
 * of the gateway's SETTINGS out of the stream, the first request's :authority and :path, and
 * the HTTP-to-gRPC status mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "gateway/gw_grpc.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

struct frames {
    uint8_t b[GW_SNIFF_CAP + 1024];
    size_t len;
};

static void
put_frame(struct frames *f, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p, size_t n)
{
    uint8_t h[9] = {
        (uint8_t)(n >> 16),   (uint8_t)(n >> 8),    (uint8_t)n,          type,        flags,
        (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
    memcpy(f->b + f->len, h, 9);
    f->len += 9;
    if (n)
        memcpy(f->b + f->len, p, n);
    f->len += n;
}

/* An HPACK block (Huffman where shorter, as real clients encode) for a POST with ctype. */
static size_t
header_block(uint8_t *out, size_t cap, const char *ctype)
{
    nghttp2_hd_deflater *d;
    assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nv[] = {NV(":method", "POST"),       NV(":scheme", "http"),
                       NV(":path", "/t.T/Unary"),   NV(":authority", "grpc.test"),
                       NV("te", "trailers"),        NV("content-type", ctype),
                       NV("user-agent", "test/1.0")};
#undef NV
    ssize_t n = nghttp2_hd_deflate_hd(d, out, cap, nv, sizeof(nv) / sizeof(nv[0]));
    nghttp2_hd_deflate_del(d);
    assert_true(n > 0);
    return (size_t)n;
}

static const uint8_t SETTINGS_ACK[9] = {0, 0, 0, 4, 1, 0, 0, 0, 0};

static void
start(struct frames *f)
{
    f->len = 0;
    memcpy(f->b, PREFACE, 24);
    f->len = 24;
    uint8_t settings[6] = {0, 4, 0, 0x40, 0, 0}; /* INITIAL_WINDOW_SIZE 4 MiB */
    put_frame(f, 4, 0, 0, settings, sizeof(settings));
    uint8_t wu[4] = {0, 0x10, 0, 0};
    put_frame(f, 8, 0, 0, wu, 4);
}

static void
test_grpc_and_other(void **state)
{
    (void)state;
    static struct frames f;
    uint8_t blk[512];
    const char *types[] = {"application/grpc", "application/grpc+proto", "application/json",
                           "text/plain"};
    for (int t = 0; t < 4; t++) {
        start(&f);
        size_t n = header_block(blk, sizeof(blk), types[t]);
        put_frame(&f, 1, 0x4, 1, blk, n);
        size_t before = f.len;
        bool acked = false;
        /* no ACK yet: undecided, whatever the request */
        assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_MORE);
        assert_int_equal(f.len, before);
        memcpy(f.b + f.len, SETTINGS_ACK, 9);
        f.len += 9;
        struct gw_sniff_req req = {"", ""};
        enum gw_sniff v = gw_grpc_sniff(f.b, &f.len, &acked, &req);
        assert_int_equal(v, t < 2 ? GW_SNIFF_GRPC : GW_SNIFF_OTHER);
        assert_string_equal(req.authority, "grpc.test"); /* for the appProtocol route check */
        assert_string_equal(req.path, "/t.T/Unary");
        assert_true(acked);
        assert_int_equal(f.len, before); /* the ACK was taken out */
        /* a second look (more bytes read) keeps the verdict and the bytes */
        assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), v);
        assert_int_equal(f.len, before);
    }
}

static void
test_ack_first_and_partial(void **state)
{
    (void)state;
    static struct frames f;
    uint8_t blk[512];
    start(&f);
    put_frame(&f, 4, 1, 0, NULL, 0); /* the client ACKs before its request (gRPC clients) */
    size_t n = header_block(blk, sizeof(blk), "application/grpc");
    put_frame(&f, 1, 0x4 | 0x1, 1, blk, n);
    size_t total = f.len;
    /* byte by byte: undecided until the HEADERS frame is complete */
    bool acked = false;
    for (size_t cut = 1; cut < total; cut++) {
        static struct frames g;
        memcpy(g.b, f.b, cut);
        g.len = cut;
        bool a = false;
        assert_int_equal(gw_grpc_sniff(g.b, &g.len, &a, NULL), GW_SNIFF_MORE);
    }
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_GRPC);
    assert_int_equal(f.len, total - 9);
    /* the client's own SETTINGS (not an ACK) are still there */
    assert_int_equal(f.b[24 + 3], 4);
    assert_int_equal(f.b[24 + 4], 0);
}

static void
test_padding_priority(void **state)
{
    (void)state;
    static struct frames f;
    uint8_t blk[512], payload[600];
    start(&f);
    size_t n = header_block(blk, sizeof(blk), "application/grpc");
    payload[0] = 7;            /* pad length */
    memset(payload + 1, 0, 5); /* priority: dependency 0, weight 0 */
    memcpy(payload + 6, blk, n);
    memset(payload + 6 + n, 0, 7);
    put_frame(&f, 1, 0x4 | 0x8 | 0x20, 1, payload, 6 + n + 7);
    put_frame(&f, 4, 1, 0, NULL, 0);
    bool acked = false;
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_GRPC);
    /* padding longer than the frame */
    start(&f);
    uint8_t bad[3] = {200, 0x82, 0x86};
    put_frame(&f, 1, 0x4 | 0x8, 1, bad, 3);
    put_frame(&f, 4, 1, 0, NULL, 0);
    acked = false;
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_OTHER);
}

static void
test_rejects(void **state)
{
    (void)state;
    static struct frames f;
    bool acked = false;
    /* not the HTTP/2 preface */
    memcpy(f.b, "GET / HTTP/1.1\r\n", 16);
    f.len = 16;
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_OTHER);
    /* a prefix of the preface: more */
    memcpy(f.b, PREFACE, 10);
    f.len = 10;
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_MORE);
    /* HEADERS without END_HEADERS (CONTINUATION follows): not followed */
    uint8_t blk[512];
    start(&f);
    size_t n = header_block(blk, sizeof(blk), "application/grpc");
    put_frame(&f, 1, 0, 1, blk, n);
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_OTHER);
    /* garbage HPACK: OTHER, no crash */
    start(&f);
    uint8_t junk[16];
    memset(junk, 0xff, sizeof(junk));
    put_frame(&f, 1, 0x4, 1, junk, sizeof(junk));
    put_frame(&f, 4, 1, 0, NULL, 0);
    acked = false;
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_OTHER);
    /* a frame that would not fit in the cap, and a cap full of frames without a request */
    start(&f);
    uint8_t hdr[9] = {0x02, 0, 0, 0, 0, 0, 0, 0, 1}; /* 128 KiB DATA frame header */
    memcpy(f.b + f.len, hdr, 9);
    f.len += 9;
    acked = false;
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_OTHER);
    start(&f);
    static uint8_t zeros[1000];
    while (f.len + 1009 <= GW_SNIFF_CAP)
        put_frame(&f, 0, 0, 1, zeros, sizeof(zeros));
    memset(f.b + f.len, 0, GW_SNIFF_CAP - f.len);
    f.len = GW_SNIFF_CAP;
    acked = false;
    assert_int_equal(gw_grpc_sniff(f.b, &f.len, &acked, NULL), GW_SNIFF_OTHER);
}

static void
test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(gw_grpc_status_for_http(400), 13);
    assert_int_equal(gw_grpc_status_for_http(401), 16);
    assert_int_equal(gw_grpc_status_for_http(403), 7);
    assert_int_equal(gw_grpc_status_for_http(404), 12);
    assert_int_equal(gw_grpc_status_for_http(429), 14);
    assert_int_equal(gw_grpc_status_for_http(502), 14);
    assert_int_equal(gw_grpc_status_for_http(503), 14);
    assert_int_equal(gw_grpc_status_for_http(504), 14);
    assert_int_equal(gw_grpc_status_for_http(500), 2);
    assert_int_equal(gw_grpc_status_for_http(413), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grpc_and_other),   cmocka_unit_test(test_ack_first_and_partial),
        cmocka_unit_test(test_padding_priority), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_status_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
