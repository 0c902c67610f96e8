// SPDX-License-Identifier: MIT
/* Unit tests for src/nats_edge.c, an edge's loop half, against a fake bridge: the test plays
 * the NATS thread through the channel.  The transcript takes the origin's offsets (the first
 * record's), skips what it holds already (a redelivery, whole or in part), jumps over what the
 * stream dropped and over gap records, keeps each record's kind; the origin's end ends the
 * edge with its status, another session under the name ends it too; lines typed here go to
 * the origin with the typist's name while meta-commands stay here, answered privately; and
 * the client list goes out. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/client.h"
#include "src/nats_edge.h"
#include "src/session.h"

static struct nats_chan *fake_ch;
static struct nbridge_params fake_params;

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
}

static const struct nbridge_impl fake = { .start = fake_start, .stop = fake_stop };

static const uint8_t SID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

struct fixture {
	struct nats_edge *e;
	struct edge_options opt;
	char spec[64];
	char *servers[1];
	int in_w, out_r;	/* the console's other ends */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	int in[2], out[2];

	snprintf(f->spec, sizeof(f->spec), "tcp:port=%u", test_free_port(INADDR_LOOPBACK));
	f->servers[0] = f->spec;
	f->opt.nats = "nats://127.0.0.1:4222,session=t,name=e1";
	f->opt.servers = f->servers;
	f->opt.nservers = 1;
	ringside_params_init(&f->opt.params);
	f->opt.params.ring_bytes = 256 * 1024;
	assert_int_equal(nats_edge_new(&f->e, &f->opt, &fake, err, sizeof(err)), 0);
	assert_int_equal(fake_params.role, NBRIDGE_EDGE);
	assert_string_equal(fake_params.conf.name, "e1");
	assert_int_equal(fake_params.want_bytes, 128 * 1024);
	/* A console: a local client that types. */
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(session_console(nats_edge_session(f->e), in[0], out[1], err, sizeof(err)),
			 0);
	f->in_w = in[1];
	f->out_r = out[0];
	fcntl(f->out_r, F_SETFL, O_NONBLOCK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nats_edge_free(f->e);
	close(f->in_w);
	close(f->out_r);
	free(f);
	return 0;
}

static int turns(struct nats_edge *e, int n)
{
	int res = 0;

	for (int i = 0; i < n && res == 0; i++)
		res = nats_edge_run_once(e, 5);
	return res;
}

static void post_rec(enum nats_item_type type, const uint8_t *sid, enum nats_kind kind,
		     uint64_t off, const char *data, uint64_t seq)
{
	size_t n = data ? strlen(data) : 0;
	struct nats_item *it = nats_item_new(type, type == NEV_RECORD ? n : 0);

	memcpy(it->rec.session, sid, 16);
	it->rec.kind = kind;
	it->rec.offset = off;
	it->rec.end = off + n;
	it->seq = seq;
	if (type == NEV_RECORD && n)
		memcpy(it->data, data, n);
	nats_chan_post(fake_ch, it);
}

/* Up, with the session SID, and serving. */
static struct hub *up(struct fixture *f)
{
	struct hub *h;

	assert_null(nats_edge_session(f->e)->hub.servers);
	post_rec(NEV_UP, SID, NATS_OUTPUT, 1000, NULL, 9);
	turns(f->e, 3);
	h = &nats_edge_session(f->e)->hub;
	assert_memory_equal(h->id, SID, 16);
	assert_int_equal(h->nservers, 1);
	assert_non_null(h->fed_from);
	assert_string_equal(h->fed_from, "nats://127.0.0.1:4222 session t as edge e1");
	return h;
}

