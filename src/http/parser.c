/*
 * parser.c - strict zero-copy HTTP/1.x head parser and chunked decoder (see parser.h).
 *
 * Structure: find each line with memchr('\n'), require the byte before it to be '\r', then
 * validate the line's bytes against a character-class table. The request line and header
 * lines are each checked by one tight loop; framing headers (Content-Length,
 * Transfer-Encoding, Connection, Host, Upgrade, Expect) are interpreted after all headers are
 * parsed so that duplicates and conflicts can be rejected as a whole.
 */
#include "http/parser.h"

#include <string.h>
#include <strings.h>

/* Character classes. */
enum {
    C_TOKEN = 1,  /* tchar (RFC 9110 5.6.2) */
    C_VALUE = 2,  /* field-vchar / SP / HT / obs-text */
    C_TARGET = 4, /* visible ASCII allowed in a request-target */
};

static unsigned char ctab[256];
static bool ctab_ready;

static void
ctab_init(void)
{
    /* Benign race: every thread writes the same bytes. */
    if (__atomic_load_n(&ctab_ready, __ATOMIC_ACQUIRE))
        return;
    for (int c = 0; c < 256; c++) {
        unsigned char v = 0;
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c && strchr("!#$%&'*+-.^_`|~", c)))
            v |= C_TOKEN;
        if (c == '\t' || (c >= 0x20 && c != 0x7f))
            v |= C_VALUE;
        if (c > 0x20 && c < 0x7f && c != '#')
            v |= C_TARGET;
        ctab[c] = v;
    }
    __atomic_store_n(&ctab_ready, true, __ATOMIC_RELEASE);
}

#define IS(c, cls) (ctab[(unsigned char)(c)] & (cls))

/*
 * Finds the end of the line starting at p (p < end). Returns a pointer to the '\r' of the
 * CRLF, NULL if no LF yet (incomplete), or (const char *)-1 style error via *bad when the LF is
 * not preceded by CR.
 */
static const char *
line_end(const char *p, const char *end, bool *bad)
{
    if (p >= end)
        return NULL;
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf)
        return NULL;
    if (lf == p || lf[-1] != '\r') {
        *bad = true;
        return NULL;
    }
    return lf - 1;
}

