// SPDX-License-Identifier: MIT
/* Unit tests for src/remote_link.c: the client's protocol state machine, fed the bytes a
 * server (honest or not) would send, built with the codec of src/proto.h and, for passwords,
 * the real SRP server side of src/auth.h.  What the link sends and shows is recorded and
 * checked: a server that has not proven itself gets no command and shows nothing.  The
 * relay mode (a repeater's connection, protocol version 3) is checked the same way. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/auth.h"
#include "src/proto.h"
#include "src/remote_link.h"

#define PASSWORD "Sesame12"
#define IDENTITY "BUILDBOX\\alice"

struct shown {
	enum rlink_show kind;
	char *text;
};

struct fixture {
	struct remote_link l;
	char password[32];
	uint8_t sent[64 * 1024];	/* everything the link sent */
	size_t sent_len;
	struct shown shown[256];
	unsigned nshown;
	unsigned asked, lives, jumps;
	/* relay mode: what the relay ops were told */
	unsigned welcomes, gaps, ends, losts, nsubs;
	uint32_t welcome_locked, welcome_auth;
	uint8_t rec_types[64];
	uint64_t rec_seqs[64];
	char rec_text[4096];
	size_t rec_len;
	unsigned nrecs;
	uint64_t gap_from, gap_to;
	uint32_t end_status;
	uint8_t sub_types[16];
	uint32_t sub_ids[16];
	char sub_text[256];
	/* the server side */
	struct auth_verifier ver;
	struct auth_server *as;
	uint8_t session[16];
};

static struct fixture *of(struct remote_link *l)
{
	return (struct fixture *)((char *)l - offsetof(struct fixture, l));
}

static void op_send(struct remote_link *l, const uint8_t *p, size_t n)
{
	struct fixture *f = of(l);

	assert_true(f->sent_len + n <= sizeof(f->sent));
	memcpy(f->sent + f->sent_len, p, n);
	f->sent_len += n;
}

static void op_show(struct remote_link *l, enum rlink_show kind, const char *p, size_t n)
{
	struct fixture *f = of(l);
	struct shown *s;

	assert_true(f->nshown < 256);
	s = &f->shown[f->nshown++];
	s->kind = kind;
	s->text = malloc(n + 1);
	assert_non_null(s->text);
	memcpy(s->text, p, n);
	s->text[n] = '\0';
}

static void op_ask(struct remote_link *l)
{
	of(l)->asked++;
}

static void op_live(struct remote_link *l)
{
	of(l)->lives++;
}

static void op_jump(struct remote_link *l)
{
	of(l)->jumps++;
}

static void rop_welcome(struct remote_link *l, const struct proto_msg *m)
{
	struct fixture *f = of(l);

	f->welcomes++;
	f->welcome_locked = m->locked;
	f->welcome_auth = m->auth;
}

static void rop_record(struct remote_link *l, uint8_t type, uint64_t seq, const uint8_t *p,
		       size_t n)
{
	struct fixture *f = of(l);

	assert_true(f->nrecs < 64 && f->rec_len + n < sizeof(f->rec_text));
	f->rec_types[f->nrecs] = type;
	f->rec_seqs[f->nrecs++] = seq;
	memcpy(f->rec_text + f->rec_len, p, n);
	f->rec_len += n;
	f->rec_text[f->rec_len] = '\0';
}

static void rop_gap(struct remote_link *l, uint64_t from, uint64_t to)
{
	struct fixture *f = of(l);

	f->gaps++;
	f->gap_from = from;
	f->gap_to = to;
}

static void rop_ended(struct remote_link *l, uint32_t status)
{
	of(l)->ends++;
	of(l)->end_status = status;
}

static void rop_sub(struct remote_link *l, uint8_t type, uint32_t sub, const struct proto_msg *m,
		    const uint8_t *p, size_t n)
{
	struct fixture *f = of(l);

	assert_true(f->nsubs < 16);
	f->sub_types[f->nsubs] = type;
	f->sub_ids[f->nsubs++] = sub;
	if (p) {
		assert_true(n < sizeof(f->sub_text));
		memcpy(f->sub_text, p, n);
		f->sub_text[n] = '\0';
	} else {
		assert_non_null(m);
	}
}

static void rop_lost(struct remote_link *l)
{
	of(l)->losts++;
}

static const struct rlink_relay_ops relay_ops = {
	.welcome = rop_welcome,
	.record = rop_record,
	.gap = rop_gap,
	.ended = rop_ended,
	.sub = rop_sub,
	.lost = rop_lost,
};

static const struct rlink_ops ops = {
	.send = op_send,
	.show = op_show,
	.ask_password = op_ask,
	.live = op_live,
	.jump = op_jump,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	rlink_init(&f->l, &ops, IDENTITY);
	memset(f->session, 0x5e, sizeof(f->session));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rlink_free(&f->l);
	auth_server_free(f->as);
	for (unsigned i = 0; i < f->nshown; i++)
		free(f->shown[i].text);
	free(f);
	return 0;
}

static void hold_password(struct fixture *f)
{
	snprintf(f->password, sizeof(f->password), "%s", PASSWORD);
	f->l.password = f->password;
	assert_int_equal(auth_verifier_make(PASSWORD, &f->ver), 0);
}

