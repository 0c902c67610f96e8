/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's screen.  On a terminal the client owns the bottom
 * row: the input row is the program's unfinished line (its prompt) followed
 * by the line being edited.  Anything that arrives clears that row, prints
 * above it, and the row is drawn again once per loop turn, so output never
 * lands inside the line being typed and the line never shows stale text.
 * Notices are lines of their own, dimmed, and never take the prompt away.
 * Without a terminal, output goes to stdout as it is and the client's own
 * messages go to stderr.  Every byte goes through the non-blocking queues
 * of remote_out.c.
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "src/remote_internal.h"

#define PASSWORD_PROMPT "Password: "

static void put(struct remote *r, const void *p, size_t n)
{
	outq_put(&r->out, p, n);
}

static void puts_(struct remote *r, const char *s)
{
	put(r, s, strlen(s));
}

/*
 * The terminal's mode.
 */

static int enter_raw(struct remote *r)
{
	struct termios raw = r->term.saved;

	/* Keys arrive one by one and unechoed; Ctrl+C and Ctrl+Z are keys
	 * here (Ctrl+C interrupts the debugger, not us).  Output processing
	 * and the user's flow-control setting stay as they were. */
	raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INLCR | IGNCR | INPCK | ISTRIP);
	raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	/* TCSANOW: a stalled terminal must not hold us in tcsetattr(), and
	 * keys typed ahead stay queued. */
	if (tcsetattr(0, TCSANOW, &raw) < 0)
		return -errno;
	r->term.raw = true;
	return 0;
}

static void leave_raw(struct remote *r)
{
	if (!r->term.raw)
		return;
	tcsetattr(0, TCSANOW, &r->term.saved);
	r->term.raw = false;
}

void remote_term_resized(struct remote *r)
{
	struct winsize ws;

	r->term.cols = ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
	r->term.stale = true;
}

int remote_term_start(struct remote *r)
{
	struct remote_term *t = &r->term;
	int res;

	if (tcgetattr(0, &t->saved) < 0)
		return -errno;
	/* Character widths for the input row. */
	setlocale(LC_CTYPE, "");
	edit_init(&t->line, false);
	edit_init(&t->secret, true);
	edit_init(&t->answer, false);
	res = enter_raw(r);
	if (res < 0)
		return res;
	remote_term_resized(r);
	return 0;
}

void remote_term_stop(struct remote *r)
{
	struct remote_term *t = &r->term;

	if (!r->interactive)
		return;
	if (t->raw) {
		/* Leave the last row as it was and start the shell's on a
		 * fresh one. */
		remote_term_refresh(r);
		puts_(r, "\r\n");
	}
	leave_raw(r);
	edit_free(&t->line);
	edit_free(&t->secret);
	edit_free(&t->answer);
}

/* Ctrl+Z: give the terminal back as we found it while stopped. */
static void suspend(struct remote *r)
{
	if (r->term.on_screen) {
		puts_(r, "\r\033[K");
		r->term.on_screen = false;
	}
	outq_drain(&r->out, -1, 1000);
	leave_raw(r);
	outq_restore(&r->out);
	outq_restore(&r->err);
	kill(getpid(), SIGTSTP);
	/* Continued (or SIGTSTP was ignored). */
	outq_nonblock(&r->out);
	outq_nonblock(&r->err);
	enter_raw(r);
	remote_term_resized(r);
}

/*
 * Showing things.
 */

/* Take the input row off the screen, so what follows is printed where it
 * was, above the row that is drawn again later. */
static void hide_row(struct remote *r)
{
	if (!r->term.on_screen)
		return;
	puts_(r, "\r\033[K");
	r->term.on_screen = false;
}

/* The row's content changed: drawn again, in place, before the loop waits. */
static void row_changed(struct remote *r)
{
	r->term.stale = true;
}

void remote_term_refresh(struct remote *r)
{
	static char row[EDIT_RENDER_MAX];
	struct remote_term *t = &r->term;
	size_t n;

	if (!r->interactive || !t->raw || (t->on_screen && !t->stale))
		return;
	if (t->questioning)
		n = edit_render(&t->answer, t->question, strlen(t->question), t->cols, row,
				sizeof(row));
	else if (t->asking)
		n = edit_render(&t->secret, PASSWORD_PROMPT, strlen(PASSWORD_PROMPT), t->cols, row,
				sizeof(row));
	else
		n = edit_render(&t->line, t->prompt, t->prompt_len, t->cols, row, sizeof(row));
	put(r, row, n);
	t->on_screen = true;
	t->stale = false;
}

