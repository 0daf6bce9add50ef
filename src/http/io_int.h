/*
 * io_int.h - internal: non-blocking read/write over a plain fd or an OpenSSL SSL*, shared by
 * the HTTP server and client. Not part of the public API.
 */
#ifndef BSN_HTTP_IO_INT_H
#define BSN_HTTP_IO_INT_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

#define BSN_IO_AGAIN (-2) /* would block; *want says which readiness to wait for */
#define BSN_IO_ERR   (-1)

/*
 * Reads up to n bytes. Returns > 0 bytes, 0 on orderly EOF, BSN_IO_AGAIN (with *want set to
 * BSN_EV_READ or BSN_EV_WRITE) or BSN_IO_ERR.
 */
ssize_t bsn_io_read(int fd, SSL *ssl, char *buf, size_t n, unsigned *want);
/* Writes up to n bytes. Returns > 0 bytes written, BSN_IO_AGAIN (with *want) or BSN_IO_ERR. */
ssize_t bsn_io_write(int fd, SSL *ssl, const char *buf, size_t n, unsigned *want);
/* Progresses a TLS handshake: 0 done, BSN_IO_AGAIN (with *want), BSN_IO_ERR. */
int bsn_io_handshake(SSL *ssl, unsigned *want);
/*
 * OpenSSL writes with write(2), which raises SIGPIPE on a reset connection. Servers ignore
 * SIGPIPE (nginx and redis do the same); this sets SIG_IGN once if the disposition is still
 * the default. Called by the server and client constructors.
 */
void bsn_io_ignore_sigpipe(void);
/* Formats the current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out[30]. */
void bsn_http_date(char out[30]);

#endif
