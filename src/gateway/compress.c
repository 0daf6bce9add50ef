/*
 * compress.c - gzip and brotli compression of response bodies (GatewayPolicy
 * spec.compression: {gzip: true, brotli: true}).
 *
 * A response is compressed when the policy enables an encoding the client accepts (not with
 * q=0; brotli is preferred when both are possible), the upstream did not encode it already,
 * the status is 200, the Content-Type is compressible and the body is not known to be smaller
 * than minSize. The body is compressed as it streams (zlib level 1, or brotli quality 4 with a
 * 256 KiB window: this is a proxy, latency matters more than the last percent) and sent
 * chunked; Content-Length is dropped and Vary: Accept-Encoding added.
 */
#ifdef BSN_HAVE_BROTLI
#include <brotli/encode.h>
#define HAVE_BR 1
#else
#define HAVE_BR 0
typedef struct BrotliEncoderStateStruct BrotliEncoderState; /* built without brotli */
#endif
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "base/mem.h"
#include "gateway/gw_conn.h"

#define ZOUT 16384

struct gw_gzip {
    z_stream zs;
    BrotliEncoderState *br; /* non-NULL: brotli instead of zlib */
    unsigned char out[ZOUT];
};

static const char *const default_types[] = {"text/",
                                            "application/json",
                                            "application/javascript",
                                            "application/xml",
                                            "application/xhtml+xml",
                                            "image/svg+xml",
                                            NULL};

/* True when Accept-Encoding lists the coding (or *) without q=0. */
static bool
accepts(struct bsn_str v, const char *coding)
{
    size_t cl = strlen(coding);
    const char *p = v.base, *end = v.base + v.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p >= end)
            break;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t tl = 0;
        while (p + tl < stop && p[tl] != ';' && p[tl] != ' ')
            tl++;
        bool name = (tl == cl && strncasecmp(p, coding, cl) == 0) || (tl == 1 && *p == '*');
        if (name) {
            const char *q = memchr(p, ';', (size_t)(stop - p));
            bool zero = false;
            if (q) {
                const char *qq = q + 1;
                while (qq < stop && *qq == ' ')
                    qq++;
                if (stop - qq >= 3 && (qq[0] == 'q' || qq[0] == 'Q') && qq[1] == '=') {
                    zero = qq[2] == '0';
                    for (const char *d = qq + 3; zero && d < stop; d++)
                        if (*d != '.' && *d != '0' && *d != ' ')
                            zero = false;
                }
            }
            return !zero;
        }
        p = stop;
    }
    return false;
}

static bool
compressible(const struct gw_policy *p, struct bsn_str ct)
{
    if (ct.len == 0)
        return false;
    if (p->gzip_ntypes > 0) {
        for (int i = 0; i < p->gzip_ntypes; i++)
            if (bsn_str_has_prefix(ct, p->gzip_types[i]))
                return true;
        return false;
    }
    for (int i = 0; default_types[i]; i++)
        if (ct.len >= strlen(default_types[i]) &&
            strncasecmp(ct.base, default_types[i], strlen(default_types[i])) == 0)
            return true;
    return false;
}

bool
gw_gzip_wanted(struct gw_conn *c)
{
    const struct gw_policy *p = c->route->policy;
    const struct bsn_http_response_head *r = &c->resp;
    if (!(p->gzip || p->brotli) || r->status != 200 || c->is_head || c->req.minor_version != 1)
        return false;
    if (r->content_length >= 0 && r->content_length < p->gzip_min_size)
        return false;
    if (bsn_http_find_header(r->headers, r->nheaders, "content-encoding"))
        return false;
    const struct bsn_http_header *ct =
        bsn_http_find_header(r->headers, r->nheaders, "content-type");
    if (!ct || !compressible(p, ct->value))
        return false;
    const struct bsn_http_header *ae =
        bsn_http_find_header(c->req.headers, c->req.nheaders, "accept-encoding");
    return ae && ((HAVE_BR && p->brotli && accepts(ae->value, "br")) ||
                  (p->gzip && accepts(ae->value, "gzip")));
}

bool
gw_gzip_is_br(const struct gw_conn *c)
{
    return c->gzip && c->gzip->br;
}

