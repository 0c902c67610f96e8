/* SPDX-License-Identifier: MIT */
/*
 * A client's life: creation (remote, console, or refused at accept), its
 * state and the authenticating counts, and the two-phase close.  Sending is
 * in client_send.c, input in client_input.c, deadlines in
 * client_deadline.c.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/client.h"
#include "src/com.h"
#include "src/hub.h"
#include "src/native.h"
#include "src/npipe.h"
#include "src/server.h"

/* Refused connections told in their own language at once; beyond this many,
 * they get one line of text and are closed straight away. */
#define REFUSING_MAX 64

static struct client *client_alloc(struct hub *s)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->hub = s;
	c->idle_index = -1;
	c->link.in_fd = c->link.out_fd = -1;
	c->connected_at = c->last_active = (uint32_t)time(NULL);
	c->born = c->heard_at = s->now;
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	return c;
}

/* A source may hold this many of a server's authenticating places, so one
 * address cannot lock everyone else out (sshd's MaxStartups is per daemon;
 * this is per source as well). */
static unsigned source_share(const struct hub *s)
{
	unsigned share = s->cfg->max_auth / 8;

	return share < 2 ? 2 : share;
}

bool client_claim_auth(struct hub *s, const struct server *srv,
		       const struct sockaddr_storage *peer, bool *held, char *why, size_t len)
{
	int res;

	if (srv->nauthenticating >= s->cfg->max_auth) {
		/* Proofs cost the loop CPU: only so many may wait at once. */
		snprintf(why, len, "%u connections are still authenticating; try again",
			 srv->nauthenticating);
		return false;
	}
	res = penalty_pending_add(&s->penalties, peer, s->now, source_share(s), held);
	if (res == -EBUSY)
		snprintf(why, len, "%u connections from this address are still authenticating; "
			 "try again", source_share(s));
	else if (res < 0)
		snprintf(why, len, "too many addresses are authenticating at once; try again");
	return res == 0;
}

unsigned client_source_wait(struct hub *s, const struct sockaddr_storage *peer, char *why,
			    size_t len)
{
	enum penalty_reason reason;
	unsigned wait = penalty_wait(&s->penalties, peer, s->now, &reason);

	if (wait)
		snprintf(why, len, "too many wrong passwords %s; try again in %u s",
			 reason == PENALTY_GLOBAL ? "lately" : "from this address", wait);
	return wait;
}

void client_set_state(struct client *c, enum client_state state)
{
	struct hub *s = c->hub;

	if (c->counted_auth) {
		s->nauthenticating--;
		c->server->nauthenticating--;
		c->counted_auth = false;
	}
	if (state != CLIENT_AUTH && c->auth_held) {
		struct sockaddr_storage ss;
		bool held = true;

		client_peer_sockaddr(c, &ss);
		penalty_pending_done(&s->penalties, &ss, &held);
		c->auth_held = held;
	}
	if (state == CLIENT_AUTH && !client_is_console(c)) {
		s->nauthenticating++;
		c->server->nauthenticating++;
		c->counted_auth = true;
	}
	c->state = state;
}

void client_go_live_at(struct client *c, uint64_t start)
{
	struct hub *s = c->hub;

	client_set_state(c, CLIENT_LIVE);
	assert(!client_sending(c) || c->send_kind != SEND_TRANSCRIPT || c->native);
	c->cursor = start;
	if (!client_is_console(c) && !c->announced)
		s->ops->joined(s, c);
	client_wake(c);
}

static void go_live(struct client *c)
{
	struct hub *s = c->hub;

	client_go_live_at(c, transcript_history_start(&s->tr, s->cfg->history_bytes,
						      s->cfg->history_lines));
}

static void let_in(struct client *c);

static void addr_set(struct client_addr *a, const struct sockaddr_storage *ss)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		memcpy(a->ip, &in->sin_addr, 4);
		a->port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		memcpy(a->ip, &in6->sin6_addr, 16);
		a->port = ntohs(in6->sin6_port);
	}
}

