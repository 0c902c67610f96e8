/* SPDX-License-Identifier: MIT */
/*
 * The conversations of a line's channels (model in comline.h, control
 * messages in serial/frame.h).  A server channel answers each OPEN with an
 * OPEN of the same id and a new conversation (the one before, if any, is
 * over: its peer started again); a client channel opens with a fresh id
 * and takes only the answer carrying it.  A data frame that is not the
 * next of its channel ends the conversation on both sides (a CLOSE says
 * so), and data where no conversation is open is answered with a CLOSE
 * (once a second), so that neither end goes on believing in a stream that
 * has a hole in it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "serial/frame.h"
#include "src/comline_internal.h"

/* ---- control messages --------------------------------------------------- */

void comconv_send_ctl(struct comline *cl, unsigned channel, uint8_t op, uint16_t id,
		     uint8_t reason)
{
	struct serial_ctl c = { .op = op, .id = id, .reason = reason };

	if (cl->failed || channel > SERIAL_CHANNEL_MAX)
		return;
	serial_out_control(comline_out(cl), channel, &c);
	comline_want_tx(cl);
}

/* Data for a channel with no conversation: the far end is told (once a
 * second at most per channel), so that one that thinks it has one learns
 * otherwise now rather than at its read timeout. */
static void reply_noconn(struct comline *cl, unsigned channel)
{
	time_t now = time(NULL);

	cl->stats.stray++;
	if (now != cl->told_at) {
		memset(cl->told, 0, sizeof(cl->told));
		cl->told_at = now;
	}
	if (cl->told[channel >> 6] >> (channel & 63) & 1)
		return;
	cl->told[channel >> 6] |= 1ull << (channel & 63);
	comconv_send_ctl(cl, channel, SERIAL_CTL_CLOSE, 0,
		 cl->chans[channel] ? SERIAL_CLOSE_NOCONN : SERIAL_CLOSE_NOBODY);
}

/* ---- conversations ------------------------------------------------------ */

void comconv_end(struct comchan *ch, int res, int reason, const char *why)
{
	struct comline *cl = ch->line;
	struct link_serial *ls = ch->conv;

	ch->conv = NULL;
	if (ch->channel != SERIAL_CHANNEL_RAW) {
		if (reason >= 0)
			comconv_send_ctl(cl, ch->channel, SERIAL_CTL_CLOSE, ch->conv_id, (uint8_t)reason);
		ch->state = ch->role == COMCHAN_SERVER ? CH_LISTEN : CH_IDLE;
	}
	if (ls) {
		ls->chan = NULL;
		ls->why = why;
		ls->end_res = res ? res : -EPIPE;
		comline_owe_recv_ended(ls, res);
		if (ls->link->sending && !ls->owe_sent)
			comline_cancel_send(ls);
	}
	if (ch->closing)
		comline_remove_chan(ch);
}

static void server_open(struct comchan *ch, uint16_t id)
{
	struct comline *cl = ch->line;

	if (ch->closing) {
		comconv_send_ctl(cl, ch->channel, SERIAL_CTL_CLOSE, id, SERIAL_CLOSE_ENDED);
		if (ch->conv)		/* the channel goes with it */
			comconv_end(ch, -ECONNRESET, -1, "the peer started a new connection");
		return;
	}
	/* The peer started over: what it had before is gone. */
	if (ch->conv)
		comconv_end(ch, -ECONNRESET, -1, "the peer started a new connection");
	ch->conv_id = id;
	comconv_send_ctl(cl, ch->channel, SERIAL_CTL_OPEN, id, 0);
	ch->state = CH_OPEN;
	cl->stats.conversations++;
	ch->ops->opened(ch);
	if (ch->state == CH_OPEN && !ch->conv)
		comchan_refuse(ch, SERIAL_CLOSE_FULL);
}

