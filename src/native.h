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

#endif
