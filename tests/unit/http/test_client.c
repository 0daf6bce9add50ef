/*
 * test_client.c - the blocking fetch and the async client (src/http/client.h) against the real
 * server, plus TLS: PKI generation (tls.h), verified handshakes, wrong-CA rejection, ALPN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include "harness.h"
#include <netdb.h>
#include <netinet/in.h>

#include "http/addr_int.h"
#include "http/client.h"
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
        bsn_timer_start(loop, &inf_timer, 10, inf_tick, NULL);
}

static void
handler(struct bsn_http_req *req, void *data)
{
    struct bsn_loop *loop = data;
    if (strcmp(req->path, "/lines") == 0) {
        bsn_http_stream_start(req, 200, "application/json");
        bsn_http_stream_write(req, "li", 2);
        bsn_http_stream_write(req, "ne1\nline2\n", 10);
        bsn_http_stream_write(req, "line3\n", 6);
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
    if (strcmp(req->path, "/big") == 0) {
        size_t n = 5u << 20;
        char *big = bsn_malloc(n);
        for (size_t i = 0; i < n; i++)
            big[i] = (char)('a' + i % 26);
        bsn_http_respond(req, 200, "application/octet-stream", big, n);
        free(big);
        return;
    }
    if (strcmp(req->path, "/hang") == 0)
        return; /* freed by bsn_http_server_free at the end */
    struct bsn_buf b;
    bsn_buf_init(&b);
    const char *auth = bsn_http_req_header(req, "authorization");
    bsn_buf_printf(&b, "%s %s?%s tls=%d auth=%s body=%.*s remote=%s", req->method, req->path,
                   req->query, req->tls, auth ? auth : "-", (int)req->body_len, req->body,
                   req->remote_addr);
    char cn[64], orgs[128];
    if (bsn_http_req_client_cert(req, cn, sizeof(cn), orgs, sizeof(orgs)) == 0)
        bsn_buf_printf(&b, " cn=%s o=%s", cn, orgs);
    bsn_http_req_add_header(req, "X-Reply", "1");
    bsn_http_respond(req, strcmp(req->path, "/missing") == 0 ? 404 : 200, "text/plain", b.data,
                     b.len);
    bsn_buf_fini(&b);
}

static struct harness H;

static void
start(struct bsn_http_server_opts *o)
{
    __atomic_store_n(&closes, 0, __ATOMIC_SEQ_CST);
    H.loop = bsn_loop_new();
    o->handler = handler;
    o->data = H.loop;
    if (!o->listen)
        o->listen = "127.0.0.1:0";
    struct bsn_err err;
    bsn_err_clear(&err);
    H.srv = bsn_http_server_new(H.loop, o, &err);
    if (!H.srv)
        fail_msg("server: %s", err.msg);
    H.port = bsn_http_server_port(H.srv);
    pthread_create(&H.thread, NULL, harness_main, &H);
}

