/* SPDX-License-Identifier: MIT */
/*
 * What a session says on NATS, without NATS (PROTOCOL.md 12): the
 * -publish / -edge spec, the subjects and stream of a session, and the
 * headers of its three kinds of message (transcript records, input lines,
 * presence), encoded to and decoded from plain key/value pairs so that
 * every rule here is testable and fuzzable without a server.  libnats itself
 * is confined to nats_bridge.c.
 */
#ifndef RINGSIDE_NATS_MSG_H
#define RINGSIDE_NATS_MSG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NATS_NAME_MAX 64		/* a session or edge name */
#define NATS_PATH_MAX 512		/* creds=, passfile=, ca= */
#define NATS_URL_MAX 256
#define NATS_REC_MAX (64 * 1024)	/* transcript bytes in one record message */
#define NATS_IDENT_MAX 160		/* as IDENT_MAX */
#define NATS_SUBJECT_MAX (2 * NATS_NAME_MAX + 48)
#define NATS_HDR_MAX 10

/* Where a session is published and how to log in there. */
struct nats_conf {
	char url[NATS_URL_MAX];		/* nats://HOST:PORT (tls:// too) */
	char session[NATS_NAME_MAX + 1];
	char name[NATS_NAME_MAX + 1];	/* an edge's name (name=), else "" */
	char creds[NATS_PATH_MAX];	/* a .creds file (JWT + nkey seed) */
	char user[NATS_NAME_MAX + 1];
	char passfile[NATS_PATH_MAX];	/* the password, first line of this file */
	char ca[NATS_PATH_MAX];		/* CA certificates: TLS to the server */
	uint64_t max_bytes;		/* the stream's byte limit (64 MiB) */
	uint64_t max_age_s;		/* and age limit (1 day) */
	unsigned replicas;		/* the stream's replicas, 1..5; 0: not given
					 * (an existing stream keeps its own, a new one has 1) */
	bool has_session;
};

#define NATS_DEFAULT_MAX_BYTES (64ull << 20)
#define NATS_DEFAULT_MAX_AGE_S 86400ull
#define NATS_REPLICAS_MAX 5		/* JetStream's own limit */

/* Parse "nats://HOST:PORT[,session=NAME][,creds=FILE][,user=U,passfile=F]
 * [,ca=FILE][,maxbytes=N][,maxage=S][,replicas=N][,name=EDGE]".  0 or -EINVAL with the
 * reason in ERR (never quoting a file's contents). */
int nats_conf_parse(struct nats_conf *c, const char *text, char *err, size_t errlen);
/* Whether NAME may be a session or edge name: [A-Za-z0-9_-], 1..64. */
bool nats_name_ok(const char *name);
/* NAME from any text: other bytes become '_', cut to NATS_NAME_MAX. */
void nats_name_from(const char *text, char *out, size_t len);
/* "nats://HOST:PORT session NAME": what may be shown (no file names, no user). */
void nats_conf_describe(const struct nats_conf *c, char *buf, size_t len);

struct nats_subjects {
	char stream[NATS_SUBJECT_MAX];	/* RINGSIDE_NAME */
	char out[NATS_SUBJECT_MAX];	/* ringside.NAME.out: the records */
	char in[NATS_SUBJECT_MAX];	/* ringside.NAME.in: input from edges */
	char presence[NATS_SUBJECT_MAX];/* ringside.NAME.presence.v2: edges' clients */
	char presence_v1[NATS_SUBJECT_MAX];/* ringside.NAME.presence: older edges' (refused) */
	char ask[NATS_SUBJECT_MAX];	/* ringside.NAME.presence.v2.ask: + ".EDGE" */
};
void nats_subjects_of(const char *session, struct nats_subjects *s);

/* One key: value pair of a message's headers. */
struct nats_hdr {
	const char *key;
	const char *value;
};

/* Headers built for a message: the values live in STORE. */
struct nats_hdrs {
	struct nats_hdr h[NATS_HDR_MAX];
	unsigned n;
	char store[NATS_IDENT_MAX + 4 * NATS_NAME_MAX + 256];
	size_t used;
};

/* The value of KEY (case-insensitive) in H, or NULL. */
const char *nats_hdr_get(const struct nats_hdr *h, unsigned n, const char *key);

enum nats_kind {
	NATS_OUTPUT,	/* the program's output */
	NATS_NOTICE,	/* ringside's own lines */
	NATS_TYPED,	/* who typed what */
	NATS_STATE,	/* the session started / ended: no transcript bytes */
	NATS_GAP,	/* [offset, end) is lost: no bytes */
};