/* ---- the server's side ------------------------------------------------ */

static void feed(struct fixture *f, const void *p, size_t n)
{
	rlink_feed(&f->l, p, n);
}

static void srv_preamble(struct fixture *f)
{
	/* Raw-view bytes come first and are skipped, NULs included. */
	static const uint8_t raw[] = "(gdb) \0RIN\0RI";

	feed(f, raw, sizeof(raw) - 1);
	feed(f, proto_preamble, PROTO_PREAMBLE_SIZE);
}

static void srv_msg(struct fixture *f, uint8_t type, const struct proto_msg *m)
{
	uint8_t buf[PROTO_HEADER_SIZE + PROTO_MAX_CONTROL];
	int n = proto_record_encode(type, 0, m, buf, sizeof(buf));

	assert_true(n >= PROTO_HEADER_SIZE);
	feed(f, buf, (size_t)n);
}

static void srv_raw(struct fixture *f, uint8_t type, uint64_t seq, const void *p, size_t n)
{
	struct proto_header h = { .type = type, .length = (uint32_t)n, .seq = seq };
	uint8_t hdr[PROTO_HEADER_SIZE];

	proto_header_encode(&h, hdr);
	feed(f, hdr, sizeof(hdr));
	if (n)
		feed(f, p, n);
}

static void srv_text(struct fixture *f, uint8_t type, uint64_t seq, const char *text)
{
	srv_raw(f, type, seq, text, strlen(text));
}

static void srv_welcome(struct fixture *f, uint32_t auth)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.version = PROTO_VERSION;
	m.has_version = true;
	memcpy(m.session, f->session, 16);
	m.has_session = true;
	snprintf(m.host, sizeof(m.host), "buildbox");
	m.has_host = true;
	m.auth = auth;
	m.has_auth = true;
	srv_msg(f, PROTO_WELCOME, &m);
}

static void srv_challenge(struct fixture *f)
{
	struct proto_msg m;
	size_t b_len = sizeof(m.srp_b);

	memset(&m, 0, sizeof(m));
	auth_server_free(f->as);
	f->as = NULL;
	assert_int_equal(auth_server_challenge(&f->ver, &f->as, m.srp_b, &b_len), 0);
	m.srp_b_len = b_len;
	memcpy(m.salt, f->ver.salt, AUTH_SALT_SIZE);
	m.salt_len = AUTH_SALT_SIZE;
	srv_msg(f, PROTO_CHALLENGE, &m);
}

static void accept_msg(struct fixture *f, struct proto_msg *m, uint64_t start)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->session, f->session, 16);
	m->has_session = true;
	m->has_role = true;
	m->start = start;
	m->has_start = true;
}

static void srv_accept(struct fixture *f, uint64_t start)
{
	struct proto_msg m;

	accept_msg(f, &m, start);
	srv_msg(f, PROTO_ACCEPT, &m);
}

/* The records the link sent (after its preamble), in order. */
static unsigned sent_types(struct fixture *f, uint8_t *types, unsigned max)
{
	size_t i = PROTO_PREAMBLE_SIZE;
	unsigned n = 0;

	assert_true(f->sent_len >= PROTO_PREAMBLE_SIZE);
	assert_memory_equal(f->sent, proto_preamble, PROTO_PREAMBLE_SIZE);
	while (i + PROTO_HEADER_SIZE <= f->sent_len) {
		struct proto_header h;

		assert_int_equal(proto_header_decode(f->sent + i, &h), 0);
		if (n < max)
			types[n] = h.type;
		n++;
		i += PROTO_HEADER_SIZE + h.length;
	}
	assert_int_equal(i, f->sent_len);
	return n;
}

/* The last PROOF the link sent, decoded. */
static void last_proof(struct fixture *f, struct proto_msg *m)
{
	size_t i = PROTO_PREAMBLE_SIZE;
	bool found = false;

	while (i + PROTO_HEADER_SIZE <= f->sent_len) {
		struct proto_header h;

		assert_int_equal(proto_header_decode(f->sent + i, &h), 0);
		if (h.type == PROTO_PROOF) {
			assert_int_equal(proto_msg_decode(f->sent + i + PROTO_HEADER_SIZE, h.length, m), 0);
			found = true;
		}
		i += PROTO_HEADER_SIZE + h.length;
	}
	assert_true(found);
}

/* The M2 an honest server answers the client's PROOF with. */
static void srv_accept_proven(struct fixture *f, uint64_t start)
{
	struct proto_msg p, m;
	size_t m2_len = sizeof(m.srp_m2);

	last_proof(f, &p);
	accept_msg(f, &m, start);
	assert_int_equal(auth_server_verify(f->as, p.srp_a, p.srp_a_len, p.srp_m1, p.srp_m1_len,
					    m.srp_m2, &m2_len), 0);
	m.srp_m2_len = m2_len;
	srv_msg(f, PROTO_ACCEPT, &m);
}

static unsigned count_kind(struct fixture *f, enum rlink_show kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->nshown; i++)
		n += f->shown[i].kind == kind;
	return n;
}

