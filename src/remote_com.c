/* SPDX-License-Identifier: MIT */
/*
 * -remote com:port=DEV,baud=B,channel=C: the native client over a channel
 * of a serial line, in place of a socket (remote_conn.c keeps everything
 * else: the handshake clock, resuming, heartbeats, what waits to be sent).
 * A connection is a conversation on the channel (comline.h): OPEN, sent
 * again every second until the server answers, a link for the bytes once it
 * has, and a CLOSE when it ends.  Nothing answering at all within
 * COM_ANSWER_S (a wrong baud rate garbles every frame; a wrong channel or
 * an absent server stays silent, or says nobody serves it) is a clear
 * message, not a hang.  A conversation that loses frames ends at once and
 * the client resumes on a new one by transcript offset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serial/frame.h"
#include "src/comline.h"
#include "src/link.h"
#include "src/remote_internal.h"

/* The first connection: how long the far end has to answer at all. */
#define COM_ANSWER_S 10
/* An unanswered OPEN goes again this often (one lost to noise, or a
 * server started after us). */
#define COM_RETRY_NS (NS_PER_SEC)

/* The link of a conversation, and the way back from its events. */
struct rcom_io {
	struct link link;
	struct link_ctx ctx;
	struct remote *r;
};

static struct remote *of_link(struct link *l)
{
	return container_of(l, struct rcom_io, link)->r;
}

/* The conversation's link is done with: a new one may start. */
static void release_link(struct remote *r)
{
	struct remote_com *rc = &r->com;

	if (!rc->attached || link_busy(&rc->io->link))
		return;
	link_close(&rc->io->link);
	rc->attached = false;
	conn_try(r);
}

static void rc_received(struct link *l, char *data, size_t n)
{
	struct remote *r = of_link(l);
	struct remote_conn *c = &r->conn;

	if (r->com.ending || r->done)
		return;
	c->last_rx = remote_now();
	remote_heard(r);
	rlink_feed(&r->link, (const uint8_t *)data, n);
	remote_check_link(r);
}

static void rc_recv_ended(struct link *l, int res)
{
	struct remote *r = of_link(l);
	const char *why = link_error(l);

	if (r->com.ending || r->done) {
		release_link(r);
		return;
	}
	if (!why)
		why = res == 0 ? "the server closed the connection" : strerror(-res);
	/* Lost frames, ours or the server's: the line, not the server. */
	r->com.noise = res == -EPROTO || res == -ECONNRESET;
	conn_lost(r, why);
	release_link(r);
}

static void rc_sent(struct link *l, int res)
{
	struct remote *r = of_link(l);
	struct remote_conn *c = &r->conn;

	c->send_inflight = false;
	if (r->com.ending) {
		/* The conversation is gone, and what was being sent with it. */
		c->sending.len = c->sent = 0;
		release_link(r);
		return;
	}
	/* A failed send means the conversation is over: recv_ended follows
	 * and says why; sending again would only fail again. */
	if (res < 0)
		return;
	c->sent += (size_t)res;
	if (c->sent == c->sending.len)
		c->sending.len = c->sent = 0;
	rcom_flush(r);
	if (r->leaving && conn_idle(r))
		remote_finish(r, r->exit_code);
}

static const struct link_events rc_events = {
	.received = rc_received,
	.recv_ended = rc_recv_ended,
	.sent = rc_sent,
};

static void give_up(struct remote *r, const char *msg)
{
	remote_say(r, "ringside: %s", msg);
	conn_close(r);
	remote_finish(r, 1);
}

static void rc_answered(struct comchan *ch, int res, unsigned reason)
{
	struct remote *r = ch->owner;
	struct remote_com *rc = &r->com;

	if (rc->retry.armed)
		ring_timer_cancel(&r->ring, &rc->retry);
	if (res < 0) {
		const char *why = serial_close_reason_text(reason);
		char msg[sizeof(r->where) + 128];

		if (!r->link.joined) {
			if (reason == SERIAL_CLOSE_NOBODY)
				snprintf(msg, sizeof(msg), "no ringside server on %s (the far end "
					 "answered: it serves other channels)", r->where);
			else
				snprintf(msg, sizeof(msg), "the server on %s refused the "
					 "connection: %s", r->where, why);
			give_up(r, msg);
			return;
		}
		conn_lost(r, why);
		return;
	}
	if (link_init_serial(&rc->io->link, &rc->io->ctx, ch) < 0) {
		link_close(&rc->io->link);
		give_up(r, "out of memory");
		return;
	}
	rc->attached = true;
	rc->ending = false;
	link_recv(&rc->io->link);
	r->conn.last_rx = remote_now();
	/* The handshake's own clock runs from here. */
	r->conn.deadline = budget_end(&r->conn);
	conn_schedule(r);
	conn_secured(r);
}

static void rc_line_failed(struct comchan *ch, const char *why)
{
	struct remote *r = ch->owner;

	/* The device is gone: no reconnecting through it. */
	remote_say(r, "ringside: %s", why);
	conn_close(r);
	remote_finish(r, 1);
}

static void rc_opened(struct comchan *ch)
{
	/* A client channel is never offered conversations. */
}

static const struct comchan_ops rc_ops = {
	.opened = rc_opened,
	.answered = rc_answered,
	.line_failed = rc_line_failed,
};

