/* SPDX-License-Identifier: MIT */
/*
 * The native protocol on the server side (src/PROTOCOL.md): telling a native
 * client from a raw one by its first bytes, the version, the handshake with
 * SRP-6a (or, behind a gate, the origin's answer), and framing the shared
 * transcript into records without copying it.  A repeater's connection and
 * the clients it carries are native_relay.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/native.h"
#include "src/native_internal.h"
#include "src/proto.h"
#include "src/server.h"

/* A wrong proof is answered this late: one guess per connection, slowly. */
#define REFUSE_DELAY_NS (1ull * 1000000000u)

/* What the reader takes at each step: before ACCEPT only the next
 * handshake record, at the control size, so an unauthenticated peer cannot
 * make us buffer more than that; afterwards only what a client may send. */
void native_expect(struct native_state *nat, enum handshake hs)
{
	static const uint64_t relay_common = PROTO_TYPE_BIT(PROTO_SUB_HELLO) |
		PROTO_TYPE_BIT(PROTO_SUB_PROOF) | PROTO_TYPE_BIT(PROTO_SUB_BYE) |
		PROTO_TYPE_BIT(PROTO_HEARTBEAT);
	static const uint64_t allowed[] = {
		[HS_HELLO] = PROTO_TYPE_BIT(PROTO_HELLO),
		[HS_PROOF] = PROTO_TYPE_BIT(PROTO_PROOF),
		/* Anything while the gate decides is the client's mistake. */
		[HS_GATE] = 0,
		[HS_LOCKED] = relay_common,
		[HS_LIVE] = PROTO_TYPE_BIT(PROTO_INPUT) | PROTO_TYPE_BIT(PROTO_INTERRUPT) |
			    PROTO_TYPE_BIT(PROTO_BYE) | PROTO_TYPE_BIT(PROTO_HEARTBEAT),
		[HS_RELAY_LIVE] = relay_common | PROTO_TYPE_BIT(PROTO_SUB_INPUT) |
				  PROTO_TYPE_BIT(PROTO_SUB_INTERRUPT) | PROTO_TYPE_BIT(PROTO_BYE),
	};

	nat->hs = hs;
	/* 0 would mean "every type": HS_GATE takes none, so it names type 0,
	 * which the header check refuses anyway. */
	nat->reader.allowed = allowed[hs] ? allowed[hs] : PROTO_TYPE_BIT(0);
	nat->reader.max_length = PROTO_MAX_CONTROL;
}

void native_queue(struct client *c, uint8_t type, uint64_t seq, const struct proto_msg *m)
{
	uint8_t buf[PROTO_HEADER_SIZE + 1024];
	int n = proto_record_encode(type, seq, m, buf, sizeof(buf));

	if (n < 0) {
		hub_log(c->hub, "%s: cannot encode a %s record: %s", CLIENT_IDENT(c),
			    proto_type_name(type), strerror(-n));
		return;
	}
	client_queue_private(c, buf, (size_t)n);
}

static void queue_record(struct client *c, uint8_t type, const struct proto_msg *m)
{
	native_queue(c, type, 0, m);
}

static void refuse(struct client *c, const char *reason)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.code = PROTO_REFUSAL_CODE;
	m.has_code = true;
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	m.has_reason = true;
	queue_record(c, PROTO_REFUSE, &m);
	client_finish(c);
}

static void begin(struct client *c)
{
	struct hub *s = c->hub;
	uint8_t preamble[PROTO_PREAMBLE_SIZE];
	struct sockaddr_storage peer;
	bool held = c->auth_held;
	char why[128];

	c->nat = calloc(1, sizeof(*c->nat));
	if (!c->nat) {
		client_close(c, "out of memory");
		return;
	}
	proto_reader_init(&c->nat->reader);
	native_expect(c->nat, HS_HELLO);
	c->native = true;
	/* The client's version if we speak it, else our newest: the client
	 * then knows which it could use (PROTOCOL.md 9). */
	c->nat->version = c->peer_version >= PROTO_VERSION && c->peer_version <= PROTO_VERSION_MAX ?
				  c->peer_version : PROTO_VERSION_MAX;
	/* Our preamble goes out at once, so even a refusal can be read. */
	proto_preamble_of(c->nat->version, preamble);
	client_queue_private(c, preamble, PROTO_PREAMBLE_SIZE);
	if (c->state == CLIENT_REFUSING) {
		refuse(c, c->x && c->x->refusal ? c->x->refusal : "refused");
		return;
	}
	if (c->state == CLIENT_AUTH)
		return;
	/* The raw view stops here: records start only after the handshake,
	 * which has its own time limit from now on. */
	client_idle_remove(c);
	s->ops->retracted(s, c);
	c->born = s->now;
	client_peer_sockaddr(c, &peer);
	if (!client_claim_auth(s, c->server, &peer, &held, why, sizeof(why))) {
		refuse(c, why);
		return;
	}
	c->auth_held = held;
	client_set_state(c, CLIENT_AUTH);
}

