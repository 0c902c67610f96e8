/* SPDX-License-Identifier: MIT */
/*
 * The origin's picture of its edges' clients (PROTOCOL.md 12.4), kept from
 * presence version 2 messages without NATS or a hub, so that every rule is
 * unit-testable.  Per edge: the clients by the edge's id for them, the
 * (epoch, seq) the picture is at, and whether it is in step.  A delta that
 * follows on is applied (its joins and leaves told); a heartbeat that
 * agrees costs nothing more than comparing three numbers; anything else (a
 * missed delta, a new epoch, a count that disagrees, an edge never heard
 * from) makes it ask that edge for a snapshot, at most every
 * NATS_PRES_ASK_EVERY_S, and deltas are ignored until the snapshot is
 * whole.  So the steady state costs O(1) per edge per heartbeat, and the
 * work beyond that follows the joins and leaves.
 */
#ifndef RINGSIDE_NATS_PRESENCE_H
#define RINGSIDE_NATS_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/nats_msg.h"

/* An edge not heard from for this long is forgotten (its clients unlisted). */
#define NATS_PRESENCE_TTL_S 16
/* A snapshot is asked of one edge at most this often. */
#define NATS_PRES_ASK_EVERY_S 2
/* Edges followed at once. */
#define NATS_PRES_EDGES_MAX 4096
/* Joins and leaves told one by one up to this many at once. */
#define NATS_PRES_SHOW_MAX 8

struct nats_pres_member {
	uint64_t id;
	bool readonly, native;
	char *who;
};

/* Clients by id: open addressing, linear probing, tombstones. */
struct nats_pres_set {
	struct nats_pres_member *slot;	/* id 0: empty; id UINT64_MAX: removed */
	size_t cap, n, used;
};

struct nats_pres_edge {
	char name[NATS_NAME_MAX + 1];
	uint32_t heard;			/* clock: its last message */
	uint32_t asked;			/* clock: our last ask */
	bool ever_asked;
	bool synced;			/* MEMBERS is the edge's list as of (EPOCH, SEQ) */
	uint64_t epoch, seq;
	struct nats_pres_set members;
	/* A snapshot coming in parts, for (B_EPOCH, B_SEQ); B_NEXT is the part awaited. */
	bool building;
	uint64_t b_epoch, b_seq;
	uint32_t b_next, b_parts, b_count;
	struct nats_pres_set next;
};

/* What one message changed: told at the origin as its own clients' joins and leaves. */
struct nats_pres_tally {
	unsigned joins, leaves, shown;
	struct {
		bool joined;
		char who[NATS_IDENT_MAX];
	} first[NATS_PRES_SHOW_MAX];
};

struct nats_pres_origin {
	uint8_t session[16];
	struct nats_pres_edge *edges;
	unsigned nedges;
	/* Ask EDGE for a snapshot (publish on its ask subject), because of WHY. */
	void (*ask)(void *arg, const char *edge, const char *why);
	/* Tell what a message changed at EDGE (called only when something did). */
	void (*told)(void *arg, const char *edge, const struct nats_pres_tally *t);
	void *arg;
	uint64_t asks, deltas, heartbeats, snapshots, refused;
};

/* What happened to a message (for the caller's log and the tests). */
enum nats_pres_result {
	NATS_PRES_APPLIED,	/* it followed on (or agreed) */
	NATS_PRES_IGNORED,	/* a repeat, or not in step: waiting for a snapshot */
	NATS_PRES_REFUSED,	/* malformed data, another session, too many edges */
};

void nats_pres_origin_init(struct nats_pres_origin *o, const uint8_t session[16]);
void nats_pres_origin_free(struct nats_pres_origin *o);
/* M with LEN bytes of DATA, heard at clock NOW. */
enum nats_pres_result nats_pres_origin_hear(struct nats_pres_origin *o,
					    const struct nats_pres *m, const char *data,
					    size_t len, uint32_t now);
/* Forget edges not heard from since NOW - NATS_PRESENCE_TTL_S; how many. */
unsigned nats_pres_origin_expire(struct nats_pres_origin *o, uint32_t now);
/* Calls FN for each client of each edge in step; how many. */
size_t nats_pres_origin_each(const struct nats_pres_origin *o,
			     void (*fn)(void *arg, const char *edge,
					const struct nats_pres_member *m),
			     void *arg);
const struct nats_pres_edge *nats_pres_origin_edge(const struct nats_pres_origin *o,
						   const char *name);

#endif
