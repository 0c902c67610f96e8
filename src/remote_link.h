/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's side of the native protocol, without sockets or a
 * terminal: the preamble scan, the handshake as a state machine (WELCOME,
 * at most one CHALLENGE, ACCEPT), every record checked against PROTOCOL.md
 * before it is believed, and the transcript position that makes resuming
 * exact.  Bytes from the server go in; bytes for the server and things to
 * show come out through struct rlink_ops.  Nothing the server sends is shown
 * before the server has proven itself, and text from other people is made
 * inert first.
 */
#ifndef RINGSIDE_REMOTE_LINK_H
#define RINGSIDE_REMOTE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/auth.h"
#include "src/proto.h"

enum rlink_state {
	RLINK_PREAMBLE,		/* discarding the raw view up to the server's preamble */
	RLINK_WELCOME,		/* WELCOME (or REFUSE) comes next */
	RLINK_CHALLENGE,		/* WELCOME asked for the password: CHALLENGE next */
	RLINK_PASSWORD,		/* CHALLENGE held while the user types the password */
	RLINK_ACCEPT,		/* ACCEPT (or REFUSE) next */
	RLINK_LOCKED,		/* a relay: ACCEPT waits for one of its clients' proofs */
	RLINK_LIVE,		/* records flow */
	RLINK_FAILED,		/* refused, or the server broke the protocol: final */
};

enum rlink_show {
	RLINK_OUTPUT,		/* the hosted program's output, as it is */
	RLINK_NOTICE,		/* NOTICE and TYPED transcript text, made inert */
	RLINK_PRIVATE,		/* a PRIVATE message (whole), made inert */
	RLINK_SAY,		/* the client's own line: a notice or an error */
};

struct remote_link;

/*
 * A relay's needs (a repeater's connection to its origin, PROTOCOL.md 11):
 * the transcript as records rather than text to show, and its clients'
 * records.  Set l->relay before rlink_start() for a version-3 connection
 * with RELAY = 1.
 */
struct rlink_relay_ops {
	/* WELCOME was checked: M has SESSION, HOST, PROGRAM, AUTH (the
	 * session has a password its clients must prove) and LOCKED (ACCEPT
	 * waits until one of them has). */
	void (*welcome)(struct remote_link *l, const struct proto_msg *m);
	/* A transcript record's new bytes, exactly: TYPE is OUTPUT, NOTICE
	 * or TYPED, SEQ the offset of P's first byte (contiguity checked). */
	void (*record)(struct remote_link *l, uint8_t type, uint64_t seq, const uint8_t *p,
		       size_t n);
	/* [FROM, TO) will never come: the transcript goes on at TO. */
	void (*gap)(struct remote_link *l, uint64_t from, uint64_t to);
	/* STATE = 1: the session is over (STATUS as the server says). */
	void (*ended)(struct remote_link *l, uint32_t status);
	/* A record about one of its clients (SUB): SUB_CHALLENGE, SUB_ACCEPT
	 * and SUB_REFUSE decoded in M; SUB_PRIVATE's text in P (N bytes). */
	void (*sub)(struct remote_link *l, uint8_t type, uint32_t sub, const struct proto_msg *m,
		    const uint8_t *p, size_t n);
	/* The connection the server had taken (locked or live) is gone. */
	void (*lost)(struct remote_link *l);
};

struct rlink_ops {
	/* Bytes for the server, in order. */
	void (*send)(struct remote_link *l, const uint8_t *p, size_t n);
	/* Something for the user.  RLINK_OUTPUT and RLINK_NOTICE are pieces
	 * of the transcript, cut anywhere; RLINK_PRIVATE and RLINK_SAY are
	 * whole messages without their line end. */
	void (*show)(struct remote_link *l, enum rlink_show kind, const char *p, size_t n);
	/* The server wants a password and none is held: ask for one, then
	 * call rlink_password(). */
	void (*ask_password)(struct remote_link *l);
	/* ACCEPT checked: the connection is live, held input may go. */
	void (*live)(struct remote_link *l);
	/* The transcript does not go on from where it was (a new session, or
	 * a GAP): an unfinished line will never be finished. */
	void (*jump)(struct remote_link *l);
};

struct remote_link {
	const struct rlink_ops *ops;
	const struct rlink_relay_ops *relay;	/* a repeater's connection, or NULL */
	const char *identity;	/* "HOST\user" for HELLO */
	const char *password;	/* NULL when none is held; the owner's buffer */
	bool can_ask;		/* the user can be asked for a password */

	/* Kept across connections (PROTOCOL.md 7.1). */
	uint8_t session[16];
	bool have_session;
	uint64_t shown;		/* the first transcript offset not shown yet */
	bool joined;		/* some connection went live */
	bool ended;		/* STATE = 1: the session is over */
	bool read_only;
	/* A relay's ticket from the last ACCEPT: it stands for the proof
	 * that unlocked that connection, on the next one. */
	uint8_t ticket[PROTO_TICKET_SIZE];
	bool have_ticket;

	/* This connection. */
	enum rlink_state state;
	uint8_t version;	/* PROTO_VERSION, or PROTO_VERSION_RELAY for a relay */
	unsigned preamble_got;
	struct proto_reader reader;
	struct auth_client *auth;
	bool auth_required;	/* WELCOME said AUTH = 1 */
	uint8_t welcome_session[16];
	uint64_t next;		/* the offset the next transcript record must have */
	uint8_t salt[64], srp_b[PROTO_SRP_MAX];	/* a CHALLENGE waiting for the user */
	size_t salt_len, srp_b_len;

	/* Inert text: the end of a character (or a CR before its LF) cut off
	 * at the end of one piece, waiting for the rest. */
	uint8_t carry[4];
	size_t carry_len;
	enum rlink_show carry_kind;
};

void rlink_init(struct remote_link *l, const struct rlink_ops *ops, const char *identity);
void rlink_free(struct remote_link *l);

/* A new connection: send the preamble and HELLO (resuming when there is
 * something to resume). */
void rlink_start(struct remote_link *l);
/* Bytes from the server.  Stops taking them once the link has failed. */
void rlink_feed(struct remote_link *l, const uint8_t *p, size_t n);
/* The password asked for is now in l->password (NULL: the user gave none). */
void rlink_password(struct remote_link *l);
/* The connection is gone; the next one starts with rlink_start(). */
void rlink_stop(struct remote_link *l);

static inline bool rlink_failed(const struct remote_link *l)
{
	return l->state == RLINK_FAILED;
}

static inline bool rlink_live(const struct remote_link *l)
{
	return l->state == RLINK_LIVE;
}

/* A relay connection that its server has taken: live, or locked until one
 * of its clients proves the password.  SUB_ records may go. */
static inline bool rlink_relaying(const struct remote_link *l)
{
	return l->relay && (l->state == RLINK_LIVE || l->state == RLINK_LOCKED);
}

/*
 * Make N bytes of text from the server inert for a terminal: C0 controls
 * but TAB and the LF of a line end, a CR not followed by LF, DEL, C1
 * controls (as bytes and as UTF-8), bidirectional controls and bytes that
 * are not UTF-8 are written in a visible form (src/visible.h).  Writes to
 * OUT, which must hold N * VISIBLE_GROWTH bytes; returns the count.
 * Exposed for tests: the link applies it with carries across records.
 */
size_t rlink_inert(const uint8_t *p, size_t n, char *out);

#endif
