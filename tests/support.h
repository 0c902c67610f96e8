/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the cmocka suites.  Header-only, so every test stays
 * one .c file; include it after <cmocka.h>.
 */
#ifndef RINGSIDE_TESTS_SUPPORT_H
#define RINGSIDE_TESTS_SUPPORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/meta.h"
#include "src/notice.h"
#include "src/writer.h"

/* The transcript from FROM to head, NUL-terminated, in a static buffer. */
static inline const char *text_from(const struct hub *s, uint64_t from)
{
	static char buf[64 * 1024];
	size_t got = 0;

	while (from < s->tr.head) {
		const char *p;
		size_t n = transcript_span(&s->tr, from, &p);

		assert_true(got + n < sizeof(buf));
		memcpy(buf + got, p, n);
		got += n;
		from += n;
	}
	buf[got] = '\0';
	return buf;
}

/* A TCP port on ADDR that nothing is bound to, just now. */
static inline unsigned test_free_port(in_addr_t addr)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(addr) };
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	close(fd);
	return ntohs(in.sin_port);
}

/* The limits a session has by default (the CLI's defaults). */
static inline void test_limits(struct hub_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->history_bytes = 64 * 1024;
	l->max_auth = 128;
	l->line_max = 4096;
	l->peer_timeout_s = 60;
	l->notice_ms = 100;
}

/*
 * The session's side of a hand-built hub, as the suites play it
 * (src/session.c is the real one): meta-commands are answered, other lines
 * are shown as typed and written, with a newline, to test_program_fd (a
 * pipe standing in for the program's terminal; -1: a program that is not
 * reading, whose lines are refused), and an interrupt writes ^C there.
 */
static int test_program_fd = -1;

static inline void test_log(struct hub *h, const char *msg)
{
	fprintf(stderr, "ringside: %s\n", msg);
}

static inline void test_line(struct hub *h, struct client *c, const char *line, size_t len)
{
	if (meta_execute(h, c, line, len))
		return;
	if (test_program_fd < 0) {
		client_private(c, "ringside: the program is not reading input; line dropped\r\n");
		return;
	}
	if (!client_is_console(c))
		writer_typedf(h, "%s: %.*s", CLIENT_IDENT(c), (int)len, line);
	if (write(test_program_fd, line, len) < 0 || write(test_program_fd, "\n", 1) < 0)
		test_log(h, "writing to the program failed");
}

static inline void test_interrupt(struct hub *h, struct client *c)
{
	writer_typedf(h, "%s: ^C (interrupt)", CLIENT_IDENT(c));
	if (test_program_fd >= 0 && write(test_program_fd, "\003", 1) < 0)
		test_log(h, "interrupting the program failed");
}

static inline void test_unpinned(struct hub *h)
{
	writer_flush(h);
}

static const struct hub_ops test_hub_ops = {
	.log = test_log,
	.line = test_line,
	.interrupt = test_interrupt,
	.joined = notice_joined,
	.left = notice_left,
	.retracted = notice_retract,
	.unpinned = test_unpinned,
};

#endif
