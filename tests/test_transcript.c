// SPDX-License-Identifier: MIT
/* Unit tests for src/transcript.c: appending across the physical wrap, oldest offset, pinning,
 * history_start by bytes and by lines, line counters, init checks, a randomized model test, and
 * restarting at another offset (a mirrored transcript's). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/transcript.h"

#define CHUNK 4096u
#define CAP (4u * CHUNK)

/* ---- helpers ---------------------------------------------------------- */

static void append_all(struct transcript *t, const void *p, size_t n)
{
	assert_int_equal(transcript_append(t, p, n), n);
}

/* N copies of CH. */
static void append_fill(struct transcript *t, char ch, size_t n)
{
	char buf[1024];

	memset(buf, ch, sizeof(buf));
	while (n > 0) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		append_all(t, buf, k);
		n -= k;
	}
}

/* Copy [from, head) out of the transcript, following span() across the wrap. */
static size_t read_out(const struct transcript *t, uint64_t from, char *out, size_t max)
{
	size_t got = 0;

	while (from < t->head) {
		const char *p;
		size_t n = transcript_span(t, from, &p);

		assert_true(n > 0);
		assert_true(got + n <= max);
		memcpy(out + got, p, n);
		got += n;
		from += n;
	}
	return got;
}

/* A byte pattern that differs for every offset within a lap and between laps. */
static char pattern(uint64_t off)
{
	return (char)('a' + (off * 7 + off / CAP) % 26);
}

static void append_pattern(struct transcript *t, size_t n)
{
	char buf[512];

	while (n > 0) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(t->head + i);
		append_all(t, buf, k);
		n -= k;
	}
}

static void init_small(struct transcript *t)
{
	assert_int_equal(transcript_init(t, CAP, CHUNK), 0);
	assert_int_equal(t->cap, CAP);
	assert_int_equal(t->nchunks, 4);
}

/* ---- init ------------------------------------------------------------- */

static void test_transcript_init_rejects_bad_chunk_sizes(void **state)
{
	static const size_t bad[] = { 0, 1, 1000, 2048, 4095, 4097, 6144, 12288, 65535 };
	struct transcript t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(transcript_init(&t, 1 << 20, bad[i]), -EINVAL);
		assert_null(t.mem);
		assert_null(t.pins);
	}
	assert_int_equal(transcript_init(&t, 0, CHUNK), -EINVAL);
	assert_null(t.mem);
}

static void test_transcript_init_rounds_capacity(void **state)
{
	struct transcript t;

	/* Up to a multiple of the chunk. */
	assert_int_equal(transcript_init(&t, 5 * CHUNK + 1, CHUNK), 0);
	assert_int_equal(t.cap, 6 * CHUNK);
	assert_int_equal(t.nchunks, 6);
	assert_int_equal(t.chunk, CHUNK);
	assert_int_equal(t.head, 0);
	assert_true(t.at_line_start);
	assert_int_equal(t.lines, 0);
	assert_non_null(t.mem);
	transcript_free(&t);
	assert_null(t.mem);

	/* Never fewer than four chunks. */
	assert_int_equal(transcript_init(&t, 1, 65536), 0);
	assert_int_equal(t.cap, 4 * 65536);
	assert_int_equal(t.nchunks, 4);
	transcript_free(&t);
}

/* ---- append, commit, span --------------------------------------------- */

static void test_transcript_append_and_span_before_wrap(void **state)
{
	struct transcript t;
	const char *p;

	init_small(&t);
	append_all(&t, "hello\nworld", 11);
	assert_int_equal(t.head, 11);
	assert_int_equal(transcript_oldest(&t), 0);
	assert_int_equal(transcript_span(&t, 0, &p), 11);
	assert_memory_equal(p, "hello\nworld", 11);
	assert_int_equal(transcript_span(&t, 6, &p), 5);
	assert_memory_equal(p, "world", 5);
	assert_int_equal(transcript_span(&t, 11, &p), 0);
	transcript_free(&t);
}

