/* SPDX-License-Identifier: MIT */
/*
 * libringside: share a debugging session with many clients, the way WinDbg's
 * debugging server does, from inside your own program.
 *
 * A session owns one io_uring loop, a transcript (one bounded copy of
 * everything said, which every client reads from with a cursor of its
 * own) and the servers clients connect through (`tcp:port=5005`,
 * `npipe:pipe=NAME`, with or without a password).  Clients are the
 * `ringside -remote` client, or any nc, socat or telnet.  What is said comes
 * either from a program the session hosts on a pseudo-terminal
 * (ringside_spawn) or from the host itself (ringside_write); what clients
 * type goes to that program, or to the host's command callback.
 *
 * Rules for every function here:
 *  - Handles are opaque; a session is used from one thread at a time, the
 *    thread that created it (its ring is set up single-issuer).  Callbacks
 *    run on that thread, from inside ringside_run_once() or ringside_run().
 *  - Errors are negative errno values.  Functions that take ERR/ERRLEN also
 *    write a one-line message there naming what was wrong (ERR may be NULL).
 *  - Nothing process-wide happens unless the host asks (ringside_take_process):
 *    no signal dispositions or masks, no rlimits, fds 0/1/2 untouched, and
 *    nothing is printed (log lines go to the log callback, if any).  Sockets
 *    are written with MSG_NOSIGNAL.  The library never calls exit().
 *  - Strings passed in are copied; strings passed to callbacks are valid
 *    until the callback returns.
 */
#ifndef LIBRINGSIDE_H
#define LIBRINGSIDE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGSIDE_VERSION_MAJOR 0
#define RINGSIDE_VERSION_MINOR 2
#define RINGSIDE_VERSION_PATCH 0
#define RINGSIDE_VERSION "0.2.0"

/* A session. */
struct ringside;

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *ringside_version(void);

/*
 * Who a callback is about.  Valid only during the callback.
 */
struct ringside_client {
	unsigned id;		/* 1, 2, ... in order of arrival; 0 is the host console */
	const char *identity;	/* "HOST\\user (tcp 127.0.0.1:51234)", as .clients shows it */
	const char *transport;	/* "tcp", "npipe" or "console" */
	int readonly;		/* 1: joined through a read-only server */
	int native;		/* 1: the ringside client (framed), 0: a raw text client */
};

/*
 * What the host hears.  Every member may be NULL.  ARG is the pointer given
 * to ringside_new().
 */
struct ringside_callbacks {
	/*
	 * Sessions without a hosted program: a command line a client typed,
	 * without its newline, for the host to run.  It has already been shown
	 * to everyone as "IDENTITY: LINE".  Lines starting with '.' that name
	 * a ringside meta-command (.server, .servers, .endsrv, .clients,
	 * .echo, .stats) are answered by the library and never get here.
	 * A read-only client's lines get here only with RINGSIDE_READONLY_COMMANDS
	 * (WHO->readonly is then 1).  Return 0 if the line was taken, or a
	 * negative errno to refuse it: the client is then told privately
	 * "ringside: command refused: " and the error's text.
	 */
	int (*command)(void *arg, const struct ringside_client *who, const char *line,
		       size_t len);
	/* Sessions without a hosted program: a client that may type pressed
	 * Ctrl+C (the host decides what breaking in means). */
	void (*interrupt)(void *arg, const struct ringside_client *who);
	/*
	 * A client is in and reads the session (after its password, if any)
	 * / has gone.  A client first taken for a raw one that then speaks
	 * the native protocol is told again under the same id with its own
	 * name once its handshake is done.
	 */
	void (*joined)(void *arg, const struct ringside_client *who);
	void (*left)(void *arg, const struct ringside_client *who);
	/* Every command line a client or the console typed that passed the
	 * line checks (meta-commands included; a read-only client's only with
	 * RINGSIDE_READONLY_COMMANDS), before it runs or is refused: enough
	 * for an audit trail of who typed what. */
	void (*typed)(void *arg, const struct ringside_client *who, const char *line,
		      size_t len);
	/* One line for the operator (a wrong password, a dropped client...),
	 * without a newline.  Without it, nothing is logged. */
	void (*log)(void *arg, const char *line);
};

