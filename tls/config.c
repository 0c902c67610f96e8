/* SPDX-License-Identifier: MIT */
/*
 * TLS policy: which protocol names are accepted, the wolfSSL contexts for
 * the server and the client (versions, AEAD-only suites, pinning), and the
 * small helpers the other tls/ files share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tls/tls_internal.h"

#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/memory.h>

/*
 * Forward secrecy and AEAD only.  The TLS 1.3 suites are AEAD by
 * definition; for 1.2, ECDHE with GCM or ChaCha20-Poly1305.  Anything CBC,
 * RSA key exchange or static DH is absent, so a peer offering only those
 * finds no common suite.
 */
static const char tls_ciphers[] =
	"TLS13-AES128-GCM-SHA256:"
	"TLS13-AES256-GCM-SHA384:"
	"TLS13-CHACHA20-POLY1305-SHA256:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:"
	"ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:"
	"ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:"
	"ECDHE-RSA-CHACHA20-POLY1305";

void tls_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void *tls_alloc(size_t n)
{
	return wolfSSL_Malloc(n);
}

void tls_release(void *p)
{
	if (p)
		wolfSSL_Free(p);
}

int tls_sha256(const uint8_t *der, size_t len, uint8_t out[TLS_SHA256_LEN])
{
	return wc_Sha256Hash(der, (word32)len, out) == 0 ? 0 : -EIO;
}

int tls_sha1(const uint8_t *der, size_t len, uint8_t out[TLS_SHA1_LEN])
{
	return wc_ShaHash(der, (word32)len, out) == 0 ? 0 : -EIO;
}

void tls_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int tls_unhex(const char *s, const char *skip, uint8_t *out, size_t n)
{
	size_t digits = 0;

	for (; *s; s++) {
		int v;

		if (strchr(skip, *s))
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			return -EINVAL;
		if (digits >= 2 * n)
			return -EINVAL;
		if (digits % 2 == 0)
			out[digits / 2] = (uint8_t)(v << 4);
		else
			out[digits / 2] |= (uint8_t)v;
		digits++;
	}
	return digits == 2 * n ? 0 : -EINVAL;
}

/* wolfSSL_Init is reference counted inside wolfSSL; one call for the life
 * of the process is all we want, and cleanup never runs because configs
 * may outlive any caller's notion of "done". */
int tls_lib_init(char *err, size_t errlen)
{
	static bool done;

	if (done)
		return 0;
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		tls_seterr(err, errlen, "wolfSSL_Init failed");
		return -EIO;
	}
	done = true;
	return 0;
}

int tls_proto_check(const char *proto, char *err, size_t errlen)
{
	tls_seterr(err, errlen, "%s", "");
	if (!proto || !*proto) {
		tls_seterr(err, errlen, "proto= is empty; use proto=tls1");
		return -EINVAL;
	}
	if (!strcasecmp(proto, "tls1"))
		return 0;
	if (!strcasecmp(proto, "pct1")) {
		tls_seterr(err, errlen, "proto=pct1 refused: PCT 1.0 is an obsolete "
			   "1995 protocol that was never standardized and has no "
			   "secure implementation; use proto=tls1 (TLS 1.2 or 1.3)");
		return -EPROTONOSUPPORT;
	}
	if (!strcasecmp(proto, "ssl2")) {
		tls_seterr(err, errlen, "proto=ssl2 refused: SSL 2.0 is broken "
			   "(weak MACs, downgrade and truncation attacks; RFC 6176 "
			   "forbids it); use proto=tls1 (TLS 1.2 or 1.3)");
		return -EPROTONOSUPPORT;
	}
	if (!strcasecmp(proto, "ssl3")) {
		tls_seterr(err, errlen, "proto=ssl3 refused: SSL 3.0 is broken "
			   "(POODLE; RFC 7568 forbids it); use proto=tls1 "
			   "(TLS 1.2 or 1.3)");
		return -EPROTONOSUPPORT;
	}
	tls_seterr(err, errlen, "unknown proto=%s: the supported protocol is "
		   "tls1 (TLS 1.2 or 1.3)", proto);
	return -EINVAL;
}

static int file_errno(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		int e = errno;

		tls_seterr(err, errlen, "%s %s: %s", what, path, strerror(e));
		return -e;
	}
	fclose(f);
	return 0;
}

static int ctx_common(WOLFSSL_CTX *ctx, bool server, char *err, size_t errlen)
{
	if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_cipher_list(ctx, tls_ciphers) != WOLFSSL_SUCCESS) {
		tls_seterr(err, errlen, "cannot set TLS versions or cipher suites");
		return -EIO;
	}
	/* No resumption: each session costs memory we would have to bound,
	 * and a debugging session reconnects rarely. */
	wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
	if (server) {
		wolfSSL_CTX_NoTicketTLSv12(ctx);
		wolfSSL_CTX_no_ticket_TLSv13(ctx);
	}
	return 0;
}

