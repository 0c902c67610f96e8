/* SPDX-License-Identifier: MIT */
/*
 * npipe: named pipes as Unix stream sockets in a private runtime directory.
 * The directory and names are checked here, sockets bound, probed and
 * removed here, and peers judged by the credentials the kernel recorded.
 *
 * The directory is the first wall and the one most easily got wrong: in
 * /tmp anyone may have made /tmp/ringside-UID first, or left a symlink
 * there.  So it is opened once, without following a symlink, and judged by
 * fstat() on that fd rather than by a path that could change between the
 * check and the use.  Everything after that goes through the fd (fstatat,
 * unlinkat, flock) except bind() and connect(), which take a path: Linux has
 * no bindat().  After bind() the new socket must be found through the fd,
 * so a directory swapped for another one in between is noticed and refused.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "src/npipe.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Names and paths quoted in messages: control bytes become '?' so that an
 * error stays one line and cannot drive the terminal it is shown on. */
#define ECHO_MAX 120

static const char *echo(char dst[ECHO_MAX + 4], const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < ECHO_MAX; i++) {
		unsigned char c = s[i];

		dst[i] = c < 0x20 || c >= 0x7f ? '?' : c;
	}
	strcpy(dst + i, s[i] ? "..." : "");
	return dst;
}

/* "alice", or the number when the database does not know the uid or the
 * name is anything but plain printable ASCII (it ends up in identities). */
static void user_name(uid_t uid, char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *p;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name[0]) {
		for (p = res->pw_name; *p; p++)
			if (!isgraph((unsigned char)*p) || *p == '\\')
				break;
		if (!*p && (size_t)(p - res->pw_name) < len) {
			strcpy(out, res->pw_name);
			return;
		}
	}
	snprintf(out, len, "%u", (unsigned)uid);
}

/* "uid 65534 (nobody)" or "uid 4242" for messages. */
static const char *uid_text(uid_t uid, char out[96])
{
	char name[64];

	user_name(uid, name, sizeof(name));
	if (strtoul(name, NULL, 10) == uid && isdigit((unsigned char)name[0]))
		snprintf(out, 96, "uid %u", (unsigned)uid);
	else
		snprintf(out, 96, "uid %u (%s)", (unsigned)uid, name);
	return out;
}

/* ---- the directory ---- */

