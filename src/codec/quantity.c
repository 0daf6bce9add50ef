/*
 * quantity.c - parse, format, compare and do arithmetic on resource quantities.
 */
#include "codec/quantity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

typedef __int128 i128;

#define NANO      ((i128)1000000000)
#define QTY_LIMIT ((i128)1 << 120) /* |nanos| cap: keeps additions overflow-free */

static int
format_err(struct bsn_err *err, const char *s, const char *why)
{
    return bsn_err_set(err, 400, "BadRequest", "quantity \"%.128s\": %s", s, why);
}

static int
regex_err(struct bsn_err *err, const char *s)
{
    return format_err(err, s,
                      "quantities must match the regular expression '" BSN_QUANTITY_REGEX "'");
}

static i128
pow10_i128(int e)
{
    i128 v = 1;
    while (e-- > 0)
        v *= 10;
    return v;
}

/* Suffix -> (base, exponent, format). Returns -1 when unknown. */
static int
interpret_suffix(const char *suf, int *base2_exp, int *base10_exp, enum bsn_quantity_format *f)
{
    static const struct {
        const char *s;
        int b2, b10;
    } tab[] = {
        {"", 0, 0},    {"n", 0, -9},  {"u", 0, -6},  {"m", 0, -3},  {"k", 0, 3},   {"M", 0, 6},
        {"G", 0, 9},   {"T", 0, 12},  {"P", 0, 15},  {"E", 0, 18},  {"Ki", 10, 0}, {"Mi", 20, 0},
        {"Gi", 30, 0}, {"Ti", 40, 0}, {"Pi", 50, 0}, {"Ei", 60, 0},
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(tab); i++) {
        if (strcmp(tab[i].s, suf) == 0) {
            *base2_exp = tab[i].b2;
            *base10_exp = tab[i].b10;
            *f = tab[i].b2 ? BSN_QTY_BINARY_SI : BSN_QTY_DECIMAL_SI;
            return 0;
        }
    }
    if (suf[0] == 'e' || suf[0] == 'E') {
        const char *p = suf + 1;
        bool neg = false;
        if (*p == '+' || *p == '-')
            neg = *p++ == '-';
        if (!*p || strlen(p) > 4)
            return -1;
        int e = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            e = e * 10 + (*p - '0');
        }
        *base2_exp = 0;
        *base10_exp = neg ? -e : e;
        *f = BSN_QTY_DECIMAL_EXPONENT;
        return 0;
    }
    return -1;
}

int
bsn_quantity_parse(const char *s, struct bsn_quantity *q, struct bsn_err *err)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    /* number: digits [. digits] */
    i128 digits = 0;
    int frac = 0, ndig = 0, sig = 0;
    bool seen_dot = false;
    const char *num = p;
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            if (seen_dot)
                return format_err(err, s, "unable to parse numeric value");
            seen_dot = true;
            continue;
        }
        ndig++;
        if (sig == 0 && *p == '0' && !seen_dot)
            continue;
        if (sig >= 36) {
            /* beyond 36 significant digits: integer digits overflow, fraction digits are
             * far below nano precision; keep a sticky bit for rounding up */
            if (!seen_dot)
                return format_err(err, s, "quantity is too large");
            if (*p != '0')
                digits |= 1;
            continue;
        }
        digits = digits * 10 + (*p - '0');
        if (digits)
            sig++;
        if (seen_dot)
            frac++;
    }
    if (p == num || ndig == 0)
        return regex_err(err, s);
    /* suffix must match [eEinumkKMGTP]*[-+]?[0-9]* */
    const char *suf = p;
    while (*p && strchr("eEinumkKMGTP", *p))
        p++;
    if (*p == '+' || *p == '-')
        p++;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p)
        return regex_err(err, s);
    int b2, b10;
    enum bsn_quantity_format f;
    if (interpret_suffix(suf, &b2, &b10, &f) < 0)
        return format_err(err, s, "unable to parse quantity's suffix");

    /* value = digits * 2^b2 * 10^(b10 - frac); nanos = value * 10^9, rounded up */
    int e10 = b10 - frac + 9;
    i128 v = digits;
    for (int i = 0; i < b2; i++) {
        if (v > QTY_LIMIT)
            return format_err(err, s, "quantity is too large");
        v *= 2;
    }
    if (e10 >= 0) {
        for (int i = 0; i < e10; i++) {
            if (v > QTY_LIMIT / 10)
                return format_err(err, s, "quantity is too large");
            v *= 10;
        }
    } else {
        int d = -e10;
        if (d > 38) {
            v = v ? 1 : 0;
        } else {
            i128 div = pow10_i128(d);
            i128 r = v % div;
            v = v / div + (r ? 1 : 0);
        }
    }
    if (v > QTY_LIMIT)
        return format_err(err, s, "quantity is too large");
    q->nanos = neg ? -v : v;
    q->format = f;
    return 0;
}

