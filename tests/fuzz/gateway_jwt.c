/*
 * gateway_jwt.c - fuzz target: arbitrary tokens through JWT verification (HS256 key and an
 * EC JWK loaded), and the input as a JWK Set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_jwt *j;
    struct bsn_err err = {0};
    if (!j) {
        json_t *spec = json_pack("{s:s,s:[{s:s,s:s}]}", "issuer", "i", "claimsToHeaders", "claim",
                                 "sub", "header", "X-User");
        j = gw_jwt_new(spec, &err);
        json_decref(spec);
        gw_jwt_add_hmac(j, "k", 1);
        gw_jwt_add_jwks(j,
                        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
                        "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":"
                        "\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}",
                        &err);
    }
    struct bsn_buf fwd;
    bsn_buf_init(&fwd);
    const char *why;
    if (gw_jwt_verify(j, (struct bsn_str){(const char *)data, size}, 1700000000, &fwd, &why) == 0 &&
        why != NULL)
        abort();
    bsn_buf_fini(&fwd);
    char *s = strndup((const char *)data, size);
    json_t *spec = json_object();
    struct gw_jwt *k = gw_jwt_new(spec, &err);
    json_decref(spec);
    gw_jwt_add_jwks(k, s, &err);
    gw_jwt_free(k);
    free(s);
    return 0;
}
