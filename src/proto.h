/* SPDX-License-Identifier: MIT */
/*
 * The native protocol's wire format (src/PROTOCOL.md is the prose): the
 * preamble, 16-byte record headers, an incremental record reader, and the
 * tag-length-value bodies of handshake and control records.  Pure byte
 * transformations: no sockets, no session state.
 */
#ifndef RINGSIDE_PROTO_H
#define RINGSIDE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Both sides open with these 8 bytes.  The NULs keep a raw client (which
 * types text) from ever sending it by accident; the last byte is the version. */
#define PROTO_PREAMBLE_SIZE 8
extern const uint8_t proto_preamble[PROTO_PREAMBLE_SIZE]; /* "\0RINGSD\2" */
/*
 * Version 2 added HEARTBEAT and HEARTBEAT_ACK (PROTOCOL.md 6.1); version 3
 * adds relays (a repeater's connection carrying its own clients, PROTOCOL.md
 * 11).  A client speaks the oldest version that has what it needs, so that
 * it works with every server that does: PROTO_VERSION unless it relays.  A
 * server speaks every version from PROTO_VERSION to PROTO_VERSION_MAX.
 */
#define PROTO_VERSION 2
#define PROTO_VERSION_RELAY 3
#define PROTO_VERSION_MAX 3
/* The preamble of VERSION (PROTO_VERSION's is proto_preamble). */
void proto_preamble_of(uint8_t version, uint8_t out[PROTO_PREAMBLE_SIZE]);

#define PROTO_HEADER_SIZE 16
/* The largest payload a reader accepts: output records carry at most one
 * transcript span, and the transcript ring is at most 16 GiB, but a reader
 * never needs more than this in one piece. */
#define PROTO_MAX_OUTPUT (16u << 20)
#define PROTO_MAX_CONTROL 8192	/* handshake and control records */

enum proto_type {
	/* server to client */
	PROTO_WELCOME = 1,	/* handshake: who the server is, whether auth is needed */
	PROTO_CHALLENGE = 2,	/* SRP-6a: salt and B */
	PROTO_ACCEPT = 3,	/* joined: M2, session id, role, where records start */
	PROTO_REFUSE = 4,	/* Error 0x80004005 and a reason; the server then closes */
	PROTO_OUTPUT = 16,	/* the hosted program's output; seq = transcript offset */
	PROTO_NOTICE = 17,	/* ringside's own lines (joins, leaves, meta output) */
	PROTO_TYPED = 18,	/* "who typed what" lines */
	PROTO_GAP = 19,		/* history between two offsets is gone */
	PROTO_STATE = 20,	/* session state changes (the program ended, ...) */
	PROTO_PRIVATE = 21,	/* a message for this client only (refusals) */
	PROTO_HEARTBEAT_ACK = 22, /* the answer to a HEARTBEAT; seq echoes its seq */
	/* server to a relay (version 3); seq names the sub-client */
	PROTO_SUB_CHALLENGE = 23, /* SRP-6a for one of the relay's clients */
	PROTO_SUB_ACCEPT = 24,	/* that client is in: role, M2 */
	PROTO_SUB_REFUSE = 25,	/* that client is not; the relay connection goes on */
	PROTO_SUB_PRIVATE = 26,	/* a message for that client only */
	/* client to server */
	PROTO_HELLO = 32,	/* identity, session to resume and where */
	PROTO_PROOF = 33,	/* SRP-6a: A and M1 */
	PROTO_INPUT = 34,	/* one command line, without its newline */
	PROTO_INTERRUPT = 35,	/* Ctrl+C: interrupt the hosted program */
	PROTO_BYE = 36,		/* leaving on purpose; do not expect a reconnect */
	PROTO_HEARTBEAT = 37,	/* "still here": sent when idle, answered at once */
	/* a relay to the server (version 3); seq names the sub-client */
	PROTO_SUB_HELLO = 38,	/* one of the relay's clients arrives */
	PROTO_SUB_PROOF = 39,	/* its SRP-6a proof */
	PROTO_SUB_INPUT = 40,	/* a line it typed */
	PROTO_SUB_INTERRUPT = 41, /* its Ctrl+C */
	PROTO_SUB_BYE = 42,	/* it has gone */
};

