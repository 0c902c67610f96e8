// SPDX-License-Identifier: MIT
/* Unit tests for src/nats_publish.c, the origin's loop half, against a fake bridge: the test
 * plays the NATS thread through the channel.  A batch waits for the thread to ask, is cut at
 * kind boundaries, is the only one in flight, starts with an explicit gap when the stream is
 * behind what the transcript holds, and resumes where the thread says after an outage; the end
 * is published last and holds the session's end until acknowledged; edge input is fed with
 * its typist's name, read-only or malformed input refused; edges' client lists reach
 * .clients and expire. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/meta.h"
#include "src/nats_presence.h"
#include "src/nats_publish.h"
#include "src/session.h"
#include "src/writer.h"

/* The fake bridge: nothing runs; the test is the thread. */
static struct nats_chan *fake_ch;
static struct nbridge_params fake_params;
static int fake_stops;

static int fake_start(struct nbridge **out, const struct nbridge_params *p, struct nats_chan *ch,
		      char *err, size_t errlen)
{
	fake_ch = ch;
	fake_params = *p;
	*out = (struct nbridge *)&fake_ch;
	return 0;
}

static void fake_stop(struct nbridge *b)
{
	fake_stops++;
}

static const struct nbridge_impl fake = { .start = fake_start, .stop = fake_stop };

/* What the host's command callback heard. */
static char heard_who[256], heard_line[256];
static int heard;

static int on_command(void *arg, const struct ringside_client *who, const char *line, size_t len)
{
	snprintf(heard_who, sizeof(heard_who), "%s", who->identity);
	snprintf(heard_line, sizeof(heard_line), "%.*s", (int)len, line);
	heard++;
	return 0;
}

static void quiet_log(void *arg, const char *line)
{
}

struct fixture {
	struct session s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ringside_callbacks cb = { .command = on_command, .log = quiet_log };
	struct ringside_params p;
	char err[256];

	ringside_params_init(&p);
	p.ring_bytes = 256 * 1024;
	assert_int_equal(session_init(&f->s, &p, &cb, NULL, err, sizeof(err)), 0);
	fake_ch = NULL;
	fake_stops = 0;
	heard = 0;
	assert_int_equal(nats_pub_start(&f->s.hub, "nats://127.0.0.1:4222,session=t", &fake, err,
					 sizeof(err)), 0);
	assert_non_null(fake_ch);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	session_destroy(&f->s);
	assert_int_equal(fake_stops, 1);
	free(f);
	return 0;
}

static void turns(struct session *s, int n)
{
	for (int i = 0; i < n; i++)
		session_run_once(s, 5);
}

static void post(enum nats_item_type type, uint64_t a)
{
	struct nats_item *it = nats_item_new(type, 0);

	it->a = a;
	nats_chan_post(fake_ch, it);
}

/* The next batch handed to the thread (NULL: none), up to its end; *END is its end. */
static struct nats_item *batch(uint64_t *end)
{
	struct nats_item *head = NULL, **tail = &head, *it;
	bool stop;

	while ((it = nats_chan_next_cmd(fake_ch, 0, &stop))) {
		if (it->type == NCMD_BATCH_END) {
			*end = it->a;
			free(it);
			return head;
		}
		assert_int_equal(it->type, NCMD_RECORD);
		*tail = it;
		tail = &it->next;
	}
	assert_null(head);
	return NULL;
}

static void output(struct session *s, const char *text)
{
	assert_int_equal(writer_output(&s->hub, text, strlen(text)), (ssize_t)strlen(text));
}

static void test_waits_to_be_asked(void **state)
{
	struct fixture *f = *state;
	struct nats_item *b, *it;
	uint64_t end = 0;

	output(&f->s, "before\r\n");
	turns(&f->s, 3);
	assert_null(batch(&end));		/* not connected: nothing cut */
	assert_memory_equal(fake_params.session, f->s.hub.id, 16);
	assert_string_equal(fake_params.conf.session, "t");
	post(NEV_UP, 0);
	post(NEV_WANT, 0);
	turns(&f->s, 3);
	b = batch(&end);
	assert_non_null(b);
	/* A "running" state first, then the bytes. */
	assert_int_equal(b->rec.kind, NATS_STATE);
	assert_false(b->rec.ended);
	it = b->next;
	assert_int_equal(it->rec.kind, NATS_OUTPUT);
	assert_int_equal(it->rec.offset, 0);
	assert_int_equal(it->len, 8);
	assert_memory_equal(it->data, "before\r\n", 8);
	assert_memory_equal(it->rec.session, f->s.hub.id, 16);
	assert_null(it->next);
	assert_int_equal(end, 8);
	nats_item_free_list(b);
	/* One batch in flight: more output waits for the answer. */
	output(&f->s, "more\r\n");
	turns(&f->s, 3);
	assert_null(batch(&end));
	post(NEV_WANT, 8);
	turns(&f->s, 3);
	b = batch(&end);
	assert_non_null(b);
	assert_int_equal(b->rec.offset, 8);
	assert_int_equal(b->rec.kind, NATS_OUTPUT);
	assert_null(b->next);
	assert_int_equal(end, 14);
	nats_item_free_list(b);
}

