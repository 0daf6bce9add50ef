/*
 * test_websocket.c - RFC 6455 framing (src/http/websocket.h): accept key, encode/decode round
 * trips at every length class, fragmentation with interleaved control frames, byte-by-byte
 * feeding, every protocol error, UTF-8 validation, and a real handshake + echo through the
 * HTTP server's upgrade path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>

#include "harness.h"
#include "http/websocket.h"

struct rec {
    int n;
    int ops[16];
    struct bsn_buf data[16];
};

static int
rec_cb(enum bsn_ws_opcode op, const char *data, size_t len, void *ud)
{
    struct rec *r = ud;
    assert_true(r->n < 16);
    r->ops[r->n] = op;
    bsn_buf_init(&r->data[r->n]);
    bsn_buf_append(&r->data[r->n], data, len);
    r->n++;
    return 0;
}

static void
rec_free(struct rec *r)
{
    for (int i = 0; i < r->n; i++)
        bsn_buf_fini(&r->data[i]);
    r->n = 0;
}

static void
test_accept_key(void **state)
{
    char out[29];
    bsn_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out); /* RFC 6455 section 1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
test_roundtrip_lengths(void **state)
{
    size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 200000};
    for (size_t i = 0; i < BSN_ARRAY_LEN(lens); i++) {
        for (int masked = 0; masked < 2; masked++) {
            char *payload = bsn_malloc(lens[i] + 1);
            for (size_t k = 0; k < lens[i]; k++)
                payload[k] = (char)(k * 7);
            struct bsn_buf b;
            bsn_buf_init(&b);
            bsn_ws_encode(&b, BSN_WS_BINARY, true, payload, lens[i], masked);
            size_t hl = lens[i] < 126 ? 2 : lens[i] <= 0xffff ? 4 : 10;
            assert_int_equal(b.len, hl + (masked ? 4 : 0) + lens[i]);
            struct bsn_ws_decoder d;
            bsn_ws_decoder_init(&d, masked, 0);
            struct rec r = {0};
            int cc;
            /* Every strict prefix of the header is incomplete (consumes nothing). */
            for (size_t k = 0; k < hl && k < b.len; k++)
                assert_int_equal(bsn_ws_decode(&d, b.data, k, rec_cb, &r, &cc), 0);
            assert_int_equal(bsn_ws_decode(&d, b.data, b.len, rec_cb, &r, &cc), (long)b.len);
            assert_int_equal(r.n, 1);
            assert_int_equal(r.ops[0], BSN_WS_BINARY);
            assert_int_equal(r.data[0].len, lens[i]);
            if (lens[i])
                assert_memory_equal(r.data[0].data, payload, lens[i]);
            rec_free(&r);
            bsn_ws_decoder_fini(&d);
            bsn_buf_fini(&b);
            free(payload);
        }
    }
}

static void
build_fragmented(struct bsn_buf *b)
{
    bsn_ws_encode(b, BSN_WS_TEXT, false, "Hel", 3, true);
    bsn_ws_encode(b, BSN_WS_PING, true, "p", 1, true);
    bsn_ws_encode(b, BSN_WS_CONT, false, "lo ", 3, true);
    bsn_ws_encode(b, BSN_WS_CONT, true, "w\xc3\xb6rld", 6, true);
    bsn_ws_encode_close(b, 1000, "bye", true);
}

static void
check_fragmented(struct rec *r)
{
    assert_int_equal(r->n, 3);
    assert_int_equal(r->ops[0], BSN_WS_PING);
    assert_int_equal(r->data[0].len, 1);
    assert_int_equal(r->ops[1], BSN_WS_TEXT);
    assert_int_equal(r->data[1].len, 12);
    assert_memory_equal(r->data[1].data, "Hello w\xc3\xb6rld", 12);
    assert_int_equal(r->ops[2], BSN_WS_CLOSE);
    assert_memory_equal(r->data[2].data,
                        "\x03\xe8"
                        "bye",
                        5);
}

static void
test_fragmentation_and_byte_feeding(void **state)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    build_fragmented(&b);
    /* All at once. */
    struct bsn_buf copy;
    bsn_buf_init(&copy);
    bsn_buf_append(&copy, b.data, b.len);
    struct bsn_ws_decoder d;
    bsn_ws_decoder_init(&d, true, 0);
    struct rec r = {0};
    int cc;
    assert_int_equal(bsn_ws_decode(&d, copy.data, copy.len, rec_cb, &r, &cc), (long)copy.len);
    check_fragmented(&r);
    rec_free(&r);
    bsn_ws_decoder_fini(&d);

    /* One byte at a time, keeping unconsumed bytes like a caller would. */
    bsn_ws_decoder_init(&d, true, 0);
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    for (size_t i = 0; i < b.len; i++) {
        bsn_buf_append(&pend, b.data + i, 1);
        long n = bsn_ws_decode(&d, pend.data, pend.len, rec_cb, &r, &cc);
        assert_true(n >= 0);
        bsn_buf_consume(&pend, (size_t)n);
    }
    assert_int_equal(pend.len, 0);
    check_fragmented(&r);
    rec_free(&r);
    bsn_ws_decoder_fini(&d);
    bsn_buf_fini(&pend);
    bsn_buf_fini(&copy);
    bsn_buf_fini(&b);
}

