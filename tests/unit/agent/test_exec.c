/*
 * test_exec.c - the remotecommand protocol pieces of the agent (agent/exec.h): query options,
 * subprotocol versions, the status message on channel 3, channel framing both ways, resize
 * messages and the port-forward / raw decoder modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/exec.h"

static void
test_query(void **state)
{
    (void)state;
    struct bsn_rc_opts o;
    char why[128];
    assert_int_equal(bsn_rc_opts_parse("command=sh&command=-c&command=echo%20a+b%26c&container=c1"
                                       "&stdin=true&stdout=1&stderr=false&tty=T&x=y",
                                       &o, why, sizeof(why)),
                     0);
    assert_int_equal(o.ncommand, 3);
    assert_string_equal(o.command[0], "sh");
    assert_string_equal(o.command[1], "-c");
    assert_string_equal(o.command[2], "echo a b&c");
    assert_null(o.command[3]);
    assert_string_equal(o.container, "c1");
    assert_true(o.in);
    assert_true(o.out);
    assert_false(o.err);
    assert_true(o.tty);
    bsn_rc_opts_fini(&o);

    assert_int_equal(bsn_rc_opts_parse("", &o, why, sizeof(why)), 0);
    assert_int_equal(o.ncommand, 0);
    assert_false(o.in || o.out || o.err || o.tty);
    bsn_rc_opts_fini(&o);

    assert_int_equal(bsn_rc_opts_parse("ports=8080,9090&ports=53", &o, why, sizeof(why)), 0);
    assert_int_equal(o.nports, 3);
    assert_int_equal(o.ports[0], 8080);
    assert_int_equal(o.ports[1], 9090);
    assert_int_equal(o.ports[2], 53);
    bsn_rc_opts_fini(&o);

    assert_int_equal(bsn_rc_opts_parse("ports=70000", &o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "70000"));
    assert_int_equal(bsn_rc_opts_parse("ports=1,,2", &o, why, sizeof(why)), -1);
    assert_int_equal(bsn_rc_opts_parse("command=%zz", &o, why, sizeof(why)), -1);

    /* the argument cap */
    size_t n = BSN_RC_MAX_ARGS + 1;
    char *q = malloc(n * 10 + 1), *p = q;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%scommand=a", i ? "&" : "");
    assert_int_equal(bsn_rc_opts_parse(q, &o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "too many"));
    free(q);
}

static void
test_version(void **state)
{
    (void)state;
    assert_int_equal(bsn_rc_version("v5.channel.k8s.io"), 5);
    assert_int_equal(bsn_rc_version("v4.channel.k8s.io"), 4);
    assert_int_equal(bsn_rc_version("v2.channel.k8s.io"), 2);
    assert_int_equal(bsn_rc_version("channel.k8s.io"), 1);
    assert_int_equal(bsn_rc_version(NULL), 1);
    assert_int_equal(bsn_rc_version("v6.channel.k8s.io"), 0);
    assert_int_equal(bsn_rc_version("base64.channel.k8s.io"), 0);
}

static void
test_status(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "exit 3", NULL};
    char *s = bsn_rc_status(5, 0, argv, NULL);
    assert_string_equal(s, "{\"metadata\":{},\"status\":\"Success\"}");
    free(s);

    s = bsn_rc_status(4, 3, argv, NULL);
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Failure");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "NonZeroExitCode");
    json_t *cause = json_array_get(json_object_get(json_object_get(j, "details"), "causes"), 0);
    assert_string_equal(json_string_value(json_object_get(cause, "reason")), "ExitCode");
    assert_string_equal(json_string_value(json_object_get(cause, "message")), "3");
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "[sh -c exit 3]"));
    json_decref(j);
    free(s);

    s = bsn_rc_status(5, 0, argv, "exec: \"nope\": not found");
    j = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "InternalError");
    assert_int_equal(json_integer_value(json_object_get(j, "code")), 500);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "nope"));
    json_decref(j);
    free(s);

    /* before v4: plain text, nothing on success */
    assert_null(bsn_rc_status(3, 0, argv, NULL));
    s = bsn_rc_status(2, 7, argv, NULL);
    assert_non_null(strstr(s, "exit code 7"));
    assert_null(strchr(s, '{'));
    free(s);
}

static void
test_encode(void **state)
{
    (void)state;
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_rc_encode(&b, 1, "hi", 2);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "\x82\x03\x01hi", 5);
    bsn_buf_reset(&b);
    char big[300];
    memset(big, 'x', sizeof(big));
    bsn_rc_encode(&b, 2, big, sizeof(big));
    assert_int_equal(b.len, 4 + 1 + 300);
    assert_int_equal((uint8_t)b.data[1], 126);
    assert_int_equal(((uint8_t)b.data[2] << 8) | (uint8_t)b.data[3], 301);
    assert_int_equal(b.data[4], 2);
    /* our own decoder (as a client would) reads it back */
    bsn_buf_fini(&b);
}

struct got {
    int n;
    struct bsn_rc_msg m[8];
    char data[8][64];
};

static int
collect(const struct bsn_rc_msg *m, void *ud)
{
    struct got *g = ud;
    if (g->n < 8) {
        g->m[g->n] = *m;
        size_t l = m->len < 63 ? m->len : 63;
        if (m->data)
            memcpy(g->data[g->n], m->data, l);
        g->data[g->n][l] = 0;
    }
    g->n++;
    return 0;
}

static void
client_msg(struct bsn_buf *b, const char *data, size_t len)
{
    bsn_ws_encode(b, BSN_WS_BINARY, true, data, len, true);
}

