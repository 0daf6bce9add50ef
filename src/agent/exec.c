/*
 * exec.c - pods/exec and pods/attach over the WebSocket remotecommand protocol (see exec.h):
 * the upgraded connection (plain or TLS), the exec'd process (pipes or a pty) or the attached
 * container (its stdin pipe and its CRI log file), and the flow between them with bounded
 * buffers. pods/portforward lives in exec_pf.c and shares the connection code here.
 *
 * A session lives until both the client connection is closed and the process is reaped: when
 * the client goes away first the process group is killed (SIGKILL) and the session waits for
 * the exit; when the process exits first its remaining output is sent, then the status on
 * channel 3, then a close frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/exec.h"
#include "agent/exec_int.h"
#include "agent/exec_spdy.h"
#include "api/apiserver.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/server.h"
#include "runtime/runtime.h"

#define OUT_READ_CHUNK (32u << 10)
#define STDIN_MAX      (1u << 20)
#define ATTACH_POLL_MS 100
#define DRAIN_MS       2000

enum { K_EXEC, K_ATTACH };

struct rc_sess {
    struct rc_conn conn;
    struct bsn_agent *a;
    struct rc_sess *next;
    int kind;
    struct bsn_rc_opts o;
    char key[512], ctr_name[128], ctr_id[65];
    /* exec: the process */
    pid_t pid;
    bool running;
    int wstatus;
    struct bsn_child child;
    char pid_file[1100]; /* oci non-tty: the process's host pid, for the kill */
    int in_fd;           /* stdin: pipe write end, pty master (dup), or the container's stdin */
    bool in_owned;       /* we close in_fd (not the runtime's) */
    bool in_watch;
    int out_fd, err_fd; /* pipe read ends or the pty master; -1 when done */
    bool out_paused;
    struct bsn_buf stdin_buf;
    bool stdin_eof;
    struct bsn_timer drain;
    char *fail; /* the command could not run */
    /* attach: the container's log file */
    char log_path[1200];
    off_t log_off;
    int restart;
    struct bsn_buf carry;
    struct bsn_timer poll;
    struct bsn_timer watch; /* SPDY: stream creation deadline; then: the container still runs */
    /* plain SPDY (kubectl < 1.30): one SPDY stream per channel */
    bool spdy, started;
    struct bsn_spdy sp;
    struct bsn_buf spin;
    uint32_t sid[5];
    unsigned have, want; /* channel bits */
    bool done;           /* status sent */
    bool freeing;        /* unlinked, memory freed from the loop's defer */
};

/* ---------------------------------------------------------------- errors before the upgrade */

void
rc_reply_status(struct bsn_http_req *req, int code, const char *reason, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *st =
        json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                  "metadata", "status", "Failure", "message", msg, "reason", reason, "code", code);
    char *s = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(st);
    bsn_http_respond(req, code, "application/json", s, strlen(s));
    free(s);
}

/* ---------------------------------------------------------------- the connection */

static void conn_io(struct bsn_loop *loop, int fd, unsigned events, void *data);

void
rc_conn_update(struct rc_conn *c)
{
    if (c->fd < 0)
        return;
    unsigned ev = 0;
    if (!c->finishing && !c->read_paused)
        ev |= BSN_EV_READ;
    if (c->out.len || c->want_write)
        ev |= BSN_EV_WRITE;
    if (ev != c->events) {
        bsn_loop_mod_fd(c->loop, c->fd, ev);
        c->events = ev;
    }
}

int
rc_conn_init(struct rc_conn *c, struct bsn_loop *loop, struct bsn_http_upgraded *up, int version,
             enum bsn_rc_mode mode, const struct rc_conn_ops *ops, void *ud)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->fd = up->fd;
    c->ssl = up->ssl;
    c->ops = ops;
    c->ud = ud;
    bsn_buf_init(&c->in);
    bsn_buf_init(&c->out);
    if (up->in_len)
        bsn_buf_append(&c->in, up->in, up->in_len);
    if (up->out_len)
        bsn_buf_append(&c->out, up->out, up->out_len);
    free(up->in);
    free(up->out);
    bsn_rc_decoder_init(&c->dec, version, mode, ops->on_msg, ud);
    bsn_timer_init(&c->kick);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->events = BSN_EV_READ | BSN_EV_WRITE;
    if (bsn_loop_add_fd(loop, c->fd, c->events, conn_io, c) < 0)
        return -1;
    return 0;
}

/* Closes the socket (idempotent); the owner learns through ops->on_gone from rc_conn_*. */
void
rc_conn_close(struct rc_conn *c)
{
    if (c->fd < 0)
        return;
    bsn_loop_del_fd(c->loop, c->fd);
    bsn_timer_stop(c->loop, &c->kick);
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    bsn_buf_fini(&c->in);
    bsn_buf_fini(&c->out);
    bsn_rc_decoder_fini(&c->dec);
}

static void
conn_gone(struct rc_conn *c)
{
    rc_conn_close(c);
    c->ops->on_gone(c->ud);
}

/* Encodes a message on a channel (or a control frame) and flushes what it can. */
void
rc_conn_send(struct rc_conn *c, int channel, const void *data, size_t len)
{
    if (c->fd < 0 || c->finishing)
        return;
    bsn_rc_encode(&c->out, channel, data, len);
}

