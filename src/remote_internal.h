/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's state and the seams between its parts:
 *   remote.c       setup, the loop, signals, stdin, leaving
 *   remote_conn.c  the socket: connecting within the time budget, one send
 *                  in flight, reconnecting
 *   remote_clock.c deadlines, heartbeats, the read timeout
 *   remote_tls.c   ssl and spipe: TLS between the socket and the protocol
 *   remote_com.c   com: a channel of a serial line instead of a socket
 *   remote_trust.c deciding whether the server is the right one
 *   remote_link.c  the protocol state machine (no I/O)
 *   remote_term.c  the terminal: raw mode, keys, output above the input row
 *   remote_edit.c  the line editor (no I/O)
 *   remote_out.c   stdout and stderr as queues that never block the loop
 */
#ifndef RINGSIDE_REMOTE_INTERNAL_H
#define RINGSIDE_REMOTE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <termios.h>

#include "ring/ring.h"
#include "src/npipe.h"
#include "src/proto.h"
#include "src/remote.h"
#include "src/remote_edit.h"
#include "src/remote_link.h"
#include "src/spec.h"
#include "tls/tls.h"

#define NS_PER_SEC 1000000000ull
#define BACKOFF_FIRST_NS (250ull * 1000000u)
#define BACKOFF_MAX_NS (8 * NS_PER_SEC)
/* PROTOCOL.md 4.7: a connection attempt, connect included, gets 60 s, and a
 * series of reconnection attempts shares one such budget. */
#define GIVE_UP_SECONDS 60
#define RECV_SIZE (64 * 1024)
/* A BYE gets this long to go out before the client leaves anyway. */
#define LEAVE_WAIT_NS (2 * NS_PER_SEC)
/* Past this much output waiting for stdout the socket is not read (TCP
 * then slows the server down); reading resumes below the low mark. */
#define OUTQ_HIGH (1u << 20)
#define OUTQ_LOW (256u << 10)
/* Lines waiting for the connection: stdin is not read past this. */
#define INPUT_BACKLOG_MAX (1u << 20)
#define TAIL_MAX 1024		/* the program's unfinished line kept as the prompt */
#define TERM_NOTICE_MAX 4096	/* an unfinished notice line */

struct remote;

/* A growable byte buffer. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};

/* An output fd that is written only when it can take bytes. */
struct outq {
	int fd;
	int saved_flags;	/* the fd's flags before O_NONBLOCK; -1: untouched */
	struct bytes q;
	size_t done;		/* bytes of q already written */
	struct ring_op poll_op;
	bool poll_inflight;
	bool broken;		/* a write failed for good: output is dropped */
};

enum conn_state {
	CONN_DOWN,
	CONN_CONNECTING,
	CONN_SECURING,		/* connected; TLS is proving the server (ssl, spipe) */
	CONN_HANDSHAKE,		/* the link runs but has not gone live yet */
	CONN_LIVE,
};

struct remote_conn {
	int fd;
	enum conn_state st;
	/* Bumped whenever a connection ends: completions of ops submitted
	 * for an older one are recognised and ignored. */
	unsigned gen, connect_gen, recv_gen, send_gen;
	struct ring_op connect_op, recv_op, send_op;
	bool connect_inflight, recv_inflight, send_inflight;
	bool recv_paused;	/* stdout is behind: not reading */
	/* 'sending' belongs to the send in flight until it completes; new
	 * records go to 'pending' and the two swap when 'sending' is done.
	 * Over TLS the kernel is lent the TLS outbox instead, and 'sending'
	 * is the plaintext being encrypted into it. */
	struct bytes sending, pending;
	size_t sent;		/* bytes of 'sending' gone (over TLS: encrypted) */
	/* TLS: received ciphertext in rbuf not fed yet (the TLS inbox was
	 * full, or the server is not trusted yet); no receive until it is. */
	size_t rx_off, rx_len;
	bool want_connect;	/* connect once no op of the last connection is left */
	struct ring_timer tick, backoff;
	uint64_t tick_due;
	uint64_t budget_start;	/* when this series of attempts began */
	uint64_t deadline;	/* the handshake must be over by then; 0: paused */
	uint64_t deadline_left;	/* what was left when it was paused */
	bool deadline_paused;
	uint64_t last_rx, last_tx;
	uint64_t heartbeat_seq;
	uint64_t backoff_ns;
	uint8_t rbuf[RECV_SIZE];
};

