/* SPDX-License-Identifier: MIT */
/*
 * The output side of a framed serial line: the channels' pending bytes are
 * cut into frames, one frame per channel per turn in round-robin order, so
 * a channel with megabytes to send never holds up one with a keystroke's
 * echo by more than a frame.
 *
 * Two kinds of lending, each with one owner at a time:
 *
 *  - A channel's owner lends its bytes with serial_out_send() (the way a
 *    link lends transcript bytes to a socket send).  They are read, never
 *    written, only inside serial_out_take(), which copies them into frames;
 *    the owner gets them back through serial_out_reap() once the last of
 *    them is framed, or at once after serial_out_cancel().  Nothing is
 *    copied per channel beforehand, so a channel costs no memory however
 *    much it has lent, and a channel the line cannot keep up with simply
 *    does not complete: that is its back-pressure, and the session's lag
 *    policy skips it ahead (and cancels) exactly as for a slow socket.
 *
 *  - The framed bytes (the wire buffer) are lent to the writer with
 *    serial_out_take().  Until serial_out_done() says how many were
 *    written, nothing here moves, frees or rewrites them, and take()
 *    refuses to lend again.  A partial write keeps the rest, which goes
 *    first next time.
 *
 * Memory is fixed: the struct, no allocation.  One take() lends at most
 * one worst-case frame of the line's frame size (about two ordinary
 * frames), which keeps the head-of-line wait for another channel short at
 * low baud rates; the tty driver adds its own queue (it reports POLLOUT
 * below 256 queued bytes).
 */
#ifndef RINGSIDE_SERIAL_OUT_H
#define RINGSIDE_SERIAL_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serial/frame.h"

#define SERIAL_OUT_WIRE_CAP	SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX)
/* Smallest frame payload a line may choose. */
#define SERIAL_OUT_FRAME_MIN	64u

struct serial_out_chan {
	const uint8_t *p;	/* lent bytes not framed yet */
	size_t left;
	size_t framed;		/* bytes of the current send framed so far */
	uint16_t seq;		/* sequence number of this channel's next frame */
	bool busy;		/* a send is lent and not reaped */
	bool unframed;		/* ... and not all of it framed yet */
	bool cancelled;
	bool ctl_pending;	/* a control message goes before the next data */
	uint8_t ctl[SERIAL_CTL_LEN];
};

/* One finished send, from serial_out_reap(). */
struct serial_out_completion {
	unsigned channel;
	size_t framed;		/* bytes of the send that were framed */
	bool cancelled;		/* ended by serial_out_cancel() */
};

struct serial_out_stats {
	uint64_t frames;	/* frames built, control frames included */
	uint64_t controls;	/* control frames built */
	uint64_t payload;	/* payload bytes in them */
	uint64_t written;	/* wire bytes reported written */
};

struct serial_out {
	uint32_t frame_payload;	/* payload bytes per frame at most */
	uint32_t fill_limit;	/* wire bytes one take() fills up to */
	uint32_t off, end;	/* unwritten wire bytes are wire[off, end) */
	uint32_t lent;		/* bytes lent by take(), when lending */
	bool lending;
	uint8_t cursor;		/* the channel whose turn is next */
	uint64_t ready[4];	/* channels with a send to frame */
	uint64_t finished[4];	/* channels with a completion to reap */
	struct serial_out_stats stats;
	struct serial_out_chan chan[256];
	uint8_t wire[SERIAL_OUT_WIRE_CAP];
};

/* A frame payload size for a line at BAUD: about 20 ms of line time, so a
 * turn is short, within SERIAL_OUT_FRAME_MIN..SERIAL_FRAME_PAYLOAD_MAX. */
size_t serial_out_frame_size(unsigned baud);

/* FRAME_PAYLOAD is clamped to SERIAL_OUT_FRAME_MIN..SERIAL_FRAME_PAYLOAD_MAX. */
void serial_out_init(struct serial_out *o, size_t frame_payload);

/*
 * Lends P (LEN bytes) to CHANNEL (0..255) until its completion is reaped.
 * LEN 0 sends one empty frame.  0, -EBUSY when the channel has a send not
 * yet reaped, -EINVAL for a channel over 255.
 */
int serial_out_send(struct serial_out *o, unsigned channel, const void *p, size_t len);

/*
 * Queues control message C for CHANNEL (0..255).  It goes out as a control
 * frame in the channel's next turn, ahead of any data the channel has not
 * framed yet, and replaces one queued earlier and not sent (each control
 * message ends what came before it).  Control messages have no completion.
 * 0, or -EINVAL for a channel over 255.
 */
int serial_out_control(struct serial_out *o, unsigned channel, const struct serial_ctl *c);

/* Ends CHANNEL's send now; no byte of it is read after this returns.  Its
 * completion (cancelled, with what was framed already) is then reapable.
 * 0, or -ENOENT when the channel has no unfinished send. */
int serial_out_cancel(struct serial_out *o, unsigned channel);

/* Bytes CHANNEL has lent that are not framed yet. */
size_t serial_out_backlog(const struct serial_out *o, unsigned channel);

/* Frames built but not written, sends with bytes left to frame, or
 * control messages not framed yet. */
bool serial_out_pending(const struct serial_out *o);

/*
 * Frames what fits, then lends the unwritten wire bytes: *P and *LEN.
 * 0, -EAGAIN when there is nothing to write, -EBUSY while a take is not
 * done.  Completions of sends framed to the end become reapable.
 */
int serial_out_take(struct serial_out *o, const uint8_t **p, size_t *len);

/* The writer wrote N (<= what take lent) of the lent bytes. */
void serial_out_done(struct serial_out *o, size_t n);

/* One finished send into *C and true, or false when none is left.  The
 * channel may send again after its completion is reaped. */
bool serial_out_reap(struct serial_out *o, struct serial_out_completion *c);

#endif
