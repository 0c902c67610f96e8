/* SPDX-License-Identifier: MIT */
/*
 * The io_uring loop: setup with the best task-running mode the kernel has,
 * SQE allocation tied to completion objects, and the single dispatch point.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring/ring.h"

/* CQEs copied out per batch before dispatch, so a callback that frees its
 * owner, queues new SQEs or re-enters the ring never sees a half-consumed CQ. */
#define RING_DISPATCH_BATCH 256

static void ignore_cb(struct ring_op *op, int res, unsigned flags)
{
}

int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_entries)
{
	static const unsigned modes[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int res = -EINVAL;

	memset(r, 0, sizeof(*r));
	r->ignore.cb = ignore_cb;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = modes[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
		res = io_uring_queue_init_params(sq_entries, &r->uring, &p);
		if (res == 0) {
			r->features = p.features;
			r->setup_flags = p.flags;
			return 0;
		}
		/* Older kernels reject unknown setup flags with -EINVAL; anything
		 * else (no memory, no io_uring at all) will not improve. */
		if (res != -EINVAL)
			break;
	}
	return res;
}

void ring_exit(struct ring *r)
{
	io_uring_queue_exit(&r->uring);
	free(r->files.free);
	memset(&r->files, 0, sizeof(r->files));
}

int ring_files_init(struct ring *r, unsigned count)
{
	int res = io_uring_register_files_sparse(&r->uring, count);

	if (res < 0)
		return res;
	r->files.count = count;
	return 0;
}

/* Back on the free list.  Failing to grow it loses the slot for reuse,
 * never correctness. */
static void slot_release(struct ring_files *f, int slot)
{
	if (f->nfree == f->cap) {
		unsigned cap = f->cap ? f->cap * 2 : 64;
		int32_t *grown = realloc(f->free, cap * sizeof(*grown));

		if (!grown)
			return;
		f->free = grown;
		f->cap = cap;
	}
	f->free[f->nfree++] = slot;
}

int ring_file_add(struct ring *r, int fd)
{
	struct ring_files *f = &r->files;
	int slot, res;

	if (f->nfree)
		slot = f->free[--f->nfree];
	else if (f->next < f->count)
		slot = (int)f->next++;
	else
		return f->count ? -ENOSPC : -ENXIO;
	res = io_uring_register_files_update(&r->uring, (unsigned)slot, &fd, 1);
	if (res < 0) {
		slot_release(f, slot);
		return res;
	}
	return slot;
}

void ring_file_remove(struct ring *r, int slot)
{
	int none = -1;

	if (slot < 0 || (unsigned)slot >= r->files.count)
		return;
	io_uring_register_files_update(&r->uring, (unsigned)slot, &none, 1);
	slot_release(&r->files, slot);
}

struct io_uring_sqe *ring_get_sqe(struct ring *r, struct ring_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);

	if (!sqe) {
		if (ring_flush(r) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&r->uring);
		if (!sqe)
			return NULL;
	}
	io_uring_sqe_set_data(sqe, op);
	r->inflight++;
	return sqe;
}

int ring_cancel(struct ring *r, struct ring_op *op)
{
	struct io_uring_sqe *sqe = ring_get_sqe(r, &r->ignore);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, IORING_ASYNC_CANCEL_ALL);
	ring_sqe_set_op(sqe, &r->ignore);
	return 0;
}

int ring_poll(struct ring *r, struct ring_op *op, int fd, unsigned poll_mask)
{
	struct io_uring_sqe *sqe = ring_get_sqe(r, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, poll_mask);
	ring_sqe_set_op(sqe, op);
	return 0;
}

/* Clears 'armed' before the owner runs, so the owner may re-arm from its
 * callback. */
static void timer_cb(struct ring_op *op, int res, unsigned flags)
{
	struct ring_timer *t = (struct ring_timer *)op;

	t->armed = false;
	t->fire(t, res);
}

int ring_timer_arm(struct ring *r, struct ring_timer *t, uint64_t nsec, ring_timer_cb fire)
{
	struct io_uring_sqe *sqe;

	if (t->armed)
		return -EBUSY;
	t->op.cb = timer_cb;
	t->fire = fire;
	t->ts.tv_sec = (long long)(nsec / 1000000000u);
	t->ts.tv_nsec = (long long)(nsec % 1000000000u);
	sqe = ring_get_sqe(r, &t->op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, &t->ts, 0, 0);
	ring_sqe_set_op(sqe, &t->op);
	t->armed = true;
	return 0;
}

int ring_timer_cancel(struct ring *r, struct ring_timer *t)
{
	struct io_uring_sqe *sqe;

	if (!t->armed)
		return 0;
	sqe = ring_get_sqe(r, &r->ignore);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&t->op, 0);
	ring_sqe_set_op(sqe, &r->ignore);
	return 0;
}

int ring_flush(struct ring *r)
{
	int res = io_uring_submit(&r->uring);

	if (res > 0)
		r->stats.submitted += (unsigned)res;
	return res;
}

static unsigned dispatch_ready(struct ring *r)
{
	struct {
		struct ring_op *op;
		int res;
		unsigned flags;
	} batch[RING_DISPATCH_BATCH];
	unsigned total = 0;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_for_each_cqe(&r->uring, head, cqe) {
			batch[n].op = io_uring_cqe_get_data(cqe);
			batch[n].res = cqe->res;
			batch[n].flags = cqe->flags;
			if (++n == RING_DISPATCH_BATCH)
				break;
		}
		if (n == 0)
			break;
		io_uring_cq_advance(&r->uring, n);
		for (unsigned i = 0; i < n; i++) {
			struct ring_op *op = batch[i].op;
			unsigned flags = batch[i].flags;

			if (!(flags & IORING_CQE_F_MORE))
				r->inflight--;
			if (op == &r->ignore || op == NULL)
				continue;
			op->cb(op, batch[i].res, flags);
		}
		total += n;
	}
	r->stats.completed += total;
	return total;
}

int ring_run_once(struct ring *r, uint64_t timeout_nsec)
{
	struct io_uring_cqe *cqe;
	unsigned queued = io_uring_sq_ready(&r->uring);
	int res;

	r->stats.enters++;
	/* The kernel holds back completions that did not fit in the CQ and
	 * flags it; koverflow only counts those it had to drop. */
	if (IO_URING_READ_ONCE(*r->uring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
		r->stats.cq_overflow++;
	if (timeout_nsec) {
		struct __kernel_timespec ts = {
			.tv_sec = (long long)(timeout_nsec / 1000000000u),
			.tv_nsec = (long long)(timeout_nsec % 1000000000u),
		};
		res = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1, &ts, NULL);
	} else {
		res = io_uring_submit_and_wait(&r->uring, 1);
	}
	if (res >= 0 || res == -ETIME)
		r->stats.submitted += queued - io_uring_sq_ready(&r->uring);
	if (res < 0 && res != -ETIME && res != -EINTR)
		return res;
	if (r->uring.cq.koverflow && *r->uring.cq.koverflow)
		r->stats.cq_dropped = *r->uring.cq.koverflow;
	return (int)dispatch_ready(r);
}
