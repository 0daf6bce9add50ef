/*
 * test_parser.c - table tests for the HTTP/1.x parser and chunked decoder (src/http/parser.h):
 * valid requests, pipelining, every smuggling case the parser must reject, limits, responses,
 * and the chunked decoder split at every byte boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "http/parser.h"

static struct bsn_http_request_head H;

static int
parse(const char *s, int *status)
{
    *status = 0;
    return bsn_http_parse_request(s, strlen(s), &H, status);
}

static void
test_simple_get(void **state)
{
    const char *req = "GET /api/v1/pods?watch=1&x=%20 HTTP/1.1\r\nHost: localhost:6443\r\n"
                      "Accept: application/json\r\nX-Empty:\r\nX-Pad: \t v a \t\r\n\r\n";
    int st;
    int rc = parse(req, &st);
    assert_int_equal(rc, (int)strlen(req));
    assert_true(bsn_str_eq(H.method, "GET"));
    assert_true(bsn_str_eq(H.target, "/api/v1/pods?watch=1&x=%20"));
    assert_true(bsn_str_eq(H.path, "/api/v1/pods"));
    assert_true(bsn_str_eq(H.query, "watch=1&x=%20"));
    assert_int_equal(H.minor_version, 1);
    assert_int_equal(H.nheaders, 4);
    assert_true(bsn_str_eq(H.host, "localhost:6443"));
    assert_int_equal(H.content_length, -1);
    assert_false(H.chunked);
    assert_true(H.keep_alive);
    assert_false(H.upgrade);
    const struct bsn_http_header *h = bsn_http_find_header(H.headers, H.nheaders, "ACCEPT");
    assert_non_null(h);
    assert_true(bsn_str_eq(h->value, "application/json"));
    h = bsn_http_find_header(H.headers, H.nheaders, "x-empty");
    assert_non_null(h);
    assert_int_equal(h->value.len, 0);
    h = bsn_http_find_header(H.headers, H.nheaders, "x-pad");
    assert_true(bsn_str_eq(h->value, "v a"));
    assert_null(bsn_http_find_header(H.headers, H.nheaders, "missing"));
}

static void
test_incomplete_every_prefix(void **state)
{
    const char *req = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue"
                      "\r\nConnection: close\r\n\r\n";
    size_t n = strlen(req);
    for (size_t i = 0; i < n; i++) {
        int st = 0;
        int rc = bsn_http_parse_request(req, i, &H, &st);
        if (rc != BSN_HTTP_INCOMPLETE)
            fail_msg("prefix %zu returned %d", i, rc);
    }
    int st;
    assert_int_equal(parse(req, &st), (int)n);
    assert_int_equal(H.content_length, 5);
    assert_true(H.expect_continue);
    assert_false(H.keep_alive);
}

static void
test_pipelined(void **state)
{
    const char *reqs = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /c HTTP/1.0\r\n\r\n";
    size_t off = 0, n = strlen(reqs);
    const char *paths[] = {"/a", "/b", "/c"};
    for (int i = 0; i < 3; i++) {
        int st;
        int rc = bsn_http_parse_request(reqs + off, n - off, &H, &st);
        assert_true(rc > 0);
        assert_true(bsn_str_eq(H.path, paths[i]));
        off += (size_t)rc;
    }
    assert_int_equal(off, n);
    assert_int_equal(H.minor_version, 0);
    assert_false(H.keep_alive);
}

static void
test_connection_semantics(void **state)
{
    int st;
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &st) > 0);
    assert_true(H.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &st) > 0);
    assert_false(H.keep_alive);
    assert_true(parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: websocket\r\n\r\n",
                      &st) > 0);
    assert_true(H.upgrade);
    assert_true(bsn_str_eq(H.upgrade_proto, "websocket"));
    /* Upgrade without Connection: upgrade is not an upgrade. */
    assert_true(parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &st) > 0);
    assert_false(H.upgrade);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &st) > 0);
    assert_true(H.chunked);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,Chunked\r\n\r\n", &st) >
                0);
    assert_true(H.chunked);
    assert_true(parse("GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n", &st) > 0);
    assert_true(bsn_str_eq(H.path, "/a/b"));
    assert_true(bsn_str_eq(H.query, "c=d"));
    assert_true(bsn_str_eq(H.host, "example.com:8080"));
    assert_int_equal(parse("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n", &st), -1);
    assert_int_equal(st, 400);
    assert_true(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &st) > 0);
    assert_true(bsn_str_eq(H.target, "*"));
}

