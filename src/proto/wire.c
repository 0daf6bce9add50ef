/*
 * wire.c - protobuf wire-format primitives, base64, UTF-8 repair, and schema lookups.
 */
#include "proto/wire.h"

#include <string.h>

#include "proto/schema.h"

int
bsn_prd_varint(struct bsn_prd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (r->p >= r->end)
            return -1;
        uint8_t c = *r->p++;
        if (i == 9 && c > 1)
            return -1; /* more than 64 bits */
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int
bsn_prd_bytes(struct bsn_prd *r, const uint8_t **p, size_t *n)
{
    uint64_t len;
    if (bsn_prd_varint(r, &len) < 0)
        return -1;
    if (len > (uint64_t)(r->end - r->p))
        return -1;
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

int
bsn_prd_fixed64(struct bsn_prd *r, uint64_t *v)
{
    if (r->end - r->p < 8)
        return -1;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | r->p[i];
    r->p += 8;
    *v = x;
    return 0;
}

int
bsn_prd_fixed32(struct bsn_prd *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    return 0;
}

int
bsn_prd_skip(struct bsn_prd *r, unsigned wt)
{
    uint64_t v64;
    uint32_t v32;
    const uint8_t *p;
    size_t n;
    switch (wt) {
    case BSN_WT_VARINT:
        return bsn_prd_varint(r, &v64);
    case BSN_WT_I64:
        return bsn_prd_fixed64(r, &v64);
    case BSN_WT_LEN:
        return bsn_prd_bytes(r, &p, &n);
    case BSN_WT_I32:
        return bsn_prd_fixed32(r, &v32);
    default:
        return -1; /* groups are not used by Kubernetes and are refused */
    }
}

void
bsn_pwr_varint(struct bsn_buf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        tmp[n++] = (char)(c | (v ? 0x80 : 0));
    } while (v);
    bsn_buf_append(b, tmp, n);
}

void
bsn_pwr_tag(struct bsn_buf *b, uint32_t num, unsigned wt)
{
    bsn_pwr_varint(b, ((uint64_t)num << 3) | wt);
}

void
bsn_pwr_lenfield(struct bsn_buf *b, uint32_t num, const void *p, size_t n)
{
    bsn_pwr_tag(b, num, BSN_WT_LEN);
    bsn_pwr_varint(b, n);
    if (n)
        bsn_buf_append(b, p, n);
}

void
bsn_pwr_fixed64(struct bsn_buf *b, uint64_t v)
{
    char tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (char)(v >> (8 * i));
    bsn_buf_append(b, tmp, 8);
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

json_t *
bsn_pjson_string(const uint8_t *p, size_t n)
{
    if (!p || !n)
        return json_string(""); /* jansson refuses a NULL pointer even with length 0 */
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        if (!l)
            break;
        i += l;
    }
    if (i == n)
        return json_stringn((const char *)p, n);
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_append(&b, p, i);
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        if (l) {
            bsn_buf_append(&b, p + i, l);
            i += l;
        } else {
            bsn_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    bsn_buf_fini(&b);
    return s;
}

const struct bsn_pmsg *
bsn_pschema_kind(const char *api_version, const char *kind)
{
    if (!api_version || !kind)
        return NULL;
    for (size_t i = 0; i < bsn_proto_nkinds; i++)
        if (!strcmp(bsn_proto_kinds[i].api_version, api_version) &&
            !strcmp(bsn_proto_kinds[i].kind, kind))
            return bsn_proto_kinds[i].msg;
    return NULL;
}

const struct bsn_pfield *
bsn_pschema_field(const struct bsn_pmsg *m, uint32_t num)
{
    uint32_t lo = 0, hi = m->nfields;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->fields[mid].num == num)
            return &m->fields[mid];
        if (m->fields[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