static void test_transcript_span_across_physical_wrap(void **state)
{
	struct transcript t;
	const char *p;
	char out[CAP];
	size_t n;

	init_small(&t);
	append_pattern(&t, CAP - 1000);
	/* This append straddles the physical end of the buffer. */
	append_pattern(&t, 3000);
	assert_int_equal(t.head, CAP + 2000);
	assert_int_equal(transcript_oldest(&t), CHUNK);

	/* From before the physical end: stops there... */
	n = transcript_span(&t, CAP - 1500, &p);
	assert_int_equal(n, 1500);
	assert_ptr_equal(p, t.mem + CAP - 1500);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], pattern(CAP - 1500 + i));
	/* ...and continues at the physical start. */
	n = transcript_span(&t, CAP, &p);
	assert_int_equal(n, 2000);
	assert_ptr_equal(p, t.mem);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], pattern(CAP + i));

	/* Everything held reads back as written. */
	n = read_out(&t, CHUNK, out, sizeof(out));
	assert_int_equal(n, CAP + 2000 - CHUNK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], pattern(CHUNK + i));
	transcript_free(&t);
}

static void test_transcript_writable_commit(void **state)
{
	struct transcript t;
	char *where;
	size_t room;
	const char *p;

	init_small(&t);
	room = transcript_writable(&t, SIZE_MAX, &where);
	assert_int_equal(room, CAP);
	assert_ptr_equal(where, t.mem);
	memcpy(where, "ab\ncd", 5);
	transcript_commit(&t, 5);
	assert_int_equal(t.head, 5);
	assert_int_equal(t.lines, 1);
	assert_false(t.at_line_start);

	room = transcript_writable(&t, SIZE_MAX, &where);
	assert_int_equal(room, CAP - 5);
	assert_ptr_equal(where, t.mem + 5);
	transcript_commit(&t, 0);	/* nothing written: nothing changes */
	assert_int_equal(t.head, 5);
	assert_false(t.at_line_start);

	/* Up to the physical end, the writable span is what is left of it. */
	append_fill(&t, 'x', CAP - 5 - 10);
	room = transcript_writable(&t, SIZE_MAX, &where);
	assert_int_equal(room, 10);
	memcpy(where, "0123456789", 10);
	transcript_commit(&t, 10);
	room = transcript_writable(&t, SIZE_MAX, &where);
	assert_ptr_equal(where, t.mem);
	assert_int_equal(room, CAP);
	assert_int_equal(transcript_span(&t, CAP - 10, &p), 10);
	assert_memory_equal(p, "0123456789", 10);
	transcript_free(&t);
}

static void test_transcript_oldest_after_wrapping(void **state)
{
	struct transcript t;

	init_small(&t);
	assert_int_equal(transcript_oldest(&t), 0);
	append_fill(&t, 'a', CAP);
	/* Exactly full: nothing lost yet. */
	assert_int_equal(transcript_oldest(&t), 0);
	/* One byte into slot 0 again destroys the whole first chunk. */
	append_fill(&t, 'b', 1);
	assert_int_equal(transcript_oldest(&t), CHUNK);
	append_fill(&t, 'b', CHUNK - 1);
	assert_int_equal(t.head, CAP + CHUNK);
	assert_int_equal(transcript_oldest(&t), CHUNK);
	append_fill(&t, 'c', 1);
	assert_int_equal(transcript_oldest(&t), 2 * CHUNK);
	/* Many laps later the rule is the same. */
	append_fill(&t, 'd', 5 * CAP + 100 - 1);
	assert_int_equal(t.head, 6 * CAP + CHUNK + 100);
	assert_int_equal(transcript_oldest(&t), 5 * CAP + 2 * CHUNK);
	transcript_free(&t);
}

