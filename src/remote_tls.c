/* SPDX-License-Identifier: MIT */
/*
 * The -remote client over ssl and spipe: TLS between the socket
 * (remote_conn.c) and the protocol (remote_link.c), and the decision that
 * the server is the right one.  Nothing of the protocol is sent, a
 * password's proof included, before that decision, and a wrong server is a
 * refusal, never retried.
 *
 * The server is known in one of three ways: certuser=/machuser= names the
 * certificate it must present, byte for byte (as in WinDbg, both sides
 * name the same certificate; the client needs only its public half);
 * fingerprint= gives that certificate's SHA-256; or, with neither,
 * ~/.config/ringside/known_servers holds the fingerprint seen the first
 * time, after the user said yes to it on a terminal (ssh's trust on first
 * use).  Scripts are never asked, so an unknown server refuses them with
 * what to do; a changed one refuses everyone, loudly.
 *
 * Ciphertext keeps remote_conn.c's discipline: the TLS outbox is lent to
 * the kernel for one send at a time and nothing writes it until the
 * completion; received ciphertext stays in the receive buffer until the
 * TLS inbox takes it, and no new receive is armed before then.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "src/remote_internal.h"

#define PREFIX "ringside: "

static void refuse(struct remote *r)
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
	if (res == 0) {
		res = tls_conn_handshake(t->conn);	/* the ClientHello */
		if (res == -EAGAIN)
			res = 0;
	}
	if (res < 0) {
		remote_say(r, PREFIX "TLS to %s: %s", r->where,
			   t->conn && tls_conn_error(t->conn)[0] ? tls_conn_error(t->conn)
								  : strerror(-res));
		refuse(r);
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

size_t rtls_unsent(const struct remote *r)
{
	return r->tls.conn ? tls_conn_out_pending(r->tls.conn) : 0;
}

const char *rtls_why(const struct remote *r, const char *otherwise)
{
	const char *why = r->tls.conn ? tls_conn_error(r->tls.conn) : "";

	return why[0] ? why : otherwise;
}

/*
 * Deciding about the server.
 */

/* The connection is proven: the protocol may start. */
static void proven(struct remote *r)
{
	r->tls.verified = true;
	conn_secured(r);
}

static void say_changed(struct remote *r, const uint8_t now[TLS_SHA256_LEN],
			const uint8_t was[TLS_SHA256_LEN], const char *where_was)
{
	char a[TLS_FP_STR_LEN], b[TLS_FP_STR_LEN];

	tls_fp_format(now, a);
	tls_fp_format(was, b);
	remote_say(r, PREFIX "WARNING: THE CERTIFICATE OF THE SERVER AT %s HAS CHANGED.",
		   r->tls.known_key);
	remote_say(r, PREFIX "it presented %s", a);
	remote_say(r, PREFIX "%s %s", where_was, b);
	remote_say(r, PREFIX "someone may be intercepting the connection, or the server has a new "
		      "certificate; not connecting.");
}

static void changed(struct remote *r, const uint8_t now[TLS_SHA256_LEN],
		    const struct tls_known_result *kr)
{
	struct remote_tls *t = &r->tls;
	char where[4096 + 64];

	snprintf(where, sizeof(where), "line %u of %s says", kr->line, t->known_path);
	say_changed(r, now, kr->old_sha256, where);
	remote_say(r, PREFIX "if the new certificate is expected, delete line %u of %s and connect "
		      "again.", kr->line, t->known_path);
	refuse(r);
}

/* A script, or a terminal that cannot ask: never trusted silently. */
static void unknown_refused(struct remote *r, const uint8_t sha[TLS_SHA256_LEN])
{
	struct remote_tls *t = &r->tls;
	char fp[TLS_FP_STR_LEN];

	tls_fp_format(sha, fp);
	remote_say(r, PREFIX "the server at %s is not in %s; its certificate is %s", t->known_key,
		   t->known_path, fp);
	remote_say(r, PREFIX "not connecting: without a terminal to ask on, a new server is never "
		      "trusted.  Once the server's owner confirms that fingerprint, trust it by");
	remote_say(r, PREFIX "  adding this line to %s:  %s %s", t->known_path, t->known_key, fp);
	remote_say(r, PREFIX "  or pinning it in the spec: fingerprint=%s", fp);
	remote_say(r, PREFIX "  or connecting once from a terminal and answering yes");
	refuse(r);
}

static void ask_again(struct remote *r, const char *answer);

static void ask(struct remote *r, const uint8_t sha[TLS_SHA256_LEN])
{
	struct remote_tls *t = &r->tls;
	char fp[TLS_FP_STR_LEN];

	tls_fp_format(sha, fp);
	memcpy(t->asked, sha, sizeof(t->asked));
	t->asking = true;
	remote_say(r, PREFIX "the server at %s is not known yet (%s).", t->known_key,
		   t->known_path);
	remote_say(r, PREFIX "its certificate's SHA-256 fingerprint is %s", fp);
	remote_say(r, PREFIX "(the server's owner sees it with: openssl x509 -noout -fingerprint "
		      "-sha256 -in CERT.crt)");
	/* The user's thinking time is not the server's. */
	conn_pause_deadline(r, true);
	remote_term_ask(r, "Trust this server and remember it? (yes/no) ", ask_again);
}

static void ask_again(struct remote *r, const char *answer)
{
	struct remote_tls *t = &r->tls;
	uint8_t typed[TLS_SHA256_LEN];
	char fp[TLS_FP_STR_LEN];
	int res;

	if (answer && strcasecmp(answer, "yes") != 0 && strcasecmp(answer, "no") != 0 &&
	    answer[0] && !(tls_fp_parse(answer, typed) == 0 && !memcmp(typed, t->asked, 32))) {
		remote_term_ask(r, "Please type 'yes', 'no' or the fingerprint: ", ask_again);
		return;
	}
	t->asking = false;
	if (!answer || !answer[0] || strcasecmp(answer, "no") == 0) {
		remote_say(r, PREFIX "not connecting to a server you did not trust");
		refuse(r);
		return;
	}
	tls_fp_format(t->asked, fp);
	res = tls_known_add(t->known_path, t->known_key, t->asked);
	if (res < 0)
		remote_say(r, PREFIX "could not remember it in %s (%s); trusted for this run only",
			   t->known_path, strerror(-res));
	else
		remote_say(r, PREFIX "added %s %s to %s", t->known_key, fp, t->known_path);
	memcpy(t->want, t->asked, sizeof(t->want));
	t->have_want = true;
	t->consented = true;
	conn_pause_deadline(r, false);
	if (t->conn && r->conn.st == CONN_SECURING && tls_conn_trust(t->conn, t->asked) == 0) {
		proven(r);
		rtls_pump(r);
		return;
	}
	/* The server gave up on us while the user was deciding: a new
	 * connection, which known_servers (or want) now vouches for. */
	t->consented = false;
	remote_say(r, "[ringside: connecting again]");
	conn_close(r);
	conn_start(r);
}

bool rtls_retry_after_consent(struct remote *r)
{
	struct remote_tls *t = &r->tls;

	/* The server may have hung up before the answer came, unnoticed
	 * because nothing was read meanwhile: once, connect again. */
	if (!t->consented || r->link.joined)
		return false;
	t->consented = false;
	remote_say(r, "[ringside: the server closed the connection while you decided; "
		      "connecting again]");
	conn_start(r);
	return true;
}

static void decide_known(struct remote *r, const uint8_t sha[TLS_SHA256_LEN])
{
	struct remote_tls *t = &r->tls;
	struct tls_known_result kr;
	int res = tls_known_check(t->known_path, t->known_key, sha, &kr);

	if (res < 0) {
		remote_say(r, PREFIX "cannot read %s: %s", t->known_path, strerror(-res));
		refuse(r);
		return;
	}
	if (kr.state == TLS_KNOWN_MATCH ||
	    (t->have_want && !memcmp(sha, t->want, TLS_SHA256_LEN))) {
		if (tls_conn_trust(t->conn, sha) == 0)
			proven(r);
		else
			refuse(r);
		return;
	}
	if (kr.state == TLS_KNOWN_CHANGED) {
		changed(r, sha, &kr);
		return;
	}
	if (t->have_want) {
		/* Accepted earlier in this run but never stored. */
		say_changed(r, sha, t->want, "earlier in this run it presented");
		refuse(r);
		return;
	}
	if (r->interactive)
		ask(r, sha);
	else
		unknown_refused(r, sha);
}

/* The handshake is over: is this the server? */
static void decide(struct remote *r)
{
	struct remote_tls *t = &r->tls;
	struct tls_peer_info info;
	char a[TLS_FP_STR_LEN], b[TLS_FP_STR_LEN];

	if (tls_conn_peer(t->conn, &info) < 0 || !info.has_cert) {
		remote_say(r, PREFIX "the server at %s presented no certificate", r->where);
		refuse(r);
		return;
	}
	switch (t->mode) {
	case RTLS_PIN:
		if (info.verified) {
			proven(r);
			return;
		}
		break;	/* cannot happen: tls/ fails the handshake instead */
	case RTLS_FINGERPRINT:
		if (tls_conn_trust(t->conn, t->want) == 0) {
			proven(r);
			return;
		}
		tls_fp_format(info.sha256, a);
		tls_fp_format(t->want, b);
		remote_say(r, PREFIX "the server at %s presented certificate %s, not %s (fingerprint=); "
			      "not connecting", r->where, a, b);
		refuse(r);
		return;
	case RTLS_KNOWN:
		decide_known(r, info.sha256);
		return;
	case RTLS_OFF:
		break;
	}
	remote_say(r, PREFIX "the server at %s could not be verified", r->where);
	refuse(r);
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
		refuse(r);
		return;
	}
	if (res == -EPROTO && r->link.joined) {
		/* Perhaps a cut mid-handshake: worth another try. */
		conn_lost(r, why);
		return;
	}
	remote_say(r, PREFIX "%s: %s", r->where, why[0] ? why : strerror(-res));
	refuse(r);
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
	refuse(r);
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
		decide(r);
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
