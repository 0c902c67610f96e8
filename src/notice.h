/* SPDX-License-Identifier: MIT */
/*
 * Join and leave notices, coalesced when many arrive at once (notice.c).
 * Internal to src/.
 */
#ifndef RINGSIDE_NOTICE_H
#define RINGSIDE_NOTICE_H

#include <stdint.h>

#include "ring/ring.h"
#include "src/client.h"

struct session;

struct notice_batch {
	unsigned joins, leaves;
	char first[3][IDENT_MAX + 96];	/* kept verbatim while the batch is small */
	uint32_t first_id[3];		/* client of each kept line (joins only) */
	unsigned nfirst;
	unsigned generation;		/* counts flushes */
	struct ring_timer timer;
};

void notice_joined(struct session *s, struct client *c);
void notice_left(struct session *s, struct client *c);
void notice_flush(struct session *s);
/* Take back C's join notice if it has not gone out yet (a raw-looking client
 * that turned out to be native and will announce itself by name). */
void notice_retract(struct session *s, struct client *c);

#endif
