/*
 * logs.c - pods/log for pods on this node: reads the container's CRI log file
 * (<data-dir>/agent/pods/<ns>_<pod>_<uid>/<container>/<restart>.log) and returns the message
 * part of each line, or "<timestamp> <message>" with timestamps=true. Supports container,
 * previous, tailLines, limitBytes, sinceSeconds, sinceTime and follow (the file is polled
 * every 200 ms; the stream ends once the container has exited and everything was sent).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "api/apiserver.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"

#define LOG_READ_MAX  (16u << 20) /* bytes read at once from a log file */
#define LOG_POLL_MS   200
#define LOG_CARRY_MAX (64u << 10)

struct log_stream {
    struct bsn_agent *a;
    struct bsn_api_reply *r;
    char key[512], ctr[128], path[1200];
    int restart;
    off_t off;
    bool timestamps;
    struct bsn_buf carry;
    struct bsn_timer timer;
};

/* Appends the messages of the complete CRI lines in data to out (lines stamped before
 * since, seconds since the epoch, are skipped); returns bytes consumed. */
static size_t
render(const char *data, size_t len, bool timestamps, time_t since, struct bsn_buf *out)
{
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (!nl)
            break;
        const char *ts, *msg;
        size_t tslen, msglen;
        bool partial;
        if (bsn_agent_cri_parse(data + pos, (size_t)(nl - data - pos), &ts, &tslen, &msg, &msglen,
                                &partial) == 0) {
            time_t t;
            char tsbuf[64];
            snprintf(tsbuf, sizeof(tsbuf), "%.*s", (int)BSN_MIN(tslen, sizeof(tsbuf) - 1), ts);
            if (since > 0 && bsn_time_parse(tsbuf, &t) == 0 && t < since) {
                pos = (size_t)(nl - data) + 1;
                continue;
            }
            if (timestamps) {
                bsn_buf_append(out, ts, tslen);
                bsn_buf_putc(out, ' ');
            }
            bsn_buf_append(out, msg, msglen);
            if (!partial)
                bsn_buf_putc(out, '\n');
        }
        pos = (size_t)(nl - data) + 1;
    }
    return pos;
}

/* Reads up to LOG_READ_MAX bytes of path from off. */
static char *
read_from(const char *path, off_t off, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *n = 0;
    if (fd < 0)
        return NULL;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || sb.st_size < off) {
        close(fd);
        return NULL;
    }
    size_t want = BSN_MIN((size_t)(sb.st_size - off), (size_t)LOG_READ_MAX);
    char *buf = bsn_malloc(want + 1);
    ssize_t r = pread(fd, buf, want, off);
    close(fd);
    *n = r > 0 ? (size_t)r : 0;
    buf[*n] = '\0';
    return buf;
}

/* Keeps only the last tail lines of out (tail < 0: all). */
static void
apply_tail(struct bsn_buf *out, long tail)
{
    if (tail < 0 || !out->len)
        return;
    size_t i = out->len, lines = 0;
    if (out->data[i - 1] == '\n')
        i--;
    while (i > 0) {
        if (out->data[i - 1] == '\n' && ++lines == (size_t)tail)
            break;
        i--;
    }
    if (tail == 0)
        i = out->len;
    bsn_buf_consume(out, i);
}

static void
stream_free(struct log_stream *s)
{
    bsn_timer_stop(s->a->loop, &s->timer);
    bsn_buf_fini(&s->carry);
    free(s);
}

static void
on_client_gone(void *data)
{
    stream_free(data);
}

static bool
ctr_running(struct log_stream *s)
{
    struct agent_pod *p = bsn_map_get(&s->a->pods, s->key);
    if (!p)
        return false;
    for (size_t i = 0; i < p->nctrs; i++)
        if (!strcmp(p->ctrs[i].name, s->ctr))
            return p->ctrs[i].restart_count == s->restart &&
                   (p->ctrs[i].st == CT_RUNNING || p->ctrs[i].st == CT_STARTING);
    return false;
}

static void
poll_cb(struct bsn_loop *loop, void *data)
{
    struct log_stream *s = data;
    bool running = ctr_running(s); /* before reading: no line written after is lost */
    size_t n;
    char *buf = read_from(s->path, s->off, &n);
    if (n) {
        s->off += (off_t)n;
        bsn_buf_append(&s->carry, buf, n);
        struct bsn_buf out;
        bsn_buf_init(&out);
        size_t used = render(s->carry.data, s->carry.len, s->timestamps, 0, &out);
        bsn_buf_consume(&s->carry, used);
        if (s->carry.len > LOG_CARRY_MAX)
            bsn_buf_reset(&s->carry);
        if (out.len && bsn_api_stream_write(s->r, out.data, out.len) < 0) {
            bsn_buf_fini(&out);
            free(buf);
            return; /* the close callback frees s */
        }
        bsn_buf_fini(&out);
    }
    free(buf);
    if (!running && n == 0) {
        bsn_api_stream_end(s->r);
        stream_free(s);
        return;
    }
    bsn_timer_start(loop, &s->timer, n ? 0 : LOG_POLL_MS, poll_cb, s);
}

