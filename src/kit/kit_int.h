/*
 * kit_int.h - private structures shared by the kit's source files.
 */
#ifndef BSN_KIT_KIT_INT_H
#define BSN_KIT_KIT_INT_H

#include <stdint.h>

#include "http/server.h"
#include "kit/kit.h"

#define BSN_KIT_MAX_ROUTES 64
#define BSN_KIT_NBUCKETS   10

struct bsn_kit_route {
    const char *method;
    const char *pattern;
    bsn_kit_handler handler;
    void *data;
    const struct bsn_kit_schema *body;
    const char *summary;
    /* metrics */
    uint64_t buckets[BSN_KIT_NBUCKETS]; /* cumulative counts are computed on output */
    uint64_t count;
    double sum_s;
};

struct bsn_kit_stat {
    int route; /* index, or -1 for unmatched requests */
    int status;
    uint64_t count;
};

struct bsn_kit_app {
    char *name;
    char *version;
    char listen[128];
    bool access_log;
    struct bsn_kit_route routes[BSN_KIT_MAX_ROUTES];
    size_t nroutes;
    struct bsn_kit_stat *stats;
    size_t nstats, capstats;
    bsn_kit_ready_cb ready;
    void *ready_data;
    struct bsn_loop *loop;
    struct bsn_http_server *srv;
    bool draining;
    struct bsn_timer drain_timer;
    bsn_cb drain_done;
    void *drain_data;
    uint64_t inflight;
};

extern const double bsn_kit_bucket_bounds[BSN_KIT_NBUCKETS];
/* JSON Schema type name of a field type (validation messages and OpenAPI). */
const char *bsn_kit_type_name(enum bsn_kit_type t);

#endif
