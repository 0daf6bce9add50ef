/*
 * fetch.c - URL parsing, request building, the incremental response reader, and the blocking
 * bsn_http_fetch() (see client.h and client_int.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/time.h"
#include "http/addr_int.h"
#include "http/client_int.h"
#include "http/io_int.h"
#include "http/tls.h"

#define DEFAULT_MAX_BODY (64u << 20)

int
bsn_url_parse(const char *url, struct bsn_url *u)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(url, "unix:", 5) == 0) {
        const char *sp = url + 5;
        const char *colon = strchr(sp, ':');
        size_t sl = colon ? (size_t)(colon - sp) : strlen(sp);
        if (sl == 0 || sl >= sizeof(u->sock))
            return -1;
        memcpy(u->sock, sp, sl);
        u->unix_sock = true;
        u->path = colon && colon[1] ? colon + 1 : "/";
        if (*u->path != '/')
            return -1;
        strcpy(u->host_header, "localhost");
        return 0;
    }
    const char *rest;
    if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        rest = url + 8;
        u->tls = true;
    } else {
        return -1;
    }
    const char *slash = strchr(rest, '/');
    const char *q = strchr(rest, '?');
    const char *end = slash ? slash : (q ? q : rest + strlen(rest));
    if (q && q < end)
        end = q;
    size_t al = (size_t)(end - rest);
    if (al == 0 || al >= sizeof(u->host_header))
        return -1;
    memcpy(u->host_header, rest, al);
    u->host_header[al] = 0;
    char hp[300];
    bool has_port;
    if (u->host_header[0] == '[')
        has_port = strstr(u->host_header, "]:") != NULL;
    else
        has_port = strchr(u->host_header, ':') != NULL;
    snprintf(hp, sizeof(hp), "%s%s", u->host_header, has_port ? "" : (u->tls ? ":443" : ":80"));
    if (bsn_http_split_hostport(hp, u->host, sizeof(u->host), u->port, sizeof(u->port)) < 0)
        return -1;
    u->path = *end ? end : "/";
    if (*u->path == '?') /* "http://h?x" -> "/?x" is not representable as a view; reject */
        return -1;
    return 0;
}

int
bsn_url_connect(const struct bsn_url *u)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (u->unix_sock) {
        if (bsn_http_unix_addr(u->sock, &ss, &sl) < 0)
            return -1;
    } else if (bsn_http_resolve(u->host, u->port, false, &ss, &sl) < 0) {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (!u->unix_sock) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

void
bsn_http_build_request(struct bsn_buf *out, const char *method, const char *path,
                       const char *host_header, const char *const *headers,
                       const char *content_type, const char *bearer, const void *body,
                       size_t body_len, bool keep_alive)
{
    bsn_buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host_header);
    bool has_ua = false, has_accept = false;
    for (size_t i = 0; headers && headers[i]; i++) {
        /* Drop anything that could inject header lines. */
        if (strpbrk(headers[i], "\r\n"))
            continue;
        if (strncasecmp(headers[i], "user-agent:", 11) == 0)
            has_ua = true;
        if (strncasecmp(headers[i], "accept:", 7) == 0)
            has_accept = true;
        bsn_buf_printf(out, "%s\r\n", headers[i]);
    }
    if (!has_ua)
        bsn_buf_puts(out, "User-Agent: bosun/" BSN_VERSION "\r\n");
    if (!has_accept)
        bsn_buf_puts(out, "Accept: application/json, */*\r\n");
    if (bearer && *bearer && !strpbrk(bearer, "\r\n"))
        bsn_buf_printf(out, "Authorization: Bearer %s\r\n", bearer);
    if (content_type && !strpbrk(content_type, "\r\n"))
        bsn_buf_printf(out, "Content-Type: %s\r\n", content_type);
    bool want_body = body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                     strcmp(method, "PATCH") == 0;
    if (want_body)
        bsn_buf_printf(out, "Content-Length: %zu\r\n", body_len);
    if (!keep_alive)
        bsn_buf_puts(out, "Connection: close\r\n");
    bsn_buf_puts(out, "\r\n");
    if (body_len)
        bsn_buf_append(out, body, body_len);
}

/* ---- response reader ---- */

void
bsn_rr_init(struct bsn_rreader *r, bool head_request, size_t max_body)
{
    memset(r, 0, sizeof(*r));
    r->st = RR_HEAD;
    r->head_request = head_request;
    r->max_body = max_body ? max_body : DEFAULT_MAX_BODY;
    bsn_buf_init(&r->in);
    bsn_buf_init(&r->body);
}

void
bsn_rr_fini(struct bsn_rreader *r)
{
    bsn_buf_fini(&r->in);
    bsn_buf_fini(&r->body);
    free(r->head);
    free(r->hdrs);
    r->head = NULL;
    r->hdrs = NULL;
}

static int
rr_emit(struct bsn_rreader *r, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (r->sink)
        return r->sink(r->sink_ctx, p, n) < 0 ? -3 : 0;
    if (r->body.len + n > r->max_body) {
        r->error = "response body too large";
        return -1;
    }
    bsn_buf_append(&r->body, p, n);
    return 0;
}

