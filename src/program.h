/* SPDX-License-Identifier: MIT */
/*
 * The hosted program (program.c): started on a fresh pseudo-terminal, its
 * output read into the transcript, command lines queued for its input, its
 * interrupt character, and its exit watched through a pidfd, so that no
 * signal handler or signal mask of the process is needed.  Internal to src/.
 */
#ifndef RINGSIDE_PROGRAM_H
#define RINGSIDE_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ring/ring.h"

struct hub;

struct input_queue {
	char *buf;
	size_t cap, head, len;		/* byte ring of whole lines for the pty */
};

struct program {
	struct hub *hub;
	const char *name;		/* argv[0], for the end notice */
	pid_t pid;			/* 0: none */
	int pty_fd, pidfd;
	struct ring_op read_op, write_op, exit_op;
	bool read_inflight, write_inflight, exit_inflight;
	bool eof;			/* every holder of the terminal has closed it */
	bool blocked;			/* the transcript is full of pinned chunks */
	bool exited;
	int status;			/* waitpid() status once exited */
	struct input_queue input;
	/* Called once, from the loop, when the program has exited. */
	void (*on_exit)(struct program *p);
};

/*
 * Start ARGV[0] (searched in PATH) on a new pty, with TERM=dumb (or
 * $RINGSIDE_TERM) and without the variables named in DROP_ENV (NULL-ended,
 * may be NULL), then watch it on H's ring.  0, or -errno with a message in
 * ERR (a program that cannot be run is reported here, not later).
 */
int program_spawn(struct program *p, struct hub *h, char *const argv[],
		  const char *const drop_env[], char *err, size_t errlen);
/* Queue one line (a newline is added).  0, -EPIPE once the program's
 * terminal has closed, or -ENOBUFS while it is not reading. */
int program_input(struct program *p, const char *line, size_t len);
/* Send the terminal's interrupt character, as Ctrl+C at its keyboard would. */
void program_interrupt(struct program *p);
/* The transcript has room again: resume reading. */
void program_unblocked(struct program *p);
/* Take in what the program wrote before it exited. */
void program_read_rest(struct program *p);
/* SIGHUP (HANGUP) or SIGKILL the program and its process group. */
void program_signal(struct program *p, int sig);
/* Cancel what is in flight (its completions still arrive), then, once the
 * ring has none, release everything. */
void program_cancel(struct program *p);
void program_free(struct program *p);

#endif
