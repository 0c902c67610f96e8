/* SPDX-License-Identifier: MIT */
/*
 * One TLS connection as a byte transformer: ciphertext in through a
 * bounded inbox, ciphertext out through an outbox that is lent to the
 * kernel, wolfSSL in between through custom IO callbacks.
 *
 * wolfSSL pulls input through tls_io_recv, which never hands over more
 * than the rest of the current record, and after the handshake starts at
 * most one new record per wolfSSL_read().  Each record can make wolfSSL
 * answer with at most one small control record, so checking before each
 * record that TLS_OUT_RESERVE is free keeps that answer from ever being
 * stuck inside wolfSSL.  That matters because wolfSSL resumes stuck output
 * only from wolfSSL_write(), with bookkeeping that assumes the stuck bytes
 * were application data.  After the handshake, then, wolfSSL never holds
 * output: a send callback refusal there is treated as a failed connection.
 * During the handshake refusals are normal: the flight waits in wolfSSL and
 * the next wolfSSL_negotiate() resumes it.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tls/tls_internal.h"

#include <wolfssl/error-ssl.h>

struct tls_conn {
	struct tls_config *cfg;
	WOLFSSL *ssl;

	uint8_t *in;		/* TLS_INBOX_CAP bytes, or NULL when empty */
	size_t in_off;		/* first undelivered byte */
	size_t in_len;		/* undelivered bytes */
	size_t rec_left;	/* bytes of the current record not yet delivered */
	unsigned rec_budget;	/* new records wolfSSL may start in this call */

	uint8_t *out;		/* out_cap bytes, or NULL when empty */
	size_t out_cap;		/* grows (not while lent) up to TLS_OUTBOX_CAP */
	size_t out_len;		/* queued bytes, lent ones first */
	size_t out_lent;	/* bytes lent to the caller, 0 if not lent */
	bool lent;

	bool established;
	bool verified;		/* client: pinned or trusted */
	bool peer_closed;
	bool close_sent;
	bool dying;		/* free deferred until out_done */
	bool stuck;		/* wolfSSL holds output we refused */
	bool has_cert;
	int failed;		/* 0 or the -errno every call returns */
	uint8_t peer_sha256[TLS_SHA256_LEN];
	char err[200];
};

