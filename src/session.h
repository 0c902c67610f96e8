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
	CLIENT_AUTH,		/* waiting for the password line or the native handshake */
	CLIENT_LIVE,		/* receiving the transcript, may type */
	CLIENT_REFUSING,	/* refused at accept: told why once we know how it speaks */
	CLIENT_CLOSING,		/* waiting for its in-flight ops to finish */
};

/*
 * What the one send in flight is, fixed when it was submitted.  Its
 * completion is accounted by this record, never by what the client has
 * become since (native, skipped ahead, refused): that is what makes a
 * completion unable to move the cursor of a later view.
 */
enum client_send {
	SEND_NONE,
	SEND_PRIVATE,		/* bytes of privq.sending */
	SEND_TRANSCRIPT,	/* the raw view, from the transcript at send_from */
	SEND_RECORD,		/* a native record piece: header and/or transcript */
	SEND_POLL,		/* the console: waiting for POLLOUT; nothing is lent */
};

/*
 * Private bytes for one client (prompts, gap markers, refusals, native
 * handshake records).  Never transcript bytes: those are only ever sent from
 * the transcript itself.  Two buffers, so that the one lent to the kernel is
 * never the one written to: messages are appended to PENDING, and SENDING
 * (immutable while a SEND_PRIVATE is in flight) is swapped with it only when
 * it has been sent whole.  Allocated on first use; bounded.
 */
#define CLIENT_PRIVATE_MAX 4096

struct client_privq {
	char *sending, *pending;
	uint32_t sending_len, sending_off, sending_cap;
	uint32_t pending_len, pending_cap;
};

struct native_state;
struct telnet;

/* One send moves at most this much.  A client catching up megabytes at
 * once would otherwise hold the loop for the whole copy while everyone else
 * waits; bounded sends keep the rotation fair. */
#define CLIENT_SEND_MAX (256 * 1024)

/* Deadlines, checked by the session's once-a-second sweep (seconds). */
#define CLIENT_AUTH_GRACE_S 60		/* password or handshake complete */
#define CLIENT_FIRST_BYTE_S 10		/* an authenticating peer says something */
#define CLIENT_HALF_CLOSED_QUIET_S 5	/* half-closed: leave once output stops */
#define CLIENT_LINGER_S 2		/* after a last word: the peer's FIN */
#define CLIENT_REFUSE_LISTEN_S 1	/* a refused peer shows how it speaks */

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
	struct ring_timer delay_timer;	/* throttles wrong passwords */
	uint8_t send_kind;		/* enum client_send of the op in flight */
	bool recv_inflight;
	bool close_after_flush;		/* close once the private queue is sent */
	bool lingering;			/* said its last word; waiting for the peer's FIN */
	bool counted_auth;		/* counted in the authenticating caps */
	bool auth_held;			/* holds a place of its source's share */
	bool lagging;			/* skip ahead when the send in flight ends */
	bool heard;			/* has sent at least one byte */
	bool input_ended;		/* the peer closed its sending side */
	bool dead;			/* closed and returned by the kernel: freed at the turn's end */
	bool private_overflowed;	/* private messages were dropped (logged once) */
	uint32_t send_len;		/* bytes lent by the send in flight */
	uint64_t send_from;		/* SEND_TRANSCRIPT: the cursor it was sent from */
	uint32_t born;			/* session clock (s): accepted */
	uint32_t heard_at;		/* session clock: last byte received */
	uint32_t send_started;		/* session clock: the send in flight was submitted */
	uint32_t linger_since;		/* session clock: lingering began */
	uint32_t quiet_at;		/* session clock: half-closed, the last look */
	uint64_t quiet_head;		/* half-closed: transcript head at the last look */
	struct client_privq privq;

	bool detecting;			/* first bytes not seen yet: raw or native? */
	bool native;			/* speaks the native protocol (native.c) */
	bool readonly;			/* an observer: its commands are refused */
	uint8_t preamble_got;
	uint8_t peer_version;		/* last preamble byte of a native client */
	struct native_state *nat;	/* native clients only */
	struct telnet *telnet;		/* raw clients that spoke telnet (IAC) */
	char *refusal;			/* CLIENT_REFUSING: why */

	char *line;			/* partial input line, allocated on demand */
	unsigned line_len;
	bool line_discard;		/* dropping the rest of a too-long line */
	unsigned auth_failures;
	bool auth_waiting;		/* failure delay running: input ignored */

	time_t connected_at, last_active;
	struct sockaddr_storage peer;	/* remote clients: for per-source penalties */
	char ident[IDENT_MAX];
};

