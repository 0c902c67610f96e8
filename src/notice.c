/* SPDX-License-Identifier: MIT */
/*
 * Join and leave notices.  One line per client sent to every other client is
 * O(N^2) traffic when thousands join at once, so events arriving within a
 * short window are told individually only while they are few, and otherwise
 * as one summary line.
 */
#include <stdio.h>
#include <string.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/meta.h"
#include "src/notice.h"
#include "src/writer.h"

/* Up to this many events in a window are told one line each. */
#define NOTICE_SINGLE_MAX 3

static void on_notice_timer(struct ring_timer *t, int res)
{
	struct hub *s = container_of(t, struct hub, notices.timer);

	if (res != -ECANCELED)
		notice_flush(s);
}

static void record(struct hub *s, struct client *c, const char *what, bool join)
{
	struct notice_batch *nb = &s->notices;
	char when[64];

	if (nb->nfirst < NOTICE_SINGLE_MAX) {
		nb->first_id[nb->nfirst] = join ? c->id : 0;
		meta_format_time(time(NULL), when, sizeof(when));
		snprintf(nb->first[nb->nfirst++], sizeof(nb->first[0]), "%s %s at %s", CLIENT_IDENT(c),
			 what, when);
	}
	if (s->cfg->notice_ms == 0 || s->draining) {
		notice_flush(s);
		return;
	}
	if (!nb->timer.armed)
		ring_timer_arm(&s->ring, &nb->timer, (uint64_t)s->cfg->notice_ms * 1000000u,
			       on_notice_timer);
}

void notice_joined(struct hub *s, struct client *c)
{
	c->announced = true;
	c->join_generation = s->notices.generation;
	s->notices.joins++;
	record(s, c, "connected", true);
}

void notice_left(struct hub *s, struct client *c)
{
	s->notices.leaves++;
	record(s, c, "disconnected", false);
}

void notice_flush(struct hub *s)
{
	struct notice_batch *nb = &s->notices;
	unsigned total = nb->joins + nb->leaves;
	char when[64];

	if (total == 0)
		return;
	if (total <= NOTICE_SINGLE_MAX) {
		for (unsigned i = 0; i < nb->nfirst; i++)
			writer_emit(s, nb->first[i], strlen(nb->first[i]));
	} else {
		meta_format_time(time(NULL), when, sizeof(when));
		writer_emitf(s, "ringside: %u clients connected and %u disconnected by %s; "
			      "%u connected now (.clients lists them)",
			      nb->joins, nb->leaves, when, s->nclients + s->nrelayed);
	}
	nb->joins = nb->leaves = nb->nfirst = 0;
	nb->generation++;
}

void notice_retract(struct hub *s, struct client *c)
{
	struct notice_batch *nb = &s->notices;

	if (!c->announced || c->join_generation != nb->generation || nb->joins == 0)
		return;
	for (unsigned i = 0; i < nb->nfirst; i++) {
		if (nb->first_id[i] != c->id)
			continue;
		memmove(&nb->first[i], &nb->first[i + 1], (nb->nfirst - i - 1) * sizeof(nb->first[0]));
		memmove(&nb->first_id[i], &nb->first_id[i + 1],
			(nb->nfirst - i - 1) * sizeof(nb->first_id[0]));
		nb->nfirst--;
		break;
	}
	nb->joins--;
	c->announced = false;
}
