/* SPDX-License-Identifier: MIT */
/*
 * One client: a cursor into the transcript with at most one send in flight,
 * a multishot receive assembling input lines, the password exchange of raw
 * clients, and the two-phase close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/session.h"

#define AUTH_GRACE_NS (60ull * 1000000000u)
#define AUTH_DELAY_NS (1ull * 1000000000u)
#define AUTH_MAX_TRIES 3
/* A client that stopped sending leaves after this long without output. */
#define HALF_CLOSED_QUIET_NS (5ull * 1000000000u)

static void on_send(struct ring_op *op, int res, unsigned flags);
static void on_recv(struct ring_op *op, int res, unsigned flags);
static void on_console_out(struct ring_op *op, int res, unsigned flags);
static void on_console_in(struct ring_op *op, int res, unsigned flags);
static void on_auth_grace(struct ring_timer *t, int res);
static void on_half_closed(struct ring_timer *t, int res);
static void arm_recv(struct client *c);

static struct client *client_alloc(struct session *s)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sess = s;
	c->idle_index = -1;
	c->in_fd = c->out_fd = -1;
	c->connected_at = c->last_active = time(NULL);
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	return c;
}

void client_set_state(struct client *c, enum client_state state)
{
	struct session *s = c->sess;

	/* Remote clients still authenticating are counted: they are capped. */
	if (!c->console && c->state == CLIENT_AUTH && c->counted_auth) {
		s->nauthenticating--;
		c->counted_auth = false;
	}
	if (!c->console && state == CLIENT_AUTH) {
		s->nauthenticating++;
		c->counted_auth = true;
	}
	c->state = state;
}

void client_go_live_at(struct client *c, uint64_t start)
{
	struct session *s = c->sess;

	client_set_state(c, CLIENT_LIVE);
	c->cursor = start;
	if (!c->console && !c->announced)
		notice_joined(s, c);
	client_send_next(c);
}

static void go_live(struct client *c)
{
	struct session *s = c->sess;

	client_go_live_at(c, transcript_history_start(&s->tr, s->cfg->history_bytes,
						      s->cfg->clines));
}

static void format_peer(const struct session *s, const struct sockaddr_storage *peer,
			char *ident, size_t len, uint32_t id)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	const char *host = addr;
	unsigned port = 0;
	bool loopback = false;

	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)peer;

		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		port = ntohs(in->sin_port);
		loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;

		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		port = ntohs(in6->sin6_port);
		loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	/* A raw client does not say who it is: name the machine it came from
	 * (this one for loopback) and number it. */
	if (loopback)
		host = s->host;
	if (peer->ss_family == AF_INET6)
		snprintf(ident, len, "%s\\client%u (tcp [%s]:%u)", host, id, addr, port);
	else
		snprintf(ident, len, "%s\\client%u (tcp %s:%u)", host, id, addr, port);
}

