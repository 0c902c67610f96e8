/* SPDX-License-Identifier: MIT */
/*
 * The origin's picture of its edges' clients (nats_presence.h).  Work is
 * proportional to what changed: a delta costs its lines, a heartbeat three
 * comparisons, and only a snapshot (asked for when something was missed)
 * costs the edge's whole list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/nats_presence.h"

#define REMOVED UINT64_MAX

/*
 * The set of an edge's clients, by id.
 */

static size_t hash_id(uint64_t id, size_t cap)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static void set_free(struct nats_pres_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i].id && s->slot[i].id != REMOVED)
			free(s->slot[i].who);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

static struct nats_pres_member *set_find(const struct nats_pres_set *s, uint64_t id)
{
	if (!s->cap)
		return NULL;
	for (size_t i = hash_id(id, s->cap), k = 0; k < s->cap; i = (i + 1) & (s->cap - 1), k++) {
		if (s->slot[i].id == id)
			return &s->slot[i];
		if (!s->slot[i].id)
			return NULL;
	}
	return NULL;
}

static int set_grow(struct nats_pres_set *s)
{
	size_t cap = s->cap ? s->cap : 16;
	struct nats_pres_member *old = s->slot, *slot;
	size_t oldcap = s->cap;

	/* Room for the live ones at most half full (tombstones are dropped). */
	while (cap < 2 * (s->n + 1))
		cap *= 2;
	slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -1;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (!old[i].id || old[i].id == REMOVED)
			continue;
		for (j = hash_id(old[i].id, cap); slot[j].id; j = (j + 1) & (cap - 1))
			;
		slot[j] = old[i];
	}
	free(old);
	s->slot = slot;
	s->cap = cap;
	s->used = s->n;
	return 0;
}

/* Add (or replace) E; the member, or NULL without memory. */
static struct nats_pres_member *set_put(struct nats_pres_set *s,
					const struct nats_presence_entry *e, bool *replaced)
{
	struct nats_pres_member *m = set_find(s, e->id);
	char *who = strdup(e->who);
	size_t i;

	if (!who)
		return NULL;
	*replaced = m != NULL;
	if (!m) {
		if (4 * (s->used + 1) > 3 * s->cap && set_grow(s) < 0) {
			free(who);
			return NULL;
		}
		for (i = hash_id(e->id, s->cap); s->slot[i].id && s->slot[i].id != REMOVED;
		     i = (i + 1) & (s->cap - 1))
			;
		m = &s->slot[i];
		if (!m->id)
			s->used++;
		s->n++;
	} else {
		free(m->who);
	}
	m->id = e->id;
	m->readonly = e->readonly;
	m->native = e->native;
	m->who = who;
	return m;
}

static void set_remove(struct nats_pres_set *s, struct nats_pres_member *m)
{
	free(m->who);
	m->who = NULL;
	m->id = REMOVED;
	s->n--;
}

/*
 * Telling.
 */

static void tally(struct nats_pres_tally *t, bool joined, const char *who)
{
	if (joined)
		t->joins++;
	else
		t->leaves++;
	if (t->shown < NATS_PRES_SHOW_MAX) {
		t->first[t->shown].joined = joined;
		snprintf(t->first[t->shown].who, sizeof(t->first[0].who), "%s", who);
		t->shown++;
	}
}

static void tell(struct nats_pres_origin *o, const struct nats_pres_edge *e,
		 const struct nats_pres_tally *t)
{
	if ((t->joins || t->leaves) && o->told)
		o->told(o->arg, e->name, t);
}

static void maybe_ask(struct nats_pres_origin *o, struct nats_pres_edge *e, uint32_t now,
		      const char *why)
{
	if (e->ever_asked && now - e->asked < NATS_PRES_ASK_EVERY_S)
		return;
	e->ever_asked = true;
	e->asked = now;
	o->asks++;
	if (o->ask)
		o->ask(o->arg, e->name, why);
}

static void out_of_step(struct nats_pres_origin *o, struct nats_pres_edge *e, uint32_t now,
			const char *why)
{
	e->synced = false;
	maybe_ask(o, e, now, why);
}

static void drop_building(struct nats_pres_edge *e)
{
	set_free(&e->next);
	e->building = false;
}

/*
 * The edges.
 */

void nats_pres_origin_init(struct nats_pres_origin *o, const uint8_t session[16])
{
	memset(o, 0, sizeof(*o));
	memcpy(o->session, session, sizeof(o->session));
}

