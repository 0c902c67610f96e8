/* SPDX-License-Identifier: MIT */
/*
 * The repeater's upstream half: a native client of the origin, in relay
 * mode (protocol version 3).  remote_conn.c connects (tcp, npipe, ssl,
 * spipe, or listens for clicon=), keeps one send in flight, sends
 * heartbeats, and reconnects with backoff, resuming at the offset the
 * mirror has reached; remote_link.c checks every record before it is
 * believed.  This part turns what the link reports into the local
 * session's business.  It holds no password: its clients prove the
 * origin's, through it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/client.h"
#include "src/repeater_internal.h"

static struct repeater *of(struct remote_link *l)
{
	return container_of(l, struct repeater, up.link);
}

void repeater_up_send(struct repeater *rep, const void *p, size_t n)
{
	conn_send(&rep->up, p, n);
}

/* Nothing more can be done for this session: take nothing more from the
 * connection, and end (repeater.c's loop sees done). */
static void fatal(struct repeater *rep)
{
	rep->new_session = true;
	rep->done = true;
	rep->exit_code = 1;
}

/*
 * The link's ordinary needs.
 */

static void up_link_send(struct remote_link *l, const uint8_t *p, size_t n)
{
	conn_send(&of(l)->up, p, n);
}

static void link_show(struct remote_link *l, enum rlink_show kind, const char *p, size_t n)
{
	struct repeater *rep = of(l);

	/* A relay gets records (rlink_relay_ops), not text to show: what is
	 * left is the link's own lines and the origin's PRIVATE ones. */
	if (kind == RLINK_PRIVATE)
		repeater_log(rep, "the origin says: %.*s", (int)n, p);
	else if (kind == RLINK_SAY)
		repeater_log(rep, "%.*s", (int)n, p);
}

static void link_ask_password(struct remote_link *l)
{
	/* Never: a relay proves nothing itself. */
}

static void link_live(struct remote_link *l)
{
	struct repeater *rep = of(l);

	conn_live(&rep->up);
	if (rep->new_session || !rep->down)
		return;
	rep->upstream_ro = l->read_only;
	rep->gate.readonly = l->read_only;
	/* Where the mirror goes on: the origin's START.  The first time it
	 * is where the transcript begins; after a resume it is where the
	 * mirror (with what waits to go in) already ends, since that is
	 * where we asked to resume. */
	/* Its servers start before the first jump (repeater_serve()). */
	if (repeater_serve(rep) < 0) {
		fatal(rep);
		return;
	}
	if (!rep->based || rep->mirror.end != l->next) {
		if (rep->based)
			repeater_log(rep, "the origin resumed at offset %llu, not %llu; the "
				     "clients skip ahead", (unsigned long long)l->next,
				     (unsigned long long)rep->mirror.end);
		repeater_down_jump(rep, l->next);
		rep->based = true;
	}
	repeater_down_relaying(rep, true);
}

static void link_jump(struct remote_link *l)
{
	/* The relay ops say it with records (gap). */
}

static const struct rlink_ops link_ops = {
	.send = up_link_send,
	.show = link_show,
	.ask_password = link_ask_password,
	.live = link_live,
	.jump = link_jump,
};

/*
 * What only a relay hears.
 */

/*
 * Back after an outage, but locked: the ticket was too old (or the origin
 * forgot it).  Someone must prove the password again before the session
 * goes on here.  Native clients do that by themselves when they reconnect,
 * so they are let go to reconnect; raw ones are told.
 */
static void reprove(struct repeater *rep)
{
	repeater_log(rep, "the origin wants the password proven again (the repeater was away "
		     "too long): waiting for a client to prove it");
	for (unsigned i = 0; i < rep->nsubs; i++) {
		struct rsub *rs = rep->subs[i];

		if (rs->state != RSUB_ADMITTED || rs->c->state != CLIENT_LIVE)
			continue;
		if (rs->c->native)
			client_close(rs->c, "the origin wants the password proven again");
		else
			client_private(rs->c, "\r\n[ringside: the origin wants the password proven "
				       "again before the session goes on here: connect once more to "
				       "prove it]\r\n");
	}
}

