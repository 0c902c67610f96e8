/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/penalty.c: per-source penalties (free failures, doubling
 * waits, forgetting, success), how sources are keyed (ports, IPv6 /64,
 * v4-mapped, link-local, local peers), the table (growth, eviction, its
 * bound), the global wrong-password rate, and pending shares.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "src/penalty.h"

/* Far from 0, so that "0 = never" mistakes in the module would show. */
#define T0 ((time_t)1000000)

static struct sockaddr_storage v4(const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	return ss;
}

/* The Nth of many distinct IPv4 sources. */
static struct sockaddr_storage v4n(unsigned n)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(0x0a000000u + n + 1);
	return ss;
}

static struct sockaddr_storage local_peer(const char *path)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *un = (struct sockaddr_un *)&ss;

	memset(&ss, 0, sizeof(ss));
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path, sizeof(un->sun_path), "%s", path);
	return ss;
}

/* Enough wrong passwords, all at NOW, to put PEER under its first penalty. */
static void penalise(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now)
{
	for (int i = 0; i <= PENALTY_FREE_FAILURES; i++)
		assert_int_equal(penalty_failure(t, peer, now), 0);
}

static unsigned wait_why(struct penalty_table *t, const struct sockaddr_storage *peer, time_t now,
			 enum penalty_reason want)
{
	enum penalty_reason why = 99;
	unsigned wait = penalty_wait(t, peer, now, &why);

	assert_int_equal(why, want);
	assert_true((wait == 0) == (want == PENALTY_NONE));
	return wait;
}

