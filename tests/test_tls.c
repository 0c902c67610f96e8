/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for tls/: handshakes between two in-memory connections (and
 * raw wolfSSL peers for what our own side refuses to speak), data both
 * ways, the outbox loan, pinning, trust on first use, certificate stores,
 * garbage input, and the measured cost of a connection.  Certificates are
 * made at start with the openssl CLI in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/memory.h>

#include "tls/tls.h"

static char dir[256];

/* ---- a counting allocator: every wolfSSL and tls/ allocation --------- */

struct hdr {
	size_t size;
	size_t pad;
};

static size_t live, peak;

static void *cnt_malloc(size_t n)
{
	struct hdr *h = malloc(sizeof(*h) + n);

	if (!h)
		return NULL;
	h->size = n;
	live += n;
	if (live > peak)
		peak = live;
	return h + 1;
}

static void cnt_free(void *p)
{
	struct hdr *h;

	if (!p)
		return;
	h = (struct hdr *)p - 1;
	live -= h->size;
	free(h);
}

static void *cnt_realloc(void *p, size_t n)
{
	void *q = cnt_malloc(n);

	if (q && p) {
		struct hdr *h = (struct hdr *)p - 1;

		memcpy(q, p, h->size < n ? h->size : n);
		cnt_free(p);
	}
	return q;
}

/* ---- fixtures ----------------------------------------------------------- */

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		abort();
	}
}

static const char *path(const char *name)
{
	static char bufs[8][512];
	static unsigned next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

#define NEWKEY "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

static void make_certs(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ringside-tls.XXXXXX");
	assert_non_null(mkdtemp(dir));
	sh("cd %s && openssl req -x509 " NEWKEY " -keyout a.key -out a.crt -days 30 "
	   "-subj /CN=a -addext extendedKeyUsage=serverAuth 2>/dev/null", dir);
	sh("cd %s && openssl req -x509 " NEWKEY " -keyout b.key -out b.crt -days 30 "
	   "-subj /CN=b -addext extendedKeyUsage=serverAuth 2>/dev/null", dir);
	sh("cd %s && openssl req -x509 " NEWKEY " -keyout client.key -out client.crt "
	   "-days 30 -subj /CN=c -addext extendedKeyUsage=clientAuth 2>/dev/null", dir);
	sh("cd %s && openssl req -x509 " NEWKEY " -keyout plain.key -out plain.crt "
	   "-days 30 -subj /CN=p 2>/dev/null", dir);
	/* openssl 3.0 has no -not_after for req/x509; ca -selfsign takes
	 * explicit dates. */
	sh("cd %s && mkdir ca && touch ca/index.txt && echo 01 > ca/serial && "
	   "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=ca/index.txt\\nserial=ca/serial\\n"
	   "new_certs_dir=ca\\ndefault_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' "
	   "> ca.cnf && openssl req -new " NEWKEY " -keyout old.key -out old.csr -subj /CN=old "
	   "2>/dev/null && openssl ca -batch -config ca.cnf -selfsign -keyfile old.key "
	   "-in old.csr -out old.crt -notext -startdate 20200101000000Z "
	   "-enddate 20200102000000Z >/dev/null 2>&1", dir);
	sh("chmod 600 %s/*.key", dir);
}

static struct tls_config *server_cfg(const char *stem)
{
	char crt[64], key[64], err[256];
	struct tls_config *cfg;

	snprintf(crt, sizeof(crt), "%s.crt", stem);
	snprintf(key, sizeof(key), "%s.key", stem);
	assert_int_equal(tls_server_config_new(path(crt), path(key), &cfg, err,
					       sizeof(err)), 0);
	return cfg;
}

static struct tls_config *client_cfg(const char *pin_stem)
{
	char crt[64], err[256];
	struct tls_config *cfg;

	snprintf(crt, sizeof(crt), "%s.crt", pin_stem ? pin_stem : "");
	assert_int_equal(tls_client_config_new(pin_stem ? path(crt) : NULL, &cfg,
					       err, sizeof(err)), 0);
	return cfg;
}

/* Moves ciphertext FROM → TO as an io_uring send + receive would, with
 * partial "sends" when the receiver's inbox is full. */
static void xfer(struct tls_conn *from, struct tls_conn *to)
{
	const void *p;
	size_t n;

	while (tls_conn_out_take(from, &p, &n) == 0) {
		ssize_t k = tls_conn_feed(to, p, n);

		if (k < 0)
			k = 0;
		assert_int_equal(tls_conn_out_done(from, (size_t)k), 0);
		if (!k)
			break;
	}
}

static void handshake(struct tls_conn *s, struct tls_conn *c, int *rs, int *rc)
{
	*rs = *rc = -EAGAIN;
	for (int i = 0; i < 50; i++) {
		if (*rc == -EAGAIN)
			*rc = tls_conn_handshake(c);
		xfer(c, s);
		if (*rs == -EAGAIN)
			*rs = tls_conn_handshake(s);
		xfer(s, c);
		if (*rs != -EAGAIN && *rc != -EAGAIN)
			break;
		if ((*rs < 0 && *rs != -EAGAIN) || (*rc < 0 && *rc != -EAGAIN)) {
			/* Let the other side see the alert. */
			if (*rc == -EAGAIN)
				*rc = tls_conn_handshake(c);
			if (*rs == -EAGAIN)
				*rs = tls_conn_handshake(s);
			break;
		}
	}
}

struct pair {
	struct tls_config *scfg, *ccfg;
	struct tls_conn *s, *c;
};

static void pair_up(struct pair *pr, const char *server_stem, const char *pin_stem)
{
	pr->scfg = server_cfg(server_stem);
	pr->ccfg = client_cfg(pin_stem);
	assert_int_equal(tls_conn_new(pr->scfg, &pr->s), 0);
	assert_int_equal(tls_conn_new(pr->ccfg, &pr->c), 0);
}

static void pair_free(struct pair *pr)
{
	assert_int_equal(tls_conn_free(pr->s), TLS_FREED);
	assert_int_equal(tls_conn_free(pr->c), TLS_FREED);
	tls_config_put(pr->scfg);
	tls_config_put(pr->ccfg);
}

/* Sends N bytes of P from W to R, reading into OUT; checks they match. */
static void stream(struct tls_conn *w, struct tls_conn *r, const uint8_t *p, size_t n)
{
	uint8_t *got = malloc(n ? n : 1);
	size_t sent = 0, recvd = 0;

	assert_non_null(got);
	while (recvd < n) {
		while (sent < n) {
			ssize_t k = tls_conn_write(w, p + sent, n - sent);

			if (k == -EAGAIN)
				break;
			assert_true(k > 0 && (size_t)k <= TLS_RECORD_PLAIN_MAX);
			sent += (size_t)k;
		}
		xfer(w, r);
		for (;;) {
			ssize_t k = tls_conn_read(r, got + recvd, n - recvd);

			assert_true(k >= 0);
			if (!k)
				break;
			recvd += (size_t)k;
		}
		assert_true(tls_conn_in_pending(r) <= TLS_INBOX_CAP);
	}
	assert_memory_equal(got, p, n);
	free(got);
}

/* ---- raw wolfSSL peers, for versions and suites we never offer -------- */

struct raw {
	WOLFSSL_CTX *ctx;
	WOLFSSL *ssl;
	uint8_t in[1 << 16], out[1 << 16];
	size_t in_off, in_len, out_len;
};

static int raw_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct raw *r = ctx;
	size_t n = r->in_len < (size_t)sz ? r->in_len : (size_t)sz;

	if (!n)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	memcpy(buf, r->in + r->in_off, n);
	r->in_off += n;
	r->in_len -= n;
	return (int)n;
}

