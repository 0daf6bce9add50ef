/*
 * io.c - non-blocking plain/TLS read and write helpers (see io_int.h).
 */
#include "http/io_int.h"

#include <errno.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop/loop.h"

static ssize_t
ssl_result(SSL *ssl, int r, unsigned *want)
{
    int e = SSL_get_error(ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = BSN_EV_READ;
        return BSN_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = BSN_EV_WRITE;
        return BSN_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        return BSN_IO_ERR;
    }
}

ssize_t
bsn_io_read(int fd, SSL *ssl, char *buf, size_t n, unsigned *want)
{
    if (ssl) {
        size_t got = 0;
        ERR_clear_error();
        int r = SSL_read_ex(ssl, buf, n, &got);
        if (r > 0)
            return (ssize_t)got;
        return ssl_result(ssl, 0, want);
    }
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *want = BSN_EV_READ;
            return BSN_IO_AGAIN;
        }
        return BSN_IO_ERR;
    }
}

ssize_t
bsn_io_write(int fd, SSL *ssl, const char *buf, size_t n, unsigned *want)
{
    if (n == 0)
        return 0;
    if (ssl) {
        size_t put = 0;
        ERR_clear_error();
        int r = SSL_write_ex(ssl, buf, n, &put);
        if (r > 0)
            return (ssize_t)put;
        ssize_t rc = ssl_result(ssl, 0, want);
        return rc == 0 ? BSN_IO_ERR : rc;
    }
    for (;;) {
        ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *want = BSN_EV_WRITE;
            return BSN_IO_AGAIN;
        }
        return BSN_IO_ERR;
    }
}

int
bsn_io_handshake(SSL *ssl, unsigned *want)
{
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 0;
    ssize_t rc = ssl_result(ssl, r, want);
    return rc == BSN_IO_AGAIN ? BSN_IO_AGAIN : BSN_IO_ERR;
}

static void
ignore_sigpipe_once(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

void
bsn_io_ignore_sigpipe(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ignore_sigpipe_once);
}

void
bsn_http_date(char out[30])
{
    static __thread time_t cached_t;
    static __thread char cached[30];
    time_t now = time(NULL);
    if (now != cached_t) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_t = now;
    }
    memcpy(out, cached, 30);
}
