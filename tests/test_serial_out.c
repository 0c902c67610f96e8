// SPDX-License-Identifier: MIT
/* Unit tests for serial/out.c: round-robin fairness between channels, the
 * lending of channel bytes and of the wire buffer (nothing lent is touched
 * before it is given back; partial writes keep the rest), completions and
 * cancellation, bounded output, and everything arriving intact through the
 * decoder whatever the writer takes at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serial/frame.h"
#include "serial/out.h"

static struct serial_out *new_out(size_t frame)
{
	struct serial_out *o = malloc(sizeof(*o));

	assert_non_null(o);
	serial_out_init(o, frame);
	return o;
}

/* What the far end decodes: frames in order, and each channel's bytes. */
struct far_end {
	struct serial_dec dec;
	unsigned order[100000];
	size_t frames;
	uint8_t *data[256];
	size_t len[256], cap[256];
	size_t controls[256];
	struct serial_ctl last_ctl[256];
	size_t ctl_at[256];	/* the channel's data length when its last control came */
};

static struct far_end *far_new(void)
{
	struct far_end *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	serial_dec_init(&e->dec);
	return e;
}

static void far_free(struct far_end *e)
{
	for (int i = 0; i < 256; i++)
		free(e->data[i]);
	free(e);
}

static void far_feed(struct far_end *e, const uint8_t *p, size_t n)
{
	struct serial_frame f;

	while (serial_dec_next(&e->dec, &p, &n, &f)) {
		unsigned ch = f.channel;

		assert_int_equal(f.gap, 0);
		if (e->frames < sizeof(e->order) / sizeof(e->order[0]))
			e->order[e->frames] = ch;
		e->frames++;
		if (f.control) {
			assert_int_equal(serial_ctl_decode(f.payload, f.len, &e->last_ctl[ch]), 0);
			e->controls[ch]++;
			e->ctl_at[ch] = e->len[ch];
			continue;
		}
		if (e->len[ch] + f.len > e->cap[ch]) {
			e->cap[ch] = (e->len[ch] + f.len) * 2;
			e->data[ch] = realloc(e->data[ch], e->cap[ch]);
			assert_non_null(e->data[ch]);
		}
		if (f.len)
			memcpy(e->data[ch] + e->len[ch], f.payload, f.len);
		e->len[ch] += f.len;
	}
	assert_int_equal(e->dec.stats.discarded, 0);
}

/* Takes, writes everything, reaps; returns bytes written. */
static size_t pump_once(struct serial_out *o, struct far_end *e)
{
	const uint8_t *p;
	size_t n;
	struct serial_out_completion c;

	if (serial_out_take(o, &p, &n) < 0)
		return 0;
	assert_true(n <= o->fill_limit);
	far_feed(e, p, n);
	serial_out_done(o, n);
	while (serial_out_reap(o, &c))
		;
	return n;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
	return p;
}

/* ---- sizes -------------------------------------------------------------- */

static void test_frame_size_for_baud(void **state)
{
	assert_int_equal(serial_out_frame_size(9600), SERIAL_OUT_FRAME_MIN);
	assert_int_equal(serial_out_frame_size(115200), 230);
	assert_int_equal(serial_out_frame_size(460800), 921);
	assert_int_equal(serial_out_frame_size(4000000), SERIAL_FRAME_PAYLOAD_MAX);
}

static void test_bad_arguments(void **state)
{
	struct serial_out *o = new_out(230);
	const uint8_t *p;
	size_t n;

	assert_int_equal(serial_out_send(o, 256, "x", 1), -EINVAL);
	assert_int_equal(serial_out_cancel(o, 3), -ENOENT);
	assert_int_equal(serial_out_cancel(o, 999), -ENOENT);
	assert_int_equal(serial_out_take(o, &p, &n), -EAGAIN);
	assert_false(serial_out_pending(o));
	free(o);
}

/* ---- control messages --------------------------------------------------- */

/* A control message takes its channel's next turn, ahead of data not framed
 * yet, in the channel's sequence; a later one replaces one not sent; it
 * has no completion of its own. */
