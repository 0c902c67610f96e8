/* SPDX-License-Identifier: MIT */
/*
 * npipe: WinDbg's named-pipe transport as Unix stream sockets.
 *
 * "npipe:pipe=NAME" becomes a socket DIR/NAME in a private runtime
 * directory; "-remote npipe:server=.,pipe=NAME" connects to it.  This module
 * chooses and checks the directory, checks and expands names, binds, probes
 * and removes sockets, and decides which peers may talk to whom from
 * SO_PEERCRED.  It knows nothing of sessions, clients or servers: plain
 * functions over paths, fds and credentials.
 *
 * Every function returns 0 or -errno.  Those taking ERR write there, on
 * failure, one line a user can act on: it names the directory, the pipe or
 * the uid that was wrong (ERR may be NULL).
 *
 * Who may connect to what:
 *  - The directory and the socket are private (0700, 0600) to the server's
 *    effective uid.  That alone keeps other users out; SO_PEERCRED checks
 *    are a second, independent wall.
 *  - A server admits peers of its own euid and root.  Root is admitted
 *    because it could ptrace the debugger or read the socket anyway;
 *    refusing it would only be theatre (ssh-agent does the same).
 *    allow= (struct npipe_allow) admits further users and groups.
 *  - A client talks to servers of its own euid or root, and refuses any
 *    other: a socket planted under the expected name by someone else must
 *    not get to see what the client types (a password, for one).
 *  - Serving other users needs a directory they can reach: the owner
 *    makes it searchable (chmod 711), the server passes NPIPE_DIR_SHARED and
 *    a socket mode of NPIPE_SHARED_MODE; the gate is then allow=.  Their
 *    clients name the owner's directory with $RINGSIDE_PIPE_DIR, open it
 *    with NPIPE_DIR_OTHERS and trust the owner in npipe_check_server().
 */
#ifndef RINGSIDE_NPIPE_H
#define RINGSIDE_NPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

/* Longest pipe name, before and after expansion (as WinDbg's spec allows). */
#define NPIPE_NAME_MAX 100

/* Longest socket path: sun_path less its NUL.  A path must fit there whole
 * so that socat, nc -U and our client can all reach it by name. */
#define NPIPE_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Socket modes: private, or for a server with allow= in a shared directory
 * (connect() needs write permission on the socket; SO_PEERCRED is the gate). */
#define NPIPE_SOCKET_MODE 0600
#define NPIPE_SHARED_MODE 0666

/* Listen backlog to use: a burst of clients all gets queued. */
#define NPIPE_BACKLOG 1024

/* npipe_dir() flags. */
#define NPIPE_DIR_CREATE 0x1	/* create the directory (0700) if missing */
#define NPIPE_DIR_SHARED 0x2	/* also accept group/other search bits (0711) */
#define NPIPE_DIR_OTHERS 0x4	/* a client: the owner may be another user (it then
				 * relies on npipe_check_server()); still no symlink,
				 * no group/other write or read bits */

/*
 * The runtime directory: $RINGSIDE_PIPE_DIR if set (an absolute path, used as
 * given), else $XDG_RUNTIME_DIR/ringside (when that is absolute), else
 * /tmp/ringside-EUID.  With NPIPE_DIR_CREATE only the last component is
 * created, mode 0700; parents must exist.
 *
 * The directory is opened without following a symlink in its place, then
 * checked through the open fd: a directory, owned by the euid (see
 * NPIPE_DIR_OTHERS), no group or other bits (see NPIPE_DIR_SHARED).  So a
 * directory or symlink someone planted in /tmp is refused, never used.
 *
 * The path goes to OUT (LEN >= NPIPE_PATH_MAX + 1 is always enough).  If
 * DIRFD is not NULL it gets the checked directory open O_RDONLY|O_DIRECTORY|
 * O_CLOEXEC (the caller closes it); npipe_listen() works through it, so what
 * was checked is what is used.  Errors: -ENOENT (missing and no CREATE),
 * -ELOOP (a symlink), -ENOTDIR, -EPERM (wrong owner or mode), -EINVAL
 * (relative $RINGSIDE_PIPE_DIR), -ENAMETOOLONG, or mkdir/open's own.
 */
int npipe_dir(char *out, size_t len, unsigned flags, int *dirfd, char *err, size_t errlen);

/*
 * Check a literal pipe name: 1..NPIPE_NAME_MAX characters, each an ASCII
 * letter or digit or one of . _ - + @ %, not starting with '.', no "..".
 * That excludes '/', '\', whitespace, quotes, control and non-ASCII bytes:
 * a name is one file name, one shell word and one clean line in a log.
 * The error names the first offending character.  -EINVAL or -ENAMETOOLONG.
 */
int npipe_name_check(const char *name, char *err, size_t errlen);

/*
 * Expand a server's pipe name: the first %d or %x becomes PID (decimal or
 * hex), a second one TID; %% is a literal %.  A third code or any other
 * %-sequence is an error, as is a result that npipe_name_check() refuses.
 * Clients use names literally (they see the expanded name), so this is for
 * the server side only.  -EINVAL, -ENAMETOOLONG (result over NPIPE_NAME_MAX
 * or LEN - 1).
 */
int npipe_name_expand(const char *name, pid_t pid, pid_t tid, char *out, size_t len,
		      char *err, size_t errlen);

/*
 * DIR/NAME into OUT, checking NAME (npipe_name_check) and that the whole
 * path fits a sockaddr_un (NPIPE_PATH_MAX); the error then gives the
 * length and the limit.  Both sides build the path this way.
 */
int npipe_path(const char *dir, const char *name, char *out, size_t len, char *err,
	       size_t errlen);

