/* SPDX-License-Identifier: MIT */
/*
 * com: servers (com.c): a server whose clients come over a channel of a
 * serial line instead of through a listening socket.  Internal to src/.
 */
#ifndef RINGSIDE_COM_H
#define RINGSIDE_COM_H

#include <stdbool.h>
#include <stddef.h>

struct client;
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
/*
 * What a terminal on a raw line typed (N bytes at DATA, its Enter already a
 * LF: the link maps CR and CR LF), cooked in place as a tty's line
 * discipline would for a plain terminal: backspace and DEL erase, ^U kills
 * the line, ^C is an interrupt (*INTERRUPT) that drops the line typed so
 * far, and everything is echoed, except a password.  Returns the bytes
 * left for the line reader.
 */
size_t com_terminal_input(struct client *c, char *data, size_t n, bool *interrupt);
/* The source a client on CH counts as for wrong-password penalties. */
void com_peer(const struct comchan *ch, struct client_addr *a);

#endif
