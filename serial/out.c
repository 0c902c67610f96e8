/* SPDX-License-Identifier: MIT */
/*
 * Round-robin framing of the channels' lent bytes into one wire buffer that
 * is lent to the line's writer (see serial/out.h).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "serial/out.h"

static inline void bit_set(uint64_t *set, unsigned i)
{
	set[i >> 6] |= 1ull << (i & 63);
}

static inline void bit_clear(uint64_t *set, unsigned i)
{
	set[i >> 6] &= ~(1ull << (i & 63));
}

static inline bool bit_test(const uint64_t *set, unsigned i)
{
	return set[i >> 6] >> (i & 63) & 1;
}

static inline bool set_empty(const uint64_t *set)
{
	return !(set[0] | set[1] | set[2] | set[3]);
}

/* The first member of SET at or after FROM, wrapping; -1 if none. */
static int next_member(const uint64_t *set, unsigned from)
{
	for (unsigned i = 0; i <= 4; i++) {
		unsigned w = ((from >> 6) + i) & 3;
		uint64_t bits = set[w];

		if (i == 0)
			bits &= ~0ull << (from & 63);
		else if (i == 4)
			bits &= (from & 63) ? ~(~0ull << (from & 63)) : 0;
		if (bits)
			return (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
	}
	return -1;
}

size_t serial_out_frame_size(unsigned baud)
{
	/* 10 bits a byte at 8N1; 20 ms is baud / 500 bytes. */
	size_t n = baud / 500;

	if (n < SERIAL_OUT_FRAME_MIN)
		return SERIAL_OUT_FRAME_MIN;
	return n > SERIAL_FRAME_PAYLOAD_MAX ? SERIAL_FRAME_PAYLOAD_MAX : n;
}

void serial_out_init(struct serial_out *o, size_t frame_payload)
{
	memset(o, 0, offsetof(struct serial_out, wire));
	if (frame_payload < SERIAL_OUT_FRAME_MIN)
		frame_payload = SERIAL_OUT_FRAME_MIN;
	if (frame_payload > SERIAL_FRAME_PAYLOAD_MAX)
		frame_payload = SERIAL_FRAME_PAYLOAD_MAX;
	o->frame_payload = (uint32_t)frame_payload;
	/* From an empty buffer the next frame always fits. */
	o->fill_limit = SERIAL_FRAME_WIRE_WORST(o->frame_payload);
}

int serial_out_send(struct serial_out *o, unsigned channel, const void *p, size_t len)
{
	struct serial_out_chan *c;

	if (channel > 255)
		return -EINVAL;
	c = &o->chan[channel];
	if (c->busy)
		return -EBUSY;
	c->p = len ? p : (const uint8_t *)"";
	c->left = len;
	c->framed = 0;
	c->busy = true;
	c->unframed = true;
	c->cancelled = false;
	bit_set(o->ready, channel);
	return 0;
}

int serial_out_control(struct serial_out *o, unsigned channel, const struct serial_ctl *ctl)
{
	struct serial_out_chan *c;

	if (channel > 255)
		return -EINVAL;
	c = &o->chan[channel];
	serial_ctl_encode(c->ctl, ctl);
	c->ctl_pending = true;
	bit_set(o->ready, channel);
	return 0;
}

static void finish(struct serial_out *o, unsigned channel)
{
	struct serial_out_chan *c = &o->chan[channel];

	c->p = NULL;
	c->left = 0;
	c->unframed = false;
	if (!c->ctl_pending)
		bit_clear(o->ready, channel);
	bit_set(o->finished, channel);
}

int serial_out_cancel(struct serial_out *o, unsigned channel)
{
	if (channel > 255 || !o->chan[channel].unframed)
		return -ENOENT;
	o->chan[channel].cancelled = true;
	finish(o, channel);
	return 0;
}

size_t serial_out_backlog(const struct serial_out *o, unsigned channel)
{
	return channel > 255 ? 0 : o->chan[channel].left;
}

bool serial_out_pending(const struct serial_out *o)
{
	return o->end > o->off || !set_empty(o->ready);
}

/* A channel's turn taken by its control message; false when it does not fit. */
static bool fill_control(struct serial_out *o, unsigned ch)
{
	struct serial_out_chan *c = &o->chan[ch];
	size_t w = serial_frame_encode_flags(o->wire + o->end, o->fill_limit - o->end, ch, c->seq,
					     SERIAL_FRAME_CTL, c->ctl, SERIAL_CTL_LEN);

	if (w == 0)
		return false;
	o->end += (uint32_t)w;
	o->stats.frames++;
	o->stats.controls++;
	c->seq++;
	c->ctl_pending = false;
	if (!c->unframed)
		bit_clear(o->ready, ch);
	o->cursor = (uint8_t)(ch + 1);
	return true;
}

/* One frame per ready channel per turn, from the cursor on, while frames fit. */
static void fill(struct serial_out *o)
{
	int ch;

	while ((ch = next_member(o->ready, o->cursor)) >= 0) {
		struct serial_out_chan *c = &o->chan[ch];
		size_t n = c->left < o->frame_payload ? c->left : o->frame_payload;
		size_t w;

		if (c->ctl_pending) {
			if (!fill_control(o, (unsigned)ch))
				break;
			continue;
		}
		w = serial_frame_encode(o->wire + o->end, o->fill_limit - o->end, (unsigned)ch,
					c->seq, c->p, n);
		if (w == 0)
			break;	/* the rest waits, and this channel's turn with it */
		o->end += (uint32_t)w;
		o->stats.frames++;
		o->stats.payload += n;
		c->seq++;
		c->p += n;
		c->left -= n;
		c->framed += n;
		if (c->left == 0)
			finish(o, (unsigned)ch);
		o->cursor = (uint8_t)(ch + 1);
	}
}

int serial_out_take(struct serial_out *o, const uint8_t **p, size_t *len)
{
	if (o->lending)
		return -EBUSY;
	/* Nothing is lent now, so the unwritten rest may move to the front. */
	if (o->off > 0) {
		memmove(o->wire, o->wire + o->off, o->end - o->off);
		o->end -= o->off;
		o->off = 0;
	}
	fill(o);
	if (o->end == 0)
		return -EAGAIN;
	o->lending = true;
	o->lent = o->end;
	*p = o->wire;
	*len = o->end;
	return 0;
}

void serial_out_done(struct serial_out *o, size_t n)
{
	assert(o->lending && n <= o->lent);
	o->lending = false;
	o->off += (uint32_t)n;
	o->stats.written += n;
	if (o->off == o->end)
		o->off = o->end = 0;
}

bool serial_out_reap(struct serial_out *o, struct serial_out_completion *out)
{
	int ch = next_member(o->finished, 0);
	struct serial_out_chan *c;

	if (ch < 0)
		return false;
	c = &o->chan[ch];
	out->channel = (unsigned)ch;
	out->framed = c->framed;
	out->cancelled = c->cancelled;
	bit_clear(o->finished, (unsigned)ch);
	c->busy = false;
	c->framed = 0;
	c->cancelled = false;
	return true;
}
