// SPDX-License-Identifier: MIT
/* Unit tests for the repeater's downstream half (src/repeater_down.c, src/repeater_subs.c) on a
 * real local session (src/session.c, its ring and transcript) with no connection upstream:
 * what the repeater would send the origin is read back from the connection's pending queue.
 * The mirror: records land at the origin's offsets with their kinds, in order, also when a
 * pinned chunk holds them back, and a jump goes in its place among them.  The clients: kept
 * sorted by id, registered with their names and roles, at most REPEATER_AUTH_MAX proofs at
 * once, and lines typed while the origin was away sent once it is back, for clients still
 * there only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/client.h"
#include "src/proto.h"
#include "src/repeater_internal.h"
#include "src/writer.h"

#define NFAKE 16

struct fixture {
	struct repeater rep;
	struct repeater_options opt;
	struct client fake[NFAKE];	/* clients of ours, as the table sees them */
};

static void quiet_log(void *arg, const char *line)
{
}

static void l_send(struct remote_link *l, const uint8_t *p, size_t n) { }
static void l_show(struct remote_link *l, enum rlink_show k, const char *p, size_t n) { }
static void l_ask(struct remote_link *l) { }
static void l_live(struct remote_link *l) { }
static void l_jump(struct remote_link *l) { }
static void r_lost(struct remote_link *l) { }

static const struct rlink_ops link_ops = { l_send, l_show, l_ask, l_live, l_jump };
static const struct rlink_relay_ops relay_ops = { .lost = r_lost };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ringside_callbacks cb = { .log = quiet_log };
	struct repeater *rep;
	char err[256];

	if (!f)
		return -1;
	rep = &f->rep;
	ringside_params_init(&f->opt.params);
	f->opt.params.ring_bytes = 256 * 1024;
	rep->opt = &f->opt;
	rep->down = calloc(1, sizeof(*rep->down));
	if (!rep->down || session_init(rep->down, &f->opt.params, &cb, rep, err, sizeof(err)) < 0) {
		fprintf(stderr, "session_init: %s\n", err);
		return -1;
	}
	repeater_down_attach(rep);
	/* A live relay whose bytes stay queued: no socket. */
	rep->up.conn.fd = -1;
	rep->up.conn.st = CONN_LIVE;
	rlink_init(&rep->up.link, &link_ops, "TESTBOX\\rep");
	rep->up.link.relay = &relay_ops;
	rep->up.link.state = RLINK_LIVE;
	for (unsigned i = 0; i < NFAKE; i++) {
		f->fake[i].hub = &rep->down->hub;
		f->fake[i].state = CLIENT_LIVE;
		f->fake[i].idle_index = -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct repeater *rep = &f->rep;

	rsub_free_all(rep);
	repeater_mirror_free(&rep->mirror);
	session_destroy(rep->down);
	free(rep->down);
	rlink_free(&rep->up.link);
	bytes_free(&rep->up.conn.pending);
	bytes_free(&rep->up.held);
	bytes_free(&rep->up.err.q);
	free(f);
	return 0;
}

/* The records queued for the origin, from the first not yet taken. */
struct sent {
	struct proto_header h;
	struct proto_msg m;	/* TLV types only */
	const uint8_t *p;
};

static unsigned sent_records(struct fixture *f, struct sent *out, unsigned max)
{
	const struct bytes *b = &f->rep.up.conn.pending;
	size_t i = 0;
	unsigned n = 0;

	while (i < b->len) {
		struct proto_header h;

		assert_true(b->len - i >= PROTO_HEADER_SIZE);
		assert_int_equal(proto_header_decode(b->p + i, &h), 0);
		assert_true(b->len - i - PROTO_HEADER_SIZE >= h.length);
		assert_true(n < max);
		out[n].h = h;
		out[n].p = b->p + i + PROTO_HEADER_SIZE;
		memset(&out[n].m, 0, sizeof(out[n].m));
		if (proto_type_tlv(h.type))
			assert_int_equal(proto_msg_decode(out[n].p, h.length, &out[n].m), 0);
		n++;
		i += PROTO_HEADER_SIZE + h.length;
	}
	return n;
}

static struct client *fake(struct fixture *f, unsigned i, uint32_t id)
{
	f->fake[i].id = id;
	return &f->fake[i];
}

