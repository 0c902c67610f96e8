/* SPDX-License-Identifier: MIT */
/*
 * A serial channel as a link: the conversation a channel of a comline
 * carries (comline.h).  Receiving is being attached to it: frames for the
 * channel arrive as received() from the line's poller.  A send is a list of
 * pieces lent one at a time to the line's output queue, which frames them
 * in turn with the other channels' bytes; the send completes once its last
 * piece is framed (or, on a raw line, written).  Ending the conversation
 * (cancel, shutdown) tells the peer with a CLOSE.  Every event the owner
 * gets comes from the comline's own completions, never from inside these
 * calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serial/frame.h"
#include "src/comline.h"
#include "src/link_serial.h"

int link_init_serial(struct link *l, const struct link_ctx *ctx, struct comchan *ch)
{
	struct link_serial *ls = calloc(1, sizeof(*ls));

	/* A link may be set up again for the next conversation (the client
	 * does): nothing of the last one carries over. */
	memset(l, 0, sizeof(*l));
	l->ctx = ctx;
	l->kind = LINK_SERIAL;
	l->slot = -1;
	l->in_fd = l->out_fd = -1;
	l->serial = ls;
	if (!ls)
		return -ENOMEM;
	ls->link = l;
	comline_attach(ch, ls);
	return 0;
}

bool link_serial_raw(const struct link *l)
{
	return l->kind == LINK_SERIAL && l->serial && l->serial->channel == SERIAL_CHANNEL_RAW;
}

int link_serial_recv(struct link *l)
{
	struct link_serial *ls = l->serial;

	if (l->receiving)
		return -EBUSY;
	l->receiving = true;
	/* Over before it was listened to: the end is owed all the same. */
	if (!ls->chan)
		comline_detach(ls, SERIAL_CLOSE_DONE, ls->end_res);
	return 0;
}

static int start(struct link *l, const struct iovec *iov, size_t n)
{
	struct link_serial *ls = l->serial;

	if (l->sending)
		return -EBUSY;
	ls->iov = iov;
	ls->iovcnt = n;
	l->sending = true;
	comline_send(ls);
	return 0;
}

int link_serial_send(struct link *l, const void *p, size_t len)
{
	struct link_serial *ls = l->serial;

	if (l->sending)
		return -EBUSY;
	ls->single.iov_base = (void *)p;
	ls->single.iov_len = len;
	return start(l, &ls->single, 1);
}

int link_serial_sendmsg(struct link *l, struct msghdr *m)
{
	return start(l, m->msg_iov, m->msg_iovlen);
}

void link_serial_cancel(struct link *l)
{
	l->stopped = true;
	comline_detach(l->serial, SERIAL_CLOSE_DONE, -ECANCELED);
}

void link_serial_cancel_send(struct link *l)
{
	comline_cancel_send(l->serial);
}

void link_serial_shutdown_write(struct link *l)
{
	/* A serial peer has no half-closed state: our last byte ends the
	 * conversation, and nothing more is read from it either. */
	comline_detach(l->serial, SERIAL_CLOSE_DONE, 0);
}

void link_serial_close(struct link *l)
{
	struct link_serial *ls = l->serial;

	if (!ls)
		return;
	if (ls->chan)
		comline_detach(ls, SERIAL_CLOSE_DONE, -ECANCELED);
	if (ls->line)
		comline_unref(ls->line);
	free(ls);
	l->serial = NULL;
}

const char *link_serial_error(const struct link *l)
{
	return l->serial ? l->serial->why : NULL;
}

size_t link_serial_record_max(const struct link *l)
{
	/* Four frames: a record of about 80 ms of line time, so a line that
	 * damages one frame in twenty still completes four records in five;
	 * the 16-byte record header costs under 2% at 115200 baud. */
	return l->serial ? 4 * comline_frame_payload(l->serial->line) : 0;
}