struct bad_case {
    const char *req;
    int status;
};

static const struct bad_case bad_cases[] = {
    /* smuggling: framing conflicts */
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
     "\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    /* obs-fold, whitespace, line endings */
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400},
    {"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    /* tokens and control characters */
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n", 400},
    {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
    {"GET /\r\n\r\n", 400},
    {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    /* versions */
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400},
    {"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400},
};

static void
test_rejects(void **state)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(bad_cases); i++) {
        int st = 0;
        int rc = parse(bad_cases[i].req, &st);
        if (rc != BSN_HTTP_ERROR || st != bad_cases[i].status)
            fail_msg("case %zu (%s): rc=%d status=%d, want -1/%d", i, bad_cases[i].req, rc, st,
                     bad_cases[i].status);
    }
}

/* The 8-bytes-at-a-time scanners must catch a bad byte at any offset. */
static void
test_bad_byte_at_every_offset(void **state)
{
    const unsigned char bad_value[] = {0x00, 0x01, 0x0b, 0x1f, 0x7f, '\r', '\n'};
    const unsigned char bad_target[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '#', '\t', '\r'};
    char buf[256];
    int st;
    for (size_t pos = 0; pos < 40; pos++) {
        for (size_t k = 0; k < sizeof(bad_value); k++) {
            char val[41];
            memset(val, 'v', 40);
            val[40] = 0;
            val[pos] = (char)bad_value[k];
            static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
            memcpy(buf, pre, sizeof(pre) - 1);
            memcpy(buf + sizeof(pre) - 1, val, 40);
            memcpy(buf + sizeof(pre) - 1 + 40, "\r\n\r\n", 4);
            int n = (int)sizeof(pre) - 1 + 44;
            int rc = bsn_http_parse_request(buf, (size_t)n, &H, &st);
            if (rc != BSN_HTTP_ERROR || st != 400)
                fail_msg("value byte 0x%02x at %zu: rc=%d", bad_value[k], pos, rc);
        }
        for (size_t k = 0; k < sizeof(bad_target); k++) {
            char tgt[42];
            tgt[0] = '/';
            memset(tgt + 1, 't', 40);
            tgt[41] = 0;
            tgt[1 + pos] = (char)bad_target[k];
            static const char tail[] = " HTTP/1.1\r\nHost: a\r\n\r\n";
            memcpy(buf, "GET ", 4);
            memcpy(buf + 4, tgt, 41);
            memcpy(buf + 45, tail, sizeof(tail) - 1);
            int n = 45 + (int)sizeof(tail) - 1;
            int rc = bsn_http_parse_request(buf, (size_t)n, &H, &st);
            if (rc != BSN_HTTP_ERROR || st != 400)
                fail_msg("target byte 0x%02x at %zu: rc=%d", bad_target[k], pos, rc);
        }
    }
    /* obs-text (UTF-8) is fine in values at any offset, and '?' splits the query anywhere. */
    for (size_t pos = 1; pos < 40; pos++) {
        char b2[128];
        memcpy(b2, "GET /", 5);
        memset(b2 + 5, 'p', 40);
        b2[5 + pos] = '?';
        static const char tail2[] = " HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n";
        memcpy(b2 + 45, tail2, sizeof(tail2) - 1);
        int n2 = 45 + (int)sizeof(tail2) - 1;
        assert_int_equal(bsn_http_parse_request(b2, (size_t)n2, &H, &st), n2);
        assert_int_equal(H.path.len, pos + 1);
        assert_int_equal(H.query.len, 40 - pos - 1);
    }
}

