// SPDX-License-Identifier: MIT
/* Unit tests for libringside's public API (include/ringside.h), through that header alone: its
 * error paths, a session without a pty served to real loopback clients, the pollable fd, the end,
 * and a destroy with clients connected and sends in flight (clean under ASan/LSan). */
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
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "include/ringside.h"

/* What the callbacks saw. */
struct seen {
	struct ringside *s;
	unsigned joined, left, commands, typed, interrupts;
	int refuse;			/* what the command callback returns */
	int last_readonly;
	char last_command[256];
	char last_identity[256];
	char last_transport[16];
	char log[4096];
};

static int on_command(void *arg, const struct ringside_client *who, const char *line, size_t len)
{
	struct seen *w = arg;

	w->commands++;
	w->last_readonly = who->readonly;
	snprintf(w->last_command, sizeof(w->last_command), "%.*s", (int)len, line);
	snprintf(w->last_identity, sizeof(w->last_identity), "%s", who->identity);
	if (w->refuse)
		return w->refuse;
	/* Answer as a debugger would: output follows the who-typed line. */
	ringside_write(w->s, "answer\r\n", 8);
	return 0;
}

static void on_interrupt(void *arg, const struct ringside_client *who)
{
	((struct seen *)arg)->interrupts++;
}

static void on_joined(void *arg, const struct ringside_client *who)
{
	struct seen *w = arg;

	w->joined++;
	snprintf(w->last_identity, sizeof(w->last_identity), "%s", who->identity);
	snprintf(w->last_transport, sizeof(w->last_transport), "%s", who->transport);
}

static void on_left(void *arg, const struct ringside_client *who)
{
	((struct seen *)arg)->left++;
}

static void on_typed(void *arg, const struct ringside_client *who, const char *line, size_t len)
{
	((struct seen *)arg)->typed++;
}

static void on_log(void *arg, const char *line)
{
	struct seen *w = arg;
	size_t n = strlen(w->log);

	snprintf(w->log + n, sizeof(w->log) - n, "%s\n", line);
}

