/* SPDX-License-Identifier: MIT */
/*
 * An edge server (nats_edge.h).  One thread of ours (the loop: the local
 * session's ring) and the NATS thread (nats_bridge.c), which posts the
 * stream's records; the loop polls the channel's eventfd on its ring and
 * writes records into the transcript at the origin's offsets:
 *
 *   offset below what it holds  a duplicate (a redelivery): skipped
 *   offset past it              a gap: writer_jump(), as a lagging client's
 *   a gap record                the stream (or the origin) lost those bytes
 *
 * so that its clients see nothing twice and nothing missing unless the
 * stream dropped it, and native clients resume across edges and the
 * origin by the same session id and offsets.  Nothing of the edge's own
 * goes into that transcript: meta-commands answer the asker alone, joins
 * and leaves go to the origin as the edge's client list, and lines go to
 * the origin's input subject with the typist's name.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "src/client.h"
#include "src/meta.h"
#include "src/nats_edge.h"
#include "src/server.h"
#include "src/session.h"
#include "src/spec.h"
#include "src/writer.h"

/* A presence heartbeat goes to the origin this often; joins and leaves
 * go as deltas at most once a tick (a second), batched. */
#define PRESENCE_EVERY_S 5
/* Joins and leaves waiting for the next tick: past this (a storm faster
 * than deltas are worth), they are dropped for one snapshot instead. */
#define PRESENCE_PENDING_MAX (1u << 20)
/* An outage shorter than this is not told to the clients. */
#define OUTAGE_TELL_S 3

struct nats_edge {
	const struct edge_options *opt;
	const struct nbridge_impl *impl;
	struct nbridge_params params;
	struct nats_chan ch;
	struct nbridge *bridge;
	struct session *s;
	struct hub_ops_over over;	/* the local clients' events are ours */
	struct ring_op poll_op;
	bool poll_inflight;
	struct ring_timer tick;

	bool have_session;	/* the stream has said which session it is */
	bool told_waiting;	/* -p: waiting for a session after the last one */
	bool failed;		/* could not start serving */
	bool based;		/* the transcript is at the origin's offsets */
	uint64_t end;		/* just after what it holds (or waits to write) */
	uint64_t last_seq;	/* the last stream sequence taken */
	struct nats_item *pending;	/* taken but not yet written (a pinned chunk) */
	size_t pending_off;		/* bytes of its head already written */

	bool up;
	uint32_t lost_at;	/* hub clock; 0 while connected */
	bool outage_told;
	/* Presence (PROTOCOL.md 12.4): our numbering, the deltas not yet
	 * sent, and how many clients the origin has been told of. */
	uint64_t pepoch, pseq;
	char *pdelta;
	size_t pdelta_len, pdelta_cap;
	bool psnapshot_due;		/* asked for, or deltas dropped */
	uint32_t nmembers;
	uint32_t heartbeat_at;
	bool ending;
	int status;
	char program[NATS_NAME_MAX * 2];
	char fed_from[NATS_URL_MAX + 2 * NATS_NAME_MAX + 64];
};

