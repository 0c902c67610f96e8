/* SPDX-License-Identifier: MIT */
/*
 * The native protocol on the server side (native.c; src/PROTOCOL.md).
 * Internal to src/.
 */
#ifndef RINGSIDE_NATIVE_H
#define RINGSIDE_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct client;
struct hub;

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
void native_session_ended(struct hub *s, int status);
void native_free(struct client *c);
/* The identity a native client claimed (cleaned), or NULL / "" before HELLO. */
const char *native_name(const struct client *c);
/* Refuse a native client (REFUSE record, Error 0x80004005) and close it. */
void native_refuse(struct client *c, const char *reason);

/*
 * The gate's answers (hub->gate: a repeater, whose origin decides) for a
 * native client waiting in its handshake: the origin's challenge for it,
 * and its admission with the origin's M2 (M2_LEN 0 without a password).
 * A refusal is native_refuse().  Ignored for a client not waiting.
 */
void native_gate_challenge(struct client *c, const uint8_t *salt, size_t salt_len,
			   const uint8_t *b, size_t b_len);
void native_gate_accept(struct client *c, const uint8_t *m2, size_t m2_len);
/* Whether C is waiting for the gate's answer to its HELLO / PROOF. */
bool native_gate_waiting(const struct client *c);

/* A client left (hub_ops.left): if it was a relay, the clients it carried
 * leave with it. */
void native_relay_left(struct hub *s, struct client *c);
/* .clients: the lines for C if it is a relay (itself, then the clients it
 * carries), and true; false for any other client. */
bool native_relay_clients(struct hub *s, const struct client *c);
/* How many clients C carries if it is a relay (admitted ones), else 0. */
unsigned native_relay_carried(const struct client *c);
/* Free the session's native state (relay tickets). */
void native_hub_free(struct hub *s);

#endif