static int raw_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct raw *r = ctx;

	if (r->out_len + (size_t)sz > sizeof(r->out))
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	memcpy(r->out + r->out_len, buf, (size_t)sz);
	r->out_len += (size_t)sz;
	return sz;
}

static struct raw *raw_new(WOLFSSL_METHOD *m, const char *ciphers, const char *stem)
{
	struct raw *r = calloc(1, sizeof(*r));
	char crt[64], key[64];

	assert_non_null(r);
	r->ctx = wolfSSL_CTX_new(m);
	assert_non_null(r->ctx);
	if (ciphers)
		assert_int_equal(wolfSSL_CTX_set_cipher_list(r->ctx, ciphers), WOLFSSL_SUCCESS);
	if (stem) {
		snprintf(crt, sizeof(crt), "%s.crt", stem);
		snprintf(key, sizeof(key), "%s.key", stem);
		assert_int_equal(wolfSSL_CTX_use_certificate_file(r->ctx, path(crt),
					WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
		assert_int_equal(wolfSSL_CTX_use_PrivateKey_file(r->ctx, path(key),
					WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
	}
	wolfSSL_CTX_set_verify(r->ctx, WOLFSSL_VERIFY_NONE, NULL);
	r->ssl = wolfSSL_new(r->ctx);
	assert_non_null(r->ssl);
	wolfSSL_SSLSetIORecv(r->ssl, raw_recv);
	wolfSSL_SSLSetIOSend(r->ssl, raw_send);
	wolfSSL_SetIOReadCtx(r->ssl, r);
	wolfSSL_SetIOWriteCtx(r->ssl, r);
	return r;
}

static void raw_free(struct raw *r)
{
	wolfSSL_free(r->ssl);
	wolfSSL_CTX_free(r->ctx);
	free(r);
}

/* One round of traffic between a raw peer and one of ours. */
static void raw_xfer(struct raw *r, struct tls_conn *c)
{
	const void *p;
	size_t n;

	if (r->out_len) {
		ssize_t k = tls_conn_feed(c, r->out, r->out_len);

		assert_true(k > 0);
		memmove(r->out, r->out + k, r->out_len - (size_t)k);
		r->out_len -= (size_t)k;
	}
	while (tls_conn_out_take(c, &p, &n) == 0) {
		if (r->in_off + r->in_len + n > sizeof(r->in)) {
			memmove(r->in, r->in + r->in_off, r->in_len);
			r->in_off = 0;
		}
		assert_true(r->in_len + n <= sizeof(r->in));
		memcpy(r->in + r->in_off + r->in_len, p, n);
		r->in_len += n;
		assert_int_equal(tls_conn_out_done(c, n), 0);
	}
}

/* Runs a raw client against our server; returns our server's result. */
static int raw_client_handshake(struct raw *r, struct tls_conn *s, int *raw_ok)
{
	int rs = -EAGAIN;

	*raw_ok = 0;
	for (int i = 0; i < 30; i++) {
		if (!*raw_ok)
			*raw_ok = wolfSSL_connect(r->ssl) == WOLFSSL_SUCCESS;
		raw_xfer(r, s);
		if (rs == -EAGAIN)
			rs = tls_conn_handshake(s);
		raw_xfer(r, s);
		if (rs != -EAGAIN && (*raw_ok || rs < 0))
			break;
	}
	return rs;
}

/* ---- tests -------------------------------------------------------------- */

static void test_proto_check(void **state)
{
	char err[256];

	assert_int_equal(tls_proto_check("tls1", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(tls_proto_check("TLS1", err, sizeof(err)), 0);
	assert_int_equal(tls_proto_check("pct1", err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "obsolete"));
	assert_int_equal(tls_proto_check("ssl2", err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "broken"));
	assert_int_equal(tls_proto_check("ssl3", err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "POODLE"));
	assert_int_equal(tls_proto_check("tls13", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tls1"));
}

static void test_handshake_tls13_and_data(void **state)
{
	static uint8_t big[3 * TLS_RECORD_PLAIN_MAX + 123];
	struct tls_peer_info si, ci;
	struct pair pr;
	int rs, rc;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	pair_up(&pr, "a", "a");
	assert_int_equal(tls_conn_write(pr.s, "x", 1), -ENOTCONN);
	assert_int_equal(tls_conn_peer(pr.s, &si), -ENOTCONN);
	handshake(pr.s, pr.c, &rs, &rc);
	assert_int_equal(rs, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(tls_conn_peer(pr.s, &si), 0);
	assert_int_equal(tls_conn_peer(pr.c, &ci), 0);
	assert_string_equal(si.version, "TLSv1.3");
	assert_string_equal(ci.version, "TLSv1.3");
	assert_non_null(strstr(ci.cipher, "GCM") ? ci.cipher : strstr(ci.cipher, "CHACHA"));
	assert_false(si.has_cert);
	assert_true(ci.has_cert && ci.verified);
	/* Nothing held once the handshake traffic is gone. */
	assert_int_equal(tls_conn_out_pending(pr.s), 0);
	assert_int_equal(tls_conn_in_pending(pr.s), 0);

	stream(pr.s, pr.c, big, sizeof(big));
	stream(pr.c, pr.s, (const uint8_t *)"help\n", 5);
	stream(pr.c, pr.s, big, 40000);

	/* close_notify: the reader sees -EPIPE, the writer may not write. */
	assert_int_equal(tls_conn_close_notify(pr.s), 0);
	assert_int_equal(tls_conn_close_notify(pr.s), 0);
	assert_int_equal(tls_conn_write(pr.s, "x", 1), -EPIPE);
	xfer(pr.s, pr.c);
	{
		char b[16];

		assert_int_equal(tls_conn_read(pr.c, b, sizeof(b)), -EPIPE);
	}
	pair_free(&pr);
}

/* TLS 1.2 both ways: raw 1.2-only peers against our server and client. */
static void test_handshake_tls12(void **state)
{
	struct tls_config *scfg = server_cfg("a"), *ccfg = client_cfg("a");
	struct tls_peer_info info;
	struct tls_conn *s, *c;
	struct raw *r;
	char buf[64];
	int ok, rs;

	/* A 1.2-only client meets our server. */
	r = raw_new(wolfTLSv1_2_client_method(), NULL, NULL);
	assert_int_equal(tls_conn_new(scfg, &s), 0);
	rs = raw_client_handshake(r, s, &ok);
	assert_int_equal(rs, 0);
	assert_true(ok);
	assert_int_equal(tls_conn_peer(s, &info), 0);
	assert_string_equal(info.version, "TLSv1.2");
	assert_true(strstr(info.cipher, "ECDHE") &&
		    (strstr(info.cipher, "GCM") || strstr(info.cipher, "CHACHA")));
	assert_int_equal(wolfSSL_write(r->ssl, "ping", 4), 4);
	raw_xfer(r, s);
	assert_int_equal(tls_conn_read(s, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(tls_conn_write(s, "pong", 4), 4);
	raw_xfer(r, s);
	assert_int_equal(wolfSSL_read(r->ssl, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(tls_conn_free(s), TLS_FREED);
	raw_free(r);

	/* Our pinned client meets a 1.2-only server. */
	r = raw_new(wolfTLSv1_2_server_method(), NULL, "a");
	assert_int_equal(tls_conn_new(ccfg, &c), 0);
	rs = -EAGAIN;
	ok = 0;
	for (int i = 0; i < 30 && !(ok && rs == 0); i++) {
		if (rs == -EAGAIN)
			rs = tls_conn_handshake(c);
		raw_xfer(r, c);
		if (!ok)
			ok = wolfSSL_accept(r->ssl) == WOLFSSL_SUCCESS;
		raw_xfer(r, c);
	}
	assert_int_equal(rs, 0);
	assert_int_equal(tls_conn_peer(c, &info), 0);
	assert_string_equal(info.version, "TLSv1.2");
	assert_true(info.verified);
	assert_int_equal(tls_conn_free(c), TLS_FREED);
	raw_free(r);
	tls_config_put(scfg);
	tls_config_put(ccfg);
}

static void test_refuses_cbc_and_old_versions(void **state)
{
	struct tls_config *scfg = server_cfg("a");
	struct tls_conn *s;
	struct raw *r;
	int ok, rs;

	/* A TLS 1.2 client that offers only CBC suites. */
	r = raw_new(wolfTLSv1_2_client_method(),
		    "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:"
		    "ECDHE-RSA-AES128-SHA256:AES128-SHA", NULL);
	assert_int_equal(tls_conn_new(scfg, &s), 0);
	rs = raw_client_handshake(r, s, &ok);
	assert_false(ok);
	assert_true(rs < 0 && rs != -EAGAIN);
	assert_string_not_equal(tls_conn_error(s), "");
	assert_int_equal(tls_conn_free(s), TLS_FREED);
	raw_free(r);

	/* A TLS 1.1-only client. */
	r = raw_new(wolfTLSv1_1_client_method(), NULL, NULL);
	assert_int_equal(tls_conn_new(scfg, &s), 0);
	rs = raw_client_handshake(r, s, &ok);
	assert_false(ok);
	assert_true(rs < 0 && rs != -EAGAIN);
	assert_int_equal(tls_conn_free(s), TLS_FREED);
	raw_free(r);
	tls_config_put(scfg);
}

static void established(struct pair *pr)
{
	int rs, rc;

	pair_up(pr, "a", "a");
	handshake(pr->s, pr->c, &rs, &rc);
	assert_int_equal(rs, 0);
	assert_int_equal(rc, 0);
}

static void test_outbox_loan(void **state)
{
	static uint8_t data[20000];
	uint8_t copy[TLS_OUTBOX_CAP], buf[64];
	const void *p, *p2;
	size_t n, n2;
	struct pair pr;

	memset(data, 'd', sizeof(data));
	established(&pr);
	assert_int_equal(tls_conn_out_take(pr.s, &p, &n), -ENODATA);
	assert_int_equal(tls_conn_write(pr.s, data, 1000), 1000);
	assert_int_equal(tls_conn_out_take(pr.s, &p, &n), 0);
	assert_true(n > 1000);
	memcpy(copy, p, n);

	/* While lent, nothing encrypts and a second take is refused. */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(tls_conn_write(pr.s, data, (size_t)i + 1), -EBUSY);
	assert_int_equal(tls_conn_close_notify(pr.s), -EBUSY);
	assert_int_equal(tls_conn_out_take(pr.s, &p2, &n2), -EBUSY);

	/* Reading stays possible while lent, and leaves the loan alone. */
	assert_int_equal(tls_conn_write(pr.c, "typed", 5), 5);
	xfer(pr.c, pr.s);
	assert_int_equal(tls_conn_read(pr.s, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "typed", 5);
	assert_memory_equal(p, copy, n);
	assert_int_equal(tls_conn_out_pending(pr.s), n);

	/* A partial send keeps the rest, in order. */
	assert_int_equal(tls_conn_out_done(pr.s, n + 1), -EINVAL);
	assert_int_equal(tls_conn_out_done(pr.s, 100), 0);
	assert_int_equal(tls_conn_out_done(pr.s, 0), -EINVAL);
	assert_int_equal(tls_conn_out_take(pr.s, &p2, &n2), 0);
	assert_int_equal(n2, n - 100);
	assert_memory_equal(p2, copy + 100, n2);
	assert_int_equal(tls_conn_feed(pr.c, copy, n), (ssize_t)n);
	assert_int_equal(tls_conn_out_done(pr.s, n2), 0);
	assert_int_equal(tls_conn_read(pr.c, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(tls_conn_out_pending(pr.s), 0);

	/* Freeing while lent is deferred to the completion. */
	assert_int_equal(tls_conn_write(pr.s, data, sizeof(data)), TLS_RECORD_PLAIN_MAX);
	assert_int_equal(tls_conn_write(pr.s, data, sizeof(data)), -EAGAIN);
	assert_int_equal(tls_conn_out_take(pr.s, &p, &n), 0);
	memcpy(copy, p, n);
	assert_int_equal(tls_conn_free(pr.s), TLS_FREE_DEFERRED);
	assert_memory_equal(p, copy, n);	/* still the kernel's, intact */
	assert_int_equal(tls_conn_out_done(pr.s, n / 2), TLS_FREE_DEFERRED);
	assert_int_equal(tls_conn_free(pr.c), TLS_FREED);
	tls_config_put(pr.scfg);
	tls_config_put(pr.ccfg);
}

/* 10 MB from one caller buffer: the conn's memory stays near one record
 * in and out, so nothing copies the plaintext; also the CPU figures. */
static void test_bulk_bounded_and_measured(void **state)
{
	const size_t total = 10u << 20;
	uint8_t *src = malloc(total), *got = malloc(TLS_RECORD_PLAIN_MAX);
	struct timespec t0, t1;
	size_t base, sent = 0, recvd = 0;
	struct tls_peer_info info;
	struct tls_config *scfg, *ccfg;
	struct tls_conn *s, *c;
	int rs, rc;

	assert_non_null(src);
	assert_non_null(got);
	for (size_t i = 0; i < total; i++)
		src[i] = (uint8_t)(i >> 3);
	scfg = server_cfg("a");
	ccfg = client_cfg("a");
	assert_int_equal(tls_conn_new(ccfg, &c), 0);
	assert_int_equal(tls_conn_new(scfg, &s), 0);
	handshake(s, c, &rs, &rc);
	assert_int_equal(rs + rc, 0);

	base = peak = live;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	while (recvd < total) {
		ssize_t k = tls_conn_write(s, src + sent, total - sent);

		if (k > 0)
			sent += (size_t)k;
		else
			assert_int_equal(k, -EAGAIN);
		xfer(s, c);
		while ((k = tls_conn_read(c, got, TLS_RECORD_PLAIN_MAX)) > 0) {
			assert_memory_equal(got, src + recvd, (size_t)k);
			recvd += (size_t)k;
		}
		assert_int_equal(k, 0);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	/* Both conns' buffers (in + out + wolfSSL's record buffers) fit in
	 * this many times over; a plaintext copy of 10 MB would not. */
	assert_true(peak - base < 96 * 1024);
	assert_int_equal(tls_conn_peer(s, &info), 0);
	fprintf(stderr, "tls: 10 MiB server->client (encrypt + decrypt, %s %s): "
		"%.2f ms CPU per MiB; peak heap above idle, both ends: %zu bytes\n",
		info.version, info.cipher,
		((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 10,
		peak - base);

	/* Encryption alone: the outbox goes to /dev/null. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (sent = 0; sent < total;) {
		const void *p;
		size_t n;
		ssize_t k = tls_conn_write(s, src + sent, total - sent);

		assert_true(k > 0);
		sent += (size_t)k;
		assert_int_equal(tls_conn_out_take(s, &p, &n), 0);
		assert_int_equal(tls_conn_out_done(s, n), 0);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	fprintf(stderr, "tls: encrypt only: %.2f ms CPU per MiB\n",
		((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 10);

	assert_int_equal(live, base);	/* idle again: every buffer returned */
	assert_int_equal(tls_conn_free(c), TLS_FREED);
	assert_int_equal(tls_conn_free(s), TLS_FREED);
	tls_config_put(scfg);
	tls_config_put(ccfg);
	free(src);
	free(got);
}

/*
 * What an idle established TLS client costs the server.  wolfSSL keeps
 * process-wide ECC caches that fill during the first handshakes, so warm
 * up first, then hold N connections at once and divide.
 */
static void test_idle_cost(void **state)
{
	enum { N = 8 };
	struct tls_config *scfg = server_cfg("a"), *ccfg = client_cfg("a");
	struct tls_conn *s[N], *c[N];
	size_t base, before_free, clients;
	int rs, rc;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(tls_conn_new(scfg, &s[0]), 0);
		assert_int_equal(tls_conn_new(ccfg, &c[0]), 0);
		handshake(s[0], c[0], &rs, &rc);
		assert_int_equal(rs + rc, 0);
		tls_conn_free(s[0]);
		tls_conn_free(c[0]);
	}
	base = live;
	for (int i = 0; i < N; i++) {
		assert_int_equal(tls_conn_new(scfg, &s[i]), 0);
		assert_int_equal(tls_conn_new(ccfg, &c[i]), 0);
		handshake(s[i], c[i], &rs, &rc);
		assert_int_equal(rs + rc, 0);
	}
	before_free = live;
	for (int i = 0; i < N; i++)
		tls_conn_free(c[i]);
	clients = before_free - live;
	fprintf(stderr, "tls: idle established connection: server side %zu bytes, "
		"client side %zu bytes (wolfSSL session + struct tls_conn, no "
		"buffers); process-wide wolfSSL caches not included\n",
		(live - base) / N, clients / N);
	assert_true((live - base) / N < 64 * 1024);
	for (int i = 0; i < N; i++)
		tls_conn_free(s[i]);
	tls_config_put(scfg);
	tls_config_put(ccfg);
}

static void test_pinning(void **state)
{
	struct tls_peer_info info;
	struct pair pr;
	int rs, rc;

	pair_up(&pr, "b", "a");
	handshake(pr.s, pr.c, &rs, &rc);
	assert_int_equal(rc, -EACCES);
	assert_true(rs < 0 && rs != -EAGAIN);
	assert_non_null(strstr(tls_conn_error(pr.c), "not the pinned"));
	assert_int_equal(tls_conn_peer(pr.c, &info), -ENOTCONN);
	assert_int_equal(tls_conn_write(pr.c, "x", 1), -EACCES);
	pair_free(&pr);
}

static void test_tofu(void **state)
{
	struct tls_known_result kr;
	struct tls_peer_info info;
	uint8_t fp_a[TLS_SHA256_LEN];
	char known[512], buf[16];
	struct stat st;
	struct pair pr;
	int rs, rc;

	snprintf(known, sizeof(known), "%s/home/.config/ringside/known_servers", dir);
	pair_up(&pr, "a", NULL);
	handshake(pr.s, pr.c, &rs, &rc);
	assert_int_equal(rs + rc, 0);
	/* Established but not verified: no data either way yet. */
	assert_int_equal(tls_conn_peer(pr.c, &info), 0);
	assert_false(info.verified);
	assert_int_equal(tls_conn_write(pr.c, "x", 1), -EACCES);
	assert_int_equal(tls_conn_read(pr.c, buf, sizeof(buf)), -EACCES);
	memcpy(fp_a, info.sha256, sizeof(fp_a));

	assert_int_equal(tls_known_check(known, "host:5005", fp_a, &kr), 0);
	assert_int_equal(kr.state, TLS_KNOWN_UNKNOWN);
	assert_int_equal(tls_known_add(known, "other:1", fp_a), 0);
	assert_int_equal(tls_known_add(known, "Host:5005", fp_a), 0);
	assert_int_equal(stat(known, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(tls_known_check(known, "host:5005", fp_a, &kr), 0);
	assert_int_equal(kr.state, TLS_KNOWN_MATCH);
	assert_int_equal(kr.line, 2);
	assert_int_equal(tls_conn_trust(pr.c, fp_a), 0);
	stream(pr.s, pr.c, (const uint8_t *)"hello", 5);
	pair_free(&pr);

	/* Same name, another certificate: CHANGED with the old one, and a
	 * caller that trusts the remembered fingerprint is refused. */
	pair_up(&pr, "b", NULL);
	handshake(pr.s, pr.c, &rs, &rc);
	assert_int_equal(rs + rc, 0);
	assert_int_equal(tls_conn_peer(pr.c, &info), 0);
	assert_int_equal(tls_known_check(known, "host:5005", info.sha256, &kr), 0);
	assert_int_equal(kr.state, TLS_KNOWN_CHANGED);
	assert_memory_equal(kr.old_sha256, fp_a, TLS_SHA256_LEN);
	assert_int_equal(kr.line, 2);
	assert_int_equal(tls_conn_trust(pr.c, fp_a), -EACCES);
	{
		char a[TLS_FP_STR_LEN], b[TLS_FP_STR_LEN];

		tls_fp_format(fp_a, a);
		tls_fp_format(info.sha256, b);
		assert_non_null(strstr(tls_conn_error(pr.c), a));
		assert_non_null(strstr(tls_conn_error(pr.c), b));
	}
	assert_int_equal(tls_conn_write(pr.c, "x", 1), -EACCES);
	pair_free(&pr);
}

static void test_fingerprint_format(void **state)
{
	uint8_t fp[TLS_SHA256_LEN], back[TLS_SHA256_LEN];
	char s[TLS_FP_STR_LEN];

	for (int i = 0; i < TLS_SHA256_LEN; i++)
		fp[i] = (uint8_t)(i * 37);
	tls_fp_format(fp, s);
	assert_int_equal(strlen(s), TLS_FP_STR_LEN - 1);
	assert_int_equal(strncmp(s, "sha256:", 7), 0);
	assert_int_equal(tls_fp_parse(s, back), 0);
	assert_memory_equal(fp, back, sizeof(fp));
	assert_int_equal(tls_fp_parse("sha256:00", back), -EINVAL);
	assert_int_equal(tls_fp_parse("sha256:zz", back), -EINVAL);
}

static void test_store(void **state)
{
	struct tls_cert_found f;
	char err[8192], store[512], thumb[128], home[512];
	size_t j = 0;

	snprintf(home, sizeof(home), "%s/home", dir);
	setenv("HOME", home, 1);
	assert_int_equal(tls_store_dir(TLS_STORE_USER, store, sizeof(store)), 0);
	sh("mkdir -p %s && cp %s/*.crt %s/*.key %s", store, dir, dir, store);

	assert_int_equal(tls_store_find(TLS_STORE_USER, "a", true, &f, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(strstr(f.crt, "/.config/ringside/certs/a.crt"));
	assert_non_null(strstr(f.key, "/.config/ringside/certs/a.key"));
	assert_string_equal(f.warning, "");

	/* The thumbprint the way WinDbg docs show one: spaced, any case. */
	for (int i = 0; i < TLS_SHA1_LEN; i++)
		j += (size_t)snprintf(thumb + j, sizeof(thumb) - j, i % 2 ? "%02X " : "%02x ",
				      f.sha1[i]);
	assert_int_equal(tls_store_find(TLS_STORE_USER, thumb, true, &f, err, sizeof(err)), 0);
	assert_non_null(strstr(f.crt, "/a.crt"));

	/* Missing: the error names where it looked. */
	assert_int_equal(tls_store_find(TLS_STORE_USER, "nope", true, &f, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/.config/ringside/certs/nope.crt"));
	assert_int_equal(tls_store_find(TLS_STORE_USER, "00112233445566778899aabbccddeeff00112233",
					true, &f, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "*.crt"));
	assert_int_equal(tls_store_find(TLS_STORE_MACHINE, "nope", false, &f, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/etc/ringside/certs/nope.crt"));
	assert_int_equal(tls_store_find(TLS_STORE_USER, "../a", true, &f, err, sizeof(err)),
			 -EINVAL);

	assert_int_equal(tls_store_find(TLS_STORE_USER, "client", true, &f, err, sizeof(err)),
			 -EPERM);
	assert_non_null(strstr(err, "serverAuth"));
	assert_int_equal(tls_store_find(TLS_STORE_USER, "plain", true, &f, err, sizeof(err)), 0);
	assert_int_equal(tls_store_find(TLS_STORE_USER, "old", true, &f, err, sizeof(err)),
			 -EKEYEXPIRED);
	assert_non_null(strstr(err, "expired"));

	/* A world-readable key works, with a warning; a missing one does not,
	 * except for a client that needs only the certificate. */
	sh("chmod 644 %s/b.key", store);
	assert_int_equal(tls_store_find(TLS_STORE_USER, "b", true, &f, err, sizeof(err)), 0);
	assert_non_null(strstr(f.warning, "b.key"));
	assert_non_null(strstr(f.warning, "0644"));
	sh("rm %s/b.key", store);
	assert_int_equal(tls_store_find(TLS_STORE_USER, "b", true, &f, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "b.key"));
	assert_int_equal(tls_store_find(TLS_STORE_USER, "b", false, &f, err, sizeof(err)), 0);
	assert_string_equal(f.key, "");
}

static void test_config_errors(void **state)
{
	struct tls_config *cfg;
	char err[512];

	assert_int_equal(tls_server_config_new(path("none.crt"), path("a.key"), &cfg,
					       err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "none.crt"));
	assert_int_equal(tls_server_config_new(path("a.crt"), path("b.key"), &cfg,
					       err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not belong"));
	assert_int_equal(tls_client_config_new(path("a.key"), &cfg, err, sizeof(err)),
			 -EINVAL);
}

/* Garbage before the handshake: an error soon, memory bounded. */
static void test_garbage(void **state)
{
	static uint8_t junk[100000];
	static const uint8_t huge[] = { 0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00 };
	struct tls_config *scfg = server_cfg("a");
	struct tls_conn *s;
	size_t base, fed = 0;
	ssize_t k;
	int res = -EAGAIN;

	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();

	/* Without draining, the inbox takes TLS_INBOX_CAP and no more. */
	assert_int_equal(tls_conn_new(scfg, &s), 0);
	assert_int_equal(tls_conn_feed(s, junk, sizeof(junk)), TLS_INBOX_CAP);
	assert_int_equal(tls_conn_feed(s, junk, 1), -ENOBUFS);
	assert_int_equal(tls_conn_in_pending(s), TLS_INBOX_CAP);
	assert_true(tls_conn_handshake(s) < 0);
	assert_int_not_equal(tls_conn_handshake(s), -EAGAIN);
	assert_true(tls_conn_feed(s, junk, 1) < 0);
	assert_int_equal(tls_conn_free(s), TLS_FREED);

	/* Random bytes fed in small pieces. */
	assert_int_equal(tls_conn_new(scfg, &s), 0);
	base = live;
	peak = live;
	while (res == -EAGAIN && fed < sizeof(junk)) {
		k = tls_conn_feed(s, junk + fed, 333);
		if (k < 0)
			break;
		fed += (size_t)k;
		res = tls_conn_handshake(s);
	}
	assert_true(res < 0 && res != -EAGAIN);
	assert_true(peak - base < 2 * TLS_INBOX_CAP + 8192);
	assert_int_equal(tls_conn_free(s), TLS_FREED);

	/* A record header claiming 64 KiB. */
	assert_int_equal(tls_conn_new(scfg, &s), 0);
	assert_int_equal(tls_conn_feed(s, huge, sizeof(huge)), sizeof(huge));
	res = tls_conn_handshake(s);
	for (int i = 0; i < 10 && res == -EAGAIN; i++) {
		assert_true(tls_conn_feed(s, junk, 4096) > 0);
		res = tls_conn_handshake(s);
	}
	assert_true(res < 0 && res != -EAGAIN);
	assert_string_not_equal(tls_conn_error(s), "");
	assert_int_equal(tls_conn_free(s), TLS_FREED);

	/* A stalled handshake (half a ClientHello) just waits, holding little. */
	{
		struct tls_config *ccfg = client_cfg("a");
		struct tls_conn *c;
		const void *p;
		size_t n;

		assert_int_equal(tls_conn_new(scfg, &s), 0);
		assert_int_equal(tls_conn_new(ccfg, &c), 0);
		assert_int_equal(tls_conn_handshake(c), -EAGAIN);
		assert_int_equal(tls_conn_out_take(c, &p, &n), 0);
		assert_int_equal(tls_conn_feed(s, p, n / 2), (ssize_t)(n / 2));
		assert_int_equal(tls_conn_out_done(c, n), 0);
		assert_int_equal(tls_conn_handshake(s), -EAGAIN);
		assert_int_equal(tls_conn_handshake(s), -EAGAIN);
		assert_int_equal(tls_conn_free(c), TLS_FREED);
		assert_int_equal(tls_conn_free(s), TLS_FREED);
		tls_config_put(ccfg);
	}
	tls_config_put(scfg);
}

static int teardown_all(void **state)
{
	sh("rm -rf %s", dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_check),
		cmocka_unit_test(test_handshake_tls13_and_data),
		cmocka_unit_test(test_handshake_tls12),
		cmocka_unit_test(test_refuses_cbc_and_old_versions),
		cmocka_unit_test(test_outbox_loan),
		cmocka_unit_test(test_bulk_bounded_and_measured),
		cmocka_unit_test(test_idle_cost),
		cmocka_unit_test(test_pinning),
		cmocka_unit_test(test_tofu),
		cmocka_unit_test(test_fingerprint_format),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_garbage),
	};

	/* Before wolfSSL allocates anything, so the counts are whole. */
	wolfSSL_SetAllocators(cnt_malloc, cnt_free, cnt_realloc);
	make_certs();
	return cmocka_run_group_tests(tests, NULL, teardown_all);
}
