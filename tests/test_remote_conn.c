// SPDX-License-Identifier: MIT
/* Unit tests for src/remote_conn.c's send path: a client connection on a real io_uring loop
 * whose socket is one end of a socketpair the test reads (or does not read) from.  The buffer
 * a send is in flight from must not move, grow or be emptied under it, whatever is queued or
 * whatever happens to the connection meanwhile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/remote_internal.h"

#define MS 1000000ull

struct fixture {
	struct remote *r;
	struct remote_options opt;
	int peer;		/* the server's end */
	uint8_t *got;
	size_t got_len, got_cap;
};

static void no_send(struct remote_link *l, const uint8_t *p, size_t n)
{
}

static void no_show(struct remote_link *l, enum rlink_show kind, const char *p, size_t n)
{
}

static void no_ask(struct remote_link *l)
{
}

static void no_live(struct remote_link *l)
{
}

static void no_jump(struct remote_link *l)
{
}

static const struct rlink_ops quiet_ops = {
	.send = no_send,
	.show = no_show,
	.ask_password = no_ask,
	.live = no_live,
	.jump = no_jump,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2], small = 4096;
	struct remote *r;

	if (!f)
		return -1;
	r = f->r = calloc(1, sizeof(*r));
	if (!r || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	f->opt.quiet_ms = 1000;
	r->opt = &f->opt;
	r->signal_fd = -1;
	if (ring_init(&r->ring, 64, 256) < 0)
		return -1;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	outq_init(&r->out, open("/dev/null", O_WRONLY | O_CLOEXEC));
	outq_init(&r->err, open("/dev/null", O_WRONLY | O_CLOEXEC));
	conn_init(r);
	rlink_init(&r->link, &quiet_ops, "test\\user");
	r->conn.fd = sv[0];
	r->conn.st = CONN_LIVE;
	f->peer = sv[1];
	fcntl(f->peer, F_SETFL, O_NONBLOCK);
	*state = f;
	return 0;
}

static void pump(struct fixture *f)
{
	ring_run_once(&f->r->ring, 5 * MS);
}

static void drain_peer(struct fixture *f)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = read(f->peer, buf, sizeof(buf))) > 0) {
		if (f->got_len + (size_t)n > f->got_cap) {
			f->got_cap = (f->got_len + (size_t)n) * 2;
			f->got = realloc(f->got, f->got_cap);
			assert_non_null(f->got);
		}
		memcpy(f->got + f->got_len, buf, (size_t)n);
		f->got_len += (size_t)n;
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct remote *r = f->r;

	conn_close(r);
	for (int i = 0; i < 200 && r->ring.inflight; i++)
		pump(f);
	assert_int_equal(r->ring.inflight, 0);
	ring_exit(&r->ring);
	close(r->out.fd);
	close(r->err.fd);
	outq_free(&r->out);
	outq_free(&r->err);
	conn_free(r);
	rlink_free(&r->link);
	bytes_free(&r->held);
	close(f->peer);
	free(f->got);
	free(r);
	free(f);
	return 0;
}

/* An INPUT record carrying "line N" padded to LEN bytes. */
static size_t input_record(unsigned n, size_t len, uint8_t *out)
{
	struct proto_header h = { .type = PROTO_INPUT, .length = (uint32_t)len };

	proto_header_encode(&h, out);
	memset(out + PROTO_HEADER_SIZE, 'a' + n % 26, len);
	snprintf((char *)out + PROTO_HEADER_SIZE, len, "line %u", n);
	return PROTO_HEADER_SIZE + len;
}

static void test_conn_sending_buffer_stays_put(void **state)
{
	struct fixture *f = *state;
	struct remote_conn *c = &f->r->conn;
	uint8_t rec[PROTO_HEADER_SIZE + 4000];
	uint8_t *expect = NULL;
	size_t expect_len = 0;
	const uint8_t *inflight_p;
	size_t inflight_len;

	/* Enough to fill the socket, so the first send stays in flight. */
	for (unsigned i = 0; i < 64; i++) {
		size_t n = input_record(i, 4000, rec);

		expect = realloc(expect, expect_len + n);
		memcpy(expect + expect_len, rec, n);
		expect_len += n;
		conn_send(f->r, rec, n);
	}
	pump(f);
	assert_true(c->send_inflight);
	inflight_p = c->sending.p;
	inflight_len = c->sending.len;
	/* Queue much more while the kernel holds 'sending': pending grows
	 * (and moves), 'sending' does not. */
	for (unsigned i = 64; i < 1064; i++) {
		size_t n = input_record(i, 100 + i % 300, rec);

		expect = realloc(expect, expect_len + n);
		memcpy(expect + expect_len, rec, n);
		expect_len += n;
		conn_send(f->r, rec, n);
		assert_ptr_equal(c->sending.p, inflight_p);
		assert_int_equal(c->sending.len, inflight_len);
	}
	/* Everything arrives once, in order. */
	for (int i = 0; i < 20000 && f->got_len < expect_len; i++) {
		drain_peer(f);
		pump(f);
		assert_true(c->sent <= c->sending.len);
	}
	drain_peer(f);
	assert_int_equal(f->got_len, expect_len);
	assert_memory_equal(f->got, expect, expect_len);
	assert_true(conn_idle(f->r));
	free(expect);
}

/* The connection ends while a send is in flight: its completion must find
 * the buffer as it left it, and the lines not yet sent wait for the next
 * connection. */
static void test_conn_lost_during_send(void **state)
{
	struct fixture *f = *state;
	struct remote *r = f->r;
	struct remote_conn *c = &r->conn;
	uint8_t rec[PROTO_HEADER_SIZE + 4000];
	size_t unsent = 0;

	for (unsigned i = 0; i < 64; i++)
		conn_send(r, rec, input_record(i, 4000, rec));
	pump(f);
	assert_true(c->send_inflight);
	for (unsigned i = 0; i < 3; i++) {
		size_t n = input_record(100 + i, 10, rec);

		conn_send(r, rec, n);
		unsent += n;
	}
	{
		struct proto_header h = { .type = PROTO_HEARTBEAT };

		proto_header_encode(&h, rec);
		conn_send(r, rec, PROTO_HEADER_SIZE);
	}
	r->leaving = true;	/* no reconnect: the test has no server */
	conn_lost(r, "test");
	assert_true(r->done);
	assert_int_equal(c->fd, -1);
	assert_int_equal(c->pending.len, 0);
	/* Only the whole lines that never left are kept, heartbeat not. */
	assert_int_equal(r->held.len, unsent);
	for (int i = 0; i < 200 && c->send_inflight; i++)
		pump(f);
	assert_false(c->send_inflight);
	assert_int_equal(c->sending.len, 0);
	assert_int_equal(c->sent, 0);
	/* Nothing goes out on a connection that is gone. */
	conn_send(r, rec, PROTO_HEADER_SIZE);
	assert_int_equal(c->pending.len, 0);
}

static void test_bytes_put_nothing(void **state)
{
	struct bytes b = { 0 };

	(void)state;
	/* No memcpy from (or to) a NULL pointer for an empty put. */
	assert_true(bytes_put(&b, NULL, 0));
	assert_null(b.p);
	assert_true(bytes_put(&b, "ab", 2));
	assert_true(bytes_put(&b, NULL, 0));
	assert_int_equal(b.len, 2);
	bytes_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conn_sending_buffer_stays_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conn_lost_during_send, setup, teardown),
		cmocka_unit_test(test_bytes_put_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
