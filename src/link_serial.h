/* SPDX-License-Identifier: MIT */
/*
 * The serial-channel link kind (link_serial.c), for link.c only: link.c
 * routes every call a LINK_SERIAL link answers differently here.
 */
#ifndef RINGSIDE_LINK_SERIAL_H
#define RINGSIDE_LINK_SERIAL_H

#include <stddef.h>
#include <sys/socket.h>

#include "src/link.h"

int link_serial_recv(struct link *l);
int link_serial_send(struct link *l, const void *p, size_t len);
int link_serial_sendmsg(struct link *l, struct msghdr *m);
void link_serial_cancel(struct link *l);
void link_serial_cancel_send(struct link *l);
void link_serial_shutdown_write(struct link *l);
void link_serial_close(struct link *l);
/* A few frames' worth: see link_record_max(). */
size_t link_serial_record_max(const struct link *l);
/* Why the conversation ended, in words (lost frames, a hang-up...), or
 * NULL when it has not or ended plainly. */
const char *link_serial_error(const struct link *l);

#endif
