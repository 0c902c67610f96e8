/* SPDX-License-Identifier: MIT */
/*
 * The origin's publisher (nats_publish.h).  State machine, on the loop:
 *
 *   down --NEV_UP--> up --NEV_WANT(x)--> want x --(bytes past x)--> batch
 *   in flight --NEV_WANT(y)--> want y ...     any --NEV_DOWN--> down
 *
 * Exactly one batch is in flight at a time, and the thread answers each
 * with NEV_WANT (or the connection drops: NEV_DOWN).  A batch is a copy:
 * the thread never reads the transcript, so an outage only stops the
 * asking, and on reconnection the thread says again where the stream ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/meta.h"
#include "src/nats_presence.h"
#include "src/nats_publish.h"
#include "src/writer.h"

struct nats_pub {
	struct hub *h;
	const struct nbridge_impl *impl;
	struct nbridge_params params;
	struct nats_chan ch;
	struct nbridge *bridge;
	struct ring_op poll_op;
	bool poll_inflight;
	bool stopping;

	bool up;		/* the thread is connected and set up */
	bool asked;		/* it wants bytes from WANT on */
	bool inflight;		/* a batch is with it */
	bool start_sent;	/* this connection's "running" record */
	uint64_t want;
	uint64_t acked;		/* everything before it is in the stream */
	bool ended;		/* the session is ending with END_STATUS */
	int end_status;
	bool end_inflight, end_done;
	bool told_ahead;

	uint64_t batches, records, bytes, gaps, lines_in, refused;

	struct nats_pres_origin pres;	/* the edges' clients */
};

static void arm(struct nats_pub *p);

/*
 * Batches.
 */

static struct nats_item *record(struct nats_pub *p, enum nats_kind kind, uint64_t off,
				const char *data, size_t n)
{
	struct nats_item *it = nats_item_new(NCMD_RECORD, n);

	if (!it)
		return NULL;
	it->rec.kind = kind;
	it->rec.offset = off;
	it->rec.end = off + n;
	memcpy(it->rec.session, p->h->id, sizeof(it->rec.session));
	if (n)
		memcpy(it->data, data, n);
	return it;
}

static enum nats_kind kind_of(enum transcript_kind k)
{
	return k == TRANSCRIPT_NOTICE ? NATS_NOTICE : k == TRANSCRIPT_TYPED ? NATS_TYPED :
	       NATS_OUTPUT;
}

/* Cut the next batch: from WANT to at most NATS_PUB_BATCH bytes on. */
static void pump(struct nats_pub *p)
{
	struct hub *h = p->h;
	struct transcript *tr = &h->tr;
	struct nats_item *head = NULL, **tail = &head, *it;
	uint64_t from = p->want, oldest = transcript_oldest(tr);
	size_t taken = 0;
	bool end_now = false;

	if (!p->up || !p->asked || p->inflight || p->stopping || p->end_done)
		return;
	if (from > tr->head) {
		/* The stream is ahead of the transcript: only a stream written
		 * by someone else under our session id could be. */
		if (!p->told_ahead)
			hub_log(h, "NATS: the stream is ahead of this session (offset %" PRIu64
				" > %" PRIu64 "); publishing stops", from, tr->head);
		p->told_ahead = true;
		return;
	}
#define ADD(x) do { if (!(it = (x))) goto oom; *tail = it; tail = &it->next; } while (0)
	if (!p->start_sent) {
		ADD(record(p, NATS_STATE, from, NULL, 0));
		if (h->program)
			snprintf(it->rec.program, sizeof(it->rec.program), "%s", h->program);
	}
	if (from < oldest) {
		/* Gone before NATS could take it: an explicit gap, so that
		 * edges show their clients what a lagging client sees. */
		ADD(record(p, NATS_GAP, from, NULL, 0));
		it->rec.end = oldest;
		p->gaps++;
		from = oldest;
	}
	while (from < tr->head && taken < NATS_PUB_BATCH) {
		uint64_t end;
		enum transcript_kind k = transcript_kind_at(tr, from, &end);
		const char *src;
		size_t n = transcript_span(tr, from, &src);

		if (n > end - from)
			n = (size_t)(end - from);
		if (n > NATS_REC_MAX)
			n = NATS_REC_MAX;
		if (n > NATS_PUB_BATCH - taken)
			n = NATS_PUB_BATCH - taken;
		ADD(record(p, kind_of(k), from, src, n));
		from += n;
		taken += n;
		p->records++;
	}
	/* The end goes last, once everything before it has been cut. */
	if (p->ended && from == tr->head && !h->backlog_len && !p->end_inflight) {
		ADD(record(p, NATS_STATE, from, NULL, 0));
		it->rec.ended = true;
		it->rec.status = p->end_status;
		end_now = true;
	}
#undef ADD
	if (!head)
		return;
	it = nats_item_new(NCMD_BATCH_END, 0);
	if (!it)
		goto oom;
	it->a = from;
	*tail = it;
	p->start_sent = true;
	p->inflight = true;
	p->end_inflight = end_now;
	p->batches++;
	p->bytes += taken;
	nats_chan_send(&p->ch, head);
	return;
oom:
	/* Nothing was handed over: the next turn tries again. */
	nats_item_free_list(head);
}

