/*
 * util.c - durations and IntOrString.
 */
#include "codec/util.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"

static int
dur_err(struct bsn_err *err, const char *what, const char *s)
{
    return bsn_err_set(err, 400, "BadRequest", "time: %s \"%.128s\"", what, s);
}

int
bsn_duration_parse(const char *s, int64_t *ns, struct bsn_err *err)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*p)
        return dur_err(err, "invalid duration", s);
    unsigned __int128 total = 0;
    while (*p) {
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return dur_err(err, "invalid duration", s);
        /* integer part */
        uint64_t whole = 0;
        bool any = false, overflow = false;
        while (*p >= '0' && *p <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                overflow = true;
            whole = whole * 10 + (uint64_t)(*p - '0');
            p++;
            any = true;
        }
        uint64_t frac = 0, scale = 1;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                p++;
                any = true;
            }
        }
        if (!any || overflow)
            return dur_err(err, "invalid duration", s);
        const char *u = p;
        while (*p && !((*p >= '0' && *p <= '9') || *p == '.'))
            p++;
        size_t ul = (size_t)(p - u);
        if (ul == 0)
            return dur_err(err, "missing unit in duration", s);
        uint64_t mult;
        if (ul == 2 && memcmp(u, "ns", 2) == 0)
            mult = 1;
        else if ((ul == 2 && memcmp(u, "us", 2) == 0) ||
                 (ul == 3 && (memcmp(u, "\xc2\xb5s", 3) == 0 || memcmp(u, "\xce\xbcs", 3) == 0)))
            mult = 1000;
        else if (ul == 2 && memcmp(u, "ms", 2) == 0)
            mult = 1000000;
        else if (ul == 1 && *u == 's')
            mult = 1000000000ull;
        else if (ul == 1 && *u == 'm')
            mult = 60ull * 1000000000ull;
        else if (ul == 1 && *u == 'h')
            mult = 3600ull * 1000000000ull;
        else {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown unit \"%.*s\" in duration", (int)BSN_MIN(ul, 16),
                     u);
            return dur_err(err, msg, s);
        }
        total += (unsigned __int128)whole * mult + (unsigned __int128)frac * mult / scale;
        if (total > (unsigned __int128)INT64_MAX + (neg ? 1 : 0))
            return dur_err(err, "invalid duration", s);
    }
    *ns = neg ? (int64_t)(-(__int128)total) : (int64_t)total;
    return 0;
}

/* Appends v / 10^prec with trailing zeros trimmed (Go's fmtFrac + fmtInt). */
static size_t
fmt_frac(char *buf, size_t w, uint64_t *v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(*v % 10);
        print = print || digit != 0;
        if (print)
            buf[--w] = (char)('0' + digit);
        *v /= 10;
    }
    if (print)
        buf[--w] = '.';
    return w;
}

static size_t
fmt_int(char *buf, size_t w, uint64_t v)
{
    if (v == 0) {
        buf[--w] = '0';
    } else {
        while (v > 0) {
            buf[--w] = (char)('0' + (int)(v % 10));
            v /= 10;
        }
    }
    return w;
}

void
bsn_duration_format(int64_t d, char *out, size_t n)
{
    char buf[32];
    size_t w = sizeof(buf);
    bool neg = d < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    if (u < 1000000000ull) {
        int prec;
        buf[--w] = 's';
        w--;
        if (u == 0) {
            snprintf(out, n, "0s");
            return;
        } else if (u < 1000) {
            prec = 0;
            buf[w] = 'n';
        } else if (u < 1000000) {
            prec = 3;
            /* Go prints U+00B5 'µ' */
            buf[w] = '\xb5';
            buf[--w] = '\xc2';
        } else {
            prec = 6;
            buf[w] = 'm';
        }
        w = fmt_frac(buf, w, &u, prec);
        w = fmt_int(buf, w, u);
    } else {
        buf[--w] = 's';
        w = fmt_frac(buf, w, &u, 9);
        w = fmt_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = fmt_int(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                w = fmt_int(buf, w, u);
            }
        }
    }
    if (neg)
        buf[--w] = '-';
    snprintf(out, n, "%.*s", (int)(sizeof(buf) - w), buf + w);
}

static bool
parse_percent(const char *s, int64_t *pct)
{
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != '%' || n > 12)
        return false;
    int64_t v = 0;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n - 1)
        return false;
    for (; i < n - 1; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *pct = neg ? -v : v;
    return true;
}

int
bsn_intstr_scaled(const json_t *v, int64_t total, bool round_up, int64_t *out, struct bsn_err *err)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        int64_t pct;
        if (!parse_percent(json_string_value(v), &pct))
            return bsn_err_set(err, 400, "BadRequest",
                               "invalid value for IntOrString: invalid value \"%.64s\"",
                               json_string_value(v));
        __int128 prod = (__int128)pct * total;
        __int128 q = prod / 100, r = prod % 100;
        if (round_up && r > 0)
            q++;
        else if (!round_up && r < 0)
            q--;
        *out = (int64_t)q;
        return 0;
    }
    return bsn_err_set(err, 400, "BadRequest",
                       "invalid value for IntOrString: must be an integer or a percentage");
}

bool
bsn_intstr_valid(const json_t *v)
{
    int64_t pct;
    return json_is_integer(v) || (json_is_string(v) && parse_percent(json_string_value(v), &pct));
}
