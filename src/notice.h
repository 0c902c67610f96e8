/* SPDX-License-Identifier: MIT */
/*
 * Join and leave notices, coalesced when many arrive at once (notice.c).
 * The session calls these when its hub tells it of a join or a leave.
 * Internal to src/.
 */
#ifndef RINGSIDE_NOTICE_H
#define RINGSIDE_NOTICE_H

#include <stdint.h>

#include "ring/ring.h"

struct client;
struct hub;

/* One kept line: an identity (IDENT_MAX) and a time. */
#define NOTICE_LINE_MAX 256

struct notice_batch {
	unsigned joins, leaves;
	char first[3][NOTICE_LINE_MAX];	/* kept verbatim while the batch is small */
	uint32_t first_id[3];		/* client of each kept line (joins only) */
	unsigned nfirst;
	unsigned generation;		/* counts flushes */
	struct ring_timer timer;
};

void notice_joined(struct hub *h, struct client *c);
void notice_left(struct hub *h, struct client *c);
void notice_flush(struct hub *h);
/* Take back C's join notice if it has not gone out yet (a raw-looking client
 * that turned out to be native and will announce itself by name). */
void notice_retract(struct hub *h, struct client *c);

#endif