/*
 * What the thread says.
 */

static bool line_ok(const char *p, size_t n, unsigned max)
{
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' || p[i] == '\r' || p[i] == '\0')
			return false;
	return true;
}

static void on_input(struct nats_pub *p, struct nats_item *it)
{
	struct hub *h = p->h;
	char who[NATS_IDENT_MAX + NATS_NAME_MAX + 16];

	if (memcmp(it->in.session, h->id, sizeof(h->id)) != 0)
		return;		/* typed for a session before ours */
	snprintf(who, sizeof(who), "%s via edge %s", it->in.who, it->in.edge);
	/* The edge enforces its read-only servers; this is the origin's own
	 * check, for an edge that does not (or a message that lies). */
	if (it->in.readonly) {
		p->refused++;
		hub_log(h, "NATS: input from read-only %s refused", who);
		return;
	}
	if (!it->in.interrupt && !line_ok(it->data, it->len, h->cfg->line_max)) {
		p->refused++;
		hub_log(h, "NATS: a line from %s refused: longer than %u bytes or with a line "
			"break inside", who, h->cfg->line_max);
		return;
	}
	p->lines_in++;
	if (h->ops->remote_line)
		h->ops->remote_line(h, who, it->in.interrupt, it->data, it->len);
}

/*
 * Joins and leaves at an edge, told at the origin as its own clients' are
 * (and so, through the stream, at every edge).  Many at once are told in
 * one line.
 */
static void pres_told(void *arg, const char *edge, const struct nats_pres_tally *t)
{
	struct nats_pub *p = arg;
	char when[64];

	meta_format_time(time(NULL), when, sizeof(when));
	if (t->joins + t->leaves <= NATS_PRES_SHOW_MAX) {
		for (unsigned k = 0; k < t->shown; k++)
			writer_emitf(p->h, "%s via edge %s %s at %s", t->first[k].who, edge,
				     t->first[k].joined ? "connected" : "disconnected", when);
	} else {
		writer_emitf(p->h, "ringside: %u clients connected and %u disconnected at edge %s "
			     "by %s (.clients lists them)", t->joins, t->leaves, edge, when);
	}
}

/* Ask one edge for its whole list: something was missed. */
static void pres_ask(void *arg, const char *edge, const char *why)
{
	struct nats_pub *p = arg;
	struct nats_item *it = nats_item_new(NCMD_PRESENCE_ASK, 0);

	/* Once per edge normally (when first heard); more says something is lost. */
	hub_log(p->h, "NATS: asking edge %s for its client list (%s)", edge, why);
	if (!it)
		return;
	it->pres.kind = NATS_PRES_ASK;
	memcpy(it->pres.session, p->h->id, sizeof(it->pres.session));
	snprintf(it->pres.edge, sizeof(it->pres.edge), "%s", edge);
	nats_chan_send(&p->ch, it);
}

