/*
 * http_h2.c - fuzz target for the HTTP/2 server (src/http/h2.c over nghttp2): the input is
 * the byte stream a client sends after the connection preface, fed to a listener-less server
 * through a socketpair (prior-knowledge HTTP/2). Requests get small complete or streamed
 * responses, so frame parsing, stream bookkeeping, request re-expression for the HTTP/1
 * parser, response submission and connection teardown all run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/server.h"
#include "loop/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
handler(struct bsn_http_req *req, void *data)
{
    if (strcmp(req->path, "/s") == 0) {
        bsn_http_stream_start(req, 200, "text/plain");
        bsn_http_stream_write(req, "one\n", 4);
        bsn_http_stream_write(req, req->body ? req->body : "", req->body_len);
        bsn_http_stream_end(req);
        return;
    }
    bsn_http_req_add_header(req, "X-Len", req->method);
    bsn_http_respond(req, 200, "text/plain", req->body, req->body_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (size > 16384)
        size = 16384;
    struct bsn_loop *loop = bsn_loop_new();
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_http_server_opts o = {.handler = handler, .data = loop, .max_body = 4096};
    struct bsn_http_server *srv = bsn_http_server_new(loop, &o, &err);
    if (!srv)
        abort();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    char *buf = malloc(sizeof(preface) - 1 + size);
    memcpy(buf, preface, sizeof(preface) - 1);
    memcpy(buf + sizeof(preface) - 1, data, size);
    struct sockaddr_storage sa = {.ss_family = AF_INET};
    bsn_http_server_adopt(srv, sv[0], NULL, (const struct sockaddr *)&sa, true, buf,
                          sizeof(preface) - 1 + size);
    free(buf);
    char sink[65536];
    for (int i = 0; i < 6; i++) {
        bsn_loop_run_once(loop, 0);
        while (read(sv[1], sink, sizeof(sink)) > 0) {
        }
    }
    bsn_http_server_free(srv);
    bsn_loop_run_once(loop, 0); /* deferred callbacks of the shutdown */
    close(sv[1]);
    bsn_loop_free(loop);
    return 0;
}
