// SPDX-License-Identifier: MIT
/* Unit tests for src/proto.c: preambles, record headers and their limits, the incremental
 * reader under every split of its input and after errors, and TLV bodies: every field, and
 * every way a body can be malformed; version 3's relay records and fields included. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/proto.h"

/* ---- helpers ---------------------------------------------------------- */

static const uint8_t all_types[] = {
	PROTO_WELCOME, PROTO_CHALLENGE, PROTO_ACCEPT, PROTO_REFUSE, PROTO_OUTPUT,
	PROTO_NOTICE, PROTO_TYPED, PROTO_GAP, PROTO_STATE, PROTO_PRIVATE,
	PROTO_HELLO, PROTO_PROOF, PROTO_INPUT, PROTO_INTERRUPT, PROTO_BYE,
	PROTO_HEARTBEAT, PROTO_HEARTBEAT_ACK,
	PROTO_SUB_CHALLENGE, PROTO_SUB_ACCEPT, PROTO_SUB_REFUSE, PROTO_SUB_PRIVATE,
	PROTO_SUB_HELLO, PROTO_SUB_PROOF, PROTO_SUB_INPUT, PROTO_SUB_INTERRUPT, PROTO_SUB_BYE,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static bool is_known_type(unsigned t)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (all_types[i] == t)
			return true;
	return false;
}

static uint32_t limit_of(uint8_t t)
{
	switch (t) {
	case PROTO_OUTPUT:
	case PROTO_NOTICE:
	case PROTO_TYPED:
	case PROTO_PRIVATE:
	case PROTO_SUB_PRIVATE:
		return PROTO_MAX_OUTPUT;
	default:
		return PROTO_MAX_CONTROL;
	}
}

static void put_hdr(uint8_t *out, uint8_t type, uint32_t length, uint64_t seq)
{
	struct proto_header h = { .type = type, .length = length, .seq = seq };

	proto_header_encode(&h, out);
}

/* A TLV item by hand, so the tests do not trust the encoder under test. */
static size_t put_tlv(uint8_t *out, uint16_t tag, const void *val, uint16_t len)
{
	out[0] = (uint8_t)(tag >> 8);
	out[1] = (uint8_t)tag;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	if (len)
		memcpy(out + 4, val, len);
	return 4 + (size_t)len;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 31);
}

/* Every field set: byte arrays at their full sizes, REASON at PROTO_TEXT_MAX bytes. */
static void full_msg(struct proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->version = 1;
	m->role = 1;
	m->code = PROTO_REFUSAL_CODE;
	m->auth = 1;
	m->state = 1;
	m->status = 0xdeadbeef;
	m->resume = 0x0102030405060708ull;
	m->start = UINT64_MAX;
	m->from = 42;
	m->to = 1ull << 40;
	fill(m->session, sizeof(m->session), 1);
	snprintf(m->identity, sizeof(m->identity), "BUILDBOX\\alice");
	memset(m->reason, 'r', PROTO_TEXT_MAX);
	snprintf(m->host, sizeof(m->host), "h\xc3\xa9te");	/* UTF-8 passes */
	snprintf(m->program, sizeof(m->program), "gdb -q ./prog");
	snprintf(m->text, sizeof(m->text), "~ punctuation: !\"#$%%&'()*+,-./ ~");
	fill(m->salt, sizeof(m->salt), 2);
	fill(m->srp_b, sizeof(m->srp_b), 3);
	fill(m->srp_a, sizeof(m->srp_a), 4);
	fill(m->srp_m1, sizeof(m->srp_m1), 5);
	fill(m->srp_m2, sizeof(m->srp_m2), 6);
	m->salt_len = sizeof(m->salt);
	m->srp_b_len = sizeof(m->srp_b);
	m->srp_a_len = sizeof(m->srp_a);
	m->srp_m1_len = sizeof(m->srp_m1);
	m->srp_m2_len = sizeof(m->srp_m2);
	m->relay = 1;
	m->locked = 0;
	m->rejoin = UINT32_MAX;
	fill(m->ticket, sizeof(m->ticket), 7);
	m->ticket_len = sizeof(m->ticket);
	m->has_relay = m->has_locked = m->has_rejoin = true;
	m->has_version = m->has_role = m->has_code = m->has_auth = true;
	m->has_state = m->has_status = m->has_resume = m->has_start = true;
	m->has_from = m->has_to = m->has_session = true;
	m->has_identity = m->has_reason = m->has_host = m->has_program = m->has_text = true;
}

static void assert_msg_equal(const struct proto_msg *a, const struct proto_msg *b)
{
	/* Decode clears the struct and fills only what it saw, so a full
	 * comparison also proves nothing extra was written. */
	assert_memory_equal(a, b, sizeof(*a));
}

/* ---- preamble and headers -------------------------------------------- */

static void test_proto_preamble_bytes(void **state)
{
	static const uint8_t want[8] = { 0x00, 'R', 'I', 'N', 'G', 'S', 'D', 0x02 };
	uint8_t v3[8];

	assert_int_equal(PROTO_PREAMBLE_SIZE, 8);
	assert_memory_equal(proto_preamble, want, 8);
	assert_int_equal(proto_preamble[7], PROTO_VERSION);
	/* A relay speaks version 3; only the last byte differs. */
	assert_int_equal(PROTO_VERSION_RELAY, 3);
	assert_int_equal(PROTO_VERSION_MAX, PROTO_VERSION_RELAY);
	proto_preamble_of(PROTO_VERSION_RELAY, v3);
	assert_memory_equal(v3, want, 7);
	assert_int_equal(v3[7], 3);
	proto_preamble_of(PROTO_VERSION, v3);
	assert_memory_equal(v3, proto_preamble, 8);
}

