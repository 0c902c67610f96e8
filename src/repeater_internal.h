/* SPDX-License-Identifier: MIT */
/*
 * The repeater's state and the seams between its parts:
 *   repeater.c       setup, the loop that joins the two halves, signals,
 *                    and the session's life (start, end, -p)
 *   repeater_up.c    the upstream half: a native client of the origin in
 *                    relay mode (remote_conn.c, remote_link.c underneath)
 *   repeater_down.c  the downstream half: a local session whose transcript
 *                    mirrors the origin's, offsets included, and whose
 *                    clients are admitted and heard by the origin
 *   repeater_subs.c  the clients as the origin knows them (SUB ids), and
 *                    the SUB_ records about them
 *
 * One thread, two io_uring loops: the upstream client's ring is the one
 * the process waits on, and it polls the local session's eventfd
 * (ringside_fd()'s), after which the session gets one turn without
 * waiting.  Neither loop ever blocks the other: every callback of either
 * only queues work or writes into memory.
 */
#ifndef RINGSIDE_REPEATER_INTERNAL_H
#define RINGSIDE_REPEATER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring/ring.h"
#include "src/auth.h"
#include "src/hub.h"
#include "src/remote_internal.h"
#include "src/repeater.h"
#include "src/session.h"
#include "src/spec.h"
#include "src/transcript.h"

/* Proofs a repeater has going at once (the origin allows this many). */
#define REPEATER_AUTH_MAX 8
/* An outage shorter than this is not told to the clients: resuming
 * loses nothing, so they never notice it. */
#define OUTAGE_TELL_NS (3 * NS_PER_SEC)
/* -p: a session that ended or could not be reached is tried again after. */
#define PERSIST_RETRY_NS (8 * NS_PER_SEC)
/* A raw-looking client that said nothing for this long is raw. */
#define DETECT_NS (1 * NS_PER_SEC)

/* Where a client of ours stands with the origin. */
enum rsub_state {
	RSUB_DEFERRED,	/* joined before we knew how it speaks: registered later */
	RSUB_QUEUED,	/* to prove the password, once a slot and the origin are there */
	RSUB_HELLO,	/* SUB_HELLO sent for a proof; the challenge is due */
	RSUB_CHALLENGED,/* the challenge went to the client; its proof is due */
	RSUB_PROVING,	/* SUB_PROOF sent; the origin's answer is due */
	RSUB_ADMITTED,	/* in, at the origin (registered there while connected) */
};

struct rsub {
	uint32_t id;		/* the client's id here, its SUB to the origin */
	struct client *c;
	enum rsub_state state;
	bool registered;	/* the origin knows it on this connection */
	bool told_held;		/* knows its lines wait for the origin */
	uint64_t since;		/* RSUB_DEFERRED: when it joined */
	/* A raw client's proof is ours to compute: its password is kept
	 * only until the challenge arrives, then wiped. */
	char password[SPEC_PASSWORD_MAX + 1];
	size_t password_len;
	struct auth_client *auth;
};

/* What waits to go into the local transcript, in order. */
struct mirror_seg {
	uint8_t kind;		/* enum transcript_kind, or MIRROR_JUMP */
	uint64_t n;		/* bytes, or for a jump the offset to go on at */
};
#define MIRROR_JUMP 0xff

struct mirror {
	struct bytes data;
	size_t data_off;	/* bytes of data already written */
	struct mirror_seg *segs;
	size_t nsegs, segs_off, segs_cap;
	uint64_t end;		/* the offset just after what it has, waiting or not */
};

struct repeater {
	const struct repeater_options *opt;
	char **specs;			/* -s, each made hidden */
	struct remote up;		/* the upstream client (remote_internal.h) */

	/* The local session; NULL until the origin's WELCOME, and between
	 * two sessions with -p. */
	struct session *down;
	struct hub_ops_over over;	/* the session's clients' events are ours */
	struct hub_gate gate;
	struct ring_op down_op;		/* POLLIN on the session's eventfd */
	bool down_inflight;
	bool based;			/* the transcript starts where the origin's does */
	bool serving;			/* its servers have started */
	bool ending;			/* the local session drains */
	int end_code;			/* exit status once it has */
	char program[PROTO_TEXT_MAX + 1];

