/* SPDX-License-Identifier: MIT */
/*
 * A client's deadlines: the handshake, the first byte, the password, a
 * half-closed peer, lingering after the last word, no progress while behind,
 * and native heartbeats, all checked by the session's once-a-second sweep.
 */
#include <stdio.h>

#include "src/client.h"
#include "src/hub.h"
#include "src/native.h"
#include "src/proto.h"

/*
 * Deadlines.  One sweep a second looks at every client instead of each
 * client keeping timers of its own: a few comparisons per client per second
 * cost less than the memory and the ops of per-client timers.
 */

static void auth_deadlines(struct client *c, uint32_t now)
{
	uint32_t age = now - c->born;

	/* A terminal on a raw serial line is its line's only client, and
	 * someone may sit down at it any time: nobody waits for its place. */
	if (c->close_after_flush || link_serial_raw(&c->link))
		return;
	if (!link_secured(&c->link)) {
		/* Nothing can be said before the handshake: it just ends. */
		if (age >= CLIENT_HANDSHAKE_S)
			client_close(c, "TLS handshake not finished in time");
		return;
	}
	if (!c->heard && age >= CLIENT_FIRST_BYTE_S) {
		/* Silence holds an authenticating place that someone else could
		 * use; a real client says something at once. */
		if (c->native)
			native_refuse(c, "nothing was received for too long");
		else
			client_private(c, "\r\nringside: nothing received within %u seconds; "
				       "closing\r\n", CLIENT_FIRST_BYTE_S);
		client_finish(c);
	} else if (age >= CLIENT_AUTH_GRACE_S) {
		if (c->native)
			native_refuse(c, "the handshake took too long");
		else
			client_private(c, "\r\nringside: no password within %u seconds; closing\r\n",
				       CLIENT_AUTH_GRACE_S);
		client_finish(c);
	}
}

/* A half-closed client may still be reading, or gone: TCP cannot tell.  It
 * keeps receiving while output flows and leaves once the session is quiet. */
static void half_closed_deadline(struct client *c, uint32_t now)
{
	struct hub *s = c->hub;

	if (now - c->since < CLIENT_HALF_CLOSED_QUIET_S)
		return;
	if (!c->x || (s->tr.head == c->x->quiet_head && c->cursor == s->tr.head &&
		      !client_sending(c))) {
		client_close(c, NULL);
		return;
	}
	c->x->quiet_head = s->tr.head;
	c->since = now;
}

void client_check_deadlines(struct client *c, uint32_t now)
{
	struct hub *s = c->hub;
	unsigned limit = s->cfg->peer_timeout_s;
	char why[96];

	if (client_is_console(c) || c->state == CLIENT_CLOSING)
		return;
	if (c->lingering) {
		if (now - c->since >= CLIENT_LINGER_S)
			client_close(c, NULL);
		return;
	}
	/* (A raw serial line nobody reads holds no one up either: the lag
	 * policy skips it ahead, and it is still the line's only client.) */
	if (limit && client_sending(c) && now - c->send_started >= limit &&
	    !link_serial_raw(&c->link)) {
		snprintf(why, sizeof(why), "no progress for %u s while behind", limit);
		client_close(c, why);
		return;
	}
	switch (c->state) {
	case CLIENT_REFUSING:
		if (!c->close_after_flush && now - c->born >= CLIENT_REFUSE_LISTEN_S) {
			/* Said nothing (or half a preamble): a raw client that
			 * only listens. */
			c->detecting = false;
			client_private(c, "ringside: connection refused: %s\r\n",
				       c->x && c->x->refusal ? c->x->refusal : "refused");
			client_finish(c);
		}
		return;
	case CLIENT_AUTH:
		auth_deadlines(c, now);
		return;
	case CLIENT_LIVE:
		if (c->input_ended) {
			half_closed_deadline(c, now);
			return;
		}
		/* Native clients say something every PROTO_HEARTBEAT_S. */
		if (c->native && limit) {
			unsigned hb = limit > PROTO_READ_TIMEOUT_S ? limit : PROTO_READ_TIMEOUT_S;

			if (now - c->heard_at >= hb) {
				snprintf(why, sizeof(why), "no heartbeat for %u s", hb);
				client_close(c, why);
			}
		}
		return;
	case CLIENT_CLOSING:
		return;
	}
}
