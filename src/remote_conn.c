/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's socket: connecting, with every attempt (connect
 * included) bounded by what is left of the 60 s budget (remote_clock.c
 * keeps time); one send in flight from a buffer nothing else touches until
 * it completes; and reconnecting with backoff when a connection ends
 * without a refusal.
 * A connection's ops are never reused before their completions arrive:
 * those of an ended connection are recognised by generation and only
 * release what they held.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/remote_internal.h"

/* One send carries at most this much, so a large backlog of lines does
 * not become one huge kernel copy. */
#define SEND_MAX (256u << 10)

static void try_connect(struct remote *r);

/* Output received but not taken yet: stdout's queue, or a repeater's. */
static size_t backlog(const struct remote *r)
{
	return outq_backlog(&r->out) + r->relay_backlog;
}

static bool ops_inflight(const struct remote *r)
{
	const struct remote_conn *c = &r->conn;

	return c->connect_inflight || c->recv_inflight || c->send_inflight || rcom_busy(r);
}

/*
 * Sending.
 */

bool conn_next_plain(struct remote_conn *c)
{
	struct bytes done = c->sending;

	if (c->sent < c->sending.len)
		return true;
	if (c->pending.len == 0) {
		c->sending.len = c->sent = 0;
		return false;
	}
	/* The finished buffer becomes the next pending one, so neither is
	 * reallocated in the steady state. */
	c->sending = c->pending;
	c->pending = done;
	c->pending.len = 0;
	c->sent = 0;
	return true;
}

static void flush_sends(struct remote *r)
{
	struct remote_conn *c = &r->conn;
	struct io_uring_sqe *sqe;
	const void *p;
	size_t n;

	if (r->com.on) {
		rcom_flush(r);
		return;
	}
	if (c->send_inflight || c->fd < 0 || c->st < CONN_SECURING)
		return;
	if (r->tls.cfg) {
		if (!rtls_take(r, &p, &n))
			return;
	} else {
		if (!conn_next_plain(c))
			return;
		p = c->sending.p + c->sent;
		n = c->sending.len - c->sent;
		if (n > SEND_MAX)
			n = SEND_MAX;
	}
	sqe = ring_get_sqe(&r->ring, &c->send_op);
	if (!sqe) {
		if (r->tls.cfg)
			rtls_sent(r, 0);	/* the loan ends unused */
		return;
	}
	io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
	ring_sqe_set_op(sqe, &c->send_op);
	c->send_inflight = true;
	c->send_gen = c->gen;
}

void conn_send(struct remote *r, const void *p, size_t n)
{
	struct remote_conn *c = &r->conn;

	if (c->st < CONN_HANDSHAKE)
		return;
	if (!bytes_put(&c->pending, p, n)) {
		remote_say(r, "ringside: out of memory; a record for the server was dropped");
		return;
	}
	c->last_tx = remote_now();
	flush_sends(r);
}

bool conn_idle(const struct remote *r)
{
	const struct remote_conn *c = &r->conn;

	return !c->send_inflight && c->pending.len == 0 && c->sent == c->sending.len &&
	       rtls_unsent(r) == 0;
}

/* Lines queued for a connection that ended were never sent: they go back
 * to wait for the next one.  Control records die with their connection. */
static void keep_unsent_lines(struct remote *r)
{
	struct bytes *b = &r->conn.pending;
	size_t i = 0;

	while (b->len - i >= PROTO_HEADER_SIZE) {
		struct proto_header h;
		size_t whole;

		/* (A connection's preamble is not a record: nothing after it
		 * can be a line.) */
		if (proto_header_decode(b->p + i, &h) < 0)
			break;
		whole = PROTO_HEADER_SIZE + (size_t)h.length;
		if (whole > b->len - i)
			break;
		if (h.type == PROTO_INPUT || h.type == PROTO_SUB_INPUT)
			bytes_put(&r->held, b->p + i, whole);
		i += whole;
	}
	b->len = 0;
}

static void on_send(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, conn.send_op);
	struct remote_conn *c = &r->conn;

	c->send_inflight = false;
	if (r->tls.cfg)
		rtls_sent(r, res);	/* the outbox is ours again, whatever happened */
	if (c->send_gen != c->gen) {
		/* The connection is gone; so is what was being sent. */
		c->sending.len = c->sent = 0;
		try_connect(r);
		return;
	}
	if (res < 0) {
		if (res == -EINTR || res == -EAGAIN) {
			flush_sends(r);
			return;
		}
		conn_lost(r, strerror(-res));
		return;
	}
	if (!r->tls.cfg) {
		c->sent += (size_t)res;
		if (c->sent == c->sending.len)
			c->sending.len = c->sent = 0;
	}
	flush_sends(r);
	/* Room in the outbox may be what the TLS reader waited for. */
	if (r->tls.cfg)
		rtls_pump(r);
	if (r->leaving && conn_idle(r)) {
		/* TLS ends with close_notify, after the BYE. */
		if (rtls_close(r)) {
			flush_sends(r);
			return;
		}
		remote_finish(r, r->exit_code);
	}
}

