/* SPDX-License-Identifier: MIT */
/*
 * The -remote client over ssl and spipe: TLS between the socket
 * (remote_conn.c) and the protocol (remote_link.c).  Nothing of the
 * protocol is sent, a password's proof included, before remote_trust.c
 * has decided that the server is the right one, and a wrong server is a
 * refusal, never retried.
 *
 * The server is known in one of three ways: certuser=/machuser= names the
 * certificate it must present, byte for byte (as in WinDbg, both sides
 * name the same certificate; the client needs only its public half, and
 * tls/ refuses any other during the handshake); fingerprint= gives that
 * certificate's SHA-256; or, with neither, ~/.config/ringside/known_servers
 * holds the fingerprint the user accepted the first time (ssh's trust on
 * first use).
 *
 * Ciphertext keeps remote_conn.c's discipline: the TLS outbox is lent to
 * the kernel for one send at a time and nothing writes it until the
 * completion; received ciphertext stays in the receive buffer until the
 * TLS inbox takes it, and no new receive is armed before then.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/remote_internal.h"

#define PREFIX "ringside: "

void rtls_refuse(struct remote *r)
{
	conn_close(r);
	remote_finish(r, 1);
}

int rtls_setup(struct remote *r)
{
	struct remote_tls *t = &r->tls;
	const struct spec *s = &r->spec;
	const char *pin = NULL, *key = s->cert_store == SPEC_CERT_MACHINE ? "machuser" : "certuser";
	char err[4096 + 512];
	struct tls_cert_found found;
	int res;

	if (s->transport != SPEC_SSL && s->transport != SPEC_SPIPE)
		return 0;
	if (s->cert_store != SPEC_CERT_NONE) {
		res = tls_store_find(s->cert_store == SPEC_CERT_MACHINE ? TLS_STORE_MACHINE
									: TLS_STORE_USER,
				     s->cert, false, &found, err, sizeof(err));
		if (res < 0) {
			fprintf(stderr, PREFIX "-remote: %s=%s: %s\n", key, s->cert, err);
			return res;
		}
		if (found.warning[0])
			fprintf(stderr, PREFIX "-remote: %s\n", found.warning);
		pin = found.crt;
		t->mode = RTLS_PIN;
		memcpy(t->want, found.sha256, sizeof(t->want));
		snprintf(t->cert, sizeof(t->cert), "%s", s->cert);
	} else if (s->has_fingerprint) {
		t->mode = RTLS_FINGERPRINT;
		memcpy(t->want, s->fingerprint, sizeof(t->want));
	} else {
		t->mode = RTLS_KNOWN;
		res = tls_known_path(t->known_path, sizeof(t->known_path));
		if (res < 0) {
			fprintf(stderr, PREFIX "-remote: cannot find known_servers (%s); name the "
				"server's certificate with certuser= or its fingerprint with "
				"fingerprint=sha256:HEX\n",
				res == -ENOENT ? "$HOME is not set" : strerror(-res));
			return res;
		}
	}
	/* As the user named the server: that is what known_servers holds. */
	if (s->transport == SPEC_SPIPE)
		snprintf(t->known_key, sizeof(t->known_key), "\\\\.\\pipe\\%s", s->pipe);
	else if (strchr(s->server, ':'))
		snprintf(t->known_key, sizeof(t->known_key), "[%s]:%u", s->server, s->port_lo);
	else
		snprintf(t->known_key, sizeof(t->known_key), "%s:%u", s->server, s->port_lo);
	res = tls_client_config_new(pin, &t->cfg, err, sizeof(err));
	if (res < 0) {
		fprintf(stderr, PREFIX "-remote: %s\n", err);
		return res;
	}
	return 0;
}

void rtls_free(struct remote *r)
{
	struct remote_tls *t = &r->tls;

	/* Only after the ring is gone: the kernel no longer holds the outbox. */
	if (t->dying)
		tls_conn_out_done(t->dying, 0);
	t->dying = NULL;
	tls_conn_free(t->conn);
	t->conn = NULL;
	tls_config_put(t->cfg);
	t->cfg = NULL;
}

void rtls_begin(struct remote *r)
{
	struct remote_tls *t = &r->tls;
	int res = tls_conn_new(t->cfg, &t->conn);

	t->verified = false;
	t->looked = false;
	t->closing = false;
	if (res == 0) {
		res = tls_conn_handshake(t->conn);	/* the ClientHello */
		if (res == -EAGAIN)
			res = 0;
	}
	if (res < 0) {
		remote_say(r, PREFIX "TLS to %s: %s", r->where,
			   t->conn && tls_conn_error(t->conn)[0] ? tls_conn_error(t->conn)
								  : strerror(-res));
		rtls_refuse(r);
		return;
	}
	conn_kick(r);
}

void rtls_end(struct remote *r)
{
	struct remote_tls *t = &r->tls;

	if (!t->conn)
		return;
	if (tls_conn_free(t->conn) == TLS_FREE_DEFERRED)
		t->dying = t->conn;
	t->conn = NULL;
	t->verified = false;
}