static const struct ringside_callbacks callbacks = {
	.command = on_command, .interrupt = on_interrupt, .joined = on_joined,
	.left = on_left, .typed = on_typed, .log = on_log,
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_port(unsigned port, int rcvbuf)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* A session with callbacks into W and one tcp server; returns its port. */
static unsigned serve(struct seen *w, const char *extra, unsigned flags)
{
	struct ringside_params p;
	char spec[128], err[256];
	unsigned port = test_free_port(INADDR_LOOPBACK), id = 99;

	memset(w, 0, sizeof(*w));
	ringside_params_init(&p);
	p.flags = flags;
	p.notice_ms = 0;
	assert_int_equal(ringside_new(&w->s, &p, &callbacks, w, err, sizeof(err)), 0);
	snprintf(spec, sizeof(spec), "tcp:port=%u%s", port, extra);
	assert_int_equal(ringside_server_start(w->s, spec, &id, err, sizeof(err)), 0);
	assert_int_equal(id, 0);
	return port;
}

/* Run the loop, reading FD, until its input holds WANT (or 3 s pass). */
static bool pump_until(struct seen *w, int fd, char *buf, size_t cap, const char *want)
{
	uint64_t deadline = now_ms() + 3000;
	size_t got = strlen(buf);

	while (!strstr(buf, want) && now_ms() < deadline) {
		ssize_t n;

		assert_true(ringside_run_once(w->s, 10) >= 0);
		n = fd >= 0 ? read(fd, buf + got, cap - 1 - got) : 0;
		if (n > 0) {
			got += (size_t)n;
			buf[got] = '\0';
		}
	}
	return strstr(buf, want) != NULL;
}

static void pump_for(struct seen *w, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;

	while (now_ms() < deadline)
		ringside_run_once(w->s, 5);
}

/* ---- error paths ------------------------------------------------------- */

static void test_api_bad_params_are_refused_with_a_reason(void **state)
{
	struct ringside_params p;
	struct ringside *s = (struct ringside *)&p;
	char err[256];

	ringside_params_init(&p);
	p.ring_bytes = 1024;
	assert_int_equal(ringside_new(&s, &p, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "ring_bytes 1024 is below the minimum"));
	ringside_params_init(&p);
	p.flags = 0x80;
	assert_int_equal(ringside_new(&s, &p, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown flags 0x80"));
	/* No message buffer is fine too. */
	assert_int_equal(ringside_new(&s, &p, NULL, NULL, NULL, 0), -EINVAL);
	assert_int_equal(ringside_new(NULL, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
	ringside_destroy(NULL);
}

static void test_api_bad_spec_is_refused_with_a_reason(void **state)
{
	struct ringside *s;
	char err[256];
	unsigned id = 7;

	assert_int_equal(ringside_new(&s, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_true(ringside_server_start(s, "tcp:port=notaport", &id, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(id, 7);
	assert_true(ringside_server_start(s, "carrier-pigeon:port=1", &id, err, sizeof(err)) < 0);
	assert_true(err[0] != '\0');
	assert_int_equal(ringside_server_start(s, NULL, &id, err, sizeof(err)), -EINVAL);
	assert_true(ringside_server_start(s, "tcp:port=70000", NULL, NULL, 0) < 0);
	/* Nothing was started by any of them. */
	assert_int_equal(ringside_servers(s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	ringside_destroy(s);
}

static void test_api_end_server_twice_is_safe(void **state)
{
	struct seen w;
	char list[512], small[8];
	unsigned port = serve(&w, "", 0), id;
	int need;
	char want[128];

	assert_int_equal(ringside_server_start(w.s, "npipe:pipe=test-api-%d", &id, NULL, 0), 0);
	assert_int_equal(id, 1);
	need = ringside_servers(w.s, list, sizeof(list));
	snprintf(want, sizeof(want), "0 - Debugger Server - tcp:Port=%u\n1 - Debugger Server - npipe:Pipe=test-api-", port);
	assert_int_equal(strncmp(list, want, strlen(want)), 0);
	assert_int_equal(need, (int)strlen(list));
	/* Cut like snprintf, and still says what the whole needs. */
	assert_int_equal(ringside_servers(w.s, small, sizeof(small)), need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(ringside_servers(w.s, NULL, 0), need);

	assert_int_equal(ringside_server_end(w.s, 0), 0);
	assert_int_equal(ringside_server_end(w.s, 0), -EALREADY);
	assert_int_equal(ringside_server_end(w.s, 5), -ENOENT);
	pump_for(&w, 50);
	ringside_servers(w.s, list, sizeof(list));
	assert_int_equal(strncmp(list, "0 - <Disabled, exit pending>\n1 - Debugger Server", 48), 0);
	/* The ended port takes nobody any more. */
	{
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof(in)), -1);
		assert_int_equal(errno, ECONNREFUSED);
		close(fd);
	}
	ringside_destroy(w.s);
}

static void test_api_spawn_errors(void **state)
{
	char *missing[] = { "/nonexistent/ringside-test-program", NULL };
	char *none[] = { NULL };
	char *yes[] = { "true", NULL };
	struct ringside *s;
	char err[256];

	assert_int_equal(ringside_new(&s, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(ringside_spawn(s, none, err, sizeof(err)), -EINVAL);
	assert_int_equal(ringside_spawn(s, missing, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot run /nonexistent/ringside-test-program"));
	assert_int_equal(ringside_spawn(s, yes, err, sizeof(err)), 0);
	assert_int_equal(ringside_spawn(s, yes, err, sizeof(err)), -EBUSY);
	/* A hosted program's output is the session's: the host may not write. */
	assert_int_equal(ringside_write(s, "x", 1), -EBUSY);
	/* `true` exits at once: the session ends with its status. */
	assert_int_equal(ringside_run(s), 0);
	ringside_destroy(s);
}

static void test_api_process_setup_refuses_unknown_bits(void **state)
{
	struct ringside *s;
	char err[256];

	assert_int_equal(ringside_new(&s, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(ringside_take_process(s, 0x100, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "0x100"));
	assert_int_equal(ringside_console(s, -1, 1, err, sizeof(err)), -EBADF);
	ringside_destroy(s);
}

/* ---- a session without a pty ------------------------------------------- */

static void test_api_host_mode_lines_output_and_events(void **state)
{
	struct seen w;
	unsigned port = serve(&w, "", 0);
	char buf[8192] = "";
	int fd;

	fd = connect_port(port, 0);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "connected at"));
	assert_int_equal(w.joined, 1);
	assert_string_equal(w.last_transport, "tcp");
	assert_non_null(strstr(w.last_identity, "\\client1 (tcp 127.0.0.1:"));
	assert_int_equal(ringside_write(w.s, "hello from the host\r\n", 21), 21);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "hello from the host\r\n"));

	assert_int_equal(write(fd, "bt full\n", 8), 8);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "answer\r\n"));
	assert_int_equal(w.commands, 1);
	assert_int_equal(w.typed, 1);
	assert_string_equal(w.last_command, "bt full");
	assert_int_equal(w.last_readonly, 0);
	/* Everyone saw who typed it, before the host's answer. */
	{
		char *typed = strstr(buf, "(tcp 127.0.0.1:");

		assert_non_null(typed = strstr(buf, ": bt full\r\n"));
		assert_true(typed < strstr(buf, "answer\r\n"));
	}
	/* Meta-commands are the library's, and never reach the host. */
	assert_int_equal(write(fd, ".servers\n", 9), 9);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "0 - Debugger Server - tcp:Port="));
	assert_int_equal(w.commands, 1);
	assert_int_equal(w.typed, 2);
	/* A refusal is told to the typist. */
	w.refuse = -EPERM;
	assert_int_equal(write(fd, "kill\n", 5), 5);
	assert_true(pump_until(&w, fd, buf, sizeof(buf),
			       "ringside: command refused: Operation not permitted\r\n"));
	/* A telnet interrupt (IAC IP) reaches the interrupt callback. */
	assert_int_equal(write(fd, "\377\364", 2), 2);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), ": ^C (interrupt)"));
	assert_int_equal(w.interrupts, 1);
	/* A reset, not a FIN: a half-closed client may still be reading. */
	{
		struct linger hard = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	}
	close(fd);
	pump_for(&w, 200);
	assert_int_equal(w.left, 1);
	ringside_destroy(w.s);
}

static void test_api_readonly_lines(void **state)
{
	struct seen w;
	unsigned port = serve(&w, ",readonly", 0);
	char buf[4096] = "";
	int fd = connect_port(port, 0);

	/* Without RINGSIDE_READONLY_COMMANDS the library refuses them. */
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "connected at"));
	assert_int_equal(write(fd, "step\n", 5), 5);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "this is a read-only connection"));
	assert_int_equal(w.commands, 0);
	close(fd);
	ringside_destroy(w.s);

	/* With it, the host sees them marked, and decides. */
	port = serve(&w, ",readonly", RINGSIDE_READONLY_COMMANDS);
	fd = connect_port(port, 0);
	buf[0] = '\0';
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "connected at"));
	w.refuse = -EACCES;
	assert_int_equal(write(fd, "step\n", 5), 5);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "ringside: command refused: Permission denied"));
	assert_int_equal(w.commands, 1);
	assert_int_equal(w.last_readonly, 1);
	/* Meta-commands manage the session: never from a read-only client. */
	assert_int_equal(write(fd, ".endsrv 0\n", 10), 10);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "commands are not accepted"));
	assert_int_equal(ringside_server_end(w.s, 0), 0);
	close(fd);
	ringside_destroy(w.s);
}

