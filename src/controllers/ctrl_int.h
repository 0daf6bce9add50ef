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

#endif
