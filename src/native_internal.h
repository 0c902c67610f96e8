/* SPDX-License-Identifier: MIT */
/*
 * What native.c (one native connection: versions, the handshake, framing)
 * and native_relay.c (a repeater's connection and the clients it carries)
 * share.  Internal to those two files.
 */
#ifndef RINGSIDE_NATIVE_INTERNAL_H
#define RINGSIDE_NATIVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/auth.h"
#include "src/proto.h"

struct client;
struct native_relay;

enum handshake {
	HS_HELLO,	/* waiting for HELLO */
	HS_PROOF,	/* CHALLENGE sent, waiting for PROOF */
	HS_GATE,	/* the gate (a repeater's origin) decides: nothing may come */
	HS_LOCKED,	/* a relay waiting for one of its clients' proofs */
	HS_LIVE,	/* ACCEPT sent: records flow */
	HS_RELAY_LIVE,	/* ... on a relay */
};

struct native_state {
	struct proto_reader reader;
	enum handshake hs;
	uint8_t version;	/* this connection's (PROTO_VERSION..PROTO_VERSION_MAX) */
	struct auth_server *auth;
	bool has_resume;
	uint64_t resume;
	bool auth_sent;		/* behind a gate: the origin's CHALLENGE went out */
	struct native_relay *relay;	/* a repeater's connection (native_relay.c) */
	/* The record being sent: its header and where its payload ends. */
	uint8_t hdr[PROTO_HEADER_SIZE];
	uint8_t hdr_sent;
	bool in_record;
	uint64_t rec_end;
	struct msghdr msg;
	struct iovec iov[2];
	char name[96];			/* the identity it claimed, cleaned */
};

/* native.c */
void native_expect(struct native_state *nat, enum handshake hs);
/* A control record (a TLV body, M may be NULL) for C alone. */
void native_queue(struct client *c, uint8_t type, uint64_t seq, const struct proto_msg *m);
/* The handshake is over: ACCEPT (with M2 after a proof) and records from
 * where HELLO asked. */
void native_accept(struct client *c, const uint8_t *m2, size_t m2_len);
/* WELCOME's common fields, for this connection's version. */
void native_welcome_fields(struct client *c, struct proto_msg *w);

/* native_relay.c */
/* HELLO said RELAY = 1 on a version-3 connection: WELCOME, then ACCEPT or
 * the locked wait. */
void relay_hello(struct client *c, const struct proto_msg *hello);
/* A record on a relay, locked or live (the reader admitted its type). */
void relay_record(struct client *c, const struct proto_header *h, const uint8_t *p);
/* ACCEPT's relay fields (the ticket) for C. */
void relay_accept_fields(struct client *c, struct proto_msg *m);
/* While a relay speaks for one of its clients, that client's name (as
 * native_name() gives it), else NULL. */
const char *relay_speaking_name(const struct client *c);
/* A relay is speaking for one of its clients: its private text goes to
 * that client.  Returns false when it is not. */
bool relay_private_text(struct client *c, const char *text, size_t len);
void relay_free(struct client *c);

#endif