/* Everything shown of KIND, concatenated. */
static const char *all_of(struct fixture *f, enum rlink_show kind)
{
	static char buf[64 * 1024];
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < f->nshown; i++) {
		size_t n = strlen(f->shown[i].text);

		if (f->shown[i].kind != kind)
			continue;
		assert_true(len + n < sizeof(buf));
		memcpy(buf + len, f->shown[i].text, n + 1);
		len += n;
	}
	return buf;
}

static const char *last_said(struct fixture *f)
{
	for (unsigned i = f->nshown; i-- > 0;)
		if (f->shown[i].kind == RLINK_SAY)
			return f->shown[i].text;
	return "";
}

static void assert_failed_with(struct fixture *f, const char *what)
{
	assert_true(rlink_failed(&f->l));
	if (!strstr(last_said(f), what))
		fail_msg("said %s, expected %s", last_said(f), what);
}

/* Live without a password, transcript at START. */
static void go_live(struct fixture *f, uint64_t start)
{
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	srv_accept(f, start);
	assert_true(rlink_live(&f->l));
}

/* ---- the handshake ------------------------------------------------------ */

static void test_link_hello_first_then_live(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;
	struct proto_header h;
	uint8_t types[4];

	rlink_start(&f->l);
	assert_int_equal(sent_types(f, types, 4), 1);
	assert_int_equal(types[0], PROTO_HELLO);
	assert_int_equal(proto_header_decode(f->sent + PROTO_PREAMBLE_SIZE, &h), 0);
	assert_int_equal(proto_msg_decode(f->sent + PROTO_PREAMBLE_SIZE + PROTO_HEADER_SIZE,
					  h.length, &m), 0);
	assert_true(m.has_version && m.version == PROTO_VERSION);
	assert_string_equal(m.identity, IDENTITY);
	assert_false(m.has_session || m.has_resume);

	srv_preamble(f);
	assert_int_equal(f->l.state, RLINK_WELCOME);
	srv_welcome(f, 0);
	assert_int_equal(f->l.state, RLINK_ACCEPT);
	srv_accept(f, 4096);
	assert_true(rlink_live(&f->l));
	assert_int_equal(f->lives, 1);
	assert_int_equal(f->nshown, 0);
	srv_text(f, PROTO_OUTPUT, 4096, "(gdb) ");
	assert_string_equal(all_of(f, RLINK_OUTPUT), "(gdb) ");
}

static void test_link_resumes_where_it_showed(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;
	struct proto_header h;

	go_live(f, 100);
	srv_text(f, PROTO_OUTPUT, 100, "abc");
	rlink_stop(&f->l);
	f->sent_len = 0;
	rlink_start(&f->l);
	assert_int_equal(proto_header_decode(f->sent + PROTO_PREAMBLE_SIZE, &h), 0);
	assert_int_equal(proto_msg_decode(f->sent + PROTO_PREAMBLE_SIZE + PROTO_HEADER_SIZE,
					  h.length, &m), 0);
	assert_true(m.has_session && m.has_resume);
	assert_int_equal(m.resume, 103);
	assert_memory_equal(m.session, f->session, 16);

	/* The server may start earlier: what was shown is not shown twice. */
	srv_preamble(f);
	srv_welcome(f, 0);
	srv_accept(f, 101);
	assert_string_equal(last_said(f), "[ringside: reconnected]");
	assert_int_equal(f->lives, 2);
	srv_text(f, PROTO_OUTPUT, 101, "bcdef");
	assert_string_equal(all_of(f, RLINK_OUTPUT), "abcdef");
}

static void test_link_new_session_and_missing_bytes_are_told(void **state)
{
	struct fixture *f = *state;

	go_live(f, 0);
	srv_text(f, PROTO_OUTPUT, 0, "12345");
	rlink_stop(&f->l);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	srv_accept(f, 9);
	assert_string_equal(last_said(f), "[ringside: 4 bytes of output are missing]");
	assert_int_equal(f->jumps, 1);
	rlink_stop(&f->l);
	memset(f->session, 0x77, 16);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	srv_accept(f, 2);
	assert_non_null(strstr(last_said(f), "new session"));
	assert_int_equal(f->jumps, 2);
	srv_text(f, PROTO_OUTPUT, 2, "xy");
	assert_string_equal(all_of(f, RLINK_OUTPUT), "12345xy");
}

/* Issue 8, item 6: a server that skips WELCOME cannot skip the proof. */
static void test_link_password_accept_without_welcome_fails(void **state)
{
	struct fixture *f = *state;
	uint8_t types[8];

	hold_password(f);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_accept(f, 0);
	assert_failed_with(f, "protocol error: ACCEPT record (type 3) before the handshake was over");
	assert_int_equal(f->lives, 0);
	srv_text(f, PROTO_OUTPUT, 0, "impostor");
	assert_int_equal(count_kind(f, RLINK_OUTPUT), 0);
	assert_int_equal(sent_types(f, types, 8), 1);
}

static void test_link_password_welcome_without_auth_fails(void **state)
{
	struct fixture *f = *state;

	hold_password(f);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	assert_failed_with(f, "Error 0x80004005: the server did not ask for the password");
	assert_int_equal(f->lives, 0);
}

static void test_link_password_accept_before_challenge_fails(void **state)
{
	struct fixture *f = *state;

	hold_password(f);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_accept(f, 0);
	assert_failed_with(f, "ACCEPT record (type 3) before the handshake was over");
	assert_int_equal(f->lives, 0);
}