void client_peer_sockaddr(const struct client *c, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = c->peer.family;
	if (c->peer.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		memcpy(&in->sin_addr, c->peer.ip, 4);
		in->sin_port = htons(c->peer.port);
	} else if (c->peer.family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		memcpy(&in6->sin6_addr, c->peer.ip, 16);
		in6->sin6_port = htons(c->peer.port);
	}
}

/*
 * "NAME (TRANSPORT WHERE)".  NAME is what a native client said it is, else
 * for a pipe the peer's login name on this host, else (a raw client does
 * not say who it is) the machine it came from, this one for loopback, and
 * a number.
 */
const char *client_ident(const struct client *c, char *buf)
{
	const struct hub *h = c->hub;
	const char *claimed = c->nat ? native_name(c) : NULL;
	char name[IDENT_MAX], where[IDENT_MAX], addr[INET6_ADDRSTRLEN] = "?";
	const char *transport;

	if (!c->server) {
		snprintf(buf, IDENT_MAX, "%s", h->console_ident);
		return buf;
	}
	transport = spec_transport_name(c->server->spec.transport);
	if (c->link.kind == LINK_SERIAL) {
		/* No address: the line and the channel say where. */
		char com[IDENT_MAX - 2];

		com_where(c->server, com, sizeof(com));
		snprintf(where, sizeof(where), "(%s)", com);
		snprintf(name, sizeof(name), "%s\\client%u", h->host, c->id);
	} else if (c->peer.family == AF_UNIX) {
		struct npipe_peer who = { .pid = c->peer.local.pid };

		npipe_identity(transport, c->server->spec.pipe, &who, where, sizeof(where));
		snprintf(name, sizeof(name), "%.63s\\%.63s", h->host,
			 c->x && c->x->pipe_user ? c->x->pipe_user : "?");
	} else {
		bool loopback = false;

		if (c->peer.family == AF_INET) {
			inet_ntop(AF_INET, c->peer.ip, addr, sizeof(addr));
			loopback = c->peer.ip[0] == 127;
		} else if (c->peer.family == AF_INET6) {
			inet_ntop(AF_INET6, c->peer.ip, addr, sizeof(addr));
			loopback = IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)c->peer.ip);
		}
		if (c->peer.family == AF_INET6)
			snprintf(where, sizeof(where), "(%s [%s]:%u)", transport, addr, c->peer.port);
		else
			snprintf(where, sizeof(where), "(%s %s:%u)", transport, addr, c->peer.port);
		snprintf(name, sizeof(name), "%s\\client%u", loopback ? h->host : addr, c->id);
	}
	/* A very long name or pipe name is cut, never the line. */
	snprintf(buf, IDENT_MAX, "%.95s %.63s", claimed && claimed[0] ? claimed : name, where);
	return buf;
}

struct client_extra *client_x(struct client *c)
{
	if (!c->x && (c->x = calloc(1, sizeof(*c->x))))
		c->x->c = c;
	return c->x;
}

void client_extra_tidy(struct client *c)
{
	struct client_extra *x = c->x;

	if (!x)
		return;
	if (x->line && !x->line_len) {
		/* A line typed in pieces is rare; its buffer is not kept. */
		free(x->line);
		x->line = NULL;
	}
	if (x->line || x->line_discard || x->auth_waiting || x->delay_timer.armed ||
	    (x->auth_failures && c->state == CLIENT_AUTH) || x->telnet || x->refusal ||
	    x->pipe_user || c->input_ended)
		return;
	free(x);
	c->x = NULL;
}

static void extra_free(struct client *c)
{
	struct client_extra *x = c->x;

	if (!x)
		return;
	free(x->line);
	free(x->telnet);
	free(x->refusal);
	free(x->pipe_user);
	free(x);
	c->x = NULL;
}

/*
 * A peer can vanish without a word (a black hole sends no reset).  With
 * output flowing, TCP_USER_TIMEOUT ends the connection once sent data has
 * gone unacknowledged this long; with none, keepalive probes find out in
 * about the same time (idle T/3, then four probes T/6 apart).
 */