static void
test_fetch_plain_and_unix(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo?a=b", H.port);
    const char *hdrs[] = {"X-One: 1", "Bad: x\r\nInjected: y", NULL};
    struct bsn_http_fetch_opts fo = {.url = url,
                                     .method = "PUT",
                                     .headers = hdrs,
                                     .body = "{\"x\":1}",
                                     .body_len = 7,
                                     .content_type = "application/json",
                                     .bearer_token = "tok123"};
    struct bsn_http_fetch_result res;
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_http_fetch(&fo, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "PUT /echo?a=b tls=0 auth=Bearer tok123 body={\"x\":1}"));
    assert_string_equal(bsn_http_fetch_header(&res, "x-reply"), "1");
    assert_string_equal(bsn_http_fetch_header(&res, "content-type"), "text/plain");
    assert_null(bsn_http_fetch_header(&res, "injected"));
    bsn_http_fetch_result_fini(&res);

    /* 404 is a result, not an error. */
    snprintf(url, sizeof(url), "http://localhost:%d/missing", H.port);
    struct bsn_http_fetch_opts f2 = {.url = url};
    assert_int_equal(bsn_http_fetch(&f2, &res, &err), 0);
    assert_int_equal(res.status, 404);
    bsn_http_fetch_result_fini(&res);

    /* Timeout. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", H.port);
    struct bsn_http_fetch_opts f3 = {.url = url, .timeout_ms = 300};
    uint64_t t0 = bsn_mono_ms();
    assert_int_equal(bsn_http_fetch(&f3, &res, &err), -1);
    assert_int_equal(err.code, 504);
    assert_true(bsn_mono_ms() - t0 >= 250);

    /* Connection refused. */
    struct bsn_http_fetch_opts f4 = {.url = "http://127.0.0.1:1/"};
    assert_int_equal(bsn_http_fetch(&f4, &res, &err), -1);
    assert_int_equal(err.code, 502);
    struct bsn_http_fetch_opts f5 = {.url = "ftp://x/"};
    assert_int_equal(bsn_http_fetch(&f5, &res, &err), -1);
    assert_int_equal(err.code, 400);
    harness_stop(&H);

    /* IPv6 loopback. */
    struct bsn_http_server_opts o6 = {.listen = "[::1]:0"};
    start(&o6);
    snprintf(url, sizeof(url), "http://[::1]:%d/v6", H.port);
    struct bsn_http_fetch_opts f7 = {.url = url};
    assert_int_equal(bsn_http_fetch(&f7, &res, &err), 0);
    assert_non_null(strstr(res.body, "remote=[::1]:"));
    bsn_http_fetch_result_fini(&res);
    harness_stop(&H);

    /* Unix socket. */
    char path[80], uurl[128];
    snprintf(path, sizeof(path), "unix:/tmp/bsn-http-client-%d.sock", (int)getpid());
    struct bsn_http_server_opts uo = {.listen = path};
    start(&uo);
    snprintf(uurl, sizeof(uurl), "%s:/over/unix?z=1", path);
    struct bsn_http_fetch_opts f6 = {.url = uurl};
    assert_int_equal(bsn_http_fetch(&f6, &res, &err), 0);
    assert_non_null(strstr(res.body, "GET /over/unix?z=1 "));
    assert_non_null(strstr(res.body, "remote=unix"));
    bsn_http_fetch_result_fini(&res);
    harness_stop(&H);
}

/* ---- TLS ---- */

static char pki[64], pki2[64];
static SSL_CTX *sni_ctx;
static char sni_seen[64];

static SSL_CTX *
pick_sni(const char *name, void *data)
{
    snprintf(sni_seen, sizeof(sni_seen), "%s", name ? name : "");
    if (name && strcmp(name, "other.example") == 0)
        return sni_ctx;
    return NULL;
}

