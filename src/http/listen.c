/*
 * listen.c - server sockets: address parsing, listen, accept, server new/free, and the
 * query-string helpers of server.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/addr_int.h"
#include "http/io_int.h"
#include "http/server_int.h"

int
bsn_http_split_hostport(const char *s, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl >= hostsz || strlen(colon + 1) >= portsz || !colon[1])
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    strcpy(port, colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return 0;
}

int
bsn_http_resolve(const char *host, const char *port, bool passive, struct sockaddr_storage *ss,
                 socklen_t *sslen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0 || !res)
        return -1;
    /* a peer's name: its IPv4 address first. The cluster is IPv4 and services listen on
     * 0.0.0.0, while "localhost" resolves to ::1 first on hosts whose /etc/hosts lists it, and
     * a connect goes to one address only. */
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; !passive && a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    *sslen = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int
bsn_http_unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *sslen)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    if (strlen(path) >= sizeof(un->sun_path))
        return -1;
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    *sslen = (socklen_t)sizeof(*un);
    return 0;
}

static void
on_accept(struct bsn_loop *loop, int lfd, unsigned events, void *data)
{
    struct bsn_http_server *srv = data;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                bsn_warn("http", "accept: %s", strerror(errno));
            return;
        }
        if (srv->nconns >= srv->max_conns) {
            close(fd);
            continue;
        }
        if (ss.ss_family != AF_UNIX) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        bsn_http_server_conn_new(srv, fd, (struct sockaddr *)&ss);
    }
}

static void
server_settings(struct bsn_http_server *srv, const struct bsn_http_server_opts *opts)
{
    if (opts->tls) {
        SSL_CTX_up_ref(opts->tls);
        srv->tls = opts->tls;
    }
    srv->max_body = opts->max_body ? opts->max_body : 3 * 1024 * 1024;
    srv->idle_timeout_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : 120000;
    srv->header_timeout_ms = opts->header_timeout_ms ? opts->header_timeout_ms : 10000;
    srv->max_stream_buffer = opts->max_stream_buffer ? opts->max_stream_buffer : 16u << 20;
    srv->max_conns = opts->max_conns ? opts->max_conns : 10000;
    srv->handler = opts->handler;
    srv->handler_data = opts->data;
}

struct bsn_http_server *
bsn_http_server_new(struct bsn_loop *loop, const struct bsn_http_server_opts *opts,
                    struct bsn_err *err)
{
    if (!opts->handler) {
        bsn_err_set(err, 500, "InternalError", "http server: handler needed");
        return NULL;
    }
    bsn_io_ignore_sigpipe();
    if (!opts->listen) {
        /* no listener: serves only connections handed over by bsn_http_server_adopt_tls() */
        struct bsn_http_server *srv = bsn_calloc(1, sizeof(*srv));
        srv->loop = loop;
        srv->lfd = -1;
        server_settings(srv, opts);
        return srv;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *unix_path = NULL;
    if (strncmp(opts->listen, "unix:", 5) == 0) {
        unix_path = opts->listen + 5;
        if (bsn_http_unix_addr(unix_path, &ss, &sl) < 0) {
            bsn_err_set(err, 500, "InternalError", "http server: unix path too long: %s",
                        unix_path);
            return NULL;
        }
    } else {
        char host[256], port[16];
        if (bsn_http_split_hostport(opts->listen, host, sizeof(host), port, sizeof(port)) < 0 ||
            bsn_http_resolve(host, port, true, &ss, &sl) < 0) {
            bsn_err_set(err, 500, "InternalError",
                        "http server: bad listen address \"%s\" (want host:port, [v6]:port or "
                        "unix:/path)",
                        opts->listen);
            return NULL;
        }
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        bsn_err_set(err, 500, "InternalError", "http server: socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    if (unix_path) {
        struct stat st;
        if (lstat(unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(unix_path);
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (opts->reuseport)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        if (ss.ss_family == AF_INET6) {
            int zero = 0; /* ":port" / "[::]:port" serve IPv4 too */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        }
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        listen(fd, opts->backlog > 0 ? opts->backlog : 1024) < 0) {
        bsn_err_set(err, 500, "InternalError", "http server: listen on %s: %s", opts->listen,
                    strerror(errno));
        close(fd);
        return NULL;
    }
    if (unix_path && opts->unix_mode && chmod(unix_path, (mode_t)opts->unix_mode) < 0) {
        bsn_err_set(err, 500, "InternalError", "http server: chmod %s: %s", unix_path,
                    strerror(errno));
        close(fd);
        unlink(unix_path);
        return NULL;
    }
    struct bsn_http_server *srv = bsn_calloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->lfd = fd;
    srv->unix_path = unix_path ? bsn_strdup(unix_path) : NULL;
    if (!unix_path) {
        struct sockaddr_storage bound;
        socklen_t bl = sizeof(bound);
        getsockname(fd, (struct sockaddr *)&bound, &bl);
        srv->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    server_settings(srv, opts);
    if (bsn_loop_add_fd(loop, fd, BSN_EV_READ, on_accept, srv) < 0) {
        bsn_err_set(err, 500, "InternalError", "http server: cannot watch listener");
        bsn_http_server_free(srv);
        return NULL;
    }
    return srv;
}

int
bsn_http_server_port(const struct bsn_http_server *srv)
{
    return srv->port;
}

size_t
bsn_http_server_conns(const struct bsn_http_server *srv)
{
    return srv->nconns;
}

void
bsn_http_server_shutdown(struct bsn_http_server *srv)
{
    if (srv->draining)
        return;
    srv->draining = true;
    if (srv->lfd >= 0) {
        bsn_loop_del_fd(srv->loop, srv->lfd);
        close(srv->lfd);
    }
    srv->lfd = -1;
    if (srv->unix_path)
        unlink(srv->unix_path);
    bsn_http_server_drain_conns(srv);
}

void
bsn_http_server_free(struct bsn_http_server *srv)
{
    if (!srv)
        return;
    if (srv->lfd >= 0) {
        bsn_loop_del_fd(srv->loop, srv->lfd);
        close(srv->lfd);
    }
    bsn_http_server_close_all(srv);
    if (srv->unix_path) {
        unlink(srv->unix_path);
        free(srv->unix_path);
    }
    if (srv->tls)
        SSL_CTX_free(srv->tls);
    free(srv);
}

/* ---- query strings ---- */

static int
hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
bsn_http_percent_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t outsize)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexv(s[i + 1]), lo = hexv(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 >= outsize)
            return -1;
        out[o++] = c;
    }
    if (outsize == 0)
        return -1;
    out[o] = 0;
    return (int)o;
}

int
bsn_http_query_get(const struct bsn_http_req *req, const char *key, char *buf, size_t bufsize)
{
    const char *p = req->query;
    size_t kl = strlen(key);
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t pl = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', pl);
        size_t nl = eq ? (size_t)(eq - p) : pl;
        char name[256];
        int dl = nl < sizeof(name) ? bsn_http_percent_decode(p, nl, true, name, sizeof(name)) : -1;
        if (dl >= 0 && (size_t)dl == kl && memcmp(name, key, kl) == 0) {
            if (!eq) {
                if (bufsize == 0)
                    return -2;
                buf[0] = 0;
                return 0;
            }
            int vl = bsn_http_percent_decode(eq + 1, pl - nl - 1, true, buf, bufsize);
            return vl < 0 ? -2 : vl;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return -1;
}