bool rtls_take(struct remote *r, const void **p, size_t *len)
{
	struct remote_tls *t = &r->tls;
	struct remote_conn *c = &r->conn;

	if (!t->conn)
		return false;
	while (t->verified && conn_next_plain(c)) {
		ssize_t n = tls_conn_write(t->conn, c->sending.p + c->sent,
					   c->sending.len - c->sent);

		if (n < 0) {
			/* -EAGAIN: the outbox is full, send it first.  A
			 * failed conn fails its reads too: the receive path
			 * ends the connection with the reason. */
			break;
		}
		c->sent += (size_t)n;
	}
	return tls_conn_out_take(t->conn, p, len) == 0;
}

void rtls_sent(struct remote *r, int res)
{
	struct remote_tls *t = &r->tls;

	if (t->dying) {
		tls_conn_out_done(t->dying, 0);
		t->dying = NULL;
		return;
	}
	if (t->conn)
		tls_conn_out_done(t->conn, res > 0 ? (size_t)res : 0);
}

bool rtls_close(struct remote *r)
{
	struct remote_tls *t = &r->tls;

	if (!t->conn || !t->verified || t->closing)
		return false;
	t->closing = true;
	return tls_conn_close_notify(t->conn) == 0 && tls_conn_out_pending(t->conn) > 0;
}

size_t rtls_unsent(const struct remote *r)
{
	return r->tls.conn ? tls_conn_out_pending(r->tls.conn) : 0;
}

const char *rtls_why(const struct remote *r, const char *otherwise)
{
	const char *why = r->tls.conn ? tls_conn_error(r->tls.conn) : "";

	return why[0] ? why : otherwise;
}

static void handshake_failed(struct remote *r, int res)
{
	struct remote_tls *t = &r->tls;
	const char *why = tls_conn_error(t->conn);
	char fp[TLS_FP_STR_LEN];

	if (res == -EACCES && t->mode == RTLS_PIN) {
		tls_fp_format(t->want, fp);
		remote_say(r, PREFIX "the server at %s did not present certificate %s (%s); not "
			      "connecting", r->where, t->cert, fp);
		remote_say(r, PREFIX "(TLS: %s)", why);
		rtls_refuse(r);
		return;
	}
	if (res == -EPROTO && r->link.joined) {
		/* Perhaps a cut mid-handshake: worth another try. */
		conn_lost(r, why);
		return;
	}
	remote_say(r, PREFIX "%s: %s", r->where, why[0] ? why : strerror(-res));
	rtls_refuse(r);
}

/* TLS records start with a content type of 20-23; a tcp: server's text
 * view (or anything else that is not TLS) does not. */
static bool speaks_tls(struct remote *r)
{
	struct remote_conn *c = &r->conn;
	uint8_t first;

	if (r->tls.looked || !c->rx_len)
		return true;
	r->tls.looked = true;
	first = c->rbuf[c->rx_off];
	if (first >= 20 && first <= 23)
		return true;
	remote_say(r, PREFIX "%s does not speak TLS (it sent %s); is it a %s server?", r->where,
		   first >= 0x20 && first < 0x7f ? "text" : "something else",
		   r->spec.transport == SPEC_SPIPE ? "npipe:" : "tcp:");
	rtls_refuse(r);
	return false;
}

/* One round: feed, handshake, read.  False when nothing moved. */
static bool pump_once(struct remote *r)
{
	struct remote_tls *t = &r->tls;
	struct remote_conn *c = &r->conn;
	bool moved = false;
	ssize_t n;
	int res;

	if (c->rx_len) {
		n = tls_conn_feed(t->conn, c->rbuf + c->rx_off, c->rx_len);
		if (n > 0) {
			c->rx_off += (size_t)n;
			c->rx_len -= (size_t)n;
			moved = true;
		} else if (n < 0 && n != -ENOBUFS) {
			conn_lost(r, rtls_why(r, strerror((int)-n)));
			return false;
		}
	}
	if (!tls_conn_established(t->conn)) {
		res = tls_conn_handshake(t->conn);
		conn_kick(r);
		if (res == -EAGAIN)
			return moved;
		if (res < 0) {
			handshake_failed(r, res);
			return false;
		}
		rtrust_decide(r);
		return true;
	}
	if (!t->verified)
		return false;	/* the user is deciding */
	n = tls_conn_read(t->conn, t->plain, sizeof(t->plain));
	if (n > 0) {
		rlink_feed(&r->link, t->plain, (size_t)n);
		remote_check_link(r);
		return true;
	}
	if (n == -EPIPE) {
		conn_lost(r, "the server closed the connection");
		return false;
	}
	if (n < 0) {
		conn_lost(r, rtls_why(r, strerror((int)-n)));
		return false;
	}
	/* Nothing now: maybe an answer waits for outbox room (a send). */
	return moved;
}

void rtls_pump(struct remote *r)
{
	struct remote_conn *c = &r->conn;
	unsigned gen = c->gen;

	if (!speaks_tls(r))
		return;
	/* Every step may end the connection (a refusal, the link failing):
	 * the generation tells. */
	while (r->tls.conn && !r->done && c->gen == gen && pump_once(r))
		;
	if (!r->done && c->gen == gen)
		conn_kick(r);
}