static int choose_dir(char *out, size_t len, char *err, size_t errlen)
{
	const char *env = getenv("RINGSIDE_PIPE_DIR");
	char e[ECHO_MAX + 4];
	int n;

	if (env && *env) {
		if (env[0] != '/')
			return fail(err, errlen, -EINVAL,
				    "RINGSIDE_PIPE_DIR=%s: expected an absolute path", echo(e, env));
		n = snprintf(out, len, "%s", env);
	} else if ((env = getenv("XDG_RUNTIME_DIR")) && env[0] == '/') {
		/* A relative XDG_RUNTIME_DIR is invalid by the spec: ignored. */
		n = snprintf(out, len, "%s/ringside", env);
	} else {
		n = snprintf(out, len, "/tmp/ringside-%u", (unsigned)geteuid());
	}
	if (n < 0 || (size_t)n >= len || (size_t)n > NPIPE_PATH_MAX - 2)
		return fail(err, errlen, -ENAMETOOLONG,
			    "pipe directory %s...: too long for a Unix socket path (at most %zu bytes with the pipe name)",
			    echo(e, out), NPIPE_PATH_MAX);
	/* A trailing slash would double up in DIR/NAME; "/" itself stays. */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

int npipe_dir(char *out, size_t len, unsigned flags, int *dirfd, char *err, size_t errlen)
{
	char e[ECHO_MAX + 4], who[96];
	struct stat st;
	bool made = false;
	mode_t bad;
	int fd, rc;

	if (dirfd)
		*dirfd = -1;
	rc = choose_dir(out, len, err, errlen);
	if (rc)
		return rc;
	echo(e, out);

	/* mkdir() never follows a symlink in its way: it fails with EEXIST,
	 * and the open below then refuses the link. */
	if (flags & NPIPE_DIR_CREATE) {
		if (mkdir(out, 0700) == 0)
			made = true;
		else if (errno != EEXIST)
			return fail(err, errlen, -errno, "pipe directory %s: cannot create it: %s",
				    e, strerror(errno));
	}
	fd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return fail(err, errlen, rc, "pipe directory %s does not exist (no server has made a pipe there)", e);
		/* ELOOP for a symlink; ENOTDIR for a file, also one a symlink
		 * in place of the directory points to. */
		if (rc == -ELOOP || (rc == -ENOTDIR && lstat(out, &st) == 0 && S_ISLNK(st.st_mode)))
			return fail(err, errlen, -ELOOP,
				    "pipe directory %s is a symbolic link; refusing to follow it (remove it, or set RINGSIDE_PIPE_DIR to a directory of your own)", e);
		if (rc == -ENOTDIR)
			return fail(err, errlen, rc, "pipe directory %s is not a directory; remove it or set RINGSIDE_PIPE_DIR", e);
		return fail(err, errlen, rc, "pipe directory %s: %s", e, strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return fail(err, errlen, rc, "pipe directory %s: %s", e, strerror(-rc));
	}
	/* mkdir's mode went through the umask: make ours exactly 0700. */
	if (made && (st.st_mode & 07777) != 0700 && st.st_uid == geteuid() && fchmod(fd, 0700) == 0)
		st.st_mode = (st.st_mode & ~07777) | 0700;

	if (st.st_uid != geteuid() && !(flags & NPIPE_DIR_OTHERS)) {
		close(fd);
		return fail(err, errlen, -EPERM,
			    "pipe directory %s belongs to %s, not to you (uid %u); remove it or set RINGSIDE_PIPE_DIR to a directory of your own",
			    e, uid_text(st.st_uid, who), (unsigned)geteuid());
	}
	bad = flags & (NPIPE_DIR_SHARED | NPIPE_DIR_OTHERS) ? 066 : 077;
	if (st.st_mode & bad) {
		close(fd);
		return fail(err, errlen, -EPERM,
			    "pipe directory %s has mode %04o; it must not be open to other users: chmod 700 %s%s",
			    e, (unsigned)(st.st_mode & 07777), e,
			    bad == 066 ? " (or 711 to let allow= users reach a pipe)" : "");
	}
	if (dirfd)
		*dirfd = fd;
	else
		close(fd);
	return 0;
}

/* ---- names ---- */

static bool name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '+' || c == '@' || c == '%';
}

static void char_name(unsigned char c, char out[32])
{
	switch (c) {
	case ' ':  strcpy(out, "a space"); break;
	case '\t': strcpy(out, "a tab"); break;
	case '/':  strcpy(out, "a slash '/'"); break;
	case '\\': strcpy(out, "a backslash"); break;
	case '"':  strcpy(out, "a double quote"); break;
	case '\'': strcpy(out, "a single quote"); break;
	default:
		if (c < 0x20 || c >= 0x7f)
			snprintf(out, 32, "byte 0x%02X", c);
		else
			snprintf(out, 32, "'%c'", c);
	}
}

#define NAME_CHARS "letters, digits and . _ - + @ %%"	/* a format */

int npipe_name_check(const char *name, char *err, size_t errlen)
{
	char e[ECHO_MAX + 4], what[32];
	size_t i, n = strlen(name);

	echo(e, name);
	if (n == 0)
		return fail(err, errlen, -EINVAL, "empty pipe name");
	if (n > NPIPE_NAME_MAX)
		return fail(err, errlen, -ENAMETOOLONG, "pipe name %s is %zu characters; at most %d",
			    e, n, NPIPE_NAME_MAX);
	for (i = 0; i < n; i++) {
		if (!name_char_ok(name[i])) {
			char_name(name[i], what);
			return fail(err, errlen, -EINVAL, "pipe name \"%s\": %s is not allowed (use " NAME_CHARS ")",
				    e, what);
		}
	}
	/* Hidden files, "." and "..": a name is one plain file in the directory. */
	if (name[0] == '.')
		return fail(err, errlen, -EINVAL, "pipe name \"%s\" may not start with '.'", e);
	if (strstr(name, ".."))
		return fail(err, errlen, -EINVAL, "pipe name \"%s\" may not contain \"..\"", e);
	return 0;
}

