/*
 * exec_spdy.c - SPDY/3.1 frames for port-forwarding (see exec_spdy.h).
 */
#include "agent/exec_spdy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

enum {
    T_SYN_STREAM = 1,
    T_SYN_REPLY = 2,
    T_RST_STREAM = 3,
    T_SETTINGS = 4,
    T_PING = 6,
    T_GOAWAY = 7,
    T_HEADERS = 8,
    T_WINDOW_UPDATE = 9,
};
#define FLAG_FIN 0x01

/*
 * The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): length-prefixed
 * header names and common values, then a run of status codes, reason phrases, dates and
 * media types. Built from these two parts at first use.
 */
static const char *const dict_words[] = {"options",
                                         "head",
                                         "post",
                                         "put",
                                         "delete",
                                         "trace",
                                         "accept",
                                         "accept-charset",
                                         "accept-encoding",
                                         "accept-language",
                                         "accept-ranges",
                                         "age",
                                         "allow",
                                         "authorization",
                                         "cache-control",
                                         "connection",
                                         "content-base",
                                         "content-encoding",
                                         "content-language",
                                         "content-length",
                                         "content-location",
                                         "content-md5",
                                         "content-range",
                                         "content-type",
                                         "date",
                                         "etag",
                                         "expect",
                                         "expires",
                                         "from",
                                         "host",
                                         "if-match",
                                         "if-modified-since",
                                         "if-none-match",
                                         "if-range",
                                         "if-unmodified-since",
                                         "last-modified",
                                         "location",
                                         "max-forwards",
                                         "pragma",
                                         "proxy-authenticate",
                                         "proxy-authorization",
                                         "range",
                                         "referer",
                                         "retry-after",
                                         "server",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade",
                                         "user-agent",
                                         "vary",
                                         "via",
                                         "warning",
                                         "www-authenticate",
                                         "method",
                                         "get",
                                         "status",
                                         "200 OK",
                                         "version",
                                         "HTTP/1.1",
                                         "url",
                                         "public",
                                         "set-cookie",
                                         "keep-alive",
                                         "origin",
                                         NULL};
static const char dict_tail[] =
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/"
    "xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,"
    "sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static unsigned char dict_buf[1500];
static size_t dict_len;

const unsigned char *
bsn_spdy_dictionary(size_t *len)
{
    if (!dict_len) {
        size_t n = 0;
        for (size_t i = 0; dict_words[i]; i++) {
            size_t l = strlen(dict_words[i]);
            dict_buf[n++] = 0;
            dict_buf[n++] = 0;
            dict_buf[n++] = 0;
            dict_buf[n++] = (unsigned char)l;
            memcpy(dict_buf + n, dict_words[i], l);
            n += l;
        }
        memcpy(dict_buf + n, dict_tail, sizeof(dict_tail) - 1);
        dict_len = n + sizeof(dict_tail) - 1;
    }
    *len = dict_len;
    return dict_buf;
}

void
bsn_spdy_init(struct bsn_spdy *s, const struct bsn_spdy_cbs *cbs, void *ud)
{
    memset(s, 0, sizeof(*s));
    s->cbs = cbs;
    s->ud = ud;
    s->inf_ok = inflateInit(&s->inf) == Z_OK;
    s->def_ok = deflateInit(&s->def, Z_DEFAULT_COMPRESSION) == Z_OK;
    if (s->def_ok) {
        size_t dl;
        const unsigned char *d = bsn_spdy_dictionary(&dl);
        deflateSetDictionary(&s->def, d, (uInt)dl);
    }
}

void
bsn_spdy_fini(struct bsn_spdy *s)
{
    if (s->inf_ok)
        inflateEnd(&s->inf);
    if (s->def_ok)
        deflateEnd(&s->def);
    s->inf_ok = s->def_ok = false;
}

static uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void
put32(struct bsn_buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    bsn_buf_append(b, p, 4);
}

