/* xport.c: the harness's sockets and its OpenSSL client (see xport.h for why
 * OpenSSL). */
#include "xport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

int xport_connect(const char *path, int port, int rcvbuf)
{
	int fd = socket(path ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	int r;
	if (path) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(path) >= sizeof sun.sun_path) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(sun.sun_path, path);
		r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	} else {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		r = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	}
	if (r && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int xport_connect_error(int fd)
{
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el))
		return errno;
	return err;
}

static void ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	else
		snprintf(buf, sizeof buf, "%s", errno ? strerror(errno) : "connection closed");
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

SSL_CTX *xport_tls_ctx(const char *ca_file, const char *suites, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		ssl_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* An RST at the end of a run is how every client leaves (no TIME_WAIT):
	 * not a TLS error worth a message. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	/* Partial writes and a moving buffer make SSL_write behave like send()
	 * for the control lines; read-ahead saves a syscall per record. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (!SSL_CTX_set_ciphersuites(ctx, suites)) {
		ssl_err(err, errlen, "--tls-suites");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (!SSL_CTX_load_verify_locations(ctx, ca_file, NULL)) {
		ssl_err(err, errlen, ca_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* The servers present this very (self-signed) certificate: trust it as
	 * it is, whatever its CA flag says. */
	X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

SSL *xport_tls_new(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	if (!SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

int xport_tls_handshake(SSL *ssl, char *err, size_t errlen)
{
	errno = 0;
	int r = SSL_do_handshake(ssl);
	if (r == 1)
		return 0;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return EPOLLIN;
	case SSL_ERROR_WANT_WRITE:
		return EPOLLOUT;
	default:
		if (SSL_get_verify_result(ssl) != X509_V_OK) {
			snprintf(err, errlen, "server certificate: %s",
				 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
			ERR_clear_error();
		} else {
			ssl_err(err, errlen, "TLS handshake");
		}
		return -1;
	}
}

/* Maps a failed SSL_read/SSL_write to the recv()/send() convention. */
static ssize_t ssl_result(SSL *ssl, int r)
{
	int e = SSL_get_error(ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (!errno)
			errno = ECONNRESET;
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

ssize_t xport_recv(int fd, SSL *ssl, void *buf, size_t cap)
{
	if (!ssl)
		return recv(fd, buf, cap, 0);
	int want = cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap;
	errno = 0;
	int r = SSL_read(ssl, buf, want);
	return r > 0 ? r : ssl_result(ssl, r);
}

ssize_t xport_send(int fd, SSL *ssl, const void *buf, size_t len)
{
	if (!ssl)
		return send(fd, buf, len, MSG_NOSIGNAL);
	int want = len > (size_t)INT32_MAX ? INT32_MAX : (int)len;
	errno = 0;
	int r = SSL_write(ssl, buf, want);
	return r > 0 ? r : ssl_result(ssl, r);
}

bool xport_pending(SSL *ssl)
{
	return ssl && SSL_has_pending(ssl);
}

void xport_tls_describe(SSL *ssl, char *buf, size_t len)
{
	const char *group = NULL;
	int nid = SSL_get_negotiated_group(ssl);
	if (nid > 0)
		group = SSL_group_to_name(ssl, nid);
	snprintf(buf, len, "%s %s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl), group ? group : "");
}
