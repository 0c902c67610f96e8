/* SPDX-License-Identifier: MIT */
/*
 * The TLS half of a socket link (link_tls.c), for link.c only: link.c keeps
 * the receive op and hands ciphertext here; every other call that a TLS
 * link answers differently is routed here by link.c.
 */
#ifndef RINGSIDE_LINK_TLS_H
#define RINGSIDE_LINK_TLS_H

#include <stddef.h>
#include <sys/socket.h>

#include "src/link.h"

int link_tls_init(struct link *l, struct tls_config *cfg);
/* Ciphertext received: feed, handshake, decrypt, deliver. */
void link_tls_received(struct link *l, const char *data, size_t n);
int link_tls_send(struct link *l, const void *p, size_t len);
int link_tls_sendmsg(struct link *l, struct msghdr *m);
void link_tls_cancel_send(struct link *l);
/* link_cancel(): l->stopped is set and the receive is link.c's. */
void link_tls_cancel(struct link *l);
void link_tls_shutdown_write(struct link *l);
bool link_tls_secured(const struct link *l);
/* The connection failed: nothing more is received. */
bool link_tls_failed(const struct link *l);
const char *link_tls_error(const struct link *l);
void link_tls_free(struct link *l);

#endif
