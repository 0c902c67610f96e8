// SPDX-License-Identifier: MIT
/* Unit tests for src/remote_edit.c: the client's line editor, fed the bytes terminals send
 * for keys (xterm, rxvt and application-mode forms, split wherever a read may split them),
 * and the row it draws. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/remote_edit.h"

#define UP "\x1b[A"
#define DOWN "\x1b[B"
#define RIGHT "\x1b[C"
#define LEFT "\x1b[D"
#define HOME "\x1b[H"
#define END "\x1b[F"

static int setup(void **state)
{
	struct edit *e = malloc(sizeof(*e));

	if (!e)
		return -1;
	edit_init(e, false);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	edit_free(*state);
	free(*state);
	return 0;
}

/* Feed every byte of KEYS; returns the last action that was not EDIT_NONE. */
static enum edit_action keys(struct edit *e, const char *keys)
{
	enum edit_action last = EDIT_NONE;

	for (const char *p = keys; *p; p++) {
		enum edit_action a = edit_feed(e, (uint8_t)*p);

		if (a != EDIT_NONE)
			last = a;
	}
	return last;
}

static void assert_line(struct edit *e, const char *line, size_t pos)
{
	assert_string_equal(e->line, line);
	assert_int_equal(e->len, strlen(line));
	assert_int_equal(e->pos, pos);
}

static const char *enter(struct edit *e)
{
	static char buf[EDIT_LINE_MAX + 1];

	assert_int_equal(keys(e, "\r"), EDIT_ENTER);
	edit_take(e, buf, sizeof(buf));
	return buf;
}

static void test_edit_cursor_keys_in_every_form(void **state)
{
	struct edit *e = *state;

	assert_int_equal(keys(e, "echo two"), EDIT_CHANGED);
	keys(e, HOME RIGHT RIGHT RIGHT RIGHT RIGHT "X");
	assert_line(e, "echo Xtwo", 6);
	keys(e, END "Y" LEFT LEFT "\x7f");
	assert_line(e, "echo XtoY", 7);
	/* rxvt and vt220 Home/End, application mode arrows, Ctrl+A/E/B/F. */
	keys(e, "\x1b[1~");
	assert_int_equal(e->pos, 0);
	keys(e, "\x1b[4~");
	assert_int_equal(e->pos, e->len);
	keys(e, "\x1b[7~\x1bOC");
	assert_int_equal(e->pos, 1);
	keys(e, "\x1b[8~\x1bOD");
	assert_int_equal(e->pos, e->len - 1);
	keys(e, "\x01\x06");
	assert_int_equal(e->pos, 1);
	keys(e, "\x05");
	assert_int_equal(e->pos, e->len);
	keys(e, "\x1bOH");
	assert_int_equal(e->pos, 0);
	keys(e, "\x1bOF");
	assert_int_equal(e->pos, e->len);
	assert_string_equal(enter(e), "echo XtoY");
	assert_line(e, "", 0);
}

static void test_edit_deleting(void **state)
{
	struct edit *e = *state;

	keys(e, "abcdef" HOME "\x1b[3~");
	assert_line(e, "bcdef", 0);
	assert_int_equal(keys(e, "\x04"), EDIT_CHANGED);	/* Ctrl+D deletes inside a line */
	assert_line(e, "cdef", 0);
	keys(e, RIGHT RIGHT "\x0b");				/* Ctrl+K */
	assert_line(e, "cd", 2);
	keys(e, "\x19");					/* Ctrl+Y */
	assert_line(e, "cdef", 4);
	keys(e, LEFT "\x15");					/* Ctrl+U */
	assert_line(e, "f", 0);
	keys(e, END " one two  \x17");				/* Ctrl+W */
	assert_line(e, "f one ", 6);
	keys(e, "\x08\x08");					/* Ctrl+H */
	assert_line(e, "f on", 4);
	keys(e, "\x15");
	assert_line(e, "", 0);
	assert_int_equal(keys(e, "\x04"), EDIT_EOF);		/* empty: leave */
	assert_int_equal(keys(e, "\x7f"), EDIT_NONE);		/* nothing to delete */
}

static void test_edit_words(void **state)
{
	struct edit *e = *state;

	keys(e, "print total + one");
	keys(e, "\x1b" "b");
	assert_int_equal(e->pos, 14);
	keys(e, "\x1b[1;5D\x1b[1;5D");
	assert_int_equal(e->pos, 6);
	keys(e, "\x1b" "f");
	assert_int_equal(e->pos, 11);
	keys(e, "\x1b[1;5C");
	assert_int_equal(e->pos, 13);
	keys(e, HOME "\x1b" "d");
	assert_line(e, " total + one", 0);
	keys(e, END "\x1b\x7f");
	assert_line(e, " total + ", 9);
}

