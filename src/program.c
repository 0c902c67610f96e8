/* SPDX-License-Identifier: MIT */
/*
 * The hosted program: started on a fresh pseudo-terminal, its output read
 * into the transcript, its input queue written, and its exit watched with a
 * pidfd on the ring.  io_uring READ/WRITE on a tty can block the whole ring,
 * so the pty is polled and then read or written without blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "src/hub.h"
#include "src/program.h"
#include "src/writer.h"

#define INPUT_QUEUE_BYTES (64 * 1024)
/* Per pty readiness, read at most this much before letting sends run. */
#define READ_BUDGET (256 * 1024)

static void arm_read(struct program *p);
static void arm_write(struct program *p);

/* In the child: undo what the host may have changed for itself, then exec. */
static void exec_child(char *const argv[], const char *const drop_env[], int report_fd)
{
	sigset_t none;
	int err;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* A password given by passenv= is not the program's to inherit. */
	for (size_t i = 0; drop_env && drop_env[i]; i++)
		unsetenv(drop_env[i]);
	/* Many clients with different terminals share one program: a dumb
	 * terminal keeps line editors from sending escape sequences nobody
	 * asked for.  RINGSIDE_TERM overrides it. */
	setenv("TERM", getenv("RINGSIDE_TERM") ? getenv("RINGSIDE_TERM") : "dumb", 1);
	execvp(argv[0], argv);
	err = errno;
	if (write(report_fd, &err, sizeof(err)) < 0)
		_exit(127);
	_exit(127);
}

static int start(char *const argv[], const char *const drop_env[], pid_t *pid_out,
		 int *pty_out, char *err, size_t errlen)
{
	struct winsize ws = { .ws_row = 0, .ws_col = 0 };
	int report[2], master, child_errno = 0;
	ssize_t n;
	pid_t pid;

	/* A CLOEXEC pipe tells exec success (EOF) from failure (an errno). */
	if (pipe2(report, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -errno;
	}
	pid = forkpty(&master, NULL, NULL, &ws);
	if (pid < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot open a pseudo-terminal: %s", strerror(e));
		close(report[0]);
		close(report[1]);
		return -e;
	}
	if (pid == 0) {
		close(report[0]);
		exec_child(argv, drop_env, report[1]);
	}
	close(report[1]);
	do
		n = read(report[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n == sizeof(child_errno)) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(child_errno));
		close(master);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -child_errno;
	}
	fcntl(master, F_SETFD, FD_CLOEXEC);
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	*pid_out = pid;
	*pty_out = master;
	return 0;
}

/*
 * Output.
 */

static void read_some(struct program *p)
{
	struct hub *h = p->hub;
	size_t budget = READ_BUDGET;
	uint64_t old_head = h->tr.head;

	/* Notices waiting for room were said first. */
	writer_flush(h);
	while (budget > 0 && !h->backlog_len) {
		char *where;
		size_t room = transcript_writable(&h->tr, budget, &where);
		ssize_t n;

		if (room == 0) {
			p->blocked = true;
			break;
		}
		n = read(p->pty_fd, where, room);
		if (n > 0) {
			transcript_commit(&h->tr, (size_t)n);
			budget -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		/* EIO: every holder of the slave side is gone. */
		p->eof = true;
		break;
	}
	if (h->backlog_len)
		p->blocked = true;
	if (h->tr.head != old_head)
		writer_appended(h, old_head);
}

static void on_readable(struct ring_op *op, int res, unsigned flags)
{
	struct program *p = container_of(op, struct program, read_op);

	p->read_inflight = false;
	if (res == -ECANCELED)
		return;
	if (res < 0) {
		hub_log(p->hub, "polling the program's terminal: %s", strerror(-res));
		p->eof = true;
		return;
	}
	read_some(p);
	arm_read(p);
}

static void arm_read(struct program *p)
{
	if (p->read_inflight || p->eof || p->blocked || p->pty_fd < 0)
		return;
	if (ring_poll(&p->hub->ring, &p->read_op, p->pty_fd, POLLIN) == 0)
		p->read_inflight = true;
}

void program_unblocked(struct program *p)
{
	if (!p->blocked)
		return;
	p->blocked = false;
	arm_read(p);
}

void program_read_rest(struct program *p)
{
	while (!p->eof && !p->blocked && p->pty_fd >= 0) {
		uint64_t before = p->hub->tr.head;

		read_some(p);
		if (p->hub->tr.head == before)
			break;
	}
}

/*
 * Input.
 */

static void write_some(struct program *p)
{
	struct input_queue *q = &p->input;

	while (q->len > 0) {
		size_t n = q->len, pos = q->head;
		ssize_t w;

		if (n > q->cap - pos)
			n = q->cap - pos;
		w = write(p->pty_fd, q->buf + pos, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w < 0 && errno != EAGAIN) {
				hub_log(p->hub, "writing to the program: %s; %zu bytes of input "
					"dropped", strerror(errno), q->len);
				q->len = 0;
			}
			break;
		}
		q->head = (q->head + (size_t)w) % q->cap;
		q->len -= (size_t)w;
	}
}

