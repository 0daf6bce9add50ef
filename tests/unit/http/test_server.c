/*
 * test_server.c - the HTTP/1.1 server (src/http/server.h) driven by raw sockets: keep-alive,
 * pipelining with async handlers, bodies (Content-Length, chunked, 100-continue), limits
 * (413, 431, 408, idle close), HEAD, streaming with client disconnect and slow clients,
 * Unix sockets, query decoding and protocol upgrade.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "harness.h"

static int closes; /* on_close calls (loop thread writes, test thread reads) */
static struct bsn_http_req *stream_req;
static struct bsn_timer stream_timer;
static size_t stream_chunk = 16;

static void
on_close(struct bsn_http_req *req, void *data)
{
    assert_ptr_equal(req, stream_req);
    stream_req = NULL;
    __atomic_add_fetch(&closes, 1, __ATOMIC_SEQ_CST);
}

static void
stream_tick(struct bsn_loop *loop, void *data)
{
    if (!stream_req)
        return;
    char *chunk = bsn_malloc(stream_chunk);
    memset(chunk, 'x', stream_chunk);
    chunk[stream_chunk - 1] = '\n';
    int rc = bsn_http_stream_write(stream_req, chunk, stream_chunk);
    free(chunk);
    if (rc == 0)
        bsn_timer_start(loop, &stream_timer, 5, stream_tick, NULL);
}

struct async_resp {
    struct bsn_http_req *req;
    struct bsn_timer t;
};

static void
async_done(struct bsn_loop *loop, void *data)
{
    struct async_resp *a = data;
    bsn_http_respond(a->req, 202, "text/plain", "later", 5);
    free(a);
}

static void
handler(struct bsn_http_req *req, void *data)
{
    struct bsn_loop *loop = data;
    if (strcmp(req->path, "/async") == 0) {
        struct async_resp *a = bsn_calloc(1, sizeof(*a));
        a->req = req;
        bsn_timer_init(&a->t);
        bsn_timer_start(loop, &a->t, 30, async_done, a);
        return;
    }
    if (strcmp(req->path, "/stream") == 0) {
        stream_req = req;
        bsn_http_req_on_close(req, on_close, NULL);
        bsn_http_stream_start(req, 200, "application/json");
        bsn_http_stream_write(req, "{\"type\":\"ADDED\"}\n", 17);
        bsn_timer_init(&stream_timer);
        bsn_timer_start(loop, &stream_timer, 5, stream_tick, NULL);
        return;
    }
    if (strcmp(req->path, "/burst") == 0) {
        /* 8 MiB in one synchronous burst, more than max_stream_buffer in that test. */
        char *chunk = bsn_malloc(65536);
        memset(chunk, 'b', 65536);
        bsn_http_stream_start(req, 200, "application/octet-stream");
        for (int i = 0; i < 128; i++)
            assert_int_equal(bsn_http_stream_write(req, chunk, 65536), 0);
        bsn_http_stream_end(req);
        free(chunk);
        return;
    }
    if (strcmp(req->path, "/stream-end") == 0) {
        bsn_http_stream_start(req, 200, "text/plain");
        bsn_http_stream_write(req, "one\n", 4);
        bsn_http_stream_write(req, "two\n", 4);
        bsn_http_stream_end(req);
        return;
    }
    if (strcmp(req->path, "/query") == 0) {
        char v[64], out[200];
        int a = bsn_http_query_get(req, "labelSelector", v, sizeof(v));
        char w[8];
        int b = bsn_http_query_get(req, "watch", w, sizeof(w));
        int c = bsn_http_query_get(req, "missing", w, sizeof(w));
        int n = snprintf(out, sizeof(out), "%d:%s|%d|%d", a, a >= 0 ? v : "", b, c);
        bsn_http_respond(req, 200, "text/plain", out, (size_t)n);
        return;
    }
    if (strcmp(req->path, "/upgrade") == 0) {
        bsn_http_req_add_header(req, "Upgrade", "test-proto");
        bsn_http_req_add_header(req, "Connection", "Upgrade");
        struct bsn_http_upgraded up;
        assert_int_equal(bsn_http_req_upgrade(req, 101, &up), 0);
        assert_null(up.ssl);
        /* Echo what the client already sent after the head, then close. */
        char msg[128];
        int n = snprintf(msg, sizeof(msg), "raw:%.*s", (int)up.in_len, up.in ? up.in : "");
        if (up.out_len)
            send_all(up.fd, up.out, up.out_len);
        send_all(up.fd, msg, (size_t)n);
        close(up.fd);
        free(up.in);
        free(up.out);
        return;
    }
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_printf(&b, "%s %s ?%s body=%.*s", req->method, req->path, req->query,
                   (int)req->body_len, req->body);
    const char *ua = bsn_http_req_header(req, "user-agent");
    if (ua)
        bsn_buf_printf(&b, " ua=%s", ua);
    bsn_http_req_add_header(req, "X-Test", "yes");
    bsn_http_req_add_header(req, "X-Bad", "evil\r\nInjected: 1");
    bsn_http_req_add_header(req, "X-Bad\xc3\xa9", "name must be a token");
    bsn_http_req_add_header(req, "X-Utf8", "caf\xc3\xa9");
    bsn_http_respond(req, 200, "text/plain", b.data, b.len);
    bsn_buf_fini(&b);
}

