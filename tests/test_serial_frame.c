// SPDX-License-Identifier: MIT
/* Unit tests for serial/frame.c and serial/crc.c: the wire format byte for
 * byte, decoding at every split point, resynchronisation after garbage and
 * mid-stream starts, damaged, dropped and duplicated bytes, sequence gaps,
 * bounded buffering, and that a payload can never smuggle a frame in.  Ends
 * with a decoder throughput figure (printed, never asserted). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serial/frame.h"

/* ---- helpers ------------------------------------------------------------ */

struct got_frame {
	unsigned channel, seq, gap, len;
	bool first, control;
	uint8_t payload[SERIAL_FRAME_PAYLOAD_MAX];
};

struct collect {
	struct serial_dec dec;
	struct got_frame frames[64];
	size_t n;
	size_t fed;
};

static void collect_init(struct collect *c)
{
	memset(c, 0, sizeof(*c));
	serial_dec_init(&c->dec);
}

static void feed(struct collect *c, const uint8_t *p, size_t n)
{
	struct serial_frame f;

	c->fed += n;
	while (serial_dec_next(&c->dec, &p, &n, &f)) {
		struct got_frame *g;

		assert_true(c->n < sizeof(c->frames) / sizeof(c->frames[0]));
		g = &c->frames[c->n++];
		g->channel = f.channel;
		g->seq = f.seq;
		g->gap = f.gap;
		g->first = f.first;
		g->control = f.control;
		g->len = f.len;
		memcpy(g->payload, f.payload, f.len);
	}
	assert_int_equal(n, 0);
	/* Every byte is in a good frame, discarded, or pending. */
	assert_int_equal(c->dec.stats.bytes + c->dec.stats.discarded + serial_dec_pending(&c->dec),
			 c->fed);
}

/* A stream of frames built by the test, with where each frame starts. */
struct stream {
	uint8_t bytes[16384];
	size_t len;
	size_t start[32];
	size_t count;
};

static void add(struct stream *s, unsigned ch, uint16_t seq, const void *p, size_t n)
{
	size_t w = serial_frame_encode(s->bytes + s->len, sizeof(s->bytes) - s->len, ch, seq, p, n);

	assert_true(w > 0);
	s->start[s->count++] = s->len;
	s->len += w;
}

static void add_raw(struct stream *s, const void *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->bytes));
	memcpy(s->bytes + s->len, p, n);
	s->len += n;
}

static void assert_frame(const struct got_frame *g, unsigned ch, unsigned seq, const void *p,
			 size_t n)
{
	assert_int_equal(g->channel, ch);
	assert_int_equal(g->seq, seq);
	assert_int_equal(g->len, n);
	assert_memory_equal(g->payload, p, n);
}

/* The test stream: three channels, an empty frame, payloads holding 0xFE,
 * the sync pattern itself and a whole encoded frame. */
static const char text1[] = "(gdb) bt\n#0  main () at prog.c:12\n";
static const uint8_t bin2[] = { 0xFE, 0x52, 0xFE, 0x00, 0xFE, 0xFE, 0x52, 0x01, 0xFE };

static void test_stream(struct stream *s)
{
	uint8_t inner[64];
	size_t inner_len = serial_frame_encode(inner, sizeof(inner), 9, 7, "forged", 6);

	assert_true(inner_len > 0);
	memset(s, 0, sizeof(*s));
	add(s, 1, 0, text1, sizeof(text1) - 1);
	add(s, 2, 0, bin2, sizeof(bin2));
	add(s, 1, 1, "", 0);
	add(s, 254, 0xFFFF, inner, inner_len);
	add(s, 2, 1, text1, 5);
}

