/* SPDX-License-Identifier: MIT */
/*
 * Per-source accounting for authentication: who guessed wrong, how often,
 * who is still authenticating, and how fast everyone together may guess.
 *
 * Sources are compared by address only, never by port: a guesser reconnects
 * from new ports.  IPv6 is compared by /64 because one host usually owns a
 * whole /64 and can pick a fresh address for each guess.
 *
 * Lookups run at every accept and before every proof, also when a
 * distributed attack has grown the table to its bound, so sources are found
 * through an open-addressing index (linear probing, at most half full: about
 * two probes) rather than by scanning PENALTY_SLOTS_MAX entries, which
 * costs some 10 us each time.  Attackers pick their addresses, so the hash
 * is keyed with the caller's secret seed: without it they cannot choose
 * addresses that pile up in one probe run.  Eviction does scan, but only
 * when the table is full and a new source arrives.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "src/penalty.h"

_Static_assert((PENALTY_SLOTS_MIN & (PENALTY_SLOTS_MIN - 1)) == 0 &&
	       (PENALTY_SLOTS_MAX & (PENALTY_SLOTS_MAX - 1)) == 0 &&
	       PENALTY_SLOTS_MIN <= PENALTY_SLOTS_MAX,
	       "the index sizes are powers of two");

/*
 * The global budget is a token bucket kept as debt, so that a zeroed table
 * starts full.  The unit is a 60th of a wrong password, so that a rate per
 * minute drains a whole number of units each second.  Guessing stops while
 * the room left below GLOBAL_DEBT_MAX is less than one wrong password.
 */
#define GLOBAL_COST 60u
#define GLOBAL_DEBT_MAX (PENALTY_GLOBAL_BURST * GLOBAL_COST)

_Static_assert(PENALTY_GLOBAL_BURST >= 1 && PENALTY_GLOBAL_PER_MINUTE >= 1,
	       "the global budget must allow some guessing");

struct penalty_key {
	struct in6_addr addr;	/* IPv4 as v4-mapped; IPv6 cut to its /64 */
	bool local;		/* not IP: all such peers are one source */
};

struct penalty_entry {
	struct penalty_key key;
	unsigned failures;	/* wrong passwords since a success or a quiet spell */
	unsigned pending;	/* connections still authenticating */
	time_t failed;		/* last wrong password */
	time_t until;		/* refused before this */
	time_t good_until;	/* known-good before this */
	time_t seen;		/* last time anything happened to it */
};

static struct penalty_key key_of(const struct sockaddr_storage *peer)
{
	struct penalty_key k;

	memset(&k, 0, sizeof(k));
	if (peer->ss_family == AF_INET) {
		k.addr.s6_addr[10] = k.addr.s6_addr[11] = 0xff;
		memcpy(&k.addr.s6_addr[12], &((const struct sockaddr_in *)peer)->sin_addr, 4);
	} else if (peer->ss_family == AF_INET6) {
		k.addr = ((const struct sockaddr_in6 *)peer)->sin6_addr;
		/* A v4-mapped peer is the IPv4 host itself.  Link-local hosts
		 * all share fe80::/64, so there the /64 is no one's own. */
		if (!IN6_IS_ADDR_V4MAPPED(&k.addr) && !IN6_IS_ADDR_LINKLOCAL(&k.addr))
			memset(&k.addr.s6_addr[8], 0, 8);
	} else {
		k.local = true;
	}
	return k;
}

static bool key_equal(const struct penalty_key *a, const struct penalty_key *b)
{
	return a->local == b->local && memcmp(&a->addr, &b->addr, sizeof(a->addr)) == 0;
}

/* A multiply carries bits only upwards, and the varying bytes of an address
 * may sit anywhere in a word, so every multiply is preceded by a fold that
 * brings the high half down: each output bit then depends on every input
 * bit, the low ones the index uses included. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	return x ^ (x >> 32);
}

static unsigned key_hash(const struct penalty_table *t, const struct penalty_key *k)
{
	uint64_t hi, lo;

	memcpy(&hi, &k->addr.s6_addr[0], 8);
	memcpy(&lo, &k->addr.s6_addr[8], 8);
	return (unsigned)mix(mix(hi ^ t->seed) ^ lo ^ k->local) & t->index_mask;
}

static unsigned home_of(const struct penalty_table *t, uint32_t slot)
{
	return key_hash(t, &t->entries[slot - 1].key);
}

static struct penalty_entry *find(const struct penalty_table *t, const struct penalty_key *k)
{
	if (!t->index)
		return NULL;
	for (unsigned i = key_hash(t, k); t->index[i]; i = (i + 1) & t->index_mask) {
		struct penalty_entry *e = &t->entries[t->index[i] - 1];

		if (key_equal(&e->key, k))
			return e;
	}
	return NULL;
}

static void index_insert(struct penalty_table *t, unsigned n)
{
	unsigned i = key_hash(t, &t->entries[n].key);

	while (t->index[i])
		i = (i + 1) & t->index_mask;
	t->index[i] = n + 1;
}

/* Backward-shift deletion: no tombstones, so probe runs never lengthen
 * however much the table churns. */