static void test_transcript_lines_and_line_start(void **state)
{
	struct transcript t;

	init_small(&t);
	assert_true(t.at_line_start);
	append_all(&t, "one", 3);
	assert_false(t.at_line_start);
	assert_int_equal(t.lines, 0);
	append_all(&t, "\ntwo\nthree\n", 11);
	assert_true(t.at_line_start);
	assert_int_equal(t.lines, 3);
	append_all(&t, "\n\n", 2);
	assert_int_equal(t.lines, 5);
	append_all(&t, "x", 1);
	assert_false(t.at_line_start);
	/* Counted across the wrap and across internal chunk splits too. */
	for (int i = 0; i < 2000; i++)
		append_all(&t, "line of text\n", 13);
	assert_int_equal(t.lines, 2005);
	assert_true(t.at_line_start);
	assert_true(t.head > CAP);
	transcript_free(&t);
}

/* ---- pinning ---------------------------------------------------------- */

static void test_transcript_pin_blocks_reentry_of_its_slot(void **state)
{
	struct transcript t;
	char big[CAP];
	char *where;

	init_small(&t);
	append_pattern(&t, 5000);		/* into slot 1 */
	transcript_pin(&t, 100);		/* a send from slot 0 */
	assert_false(transcript_blocked(&t));
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), CAP - 5000);

	/* The writer goes up to the end of the lap and stops exactly there. */
	memset(big, 'z', sizeof(big));
	assert_int_equal(transcript_append(&t, big, sizeof(big)), CAP - 5000);
	assert_int_equal(t.head, CAP);
	assert_true(transcript_blocked(&t));
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), 0);
	assert_int_equal(transcript_append(&t, "x", 1), 0);
	assert_int_equal(t.head, CAP);
	/* The pinned bytes are intact. */
	assert_int_equal(transcript_oldest(&t), 0);
	assert_int_equal(t.mem[100], pattern(100));

	transcript_unpin(&t, 100);
	assert_false(transcript_blocked(&t));
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), CAP);
	assert_int_equal(transcript_append(&t, "x", 1), 1);
	assert_int_equal(transcript_oldest(&t), CHUNK);
	transcript_free(&t);
}

static void test_transcript_pin_blocks_mid_lap(void **state)
{
	struct transcript t;
	char big[2 * CAP];
	char *where;

	init_small(&t);
	append_fill(&t, 'a', CAP + 10);		/* slot 0 re-entered, oldest = CHUNK */
	transcript_pin(&t, 2 * CHUNK + 5);	/* slot 2 */
	memset(big, 'q', sizeof(big));
	/* Slot 0 rest and slot 1 may be written; slot 2 may not. */
	assert_int_equal(transcript_append(&t, big, sizeof(big)), 2 * CHUNK - 10);
	assert_int_equal(t.head, CAP + 2 * CHUNK);
	assert_true(transcript_blocked(&t));
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), 0);
	assert_int_equal(transcript_oldest(&t), 2 * CHUNK);
	/* Two pins on one slot: both must go. */
	transcript_pin(&t, 2 * CHUNK + 6);
	transcript_unpin(&t, 2 * CHUNK + 5);
	assert_true(transcript_blocked(&t));
	transcript_unpin(&t, 2 * CHUNK + 6);
	assert_false(transcript_blocked(&t));
	assert_int_equal(transcript_append(&t, big, 100), 100);
	transcript_free(&t);
}

static void test_transcript_writable_stops_at_a_later_pinned_slot(void **state)
{
	struct transcript t;
	char *where;

	init_small(&t);
	append_fill(&t, 'a', CAP);
	append_fill(&t, 'b', 10);		/* head in slot 0, second lap */
	transcript_pin(&t, 2 * CHUNK);		/* slot 2, first lap */
	/* Room: rest of slot 0 and all of slot 1, not into slot 2. */
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), 2 * CHUNK - 10);
	assert_ptr_equal(where, t.mem + 10);
	assert_false(transcript_blocked(&t));
	transcript_unpin(&t, 2 * CHUNK);
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), CAP - 10);
	/* Asked for less, it answers no more, even up to a pinned slot. */
	assert_int_equal(transcript_writable(&t, 7, &where), 7);
	transcript_pin(&t, CHUNK + 5);	/* slot 1, first lap */
	assert_int_equal(transcript_writable(&t, CHUNK - 10, &where), CHUNK - 10);
	assert_int_equal(transcript_writable(&t, CHUNK + 1, &where), CHUNK - 10);
	assert_int_equal(transcript_writable(&t, 0, &where), 0);
	transcript_free(&t);
}

