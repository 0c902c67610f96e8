/* SPDX-License-Identifier: MIT */
/*
 * A client's input: a multishot receive into the shared provided buffers,
 * the console's polled reads, and raw clients' bytes becoming lines: the
 * password exchange, line limits, and the check that keeps control
 * characters out of the program and off other people's terminals.  Native
 * clients' bytes go to native.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/com.h"
#include "src/native.h"
#include "src/server.h"
#include "src/client.h"
#include "src/hub.h"
#include "src/spec.h"
#include "src/telnet.h"
#include "src/visible.h"

#define AUTH_DELAY_NS (1ull * 1000000000u)
#define AUTH_MAX_TRIES 3
/* Telnet answers one receive may draw; beyond it they are dropped whole. */
#define TELNET_REPLY_CAP 256
#define CTRL_C 0x03

static bool password_matches(const struct spec *sp, const char *line, size_t len)
{
	unsigned char diff = (unsigned char)(len != strlen(sp->password));
	char given[SPEC_PASSWORD_MAX + 1] = { 0 };

	/* Same work whatever the input: compare fixed-size padded buffers. */
	memcpy(given, line, len < SPEC_PASSWORD_MAX ? len : SPEC_PASSWORD_MAX);
	for (size_t i = 0; i < sizeof(given); i++)
		diff |= (unsigned char)(given[i] ^ sp->password[i]);
	return diff == 0;
}

static void on_auth_delay(struct ring_timer *t, int res)
{
	struct client *c = container_of(t, struct client_extra, delay_timer)->c;

	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
		return;
	}
	c->x->auth_waiting = false;
	if (c->x->auth_failures >= AUTH_MAX_TRIES) {
		client_private(c, "Error 0x80004005: wrong password; closing the connection\r\n");
		client_finish(c);
		return;
	}
	client_private(c, "Error 0x80004005: wrong password\r\nPassword: ");
}

static void check_password(struct client *c, const char *line, size_t len)
{
	struct hub *s = c->hub;
	struct client_extra *x;
	char why[128];

	if ((c->x && c->x->auth_waiting) || c->close_after_flush)
		return;
	/* Someone arriving at a raw serial line's terminal presses Enter to
	 * see the prompt (it went out before they came): not a guess. */
	if (len == 0 && link_serial_raw(&c->link)) {
		client_private(c, "Password: ");
		return;
	}
	/* A source under a penalty gets no guess, on this connection or any
	 * other it already had open. */
	if (client_auth_wait(c, why, sizeof(why))) {
		client_private(c, "\r\nError 0x80004005: %s\r\n", why);
		client_finish(c);
		return;
	}
	if (s->gate) {
		/* The origin checks it (the gate answers later); nothing more
		 * is read as a password meanwhile. */
		if (!(x = client_x(c))) {
			client_close(c, "out of memory");
			return;
		}
		x->auth_waiting = true;
		s->gate->password(s, c, line, len);
		return;
	}
	if (password_matches(&c->server->spec, line, len)) {
		client_auth_passed(c);
		client_go_live_at(c, transcript_history_start(&s->tr, s->cfg->history_bytes,
							      s->cfg->history_lines));
		if (c->x)
			c->x->auth_failures = 0;
		return;
	}
	client_auth_failed(c);
	x = client_x(c);
	if (!x) {
		client_close(c, "out of memory");
		return;
	}
	x->auth_failures++;
	x->auth_waiting = true;
	/* Answer late so guessing costs the guesser time, not the loop. */
	if (ring_timer_arm(&s->ring, &x->delay_timer, AUTH_DELAY_NS, on_auth_delay) < 0) {
		client_private(c, "Error 0x80004005: wrong password; closing the connection\r\n");
		client_finish(c);
	}
}