void
rc_conn_send_raw(struct rc_conn *c, enum bsn_ws_opcode op, const void *data, size_t len)
{
    if (c->fd < 0 || c->finishing)
        return;
    if (c->plain) {
        if (op == BSN_WS_BINARY)
            bsn_buf_append(&c->out, data, len);
        return;
    }
    bsn_ws_encode(&c->out, op, true, data, len, false);
}

/* Queues a close frame; the socket is closed once everything queued is written. */
void
rc_conn_finish(struct rc_conn *c, uint16_t code, const char *reason)
{
    if (c->fd < 0 || c->finishing)
        return;
    if (!c->plain)
        bsn_ws_encode_close(&c->out, code, reason, false);
    c->finishing = true;
    rc_conn_flush(c);
}

/* Writes what the socket takes. May end the connection (on_gone). Returns -1 if it did. */
int
rc_conn_flush(struct rc_conn *c)
{
    if (c->fd < 0)
        return -1;
    c->want_write = false;
    while (c->out.len) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->out.data, (int)BSN_MIN(c->out.len, (size_t)1 << 30));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    break;
                conn_gone(c);
                return -1;
            }
            n = r;
        } else {
            n = write(c->fd, c->out.data, c->out.len);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                conn_gone(c);
                return -1;
            }
        }
        bsn_buf_consume(&c->out, (size_t)n);
    }
    if (!c->out.len && c->finishing) {
        conn_gone(c);
        return -1;
    }
    if (c->ops->on_drain && c->out.len < RC_OUT_LOW)
        c->ops->on_drain(c->ud);
    if (c->fd >= 0)
        rc_conn_update(c);
    return c->fd >= 0 ? 0 : -1;
}

/* Hands c->in to the owner: WebSocket frames through the decoder, or (plain SPDY) every byte
 * as one raw message. Returns bytes consumed or -1 with *code. */
static long
conn_decode(struct rc_conn *c, int *code)
{
    if (!c->plain)
        return bsn_rc_decode(&c->dec, c->in.data, c->in.len, code);
    struct bsn_rc_msg m = {.ev = BSN_RC_EV_RAW, .data = c->in.data, .len = c->in.len};
    if (c->in.len)
        c->ops->on_msg(&m, c->ud);
    return (long)m.len;
}

/* Reads and decodes what the client sent, as long as the owner accepts more. */
static void
conn_read(struct rc_conn *c)
{
    while (c->fd >= 0 && !c->finishing && !c->read_paused) {
        if (c->in.len >= RC_IN_MAX) {
            /* a frame larger than the decoder allows would have failed already */
            rc_conn_finish(c, BSN_WS_CLOSE_TOO_BIG, "message too big");
            return;
        }
        bsn_buf_reserve(&c->in, 64u << 10);
        size_t room = BSN_MIN(c->in.cap - c->in.len, RC_IN_MAX - c->in.len);
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, c->in.data + c->in.len, (int)room);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->want_write = true;
                    rc_conn_update(c);
                    return;
                }
                conn_gone(c);
                return;
            }
            n = r;
        } else {
            n = read(c->fd, c->in.data + c->in.len, room);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (n <= 0) {
                conn_gone(c);
                return;
            }
        }
        c->in.len += (size_t)n;
        int code = 0;
        long used = conn_decode(c, &code);
        if (c->fd < 0)
            return; /* a callback ended the connection */
        if (used < 0) {
            rc_conn_finish(c, (uint16_t)code, "protocol error");
            return;
        }
        bsn_buf_consume(&c->in, (size_t)used);
    }
}

static void
conn_io(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct rc_conn *c = data;
    BSN_UNUSED(loop);
    BSN_UNUSED(fd);
    BSN_UNUSED(events);
    /* both directions every time: TLS may need either for either */
    if (rc_conn_flush(c) < 0)
        return;
    conn_read(c);
    if (c->fd >= 0)
        rc_conn_flush(c);
}

static void
conn_kick(struct bsn_loop *loop, void *data)
{
    struct rc_conn *c = data;
    BSN_UNUSED(loop);
    if (c->fd < 0 || c->read_paused)
        return;
    if (c->in.len) {
        int code = 0;
        long used = conn_decode(c, &code);
        if (c->fd < 0)
            return;
        if (used < 0) {
            rc_conn_finish(c, (uint16_t)code, "protocol error");
            return;
        }
        bsn_buf_consume(&c->in, (size_t)used);
    }
    conn_read(c);
    if (c->fd >= 0)
        rc_conn_flush(c);
}

/* Resumes reading (and decodes what is already buffered) from the loop, never from inside
 * the caller: the owner may be in the middle of handling a message. */
void
rc_conn_resume(struct rc_conn *c)
{
    if (c->fd < 0)
        return;
    c->read_paused = false;
    bsn_timer_start(c->loop, &c->kick, 0, conn_kick, c);
}

/* ---------------------------------------------------------------- sessions */

static void sess_maybe_free(struct rc_sess *s);
static void out_io(struct bsn_loop *loop, int fd, unsigned events, void *data);

static void
close_fd(struct rc_sess *s, int *fd, bool watched)
{
    if (*fd < 0)
        return;
    if (watched)
        bsn_loop_del_fd(s->a->loop, *fd);
    close(*fd);
    *fd = -1;
}