/*
 * Receiving.
 */

static void arm_recv(struct remote *r)
{
	struct remote_conn *c = &r->conn;
	struct io_uring_sqe *sqe;

	if (r->com.on) {
		/* The line is read by its poller; a slow stdout pauses it. */
		c->recv_paused = backlog(r) > OUTQ_HIGH;
		rcom_reading(r, !c->recv_paused);
		return;
	}
	if (c->recv_inflight || c->fd < 0 || c->st < CONN_SECURING || c->rx_len || r->done)
		return;
	/* Output waiting for a slow stdout: leave the bytes in the kernel,
	 * where TCP makes the server wait (and the server skips us ahead). */
	if (backlog(r) > OUTQ_HIGH) {
		c->recv_paused = true;
		return;
	}
	sqe = ring_get_sqe(&r->ring, &c->recv_op);
	if (!sqe)
		return;
	io_uring_prep_recv(sqe, c->fd, c->rbuf, sizeof(c->rbuf), 0);
	ring_sqe_set_op(sqe, &c->recv_op);
	c->recv_inflight = true;
	c->recv_gen = c->gen;
}

void conn_resume_reading(struct remote *r)
{
	struct remote_conn *c = &r->conn;

	if (!c->recv_paused || backlog(r) > OUTQ_LOW)
		return;
	c->recv_paused = false;
	/* The silence was ours, not the server's. */
	c->last_rx = remote_now();
	remote_heard(r);
	arm_recv(r);
	conn_schedule(r);
}

static void on_recv(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, conn.recv_op);
	struct remote_conn *c = &r->conn;

	c->recv_inflight = false;
	if (c->recv_gen != c->gen) {
		try_connect(r);
		return;
	}
	if (r->done)
		return;
	if (res == -EINTR || res == -EAGAIN) {
		arm_recv(r);
		return;
	}
	if (res <= 0) {
		conn_lost(r, rtls_why(r, res == 0 ? "the server closed the connection"
						  : strerror(-res)));
		return;
	}
	c->last_rx = remote_now();
	remote_heard(r);
	if (r->tls.cfg) {
		c->rx_off = 0;
		c->rx_len = (size_t)res;
		rtls_pump(r);
		return;
	}
	rlink_feed(&r->link, c->rbuf, (size_t)res);
	remote_check_link(r);
	arm_recv(r);
}

void conn_kick(struct remote *r)
{
	flush_sends(r);
	arm_recv(r);
}

/*
 * Connecting.
 */

static void on_connect(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, conn.connect_op);
	struct remote_conn *c = &r->conn;
	int one = 1;

	c->connect_inflight = false;
	if (c->connect_gen != c->gen || r->done) {
		/* An accept that raced its cancel: nobody wants that call. */
		if (r->spec.clicon[0] && res >= 0)
			close(res);
		if (!r->done)
			try_connect(r);
		return;
	}
	if (r->spec.clicon[0]) {
		/* clicon=: RES is the server's call, or why there is none. */
		if (res >= 0 && !rlisten_allowed(r, res)) {
			close(res);
			c->want_connect = true;
			try_connect(r);
			return;
		}
		if (res >= 0) {
			c->fd = res;
			res = 0;
			c->deadline = remote_now() + GIVE_UP_SECONDS * NS_PER_SEC;
			conn_schedule(r);
		}
	}
	if (res < 0) {
		if (!r->link.joined) {
			remote_say(r, "ringside: cannot connect to %s: %s", r->where, strerror(-res));
			conn_close(r);
			remote_finish(r, 1);
			return;
		}
		conn_lost(r, strerror(-res));
		return;
	}
	if (r->addr.ss_family == AF_UNIX) {
		char err[256];

		/* Nothing is sent, the password's proof included, before the
		 * pipe is known to be served by our own user (or root). */
		if (npipe_check_server(c->fd, r->pipe_path, NULL, err, sizeof(err)) < 0) {
			remote_say(r, "ringside: %s", err);
			conn_close(r);
			remote_finish(r, 1);
			return;
		}
	} else {
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c->last_rx = remote_now();
	if (r->tls.cfg) {
		c->st = CONN_SECURING;
		rtls_begin(r);
		return;
	}
	conn_secured(r);
}

void conn_secured(struct remote *r)
{
	struct remote_conn *c = &r->conn;

	c->st = CONN_HANDSHAKE;
	rlink_start(&r->link);
	remote_check_link(r);
	conn_kick(r);
}