static void
rm_pki(const char *dir)
{
    const char *files[] = {"ca.crt",     "ca.key",    "server.crt",
                           "server.key", "admin.crt", "admin.key"};
    char p[128];
    for (size_t i = 0; i < BSN_ARRAY_LEN(files); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = bsn_calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void
test_tls_pki_and_fetch(void **state)
{
    snprintf(pki, sizeof(pki), "/tmp/bsn-pki-%d", (int)getpid());
    snprintf(pki2, sizeof(pki2), "/tmp/bsn-pki2-%d", (int)getpid());
    const char *dns[] = {"localhost", "kubernetes", "kubernetes.default.svc",
                         "kubernetes.default.svc.cluster.local", NULL};
    const char *ips[] = {"127.0.0.1", "10.43.0.1", NULL};
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_tls_ensure_pki(pki, dns, ips, &err), 0);
    char p[128];
    snprintf(p, sizeof(p), "%s/ca.key", pki);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s/server.key", pki);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Second call leaves everything alone. */
    snprintf(p, sizeof(p), "%s/ca.crt", pki);
    char *ca1 = slurp(p);
    assert_int_equal(bsn_tls_ensure_pki(pki, dns, ips, &err), 0);
    char *ca2 = slurp(p);
    assert_string_equal(ca1, ca2);
    free(ca1);
    free(ca2);
    /* An unrelated CA for the negative test. */
    assert_int_equal(bsn_tls_ensure_pki(pki2, dns, ips, &err), 0);

    char crt[128], key[128], ca[128], ca_other[128];
    snprintf(crt, sizeof(crt), "%s/server.crt", pki);
    snprintf(key, sizeof(key), "%s/server.key", pki);
    snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
    snprintf(ca_other, sizeof(ca_other), "%s/ca.crt", pki2);
    const char *alpn[] = {"http/1.1", NULL};
    SSL_CTX *ctx = bsn_tls_server_ctx(crt, key, alpn, &err);
    assert_non_null(ctx);
    bsn_tls_server_set_sni(ctx, pick_sni, NULL);
    assert_int_equal(bsn_tls_server_verify_clients(ctx, ca, &err), 0);
    struct bsn_http_server_opts o = {.tls = ctx, .listen = "0.0.0.0:0"};
    start(&o);
    SSL_CTX_free(ctx); /* the server holds its own reference */

    char url[128];
    struct bsn_http_fetch_result res;
    const char *hosts[] = {"localhost", "127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        snprintf(url, sizeof(url), "https://%s:%d/secure", hosts[i], H.port);
        struct bsn_http_fetch_opts fo = {.url = url, .tls.ca_file = ca};
        if (bsn_http_fetch(&fo, &res, &err) != 0)
            fail_msg("fetch %s: %s", url, err.msg);
        assert_int_equal(res.status, 200);
        assert_non_null(strstr(res.body, "GET /secure? tls=1"));
        bsn_http_fetch_result_fini(&res);
    }
    /* Wrong CA: verification fails. */
    snprintf(url, sizeof(url), "https://localhost:%d/secure", H.port);
    struct bsn_http_fetch_opts bad = {.url = url, .tls.ca_file = ca_other};
    assert_int_equal(bsn_http_fetch(&bad, &res, &err), -1);
    assert_int_equal(err.code, 502);
    assert_non_null(strstr(err.msg, "certificate"));
    /* Name not in the SANs. */
    snprintf(url, sizeof(url), "https://127.0.0.2:%d/secure", H.port);
    struct bsn_http_fetch_opts badname = {.url = url, .tls.ca_file = ca};
    assert_int_equal(bsn_http_fetch(&badname, &res, &err), -1);
    /* Insecure skips verification. */
    struct bsn_http_fetch_opts ins = {.url = url, .tls.insecure = true};
    assert_int_equal(bsn_http_fetch(&ins, &res, &err), 0);
    bsn_http_fetch_result_fini(&res);

    /* ALPN: a client offering h2 and http/1.1 gets http/1.1. */
    SSL_CTX *cctx = bsn_tls_client_ctx(ca, false, NULL, NULL, &err);
    static const unsigned char protos[] = "\x02h2\x08http/1.1";
    SSL_CTX_set_alpn_protos(cctx, protos, sizeof(protos) - 1);
    int fd = tcp_connect(H.port);
    SSL *ssl = bsn_tls_client_ssl(cctx, fd, "localhost");
    assert_int_equal(SSL_connect(ssl), 1);
    const unsigned char *sel = NULL;
    unsigned sl = 0;
    SSL_get0_alpn_selected(ssl, &sel, &sl);
    assert_int_equal(sl, 8);
    assert_memory_equal(sel, "http/1.1", 8);
    /* A request over this blocking SSL connection works too. */
    const char *req = "GET /raw HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(SSL_write(ssl, req, (int)strlen(req)), (int)strlen(req));
    char buf[1024];
    int n = SSL_read(ssl, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = 0;
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(cctx);

    /* SNI: a second certificate chosen by name through the hook. */
    char crt2[128], key2[128];
    snprintf(crt2, sizeof(crt2), "%s/other.crt", pki);
    snprintf(key2, sizeof(key2), "%s/other.key", pki);
    const char *other_dns[] = {"other.example", NULL};
    char cakey0[128];
    snprintf(cakey0, sizeof(cakey0), "%s/ca.key", pki);
    assert_int_equal(
        bsn_tls_issue(ca, cakey0, "other", NULL, false, other_dns, NULL, crt2, key2, &err), 0);
    sni_ctx = bsn_tls_server_ctx(crt2, key2, alpn, &err);
    assert_non_null(sni_ctx);
    cctx = bsn_tls_client_ctx(ca, false, NULL, NULL, &err);
    fd = tcp_connect(H.port);
    ssl = bsn_tls_client_ssl(cctx, fd, "other.example");
    assert_int_equal(SSL_connect(ssl), 1); /* verifies other.example against the CA */
    assert_string_equal(sni_seen, "other.example");
    SSL_free(ssl);
    close(fd);
    fd = tcp_connect(H.port);
    ssl = bsn_tls_client_ssl(cctx, fd, "other.example");
    SSL_set_tlsext_host_name(ssl, "localhost"); /* default cert: other.example must not verify */
    assert_int_not_equal(SSL_connect(ssl), 1);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(cctx);

    /* Client certificate issued by the CA. */
    char acrt[128], akey[128], cakey[128];
    snprintf(acrt, sizeof(acrt), "%s/admin.crt", pki);
    snprintf(akey, sizeof(akey), "%s/admin.key", pki);
    snprintf(cakey, sizeof(cakey), "%s/ca.key", pki);
    assert_int_equal(
        bsn_tls_issue(ca, cakey, "admin", "system:masters", true, NULL, NULL, acrt, akey, &err), 0);
    struct bsn_http_fetch_opts withcert = {
        .url = url, .tls = {.insecure = true, .client_cert = acrt, .client_key = akey}};
    if (bsn_http_fetch(&withcert, &res, &err) != 0)
        fail_msg("client cert fetch: %s", err.msg);
    assert_non_null(strstr(res.body, " cn=admin o=system:masters"));
    bsn_http_fetch_result_fini(&res);
    /* Without a certificate there is no identity. */
    struct bsn_http_fetch_opts nocert = {.url = url, .tls.insecure = true};
    assert_int_equal(bsn_http_fetch(&nocert, &res, &err), 0);
    assert_null(strstr(res.body, " cn="));
    bsn_http_fetch_result_fini(&res);
    harness_stop(&H);
    SSL_CTX_free(sni_ctx);
    sni_ctx = NULL;
}

/* ---- async client ---- */

struct actx {
    int done;
    int status;
    char body[512];
    char remotes[8][64];
    int n;
    struct bsn_http_client *cl;
    char lines[8][32];
    int nlines;
    int stop_after;
    bool got_head;
};

static void
seq_done(const struct bsn_http_client_resp *r, void *data)
{
    struct actx *a = data;
    assert_int_equal(r->status, 200);
    const char *rem = strstr(r->body, "remote=");
    assert_non_null(rem);
    snprintf(a->remotes[a->n], sizeof(a->remotes[0]), "%s", rem);
    a->n++;
    if (a->n < 5) {
        struct bsn_http_call_opts co = {.path = "/seq", .on_done = seq_done, .data = a};
        bsn_http_client_request(a->cl, &co);
    } else {
        a->done = 1;
    }
}

static void
run_until(struct bsn_loop *loop, int *flag, int ms)
{
    uint64_t end = bsn_mono_ms() + (uint64_t)ms;
    while (!*flag && bsn_mono_ms() < end)
        bsn_loop_run_once(loop, 50);
}

static int
line_cb(const struct bsn_http_client_resp *r, const char *data, size_t len, void *cbdata)
{
    struct actx *a = cbdata;
    if (!data) {
        a->got_head = true;
        a->status = r->status;
        return 0;
    }
    assert_true(a->nlines < 8);
    assert_true(len < sizeof(a->lines[0]));
    memcpy(a->lines[a->nlines], data, len);
    a->lines[a->nlines][len] = 0;
    a->nlines++;
    if (a->stop_after && a->nlines >= a->stop_after) {
        a->done = 1;
        return -1;
    }
    return 0;
}

static void
lines_done(const struct bsn_http_client_resp *r, void *data)
{
    struct actx *a = data;
    assert_null(r->err);
    a->done = 1;
}

static void
test_async_client(void **state)
{
    struct bsn_http_server_opts o = {0};
    start(&o);
    struct bsn_loop *loop = bsn_loop_new();
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", H.port);
    struct bsn_http_client_opts co = {.base_url = base};
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_http_client *cl = bsn_http_client_new(loop, &co, &err);
    assert_non_null(cl);

    /* Five sequential calls reuse one kept-alive connection. */
    struct actx a = {.cl = cl};
    struct bsn_http_call_opts c1 = {.path = "/seq", .on_done = seq_done, .data = &a};
    bsn_http_client_request(cl, &c1);
    run_until(loop, &a.done, 5000);
    assert_int_equal(a.n, 5);
    for (int i = 1; i < 5; i++)
        assert_string_equal(a.remotes[i], a.remotes[0]);

    /* Stream mode with line splitting across chunk boundaries. */
    struct actx b = {0};
    struct bsn_http_call_opts c2 = {.path = "/lines",
                                    .on_chunk = line_cb,
                                    .split_lines = true,
                                    .on_done = lines_done,
                                    .data = &b};
    bsn_http_client_request(cl, &c2);
    run_until(loop, &b.done, 5000);
    assert_true(b.got_head);
    assert_int_equal(b.status, 200);
    assert_int_equal(b.nlines, 3);
    assert_string_equal(b.lines[0], "line1\n");
    assert_string_equal(b.lines[1], "line2\n");
    assert_string_equal(b.lines[2], "line3\n");

    /* Stopping an endless stream closes the connection; the server sees on_close. */
    struct actx c = {.stop_after = 3};
    struct bsn_http_call_opts c3 = {.path = "/infinite",
                                    .on_chunk = line_cb,
                                    .split_lines = true,
                                    .on_done = lines_done,
                                    .data = &c};
    bsn_http_client_request(cl, &c3);
    run_until(loop, &c.done, 5000);
    assert_int_equal(c.nlines, 3);
    assert_string_equal(c.lines[2], "tick\n");
    uint64_t end = bsn_mono_ms() + 3000;
    while (__atomic_load_n(&closes, __ATOMIC_SEQ_CST) == 0 && bsn_mono_ms() < end)
        usleep(10000);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);

    bsn_http_client_free(cl);
    bsn_loop_run_once(loop, 0);
    bsn_loop_free(loop);
    harness_stop(&H);
}

static void
async_err_done(const struct bsn_http_client_resp *r, void *data)
{
    struct actx *a = data;
    a->status = r->status;
    if (r->err)
        snprintf(a->body, sizeof(a->body), "%d %s", r->err->code, r->err->msg);
    a->done = 1;
}

static void
test_async_errors_and_tls(void **state)
{
    struct bsn_loop *loop = bsn_loop_new();
    struct bsn_err err;
    bsn_err_clear(&err);
    /* Refused connection -> on_done with status 0 and a 502 error. */
    struct bsn_http_client_opts co = {.base_url = "http://127.0.0.1:1"};
    struct bsn_http_client *cl = bsn_http_client_new(loop, &co, &err);
    struct actx a = {0};
    struct bsn_http_call_opts c1 = {.path = "/", .on_done = async_err_done, .data = &a};
    bsn_http_client_request(cl, &c1);
    run_until(loop, &a.done, 5000);
    assert_int_equal(a.status, 0);
    assert_true(strncmp(a.body, "502 ", 4) == 0);
    bsn_http_client_free(cl);

    /* TLS with the PKI from the previous test, plus a timeout on /hang. */
    char crt[128], key[128], ca[128];
    snprintf(crt, sizeof(crt), "%s/server.crt", pki);
    snprintf(key, sizeof(key), "%s/server.key", pki);
    snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
    SSL_CTX *ctx = bsn_tls_server_ctx(crt, key, NULL, &err);
    assert_non_null(ctx);
    struct bsn_http_server_opts o = {.tls = ctx};
    start(&o);
    SSL_CTX_free(ctx);
    char base[64];
    snprintf(base, sizeof(base), "https://localhost:%d", H.port);
    struct bsn_http_client_opts to = {.base_url = base, .tls.ca_file = ca, .bearer_token = "T"};
    cl = bsn_http_client_new(loop, &to, &err);
    assert_non_null(cl);
    struct actx b = {0};
    struct bsn_http_call_opts c2 = {.method = "POST",
                                    .path = "/x",
                                    .body = "hi",
                                    .body_len = 2,
                                    .on_done = async_err_done,
                                    .data = &b};
    bsn_http_client_request(cl, &c2);
    run_until(loop, &b.done, 5000);
    assert_int_equal(b.status, 200);
    struct actx c = {0};
    struct bsn_http_call_opts c3 = {
        .path = "/hang", .timeout_ms = 200, .on_done = async_err_done, .data = &c};
    bsn_http_client_request(cl, &c3);
    run_until(loop, &c.done, 5000);
    assert_int_equal(c.status, 0);
    assert_true(strncmp(c.body, "504 ", 4) == 0);
    /* A 5 MiB body over TLS (partial SSL writes on the server, many reads here). */
    struct actx e = {0};
    struct bsn_http_fetch_result res;
    char url[96];
    snprintf(url, sizeof(url), "%s/big", base);
    struct bsn_http_fetch_opts fo = {.url = url, .tls.ca_file = ca};
    assert_int_equal(bsn_http_fetch(&fo, &res, &err), 0);
    assert_int_equal(res.body_len, 5u << 20);
    bool pattern = true;
    for (size_t i = 0; i < res.body_len; i += 4099)
        pattern = pattern && res.body[i] == (char)('a' + i % 26);
    assert_true(pattern);
    bsn_http_fetch_result_fini(&res);
    /* Stream over TLS, stopped by the consumer: the server notices the disconnect. */
    e.stop_after = 2;
    struct bsn_http_call_opts c5 = {.path = "/infinite",
                                    .on_chunk = line_cb,
                                    .split_lines = true,
                                    .on_done = lines_done,
                                    .data = &e};
    bsn_http_client_request(cl, &c5);
    run_until(loop, &e.done, 5000);
    assert_int_equal(e.nlines, 2);
    uint64_t until = bsn_mono_ms() + 3000;
    while (__atomic_load_n(&closes, __ATOMIC_SEQ_CST) == 0 && bsn_mono_ms() < until)
        usleep(10000);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);

    /* A cancelled call never calls back. */
    struct actx d = {0};
    struct bsn_http_call_opts c4 = {.path = "/x", .on_done = async_err_done, .data = &d};
    bsn_http_call_cancel(bsn_http_client_request(cl, &c4));
    for (int i = 0; i < 10; i++)
        bsn_loop_run_once(loop, 10);
    assert_int_equal(d.done, 0);
    bsn_http_client_free(cl);
    bsn_loop_run_once(loop, 0);
    bsn_loop_free(loop);
    harness_stop(&H);
    rm_pki(pki);
    rm_pki(pki2);
}