static void assert_test_stream(const struct collect *c, size_t from)
{
	uint8_t inner[64];
	size_t inner_len = serial_frame_encode(inner, sizeof(inner), 9, 7, "forged", 6);
	struct {
		unsigned ch, seq;
		const void *p;
		size_t n;
	} want[] = {
		{ 1, 0, text1, sizeof(text1) - 1 },
		{ 2, 0, bin2, sizeof(bin2) },
		{ 1, 1, "", 0 },
		{ 254, 0xFFFF, inner, inner_len },
		{ 2, 1, text1, 5 },
	};

	assert_int_equal(c->n, 5 - from);
	for (size_t i = from; i < 5; i++)
		assert_frame(&c->frames[i - from], want[i].ch, want[i].seq, want[i].p, want[i].n);
}

/* ---- checks ------------------------------------------------------------- */

static void test_crc_check_values(void **state)
{
	const char *v = "123456789";

	assert_int_equal(serial_crc32c(0, v, 9), 0xE3069283u);
	assert_int_equal(serial_crc8(v, 9), 0xF4);
	assert_int_equal(serial_crc32c(0, "", 0), 0);
	/* Chained in pieces, the same as whole. */
	assert_int_equal(serial_crc32c(serial_crc32c(0, v, 4), v + 4, 5), 0xE3069283u);
}

/* ---- the wire format ---------------------------------------------------- */

static void test_wire_format_exact(void **state)
{
	uint8_t buf[64], hdr[6] = { 3, 0x01, 0x02, 0x00, 0x02, 0 };
	uint8_t body[8];
	uint32_t crc;
	size_t n = serial_frame_encode(buf, sizeof(buf), 3, 0x0102, "hi", 2);

	hdr[5] = serial_crc8(hdr, 5) ^ 0x55;
	memcpy(body, hdr, 6);
	memcpy(body + 6, "hi", 2);
	crc = serial_crc32c(0, body, 8);
	if (hdr[5] == 0xFE || (crc >> 24) == 0xFE || (uint8_t)(crc >> 16) == 0xFE ||
	    (uint8_t)(crc >> 8) == 0xFE || (uint8_t)crc == 0xFE)
		fail_msg("the test frame needs escapes; pick another");
	assert_int_equal(n, SERIAL_FRAME_WIRE(2));
	assert_int_equal(buf[0], 0xFE);
	assert_int_equal(buf[1], 0x52);
	assert_memory_equal(buf + 2, hdr, 6);
	assert_memory_equal(buf + 8, "hi", 2);
	assert_int_equal(buf[10], crc >> 24);
	assert_int_equal(buf[11], (uint8_t)(crc >> 16));
	assert_int_equal(buf[12], (uint8_t)(crc >> 8));
	assert_int_equal(buf[13], (uint8_t)crc);
}

static void test_escaping(void **state)
{
	uint8_t all_fe[SERIAL_FRAME_PAYLOAD_MAX], buf[SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX)];
	size_t n;
	struct collect c;

	memset(all_fe, 0xFE, sizeof(all_fe));
	n = serial_frame_encode(buf, sizeof(buf), 0, 0, all_fe, sizeof(all_fe));
	assert_true(n > 2 * sizeof(all_fe));
	assert_true(n <= SERIAL_FRAME_WIRE_WORST(sizeof(all_fe)));
	/* The sync occurs once, at the start; every other FE is FE 00. */
	for (size_t i = 2; i < n; i++)
		if (buf[i] == 0xFE)
			assert_int_equal(buf[++i], 0x00);
	collect_init(&c);
	feed(&c, buf, n);
	assert_int_equal(c.n, 1);
	assert_frame(&c.frames[0], 0, 0, all_fe, sizeof(all_fe));
}

