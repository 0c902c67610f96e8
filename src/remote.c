/* SPDX-License-Identifier: MIT */
/*
 * `ringside -remote SPEC`: the native client.  This part sets the client up
 * and runs its loop: signals, stdin (keys on a terminal, a script
 * otherwise), lines waiting for the connection, leaving, and the seams
 * between the protocol (remote_link.c), the socket (remote_conn.c) and the
 * screen (remote_term.c).  See remote_internal.h for the map.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "src/remote.h"
#include "src/remote_internal.h"
#include "src/visible.h"

/* At exit, output still queued for a stdout that is not a terminal (a
 * script's log) is written out unless its reader stalls this long. */
#define EXIT_DRAIN_MS 5000

uint64_t remote_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

void remote_say(struct remote *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		remote_term_show(r, RLINK_SAY, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void remote_finish(struct remote *r, int code)
{
	if (r->done)
		return;
	r->exit_code = code;
	r->done = true;
}

void remote_check_link(struct remote *r)
{
	if (!rlink_failed(&r->link) || r->done)
		return;
	/* A refusal, either way: final (PROTOCOL.md 8). */
	conn_close(r);
	remote_finish(r, 1);
}

/*
 * The protocol's needs, met here.
 */

static struct remote *of_link(struct remote_link *l)
{
	return container_of(l, struct remote, link);
}

static void to_server(struct remote_link *l, const uint8_t *p, size_t n)
{
	conn_send(of_link(l), p, n);
}

static void rlink_show(struct remote_link *l, enum rlink_show kind, const char *p, size_t n)
{
	remote_term_show(of_link(l), kind, p, n);
}

static void link_ask_password(struct remote_link *l)
{
	remote_term_ask_password(of_link(l));
}

static void link_went_live(struct remote_link *l)
{
	struct remote *r = of_link(l);

	conn_live(r);
	r->told_held = false;
	/* Lines typed while there was no connection go now, in order. */
	conn_send(r, r->held.p, r->held.len);
	r->held.len = 0;
	remote_heard(r);
}

static void link_jump(struct remote_link *l)
{
	remote_term_jump(of_link(l));
}

static const struct rlink_ops rlink_ops = {
	.send = to_server,
	.show = rlink_show,
	.ask_password = link_ask_password,
	.live = link_went_live,
	.jump = link_jump,
};

/*
 * Lines and leaving.
 */

static void queue_record(struct remote *r, uint8_t type, const void *p, size_t n)
{
	struct proto_header h = { .type = type, .length = (uint32_t)n };
	uint8_t rec[PROTO_HEADER_SIZE + EDIT_LINE_MAX];

	proto_header_encode(&h, rec);
	if (n)
		memcpy(rec + PROTO_HEADER_SIZE, p, n);
	if (rlink_live(&r->link)) {
		conn_send(r, rec, PROTO_HEADER_SIZE + n);
		return;
	}
	/* Kept whole until the handshake is over: the server takes nothing
	 * else before ACCEPT, and an unproven server gets nothing at all. */
	if (!bytes_put(&r->held, rec, PROTO_HEADER_SIZE + n)) {
		remote_say(r, "ringside: out of memory; a line was not sent");
		return;
	}
	if (r->link.joined && !r->told_held) {
		remote_say(r, "[ringside: not connected; what you type is sent once the connection "
			      "is back]");
		r->told_held = true;
	}
}

void remote_send_line(struct remote *r, const char *line, size_t len)
{
	if (len > EDIT_LINE_MAX) {
		remote_say(r, "ringside: line longer than %u bytes was not sent", EDIT_LINE_MAX);
		return;
	}
	queue_record(r, PROTO_INPUT, line, len);
}

void remote_interrupt(struct remote *r)
{
	/* A Ctrl+C kept for later would interrupt whatever runs then. */
	if (!rlink_live(&r->link)) {
		remote_say(r, "[ringside: not connected; Ctrl+C was not sent]");
		return;
	}
	queue_record(r, PROTO_INTERRUPT, NULL, 0);
}

static void on_leave_timeout(struct ring_timer *t, int res)
{
	struct remote *r = container_of(t, struct remote, leave_timer);

	if (res != -ECANCELED)
		remote_finish(r, r->exit_code);
}

void remote_leave(struct remote *r)
{
	if (r->leaving || r->done)
		return;
	r->leaving = true;
	if (!rlink_live(&r->link)) {
		remote_finish(r, r->exit_code);
		return;
	}
	queue_record(r, PROTO_BYE, NULL, 0);
	/* A server that stopped reading does not keep us. */
	ring_timer_arm(&r->ring, &r->leave_timer, LEAVE_WAIT_NS, on_leave_timeout);
}

bool remote_wants_to_leave(const char *line)
{
	/* Ctrl+B then Enter, as in WinDbg, or .remote_exit. */
	if (strcmp(line, "\x02") == 0)
		return true;
	while (*line == ' ' || *line == '\t')
		line++;
	return strncmp(line, ".remote_exit", 12) == 0 &&
	       (line[12] == '\0' || line[12] == ' ');
}

/*
 * A script on stdin: lines as they come, then leave once output is quiet.
 */

static void on_quiet(struct ring_timer *t, int res)
{
	struct remote *r = container_of(t, struct remote, quiet_timer);
	uint64_t quiet = (uint64_t)r->opt->quiet_ms * 1000000u, idle = remote_now() - r->last_rx;

	if (res == -ECANCELED || r->done)
		return;
	/* The script's input is over, every line has gone out, nothing has
	 * arrived for a while, and not because we stopped reading while a slow
	 * stdout catches up: its commands have had their say. */
	if (idle >= quiet && rlink_live(&r->link) && r->held.len == 0 && conn_idle(r) &&
	    !r->conn.recv_paused && outq_backlog(&r->out) == 0) {
		remote_leave(r);
		return;
	}
	ring_timer_arm(&r->ring, &r->quiet_timer, idle < quiet ? quiet - idle : quiet, on_quiet);
}

void remote_heard(struct remote *r)
{
	r->last_rx = remote_now();
	if (r->interactive || !r->stdin_eof || r->quiet_timer.armed)
		return;
	ring_timer_arm(&r->ring, &r->quiet_timer, (uint64_t)r->opt->quiet_ms * 1000000u, on_quiet);
}

static void script_input(struct remote *r, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !r->leaving && !r->done; i++) {
		if (p[i] != '\n') {
			if (r->partial_len < EDIT_LINE_MAX)
				r->partial[r->partial_len++] = p[i];
			else
				r->partial_overlong = true;
			continue;
		}
		if (r->partial_len && r->partial[r->partial_len - 1] == '\r')
			r->partial_len--;
		r->partial[r->partial_len] = '\0';
		if (r->partial_overlong)
			remote_say(r, "ringside: line longer than %u bytes was not sent",
				   EDIT_LINE_MAX);
		else if (remote_wants_to_leave(r->partial))
			remote_leave(r);
		else
			remote_send_line(r, r->partial, r->partial_len);
		r->partial_len = 0;
		r->partial_overlong = false;
	}
}

static bool input_backlogged(const struct remote *r)
{
	return r->held.len + r->conn.pending.len > INPUT_BACKLOG_MAX;
}

static void arm_stdin(struct remote *r)
{
	if (r->stdin_inflight || r->stdin_eof || r->done || input_backlogged(r))
		return;
	if (ring_poll(&r->ring, &r->stdin_op, 0, POLLIN) == 0)
		r->stdin_inflight = true;
}

static void on_stdin(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, stdin_op);
	char buf[4096];
	ssize_t n;

	r->stdin_inflight = false;
	if (r->done)
		return;
	if (r->interactive) {
		remote_term_on_input(r);
		return;		/* the loop polls again */
	}
	n = read(0, buf, sizeof(buf));
	if (n > 0) {
		script_input(r, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		if (r->partial_len)
			script_input(r, "\n", 1);
		r->stdin_eof = true;
		remote_heard(r);
	}
}

/*
 * Signals.
 */

static void on_signal(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, signal_op);
	struct signalfd_siginfo si;

	r->signal_inflight = false;
	if (res < 0 || r->done)
		return;
	while (read(r->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
			/* Ctrl+C interrupts the debugger, not this client. */
			remote_interrupt(r);
			break;
		case SIGWINCH:
			if (r->interactive)
				remote_term_resized(r);
			break;
		default:
			/* Leave at once, whatever stdout is doing. */
			r->hurry = true;
			remote_leave(r);
			break;
		}
	}
	if (ring_poll(&r->ring, &r->signal_op, r->signal_fd, POLLIN) == 0)
		r->signal_inflight = true;
}