/* Inflates one header block into out (bounded). 0 or -1. */
static int
inflate_block(struct bsn_spdy *s, const unsigned char *in, size_t len, struct bsn_buf *out)
{
    if (!s->inf_ok)
        return -1;
    s->inf.next_in = (unsigned char *)in;
    s->inf.avail_in = (uInt)len;
    for (;;) {
        bsn_buf_reserve(out, 4096);
        size_t room = out->cap - out->len;
        if (out->len + room > BSN_SPDY_MAX_HEADERS)
            room = BSN_SPDY_MAX_HEADERS - out->len;
        if (room == 0)
            return -1;
        s->inf.next_out = (unsigned char *)out->data + out->len;
        s->inf.avail_out = (uInt)room;
        int rc = inflate(&s->inf, Z_SYNC_FLUSH);
        out->len += room - s->inf.avail_out;
        if (rc == Z_NEED_DICT) {
            size_t dl;
            const unsigned char *d = bsn_spdy_dictionary(&dl);
            if (inflateSetDictionary(&s->inf, d, (uInt)dl) != Z_OK)
                return -1;
            continue;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
        if (s->inf.avail_out > 0)
            break; /* all the output this input gives */
    }
    return 0;
}

/* Decodes a name/value block into pairs (strings NUL-terminated in place in a copy). */
static int
parse_pairs(struct bsn_buf *blk, struct bsn_spdy_header *h, size_t *n, struct bsn_buf *strs)
{
    const unsigned char *p = (const unsigned char *)blk->data, *end = p + blk->len;
    if (end - p < 4)
        return -1;
    uint32_t count = be32(p);
    p += 4;
    if (count > BSN_SPDY_MAX_PAIRS)
        return -1;
    /* strings go to strs; offsets first, pointers once strs stops moving */
    size_t offs[BSN_SPDY_MAX_PAIRS][2];
    for (uint32_t i = 0; i < count; i++) {
        for (int k = 0; k < 2; k++) {
            if (end - p < 4)
                return -1;
            uint32_t l = be32(p);
            p += 4;
            if ((uint32_t)(end - p) < l)
                return -1;
            offs[i][k] = strs->len;
            for (uint32_t j = 0; j < l; j++)
                bsn_buf_putc(strs, (char)(k == 0 ? tolower(p[j]) : p[j]));
            bsn_buf_putc(strs, '\0');
            p += l;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        h[i].name = strs->data + offs[i][0];
        h[i].value = strs->data + offs[i][1];
    }
    *n = count;
    return 0;
}

static int
fail(struct bsn_spdy *s, const char *why)
{
    snprintf(s->err, sizeof(s->err), "%s", why);
    return -1;
}

static int
control(struct bsn_spdy *s, unsigned type, unsigned flags, const unsigned char *p, size_t len)
{
    switch (type) {
    case T_SYN_STREAM:
    case T_HEADERS: {
        size_t skip = type == T_SYN_STREAM ? 10 : 4;
        if (len < skip)
            return fail(s, "short SYN_STREAM/HEADERS frame");
        uint32_t sid = be32(p) & 0x7fffffffu;
        struct bsn_buf blk, strs;
        bsn_buf_init(&blk);
        bsn_buf_init(&strs);
        int rc = inflate_block(s, p + skip, len - skip, &blk);
        struct bsn_spdy_header h[BSN_SPDY_MAX_PAIRS];
        size_t n = 0;
        if (rc == 0)
            rc = parse_pairs(&blk, h, &n, &strs);
        if (rc == 0 && type == T_SYN_STREAM && s->cbs->syn_stream)
            s->cbs->syn_stream(s->ud, sid, h, n, flags & FLAG_FIN);
        bsn_buf_fini(&blk);
        bsn_buf_fini(&strs);
        return rc < 0 ? fail(s, "bad header block") : 0;
    }
    case T_RST_STREAM:
        if (len < 8)
            return fail(s, "short RST_STREAM frame");
        if (s->cbs->rst)
            s->cbs->rst(s->ud, be32(p) & 0x7fffffffu, be32(p + 4));
        return 0;
    case T_PING:
        if (len < 4)
            return fail(s, "short PING frame");
        if (s->cbs->ping)
            s->cbs->ping(s->ud, be32(p));
        return 0;
    case T_GOAWAY:
        if (s->cbs->goaway)
            s->cbs->goaway(s->ud);
        return 0;
    default:
        return 0; /* SETTINGS, WINDOW_UPDATE, SYN_REPLY from a client, unknown: ignored */
    }
}

long
bsn_spdy_parse(struct bsn_spdy *s, const char *buf, size_t len)
{
    size_t off = 0;
    while (len - off >= 8) {
        const unsigned char *p = (const unsigned char *)buf + off;
        uint32_t flen = ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
        if (flen > BSN_SPDY_MAX_FRAME)
            return fail(s, "frame too large");
        if (len - off - 8 < flen)
            break;
        unsigned flags = p[4];
        if (p[0] & 0x80) {
            unsigned version = ((unsigned)(p[0] & 0x7f) << 8) | p[1];
            if (version != 3)
                return fail(s, "not SPDY version 3");
            if (control(s, ((unsigned)p[2] << 8) | p[3], flags, p + 8, flen) < 0)
                return -1;
        } else if (s->cbs->data) {
            s->cbs->data(s->ud, be32(p) & 0x7fffffffu, (const char *)p + 8, flen, flags & FLAG_FIN);
        }
        off += 8 + flen;
    }
    return (long)off;
}

static void
control_head(struct bsn_buf *out, unsigned type, unsigned flags, size_t len)
{
    unsigned char h[8] = {0x80,
                          3,
                          (unsigned char)(type >> 8),
                          (unsigned char)type,
                          (unsigned char)flags,
                          (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8),
                          (unsigned char)len};
    bsn_buf_append(out, h, 8);
}

/* Compresses a name/value block with the connection's deflate context. */
static void
deflate_block(struct bsn_spdy *s, const struct bsn_buf *raw, struct bsn_buf *out)
{
    s->def.next_in = (unsigned char *)raw->data;
    s->def.avail_in = (uInt)raw->len;
    do {
        bsn_buf_reserve(out, 256);
        size_t room = out->cap - out->len;
        s->def.next_out = (unsigned char *)out->data + out->len;
        s->def.avail_out = (uInt)room;
        deflate(&s->def, Z_SYNC_FLUSH);
        out->len += room - s->def.avail_out;
    } while (s->def.avail_out == 0);
}

static void
headers_frame(struct bsn_spdy *s, struct bsn_buf *out, unsigned type, uint32_t sid,
              const struct bsn_spdy_header *h, size_t n, bool fin)
{
    struct bsn_buf raw, z;
    bsn_buf_init(&raw);
    bsn_buf_init(&z);
    put32(&raw, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put32(&raw, (uint32_t)strlen(h[i].name));
        bsn_buf_puts(&raw, h[i].name);
        put32(&raw, (uint32_t)strlen(h[i].value));
        bsn_buf_puts(&raw, h[i].value);
    }
    if (s->def_ok)
        deflate_block(s, &raw, &z);
    size_t fixed = type == T_SYN_STREAM ? 10 : 4;
    control_head(out, type, fin ? FLAG_FIN : 0, fixed + z.len);
    put32(out, sid & 0x7fffffffu);
    if (type == T_SYN_STREAM) {
        put32(out, 0);
        bsn_buf_append(out, "\0\0", 2);
    }
    bsn_buf_append(out, z.data, z.len);
    bsn_buf_fini(&raw);
    bsn_buf_fini(&z);
}

void
bsn_spdy_syn_reply(struct bsn_spdy *s, struct bsn_buf *out, uint32_t sid, bool fin)
{
    headers_frame(s, out, T_SYN_REPLY, sid, NULL, 0, fin);
}

void
bsn_spdy_syn_stream(struct bsn_spdy *s, struct bsn_buf *out, uint32_t sid,
                    const struct bsn_spdy_header *h, size_t n, bool fin)
{
    headers_frame(s, out, T_SYN_STREAM, sid, h, n, fin);
}

void
bsn_spdy_data(struct bsn_buf *out, uint32_t sid, const void *data, size_t len, bool fin)
{
    put32(out, sid & 0x7fffffffu);
    unsigned char h[4] = {fin ? FLAG_FIN : 0, (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len};
    bsn_buf_append(out, h, 4);
    if (len)
        bsn_buf_append(out, data, len);
}

void
bsn_spdy_rst(struct bsn_buf *out, uint32_t sid, uint32_t status)
{
    control_head(out, T_RST_STREAM, 0, 8);
    put32(out, sid & 0x7fffffffu);
    put32(out, status);
}

void
bsn_spdy_ping(struct bsn_buf *out, uint32_t id)
{
    control_head(out, T_PING, 0, 4);
    put32(out, id);
}

void
bsn_spdy_goaway(struct bsn_buf *out, uint32_t last_sid, uint32_t status)
{
    control_head(out, T_GOAWAY, 0, 8);
    put32(out, last_sid & 0x7fffffffu);
    put32(out, status);
}
