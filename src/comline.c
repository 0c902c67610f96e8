/* SPDX-License-Identifier: MIT */
/*
 * A serial line in the loop: one POLLIN and one POLLOUT poller per line
 * (a tty is never read or written by io_uring READ/WRITE, which can stall
 * the ring), non-blocking read(2) into the frame decoder and write(2) from
 * serial_out's lent wire buffer, the events owed to links, and the line's
 * life from its first channel to its last user (see comline.h for the
 * model).  The conversations on its channels are comconv.c's.
 *
 * Ownership: a link's send is lent to serial_out until its completion is
 * reaped (sender[] says whose it is), or, on a raw line, is written from
 * where it lies, synchronously, and never held by the kernel.  The wire
 * buffer is lent only between serial_out_take and serial_out_done inside
 * one step.  Nothing here frees or moves a link's bytes.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "serial/frame.h"
#include "src/comline_internal.h"

/* Bytes read, and written, per completion: a busy line yields to the
 * rest of the loop after this much. */
#define RX_BUDGET (64u * 1024)
#define TX_BUDGET (64u * 1024)
#define READ_CHUNK 4096

static void arm_rx(struct comline *cl);
static void arm_tx(struct comline *cl);
static void lend_piece(struct link_serial *ls);
static void maybe_free(struct comline *cl);

/* ---- owed events ------------------------------------------------------ */

static void arm_kick(struct comline *cl)
{
	struct io_uring_sqe *sqe;

	if (cl->kick_armed || cl->in_turn || cl->ringless)
		return;
	sqe = ring_get_sqe(cl->ring, &cl->kick_op);
	if (!sqe)
		return;		/* the next poll completion pays instead */
	io_uring_prep_nop(sqe);
	ring_sqe_set_op(sqe, &cl->kick_op);
	cl->kick_armed = true;
}

void comline_owe(struct link_serial *ls)
{
	struct comline *cl = ls->line;

	if (!ls->owed) {
		ls->owed = true;
		ls->next_owed = NULL;
		*cl->owed_tail = ls;
		cl->owed_tail = &ls->next_owed;
	}
	arm_kick(cl);
}

static struct link_serial *pop_owed(struct comline *cl)
{
	struct link_serial *ls = cl->owed_head;

	if (!ls)
		return NULL;
	cl->owed_head = ls->next_owed;
	if (!cl->owed_head)
		cl->owed_tail = &cl->owed_head;
	ls->owed = false;
	return ls;
}

/* One event per pop: after recv_ended (the last one a link owes) the owner
 * may let the link go, and after a sent() with nothing else owed too. */
static void pay_one(struct link_serial *ls)
{
	struct link *l = ls->link;

	if (ls->owe_sent) {
		bool more = ls->owe_recv;

		ls->owe_sent = false;
		l->sending = false;
		if (more)
			comline_owe(ls);	/* receiving: the link stays until then */
		l->ctx->ev->sent(l, ls->sent_res);
		return;
	}
	if (ls->owe_recv) {
		ls->owe_recv = false;
		l->receiving = false;
		l->ctx->ev->recv_ended(l, ls->recv_res);
	}
}

static void owe_sent(struct link_serial *ls, int res)
{
	ls->lent = ls->waiting = false;
	ls->owe_sent = true;
	ls->sent_res = res;
	comline_owe(ls);
}

void comline_owe_recv_ended(struct link_serial *ls, int res)
{
	if (!ls->link->receiving || ls->owe_recv)
		return;
	ls->owe_recv = true;
	ls->recv_res = res;
	comline_owe(ls);
}

/* The send is over: what went out counts, or why nothing did. */
static void finish_send(struct link_serial *ls, int why)
{
	owe_sent(ls, ls->done > 0 ? (int)(ls->done > INT32_MAX ? INT32_MAX : ls->done) : why);
}

/* ---- turns -------------------------------------------------------------- */

static void begin_turn(struct comline *cl)
{
	cl->refs++;
	cl->in_turn = true;
	cl->tx_turn = 0;
}