static void edge_log(struct nats_edge *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void edge_log(struct nats_edge *e, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (e->s)
		hub_log(&e->s->hub, "%s", buf);
	else
		fprintf(stderr, "ringside: %s\n", buf);
}

static void session_log(void *arg, const char *line)
{
	fprintf(stderr, "ringside: %s\n", line);
}

static struct nats_edge *of(struct hub *h)
{
	return container_of(h, struct session, hub)->cb_arg;
}

/* A line of the edge's own for every client, never in the transcript. */
static void tell(struct nats_edge *e, const char *text)
{
	for (struct client *c = e->s->hub.clients; c; c = c->next) {
		if (c->state != CLIENT_LIVE || client_is_console(c))
			continue;
		if (c->native)
			client_private(c, "[ringside: %s]", text);
		else
			client_private(c, "\r\n[ringside: %s]\r\n", text);
	}
}

static void end_session(struct nats_edge *e, int status, const char *why)
{
	if (e->ending)
		return;
	e->ending = true;
	e->status = status;
	if (why)
		edge_log(e, "%s", why);
	/* The session is over: nothing more is mirrored after this line. */
	if (why)
		writer_emitf(&e->s->hub, "ringside: %s", why);
	session_end(e->s, status);
}

/*
 * The transcript, at the origin's offsets.
 */

static void jump(struct nats_edge *e, uint64_t to)
{
	writer_jump(&e->s->hub, to);
	e->end = to;
}

/* Write IT's bytes from its offset on; false when a pinned chunk stopped
 * it (the rest waits in pending). */
static bool apply(struct nats_edge *e, struct nats_item *it, size_t *off)
{
	struct hub *h = &e->s->hub;
	const struct nats_rec *r = &it->rec;
	static const enum transcript_kind kinds[] = {
		[NATS_OUTPUT] = TRANSCRIPT_OUTPUT, [NATS_NOTICE] = TRANSCRIPT_NOTICE,
		[NATS_TYPED] = TRANSCRIPT_TYPED,
	};
	size_t skip, n, done;

	if (memcmp(r->session, h->id, sizeof(h->id)) != 0) {
		/* The stream now holds another session (the origin was
		 * started again under this name): ours has ended. */
		end_session(e, 0, "the session this edge served has ended (another one is "
			    "published under its name)");
		return true;
	}
	if (r->kind == NATS_STATE) {
		if (r->program[0] && !e->program[0])
			snprintf(e->program, sizeof(e->program), "%s", r->program);
		if (r->ended)
			end_session(e, r->status, NULL);
		return true;
	}
	if (!e->based) {
		e->based = true;
		jump(e, r->offset);
	}
	if (r->kind == NATS_GAP) {
		if (r->end > e->end)
			jump(e, r->end);
		return true;
	}
	if (r->offset > e->end)
		jump(e, r->offset);	/* the stream dropped what came between */
	if (r->end <= e->end)
		return true;		/* had it already */
	skip = (size_t)(e->end - r->offset);
	if (*off < skip)
		*off = skip;
	n = it->len - *off;
	done = writer_mirror(h, kinds[r->kind], it->data + *off, n);
	*off += done;
	e->end = r->offset + *off;
	return done == n;
}

/* Write what waits, as far as the transcript takes it. */
static bool flush_pending(struct nats_edge *e)
{
	while (e->pending && !e->ending) {
		struct nats_item *it = e->pending;

		if (!apply(e, it, &e->pending_off))
			return false;
		e->pending = it->next;
		e->pending_off = 0;
		free(it);
	}
	nats_item_free_list(e->pending);
	e->pending = NULL;
	return true;
}

/*
 * The stream and the connection.
 */

static int start_serving(struct nats_edge *e, const struct nats_rec *newest)
{
	struct hub *h = &e->s->hub;
	char err[512], id[33];
	const char *p;
	size_t n;

	memcpy(h->id, newest->session, sizeof(h->id));
	e->have_session = true;
	if (newest->kind == NATS_STATE && newest->program[0])
		snprintf(e->program, sizeof(e->program), "%s", newest->program);
	for (unsigned i = 0; i < e->opt->nservers; i++) {
		int res = server_start(h, e->opt->servers[i], err, sizeof(err));

		if (res < 0) {
			char shown[1024];

			spec_redact(e->opt->servers[i], shown, sizeof(shown));
			edge_log(e, "-server %s: %s", shown, err);
			return res;
		}
	}
	nats_hex16(h->id, id);
	edge_log(e, "edge %s serving session %s (%s) from %s; clients can connect with any of "
		 "these command lines:", e->params.conf.name, e->params.conf.session, id,
		 e->params.conf.url);
	for (unsigned i = 0; i < h->nservers; i++) {
		char remote[SPEC_TEXT_MAX];

		spec_format(&h->servers[i]->spec, SPEC_STYLE_REMOTE, h->host, remote,
			    sizeof(remote));
		edge_log(e, "%u: ringside -remote %s", h->servers[i]->id, remote);
	}
	/* What starting the servers said went into a transcript that is
	 * about to become the origin's: it is the operator's.  It is
	 * forgotten before any client can have read it (none has been
	 * accepted yet), so that the origin's offsets, whichever the first
	 * record has, only ever go forward from here. */
	for (uint64_t off = transcript_oldest(&h->tr); off < h->tr.head; off += n) {
		n = transcript_span(&h->tr, off, &p);
		if (fwrite(p, 1, n, stderr) != n)
			break;
	}
	transcript_restart(&h->tr, 0);
	return 0;
}

/* -p: the session served last time, which this edge does not serve again. */
static bool served_before(const struct nats_edge *e, const struct nats_rec *r)
{
	return e->opt->has_after && memcmp(r->session, e->opt->after, sizeof(r->session)) == 0;
}

static void serve(struct nats_edge *e, const struct nats_rec *r)
{
	if (start_serving(e, r) < 0) {
		e->failed = true;
		end_session(e, 1, "the edge could not start its servers");
	}
}

static void presence_turn(struct nats_edge *e);

static void handle(struct nats_edge *e, struct nats_item *it, bool *keep)
{
	*keep = false;
	switch (it->type) {
	case NEV_UP:
		if (!e->have_session && served_before(e, &it->rec)) {
			if (!e->told_waiting)
				edge_log(e, "waiting for the next session published as %s (-p)",
					 e->params.conf.session);
			e->told_waiting = true;
		} else if (!e->have_session) {
			serve(e, &it->rec);
		}
		e->up = true;
		if (e->lost_at && e->outage_told)
			tell(e, "the edge is connected to NATS again");
		e->lost_at = 0;
		e->outage_told = false;
		break;
	case NEV_DOWN:
		if (e->up)
			edge_log(e, "NATS connection lost; resuming after stream sequence %" PRIu64
				 " when it is back", e->last_seq);
		e->up = false;
		if (!e->lost_at)
			e->lost_at = e->s->hub.now ? e->s->hub.now : 1;
		break;
	case NEV_RECORD:
		/* -p: the next session's first record starts it. */
		if (!e->have_session && !e->ending && !served_before(e, &it->rec) &&
		    it->rec.kind != NATS_GAP)
			serve(e, &it->rec);
		if (!e->have_session || e->ending)
			break;
		e->last_seq = it->seq;
		*keep = true;
		break;
	case NEV_PRESENCE_ASK:
		if (e->have_session && it->pres.kind == NATS_PRES_ASK &&
		    memcmp(it->pres.session, e->s->hub.id, sizeof(e->s->hub.id)) == 0) {
			e->psnapshot_due = true;
			presence_turn(e);
		}
		break;
	case NEV_LOG:
		edge_log(e, "%s", it->data);
		break;
	default:
		break;
	}
}

static void arm(struct nats_edge *e);

static void take_events(struct nats_edge *e)
{
	struct nats_item *list = nats_chan_take(&e->ch), *it, **tail = &e->pending;

	while (*tail)
		tail = &(*tail)->next;
	while ((it = list)) {
		bool keep;

		list = it->next;
		it->next = NULL;
		handle(e, it, &keep);
		if (keep) {
			*tail = it;
			tail = &it->next;
		} else {
			free(it);
		}
	}
	flush_pending(e);
}

static void on_ready(struct ring_op *op, int res, unsigned flags)
{
	struct nats_edge *e = container_of(op, struct nats_edge, poll_op);

	e->poll_inflight = false;
	if (e->ending)
		return;
	/* Records that wait for the transcript come first: what is queued
	 * behind them stays with the thread, which then holds back. */
	if (!e->pending)
		take_events(e);
	arm(e);
}

static void arm(struct nats_edge *e)
{
	if (e->poll_inflight || e->ending || e->pending)
		return;
	if (ring_poll(&e->s->hub.ring, &e->poll_op, e->ch.efd, POLLIN) == 0)
		e->poll_inflight = true;
}

/*
 * The local clients (hub_ops over the session's).
 */

static void send_input(struct nats_edge *e, struct client *c, bool intr, const char *line,
		       size_t len)
{
	struct nats_item *it;

	if (!e->up) {
		client_private(c, "%sringside: the edge is not connected to NATS; %s was not "
			       "sent%s", c->native ? "" : "\r\n", intr ? "Ctrl+C" : "the line",
			       c->native ? "" : "\r\n");
		return;
	}
	it = nats_item_new(NCMD_INPUT, intr ? 0 : len);
	if (!it) {
		client_private(c, "ringside: out of memory; the line was not sent\r\n");
		return;
	}
	memcpy(it->in.session, e->s->hub.id, sizeof(it->in.session));
	client_ident(c, it->in.who);
	snprintf(it->in.edge, sizeof(it->in.edge), "%s", e->params.conf.name);
	it->in.readonly = c->readonly;
	it->in.interrupt = intr;
	if (!intr)
		memcpy(it->data, line, len);
	nats_chan_send(&e->ch, it);
}

static void on_line(struct hub *h, struct client *c, const char *line, size_t len)
{
	struct nats_edge *e = of(h);
	bool handled;

	/* Meta-commands are the edge's own, answered to the asker alone. */
	h->meta_private = c;
	handled = meta_execute(h, c, line, len);
	h->meta_private = NULL;
	if (!handled)
		send_input(e, c, false, line, len);
}

static void on_interrupt(struct hub *h, struct client *c)
{
	send_input(of(h), c, true, NULL, 0);
}

/*
 * Presence: joins and leaves as numbered deltas, a heartbeat, and a
 * snapshot when the origin asks (it missed something).  A client is told
 * to the origin by the edge's id for it; c->announced says it has been.
 */

static uint64_t member_id(const struct client *c)
{
	return (uint64_t)c->id + 1;
}

static void delta_add(struct nats_edge *e, const struct nats_presence_entry *pe)
{
	char line[NATS_IDENT_MAX + 48];
	int n;

	/* A snapshot is coming: it will say all this. */
	if (e->psnapshot_due)
		return;
	n = nats_presence_line(pe, true, line, sizeof(line));
	if (n < 0)
		return;
	if (e->pdelta_len + (size_t)n > e->pdelta_cap) {
		size_t cap = e->pdelta_cap ? e->pdelta_cap * 2 : 4096;
		char *grown;

		while (cap < e->pdelta_len + (size_t)n)
			cap *= 2;
		if (cap > PRESENCE_PENDING_MAX || !(grown = realloc(e->pdelta, cap))) {
			/* Too many at once: the numbers skip one, and a snapshot
			 * says where things are. */
			free(e->pdelta);
			e->pdelta = NULL;
			e->pdelta_len = e->pdelta_cap = 0;
			e->psnapshot_due = true;
			e->pseq++;
			return;
		}
		e->pdelta = grown;
		e->pdelta_cap = cap;
	}
	memcpy(e->pdelta + e->pdelta_len, line, (size_t)n);
	e->pdelta_len += (size_t)n;
}

static void member_joined(struct nats_edge *e, struct client *c)
{
	struct nats_presence_entry pe = {
		.id = member_id(c), .readonly = c->readonly, .native = c->native,
	};

	c->announced = true;
	e->nmembers++;
	client_ident(c, pe.who);
	delta_add(e, &pe);
}

/* A join of ID still waiting among the last few deltas is taken back
 * rather than told and untold (a raw client that turns out native leaves
 * and joins again under its own name within milliseconds); whether it was. */
static bool delta_untell(struct nats_edge *e, uint64_t id)
{
	char needle[32];
	size_t nlen, from = e->pdelta_len > 8192 ? e->pdelta_len - 8192 : 0;
	int n = snprintf(needle, sizeof(needle), "+%" PRIu64 " ", id);

	if (n < 0 || (size_t)n >= sizeof(needle))
		return false;
	nlen = (size_t)n;
	/* Line starts from the newest back. */
	for (size_t end = e->pdelta_len; end > from;) {
		size_t start = end - 1;

		while (start > 0 && e->pdelta[start - 1] != '\n')
			start--;
		if (start < from)
			break;
		if (end - start > nlen && memcmp(e->pdelta + start, needle, nlen) == 0) {
			memmove(e->pdelta + start, e->pdelta + end, e->pdelta_len - end);
			e->pdelta_len -= end - start;
			return true;
		}
		end = start;
	}
	return false;
}

static void member_left(struct nats_edge *e, struct client *c)
{
	struct nats_presence_entry pe = { .id = member_id(c), .leave = true };

	if (!c->announced)
		return;
	c->announced = false;
	e->nmembers--;
	if (!delta_untell(e, pe.id))
		delta_add(e, &pe);
}

static void on_joined(struct hub *h, struct client *c)
{
	/* The origin tells everyone, from our deltas. */
	member_joined(of(h), c);
}

static void on_left(struct hub *h, struct client *c)
{
	member_left(of(h), c);
}

static void on_retracted(struct hub *h, struct client *c)
{
	/* It joins again under its own name. */
	member_left(of(h), c);
}

static struct nats_item *pres_item(struct nats_edge *e, enum nats_pres_kind kind, const char *data,
				   size_t len)
{
	struct nats_item *it = nats_item_new(NCMD_PRESENCE, len);

	if (!it)
		return NULL;
	it->pres.kind = kind;
	memcpy(it->pres.session, e->s->hub.id, sizeof(it->pres.session));
	snprintf(it->pres.edge, sizeof(it->pres.edge), "%s", e->params.conf.name);
	it->pres.epoch = e->pepoch;
	it->pres.seq = e->pseq;
	it->pres.count = e->nmembers;
	if (len)
		memcpy(it->data, data, len);
	return it;
}

/* The deltas waiting, in messages of at most NATS_PRES_CHUNK bytes cut at lines. */
static void send_deltas(struct nats_edge *e)
{
	struct nats_item *head = NULL, **tail = &head, *it;
	size_t off = 0;

	while (off < e->pdelta_len) {
		size_t n = e->pdelta_len - off;

		if (n > NATS_PRES_CHUNK) {
			n = NATS_PRES_CHUNK;
			while (n && e->pdelta[off + n - 1] != '\n')
				n--;
		}
		e->pseq++;
		it = pres_item(e, NATS_PRES_DELTA, e->pdelta + off, n);
		if (!it)
			break;	/* the origin finds the gap in the numbers */
		*tail = it;
		tail = &it->next;
		off += n;
	}
	e->pdelta_len = 0;
	if (head)
		nats_chan_send(&e->ch, head);
}

/* Every client the origin has been told of, in parts, as of pseq. */
static void send_snapshot(struct nats_edge *e)
{
	struct hub *h = &e->s->hub;
	struct nats_item *head = NULL, **tail = &head, *it;
	char *buf = malloc(NATS_PRES_CHUNK);
	size_t len = 0;
	uint32_t parts = 0;

	if (!buf)
		return;
	for (struct client *c = h->clients;; c = c->next) {
		struct nats_presence_entry pe;
		char line[NATS_IDENT_MAX + 48];
		int n = 0;

		if (c) {
			if (!c->announced || client_is_console(c))
				continue;
			pe = (struct nats_presence_entry){
				.id = member_id(c), .readonly = c->readonly, .native = c->native,
			};
			client_ident(c, pe.who);
			n = nats_presence_line(&pe, false, line, sizeof(line));
			if (n < 0)
				continue;
		}
		if ((!c && (len || !parts)) || len + (size_t)n > NATS_PRES_CHUNK) {
			if (parts == NATS_PRES_PARTS_MAX || !(it = pres_item(e, NATS_PRES_SNAPSHOT,
									     buf, len)))
				goto fail;
			it->pres.part = parts++;
			*tail = it;
			tail = &it->next;
			len = 0;
		}
		if (!c)
			break;
		memcpy(buf + len, line, (size_t)n);
		len += (size_t)n;
	}
	for (it = head; it; it = it->next)
		it->pres.parts = parts;
	nats_chan_send(&e->ch, head);
	e->psnapshot_due = false;
	free(buf);
	return;
fail:
	nats_item_free_list(head);
	free(buf);
}

/* What is due: deltas, a snapshot, a heartbeat; all in order, on one subject. */
static void presence_turn(struct nats_edge *e)
{
	struct hub *h = &e->s->hub;

	if (!e->up || !e->have_session)
		return;
	if (e->pdelta_len)
		send_deltas(e);
	if (e->psnapshot_due)
		send_snapshot(e);
	if (h->now - e->heartbeat_at >= PRESENCE_EVERY_S) {
		struct nats_item *it = pres_item(e, NATS_PRES_HEARTBEAT, NULL, 0);

		if (it)
			nats_chan_send(&e->ch, it);
		e->heartbeat_at = h->now;
	}
}

static void on_unpinned(struct hub *h)
{
	struct nats_edge *e = of(h);

	e->over.base->unpinned(h);
	if (e->pending && flush_pending(e))
		arm(e);
}

static const struct hub_ops edge_client_ops = {
	.line = on_line,
	.interrupt = on_interrupt,
	.joined = on_joined,
	.left = on_left,
	.retracted = on_retracted,
	.unpinned = on_unpinned,
};

static void on_tick(struct ring_timer *t, int res)
{
	struct nats_edge *e = container_of(t, struct nats_edge, tick);
	struct hub *h;

	if (res == -ECANCELED || e->ending)
		return;
	h = &e->s->hub;
	presence_turn(e);
	if (e->lost_at && !e->outage_told && h->now - e->lost_at >= OUTAGE_TELL_S) {
		e->outage_told = true;
		tell(e, "the edge lost its connection to NATS; reconnecting (nothing is lost "
		     "while it does)");
	}
	ring_timer_arm(&h->ring, &e->tick, 1000000000ull, on_tick);
}

/*
 * Set-up and the loop.
 */

static int check_servers(const struct edge_options *opt, char *err, size_t errlen)
{
	for (unsigned i = 0; i < opt->nservers; i++) {
		struct spec sp;
		char shown[1024], why[512];

		spec_redact(opt->servers[i], shown, sizeof(shown));
		if (spec_parse(opt->servers[i], SPEC_SERVER, &sp, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "-server %s: %s", shown, why);
			return -EINVAL;
		}
		explicit_bzero(&sp, sizeof(sp));
	}
	if (opt->nservers == 0) {
		snprintf(err, errlen, "-edge needs at least one -server for its clients");
		return -EINVAL;
	}
	return 0;
}

int nats_edge_new(struct nats_edge **out, const struct edge_options *opt,
		  const struct nbridge_impl *impl, char *err, size_t errlen)
{
	struct ringside_callbacks cb = { .log = session_log };
	struct nats_edge *e = calloc(1, sizeof(*e));
	struct hub *h;
	int res;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->opt = opt;
	e->impl = impl;
	e->ch.efd = -1;
	res = nats_conf_parse(&e->params.conf, opt->nats, err, errlen);
	if (res < 0)
		goto fail;
	if (!e->params.conf.has_session) {
		snprintf(err, errlen, "-edge needs session=NAME (the origin's, as it logged it)");
		res = -EINVAL;
		goto fail;
	}
	res = check_servers(opt, err, errlen);
	if (res < 0)
		goto fail;
	e->s = calloc(1, sizeof(*e->s));
	if (!e->s) {
		res = -ENOMEM;
		goto fail;
	}
	res = session_init(e->s, &opt->params, &cb, e, err, errlen);
	if (res < 0)
		goto fail;
	h = &e->s->hub;
	if (!e->params.conf.name[0]) {
		char name[sizeof(h->host) + 16];

		snprintf(name, sizeof(name), "%s-%d", h->host, (int)getpid());
		nats_name_from(name, e->params.conf.name, sizeof(e->params.conf.name));
	}
	nats_conf_describe(&e->params.conf, e->fed_from, sizeof(e->fed_from));
	snprintf(e->fed_from + strlen(e->fed_from), sizeof(e->fed_from) - strlen(e->fed_from),
		 " as edge %s", e->params.conf.name);
	h->fed_from = e->fed_from;
	h->program = e->program;
	hub_ops_take_clients(h, &e->over, &edge_client_ops);
	e->over.ops.remote_line = NULL;	/* an edge publishes nothing of its own */
	e->params.role = NBRIDGE_EDGE;
	/* A new numbering for each edge process (and each -p session): the
	 * origin knows a restarted edge by it. */
	if (getrandom(&e->pepoch, sizeof(e->pepoch), 0) != sizeof(e->pepoch) || !e->pepoch)
		e->pepoch = ((uint64_t)getpid() << 32 | (uint64_t)time(NULL)) | 1;
	/* Half the ring: joiners get history, and a burst has room. */
	e->params.want_bytes = h->tr.cap / 2;
	e->poll_op.cb = on_ready;
	res = nats_chan_init(&e->ch);
	if (res < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(-res));
		goto fail;
	}
	res = impl->start(&e->bridge, &e->params, &e->ch, err, errlen);
	if (res < 0)
		goto fail;
	arm(e);
	ring_timer_arm(&h->ring, &e->tick, 1000000000ull, on_tick);
	*out = e;
	return 0;
fail:
	nats_edge_free(e);
	return res;
}