void client_handle_line(struct client *c, const char *line, size_t len)
{
	struct hub *s = c->hub;

	if (c->state != CLIENT_LIVE)
		return;
	c->last_active = (uint32_t)time(NULL);
	if (client_is_console(c))
		s->console_active = c->last_active;
	if (c->readonly && !s->cfg->readonly_lines) {
		s->stats.lines_refused++;
		client_private(c, "ringside: this is a read-only connection; "
				  "commands are not accepted\r\n");
		return;
	}
	/* One line is one command, shown to everyone as typed: a CR would make
	 * it two for the program's terminal, a NUL would cut what others see,
	 * and escape sequences would act on their terminals.  The console is
	 * the host's own keyboard. */
	if (!client_is_console(c) && !visible_line_ok((const uint8_t *)line, len, true)) {
		char name[32];

		visible_first_bad((const uint8_t *)line, len, true, name, sizeof(name));
		s->stats.lines_refused++;
		client_private(c, "ringside: a line with a control character (%s) in it was not "
			       "sent\r\n", name);
		return;
	}
	s->stats.lines_in++;
	s->ops->line(s, c, line, len);
}

void client_interrupt(struct client *c)
{
	if (c->readonly) {
		client_private(c, "ringside: this is a read-only connection; "
				  "interrupts are not accepted\r\n");
		return;
	}
	c->last_active = (uint32_t)time(NULL);
	c->hub->ops->interrupt(c->hub, c);
}

/*
 * A telnet negotiates options inside its input (IAC ...): take that out
 * before the bytes become lines, refusing every option politely, and turn
 * its Ctrl+C (IAC IP, or a bare ^C in character mode) into an interrupt.
 * Peers that never send IAC pay one memchr per receive.
 */
static size_t telnet_input(struct client *c, char *data, size_t n, struct telnet_events *ev)
{
	uint8_t reply[TELNET_REPLY_CAP];
	size_t reply_len = 0;
	struct client_extra *x = c->x;

	memset(ev, 0, sizeof(*ev));
	if (!(x && x->telnet) && !memchr(data, 0xff, n))
		return n;
	if (!(x = client_x(c)) || (!x->telnet && !(x->telnet = calloc(1, sizeof(*x->telnet))))) {
		client_close(c, "out of memory");
		return 0;
	}
	n = telnet_filter(x->telnet, (uint8_t *)data, n, reply, sizeof(reply), &reply_len, ev);
	client_queue_private(c, reply, reply_len);
	if (ev->erase_line)
		x->line_len = 0;
	if (x->telnet->active) {
		size_t kept = 0;

		for (size_t i = 0; i < n; i++) {
			if (data[i] == CTRL_C)
				ev->interrupt = true;
			else
				data[kept++] = data[i];
		}
		n = kept;
	}
	return n;
}

static void raw_line(struct client *c, const char *line, size_t len)
{
	if (len && line[len - 1] == '\r')
		len--;
	if (c->state == CLIENT_AUTH)
		check_password(c, line, len);
	else
		client_handle_line(c, line, len);
}

static void refuse_long_line(struct client *c)
{
	struct hub *s = c->hub;

	s->stats.lines_refused++;
	if (!client_x(c)) {
		client_close(c, "out of memory");
		return;
	}
	c->x->line_len = 0;
	c->x->line_discard = true;
	if (client_is_console(c))
		hub_log(s, "console line longer than %u bytes was not sent", s->cfg->line_max);
	else
		client_private(c, "ringside: line longer than %u bytes was not sent\r\n",
			       s->cfg->line_max);
}

static void raw_input(struct client *c, const char *data, size_t n)
{
	struct hub *s = c->hub;
	unsigned max = s->cfg->line_max;

	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t seg = nl ? (size_t)(nl - data) : n;
		size_t step = nl ? seg + 1 : seg;

		struct client_extra *x = c->x;
		unsigned have = x ? x->line_len : 0;

		if (x && x->line_discard) {
			if (nl)
				x->line_discard = false;
		} else if (have + seg > max) {
			refuse_long_line(c);
			if (nl && c->x)
				c->x->line_discard = false;
		} else if (nl && have == 0) {
			/* The common case: a whole line inside one receive. */
			raw_line(c, data, seg);
		} else {
			if (!(x = client_x(c)) || (!x->line && !(x->line = malloc(max)))) {
				hub_log(s, "out of memory for %s's input line", CLIENT_IDENT(c));
				client_close(c, "out of memory");
				return;
			}
			memcpy(x->line + x->line_len, data, seg);
			x->line_len += (unsigned)seg;
			if (nl) {
				unsigned len = x->line_len;

				/* The line is handed up from its buffer, which
				 * client_extra_tidy() may free only afterwards. */
				x->line_len = 0;
				raw_line(c, x->line, len);
			}
		}
		if (c->state == CLIENT_CLOSING || c->close_after_flush)
			return;
		data += step;
		n -= step;
	}
}

