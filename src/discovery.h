/* SPDX-License-Identifier: MIT */
/*
 * Discovery (-QR): each session keeps one record file listing its
 * non-hidden servers, and `ringside -QR` reads every record on the machine.
 *
 * Where records live: a session run by root writes to /run/ringside/
 * (machine-wide, readable by everyone: WinDbg lists only elevated servers
 * to other users); any other session writes to its user's runtime directory
 * (the one npipe uses), where only that user's -QR finds it.  A record is
 * "<dir>/.session-PID-N" (a name no pipe can have), replaced atomically
 * whenever the session's servers change and removed at the end.
 *
 * A record names its process by pid and start time, so a record left by a
 * killed session (or whose pid was reused) is recognised and pruned by the
 * next -QR; each server also names its endpoint (a TCP port, a socket
 * path), and a server whose endpoint is not listening is not listed.
 */
#ifndef RINGSIDE_DISCOVERY_H
#define RINGSIDE_DISCOVERY_H

#include <stdio.h>

#define DISCOVERY_MACHINE_DIR "/run/ringside"

struct discovery {
	char dir[4096];		/* "" (the default place) or where tests want it */
	char path[4096 + 64];	/* our record, "" when there is none */
	unsigned seq;		/* N of the record name (sessions per process) */
};

enum discovery_kind {
	DISCOVERY_TCP,		/* ENDPOINT is the port */
	DISCOVERY_UNIX,		/* ENDPOINT is the socket's path */
};

struct discovery_server {
	enum discovery_kind kind;
	unsigned port;
	const char *path;
	const char *listing;	/* "tcp:Port=5005": what -QR prints */
};

/*
 * Replace this session's record with N servers (N == 0 removes it).  HOST
 * is the machine name shown after "Server=".  0 or -errno with ERR saying
 * what failed; a failure only means the session is not discoverable.
 */
int discovery_publish(struct discovery *d, const char *host, const struct discovery_server *srv,
		      unsigned n, char *err, size_t errlen);
/* Remove this session's record, if any. */
void discovery_withdraw(struct discovery *d);

/*
 * -QR: print "Servers on \\HOST:" and one "Debugger Server - SPEC,Server=HOST"
 * line per live, listening server of every record found, pruning records
 * of dead processes that we may remove.  Returns 0.  DIRS (NULL: the
 * machine directory and the user's runtime directory) is for tests.
 */
int discovery_list(FILE *out, const char *host, const char *const *dirs);

/*
 * -QR HOST: run `ringside -QR` on HOST over ssh (its config, keys and
 * known_hosts decide trust) and copy its answer.  Returns the exit code
 * for the CLI; messages go to stderr.
 */
int discovery_list_remote(const char *host);

/*
 * -QR [HOST] for the CLI: list the debugging servers on this machine (HOST
 * NULL, ".", "localhost" or this machine's name, with or without a leading
 * \\\\), or on HOST through ssh.  Returns the exit status.
 */
int ringside_query_servers(const char *host);

#endif