static void
test_decode(void **state)
{
    (void)state;
    struct got g = {0};
    struct bsn_rc_decoder d;
    bsn_rc_decoder_init(&d, 5, BSN_RC_MODE_EXEC, collect, &g);
    struct bsn_buf b;
    bsn_buf_init(&b);
    client_msg(&b, "\x00hello", 6);
    client_msg(&b, "\x00", 1); /* empty: dropped */
    client_msg(&b, "\x04{\"Width\":120,\"Height\":40}", 26);
    client_msg(&b, "\x04{\"Width\":\"x\"}", 15); /* bad resize: dropped */
    client_msg(&b, "\xff\x00", 2);
    bsn_ws_encode(&b, BSN_WS_PING, true, "pp", 2, true);
    /* a fragmented stdin message */
    bsn_ws_encode(&b, BSN_WS_BINARY, false,
                  "\x00"
                  "ab",
                  3, true);
    bsn_ws_encode(&b, BSN_WS_CONT, true, "cd", 2, true);
    size_t whole = b.len;
    bsn_ws_encode(&b, BSN_WS_BINARY, true, "\x00zz", 3, true);
    /* the last frame is cut: only the complete ones are consumed */
    int code = 0;
    long used = bsn_rc_decode(&d, b.data, b.len - 1, &code);
    assert_int_equal(used, (long)whole);
    assert_int_equal(g.n, 5);
    assert_int_equal(g.m[0].ev, BSN_RC_EV_DATA);
    assert_int_equal(g.m[0].channel, 0);
    assert_string_equal(g.data[0], "hello");
    assert_int_equal(g.m[1].ev, BSN_RC_EV_RESIZE);
    assert_int_equal(g.m[1].width, 120);
    assert_int_equal(g.m[1].height, 40);
    assert_int_equal(g.m[2].ev, BSN_RC_EV_EOF);
    assert_int_equal(g.m[2].channel, 0);
    assert_int_equal(g.m[3].ev, BSN_RC_EV_PING);
    assert_string_equal(g.data[3], "pp");
    assert_int_equal(g.m[4].ev, BSN_RC_EV_DATA);
    assert_string_equal(g.data[4], "abcd");
    bsn_rc_decoder_fini(&d);

    /* v4 has no close message: [255, 0] is data on an unknown channel */
    memset(&g, 0, sizeof(g));
    bsn_rc_decoder_init(&d, 4, BSN_RC_MODE_EXEC, collect, &g);
    bsn_buf_reset(&b);
    client_msg(&b, "\xff\x00", 2);
    assert_int_equal(bsn_rc_decode(&d, b.data, b.len, &code), (long)b.len);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.m[0].ev, BSN_RC_EV_DATA);
    assert_int_equal(g.m[0].channel, 255);
    bsn_rc_decoder_fini(&d);

    /* port-forward: channel 4 is data, not a resize */
    memset(&g, 0, sizeof(g));
    bsn_rc_decoder_init(&d, 4, BSN_RC_MODE_PORTS, collect, &g);
    bsn_buf_reset(&b);
    client_msg(&b, "\x04GET", 4);
    assert_int_equal(bsn_rc_decode(&d, b.data, b.len, &code), (long)b.len);
    assert_int_equal(g.m[0].ev, BSN_RC_EV_DATA);
    assert_int_equal(g.m[0].channel, 4);
    assert_string_equal(g.data[0], "GET");
    bsn_rc_decoder_fini(&d);

    /* raw (SPDY tunnel): the whole message */
    memset(&g, 0, sizeof(g));
    bsn_rc_decoder_init(&d, 5, BSN_RC_MODE_RAW, collect, &g);
    bsn_buf_reset(&b);
    client_msg(&b, "\x80\x03\x00\x01", 4);
    assert_int_equal(bsn_rc_decode(&d, b.data, b.len, &code), (long)b.len);
    assert_int_equal(g.m[0].ev, BSN_RC_EV_RAW);
    assert_int_equal(g.m[0].len, 4);
    bsn_rc_decoder_fini(&d);

    /* unmasked client frames are a protocol error */
    memset(&g, 0, sizeof(g));
    bsn_rc_decoder_init(&d, 5, BSN_RC_MODE_EXEC, collect, &g);
    bsn_buf_reset(&b);
    bsn_rc_encode(&b, 0, "x", 1);
    assert_int_equal(bsn_rc_decode(&d, b.data, b.len, &code), -1);
    assert_int_equal(code, BSN_WS_CLOSE_PROTOCOL);
    bsn_rc_decoder_fini(&d);
    bsn_buf_fini(&b);
}

static void
test_resize(void **state)
{
    (void)state;
    uint16_t w = 0, h = 0;
    assert_int_equal(bsn_rc_parse_resize("{\"Width\":80,\"Height\":24}", 24, &w, &h), 0);
    assert_int_equal(w, 80);
    assert_int_equal(h, 24);
    assert_int_equal(bsn_rc_parse_resize("{\"Width\":80}", 12, &w, &h), -1);
    assert_int_equal(bsn_rc_parse_resize("{\"Width\":-1,\"Height\":2}", 23, &w, &h), -1);
    assert_int_equal(bsn_rc_parse_resize("{\"Width\":70000,\"Height\":2}", 26, &w, &h), -1);
    assert_int_equal(bsn_rc_parse_resize("[1,2]", 5, &w, &h), -1);
    assert_int_equal(bsn_rc_parse_resize("{", 1, &w, &h), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query),  cmocka_unit_test(test_version),
        cmocka_unit_test(test_status), cmocka_unit_test(test_encode),
        cmocka_unit_test(test_decode), cmocka_unit_test(test_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