static void test_control_messages(void **state)
{
	struct serial_out *o = new_out(64);
	struct far_end *e = far_new();
	struct serial_ctl open = { .op = SERIAL_CTL_OPEN, .id = 42 };
	struct serial_ctl close = { .op = SERIAL_CTL_CLOSE, .id = 41, .reason = SERIAL_CLOSE_DONE };
	struct serial_out_completion c;
	uint8_t *big = pattern(640, 3);
	const uint8_t *p;
	size_t n;

	assert_int_equal(serial_out_control(o, 256, &open), -EINVAL);
	/* Alone: one control frame, nothing to reap. */
	assert_int_equal(serial_out_control(o, 5, &open), 0);
	assert_true(serial_out_pending(o));
	assert_int_equal(serial_out_take(o, &p, &n), 0);
	far_feed(e, p, n);
	serial_out_done(o, n);
	assert_false(serial_out_reap(o, &c));
	assert_false(serial_out_pending(o));
	assert_int_equal(e->controls[5], 1);
	assert_int_equal(e->last_ctl[5].id, 42);
	assert_int_equal(o->stats.controls, 1);

	/* In the middle of a send: after the frames already built, before
	 * the rest; the sequence stays unbroken (far_feed checks gaps). */
	assert_int_equal(serial_out_send(o, 5, big, 640), 0);
	pump_once(o, e);
	assert_true(e->len[5] > 0 && e->len[5] < 640);
	n = e->len[5];
	assert_int_equal(serial_out_control(o, 5, &close), 0);
	pump_once(o, e);
	assert_int_equal(e->controls[5], 2);
	assert_int_equal(e->ctl_at[5], n);
	assert_int_equal(e->last_ctl[5].op, SERIAL_CTL_CLOSE);
	while (pump_once(o, e) > 0)
		;
	assert_int_equal(e->len[5], 640);
	assert_memory_equal(e->data[5], big, 640);

	/* Two queued before a take: only the later goes out. */
	assert_int_equal(serial_out_control(o, 9, &close), 0);
	assert_int_equal(serial_out_control(o, 9, &open), 0);
	while (pump_once(o, e) > 0)
		;
	assert_int_equal(e->controls[9], 1);
	assert_int_equal(e->last_ctl[9].op, SERIAL_CTL_OPEN);

	/* A cancelled send and a control after it: the control goes, the
	 * completion says cancelled, and no more of the send is framed. */
	assert_int_equal(serial_out_send(o, 7, big, 640), 0);
	pump_once(o, e);
	n = e->len[7];
	assert_int_equal(serial_out_cancel(o, 7), 0);
	assert_int_equal(serial_out_cancel(o, 7), -ENOENT);
	assert_int_equal(serial_out_control(o, 7, &close), 0);
	assert_int_equal(serial_out_take(o, &p, &n), 0);
	far_feed(e, p, n);
	serial_out_done(o, n);
	assert_true(serial_out_reap(o, &c));
	assert_int_equal(c.channel, 7);
	assert_true(c.cancelled);
	assert_int_equal(e->controls[7], 1);
	assert_true(e->len[7] < 640);
	assert_int_equal(e->ctl_at[7], e->len[7]);
	assert_false(serial_out_pending(o));
	free(big);
	far_free(e);
	free(o);
}

/* ---- fairness ----------------------------------------------------------- */

/* Three channels with a lot to send and one with a little: frames go
 * 1, 2, 3, 4, 1, 2, 3, 1, 2, 3, ... and the small one is not kept waiting. */
static void test_round_robin(void **state)
{
	struct serial_out *o = new_out(100);
	struct far_end *e = far_new();
	uint8_t *big[3];
	size_t counts[256] = { 0 };

	for (int i = 0; i < 3; i++) {
		big[i] = pattern(10000, (unsigned)i);
		assert_int_equal(serial_out_send(o, (unsigned)i + 1, big[i], 10000), 0);
	}
	assert_int_equal(serial_out_send(o, 4, "echo", 4), 0);
	while (pump_once(o, e) > 0)
		;
	assert_int_equal(e->frames, 3 * 100 + 1);
	assert_int_equal(e->order[0], 1);
	assert_int_equal(e->order[1], 2);
	assert_int_equal(e->order[2], 3);
	assert_int_equal(e->order[3], 4);
	/* At every point, the busy channels have had turns within one. */
	for (size_t i = 0; i < e->frames; i++) {
		counts[e->order[i]]++;
		for (int a = 1; a <= 3; a++)
			for (int b = 1; b <= 3; b++)
				assert_true(counts[a] <= counts[b] + 1);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(e->len[i + 1], 10000);
		assert_memory_equal(e->data[i + 1], big[i], 10000);
		free(big[i]);
	}
	assert_memory_equal(e->data[4], "echo", 4);
	far_free(e);
	free(o);
}