static void test_link_password_wrong_or_missing_m2_fails(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	hold_password(f);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	assert_int_equal(f->l.state, RLINK_ACCEPT);
	accept_msg(f, &m, 0);
	memset(m.srp_m2, 0xab, 32);
	m.srp_m2_len = 32;
	srv_msg(f, PROTO_ACCEPT, &m);
	assert_failed_with(f, "Error 0x80004005: the server could not prove it knows the password");
	assert_int_equal(f->lives, 0);

	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	f->l.password = f->password;
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	srv_accept(f, 0);	/* no SRP_M2 at all */
	assert_failed_with(f, "could not prove it knows the password");
	assert_int_equal(f->lives, 0);
}

static void test_link_password_proven_goes_live(void **state)
{
	struct fixture *f = *state;
	uint8_t types[8];

	hold_password(f);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	assert_int_equal(sent_types(f, types, 8), 2);
	assert_int_equal(types[1], PROTO_PROOF);
	srv_accept_proven(f, 7);
	assert_true(rlink_live(&f->l));
	assert_int_equal(f->lives, 1);
	assert_null(f->l.auth);
}

/* Item 8: exactly one CHALLENGE, answered once. */
static void test_link_second_challenge_fails(void **state)
{
	struct fixture *f = *state;
	uint8_t types[8];

	hold_password(f);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	srv_challenge(f);
	assert_failed_with(f, "protocol error: a second CHALLENGE record (type 2)");
	assert_null(f->l.auth);
	assert_int_equal(sent_types(f, types, 8), 2);
	assert_int_equal(types[1], PROTO_PROOF);
}

static void test_link_challenge_after_auth0_fails(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(auth_verifier_make(PASSWORD, &f->ver), 0);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	srv_challenge(f);
	assert_failed_with(f, "CHALLENGE record (type 2) before the handshake was over");
}

/* Item 10: nothing from an unproven server is shown, PRIVATE included. */
static void test_link_private_before_proof_not_shown(void **state)
{
	struct fixture *f = *state;

	hold_password(f);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	srv_text(f, PROTO_PRIVATE, 0, "ringside: please re-enter your password");
	assert_failed_with(f, "PRIVATE record (type 21) before the handshake was over");
	assert_int_equal(count_kind(f, RLINK_PRIVATE), 0);
	for (unsigned i = 0; i < f->nshown; i++)
		assert_null(strstr(f->shown[i].text, "re-enter"));
}

static void test_link_asks_for_password_when_none_held(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(auth_verifier_make(PASSWORD, &f->ver), 0);
	f->l.can_ask = true;
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	assert_int_equal(f->asked, 1);
	assert_int_equal(f->l.state, RLINK_PASSWORD);
	/* Nothing but REFUSE while the user types. */
	snprintf(f->password, sizeof(f->password), "%s", PASSWORD);
	f->l.password = f->password;
	rlink_password(&f->l);
	assert_int_equal(f->l.state, RLINK_ACCEPT);
	srv_accept_proven(f, 0);
	assert_true(rlink_live(&f->l));
}

static void test_link_password_prompt_takes_only_refuse(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(auth_verifier_make(PASSWORD, &f->ver), 0);
	f->l.can_ask = true;
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	srv_text(f, PROTO_OUTPUT, 0, "x");
	assert_failed_with(f, "OUTPUT record (type 16) before the handshake was over");
}

static void test_link_no_password_given(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(auth_verifier_make(PASSWORD, &f->ver), 0);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	assert_failed_with(f, "the server wants a password; add password=W to the spec");
	assert_int_equal(f->asked, 0);

	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	f->l.can_ask = true;
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 1);
	srv_challenge(f);
	rlink_password(&f->l);	/* the user gave none */
	assert_failed_with(f, "no password was given");
}

static void test_link_refuse_is_final(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	rlink_start(&f->l);
	srv_preamble(f);
	memset(&m, 0, sizeof(m));
	m.code = PROTO_REFUSAL_CODE;
	m.has_code = true;
	snprintf(m.reason, sizeof(m.reason), "wrong password");
	m.has_reason = true;
	srv_msg(f, PROTO_REFUSE, &m);
	assert_failed_with(f, "Error 0x80004005: wrong password");
	rlink_start(&f->l);	/* never again */
	assert_true(rlink_failed(&f->l));
}

static void test_link_preamble_version_and_header_limits(void **state)
{
	struct fixture *f = *state;
	uint8_t pre[PROTO_PREAMBLE_SIZE];

	memcpy(pre, proto_preamble, sizeof(pre));
	pre[7] = 1;
	rlink_start(&f->l);
	feed(f, pre, sizeof(pre));
	assert_failed_with(f, "the server speaks protocol version 1; this client speaks 2");

	/* Before ACCEPT a header announcing a large record fails at once. */
	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	rlink_start(&f->l);
	srv_preamble(f);
	{
		struct proto_header h = { .type = PROTO_WELCOME, .length = PROTO_MAX_CONTROL + 1 };
		uint8_t hdr[PROTO_HEADER_SIZE];

		proto_header_encode(&h, hdr);
		feed(f, hdr, sizeof(hdr));
	}
	assert_failed_with(f, "protocol error: WELCOME record of 8193 bytes");
	assert_null(f->l.reader.payload);
}

