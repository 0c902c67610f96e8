/* SPDX-License-Identifier: MIT */
/*
 * Provided-buffer rings: one pool of receive buffers the kernel hands out to
 * multishot receives, so idle sockets cost no buffer memory at all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring/ring.h"

int ring_bufs_init(struct ring *r, struct ring_bufs *b, uint16_t bgid, unsigned count,
		   unsigned size)
{
	struct io_uring_buf_reg reg;
	long page = sysconf(_SC_PAGESIZE);
	int res;

	if (count == 0 || count > 32768 || (count & (count - 1)) || size == 0)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->count = count;
	b->size = size;
	b->bgid = bgid;
	/* The kernel requires the ring itself to be page aligned. */
	b->br_bytes = ((size_t)count * sizeof(struct io_uring_buf) + (size_t)page - 1) &
		      ~((size_t)page - 1);
	b->br = mmap(NULL, b->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (b->br == MAP_FAILED) {
		b->br = NULL;
		return -ENOMEM;
	}
	b->mem = malloc((size_t)count * size);
	if (!b->mem) {
		res = -ENOMEM;
		goto fail;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = count;
	reg.bgid = bgid;
	res = io_uring_register_buf_ring(&r->uring, &reg, 0);
	if (res < 0)
		goto fail;
	io_uring_buf_ring_init(b->br);
	for (unsigned i = 0; i < count; i++)
		io_uring_buf_ring_add(b->br, b->mem + (size_t)i * size, size, (unsigned short)i,
				      io_uring_buf_ring_mask(count), (int)i);
	io_uring_buf_ring_advance(b->br, (int)count);
	return 0;
fail:
	free(b->mem);
	munmap(b->br, b->br_bytes);
	memset(b, 0, sizeof(*b));
	return res;
}

void ring_bufs_exit(struct ring *r, struct ring_bufs *b)
{
	if (!b->br)
		return;
	io_uring_unregister_buf_ring(&r->uring, b->bgid);
	free(b->mem);
	munmap(b->br, b->br_bytes);
	memset(b, 0, sizeof(*b));
}

void *ring_bufs_addr(const struct ring_bufs *b, unsigned bid)
{
	return b->mem + (size_t)bid * b->size;
}

void ring_bufs_recycle(struct ring_bufs *b, unsigned bid)
{
	io_uring_buf_ring_add(b->br, ring_bufs_addr(b, bid), b->size, (unsigned short)bid,
			      io_uring_buf_ring_mask(b->count), 0);
	io_uring_buf_ring_advance(b->br, 1);
}
