/*
 * grpc.h - the gRPC health protocol for `grpc` probes: grpc.health.v1.Health/Check over h2c
 * (HTTP/2 without TLS, prior knowledge), as kubelet does.
 *
 * Framing: a gRPC message is 1 byte compressed-flag, 4 bytes big-endian length, then the
 * protobuf. HealthCheckRequest is {string service = 1}; HealthCheckResponse is
 * {ServingStatus status = 1} with UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3.
 * The framing functions are pure (unit-tested); the check runs on the loop with nghttp2.
 */
#ifndef BSN_AGENT_GRPC_H
#define BSN_AGENT_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "loop/loop.h"

#define BSN_GRPC_SERVICE_MAX  512
#define BSN_GRPC_RESPONSE_MAX 4096 /* bytes of response messages kept; more is an error */

enum {
    BSN_GRPC_UNKNOWN = 0,
    BSN_GRPC_SERVING = 1,
    BSN_GRPC_NOT_SERVING = 2,
    BSN_GRPC_SERVICE_UNKNOWN = 3
};

/* Writes the framed HealthCheckRequest for service (NULL or "" = the server as a whole) into
 * out. Returns its length, or 0 if it does not fit or service is too long. */
size_t bsn_grpc_health_request(const char *service, uint8_t *out, size_t cap);
/*
 * Parses a framed HealthCheckResponse (the DATA of the response stream). Returns 0 with
 * *status set, 1 if the message is incomplete, -1 if malformed (compressed, bad protobuf,
 * trailing bytes). Unknown fields are skipped as protobuf requires.
 */
int bsn_grpc_parse_health_response(const uint8_t *data, size_t len, int *status);
/* "SERVING", "NOT_SERVING", ... ("UNKNOWN" for values outside the enum). */
const char *bsn_grpc_status_name(int status);

/*
 * One Health/Check call to host:port (IPv4 literal) with a deadline. done gets ok (SERVING)
 * and a message saying why not (upstream's wording). Returns NULL if the call could not be
 * started (done is then not called). Cancel a call in flight with bsn_grpc_check_cancel (no
 * callback). Callbacks run from the loop, never from inside bsn_grpc_check.
 */
struct bsn_grpc_check;
typedef void (*bsn_grpc_done_fn)(int ok, const char *msg, void *data);
struct bsn_grpc_check *bsn_grpc_check(struct bsn_loop *loop, const char *host, int port,
                                      const char *service, unsigned timeout_ms,
                                      bsn_grpc_done_fn done, void *data);
void bsn_grpc_check_cancel(struct bsn_grpc_check *c);

#endif
