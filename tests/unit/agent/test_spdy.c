/*
 * test_spdy.c - the SPDY/3.1 framing of port-forwarding (agent/exec_spdy.h): a client-side
 * SYN_STREAM (compressed with the shared dictionary) parsed by the server side, data frames
 * with FIN, RST_STREAM, PING, GOAWAY, the server's SYN_REPLY read back, partial input and the
 * limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/exec_spdy.h"

struct seen {
    int syn, data, rst, ping, goaway;
    uint32_t sid, status, ping_id;
    bool fin;
    char hdr[256];
    char payload[256];
    size_t len;
};

static void
on_syn(void *ud, uint32_t sid, const struct bsn_spdy_header *h, size_t n, bool fin)
{
    struct seen *s = ud;
    s->syn++;
    s->sid = sid;
    s->fin = fin;
    s->hdr[0] = 0;
    for (size_t i = 0; i < n; i++) {
        strcat(s->hdr, h[i].name);
        strcat(s->hdr, "=");
        strcat(s->hdr, h[i].value);
        strcat(s->hdr, ";");
    }
}

static void
on_data(void *ud, uint32_t sid, const char *data, size_t len, bool fin)
{
    struct seen *s = ud;
    s->data++;
    s->sid = sid;
    s->fin = fin;
    s->len = len;
    memcpy(s->payload, data, len < sizeof(s->payload) ? len : sizeof(s->payload));
}

static void
on_rst(void *ud, uint32_t sid, uint32_t status)
{
    struct seen *s = ud;
    s->rst++;
    s->sid = sid;
    s->status = status;
}

static void
on_ping(void *ud, uint32_t id)
{
    struct seen *s = ud;
    s->ping++;
    s->ping_id = id;
}

static void
on_goaway(void *ud)
{
    ((struct seen *)ud)->goaway++;
}

static const struct bsn_spdy_cbs cbs = {on_syn, on_data, on_rst, on_ping, on_goaway};

static void
test_dictionary(void **state)
{
    (void)state;
    size_t n;
    const unsigned char *d = bsn_spdy_dictionary(&n);
    /* starts with the length-prefixed "options", ends with the tail's last entry */
    assert_memory_equal(d, "\0\0\0\7options\0\0\0\4head", 19);
    assert_memory_equal(d + n - 13, "utf-,*,enq=0.", 13);
    assert_int_equal(n, 1423); /* the size the SPDY/3 draft gives */
}

static void
test_syn_stream_roundtrip(void **state)
{
    (void)state;
    struct seen seen = {0};
    struct bsn_spdy client, server;
    bsn_spdy_init(&client, &cbs, NULL);
    bsn_spdy_init(&server, &cbs, &seen);
    struct bsn_buf b;
    bsn_buf_init(&b);
    struct bsn_spdy_header h[] = {{"streamtype", "error"}, {"port", "8080"}, {"requestid", "0"}};
    bsn_spdy_syn_stream(&client, &b, 1, h, 3, false);
    /* a second block on the same compression context */
    struct bsn_spdy_header h2[] = {{"StreamType", "data"}, {"port", "8080"}, {"requestid", "0"}};
    bsn_spdy_syn_stream(&client, &b, 3, h2, 3, true);
    /* fed one byte short: only the first frame completes */
    long used = bsn_spdy_parse(&server, b.data, b.len - 1);
    assert_true(used > 0 && (size_t)used < b.len);
    assert_int_equal(seen.syn, 1);
    assert_int_equal(seen.sid, 1);
    assert_string_equal(seen.hdr, "streamtype=error;port=8080;requestid=0;");
    assert_int_equal(bsn_spdy_parse(&server, b.data + used, b.len - (size_t)used),
                     (long)(b.len - (size_t)used));
    assert_int_equal(seen.syn, 2);
    assert_int_equal(seen.sid, 3);
    assert_true(seen.fin);
    assert_string_equal(seen.hdr, "streamtype=data;port=8080;requestid=0;"); /* lower-cased */

    /* the server's SYN_REPLY is readable by a peer sharing its dictionary */
    bsn_buf_reset(&b);
    bsn_spdy_syn_reply(&server, &b, 3, false);
    assert_int_equal((uint8_t)b.data[0], 0x80);
    assert_int_equal(b.data[1], 3);
    assert_int_equal(b.data[3], 2); /* SYN_REPLY */
    assert_int_equal(((uint8_t)b.data[8] << 24 | (uint8_t)b.data[11]), 3);
    bsn_buf_fini(&b);
    bsn_spdy_fini(&client);
    bsn_spdy_fini(&server);
}

static void
test_frames(void **state)
{
    (void)state;
    struct seen seen = {0};
    struct bsn_spdy s;
    bsn_spdy_init(&s, &cbs, &seen);
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_spdy_data(&b, 5, "GET /", 5, false);
    assert_int_equal(b.len, 13);
    assert_int_equal(bsn_spdy_parse(&s, b.data, b.len), 13);
    assert_int_equal(seen.data, 1);
    assert_int_equal(seen.sid, 5);
    assert_false(seen.fin);
    assert_memory_equal(seen.payload, "GET /", 5);

    bsn_buf_reset(&b);
    bsn_spdy_data(&b, 5, NULL, 0, true);
    bsn_spdy_rst(&b, 7, BSN_SPDY_CANCEL);
    bsn_spdy_ping(&b, 42);
    bsn_spdy_goaway(&b, 7, 0);
    assert_int_equal(bsn_spdy_parse(&s, b.data, b.len), (long)b.len);
    assert_int_equal(seen.data, 2);
    assert_true(seen.fin);
    assert_int_equal(seen.len, 0);
    assert_int_equal(seen.rst, 1);
    assert_int_equal(seen.status, BSN_SPDY_CANCEL);
    assert_int_equal(seen.ping, 1);
    assert_int_equal(seen.ping_id, 42);
    assert_int_equal(seen.goaway, 1);

    /* a header alone waits for its payload */
    assert_int_equal(bsn_spdy_parse(&s, "\x00\x00\x00\x01\x00\x00\x00\x05", 8), 0);
    /* SETTINGS and WINDOW_UPDATE are consumed quietly */
    assert_int_equal(bsn_spdy_parse(&s, "\x80\x03\x00\x09\x00\x00\x00\x08\0\0\0\1\0\0\0\1", 16),
                     16);

    /* limits and violations */
    assert_int_equal(bsn_spdy_parse(&s, "\x00\x00\x00\x01\x00\x7f\xff\xff", 8), -1);
    assert_non_null(strstr(s.err, "too large"));
    assert_int_equal(bsn_spdy_parse(&s, "\x80\x02\x00\x06\x00\x00\x00\x04\0\0\0\1", 12), -1);
    assert_non_null(strstr(s.err, "version"));
    /* a SYN_STREAM whose header block is not zlib */
    assert_int_equal(
        bsn_spdy_parse(&s, "\x80\x03\x00\x01\x00\x00\x00\x0e\0\0\0\1\0\0\0\0\0\0garb", 22), -1);
    bsn_buf_fini(&b);
    bsn_spdy_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_syn_stream_roundtrip),
        cmocka_unit_test(test_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
