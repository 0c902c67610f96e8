/* SPDX-License-Identifier: MIT */
/*
 * The repeater's downstream half: a local session (the library's, with its
 * servers and clients of every kind) whose transcript mirrors the origin's,
 * byte for byte and at the same offsets, so that every client here reads
 * what a client of the origin reads, resumes by the same SESSION and
 * offsets, and the origin sends each byte once however many watch here.
 * Nothing of the repeater's own goes into that transcript: its messages go
 * to each client privately.  What its clients say goes to the origin
 * instead of a program (hub_ops), with their names, and the origin decides
 * who may come in (hub_gate), so the repeater never learns the password.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/client.h"
#include "src/native.h"
#include "src/repeater_internal.h"
#include "src/writer.h"

static struct repeater *of(struct hub *h)
{
	return container_of(h, struct session, hub)->cb_arg;
}

/*
 * The mirror: records from the origin go into the transcript in order;
 * what a pinned chunk stops waits here, and the socket is not read while
 * too much does (remote_conn.c's backlog).
 */

void repeater_mirror_free(struct mirror *m)
{
	bytes_free(&m->data);
	free(m->segs);
	memset(m, 0, sizeof(*m));
}

static bool mirror_empty(const struct mirror *m)
{
	return m->segs_off == m->nsegs;
}

static void mirror_queue(struct repeater *rep, uint8_t kind, const uint8_t *p, uint64_t n)
{
	struct mirror *m = &rep->mirror;

	if (m->nsegs == m->segs_cap) {
		size_t cap = m->segs_cap ? m->segs_cap * 2 : 64;
		struct mirror_seg *grown = realloc(m->segs, cap * sizeof(*grown));

		if (!grown)
			goto fail;
		m->segs = grown;
		m->segs_cap = cap;
	}
	/* Consecutive bytes of one kind are one segment. */
	if (kind != MIRROR_JUMP && m->nsegs > m->segs_off && m->segs[m->nsegs - 1].kind == kind) {
		if (!bytes_put(&m->data, p, (size_t)n))
			goto fail;
		m->segs[m->nsegs - 1].n += n;
	} else {
		if (kind != MIRROR_JUMP && !bytes_put(&m->data, p, (size_t)n))
			goto fail;
		m->segs[m->nsegs++] = (struct mirror_seg){ .kind = kind, .n = n };
	}
	rep->up.relay_backlog = m->data.len - m->data_off;
	return;
fail:
	/* The mirror would be wrong from here on: better no session than
	 * one that shows the wrong bytes at the right offsets. */
	repeater_log(rep, "out of memory for the session's output");
	repeater_end(rep, 0, 1, "the repeater ran out of memory");
}

void repeater_down_flush(struct repeater *rep)
{
	struct mirror *m = &rep->mirror;
	struct hub *h;

	if (!rep->down)
		return;
	h = &rep->down->hub;
	while (!mirror_empty(m)) {
		struct mirror_seg *sg = &m->segs[m->segs_off];

		if (sg->kind == MIRROR_JUMP) {
			writer_jump(h, sg->n);
		} else {
			size_t done = writer_mirror(h, (enum transcript_kind)sg->kind,
						    m->data.p + m->data_off, (size_t)sg->n);

			m->data_off += done;
			sg->n -= done;
			if (sg->n)
				break;	/* pinned: hub_ops.unpinned calls again */
		}
		m->segs_off++;
	}
	if (mirror_empty(m)) {
		m->nsegs = m->segs_off = 0;
		m->data.len = m->data_off = 0;
	} else if (m->data_off > m->data.len / 2) {
		memmove(m->data.p, m->data.p + m->data_off, m->data.len - m->data_off);
		m->data.len -= m->data_off;
		m->data_off = 0;
	}
	rep->up.relay_backlog = m->data.len - m->data_off;
}

void repeater_down_record(struct repeater *rep, uint8_t type, const uint8_t *p, size_t n)
{
	enum transcript_kind kind = type == PROTO_NOTICE ? TRANSCRIPT_NOTICE :
				    type == PROTO_TYPED ? TRANSCRIPT_TYPED : TRANSCRIPT_OUTPUT;
	struct hub *h;
	size_t done = 0;

	if (!rep->down || rep->ending || n == 0)
		return;
	h = &rep->down->hub;
	rep->mirror.end += n;
	if (mirror_empty(&rep->mirror))
		done = writer_mirror(h, kind, p, n);
	if (done < n)
		mirror_queue(rep, (uint8_t)kind, p + done, n - done);
}

