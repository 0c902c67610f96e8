/* SPDX-License-Identifier: MIT */
/*
 * The origin's publisher (`-publish nats://...`, `.publish`): the loop's
 * half of publishing a session's transcript to NATS JetStream.  The loop
 * owns the transcript; the NATS thread (nats_bridge.c) only asks for bytes
 * from an offset (NEV_WANT) and is handed copies, one bounded batch at a
 * time, cut into records at kind boundaries.  What the transcript no longer
 * holds becomes an explicit gap record.  It also hears the edges: their
 * clients' lines (fed to the session as a local client's would be, with
 * their names; read-only refused here too) and their client lists (for
 * .clients).  Part of libringside: the runtime `.publish` is the session's,
 * and the publisher reads the transcript, which only the loop may.
 */
#ifndef RINGSIDE_NATS_PUBLISH_H
#define RINGSIDE_NATS_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "src/nats_bridge.h"

struct hub;

/* Bytes of transcript handed to the thread at once. */
#define NATS_PUB_BATCH (256 * 1024)

/* Start publishing H per SPEC (nats_conf_parse's syntax) through IMPL
 * (nbridge_nats, or a test's fake).  0, or -errno with the reason in ERR;
 * -EALREADY if it already publishes. */
int nats_pub_start(struct hub *h, const char *spec, const struct nbridge_impl *impl, char *err,
		   size_t errlen);
/* Stop publishing (`.publish off`, the end): the thread is stopped and
 * joined, the poll cancelled.  The publisher is freed by nats_pub_free()
 * once the ring has returned the poll. */
void nats_pub_stop(struct hub *h);
void nats_pub_free(struct hub *h);
/* After every loop turn: hand the thread what it asked for, if it has
 * come. */
void nats_pub_turn(struct hub *h);
/* The session is ending with STATUS: publish that once the rest is out. */
void nats_pub_ended(struct hub *h, int status);
/* The session may end: the end is published (or NATS is away, or nothing
 * publishes). */
bool nats_pub_flushed(const struct hub *h);
/* `.publish` with no argument: the state, for everyone. */
void nats_pub_show(struct hub *h);
/* `.clients`: the edges' clients, after ours; how many were listed. */
unsigned nats_pub_clients(struct hub *h);
/* `.stats`: how many clients the edges last said they have. */
unsigned nats_pub_edge_clients(struct hub *h);

#endif