enum rtls_mode {
	RTLS_OFF,		/* tcp, npipe */
	RTLS_PIN,		/* certuser=/machuser=: exactly that certificate */
	RTLS_FINGERPRINT,	/* fingerprint=: a certificate with that SHA-256 */
	RTLS_KNOWN,		/* neither: known_servers, or the user, decides */
};

struct remote_tls {
	enum rtls_mode mode;
	struct tls_config *cfg;
	struct tls_conn *conn;	/* this connection's, or NULL */
	/* A freed conn whose outbox the kernel still holds: its send's
	 * completion finishes it.  At most one (no new connection starts
	 * while an op of the last one is in flight). */
	struct tls_conn *dying;
	bool verified;		/* this connection's server is proven */
	bool closing;		/* close_notify is queued */
	bool looked;		/* the first byte from the server was checked */
	/* PIN: the certificate's SHA-256; FINGERPRINT: the one given; KNOWN:
	 * the one the user accepted during this run (have_want). */
	uint8_t want[TLS_SHA256_LEN];
	bool have_want;
	bool asking;		/* the user is deciding about ASKED */
	bool consented;		/* ... and said yes; not joined since */
	uint8_t asked[TLS_SHA256_LEN];
	char cert[SPEC_CERT_MAX + 1];	/* PIN: the name, for messages */
	char known_path[4096];
	char known_key[SPEC_HOST_MAX + SPEC_PIPE_MAX + 16];	/* "HOST:PORT", "\\.\pipe\NAME" */
	uint8_t plain[TLS_RECORD_PLAIN_MAX];	/* decrypted, on its way to the link */
};

struct remote_term {
	bool raw;		/* the terminal is in our mode */
	struct termios saved;
	unsigned cols;
	struct edit line;	/* commands */
	struct edit secret;	/* the password prompt */
	bool asking;		/* the password prompt is up */
	bool on_screen;		/* the input row shows (perhaps out of date) */
	bool stale;		/* the input row must be drawn again */
	char tail[TAIL_MAX];	/* the program's unfinished line: the prompt */
	size_t tail_len;
	char prompt[EDIT_PROMPT_MAX];	/* the tail as drawn */
	size_t prompt_len;
	/* The transcript ended the program's unfinished line before a notice;
	 * that line stays the prompt here, so the break is not shown. */
	bool break_pending;
	char notice[TERM_NOTICE_MAX];	/* an unfinished notice line */
	size_t notice_len;
	/* A question on the input row (echoed, unlike the password). */
	bool questioning;
	struct edit answer;
	char question[128];
	void (*answered)(struct remote *r, const char *answer);
};

struct comline;
struct comchan;
struct rcom_io;

/* com: the line, its channel, and the link of the conversation on it. */
struct remote_com {
	bool on;		/* the spec is com: */
	struct comline *lines;	/* the one line (comline.h keeps a list) */
	struct comchan *ch;
	struct rcom_io *io;	/* the conversation's link (remote_com.c) */
	bool attached;		/* the link is initialised and not closed yet */
	bool ending;		/* cancelled: waiting for its last events */
	bool noise;		/* the last conversation ended in lost frames */
	struct ring_timer retry;	/* OPEN again until answered */
	uint64_t answer_by;	/* an attempt with no answer by then fails */
};

/* One send over a line lends at most this much of 'sending'. */
#define RCOM_SEND_MAX (64u << 10)

#define REMOTE_ALLOWED_MAX 8

struct remote {
	struct ring ring;
	struct spec spec;
	const struct remote_options *opt;
	bool interactive;	/* line editing on a terminal */
	bool color;
	char identity[128];
	char password[SPEC_PASSWORD_MAX + 1];
	bool have_password;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char where[320];		/* "HOST port P" or "pipe NAME (PATH)", for messages */
	char pipe_path[NPIPE_PATH_MAX + 1];	/* npipe: the socket the server must own */
	/* clicon=: we listen, and only the server's addresses may dial in. */
	int listen_fd;
	unsigned listen_port;
	struct sockaddr_storage allowed[REMOTE_ALLOWED_MAX];
	unsigned nallowed;
	bool told_waiting;