struct bad {
    const char *bytes;
    size_t len;
    bool server;
    int code;
};

static void
test_protocol_errors(void **state)
{
    static const struct bad cases[] = {
        {"\x81\x02hi", 4, true, 1002},          /* unmasked to server */
        {"\x81\x82\0\0\0\0hi", 8, false, 1002}, /* masked to client */
        {"\xc1\x02hi", 4, false, 1002},         /* RSV1 without extension */
        {"\x83\x00", 2, false, 1002},           /* reserved opcode */
        {"\x09\x00", 2, false, 1002},           /* fragmented ping */
        {"\x89\x7e\x00\x7e", 4, false, 1002},   /* ping > 125 bytes */
        {"\x80\x00", 2, false, 1002},           /* continuation, no message */
        {"\x01\x01"
         "a\x81\x01"
         "b",
         6, false, 1002},                                     /* new text inside fragments */
        {"\x81\x7e\x00\x05hello", 9, false, 1002},            /* non-minimal 16-bit length */
        {"\x82\x7f\0\0\0\0\0\0\0\x05hello", 15, false, 1002}, /* non-minimal 64-bit length */
        {"\x82\x7f\x80\0\0\0\0\0\0\0", 10, false, 1002},      /* 64-bit length MSB */
        {"\x88\x01x", 3, false, 1002},                        /* close with 1-byte payload */
        {"\x88\x02\x03\xed", 4, false, 1002},                 /* close code 1005 */
        {"\x88\x04\x03\xe8\xff\xfe", 6, false, 1007},         /* close reason not UTF-8 */
        {"\x81\x02\xc3\x28", 4, false, 1007},                 /* bad UTF-8 text */
        {"\x81\x03\xed\xa0\x80", 5, false, 1007},             /* UTF-16 surrogate */
        {"\x81\x02\xc0\xaf", 4, false, 1007},                 /* overlong */
        {"\x01\x01\xc3\x80\x01\x28", 6, false, 1007},         /* split valid + bad tail */
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(cases); i++) {
        struct bsn_ws_decoder d;
        bsn_ws_decoder_init(&d, cases[i].server, 0);
        char buf[32];
        memcpy(buf, cases[i].bytes, cases[i].len);
        struct rec r = {0};
        int cc = 0;
        long n = bsn_ws_decode(&d, buf, cases[i].len, rec_cb, &r, &cc);
        if (n != -1 || cc != cases[i].code)
            fail_msg("case %zu: n=%ld code=%d want %d", i, n, cc, cases[i].code);
        rec_free(&r);
        bsn_ws_decoder_fini(&d);
    }
    /* Message cap across fragments -> 1009. */
    struct bsn_ws_decoder d;
    bsn_ws_decoder_init(&d, false, 10);
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_ws_encode(&b, BSN_WS_BINARY, false, "123456", 6, false);
    bsn_ws_encode(&b, BSN_WS_CONT, true, "789012", 6, false);
    struct rec r = {0};
    int cc;
    assert_int_equal(bsn_ws_decode(&d, b.data, b.len, rec_cb, &r, &cc), -1);
    assert_int_equal(cc, 1009);
    assert_int_equal(r.n, 0);
    bsn_ws_decoder_fini(&d);
    bsn_buf_fini(&b);
    assert_true(bsn_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(bsn_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(bsn_utf8_valid("\xe2\x82", 2));         /* truncated */
}

/* ---- handshake through the server ---- */

static void
echo_cb_send(int fd, enum bsn_ws_opcode op, const char *data, size_t len)
{
    struct bsn_buf out;
    bsn_buf_init(&out);
    bsn_ws_encode(&out, op, true, data, len, false);
    send_all(fd, out.data, out.len);
    bsn_buf_fini(&out);
}

struct echo {
    int fd;
    bool closed;
};

static int
echo_msg(enum bsn_ws_opcode op, const char *data, size_t len, void *ud)
{
    struct echo *e = ud;
    if (op == BSN_WS_TEXT || op == BSN_WS_BINARY)
        echo_cb_send(e->fd, op, data, len);
    else if (op == BSN_WS_PING)
        echo_cb_send(e->fd, BSN_WS_PONG, data, len);
    else if (op == BSN_WS_CLOSE) {
        echo_cb_send(e->fd, BSN_WS_CLOSE, data, len);
        e->closed = true;
        return 1;
    }
    return 0;
}

static void
ws_handler(struct bsn_http_req *req, void *data)
{
    const char *protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
    const char *chosen = NULL;
    struct bsn_http_upgraded up;
    if (bsn_ws_server_accept(req, protos, &chosen, &up) < 0)
        return;
    /* Blocking echo loop on the loop thread: fine for a single test client. */
    int fl = fcntl(up.fd, F_GETFL);
    fcntl(up.fd, F_SETFL, fl & ~O_NONBLOCK);
    if (up.out_len)
        send_all(up.fd, up.out, up.out_len);
    struct bsn_buf in;
    bsn_buf_init(&in);
    if (up.in_len)
        bsn_buf_append(&in, up.in, up.in_len);
    struct bsn_ws_decoder d;
    bsn_ws_decoder_init(&d, true, 0);
    struct echo e = {.fd = up.fd};
    while (!e.closed) {
        int cc;
        long n = in.len ? bsn_ws_decode(&d, in.data, in.len, echo_msg, &e, &cc) : 0;
        if (n < 0) {
            struct bsn_buf out;
            bsn_buf_init(&out);
            bsn_ws_encode_close(&out, (uint16_t)cc, "protocol error", false);
            send_all(up.fd, out.data, out.len);
            bsn_buf_fini(&out);
            break;
        }
        bsn_buf_consume(&in, (size_t)n);
        if (e.closed)
            break;
        char tmp[4096];
        ssize_t r = recv(up.fd, tmp, sizeof(tmp), 0);
        if (r <= 0)
            break;
        bsn_buf_append(&in, tmp, (size_t)r);
    }
    bsn_ws_decoder_fini(&d);
    bsn_buf_fini(&in);
    close(up.fd);
    free(up.in);
    free(up.out);
}

static void
test_server_handshake_and_echo(void **state)
{
    struct harness h;
    struct bsn_http_server_opts o = {.handler = ws_handler};
    harness_start(&h, &o);
    int fd = tcp_connect(h.port);
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;

    /* Wrong version -> 426 with the supported version. */
    send_str(fd, "GET /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 426);
    assert_non_null(strstr(r.head, "Sec-WebSocket-Version: 13"));
    raw_resp_free(&r);

    /* Valid upgrade; a masked text frame is sent right behind the head. */
    struct bsn_buf req;
    bsn_buf_init(&req);
    bsn_buf_puts(&req, "GET /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                       "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Protocol: v4.channel.k8s.io, base64.channel.k8s.io\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    bsn_ws_encode(&req, BSN_WS_TEXT, true, "early", 5, true);
    send_all(fd, req.data, req.len);
    bsn_buf_reset(&req);
    assert_int_equal(read_resp(fd, &pend, &r, true), 0);
    assert_int_equal(r.status, 101);
    assert_non_null(strstr(r.head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(r.head, "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"));
    raw_resp_free(&r);

    bsn_ws_encode(&req, BSN_WS_PING, true, "pp", 2, true);
    bsn_ws_encode(&req, BSN_WS_BINARY, true, "\x01stdin", 6, true);
    bsn_ws_encode_close(&req, 1000, "done", true);
    send_all(fd, req.data, req.len);

    struct bsn_ws_decoder d;
    bsn_ws_decoder_init(&d, false, 0);
    struct rec rc = {0};
    while (rc.n < 4) {
        int cc;
        long n = pend.len ? bsn_ws_decode(&d, pend.data, pend.len, rec_cb, &rc, &cc) : 0;
        assert_true(n >= 0);
        bsn_buf_consume(&pend, (size_t)n);
        if (rc.n >= 4)
            break;
        char tmp[4096];
        ssize_t got = recv(fd, tmp, sizeof(tmp), 0);
        assert_true(got > 0);
        bsn_buf_append(&pend, tmp, (size_t)got);
    }
    assert_int_equal(rc.ops[0], BSN_WS_TEXT);
    assert_memory_equal(rc.data[0].data, "early", 5);
    assert_int_equal(rc.ops[1], BSN_WS_PONG);
    assert_int_equal(rc.ops[2], BSN_WS_BINARY);
    assert_memory_equal(rc.data[2].data, "\x01stdin", 6);
    assert_int_equal(rc.ops[3], BSN_WS_CLOSE);
    rec_free(&rc);
    bsn_ws_decoder_fini(&d);
    assert_true(wait_closed(fd, 3000));
    close(fd);
    bsn_buf_fini(&req);
    bsn_buf_fini(&pend);
    harness_stop(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_roundtrip_lengths),
        cmocka_unit_test(test_fragmentation_and_byte_feeding),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_server_handshake_and_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