static void test_encode_refuses(void **state)
{
	uint8_t buf[SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX + 1)];
	uint8_t payload[SERIAL_FRAME_PAYLOAD_MAX + 1] = { 0 };
	size_t n;

	assert_int_equal(serial_frame_encode(buf, sizeof(buf), 0, 0, payload, sizeof(payload)), 0);
	assert_int_equal(serial_frame_encode(buf, sizeof(buf), 256, 0, payload, 1), 0);
	/* Too small by any amount: nothing. */
	payload[3] = 0xFE;
	n = serial_frame_encode(buf, sizeof(buf), 7, 0, payload, 10);
	assert_true(n > SERIAL_FRAME_WIRE(10));
	for (size_t cap = 0; cap < n; cap++)
		assert_int_equal(serial_frame_encode(buf, cap, 7, 0, payload, 10), 0);
	assert_int_equal(serial_frame_encode(buf, n, 7, 0, payload, 10), n);
	/* The largest payload fits its own worst case. */
	memset(payload, 0xFE, SERIAL_FRAME_PAYLOAD_MAX);
	n = serial_frame_encode(buf, SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX), 0xFE, 0xFEFE,
				payload, SERIAL_FRAME_PAYLOAD_MAX);
	assert_true(n > 2 * SERIAL_FRAME_PAYLOAD_MAX + 6);
	assert_true(n <= SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX));
}

/* A control frame is a frame with the length field's top bit set: the same
 * checks, the same sequence, the flag delivered; the reserved bits below it
 * still make a header invalid. */
static void test_control_frames(void **state)
{
	struct serial_ctl open = { .op = SERIAL_CTL_OPEN, .id = 0xFE01 }, got;
	struct serial_ctl close = { .op = SERIAL_CTL_CLOSE, .id = 0, .reason = SERIAL_CLOSE_BROKEN };
	uint8_t msg[SERIAL_CTL_LEN], buf[64], bad[64];
	struct stream s = { 0 };
	struct collect c;
	size_t w;

	serial_ctl_encode(msg, &open);
	assert_memory_equal(msg, "\x01\xFE\x01\x00", 4);
	w = serial_frame_encode_flags(buf, sizeof(buf), 3, 7, SERIAL_FRAME_CTL, msg, sizeof(msg));
	assert_true(w >= SERIAL_FRAME_WIRE(4));
	/* The flag is the length field's top bit, covered by the HEC. */
	assert_int_equal(buf[5], 0x80);
	assert_int_equal(buf[6], 0x04);
	add_raw(&s, buf, w);
	add(&s, 3, 8, "data", 4);
	serial_ctl_encode(msg, &close);
	w = serial_frame_encode_flags(buf, sizeof(buf), 3, 9, SERIAL_FRAME_CTL, msg, sizeof(msg));
	add_raw(&s, buf, w);
	collect_init(&c);
	feed(&c, s.bytes, s.len);
	assert_int_equal(c.n, 3);
	assert_true(c.frames[0].control);
	assert_false(c.frames[1].control);
	assert_true(c.frames[2].control);
	assert_int_equal(c.frames[1].gap, 0);
	assert_int_equal(c.frames[2].gap, 0);
	assert_int_equal(serial_ctl_decode(c.frames[0].payload, c.frames[0].len, &got), 0);
	assert_int_equal(got.op, SERIAL_CTL_OPEN);
	assert_int_equal(got.id, 0xFE01);
	assert_int_equal(serial_ctl_decode(c.frames[2].payload, c.frames[2].len, &got), 0);
	assert_int_equal(got.op, SERIAL_CTL_CLOSE);
	assert_int_equal(got.reason, SERIAL_CLOSE_BROKEN);
	/* Short messages and unknown ops are refused; longer ones are read. */
	assert_int_equal(serial_ctl_decode(msg, 3, &got), -EINVAL);
	memcpy(bad, "\x07\x00\x01\x00", 4);
	assert_int_equal(serial_ctl_decode(bad, 4, &got), -EINVAL);
	memcpy(bad, "\x02\x00\x05\x01extra", 9);
	assert_int_equal(serial_ctl_decode(bad, 9, &got), 0);
	assert_int_equal(got.id, 5);
	/* Any other flag is refused by the encoder. */
	assert_int_equal(serial_frame_encode_flags(buf, sizeof(buf), 3, 0, 0x4000, msg, 4), 0);
	/* A header with a reserved bit (0x4000) set is invalid, HEC or not. */
	{
		uint8_t hdr[8] = { 0xFE, 0x52, 3, 0, 0, 0xC0, 0x04, 0 };

		hdr[7] = serial_crc8(hdr + 2, 5) ^ 0x55;
		if (hdr[7] == 0xFE)
			fail_msg("pick another header");
		collect_init(&c);
		feed(&c, hdr, sizeof(hdr));
		assert_int_equal(c.dec.stats.header_errors, 1);
	}
	assert_string_equal(serial_close_reason_text(SERIAL_CLOSE_NOBODY),
			    "no server on this channel");
}

