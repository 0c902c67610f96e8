/* SPDX-License-Identifier: MIT */
/*
 * The shared transcript ring: appending, pinning for in-flight sends, and
 * finding where a late joiner's history starts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "src/transcript.h"

static size_t slot_of(const struct transcript *t, uint64_t off)
{
	return (size_t)((off / t->chunk) % t->nchunks);
}

static size_t next_slot(const struct transcript *t, size_t slot)
{
	return slot + 1 == t->nchunks ? 0 : slot + 1;
}

int transcript_init(struct transcript *t, size_t cap, size_t chunk)
{
	memset(t, 0, sizeof(*t));
	if (chunk < 4096 || (chunk & (chunk - 1)) || cap == 0)
		return -EINVAL;
	cap = (cap + chunk - 1) & ~(chunk - 1);
	if (cap / chunk < 4)
		cap = 4 * chunk;
	/* Anonymous mapping: pages become resident only as output arrives, so
	 * a quiet session costs almost nothing however large the ring is. */
	t->mem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->mem == MAP_FAILED) {
		t->mem = NULL;
		return -ENOMEM;
	}
	t->pins = calloc(cap / chunk, sizeof(*t->pins));
	if (!t->pins) {
		munmap(t->mem, cap);
		t->mem = NULL;
		return -ENOMEM;
	}
	t->marks_cap = 16384;
	t->marks = calloc(t->marks_cap, sizeof(*t->marks));
	if (!t->marks) {
		free(t->pins);
		munmap(t->mem, cap);
		t->mem = NULL;
		return -ENOMEM;
	}
	t->cap = cap;
	t->chunk = chunk;
	t->nchunks = (unsigned)(cap / chunk);
	t->at_line_start = true;
	return 0;
}

void transcript_free(struct transcript *t)
{
	if (t->mem)
		munmap(t->mem, t->cap);
	free(t->pins);
	free(t->marks);
	memset(t, 0, sizeof(*t));
}

static const struct transcript_mark *mark_at(const struct transcript *t, unsigned i)
{
	return &t->marks[(t->marks_first + i) % t->marks_cap];
}

void transcript_mark(struct transcript *t, uint64_t start, size_t len, enum transcript_kind kind)
{
	struct transcript_mark *m;

	if (len == 0 || kind == TRANSCRIPT_OUTPUT)
		return;
	/* Adjacent stretches of one kind merge: fewer records on the wire. */
	if (t->marks_len) {
		m = &t->marks[(t->marks_first + t->marks_len - 1) % t->marks_cap];
		if (m->kind == kind && m->start + m->len == start && m->len + len <= UINT32_MAX) {
			m->len += (uint32_t)len;
			return;
		}
	}
	if (t->marks_len == t->marks_cap) {
		t->marks_first = (t->marks_first + 1) % t->marks_cap;
		t->marks_len--;
	}
	m = &t->marks[(t->marks_first + t->marks_len++) % t->marks_cap];
	m->start = start;
	m->len = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
	m->kind = (uint8_t)kind;
}

enum transcript_kind transcript_kind_at(const struct transcript *t, uint64_t off, uint64_t *end)
{
	unsigned lo = 0, hi = t->marks_len;

	/* The first mark that ends after OFF. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct transcript_mark *m = mark_at(t, mid);

		if (m->start + m->len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->marks_len) {
		*end = t->head;
		return TRANSCRIPT_OUTPUT;
	}
	if (mark_at(t, lo)->start <= off) {
		const struct transcript_mark *m = mark_at(t, lo);

		*end = m->start + m->len < t->head ? m->start + m->len : t->head;
		return (enum transcript_kind)m->kind;
	}
	*end = mark_at(t, lo)->start;
	return TRANSCRIPT_OUTPUT;
}

uint64_t transcript_oldest(const struct transcript *t)
{
	uint64_t lost;

	if (t->head - t->base <= t->cap)
		return t->base;
	/* Entering a slot destroys its previous chunk as a whole. */
	lost = t->head - t->cap;
	lost = (lost + t->chunk - 1) & ~((uint64_t)t->chunk - 1);
	return lost > t->base ? lost : t->base;
}

bool transcript_pinned(const struct transcript *t)
{
	for (unsigned i = 0; i < t->nchunks; i++)
		if (t->pins[i])
			return true;
	return false;
}

void transcript_restart(struct transcript *t, uint64_t base)
{
	t->head = t->base = base;
	t->at_line_start = true;
	t->marks_first = t->marks_len = 0;
	/* Pins are counted per slot, whatever offset they were taken at: any
	 * left now belong to the old bytes. */
	t->held = transcript_pinned(t);
}

