/* SPDX-License-Identifier: MIT */
/*
 * Link kinds: stream sockets (TCP, Unix) through io_uring sends and
 * multishot receives, and the host console through polls and non-blocking
 * read(2)/write(2).  A socket carrying TLS keeps its receive here and hands
 * the rest to link_tls.c.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/link.h"
#include "src/link_serial.h"
#include "src/link_tls.h"

/* The console reads at most this much per readiness. */
#define CONSOLE_READ_MAX 4096

static void on_socket_send(struct ring_op *op, int res, unsigned flags)
{
	struct link *l = container_of(op, struct link, send_op);

	l->sending = false;
	l->ctx->ev->sent(l, res);
}

static void on_socket_recv(struct ring_op *op, int res, unsigned flags)
{
	struct link *l = container_of(op, struct link, recv_op);
	struct ring_bufs *bufs = l->ctx->bufs;
	int bid = ring_cqe_buffer_id(flags);

	if (!(flags & IORING_CQE_F_MORE))
		l->receiving = false;
	if (bid >= 0) {
		char *data = ring_bufs_addr(bufs, (unsigned)bid);

		if (res > 0 && l->tls)
			link_tls_received(l, data, (size_t)res);
		else if (res > 0)
			l->ctx->ev->received(l, data, (size_t)res);
		ring_bufs_recycle(bufs, (unsigned)bid);
	}
	if (l->receiving)
		return;
	/* -ENOBUFS (or a last buffer) ends a multishot receive without
	 * ending the stream: the buffers it needs are recycled by now.  A
	 * failed TLS link has stopped receiving for good. */
	if ((res > 0 || res == -ENOBUFS) && !l->stopped && !(l->tls && link_tls_failed(l)) &&
	    link_recv(l) == 0)
		return;
	l->ctx->ev->recv_ended(l, res > 0 ? -ECANCELED : res);
}

static void on_console_writable(struct ring_op *op, int res, unsigned flags)
{
	struct link *l = container_of(op, struct link, send_op);
	ssize_t n;

	l->sending = false;
	if (res < 0) {
		l->ctx->ev->sent(l, res);
		return;
	}
	n = write(l->out_fd, l->lent, l->lent_len);
	if (n < 0)
		n = errno == EAGAIN || errno == EINTR ? 0 : -errno;
	l->lent = NULL;
	l->ctx->ev->sent(l, (int)n);
}

