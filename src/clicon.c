/* SPDX-License-Identifier: MIT */
/*
 * Reverse connections (clicon=): the server dials its one client instead of
 * listening, retrying with backoff while the client is not there yet, so
 * either may start first.  When the connection drops, it dials again so a
 * native client can resume; when the client leaves deliberately, the server
 * says so and ends, as WinDbg's does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/clicon.h"
#include "src/hub.h"
#include "src/server.h"
#include "src/writer.h"

#define NS_PER_S 1000000000ull
/* One attempt may take this long before it is abandoned (a black hole
 * would otherwise hold it for the kernel's SYN retries, about 2 minutes). */
#define CLICON_CONNECT_S 10
#define CLICON_BACKOFF_MAX_S 30

struct clicon {
	struct server *srv;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;				/* the socket being connected */
	struct ring_op connect_op;
	struct ring_timer deadline;	/* bounds one attempt */
	struct ring_timer backoff;	/* until the next attempt */
	bool connecting;
	bool serving;			/* its client is connected */
	bool stopped;
	unsigned wait_s;		/* the next backoff */
	int last_error;			/* logged once per kind of failure */
	char where[SPEC_HOST_MAX + 16];	/* "HOST:PORT" */
};

static void dial(struct clicon *k);

static void on_backoff(struct ring_timer *t, int res)
{
	struct clicon *k = container_of(t, struct clicon, backoff);

	if (res == -ETIME && !k->stopped)
		dial(k);
}

static void retry_later(struct clicon *k, int error)
{
	struct hub *s = k->srv->hub;

	if (error != k->last_error) {
		hub_log(s, "server %u: the client at %s does not answer (%s); "
			    "trying again with backoff", k->srv->id, k->where, strerror(-error));
		k->last_error = error;
	}
	ring_timer_arm(&s->ring, &k->backoff, (uint64_t)k->wait_s * NS_PER_S, on_backoff);
	k->wait_s = k->wait_s * 2 > CLICON_BACKOFF_MAX_S ? CLICON_BACKOFF_MAX_S : k->wait_s * 2;
}

static void on_deadline(struct ring_timer *t, int res)
{
	struct clicon *k = container_of(t, struct clicon, deadline);

	if (res == -ETIME && k->connecting)
		ring_cancel(&k->srv->hub->ring, &k->connect_op);
}

static void on_connect(struct ring_op *op, int res, unsigned flags)
{
	struct clicon *k = container_of(op, struct clicon, connect_op);
	struct hub *s = k->srv->hub;
	int fd = k->fd;

	k->connecting = false;
	k->fd = -1;
	if (k->deadline.armed)
		ring_timer_cancel(&s->ring, &k->deadline);
	if (k->stopped || res < 0) {
		close(fd);
		if (!k->stopped)
			retry_later(k, res == -ECANCELED ? -ETIMEDOUT : res);
		return;
	}
	hub_log(s, "server %u: connected to the client at %s", k->srv->id, k->where);
	k->serving = true;
	k->last_error = 0;
	k->wait_s = 1;
	server_admit(k->srv, fd);
}

static void dial(struct clicon *k)
{
	struct hub *s = k->srv->hub;
	struct io_uring_sqe *sqe;

	k->fd = socket(k->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0) {
		retry_later(k, -errno);
		return;
	}
	sqe = ring_get_sqe(&s->ring, &k->connect_op);
	if (!sqe) {
		close(k->fd);
		k->fd = -1;
		retry_later(k, -EBUSY);
		return;
	}
	io_uring_prep_connect(sqe, k->fd, (struct sockaddr *)&k->addr, k->addrlen);
	ring_sqe_set_op(sqe, &k->connect_op);
	k->connecting = true;
	ring_timer_arm(&s->ring, &k->deadline, CLICON_CONNECT_S * NS_PER_S, on_deadline);
}

/* The client's address, resolved once, here (a name lookup may block, so it
 * is done when the server starts, not in the loop's steady state). */
static int resolve(struct clicon *k, const struct spec *sp, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[8];
	int rc;

	hints.ai_family = sp->ipversion == 6 ? AF_INET6 : AF_UNSPEC;
	snprintf(port, sizeof(port), "%u", sp->port_lo);
	rc = getaddrinfo(sp->clicon, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "%s: clicon=%s: %s", spec_transport_name(sp->transport),
			 sp->clicon, rc ? gai_strerror(rc) : "no address");
		return -EHOSTUNREACH;
	}
	memcpy(&k->addr, res->ai_addr, res->ai_addrlen);
	k->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (strchr(sp->clicon, ':'))
		snprintf(k->where, sizeof(k->where), "[%s]:%u", sp->clicon, sp->port_lo);
	else
		snprintf(k->where, sizeof(k->where), "%s:%u", sp->clicon, sp->port_lo);
	return 0;
}

int clicon_start(struct server *srv, char *err, size_t errlen)
{
	struct clicon *k = calloc(1, sizeof(*k));
	int res;

	if (!k) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	k->srv = srv;
	k->fd = -1;
	k->wait_s = 1;
	k->connect_op.cb = on_connect;
	res = resolve(k, &srv->spec, err, errlen);
	if (res < 0) {
		free(k);
		return res;
	}
	srv->clicon = k;
	dial(k);
	return 0;
}

void clicon_stop(struct server *srv)
{
	struct clicon *k = srv->clicon;
	struct hub *s = srv->hub;

	if (!k || k->stopped)
		return;
	k->stopped = true;
	if (k->connecting)
		ring_cancel(&s->ring, &k->connect_op);
	if (k->deadline.armed)
		ring_timer_cancel(&s->ring, &k->deadline);
	if (k->backoff.armed)
		ring_timer_cancel(&s->ring, &k->backoff);
}

void clicon_client_closed(struct server *srv, const char *why)
{
	struct clicon *k = srv->clicon;
	struct hub *s = srv->hub;

	if (!k || !k->serving)
		return;
	k->serving = false;
	if (k->stopped || srv->state != SERVER_ACTIVE || s->draining)
		return;
	if (why) {
		/* Dropped, not left: dial again so it can resume. */
		hub_log(s, "server %u: lost the client at %s (%s); dialing again", srv->id,
			    k->where, why);
		dial(k);
		return;
	}
	writer_emitf(s, "ringside: the reverse connection to %s has ended; start the server "
		      "again to reconnect", k->where);
	server_end(s, srv->id);
}

bool clicon_busy(const struct server *srv)
{
	const struct clicon *k = srv->clicon;

	return k && (k->connecting || k->deadline.armed || k->backoff.armed);
}

void clicon_free(struct server *srv)
{
	free(srv->clicon);
	srv->clicon = NULL;
}
