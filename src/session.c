/* SPDX-License-Identifier: MIT */
/*
 * The session: the hub its servers and clients share, what speaks into it
 * (a hosted program on a pty, or the embedding host), the answers to what
 * the hub's clients ask for (command lines, interrupts, joins), the loop,
 * and the orderly end (exit status told to everyone, output flushed,
 * bounded time).  Process-wide set-up happens only when asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/client.h"
#include "src/meta.h"
#include "src/native.h"
#include "src/nats_publish.h"
#include "src/notice.h"
#include "src/server.h"
#include "src/session.h"
#include "src/spec.h"
#include "src/writer.h"

/* Transcript chunk (the unit of pinning) and receive buffers. */
#define TRANSCRIPT_CHUNK (64 * 1024)
#define RECV_BUFS 1024
#define RECV_BUF_SIZE 2048
#define RECV_BGID 1
/* fds kept for everything that is not a client. */
#define FD_RESERVE 64
/* Registered-file slots: clients beyond this many use plain fds.  The
 * kernel's table costs 8 bytes a slot; ours grows only with use. */
#define SESSION_FILE_SLOTS 65536
#define KILL_GRACE_NS (2ull * 1000000000u)
/* Client deadlines, once a second (client_check_deadlines). */
#define SWEEP_NS 1000000000ull

static struct session *of(struct hub *h)
{
	return container_of(h, struct session, hub);
}

/* What a callback is told about C. */
/* IDENT (IDENT_MAX bytes) holds the identity while WHO is in use. */
static void describe(const struct client *c, struct ringside_client *who, char *ident)
{
	static const char *const names[] = {
		[SPEC_TCP] = "tcp", [SPEC_NPIPE] = "npipe", [SPEC_COM] = "com",
		[SPEC_SSL] = "ssl", [SPEC_SPIPE] = "spipe",
	};
	unsigned t = c->server ? (unsigned)c->server->spec.transport : 0;

	who->id = c->id;
	who->identity = client_ident(c, ident);
	who->transport = !c->server ? "console" :
			 t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "?";
	who->readonly = c->readonly;
	who->native = c->native;
}

/*
 * What the hub's clients ask of the session (struct hub_ops).
 */

static void on_log(struct hub *h, const char *msg)
{
	struct session *s = of(h);

	if (s->cb.log)
		s->cb.log(s->cb_arg, msg);
}

static void to_program(struct session *s, struct client *c, const char *line, size_t len)
{
	struct hub *h = &s->hub;
	int res = h->draining ? -EPIPE : program_input(&s->prog, line, len);

	if (res == -ENOBUFS) {
		h->stats.lines_refused++;
		if (!client_is_console(c))
			client_private(c, "ringside: the program is not reading input; line dropped\r\n");
		else
			hub_log(h, "the program is not reading input; console line dropped");
		return;
	}
	if (res < 0) {
		client_private(c, "ringside: the program has ended; input is not taken\r\n");
		return;
	}
	/* Who typed it, for everyone; the console types anonymously (its
	 * terminal echoes it). */
	if (!client_is_console(c))
		writer_typedf(h, "%s: %.*s", CLIENT_IDENT(c), (int)len, line);
}

static void to_host(struct session *s, struct client *c, const char *line, size_t len)
{
	struct hub *h = &s->hub;
	struct ringside_client who;
	char ident[IDENT_MAX];
	int res;

	if (!s->cb.command) {
		client_private(c, "ringside: this session takes no commands\r\n");
		return;
	}
	/* Shown before the host runs it, so its output follows the line. */
	if (client_is_console(c))
		writer_emit_as(h, TRANSCRIPT_TYPED, line, len);
	else
		writer_typedf(h, "%s: %.*s", CLIENT_IDENT(c), (int)len, line);
	describe(c, &who, ident);
	res = s->cb.command(s->cb_arg, &who, line, len);
	if (res < 0) {
		h->stats.lines_refused++;
		client_private(c, "ringside: command refused: %s\r\n", strerror(-res));
	}
}