size_t native_detect(struct client *c, const char *data, size_t n)
{
	size_t i = 0;

	while (i < n && c->preamble_got < PROTO_PREAMBLE_SIZE) {
		/* The last byte is the version: any value is still native. */
		if (c->preamble_got == PROTO_PREAMBLE_SIZE - 1) {
			c->peer_version = (uint8_t)data[i];
		} else if ((uint8_t)data[i] != proto_preamble[c->preamble_got]) {
			/* Raw after all.  A raw client never starts with a NUL, so
			 * the few bytes matched before are not worth keeping. */
			c->detecting = false;
			return i;
		}
		c->preamble_got++;
		i++;
	}
	if (c->preamble_got == PROTO_PREAMBLE_SIZE) {
		c->detecting = false;
		begin(c);
		if (c->nat && c->peer_version != c->nat->version) {
			char why[64];

			snprintf(why, sizeof(why), "unsupported protocol version %u", c->peer_version);
			refuse(c, why);
		}
	}
	return i;
}

/* "HOST\user" from the client, kept to printable text; client_ident()
 * adds our view of the transport: "HOST\user (tcp 127.0.0.1:63141)". */
static void set_identity(struct client *c, const char *claimed)
{
	char *name = c->nat->name;
	size_t i;

	for (i = 0; claimed[i] && i + 1 < sizeof(c->nat->name); i++)
		name[i] = claimed[i] == ' ' || claimed[i] == '(' ? '_' : claimed[i];
	name[i] = '\0';
}

const char *native_name(const struct client *c)
{
	const char *spoken;

	if (!c->nat)
		return NULL;
	/* A relay speaking for one of its clients is named as that client. */
	spoken = relay_speaking_name(c);
	return spoken ? spoken : c->nat->name;
}

void native_accept(struct client *c, const uint8_t *m2, size_t m2_len)
{
	struct hub *s = c->hub;
	struct native_state *nat = c->nat;
	uint64_t start = transcript_history_start(&s->tr, s->cfg->history_bytes, s->cfg->history_lines);
	bool gap = false;
	struct proto_msg m;

	if (nat->has_resume) {
		if (nat->resume >= transcript_oldest(&s->tr) && nat->resume <= s->tr.head)
			start = nat->resume;
		else if (nat->resume < transcript_oldest(&s->tr))
			gap = true;	/* offset 0 can be too old as well */
	}
	/* Behind a gate the origin may make everyone read-only. */
	if (s->gate && s->gate->readonly)
		c->readonly = true;
	memset(&m, 0, sizeof(m));
	if (m2_len) {
		memcpy(m.srp_m2, m2, m2_len);
		m.srp_m2_len = m2_len;
	}
	memcpy(m.session, s->id, sizeof(m.session));
	m.has_session = true;
	m.role = c->readonly ? 1 : 0;
	m.has_role = true;
	m.start = gap ? nat->resume : start;
	m.has_start = true;
	if (nat->relay)
		relay_accept_fields(c, &m);
	queue_record(c, PROTO_ACCEPT, &m);
	if (gap) {
		s->stats.gaps++;
		s->stats.skipped_bytes += start - nat->resume;
		native_gap(c, nat->resume, start);
	}
	native_expect(nat, nat->relay ? HS_RELAY_LIVE : HS_LIVE);
	client_go_live_at(c, start);
}

static void on_refuse_delay(struct ring_timer *t, int res)
{
	struct client *c = container_of(t, struct client_extra, delay_timer)->c;

	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	c->x->auth_waiting = false;
	refuse(c, "wrong password");
}

void native_welcome_fields(struct client *c, struct proto_msg *w)
{
	struct hub *s = c->hub;

	memset(w, 0, sizeof(*w));
	w->version = c->nat->version;
	w->has_version = true;
	snprintf(w->host, sizeof(w->host), "%s", s->host);
	w->has_host = true;
	snprintf(w->program, sizeof(w->program), "%s", s->program ? s->program : "");
	w->has_program = w->program[0] != '\0';
	memcpy(w->session, s->id, sizeof(w->session));
	w->has_session = true;
}