/* The fd wakes a poll() when a client connects, with no other call made. */
static void test_api_fd_is_readable_when_there_is_work(void **state)
{
	struct seen w;
	unsigned port = serve(&w, "", 0);
	struct pollfd pfd = { .fd = ringside_fd(w.s), .events = POLLIN };
	uint64_t t0;
	int fd;

	assert_true(pfd.fd >= 0);
	/* Work is queued (the accept): readable before the first turn. */
	assert_int_equal(poll(&pfd, 1, 0), 1);
	/* Drain what is ready; run_once(0) does not wait. */
	t0 = now_ms();
	for (int i = 0; i < 5; i++)
		assert_int_equal(ringside_run_once(w.s, 0), 0);
	assert_true(now_ms() - t0 < 200);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	fd = connect_port(port, 0);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	t0 = now_ms();
	while (w.joined == 0 && now_ms() - t0 < 2000) {
		if (poll(&pfd, 1, 500) == 1)
			ringside_run_once(w.s, 0);
	}
	assert_int_equal(w.joined, 1);
	close(fd);
	ringside_destroy(w.s);
}

static void test_api_end_is_told_and_ending_twice_is_safe(void **state)
{
	struct seen w;
	unsigned port = serve(&w, "", 0);
	char buf[4096] = "";
	int fd = connect_port(port, 0);

	assert_true(pump_until(&w, fd, buf, sizeof(buf), "connected at"));
	ringside_end(w.s, 7);
	ringside_end(w.s, 9);
	assert_int_equal(ringside_write(w.s, "late", 4), -EPIPE);
	assert_int_equal(ringside_run(w.s), 7);
	assert_int_equal(ringside_run_once(w.s, 0), 1);
	assert_true(pump_until(&w, fd, buf, sizeof(buf), "ringside: the session has ended"));
	assert_true(ringside_server_start(w.s, "tcp:port=1", NULL, buf, sizeof(buf)) < 0);
	close(fd);
	ringside_destroy(w.s);
}

