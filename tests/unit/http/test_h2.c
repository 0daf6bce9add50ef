/*
 * test_h2.c - HTTP/2 on the server (src/http/h2.c) driven by an nghttp2 client over TLS with
 * ALPN "h2": several concurrent streams, request bodies, response headers, streaming, HEAD,
 * body cap (413), and a client stream reset firing the request's on_close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "http/tls.h"

static int closes;
static struct bsn_http_req *inf_req;
static struct bsn_timer inf_timer;

static void
inf_close(struct bsn_http_req *req, void *data)
{
    inf_req = NULL;
    __atomic_add_fetch(&closes, 1, __ATOMIC_SEQ_CST);
}

static void
inf_tick(struct bsn_loop *loop, void *data)
{
    if (inf_req && bsn_http_stream_write(inf_req, "tick\n", 5) == 0)
        bsn_timer_start(loop, &inf_timer, 5, inf_tick, NULL);
}

#define BIG_LEN (5u << 20)
static char *big_body;
static struct bsn_http_req *bs_req;
static struct bsn_timer bs_timer;
static size_t bs_sent;

/* Streams BIG_LEN bytes in 256 KiB pieces, one per millisecond (body arriving over time). */
static void
bs_tick(struct bsn_loop *loop, void *data)
{
    if (!bs_req)
        return;
    size_t n = BSN_MIN((size_t)256 * 1024, BIG_LEN - bs_sent);
    if (bsn_http_stream_write(bs_req, big_body + bs_sent, n) < 0) {
        bs_req = NULL;
        return;
    }
    bs_sent += n;
    if (bs_sent == BIG_LEN) {
        bsn_http_stream_end(bs_req);
        bs_req = NULL;
        return;
    }
    bsn_timer_start(loop, &bs_timer, 1, bs_tick, NULL);
}

static void
handler(struct bsn_http_req *req, void *data)
{
    struct bsn_loop *loop = data;
    if (strcmp(req->path, "/big") == 0) {
        bsn_http_respond(req, 200, "application/octet-stream", big_body, BIG_LEN);
        return;
    }
    if (strcmp(req->path, "/bigstream") == 0) {
        bs_req = req;
        bs_sent = 0;
        bsn_http_stream_start(req, 200, "application/octet-stream");
        bsn_timer_init(&bs_timer);
        bsn_timer_start(loop, &bs_timer, 1, bs_tick, NULL);
        return;
    }
    if (strcmp(req->path, "/stream") == 0) {
        bsn_http_stream_start(req, 200, "application/json");
        bsn_http_stream_write(req, "{\"a\":1}\n", 8);
        bsn_http_stream_write(req, "{\"b\":2}\n", 8);
        bsn_http_stream_end(req);
        return;
    }
    if (strcmp(req->path, "/infinite") == 0) {
        inf_req = req;
        bsn_http_req_on_close(req, inf_close, NULL);
        bsn_http_stream_start(req, 200, "application/json");
        bsn_timer_init(&inf_timer);
        bsn_timer_start(loop, &inf_timer, 1, inf_tick, NULL);
        return;
    }
    struct bsn_buf b;
    bsn_buf_init(&b);
    const char *xt = bsn_http_req_header(req, "x-test");
    bsn_buf_printf(&b, "%s %s ?%s body=%.*s x-test=%s host=%s", req->method, req->path, req->query,
                   (int)req->body_len, req->body, xt ? xt : "-", bsn_http_req_header(req, "host"));
    bsn_http_req_add_header(req, "X-Reply", "Yes");
    bsn_http_req_add_header(req, "Connection", "keep-alive"); /* must be dropped for h2 */
    bsn_http_respond(req, 200, "text/plain", b.data, b.len);
    bsn_buf_fini(&b);
}

/* ---- a small blocking nghttp2 client ---- */

struct cstream {
    int32_t id;
    int status;
    char reply_hdr[16];
    bool saw_connection;
    struct bsn_buf body;
    bool closed;
    uint32_t error;
    const char *req_body;
    size_t req_len, req_off;
};

struct client {
    SSL *ssl;
    nghttp2_session *s;
    struct cstream st[16];
    int n;
};

static struct cstream *
find(struct client *c, int32_t id)
{
    for (int i = 0; i < c->n; i++)
        if (c->st[i].id == id)
            return &c->st[i];
    return NULL;
}

static int
c_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
            const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    struct cstream *st = find(ud, f->hd.stream_id);
    if (!st)
        return 0;
    if (nl == 7 && memcmp(name, ":status", 7) == 0)
        st->status = atoi((const char *)value);
    if (nl == 7 && memcmp(name, "x-reply", 7) == 0 && vl < sizeof(st->reply_hdr)) {
        memcpy(st->reply_hdr, value, vl);
        st->reply_hdr[vl] = 0;
    }
    if (nl == 10 && memcmp(name, "connection", 10) == 0)
        st->saw_connection = true;
    return 0;
}