	struct mirror mirror;

	struct rsub **subs;		/* sorted by id */
	unsigned nsubs, subs_cap;
	unsigned nauth;			/* in RSUB_HELLO, _CHALLENGED or _PROVING */
	unsigned ndeferred;

	bool relaying;			/* the origin has taken this connection */
	bool upstream_ro;		/* the origin made us read-only */
	uint64_t lost_at;		/* the connection went; 0 while it is there */
	bool outage_told;

	struct ring_timer tick;		/* once a second: deferred clients, outages */
	struct ring_timer retry;	/* -p: connect again */
	int signal_fd;
	struct ring_op signal_op;
	bool signal_inflight;
	int stop_signal;
	/* The upstream connection: running, or stopped (remote_finish(), or
	 * closed by us) and waiting for what comes next. */
	bool up_stopped;
	bool new_session;		/* its WELCOME named another session */
	int ended_status;		/* STATE = 1 said the session ended so */
	bool stopping;			/* a signal: leave once the clients are told */
	bool done;
	int exit_code;
};

/* repeater.c */
/* One line for the operator, on stderr. */
void repeater_log(struct repeater *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The origin said WELCOME for SESSION: have a local session for it. */
int repeater_session_for(struct repeater *rep, const struct proto_msg *welcome);
/* Start its servers (once): clients may come. */
int repeater_serve(struct repeater *rep);
/* End the local session: its clients are told WHY (if any) and that it
 * ended with STATUS (native clients get STATE), and get the flush time to
 * read the rest.  CODE is the process's exit status once it has drained
 * (unless -p keeps it running). */
void repeater_end(struct repeater *rep, int status, int code, const char *why);

/* repeater_up.c */
int repeater_up_setup(struct repeater *rep);
void repeater_up_free(struct repeater *rep);
/* The next session is another one: forget this one's id, offsets and
 * ticket (a fresh link). */
void repeater_up_forget(struct repeater *rep);
/* Bytes for the origin on this connection (dropped without one). */
void repeater_up_send(struct repeater *rep, const void *p, size_t n);

/* repeater_down.c */
/* Install our ops and gate on a new local session. */
void repeater_down_attach(struct repeater *rep);
/* The relay is taken (locked or live): register and prove what waits. */
void repeater_down_relaying(struct repeater *rep, bool live);
/* The connection to the origin is gone. */
void repeater_down_lost(struct repeater *rep);
/* A transcript record / gap from the origin, for the mirror. */
void repeater_down_record(struct repeater *rep, uint8_t type, const uint8_t *p, size_t n);
void repeater_down_jump(struct repeater *rep, uint64_t to);
/* Move what waits into the transcript as far as it goes. */
void repeater_down_flush(struct repeater *rep);
/* Tell every client (a line of its own, not in the transcript). */
void repeater_down_tell(struct repeater *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Once a second. */
void repeater_down_tick(struct repeater *rep);
void repeater_mirror_free(struct mirror *m);

/* repeater_subs.c */
struct rsub *rsub_find(const struct repeater *rep, uint32_t id);
struct rsub *rsub_add(struct repeater *rep, struct client *c, enum rsub_state state);
void rsub_remove(struct repeater *rep, struct rsub *rs);
void rsub_free_all(struct repeater *rep);
/* SUB_HELLO for RS (REJOIN: it was admitted before this connection). */
void rsub_register(struct repeater *rep, struct rsub *rs, bool rejoin);
/* Start the proofs that wait, as slots allow. */
void rsub_pump(struct repeater *rep);
/* Leaving a proof slot (answered, or the client went). */
void rsub_release_slot(struct repeater *rep, struct rsub *rs);
/* A SUB_ record from the origin. */
void rsub_on_record(struct repeater *rep, uint8_t type, uint32_t sub, const struct proto_msg *m,
		    const uint8_t *p, size_t n);
/* SUB_INPUT / SUB_INTERRUPT / SUB_BYE for RS. */
void rsub_send_line(struct repeater *rep, struct rsub *rs, const char *line, size_t len);
void rsub_send_plain(struct repeater *rep, uint8_t type, uint32_t id);
/* A raw client's password was answered: its input is read again. */
void repeater_auth_done(struct client *c);

#endif
