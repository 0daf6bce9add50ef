/*
 * probe.c - startup, liveness and readiness probes: exec (through the runtime, in the
 * container), tcpSocket (a connect) and httpGet (GET with the probe's headers; 200-399 is a
 * success) and grpc (grpc.health.v1.Health/Check over h2c, grpc.c: SERVING is a success), with
 * initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and
 * failureThreshold. Liveness and readiness wait for the startup probe to succeed.
 *
 * Each probe has at most one attempt in flight: a non-blocking socket or an exec child on the
 * loop plus a deadline timer. Stopping a probe cancels the attempt synchronously.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/grpc.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/json.h"

#define PROBE_BODY_MAX (64u << 10) /* bytes of an httpGet answer read before judging */

static const char *const probe_field[PROBE_KINDS] = {"startupProbe", "livenessProbe",
                                                     "readinessProbe"};

static void probe_tick(struct bsn_loop *loop, void *data);

/* The probe's spec, looked up each time: the pod object is replaced on every update. */
static json_t *
pspec(const struct agent_probe *pr)
{
    return json_object_get(pr->ctr->spec, probe_field[pr->kind]);
}

static int64_t
pint(const struct agent_probe *pr, const char *f, int64_t def)
{
    json_t *v = json_object_get(pspec(pr), f);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static void
cancel_attempt(struct agent_probe *pr)
{
    if (!pr->running)
        return;
    struct bsn_loop *loop = pr->ctr->pod->a->loop;
    pr->running = false;
    bsn_timer_stop(loop, &pr->deadline);
    if (pr->fd >= 0) {
        bsn_loop_del_fd(loop, pr->fd);
        close(pr->fd);
        pr->fd = -1;
    }
    if (pr->grpc) {
        bsn_grpc_check_cancel(pr->grpc);
        pr->grpc = NULL;
    }
    if (pr->pid > 0) {
        bsn_loop_unwatch_child(loop, &pr->child);
        kill(pr->pid, SIGKILL);
        waitpid(pr->pid, NULL, 0);
        pr->pid = 0;
    }
}

static void
finish(struct agent_probe *pr, bool ok)
{
    struct agent_ctr *c = pr->ctr;
    struct bsn_loop *loop = c->pod->a->loop;
    cancel_attempt(pr);
    bool changed = bsn_probe_record(&pr->counter, ok, (int)pint(pr, "successThreshold", 1),
                                    (int)pint(pr, "failureThreshold", 3));
    if (!(pr->kind == PROBE_STARTUP && pr->counter.result == BSN_PROBE_SUCCESS))
        bsn_timer_start(loop, &pr->timer, (uint64_t)pint(pr, "periodSeconds", 10) * 1000,
                        probe_tick, pr);
    if (changed)
        agent_probe_changed(c, pr->kind, pr->counter.result); /* may stop this probe */
}

static void
deadline_cb(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    finish(data, false);
}

static void
exec_done(struct bsn_loop *loop, pid_t pid, int wstatus, void *data)
{
    BSN_UNUSED(loop);
    BSN_UNUSED(pid);
    struct agent_probe *pr = data;
    pr->pid = 0; /* reaped */
    finish(pr, WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
}

static bool
http_status_ok(const char *buf, size_t n)
{
    /* "HTTP/1.1 200 ..." */
    if (n < 12 || strncmp(buf, "HTTP/1.", 7))
        return false;
    int code = atoi(buf + 9);
    return code >= 200 && code < 400;
}

static void
sock_cb(struct bsn_loop *loop, int fd, unsigned events, void *data)
{
    struct agent_probe *pr = data;
    bool http = json_object_get(pspec(pr), "httpGet") != NULL;
    if (pr->reqoff == 0 && pr->buflen == 0 && (events & (BSN_EV_WRITE | BSN_EV_ERROR))) {
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e != 0) {
            finish(pr, false);
            return;
        }
        if (!http) {
            finish(pr, true);
            return;
        }
    }
    if (pr->reqoff < pr->reqlen) {
        ssize_t w = send(fd, pr->req + pr->reqoff, pr->reqlen - pr->reqoff, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
            finish(pr, false);
            return;
        }
        if (w > 0)
            pr->reqoff += (size_t)w;
        if (pr->reqoff == pr->reqlen)
            bsn_loop_mod_fd(loop, fd, BSN_EV_READ);
        return;
    }
    /* read the whole (capped) answer: closing early makes servers log broken pipes */
    char sink[4096];
    bool room = pr->buflen < sizeof(pr->buf);
    ssize_t r = room ? recv(fd, pr->buf + pr->buflen, sizeof(pr->buf) - pr->buflen, 0)
                     : recv(fd, sink, sizeof(sink), 0);
    if (r < 0 && errno == EAGAIN)
        return;
    if (r > 0 && room)
        pr->buflen += (size_t)r;
    if (r > 0)
        pr->reqoff += (size_t)r; /* bytes received so far, past the request */
    if (r <= 0 || pr->reqoff - pr->reqlen > PROBE_BODY_MAX)
        finish(pr, http_status_ok(pr->buf, pr->buflen));
}

int
agent_ctr_port(struct agent_ctr *c, json_t *port)
{
    if (json_is_integer(port))
        return (int)json_integer_value(port);
    const char *name = json_string_value(port);
    if (!name)
        return -1;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(c->spec, "ports"), i, p)
    {
        if (!strcmp(json_string_value(json_object_get(p, "name")) ?: "", name))
            return (int)json_integer_value(json_object_get(p, "containerPort"));
    }
    return atoi(name) > 0 ? atoi(name) : -1;
}