/* The largest sub-client id: seq carries it, but ids are 32-bit. */
#define PROTO_SUB_MAX 0xffffffffu

/* Heartbeats (PROTOCOL.md 6.1): a client sends HEARTBEAT after this long
 * without sending anything; a peer that has received nothing for
 * PROTO_READ_TIMEOUT_S takes the connection for dead. */
#define PROTO_HEARTBEAT_S 15
#define PROTO_READ_TIMEOUT_S 45

/* A set of record types, for proto_reader.allowed. */
#define PROTO_TYPE_BIT(t) (1ull << (t))
#define PROTO_SERVER_TYPES                                                                   \
	(PROTO_TYPE_BIT(PROTO_WELCOME) | PROTO_TYPE_BIT(PROTO_CHALLENGE) |                    \
	 PROTO_TYPE_BIT(PROTO_ACCEPT) | PROTO_TYPE_BIT(PROTO_REFUSE) |                        \
	 PROTO_TYPE_BIT(PROTO_OUTPUT) | PROTO_TYPE_BIT(PROTO_NOTICE) |                        \
	 PROTO_TYPE_BIT(PROTO_TYPED) | PROTO_TYPE_BIT(PROTO_GAP) | PROTO_TYPE_BIT(PROTO_STATE) | \
	 PROTO_TYPE_BIT(PROTO_PRIVATE) | PROTO_TYPE_BIT(PROTO_HEARTBEAT_ACK) |                 \
	 PROTO_TYPE_BIT(PROTO_SUB_CHALLENGE) | PROTO_TYPE_BIT(PROTO_SUB_ACCEPT) |              \
	 PROTO_TYPE_BIT(PROTO_SUB_REFUSE) | PROTO_TYPE_BIT(PROTO_SUB_PRIVATE))
/* The types only a relay connection carries (version 3). */
#define PROTO_RELAY_TYPES                                                                    \
	(PROTO_TYPE_BIT(PROTO_SUB_CHALLENGE) | PROTO_TYPE_BIT(PROTO_SUB_ACCEPT) |              \
	 PROTO_TYPE_BIT(PROTO_SUB_REFUSE) | PROTO_TYPE_BIT(PROTO_SUB_PRIVATE) |                \
	 PROTO_TYPE_BIT(PROTO_SUB_HELLO) | PROTO_TYPE_BIT(PROTO_SUB_PROOF) |                   \
	 PROTO_TYPE_BIT(PROTO_SUB_INPUT) | PROTO_TYPE_BIT(PROTO_SUB_INTERRUPT) |               \
	 PROTO_TYPE_BIT(PROTO_SUB_BYE))

/* seq: for OUTPUT, NOTICE and TYPED the transcript offset of the payload's
 * first byte, so records are addressed exactly like the transcript; for the
 * SUB_ records the sub-client; for other records 0.  flags and the reserved
 * half-word are 0 in every version so far. */
struct proto_header {
	uint8_t type;
	uint8_t flags;
	uint32_t length;
	uint64_t seq;
};

/* Big-endian: type(1) flags(1) reserved(2)=0 length(4) seq(8). */
void proto_header_encode(const struct proto_header *h, uint8_t out[PROTO_HEADER_SIZE]);
/* 0, or -EPROTO for an unknown type or non-zero flags or reserved bits, or
 * -EMSGSIZE for a length over the type's limit (PROTO_MAX_OUTPUT for OUTPUT,
 * NOTICE, TYPED, PRIVATE and SUB_PRIVATE; PROTO_MAX_CONTROL for INPUT,
 * SUB_INPUT and all the rest).
 * *H is filled even on error, so the caller can name what it rejected. */