static void test_cut_at_kinds(void **state)
{
	struct fixture *f = *state;
	struct nats_item *b, *it;
	uint64_t end = 0;

	output(&f->s, "out");
	writer_emitf(&f->s.hub, "a notice");
	writer_typedf(&f->s.hub, "bob: ls");
	output(&f->s, "tail");
	post(NEV_UP, 0);
	post(NEV_WANT, 0);
	turns(&f->s, 3);
	b = batch(&end);
	assert_non_null(b);
	it = b->next;		/* after the state */
	assert_int_equal(it->rec.kind, NATS_OUTPUT);
	assert_int_equal(it->len, 3);
	it = it->next;
	assert_int_equal(it->rec.kind, NATS_NOTICE);
	assert_int_equal(it->rec.offset, 3);
	it = it->next;
	assert_int_equal(it->rec.kind, NATS_TYPED);
	assert_memory_equal(it->data, "bob: ls\r\n", 9);
	it = it->next;
	assert_int_equal(it->rec.kind, NATS_OUTPUT);
	assert_memory_equal(it->data, "tail", 4);
	assert_int_equal(it->rec.end, f->s.hub.tr.head);
	assert_int_equal(end, f->s.hub.tr.head);
	nats_item_free_list(b);
}

static void fill(struct session *s, size_t n)
{
	char buf[4096];

	memset(buf, 'x', sizeof(buf));
	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		assert_int_equal(writer_output(&s->hub, buf, k), (ssize_t)k);
		n -= k;
	}
}

static void test_outage_gap_and_resume(void **state)
{
	struct fixture *f = *state;
	struct transcript *tr = &f->s.hub.tr;
	struct nats_item *b, *it;
	uint64_t end = 0, oldest, total = 0;

	post(NEV_UP, 0);
	post(NEV_WANT, 0);
	output(&f->s, "0123456789");
	turns(&f->s, 3);
	nats_item_free_list(batch(&end));
	assert_int_equal(end, 10);
	/* NATS goes away with the batch; the session goes on, far past what
	 * its ring keeps. */
	post(NEV_DOWN, 0);
	turns(&f->s, 3);
	fill(&f->s, 600 * 1024);
	turns(&f->s, 3);
	assert_null(batch(&end));
	oldest = transcript_oldest(tr);
	assert_true(oldest > 10);
	/* Back: the stream ends at 10 (the batch was stored after all). */
	post(NEV_UP, 0);
	post(NEV_WANT, 10);
	turns(&f->s, 3);
	b = batch(&end);
	assert_non_null(b);
	assert_int_equal(b->rec.kind, NATS_STATE);
	it = b->next;
	assert_int_equal(it->rec.kind, NATS_GAP);
	assert_int_equal(it->rec.offset, 10);
	assert_int_equal(it->rec.end, oldest);
	for (it = it->next; it; it = it->next) {
		assert_int_equal(it->rec.offset, oldest + total);
		assert_true(it->len <= NATS_REC_MAX);
		total += it->len;
	}
	assert_true(total <= NATS_PUB_BATCH);
	assert_int_equal(end, oldest + total);
	nats_item_free_list(b);
	/* The thread answers each batch: batches follow until the head. */
	for (int i = 0; i < 10 && end < tr->head; i++) {
		uint64_t from = end;

		post(NEV_WANT, from);
		turns(&f->s, 3);
		b = batch(&end);
		assert_non_null(b);
		assert_int_equal(b->rec.offset, from);
		nats_item_free_list(b);
	}
	assert_int_equal(end, tr->head);
	/* A thread that says "from 20" (it lost what came after): from 20. */
	post(NEV_WANT, oldest + 20);
	turns(&f->s, 3);
	b = batch(&end);
	assert_int_equal(b->rec.offset, oldest + 20);
	nats_item_free_list(b);
}