static void on_presence(struct nats_pub *p, struct nats_item *it)
{
	nats_pres_origin_expire(&p->pres, p->h->now);
	if (nats_pres_origin_hear(&p->pres, &it->pres, it->data, it->len, p->h->now) ==
	    NATS_PRES_REFUSED && memcmp(it->pres.session, p->h->id, sizeof(p->h->id)) == 0)
		hub_log(p->h, "NATS: a malformed %s from edge %s was ignored",
			nats_pres_kind_name(it->pres.kind), it->pres.edge);
}

static void handle(struct nats_pub *p, struct nats_item *it)
{
	switch (it->type) {
	case NEV_UP:
		if (!p->up)
			hub_log(p->h, "NATS: publishing session %s", p->params.conf.session);
		p->up = true;
		p->start_sent = false;
		break;
	case NEV_DOWN:
		if (p->up)
			hub_log(p->h, "NATS: connection lost; publishing resumes when it is back");
		p->up = p->asked = p->inflight = false;
		p->end_inflight = false;
		break;
	case NEV_WANT:
		p->up = p->asked = true;
		p->inflight = false;
		if (p->end_inflight && it->a == p->h->tr.head)
			p->end_done = true;
		p->end_inflight = false;
		p->want = p->acked = it->a;
		break;
	case NEV_INPUT:
		on_input(p, it);
		break;
	case NEV_PRESENCE:
		on_presence(p, it);
		break;
	case NEV_LOG:
		hub_log(p->h, "%s", it->data);
		break;
	default:
		break;
	}
}

static void on_ready(struct ring_op *op, int res, unsigned flags)
{
	struct nats_pub *p = container_of(op, struct nats_pub, poll_op);
	struct nats_item *list, *it;

	p->poll_inflight = false;
	if (p->stopping)
		return;
	list = nats_chan_take(&p->ch);
	for (it = list; it; it = it->next)
		handle(p, it);
	nats_item_free_list(list);
	pump(p);
	arm(p);
}

static void arm(struct nats_pub *p)
{
	if (p->poll_inflight || p->stopping)
		return;
	if (ring_poll(&p->h->ring, &p->poll_op, p->ch.efd, POLLIN) == 0)
		p->poll_inflight = true;
}

/*
 * The interface.
 */

int nats_pub_start(struct hub *h, const char *spec, const struct nbridge_impl *impl, char *err,
		   size_t errlen)
{
	struct nats_pub *p;
	int res;

	if (h->pub && h->pub->stopping)
		nats_pub_free(h);
	if (h->pub) {
		snprintf(err, errlen, "the session is published already (.publish off first)");
		return -EALREADY;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->ch.efd = -1;
	res = nats_conf_parse(&p->params.conf, spec, err, errlen);
	if (res < 0)
		goto fail;
	if (!p->params.conf.has_session) {
		/* Unique enough on one NATS account: this host and process. */
		char name[sizeof(h->host) + 16];

		snprintf(name, sizeof(name), "%s-%d", h->host, (int)getpid());
		nats_name_from(name, p->params.conf.session, sizeof(p->params.conf.session));
	}
	p->params.role = NBRIDGE_ORIGIN;
	memcpy(p->params.session, h->id, sizeof(p->params.session));
	nats_pres_origin_init(&p->pres, h->id);
	p->pres.ask = pres_ask;
	p->pres.told = pres_told;
	p->pres.arg = p;
	p->h = h;
	p->impl = impl;
	p->poll_op.cb = on_ready;
	res = nats_chan_init(&p->ch);
	if (res < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(-res));
		goto fail;
	}
	res = impl->start(&p->bridge, &p->params, &p->ch, err, errlen);
	if (res < 0)
		goto fail;
	h->pub = p;
	arm(p);
	return 0;
fail:
	nats_chan_free(&p->ch);
	explicit_bzero(&p->params.conf, sizeof(p->params.conf));
	free(p);
	return res;
}

