/* SPDX-License-Identifier: MIT */
/*
 * The one send path of a client.  At most one send is in flight, and what it
 * lent the kernel is recorded when it is submitted (client->send_kind): the
 * private buffer being sent is never written, moved or freed, and the cursor
 * never moves, until that send's completion has been accounted.  Anything
 * that wants a client to send (a new private message, a skip-ahead, a
 * refusal) queues its bytes and wakes the client; only client_send_next()
 * decides and submits, and nothing it calls comes back into it.  Wakes are
 * run at the end of the loop turn (client_end_turn), which is also where
 * closed clients are freed.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/native.h"
#include "src/client.h"
#include "src/hub.h"

static uint32_t privq_unsent(const struct client_privq *q)
{
	return q ? q->sending_len - q->sending_off : 0;
}

bool client_private_empty(const struct client *c)
{
	return !c->privq || (privq_unsent(c->privq) == 0 && c->privq->pending_len == 0);
}

/* Private bytes are rare after a join: their queue exists only while some
 * wait or are being sent, so an idle client holds none.  Only with no
 * private send in flight (SENDING is lent until its completion). */
static void privq_tidy(struct client *c)
{
	struct client_privq *q = c->privq;

	if (!q || c->send_kind == SEND_PRIVATE || privq_unsent(q) || q->pending_len)
		return;
	free(q->sending);
	free(q->pending);
	free(q);
	c->privq = NULL;
}

void client_queue_private(struct client *c, const void *p, size_t n)
{
	struct hub *s = c->hub;
	struct client_privq *q;

	/* After its last word (client_finish) a client is told nothing more. */
	if (c->state == CLIENT_CLOSING || c->close_after_flush || n == 0)
		return;
	if (!c->privq && !(c->privq = calloc(1, sizeof(*c->privq)))) {
		hub_log(s, "%s: out of memory for a private message", CLIENT_IDENT(c));
		return;
	}
	q = c->privq;
	/* A flood of refusals must not grow without bound. */
	if (privq_unsent(q) + q->pending_len + n > CLIENT_PRIVATE_MAX) {
		/* Once per client: a peer that floods us with requests for
		 * answers must not flood the log as well. */
		if (!c->private_overflowed)
			hub_log(s, "%s: private messages dropped (client not reading)",
				CLIENT_IDENT(c));
		c->private_overflowed = true;
		return;
	}
	if (q->pending_len + n > q->pending_cap) {
		uint32_t cap = q->pending_cap ? q->pending_cap : 256;
		char *grown;

		while (cap < q->pending_len + n)
			cap *= 2;
		/* PENDING is never lent to the kernel, so it may move. */
		grown = realloc(q->pending, cap);
		if (!grown) {
			hub_log(s, "%s: out of memory for a private message", CLIENT_IDENT(c));
			return;
		}
		q->pending = grown;
		q->pending_cap = cap;
	}
	memcpy(q->pending + q->pending_len, p, n);
	q->pending_len += (uint32_t)n;
	client_wake(c);
}

void client_private(struct client *c, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	if (c->native)
		native_private_text(c, text, (size_t)n);
	else
		client_queue_private(c, text, (size_t)n);
}

void client_finish(struct client *c)
{
	c->close_after_flush = true;
	client_wake(c);
}

/* Make SENDING hold the next private bytes: once it has gone out whole, it
 * trades places with PENDING.  Only with no send in flight, which is the
 * only time SENDING is not lent. */
static bool privq_ready(struct client *c)
{
	struct client_privq *q = c->privq;
	char *buf;
	uint32_t cap;

	assert(!client_sending(c));
	if (!q)
		return false;
	if (privq_unsent(q))
		return true;
	if (q->pending_len == 0)
		return false;
	buf = q->sending;
	cap = q->sending_cap;
	q->sending = q->pending;
	q->sending_cap = q->pending_cap;
	q->sending_len = q->pending_len;
	q->sending_off = 0;
	q->pending = buf;
	q->pending_cap = cap;
	q->pending_len = 0;
	return true;
}

/* Said everything: stop sending, and close once the peer has closed too (or
 * after CLIENT_LINGER_S), so that nothing it sent is left unread, which
 * would turn our FIN into a reset that can destroy the last word in flight. */
static void linger(struct client *c)
{
	struct hub *s = c->hub;

	if (client_is_console(c) || !c->link.receiving) {
		client_close(c, NULL);
		return;
	}
	link_shutdown_write(&c->link);
	c->lingering = true;
	c->since = s->now;
}