static void on_line(struct hub *h, struct client *c, const char *line, size_t len)
{
	struct session *s = of(h);

	if (s->cb.typed) {
		struct ringside_client who;
		char ident[IDENT_MAX];

		describe(c, &who, ident);
		s->cb.typed(s->cb_arg, &who, line, len);
	}
	if (meta_execute(h, c, line, len))
		return;
	if (s->prog.pid > 0)
		to_program(s, c, line, len);
	else if (h->draining)
		client_private(c, "ringside: the session has ended; input is not taken\r\n");
	else
		to_host(s, c, line, len);
}

static void interrupt(struct session *s, struct client *c)
{
	struct ringside_client who;
	char ident[IDENT_MAX];

	if (s->prog.pid > 0) {
		program_interrupt(&s->prog);
	} else if (s->cb.interrupt) {
		describe(c, &who, ident);
		s->cb.interrupt(s->cb_arg, &who);
	}
}

static void on_interrupt(struct hub *h, struct client *c)
{
	writer_typedf(h, "%s: ^C (interrupt)", CLIENT_IDENT(c));
	interrupt(of(h), c);
}

static void on_joined(struct hub *h, struct client *c)
{
	struct session *s = of(h);
	struct ringside_client who;
	char ident[IDENT_MAX];

	notice_joined(h, c);
	if (s->cb.joined) {
		describe(c, &who, ident);
		s->cb.joined(s->cb_arg, &who);
	}
}

static void on_left(struct hub *h, struct client *c)
{
	struct session *s = of(h);
	struct ringside_client who;
	char ident[IDENT_MAX];

	notice_left(h, c);
	if (s->cb.left) {
		describe(c, &who, ident);
		s->cb.left(s->cb_arg, &who);
	}
	/* A repeater's clients leave with it. */
	native_relay_left(h, c);
}

static void on_retracted(struct hub *h, struct client *c)
{
	notice_retract(h, c);
}

/* A client of an edge (nats_publish.c): known by name only, and taken
 * as a local read-write client's line would be. */
static void on_remote_line(struct hub *h, const char *who, bool intr, const char *line,
			   size_t len)
{
	struct session *s = of(h);
	struct ringside_client rc = { .identity = who, .transport = "nats" };
	int res;

	if (h->draining)
		return;
	if (intr) {
		writer_typedf(h, "%s: ^C (interrupt)", who);
		if (s->prog.pid > 0)
			program_interrupt(&s->prog);
		else if (s->cb.interrupt)
			s->cb.interrupt(s->cb_arg, &rc);
		return;
	}
	if (s->cb.typed)
		s->cb.typed(s->cb_arg, &rc, line, len);
	if (s->prog.pid > 0) {
		res = program_input(&s->prog, line, len);
		if (res < 0) {
			h->stats.lines_refused++;
			hub_log(h, "a line from %s was dropped: %s", who, res == -ENOBUFS ?
				"the program is not reading input" : "the program has ended");
			return;
		}
		writer_typedf(h, "%s: %.*s", who, (int)len, line);
		return;
	}
	if (!s->cb.command)
		return;
	writer_typedf(h, "%s: %.*s", who, (int)len, line);
	res = s->cb.command(s->cb_arg, &rc, line, len);
	if (res < 0)
		h->stats.lines_refused++;
}

static void on_unpinned(struct hub *h)
{
	if (transcript_blocked(&h->tr))
		return;
	writer_flush(h);
	if (of(h)->prog.pid > 0)
		program_unblocked(&of(h)->prog);
}

static const struct hub_ops session_ops = {
	.log = on_log,
	.line = on_line,
	.interrupt = on_interrupt,
	.joined = on_joined,
	.left = on_left,
	.retracted = on_retracted,
	.unpinned = on_unpinned,
	.remote_line = on_remote_line,
};

/*
 * The end: the program is gone or the host said so.  Tell everyone how it
 * ended, stop accepting, and give clients flush_ms to receive the rest.
 */

static const char *signal_name(int sig)
{
	const char *name = sigabbrev_np(sig);

	return name ? name : "?";
}

static void on_flush_timer(struct ring_timer *t, int res)
{
	struct session *s = container_of(t, struct session, exit_timer);

	if (res != -ECANCELED)
		s->done = true;
}

