/* SPDX-License-Identifier: MIT */
/*
 * The -remote client on a terminal: libedit's callback interface on the
 * ring loop, output shown above the line being typed, and the password
 * prompt.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <editline/readline.h>

#include "src/remote_internal.h"

static struct remote *the_remote;	/* for libedit's line callback only */

/*
 * Showing things.  On a terminal, output appears above the line being
 * edited: clear that line, print, and let libedit draw it again.
 */

void remote_term_show(struct remote *r, const char *p, size_t n, bool notice)
{
	size_t whole = n;

	if (!r->interactive) {
		fwrite(p, 1, n, stdout);
		fflush(stdout);
		return;
	}
	/* The debugger's unfinished last line (its prompt, usually) becomes
	 * the line editor's prompt, so typing continues right after "(gdb) "
	 * and new output never overwrites it. */
	while (whole > 0 && p[whole - 1] != '\n')
		whole--;
	fputs("\r\033[K", stdout);
	if (notice && r->color)
		fputs("\033[2m", stdout);
	if (whole) {
		fwrite(r->tail, 1, r->tail_len, stdout);
		r->tail_len = 0;
		fwrite(p, 1, whole, stdout);
	}
	for (size_t i = whole; i < n; i++)
		if (p[i] != '\r' && r->tail_len < sizeof(r->tail) - 1)
			r->tail[r->tail_len++] = p[i];
	r->tail[r->tail_len] = '\0';
	if (notice && r->color)
		fputs("\033[0m", stdout);
	fflush(stdout);
	rl_set_prompt(r->tail);
	rl_forced_update_display();
}

int remote_term_read_password(struct remote *r)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	ssize_t n;
	size_t len = 0;
	char ch;

	if (fd < 0)
		return -1;
	if (write(fd, "Password: ", 10) < 0 || tcgetattr(fd, &old) < 0) {
		close(fd);
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ICANON;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	while ((n = read(fd, &ch, 1)) == 1 && ch != '\n' && ch != '\r')
		if (len < SPEC_PASSWORD_MAX)
			r->password[len++] = ch;
	r->password[len] = '\0';
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* nothing to do: the prompt line just stays */
	}
	close(fd);
	r->have_password = len > 0;
	return r->have_password ? 0 : -1;
}

static void on_line(char *line)
{
	struct remote *r = the_remote;

	if (!line) {		/* Ctrl+D on an empty line */
		remote_leave(r);
		return;
	}
	if (remote_wants_to_leave(line)) {
		free(line);
		remote_leave(r);
		return;
	}
	if (*line)
		add_history(line);
	/* The session echoes the line back to everyone, with who typed it:
	 * take the editor's copy off the screen so it is not shown twice. */
	fputs("\033[A\r\033[K", stdout);
	fflush(stdout);
	remote_send_line(r, line, strlen(line));
	free(line);
}

void remote_term_start(struct remote *r)
{
	the_remote = r;
	rl_catch_signals = 0;
	rl_callback_handler_install("", on_line);
	/* Ctrl+B must reach the line as itself, for Ctrl+B Enter. */
	rl_bind_key(2, rl_insert);
}

void remote_term_stop(struct remote *r)
{
	rl_callback_handler_remove();
	fputs("\r\n", stdout);
	the_remote = NULL;
}

void remote_term_on_input(struct remote *r)
{
	rl_callback_read_char();
}

void remote_term_interrupted(struct remote *r)
{
	rl_replace_line("", 0);
	remote_term_show(r, "^C\r\n", 4, true);
}