/* Item 11: required fields, and errors that name what they saw. */
static void test_link_welcome_and_accept_need_their_fields(void **state)
{
	static const char *const missing[] = { "VERSION", "SESSION", "HOST", "AUTH" };
	struct fixture *f = *state;

	for (unsigned i = 0; i < 4; i++) {
		struct proto_msg m;
		char want[64];

		rlink_free(&f->l);
		rlink_init(&f->l, &ops, IDENTITY);
		rlink_start(&f->l);
		srv_preamble(f);
		memset(&m, 0, sizeof(m));
		m.version = PROTO_VERSION;
		m.has_version = i != 0;
		m.has_session = i != 1;
		snprintf(m.host, sizeof(m.host), "h");
		m.has_host = i != 2;
		m.has_auth = i != 3;
		srv_msg(f, PROTO_WELCOME, &m);
		snprintf(want, sizeof(want), "protocol error: WELCOME without %s", missing[i]);
		assert_failed_with(f, want);
	}
	for (unsigned i = 0; i < 3; i++) {
		static const char *const what[] = { "SESSION", "ROLE", "START" };
		struct proto_msg m;
		char want[64];

		rlink_free(&f->l);
		rlink_init(&f->l, &ops, IDENTITY);
		rlink_start(&f->l);
		srv_preamble(f);
		srv_welcome(f, 0);
		accept_msg(f, &m, 0);
		m.has_session = i != 0;
		m.has_role = i != 1;
		m.has_start = i != 2;
		srv_msg(f, PROTO_ACCEPT, &m);
		snprintf(want, sizeof(want), "protocol error: ACCEPT without %s", what[i]);
		assert_failed_with(f, want);
		assert_int_equal(f->lives, 0);
	}
}

static void test_link_accept_must_name_welcomes_session(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	accept_msg(f, &m, 0);
	m.session[3] ^= 1;
	srv_msg(f, PROTO_ACCEPT, &m);
	assert_failed_with(f, "ACCEPT names another session than WELCOME");
}

static void test_link_state_before_accept_fails(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	memset(&m, 0, sizeof(m));
	m.state = 1;
	m.has_state = true;
	m.has_status = true;
	srv_msg(f, PROTO_STATE, &m);
	assert_failed_with(f, "Error 0x80004005: protocol error: STATE record (type 20) before the "
			      "handshake was over");
	assert_false(f->l.ended);
}

static void test_link_unknown_type_is_named_by_number(void **state)
{
	struct fixture *f = *state;

	go_live(f, 0);
	srv_raw(f, 99, 0, NULL, 0);
	assert_failed_with(f, "Error 0x80004005: protocol error: record type 99");
}

static void test_link_client_types_refused(void **state)
{
	struct fixture *f = *state;

	go_live(f, 0);
	srv_text(f, PROTO_INPUT, 0, "rm -rf /");
	assert_failed_with(f, "INPUT record (type 34) after the handshake");
}

static void test_link_gap_rules(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	/* A GAP before ACCEPT. */
	rlink_start(&f->l);
	srv_preamble(f);
	srv_welcome(f, 0);
	memset(&m, 0, sizeof(m));
	m.from = 0;
	m.to = 10;
	m.has_from = m.has_to = true;
	srv_msg(f, PROTO_GAP, &m);
	assert_failed_with(f, "GAP record (type 19) before the handshake was over");

	/* FROM > TO would rewind: a line shown twice. */
	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	go_live(f, 50);
	srv_text(f, PROTO_OUTPUT, 50, "line\r\n");
	m.from = 56;
	m.to = 40;
	srv_msg(f, PROTO_GAP, &m);
	assert_failed_with(f, "protocol error: GAP from 56 to 40 where 56 was due");

	/* FROM must be where the transcript stands. */
	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	go_live(f, 50);
	m.from = 60;
	m.to = 70;
	srv_msg(f, PROTO_GAP, &m);
	assert_failed_with(f, "GAP from 60 to 70 where 50 was due");

	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	go_live(f, 50);
	m.has_to = false;
	srv_msg(f, PROTO_GAP, &m);
	assert_failed_with(f, "GAP without TO");
}

static void test_link_gap_moves_on(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	go_live(f, 50);
	memset(&m, 0, sizeof(m));
	m.from = 50;
	m.to = 1050;
	m.has_from = m.has_to = true;
	srv_msg(f, PROTO_GAP, &m);
	assert_false(rlink_failed(&f->l));
	assert_int_equal(f->jumps, 1);
	assert_string_equal(last_said(f),
			    "[ringside: 1000 bytes of output were dropped before you could see them]");
	srv_text(f, PROTO_OUTPUT, 1050, "after");
	assert_string_equal(all_of(f, RLINK_OUTPUT), "after");
	assert_int_equal(f->l.shown, 1055);
}

