/* naive.c: the common fan-out server design, as a contender.
 *
 * One epoll loop.  It hosts the producer on a pty (like ringside does), and
 * for every chunk read from the pty it copies the chunk into *each* client's
 * own growable output buffer, then writes as much as the socket takes; the
 * rest waits for EPOLLOUT.  This is the Redis pub/sub design without RESP
 * framing: memory = N x backlog, one copy per client per chunk.
 *
 * Slow clients: a client whose buffer exceeds --limit (default 32 MiB, Redis'
 * pubsub hard limit) is disconnected; below that its buffer just grows.
 * Lines clients send are typed into the producer's terminal; ".stats" instead
 * broadcasts "naive stats: clients=N disconnected=D" so the harness can wait
 * for registration the same way it does with ringside.  With --greet each
 * client gets a line as soon as it is accepted (the join-storm cell times
 * registration by a client's first byte). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

struct conn {
	int fd;
	bool want_out;        /* EPOLLOUT armed */
	char *out;            /* pending output: out[head..len) */
	size_t head, len, cap;
	char in[1024];        /* partial input line */
	size_t inlen;
};

static int ep, lfd, master = -1;
static struct conn **conns;   /* indexed by fd */
static int nconns, maxfd;
static long disconnects;
static size_t limit = 32u << 20;
static size_t peak_buffered;
static pid_t child;
static bool greeting;

#define TAG_LISTEN ((uint64_t)-1)
#define TAG_PTY    ((uint64_t)-2)

static void drop(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conns[c->fd] = NULL;
	free(c->out);
	free(c);
	nconns--;
}

static void arm(struct conn *c, bool out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u64 = (uint64_t)c->fd};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Writes what the socket accepts; returns -1 if the client is gone. */
static int flush(struct conn *c)
{
	while (c->head < c->len) {
		ssize_t k = send(c->fd, c->out + c->head, c->len - c->head, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				arm(c, true);
				return 0;
			}
			return -1;
		}
		c->head += (size_t)k;
	}
	c->head = c->len = 0;
	arm(c, false);
	return 0;
}

/* The per-client copy this contender exists to measure. */
static int enqueue(struct conn *c, const char *p, size_t n)
{
	if (c->head > 0 && c->head == c->len)
		c->head = c->len = 0;
	if (c->len + n > c->cap) {
		if (c->head > 0) { /* compact before growing */
			memmove(c->out, c->out + c->head, c->len - c->head);
			c->len -= c->head;
			c->head = 0;
		}
		if (c->len + n > c->cap) {
			size_t cap = c->cap ? c->cap : 16384;
			while (cap < c->len + n)
				cap *= 2;
			char *q = realloc(c->out, cap);
			if (!q)
				return -1;
			c->out = q;
			c->cap = cap;
		}
	}
	memcpy(c->out + c->len, p, n);
	c->len += n;
	size_t pending = c->len - c->head;
	if (pending > peak_buffered)
		peak_buffered = pending;
	if (pending > limit)
		return -1;
	return 0;
}

static void broadcast(const char *p, size_t n)
{
	for (int fd = 0; fd <= maxfd; fd++) {
		struct conn *c = conns[fd];
		if (!c)
			continue;
		bool was_idle = c->head == c->len;
		if (enqueue(c, p, n) || (was_idle && flush(c))) {
			disconnects++;
			drop(c);
		}
	}
}

static void on_input(struct conn *c)
{
	for (;;) {
		ssize_t k = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
			drop(c);
			return;
		}
		if (k < 0)
			return;
		c->inlen += (size_t)k;
		char *nl;
		while ((nl = memchr(c->in, '\n', c->inlen))) {
			size_t ll = (size_t)(nl - c->in) + 1;
			if (ll >= 6 && !strncmp(c->in, ".stats", 6)) {
				char msg[128];
				int m = snprintf(msg, sizeof msg, "naive stats: clients=%d disconnected=%ld\n", nconns,
						 disconnects);
				broadcast(msg, (size_t)m);
			} else if (master >= 0) {
				write_all(master, c->in, ll);
			}
			memmove(c->in, c->in + ll, c->inlen - ll);
			c->inlen -= ll;
		}
		if (c->inlen == sizeof c->in) /* overlong line: type it as is */
			c->inlen = 0;
	}
}

static void on_accept(void)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct conn *c = calloc(1, sizeof *c);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd = fd;
		conns[fd] = c;
		if (fd > maxfd)
			maxfd = fd;
		nconns++;
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		static const char hello[] = "naive: hello\n";
		if (greeting && (enqueue(c, hello, sizeof hello - 1) || flush(c))) {
			disconnects++;
			drop(c);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, 0, 'p'},
		{"limit", required_argument, 0, 'l'},
		{"cpu", required_argument, 0, 'c'},
		{"greet", no_argument, 0, 'g'},
		{0, 0, 0, 0},
	};
	int port = 0, cpu = -1, c;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port = atoi(optarg); break;
		case 'l': limit = (size_t)strtoull(optarg, NULL, 10); break;
		case 'c': cpu = atoi(optarg); break;
		case 'g': greeting = true; break;
		default: goto usage;
		}
	}
	if (port <= 0 || optind >= argc) {
usage:
		fprintf(stderr, "usage: naive --port P [--limit BYTES] [--cpu C] [--greet] -- PRODUCER ARGS...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	exit_on_term(&child);
	if (pin_cpu(cpu))
		die("sched_setaffinity");
	long nofile = raise_nofile();
	conns = calloc((size_t)nofile + 1, sizeof *conns);
	lfd = listen_tcp(port, 4096);
	if (lfd < 0)
		die("listen");
	set_nonblock(lfd, 1);
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

	child = forkpty(&master, NULL, NULL, NULL);
	if (child < 0)
		die("forkpty");
	if (child == 0) {
		execvp(argv[optind], &argv[optind]);
		_exit(127);
	}
	fcntl(master, F_SETFD, FD_CLOEXEC);
	set_nonblock(master, 1);
	ev.events = EPOLLIN;
	ev.data.u64 = TAG_PTY;
	epoll_ctl(ep, EPOLL_CTL_ADD, master, &ev);

	char *buf = malloc(65536);
	struct epoll_event evs[1024];
	for (;;) {
		int n = epoll_wait(ep, evs, 1024, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int e = 0; e < n; e++) {
			uint64_t tag = evs[e].data.u64;
			if (tag == TAG_LISTEN) {
				on_accept();
			} else if (tag == TAG_PTY) {
				ssize_t k = read(master, buf, 65536);
				if (k > 0) {
					broadcast(buf, (size_t)k);
				} else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
					/* EIO: the producer closed its terminal (exited) */
					fprintf(stderr, "naive: producer gone; clients=%d disconnected=%ld peak_buffered=%zu\n",
						nconns, disconnects, peak_buffered);
					int st = 0;
					waitpid(child, &st, 0);
					return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
				}
			} else {
				struct conn *cc = conns[(int)tag];
				if (!cc)
					continue;
				if (evs[e].events & EPOLLOUT) {
					if (flush(cc)) {
						drop(cc);
						continue;
					}
				}
				if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					on_input(cc);
			}
		}
	}
}