static void set_dead_peer_limits(int fd, unsigned timeout_s)
{
	int one = 1, idle, intvl, count = 4;
	unsigned ms = timeout_s * 1000u;

	if (timeout_s == 0)
		return;
	idle = timeout_s / 3 ? (int)(timeout_s / 3) : 1;
	intvl = timeout_s / 6 ? (int)(timeout_s / 6) : 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
}

static struct client *client_new_socket(struct hub *s, struct server *srv, int fd,
					const struct sockaddr_storage *peer)
{
	struct client *c = client_alloc(s);
	int one = 1;

	if (!c)
		return NULL;
	c->id = s->next_client_id++;	/* the console has none: remote clients count from 1 */
	addr_set(&c->peer, peer);
	c->server = srv;
	if (srv->tls) {
		if (link_init_tls(&c->link, &s->links, srv->link_kind, fd, srv->tls) < 0) {
			/* The caller still owns FD and refuses it. */
			c->link.in_fd = c->link.out_fd = -1;
			client_free(c);
			return NULL;
		}
	} else {
		link_init_socket(&c->link, &s->links, srv->link_kind, fd);
	}
	c->detecting = true;
	c->readonly = srv->spec.readonly;
	if (srv->link_kind == LINK_UNIX) {
		/* A pipe's peer is known by its credentials, not an address;
		 * a vanished local peer closes its socket. */
		struct npipe_peer who;
		struct client_extra *x = client_x(c);

		c->peer.family = AF_UNIX;
		if (npipe_peer(fd, &who) == 0) {
			c->peer.local.uid = who.uid;
			c->peer.local.pid = who.pid;
			if (x)
				x->pipe_user = strdup(who.user);
		}
		return c;
	}
	/* Nagle plus delayed ACK would hold a short line back for tens of ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* telnet can send IAC DM as urgent data; kept in the stream, the
	 * telnet filter takes it out with the rest of the negotiation. */
	setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	set_dead_peer_limits(fd, s->cfg->peer_timeout_s);
	return c;
}

struct client *client_new(struct hub *s, struct server *srv, int fd,
			  const struct sockaddr_storage *peer, bool auth_held)
{
	struct client *c = client_new_socket(s, srv, fd, peer);

	if (!c)
		return NULL;
	c->auth_held = auth_held;
	s->nclients++;
	link_recv(&c->link);
	if (!link_secured(&c->link))
		/* The handshake is the first proof to wait for: it holds an
		 * authenticating place until client_secured(). */
		client_set_state(c, CLIENT_AUTH);
	else
		let_in(c);
	return c;
}

/* The transport is ready: ask for the password, or go straight in. */
static void let_in(struct client *c)
{
	/* Behind a gate (a repeater) the origin's password is asked for. */
	if (c->server->spec.has_password || (c->hub->gate && c->hub->gate->need_password)) {
		client_set_state(c, CLIENT_AUTH);
		client_private(c, "Password: ");
	} else {
		go_live(c);
	}
}

/* link_events.secured: a TLS handshake finished. */
static void client_secured(struct link *l)
{
	struct client *c = container_of(l, struct client, link);

	/* The handshake was the peer speaking: the first-byte limit is met. */
	c->heard = true;
	c->heard_at = c->hub->now;
	let_in(c);
}

struct client *client_new_refusing(struct hub *s, struct server *srv, int fd,
				   const struct sockaddr_storage *peer, const char *why)
{
	struct client *c;
	char *refusal;

	if (s->nrefusing >= REFUSING_MAX || !(refusal = strdup(why)))
		return NULL;
	c = client_new_socket(s, srv, fd, peer);
	if (!c) {
		free(refusal);
		return NULL;
	}
	if (!client_x(c)) {
		free(refusal);
		c->link.in_fd = c->link.out_fd = -1;
		client_free(c);
		return NULL;
	}
	c->x->refusal = refusal;
	c->state = CLIENT_REFUSING;
	s->nrefusing++;
	link_recv(&c->link);
	return c;
}

struct client *client_new_serial(struct hub *s, struct server *srv, struct comchan *ch)
{
	struct client *c = client_alloc(s);