int
bsn_quantity_from_json(const json_t *v, struct bsn_quantity *q, struct bsn_err *err)
{
    if (json_is_string(v))
        return bsn_quantity_parse(json_string_value(v), q, err);
    if (json_is_integer(v)) {
        *q = bsn_quantity_from_int(json_integer_value(v), BSN_QTY_DECIMAL_SI);
        return 0;
    }
    if (json_is_real(v)) {
        /* shortest text that reads back as the same double: 0.1 stays "0.1" */
        char tmp[64];
        double d = json_real_value(v);
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        char *plus = strchr(tmp, '+'); /* 1e+20 -> 1e20 to match the quantity syntax */
        if (plus)
            memmove(plus, plus + 1, strlen(plus));
        return bsn_quantity_parse(tmp, q, err);
    }
    return bsn_err_set(err, 400, "BadRequest", "quantity must be a string or a number");
}

static void
i128_str(i128 v, char *out, size_t n)
{
    char tmp[48];
    int i = 0;
    unsigned __int128 u = v < 0 ? (unsigned __int128)(-v) : (unsigned __int128)v;
    do {
        tmp[i++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    size_t o = 0;
    if (v < 0 && o + 1 < n)
        out[o++] = '-';
    while (i > 0 && o + 1 < n)
        out[o++] = tmp[--i];
    out[o] = '\0';
}

void
bsn_quantity_format(const struct bsn_quantity *q, char *out, size_t n)
{
    i128 v = q->nanos;
    if (v == 0) {
        snprintf(out, n, "0");
        return;
    }
    bool neg = v < 0;
    i128 a = neg ? -v : v;
    enum bsn_quantity_format f = q->format;
    char num[48];
    if (f == BSN_QTY_BINARY_SI) {
        if (a < 1024 * NANO || a % NANO != 0)
            f = BSN_QTY_DECIMAL_SI; /* small or fractional: print exactly in decimal */
        else {
            static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
            i128 m = a / NANO;
            int k = 0;
            while (k < 6 && m % 1024 == 0) {
                m /= 1024;
                k++;
            }
            i128_str(neg ? -m : m, num, sizeof(num));
            snprintf(out, n, "%s%s", num, suffix[k]);
            return;
        }
    }
    /* mantissa * 10^e with e a multiple of 3 in [-9, 18], mantissa as small as possible */
    i128 m = a;
    int e = -9;
    while (m % 10 == 0 && e < 18) {
        m /= 10;
        e++;
    }
    while (((e % 3) + 3) % 3 != 0) {
        m *= 10;
        e--;
    }
    i128_str(neg ? -m : m, num, sizeof(num));
    if (f == BSN_QTY_DECIMAL_EXPONENT) {
        if (e == 0)
            snprintf(out, n, "%s", num);
        else
            snprintf(out, n, "%se%d", num, e);
        return;
    }
    static const char *const si[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    snprintf(out, n, "%s%s", num, si[(e + 9) / 3]);
}

char *
bsn_quantity_canonical(const char *s, struct bsn_err *err)
{
    struct bsn_quantity q;
    if (bsn_quantity_parse(s, &q, err))
        return NULL;
    char out[BSN_QUANTITY_STR_MAX];
    bsn_quantity_format(&q, out, sizeof(out));
    return bsn_strdup(out);
}

int
bsn_quantity_cmp(const struct bsn_quantity *a, const struct bsn_quantity *b)
{
    return a->nanos < b->nanos ? -1 : a->nanos > b->nanos ? 1 : 0;
}

static i128
clamp(i128 v)
{
    return v > QTY_LIMIT ? QTY_LIMIT : v < -QTY_LIMIT ? -QTY_LIMIT : v;
}

void
bsn_quantity_add(struct bsn_quantity *a, const struct bsn_quantity *b)
{
    if (a->nanos == 0)
        a->format = b->format;
    a->nanos = clamp(a->nanos + b->nanos);
}

void
bsn_quantity_sub(struct bsn_quantity *a, const struct bsn_quantity *b)
{
    if (a->nanos == 0)
        a->format = b->format;
    a->nanos = clamp(a->nanos - b->nanos);
}

/* nanos / div rounded away from zero, saturated to int64 */
static int64_t
scaled(i128 v, i128 div)
{
    bool neg = v < 0;
    i128 a = neg ? -v : v;
    i128 r = a / div + (a % div ? 1 : 0);
    if (r > INT64_MAX)
        return neg ? INT64_MIN : INT64_MAX;
    return neg ? -(int64_t)r : (int64_t)r;
}

int64_t
bsn_quantity_milli(const struct bsn_quantity *q)
{
    return scaled(q->nanos, 1000000);
}

int64_t
bsn_quantity_value(const struct bsn_quantity *q)
{
    return scaled(q->nanos, NANO);
}

int64_t
bsn_quantity_json_value(const json_t *v, bool milli)
{
    struct bsn_quantity q;
    struct bsn_err err;
    if (!v || bsn_quantity_from_json(v, &q, &err) < 0)
        return 0;
    return milli ? bsn_quantity_milli(&q) : bsn_quantity_value(&q);
}

struct bsn_quantity
bsn_quantity_from_milli(int64_t milli, enum bsn_quantity_format f)
{
    return (struct bsn_quantity){(i128)milli * 1000000, f};
}

struct bsn_quantity
bsn_quantity_from_int(int64_t v, enum bsn_quantity_format f)
{
    return (struct bsn_quantity){(i128)v * NANO, f};
}
