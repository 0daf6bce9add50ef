/*
 * auth.c - the shop's login service (seed 004): checks a user's password and issues a JWT.
 *
 * Layers: resources (POST /login), service (auth_login), domain (user table, token claims),
 * and the signer (HS256 over OpenSSL's HMAC). The gateway verifies the token on every other
 * route with the same secret (a GatewayPolicy `auth.jwt` with `secretRef` to the Secret whose
 * `hmac` key is JWT_SECRET) and forwards the `sub` claim as X-User.
 * Config: PORT (8080), HOST, SHOP_USERS ("alice:wonderland,bob:builder"), JWT_SECRET
 * (required), JWT_ISSUER (shop-auth), JWT_AUDIENCE (shop), JWT_TTL (3600 s).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base64.h"
#include "base/buf.h"
#include "kit/kit.h"

/* ---- domain ---- */

struct auth {
    const char *users; /* "name:password,..." */
    const char *secret;
    const char *issuer, *audience;
    long ttl;
};

/* True when user:password is listed (constant-time password comparison). */
static bool
auth_check(const struct auth *a, const char *user, const char *password)
{
    size_t ul = strlen(user), pl = strlen(password);
    const char *p = a->users;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        if (colon && (size_t)(colon - p) == ul && memcmp(p, user, ul) == 0) {
            size_t sl = n - ul - 1;
            return sl == pl && CRYPTO_memcmp(colon + 1, password, pl) == 0;
        }
        p += n + (end ? 1 : 0);
    }
    return false;
}

/* ---- the signer ---- */

static void
b64url(const void *p, size_t n, struct bsn_buf *out)
{
    struct bsn_buf tmp = {0};
    bsn_base64_encode(p, n, &tmp);
    for (size_t i = 0; i < tmp.len; i++) {
        char c = tmp.data[i];
        if (c == '=')
            break;
        bsn_buf_putc(out, c == '+' ? '-' : c == '/' ? '_' : c);
    }
    bsn_buf_fini(&tmp);
}

/* header.payload.signature with HS256; returns a malloc'd string. */
static char *
jwt_sign_hs256(const json_t *claims, const char *secret)
{
    struct bsn_buf tok = {0};
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    b64url(header, sizeof(header) - 1, &tok);
    bsn_buf_putc(&tok, '.');
    char *payload = json_dumps(claims, JSON_COMPACT);
    b64url(payload, strlen(payload), &tok);
    free(payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok.data, tok.len, mac,
         &maclen);
    bsn_buf_putc(&tok, '.');
    b64url(mac, maclen, &tok);
    return bsn_buf_take(&tok);
}

/* ---- service ---- */

static char *
auth_login(const struct auth *a, const char *user, const char *password, struct bsn_err *err)
{
    if (!auth_check(a, user, password)) {
        bsn_err_set(err, 401, "InvalidCredentials", "unknown user or wrong password");
        return NULL;
    }
    time_t now = time(NULL);
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", a->issuer, "aud", a->audience, "sub",
                               user, "iat", (json_int_t)now, "exp", (json_int_t)(now + a->ttl));
    char *tok = jwt_sign_hs256(claims, a->secret);
    json_decref(claims);
    return tok;
}

/* ---- resources ---- */

static const struct bsn_kit_field login_fields[] = {
    {"username", BSN_KIT_STRING, true, "who logs in"},
    {"password", BSN_KIT_STRING, true, NULL},
};
static const struct bsn_kit_schema login_schema = {"Login", login_fields, 2, 256};

static void
login(struct bsn_kit_ctx *ctx, void *data)
{
    const struct auth *a = data;
    json_t *body = bsn_kit_body(ctx);
    struct bsn_err err;
    bsn_err_clear(&err);
    char *tok = auth_login(a, json_string_value(json_object_get(body, "username")),
                           json_string_value(json_object_get(body, "password")), &err);
    if (!tok)
        return bsn_kit_error_err(ctx, &err);
    bsn_kit_json(ctx, 200,
                 json_pack("{s:s,s:s,s:I}", "token", tok, "tokenType", "Bearer", "expiresIn",
                           (json_int_t)a->ttl));
    free(tok);
}

int
main(void)
{
    struct auth a = {
        .users = bsn_kit_env("SHOP_USERS", "alice:wonderland,bob:builder"),
        .secret = bsn_kit_env("JWT_SECRET", ""),
        .issuer = bsn_kit_env("JWT_ISSUER", "shop-auth"),
        .audience = bsn_kit_env("JWT_AUDIENCE", "shop"),
        .ttl = bsn_kit_env_int("JWT_TTL", 3600),
    };
    if (strlen(a.secret) < 16) {
        fprintf(stderr, "shop-auth: JWT_SECRET must be set (at least 16 bytes)\n");
        return 1;
    }
    struct bsn_kit_app *app = bsn_kit_app_new("shop-auth");
    bsn_kit_route(app, "POST", "/login", login, &a, &login_schema,
                  "Log in and receive a bearer token (JWT, HS256)");
    int rc = bsn_kit_app_run(app, NULL);
    bsn_kit_app_free(app);
    return rc < 0 ? 1 : 0;
}
