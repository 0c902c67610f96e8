/* SPDX-License-Identifier: MIT */
/*
 * ring: the io_uring event loop and nothing else.  Every in-flight operation
 * owns one struct ring_op (embedded in its owner); completions are dispatched
 * in one place, ring_run_once().  Knows no protocol.  Uses only liburing and libc.
 */
#ifndef RINGSIDE_RING_H
#define RINGSIDE_RING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring_op;

/* Owners embed their ring_op (or ring_timer) and get back to themselves
 * from the pointer a callback receives. */
#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/*
 * Completion callback.  RES is the CQE result (>= 0 or -errno), FLAGS the CQE
 * flags.  For a multishot op the callback runs once per CQE; the op stays in
 * flight while FLAGS has IORING_CQE_F_MORE.
 */
typedef void (*ring_op_cb)(struct ring_op *op, int res, unsigned flags);

struct ring_op {
	ring_op_cb cb;
};

struct ring_stats {
	uint64_t submitted;	/* SQEs handed to the kernel */
	uint64_t completed;	/* CQEs dispatched */
	uint64_t enters;	/* io_uring_enter calls made by the loop */
	uint64_t cq_overflow;	/* loop turns that found the CQ overflowed */
	uint64_t cq_dropped;	/* CQEs the kernel dropped (kernels without NODROP) */
};

/*
 * Registered files: a slot in the ring's file table lets an SQE name a
 * socket by index (IOSQE_FIXED_FILE), which spares the kernel a file
 * lookup and reference per operation; for a fan-out that is a send per
 * client per record.  Slots are handed out from a free list; when the table
 * is full (or the kernel has none), callers keep using plain fds.
 */
struct ring_files {
	int32_t *free;		/* slots given back, a stack (grows as they are) */
	unsigned nfree, cap;
	unsigned next;		/* slots from here on were never used */
	unsigned count;		/* the table's size; 0: no table */
};

struct ring {
	struct io_uring uring;
	struct ring_files files;
	unsigned inflight;	/* ops whose last CQE has not arrived yet */
	unsigned features;	/* IORING_FEAT_* reported by the kernel */
	unsigned setup_flags;	/* IORING_SETUP_* actually in use */
	struct ring_op ignore;	/* owner of fire-and-forget SQEs (cancels) */
	struct ring_stats stats;
};

struct ring_timer;
/* RES is -ETIME when the timer fired, -ECANCELED when it was cancelled. */
typedef void (*ring_timer_cb)(struct ring_timer *t, int res);

/* A one-shot timer.  The timespec lives here because the kernel reads it at
 * submission, which may come after ring_timer_arm() returns. */
struct ring_timer {
	struct ring_op op;	/* first member: the dispatcher casts back */
	ring_timer_cb fire;
	struct __kernel_timespec ts;
	bool armed;
};

/*
 * Set up a ring with SQ_ENTRIES submission slots and room for CQ_ENTRIES
 * completions.  Uses SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them and
 * falls back to COOP_TASKRUN, then to plain setup.  Returns 0 or -errno.
 */
int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_entries);
void ring_exit(struct ring *r);

/*
 * An SQE whose completion goes to OP, with user_data set.  When the SQ is full
 * the queued SQEs are submitted first.  Returns NULL only if that submission
 * failed; the op is then not in flight.  The caller fills in the SQE; its
 * prep helper must not overwrite user_data afterwards (use ring_sqe_set_op()
 * after a prep if in doubt).
 */
struct io_uring_sqe *ring_get_sqe(struct ring *r, struct ring_op *op);

/* Re-bind an SQE to OP after an io_uring_prep_*() call cleared user_data. */
static inline void ring_sqe_set_op(struct io_uring_sqe *sqe, struct ring_op *op)
{
	io_uring_sqe_set_data(sqe, op);
}

/* Ask the kernel to cancel every in-flight request owned by OP.  The
 * requests still complete through OP (usually with -ECANCELED).  Returns 0 or
 * -errno. */
int ring_cancel(struct ring *r, struct ring_op *op);

/* Wait for POLL_MASK on FD once (IORING_OP_POLL_ADD); used for ttys, pipes and
 * signalfds, on which IORING_OP_READ/WRITE could block the whole ring. */
int ring_poll(struct ring *r, struct ring_op *op, int fd, unsigned poll_mask);

/* Fire CB after NSEC nanoseconds.  Re-arming an armed timer is -EBUSY. */
int ring_timer_arm(struct ring *r, struct ring_timer *t, uint64_t nsec, ring_timer_cb fire);
/* Cancel an armed timer; its callback still runs, with -ECANCELED. */
int ring_timer_cancel(struct ring *r, struct ring_timer *t);

/*
 * Submit everything queued, wait until at least one completion is ready (or
 * TIMEOUT_NSEC passed, when non-zero), and dispatch every ready completion.
 * Returns the number of completions dispatched, or -errno (-EINTR is not an
 * error: the caller just loops).
 */
int ring_run_once(struct ring *r, uint64_t timeout_nsec);

/* A sparse file table of COUNT slots.  0 or -errno (the ring then works
 * without one: ring_file_add() fails and callers use plain fds). */
int ring_files_init(struct ring *r, unsigned count);
/* Put FD in a free slot: the slot (>= 0), or -ENOSPC / -errno.  The slot
 * holds its own reference to the file until ring_file_remove(). */
int ring_file_add(struct ring *r, int fd);
/* Empty SLOT (only once no op in flight uses it). */
void ring_file_remove(struct ring *r, int slot);

/* Submit queued SQEs without waiting.  Returns the count or -errno. */
int ring_flush(struct ring *r);

/*
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING): COUNT buffers of SIZE
 * bytes the kernel picks from for multishot receives, shared by every socket.
 * COUNT must be a power of two <= 32768.
 */
struct ring_bufs {
	struct io_uring_buf_ring *br;
	char *mem;
	size_t br_bytes;
	unsigned count;
	unsigned size;
	uint16_t bgid;
};

int ring_bufs_init(struct ring *r, struct ring_bufs *b, uint16_t bgid, unsigned count,
		   unsigned size);
void ring_bufs_exit(struct ring *r, struct ring_bufs *b);
/* The memory of buffer BID, as reported in a CQE's flags. */
void *ring_bufs_addr(const struct ring_bufs *b, unsigned bid);
/* Give buffer BID back to the kernel once its bytes have been consumed. */
void ring_bufs_recycle(struct ring_bufs *b, unsigned bid);
/* The buffer id carried by a CQE with IORING_CQE_F_BUFFER, or -1. */
static inline int ring_cqe_buffer_id(unsigned flags)
{
	return (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
}

#endif
