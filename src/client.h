/* SPDX-License-Identifier: MIT */
/*
 * A client: a cursor into the transcript with one send in flight, its input,
 * its deadlines and its two-phase close (client.c, client_send.c,
 * client_input.c, client_deadline.c).  Internal to src/.
 */
#ifndef RINGSIDE_CLIENT_H
#define RINGSIDE_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "ring/ring.h"
#include "src/hub.h"
#include "src/link.h"

struct server;

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
#define CLIENT_HANDSHAKE_S 10		/* a TLS handshake completes */
#define CLIENT_HALF_CLOSED_QUIET_S 5	/* half-closed: leave once output stops */
#define CLIENT_LINGER_S 2		/* after a last word: the peer's FIN */
#define CLIENT_REFUSE_LISTEN_S 1	/* a refused peer shows how it speaks */

/*
 * A remote peer, kept small (a sockaddr_storage is 128 bytes): an IP
 * address and port, or a local pipe peer's uid and pid.
 */
struct client_addr {
	uint16_t family;		/* AF_INET, AF_INET6, AF_UNIX; 0: the console */
	uint16_t port;			/* host order */
	union {
		uint8_t ip[16];		/* the first 4 for AF_INET */
		struct {
			uint32_t uid;
			int32_t pid;	/* 0: not known */
		} local;
	};
};

/*
 * What only some clients need, some of the time: a line being typed, a
 * password being guessed, a telnet, a refusal, a pipe peer's name, a
 * half-closed client's last look.  Allocated on first need and freed as
 * soon as none of it is left (client_extra_tidy), so an idle client
 * carries only struct client.
 */
struct client_extra {
	struct client *c;		/* whose */
	struct ring_timer delay_timer;	/* throttles wrong passwords */
	char *line;			/* partial input line */
	unsigned line_len;
	bool line_discard;		/* dropping the rest of a too-long line */
	bool auth_waiting;		/* failure delay running: input ignored */
	unsigned auth_failures;
	struct telnet *telnet;		/* raw clients that spoke telnet (IAC) */
	char *refusal;			/* CLIENT_REFUSING: why */
	char *pipe_user;		/* npipe, spipe: the peer's login name */
	uint64_t quiet_head;		/* half-closed: transcript head at the last look */
};

/*
 * Every connected client pays for this struct and nothing else while idle
 * (RSS per client is what high-client-count sessions pay), so fields that
 * only some states need live in client_extra, private bytes in privq only
 * while they wait, and the identity is formatted when shown
 * (client_ident), not stored.
 */
struct client {
	struct hub *hub;
	struct server *server;		/* NULL for the host console */
	struct client *prev, *next;	/* hub->clients */
	struct link link;		/* how its bytes travel; the console is a link kind */
	uint64_t cursor;		/* next transcript offset to send */
	uint64_t send_from;		/* SEND_TRANSCRIPT: the cursor it was sent from */
	uint32_t id;
	int32_t idle_index;		/* slot in hub->idle (hub->woken if woken), or -1 */
	uint32_t send_len;		/* bytes lent by the send in flight */
	uint32_t join_generation;	/* notice batch holding its join */
	uint32_t born;			/* hub clock (s): accepted */
	uint32_t heard_at;		/* hub clock: last byte received */
	uint32_t send_started;		/* hub clock: the send in flight was submitted */
	uint32_t since;			/* hub clock: lingering began, or (half-closed)
					 * the last look at the transcript */
	uint32_t connected_at;		/* wall clock (s): for .clients */
	uint32_t last_active;		/* wall clock (s): last line or interrupt */
	uint8_t state;			/* enum client_state */
	uint8_t send_kind;		/* enum client_send of the op in flight */
	uint8_t preamble_got;
	uint8_t peer_version;		/* last preamble byte of a native client */
	bool announced : 1;		/* a join notice went out */
	bool close_after_flush : 1;	/* close once the private queue is sent */
	bool lingering : 1;		/* said its last word; waiting for the peer's FIN */
	bool counted_auth : 1;		/* counted in the authenticating caps */
	bool auth_held : 1;		/* holds a place of its source's share */
	bool lagging : 1;		/* skip ahead when the send in flight ends */
	bool heard : 1;			/* has sent at least one byte */
	bool input_ended : 1;		/* the peer closed its sending side */
	bool dead : 1;			/* closed and returned by the kernel: freed at the turn's end */
	bool private_overflowed : 1;	/* private messages were dropped (logged once) */
	bool detecting : 1;		/* first bytes not seen yet: raw or native? */
	bool native : 1;		/* speaks the native protocol (native.c) */
	bool readonly : 1;		/* an observer: its commands are refused */
	bool woken : 1;			/* waits in hub->woken, not hub->idle */
	struct client_addr peer;	/* remote clients: for per-source penalties */
	struct native_state *nat;	/* native clients only */
	struct client_privq *privq;	/* while private bytes wait or are sent */
	struct client_extra *x;		/* see struct client_extra; usually NULL */
};

static inline bool client_sending(const struct client *c)
{
	return c->send_kind != SEND_NONE;
}

