/*
 * hpa_calc.c - the HorizontalPodAutoscaler's arithmetic (see hpa.h): upstream's replica
 * calculator for Resource metrics, stabilisation windows and scaling policies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "controllers/hpa.h"

struct acc {
    int64_t usage, request;
    size_t n;
};

/* sums over the pods that count (metric present after substitutions) */
static void
sum_pods(const struct bsn_hpa_pod *pods, const int64_t *usage, const bool *counted, size_t n,
         struct acc *a)
{
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        if (!counted[i])
            continue;
        a->usage += usage[i];
        a->request += pods[i].request > 0 ? pods[i].request : 0;
        a->n++;
    }
}

static double
ratio_of(const struct acc *a, int64_t target_util, int64_t target_avg, int64_t *util, int64_t *avg)
{
    *avg = a->n ? a->usage / (int64_t)a->n : 0;
    if (target_util > 0) {
        *util = a->request > 0 ? a->usage * 100 / a->request : 0;
        return (double)*util / (double)target_util;
    }
    *util = 0;
    return target_avg > 0 ? (double)a->usage / (double)a->n / (double)target_avg : 0;
}

int
bsn_hpa_resource_replicas(const struct bsn_hpa_pod *pods, size_t n, int32_t current,
                          int64_t target_util, int64_t target_avg, bool is_cpu, int32_t *desired,
                          int64_t *util, int64_t *avg, char *msg, size_t msgn)
{
    *desired = current;
    *util = *avg = 0;
    if (n == 0) {
        snprintf(msg, msgn, "no pods returned by selector while calculating replica count");
        return -1;
    }
    int64_t *usage = bsn_calloc(n, sizeof(*usage));
    bool *counted = bsn_calloc(n, sizeof(*counted));
    size_t ready = 0, unready = 0, missing = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bsn_hpa_pod *p = &pods[i];
        if (p->ignored)
            continue;
        if (target_util > 0 && p->request < 0) {
            snprintf(msg, msgn, "missing request for %s", is_cpu ? "cpu" : "memory");
            free(usage);
            free(counted);
            return -1;
        }
        if (p->pending) {
            unready++;
            continue;
        }
        if (!p->has_metrics) {
            missing++;
            continue;
        }
        if (is_cpu && !p->ready) {
            unready++;
            continue;
        }
        usage[i] = p->usage;
        counted[i] = true;
        ready++;
    }
    int rc = 0;
    if (ready == 0) {
        snprintf(msg, msgn, "did not receive metrics for targeted pods (pods might be unready)");
        rc = -1;
        goto out;
    }
    struct acc a;
    sum_pods(pods, usage, counted, n, &a);
    double ratio = ratio_of(&a, target_util, target_avg, util, avg);
    bool up_with_unready = unready > 0 && ratio > 1.0;
    if (!up_with_unready && missing == 0) {
        if (fabs(1.0 - ratio) > BSN_HPA_TOLERANCE)
            *desired = (int32_t)ceil(ratio * (double)ready);
        goto out;
    }
    /* missing pods: 100 % of their request (or the target) when scaling down, 0 when up;
     * unready pods: 0 when scaling up */
    for (size_t i = 0; i < n; i++) {
        const struct bsn_hpa_pod *p = &pods[i];
        if (p->ignored || counted[i])
            continue;
        bool is_unready = p->pending || (p->has_metrics && is_cpu && !p->ready);
        if (is_unready && !up_with_unready)
            continue;
        if (is_unready) {
            usage[i] = 0;
        } else if (ratio < 1.0) {
            usage[i] = target_util > 0 ? p->request : target_avg;
        } else if (ratio > 1.0) {
            usage[i] = 0;
        } else {
            continue;
        }
        counted[i] = true;
    }
    int64_t u2, a2;
    sum_pods(pods, usage, counted, n, &a);
    double nratio = ratio_of(&a, target_util, target_avg, &u2, &a2);
    if (fabs(1.0 - nratio) <= BSN_HPA_TOLERANCE || (ratio < 1.0 && nratio > 1.0) ||
        (ratio > 1.0 && nratio < 1.0))
        goto out;
    int32_t nr = (int32_t)ceil(nratio * (double)a.n);
    if ((nratio < 1.0 && nr > current) || (nratio > 1.0 && nr < current))
        goto out;
    *desired = nr;
out:
    free(usage);
    free(counted);
    return rc;
}

void
bsn_hpa_default_rules(struct bsn_hpa_rules *up, struct bsn_hpa_rules *down)
{
    memset(up, 0, sizeof(*up));
    memset(down, 0, sizeof(*down));
    up->window = 0;
    up->npol = 2;
    up->pol[0] = (struct bsn_hpa_policy){false, 100, 15};
    up->pol[1] = (struct bsn_hpa_policy){true, 4, 15};
    down->window = 300;
    down->npol = 1;
    down->pol[0] = (struct bsn_hpa_policy){false, 100, 15};
}

