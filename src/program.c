/* SPDX-License-Identifier: MIT */
/*
 * Starting the hosted program on a fresh pseudo-terminal, and reporting a
 * program that cannot be run before anything else starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/program.h"

/* In the child: undo what ringside changed for itself, then exec. */
static void exec_child(char *const argv[], int report_fd)
{
	sigset_t none;
	int err;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
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

int program_spawn(char *const argv[], pid_t *pid_out, int *pty_out, char *err, size_t errlen)
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
		exec_child(argv, report[1]);
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