/* A peer's name resolves to its IPv4 address when it has one ("localhost" is ::1 first on
 * hosts whose /etc/hosts lists it, and services listen on 0.0.0.0); numeric addresses and
 * listeners are taken as they are. */
static void
test_resolve_prefers_ipv4(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t sl;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    bool has_v4 = false;
    int first = AF_UNSPEC;
    if (getaddrinfo("localhost", "80", &hints, &res) == 0) {
        first = res->ai_family;
        for (struct addrinfo *a = res; a; a = a->ai_next)
            has_v4 |= a->ai_family == AF_INET;
        freeaddrinfo(res);
    }
    assert_int_equal(bsn_http_resolve("localhost", "80", false, &ss, &sl), 0);
    assert_int_equal(ss.ss_family, has_v4 ? AF_INET : first);
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&ss;
        assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7f000001u);
        assert_int_equal(ntohs(in->sin_port), 80);
    }
    assert_int_equal(bsn_http_resolve("::1", "81", false, &ss, &sl), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(bsn_http_resolve("127.0.0.2", "82", false, &ss, &sl), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(bsn_http_resolve("", "83", true, &ss, &sl), 0);
    assert_int_equal(bsn_http_resolve("no-such-host.invalid", "84", false, &ss, &sl), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_plain_and_unix), cmocka_unit_test(test_resolve_prefers_ipv4),
        cmocka_unit_test(test_tls_pki_and_fetch),    cmocka_unit_test(test_async_client),
        cmocka_unit_test(test_async_errors_and_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
