/* SPDX-License-Identifier: MIT */
/*
 * A serial line driven by the loop (comline.c), and the channels on it.
 *
 * One comline per open line: one POLLIN poller reading the line, one
 * POLLOUT poller feeding it from serial_out's round-robin, shared by every
 * channel on the line, and the frame decoder dispatching what arrives to
 * the channel it names.  A channel (struct comchan) is one end of a
 * connection that can be made again and again: it carries one conversation
 * at a time, opened and closed by control frames (serial/frame.h), and the
 * conversation is what a link (LINK_SERIAL, link_serial.c) is attached to.
 * A raw line has one channel, unframed, whose conversation never ends by
 * itself.
 *
 * Noise never desynchronises a conversation silently: a data frame that is
 * not the next in its channel's sequence ends the conversation (both ends
 * are told, the far end with a CLOSE); the native protocol then resumes on
 * a new one by transcript offset.
 *
 * The events a link expects (sent, recv_ended) and the owners' notices
 * (line_failed) are never delivered from inside a call the owner made:
 * they are owed, and paid at the end of the comline's own completion
 * (a poll, or a NOP submitted to have one).  Only received() and the
 * conversation's start (opened, answered) come straight from the receive.
 *
 * Internal to src/.
 */
#ifndef RINGSIDE_COMLINE_H
#define RINGSIDE_COMLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "ring/ring.h"
#include "serial/line.h"
#include "src/link.h"

struct comline;
struct comchan;

enum comchan_role {
	COMCHAN_SERVER,		/* answers OPENs: each one a new conversation */
	COMCHAN_CLIENT,		/* opens conversations (comchan_connect) */
};

struct comchan_ops {
	/* Server: the peer opened a conversation.  Attach a link to it now
	 * (link_init_serial, then link_recv), or refuse with comchan_refuse.
	 * Doing neither refuses it as full. */
	void (*opened)(struct comchan *ch);
	/* Client: the answer to comchan_connect: 0 (attach a link now), or
	 * -ECONNREFUSED with REASON (enum serial_close_reason). */
	void (*answered)(struct comchan *ch, int res, unsigned reason);
	/* The line is gone (WHY says how); the conversation, if any, has been
	 * ended.  The owner closes the channel. */
	void (*line_failed)(struct comchan *ch, const char *why);
};

struct link_serial;

struct comchan {
	struct comline *line;
	const struct comchan_ops *ops;
	void *owner;
	unsigned channel;		/* 0..254, or SERIAL_CHANNEL_RAW */
	uint8_t role;			/* enum comchan_role */
	uint8_t state;			/* comline.c */
	bool closing;			/* comchan_close: goes once its conversation does */
	bool failed_told;
	uint16_t conv_id;		/* the conversation open or being opened */
	struct link_serial *conv;	/* the link attached to it, or NULL */
	char where[2 * SERIAL_PATH_MAX + 64]; /* "channel 3 of /dev/ttyUSB0 at 115200 baud" */
};

/* Per link: the state of a LINK_SERIAL link (link_serial.c and comline.c). */
struct link_serial {
	struct link *link;
	struct comline *line;		/* held until link_close */
	struct comchan *chan;		/* while its conversation lasts */
	unsigned channel;
	/* The owner's send: pieces, the one lent now, and how far it got. */
	struct iovec single;
	const struct iovec *iov;
	size_t iovcnt, iov_i, piece_off, done;
	bool lent;			/* iov[iov_i] is lent to serial_out, or (raw) waits */
	bool stop;			/* cancelled: no further piece is lent */
	bool cr_last;			/* raw: the last byte in was a CR */
	bool waiting;			/* the channel's output slot is still another's */
	int end_res;			/* why the conversation ended (owed events) */
	const char *why;		/* ... in words, for link_error(); NULL: it has not */
	/* Events owed to the owner, paid by the comline. */
	bool owe_sent, owe_recv;
	int sent_res, recv_res;
	bool owed;			/* on the comline's owed list */
	struct link_serial *next_owed;
};

struct comline_stats {
	uint64_t bytes_in, bytes_out;
	uint64_t conversations;		/* opened (server) or established (client) */
	uint64_t breaks;		/* conversations ended by lost frames */
	uint64_t stray;			/* data frames with no conversation to go to */
};

/*
 * Opens CHANNEL (0..254, or SERIAL_CHANNEL_RAW) of the line CFG names,
 * through REG (one line per device: a line already open, in REG and on
 * *LIST, is shared), for ROLE.  The comline is created on RING and put on
 * *LIST when this is the line's first channel.  0, or -errno with a message
 * in ERR naming the device, the channel or the conflict.
 */
int comchan_open(struct comchan **out, struct ring *ring, struct comline **list,
		 struct serial_registry *reg, const struct serial_config *cfg, unsigned channel,
		 enum comchan_role role, const struct comchan_ops *ops, void *owner, char *err,
		 size_t errlen);

/*
 * No new conversations (an OPEN is answered CLOSE "the server is ending");
 * the channel goes, with its registry place and its owner's pointer, once
 * the conversation attached now (if any) has ended.  The line closes once
 * its last channel and link are gone.  OWNER is not called again.
 */
void comchan_close(struct comchan *ch);

/* Server: refuse the conversation opened() offered, for REASON. */
void comchan_refuse(struct comchan *ch, unsigned reason);

/* Client: open a new conversation (any earlier attempt is forgotten: its
 * answer, if it comes, is ignored).  ops->answered() tells the outcome. */
void comchan_connect(struct comchan *ch);

/* The device number of CH's line: one per device, whatever its name. */
dev_t comchan_rdev(const struct comchan *ch);

/* The line's description: "/dev/pts/3 115200 8N1 flow=none (termios)". */
void comchan_describe(const struct comchan *ch, char *buf, size_t len);

/* Output for CH's line is still queued: in the line's frames or in the
 * tty's own queue (TIOCOUTQ). */
bool comchan_draining(const struct comchan *ch);

/* Stop or go on reading CH's line (a client whose stdout is behind). */
void comchan_pause(struct comchan *ch, bool pause);

const struct comline_stats *comline_stats(const struct comline *cl);
/* Payload bytes per frame on CL's line (serial_out_frame_size). */
size_t comline_frame_payload(const struct comline *cl);

/*
 * Frees every comline on *LIST and every channel still on them, closing
 * the lines, without touching the ring: only once the ring is gone and no
 * link on them is left.  What is still queued for a line (a last record, a
 * CLOSE) is written first, waiting up to DRAIN_MS for the line to take it
 * and for the tty to send it: a process's last words on its way out.
 */
void comline_free_all(struct comline **list, unsigned drain_ms);

/* link_serial.c's needs, met by comline.c. */
/* Attach LS as CH's conversation (link_init_serial). */
void comline_attach(struct comchan *ch, struct link_serial *ls);
/* Lend the next piece of LS's send, or complete it; from link_send. */
void comline_send(struct link_serial *ls);
/* End LS's send now: what was framed counts, the rest is not read. */
void comline_cancel_send(struct link_serial *ls);
/* LS ends its conversation (REASON for the peer); owed events follow. */
void comline_detach(struct link_serial *ls, unsigned reason, int res);
/* LS owes its owner EVENT: queued, paid at the end of the comline's turn. */
void comline_owe(struct link_serial *ls);
/* A link let go of the comline (link_close). */
void comline_unref(struct comline *cl);

#endif