/* One line of ringside's own text (LINE has no line end), dimmed. */
static void note_line(struct remote *r, const char *line, size_t n)
{
	if (r->color)
		puts_(r, "\033[2m");
	put(r, line, n);
	if (r->color)
		puts_(r, "\033[0m");
	puts_(r, "\r\n");
}

static void end_notice_line(struct remote *r)
{
	struct remote_term *t = &r->term;

	if (t->notice_len)
		note_line(r, t->notice, t->notice_len);
	t->notice_len = 0;
}

static void show_output(struct remote *r, const char *p, size_t n)
{
	struct remote_term *t = &r->term;

	hide_row(r);
	end_notice_line(r);
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) + 1 : n;

		if (nl) {
			put(r, t->tail, t->tail_len);
			put(r, p, len);
			t->tail_len = 0;
		} else if (t->tail_len + len > sizeof(t->tail)) {
			/* No line end in sight: let it out on a row of its own. */
			put(r, t->tail, t->tail_len);
			put(r, p, len);
			puts_(r, "\r\n");
			t->tail_len = 0;
		} else {
			memcpy(t->tail + t->tail_len, p, len);
			t->tail_len += len;
		}
		p += len;
		n -= len;
	}
	t->prompt_len = edit_plain_prompt(t->tail, t->tail_len, t->prompt, sizeof(t->prompt));
	t->break_pending = t->tail_len > 0;
}

/* Text of an unfinished notice line; a line longer than the buffer is
 * shown in pieces. */
static void notice_add(struct remote *r, const char *p, size_t n)
{
	struct remote_term *t = &r->term;

	while (n > 0) {
		size_t room = sizeof(t->notice) - t->notice_len, k = n < room ? n : room;

		if (room == 0) {
			end_notice_line(r);
			continue;
		}
		memcpy(t->notice + t->notice_len, p, k);
		t->notice_len += k;
		p += k;
		n -= k;
	}
}

static void show_notice(struct remote *r, const char *p, size_t n)
{
	struct remote_term *t = &r->term;

	hide_row(r);
	/* The transcript ends the program's unfinished line before a notice;
	 * here that line stays on the input row, so the break would only
	 * leave an empty row behind. */
	if (t->break_pending && t->notice_len == 0) {
		if (n >= 2 && p[0] == '\r' && p[1] == '\n')
			p += 2, n -= 2;
		else if (n >= 1 && p[0] == '\n')
			p++, n--;
	}
	t->break_pending = false;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;

		notice_add(r, p, len);
		if (!nl)
			return;
		if (t->notice_len && t->notice[t->notice_len - 1] == '\r')
			t->notice_len--;
		note_line(r, t->notice, t->notice_len);
		t->notice_len = 0;
		p = nl + 1;
		n -= len + 1;
	}
}

/* A whole message: each of its lines on a row of its own. */
static void show_message(struct remote *r, const char *p, size_t n)
{
	hide_row(r);
	end_notice_line(r);
	do {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;

		note_line(r, p, len && p[len - 1] == '\r' ? len - 1 : len);
		if (!nl)
			break;
		p = nl + 1;
		n -= len + 1;
	} while (n > 0);
}

void remote_term_show(struct remote *r, enum rlink_show kind, const char *p, size_t n)
{
	if (!r->interactive) {
		switch (kind) {
		case RLINK_OUTPUT:
		case RLINK_NOTICE:
			outq_put(&r->out, p, n);
			return;
		case RLINK_PRIVATE:
			outq_put(&r->out, p, n);
			outq_put(&r->out, "\r\n", 2);
			return;
		case RLINK_SAY:
			outq_put(&r->err, p, n);
			outq_put(&r->err, "\n", 1);
			return;
		}
		return;
	}
	switch (kind) {
	case RLINK_OUTPUT:
		show_output(r, p, n);
		return;
	case RLINK_NOTICE:
		show_notice(r, p, n);
		return;
	case RLINK_PRIVATE:
	case RLINK_SAY:
		show_message(r, p, n);
		return;
	}
}