/* The direction masks: what a relay's peer may see, per side. */
static void test_proto_relay_types_and_directions(void **state)
{
	static const uint8_t to_server[] = {
		PROTO_SUB_HELLO, PROTO_SUB_PROOF, PROTO_SUB_INPUT, PROTO_SUB_INTERRUPT, PROTO_SUB_BYE,
	};
	static const uint8_t to_relay[] = {
		PROTO_SUB_CHALLENGE, PROTO_SUB_ACCEPT, PROTO_SUB_REFUSE, PROTO_SUB_PRIVATE,
	};
	uint64_t all = 0;

	for (size_t i = 0; i < sizeof(to_server); i++) {
		assert_true(to_server[i] < 64);
		assert_true(PROTO_RELAY_TYPES & PROTO_TYPE_BIT(to_server[i]));
		assert_false(PROTO_SERVER_TYPES & PROTO_TYPE_BIT(to_server[i]));
		all |= PROTO_TYPE_BIT(to_server[i]);
	}
	for (size_t i = 0; i < sizeof(to_relay); i++) {
		assert_true(PROTO_RELAY_TYPES & PROTO_TYPE_BIT(to_relay[i]));
		assert_true(PROTO_SERVER_TYPES & PROTO_TYPE_BIT(to_relay[i]));
		all |= PROTO_TYPE_BIT(to_relay[i]);
	}
	assert_true(all == PROTO_RELAY_TYPES);
	/* Line and private text are raw bytes like INPUT and PRIVATE; the
	 * rest carry TLV bodies. */
	assert_false(proto_type_tlv(PROTO_SUB_INPUT));
	assert_false(proto_type_tlv(PROTO_SUB_PRIVATE));
	assert_true(proto_type_tlv(PROTO_SUB_HELLO));
	assert_true(proto_type_tlv(PROTO_SUB_BYE));
	/* seq carries the sub-client: any 64-bit value survives the header. */
	{
		struct proto_header h = { .type = PROTO_SUB_INPUT, .length = 2,
					  .seq = PROTO_SUB_MAX }, got;
		uint8_t buf[PROTO_HEADER_SIZE];

		proto_header_encode(&h, buf);
		assert_int_equal(proto_header_decode(buf, &got), 0);
		assert_true(got.seq == PROTO_SUB_MAX);
	}
}

static void test_proto_header_round_trip_every_type(void **state)
{
	for (size_t i = 0; i < NTYPES; i++) {
		struct proto_header h = {
			.type = all_types[i],
			.length = limit_of(all_types[i]),
			.seq = 0x8877665544332211ull + i,
		}, got;
		uint8_t buf[PROTO_HEADER_SIZE];

		proto_header_encode(&h, buf);
		assert_int_equal(proto_header_decode(buf, &got), 0);
		assert_int_equal(got.type, h.type);
		assert_int_equal(got.flags, 0);
		assert_int_equal(got.length, h.length);
		assert_true(got.seq == h.seq);
	}
}

static void test_proto_header_layout_is_big_endian(void **state)
{
	static const uint8_t want[PROTO_HEADER_SIZE] = {
		16, 0, 0, 0, 0x00, 0x00, 0x12, 0x34,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	};
	uint8_t buf[PROTO_HEADER_SIZE];

	put_hdr(buf, PROTO_OUTPUT, 0x1234, 0x0102030405060708ull);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_proto_header_decode_rejects_unknown_types(void **state)
{
	for (unsigned t = 0; t < 256; t++) {
		struct proto_header h;
		uint8_t buf[PROTO_HEADER_SIZE];

		put_hdr(buf, (uint8_t)t, 0, 0);
		assert_int_equal(proto_header_decode(buf, &h), is_known_type(t) ? 0 : -EPROTO);
	}
}

static void test_proto_header_decode_rejects_reserved_and_flag_bits(void **state)
{
	for (int byte = 1; byte <= 3; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			struct proto_header h;
			uint8_t buf[PROTO_HEADER_SIZE];

			put_hdr(buf, PROTO_HELLO, 4, 0);
			buf[byte] |= (uint8_t)(1u << bit);
			assert_int_equal(proto_header_decode(buf, &h), -EPROTO);
		}
	}
}

static void test_proto_header_decode_rejects_oversize_lengths_per_type(void **state)
{
	for (size_t i = 0; i < NTYPES; i++) {
		uint8_t t = all_types[i];
		uint32_t limit = limit_of(t);
		struct proto_header h;
		uint8_t buf[PROTO_HEADER_SIZE];

		put_hdr(buf, t, limit, 0);
		assert_int_equal(proto_header_decode(buf, &h), 0);
		put_hdr(buf, t, limit + 1, 0);
		assert_int_equal(proto_header_decode(buf, &h), -EMSGSIZE);
		/* The rejected header is still reported, for the error message. */
		assert_int_equal(h.type, t);
		assert_int_equal(h.length, limit + 1);
		put_hdr(buf, t, UINT32_MAX, 0);
		assert_int_equal(proto_header_decode(buf, &h), -EMSGSIZE);
	}
	/* INPUT comes from any client: it gets the control limit, not the output one. */
	assert_int_equal(limit_of(PROTO_INPUT), PROTO_MAX_CONTROL);
}

/* ---- the reader ------------------------------------------------------- */

/* Three records: a control record, an output record, a zero-length one. */
static size_t three_records(uint8_t *buf)
{
	struct proto_msg m = { .version = 1, .has_version = true };
	size_t n = 0;
	int len;

	snprintf(m.identity, sizeof(m.identity), "HOST\\user");
	m.has_identity = true;
	len = proto_record_encode(PROTO_HELLO, 0, &m, buf, 256);
	assert_true(len > PROTO_HEADER_SIZE);
	n += (size_t)len;
	put_hdr(buf + n, PROTO_OUTPUT, 11, 1000);
	memcpy(buf + n + PROTO_HEADER_SIZE, "hello world", 11);
	n += PROTO_HEADER_SIZE + 11;
	put_hdr(buf + n, PROTO_BYE, 0, 0);
	n += PROTO_HEADER_SIZE;
	return n;
}

struct seen {
	int count;
	uint8_t type[4];
	uint32_t length[4];
	uint64_t seq[4];
	uint8_t payload[4][64];
};