static int
c_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
    struct cstream *st = find(ud, id);
    if (st)
        bsn_buf_append(&st->body, data, len);
    return 0;
}

static int
c_on_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud)
{
    struct cstream *st = find(ud, id);
    if (st) {
        st->closed = true;
        st->error = err;
    }
    return 0;
}

static ssize_t
c_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
            nghttp2_data_source *src, void *ud)
{
    struct cstream *st = src->ptr;
    size_t n = BSN_MIN(len, st->req_len - st->req_off);
    memcpy(buf, st->req_body + st->req_off, n);
    st->req_off += n;
    if (st->req_off == st->req_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static struct cstream *
submit(struct client *c, const char *method, const char *path, const char *body, size_t blen)
{
    struct cstream *st = &c->st[c->n++];
    memset(st, 0, sizeof(*st));
    bsn_buf_init(&st->body);
    st->req_body = body;
    st->req_len = blen;
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
        {(uint8_t *)":authority", (uint8_t *)"localhost", 10, 9, 0},
        {(uint8_t *)"x-test", (uint8_t *)"t1", 6, 2, 0},
    };
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = c_read_body};
    st->id = nghttp2_submit_request(c->s, NULL, nv, BSN_ARRAY_LEN(nv), body ? &prd : NULL, NULL);
    assert_true(st->id > 0);
    return st;
}

static void
ssl_write_all(SSL *ssl, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(ssl, p, (int)n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Pumps frames until every stream in [from, c->n) is closed (or the deadline passes). */
static void
pump(struct client *c, int from, int stop_after_bytes, struct cstream *watch)
{
    uint64_t end = bsn_mono_ms() + 20000;
    for (;;) {
        const uint8_t *data;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(c->s, &data)) > 0)
            ssl_write_all(c->ssl, data, (size_t)n);
        bool all = true;
        for (int i = from; i < c->n; i++)
            all = all && c->st[i].closed;
        if (all)
            return;
        if (watch && watch->body.len >= (size_t)stop_after_bytes)
            return;
        assert_true(bsn_mono_ms() < end);
        char buf[16384];
        int r = SSL_read(c->ssl, buf, sizeof(buf));
        assert_true(r > 0);
        assert_true(nghttp2_session_mem_recv(c->s, (const uint8_t *)buf, (size_t)r) >= 0);
    }
}

/* Connects and starts a client session; huge_window: 32 MiB windows, as curl uses. */
static int
client_open(struct client *c, SSL_CTX *cctx, int port, bool huge_window)
{
    memset(c, 0, sizeof(*c));
    int fd = tcp_connect(port);
    c->ssl = bsn_tls_client_ssl(cctx, fd, "localhost");
    assert_int_equal(SSL_connect(c->ssl), 1);
    const unsigned char *sel;
    unsigned sl;
    SSL_get0_alpn_selected(c->ssl, &sel, &sl);
    assert_int_equal(sl, 2);
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, c_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, c_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, c_on_close);
    nghttp2_session_client_new(&c->s, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 32u << 20}};
    nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, huge_window ? 1 : 0);
    if (huge_window)
        nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, 32 << 20);
    return fd;
}

static void
client_close(struct client *c, int fd)
{
    for (int i = 0; i < c->n; i++)
        bsn_buf_fini(&c->st[i].body);
    nghttp2_session_del(c->s);
    SSL_free(c->ssl);
    close(fd);
}