	struct remote_conn conn;
	struct remote_tls tls;
	struct remote_com com;
	struct remote_link link;
	struct remote_term term;
	struct outq out, err;
	struct bytes held;	/* INPUT records typed before the connection was live */
	/* A repeater's output waiting for its own transcript: counted with
	 * stdout's, it stops the socket being read. */
	size_t relay_backlog;
	bool told_held;		/* the user knows lines wait for a reconnect */

	int signal_fd;
	struct ring_op signal_op, stdin_op;
	bool signal_inflight, stdin_inflight;
	struct ring_timer quiet_timer, leave_timer;
	bool stdin_eof;
	bool leaving;		/* BYE queued: finish when it is sent */
	bool hurry;		/* a signal: do not wait for stdout at exit */
	bool done;
	int exit_code;
	uint64_t last_rx;	/* for -quiet: when something last arrived */
	char partial[EDIT_LINE_MAX + 1];	/* a script's line being assembled */
	size_t partial_len;
	bool partial_overlong;
};

/* remote.c */
uint64_t remote_now(void);
/* The way to the server (connect or, with clicon=, listen), TLS, our
 * identity and the ring: what -remote and a repeater's upstream share.
 * 0 or -errno, said on stderr. */
int remote_prepare(struct remote *r, unsigned sq_entries, unsigned cq_entries);
void remote_send_line(struct remote *r, const char *line, size_t len);
void remote_interrupt(struct remote *r);
void remote_leave(struct remote *r);
bool remote_wants_to_leave(const char *line);
void remote_finish(struct remote *r, int code);
/* The client's own message: above the input row, or a line on stderr. */
void remote_say(struct remote *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After a call into the link: a failed link ends the client. */
void remote_check_link(struct remote *r);
/* Something arrived from the server (the -quiet clock restarts). */
void remote_heard(struct remote *r);

/* remote_listen.c: clicon=, the server dials in */
/* Resolve the server's addresses and listen (port or range).  0 or -errno,
 * said on stderr. */
int rlisten_setup(struct remote *r);
/* Wait for the next call: an accept on conn.connect_op. */
int rlisten_arm(struct remote *r);
/* Is the peer on FD the server?  Says so when it is not. */
bool rlisten_allowed(struct remote *r, int fd);
void rlisten_close(struct remote *r);

/* remote_conn.c */
void conn_init(struct remote *r);
/* Makes the plaintext to send next start at sending.p + sent, moving the
 * pending records there once 'sending' is done; false when there is none.
 * Only while no send is in flight from 'sending'. */
bool conn_next_plain(struct remote_conn *c);
/* Send what waits and receive again if nothing stops it. */
void conn_kick(struct remote *r);
/* Connect now if one is wanted and nothing of the last one is in flight. */
void conn_try(struct remote *r);
/* TLS has proven the server: the protocol starts. */
void conn_secured(struct remote *r);
void conn_start(struct remote *r);
/* The connection ended by itself (end of stream, an error, a timeout):
 * reconnect, or finish when that cannot help. */
void conn_lost(struct remote *r, const char *why);
/* Bytes for the server on this connection (dropped when there is none). */
void conn_send(struct remote *r, const void *p, size_t n);
/* stdout caught up: read the socket again if that had stopped. */
void conn_resume_reading(struct remote *r);
/* Nothing queued and nothing in flight to the server. */
bool conn_idle(const struct remote *r);
void conn_close(struct remote *r);
void conn_free(struct remote *r);

/* remote_clock.c */
/* When this series of connection attempts must be over. */
uint64_t budget_end(const struct remote_conn *c);
/* Arm the timer for whatever is due next. */
void conn_schedule(struct remote *r);
/* The link went live: heartbeats and the read timeout start. */
void conn_live(struct remote *r);
/* Pause (while the user types a password) or resume the handshake clock. */
void conn_pause_deadline(struct remote *r, bool pause);

/* remote_tls.c */
/* Reads the spec's TLS keys: the pinned certificate, the fingerprint or
 * known_servers.  Messages go to stderr; -errno for a spec that cannot
 * work (exit 2). */
int rtls_setup(struct remote *r);
/* Connected: the handshake starts.  Finishes the client on failure. */
void rtls_begin(struct remote *r);
/* The connection is gone (its ops may still be in flight). */
void rtls_end(struct remote *r);
/* Feed what waits in rbuf, run the handshake, pass plaintext to the link. */
void rtls_pump(struct remote *r);
/* Encrypts what waits to be sent and lends the outbox for one send.
 * False when there is nothing to send. */
bool rtls_take(struct remote *r, const void **p, size_t *len);
/* A send from the outbox completed (RES as the kernel said). */
void rtls_sent(struct remote *r, int res);
/* Queues close_notify once; true when it did (send it, then leave). */
bool rtls_close(struct remote *r);
/* Ciphertext not sent yet. */
size_t rtls_unsent(const struct remote *r);
/* Why the connection ended, when TLS knows better than the socket. */
const char *rtls_why(const struct remote *r, const char *otherwise);
void rtls_free(struct remote *r);
/* A refusal: the connection ends, the client exits 1, nothing is retried. */
void rtls_refuse(struct remote *r);

/* remote_com.c */
/* Opens the line and the channel; messages go to stderr. */
int rcom_setup(struct remote *r);
/* A connection attempt: OPEN, again every second until answered. */
void rcom_connect(struct remote *r);
/* Lend what waits in 'sending' to the conversation's link. */
void rcom_flush(struct remote *r);
/* Read the line, or stop while stdout is behind. */
void rcom_reading(struct remote *r, bool on);
/* The connection is over: the conversation ends (a CLOSE goes out). */
void rcom_end(struct remote *r);
/* The last conversation's link still waits for its events. */
bool rcom_busy(const struct remote *r);
/* The connection that just ended was broken by line noise (lost frames). */
bool rcom_noise(const struct remote *r);
/* The loop is over: what is queued goes out (briefly), the line closes
 * with its polls back.  Before ring_exit. */
void rcom_close(struct remote *r);
/* After ring_exit: whatever rcom_close could not finish. */
void rcom_free(struct remote *r);

/* remote_trust.c */
/* The handshake is over: prove the server (conn_secured()), ask the user,
 * or refuse. */
void rtrust_decide(struct remote *r);
/* Before the first join a connection ended after the user trusted its
 * server: true when a new attempt was started instead of giving up. */
bool rtrust_retry_after_consent(struct remote *r);

/* remote_term.c */
int remote_term_start(struct remote *r);
void remote_term_stop(struct remote *r);
void remote_term_on_input(struct remote *r);
void remote_term_show(struct remote *r, enum rlink_show kind, const char *p, size_t n);
/* The transcript jumped: the program's unfinished line is no prompt now. */
void remote_term_jump(struct remote *r);
void remote_term_ask_password(struct remote *r);
/* The connection that asked for a password is gone. */
void remote_term_cancel_password(struct remote *r);
/* A question on the input row; DONE gets the answer, or NULL when the user
 * gave none (Ctrl+C, Ctrl+D). */
void remote_term_ask(struct remote *r, const char *question,
		     void (*done)(struct remote *r, const char *answer));
/* Draw the input row again if output took it off the screen. */
void remote_term_refresh(struct remote *r);
void remote_term_resized(struct remote *r);

/* remote_out.c */
bool bytes_put(struct bytes *b, const void *p, size_t n);
void bytes_free(struct bytes *b);
void outq_init(struct outq *o, int fd);
void outq_restore(struct outq *o);
void outq_nonblock(struct outq *o);
void outq_put(struct outq *o, const void *p, size_t n);
size_t outq_backlog(const struct outq *o);
/* Write what the fd takes now; wait for POLLOUT on RING for the rest. */
void outq_flush(struct outq *o, struct ring *ring);
/* At exit: write the queue out, giving up after TIMEOUT_MS without
 * progress or when STOP_FD becomes readable (another signal).  True when
 * it emptied. */
bool outq_drain(struct outq *o, int stop_fd, int timeout_ms);
void outq_free(struct outq *o);

#endif