int npipe_name_expand(const char *name, pid_t pid, pid_t tid, char *out, size_t len,
		      char *err, size_t errlen)
{
	char e[ECHO_MAX + 4];
	size_t o = 0, i;
	int codes = 0;

	echo(e, name);
	if (len == 0)
		return -ENAMETOOLONG;
	for (i = 0; name[i]; i++) {
		char buf[32];
		const char *add = buf;
		size_t n;

		if (name[i] != '%') {
			buf[0] = name[i];
			buf[1] = '\0';
		} else if (name[i + 1] == '%') {
			strcpy(buf, "%");
			i++;
		} else if (name[i + 1] == 'd' || name[i + 1] == 'x') {
			pid_t v = codes == 0 ? pid : tid;

			if (++codes > 2)
				return fail(err, errlen, -EINVAL,
					    "pipe name \"%s\": more than two %%d/%%x codes (the first is the process id, the second the thread id)", e);
			snprintf(buf, sizeof(buf), name[i + 1] == 'd' ? "%u" : "%x", (unsigned)v);
			i++;
		} else {
			return fail(err, errlen, -EINVAL,
				    "pipe name \"%s\": '%%' must be followed by d, x (process id, then thread id) or %% (a literal %%)", e);
		}
		n = strlen(add);
		if (o + n >= len || o + n > NPIPE_NAME_MAX)
			return fail(err, errlen, -ENAMETOOLONG,
				    "pipe name \"%s\": longer than %d characters once expanded", e,
				    NPIPE_NAME_MAX);
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return npipe_name_check(out, err, errlen);
}

int npipe_path(const char *dir, const char *name, char *out, size_t len, char *err,
	       size_t errlen)
{
	char e[ECHO_MAX + 4];
	size_t need;
	int rc;

	rc = npipe_name_check(name, err, errlen);
	if (rc)
		return rc;
	need = strlen(dir) + 1 + strlen(name);
	if (need > NPIPE_PATH_MAX)
		return fail(err, errlen, -ENAMETOOLONG,
			    "pipe %s: the socket path %s/%s is %zu bytes, and a Unix socket path holds at most %zu; use a shorter name or a shorter RINGSIDE_PIPE_DIR",
			    name, echo(e, dir), name, need, NPIPE_PATH_MAX);
	if (need >= len)
		return fail(err, errlen, -ENAMETOOLONG, "pipe %s: path buffer too small", name);
	snprintf(out, len, "%s/%s", dir, name);
	return 0;
}

/* ---- listening ---- */

static void sun_of(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);	/* npipe_path() bounded it */
}

/*
 * Does anyone answer on the socket at PATH?  1 yes, 0 no (stale), or -errno.
 * A full backlog (EAGAIN) is a live server too busy to accept yet.
 */
static int probe(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sun_of(&sun, path);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 1 : -errno;
	close(fd);
	if (rc == -EAGAIN || rc == -EINPROGRESS)
		return 1;
	if (rc == -ECONNREFUSED)
		return 0;
	return rc;
}

static int bind_at(const struct sockaddr_un *sun, unsigned mode, int *fd_out)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/*
	 * Linux creates the socket file with the socket inode's mode less the
	 * umask, so fchmod() before bind() means it is never wider than MODE,
	 * whatever the umask, and without touching the process-wide umask.
	 */
	if (fchmod(fd, mode) < 0 || bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

/*
 * What identifies the socket file NAME in DIRFD: device, inode and birth
 * time (the change time where the filesystem keeps no birth time; only we
 * and root can change our socket).  Not following a symlink.
 */
static int stamp(int dirfd, const char *name, dev_t *dev, ino_t *ino, struct timespec *born)
{
	struct statx sx;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO | STATX_BTIME |
		  STATX_CTIME, &sx) < 0)
		return -errno;
	if (!S_ISSOCK(sx.stx_mode))
		return -ENOTSOCK;
	*dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	*ino = sx.stx_ino;
	if (sx.stx_mask & STATX_BTIME) {
		born->tv_sec = sx.stx_btime.tv_sec;
		born->tv_nsec = sx.stx_btime.tv_nsec;
	} else {
		born->tv_sec = sx.stx_ctime.tv_sec;
		born->tv_nsec = sx.stx_ctime.tv_nsec;
	}
	return 0;
}

int npipe_listen(const char *dir, int dirfd, const char *name, unsigned mode, int backlog,
		 struct npipe_listener *l, char *err, size_t errlen)
{
	char e[ECHO_MAX + 4];
	struct sockaddr_un sun;
	struct stat st;
	int rc, fd = -1;

	memset(l, 0, sizeof(*l));
	l->fd = l->dirfd = -1;
	rc = npipe_path(dir, name, l->path, sizeof(l->path), err, errlen);
	if (rc)
		return rc;
	echo(e, l->path);
	snprintf(l->name, sizeof(l->name), "%s", name);
	sun_of(&sun, l->path);

