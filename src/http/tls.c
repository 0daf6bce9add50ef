/*
 * tls.c - PKI generation and SSL_CTX construction (see tls.h).
 */
#include "http/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"

#define TEN_YEARS (10L * 365 * 24 * 3600)

static int
ssl_err(struct bsn_err *err, const char *what)
{
    char buf[256] = "unknown error";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return bsn_err_set(err, 500, "InternalError", "tls: %s: %s", what, buf);
}

static bool
file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Writes PEM data atomically (temp file + rename) with the given mode. */
static int
write_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key, struct bsn_err *err)
{
    BSN_AUTOFREE char *tmp = bsn_sprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return bsn_err_set(err, 500, "InternalError", "tls: create %s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return bsn_err_set(err, 500, "InternalError", "tls: fdopen: %s", strerror(errno));
    }
    int ok =
        cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    fclose(f);
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return bsn_err_set(err, 500, "InternalError", "tls: write %s failed", path);
    }
    return 0;
}

static X509 *
load_cert(const char *path, struct bsn_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        bsn_err_set(err, 500, "InternalError", "tls: open %s: %s", path, strerror(errno));
        return NULL;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x)
        ssl_err(err, path);
    return x;
}

static EVP_PKEY *
load_key(const char *path, struct bsn_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        bsn_err_set(err, 500, "InternalError", "tls: open %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k)
        ssl_err(err, path);
    return k;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/*
 * Builds a certificate for key, signed by issuer/issuer_key (self-signed when issuer is NULL).
 */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *org, bool ca, bool client_only,
          const char *const *dns, const char *const *ips, X509 *issuer, EVP_PKEY *issuer_key,
          struct bsn_err *err)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    X509_set_version(x, 2);
    BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), TEN_YEARS);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    if (org)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);

    int rc = 0;
    rc |= add_ext(x, issuer, NID_subject_key_identifier, "hash");
    if (ca) {
        rc |= add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        rc |= add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        rc |= add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
        rc |= add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        rc |= add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        rc |= add_ext(x, issuer, NID_ext_key_usage,
                      client_only ? "clientAuth" : "serverAuth,clientAuth");
        struct bsn_buf san;
        bsn_buf_init(&san);
        for (size_t i = 0; dns && dns[i]; i++)
            bsn_buf_printf(&san, "%sDNS:%s", san.len ? "," : "", dns[i]);
        for (size_t i = 0; ips && ips[i]; i++)
            bsn_buf_printf(&san, "%sIP:%s", san.len ? "," : "", ips[i]);
        if (san.len)
            rc |= add_ext(x, issuer, NID_subject_alt_name, san.data);
        bsn_buf_fini(&san);
    }
    if (rc != 0 || !X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        ssl_err(err, "building certificate");
        X509_free(x);
        return NULL;
    }
    return x;
}

int
bsn_tls_issue(const char *ca_cert, const char *ca_key, const char *cn, const char *org, bool client,
              const char *const *dns_names, const char *const *ips, const char *cert_out,
              const char *key_out, struct bsn_err *err)
{
    int rc = -1;
    X509 *ca = load_cert(ca_cert, err), *x = NULL;
    EVP_PKEY *cakey = ca ? load_key(ca_key, err) : NULL, *key = NULL;
    if (!cakey)
        goto out;
    key = EVP_EC_gen("P-256");
    if (!key) {
        ssl_err(err, "generate key");
        goto out;
    }
    x = make_cert(key, cn, org, false, client, dns_names, ips, ca, cakey, err);
    if (!x)
        goto out;
    if (write_pem(key_out, 0600, NULL, key, err) < 0 || write_pem(cert_out, 0644, x, NULL, err) < 0)
        goto out;
    rc = 0;
out:
    X509_free(ca);
    X509_free(x);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    return rc;
}

