/* SPDX-License-Identifier: MIT */
/*
 * The transcript writer.  Every byte clients read is appended here once;
 * text that cannot go in while sends in flight pin the ring waits in a
 * bounded backlog, so the order of what is said is never changed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/native.h"
#include "src/writer.h"

#define BACKLOG_MAX (1024 * 1024)

void writer_appended(struct hub *h, uint64_t old_head)
{
	/* Lag is checked when the writer enters a new chunk: often enough to
	 * keep every client inside the ring, rarely enough to be free. */
	if (old_head / h->tr.chunk != h->tr.head / h->tr.chunk) {
		for (struct client *c = h->clients; c; c = c->next) {
			if (c->state != CLIENT_LIVE || h->tr.head - c->cursor <= h->lag_budget)
				continue;
			if (!client_sending(c)) {
				client_apply_lag(c);
			} else if (!c->lagging && c->send_kind != SEND_PRIVATE) {
				/* Skipped once the send ends: a cursor never
				 * moves under a send in flight. */
				c->lagging = true;
				link_cancel_send(&c->link);
			}
		}
	}
	h->kick_pending = true;
}

static void append_or_backlog(struct hub *h, enum transcript_kind kind, const char *p, size_t n)
{
	uint64_t old_head = h->tr.head;
	size_t done = 0;

	if (h->backlog_len == 0) {
		done = transcript_append(&h->tr, p, n);
		transcript_mark(&h->tr, old_head, done, kind);
	}
	if (done < n) {
		size_t rest = n - done;

		if (rest > BACKLOG_MAX - h->backlog_len) {
			hub_log(h, "transcript blocked: %zu bytes of notices dropped", rest);
			rest = BACKLOG_MAX - h->backlog_len;
		}
		if (!h->backlog)
			h->backlog = malloc(BACKLOG_MAX);
		if (h->backlog) {
			memcpy(h->backlog + h->backlog_len, p + done, rest);
			h->backlog_len += rest;
		}
	}
	if (h->tr.head != old_head)
		writer_appended(h, old_head);
}

void writer_emit_as(struct hub *h, enum transcript_kind kind, const char *text, size_t len)
{
	bool fresh;

	/* An edge answers meta-commands to the asker alone: its transcript
	 * is the origin's, byte for byte. */
	if (h->meta_private) {
		struct client *c = h->meta_private;

		if (c->native) {
			native_private_text(c, text, len);
		} else {
			client_queue_private(c, text, len);
			client_queue_private(c, "\r\n", 2);
		}
		return;
	}
	fresh = h->backlog_len ? h->backlog[h->backlog_len - 1] == '\n' :
				 h->tr.at_line_start;

	if (!fresh)
		append_or_backlog(h, kind, "\r\n", 2);
	append_or_backlog(h, kind, text, len);
	append_or_backlog(h, kind, "\r\n", 2);
}

void writer_emit(struct hub *h, const char *text, size_t len)
{
	writer_emit_as(h, TRANSCRIPT_NOTICE, text, len);
}

static void emit_vf(struct hub *h, enum transcript_kind kind, const char *fmt, va_list ap)
{
	char buf[4096];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n >= 0)
		writer_emit_as(h, kind, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void writer_emitf(struct hub *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_vf(h, TRANSCRIPT_NOTICE, fmt, ap);
	va_end(ap);
}

void writer_typedf(struct hub *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_vf(h, TRANSCRIPT_TYPED, fmt, ap);
	va_end(ap);
}

ssize_t writer_output(struct hub *h, const void *p, size_t n)
{
	uint64_t old_head = h->tr.head;
	size_t done;

	/* Notices waiting to go in were said first. */
	writer_flush(h);
	if (h->backlog_len)
		return n ? -EAGAIN : 0;
	done = transcript_append(&h->tr, p, n);
	if (done)
		writer_appended(h, old_head);
	return done || n == 0 ? (ssize_t)done : -EAGAIN;
}

void writer_flush(struct hub *h)
{
	uint64_t old_head = h->tr.head;
	size_t done;

	if (h->backlog_len == 0)
		return;
	done = transcript_append(&h->tr, h->backlog, h->backlog_len);
	transcript_mark(&h->tr, old_head, done, TRANSCRIPT_NOTICE);
	memmove(h->backlog, h->backlog + done, h->backlog_len - done);
	h->backlog_len -= done;
	if (done)
		writer_appended(h, old_head);
}

size_t writer_mirror(struct hub *h, enum transcript_kind kind, const void *p, size_t n)
{
	uint64_t old_head = h->tr.head;
	size_t done = transcript_append(&h->tr, p, n);

	transcript_mark(&h->tr, old_head, done, kind);
	if (done)
		writer_appended(h, old_head);
	return done;
}

void writer_jump(struct hub *h, uint64_t to)
{
	transcript_restart(&h->tr, to);
	for (struct client *c = h->clients; c; c = c->next) {
		if (c->state != CLIENT_LIVE)
			continue;
		if (!client_sending(c)) {
			/* Caught-up clients wait in the idle list: wake them
			 * to find their cursor below the new base. */
			client_wake(c);
		} else if (c->send_kind != SEND_PRIVATE && !c->lagging) {
			/* The writer waits for these old bytes to be let go:
			 * end the sends, and skip each client once its send is
			 * back (a cursor never moves under one). */
			c->lagging = true;
			link_cancel_send(&c->link);
		}
	}
	h->kick_pending = true;
}