/*
 * Session parameters.  Fill with ringside_params_init(), then change what
 * you need.  Sizes are bytes, times as named.
 */
struct ringside_params {
	unsigned flags;			/* RINGSIDE_READONLY_COMMANDS */
	size_t ring_bytes;		/* transcript capacity (8 MiB, at least 256 KiB) */
	size_t history_bytes;		/* history a joining client is sent (64 KiB) */
	unsigned history_lines;		/* if > 0: that many lines of history instead */
	size_t lag_bytes;		/* how far a client may fall behind; 0 = ring - 2 chunks */
	unsigned max_clients;		/* 0 = as many as the open-file limit allows */
	unsigned max_auth;		/* connections authenticating at once, per server (128) */
	unsigned line_max;		/* longest command line accepted (4096) */
	unsigned peer_timeout_s;	/* a silent or stuck peer is dropped after this; 0 = never (60) */
	unsigned flush_ms;		/* at the end, clients get this long to receive the rest (2000) */
	unsigned notice_ms;		/* joins and leaves within this window are told together (100) */
	const char *program;		/* what native clients are told is hosted (NULL: nothing,
					 * or the spawned program's name) */
	uint64_t reserved[8];		/* zero */
};

/* Read-only clients' command lines go to the command callback, marked. */
#define RINGSIDE_READONLY_COMMANDS 0x1u

void ringside_params_init(struct ringside_params *p);

/*
 * Create a session: its ring, transcript and limits; no server, no program
 * and no client yet.  PARAMS may be NULL (the defaults), CB may be NULL.
 * On success *OUT owns the session until ringside_destroy().  Needs Linux 5.19
 * or newer (io_uring provided-buffer rings).
 */
int ringside_new(struct ringside **out, const struct ringside_params *params,
		 const struct ringside_callbacks *cb, void *arg, char *err, size_t errlen);

/*
 * Host ARGV[0] (searched in PATH, ARGV NULL-terminated) on a new
 * pseudo-terminal: its output becomes the session's output, clients' command
 * lines become its input and their Ctrl+C its terminal's interrupt.  At most
 * once per session, before or after servers start.  The program's exit ends
 * the session (ringside_run() returns its exit status).  The child is
 * watched with a pidfd: no SIGCHLD handler is installed; if the host ignores
 * SIGCHLD the status is lost and reads as 0.  Password variables named by
 * servers' passenv= are removed from the program's environment.
 */
int ringside_spawn(struct ringside *s, char *const argv[], char *err, size_t errlen);

/*
 * Give the session a console: a local client that reads the session on
 * OUT_FD and types on IN_FD (a terminal, pipe or file), anonymously.  On
 * success the session owns both descriptors (closes them at the end) and
 * sets them non-blocking, so pass descriptors of your own (dup or reopen
 * them; the CLI reopens /proc/self/fd/0 and 1); on failure they stay yours.  A console writing to a pipe whose
 * reader has gone raises SIGPIPE unless it is ignored.
 */
int ringside_console(struct ringside *s, int in_fd, int out_fd, char *err, size_t errlen);

/*
 * Start a server as `.server SPEC` does ("tcp:port=5005,password=x",
 * "npipe:pipe=dbg", ...; the README lists every key).  On success *ID (may
 * be NULL) is its id for ringside_server_end() and the clients' .servers,
 * and the session tells everyone how to connect (for servers started
 * before the loop first runs, once, all together).  A bad spec, a port in
 * use or a missing store is -errno with the reason in ERR.
 */
int ringside_server_start(struct ringside *s, const char *spec, unsigned *id, char *err,
			  size_t errlen);

/*
 * Stop server ID accepting, as `.endsrv ID` does; its clients stay.  0,
 * -ENOENT for no such server, -EALREADY if it has already ended (ending
 * twice is safe).
 */
int ringside_server_end(struct ringside *s, unsigned id);

/*
 * The servers as `.servers` lists them, one per line ("0 - Debugger Server -
 * tcp:Port=5005", passwords shown as *), NUL-terminated in BUF (cut to LEN).
 * Returns the length the whole listing needs, as snprintf does.
 */
int ringside_servers(struct ringside *s, char *buf, size_t len);

