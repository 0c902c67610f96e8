/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the telnet filter.  The first two bytes pick a
 * split point and the third a small reply cap; the rest is what a raw
 * client sends.  It is fed whole, in two pieces at the split, and a byte at
 * a time, and all three must leave the caller with the same text, answers
 * and events; output never outgrows input, answers never outgrow their
 * cap, TELNET_REPLY_MAX never drops one, and a smaller cap only cuts the
 * answers short.  Every buffer is allocated to its exact size so ASan sees
 * a single byte too far.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/telnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the caller has after some calls; text and reply sized for all. */
struct result {
	uint8_t *text;
	size_t text_len;
	uint8_t *reply;
	size_t reply_len;
	bool interrupt;
	bool are_you_there;
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	assert(p);
	return p;
}

static void result_init(struct result *r, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->text = xmalloc(n);
	r->reply = xmalloc(TELNET_REPLY_MAX(n));
}

static void result_free(struct result *r)
{
	free(r->text);
	free(r->reply);
}

/* One call with room for every answer, applied as the caller would. */
static void feed(struct telnet *t, struct result *r, const uint8_t *in, size_t n)
{
	size_t cap = TELNET_REPLY_MAX(n), reply_len = 0, len;
	uint8_t *buf = xmalloc(n), *reply = xmalloc(cap);
	struct telnet_events ev;

	memcpy(buf, in, n);
	len = telnet_filter(t, buf, n, reply, cap, &reply_len, &ev);
	assert(len <= n);
	assert(reply_len <= cap && reply_len % 3 == 0);
	if (ev.erase_line) {
		const uint8_t *lf = r->text_len ? memrchr(r->text, '\n', r->text_len) : NULL;

		r->text_len = lf ? (size_t)(lf - r->text) + 1 : 0;
	}
	memcpy(r->text + r->text_len, buf, len);
	r->text_len += len;
	memcpy(r->reply + r->reply_len, reply, reply_len);
	r->reply_len += reply_len;
	r->interrupt |= ev.interrupt;
	r->are_you_there |= ev.are_you_there;
	free(buf);
	free(reply);
}

static void assert_same(const struct result *a, const struct result *b)
{
	assert(a->text_len == b->text_len);
	assert(memcmp(a->text, b->text, a->text_len) == 0);
	assert(a->reply_len == b->reply_len);
	assert(memcmp(a->reply, b->reply, a->reply_len) == 0);
	assert(a->interrupt == b->interrupt);
	assert(a->are_you_there == b->are_you_there);
}

/* The same input whole with a cap that may be too small: the data is the
 * same, and the answers are the first ones that fit. */
static void check_small_cap(const uint8_t *in, size_t n, size_t cap, const struct result *whole)
{
	struct telnet t = { 0 };
	struct telnet_events ev;
	uint8_t *buf = xmalloc(n), *reply = xmalloc(cap);
	size_t reply_len = 0, len, fit;

	memcpy(buf, in, n);
	len = telnet_filter(&t, buf, n, reply, cap, &reply_len, &ev);
	assert(len <= n && reply_len <= cap);
	/* One call: the whole text is its output, erase_line or not. */
	assert(len == whole->text_len);
	assert(memcmp(buf, whole->text, len) == 0);
	fit = cap / 3 * 3;
	assert(reply_len == (whole->reply_len < fit ? whole->reply_len : fit));
	assert(memcmp(reply, whole->reply, reply_len) == 0);
	free(buf);
	free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, split;
	struct telnet t;
	size_t at, small_cap;

	if (size < 3)
		return 0;
	at = (size_t)data[0] | (size_t)data[1] << 8;
	small_cap = data[2];
	data += 3;
	size -= 3;
	at %= size + 1;

	result_init(&whole, size);
	memset(&t, 0, sizeof(t));
	feed(&t, &whole, data, size);

	result_init(&split, size);
	memset(&t, 0, sizeof(t));
	feed(&t, &split, data, at);
	feed(&t, &split, data + at, size - at);
	assert_same(&whole, &split);
	result_free(&split);

	if (size <= 1024) {
		result_init(&split, size);
		memset(&t, 0, sizeof(t));
		for (size_t i = 0; i < size; i++)
			feed(&t, &split, data + i, 1);
		assert_same(&whole, &split);
		result_free(&split);
	}

	check_small_cap(data, size, small_cap, &whole);
	result_free(&whole);
	return 0;
}