/* Behind a gate: WELCOME says what the origin wants, and the origin
 * answers (native_gate_*()). */
static void gate_hello(struct client *c)
{
	struct hub *s = c->hub;
	struct proto_msg w;

	native_welcome_fields(c, &w);
	w.auth = s->gate->need_password ? 1 : 0;
	w.has_auth = true;
	queue_record(c, PROTO_WELCOME, &w);
	if (!s->gate->need_password) {
		native_accept(c, NULL, 0);
		return;
	}
	native_expect(c->nat, HS_GATE);
	s->gate->hello(s, c);
}

static void on_hello(struct client *c, const struct proto_msg *m)
{
	struct hub *s = c->hub;
	struct native_state *nat = c->nat;
	struct proto_msg w;
	uint8_t B[AUTH_GROUP_BYTES];
	size_t B_len = sizeof(B);
	char why[128];
	int res;

	if (!m->has_version || m->version != nat->version) {
		snprintf(why, sizeof(why), "unsupported protocol version %u",
			 m->has_version ? m->version : 0);
		refuse(c, why);
		return;
	}
	if (m->has_identity)
		set_identity(c, m->identity);
	if (m->has_session && m->has_resume && memcmp(m->session, s->id, sizeof(s->id)) == 0) {
		nat->has_resume = true;
		nat->resume = m->resume;
	}
	if (s->gate) {
		/* A repeater's clients carry no clients of their own. */
		if (m->has_relay && m->relay) {
			refuse(c, "this server is a repeater; a repeater connects to the origin");
			return;
		}
		gate_hello(c);
		return;
	}
	if (c->server->verifier && client_auth_wait(c, why, sizeof(why))) {
		refuse(c, why);
		return;
	}
	if (m->has_relay && m->relay && nat->version >= PROTO_VERSION_RELAY) {
		relay_hello(c, m);
		return;
	}
	native_welcome_fields(c, &w);
	w.auth = c->server->verifier ? 1 : 0;
	w.has_auth = true;
	queue_record(c, PROTO_WELCOME, &w);
	if (!c->server->verifier) {
		native_accept(c, NULL, 0);
		return;
	}
	res = auth_server_challenge(c->server->verifier, &nat->auth, B, &B_len);
	if (res < 0) {
		hub_log(s, "%s: SRP challenge failed: %s", CLIENT_IDENT(c), strerror(-res));
		refuse(c, "the server could not start authentication");
		return;
	}
	memset(&w, 0, sizeof(w));
	memcpy(w.salt, c->server->verifier->salt, AUTH_SALT_SIZE);
	w.salt_len = AUTH_SALT_SIZE;
	memcpy(w.srp_b, B, B_len);
	w.srp_b_len = B_len;
	queue_record(c, PROTO_CHALLENGE, &w);
	native_expect(nat, HS_PROOF);
}

static void on_proof(struct client *c, const struct proto_msg *m)
{
	struct hub *s = c->hub;
	uint8_t m2[AUTH_PROOF_SIZE];
	size_t m2_len = sizeof(m2);
	char why[128];
	int res;

	if (!m->srp_a_len || !m->srp_m1_len) {
		refuse(c, "protocol error: PROOF needs SRP_A and SRP_M1");
		return;
	}
	if (s->gate) {
		/* The origin checks it; the client waits for its answer. */
		native_expect(c->nat, HS_GATE);
		s->gate->proof(s, c, m->srp_a, m->srp_a_len, m->srp_m1, m->srp_m1_len);
		return;
	}
	/* A source that earned a penalty on another connection meanwhile gets
	 * no guess on this one either. */
	if (client_auth_wait(c, why, sizeof(why))) {
		refuse(c, why);
		return;
	}
	res = auth_server_verify(c->nat->auth, m->srp_a, m->srp_a_len, m->srp_m1, m->srp_m1_len,
				 m2, &m2_len);
	auth_server_free(c->nat->auth);
	c->nat->auth = NULL;
	if (res == 0) {
		client_auth_passed(c);
		native_accept(c, m2, m2_len);
		return;
	}
	client_auth_failed(c);
	if (!client_x(c)) {
		refuse(c, "wrong password");
		return;
	}
	c->x->auth_waiting = true;
	if (ring_timer_arm(&s->ring, &c->x->delay_timer, REFUSE_DELAY_NS, on_refuse_delay) < 0)
		refuse(c, "wrong password");
}

