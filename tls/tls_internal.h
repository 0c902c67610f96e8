/* SPDX-License-Identifier: MIT */
/*
 * What the tls/ files share with each other and nobody else.
 */
#ifndef RINGSIDE_TLS_INTERNAL_H
#define RINGSIDE_TLS_INTERNAL_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tls/tls.h"

struct tls_config {
	WOLFSSL_CTX *ctx;
	unsigned refs;
	bool server;
	bool pinned;			/* client: PIN holds the only server */
	uint8_t pin[TLS_SHA256_LEN];
};

/*
 * Called by wolfSSL for each certificate the server sends, deepest first,
 * with PREVERIFY its own chain verdict (which fails for any self-signed
 * certificate).  Trust here is the pin or the caller's later
 * tls_conn_trust(), never a CA, so the chain verdict is ignored and only
 * the leaf matters.  The server's key possession is checked by wolfSSL
 * independently of this answer.
 */
int tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);

int tls_lib_init(char *err, size_t errlen);
void tls_config_get(struct tls_config *cfg);

/* Allocations go through wolfSSL's allocator so that one hook
 * (wolfSSL_SetAllocators) sees the whole cost of a connection. */
void *tls_alloc(size_t n);
void tls_release(void *p);

int tls_sha256(const uint8_t *der, size_t len, uint8_t out[TLS_SHA256_LEN]);
int tls_sha1(const uint8_t *der, size_t len, uint8_t out[TLS_SHA1_LEN]);
void tls_hex(const uint8_t *p, size_t n, char *out);
/* Exactly N bytes from hex digits in S, in either case, skipping the
 * separators in SKIP (" " for a WinDbg thumbprint, ": " for a
 * fingerprint).  0, or -EINVAL for anything else or a wrong length. */
int tls_unhex(const char *s, const char *skip, uint8_t *out, size_t n);
void tls_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