/* A completion of a line on its way out only brings its freeing closer; any
 * other starts a turn, which the handler ends with end_turn(). */
static bool completion_begins_turn(struct comline *cl)
{
	if (cl->closing) {
		maybe_free(cl);
		return false;
	}
	begin_turn(cl);
	return true;
}

static void tx_step(struct comline *cl);
static void reap(struct comline *cl);

static void tell_failure(struct comline *cl)
{
	cl->fail_due = false;
	for (unsigned i = 0; i <= 256; i++) {
		struct comchan *ch = i < 256 ? cl->chans[i] : cl->rawchan;

		if (ch && !ch->failed_told && !ch->closing) {
			ch->failed_told = true;
			ch->ops->line_failed(ch, cl->why);
		}
	}
}

/* Everything a turn left to do: output queued, events owed, owners to
 * tell; each may cause more of the others, so until none is left. */
static void end_turn(struct comline *cl)
{
	struct link_serial *ls;

	for (;;) {
		if (cl->reap_due) {
			cl->reap_due = false;
			reap(cl);
			continue;
		}
		if (cl->tx_due && !cl->tx_armed) {
			cl->tx_due = false;
			if (cl->tx_turn < TX_BUDGET)
				tx_step(cl);
			else
				arm_tx(cl);	/* the rest after the loop's other work */
			continue;
		}
		if ((ls = pop_owed(cl))) {
			pay_one(ls);
			continue;
		}
		if (cl->fail_due) {
			tell_failure(cl);
			continue;
		}
		break;
	}
	cl->in_turn = false;
	cl->refs--;
	maybe_free(cl);
}

void comline_want_tx(struct comline *cl)
{
	if (cl->in_turn)
		cl->tx_due = true;
	else
		arm_tx(cl);
}

/* ---- failure ------------------------------------------------------------ */

static void fail(struct comline *cl, int res)
{
	if (cl->failed)
		return;
	cl->failed = true;
	cl->fail_res = res;
	serial_line_io_error(cl->line, res, cl->why, sizeof(cl->why));
	for (unsigned i = 0; i <= 256; i++) {
		struct comchan *ch = i < 256 ? cl->chans[i] : cl->rawchan;

		if (ch && ch->conv)
			comconv_end(ch, res, -1, cl->why);
	}
	cl->fail_due = true;
	arm_kick(cl);
}

/* ---- writing ------------------------------------------------------------ */

static void reap(struct comline *cl)
{
	struct serial_out_completion c;

	while (serial_out_reap(comline_out(cl), &c)) {
		struct link_serial *ls = cl->sender[c.channel];
		struct comchan *ch;

		cl->sender[c.channel] = NULL;
		if (ls) {
			ls->lent = false;
			ls->done += c.framed;
			if (c.cancelled || ls->stop || !ls->chan ||
			    c.framed < ls->iov[ls->iov_i].iov_len) {
				finish_send(ls, ls->chan ? -ECANCELED : ls->end_res);
			} else {
				ls->iov_i++;
				lend_piece(ls);
			}
		}
		/* A new conversation's link may be waiting for the slot. */
		ch = cl->chans[c.channel];
		if (ch && ch->conv && ch->conv->waiting)
			lend_piece(ch->conv);
	}
}

