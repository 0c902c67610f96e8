// SPDX-License-Identifier: MIT
/* Unit tests for src/link_tls.c: a server TLS link on a real io_uring loop
 * over a socketpair, its peer a pinned tls/ client driven by hand.  What is
 * held until the handshake, what the owner is told and when, that garbage
 * ends the link, and that a cancelled send never cuts a record. */
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
#include <sys/uio.h>
#include <unistd.h>

#include "ring/ring.h"
#include "src/link.h"
#include "tls/tls.h"

#define MS 1000000ull

static char dir[] = "/tmp/ringside-link-tls-XXXXXX";
static char crt[128], key[128];

struct fixture {
	struct ring ring;
	struct ring_bufs bufs;
	struct link_ctx ctx;
	struct link link;
	struct tls_config *server_cfg, *client_cfg;
	struct tls_conn *peer_tls;	/* the client at the other end */
	int peer;
	char got[8192];
	size_t got_len;
	int ended, ended_res, secured;
	int sent, sent_res;
	char plain[1 << 20];		/* what the peer decrypted */
	size_t plain_len;
	bool peer_eof, peer_notified;
};

static struct fixture *the;

static void on_received(struct link *l, char *data, size_t n)
{
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

static void on_secured(struct link *l)
{
	the->secured++;
}

static const struct link_events events = {
	.received = on_received,
	.recv_ended = on_recv_ended,
	.sent = on_sent,
	.secured = on_secured,
};

static int make_cert(void)
{
	char cmd[512];

	if (!mkdtemp(dir))
		return -1;
	snprintf(crt, sizeof(crt), "%s/s.crt", dir);
	snprintf(key, sizeof(key), "%s/s.key", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
		 "-subj /CN=s -keyout %s -out %s 2>/dev/null", key, crt);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	int sv[2];

	if (!f || ring_init(&f->ring, 64, 256) < 0 ||
	    ring_bufs_init(&f->ring, &f->bufs, 1, 64, 2048) < 0)
		return -1;
	f->ctx.ring = &f->ring;
	f->ctx.bufs = &f->bufs;
	f->ctx.ev = &events;
	if (tls_server_config_new(crt, key, &f->server_cfg, err, sizeof(err)) < 0 ||
	    tls_client_config_new(crt, &f->client_cfg, err, sizeof(err)) < 0 ||
	    tls_conn_new(f->client_cfg, &f->peer_tls) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (link_init_tls(&f->link, &f->ctx, LINK_UNIX, sv[0], f->server_cfg) < 0)
		return -1;
	f->peer = sv[1];
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
	assert_false(link_busy(&f->link));
	link_close(&f->link);
	close(f->peer);
	tls_conn_free(f->peer_tls);
	tls_config_put(f->client_cfg);
	tls_config_put(f->server_cfg);
	ring_bufs_exit(&f->ring, &f->bufs);
	ring_exit(&f->ring);
	free(f);
	return 0;
}

/* The peer's side of one exchange: send what its TLS wants sent, read what
 * arrived, decrypt it. */
static void peer_step(struct fixture *f)
{
	const void *p;
	size_t len;
	char buf[8192];
	ssize_t n;

	if (tls_conn_out_take(f->peer_tls, &p, &len) == 0) {
		n = write(f->peer, p, len);
		tls_conn_out_done(f->peer_tls, n > 0 ? (size_t)n : 0);
	}
	while ((n = read(f->peer, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t took = tls_conn_feed(f->peer_tls, buf + off, (size_t)(n - off));

			assert_true(took > 0);
			off += took;
			if (!tls_conn_established(f->peer_tls)) {
				int r = tls_conn_handshake(f->peer_tls);

				assert_true(r == 0 || r == -EAGAIN);
			}
			while (tls_conn_established(f->peer_tls)) {
				ssize_t got = tls_conn_read(f->peer_tls, f->plain + f->plain_len,
							    sizeof(f->plain) - f->plain_len);
				if (got == -EPIPE)
					f->peer_notified = true;
				else
					assert_true(got >= 0);
				if (got <= 0)
					break;
				f->plain_len += (size_t)got;
			}
		}
	}
	if (n == 0)
		f->peer_eof = true;
	if (!tls_conn_established(f->peer_tls) && tls_conn_handshake(f->peer_tls) == -EAGAIN &&
	    tls_conn_out_take(f->peer_tls, &p, &len) == 0) {
		n = write(f->peer, p, len);
		tls_conn_out_done(f->peer_tls, n > 0 ? (size_t)n : 0);
	}
}

/* Run the loop and the peer until COND holds or two seconds pass. */
#define PUMP_UNTIL(f, cond)                                                            \
	do {                                                                           \
		for (int i_ = 0; i_ < 200 && !(cond); i_++) {                          \
			peer_step(f);                                                  \
			ring_run_once(&(f)->ring, 10 * MS);                            \
		}                                                                      \
		assert_true(cond);                                                     \
	} while (0)

static void peer_write(struct fixture *f, const char *text)
{
	assert_int_equal(tls_conn_write(f->peer_tls, text, strlen(text)), (ssize_t)strlen(text));
	peer_step(f);
}

static void test_link_tls_send_waits_for_the_handshake(void **state)
{
	struct fixture *f = *state;
	static const char out[] = "hello from the transcript";
	char wire[4096];

	assert_int_equal(link_recv(&f->link), 0);
	assert_false(link_secured(&f->link));
	/* Lent before the handshake: held, nothing in clear on the wire. */
	assert_int_equal(link_send(&f->link, out, sizeof(out) - 1), 0);
	assert_int_equal(link_send(&f->link, out, 1), -EBUSY);
	for (int i = 0; i < 5; i++)
		ring_run_once(&f->ring, 1 * MS);
	assert_int_equal(f->sent, 0);
	assert_true(read(f->peer, wire, sizeof(wire)) < 0);	/* a server speaks second */

	PUMP_UNTIL(f, f->sent == 1 && f->plain_len == sizeof(out) - 1);
	assert_int_equal(f->secured, 1);
	assert_true(link_secured(&f->link));
	assert_int_equal(f->sent_res, (int)sizeof(out) - 1);
	assert_memory_equal(f->plain, out, sizeof(out) - 1);

	peer_write(f, "bt\n");
	PUMP_UNTIL(f, f->got_len == 3);
	assert_memory_equal(f->got, "bt\n", 3);
	assert_true(f->link.receiving);
	assert_null(link_error(&f->link));
}

static void test_link_tls_sendmsg_pieces(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "HDR:", body[] = "payload";
	struct iovec iov[2] = {
		{ (void *)head, sizeof(head) - 1 },
		{ (void *)body, sizeof(body) - 1 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	assert_int_equal(link_recv(&f->link), 0);
	assert_int_equal(link_sendmsg(&f->link, &m), 0);
	PUMP_UNTIL(f, f->sent == 1 && f->plain_len == 11);
	assert_int_equal(f->sent_res, 11);
	assert_memory_equal(f->plain, "HDR:payload", 11);
}

static void test_link_tls_garbage_ends_the_link(void **state)
{
	struct fixture *f = *state;
	char junk[600];

	memset(junk, 'G', sizeof(junk));
	assert_int_equal(link_recv(&f->link), 0);
	assert_int_equal(write(f->peer, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	for (int i = 0; i < 200 && f->ended == 0; i++)
		ring_run_once(&f->ring, 10 * MS);
	assert_int_equal(f->ended, 1);
	assert_true(f->ended_res < 0);
	assert_non_null(link_error(&f->link));
	assert_false(link_secured(&f->link));
	assert_false(f->link.receiving);	/* not re-armed after a failure */
	assert_int_equal(f->got_len, 0);
	assert_int_equal(f->secured, 0);
}

static void test_link_tls_cancel_before_handshake_completes_later(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(link_recv(&f->link), 0);
	assert_int_equal(link_send(&f->link, "x", 1), 0);
	link_cancel(&f->link);
	/* Never from inside the owner's own call: from a completion. */
	assert_int_equal(f->sent, 0);
	for (int i = 0; i < 100 && link_busy(&f->link); i++)
		ring_run_once(&f->ring, 10 * MS);
	assert_int_equal(f->sent, 1);
	assert_int_equal(f->sent_res, -ECANCELED);
	assert_false(link_busy(&f->link));
}

static void test_link_tls_cancelled_send_never_cuts_a_record(void **state)
{
	struct fixture *f = *state;
	static char big[1 << 16];
	size_t takes[64], ntakes = 0, total = 0, at = 0;
	int small = 4096, sent;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(link_recv(&f->link), 0);
	assert_int_equal(link_send(&f->link, big, 10), 0);
	PUMP_UNTIL(f, f->sent == 1 && f->plain_len == 10);
	takes[ntakes++] = 10;
	setsockopt(f->link.out_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	/* The peer stops reading: sends complete until its socket is full,
	 * then one stays on the wire. */
	while (ntakes < 60) {
		sent = f->sent;
		assert_int_equal(link_send(&f->link, big, sizeof(big)), 0);
		for (int j = 0; j < 5 && f->sent == sent; j++)
			ring_run_once(&f->ring, 2 * MS);
		if (f->sent == sent)
			break;
		assert_true(f->sent_res > 0);
		takes[ntakes++] = (size_t)f->sent_res;
	}
	assert_true(f->link.sending);
	link_cancel_send(&f->link);
	assert_true(f->link.sending);		/* told by a completion, not now */
	for (int i = 0; i < 100 && f->link.sending; i++)
		ring_run_once(&f->ring, 10 * MS);
	assert_false(f->link.sending);
	if (f->sent_res > 0)
		takes[ntakes++] = (size_t)f->sent_res;
	else
		assert_int_equal(f->sent_res, -ECANCELED);
	for (size_t i = 0; i < ntakes; i++)
		total += takes[i];
	assert_true(total < sizeof(f->plain));
	/* The rest of the cut record still goes out; the peer then decrypts
	 * exactly what the owner was told went, as whole authentic records
	 * (peer_step fails on any record that does not authenticate). */
	for (int i = 0; i < 500 && (f->plain_len < total || f->link.wire_sending); i++) {
		peer_step(f);
		ring_run_once(&f->ring, 1 * MS);
	}
	assert_int_equal(f->plain_len, total);
	for (size_t i = 0; i < ntakes; i++) {
		assert_memory_equal(f->plain + at, big, takes[i]);
		at += takes[i];
	}
	assert_null(link_error(&f->link));
	assert_int_equal(f->ended, 0);
}

static void test_link_tls_shutdown_write_sends_close_notify(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(link_recv(&f->link), 0);
	assert_int_equal(link_send(&f->link, "bye", 3), 0);
	PUMP_UNTIL(f, f->sent == 1 && f->plain_len == 3);
	link_shutdown_write(&f->link);
	PUMP_UNTIL(f, f->peer_notified && f->peer_eof);
	/* Half-closed: the peer may still talk. */
	peer_write(f, "last\n");
	PUMP_UNTIL(f, f->got_len == 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_link_tls_send_waits_for_the_handshake, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_link_tls_sendmsg_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_tls_garbage_ends_the_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_tls_cancel_before_handshake_completes_later,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_tls_cancelled_send_never_cuts_a_record,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_tls_shutdown_write_sends_close_notify,
						setup, teardown),
	};
	int res;

	if (make_cert() < 0) {
		fprintf(stderr, "test_link_tls: cannot make a certificate with openssl\n");
		return 1;
	}
	res = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(crt);
	unlink(key);
	rmdir(dir);
	return res;
}