/* ---- decoding ----------------------------------------------------------- */

static void test_split_anywhere(void **state)
{
	struct stream s;
	struct collect c;

	test_stream(&s);
	for (size_t at = 0; at <= s.len; at++) {
		collect_init(&c);
		feed(&c, s.bytes, at);
		feed(&c, s.bytes + at, s.len - at);
		assert_test_stream(&c, 0);
		assert_int_equal(c.dec.stats.discarded, 0);
		assert_int_equal(c.dec.stats.resyncs, 0);
		assert_int_equal(serial_dec_pending(&c.dec), 0);
	}
	/* Two split points at once, over the first three frames. */
	for (size_t a = 0; a <= s.start[3]; a++)
		for (size_t b = a; b <= s.start[3]; b += 3) {
			collect_init(&c);
			feed(&c, s.bytes, a);
			feed(&c, s.bytes + a, b - a);
			feed(&c, s.bytes + b, s.len - b);
			assert_test_stream(&c, 0);
		}
	collect_init(&c);
	for (size_t i = 0; i < s.len; i++)
		feed(&c, s.bytes + i, 1);
	assert_test_stream(&c, 0);
	assert_int_equal(c.dec.stats.frames, 5);
	assert_int_equal(c.dec.stats.bytes, s.len);
}

static void test_first_and_gaps(void **state)
{
	struct stream s = { 0 };
	struct collect c;

	add(&s, 5, 10, "a", 1);		/* first on 5 */
	add(&s, 5, 11, "b", 1);		/* next */
	add(&s, 6, 0, "c", 1);		/* first on 6 */
	add(&s, 5, 14, "d", 1);		/* 2 missing */
	add(&s, 5, 14, "d", 1);		/* a repeat */
	add(&s, 6, 1, "e", 1);		/* 6 is unaffected */
	collect_init(&c);
	feed(&c, s.bytes, s.len);
	assert_int_equal(c.n, 6);
	assert_true(c.frames[0].first);
	assert_int_equal(c.frames[0].gap, 0);
	assert_false(c.frames[1].first);
	assert_int_equal(c.frames[1].gap, 0);
	assert_true(c.frames[2].first);
	assert_int_equal(c.frames[3].gap, 2);
	assert_int_equal(c.frames[4].gap, 0xFFFF);
	assert_false(c.frames[5].first);
	assert_int_equal(c.frames[5].gap, 0);
	assert_int_equal(c.dec.stats.seq_gaps, 2);
	assert_int_equal(c.dec.stats.lost, 2);

	/* A forgotten channel starts afresh; the others do not. */
	serial_dec_forget(&c.dec, 5);
	memset(&s, 0, sizeof(s));
	add(&s, 5, 100, "f", 1);
	add(&s, 6, 3, "g", 1);
	feed(&c, s.bytes, s.len);
	assert_int_equal(c.n, 8);
	assert_true(c.frames[6].first);
	assert_int_equal(c.frames[6].gap, 0);
	assert_false(c.frames[7].first);
	assert_int_equal(c.frames[7].gap, 1);
}

static void test_resync_after_garbage(void **state)
{
	static const uint8_t garbage[] = "line noise \xFE\xFE\x52\x01\x02 \xFE\x52\xFE\x01 ~~~ \xFE";
	struct stream s = { 0 };
	struct collect c;

	add_raw(&s, garbage, sizeof(garbage) - 1);
	add(&s, 4, 0, "after", 5);
	add(&s, 4, 1, "more", 4);
	collect_init(&c);
	feed(&c, s.bytes, s.len);
	assert_int_equal(c.n, 2);
	assert_frame(&c.frames[0], 4, 0, "after", 5);
	assert_frame(&c.frames[1], 4, 1, "more", 4);
	assert_int_equal(c.dec.stats.discarded, sizeof(garbage) - 1);
	assert_int_equal(c.dec.stats.resyncs, 1);
	/* FE FE 52 01 02 ...: a sync and a header that fails its check. */
	assert_true(c.dec.stats.header_errors + c.dec.stats.truncated >= 1);
}