static void
stdin_close(struct rc_sess *s)
{
    if (s->in_fd < 0)
        return;
    if (s->in_watch)
        bsn_loop_del_fd(s->a->loop, s->in_fd);
    s->in_watch = false;
    if (s->in_owned) {
        if (s->o.tty && s->kind == K_EXEC) {
            /* a terminal has no EOF of its own: the line discipline's VEOF */
            ssize_t r = write(s->in_fd, "\x04", 1);
            (void)r;
        }
        close(s->in_fd);
    } else if (s->kind == K_ATTACH) {
        struct agent_pod *p = bsn_map_get(&s->a->pods, s->key);
        json_t *spec = NULL;
        for (size_t i = 0; p && i < p->nctrs; i++)
            if (!strcmp(p->ctrs[i].name, s->ctr_name))
                spec = p->ctrs[i].spec;
        if (json_is_true(json_object_get(spec, "stdinOnce")))
            bsn_runtime_container_close_stdin(s->a->rt, s->ctr_id);
    }
    s->in_fd = -1;
}

/* The OCI exec's process as the runtime's pid file names it (0 until it runs). */
static pid_t
inner_pid(struct rc_sess *s)
{
    char buf[32] = "";
    int fd = open(s->pid_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    long p = n > 0 ? strtol(buf, NULL, 10) : 0;
    return p > 1 ? (pid_t)p : 0;
}

static void
kill_process(struct rc_sess *s)
{
    if (!s->running)
        return;
    if (s->pid_file[0]) {
        /* `runc exec` is the process's parent: kill the process and let runc reap it and
         * exit (killing runc would orphan the process to us, and a container's init cannot
         * finish exiting while a zombie of its pid namespace waits to be reaped) */
        pid_t in = inner_pid(s);
        if (in > 0) {
            kill(in, SIGKILL);
            return;
        }
    }
    /* our exec children run in their own session: the whole group goes */
    if (kill(-s->pid, SIGKILL) < 0)
        kill(s->pid, SIGKILL);
}

static void
stdin_io(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct rc_sess *s = data;
    BSN_UNUSED(loop);
    BSN_UNUSED(events);
    while (s->stdin_buf.len) {
        ssize_t n = write(fd, s->stdin_buf.data, s->stdin_buf.len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) {
            /* the reader is gone: drop stdin */
            bsn_buf_reset(&s->stdin_buf);
            stdin_close(s);
            rc_conn_resume(&s->conn);
            return;
        }
        bsn_buf_consume(&s->stdin_buf, (size_t)n);
    }
    bsn_loop_del_fd(s->a->loop, fd);
    s->in_watch = false;
    if (s->stdin_eof)
        stdin_close(s);
    rc_conn_resume(&s->conn);
}

static void
stdin_push(struct rc_sess *s, const char *data, size_t len)
{
    if (s->in_fd < 0 || s->stdin_eof)
        return;
    bsn_buf_append(&s->stdin_buf, data, len);
    if (!s->in_watch) {
        if (bsn_loop_add_fd(s->a->loop, s->in_fd, BSN_EV_WRITE, stdin_io, s) == 0)
            s->in_watch = true;
        else
            bsn_buf_reset(&s->stdin_buf);
    }
    if (s->stdin_buf.len >= STDIN_MAX)
        s->conn.read_paused = true; /* resumed when the process took it */
}

/* Output on a channel: a channel message, or data on the channel's SPDY stream. */
static void
sess_out(struct rc_sess *s, int ch, const void *data, size_t len, bool fin)
{
    if (!s->spdy) {
        if (len)
            rc_conn_send(&s->conn, ch, data, len);
        return;
    }
    if (!(s->have & (1u << ch)))
        return;
    struct bsn_buf f;
    bsn_buf_init(&f);
    bsn_spdy_data(&f, s->sid[ch], data, len, fin);
    rc_conn_send_raw(&s->conn, BSN_WS_BINARY, f.data, f.len);
    bsn_buf_fini(&f);
}

static void spdy_in(struct rc_sess *s, const char *data, size_t len);

static int
on_msg(const struct bsn_rc_msg *m, void *ud)
{
    struct rc_sess *s = ud;
    switch (m->ev) {
    case BSN_RC_EV_DATA:
        if (m->channel == BSN_RC_STDIN && s->o.in)
            stdin_push(s, m->data, m->len);
        break;
    case BSN_RC_EV_EOF:
        if (m->channel == BSN_RC_STDIN) {
            s->stdin_eof = true;
            if (!s->stdin_buf.len)
                stdin_close(s);
        }
        break;
    case BSN_RC_EV_RESIZE:
        if (s->o.tty && s->kind == K_EXEC && s->out_fd >= 0) {
            struct winsize ws = {.ws_row = m->height, .ws_col = m->width};
            ioctl(s->out_fd, TIOCSWINSZ, &ws);
        }
        break;
    case BSN_RC_EV_PING:
        rc_conn_send_raw(&s->conn, BSN_WS_PONG, m->data, m->len);
        break;
    case BSN_RC_EV_CLOSE:
        /* the client is done: answer the close, stop the process */
        rc_conn_finish(&s->conn, BSN_WS_CLOSE_NORMAL, "");
        return 1;
    case BSN_RC_EV_RAW:
        if (s->spdy)
            spdy_in(s, m->data, m->len);
        break;
    }
    return s->conn.read_paused ? 1 : 0;
}

static int
exit_code(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return 1;
}

/* Sends the status and closes: the process has exited and its output is drained. */
static void
sess_finish(struct rc_sess *s, int code)
{
    if (s->done)
        return;
    s->done = true;
    bsn_timer_stop(s->a->loop, &s->drain);
    bsn_timer_stop(s->a->loop, &s->poll);
    bsn_timer_stop(s->a->loop, &s->watch);
    stdin_close(s);
    if (s->conn.fd >= 0) {
        char *st =
            bsn_rc_status(s->conn.dec.version, code, (const char *const *)s->o.command, s->fail);
        /* SPDY: the output streams end first, then the status ends the error stream */
        if (s->spdy) {
            sess_out(s, BSN_RC_STDOUT, NULL, 0, true);
            sess_out(s, BSN_RC_STDERR, NULL, 0, true);
        }
        sess_out(s, BSN_RC_ERROR, st, st ? strlen(st) : 0, true);
        free(st);
        rc_conn_finish(&s->conn, BSN_WS_CLOSE_NORMAL, "");
    }
    sess_maybe_free(s);
}

static void
check_exec_done(struct rc_sess *s)
{
    if (s->running || s->out_fd >= 0 || s->err_fd >= 0)
        return;
    sess_finish(s, exit_code(s->wstatus));
}

static void
drain_timeout(struct bsn_loop *loop, void *data)
{
    struct rc_sess *s = data;
    if (s->out_paused && s->conn.fd >= 0) {
        /* the client is slow, not the process: keep waiting */
        bsn_timer_start(loop, &s->drain, DRAIN_MS, drain_timeout, s);
        return;
    }
    /* a leftover child of the process keeps the output open: stop waiting for it */
    close_fd(s, &s->out_fd, true);
    close_fd(s, &s->err_fd, true);
    check_exec_done(s);
}

static void
on_child(struct bsn_loop *loop, pid_t pid, int wstatus, void *data)
{
    struct rc_sess *s = data;
    BSN_UNUSED(pid);
    s->running = false;
    s->wstatus = wstatus;
    if (s->pid_file[0])
        unlink(s->pid_file);
    if (s->conn.fd < 0) {
        close_fd(s, &s->out_fd, true);
        close_fd(s, &s->err_fd, true);
        sess_maybe_free(s);
        return;
    }
    bsn_timer_start(loop, &s->drain, DRAIN_MS, drain_timeout, s);
    check_exec_done(s);
}

static void
out_pause(struct rc_sess *s, bool pause)
{
    if (s->out_paused == pause)
        return;
    s->out_paused = pause;
    unsigned ev = pause ? 0 : BSN_EV_READ;
    if (s->out_fd >= 0)
        bsn_loop_mod_fd(s->a->loop, s->out_fd, ev);
    if (s->err_fd >= 0)
        bsn_loop_mod_fd(s->a->loop, s->err_fd, ev);
}

static void
out_io(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct rc_sess *s = data;
    BSN_UNUSED(loop);
    BSN_UNUSED(events);
    int ch = fd == s->err_fd ? BSN_RC_STDERR : BSN_RC_STDOUT;
    char buf[OUT_READ_CHUNK];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF (pipe) or EIO (pty: no slave left) */
        if (fd == s->err_fd)
            close_fd(s, &s->err_fd, true);
        else
            close_fd(s, &s->out_fd, true);
        check_exec_done(s);
        return;
    }
    sess_out(s, ch, buf, (size_t)n, false);
    if (s->conn.out.len >= RC_OUT_HIGH)
        out_pause(s, true);
    rc_conn_flush(&s->conn);
}

