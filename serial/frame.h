/* SPDX-License-Identifier: MIT */
/*
 * Channel framing on a serial line: several sessions share one cable, each
 * on a channel 0..254, and a receiver that starts mid-stream or meets line
 * noise finds its way back at the next good frame.
 *
 * A frame on the wire (all integers big-endian):
 *
 *     FE 52 | chan | seq:16 | ctl:1 len:15 | hec | payload[len] | crc:32
 *     sync    `--------------------- body, escaped ---------------------'
 *
 *   sync     0xFE 0x52 ("\376R").  It starts every frame and occurs nowhere
 *            else: inside the body each 0xFE byte is sent as FE 00.  So a
 *            receiver finds frame starts without looking at lengths, a
 *            payload can never smuggle a frame in, and any FE followed by
 *            neither 00 nor 52 is noise.  0xFE never occurs in UTF-8, so
 *            text payloads are sent unexpanded; arbitrary binary grows by
 *            1/256 on average and at worst doubles.
 *   chan     the channel, 0..254; 255 is reserved for line control.
 *   seq      per channel, +1 per frame, wrapping.  A receiver that sees
 *            anything but the next number knows frames went missing on
 *            that channel (or came twice) and says so: the byte stream of
 *            that channel is broken there and must not be trusted silently.
 *   ctl      the top bit of the 16-bit length field: the payload is a
 *            control message for the channel (serial_ctl below), not the
 *            channel's bytes.  Control frames take their place in the
 *            channel's sequence, so one lost is a gap like any other.
 *   len      payload bytes, 0..SERIAL_FRAME_PAYLOAD_MAX.  Larger values
 *            (bits 11..14 are reserved) make the header invalid.
 *   hec      header check: CRC-8 (polynomial x^8+x^2+x+1, as ATM's HEC)
 *            over chan, seq and len, XOR 0x55.  A damaged header, a
 *            damaged length above all, is refused before any payload is
 *            waited for.
 *   payload  the channel's bytes.
 *   crc      CRC-32C (Castagnoli, reflected 0x82F63B78, init and final XOR
 *            all ones) over chan, seq, len, hec and payload, unescaped.
 *
 * Why CRC-32C and not CRC-16: a frame that is damaged yet passes its check
 * is delivered as good, which is the silent desynchronisation this format
 * exists to prevent.  With CRC-16 one damaged frame in 65,536 slips
 * through; a noisy line damaging a frame a second would pass one every 18
 * hours.  CRC-32 makes that one in 4 * 10^9, and Castagnoli's polynomial
 * detects more multi-bit errors than IEEE CRC-32's at these frame sizes
 * (Koopman's 2002 survey; it is also what iSCSI and ext4 chose).  Two more
 * bytes per frame cost under 1% at the payload sizes chosen for a line.
 *
 * Decoder rules: a frame is delivered only whole and only after both checks
 * pass.  Everything else is dropped and counted: bytes before a sync, a
 * header that fails its check or claims more than the maximum, a body with
 * a bad escape or cut short by the next sync, a CRC mismatch.  The decoder
 * never buffers more than one frame body (SERIAL_FRAME_BODY_MAX) whatever
 * the length field says, accepts input split at any byte, and never
 * allocates.
 */
#ifndef RINGSIDE_SERIAL_FRAME_H
#define RINGSIDE_SERIAL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_FRAME_SYNC0	0xFEu
#define SERIAL_FRAME_SYNC1	0x52u
/* FE followed by this inside a body stands for one 0xFE byte. */
#define SERIAL_FRAME_ESC_FE	0x00u
#define SERIAL_FRAME_HEC_XOR	0x55u

/* Channels a session may use; 255 is reserved for line control. */
#define SERIAL_CHANNEL_MAX	254u
#define SERIAL_CHANNEL_CONTROL	255u

/* Largest payload a frame may carry; a line may choose smaller frames. */
#define SERIAL_FRAME_PAYLOAD_MAX 1024u
/* The length field's top bit: a control frame. */
#define SERIAL_FRAME_CTL	0x8000u
/* Body before the payload: chan, seq, len, hec. */
#define SERIAL_FRAME_HEADER	6u
#define SERIAL_FRAME_TRAILER	4u
#define SERIAL_FRAME_BODY_MAX	(SERIAL_FRAME_HEADER + SERIAL_FRAME_PAYLOAD_MAX + SERIAL_FRAME_TRAILER)
/* Wire bytes of a frame with LEN payload bytes and no 0xFE to escape. */
#define SERIAL_FRAME_WIRE(len)	(2u + SERIAL_FRAME_HEADER + (len) + SERIAL_FRAME_TRAILER)
/* Wire bytes of a frame with LEN payload bytes at worst (every body byte 0xFE). */
#define SERIAL_FRAME_WIRE_WORST(len) \
	(2u + 2u * (SERIAL_FRAME_HEADER + (len) + SERIAL_FRAME_TRAILER))

/* CRC-32C of P (N bytes) continuing from CRC; start with 0.  The check
 * value of "123456789" is 0xE3069283. */
uint32_t serial_crc32c(uint32_t crc, const void *p, size_t n);
/* CRC-8, polynomial 0x07, initial 0, no final XOR ("123456789" -> 0xF4). */
uint8_t serial_crc8(const void *p, size_t n);

/*
 * Writes one frame for CHANNEL (0..255) with sequence number SEQ and LEN
 * payload bytes from PAYLOAD into DST (CAP bytes).  Returns the wire bytes
 * written, or 0 when the frame does not fit in CAP, LEN is over
 * SERIAL_FRAME_PAYLOAD_MAX or CHANNEL over 255; DST may then have been
 * written to, but no frame was produced.  CAP >= SERIAL_FRAME_WIRE_WORST(LEN)
 * always suffices.
 */
