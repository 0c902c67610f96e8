/* SPDX-License-Identifier: MIT */
/*
 * The loop <-> NATS thread queues (nats_chan.h).  Items are handed over
 * whole: the side that takes an item owns it from then on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "src/nats_chan.h"

struct nats_item *nats_item_new(enum nats_item_type type, size_t len)
{
	struct nats_item *it = malloc(sizeof(*it) + len + 1);

	if (!it)
		return NULL;
	memset(it, 0, sizeof(*it));
	it->type = type;
	it->len = len;
	it->data[len] = '\0';
	return it;
}

void nats_item_free_list(struct nats_item *it)
{
	while (it) {
		struct nats_item *next = it->next;

		free(it);
		it = next;
	}
}

int nats_chan_init(struct nats_chan *ch)
{
	pthread_condattr_t ca;

	memset(ch, 0, sizeof(*ch));
	ch->ev_tail = &ch->ev;
	ch->cmd_tail = &ch->cmd;
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd < 0)
		return -errno;
	pthread_mutex_init(&ch->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ch->cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

void nats_chan_free(struct nats_chan *ch)
{
	if (ch->efd < 0)
		return;
	nats_item_free_list(ch->ev);
	nats_item_free_list(ch->cmd);
	pthread_mutex_destroy(&ch->mu);
	pthread_cond_destroy(&ch->cond);
	close(ch->efd);
	ch->efd = -1;
	ch->ev = ch->cmd = NULL;
}

static void deadline(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

void nats_chan_post(struct nats_chan *ch, struct nats_item *it)
{
	bool was_empty;

	it->next = NULL;
	pthread_mutex_lock(&ch->mu);
	was_empty = !ch->ev;
	*ch->ev_tail = it;
	ch->ev_tail = &it->next;
	ch->ev_bytes += it->len;
	pthread_mutex_unlock(&ch->mu);
	/* One wake-up per batch of events: the loop takes them all. */
	if (was_empty && eventfd_write(ch->efd, 1) < 0) {
		/* The counter is full: readable anyway. */
	}
}

bool nats_chan_wait_room(struct nats_chan *ch, size_t limit, int timeout_ms)
{
	struct timespec ts;
	bool room;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&ch->mu);
	while (ch->ev_bytes >= limit && !ch->stop)
		if (pthread_cond_timedwait(&ch->cond, &ch->mu, &ts) == ETIMEDOUT)
			break;
	room = ch->ev_bytes < limit;
	pthread_mutex_unlock(&ch->mu);
	return room;
}

struct nats_item *nats_chan_next_cmd(struct nats_chan *ch, int timeout_ms, bool *stop)
{
	struct nats_item *it = NULL;
	struct timespec ts;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&ch->mu);
	while (!ch->cmd && !ch->stop)
		if (pthread_cond_timedwait(&ch->cond, &ch->mu, &ts) == ETIMEDOUT)
			break;
	if (ch->cmd && !ch->stop) {
		it = ch->cmd;
		ch->cmd = it->next;
		if (!ch->cmd)
			ch->cmd_tail = &ch->cmd;
		it->next = NULL;
	}
	*stop = ch->stop;
	pthread_mutex_unlock(&ch->mu);
	return it;
}

void nats_chan_drop_cmds(struct nats_chan *ch)
{
	struct nats_item *list;

	pthread_mutex_lock(&ch->mu);
	list = ch->cmd;
	ch->cmd = NULL;
	ch->cmd_tail = &ch->cmd;
	pthread_mutex_unlock(&ch->mu);
	nats_item_free_list(list);
}

struct nats_item *nats_chan_take(struct nats_chan *ch)
{
	struct nats_item *list;
	eventfd_t ignored;

	if (eventfd_read(ch->efd, &ignored) < 0) {
		/* EAGAIN: nothing was posted since the last take. */
	}
	pthread_mutex_lock(&ch->mu);
	list = ch->ev;
	ch->ev = NULL;
	ch->ev_tail = &ch->ev;
	if (ch->ev_bytes) {
		ch->ev_bytes = 0;
		/* A thread waiting for room may go on. */
		pthread_cond_broadcast(&ch->cond);
	}
	pthread_mutex_unlock(&ch->mu);
	return list;
}

void nats_chan_send(struct nats_chan *ch, struct nats_item *list)
{
	struct nats_item *last = list;

	if (!list)
		return;
	while (last->next)
		last = last->next;
	pthread_mutex_lock(&ch->mu);
	*ch->cmd_tail = list;
	ch->cmd_tail = &last->next;
	pthread_cond_broadcast(&ch->cond);
	pthread_mutex_unlock(&ch->mu);
}

void nats_chan_stop(struct nats_chan *ch)
{
	pthread_mutex_lock(&ch->mu);
	ch->stop = true;
	pthread_cond_broadcast(&ch->cond);
	pthread_mutex_unlock(&ch->mu);
}