struct client *client_new(struct session *s, struct server *srv, int fd,
			  const struct sockaddr_storage *peer)
{
	struct client *c = client_alloc(s);
	int one = 1;

	if (!c)
		return NULL;
	c->id = s->next_client_id++;	/* the console has none: remote clients count from 1 */
	c->peer = *peer;
	c->server = srv;
	c->in_fd = c->out_fd = fd;
	c->send_op.cb = on_send;
	c->recv_op.cb = on_recv;
	c->detecting = true;
	c->readonly = srv->spec.readonly;
	s->nclients++;
	/* Nagle plus delayed ACK would hold a short line back for tens of ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	format_peer(s, peer, c->ident, sizeof(c->ident), c->id);
	arm_recv(c);
	if (srv->spec.has_password) {
		client_set_state(c, CLIENT_AUTH);
		client_arm_grace(c);
		client_private(c, "Password: ");
		client_send_next(c);
	} else {
		go_live(c);
	}
	return c;
}

struct client *client_new_console(struct session *s, int in_fd, int out_fd)
{
	struct client *c = client_alloc(s);

	if (!c)
		return NULL;
	c->console = true;
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->send_op.cb = on_console_out;
	c->recv_op.cb = on_console_in;
	snprintf(c->ident, sizeof(c->ident), "%s", s->console_ident);
	arm_recv(c);
	go_live(c);
	return c;
}

void client_auth_failed(struct client *c)
{
	struct session *s = c->sess;

	penalty_failure(&s->penalties, &c->peer, time(NULL));
	session_log(s, "wrong password from %s", c->ident);
}

void client_auth_passed(struct client *c)
{
	penalty_success(&c->sess->penalties, &c->peer, time(NULL));
}

void client_arm_grace(struct client *c)
{
	ring_timer_arm(&c->sess->ring, &c->grace_timer, AUTH_GRACE_NS, on_auth_grace);
}

void client_queue_private(struct client *c, const void *p, size_t n)
{
	struct session *s = c->sess;

	if (c->state == CLIENT_CLOSING || n == 0)
		return;
	if (c->priv_len + n > c->priv_cap) {
		size_t cap = c->priv_cap ? c->priv_cap : 256;
		char *grown;

		while (cap < c->priv_len + n && cap < CLIENT_PRIVATE_MAX)
			cap *= 2;
		/* A flood of refusals must not grow without bound. */
		if (c->priv_len + n > cap) {
			session_log(s, "%s: private messages dropped (client not reading)",
				    c->ident);
			return;
		}
		/* The kernel may be reading the old buffer right now: keep it
		 * alive until that send completes instead of realloc'ing it. */
		grown = malloc(cap);
		if (!grown)
			return;
		if (c->priv_len)
			memcpy(grown, c->priv, c->priv_len);
		if (c->send_inflight && c->send_private) {
			free(c->priv_retired);
			c->priv_retired = c->priv;
		} else {
			free(c->priv);
		}
		c->priv = grown;
		c->priv_cap = (uint32_t)cap;
	}
	memcpy(c->priv + c->priv_len, p, n);
	c->priv_len += (uint32_t)n;
	client_send_next(c);
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

void client_apply_lag(struct client *c)
{
	struct session *s = c->sess;
	uint64_t target;

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
	target = transcript_history_start(&s->tr, s->cfg->history_bytes, s->cfg->clines);
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

/*
 * Output.  A socket client has at most one send in flight, straight from the
 * transcript, covering everything contiguous from its cursor to the head; a
 * native client's send adds a record header in front (SENDMSG, two iovecs).
 */

static void submit_send(struct client *c, const char *p, size_t len, bool framed)
{
	struct session *s = c->sess;
	struct io_uring_sqe *sqe;

	if (c->console) {
		/* A tty may block a ring write: wait for POLLOUT, then write(2). */
		if (ring_poll(&s->ring, &c->send_op, c->out_fd, POLLOUT) == 0)
			c->send_inflight = true;
		return;
	}
	sqe = ring_get_sqe(&s->ring, &c->send_op);
	if (!sqe) {
		client_close(c, "out of submission slots");
		return;
	}
	c->send_framed = framed;
	if (framed)
		io_uring_prep_sendmsg(sqe, c->out_fd, native_msghdr(c), MSG_NOSIGNAL);
	else
		io_uring_prep_send(sqe, c->out_fd, p, len, MSG_NOSIGNAL);
	ring_sqe_set_op(sqe, &c->send_op);
	c->send_inflight = true;
	if (!c->send_private) {
		c->send_from = c->cursor;
		transcript_pin(&s->tr, c->cursor);
	}
}

static bool send_record_piece(struct client *c)
{
	if (!native_next_piece(c))
		return false;
	c->send_private = false;
	submit_send(c, NULL, 0, true);
	return true;
}

void client_send_next(struct client *c)
{
	struct session *s = c->sess;
	const char *p;
	size_t len;

	if (c->state == CLIENT_CLOSING || c->send_inflight)
		return;
	/* A record that has started goes out whole before anything else. */
	if (c->native && native_in_record(c)) {
		if (c->cursor < transcript_oldest(&s->tr))
			client_apply_lag(c);
		else
			send_record_piece(c);
		return;
	}
	if (c->priv_len) {
		c->send_private = true;
		submit_send(c, c->priv, c->priv_len, false);
		return;
	}
	if (c->close_after_flush) {
		client_close(c, NULL);
		return;
	}
	if (c->state != CLIENT_LIVE)
		return;
	if (c->cursor < transcript_oldest(&s->tr)) {
		client_apply_lag(c);
		if (c->state == CLIENT_CLOSING)
			return;
		if (c->priv_len) {
			c->send_private = true;
			submit_send(c, c->priv, c->priv_len, false);
			return;
		}
	}
	if (c->cursor == s->tr.head) {
		session_idle_add(s, c);
		return;
	}
	if (c->native) {
		send_record_piece(c);
		return;
	}
	len = transcript_span(&s->tr, c->cursor, &p);
	if (len > CLIENT_SEND_MAX)
		len = CLIENT_SEND_MAX;
	c->send_private = false;
	submit_send(c, p, len, false);
}

/* Bookkeeping shared by socket sends and console writes. */
static void sent(struct client *c, ssize_t n)
{
	struct session *s = c->sess;

	if (n <= 0)
		return;
	if (c->send_private) {
		memmove(c->priv, c->priv + n, c->priv_len - (size_t)n);
		c->priv_len -= (uint32_t)n;
		s->stats.private_bytes += (uint64_t)n;
		return;
	}
	s->stats.sends++;
	if (c->native && !c->send_framed) {
		/* A raw send from before the client turned out to be native: its
		 * view restarts where the handshake says, not here. */
		s->stats.bytes_sent += (uint64_t)n;
		return;
	}
	if (c->native) {
		uint64_t before = c->cursor;

		native_sent(c, (size_t)n);
		s->stats.bytes_sent += c->cursor - before;
		return;
	}
	c->cursor += (uint64_t)n;
	s->stats.bytes_sent += (uint64_t)n;
}

static void on_send(struct ring_op *op, int res, unsigned flags)
{
	struct client *c = container_of(op, struct client, send_op);
	struct session *s = c->sess;
	bool was_private = c->send_private;

	c->send_inflight = false;
	if (!was_private)
		transcript_unpin(&s->tr, c->send_from);
	free(c->priv_retired);
	c->priv_retired = NULL;
	sent(c, res);
	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
	} else if (res < 0 && res != -ECANCELED && res != -EINTR) {
		client_close(c, strerror(-res));
	} else {
		if (c->lagging) {
			c->lagging = false;
			client_apply_lag(c);
		}
		client_send_next(c);
	}
	/* The pin is gone: the writer may have been waiting for it. */
	if (!was_private)
		session_unpinned(s);
}

