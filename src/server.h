/* SPDX-License-Identifier: MIT */
/*
 * Servers: one listening endpoint per spec (server.c).  Internal to src/.
 */
#ifndef RINGSIDE_SERVER_H
#define RINGSIDE_SERVER_H

#include <netinet/in.h>
#include <stdbool.h>

#include "ring/ring.h"
#include "src/auth.h"
#include "src/link.h"
#include "src/npipe.h"
#include "src/spec.h"

struct hub;
struct tls_config;
struct clicon;
struct com_server;

enum server_state {
	SERVER_ACTIVE,
	SERVER_ENDED,		/* .endsrv: no new connections */
};

struct server {
	struct hub *hub;
	unsigned id;			/* never reused */
	enum server_state state;
	struct spec spec;		/* port_lo is the port actually bound */
	int fd;
	struct auth_verifier *verifier;	/* password servers: for native clients */
	struct ring_op accept_op;
	unsigned nauthenticating;	/* its connections still authenticating */
	bool accept_inflight;
	bool closing;
	uint8_t link_kind;		/* enum link_kind of its clients */
	struct tls_config *tls;		/* ssl, spipe: its certificate and policy */
	struct clicon *clicon;		/* clicon=: it dials its client (clicon.c) */
	struct com_server *com;		/* com: its channel on a serial line (com.c) */
	/* Told when one of its clients has closed (WHY: NULL if it left). */
	void (*client_closed)(struct server *srv, const char *why);
	char address[INET6_ADDRSTRLEN];	/* tcp: what it is bound to */
	struct npipe_listener pipe;	/* npipe: the socket file, removed at the end */
	struct npipe_allow allow;	/* npipe: who else may connect */
};

int server_start(struct hub *s, const char *spec_text, char *err, size_t errlen);
/* A connection to serve on SRV (accepted, or dialed by clicon=): admitted
 * as a client, or refused with the reason. */
void server_admit(struct server *srv, int fd);
int server_end(struct hub *s, unsigned id);
void server_close_all(struct hub *s);
/* Free every server (after server_close_all() and the loop has drained). */
void server_free_all(struct hub *s);
unsigned server_active_count(const struct hub *s);

#endif