int proto_header_decode(const uint8_t in[PROTO_HEADER_SIZE], struct proto_header *h);

/* True for the record types whose payload is a TLV body (proto_msg); false
 * for OUTPUT, NOTICE, TYPED, PRIVATE, INPUT, SUB_PRIVATE and SUB_INPUT (raw
 * bytes) and unknown types. */
bool proto_type_tlv(uint8_t type);

/*
 * Incremental reader: feed it bytes as they arrive, in any pieces.  The
 * payload buffer grows as payload bytes arrive (never beyond the header's
 * already checked length), so a peer that only announces a large record
 * costs nothing.  payload may be NULL while h.length is 0.
 */
struct proto_reader {
	/* Set by the owner at any time between records: the record types it
	 * takes now (PROTO_TYPE_BIT()s; 0 = every valid type), and a payload
	 * limit below the type's own (0 = the type's).  A header outside them
	 * fails the feed before a payload byte is stored: a peer that has not
	 * authenticated cannot make the reader buffer more than it allows. */
	uint64_t allowed;
	uint32_t max_length;
	uint8_t hdr[PROTO_HEADER_SIZE];
	size_t hdr_got;
	struct proto_header h;
	uint8_t *payload;
	size_t payload_cap;
	size_t payload_got;
	bool complete;
	int error;		/* sticky: once set, every feed returns it */
};

void proto_reader_init(struct proto_reader *r);
void proto_reader_free(struct proto_reader *r);
/*
 * Consume bytes from DATA (N of them) until one record is complete.  Sets
 * *USED to the bytes consumed.  Returns 1 when r->h and r->payload hold a
 * whole record (call proto_reader_next() before feeding more; until then a
 * feed consumes nothing and returns 1 again), 0 when more bytes are needed
 * (all N were consumed), or a negative errno (-EPROTO, also for a type not
 * in r->allowed; -EMSGSIZE, also for a length over r->max_length; -ENOMEM)
 * after which the stream cannot be trusted: every later feed returns the
 * same error, consuming nothing, until proto_reader_init().
 */
int proto_reader_feed(struct proto_reader *r, const uint8_t *data, size_t n, size_t *used);
void proto_reader_next(struct proto_reader *r);

/*
 * Tag-length-value bodies: tag(2) length(2) value, big-endian.  Readers skip
 * tags they do not know, which is how later versions add fields.
 */
enum proto_tag {
	PROTO_T_VERSION = 1,	/* u32 */
	PROTO_T_IDENTITY = 2,	/* text: "HOST\user" */
	PROTO_T_SESSION = 3,	/* 16 bytes: the session's random id */
	PROTO_T_RESUME = 4,	/* u64: first transcript offset the client lacks */
	PROTO_T_SALT = 5,	/* bytes */
	PROTO_T_SRP_B = 6,	/* bytes */
	PROTO_T_SRP_A = 7,	/* bytes */
	PROTO_T_SRP_M1 = 8,	/* bytes */
	PROTO_T_SRP_M2 = 9,	/* bytes */
	PROTO_T_ROLE = 10,	/* u32: 0 read-write, 1 read-only */
	PROTO_T_START = 11,	/* u64: offset of the first record that follows */
	PROTO_T_CODE = 12,	/* u32: 0x80004005 for every refusal */
	PROTO_T_REASON = 13,	/* text */
	PROTO_T_FROM = 14,	/* u64 */
	PROTO_T_TO = 15,	/* u64 */
	PROTO_T_AUTH = 16,	/* u32: 1 when the server wants SRP-6a */
	PROTO_T_HOST = 17,	/* text: the server's host name */
	PROTO_T_PROGRAM = 18,	/* text: the hosted program */
	PROTO_T_STATE = 19,	/* u32: 0 running, 1 ended */
	PROTO_T_STATUS = 20,	/* u32: exit status when ended */
	PROTO_T_TEXT = 21,	/* text */
	/* version 3 */
	PROTO_T_RELAY = 22,	/* u32: HELLO: 1, a repeater's connection; WELCOME: 1, taken as one */
	PROTO_T_TICKET = 23,	/* bytes: lets a relay resume without a sub-client's proof */
	PROTO_T_LOCKED = 24,	/* u32: WELCOME to a relay: 1, ACCEPT waits for a sub-client's proof */
	PROTO_T_REJOIN = 25,	/* u32: SUB_HELLO: 1, admitted on an earlier connection of the relay */
};

