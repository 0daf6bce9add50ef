/*
 * test_grpc.c - gRPC health checks for grpc probes: the framing of HealthCheckRequest and
 * HealthCheckResponse (lengths, varints, unknown fields, truncation, compression), and calls
 * that fail before any answer (refused connection, a server that never speaks HTTP/2) with
 * upstream's messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/grpc.h"
#include "loop/loop.h"

static void
test_request_framing(void **state)
{
    uint8_t out[1024];
    assert_int_equal(bsn_grpc_health_request(NULL, out, sizeof(out)), 5);
    assert_memory_equal(out, "\0\0\0\0\0", 5);
    assert_int_equal(bsn_grpc_health_request("", out, sizeof(out)), 5);
    assert_int_equal(bsn_grpc_health_request("svc", out, sizeof(out)), 10);
    assert_memory_equal(out, "\0\0\0\0\x05\x0a\x03svc", 10);
    /* a 200-byte name needs a two-byte varint: 200 = 0xc8 0x01 */
    char name[201];
    memset(name, 'n', 200);
    name[200] = '\0';
    assert_int_equal(bsn_grpc_health_request(name, out, sizeof(out)), 5 + 3 + 200);
    assert_int_equal(out[4], 203);
    assert_int_equal(out[5], 0x0a);
    assert_int_equal(out[6], 0xc8);
    assert_int_equal(out[7], 0x01);
    /* too small a buffer, too long a name */
    assert_int_equal(bsn_grpc_health_request("svc", out, 9), 0);
    char huge[BSN_GRPC_SERVICE_MAX + 2];
    memset(huge, 'h', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(bsn_grpc_health_request(huge, out, sizeof(out)), 0);
}

static void
test_response_parsing(void **state)
{
    int st = -5;
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\2\x08\x01", 7, &st),
                     0);
    assert_int_equal(st, BSN_GRPC_SERVING);
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\2\x08\x02", 7, &st),
                     0);
    assert_int_equal(st, BSN_GRPC_NOT_SERVING);
    assert_string_equal(bsn_grpc_status_name(st), "NOT_SERVING");
    /* an empty message is the proto3 default: UNKNOWN */
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\0", 5, &st), 0);
    assert_int_equal(st, BSN_GRPC_UNKNOWN);
    assert_string_equal(bsn_grpc_status_name(st), "UNKNOWN");
    /* unknown fields are skipped: field 2 varint (0x10 0x96 0x01), field 3 bytes "ab",
     * field 4 fixed64, field 5 fixed32, then status SERVICE_UNKNOWN */
    const uint8_t skip[] = {0, 0, 0, 0, 23, 0x10, 0x96, 0x01, 0x1a, 2, 'a', 'b', 0x21, 1,
                            2, 3, 4, 5, 6,  7,    8,    0x2d, 1,    2, 3,   4,   0x08, 0x03};
    assert_int_equal(bsn_grpc_parse_health_response(skip, sizeof(skip), &st), 0);
    assert_int_equal(st, BSN_GRPC_SERVICE_UNKNOWN);
    assert_string_equal(bsn_grpc_status_name(st), "SERVICE_UNKNOWN");
    /* incomplete: header or body missing */
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0", 3, &st), 1);
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\2\x08", 6, &st), 1);
    /* malformed: compressed flag, trailing bytes, truncated varint, bad wire type, a length
     * past the end, a varint of more than 10 bytes */
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\1\0\0\0\2\x08\x01", 7, &st),
                     -1);
    assert_int_equal(
        bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\2\x08\x01\x00", 8, &st), -1);
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\2\x08\x81", 7, &st),
                     -1);
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\1\x0b", 6, &st), -1);
    assert_int_equal(bsn_grpc_parse_health_response((const uint8_t *)"\0\0\0\0\3\x1a\x05x", 8, &st),
                     -1);
    const uint8_t longv[] = {0,    0,    0,    0,    12,   0x08, 0xff, 0xff, 0xff,
                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(bsn_grpc_parse_health_response(longv, sizeof(longv), &st), -1);
    /* a length prefix claiming 4 GiB is just incomplete, never a read past the buffer */
    assert_int_equal(
        bsn_grpc_parse_health_response((const uint8_t *)"\0\xff\xff\xff\xff\x08", 6, &st), 1);
}

struct result {
    int done, ok;
    char msg[512];
};

static void
on_done(int ok, const char *msg, void *data)
{
    struct result *r = data;
    r->done++;
    r->ok = ok;
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

static int
listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t sl = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    *port = ntohs(sin.sin_port);
    return fd;
}

static void
test_check_refused(void **state)
{
    /* bind a port, close it: nothing listens there */
    int port;
    close(listener(&port));
    struct bsn_loop *loop = bsn_loop_new();
    struct result r = {0};
    struct bsn_grpc_check *c = bsn_grpc_check(loop, "127.0.0.1", port, NULL, 1000, on_done, &r);
    if (c) {
        assert_int_equal(r.done, 0); /* never from inside the call */
        for (int i = 0; i < 200 && !r.done; i++)
            bsn_loop_run_once(loop, 10);
        assert_int_equal(r.done, 1);
        assert_int_equal(r.ok, 0);
        assert_non_null(strstr(r.msg, "failed to connect service \"127.0.0.1:"));
        assert_non_null(strstr(r.msg, "within 1s"));
    }
    bsn_loop_free(loop);
}

static void
test_check_timeout_and_cancel(void **state)
{
    /* a server that accepts and never answers: the deadline ends the call */
    int port;
    int lfd = listener(&port);
    struct bsn_loop *loop = bsn_loop_new();
    struct result r = {0};
    struct bsn_grpc_check *c = bsn_grpc_check(loop, "127.0.0.1", port, "svc", 250, on_done, &r);
    assert_non_null(c);
    for (int i = 0; i < 200 && !r.done; i++)
        bsn_loop_run_once(loop, 10);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.msg, "timeout: health rpc did not complete within 250ms");
    /* a call cancelled in flight never calls back */
    struct result r2 = {0};
    c = bsn_grpc_check(loop, "127.0.0.1", port, NULL, 100, on_done, &r2);
    assert_non_null(c);
    bsn_loop_run_once(loop, 0);
    bsn_grpc_check_cancel(c);
    for (int i = 0; i < 30; i++)
        bsn_loop_run_once(loop, 10);
    assert_int_equal(r2.done, 0);
    /* a server that answers something that is not HTTP/2 */
    struct result r3 = {0};
    c = bsn_grpc_check(loop, "127.0.0.1", port, NULL, 2000, on_done, &r3);
    assert_non_null(c);
    for (int i = 0; i < 3; i++)
        bsn_loop_run_once(loop, 10);
    int afd = -1;
    for (int i = 0; i < 3; i++) {
        int fd = accept(lfd, NULL, NULL); /* the earlier calls' connections first */
        if (i < 2) {
            close(fd);
            continue;
        }
        afd = fd;
    }
    const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(write(afd, junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
    for (int i = 0; i < 200 && !r3.done; i++)
        bsn_loop_run_once(loop, 10);
    assert_int_equal(r3.done, 1);
    assert_int_equal(r3.ok, 0);
    if (!strstr(r3.msg, "error: health rpc probe failed: "))
        fail_msg("%s", r3.msg);
    close(afd);
    close(lfd);
    bsn_loop_free(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_framing),
        cmocka_unit_test(test_response_parsing),
        cmocka_unit_test(test_check_refused),
        cmocka_unit_test(test_check_timeout_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
