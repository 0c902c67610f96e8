/* SPDX-License-Identifier: MIT */
/*
 * Per-source penalties for wrong passwords: a source that keeps guessing is
 * refused for a while, the while doubling with each further failure.
 */
#ifndef RINGSIDE_PENALTY_H
#define RINGSIDE_PENALTY_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

/* Failures a source may make before it is refused at all. */
#define PENALTY_FREE_FAILURES 3
#define PENALTY_FIRST_SECONDS 5
#define PENALTY_MAX_SECONDS 600
/* A source that stays quiet this long starts afresh. */
#define PENALTY_FORGET_SECONDS 900
#define PENALTY_SLOTS 256

struct penalty_entry {
	struct in6_addr addr;	/* IPv4 kept as v4-mapped */
	unsigned failures;
	time_t last;		/* 0: slot unused */
	time_t until;		/* refused before this time */
	unsigned pending;	/* connections authenticating now */
};

/* Bounded: when full, the entry idle the longest is reused. */
struct penalty_table {
	struct penalty_entry e[PENALTY_SLOTS];
};

void penalty_failure(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now);
void penalty_success(struct penalty_table *t, const struct sockaddr_storage *peer);
/* Seconds PEER must still wait, or 0 when it may try. */
unsigned penalty_wait(const struct penalty_table *t, const struct sockaddr_storage *peer,
		      time_t now);

/* Connections from PEER still authenticating: counted while SHARE allows
 * (-EBUSY beyond it), released once each. */
int penalty_pending_add(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now,
			unsigned share);
void penalty_pending_done(struct penalty_table *t, const struct sockaddr_storage *peer);
unsigned penalty_pending_count(const struct penalty_table *t,
			       const struct sockaddr_storage *peer);

#endif
