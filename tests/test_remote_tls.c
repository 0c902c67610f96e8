// SPDX-License-Identifier: MIT
/* Unit tests for src/remote_tls.c: the -remote client's TLS on a real io_uring loop, its
 * socket one end of a socketpair whose other end is a tls/ server driven by the test.  Which
 * servers are believed (pinned certificate, fingerprint=, known_servers, the user's answer),
 * that nothing of the protocol reaches a server before that, that refusals are final, and
 * that ciphertext keeps the one-send-in-flight discipline.  Certificates are made with the
 * openssl CLI in a temporary $HOME. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "src/remote_internal.h"

#define MS 1000000ull

static char home[256];
static char certs[512];
static char known[512];
static char fp_test[TLS_FP_STR_LEN];	/* the fingerprint of certificate "test" */

struct fixture {
	struct remote *r;
	struct remote_options opt;
	int peer;
	struct tls_config *scfg;
	struct tls_conn *srv;
	int srv_res;		/* the server's handshake result */
	bool srv_closed;	/* the server read close_notify */
	bool serving;		/* the test reads the peer end */
	uint8_t *got;		/* plaintext the server received */
	size_t got_len, got_cap;
};

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static int group_setup(void **state)
{
	struct tls_cert_found found;
	char err[512];

	snprintf(home, sizeof(home), "/tmp/ringside-rtls.XXXXXX");
	if (!mkdtemp(home))
		return -1;
	snprintf(certs, sizeof(certs), "%s/.config/ringside/certs", home);
	snprintf(known, sizeof(known), "%s/.config/ringside/known_servers", home);
	sh("mkdir -p %s", certs);
	for (int i = 0; i < 2; i++)
		sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		   "-days 30 -subj /CN=%s -addext extendedKeyUsage=serverAuth -keyout %s.key "
		   "-out %s.crt 2>/dev/null && chmod 600 %s.key", certs, i ? "other" : "test",
		   i ? "other" : "test", i ? "other" : "test", i ? "other" : "test");
	setenv("HOME", home, 1);
	if (tls_store_find(TLS_STORE_USER, "test", false, &found, err, sizeof(err)) < 0)
		return -1;
	tls_fp_format(found.sha256, fp_test);
	return 0;
}

static int group_teardown(void **state)
{
	sh("rm -rf %s", home);
	return 0;
}

static struct remote *of_link(struct remote_link *l)
{
	return container_of(l, struct remote, link);
}

static void link_send(struct remote_link *l, const uint8_t *p, size_t n)
{
	conn_send(of_link(l), p, n);
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

static const struct rlink_ops ops = {
	.send = link_send,
	.show = no_show,
	.ask_password = no_ask,
	.live = no_live,
	.jump = no_jump,
};

/* A client for SPEC connected to a server presenting certificate STEM. */
static struct fixture *start(const char *spec, const char *stem, bool interactive)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512], crt[600], key[600];
	struct remote *r;
	int sv[2];

	assert_non_null(f);
	r = f->r = calloc(1, sizeof(*r));
	assert_non_null(r);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->opt.quiet_ms = 1000;
	r->opt = &f->opt;
	r->signal_fd = -1;
	assert_int_equal(ring_init(&r->ring, 64, 256), 0);
	outq_init(&r->out, open("/dev/null", O_WRONLY | O_CLOEXEC));
	outq_init(&r->err, open("/dev/null", O_WRONLY | O_CLOEXEC));
	conn_init(r);
	rlink_init(&r->link, &ops, "test\\user");
	r->interactive = interactive;
	r->term.cols = 80;
	edit_init(&r->term.answer, false);
	assert_int_equal(spec_parse(spec, SPEC_CLIENT, &r->spec, err, sizeof(err)), 0);
	snprintf(r->where, sizeof(r->where), "%s port %u", r->spec.server, r->spec.port_lo);
	assert_int_equal(rtls_setup(r), 0);

	snprintf(crt, sizeof(crt), "%s/%s.crt", certs, stem);
	snprintf(key, sizeof(key), "%s/%s.key", certs, stem);
	assert_int_equal(tls_server_config_new(crt, key, &f->scfg, err, sizeof(err)), 0);
	assert_int_equal(tls_conn_new(f->scfg, &f->srv), 0);
	f->srv_res = -EAGAIN;
	f->serving = true;
	f->peer = sv[1];
	fcntl(f->peer, F_SETFL, O_NONBLOCK);

	r->conn.fd = sv[0];
	r->conn.st = CONN_SECURING;
	r->conn.budget_start = remote_now();
	r->conn.deadline = budget_end(&r->conn);
	rtls_begin(r);
	return f;
}