static void
test_h2_streams(void **state)
{
    big_body = bsn_malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        big_body[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/bsn-h2-%d", (int)getpid());
    const char *dns[] = {"localhost", NULL};
    const char *ips[] = {"127.0.0.1", NULL};
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_tls_ensure_pki(dir, dns, ips, &err), 0);
    char crt[128], key[128], ca[128];
    snprintf(crt, sizeof(crt), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    const char *alpn[] = {"h2", "http/1.1", NULL};
    SSL_CTX *sctx = bsn_tls_server_ctx(crt, key, alpn, &err);
    assert_non_null(sctx);

    struct harness h;
    struct bsn_loop *loop = bsn_loop_new();
    struct bsn_http_server_opts o = {
        .listen = "127.0.0.1:0", .tls = sctx, .handler = handler, .max_body = 100000};
    o.data = loop;
    h.loop = loop;
    h.srv = bsn_http_server_new(loop, &o, &err);
    assert_non_null(h.srv);
    h.port = bsn_http_server_port(h.srv);
    pthread_create(&h.thread, NULL, harness_main, &h);
    SSL_CTX_free(sctx);

    SSL_CTX *cctx = bsn_tls_client_ctx(ca, false, NULL, NULL, &err);
    SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)"\x02h2", 3);
    struct client c;
    int fd = client_open(&c, cctx, h.port, false);

    /* Four concurrent streams on one connection. */
    static char big[200000];
    memset(big, 'z', sizeof(big));
    struct cstream *a = submit(&c, "GET", "/a?x=1", NULL, 0);
    struct cstream *b = submit(&c, "POST", "/b", "hello h2", 8);
    struct cstream *s = submit(&c, "GET", "/stream", NULL, 0);
    struct cstream *t = submit(&c, "POST", "/too-big", big, sizeof(big));
    struct cstream *hd = submit(&c, "HEAD", "/h", NULL, 0);
    pump(&c, 0, 0, NULL);
    assert_int_equal(a->status, 200);
    bsn_buf_putc(&a->body, 0);
    assert_string_equal(a->body.data, "GET /a ?x=1 body= x-test=t1 host=localhost");
    assert_string_equal(a->reply_hdr, "Yes");
    assert_false(a->saw_connection);
    assert_int_equal(b->status, 200);
    bsn_buf_putc(&b->body, 0);
    assert_string_equal(b->body.data, "POST /b ? body=hello h2 x-test=t1 host=localhost");
    assert_int_equal(s->status, 200);
    assert_int_equal(s->body.len, 16);
    assert_memory_equal(s->body.data, "{\"a\":1}\n{\"b\":2}\n", 16);
    assert_int_equal(t->status, 413);
    assert_int_equal(hd->status, 200);
    assert_int_equal(hd->body.len, 0);

    /* An endless stream reset by the client: the server sees on_close. */
    struct cstream *inf = submit(&c, "GET", "/infinite", NULL, 0);
    int from = c.n - 1;
    pump(&c, from, 15, inf);
    assert_true(inf->body.len >= 15);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 0);
    nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, inf->id, NGHTTP2_CANCEL);
    const uint8_t *data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(c.s, &data)) > 0)
        ssl_write_all(c.ssl, data, (size_t)n);
    uint64_t end = bsn_mono_ms() + 3000;
    while (__atomic_load_n(&closes, __ATOMIC_SEQ_CST) == 0 && bsn_mono_ms() < end)
        usleep(10000);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);

    /* The connection still serves new streams afterwards. */
    struct cstream *again = submit(&c, "GET", "/again", NULL, 0);
    from = c.n - 1;
    pump(&c, from, 0, NULL);
    assert_int_equal(again->status, 200);

    /* Multi-megabyte responses through the default 64 KiB windows (the client's
     * WINDOW_UPDATEs must resume the data providers): a complete body and a stream whose
     * body arrives over time, concurrently. */
    struct cstream *big1 = submit(&c, "GET", "/big", NULL, 0);
    struct cstream *big2 = submit(&c, "GET", "/bigstream", NULL, 0);
    from = c.n - 2;
    pump(&c, from, 0, NULL);
    assert_int_equal(big1->status, 200);
    assert_int_equal(big1->error, 0);
    assert_int_equal(big1->body.len, BIG_LEN);
    assert_memory_equal(big1->body.data, big_body, BIG_LEN);
    assert_int_equal(big2->status, 200);
    assert_int_equal(big2->error, 0);
    assert_int_equal(big2->body.len, BIG_LEN);
    assert_memory_equal(big2->body.data, big_body, BIG_LEN);

    /* The same with curl's 32 MiB windows: flow control never blocks, so only the server's
     * own output pacing decides when more frames are pulled (this used to stall at 2 MiB). */
    struct client c2;
    int fd2 = client_open(&c2, cctx, h.port, true);
    big1 = submit(&c2, "GET", "/big", NULL, 0);
    pump(&c2, 0, 0, NULL);
    big2 = submit(&c2, "GET", "/bigstream", NULL, 0);
    pump(&c2, 1, 0, NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c2.st[i].status, 200);
        assert_int_equal(c2.st[i].error, 0);
        assert_int_equal(c2.st[i].body.len, BIG_LEN);
        assert_memory_equal(c2.st[i].body.data, big_body, BIG_LEN);
    }
    client_close(&c2, fd2);

    client_close(&c, fd);
    SSL_CTX_free(cctx);
    harness_stop(&h);
    char p[128];
    const char *files[] = {"ca.crt", "ca.key", "server.crt", "server.key"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(files); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    free(big_body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