/* Feed one piece, collecting every record it completes. */
static void feed_piece(struct proto_reader *r, const uint8_t *p, size_t n, struct seen *s)
{
	while (n > 0) {
		size_t used = 0;
		int rc = proto_reader_feed(r, p, n, &used);

		assert_true(rc == 0 || rc == 1);
		assert_true(used <= n);
		if (rc == 0) {
			assert_int_equal(used, n);
		} else {
			int i = s->count++;

			assert_true(i < 4);
			assert_int_equal(r->payload_got, r->h.length);
			s->type[i] = r->h.type;
			s->length[i] = r->h.length;
			s->seq[i] = r->h.seq;
			assert_true(r->h.length <= sizeof(s->payload[i]));
			if (r->h.length)
				memcpy(s->payload[i], r->payload, r->h.length);
			proto_reader_next(r);
		}
		p += used;
		n -= used;
	}
}

static void check_three(const struct seen *s)
{
	struct proto_msg m;

	assert_int_equal(s->count, 3);
	assert_int_equal(s->type[0], PROTO_HELLO);
	assert_int_equal(proto_msg_decode(s->payload[0], s->length[0], &m), 0);
	assert_true(m.has_version && m.version == 1);
	assert_string_equal(m.identity, "HOST\\user");
	assert_int_equal(s->type[1], PROTO_OUTPUT);
	assert_int_equal(s->length[1], 11);
	assert_true(s->seq[1] == 1000);
	assert_memory_equal(s->payload[1], "hello world", 11);
	assert_int_equal(s->type[2], PROTO_BYE);
	assert_int_equal(s->length[2], 0);
}

static void test_proto_reader_every_split_of_three_records(void **state)
{
	uint8_t buf[512];
	size_t n = three_records(buf);

	/* Every pair of cut points: header splits, payload splits, cuts on
	 * record boundaries and pieces holding several records. */
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct proto_reader r;
			struct seen s = { 0 };

			proto_reader_init(&r);
			feed_piece(&r, buf, a, &s);
			feed_piece(&r, buf + a, b - a, &s);
			feed_piece(&r, buf + b, n - b, &s);
			check_three(&s);
			assert_int_equal(r.hdr_got, 0);
			proto_reader_free(&r);
		}
	}
}

static void test_proto_reader_one_byte_feeds(void **state)
{
	uint8_t buf[512];
	size_t n = three_records(buf);
	struct proto_reader r;
	struct seen s = { 0 };

	proto_reader_init(&r);
	for (size_t i = 0; i < n; i++)
		feed_piece(&r, buf + i, 1, &s);
	check_three(&s);
	proto_reader_free(&r);
}

static void test_proto_reader_stops_after_one_record_and_reports_used(void **state)
{
	uint8_t buf[512];
	size_t n = three_records(buf);
	size_t first = n - (PROTO_HEADER_SIZE + 11) - PROTO_HEADER_SIZE;
	struct proto_reader r;
	size_t used = 99;

	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, buf, n, &used), 1);
	assert_int_equal(used, first);
	assert_int_equal(r.h.type, PROTO_HELLO);
	/* Until next(), the record stays put and nothing more is consumed. */
	used = 99;
	assert_int_equal(proto_reader_feed(&r, buf + first, n - first, &used), 1);
	assert_int_equal(used, 0);
	assert_int_equal(r.h.type, PROTO_HELLO);
	proto_reader_next(&r);

	assert_int_equal(proto_reader_feed(&r, buf + first, n - first, &used), 1);
	assert_int_equal(used, PROTO_HEADER_SIZE + 11);
	assert_int_equal(r.h.type, PROTO_OUTPUT);
	proto_reader_next(&r);
	first += used;
	assert_int_equal(proto_reader_feed(&r, buf + first, n - first, &used), 1);
	assert_int_equal(used, PROTO_HEADER_SIZE);
	assert_int_equal(r.h.type, PROTO_BYE);
	proto_reader_free(&r);
}

static void test_proto_reader_zero_length_completes_after_header(void **state)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_reader r;
	size_t used;

	put_hdr(buf, PROTO_INTERRUPT, 0, 0);
	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, buf, PROTO_HEADER_SIZE - 1, &used), 0);
	assert_int_equal(used, PROTO_HEADER_SIZE - 1);
	/* The last header byte completes it: no further (empty) feed needed. */
	assert_int_equal(proto_reader_feed(&r, buf + PROTO_HEADER_SIZE - 1, 1, &used), 1);
	assert_int_equal(used, 1);
	assert_int_equal(r.h.type, PROTO_INTERRUPT);
	assert_int_equal(r.h.length, 0);
	assert_int_equal(r.payload_got, 0);
	assert_null(r.payload);
	proto_reader_free(&r);
}

static void test_proto_reader_empty_feed_needs_more(void **state)
{
	struct proto_reader r;
	size_t used = 99;

	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, NULL, 0, &used), 0);
	assert_int_equal(used, 0);
	proto_reader_free(&r);
}

static void test_proto_reader_grows_only_as_bytes_arrive(void **state)
{
	uint8_t hdr[PROTO_HEADER_SIZE], chunk[4096];
	struct proto_reader r;
	size_t used, total = PROTO_MAX_OUTPUT;
	int rc = 0;

	/* A peer announcing the largest record costs nothing until it sends. */
	put_hdr(hdr, PROTO_OUTPUT, (uint32_t)total, 0);
	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, hdr, sizeof(hdr), &used), 0);
	assert_true(r.payload_cap < 1024);
	fill(chunk, sizeof(chunk), 7);
	assert_int_equal(proto_reader_feed(&r, chunk, 100, &used), 0);
	assert_true(r.payload_cap >= 100 && r.payload_cap < 1024);
	for (size_t got = 100; got < total; got += used) {
		size_t k = total - got < sizeof(chunk) ? total - got : sizeof(chunk);

		rc = proto_reader_feed(&r, chunk, k, &used);
		assert_int_equal(used, k);
		/* Doubling: never more than twice what arrived. */
		assert_true(r.payload_cap <= 2 * (got + k));
	}
	assert_int_equal(rc, 1);
	assert_int_equal(r.payload_cap, total);
	assert_memory_equal(r.payload + 100, chunk, 64);
	/* Going idle after a big record does not keep the big buffer. */
	proto_reader_next(&r);
	assert_true(r.payload_cap <= (64u << 10));
	proto_reader_free(&r);
}

