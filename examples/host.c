/* SPDX-License-Identifier: MIT */
/*
 * A program that shares its own output, with no pseudo-terminal: it serves
 * tcp:port=PORT from its own epoll loop, says a line every 100 ms, and
 * prints every command a client types ("stop" ends it).
 *
 *   ./host 5005     then   nc 127.0.0.1 5005
 *                   or     ringside -remote tcp:server=127.0.0.1,port=5005
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <ringside.h>

static int command(void *arg, const struct ringside_client *who, const char *line, size_t len)
{
	struct ringside **s = arg;

	if (who->readonly)
		return -EPERM;
	printf("%s typed: %.*s\n", who->identity, (int)len, line);
	fflush(stdout);
	if (len == 4 && memcmp(line, "stop", 4) == 0)
		ringside_end(*s, 0);
	return 0;
}

static void joined(void *arg, const struct ringside_client *who)
{
	printf("joined: %s over %s\n", who->identity, who->transport);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct ringside_callbacks cb = { .command = command, .joined = joined };
	struct itimerspec every = { { 0, 100000000 }, { 0, 100000000 } };
	struct epoll_event ev = { .events = EPOLLIN }, got[2];
	struct ringside *s;
	char spec[64], err[256], line[64];
	size_t off = 0, len = 0;	/* what is left of the last line to write */
	unsigned long ticks = 0;
	int ep, tfd, res = 0;

	snprintf(spec, sizeof(spec), "tcp:port=%s", argc > 1 ? argv[1] : "5005");
	if (ringside_new(&s, NULL, &cb, &s, err, sizeof(err)) < 0 ||
	    ringside_server_start(s, spec, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "host: %s\n", err);
		return 1;
	}
	/* One epoll set for our own work (a timer) and the session's. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	timerfd_settime(tfd, 0, &every, NULL);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = ringside_fd(s);
	epoll_ctl(ep, EPOLL_CTL_ADD, ringside_fd(s), &ev);
	printf("serving %s\n", spec);
	fflush(stdout);
	while (res == 0) {
		int n = epoll_wait(ep, got, 2, -1);
		ssize_t w;

		for (int i = 0; i < n; i++) {
			uint64_t expirations;

			if (got[i].data.fd != tfd)
				continue;
			if (read(tfd, &expirations, sizeof(expirations)) < 0)
				continue;
			if (off == len) {
				len = (size_t)snprintf(line, sizeof(line), "tick %lu\r\n", ++ticks);
				off = 0;
			}
		}
		/* Short or -EAGAIN: clients' sends hold the transcript for now. */
		w = off < len ? ringside_write(s, line + off, len - off) : 0;
		off += w > 0 ? (size_t)w : 0;
		/* Whatever woke us, let the session do its part without waiting. */
		res = ringside_run_once(s, 0);
	}
	ringside_destroy(s);
	close(tfd);
	close(ep);
	return res < 0 ? 1 : 0;
}
