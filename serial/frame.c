/* SPDX-License-Identifier: MIT */
/*
 * The serial frame codec (format in serial/frame.h): an encoder into a
 * caller's buffer and an incremental decoder that resynchronises on the
 * next sync after anything it cannot use.
 */
#include <errno.h>
#include <string.h>

#include "serial/frame.h"

enum {
	DEC_HUNT,	/* discarding until a 0xFE */
	DEC_HUNT_FE,	/* saw 0xFE while hunting: a sync if 0x52 follows */
	DEC_BODY,	/* collecting an unescaped body */
	DEC_BODY_FE,	/* saw 0xFE in a body: 00 is a literal, 52 a new frame */
};

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint8_t header_check(const uint8_t *h)
{
	return serial_crc8(h, SERIAL_FRAME_HEADER - 1) ^ SERIAL_FRAME_HEC_XOR;
}

/* Appends SRC (N bytes) with each 0xFE escaped at DST + *AT; false when
 * CAP would be exceeded. */
static bool put_escaped(uint8_t *dst, size_t *at, size_t cap, const uint8_t *src, size_t n)
{
	while (n > 0) {
		const uint8_t *fe = memchr(src, SERIAL_FRAME_SYNC0, n);
		size_t plain = fe ? (size_t)(fe - src) : n;

		if (cap - *at < plain)
			return false;
		memcpy(dst + *at, src, plain);
		*at += plain;
		src += plain;
		n -= plain;
		if (!fe)
			break;
		if (cap - *at < 2)
			return false;
		dst[(*at)++] = SERIAL_FRAME_SYNC0;
		dst[(*at)++] = SERIAL_FRAME_ESC_FE;
		src++;
		n--;
	}
	return true;
}

size_t serial_frame_encode_flags(uint8_t *dst, size_t cap, unsigned channel, uint16_t seq,
				 unsigned flags, const void *payload, size_t len)
{
	uint8_t hdr[SERIAL_FRAME_HEADER], crc[SERIAL_FRAME_TRAILER];
	uint32_t c;
	size_t at = 2;

	if (channel > 255 || len > SERIAL_FRAME_PAYLOAD_MAX || cap < SERIAL_FRAME_WIRE(len) ||
	    (flags & ~SERIAL_FRAME_CTL))
		return 0;
	hdr[0] = (uint8_t)channel;
	put16(hdr + 1, seq);
	put16(hdr + 3, (uint16_t)(len | flags));
	hdr[5] = header_check(hdr);
	c = serial_crc32c(0, hdr, sizeof(hdr));
	c = serial_crc32c(c, payload, len);
	put16(crc, (uint16_t)(c >> 16));
	put16(crc + 2, (uint16_t)c);

	dst[0] = SERIAL_FRAME_SYNC0;
	dst[1] = SERIAL_FRAME_SYNC1;
	if (!put_escaped(dst, &at, cap, hdr, sizeof(hdr)) ||
	    !put_escaped(dst, &at, cap, payload, len) ||
	    !put_escaped(dst, &at, cap, crc, sizeof(crc)))
		return 0;
	return at;
}

size_t serial_frame_encode(uint8_t *dst, size_t cap, unsigned channel, uint16_t seq,
			   const void *payload, size_t len)
{
	return serial_frame_encode_flags(dst, cap, channel, seq, 0, payload, len);
}

void serial_dec_init(struct serial_dec *d)
{
	memset(d, 0, offsetof(struct serial_dec, buf));
	d->state = DEC_HUNT;
}

void serial_dec_forget(struct serial_dec *d, unsigned channel)
{
	if (channel <= 255)
		d->seen[channel >> 6] &= ~(1ull << (channel & 63));
}

static void discard(struct serial_dec *d, size_t n)
{
	if (n == 0)
		return;
	d->stats.discarded += n;
	d->lost_sync = true;
}

/* The unfinished frame is unusable: its bytes are discarded. */
static void drop_frame(struct serial_dec *d)
{
	discard(d, d->wire);
	d->wire = 0;
	d->state = DEC_HUNT;
}

/* A sync was just consumed (its two bytes are in d->wire). */
static void start_body(struct serial_dec *d)
{
	d->state = DEC_BODY;
	d->have = 0;
	d->need = SERIAL_FRAME_HEADER;
	d->wire = 2;
}

static void track_seq(struct serial_dec *d, struct serial_frame *f)
{
	uint64_t bit = 1ull << (f->channel & 63);
	uint64_t *seen = &d->seen[f->channel >> 6];

	f->first = !(*seen & bit);
	f->gap = 0;
	if (f->first) {
		*seen |= bit;
	} else {
		f->gap = (uint16_t)(f->seq - d->next_seq[f->channel]);
		if (f->gap) {
			d->stats.seq_gaps++;
			if (f->gap < 0x8000)
				d->stats.lost += f->gap;
		}
	}
	d->next_seq[f->channel] = (uint16_t)(f->seq + 1);
}

/*
 * The body holds d->need bytes.  After the header: check it and learn how
 * much more to wait for.  After the whole body: check the CRC and, when it
 * matches, fill *F.  Returns true only for a good frame.
 */