static void test_transcript_pin_in_current_chunk_does_not_block(void **state)
{
	struct transcript t;
	char *where;
	char buf[CHUNK];

	init_small(&t);
	append_fill(&t, 'a', CHUNK + 100);	/* head inside slot 1 */
	transcript_pin(&t, CHUNK + 50);		/* a send of this very chunk */
	assert_false(transcript_blocked(&t));
	/* The rest of slot 1 and the untouched slots 2 and 3 are free. */
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), CAP - CHUNK - 100);
	memset(buf, 'b', sizeof(buf));
	assert_int_equal(transcript_append(&t, buf, CHUNK - 100), CHUNK - 100);
	assert_int_equal(t.head, 2 * CHUNK);
	assert_false(transcript_blocked(&t));

	/* A pin in the current chunk while the ring has wrapped: writing the
	 * rest of it is still fine, only re-entering it a lap later is not. */
	transcript_unpin(&t, CHUNK + 50);
	append_fill(&t, 'c', 2 * CHUNK + 10);	/* head = CAP + 10: slot 0 again */
	transcript_pin(&t, CAP + 5);
	assert_int_equal(transcript_append(&t, buf, CHUNK - 10), CHUNK - 10);
	assert_false(transcript_blocked(&t));
	append_fill(&t, 'd', 3 * CHUNK);
	assert_int_equal(t.head, 2 * CAP);
	assert_true(transcript_blocked(&t));
	assert_int_equal(transcript_append(&t, "e", 1), 0);
	transcript_unpin(&t, CAP + 5);
	assert_int_equal(transcript_append(&t, "e", 1), 1);
	transcript_free(&t);
}

/* ---- history_start ---------------------------------------------------- */

static void test_transcript_history_empty(void **state)
{
	struct transcript t;

	init_small(&t);
	assert_int_equal(transcript_history_start(&t, 1000, 0), 0);
	assert_int_equal(transcript_history_start(&t, 0, 5), 0);
	transcript_free(&t);
}

static void test_transcript_history_bytes_not_wrapped(void **state)
{
	struct transcript t;
	/* offsets:    0    5     11  15 */
	const char *s = "aaaa\nbbbbb\nccc\ndd";

	init_small(&t);
	append_all(&t, s, strlen(s));		/* head = 17 */
	/* Everything fits: from the start. */
	assert_int_equal(transcript_history_start(&t, 100, 0), 0);
	assert_int_equal(transcript_history_start(&t, 17, 0), 0);
	/* 6 bytes back is offset 11, a line start. */
	assert_int_equal(transcript_history_start(&t, 6, 0), 11);
	/* 8 bytes back is mid-line (offset 9): forward to the next line. */
	assert_int_equal(transcript_history_start(&t, 8, 0), 11);
	/* 2 bytes back is offset 15, just after a newline. */
	assert_int_equal(transcript_history_start(&t, 2, 0), 15);
	/* 1 byte back (offset 16) has no newline after it: mid-line. */
	assert_int_equal(transcript_history_start(&t, 1, 0), 16);
	transcript_free(&t);
}

static void test_transcript_history_bytes_no_newline_at_all(void **state)
{
	struct transcript t;

	init_small(&t);
	append_fill(&t, 'x', 3000);
	assert_int_equal(transcript_history_start(&t, 100, 0), 2900);
	assert_int_equal(transcript_history_start(&t, 5000, 0), 0);
	/* Wrapped, still not a newline anywhere: as many bytes as asked. */
	append_fill(&t, 'y', CAP);
	assert_int_equal(transcript_history_start(&t, 100, 0), t.head - 100);
	assert_int_equal(transcript_history_start(&t, 1 << 20, 0), transcript_oldest(&t));
	transcript_free(&t);
}