static void test_start_mid_stream(void **state)
{
	struct stream s;
	struct collect c;

	test_stream(&s);
	/* Starting anywhere inside frame 0 loses it and nothing else. */
	for (size_t at = 1; at < s.start[1]; at++) {
		collect_init(&c);
		feed(&c, s.bytes + at, s.len - at);
		assert_test_stream(&c, 1);
		assert_int_equal(c.dec.stats.discarded, s.start[1] - at);
		assert_int_equal(c.dec.stats.resyncs, 1);
		assert_true(c.frames[0].first);
	}
}

/* A frame inside a payload is payload: a receiver that starts anywhere
 * inside the outer frame never takes the inner one for a frame. */
static void test_no_smuggled_frames(void **state)
{
	struct stream s;
	struct collect c;

	test_stream(&s);
	for (size_t at = s.start[3]; at < s.start[4]; at++) {
		collect_init(&c);
		feed(&c, s.bytes + at, s.len - at);
		for (size_t i = 0; i < c.n; i++)
			assert_int_not_equal(c.frames[i].channel, 9);
	}
}

/* Every single bit of frame 2 flipped in turn: frame 2 is dropped, never
 * delivered changed, and the frames around it arrive. */
static void test_every_bit_flip_caught(void **state)
{
	struct stream s;
	struct collect c;
	size_t from, to;

	test_stream(&s);
	from = s.start[2];
	to = s.start[3];
	for (size_t i = from; i < to; i++)
		for (int bit = 0; bit < 8; bit++) {
			struct stream t = s;
			const struct serial_dec_stats *st = &c.dec.stats;

			t.bytes[i] ^= (uint8_t)(1u << bit);
			collect_init(&c);
			feed(&c, t.bytes, t.len);
			assert_int_equal(c.n, 4);
			assert_frame(&c.frames[0], 1, 0, text1, sizeof(text1) - 1);
			assert_frame(&c.frames[1], 2, 0, bin2, sizeof(bin2));
			assert_int_equal(c.frames[2].channel, 254);
			/* Frame 2 was channel 1's seq 1; nothing later on 1. */
			assert_int_equal(st->frames, 4);
			assert_true(st->discarded >= 1);
			/* A damaged sync is just not found; past it, a check fails. */
			if (i >= from + 2)
				assert_true(st->crc_errors + st->header_errors + st->truncated >= 1);
		}
}

/* One byte of frame 1 dropped, or doubled, at every position: frame 1 is
 * lost and the rest arrive.  Only a doubled first byte (FE FE 52) or last
 * byte is harmless: the extra one falls outside the frame and is dropped. */
static void test_dropped_and_duplicated_bytes(void **state)
{
	struct stream s, t;
	struct collect c;

	test_stream(&s);
	for (size_t i = s.start[1]; i < s.start[2]; i++) {
		for (int dup = 0; dup <= 1; dup++) {
			memcpy(t.bytes, s.bytes, i + 1);
			if (dup) {
				memcpy(t.bytes + i + 1, s.bytes + i, s.len - i);
				t.len = s.len + 1;
			} else {
				memcpy(t.bytes + i, s.bytes + i + 1, s.len - i - 1);
				t.len = s.len - 1;
			}
			collect_init(&c);
			feed(&c, t.bytes, t.len);
			if (dup && (i == s.start[1] || i == s.start[2] - 1)) {
				assert_test_stream(&c, 0);
				assert_int_equal(c.dec.stats.discarded, 1);
				continue;
			}
			/* Channel 2's frame is gone; its next frame is then
			 * the first this receiver knows on channel 2. */
			assert_int_equal(c.n, 4);
			assert_frame(&c.frames[0], 1, 0, text1, sizeof(text1) - 1);
			assert_frame(&c.frames[1], 1, 1, "", 0);
			assert_int_equal(c.frames[2].channel, 254);
			assert_frame(&c.frames[3], 2, 1, text1, 5);
			assert_true(c.frames[3].first);
			assert_true(c.dec.stats.discarded > 0);
		}
	}
}

