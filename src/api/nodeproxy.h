/*
 * nodeproxy.h - pod subresources across nodes.
 *
 * API server side: pods/log, exec, attach and portforward of a pod bound to a node that serves
 * its own kubelet endpoint (a standalone `bosun agent`; its Node carries the annotation
 * BSN_KUBELET_ANNOTATION = "true") are proxied byte for byte to that node's kubelet server at
 * status.addresses[InternalIP]:status.daemonEndpoints.kubeletEndpoint.Port over TLS (the
 * kubelet's certificate is not verified, as upstream without --kubelet-certificate-authority),
 * authenticated with the API server's admin token. Upgrades (WebSocket) pass through.
 *
 * Node side ("pod host"): a pod-subresource-only API server for a standalone agent's kubelet
 * server, so the agent's handlers (registered with bsn_apiserver_set_pod_handler, answering
 * through the bsn_api_reply functions) serve kubelet requests exactly as they serve the
 * embedded API server.
 */
#ifndef BSN_API_NODEPROXY_H
#define BSN_API_NODEPROXY_H

#include <stdbool.h>

#include "loop/loop.h"

#define BSN_KUBELET_ANNOTATION "bosun.dev/kubelet-server"

struct bsn_apiserver;
struct bsn_http_req;
struct req_ctx;
struct bsn_obj;

/* rest.c: proxies c to the pod's node when that node serves its own kubelet endpoint. True
 * when c was taken (proxied or answered), false when the local handler should serve it. */
bool api_nodeproxy(struct req_ctx *c, const struct bsn_obj *pod);

/* A pod host: an API server without storage or listener; only pod handlers. */
struct bsn_apiserver *bsn_api_podhost_new(struct bsn_loop *loop);
void bsn_api_podhost_free(struct bsn_apiserver *host);
/* Serves req (pods/<sub> of ns/pod) with the handler registered for sub, or answers 404. */
void bsn_api_podhost_serve(struct bsn_apiserver *host, struct bsn_http_req *req, const char *ns,
                           const char *pod, const char *sub);

#endif