static inline bool client_sending(const struct client *c)
{
	return c->send_kind != SEND_NONE;
}

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
	unsigned nauthenticating;	/* its connections still authenticating */
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

/* client.c: a client's life: creation, state, deadlines, the two-phase close */
/* A connection accepted by SRV.  AUTH_HELD: it has a place among the
 * authenticating (client_claim_auth()), which it keeps until it is in. */
struct client *client_new(struct session *s, struct server *srv, int fd,
			  const struct sockaddr_storage *peer, bool auth_held);
struct client *client_new_console(struct session *s, int in_fd, int out_fd);
/* A connection refused at accept (WHY): it is told in its own language (a
 * REFUSE record or a text line) once its first bytes show which, then
 * closed without losing what it sent. */
struct client *client_new_refusing(struct session *s, struct server *srv, int fd,
				   const struct sockaddr_storage *peer, const char *why);
void client_close(struct client *c, const char *why);
/* Mark a closing client dead once the kernel has returned all its ops;
 * session_end_turn() frees it with client_free(). */
void client_maybe_free(struct client *c);
void client_free(struct client *c);
/* Every state change goes through here (it keeps the authenticating counts). */
void client_set_state(struct client *c, enum client_state state);
/* Take a place for one more connection from PEER authenticating on SRV:
 * each server has -maxauth places and each source a share of them.  On
 * success *HELD is set (the connection gives it back on leaving
 * CLIENT_AUTH); otherwise WHY says why not. */
bool client_claim_auth(struct session *s, const struct server *srv,
		       const struct sockaddr_storage *peer, bool *held, char *why, size_t len);
/* Seconds before PEER may try a password again (0: now); WHY says why. */
unsigned client_source_wait(struct session *s, const struct sockaddr_storage *peer, char *why,
			    size_t len);
/* A native client's handshake is over: it reads the transcript from START. */
void client_go_live_at(struct client *c, uint64_t start);
/* A password was wrong / right: feed the source's penalty. */
void client_auth_failed(struct client *c);
void client_auth_passed(struct client *c);
/* Seconds before C's source may try a password again (0: now), with the
 * reason in WHY when it may not. */
unsigned client_auth_wait(struct client *c, char *why, size_t len);
/* Close C once its deadlines have passed; NOW is the session clock. */
void client_check_deadlines(struct client *c, uint32_t now);

/* client_send.c: the one send path */
void client_send_next(struct client *c);
/* Queue N bytes for C alone, ahead of further transcript sends. */
void client_queue_private(struct client *c, const void *p, size_t n);
void client_private(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send what is queued, then close (gracefully: see client_linger). */
void client_finish(struct client *c);
/* Skip a client that fell too far behind; only while no send is in flight. */
void client_apply_lag(struct client *c);
/* A send or console write completion / readiness. */
void client_on_send(struct ring_op *op, int res, unsigned flags);
void client_on_console_out(struct ring_op *op, int res, unsigned flags);
bool client_private_empty(const struct client *c);

/* client_input.c: bytes in, lines out */
void client_arm_recv(struct client *c);
void client_on_recv(struct ring_op *op, int res, unsigned flags);
void client_on_console_in(struct ring_op *op, int res, unsigned flags);
/* Dispatch one complete input line (meta-command or program input). */
void client_handle_line(struct client *c, const char *line, size_t len);
/* Ctrl+C from C: the program's terminal gets its interrupt character,
 * unless C is read-only. */
void client_interrupt(struct client *c);

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
