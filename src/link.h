/* SPDX-License-Identifier: MIT */
/*
 * A link: how one client's bytes travel.  The client above it sees only
 * this interface (receive, send bytes that may point into the transcript,
 * cancel, shut down, close) and learns of completions through the events of
 * its link_ctx; it never looks at fd kinds.  Kinds: a stream socket (TCP or
 * Unix), either of them carrying TLS (link_tls.c), the host console (a
 * tty or pipe, polled and then read or written without blocking, because
 * io_uring READ/WRITE on a tty can stall the ring), and a serial channel:
 * one conversation on a channel of a serial line (link_serial.c), whose
 * poller and output queue are the line's (comline.c).
 *
 * Ownership: the bytes a send lends stay lent, unread by us and unchanged by
 * the owner, until the link reports that send complete; a link has at most
 * one send and one receive in flight and is closed only when neither is.
 */
#ifndef RINGSIDE_LINK_H
#define RINGSIDE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ring/ring.h"

enum link_kind {
	LINK_TCP,
	LINK_UNIX,
	LINK_CONSOLE,
	LINK_SERIAL,
};

struct link;

/* How a link climbs back up to its owner. */
struct link_events {
	/* Bytes arrived.  DATA is the link's until the call returns; the
	 * owner may rewrite it in place (filters shrink input there). */
	void (*received)(struct link *l, char *data, size_t n);
	/* Receiving stopped: RES is 0 when the peer stopped sending, else
	 * -errno.  Nothing more arrives unless link_recv() is called again. */
	void (*recv_ended)(struct link *l, int res);
	/* The send in flight completed: RES bytes of what it lent went out,
	 * or -errno (-ECANCELED after link_cancel()). */
	void (*sent)(struct link *l, int res);
	/* TLS only: the handshake is done; received() may follow.  Sends
	 * made before it are held and go out encrypted after it. */
	void (*secured)(struct link *l);
};

/* What every link of a session shares. */
struct link_ctx {
	struct ring *ring;
	struct ring_bufs *bufs;		/* provided buffers for socket receives */
	const struct link_events *ev;
};

struct link_tls;
struct link_serial;
struct tls_config;
struct comchan;

struct link {
	const struct link_ctx *ctx;
	struct ring_op send_op, recv_op;
	int in_fd, out_fd;		/* the same socket for socket kinds */
	int32_t slot;			/* sockets: its registered-file slot, or -1 */
	bool sending, receiving;	/* the owner's send; the receive op */
	bool wire_sending;		/* TLS: send_op carries ciphertext (or a no-op) */
	bool stopped;			/* cancelled: no receive is re-armed */
	struct link_tls *tls;		/* TLS over the socket, or NULL */
	union {				/* by kind: */
		const void *lent;	/* the console: what the pending write lends */
		struct link_serial *serial; /* LINK_SERIAL: its conversation's state */
	};
	uint32_t lent_len;
	uint8_t kind;			/* enum link_kind */
};

void link_init_socket(struct link *l, const struct link_ctx *ctx, enum link_kind kind, int fd);
void link_init_console(struct link *l, const struct link_ctx *ctx, int in_fd, int out_fd);
/* A socket link carrying TLS as the server side of CFG (a reference is
 * taken).  The handshake runs as bytes arrive; events->secured() tells when
 * it is done.  0, or -ENOMEM (the link is then a plain, closed-able socket
 * link that must not be used for I/O). */
int link_init_tls(struct link *l, const struct link_ctx *ctx, enum link_kind kind, int fd,
		  struct tls_config *cfg);

/* A link for the conversation just opened on serial channel CH (the
 * server's opened() or the client's answered(), see comline.h).  0, or
 * -ENOMEM (the link may then only be closed). */
int link_init_serial(struct link *l, const struct link_ctx *ctx, struct comchan *ch);
/* A serial link on a raw (unframed) line: a terminal, which may say nothing
 * for as long as it likes and is the one client its line can have. */
bool link_serial_raw(const struct link *l);

/* The longest native record worth sending at once on L (0: no limit of
 * its own).  A serial channel's conversation breaks at the first lost
 * frame and a client resumes from its last whole record, so there a record
 * is a few frames long. */
size_t link_record_max(const struct link *l);

/* True unless a TLS handshake is still to finish. */
bool link_secured(const struct link *l);
/* Why a TLS link failed (the handshake or a record), or why a serial
 * link's conversation ended (frames lost, a hang-up), or NULL. */
const char *link_error(const struct link *l);

/* Start receiving (a multishot receive into the provided buffers for a
 * socket, a poll-then-read loop for the console).  0 or -errno. */
int link_recv(struct link *l);

/* Lend P (LEN bytes) for one send.  0, -EBUSY when a send is in flight, or
 * -errno.  The bytes must stay put until events->sent(). */
int link_send(struct link *l, const void *p, size_t len);
/* The same for a message of several pieces (socket kinds only): M, its
 * iovec and every piece stay put until events->sent(). */
int link_sendmsg(struct link *l, struct msghdr *m);

/* Cancel whatever is in flight; its completions still arrive. */
void link_cancel(struct link *l);
/* Cancel only the send in flight (events->sent() gets -ECANCELED or what
 * went out before); receiving goes on. */
void link_cancel_send(struct link *l);
/* Our last byte has been sent: tell the peer (FIN), keep receiving. */
void link_shutdown_write(struct link *l);
/* Stop both ways at once (a socket is shut down; a console is left as is). */
void link_shutdown(struct link *l);
/* Release the descriptors.  Only once nothing is in flight. */
void link_close(struct link *l);

/* After preparing SQE on the link's socket fd: name the socket by its
 * registered slot instead, when it has one. */
static inline void link_sqe_fixed(const struct link *l, struct io_uring_sqe *sqe)
{
	if (l->slot >= 0) {
		sqe->fd = l->slot;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

static inline bool link_busy(const struct link *l)
{
	return l->sending || l->receiving || l->wire_sending;
}

#endif