static void
on_drain(void *ud)
{
    struct rc_sess *s = ud;
    if (s->kind == K_EXEC)
        out_pause(s, false);
}

static void
on_gone(void *ud)
{
    struct rc_sess *s = ud;
    if (!s->done) {
        kill_process(s);
        if (!s->running) {
            s->done = true;
            close_fd(s, &s->out_fd, true);
            close_fd(s, &s->err_fd, true);
        }
    }
    sess_maybe_free(s);
}

static const struct rc_conn_ops sess_ops = {on_msg, on_drain, on_gone};

/* Releases everything that involves the loop; the memory goes in a deferred callback because
 * this may run inside one of the session's own callbacks. */
static void
sess_release(struct rc_sess *s)
{
    struct rc_sess **pp = (struct rc_sess **)&s->a->streams;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    bsn_timer_stop(s->a->loop, &s->drain);
    bsn_timer_stop(s->a->loop, &s->poll);
    bsn_timer_stop(s->a->loop, &s->watch);
    stdin_close(s);
    close_fd(s, &s->out_fd, true);
    close_fd(s, &s->err_fd, true);
    rc_conn_close(&s->conn);
}

static void
sess_free_cb(struct bsn_loop *loop, void *data)
{
    struct rc_sess *s = data;
    BSN_UNUSED(loop);
    bsn_buf_fini(&s->stdin_buf);
    bsn_buf_fini(&s->carry);
    bsn_buf_fini(&s->spin);
    bsn_spdy_fini(&s->sp);
    bsn_rc_opts_fini(&s->o);
    free(s->fail);
    free(s);
}