/* Raw: the send is written from where it lies, as far as the tty takes. */
static int raw_write(struct comline *cl, size_t *budget, bool *blocked)
{
	struct link_serial *ls = cl->rawchan ? cl->rawchan->conv : NULL;

	if (!ls || !ls->link->sending || ls->owe_sent || !ls->lent)
		return 0;
	while (ls->iov_i < ls->iovcnt && *budget > 0) {
		const struct iovec *v = &ls->iov[ls->iov_i];
		size_t left = v->iov_len - ls->piece_off, want = left < *budget ? left : *budget;
		ssize_t w;

		if (left == 0) {
			ls->iov_i++;
			ls->piece_off = 0;
			continue;
		}
		w = serial_line_write(cl->line, (const uint8_t *)v->iov_base + ls->piece_off, want);
		if (w < 0)
			return (int)w;
		cl->stats.bytes_out += (size_t)w;
		cl->tx_turn += (size_t)w;
		*budget -= (size_t)w;
		ls->piece_off += (size_t)w;
		ls->done += (size_t)w;
		if ((size_t)w < want) {
			*blocked = true;
			break;
		}
	}
	/* A partial send completes with what went: the owner sends the rest.
	 * With nothing gone yet it waits for POLLOUT. */
	if (ls->iov_i == ls->iovcnt || ls->done > 0)
		finish_send(ls, 0);
	return 0;
}

static bool raw_pending(const struct comline *cl)
{
	const struct link_serial *ls = cl->rawchan ? cl->rawchan->conv : NULL;

	return ls && ls->lent;
}

static void tx_step(struct comline *cl)
{
	struct serial_out *o = comline_out(cl);
	size_t budget = TX_BUDGET > cl->tx_turn ? TX_BUDGET - cl->tx_turn : 0;
	bool blocked = false;
	int res = 0;

	if (cl->failed || cl->closing)
		return;
	if (cl->rawchan) {
		res = raw_write(cl, &budget, &blocked);
	} else {
		for (;;) {
			const uint8_t *p;
			size_t n;
			ssize_t w;

			while (budget > 0 && serial_out_take(o, &p, &n) == 0) {
				w = serial_line_write(cl->line, p, n);
				serial_out_done(o, w > 0 ? (size_t)w : 0);
				if (w < 0) {
					res = (int)w;
					break;
				}
				cl->stats.bytes_out += (size_t)w;
				cl->tx_turn += (size_t)w;
				budget = (size_t)w < budget ? budget - (size_t)w : 0;
				if ((size_t)w < n) {
					blocked = true;
					break;
				}
			}
			if (res < 0)
				break;
			reap(cl);
			/* Reaping may have lent more (a record's next piece). */
			if (blocked || budget == 0 || !serial_out_pending(o))
				break;
		}
	}
	if (res < 0) {
		fail(cl, res);
		return;
	}
	if (cl->rawchan ? raw_pending(cl) : serial_out_pending(o))
		arm_tx(cl);
}

static void lend_piece(struct link_serial *ls)
{
	struct comline *cl = ls->line;
	const struct iovec *v;

	while (ls->iov_i < ls->iovcnt && ls->iov[ls->iov_i].iov_len == 0)
		ls->iov_i++;
	if (ls->iov_i == ls->iovcnt) {
		finish_send(ls, 0);
		return;
	}
	/* The slot still holds the last conversation's cancelled send until
	 * its completion is reaped; this one goes right after. */
	if (cl->sender[ls->channel]) {
		ls->waiting = true;
		return;
	}
	ls->waiting = false;
	v = &ls->iov[ls->iov_i];
	if (serial_out_send(comline_out(cl), ls->channel, v->iov_base, v->iov_len) < 0) {
		finish_send(ls, -EBUSY);
		return;
	}
	ls->lent = true;
	cl->sender[ls->channel] = ls;
	comline_want_tx(cl);
}

void comline_deliver(struct link_serial *ls, uint8_t *p, size_t n)
{
	struct link *l = ls->link;

	if (l->receiving && !ls->owe_recv && !l->stopped)
		l->ctx->ev->received(l, (char *)p, n);
}

/* ---- polls -------------------------------------------------------------- */

static void arm_rx(struct comline *cl)
{
	if (cl->rx_armed || cl->paused || cl->failed || cl->closing || !cl->nchans ||
	    cl->ringless)
		return;
	if (ring_poll(cl->ring, &cl->rx_op, serial_line_fd(cl->line), POLLIN) == 0)
		cl->rx_armed = true;
}