static void
test_limits(void **state)
{
    int st;
    /* Request line of 8 KiB + more: 414, even before the line ends. */
    size_t n = BSN_HTTP_MAX_REQUEST_LINE + 100;
    char *big = bsn_malloc(n + 64);
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', n - 5);
    assert_int_equal(bsn_http_parse_request(big, n, &H, &st), BSN_HTTP_ERROR);
    assert_int_equal(st, 414);
    strcpy(big + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(bsn_http_parse_request(big, strlen(big), &H, &st), BSN_HTTP_ERROR);
    assert_int_equal(st, 414);
    /* A long target just under the limit is fine. */
    memset(big + 5, 'a', 8000);
    strcpy(big + 8005, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(bsn_http_parse_request(big, strlen(big), &H, &st) > 0);
    assert_int_equal(H.path.len, 8001);
    free(big);

    /* 100 headers ok, 101 -> 431. */
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < BSN_HTTP_MAX_HEADERS; i++)
        bsn_buf_printf(&b, "X-H%d: %d\r\n", i, i);
    bsn_buf_puts(&b, "\r\n");
    assert_int_equal(bsn_http_parse_request(b.data, b.len, &H, &st), (int)b.len);
    assert_int_equal(H.nheaders, BSN_HTTP_MAX_HEADERS);
    b.len -= 2;
    bsn_buf_puts(&b, "X-One-More: 1\r\n\r\n");
    assert_int_equal(bsn_http_parse_request(b.data, b.len, &H, &st), BSN_HTTP_ERROR);
    assert_int_equal(st, 431);

    /* Head larger than 64 KiB -> 431, also while still incomplete. */
    bsn_buf_reset(&b);
    bsn_buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    for (int i = 0; i < BSN_HTTP_MAX_HEAD; i++)
        bsn_buf_putc(&b, 'v');
    assert_int_equal(bsn_http_parse_request(b.data, b.len, &H, &st), BSN_HTTP_ERROR);
    assert_int_equal(st, 431);
    bsn_buf_puts(&b, "\r\n\r\n");
    assert_int_equal(bsn_http_parse_request(b.data, b.len, &H, &st), BSN_HTTP_ERROR);
    assert_int_equal(st, 431);
    bsn_buf_fini(&b);
}

static void
test_response(void **state)
{
    static struct bsn_http_response_head r;
    const char *s = "HTTP/1.1 201 Created\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbody";
    int rc = bsn_http_parse_response(s, strlen(s), &r);
    assert_int_equal(rc, (int)strlen(s) - 4);
    assert_int_equal(r.status, 201);
    assert_true(bsn_str_eq(r.reason, "Created"));
    assert_int_equal(r.content_length, 12);
    assert_false(r.keep_alive);
    s = "HTTP/1.0 204\r\n\r\n";
    assert_int_equal(bsn_http_parse_response(s, strlen(s), &r), (int)strlen(s));
    assert_int_equal(r.status, 204);
    assert_int_equal(r.reason.len, 0);
    assert_false(r.keep_alive);
    s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_true(bsn_http_parse_response(s, strlen(s), &r) > 0);
    assert_true(r.chunked);
    assert_true(r.keep_alive);
    s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
    assert_int_equal(bsn_http_parse_response(s, strlen(s), &r), BSN_HTTP_ERROR);
    s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n";
    assert_int_equal(bsn_http_parse_response(s, strlen(s), &r), BSN_HTTP_INCOMPLETE);
    s = "HTTP/1.1 2000 OK\r\n\r\n";
    assert_int_equal(bsn_http_parse_response(s, strlen(s), &r), BSN_HTTP_ERROR);
    s = "SSH-2.0-OpenSSH\r\n";
    assert_int_equal(bsn_http_parse_response(s, strlen(s), &r), BSN_HTTP_ERROR);
    assert_string_equal(bsn_http_status_text(404), "Not Found");
    assert_string_equal(bsn_http_status_text(799), "Unknown");
}

static const char chunked_body[] = "5\r\nhello\r\n"
                                   "6;name=\"v\"\r\n world\r\n"
                                   "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                                   "0\r\nX-Trailer: yes\r\nX-T2: 2\r\n\r\n"
                                   "NEXT";
static const char chunked_expect[] = "hello worldabcdefghijklmnopqrstuvwxyz";

/* Feeds the encoded body split at every pair of boundaries (three pieces). */
static void
test_chunked_every_split(void **state)
{
    size_t n = strlen(chunked_body);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            char buf[sizeof(chunked_body)];
            memcpy(buf, chunked_body, n);
            struct bsn_http_chunked st;
            bsn_http_chunked_init(&st);
            char out[128];
            size_t outlen = 0;
            size_t cuts[4] = {0, i, j, n};
            int rc = BSN_HTTP_INCOMPLETE;
            size_t rest = 0;
            for (int k = 0; k < 3 && rc == BSN_HTTP_INCOMPLETE; k++) {
                size_t l = cuts[k + 1] - cuts[k];
                char *piece = buf + cuts[k];
                rc = bsn_http_chunked_decode(&st, piece, &l);
                memcpy(out + outlen, piece, l);
                outlen += l;
                if (rc >= 0) {
                    rest = (size_t)rc;
                    assert_memory_equal(piece + l, "NEXT", rest);
                    /* the remaining pieces are still undelivered input */
                    rest += n - cuts[k + 1];
                }
            }
            if (rc < 0)
                fail_msg("split %zu/%zu: rc=%d", i, j, rc);
            assert_int_equal(rest, 4);
            assert_int_equal(outlen, strlen(chunked_expect));
            assert_memory_equal(out, chunked_expect, outlen);
        }
    }
}