static void finish(struct fixture *f)
{
	struct remote *r = f->r;

	conn_close(r);
	if (r->conn.tick.armed)
		ring_timer_cancel(&r->ring, &r->conn.tick);
	if (r->conn.backoff.armed)
		ring_timer_cancel(&r->ring, &r->conn.backoff);
	for (int i = 0; i < 200 && r->ring.inflight; i++)
		ring_run_once(&r->ring, 5 * MS);
	assert_int_equal(r->ring.inflight, 0);
	assert_null(r->tls.dying);
	ring_exit(&r->ring);
	rtls_free(r);
	close(r->out.fd);
	close(r->err.fd);
	outq_free(&r->out);
	outq_free(&r->err);
	conn_free(r);
	rlink_free(&r->link);
	edit_free(&r->term.answer);
	bytes_free(&r->held);
	tls_conn_free(f->srv);
	tls_config_put(f->scfg);
	close(f->peer);
	free(f->got);
	free(r);
	free(f);
}

static void srv_drain(struct fixture *f)
{
	uint8_t buf[TLS_RECORD_PLAIN_MAX];
	ssize_t k;

	if (f->srv_res == -EAGAIN)
		f->srv_res = tls_conn_handshake(f->srv);
	if (f->srv_res != 0)
		return;
	while ((k = tls_conn_read(f->srv, buf, sizeof(buf))) != 0) {
		if (k == -EPIPE)
			f->srv_closed = true;
		if (k < 0)
			break;
		if (f->got_len + (size_t)k > f->got_cap) {
			f->got_cap = (f->got_len + (size_t)k) * 2;
			f->got = realloc(f->got, f->got_cap);
			assert_non_null(f->got);
		}
		memcpy(f->got + f->got_len, buf, (size_t)k);
		f->got_len += (size_t)k;
	}
}

/* The server's side of one loop turn: ciphertext in, ciphertext out. */
static void serve(struct fixture *f)
{
	uint8_t buf[65536];
	const void *p;
	size_t len;
	ssize_t n;

	if (!f->serving)
		return;
	while ((n = read(f->peer, buf, sizeof(buf))) > 0) {
		for (size_t off = 0; off < (size_t)n;) {
			ssize_t k = tls_conn_feed(f->srv, buf + off, (size_t)n - off);

			srv_drain(f);
			if (k <= 0)
				break;
			off += (size_t)k;
		}
		srv_drain(f);
	}
	srv_drain(f);
	while (tls_conn_out_take(f->srv, &p, &len) == 0) {
		ssize_t w = write(f->peer, p, len);

		tls_conn_out_done(f->srv, w > 0 ? (size_t)w : 0);
		if (w <= 0)
			break;
	}
}

static void turn(struct fixture *f)
{
	serve(f);
	ring_run_once(&f->r->ring, 2 * MS);
}

/* Turns until COND or a bound. */
#define RUN_UNTIL(f, cond) \
	for (int i_ = 0; i_ < 500 && !(cond); i_++) \
		turn(f)

static bool said(const struct remote *r, const char *what)
{
	const struct outq *o = r->interactive ? &r->out : &r->err;

	return o->q.len && memmem(o->q.p, o->q.len, what, strlen(what)) != NULL;
}

static bool got_hello(const struct fixture *f)
{
	return f->got_len >= PROTO_PREAMBLE_SIZE &&
	       memcmp(f->got, proto_preamble, PROTO_PREAMBLE_SIZE) == 0;
}

static bool refused(const struct fixture *f)
{
	const struct remote *r = f->r;

	/* Final: no reconnect is planned, no protocol byte went out. */
	return r->done && r->exit_code == 1 && !r->conn.backoff.armed && !r->conn.want_connect &&
	       f->got_len == 0;
}