static void arm_tx(struct comline *cl)
{
	if (cl->tx_armed || cl->failed || cl->closing || cl->ringless)
		return;
	if (ring_poll(cl->ring, &cl->tx_op, serial_line_fd(cl->line), POLLOUT) == 0)
		cl->tx_armed = true;
}

/* A terminal's Enter is CR (some send CR LF): a line end, once, as a
 * tty's ICRNL makes it; across reads too. */
static size_t icrnl(struct link_serial *ls, uint8_t *p, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];

		if (b == '\n' && ls->cr_last) {
			ls->cr_last = false;
			continue;
		}
		ls->cr_last = b == '\r';
		p[out++] = b == '\r' ? '\n' : b;
	}
	return out;
}

static void decode(struct comline *cl, const uint8_t *p, size_t n)
{
	struct serial_frame f;

	while (serial_dec_next(&cl->line->dec, &p, &n, &f))
		comconv_frame(cl, &f);
}

static void on_rx(struct ring_op *op, int res, unsigned flags)
{
	struct comline *cl = container_of(op, struct comline, rx_op);
	uint8_t buf[READ_CHUNK];
	size_t total = 0;

	cl->rx_armed = false;
	if (!completion_begins_turn(cl))
		return;
	if (res < 0 && res != -ECANCELED) {
		fail(cl, res);
	} else if (res >= 0) {
		while (total < RX_BUDGET && !cl->failed && !cl->paused) {
			ssize_t n = serial_line_read(cl->line, buf, sizeof(buf));

			if (n == -EAGAIN) {
				/* Readiness for an error with nothing to read: the
				 * line is gone, however read(2) puts it. */
				if (total == 0 && (res & (POLLHUP | POLLERR | POLLNVAL)))
					fail(cl, -EIO);
				break;
			}
			if (n < 0) {
				fail(cl, (int)n);
				break;
			}
			total += (size_t)n;
			cl->stats.bytes_in += (size_t)n;
			if (cl->rawchan) {
				struct link_serial *ls = cl->rawchan->conv;
				size_t m = ls ? icrnl(ls, buf, (size_t)n) : 0;

				if (m)
					comline_deliver(ls, buf, m);
			} else {
				decode(cl, buf, (size_t)n);
			}
		}
	}
	arm_rx(cl);
	end_turn(cl);
}

static void on_tx(struct ring_op *op, int res, unsigned flags)
{
	struct comline *cl = container_of(op, struct comline, tx_op);

	cl->tx_armed = false;
	if (!completion_begins_turn(cl))
		return;
	if (res < 0 && res != -ECANCELED) {
		fail(cl, res);
	} else if (res >= 0) {
		tx_step(cl);
		/* Writable "because" hung up, and nothing went: gone. */
		if (cl->tx_turn == 0 && (res & (POLLHUP | POLLERR | POLLNVAL)))
			fail(cl, -EIO);
	}
	end_turn(cl);
}

static void on_kick(struct ring_op *op, int res, unsigned flags)
{
	struct comline *cl = container_of(op, struct comline, kick_op);

	cl->kick_armed = false;
	if (completion_begins_turn(cl))
		end_turn(cl);
}

/* ---- what links ask ----------------------------------------------------- */

void comline_attach(struct comchan *ch, struct link_serial *ls)
{
	assert(!ch->conv);
	ch->conv = ls;
	ls->chan = ch;
	ls->line = ch->line;
	ls->channel = ch->channel;
	ls->end_res = 0;
	ch->line->refs++;
}

void comline_send(struct link_serial *ls)
{
	struct comline *cl = ls->line;

	ls->iov_i = ls->piece_off = ls->done = 0;
	ls->stop = false;
	if (cl->failed) {
		finish_send(ls, cl->fail_res);
	} else if (!ls->chan) {
		finish_send(ls, ls->end_res ? ls->end_res : -ENOTCONN);
	} else if (ls->channel == SERIAL_CHANNEL_RAW) {
		ls->lent = true;
		comline_want_tx(cl);
	} else {
		lend_piece(ls);
	}
}

