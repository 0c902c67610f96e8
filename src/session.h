/* SPDX-License-Identifier: MIT */
/*
 * The session: the hosted program, the transcript every client reads from,
 * the input queue every client writes to, its servers and clients, and the
 * loop (session.c).  Internal to src/; the public face is src/ringside.h.
 */
#ifndef RINGSIDE_SESSION_H
#define RINGSIDE_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ring/ring.h"
#include "src/client.h"
#include "src/config.h"
#include "src/discovery.h"
#include "src/notice.h"
#include "src/penalty.h"
#include "src/transcript.h"

struct server;

struct input_queue {
	char *buf;
	size_t cap, head, len;		/* byte ring of whole lines for the pty */
};

struct session_stats {
	uint64_t sends;			/* transcript sends completed */
	uint64_t bytes_sent;		/* transcript bytes delivered */
	uint64_t private_bytes;		/* prompts, markers, refusals */
	uint64_t gaps;			/* skip-aheads of lagging clients */
	uint64_t skipped_bytes;
	uint64_t copied;		/* transcript bytes copied per client: stays 0 */
	uint64_t accepted, refused;
	uint64_t lines_in, lines_refused;
};

struct session {
	const struct config *cfg;
	uint8_t id[16];			/* random: lets a native client resume here only */
	struct ring ring;
	struct ring_bufs bufs;
	struct link_ctx links;		/* what every client's link shares */
	struct transcript tr;
	char host[64];
	char user[64];
	char console_ident[IDENT_MAX];
	time_t console_active;
	size_t lag_budget;
	unsigned max_clients;

	/* The hosted program. */
	pid_t child;
	int pty_fd;
	struct ring_op pty_read_op, pty_write_op;
	bool pty_read_inflight, pty_write_inflight, pty_eof, pty_blocked;
	struct input_queue input;
	bool child_exited;
	int child_status;

	int signal_fd;
	struct ring_op signal_op;
	bool signal_inflight;
	int end_signal;

	/* Emitted text waiting because the transcript writer is blocked. */
	char *backlog;
	size_t backlog_len;

	struct server **servers;
	unsigned nservers;
	struct discovery discovery;	/* our -QR record */
	bool discovery_failed;		/* said once why there is none */

	struct client *clients;		/* every client, the console included */
	unsigned nclients;		/* remote clients only */
	unsigned nauthenticating;	/* remote clients before their password/handshake */
	unsigned nrefusing;		/* connections being told why they were refused */
	unsigned ndead;			/* clients waiting for session_end_turn() to free them */
	uint32_t next_client_id;
	struct client *console;

	struct client **idle;		/* caught up, waiting for output */
	unsigned nidle, idle_cap, idle_rotor;
	bool kick_pending;

	struct notice_batch notices;
	struct penalty_table penalties;	/* wrong passwords per source */
	int reserve_fd;			/* spare fd to refuse clients at EMFILE */
	time_t last_refusal_log;
	unsigned refusals_unlogged;
	time_t last_close_log;
	unsigned closes_unlogged;

	uint32_t now;			/* monotonic seconds, read once per loop turn */
	struct ring_timer sweep_timer;	/* once a second: client deadlines */

	bool draining;			/* program gone: flushing to clients */
	bool done;
	struct ring_timer kill_timer;	/* SIGKILL if SIGHUP did not end it */
	struct ring_timer exit_timer;	/* bounds the final flush */
	int exit_status;

	struct session_stats stats;
};

/* Send the hosted program an interrupt, as Ctrl+C at its terminal would. */
void session_interrupt(struct session *s);
int session_init(struct session *s, const struct config *cfg);
int session_run(struct session *s);
void session_destroy(struct session *s);
/* Append text to the transcript for everyone, starting on a fresh line. */
void session_emit(struct session *s, const char *text, size_t len);
void session_emitf(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void session_emit_as(struct session *s, enum transcript_kind kind, const char *text, size_t len);
/* A who-typed line: framed clients see it as a TYPED record. */
void session_typedf(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A whole input line from C (NULL: the console) for the program. */
void session_input_line(struct session *s, struct client *c, const char *line, size_t len);
/* Output was appended: wake caught-up clients once this loop turn ends. */
void session_kick(struct session *s);
/* A send released its pin: resume a writer that was waiting for it. */
void session_unpinned(struct session *s);
void session_idle_add(struct session *s, struct client *c);
void session_idle_remove(struct session *s, struct client *c);
/* Give C its next send at the end of this loop turn (never from inside a
 * send path, which is what keeps send paths from re-entering themselves). */
void session_wake(struct session *s, struct client *c);
/* The end of a loop turn: run the deferred sends, then free the clients
 * closed during it.  Freeing only here means no loop over clients can find
 * the one after it freed under its feet. */
void session_end_turn(struct session *s);
/* Monotonic seconds. */
uint32_t session_clock(void);
/* Logs a line to stderr with the "ringside: " prefix. */
void session_log(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