static int
rr_head(struct bsn_rreader *r)
{
    static __thread struct bsn_http_response_head h;
    for (;;) {
        int rc = bsn_http_parse_response(r->in.data, r->in.len, &h);
        if (rc == BSN_HTTP_INCOMPLETE) {
            if (r->in.len > BSN_HTTP_MAX_HEAD) {
                r->error = "response head too large";
                return -1;
            }
            return 0;
        }
        if (rc < 0) {
            r->error = "malformed response head";
            return -1;
        }
        if (h.status >= 100 && h.status < 200 && h.status != 101) {
            bsn_buf_consume(&r->in, (size_t)rc); /* interim response (100 Continue) */
            continue;
        }
        r->status = h.status;
        r->keep_alive = h.keep_alive;
        free(r->head);
        free(r->hdrs);
        r->head = bsn_malloc((size_t)rc + 1);
        memcpy(r->head, r->in.data, (size_t)rc);
        r->head[rc] = 0;
        r->nhdrs = h.nheaders;
        r->hdrs = bsn_calloc(h.nheaders ? h.nheaders : 1, sizeof(*r->hdrs));
        for (size_t i = 0; i < h.nheaders; i++) {
            struct bsn_str n = h.headers[i].name, v = h.headers[i].value;
            r->hdrs[i].name.base = r->head + (n.base - r->in.data);
            r->hdrs[i].name.len = n.len;
            r->hdrs[i].value.base = r->head + (v.base - r->in.data);
            r->hdrs[i].value.len = v.len;
        }
        for (size_t i = 0; i < h.nheaders; i++) {
            ((char *)r->hdrs[i].name.base)[r->hdrs[i].name.len] = 0;
            ((char *)r->hdrs[i].value.base)[r->hdrs[i].value.len] = 0;
        }
        bsn_buf_consume(&r->in, (size_t)rc);
        if (r->head_request || h.status == 204 || h.status == 304 || h.status == 101) {
            r->st = RR_DONE;
        } else if (h.chunked) {
            r->st = RR_CHUNKED;
            bsn_http_chunked_init(&r->ch);
        } else if (h.content_length >= 0) {
            r->need = (uint64_t)h.content_length;
            if (!r->sink && r->need > r->max_body) {
                r->error = "response body too large";
                return -1;
            }
            r->st = r->need ? RR_CL : RR_DONE;
        } else {
            r->st = RR_EOF;
            r->keep_alive = false;
        }
        if (r->sink && r->sink(r->sink_ctx, NULL, 0) < 0)
            return -3;
        return 1;
    }
}

int
bsn_rr_process(struct bsn_rreader *r)
{
    for (;;) {
        switch (r->st) {
        case RR_HEAD: {
            int rc = rr_head(r);
            if (rc <= 0 || rc == -3)
                return rc;
            continue;
        }
        case RR_CL: {
            size_t take = r->in.len < r->need ? r->in.len : (size_t)r->need;
            int rc = rr_emit(r, r->in.data, take);
            if (rc < 0)
                return rc;
            bsn_buf_consume(&r->in, take);
            r->need -= take;
            if (r->need == 0) {
                r->st = RR_DONE;
                continue;
            }
            return 0;
        }
        case RR_CHUNKED: {
            if (r->in.len == 0)
                return 0;
            size_t len = r->in.len;
            int rc = bsn_http_chunked_decode(&r->ch, r->in.data, &len);
            if (rc == BSN_HTTP_ERROR) {
                r->error = "malformed chunked body";
                return -1;
            }
            int er = rr_emit(r, r->in.data, len);
            if (er < 0)
                return er;
            if (rc == BSN_HTTP_INCOMPLETE) {
                r->in.len = 0;
                return 0;
            }
            memmove(r->in.data, r->in.data + len, (size_t)rc);
            r->in.len = (size_t)rc;
            r->st = RR_DONE;
            continue;
        }
        case RR_EOF: {
            int rc = rr_emit(r, r->in.data, r->in.len);
            r->in.len = 0;
            return rc < 0 ? rc : 0;
        }
        default:
            if (!r->sink) {
                bsn_buf_putc(&r->body, 0);
                r->body.len--;
            }
            return 1;
        }
    }
}

int
bsn_rr_eof(struct bsn_rreader *r)
{
    if (r->st == RR_EOF) {
        r->st = RR_DONE;
        return bsn_rr_process(r);
    }
    if (r->st == RR_DONE)
        return 1;
    r->error = r->st == RR_HEAD ? "connection closed before response" : "truncated body";
    return -1;
}

/* ---- blocking fetch ---- */

static int
wait_fd(int fd, unsigned want, uint64_t deadline)
{
    uint64_t now = bsn_mono_ms();
    if (now >= deadline)
        return -1;
    struct pollfd p = {.fd = fd, .events = (short)((want & BSN_EV_WRITE) ? POLLOUT : POLLIN)};
    int rc = poll(&p, 1, (int)(deadline - now));
    return rc > 0 ? 0 : -1;
}

