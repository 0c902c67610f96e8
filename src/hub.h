/* SPDX-License-Identifier: MIT */
/*
 * The hub: what the servers and clients of a session share (the ring, the
 * transcript they read, the client list, limits and counters), and the one
 * way they call back up into the session that owns them (struct hub_ops).
 * Calls run one way, session -> servers -> clients -> links -> ring; where a
 * client must tell the session something (a command line, an interrupt, a
 * join), it goes through these ops, which the session installs.  Internal to
 * src/; the hub has no functions of its own beyond logging and the clock.
 */
#ifndef RINGSIDE_HUB_H
#define RINGSIDE_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ring/ring.h"
#include "src/discovery.h"
#include "src/link.h"
#include "src/notice.h"
#include "src/penalty.h"
#include "src/transcript.h"

struct client;
struct com_lines;
struct hub;
struct server;

/* Identity strings: "HOST\user (tcp 127.0.0.1:63141)". */
#define IDENT_MAX 160

/* The limits servers and clients obey; the session fills them in. */
struct hub_limits {
	size_t history_bytes;		/* history for joiners in bytes */
	unsigned history_lines;		/* ... in lines; 0 = use history_bytes */
	unsigned max_auth;		/* connections authenticating at once, per server */
	unsigned line_max;		/* longest input line accepted */
	unsigned peer_timeout_s;	/* dead-peer limit; 0 = none */
	unsigned notice_ms;		/* join/leave notices coalescing window */
	bool readonly_lines;		/* read-only clients' lines go up too (ops->line) */
};

struct hub_stats {
	uint64_t sends;			/* transcript sends completed */
	uint64_t bytes_sent;		/* transcript bytes delivered */
	uint64_t private_bytes;		/* prompts, markers, refusals */
	uint64_t gaps;			/* skip-aheads of lagging clients */
	uint64_t skipped_bytes;
	uint64_t copied;		/* transcript bytes copied per client: stays 0 */
	uint64_t accepted, refused;
	uint64_t lines_in, lines_refused;
};

/*
 * The session's side of the hub: what servers and clients tell it.  Each is
 * called from inside the loop, never re-entering the caller's send path.
 */
struct hub_ops {
	/* One line for the operator's log (no newline, no prefix). */
	void (*log)(struct hub *h, const char *msg);
	/* A live client typed LINE, which passed the line checks; a
	 * read-only client's line gets here only with cfg->readonly_lines. */
	void (*line)(struct hub *h, struct client *c, const char *line, size_t len);
	/* A client that may type asked for a break-in (Ctrl+C). */
	void (*interrupt)(struct hub *h, struct client *c);
	/* A remote client is in and reads the transcript / has gone. */
	void (*joined)(struct hub *h, struct client *c);
	void (*left)(struct hub *h, struct client *c);
	/* A client taken for raw turned out to speak the native protocol: its
	 * join is taken back, and it joins again under its own name. */
	void (*retracted)(struct hub *h, struct client *c);
	/* A send let go of the transcript: a blocked writer may go on. */
	void (*unpinned)(struct hub *h);
	/* A line (or, with INTERRUPT, a Ctrl+C) from a client the session
	 * knows only by name: an edge's, through NATS (nats_publish.c).  It
	 * is read-write and passed the line checks.  May be NULL. */
	void (*remote_line)(struct hub *h, const char *who, bool interrupt, const char *line,
			    size_t len);
};

/*
 * Admission decided elsewhere: a repeater's clients prove the password to
 * the origin, through the repeater, which never learns it.  Without a gate
 * (hub->gate NULL) each server's own password decides.  The owner answers
 * later, through native_gate_*() for native clients and client_go_live_at()
 * or client_finish() for raw ones.
 */