static void test_proto_reader_reuses_buffer_for_small_records(void **state)
{
	uint8_t rec[PROTO_HEADER_SIZE + 100];
	struct proto_reader r;
	uint8_t *first;
	size_t used;

	put_hdr(rec, PROTO_INPUT, 100, 0);
	fill(rec + PROTO_HEADER_SIZE, 100, 9);
	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, rec, sizeof(rec), &used), 1);
	first = r.payload;
	proto_reader_next(&r);
	assert_int_equal(proto_reader_feed(&r, rec, sizeof(rec), &used), 1);
	assert_ptr_equal(r.payload, first);
	assert_memory_equal(r.payload, rec + PROTO_HEADER_SIZE, 100);
	proto_reader_free(&r);
}

static void test_proto_reader_error_is_sticky(void **state)
{
	uint8_t bad[PROTO_HEADER_SIZE], good[PROTO_HEADER_SIZE];
	struct proto_reader r;
	size_t used;

	put_hdr(bad, 99, 0, 0);
	put_hdr(good, PROTO_BYE, 0, 0);
	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, bad, 10, &used), 0);
	assert_int_equal(proto_reader_feed(&r, bad + 10, 6, &used), -EPROTO);
	/* Whatever follows a bad header is not trusted, even after next(). */
	assert_int_equal(proto_reader_feed(&r, good, sizeof(good), &used), -EPROTO);
	assert_int_equal(used, 0);
	proto_reader_next(&r);
	assert_int_equal(proto_reader_feed(&r, good, sizeof(good), &used), -EPROTO);
	assert_int_equal(used, 0);
	/* Only a fresh reader starts over. */
	proto_reader_free(&r);
	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, good, sizeof(good), &used), 1);
	proto_reader_free(&r);
}

static void test_proto_reader_oversize_is_emsgsize_and_sticky(void **state)
{
	uint8_t hdr[PROTO_HEADER_SIZE];
	struct proto_reader r;
	size_t used;

	put_hdr(hdr, PROTO_INPUT, PROTO_MAX_CONTROL + 1, 0);
	proto_reader_init(&r);
	assert_int_equal(proto_reader_feed(&r, hdr, sizeof(hdr), &used), -EMSGSIZE);
	assert_null(r.payload);
	assert_int_equal(proto_reader_feed(&r, hdr, 1, &used), -EMSGSIZE);
	assert_int_equal(used, 0);
	proto_reader_free(&r);
}

/* ---- TLV bodies ------------------------------------------------------- */

static void test_proto_msg_round_trip_every_field(void **state)
{
	static uint8_t buf[PROTO_MAX_CONTROL];
	struct proto_msg m, got;
	int len;

	full_msg(&m);
	len = proto_msg_encode(&m, buf, sizeof(buf));
	assert_true(len > 0);
	/* Every field at its largest still fits one control record. */
	assert_true(len <= PROTO_MAX_CONTROL);
	assert_int_equal(proto_msg_decode(buf, (size_t)len, &got), 0);
	assert_msg_equal(&got, &m);
}

/* The spec's tag table, stated independently of src/proto.c's. */
enum kind { K_U32, K_U64, K_ID, K_TEXT, K_BYTES };
#define OFF(f) offsetof(struct proto_msg, f)
static const struct tag_spec {
	uint16_t tag;
	enum kind kind;
	size_t val;	/* the value's offset in struct proto_msg */
	size_t flag;	/* has_* (a bool), or *_len (a size_t) for K_BYTES */
	size_t max;
} tag_specs[] = {
	{ PROTO_T_VERSION, K_U32, OFF(version), OFF(has_version), 4 },
	{ PROTO_T_IDENTITY, K_TEXT, OFF(identity), OFF(has_identity), PROTO_TEXT_MAX },
	{ PROTO_T_SESSION, K_ID, OFF(session), OFF(has_session), 16 },
	{ PROTO_T_RESUME, K_U64, OFF(resume), OFF(has_resume), 8 },
	{ PROTO_T_SALT, K_BYTES, OFF(salt), OFF(salt_len), 64 },
	{ PROTO_T_SRP_B, K_BYTES, OFF(srp_b), OFF(srp_b_len), PROTO_SRP_MAX },
	{ PROTO_T_SRP_A, K_BYTES, OFF(srp_a), OFF(srp_a_len), PROTO_SRP_MAX },
	{ PROTO_T_SRP_M1, K_BYTES, OFF(srp_m1), OFF(srp_m1_len), 64 },
	{ PROTO_T_SRP_M2, K_BYTES, OFF(srp_m2), OFF(srp_m2_len), 64 },
	{ PROTO_T_ROLE, K_U32, OFF(role), OFF(has_role), 4 },
	{ PROTO_T_START, K_U64, OFF(start), OFF(has_start), 8 },
	{ PROTO_T_CODE, K_U32, OFF(code), OFF(has_code), 4 },
	{ PROTO_T_REASON, K_TEXT, OFF(reason), OFF(has_reason), PROTO_TEXT_MAX },
	{ PROTO_T_FROM, K_U64, OFF(from), OFF(has_from), 8 },
	{ PROTO_T_TO, K_U64, OFF(to), OFF(has_to), 8 },
	{ PROTO_T_AUTH, K_U32, OFF(auth), OFF(has_auth), 4 },
	{ PROTO_T_HOST, K_TEXT, OFF(host), OFF(has_host), PROTO_TEXT_MAX },
	{ PROTO_T_PROGRAM, K_TEXT, OFF(program), OFF(has_program), PROTO_TEXT_MAX },
	{ PROTO_T_STATE, K_U32, OFF(state), OFF(has_state), 4 },
	{ PROTO_T_STATUS, K_U32, OFF(status), OFF(has_status), 4 },
	{ PROTO_T_TEXT, K_TEXT, OFF(text), OFF(has_text), PROTO_TEXT_MAX },
	{ PROTO_T_RELAY, K_U32, OFF(relay), OFF(has_relay), 4 },
	{ PROTO_T_TICKET, K_BYTES, OFF(ticket), OFF(ticket_len), 64 },
	{ PROTO_T_LOCKED, K_U32, OFF(locked), OFF(has_locked), 4 },
	{ PROTO_T_REJOIN, K_U32, OFF(rejoin), OFF(has_rejoin), 4 },
};
#define NTAGS (sizeof(tag_specs) / sizeof(tag_specs[0]))