void repeater_down_jump(struct repeater *rep, uint64_t to)
{
	if (!rep->down || rep->ending)
		return;
	rep->mirror.end = to;
	mirror_queue(rep, MIRROR_JUMP, NULL, to);
	repeater_down_flush(rep);
}

/*
 * Telling our clients something of our own.
 */

void repeater_down_tell(struct repeater *rep, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	if (!rep->down)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (struct client *c = rep->down->hub.clients; c; c = c->next) {
		if (c->state != CLIENT_LIVE || client_is_console(c))
			continue;
		/* A raw client's line of its own, off whatever line it is on. */
		if (c->native)
			client_private(c, "[ringside: %s]", text);
		else
			client_private(c, "\r\n[ringside: %s]\r\n", text);
	}
}

/*
 * The connection to the origin comes and goes.
 */

/* Lines typed while it was away, for clients still here and known there. */
static void send_held(struct repeater *rep)
{
	struct bytes *b = &rep->up.held;
	size_t i = 0;

	while (b->len - i >= PROTO_HEADER_SIZE) {
		struct proto_header h;
		size_t whole;
		struct rsub *rs;

		if (proto_header_decode(b->p + i, &h) < 0)
			break;
		whole = PROTO_HEADER_SIZE + (size_t)h.length;
		if (whole > b->len - i)
			break;
		rs = h.type == PROTO_SUB_INPUT ? rsub_find(rep, (uint32_t)h.seq) : NULL;
		if (rs && rs->registered && rs->c->state == CLIENT_LIVE)
			repeater_up_send(rep, b->p + i, whole);
		i += whole;
	}
	b->len = 0;
}

void repeater_down_relaying(struct repeater *rep, bool live)
{
	rep->relaying = true;
	if (live) {
		/* Who was in on the last connection is in again: the ticket
		 * (or no password at all) stands for their proofs. */
		for (unsigned i = 0; i < rep->nsubs; i++) {
			struct rsub *rs = rep->subs[i];

			rs->told_held = false;
			if (rs->state == RSUB_ADMITTED && !rs->registered &&
			    rs->c->state == CLIENT_LIVE)
				rsub_register(rep, rs, true);
		}
		send_held(rep);
	}
	rsub_pump(rep);
	if (rep->lost_at) {
		if (rep->outage_told)
			repeater_down_tell(rep, "the repeater is connected to the session again");
		rep->lost_at = 0;
		rep->outage_told = false;
	}
}

void repeater_down_lost(struct repeater *rep)
{
	rep->relaying = false;
	rep->lost_at = remote_now();
	rep->outage_told = false;
	for (unsigned i = 0; i < rep->nsubs;) {
		struct rsub *rs = rep->subs[i];
		struct client *c = rs->c;

		rs->registered = false;
		/* A raw client's password is not kept across an outage: it
		 * types it again once the origin is back. */
		if (!c->native && (rs->state == RSUB_QUEUED || rs->state == RSUB_HELLO)) {
			repeater_auth_done(c);
			client_private(c, "\r\nringside: the repeater lost its connection to the "
				       "session; try again in a moment\r\nPassword: ");
			rsub_remove(rep, rs);
			continue;
		}
		switch (rs->state) {
		case RSUB_HELLO:
			/* Nothing was said to it yet: it asks again. */
			rsub_release_slot(rep, rs);
			rs->state = RSUB_QUEUED;
			break;
		case RSUB_CHALLENGED:
		case RSUB_PROVING:
			/* Its proof belonged to the origin's end of the lost
			 * connection and cannot be carried over. */
			if (c->native) {
				native_refuse(c, "the repeater lost its connection to the session "
					      "during the handshake; connect again");
			} else {
				/* It typed its password once; it may again. */
				repeater_auth_done(c);
				client_private(c, "\r\nringside: the repeater lost its connection to "
					       "the session; try again\r\nPassword: ");
			}
			rsub_remove(rep, rs);
			continue;
		default:
			break;
		}
		i++;
	}
}

