/* SPDX-License-Identifier: MIT */
/*
 * The session and the objects it owns: the hosted program, the transcript,
 * servers and clients.  Internal to src/; the public face is src/ringside.h.
 */
#ifndef RINGSIDE_SESSION_H
#define RINGSIDE_SESSION_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ring/ring.h"
#include "src/config.h"
#include "src/penalty.h"
#include "src/auth.h"
#include "src/spec.h"
#include "src/transcript.h"

struct session;

/* Identity strings: "HOST\user (tcp 127.0.0.1:63141)". */
#define IDENT_MAX 160

enum client_state {
	CLIENT_AUTH,	/* waiting for the password line */
	CLIENT_LIVE,	/* receiving the transcript, may type */
	CLIENT_CLOSING,	/* waiting for its in-flight ops to finish */
};

/* Private messages for one client (prompts, gap markers, refusals, native
 * handshake records).  Never transcript bytes: those are only ever sent from
 * the transcript itself.  Allocated on first use; bounded. */
#define CLIENT_PRIVATE_MAX 4096

struct native_state;

/* One send moves at most this much.  A client catching up megabytes at
 * once would otherwise hold the loop for the whole copy while everyone else
 * waits; bounded sends keep the rotation fair. */
#define CLIENT_SEND_MAX (256 * 1024)

struct client {
	struct session *sess;
	struct server *server;		/* NULL for the host console */
	struct client *prev, *next;	/* session->clients */
	uint32_t id;
	enum client_state state;
	bool console;			/* the host console: fds are ttys/pipes */
	bool announced;			/* a join notice went out */
	unsigned join_generation;	/* notice batch holding its join */
	int in_fd, out_fd;

	uint64_t cursor;		/* next transcript offset to send */
	int idle_index;			/* slot in session->idle, or -1 */

	struct ring_op send_op;
	struct ring_op recv_op;
	struct ring_timer grace_timer;	/* password must arrive in time */
	struct ring_timer delay_timer;	/* throttles wrong passwords */
	struct ring_timer hangup_timer;	/* half-closed: leave when output stops */
	uint64_t quiet_head;		/* transcript head at the last check */
	bool send_inflight, recv_inflight;
	bool close_after_flush;		/* close once priv[] has been sent */
	bool counted_auth;		/* counted in session->nauthenticating */
	bool send_private;		/* the in-flight send is from priv[] */
	bool send_framed;		/* ... or a native record piece */
	bool lagging;			/* skip ahead when the send in flight ends */
	uint64_t send_from;		/* first transcript offset of that send */

	char *priv;
	char *priv_retired;		/* outgrown, still read by a send in flight */
	uint32_t priv_len, priv_cap;

	bool detecting;			/* first bytes not seen yet: raw or native? */
	bool native;			/* speaks the native protocol (native.c) */
	bool readonly;			/* an observer: its commands are refused */
	uint8_t preamble_got;
	uint8_t peer_version;		/* last preamble byte of a native client */
	struct native_state *nat;	/* native clients only */

	char *line;			/* partial input line, allocated on demand */
	unsigned line_len;
	bool line_discard;		/* dropping the rest of a too-long line */
	unsigned auth_failures;
	bool auth_waiting;		/* failure delay running: input ignored */

	time_t connected_at, last_active;
	struct sockaddr_storage peer;	/* remote clients: for per-source penalties */
	char ident[IDENT_MAX];
};

enum server_state {
	SERVER_ACTIVE,
	SERVER_ENDED,		/* .endsrv: no new connections */
};

struct server {
	struct session *sess;
	unsigned id;			/* never reused */
	enum server_state state;
	struct spec spec;		/* port_lo is the port actually bound */
	int fd;
	struct auth_verifier *verifier;	/* password servers: for native clients */
	struct ring_op accept_op;
	bool accept_inflight;
	bool closing;
	char address[INET6_ADDRSTRLEN];	/* what it is bound to */
};

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

struct notice_batch {
	unsigned joins, leaves;
	char first[3][IDENT_MAX + 96];	/* kept verbatim while the batch is small */
	uint32_t first_id[3];		/* client of each kept line (joins only) */
	unsigned nfirst;
	unsigned generation;		/* counts flushes */
	struct ring_timer timer;
};

