/*
 * tls.h - TLS for the HTTP server and client (OpenSSL 3): a cluster PKI generated on first
 * start, server and client SSL_CTX construction, and an SNI hook for the gateway.
 */
#ifndef BSN_HTTP_TLS_H
#define BSN_HTTP_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "base/err.h"

/*
 * Makes sure dir holds a CA and a server certificate; creates what is missing and leaves
 * existing files alone (so restarts keep the same CA and clients keep trusting it):
 *   dir/ca.crt, dir/ca.key           ECDSA P-256 self-signed CA, 10 years
 *   dir/server.crt, dir/server.key   ECDSA P-256, signed by the CA, 10 years, serverAuth and
 *                                    clientAuth, SANs = dns_names + ips
 * dns_names and ips are NULL-terminated arrays (either may be NULL), e.g.
 * {"localhost", "kubernetes", "kubernetes.default.svc", ..., NULL} and {"127.0.0.1",
 * "10.43.0.1", NULL}. Key files are created 0600, the directory 0700 if it is created.
 * If only server.crt/key are missing they are issued by the existing CA.
 */
int bsn_tls_ensure_pki(const char *dir, const char *const *dns_names, const char *const *ips,
                       struct bsn_err *err);

/*
 * Issues a certificate/key pair signed by ca_cert/ca_key into cert_out/key_out (PEM), e.g. a
 * client certificate for an admin kubeconfig (cn = "admin", org = "system:masters") when
 * client is true, or a server certificate with SANs.
 */
int bsn_tls_issue(const char *ca_cert, const char *ca_key, const char *cn, const char *org,
                  bool client, const char *const *dns_names, const char *const *ips,
                  const char *cert_out, const char *key_out, struct bsn_err *err);

/*
 * Server context: TLS 1.2+, cert chain + key from PEM files, ALPN list (NULL-terminated, in
 * preference order; NULL = no ALPN). The HTTP server (server.h) speaks HTTP/2 on connections
 * that negotiate "h2", so {"h2", "http/1.1", NULL} enables HTTP/2 and {"http/1.1", NULL}
 * keeps clients on HTTP/1.1 ("h2" is dropped when built without nghttp2). Free with
 * SSL_CTX_free.
 */
SSL_CTX *bsn_tls_server_ctx(const char *cert, const char *key, const char *const *alpn,
                            struct bsn_err *err);

/*
 * Optional client-certificate verification for a server context: requests a client
 * certificate and verifies it against ca_file if sent (not required).
 */
int bsn_tls_server_verify_clients(SSL_CTX *ctx, const char *ca_file, struct bsn_err *err);

/*
 * SNI hook (gateway): cb is called during the handshake with the requested server name (may be
 * NULL) and returns the SSL_CTX whose certificate to use, or NULL to keep the default one.
 * The returned context is not freed by the hook.
 */
typedef SSL_CTX *(*bsn_tls_sni_cb)(const char *server_name, void *data);
void bsn_tls_server_set_sni(SSL_CTX *ctx, bsn_tls_sni_cb cb, void *data);

/*
 * Client context: TLS 1.2+, verifies the peer against ca_file (NULL = system default paths)
 * unless insecure; optional client certificate. Hostname checking is set per connection by
 * bsn_tls_client_ssl().
 */
SSL_CTX *bsn_tls_client_ctx(const char *ca_file, bool insecure, const char *cert, const char *key,
                            struct bsn_err *err);
/* New client SSL for fd with SNI and hostname/IP verification for host. */
SSL *bsn_tls_client_ssl(SSL_CTX *ctx, int fd, const char *host);

#endif