static void test_end_published_last(void **state)
{
	struct fixture *f = *state;
	struct nats_item *b, *it;
	uint64_t end = 0;
	int res = 0;

	post(NEV_UP, 0);
	post(NEV_WANT, 0);
	output(&f->s, "bye\r\n");
	turns(&f->s, 3);
	nats_item_free_list(batch(&end));
	session_end(&f->s, 3);
	post(NEV_WANT, end);
	turns(&f->s, 3);
	b = batch(&end);
	assert_non_null(b);
	for (it = b; it->next; it = it->next)
		assert_int_equal(it->rec.kind, NATS_NOTICE);	/* "the session has ended" */
	assert_int_equal(it->rec.kind, NATS_STATE);
	assert_true(it->rec.ended);
	assert_int_equal(it->rec.status, 3);
	assert_int_equal(it->rec.offset, f->s.hub.tr.head);
	nats_item_free_list(b);
	/* Not over until the end is in the stream. */
	assert_false(nats_pub_flushed(&f->s.hub));
	for (int i = 0; i < 5; i++)
		res = session_run_once(&f->s, 5);
	assert_int_equal(res, 0);
	post(NEV_WANT, f->s.hub.tr.head);
	for (int i = 0; i < 20 && res == 0; i++)
		res = session_run_once(&f->s, 5);
	assert_true(nats_pub_flushed(&f->s.hub));
	assert_int_equal(res, 1);
}

static void post_input(const uint8_t *sid, const char *who, bool ro, const char *line)
{
	struct nats_item *it = nats_item_new(NEV_INPUT, strlen(line));

	memcpy(it->in.session, sid, 16);
	strcpy(it->in.who, who);
	strcpy(it->in.edge, "east");
	it->in.readonly = ro;
	memcpy(it->data, line, strlen(line));
	nats_chan_post(fake_ch, it);
}

static void test_input_from_edges(void **state)
{
	struct fixture *f = *state;
	struct hub *h = &f->s.hub;
	uint8_t other[16];
	uint64_t from = h->tr.head;

	post_input(h->id, "BOX\\bob (tcp 10.0.0.2:7)", false, "bt");
	turns(&f->s, 3);
	assert_int_equal(heard, 1);
	assert_string_equal(heard_who, "BOX\\bob (tcp 10.0.0.2:7) via edge east");
	assert_string_equal(heard_line, "bt");
	assert_non_null(strstr(text_from(h, from), "BOX\\bob (tcp 10.0.0.2:7) via edge east: bt\r\n"));
	/* Read-only, malformed, or for another session: refused. */
	post_input(h->id, "eve", true, "kill");
	post_input(h->id, "eve", false, "a\nb");
	memcpy(other, h->id, 16);
	other[0] ^= 1;
	post_input(other, "eve", false, "old");
	turns(&f->s, 3);
	assert_int_equal(heard, 1);
	assert_null(strstr(text_from(h, from), "eve"));
}

static void post_presence(const uint8_t *sid, const char *edge, enum nats_pres_kind kind,
			  uint64_t seq, uint32_t count, const char *data)
{
	struct nats_item *it = nats_item_new(NEV_PRESENCE, strlen(data));

	it->pres.kind = kind;
	memcpy(it->pres.session, sid, 16);
	strcpy(it->pres.edge, edge);
	it->pres.epoch = 0x1234;
	it->pres.seq = seq;
	it->pres.count = count;
	it->pres.parts = 1;
	memcpy(it->data, data, strlen(data));
	nats_chan_post(fake_ch, it);
}

/* The edges asked for a snapshot since last time, as "east,west,". */
static void asked(char *out, size_t len)
{
	struct nats_item *it;
	bool stop;

	out[0] = '\0';
	while ((it = nats_chan_next_cmd(fake_ch, 0, &stop))) {
		if (it->type == NCMD_PRESENCE_ASK) {
			assert_int_equal(it->pres.kind, NATS_PRES_ASK);
			snprintf(out + strlen(out), len - strlen(out), "%s,", it->pres.edge);
		}
		free(it);
	}
}

