/*
 * jwt.c - JSON Web Token verification for GatewayPolicy spec.auth.jwt (OpenSSL 3).
 *
 * Supported: compact JWS with alg HS256, RS256 or ES256. Keys come from a Secret:
 *   jwks        a JWK Set (JSON): kty "oct" (k), "RSA" (n, e) or "EC" P-256 (x, y); kid used
 *               to pick the key when the token names one
 *   hmac        a raw HS256 secret
 *   *.pem       a PEM public key (RSA or EC)
 * Checks: signature, exp and nbf (with leeway), iss and aud when configured. Verified claims
 * can be forwarded upstream as request headers (claimsToHeaders).
 *
 * Every input is bounded: tokens longer than GW_JWT_MAX are rejected before any decoding.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "gateway/gw_jwt.h"

enum key_kind { K_HMAC, K_RSA, K_EC };

struct jwt_key {
    enum key_kind kind;
    char *kid;
    unsigned char *secret; /* K_HMAC */
    size_t secret_len;
    EVP_PKEY *pkey; /* K_RSA / K_EC */
};

struct gw_jwt {
    struct jwt_key *keys;
    int nkeys;
    char *issuer;
    char **audiences;
    int naud;
    char **claims, **headers; /* claimsToHeaders */
    int nclaims;
    int64_t leeway_s;
};

/* base64url (padding optional) into out; returns length or -1. */
static long
b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i], v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-' || c == '+')
            v = 62;
        else if (c == '_' || c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return (long)o;
}

static unsigned char *
b64url_dup(const char *s, size_t *len)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    unsigned char *out = bsn_malloc(n + 1);
    long l = b64url_decode(s, n, out, n + 1);
    if (l <= 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)l;
    return out;
}

static EVP_PKEY *
rsa_from_jwk(const json_t *jwk)
{
    size_t nl = 0, el = 0;
    unsigned char *n = b64url_dup(json_string_value(json_object_get(jwk, "n")), &nl);
    unsigned char *e = b64url_dup(json_string_value(json_object_get(jwk, "e")), &el);
    EVP_PKEY *pkey = NULL;
    if (n && e) {
        BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
        OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (ctx && params && EVP_PKEY_fromdata_init(ctx) > 0)
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        BN_free(bn);
        BN_free(be);
    }
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *
ec_from_jwk(const json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    if (!crv || strcmp(crv, "P-256") != 0)
        return NULL;
    size_t xl = 0, yl = 0;
    unsigned char *x = b64url_dup(json_string_value(json_object_get(jwk, "x")), &xl);
    unsigned char *y = b64url_dup(json_string_value(json_object_get(jwk, "y")), &yl);
    EVP_PKEY *pkey = NULL;
    if (x && y && xl == 32 && yl == 32) {
        unsigned char pt[65];
        pt[0] = 0x04;
        memcpy(pt + 1, x, 32);
        memcpy(pt + 33, y, 32);
        OSSL_PARAM params[3] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)),
            OSSL_PARAM_construct_end()};
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
        EVP_PKEY_CTX_free(ctx);
    }
    free(x);
    free(y);
    return pkey;
}

static void
add_key(struct gw_jwt *j, struct jwt_key k)
{
    j->keys = bsn_realloc(j->keys, (size_t)(j->nkeys + 1) * sizeof(*j->keys));
    j->keys[j->nkeys++] = k;
}

int
gw_jwt_add_jwks(struct gw_jwt *j, const char *json, struct bsn_err *err)
{
    json_error_t je;
    json_t *set = json_loads(json, 0, &je);
    if (!set)
        return bsn_err_set(err, 400, "Invalid", "jwks: %s", je.text);
    json_t *keys = json_object_get(set, "keys"), *k;
    if (!keys && json_object_get(set, "kty")) /* a single JWK */
        keys = json_pack("[O]", set);
    else
        json_incref(keys);
    size_t i;
    int added = 0;
    json_array_foreach(keys, i, k)
    {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *kid = json_string_value(json_object_get(k, "kid"));
        struct jwt_key key = {0};
        if (kty && strcmp(kty, "oct") == 0) {
            key.kind = K_HMAC;
            key.secret = b64url_dup(json_string_value(json_object_get(k, "k")), &key.secret_len);
            if (!key.secret)
                continue;
        } else if (kty && strcmp(kty, "RSA") == 0) {
            key.kind = K_RSA;
            if (!(key.pkey = rsa_from_jwk(k)))
                continue;
        } else if (kty && strcmp(kty, "EC") == 0) {
            key.kind = K_EC;
            if (!(key.pkey = ec_from_jwk(k)))
                continue;
        } else {
            continue;
        }
        key.kid = kid ? bsn_strdup(kid) : NULL;
        add_key(j, key);
        added++;
    }
    json_decref(keys);
    json_decref(set);
    if (!added)
        return bsn_err_set(err, 400, "Invalid", "jwks: no usable key (oct, RSA, EC P-256)");
    return 0;
}

