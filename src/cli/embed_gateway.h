/*
 * embed_gateway.h - the API gateway embedded in `bosun server`: its configuration is fed from
 * the API (Ingress, IngressClass, Gateway API kinds, Services, EndpointSlices, Secrets,
 * GatewayPolicies) through watches, as an ingress controller does; every change is applied
 * as an atomically swapped snapshot (debounced to once per loop iteration).
 */
#ifndef BSN_CLI_EMBED_GATEWAY_H
#define BSN_CLI_EMBED_GATEWAY_H

#include "base/err.h"
#include "gateway/gateway.h"
#include "loop/loop.h"

struct bsn_apiserver;
struct bsn_embedded_gw;

/* address: what Ingress status.loadBalancer reports (the node's address). */
struct bsn_embedded_gw *bsn_embed_gateway_start(struct bsn_loop *loop, struct bsn_apiserver *api,
                                                const struct bsn_gw_options *opts,
                                                const char *address, struct bsn_err *err);
void bsn_embed_gateway_stop(struct bsn_embedded_gw *e);

#endif