struct hub_gate {
	bool need_password;	/* clients must prove the origin's password */
	bool readonly;		/* everyone here is read-only (the origin says so) */
	/* A native client said HELLO (its identity is known); with a
	 * password the owner fetches a challenge for it. */
	void (*hello)(struct hub *h, struct client *c);
	/* Its PROOF, to be checked by the origin. */
	void (*proof)(struct hub *h, struct client *c, const uint8_t *a, size_t a_len,
		      const uint8_t *m1, size_t m1_len);
	/* A raw client typed its password (LEN bytes, in the caller's
	 * buffer): the owner keeps a copy only until it has used it, then
	 * wipes it. */
	void (*password)(struct hub *h, struct client *c, const char *pw, size_t len);
	/* C is being freed: forget it (every client passes here). */
	void (*gone)(struct hub *h, struct client *c);
};

struct native_hub;
struct nats_pub;

struct hub {
	const struct hub_ops *ops;
	const struct hub_gate *gate;	/* NULL: servers' own passwords */
	struct native_hub *native;	/* native.c's per-session state (relay tickets) */
	const struct hub_limits *cfg;
	uint8_t id[16];			/* random: lets a native client resume here only */
	const char *program;		/* what native clients are told is hosted */
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

	/* Text waiting because the transcript writer is blocked (writer.c). */
	char *backlog;
	size_t backlog_len;

	struct server **servers;
	unsigned nservers;
	struct com_lines *com;		/* serial lines of com: servers (com.c), or NULL */
	struct discovery discovery;	/* our -QR record */
	struct nats_pub *pub;		/* -publish / .publish (nats_publish.c), or NULL */
	/* Meta-command output goes to this client alone instead of the
	 * transcript (an edge, whose transcript is the origin's). */
	struct client *meta_private;
	const char *fed_from;		/* an edge: "nats://H:P session NAME ..." */
	bool discovery_failed;		/* said once why there is none */

	struct client *clients;		/* every client, the console included */
	unsigned nclients;		/* remote clients only */
	unsigned nrelayed;		/* clients behind repeaters (native_relay.c) */
	unsigned nauthenticating;	/* remote clients before their password/handshake */
	unsigned nrefusing;		/* connections being told why they were refused */
	unsigned ndead;			/* clients waiting for client_end_turn() to free them */
	struct client **dead;		/* the first ndead of them, if all fitted */
	unsigned dead_cap;
	bool dead_unlisted;		/* some did not fit: look for them in clients */
	uint32_t next_client_id;
	struct client *console;

	struct client **idle;		/* caught up, waiting for output */
	unsigned nidle, idle_cap, idle_rotor;
	struct client **woken;		/* woken one by one (client_wake) */
	unsigned nwoken, woken_cap;
	bool wake_idle;			/* output arrived: every idle client is woken */
	bool kick_pending;		/* client_end_turn() has clients to wake */

	struct notice_batch notices;
	struct penalty_table penalties;	/* wrong passwords per source */
	int reserve_fd;			/* spare fd to refuse clients at EMFILE */
	time_t last_refusal_log;
	unsigned refusals_unlogged;
	time_t last_close_log;
	unsigned closes_unlogged;

	uint32_t now;			/* monotonic seconds, read once per loop turn */
	bool draining;			/* the session is ending: no new clients */

	struct hub_stats stats;
};

/*
 * A layer that stands in for the program (a repeater's downstream side, a
 * NATS edge) answers the clients' events itself and leaves the rest (the
 * log) to the session's ops, which it keeps to call on after its own work.
 */
struct hub_ops_over {
	struct hub_ops ops;		/* installed in the hub */
	const struct hub_ops *base;	/* the session's */
};

/* Installs O over H's ops with MINE's client events (line, interrupt,
 * joined, left, retracted, unpinned). */
static inline void hub_ops_take_clients(struct hub *h, struct hub_ops_over *o,
					const struct hub_ops *mine)
{
	o->base = h->ops;
	o->ops = *h->ops;
	o->ops.line = mine->line;
	o->ops.interrupt = mine->interrupt;
	o->ops.joined = mine->joined;
	o->ops.left = mine->left;
	o->ops.retracted = mine->retracted;
	o->ops.unpinned = mine->unpinned;
	h->ops = &o->ops;
}

/* Logs a line through ops->log. */
void hub_log(struct hub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Monotonic seconds. */
uint32_t hub_clock(void);

#endif
