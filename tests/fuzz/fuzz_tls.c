/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for tls/conn.c.  Byte 0 picks the victim: even, a
 * server conn gets the input as a client's first flight; odd, a client conn
 * (fingerprint mode) sends its ClientHello and gets the input as the
 * server's answer.  Byte 1 picks a split size, so the input arrives in
 * pieces as receives would deliver it.  Whatever arrives, the conn must end
 * in an error or keep waiting, its inbox never above TLS_INBOX_CAP and its
 * outbox never above TLS_OUTBOX_CAP, and nothing may leak.  The server's
 * certificate is wolfSSL's ECC test certificate, written out as PEM once.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USE_CERT_BUFFERS_256
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/certs_test.h>

#include "tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tls_config *scfg, *ccfg;

static void write_pem(const char *path, const unsigned char *der, int len, int type)
{
	static unsigned char pem[8192];
	int n = wc_DerToPem(der, (word32)len, pem, sizeof(pem), type);
	FILE *f = fopen(path, "w");

	assert(n > 0 && f);
	assert(fwrite(pem, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
}

static void setup(void)
{
	char dir[] = "/tmp/ringside-fuzz-tls.XXXXXX", crt[64], key[64], err[256];

	assert(mkdtemp(dir));
	snprintf(crt, sizeof(crt), "%s/s.crt", dir);
	snprintf(key, sizeof(key), "%s/s.key", dir);
	write_pem(crt, serv_ecc_der_256, sizeof_serv_ecc_der_256, CERT_TYPE);
	write_pem(key, ecc_key_der_256, sizeof_ecc_key_der_256, ECC_PRIVATEKEY_TYPE);
	if (tls_server_config_new(crt, key, &scfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz_tls: %s\n", err);
		abort();
	}
	assert(!tls_client_config_new(NULL, &ccfg, err, sizeof(err)));
	unlink(crt);
	unlink(key);
	rmdir(dir);
}

static void drain_out(struct tls_conn *c)
{
	const void *p;
	size_t n;

	while (!tls_conn_out_take(c, &p, &n)) {
		assert(n <= TLS_OUTBOX_CAP);
		assert(tls_conn_out_done(c, n) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_conn *c;
	size_t step, off = 0;
	bool server;
	int res;

	if (!scfg)
		setup();
	if (size < 2)
		return 0;
	server = !(data[0] & 1);
	step = (size_t)data[1] * 64 + 1;
	data += 2;
	size -= 2;
	assert(!tls_conn_new(server ? scfg : ccfg, &c));
	res = tls_conn_handshake(c);
	drain_out(c);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;
		ssize_t k = tls_conn_feed(c, data + off, n);

		if (k < 0) {
			assert(k == -ENOBUFS || k == res);
			if (k != -ENOBUFS)
				break;
		} else {
			off += (size_t)k;
		}
		assert(tls_conn_in_pending(c) <= TLS_INBOX_CAP);
		res = tls_conn_handshake(c);
		drain_out(c);
		if (res == 0) {
			uint8_t buf[512];

			/* The server reads whatever follows its handshake; a
			 * fingerprint-mode client must refuse until trusted. */
			ssize_t r = tls_conn_read(c, buf, sizeof(buf));

			assert(server || r == -EACCES);
			drain_out(c);
		} else if (res != -EAGAIN) {
			assert(*tls_conn_error(c));
			break;
		}
		/* A handshake call always drains the inbox into wolfSSL. */
		assert(res != -EAGAIN || tls_conn_in_pending(c) < TLS_INBOX_CAP);
	}
	tls_conn_free(c);
	return 0;
}