/* ---- the mirror ------------------------------------------------------- */

static void test_mirror_at_the_origins_offsets_with_kinds(void **state)
{
	struct fixture *f = *state;
	struct repeater *rep = &f->rep;
	struct transcript *t = &rep->down->hub.tr;
	uint64_t end;
	const char *p;

	repeater_down_jump(rep, 70000);
	assert_true(t->head == 70000 && transcript_oldest(t) == 70000);
	repeater_down_record(rep, PROTO_OUTPUT, (const uint8_t *)"(gdb) ", 6);
	repeater_down_record(rep, PROTO_TYPED, (const uint8_t *)"BOX\\bob: bt\r\n", 13);
	repeater_down_record(rep, PROTO_NOTICE, (const uint8_t *)"joined\r\n", 8);
	assert_true(t->head == 70000 + 27 && rep->mirror.end == t->head);
	assert_int_equal(transcript_span(t, 70000, &p), 27);
	assert_memory_equal(p, "(gdb) BOX\\bob: bt\r\njoined\r\n", 27);
	assert_int_equal(transcript_kind_at(t, 70000, &end), TRANSCRIPT_OUTPUT);
	assert_true(end == 70006);
	assert_int_equal(transcript_kind_at(t, 70006, &end), TRANSCRIPT_TYPED);
	assert_true(end == 70019);
	assert_int_equal(transcript_kind_at(t, 70019, &end), TRANSCRIPT_NOTICE);
	assert_int_equal(rep->up.relay_backlog, 0);
}

static void test_mirror_waits_for_a_pinned_chunk_in_order(void **state)
{
	struct fixture *f = *state;
	struct repeater *rep = &f->rep;
	struct hub *h = &rep->down->hub;
	struct transcript *t = &h->tr;
	static char big[300 * 1024];
	const char *p;
	uint64_t base = 4 * t->chunk;

	memset(big, 'o', sizeof(big));
	repeater_down_jump(rep, base);
	/* A send in flight holds the first chunk: the writer stops before it
	 * comes round to it. */
	transcript_pin(t, base);
	repeater_down_record(rep, PROTO_OUTPUT, (const uint8_t *)big, t->cap);
	assert_true(t->head < base + t->cap);
	repeater_down_record(rep, PROTO_NOTICE, (const uint8_t *)"N\r\n", 3);
	/* What waits counts against reading the origin's socket. */
	assert_int_equal(rep->up.relay_backlog, base + t->cap + 3 - t->head);
	assert_true(rep->mirror.end == base + t->cap + 3);
	/* A jump waits its turn behind them. */
	repeater_down_jump(rep, base + t->cap + 1000);
	repeater_down_record(rep, PROTO_OUTPUT, (const uint8_t *)"after", 5);
	assert_true(t->head < base + t->cap);
	transcript_unpin(t, base);
	rep->over.ops.unpinned(h);
	/* The jump restarted the transcript: only "after" is held now. */
	assert_int_equal(rep->up.relay_backlog, 0);
	assert_true(transcript_oldest(t) == base + t->cap + 1000);
	assert_true(t->head == base + t->cap + 1005);
	assert_int_equal(transcript_span(t, base + t->cap + 1000, &p), 5);
	assert_memory_equal(p, "after", 5);
}

/* ---- the clients ------------------------------------------------------ */

static void test_subs_sorted_registered_with_role(void **state)
{
	struct fixture *f = *state;
	struct repeater *rep = &f->rep;
	static const uint32_t ids[] = { 7, 3, 11, 5, 9 };
	struct sent s[8];
	struct rsub *rs;

	for (unsigned i = 0; i < 5; i++)
		assert_non_null(rsub_add(rep, fake(f, i, ids[i]), RSUB_ADMITTED));
	for (unsigned i = 1; i < rep->nsubs; i++)
		assert_true(rep->subs[i - 1]->id < rep->subs[i]->id);
	assert_ptr_equal(rsub_find(rep, 11)->c, &f->fake[2]);
	assert_null(rsub_find(rep, 4));
	rsub_remove(rep, rsub_find(rep, 5));
	assert_null(rsub_find(rep, 5));
	assert_int_equal(rep->nsubs, 4);
	f->fake[2].readonly = true;
	rs = rsub_find(rep, 11);
	rsub_register(rep, rs, true);
	assert_true(rs->registered);
	assert_int_equal(sent_records(f, s, 8), 1);
	assert_int_equal(s[0].h.type, PROTO_SUB_HELLO);
	assert_true(s[0].h.seq == 11);
	assert_true(s[0].m.has_identity && s[0].m.has_role && s[0].m.role == 1);
	assert_true(s[0].m.has_rejoin && s[0].m.rejoin == 1);
}

