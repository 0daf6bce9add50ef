/*
 * logpump.c - reads container stdout/stderr pipes on the loop and writes CRI log lines.
 */
#include "runtime/logpump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "loop/loop.h"

struct pump_stream {
    struct bsn_logpump *p;
    int fd;
    const char *name; /* "stdout" / "stderr" */
    struct bsn_buf line;
};

struct bsn_logpump {
    struct bsn_loop *loop;
    char *path;
    int fd;
    size_t size;
    size_t max_bytes;
    int max_files;
    struct pump_stream streams[2];
    int nstreams;
};

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
bsn_cri_log_format(struct bsn_buf *out, int64_t ts_ns, const char *stream, bool partial,
                   const char *text, size_t len)
{
    time_t secs = (time_t)(ts_ns / 1000000000);
    long nsec = (long)(ts_ns % 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    bsn_buf_printf(out, "%s.%09ldZ %s %c ", when, nsec, stream, partial ? 'P' : 'F');
    bsn_buf_append(out, text, len);
    bsn_buf_putc(out, '\n');
}

int
bsn_cri_log_parse(const char *line, size_t len, struct bsn_cri_line *out)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    /* "YYYY-MM-DDTHH:MM:SS" then optional ".fraction", then "Z" or "+hh:mm" */
    if (len < 20 || line[4] != '-' || line[7] != '-' || line[10] != 'T' || line[13] != ':' ||
        line[16] != ':')
        return -1;
    char buf[20];
    memcpy(buf, line, 19);
    buf[19] = '\0';
    struct tm tm = {0};
    const char *end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end)
        return -1;
    size_t i = 19;
    int64_t frac = 0;
    int digits = 0;
    if (i < len && line[i] == '.') {
        for (i++; i < len && line[i] >= '0' && line[i] <= '9'; i++, digits++)
            if (digits < 9)
                frac = frac * 10 + (line[i] - '0');
        if (digits == 0)
            return -1;
    }
    for (int d = digits; d < 9; d++)
        frac *= 10;
    int64_t offset = 0;
    if (i < len && line[i] == 'Z') {
        i++;
    } else if (i + 6 <= len && (line[i] == '+' || line[i] == '-') && line[i + 3] == ':') {
        int hh = (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
        int mm = (line[i + 4] - '0') * 10 + (line[i + 5] - '0');
        offset = (line[i] == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
        i += 6;
    } else {
        return -1;
    }
    out->ts_ns = ((int64_t)timegm(&tm) - offset) * 1000000000 + frac;
    if (i >= len || line[i] != ' ')
        return -1;
    const char *st = line + i + 1;
    const char *sp = memchr(st, ' ', len - (size_t)(st - line));
    if (!sp || sp == st)
        return -1;
    out->stream = (struct bsn_str){st, (size_t)(sp - st)};
    size_t rest = len - (size_t)(sp + 1 - line);
    if (rest < 1 || (sp[1] != 'F' && sp[1] != 'P') || (rest > 1 && sp[2] != ' '))
        return -1;
    out->partial = sp[1] == 'P';
    out->text = rest > 2 ? (struct bsn_str){sp + 3, rest - 2} : (struct bsn_str){sp + 1 + rest, 0};
    return 0;
}

int
bsn_log_rotate(const char *path, int max_files)
{
    if (max_files < 1)
        max_files = 1;
    char from[4096], to[4096];
    /* Drop the oldest, shift the others up by one. */
    snprintf(to, sizeof(to), "%s.%d", path, max_files - 1);
    if (max_files > 1)
        unlink(to);
    for (int i = max_files - 2; i >= 1; i--) {
        snprintf(from, sizeof(from), "%s.%d", path, i);
        snprintf(to, sizeof(to), "%s.%d", path, i + 1);
        if (rename(from, to) < 0 && errno != ENOENT)
            return -errno;
    }
    if (max_files == 1)
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
    snprintf(to, sizeof(to), "%s.1", path);
    if (rename(path, to) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int
pump_open(struct bsn_logpump *p)
{
    p->fd = open(p->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (p->fd < 0)
        return -errno;
    struct stat st;
    p->size = fstat(p->fd, &st) == 0 ? (size_t)st.st_size : 0;
    return 0;
}

static void
pump_write(struct bsn_logpump *p, struct bsn_buf *b)
{
    if (p->fd < 0 || b->len == 0)
        return;
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(p->fd, b->data + off, b->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bsn_warn("runtime", "log %s: write: %s", p->path, strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    p->size += off;
    if (p->max_bytes > 0 && p->size >= p->max_bytes) {
        close(p->fd);
        p->fd = -1;
        if (bsn_log_rotate(p->path, p->max_files) < 0)
            bsn_warn("runtime", "log %s: rotate: %s", p->path, strerror(errno));
        if (pump_open(p) < 0)
            bsn_warn("runtime", "log %s: reopen: %s", p->path, strerror(errno));
    }
}

/* Turns the buffered bytes into CRI lines; with flush, a trailing partial line is written as a
 * final F line (the stream ended). */
static void
stream_emit(struct pump_stream *s, bool flush)
{
    struct bsn_buf out;
    bsn_buf_init(&out);
    int64_t ts = now_ns();
    size_t start = 0;
    while (s->line.len > start) {
        char *nl = memchr(s->line.data + start, '\n', s->line.len - start);
        if (nl) {
            size_t len = (size_t)(nl - (s->line.data + start));
            bsn_cri_log_format(&out, ts, s->name, false, s->line.data + start, len);
            start += len + 1;
            continue;
        }
        size_t rest = s->line.len - start;
        if (rest >= BSN_LOGPUMP_LINE_MAX) {
            bsn_cri_log_format(&out, ts, s->name, true, s->line.data + start, BSN_LOGPUMP_LINE_MAX);
            start += BSN_LOGPUMP_LINE_MAX;
            continue;
        }
        if (flush) {
            bsn_cri_log_format(&out, ts, s->name, false, s->line.data + start, rest);
            start += rest;
        }
        break;
    }
    bsn_buf_consume(&s->line, start);
    pump_write(s->p, &out);
    bsn_buf_fini(&out);
}

static void
stream_close(struct pump_stream *s)
{
    if (s->fd < 0)
        return;
    bsn_loop_del_fd(s->p->loop, s->fd);
    close(s->fd);
    s->fd = -1;
    stream_emit(s, true);
}

/* Reads until EAGAIN; returns false once the stream hit EOF or an error. */
static bool
stream_read(struct pump_stream *s)
{
    char chunk[16384];
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t n = read(s->fd, chunk, sizeof(chunk));
        if (n > 0) {
            bsn_buf_append(&s->line, chunk, (size_t)n);
            stream_emit(s, false);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        return false;
    }
    return true; /* fairness: come back on the next loop iteration */
}

static void
stream_ready(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct pump_stream *s = data;
    if (!stream_read(s))
        stream_close(s);
}

struct bsn_logpump *
bsn_logpump_new(struct bsn_loop *loop, const char *path, size_t max_bytes, int max_files,
                struct bsn_err *err)
{
    struct bsn_logpump *p = bsn_calloc(1, sizeof(*p));
    p->loop = loop;
    p->path = bsn_strdup(path);
    p->max_bytes = max_bytes;
    p->max_files = max_files < 1 ? 1 : max_files;
    int rc = pump_open(p);
    if (rc < 0) {
        bsn_err_set(err, 500, "InternalError", "open log %s: %s", path, strerror(-rc));
        free(p->path);
        free(p);
        return NULL;
    }
    return p;
}

int
bsn_logpump_add(struct bsn_logpump *p, int fd, const char *stream)
{
    if (p->nstreams >= 2)
        return -EINVAL;
    struct pump_stream *s = &p->streams[p->nstreams++];
    s->p = p;
    s->fd = fd;
    s->name = stream;
    bsn_buf_init(&s->line);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int rc = bsn_loop_add_fd(p->loop, fd, BSN_EV_READ, stream_ready, s);
    if (rc < 0) {
        close(fd);
        s->fd = -1;
    }
    return rc;
}

int
bsn_logpump_open_streams(const struct bsn_logpump *p)
{
    int n = 0;
    for (int i = 0; i < p->nstreams; i++)
        n += p->streams[i].fd >= 0;
    return n;
}

void
bsn_logpump_free(struct bsn_logpump *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nstreams; i++) {
        struct pump_stream *s = &p->streams[i];
        if (s->fd >= 0) {
            stream_read(s);
            stream_close(s);
        }
        bsn_buf_fini(&s->line);
    }
    if (p->fd >= 0)
        close(p->fd);
    free(p->path);
    free(p);
}
