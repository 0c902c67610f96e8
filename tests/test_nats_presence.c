// SPDX-License-Identifier: MIT
/* Unit tests for src/nats_presence.c: the origin's picture of its edges' clients kept from
 * presence version 2 messages.  A delta that follows on is applied and told; a missed delta,
 * a new epoch, a count that disagrees or a lost snapshot part makes it ask that edge for a
 * snapshot (at most every NATS_PRES_ASK_EVERY_S); an edge that stopped sending is forgotten;
 * a heartbeat that agrees costs nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/nats_presence.h"

static const uint8_t SID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

struct fx {
	struct nats_pres_origin o;
	char asked[512];		/* "east,west," */
	char why[64];			/* the last ask's reason */
	unsigned nasked;
	struct nats_pres_tally last;	/* the last tally told */
	unsigned told;
};

static void on_ask(void *arg, const char *edge, const char *why)
{
	struct fx *f = arg;

	snprintf(f->asked + strlen(f->asked), sizeof(f->asked) - strlen(f->asked), "%s,", edge);
	snprintf(f->why, sizeof(f->why), "%s", why);
	f->nasked++;
}

static void on_told(void *arg, const char *edge, const struct nats_pres_tally *t)
{
	struct fx *f = arg;

	f->last = *t;
	f->told++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	nats_pres_origin_init(&f->o, SID);
	f->o.ask = on_ask;
	f->o.told = on_told;
	f->o.arg = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nats_pres_origin_free(&f->o);
	free(f);
	return 0;
}

static void clear(struct fx *f)
{
	f->asked[0] = '\0';
	f->nasked = 0;
	f->told = 0;
	memset(&f->last, 0, sizeof(f->last));
}

static enum nats_pres_result hear(struct fx *f, const char *edge, enum nats_pres_kind kind,
				  uint64_t epoch, uint64_t seq, uint32_t count, uint32_t part,
				  uint32_t parts, const char *data, uint32_t now)
{
	struct nats_pres m = {
		.kind = kind, .epoch = epoch, .seq = seq, .count = count, .part = part,
		.parts = parts,
	};

	memcpy(m.session, SID, 16);
	strcpy(m.edge, edge);
	return nats_pres_origin_hear(&f->o, &m, data, strlen(data), now);
}

#define HB(f, e, ep, sq, n, now) hear(f, e, NATS_PRES_HEARTBEAT, ep, sq, n, 0, 0, "", now)
#define DELTA(f, e, ep, sq, d, now) hear(f, e, NATS_PRES_DELTA, ep, sq, 0, 0, 0, d, now)
#define SNAP(f, e, ep, sq, n, part, parts, d, now) \
	hear(f, e, NATS_PRES_SNAPSHOT, ep, sq, n, part, parts, d, now)

static size_t listed(struct fx *f)
{
	return nats_pres_origin_each(&f->o, NULL, NULL);
}

static void find_who(void *arg, const char *edge, const struct nats_pres_member *m)
{
	char *buf = arg;

	snprintf(buf + strlen(buf), 512 - strlen(buf), "%s:%s/%s/%s;", edge, m->who,
		 m->native ? "native" : "raw", m->readonly ? "ro" : "rw");
}

/* A new edge is asked for a snapshot, at most every NATS_PRES_ASK_EVERY_S. */
static void test_unknown_edge_is_asked(void **state)
{
	struct fx *f = *state;

	assert_int_equal(HB(f, "east", 9, 40, 2, 100), NATS_PRES_IGNORED);
	assert_string_equal(f->asked, "east,");
	clear(f);
	assert_int_equal(HB(f, "east", 9, 40, 2, 101), NATS_PRES_IGNORED);
	assert_int_equal(f->nasked, 0);
	/* Deltas while not in step are not applied (what came before is unknown). */
	assert_int_equal(DELTA(f, "east", 9, 41, "+3 rw raw x\n", 101), NATS_PRES_IGNORED);
	assert_int_equal(listed(f), 0);
	assert_int_equal(f->told, 0);
	assert_int_equal(HB(f, "east", 9, 41, 3, 100 + NATS_PRES_ASK_EVERY_S), NATS_PRES_IGNORED);
	assert_string_equal(f->asked, "east,");
}

