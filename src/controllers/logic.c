/*
 * logic.c - pure decision functions of the workload controllers (see logic.h).
 */
#include "controllers/logic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/util.h"
#include "controllers/ctrl.h"

static int
phase_rank(const json_t *pod)
{
    const char *p = bsn_json_str(pod, "status.phase");
    if (!p || !strcmp(p, "Pending"))
        return 0;
    if (!strcmp(p, "Unknown"))
        return 1;
    return 2;
}

static time_t
ts(const json_t *obj, const char *path)
{
    const char *s = bsn_json_str(obj, path);
    time_t t = 0;
    if (s)
        bsn_time_parse(s, &t);
    return t;
}

static int
cmp_for_deletion(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    const char *na = bsn_json_str(a, "spec.nodeName"), *nb = bsn_json_str(b, "spec.nodeName");
    bool sa = na && *na, sb = nb && *nb;
    if (sa != sb)
        return sa ? 1 : -1;
    int ra = phase_rank(a), rb = phase_rank(b);
    if (ra != rb)
        return ra - rb;
    bool ya = bsn_pod_ready(a), yb = bsn_pod_ready(b);
    if (ya != yb)
        return ya ? 1 : -1;
    time_t ca = ts(a, "metadata.creationTimestamp"), cb = ts(b, "metadata.creationTimestamp");
    if (ca != cb)
        return ca > cb ? -1 : 1; /* newer first */
    const char *ka = bsn_json_str(a, "metadata.name") ?: "",
               *kb = bsn_json_str(b, "metadata.name") ?: "";
    return strcmp(kb, ka);
}

void
bsn_rank_pods_for_deletion(json_t **pods, size_t n)
{
    qsort(pods, n, sizeof(*pods), cmp_for_deletion);
}

static bool
labels_superset(const json_t *labels, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!have || strcmp(have, json_string_value(v) ?: ""))
            return false;
    }
    return true;
}

void
bsn_rs_compute_status(json_t *const *pods, size_t n, const json_t *template_labels,
                      int64_t min_ready, time_t now, struct bsn_rs_status *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const json_t *p = pods[i];
        out->replicas++;
        if (labels_superset(bsn_json_path(p, "metadata.labels"), template_labels))
            out->fully_labeled++;
        if (bsn_pod_ready(p)) {
            out->ready++;
            if (bsn_pod_available(p, min_ready, now))
                out->available++;
        }
    }
}

int
bsn_rolling_limits(const json_t *max_surge, const json_t *max_unavailable, int64_t replicas,
                   int64_t *surge, int64_t *unavailable)
{
    struct bsn_err err;
    json_t *def = json_string("25%");
    int rc = bsn_intstr_scaled(max_surge ? max_surge : def, replicas, true, surge, &err);
    if (rc == 0)
        rc = bsn_intstr_scaled(max_unavailable ? max_unavailable : def, replicas, false,
                               unavailable, &err);
    json_decref(def);
    if (rc < 0)
        return -1;
    if (*surge == 0 && *unavailable == 0)
        *unavailable = 1;
    return 0;
}

int64_t
bsn_rolling_new_rs_size(int64_t desired, int64_t surge, int64_t total_all, int64_t new_current)
{
    int64_t max_total = desired + surge;
    if (total_all >= max_total)
        return new_current;
    int64_t up = max_total - total_all;
    int64_t room = desired - new_current;
    if (up > room)
        up = room;
    return new_current + (up > 0 ? up : 0);
}

int64_t
bsn_rolling_old_scale_down(int64_t desired, int64_t unavailable, int64_t all_available,
                           int64_t new_unavailable_pods)
{
    int64_t min_available = desired - unavailable;
    int64_t n = all_available - min_available - new_unavailable_pods;
    return n > 0 ? n : 0;
}

