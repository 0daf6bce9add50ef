/*
 * log.c - leveled logging. One write(2) per line so lines from threads do not interleave.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

static enum bsn_log_level g_level = BSN_LOG_INFO;
static int g_json;

void
bsn_log_set_level(enum bsn_log_level lvl)
{
    g_level = lvl;
}

enum bsn_log_level
bsn_log_get_level(void)
{
    return g_level;
}

int
bsn_log_parse_level(const char *s, enum bsn_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum bsn_log_level)i;
            return 0;
        }
    }
    return -1;
}

void
bsn_log_set_json(int on)
{
    g_json = on;
}

static void
json_escape(struct bsn_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            bsn_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            bsn_buf_printf(b, "\\u%04x", c);
        else
            bsn_buf_putc(b, (char)c);
    }
}

void
bsn_log(enum bsn_log_level lvl, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < g_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    struct bsn_buf b;
    bsn_buf_init(&b);
    if (g_json) {
        bsn_buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"", when,
                       ts.tv_nsec / 1000000, names[lvl]);
        json_escape(&b, component);
        bsn_buf_puts(&b, "\",\"msg\":\"");
        json_escape(&b, msg);
        bsn_buf_puts(&b, "\"}\n");
    } else {
        bsn_buf_printf(&b, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000, names[lvl],
                       component, msg);
    }
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    bsn_buf_fini(&b);
}
