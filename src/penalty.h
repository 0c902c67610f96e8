/* SPDX-License-Identifier: MIT */
/*
 * Per-source accounting for authentication: wrong-password penalties per
 * source, a cap on the wrong-password rate of all sources together, and how
 * many connections each source has still authenticating (its share of
 * -maxauth).
 *
 * A source is an IPv4 address, the /64 prefix of an IPv6 address, or "local"
 * for every peer that is not IP (unix sockets).  The module keeps state only:
 * it reads no clock, does no I/O and logs nothing.  NOW is seconds on a clock
 * the caller keeps; it should not go backwards (CLOCK_MONOTONIC).  If it
 * does, no wait grows beyond PENALTY_MAX_SECONDS.
 *
 * A zeroed table is a valid empty one, but unkeyed (see penalty_init).
 */
#ifndef RINGSIDE_PENALTY_H
#define RINGSIDE_PENALTY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* Wrong passwords a source may make before it is refused at all. */
#define PENALTY_FREE_FAILURES 3
/* Then it is refused this long, doubling with each further one... */
#define PENALTY_FIRST_SECONDS 5
/* ...up to this. */
#define PENALTY_MAX_SECONDS 600
/* A source with no wrong password for this long starts afresh; a source that
 * authenticated within this long is known-good. */
#define PENALTY_FORGET_SECONDS 900

/* All sources together may make this many wrong passwords at once... */
#define PENALTY_GLOBAL_BURST 20
/* ...and then this many a minute. */
#define PENALTY_GLOBAL_PER_MINUTE 30

/* Sources remembered: the table starts at MIN and doubles up to MAX.  Only
 * busy entries (see penalty_wait and penalty_pending_add) cannot make room,
 * and MAX is far more than can be busy at once: a source is penalised only
 * after 4 wrong passwords within PENALTY_FORGET_SECONDS, while sources that
 * are not known-good get 20 + 30 * 15 = 470 in that time together;
 * authenticating ones are bounded by -maxauth; known-good ones knew the
 * password. */
#define PENALTY_SLOTS_MIN 64
#define PENALTY_SLOTS_MAX 4096

/* Why penalty_wait() refuses a source. */
enum penalty_reason {
	PENALTY_NONE,		/* not refused */
	PENALTY_SOURCE,		/* this source's own wrong passwords */
	PENALTY_GLOBAL,		/* wrong passwords from all sources together */
};

struct penalty_entry;

struct penalty_table {
	struct penalty_entry *entries;	/* nentries used of cap */
	uint32_t *index;		/* hash of sources: entry number + 1, 0 = empty */
	unsigned nentries, cap, index_mask;
	uint64_t seed;			/* keys the hash: a secret */
	unsigned global_debt;		/* wrong passwords not yet refilled, in 60ths */
	time_t global_stamp;		/* when global_debt was last brought up to date */
};

/*
 * Make T an empty table keyed with SEED and allocate its first
 * PENALTY_SLOTS_MIN entries.  SEED must be random and secret (getrandom):
 * whoever knows it can pick addresses that make every lookup slow.  0 or
 * -ENOMEM; either way T is a valid table that grows on demand and needs
 * penalty_free().
 */
int penalty_init(struct penalty_table *t, uint64_t seed);

/* Release T's memory; T is then an empty table again, with the same seed. */
void penalty_free(struct penalty_table *t);

/*
 * Seconds PEER must still wait before it may connect or have a password or
 * proof evaluated; 0 when it may try now.  Call it at accept and before
 * evaluating every password or proof, so parallel connections of one source
 * cannot each get a guess past its penalty.
 *
 * Two refusals, reported in *WHY (WHY may be NULL):
 *  - PENALTY_SOURCE: the source made more than PENALTY_FREE_FAILURES wrong
 *    passwords; it waits until its own penalty runs out.
 *  - PENALTY_GLOBAL: all sources together spent the global budget; every
 *    source that is not known-good waits for the next refill (a few
 *    seconds).  This caps the guess rate however many addresses an attacker
 *    has.  The price: while such an attack lasts, sources that never
 *    authenticated compete with it for each refill and may be refused again
 *    and again; sources that authenticated within PENALTY_FORGET_SECONDS
 *    (known-good) are not held back by it.
 * When both apply, the longer wait is reported with its reason; on a tie,
 * PENALTY_SOURCE, which will outlast the global one.
 */
unsigned penalty_wait(const struct penalty_table *t, const struct sockaddr_storage *peer,
		      time_t now, enum penalty_reason *why);

/*
 * PEER gave a wrong password.  It always spends one of the global budget
 * (known-good sources included); then it counts toward PEER: 0, or -ENOSPC /
 * -ENOMEM when PEER has no entry and none can be had.  A caller that holds a
 * pending claim for the connection (penalty_pending_add) never sees those:
 * the claim keeps PEER's entry.
 */
int penalty_failure(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now);

/*
 * PEER authenticated: its wrong passwords and penalty are cleared, and it is
 * known-good for PENALTY_FORGET_SECONDS.  0, or -ENOSPC / -ENOMEM when PEER
 * has no entry and none can be had (then it is merely not known-good).
 */
int penalty_success(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now);

/* Wrong passwords that still count against PEER (for logs). */
unsigned penalty_failures(const struct penalty_table *t, const struct sockaddr_storage *peer,
			  time_t now);

/*
 * A connection from PEER starts authenticating.  *HELD is the connection's
 * own flag, false to begin with; on 0 it is true and the connection holds one
 * of PEER's SHARE places (SHARE 0 counts as 1) until penalty_pending_done().
 * -EBUSY: PEER already holds SHARE; -ENOSPC / -ENOMEM: no entry for PEER can
 * be had.  Refuse the connection on any error.  Already held: 0, nothing
 * more counted.
 */
int penalty_pending_add(struct penalty_table *t, const struct sockaddr_storage *peer,
			time_t now, unsigned share, bool *held);

/*
 * The connection whose flag is HELD authenticated, failed or closed: it gives
 * its place back.  Does nothing unless *HELD, then clears it, so calling it
 * on every path out of authentication is safe.
 */
void penalty_pending_done(struct penalty_table *t, const struct sockaddr_storage *peer,
			  bool *held);

#endif