static void
test_chunked_errors(void **state)
{
    const char *bad[] = {
        "x\r\n",                 /* not hex */
        "\r\n",                  /* no digits */
        "5\nhello\r\n",          /* bare LF */
        "5\r\nhelloX\r\n",       /* missing CRLF after data */
        "5\r\nhello\n",          /* bare LF after data */
        "11111111111111111\r\n", /* 17 digits */
        "0\r\n\x01X: y\r\n\r\n", /* control char in trailer */
        "0\r\n folded\r\n\r\n",  /* obs-fold in trailer */
        "0\r\nX: y\n\r\n",       /* bare LF in trailer */
        "3;ext\x01\r\nabc\r\n",  /* control char in extension */
        "-1\r\n",
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(bad); i++) {
        char buf[64];
        size_t l = strlen(bad[i]);
        memcpy(buf, bad[i], l);
        struct bsn_http_chunked st;
        bsn_http_chunked_init(&st);
        int rc = bsn_http_chunked_decode(&st, buf, &l);
        if (rc != BSN_HTTP_ERROR)
            fail_msg("case %zu: rc=%d", i, rc);
    }
    /* 16 digits is fine syntactically (the server caps the size separately). */
    char ok[] = "000000000000000A\r\n";
    size_t l = strlen(ok);
    struct bsn_http_chunked st;
    bsn_http_chunked_init(&st);
    assert_int_equal(bsn_http_chunked_decode(&st, ok, &l), BSN_HTTP_INCOMPLETE);
    assert_int_equal(st.remaining, 10);
    /* Trailer cap. */
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_puts(&b, "0\r\n");
    for (int i = 0; i < 1000; i++)
        bsn_buf_puts(&b, "X-Trailer: 123\r\n");
    bsn_buf_puts(&b, "\r\n");
    bsn_http_chunked_init(&st);
    l = b.len;
    assert_int_equal(bsn_http_chunked_decode(&st, b.data, &l), BSN_HTTP_ERROR);
    bsn_buf_fini(&b);
}

static void
test_list_has(void **state)
{
    assert_true(bsn_http_list_has(bsn_str_c("keep-alive, Upgrade"), "upgrade"));
    assert_true(bsn_http_list_has(bsn_str_c(" close "), "close"));
    assert_false(bsn_http_list_has(bsn_str_c("closed"), "close"));
    assert_false(bsn_http_list_has(bsn_str_c(""), "close"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_incomplete_every_prefix),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_connection_semantics),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_bad_byte_at_every_offset),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_chunked_every_split),
        cmocka_unit_test(test_chunked_errors),
        cmocka_unit_test(test_list_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
