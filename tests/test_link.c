// SPDX-License-Identifier: MIT
/* Unit tests for src/link.c: socket links over a socketpair and console links
 * over pipes, on a real io_uring loop; what the events report, what a send
 * lends, and what cancelling and shutting down do. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ring/ring.h"
#include "src/link.h"

#define MS 1000000ull

struct fixture {
	struct ring ring;
	struct ring_bufs bufs;
	struct link_ctx ctx;
	struct link link;
	int peer;		/* the other end (socket or pipe) */
	int peer_out;		/* console: the pipe we write its input into */
	char got[8192];
	size_t got_len;
	int ended, ended_res;
	int sent, sent_res;
};

static struct fixture *the;

static void on_received(struct link *l, char *data, size_t n)
{
	assert_ptr_equal(l, &the->link);
	assert_true(the->got_len + n <= sizeof(the->got));
	memcpy(the->got + the->got_len, data, n);
	the->got_len += n;
}

static void on_recv_ended(struct link *l, int res)
{
	the->ended++;
	the->ended_res = res;
}

static void on_sent(struct link *l, int res)
{
	the->sent++;
	the->sent_res = res;
}

static const struct link_events events = {
	.received = on_received,
	.recv_ended = on_recv_ended,
	.sent = on_sent,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || ring_init(&f->ring, 64, 256) < 0 ||
	    ring_bufs_init(&f->ring, &f->bufs, 1, 64, 2048) < 0)
		return -1;
	f->ctx.ring = &f->ring;
	f->ctx.bufs = &f->bufs;
	f->ctx.ev = &events;
	f->peer = f->peer_out = -1;
	the = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	link_cancel(&f->link);
	for (int i = 0; i < 50 && link_busy(&f->link); i++)
		ring_run_once(&f->ring, 10 * MS);
	link_close(&f->link);
	if (f->peer >= 0)
		close(f->peer);
	if (f->peer_out >= 0)
		close(f->peer_out);
	ring_bufs_exit(&f->ring, &f->bufs);
	ring_exit(&f->ring);
	free(f);
	return 0;
}

/* Run the loop until COND holds or a second passes. */
#define PUMP_UNTIL(f, cond)                                                            \
	do {                                                                           \
		for (int i_ = 0; i_ < 100 && !(cond); i_++)                            \
			ring_run_once(&(f)->ring, 10 * MS);                            \
		assert_true(cond);                                                     \
	} while (0)

static void socket_link(struct fixture *f)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	link_init_socket(&f->link, &f->ctx, LINK_UNIX, sv[0]);
	f->peer = sv[1];
}

static void test_link_socket_send_and_receive(void **state)
{
	struct fixture *f = *state;
	static const char out[] = "hello from the transcript";
	char buf[64];

	socket_link(f);
	assert_int_equal(link_recv(&f->link), 0);
	assert_int_equal(link_send(&f->link, out, sizeof(out) - 1), 0);
	/* One send at a time: a second one is refused, not queued behind. */
	assert_int_equal(link_send(&f->link, out, 1), -EBUSY);
	PUMP_UNTIL(f, f->sent == 1);
	assert_int_equal(f->sent_res, (int)sizeof(out) - 1);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), (ssize_t)sizeof(out) - 1);
	assert_memory_equal(buf, out, sizeof(out) - 1);

	assert_int_equal(write(f->peer, "bt\n", 3), 3);
	PUMP_UNTIL(f, f->got_len == 3);
	assert_memory_equal(f->got, "bt\n", 3);
	assert_true(f->link.receiving);		/* multishot: still armed */
}

static void test_link_socket_sendmsg_pieces(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "HDR:", body[] = "payload";
	struct iovec iov[2] = {
		{ (void *)head, sizeof(head) - 1 },
		{ (void *)body, sizeof(body) - 1 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	char buf[64];

	socket_link(f);
	assert_int_equal(link_sendmsg(&f->link, &m), 0);
	PUMP_UNTIL(f, f->sent == 1);
	assert_int_equal(f->sent_res, 11);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "HDR:payload", 11);
}

static void test_link_socket_peer_closes(void **state)
{
	struct fixture *f = *state;

	socket_link(f);
	assert_int_equal(link_recv(&f->link), 0);
	shutdown(f->peer, SHUT_WR);
	PUMP_UNTIL(f, f->ended == 1);
	assert_int_equal(f->ended_res, 0);
	assert_false(f->link.receiving);
}

static void test_link_socket_shutdown_write_keeps_receiving(void **state)
{
	struct fixture *f = *state;
	char c;

	socket_link(f);
	assert_int_equal(link_recv(&f->link), 0);
	link_shutdown_write(&f->link);
	/* The peer sees our end, and may still talk. */
	for (int i = 0; i < 100 && read(f->peer, &c, 1) != 0; i++)
		usleep(1000);
	assert_int_equal(read(f->peer, &c, 1), 0);
	assert_int_equal(write(f->peer, "x", 1), 1);
	PUMP_UNTIL(f, f->got_len == 1);
}

static void test_link_socket_cancel_stops_everything(void **state)
{
	struct fixture *f = *state;
	static char big[1 << 20];
	int small = 4096;

	socket_link(f);
	setsockopt(f->link.out_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	assert_int_equal(link_recv(&f->link), 0);
	/* The peer reads nothing: sends complete until its socket is full,
	 * then one stays in flight. */
	for (int i = 0; i < 8 && !f->link.sending; i++) {
		assert_int_equal(link_send(&f->link, big, sizeof(big)), 0);
		ring_run_once(&f->ring, 10 * MS);
	}
	assert_true(f->link.sending);
	link_cancel_send(&f->link);
	PUMP_UNTIL(f, !f->link.sending);
	assert_true(f->sent_res == -ECANCELED || f->sent_res > 0);
	assert_true(f->link.receiving);		/* a send's cancel leaves receiving alone */
	link_cancel(&f->link);
	PUMP_UNTIL(f, !link_busy(&f->link));
	assert_true(f->link.stopped);
}

static void console_link(struct fixture *f)
{
	int in[2], out[2];

	assert_int_equal(pipe2(in, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
	link_init_console(&f->link, &f->ctx, in[0], out[1]);
	f->peer_out = in[1];	/* what the "keyboard" writes */
	f->peer = out[0];	/* what the "screen" shows */
}

static void test_link_console_write_and_read(void **state)
{
	struct fixture *f = *state;
	static const char out[] = "(gdb) ";
	struct msghdr m = { 0 };
	char buf[16];

	console_link(f);
	assert_int_equal(link_sendmsg(&f->link, &m), -EOPNOTSUPP);
	assert_int_equal(link_send(&f->link, out, 6), 0);
	assert_int_equal(link_send(&f->link, out, 6), -EBUSY);
	PUMP_UNTIL(f, f->sent == 1);
	assert_int_equal(f->sent_res, 6);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, out, 6);

	assert_int_equal(link_recv(&f->link), 0);
	assert_int_equal(write(f->peer_out, "info\n", 5), 5);
	PUMP_UNTIL(f, f->got_len == 5);
	assert_memory_equal(f->got, "info\n", 5);
	/* Still listening after a read, until the input ends. */
	assert_true(f->link.receiving);
	close(f->peer_out);
	f->peer_out = -1;
	PUMP_UNTIL(f, f->ended == 1);
	assert_int_equal(f->ended_res, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_link_socket_send_and_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_socket_sendmsg_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_socket_peer_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_socket_shutdown_write_keeps_receiving, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_link_socket_cancel_stops_everything, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_link_console_write_and_read, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
