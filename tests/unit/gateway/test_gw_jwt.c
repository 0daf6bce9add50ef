/*
 * test_gw_jwt.c - JWT verification: HS256, RS256 and ES256 tokens signed here with OpenSSL
 * (keys generated per run, published as a JWK Set / PEM), claims checks (exp, nbf, iss, aud),
 * tampering, alg confusion, and claims forwarded as headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "gateway/gw_jwt.h"

static void
b64url(const unsigned char *in, size_t n, struct bsn_buf *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        char q[4] = {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
        bsn_buf_append(out, q, 4);
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        char q[2] = {t[v >> 18], t[(v >> 12) & 63]};
        bsn_buf_append(out, q, 2);
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        char q[3] = {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63]};
        bsn_buf_append(out, q, 3);
    }
}

static void
b64url_str(const char *s, struct bsn_buf *out)
{
    b64url((const unsigned char *)s, strlen(s), out);
}

/* Makes a token: alg in {HS256, RS256, ES256}; key is the HMAC secret or the private key. */
static char *
make_token(const char *alg, const char *kid, const char *claims, const char *secret, EVP_PKEY *pkey)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"%s%s%s}", alg,
             kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "");
    b64url_str(hdr, &b);
    bsn_buf_putc(&b, '.');
    b64url_str(claims, &b);
    unsigned char sig[512];
    size_t slen = sizeof(sig);
    if (strcmp(alg, "HS256") == 0) {
        unsigned int l;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)b.data, b.len, sig, &l);
        slen = l;
    } else {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &slen, (unsigned char *)b.data, b.len), 1);
        EVP_MD_CTX_free(md);
        if (strcmp(alg, "ES256") == 0) { /* DER -> r || s */
            const unsigned char *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)slen);
            assert_non_null(es);
            memset(sig, 0, 64);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
            ECDSA_SIG_free(es);
            slen = 64;
        }
    }
    bsn_buf_putc(&b, '.');
    b64url(sig, slen, &b);
    return bsn_buf_take(&b);
}

static char *
bn_b64(EVP_PKEY *k, const char *param)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    unsigned char buf[512];
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    struct bsn_buf b;
    bsn_buf_init(&b);
    b64url(buf, (size_t)n, &b);
    return bsn_buf_take(&b);
}

static int
verify(struct gw_jwt *j, const char *tok, struct bsn_buf *fwd, const char **why)
{
    return gw_jwt_verify(j, bsn_str_c(tok), 1700000000, fwd, why);
}