static void begin_drain(struct session *s, int status)
{
	struct hub *h = &s->hub;

	if (h->draining)
		return;
	h->draining = true;
	notice_flush(h);
	if (s->prog.pid > 0) {
		int st = s->prog.status;

		if (WIFEXITED(st))
			writer_emitf(h, "ringside: program %s exited with status %d", s->prog.name,
				     WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			writer_emitf(h, "ringside: program %s was killed by signal %d (SIG%s)",
				     s->prog.name, WTERMSIG(st), signal_name(WTERMSIG(st)));
		status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	} else {
		writer_emitf(h, "ringside: the session has ended");
	}
	native_session_ended(h, status);
	s->exit_status = s->end_signal ? 128 + s->end_signal : status;
	nats_pub_ended(h, status);
	server_close_all(h);
	ring_timer_cancel(&h->ring, &s->kill_timer);
	ring_timer_arm(&h->ring, &s->exit_timer, (uint64_t)s->params.flush_ms * 1000000u,
		       on_flush_timer);
}

static void on_program_exit(struct program *p)
{
	struct session *s = container_of(p, struct session, prog);

	program_read_rest(p);
	begin_drain(s, 0);
}

static void on_kill_timer(struct ring_timer *t, int res)
{
	struct session *s = container_of(t, struct session, kill_timer);

	if (res == -ECANCELED || s->prog.exited)
		return;
	hub_log(&s->hub, "program did not exit after SIGHUP; sending SIGKILL");
	program_signal(&s->prog, SIGKILL);
}

void session_end(struct session *s, int status)
{
	if (s->hub.draining || s->kill_timer.armed)
		return;
	if (s->prog.pid > 0 && !s->prog.exited) {
		/* Hang up the program's terminal the way a closed console
		 * would; its exit ends the session. */
		program_signal(&s->prog, SIGHUP);
		ring_timer_arm(&s->hub.ring, &s->kill_timer, KILL_GRACE_NS, on_kill_timer);
		return;
	}
	begin_drain(s, status);
}

static bool everyone_caught_up(const struct session *s)
{
	const struct hub *h = &s->hub;

	if (h->backlog_len)
		return false;
	/* Edges learn the end from NATS: it is published first. */
	if (!nats_pub_flushed(h))
		return false;
	for (const struct client *c = h->clients; c; c = c->next) {
		if (c->state != CLIENT_LIVE || c->close_after_flush)
			continue;
		if (c->cursor != h->tr.head || !client_private_empty(c) || client_sending(c))
			return false;
	}
	return true;
}

/*
 * Signals, only when the host hands them over: they arrive through a
 * signalfd polled on the ring, never in a handler.
 */

static void on_signal(struct ring_op *op, int res, unsigned flags)
{
	struct session *s = container_of(op, struct session, signal_op);
	struct signalfd_siginfo si;

	s->signal_inflight = false;
	if (res < 0)
		return;
	while (read(s->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig == SIGINT && si.ssi_code == SI_KERNEL && s->hub.console) {
			/* Ctrl+C at the console's terminal (the kernel sends it;
			 * kill(1) would say SI_USER): break in as at the
			 * program's own console, as CDB does.  Ending the
			 * session stays with Ctrl+\, a signal from outside, or
			 * the program itself. */
			interrupt(s, s->hub.console);
		} else if (!s->end_signal && !s->hub.draining) {
			s->end_signal = sig;
			writer_emitf(&s->hub, "ringside: session ending (SIG%s)", signal_name(sig));
			session_end(s, 128 + sig);
		}
	}
	if (!s->done && ring_poll(&s->hub.ring, &s->signal_op, s->signal_fd, POLLIN) == 0)
		s->signal_inflight = true;
}

static unsigned fd_room(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1u << 20;
	return rl.rlim_cur > FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 1;
}

/* max_clients: what was asked for, within what the open-file limit allows. */
static void fit_clients(struct session *s, bool warn)
{
	unsigned room = fd_room(), want = s->params.max_clients;

	s->hub.max_clients = want ? want : room;
	if (s->hub.max_clients > room) {
		if (warn)
			hub_log(&s->hub, "-maxclients %u exceeds the open-file limit; using %u",
				want, room);
		s->hub.max_clients = room;
	}
}

int session_take_process(struct session *s, unsigned what, char *err, size_t errlen)
{
	if (what & RINGSIDE_PROCESS_SIGPIPE)
		signal(SIGPIPE, SIG_IGN);
	if (what & RINGSIDE_PROCESS_NOFILE) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		fit_clients(s, true);
		/* The file table was sized by the old limit; before the first
		 * client takes a slot it can still grow with it. */
		ring_files_init(&s->hub.ring, SESSION_FILE_SLOTS);
	}
	if ((what & RINGSIDE_PROCESS_SIGNALS) && s->signal_fd < 0) {
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGHUP);
		sigaddset(&mask, SIGQUIT);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (s->signal_fd < 0) {
			int res = -errno;

			snprintf(err, errlen, "signalfd: %s", strerror(errno));
			return res;
		}
		s->signal_op.cb = on_signal;
		if (ring_poll(&s->hub.ring, &s->signal_op, s->signal_fd, POLLIN) == 0)
			s->signal_inflight = true;
	}
	return 0;
}

