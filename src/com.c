/* SPDX-License-Identifier: MIT */
/*
 * com: servers.  A com server has no listener: its channel of a serial line
 * (comline.c) is where its one connection at a time comes from.  On a
 * framed channel each conversation the far end opens is a new client, in
 * the native protocol only (a terminal cannot frame), so it starts in the
 * handshake without a raw view; when its conversation ends the channel
 * waits for the next.  A raw line is one client, a terminal, there from
 * the start (its history, or the password prompt, go out whether anyone is
 * looking or not, as on a serial console) and made again a second after
 * it leaves.  A line that hangs up ends its servers with a message; the
 * session and its other servers go on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serial/frame.h"
#include "serial/line.h"
#include "src/client.h"
#include "src/com.h"
#include "src/comline.h"
#include "src/hub.h"
#include "src/server.h"
#include "src/spec.h"
#include "src/writer.h"

#define NS_PER_S 1000000000ull
/* A raw line's terminal gets a new client this long after the last left. */
#define RAW_AGAIN_NS (1 * NS_PER_S)

/* What a session's com servers share: one line per device. */
struct com_lines {
	struct serial_registry reg;
	struct comline *lines;
};

struct com_server {
	struct server *srv;
	struct comchan *ch;		/* NULL once ended */
	struct ring_timer again;	/* raw: the next client */
};

static struct com_lines *lines_of(struct hub *h)
{
	if (!h->com)
		h->com = calloc(1, sizeof(*h->com));
	return h->com;
}

static void refuse(struct server *srv, struct comchan *ch, unsigned reason, const char *why)
{
	struct hub *s = srv->hub;

	s->stats.refused++;
	hub_log(s, "server %u: refused a connection on %s: %s", srv->id, ch->where, why);
	comchan_refuse(ch, reason);
}

/* The far end opened a conversation: a new client, or a refusal it can
 * read (a CLOSE with the reason). */
static void com_opened(struct comchan *ch)
{
	struct com_server *cs = ch->owner;
	struct server *srv = cs->srv;
	struct hub *s = srv->hub;
	char why[64];

	if (srv->state != SERVER_ACTIVE || s->draining) {
		comchan_refuse(ch, SERIAL_CLOSE_ENDED);
		return;
	}
	if (s->nclients >= s->max_clients) {
		snprintf(why, sizeof(why), "the session is full (%u clients)", s->max_clients);
		refuse(srv, ch, SERIAL_CLOSE_FULL, why);
		return;
	}
	s->stats.accepted++;
	if (!client_new_serial(s, srv, ch))
		refuse(srv, ch, SERIAL_CLOSE_FULL, "out of memory");
}

static void com_answered(struct comchan *ch, int res, unsigned reason)
{
	/* A server never opens a conversation. */
}

static void com_line_failed(struct comchan *ch, const char *why)
{
	struct com_server *cs = ch->owner;
	struct server *srv = cs->srv;
	struct hub *s = srv->hub;
	char listing[SPEC_TEXT_MAX];

	spec_format(&srv->spec, SPEC_STYLE_LISTING, s->host, listing, sizeof(listing));
	writer_emitf(s, "ringside: server %u (%s) has ended: %s", srv->id, listing, why);
	server_end(s, srv->id);
}

static const struct comchan_ops com_ops = {
	.opened = com_opened,
	.answered = com_answered,
	.line_failed = com_line_failed,
};

static void raw_client(struct com_server *cs);

static void on_again(struct ring_timer *t, int res)
{
	struct com_server *cs = container_of(t, struct com_server, again);

	if (res == -ETIME)
		raw_client(cs);
}

/* The terminal on a raw line is a client from the start, and again after
 * each one leaves (three wrong passwords, say). */
static void raw_client(struct com_server *cs)
{
	struct server *srv = cs->srv;
	struct hub *s = srv->hub;

	if (!cs->ch || cs->ch->conv || srv->state != SERVER_ACTIVE || s->draining)
		return;
	if (client_new_serial(s, srv, cs->ch))
		return;
	hub_log(s, "server %u: no client for %s (out of memory); trying again", srv->id,
		cs->ch->where);
	ring_timer_arm(&s->ring, &cs->again, RAW_AGAIN_NS, on_again);
}

static void com_client_closed(struct server *srv, const char *why)
{
	struct com_server *cs = srv->com;

	if (srv->spec.raw && cs->ch && srv->state == SERVER_ACTIVE && !srv->hub->draining &&
	    !cs->again.armed)
		ring_timer_arm(&srv->hub->ring, &cs->again, RAW_AGAIN_NS, on_again);
}

#define CTRL_C 0x03
#define CTRL_H 0x08
#define CTRL_U 0x15
#define DEL 0x7f

/* Erases the last character of the line being typed: in DATA before OUT,
 * else in what the line reader holds from earlier reads.  False when the
 * line is empty. */