int
gw_jwt_add_hmac(struct gw_jwt *j, const char *secret, size_t len)
{
    struct jwt_key k = {.kind = K_HMAC, .secret = bsn_malloc(len + 1), .secret_len = len};
    memcpy(k.secret, secret, len);
    add_key(j, k);
    return 0;
}

int
gw_jwt_add_pem(struct gw_jwt *j, const char *pem, struct bsn_err *err)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!pkey)
        return bsn_err_set(err, 400, "Invalid", "jwt: not a PEM public key");
    struct jwt_key k = {.kind = EVP_PKEY_is_a(pkey, "RSA") ? K_RSA : K_EC, .pkey = pkey};
    add_key(j, k);
    return 0;
}

struct gw_jwt *
gw_jwt_new(const json_t *spec, struct bsn_err *err)
{
    struct gw_jwt *j = bsn_calloc(1, sizeof(*j));
    const char *iss = json_string_value(json_object_get(spec, "issuer"));
    if (iss)
        j->issuer = bsn_strdup(iss);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(spec, "audiences"), i, v)
    {
        if (!json_is_string(v))
            continue;
        j->audiences = bsn_realloc(j->audiences, (size_t)(j->naud + 1) * sizeof(char *));
        j->audiences[j->naud++] = bsn_strdup(json_string_value(v));
    }
    json_array_foreach(json_object_get(spec, "claimsToHeaders"), i, v)
    {
        const char *c = json_string_value(json_object_get(v, "claim"));
        const char *h = json_string_value(json_object_get(v, "header"));
        if (!c || !h) {
            gw_jwt_free(j);
            bsn_err_set(err, 400, "Invalid",
                        "spec.auth.jwt.claimsToHeaders[%zu]: claim and header are required", i);
            return NULL;
        }
        j->claims = bsn_realloc(j->claims, (size_t)(j->nclaims + 1) * sizeof(char *));
        j->headers = bsn_realloc(j->headers, (size_t)(j->nclaims + 1) * sizeof(char *));
        j->claims[j->nclaims] = bsn_strdup(c);
        j->headers[j->nclaims++] = bsn_strdup(h);
    }
    j->leeway_s = 60;
    const json_t *lw = json_object_get(spec, "leewaySeconds");
    if (json_is_integer(lw) && json_integer_value(lw) >= 0)
        j->leeway_s = json_integer_value(lw);
    return j;
}

int
gw_jwt_nkeys(const struct gw_jwt *j)
{
    return j->nkeys;
}

void
gw_jwt_free(struct gw_jwt *j)
{
    if (!j)
        return;
    for (int i = 0; i < j->nkeys; i++) {
        free(j->keys[i].kid);
        free(j->keys[i].secret);
        EVP_PKEY_free(j->keys[i].pkey);
    }
    free(j->keys);
    free(j->issuer);
    for (int i = 0; i < j->naud; i++)
        free(j->audiences[i]);
    free(j->audiences);
    for (int i = 0; i < j->nclaims; i++) {
        free(j->claims[i]);
        free(j->headers[i]);
    }
    free(j->claims);
    free(j->headers);
    free(j);
}

