/*
 * base64.c - standard base64 encoding and decoding.
 */
#include "base/base64.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
bsn_base64_encode(const uint8_t *p, size_t n, struct bsn_buf *out)
{
    bsn_buf_reserve(out, (n + 2) / 3 * 4 + 1);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], b64[(v >> 6) & 63], b64[v & 63]};
        bsn_buf_append(out, q, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], '=', '='};
        bsn_buf_append(out, q, 4);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], b64[(v >> 6) & 63], '='};
        bsn_buf_append(out, q, 4);
    }
}

static int
b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
bsn_base64_decode(const char *s, size_t n, struct bsn_buf *out)
{
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t nsym = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\r' || c == '\n')
            continue;
        nsym++;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad)
            return -1; /* data after padding */
        int v = b64val(c);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char byte = (char)(acc >> bits);
            bsn_buf_append(out, &byte, 1);
        }
    }
    if (nsym % 4 != 0 || pad > 2)
        return -1;
    /* the leftover bits must be zero (canonical encoding, as Go's strict decoder) */
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    return 0;
}
