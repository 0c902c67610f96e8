/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/penalty.c: free failures, doubling waits up to the
 * maximum, forgetting quiet sources, IPv4/IPv6 keys, and a full table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "src/penalty.h"

static struct sockaddr_storage v4(const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &in->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &in6->sin6_addr);
	return ss;
}

static void test_penalty_free_failures_then_doubling(void **state)
{
	static struct penalty_table t;
	struct sockaddr_storage a = v4("10.0.0.1", 1000);
	time_t now = 1000;

	memset(&t, 0, sizeof(t));
	for (int i = 0; i < PENALTY_FREE_FAILURES; i++) {
		penalty_failure(&t, &a, now);
		assert_int_equal(penalty_wait(&t, &a, now), 0);
	}
	penalty_failure(&t, &a, now);
	assert_int_equal(penalty_wait(&t, &a, now), PENALTY_FIRST_SECONDS);
	penalty_failure(&t, &a, now);
	assert_int_equal(penalty_wait(&t, &a, now), 2 * PENALTY_FIRST_SECONDS);
	penalty_failure(&t, &a, now);
	assert_int_equal(penalty_wait(&t, &a, now), 4 * PENALTY_FIRST_SECONDS);
	/* The wait runs out. */
	assert_int_equal(penalty_wait(&t, &a, now + 4 * PENALTY_FIRST_SECONDS), 0);
	for (int i = 0; i < 40; i++)
		penalty_failure(&t, &a, now);
	assert_int_equal(penalty_wait(&t, &a, now), PENALTY_MAX_SECONDS);
}

static void test_penalty_port_does_not_matter(void **state)
{
	static struct penalty_table t;
	struct sockaddr_storage a = v4("10.0.0.2", 1000), b = v4("10.0.0.2", 2000);

	memset(&t, 0, sizeof(t));
	for (int i = 0; i <= PENALTY_FREE_FAILURES; i++)
		penalty_failure(&t, i % 2 ? &a : &b, 50);
	assert_true(penalty_wait(&t, &a, 50) > 0);
	assert_true(penalty_wait(&t, &b, 50) > 0);
}

static void test_penalty_sources_are_separate(void **state)
{
	static struct penalty_table t;
	struct sockaddr_storage a = v4("10.0.0.3", 1), b = v4("10.0.0.4", 1);
	struct sockaddr_storage c = v6("2001:db8::1"), d = v6("::ffff:10.0.0.3");

	memset(&t, 0, sizeof(t));
	for (int i = 0; i <= PENALTY_FREE_FAILURES; i++)
		penalty_failure(&t, &a, 50);
	assert_true(penalty_wait(&t, &a, 50) > 0);
	assert_int_equal(penalty_wait(&t, &b, 50), 0);
	assert_int_equal(penalty_wait(&t, &c, 50), 0);
	/* The v4-mapped form of an IPv4 source is the same source. */
	assert_true(penalty_wait(&t, &d, 50) > 0);
}

static void test_penalty_success_and_forgetting(void **state)
{
	static struct penalty_table t;
	struct sockaddr_storage a = v4("10.0.0.5", 1);

	memset(&t, 0, sizeof(t));
	for (int i = 0; i <= PENALTY_FREE_FAILURES; i++)
		penalty_failure(&t, &a, 100);
	assert_true(penalty_wait(&t, &a, 100) > 0);
	penalty_success(&t, &a);
	assert_int_equal(penalty_wait(&t, &a, 100), 0);
	/* Failures long apart do not add up. */
	for (int i = 0; i <= PENALTY_FREE_FAILURES; i++)
		penalty_failure(&t, &a, 100 + (time_t)i * (PENALTY_FORGET_SECONDS + 1));
	assert_int_equal(penalty_wait(&t, &a, 100 + 4 * (PENALTY_FORGET_SECONDS + 1)), 0);
}

static void test_penalty_full_table_reuses_oldest(void **state)
{
	static struct penalty_table t;
	char ip[32];

	memset(&t, 0, sizeof(t));
	for (unsigned i = 0; i < PENALTY_SLOTS + 10; i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "10.1.%u.%u", i / 250, i % 250 + 1);
		a = v4(ip, 1);
		for (int k = 0; k <= PENALTY_FREE_FAILURES; k++)
			penalty_failure(&t, &a, 1000 + (time_t)i);
	}
	/* The newest sources are remembered; the first ones made room. */
	struct sockaddr_storage newest = v4("10.1.1.15", 1), first = v4("10.1.0.1", 1);

	assert_true(penalty_wait(&t, &newest, 1000 + PENALTY_SLOTS) > 0);
	assert_int_equal(penalty_wait(&t, &first, 1000 + PENALTY_SLOTS), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_penalty_free_failures_then_doubling),
		cmocka_unit_test(test_penalty_port_does_not_matter),
		cmocka_unit_test(test_penalty_sources_are_separate),
		cmocka_unit_test(test_penalty_success_and_forgetting),
		cmocka_unit_test(test_penalty_full_table_reuses_oldest),
	};

	return cmocka_run_group_tests_name("penalty", tests, NULL, NULL);
}