static inline bool client_is_console(const struct client *c)
{
	return c->link.kind == LINK_CONSOLE;
}

/* What the clients of a session want to hear from their links. */
extern const struct link_events client_link_events;

/* "HOST\user (tcp 127.0.0.1:63141)": C's identity, formatted into BUF
 * (IDENT_MAX bytes) from what C keeps; returns BUF. */
const char *client_ident(const struct client *c, char *buf);
/* The same in a buffer that lives until the end of the caller's statement's
 * block, for one-off use in a message. */
#define CLIENT_IDENT(c) client_ident((c), (char[IDENT_MAX]){ 0 })
/* C's client_extra, allocated on first need (NULL when out of memory). */
struct client_extra *client_x(struct client *c);
/* Free C's client_extra once nothing in it is needed any more. */
void client_extra_tidy(struct client *c);
/* The peer's address as a sockaddr (for penalties and logs). */
void client_peer_sockaddr(const struct client *c, struct sockaddr_storage *ss);

/* client.c: a client's life: creation, state, deadlines, the two-phase close */
/* A connection accepted by SRV.  AUTH_HELD: it has a place among the
 * authenticating (client_claim_auth()), which it keeps until it is in. */
struct client *client_new(struct hub *s, struct server *srv, int fd,
			  const struct sockaddr_storage *peer, bool auth_held);
struct client *client_new_console(struct hub *s, int in_fd, int out_fd);
/* The conversation just opened on serial channel CH of com server SRV
 * (com.c): a native client in its handshake, or, on a raw line, a terminal
 * let in as a raw client is. */
struct client *client_new_serial(struct hub *s, struct server *srv, struct comchan *ch);
/* A connection refused at accept (WHY): it is told in its own language (a
 * REFUSE record or a text line) once its first bytes show which, then
 * closed without losing what it sent. */
struct client *client_new_refusing(struct hub *s, struct server *srv, int fd,
				   const struct sockaddr_storage *peer, const char *why);
void client_close(struct client *c, const char *why);
/* Mark a closing client dead once the kernel has returned all its ops;
 * client_end_turn() frees it with client_free(). */
void client_maybe_free(struct client *c);
void client_free(struct client *c);
/* Every state change goes through here (it keeps the authenticating counts). */
void client_set_state(struct client *c, enum client_state state);
/* Take a place for one more connection from PEER authenticating on SRV:
 * each server has -maxauth places and each source a share of them.  On
 * success *HELD is set (the connection gives it back on leaving
 * CLIENT_AUTH); otherwise WHY says why not. */
bool client_claim_auth(struct hub *s, const struct server *srv,
		       const struct sockaddr_storage *peer, bool *held, char *why, size_t len);
/* Seconds before PEER may try a password again (0: now); WHY says why. */
unsigned client_source_wait(struct hub *s, const struct sockaddr_storage *peer, char *why,
			    size_t len);
/* A native client's handshake is over: it reads the transcript from START. */
void client_go_live_at(struct client *c, uint64_t start);
/* A password was wrong / right: feed the source's penalty. */
void client_auth_failed(struct client *c);
void client_auth_passed(struct client *c);
/* Seconds before C's source may try a password again (0: now), with the
 * reason in WHY when it may not. */
unsigned client_auth_wait(struct client *c, char *why, size_t len);

/* client_deadline.c: close C once its deadlines have passed; NOW is the hub
 * clock (seconds). */
void client_check_deadlines(struct client *c, uint32_t now);

/* client_send.c: the one send path, and the turn's end that starts sends */
void client_send_next(struct client *c);
/* Give C its next send at the end of this loop turn (never from inside a
 * send path, which is what keeps send paths from re-entering themselves). */
void client_wake(struct client *c);
/* C is caught up: it waits in the idle list for output / no longer. */
void client_idle_add(struct client *c);
void client_idle_remove(struct client *c);
/* C is closed and unused: freed at the end of the turn (client_end_turn). */
void client_reap_later(struct client *c);
/* The end of a loop turn: run the deferred sends, then free the clients
 * closed during it.  Freeing only here means no loop over clients can find
 * the one after it freed under its feet. */
void client_end_turn(struct hub *h);
/* Queue N bytes for C alone, ahead of further transcript sends. */
void client_queue_private(struct client *c, const void *p, size_t n);
void client_private(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send what is queued, then close (gracefully: see client_linger). */
void client_finish(struct client *c);
/* Skip a client that fell too far behind; only while no send is in flight. */
void client_apply_lag(struct client *c);
/* The link's send completed (link_events.sent). */
void client_sent(struct link *l, int res);
bool client_private_empty(const struct client *c);

/* client_input.c: bytes in, lines out */
/* The link's receive events (link_events.received, .recv_ended). */
void client_received(struct link *l, char *data, size_t n);
void client_recv_ended(struct link *l, int res);
/* One complete input line from C: refused here, or handed up (hub_ops.line). */
void client_handle_line(struct client *c, const char *line, size_t len);
/* Ctrl+C from C: the program's terminal gets its interrupt character,
 * unless C is read-only. */
void client_interrupt(struct client *c);

#endif