/* Parses "HTTP/1.x" at p (exactly 8 bytes available). Returns minor or -1 (400) / -2 (505). */
static int
parse_version(const char *p)
{
    if (memcmp(p, "HTTP/", 5) != 0 || p[6] != '.')
        return -1;
    if (p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
        return -1;
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return -2;
    return p[7] - '0';
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * True if none of the 8 bytes in x is a control character (< 0x20) or DEL. Bytes >= 0x80
 * (obs-text) pass. Classic "has a byte less than n" bit trick; false alarms only happen next
 * to a real hit, and the caller then checks bytes one by one anyway.
 */
static inline bool
swar_value_ok(uint64_t x)
{
    uint64_t lt20 = (x - ONES * 0x20) & ~x & HIGHS;
    uint64_t d = x ^ (ONES * 0x7f);
    uint64_t del = (d - ONES) & ~d & HIGHS;
    return (lt20 | del) == 0;
}

/* True if all 8 bytes are visible ASCII other than '#' (request-target characters). */
static inline bool
swar_target_ok(uint64_t x)
{
    if (x & HIGHS)
        return false;
    uint64_t le20 = (x - ONES * 0x21) & ~x & HIGHS;
    uint64_t d = x ^ (ONES * 0x7f);
    uint64_t del = (d - ONES) & ~d & HIGHS;
    uint64_t h = x ^ (ONES * '#');
    uint64_t hash = (h - ONES) & ~h & HIGHS;
    return (le20 | del | hash) == 0;
}

static inline struct bsn_str
mkstr(const char *b, const char *e)
{
    return (struct bsn_str){b, (size_t)(e - b)};
}

/*
 * Parses header lines from *pp until the empty line. Returns 1 when done (*pp past the final
 * CRLF), BSN_HTTP_INCOMPLETE, or BSN_HTTP_ERROR with *status.
 */
static int
parse_headers(const char **pp, const char *end, const char *head_start,
              struct bsn_http_header *hdrs, size_t *nhdrs, int *status)
{
    const char *p = *pp;
    size_t n = 0;
    const char *limit_end = head_start + BSN_HTTP_MAX_HEAD;
    const char *scan_end = end < limit_end ? end : limit_end;

    for (;;) {
        if (p >= scan_end)
            goto more;
        bool bad = false;
        const char *cr = line_end(p, scan_end, &bad);
        if (bad) {
            *status = 400;
            return BSN_HTTP_ERROR;
        }
        if (!cr)
            goto more;
        if (cr == p) { /* empty line: end of head */
            *pp = cr + 2;
            *nhdrs = n;
            return 1;
        }
        if (*p == ' ' || *p == '\t') { /* obs-fold or leading whitespace */
            *status = 400;
            return BSN_HTTP_ERROR;
        }
        if (n == BSN_HTTP_MAX_HEADERS) {
            *status = 431;
            return BSN_HTTP_ERROR;
        }
        const char *q = p;
        while (IS(*q, C_TOKEN))
            q++;
        if (q == p || *q != ':') { /* empty name, bad char, or whitespace before colon */
            *status = 400;
            return BSN_HTTP_ERROR;
        }
        hdrs[n].name = mkstr(p, q);
        q++;
        while (q < cr && (*q == ' ' || *q == '\t'))
            q++;
        const char *vs = q;
        /* Eight bytes at a time while no byte is a CTL or DEL, then byte by byte. */
        while (cr - q >= 8) {
            uint64_t x;
            memcpy(&x, q, 8);
            if (!swar_value_ok(x))
                break;
            q += 8;
        }
        while (IS(*q, C_VALUE))
            q++;
        if (q != cr) { /* control character, bare CR, ... */
            *status = 400;
            return BSN_HTTP_ERROR;
        }
        while (q > vs && (q[-1] == ' ' || q[-1] == '\t'))
            q--;
        hdrs[n].value = mkstr(vs, q);
        n++;
        p = cr + 2;
    }
more:
    if (end >= limit_end) {
        *status = 431;
        return BSN_HTTP_ERROR;
    }
    return BSN_HTTP_INCOMPLETE;
}

bool
bsn_http_list_has(struct bsn_str list, const char *token)
{
    size_t tl = strlen(token);
    const char *p = list.base, *e = list.base + list.len;
    while (p < e) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < e && *p != ',')
            p++;
        const char *t = p;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == tl && strncasecmp(s, token, tl) == 0)
            return true;
    }
    return false;
}

/* Framing and connection semantics shared by requests and responses. */
struct framing {
    int64_t content_length;
    bool chunked, keep_alive, upgrade, expect_continue;
    struct bsn_str host, upgrade_proto, connection;
    int nhost;
};

static int
parse_content_length(struct bsn_str v, int64_t *out)
{
    if (v.len == 0 || v.len > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.base[i];
        if (c < '0' || c > '9')
            return -1;
        n = n * 10 + (c - '0');
    }
    *out = n;
    return 0;
}

/*
 * Validates one Transfer-Encoding value and accumulates it. Returns 0, or the status (400/501).
 * *seen_chunked tracks whether chunked has appeared; it must be the last coding overall.
 */
static int
add_transfer_encoding(struct bsn_str v, bool *seen_chunked)
{
    const char *p = v.base, *e = v.base + v.len;
    bool any = false;
    while (p < e) {
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        const char *s = p;
        while (p < e && *p != ',')
            p++;
        const char *t = p;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (p < e)
            p++; /* skip ',' */
        if (t == s)
            continue; /* empty list element (RFC 9110 5.6.1) */
        any = true;
        if (*seen_chunked)
            return 400; /* something after chunked (including chunked again) */
        if ((size_t)(t - s) == 7 && strncasecmp(s, "chunked", 7) == 0)
            *seen_chunked = true;
        else {
            for (const char *c = s; c < t; c++)
                if (!IS(*c, C_TOKEN) && *c != ';' && *c != '=' && *c != ' ' && *c != '"')
                    return 400;
            return 501; /* gzip, deflate, compress, unknown: not implemented */
        }
    }
    return any ? 0 : 400;
}

static int
interpret_headers(const struct bsn_http_header *h, size_t n, int minor, bool request,
                  struct framing *f)
{
    bool have_cl = false, have_te = false, seen_chunked = false, upgrade_hdr = false;
    f->content_length = -1;
    f->chunked = f->upgrade = f->expect_continue = false;
    f->host = f->upgrade_proto = f->connection = BSN_STR_NULL;
    f->nhost = 0;