/* A channel that starts sending while another has megabytes queued gets
 * its frame out in the next take. */
static void test_late_channel_not_starved(void **state)
{
	enum { BIG = 1 << 20 };
	struct serial_out *o = new_out(230);
	struct far_end *e = far_new();
	uint8_t *big = pattern(BIG, 7);
	size_t before;

	assert_int_equal(serial_out_send(o, 0, big, BIG), 0);
	for (int i = 0; i < 20; i++)
		pump_once(o, e);
	before = e->frames;
	assert_int_equal(serial_out_send(o, 200, "k", 1), 0);
	pump_once(o, e);
	assert_int_equal(e->len[200], 1);
	assert_true(e->frames - before <= 2);
	while (pump_once(o, e) > 0)
		;
	assert_int_equal(e->len[0], BIG);
	assert_memory_equal(e->data[0], big, BIG);
	free(big);
	far_free(e);
	free(o);
}

/* The cursor wraps past 255 and keeps its place between takes. */
static void test_round_robin_wraps(void **state)
{
	struct serial_out *o = new_out(64);
	struct far_end *e = far_new();
	uint8_t *a = pattern(640, 1), *b = pattern(640, 2);

	assert_int_equal(serial_out_send(o, 255, a, 640), 0);
	assert_int_equal(serial_out_send(o, 0, b, 640), 0);
	while (pump_once(o, e) > 0)
		;
	assert_int_equal(e->frames, 20);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(e->order[i], i % 2 ? 255 : 0);
	free(a);
	free(b);
	far_free(e);
	free(o);
}

/* ---- ownership ---------------------------------------------------------- */

static void test_lent_wire_untouched_until_done(void **state)
{
	struct serial_out *o = new_out(100);
	struct far_end *e = far_new();
	uint8_t *a = pattern(5000, 1), *b = pattern(5000, 2), snap[SERIAL_OUT_WIRE_CAP];
	const uint8_t *p, *q;
	size_t n, m, part;
	struct serial_out_completion c;

	assert_int_equal(serial_out_send(o, 1, a, 5000), 0);
	assert_int_equal(serial_out_take(o, &p, &n), 0);
	memcpy(snap, p, n);

	/* Everything that could write the wire buffer, while it is lent. */
	assert_int_equal(serial_out_send(o, 2, b, 5000), 0);
	assert_int_equal(serial_out_take(o, &q, &m), -EBUSY);
	assert_int_equal(serial_out_cancel(o, 1), 0);
	while (serial_out_reap(o, &c))
		;
	assert_int_equal(serial_out_send(o, 1, b, 10), 0);
	assert_memory_equal(p, snap, n);

	/* A partial write: the rest goes first next time, unchanged. */
	part = n / 3;
	far_feed(e, p, part);
	serial_out_done(o, part);
	assert_int_equal(serial_out_take(o, &q, &m), 0);
	assert_true(m >= n - part);
	assert_memory_equal(q, snap + part, n - part);
	far_feed(e, q, m);
	serial_out_done(o, m);
	while (pump_once(o, e) > 0)
		;
	/* Channel 1: its first send was cancelled after one frame, then a
	 * 10-byte send; channel 2: all 5000. */
	assert_int_equal(e->len[1], 100 + 10);
	assert_memory_equal(e->data[1], a, 100);
	assert_memory_equal(e->data[1] + 100, b, 10);
	assert_int_equal(e->len[2], 5000);
	assert_memory_equal(e->data[2], b, 5000);
	free(a);
	free(b);
	far_free(e);
	free(o);
}

/* A channel's bytes are copied into frames only in take(); once its
 * completion is reaped (or it is cancelled) the owner may reuse them. */