/* After a restart, the first write waits for the old sends to let go. */
static bool held(const struct transcript *t)
{
	return t->held && transcript_pinned(t);
}

bool transcript_blocked(const struct transcript *t)
{
	return held(t) || (t->head % t->chunk == 0 && t->pins[slot_of(t, t->head)] > 0);
}

size_t transcript_writable(const struct transcript *t, size_t want, char **where)
{
	size_t pos = (size_t)(t->head % t->cap);
	size_t room = t->cap - pos < want ? t->cap - pos : want;
	size_t into = (size_t)(t->head & (t->chunk - 1));	/* chunk is a power of two */
	size_t slot = slot_of(t, t->head);
	size_t n = 0;

	*where = t->mem + pos;
	if (held(t))
		return 0;
	/* The rest of the chunk head is in is ours; each chunk after it is
	 * ours unless a send pins what its slot held. */
	if (into) {
		n = t->chunk - into;
		slot = next_slot(t, slot);
	}
	while (n < room && t->pins[slot] == 0) {
		n += t->chunk;
		slot = next_slot(t, slot);
	}
	return n < room ? n : room;
}

void transcript_commit(struct transcript *t, size_t n)
{
	const char *p = t->mem + t->head % t->cap;

	if (n == 0)
		return;
	t->held = false;
	for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + n - q))) != NULL; q++)
		t->lines++;
	t->at_line_start = p[n - 1] == '\n';
	t->head += n;
}

size_t transcript_append(struct transcript *t, const void *p, size_t n)
{
	const char *src = p;
	size_t done = 0;

	while (done < n) {
		char *where;
		size_t room = transcript_writable(t, n - done, &where);

		if (room == 0)
			break;
		memcpy(where, src + done, room);
		transcript_commit(t, room);
		done += room;
	}
	return done;
}

size_t transcript_span(const struct transcript *t, uint64_t from, const char **p)
{
	size_t pos = (size_t)(from % t->cap);
	uint64_t avail = t->head - from;
	size_t room = t->cap - pos;

	*p = t->mem + pos;
	return avail < room ? (size_t)avail : room;
}

void transcript_pin(struct transcript *t, uint64_t off)
{
	t->pins[slot_of(t, off)]++;
}

void transcript_unpin(struct transcript *t, uint64_t off)
{
	t->pins[slot_of(t, off)]--;
}

/* The offset of the last '\n' in [lo, hi), or UINT64_MAX. */
static uint64_t find_newline_back(const struct transcript *t, uint64_t lo, uint64_t hi)
{
	while (hi > lo) {
		size_t pos = (size_t)((hi - 1) % t->cap);
		size_t seg = pos + 1;
		const char *nl;

		if (seg > hi - lo)
			seg = (size_t)(hi - lo);
		nl = memrchr(t->mem + pos + 1 - seg, '\n', seg);
		if (nl)
			return hi - (uint64_t)(t->mem + pos - nl) - 1;
		hi -= seg;
	}
	return UINT64_MAX;
}

/* The offset just after the first '\n' in [lo, hi), or UINT64_MAX. */
static uint64_t find_line_start_fwd(const struct transcript *t, uint64_t lo, uint64_t hi)
{
	while (lo < hi) {
		const char *p;
		size_t seg = transcript_span(t, lo, &p);
		const char *nl;

		if (seg > hi - lo)
			seg = (size_t)(hi - lo);
		nl = memchr(p, '\n', seg);
		if (nl)
			return lo + (uint64_t)(nl - p) + 1;
		lo += seg;
	}
	return UINT64_MAX;
}

uint64_t transcript_history_start(const struct transcript *t, size_t bytes, unsigned lines)
{
	uint64_t oldest = transcript_oldest(t);
	uint64_t start, nl;

	if (t->head == oldest)
		return t->head;
	if (lines > 0) {
		/* A newline as the very last byte ends the last line rather than
		 * starting an empty one. */
		uint64_t hi = t->head - (t->at_line_start ? 1 : 0);

		while (lines-- > 0) {
			nl = find_newline_back(t, oldest, hi);
			if (nl == UINT64_MAX)
				break;
			hi = nl;
		}
		if (lines == (unsigned)-1)
			return hi + 1;
		start = oldest;
	} else {
		start = t->head - oldest > bytes ? t->head - bytes : oldest;
	}
	/* The base is a line start by definition (transcript_restart). */
	if (start == t->base)
		return start;
	/* Begin at a line boundary, unless no whole line is held. */
	/* The byte before START tells, but only while the ring still holds it. */
	if (t->head - (start - 1) <= t->cap && t->mem[(start - 1) % t->cap] == '\n')
		return start;
	nl = find_line_start_fwd(t, start, t->head);
	return nl == UINT64_MAX ? start : nl;
}