static void test_presence_in_clients(void **state)
{
	struct fixture *f = *state;
	struct hub *h = &f->s.hub;
	char who_asked[256];
	uint64_t from;

	/* An edge first heard from by its heartbeat is asked for its list. */
	post_presence(h->id, "east", NATS_PRES_HEARTBEAT, 5, 2, "");
	turns(&f->s, 3);
	asked(who_asked, sizeof(who_asked));
	assert_string_equal(who_asked, "east,");
	from = h->tr.head;
	post_presence(h->id, "east", NATS_PRES_SNAPSHOT, 5, 2,
		      "1 rw raw BOX\\bob (tcp 1.2.3.4:5)\n2 ro native eve\n");
	post_presence(h->id, "west", NATS_PRES_SNAPSHOT, 1, 1, "bad list");
	turns(&f->s, 3);
	/* Joins at an edge are told at the origin, as its own clients' are. */
	assert_non_null(strstr(text_from(h, from), "BOX\\bob (tcp 1.2.3.4:5) via edge east "
				"connected at "));
	assert_non_null(strstr(text_from(h, from), "eve via edge east connected at "));
	/* A heartbeat that agrees: nothing told, nothing asked. */
	from = h->tr.head;
	post_presence(h->id, "east", NATS_PRES_HEARTBEAT, 5, 2, "");
	turns(&f->s, 3);
	assert_int_equal(h->tr.head, from);
	asked(who_asked, sizeof(who_asked));
	assert_string_equal(who_asked, "west,");
	from = h->tr.head;
	assert_true(meta_execute(h, NULL, ".clients", 8));
	assert_non_null(strstr(text_from(h, from), "BOX\\bob (tcp 1.2.3.4:5) via edge east (edge "
				"client, raw, read-write)\r\n"));
	assert_non_null(strstr(text_from(h, from), "eve via edge east (edge client, native, "
				"read-only)\r\n"));
	assert_null(strstr(text_from(h, from), "west"));
	/* A leave, by the next delta; and many changes at once are told in one line. */
	from = h->tr.head;
	post_presence(h->id, "east", NATS_PRES_DELTA, 6, 0, "-1\n");
	turns(&f->s, 3);
	assert_non_null(strstr(text_from(h, from), "BOX\\bob (tcp 1.2.3.4:5) via edge east "
				"disconnected at "));
	assert_null(strstr(text_from(h, from), "eve"));
	from = h->tr.head;
	post_presence(h->id, "east", NATS_PRES_DELTA, 7, 0, "+3 rw raw a\n+4 rw raw b\n"
		      "+5 rw raw c\n+6 rw raw d\n+7 rw raw e\n+8 rw raw f\n+9 rw raw g\n"
		      "+10 rw raw h\n+11 rw raw i\n-2\n");
	turns(&f->s, 3);
	assert_non_null(strstr(text_from(h, from), "ringside: 9 clients connected and 1 "
				"disconnected at edge east by "));
	asked(who_asked, sizeof(who_asked));
	assert_string_equal(who_asked, "");
	/* An edge not heard from for a while is forgotten. */
	h->now += NATS_PRESENCE_TTL_S + 1;
	from = h->tr.head;
	assert_true(meta_execute(h, NULL, ".clients", 8));
	assert_null(strstr(text_from(h, from), "via edge"));
}

static void test_publish_meta(void **state)
{
	struct fixture *f = *state;
	struct hub *h = &f->s.hub;
	uint64_t from = h->tr.head;
	char err[256];

	assert_int_equal(nats_pub_start(h, "nats://h:1", &fake, err, sizeof(err)), -EALREADY);
	assert_true(meta_execute(h, NULL, ".publish", 8));
	assert_non_null(strstr(text_from(h, from), "publishing to nats://127.0.0.1:4222 session t: "
				"not connected; acknowledged up to offset 0"));
	assert_true(meta_execute(h, NULL, ".publish off", 12));
	assert_non_null(strstr(text_from(h, from), "publishing stopped"));
	turns(&f->s, 3);
	assert_null(h->pub);
	from = h->tr.head;
	assert_true(meta_execute(h, NULL, ".publish nats://x", 17));
	assert_non_null(strstr(text_from(h, from), ".publish: expected nats://HOST:PORT"));
	/* Started again (the fake counts one more stop at the end). */
	assert_int_equal(nats_pub_start(h, "nats://127.0.0.1:4222,session=t", &fake, err,
					sizeof(err)), 0);
	fake_stops = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_waits_to_be_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_at_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outage_gap_and_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_published_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_from_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presence_in_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_meta, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
