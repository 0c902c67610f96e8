/* SPDX-License-Identifier: MIT */
/*
 * The NATS side of a published session: a thread of its own that talks to
 * nats-server through libnats (the only file that does), and to the loop
 * only through a nats_chan (nats_chan.h).  It never sees the transcript:
 * the origin's loop hands it copies of records to publish when it asks
 * (NEV_WANT), and an edge's loop takes the records it posts.
 *
 * Origin: the stream (created or updated, bounded by bytes and age), the
 * stream's last record read at every (re)connect to learn where publishing
 * goes on (a stream left by another session is purged), records published
 * in order and acknowledged by JetStream, and the input and presence
 * subjects heard.  Edge: an ordered consumer from the stream sequence the
 * edge needs (at first, the newest WANT_BYTES of the stream; after any
 * fault, the one after the last it posted), and its input and presence
 * sent to the origin.
 *
 * The loop-side code reaches the bridge through struct nbridge_impl, so
 * that unit tests can put a fake in its place and play the thread's part
 * through the channel themselves.
 */
#ifndef RINGSIDE_NATS_BRIDGE_H
#define RINGSIDE_NATS_BRIDGE_H

#include <stdint.h>

#include "src/nats_chan.h"
#include "src/nats_msg.h"

enum nbridge_role { NBRIDGE_ORIGIN, NBRIDGE_EDGE };

struct nbridge_params {
	struct nats_conf conf;
	enum nbridge_role role;
	uint8_t session[16];	/* origin: ours (a stream holding another is purged) */
	uint64_t want_bytes;	/* edge: how much of the stream to start with */
};

struct nbridge;

struct nbridge_impl {
	/* Start the thread; it owns nothing of the caller's but CH, which
	 * must outlive stop().  0 or -errno with the reason in ERR. */
	int (*start)(struct nbridge **out, const struct nbridge_params *p, struct nats_chan *ch,
		     char *err, size_t errlen);
	/* Stop it and wait for it (bounded: libnats' own timeouts). */
	void (*stop)(struct nbridge *b);
};

extern const struct nbridge_impl nbridge_nats;

#endif