static void write_known(const char *text)
{
	FILE *fp = fopen(known, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static char *read_known(void)
{
	static char buf[4096];
	FILE *fp = fopen(known, "r");
	size_t n;

	if (!fp)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

#define PINNED "ssl:proto=tls1,certuser=test,server=127.0.0.1,port=5005"
#define UNPINNED "ssl:proto=tls1,server=127.0.0.1,port=5005"

static void test_pinned_server_gets_hello_after_the_handshake(void **state)
{
	struct fixture *f = start(PINNED, "test", false);

	RUN_UNTIL(f, got_hello(f));
	assert_true(got_hello(f));
	assert_true(f->r->tls.verified);
	assert_int_equal(f->r->conn.st, CONN_HANDSHAKE);
	assert_false(f->r->done);
	finish(f);
}

static void test_pin_mismatch_is_a_final_refusal(void **state)
{
	struct fixture *f = start(PINNED, "other", false);

	RUN_UNTIL(f, f->r->done);
	assert_true(refused(f));
	assert_true(said(f->r, "the server at 127.0.0.1 port 5005 did not present certificate "
			       "test (sha256:"));
	assert_true(said(f->r, fp_test));
	finish(f);
}

/* Many records through a tiny socket buffer: every byte arrives once, in order, and one
 * send is in flight at a time, from the outbox only while it is lent. */
static void test_ciphertext_one_send_at_a_time(void **state)
{
	struct fixture *f = start(PINNED, "test", false);
	struct remote *r = f->r;
	struct remote_conn *c = &r->conn;
	uint8_t rec[PROTO_HEADER_SIZE + 4000], *expect = NULL;
	size_t expect_len, base;
	int small = 4096;
	bool saw_inflight = false;

	RUN_UNTIL(f, got_hello(f));
	assert_true(got_hello(f));
	base = f->got_len;
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	expect_len = 0;
	for (unsigned i = 0; i < 300; i++) {
		struct proto_header h = { .type = PROTO_INPUT, .length = 100 + i * 13 % 3900 };
		size_t n = PROTO_HEADER_SIZE + h.length;

		proto_header_encode(&h, rec);
		memset(rec + PROTO_HEADER_SIZE, 'a' + i % 26, h.length);
		expect = realloc(expect, expect_len + n);
		memcpy(expect + expect_len, rec, n);
		expect_len += n;
		conn_send(r, rec, n);
		if (c->send_inflight) {
			const void *p;
			size_t len;

			/* Lent: nobody else may take or fill the outbox. */
			saw_inflight = true;
			assert_int_equal(tls_conn_out_take(r->tls.conn, &p, &len), -EBUSY);
			assert_int_equal(tls_conn_write(r->tls.conn, "x", 1), -EBUSY);
		}
	}
	assert_true(saw_inflight);
	for (int i = 0; i < 20000 && f->got_len < base + expect_len; i++)
		turn(f);
	assert_int_equal(f->got_len - base, expect_len);
	assert_memory_equal(f->got + base, expect, expect_len);
	for (int i = 0; i < 100 && !conn_idle(r); i++)
		turn(f);
	assert_true(conn_idle(r));
	free(expect);
	finish(f);
}

/* The connection ends with a send in flight: the TLS conn outlives it until the
 * completion, then goes (ASan would see a leak or a use after free). */
static void test_lost_during_send_frees_after_completion(void **state)
{
	struct fixture *f = start(PINNED, "test", false);
	struct remote *r = f->r;
	uint8_t rec[PROTO_HEADER_SIZE + 4000];
	int small = 4096;

	RUN_UNTIL(f, got_hello(f));
	f->serving = false;
	setsockopt(r->conn.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	for (unsigned i = 0; i < 40 && !r->conn.send_inflight; i++) {
		struct proto_header h = { .type = PROTO_INPUT, .length = 4000 };

		proto_header_encode(&h, rec);
		memset(rec + PROTO_HEADER_SIZE, 'q', 4000);
		conn_send(r, rec, sizeof(rec));
		ring_run_once(&r->ring, 1 * MS);
	}
	assert_true(r->conn.send_inflight);
	r->leaving = true;	/* no reconnect: there is no listener */
	conn_lost(r, "test");
	assert_null(r->tls.conn);
	assert_non_null(r->tls.dying);
	for (int i = 0; i < 200 && r->conn.send_inflight; i++)
		ring_run_once(&r->ring, 5 * MS);
	assert_false(r->conn.send_inflight);
	assert_null(r->tls.dying);
	finish(f);
}

/* Leaving: BYE, then close_notify, then the client is done. */
static void test_leaving_ends_with_close_notify(void **state)
{
	struct fixture *f = start(PINNED, "test", false);
	struct proto_header h = { .type = PROTO_BYE };
	uint8_t rec[PROTO_HEADER_SIZE];

	RUN_UNTIL(f, got_hello(f));
	proto_header_encode(&h, rec);
	f->r->leaving = true;
	conn_send(f->r, rec, sizeof(rec));
	RUN_UNTIL(f, f->r->done && f->srv_closed);
	assert_true(f->r->done);
	assert_int_equal(f->r->exit_code, 0);
	assert_true(f->srv_closed);
	assert_memory_equal(f->got + f->got_len - sizeof(rec), rec, sizeof(rec));
	finish(f);
}

static void test_fingerprint_spec(void **state)
{
	char spec[256];
	struct fixture *f;

	snprintf(spec, sizeof(spec), UNPINNED ",fingerprint=%s", fp_test);
	f = start(spec, "test", false);
	RUN_UNTIL(f, got_hello(f));
	assert_true(got_hello(f));
	finish(f);

	f = start(spec, "other", false);
	RUN_UNTIL(f, f->r->done);
	assert_true(refused(f));
	assert_true(said(f->r, "not connecting"));
	finish(f);
}

static void test_known_server_match(void **state)
{
	char line[256];
	struct fixture *f;

	snprintf(line, sizeof(line), "# comment\nother:1 %s\n127.0.0.1:5005 %s\n", fp_test,
		 fp_test);
	write_known(line);
	f = start(UNPINNED, "test", false);
	RUN_UNTIL(f, got_hello(f));
	assert_true(got_hello(f));
	finish(f);
	unlink(known);
}

static void test_known_server_changed_is_refused_loudly(void **state)
{
	char text[256];
	struct fixture *f;

	/* The remembered certificate is "test"; the server now presents "other". */
	snprintf(text, sizeof(text), "\n127.0.0.1:5005 %s\n", fp_test);
	write_known(text);
	f = start(UNPINNED, "other", true);
	RUN_UNTIL(f, f->r->done);
	assert_true(refused(f));
	assert_true(said(f->r, "HAS CHANGED"));
	assert_true(said(f->r, fp_test));
	assert_true(said(f->r, "line 2 of "));
	assert_false(f->r->tls.asking);
	/* Nothing is rewritten behind the user's back. */
	assert_string_equal(read_known(), text);
	finish(f);
	unlink(known);
}

static void test_unknown_server_refused_without_a_terminal(void **state)
{
	struct fixture *f = start(UNPINNED, "test", false);
	char line[128];

	unlink(known);
	RUN_UNTIL(f, f->r->done);
	assert_true(refused(f));
	snprintf(line, sizeof(line), "127.0.0.1:5005 %s", fp_test);
	assert_true(said(f->r, line));
	assert_true(said(f->r, "fingerprint="));
	assert_null(read_known());
	finish(f);
}

static void test_unknown_server_asked_yes(void **state)
{
	struct fixture *f;
	char line[128];

	unlink(known);
	f = start(UNPINNED, "test", true);
	RUN_UNTIL(f, f->r->tls.asking);
	assert_true(f->r->tls.asking);
	assert_true(f->r->term.questioning);
	assert_true(said(f->r, fp_test));
	/* The user's time is not the server's: no deadline runs. */
	assert_int_equal(f->r->conn.deadline, 0);
	assert_true(f->r->conn.deadline_paused);
	for (int i = 0; i < 20; i++)
		turn(f);
	assert_int_equal(f->got_len, 0);
	/* Neither yes nor no, or another fingerprint: asked again. */
	f->r->term.answered(f->r, "sure");
	assert_true(f->r->tls.asking);
	assert_true(f->r->term.questioning);
	f->r->term.answered(f->r, "sha256:0000000000000000000000000000000000000000000000000000000000000001");
	assert_true(f->r->tls.asking);
	f->r->term.answered(f->r, "YES");
	assert_false(f->r->tls.asking);
	RUN_UNTIL(f, got_hello(f));
	assert_true(got_hello(f));
	snprintf(line, sizeof(line), "127.0.0.1:5005 %s\n", fp_test);
	assert_string_equal(read_known(), line);
	/* The server hangs up before the link went live (it had given up
	 * waiting for the user): once, a new connection is tried. */
	f->serving = false;
	shutdown(f->peer, SHUT_RDWR);
	RUN_UNTIL(f, f->r->done || f->r->conn.want_connect || f->r->conn.st == CONN_CONNECTING);
	assert_true(said(f->r, "the server closed the connection while you decided; "
			       "connecting again"));
	assert_false(f->r->tls.consented);
	finish(f);

	/* Remembered: the next connection is not asked about. */
	f = start(UNPINNED, "test", true);
	RUN_UNTIL(f, got_hello(f));
	assert_true(got_hello(f));
	assert_false(f->r->tls.asking);
	finish(f);
	unlink(known);
}

static void test_unknown_server_asked_no(void **state)
{
	const char *answers[] = { "no", "", NULL };

	for (size_t i = 0; i < 3; i++) {
		struct fixture *f;

		unlink(known);
		f = start(UNPINNED, "test", true);
		RUN_UNTIL(f, f->r->tls.asking);
		assert_true(f->r->tls.asking);
		f->r->term.answered(f->r, answers[i]);	/* NULL: Ctrl+C or Ctrl+D */
		assert_true(refused(f));
		assert_null(read_known());
		finish(f);
	}
}

static void test_unknown_server_answered_with_its_fingerprint(void **state)
{
	struct fixture *f;

	unlink(known);
	f = start(UNPINNED, "test", true);
	RUN_UNTIL(f, f->r->tls.asking);
	f->r->term.answered(f->r, fp_test + 7);	/* the hex alone */
	RUN_UNTIL(f, got_hello(f));
	assert_true(got_hello(f));
	assert_non_null(read_known());
	finish(f);
	unlink(known);
}

static void test_not_a_tls_server(void **state)
{
	struct fixture *f = start(PINNED, "test", false);

	f->serving = false;
	assert_int_equal(write(f->peer, "Password: ", 10), 10);
	RUN_UNTIL(f, f->r->done);
	assert_true(refused(f));
	assert_true(said(f->r, "does not speak TLS"));
	finish(f);
}

static void test_setup_errors(void **state)
{
	struct remote *r = calloc(1, sizeof(*r));
	char err[256];

	assert_non_null(r);
	assert_int_equal(spec_parse("ssl:proto=tls1,certuser=nosuch,server=h,port=1", SPEC_CLIENT,
				    &r->spec, err, sizeof(err)), 0);
	assert_int_equal(rtls_setup(r), -ENOENT);
	assert_null(r->tls.cfg);
	memset(r, 0, sizeof(*r));
	assert_int_equal(spec_parse("spipe:proto=tls1,server=.,pipe=dbg", SPEC_CLIENT, &r->spec,
				    err, sizeof(err)), 0);
	assert_int_equal(rtls_setup(r), 0);
	assert_int_equal(r->tls.mode, RTLS_KNOWN);
	assert_string_equal(r->tls.known_key, "\\\\.\\pipe\\dbg");
	rtls_free(r);
	memset(r, 0, sizeof(*r));
	assert_int_equal(spec_parse("ssl:proto=tls1,server=::1,port=7", SPEC_CLIENT, &r->spec,
				    err, sizeof(err)), 0);
	assert_int_equal(rtls_setup(r), 0);
	assert_string_equal(r->tls.known_key, "[::1]:7");
	rtls_free(r);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pinned_server_gets_hello_after_the_handshake),
		cmocka_unit_test(test_pin_mismatch_is_a_final_refusal),
		cmocka_unit_test(test_ciphertext_one_send_at_a_time),
		cmocka_unit_test(test_lost_during_send_frees_after_completion),
		cmocka_unit_test(test_leaving_ends_with_close_notify),
		cmocka_unit_test(test_fingerprint_spec),
		cmocka_unit_test(test_known_server_match),
		cmocka_unit_test(test_known_server_changed_is_refused_loudly),
		cmocka_unit_test(test_unknown_server_refused_without_a_terminal),
		cmocka_unit_test(test_unknown_server_asked_yes),
		cmocka_unit_test(test_unknown_server_asked_no),
		cmocka_unit_test(test_unknown_server_answered_with_its_fingerprint),
		cmocka_unit_test(test_not_a_tls_server),
		cmocka_unit_test(test_setup_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