/* Writes as fast as it can: -EAGAIN is the transcript being held by sends in
 * flight to clients that do not read, never a lost byte. */
static void test_api_write_backpressure(void **state)
{
	struct seen w;
	struct ringside_params p;
	char err[256], chunk[1024], spec[64];
	unsigned port = test_free_port(INADDR_LOOPBACK);
	size_t taken = 0;
	int fds[4], again = 0;

	memset(&w, 0, sizeof(w));
	ringside_params_init(&p);
	p.ring_bytes = 256 * 1024;
	assert_int_equal(ringside_new(&w.s, &p, &callbacks, &w, err, sizeof(err)), 0);
	snprintf(spec, sizeof(spec), "tcp:port=%u", port);
	assert_int_equal(ringside_server_start(w.s, spec, NULL, err, sizeof(err)), 0);
	for (int i = 0; i < 4; i++)
		fds[i] = connect_port(port, 4096);
	pump_for(&w, 100);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 4000 && !again; i++) {
		ssize_t n = ringside_write(w.s, chunk, sizeof(chunk));

		if (n == -EAGAIN)
			again = 1;
		else
			taken += (size_t)n;
		ringside_run_once(w.s, 0);
	}
	/* The clients keep the lag policy's promise: writing goes on once
	 * they are skipped ahead. */
	assert_true(taken >= 256 * 1024);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	ringside_destroy(w.s);
}

/* Destroy with clients connected and sends in flight: everything is freed
 * (LSan) and no buffer is freed under the kernel (ASan), within bounds. */
static void test_api_destroy_with_clients_and_sends_in_flight(void **state)
{
	struct seen w;
	unsigned port = serve(&w, "", 0);
	char chunk[1024];
	int fds[32];
	uint64_t t0;

	for (int i = 0; i < 32; i++)
		fds[i] = connect_port(port, 4096);
	pump_for(&w, 100);
	memset(chunk, 'y', sizeof(chunk));
	for (int i = 0; i < 2000; i++) {
		ringside_write(w.s, chunk, sizeof(chunk));
		ringside_run_once(w.s, 0);
	}
	/* Some typed lines still being handled too. */
	for (int i = 0; i < 32; i += 4)
		assert_int_equal(write(fds[i], "info\n", 5), 5);
	ringside_run_once(w.s, 0);
	t0 = now_ms();
	ringside_destroy(w.s);
	assert_true(now_ms() - t0 < 1500);
	for (int i = 0; i < 32; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_bad_params_are_refused_with_a_reason),
		cmocka_unit_test(test_api_bad_spec_is_refused_with_a_reason),
		cmocka_unit_test(test_api_end_server_twice_is_safe),
		cmocka_unit_test(test_api_spawn_errors),
		cmocka_unit_test(test_api_process_setup_refuses_unknown_bits),
		cmocka_unit_test(test_api_host_mode_lines_output_and_events),
		cmocka_unit_test(test_api_readonly_lines),
		cmocka_unit_test(test_api_fd_is_readable_when_there_is_work),
		cmocka_unit_test(test_api_end_is_told_and_ending_twice_is_safe),
		cmocka_unit_test(test_api_write_backpressure),
		cmocka_unit_test(test_api_destroy_with_clients_and_sends_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
