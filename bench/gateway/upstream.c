/*
 * upstream.c - a tiny, fast HTTP/1.1 origin server for the gateway benchmark and the gateway
 * integration tests. Stand-alone on purpose (no Bosun code): the same upstream serves nginx,
 * HAProxy and Bosun in bench/gateway/run.sh.
 *
 *   upstream -p PORT [-a ADDR] [-t THREADS] [-n NAME] [-s SIZE] [-e STATUS]
 *
 * Every request gets 200 with a SIZE-byte body (default 13: "hello world\n" padded), except:
 *   /status/NNN     answers status NNN
 *   /name           body is NAME + "\n" (which replica served the request)
 *   /echo           body lists the request line and headers as received
 *   /chunked        a chunked response of three chunks
 *   /close          a close-delimited response (no Content-Length)
 *   /sleep/MS       waits MS milliseconds (blocking this thread) before answering
 *   /gzip-text      a 4 KiB compressible text body
 *   /ws             with "Upgrade: websocket": 101, then echoes every byte (a tunnel check)
 * With -e STATUS every request is answered with STATUS (a failing replica).
 * Request bodies (Content-Length or chunked) are read and counted: the response carries
 * X-Body-Bytes. Keep-alive and pipelining are supported.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

struct conn {
    int fd;
    int echo;            /* after a /ws upgrade: echo every byte back */
    size_t discard_left; /* bytes of a large Content-Length body still to read */
    size_t discard_total;
    size_t len;
    char buf[BUF];
};

static const char *name = "upstream";
static int fail_status; /* -e: answer every request with this status */
static size_t body_size = 13;
static char *body;
static struct sockaddr_in addr;

static int
listen_sock(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4096) < 0) {
        perror("upstream: bind/listen");
        exit(1);
    }
    return fd;
}

static void
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static const char *
find_header(const char *head, size_t hlen, const char *name_, size_t *vlen)
{
    size_t nl = strlen(name_);
    const char *p = memchr(head, '\n', hlen);
    const char *end = head + hlen;
    while (p && p + 1 < end) {
        p++;
        if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name_, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = memchr(v, '\r', (size_t)(end - v));
            *vlen = e ? (size_t)(e - v) : 0;
            return v;
        }
        p = memchr(p, '\n', (size_t)(end - p));
    }
    return NULL;
}

/* Length of a complete chunked body at p, or -1 if incomplete, -2 if malformed. */
static long
chunked_len(const char *p, size_t n, size_t *payload)
{
    size_t off = 0;
    *payload = 0;
    for (;;) {
        const char *crlf = memmem(p + off, n - off, "\r\n", 2);
        if (!crlf)
            return -1;
        char *end;
        unsigned long sz = strtoul(p + off, &end, 16);
        if (end == p + off)
            return -2;
        off = (size_t)(crlf - p) + 2;
        if (sz == 0) {
            /* trailers until an empty line */
            for (;;) {
                const char *e = memmem(p + off, n - off, "\r\n", 2);
                if (!e)
                    return -1;
                size_t l = (size_t)(e - (p + off));
                off += l + 2;
                if (l == 0)
                    return (long)off;
            }
        }
        if (n - off < sz + 2)
            return -1;
        off += sz + 2;
        *payload += sz;
    }
}