int
gw_gzip_start(struct gw_conn *c)
{
    struct gw_gzip *z = bsn_calloc(1, sizeof(*z));
    const struct bsn_http_header *ae =
        bsn_http_find_header(c->req.headers, c->req.nheaders, "accept-encoding");
#ifdef BSN_HAVE_BROTLI
    if (c->route->policy->brotli && ae && accepts(ae->value, "br")) {
        z->br = BrotliEncoderCreateInstance(NULL, NULL, NULL);
        if (!z->br) {
            free(z);
            return -1;
        }
        BrotliEncoderSetParameter(z->br, BROTLI_PARAM_QUALITY, 4);
        BrotliEncoderSetParameter(z->br, BROTLI_PARAM_LGWIN, 18);
        c->gzip = z;
        return 0;
    }
#else
    BSN_UNUSED(ae);
#endif
    if (deflateInit2(&z->zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return -1;
    }
    c->gzip = z;
    return 0;
}

void
gw_gzip_end(struct gw_conn *c)
{
    if (!c->gzip)
        return;
#ifdef BSN_HAVE_BROTLI
    if (c->gzip->br)
        BrotliEncoderDestroyInstance(c->gzip->br);
    else
#endif
        deflateEnd(&c->gzip->zs);
    free(c->gzip);
    c->gzip = NULL;
}

/*
 * Compresses data[0..len) (finishing the stream when last) and sends the output as chunks,
 * after the iovecs in pre (the head). Returns the bytes sent/queued or -1 on a socket error.
 */
#ifdef BSN_HAVE_BROTLI
/* Sends one compressed piece as a chunk (after pre), and the last-chunk when done. */
static int
send_piece(struct gw_conn *c, const unsigned char *out, size_t produced, bool end,
           struct iovec *pre, int npre, long *total)
{
    struct iovec iov[8];
    int n = 0;
    for (int i = 0; i < npre; i++)
        iov[n++] = pre[i];
    char chdr[24];
    if (produced > 0) {
        iov[n++] = (struct iovec){chdr, (size_t)snprintf(chdr, sizeof(chdr), "%zx\r\n", produced)};
        iov[n++] = (struct iovec){(void *)out, produced};
        iov[n++] = (struct iovec){"\r\n", 2};
    }
    if (end)
        iov[n++] = (struct iovec){"0\r\n\r\n", 5};
    for (int i = 0; i < n; i++)
        *total += (long)iov[i].iov_len;
    return n > 0 ? gw_client_send(c, iov, n) : 0;
}

static long
br_body(struct gw_conn *c, char *data, size_t len, bool last, struct iovec *pre, int npre)
{
    BrotliEncoderState *br = c->gzip->br;
    const uint8_t *in = (const uint8_t *)data;
    size_t avail_in = len;
    long total = 0;
    for (;;) {
        size_t avail_out = 0;
        if (!BrotliEncoderCompressStream(br,
                                         last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS,
                                         &avail_in, &in, &avail_out, NULL, NULL))
            return -1;
        size_t produced = 0;
        const uint8_t *out = BrotliEncoderTakeOutput(br, &produced);
        bool done = last ? BrotliEncoderIsFinished(br) && !BrotliEncoderHasMoreOutput(br)
                         : avail_in == 0 && !BrotliEncoderHasMoreOutput(br);
        if (send_piece(c, out, produced, done && last, pre, npre, &total) < 0)
            return -1;
        npre = 0;
        if (done)
            return total;
    }
}

#endif

long
gw_gzip_body(struct gw_conn *c, char *data, size_t len, bool last, struct iovec *pre, int npre)
{
    struct gw_gzip *z = c->gzip;
#ifdef BSN_HAVE_BROTLI
    if (z->br)
        return br_body(c, data, len, last, pre, npre);
#endif
    z->zs.next_in = (unsigned char *)data;
    z->zs.avail_in = (uInt)len;
    long total = 0;
    for (;;) {
        z->zs.next_out = z->out;
        z->zs.avail_out = ZOUT;
        int rc = deflate(&z->zs, last ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_STREAM_ERROR)
            return -1;
        size_t produced = ZOUT - z->zs.avail_out;
        bool done = last ? rc == Z_STREAM_END : z->zs.avail_in == 0 && z->zs.avail_out > 0;
        struct iovec iov[8];
        int n = 0;
        for (int i = 0; i < npre; i++)
            iov[n++] = pre[i];
        npre = 0;
        char chdr[24];
        if (produced > 0) {
            iov[n++] =
                (struct iovec){chdr, (size_t)snprintf(chdr, sizeof(chdr), "%zx\r\n", produced)};
            iov[n++] = (struct iovec){z->out, produced};
            iov[n++] = (struct iovec){"\r\n", 2};
        }
        if (done && last)
            iov[n++] = (struct iovec){"0\r\n\r\n", 5};
        for (int i = 0; i < n; i++)
            total += (long)iov[i].iov_len;
        if (n > 0 && gw_client_send(c, iov, n) < 0)
            return -1;
        if (done)
            return total;
    }
}