static void on_console_out(struct ring_op *op, int res, unsigned flags)
{
	struct client *c = container_of(op, struct client, send_op);
	struct session *s = c->sess;
	const char *p;
	size_t len;
	ssize_t n;

	c->send_inflight = false;
	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	if (res < 0) {
		client_close(c, strerror(-res));
		return;
	}
	if (c->send_private) {
		p = c->priv;
		len = c->priv_len;
	} else {
		len = transcript_span(&s->tr, c->cursor, &p);
	}
	n = len ? write(c->out_fd, p, len) : 0;
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		/* The console went away (closed terminal or pipe): the session
		 * carries on for the remote clients. */
		session_log(s, "console output: %s; continuing without it", strerror(errno));
		client_close(c, NULL);
		return;
	}
	sent(c, n);
	client_send_next(c);
}

/*
 * Input.  Bytes become lines; only whole lines reach the program, so lines
 * from different clients never interleave.
 */

static bool password_matches(const struct spec *sp, const char *line, size_t len)
{
	unsigned char diff = (unsigned char)(len != strlen(sp->password));
	char given[SPEC_PASSWORD_MAX + 1] = { 0 };

	/* Same work whatever the input: compare fixed-size padded buffers. */
	memcpy(given, line, len < SPEC_PASSWORD_MAX ? len : SPEC_PASSWORD_MAX);
	for (size_t i = 0; i < sizeof(given); i++)
		diff |= (unsigned char)(given[i] ^ sp->password[i]);
	return diff == 0;
}

static void on_auth_delay(struct ring_timer *t, int res)
{
	struct client *c = container_of(t, struct client, delay_timer);

	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	c->auth_waiting = false;
	if (c->auth_failures >= AUTH_MAX_TRIES) {
		client_private(c, "Error 0x80004005: wrong password; closing the connection\r\n");
		c->close_after_flush = true;
		client_send_next(c);
		return;
	}
	client_private(c, "Error 0x80004005: wrong password\r\nPassword: ");
}

