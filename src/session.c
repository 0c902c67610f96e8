/* SPDX-License-Identifier: MIT */
/*
 * The session: the hosted program on its pty, the transcript every client
 * reads from, the input queue every client writes to, signals, and the
 * orderly end (exit status told to everyone, output flushed, bounded time).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <poll.h>
#include <unistd.h>

#include "src/meta.h"
#include "src/native.h"
#include "src/program.h"
#include "src/server.h"
#include "src/session.h"
#include "src/spec.h"

/* Transcript chunk (the unit of pinning) and receive buffers. */
#define TRANSCRIPT_CHUNK (64 * 1024)
#define RECV_BUFS 1024
#define RECV_BUF_SIZE 2048
#define RECV_BGID 1
#define INPUT_QUEUE_BYTES (64 * 1024)
#define BACKLOG_MAX (1024 * 1024)
/* Per pty readiness, read at most this much before letting sends run. */
#define PTY_READ_BUDGET (256 * 1024)
/* fds kept for everything that is not a client. */
#define FD_RESERVE 64
#define KILL_GRACE_NS (2ull * 1000000000u)

static void pty_arm_read(struct session *s);
static void pty_arm_write(struct session *s);
static void begin_drain(struct session *s);
static void backlog_flush(struct session *s);

void session_log(struct session *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ringside: %s\n", buf);
}

/*
 * Transcript writing.  Everything the session says (program output, notices,
 * who-typed lines, meta-command output) goes through here, once.
 */