static struct harness H;

static void
start(struct bsn_http_server_opts *o)
{
    __atomic_store_n(&closes, 0, __ATOMIC_SEQ_CST);
    struct bsn_loop *loop = bsn_loop_new();
    /* handler data must be the loop; create it first and hand it to the harness. */
    o->handler = handler;
    o->data = loop;
    struct bsn_err err;
    bsn_err_clear(&err);
    H.loop = loop;
    if (!o->listen)
        o->listen = "127.0.0.1:0";
    H.srv = bsn_http_server_new(loop, o, &err);
    assert_non_null(H.srv);
    H.port = bsn_http_server_port(H.srv);
    pthread_create(&H.thread, NULL, harness_main, &H);
}

static void
test_keepalive_and_headers(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    assert_true(H.port > 0);
    int fd = tcp_connect(H.port);
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;
    for (int i = 0; i < 3; i++) {
        send_str(fd, "GET /a/b?x=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: cm\r\n\r\n");
        assert_int_equal(read_resp(fd, &pend, &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "GET /a/b ?x=1 body= ua=cm");
        assert_non_null(strstr(r.head, "\r\nDate: "));
        assert_non_null(strstr(r.head, "\r\nX-Test: yes\r\n"));
        assert_null(strstr(r.head, "Injected"));
        assert_null(strstr(r.head, "token"));
        assert_non_null(strstr(r.head, "\r\nX-Utf8: caf\xc3\xa9\r\n"));
        assert_null(strstr(r.head, "Connection: close"));
        raw_resp_free(&r);
    }
    /* HTTP/1.0 without keep-alive: response then close. */
    send_str(fd, "GET /x HTTP/1.0\r\n\r\n");
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_non_null(strstr(r.head, "Connection: close"));
    raw_resp_free(&r);
    assert_true(wait_closed(fd, 3000));
    close(fd);
    bsn_buf_fini(&pend);
    harness_stop(&H);
}

static void
test_pipelining_in_order(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    int fd = tcp_connect(H.port);
    send_str(fd, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n"
                 "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"
                 "POST /third HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                 "HEAD /fourth HTTP/1.1\r\nHost: t\r\n\r\n"
                 "POST /fifth HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\nTrailer: 1\r\n\r\n"
                 "GET /stream-end HTTP/1.1\r\nHost: t\r\n\r\n");
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_string_equal(r.body, "GET /first ? body=");
    raw_resp_free(&r);
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "later");
    raw_resp_free(&r);
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_string_equal(r.body, "POST /third ? body=abc");
    raw_resp_free(&r);
    assert_int_equal(read_resp(fd, &pend, &r, true), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Length: 20\r\n")); /* "HEAD /fourth ? body=" */
    assert_int_equal(r.body_len, 0);
    raw_resp_free(&r);
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_string_equal(r.body, "POST /fifth ? body=hello");
    raw_resp_free(&r);
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_non_null(strstr(r.head, "Transfer-Encoding: chunked"));
    assert_string_equal(r.body, "one\ntwo\n");
    raw_resp_free(&r);
    assert_int_equal(pend.len, 0);
    close(fd);
    bsn_buf_fini(&pend);
    harness_stop(&H);
}

static void
test_limits(void **state)
{
    struct bsn_http_server_opts o = {0};
    o.max_body = 1000;
    o.header_timeout_ms = 300;
    o.idle_timeout_ms = 400;
    start(&o);
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;

    /* 413 from Content-Length before the body is read. */
    int fd = tcp_connect(H.port);
    send_str(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n");
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.head, "Connection: close"));
    raw_resp_free(&r);
    assert_true(wait_closed(fd, 3000));
    close(fd);

    /* 413 for a chunked body that grows too large. */
    bsn_buf_reset(&pend);
    fd = tcp_connect(H.port);
    send_str(fd, "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[600];
    memset(chunk, 'a', sizeof(chunk));
    for (int i = 0; i < 2; i++) {
        send_str(fd, "258\r\n");
        send_all(fd, chunk, sizeof(chunk));
        send_str(fd, "\r\n");
    }
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 413);
    raw_resp_free(&r);
    close(fd);

    /* 431 for too many header bytes. */
    bsn_buf_reset(&pend);
    fd = tcp_connect(H.port);
    send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 2000; i++)
        send_str(fd, "X-Some-Header: 0123456789012345678901234567890123456789\r\n");
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 431);
    raw_resp_free(&r);
    close(fd);

    /* 400 for a smuggling attempt. */
    bsn_buf_reset(&pend);
    fd = tcp_connect(H.port);
    send_str(fd, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked"
                 "\r\n\r\n0\r\n\r\n");
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 400);
    raw_resp_free(&r);
    close(fd);

    /* 408 for a client that starts a head and stalls. */
    bsn_buf_reset(&pend);
    fd = tcp_connect(H.port);
    send_str(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n");
    uint64_t t0 = bsn_mono_ms();
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 408);
    assert_true(bsn_mono_ms() - t0 >= 250);
    raw_resp_free(&r);
    close(fd);

    /* An idle keep-alive connection is closed silently. */
    fd = tcp_connect(H.port);
    t0 = bsn_mono_ms();
    assert_true(wait_closed(fd, 3000));
    assert_true(bsn_mono_ms() - t0 >= 350);
    close(fd);
    bsn_buf_fini(&pend);
    harness_stop(&H);
}