int32_t
bsn_hpa_stabilize(const struct bsn_hpa_rec *recs, size_t n, time_t now, int32_t current,
                  int32_t desired, const struct bsn_hpa_rules *up, const struct bsn_hpa_rules *down)
{
    int32_t up_rec = desired, down_rec = desired;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].at > now - up->window && recs[i].replicas < up_rec)
            up_rec = recs[i].replicas;
        if (recs[i].at > now - down->window && recs[i].replicas > down_rec)
            down_rec = recs[i].replicas;
    }
    int32_t r = current;
    if (r < up_rec)
        r = up_rec;
    if (r > down_rec)
        r = down_rec;
    return r;
}

/* sum of the changes in one direction within the last period seconds */
static int32_t
changed_in(const struct bsn_hpa_rec *ev, size_t n, time_t now, int32_t period, bool up)
{
    int32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].at > now - period && (up ? ev[i].replicas > 0 : ev[i].replicas < 0))
            sum += up ? ev[i].replicas : -ev[i].replicas;
    return sum;
}

static int32_t
up_limit(const struct bsn_hpa_rec *ev, size_t n, time_t now, int32_t current,
         const struct bsn_hpa_rules *r)
{
    if (r->select == 2)
        return current;
    int32_t best = r->select == 1 ? INT32_MAX : INT32_MIN;
    for (int i = 0; i < r->npol; i++) {
        int32_t start = current - changed_in(ev, n, now, r->pol[i].period, true);
        int32_t lim = r->pol[i].pods
                          ? start + r->pol[i].value
                          : (int32_t)ceil((double)start * (1.0 + (double)r->pol[i].value / 100.0));
        if (r->select == 1 ? lim < best : lim > best)
            best = lim;
    }
    return r->npol ? best : INT32_MAX;
}

static int32_t
down_limit(const struct bsn_hpa_rec *ev, size_t n, time_t now, int32_t current,
           const struct bsn_hpa_rules *r)
{
    if (r->select == 2)
        return current;
    int32_t best = r->select == 1 ? INT32_MIN : INT32_MAX;
    for (int i = 0; i < r->npol; i++) {
        int32_t start = current + changed_in(ev, n, now, r->pol[i].period, false);
        int32_t lim = r->pol[i].pods
                          ? start - r->pol[i].value
                          : (int32_t)floor((double)start * (1.0 - (double)r->pol[i].value / 100.0));
        if (r->select == 1 ? lim > best : lim < best)
            best = lim;
    }
    return r->npol ? best : INT32_MIN;
}

int32_t
bsn_hpa_limit_rate(const struct bsn_hpa_rec *ev, size_t n, time_t now, int32_t current,
                   int32_t desired, int32_t min, int32_t max, const struct bsn_hpa_rules *up,
                   const struct bsn_hpa_rules *down, struct bsn_hpa_limit *why)
{
    why->limited = false;
    why->reason = "DesiredWithinRange";
    why->message = "the desired count is within the acceptable range";
    if (desired > current) {
        int32_t lim = up_limit(ev, n, now, current, up);
        if (lim < current)
            lim = current;
        if (max < lim) {
            lim = max;
            if (desired > lim) {
                why->reason = "TooManyReplicas";
                why->message = "the desired replica count is more than the maximum replica count";
                why->limited = true;
                return lim;
            }
        }
        if (desired > lim) {
            why->reason = "ScaleUpLimit";
            why->message = "the desired replica count is increasing faster than the maximum "
                           "scale rate";
            why->limited = true;
            return lim;
        }
    } else if (desired < current) {
        int32_t lim = down_limit(ev, n, now, current, down);
        if (lim > current)
            lim = current;
        if (min > lim) {
            lim = min;
            if (desired < lim) {
                why->reason = "TooFewReplicas";
                why->message = "the desired replica count is less than the minimum replica count";
                why->limited = true;
                return lim;
            }
        }
        if (desired < lim) {
            why->reason = "ScaleDownLimit";
            why->message = "the desired replica count is decreasing faster than the maximum "
                           "scale rate";
            why->limited = true;
            return lim;
        }
    }
    if (desired > max) {
        why->reason = "TooManyReplicas";
        why->message = "the desired replica count is more than the maximum replica count";
        why->limited = true;
        return max;
    }
    if (desired < min) {
        why->reason = "TooFewReplicas";
        why->message = "the desired replica count is less than the minimum replica count";
        why->limited = true;
        return min;
    }
    return desired;
}
