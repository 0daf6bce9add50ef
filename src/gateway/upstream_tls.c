/*
 * upstream_tls.c - TLS to upstreams (GatewayPolicy backendTLS).
 *
 * The proxy speaks plain HTTP/1.1 to its upstream connections. For a TLS backend it gets one
 * end of a socketpair instead of a TCP socket (connected at once, pooled and reused like any
 * upstream connection); this shim owns the other end and the real TCP connection: it connects,
 * does the TLS handshake (SNI and certificate name = backendTLS.hostname, verified against the
 * policy's CAs), and then pumps bytes both ways through OpenSSL with a 16 KiB buffer per
 * direction (a slow side stops the other: no unbounded buffering). Whatever goes wrong -
 * connect error, timeout (connect + handshake within the policy's connect timeout), failed
 * verification, a TLS error, the upstream closing - closes the socketpair, which the proxy sees
 * as an upstream reset (retried when the request allows it, else 502). Closing the proxy's end
 * (the pool dropping the connection) closes the TLS connection.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_conn.h"

#define SHIM_BUF 16384

enum shim_state { S_CONNECTING, S_HANDSHAKE, S_OPEN };

struct gw_tls_shim {
    struct gw_worker *w;
    struct gw_tls_shim *prev, *next; /* the worker's list, for shutdown */
    int tcp, pair;
    SSL *ssl;
    enum shim_state st;
    bool ssl_want_write, ssl_want_read_for_write, pair_eof;
    char name[64];
    struct bsn_timer timer;
    /* plaintext from the proxy, not yet written into TLS */
    char up[SHIM_BUF];
    size_t up_len;
    /* plaintext from the upstream, not yet written to the proxy */
    char down[SHIM_BUF];
    size_t down_len, down_off;
};

static void shim_io(struct bsn_loop *loop, int fd, unsigned ev, void *data);

