/*
 * harness.h - test helpers for the HTTP server/client tests: a bsn_loop running in a thread
 * with a server on an ephemeral port, and raw-socket helpers.
 */
#ifndef BSN_TEST_HTTP_HARNESS_H
#define BSN_TEST_HTTP_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/parser.h"
#include "http/server.h"
#include "loop/loop.h"

struct harness {
    struct bsn_loop *loop;
    struct bsn_http_server *srv;
    pthread_t thread;
    int port;
};

static void *
harness_main(void *arg)
{
    struct harness *h = arg;
    bsn_loop_run(h->loop);
    return NULL;
}

static void
harness_stop_cb(struct bsn_loop *loop, void *data)
{
    struct harness *h = data;
    bsn_http_server_free(h->srv);
    h->srv = NULL;
    bsn_loop_stop(loop);
}

static inline void
harness_start(struct harness *h, struct bsn_http_server_opts *o)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    h->loop = bsn_loop_new();
    if (!o->listen)
        o->listen = "127.0.0.1:0";
    h->srv = bsn_http_server_new(h->loop, o, &err);
    if (!h->srv) {
        fprintf(stderr, "server: %s\n", err.msg);
        abort();
    }
    h->port = bsn_http_server_port(h->srv);
    pthread_create(&h->thread, NULL, harness_main, h);
}

static inline void
harness_stop(struct harness *h)
{
    bsn_loop_post(h->loop, harness_stop_cb, h);
    pthread_join(h->thread, NULL);
    /* Run deferred callbacks queued by the shutdown (on_close), then free. */
    bsn_loop_run_once(h->loop, 0);
    bsn_loop_free(h->loop);
}

static inline int
tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("connect");
        abort();
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static inline void
send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static inline void
send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* A response read from a raw socket. */
struct raw_resp {
    int status;
    char *head; /* heap copy of the head */
    char *body;
    size_t body_len;
    bool closed; /* EOF seen right after */
};

static inline void
raw_resp_free(struct raw_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/*
 * Reads one response (Content-Length or chunked or until EOF) from fd, using *pending as the
 * carry-over buffer between responses. Returns 0, or -1 on EOF/timeout before a full head.
 */
static inline int
read_resp(int fd, struct bsn_buf *pending, struct raw_resp *out, bool head_request)
{
    static struct bsn_http_response_head rh;
    memset(out, 0, sizeof(*out));
    int hl;
    for (;;) {
        hl = pending->len ? bsn_http_parse_response(pending->data, pending->len, &rh) : -2;
        if (hl > 0)
            break;
        if (hl == -1)
            return -1;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0)
            return -1;
        bsn_buf_append(pending, tmp, (size_t)n);
    }
    out->status = rh.status;
    out->head = bsn_strndup(pending->data, (size_t)hl);
    bsn_buf_consume(pending, (size_t)hl);
    struct bsn_buf body;
    bsn_buf_init(&body);
    bool no_body = head_request || out->status == 204 || out->status == 304 ||
                   (out->status >= 100 && out->status < 200);
    if (!no_body && rh.chunked) {
        struct bsn_http_chunked ch;
        bsn_http_chunked_init(&ch);
        for (;;) {
            size_t l = pending->len;
            int rc = pending->len ? bsn_http_chunked_decode(&ch, pending->data, &l) : -2;
            if (rc == -1)
                return -1;
            bsn_buf_append(&body, pending->data, l);
            if (rc >= 0) {
                memmove(pending->data, pending->data + l, (size_t)rc);
                pending->len = (size_t)rc;
                break;
            }
            pending->len = 0;
            char tmp[65536];
            ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
            if (n <= 0)
                return -1;
            bsn_buf_append(pending, tmp, (size_t)n);
        }
    } else if (!no_body && rh.content_length >= 0) {
        while (pending->len < (size_t)rh.content_length) {
            char tmp[65536];
            ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
            if (n <= 0)
                return -1;
            bsn_buf_append(pending, tmp, (size_t)n);
        }
        bsn_buf_append(&body, pending->data, (size_t)rh.content_length);
        bsn_buf_consume(pending, (size_t)rh.content_length);
    } else if (!no_body) {
        char tmp[65536];
        ssize_t n;
        bsn_buf_append(&body, pending->data, pending->len);
        pending->len = 0;
        while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
            bsn_buf_append(&body, tmp, (size_t)n);
        out->closed = true;
    }
    bsn_buf_putc(&body, 0);
    body.len--;
    out->body_len = body.len;
    out->body = bsn_buf_take(&body);
    return 0;
}

/* Waits up to ms for the peer to close fd (recv returns 0 or ECONNRESET). */
static inline bool
wait_closed(int fd, int ms)
{
    uint64_t end = bsn_mono_ms() + (uint64_t)ms;
    while (bsn_mono_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char tmp[4096];
            ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return true;
        }
    }
    return false;
}

#endif