static void on_auth_grace(struct ring_timer *t, int res)
{
	struct client *c = container_of(t, struct client, grace_timer);

	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	if (res == -ECANCELED || c->state != CLIENT_AUTH)
		return;
	if (c->native) {
		native_refuse(c, "the handshake took too long");
		return;
	}
	client_private(c, "\r\nringside: no password within %llu seconds; closing\r\n",
		       AUTH_GRACE_NS / 1000000000u);
	c->close_after_flush = true;
	client_send_next(c);
}

static void handle_line(struct client *c, const char *line, size_t len)
{
	struct session *s = c->sess;

	if (len && line[len - 1] == '\r')
		len--;
	if (c->state == CLIENT_AUTH) {
		if (c->auth_waiting || c->close_after_flush)
			return;
		if (password_matches(&c->server->spec, line, len)) {
			ring_timer_cancel(&s->ring, &c->grace_timer);
			client_auth_passed(c);
			go_live(c);
			return;
		}
		c->auth_failures++;
		c->auth_waiting = true;
		client_auth_failed(c);
		/* Answer late so guessing costs the guesser time, not the loop. */
		ring_timer_arm(&s->ring, &c->delay_timer, AUTH_DELAY_NS, on_auth_delay);
		return;
	}
	client_handle_line(c, line, len);
}

void client_handle_line(struct client *c, const char *line, size_t len)
{
	struct session *s = c->sess;

	if (c->state != CLIENT_LIVE)
		return;
	c->last_active = time(NULL);
	if (c->console)
		s->console_active = c->last_active;
	if (c->readonly) {
		s->stats.lines_refused++;
		client_private(c, "ringside: this is a read-only connection; "
				  "commands are not accepted\r\n");
		return;
	}
	s->stats.lines_in++;
	if (meta_execute(s, c, line, len))
		return;
	session_input_line(s, c, line, len);
}

static void refuse_long_line(struct client *c)
{
	struct session *s = c->sess;

	s->stats.lines_refused++;
	c->line_len = 0;
	c->line_discard = true;
	if (c->console)
		session_log(s, "console line longer than %u bytes was not sent", s->cfg->line_max);
	else
		client_private(c, "ringside: line longer than %u bytes was not sent\r\n",
			       s->cfg->line_max);
}

static void client_input(struct client *c, const char *data, size_t n)
{
	struct session *s = c->sess;
	unsigned max = s->cfg->line_max;

	if (c->detecting) {
		size_t used = native_detect(c, data, n);

		data += used;
		n -= used;
	}
	if (c->native) {
		native_input(c, data, n);
		return;
	}
	c->last_active = time(NULL);
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t seg = nl ? (size_t)(nl - data) : n;
		size_t step = nl ? seg + 1 : seg;

		if (c->line_discard) {
			if (nl)
				c->line_discard = false;
		} else if (c->line_len + seg > max) {
			refuse_long_line(c);
			if (nl)
				c->line_discard = false;
		} else if (nl && c->line_len == 0) {
			/* The common case: a whole line inside one receive. */
			handle_line(c, data, seg);
		} else {
			if (!c->line && !(c->line = malloc(max))) {
				session_log(s, "out of memory for %s's input line", c->ident);
				client_close(c, "out of memory");
				return;
			}
			memcpy(c->line + c->line_len, data, seg);
			c->line_len += (unsigned)seg;
			if (nl) {
				unsigned len = c->line_len;

				c->line_len = 0;
				handle_line(c, c->line, len);
			}
		}
		if (c->state == CLIENT_CLOSING)
			return;
		data += step;
		n -= step;
	}
}