/* What decoding one item of spec T with value VAL (LEN bytes) must give. */
static void expected_msg(const struct tag_spec *t, const uint8_t *val, size_t len,
			 struct proto_msg *m)
{
	uint8_t *base = (uint8_t *)m;
	uint64_t num = 0;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < len && t->kind <= K_U64; i++)
		num = num << 8 | val[i];
	if (t->kind == K_U32) {
		uint32_t v = (uint32_t)num;

		memcpy(base + t->val, &v, sizeof(v));
	} else if (t->kind == K_U64) {
		memcpy(base + t->val, &num, sizeof(num));
	} else {
		memcpy(base + t->val, val, len);
	}
	if (t->kind == K_BYTES) {
		memcpy(base + t->flag, &len, sizeof(len));
	} else {
		bool yes = true;

		memcpy(base + t->flag, &yes, sizeof(yes));
	}
}

static void test_proto_msg_round_trip_each_field_alone(void **state)
{
	assert_int_equal(NTAGS, PROTO_T_REJOIN);
	for (size_t i = 0; i < NTAGS; i++) {
		const struct tag_spec *t = &tag_specs[i];
		size_t lens[2] = { t->kind == K_TEXT || t->kind == K_BYTES ? 1 : t->max, t->max };

		assert_int_equal(t->tag, i + 1);
		/* The smallest and the largest legal value of every field. */
		for (int v = 0; v < 2; v++) {
			uint8_t val[PROTO_SRP_MAX], item[4 + PROTO_SRP_MAX], out[4 + PROTO_SRP_MAX];
			struct proto_msg got, want;
			size_t n;

			for (size_t k = 0; k < lens[v]; k++)
				val[k] = t->kind == K_TEXT ? (uint8_t)(' ' + k % 95)
							   : (uint8_t)(k * 13 + 1);
			n = put_tlv(item, t->tag, val, (uint16_t)lens[v]);
			expected_msg(t, val, lens[v], &want);
			assert_int_equal(proto_msg_decode(item, n, &got), 0);
			assert_msg_equal(&got, &want);
			/* Re-encoding gives back the very same bytes. */
			assert_int_equal(proto_msg_encode(&got, out, sizeof(out)), n);
			assert_memory_equal(out, item, n);
		}
	}
}

static void test_proto_msg_encode_layout_and_ascending_tags(void **state)
{
	static const uint8_t want[] = {
		0, 1, 0, 4, 0, 0, 0, 1,					/* VERSION 1 */
		0, 11, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0x00,		/* START 4096 */
		0, 13, 0, 2, 'n', 'o',					/* REASON "no" */
	};
	struct proto_msg m = { 0 };
	uint8_t buf[64];
	struct proto_msg full;
	static uint8_t big[PROTO_MAX_CONTROL];
	unsigned last = 0;
	int len;

	/* Set in an order different from the tags'. */
	snprintf(m.reason, sizeof(m.reason), "no");
	m.has_reason = true;
	m.start = 4096;
	m.has_start = true;
	m.version = 1;
	m.has_version = true;
	len = proto_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	full_msg(&full);
	len = proto_msg_encode(&full, big, sizeof(big));
	for (size_t pos = 0; pos < (size_t)len;) {
		unsigned tag = (unsigned)big[pos] << 8 | big[pos + 1];
		size_t l = (size_t)big[pos + 2] << 8 | big[pos + 3];

		assert_true(tag > last);
		last = tag;
		pos += 4 + l;
	}
	assert_int_equal(last, PROTO_T_REJOIN);
}

static void test_proto_msg_empty_body(void **state)
{
	struct proto_msg m = { 0 }, got;
	uint8_t buf[4];

	assert_int_equal(proto_msg_encode(&m, buf, 0), 0);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(proto_msg_decode(buf, 0, &got), 0);
	assert_msg_equal(&got, &m);
}

static void test_proto_msg_decode_every_truncation_point(void **state)
{
	static uint8_t buf[PROTO_MAX_CONTROL];
	struct proto_msg m, got;
	int len;

	full_msg(&m);
	len = proto_msg_encode(&m, buf, sizeof(buf));
	assert_true(len > 0);
	/* A cut on an item boundary is a valid shorter body; anywhere else
	 * it must be refused. */
	for (size_t cut = 0; cut < (size_t)len; cut++) {
		size_t pos = 0;

		while (pos < cut)
			pos += 4 + ((size_t)buf[pos + 2] << 8 | buf[pos + 3]);
		assert_int_equal(proto_msg_decode(buf, cut, &got), pos == cut ? 0 : -EPROTO);
	}
}

/* Decode a body of one item. */
static int decode_one(uint16_t tag, const void *val, uint16_t len, struct proto_msg *m)
{
	static uint8_t buf[4 + 1024];

	assert_true(len <= 1024);
	return proto_msg_decode(buf, put_tlv(buf, tag, val, len), m);
}

static void test_proto_msg_decode_wrong_size_u32(void **state)
{
	uint8_t val[9] = { 0 };
	struct proto_msg m;
	int tested = 0;

	for (size_t i = 0; i < NTAGS; i++) {
		if (tag_specs[i].kind != K_U32)
			continue;
		tested++;
		for (uint16_t l = 0; l <= 8; l++)
			assert_int_equal(decode_one(tag_specs[i].tag, val, l, &m),
					 l == 4 ? 0 : -EPROTO);
	}
	/* VERSION ROLE CODE AUTH STATE STATUS, and version 3's RELAY LOCKED REJOIN. */
	assert_int_equal(tested, 9);
}

static void test_proto_msg_decode_wrong_size_u64_and_session(void **state)
{
	uint8_t val[33] = { 0 };
	struct proto_msg m;
	int tested = 0;

	for (size_t i = 0; i < NTAGS; i++) {
		uint16_t want = tag_specs[i].kind == K_U64 ? 8 : 16;

		if (tag_specs[i].kind != K_U64 && tag_specs[i].kind != K_ID)
			continue;
		tested++;
		for (uint16_t l = 0; l <= 32; l++)
			assert_int_equal(decode_one(tag_specs[i].tag, val, l, &m),
					 l == want ? 0 : -EPROTO);
	}
	assert_int_equal(tested, 5);
}