static void relay_welcome(struct remote_link *l, const struct proto_msg *m)
{
	struct repeater *rep = of(l);

	if (rep->new_session)
		return;
	if (rep->down && memcmp(rep->down->hub.id, m->session, sizeof(m->session)) != 0) {
		/* The origin was restarted while we were away: the session we
		 * relayed is over.  Nothing more is taken from this
		 * connection; the loop ends ours (repeater.c). */
		rep->new_session = true;
		return;
	}
	if (!rep->down && repeater_session_for(rep, m) < 0) {
		fatal(rep);
		return;
	}
	rep->gate.need_password = m->auth == 1;
	if (m->locked) {
		/* Taken, but reading nothing until one of our clients proves
		 * the password: heartbeats keep the place meanwhile. */
		conn_live(&rep->up);
		if (repeater_serve(rep) < 0) {
			fatal(rep);
			return;
		}
		if (rep->based)
			reprove(rep);
		else
			repeater_log(rep, "the session has a password: waiting for a client to "
				     "prove it");
		repeater_down_relaying(rep, false);
	}
}

static void relay_record(struct remote_link *l, uint8_t type, uint64_t seq, const uint8_t *p,
			 size_t n)
{
	struct repeater *rep = of(l);

	if (!rep->new_session)
		repeater_down_record(rep, type, p, n);
}

static void relay_gap(struct remote_link *l, uint64_t from, uint64_t to)
{
	struct repeater *rep = of(l);

	if (rep->new_session)
		return;
	repeater_log(rep, "the origin no longer holds %llu bytes of output the repeater had not "
		     "received; its clients skip ahead too", (unsigned long long)(to - from));
	repeater_down_jump(rep, to);
}

static void relay_ended(struct remote_link *l, uint32_t status)
{
	struct repeater *rep = of(l);

	if (rep->new_session)
		return;
	/* What the origin still has comes after STATE (PROTOCOL.md 5.4):
	 * ours ends once its connection does (up_finished()). */
	rep->ended_status = (int)status;
	repeater_log(rep, "the session has ended (status %u)", status);
}

static void relay_sub(struct remote_link *l, uint8_t type, uint32_t sub, const struct proto_msg *m,
		      const uint8_t *p, size_t n)
{
	struct repeater *rep = of(l);

	if (!rep->new_session && rep->down)
		rsub_on_record(rep, type, sub, m, p, n);
}

static void relay_lost(struct remote_link *l)
{
	struct repeater *rep = of(l);

	if (rep->down && !rep->done)
		repeater_down_lost(rep);
	rep->relaying = false;
}

static const struct rlink_relay_ops relay_ops = {
	.welcome = relay_welcome,
	.record = relay_record,
	.gap = relay_gap,
	.ended = relay_ended,
	.sub = relay_sub,
	.lost = relay_lost,
};

/*
 * Setting up.
 */

int repeater_up_setup(struct repeater *rep)
{
	struct remote *r = &rep->up;
	char err[512];
	int res;

	r->signal_fd = -1;
	r->listen_fd = -1;
	if (spec_parse(rep->opt->upstream, SPEC_CLIENT, &r->spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: -c: %s\n", err);
		return -EINVAL;
	}
	if (r->spec.has_password) {
		explicit_bzero(r->spec.password, sizeof(r->spec.password));
		fprintf(stderr, "ringside: -c: a repeater takes no password: each of its clients "
			"proves the session's password to the origin itself, and the repeater "
			"never learns it; remove password= (or passfile=, passenv=)\n");
		return -EINVAL;
	}
	if (r->spec.transport == SPEC_COM) {
		fprintf(stderr, "ringside: -c: a repeater's upstream is tcp, npipe, ssl or spipe; "
			"it cannot reach its origin over com yet\n");
		return -EOPNOTSUPP;
	}
	res = remote_prepare(r, 256, 4096);
	if (res < 0)
		return res;
	/* No terminal: messages are lines on stderr. */
	r->interactive = false;
	outq_init(&r->out, 1);
	outq_init(&r->err, 2);
	conn_init(r);
	rlink_init(&r->link, &link_ops, r->identity);
	r->link.relay = &relay_ops;
	return 0;
}

void repeater_up_forget(struct repeater *rep)
{
	struct remote *r = &rep->up;

	rlink_free(&r->link);
	rlink_init(&r->link, &link_ops, r->identity);
	r->link.relay = &relay_ops;
}

void repeater_up_free(struct repeater *rep)
{
	struct remote *r = &rep->up;

	rtls_free(r);
	rlisten_close(r);
	rlink_free(&r->link);
	conn_free(r);
	outq_restore(&r->out);
	outq_restore(&r->err);
	outq_free(&r->out);
	outq_free(&r->err);
	bytes_free(&r->held);
}