	l->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (l->dirfd < 0)
		return fail(err, errlen, -errno, "pipe %s: %s", name, strerror(errno));
	/* Our servers in this directory take turns, so that two finding the
	 * same stale socket cannot remove each other's fresh one.  Only the
	 * owner can open the directory for reading, so no one else can hold
	 * this lock; the critical section is a few system calls. */
	while (flock(l->dirfd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = fail(err, errlen, -errno, "pipe %s: cannot lock %s: %s", name, dir,
				  strerror(errno));
			goto out;
		}
	}

	for (int tries = 0;; tries++) {
		rc = bind_at(&sun, mode, &fd);
		if (rc != -EADDRINUSE || tries > 0)
			break;
		if (fstatat(l->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* gone meanwhile: try once more */
		if (!S_ISSOCK(st.st_mode)) {
			rc = fail(err, errlen, -EEXIST,
				  "pipe %s: %s exists and is not a socket; not touching it (remove it or choose another name)",
				  name, e);
			goto out;
		}
		rc = probe(l->path);
		if (rc == 1) {
			rc = fail(err, errlen, -EADDRINUSE,
				  "pipe %s is in use by another server (%s)", name, e);
			goto out;
		}
		if (rc < 0) {
			rc = fail(err, errlen, rc, "pipe %s: cannot tell whether %s is in use: %s",
				  name, e, strerror(-rc));
			goto out;
		}
		/* Stale: nobody listens.  Remove that very socket file only. */
		if (unlinkat(l->dirfd, name, 0) < 0 && errno != ENOENT) {
			rc = -errno;
			fail(err, errlen, rc, "pipe %s: cannot remove the stale socket %s: %s",
			     name, e, strerror(-rc));
			goto out;
		}
	}
	if (rc) {
		rc = fail(err, errlen, rc, "pipe %s: cannot bind %s: %s", name, e, strerror(-rc));
		goto out;
	}
	/* The socket must be in the directory we checked (see the top). */
	if (fstatat(l->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode)) {
		rc = fail(err, errlen, -EXDEV,
			  "pipe %s: the directory %s changed while the socket was being made; refusing it",
			  name, dir);
		goto out;
	}
	/* Exactly MODE: the umask may have taken bits a shared pipe needs. */
	if ((st.st_mode & 07777) != mode && fchmodat(l->dirfd, name, mode, 0) < 0) {
		rc = -errno;
		fail(err, errlen, rc, "pipe %s: cannot chmod %s: %s", l->name, e, strerror(-rc));
		unlinkat(l->dirfd, name, 0);
		goto out;
	}
	if (stamp(l->dirfd, name, &l->dev, &l->ino, &l->born) < 0) {
		rc = fail(err, errlen, -EXDEV, "pipe %s: %s vanished after bind", name, e);
		goto out;
	}
	if (listen(fd, backlog > 0 ? backlog : NPIPE_BACKLOG) < 0) {
		rc = -errno;
		fail(err, errlen, rc, "pipe %s: cannot listen on %s: %s", name, e, strerror(-rc));
		unlinkat(l->dirfd, name, 0);
		goto out;
	}
	l->fd = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (l->dirfd >= 0) {
		flock(l->dirfd, LOCK_UN);
		if (rc) {
			close(l->dirfd);
			l->dirfd = -1;
		}
	}
	return rc;
}

void npipe_unlisten(struct npipe_listener *l)
{
	struct timespec born;
	dev_t dev;
	ino_t ino;

	if (l->dirfd >= 0) {
		/* Same lock as npipe_listen(): a server replacing a stale socket
		 * does it under the lock, so the check and the unlink see one
		 * state of the directory.  Our socket is still open here, so
		 * its inode cannot be freed and its number cannot be reused. */
		while (flock(l->dirfd, LOCK_EX) < 0 && errno == EINTR)
			;
		if (stamp(l->dirfd, l->name, &dev, &ino, &born) == 0 && dev == l->dev &&
		    ino == l->ino && born.tv_sec == l->born.tv_sec && born.tv_nsec == l->born.tv_nsec)
			unlinkat(l->dirfd, l->name, 0);
		close(l->dirfd);	/* drops the lock */
		l->dirfd = -1;
	}
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

/* ---- credentials ---- */

int npipe_peer(int fd, struct npipe_peer *out)
{
	struct ucred cred;
	socklen_t sl = sizeof(cred);
	gid_t *groups = out->groups;

	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0)
		return -errno;
	if (sl != sizeof(cred))
		return -EPROTO;
	out->uid = cred.uid;
	out->gid = cred.gid;
	out->pid = cred.pid;

	/* Supplementary groups as the peer had them when it connected.  When
	 * there are more than we keep, fetch them all and keep the first:
	 * a group entry may then fail to match, never wrongly match. */
	sl = sizeof(out->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &sl) == 0) {
		out->ngroups = sl / sizeof(gid_t);
	} else if (errno == ERANGE && sl > sizeof(out->groups)) {
		groups = malloc(sl);
		if (groups && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &sl) == 0) {
			out->ngroups = NPIPE_PEER_GROUPS;
			memcpy(out->groups, groups, sizeof(out->groups));
		}
		free(groups);
	}
	/* else an old kernel (ENOPROTOOPT): the primary gid only. */
	user_name(cred.uid, out->user, sizeof(out->user));
	return 0;
}

