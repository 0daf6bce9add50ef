/*
 * h2sniff.c - which HTTP/2 front a client connection gets. The HTTP/2 server of src/http
 * (h2front.c) bridges each stream to the HTTP/1.1 proxy; it has no trailers, which gRPC needs.
 * So before handing a connection over, the gateway reads up to its first HEADERS frame (the
 * client preface, SETTINGS and friends come first; the first header block is decoded with a
 * fresh HPACK table, as the client encoded it). If that request's content-type starts with
 * "application/grpc", the whole connection goes to h2grpc.c (HTTP/2 end to end, h2c to the
 * upstream); otherwise it goes to h2front.c with the bytes read so far. A gRPC channel only
 * carries gRPC calls, and browsers do not send application/grpc, so the first request decides.
 * A connection whose first request routes only to backends whose Service port has appProtocol
 * kubernetes.io/h2c or grpc goes to h2grpc.c as well.
 * gRPC clients wait for the server's SETTINGS before their first request, so the gateway sends
 * an empty SETTINGS frame at once and removes the client's ACK of it before the hand-over (the
 * session taking over sends its own SETTINGS; an extra ACK would be a protocol error there).
 * Cost: the first request of an HTTP/2 connection waits for that ACK (one round trip).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_grpc.h"

#define PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24
#define SNIFF_MS    10000 /* a client that does not send a request head in time: hand it over */

/* Decodes one complete header block; GRPC when content-type says so. */
static void
keep(char *dst, size_t cap, const nghttp2_nv *nv)
{
    if (nv->valuelen < cap) {
        memcpy(dst, nv->value, nv->valuelen);
        dst[nv->valuelen] = 0;
    }
}

static enum gw_sniff
sniff_block(const uint8_t *p, size_t n, struct gw_sniff_req *req)
{
    nghttp2_hd_inflater *inf;
    if (nghttp2_hd_inflate_new(&inf) != 0)
        return GW_SNIFF_OTHER;
    enum gw_sniff verdict = GW_SNIFF_OTHER;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, p, n, 1);
        if (rv < 0)
            break;
        p += rv;
        n -= (size_t)rv;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (nv.namelen == 12 && memcmp(nv.name, "content-type", 12) == 0 && nv.valuelen >= 16 &&
                strncasecmp((const char *)nv.value, "application/grpc", 16) == 0)
                verdict = GW_SNIFF_GRPC;
            if (req && nv.namelen == 10 && memcmp(nv.name, ":authority", 10) == 0)
                keep(req->authority, sizeof(req->authority), &nv);
            if (req && nv.namelen == 5 && memcmp(nv.name, ":path", 5) == 0)
                keep(req->path, sizeof(req->path), &nv);
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            break;
        }
        if (rv == 0 && n == 0)
            break;
    }
    nghttp2_hd_inflate_del(inf);
    return verdict;
}