void client_apply_lag(struct client *c)
{
	struct hub *s = c->hub;
	uint64_t target;

	/* The cursor is what an in-flight send will advance: never move it
	 * under one (on_send skips ahead when it ends). */
	assert(!client_sending(c));
	if (s->tr.head - c->cursor <= s->lag_budget && c->cursor >= transcript_oldest(&s->tr))
		return;
	if (c->native && native_in_record(c)) {
		/* Half a record cannot be finished from memory that is gone, so
		 * a framed client is let go; it reconnects and resumes with an
		 * explicit gap. */
		client_close(c, "fell too far behind");
		return;
	}
	/* Resume like a late joiner: recent history, from a line start. */
	target = transcript_history_start(&s->tr, s->cfg->history_bytes, s->cfg->history_lines);
	if (target <= c->cursor)
		return;
	s->stats.gaps++;
	s->stats.skipped_bytes += target - c->cursor;
	if (c->native)
		native_gap(c, c->cursor, target);
	else
		client_private(c, "\r\n[ringside: %llu bytes skipped]\r\n",
			       (unsigned long long)(target - c->cursor));
	c->cursor = target;
}

struct piece {
	enum client_send kind;
	const char *p;
	size_t len;
};

/*
 * What C sends next: a record already begun, then private bytes, then the
 * transcript from its cursor.  Returns SEND_NONE when there is nothing (the
 * client may then be idle, lingering or closed).  May skip C ahead.
 */
static struct piece next_piece(struct client *c)
{
	struct hub *s = c->hub;
	struct piece pc = { SEND_NONE, NULL, 0 };
	bool lag_checked = false;

	for (;;) {
		if (c->native && native_in_record(c)) {
			/* A record that has started goes out whole first. */
			if (c->cursor < transcript_oldest(&s->tr)) {
				client_apply_lag(c);
				return pc;
			}
			break;
		}
		if (privq_ready(c)) {
			pc.kind = SEND_PRIVATE;
			pc.p = c->privq->sending + c->privq->sending_off;
			pc.len = privq_unsent(c->privq);
			return pc;
		}
		if (c->close_after_flush) {
			linger(c);
			return pc;
		}
		if (c->state != CLIENT_LIVE)
			return pc;
		if (c->cursor >= transcript_oldest(&s->tr) || lag_checked)
			break;
		/* Fell out of the ring: skip ahead; its marker goes first. */
		lag_checked = true;
		client_apply_lag(c);
		if (c->state == CLIENT_CLOSING)
			return pc;
	}
	assert(c->cursor <= s->tr.head);
	if (c->native) {
		if (native_next_piece(c))
			pc.kind = SEND_RECORD;
		else
			client_idle_add(c);
		return pc;
	}
	if (c->cursor == s->tr.head) {
		client_idle_add(c);
		return pc;
	}
	pc.kind = SEND_TRANSCRIPT;
	pc.len = transcript_span(&s->tr, c->cursor, &pc.p);
	if (pc.len > CLIENT_SEND_MAX)
		pc.len = CLIENT_SEND_MAX;
	return pc;
}

static size_t msghdr_bytes(const struct msghdr *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->msg_iovlen; i++)
		n += m->msg_iov[i].iov_len;
	return n;
}

void client_send_next(struct client *c)
{
	struct hub *s = c->hub;
	struct piece pc;
	int res;

	if (c->state == CLIENT_CLOSING || client_sending(c) || c->lingering)
		return;
	pc = next_piece(c);
	if (pc.kind == SEND_NONE || c->state == CLIENT_CLOSING)
		return;
	if (pc.kind == SEND_RECORD) {
		struct msghdr *m = native_msghdr(c);

		c->send_len = (uint32_t)msghdr_bytes(m);
		res = link_sendmsg(&c->link, m);
	} else {
		c->send_len = (uint32_t)pc.len;
		res = link_send(&c->link, pc.p, pc.len);
	}
	if (res < 0) {
		client_close(c, "out of submission slots");
		return;
	}
	c->send_kind = (uint8_t)pc.kind;
	c->send_started = s->now;
	if (pc.kind != SEND_PRIVATE) {
		/* Pinned: the writer may not reuse this memory until it is back. */
		c->send_from = c->cursor;
		transcript_pin(&s->tr, c->cursor);
	}
}

