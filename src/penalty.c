/* SPDX-License-Identifier: MIT */
/*
 * Wrong-password penalties per source address.  Sources are compared by
 * address only (not port): a guesser reconnects from new ports.
 */
#include <errno.h>
#include <string.h>

#include "src/penalty.h"

static struct in6_addr key_of(const struct sockaddr_storage *peer)
{
	struct in6_addr a;

	memset(&a, 0, sizeof(a));
	if (peer->ss_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)peer)->sin6_addr;
	} else if (peer->ss_family == AF_INET) {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &((const struct sockaddr_in *)peer)->sin_addr, 4);
	}
	return a;
}

static struct penalty_entry *find(const struct penalty_table *t, const struct in6_addr *a)
{
	for (size_t i = 0; i < PENALTY_SLOTS; i++)
		if (t->e[i].last && memcmp(&t->e[i].addr, a, sizeof(*a)) == 0)
			return (struct penalty_entry *)&t->e[i];
	return NULL;
}

void penalty_failure(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now)
{
	struct in6_addr a = key_of(peer);
	struct penalty_entry *e = find(t, &a);
	unsigned over;
	time_t wait;

	if (e && now - e->last > PENALTY_FORGET_SECONDS)
		e->failures = 0;
	if (!e) {
		e = &t->e[0];
		for (size_t i = 1; i < PENALTY_SLOTS && e->last; i++)
			if (t->e[i].last < e->last)
				e = &t->e[i];
		memset(e, 0, sizeof(*e));
		e->addr = a;
	}
	e->failures++;
	e->last = now;
	if (e->failures <= PENALTY_FREE_FAILURES)
		return;
	over = e->failures - PENALTY_FREE_FAILURES - 1;
	wait = over >= 8 ? PENALTY_MAX_SECONDS : (time_t)PENALTY_FIRST_SECONDS << over;
	if (wait > PENALTY_MAX_SECONDS)
		wait = PENALTY_MAX_SECONDS;
	e->until = now + wait;
}

void penalty_success(struct penalty_table *t, const struct sockaddr_storage *peer)
{
	struct in6_addr a = key_of(peer);
	struct penalty_entry *e = find(t, &a);

	if (e)
		memset(e, 0, sizeof(*e));
}

unsigned penalty_wait(const struct penalty_table *t, const struct sockaddr_storage *peer,
		      time_t now)
{
	struct in6_addr a = key_of(peer);
	const struct penalty_entry *e = find(t, &a);

	return e && e->until > now ? (unsigned)(e->until - now) : 0;
}

/* Interim: replaced by the per-source table. */
int penalty_pending_add(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now,
			unsigned share)
{
	struct in6_addr a = key_of(peer);
	struct penalty_entry *e = find(t, &a);

	if (!e) {
		penalty_failure(t, peer, now);
		e = find(t, &a);
		e->failures = 0;
	}
	if (e->pending >= share)
		return -EBUSY;
	e->pending++;
	return 0;
}

void penalty_pending_done(struct penalty_table *t, const struct sockaddr_storage *peer)
{
	struct in6_addr a = key_of(peer);
	struct penalty_entry *e = find(t, &a);

	if (e && e->pending)
		e->pending--;
}

unsigned penalty_pending_count(const struct penalty_table *t, const struct sockaddr_storage *peer)
{
	struct in6_addr a = key_of(peer);
	const struct penalty_entry *e = find(t, &a);

	return e ? e->pending : 0;
}
