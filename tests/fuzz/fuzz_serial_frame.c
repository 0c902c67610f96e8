/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the serial frame decoder (and, through round trips,
 * the encoder).  The first two bytes pick a split point; the rest is what
 * arrives on a line.  It is decoded whole, in two pieces at the split, and
 * a byte at a time, and all three must deliver the same frames and the
 * same counters.  Each frame delivered must be exactly the bytes the
 * encoder makes of it, found in the input where the decoder consumed it;
 * every input byte must be in a good frame, discarded, or pending; pending
 * bytes never exceed one worst-case frame.  Finally the input itself, cut
 * into payloads, must come back unchanged through encoder and decoder.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serial/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint8_t *payloads;	/* all payloads back to back */
	size_t payload_len;
	uint32_t meta[4096];	/* channel, seq, gap, first, len of each frame */
	size_t frames;
	struct serial_dec_stats stats;
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	assert(p);
	return p;
}

static void check_invariants(const struct serial_dec *d, size_t fed)
{
	assert(d->stats.bytes + d->stats.discarded + serial_dec_pending(d) == fed);
	assert(serial_dec_pending(d) <= SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX));
}

/* Feeds IN[from, to) of the whole input IN in one call. */
static void feed(struct serial_dec *d, struct seen *s, const uint8_t *in, size_t from, size_t to)
{
	const uint8_t *p = in + from;
	size_t n = to - from;
	struct serial_frame f;
	uint8_t enc[SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX)];

	while (serial_dec_next(d, &p, &n, &f)) {
		size_t w = serial_frame_encode_flags(enc, sizeof(enc), f.channel, f.seq,
						     f.control ? SERIAL_FRAME_CTL : 0, f.payload, f.len);
		struct serial_ctl ctl;
		size_t end = (size_t)(p - in);

		/* The frame is the encoder's output, ending where it was read. */
		assert(w > 0 && w <= end);
		assert(memcmp(in + end - w, enc, w) == 0);
		assert(f.len <= SERIAL_FRAME_PAYLOAD_MAX);
		/* A control message decodes or is refused, and what decodes
		 * encodes back to its first bytes. */
		if (f.control && serial_ctl_decode(f.payload, f.len, &ctl) == 0) {
			uint8_t back[SERIAL_CTL_LEN];

			serial_ctl_encode(back, &ctl);
			assert(memcmp(back, f.payload, SERIAL_CTL_LEN) == 0);
		}
		if (s->frames < sizeof(s->meta) / sizeof(s->meta[0])) {
			s->meta[s->frames] = (uint32_t)f.channel << 24 ^ (uint32_t)f.seq << 8 ^
					     (uint32_t)f.gap ^ (uint32_t)f.first << 31 ^ f.len ^
					     (uint32_t)f.control << 30;
			s->frames++;
		}
		memcpy(s->payloads + s->payload_len, f.payload, f.len);
		s->payload_len += f.len;
	}
	assert(n == 0);
	check_invariants(d, to);
}

static void assert_same(const struct seen *a, const struct seen *b)
{
	assert(a->frames == b->frames);
	assert(memcmp(a->meta, b->meta, a->frames * sizeof(a->meta[0])) == 0);
	assert(a->payload_len == b->payload_len);
	assert(memcmp(a->payloads, b->payloads, a->payload_len) == 0);
	assert(memcmp(&a->stats, &b->stats, sizeof(a->stats)) == 0);
}

/* The input as payloads of sizes taken from itself, through both ways. */
static void round_trip(const uint8_t *in, size_t size)
{
	/* At worst every byte doubles, and each frame (at least one byte) adds
	 * an escaped header and CRC. */
	size_t cap = size * 2 + (size + 1) * (SERIAL_FRAME_WIRE_WORST(0)), len = 0, at = 0, back = 0;
	uint8_t *wire = xmalloc(cap), *out = xmalloc(size);
	struct serial_dec d;
	struct serial_frame f;
	const uint8_t *p;
	uint16_t seq[256] = { 0 };

	while (at < size) {
		size_t n = 1 + in[at] % SERIAL_FRAME_PAYLOAD_MAX;
		size_t w;

		if (n > size - at)
			n = size - at;
		/* Odd channels' frames carry the control flag, which must
		 * not change what comes back. */
		w = serial_frame_encode_flags(wire + len, cap - len, in[at], seq[in[at]]++,
					      in[at] & 1 ? SERIAL_FRAME_CTL : 0, in + at, n);
		assert(w > 0);
		len += w;
		at += n;
	}
	serial_dec_init(&d);
	p = wire;
	while (serial_dec_next(&d, &p, &len, &f)) {
		assert(back + f.len <= size);
		memcpy(out + back, f.payload, f.len);
		back += f.len;
		assert(!f.gap);
		assert(f.control == (f.channel & 1));
	}
	assert(back == size && memcmp(out, in, size) == 0);
	assert(d.stats.discarded == 0 && serial_dec_pending(&d) == 0);
	free(wire);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serial_dec *d = xmalloc(sizeof(*d));
	struct seen *whole = xmalloc(sizeof(*whole)), *split = xmalloc(sizeof(*split));
	size_t at;

	if (size < 2)
		goto out;
	at = (size_t)data[0] | (size_t)data[1] << 8;
	data += 2;
	size -= 2;
	at %= size + 1;

	memset(whole, 0, sizeof(*whole));
	whole->payloads = xmalloc(size);
	serial_dec_init(d);
	feed(d, whole, data, 0, size);
	whole->stats = d->stats;

	memset(split, 0, sizeof(*split));
	split->payloads = xmalloc(size);
	serial_dec_init(d);
	feed(d, split, data, 0, at);
	feed(d, split, data, at, size);
	split->stats = d->stats;
	assert_same(whole, split);

	if (size <= 4096) {
		split->frames = split->payload_len = 0;
		serial_dec_init(d);
		for (size_t i = 0; i < size; i++)
			feed(d, split, data, i, i + 1);
		split->stats = d->stats;
		assert_same(whole, split);
	}
	free(whole->payloads);
	free(split->payloads);

	round_trip(data, size);
out:
	free(d);
	free(whole);
	free(split);
	return 0;
}