void comline_cancel_send(struct link_serial *ls)
{
	struct comline *cl = ls->line;

	if (!ls->link->sending || ls->owe_sent)
		return;
	ls->stop = true;
	if (ls->lent && ls->channel != SERIAL_CHANNEL_RAW) {
		/* No byte of it is read from now on; the completion (with
		 * what was framed) comes when the slot is reaped. */
		serial_out_cancel(comline_out(cl), ls->channel);
		cl->reap_due = true;
		arm_kick(cl);
		return;
	}
	/* Waiting, or raw: nothing of it is anywhere but where it lies. */
	finish_send(ls, ls->chan ? -ECANCELED : ls->end_res);
}

void comline_unref(struct comline *cl)
{
	cl->refs--;
	maybe_free(cl);
}

bool comchan_draining(const struct comchan *ch)
{
	struct comline *cl = ch->line;
	int queued = 0;

	if (cl->failed)
		return false;
	if (cl->rawchan ? raw_pending(cl) : serial_out_pending(comline_out(cl)))
		return true;
	return ioctl(serial_line_fd(cl->line), TIOCOUTQ, &queued) == 0 && queued > 0;
}

void comchan_pause(struct comchan *ch, bool pause)
{
	struct comline *cl = ch->line;

	cl->paused = pause;
	if (!pause)
		arm_rx(cl);
}

size_t comline_frame_payload(const struct comline *cl)
{
	return cl->line->out.frame_payload;
}

const struct comline_stats *comline_stats(const struct comline *cl)
{
	return &cl->stats;
}

/* ---- channels and lines ------------------------------------------------- */

static void release(struct comline *cl, unsigned channel)
{
	if (cl->reg)
		serial_registry_release(cl->reg, cl->line, channel);
}

void comline_remove_chan(struct comchan *ch)
{
	struct comline *cl = ch->line;

	if (ch->channel == SERIAL_CHANNEL_RAW)
		cl->rawchan = NULL;
	else
		cl->chans[ch->channel] = NULL;
	release(cl, ch->channel);
	free(ch);
	/* Nobody to read for: the links left (ended conversations) only wait
	 * for their owners to let them go. */
	if (--cl->nchans == 0 && cl->rx_armed && !cl->ringless)
		ring_cancel(cl->ring, &cl->rx_op);
	comline_unref(cl);
}

