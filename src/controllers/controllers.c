/*
 * controllers.c - the table of built-in controllers and their start/stop.
 */
#include "controllers/controllers.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "controllers/ctrl_int.h"

struct entry {
    const char *name;
    void *(*make)(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
    void (*destroy)(void *self);
};

static const struct entry table[] = {
    {"replicaset", bsn_rs_ctrl_new, bsn_rs_ctrl_free},
    {"replicationcontroller", bsn_rc_ctrl_new, bsn_rs_ctrl_free},
    {"deployment", bsn_deploy_ctrl_new, bsn_deploy_ctrl_free},
    {"endpoints", bsn_endpoints_ctrl_new, bsn_endpoints_ctrl_free},
    {"job", bsn_job_ctrl_new, bsn_job_ctrl_free},
    {"cronjob", bsn_cronjob_ctrl_new, bsn_cronjob_ctrl_free},
    {"statefulset", bsn_sts_ctrl_new, bsn_sts_ctrl_free},
    {"daemonset", bsn_ds_ctrl_new, bsn_ds_ctrl_free},
    {"serviceaccount", bsn_ns_ctrl_new, bsn_ns_ctrl_free},
    {"disruption", bsn_pdb_ctrl_new, bsn_pdb_ctrl_free},
    {"nodelifecycle", bsn_nodelifecycle_ctrl_new, bsn_nodelifecycle_ctrl_free},
    {"persistentvolume-binder", bsn_volume_ctrl_new, bsn_volume_ctrl_free},
    {"horizontalpodautoscaling", bsn_hpa_ctrl_new, bsn_hpa_ctrl_free},
    {"garbagecollector", bsn_gc_ctrl_new, bsn_gc_ctrl_free},
};

#define NCTRL (sizeof(table) / sizeof(table[0]))

struct bsn_controllers {
    void *sim;
    void *inst[NCTRL];
};

bool
bsn_controllers_listed(const char *list, const char *name)
{
    if (!list || !*list)
        return false;
    if (!strcmp(list, "all") || !strcmp(list, "*"))
        return true;
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

struct bsn_controllers *
bsn_controllers_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *opts,
                    struct bsn_err *err)
{
    struct bsn_controllers *cs = bsn_calloc(1, sizeof(*cs));
    cs->sim = bsn_simnodes_new(ctx, opts);
    for (size_t i = 0; i < NCTRL; i++) {
        if (bsn_controllers_listed(opts->disable, table[i].name))
            continue;
        cs->inst[i] = table[i].make(ctx, opts);
    }
    return cs;
}

void
bsn_controllers_free(struct bsn_controllers *cs)
{
    if (!cs)
        return;
    for (size_t i = 0; i < NCTRL; i++)
        if (cs->inst[i])
            table[i].destroy(cs->inst[i]);
    bsn_simnodes_free(cs->sim);
    free(cs);
}