static int config_alloc(bool server, struct tls_config **out, char *err, size_t errlen)
{
	struct tls_config *cfg;
	int res = tls_lib_init(err, errlen);

	if (res)
		return res;
	cfg = tls_alloc(sizeof(*cfg));
	if (!cfg) {
		tls_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->refs = 1;
	cfg->server = server;
	cfg->ctx = wolfSSL_CTX_new(server ? wolfSSLv23_server_method()
					  : wolfSSLv23_client_method());
	if (!cfg->ctx) {
		tls_release(cfg);
		tls_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	res = ctx_common(cfg->ctx, server, err, errlen);
	if (res) {
		tls_config_put(cfg);
		return res;
	}
	*out = cfg;
	return 0;
}

/*
 * wolfSSL_CTX_check_private_key() in the wolfSSL we build against accepts
 * any EC key with any EC certificate, so prove the pair the way a client
 * will: one handshake in memory, where the client checks the server's
 * signature against the certificate.  A few milliseconds, once per load.
 */
static int key_selftest(struct tls_config *scfg)
{
	struct tls_config *ccfg;
	struct tls_conn *s = NULL, *c = NULL;
	int rs = -EAGAIN, rc = -EAGAIN;
	int res;

	res = tls_client_config_new(NULL, &ccfg, NULL, 0);
	if (res)
		return res;
	if (tls_conn_new(scfg, &s) || tls_conn_new(ccfg, &c)) {
		res = -ENOMEM;
		goto out;
	}
	/* A TLS 1.3 handshake takes two client and one server flight. */
	for (int i = 0; i < 8 && (rs == -EAGAIN || rc == -EAGAIN); i++) {
		struct tls_conn *from[2] = { c, s }, *to[2] = { s, c };

		if (rc == -EAGAIN)
			rc = tls_conn_handshake(c);
		if (rs == -EAGAIN)
			rs = tls_conn_handshake(s);
		for (int k = 0; k < 2; k++) {
			const void *p;
			size_t n;

			while (!tls_conn_out_take(from[k], &p, &n)) {
				ssize_t fed = tls_conn_feed(to[k], p, n);

				tls_conn_out_done(from[k], fed > 0 ? (size_t)fed : n);
				if (fed <= 0)
					break;
			}
		}
	}
	res = rs == 0 && rc == 0 ? 0 : -EINVAL;
out:
	tls_conn_free(s);
	tls_conn_free(c);
	tls_config_put(ccfg);
	return res;
}

int tls_server_config_new(const char *cert_path, const char *key_path,
			  struct tls_config **out, char *err, size_t errlen)
{
	struct tls_config *cfg;
	int res;

	tls_seterr(err, errlen, "%s", "");
	res = file_errno(cert_path, "certificate", err, errlen);
	if (!res)
		res = file_errno(key_path, "private key", err, errlen);
	if (!res)
		res = config_alloc(true, &cfg, err, errlen);
	if (res)
		return res;
	if (wolfSSL_CTX_use_certificate_chain_file(cfg->ctx, cert_path) != WOLFSSL_SUCCESS) {
		tls_seterr(err, errlen, "certificate %s: not a usable PEM certificate",
			   cert_path);
		res = -EINVAL;
	} else if (wolfSSL_CTX_use_PrivateKey_file(cfg->ctx, key_path,
						   WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		tls_seterr(err, errlen, "private key %s: not a usable PEM key "
			   "(encrypted keys are not supported)", key_path);
		res = -EINVAL;
	} else if (wolfSSL_CTX_check_private_key(cfg->ctx) != WOLFSSL_SUCCESS) {
		tls_seterr(err, errlen, "private key %s does not belong to "
			   "certificate %s", key_path, cert_path);
		res = -EINVAL;
	}
	/* Clients authenticate with passwords inside the session. */
	wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_NONE, NULL);
	if (!res && key_selftest(cfg)) {
		tls_seterr(err, errlen, "private key %s does not belong to "
			   "certificate %s", key_path, cert_path);
		res = -EINVAL;
	}
	if (res) {
		tls_config_put(cfg);
		return res;
	}
	*out = cfg;
	return 0;
}

static int load_pin(struct tls_config *cfg, const char *path, char *err, size_t errlen)
{
	WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(path, WOLFSSL_FILETYPE_PEM);
	const unsigned char *der;
	int len = 0;
	int res;

	if (!x) {
		tls_seterr(err, errlen, "pinned certificate %s: not a PEM certificate", path);
		return -EINVAL;
	}
	der = wolfSSL_X509_get_der(x, &len);
	res = der && len > 0 ? tls_sha256(der, (size_t)len, cfg->pin) : -EINVAL;
	wolfSSL_X509_free(x);
	if (res)
		tls_seterr(err, errlen, "pinned certificate %s: cannot hash it", path);
	return res;
}

int tls_client_config_new(const char *pin_cert_path, struct tls_config **out,
			  char *err, size_t errlen)
{
	struct tls_config *cfg;
	int res = 0;

	tls_seterr(err, errlen, "%s", "");
	if (pin_cert_path)
		res = file_errno(pin_cert_path, "pinned certificate", err, errlen);
	if (!res)
		res = config_alloc(false, &cfg, err, errlen);
	if (res)
		return res;
	if (pin_cert_path) {
		res = load_pin(cfg, pin_cert_path, err, errlen);
		if (res) {
			tls_config_put(cfg);
			return res;
		}
		cfg->pinned = true;
	}
	wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_PEER, tls_verify_cb);
	*out = cfg;
	return 0;
}

void tls_config_get(struct tls_config *cfg)
{
	cfg->refs++;
}

void tls_config_put(struct tls_config *cfg)
{
	if (!cfg || --cfg->refs)
		return;
	wolfSSL_CTX_free(cfg->ctx);
	tls_release(cfg);
}