void remote_term_jump(struct remote *r)
{
	struct remote_term *t = &r->term;

	if (!r->interactive)
		return;
	hide_row(r);
	end_notice_line(r);
	t->tail_len = t->prompt_len = 0;
	t->break_pending = false;
	row_changed(r);
}

/*
 * The password prompt: the same row, nothing echoed.
 */

void remote_term_ask_password(struct remote *r)
{
	struct remote_term *t = &r->term;

	t->asking = true;
	row_changed(r);
	edit_clear(&t->secret);
	/* The user's typing time is not the server's. */
	conn_pause_deadline(r, true);
}

void remote_term_cancel_password(struct remote *r)
{
	struct remote_term *t = &r->term;

	if (!t->asking)
		return;
	t->asking = false;
	row_changed(r);
	edit_clear(&t->secret);
}

static void password_done(struct remote *r, bool given)
{
	struct remote_term *t = &r->term;
	char typed[EDIT_LINE_MAX + 1];
	size_t n = edit_take(&t->secret, typed, sizeof(typed));

	t->asking = false;
	row_changed(r);
	r->link.password = NULL;
	if (given && n > 0) {
		size_t keep = n < SPEC_PASSWORD_MAX ? n : SPEC_PASSWORD_MAX;

		memcpy(r->password, typed, keep);
		r->password[keep] = '\0';
		r->have_password = true;
		r->link.password = r->password;
	}
	explicit_bzero(typed, sizeof(typed));
	conn_pause_deadline(r, false);
	rlink_password(&r->link);
	remote_check_link(r);
}

/*
 * A question (whether to trust a server): the same row, echoed.
 */

void remote_term_ask(struct remote *r, const char *question,
		     void (*done)(struct remote *r, const char *answer))
{
	struct remote_term *t = &r->term;

	t->questioning = true;
	t->answered = done;
	snprintf(t->question, sizeof(t->question), "%s", question);
	edit_clear(&t->answer);
	row_changed(r);
}

static void question_done(struct remote *r, bool given)
{
	struct remote_term *t = &r->term;
	char typed[EDIT_LINE_MAX + 1];

	edit_take(&t->answer, typed, sizeof(typed));
	t->questioning = false;
	row_changed(r);
	t->answered(r, given ? typed : NULL);
}

/*
 * Keys.
 */

static void line_done(struct remote *r)
{
	char line[EDIT_LINE_MAX + 1];
	size_t n = edit_take(&r->term.line, line, sizeof(line));

	row_changed(r);
	if (remote_wants_to_leave(line)) {
		remote_leave(r);
		return;
	}
	/* The line leaves the row: the session shows it back, with who
	 * typed it, and the program echoes it after its prompt. */
	remote_send_line(r, line, n);
}

static void on_key(struct remote *r, uint8_t byte)
{
	struct remote_term *t = &r->term;
	struct edit *e = t->questioning ? &t->answer : t->asking ? &t->secret : &t->line;

	switch (edit_feed(e, byte)) {
	case EDIT_NONE:
	case EDIT_REFUSED:
		return;
	case EDIT_CHANGED:
		row_changed(r);
		return;
	case EDIT_ENTER:
		if (t->questioning)
			question_done(r, true);
		else if (t->asking)
			password_done(r, true);
		else
			line_done(r);
		return;
	case EDIT_EOF:
		if (t->questioning)
			question_done(r, false);
		else if (t->asking)
			password_done(r, false);
		else
			remote_leave(r);
		return;
	case EDIT_INTERRUPT:
		if (t->questioning) {
			question_done(r, false);
			return;
		}
		if (t->asking) {
			password_done(r, false);
			return;
		}
		edit_clear(e);
		row_changed(r);
		remote_interrupt(r);
		return;
	case EDIT_CLEAR_SCREEN:
		puts_(r, "\033[H\033[2J");
		t->on_screen = false;
		return;
	case EDIT_SUSPEND:
		suspend(r);
		return;
	}
}

void remote_term_on_input(struct remote *r)
{
	uint8_t buf[4096];
	ssize_t n = read(0, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The terminal went away (hangup). */
		r->stdin_eof = true;
		remote_leave(r);
		return;
	}
	for (ssize_t i = 0; i < n && !r->done && !r->leaving; i++)
		on_key(r, buf[i]);
}