static void on_live_record(struct client *c, const struct proto_header *h, const uint8_t *p)
{
	struct hub *s = c->hub;

	switch (h->type) {
	case PROTO_INPUT:
		if (h->length > s->cfg->line_max) {
			client_private(c, "ringside: line longer than %u bytes was not sent",
				       s->cfg->line_max);
			return;
		}
		/* One record, one line: client_handle_line() refuses a line
		 * break or any other control character inside. */
		client_handle_line(c, (const char *)p, h->length);
		return;
	case PROTO_INTERRUPT:
		client_interrupt(c);
		return;
	case PROTO_BYE:
		client_close(c, NULL);
		return;
	case PROTO_HEARTBEAT:
		native_queue(c, PROTO_HEARTBEAT_ACK, h->seq, NULL);
		return;
	default:
		refuse(c, "protocol error: unexpected record");
		return;
	}
}

static void on_record(struct client *c, const struct proto_header *h, const uint8_t *p)
{
	struct native_state *nat = c->nat;
	struct proto_msg m;

	if (nat->hs == HS_LIVE) {
		on_live_record(c, h, p);
		return;
	}
	if (nat->relay) {
		relay_record(c, h, p);
		return;
	}
	if ((nat->hs == HS_HELLO && h->type != PROTO_HELLO) ||
	    (nat->hs == HS_PROOF && h->type != PROTO_PROOF) || nat->hs == HS_GATE ||
	    (c->x && c->x->auth_waiting)) {
		refuse(c, "protocol error: unexpected record during the handshake");
		return;
	}
	if (proto_msg_decode(p, h->length, &m) < 0) {
		refuse(c, "protocol error: malformed handshake record");
		return;
	}
	if (h->type == PROTO_HELLO)
		on_hello(c, &m);
	else
		on_proof(c, &m);
}

void native_input(struct client *c, const char *data, size_t n)
{
	struct native_state *nat = c->nat;

	while (n > 0 && c->state != CLIENT_CLOSING && !c->close_after_flush) {
		size_t used = 0;
		int res = proto_reader_feed(&nat->reader, (const uint8_t *)data, n, &used);

		data += used;
		n -= used;
		if (res < 0) {
			char why[96];

			if (res == -EPROTO)
				snprintf(why, sizeof(why), "protocol error: a record of type %u (%s) "
					 "is not expected here", nat->reader.h.type,
					 proto_type_name(nat->reader.h.type));
			else if (res == -EMSGSIZE)
				snprintf(why, sizeof(why), "protocol error: %s record of %u bytes is too "
					 "long", proto_type_name(nat->reader.h.type),
					 nat->reader.h.length);
			else
				snprintf(why, sizeof(why), "protocol error: malformed record");
			refuse(c, why);
			return;
		}
		if (res == 0)
			return;
		on_record(c, &nat->reader.h, nat->reader.payload);
		if (c->nat)
			proto_reader_next(&nat->reader);
	}
}

bool native_in_record(const struct client *c)
{
	return c->nat && c->nat->in_record;
}

struct msghdr *native_msghdr(struct client *c)
{
	return &c->nat->msg;
}

static uint8_t record_type(enum transcript_kind kind)
{
	switch (kind) {
	case TRANSCRIPT_NOTICE: return PROTO_NOTICE;
	case TRANSCRIPT_TYPED: return PROTO_TYPED;
	case TRANSCRIPT_OUTPUT: break;
	}
	return PROTO_OUTPUT;
}