static void test_edit_history(void **state)
{
	struct edit *e = *state;

	keys(e, "first");
	enter(e);
	keys(e, "second");
	enter(e);
	keys(e, "second");
	enter(e);		/* the same again is remembered once */
	keys(e, "   ");
	enter(e);
	keys(e, "");
	assert_string_equal(enter(e), "");	/* a blank line is sent, not remembered */
	assert_int_equal(e->hist_len, 3);
	keys(e, "draft");
	assert_int_equal(keys(e, UP), EDIT_CHANGED);
	assert_line(e, "   ", 3);
	keys(e, UP);
	assert_line(e, "second", 6);
	keys(e, "\x10");	/* Ctrl+P */
	assert_line(e, "first", 5);
	assert_int_equal(keys(e, UP), EDIT_REFUSED);
	keys(e, "\x1bOB");
	assert_line(e, "second", 6);
	keys(e, DOWN "\x0e");	/* Ctrl+N: back to the draft */
	assert_line(e, "draft", 5);
	assert_int_equal(keys(e, DOWN), EDIT_REFUSED);
	/* An entry edited and sent is a new entry; the old one is kept. */
	keys(e, UP UP "\x1b[D" "X");
	assert_string_equal(enter(e), "seconXd");
	keys(e, UP);
	assert_line(e, "seconXd", 7);
	keys(e, UP);
	assert_line(e, "   ", 3);
}

static void test_edit_history_is_bounded(void **state)
{
	struct edit *e = *state;
	char line[32];

	for (unsigned i = 0; i < EDIT_HISTORY_MAX + 10; i++) {
		snprintf(line, sizeof(line), "cmd %u\r", i);
		keys(e, line);
		edit_take(e, line, sizeof(line));
	}
	assert_int_equal(e->hist_len, EDIT_HISTORY_MAX);
	assert_string_equal(e->hist[0], "cmd 10");
}

static void test_edit_utf8_moves_by_character(void **state)
{
	struct edit *e = *state;

	keys(e, "caf\xc3\xa9 \xe2\x82\xac");
	assert_int_equal(e->len, 9);
	keys(e, LEFT);
	assert_int_equal(e->pos, 6);
	keys(e, LEFT LEFT);
	assert_int_equal(e->pos, 3);
	keys(e, "\x7f");
	assert_line(e, "ca\xc3\xa9 \xe2\x82\xac", 2);
	keys(e, "\x1b[3~");
	assert_line(e, "ca \xe2\x82\xac", 2);
}

static void test_edit_bytes_that_are_not_utf8(void **state)
{
	struct edit *e = *state;

	/* A lead byte that is never finished stays as the byte it is. */
	keys(e, "a\xc3" "b\xff");
	assert_line(e, "a\xc3" "b\xff", 4);
	keys(e, LEFT LEFT);
	assert_int_equal(e->pos, 2);
}

static void test_edit_ctrl_b_stays_in_the_line(void **state)
{
	struct edit *e = *state;

	keys(e, "\x02");
	assert_string_equal(enter(e), "\x02");
	assert_int_equal(e->hist_len, 1);
}

static void test_edit_special_keys(void **state)
{
	struct edit *e = *state;

	keys(e, "abc");
	assert_int_equal(keys(e, "\x03"), EDIT_INTERRUPT);
	assert_int_equal(keys(e, "\x0c"), EDIT_CLEAR_SCREEN);
	assert_int_equal(keys(e, "\x1a"), EDIT_SUSPEND);
	assert_int_equal(keys(e, "\n"), EDIT_ENTER);
	/* Unknown sequences are swallowed whole, even long ones. */
	assert_int_equal(keys(e, "\x1b[15~\x1b[200;1;2;3;4;5;6;7;8;9~\x1b[Z"), EDIT_NONE);
	assert_line(e, "abc", 3);
	/* ESC [ then a control is not a sequence. */
	keys(e, "\x1b[\x01");
	assert_int_equal(e->pos, 0);
}

static void test_edit_line_is_bounded(void **state)
{
	struct edit *e = *state;
	enum edit_action last = EDIT_NONE;

	for (unsigned i = 0; i < EDIT_LINE_MAX + 5; i++)
		last = edit_feed(e, 'x');
	assert_int_equal(last, EDIT_REFUSED);
	assert_int_equal(e->len, EDIT_LINE_MAX);
}