/* A snapshot in parts, then deltas that follow on, then a heartbeat that agrees. */
static void test_snapshot_then_deltas(void **state)
{
	struct fx *f = *state;
	char who[512] = "";

	HB(f, "east", 9, 40, 3, 100);
	clear(f);
	assert_int_equal(SNAP(f, "east", 9, 40, 3, 0, 2, "1 rw raw a\n2 ro native b\n", 100),
			 NATS_PRES_APPLIED);
	assert_int_equal(listed(f), 0);		/* not whole yet */
	assert_int_equal(SNAP(f, "east", 9, 40, 3, 1, 2, "7 rw raw c\n", 100), NATS_PRES_APPLIED);
	assert_int_equal(listed(f), 3);
	assert_int_equal(f->told, 1);
	assert_int_equal(f->last.joins, 3);
	assert_int_equal(f->last.leaves, 0);
	assert_int_equal(f->last.shown, 3);
	assert_true(nats_pres_origin_edge(&f->o, "east")->synced);
	clear(f);
	assert_int_equal(HB(f, "east", 9, 40, 3, 105), NATS_PRES_APPLIED);
	assert_int_equal(f->nasked, 0);
	assert_int_equal(f->told, 0);
	/* Deltas: a leave, a join. */
	assert_int_equal(DELTA(f, "east", 9, 41, "-1\n+8 ro raw d\n", 106), NATS_PRES_APPLIED);
	assert_int_equal(f->last.joins, 1);
	assert_int_equal(f->last.leaves, 1);
	assert_string_equal(f->last.first[0].who, "a");
	assert_false(f->last.first[0].joined);
	assert_string_equal(f->last.first[1].who, "d");
	assert_true(f->last.first[1].joined);
	assert_int_equal(listed(f), 3);
	nats_pres_origin_each(&f->o, find_who, who);
	assert_non_null(strstr(who, "east:b/native/ro;"));
	assert_non_null(strstr(who, "east:d/raw/ro;"));
	assert_null(strstr(who, "east:a/"));
	/* The same delta again (a repeat): ignored, and nothing asked. */
	clear(f);
	assert_int_equal(DELTA(f, "east", 9, 41, "-1\n+8 ro raw d\n", 106), NATS_PRES_IGNORED);
	assert_int_equal(f->nasked, 0);
	assert_int_equal(HB(f, "east", 9, 41, 3, 110), NATS_PRES_APPLIED);
	assert_int_equal(f->nasked, 0);
}

/* A delta missed: the next one is not applied, a snapshot is asked, and it tells only the
 * difference. */
static void test_missed_delta_asks_snapshot(void **state)
{
	struct fx *f = *state;

	HB(f, "east", 9, 40, 2, 100);
	SNAP(f, "east", 9, 40, 2, 0, 1, "1 rw raw a\n2 rw raw b\n", 100);
	clear(f);
	/* 41 lost: 42 arrives. */
	assert_int_equal(DELTA(f, "east", 9, 42, "+4 rw raw d\n", 120), NATS_PRES_IGNORED);
	assert_string_equal(f->asked, "east,");
	assert_string_equal(f->why, "a delta was missed");
	assert_false(nats_pres_origin_edge(&f->o, "east")->synced);
	assert_int_equal(f->told, 0);
	/* Still listed meanwhile, as last known. */
	assert_int_equal(listed(f), 2);
	clear(f);
	assert_int_equal(SNAP(f, "east", 9, 42, 3, 0, 1, "2 rw raw b\n3 rw raw c\n4 rw raw d\n",
			      121), NATS_PRES_APPLIED);
	assert_true(nats_pres_origin_edge(&f->o, "east")->synced);
	assert_int_equal(f->last.joins, 2);
	assert_int_equal(f->last.leaves, 1);
	assert_int_equal(listed(f), 3);
	/* And it goes on from 42. */
	clear(f);
	assert_int_equal(DELTA(f, "east", 9, 43, "-3\n", 122), NATS_PRES_APPLIED);
	assert_int_equal(listed(f), 2);
	/* A heartbeat whose count disagrees asks too. */
	assert_int_equal(HB(f, "east", 9, 43, 5, 130), NATS_PRES_IGNORED);
	assert_string_equal(f->asked, "east,");
	assert_string_equal(f->why, "its count disagrees");
}

/* A restarted edge (a new epoch), and an origin that restarted (it knows nothing): both end
 * in a snapshot. */
static void test_epoch_change(void **state)
{
	struct fx *f = *state;

	HB(f, "east", 9, 40, 1, 100);
	SNAP(f, "east", 9, 40, 1, 0, 1, "1 rw raw a\n", 100);
	clear(f);
	/* The new process numbers from 1 again, with another epoch: seq 41 is no follow-on. */
	assert_int_equal(DELTA(f, "east", 77, 41, "+1 rw raw z\n", 110), NATS_PRES_IGNORED);
	assert_string_equal(f->asked, "east,");
	assert_string_equal(f->why, "a new epoch");
	clear(f);
	assert_int_equal(HB(f, "east", 77, 1, 1, 113), NATS_PRES_IGNORED);
	assert_string_equal(f->asked, "east,");
	clear(f);
	assert_int_equal(SNAP(f, "east", 77, 1, 1, 0, 1, "1 rw raw z\n", 113), NATS_PRES_APPLIED);
	/* Same id, another client: one left, one joined. */
	assert_int_equal(f->last.joins, 1);
	assert_int_equal(f->last.leaves, 1);
	assert_true(nats_pres_origin_edge(&f->o, "east")->epoch == 77);
	assert_int_equal(DELTA(f, "east", 77, 2, "-1\n", 114), NATS_PRES_APPLIED);
	assert_int_equal(listed(f), 0);
}

