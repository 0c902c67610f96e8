/* SPDX-License-Identifier: MIT */
/*
 * A repeater's connection at the origin (PROTOCOL.md 11).  The repeater is
 * one native client that carries many: its "sub-clients" arrive, type and
 * leave through SUB_ records naming them.  Each is admitted here by its own
 * SRP proof, which the repeater only passes on (so it never learns the
 * password), and the connection itself reads nothing until one of them has
 * proven it.  Their lines and interrupts take the path of any client's
 * under their own names; their joins and leaves are told like anyone's; a
 * ticket lets a repeater whose connection dropped come back and resume
 * without anyone proving the password again.
 *
 * A sub-client is not a struct client: it reads nothing here (the repeater
 * sends it the transcript), so it costs a name and a few fields, never a
 * send.  Where the shared paths take a client (lines, interrupts, notices,
 * callbacks), the relay's own object stands in for it with the sub-client's
 * name (native_name()), id and role for the length of that one call
 * (speak_as()).  Its identity is then "BOX\bob (tcp 10.1.2.3:5555) via
 * repeater (tcp 10.0.0.7:40022)": the repeater's name for it, and the hop
 * from the repeater to us, as WinDbg shows the hop to a repeater.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/meta.h"
#include "src/native.h"
#include "src/native_internal.h"
#include "src/server.h"
#include "src/writer.h"

/* Clients one relay may carry, and proofs it may have running at once
 * (the challenges' bytes must fit the relay's private queue). */
#define SUBS_MAX 65536
#define RELAY_AUTH_MAX 8
/* A wrong proof is answered this late (hub clock, seconds). */
#define SUB_REFUSE_DELAY_S 1
/* A ticket outlives its connection this long (seconds). */
#define TICKET_GRACE_S 600
/* Tickets of ended connections kept at most. */
#define TICKETS_ENDED_MAX 64

struct native_sub {
	uint32_t sub;		/* the relay's name for it (records' seq) */
	uint32_t id;		/* ours, from the clients' sequence */
	bool admitted;
	bool readonly;		/* the repeater serves it read-only */
	bool failed;		/* wrong proof: refused at refuse_at */
	uint32_t refuse_at;
	struct auth_server *auth;	/* its proof is being waited for */
	time_t last_active;
	char name[96];		/* what native_name() gives while it speaks */
};

struct relay_ticket {
	uint8_t bytes[PROTO_TICKET_SIZE];
	struct client *holder;	/* the relay connection it was issued to, or NULL */
	uint32_t ended_at;	/* hub clock: when the holder went */
	bool in_use;
};

struct native_hub {
	struct relay_ticket *tickets;
	unsigned ntickets;
};

/* What the relay's own object is while it speaks for a sub-client. */
struct spoken {
	uint32_t id;
	bool readonly;
};

struct native_relay {
	struct native_sub **subs;	/* sorted by sub */
	unsigned nsubs, cap;
	unsigned nauth;			/* challenges out */
	bool locked;			/* no sub-client has proven the password yet */
	bool password;			/* the server has one */
	struct relay_ticket *ticket;	/* the one it holds */
	struct native_sub *speaking;	/* speak_as() is on */
	struct spoken saved;
};

static struct native_relay *relay_of(const struct client *c)
{
	return c->nat ? c->nat->relay : NULL;
}

/*
 * Sub-clients, sorted by their relay's id for lookups in log time.
 */