/* A header claiming more than the maximum is refused at once: nothing is
 * buffered on its word, and the next frame arrives. */
static void test_length_never_trusted(void **state)
{
	uint8_t hdr[9] = { 0xFE, 0x52, 1, 0, 0, 0xFF, 0xF0, 0 };
	uint8_t junk[3000];
	struct stream s = { 0 };
	struct collect c;

	hdr[7] = serial_crc8(hdr + 2, 5) ^ 0x55;
	if (hdr[7] == 0xFE)
		fail_msg("pick another length");
	add_raw(&s, hdr, 8);
	collect_init(&c);
	feed(&c, s.bytes, s.len);
	assert_int_equal(c.dec.stats.header_errors, 1);
	assert_int_equal(serial_dec_pending(&c.dec), 0);
	memset(junk, 'x', sizeof(junk));
	feed(&c, junk, sizeof(junk));
	assert_int_equal(serial_dec_pending(&c.dec), 0);
	memset(&s, 0, sizeof(s));
	add(&s, 1, 0, "ok", 2);
	feed(&c, s.bytes, s.len);
	assert_int_equal(c.n, 1);
	assert_frame(&c.frames[0], 1, 0, "ok", 2);

	/* Pending bytes never exceed one frame's worst case, whatever comes. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	collect_init(&c);
	for (int round = 0; round < 50; round++) {
		junk[round] = 0xFE;
		junk[round + 1] = 0x52;
		feed(&c, junk, sizeof(junk));
		assert_true(serial_dec_pending(&c.dec) <=
			    SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX));
	}
}

/* A frame cut short by the next sync: counted as truncated, and the next
 * frame is whole. */
static void test_truncated_by_next_sync(void **state)
{
	struct stream s = { 0 }, t = { 0 };
	struct collect c;

	add(&s, 3, 0, "the first frame's payload", 25);
	add_raw(&t, s.bytes, 14);	/* cut inside the payload */
	add(&t, 3, 1, "second", 6);
	collect_init(&c);
	feed(&c, t.bytes, t.len);
	assert_int_equal(c.n, 1);
	assert_frame(&c.frames[0], 3, 1, "second", 6);
	assert_int_equal(c.dec.stats.truncated, 1);
	assert_int_equal(c.dec.stats.discarded, 14);
	assert_int_equal(c.dec.stats.resyncs, 1);
}

/* ---- noise at a rate: never a wrong frame ------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void test_noise_never_delivers_damage(void **state)
{
	enum { FRAMES = 3000 };
	static uint8_t clean[FRAMES * SERIAL_FRAME_WIRE_WORST(64)], noisy[sizeof(clean) * 2];
	static uint8_t payloads[FRAMES][64];
	static size_t lens[FRAMES];
	size_t clean_len = 0, noisy_len = 0, delivered = 0;
	struct serial_dec d;
	struct serial_frame f;
	const uint8_t *p;
	size_t n;

	for (unsigned i = 0; i < FRAMES; i++) {
		lens[i] = next_rand() % 65;
		for (size_t k = 0; k < lens[i]; k++)
			payloads[i][k] = (uint8_t)(next_rand() % 7 == 0 ? 0xFE : next_rand());
		clean_len += serial_frame_encode(clean + clean_len, sizeof(clean) - clean_len,
						 i % 3, (uint16_t)(i / 3), payloads[i], lens[i]);
	}
	/* About one byte in 500 flipped, dropped or doubled. */
	for (size_t i = 0; i < clean_len; i++) {
		unsigned r = next_rand() % 1500;

		if (r == 0)
			noisy[noisy_len++] = clean[i] ^ (uint8_t)(1u << (next_rand() % 8));
		else if (r == 1)
			continue;
		else if (r == 2) {
			noisy[noisy_len++] = clean[i];
			noisy[noisy_len++] = clean[i];
		} else
			noisy[noisy_len++] = clean[i];
	}
	serial_dec_init(&d);
	p = noisy;
	n = noisy_len;
	while (n > 0) {
		size_t chunk = 1 + next_rand() % 300;
		const uint8_t *q = p;
		size_t m = chunk < n ? chunk : n;

		p += m;
		n -= m;
		while (serial_dec_next(&d, &q, &m, &f)) {
			unsigned i = f.seq * 3u + f.channel;

			assert_true(i < FRAMES);
			assert_int_equal(f.len, lens[i]);
			assert_memory_equal(f.payload, payloads[i], f.len);
			delivered++;
		}
	}
	/* Most frames survive this much noise, and all of them are right. */
	assert_true(delivered > FRAMES / 2);
	assert_true(delivered < FRAMES);
	assert_int_equal(d.stats.frames, delivered);
	assert_true(d.stats.resyncs > 0);
	assert_int_equal(d.stats.bytes + d.stats.discarded + serial_dec_pending(&d), noisy_len);
	print_message("noise: %zu of %d frames delivered intact, %llu crc errors, %llu header "
		      "errors, %llu truncated, %llu resyncs, %llu frames lost in seq gaps\n",
		      delivered, FRAMES, (unsigned long long)d.stats.crc_errors,
		      (unsigned long long)d.stats.header_errors,
		      (unsigned long long)d.stats.truncated, (unsigned long long)d.stats.resyncs,
		      (unsigned long long)d.stats.lost);
}