static void client_input(struct client *c, char *data, size_t n)
{
	struct hub *s = c->hub;

	c->heard = true;
	c->heard_at = s->now;
	/* Whatever a peer sends after its last word is read and dropped, so
	 * that closing leaves nothing unread. */
	if (c->lingering || c->close_after_flush)
		return;
	if (c->detecting) {
		size_t used = native_detect(c, data, n);

		data += used;
		n -= used;
	}
	if (c->native) {
		native_input(c, data, n);
		return;
	}
	if (c->state == CLIENT_REFUSING) {
		client_private(c, "ringside: connection refused: %s\r\n",
			       c->x && c->x->refusal ? c->x->refusal : "refused");
		client_finish(c);
		return;
	}
	if (client_is_console(c)) {
		raw_input(c, data, n);
		client_extra_tidy(c);
		return;
	}
	c->last_active = (uint32_t)time(NULL);
	if (link_serial_raw(&c->link)) {
		/* A terminal on a raw serial line: erase, kill, ^C and echo
		 * are ours to do, as a tty's line discipline would (com.c). */
		bool intr = false;

		n = com_terminal_input(c, data, n, &intr);
		raw_input(c, data, n);
		if (c->state == CLIENT_CLOSING)
			return;
		client_extra_tidy(c);
		if (intr && c->state == CLIENT_LIVE)
			client_interrupt(c);
		return;
	}
	{
		struct telnet_events ev;

		/* The receive buffer is ours until it is recycled: filter in place. */
		n = telnet_input(c, data, n, &ev);
		raw_input(c, data, n);
		if (c->state == CLIENT_CLOSING)
			return;
		client_extra_tidy(c);
		if (ev.are_you_there)
			client_queue_private(c, TELNET_AYT_ANSWER, sizeof(TELNET_AYT_ANSWER) - 1);
		if (ev.interrupt && c->state == CLIENT_LIVE)
			client_interrupt(c);
	}
}

void client_received(struct link *l, char *data, size_t n)
{
	struct client *c = container_of(l, struct client, link);

	if (c->state != CLIENT_CLOSING)
		client_input(c, data, n);
}

void client_recv_ended(struct link *l, int res)
{
	struct client *c = container_of(l, struct client, link);
	struct hub *s = c->hub;

	if (c->state == CLIENT_CLOSING) {
		client_maybe_free(c);
	} else if (client_is_console(c)) {
		/* The console's input ended; its output and the session go on. */
		if (c->x && c->x->line_len) {
			unsigned len = c->x->line_len;

			c->x->line_len = 0;
			raw_line(c, c->x->line, len);
			client_extra_tidy(c);
		}
	} else if (c->lingering) {
		/* The peer has closed too: nothing is left unread. */
		client_close(c, NULL);
	} else if (c->close_after_flush) {
		/* Its last word is still to go out; once sent, with nothing
		 * left to read, linger() closes it. */
		c->input_ended = true;
	} else if (res == 0) {
		/* The peer stopped sending (`echo bt | nc -N ...` does this).
		 * It may still be reading; the sweep lets it go once the
		 * session is quiet (client_check_deadlines). */
		c->input_ended = true;
		c->since = s->now;
		if (client_x(c))
			c->x->quiet_head = s->tr.head;
		if (c->state == CLIENT_REFUSING && !c->close_after_flush) {
			/* Said nothing and stopped: still told why. */
			client_private(c, "ringside: connection refused: %s\r\n",
				       c->x && c->x->refusal ? c->x->refusal : "refused");
			client_finish(c);
		} else if (c->state != CLIENT_LIVE) {
			client_close(c, NULL);
		}
	} else {
		const char *why = link_error(l);

		client_close(c, why ? why : strerror(-res));
	}
}