static unsigned sub_slot(const struct native_relay *r, uint32_t sub)
{
	unsigned lo = 0, hi = r->nsubs;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (r->subs[mid]->sub < sub)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct native_sub *sub_find(const struct native_relay *r, uint32_t sub)
{
	unsigned i = sub_slot(r, sub);

	return i < r->nsubs && r->subs[i]->sub == sub ? r->subs[i] : NULL;
}

static int sub_insert(struct native_relay *r, struct native_sub *ns)
{
	unsigned i = sub_slot(r, ns->sub);

	if (r->nsubs == r->cap) {
		unsigned cap = r->cap ? r->cap * 2 : 16;
		struct native_sub **grown = realloc(r->subs, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		r->subs = grown;
		r->cap = cap;
	}
	memmove(&r->subs[i + 1], &r->subs[i], (r->nsubs - i) * sizeof(*r->subs));
	r->subs[i] = ns;
	r->nsubs++;
	return 0;
}

static void sub_free(struct client *c, struct native_relay *r, struct native_sub *ns)
{
	if (ns->admitted)
		c->hub->nrelayed--;
	if (ns->auth) {
		auth_server_free(ns->auth);
		r->nauth--;
	}
	free(ns);
}

static void sub_remove(struct client *c, struct native_relay *r, struct native_sub *ns)
{
	unsigned i = sub_slot(r, ns->sub);

	if (i < r->nsubs && r->subs[i] == ns) {
		memmove(&r->subs[i], &r->subs[i + 1], (r->nsubs - i - 1) * sizeof(*r->subs));
		r->nsubs--;
	}
	sub_free(c, r, ns);
}

/*
 * The relay speaks for one of its clients: everything the shared paths do
 * with C during FN (its name in TYPED lines and notices, its role, its
 * private answers) is that client's.
 */
static void speak_as(struct client *c, struct native_sub *ns)
{
	struct native_relay *r = c->nat->relay;

	r->saved.id = c->id;
	r->saved.readonly = c->readonly;
	c->id = ns->id;
	/* A read-only relay makes every client it carries read-only. */
	c->readonly = r->saved.readonly || ns->readonly;
	r->speaking = ns;
}

static void speak_done(struct client *c)
{
	struct native_relay *r = c->nat->relay;

	c->id = r->saved.id;
	c->readonly = r->saved.readonly;
	r->speaking = NULL;
}

const char *relay_speaking_name(const struct client *c)
{
	const struct native_relay *r = c->nat->relay;

	return r && r->speaking ? r->speaking->name : NULL;
}

/* The identity of NS (or, with NULL, of the relay itself) into BUF
 * (IDENT_MAX bytes), whoever is speaking now. */
static const char *ident_of(const struct client *c, struct native_sub *ns, char *buf)
{
	struct native_relay *r = c->nat->relay;
	struct native_sub *was = r->speaking;

	r->speaking = ns;
	client_ident(c, buf);
	r->speaking = was;
	return buf;
}

/* The repeater's name for a client ("BOX\bob (tcp 10.1.2.3:5555)"), as it
 * is shown here: client_ident() adds the hop from the repeater. */
static void sub_name(const char *claimed, char *out, size_t len)
{
	static const char via[] = " via repeater";
	size_t n = strnlen(claimed, len - sizeof(via));

	/* A name too long for the identity is cut: it is only shown. */
	memcpy(out, claimed, n);
	memcpy(out + n, via, sizeof(via));
}

/*
 * Tickets: 256 random bits a relay gets with ACCEPT on a session that has a
 * password.  Presented in the HELLO of its next connection, it stands for
 * the proof that unlocked the last one: once, and for TICKET_GRACE_S after
 * that connection ended.
 */

static struct native_hub *native_hub(struct hub *s)
{
	if (!s->native)
		s->native = calloc(1, sizeof(*s->native));
	return s->native;
}

void native_hub_free(struct hub *s)
{
	if (!s->native)
		return;
	explicit_bzero(s->native->tickets, s->native->ntickets * sizeof(*s->native->tickets));
	free(s->native->tickets);
	free(s->native);
	s->native = NULL;
}

static bool ticket_expired(const struct hub *s, const struct relay_ticket *t)
{
	return !t->holder && (uint32_t)(s->now - t->ended_at) > TICKET_GRACE_S;
}

static void ticket_drop(struct relay_ticket *t)
{
	explicit_bzero(t, sizeof(*t));
}

/* The ticket TICKET (LEN bytes) names, if it is valid.  Every slot is
 * compared in full, so the time taken says nothing about the bytes. */
static struct relay_ticket *ticket_find(struct hub *s, const uint8_t *ticket, size_t len)
{
	struct native_hub *nh = s->native;
	struct relay_ticket *found = NULL;

	if (!nh || len != PROTO_TICKET_SIZE)
		return NULL;
	for (unsigned i = 0; i < nh->ntickets; i++) {
		struct relay_ticket *t = &nh->tickets[i];
		uint8_t diff = t->in_use ? 0 : 1;

		for (size_t k = 0; k < PROTO_TICKET_SIZE; k++)
			diff |= t->bytes[k] ^ ticket[k];
		if (!diff)
			found = t;
	}
	if (found && ticket_expired(s, found)) {
		ticket_drop(found);
		return NULL;
	}
	return found;
}

/* A slot for a new ticket: a free or expired one, else the oldest ended
 * one once enough have ended, else a new one. */
static struct relay_ticket *ticket_slot(struct hub *s)
{
	struct native_hub *nh = native_hub(s);
	struct relay_ticket *oldest = NULL, *grown;
	unsigned ended = 0;

	if (!nh)
		return NULL;
	/* tickets is NULL only while ntickets is 0; saying so spares GCC's
	 * -Wnonnull a path where ticket_drop() would clear NULL. */
	for (unsigned i = 0; nh->tickets && i < nh->ntickets; i++) {
		struct relay_ticket *t = &nh->tickets[i];

		if (!t->in_use || ticket_expired(s, t)) {
			ticket_drop(t);
			return t;
		}
		if (!t->holder) {
			ended++;
			if (!oldest || (uint32_t)(s->now - t->ended_at) >
					       (uint32_t)(s->now - oldest->ended_at))
				oldest = t;
		}
	}
	if (oldest && ended >= TICKETS_ENDED_MAX) {
		ticket_drop(oldest);
		return oldest;
	}
	grown = realloc(nh->tickets, (nh->ntickets + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	/* Holders point at their slot: move them with the array. */
	for (unsigned i = 0; i < nh->ntickets; i++)
		if (grown[i].holder)
			relay_of(grown[i].holder)->ticket = &grown[i];
	nh->tickets = grown;
	memset(&nh->tickets[nh->ntickets], 0, sizeof(*grown));
	return &nh->tickets[nh->ntickets++];
}

void relay_accept_fields(struct client *c, struct proto_msg *m)
{
	struct native_relay *r = relay_of(c);
	struct relay_ticket *t;

	if (!r->password)
		return;
	t = ticket_slot(c->hub);
	if (!t || getrandom(t->bytes, sizeof(t->bytes), 0) != (ssize_t)sizeof(t->bytes)) {
		/* Without one the relay just needs a proof again next time. */
		if (t)
			ticket_drop(t);
		return;
	}
	t->in_use = true;
	t->holder = c;
	r->ticket = t;
	memcpy(m->ticket, t->bytes, sizeof(t->bytes));
	m->ticket_len = sizeof(t->bytes);
}

/*
 * The relay's handshake.
 */

void relay_hello(struct client *c, const struct proto_msg *hello)
{
	struct hub *s = c->hub;
	struct native_relay *r = calloc(1, sizeof(*r));
	struct relay_ticket *t;
	struct proto_msg w;

	if (!r) {
		native_refuse(c, "out of memory");
		return;
	}
	c->nat->relay = r;
	r->password = c->server->verifier != NULL;
	if (r->password && (t = ticket_find(s, hello->ticket, hello->ticket_len))) {
		/* Its last connection may not have been noticed as gone (a
		 * black-holed network): the repeater is here again. */
		if (t->holder) {
			relay_of(t->holder)->ticket = NULL;
			client_close(t->holder, "replaced by its repeater's new connection");
		}
		ticket_drop(t);
	} else {
		r->locked = r->password;
	}
	native_welcome_fields(c, &w);
	w.auth = r->password ? 1 : 0;
	w.has_auth = true;
	w.relay = 1;
	w.has_relay = true;
	w.locked = r->locked ? 1 : 0;
	w.has_locked = true;
	native_queue(c, PROTO_WELCOME, 0, &w);
	if (!r->locked)
		native_accept(c, NULL, 0);
	else
		native_expect(c->nat, HS_LOCKED);
}

/*
 * Sub-clients arriving, proving, typing, leaving.
 */

static void sub_refuse(struct client *c, uint32_t sub, const char *reason)
{
	struct native_relay *r = relay_of(c);
	struct native_sub *ns = sub_find(r, sub);
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.code = PROTO_REFUSAL_CODE;
	m.has_code = true;
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	m.has_reason = true;
	native_queue(c, PROTO_SUB_REFUSE, sub, &m);
	if (ns)
		sub_remove(c, r, ns);
}

static void admit(struct client *c, struct native_sub *ns)
{
	struct hub *s = c->hub;

	ns->admitted = true;
	ns->last_active = time(NULL);
	s->nrelayed++;
	speak_as(c, ns);
	s->ops->joined(s, c);
	speak_done(c);
}

static void on_sub_refusals(struct ring_timer *t, int res)
{
	struct client *c = container_of(t, struct client_extra, delay_timer)->c;
	struct native_relay *r;
	uint32_t now, next = 0;

	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	r = relay_of(c);
	now = c->hub->now;
	for (unsigned i = 0; i < r->nsubs;) {
		struct native_sub *ns = r->subs[i];

		if (!ns->failed) {
			i++;
		} else if ((int32_t)(now - ns->refuse_at) >= 0) {
			sub_refuse(c, ns->sub, "wrong password");	/* removes it */
		} else {
			if (!next || (int32_t)(ns->refuse_at - next) < 0)
				next = ns->refuse_at;
			i++;
		}
	}
	if (next)
		ring_timer_arm(&c->hub->ring, &c->x->delay_timer,
			       (uint64_t)(next - now) * 1000000000ull, on_sub_refusals);
}

static void sub_hello(struct client *c, uint32_t sub, const struct proto_msg *m)
{
	struct hub *s = c->hub;
	struct native_relay *r = relay_of(c);
	struct native_sub *ns;
	struct proto_msg w;
	uint8_t B[AUTH_GROUP_BYTES];
	size_t B_len = sizeof(B);
	char why[128];

	if (!m->has_identity) {
		native_refuse(c, "protocol error: SUB_HELLO without IDENTITY");
		return;
	}
	if (sub_find(r, sub)) {
		native_refuse(c, "protocol error: SUB_HELLO for a client that is already here");
		return;
	}
	if (r->nsubs >= SUBS_MAX) {
		sub_refuse(c, sub, "too many clients behind this repeater");
		return;
	}
	ns = calloc(1, sizeof(*ns));
	if (ns)
		ns->sub = sub;	/* the key it is filed under */
	if (!ns || sub_insert(r, ns) < 0) {
		free(ns);
		sub_refuse(c, sub, "out of memory");
		return;
	}
	ns->id = s->next_client_id++;
	ns->readonly = m->has_role && m->role == 1;
	sub_name(m->identity, ns->name, sizeof(ns->name));
	/* Without a password there is nothing to prove; a client this relay
	 * carried on a connection its ticket stands for has proven it. */
	if (!r->password || (m->has_rejoin && m->rejoin == 1 && !r->locked)) {
		admit(c, ns);
		return;
	}
	if (client_auth_wait(c, why, sizeof(why))) {
		sub_refuse(c, sub, why);
		return;
	}
	if (r->nauth >= RELAY_AUTH_MAX) {
		snprintf(why, sizeof(why), "%u of this repeater's clients are still authenticating; "
			 "try again", r->nauth);
		sub_refuse(c, sub, why);
		return;
	}
	if (auth_server_challenge(c->server->verifier, &ns->auth, B, &B_len) < 0) {
		sub_refuse(c, sub, "the server could not start authentication");
		return;
	}
	r->nauth++;
	memset(&w, 0, sizeof(w));
	memcpy(w.salt, c->server->verifier->salt, AUTH_SALT_SIZE);
	w.salt_len = AUTH_SALT_SIZE;
	memcpy(w.srp_b, B, B_len);
	w.srp_b_len = B_len;
	native_queue(c, PROTO_SUB_CHALLENGE, sub, &w);
}

static void sub_proof(struct client *c, uint32_t sub, const struct proto_msg *m)
{
	struct hub *s = c->hub;
	struct native_relay *r = relay_of(c);
	struct native_sub *ns = sub_find(r, sub);
	uint8_t m2[AUTH_PROOF_SIZE];
	size_t m2_len = sizeof(m2);
	struct proto_msg a;
	char why[128];
	int res;

	if (!m->srp_a_len || !m->srp_m1_len) {
		native_refuse(c, "protocol error: SUB_PROOF needs SRP_A and SRP_M1");
		return;
	}
	/* Gone meanwhile, or never challenged: nothing to answer. */
	if (!ns || !ns->auth)
		return;
	if (client_auth_wait(c, why, sizeof(why))) {
		sub_refuse(c, sub, why);
		return;
	}
	res = auth_server_verify(ns->auth, m->srp_a, m->srp_a_len, m->srp_m1, m->srp_m1_len, m2,
				 &m2_len);

	auth_server_free(ns->auth);
	ns->auth = NULL;
	r->nauth--;
	if (res < 0) {
		speak_as(c, ns);	/* the log names who guessed */
		client_auth_failed(c);
		speak_done(c);
		ns->failed = true;
		ns->refuse_at = s->now + SUB_REFUSE_DELAY_S;
		/* The relay's own delay timer: idle once it is in. */
		if (!client_x(c)) {
			sub_refuse(c, sub, "wrong password");
			return;
		}
		if (!c->x->delay_timer.armed &&
		    ring_timer_arm(&s->ring, &c->x->delay_timer,
				   SUB_REFUSE_DELAY_S * 1000000000ull, on_sub_refusals) < 0)
			sub_refuse(c, sub, "wrong password");
		return;
	}
	client_auth_passed(c);
	if (r->locked) {
		/* The first proof opens the relay: its ACCEPT comes first, so
		 * the repeater knows where the transcript starts before it
		 * lets this client in. */
		r->locked = false;
		native_accept(c, NULL, 0);
	}
	memset(&a, 0, sizeof(a));
	a.role = c->readonly || ns->readonly ? 1 : 0;
	a.has_role = true;
	memcpy(a.srp_m2, m2, m2_len);
	a.srp_m2_len = m2_len;
	ident_of(c, ns, a.identity);
	a.has_identity = proto_text_ok((const uint8_t *)a.identity, strlen(a.identity));
	native_queue(c, PROTO_SUB_ACCEPT, sub, &a);
	admit(c, ns);
}

static void sub_bye(struct client *c, uint32_t sub)
{
	struct hub *s = c->hub;
	struct native_relay *r = relay_of(c);
	struct native_sub *ns = sub_find(r, sub);

	if (!ns)
		return;
	if (ns->admitted) {
		speak_as(c, ns);
		s->ops->left(s, c);
		speak_done(c);
	}
	sub_remove(c, r, ns);
}

static void sub_input(struct client *c, uint32_t sub, const uint8_t *p, uint32_t len)
{
	struct hub *s = c->hub;
	struct native_relay *r = relay_of(c);
	struct native_sub *ns = sub_find(r, sub);

	/* Lines of a client not (or no longer) admitted are dropped: they
	 * can cross its refusal or its leaving on the wire. */
	if (!ns || !ns->admitted)
		return;
	ns->last_active = time(NULL);
	speak_as(c, ns);
	if (len > s->cfg->line_max)
		client_private(c, "ringside: line longer than %u bytes was not sent", s->cfg->line_max);
	else
		client_handle_line(c, (const char *)p, len);
	/* The relay may have been closed meanwhile; it is freed only at the
	 * turn's end, so restoring it is still safe. */
	speak_done(c);
}

static void sub_interrupt(struct client *c, uint32_t sub)
{
	struct native_sub *ns = sub_find(relay_of(c), sub);

	if (!ns || !ns->admitted)
		return;
	ns->last_active = time(NULL);
	speak_as(c, ns);
	client_interrupt(c);
	speak_done(c);
}

void relay_record(struct client *c, const struct proto_header *h, const uint8_t *p)
{
	struct native_relay *r = relay_of(c);
	struct proto_msg m;
	uint32_t sub = (uint32_t)h->seq;

	if (h->type == PROTO_HEARTBEAT) {
		native_queue(c, PROTO_HEARTBEAT_ACK, h->seq, NULL);
		/* A relay waiting for its clients' first proof is not a slow
		 * handshake while it keeps saying it is there. */
		if (r->locked)
			c->born = c->hub->now;
		return;
	}
	if (h->type == PROTO_BYE) {
		client_close(c, NULL);
		return;
	}
	if (h->seq == 0 || h->seq > PROTO_SUB_MAX) {
		native_refuse(c, "protocol error: a SUB_ record without a client id");
		return;
	}
	switch (h->type) {
	case PROTO_SUB_INPUT:
		sub_input(c, sub, p, h->length);
		return;
	case PROTO_SUB_INTERRUPT:
		sub_interrupt(c, sub);
		return;
	default:
		break;
	}
	if (proto_msg_decode(p, h->length, &m) < 0) {
		native_refuse(c, "protocol error: malformed record");
		return;
	}
	switch (h->type) {
	case PROTO_SUB_HELLO:
		sub_hello(c, sub, &m);
		return;
	case PROTO_SUB_PROOF:
		sub_proof(c, sub, &m);
		return;
	case PROTO_SUB_BYE:
		sub_bye(c, sub);
		return;
	default:
		/* The reader lets no other type through. */
		native_refuse(c, "protocol error: unexpected record");
		return;
	}
}

bool relay_private_text(struct client *c, const char *text, size_t len)
{
	struct native_relay *r = relay_of(c);
	uint8_t buf[PROTO_HEADER_SIZE + 512];
	struct proto_header h = { .type = PROTO_SUB_PRIVATE };

	if (!r || !r->speaking)
		return false;
	if (len > sizeof(buf) - PROTO_HEADER_SIZE)
		len = sizeof(buf) - PROTO_HEADER_SIZE;
	h.length = (uint32_t)len;
	h.seq = r->speaking->sub;
	proto_header_encode(&h, buf);
	memcpy(buf + PROTO_HEADER_SIZE, text, len);
	client_queue_private(c, buf, PROTO_HEADER_SIZE + len);
	return true;
}

/*
 * The relay ends, and what it carried with it.
 */

void native_relay_left(struct hub *s, struct client *c)
{
	struct native_relay *r = relay_of(c);

	/* Not a relay, or one of its clients leaving (speak_as() is on). */
	if (!r || r->speaking)
		return;
	while (r->nsubs) {
		struct native_sub *ns = r->subs[r->nsubs - 1];

		if (ns->admitted) {
			speak_as(c, ns);
			s->ops->left(s, c);
			speak_done(c);
		}
		r->nsubs--;
		sub_free(c, r, ns);
	}
}

void relay_free(struct client *c)
{
	struct native_relay *r = relay_of(c);

	if (!r)
		return;
	for (unsigned i = 0; i < r->nsubs; i++)
		sub_free(c, r, r->subs[i]);
	free(r->subs);
	if (r->ticket) {
		r->ticket->holder = NULL;
		r->ticket->ended_at = c->hub->now;
	}
	free(r);
	c->nat->relay = NULL;
}

unsigned native_relay_carried(const struct client *c)
{
	const struct native_relay *r = relay_of(c);
	unsigned admitted = 0;

	for (unsigned i = 0; r && i < r->nsubs; i++)
		admitted += r->subs[i]->admitted;
	return admitted;
}

bool native_relay_clients(struct hub *s, const struct client *c)
{
	const struct native_relay *r = relay_of(c);
	bool ro = r && r->speaking ? r->saved.readonly : c->readonly;
	char when[64], ident[IDENT_MAX];
	unsigned admitted = native_relay_carried(c);

	if (!r)
		return false;
	meta_format_time(c->last_active, when, sizeof(when));
	writer_emitf(s, "%s, last active %s (repeater for %u client%s, %s, %llu bytes behind)",
		     ident_of(c, NULL, ident), when, admitted, admitted == 1 ? "" : "s",
		     ro ? "read-only" : "read-write", (unsigned long long)(s->tr.head - c->cursor));
	for (unsigned i = 0; i < r->nsubs; i++) {
		struct native_sub *ns = r->subs[i];

		if (!ns->admitted)
			continue;
		meta_format_time(ns->last_active, when, sizeof(when));
		writer_emitf(s, "%s, last active %s (behind a repeater, %s)",
			     ident_of(c, ns, ident), when, ro || ns->readonly ? "read-only" :
			     "read-write");
	}
	return true;
}