/* A snapshot that lost a part is dropped whole, and asked again. */
static void test_lost_snapshot_part(void **state)
{
	struct fx *f = *state;

	HB(f, "east", 9, 40, 3, 100);
	clear(f);
	SNAP(f, "east", 9, 40, 3, 0, 3, "1 rw raw a\n", 100);
	assert_int_equal(SNAP(f, "east", 9, 40, 3, 2, 3, "3 rw raw c\n", 103), NATS_PRES_IGNORED);
	assert_string_equal(f->asked, "east,");
	assert_string_equal(f->why, "a snapshot part was missed");
	assert_int_equal(listed(f), 0);
	assert_false(nats_pres_origin_edge(&f->o, "east")->synced);
	/* A heartbeat between parts: the snapshot was cut short. */
	clear(f);
	SNAP(f, "east", 9, 40, 3, 0, 2, "1 rw raw a\n", 110);
	HB(f, "east", 9, 40, 3, 110);
	assert_int_equal(SNAP(f, "east", 9, 40, 3, 1, 2, "3 rw raw c\n", 110), NATS_PRES_IGNORED);
	assert_int_equal(listed(f), 0);
	/* A malformed part: refused, and asked again. */
	clear(f);
	assert_int_equal(SNAP(f, "east", 9, 40, 1, 0, 1, "1 rw raw a\nnonsense\n", 120),
			 NATS_PRES_REFUSED);
	assert_string_equal(f->asked, "east,");
	assert_int_equal(listed(f), 0);
}

/* An edge that stopped sending is forgotten; another session's or an ask is refused. */
static void test_expiry_and_refusals(void **state)
{
	struct fx *f = *state;
	struct nats_pres m = { .kind = NATS_PRES_HEARTBEAT, .epoch = 1, .seq = 1 };

	HB(f, "east", 9, 40, 1, 100);
	SNAP(f, "east", 9, 40, 1, 0, 1, "1 rw raw a\n", 100);
	HB(f, "west", 5, 1, 1, 110);
	SNAP(f, "west", 5, 1, 1, 0, 1, "1 rw raw w\n", 110);
	assert_int_equal(listed(f), 2);
	assert_int_equal(nats_pres_origin_expire(&f->o, 100 + NATS_PRESENCE_TTL_S), 0);
	assert_int_equal(nats_pres_origin_expire(&f->o, 101 + NATS_PRESENCE_TTL_S), 1);
	assert_null(nats_pres_origin_edge(&f->o, "east"));
	assert_int_equal(listed(f), 1);
	/* When it speaks again it is new: asked for its list. */
	clear(f);
	HB(f, "east", 9, 40, 1, 130);
	assert_string_equal(f->asked, "east,");

	memcpy(m.session, SID, 16);
	m.session[0] ^= 1;
	strcpy(m.edge, "north");
	assert_int_equal(nats_pres_origin_hear(&f->o, &m, "", 0, 130), NATS_PRES_REFUSED);
	assert_null(nats_pres_origin_edge(&f->o, "north"));
	m.session[0] ^= 1;
	m.kind = NATS_PRES_ASK;
	assert_int_equal(nats_pres_origin_hear(&f->o, &m, "", 0, 130), NATS_PRES_REFUSED);
	m.kind = NATS_PRES_HEARTBEAT;
	assert_int_equal(nats_pres_origin_hear(&f->o, &m, "data", 4, 130), NATS_PRES_REFUSED);
}

/* Many clients: a big snapshot, a storm of joins in a few deltas, and the steady state
 * touches none of them. */
static void test_many(void **state)
{
	struct fx *f = *state;
	const unsigned n = 16000;
	char *buf = malloc(NATS_PRES_CHUNK + 64);
	unsigned id = 1, seq = 1, msgs = 0;
	size_t len;

	HB(f, "east", 3, 1, 0, 100);
	SNAP(f, "east", 3, 1, 0, 0, 1, "", 100);
	assert_true(nats_pres_origin_edge(&f->o, "east")->synced);
	clear(f);
	/* 16,000 joins in deltas of at most NATS_PRES_CHUNK bytes. */
	while (id <= n) {
		len = 0;
		while (id <= n && len + 64 < NATS_PRES_CHUNK)
			len += (size_t)sprintf(buf + len, "+%u rw raw BOX\\u (tcp 10.0.%u.%u:40000)\n",
					       id, id / 256, id % 256), id++;
		assert_int_equal(DELTA(f, "east", 3, ++seq, buf, 101), NATS_PRES_APPLIED);
		msgs++;
	}
	assert_true(msgs <= 24);
	assert_int_equal(listed(f), n);
	assert_int_equal(f->nasked, 0);
	/* Told in one line per message, not one per join. */
	assert_int_equal(f->told, msgs);
	for (unsigned k = 0; k < 1000; k++)
		assert_int_equal(HB(f, "east", 3, seq, n, 102 + k), NATS_PRES_APPLIED);
	assert_int_equal(f->nasked, 0);
	assert_int_equal(f->o.heartbeats, 1001);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unknown_edge_is_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_then_deltas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missed_delta_asks_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_snapshot_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