static void
shim_free(struct gw_tls_shim *s)
{
    struct gw_worker *w = s->w;
    bsn_timer_stop(w->loop, &s->timer);
    if (s->ssl) {
        SSL_set_quiet_shutdown(s->ssl, 1);
        SSL_free(s->ssl);
    }
    bsn_loop_del_fd(w->loop, s->tcp);
    close(s->tcp);
    bsn_loop_del_fd(w->loop, s->pair);
    close(s->pair);
    if (s->prev)
        s->prev->next = s->next;
    else
        w->tls_shims = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

static void
shim_timeout(struct bsn_loop *loop, void *data)
{
    struct gw_tls_shim *s = data;
    bsn_warn("gateway", "TLS to upstream %s: %s timed out", s->name,
             s->st == S_CONNECTING ? "connect" : "handshake");
    shim_free(s);
}

static void
shim_interest(struct gw_tls_shim *s)
{
    unsigned te = 0, pe = 0;
    if (s->st == S_CONNECTING) {
        te = BSN_EV_WRITE;
    } else if (s->st == S_HANDSHAKE) {
        te = s->ssl_want_write ? BSN_EV_WRITE : BSN_EV_READ;
    } else {
        if (s->down_len == 0)
            te |= BSN_EV_READ; /* room for what the upstream sends */
        if (s->up_len > 0)
            te |= s->ssl_want_read_for_write ? BSN_EV_READ : BSN_EV_WRITE;
        if (s->up_len < SHIM_BUF && !s->pair_eof)
            pe |= BSN_EV_READ;
        if (s->down_len > s->down_off)
            pe |= BSN_EV_WRITE;
    }
    if (s->st != S_OPEN && !s->pair_eof && s->up_len < SHIM_BUF)
        pe |= BSN_EV_READ; /* the request may be queued before the handshake ends */
    bsn_loop_mod_fd(s->w->loop, s->tcp, te);
    bsn_loop_mod_fd(s->w->loop, s->pair, pe);
}

/* Moves bytes until nothing more can move. Returns -1 when the shim should close. */
static int
shim_pump(struct gw_tls_shim *s)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        bool progress = false;
        /* proxy -> buffer */
        if (s->up_len < SHIM_BUF && !s->pair_eof) {
            ssize_t n = recv(s->pair, s->up + s->up_len, SHIM_BUF - s->up_len, 0);
            if (n > 0) {
                s->up_len += (size_t)n;
                progress = true;
            } else if (n == 0) {
                s->pair_eof = true; /* the proxy dropped the connection */
                return -1;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (s->st != S_OPEN)
            return 0;
        /* buffer -> TLS */
        if (s->up_len > 0) {
            ERR_clear_error();
            int n = SSL_write(s->ssl, s->up, (int)s->up_len);
            s->ssl_want_read_for_write = false;
            if (n > 0) {
                memmove(s->up, s->up + n, s->up_len - (size_t)n);
                s->up_len -= (size_t)n;
                progress = true;
            } else {
                int e = SSL_get_error(s->ssl, n);
                if (e == SSL_ERROR_WANT_READ)
                    s->ssl_want_read_for_write = true;
                else if (e != SSL_ERROR_WANT_WRITE)
                    return -1;
            }
        }
        /* TLS -> buffer (also drains records OpenSSL already decrypted) */
        if (s->down_len == 0) {
            ERR_clear_error();
            int n = SSL_read(s->ssl, s->down, SHIM_BUF);
            if (n > 0) {
                s->down_len = (size_t)n;
                s->down_off = 0;
                progress = true;
            } else {
                int e = SSL_get_error(s->ssl, n);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    return -1; /* closed by the upstream, or a TLS error */
            }
        }
        /* buffer -> proxy */
        if (s->down_len > s->down_off) {
            ssize_t n =
                send(s->pair, s->down + s->down_off, s->down_len - s->down_off, MSG_NOSIGNAL);
            if (n > 0) {
                s->down_off += (size_t)n;
                if (s->down_off == s->down_len)
                    s->down_len = s->down_off = 0;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (!progress)
            return 0;
    }
    return 0;
}

static int
shim_handshake(struct gw_tls_shim *s)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(s->ssl);
    if (rc == 1) {
        s->st = S_OPEN;
        s->ssl_want_write = false;
        bsn_timer_stop(s->w->loop, &s->timer);
        return 0;
    }
    int e = SSL_get_error(s->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        s->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    long vr = SSL_get_verify_result(s->ssl);
    bsn_warn("gateway", "TLS to upstream %s: handshake failed%s%s", s->name,
             vr != X509_V_OK ? ": " : "", vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
    return -1;
}

static void
shim_io(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct gw_tls_shim *s = data;
    if (s->st == S_CONNECTING && fd == s->tcp) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(s->tcp, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (ev & BSN_EV_ERROR)) {
            bsn_debug("gateway", "TLS to upstream %s: connect: %s", s->name, strerror(err));
            shim_free(s);
            return;
        }
        s->st = S_HANDSHAKE;
    }
    if (s->st == S_HANDSHAKE && fd == s->tcp && shim_handshake(s) < 0) {
        shim_free(s);
        return;
    }
    if (shim_pump(s) < 0) {
        shim_free(s);
        return;
    }
    shim_interest(s);
}

int
gw_up_tls_open(struct gw_worker *w, const struct gw_endpoint *e, const struct gw_policy *p)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    int tcp = socket(e->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tcp < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    int one = 1;
    setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct gw_tls_shim *s = bsn_calloc(1, sizeof(*s));
    s->w = w;
    s->tcp = tcp;
    s->pair = sv[1];
    snprintf(s->name, sizeof(s->name), "%s", e->name);
    bsn_timer_init(&s->timer);
    s->ssl = SSL_new(p->btls_ctx);
    if (!s->ssl || SSL_set_fd(s->ssl, tcp) != 1) {
        if (s->ssl)
            SSL_free(s->ssl);
        close(tcp);
        close(sv[0]);
        close(sv[1]);
        free(s);
        return -1;
    }
    SSL_set_connect_state(s->ssl);
    SSL_set_tlsext_host_name(s->ssl, p->btls_host);
    SSL_set1_host(s->ssl, p->btls_host);
    s->next = w->tls_shims;
    if (w->tls_shims)
        w->tls_shims->prev = s;
    w->tls_shims = s;
    int rc = connect(tcp, (const struct sockaddr *)&e->sa, e->salen);
    s->st = rc == 0 ? S_HANDSHAKE : S_CONNECTING;
    if ((rc < 0 && errno != EINPROGRESS) ||
        bsn_loop_add_fd(w->loop, tcp, BSN_EV_WRITE, shim_io, s) < 0 ||
        bsn_loop_add_fd(w->loop, s->pair, BSN_EV_READ, shim_io, s) < 0) {
        shim_free(s); /* the proxy's end reads EOF: an upstream reset */
        return sv[0];
    }
    bsn_timer_start(w->loop, &s->timer, p->connect_ms ? p->connect_ms : 5000, shim_timeout, s);
    if (s->st == S_HANDSHAKE && shim_handshake(s) < 0) {
        shim_free(s);
        return sv[0];
    }
    shim_interest(s);
    return sv[0];
}

void
gw_up_tls_fini(struct gw_worker *w)
{
    while (w->tls_shims)
        shim_free(w->tls_shims);
}