static void test_channel_lend_and_completion(void **state)
{
	struct serial_out *o = new_out(64);
	struct far_end *e = far_new();
	uint8_t buf[200];
	struct serial_out_completion c;
	const uint8_t *p;
	size_t n;

	memset(buf, 'a', sizeof(buf));
	assert_int_equal(serial_out_send(o, 9, buf, sizeof(buf)), 0);
	assert_int_equal(serial_out_send(o, 9, buf, 1), -EBUSY);
	assert_int_equal(serial_out_backlog(o, 9), 200);
	assert_true(serial_out_pending(o));
	assert_false(serial_out_reap(o, &c));

	/* One take frames what fits; the rest stays lent to us. */
	assert_int_equal(serial_out_take(o, &p, &n), 0);
	assert_true(serial_out_backlog(o, 9) > 0 && serial_out_backlog(o, 9) < 200);
	assert_false(serial_out_reap(o, &c));
	far_feed(e, p, n);
	serial_out_done(o, n);
	while (serial_out_backlog(o, 9) > 0) {
		assert_int_equal(serial_out_take(o, &p, &n), 0);
		far_feed(e, p, n);
		serial_out_done(o, n);
	}
	/* Framed to the end: the completion is there, and the bytes are ours
	 * again before they are even written. */
	assert_true(serial_out_reap(o, &c));
	assert_int_equal(c.channel, 9);
	assert_int_equal(c.framed, 200);
	assert_false(c.cancelled);
	assert_false(serial_out_reap(o, &c));
	memset(buf, 'X', sizeof(buf));
	while (pump_once(o, e) > 0)
		;
	assert_int_equal(e->len[9], 200);
	for (size_t i = 0; i < 200; i++)
		assert_int_equal(e->data[9][i], 'a');
	assert_false(serial_out_pending(o));
	far_free(e);
	free(o);
}

static void test_cancel(void **state)
{
	struct serial_out *o = new_out(64);
	struct far_end *e = far_new();
	uint8_t buf[1000];
	struct serial_out_completion c;
	const uint8_t *p;
	size_t n;

	memset(buf, 'a', sizeof(buf));
	assert_int_equal(serial_out_send(o, 3, buf, sizeof(buf)), 0);
	assert_int_equal(serial_out_take(o, &p, &n), 0);
	far_feed(e, p, n);
	serial_out_done(o, n);
	assert_int_equal(serial_out_cancel(o, 3), 0);
	assert_int_equal(serial_out_cancel(o, 3), -ENOENT);
	assert_int_equal(serial_out_backlog(o, 3), 0);
	/* After cancel, not one more byte of it is read. */
	memset(buf, 'X', sizeof(buf));
	assert_true(serial_out_reap(o, &c));
	assert_int_equal(c.channel, 3);
	assert_true(c.cancelled);
	assert_int_equal(c.framed, e->len[3]);
	assert_true(c.framed > 0 && c.framed % 64 == 0);
	while (pump_once(o, e) > 0)
		;
	for (size_t i = 0; i < e->len[3]; i++)
		assert_int_equal(e->data[3][i], 'a');
	/* Cancelled before any framing: nothing went, and it says so. */
	assert_int_equal(serial_out_send(o, 4, buf, 10), 0);
	assert_int_equal(serial_out_cancel(o, 4), 0);
	assert_true(serial_out_reap(o, &c));
	assert_int_equal(c.framed, 0);
	assert_true(c.cancelled);
	assert_int_equal(serial_out_take(o, &p, &n), -EAGAIN);
	far_free(e);
	free(o);
}

static void test_empty_send_is_one_empty_frame(void **state)
{
	struct serial_out *o = new_out(64);
	struct far_end *e = far_new();
	struct serial_out_completion c;
	const uint8_t *p;
	size_t n;

	assert_int_equal(serial_out_send(o, 7, NULL, 0), 0);
	assert_int_equal(serial_out_take(o, &p, &n), 0);
	assert_int_equal(n, SERIAL_FRAME_WIRE(0));
	far_feed(e, p, n);
	serial_out_done(o, n);
	assert_int_equal(e->frames, 1);
	assert_int_equal(e->order[0], 7);
	assert_true(serial_out_reap(o, &c));
	assert_int_equal(c.framed, 0);
	assert_false(c.cancelled);
	far_free(e);
	free(o);
}

/* ---- bounds and the whole path ------------------------------------------ */