/* ---- the row ------------------------------------------------------------- */

static const char *render(struct edit *e, const char *prompt, unsigned cols)
{
	static char buf[EDIT_RENDER_MAX + 1];
	size_t n = edit_render(e, prompt, strlen(prompt), cols, buf, sizeof(buf) - 1);

	buf[n] = '\0';
	return buf;
}

static void test_edit_render_row(void **state)
{
	struct edit *e = *state;

	keys(e, "bt");
	assert_string_equal(render(e, "(gdb) ", 80), "\r(gdb) bt\x1b[K");
	keys(e, LEFT);
	assert_string_equal(render(e, "(gdb) ", 80), "\r(gdb) bt\x1b[K\r\x1b[7C");
	keys(e, HOME "\x02\t");
	assert_string_equal(render(e, "", 80), "\r^B^Ibt\x1b[K\r\x1b[4C");
}

static void test_edit_render_scrolls_sideways(void **state)
{
	struct edit *e = *state;
	const char *row;

	keys(e, "0123456789abcdefghij");
	/* 20 columns: "> " and 17 more, the last column never used. */
	row = render(e, "> ", 20);
	assert_string_equal(row, "\r> 456789abcdefghij\x1b[K");
	keys(e, HOME);
	row = render(e, "> ", 20);
	assert_string_equal(row, "\r> 0123456789abcdefg\x1b[K\r\x1b[2C");
	/* After deleting, the start comes back into view. */
	keys(e, END "\x17");
	row = render(e, "> ", 20);
	assert_string_equal(row, "\r> \x1b[K");
}

static void test_edit_render_long_prompt_keeps_its_end(void **state)
{
	struct edit *e = *state;

	keys(e, "x");
	assert_string_equal(render(e, "a-very-long-prompt> ", 20), "\rg-prompt> x\x1b[K");
}

static void test_edit_render_secret_draws_nothing(void **state)
{
	struct edit s;

	(void)state;
	edit_init(&s, true);
	keys(&s, "Sesame12");
	assert_string_equal(render(&s, "Password: ", 80), "\rPassword: \x1b[K");
	assert_int_equal(keys(&s, UP), EDIT_REFUSED);
	keys(&s, "\r");
	{
		char pw[32];

		edit_take(&s, pw, sizeof(pw));
		assert_string_equal(pw, "Sesame12");
	}
	assert_int_equal(s.hist_len, 0);
	edit_free(&s);
}

static void test_edit_plain_prompt(void **state)
{
	char out[EDIT_PROMPT_MAX];
	size_t n;

	(void)state;
	n = edit_plain_prompt("\x1b[1;32m(gdb)\x1b[0m ", 17, out, sizeof(out));
	assert_int_equal(n, 6);
	assert_memory_equal(out, "(gdb) ", 6);
	n = edit_plain_prompt("\x1b]0;title\x07$ ", 13, out, sizeof(out));
	assert_memory_equal(out, "$ ", n);
	n = edit_plain_prompt("50%\r60%\r", 8, out, sizeof(out));
	assert_int_equal(n, 3);
	assert_memory_equal(out, "60%", 3);
	n = edit_plain_prompt("a\x07\x01\xff" "b", 5, out, sizeof(out));
	assert_int_equal(n, 2);
	assert_memory_equal(out, "ab", 2);
	{
		char big[3000];

		memset(big, 'p', sizeof(big));
		big[sizeof(big) - 1] = '>';
		n = edit_plain_prompt(big, sizeof(big), out, sizeof(out));
		assert_true(n <= sizeof(out) && n > 0);
		assert_int_equal(out[n - 1], '>');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_edit_cursor_keys_in_every_form),
		T(test_edit_deleting),
		T(test_edit_words),
		T(test_edit_history),
		T(test_edit_history_is_bounded),
		T(test_edit_utf8_moves_by_character),
		T(test_edit_bytes_that_are_not_utf8),
		T(test_edit_ctrl_b_stays_in_the_line),
		T(test_edit_special_keys),
		T(test_edit_line_is_bounded),
		T(test_edit_render_row),
		T(test_edit_render_scrolls_sideways),
		T(test_edit_render_long_prompt_keeps_its_end),
		T(test_edit_render_secret_draws_nothing),
		T(test_edit_plain_prompt),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
