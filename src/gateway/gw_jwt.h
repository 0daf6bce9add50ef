/*
 * gw_jwt.h - JWT verification (jwt.c) for GatewayPolicy spec.auth.jwt. Internal.
 */
#ifndef BSN_GATEWAY_GW_JWT_H
#define BSN_GATEWAY_GW_JWT_H

#include <jansson.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define GW_JWT_MAX 8192 /* longest token accepted, bytes */

struct gw_jwt;

/* A verifier from the spec.auth.jwt object (issuer, audiences, claimsToHeaders, leeway). */
struct gw_jwt *gw_jwt_new(const json_t *spec, struct bsn_err *err);
void gw_jwt_free(struct gw_jwt *j);
/* Key sources: a JWK Set (JSON), a raw HS256 secret, a PEM public key. */
int gw_jwt_add_jwks(struct gw_jwt *j, const char *json, struct bsn_err *err);
int gw_jwt_add_hmac(struct gw_jwt *j, const char *secret, size_t len);
int gw_jwt_add_pem(struct gw_jwt *j, const char *pem, struct bsn_err *err);
int gw_jwt_nkeys(const struct gw_jwt *j);
/*
 * Verifies a compact JWS token at time `now` (seconds since the epoch). On success returns 0
 * and appends "Header: value\r\n" lines for claimsToHeaders to fwd; on failure returns -1 with
 * *why set to a short reason.
 */
int gw_jwt_verify(const struct gw_jwt *j, struct bsn_str token, int64_t now, struct bsn_buf *fwd,
                  const char **why);

#endif