static void unlink_line(struct comline *cl)
{
	struct comline **pp;

	for (pp = cl->list; *pp; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
}

static void destroy(struct comline *cl)
{
	unlink_line(cl);
	if (cl->reg)
		serial_registry_release(cl->reg, cl->line, SERIAL_CHANNEL_NONE);
	else
		serial_line_close(cl->line);
	free(cl);
}

/*
 * Nobody uses the line: what is still queued for it (a last CLOSE) gets one
 * chance to go without waiting, the polls are cancelled, and once their
 * completions are in, the line is given back.
 */
static void maybe_free(struct comline *cl)
{
	if (cl->refs > 0 || cl->in_turn)
		return;
	if (!cl->closing) {
		tx_step(cl);
		cl->closing = true;
		if (cl->ringless)
			return;		/* comline_free_all has it */
		if (cl->rx_armed)
			ring_cancel(cl->ring, &cl->rx_op);
		if (cl->tx_armed)
			ring_cancel(cl->ring, &cl->tx_op);
	}
	if (cl->rx_armed || cl->tx_armed || cl->kick_armed)
		return;
	destroy(cl);
}

static struct comline *find_line(struct comline *list, const struct serial_line *line)
{
	for (; list; list = list->next)
		if (list->line == line)
			return list;
	return NULL;
}

int comchan_open(struct comchan **out, struct ring *ring, struct comline **list,
		 struct serial_registry *reg, const struct serial_config *cfg, unsigned channel,
		 enum comchan_role role, const struct comchan_ops *ops, void *owner, char *err,
		 size_t errlen)
{
	struct serial_registry own = { NULL };
	struct serial_line *line;
	struct comline *cl;
	struct comchan *ch;
	int res;

	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	res = serial_registry_acquire(reg ? reg : &own, cfg, channel, &line, err, errlen);
	if (res < 0) {
		free(ch);
		return res;
	}
	cl = reg ? find_line(*list, line) : NULL;
	if (cl && cl->failed) {
		snprintf(err, errlen, "%s; it is still in use by servers that failed with it",
			 cl->why);
		serial_registry_release(reg, line, channel);
		free(ch);
		return -EIO;
	}
	if (!cl) {
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			snprintf(err, errlen, "out of memory");
			if (reg)
				serial_registry_release(reg, line, channel);
			else
				serial_line_close(line);
			free(ch);
			return -ENOMEM;
		}
		cl->ring = ring;
		cl->line = line;
		cl->reg = reg;
		cl->list = list;
		cl->owed_tail = &cl->owed_head;
		cl->rx_op.cb = on_rx;
		cl->tx_op.cb = on_tx;
		cl->kick_op.cb = on_kick;
		/* Not 0, and unlike what an earlier run of ours used. */
		cl->next_id = (uint16_t)(time(NULL) * 2654435761u ^ (unsigned)getpid());
		if (reg)
			serial_registry_retain(line);
		cl->next = *list;
		*list = cl;
	}
	cl->closing = false;	/* a line about to close is in use again */
	ch->line = cl;
	ch->ops = ops;
	ch->owner = owner;
	ch->channel = channel;
	ch->role = (uint8_t)role;
	if (channel == SERIAL_CHANNEL_RAW) {
		snprintf(ch->where, sizeof(ch->where), "%s at %u baud", line->name, line->baud);
		ch->state = CH_OPEN;
		cl->rawchan = ch;
	} else {
		snprintf(ch->where, sizeof(ch->where), "channel %u of %s at %u baud", channel,
			 line->name, line->baud);
		ch->state = role == COMCHAN_SERVER ? CH_LISTEN : CH_IDLE;
		cl->chans[channel] = ch;
	}
	cl->refs++;
	cl->nchans++;
	arm_rx(cl);
	*out = ch;
	return 0;
}

void comchan_close(struct comchan *ch)
{
	ch->closing = true;
	if (!ch->conv)
		comline_remove_chan(ch);
}

dev_t comchan_rdev(const struct comchan *ch)
{
	return ch->line->line->rdev;
}

void comchan_describe(const struct comchan *ch, char *buf, size_t len)
{
	serial_line_describe(ch->line->line, buf, len);
}

/* Writes what is queued, waiting up to MS for the line and then for the
 * tty's own queue (TIOCOUTQ) to empty: only where the loop is over. */
static void drain(struct comline *cl, unsigned ms)
{
	struct timespec t0, t;
	int fd = serial_line_fd(cl->line), queued;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long spent;
		bool more = cl->rawchan ? raw_pending(cl) : serial_out_pending(comline_out(cl));

		if (more && !cl->failed) {
			cl->closing = false;
			tx_step(cl);
			cl->closing = true;
			more = cl->rawchan ? raw_pending(cl) : serial_out_pending(comline_out(cl));
		}
		if (cl->failed || (!more && (ioctl(fd, TIOCOUTQ, &queued) < 0 || queued == 0)))
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= (long)ms)
			return;
		poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 10);
	}
}

void comline_free_all(struct comline **list, unsigned drain_ms)
{
	for (struct comline *cl = *list; cl; cl = cl->next)
		cl->ringless = true;
	while (*list) {
		struct comline *cl = *list;

		if (drain_ms)
			drain(cl, drain_ms);
		for (unsigned i = 0; i <= 256; i++) {
			struct comchan *ch = i < 256 ? cl->chans[i] : cl->rawchan;

			if (!ch)
				continue;
			release(cl, ch->channel);
			free(ch);
		}
		destroy(cl);
	}
}