	if (!c)
		return NULL;
	c->id = s->next_client_id++;
	c->server = srv;
	if (link_init_serial(&c->link, &s->links, ch) < 0) {
		client_free(c);
		return NULL;
	}
	com_peer(ch, &c->peer);
	c->readonly = srv->spec.readonly;
	s->nclients++;
	link_recv(&c->link);
	if (link_serial_raw(&c->link)) {
		let_in(c);
		return c;
	}
	/* A framed channel carries the native client only (a terminal cannot
	 * frame): no raw view, whose history would hold its handshake up for
	 * seconds at serial speeds; its preamble comes first. */
	c->detecting = true;
	client_set_state(c, CLIENT_AUTH);
	return c;
}

struct client *client_new_console(struct hub *s, int in_fd, int out_fd)
{
	struct client *c = client_alloc(s);

	if (!c)
		return NULL;
	link_init_console(&c->link, &s->links, in_fd, out_fd);
	link_recv(&c->link);
	go_live(c);
	return c;
}

void client_auth_failed(struct client *c)
{
	struct hub *s = c->hub;
	struct sockaddr_storage ss;

	client_peer_sockaddr(c, &ss);
	penalty_failure(&s->penalties, &ss, s->now);
	hub_log(s, "wrong password from %s", CLIENT_IDENT(c));
}

void client_auth_passed(struct client *c)
{
	struct sockaddr_storage ss;

	client_peer_sockaddr(c, &ss);
	penalty_success(&c->hub->penalties, &ss, c->hub->now);
}

unsigned client_auth_wait(struct client *c, char *why, size_t len)
{
	struct sockaddr_storage ss;

	client_peer_sockaddr(c, &ss);
	return client_source_wait(c->hub, &ss, why, len);
}

const struct link_events client_link_events = {
	.received = client_received,
	.recv_ended = client_recv_ended,
	.sent = client_sent,
	.secured = client_secured,
};

/*
 * Closing takes two phases: cancel what is in flight, free when the kernel
 * has returned every op (it may touch our buffers until then).
 */

/* Why a client was dropped, for the operator: at most one line a second,
 * since thousands of clients can go at once. */
static void log_close(struct hub *s, const struct client *c, const char *why)
{
	time_t now = time(NULL);

	if (now == s->last_close_log) {
		s->closes_unlogged++;
		return;
	}
	if (s->closes_unlogged)
		hub_log(s, "%s dropped: %s (and %u more in the last second)", CLIENT_IDENT(c), why,
			    s->closes_unlogged);
	else
		hub_log(s, "%s dropped: %s", CLIENT_IDENT(c), why);
	s->last_close_log = now;
	s->closes_unlogged = 0;
}

void client_close(struct client *c, const char *why)
{
	struct hub *s = c->hub;
	enum client_state was = c->state;

	if (was == CLIENT_CLOSING)
		return;
	if (why)
		log_close(s, c, why);
	if (c->announced)
		s->ops->left(s, c);
	client_set_state(c, CLIENT_CLOSING);
	if (c->server && c->server->client_closed && was != CLIENT_REFUSING)
		c->server->client_closed(c->server, why);
	client_idle_remove(c);
	if (was == CLIENT_REFUSING)
		s->nrefusing--;
	else if (!client_is_console(c))
		s->nclients--;
	else if (s->console == c)
		s->console = NULL;
	link_cancel(&c->link);
	if (c->x && c->x->delay_timer.armed)
		ring_timer_cancel(&s->ring, &c->x->delay_timer);
	link_shutdown(&c->link);
	client_maybe_free(c);
}

void client_maybe_free(struct client *c)
{
	if (c->state != CLIENT_CLOSING || client_sending(c) || link_busy(&c->link) ||
	    (c->x && c->x->delay_timer.armed) || c->dead)
		return;
	c->dead = true;
	client_reap_later(c);
}

void client_free(struct client *c)
{
	struct hub *s = c->hub;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	link_close(&c->link);
	if (c->privq) {
		free(c->privq->sending);
		free(c->privq->pending);
		free(c->privq);
	}
	extra_free(c);
	native_free(c);
	free(c);
}