static void
sess_maybe_free(struct rc_sess *s)
{
    if (s->conn.fd >= 0 || s->running || s->freeing)
        return;
    s->freeing = true;
    sess_release(s);
    bsn_loop_defer(s->a->loop, sess_free_cb, s);
}

static void
sess_link(struct rc_sess *s)
{
    s->next = s->a->streams;
    s->a->streams = s;
}

/* ---------------------------------------------------------------- exec */

static int
nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void exec_watch(struct bsn_loop *loop, void *data);

/* Starts the process; on failure s->fail says why (reported in-band). */
static void
exec_start(struct rc_sess *s)
{
    struct bsn_agent *a = s->a;
    int inp[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, master = -1;
    struct bsn_exec_config cfg = {
        .argv = (const char *const *)s->o.command, .fd_in = -1, .fd_out = -1, .fd_err = -1};
    if (s->o.tty) {
        cfg.tty = true;
        cfg.pty_master = &master;
    } else {
        if ((s->o.in && pipe2(inp, O_CLOEXEC) < 0) || (s->o.out && pipe2(outp, O_CLOEXEC) < 0) ||
            (s->o.err && pipe2(errp, O_CLOEXEC) < 0)) {
            s->fail = bsn_sprintf("pipe: %s", strerror(errno));
            goto out;
        }
        cfg.fd_in = inp[0];
        cfg.fd_out = outp[1];
        cfg.fd_err = errp[1];
    }
    static unsigned seq;
    if (!strcmp(bsn_runtime_name(a->rt), "oci") && !s->o.tty) {
        snprintf(s->pid_file, sizeof(s->pid_file), "%s/exec-%d-%u.pid", a->data_dir, (int)getpid(),
                 ++seq);
        cfg.pid_file = s->pid_file;
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    pid_t pid;
    if (bsn_runtime_exec(a->rt, s->ctr_id, &cfg, &pid, &err) < 0) {
        s->fail = bsn_strdup(err.msg);
        s->pid_file[0] = 0;
        goto out;
    }
    s->pid = pid;
    s->running = true;
    bsn_loop_watch_child(a->loop, &s->child, pid, on_child, s);
    bsn_timer_start(a->loop, &s->watch, 1000, exec_watch, s);
    if (s->o.tty) {
        nonblock(master);
        s->out_fd = master;
        if (s->o.in) {
            s->in_fd = dup(master);
            s->in_owned = s->in_fd >= 0;
        }
        master = -1;
    } else {
        if (s->o.in) {
            s->in_fd = inp[1];
            s->in_owned = true;
            nonblock(inp[1]);
            inp[1] = -1;
        }
        if (s->o.out) {
            s->out_fd = outp[0];
            nonblock(outp[0]);
            outp[0] = -1;
        }
        if (s->o.err) {
            s->err_fd = errp[0];
            nonblock(errp[0]);
            errp[0] = -1;
        }
    }
    if (s->out_fd >= 0)
        bsn_loop_add_fd(a->loop, s->out_fd, BSN_EV_READ, out_io, s);
    if (s->err_fd >= 0)
        bsn_loop_add_fd(a->loop, s->err_fd, BSN_EV_READ, out_io, s);
out:
    for (int i = 0; i < 2; i++) {
        if (inp[i] >= 0)
            close(inp[i]);
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (master >= 0)
        close(master);
    if (s->fail)
        sess_finish(s, 0);
}

/* The exec'd process goes with its container: the process runtime's exec processes are not
 * in the container's process group, so a container that stopped takes them down here. */
static void
exec_watch(struct bsn_loop *loop, void *data)
{
    struct rc_sess *s = data;
    if (!s->running)
        return;
    struct agent_pod *p = bsn_map_get(&s->a->pods, s->key);
    bool alive = false;
    for (size_t i = 0; p && !p->gone && i < p->nctrs; i++)
        if (!strcmp(p->ctrs[i].id, s->ctr_id) && p->ctrs[i].st == CT_RUNNING)
            alive = true;
    if (!alive) {
        kill_process(s);
        return;
    }
    bsn_timer_start(loop, &s->watch, 1000, exec_watch, s);
}

/* ---------------------------------------------------------------- attach */

static bool
attach_running(struct rc_sess *s)
{
    struct agent_pod *p = bsn_map_get(&s->a->pods, s->key);
    for (size_t i = 0; p && i < p->nctrs; i++)
        if (!strcmp(p->ctrs[i].name, s->ctr_name))
            return p->ctrs[i].restart_count == s->restart && p->ctrs[i].st == CT_RUNNING &&
                   !strcmp(p->ctrs[i].id, s->ctr_id);
    return false;
}

/* CRI log lines "<time> stdout|stderr F|P <msg>" -> messages on channels 1 and 2. */
static void
attach_emit(struct rc_sess *s)
{
    char *d = s->carry.data;
    size_t len = s->carry.len, at = 0;
    while (at < len) {
        char *nl = memchr(d + at, '\n', len - at);
        if (!nl)
            break;
        char *line = d + at, *end = nl;
        at = (size_t)(nl - d) + 1;
        char *sp1 = memchr(line, ' ', (size_t)(end - line));
        if (!sp1)
            continue;
        char *stream = sp1 + 1;
        char *sp2 = memchr(stream, ' ', (size_t)(end - stream));
        if (!sp2 || sp2 + 2 > end)
            continue;
        bool err = (size_t)(sp2 - stream) == 6 && !memcmp(stream, "stderr", 6);
        bool full = sp2[1] == 'F';
        char *msg = sp2 + 3 <= end ? sp2 + 3 : end;
        if ((err && !s->o.err) || (!err && !s->o.out))
            continue;
        size_t mlen = (size_t)(end - msg);
        if (full) {
            *end = '\n'; /* the newline the log format took off */
            mlen++;
        }
        if (mlen)
            sess_out(s, err ? BSN_RC_STDERR : BSN_RC_STDOUT, msg, mlen, false);
    }
    bsn_buf_consume(&s->carry, at);
    if (s->carry.len > (1u << 20))
        bsn_buf_reset(&s->carry); /* a line without end: drop it */
}

static void
attach_poll(struct bsn_loop *loop, void *data)
{
    struct rc_sess *s = data;
    bool running = attach_running(s); /* before reading: no line written after is lost */
    size_t got = 0;
    if (s->conn.out.len < RC_OUT_HIGH) {
        int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char buf[OUT_READ_CHUNK];
            ssize_t n = pread(fd, buf, sizeof(buf), s->log_off);
            close(fd);
            if (n > 0) {
                got = (size_t)n;
                s->log_off += n;
                bsn_buf_append(&s->carry, buf, got);
                attach_emit(s);
            }
        }
    } else {
        running = true; /* the client is slow: wait */
    }
    if (rc_conn_flush(&s->conn) < 0)
        return;
    if (!running && got == 0) {
        sess_finish(s, 0);
        return;
    }
    bsn_timer_start(loop, &s->poll, got ? 0 : ATTACH_POLL_MS, attach_poll, s);
}

static void
attach_start(struct rc_sess *s, struct agent_pod *p, struct agent_ctr *c)
{
    s->restart = c->restart_count;
    agent_log_path(p, c->name, c->restart_count, s->log_path, sizeof(s->log_path));
    struct stat_off {
        off_t size;
    } so = {0};
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        so.size = lseek(fd, 0, SEEK_END);
        close(fd);
    }
    s->log_off = so.size > 0 ? so.size : 0;
    if (s->o.in) {
        s->in_fd = bsn_runtime_container_stdin(s->a->rt, s->ctr_id);
        s->in_owned = false;
    }
    bsn_timer_start(s->a->loop, &s->poll, ATTACH_POLL_MS, attach_poll, s);
}

/* ---------------------------------------------------------------- plain SPDY (kubectl < 1.30) */

static const char *const spdy_exec_protocols[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
                                                  "v2.channel.k8s.io", "channel.k8s.io", NULL};

int
rc_spdy_accept(struct bsn_http_req *req, const char *const *protos, const char **chosen,
               struct bsn_http_upgraded *up)
{
    const char *pick = NULL;
    for (size_t p = 0; protos[p] && !pick; p++) {
        size_t pl = strlen(protos[p]);
        for (size_t i = 0; i < req->nheaders && !pick; i++) {
            const struct bsn_http_header *h = &req->headers[i];
            if (h->name.len != 25 || strncasecmp(h->name.base, "x-stream-protocol-version", 25))
                continue;
            const char *v = h->value.base, *e = v + h->value.len;
            while (v < e) {
                while (v < e && (*v == ' ' || *v == ','))
                    v++;
                const char *st = v;
                while (v < e && *v != ',' && *v != ' ')
                    v++;
                if ((size_t)(v - st) == pl && !memcmp(st, protos[p], pl))
                    pick = protos[p];
            }
        }
    }
    if (!pick) {
        rc_reply_status(req, 403, "Forbidden",
                        "unable to upgrade: unable to negotiate protocol: server supports %s%s",
                        protos[0], protos[1] ? " and older" : "");
        return -1;
    }
    *chosen = pick;
    bsn_http_req_add_header(req, "Connection", "Upgrade");
    bsn_http_req_add_header(req, "Upgrade", "SPDY/3.1");
    bsn_http_req_add_header(req, "X-Stream-Protocol-Version", pick);
    return bsn_http_req_upgrade(req, 101, up);
}

static void sess_start(struct rc_sess *s);

static void
spdy_deadline(struct bsn_loop *loop, void *data)
{
    struct rc_sess *s = data;
    BSN_UNUSED(loop);
    if (s->started)
        return;
    s->fail = bsn_strdup("timed out waiting for the client to create streams");
    sess_finish(s, 0);
}

static void
spdy_syn(void *ud, uint32_t sid, const struct bsn_spdy_header *h, size_t n, bool fin)
{
    struct rc_sess *s = ud;
    BSN_UNUSED(fin);
    static const char *const types[] = {"stdin", "stdout", "stderr", "error", "resize"};
    int ch = -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].name, "streamtype"))
            for (int k = 0; k < 5; k++)
                if (!strcmp(h[i].value, types[k]))
                    ch = k;
    struct bsn_buf f;
    bsn_buf_init(&f);
    if (ch < 0 || (s->have & (1u << ch))) {
        bsn_spdy_rst(&f, sid, BSN_SPDY_PROTOCOL_ERROR);
    } else {
        s->sid[ch] = sid;
        s->have |= 1u << ch;
        bsn_spdy_syn_reply(&s->sp, &f, sid, false);
    }
    rc_conn_send_raw(&s->conn, BSN_WS_BINARY, f.data, f.len);
    bsn_buf_fini(&f);
    if (!s->started && (s->have & s->want) == s->want)
        sess_start(s);
}