static bool
verify_sig(const struct jwt_key *k, const char *alg, const unsigned char *msg, size_t mlen,
           const unsigned char *sig, size_t slen)
{
    if (strcmp(alg, "HS256") == 0) {
        if (k->kind != K_HMAC)
            return false;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, msg, mlen, mac, &maclen))
            return false;
        return slen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
    }
    const unsigned char *der = sig;
    size_t derlen = slen;
    unsigned char *owned = NULL;
    if (strcmp(alg, "RS256") == 0) {
        if (k->kind != K_RSA)
            return false;
    } else if (strcmp(alg, "ES256") == 0) {
        if (k->kind != K_EC || slen != 64)
            return false;
        /* JWS carries r || s; OpenSSL wants a DER ECDSA-Sig-Value */
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
        int l = i2d_ECDSA_SIG(es, &owned);
        ECDSA_SIG_free(es);
        if (l <= 0)
            return false;
        der = owned;
        derlen = (size_t)l;
    } else {
        return false;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
              EVP_DigestVerify(md, der, derlen, msg, mlen) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(owned);
    return ok;
}

static bool
aud_ok(const struct gw_jwt *j, const json_t *aud)
{
    if (j->naud == 0)
        return true;
    for (int i = 0; i < j->naud; i++) {
        if (json_is_string(aud) && strcmp(json_string_value(aud), j->audiences[i]) == 0)
            return true;
        size_t k;
        json_t *a;
        json_array_foreach(aud, k, a)
        {
            if (json_is_string(a) && strcmp(json_string_value(a), j->audiences[i]) == 0)
                return true;
        }
    }
    return false;
}

int
gw_jwt_verify(const struct gw_jwt *j, struct bsn_str token, int64_t now, struct bsn_buf *fwd,
              const char **why)
{
    *why = "malformed token";
    if (token.len == 0 || token.len > GW_JWT_MAX)
        return -1;
    const char *t = token.base, *end = t + token.len;
    const char *d1 = memchr(t, '.', token.len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
        return -1;
    unsigned char hbuf[2048], pbuf[GW_JWT_MAX], sbuf[1024];
    long hl = b64url_decode(t, (size_t)(d1 - t), hbuf, sizeof(hbuf) - 1);
    long pl = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), pbuf, sizeof(pbuf) - 1);
    long sl = b64url_decode(d2 + 1, (size_t)(end - d2 - 1), sbuf, sizeof(sbuf));
    if (hl <= 0 || pl <= 0 || sl <= 0)
        return -1;
    json_t *hdr = json_loadb((const char *)hbuf, (size_t)hl, 0, NULL);
    json_t *claims = json_loadb((const char *)pbuf, (size_t)pl, 0, NULL);
    int rc = -1;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    if (!json_is_object(hdr) || !json_is_object(claims) || !alg)
        goto out;
    *why = "unsupported alg";
    if (strcmp(alg, "HS256") != 0 && strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0)
        goto out;
    *why = "bad signature";
    bool ok = false;
    for (int i = 0; i < j->nkeys && !ok; i++) {
        if (kid && j->keys[i].kid && strcmp(kid, j->keys[i].kid) != 0)
            continue;
        ok = verify_sig(&j->keys[i], alg, (const unsigned char *)t, (size_t)(d2 - t), sbuf,
                        (size_t)sl);
    }
    if (!ok)
        goto out;
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    *why = "token expired";
    if (exp && (!json_is_number(exp) || json_number_value(exp) + (double)j->leeway_s <= now))
        goto out;
    *why = "token not yet valid";
    if (nbf && (!json_is_number(nbf) || json_number_value(nbf) - (double)j->leeway_s > now))
        goto out;
    *why = "wrong issuer";
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (j->issuer && (!iss || strcmp(iss, j->issuer) != 0))
        goto out;
    *why = "wrong audience";
    if (!aud_ok(j, json_object_get(claims, "aud")))
        goto out;
    for (int i = 0; i < j->nclaims; i++) {
        json_t *v = json_object_get(claims, j->claims[i]);
        char num[64];
        const char *s = json_string_value(v);
        if (!s && json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            s = num;
        } else if (!s && json_is_boolean(v)) {
            s = json_is_true(v) ? "true" : "false";
        }
        if (!s)
            continue;
        bool clean = true; /* never let a claim inject header lines */
        for (const char *p = s; *p; p++)
            clean &= (unsigned char)*p >= 0x20 && *p != 0x7f;
        if (clean)
            bsn_buf_printf(fwd, "%s: %s\r\n", j->headers[i], s);
    }
    *why = NULL;
    rc = 0;
out:
    json_decref(hdr);
    json_decref(claims);
    return rc;
}