int
bsn_http_fetch(const struct bsn_http_fetch_opts *o, struct bsn_http_fetch_result *res,
               struct bsn_err *err)
{
    memset(res, 0, sizeof(*res));
    bsn_io_ignore_sigpipe();
    struct bsn_url u;
    if (!o->url || bsn_url_parse(o->url, &u) < 0)
        return bsn_err_set(err, 400, "BadRequest", "invalid URL \"%s\"", o->url ? o->url : "");
    uint64_t deadline = bsn_mono_ms() + (uint64_t)(o->timeout_ms > 0 ? o->timeout_ms : 30000);
    const char *method = o->method ? o->method : (o->body ? "POST" : "GET");
    int fd = bsn_url_connect(&u);
    if (fd < 0)
        return bsn_err_set(err, 502, "ServiceUnavailable", "connect %s: %s", o->url,
                           strerror(errno));
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    struct bsn_buf out;
    bsn_buf_init(&out);
    struct bsn_rreader rr;
    bsn_rr_init(&rr, strcmp(method, "HEAD") == 0, o->max_body);
    int ret = -1;

    if (wait_fd(fd, BSN_EV_WRITE, deadline) < 0) {
        bsn_err_set(err, 504, "Timeout", "connect %s: timed out", o->url);
        goto out;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        bsn_err_set(err, 502, "ServiceUnavailable", "connect %s: %s", o->url, strerror(soerr));
        goto out;
    }
    if (u.tls) {
        ctx = bsn_tls_client_ctx(o->tls.ca_file, o->tls.insecure, o->tls.client_cert,
                                 o->tls.client_key, err);
        if (!ctx)
            goto out;
        ssl = bsn_tls_client_ssl(ctx, fd, u.host);
        for (;;) {
            unsigned want = 0;
            int rc = bsn_io_handshake(ssl, &want);
            if (rc == 0)
                break;
            if (rc == BSN_IO_ERR) {
                long vr = SSL_get_verify_result(ssl);
                bsn_err_set(err, 502, "ServiceUnavailable", "TLS handshake with %s failed%s%s",
                            o->url, vr != X509_V_OK ? ": " : "",
                            vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
                goto out;
            }
            if (wait_fd(fd, want, deadline) < 0) {
                bsn_err_set(err, 504, "Timeout", "TLS handshake with %s: timed out", o->url);
                goto out;
            }
        }
    }
    bsn_http_build_request(&out, method, u.path, u.host_header, o->headers, o->content_type,
                           o->bearer_token, o->body, o->body_len, false);
    size_t off = 0;
    while (off < out.len) {
        unsigned want = 0;
        ssize_t n = bsn_io_write(fd, ssl, out.data + off, out.len - off, &want);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n == BSN_IO_ERR) {
            bsn_err_set(err, 502, "ServiceUnavailable", "send to %s: %s", o->url, strerror(errno));
            goto out;
        }
        if (wait_fd(fd, want, deadline) < 0) {
            bsn_err_set(err, 504, "Timeout", "send to %s: timed out", o->url);
            goto out;
        }
    }
    for (;;) {
        int rc = bsn_rr_process(&rr);
        if (rc == 1)
            break;
        if (rc < 0) {
            bsn_err_set(err, 502, "ServiceUnavailable", "response from %s: %s", o->url,
                        rr.error ? rr.error : "error");
            goto out;
        }
        bsn_buf_reserve(&rr.in, 65536);
        unsigned want = 0;
        ssize_t n = bsn_io_read(fd, ssl, rr.in.data + rr.in.len, rr.in.cap - rr.in.len - 1, &want);
        if (n > 0) {
            rr.in.len += (size_t)n;
            continue;
        }
        if (n == 0) {
            if (bsn_rr_eof(&rr) == 1)
                break;
            bsn_err_set(err, 502, "ServiceUnavailable", "response from %s: %s", o->url, rr.error);
            goto out;
        }
        if (n == BSN_IO_ERR) {
            bsn_err_set(err, 502, "ServiceUnavailable", "read from %s failed", o->url);
            goto out;
        }
        if (wait_fd(fd, want, deadline) < 0) {
            bsn_err_set(err, 504, "Timeout", "response from %s: timed out", o->url);
            goto out;
        }
    }
    res->status = rr.status;
    res->body_len = rr.body.len;
    bsn_buf_putc(&rr.body, 0);
    res->body = bsn_buf_take(&rr.body);
    res->head = rr.head;
    res->headers = rr.hdrs;
    res->nheaders = rr.nhdrs;
    rr.head = NULL;
    rr.hdrs = NULL;
    ret = 0;
out:
    bsn_rr_fini(&rr);
    bsn_buf_fini(&out);
    if (ssl)
        SSL_free(ssl);
    if (ctx)
        SSL_CTX_free(ctx);
    close(fd);
    return ret;
}

void
bsn_http_fetch_result_fini(struct bsn_http_fetch_result *res)
{
    free(res->body);
    free(res->head);
    free(res->headers);
    memset(res, 0, sizeof(*res));
}

const char *
bsn_http_fetch_header(const struct bsn_http_fetch_result *res, const char *name)
{
    const struct bsn_http_header *h = bsn_http_find_header(res->headers, res->nheaders, name);
    return h ? h->value.base : NULL;
}