static int
start_connect(struct agent_probe *pr, json_t *action)
{
    struct agent_ctr *c = pr->ctr;
    int port = agent_ctr_port(c, json_object_get(action, "port"));
    const char *host = json_string_value(json_object_get(action, "host"));
    if (!host || !*host)
        host = c->pod->ip[0] ? c->pod->ip : "127.0.0.1";
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    pr->fd = fd;
    pr->buflen = pr->reqoff = pr->reqlen = 0;
    if (json_object_get(pspec(pr), "httpGet")) {
        const char *path = json_string_value(json_object_get(action, "path")) ?: "/";
        int n = snprintf(pr->req, sizeof(pr->req),
                         "GET %s%s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: kube-probe/1.32\r\n"
                         "Accept: */*\r\nConnection: close\r\n",
                         path[0] == '/' ? "" : "/", path, host, port);
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(action, "httpHeaders"), i, h)
        {
            if (n > 0 && (size_t)n < sizeof(pr->req))
                n += snprintf(pr->req + n, sizeof(pr->req) - (size_t)n, "%s: %s\r\n",
                              json_string_value(json_object_get(h, "name")) ?: "X",
                              json_string_value(json_object_get(h, "value")) ?: "");
        }
        if (n > 0 && (size_t)n < sizeof(pr->req))
            n += snprintf(pr->req + n, sizeof(pr->req) - (size_t)n, "\r\n");
        if (n <= 0 || (size_t)n >= sizeof(pr->req)) {
            close(fd);
            pr->fd = -1;
            return -1;
        }
        pr->reqlen = (size_t)n;
    }
    bsn_loop_add_fd(c->pod->a->loop, fd, BSN_EV_WRITE, sock_cb, pr);
    return 0;
}

static int
start_exec(struct agent_probe *pr, json_t *action)
{
    struct agent_ctr *c = pr->ctr;
    json_t *cmd = json_object_get(action, "command");
    size_t n = json_array_size(cmd);
    if (!n || !c->id[0])
        return -1;
    const char **argv = bsn_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        argv[i] = json_string_value(json_array_get(cmd, i)) ?: "";
    struct bsn_exec_config cfg = {.argv = argv, .fd_in = -1, .fd_out = -1, .fd_err = -1};
    struct bsn_err err;
    pid_t pid;
    int rc = bsn_runtime_exec(c->pod->a->rt, c->id, &cfg, &pid, &err);
    free(argv);
    if (rc < 0)
        return -1;
    pr->pid = pid;
    bsn_loop_watch_child(c->pod->a->loop, &pr->child, pid, exec_done, pr);
    return 0;
}