/* A user or group name as the databases would take it: no lookups of
 * text that could not be one, and nothing odd echoed back. */
static bool id_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (!(isalnum(c) || c == '_' || c == '-' || c == '.' || (c == '$' && i == n - 1)))
			return false;
	}
	return true;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

static int parse_entry(const char *s, size_t n, struct npipe_allow *out, char *err,
		       size_t errlen)
{
	char buf[4096], word[72], e[ECHO_MAX + 4];
	bool group = false;
	unsigned long v;

	if (n && s[0] == '@') {
		group = true;
		s++, n--;
	}
	if (n == 0 || n >= sizeof(word)) {
		snprintf(word, sizeof(word), "%.*s", (int)(n < 64 ? n : 64), s);
		return fail(err, errlen, -EINVAL,
			    "allow=: \"%s%s\": expected a uid, a user name, @gid or @group",
			    group ? "@" : "", echo(e, word));
	}
	memcpy(word, s, n);
	word[n] = '\0';
	echo(e, word);
	if (all_digits(s, n)) {
		errno = 0;
		v = strtoul(word, NULL, 10);
		if (errno || v >= (uid_t)-1)
			return fail(err, errlen, -EINVAL, "allow=: %s%s: id out of range",
				    group ? "@" : "", e);
	} else if (!id_name_ok(s, n)) {
		return fail(err, errlen, -EINVAL,
			    "allow=: \"%s%s\": expected a uid, a user name, @gid or @group",
			    group ? "@" : "", e);
	} else if (group) {
		struct group gr, *res = NULL;

		if (getgrnam_r(word, &gr, buf, sizeof(buf), &res) != 0 || !res)
			return fail(err, errlen, -EINVAL, "allow=: @%s: no such group", e);
		v = res->gr_gid;
	} else {
		struct passwd pw, *res = NULL;

		if (getpwnam_r(word, &pw, buf, sizeof(buf), &res) != 0 || !res)
			return fail(err, errlen, -EINVAL, "allow=: %s: no such user", e);
		v = res->pw_uid;
	}
	if (out->n >= NPIPE_ALLOW_MAX)
		return fail(err, errlen, -E2BIG, "allow=: more than %d entries", NPIPE_ALLOW_MAX);
	out->ent[out->n].group = group;
	out->ent[out->n].id = (uint32_t)v;
	out->n++;
	return 0;
}

int npipe_allow_parse(const char *text, struct npipe_allow *out, char *err, size_t errlen)
{
	const char *p = text;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!*text)
		return fail(err, errlen, -EINVAL,
			    "allow=: empty; expected uids, user names, @gids or @groups separated by ':'");
	for (;;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		rc = parse_entry(p, n, out, err, errlen);
		if (rc) {
			memset(out, 0, sizeof(*out));
			return rc;
		}
		if (!end)
			return 0;
		p = end + 1;
	}
}

static bool in_allow(const struct npipe_allow *allow, const struct npipe_peer *peer)
{
	if (!allow)
		return false;
	for (unsigned i = 0; i < allow->n && i < NPIPE_ALLOW_MAX; i++) {
		uint32_t id = allow->ent[i].id;

		if (!allow->ent[i].group) {
			if (peer->uid == id)
				return true;
			continue;
		}
		if (peer->gid == id)
			return true;
		for (unsigned g = 0; g < peer->ngroups && g < NPIPE_PEER_GROUPS; g++)
			if (peer->groups[g] == id)
				return true;
	}
	return false;
}