/*
 * Set-up.
 */

static void identify_host(struct hub *h)
{
	struct passwd pw, *found = NULL;
	char buf[1024], *dot;

	if (gethostname(h->host, sizeof(h->host)) < 0 || !h->host[0])
		snprintf(h->host, sizeof(h->host), "localhost");
	h->host[sizeof(h->host) - 1] = '\0';
	dot = strchr(h->host, '.');
	if (dot)
		*dot = '\0';
	getpwuid_r(getuid(), &pw, buf, sizeof(buf), &found);
	snprintf(h->user, sizeof(h->user), "%s", found ? found->pw_name : "user");
	snprintf(h->console_ident, sizeof(h->console_ident), "%s\\%s", h->host, h->user);
}

static void on_sweep(struct ring_timer *t, int res)
{
	struct session *s = container_of(t, struct session, sweep_timer);
	struct hub *h = &s->hub;

	if (res == -ECANCELED || s->done)
		return;
	h->now = hub_clock();
	for (struct client *c = h->clients; c; c = c->next)
		client_check_deadlines(c, h->now);
	ring_timer_arm(&h->ring, &s->sweep_timer, SWEEP_NS, on_sweep);
}

static int check_params(const struct ringside_params *p, char *err, size_t errlen)
{
	if (p->ring_bytes < 4 * TRANSCRIPT_CHUNK) {
		snprintf(err, errlen, "ring_bytes %zu is below the minimum %u", p->ring_bytes,
			 4 * TRANSCRIPT_CHUNK);
		return -EINVAL;
	}
	if (p->line_max < 64) {
		snprintf(err, errlen, "line_max %u is below the minimum 64", p->line_max);
		return -EINVAL;
	}
	if (p->max_auth == 0) {
		snprintf(err, errlen, "max_auth must be at least 1");
		return -EINVAL;
	}
	if (p->flags & ~RINGSIDE_READONLY_COMMANDS) {
		snprintf(err, errlen, "unknown flags 0x%x", p->flags & ~RINGSIDE_READONLY_COMMANDS);
		return -EINVAL;
	}
	return 0;
}