static void test_subs_proofs_take_slots(void **state)
{
	struct fixture *f = *state;
	struct repeater *rep = &f->rep;
	struct sent s[NFAKE];
	unsigned n;

	for (unsigned i = 0; i < REPEATER_AUTH_MAX + 3; i++)
		assert_non_null(rsub_add(rep, fake(f, i, 100 + i), RSUB_QUEUED));
	rsub_pump(rep);
	n = sent_records(f, s, NFAKE);
	assert_int_equal(n, REPEATER_AUTH_MAX);
	assert_int_equal(rep->nauth, REPEATER_AUTH_MAX);
	for (unsigned i = 0; i < n; i++) {
		/* In arrival order, and asking for a proof. */
		assert_int_equal(s[i].h.type, PROTO_SUB_HELLO);
		assert_true(s[i].h.seq == 100 + i);
		assert_false(s[i].m.has_rejoin);
	}
	/* One answered: the next waiting one goes. */
	rsub_remove(rep, rsub_find(rep, 102));
	assert_int_equal(rep->nauth, REPEATER_AUTH_MAX - 1);
	rsub_pump(rep);
	assert_int_equal(sent_records(f, s, NFAKE), REPEATER_AUTH_MAX + 1);
	assert_true(s[REPEATER_AUTH_MAX].h.seq == 100 + REPEATER_AUTH_MAX);
	/* Nothing goes while the origin is not there. */
	rep->up.link.state = RLINK_PREAMBLE;
	rsub_remove(rep, rsub_find(rep, 103));
	rsub_pump(rep);
	assert_int_equal(sent_records(f, s, NFAKE), REPEATER_AUTH_MAX + 1);
}

static void test_lines_held_while_away_go_for_those_still_here(void **state)
{
	struct fixture *f = *state;
	struct repeater *rep = &f->rep;
	struct rsub *a, *b;
	struct sent s[8];
	unsigned n;

	a = rsub_add(rep, fake(f, 0, 21), RSUB_ADMITTED);
	b = rsub_add(rep, fake(f, 1, 22), RSUB_ADMITTED);
	a->told_held = b->told_held = true;	/* (the message is not under test) */
	rep->up.link.state = RLINK_PREAMBLE;	/* the origin is away */
	rsub_send_line(rep, a, "info registers", 14);
	rsub_send_line(rep, b, "bt", 2);
	rsub_send_line(rep, a, "", 0);
	assert_int_equal(sent_records(f, s, 8), 0);
	assert_true(rep->up.held.len > 0);
	/* B leaves before the origin is back. */
	rsub_remove(rep, b);
	rep->up.link.state = RLINK_LIVE;
	repeater_down_relaying(rep, true);
	n = sent_records(f, s, 8);
	/* A is registered again (it was admitted before: REJOIN), then its
	 * lines, in order; B's line is dropped. */
	assert_int_equal(n, 3);
	assert_int_equal(s[0].h.type, PROTO_SUB_HELLO);
	assert_true(s[0].h.seq == 21 && s[0].m.rejoin == 1);
	assert_int_equal(s[1].h.type, PROTO_SUB_INPUT);
	assert_true(s[1].h.seq == 21 && s[1].h.length == 14);
	assert_memory_equal(s[1].p, "info registers", 14);
	assert_int_equal(s[2].h.type, PROTO_SUB_INPUT);
	assert_true(s[2].h.length == 0);
	assert_int_equal(rep->up.held.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_mirror_at_the_origins_offsets_with_kinds),
		T(test_mirror_waits_for_a_pinned_chunk_in_order),
		T(test_subs_sorted_registered_with_role),
		T(test_subs_proofs_take_slots),
		T(test_lines_held_while_away_go_for_those_still_here),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
