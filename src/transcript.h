/* SPDX-License-Identifier: MIT */
/*
 * The transcript: the session's output kept once, in a bounded ring addressed
 * by absolute byte offset.  Every client sends straight from this memory from
 * its own cursor; nothing here is ever copied per client.
 *
 * The ring is split into fixed-size chunks, the unit of pinning.  A send in
 * flight pins the chunk holding its first byte; the writer may not enter a
 * chunk slot whose previous contents are pinned, because the kernel may still
 * be reading them.  Pinning only the first chunk is enough: the writer reuses
 * slots in order, so it reaches a send's first chunk before any later one.
 */
#ifndef RINGSIDE_TRANSCRIPT_H
#define RINGSIDE_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a stretch of the transcript is, for clients that frame records. */
enum transcript_kind {
	TRANSCRIPT_OUTPUT,	/* the hosted program's output */
	TRANSCRIPT_NOTICE,	/* ringside's own lines */
	TRANSCRIPT_TYPED,	/* who typed what */
};

/* A stretch that is not program output.  Output is everything unmarked. */
struct transcript_mark {
	uint64_t start;
	uint32_t len;
	uint8_t kind;
};

struct transcript {
	char *mem;
	size_t cap;		/* bytes; a multiple of chunk */
	size_t chunk;		/* pin granularity; a power of two */
	unsigned nchunks;
	uint32_t *pins;		/* per slot: sends in flight starting in it */
	uint64_t head;		/* absolute offset of the next byte written */
	uint64_t base;		/* nothing before it is held (transcript_restart) */
	uint64_t lines;		/* newlines written, for statistics */
	bool at_line_start;	/* last byte written was '\n' (or nothing yet) */
	bool held;		/* restarted: no writing while sends pin old chunks */
	struct transcript_mark *marks;	/* ring of marks, oldest first */
	unsigned marks_cap, marks_first, marks_len;
};

/* CAP is rounded up to a multiple of CHUNK (a power of two).  0 or -errno. */
int transcript_init(struct transcript *t, size_t cap, size_t chunk);
void transcript_free(struct transcript *t);

/* Oldest offset whose byte is still held. */
uint64_t transcript_oldest(const struct transcript *t);

/*
 * Forget everything held and go on at offset BASE, as if it were a line
 * start: a transcript that mirrors another one's offsets (a repeater's) does
 * this when it starts and when its source says bytes are gone (a GAP).
 * Readers whose cursor is below BASE then have nothing to read there (they
 * are skipped ahead as lagging ones are).  Sends still in flight read the
 * old bytes, and the writer, which now starts at an arbitrary slot, could
 * land in them: it writes nothing until no send pins a chunk any more.
 */
void transcript_restart(struct transcript *t, uint64_t base);
/* Whether a send in flight pins any chunk. */
bool transcript_pinned(const struct transcript *t);

/*
 * Where the writer may put up to the returned number of bytes (at most WANT)
 * without overwriting a pinned chunk: a contiguous span at *WHERE, starting
 * at head.  Returns 0 when the next chunk slot is pinned (the caller must
 * wait for the sends holding it to complete or be cancelled).  Call
 * transcript_commit() with what was actually written.  Only the chunks WANT
 * reaches are looked at: the rest of a large ring costs nothing per read.
 */
size_t transcript_writable(const struct transcript *t, size_t want, char **where);
void transcript_commit(struct transcript *t, size_t n);

/* Append N bytes, wrapping as needed.  Returns N, or fewer when a pinned
 * chunk stops the writer. */
size_t transcript_append(struct transcript *t, const void *p, size_t n);

/* The contiguous bytes from FROM (oldest <= FROM <= head) towards head, as far
 * as the end of the physical buffer.  Returns their count. */
size_t transcript_span(const struct transcript *t, uint64_t from, const char **p);

/* Pin and unpin the chunk holding offset OFF for an in-flight send. */
void transcript_pin(struct transcript *t, uint64_t off);
void transcript_unpin(struct transcript *t, uint64_t off);
/* Whether the slot the writer enters next is pinned. */
bool transcript_blocked(const struct transcript *t);

/* Record that [START, START+LEN) is KIND.  Marks must come in offset order;
 * the oldest are forgotten when the mark ring is full. */
void transcript_mark(struct transcript *t, uint64_t start, size_t len, enum transcript_kind kind);

/*
 * The kind of the byte at OFF (oldest <= OFF < head) and where the stretch
 * of that kind ends (never beyond head): a framed client's next record is
 * [OFF, *END).
 */
enum transcript_kind transcript_kind_at(const struct transcript *t, uint64_t off, uint64_t *end);

/*
 * Where a joining (or skipped-ahead) reader should start so that it sees the
 * last LINES lines (when LINES > 0) or else about the last BYTES bytes,
 * starting at a line boundary where one is held.
 */
uint64_t transcript_history_start(const struct transcript *t, size_t bytes, unsigned lines);

#endif