static void on_console_readable(struct ring_op *op, int res, unsigned flags)
{
	struct link *l = container_of(op, struct link, recv_op);
	char buf[CONSOLE_READ_MAX];
	ssize_t n;

	l->receiving = false;
	if (res < 0) {
		l->ctx->ev->recv_ended(l, res);
		return;
	}
	n = read(l->in_fd, buf, sizeof(buf));
	if (n > 0) {
		l->ctx->ev->received(l, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		l->ctx->ev->recv_ended(l, n == 0 ? 0 : -errno);
		return;
	}
	/* The owner may have cancelled the link from inside received(). */
	if (!l->stopped && !l->receiving)
		link_recv(l);
}

void link_init_socket(struct link *l, const struct link_ctx *ctx, enum link_kind kind, int fd)
{
	l->ctx = ctx;
	l->kind = (uint8_t)kind;
	l->in_fd = l->out_fd = fd;
	/* A registered slot when the table has one: every op then skips the
	 * kernel's file lookup.  Without one the fd serves. */
	l->slot = ring_file_add(ctx->ring, fd);
	if (l->slot < 0)
		l->slot = -1;
	l->send_op.cb = on_socket_send;
	l->recv_op.cb = on_socket_recv;
}

int link_init_tls(struct link *l, const struct link_ctx *ctx, enum link_kind kind, int fd,
		  struct tls_config *cfg)
{
	link_init_socket(l, ctx, kind, fd);
	return link_tls_init(l, cfg);
}

bool link_secured(const struct link *l)
{
	return !l->tls || link_tls_secured(l);
}

size_t link_record_max(const struct link *l)
{
	return l->kind == LINK_SERIAL ? link_serial_record_max(l) : 0;
}

const char *link_error(const struct link *l)
{
	if (l->kind == LINK_SERIAL)
		return link_serial_error(l);
	return l->tls ? link_tls_error(l) : NULL;
}

void link_init_console(struct link *l, const struct link_ctx *ctx, int in_fd, int out_fd)
{
	l->ctx = ctx;
	l->kind = LINK_CONSOLE;
	l->slot = -1;
	l->in_fd = in_fd;
	l->out_fd = out_fd;
	l->send_op.cb = on_console_writable;
	l->recv_op.cb = on_console_readable;
}

int link_recv(struct link *l)
{
	struct ring *r = l->ctx->ring;
	struct io_uring_sqe *sqe;
	int res;

	if (l->kind == LINK_SERIAL)
		return link_serial_recv(l);
	if (l->receiving)
		return -EBUSY;
	if (l->kind == LINK_CONSOLE) {
		res = ring_poll(r, &l->recv_op, l->in_fd, POLLIN);
		l->receiving = res == 0;
		return res;
	}
	sqe = ring_get_sqe(r, &l->recv_op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv_multishot(sqe, l->in_fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	link_sqe_fixed(l, sqe);
	sqe->buf_group = l->ctx->bufs->bgid;
	ring_sqe_set_op(sqe, &l->recv_op);
	l->receiving = true;
	return 0;
}

int link_send(struct link *l, const void *p, size_t len)
{
	struct ring *r = l->ctx->ring;
	struct io_uring_sqe *sqe;
	int res;

	if (l->tls)
		return link_tls_send(l, p, len);
	if (l->kind == LINK_SERIAL)
		return link_serial_send(l, p, len);
	if (l->sending)
		return -EBUSY;
	if (l->kind == LINK_CONSOLE) {
		/* A poll lends the kernel nothing; the write happens when the
		 * console can take it, from what stays lent until then. */
		res = ring_poll(r, &l->send_op, l->out_fd, POLLOUT);
		if (res == 0) {
			l->lent = p;
			l->lent_len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
			l->sending = true;
		}
		return res;
	}
	sqe = ring_get_sqe(r, &l->send_op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send(sqe, l->out_fd, p, len, MSG_NOSIGNAL);
	link_sqe_fixed(l, sqe);
	ring_sqe_set_op(sqe, &l->send_op);
	l->sending = true;
	return 0;
}

int link_sendmsg(struct link *l, struct msghdr *m)
{
	struct io_uring_sqe *sqe;

	if (l->tls)
		return link_tls_sendmsg(l, m);
	if (l->kind == LINK_SERIAL)
		return link_serial_sendmsg(l, m);
	if (l->sending)
		return -EBUSY;
	if (l->kind == LINK_CONSOLE)
		return -EOPNOTSUPP;
	sqe = ring_get_sqe(l->ctx->ring, &l->send_op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_sendmsg(sqe, l->out_fd, m, MSG_NOSIGNAL);
	link_sqe_fixed(l, sqe);
	ring_sqe_set_op(sqe, &l->send_op);
	l->sending = true;
	return 0;
}

void link_cancel(struct link *l)
{
	if (l->kind == LINK_SERIAL) {
		link_serial_cancel(l);
		return;
	}
	l->stopped = true;
	if (l->tls)
		link_tls_cancel(l);
	else if (l->sending)
		ring_cancel(l->ctx->ring, &l->send_op);
	if (l->receiving)
		ring_cancel(l->ctx->ring, &l->recv_op);
}

void link_cancel_send(struct link *l)
{
	if (l->kind == LINK_SERIAL)
		link_serial_cancel_send(l);
	else if (l->tls)
		link_tls_cancel_send(l);
	else if (l->sending)
		ring_cancel(l->ctx->ring, &l->send_op);
}

void link_shutdown_write(struct link *l)
{
	if (l->tls)
		link_tls_shutdown_write(l);
	else if (l->kind == LINK_SERIAL)
		link_serial_shutdown_write(l);
	else if (l->kind != LINK_CONSOLE && l->out_fd >= 0)
		shutdown(l->out_fd, SHUT_WR);
}

void link_shutdown(struct link *l)
{
	if (l->kind != LINK_CONSOLE && l->kind != LINK_SERIAL && l->in_fd >= 0)
		shutdown(l->in_fd, SHUT_RDWR);
}

void link_close(struct link *l)
{
	assert(!link_busy(l));
	if (l->kind == LINK_SERIAL)
		link_serial_close(l);
	if (l->tls)
		link_tls_free(l);
	/* The slot holds a reference to the socket: without this, close()
	 * would not close it. */
	if (l->slot >= 0)
		ring_file_remove(l->ctx->ring, l->slot);
	l->slot = -1;
	if (l->in_fd >= 0)
		close(l->in_fd);
	if (l->out_fd >= 0 && l->out_fd != l->in_fd)
		close(l->out_fd);
	l->in_fd = l->out_fd = -1;
}