enum gw_sniff
gw_grpc_sniff(uint8_t *buf, size_t *lenp, bool *acked, struct gw_sniff_req *req)
{
    size_t len = *lenp;
    size_t cmp = len < PREFACE_LEN ? len : PREFACE_LEN;
    if (memcmp(buf, PREFACE, cmp) != 0)
        return GW_SNIFF_OTHER;
    size_t off = PREFACE_LEN;
    enum gw_sniff verdict = GW_SNIFF_MORE;
    for (;;) {
        if (verdict != GW_SNIFF_MORE && *acked)
            return verdict;
        if (len < off + 9)
            return len >= GW_SNIFF_CAP ? GW_SNIFF_OTHER : GW_SNIFF_MORE;
        const uint8_t *h = buf + off;
        size_t flen = ((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2];
        uint8_t type = h[3], flags = h[4];
        if (off + 9 + flen > GW_SNIFF_CAP)
            return GW_SNIFF_OTHER;
        if (len < off + 9 + flen)
            return GW_SNIFF_MORE;
        if (type == 0x4 && (flags & 0x1) && flen == 0 && !*acked) {
            /* the ACK of the gateway's SETTINGS: not for the session that takes over */
            memmove(buf + off, buf + off + 9, len - off - 9);
            len -= 9;
            *lenp = len;
            *acked = true;
            continue;
        }
        if (type == 0x1 && verdict == GW_SNIFF_MORE) { /* the first HEADERS */
            if (!(flags & 0x4))
                return GW_SNIFF_OTHER; /* CONTINUATION follows: not worth following */
            const uint8_t *p = h + 9;
            size_t n = flen, pad = 0;
            if (flags & 0x8) { /* PADDED */
                if (n < 1)
                    return GW_SNIFF_OTHER;
                pad = p[0];
                p++;
                n--;
            }
            if (flags & 0x20) { /* PRIORITY */
                if (n < 5)
                    return GW_SNIFF_OTHER;
                p += 5;
                n -= 5;
            }
            if (pad > n)
                return GW_SNIFF_OTHER;
            verdict = sniff_block(p, n - pad, req);
        }
        off += 9 + flen;
    }
}

int
gw_grpc_status_for_http(int s)
{
    switch (s) {
    case 400:
        return 13; /* INTERNAL */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return 7; /* PERMISSION_DENIED */
    case 404:
        return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504:
        return 14; /* UNAVAILABLE */
    default:
        return 2; /* UNKNOWN */
    }
}

/* --- the sniffing connection --- */

struct gw_sniffer {
    struct gw_worker *w;
    struct gw_sniffer *next;
    int fd;
    struct ssl_st *ssl;
    struct sockaddr_storage peer;
    uint8_t *buf;
    size_t len;
    bool acked; /* the client acknowledged our SETTINGS (the ACK was taken out of buf) */
    struct bsn_timer timer;
};

static void
sniff_unlink(struct gw_sniffer *s)
{
    struct gw_grpc *g = gw_grpc_state(s->w);
    for (struct gw_sniffer **pp = &g->sniffs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    bsn_timer_stop(s->w->loop, &s->timer);
    bsn_loop_del_fd(s->w->loop, s->fd);
}

static void
sniff_free(struct gw_sniffer *s)
{
    free(s->buf);
    free(s);
}

/* Whether the request's route sends it to backends whose Service port says h2c (appProtocol). */
static bool
routes_to_h2c(struct gw_worker *w, const struct gw_sniff_req *req)
{
    if (!req->authority[0] || !req->path[0] || !w->cur)
        return false;
    const char *q = strchr(req->path, '?');
    struct bsn_gw_request_info ri = {{req->authority, strlen(req->authority)},
                                     {"GET", 3},
                                     {req->path, q ? (size_t)(q - req->path) : strlen(req->path)},
                                     {q ? q + 1 : "", q ? strlen(q + 1) : 0},
                                     NULL,
                                     0};
    const struct gw_route *r = (const struct gw_route *)bsn_gw_route_match(w->cur->cfg, &ri);
    if (!r || r->nbackends == 0)
        return false;
    for (int i = 0; i < r->nbackends; i++)
        if (!r->backends[i].b->h2c)
            return false;
    return true;
}

/* Hands the connection to the front chosen by verdict (OTHER also on errors and timeouts). */
static void
sniff_done(struct gw_sniffer *s, enum gw_sniff verdict)
{
    sniff_unlink(s);
    if (verdict == GW_SNIFF_GRPC)
        gw_grpc_front_adopt(s->w, s->fd, s->ssl, (const struct sockaddr *)&s->peer, s->buf, s->len);
    else
        gw_h2_adopt_http(s->w, s->fd, s->ssl, (const struct sockaddr *)&s->peer, s->buf, s->len);
    sniff_free(s);
}

static void
sniff_drop(struct gw_sniffer *s)
{
    sniff_unlink(s);
    if (s->ssl)
        SSL_free(s->ssl);
    close(s->fd);
    sniff_free(s);
}

static void
sniff_timeout(struct bsn_loop *loop, void *data)
{
    (void)loop;
    sniff_done(data, GW_SNIFF_OTHER);
}

static void
sniff_io(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    (void)loop;
    (void)ev;
    struct gw_sniffer *s = data;
    for (;;) {
        struct gw_sniff_req req = {"", ""};
        enum gw_sniff v = gw_grpc_sniff(s->buf, &s->len, &s->acked, &req);
        if (v == GW_SNIFF_OTHER && routes_to_h2c(s->w, &req))
            v = GW_SNIFF_GRPC;
        if (v != GW_SNIFF_MORE) {
            sniff_done(s, v);
            return;
        }
        if (s->len >= GW_SNIFF_CAP) {
            sniff_done(s, GW_SNIFF_OTHER);
            return;
        }
        ssize_t n;
        if (s->ssl) {
            int r = SSL_read(s->ssl, s->buf + s->len, (int)(GW_SNIFF_CAP - s->len));
            if (r <= 0) {
                int e = SSL_get_error(s->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    bsn_loop_mod_fd(s->w->loop, fd,
                                    e == SSL_ERROR_WANT_WRITE ? BSN_EV_WRITE : BSN_EV_READ);
                    return;
                }
                sniff_drop(s);
                return;
            }
            n = r;
        } else {
            n = recv(fd, s->buf + s->len, GW_SNIFF_CAP - s->len, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return;
            if (n <= 0) {
                sniff_drop(s);
                return;
            }
        }
        s->len += (size_t)n;
    }
}

int
gw_h2_sniff_adopt(struct gw_worker *w, int fd, struct ssl_st *ssl, const struct sockaddr *peer,
                  const void *pre, size_t pre_len)
{
    struct gw_grpc *g = gw_grpc_state(w);
    if (w->draining || pre_len > GW_SNIFF_CAP)
        return gw_h2_adopt_http(w, fd, ssl, peer, pre, pre_len);
    struct gw_sniffer *s = bsn_calloc(1, sizeof(*s));
    s->w = w;
    s->fd = fd;
    s->ssl = ssl;
    memcpy(&s->peer, peer,
           peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    s->buf = bsn_malloc(GW_SNIFF_CAP);
    if (pre_len)
        memcpy(s->buf, pre, pre_len);
    s->len = pre_len;
    bsn_timer_init(&s->timer);
    if (bsn_loop_add_fd(w->loop, fd, BSN_EV_READ, sniff_io, s) < 0) {
        sniff_free(s);
        return gw_h2_adopt_http(w, fd, ssl, peer, pre, pre_len);
    }
    s->next = g->sniffs;
    g->sniffs = s;
    bsn_timer_start(w->loop, &s->timer, SNIFF_MS, sniff_timeout, s);
    /*
     * The server preface (an empty SETTINGS frame) goes first: gRPC clients wait for it before
     * they send a request. Its ACK is taken out of the byte stream before the hand-over.
     */
    static const uint8_t settings[9] = {0, 0, 0, 0x4, 0, 0, 0, 0, 0};
    bool sent =
        ssl ? SSL_write(ssl, settings, sizeof(settings)) == (int)sizeof(settings)
            : send(fd, settings, sizeof(settings), MSG_NOSIGNAL) == (ssize_t)sizeof(settings);
    if (!sent) {
        sniff_drop(s);
        return -1;
    }
    sniff_io(w->loop, fd, BSN_EV_READ, s); /* bytes already there (or decrypted by TLS) */
    return 0;
}

/* Closes connections still being sniffed (worker teardown). */
void
gw_h2_sniff_fini(struct gw_worker *w)
{
    struct gw_grpc *g = w->grpc;
    while (g && g->sniffs)
        sniff_drop(g->sniffs);
}