static void edge_free(struct nats_pres_edge *e)
{
	set_free(&e->members);
	set_free(&e->next);
}

void nats_pres_origin_free(struct nats_pres_origin *o)
{
	for (unsigned i = 0; i < o->nedges; i++)
		edge_free(&o->edges[i]);
	free(o->edges);
	o->edges = NULL;
	o->nedges = 0;
}

static struct nats_pres_edge *edge_find(struct nats_pres_origin *o, const char *name, bool add)
{
	struct nats_pres_edge *grown;

	for (unsigned i = 0; i < o->nedges; i++)
		if (strcmp(o->edges[i].name, name) == 0)
			return &o->edges[i];
	if (!add || o->nedges >= NATS_PRES_EDGES_MAX)
		return NULL;
	grown = realloc(o->edges, (o->nedges + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	o->edges = grown;
	memset(&grown[o->nedges], 0, sizeof(*grown));
	strcpy(grown[o->nedges].name, name);
	return &grown[o->nedges++];
}

const struct nats_pres_edge *nats_pres_origin_edge(const struct nats_pres_origin *o,
						   const char *name)
{
	return edge_find((struct nats_pres_origin *)o, name, false);
}

struct apply_ctx {
	struct nats_pres_set *set;
	struct nats_pres_tally *t;
	bool oom;
};

static void apply_delta(void *arg, const struct nats_presence_entry *e)
{
	struct apply_ctx *a = arg;
	struct nats_pres_member *m = set_find(a->set, e->id);
	bool replaced;

	if (e->leave) {
		if (m) {
			tally(a->t, false, m->who);
			set_remove(a->set, m);
		}
		return;
	}
	if (!set_put(a->set, e, &replaced))
		a->oom = true;
	else if (!replaced)
		tally(a->t, true, e->who);
}

static void collect_part(void *arg, const struct nats_presence_entry *e)
{
	struct apply_ctx *a = arg;
	bool replaced;

	if (a->set->n >= NATS_PRES_COUNT_MAX || !set_put(a->set, e, &replaced))
		a->oom = true;
}

static enum nats_pres_result hear_delta(struct nats_pres_origin *o, struct nats_pres_edge *e,
					const struct nats_pres *m, const char *data, size_t len,
					uint32_t now)
{
	struct nats_pres_tally t = { 0 };
	struct apply_ctx a = { .set = &e->members, .t = &t };

	if (e->synced && m->epoch == e->epoch && m->seq <= e->seq)
		return NATS_PRES_IGNORED;	/* a repeat */
	if (!e->synced || m->epoch != e->epoch || m->seq != e->seq + 1) {
		/* Something was missed: only a snapshot can say what. */
		out_of_step(o, e, now, !e->synced ? "not in step" : m->epoch != e->epoch ?
			    "a new epoch" : "a delta was missed");
		return NATS_PRES_IGNORED;
	}
	if (nats_presence_parse(data, len, true, apply_delta, &a) < 0) {
		o->refused++;
		out_of_step(o, e, now, "a malformed delta");
		return NATS_PRES_REFUSED;
	}
	e->seq = m->seq;
	o->deltas++;
	if (a.oom)
		out_of_step(o, e, now, "out of memory");
	tell(o, e, &t);
	return NATS_PRES_APPLIED;
}

static enum nats_pres_result hear_snapshot(struct nats_pres_origin *o, struct nats_pres_edge *e,
					   const struct nats_pres *m, const char *data,
					   size_t len, uint32_t now)
{
	struct nats_pres_tally t = { 0 };
	struct apply_ctx a = { .set = &e->next, .t = &t };
	struct nats_pres_set old;

	if (m->part == 0) {
		drop_building(e);
		e->building = true;
		e->b_epoch = m->epoch;
		e->b_seq = m->seq;
		e->b_parts = m->parts;
		e->b_count = m->count;
		e->b_next = 0;
	} else if (!e->building || e->b_epoch != m->epoch || e->b_seq != m->seq ||
		   e->b_parts != m->parts || e->b_next != m->part) {
		/* A part went missing: this snapshot cannot be whole. */
		drop_building(e);
		out_of_step(o, e, now, "a snapshot part was missed");
		return NATS_PRES_IGNORED;
	}
	if (nats_presence_parse(data, len, false, collect_part, &a) < 0 || a.oom) {
		o->refused++;
		drop_building(e);
		out_of_step(o, e, now, "a malformed snapshot");
		return NATS_PRES_REFUSED;
	}
	if (++e->b_next < e->b_parts)
		return NATS_PRES_APPLIED;
	/* Whole: what differs from what we had is told. */
	for (size_t i = 0; i < e->members.cap; i++) {
		const struct nats_pres_member *was = &e->members.slot[i];
		const struct nats_pres_member *is;

		if (!was->id || was->id == REMOVED)
			continue;
		is = set_find(&e->next, was->id);
		if (!is || strcmp(is->who, was->who) != 0)
			tally(&t, false, was->who);
	}
	for (size_t i = 0; i < e->next.cap; i++) {
		const struct nats_pres_member *is = &e->next.slot[i];
		const struct nats_pres_member *was;

		if (!is->id || is->id == REMOVED)
			continue;
		was = set_find(&e->members, is->id);
		if (!was || strcmp(is->who, was->who) != 0)
			tally(&t, true, is->who);
	}
	old = e->members;
	e->members = e->next;
	memset(&e->next, 0, sizeof(e->next));
	set_free(&old);
	e->building = false;
	e->epoch = e->b_epoch;
	e->seq = e->b_seq;
	/* A count that disagrees (the edge listed an id twice) is asked again later. */
	e->synced = e->members.n == e->b_count;
	o->snapshots++;
	tell(o, e, &t);
	return NATS_PRES_APPLIED;
}

enum nats_pres_result nats_pres_origin_hear(struct nats_pres_origin *o,
					    const struct nats_pres *m, const char *data,
					    size_t len, uint32_t now)
{
	struct nats_pres_edge *e;

	if (memcmp(m->session, o->session, sizeof(o->session)) != 0 || m->kind == NATS_PRES_ASK ||
	    len > NATS_PRES_CHUNK) {
		o->refused++;
		return NATS_PRES_REFUSED;
	}
	e = edge_find(o, m->edge, true);
	if (!e) {
		o->refused++;
		return NATS_PRES_REFUSED;
	}
	e->heard = now;
	if (m->kind != NATS_PRES_SNAPSHOT && e->building) {
		/* The parts of a snapshot come together: it lost some. */
		drop_building(e);
		e->synced = false;
	}
	switch (m->kind) {
	case NATS_PRES_DELTA:
		return hear_delta(o, e, m, data, len, now);
	case NATS_PRES_SNAPSHOT:
		return hear_snapshot(o, e, m, data, len, now);
	case NATS_PRES_HEARTBEAT:
		o->heartbeats++;
		if (len) {
			o->refused++;
			return NATS_PRES_REFUSED;
		}
		if (e->synced && m->epoch == e->epoch && m->seq == e->seq &&
		    m->count == e->members.n)
			return NATS_PRES_APPLIED;
		out_of_step(o, e, now, !e->synced ? "not in step" : m->epoch != e->epoch ?
			    "a new epoch" : m->seq != e->seq ? "a delta was missed" :
			    "its count disagrees");
		return NATS_PRES_IGNORED;
	default:
		return NATS_PRES_REFUSED;
	}
}

unsigned nats_pres_origin_expire(struct nats_pres_origin *o, uint32_t now)
{
	unsigned gone = 0;

	for (unsigned i = 0; i < o->nedges;) {
		if (now - o->edges[i].heard <= NATS_PRESENCE_TTL_S) {
			i++;
			continue;
		}
		edge_free(&o->edges[i]);
		memmove(&o->edges[i], &o->edges[i + 1], (o->nedges - i - 1) * sizeof(o->edges[0]));
		o->nedges--;
		gone++;
	}
	return gone;
}

size_t nats_pres_origin_each(const struct nats_pres_origin *o,
			     void (*fn)(void *arg, const char *edge,
					const struct nats_pres_member *m),
			     void *arg)
{
	size_t n = 0;

	for (unsigned i = 0; i < o->nedges; i++) {
		const struct nats_pres_edge *e = &o->edges[i];

		for (size_t k = 0; k < e->members.cap; k++) {
			const struct nats_pres_member *m = &e->members.slot[k];

			if (!m->id || m->id == REMOVED)
				continue;
			if (fn)
				fn(arg, e->name, m);
			n++;
		}
	}
	return n;
}