void repeater_down_tick(struct repeater *rep)
{
	uint64_t now = remote_now();

	if (!rep->down)
		return;
	/* Raw-looking clients that have not turned out native are raw. */
	for (unsigned i = 0; i < rep->nsubs && rep->ndeferred; i++) {
		struct rsub *rs = rep->subs[i];

		if (rs->state != RSUB_DEFERRED || (rs->c->detecting && now - rs->since < DETECT_NS))
			continue;
		rs->state = RSUB_ADMITTED;
		rep->ndeferred--;
		if (rlink_live(&rep->up.link))
			rsub_register(rep, rs, false);
	}
	if (rep->lost_at && !rep->outage_told && now - rep->lost_at >= OUTAGE_TELL_NS) {
		rep->outage_told = true;
		repeater_down_tell(rep, "the repeater lost its connection to the session; "
				   "reconnecting (nothing is lost while it does)");
	}
}

/*
 * The session's clients: hub_ops.
 */

static void on_line(struct hub *h, struct client *c, const char *line, size_t len)
{
	struct repeater *rep = of(h);
	struct rsub *rs = rsub_find(rep, c->id);

	if (!rs && !(rs = rsub_add(rep, c, RSUB_ADMITTED))) {
		client_private(c, "ringside: out of memory; the line was not sent\r\n");
		return;
	}
	/* Typing shows how it speaks: no need to wait and see. */
	if (rs->state == RSUB_DEFERRED) {
		rs->state = RSUB_ADMITTED;
		rep->ndeferred--;
	}
	if (rs->state == RSUB_ADMITTED && !rs->registered && rlink_live(&rep->up.link))
		rsub_register(rep, rs, false);
	rsub_send_line(rep, rs, line, len);
}

static void on_interrupt(struct hub *h, struct client *c)
{
	struct repeater *rep = of(h);
	struct rsub *rs = rsub_find(rep, c->id);

	if (rs && rs->state == RSUB_DEFERRED) {
		rs->state = RSUB_ADMITTED;
		rep->ndeferred--;
	}
	if (rs && rs->state == RSUB_ADMITTED && !rs->registered && rlink_live(&rep->up.link))
		rsub_register(rep, rs, false);
	/* A Ctrl+C kept for later would interrupt whatever runs then. */
	if (!rs || !rs->registered || !rlink_live(&rep->up.link)) {
		client_private(c, "%s[ringside: the repeater is not connected to the session; Ctrl+C "
			       "was not sent]%s", c->native ? "" : "\r\n", c->native ? "" : "\r\n");
		return;
	}
	rsub_send_plain(rep, PROTO_SUB_INTERRUPT, rs->id);
}

static void on_joined(struct hub *h, struct client *c)
{
	struct repeater *rep = of(h);
	struct rsub *rs;

	/* Its join is announced by the origin (in the transcript we mirror),
	 * once the origin knows it. */
	if (rep->gate.readonly)
		c->readonly = true;
	if (rsub_find(rep, c->id))
		return;		/* admitted by the origin, through the gate */
	/* A raw view first is what a native client gets too: wait until it
	 * shows which it is, or for DETECT_NS of silence. */
	rs = rsub_add(rep, c, c->detecting ? RSUB_DEFERRED : RSUB_ADMITTED);
	if (!rs) {
		client_close(c, "out of memory");
		return;
	}
	rs->since = remote_now();
	if (rs->state == RSUB_ADMITTED && rlink_live(&rep->up.link))
		rsub_register(rep, rs, false);
}

static void on_left(struct hub *h, struct client *c)
{
	/* The origin tells everyone (gate.gone says SUB_BYE). */
}

static void on_retracted(struct hub *h, struct client *c)
{
	struct repeater *rep = of(h);
	struct rsub *rs = rsub_find(rep, c->id);

	/* It was native after all: it is registered again once its
	 * handshake is done, under the name it gives. */
	if (!rs)
		return;
	if (rs->registered && rlink_relaying(&rep->up.link))
		rsub_send_plain(rep, PROTO_SUB_BYE, rs->id);
	rsub_remove(rep, rs);
}

static void on_unpinned(struct hub *h)
{
	struct repeater *rep = of(h);

	rep->over.base->unpinned(h);
	repeater_down_flush(rep);
}

