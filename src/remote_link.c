/* SPDX-License-Identifier: MIT */
/*
 * The client's protocol state machine (PROTOCOL.md 1.2, 4, 5, 7, 8).  The
 * server is not trusted until it has proven itself: each handshake record is
 * taken only in its place, with the record reader refusing anything else at
 * the header; a client holding a password goes live only after a verified
 * SRP_M2; nothing but a refusal is shown before then; and after ACCEPT every
 * transcript record must continue exactly where the last one ended.
 * A repeater's connection (l->relay) speaks version 3: it gets the
 * transcript as records, and its clients' records, through rlink_relay_ops.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "src/remote_link.h"
#include "src/visible.h"

/* Input taken per step when making text inert: the output buffer on the
 * stack is VISIBLE_GROWTH times this. */
#define INERT_SLICE 1024
/* A PRIVATE message is a line or two; a server sending more is cut. */
#define PRIVATE_SHOW_MAX (16u << 10)

#define SERVER_LIVE_TYPES                                                                      \
	(PROTO_TYPE_BIT(PROTO_OUTPUT) | PROTO_TYPE_BIT(PROTO_NOTICE) |                         \
	 PROTO_TYPE_BIT(PROTO_TYPED) | PROTO_TYPE_BIT(PROTO_GAP) | PROTO_TYPE_BIT(PROTO_STATE) | \
	 PROTO_TYPE_BIT(PROTO_PRIVATE) | PROTO_TYPE_BIT(PROTO_HEARTBEAT_ACK) |                  \
	 PROTO_TYPE_BIT(PROTO_REFUSE))
#define RELAY_SUB_TYPES                                                                       \
	(PROTO_TYPE_BIT(PROTO_SUB_CHALLENGE) | PROTO_TYPE_BIT(PROTO_SUB_ACCEPT) |              \
	 PROTO_TYPE_BIT(PROTO_SUB_REFUSE) | PROTO_TYPE_BIT(PROTO_SUB_PRIVATE))