bool npipe_allowed(const struct npipe_allow *allow, uid_t self, const struct npipe_peer *peer)
{
	return peer->uid == self || peer->uid == 0 || in_allow(allow, peer);
}

void npipe_refusal(const char *name, const struct npipe_peer *peer, char *out, size_t len)
{
	char e[ECHO_MAX + 4], who[96];

	snprintf(out, len,
		 "npipe %s: %s is not allowed to connect; the server admits its own user and root, and others only with allow=",
		 echo(e, name), uid_text(peer->uid, who));
}

void npipe_identity(const char *transport, const char *name, const struct npipe_peer *peer,
		    char *out, size_t len)
{
	char e[ECHO_MAX + 4];

	if (peer->pid > 0)
		snprintf(out, len, "(%s %s pid %d)", transport, echo(e, name), (int)peer->pid);
	else
		snprintf(out, len, "(%s %s pid ?)", transport, echo(e, name));
}

/* ---- the client side ---- */

bool npipe_server_is_local(const char *server, char *err, size_t errlen)
{
	char host[256], e[ECHO_MAX + 4];
	const char *s = server;
	size_t short_len;

	if (s[0] == '\\' && s[1] == '\\')
		s += 2;
	if (!strcmp(s, ".") || !strcasecmp(s, "localhost") || !strcmp(s, "127.0.0.1") ||
	    !strcmp(s, "::1") || !strcmp(s, "[::1]"))
		return true;
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		short_len = strcspn(host, ".");
		if (!strcasecmp(s, host) ||
		    (strlen(s) == short_len && !strncasecmp(s, host, short_len)))
			return true;
	}
	echo(e, s);
	fail(err, errlen, 0,
	     "npipe: server=%s: pipes are local to this machine; use tcp: or ssh port forwarding to reach %s",
	     e, e);
	return false;
}

int npipe_connect(const char *path, int *fd_out, char *err, size_t errlen)
{
	char e[ECHO_MAX + 4];
	struct sockaddr_un sun;
	const char *name = strrchr(path, '/');
	int fd, rc;

	*fd_out = -1;
	name = name ? name + 1 : path;
	echo(e, path);
	if (strlen(path) > NPIPE_PATH_MAX)
		return fail(err, errlen, -ENAMETOOLONG, "pipe %s: path too long for a Unix socket", e);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "pipe %s: %s", e, strerror(errno));
	sun_of(&sun, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		*fd_out = fd;
		return 0;
	}
	rc = -errno;
	close(fd);
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return fail(err, errlen, rc, "no server on pipe %s (%s)", name, e);
	if (rc == -EAGAIN)
		return fail(err, errlen, rc, "pipe %s: the server is not accepting yet (%s); try again",
			    name, e);
	return fail(err, errlen, rc, "pipe %s: cannot connect to %s: %s", name, e, strerror(-rc));
}

int npipe_check_server(int fd, const char *path, const struct npipe_allow *trust,
		       char *err, size_t errlen)
{
	char e[ECHO_MAX + 4], who[96];
	struct npipe_peer peer;
	struct stat st;
	int rc;

	echo(e, path);
	if (lstat(path, &st) < 0)
		return fail(err, errlen, -errno, "pipe %s: %s", e, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return fail(err, errlen, -ENOTSOCK, "pipe %s is not a socket; refusing it", e);
	peer.uid = st.st_uid;
	peer.gid = st.st_gid;
	peer.ngroups = 0;
	if (!npipe_allowed(trust, geteuid(), &peer))
		return fail(err, errlen, -EPERM,
			    "pipe %s is owned by %s, not by you (uid %u) or root; refusing to talk to it",
			    e, uid_text(st.st_uid, who), (unsigned)geteuid());
	/* The file's owner says who made it; SO_PEERCRED says who listens. */
	rc = npipe_peer(fd, &peer);
	if (rc)
		return fail(err, errlen, rc, "pipe %s: cannot tell who the server is: %s", e,
			    strerror(-rc));
	if (!npipe_allowed(trust, geteuid(), &peer))
		return fail(err, errlen, -EPERM,
			    "the server on pipe %s runs as %s, not as you (uid %u) or root; refusing to talk to it",
			    e, uid_text(peer.uid, who), (unsigned)geteuid());
	return 0;
}
