/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's stdout and stderr as queues.  A terminal that stops
 * reading (flow control, a stuck pane, a full pipe) must not stop the loop:
 * signals, keys and the connection go on, and the connection stops reading
 * the socket instead while too much output waits here.  The fds are
 * non-blocking while the client runs and get their flags back at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/remote_internal.h"

/* A queue emptied after a burst gives back memory above this. */
#define OUTQ_KEEP_CAP (64u << 10)

bool bytes_put(struct bytes *b, const void *p, size_t n)
{
	if (n == 0)
		return true;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *grown;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2)
				return false;
			cap *= 2;
		}
		grown = realloc(b->p, cap);
		if (!grown)
			return false;
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return true;
}

void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void on_writable(struct ring_op *op, int res, unsigned flags)
{
	struct outq *o = container_of(op, struct outq, poll_op);

	/* The loop flushes before it waits again. */
	o->poll_inflight = false;
}

void outq_init(struct outq *o, int fd)
{
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->saved_flags = -1;
	o->poll_op.cb = on_writable;
	outq_nonblock(o);
}

void outq_nonblock(struct outq *o)
{
	int flags = fcntl(o->fd, F_GETFL);

	if (flags < 0 || (flags & O_NONBLOCK))
		return;
	if (fcntl(o->fd, F_SETFL, flags | O_NONBLOCK) == 0)
		o->saved_flags = flags;
}

void outq_restore(struct outq *o)
{
	if (o->saved_flags >= 0)
		fcntl(o->fd, F_SETFL, o->saved_flags);
	o->saved_flags = -1;
}

void outq_put(struct outq *o, const void *p, size_t n)
{
	if (o->broken)
		return;
	/* Out of memory: the output is lost, the client goes on. */
	bytes_put(&o->q, p, n);
}

size_t outq_backlog(const struct outq *o)
{
	return o->q.len - o->done;
}

/* Write what the fd takes without waiting.  Returns 0 when the queue is
 * empty, -EAGAIN when the fd is full, or another -errno (the fd is broken). */
static int write_some(struct outq *o)
{
	while (o->done < o->q.len) {
		ssize_t n = write(o->fd, o->q.p + o->done, o->q.len - o->done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno == EWOULDBLOCK ? EAGAIN : errno;

			if (err != EAGAIN) {
				o->broken = true;
				o->q.len = o->done = 0;
			}
			return -err;
		}
		o->done += (size_t)n;
	}
	o->q.len = o->done = 0;
	if (o->q.cap > OUTQ_KEEP_CAP) {
		bytes_free(&o->q);
	}
	return 0;
}

void outq_flush(struct outq *o, struct ring *ring)
{
	if (o->poll_inflight || outq_backlog(o) == 0)
		return;
	if (write_some(o) != -EAGAIN)
		return;
	/* Keep the unwritten part at the front so the buffer does not creep. */
	if (o->done > o->q.len / 2) {
		memmove(o->q.p, o->q.p + o->done, o->q.len - o->done);
		o->q.len -= o->done;
		o->done = 0;
	}
	if (ring_poll(ring, &o->poll_op, o->fd, POLLOUT) == 0)
		o->poll_inflight = true;
}

static int ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int)((now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000);
}

bool outq_drain(struct outq *o, int stop_fd, int timeout_ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = o->fd, .events = POLLOUT },
			{ .fd = stop_fd, .events = POLLIN },
		};
		size_t before = outq_backlog(o);
		int left;

		if (write_some(o) != -EAGAIN)
			return outq_backlog(o) == 0;
		/* The time limit is for a reader that makes no progress. */
		if (outq_backlog(o) < before)
			clock_gettime(CLOCK_MONOTONIC, &t0);
		left = timeout_ms - ms_since(&t0);
		if (left <= 0 || poll(pfd, stop_fd >= 0 ? 2 : 1, left) < 0)
			return false;
		if (pfd[1].revents & POLLIN)
			return false;
	}
}

void outq_free(struct outq *o)
{
	bytes_free(&o->q);
}
