/* SPDX-License-Identifier: MIT */
/*
 * What comline.c (the line: polls, reading, writing, owed events, the
 * line's life) and comconv.c (the conversations of its channels) share.
 * Nobody else includes this.
 */
#ifndef RINGSIDE_COMLINE_INTERNAL_H
#define RINGSIDE_COMLINE_INTERNAL_H

#include <time.h>

#include "serial/frame.h"
#include "src/comline.h"

enum chan_state {
	CH_LISTEN,		/* server: waiting for an OPEN */
	CH_IDLE,		/* client: no conversation */
	CH_CONNECTING,		/* client: OPEN sent, waiting for its answer */
	CH_OPEN,		/* a conversation is on */
};

struct comline {
	struct ring *ring;
	struct serial_line *line;
	struct serial_registry *reg;	/* where the line came from; NULL: ours alone */
	struct comline **list;
	struct comline *next;
	unsigned refs;			/* channels, links, and a turn in progress */
	struct ring_op rx_op, tx_op, kick_op;
	bool rx_armed, tx_armed, kick_armed;
	bool paused;
	bool in_turn;			/* owed events wait for the turn's end */
	bool tx_due;			/* output was queued during the turn */
	bool reap_due;			/* a send was cancelled: its completion waits */
	size_t tx_turn;			/* bytes written this turn */
	bool failed;
	bool fail_due;			/* owners still to be told */
	int fail_res;
	char why[SERIAL_PATH_MAX * 2 + 128];
	bool closing;			/* no users left: stop, then free */
	bool ringless;			/* comline_free_all: the ring is gone */
	uint16_t next_id;
	struct comchan *chans[256];	/* framed channels by number */
	struct comchan *rawchan;	/* a raw line's one channel */
	unsigned nchans;		/* channels open: with none, nothing is read */
	struct link_serial *sender[256];	/* whose send serial_out holds, per channel */
	struct link_serial *owed_head, **owed_tail;
	uint64_t told[4];		/* channels answered NOCONN this second */
	time_t told_at;
	struct comline_stats stats;
};

static inline struct serial_out *comline_out(struct comline *cl)
{
	return &cl->line->out;
}

/* comline.c */
/* Output is queued: write it at the turn's end, or when the line can take it. */
void comline_want_tx(struct comline *cl);
/* LS's receive has ended for RES: owed to its owner. */
void comline_owe_recv_ended(struct link_serial *ls, int res);
/* Bytes of LS's conversation arrived: its owner's received(). */
void comline_deliver(struct link_serial *ls, uint8_t *p, size_t n);
/* CH goes: its registry place, its slot, its reference on the line. */
void comline_remove_chan(struct comchan *ch);

/* comconv.c */
/* Queue control message OP for CHANNEL (dropped on a failed line). */
void comconv_send_ctl(struct comline *cl, unsigned channel, uint8_t op, uint16_t id,
		      uint8_t reason);
/*
 * The conversation on CH ends, for RES (0: the peer closed it); WHY in
 * words for link_error().  REASON, unless negative, goes to the peer in a
 * CLOSE.  The link attached to it gets its owed events; its send stops
 * being read.  A closing CH goes with it: not to be touched after.
 */
void comconv_end(struct comchan *ch, int res, int reason, const char *why);
/* A good frame F arrived on CL's line. */
void comconv_frame(struct comline *cl, struct serial_frame *f);

#endif