/* ---- throughput: a figure, not a test ----------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_decoder_throughput(void **state)
{
	enum { PAYLOAD = 230, ROUNDS = 64 };
	static uint8_t wire[256 * 1024];
	uint8_t text[PAYLOAD];
	size_t len = 0, frames = 0, delivered = 0;
	double t0, dt;
	struct serial_dec d;
	struct serial_frame f;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)("0123456789abcdef (gdb) x/16x $sp\n"[i % 33]);
	while (len + SERIAL_FRAME_WIRE_WORST(PAYLOAD) <= sizeof(wire)) {
		len += serial_frame_encode(wire + len, sizeof(wire) - len, frames % 4,
					   (uint16_t)(frames / 4), text, sizeof(text));
		frames++;
	}
	serial_dec_init(&d);
	t0 = now();
	for (int r = 0; r < ROUNDS; r++) {
		const uint8_t *p = wire;
		size_t n = len;

		while (n > 0) {
			size_t m = n < 4096 ? n : 4096;
			const uint8_t *q = p;

			p += m;
			n -= m;
			while (serial_dec_next(&d, &q, &m, &f))
				delivered++;
		}
	}
	dt = now() - t0;
	assert_int_equal(delivered, frames * ROUNDS);
	print_message("decoder: %.1f MB of %u-byte frames in %.3f s: %.0f MB/s, %.2f M frames/s\n",
		      (double)len * ROUNDS / 1e6, PAYLOAD, dt, (double)len * ROUNDS / 1e6 / dt,
		      (double)frames * ROUNDS / 1e6 / dt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_check_values),
		cmocka_unit_test(test_wire_format_exact),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_control_frames),
		cmocka_unit_test(test_split_anywhere),
		cmocka_unit_test(test_first_and_gaps),
		cmocka_unit_test(test_resync_after_garbage),
		cmocka_unit_test(test_start_mid_stream),
		cmocka_unit_test(test_no_smuggled_frames),
		cmocka_unit_test(test_every_bit_flip_caught),
		cmocka_unit_test(test_dropped_and_duplicated_bytes),
		cmocka_unit_test(test_length_never_trusted),
		cmocka_unit_test(test_truncated_by_next_sync),
		cmocka_unit_test(test_noise_never_delivers_damage),
		cmocka_unit_test(test_decoder_throughput),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