void
bsn_pod_template_hash(const json_t *template, int64_t collision, char *out, size_t n)
{
    char *s = bsn_json_dump(template);
    uint32_t h = 2166136261u;
    for (const char *p = s; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    free(s);
    if (collision > 0) {
        for (int i = 0; i < 8; i++) {
            h ^= (uint32_t)((uint64_t)collision >> (i * 8)) & 0xff;
            h *= 16777619u;
        }
    }
    /* upstream rand.SafeEncodeString of the decimal: map each digit to a consonant/digit */
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    char dec[16];
    snprintf(dec, sizeof(dec), "%u", h);
    size_t j = 0;
    for (const char *p = dec; *p && j + 1 < n; p++)
        out[j++] = alnum[(unsigned char)*p % (sizeof(alnum) - 1)];
    out[j] = '\0';
}

/* ---- cron ---- */

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int
cron_value(const char *s, size_t len, int lo, int hi, const char *const *names, int base, int *out)
{
    if (len == 0)
        return -1;
    if (names && len == 3) {
        for (int i = 0; i <= hi - lo; i++)
            if (!strncasecmp(s, names[i], 3)) {
                *out = i + base;
                return 0;
            }
    }
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > 1000)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Parses one field into a bit set; hi_alias lets dow accept 7 for Sunday. */
static int
cron_field(const char *f, int lo, int hi, const char *const *names, int base, uint64_t *bits,
           bool *star, char *msg, size_t msgn, const char *what)
{
    *bits = 0;
    *star = false;
    char *dup = bsn_strdup(f), *save = NULL;
    int rc = 0;
    for (char *part = strtok_r(dup, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char *slash = strchr(part, '/');
        int step = 1;
        if (slash) {
            *slash = '\0';
            if (cron_value(slash + 1, strlen(slash + 1), 1, 1000, NULL, 0, &step) < 0 ||
                step <= 0) {
                snprintf(msg, msgn, "failed to parse int from %s: %s", what, slash + 1);
                rc = -1;
                break;
            }
        }
        int a, b;
        if (!strcmp(part, "*") || !strcmp(part, "?")) {
            a = lo;
            b = hi;
            if (!slash && f[0] == *part)
                *star = true;
        } else {
            char *dash = strchr(part, '-');
            size_t alen = dash ? (size_t)(dash - part) : strlen(part);
            if (cron_value(part, alen, lo, hi, names, base, &a) < 0) {
                snprintf(msg, msgn, "failed to parse int from %s: %.*s", what, (int)alen, part);
                rc = -1;
                break;
            }
            b = a;
            if (dash) {
                if (cron_value(dash + 1, strlen(dash + 1), lo, hi, names, base, &b) < 0) {
                    snprintf(msg, msgn, "failed to parse int from %s: %s", what, dash + 1);
                    rc = -1;
                    break;
                }
            } else if (slash) {
                b = hi;
            }
        }
        int max = hi;
        if (names == dow_names)
            max = 7;
        if (a < lo || b > max || a > b) {
            snprintf(msg, msgn, "end of range (%d) above maximum (%d): %s", b, hi, part);
            if (a < lo)
                snprintf(msg, msgn, "beginning of range (%d) below minimum (%d): %s", a, lo, part);
            else if (a > b)
                snprintf(msg, msgn, "beginning of range (%d) beyond end of range (%d): %s", a, b,
                         part);
            rc = -1;
            break;
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << (names == dow_names && v == 7 ? 0 : v);
    }
    free(dup);
    return rc;
}

int
bsn_cron_parse(const char *spec, struct bsn_cron *c, char *msg, size_t msgn)
{
    memset(c, 0, sizeof(*c));
    static const struct {
        const char *name, *expr;
    } macros[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                  {"@hourly", "0 * * * *"}};
    while (*spec == ' ')
        spec++;
    if (spec[0] == '@') {
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
            if (!strcmp(spec, macros[i].name))
                return bsn_cron_parse(macros[i].expr, c, msg, msgn);
        snprintf(msg, msgn, "unrecognized descriptor: %s", spec);
        return -1;
    }
    char *dup = bsn_strdup(spec), *save = NULL;
    char *f[6];
    int n = 0;
    for (char *t = strtok_r(dup, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == 5) {
            n++;
            break;
        }
        f[n++] = t;
    }
    if (n != 5) {
        snprintf(msg, msgn, "expected exactly 5 fields, found %d: %s", n > 5 ? 6 : n, spec);
        free(dup);
        return -1;
    }
    uint64_t bits;
    bool star;
    int rc = cron_field(f[0], 0, 59, NULL, 0, &bits, &star, msg, msgn, "minute");
    c->minute = bits;
    if (!rc)
        rc = cron_field(f[1], 0, 23, NULL, 0, &bits, &star, msg, msgn, "hour");
    c->hour = (uint32_t)bits;
    if (!rc)
        rc = cron_field(f[2], 1, 31, NULL, 0, &bits, &c->dom_star, msg, msgn, "day of month");
    c->dom = (uint32_t)bits;
    if (!rc)
        rc = cron_field(f[3], 1, 12, month_names, 1, &bits, &star, msg, msgn, "month");
    c->month = (uint16_t)bits;
    if (!rc)
        rc = cron_field(f[4], 0, 6, dow_names, 0, &bits, &c->dow_star, msg, msgn, "day of week");
    c->dow = (uint8_t)bits;
    free(dup);
    return rc;
}

/* Broken-down time in tz (NULL = UTC) and back. */
static void
to_tm(time_t t, const char *tz, struct tm *tm)
{
    if (!tz || !*tz || !strcmp(tz, "UTC") || !strcmp(tz, "Etc/UTC")) {
        gmtime_r(&t, tm);
        return;
    }
    char *old = getenv("TZ") ? bsn_strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    localtime_r(&t, tm);
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

static time_t
from_tm(struct tm *tm, const char *tz)
{
    if (!tz || !*tz || !strcmp(tz, "UTC") || !strcmp(tz, "Etc/UTC"))
        return timegm(tm);
    char *old = getenv("TZ") ? bsn_strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    tm->tm_isdst = -1;
    time_t t = mktime(tm);
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
    return t;
}

static bool
day_matches(const struct bsn_cron *c, const struct tm *tm)
{
    bool dm = c->dom & (1u << tm->tm_mday);
    bool wm = c->dow & (1u << tm->tm_wday);
    if (c->dom_star || c->dow_star)
        return dm && wm;
    return dm || wm;
}

time_t
bsn_cron_next(const struct bsn_cron *c, time_t t, const char *tz)
{
    struct tm tm;
    t = t - t % 60 + 60; /* next whole minute */
    to_tm(t, tz, &tm);
    int year_limit = tm.tm_year + 5;
    for (int guard = 0; guard < 100000 && tm.tm_year <= year_limit; guard++) {
        if (!(c->month & (1u << (tm.tm_mon + 1)))) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!(c->hour & (1u << tm.tm_hour))) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!(c->minute & (1ULL << tm.tm_min))) {
            tm.tm_min++;
        } else {
            return from_tm(&tm, tz);
        }
        /* normalize */
        tm.tm_sec = 0;
        time_t n = from_tm(&tm, tz);
        to_tm(n, tz, &tm);
    }
    return -1;
}
