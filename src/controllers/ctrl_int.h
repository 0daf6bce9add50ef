/*
 * ctrl_int.h - constructors of the controllers (one file each) for controllers.c.
 */
#ifndef BSN_CONTROLLERS_CTRL_INT_H
#define BSN_CONTROLLERS_CTRL_INT_H

#include "controllers/controllers.h"

void *bsn_simnodes_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_simnodes_free(void *self);
void *bsn_rs_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void *bsn_rc_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_rs_ctrl_free(void *self);
void *bsn_deploy_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_deploy_ctrl_free(void *self);
void *bsn_endpoints_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_endpoints_ctrl_free(void *self);
void *bsn_job_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_job_ctrl_free(void *self);
void *bsn_cronjob_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_cronjob_ctrl_free(void *self);
void *bsn_sts_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_sts_ctrl_free(void *self);
void *bsn_ds_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_ds_ctrl_free(void *self);
void *bsn_ns_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_ns_ctrl_free(void *self);
void *bsn_pdb_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_pdb_ctrl_free(void *self);
void *bsn_nodelifecycle_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_nodelifecycle_ctrl_free(void *self);
/* simmetrics.c: synthetic usage of simulated nodes' pods pushed to the metrics API */
struct bsn_simmetrics;
struct bsn_simmetrics *bsn_simmetrics_new(struct bsn_ctrl *ctx, const struct bsn_map *nodes);
void bsn_simmetrics_free(struct bsn_simmetrics *m);
/* Per-container usage of a simulated pod from its bosun.dev/sim-cpu / sim-memory annotations. */
void bsn_sim_pod_usage(const json_t *pod, int64_t *nanocores, int64_t *kib);
void *bsn_gc_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_gc_ctrl_free(void *self);
void *bsn_hpa_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_hpa_ctrl_free(void *self);
void *bsn_volume_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o);
void bsn_volume_ctrl_free(void *self);

#endif
