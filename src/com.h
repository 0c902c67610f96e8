/* SPDX-License-Identifier: MIT */
/*
 * com: servers (com.c): a server whose clients come over a channel of a
 * serial line instead of through a listening socket.  Internal to src/.
 */
#ifndef RINGSIDE_COM_H
#define RINGSIDE_COM_H

#include <stddef.h>

struct client_addr;
struct comchan;
struct hub;
struct server;

/* Open SRV's channel (SRV->spec is a com: server spec); the line is opened
 * when this is its first channel.  0, or -errno with ERR saying what is
 * wrong with the device, the rate or the channel. */
int com_server_start(struct server *srv, char *err, size_t errlen);
/* SRV is registered: it serves (a raw line gets its client now). */
void com_server_run(struct server *srv);
/* .endsrv: no new conversations; a connected client stays. */
void com_server_end(struct server *srv);
/* SRV's part, freed (its channel closed if it still is open). */
void com_server_free(struct server *srv);
/* After the ring is gone: every line of the session, closed and freed. */
void com_free_all(struct hub *h);
/* "com COM3 channel 3" or "com /dev/pts/4": how a client of SRV came. */
int com_where(const struct server *srv, char *buf, size_t len);
/* The source a client on CH counts as for wrong-password penalties. */
void com_peer(const struct comchan *ch, struct client_addr *a);

#endif