int session_init(struct session *s, const struct ringside_params *params,
		 const struct ringside_callbacks *cb, void *arg, char *err, size_t errlen)
{
	struct hub *h = &s->hub;
	uint64_t seed;
	int res;

	memset(s, 0, sizeof(*s));
	h->reserve_fd = s->signal_fd = s->event_fd = -1;
	s->prog.pty_fd = s->prog.pidfd = -1;
	s->params = *params;
	if (cb)
		s->cb = *cb;
	s->cb_arg = arg;
	res = check_params(&s->params, err, errlen);
	if (res < 0)
		return res;
	if (s->params.program && !(s->program_name = strdup(s->params.program))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->params.program = s->program_name;
	h->program = s->program_name;
	s->limits = (struct hub_limits){
		.history_bytes = s->params.history_bytes,
		.history_lines = s->params.history_lines,
		.max_auth = s->params.max_auth,
		.line_max = s->params.line_max,
		.peer_timeout_s = s->params.peer_timeout_s,
		.notice_ms = s->params.notice_ms,
		.readonly_lines = s->params.flags & RINGSIDE_READONLY_COMMANDS,
	};
	h->ops = &session_ops;
	h->cfg = &s->limits;
	h->next_client_id = 1;
	h->now = hub_clock();
	identify_host(h);
	fit_clients(s, false);
	/* Not h->id for the penalty seed: clients see that. */
	if (getrandom(h->id, sizeof(h->id), 0) != sizeof(h->id) ||
	    getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
		snprintf(err, errlen, "getrandom failed");
		return -EIO;
	}
	if (penalty_init(&h->penalties, seed) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	res = transcript_init(&h->tr, s->params.ring_bytes, TRANSCRIPT_CHUNK);
	if (res < 0) {
		snprintf(err, errlen, "cannot allocate a %zu-byte transcript: %s",
			 s->params.ring_bytes, strerror(-res));
		return res;
	}
	h->lag_budget = s->params.lag_bytes ? s->params.lag_bytes : h->tr.cap - 2 * h->tr.chunk;
	if (h->lag_budget > h->tr.cap - h->tr.chunk)
		h->lag_budget = h->tr.cap - h->tr.chunk;

	/* Room for a send and a receive per client plus the rest, within the
	 * kernel's CQ maximum; the kernel holds any overflow (FEAT_NODROP). */
	res = ring_init(&h->ring, 4096, 65536);
	if (res < 0) {
		snprintf(err, errlen, "io_uring setup failed: %s", strerror(-res));
		return res;
	}
	res = ring_bufs_init(&h->ring, &h->bufs, RECV_BGID, RECV_BUFS, RECV_BUF_SIZE);
	if (res < 0) {
		snprintf(err, errlen, "io_uring provided buffers: %s (kernel 5.19 or newer is "
			 "needed)", strerror(-res));
		return res;
	}
	/* Registered sockets: optional (kernels without sparse tables, or
	 * ENOMEM, just mean plain fds). */
	ring_files_init(&h->ring, SESSION_FILE_SLOTS);
	h->links.ring = &h->ring;
	h->links.bufs = &h->bufs;
	h->links.ev = &client_link_events;
	h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ring_timer_arm(&h->ring, &s->sweep_timer, SWEEP_NS, on_sweep);
	return 0;
}

int session_spawn(struct session *s, char *const argv[], char *err, size_t errlen)
{
	const char **drop;
	unsigned n = 0;
	int res;

	if (s->prog.pid > 0 || s->hub.draining) {
		snprintf(err, errlen, s->prog.pid > 0 ? "the session already hosts a program" :
							 "the session has ended");
		return -EBUSY;
	}
	if (!argv || !argv[0]) {
		snprintf(err, errlen, "no program to run");
		return -EINVAL;
	}
	drop = calloc(s->hub.nservers + 1, sizeof(*drop));
	if (!drop) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < s->hub.nservers; i++)
		if (s->hub.servers[i]->spec.passenv[0])
			drop[n++] = s->hub.servers[i]->spec.passenv;
	s->prog.on_exit = on_program_exit;
	res = program_spawn(&s->prog, &s->hub, argv, drop, err, errlen);
	free(drop);
	if (res < 0) {
		program_free(&s->prog);
		s->prog.pid = 0;
		return res;
	}
	if (!s->hub.program)
		s->hub.program = s->prog.name;
	return 0;
}

int session_console(struct session *s, int in_fd, int out_fd, char *err, size_t errlen)
{
	if (s->hub.console) {
		snprintf(err, errlen, "the session already has a console");
		return -EBUSY;
	}
	if (in_fd < 0 || out_fd < 0) {
		snprintf(err, errlen, "a console needs two descriptors");
		return -EBADF;
	}
	fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
	fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
	s->hub.console = client_new_console(&s->hub, in_fd, out_fd);
	if (!s->hub.console) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int session_server_start(struct session *s, const char *spec, unsigned *id, char *err,
			 size_t errlen)
{
	int res;

	if (s->hub.draining) {
		snprintf(err, errlen, "the session has ended");
		return -EPIPE;
	}
	res = server_start(&s->hub, spec, err, errlen);
	if (res < 0)
		return res;
	if (id)
		*id = s->hub.nservers - 1;
	/* Servers given before the loop runs are announced together. */
	if (s->running)
		meta_print_banner(&s->hub);
	else
		s->banner_due = true;
	return 0;
}

/*
 * The loop.
 */

int session_event_fd(struct session *s)
{
	int fd, res;

	if (s->event_fd >= 0)
		return s->event_fd;
	/* Readable whenever a completion is posted.  Made only for a host
	 * that waits on it: each completion signals it, which a loop that
	 * runs the ring itself would pay for nothing. */
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	res = io_uring_register_eventfd(&s->hub.ring.uring, fd);
	if (res < 0) {
		close(fd);
		return res;
	}
	s->event_fd = fd;
	/* Work may be waiting already (the banner, completions not reaped). */
	session_poke(s);
	return fd;
}

void session_poke(struct session *s)
{
	if (s->event_fd >= 0 && eventfd_write(s->event_fd, 1) < 0) {
		/* The counter is full: it is readable anyway. */
	}
}

/*
 * One turn.  A host that runs other work between turns needs what this turn
 * queued in the kernel before it returns; a loop that comes straight back
 * (HOST_WAITS false) submits it with its next wait, in the same syscall.
 */
static int turn(struct session *s, int timeout_ms, bool host_waits)
{
	struct hub *h = &s->hub;
	uint64_t wait, ignored;
	int res;

	if (s->done)
		return 1;
	if (!s->running) {
		s->running = true;
		if (s->banner_due && !h->draining)
			meta_print_banner(h);
	}
	if (s->event_fd >= 0 && read(s->event_fd, &ignored, sizeof(ignored)) < 0) {
		/* EAGAIN: nothing was posted since the last turn. */
	}
	/* ring_run_once() waits forever on 0; 1 ns is a look without waiting.
	 * Wakes queued by the last turn run now, without a completion. */
	if (timeout_ms == 0 || h->kick_pending)
		wait = 1;
	else if (timeout_ms < 0)
		wait = 0;
	else
		wait = (uint64_t)timeout_ms * 1000000u;
	res = ring_run_once(&h->ring, wait);
	if (res < 0 && res != -EINTR) {
		hub_log(h, "io_uring wait failed: %s", strerror(-res));
		return res;
	}
	h->now = hub_clock();
	client_end_turn(h);
	nats_pub_turn(h);
	if (h->draining && everyone_caught_up(s))
		s->done = true;
	/* What this turn queued goes to the kernel now, not when the host
	 * next calls in; work left for the next turn keeps the fd readable. */
	if (host_waits || s->done)
		ring_flush(&h->ring);
	if (h->kick_pending || s->done)
		session_poke(s);
	return s->done ? 1 : 0;
}

int session_run_once(struct session *s, int timeout_ms)
{
	return turn(s, timeout_ms, true);
}

int session_run(struct session *s)
{
	int res;

	while ((res = turn(s, -1, false)) == 0)
		;
	return res;
}

void session_destroy(struct session *s)
{
	struct hub *h = &s->hub;
	struct client *c, *next;

	/* Two-phase close: cancel everything, then wait (bounded) for the
	 * kernel to let go of every buffer before freeing anything. */
	if (h->ring.uring.ring_fd > 0) {
		for (c = h->clients; c; c = next) {
			next = c->next;
			client_close(c, NULL);
		}
		server_close_all(h);
		program_cancel(&s->prog);
		nats_pub_stop(h);
		if (s->signal_inflight)
			ring_cancel(&h->ring, &s->signal_op);
		if (h->notices.timer.armed)
			ring_timer_cancel(&h->ring, &h->notices.timer);
		ring_timer_cancel(&h->ring, &s->kill_timer);
		ring_timer_cancel(&h->ring, &s->exit_timer);
		ring_timer_cancel(&h->ring, &s->sweep_timer);
		for (int i = 0; i < 100 && h->ring.inflight > 0; i++)
			ring_run_once(&h->ring, 10 * 1000000u);
		client_end_turn(h);
		nats_pub_free(h);
		ring_bufs_exit(&h->ring, &h->bufs);
		ring_exit(&h->ring);
	}
	program_free(&s->prog);
	server_free_all(h);
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	if (s->event_fd >= 0)
		close(s->event_fd);
	if (h->reserve_fd >= 0)
		close(h->reserve_fd);
	free(h->idle);
	free(h->woken);
	free(h->dead);
	free(h->backlog);
	free(s->program_name);
	penalty_free(&h->penalties);
	native_hub_free(h);
	transcript_free(&h->tr);
}