static void try_connect(struct remote *r)
{
	struct remote_conn *c = &r->conn;
	struct io_uring_sqe *sqe;

	if (!c->want_connect || ops_inflight(r) || r->done)
		return;
	c->want_connect = false;
	if (r->spec.clicon[0]) {
		/* The server calls us, whenever it can: no deadline until then. */
		if (rlisten_arm(r) < 0) {
			remote_say(r, "ringside: cannot submit an accept");
			remote_finish(r, 1);
			return;
		}
		c->connect_inflight = true;
		c->connect_gen = c->gen;
		c->st = CONN_CONNECTING;
		c->deadline = 0;
		return;
	}
	if (r->com.on) {
		rcom_connect(r);
		return;
	}
	c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		remote_say(r, "ringside: socket: %s", strerror(errno));
		remote_finish(r, 1);
		return;
	}
	sqe = ring_get_sqe(&r->ring, &c->connect_op);
	if (!sqe) {
		remote_say(r, "ringside: cannot submit a connect");
		conn_close(r);
		remote_finish(r, 1);
		return;
	}
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&r->addr, r->addr_len);
	ring_sqe_set_op(sqe, &c->connect_op);
	c->connect_inflight = true;
	c->connect_gen = c->gen;
	c->st = CONN_CONNECTING;
	/* A connect stuck in SYN-SENT counts against the budget too. */
	c->deadline = budget_end(c);
	conn_schedule(r);
}

void conn_try(struct remote *r)
{
	try_connect(r);
}

void conn_start(struct remote *r)
{
	r->conn.budget_start = remote_now();
	r->conn.want_connect = true;
	try_connect(r);
}

static void on_backoff(struct ring_timer *t, int res)
{
	struct remote *r = container_of(t, struct remote, conn.backoff);

	if (res == -ECANCELED || r->done)
		return;
	if (remote_now() >= budget_end(&r->conn)) {
		remote_say(r, "ringside: could not reconnect for %d seconds; giving up",
			   GIVE_UP_SECONDS);
		remote_finish(r, 1);
		return;
	}
	r->conn.want_connect = true;
	try_connect(r);
}

/* End this connection's socket; completions still to come are told apart
 * by generation and release their buffers then. */
static void teardown(struct remote *r)
{
	struct remote_conn *c = &r->conn;

	if (r->com.on)
		rcom_end(r);
	if (c->fd < 0 && c->connect_inflight)
		ring_cancel(&r->ring, &c->connect_op);	/* clicon=: the accept */
	if (c->fd >= 0) {
		if (c->connect_inflight)
			ring_cancel(&r->ring, &c->connect_op);
		if (c->recv_inflight)
			ring_cancel(&r->ring, &c->recv_op);
		if (c->send_inflight)
			ring_cancel(&r->ring, &c->send_op);
		shutdown(c->fd, SHUT_RDWR);
		close(c->fd);
		c->fd = -1;
	}
	c->gen++;
	c->st = CONN_DOWN;
	c->deadline = 0;
	c->deadline_paused = false;
	c->recv_paused = false;
	c->rx_off = c->rx_len = 0;
	rtls_end(r);
	keep_unsent_lines(r);
	if (!c->send_inflight)
		c->sending.len = c->sent = 0;
	rlink_stop(&r->link);
	remote_term_cancel_password(r);
}

void conn_close(struct remote *r)
{
	teardown(r);
	r->conn.want_connect = false;
}

void conn_lost(struct remote *r, const char *why)
{
	struct remote_conn *c = &r->conn;
	bool was_live = c->st == CONN_LIVE;
	uint64_t now = remote_now(), left;

	teardown(r);
	if (r->done)
		return;
	if (r->leaving) {
		remote_finish(r, r->exit_code);
		return;
	}
	if (r->link.ended) {
		remote_finish(r, 0);
		return;
	}
	/* The user is deciding whether to trust this server; the answer
	 * decides what happens next (remote_tls.c). */
	if (r->tls.asking || rtrust_retry_after_consent(r))
		return;
	/* (Line noise that broke a first handshake over com: says nothing
	 * about the server, so it is tried again like a lost connection.) */
	if (!r->link.joined && !rcom_noise(r)) {
		remote_say(r, "ringside: %s: %s before the handshake was over", r->where, why);
		remote_finish(r, 1);
		return;
	}
	if (was_live) {
		remote_say(r, "[ringside: connection lost (%s); reconnecting]", why);
		c->budget_start = now;
		c->backoff_ns = 0;
	}
	if (now >= budget_end(c)) {
		remote_say(r, "ringside: could not reconnect for %d seconds; giving up",
			   GIVE_UP_SECONDS);
		remote_finish(r, 1);
		return;
	}
	c->backoff_ns = c->backoff_ns ? c->backoff_ns * 2 : BACKOFF_FIRST_NS;
	if (c->backoff_ns > BACKOFF_MAX_NS)
		c->backoff_ns = BACKOFF_MAX_NS;
	left = budget_end(c) - now;
	ring_timer_arm(&r->ring, &c->backoff, c->backoff_ns < left ? c->backoff_ns : left,
		       on_backoff);
}

void conn_init(struct remote *r)
{
	struct remote_conn *c = &r->conn;

	c->fd = -1;
	c->connect_op.cb = on_connect;
	c->recv_op.cb = on_recv;
	c->send_op.cb = on_send;
}

void conn_free(struct remote *r)
{
	bytes_free(&r->conn.sending);
	bytes_free(&r->conn.pending);
}