static void test_transcript_history_bytes_wrapped(void **state)
{
	struct transcript t;
	char line[100];
	uint64_t start, oldest;

	init_small(&t);
	/* 100-byte lines across several laps (CHUNK is not a multiple of 100,
	 * so the oldest chunk starts mid-line). */
	for (int i = 0; i < 500; i++) {
		snprintf(line, sizeof(line), "%098d\n", i);
		append_all(&t, line, 99);
	}
	assert_true(t.head > 2 * CAP);
	oldest = transcript_oldest(&t);
	assert_true(oldest % 99 != 0);

	/* Everything held: the first whole line after oldest. */
	start = transcript_history_start(&t, 1 << 20, 0);
	assert_int_equal(start, (oldest / 99 + 1) * 99);
	/* 1000 bytes back, rounded forward to a line start. */
	start = transcript_history_start(&t, 1000, 0);
	assert_int_equal(start, ((t.head - 1000) / 99 + 1) * 99);
	/* Exactly 10 lines back is a line start already. */
	assert_int_equal(transcript_history_start(&t, 990, 0), t.head - 990);
	transcript_free(&t);
}

/*
 * BUG (src/transcript.c, transcript_history_start, the line
 * "if (t->mem[(start - 1) % t->cap] == '\n')"): when start is the oldest held
 * offset of a wrapped ring and head is chunk-aligned, the byte before start has
 * already been overwritten by the newest byte (head - 1) in the same physical
 * slot.  A transcript ending in '\n' then makes history_start return the oldest
 * offset even though it is in the middle of a line.  This test fails until the
 * byte before start is only consulted while it is still held
 * (head - (start - 1) <= cap).
 */
static void test_transcript_history_oldest_mid_line_when_head_chunk_aligned(void **state)
{
	struct transcript t;
	uint64_t oldest, by_bytes, by_lines;

	init_small(&t);
	/* Lap 1: long lines of 'a', so offset CHUNK - 1 is mid-line. */
	for (size_t i = 0; i < CAP; i += 1000) {
		size_t n = CAP - i < 1000 ? CAP - i : 1000;

		append_fill(&t, 'a', n - 1);
		append_all(&t, "\n", 1);
	}
	assert_int_equal(t.head, CAP);
	/* Lap 2: exactly one chunk whose last byte is '\n'. */
	append_fill(&t, 'b', CHUNK - 1);
	append_all(&t, "\n", 1);
	assert_int_equal(t.head, CAP + CHUNK);
	oldest = transcript_oldest(&t);
	assert_int_equal(oldest, CHUNK);
	/* Offset CHUNK - 1 (the byte before oldest) was an 'a', not a newline:
	 * the history must start after the next newline, at a real line start. */
	by_bytes = transcript_history_start(&t, 1 << 20, 0);
	/* The same holds when asking for more lines than are held. */
	by_lines = transcript_history_start(&t, 0, 1000);
	transcript_free(&t);
	assert_int_equal(by_bytes, 5000);
	assert_int_equal(by_lines, 5000);
}

static void test_transcript_history_lines_exact(void **state)
{
	struct transcript t;
	/* offsets:    0   4   8   12  16 */
	const char *s = "l1\r\nl2\r\nl3\r\nl4\r\n";

	init_small(&t);
	append_all(&t, s, strlen(s));
	assert_true(t.at_line_start);
	assert_int_equal(transcript_history_start(&t, 0, 1), 12);
	assert_int_equal(transcript_history_start(&t, 0, 2), 8);
	assert_int_equal(transcript_history_start(&t, 0, 3), 4);
	assert_int_equal(transcript_history_start(&t, 0, 4), 0);
	/* Lines win over bytes when both are given. */
	assert_int_equal(transcript_history_start(&t, 1000, 1), 12);
	transcript_free(&t);
}

static void test_transcript_history_lines_last_byte_not_newline(void **state)
{
	struct transcript t;
	/* offsets:    0  3  6 */
	const char *s = "a1\nb2\nc3";

	init_small(&t);
	append_all(&t, s, strlen(s));
	assert_false(t.at_line_start);
	/* The unfinished last line counts as a line. */
	assert_int_equal(transcript_history_start(&t, 0, 1), 6);
	assert_int_equal(transcript_history_start(&t, 0, 2), 3);
	assert_int_equal(transcript_history_start(&t, 0, 3), 0);
	transcript_free(&t);
}