static void
spdy_data(void *ud, uint32_t sid, const char *data, size_t len, bool fin)
{
    struct rc_sess *s = ud;
    if ((s->have & (1u << BSN_RC_STDIN)) && sid == s->sid[BSN_RC_STDIN]) {
        struct bsn_rc_msg m = {
            .ev = BSN_RC_EV_DATA, .channel = BSN_RC_STDIN, .data = data, .len = len};
        if (len)
            on_msg(&m, s);
        if (fin) {
            m.ev = BSN_RC_EV_EOF;
            on_msg(&m, s);
        }
    } else if ((s->have & (1u << BSN_RC_RESIZE)) && sid == s->sid[BSN_RC_RESIZE]) {
        /* one JSON object per line */
        const char *p = data, *e = data + len;
        while (p < e) {
            const char *nl = memchr(p, '\n', (size_t)(e - p));
            size_t l = nl ? (size_t)(nl - p) : (size_t)(e - p);
            struct bsn_rc_msg m = {.ev = BSN_RC_EV_RESIZE};
            if (bsn_rc_parse_resize(p, l, &m.width, &m.height) == 0)
                on_msg(&m, s);
            p += l + 1;
        }
    }
}

static void
spdy_ping(void *ud, uint32_t id)
{
    struct rc_sess *s = ud;
    struct bsn_buf f;
    bsn_buf_init(&f);
    bsn_spdy_ping(&f, id);
    rc_conn_send_raw(&s->conn, BSN_WS_BINARY, f.data, f.len);
    bsn_buf_fini(&f);
}