static void index_remove(struct penalty_table *t, unsigned n)
{
	unsigned hole = key_hash(t, &t->entries[n].key);

	while (t->index[hole] != n + 1)
		hole = (hole + 1) & t->index_mask;
	for (unsigned j = (hole + 1) & t->index_mask; t->index[j]; j = (j + 1) & t->index_mask) {
		unsigned home = home_of(t, t->index[j]);

		/* The entry at J may fill the hole unless its home lies after
		 * the hole: then a lookup would stop at the hole first. */
		if (((j - home) & t->index_mask) >= ((j - hole) & t->index_mask)) {
			t->index[hole] = t->index[j];
			hole = j;
		}
	}
	t->index[hole] = 0;
}

/* Keeps T as it was when memory runs out. */
static int grow(struct penalty_table *t)
{
	unsigned cap = t->cap ? 2 * t->cap : PENALTY_SLOTS_MIN;
	struct penalty_entry *entries;
	uint32_t *index;

	index = calloc(2 * (size_t)cap, sizeof(*index));
	if (!index)
		return -ENOMEM;
	entries = realloc(t->entries, cap * sizeof(*entries));
	if (!entries) {
		free(index);
		return -ENOMEM;
	}
	t->entries = entries;
	free(t->index);
	t->index = index;
	t->index_mask = 2 * cap - 1;
	t->cap = cap;
	for (unsigned n = 0; n < t->nentries; n++)
		index_insert(t, n);
	return 0;
}

static bool known_good(const struct penalty_entry *e, time_t now)
{
	return e && e->good_until > now;
}

/* Forgetting it would let someone off or lock someone out. */
static bool busy(const struct penalty_entry *e, time_t now)
{
	return e->until > now || e->pending > 0 || known_good(e, now);
}

static bool failures_count(const struct penalty_entry *e, time_t now)
{
	return e->failures > 0 && now - e->failed <= PENALTY_FORGET_SECONDS;
}

/* The entry to give a new source: one holding nothing at all if there is
 * one, else the one idle longest among those not busy. */
static struct penalty_entry *victim(const struct penalty_table *t, time_t now)
{
	struct penalty_entry *best = NULL;

	for (unsigned n = 0; n < t->nentries; n++) {
		struct penalty_entry *e = &t->entries[n];

		if (busy(e, now))
			continue;
		if (!failures_count(e, now))
			return e;
		if (!best || e->seen < best->seen)
			best = e;
	}
	return best;
}

/* PEER's entry, made if it had none: a free one, else the idlest that is not
 * busy, else a new one in a bigger table.  Never takes a busy one. */
static int claim(struct penalty_table *t, const struct penalty_key *k, time_t now,
		 struct penalty_entry **out)
{
	struct penalty_entry *e = find(t, k);
	int res;

	if (e) {
		*out = e;
		return 0;
	}
	if (t->nentries == t->cap) {
		e = victim(t, now);
		if (e) {
			index_remove(t, (unsigned)(e - t->entries));
		} else {
			if (t->cap >= PENALTY_SLOTS_MAX)
				return -ENOSPC;
			res = grow(t);
			if (res < 0)
				return res;
		}
	}
	if (!e)
		e = &t->entries[t->nentries++];
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->seen = now;
	index_insert(t, (unsigned)(e - t->entries));
	*out = e;
	return 0;
}

static unsigned global_debt_at(const struct penalty_table *t, time_t now)
{
	time_t elapsed = now - t->global_stamp;

	if (elapsed <= 0)
		return t->global_debt;
	if (elapsed > GLOBAL_DEBT_MAX / PENALTY_GLOBAL_PER_MINUTE)
		return 0;
	if ((unsigned)elapsed * PENALTY_GLOBAL_PER_MINUTE >= t->global_debt)
		return 0;
	return t->global_debt - (unsigned)elapsed * PENALTY_GLOBAL_PER_MINUTE;
}