struct session {
	const struct config *cfg;
	uint8_t id[16];			/* random: lets a native client resume here only */
	struct ring ring;
	struct ring_bufs bufs;
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

	struct client *clients;		/* every client, the console included */
	unsigned nclients;		/* remote clients only */
	unsigned nauthenticating;	/* remote clients before their password/handshake */
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

	bool draining;			/* program gone: flushing to clients */
	bool done;
	struct ring_timer kill_timer;	/* SIGKILL if SIGHUP did not end it */
	struct ring_timer exit_timer;	/* bounds the final flush */
	int exit_status;

	struct session_stats stats;
};

/* session.c */
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
/* Logs a line to stderr with the "ringside: " prefix. */
void session_log(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* client.c */
struct client *client_new(struct session *s, struct server *srv, int fd,
			  const struct sockaddr_storage *peer);
struct client *client_new_console(struct session *s, int in_fd, int out_fd);
void client_send_next(struct client *c);
void client_close(struct client *c, const char *why);
void client_private(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Skip a client that fell too far behind; called when no send is in flight. */
void client_apply_lag(struct client *c);
/* Free a closing client once the kernel has returned all its ops. */
void client_maybe_free(struct client *c);
/* Start the 60 s limit for authenticating (raw password) or the handshake. */
void client_arm_grace(struct client *c);
/* A password was wrong / right: feed the source's penalty. */
void client_auth_failed(struct client *c);
void client_auth_passed(struct client *c);

/* Queue N bytes for C alone, ahead of further transcript sends. */
void client_queue_private(struct client *c, const void *p, size_t n);
/* Every state change goes through here (it keeps the authenticating count). */
void client_set_state(struct client *c, enum client_state state);
/* A native client's handshake is over: it reads the transcript from START. */
void client_go_live_at(struct client *c, uint64_t start);
/* Dispatch one complete input line (meta-command or program input). */
void client_handle_line(struct client *c, const char *line, size_t len);

/* native.c: the native protocol on the server side */
/* Match the native preamble at the start of a client's input; returns the
 * bytes consumed and leaves c->detecting false once raw or native is known. */
size_t native_detect(struct client *c, const char *data, size_t n);
void native_input(struct client *c, const char *data, size_t n);
/* Point native_msghdr(c) at the next record piece (the rest of a header,
 * then payload straight from the transcript); false if there is none. */
bool native_next_piece(struct client *c);
struct msghdr *native_msghdr(struct client *c);
/* A record send moved N bytes. */
void native_sent(struct client *c, size_t n);
bool native_in_record(const struct client *c);
void native_gap(struct client *c, uint64_t from, uint64_t to);
void native_private_text(struct client *c, const char *text, size_t len);
void native_session_ended(struct session *s, int status);
void native_free(struct client *c);
/* Refuse a native client (REFUSE record, Error 0x80004005) and close it. */
void native_refuse(struct client *c, const char *reason);
/* Send the hosted program an interrupt, as Ctrl+C at its terminal would. */
void session_interrupt(struct session *s);

/* server.c */
int server_start(struct session *s, const char *spec_text, char *err, size_t errlen);
int server_end(struct session *s, unsigned id);
void server_close_all(struct session *s);
/* Free every server (after server_close_all() and the loop has drained). */
void server_free_all(struct session *s);
unsigned server_active_count(const struct session *s);

/* meta.c */
/* Handles LINE if it is a ringside meta-command; returns false otherwise. */
bool meta_execute(struct session *s, struct client *c, const char *line, size_t len);
/* "Wed Dec 19 06:23:07 2018" */
void meta_format_time(time_t t, char *buf, size_t len);
void meta_print_banner(struct session *s);

/* notice.c */
void notice_joined(struct session *s, struct client *c);
void notice_left(struct session *s, struct client *c);
void notice_flush(struct session *s);
/* Take back C's join notice if it has not gone out yet (a raw-looking client
 * that turned out to be native and will announce itself by name). */
void notice_retract(struct session *s, struct client *c);

/* program.c */
int program_spawn(char *const argv[], pid_t *pid, int *pty_fd, char *err, size_t errlen);

#endif