static void
test_expect_continue(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    int fd = tcp_connect(H.port);
    send_str(fd, "PUT /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 100);
    raw_resp_free(&r);
    send_str(fd, "hello");
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "PUT /e ? body=hello");
    raw_resp_free(&r);
    close(fd);
    bsn_buf_fini(&pend);
    harness_stop(&H);
}

static void
test_stream_disconnect_fires_on_close(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    stream_chunk = 16;
    int fd = tcp_connect(H.port);
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[4096];
    struct bsn_buf got;
    bsn_buf_init(&got);
    while (!strstr(got.data ? got.data : "", "xxxx\n")) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        assert_true(n > 0);
        bsn_buf_append(&got, buf, (size_t)n);
    }
    assert_non_null(strstr(got.data, "Transfer-Encoding: chunked"));
    assert_non_null(strstr(got.data, "\r\n11\r\n{\"type\":\"ADDED\"}\n\r\n"));
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 0);
    close(fd);
    uint64_t end = bsn_mono_ms() + 3000;
    while (__atomic_load_n(&closes, __ATOMIC_SEQ_CST) == 0 && bsn_mono_ms() < end)
        usleep(10000);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);
    bsn_buf_fini(&got);
    harness_stop(&H);
}

static void
test_slow_stream_client_dropped(void **state)
{
    struct bsn_http_server_opts o = {0};
    o.max_stream_buffer = 256 * 1024;
    start(&o);
    stream_chunk = 128 * 1024;
    int fd = tcp_connect(H.port);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    /* Never read: the server must give up on us and fire on_close. */
    uint64_t end = bsn_mono_ms() + 10000;
    while (__atomic_load_n(&closes, __ATOMIC_SEQ_CST) == 0 && bsn_mono_ms() < end)
        usleep(10000);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);
    close(fd);
    harness_stop(&H);
}