/* Handles complete requests in c->buf; returns -1 to close. */
static int
serve(struct conn *c)
{
    for (;;) {
        char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!hend)
            return c->len == BUF ? -1 : 0;
        size_t hlen = (size_t)(hend - c->buf) + 4;
        size_t vl;
        const char *cl = find_header(c->buf, hlen, "content-length", &vl);
        const char *te = find_header(c->buf, hlen, "transfer-encoding", &vl);
        size_t blen = 0, payload = 0;
        if (te) {
            long r = chunked_len(c->buf + hlen, c->len - hlen, &payload);
            if (r == -2)
                return -1;
            if (r == -1)
                return c->len == BUF ? -1 : 0;
            blen = (size_t)r;
        } else if (cl) {
            blen = payload = strtoul(cl, NULL, 10);
            if (hlen + blen > BUF) { /* large body: count it as it streams in, then answer */
                c->discard_total = blen;
                c->discard_left = blen - (c->len - hlen);
                c->len = 0;
                return 0;
            }
            if (c->len < hlen + blen)
                return 0;
        }

        int close_after =
            find_header(c->buf, hlen, "connection", &vl) &&
            strncasecmp(find_header(c->buf, hlen, "connection", &vl), "close", 5) == 0;
        const char *sp = memchr(c->buf, ' ', hlen);
        const char *path = sp ? sp + 1 : "/";
        /* the test endpoints may sit under any prefix: /a/b/name works like /name */
        const char *pend = memchr(path, ' ', hlen - (size_t)(path - c->buf));
        static const char *const kw[] = {"/status/",   "/name",    "/echo",  "/sleep/",
                                         "/gzip-text", "/chunked", "/close", "/ws"};
        for (size_t k = 0; pend && k < sizeof(kw) / sizeof(kw[0]); k++) {
            const char *hit = memmem(path, (size_t)(pend - path), kw[k], strlen(kw[k]));
            if (hit) {
                path = hit;
                break;
            }
        }

        int is_head = strncmp(c->buf, "HEAD ", 5) == 0;
        char hdr[512];
        int status = 200;
        const char *b = body;
        size_t bl = body_size;
        char tmp[8192];
        if (fail_status) {
            status = fail_status;
        } else if (strncmp(path, "/ws", 3) == 0 && find_header(c->buf, hlen, "upgrade", &vl)) {
            static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                     "Upgrade: websocket\r\n\r\n";
            send_all(c->fd, sw, sizeof(sw) - 1);
            c->echo = 1;
            memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
            c->len -= hlen + blen;
            if (c->len)
                send_all(c->fd, c->buf, c->len);
            c->len = 0;
            return 0;
        } else if (strncmp(path, "/status/", 8) == 0) {
            status = atoi(path + 8);
            if (status < 100 || status > 999)
                status = 500;
        } else if (strncmp(path, "/name", 5) == 0) {
            bl = (size_t)snprintf(tmp, sizeof(tmp), "%s\n", name);
            b = tmp;
        } else if (strncmp(path, "/echo", 5) == 0) {
            bl = hlen < sizeof(tmp) ? hlen : sizeof(tmp);
            memcpy(tmp, c->buf, bl);
            b = tmp;
        } else if (strncmp(path, "/sleep/", 7) == 0) {
            struct timespec ts = {0, 0};
            long ms = atol(path + 7);
            ts.tv_sec = ms / 1000;
            ts.tv_nsec = (ms % 1000) * 1000000;
            nanosleep(&ts, NULL);
        } else if (strncmp(path, "/gzip-text", 10) == 0) {
            bl = 0;
            while (bl + 64 < sizeof(tmp) && bl < 4096)
                bl += (size_t)snprintf(tmp + bl, sizeof(tmp) - bl,
                                       "the quick brown fox jumps over the lazy dog %04zu\n", bl);
            b = tmp;
        } else if (strncmp(path, "/chunked", 8) == 0) {
            int n = snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Upstream: %s\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n",
                             name);
            send_all(c->fd, hdr, (size_t)n);
            if (!is_head)
                send_all(c->fd, "6\r\nhello \r\n6\r\nchunky\r\n1\r\n\n\r\n0\r\n\r\n", 35);
            goto next;
        } else if (strncmp(path, "/close", 6) == 0) {
            int n = snprintf(hdr, sizeof(hdr),
                             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                             "\r\nclose-delimited body\n");
            send_all(c->fd, hdr, (size_t)n);
            return -1;
        }
        (void)0;
        int n = snprintf(hdr, sizeof(hdr),
                         "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nX-Upstream: %s\r\n"
                         "X-Body-Bytes: %zu\r\nContent-Length: %zu\r\n%s\r\n",
                         status, name, payload, (status == 204 || status == 304) ? 0 : bl,
                         close_after ? "Connection: close\r\n" : "");
        if (status == 204 || status == 304 || is_head) {
            send_all(c->fd, hdr, (size_t)n);
        } else if ((size_t)n + bl <= sizeof(tmp) && b != tmp) {
            char out[sizeof(tmp) + 512];
            memcpy(out, hdr, (size_t)n);
            memcpy(out + n, b, bl);
            send_all(c->fd, out, (size_t)n + bl);
        } else {
            send_all(c->fd, hdr, (size_t)n);
            send_all(c->fd, b, bl);
        }
    next:
        memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
        c->len -= hlen + blen;
        if (close_after)
            return -1;
    }
}

static void *
worker(void *arg)
{
    (void)arg;
    int lfd = listen_sock();
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    c = calloc(1, sizeof(*c));
                    c->fd = fd;
                    struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
                }
                continue;
            }
            ssize_t r = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r > 0 && c->discard_left) {
                size_t take = (size_t)r < c->discard_left ? (size_t)r : c->discard_left;
                c->discard_left -= take;
                if (c->discard_left == 0) {
                    char hdr[256];
                    int hn = snprintf(hdr, sizeof(hdr),
                                      "HTTP/1.1 200 X\r\nX-Upstream: %s\r\nX-Body-Bytes: %zu\r\n"
                                      "Content-Length: 3\r\n\r\nok\n",
                                      name, c->discard_total);
                    send_all(c->fd, hdr, (size_t)hn);
                }
                memmove(c->buf, c->buf + take, (size_t)r - take);
                r -= (ssize_t)take;
                if (r == 0)
                    continue;
            }
            if (r > 0 && c->echo) {
                send_all(c->fd, c->buf, (size_t)r);
                continue;
            }
            if (r <= 0 || (c->len += (size_t)r, serve(c) < 0)) {
                close(c->fd);
                free(c);
            }
        }
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    int threads = 1, port = 0;
    const char *a = "127.0.0.1";
    int opt;
    while ((opt = getopt(argc, argv, "p:a:t:n:s:e:")) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'a':
            a = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'n':
            name = optarg;
            break;
        case 's':
            body_size = (size_t)atol(optarg);
            break;
        case 'e':
            fail_status = atoi(optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: upstream -p PORT [-a ADDR] [-t N] [-n NAME] [-s SIZE] [-e STATUS]\n");
            return 2;
        }
    }
    if (port <= 0 || threads < 1 || body_size > (1u << 20)) {
        fprintf(stderr,
                "usage: upstream -p PORT [-a ADDR] [-t N] [-n NAME] [-s SIZE] [-e STATUS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    body = malloc(body_size + 1);
    const char *hello = "hello world\n";
    for (size_t i = 0; i < body_size; i++)
        body[i] = i < 12 ? hello[i] : 'x';
    if (body_size >= 1)
        body[body_size - 1] = '\n';
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, a, &addr.sin_addr);
    pthread_t t;
    for (int i = 1; i < threads; i++)
        pthread_create(&t, NULL, worker, NULL);
    worker(NULL);
    return 0;
}