static void
spdy_goaway(void *ud)
{
    struct rc_sess *s = ud;
    rc_conn_finish(&s->conn, BSN_WS_CLOSE_NORMAL, "");
}

static const struct bsn_spdy_cbs sess_spdy_cbs = {spdy_syn, spdy_data, NULL, spdy_ping,
                                                  spdy_goaway};

static void
spdy_in(struct rc_sess *s, const char *data, size_t len)
{
    if (s->spin.len + len > BSN_SPDY_MAX_FRAME + RC_IN_MAX) {
        rc_conn_finish(&s->conn, BSN_WS_CLOSE_TOO_BIG, "");
        return;
    }
    bsn_buf_append(&s->spin, data, len);
    long used = bsn_spdy_parse(&s->sp, s->spin.data, s->spin.len);
    if (used < 0) {
        bsn_warn("agent", "exec %s: %s", s->key, s->sp.err);
        rc_conn_finish(&s->conn, BSN_WS_CLOSE_PROTOCOL, "");
        return;
    }
    if (s->conn.fd >= 0)
        bsn_buf_consume(&s->spin, (size_t)used);
}

/* Starts the exec'd process or the attach (WebSocket: at once; SPDY: once the streams exist). */
static void
sess_start(struct rc_sess *s)
{
    s->started = true;
    bsn_timer_stop(s->a->loop, &s->watch);
    if (s->kind == K_EXEC) {
        exec_start(s);
        return;
    }
    struct agent_pod *p = bsn_map_get(&s->a->pods, s->key);
    for (size_t i = 0; p && i < p->nctrs; i++)
        if (!strcmp(p->ctrs[i].name, s->ctr_name)) {
            attach_start(s, p, &p->ctrs[i]);
            return;
        }
    s->fail = bsn_strdup("the container is gone");
    sess_finish(s, 0);
}

/* ---------------------------------------------------------------- entry point */

static const char *const exec_protocols[] = {"v5.channel.k8s.io", "v4.channel.k8s.io",
                                             "v3.channel.k8s.io", "v2.channel.k8s.io",
                                             "channel.k8s.io",    NULL};

static bool
header_has(struct bsn_http_req *req, const char *name, const char *token)
{
    const char *v = bsn_http_req_header(req, name);
    return v && strcasestr(v, token);
}