static void test_proto_msg_decode_text_lengths(void **state)
{
	uint8_t val[300];
	struct proto_msg m;
	int tested = 0;

	memset(val, 'a', sizeof(val));
	for (size_t i = 0; i < NTAGS; i++) {
		uint16_t tag = tag_specs[i].tag;

		if (tag_specs[i].kind != K_TEXT)
			continue;
		tested++;
		assert_int_equal(decode_one(tag, val, 0, &m), -EPROTO);
		assert_int_equal(decode_one(tag, val, 1, &m), 0);
		assert_int_equal(decode_one(tag, val, PROTO_TEXT_MAX, &m), 0);
		assert_int_equal(decode_one(tag, val, PROTO_TEXT_MAX + 1, &m), -EPROTO);
		assert_int_equal(decode_one(tag, val, 300, &m), -EPROTO);
	}
	assert_int_equal(tested, 5);
	/* The stored text is NUL-terminated at its length. */
	assert_int_equal(decode_one(PROTO_T_HOST, "box", 3, &m), 0);
	assert_true(m.has_host);
	assert_string_equal(m.host, "box");
}

static void test_proto_msg_decode_text_with_control_bytes(void **state)
{
	uint8_t val[8];
	struct proto_msg m;

	/* A lone byte of 0x80 or more is not UTF-8 either. */
	for (unsigned c = 0; c < 256; c++) {
		bool ok = c >= 0x20 && c < 0x7f;

		/* The byte first, in the middle and last. */
		for (int at = 0; at < 3; at++) {
			memcpy(val, "abc", 3);
			val[at] = (uint8_t)c;
			assert_int_equal(decode_one(PROTO_T_REASON, val, 3, &m), ok ? 0 : -EPROTO);
		}
	}
}

/* C1 controls and bidi overrides as UTF-8 would act on a terminal (CSI is
 * U+009B); other characters, accented or not, are text. */
static void test_proto_msg_decode_text_with_utf8_controls(void **state)
{
	static const struct { const char *text; bool ok; } cases[] = {
		{ "caf\xc3\xa9", true },		/* é */
		{ "\xe2\x82\xac 5", true },		/* € */
		{ "\xf0\x9f\x90\x9b", true },	/* a four-byte character */
		{ "a\xc2\x9b" "2J", false },		/* U+009B: CSI */
		{ "a\xc2\x80", false },		/* U+0080 */
		{ "a\xc2\x9f", false },		/* U+009F */
		{ "a\xc2\xa0", true },		/* U+00A0, just past C1 */
		{ "a\xe2\x80\xae", false },		/* U+202E: right-to-left override */
		{ "a\xe2\x80\xa8", false },		/* U+2028: line separator */
		{ "a\xc0\x9b", false },		/* overlong ESC */
		{ "a\xed\xa0\x80", false },		/* a surrogate */
		{ "a\xe2\x82", false },		/* cut short */
	};
	struct proto_msg m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(decode_one(PROTO_T_REASON, cases[i].text, strlen(cases[i].text), &m),
				 cases[i].ok ? 0 : -EPROTO);
}

/* The owner of a reader says which types it takes now and how big: a record
 * outside that fails at its header, before any payload is stored. */
static void test_proto_reader_allowed_types_and_limit(void **state)
{
	uint8_t hdr[PROTO_HEADER_SIZE];
	struct proto_reader r;
	size_t used;

	proto_reader_init(&r);
	r.allowed = PROTO_TYPE_BIT(PROTO_HELLO) | PROTO_TYPE_BIT(PROTO_PROOF);
	put_hdr(hdr, PROTO_OUTPUT, PROTO_MAX_OUTPUT, 0);
	assert_int_equal(proto_reader_feed(&r, hdr, sizeof(hdr), &used), -EPROTO);
	assert_int_equal(r.h.type, PROTO_OUTPUT);
	assert_null(r.payload);
	proto_reader_free(&r);

	proto_reader_init(&r);
	r.allowed = PROTO_TYPE_BIT(PROTO_HELLO);
	r.max_length = 100;
	put_hdr(hdr, PROTO_HELLO, 101, 0);
	assert_int_equal(proto_reader_feed(&r, hdr, sizeof(hdr), &used), -EMSGSIZE);
	assert_null(r.payload);
	proto_reader_free(&r);

	proto_reader_init(&r);
	r.allowed = PROTO_TYPE_BIT(PROTO_HELLO);
	r.max_length = 100;
	put_hdr(hdr, PROTO_HELLO, 0, 0);
	assert_int_equal(proto_reader_feed(&r, hdr, sizeof(hdr), &used), 1);
	proto_reader_next(&r);
	/* Changed between records, the new set applies to the next header. */
	r.allowed = PROTO_TYPE_BIT(PROTO_INPUT);
	assert_int_equal(proto_reader_feed(&r, hdr, sizeof(hdr), &used), -EPROTO);
	proto_reader_free(&r);
}

static void test_proto_msg_decode_byte_field_too_long(void **state)
{
	static uint8_t val[1024];
	struct proto_msg m;
	int tested = 0;

	for (size_t i = 0; i < NTAGS; i++) {
		const struct tag_spec *t = &tag_specs[i];

		if (t->kind != K_BYTES)
			continue;
		tested++;
		assert_int_equal(decode_one(t->tag, val, (uint16_t)t->max, &m), 0);
		assert_int_equal(decode_one(t->tag, val, (uint16_t)t->max + 1, &m), -EPROTO);
	}
	/* SALT, SRP_B, SRP_A, SRP_M1, SRP_M2 and version 3's TICKET. */
	assert_int_equal(tested, 6);
}

static void test_proto_msg_decode_duplicate_tag(void **state)
{
	uint8_t buf[64], one[4] = { 0, 0, 0, 1 };
	struct proto_msg m;
	size_t n = 0;

	n += put_tlv(buf + n, PROTO_T_VERSION, one, 4);
	n += put_tlv(buf + n, PROTO_T_HOST, "h", 1);
	n += put_tlv(buf + n, PROTO_T_VERSION, one, 4);
	assert_int_equal(proto_msg_decode(buf, n, &m), -EPROTO);
	/* Byte fields count as given even when empty. */
	n = put_tlv(buf, PROTO_T_SALT, NULL, 0);
	n += put_tlv(buf + n, PROTO_T_SALT, "s", 1);
	assert_int_equal(proto_msg_decode(buf, n, &m), -EPROTO);
	/* An unknown tag twice is skipped twice. */
	n = put_tlv(buf, 999, "x", 1);
	n += put_tlv(buf + n, 999, "y", 1);
	assert_int_equal(proto_msg_decode(buf, n, &m), 0);
}