    for (size_t i = 0; i < n; i++) {
        struct bsn_str name = h[i].name, v = h[i].value;
        switch (name.len) {
        case 4:
            if (strncasecmp(name.base, "host", 4) == 0) {
                f->host = v;
                f->nhost++;
            }
            break;
        case 6:
            if (strncasecmp(name.base, "expect", 6) == 0 && v.len == 12 &&
                strncasecmp(v.base, "100-continue", 12) == 0)
                f->expect_continue = true;
            break;
        case 7:
            if (strncasecmp(name.base, "upgrade", 7) == 0) {
                f->upgrade_proto = v;
                upgrade_hdr = true;
            }
            break;
        case 10:
            if (strncasecmp(name.base, "connection", 10) == 0) {
                if (f->connection.base)
                    return 400; /* keep it simple: one Connection header */
                f->connection = v;
            }
            break;
        case 14:
            if (strncasecmp(name.base, "content-length", 14) == 0) {
                if (have_cl || parse_content_length(v, &f->content_length) < 0)
                    return 400;
                have_cl = true;
            }
            break;
        case 17:
            if (strncasecmp(name.base, "transfer-encoding", 17) == 0) {
                int st = add_transfer_encoding(v, &seen_chunked);
                if (st)
                    return st;
                have_te = true;
            }
            break;
        default:
            break;
        }
    }
    if (have_te) {
        if (have_cl || !seen_chunked)
            return 400;
        if (request && minor == 0)
            return 400;
        f->chunked = true;
    }
    if (f->connection.base) {
        if (bsn_http_list_has(f->connection, "close"))
            f->keep_alive = false;
        else if (minor == 0)
            f->keep_alive = bsn_http_list_has(f->connection, "keep-alive");
        else
            f->keep_alive = true;
        f->upgrade = upgrade_hdr && bsn_http_list_has(f->connection, "upgrade");
    } else
        f->keep_alive = minor == 1;
    if (request && minor == 1 && f->nhost != 1)
        return 400;
    if (request && f->nhost > 1)
        return 400;
    return 0;
}

