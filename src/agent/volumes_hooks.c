/*
 * volumes_hooks.c - httpGet lifecycle hooks (postStart / preStop), next to the exec hooks of
 * worker.c.
 *
 * A hook runs as a short-lived child process of the agent doing one blocking HTTP/1.1 GET, so
 * it fits the exec hooks' machinery unchanged: worker.c watches the pid, bounds it with the
 * grace-period timer and kills it on cancellation; exit status 0 is success. The request is
 * formatted before the fork; the child only makes system calls. As upstream, the host
 * defaults to the pod IP, the port is a number or a container port name, httpHeaders are
 * sent, and a 2xx/3xx answer is a success (the body is read and dropped, capped). `scheme:
 * HTTPS` is not supported: such a hook fails (and is logged).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "agent/agent_int.h"
#include "base/buf.h"
#include "base/mem.h"
#include "codec/json.h"

#define HOOK_REQ_MAX  4096
#define HOOK_BODY_MAX (64u << 10)

static void __attribute__((noreturn))
hook_child(const struct sockaddr_in *sin, const char *req, size_t reqlen)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    close_range(3, ~0U, 0); /* none of the agent's descriptors stay open in the hook */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
        _exit(2);
    for (size_t off = 0; off < reqlen;) {
        ssize_t w = write(fd, req + off, reqlen - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(2);
        off += (size_t)w;
    }
    char head[64];
    size_t hl = 0, total = 0;
    char sink[4096];
    for (;;) {
        ssize_t r = hl < sizeof(head) ? read(fd, head + hl, sizeof(head) - hl)
                                      : read(fd, sink, sizeof(sink));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (hl < sizeof(head))
            hl += (size_t)r;
        total += (size_t)r;
        if (total > HOOK_BODY_MAX)
            break;
    }
    /* "HTTP/1.1 200 ..." */
    if (hl < 12 || memcmp(head, "HTTP/1.", 7))
        _exit(1);
    int code = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
    _exit(code >= 200 && code < 400 ? 0 : 1);
}

int
agent_http_hook(struct agent_pod *p, struct agent_ctr *c, json_t *http, pid_t *pid,
                struct bsn_err *err)
{
    const char *scheme = json_string_value(json_object_get(http, "scheme")) ?: "HTTP";
    if (strcmp(scheme, "HTTP"))
        return bsn_err_set(err, 400, "Invalid", "httpGet hook: scheme %s is not supported", scheme);
    int port = agent_ctr_port(c, json_object_get(http, "port"));
    const char *host = json_string_value(json_object_get(http, "host"));
    if (!host || !*host)
        host = p->ip[0] ? p->ip : "127.0.0.1";
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return bsn_err_set(err, 400, "Invalid", "httpGet hook: bad host %s or port %d", host, port);
    const char *path = json_string_value(json_object_get(http, "path")) ?: "/";
    struct bsn_buf req;
    bsn_buf_init(&req);
    bsn_buf_printf(&req, "GET %s%s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: kube-lifecycle/1.32\r\n",
                   path[0] == '/' ? "" : "/", path, host, port);
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(http, "httpHeaders"), i, h)
    {
        const char *n = json_string_value(json_object_get(h, "name"));
        const char *v = json_string_value(json_object_get(h, "value"));
        if (n && v && !strpbrk(n, "\r\n:") && !strpbrk(v, "\r\n"))
            bsn_buf_printf(&req, "%s: %s\r\n", n, v);
    }
    bsn_buf_puts(&req, "Accept: */*\r\nConnection: close\r\n\r\n");
    if (req.len > HOOK_REQ_MAX) {
        bsn_buf_fini(&req);
        return bsn_err_set(err, 400, "Invalid", "httpGet hook: request too long");
    }
    pid_t child = fork();
    if (child < 0) {
        bsn_buf_fini(&req);
        return bsn_err_set(err, 500, "InternalError", "httpGet hook: fork: %s", strerror(errno));
    }
    if (child == 0)
        hook_child(&sin, req.data, req.len);
    bsn_buf_fini(&req);
    *pid = child;
    return 0;
}