static bool erase_one(struct client *c, const char *data, size_t *out)
{
	if (*out > 0 && data[*out - 1] != '\n') {
		(*out)--;
		return true;
	}
	if (*out == 0 && c->x && c->x->line_len > 0) {
		c->x->line_len--;
		return true;
	}
	return false;
}

size_t com_terminal_input(struct client *c, char *data, size_t n, bool *interrupt)
{
	char echo[512];
	size_t out = 0, e = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)data[i];
		/* A password is not shown; the state is read per byte, for the
		 * line that lets the client in ends it. */
		bool secret = c->state == CLIENT_AUTH;

		if (e + 8 > sizeof(echo)) {
			client_queue_private(c, echo, e);
			e = 0;
		}
		switch (b) {
		case '\n':
			data[out++] = '\n';
			memcpy(echo + e, "\r\n", 2);
			e += 2;
			break;
		case CTRL_H:
		case DEL:
			if (erase_one(c, data, &out) && !secret) {
				memcpy(echo + e, "\b \b", 3);
				e += 3;
			}
			break;
		case CTRL_U:
			while (erase_one(c, data, &out))
				if (!secret) {
					memcpy(echo + e, "\b \b", 3);
					e += 3;
					if (e + 8 > sizeof(echo)) {
						client_queue_private(c, echo, e);
						e = 0;
					}
				}
			break;
		case CTRL_C:
			/* As a tty: the line so far goes, the program is told. */
			while (erase_one(c, data, &out))
				;
			memcpy(echo + e, "^C\r\n", 4);
			e += 4;
			*interrupt = true;
			break;
		default:
			data[out++] = (char)b;
			if (!secret)
				echo[e++] = (char)b;
			break;
		}
	}
	client_queue_private(c, echo, e);
	return out;
}

int com_where(const struct server *srv, char *buf, size_t len)
{
	if (srv->spec.raw)
		return snprintf(buf, len, "com %s", srv->spec.com_name);
	return snprintf(buf, len, "com %s channel %u", srv->spec.com_name, srv->spec.channel);
}

void com_peer(const struct comchan *ch, struct client_addr *a)
{
	uint64_t rdev = (uint64_t)comchan_rdev(ch);

	/* Wrong passwords are counted per source; a serial line is one, of
	 * its own, not "this machine": an address from the discard prefix
	 * 100::/64 (RFC 6666), with the device number in its /64, stands for
	 * it in the penalty table and nowhere else. */
	memset(a, 0, sizeof(*a));
	a->family = AF_INET6;
	a->ip[0] = 0x01;
	for (int i = 0; i < 6; i++)
		a->ip[2 + i] = (uint8_t)(rdev >> (8 * (5 - i)));
}

int com_server_start(struct server *srv, char *err, size_t errlen)
{
	struct hub *s = srv->hub;
	struct com_lines *cl = lines_of(s);
	struct com_server *cs = calloc(1, sizeof(*cs));
	const struct spec *sp = &srv->spec;
	struct serial_config cfg = {
		.path = sp->com_device,
		.name = sp->com_name,
		.baud = sp->baud,
		.flow = (enum serial_flow)sp->flow,
		.backend = SERIAL_BACKEND_AUTO,
	};
	char why[512];
	int res;

	if (!cs || !cl) {
		free(cs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cs->srv = srv;
	res = comchan_open(&cs->ch, &s->ring, &cl->lines, &cl->reg, &cfg,
			   sp->raw ? SERIAL_CHANNEL_RAW : sp->channel, COMCHAN_SERVER, &com_ops, cs,
			   why, sizeof(why));
	if (res < 0) {
		snprintf(err, errlen, "com: %s", why);
		free(cs);
		return res;
	}
	srv->com = cs;
	srv->client_closed = com_client_closed;
	return 0;
}

void com_server_run(struct server *srv)
{
	struct com_server *cs = srv->com;
	char line[SERIAL_PATH_MAX + 96];

	comchan_describe(cs->ch, line, sizeof(line));
	hub_log(srv->hub, "server %u serves %s on %s", srv->id,
		srv->spec.raw ? "a terminal" : cs->ch->where, line);
	if (srv->spec.raw)
		raw_client(cs);
}

void com_server_end(struct server *srv)
{
	struct com_server *cs = srv->com;

	if (!cs)
		return;
	if (cs->again.armed)
		ring_timer_cancel(&srv->hub->ring, &cs->again);
	if (cs->ch) {
		comchan_close(cs->ch);
		cs->ch = NULL;
	}
}

void com_server_free(struct server *srv)
{
	struct com_server *cs = srv->com;

	if (!cs)
		return;
	if (cs->ch)
		comchan_close(cs->ch);
	free(cs);
	srv->com = NULL;
}

void com_free_all(struct hub *h)
{
	if (!h->com)
		return;
	for (unsigned i = 0; i < h->nservers; i++)
		if (h->servers[i]->com)
			h->servers[i]->com->ch = NULL;
	/* The session's last records, and each channel's CLOSE, go out. */
	comline_free_all(&h->com->lines, 500);
	free(h->com);
	h->com = NULL;
}