void
bsn_agent_stream_serve(struct bsn_agent *a, struct bsn_http_req *req, const char *sub,
                       const char *ns, const char *pod)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, pod);
    struct agent_pod *p = bsn_map_get(&a->pods, key);
    if (!p || p->gone) {
        rc_reply_status(req, 404, "NotFound", "pod \"%s\" not found on node %s", pod, a->node);
        return;
    }
    bool ws = header_has(req, "upgrade", "websocket");
    if (!ws && !header_has(req, "upgrade", "SPDY/3.1")) {
        rc_reply_status(req, 400, "BadRequest", "Upgrade request required");
        return;
    }
    if (!strcmp(sub, "portforward")) {
        rc_portforward(a, req, p);
        return;
    }
    bool is_exec = !strcmp(sub, "exec");
    if (!is_exec && strcmp(sub, "attach") != 0) {
        rc_reply_status(req, 404, "NotFound", "pods/%s is not served by the node agent", sub);
        return;
    }
    struct bsn_rc_opts o;
    char why[256];
    if (bsn_rc_opts_parse(req->query, &o, why, sizeof(why)) < 0) {
        rc_reply_status(req, 400, "BadRequest", "%s", why);
        return;
    }
    struct agent_ctr *c = NULL;
    if (!o.container[0]) {
        if (p->nctrs > p->ninit)
            c = &p->ctrs[p->ninit];
    } else {
        for (size_t i = 0; i < p->nctrs; i++)
            if (!strcmp(p->ctrs[i].name, o.container))
                c = &p->ctrs[i];
    }
    const char *err = NULL;
    if (!c)
        err = "container %s is not valid for pod %s";
    else if (c->st != CT_RUNNING || !c->id[0])
        err = "container %s is not running in pod %s";
    else if (is_exec && !o.ncommand)
        err = "you must specify at least 1 command";
    else if (!o.in && !o.out && !o.err)
        err = "you must specify at least 1 of stdin, stdout, stderr";
    if (err) {
        rc_reply_status(req, 400, "BadRequest", err, c ? c->name : o.container, pod);
        bsn_rc_opts_fini(&o);
        return;
    }
    if (o.tty)
        o.err = false; /* a terminal has one output stream */
    const char *chosen = NULL;
    struct bsn_http_upgraded up;
    if ((ws ? bsn_ws_server_accept(req, exec_protocols, &chosen, &up)
            : rc_spdy_accept(req, spdy_exec_protocols, &chosen, &up)) < 0) {
        bsn_rc_opts_fini(&o);
        return;
    }
    struct rc_sess *s = bsn_calloc(1, sizeof(*s));
    s->a = a;
    s->kind = is_exec ? K_EXEC : K_ATTACH;
    s->o = o;
    s->in_fd = s->out_fd = s->err_fd = -1;
    snprintf(s->key, sizeof(s->key), "%s", key);
    snprintf(s->ctr_name, sizeof(s->ctr_name), "%s", c->name);
    snprintf(s->ctr_id, sizeof(s->ctr_id), "%s", c->id);
    bsn_buf_init(&s->stdin_buf);
    bsn_buf_init(&s->carry);
    bsn_timer_init(&s->drain);
    bsn_timer_init(&s->poll);
    bsn_timer_init(&s->watch);
    sess_link(s);
    if (rc_conn_init(&s->conn, a->loop, &up, bsn_rc_version(chosen), BSN_RC_MODE_EXEC, &sess_ops,
                     s) < 0) {
        rc_conn_close(&s->conn);
        sess_maybe_free(s);
        return;
    }
    bsn_debug("agent", "%s %s -c %s (%s%s)", is_exec ? "exec" : "attach", key, c->name,
              ws ? "" : "SPDY ", chosen ? chosen : "v1");
    if (ws) {
        sess_start(s);
    } else {
        /* the process starts once the client opened every stream it asked for */
        s->conn.plain = true;
        s->spdy = true;
        bsn_spdy_init(&s->sp, &sess_spdy_cbs, s);
        bsn_buf_init(&s->spin);
        int v = bsn_rc_version(chosen);
        bsn_timer_start(a->loop, &s->watch, 30000, spdy_deadline, s);
        s->want = (v >= 2 ? 1u << BSN_RC_ERROR : 0) | (o.in ? 1u << BSN_RC_STDIN : 0) |
                  (o.out ? 1u << BSN_RC_STDOUT : 0) | (o.err ? 1u << BSN_RC_STDERR : 0) |
                  (o.tty && v >= 3 ? 1u << BSN_RC_RESIZE : 0);
    }
    /* bytes that came with the upgrade request (TLS: maybe inside the SSL object) */
    if (!s->freeing && s->conn.fd >= 0)
        rc_conn_resume(&s->conn);
}

/* ---------------------------------------------------------------- embedding */

static void
stream_handler(struct bsn_api_reply *r, const char *ns, const char *pod, const char *sub,
               void *data)
{
    /* ns, pod and sub live in r, which the hand-over frees */
    char nsb[254], podb[254], subb[32];
    snprintf(nsb, sizeof(nsb), "%s", ns);
    snprintf(podb, sizeof(podb), "%s", pod);
    snprintf(subb, sizeof(subb), "%s", sub);
    struct bsn_http_req *req = bsn_api_reply_take_http_req(r);
    if (!req) {
        bsn_api_reply_error(r, 400, "BadRequest",
                            "streaming subresources need an HTTP connection to upgrade");
        return;
    }
    bsn_agent_stream_serve(data, req, subb, nsb, podb);
}

void
agent_exec_register(struct bsn_agent *a)
{
    bsn_apiserver_set_pod_handler(a->api, "exec", stream_handler, a);
    bsn_apiserver_set_pod_handler(a->api, "attach", stream_handler, a);
    bsn_apiserver_set_pod_handler(a->api, "portforward", stream_handler, a);
}

void
agent_exec_close_all(struct bsn_agent *a)
{
    while (a->streams) {
        struct rc_sess *s = a->streams;
        if (s->running) {
            kill_process(s);
            bsn_loop_unwatch_child(a->loop, &s->child);
            waitpid(s->pid, NULL, 0);
            s->running = false;
            if (s->pid_file[0])
                unlink(s->pid_file);
        }
        s->freeing = true;
        sess_release(s);
        sess_free_cb(a->loop, s);
    }
    rc_portforward_close_all(a);
}
