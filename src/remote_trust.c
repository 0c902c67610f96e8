/* SPDX-License-Identifier: MIT */
/*
 * Whom the -remote client believes over ssl and spipe, once the TLS
 * handshake is over: the certificate named with certuser=/machuser= (tls/
 * has already refused any other), the fingerprint given with fingerprint=,
 * or known_servers, where an unknown server is shown to the user on a
 * terminal and remembered on a yes, refused in a script with what to do,
 * and a changed one refused loudly.  Every refusal is final.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "src/remote_internal.h"

#define PREFIX "ringside: "

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
	rtls_refuse(r);
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
	rtls_refuse(r);
}

static void answered(struct remote *r, const char *answer);

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
	remote_term_ask(r, "Trust this server and remember it? (yes/no) ", answered);
}

enum answer { ANSWER_YES, ANSWER_NO, ANSWER_UNCLEAR };

/* As ssh: "yes" or the fingerprint itself is consent; no answer is a no. */
static enum answer judge(const char *answer, const uint8_t asked[TLS_SHA256_LEN])
{
	uint8_t typed[TLS_SHA256_LEN];

	if (!answer || !answer[0] || strcasecmp(answer, "no") == 0)
		return ANSWER_NO;
	if (strcasecmp(answer, "yes") == 0 ||
	    (tls_fp_parse(answer, typed) == 0 && !memcmp(typed, asked, TLS_SHA256_LEN)))
		return ANSWER_YES;
	return ANSWER_UNCLEAR;
}

static void answered(struct remote *r, const char *answer)
{
	struct remote_tls *t = &r->tls;
	enum answer a = judge(answer, t->asked);
	char fp[TLS_FP_STR_LEN];
	int res;

	if (a == ANSWER_UNCLEAR) {
		remote_term_ask(r, "Please type 'yes', 'no' or the fingerprint: ", answered);
		return;
	}
	t->asking = false;
	if (a == ANSWER_NO) {
		remote_say(r, PREFIX "not connecting to a server you did not trust");
		rtls_refuse(r);
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

bool rtrust_retry_after_consent(struct remote *r)
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
		rtls_refuse(r);
		return;
	}
	if (kr.state == TLS_KNOWN_MATCH ||
	    (t->have_want && !memcmp(sha, t->want, TLS_SHA256_LEN))) {
		if (tls_conn_trust(t->conn, sha) == 0)
			proven(r);
		else
			rtls_refuse(r);
		return;
	}
	if (kr.state == TLS_KNOWN_CHANGED) {
		changed(r, sha, &kr);
		return;
	}
	if (t->have_want) {
		/* Accepted earlier in this run but never stored. */
		say_changed(r, sha, t->want, "earlier in this run it presented");
		rtls_refuse(r);
		return;
	}
	if (r->interactive)
		ask(r, sha);
	else
		unknown_refused(r, sha);
}

/* The handshake is over: is this the server? */
void rtrust_decide(struct remote *r)
{
	struct remote_tls *t = &r->tls;
	struct tls_peer_info info;
	char a[TLS_FP_STR_LEN], b[TLS_FP_STR_LEN];

	if (tls_conn_peer(t->conn, &info) < 0 || !info.has_cert) {
		remote_say(r, PREFIX "the server at %s presented no certificate", r->where);
		rtls_refuse(r);
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
		rtls_refuse(r);
		return;
	case RTLS_KNOWN:
		decide_known(r, info.sha256);
		return;
	case RTLS_OFF:
		break;
	}
	remote_say(r, PREFIX "the server at %s could not be verified", r->where);
	rtls_refuse(r);
}