int
bsn_http_parse_request(const char *buf, size_t len, struct bsn_http_request_head *out, int *status)
{
    int dummy;
    if (!status)
        status = &dummy;
    *status = 0;
    ctab_init();
    const char *p = buf, *end = buf + len;

    /* Skip empty lines before the request line (bounded by the request-line limit). */
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
        p += 2;
        if (p - buf > BSN_HTTP_MAX_REQUEST_LINE) {
            *status = 400;
            return BSN_HTTP_ERROR;
        }
    }
    if (p < end && p[0] == '\n') {
        *status = 400;
        return BSN_HTTP_ERROR;
    }
    const char *head_start = p;

    /* Request line: method SP request-target SP HTTP-version CRLF */
    size_t avail = (size_t)(end - p);
    size_t scan = avail < BSN_HTTP_MAX_REQUEST_LINE + 2 ? avail : BSN_HTTP_MAX_REQUEST_LINE + 2;
    bool bad = false;
    const char *cr = line_end(p, p + scan, &bad);
    if (bad) {
        *status = 400;
        return BSN_HTTP_ERROR;
    }
    if (!cr) {
        /* Reject obvious garbage early instead of waiting for 8 KiB of it. */
        const char *q = p;
        while (q < p + scan && IS(*q, C_TOKEN))
            q++;
        if (q < p + scan && *q != ' ') {
            *status = 400;
            return BSN_HTTP_ERROR;
        }
        if (avail >= BSN_HTTP_MAX_REQUEST_LINE + 2) {
            *status = 414;
            return BSN_HTTP_ERROR;
        }
        return BSN_HTTP_INCOMPLETE;
    }
    const char *q = p;
    while (IS(*q, C_TOKEN))
        q++;
    if (q == p || *q != ' ') {
        *status = 400;
        return BSN_HTTP_ERROR;
    }
    out->method = mkstr(p, q);
    const char *ts = ++q;
    const char *qm = NULL;
    for (;;) {
        while (cr - q >= 8) {
            uint64_t x;
            memcpy(&x, q, 8);
            if (!swar_target_ok(x))
                break;
            if (!qm) {
                const char *m = memchr(q, '?', 8);
                if (m)
                    qm = m;
            }
            q += 8;
        }
        if (!IS(*q, C_TARGET))
            break;
        if (*q == '?' && !qm)
            qm = q;
        q++;
    }
    if (q == ts || *q != ' ' || cr - q != 9) { /* bad target byte or malformed version */
        *status = 400;
        return BSN_HTTP_ERROR;
    }
    out->target = mkstr(ts, q);
    /* absolute-form (RFC 9112 3.2.2): "http://authority/path?query"; the authority replaces
     * the Host header. It must have a path (we do not invent one). */
    struct bsn_str authority = BSN_STR_NULL;
    const char *ps = ts;
    size_t scheme = 0;
    if (q - ts > 7 && strncasecmp(ts, "http://", 7) == 0)
        scheme = 7;
    else if (q - ts > 8 && strncasecmp(ts, "https://", 8) == 0)
        scheme = 8;
    if (scheme) {
        const char *as = ts + scheme;
        const char *aend = qm ? qm : q;
        const char *slash = memchr(as, '/', (size_t)(aend - as));
        if (!slash || slash == as) {
            *status = 400;
            return BSN_HTTP_ERROR;
        }
        authority = mkstr(as, slash);
        ps = slash;
    }
    if (qm) {
        out->path = mkstr(ps, qm);
        out->query = mkstr(qm + 1, q);
    } else {
        out->path = mkstr(ps, q);
        out->query = (struct bsn_str){q, 0};
    }
    int minor = parse_version(q + 1);
    if (minor < 0) {
        *status = minor == -2 ? 505 : 400;
        return BSN_HTTP_ERROR;
    }
    out->minor_version = minor;
    p = cr + 2;

    int rc = parse_headers(&p, end, head_start, out->headers, &out->nheaders, status);
    if (rc != 1)
        return rc;

    struct framing f;
    f.keep_alive = false;
    int st = interpret_headers(out->headers, out->nheaders, minor, true, &f);
    if (st) {
        *status = st;
        return BSN_HTTP_ERROR;
    }
    out->content_length = f.content_length;
    out->chunked = f.chunked;
    out->keep_alive = f.keep_alive;
    out->upgrade = f.upgrade;
    out->expect_continue = f.expect_continue;
    out->host = authority.base ? authority : f.host;
    out->upgrade_proto = f.upgrade_proto;
    out->connection = f.connection;
    return (int)(p - buf);
}

int
bsn_http_parse_response(const char *buf, size_t len, struct bsn_http_response_head *out)
{
    ctab_init();
    const char *p = buf, *end = buf + len;
    bool bad = false;
    size_t scan = len < BSN_HTTP_MAX_REQUEST_LINE ? len : BSN_HTTP_MAX_REQUEST_LINE;
    const char *cr = line_end(p, p + scan, &bad);
    if (bad)
        return BSN_HTTP_ERROR;
    if (!cr) {
        if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0)
            return BSN_HTTP_ERROR;
        return len >= BSN_HTTP_MAX_REQUEST_LINE ? BSN_HTTP_ERROR : BSN_HTTP_INCOMPLETE;
    }
    /* HTTP/1.x SP 3DIGIT [SP reason] CRLF */
    if (cr - p < 12 || p[8] != ' ')
        return BSN_HTTP_ERROR;
    int minor = parse_version(p);
    if (minor < 0)
        return BSN_HTTP_ERROR;
    out->minor_version = minor;
    const char *d = p + 9;
    if (d[0] < '1' || d[0] > '9' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9')
        return BSN_HTTP_ERROR;
    out->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    const char *r = d + 3;
    if (r < cr) {
        if (*r != ' ')
            return BSN_HTTP_ERROR;
        r++;
        for (const char *c = r; c < cr; c++)
            if (!IS(*c, C_VALUE))
                return BSN_HTTP_ERROR;
    }
    out->reason = mkstr(r, cr);
    p = cr + 2;

    int st = 0;
    int rc = parse_headers(&p, end, buf, out->headers, &out->nheaders, &st);
    if (rc != 1)
        return rc;
    struct framing f;
    f.keep_alive = false;
    if (interpret_headers(out->headers, out->nheaders, minor, false, &f))
        return BSN_HTTP_ERROR;
    out->content_length = f.content_length;
    out->chunked = f.chunked;
    out->keep_alive = f.keep_alive;
    out->upgrade = f.upgrade;
    out->connection = f.connection;
    out->upgrade_proto = f.upgrade_proto;
    return (int)(p - buf);
}

