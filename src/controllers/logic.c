/*
 * logic.c - pure decision functions of the workload controllers (see logic.h).
 */
#include "controllers/logic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