static bool
qbool(struct bsn_api_reply *r, const char *name)
{
    char v[16];
    return bsn_api_reply_query(r, name, v, sizeof(v)) && (!strcmp(v, "true") || !strcmp(v, "1"));
}

static void
log_handler(struct bsn_api_reply *r, const char *ns, const char *pod, const char *sub, void *data)
{
    struct bsn_agent *a = data;
    BSN_UNUSED(sub);
    char key[512], msg[1024], cname[128] = "", v[32];
    snprintf(key, sizeof(key), "%s/%s", ns, pod);
    struct agent_pod *p = bsn_map_get(&a->pods, key);
    if (!p) {
        snprintf(msg, sizeof(msg), "pod \"%s\" is not running on node %s", pod, a->node);
        bsn_api_reply_error(r, 404, "NotFound", msg);
        return;
    }
    bsn_api_reply_query(r, "container", cname, sizeof(cname));
    struct agent_ctr *c = NULL;
    if (!cname[0]) {
        if (p->nctrs - p->ninit != 1) {
            struct bsn_buf b;
            bsn_buf_init(&b);
            for (size_t i = p->ninit; i < p->nctrs; i++)
                bsn_buf_printf(&b, "%s%s", i > p->ninit ? " " : "", p->ctrs[i].name);
            snprintf(msg, sizeof(msg),
                     "a container name must be specified for pod %s, choose one of: [%s]", pod,
                     b.data ?: "");
            bsn_buf_fini(&b);
            bsn_api_reply_error(r, 400, "BadRequest", msg);
            return;
        }
        c = &p->ctrs[p->ninit];
    } else {
        for (size_t i = 0; i < p->nctrs; i++)
            if (!strcmp(p->ctrs[i].name, cname))
                c = &p->ctrs[i];
        if (!c) {
            snprintf(msg, sizeof(msg), "container %s is not valid for pod %s", cname, pod);
            bsn_api_reply_error(r, 400, "BadRequest", msg);
            return;
        }
    }
    bool previous = qbool(r, "previous");
    int n = c->restart_count;
    if (previous) {
        if (n == 0) {
            snprintf(msg, sizeof(msg),
                     "previous terminated container \"%s\" in pod \"%s\" not found", c->name, pod);
            bsn_api_reply_error(r, 400, "BadRequest", msg);
            return;
        }
        n--;
    }
    char path[1200];
    agent_log_path(p, c->name, n, path, sizeof(path));
    if (access(path, R_OK) < 0) {
        snprintf(msg, sizeof(msg), "container \"%s\" in pod \"%s\" is waiting to start: %s",
                 c->name, pod, c->waiting_reason[0] ? c->waiting_reason : "ContainerCreating");
        bsn_api_reply_error(r, 400, "BadRequest", msg);
        return;
    }
    bool ts = qbool(r, "timestamps");
    long tail = -1, limit = -1;
    if (bsn_api_reply_query(r, "tailLines", v, sizeof(v)))
        tail = atol(v);
    if (bsn_api_reply_query(r, "limitBytes", v, sizeof(v)))
        limit = atol(v);
    size_t len;
    char *buf = read_from(path, 0, &len);
    struct bsn_buf out;
    bsn_buf_init(&out);
    time_t since = 0;
    if (bsn_api_reply_query(r, "sinceSeconds", v, sizeof(v)) && atol(v) > 0)
        since = bsn_time_now() - atol(v);
    char st[64];
    if (bsn_api_reply_query(r, "sinceTime", st, sizeof(st)))
        bsn_time_parse(st, &since);
    size_t used = render(buf ? buf : "", len, ts, since, &out);
    apply_tail(&out, tail);
    if (limit >= 0 && out.len > (size_t)limit)
        out.len = (size_t)limit;
    bool follow = qbool(r, "follow") && !previous;
    if (!follow) {
        bsn_api_reply_body(r, 200, "text/plain", out.data ? out.data : "", out.len);
        bsn_buf_fini(&out);
        free(buf);
        return;
    }
    struct log_stream *s = bsn_calloc(1, sizeof(*s));
    s->a = a;
    s->r = r;
    snprintf(s->key, sizeof(s->key), "%s", key);
    snprintf(s->ctr, sizeof(s->ctr), "%s", c->name);
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->restart = n;
    s->off = (off_t)used;
    s->timestamps = ts;
    bsn_buf_init(&s->carry);
    bsn_timer_init(&s->timer);
    bsn_api_stream_start(r, "text/plain");
    bsn_api_reply_on_close(r, on_client_gone, s);
    if (out.len)
        bsn_api_stream_write(r, out.data, out.len);
    bsn_buf_fini(&out);
    free(buf);
    bsn_timer_start(a->loop, &s->timer, LOG_POLL_MS, poll_cb, s);
}

void
agent_logs_register(struct bsn_agent *a)
{
    bsn_apiserver_set_pod_handler(a->api, "log", log_handler, a);
}