static void test_transcript_history_lines_fewer_held_than_asked(void **state)
{
	struct transcript t;
	char line[100];
	uint64_t oldest;

	init_small(&t);
	append_all(&t, "x\ny\n", 4);
	assert_int_equal(transcript_history_start(&t, 0, 10), 0);
	assert_int_equal(transcript_history_start(&t, 0, 2), 0);

	/* Wrapped with a mid-line oldest byte (head kept off a chunk boundary):
	 * everything held from the first whole line. */
	for (int i = 0; i < 300; i++) {
		snprintf(line, sizeof(line), "%098d\n", i);
		append_all(&t, line, 99);
	}
	assert_true(t.head % CHUNK != 0);
	oldest = transcript_oldest(&t);
	assert_true(oldest > 0);
	assert_int_equal(transcript_history_start(&t, 0, 100000), ((oldest - 4) / 99 + 1) * 99 + 4);
	/* Exactly 7 lines back. */
	assert_int_equal(transcript_history_start(&t, 0, 7), t.head - 7 * 99);
	transcript_free(&t);
}

static void test_transcript_history_lines_across_physical_wrap(void **state)
{
	struct transcript t;
	uint64_t start;
	const char *p;

	init_small(&t);
	append_fill(&t, 'a', CAP - 3);
	/* "\nb1\nb2\n" straddles the physical end. */
	append_all(&t, "\nb1\nb2\nb3", 9);
	start = transcript_history_start(&t, 0, 2);
	assert_int_equal(start, CAP + 1);
	assert_int_equal(transcript_span(&t, start, &p), 5);
	assert_memory_equal(p, "b2\nb3", 5);
	start = transcript_history_start(&t, 0, 3);
	assert_int_equal(start, CAP - 2);
	transcript_free(&t);
}

/* ---- randomized model test -------------------------------------------- */