static const struct hub_ops repeater_client_ops = {
	.line = on_line,
	.interrupt = on_interrupt,
	.joined = on_joined,
	.left = on_left,
	.retracted = on_retracted,
	.unpinned = on_unpinned,
};

/*
 * Admission: the origin's (hub_gate).
 */

static void gate_hello(struct hub *h, struct client *c)
{
	struct repeater *rep = of(h);
	struct rsub *rs = rsub_find(rep, c->id);

	if (rs)
		rsub_remove(rep, rs);
	if (!rsub_add(rep, c, RSUB_QUEUED)) {
		native_refuse(c, "out of memory");
		return;
	}
	rsub_pump(rep);
}

static void gate_proof(struct hub *h, struct client *c, const uint8_t *a, size_t a_len,
		       const uint8_t *m1, size_t m1_len)
{
	struct repeater *rep = of(h);
	struct rsub *rs = rsub_find(rep, c->id);
	uint8_t buf[PROTO_HEADER_SIZE + 2 * PROTO_SRP_MAX];
	struct proto_msg p;
	int n;

	if (!rs || rs->state != RSUB_CHALLENGED || a_len > sizeof(p.srp_a) ||
	    m1_len > sizeof(p.srp_m1) || !rlink_relaying(&rep->up.link)) {
		native_refuse(c, "the repeater lost its connection to the session during the "
			      "handshake; connect again");
		if (rs)
			rsub_remove(rep, rs);
		return;
	}
	memset(&p, 0, sizeof(p));
	memcpy(p.srp_a, a, a_len);
	p.srp_a_len = a_len;
	memcpy(p.srp_m1, m1, m1_len);
	p.srp_m1_len = m1_len;
	n = proto_record_encode(PROTO_SUB_PROOF, rs->id, &p, buf, sizeof(buf));
	if (n < 0) {
		native_refuse(c, "the repeater could not pass the proof on");
		rsub_remove(rep, rs);
		return;
	}
	repeater_up_send(rep, buf, (size_t)n);
	rs->state = RSUB_PROVING;
}

static void gate_password(struct hub *h, struct client *c, const char *pw, size_t len)
{
	struct repeater *rep = of(h);
	struct rsub *rs = rsub_find(rep, c->id);

	if (rs)
		rsub_remove(rep, rs);
	/* A password is kept only while the origin is there to be asked:
	 * never across an outage. */
	if (!rlink_relaying(&rep->up.link)) {
		repeater_auth_done(c);
		client_private(c, "\r\nringside: the repeater is not connected to the session; try "
			       "again in a moment\r\nPassword: ");
		return;
	}
	/* What no password can be is wrong without asking (a NUL would
	 * also cut it short, and a cut one could match). */
	if (len > SPEC_PASSWORD_MAX || memchr(pw, '\0', len)) {
		client_auth_failed(c);
		repeater_auth_done(c);
		client_private(c, "\r\nError 0x80004005: wrong password\r\n");
		client_finish(c);
		return;
	}
	rs = rsub_add(rep, c, RSUB_QUEUED);
	if (!rs) {
		client_private(c, "\r\nError 0x80004005: out of memory\r\n");
		client_finish(c);
		return;
	}
	/* Kept until the origin's challenge arrives (one round trip), then
	 * wiped (repeater_subs.c): a raw client typed it to us in the clear. */
	memcpy(rs->password, pw, len);
	rs->password[len] = '\0';
	rs->password_len = len;
	rsub_pump(rep);
}

static void gate_gone(struct hub *h, struct client *c)
{
	struct repeater *rep = of(h);
	struct rsub *rs = rsub_find(rep, c->id);

	if (!rs || rs->c != c)
		return;
	if (rs->registered && rlink_relaying(&rep->up.link))
		rsub_send_plain(rep, PROTO_SUB_BYE, rs->id);
	rsub_remove(rep, rs);
	rsub_pump(rep);
}

void repeater_down_attach(struct repeater *rep)
{
	struct hub *h = &rep->down->hub;

	hub_ops_take_clients(h, &rep->over, &repeater_client_ops);
	rep->gate.hello = gate_hello;
	rep->gate.proof = gate_proof;
	rep->gate.password = gate_password;
	rep->gate.gone = gate_gone;
	h->gate = &rep->gate;
}