/*
 * Sessions without a hosted program: append N bytes of output for every
 * client.  Bytes go in as they are (use "\r\n" line ends for terminals).
 * Returns how many were taken, or -EAGAIN when none could be because
 * clients' sends in flight hold the transcript: run the loop and write the
 * rest (wait on ringside_fd(), or call ringside_run_once() with a timeout,
 * rather than spinning: the sends complete as clients read).  Output is
 * handed to clients when the loop runs, so a host that writes many small
 * pieces runs it every so often, not after each one.  -EPIPE once the
 * session is ending, -EBUSY in a session hosting a program.
 */
ssize_t ringside_write(struct ringside *s, const void *buf, size_t n);

/*
 * Publish the session to NATS JetStream, as `.publish SPEC` does, for edge
 * servers (`ringside -edge`) to serve elsewhere: SPEC is
 * "nats://HOST:PORT[,session=NAME][,creds=FILE][,user=U,passfile=FILE]
 * [,ca=FILE][,maxbytes=N][,maxage=SECONDS]" (the README has the details;
 * NAME defaults to HOST-PID).  Publishing runs on a thread of its own and
 * never holds the loop up: while NATS is away only the edges miss out, and
 * they catch up when it is back.  Lines typed at edges reach the program
 * (or the command callback) with their typists' names.  A bad spec is
 * -EINVAL with the reason in ERR; -EALREADY if it publishes already.
 */
int ringside_publish(struct ringside *s, const char *spec, char *err, size_t errlen);

/*
 * End the session: new connections stop, everyone is told, and clients get
 * flush_ms to receive what is left; then ringside_run_once() returns 1.
 * STATUS is what ringside_run() returns and native clients are told.  A
 * hosted program is hung up instead (SIGHUP, then SIGKILL after 2 s), and
 * its exit ends the session with its own status.  Ending twice is safe.
 */
void ringside_end(struct ringside *s, int status);

/*
 * Process-wide set-up, only when the host asks for it (the CLI does):
 *  RINGSIDE_PROCESS_SIGNALS  block SIGINT, SIGTERM, SIGHUP and SIGQUIT and
 *                            take them through a signalfd: Ctrl+C at the
 *                            console's terminal interrupts the program, the
 *                            rest end the session;
 *  RINGSIDE_PROCESS_SIGPIPE  ignore SIGPIPE;
 *  RINGSIDE_PROCESS_NOFILE   raise the open-file limit to its hard limit, so
 *                            that max_clients 0 allows more clients.
 * 0 or -errno.  Call it before the loop first runs.
 */
#define RINGSIDE_PROCESS_SIGNALS 0x1u
#define RINGSIDE_PROCESS_SIGPIPE 0x2u
#define RINGSIDE_PROCESS_NOFILE 0x4u
int ringside_take_process(struct ringside *s, unsigned what, char *err, size_t errlen);

/*
 * Running it.  Either call ringside_run(), which returns when the session
 * has ended, or poll ringside_fd() for POLLIN (epoll, select, an event
 * library) and call ringside_run_once(s, 0) whenever it is readable.  The fd
 * belongs to the session; do not read or close it.  It is made on the first
 * call (a session run only through ringside_run() or ringside_run_once()
 * with a timeout never pays for it); -errno if it cannot be (EMFILE).
 */
int ringside_fd(struct ringside *s);

/*
 * One turn of the loop: wait up to TIMEOUT_MS for work (0: do not wait, -1:
 * until there is some), then do all that is ready.  Returns 0 while the
 * session goes on, 1 once it has ended, or -errno if the ring failed.
 */
int ringside_run_once(struct ringside *s, int timeout_ms);

/* Run until the session ends; returns the exit status (the program's, or
 * what ringside_end() was given, or 128 + the signal that ended it), or
 * -errno if the ring failed. */
int ringside_run(struct ringside *s);

/*
 * Close every connection, stop the program (SIGHUP) and free the session.
 * Safe with clients connected and sends in flight: it waits (at most about
 * a second) for the kernel to return every buffer first.  Never from inside
 * a callback.  S may be NULL; using S afterwards is undefined.
 */
void ringside_destroy(struct ringside *s);

#ifdef __cplusplus
}
#endif

#endif