bool native_next_piece(struct client *c)
{
	struct hub *s = c->hub;
	struct native_state *nat = c->nat;
	const char *p;
	size_t span;
	int n = 0;

	if (!nat->in_record) {
		struct proto_header h;
		uint64_t end;
		enum transcript_kind kind;

		if (c->cursor >= s->tr.head)
			return false;
		kind = transcript_kind_at(&s->tr, c->cursor, &end);
		span = transcript_span(&s->tr, c->cursor, &p);
		if (end > c->cursor + span)
			end = c->cursor + span;
		if (end - c->cursor > PROTO_MAX_OUTPUT)
			end = c->cursor + PROTO_MAX_OUTPUT;
		/* A record is resumed whole or not at all: over a link that
		 * breaks often (a noisy serial line), it is kept short. */
		if (link_record_max(&c->link) && end - c->cursor > link_record_max(&c->link))
			end = c->cursor + link_record_max(&c->link);
		h.type = record_type(kind);
		h.flags = 0;
		h.length = (uint32_t)(end - c->cursor);
		h.seq = c->cursor;
		proto_header_encode(&h, nat->hdr);
		nat->hdr_sent = 0;
		nat->rec_end = end;
		nat->in_record = true;
	}
	transcript_span(&s->tr, c->cursor, &p);
	if (nat->hdr_sent < PROTO_HEADER_SIZE) {
		nat->iov[n].iov_base = nat->hdr + nat->hdr_sent;
		nat->iov[n++].iov_len = PROTO_HEADER_SIZE - nat->hdr_sent;
	}
	if (nat->rec_end > c->cursor) {
		size_t len = (size_t)(nat->rec_end - c->cursor);

		nat->iov[n].iov_base = (void *)p;
		nat->iov[n++].iov_len = len < CLIENT_SEND_MAX ? len : CLIENT_SEND_MAX;
	}
	memset(&nat->msg, 0, sizeof(nat->msg));
	nat->msg.msg_iov = nat->iov;
	nat->msg.msg_iovlen = (size_t)n;
	return n > 0;
}

void native_sent(struct client *c, size_t n)
{
	struct native_state *nat = c->nat;
	size_t take = PROTO_HEADER_SIZE - nat->hdr_sent;

	if (take > n)
		take = n;
	nat->hdr_sent += (uint8_t)take;
	c->cursor += n - take;
	if (nat->hdr_sent == PROTO_HEADER_SIZE && c->cursor >= nat->rec_end)
		nat->in_record = false;
}

void native_gap(struct client *c, uint64_t from, uint64_t to)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.from = from;
	m.has_from = true;
	m.to = to;
	m.has_to = true;
	queue_record(c, PROTO_GAP, &m);
}

void native_private_text(struct client *c, const char *text, size_t len)
{
	uint8_t buf[PROTO_HEADER_SIZE + 512];
	struct proto_header h = { .type = PROTO_PRIVATE, .length = (uint32_t)len };

	if (relay_private_text(c, text, len))
		return;
	if (len > sizeof(buf) - PROTO_HEADER_SIZE)
		len = h.length = sizeof(buf) - PROTO_HEADER_SIZE;
	proto_header_encode(&h, buf);
	memcpy(buf + PROTO_HEADER_SIZE, text, len);
	client_queue_private(c, buf, PROTO_HEADER_SIZE + len);
}

void native_session_ended(struct hub *s, int status)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.state = 1;
	m.has_state = true;
	m.status = (uint32_t)status;
	m.has_status = true;
	for (struct client *c = s->clients; c; c = c->next)
		if (c->native && c->state == CLIENT_LIVE)
			queue_record(c, PROTO_STATE, &m);
}

void native_refuse(struct client *c, const char *reason)
{
	refuse(c, reason);
}

void native_gate_challenge(struct client *c, const uint8_t *salt, size_t salt_len,
			   const uint8_t *b, size_t b_len)
{
	struct proto_msg m;

	if (!native_gate_waiting(c) || c->nat->auth_sent)
		return;
	memset(&m, 0, sizeof(m));
	if (salt_len > sizeof(m.salt) || b_len > sizeof(m.srp_b)) {
		refuse(c, "the origin's challenge is not valid");
		return;
	}
	memcpy(m.salt, salt, salt_len);
	m.salt_len = salt_len;
	memcpy(m.srp_b, b, b_len);
	m.srp_b_len = b_len;
	c->nat->auth_sent = true;
	queue_record(c, PROTO_CHALLENGE, &m);
	native_expect(c->nat, HS_PROOF);
}

void native_gate_accept(struct client *c, const uint8_t *m2, size_t m2_len)
{
	if (!native_gate_waiting(c))
		return;
	native_accept(c, m2, m2_len);
}

bool native_gate_waiting(const struct client *c)
{
	return c->nat && c->nat->hs == HS_GATE && c->state == CLIENT_AUTH &&
	       !c->close_after_flush;
}

void native_free(struct client *c)
{
	struct hub *s = c->hub;

	/* Every client's end passes here: a gate may hold on to it. */
	if (s->gate && s->gate->gone)
		s->gate->gone(s, c);
	if (!c->nat)
		return;
	relay_free(c);
	proto_reader_free(&c->nat->reader);
	auth_server_free(c->nat->auth);
	free(c->nat);
	c->nat = NULL;
}