void nats_edge_free(struct nats_edge *e)
{
	if (!e)
		return;
	if (e->bridge)
		e->impl->stop(e->bridge);
	e->bridge = NULL;
	if (e->s) {
		struct hub *h = &e->s->hub;

		e->ending = true;
		if (e->poll_inflight && h->ring.uring.ring_fd > 0)
			ring_cancel(&h->ring, &e->poll_op);
		if (e->tick.armed && h->ring.uring.ring_fd > 0)
			ring_timer_cancel(&h->ring, &e->tick);
		/* session_destroy() waits for both to come back. */
		session_destroy(e->s);
		free(e->s);
	}
	nats_item_free_list(e->pending);
	free(e->pdelta);
	nats_chan_free(&e->ch);
	explicit_bzero(&e->params.conf, sizeof(e->params.conf));
	free(e);
}

struct session *nats_edge_session(struct nats_edge *e)
{
	return e->s;
}

struct nats_chan *nats_edge_chan(struct nats_edge *e)
{
	return &e->ch;
}

uint64_t nats_edge_end(const struct nats_edge *e)
{
	return e->end;
}

int nats_edge_status(const struct nats_edge *e)
{
	return e->s->exit_status;
}

int nats_edge_run_once(struct nats_edge *e, int timeout_ms)
{
	return session_run_once(e->s, timeout_ms);
}

