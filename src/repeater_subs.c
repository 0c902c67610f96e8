/* SPDX-License-Identifier: MIT */
/*
 * The repeater's clients as its origin knows them (PROTOCOL.md 11): each is
 * a SUB, named by its client id here.  This part registers them
 * (SUB_HELLO), passes their password proofs along without learning the
 * password (a native client's SRP exchange is relayed as it is; a raw
 * client's, which types its password to us, is computed here and the
 * password wiped at once), carries their lines and interrupts, and says
 * when they go.  At most REPEATER_AUTH_MAX proofs are in progress at once;
 * the rest queue in arrival order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/client.h"
#include "src/native.h"
#include "src/repeater_internal.h"

/*
 * The table, sorted by id (ids only grow, so arrivals append).
 */

static unsigned slot_of(const struct repeater *rep, uint32_t id)
{
	unsigned lo = 0, hi = rep->nsubs;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (rep->subs[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct rsub *rsub_find(const struct repeater *rep, uint32_t id)
{
	unsigned i = slot_of(rep, id);

	return i < rep->nsubs && rep->subs[i]->id == id ? rep->subs[i] : NULL;
}

struct rsub *rsub_add(struct repeater *rep, struct client *c, enum rsub_state state)
{
	struct rsub *rs = calloc(1, sizeof(*rs));
	unsigned i = slot_of(rep, c->id);

	if (!rs)
		return NULL;
	if (rep->nsubs == rep->subs_cap) {
		unsigned cap = rep->subs_cap ? rep->subs_cap * 2 : 64;
		struct rsub **grown = realloc(rep->subs, cap * sizeof(*grown));

		if (!grown) {
			free(rs);
			return NULL;
		}
		rep->subs = grown;
		rep->subs_cap = cap;
	}
	memmove(&rep->subs[i + 1], &rep->subs[i], (rep->nsubs - i) * sizeof(*rep->subs));
	rep->subs[i] = rs;
	rep->nsubs++;
	rs->id = c->id;
	rs->c = c;
	rs->state = state;
	if (state == RSUB_DEFERRED)
		rep->ndeferred++;
	return rs;
}

static void wipe(struct rsub *rs)
{
	explicit_bzero(rs->password, sizeof(rs->password));
	rs->password_len = 0;
	auth_client_free(rs->auth);
	rs->auth = NULL;
}

static bool holds_slot(const struct rsub *rs)
{
	return rs->state == RSUB_HELLO || rs->state == RSUB_CHALLENGED ||
	       rs->state == RSUB_PROVING;
}

void rsub_release_slot(struct repeater *rep, struct rsub *rs)
{
	if (holds_slot(rs))
		rep->nauth--;
}

void rsub_remove(struct repeater *rep, struct rsub *rs)
{
	unsigned i = slot_of(rep, rs->id);

	if (rs->state == RSUB_DEFERRED)
		rep->ndeferred--;
	rsub_release_slot(rep, rs);
	if (i < rep->nsubs && rep->subs[i] == rs) {
		memmove(&rep->subs[i], &rep->subs[i + 1], (rep->nsubs - i - 1) * sizeof(*rep->subs));
		rep->nsubs--;
	}
	wipe(rs);
	free(rs);
}

void rsub_free_all(struct repeater *rep)
{
	for (unsigned i = 0; i < rep->nsubs; i++) {
		wipe(rep->subs[i]);
		free(rep->subs[i]);
	}
	free(rep->subs);
	rep->subs = NULL;
	rep->nsubs = rep->subs_cap = rep->nauth = rep->ndeferred = 0;
}

/*
 * Records for the origin.
 */

static void send_msg(struct repeater *rep, uint8_t type, uint32_t id, const struct proto_msg *m)
{
	uint8_t buf[PROTO_HEADER_SIZE + 2 * PROTO_SRP_MAX + 512];
	int n = proto_record_encode(type, id, m, buf, sizeof(buf));

	if (n < 0) {
		repeater_log(rep, "cannot encode %s for client %u: %s", proto_type_name(type), id,
			     strerror(-n));
		return;
	}
	repeater_up_send(rep, buf, (size_t)n);
}

void rsub_send_plain(struct repeater *rep, uint8_t type, uint32_t id)
{
	send_msg(rep, type, id, NULL);
}

/* SUB_HELLO's fields: the name we know C by, and its role here. */
static void hello_fields(struct client *c, struct proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	client_ident(c, m->identity);
	m->has_identity = proto_text_ok((const uint8_t *)m->identity, strlen(m->identity));
	if (!m->has_identity) {
		/* A name that is no text field (the identity is the client's
		 * claim): the origin still needs one. */
		snprintf(m->identity, sizeof(m->identity), "client%u", c->id);
		m->has_identity = true;
	}
	m->role = c->readonly ? 1 : 0;
	m->has_role = true;
}

void repeater_auth_done(struct client *c)
{
	if (!c->x)
		return;
	c->x->auth_waiting = false;
	client_extra_tidy(c);
}

void rsub_register(struct repeater *rep, struct rsub *rs, bool rejoin)
{
	struct client *c = rs->c;
	struct proto_msg m;

	hello_fields(c, &m);
	if (rejoin) {
		m.rejoin = 1;
		m.has_rejoin = true;
	}
	send_msg(rep, PROTO_SUB_HELLO, rs->id, &m);
	rs->registered = true;
}

void rsub_send_line(struct repeater *rep, struct rsub *rs, const char *line, size_t len)
{
	uint8_t rec[PROTO_HEADER_SIZE + PROTO_MAX_CONTROL];
	struct proto_header h = { .type = PROTO_SUB_INPUT, .length = (uint32_t)len, .seq = rs->id };

	/* The local line limit is at most the protocol's (-linemax). */
	if (len > PROTO_MAX_CONTROL)
		return;
	proto_header_encode(&h, rec);
	memcpy(rec + PROTO_HEADER_SIZE, line, len);
	if (rlink_live(&rep->up.link) && rs->registered) {
		repeater_up_send(rep, rec, PROTO_HEADER_SIZE + len);
		return;
	}
	/* Kept for the connection that comes back (PROTOCOL.md 7.2); lines
	 * of clients that have left by then are dropped. */
	if (!bytes_put(&rep->up.held, rec, PROTO_HEADER_SIZE + len)) {
		client_private(rs->c, "ringside: out of memory; the line was not sent\r\n");
		return;
	}
	if (!rs->told_held) {
		rs->told_held = true;
		client_private(rs->c, "%s[ringside: the repeater is reconnecting to the session; what "
			       "you type is sent once it is back]%s", rs->c->native ? "" : "\r\n",
			       rs->c->native ? "" : "\r\n");
	}
}

/*
 * Proofs.
 */

/* Why a client cannot be let in: told in its own language, then closed. */
static void refuse(struct repeater *rep, struct rsub *rs, const char *reason)
{
	struct client *c = rs->c;

	if (c->native) {
		native_refuse(c, reason);
	} else {
		repeater_auth_done(c);
		client_private(c, "\r\nError 0x80004005: %s\r\n", reason);
		client_finish(c);
	}
	rsub_remove(rep, rs);
}

void rsub_pump(struct repeater *rep)
{
	struct proto_msg m;

	if (!rlink_relaying(&rep->up.link))
		return;
	for (unsigned i = 0; i < rep->nsubs && rep->nauth < REPEATER_AUTH_MAX; i++) {
		struct rsub *rs = rep->subs[i];
		struct client *c = rs->c;

		if (rs->state != RSUB_QUEUED)
			continue;
		hello_fields(c, &m);
		send_msg(rep, PROTO_SUB_HELLO, rs->id, &m);
		rs->registered = true;
		rs->state = RSUB_HELLO;
		rep->nauth++;
	}
}

/* The origin's challenge for RS: a native client answers it itself; for a
 * raw one we do, with the password it typed, which is then wiped. */
static void on_challenge(struct repeater *rep, struct rsub *rs, const struct proto_msg *m)
{
	struct proto_msg p;
	size_t a_len = sizeof(p.srp_a), m1_len = sizeof(p.srp_m1);
	int res;

	if (rs->state != RSUB_HELLO || !m->salt_len || !m->srp_b_len)
		return;
	if (rs->c->native) {
		rs->state = RSUB_CHALLENGED;
		native_gate_challenge(rs->c, m->salt, m->salt_len, m->srp_b, m->srp_b_len);
		return;
	}
	memset(&p, 0, sizeof(p));
	res = auth_client_respond(rs->password, m->salt, m->salt_len, m->srp_b, m->srp_b_len,
				  &rs->auth, p.srp_a, &a_len, p.srp_m1, &m1_len);
	explicit_bzero(rs->password, sizeof(rs->password));
	rs->password_len = 0;
	if (res < 0) {
		refuse(rep, rs, "the origin's password challenge is not valid");
		return;
	}
	p.srp_a_len = a_len;
	p.srp_m1_len = m1_len;
	send_msg(rep, PROTO_SUB_PROOF, rs->id, &p);
	rs->state = RSUB_PROVING;
}

static void on_accept(struct repeater *rep, struct rsub *rs, const struct proto_msg *m)
{
	struct client *c = rs->c;
	struct hub *h = &rep->down->hub;

	if (rs->state != RSUB_PROVING)
		return;
	rsub_release_slot(rep, rs);
	rs->state = RSUB_ADMITTED;
	if (m->has_role && m->role == 1)
		c->readonly = true;
	if (c->native) {
		/* It checks the origin's M2 itself: mutual, end to end. */
		native_gate_accept(c, m->srp_m2, m->srp_m2_len);
	} else if (!rs->auth || auth_client_verify(rs->auth, m->srp_m2, m->srp_m2_len) < 0) {
		/* For a raw client we are the one who checks. */
		refuse(rep, rs, "the origin could not prove it knows the password");
		return;
	} else {
		auth_client_free(rs->auth);
		rs->auth = NULL;
		repeater_auth_done(c);
		client_auth_passed(c);
		client_go_live_at(c, transcript_history_start(&h->tr, h->cfg->history_bytes,
							      h->cfg->history_lines));
	}
	rsub_pump(rep);
}

static void on_refuse(struct repeater *rep, struct rsub *rs, const struct proto_msg *m)
{
	const char *reason = m->has_reason ? m->reason : "refused by the origin";

	/* Our own per-source throttle learns of wrong passwords too. */
	if (strcmp(reason, "wrong password") == 0)
		client_auth_failed(rs->c);
	if (rs->state == RSUB_ADMITTED) {
		/* A registration the origin would not take (it is full). */
		client_private(rs->c, "%sringside: the origin refused this client: %s%s",
			       rs->c->native ? "" : "\r\n", reason, rs->c->native ? "" : "\r\n");
		client_finish(rs->c);
		rsub_remove(rep, rs);
	} else {
		refuse(rep, rs, reason);
	}
	rsub_pump(rep);
}

void rsub_on_record(struct repeater *rep, uint8_t type, uint32_t sub, const struct proto_msg *m,
		    const uint8_t *p, size_t n)
{
	struct rsub *rs = rsub_find(rep, sub);
	char text[512];

	/* A client that has gone meanwhile: nothing to do. */
	if (!rs || rs->c->state == CLIENT_CLOSING)
		return;
	switch (type) {
	case PROTO_SUB_CHALLENGE:
		on_challenge(rep, rs, m);
		return;
	case PROTO_SUB_ACCEPT:
		on_accept(rep, rs, m);
		return;
	case PROTO_SUB_REFUSE:
		on_refuse(rep, rs, m);
		return;
	case PROTO_SUB_PRIVATE:
		/* Made text for the client (client_private() escapes nothing:
		 * the origin's messages are its own, like PRIVATE's). */
		if (n >= sizeof(text))
			n = sizeof(text) - 1;
		memcpy(text, p, n);
		text[n] = '\0';
		client_private(rs->c, "%s", text);
		return;
	default:
		return;
	}
}