static void
test_hs256_and_claims(void **state)
{
    json_t *spec = json_pack("{s:s,s:[s],s:[{s:s,s:s},{s:s,s:s}]}", "issuer", "bosun-test",
                             "audiences", "shop", "claimsToHeaders", "claim", "sub", "header",
                             "X-User", "claim", "admin", "header", "X-Admin");
    struct bsn_err err = {0};
    struct gw_jwt *j = gw_jwt_new(spec, &err);
    json_decref(spec);
    assert_non_null(j);
    gw_jwt_add_hmac(j, "topsecret", 9);
    struct bsn_buf fwd;
    bsn_buf_init(&fwd);
    const char *why;
    char *ok = make_token("HS256", NULL,
                          "{\"sub\":\"alice\",\"admin\":true,\"iss\":\"bosun-test\",\"aud\":"
                          "[\"x\",\"shop\"],\"exp\":1700000100,\"nbf\":1699999000}",
                          "topsecret", NULL);
    assert_int_equal(verify(j, ok, &fwd, &why), 0);
    assert_non_null(strstr(fwd.data, "X-User: alice\r\n"));
    assert_non_null(strstr(fwd.data, "X-Admin: true\r\n"));
    /* tampered payload: same signature, other claims */
    char *other = make_token("HS256", NULL,
                             "{\"sub\":\"mallory\",\"iss\":\"bosun-test\",\"aud\":"
                             "\"shop\"}",
                             "topsecret", NULL);
    char *dot1 = strchr(ok, '.'), *dot2 = strrchr(ok, '.');
    char *odot1 = strchr(other, '.'), *odot2 = strrchr(other, '.');
    struct bsn_buf t;
    bsn_buf_init(&t);
    bsn_buf_append(&t, ok, (size_t)(dot1 - ok));
    bsn_buf_append(&t, odot1, (size_t)(odot2 - odot1));
    bsn_buf_puts(&t, dot2);
    assert_int_equal(verify(j, t.data, &fwd, &why), -1);
    assert_string_equal(why, "bad signature");
    assert_int_equal(verify(j, other, &fwd, &why), 0); /* no exp: accepted */
    struct {
        const char *claims, *key, *why;
    } bad[] = {
        {"{\"iss\":\"bosun-test\",\"aud\":\"shop\",\"exp\":1699990000}", "topsecret",
         "token expired"},
        {"{\"iss\":\"bosun-test\",\"aud\":\"shop\",\"nbf\":1700009000}", "topsecret",
         "token not yet valid"},
        {"{\"iss\":\"evil\",\"aud\":\"shop\"}", "topsecret", "wrong issuer"},
        {"{\"iss\":\"bosun-test\",\"aud\":\"other\"}", "topsecret", "wrong audience"},
        {"{\"iss\":\"bosun-test\",\"aud\":\"shop\"}", "wrongsecret", "bad signature"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *tok = make_token("HS256", NULL, bad[i].claims, bad[i].key, NULL);
        assert_int_equal(verify(j, tok, &fwd, &why), -1);
        assert_string_equal(why, bad[i].why);
        free(tok);
    }
    /* leeway: expired 30 s ago is still fine with the default 60 s */
    char *lw = make_token("HS256", NULL,
                          "{\"iss\":\"bosun-test\",\"aud\":\"shop\",\"exp\":"
                          "1699999970}",
                          "topsecret", NULL);
    assert_int_equal(verify(j, lw, &fwd, &why), 0);
    static const char *garbage[] = {
        "", "a.b", "a.b.c.d", "!!!.e30.e30", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.e30"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        assert_int_equal(verify(j, garbage[i], &fwd, &why), -1);
    free(lw);
    free(ok);
    free(other);
    bsn_buf_fini(&t);
    bsn_buf_fini(&fwd);
    gw_jwt_free(j);
}

static void
test_rs256_es256_from_jwks(void **state)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa);
    assert_non_null(ec);
    char *n = bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N), *e = bn_b64(rsa, OSSL_PKEY_PARAM_RSA_E);
    char *x = bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_X), *y = bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_Y);
    char jwks[4096];
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
             n, e, x, y);
    struct bsn_err err = {0};
    json_t *spec = json_object();
    struct gw_jwt *j = gw_jwt_new(spec, &err);
    json_decref(spec);
    assert_int_equal(gw_jwt_add_jwks(j, jwks, &err), 0);
    assert_int_equal(gw_jwt_nkeys(j), 2);
    struct bsn_buf fwd;
    bsn_buf_init(&fwd);
    const char *why;
    char *rt = make_token("RS256", "r1", "{\"sub\":\"r\"}", NULL, rsa);
    char *et = make_token("ES256", "e1", "{\"sub\":\"e\"}", NULL, ec);
    char *et_nokid = make_token("ES256", NULL, "{\"sub\":\"e\"}", NULL, ec);
    char *wrongkid = make_token("RS256", "e1", "{\"sub\":\"r\"}", NULL, rsa);
    assert_int_equal(verify(j, rt, &fwd, &why), 0);
    assert_int_equal(verify(j, et, &fwd, &why), 0);
    assert_int_equal(verify(j, et_nokid, &fwd, &why), 0);
    assert_int_equal(verify(j, wrongkid, &fwd, &why), -1);
    /* alg confusion: an HS256 token "signed" with the RSA modulus must not pass */
    char *conf = make_token("HS256", "r1", "{\"sub\":\"r\"}", n, NULL);
    assert_int_equal(verify(j, conf, &fwd, &why), -1);
    /* the same key as PEM */
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, ec);
    char *pem = NULL;
    long pl = BIO_get_mem_data(bio, &pem);
    char *pemz = strndup(pem, (size_t)pl);
    BIO_free(bio);
    spec = json_object();
    struct gw_jwt *j2 = gw_jwt_new(spec, &err);
    json_decref(spec);
    assert_int_equal(gw_jwt_add_pem(j2, pemz, &err), 0);
    assert_int_equal(verify(j2, et, &fwd, &why), 0);
    assert_int_equal(verify(j2, rt, &fwd, &why), -1);
    assert_int_equal(gw_jwt_add_pem(j2, "not a pem", &err), -1);
    assert_int_equal(gw_jwt_add_jwks(j2, "{\"keys\":[{\"kty\":\"XX\"}]}", &err), -1);
    gw_jwt_free(j2);
    free(pemz);
    free(conf);
    free(rt);
    free(et);
    free(et_nokid);
    free(wrongkid);
    free(n);
    free(e);
    free(x);
    free(y);
    bsn_buf_fini(&fwd);
    gw_jwt_free(j);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

int
main(void)
{
    bsn_log_set_level(BSN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hs256_and_claims),
        cmocka_unit_test(test_rs256_es256_from_jwks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