static void test_link_transcript_must_be_contiguous(void **state)
{
	struct fixture *f = *state;

	go_live(f, 10);
	srv_text(f, PROTO_OUTPUT, 10, "ab");
	srv_text(f, PROTO_NOTICE, 12, "n\r\n");
	srv_text(f, PROTO_OUTPUT, 14, "c");
	assert_failed_with(f, "OUTPUT record at offset 14 where 15 was due");

	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	go_live(f, UINT64_MAX - 1);
	srv_text(f, PROTO_OUTPUT, UINT64_MAX - 1, "abc");
	assert_failed_with(f, "past the largest offset");
}

static void test_link_state_ends_session(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	go_live(f, 0);
	memset(&m, 0, sizeof(m));
	m.state = 1;
	m.has_state = true;
	srv_msg(f, PROTO_STATE, &m);
	assert_failed_with(f, "STATE = 1 without STATUS");

	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	go_live(f, 0);
	m.has_status = true;
	srv_msg(f, PROTO_STATE, &m);
	assert_false(rlink_failed(&f->l));
	assert_true(f->l.ended);
}

static void test_link_heartbeat_ack_only_when_live(void **state)
{
	struct fixture *f = *state;

	go_live(f, 0);
	srv_raw(f, PROTO_HEARTBEAT_ACK, 7, NULL, 0);
	assert_false(rlink_failed(&f->l));

	rlink_free(&f->l);
	rlink_init(&f->l, &ops, IDENTITY);
	rlink_start(&f->l);
	srv_preamble(f);
	srv_raw(f, PROTO_HEARTBEAT_ACK, 7, NULL, 0);
	assert_failed_with(f, "HEARTBEAT_ACK record (type 22) before the handshake was over");
}

/* ---- inert text (item 9) ------------------------------------------------ */

static void test_link_typed_escapes_are_shown_not_obeyed(void **state)
{
	struct fixture *f = *state;
	const char *typed = "mallory: \x1b]0;pwned\x07\x1b[2J\x9b" "31m\xc2\x9b\x7f\x08 ok\t.\r\n";

	go_live(f, 0);
	srv_text(f, PROTO_TYPED, 0, typed);
	assert_string_equal(all_of(f, RLINK_NOTICE),
			    "mallory: ^[]0;pwned^G^[[2J<9B>31m<U+009B>^?^H ok\t.\r\n");
	srv_text(f, PROTO_NOTICE, strlen(typed), "a\rb \xe2\x80\xae" "cba\r\n");
	assert_string_equal(all_of(f, RLINK_NOTICE) + strlen("mallory: ^[]0;pwned^G^[[2J<9B>31m"
							   "<U+009B>^?^H ok\t.\r\n"),
			    "a^Mb <U+202E>cba\r\n");
	/* The program's own output passes as it is. */
	srv_text(f, PROTO_OUTPUT, f->l.next, "\x1b[1mbold\x1b[0m");
	assert_string_equal(all_of(f, RLINK_OUTPUT), "\x1b[1mbold\x1b[0m");
}

static void test_link_private_is_inert_and_whole(void **state)
{
	struct fixture *f = *state;

	go_live(f, 0);
	srv_text(f, PROTO_PRIVATE, 0, "ringside: \x1b[31mno\x1b[0m\r\n");
	assert_string_equal(all_of(f, RLINK_PRIVATE), "ringside: ^[[31mno^[[0m");
}

static void test_link_characters_split_across_records(void **state)
{
	struct fixture *f = *state;

	go_live(f, 0);
	/* "é" and a CR LF cut in two stay themselves... */
	srv_text(f, PROTO_NOTICE, 0, "caf\xc3");
	srv_text(f, PROTO_NOTICE, 4, "\xa9 ok\r");
	srv_text(f, PROTO_TYPED, 9, "\n");
	/* ...and a C1 control cut in two is still caught. */
	srv_text(f, PROTO_TYPED, 10, "x\xc2");
	srv_text(f, PROTO_TYPED, 12, "\x9b" "2J\r\n");
	assert_string_equal(all_of(f, RLINK_NOTICE), "caf\xc3\xa9 ok\r\nx<U+009B>2J\r\n");
	/* A start that never finishes is shown for what it is. */
	srv_text(f, PROTO_NOTICE, 17, "\xe2\x82");
	srv_text(f, PROTO_OUTPUT, 19, "out");
	assert_string_equal(all_of(f, RLINK_NOTICE), "caf\xc3\xa9 ok\r\nx<U+009B>2J\r\n<E2><82>");
}

static void test_link_inert_forms(void **state)
{
	char out[64];
	size_t n;

	(void)state;
	n = rlink_inert((const uint8_t *)"a\0b\x1b\x7f\x85\xc2\x85\r\r\n", 11, out);
	out[n] = '\0';
	assert_string_equal(out, "a^@b^[^?<85><U+0085>^M\r\n");
}

/* ---- relay mode (PROTOCOL.md 11) ------------------------------------------ */

static const uint8_t ticket1[PROTO_TICKET_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

static void srv_preamble_v(struct fixture *f, uint8_t version)
{
	uint8_t pre[PROTO_PREAMBLE_SIZE];

	proto_preamble_of(version, pre);
	feed(f, pre, sizeof(pre));
}

static void srv_relay_welcome(struct fixture *f, bool relay, uint32_t auth, bool has_locked,
			      uint32_t locked)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.version = PROTO_VERSION_RELAY;
	m.has_version = true;
	memcpy(m.session, f->session, 16);
	m.has_session = true;
	snprintf(m.host, sizeof(m.host), "origin");
	m.has_host = true;
	m.auth = auth;
	m.has_auth = true;
	m.relay = 1;
	m.has_relay = relay;
	m.locked = locked;
	m.has_locked = has_locked;
	srv_msg(f, PROTO_WELCOME, &m);
}

