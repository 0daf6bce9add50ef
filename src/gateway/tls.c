/*
 * tls.c - TLS termination with SNI (OpenSSL 3).
 *
 * Certificates come from kubernetes.io/tls Secrets (tls.crt: PEM chain, tls.key: PEM key)
 * named by Ingress spec.tls[] (hosts + secretName) and by Gateway HTTPS listeners
 * (hostname + tls.certificateRefs). The config compiler turns each into an SSL_CTX owned by
 * the snapshot; the gateway's listening context picks one per connection in the SNI callback:
 * exact host, then the longest wildcard, then the first certificate as the default. An SSL
 * object keeps a reference on the context it got, so a reload never breaks a connection.
 *
 * ALPN offers "h2" (when built with nghttp2; h2front.c takes those connections over) and
 * "http/1.1"; TLS 1.2 is the minimum.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "gateway/gw_conn.h"

#ifdef BSN_HAVE_NGHTTP2
static atomic_bool offer_h2 = true;
#else
static atomic_bool offer_h2 = false;
#endif

bool
gw_tls_h2_on(void)
{
    return atomic_load(&offer_h2);
}

void
gw_tls_set_h2(bool on)
{
#ifdef BSN_HAVE_NGHTTP2
    atomic_store(&offer_h2, on);
#else
    BSN_UNUSED(on);
#endif
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
    static const unsigned char both[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    static const unsigned char h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    bool h2 = atomic_load(&offer_h2);
    if (SSL_select_next_proto((unsigned char **)out, outlen, h2 ? both : h11,
                              h2 ? sizeof(both) : sizeof(h11), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
ctx_base(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        abort();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

void *
gw_tls_ctx_new(const char *cert_pem, const char *key_pem, struct bsn_err *err)
{
    SSL_CTX *ctx = ctx_base();
    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
        X509_free(leaf);
        BIO_free(bio);
        SSL_CTX_free(ctx);
        bsn_err_set(err, 400, "Invalid", "tls.crt: not a PEM certificate");
        return NULL;
    }
    X509_free(leaf);
    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        SSL_CTX_add_extra_chain_cert(ctx, extra); /* takes ownership */
    ERR_clear_error();
    BIO_free(bio);
    bio = BIO_new_mem_buf(key_pem, -1);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        EVP_PKEY_free(key);
        SSL_CTX_free(ctx);
        ERR_clear_error();
        bsn_err_set(err, 400, "Invalid", "tls.key: not a PEM private key matching tls.crt");
        return NULL;
    }
    EVP_PKEY_free(key);
    return ctx;
}

int
gw_tls_ctx_client_ca(void *vctx, const char *ca_pem, struct bsn_err *err)
{
    SSL_CTX *ctx = vctx;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (!ca_pem)
        return 0; /* required, and nothing verifies: fail closed */
    BIO *bio = BIO_new_mem_buf(ca_pem, -1);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(store, x) == 1) {
            n++;
            sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
        }
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return bsn_err_set(err, 400, "Invalid", "ca.crt: no PEM certificate");
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
    SSL_CTX_set_verify_depth(ctx, 4);
    return 0;
}

void
gw_tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

void
gw_tls_ctx_ref(void *ctx)
{
    SSL_CTX_up_ref(ctx);
}

/* The certificate context for server name `name` (NULL: no SNI) in cfg, or NULL. */
static SSL_CTX *
pick(const struct bsn_gw_config *cfg, const char *name)
{
    if (!cfg || cfg->ncerts == 0)
        return NULL;
    if (name) {
        for (size_t i = 0; i < cfg->ncerts; i++)
            if (strcasecmp(cfg->certs[i].host, name) == 0)
                return cfg->certs[i].ctx;
        const char *best = NULL;
        SSL_CTX *bctx = NULL;
        for (const char *dot = strchr(name, '.'); dot; dot = NULL) {
            for (size_t i = 0; i < cfg->ncerts; i++) {
                const char *h = cfg->certs[i].host;
                if (h[0] == '*' && strcasecmp(h + 1, dot) == 0 &&
                    (!best || strlen(h) > strlen(best))) {
                    best = h;
                    bctx = cfg->certs[i].ctx;
                }
            }
        }
        if (bctx)
            return bctx;
    }
    return cfg->certs[0].ctx; /* default certificate */
}

static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
    struct gw_conn *c = SSL_get_app_data(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_CTX *ctx = pick(c && c->w->cur ? c->w->cur->cfg : NULL, name);
    if (!ctx) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_SSL_CTX(ssl, ctx);
    /* SSL_set_SSL_CTX keeps the listener's verify settings: take the certificate's */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
    if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
        SSL_set1_verify_cert_store(ssl, SSL_CTX_get_cert_store(ctx));
        SSL_set_client_CA_list(ssl, SSL_dup_CA_list(SSL_CTX_get_client_CA_list(ctx)));
    }
    return SSL_TLSEXT_ERR_OK;
}

void *
gw_tls_listener_ctx(void)
{
    SSL_CTX *ctx = ctx_base();
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    return ctx;
}

/* --- connection I/O --- */

int
gw_tls_accept(struct gw_conn *c, void *listener_ctx)
{
    c->ssl = SSL_new(listener_ctx);
    if (!c->ssl)
        return -1;
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_accept_state(c->ssl);
    SSL_set_app_data(c->ssl, c);
    return 0;
}

void
gw_tls_free(struct gw_conn *c)
{
    if (!c->ssl)
        return;
    SSL_set_quiet_shutdown(c->ssl, 1);
    SSL_free(c->ssl);
    c->ssl = NULL;
}

ssize_t
gw_tls_read(struct gw_conn *c, char *buf, size_t len)
{
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, (int)BSN_MIN(len, (size_t)INT32_MAX));
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->tls_want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        errno = ECONNRESET;
        return -1;
    }
}

int
gw_tls_flush(struct gw_conn *c)
{
    struct gw_sendq *q = &c->q;
    while (q->len > q->off) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, q->buf + q->off, (int)BSN_MIN(q->len - q->off, 1u << 20));
        if (n > 0) {
            q->off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            return 0;
        ERR_clear_error();
        return -1;
    }
    q->off = q->len = 0;
    return 0;
}

int
gw_tls_handshake(struct gw_conn *c)
{
    ERR_clear_error();
    int n = SSL_do_handshake(c->ssl);
    if (n == 1)
        return 1;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        c->tls_want_write = true;
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

bool
gw_tls_is_h2(struct gw_conn *c)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

bool
gw_tls_pending(struct gw_conn *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}
