/*
 * logic.h - the pure decision functions of the controllers (no I/O), unit-tested on tables.
 */
#ifndef BSN_CONTROLLERS_LOGIC_H
#define BSN_CONTROLLERS_LOGIC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Sorts pods so the ones to delete first come first (upstream ActivePods order): unscheduled
 * before scheduled, Pending before Unknown before Running, not ready before ready, then the
 * most recently created (or readied) first.
 */
void bsn_rank_pods_for_deletion(json_t **pods, size_t n);

/* A ReplicaSet's wanted status from its pods (only the active pods it owns). */
struct bsn_rs_status {
    int64_t replicas, fully_labeled, ready, available;
};
void bsn_rs_compute_status(json_t *const *pods, size_t n, const json_t *template_labels,
                           int64_t min_ready, time_t now, struct bsn_rs_status *out);

/*
 * Rolling update arithmetic (upstream deployment util): maxSurge rounds up, maxUnavailable
 * down; both zero means maxUnavailable 1. Returns -1 on a malformed value.
 */
int bsn_rolling_limits(const json_t *max_surge, const json_t *max_unavailable, int64_t replicas,
                       int64_t *surge, int64_t *unavailable);
/*
 * How far the new ReplicaSet may scale up: min(desired, replicas + surge - total) or its
 * current size when there is no room.
 */
int64_t bsn_rolling_new_rs_size(int64_t desired, int64_t surge, int64_t total_all,
                                int64_t new_current);
/*
 * How many old pods may go now: total available minus the minimum that must stay
 * (desired - maxUnavailable), not below 0, also counting unhealthy old pods to clean first.
 */
int64_t bsn_rolling_old_scale_down(int64_t desired, int64_t unavailable, int64_t all_available,
                                   int64_t new_unavailable_pods);

/* Pod template hash as upstream (FNV-32a of the template + collision count, "safe" encoded). */
void bsn_pod_template_hash(const json_t *template, int64_t collision, char *out, size_t n);

/* ---- cron ---- */

struct bsn_cron {
    uint64_t minute; /* bit i set = minute i allowed */
    uint32_t hour;
    uint32_t dom;   /* bits 1..31 */
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6 */
    bool dom_star, dow_star;
};
/* Parses 5 fields or @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly. -1 on error,
 * with a message in msg. */
int bsn_cron_parse(const char *spec, struct bsn_cron *c, char *msg, size_t msgn);
/* Next time strictly after t (in the zone given by tz_off_fn's broken-down local time: we use
 * UTC or a fixed zone via TZ name), or -1 when none within 5 years. tz may be NULL for UTC. */
time_t bsn_cron_next(const struct bsn_cron *c, time_t t, const char *tz);

#endif