static void
grpc_done(int ok, const char *msg, void *data)
{
    struct agent_probe *pr = data;
    pr->grpc = NULL; /* freed by the call */
    if (!ok)
        bsn_debug("agent", "%s probe of %s/%s failed: %s",
                  pr->kind == PROBE_STARTUP    ? "startup"
                  : pr->kind == PROBE_LIVENESS ? "liveness"
                                               : "readiness",
                  pr->ctr->pod->name, pr->ctr->name, msg);
    finish(pr, ok);
}

/* grpc: grpc.health.v1.Health/Check on the pod IP and port, optional service name. */
static int
start_grpc(struct agent_probe *pr, json_t *action)
{
    struct agent_ctr *c = pr->ctr;
    json_t *port = json_object_get(action, "port");
    const char *service = json_string_value(json_object_get(action, "service"));
    const char *host = c->pod->ip[0] ? c->pod->ip : "127.0.0.1";
    if (!json_is_integer(port))
        return -1;
    pr->grpc = bsn_grpc_check(c->pod->a->loop, host, (int)json_integer_value(port), service,
                              (unsigned)pint(pr, "timeoutSeconds", 1) * 1000, grpc_done, pr);
    return pr->grpc ? 0 : -1;
}

static void
probe_tick(struct bsn_loop *loop, void *data)
{
    struct agent_probe *pr = data;
    struct agent_ctr *c = pr->ctr;
    if (c->st != CT_RUNNING)
        return;
    if (pr->kind != PROBE_STARTUP && !c->started) {
        /* liveness and readiness begin once the startup probe succeeded */
        bsn_timer_start(loop, &pr->timer, (uint64_t)pint(pr, "periodSeconds", 10) * 1000,
                        probe_tick, pr);
        return;
    }
    pr->running = true;
    pr->fd = -1;
    pr->pid = 0;
    int rc;
    json_t *action;
    if ((action = json_object_get(pspec(pr), "exec")))
        rc = start_exec(pr, action);
    else if ((action = json_object_get(pspec(pr), "httpGet")) ||
             (action = json_object_get(pspec(pr), "tcpSocket")))
        rc = start_connect(pr, action);
    else if ((action = json_object_get(pspec(pr), "grpc")))
        rc = start_grpc(pr, action);
    else
        rc = -1;
    if (rc < 0) {
        finish(pr, false);
        return;
    }
    bsn_timer_start(loop, &pr->deadline, (uint64_t)pint(pr, "timeoutSeconds", 1) * 1000,
                    deadline_cb, pr);
}

void
agent_probes_start(struct agent_ctr *c)
{
    struct bsn_loop *loop = c->pod->a->loop;
    c->started = json_object_get(c->spec, "startupProbe") == NULL;
    c->ready = c->started && json_object_get(c->spec, "readinessProbe") == NULL;
    for (int k = 0; k < PROBE_KINDS; k++) {
        json_t *spec = json_object_get(c->spec, probe_field[k]);
        if (!json_is_object(spec))
            continue;
        struct agent_probe *pr = c->probes[k];
        if (!pr) {
            pr = c->probes[k] = bsn_calloc(1, sizeof(*pr));
            bsn_timer_init(&pr->timer);
            bsn_timer_init(&pr->deadline);
        }
        pr->ctr = c;
        pr->kind = (enum probe_kind)k;
        cancel_attempt(pr);
        pr->fd = -1;
        pr->counter = (struct bsn_probe_counter){0, 0, BSN_PROBE_UNKNOWN};
        bsn_timer_stop(loop, &pr->timer);
        bsn_timer_start(loop, &pr->timer, (uint64_t)pint(pr, "initialDelaySeconds", 0) * 1000,
                        probe_tick, pr);
    }
}

void
agent_probes_stop(struct agent_ctr *c)
{
    agent_hook_cancel(c);
    for (int k = 0; k < PROBE_KINDS; k++) {
        struct agent_probe *pr = c->probes[k];
        if (!pr)
            continue;
        cancel_attempt(pr);
        bsn_timer_stop(c->pod->a->loop, &pr->timer);
    }
}
