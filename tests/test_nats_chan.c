// SPDX-License-Identifier: MIT
/* Unit tests for src/nats_chan.c: events and commands keep their order, the eventfd is
 * readable exactly while events wait, a waiting thread gets room once the loop takes what
 * waits (and gives up after its timeout when it does not), and stopping wakes it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/nats_chan.h"

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void test_events_in_order(void **state)
{
	struct nats_chan ch;
	struct nats_item *list, *it;

	assert_int_equal(nats_chan_init(&ch), 0);
	assert_false(readable(ch.efd));
	assert_null(nats_chan_take(&ch));
	for (int i = 0; i < 5; i++) {
		it = nats_item_new(NEV_WANT, 3);
		it->a = (uint64_t)i;
		memcpy(it->data, "abc", 3);
		nats_chan_post(&ch, it);
	}
	assert_true(readable(ch.efd));
	assert_int_equal(ch.ev_bytes, 15);
	list = nats_chan_take(&ch);
	assert_false(readable(ch.efd));
	assert_int_equal(ch.ev_bytes, 0);
	it = list;
	for (int i = 0; i < 5; i++, it = it->next) {
		assert_non_null(it);
		assert_int_equal(it->a, (uint64_t)i);
		assert_string_equal(it->data, "abc");
	}
	assert_null(it);
	nats_item_free_list(list);
	/* Posting again makes it readable again. */
	nats_chan_post(&ch, nats_item_new(NEV_DOWN, 0));
	assert_true(readable(ch.efd));
	nats_chan_free(&ch);	/* frees what is still queued */
}

static void test_commands_in_order(void **state)
{
	struct nats_chan ch;
	struct nats_item *a, *b, *c, *it;
	bool stop;

	assert_int_equal(nats_chan_init(&ch), 0);
	a = nats_item_new(NCMD_RECORD, 0);
	b = nats_item_new(NCMD_RECORD, 0);
	c = nats_item_new(NCMD_BATCH_END, 0);
	a->next = b;
	b->next = c;
	nats_chan_send(&ch, a);
	nats_chan_send(&ch, nats_item_new(NCMD_INPUT, 0));
	assert_ptr_equal(nats_chan_next_cmd(&ch, 0, &stop), a);
	assert_null(a->next);
	free(a);
	it = nats_chan_next_cmd(&ch, 0, &stop);
	assert_ptr_equal(it, b);
	free(it);
	it = nats_chan_next_cmd(&ch, 0, &stop);
	assert_int_equal(it->type, NCMD_BATCH_END);
	free(it);
	nats_chan_drop_cmds(&ch);
	assert_null(nats_chan_next_cmd(&ch, 10, &stop));
	assert_false(stop);
	nats_chan_stop(&ch);
	nats_chan_send(&ch, nats_item_new(NCMD_INPUT, 0));
	/* Once stopping, nothing more is handed out. */
	assert_null(nats_chan_next_cmd(&ch, 1000, &stop));
	assert_true(stop);
	nats_chan_free(&ch);
}

static void *taker(void *arg)
{
	struct nats_chan *ch = arg;
	struct timespec ts = { 0, 50 * 1000000 };

	nanosleep(&ts, NULL);
	nats_item_free_list(nats_chan_take(ch));
	return NULL;
}

static void test_room(void **state)
{
	struct nats_chan ch;
	pthread_t t;
	struct timespec t0, t1;
	double ms;

	assert_int_equal(nats_chan_init(&ch), 0);
	nats_chan_post(&ch, nats_item_new(NEV_RECORD, 1000));
	assert_true(nats_chan_wait_room(&ch, 2000, 0));
	/* Full, and nobody takes: it gives up after its timeout. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_false(nats_chan_wait_room(&ch, 1000, 100));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms >= 90 && ms < 2000);
	/* The loop takes: room at once. */
	assert_int_equal(pthread_create(&t, NULL, taker, &ch), 0);
	assert_true(nats_chan_wait_room(&ch, 1000, 5000));
	pthread_join(t, NULL);
	nats_chan_free(&ch);
}

static void *stopper(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000 };

	nanosleep(&ts, NULL);
	nats_chan_stop(arg);
	return NULL;
}

static void test_stop_wakes(void **state)
{
	struct nats_chan ch;
	pthread_t t;
	bool stop = false;

	assert_int_equal(nats_chan_init(&ch), 0);
	assert_int_equal(pthread_create(&t, NULL, stopper, &ch), 0);
	/* Woken long before its 10 s. */
	assert_null(nats_chan_next_cmd(&ch, 10000, &stop));
	assert_true(stop);
	pthread_join(t, NULL);
	nats_chan_free(&ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_in_order),
		cmocka_unit_test(test_commands_in_order),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_stop_wakes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