int ringside_edge(const struct edge_options *opt)
{
	struct edge_options next = *opt;
	struct nats_edge *e;
	char err[512];
	int res, code;
	bool stop;

	/* With -p, one local session after another: each ends as the
	 * origin's does, and the next one serves the origin's next session
	 * on the same servers. */
	do {
		res = nats_edge_new(&e, &next, &nbridge_nats, err, sizeof(err));
		if (res < 0) {
			fprintf(stderr, "ringside: -edge: %s\n", err);
			return res == -EINVAL ? 2 : 1;
		}
		res = session_take_process(e->s, RINGSIDE_PROCESS_SIGNALS | RINGSIDE_PROCESS_SIGPIPE |
					   RINGSIDE_PROCESS_NOFILE, err, sizeof(err));
		if (res < 0) {
			fprintf(stderr, "ringside: %s\n", err);
			nats_edge_free(e);
			return 1;
		}
		if (!next.has_after)
			edge_log(e, "edge %s: waiting for session %s at %s", e->params.conf.name,
				 e->params.conf.session, e->params.conf.url);
		res = session_run(e->s);
		code = res < 0 ? 1 : nats_edge_status(e);
		stop = res < 0 || !opt->persist || e->failed || e->s->end_signal || !e->have_session;
		if (e->have_session) {
			memcpy(next.after, e->s->hub.id, sizeof(next.after));
			next.has_after = true;
		}
		nats_edge_free(e);
	} while (!stop);
	return code;
}