size_t serial_frame_encode(uint8_t *dst, size_t cap, unsigned channel, uint16_t seq,
			   const void *payload, size_t len);
/* The same with FLAGS (0 or SERIAL_FRAME_CTL) in the length field. */
size_t serial_frame_encode_flags(uint8_t *dst, size_t cap, unsigned channel, uint16_t seq,
				 unsigned flags, const void *payload, size_t len);

/* Counters of one decoder (one line's receive side). */
struct serial_dec_stats {
	uint64_t frames;	/* good frames delivered */
	uint64_t bytes;		/* wire bytes of those frames */
	uint64_t crc_errors;	/* whole frames whose CRC-32C did not match */
	uint64_t header_errors;	/* headers failing the HEC or over the maximum length */
	uint64_t truncated;	/* bodies cut short by a new sync or a bad escape */
	uint64_t resyncs;	/* good frames found after discarded bytes */
	uint64_t discarded;	/* wire bytes that were not part of a good frame */
	uint64_t seq_gaps;	/* good frames whose seq was not the one expected */
	uint64_t lost;		/* frames skipped by forward gaps (< 32768) */
};

/* One good frame.  PAYLOAD points into the decoder and stays valid until
 * the next call that feeds it; the caller may rewrite it in place, as a
 * link's received() handler may. */
struct serial_frame {
	uint8_t *payload;
	uint16_t len;
	uint16_t seq;
	uint8_t channel;
	/* A control frame: PAYLOAD is a control message (serial_ctl_decode). */
	bool control;
	/* The first frame this decoder has seen on CHANNEL: what came before
	 * it, if anything, is unknown. */
	bool first;
	/* seq minus the expected one, modulo 2^16: 0 when this frame follows
	 * the previous one of its channel (or is the first), N when N frames
	 * are missing, 65535 for a repeat of the previous one. */
	uint16_t gap;
};

struct serial_dec {
	uint8_t state;
	bool lost_sync;		/* bytes were discarded since the last good frame */
	uint32_t have;		/* body bytes in buf */
	uint32_t need;		/* body bytes wanted: the header, then the whole body */
	uint32_t wire;		/* wire bytes of the unfinished frame (or a lone FE) */
	struct serial_dec_stats stats;
	uint64_t seen[4];	/* channels with a frame seen */
	uint16_t next_seq[256];
	uint8_t buf[SERIAL_FRAME_BODY_MAX];
};

void serial_dec_init(struct serial_dec *d);

/*
 * Consumes input from *P (*N bytes), advancing both, until one good frame
 * is complete: then fills *F and returns true, and the rest of the input is
 * left for the next call.  Returns false once all input is consumed without
 * completing a frame.  Typical use:
 *
 *     while (serial_dec_next(d, &p, &n, &f))
 *         deliver(f.channel, f.payload, f.len);
 */
bool serial_dec_next(struct serial_dec *d, const uint8_t **p, size_t *n, struct serial_frame *f);

/* Forgets what CHANNEL's sequence was: its next frame is reported as
 * first.  For a channel whose conversation ended (a server on it stopped,
 * a client left), so that the next one starts clean. */
void serial_dec_forget(struct serial_dec *d, unsigned channel);

/* Wire bytes consumed but not yet resolved into a good frame or discards:
 * the unfinished frame at the end of the input so far.  Every byte fed is
 * exactly one of stats.bytes, stats.discarded or this. */
static inline size_t serial_dec_pending(const struct serial_dec *d)
{
	return d->wire;
}

/*
 * Control messages: the payload of a control frame, which opens and closes
 * the conversations a channel carries one after another (a channel is a
 * connection that can be made again, like a TCP port).
 *
 *     op:8 | id:16 | reason:8      (4 bytes; a receiver ignores any more)
 *
 *   OPEN   the sender starts conversation ID on this channel: whatever came
 *          before it is over, and the data frames that follow belong to
 *          the new one.  A client opens; the server answers with an OPEN
 *          carrying the same ID, and only then does either send data.
 *   CLOSE  conversation ID is over, for REASON.  ID 0 means whatever
 *          conversation the receiver holds (an answer to data that arrived
 *          where there is none).
 *
 * IDs are never 0; a client takes a new one for every attempt, so a late
 * answer to an earlier attempt is never taken for the answer to this one.
 */
enum serial_ctl_op {
	SERIAL_CTL_OPEN = 1,
	SERIAL_CTL_CLOSE = 2,
};

enum serial_close_reason {
	SERIAL_CLOSE_DONE = 0,		/* ended normally (a client left) */
	SERIAL_CLOSE_BROKEN = 1,	/* frames were lost: the stream cannot go on */
	SERIAL_CLOSE_NOBODY = 2,	/* no server on this channel */
	SERIAL_CLOSE_NOCONN = 3,	/* data arrived where no conversation is open */
	SERIAL_CLOSE_FULL = 4,		/* the session takes no more clients */
	SERIAL_CLOSE_ENDED = 5,		/* the server is ending */
};

#define SERIAL_CTL_LEN 4u

struct serial_ctl {
	uint8_t op;		/* enum serial_ctl_op */
	uint8_t reason;		/* enum serial_close_reason, for CLOSE */
	uint16_t id;
};

/* Writes C into OUT (SERIAL_CTL_LEN bytes). */
void serial_ctl_encode(uint8_t out[SERIAL_CTL_LEN], const struct serial_ctl *c);
/* 0, or -EINVAL for a message too short or with an unknown op. */
int serial_ctl_decode(const uint8_t *p, size_t n, struct serial_ctl *c);
/* "the client left", "frames were lost on the line", ... */
const char *serial_close_reason_text(unsigned reason);

#endif