/* N bytes of a piece of KIND went out. */
static void account(struct client *c, enum client_send kind, size_t n)
{
	struct hub *s = c->hub;
	uint64_t before = c->cursor;

	switch (kind) {
	case SEND_PRIVATE:
		c->privq->sending_off += (uint32_t)n;
		s->stats.private_bytes += n;
		break;
	case SEND_TRANSCRIPT:
		s->stats.sends++;
		s->stats.bytes_sent += n;
		/* A raw send from before the client turned out to be native:
		 * its view restarts where the handshake said, not here. */
		if (c->native)
			break;
		assert(c->cursor == c->send_from);
		c->cursor += n;
		break;
	case SEND_RECORD:
		s->stats.sends++;
		native_sent(c, n);
		s->stats.bytes_sent += c->cursor - before;
		break;
	case SEND_NONE:
		break;
	}
	assert(c->cursor <= s->tr.head);
}

void client_sent(struct link *l, int res)
{
	struct client *c = container_of(l, struct client, link);
	struct hub *s = c->hub;
	enum client_send kind = (enum client_send)c->send_kind;

	c->send_kind = SEND_NONE;
	if (kind != SEND_PRIVATE)
		transcript_unpin(&s->tr, c->send_from);
	if (res > 0) {
		/* The kernel never reports more than it was lent. */
		assert((uint32_t)res <= c->send_len);
		account(c, kind, (size_t)res);
	}
	if (kind == SEND_PRIVATE)
		privq_tidy(c);
	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
	} else if (res < 0 && res != -ECANCELED && res != -EINTR) {
		if (client_is_console(c))
			/* The console went away (a closed terminal or pipe): the
			 * session carries on for the remote clients. */
			hub_log(s, "console output: %s; continuing without it", strerror(-res));
		client_close(c, client_is_console(c) ? NULL : strerror(-res));
	} else {
		if (c->lagging) {
			c->lagging = false;
			client_apply_lag(c);
		}
		client_send_next(c);
	}
	/* The pin is gone: the writer may have been waiting for it. */
	if (kind != SEND_PRIVATE)
		s->ops->unpinned(s);
}

/*
 * Clients caught up with the head wait in the idle list; new output wakes
 * them all at the end of the loop turn, so many appends cost one send each.
 */

void client_idle_add(struct client *c)
{
	struct hub *s = c->hub;

	if (c->idle_index >= 0)
		return;
	if (s->nidle == s->idle_cap) {
		unsigned cap = s->idle_cap ? s->idle_cap * 2 : 256;
		struct client **n = realloc(s->idle, cap * sizeof(*n));

		if (!n) {
			hub_log(s, "out of memory growing the idle list");
			return;
		}
		s->idle = n;
		s->idle_cap = cap;
	}
	c->idle_index = (int)s->nidle;
	s->idle[s->nidle++] = c;
}

void client_idle_remove(struct client *c)
{
	if (c->idle_index < 0)
		return;
	c->hub->idle[c->idle_index] = NULL;
	c->idle_index = -1;
}

void client_wake(struct client *c)
{
	if (c->state == CLIENT_CLOSING || client_sending(c))
		return;
	client_idle_add(c);
	c->hub->kick_pending = true;
}

static void run_kicks(struct hub *s)
{
	unsigned n = s->nidle, keep = 0;
	unsigned start;

	s->kick_pending = false;
	if (n == 0)
		return;
	/* Rotate who is served first so the same clients are not always last. */
	start = s->idle_rotor++ % n;
	for (unsigned i = 0; i < n; i++) {
		struct client *c = s->idle[(start + i) % n];

		if (!c)
			continue;
		s->idle[c->idle_index] = NULL;
		c->idle_index = -1;
		client_send_next(c);
	}
	/* client_send_next() may have re-queued clients behind the first n. */
	for (unsigned i = n; i < s->nidle; i++) {
		struct client *c = s->idle[i];

		if (!c)
			continue;
		c->idle_index = (int)keep;
		s->idle[keep++] = c;
	}
	s->nidle = keep;
}

static void reap(struct hub *s)
{
	struct client *c = s->clients, *next;

	for (; c && s->ndead; c = next) {
		next = c->next;
		if (c->dead) {
			s->ndead--;
			client_free(c);
		}
	}
}

void client_end_turn(struct hub *h)
{
	if (h->kick_pending)
		run_kicks(h);
	reap(h);
}