static unsigned global_wait(const struct penalty_table *t, time_t now)
{
	unsigned debt = global_debt_at(t, now);
	unsigned over = GLOBAL_DEBT_MAX - GLOBAL_COST;

	if (debt <= over)
		return 0;
	return (debt - over + PENALTY_GLOBAL_PER_MINUTE - 1) / PENALTY_GLOBAL_PER_MINUTE;
}

static void global_charge(struct penalty_table *t, time_t now)
{
	unsigned debt = global_debt_at(t, now) + GLOBAL_COST;

	/* Capped: failures the bucket had no room for (known-good sources are
	 * not stopped by it) would otherwise hold everyone else back after
	 * they end. */
	t->global_debt = debt < GLOBAL_DEBT_MAX ? debt : GLOBAL_DEBT_MAX;
	t->global_stamp = now;
}

int penalty_init(struct penalty_table *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->seed = seed;
	return grow(t);
}

void penalty_free(struct penalty_table *t)
{
	uint64_t seed = t->seed;

	free(t->entries);
	free(t->index);
	memset(t, 0, sizeof(*t));
	t->seed = seed;
}

unsigned penalty_wait(const struct penalty_table *t, const struct sockaddr_storage *peer,
		      time_t now, enum penalty_reason *why)
{
	struct penalty_key k = key_of(peer);
	const struct penalty_entry *e = find(t, &k);
	unsigned own = 0, global = 0;
	enum penalty_reason reason = PENALTY_NONE;

	if (e && e->until > now)
		own = e->until - now > PENALTY_MAX_SECONDS ? PENALTY_MAX_SECONDS
							   : (unsigned)(e->until - now);
	if (!known_good(e, now))
		global = global_wait(t, now);
	if (own && own >= global)
		reason = PENALTY_SOURCE;
	else if (global)
		reason = PENALTY_GLOBAL;
	if (why)
		*why = reason;
	return own > global ? own : global;
}

int penalty_failure(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now)
{
	struct penalty_key k = key_of(peer);
	struct penalty_entry *e;
	unsigned over;
	time_t wait;
	int res;

	global_charge(t, now);
	res = claim(t, &k, now, &e);
	if (res < 0)
		return res;
	if (!failures_count(e, now))
		e->failures = 0;
	if (e->failures < UINT_MAX)
		e->failures++;
	e->failed = e->seen = now;
	if (e->failures <= PENALTY_FREE_FAILURES)
		return 0;
	over = e->failures - PENALTY_FREE_FAILURES - 1;
	wait = over >= 8 ? PENALTY_MAX_SECONDS : (time_t)PENALTY_FIRST_SECONDS << over;
	if (wait > PENALTY_MAX_SECONDS)
		wait = PENALTY_MAX_SECONDS;
	e->until = now + wait;
	return 0;
}

int penalty_success(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now)
{
	struct penalty_key k = key_of(peer);
	struct penalty_entry *e;
	int res;

	res = claim(t, &k, now, &e);
	if (res < 0)
		return res;
	e->failures = 0;
	e->until = 0;
	e->good_until = now + PENALTY_FORGET_SECONDS;
	e->seen = now;
	return 0;
}

unsigned penalty_failures(const struct penalty_table *t, const struct sockaddr_storage *peer,
			  time_t now)
{
	struct penalty_key k = key_of(peer);
	const struct penalty_entry *e = find(t, &k);

	return e && failures_count(e, now) ? e->failures : 0;
}

int penalty_pending_add(struct penalty_table *t, const struct sockaddr_storage *peer,
			time_t now, unsigned share, bool *held)
{
	struct penalty_key k = key_of(peer);
	struct penalty_entry *e;
	int res;

	if (*held)
		return 0;
	res = claim(t, &k, now, &e);
	if (res < 0)
		return res;
	if (e->pending >= (share ? share : 1))
		return -EBUSY;
	e->pending++;
	e->seen = now;
	*held = true;
	return 0;
}

void penalty_pending_done(struct penalty_table *t, const struct sockaddr_storage *peer,
			  bool *held)
{
	struct penalty_key k = key_of(peer);
	struct penalty_entry *e;

	if (!*held)
		return;
	*held = false;
	/* The place kept the entry, so it is there unless T was freed. */
	e = find(t, &k);
	if (e && e->pending > 0)
		e->pending--;
}