/* A bound, listening pipe. */
struct npipe_listener {
	int fd;				/* SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC; -1 when closed */
	int dirfd;			/* our own copy of the directory fd */
	dev_t dev;			/* the socket file as bound: unlink only that */
	ino_t ino;
	struct timespec born;		/* its birth (or change) time: inode numbers
					 * are reused once a file is gone */
	char name[NPIPE_NAME_MAX + 1];
	char path[NPIPE_PATH_MAX + 1];
};

/*
 * Bind and listen on DIR/NAME.  DIR and DIRFD come from npipe_dir(); NAME is
 * already expanded.  MODE is NPIPE_SOCKET_MODE or NPIPE_SHARED_MODE; the
 * socket never exists with wider permissions, whatever the umask.
 *
 * Something already at the path:
 *  - a socket someone answers on: -EADDRINUSE, "pipe NAME is in use by
 *    another server (PATH)".  The probe connects and closes at once, so the
 *    live server sees a peer that leaves without a word;
 *  - a socket nobody answers (ECONNREFUSED): stale, removed, bound again;
 *  - anything else: -EEXIST, left alone.
 * Concurrent starts in the directory are serialised (flock on it), so two
 * servers can not both take a stale socket for their own.  On success *L is
 * filled and owns its fds; on failure L->fd and L->dirfd are -1.
 */
int npipe_listen(const char *dir, int dirfd, const char *name, unsigned mode, int backlog,
		 struct npipe_listener *l, char *err, size_t errlen);

/*
 * Remove L's socket file, but only if the name still refers to the socket we
 * bound, then close it: a server that later found ours stale and replaced it
 * keeps its socket.  Our open socket pins its inode, so while L->fd is open
 * the device and inode numbers identify it; if the caller closed L->fd
 * before, the birth time has to tell a reused inode number apart.  Safe to
 * call twice, and on a listener whose npipe_listen() failed.
 */
void npipe_unlisten(struct npipe_listener *l);

/* Groups of a peer kept for allow= checks; a peer in more groups is matched
 * on its first ones only (refused rather than wrongly admitted). */
#define NPIPE_PEER_GROUPS 64

/* Whoever is on the other end of a connected pipe. */
struct npipe_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;			/* 0: not known (another pid namespace) */
	unsigned ngroups;		/* supplementary groups (SO_PEERGROUPS) */
	gid_t groups[NPIPE_PEER_GROUPS];
	char user[64];			/* login name, or the uid in decimal */
};

/*
 * The credentials the kernel recorded when the peer of FD connect()ed (or,
 * for a client's FD, listen()ed): SO_PEERCRED, SO_PEERGROUPS, and the user
 * name from the password database (which may consult NSS).  Names that are
 * unknown or not plain printable ASCII are shown as the number.
 */
int npipe_peer(int fd, struct npipe_peer *out);

/* allow=: whom a server admits besides its own euid and root. */
#define NPIPE_ALLOW_MAX 16

struct npipe_allow {
	unsigned n;
	struct {
		bool group;		/* id is a gid, else a uid */
		uint32_t id;
	} ent[NPIPE_ALLOW_MAX];
};

/*
 * Parse an allow= value: up to NPIPE_ALLOW_MAX entries separated by ':'
 * (',' separates spec keys; '|' would need quoting in a shell).  An entry is
 * a uid ("1000"), a user name ("alice"), "@" and a gid ("@100") or "@" and a
 * group name ("@debuggers").  Names are looked up now, so a misspelled name
 * fails at startup naming it.  A user entry matches the peer's uid; a group
 * entry its primary or supplementary gids.  -EINVAL or -E2BIG.
 */
int npipe_allow_parse(const char *text, struct npipe_allow *out, char *err, size_t errlen);

/* May PEER talk to a server running as SELF (its euid)?  SELF, root, and
 * what ALLOW (may be NULL) admits. */
bool npipe_allowed(const struct npipe_allow *allow, uid_t self, const struct npipe_peer *peer);

/* Why PEER was refused, for the line sent to it and the log:
 * "npipe NAME: uid 65534 (nobody) is not allowed; the server admits ...". */
void npipe_refusal(const char *name, const struct npipe_peer *peer, char *out, size_t len);

/*
 * "(npipe NAME pid 1234)", with TRANSPORT ("npipe", "spipe") first: what
 * follows "HOST\user" in a peer's identity; PEER->user is the user.  "pid ?" when the pid is not known.
 */
void npipe_identity(const char *transport, const char *name, const struct npipe_peer *peer,
		    char *out, size_t len);

/*
 * Is SERVER (a client's server=) this machine?  ".", "localhost",
 * 127.0.0.1, ::1, this host's name or its first label (gethostname),
 * case-insensitively, with or without a leading "\\".  Otherwise false and
 * ERR says "npipe: server=HOST: pipes are local to this machine; use tcp:
 * or ssh port forwarding to reach HOST".
 */
bool npipe_server_is_local(const char *server, char *err, size_t errlen);

/*
 * Client: a non-blocking SOCK_CLOEXEC socket connected to PATH in *FD.
 * -ENOENT / -ECONNREFUSED come with "no server on pipe NAME (PATH)";
 * -EAGAIN means the server's backlog is full (try again).
 */
int npipe_connect(const char *path, int *fd, char *err, size_t errlen);

/*
 * Client, right after connecting FD to PATH and before sending anything:
 * the socket file (lstat: a symlink is refused) must be owned, and the
 * server process (SO_PEERCRED) run, by the client's euid, root, or what
 * TRUST (may be NULL; the allow= syntax) admits.  -EPERM with the uid and
 * user name that were found; -ENOTSOCK if PATH is not a socket.
 */
int npipe_check_server(int fd, const char *path, const struct npipe_allow *trust,
		       char *err, size_t errlen);

#endif