/* xorshift64*: deterministic, seedable. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

#define MODEL_MAX (2u << 20)
#define MAX_PINS 8

static void model_run(uint64_t seed)
{
	struct transcript t;
	char *model = malloc(MODEL_MAX);	/* every byte ever written */
	char *chunkbuf = malloc(3 * CHUNK);
	uint64_t pins[MAX_PINS];
	unsigned npins = 0, short_appends = 0, reads = 0, total_pins = 0;
	uint64_t lines = 0;

	assert_non_null(model);
	assert_non_null(chunkbuf);
	rng_state = seed;
	assert_int_equal(transcript_init(&t, 5 * CHUNK, CHUNK), 0);

	while (t.head < MODEL_MAX - 3 * CHUNK) {
		unsigned op = (unsigned)rnd_below(100);

		if (op < 55) {
			/* Append: mostly small, sometimes more than a chunk. */
			size_t n = (size_t)(rnd_below(10) == 0 ? rnd_below(3 * CHUNK) + 1 :
								 rnd_below(300) + 1);
			uint64_t before = t.head;
			size_t done;

			for (size_t i = 0; i < n; i++)
				chunkbuf[i] = rnd_below(12) == 0 ? '\n' : (char)('A' + rnd_below(26));
			done = transcript_append(&t, chunkbuf, n);
			assert_true(done <= n);
			assert_int_equal(t.head, before + done);
			memcpy(model + before, chunkbuf, done);
			for (size_t i = 0; i < done; i++)
				lines += chunkbuf[i] == '\n';
			if (done < n) {
				assert_true(transcript_blocked(&t));
				short_appends++;
			}
		} else if (op < 63) {
			/* writable/commit with a partial write. */
			char *where;
			size_t room = transcript_writable(&t, SIZE_MAX, &where);
			size_t n = (size_t)rnd_below(room + 1);

			for (size_t i = 0; i < n; i++) {
				where[i] = (char)('a' + rnd_below(26));
				model[t.head + i] = where[i];
			}
			transcript_commit(&t, n);
		} else if (op < 73 && npins < MAX_PINS && t.head > transcript_oldest(&t)) {
			/* Pin some held offset, as a send would. */
			uint64_t lo = transcript_oldest(&t);

			pins[npins] = lo + rnd_below(t.head - lo);
			transcript_pin(&t, pins[npins]);
			npins++;
			total_pins++;
		} else if (op < 85 && npins > 0) {
			unsigned k = (unsigned)rnd_below(npins);

			transcript_unpin(&t, pins[k]);
			pins[k] = pins[--npins];
		} else if (t.head > 0) {
			/* Read from a random held offset to the head. */
			uint64_t lo = transcript_oldest(&t);
			uint64_t from = lo + rnd_below(t.head - lo);

			reads++;
			while (from < t.head) {
				const char *p;
				size_t n = transcript_span(&t, from, &p);

				assert_true(n > 0);
				assert_true(p >= t.mem && p + n <= t.mem + t.cap);
				if (memcmp(p, model + from, n) != 0)
					fail_msg("seed %llu: span(%llu) differs from the model",
						 (unsigned long long)seed, (unsigned long long)from);
				from += n;
			}
		}

		/* Invariants after every step. */
		uint64_t oldest = transcript_oldest(&t);
		uint64_t want_oldest = t.head <= t.cap ? 0 :
				       (t.head - t.cap + CHUNK - 1) / CHUNK * CHUNK;

		assert_int_equal(oldest, want_oldest);
		for (unsigned k = 0; k < npins; k++) {
			/* A pinned send never loses its first byte. */
			if (pins[k] < oldest)
				fail_msg("seed %llu: pinned offset %llu lost (oldest %llu)",
					 (unsigned long long)seed, (unsigned long long)pins[k],
					 (unsigned long long)oldest);
		}
		if (npins == 0)
			assert_false(transcript_blocked(&t));
		assert_int_equal(t.at_line_start, t.head == 0 || model[t.head - 1] == '\n');
		/* When every pin is gone the writer must be able to move. */
		if (npins == 0) {
			char *where;

			assert_true(transcript_writable(&t, SIZE_MAX, &where) > 0);
		}
	}
	/* lines counts both paths (append and commit). */
	uint64_t want_lines = 0;

	for (uint64_t i = 0; i < t.head; i++)
		want_lines += model[i] == '\n';
	assert_int_equal(t.lines, want_lines);
	assert_true(lines <= want_lines);
	/* The run really exercised blocking, pins and wrapped reads. */
	assert_true(short_appends > 10);
	assert_true(total_pins > 100);
	assert_true(reads > 100);
	assert_true(t.head > 50 * t.cap);

	/* Finally every held byte, from every chunk boundary, matches. */
	for (uint64_t from = transcript_oldest(&t); from < t.head; from += 997) {
		const char *p;
		size_t n = transcript_span(&t, from, &p);

		assert_memory_equal(p, model + from, n);
	}
	while (npins > 0) {
		npins--;
		transcript_unpin(&t, pins[npins]);
	}
	for (unsigned s = 0; s < t.nchunks; s++)
		assert_int_equal(t.pins[s], 0);
	transcript_free(&t);
	free(chunkbuf);
	free(model);
}

static void test_transcript_random_model(void **state)
{
	static const uint64_t seeds[] = { 1, 2, 3, 0x9e3779b97f4a7c15ull, 12345678901ull };

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		model_run(seeds[i]);
}

/* ---- restarting at another offset ------------------------------------ */

