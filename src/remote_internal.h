/* SPDX-License-Identifier: MIT */
/*
 * The -remote client's state, shared by remote.c (the connection and the
 * protocol) and remote_term.c (the terminal: libedit and display).
 */
#ifndef RINGSIDE_REMOTE_INTERNAL_H
#define RINGSIDE_REMOTE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "ring/ring.h"
#include "src/auth.h"
#include "src/proto.h"
#include "src/remote.h"
#include "src/spec.h"

#define BACKOFF_FIRST_NS (250ull * 1000000u)
#define BACKOFF_MAX_NS (8ull * 1000000000u)
#define GIVE_UP_SECONDS 60
#define RECV_SIZE (64 * 1024)

enum conn_state {
	CONN_DOWN,
	CONN_CONNECTING,
	CONN_HANDSHAKE,		/* preamble sent, waiting for ACCEPT */
	CONN_LIVE,
};

struct remote {
	struct ring ring;
	struct spec spec;
	const struct remote_options *opt;
	bool interactive;
	bool color;
	char identity[128];
	char password[SPEC_PASSWORD_MAX + 1];
	bool have_password;

	struct sockaddr_storage addr;
	socklen_t addr_len;
	int fd;
	enum conn_state st;
	struct ring_op connect_op, recv_op, send_op, stdin_op, signal_op;
	bool recv_inflight, send_inflight, stdin_inflight, signal_inflight;
	struct ring_timer backoff_timer, quiet_timer;
	uint64_t backoff_ns;
	time_t down_since;
	bool ever_joined;

	uint8_t rbuf[RECV_SIZE];
	unsigned preamble_got;
	bool preamble_seen;
	struct proto_reader reader;
	struct auth_client *auth;
	bool server_wants_auth;

	uint8_t session[16];
	bool have_session;
	uint64_t next_seq;	/* first transcript offset not shown yet */
	bool have_seq;

	struct buf {
		uint8_t *p;
		size_t len, cap;
	} out, held;		/* records for this connection; lines typed before it was live */
	size_t out_sending;

	int signal_fd;
	bool stdin_eof;
	uint64_t last_rx;	/* when a record last arrived */
	bool leaving;		/* BYE queued: close when it is sent */
	bool ended;		/* the hosted program has ended */
	bool done;
	int exit_code;
	char partial[4096];	/* non-terminal stdin: a line being assembled */
	char tail[256];		/* output after the last newline: the prompt */
	size_t tail_len;
	size_t partial_len;
};

/* remote.c */
void remote_send_line(struct remote *r, const char *line, size_t len);
void remote_leave(struct remote *r);
bool remote_wants_to_leave(const char *line);
void remote_finish(struct remote *r, int code);
/* A message from the client itself (stderr when not on a terminal). */
void remote_say(struct remote *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* remote_term.c */
void remote_term_start(struct remote *r);
void remote_term_stop(struct remote *r);
/* Feed the line editor what the terminal has ready. */
void remote_term_on_input(struct remote *r);
/* Show session bytes; NOTICE dims them on a colour terminal. */
void remote_term_show(struct remote *r, const char *p, size_t n, bool notice);
void remote_term_interrupted(struct remote *r);
/* Ask for the password on /dev/tty without echo; 0 when one was typed. */
int remote_term_read_password(struct remote *r);

#endif