/* A transcript record: the message's data are its bytes. */
struct nats_rec {
	enum nats_kind kind;
	uint64_t offset;	/* its first byte's transcript offset */
	uint64_t end;		/* offset + bytes; for a gap, where bytes go on */
	uint8_t session[16];
	bool ended;		/* NATS_STATE: the session has ended, with STATUS */
	int status;
	char program[NATS_NAME_MAX * 2];	/* NATS_STATE: what it hosts */
};

/* Headers of R (LEN bytes of data), Nats-Msg-Id included.  0 or -EINVAL. */
int nats_rec_encode(const struct nats_rec *r, size_t len, struct nats_hdrs *out);
/* R from headers and LEN bytes of data.  0 or -EINVAL (ERR says why). */
int nats_rec_decode(struct nats_rec *r, const struct nats_hdr *h, unsigned n, size_t len,
		    char *err, size_t errlen);
const char *nats_kind_name(enum nats_kind k);

/* A line (or a Ctrl+C) typed at an edge, for the origin. */
struct nats_input {
	uint8_t session[16];		/* the session the edge serves */
	char who[NATS_IDENT_MAX];	/* the typist as the edge names it */
	char edge[NATS_NAME_MAX + 1];
	bool readonly;			/* the edge serves it read-only */
	bool interrupt;			/* Ctrl+C; no data */
};
int nats_input_encode(const struct nats_input *in, struct nats_hdrs *out);
int nats_input_decode(struct nats_input *in, const struct nats_hdr *h, unsigned n, char *err,
		      size_t errlen);

/*
 * Presence, version 2 (PROTOCOL.md 12.4): an edge tells the origin who its
 * clients are by deltas (joins and leaves, numbered), a small heartbeat
 * that says where its numbering is and how many clients it has, and a full
 * snapshot in parts when the origin asks for one (it missed something).
 * The steady state costs one heartbeat per edge per period, whatever the
 * number of clients.
 */
#define NATS_PRES_VERSION 2
#define NATS_PRES_CHUNK (64 * 1024)	/* data bytes in one presence message */
#define NATS_PRES_PARTS_MAX 4096	/* parts of one snapshot */
#define NATS_PRES_COUNT_MAX (1u << 24)	/* clients at one edge */

enum nats_pres_kind {
	NATS_PRES_DELTA,	/* edge: joins and leaves since the last delta */
	NATS_PRES_HEARTBEAT,	/* edge: (epoch, seq, count), no data */
	NATS_PRES_SNAPSHOT,	/* edge: part of the whole list as of seq */
	NATS_PRES_ASK,		/* origin -> one edge: send a snapshot */
};

/* A presence message's headers. */
struct nats_pres {
	enum nats_pres_kind kind;
	uint8_t session[16];
	char edge[NATS_NAME_MAX + 1];	/* who sends it (ASK: whom it is for) */
	uint64_t epoch;			/* the edge's numbering, never 0 (not ASK) */
	uint64_t seq;			/* DELTA: its number; else the last delta's */
	uint32_t count;			/* HEARTBEAT, SNAPSHOT: the edge's clients */
	uint32_t part, parts;		/* SNAPSHOT: part (from 0) of parts */
};
int nats_pres_encode(const struct nats_pres *m, struct nats_hdrs *out);
/* 0, or -EINVAL with ERR saying why (a version other than ours included). */
int nats_pres_decode(struct nats_pres *m, const struct nats_hdr *h, unsigned n, char *err,
		     size_t errlen);
const char *nats_pres_kind_name(enum nats_pres_kind k);

/* One line of presence data.  Snapshot: "ID rw|ro native|raw WHO\n";
 * delta: "+" and the same for a join, "-ID\n" for a leave.  ID is the
 * edge's number for the client (1..2^62), unique at the edge while it is
 * there. */
struct nats_presence_entry {
	uint64_t id;
	bool leave;			/* delta only; nothing else is set */
	bool readonly;
	bool native;
	char who[NATS_IDENT_MAX];
};
/* E's line (DELTA: with its sign) into BUF; its length, or -ENOSPC/-EINVAL. */
int nats_presence_line(const struct nats_presence_entry *e, bool delta, char *buf, size_t len);
/* Calls FN for each line of P (DELTA: delta lines, else snapshot lines);
 * how many there were, or -EINVAL for a malformed list, checked whole
 * before FN is called at all. */
int nats_presence_parse(const char *p, size_t len, bool delta,
			void (*fn)(void *arg, const struct nats_presence_entry *e), void *arg);

/* Session ids on the wire: 32 hex digits. */
void nats_hex16(const uint8_t id[16], char out[33]);
int nats_unhex16(const char *s, uint8_t id[16]);

#endif