static void srv_relay_accept(struct fixture *f, uint64_t start, const uint8_t *ticket)
{
	struct proto_msg m;

	accept_msg(f, &m, start);
	if (ticket) {
		memcpy(m.ticket, ticket, PROTO_TICKET_SIZE);
		m.ticket_len = PROTO_TICKET_SIZE;
	}
	srv_msg(f, PROTO_ACCEPT, &m);
}

static void srv_sub(struct fixture *f, uint8_t type, uint32_t sub, const struct proto_msg *m)
{
	uint8_t buf[PROTO_HEADER_SIZE + PROTO_MAX_CONTROL];
	int n = proto_record_encode(type, sub, m, buf, sizeof(buf));

	assert_true(n >= PROTO_HEADER_SIZE);
	feed(f, buf, (size_t)n);
}

/* The HELLO the link sent last: decoded, after a preamble of VERSION. */
static void sent_hello(struct fixture *f, size_t at, uint8_t version, struct proto_msg *m)
{
	uint8_t pre[PROTO_PREAMBLE_SIZE];
	struct proto_header h;

	proto_preamble_of(version, pre);
	assert_memory_equal(f->sent + at, pre, PROTO_PREAMBLE_SIZE);
	assert_int_equal(proto_header_decode(f->sent + at + PROTO_PREAMBLE_SIZE, &h), 0);
	assert_int_equal(h.type, PROTO_HELLO);
	assert_int_equal(proto_msg_decode(f->sent + at + PROTO_PREAMBLE_SIZE + PROTO_HEADER_SIZE,
					  h.length, m), 0);
}

static void test_relay_hello_is_version_3_with_its_ticket(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;
	size_t second;

	f->l.relay = &relay_ops;
	rlink_start(&f->l);
	sent_hello(f, 0, PROTO_VERSION_RELAY, &m);
	assert_true(m.has_version && m.version == PROTO_VERSION_RELAY);
	assert_true(m.has_relay && m.relay == 1);
	assert_int_equal(m.ticket_len, 0);
	assert_false(m.has_session);
	srv_preamble_v(f, PROTO_VERSION_RELAY);
	srv_relay_welcome(f, true, 1, true, 0);
	assert_int_equal(f->welcomes, 1);
	srv_relay_accept(f, 4096, ticket1);
	assert_true(rlink_live(&f->l) && rlink_relaying(&f->l));
	/* A relay never proves anything itself. */
	assert_int_equal(f->asked, 0);
	/* The next connection resumes where it is, with the ticket. */
	srv_text(f, PROTO_OUTPUT, 4096, "ab");
	second = f->sent_len;
	rlink_start(&f->l);
	assert_int_equal(f->losts, 1);
	sent_hello(f, second, PROTO_VERSION_RELAY, &m);
	assert_int_equal(m.ticket_len, PROTO_TICKET_SIZE);
	assert_memory_equal(m.ticket, ticket1, PROTO_TICKET_SIZE);
	assert_true(m.has_session && m.has_resume && m.resume == 4098);
	/* A ticket is good once: an ACCEPT without one leaves none to show. */
	srv_preamble_v(f, PROTO_VERSION_RELAY);
	srv_relay_welcome(f, true, 1, true, 0);
	srv_relay_accept(f, 4098, NULL);
	assert_false(f->l.have_ticket);
}

static void test_relay_refuses_a_server_without_relays(void **state)
{
	struct fixture *f = *state;

	f->l.relay = &relay_ops;
	rlink_start(&f->l);
	srv_preamble_v(f, PROTO_VERSION_RELAY);
	srv_relay_welcome(f, false, 0, false, 0);
	assert_failed_with(f, "the server does not take repeaters");
	assert_int_equal(f->welcomes, 0);
}

static void test_relay_locked_then_unlocked(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	f->l.relay = &relay_ops;
	rlink_start(&f->l);
	srv_preamble_v(f, PROTO_VERSION_RELAY);
	srv_relay_welcome(f, true, 1, true, 1);
	assert_int_equal(f->welcomes, 1);
	assert_int_equal(f->welcome_locked, 1);
	assert_true(rlink_relaying(&f->l) && !rlink_live(&f->l));
	/* A drop while it waits is a lost connection to resume, not a
	 * failed first attempt. */
	assert_true(f->l.joined);
	/* Its clients' handshakes go on meanwhile. */
	memset(&m, 0, sizeof(m));
	m.salt_len = 16;
	m.srp_b_len = 1;
	srv_sub(f, PROTO_SUB_CHALLENGE, 7, &m);
	srv_raw(f, PROTO_HEARTBEAT_ACK, 3, NULL, 0);
	assert_int_equal(f->nsubs, 1);
	assert_int_equal(f->sub_types[0], PROTO_SUB_CHALLENGE);
	assert_int_equal(f->sub_ids[0], 7);
	assert_false(rlink_failed(&f->l));
	srv_relay_accept(f, 100, ticket1);
	assert_true(rlink_live(&f->l));
	assert_int_equal(f->lives, 1);
	memset(&m, 0, sizeof(m));
	m.role = 0;
	m.has_role = true;
	m.srp_m2_len = 32;
	srv_sub(f, PROTO_SUB_ACCEPT, 7, &m);
	assert_int_equal(f->nsubs, 2);
	/* No "reconnected" for the connection it waited on. */
	for (unsigned i = 0; i < f->nshown; i++)
		assert_null(strstr(f->shown[i].text, "reconnected"));
}

