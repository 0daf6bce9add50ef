/*
 * metrics.h - the resource metrics API (metrics.k8s.io/v1beta1, what `kubectl top` and the
 * HorizontalPodAutoscaler read) served from an in-memory table the node agents feed.
 *
 * Feeding (one request per node, replacing that node's previous sample):
 *
 *   PUT /apis/bosun.dev/v1/nodemetrics/<node>
 *   {"timestamp":"2026-01-01T00:00:00Z","window":"15s",
 *    "node":{"cpu":"250000000n","memory":"102400Ki"},
 *    "pods":[{"namespace":"default","name":"web-1",
 *             "containers":[{"name":"c","cpu":"200000000n","memory":"65536Ki"}]}]}
 *
 * Serving (get and list, labelSelector on list, as upstream's metrics-server):
 *   GET /apis/metrics.k8s.io/v1beta1/nodes[/<name>]                          NodeMetrics
 *   GET /apis/metrics.k8s.io/v1beta1/[namespaces/<ns>/]pods[/<name>]         PodMetrics
 * Labels come from the Node / Pod objects; samples of pods that no longer exist are not
 * served. A node's sample older than 10 minutes is dropped. At most 10,000 nodes and a 4 MiB
 * body per PUT.
 */
#ifndef BSN_API_METRICS_H
#define BSN_API_METRICS_H

#include <jansson.h>
#include <stdbool.h>

struct req_ctx;

#define BSN_METRICS_GROUP    "metrics.k8s.io"
#define BSN_NODEMETRICS_PATH "/apis/bosun.dev/v1/nodemetrics/"

/* Answers metrics requests (returns true) after the path was parsed into c. */
bool api_resmetrics_handle(struct req_ctx *c);

/*
 * Discovery documents of the group (not a stored resource, so not in the registry):
 * aggregated = the apidiscovery.k8s.io/v2 group entry; else version NULL = the APIGroup
 * entry of /apis, "" = the APIGroup document, "v1beta1" = the APIResourceList.
 */
json_t *api_resmetrics_discovery(bool aggregated, const char *version);

#endif
