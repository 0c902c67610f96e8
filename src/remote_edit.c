/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's line editor: emacs-style keys, history, and drawing
 * one row with sideways scrolling.  Owning the input row ourselves (instead
 * of a line-editing library) is what lets output arrive at any moment: the
 * caller clears the row, prints above it, and draws it again from here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "src/remote_edit.h"
#include "src/visible.h"

void edit_init(struct edit *e, bool secret)
{
	memset(e, 0, sizeof(*e));
	e->secret = secret;
}

void edit_free(struct edit *e)
{
	for (size_t i = 0; i < e->hist_len; i++)
		free(e->hist[i]);
	free(e->draft);
	explicit_bzero(e, sizeof(*e));
}

/*
 * Characters.  The line is bytes; the cursor moves by whole UTF-8
 * characters, and a byte that is not part of one counts as a character of
 * its own (it is drawn as <XX>).
 */

static size_t char_len(const char *p, size_t n)
{
	uint32_t cp;
	size_t len = visible_utf8_decode((const uint8_t *)p, n, &cp);

	return len ? len : 1;
}

static size_t next_char(const struct edit *e, size_t pos)
{
	return pos < e->len ? pos + char_len(e->line + pos, e->len - pos) : pos;
}

static size_t prev_char(const struct edit *e, size_t pos)
{
	/* A character ends at POS if it decodes to exactly the bytes before
	 * it; only a lead byte can start one, so at most one K fits. */
	for (size_t k = 2; k <= 4 && k <= pos; k++) {
		uint32_t cp;

		if (visible_utf8_decode((const uint8_t *)e->line + pos - k, k, &cp) == k)
			return pos - k;
	}
	return pos ? pos - 1 : 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* How a character is drawn: itself with its cell width, or a visible form
 * made only of ASCII (so its width is its length). */
static size_t glyph(const char *p, size_t n, char *form, size_t *form_len, unsigned *width)
{
	uint32_t cp;
	size_t len = visible_utf8_decode((const uint8_t *)p, n, &cp);

	if (len && !visible_is_control(cp)) {
		int w = wcwidth((wchar_t)cp);

		memcpy(form, p, len);
		*form_len = len;
		/* Outside a UTF-8 locale wcwidth() knows no non-ASCII
		 * character; one cell is the likely truth. */
		*width = w < 0 ? 1 : (unsigned)w;
		return len;
	}
	if (!len)
		len = 1;
	*form_len = visible_escape((const uint8_t *)p, len, NULL, form, 16);
	*width = (unsigned)*form_len;
	return len;
}

static unsigned width_at(const struct edit *e, size_t pos)
{
	char form[16];
	size_t flen;
	unsigned w;

	glyph(e->line + pos, e->len - pos, form, &flen, &w);
	return w;
}

static unsigned width_between(const struct edit *e, size_t from, size_t to)
{
	unsigned total = 0;

	for (; from < to; from = next_char(e, from))
		total += width_at(e, from);
	return total;
}

/*
 * Editing.
 */

static enum edit_action insert(struct edit *e, const char *p, size_t n)
{
	if (e->len + n > EDIT_LINE_MAX)
		return EDIT_REFUSED;
	memmove(e->line + e->pos + n, e->line + e->pos, e->len - e->pos);
	memcpy(e->line + e->pos, p, n);
	e->len += n;
	e->pos += n;
	e->line[e->len] = '\0';
	return EDIT_CHANGED;
}

/* Remove [FROM, TO); KEEP puts the bytes where Ctrl+Y finds them. */
static enum edit_action cut(struct edit *e, size_t from, size_t to, bool keep)
{
	if (from >= to)
		return EDIT_NONE;
	if (keep) {
		memcpy(e->killed, e->line + from, to - from);
		e->killed_len = to - from;
	}
	memmove(e->line + from, e->line + to, e->len - to);
	e->len -= to - from;
	e->line[e->len] = '\0';
	e->pos = from;
	return EDIT_CHANGED;
}

static enum edit_action move_to(struct edit *e, size_t pos)
{
	if (pos == e->pos)
		return EDIT_NONE;
	e->pos = pos;
	return EDIT_CHANGED;
}

static size_t word_left(const struct edit *e, size_t pos)
{
	while (pos > 0 && is_space(e->line[pos - 1]))
		pos--;
	while (pos > 0 && !is_space(e->line[pos - 1]))
		pos--;
	return pos;
}

static size_t word_right(const struct edit *e, size_t pos)
{
	while (pos < e->len && is_space(e->line[pos]))
		pos++;
	while (pos < e->len && !is_space(e->line[pos]))
		pos++;
	return pos;
}

static void load(struct edit *e, const char *text)
{
	size_t n = strlen(text);

	memcpy(e->line, text, n + 1);
	e->len = e->pos = n;
	e->scroll = 0;
}

static enum edit_action history_step(struct edit *e, bool older)
{
	if (e->secret)
		return EDIT_REFUSED;
	if (older ? e->hist_at == 0 : e->hist_at >= e->hist_len)
		return EDIT_REFUSED;
	if (e->hist_at == e->hist_len) {
		free(e->draft);
		e->draft = strdup(e->line);
		if (!e->draft)
			return EDIT_REFUSED;
	}
	e->hist_at += older ? -1 : 1;
	load(e, e->hist_at < e->hist_len ? e->hist[e->hist_at] : e->draft);
	return EDIT_CHANGED;
}

static void remember(struct edit *e, const char *line)
{
	char *copy;

	if (e->secret || !line[0] || (e->hist_len && strcmp(e->hist[e->hist_len - 1], line) == 0))
		return;
	copy = strdup(line);
	if (!copy)
		return;
	if (e->hist_len == EDIT_HISTORY_MAX) {
		free(e->hist[0]);
		memmove(e->hist, e->hist + 1, (EDIT_HISTORY_MAX - 1) * sizeof(e->hist[0]));
		e->hist_len--;
	}
	e->hist[e->hist_len++] = copy;
}

size_t edit_take(struct edit *e, char *buf, size_t cap)
{
	size_t n = e->len < cap ? e->len : cap - 1;

	memcpy(buf, e->line, n);
	buf[n] = '\0';
	remember(e, e->line);
	edit_clear(e);
	return n;
}

void edit_clear(struct edit *e)
{
	explicit_bzero(e->line, e->len);
	e->len = e->pos = e->scroll = 0;
	e->line[0] = '\0';
	e->hist_at = e->hist_len;
	free(e->draft);
	e->draft = NULL;
}

/*
 * Keys.
 */

static enum edit_action control_key(struct edit *e, uint8_t c)
{
	switch (c) {
	case 0x01:		/* Ctrl+A */
		return move_to(e, 0);
	case 0x02:		/* Ctrl+B stays in the line: Ctrl+B Enter leaves, as in WinDbg */
		return insert(e, "\x02", 1);
	case 0x03:
		return EDIT_INTERRUPT;
	case 0x04:		/* Ctrl+D */
		if (e->len == 0)
			return EDIT_EOF;
		return cut(e, e->pos, next_char(e, e->pos), false);
	case 0x05:		/* Ctrl+E */
		return move_to(e, e->len);
	case 0x06:		/* Ctrl+F */
		return move_to(e, next_char(e, e->pos));
	case 0x08:		/* Ctrl+H */
	case 0x7f:		/* Backspace */
		return cut(e, prev_char(e, e->pos), e->pos, false);
	case '\t':
		return insert(e, "\t", 1);
	case '\r':
	case '\n':
		return EDIT_ENTER;
	case 0x0b:		/* Ctrl+K */
		return cut(e, e->pos, e->len, true);
	case 0x0c:		/* Ctrl+L */
		return EDIT_CLEAR_SCREEN;
	case 0x0e:		/* Ctrl+N */
		return history_step(e, false);
	case 0x10:		/* Ctrl+P */
		return history_step(e, true);
	case 0x15:		/* Ctrl+U */
		return cut(e, 0, e->pos, true);
	case 0x17:		/* Ctrl+W */
		return cut(e, word_left(e, e->pos), e->pos, true);
	case 0x19:		/* Ctrl+Y */
		return insert(e, e->killed, e->killed_len);
	case 0x1a:		/* Ctrl+Z */
		return EDIT_SUSPEND;
	default:
		return EDIT_NONE;
	}
}

/* A complete CSI sequence: ESC [ parameters final. */
static enum edit_action csi_key(struct edit *e, uint8_t final)
{
	const char *params = e->seq;
	/* xterm adds modifiers as ";N": 5 is Ctrl, 3 is Alt. */
	bool by_word = strcmp(params, "1;5") == 0 || strcmp(params, "1;3") == 0;

	if (e->seq_overlong)
		return EDIT_NONE;
	switch (final) {
	case 'A':
		return history_step(e, true);
	case 'B':
		return history_step(e, false);
	case 'C':
		return move_to(e, by_word ? word_right(e, e->pos) : next_char(e, e->pos));
	case 'D':
		return move_to(e, by_word ? word_left(e, e->pos) : prev_char(e, e->pos));
	case 'H':
		return move_to(e, 0);
	case 'F':
		return move_to(e, e->len);
	case '~':
		if (strcmp(params, "1") == 0 || strcmp(params, "7") == 0)
			return move_to(e, 0);
		if (strcmp(params, "4") == 0 || strcmp(params, "8") == 0)
			return move_to(e, e->len);
		if (strcmp(params, "3") == 0)
			return cut(e, e->pos, next_char(e, e->pos), false);
		return EDIT_NONE;
	default:
		return EDIT_NONE;
	}
}

/* ESC and one more byte: Alt+key, or the start of a longer sequence. */
static enum edit_action escape_key(struct edit *e, uint8_t c)
{
	switch (c) {
	case '[':
		e->key = KEY_CSI;
		e->seq_len = 0;
		e->seq[0] = '\0';
		e->seq_overlong = false;
		return EDIT_NONE;
	case 'O':
		e->key = KEY_SS3;
		return EDIT_NONE;
	case 0x1b:		/* ESC ESC: still one escape pending */
		return EDIT_NONE;
	}
	e->key = KEY_PLAIN;
	switch (c) {
	case 'b':
		return move_to(e, word_left(e, e->pos));
	case 'f':
		return move_to(e, word_right(e, e->pos));
	case 'd':
		return cut(e, e->pos, word_right(e, e->pos), true);
	case 0x7f:
	case 0x08:
		return cut(e, word_left(e, e->pos), e->pos, true);
	default:
		return EDIT_NONE;
	}
}

/* Bytes of a multi-byte character are inserted together, so the cursor
 * never stands inside one. */
static enum edit_action text_byte(struct edit *e, uint8_t c)
{
	enum edit_action res = EDIT_NONE;

	if (e->utf8_len && (c & 0xc0) != 0x80) {
		/* Cut short: what came is inserted as the bytes it is. */
		res = insert(e, (const char *)e->utf8, e->utf8_len);
		e->utf8_len = 0;
	}
	if (c < 0x20 || c == 0x7f) {
		enum edit_action key = control_key(e, c);

		return key != EDIT_NONE ? key : res;
	}
	if (e->utf8_len == 0)
		e->utf8_need = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
			       c >= 0xf0 && c <= 0xf4 ? 4 : 1;
	e->utf8[e->utf8_len++] = c;
	if (e->utf8_len < e->utf8_need)
		return res;
	res = insert(e, (const char *)e->utf8, e->utf8_len);
	e->utf8_len = 0;
	return res;
}

enum edit_action edit_feed(struct edit *e, uint8_t c)
{
	switch (e->key) {
	case KEY_ESC:
		return escape_key(e, c);
	case KEY_SS3:
		e->key = KEY_PLAIN;
		e->seq[0] = '\0';
		e->seq_overlong = false;
		return csi_key(e, c);
	case KEY_CSI:
		if (c >= 0x40 && c <= 0x7e) {
			e->key = KEY_PLAIN;
			return csi_key(e, c);
		}
		if (c < 0x20 || c > 0x3f) {
			/* Not a sequence after all (a lone ESC [ then a key). */
			e->key = KEY_PLAIN;
			return edit_feed(e, c);
		}
		if (e->seq_len + 1 < sizeof(e->seq)) {
			e->seq[e->seq_len++] = (char)c;
			e->seq[e->seq_len] = '\0';
		} else {
			e->seq_overlong = true;
		}
		return EDIT_NONE;
	case KEY_PLAIN:
		break;
	}
	if (c == 0x1b) {
		enum edit_action res = EDIT_NONE;

		if (e->utf8_len)	/* a character cut short stays as its bytes */
			res = insert(e, (const char *)e->utf8, e->utf8_len);
		e->utf8_len = 0;
		e->key = KEY_ESC;
		return res;
	}
	return text_byte(e, c);
}

/*
 * Drawing.
 */

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *p, size_t n)
{
	if (o->cap - o->len < n)
		n = o->cap - o->len;
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

/* The cursor COLS cells right of the row's start. */
static void put_column(struct out *o, unsigned cols)
{
	char buf[32];
	int n;

	put(o, "\r", 1);
	if (cols == 0)
		return;
	n = snprintf(buf, sizeof(buf), "\033[%uC", cols);
	if (n > 0)
		put(o, buf, (size_t)n);
}

static unsigned text_width(const char *p, size_t n)
{
	unsigned total = 0;

	for (size_t i = 0; i < n;) {
		char form[16];
		size_t flen;
		unsigned w;

		i += glyph(p + i, n - i, form, &flen, &w);
		total += w;
	}
	return total;
}

size_t edit_render(struct edit *e, const char *prompt, size_t plen, unsigned cols, char *out,
		   size_t cap)
{
	struct out o = { .p = out, .cap = cap };
	unsigned pw, room, col, used;
	size_t i;

	if (cols > EDIT_COLS_MAX)
		cols = EDIT_COLS_MAX;
	if (cols < 4)
		cols = 4;
	/* A prompt may take at most half the row; its end is what matters. */
	pw = text_width(prompt, plen);
	while (pw > cols / 2 && plen > 0) {
		size_t k = char_len(prompt, plen);

		pw -= text_width(prompt, k);
		prompt += k;
		plen -= k;
	}
	put(&o, "\r", 1);
	put(&o, prompt, plen);
	if (e->secret) {
		put(&o, "\033[K", 3);
		return o.len;
	}
	/* Columns for the line, the last one never used so the row cannot
	 * wrap and leave the cursor somewhere we did not expect. */
	room = cols - 1 - pw;
	if (e->scroll > e->pos)
		e->scroll = e->pos;
	for (col = width_between(e, e->scroll, e->pos); col >= room;) {
		col -= width_at(e, e->scroll);
		e->scroll = next_char(e, e->scroll);
	}
	/* After deletions, show as much of the line's start as fits. */
	for (used = width_between(e, e->scroll, e->len); e->scroll > 0;) {
		size_t before = prev_char(e, e->scroll);
		unsigned w = width_at(e, before);

		if (used + w >= room)
			break;
		used += w;
		col += w;
		e->scroll = before;
	}
	col += pw;
	used = 0;
	for (i = e->scroll; i < e->len;) {
		char form[16];
		size_t flen;
		unsigned w;
		size_t len = glyph(e->line + i, e->len - i, form, &flen, &w);

		if (used + w > room)
			break;
		put(&o, form, flen);
		used += w;
		i += len;
	}
	put(&o, "\033[K", 3);
	if (i != e->len || col != pw + used)
		put_column(&o, col);
	return o.len;
}

/*
 * Prompts come from the program's output: keep what would show as text.
 */

/* Length of the escape sequence at P (P[0] is ESC), as far as N allows. */
static size_t escape_len(const char *p, size_t n)
{
	size_t i;

	if (n < 2)
		return n;
	if (p[1] == '[') {		/* CSI: parameters, then a final byte */
		for (i = 2; i < n; i++)
			if ((uint8_t)p[i] >= 0x40 && (uint8_t)p[i] <= 0x7e)
				return i + 1;
		return n;
	}
	if (p[1] == ']') {		/* OSC: up to BEL or ESC \ */
		for (i = 2; i < n; i++) {
			if (p[i] == '\a')
				return i + 1;
			if (p[i] == '\033' && i + 1 < n && p[i + 1] == '\\')
				return i + 2;
		}
		return n;
	}
	return 2;
}

size_t edit_plain_prompt(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	while (i < n) {
		uint32_t cp;
		size_t len;

		if (p[i] == '\033') {
			i += escape_len(p + i, n - i);
			continue;
		}
		if (p[i] == '\r') {
			/* The rest of the line is written over what came before;
			 * a CR at the very end is the first half of a CR LF. */
			if (i + 1 < n)
				o = 0;
			i++;
			continue;
		}
		len = visible_utf8_decode((const uint8_t *)p + i, n - i, &cp);
		if (len == 0) {
			i++;
			continue;
		}
		if (!visible_is_control(cp)) {
			if (cap - o < len) {
				/* Keep the end: drop the oldest half. */
				size_t drop = o / 2;

				while (drop < o && ((uint8_t)out[drop] & 0xc0) == 0x80)
					drop++;
				memmove(out, out + drop, o - drop);
				o -= drop;
			}
			if (cap - o >= len) {
				memcpy(out + o, p + i, len);
				o += len;
			}
		}
		i += len;
	}
	return o;
}