static void
test_stream_burst_beyond_cap(void **state)
{
    struct bsn_http_server_opts o = {0};
    o.max_stream_buffer = 1 << 20;
    start(&o);
    int fd = tcp_connect(H.port);
    send_str(fd, "GET /burst HTTP/1.1\r\nHost: t\r\n\r\n");
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 128 * 65536);
    assert_int_equal(r.body[r.body_len - 1], 'b');
    raw_resp_free(&r);
    close(fd);
    bsn_buf_fini(&pend);
    harness_stop(&H);
}

static void
test_shutdown_with_open_stream(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    stream_chunk = 16;
    int fd = tcp_connect(H.port);
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[256];
    assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
    harness_stop(&H); /* server_free with a live stream: on_close fires, nothing leaks */
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);
    close(fd);
}

static void
test_unix_socket_query_upgrade(void **state)
{
    char path[64];
    snprintf(path, sizeof(path), "unix:/tmp/bsn-http-test-%d.sock", (int)getpid());
    struct bsn_http_server_opts o = {.listen = path, .unix_mode = 0600};
    start(&o);
    assert_int_equal(H.port, 0);
    struct stat st;
    assert_int_equal(stat(path + 5, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, path + 5);
    assert_int_equal(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;
    send_str(fd, "GET /query?watch&labelSelector=app%3Dweb%2Ctier+in+(a)&x=%zz HTTP/1.1\r\n"
                 "Host: t\r\n\r\n");
    assert_int_equal(read_resp(fd, &pend, &r, false), 0);
    assert_string_equal(r.body, "19:app=web,tier in (a)|0|-1");
    raw_resp_free(&r);
    /* Upgrade: bytes sent right after the head are handed over with the fd. */
    send_str(fd, "GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                 "Upgrade: test-proto\r\n\r\nEARLY");
    assert_int_equal(read_resp(fd, &pend, &r, true), 0);
    assert_int_equal(r.status, 101);
    assert_non_null(strstr(r.head, "Upgrade: test-proto"));
    raw_resp_free(&r);
    char buf[64] = {0};
    size_t got = pend.len;
    memcpy(buf, pend.data, pend.len);
    while (got < 9) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_string_equal(buf, "raw:EARLY");
    close(fd);
    bsn_buf_fini(&pend);
    harness_stop(&H);
    assert_int_not_equal(access(path + 5, F_OK), 0); /* socket file removed */
}

static void
shutdown_cb(struct bsn_loop *loop, void *data)
{
    bsn_http_server_shutdown(H.srv);
}

static void
test_graceful_shutdown(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    int idle = tcp_connect(H.port);
    int busy = tcp_connect(H.port);
    struct bsn_buf pend;
    bsn_buf_init(&pend);
    struct raw_resp r;
    send_str(idle, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_resp(idle, &pend, &r, false), 0);
    raw_resp_free(&r);
    send_str(busy, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(5000);
    bsn_loop_post(H.loop, shutdown_cb, NULL);
    /* The idle connection is closed; the busy one gets its answer with Connection: close. */
    assert_true(wait_closed(idle, 3000));
    bsn_buf_reset(&pend);
    assert_int_equal(read_resp(busy, &pend, &r, false), 0);
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.head, "Connection: close"));
    raw_resp_free(&r);
    assert_true(wait_closed(busy, 3000));
    /* New connections are refused. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)H.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
    close(idle);
    close(busy);
    bsn_buf_fini(&pend);
    harness_stop(&H);
}

static void
test_percent_decode(void **state)
{
    char out[16];
    assert_int_equal(bsn_http_percent_decode("a%2Fb+c", 7, true, out, sizeof(out)), 5);
    assert_string_equal(out, "a/b c");
    assert_int_equal(bsn_http_percent_decode("a+b", 3, false, out, sizeof(out)), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(bsn_http_percent_decode("%4", 2, true, out, sizeof(out)), -1);
    assert_int_equal(bsn_http_percent_decode("%g1", 3, true, out, sizeof(out)), -1);
    assert_int_equal(bsn_http_percent_decode("0123456789abcdef", 16, true, out, sizeof(out)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_and_headers),
        cmocka_unit_test(test_pipelining_in_order),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_stream_disconnect_fires_on_close),
        cmocka_unit_test(test_slow_stream_client_dropped),
        cmocka_unit_test(test_stream_burst_beyond_cap),
        cmocka_unit_test(test_shutdown_with_open_stream),
        cmocka_unit_test(test_unix_socket_query_upgrade),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_percent_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
