/* SPDX-License-Identifier: MIT */
/*
 * TLS over a socket link.  tls/ transforms bytes; this file moves them.
 * Ciphertext the loop receives is fed in, and the plaintext that comes out
 * is the link's received(); the owner's sends are encrypted straight from
 * its memory (the transcript) into the connection's outbox, which is lent to
 * one io_uring send at a time.
 *
 * Two sends are in play.  The owner's (l->sending) is logical: its bytes are
 * read only while they are encrypted, and it completes with the first wire
 * send that carries them, reporting how much plaintext was taken.  The wire
 * send (l->wire_sending, on send_op) lends the outbox, and carries handshake
 * flights, alerts and KeyUpdate answers too, which the owner never sees.
 * The outbox is written only while no wire send is in flight (tls/ refuses
 * otherwise), so what the kernel reads never changes under it.
 *
 * The owner hears only from completions: a logical send that ends with
 * nothing on the wire (cancelled, or the connection failed) is completed by
 * a no-op submitted for the purpose, so the owner's accounting never runs
 * inside one of its own calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/link_tls.h"
#include "tls/tls.h"

struct link_tls {
	struct tls_conn *conn;
	const void *plain;		/* link_send(): the owner's bytes */
	size_t plain_len;
	struct msghdr *msg;		/* link_sendmsg(): its pieces */
	size_t taken;			/* of the owner's send: encrypted so far */
	int error;			/* the connection failed: -errno */
	bool secured;			/* the handshake is done */
	bool wire_nop;			/* the wire op in flight lends nothing */
	bool cancel_owner;		/* end the owner's send at the next completion */
	bool peer_closed;		/* the peer sent close_notify */
	bool close_wanted;		/* shutdown_write: send our close_notify */
	bool close_queued;		/* it is in the outbox */
	bool shut_wr;			/* then SHUT_WR once the outbox is empty */
};

static void on_wire_sent(struct ring_op *op, int res, unsigned flags);

int link_tls_init(struct link *l, struct tls_config *cfg)
{
	struct link_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (tls_conn_new(cfg, &t->conn) < 0) {
		free(t);
		return -ENOMEM;
	}
	l->tls = t;
	l->send_op.cb = on_wire_sent;
	return 0;
}

void link_tls_free(struct link *l)
{
	struct link_tls *t = l->tls;

	/* Nothing is in flight (link_close), so the outbox is not lent and
	 * the free is immediate. */
	tls_conn_free(t->conn);
	free(t);
	l->tls = NULL;
}

bool link_tls_secured(const struct link *l)
{
	return l->tls->secured;
}

bool link_tls_failed(const struct link *l)
{
	return l->tls->error != 0;
}

const char *link_tls_error(const struct link *l)
{
	const char *why;

	if (!l->tls->error)
		return NULL;
	why = tls_conn_error(l->tls->conn);
	return why[0] ? why : NULL;
}

/* Encrypt as much of the owner's send as the outbox takes, in order. */
static void encrypt_owner(struct link *l)
{
	struct link_tls *t = l->tls;
	struct iovec one = { (void *)t->plain, t->plain_len };
	const struct iovec *v = t->msg ? t->msg->msg_iov : &one;
	size_t count = t->msg ? t->msg->msg_iovlen : 1;

	for (size_t i = 0; i < count; i++) {
		size_t off = 0;

		while (off < v[i].iov_len) {
			ssize_t n = tls_conn_write(t->conn, (const char *)v[i].iov_base + off,
						   v[i].iov_len - off);

			if (n == -EAGAIN)	/* the outbox is full: the rest waits */
				return;
			if (n <= 0) {
				t->error = n < 0 ? (int)n : -EIO;
				return;
			}
			off += (size_t)n;
			t->taken += (size_t)n;
		}
	}
}