void nats_pub_stop(struct hub *h)
{
	struct nats_pub *p = h->pub;

	if (!p || p->stopping)
		return;
	p->stopping = true;
	if (p->poll_inflight)
		ring_cancel(&h->ring, &p->poll_op);
	p->impl->stop(p->bridge);
	p->bridge = NULL;
}

void nats_pub_free(struct hub *h)
{
	struct nats_pub *p = h->pub;

	if (!p)
		return;
	nats_pub_stop(h);
	/* The poll's completion must have come back before P goes. */
	if (p->poll_inflight)
		return;
	nats_chan_free(&p->ch);
	nats_pres_origin_free(&p->pres);
	explicit_bzero(&p->params.conf, sizeof(p->params.conf));
	free(p);
	h->pub = NULL;
}

void nats_pub_turn(struct hub *h)
{
	struct nats_pub *p = h->pub;

	if (!p)
		return;
	if (p->stopping) {
		nats_pub_free(h);
		return;
	}
	pump(p);
}

void nats_pub_ended(struct hub *h, int status)
{
	struct nats_pub *p = h->pub;

	if (!p || p->ended)
		return;
	p->ended = true;
	p->end_status = status;
	pump(p);
}

bool nats_pub_flushed(const struct hub *h)
{
	const struct nats_pub *p = h->pub;

	return !p || p->stopping || !p->up || p->end_done;
}

void nats_pub_show(struct hub *h)
{
	struct nats_pub *p = h->pub;
	char where[NATS_URL_MAX + NATS_NAME_MAX + 32];

	if (!p || p->stopping) {
		writer_emitf(h, "ringside: the session is not published (.publish nats://HOST:PORT"
			     "[,session=NAME] starts it)");
		return;
	}
	nats_conf_describe(&p->params.conf, where, sizeof(where));
	writer_emitf(h, "ringside: publishing to %s: %s; acknowledged up to offset %" PRIu64
		     " of %" PRIu64 " (%" PRIu64 " batches, %" PRIu64 " records, %" PRIu64
		     " gaps, %" PRIu64 " lines from edges, %" PRIu64 " refused); presence: %u edges, "
		     "%" PRIu64 " heartbeats, %" PRIu64 " deltas, %" PRIu64 " snapshots, %" PRIu64
		     " asked",
		     where, p->up ? "connected" : "not connected", p->acked, h->tr.head,
		     p->batches, p->records, p->gaps, p->lines_in, p->refused, p->pres.nedges,
		     p->pres.heartbeats, p->pres.deltas, p->pres.snapshots, p->pres.asks);
}

static void list_one(void *arg, const char *edge, const struct nats_pres_member *m)
{
	writer_emitf(arg, "%s via edge %s (edge client, %s, %s)", m->who, edge,
		     m->native ? "native" : "raw", m->readonly ? "read-only" : "read-write");
}

/* FN (may be NULL) for each client of each edge still heard from; how many. */
static unsigned each_edge_client(struct hub *h,
				 void (*fn)(void *arg, const char *edge,
					    const struct nats_pres_member *m))
{
	struct nats_pub *p = h->pub;

	if (!p)
		return 0;
	nats_pres_origin_expire(&p->pres, h->now);
	return (unsigned)nats_pres_origin_each(&p->pres, fn, h);
}

unsigned nats_pub_clients(struct hub *h)
{
	return each_edge_client(h, list_one);
}

unsigned nats_pub_edge_clients(struct hub *h)
{
	return each_edge_client(h, NULL);
}