const struct bsn_http_header *
bsn_http_find_header(const struct bsn_http_header *h, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].name.len == nl && strncasecmp(h[i].name.base, name, nl) == 0)
            return &h[i];
    return NULL;
}

/* ---- chunked decoder ---- */

enum {
    CH_SIZE,       /* reading hex digits */
    CH_EXT,        /* after ';' until CR */
    CH_SIZE_LF,    /* expecting LF after size line */
    CH_DATA,       /* copying chunk data */
    CH_DATA_CR,    /* expecting CR after data */
    CH_DATA_LF,    /* expecting LF after data */
    CH_TRAILER,    /* at the start of a trailer line (or the final CRLF) */
    CH_TRAILER_LN, /* inside a trailer line */
    CH_TRAILER_LF, /* expecting LF after a trailer line */
    CH_FINAL_LF,   /* expecting the LF of the final empty line */
    CH_DONE,
};

void
bsn_http_chunked_init(struct bsn_http_chunked *st)
{
    memset(st, 0, sizeof(*st));
    st->state = CH_SIZE;
}

static inline int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int
bsn_http_chunked_decode(struct bsn_http_chunked *st, char *buf, size_t *len)
{
    ctab_init();
    size_t src = 0, dst = 0, n = *len;

    while (src < n) {
        unsigned char c = (unsigned char)buf[src];
        switch (st->state) {
        case CH_SIZE: {
            int v = hexval(c);
            if (v >= 0) {
                if (++st->digits > BSN_HTTP_CHUNK_MAX_DIGITS)
                    goto fail;
                st->remaining = (st->remaining << 4) | (uint64_t)v;
                src++;
                break;
            }
            if (st->digits == 0)
                goto fail;
            if (c == ';' || c == ' ' || c == '\t') {
                st->state = CH_EXT;
                st->line_bytes = 0;
            } else if (c == '\r')
                st->state = CH_SIZE_LF;
            else
                goto fail;
            src++;
            break;
        }
        case CH_EXT:
            if (c == '\r')
                st->state = CH_SIZE_LF;
            else if (!IS(c, C_VALUE) || ++st->line_bytes > BSN_HTTP_CHUNK_MAX_EXT)
                goto fail;
            src++;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                goto fail;
            src++;
            st->digits = 0;
            if (st->remaining == 0) {
                st->state = CH_TRAILER;
                st->line_bytes = 0;
            } else
                st->state = CH_DATA;
            break;
        case CH_DATA: {
            size_t take = n - src;
            if ((uint64_t)take > st->remaining)
                take = (size_t)st->remaining;
            if (dst != src)
                memmove(buf + dst, buf + src, take);
            dst += take;
            src += take;
            st->remaining -= take;
            st->total += take;
            if (st->remaining == 0)
                st->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c != '\r')
                goto fail;
            st->state = CH_DATA_LF;
            src++;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                goto fail;
            st->state = CH_SIZE;
            src++;
            break;
        case CH_TRAILER:
            if (c == '\r') {
                st->state = CH_FINAL_LF;
                src++;
                break;
            }
            if (c == ' ' || c == '\t' || !IS(c, C_TOKEN))
                goto fail;
            st->state = CH_TRAILER_LN;
            /* fallthrough */
        case CH_TRAILER_LN:
            if (c == '\r')
                st->state = CH_TRAILER_LF;
            else if (!IS(c, C_VALUE))
                goto fail;
            if (++st->line_bytes > BSN_HTTP_CHUNK_MAX_TRAILER)
                goto fail;
            src++;
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                goto fail;
            st->state = CH_TRAILER;
            src++;
            break;
        case CH_FINAL_LF:
            if (c != '\n')
                goto fail;
            src++;
            st->state = CH_DONE;
            goto done;
        default:
            goto fail;
        }
    }
    if (st->state != CH_DONE) {
        *len = dst;
        return BSN_HTTP_INCOMPLETE;
    }
done : {
    size_t rest = n - src;
    if (rest && dst != src)
        memmove(buf + dst, buf + src, rest);
    *len = dst;
    return rest > (size_t)INT32_MAX ? BSN_HTTP_ERROR : (int)rest;
}
fail:
    st->state = -1;
    *len = dst;
    return BSN_HTTP_ERROR;
}

const char *
bsn_http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