static void say(struct remote_link *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct remote_link *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct remote_link *l, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		l->ops->show(l, RLINK_SAY, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* The end of this link: a refusal either way, never retried (PROTOCOL.md 8). */
static void fail(struct remote_link *l, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (l->state == RLINK_FAILED)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	l->state = RLINK_FAILED;
	auth_client_free(l->auth);
	l->auth = NULL;
	if (n > 0)
		l->ops->show(l, RLINK_SAY, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

#define protocol_error(l, fmt, ...) \
	fail(l, "Error 0x%08X: protocol error: " fmt, PROTO_REFUSAL_CODE, ##__VA_ARGS__)

/* What the reader lets through now: anything else fails at its header,
 * before a byte of its payload is kept. */
static void expect(struct remote_link *l, enum rlink_state state)
{
	static const uint64_t allowed[] = {
		[RLINK_WELCOME] = PROTO_TYPE_BIT(PROTO_WELCOME) | PROTO_TYPE_BIT(PROTO_REFUSE),
		[RLINK_CHALLENGE] = PROTO_TYPE_BIT(PROTO_CHALLENGE) | PROTO_TYPE_BIT(PROTO_REFUSE),
		[RLINK_PASSWORD] = PROTO_TYPE_BIT(PROTO_REFUSE),
		[RLINK_ACCEPT] = PROTO_TYPE_BIT(PROTO_ACCEPT) | PROTO_TYPE_BIT(PROTO_REFUSE),
		/* Its clients' handshakes go on while the relay waits. */
		[RLINK_LOCKED] = PROTO_TYPE_BIT(PROTO_ACCEPT) | PROTO_TYPE_BIT(PROTO_REFUSE) |
				 PROTO_TYPE_BIT(PROTO_HEARTBEAT_ACK) | RELAY_SUB_TYPES,
		[RLINK_LIVE] = SERVER_LIVE_TYPES,
	};

	l->state = state;
	l->reader.allowed = allowed[state];
	if (state == RLINK_LIVE && l->relay)
		l->reader.allowed |= RELAY_SUB_TYPES;
	/* Before ACCEPT nothing may be large (a locked relay's clients' text
	 * is short too); afterwards each type's own limit applies. */
	l->reader.max_length = state == RLINK_LIVE ? 0 : PROTO_MAX_CONTROL;
}

void rlink_init(struct remote_link *l, const struct rlink_ops *ops, const char *identity)
{
	memset(l, 0, sizeof(*l));
	l->ops = ops;
	l->identity = identity;
	l->version = PROTO_VERSION;
	proto_reader_init(&l->reader);
}

void rlink_free(struct remote_link *l)
{
	rlink_stop(l);
	proto_reader_free(&l->reader);
}

/*
 * Inert text.
 */

size_t rlink_inert(const uint8_t *p, size_t n, char *out)
{
	size_t o = 0, i = 0;

	while (i < n) {
		size_t run = i;

		while (run < n && p[run] != '\r')
			run++;
		o += visible_escape(p + i, run - i, "\t\n", out + o, (run - i) * VISIBLE_GROWTH);
		if (run == n)
			break;
		/* A CR that ends a line stays; alone it would let text
		 * overwrite what came before it on the row. */
		if (run + 1 < n && p[run + 1] == '\n') {
			memcpy(out + o, "\r\n", 2);
			o += 2;
			i = run + 2;
		} else {
			memcpy(out + o, "^M", 2);
			o += 2;
			i = run + 1;
		}
	}
	return o;
}

/* Whether the K bytes at P can begin a valid UTF-8 character that needs
 * more bytes: the lead byte and what follows are in range so far. */
static bool utf8_prefix(const uint8_t *p, size_t k)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t need;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 4;
	else
		return false;
	if (k >= need)
		return false;
	/* The second byte's range rules out overlong forms, surrogates and
	 * values past U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	for (size_t i = 1; i < k; i++) {
		if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
			return false;
	}
	return true;
}

/* Bytes at the end of P (N of them) that the next piece may complete: a CR
 * before its LF, or a character cut short. */
static size_t unfinished_tail(const uint8_t *p, size_t n)
{
	if (n && p[n - 1] == '\r')
		return 1;
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		if ((p[n - k] & 0xc0) != 0x80)
			return utf8_prefix(p + n - k, k) ? k : 0;
	}
	return 0;
}

/* Show N bytes of KIND inert; unless FINAL, an unfinished end waits in the
 * carry for the next piece of the same kind. */
static void show_inert(struct remote_link *l, enum rlink_show kind, const uint8_t *p, size_t n,
		       bool final)
{
	uint8_t in[INERT_SLICE + sizeof(l->carry)];
	char out[sizeof(in) * VISIBLE_GROWTH];

	if (l->carry_len && l->carry_kind != kind) {
		size_t len = rlink_inert(l->carry, l->carry_len, out);

		l->carry_len = 0;
		l->ops->show(l, l->carry_kind, out, len);
	}
	while (n > 0 || (final && l->carry_len)) {
		size_t take = n < INERT_SLICE ? n : INERT_SLICE;
		size_t len = l->carry_len + take, keep = 0;

		memcpy(in, l->carry, l->carry_len);
		if (take) {
			memcpy(in + l->carry_len, p, take);
			p += take;
			n -= take;
		}
		if (!(final && n == 0))
			keep = unfinished_tail(in, len);
		memcpy(l->carry, in + len - keep, keep);
		l->carry_len = keep;
		l->carry_kind = kind;
		len = rlink_inert(in, len - keep, out);
		if (len)
			l->ops->show(l, kind, out, len);
	}
}

static void flush_carry(struct remote_link *l)
{
	if (l->carry_len)
		show_inert(l, l->carry_kind, NULL, 0, true);
}

/*
 * Starting and stopping a connection.
 */

void rlink_start(struct remote_link *l)
{
	uint8_t buf[PROTO_PREAMBLE_SIZE + PROTO_HEADER_SIZE + 512];
	struct proto_msg m;
	int n;

	if (l->state == RLINK_FAILED)
		return;
	rlink_stop(l);
	l->state = RLINK_PREAMBLE;
	l->preamble_got = 0;
	l->version = l->relay ? PROTO_VERSION_RELAY : PROTO_VERSION;
	memset(&m, 0, sizeof(m));
	m.version = l->version;
	m.has_version = true;
	if (l->relay) {
		m.relay = 1;
		m.has_relay = true;
		if (l->have_ticket) {
			memcpy(m.ticket, l->ticket, sizeof(l->ticket));
			m.ticket_len = sizeof(l->ticket);
		}
	}
	if (l->identity && l->identity[0]) {
		snprintf(m.identity, sizeof(m.identity), "%s", l->identity);
		m.has_identity = true;
	}
	if (l->have_session) {
		memcpy(m.session, l->session, sizeof(m.session));
		m.has_session = true;
		m.resume = l->shown;
		m.has_resume = true;
	}
	proto_preamble_of(l->version, buf);
	n = proto_record_encode(PROTO_HELLO, 0, &m, buf + PROTO_PREAMBLE_SIZE,
				sizeof(buf) - PROTO_PREAMBLE_SIZE);
	if (n == -EINVAL && m.has_identity) {
		/* An identity that is not valid text: the server names us
		 * after our address instead. */
		m.has_identity = false;
		n = proto_record_encode(PROTO_HELLO, 0, &m, buf + PROTO_PREAMBLE_SIZE,
					sizeof(buf) - PROTO_PREAMBLE_SIZE);
	}
	if (n < 0) {
		fail(l, "ringside: cannot encode HELLO: %s", strerror(-n));
		return;
	}
	l->ops->send(l, buf, PROTO_PREAMBLE_SIZE + (size_t)n);
}

void rlink_stop(struct remote_link *l)
{
	if (rlink_relaying(l)) {
		l->state = RLINK_PREAMBLE;
		l->relay->lost(l);
	}
	auth_client_free(l->auth);
	l->auth = NULL;
	l->auth_required = false;
	proto_reader_free(&l->reader);
	proto_reader_init(&l->reader);
	if (l->state != RLINK_FAILED)
		l->state = RLINK_PREAMBLE;
	l->salt_len = l->srp_b_len = 0;
}

/*
 * The handshake.
 */

static void on_welcome(struct remote_link *l, const struct proto_msg *m)
{
	if (!m->has_version || !m->has_session || !m->has_host || !m->has_auth) {
		protocol_error(l, "WELCOME without %s", !m->has_version ? "VERSION" :
			       !m->has_session ? "SESSION" : !m->has_host ? "HOST" : "AUTH");
		return;
	}
	if (m->version != l->version) {
		protocol_error(l, "WELCOME says version %u after a version %u preamble", m->version,
			       l->version);
		return;
	}
	if (m->auth > 1) {
		protocol_error(l, "WELCOME with AUTH = %u", m->auth);
		return;
	}
	/* A server that does not ask for the password we hold may be an
	 * impostor hoping we skip its proof (PROTOCOL.md 4.3). */
	if (l->password && m->auth == 0) {
		fail(l, "Error 0x%08X: the server did not ask for the password", PROTO_REFUSAL_CODE);
		return;
	}
	memcpy(l->welcome_session, m->session, sizeof(l->welcome_session));
	if (l->relay) {
		/* A relay proves nothing itself: its clients do, one by one. */
		if (!m->has_relay || m->relay != 1) {
			fail(l, "Error 0x%08X: the server does not take repeaters", PROTO_REFUSAL_CODE);
			return;
		}
		if (!m->has_locked || m->locked > 1 || (m->locked && !m->auth)) {
			protocol_error(l, "WELCOME to a relay with %s", !m->has_locked ?
				       "no LOCKED" : "LOCKED without a password");
			return;
		}
		expect(l, m->locked ? RLINK_LOCKED : RLINK_ACCEPT);
		/* It may drop while it waits: that is a lost connection, to
		 * be resumed, not a failed first attempt. */
		if (m->locked)
			l->joined = true;
		l->relay->welcome(l, m);
		return;
	}
	l->auth_required = m->auth == 1;
	expect(l, l->auth_required ? RLINK_CHALLENGE : RLINK_ACCEPT);
}

static void respond(struct remote_link *l)
{
	uint8_t buf[PROTO_HEADER_SIZE + 2 * PROTO_SRP_MAX];
	struct proto_msg p;
	size_t a_len = sizeof(p.srp_a), m1_len = sizeof(p.srp_m1);
	int res, n;

	memset(&p, 0, sizeof(p));
	auth_client_free(l->auth);
	l->auth = NULL;
	res = auth_client_respond(l->password, l->salt, l->salt_len, l->srp_b, l->srp_b_len,
				  &l->auth, p.srp_a, &a_len, p.srp_m1, &m1_len);
	if (res < 0) {
		fail(l, "Error 0x%08X: the server's password challenge is not valid (%s)",
		     PROTO_REFUSAL_CODE, strerror(-res));
		return;
	}
	p.srp_a_len = a_len;
	p.srp_m1_len = m1_len;
	n = proto_record_encode(PROTO_PROOF, 0, &p, buf, sizeof(buf));
	if (n < 0) {
		fail(l, "ringside: cannot encode PROOF: %s", strerror(-n));
		return;
	}
	expect(l, RLINK_ACCEPT);
	l->ops->send(l, buf, (size_t)n);
}

static void on_challenge(struct remote_link *l, const struct proto_msg *m)
{
	if (!m->salt_len || !m->srp_b_len) {
		protocol_error(l, "CHALLENGE without %s", m->salt_len ? "SRP_B" : "SALT");
		return;
	}
	memcpy(l->salt, m->salt, m->salt_len);
	l->salt_len = m->salt_len;
	memcpy(l->srp_b, m->srp_b, m->srp_b_len);
	l->srp_b_len = m->srp_b_len;
	if (l->password) {
		respond(l);
		return;
	}
	if (!l->can_ask) {
		fail(l, "Error 0x%08X: the server wants a password; add password=W to the spec",
		     PROTO_REFUSAL_CODE);
		return;
	}
	/* Only REFUSE may arrive while the user types. */
	expect(l, RLINK_PASSWORD);
	l->ops->ask_password(l);
}

void rlink_password(struct remote_link *l)
{
	if (l->state != RLINK_PASSWORD)
		return;
	if (!l->password) {
		fail(l, "Error 0x%08X: no password was given", PROTO_REFUSAL_CODE);
		return;
	}
	respond(l);
}

static void on_accept(struct remote_link *l, const struct proto_msg *m)
{
	bool new_session;

	if (!m->has_session || !m->has_role || !m->has_start) {
		protocol_error(l, "ACCEPT without %s", !m->has_session ? "SESSION" :
			       !m->has_role ? "ROLE" : "START");
		return;
	}
	if (l->auth_required) {
		/* The mutual half: only a server holding the verifier can
		 * compute M2, and nothing after WELCOME counts before it. */
		if (!m->srp_m2_len || !l->auth ||
		    auth_client_verify(l->auth, m->srp_m2, m->srp_m2_len) < 0) {
			fail(l, "Error 0x%08X: the server could not prove it knows the password",
			     PROTO_REFUSAL_CODE);
			return;
		}
	}
	auth_client_free(l->auth);
	l->auth = NULL;
	if (memcmp(m->session, l->welcome_session, sizeof(l->welcome_session)) != 0) {
		protocol_error(l, "ACCEPT names another session than WELCOME");
		return;
	}
	if (m->role > 1) {
		protocol_error(l, "ACCEPT with ROLE = %u", m->role);
		return;
	}
	/* (A relay that waited, locked, is on its first connection still.) */
	if (l->joined && l->state != RLINK_LOCKED)
		say(l, "[ringside: reconnected]");
	new_session = !l->have_session || memcmp(l->session, m->session, sizeof(l->session));
	if (new_session) {
		flush_carry(l);
		if (l->have_session) {
			l->ops->jump(l);
			say(l, "[ringside: the server was restarted; this is a new session]");
		}
		l->shown = m->start;
	} else if (m->start > l->shown) {
		flush_carry(l);
		l->ops->jump(l);
		say(l, "[ringside: %llu bytes of output are missing]",
		    (unsigned long long)(m->start - l->shown));
		l->shown = m->start;
	}
	memcpy(l->session, m->session, sizeof(l->session));
	l->have_session = true;
	l->next = m->start;
	if (l->relay) {
		/* Each ticket is good once: the next connection uses this one. */
		l->have_ticket = m->ticket_len == sizeof(l->ticket);
		if (l->have_ticket)
			memcpy(l->ticket, m->ticket, sizeof(l->ticket));
		else
			explicit_bzero(l->ticket, sizeof(l->ticket));
	}
	l->read_only = m->role == 1;
	if (!l->joined && l->read_only)
		say(l, "[ringside: read-only connection: you can watch but not type]");
	l->joined = true;
	expect(l, RLINK_LIVE);
	l->ops->live(l);
}

/*
 * After ACCEPT.
 */

static void on_transcript(struct remote_link *l, const struct proto_header *h, const uint8_t *p)
{
	uint64_t seq = h->seq, len = h->length;

	if (seq != l->next) {
		protocol_error(l, "%s record at offset %llu where %llu was due", proto_type_name(h->type),
			       (unsigned long long)seq, (unsigned long long)l->next);
		return;
	}
	if (len > UINT64_MAX - seq) {
		protocol_error(l, "%s record past the largest offset", proto_type_name(h->type));
		return;
	}
	l->next = seq + len;
	/* Exactly once: a resumed stream may start before what was shown. */
	if (l->next <= l->shown)
		return;
	if (seq < l->shown) {
		p += l->shown - seq;
		len -= l->shown - seq;
	}
	l->shown = l->next;
	if (l->relay) {
		l->relay->record(l, h->type, l->next - len, p, (size_t)len);
		return;
	}
	if (h->type == PROTO_OUTPUT) {
		/* The debugger's own output is shown as it is. */
		flush_carry(l);
		l->ops->show(l, RLINK_OUTPUT, (const char *)p, (size_t)len);
	} else {
		show_inert(l, RLINK_NOTICE, p, (size_t)len, false);
	}
}

static void on_gap(struct remote_link *l, const struct proto_msg *m)
{
	if (!m->has_from || !m->has_to) {
		protocol_error(l, "GAP without %s", m->has_from ? "TO" : "FROM");
		return;
	}
	if (m->from != l->next || m->to <= m->from) {
		protocol_error(l, "GAP from %llu to %llu where %llu was due",
			       (unsigned long long)m->from, (unsigned long long)m->to,
			       (unsigned long long)l->next);
		return;
	}
	l->next = m->to;
	if (m->to <= l->shown)
		return;
	if (l->relay) {
		uint64_t from = m->from > l->shown ? m->from : l->shown;

		l->shown = m->to;
		l->relay->gap(l, from, m->to);
		return;
	}
	flush_carry(l);
	l->ops->jump(l);
	say(l, "[ringside: %llu bytes of output were dropped before you could see them]",
	    (unsigned long long)(m->to - (m->from > l->shown ? m->from : l->shown)));
	l->shown = m->to;
}

static void on_private(struct remote_link *l, const uint8_t *p, size_t n)
{
	char out[PRIVATE_SHOW_MAX * VISIBLE_GROWTH];
	size_t len;

	len = rlink_inert(p, n < PRIVATE_SHOW_MAX ? n : PRIVATE_SHOW_MAX, out);
	/* The message has its own lines: its line end is the shower's. */
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	l->ops->show(l, RLINK_PRIVATE, out, len);
	if (n > PRIVATE_SHOW_MAX)
		say(l, "[ringside: %zu more bytes of that message not shown]", n - PRIVATE_SHOW_MAX);
}

static void on_state(struct remote_link *l, const struct proto_msg *m)
{
	if (!m->has_state || m->state > 1 || (m->state == 1 && !m->has_status)) {
		protocol_error(l, "STATE %s", !m->has_state ? "without STATE" :
			       m->state > 1 ? "with an unknown state" : "= 1 without STATUS");
		return;
	}
	if (m->state == 1) {
		l->ended = true;
		if (l->relay)
			l->relay->ended(l, m->status);
	}
}

static void on_refuse(struct remote_link *l, const struct proto_msg *m)
{
	fail(l, "Error 0x%08X: %s", m->has_code ? m->code : PROTO_REFUSAL_CODE,
	     m->has_reason ? m->reason : "refused by the server");
}

static void on_record(struct remote_link *l, const struct proto_header *h, const uint8_t *p)
{
	struct proto_msg m;

	switch (h->type) {
	case PROTO_OUTPUT:
	case PROTO_NOTICE:
	case PROTO_TYPED:
		on_transcript(l, h, p);
		return;
	case PROTO_PRIVATE:
		on_private(l, p, h->length);
		return;
	case PROTO_SUB_PRIVATE:
		/* expect() admits SUB_ records on a relay only. */
		if (h->seq == 0 || h->seq > PROTO_SUB_MAX) {
			protocol_error(l, "SUB_PRIVATE without a client id");
			return;
		}
		l->relay->sub(l, h->type, (uint32_t)h->seq, NULL, p, h->length);
		return;
	default:
		break;
	}
	if (proto_msg_decode(p, h->length, &m) < 0) {
		protocol_error(l, "malformed %s record", proto_type_name(h->type));
		return;
	}
	switch (h->type) {
	case PROTO_WELCOME:
		on_welcome(l, &m);
		return;
	case PROTO_CHALLENGE:
		on_challenge(l, &m);
		return;
	case PROTO_ACCEPT:
		on_accept(l, &m);
		return;
	case PROTO_REFUSE:
		on_refuse(l, &m);
		return;
	case PROTO_GAP:
		on_gap(l, &m);
		return;
	case PROTO_STATE:
		on_state(l, &m);
		return;
	case PROTO_HEARTBEAT_ACK:
		return;		/* that it arrived is all it says */
	case PROTO_SUB_CHALLENGE:
	case PROTO_SUB_ACCEPT:
	case PROTO_SUB_REFUSE:
		if (h->seq == 0 || h->seq > PROTO_SUB_MAX) {
			protocol_error(l, "%s without a client id", proto_type_name(h->type));
			return;
		}
		l->relay->sub(l, h->type, (uint32_t)h->seq, &m, NULL, 0);
		return;
	default:
		/* expect() lets no other type through. */
		protocol_error(l, "record type %u", h->type);
		return;
	}
}

/* The reader refused a header: say what it was, by number. */
static void reader_failed(struct remote_link *l, int err)
{
	const uint8_t *hdr = l->reader.hdr;
	struct proto_header h;
	const char *name;

	proto_header_decode(hdr, &h);
	name = proto_type_name(h.type);
	if (err == -ENOMEM)
		fail(l, "ringside: out of memory");
	else if (strcmp(name, "UNKNOWN") == 0)
		protocol_error(l, "record type %u", h.type);
	else if (hdr[1] || hdr[2] || hdr[3])
		protocol_error(l, "%s record with flags or reserved bits set", name);
	else if (err == -EMSGSIZE)
		protocol_error(l, "%s record of %u bytes is longer than allowed here", name, h.length);
	else if (h.type == PROTO_CHALLENGE && l->auth_required &&
		 (l->state == RLINK_ACCEPT || l->state == RLINK_PASSWORD))
		protocol_error(l, "a second CHALLENGE record (type %u)", h.type);
	else
		protocol_error(l, "%s record (type %u) %s", name, h.type,
			       l->state == RLINK_LIVE ? "after the handshake" :
						       "before the handshake was over");
}

/* PROTOCOL.md 1.2: a NUL occurs in the preamble only at its start, so this
 * scan is exact across reads.  Returns the bytes it consumed. */
static size_t scan_preamble(struct remote_link *l, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i++];

		if (l->preamble_got == PROTO_PREAMBLE_SIZE - 1) {
			if (c != l->version) {
				if (l->relay && c < PROTO_VERSION_RELAY)
					fail(l, "Error 0x%08X: the server speaks protocol version %u, "
					     "which has no repeaters (version %u has them): it needs a "
					     "newer ringside", PROTO_REFUSAL_CODE, c, PROTO_VERSION_RELAY);
				else
					fail(l, "Error 0x%08X: the server speaks protocol version %u; "
					     "this client speaks %u", PROTO_REFUSAL_CODE, c, l->version);
				return i;
			}
			expect(l, RLINK_WELCOME);
			return i;
		}
		if (c == proto_preamble[l->preamble_got])
			l->preamble_got++;
		else
			l->preamble_got = c == proto_preamble[0] ? 1 : 0;
	}
	return i;
}

void rlink_feed(struct remote_link *l, const uint8_t *p, size_t n)
{
	if (l->state == RLINK_PREAMBLE) {
		size_t used = scan_preamble(l, p, n);

		p += used;
		n -= used;
	}
	while (n > 0 && l->state != RLINK_FAILED && l->state != RLINK_PREAMBLE) {
		size_t used = 0;
		int res = proto_reader_feed(&l->reader, p, n, &used);

		p += used;
		n -= used;
		if (res < 0) {
			reader_failed(l, res);
			return;
		}
		if (res == 0)
			return;
		on_record(l, &l->reader.h, l->reader.payload);
		proto_reader_next(&l->reader);
	}
}