/* However much is lent, one take lends at most one worst-case frame's
 * worth, and every frame respects the line's frame size. */
static void test_bounded_output(void **state)
{
	enum { BIG = 4 << 20 };
	struct serial_out *o = new_out(230);
	uint8_t *fe = malloc(BIG);
	const uint8_t *p;
	size_t n, takes = 0;
	struct serial_dec d;
	struct serial_frame f;
	struct serial_out_completion c;

	assert_non_null(fe);
	memset(fe, 0xFE, BIG);		/* every byte doubles on the wire */
	for (unsigned ch = 0; ch < 255; ch++)
		assert_int_equal(serial_out_send(o, ch, fe, BIG), 0);
	serial_dec_init(&d);
	for (int i = 0; i < 2000; i++) {
		const uint8_t *q;

		assert_int_equal(serial_out_take(o, &p, &n), 0);
		assert_true(n <= SERIAL_FRAME_WIRE_WORST(230));
		assert_true(n <= SERIAL_OUT_WIRE_CAP);
		q = p;
		while (serial_dec_next(&d, &q, &n, &f))
			assert_true(f.len <= 230);
		serial_out_done(o, (size_t)(q - p));
		takes++;
	}
	assert_false(serial_out_reap(o, &c));
	for (unsigned ch = 0; ch < 255; ch++)
		assert_int_equal(serial_out_cancel(o, ch), 0);
	assert_int_equal(takes, 2000);
	free(fe);
	free(o);
}

/* Many channels, uneven sizes, a writer that takes random amounts: every
 * channel's bytes arrive whole, in order, exactly once. */
static void test_everything_arrives(void **state)
{
	enum { CHANNELS = 40 };
	struct serial_out *o = new_out(120);
	struct far_end *e = far_new();
	uint8_t *src[CHANNELS];
	size_t len[CHANNELS], sent[CHANNELS] = { 0 }, chunk[CHANNELS] = { 0 };
	unsigned long rng = 12345;
	struct serial_out_completion c;
	const uint8_t *p;
	size_t n;
	int idle = 0;

	for (int i = 0; i < CHANNELS; i++) {
		len[i] = (size_t)(i * 997 % 5000);
		src[i] = pattern(len[i], (unsigned)i);
	}
	while (idle < 3) {
		/* Owners lend their next piece when their last one completed. */
		for (int i = 0; i < CHANNELS; i++) {
			if (sent[i] < len[i] && serial_out_backlog(o, (unsigned)i * 6) == 0 &&
			    !o->chan[i * 6].busy) {
				rng = rng * 6364136223846793005ul + 1442695040888963407ul;
				chunk[i] = 1 + (rng >> 33) % 700;
				if (chunk[i] > len[i] - sent[i])
					chunk[i] = len[i] - sent[i];
				assert_int_equal(serial_out_send(o, (unsigned)i * 6, src[i] + sent[i],
								 chunk[i]), 0);
			}
		}
		if (serial_out_take(o, &p, &n) < 0) {
			idle++;
			continue;
		}
		idle = 0;
		rng = rng * 6364136223846793005ul + 1442695040888963407ul;
		n = (rng >> 33) % (n + 1);	/* the tty takes what it takes */
		far_feed(e, p, n);
		serial_out_done(o, n);
		while (serial_out_reap(o, &c)) {
			int i = (int)c.channel / 6;

			assert_false(c.cancelled);
			assert_int_equal(c.framed, chunk[i]);
			sent[i] += c.framed;
		}
	}
	for (int i = 0; i < CHANNELS; i++) {
		assert_int_equal(sent[i], len[i]);
		assert_int_equal(e->len[i * 6], len[i]);
		if (len[i])
			assert_memory_equal(e->data[i * 6], src[i], len[i]);
		free(src[i]);
	}
	assert_int_equal(o->stats.written, e->dec.stats.bytes);
	far_free(e);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_size_for_baud),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_control_messages),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_late_channel_not_starved),
		cmocka_unit_test(test_round_robin_wraps),
		cmocka_unit_test(test_lent_wire_untouched_until_done),
		cmocka_unit_test(test_channel_lend_and_completion),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_empty_send_is_one_empty_frame),
		cmocka_unit_test(test_bounded_output),
		cmocka_unit_test(test_everything_arrives),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