static int setup(void **state)
{
	struct penalty_table *t = malloc(sizeof(*t));

	if (!t || penalty_init(t, 0x5eed5eed5eed5eedull) < 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	penalty_free(*state);
	free(*state);
	return 0;
}

static void test_free_failures_then_doubling(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.0.1", 1000);

	for (int i = 0; i < PENALTY_FREE_FAILURES; i++) {
		penalty_failure(t, &a, T0);
		wait_why(t, &a, T0, PENALTY_NONE);
	}
	penalty_failure(t, &a, T0);
	assert_int_equal(wait_why(t, &a, T0, PENALTY_SOURCE), PENALTY_FIRST_SECONDS);
	penalty_failure(t, &a, T0);
	assert_int_equal(wait_why(t, &a, T0, PENALTY_SOURCE), 2 * PENALTY_FIRST_SECONDS);
	penalty_failure(t, &a, T0);
	assert_int_equal(wait_why(t, &a, T0, PENALTY_SOURCE), 4 * PENALTY_FIRST_SECONDS);
	assert_int_equal(penalty_failures(t, &a, T0), PENALTY_FREE_FAILURES + 3);
	/* The wait runs out. */
	wait_why(t, &a, T0 + 4 * PENALTY_FIRST_SECONDS, PENALTY_NONE);
	for (int i = 0; i < 40; i++)
		penalty_failure(t, &a, T0);
	assert_int_equal(wait_why(t, &a, T0, PENALTY_SOURCE), PENALTY_MAX_SECONDS);
}

static void test_port_does_not_matter(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.0.2", 1000), b = v4("10.0.0.2", 2000);

	for (int i = 0; i <= PENALTY_FREE_FAILURES; i++)
		penalty_failure(t, i % 2 ? &a : &b, T0);
	wait_why(t, &a, T0, PENALTY_SOURCE);
	wait_why(t, &b, T0, PENALTY_SOURCE);
}

static void test_sources_are_separate(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.0.3", 1), b = v4("10.0.0.4", 1);
	struct sockaddr_storage c = v6("2001:db8::1"), d = v6("::ffff:10.0.0.3");
	struct sockaddr_storage e = v6("::ffff:10.0.0.4");

	penalise(t, &a, T0);
	wait_why(t, &a, T0, PENALTY_SOURCE);
	wait_why(t, &b, T0, PENALTY_NONE);
	wait_why(t, &c, T0, PENALTY_NONE);
	/* The v4-mapped form of an IPv4 source is the same source... */
	wait_why(t, &d, T0, PENALTY_SOURCE);
	/* ...both ways round, and only that one address. */
	penalise(t, &e, T0);
	wait_why(t, &b, T0, PENALTY_SOURCE);
	assert_int_equal(penalty_failures(t, &b, T0), PENALTY_FREE_FAILURES + 1);
	assert_int_equal(penalty_failures(t, &c, T0), 0);
}

static void test_ipv6_by_64(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff:1:2:3");
	struct sockaddr_storage other = v6("2001:db8:1:3::1"), lo = v6("::1");

	/* Fresh addresses in one /64 are one guesser. */
	penalty_failure(t, &a, T0);
	penalty_failure(t, &b, T0);
	penalty_failure(t, &a, T0);
	penalty_failure(t, &b, T0);
	assert_int_equal(wait_why(t, &a, T0, PENALTY_SOURCE), PENALTY_FIRST_SECONDS);
	wait_why(t, &b, T0, PENALTY_SOURCE);
	/* The next /64 is someone else, as are loopback and IPv4. */
	wait_why(t, &other, T0, PENALTY_NONE);
	wait_why(t, &lo, T0, PENALTY_NONE);
	assert_int_equal(penalty_failures(t, &other, T0), 0);
}

static void test_link_local_by_address(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v6("fe80::1"), b = v6("fe80::2");

	/* Every host on the link shares fe80::/64: no /64 there is one host's. */
	penalise(t, &a, T0);
	wait_why(t, &a, T0, PENALTY_SOURCE);
	wait_why(t, &b, T0, PENALTY_NONE);
}

static void test_local_peers_are_one_source(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = local_peer("/tmp/a"), b = local_peer("");
	struct sockaddr_storage lo = v6("::"), lo4 = v4("0.0.0.0", 0);

	penalise(t, &a, T0);
	wait_why(t, &b, T0, PENALTY_SOURCE);
	/* Not the all-zero IP addresses that a careless key would make them. */
	wait_why(t, &lo, T0, PENALTY_NONE);
	wait_why(t, &lo4, T0, PENALTY_NONE);
}

static void test_success_and_forgetting(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.0.5", 1);

	penalise(t, &a, T0);
	wait_why(t, &a, T0, PENALTY_SOURCE);
	assert_int_equal(penalty_success(t, &a, T0), 0);
	wait_why(t, &a, T0, PENALTY_NONE);
	assert_int_equal(penalty_failures(t, &a, T0), 0);
	/* Failures long apart do not add up. */
	for (int i = 0; i <= PENALTY_FREE_FAILURES; i++)
		penalty_failure(t, &a, T0 + (time_t)i * (PENALTY_FORGET_SECONDS + 1));
	wait_why(t, &a, T0 + 4 * (PENALTY_FORGET_SECONDS + 1), PENALTY_NONE);
	assert_int_equal(penalty_failures(t, &a, T0 + 3 * (PENALTY_FORGET_SECONDS + 1)), 1);
}

static void test_forget_after_quiet(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.0.6", 1);
	time_t later = T0 + PENALTY_FORGET_SECONDS + 1;

	for (int i = 0; i < 10; i++)
		penalty_failure(t, &a, T0);
	assert_int_equal(penalty_failures(t, &a, T0 + PENALTY_FORGET_SECONDS), 10);
	assert_int_equal(penalty_failures(t, &a, later), 0);
	/* Starting afresh means the free failures again. */
	for (int i = 0; i < PENALTY_FREE_FAILURES; i++)
		penalty_failure(t, &a, later);
	wait_why(t, &a, later, PENALTY_NONE);
	penalty_failure(t, &a, later);
	assert_int_equal(wait_why(t, &a, later, PENALTY_SOURCE), PENALTY_FIRST_SECONDS);
}

static void test_failures_count_only_for_their_source(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.0.7", 1), b = v4("10.0.0.8", 1);
	struct sockaddr_storage good = v4("10.0.0.9", 1);

	assert_int_equal(penalty_success(t, &good, T0), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(penalty_failure(t, &a, T0), 0);
	assert_int_equal(penalty_failures(t, &a, T0), 100);
	assert_int_equal(wait_why(t, &a, T0, PENALTY_SOURCE), PENALTY_MAX_SECONDS);
	/* B made no guess: nothing of A's is held against B itself.  The
	 * global budget is spent, though, and B never authenticated. */
	assert_int_equal(penalty_failures(t, &b, T0), 0);
	assert_true(wait_why(t, &b, T0, PENALTY_GLOBAL) <= 60 / PENALTY_GLOBAL_PER_MINUTE);
	wait_why(t, &good, T0, PENALTY_NONE);
	/* Once the budget refills, B is free and A is not. */
	wait_why(t, &b, T0 + 60, PENALTY_NONE);
	wait_why(t, &a, T0 + 60, PENALTY_SOURCE);
}

static void test_full_table_grows_instead_of_evicting(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage newcomer = v4n(PENALTY_SLOTS_MAX);
	bool held = false;

	assert_int_equal(t->cap, PENALTY_SLOTS_MIN);
	for (unsigned i = 0; i < PENALTY_SLOTS_MAX; i++) {
		struct sockaddr_storage a = v4n(i);

		penalise(t, &a, T0);
	}
	assert_int_equal(t->cap, PENALTY_SLOTS_MAX);
	assert_int_equal(t->nentries, PENALTY_SLOTS_MAX);
	/* At the bound nobody is dropped for a newcomer, whichever the call. */
	assert_int_equal(penalty_pending_add(t, &newcomer, T0, 1, &held), -ENOSPC);
	assert_false(held);
	assert_int_equal(penalty_failure(t, &newcomer, T0), -ENOSPC);
	assert_int_equal(penalty_success(t, &newcomer, T0), -ENOSPC);
	for (unsigned i = 0; i < PENALTY_SLOTS_MAX; i++) {
		struct sockaddr_storage a = v4n(i);

		assert_int_equal(penalty_failures(t, &a, T0), PENALTY_FREE_FAILURES + 1);
		assert_int_equal(wait_why(t, &a, T0, PENALTY_SOURCE), PENALTY_FIRST_SECONDS);
	}
	/* Penalties that ran out are no longer worth a newcomer's refusal. */
	assert_int_equal(penalty_pending_add(t, &newcomer, T0 + PENALTY_FIRST_SECONDS, 1, &held), 0);
	assert_true(held);
	assert_int_equal(t->cap, PENALTY_SLOTS_MAX);
}

static void test_busy_entries_are_never_evicted(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage idle = v4n(PENALTY_SLOTS_MIN - 1);
	bool held = false;

	/* Every kind of busy: penalised, authenticating, known-good. */
	for (unsigned i = 0; i < PENALTY_SLOTS_MIN - 1; i++) {
		struct sockaddr_storage a = v4n(i);
		bool h = false;

		if (i % 3 == 0)
			penalise(t, &a, T0);
		else if (i % 3 == 1)
			assert_int_equal(penalty_pending_add(t, &a, T0, 1, &h), 0);
		else
			assert_int_equal(penalty_success(t, &a, T0), 0);
	}
	/* The one entry that is not busy, and the newest. */
	penalty_failure(t, &idle, T0 + 1);
	assert_int_equal(t->nentries, t->cap);
	struct sockaddr_storage first = v4n(1000);

	assert_int_equal(penalty_pending_add(t, &first, T0 + 2, 1, &held), 0);
	assert_int_equal(t->cap, PENALTY_SLOTS_MIN);
	assert_int_equal(penalty_failures(t, &idle, T0 + 2), 0);
	/* Now all are busy: the table grows. */
	struct sockaddr_storage second = v4n(1001), stranger = v4n(1002);

	held = false;
	assert_int_equal(penalty_pending_add(t, &second, T0 + 2, 1, &held), 0);
	assert_int_equal(t->cap, 2 * PENALTY_SLOTS_MIN);
	/* With the global budget spent, only known-good sources may try:
	 * that shows they are still remembered. */
	for (unsigned i = 0; i < PENALTY_GLOBAL_BURST; i++)
		penalty_failure(t, &second, T0 + 2);
	wait_why(t, &stranger, T0 + 2, PENALTY_GLOBAL);
	for (unsigned i = 0; i < PENALTY_SLOTS_MIN - 1; i++) {
		struct sockaddr_storage a = v4n(i);
		bool h = false;

		if (i % 3 == 0)
			wait_why(t, &a, T0 + 2, PENALTY_SOURCE);
		else if (i % 3 == 1)
			assert_int_equal(penalty_pending_add(t, &a, T0 + 2, 1, &h), -EBUSY);
		else
			wait_why(t, &a, T0 + 2, PENALTY_NONE);
	}
	assert_int_equal(penalty_failures(t, &idle, T0 + 2), 0);
}

static void test_eviction_takes_the_idlest(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage newcomer = v4n(5000);

	/* Everyone has a failure to remember, none is busy; the idlest is
	 * source 7 because every other source was seen again later. */
	for (unsigned i = 0; i < PENALTY_SLOTS_MIN; i++) {
		struct sockaddr_storage a = v4n(i);

		penalty_failure(t, &a, T0 + i);
	}
	for (unsigned i = 0; i < PENALTY_SLOTS_MIN; i++) {
		struct sockaddr_storage a = v4n(i);

		if (i != 7)
			penalty_failure(t, &a, T0 + 100 + i);
	}
	assert_int_equal(t->nentries, t->cap);
	penalty_failure(t, &newcomer, T0 + 200);
	assert_int_equal(t->cap, PENALTY_SLOTS_MIN);
	for (unsigned i = 0; i < PENALTY_SLOTS_MIN; i++) {
		struct sockaddr_storage a = v4n(i);

		assert_int_equal(penalty_failures(t, &a, T0 + 200), i == 7 ? 0 : 2);
	}
	assert_int_equal(penalty_failures(t, &newcomer, T0 + 200), 1);
}

static void test_forgotten_entries_go_first(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage newcomer = v4n(5000), oldest = v4n(0), forgotten = v4n(9);
	time_t now = T0 + PENALTY_FORGET_SECONDS + 50;
	bool held = false;

	/* Source 0 is the idlest but still has a failure that counts; source
	 * 9 was seen last, but its failure is forgotten, so it holds nothing. */
	for (unsigned i = 0; i < PENALTY_SLOTS_MIN; i++) {
		struct sockaddr_storage a = v4n(i);

		penalty_failure(t, &a, i == 9 ? T0 : now - 100 + i);
	}
	assert_int_equal(penalty_pending_add(t, &forgotten, now - 1, 1, &held), 0);
	penalty_pending_done(t, &forgotten, &held);
	penalty_failure(t, &newcomer, now);
	assert_int_equal(t->cap, PENALTY_SLOTS_MIN);
	assert_int_equal(penalty_failures(t, &oldest, now), 1);
	assert_int_equal(penalty_failures(t, &newcomer, now), 1);
	/* Source 9 lost its entry: a new one for it must evict someone. */
	penalty_failure(t, &forgotten, now);
	assert_int_equal(penalty_failures(t, &oldest, now), 0);
}

static void test_global_rate_caps_many_sources(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage good = v4("192.0.2.1", 1), stranger = v4("198.51.100.1", 1);
	unsigned guesses = 0;
	const unsigned sources = 300, seconds = 28;

	assert_int_equal(penalty_success(t, &good, T0 - 1), 0);
	/* 300 addresses each guess as often as they are let, every second. */
	for (time_t now = T0; now <= T0 + seconds; now++) {
		for (unsigned i = 0; i < sources; i++) {
			struct sockaddr_storage a = v4n(i);

			while (penalty_wait(t, &a, now, NULL) == 0) {
				assert_int_equal(penalty_failure(t, &a, now), 0);
				guesses++;
			}
		}
		/* Guessing stopped for all but the known-good source. */
		wait_why(t, &stranger, now, PENALTY_GLOBAL);
		wait_why(t, &good, now, PENALTY_NONE);
	}
	assert_int_equal(guesses, PENALTY_GLOBAL_BURST + seconds * PENALTY_GLOBAL_PER_MINUTE / 60);
	/* The refusal says when the next guess is due. */
	assert_int_equal(wait_why(t, &stranger, T0 + seconds, PENALTY_GLOBAL),
			 60 / PENALTY_GLOBAL_PER_MINUTE);
	/* A known-good source still has its own penalty. */
	penalise(t, &good, T0 + seconds);
	assert_int_equal(wait_why(t, &good, T0 + seconds, PENALTY_SOURCE), PENALTY_FIRST_SECONDS);
	/* The budget refills fully once the guessing stops. */
	wait_why(t, &stranger, T0 + seconds + 60 * PENALTY_GLOBAL_BURST / PENALTY_GLOBAL_PER_MINUTE,
		 PENALTY_NONE);
}

static void test_global_refill_and_longer_wait_wins(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.1.1", 1), b = v4("10.0.1.2", 1);
	unsigned refill = 60 / PENALTY_GLOBAL_PER_MINUTE;

	for (unsigned i = 0; i < PENALTY_GLOBAL_BURST; i++) {
		struct sockaddr_storage s = v4n(i);

		penalty_failure(t, &s, T0);
	}
	assert_int_equal(wait_why(t, &b, T0, PENALTY_GLOBAL), refill);
	wait_why(t, &b, T0 + refill, PENALTY_NONE);
	/* A's own penalty is longer than the refill: it is what A is told. */
	penalise(t, &a, T0 + refill);
	assert_int_equal(wait_why(t, &a, T0 + refill, PENALTY_SOURCE), PENALTY_FIRST_SECONDS);
	/* Equal waits: the source's own is the one that will last. */
	for (unsigned i = 0; i < PENALTY_GLOBAL_BURST; i++)
		penalty_failure(t, &b, T0 + refill + PENALTY_FIRST_SECONDS - refill);
	assert_int_equal(wait_why(t, &a, T0 + PENALTY_FIRST_SECONDS, PENALTY_SOURCE), refill);
	/* Its last second, with the budget spent again: the global wait is
	 * the longer now. */
	penalty_failure(t, &b, T0 + refill + PENALTY_FIRST_SECONDS - 1);
	penalty_failure(t, &b, T0 + refill + PENALTY_FIRST_SECONDS - 1);
	assert_int_equal(wait_why(t, &a, T0 + refill + PENALTY_FIRST_SECONDS - 1, PENALTY_GLOBAL),
			 refill);
}

static void test_known_good_expires(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage good = v4("192.0.2.2", 1), guesser = v4n(0);
	time_t last = T0 + PENALTY_FORGET_SECONDS - 1;

	assert_int_equal(penalty_success(t, &good, T0), 0);
	for (unsigned i = 0; i < PENALTY_GLOBAL_BURST; i++) {
		struct sockaddr_storage s = v4n(i);

		penalty_failure(t, &s, last);
	}
	wait_why(t, &good, last, PENALTY_NONE);
	/* Keep the budget spent for the next second. */
	penalty_failure(t, &guesser, last + 1);
	wait_why(t, &good, last + 1, PENALTY_GLOBAL);
}

static void test_pending_shares(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.2.1", 1), a2 = v4("10.0.2.1", 2);
	struct sockaddr_storage b = v4("10.0.2.2", 1);
	bool held[4] = { false }, other = false, extra = false;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(penalty_pending_add(t, i ? &a : &a2, T0, 3, &held[i]), 0);
		assert_true(held[i]);
	}
	assert_int_equal(penalty_pending_add(t, &a, T0, 3, &held[3]), -EBUSY);
	assert_false(held[3]);
	/* Other sources are unaffected. */
	assert_int_equal(penalty_pending_add(t, &b, T0, 3, &other), 0);
	/* A place comes back when its connection is done, once only. */
	penalty_pending_done(t, &a, &held[0]);
	assert_false(held[0]);
	penalty_pending_done(t, &a, &held[0]);
	penalty_pending_done(t, &a, &extra);
	assert_int_equal(penalty_pending_add(t, &a, T0, 3, &held[3]), 0);
	assert_int_equal(penalty_pending_add(t, &a, T0, 3, &held[0]), -EBUSY);
	/* Adding again for a connection that holds a place counts nothing. */
	assert_int_equal(penalty_pending_add(t, &a, T0, 3, &held[3]), 0);
	for (int i = 1; i < 4; i++)
		penalty_pending_done(t, &a, &held[i]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(penalty_pending_add(t, &a, T0, 3, &held[i]), 0);
	assert_int_equal(penalty_pending_add(t, &a, T0, 3, &held[3]), -EBUSY);
}

static void test_pending_share_zero_is_one(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = local_peer("/x");
	bool h1 = false, h2 = false;

	assert_int_equal(penalty_pending_add(t, &a, T0, 0, &h1), 0);
	assert_int_equal(penalty_pending_add(t, &a, T0, 0, &h2), -EBUSY);
}

static void test_zeroed_and_freed_tables_work(void **state)
{
	struct penalty_table t;
	struct sockaddr_storage a = v4("10.0.3.1", 1);
	bool held = false;

	memset(&t, 0, sizeof(t));
	wait_why(&t, &a, T0, PENALTY_NONE);
	penalty_pending_done(&t, &a, &held);
	assert_int_equal(penalty_pending_add(&t, &a, T0, 1, &held), 0);
	penalise(&t, &a, T0);
	wait_why(&t, &a, T0, PENALTY_SOURCE);
	penalty_free(&t);
	/* A freed table is empty and usable; a late done is harmless. */
	penalty_pending_done(&t, &a, &held);
	wait_why(&t, &a, T0, PENALTY_NONE);
	assert_int_equal(penalty_failure(&t, &a, T0), 0);
	penalty_free(&t);
}

static void test_clock_going_back(void **state)
{
	struct penalty_table *t = *state;
	struct sockaddr_storage a = v4("10.0.4.1", 1), b = v4("10.0.4.2", 1);

	for (int i = 0; i < 20; i++)
		penalty_failure(t, &a, T0);
	assert_int_equal(wait_why(t, &a, T0 - 100000, PENALTY_SOURCE), PENALTY_MAX_SECONDS);
	assert_true(wait_why(t, &b, T0 - 100000, PENALTY_GLOBAL) <= 60 / PENALTY_GLOBAL_PER_MINUTE);
}

/* The longest run of taken index slots: what a lookup may have to walk. */
static unsigned longest_probe_run(const struct penalty_table *t)
{
	unsigned longest = 0, run = 0;

	/* Twice round, so that a run wrapping past the end is seen whole. */
	for (unsigned i = 0; i < 2 * (t->index_mask + 1); i++) {
		run = t->index[i & t->index_mask] ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest;
}

/* Addresses that differ in a few bytes only (a subnet, consecutive /64s)
 * must still spread over the index: a hash that lets them pile up makes
 * every lookup walk the table. */
static void test_similar_addresses_spread(void **state)
{
	struct penalty_table *t = *state;
	struct penalty_table t6;

	for (unsigned i = 0; i < PENALTY_SLOTS_MAX; i++) {
		struct sockaddr_storage a = v4n(i);

		penalise(t, &a, T0);
	}
	assert_int_equal(t->nentries, PENALTY_SLOTS_MAX);
	assert_true(longest_probe_run(t) < 100);

	assert_int_equal(penalty_init(&t6, 42), 0);
	for (unsigned i = 0; i < PENALTY_SLOTS_MAX; i++) {
		char ip[64];
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", i >> 16, i & 0xffff);
		a = v6(ip);
		penalise(&t6, &a, T0);
	}
	assert_int_equal(t6.nentries, PENALTY_SLOTS_MAX);
	assert_true(longest_probe_run(&t6) < 100);
	penalty_free(&t6);
}

static uint64_t rng_state = 0x853c49e6748fea9bull;

static unsigned rng(unsigned below)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % below);
}

/* Source I of the churn test, from any address in its own /64. */
static struct sockaddr_storage churn_source(unsigned i, unsigned host)
{
	char ip[64];

	snprintf(ip, sizeof(ip), "2001:db8:%x:%x::%x", i / 7, i % 7, host + 1);
	return v6(ip);
}

/* Churn the index through growth, evictions and backward shifts: a source
 * holding a place must be found at every step, whoever came and went. */
static void test_index_survives_churn(void **state)
{
	struct penalty_table *t = *state;
	enum { SOURCES = 3000 };
	static bool held[SOURCES];
	time_t now = T0;

	memset(held, 0, sizeof(held));
	for (unsigned step = 0; step < 200000; step++) {
		unsigned i = rng(SOURCES), op = rng(16);
		struct sockaddr_storage a = churn_source(i, rng(1000));
		bool probe = false;

		if (op < 2)
			assert_int_equal(penalty_pending_add(t, &a, now, 1, &held[i]), 0);
		else if (op < 8)
			penalty_pending_done(t, &a, &held[i]);
		else if (op < 10)
			penalty_failure(t, &a, now);
		else if (op < 11)
			now++;
		if (held[i])
			assert_int_equal(penalty_pending_add(t, &a, now, 1, &probe), -EBUSY);
	}
	for (unsigned i = 0; i < SOURCES; i++) {
		struct sockaddr_storage a = churn_source(i, 0);
		bool probe = false;

		assert_int_equal(penalty_pending_add(t, &a, now, 1, &probe), held[i] ? -EBUSY : 0);
		penalty_pending_done(t, &a, &probe);
	}
	/* The churn was absorbed by eviction, not by growing to the bound. */
	assert_true(t->cap < PENALTY_SLOTS_MAX);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_free_failures_then_doubling),
		T(test_port_does_not_matter),
		T(test_sources_are_separate),
		T(test_ipv6_by_64),
		T(test_link_local_by_address),
		T(test_local_peers_are_one_source),
		T(test_success_and_forgetting),
		T(test_forget_after_quiet),
		T(test_failures_count_only_for_their_source),
		T(test_full_table_grows_instead_of_evicting),
		T(test_busy_entries_are_never_evicted),
		T(test_eviction_takes_the_idlest),
		T(test_forgotten_entries_go_first),
		T(test_global_rate_caps_many_sources),
		T(test_global_refill_and_longer_wait_wins),
		T(test_known_good_expires),
		T(test_pending_shares),
		T(test_pending_share_zero_is_one),
		cmocka_unit_test(test_zeroed_and_freed_tables_work),
		T(test_clock_going_back),
		T(test_index_survives_churn),
		T(test_similar_addresses_spread),
	};
#undef T

	return cmocka_run_group_tests_name("penalty", tests, NULL, NULL);
}