static void on_retry(struct ring_timer *t, int res)
{
	struct remote *r = container_of(t, struct remote, com.retry);
	struct remote_com *rc = &r->com;
	char msg[sizeof(r->where) + 128];

	if (res != -ETIME || r->done || r->conn.st != CONN_CONNECTING || rc->attached)
		return;
	if (remote_now() >= rc->answer_by) {
		if (!r->link.joined) {
			snprintf(msg, sizeof(msg), "no ringside server answered on %s within %d "
				 "seconds (check the port, the baud rate, the channel and the "
				 "cable)", r->where, COM_ANSWER_S);
			give_up(r, msg);
			return;
		}
		conn_lost(r, "no answer on the line");
		return;
	}
	comchan_connect(rc->ch);
	ring_timer_arm(&r->ring, &rc->retry, COM_RETRY_NS, on_retry);
}

void rcom_connect(struct remote *r)
{
	struct remote_com *rc = &r->com;
	struct remote_conn *c = &r->conn;
	uint64_t now = remote_now();

	c->st = CONN_CONNECTING;
	/* A first connection has COM_ANSWER_S to be answered; a reconnection
	 * tries until its budget runs out. */
	rc->answer_by = r->link.joined ? budget_end(c) : now + COM_ANSWER_S * NS_PER_SEC;
	c->deadline = 0;
	comchan_connect(rc->ch);
	ring_timer_arm(&r->ring, &rc->retry, COM_RETRY_NS, on_retry);
}

void rcom_flush(struct remote *r)
{
	struct remote_com *rc = &r->com;
	struct remote_conn *c = &r->conn;
	size_t n;

	if (!rc->attached || rc->ending || rc->io->link.sending || c->st < CONN_HANDSHAKE)
		return;
	if (!conn_next_plain(c))
		return;
	n = c->sending.len - c->sent;
	if (n > RCOM_SEND_MAX)
		n = RCOM_SEND_MAX;
	/* 'sending' is lent from here until rc_sent: conn_send appends to
	 * 'pending' meanwhile. */
	if (link_send(&rc->io->link, c->sending.p + c->sent, n) == 0)
		c->send_inflight = true;
}

void rcom_reading(struct remote *r, bool on)
{
	if (r->com.ch)
		comchan_pause(r->com.ch, !on);
}

void rcom_end(struct remote *r)
{
	struct remote_com *rc = &r->com;

	if (rc->retry.armed)
		ring_timer_cancel(&r->ring, &rc->retry);
	if (!rc->attached)
		return;
	rc->ending = true;
	if (link_busy(&rc->io->link)) {
		/* Its events come later; release_link() closes it then. */
		link_cancel(&rc->io->link);
		return;
	}
	link_cancel(&rc->io->link);
	release_link(r);
}

bool rcom_noise(const struct remote *r)
{
	return r->com.on && r->com.noise;
}

bool rcom_busy(const struct remote *r)
{
	return r->com.attached;
}

int rcom_setup(struct remote *r)
{
	struct remote_com *rc = &r->com;
	struct serial_config cfg = {
		.path = r->spec.com_device,
		.name = r->spec.com_name,
		.baud = r->spec.baud,
		.flow = (enum serial_flow)r->spec.flow,
		.backend = SERIAL_BACKEND_AUTO,
	};
	char err[512];

	rc->on = true;
	rc->io = calloc(1, sizeof(*rc->io));
	if (!rc->io) {
		fprintf(stderr, "ringside: -remote: out of memory\n");
		return -ENOMEM;
	}
	rc->io->r = r;
	rc->io->ctx.ring = &r->ring;
	rc->io->ctx.ev = &rc_events;
	if (comchan_open(&rc->ch, &r->ring, &rc->lines, NULL, &cfg, r->spec.channel,
			 COMCHAN_CLIENT, &rc_ops, r, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: -remote: com: %s\n", err);
		free(rc->io);
		rc->io = NULL;
		return -EINVAL;
	}
	snprintf(r->where, sizeof(r->where), "%.*s", (int)sizeof(r->where) - 1, rc->ch->where);
	return 0;
}

void rcom_close(struct remote *r)
{
	struct remote_com *rc = &r->com;
	uint64_t until = remote_now() + 500 * 1000000ull;

	if (!rc->on || !rc->ch)
		return;
	/* The BYE and the CLOSE go out first, as far as the line takes them. */
	while (comchan_draining(rc->ch) && remote_now() < until)
		ring_run_once(&r->ring, 10 * 1000000ull);
	comchan_close(rc->ch);
	rc->ch = NULL;
	/* The line's polls hold its file, and with it the lock the next user
	 * checks: the fd is closed once they are back, before we exit. */
	while (rc->lines && remote_now() < until)
		ring_run_once(&r->ring, 10 * 1000000ull);
}

void rcom_free(struct remote *r)
{
	struct remote_com *rc = &r->com;

	if (!rc->on)
		return;
	/* The BYE and the CLOSE that end the conversation go out first.  The
	 * link itself is not touched: the loop that would have delivered its
	 * last events is over, and it goes with the process. */
	rc->ch = NULL;
	comline_free_all(&rc->lines, 500);
	free(rc->io);
	rc->io = NULL;
}