static void on_writable(struct ring_op *op, int res, unsigned flags)
{
	struct program *p = container_of(op, struct program, write_op);

	p->write_inflight = false;
	if (res < 0)
		return;
	write_some(p);
	arm_write(p);
}

static void arm_write(struct program *p)
{
	if (p->write_inflight || p->input.len == 0 || p->eof)
		return;
	if (ring_poll(&p->hub->ring, &p->write_op, p->pty_fd, POLLOUT) == 0)
		p->write_inflight = true;
}

static void enqueue(struct input_queue *q, const char *s, size_t n)
{
	size_t tail = (q->head + q->len) % q->cap;

	for (size_t i = 0; i < n; i++)
		q->buf[(tail + i) % q->cap] = s[i];
	q->len += n;
}

int program_input(struct program *p, const char *line, size_t len)
{
	if (p->eof || p->exited)
		return -EPIPE;
	if (len + 1 > p->input.cap - p->input.len)
		return -ENOBUFS;
	enqueue(&p->input, line, len);
	enqueue(&p->input, "\n", 1);
	write_some(p);
	arm_write(p);
	return 0;
}

void program_interrupt(struct program *p)
{
	struct termios t;
	char intr = 3;

	/* The terminal's own interrupt character makes its line discipline
	 * signal the foreground process group, exactly as a keyboard would. */
	if (tcgetattr(p->pty_fd, &t) == 0 && t.c_cc[VINTR] != _POSIX_VDISABLE)
		intr = (char)t.c_cc[VINTR];
	if (write(p->pty_fd, &intr, 1) < 0)
		hub_log(p->hub, "interrupting the program: %s", strerror(errno));
}

/*
 * The exit.  A pidfd turns readable when the child exits; reaping it here
 * leaves SIGCHLD, and every other signal, to the host process.
 */

static void reap(struct program *p)
{
	int status = 0;
	pid_t pid;

	do
		pid = waitpid(p->pid, &status, WNOHANG);
	while (pid < 0 && errno == EINTR);
	if (pid == 0)
		return;
	/* ECHILD: the host ignores SIGCHLD and the kernel reaped it. */
	p->exited = true;
	p->status = pid == p->pid ? status : 0;
	p->on_exit(p);
}

static void on_exit_ready(struct ring_op *op, int res, unsigned flags)
{
	struct program *p = container_of(op, struct program, exit_op);

	p->exit_inflight = false;
	if (res == -ECANCELED || p->exited)
		return;
	if (res < 0) {
		hub_log(p->hub, "watching the program: %s", strerror(-res));
		return;
	}
	reap(p);
	if (!p->exited && ring_poll(&p->hub->ring, &p->exit_op, p->pidfd, POLLIN) == 0)
		p->exit_inflight = true;
}

void program_signal(struct program *p, int sig)
{
	if (p->pid <= 0 || p->exited)
		return;
	kill(-p->pid, sig);
	kill(p->pid, sig);
}

int program_spawn(struct program *p, struct hub *h, char *const argv[],
		  const char *const drop_env[], char *err, size_t errlen)
{
	int res;

	p->hub = h;
	p->name = argv[0];
	p->input.cap = INPUT_QUEUE_BYTES;
	p->input.buf = malloc(p->input.cap);
	if (!p->input.buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	res = start(argv, drop_env, &p->pid, &p->pty_fd, err, errlen);
	if (res < 0)
		return res;
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0) {
		res = -errno;
		snprintf(err, errlen, "pidfd_open: %s (kernel 5.3 or newer is needed)",
			 strerror(errno));
		return res;
	}
	fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
	p->read_op.cb = on_readable;
	p->write_op.cb = on_writable;
	p->exit_op.cb = on_exit_ready;
	if (ring_poll(&h->ring, &p->exit_op, p->pidfd, POLLIN) == 0)
		p->exit_inflight = true;
	arm_read(p);
	return 0;
}

void program_cancel(struct program *p)
{
	if (p->read_inflight)
		ring_cancel(&p->hub->ring, &p->read_op);
	if (p->write_inflight)
		ring_cancel(&p->hub->ring, &p->write_op);
	if (p->exit_inflight)
		ring_cancel(&p->hub->ring, &p->exit_op);
}

void program_free(struct program *p)
{
	program_signal(p, SIGHUP);
	if (p->pty_fd >= 0)
		close(p->pty_fd);
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p->input.buf);
	p->pty_fd = p->pidfd = -1;
	p->input.buf = NULL;
}
