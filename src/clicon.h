/* SPDX-License-Identifier: MIT */
/*
 * Reverse connections: a server with clicon= dials its client (clicon.c).
 * Internal to src/.
 */
#ifndef RINGSIDE_CLICON_H
#define RINGSIDE_CLICON_H

#include <stdbool.h>
#include <stddef.h>

struct server;

/* Resolve the spec's clicon= host and start dialing.  0, or -errno with
 * ERR naming the host. */
int clicon_start(struct server *srv, char *err, size_t errlen);
/* .endsrv: no more attempts (a connected client stays). */
void clicon_stop(struct server *srv);
/* The server's client closed: WHY is NULL when it left deliberately (the
 * server then ends), else why it was dropped (the server dials again). */
void clicon_client_closed(struct server *srv, const char *why);
/* An attempt or a timer is still in flight. */
bool clicon_busy(const struct server *srv);
void clicon_free(struct server *srv);

#endif
