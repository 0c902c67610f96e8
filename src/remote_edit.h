/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's line editor without a terminal: keys go in as the
 * bytes a terminal sends (escape sequences split across reads included),
 * and out come a line, a cursor, a history and the bytes that draw the input
 * line on one terminal row.  remote_term.c owns the terminal; this part is
 * pure so that every key can be unit-tested.
 */
#ifndef RINGSIDE_REMOTE_EDIT_H
#define RINGSIDE_REMOTE_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/proto.h"

#define EDIT_LINE_MAX PROTO_MAX_CONTROL	/* the longest INPUT record */
#define EDIT_HISTORY_MAX 500
#define EDIT_PROMPT_MAX 1024		/* prompt bytes drawn; more are cut from the left */
#define EDIT_COLS_MAX 1024		/* wider terminals are drawn as if this wide */
/* Room edit_render() needs: a prompt, every line byte in its widest form
 * (4 bytes each), and the control sequences around them. */
#define EDIT_RENDER_MAX (EDIT_PROMPT_MAX + 4 * EDIT_LINE_MAX + 64)

enum edit_action {
	EDIT_NONE,		/* nothing to redraw (half a key sequence, an ignored key) */
	EDIT_CHANGED,		/* the line or the cursor moved: redraw */
	EDIT_ENTER,		/* the line is finished: edit_take() it */
	EDIT_EOF,		/* Ctrl+D on an empty line */
	EDIT_INTERRUPT,		/* Ctrl+C */
	EDIT_CLEAR_SCREEN,	/* Ctrl+L */
	EDIT_SUSPEND,		/* Ctrl+Z */
	EDIT_REFUSED,		/* the key cannot apply (line full, no older entry) */
};

enum edit_key_state { KEY_PLAIN, KEY_ESC, KEY_CSI, KEY_SS3 };

struct edit {
	char line[EDIT_LINE_MAX + 1];
	size_t len;		/* bytes in line */
	size_t pos;		/* cursor, in bytes, always at a character's start */
	size_t scroll;		/* first byte drawn when the line is wider than the row */
	bool secret;		/* a password: never drawn, never remembered */

	/* Decoding keys across reads. */
	enum edit_key_state key;
	char seq[16];		/* CSI parameter bytes so far */
	size_t seq_len;
	bool seq_overlong;	/* past seq[]: skip to the final byte */
	uint8_t utf8[4];	/* a character still arriving */
	size_t utf8_len, utf8_need;

	/* History, oldest first; hist_at == hist_len while the new line is edited. */
	char *hist[EDIT_HISTORY_MAX];
	size_t hist_len, hist_at;
	char *draft;		/* the new line, kept while older ones are shown */

	char killed[EDIT_LINE_MAX + 1];	/* what Ctrl+U/K/W took, for Ctrl+Y */
	size_t killed_len;
};

void edit_init(struct edit *e, bool secret);
/* Frees the history; wipes the line (it may hold a password). */
void edit_free(struct edit *e);

/* One byte from the terminal. */
enum edit_action edit_feed(struct edit *e, uint8_t byte);

/*
 * After EDIT_ENTER: copy the line to BUF (NUL-terminated, CAP > EDIT_LINE_MAX
 * holds any line), remember it unless secret, blank or the same as the last
 * one, and start an empty line.  Returns the line's length.
 */
size_t edit_take(struct edit *e, char *buf, size_t cap);
/* Drop the line being typed (Ctrl+C, a cancelled prompt). */
void edit_clear(struct edit *e);

/*
 * The bytes that draw PROMPT (PLEN bytes of text without controls, see
 * edit_plain_prompt()) and the line on the current row of a terminal COLS
 * wide, leaving the cursor where the editing happens.  The line scrolls
 * sideways to keep the cursor visible and never reaches the last column, so
 * the row never wraps.  Writes at most CAP bytes (EDIT_RENDER_MAX is always
 * enough) and returns the count.
 */
size_t edit_render(struct edit *e, const char *prompt, size_t plen, unsigned cols, char *out,
		   size_t cap);

/*
 * A prompt fit for edit_render() from the program's unfinished output line:
 * escape sequences (colours, titles) and other controls dropped, what a
 * carriage return overwrote dropped, bytes that are not UTF-8 dropped, and
 * at most EDIT_PROMPT_MAX bytes kept from the end.  Returns the length
 * written to OUT (CAP >= EDIT_PROMPT_MAX).
 */
size_t edit_plain_prompt(const char *p, size_t n, char *out, size_t cap);

#endif