static void on_control(struct comline *cl, struct comchan *ch, const struct serial_frame *f)
{
	struct serial_ctl c;

	if (serial_ctl_decode(f->payload, f->len, &c) < 0)
		return;		/* a later version's message: nothing to do */
	if (!ch) {
		if (c.op == SERIAL_CTL_OPEN)
			comconv_send_ctl(cl, f->channel, SERIAL_CTL_CLOSE, c.id, SERIAL_CLOSE_NOBODY);
		return;
	}
	if (ch->role == COMCHAN_SERVER) {
		if (c.op == SERIAL_CTL_OPEN)
			server_open(ch, c.id);
		else if (ch->state == CH_OPEN && (c.id == ch->conv_id || c.id == 0))
			comconv_end(ch, c.reason == SERIAL_CLOSE_DONE ? 0 : -ECONNRESET, -1,
				 c.reason == SERIAL_CLOSE_DONE ? NULL :
								 serial_close_reason_text(c.reason));
		return;
	}
	/* A client: only the answer to its latest OPEN counts. */
	if (ch->state == CH_CONNECTING && c.id == ch->conv_id) {
		if (c.op == SERIAL_CTL_OPEN) {
			ch->state = CH_OPEN;
			cl->stats.conversations++;
			ch->ops->answered(ch, 0, 0);
		} else {
			ch->state = CH_IDLE;
			ch->ops->answered(ch, -ECONNREFUSED, c.reason);
		}
	} else if (ch->state == CH_OPEN && c.op == SERIAL_CTL_CLOSE &&
		   (c.id == ch->conv_id || c.id == 0)) {
		comconv_end(ch, c.reason == SERIAL_CLOSE_DONE ? 0 : -ECONNRESET, -1,
			 c.reason == SERIAL_CLOSE_DONE ? NULL : serial_close_reason_text(c.reason));
	}
}

void comconv_frame(struct comline *cl, struct serial_frame *f)
{
	struct comchan *ch = f->channel <= SERIAL_CHANNEL_MAX ? cl->chans[f->channel] : NULL;

	if (f->channel > SERIAL_CHANNEL_MAX)
		return;		/* line control: nothing defined yet */
	if (f->control) {
		on_control(cl, ch, f);
		return;
	}
	if (!ch || ch->state != CH_OPEN) {
		/* A client ignores what an older conversation left behind. */
		if (!ch || ch->role == COMCHAN_SERVER)
			reply_noconn(cl, f->channel);
		return;
	}
	if (f->gap) {
		/* Frames were lost or repeated: this stream cannot go on. */
		cl->stats.breaks++;
		comconv_end(ch, -EPROTO, SERIAL_CLOSE_BROKEN, "frames were lost on the line");
		return;
	}
	if (ch->conv)
		comline_deliver(ch->conv, f->payload, f->len);
}

void comline_detach(struct link_serial *ls, unsigned reason, int res)
{
	struct comchan *ch = ls->chan;

	if (ch && ch->conv == ls) {
		comconv_end(ch, res, ch->channel == SERIAL_CHANNEL_RAW ? -1 : (int)reason, NULL);
		return;
	}
	if (!ls->end_res)
		ls->end_res = res ? res : -EPIPE;
	comline_owe_recv_ended(ls, res);
	if (ls->link->sending && !ls->owe_sent)
		comline_cancel_send(ls);
}

void comchan_refuse(struct comchan *ch, unsigned reason)
{
	if (ch->state != CH_OPEN || ch->conv || ch->channel == SERIAL_CHANNEL_RAW)
		return;
	comconv_send_ctl(ch->line, ch->channel, SERIAL_CTL_CLOSE, ch->conv_id, (uint8_t)reason);
	ch->state = CH_LISTEN;
}

void comchan_connect(struct comchan *ch)
{
	struct comline *cl = ch->line;

	if (ch->conv)
		comconv_end(ch, -ECONNRESET, SERIAL_CLOSE_DONE, NULL);
	if (++cl->next_id == 0)
		cl->next_id = 1;
	ch->conv_id = cl->next_id;
	ch->state = CH_CONNECTING;
	comconv_send_ctl(cl, ch->channel, SERIAL_CTL_OPEN, ch->conv_id, 0);
}