static int submit_nop(struct link *l)
{
	struct io_uring_sqe *sqe = ring_get_sqe(l->ctx->ring, &l->send_op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_nop(sqe);
	ring_sqe_set_op(sqe, &l->send_op);
	l->wire_sending = true;
	l->tls->wire_nop = true;
	return 0;
}

static int submit_outbox(struct link *l)
{
	struct link_tls *t = l->tls;
	struct io_uring_sqe *sqe;
	const void *p;
	size_t len;

	/* The slot first: once taken, the outbox must go to the kernel. */
	sqe = ring_get_sqe(l->ctx->ring, &l->send_op);
	if (!sqe)
		return -EBUSY;
	if (tls_conn_out_take(t->conn, &p, &len) < 0) {
		io_uring_prep_nop(sqe);
		t->wire_nop = true;
	} else {
		io_uring_prep_send(sqe, l->out_fd, p, len, MSG_NOSIGNAL);
		link_sqe_fixed(l, sqe);
		t->wire_nop = false;
	}
	ring_sqe_set_op(sqe, &l->send_op);
	l->wire_sending = true;
	return 0;
}

/*
 * Put on the wire whatever is waiting: the owner's bytes once the
 * handshake is done and the outbox has room, our close_notify, and any
 * ciphertext queued.  Idempotent; does nothing while a wire send is out.
 */
static void pump(struct link *l)
{
	struct link_tls *t = l->tls;

	if (l->wire_sending)
		return;
	if (!l->stopped && !t->error && t->secured) {
		if (l->sending && !t->cancel_owner && t->taken == 0)
			encrypt_owner(l);
		if (t->close_wanted && !t->close_queued && !l->sending &&
		    tls_conn_close_notify(t->conn) == 0)
			t->close_queued = true;
	}
	if (!l->stopped && tls_conn_out_pending(t->conn)) {
		if (submit_outbox(l) == 0)
			return;
		if (!t->error)
			t->error = -EBUSY;
	}
	if (l->sending && (t->error || t->cancel_owner || l->stopped)) {
		if (submit_nop(l) < 0 && !t->error)
			t->error = -EBUSY;
		return;
	}
	if (t->shut_wr && (t->close_queued || t->error)) {
		t->shut_wr = false;
		shutdown(l->out_fd, SHUT_WR);
	}
}

/* The connection cannot go on: let its alert out (best effort) and stop
 * receiving, which ends in the owner's recv_ended(). */
static void fail(struct link *l, int err)
{
	struct link_tls *t = l->tls;

	if (!t->error)
		t->error = err;
	pump(l);
	if (l->receiving)
		ring_cancel(l->ctx->ring, &l->recv_op);
}

/* Run the handshake, then deliver every record that can be decrypted. */
static void drain(struct link *l)
{
	struct link_tls *t = l->tls;
	char plain[TLS_RECORD_PLAIN_MAX];

	if (!t->secured) {
		int res = tls_conn_handshake(t->conn);

		if (res == -EAGAIN)
			return;
		if (res < 0) {
			fail(l, res);
			return;
		}
		t->secured = true;
		l->ctx->ev->secured(l);
	}
	while (!l->stopped && !t->error && !t->peer_closed) {
		ssize_t n = tls_conn_read(t->conn, plain, sizeof(plain));

		if (n > 0) {
			l->ctx->ev->received(l, plain, (size_t)n);
			continue;
		}
		if (n == -EPIPE)	/* orderly end: the FIN follows */
			t->peer_closed = true;
		else if (n < 0)
			fail(l, (int)n);
		break;
	}
}

void link_tls_received(struct link *l, const char *data, size_t n)
{
	struct link_tls *t = l->tls;
	size_t off = 0;

	while (off < n && !l->stopped && !t->error && !t->peer_closed) {
		ssize_t took = tls_conn_feed(t->conn, data + off, n - off);

		/* -ENOBUFS: a full inbox that draining could not empty (it
		 * waits for outbox room); a peer that floods us that way is
		 * let go rather than buffered. */
		if (took < 0) {
			fail(l, (int)took);
			break;
		}
		off += (size_t)took;
		drain(l);
	}
	if (!l->stopped)
		pump(l);
}

static void on_wire_sent(struct ring_op *op, int res, unsigned flags)
{
	struct link *l = container_of(op, struct link, send_op);
	struct link_tls *t = l->tls;
	bool nop = t->wire_nop;
	int told;

	l->wire_sending = false;
	t->wire_nop = false;
	if (!nop) {
		/* A short or cancelled send leaves the rest queued: a record
		 * is never cut, whatever happens to the owner's send. */
		tls_conn_out_done(t->conn, res > 0 ? (size_t)res : 0);
		if (res < 0 && res != -ECANCELED && !t->error)
			t->error = res;
	}
	if (l->sending && (t->taken || t->error || t->cancel_owner || l->stopped)) {
		if (!nop && res < 0 && res != -ECANCELED)
			told = res;
		else if (t->taken)
			told = (int)t->taken;
		else
			told = t->error ? t->error : -ECANCELED;
		l->sending = false;
		t->plain = NULL;
		t->msg = NULL;
		t->taken = 0;
		t->cancel_owner = false;
		l->ctx->ev->sent(l, told);
	}
	/* Records left in the inbox may have waited for outbox room. */
	if (!l->stopped && t->secured && !t->error && tls_conn_in_pending(t->conn))
		drain(l);
	pump(l);
}

static int owner_send(struct link *l, const void *p, size_t len, struct msghdr *m)
{
	struct link_tls *t = l->tls;

	if (l->sending)
		return -EBUSY;
	t->plain = p;
	t->plain_len = len;
	t->msg = m;
	t->taken = 0;
	t->cancel_owner = false;
	l->sending = true;
	pump(l);
	if (!l->wire_sending && t->error == -EBUSY) {
		/* No submission slot for it at all: the owner hears now. */
		l->sending = false;
		return -EBUSY;
	}
	return 0;
}

int link_tls_send(struct link *l, const void *p, size_t len)
{
	return owner_send(l, p, len, NULL);
}

int link_tls_sendmsg(struct link *l, struct msghdr *m)
{
	return owner_send(l, NULL, 0, m);
}

void link_tls_cancel_send(struct link *l)
{
	struct link_tls *t = l->tls;

	if (!l->sending)
		return;
	t->cancel_owner = true;
	if (l->wire_sending && !t->wire_nop)
		ring_cancel(l->ctx->ring, &l->send_op);
	else
		pump(l);
}

void link_tls_cancel(struct link *l)
{
	if (l->wire_sending)
		ring_cancel(l->ctx->ring, &l->send_op);
	else
		pump(l);	/* completes the owner's send, if any, by a no-op */
}

void link_tls_shutdown_write(struct link *l)
{
	struct link_tls *t = l->tls;

	if (!t->secured || t->error) {
		shutdown(l->out_fd, SHUT_WR);
		return;
	}
	t->close_wanted = true;
	t->shut_wr = true;
	pump(l);
}
