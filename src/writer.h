/* SPDX-License-Identifier: MIT */
/*
 * The transcript writer (writer.c): everything the session says, its
 * program's output, notices, who-typed lines and meta-command output, is
 * appended here once, and caught-up clients are woken for it.  Internal to
 * src/.
 */
#ifndef RINGSIDE_WRITER_H
#define RINGSIDE_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "src/transcript.h"

struct hub;

/* A line of KIND for everyone, starting on a fresh line.  Never refused: text
 * the transcript cannot take yet waits in a bounded backlog. */
void writer_emit_as(struct hub *h, enum transcript_kind kind, const char *text, size_t len);
void writer_emit(struct hub *h, const char *text, size_t len);
void writer_emitf(struct hub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A who-typed line: framed clients see it as a TYPED record. */
void writer_typedf(struct hub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Program output: as many of the N bytes as the transcript takes now (after
 * any waiting backlog), or -EAGAIN when it takes none. */
ssize_t writer_output(struct hub *h, const void *p, size_t n);
/* Bytes were committed to the transcript from OLD_HEAD on: let laggards go
 * and wake caught-up clients. */
void writer_appended(struct hub *h, uint64_t old_head);
/* Move the backlog into the transcript as far as it is free. */
void writer_flush(struct hub *h);

/*
 * A transcript that mirrors another one's (a repeater's, whose source says
 * what each stretch is and where it goes): append N bytes of KIND exactly,
 * with no line breaks of our own.  Returns the bytes taken (fewer when a
 * pinned chunk stops the writer; the caller keeps the rest and tries again
 * on hub_ops.unpinned).
 */
size_t writer_mirror(struct hub *h, enum transcript_kind kind, const void *p, size_t n);
/*
 * The mirrored transcript goes on at offset TO: what comes before it is
 * gone.  Each client below TO gets a gap (a GAP record, or a skip marker)
 * as a lagging one does; sends still reading old bytes are cancelled, and
 * writing resumes once they are back (transcript_restart()).
 */
void writer_jump(struct hub *h, uint64_t to);

#endif