int
bsn_tls_ensure_pki(const char *dir, const char *const *dns_names, const char *const *ips,
                   struct bsn_err *err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return bsn_err_set(err, 500, "InternalError", "tls: mkdir %s: %s", dir, strerror(errno));
    BSN_AUTOFREE char *ca_crt = bsn_sprintf("%s/ca.crt", dir);
    BSN_AUTOFREE char *ca_key = bsn_sprintf("%s/ca.key", dir);
    BSN_AUTOFREE char *srv_crt = bsn_sprintf("%s/server.crt", dir);
    BSN_AUTOFREE char *srv_key = bsn_sprintf("%s/server.key", dir);
    if (!file_exists(ca_crt) || !file_exists(ca_key)) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        if (!key)
            return ssl_err(err, "generate CA key");
        char cn[64];
        snprintf(cn, sizeof(cn), "bosun-ca@%ld", (long)time(NULL));
        X509 *x = make_cert(key, cn, NULL, true, false, NULL, NULL, NULL, NULL, err);
        int rc = x ? 0 : -1;
        if (rc == 0)
            rc = write_pem(ca_key, 0600, NULL, key, err);
        if (rc == 0)
            rc = write_pem(ca_crt, 0644, x, NULL, err);
        X509_free(x);
        EVP_PKEY_free(key);
        if (rc < 0)
            return bsn_err_prefix(err, "create CA in %s", dir);
        /* A new CA invalidates any old server certificate. */
        unlink(srv_crt);
        unlink(srv_key);
    }
    if (!file_exists(srv_crt) || !file_exists(srv_key)) {
        if (bsn_tls_issue(ca_crt, ca_key, "bosun-server", NULL, false, dns_names, ips, srv_crt,
                          srv_key, err) < 0)
            return bsn_err_prefix(err, "create server certificate in %s", dir);
    }
    return 0;
}

/* ---- contexts ---- */

struct ctx_extra {
    unsigned char *alpn; /* wire format */
    size_t alpn_len;
    bsn_tls_sni_cb sni;
    void *sni_data;
};

static int extra_idx = -1;

static void
extra_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct ctx_extra *e = ptr;
    if (e) {
        free(e->alpn);
        free(e);
    }
}

static struct ctx_extra *
ctx_extra(SSL_CTX *ctx)
{
    if (__atomic_load_n(&extra_idx, __ATOMIC_ACQUIRE) < 0) {
        static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&mu);
        if (extra_idx < 0)
            __atomic_store_n(&extra_idx, SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, extra_free),
                             __ATOMIC_RELEASE);
        pthread_mutex_unlock(&mu);
    }
    struct ctx_extra *e = SSL_CTX_get_ex_data(ctx, extra_idx);
    if (!e) {
        e = bsn_calloc(1, sizeof(*e));
        SSL_CTX_set_ex_data(ctx, extra_idx, e);
    }
    return e;
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
    struct ctx_extra *e = arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, e->alpn, (unsigned)e->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static void
common_ctx(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Our buffers move between retries of a partial write. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_COMPRESSION);
}

SSL_CTX *
bsn_tls_server_ctx(const char *cert, const char *key, const char *const *alpn, struct bsn_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_err(err, "SSL_CTX_new");
        return NULL;
    }
    common_ctx(ctx);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_err(err, cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (alpn && alpn[0]) {
        struct ctx_extra *e = ctx_extra(ctx);
        struct bsn_buf w;
        bsn_buf_init(&w);
        for (size_t i = 0; alpn[i]; i++) {
            size_t l = strlen(alpn[i]);
            if (l == 0 || l > 255)
                continue;
#ifndef BSN_HAVE_NGHTTP2
            if (strcmp(alpn[i], "h2") == 0)
                continue; /* built without HTTP/2 */
#endif
            bsn_buf_putc(&w, (char)l);
            bsn_buf_append(&w, alpn[i], l);
        }
        e->alpn_len = w.len;
        e->alpn = (unsigned char *)bsn_buf_take(&w);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, e);
    }
    return ctx;
}

int
bsn_tls_server_verify_clients(SSL_CTX *ctx, const char *ca_file, struct bsn_err *err)
{
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        return ssl_err(err, ca_file);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

static int
sni_cb(SSL *ssl, int *al, void *arg)
{
    struct ctx_extra *e = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_CTX *c = e->sni ? e->sni(name, e->sni_data) : NULL;
    if (c)
        SSL_set_SSL_CTX(ssl, c);
    return SSL_TLSEXT_ERR_OK;
}

void
bsn_tls_server_set_sni(SSL_CTX *ctx, bsn_tls_sni_cb cb, void *data)
{
    struct ctx_extra *e = ctx_extra(ctx);
    e->sni = cb;
    e->sni_data = data;
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, e);
}

SSL_CTX *
bsn_tls_client_ctx(const char *ca_file, bool insecure, const char *cert, const char *key,
                   struct bsn_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ssl_err(err, "SSL_CTX_new");
        return NULL;
    }
    common_ctx(ctx);
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            ssl_err(err, ca_file ? ca_file : "default CA paths");
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (cert && key) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            ssl_err(err, cert);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

SSL *
bsn_tls_client_ssl(SSL_CTX *ctx, int fd, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    unsigned char tmp[16];
    bool is_ip = inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
    SSL_set_connect_state(ssl);
    return ssl;
}