static void test_transcript_restart_goes_on_at_the_base(void **state)
{
	struct transcript t;
	char out[64];
	const uint64_t base = 10 * CAP + 1234;	/* any offset, not chunk aligned */

	assert_int_equal(transcript_init(&t, CAP, CHUNK), 0);
	append_all(&t, "old line\npartial", 16);
	transcript_mark(&t, 0, 9, TRANSCRIPT_NOTICE);
	transcript_restart(&t, base);
	assert_true(t.head == base && transcript_oldest(&t) == base);
	assert_false(transcript_blocked(&t));
	/* Nothing of before is held, and the base counts as a line start. */
	assert_true(transcript_history_start(&t, 1000, 0) == base);
	append_all(&t, "one\ntwo\n", 8);
	assert_int_equal(read_out(&t, base, out, sizeof(out)), 8);
	assert_memory_equal(out, "one\ntwo\n", 8);
	assert_true(transcript_oldest(&t) == base);
	assert_true(transcript_history_start(&t, 1000, 0) == base);
	assert_true(transcript_history_start(&t, 1000, 1) == base + 4);
	/* The marks of before are gone with their bytes. */
	{
		uint64_t end;

		assert_int_equal(transcript_kind_at(&t, base, &end), TRANSCRIPT_OUTPUT);
		assert_true(end == base + 8);
	}
	/* It wraps like any transcript: the oldest is whole chunks behind. */
	append_fill(&t, 'x', CAP + CHUNK / 2);
	assert_true(transcript_oldest(&t) > base);
	assert_true(transcript_oldest(&t) % CHUNK == 0);
	assert_true(t.head - transcript_oldest(&t) <= CAP);
	transcript_free(&t);
}

static void test_transcript_restart_waits_for_old_sends(void **state)
{
	struct transcript t;
	char *where;

	assert_int_equal(transcript_init(&t, CAP, CHUNK), 0);
	append_fill(&t, 'a', CHUNK + 100);
	/* A send in flight reads the old bytes of the first chunk. */
	transcript_pin(&t, 10);
	transcript_restart(&t, 3 * CHUNK + 7);
	/* The writer now starts mid-slot anywhere: it writes nothing until
	 * the old send lets go, whatever slot it would write. */
	assert_true(transcript_blocked(&t));
	assert_int_equal(transcript_writable(&t, SIZE_MAX, &where), 0);
	assert_int_equal(transcript_append(&t, "x", 1), 0);
	transcript_unpin(&t, 10);
	assert_false(transcript_blocked(&t));
	assert_int_equal(transcript_append(&t, "xy", 2), 2);
	/* Pins taken for the new bytes are ordinary ones again. */
	transcript_pin(&t, 3 * CHUNK + 7);
	assert_true(transcript_writable(&t, SIZE_MAX, &where) > 0);
	transcript_unpin(&t, 3 * CHUNK + 7);
	transcript_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcript_init_rejects_bad_chunk_sizes),
		cmocka_unit_test(test_transcript_init_rounds_capacity),
		cmocka_unit_test(test_transcript_append_and_span_before_wrap),
		cmocka_unit_test(test_transcript_span_across_physical_wrap),
		cmocka_unit_test(test_transcript_writable_commit),
		cmocka_unit_test(test_transcript_oldest_after_wrapping),
		cmocka_unit_test(test_transcript_lines_and_line_start),
		cmocka_unit_test(test_transcript_pin_blocks_reentry_of_its_slot),
		cmocka_unit_test(test_transcript_pin_blocks_mid_lap),
		cmocka_unit_test(test_transcript_writable_stops_at_a_later_pinned_slot),
		cmocka_unit_test(test_transcript_pin_in_current_chunk_does_not_block),
		cmocka_unit_test(test_transcript_history_empty),
		cmocka_unit_test(test_transcript_history_bytes_not_wrapped),
		cmocka_unit_test(test_transcript_history_bytes_no_newline_at_all),
		cmocka_unit_test(test_transcript_history_bytes_wrapped),
		cmocka_unit_test(test_transcript_history_oldest_mid_line_when_head_chunk_aligned),
		cmocka_unit_test(test_transcript_history_lines_exact),
		cmocka_unit_test(test_transcript_history_lines_last_byte_not_newline),
		cmocka_unit_test(test_transcript_history_lines_fewer_held_than_asked),
		cmocka_unit_test(test_transcript_history_lines_across_physical_wrap),
		cmocka_unit_test(test_transcript_random_model),
		cmocka_unit_test(test_transcript_restart_goes_on_at_the_base),
		cmocka_unit_test(test_transcript_restart_waits_for_old_sends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