static void test_proto_msg_decode_unknown_tag_skipped(void **state)
{
	uint8_t buf[128], junk[20] = { 0xff, 0x00, 0x1b, 0x7f };
	uint8_t one[4] = { 0, 0, 0, 1 };
	struct proto_msg m;
	size_t n = 0;

	n += put_tlv(buf + n, 0, junk, 3);
	n += put_tlv(buf + n, PROTO_T_VERSION, one, 4);
	n += put_tlv(buf + n, 26, junk, 20);		/* the first tag after PROTO_T_REJOIN */
	n += put_tlv(buf + n, 0xffff, NULL, 0);
	n += put_tlv(buf + n, PROTO_T_HOST, "box", 3);
	assert_int_equal(proto_msg_decode(buf, n, &m), 0);
	assert_true(m.has_version);
	assert_int_equal(m.version, 1);
	assert_true(m.has_host);
	assert_string_equal(m.host, "box");
	/* An unknown tag's length still has to fit. */
	n = put_tlv(buf, 0x4242, junk, 20);
	assert_int_equal(proto_msg_decode(buf, n - 1, &m), -EPROTO);
}

static void test_proto_msg_encode_rejects_what_decode_would(void **state)
{
	struct proto_msg m;
	uint8_t buf[2048];

	memset(&m, 0, sizeof(m));
	m.has_identity = true;				/* empty text */
	assert_int_equal(proto_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	memset(m.identity, 'a', sizeof(m.identity));	/* no NUL within 256 bytes */
	assert_int_equal(proto_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	strcpy(m.identity, "two\nlines");
	assert_int_equal(proto_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	strcpy(m.identity, "del\x7f");
	assert_int_equal(proto_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	strcpy(m.identity, "HOST\\user");
	assert_int_equal(proto_msg_encode(&m, buf, sizeof(buf)), 4 + 9);
	m.srp_m1_len = sizeof(m.srp_m1) + 1;
	assert_int_equal(proto_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.srp_m1_len = 0;
	m.srp_a_len = PROTO_SRP_MAX + 1;
	assert_int_equal(proto_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* A string longer than 255 but NUL-terminated inside the array. */
	m.srp_a_len = 0;
	memset(m.text, 'a', PROTO_TEXT_MAX);
	m.text[PROTO_TEXT_MAX] = '\0';
	m.has_text = true;
	assert_true(proto_msg_encode(&m, buf, sizeof(buf)) > 0);
}

static void test_proto_msg_encode_enospc_one_byte_short(void **state)
{
	static uint8_t buf[PROTO_MAX_CONTROL];
	struct proto_msg m;
	int len;

	full_msg(&m);
	len = proto_msg_encode(&m, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(proto_msg_encode(&m, buf, (size_t)len), len);
	assert_int_equal(proto_msg_encode(&m, buf, (size_t)len - 1), -ENOSPC);
	assert_int_equal(proto_msg_encode(&m, buf, 0), -ENOSPC);
}

/* ---- whole records ---------------------------------------------------- */

static void test_proto_record_encode_enospc_one_byte_short(void **state)
{
	struct proto_msg m = { 0 };
	uint8_t buf[256], hdr[PROTO_HEADER_SIZE];
	int len;

	m.code = PROTO_REFUSAL_CODE;
	m.has_code = true;
	snprintf(m.reason, sizeof(m.reason), "wrong password");
	m.has_reason = true;
	len = proto_record_encode(PROTO_REFUSE, 0, &m, buf, sizeof(buf));
	assert_int_equal(len, PROTO_HEADER_SIZE + 8 + 4 + 14);
	assert_int_equal(proto_record_encode(PROTO_REFUSE, 0, &m, buf, (size_t)len), len);
	assert_int_equal(proto_record_encode(PROTO_REFUSE, 0, &m, buf, (size_t)len - 1), -ENOSPC);
	/* Room for the body but not the header. */
	assert_int_equal(proto_record_encode(PROTO_REFUSE, 0, &m, buf, PROTO_HEADER_SIZE - 1),
			 -ENOSPC);
	/* An empty body: exactly the header. */
	assert_int_equal(proto_record_encode(PROTO_BYE, 0, NULL, buf, PROTO_HEADER_SIZE),
			 PROTO_HEADER_SIZE);
	put_hdr(hdr, PROTO_BYE, 0, 0);
	assert_memory_equal(buf, hdr, PROTO_HEADER_SIZE);
	assert_int_equal(proto_record_encode(PROTO_BYE, 0, NULL, buf, PROTO_HEADER_SIZE - 1),
			 -ENOSPC);
}

static void test_proto_record_encode_round_trip_through_reader(void **state)
{
	static const uint8_t types[] = {
		PROTO_WELCOME, PROTO_CHALLENGE, PROTO_ACCEPT, PROTO_REFUSE, PROTO_GAP,
		PROTO_STATE, PROTO_HELLO, PROTO_PROOF, PROTO_INTERRUPT, PROTO_BYE,
	};
	static uint8_t buf[PROTO_HEADER_SIZE + PROTO_MAX_CONTROL];
	struct proto_msg m, got;

	full_msg(&m);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct proto_reader r;
		size_t used;
		int len = proto_record_encode(types[i], 7, &m, buf, sizeof(buf));

		assert_true(len > PROTO_HEADER_SIZE);
		proto_reader_init(&r);
		assert_int_equal(proto_reader_feed(&r, buf, (size_t)len, &used), 1);
		assert_int_equal(used, len);
		assert_int_equal(r.h.type, types[i]);
		assert_true(r.h.seq == 7);
		assert_int_equal(proto_msg_decode(r.payload, r.h.length, &got), 0);
		assert_msg_equal(&got, &m);
		proto_reader_free(&r);
	}
}

static void test_proto_record_encode_rejects_raw_and_unknown_types(void **state)
{
	static const uint8_t raw[] = {
		PROTO_OUTPUT, PROTO_NOTICE, PROTO_TYPED, PROTO_PRIVATE, PROTO_INPUT,
		PROTO_SUB_PRIVATE, PROTO_SUB_INPUT, 0, 5, 43, 255,
	};
	struct proto_msg m = { 0 };
	uint8_t buf[64];

	for (size_t i = 0; i < sizeof(raw); i++)
		assert_int_equal(proto_record_encode(raw[i], 0, &m, buf, sizeof(buf)), -EINVAL);
}

static void test_proto_type_tlv_splits_types(void **state)
{
	for (unsigned t = 0; t < 256; t++) {
		bool raw = t == PROTO_OUTPUT || t == PROTO_NOTICE || t == PROTO_TYPED ||
			   t == PROTO_PRIVATE || t == PROTO_INPUT || t == PROTO_SUB_PRIVATE ||
			   t == PROTO_SUB_INPUT;

		assert_int_equal(proto_type_tlv((uint8_t)t), is_known_type(t) && !raw);
	}
}

static void test_proto_type_name_all_types_and_unknown(void **state)
{
	static const struct { uint8_t type; const char *name; } names[] = {
		{ PROTO_WELCOME, "WELCOME" }, { PROTO_CHALLENGE, "CHALLENGE" },
		{ PROTO_ACCEPT, "ACCEPT" }, { PROTO_REFUSE, "REFUSE" },
		{ PROTO_OUTPUT, "OUTPUT" }, { PROTO_NOTICE, "NOTICE" },
		{ PROTO_TYPED, "TYPED" }, { PROTO_GAP, "GAP" }, { PROTO_STATE, "STATE" },
		{ PROTO_PRIVATE, "PRIVATE" }, { PROTO_HELLO, "HELLO" }, { PROTO_PROOF, "PROOF" },
		{ PROTO_INPUT, "INPUT" }, { PROTO_INTERRUPT, "INTERRUPT" }, { PROTO_BYE, "BYE" },
		{ PROTO_HEARTBEAT, "HEARTBEAT" }, { PROTO_HEARTBEAT_ACK, "HEARTBEAT_ACK" },
		{ PROTO_SUB_CHALLENGE, "SUB_CHALLENGE" }, { PROTO_SUB_ACCEPT, "SUB_ACCEPT" },
		{ PROTO_SUB_REFUSE, "SUB_REFUSE" }, { PROTO_SUB_PRIVATE, "SUB_PRIVATE" },
		{ PROTO_SUB_HELLO, "SUB_HELLO" }, { PROTO_SUB_PROOF, "SUB_PROOF" },
		{ PROTO_SUB_INPUT, "SUB_INPUT" }, { PROTO_SUB_INTERRUPT, "SUB_INTERRUPT" },
		{ PROTO_SUB_BYE, "SUB_BYE" },
	};

	assert_int_equal(sizeof(names) / sizeof(names[0]), NTYPES);
	for (size_t i = 0; i < NTYPES; i++)
		assert_string_equal(proto_type_name(names[i].type), names[i].name);
	for (unsigned t = 0; t < 256; t++)
		if (!is_known_type(t))
			assert_string_equal(proto_type_name((uint8_t)t), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_preamble_bytes),
		cmocka_unit_test(test_proto_relay_types_and_directions),
		cmocka_unit_test(test_proto_msg_decode_text_with_utf8_controls),
		cmocka_unit_test(test_proto_reader_allowed_types_and_limit),
		cmocka_unit_test(test_proto_header_round_trip_every_type),
		cmocka_unit_test(test_proto_header_layout_is_big_endian),
		cmocka_unit_test(test_proto_header_decode_rejects_unknown_types),
		cmocka_unit_test(test_proto_header_decode_rejects_reserved_and_flag_bits),
		cmocka_unit_test(test_proto_header_decode_rejects_oversize_lengths_per_type),
		cmocka_unit_test(test_proto_reader_every_split_of_three_records),
		cmocka_unit_test(test_proto_reader_one_byte_feeds),
		cmocka_unit_test(test_proto_reader_stops_after_one_record_and_reports_used),
		cmocka_unit_test(test_proto_reader_zero_length_completes_after_header),
		cmocka_unit_test(test_proto_reader_empty_feed_needs_more),
		cmocka_unit_test(test_proto_reader_grows_only_as_bytes_arrive),
		cmocka_unit_test(test_proto_reader_reuses_buffer_for_small_records),
		cmocka_unit_test(test_proto_reader_error_is_sticky),
		cmocka_unit_test(test_proto_reader_oversize_is_emsgsize_and_sticky),
		cmocka_unit_test(test_proto_msg_round_trip_every_field),
		cmocka_unit_test(test_proto_msg_round_trip_each_field_alone),
		cmocka_unit_test(test_proto_msg_encode_layout_and_ascending_tags),
		cmocka_unit_test(test_proto_msg_empty_body),
		cmocka_unit_test(test_proto_msg_decode_every_truncation_point),
		cmocka_unit_test(test_proto_msg_decode_wrong_size_u32),
		cmocka_unit_test(test_proto_msg_decode_wrong_size_u64_and_session),
		cmocka_unit_test(test_proto_msg_decode_text_lengths),
		cmocka_unit_test(test_proto_msg_decode_text_with_control_bytes),
		cmocka_unit_test(test_proto_msg_decode_byte_field_too_long),
		cmocka_unit_test(test_proto_msg_decode_duplicate_tag),
		cmocka_unit_test(test_proto_msg_decode_unknown_tag_skipped),
		cmocka_unit_test(test_proto_msg_encode_rejects_what_decode_would),
		cmocka_unit_test(test_proto_msg_encode_enospc_one_byte_short),
		cmocka_unit_test(test_proto_record_encode_enospc_one_byte_short),
		cmocka_unit_test(test_proto_record_encode_round_trip_through_reader),
		cmocka_unit_test(test_proto_record_encode_rejects_raw_and_unknown_types),
		cmocka_unit_test(test_proto_type_tlv_splits_types),
		cmocka_unit_test(test_proto_type_name_all_types_and_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
