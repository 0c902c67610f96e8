/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's clock.  One timer serves whichever comes first: the
 * deadline of a connection attempt (connect, TLS and the protocol's
 * handshake share what is left of the 60 s budget; the user typing a
 * password or answering a question stops it), a heartbeat after 15 s
 * without sending, and the 45 s read timeout (PROTOCOL.md 6.1).
 */
#include <errno.h>
#include <stdio.h>

#include "src/remote_internal.h"

uint64_t budget_end(const struct remote_conn *c)
{
	return c->budget_start + GIVE_UP_SECONDS * NS_PER_SEC;
}

static uint64_t next_due(const struct remote *r)
{
	const struct remote_conn *c = &r->conn;
	uint64_t due = UINT64_MAX;

	if (c->st > CONN_DOWN && c->st < CONN_LIVE && c->deadline)
		due = c->deadline;
	if (c->st == CONN_LIVE) {
		due = c->last_tx + PROTO_HEARTBEAT_S * NS_PER_SEC;
		if (!c->recv_paused && c->last_rx + PROTO_READ_TIMEOUT_S * NS_PER_SEC < due)
			due = c->last_rx + PROTO_READ_TIMEOUT_S * NS_PER_SEC;
	}
	return due;
}

static void send_heartbeat(struct remote *r)
{
	struct proto_header h = { .type = PROTO_HEARTBEAT, .seq = ++r->conn.heartbeat_seq };
	uint8_t hdr[PROTO_HEADER_SIZE];

	proto_header_encode(&h, hdr);
	conn_send(r, hdr, sizeof(hdr));
}

static void handshake_too_long(struct remote *r)
{
	struct remote_conn *c = &r->conn;
	bool connecting = c->st == CONN_CONNECTING, tls = c->st == CONN_SECURING;

	if (r->link.joined) {
		conn_lost(r, connecting ? "connect timed out" :
			     tls ? "the TLS handshake timed out" : "the handshake timed out");
		return;
	}
	remote_say(r, "ringside: %s %s within %d seconds", r->where,
		   connecting ? "did not answer the connection" :
		   tls ? "did not complete the TLS handshake" : "did not complete the handshake",
		   GIVE_UP_SECONDS);
	conn_close(r);
	remote_finish(r, 1);
}

static void on_tick(struct ring_timer *t, int res)
{
	struct remote *r = container_of(t, struct remote, conn.tick);
	struct remote_conn *c = &r->conn;
	uint64_t now = remote_now();

	if (r->done)
		return;
	if (res != -ECANCELED) {
		if (c->st > CONN_DOWN && c->st < CONN_LIVE && c->deadline && now >= c->deadline) {
			handshake_too_long(r);
			return;
		}
		if (c->st == CONN_LIVE && !c->recv_paused &&
		    now - c->last_rx >= PROTO_READ_TIMEOUT_S * NS_PER_SEC) {
			char why[64];

			snprintf(why, sizeof(why), "nothing from the server for %d seconds",
				 PROTO_READ_TIMEOUT_S);
			conn_lost(r, why);
			return;
		}
		if (c->st == CONN_LIVE && now - c->last_tx >= PROTO_HEARTBEAT_S * NS_PER_SEC)
			send_heartbeat(r);
	}
	conn_schedule(r);
}

void conn_schedule(struct remote *r)
{
	struct remote_conn *c = &r->conn;
	uint64_t due = next_due(r), now;

	if (due == UINT64_MAX || r->done)
		return;
	if (c->tick.armed) {
		/* An earlier deadline than the armed one: the cancelled
		 * timer's callback schedules again. */
		if (due < c->tick_due && ring_timer_cancel(&r->ring, &c->tick) == 0)
			c->tick_due = 0;	/* one cancel is enough */
		return;
	}
	now = remote_now();
	if (ring_timer_arm(&r->ring, &c->tick, due > now ? due - now : 1, on_tick) == 0)
		c->tick_due = due;
}

void conn_pause_deadline(struct remote *r, bool pause)
{
	struct remote_conn *c = &r->conn;
	uint64_t now = remote_now();

	/* The user typing a password is not the server being slow. */
	if (pause && c->deadline) {
		c->deadline_left = c->deadline > now ? c->deadline - now : 0;
		c->deadline = 0;
		c->deadline_paused = true;
	} else if (!pause && c->deadline_paused) {
		c->deadline_paused = false;
		if (c->st == CONN_DOWN)
			return;		/* the next attempt sets its own */
		c->deadline = now + (c->deadline_left ? c->deadline_left : 1);
		conn_schedule(r);
	}
}

void conn_live(struct remote *r)
{
	struct remote_conn *c = &r->conn;

	c->st = CONN_LIVE;
	c->deadline = 0;
	c->backoff_ns = 0;
	conn_schedule(r);
}