/*
 * Setting up.
 */

/* npipe, spipe: a socket in the runtime directory, on this machine only. */
static int resolve_pipe(struct remote *r)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&r->addr;
	char dir[NPIPE_PATH_MAX + 1], err[256];

	if (!npipe_server_is_local(r->spec.server, err, sizeof(err)) ||
	    npipe_dir(dir, sizeof(dir), NPIPE_DIR_OTHERS, NULL, err, sizeof(err)) < 0 ||
	    npipe_path(dir, r->spec.pipe, r->pipe_path, sizeof(r->pipe_path), err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: -remote: %s\n", err);
		return -EINVAL;
	}
	memset(&r->addr, 0, sizeof(r->addr));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, r->pipe_path, strlen(r->pipe_path) + 1);
	r->addr_len = sizeof(*un);
	snprintf(r->where, sizeof(r->where), "pipe %s (%s)", r->spec.pipe, r->pipe_path);
	return 0;
}

static int remote_resolve(struct remote *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char port[8];
	int res;

	if (r->spec.transport == SPEC_NPIPE || r->spec.transport == SPEC_SPIPE)
		return resolve_pipe(r);
	snprintf(r->where, sizeof(r->where), "%s port %u", r->spec.server, r->spec.port_lo);
	snprintf(port, sizeof(port), "%u", r->spec.port_lo);
	res = getaddrinfo(strcmp(r->spec.server, ".") ? r->spec.server : "localhost", port, &hints,
			  &ai);
	if (res != 0) {
		fprintf(stderr, "ringside: -remote: server=%s: %s\n", r->spec.server,
			gai_strerror(res));
		return -EINVAL;
	}
	memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
	r->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* "HOST\user", kept to what a text field may carry (PROTOCOL.md 3.2). */
static void remote_identify(struct remote *r)
{
	struct passwd *pw = getpwuid(getuid());
	char host[64], raw[128];
	char *dot;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	snprintf(raw, sizeof(raw), "%s\\%s", host, pw ? pw->pw_name : "user");
	if (!visible_text_ok((const uint8_t *)raw, strlen(raw)))
		snprintf(raw, sizeof(raw), "localhost\\user");
	snprintf(r->identity, sizeof(r->identity), "%s", raw);
}

int remote_prepare(struct remote *r, unsigned sq_entries, unsigned cq_entries)
{
	int res;

	if (r->spec.transport != SPEC_COM &&
	    (r->spec.clicon[0] ? rlisten_setup(r) < 0 : remote_resolve(r) < 0))
		return -EINVAL;
	res = rtls_setup(r);
	if (res < 0)
		return res;
	remote_identify(r);
	res = ring_init(&r->ring, sq_entries, cq_entries);
	if (res < 0) {
		fprintf(stderr, "ringside: io_uring setup failed: %s\n", strerror(-res));
		return res;
	}
	/* A serial line is opened on the ring that will drive it. */
	if (r->spec.transport == SPEC_COM && rcom_setup(r) < 0) {
		ring_exit(&r->ring);
		return -EINVAL;
	}
	return 0;
}

/* A terminal that can move the cursor: anything but "dumb" and the like,
 * where lines are read cooked instead. */
static bool capable_terminal(void)
{
	const char *term = getenv("TERM");

	return isatty(0) && isatty(1) && term && *term && strcmp(term, "dumb") != 0;
}

static int setup(struct remote *r, const char *spec_text)
{
	char err[512];
	sigset_t mask;
	int res;

	if (spec_parse(spec_text, SPEC_CLIENT, &r->spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: -remote: %s\n", err);
		return -EINVAL;
	}
	if (r->spec.password_warning[0])
		fprintf(stderr, "ringside: -remote: %s\n", r->spec.password_warning);
	if (r->spec.has_password) {
		memcpy(r->password, r->spec.password, sizeof(r->password));
		r->have_password = true;
	}
	res = remote_prepare(r, 64, 256);
	if (res < 0)
		return res;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	r->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	r->signal_op.cb = on_signal;
	r->stdin_op.cb = on_stdin;
	if (r->signal_fd >= 0 && ring_poll(&r->ring, &r->signal_op, r->signal_fd, POLLIN) == 0)
		r->signal_inflight = true;

	r->interactive = capable_terminal() && remote_term_start(r) == 0;
	r->color = isatty(1) && !getenv("NO_COLOR");
	outq_init(&r->out, 1);
	outq_init(&r->err, 2);
	conn_init(r);
	rlink_init(&r->link, &rlink_ops, r->identity);
	r->link.password = r->have_password ? r->password : NULL;
	r->link.can_ask = r->interactive;
	return 0;
}

static void run(struct remote *r)
{
	while (!r->done) {
		int res;

		if (r->interactive)
			remote_term_refresh(r);
		outq_flush(&r->out, &r->ring);
		outq_flush(&r->err, &r->ring);
		if (r->out.broken && !r->leaving) {
			/* Nobody reads our output any more (a closed pipe). */
			r->hurry = true;
			remote_leave(r);
		}
		conn_resume_reading(r);
		arm_stdin(r);
		res = ring_run_once(&r->ring, 0);
		if (res < 0 && res != -EINTR) {
			remote_say(r, "ringside: io_uring: %s", strerror(-res));
			remote_finish(r, 1);
		}
	}
}

int ringside_remote(const char *spec_text, const struct remote_options *opt)
{
	struct remote *r = calloc(1, sizeof(*r));
	int code;

	if (!r)
		return 1;
	r->opt = opt;
	r->signal_fd = -1;
	r->listen_fd = -1;
	if (setup(r, spec_text) < 0) {
		rtls_free(r);
		rlisten_close(r);
		free(r);
		return 2;
	}
	conn_start(r);
	run(r);

	conn_close(r);
	remote_term_stop(r);
	/* A terminal that stopped reading is not waited for (that is what
	 * the user may be leaving over); a script's log is. */
	outq_drain(&r->err, r->signal_fd, r->hurry ? 0 : 1000);
	outq_drain(&r->out, r->signal_fd, r->hurry || r->interactive ? 200 : EXIT_DRAIN_MS);
	outq_restore(&r->out);
	outq_restore(&r->err);
	code = r->exit_code;
	rcom_close(r);
	ring_exit(&r->ring);
	rcom_free(r);
	rtls_free(r);
	rlisten_close(r);
	if (r->signal_fd >= 0)
		close(r->signal_fd);
	rlink_free(&r->link);
	conn_free(r);
	outq_free(&r->out);
	outq_free(&r->err);
	bytes_free(&r->held);
	explicit_bzero(r->password, sizeof(r->password));
	free(r);
	return code;
}