/* A relay ticket's size: 256 random bits. */
#define PROTO_TICKET_SIZE 32

#define PROTO_TEXT_MAX 255

/* True if P (N bytes) may be a text field: 1 to PROTO_TEXT_MAX bytes of
 * valid UTF-8 with no C0 or C1 control, DEL, line or paragraph separator,
 * or bidirectional override (visible_text_ok() of src/visible.h). */
bool proto_text_ok(const uint8_t *p, size_t n);
#define PROTO_SRP_MAX 512
#define PROTO_REFUSAL_CODE 0x80004005u

/* One message's decoded fields.  has_* says which were present. */
struct proto_msg {
	uint32_t version;
	uint32_t role, code, auth, state, status;
	uint32_t relay, locked, rejoin;
	uint64_t resume, start, from, to;
	uint8_t session[16];
	char identity[PROTO_TEXT_MAX + 1];
	char reason[PROTO_TEXT_MAX + 1];
	char host[PROTO_TEXT_MAX + 1];
	char program[PROTO_TEXT_MAX + 1];
	char text[PROTO_TEXT_MAX + 1];
	uint8_t salt[64], srp_b[PROTO_SRP_MAX], srp_a[PROTO_SRP_MAX], srp_m1[64], srp_m2[64];
	uint8_t ticket[64];
	size_t salt_len, srp_b_len, srp_a_len, srp_m1_len, srp_m2_len, ticket_len;
	bool has_version, has_role, has_code, has_auth, has_state, has_status;
	bool has_resume, has_start, has_from, has_to, has_session;
	bool has_identity, has_reason, has_host, has_program, has_text;
	bool has_relay, has_locked, has_rejoin;
};

/*
 * Encode every field M has (has_* set, or a non-zero *_len for byte
 * fields) as a TLV body into BUF, in ascending tag order.  Returns the
 * length, -ENOSPC, or -EINVAL for a field proto_msg_decode() would reject
 * (a text that is empty, too long or not printable, a *_len over its
 * array), so nothing is sent that the peer must refuse.  A whole message
 * never exceeds PROTO_MAX_CONTROL.
 */
int proto_msg_encode(const struct proto_msg *m, uint8_t *buf, size_t cap);
/*
 * Decode a TLV body into M (cleared first; text fields come out
 * NUL-terminated).  Unknown tags are skipped.  Returns 0, or -EPROTO for
 * a truncated TLV, a fixed-size field of the wrong size, a text field with
 * a NUL or control byte or longer than PROTO_TEXT_MAX, a byte field longer
 * than its array, or a tag given twice.
 */
int proto_msg_decode(const uint8_t *p, size_t n, struct proto_msg *m);

/*
 * A whole record (header + TLV body of M) into BUF, for control records;
 * M may be NULL for an empty body (INTERRUPT, BYE).  Returns the total
 * length, -ENOSPC, or -EINVAL (TYPE unknown or not proto_type_tlv(), or
 * as proto_msg_encode).
 */
int proto_record_encode(uint8_t type, uint64_t seq, const struct proto_msg *m, uint8_t *buf,
			size_t cap);

/* Short name of a record type, for logs and errors: "OUTPUT", "HELLO"...,
 * or "UNKNOWN". */
const char *proto_type_name(uint8_t type);

#endif