static void conn_fail(struct tls_conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conn_fail(struct tls_conn *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return;
	c->failed = code;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static int tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_conn *c = ctx;
	size_t n;

	if (!c->in_len || sz <= 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (!c->rec_left) {
		const uint8_t *h = c->in + c->in_off;

		/* Only a whole header tells where the record ends. */
		if (!c->rec_budget || c->in_len < 5)
			return WOLFSSL_CBIO_ERR_WANT_READ;
		c->rec_left = 5 + ((size_t)h[3] << 8 | h[4]);
		c->rec_budget--;
	}
	n = c->in_len;
	if (n > c->rec_left)
		n = c->rec_left;
	if (n > (size_t)sz)
		n = (size_t)sz;
	memcpy(buf, c->in + c->in_off, n);
	c->in_off += n;
	c->in_len -= n;
	c->rec_left -= n;
	return (int)n;
}

/*
 * The outbox is sized to what it carries (a 1 KiB record needs about 1.5 KiB,
 * not the 17 KiB a full one does): a fan-out keeps one outbox per client in
 * flight, and small blocks come from malloc's bins instead of fresh pages.
 * It may grow (move) only while it is not lent.  Returns false if it could
 * not grow to WANT bytes.
 */
static bool out_grow(struct tls_conn *c, size_t want)
{
	uint8_t *grown;

	if (want > TLS_OUTBOX_CAP)
		want = TLS_OUTBOX_CAP;
	if (want <= c->out_cap)
		return true;
	if (c->lent)
		return false;
	want = (want + 255) & ~(size_t)255;
	if (want > TLS_OUTBOX_CAP)
		want = TLS_OUTBOX_CAP;
	grown = wolfSSL_Realloc(c->out, want);
	if (!grown)
		return false;
	c->out = grown;
	c->out_cap = want;
	return true;
}

/* Appends after everything queued, so lent bytes are never touched. */
static int tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_conn *c = ctx;
	size_t n;

	if (c->dying || sz <= 0)
		return WOLFSSL_CBIO_ERR_GENERAL;
	if (!c->out)
		c->out_len = c->out_cap = 0;
	if (!out_grow(c, c->out_len + (size_t)sz) && !c->out)
		return WOLFSSL_CBIO_ERR_GENERAL;
	n = c->out_cap - c->out_len;
	if (!n) {
		c->stuck = true;
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	}
	if (n > (size_t)sz)
		n = (size_t)sz;
	memcpy(c->out + c->out_len, buf, n);
	c->out_len += n;
	c->stuck = n < (size_t)sz;
	return (int)n;
}

/* Gives back buffers nobody needs: this is what makes idle cheap. */
static void conn_tidy(struct tls_conn *c)
{
	if (c->in && !c->in_len) {
		tls_release(c->in);
		c->in = NULL;
		c->in_off = 0;
	}
	if (c->out && !c->out_len && !c->lent) {
		tls_release(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

int tls_conn_new(struct tls_config *cfg, struct tls_conn **out)
{
	struct tls_conn *c = tls_alloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->ssl = wolfSSL_new(cfg->ctx);
	if (!c->ssl) {
		tls_release(c);
		return -ENOMEM;
	}
	wolfSSL_SSLSetIORecv(c->ssl, tls_io_recv);
	wolfSSL_SSLSetIOSend(c->ssl, tls_io_send);
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_SetIOWriteCtx(c->ssl, c);
	wolfSSL_SetCertCbCtx(c->ssl, c);
	tls_config_get(cfg);
	c->cfg = cfg;
	*out = c;
	return 0;
}

static void conn_destroy(struct tls_conn *c)
{
	tls_release(c->in);
	tls_release(c->out);
	if (c->ssl)
		wolfSSL_free(c->ssl);
	tls_config_put(c->cfg);
	tls_release(c);
}

int tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return TLS_FREED;
	if (c->lent) {
		/* The session and inbox can go now; the outbox is the kernel's. */
		c->dying = true;
		wolfSSL_free(c->ssl);
		c->ssl = NULL;
		tls_release(c->in);
		c->in = NULL;
		c->in_len = 0;
		return TLS_FREE_DEFERRED;
	}
	conn_destroy(c);
	return TLS_FREED;
}

ssize_t tls_conn_feed(struct tls_conn *c, const void *p, size_t n)
{
	size_t room;

	if (c->failed)
		return c->failed;
	if (!n)
		return 0;
	if (!c->in) {
		c->in = tls_alloc(TLS_INBOX_CAP);
		if (!c->in)
			return -ENOMEM;
		c->in_off = c->in_len = 0;
	}
	if (c->in_off + c->in_len + n > TLS_INBOX_CAP && c->in_off) {
		memmove(c->in, c->in + c->in_off, c->in_len);
		c->in_off = 0;
	}
	room = TLS_INBOX_CAP - c->in_off - c->in_len;
	if (!room)
		return -ENOBUFS;
	if (n > room)
		n = room;
	memcpy(c->in + c->in_off + c->in_len, p, n);
	c->in_len += n;
	return (ssize_t)n;
}

size_t tls_conn_in_pending(const struct tls_conn *c)
{
	return c->in_len;
}

static const char *wolf_reason(WOLFSSL *ssl, int ret, char *buf, size_t len)
{
	int e = wolfSSL_get_error(ssl, ret);

	wolfSSL_ERR_error_string_n((unsigned long)e, buf, (unsigned long)len);
	return buf;
}

/* Maps a wolfSSL failure to an errno class the caller can act on. */
static int wolf_errno(int e)
{
	switch (e) {
	case MEMORY_E:
		return -ENOMEM;
	case VERSION_ERROR:
	case MATCH_SUITE_ERROR:
	case UNSUPPORTED_SUITE:
	case SUITES_ERROR:
		return -EPROTONOSUPPORT;
	default:
		return -EPROTO;
	}
}

/* The leaf's fingerprint, from the chain wolfSSL keeps (SESSION_CERTS). */
static void conn_peer_cert(struct tls_conn *c)
{
	WOLFSSL_X509_CHAIN *chain = wolfSSL_get_peer_chain(c->ssl);
	const unsigned char *der;
	int len;

	c->has_cert = false;
	if (!chain || wolfSSL_get_chain_count(chain) < 1)
		return;
	der = wolfSSL_get_chain_cert(chain, 0);
	len = wolfSSL_get_chain_length(chain, 0);
	if (der && len > 0 && !tls_sha256(der, (size_t)len, c->peer_sha256))
		c->has_cert = true;
}

int tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	struct tls_conn *c = store->userCtx;
	const unsigned char *der;
	uint8_t fp[TLS_SHA256_LEN];
	char a[TLS_FP_STR_LEN], b[TLS_FP_STR_LEN];
	int len = 0;

	if (!c || c->cfg->server)
		return 0;
	if (store->error_depth > 0)
		return 1;
	der = store->current_cert ? wolfSSL_X509_get_der(store->current_cert, &len) : NULL;
	if (!der || len <= 0 || tls_sha256(der, (size_t)len, fp)) {
		conn_fail(c, -EACCES, "cannot read the server certificate");
		return 0;
	}
	if (!c->cfg->pinned)
		return 1;	/* unverified until tls_conn_trust() */
	if (memcmp(fp, c->cfg->pin, sizeof(fp))) {
		tls_fp_format(fp, a);
		tls_fp_format(c->cfg->pin, b);
		conn_fail(c, -EACCES, "server certificate %s is not the pinned "
			  "certificate %s", a, b);
		return 0;
	}
	return 1;
}

int tls_conn_handshake(struct tls_conn *c)
{
	char why[96];
	int ret, e;

	if (c->failed)
		return c->failed;
	if (c->established)
		return 0;
	c->rec_budget = UINT_MAX;
	ret = wolfSSL_negotiate(c->ssl);
	if (ret == WOLFSSL_SUCCESS) {
		conn_peer_cert(c);
		if (!c->cfg->server) {
			/* Do not rely on the callback alone for the pin. */
			if (!c->has_cert) {
				conn_fail(c, -EACCES, "the server sent no certificate");
			} else if (c->cfg->pinned) {
				if (memcmp(c->peer_sha256, c->cfg->pin, TLS_SHA256_LEN))
					conn_fail(c, -EACCES, "server certificate is not "
						  "the pinned one");
				else
					c->verified = true;
			}
		}
		if (!c->failed && c->stuck)
			conn_fail(c, -EIO, "handshake output left behind");
		conn_tidy(c);
		if (c->failed)
			return c->failed;
		c->established = true;
		return 0;
	}
	e = wolfSSL_get_error(c->ssl, ret);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE) {
		conn_tidy(c);
		return -EAGAIN;
	}
	/* The verify callback may already have said why, more precisely. */
	conn_fail(c, wolf_errno(e), "TLS handshake failed: %s",
		  wolf_reason(c->ssl, ret, why, sizeof(why)));
	conn_tidy(c);
	return c->failed;
}

bool tls_conn_established(const struct tls_conn *c)
{
	return c->established;
}

static int usable(const struct tls_conn *c)
{
	if (c->failed)
		return c->failed;
	if (!c->established)
		return -ENOTCONN;
	if (!c->cfg->server && !c->verified)
		return -EACCES;
	return 0;
}

/* What may still be queued: up to the cap while the outbox may grow, only
 * what the allocation holds while it is lent. */
static size_t out_room(const struct tls_conn *c)
{
	if (c->lent)
		return c->out_cap - c->out_len;
	return TLS_OUTBOX_CAP - (c->out ? c->out_len : 0);
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t cap)
{
	char why[96];
	ssize_t res = 0;
	int ret = usable(c);

	if (ret)
		return ret;
	if (c->peer_closed)
		return -EPIPE;
	if (!cap)
		return 0;
	if (cap > INT_MAX)
		cap = INT_MAX;
	for (;;) {
		int e;

		if (out_room(c) < TLS_OUT_RESERVE)
			break;
		c->rec_budget = 1;
		ret = wolfSSL_read(c->ssl, buf, (int)cap);
		if (ret > 0) {
			res = ret;
			break;
		}
		e = wolfSSL_get_error(c->ssl, ret);
		if (e == WOLFSSL_ERROR_WANT_READ) {
			/* A whole non-data record went by: try the next one. */
			if (!c->rec_budget && c->in_len && !c->rec_left)
				continue;
			break;
		}
		if (e == WOLFSSL_ERROR_ZERO_RETURN) {
			c->peer_closed = true;
			res = -EPIPE;
			break;
		}
		conn_fail(c, e == WOLFSSL_ERROR_WANT_WRITE ? -EIO : wolf_errno(e),
			  "TLS read failed: %s", wolf_reason(c->ssl, ret, why, sizeof(why)));
		res = c->failed;
		break;
	}
	if (c->stuck && !c->failed) {
		conn_fail(c, -EIO, "TLS control output did not fit the outbox");
		res = c->failed;
	}
	conn_tidy(c);
	return res;
}

ssize_t tls_conn_write(struct tls_conn *c, const void *p, size_t n)
{
	char why[96];
	size_t room;
	int ret = usable(c);

	if (ret)
		return ret;
	if (c->lent)
		return -EBUSY;
	if (c->close_sent)
		return -EPIPE;
	if (!n)
		return 0;
	room = out_room(c);
	if (room <= TLS_OUT_RESERVE + TLS_RECORD_OVERHEAD)
		return -EAGAIN;
	room -= TLS_OUT_RESERVE + TLS_RECORD_OVERHEAD;
	if (n > room)
		n = room;
	if (n > TLS_RECORD_PLAIN_MAX)
		n = TLS_RECORD_PLAIN_MAX;
	ret = wolfSSL_write(c->ssl, p, (int)n);
	if (ret != (int)n || c->stuck) {
		conn_fail(c, ret < 0 ? wolf_errno(wolfSSL_get_error(c->ssl, ret)) : -EIO,
			  "TLS write failed: %s",
			  ret < 0 ? wolf_reason(c->ssl, ret, why, sizeof(why))
				  : "record did not fit the outbox");
		conn_tidy(c);
		return c->failed;
	}
	return (ssize_t)n;
}

int tls_conn_close_notify(struct tls_conn *c)
{
	if (c->failed)
		return c->failed;
	if (!c->established)
		return -ENOTCONN;
	if (c->close_sent)
		return 0;
	if (c->lent)
		return -EBUSY;
	if (out_room(c) < TLS_OUT_RESERVE)
		return -EAGAIN;
	/* WOLFSSL_SHUTDOWN_NOT_DONE only means the peer's notify is still to
	 * come; ours is queued either way. */
	wolfSSL_shutdown(c->ssl);
	c->close_sent = true;
	if (c->stuck)
		conn_fail(c, -EIO, "close_notify did not fit the outbox");
	conn_tidy(c);
	return c->failed;
}

size_t tls_conn_out_pending(const struct tls_conn *c)
{
	return c->out ? c->out_len : 0;
}

int tls_conn_out_take(struct tls_conn *c, const void **p, size_t *len)
{
	if (c->lent)
		return -EBUSY;
	if (!c->out || !c->out_len)
		return -ENODATA;
	/* Room for a control record (an alert, a KeyUpdate answer) that may
	 * have to be queued while this is lent and cannot move. */
	out_grow(c, c->out_len + TLS_OUT_RESERVE);
	c->lent = true;
	c->out_lent = c->out_len;
	*p = c->out;
	*len = c->out_len;
	return 0;
}

int tls_conn_out_done(struct tls_conn *c, size_t sent)
{
	if (!c->lent || sent > c->out_lent)
		return -EINVAL;
	if (c->dying) {
		conn_destroy(c);
		return TLS_FREE_DEFERRED;
	}
	/* The kernel is done with the buffer: now it may move. */
	memmove(c->out, c->out + sent, c->out_len - sent);
	c->out_len -= sent;
	c->lent = false;
	c->out_lent = 0;
	conn_tidy(c);
	return 0;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->err;
}

int tls_conn_peer(const struct tls_conn *c, struct tls_peer_info *info)
{
	if (!c->established || !c->ssl)
		return -ENOTCONN;
	memset(info, 0, sizeof(*info));
	info->version = wolfSSL_get_version(c->ssl);
	info->cipher = wolfSSL_get_cipher_name(c->ssl);
	info->has_cert = c->has_cert;
	info->verified = c->cfg->server ? false : c->verified;
	memcpy(info->sha256, c->peer_sha256, TLS_SHA256_LEN);
	return 0;
}

int tls_conn_trust(struct tls_conn *c, const uint8_t sha256[TLS_SHA256_LEN])
{
	char a[TLS_FP_STR_LEN], b[TLS_FP_STR_LEN];

	if (c->cfg->server)
		return -EINVAL;
	if (c->failed)
		return c->failed;
	if (!c->established)
		return -ENOTCONN;
	if (!c->has_cert || memcmp(sha256, c->peer_sha256, TLS_SHA256_LEN)) {
		tls_fp_format(c->peer_sha256, a);
		tls_fp_format(sha256, b);
		conn_fail(c, -EACCES, "server certificate %s is not the trusted "
			  "certificate %s", a, b);
		return c->failed;
	}
	c->verified = true;
	return 0;
}
