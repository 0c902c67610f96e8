/* xport.h: how the harness reaches a server: TCP on 127.0.0.1 or a Unix
 * socket, optionally with TLS over either.
 *
 * TLS is OpenSSL, not ringside's own tls/ (wolfSSL): the harness must be the
 * same client for every contender and independent of the code under test, so
 * an interoperability problem in tls/ shows up as a failed run instead of two
 * copies of one library agreeing with each other; it is the library of the raw
 * clients users type (openssl s_client, socat) and of Redis; and its AES-GCM
 * is the fastest on hand, which matters because the single-core harness
 * decrypts every delivery of every client.
 *
 * Everything is non-blocking: the caller owns the epoll loop. */
#ifndef BENCH_XPORT_H
#define BENCH_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* A non-blocking stream socket with its connect started: PATH (Unix) when not
 * NULL, else 127.0.0.1:PORT (TCP_NODELAY).  RCVBUF > 0 sets SO_RCVBUF.
 * Returns the fd (wait for EPOLLOUT, then xport_connect_error()), or -1 with
 * errno; EAGAIN means a Unix listener's backlog is full: try again later. */
int xport_connect(const char *path, int port, int rcvbuf);

/* The pending error of a connect started by xport_connect() (0: connected). */
int xport_connect_error(int fd);

/* A client context that trusts exactly the certificate in CA_FILE (the
 * servers' self-signed one) and offers TLS 1.2/1.3 with SUITES for 1.3.
 * NULL with ERR set on failure. */
SSL_CTX *xport_tls_ctx(const char *ca_file, const char *suites, char *err, size_t errlen);

/* A TLS session on connected FD, handshake not started.  NULL on ENOMEM. */
SSL *xport_tls_new(SSL_CTX *ctx, int fd);

/* One handshake step: 0 done, EPOLLIN or EPOLLOUT to wait for, -1 failed
 * (ERR says why). */
int xport_tls_handshake(SSL *ssl, char *err, size_t errlen);

/* recv()/send() over the plain fd (SSL NULL) or the TLS session: bytes > 0;
 * 0 end of stream (recv only); -1 with errno EAGAIN (wait for the fd, in
 * either direction for TLS), or another errno (EPROTO: a TLS error). */
ssize_t xport_recv(int fd, SSL *ssl, void *buf, size_t cap);
ssize_t xport_send(int fd, SSL *ssl, const void *buf, size_t len);

/* Decrypted or buffered bytes the fd's readiness will not announce. */
bool xport_pending(SSL *ssl);

/* "TLSv1.3 TLS_AES_128_GCM_SHA256 x25519" for the report. */
void xport_tls_describe(SSL *ssl, char *buf, size_t len);

#endif
