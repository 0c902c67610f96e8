/* SPDX-License-Identifier: MIT */
/*
 * The one meeting point of the loop and the NATS thread (nats_bridge.c):
 * two queues of items under a mutex.  The thread posts events (connected,
 * where publishing goes on, records, input, presence) and an eventfd wakes
 * the loop, which polls it on its ring; the loop sends commands (a batch of
 * records to publish, a line to send) and a condition variable wakes the
 * thread.  An item belongs to whoever holds it: the poster gives it up, the
 * taker frees it.  Neither side ever waits on the other for long: the loop
 * never waits at all, and the thread waits for room (bounded events) at
 * most the time it is given.
 */
#ifndef RINGSIDE_NATS_CHAN_H
#define RINGSIDE_NATS_CHAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/nats_msg.h"

enum nats_item_type {
	/* thread -> loop */
	NEV_UP,		/* connected; origin: rec.session is the stream's last
			 * session; edge: rec holds the stream's newest record */
	NEV_DOWN,	/* the connection is gone (a batch in flight is dropped) */
	NEV_WANT,	/* origin: publish from offset A on (answers every batch) */
	NEV_RECORD,	/* edge: a record at stream sequence SEQ */
	NEV_INPUT,	/* origin: a line from an edge (in, data) */
	NEV_PRESENCE,	/* origin: an edge's presence message (pres, data) */
	NEV_PRESENCE_ASK,/* edge: the origin asks for a snapshot (pres) */
	NEV_LOG,	/* a line for the operator (data) */
	/* loop -> thread */
	NCMD_RECORD,	/* publish rec with data (a batch is a run of these) */
	NCMD_BATCH_END,	/* the batch that started at A ends here */
	NCMD_INPUT,	/* edge: send in (+ data) to the origin */
	NCMD_PRESENCE,	/* edge: send a presence message (pres, data) */
	NCMD_PRESENCE_ASK,/* origin: ask edge pres.edge for a snapshot */
};

struct nats_item {
	struct nats_item *next;
	enum nats_item_type type;
	uint64_t a;			/* NEV_WANT, NCMD_BATCH_END: an offset */
	uint64_t seq;			/* NEV_RECORD: its stream sequence */
	struct nats_rec rec;
	struct nats_input in;
	struct nats_pres pres;
	char text[NATS_NAME_MAX + 1];
	size_t len;
	char data[];			/* LEN bytes */
};

struct nats_chan {
	pthread_mutex_t mu;
	pthread_cond_t cond;		/* commands, room, or stop */
	int efd;			/* the loop's wake-up */
	struct nats_item *ev, **ev_tail;
	size_t ev_bytes;		/* data of the events waiting */
	struct nats_item *cmd, **cmd_tail;
	bool stop;
};

/* An item with room for LEN bytes of data (zeroed but for the data). */
struct nats_item *nats_item_new(enum nats_item_type type, size_t len);
void nats_item_free_list(struct nats_item *it);

int nats_chan_init(struct nats_chan *ch);
/* Frees what is still queued either way. */
void nats_chan_free(struct nats_chan *ch);

/* Thread: post an event and wake the loop. */
void nats_chan_post(struct nats_chan *ch, struct nats_item *it);
/* Thread: wait (at most TIMEOUT_MS) until the events waiting hold fewer
 * than LIMIT bytes; whether they do. */
bool nats_chan_wait_room(struct nats_chan *ch, size_t limit, int timeout_ms);
/* Thread: the next command, waiting at most TIMEOUT_MS; NULL on timeout
 * or once stopping (*STOP says which). */
struct nats_item *nats_chan_next_cmd(struct nats_chan *ch, int timeout_ms, bool *stop);
/* Thread: drop every command waiting (a connection lost). */
void nats_chan_drop_cmds(struct nats_chan *ch);

/* Loop: every event waiting, oldest first (clears the eventfd). */
struct nats_item *nats_chan_take(struct nats_chan *ch);
/* Loop: hand commands (a list, in order) to the thread. */
void nats_chan_send(struct nats_chan *ch, struct nats_item *list);
/* Loop: tell the thread to stop. */
void nats_chan_stop(struct nats_chan *ch);

#endif