static void after_append(struct session *s, uint64_t old_head)
{
	/* Lag is checked when the writer enters a new chunk: often enough to
	 * keep every client inside the ring, rarely enough to be free. */
	if (old_head / s->tr.chunk != s->tr.head / s->tr.chunk) {
		for (struct client *c = s->clients; c; c = c->next) {
			if (c->state != CLIENT_LIVE || s->tr.head - c->cursor <= s->lag_budget)
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
	session_kick(s);
}

static void append_or_backlog(struct session *s, enum transcript_kind kind, const char *p,
			      size_t n)
{
	uint64_t old_head = s->tr.head;
	size_t done = 0;

	if (s->backlog_len == 0) {
		done = transcript_append(&s->tr, p, n);
		transcript_mark(&s->tr, old_head, done, kind);
	}
	if (done < n) {
		size_t rest = n - done;

		if (rest > BACKLOG_MAX - s->backlog_len) {
			session_log(s, "transcript blocked: %zu bytes of notices dropped", rest);
			rest = BACKLOG_MAX - s->backlog_len;
		}
		if (!s->backlog)
			s->backlog = malloc(BACKLOG_MAX);
		if (s->backlog) {
			memcpy(s->backlog + s->backlog_len, p + done, rest);
			s->backlog_len += rest;
		}
	}
	if (s->tr.head != old_head)
		after_append(s, old_head);
}

void session_emit_as(struct session *s, enum transcript_kind kind, const char *text, size_t len)
{
	bool fresh = s->backlog_len ? s->backlog[s->backlog_len - 1] == '\n' :
				      s->tr.at_line_start;

	if (!fresh)
		append_or_backlog(s, kind, "\r\n", 2);
	append_or_backlog(s, kind, text, len);
	append_or_backlog(s, kind, "\r\n", 2);
}

void session_emit(struct session *s, const char *text, size_t len)
{
	session_emit_as(s, TRANSCRIPT_NOTICE, text, len);
}

static void emit_vf(struct session *s, enum transcript_kind kind, const char *fmt, va_list ap)
{
	char buf[4096];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n >= 0)
		session_emit_as(s, kind, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void session_emitf(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_vf(s, TRANSCRIPT_NOTICE, fmt, ap);
	va_end(ap);
}

void session_typedf(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_vf(s, TRANSCRIPT_TYPED, fmt, ap);
	va_end(ap);
}

static void backlog_flush(struct session *s)
{
	uint64_t old_head = s->tr.head;
	size_t done;

	if (s->backlog_len == 0)
		return;
	done = transcript_append(&s->tr, s->backlog, s->backlog_len);
	transcript_mark(&s->tr, old_head, done, TRANSCRIPT_NOTICE);
	memmove(s->backlog, s->backlog + done, s->backlog_len - done);
	s->backlog_len -= done;
	if (done)
		after_append(s, old_head);
}

/* A send completed and released its pin: the writer may move again. */
void session_unpinned(struct session *s)
{
	if (transcript_blocked(&s->tr))
		return;
	backlog_flush(s);
	if (s->pty_blocked) {
		s->pty_blocked = false;
		pty_arm_read(s);
	}
}

/*
 * Clients caught up with the head wait in the idle array; new output wakes
 * them all at the end of the loop turn, so many appends cost one send each.
 */

void session_idle_add(struct session *s, struct client *c)
{
	if (c->idle_index >= 0)
		return;
	if (s->nidle == s->idle_cap) {
		unsigned cap = s->idle_cap ? s->idle_cap * 2 : 256;
		struct client **n = realloc(s->idle, cap * sizeof(*n));

		if (!n) {
			session_log(s, "out of memory growing the idle list");
			return;
		}
		s->idle = n;
		s->idle_cap = cap;
	}
	c->idle_index = (int)s->nidle;
	s->idle[s->nidle++] = c;
}

void session_idle_remove(struct session *s, struct client *c)
{
	if (c->idle_index < 0)
		return;
	s->idle[c->idle_index] = NULL;
	c->idle_index = -1;
}

void session_kick(struct session *s)
{
	s->kick_pending = true;
}

void session_wake(struct session *s, struct client *c)
{
	if (c->state == CLIENT_CLOSING || client_sending(c))
		return;
	session_idle_add(s, c);
	s->kick_pending = true;
}

static void run_kicks(struct session *s)
{
	unsigned n = s->nidle, keep = 0;
	unsigned start;

	s->kick_pending = false;
	if (n == 0)
		return;
	/* Rotate who is served first so the same clients are not always last. */
	start = s->idle_rotor++ % n;
	for (unsigned i = 0; i < n; i++) {
		struct client *c = s->idle[(start + i) % n];

		if (!c)
			continue;
		s->idle[c->idle_index] = NULL;
		c->idle_index = -1;
		client_send_next(c);
	}
	/* client_send_next() may have re-queued clients behind the first n. */
	for (unsigned i = n; i < s->nidle; i++) {
		struct client *c = s->idle[i];

		if (!c)
			continue;
		c->idle_index = (int)keep;
		s->idle[keep++] = c;
	}
	s->nidle = keep;
}

static void reap(struct session *s)
{
	struct client *c = s->clients, *next;

	for (; c && s->ndead; c = next) {
		next = c->next;
		if (c->dead) {
			s->ndead--;
			client_free(c);
		}
	}
}

void session_end_turn(struct session *s)
{
	if (s->kick_pending)
		run_kicks(s);
	reap(s);
}

uint32_t session_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

/* Client deadlines, once a second (client_check_deadlines). */
#define SWEEP_NS 1000000000ull

static void on_sweep(struct ring_timer *t, int res)
{
	struct session *s = container_of(t, struct session, sweep_timer);

	if (res == -ECANCELED || s->done)
		return;
	s->now = session_clock();
	for (struct client *c = s->clients; c; c = c->next)
		client_check_deadlines(c, s->now);
	ring_timer_arm(&s->ring, &s->sweep_timer, SWEEP_NS, on_sweep);
}

/*
 * The hosted program's terminal.  io_uring READ/WRITE on a tty can block the
 * whole ring, so the pty is polled and read/written without blocking.
 */

static void pty_read_some(struct session *s)
{
	size_t budget = PTY_READ_BUDGET;
	uint64_t old_head = s->tr.head;

	while (budget > 0) {
		char *where;
		size_t room = transcript_writable(&s->tr, &where);
		ssize_t n;

		if (room == 0) {
			s->pty_blocked = true;
			break;
		}
		if (room > budget)
			room = budget;
		n = read(s->pty_fd, where, room);
		if (n > 0) {
			transcript_commit(&s->tr, (size_t)n);
			budget -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		/* EIO: every holder of the slave side is gone. */
		s->pty_eof = true;
		break;
	}
	if (s->tr.head != old_head)
		after_append(s, old_head);
}

static void on_pty_readable(struct ring_op *op, int res, unsigned flags)
{
	struct session *s = container_of(op, struct session, pty_read_op);

	s->pty_read_inflight = false;
	if (res < 0 && res != -ECANCELED) {
		session_log(s, "polling the program's terminal: %s", strerror(-res));
		s->pty_eof = true;
		return;
	}
	if (s->done)
		return;
	pty_read_some(s);
	pty_arm_read(s);
}

static void pty_arm_read(struct session *s)
{
	if (s->pty_read_inflight || s->pty_eof || s->pty_blocked || s->done)
		return;
	if (ring_poll(&s->ring, &s->pty_read_op, s->pty_fd, POLLIN) == 0)
		s->pty_read_inflight = true;
}

static void pty_write_some(struct session *s)
{
	struct input_queue *q = &s->input;

	while (q->len > 0) {
		size_t n = q->len, pos = q->head;
		ssize_t w;

		if (n > q->cap - pos)
			n = q->cap - pos;
		w = write(s->pty_fd, q->buf + pos, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w < 0 && errno != EAGAIN) {
				session_log(s, "writing to the program: %s; %zu bytes of input dropped",
					    strerror(errno), q->len);
				q->len = 0;
			}
			break;
		}
		q->head = (q->head + (size_t)w) % q->cap;
		q->len -= (size_t)w;
	}
}

static void on_pty_writable(struct ring_op *op, int res, unsigned flags)
{
	struct session *s = container_of(op, struct session, pty_write_op);

	s->pty_write_inflight = false;
	if (res < 0 || s->done)
		return;
	pty_write_some(s);
	pty_arm_write(s);
}

static void pty_arm_write(struct session *s)
{
	if (s->pty_write_inflight || s->input.len == 0 || s->pty_eof || s->done)
		return;
	if (ring_poll(&s->ring, &s->pty_write_op, s->pty_fd, POLLOUT) == 0)
		s->pty_write_inflight = true;
}

static bool input_enqueue(struct input_queue *q, const char *p, size_t n)
{
	size_t tail;

	if (n > q->cap - q->len)
		return false;
	tail = (q->head + q->len) % q->cap;
	for (size_t i = 0; i < n; i++)
		q->buf[(tail + i) % q->cap] = p[i];
	q->len += n;
	return true;
}

void session_input_line(struct session *s, struct client *c, const char *line, size_t len)
{
	if (s->draining || s->pty_eof) {
		if (c)
			client_private(c, "ringside: the program has ended; input is not taken\r\n");
		return;
	}
	if (len + 1 > s->input.cap - s->input.len) {
		s->stats.lines_refused++;
		if (c && !client_is_console(c))
			client_private(c, "ringside: the program is not reading input; line dropped\r\n");
		else
			session_log(s, "the program is not reading input; console line dropped");
		return;
	}
	/* Who typed it, for everyone; the console types anonymously. */
	if (c && !client_is_console(c))
		session_typedf(s, "%s: %.*s", c->ident, (int)len, line);
	input_enqueue(&s->input, line, len);
	input_enqueue(&s->input, "\n", 1);
	pty_write_some(s);
	pty_arm_write(s);
}

void session_interrupt(struct session *s)
{
	struct termios t;
	char intr = 3;

	/* The terminal's own interrupt character makes its line discipline
	 * signal the foreground process group, exactly as a keyboard would. */
	if (tcgetattr(s->pty_fd, &t) == 0 && t.c_cc[VINTR] != _POSIX_VDISABLE)
		intr = (char)t.c_cc[VINTR];
	if (write(s->pty_fd, &intr, 1) < 0)
		session_log(s, "interrupting the program: %s", strerror(errno));
}

/*
 * Signals arrive through a signalfd polled on the ring, never in a handler.
 */

static const char *signal_name(int sig)
{
	const char *name = sigabbrev_np(sig);

	return name ? name : "?";
}

static void reap_child(struct session *s)
{
	int status;
	pid_t pid;

	if (s->child_exited)
		return;
	do
		pid = waitpid(s->child, &status, WNOHANG);
	while (pid < 0 && errno == EINTR);
	if (pid != s->child)
		return;
	s->child_exited = true;
	s->child_status = status;
	begin_drain(s);
}

static void on_kill_timer(struct ring_timer *t, int res)
{
	struct session *s = container_of(t, struct session, kill_timer);

	if (res == -ECANCELED || s->child_exited)
		return;
	session_log(s, "program did not exit after SIGHUP; sending SIGKILL");
	kill(-s->child, SIGKILL);
	kill(s->child, SIGKILL);
}

static void end_by_signal(struct session *s, int sig)
{
	if (s->end_signal || s->child_exited)
		return;
	s->end_signal = sig;
	session_emitf(s, "ringside: session ending (SIG%s)", signal_name(sig));
	/* Hang up the program's terminal the way a closed console would. */
	kill(-s->child, SIGHUP);
	kill(s->child, SIGHUP);
	ring_timer_arm(&s->ring, &s->kill_timer, KILL_GRACE_NS, on_kill_timer);
}

static void on_signal(struct ring_op *op, int res, unsigned flags)
{
	struct session *s = container_of(op, struct session, signal_op);
	struct signalfd_siginfo si;

	s->signal_inflight = false;
	if (res < 0)
		return;
	while (read(s->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap_child(s);
		else if (si.ssi_signo == SIGINT && si.ssi_code == SI_KERNEL && s->console)
			/* Ctrl+C at the console's terminal (the kernel sends it;
			 * kill(1) would say SI_USER): break into the program as
			 * at its own console, as CDB does.  Ending the session
			 * stays with Ctrl+\, a signal from outside, or the
			 * program itself. */
			session_interrupt(s);
		else
			end_by_signal(s, (int)si.ssi_signo);
	}
	if (!s->done && ring_poll(&s->ring, &s->signal_op, s->signal_fd, POLLIN) == 0)
		s->signal_inflight = true;
}

/*
 * The end: the program is gone.  Take its last output, tell everyone how it
 * ended, stop accepting, and give clients flush_ms to receive the rest.
 */

static void on_flush_timer(struct ring_timer *t, int res)
{
	struct session *s = container_of(t, struct session, exit_timer);

	if (res != -ECANCELED)
		s->done = true;
}

static void begin_drain(struct session *s)
{
	const char *prog = s->cfg->argv[0];
	int st = s->child_status;

	if (s->draining)
		return;
	s->draining = true;
	while (!s->pty_eof && !s->pty_blocked) {
		uint64_t before = s->tr.head;

		pty_read_some(s);
		if (s->tr.head == before)
			break;
	}
	notice_flush(s);
	if (WIFEXITED(st))
		session_emitf(s, "ringside: program %s exited with status %d", prog,
			      WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		session_emitf(s, "ringside: program %s was killed by signal %d (SIG%s)", prog,
			      WTERMSIG(st), signal_name(WTERMSIG(st)));
	native_session_ended(s, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	if (s->end_signal)
		s->exit_status = 128 + s->end_signal;
	else if (WIFEXITED(st))
		s->exit_status = WEXITSTATUS(st);
	else
		s->exit_status = 128 + WTERMSIG(st);
	server_close_all(s);
	ring_timer_cancel(&s->ring, &s->kill_timer);
	ring_timer_arm(&s->ring, &s->exit_timer, (uint64_t)s->cfg->flush_ms * 1000000u,
		       on_flush_timer);
}

static bool everyone_caught_up(const struct session *s)
{
	if (s->backlog_len)
		return false;
	for (const struct client *c = s->clients; c; c = c->next) {
		if (c->state != CLIENT_LIVE || c->close_after_flush)
			continue;
		if (c->cursor != s->tr.head || !client_private_empty(c) || client_sending(c))
			return false;
	}
	return true;
}

/*
 * Set-up and the loop.
 */

static void raise_fd_limit(struct session *s)
{
	struct rlimit rl;
	unsigned room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	room = rl.rlim_cur > FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 1;
	s->max_clients = s->cfg->max_clients ? s->cfg->max_clients : room;
	if (s->max_clients > room) {
		session_log(s, "-maxclients %u exceeds the open-file limit %llu; using %u",
			    s->cfg->max_clients, (unsigned long long)rl.rlim_cur, room);
		s->max_clients = room;
	}
}

/* The console gets its own open file descriptions, so making them
 * non-blocking does not change the terminal or pipe for the parent shell. */
static int reopen_std(int fd, int flags)
{
	struct stat st;
	char path[32];
	int nfd;

	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return fcntl(fd, F_DUPFD_CLOEXEC, 3);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (nfd < 0) {
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (nfd >= 0)
			fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK);
	}
	return nfd;
}

static void identify_host(struct session *s)
{
	struct passwd *pw = getpwuid(getuid());
	char *dot;

	if (gethostname(s->host, sizeof(s->host)) < 0 || !s->host[0])
		snprintf(s->host, sizeof(s->host), "localhost");
	s->host[sizeof(s->host) - 1] = '\0';
	dot = strchr(s->host, '.');
	if (dot)
		*dot = '\0';
	snprintf(s->user, sizeof(s->user), "%s", pw ? pw->pw_name : "user");
	snprintf(s->console_ident, sizeof(s->console_ident), "%s\\%s", s->host, s->user);
}

int session_init(struct session *s, const struct config *cfg)
{
	char err[512];
	sigset_t mask;
	uint64_t seed;
	int res;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->pty_fd = s->signal_fd = s->reserve_fd = -1;
	s->next_client_id = 1;
	s->now = session_clock();
	identify_host(s);
	raise_fd_limit(s);
	if (getrandom(s->id, sizeof(s->id), 0) != sizeof(s->id))
		return -EIO;
	/* Not s->id: clients see that. */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		return -EIO;
	if (penalty_init(&s->penalties, seed) < 0)
		return -ENOMEM;

	res = transcript_init(&s->tr, cfg->ring_bytes, TRANSCRIPT_CHUNK);
	if (res < 0) {
		session_log(s, "cannot allocate a %zu-byte transcript: %s", cfg->ring_bytes,
			    strerror(-res));
		return res;
	}
	s->lag_budget = cfg->lag_bytes ? cfg->lag_bytes : s->tr.cap - 2 * s->tr.chunk;
	if (s->lag_budget > s->tr.cap - s->tr.chunk)
		s->lag_budget = s->tr.cap - s->tr.chunk;
	s->input.cap = INPUT_QUEUE_BYTES;
	s->input.buf = malloc(s->input.cap);
	if (!s->input.buf)
		return -ENOMEM;

	/* Room for a send and a receive per client plus the rest, within the
	 * kernel's CQ maximum; the kernel holds any overflow (FEAT_NODROP). */
	res = ring_init(&s->ring, 4096, 65536);
	if (res < 0) {
		session_log(s, "io_uring setup failed: %s", strerror(-res));
		return res;
	}
	res = ring_bufs_init(&s->ring, &s->bufs, RECV_BGID, RECV_BUFS, RECV_BUF_SIZE);
	if (res < 0) {
		session_log(s, "io_uring provided buffers: %s (kernel 5.19 or newer is needed)",
			    strerror(-res));
		return res;
	}
	s->links.ring = &s->ring;
	s->links.bufs = &s->bufs;
	s->links.ev = &client_link_events;
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->signal_fd < 0) {
		res = -errno;
		session_log(s, "signalfd: %s", strerror(errno));
		return res;
	}
	s->signal_op.cb = on_signal;
	s->pty_read_op.cb = on_pty_readable;
	s->pty_write_op.cb = on_pty_writable;

	/* Servers first: a bad spec stops everything before the program runs. */
	for (unsigned i = 0; i < cfg->nservers; i++) {
		res = server_start(s, cfg->servers[i], err, sizeof(err));
		if (res < 0) {
			char shown[SPEC_TEXT_MAX];

			spec_redact(cfg->servers[i], shown, sizeof(shown));
			session_log(s, "-server %s: %s", shown, err);
			return res;
		}
	}
	/* A password given by passenv= is not the hosted program's to inherit. */
	for (unsigned i = 0; i < s->nservers; i++)
		if (s->servers[i]->spec.passenv[0])
			unsetenv(s->servers[i]->spec.passenv);
	res = program_spawn(cfg->argv, &s->child, &s->pty_fd, err, sizeof(err));
	if (res < 0) {
		session_log(s, "%s", err);
		return res;
	}
	if (!cfg->noio) {
		int in = reopen_std(0, O_RDONLY), out = reopen_std(1, O_WRONLY);

		if (in < 0 || out < 0) {
			session_log(s, "no usable stdin/stdout for the console; use -noio");
			return -EBADF;
		}
		s->console = client_new_console(s, in, out);
		if (!s->console)
			return -ENOMEM;
	}
	if (cfg->nservers)
		meta_print_banner(s);
	if (ring_poll(&s->ring, &s->signal_op, s->signal_fd, POLLIN) == 0)
		s->signal_inflight = true;
	ring_timer_arm(&s->ring, &s->sweep_timer, SWEEP_NS, on_sweep);
	pty_arm_read(s);
	return 0;
}

int session_run(struct session *s)
{
	while (!s->done) {
		/* Wakes queued by the last turn's kicks are run next turn
		 * without waiting for a completion. */
		int res = ring_run_once(&s->ring, s->kick_pending ? 1 : 0);

		if (res < 0 && res != -EINTR) {
			session_log(s, "io_uring wait failed: %s", strerror(-res));
			return res;
		}
		s->now = session_clock();
		session_end_turn(s);
		if (s->draining && everyone_caught_up(s))
			s->done = true;
	}
	return s->exit_status;
}

void session_destroy(struct session *s)
{
	struct client *c, *next;

	/* Two-phase close: cancel everything, then wait (bounded) for the
	 * kernel to let go of every buffer before freeing anything. */
	for (c = s->clients; c; c = next) {
		next = c->next;
		client_close(c, NULL);
	}
	server_close_all(s);
	if (s->pty_read_inflight)
		ring_cancel(&s->ring, &s->pty_read_op);
	if (s->pty_write_inflight)
		ring_cancel(&s->ring, &s->pty_write_op);
	if (s->signal_inflight)
		ring_cancel(&s->ring, &s->signal_op);
	if (s->notices.timer.armed)
		ring_timer_cancel(&s->ring, &s->notices.timer);
	ring_timer_cancel(&s->ring, &s->kill_timer);
	ring_timer_cancel(&s->ring, &s->exit_timer);
	ring_timer_cancel(&s->ring, &s->sweep_timer);
	for (int i = 0; i < 100 && s->ring.inflight > 0; i++)
		ring_run_once(&s->ring, 10 * 1000000u);
	reap(s);
	if (s->child > 0 && !s->child_exited) {
		kill(-s->child, SIGHUP);
		kill(s->child, SIGHUP);
	}
	ring_bufs_exit(&s->ring, &s->bufs);
	if (s->ring.uring.ring_fd > 0)
		ring_exit(&s->ring);
	server_free_all(s);
	if (s->pty_fd >= 0)
		close(s->pty_fd);
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	free(s->input.buf);
	free(s->idle);
	free(s->backlog);
	penalty_free(&s->penalties);
	transcript_free(&s->tr);
}
