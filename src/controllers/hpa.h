/*
 * hpa.h - the HorizontalPodAutoscaler's arithmetic (upstream replica calculator and
 * behavior normalisation), pure and unit-tested; hpa.c drives it from the metrics API.
 */
#ifndef BSN_CONTROLLERS_HPA_H
#define BSN_CONTROLLERS_HPA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BSN_HPA_TOLERANCE 0.1

/* One pod as the replica calculator sees it (values in milli-units for cpu, bytes else). */
struct bsn_hpa_pod {
    int64_t request; /* sum of the containers' requests of the resource; -1 = some missing */
    int64_t usage;   /* from the metrics API */
    bool has_metrics;
    bool ready;   /* counts for cpu only: unready pods are ignored when scaling up */
    bool pending; /* phase Pending: unready whatever the resource */
    bool ignored; /* being deleted or Failed */
};

/*
 * Desired replicas for a Resource metric (upstream GetResourceReplicas / GetRawResourceReplicas):
 * target_util > 0 = averageUtilization (percent of request), else target_avg = averageValue.
 * Fills *util (percent, for Utilization) and *avg (average usage per pod with metrics).
 * is_cpu enables the unready-pod rule. Returns -1 with a message when it cannot compute
 * (no pods, no metrics, missing requests).
 */
int bsn_hpa_resource_replicas(const struct bsn_hpa_pod *pods, size_t n, int32_t current,
                              int64_t target_util, int64_t target_avg, bool is_cpu,
                              int32_t *desired, int64_t *util, int64_t *avg, char *msg,
                              size_t msgn);

/* A recommendation or a scale event with its time. */
struct bsn_hpa_rec {
    time_t at;
    int32_t replicas; /* recommendation: replicas; event: change (+ up, - down) */
};

struct bsn_hpa_policy {
    bool pods; /* Pods (else Percent) */
    int32_t value, period;
};

struct bsn_hpa_rules {
    int32_t window; /* stabilizationWindowSeconds */
    int select;     /* 0 Max, 1 Min, 2 Disabled */
    struct bsn_hpa_policy pol[8];
    int npol;
};

/* Upstream defaults: scale up 0 s window, max(100 %, 4 pods) per 15 s; scale down 300 s
 * window, 100 % per 15 s. */
void bsn_hpa_default_rules(struct bsn_hpa_rules *up, struct bsn_hpa_rules *down);

/*
 * Stabilisation: the lowest recommendation of the scale-up window and the highest of the
 * scale-down window bound desired, starting from current (upstream
 * stabilizeRecommendationWithBehaviors). recs are the past recommendations.
 */
int32_t bsn_hpa_stabilize(const struct bsn_hpa_rec *recs, size_t n, time_t now, int32_t current,
                          int32_t desired, const struct bsn_hpa_rules *up,
                          const struct bsn_hpa_rules *down);

/* Why the count was limited (ScalingLimited reason), "" when within range. */
struct bsn_hpa_limit {
    const char *reason, *message;
    bool limited;
};
/*
 * Rate limits (policies over the scale events within their periods) and min/max replicas
 * (upstream convertDesiredReplicasWithBehaviorRate).
 */
int32_t bsn_hpa_limit_rate(const struct bsn_hpa_rec *events, size_t n, time_t now, int32_t current,
                           int32_t desired, int32_t min, int32_t max,
                           const struct bsn_hpa_rules *up, const struct bsn_hpa_rules *down,
                           struct bsn_hpa_limit *why);

#endif
