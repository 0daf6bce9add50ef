/*
 * accesslog.c - JSON access log lines, buffered per worker and written in batches (when the
 * buffer passes 32 KiB and once a second from the sweep timer). Off by default.
 *
 * One line per request:
 *   {"time":"2026-11-21T06:00:00.123456Z","client":"127.0.0.1","method":"GET",
 *    "host":"a.example","path":"/x","status":200,"route":"ingress:default/web:0:/",
 *    "upstream":"10.42.0.5:8080","bytes_in":78,"bytes_out":312,"duration_us":412}
 */
#include <stdio.h>
#include <unistd.h>

#include "base/time.h"
#include "gateway/gw_conn.h"

#define LOG_FLUSH_AT 32768

void
gw_json_str(struct bsn_buf *b, const char *s, size_t n)
{
    bsn_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            bsn_buf_putc(b, '\\');
            bsn_buf_putc(b, (char)ch);
        } else if (ch < 0x20 || ch == 0x7f) {
            bsn_buf_printf(b, "\\u%04x", ch);
        } else {
            bsn_buf_putc(b, (char)ch);
        }
    }
    bsn_buf_putc(b, '"');
}

void
gw_log_request(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    struct bsn_buf *b = &w->log;
    char ts[40];
    bsn_time_format_micro(bsn_time_now_us(), ts, sizeof(ts));
    const struct bsn_http_request_head *q = &c->req;
    bool have_req = c->head_len > 0 && c->route;
    bsn_buf_printf(b, "{\"time\":\"%s\",\"client\":\"%s\",\"method\":", ts, c->peer_ip);
    gw_json_str(b, have_req ? q->method.base : "", have_req ? q->method.len : 0);
    bsn_buf_puts(b, ",\"host\":");
    gw_json_str(b, have_req ? q->host.base : "", have_req ? q->host.len : 0);
    bsn_buf_puts(b, ",\"path\":");
    gw_json_str(b, have_req ? q->path.base : "", have_req ? q->path.len : 0);
    bsn_buf_printf(b, ",\"status\":%d,\"route\":", c->status);
    const char *rn = c->route ? bsn_gw_route_name((const struct bsn_gw_route *)c->route) : "";
    gw_json_str(b, rn, strlen(rn));
    const char *up = c->backend && c->ep >= 0 && (uint32_t)c->ep < c->backend->neps
                         ? c->backend->eps[c->ep].name
                         : "";
    bsn_buf_puts(b, ",\"upstream\":");
    gw_json_str(b, up, strlen(up));
    bsn_buf_printf(b, ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_us\":%llu}\n",
                   (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
                   (unsigned long long)((bsn_mono_ns() - c->start_ns) / 1000));
    if (b->len >= LOG_FLUSH_AT)
        gw_log_flush(w);
}

void
gw_log_flush(struct gw_worker *w)
{
    int fd = w->gw->log_fd;
    if (fd < 0 || w->log.len == 0)
        return;
    size_t off = 0;
    while (off < w->log.len) {
        ssize_t n = write(fd, w->log.data + off, w->log.len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    bsn_buf_reset(&w->log);
}
