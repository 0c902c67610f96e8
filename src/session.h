/* SPDX-License-Identifier: MIT */
/*
 * The session (session.c): the top of the library.  It owns the hub its
 * servers and clients share, and what says things into it: a hosted program
 * on a pty or the embedding host; it answers the hub's ops (command lines,
 * interrupts, joins), runs the loop and the orderly end.  The public API
 * (api.c, include/ringside.h) is a thin layer over it.  Internal to src/.
 */
#ifndef RINGSIDE_SESSION_H
#define RINGSIDE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "include/ringside.h"
#include "src/hub.h"
#include "src/program.h"

struct session {
	struct hub hub;
	struct hub_limits limits;
	struct ringside_params params;
	char *program_name;		/* params.program, copied */
	struct ringside_callbacks cb;
	void *cb_arg;

	struct program prog;		/* pid 0: no hosted program */
	int event_fd;			/* ringside_fd(): readable when there is work */

	int signal_fd;			/* RINGSIDE_PROCESS_SIGNALS only */
	struct ring_op signal_op;
	bool signal_inflight;
	int end_signal;

	bool running;			/* the loop has turned once */
	bool banner_due;		/* servers started before it did */
	struct ring_timer sweep_timer;	/* once a second: client deadlines */
	bool done;
	struct ring_timer kill_timer;	/* SIGKILL if SIGHUP did not end it */
	struct ring_timer exit_timer;	/* bounds the final flush */
	int exit_status;
};

/* 0 or -errno with a message in ERR.  CB may be NULL, PARAMS may not. */
int session_init(struct session *s, const struct ringside_params *params,
		 const struct ringside_callbacks *cb, void *arg, char *err, size_t errlen);
int session_spawn(struct session *s, char *const argv[], char *err, size_t errlen);
int session_console(struct session *s, int in_fd, int out_fd, char *err, size_t errlen);
int session_server_start(struct session *s, const char *spec, unsigned *id, char *err,
			 size_t errlen);
int session_take_process(struct session *s, unsigned what, char *err, size_t errlen);
/* Begin the end (the program exited, a signal, or the host said so). */
void session_end(struct session *s, int status);
/* ringside_fd(): made on first use.  The fd, or -errno. */
int session_event_fd(struct session *s);
/* Make ringside_fd() readable: work was queued outside the loop. */
void session_poke(struct session *s);
/* One loop turn: 0 going on, 1 ended, -errno. */
int session_run_once(struct session *s, int timeout_ms);
/* Turns until the session ends: 1, or -errno. */
int session_run(struct session *s);
void session_destroy(struct session *s);

#endif