static bool body_filled(struct serial_dec *d, struct serial_frame *f)
{
	const uint8_t *b = d->buf;
	uint32_t len, crc;

	if (d->need == SERIAL_FRAME_HEADER) {
		len = get16(b + 3) & ~SERIAL_FRAME_CTL;
		if (b[5] != header_check(b) || len > SERIAL_FRAME_PAYLOAD_MAX) {
			d->stats.header_errors++;
			drop_frame(d);
			return false;
		}
		d->need = SERIAL_FRAME_HEADER + len + SERIAL_FRAME_TRAILER;
		return false;
	}
	len = d->need - SERIAL_FRAME_HEADER - SERIAL_FRAME_TRAILER;
	crc = (uint32_t)get16(b + d->need - 4) << 16 | get16(b + d->need - 2);
	if (serial_crc32c(0, b, d->need - SERIAL_FRAME_TRAILER) != crc) {
		d->stats.crc_errors++;
		drop_frame(d);
		return false;
	}
	f->payload = d->buf + SERIAL_FRAME_HEADER;
	f->len = (uint16_t)len;
	f->channel = b[0];
	f->seq = get16(b + 1);
	f->control = (get16(b + 3) & SERIAL_FRAME_CTL) != 0;
	track_seq(d, f);
	d->stats.frames++;
	d->stats.bytes += d->wire;
	if (d->lost_sync) {
		d->stats.resyncs++;
		d->lost_sync = false;
	}
	d->wire = 0;
	d->state = DEC_HUNT;
	return true;
}

bool serial_dec_next(struct serial_dec *d, const uint8_t **pp, size_t *np, struct serial_frame *f)
{
	const uint8_t *p = *pp, *fe;
	size_t n = *np, k;
	bool got = false;

	while (n > 0 && !got) {
		switch (d->state) {
		case DEC_HUNT:
			fe = memchr(p, SERIAL_FRAME_SYNC0, n);
			k = fe ? (size_t)(fe - p) : n;
			discard(d, k);
			p += k;
			n -= k;
			if (fe) {
				p++;
				n--;
				d->wire = 1;
				d->state = DEC_HUNT_FE;
			}
			break;
		case DEC_HUNT_FE:
			if (*p == SERIAL_FRAME_SYNC1) {
				p++;
				n--;
				start_body(d);
			} else if (*p == SERIAL_FRAME_SYNC0) {
				/* This FE may be the sync; the one before was not. */
				discard(d, 1);
				p++;
				n--;
			} else {
				/* Not consumed: hunting skips it. */
				drop_frame(d);
			}
			break;
		case DEC_BODY:
			k = d->need - d->have;
			if (k > n)
				k = n;
			fe = memchr(p, SERIAL_FRAME_SYNC0, k);
			if (fe)
				k = (size_t)(fe - p);
			memcpy(d->buf + d->have, p, k);
			d->have += (uint32_t)k;
			d->wire += (uint32_t)k;
			p += k;
			n -= k;
			if (fe) {
				p++;
				n--;
				d->wire++;
				d->state = DEC_BODY_FE;
			} else if (d->have == d->need) {
				got = body_filled(d, f);
			}
			break;
		case DEC_BODY_FE:
			if (*p == SERIAL_FRAME_ESC_FE) {
				p++;
				n--;
				d->wire++;
				d->buf[d->have++] = SERIAL_FRAME_SYNC0;
				d->state = DEC_BODY;
				if (d->have == d->need)
					got = body_filled(d, f);
			} else if (*p == SERIAL_FRAME_SYNC1) {
				/* The next frame began before this one ended; its
				 * sync's first byte was counted as ours. */
				d->stats.truncated++;
				d->wire--;
				drop_frame(d);
				p++;
				n--;
				start_body(d);
			} else {
				/* Not an escape: noise.  The byte after the FE is
				 * left for hunting, it may start a sync. */
				d->stats.truncated++;
				drop_frame(d);
			}
			break;
		}
	}
	*pp = p;
	*np = n;
	return got;
}

void serial_ctl_encode(uint8_t out[SERIAL_CTL_LEN], const struct serial_ctl *c)
{
	out[0] = c->op;
	put16(out + 1, c->id);
	out[3] = c->reason;
}

int serial_ctl_decode(const uint8_t *p, size_t n, struct serial_ctl *c)
{
	if (n < SERIAL_CTL_LEN || (p[0] != SERIAL_CTL_OPEN && p[0] != SERIAL_CTL_CLOSE))
		return -EINVAL;
	c->op = p[0];
	c->id = get16(p + 1);
	c->reason = p[3];
	return 0;
}

const char *serial_close_reason_text(unsigned reason)
{
	switch (reason) {
	case SERIAL_CLOSE_DONE:
		return "the connection was closed";
	case SERIAL_CLOSE_BROKEN:
		return "frames were lost on the line";
	case SERIAL_CLOSE_NOBODY:
		return "no server on this channel";
	case SERIAL_CLOSE_NOCONN:
		return "no connection is open on this channel";
	case SERIAL_CLOSE_FULL:
		return "the session is full";
	case SERIAL_CLOSE_ENDED:
		return "the server is ending";
	}
	return "closed for an unknown reason";
}