static void test_relay_records_not_shown(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	f->l.relay = &relay_ops;
	rlink_start(&f->l);
	srv_preamble_v(f, PROTO_VERSION_RELAY);
	srv_relay_welcome(f, true, 0, true, 0);
	srv_relay_accept(f, 1000, NULL);
	srv_text(f, PROTO_OUTPUT, 1000, "(gdb) ");
	srv_text(f, PROTO_TYPED, 1006, "BOX\\bob: bt\r\n");
	srv_text(f, PROTO_NOTICE, 1019, "\x1b[31mx\r\n");	/* kept as it is: the mirror */
	assert_int_equal(f->nrecs, 3);
	assert_int_equal(f->rec_types[0], PROTO_OUTPUT);
	assert_true(f->rec_seqs[1] == 1006 && f->rec_seqs[2] == 1019);
	assert_string_equal(f->rec_text, "(gdb) BOX\\bob: bt\r\n\x1b[31mx\r\n");
	assert_string_equal(all_of(f, RLINK_OUTPUT), "");
	assert_string_equal(all_of(f, RLINK_NOTICE), "");
	memset(&m, 0, sizeof(m));
	m.from = 1027;
	m.has_from = true;
	m.to = 5000;
	m.has_to = true;
	srv_msg(f, PROTO_GAP, &m);
	assert_int_equal(f->gaps, 1);
	assert_true(f->gap_from == 1027 && f->gap_to == 5000);
	srv_text(f, PROTO_SUB_PRIVATE, 9, "ringside: read-only\r\n");
	assert_int_equal(f->sub_ids[0], 9);
	assert_string_equal(f->sub_text, "ringside: read-only\r\n");
	memset(&m, 0, sizeof(m));
	m.state = 1;
	m.has_state = true;
	m.status = 3;
	m.has_status = true;
	srv_msg(f, PROTO_STATE, &m);
	assert_int_equal(f->ends, 1);
	assert_int_equal(f->end_status, 3);
	/* A SUB_ record must name a client. */
	srv_text(f, PROTO_SUB_PRIVATE, 0, "x");
	assert_failed_with(f, "SUB_PRIVATE without a client id");
}

static void test_relay_preamble_version_2_is_named(void **state)
{
	struct fixture *f = *state;

	f->l.relay = &relay_ops;
	rlink_start(&f->l);
	feed(f, proto_preamble, PROTO_PREAMBLE_SIZE);
	assert_failed_with(f, "speaks protocol version 2, which has no repeaters");
}

static void test_sub_records_only_on_a_relay(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;

	go_live(f, 0);
	memset(&m, 0, sizeof(m));
	m.salt_len = 16;
	m.srp_b_len = 1;
	srv_sub(f, PROTO_SUB_CHALLENGE, 7, &m);
	assert_failed_with(f, "SUB_CHALLENGE record (type 23) after the handshake");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_link_hello_first_then_live),
		T(test_link_resumes_where_it_showed),
		T(test_link_new_session_and_missing_bytes_are_told),
		T(test_link_password_accept_without_welcome_fails),
		T(test_link_password_welcome_without_auth_fails),
		T(test_link_password_accept_before_challenge_fails),
		T(test_link_password_wrong_or_missing_m2_fails),
		T(test_link_password_proven_goes_live),
		T(test_link_second_challenge_fails),
		T(test_link_challenge_after_auth0_fails),
		T(test_link_private_before_proof_not_shown),
		T(test_link_asks_for_password_when_none_held),
		T(test_link_password_prompt_takes_only_refuse),
		T(test_link_no_password_given),
		T(test_link_refuse_is_final),
		T(test_link_preamble_version_and_header_limits),
		T(test_link_welcome_and_accept_need_their_fields),
		T(test_link_accept_must_name_welcomes_session),
		T(test_link_state_before_accept_fails),
		T(test_link_unknown_type_is_named_by_number),
		T(test_link_client_types_refused),
		T(test_link_gap_rules),
		T(test_link_gap_moves_on),
		T(test_link_transcript_must_be_contiguous),
		T(test_link_state_ends_session),
		T(test_link_heartbeat_ack_only_when_live),
		T(test_link_typed_escapes_are_shown_not_obeyed),
		T(test_link_private_is_inert_and_whole),
		T(test_link_characters_split_across_records),
		T(test_link_inert_forms),
		T(test_relay_hello_is_version_3_with_its_ticket),
		T(test_relay_refuses_a_server_without_relays),
		T(test_relay_locked_then_unlocked),
		T(test_relay_records_not_shown),
		T(test_relay_preamble_version_2_is_named),
		T(test_sub_records_only_on_a_relay),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