static void arm_recv(struct client *c)
{
	struct session *s = c->sess;
	struct io_uring_sqe *sqe;

	if (c->console) {
		if (ring_poll(&s->ring, &c->recv_op, c->in_fd, POLLIN) == 0)
			c->recv_inflight = true;
		return;
	}
	sqe = ring_get_sqe(&s->ring, &c->recv_op);
	if (!sqe)
		return;
	io_uring_prep_recv_multishot(sqe, c->in_fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = s->bufs.bgid;
	ring_sqe_set_op(sqe, &c->recv_op);
	c->recv_inflight = true;
}

static void on_recv(struct ring_op *op, int res, unsigned flags)
{
	struct client *c = container_of(op, struct client, recv_op);
	struct session *s = c->sess;
	int bid = ring_cqe_buffer_id(flags);

	if (bid >= 0) {
		if (res > 0 && c->state != CLIENT_CLOSING)
			client_input(c, ring_bufs_addr(&s->bufs, (unsigned)bid), (size_t)res);
		ring_bufs_recycle(&s->bufs, (unsigned)bid);
	}
	if (flags & IORING_CQE_F_MORE)
		return;
	c->recv_inflight = false;
	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
	} else if (res == 0) {
		/* The peer stopped sending (`echo bt | nc -N ...` does this).
		 * It may still be reading, or gone for good: TCP cannot tell the
		 * two apart.  Keep sending while output flows; leave once the
		 * session has been quiet for a while. */
		c->quiet_head = s->tr.head;
		ring_timer_arm(&s->ring, &c->hangup_timer, HALF_CLOSED_QUIET_NS, on_half_closed);
	} else if (res < 0 && res != -ENOBUFS) {
		client_close(c, strerror(-res));
	} else {
		/* -ENOBUFS ends a multishot receive without ending the client:
		 * the buffers it needs are recycled by now. */
		arm_recv(c);
	}
}

static void on_half_closed(struct ring_timer *t, int res)
{
	struct client *c = container_of(t, struct client, hangup_timer);
	struct session *s = c->sess;

	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	if (res == -ECANCELED)
		return;
	if (s->tr.head == c->quiet_head && c->cursor == s->tr.head && !c->send_inflight) {
		client_close(c, NULL);
		return;
	}
	c->quiet_head = s->tr.head;
	ring_timer_arm(&s->ring, &c->hangup_timer, HALF_CLOSED_QUIET_NS, on_half_closed);
}

static void on_console_in(struct ring_op *op, int res, unsigned flags)
{
	struct client *c = container_of(op, struct client, recv_op);
	char buf[4096];
	ssize_t n;

	c->recv_inflight = false;
	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	if (res < 0)
		return;
	n = read(c->in_fd, buf, sizeof(buf));
	if (n > 0) {
		client_input(c, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* The console's input ended; its output and the session go on. */
		if (c->line_len) {
			unsigned len = c->line_len;

			c->line_len = 0;
			handle_line(c, c->line, len);
		}
		return;
	}
	if (c->state != CLIENT_CLOSING)
		arm_recv(c);
}

/*
 * Closing takes two phases: cancel what is in flight, free when the kernel
 * has returned every op (it may touch our buffers until then).
 */

/* Why a client was dropped, for the operator: at most one line a second,
 * since thousands of clients can go at once. */
static void log_close(struct session *s, const struct client *c, const char *why)
{
	time_t now = time(NULL);

	if (now == s->last_close_log) {
		s->closes_unlogged++;
		return;
	}
	if (s->closes_unlogged)
		session_log(s, "%s dropped: %s (and %u more in the last second)", c->ident, why,
			    s->closes_unlogged);
	else
		session_log(s, "%s dropped: %s", c->ident, why);
	s->last_close_log = now;
	s->closes_unlogged = 0;
}

void client_close(struct client *c, const char *why)
{
	struct session *s = c->sess;

	if (c->state == CLIENT_CLOSING)
		return;
	if (why)
		log_close(s, c, why);
	if (c->announced)
		notice_left(s, c);
	client_set_state(c, CLIENT_CLOSING);
	session_idle_remove(s, c);
	if (!c->console)
		s->nclients--;
	else if (s->console == c)
		s->console = NULL;
	if (c->send_inflight)
		ring_cancel(&s->ring, &c->send_op);
	if (c->recv_inflight)
		ring_cancel(&s->ring, &c->recv_op);
	ring_timer_cancel(&s->ring, &c->grace_timer);
	ring_timer_cancel(&s->ring, &c->delay_timer);
	ring_timer_cancel(&s->ring, &c->hangup_timer);
	if (!c->console)
		shutdown(c->in_fd, SHUT_RDWR);
	client_maybe_free(c);
}

void client_maybe_free(struct client *c)
{
	struct session *s = c->sess;

	if (c->state != CLIENT_CLOSING || c->send_inflight || c->recv_inflight ||
	    c->grace_timer.armed || c->delay_timer.armed || c->hangup_timer.armed)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->out_fd >= 0 && c->out_fd != c->in_fd)
		close(c->out_fd);
	free(c->line);
	free(c->priv);
	free(c->priv_retired);
	native_free(c);
	free(c);
}