static void test_origin_offsets(void **state)
{
	struct fixture *f = *state;
	struct hub *h = up(f);
	uint64_t end;

	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 1000, "hello", 10);
	turns(f->e, 3);
	assert_int_equal(transcript_oldest(&h->tr), 1000);
	assert_int_equal(h->tr.head, 1005);
	assert_string_equal(text_from(h, transcript_oldest(&h->tr)), "hello");
	/* Redelivered, whole and in part: nothing twice. */
	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 1000, "hello", 10);
	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 1003, "lo wo", 11);
	turns(f->e, 3);
	assert_string_equal(text_from(h, transcript_oldest(&h->tr)), "hello wo");
	assert_int_equal(nats_edge_end(f->e), 1008);
	/* Kinds are kept. */
	post_rec(NEV_RECORD, SID, NATS_NOTICE, 1008, "\r\nnote\r\n", 12);
	turns(f->e, 3);
	assert_int_equal(transcript_kind_at(&h->tr, 1010, &end), TRANSCRIPT_NOTICE);
	assert_int_equal(end, 1016);
	assert_int_equal(transcript_kind_at(&h->tr, 1004, &end), TRANSCRIPT_OUTPUT);
	/* The stream dropped 1016..2000: a jump, then on. */
	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 2000, "abc", 13);
	turns(f->e, 3);
	assert_int_equal(transcript_oldest(&h->tr), 2000);
	assert_string_equal(text_from(h, transcript_oldest(&h->tr)), "abc");
	/* A gap record: bytes go on where it ends. */
	{
		struct nats_item *it = nats_item_new(NEV_RECORD, 0);

		memcpy(it->rec.session, SID, 16);
		it->rec.kind = NATS_GAP;
		it->rec.offset = 2003;
		it->rec.end = 3000;
		it->seq = 14;
		nats_chan_post(fake_ch, it);
	}
	post_rec(NEV_RECORD, SID, NATS_TYPED, 3000, "bob: ls\r\n", 15);
	turns(f->e, 3);
	assert_int_equal(transcript_oldest(&h->tr), 3000);
	assert_string_equal(text_from(h, transcript_oldest(&h->tr)), "bob: ls\r\n");
	assert_int_equal(transcript_kind_at(&h->tr, 3000, &end), TRANSCRIPT_TYPED);
}

/* A session that starts at offset 0: what starting the edge's servers said is not in the
 * way (a client that read it would otherwise find the transcript going backwards). */
static void test_offset_zero(void **state)
{
	struct fixture *f = *state;
	struct hub *h = up(f);
	char buf[8192];
	ssize_t n, got = 0;

	turns(f->e, 5);
	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 0, "first-line\r\n", 10);
	turns(f->e, 10);
	assert_int_equal(transcript_oldest(&h->tr), 0);
	assert_string_equal(text_from(h, transcript_oldest(&h->tr)), "first-line\r\n");
	while ((n = read(f->out_r, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = '\0';
	assert_non_null(strstr(buf, "first-line"));
	assert_null(strstr(buf, "accepts connections"));
	assert_non_null(h->console);
	assert_int_equal(h->console->cursor, h->tr.head);
}

/* -p: the session served before is not served again; the next one's first record starts
 * the edge, under that session's id. */
static void test_next_session(void **state)
{
	struct fixture *f = *state;
	struct hub *h = &nats_edge_session(f->e)->hub;
	uint8_t next[16];

	nats_edge_free(f->e);
	memcpy(f->opt.after, SID, 16);
	f->opt.has_after = true;
	assert_int_equal(nats_edge_new(&f->e, &f->opt, &fake, (char[256]){ 0 }, 256), 0);
	h = &nats_edge_session(f->e)->hub;
	post_rec(NEV_UP, SID, NATS_STATE, 500, NULL, 9);
	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 400, "old\r\n", 8);
	turns(f->e, 3);
	assert_int_equal(h->nservers, 0);
	assert_int_equal(h->tr.head, 0);
	memcpy(next, SID, 16);
	next[0] = 0x77;
	post_rec(NEV_RECORD, next, NATS_OUTPUT, 0, "new\r\n", 10);
	turns(f->e, 3);
	assert_int_equal(h->nservers, 1);
	assert_memory_equal(h->id, next, 16);
	assert_string_equal(text_from(h, transcript_oldest(&h->tr)), "new\r\n");
}

static void test_origin_end_ends_edge(void **state)
{
	struct fixture *f = *state;
	struct nats_item *it;
	int res;

	up(f);
	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 1000, "bye\r\n", 10);
	it = nats_item_new(NEV_RECORD, 0);
	memcpy(it->rec.session, SID, 16);
	it->rec.kind = NATS_STATE;
	it->rec.offset = it->rec.end = 1005;
	it->rec.ended = true;
	it->rec.status = 5;
	nats_chan_post(fake_ch, it);
	res = turns(f->e, 400);
	assert_int_equal(res, 1);
	assert_int_equal(nats_edge_status(f->e), 5);
}

static void test_other_session_ends_edge(void **state)
{
	struct fixture *f = *state;
	uint8_t other[16];
	int res;

	up(f);
	memcpy(other, SID, 16);
	other[15] ^= 0xff;
	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 1000, "old\r\n", 10);
	post_rec(NEV_RECORD, other, NATS_OUTPUT, 0, "new\r\n", 11);
	res = turns(f->e, 400);
	assert_int_equal(res, 1);
	assert_int_equal(nats_edge_status(f->e), 0);
}

