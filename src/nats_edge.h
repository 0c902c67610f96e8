/* SPDX-License-Identifier: MIT */
/*
 * An edge server (`ringside -edge nats://HOST:PORT,session=NAME -server
 * SPEC... [-p]`): no program of its own; a local session whose transcript
 * is filled from the session's JetStream stream at the origin's offsets,
 * served to local clients of every kind exactly as the origin serves its
 * own.  What they type goes to the origin with their names.
 */
#ifndef RINGSIDE_NATS_EDGE_H
#define RINGSIDE_NATS_EDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "include/ringside.h"
#include "src/nats_bridge.h"

struct edge_options {
	const char *nats;		/* -edge SPEC */
	char *const *servers;		/* -server: where its clients connect */
	unsigned nservers;
	bool persist;			/* -p: outlive the origin's session */
	struct ringside_params params;	/* the local session's limits */
};

/* Run until the origin's session ends (or a signal).  Returns the exit
 * status: the session's, 1 for a failure to start, 2 for a bad spec. */
int ringside_edge(const struct edge_options *opt);

/*
 * The parts, for tests (with a fake bridge) and for ringside_edge().
 */
struct nats_edge;
struct session;

/* Set up (no signals, no servers until the stream answers).  0 or -errno
 * with the reason in ERR. */
int nats_edge_new(struct nats_edge **out, const struct edge_options *opt,
		  const struct nbridge_impl *impl, char *err, size_t errlen);
void nats_edge_free(struct nats_edge *e);
/* Its local session (NULL before the stream first answered), channel,
 * the offset just after what it holds, and the last stream sequence. */
struct session *nats_edge_session(struct nats_edge *e);
struct nats_chan *nats_edge_chan(struct nats_edge *e);
uint64_t nats_edge_end(const struct nats_edge *e);
/* One turn: 0 going on, 1 ended, -errno. */
int nats_edge_run_once(struct nats_edge *e, int timeout_ms);
/* The exit status once it has ended. */
int nats_edge_status(const struct nats_edge *e);

#endif