static struct nats_item *next_cmd(void)
{
	bool stop;

	return nats_chan_next_cmd(fake_ch, 0, &stop);
}

static void test_lines_go_to_origin(void **state)
{
	struct fixture *f = *state;
	struct hub *h = up(f);
	struct nats_item *it;
	uint64_t head;
	char buf[4096];
	ssize_t n;

	post_rec(NEV_RECORD, SID, NATS_OUTPUT, 1000, "(gdb) ", 10);
	turns(f->e, 3);
	assert_int_equal(write(f->in_w, "bt\n", 3), 3);
	turns(f->e, 5);
	it = next_cmd();
	assert_non_null(it);
	assert_int_equal(it->type, NCMD_INPUT);
	assert_memory_equal(it->in.session, SID, 16);
	assert_string_equal(it->in.edge, "e1");
	assert_true(strlen(it->in.who) > 0);
	assert_false(it->in.readonly);
	assert_false(it->in.interrupt);
	assert_int_equal(it->len, 2);
	assert_memory_equal(it->data, "bt", 2);
	free(it);
	/* The origin shows the line: nothing of it is written here. */
	assert_string_equal(text_from(h, transcript_oldest(&h->tr)), "(gdb) ");
	/* A meta-command stays here, and its answer goes to the asker only. */
	head = h->tr.head;
	assert_int_equal(write(f->in_w, ".servers\n", 9), 9);
	turns(f->e, 5);
	assert_null(next_cmd());
	assert_int_equal(h->tr.head, head);
	n = read(f->out_r, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "This edge is fed from nats://127.0.0.1:4222 session t as edge "
				"e1"));
	/* While NATS is away, lines are refused (never kept for later). */
	nats_chan_post(fake_ch, nats_item_new(NEV_DOWN, 0));
	turns(f->e, 3);
	assert_int_equal(write(f->in_w, "run\n", 4), 4);
	turns(f->e, 5);
	assert_null(next_cmd());
	n = read(f->out_r, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "not connected to NATS; the line was not sent"));
}

static void test_client_list_goes_out(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	struct nats_item *it = NULL, *ask;
	uint64_t epoch, seq;

	up(f);
	/* Within a tick (a second) or so. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		turns(f->e, 1);
		it = next_cmd();
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (!it && t1.tv_sec - t0.tv_sec < 5);
	assert_non_null(it);
	/* No client yet: the first word is a heartbeat, O(1) whatever the count. */
	assert_int_equal(it->type, NCMD_PRESENCE);
	assert_int_equal(it->pres.kind, NATS_PRES_HEARTBEAT);
	assert_string_equal(it->pres.edge, "e1");
	assert_memory_equal(it->pres.session, SID, 16);
	assert_true(it->pres.epoch != 0);
	/* The console is nobody's business at the origin. */
	assert_int_equal(it->pres.count, 0);
	assert_int_equal(it->len, 0);
	epoch = it->pres.epoch;
	seq = it->pres.seq;
	free(it);
	/* Asked for a snapshot, the edge sends one at once: one part, empty. */
	ask = nats_item_new(NEV_PRESENCE_ASK, 0);
	ask->pres.kind = NATS_PRES_ASK;
	memcpy(ask->pres.session, SID, 16);
	strcpy(ask->pres.edge, "e1");
	nats_chan_post(fake_ch, ask);
	turns(f->e, 3);
	it = next_cmd();
	assert_non_null(it);
	assert_int_equal(it->type, NCMD_PRESENCE);
	assert_int_equal(it->pres.kind, NATS_PRES_SNAPSHOT);
	assert_true(it->pres.epoch == epoch);
	assert_true(it->pres.seq == seq);
	assert_int_equal(it->pres.part, 0);
	assert_int_equal(it->pres.parts, 1);
	assert_int_equal(it->pres.count, 0);
	assert_int_equal(it->len, 0);
	free(it);
	/* An ask for another session is not ours to answer. */
	ask = nats_item_new(NEV_PRESENCE_ASK, 0);
	ask->pres.kind = NATS_PRES_ASK;
	memcpy(ask->pres.session, SID, 16);
	ask->pres.session[0] ^= 1;
	strcpy(ask->pres.edge, "e1");
	nats_chan_post(fake_ch, ask);
	turns(f->e, 3);
	it = next_cmd();
	assert_true(!it || it->pres.kind != NATS_PRES_SNAPSHOT);
	free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_origin_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offset_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_origin_end_ends_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_session_ends_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_go_to_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_list_goes_out, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
