// SPDX-License-Identifier: MIT
/* Unit tests for src/npipe.c over real directories and sockets: choosing
 * and checking the runtime directory (owner, mode, symlinks, environment),
 * pipe names and their expansion, binding (mode, live and stale sockets,
 * files in the way, removing only our own socket), peer credentials and
 * allow= (with children that switch to uid 65534), the client's checks of a
 * server, and server= locality.  Needs root for chown and setresuid; the
 * tests that need it are skipped otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/npipe.h"

#define NOBODY 65534

static char top[64];		/* this run's scratch directory */

struct t {
	char base[128];		/* this test's own directory under top */
	char err[512];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int group_setup(void **state)
{
	strcpy(top, "/tmp/npipe-test.XXXXXX");
	if (!mkdtemp(top))
		return -1;
	/* Children running as nobody must reach the test directories. */
	return chmod(top, 0711);
}

static int group_teardown(void **state)
{
	rm_rf(top);
	return 0;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->base, sizeof(t->base), "%s/t.XXXXXX", top);
	if (!mkdtemp(t->base) || chmod(t->base, 0711) < 0)
		return -1;
	unsetenv("RINGSIDE_PIPE_DIR");
	unsetenv("XDG_RUNTIME_DIR");
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	rm_rf(t->base);
	free(t);
	unsetenv("RINGSIDE_PIPE_DIR");
	umask(022);
	return 0;
}

static bool is_root(void)
{
	return geteuid() == 0;
}

#define NEED_ROOT()				\
	do {					\
		if (!is_root())			\
			skip();			\
	} while (0)

/* DIR under the test's base, as $RINGSIDE_PIPE_DIR. */
static const char *use_dir(struct t *t, const char *sub, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", t->base, sub);
	setenv("RINGSIDE_PIPE_DIR", out, 1);
	return out;
}

static void assert_contains(const char *s, const char *want)
{
	if (!strstr(s, want))
		fail_msg("\"%s\" does not contain \"%s\"", s, want);
}

/* A fresh private pipe directory, its path in DIR, its fd returned. */
static int pipe_dir(struct t *t, char *dir, size_t len, unsigned flags)
{
	char want[256];
	int fd, rc;

	use_dir(t, "pipes", want, sizeof(want));
	rc = npipe_dir(dir, len, NPIPE_DIR_CREATE | flags, &fd, t->err, sizeof(t->err));
	if (rc)
		fail_msg("npipe_dir: %s", t->err);
	assert_string_equal(dir, want);
	return fd;
}

static int accept_one(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 5000), 1);
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Become nobody, with GROUP as the one supplementary group (0: none). */
static void become_nobody(gid_t group)
{
	gid_t g[1] = { group };

	if (setgroups(group ? 1 : 0, g) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(99);
}

/* ---- the directory ---- */

static void test_dir_created_private(void **state)
{
	struct t *t = *state;
	char want[256], dir[256];
	struct stat st, fst;
	int fd;

	use_dir(t, "new", want, sizeof(want));
	umask(0);	/* mkdir's 0700 must not depend on the umask */
	assert_int_equal(npipe_dir(dir, sizeof(dir), 0, NULL, t->err, sizeof(t->err)), -ENOENT);
	assert_contains(t->err, want);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, &fd, t->err, sizeof(t->err)), 0);
	assert_string_equal(dir, want);
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &fst), 0);
	assert_int_equal(fst.st_ino, st.st_ino);
	close(fd);

	/* Again: it exists and is fine. */
	umask(077);	/* a umask that takes everything from mkdir */
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)), 0);
	use_dir(t, "new2", want, sizeof(want));
	umask(0777);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)), 0);
	assert_int_equal(lstat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_dir_wide_mode_refused(void **state)
{
	struct t *t = *state;
	char path[256], dir[256];
	int fd = -1;

	use_dir(t, "wide", path, sizeof(path));
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, &fd, t->err, sizeof(t->err)),
			 -EPERM);
	assert_int_equal(fd, -1);
	assert_contains(t->err, path);
	assert_contains(t->err, "0755");
	assert_contains(t->err, "chmod 700");
	/* Shared servers accept search bits, never read or write ones. */
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_SHARED, NULL, t->err, sizeof(t->err)),
			 -EPERM);
	assert_int_equal(chmod(path, 0711), 0);
	assert_int_equal(npipe_dir(dir, sizeof(dir), 0, NULL, t->err, sizeof(t->err)), -EPERM);
	assert_contains(t->err, "0711");
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_SHARED, NULL, t->err, sizeof(t->err)), 0);
	assert_int_equal(chmod(path, 0730), 0);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_SHARED, NULL, t->err, sizeof(t->err)),
			 -EPERM);
}

static void test_dir_other_owner_refused(void **state)
{
	struct t *t = *state;
	char path[256], dir[256];

	NEED_ROOT();
	use_dir(t, "theirs", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, NOBODY, NOBODY), 0);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)),
			 -EPERM);
	assert_contains(t->err, path);
	assert_contains(t->err, "uid 65534 (nobody)");
	assert_contains(t->err, "not to you (uid 0)");
	/* A client that relies on npipe_check_server() may use it. */
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_OTHERS, NULL, t->err, sizeof(t->err)), 0);
}

static void test_dir_symlink_refused(void **state)
{
	struct t *t = *state;
	char link[256], target[256], dir[256];
	struct stat before, after;

	snprintf(target, sizeof(target), "%s/target", t->base);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(stat(target, &before), 0);
	use_dir(t, "link", link, sizeof(link));
	assert_int_equal(symlink(target, link), 0);

	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)),
			 -ELOOP);
	assert_contains(t->err, link);
	assert_contains(t->err, "symbolic link");
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_OTHERS, NULL, t->err, sizeof(t->err)),
			 -ELOOP);
	assert_int_equal(stat(target, &after), 0);
	assert_int_equal(after.st_mode, before.st_mode);
	assert_int_equal(after.st_uid, before.st_uid);
	assert_int_equal(after.st_nlink, 2);	/* nothing made inside */

	/* A dangling link is not followed to create its target either. */
	assert_int_equal(unlink(link), 0);
	snprintf(target, sizeof(target), "%s/nowhere", t->base);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)),
			 -ELOOP);
	assert_int_equal(lstat(target, &after), -1);

	/* A file is no directory. */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(close(open(link, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)),
			 -ENOTDIR);
	assert_contains(t->err, "not a directory");
}

static void test_dir_environment_precedence(void **state)
{
	struct t *t = *state;
	char xdg[200], mine[200], dir[256], want[256];

	snprintf(xdg, sizeof(xdg), "%s/xdg", t->base);
	assert_int_equal(mkdir(xdg, 0700), 0);
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	use_dir(t, "mine", mine, sizeof(mine));

	/* $RINGSIDE_PIPE_DIR first... */
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)), 0);
	assert_string_equal(dir, mine);
	/* ...with its trailing slashes dropped... */
	snprintf(want, sizeof(want), "%s//", mine);
	setenv("RINGSIDE_PIPE_DIR", want, 1);
	assert_int_equal(npipe_dir(dir, sizeof(dir), 0, NULL, t->err, sizeof(t->err)), 0);
	assert_string_equal(dir, mine);
	/* ...and only absolute. */
	setenv("RINGSIDE_PIPE_DIR", "relative/dir", 1);
	assert_int_equal(npipe_dir(dir, sizeof(dir), 0, NULL, t->err, sizeof(t->err)), -EINVAL);
	assert_contains(t->err, "RINGSIDE_PIPE_DIR=relative/dir");

	/* Then $XDG_RUNTIME_DIR/ringside. */
	setenv("RINGSIDE_PIPE_DIR", "", 1);
	assert_int_equal(npipe_dir(dir, sizeof(dir), NPIPE_DIR_CREATE, NULL, t->err, sizeof(t->err)), 0);
	snprintf(want, sizeof(want), "%s/ringside", xdg);
	assert_string_equal(dir, want);

	/* Then /tmp/ringside-EUID (not created here: it is shared with real use). */
	snprintf(want, sizeof(want), "/tmp/ringside-%u", (unsigned)geteuid());
	setenv("XDG_RUNTIME_DIR", "not/absolute", 1);
	npipe_dir(dir, sizeof(dir), 0, NULL, t->err, sizeof(t->err));
	assert_string_equal(dir, want);
	unsetenv("XDG_RUNTIME_DIR");
	npipe_dir(dir, sizeof(dir), 0, NULL, t->err, sizeof(t->err));
	assert_string_equal(dir, want);
}

/* ---- names ---- */

static void test_name_expansion(void **state)
{
	struct t *t = *state;
	char out[NPIPE_NAME_MAX + 1];

	assert_int_equal(npipe_name_expand("dbg", 1234, 77, out, sizeof(out), t->err, sizeof(t->err)), 0);
	assert_string_equal(out, "dbg");
	assert_int_equal(npipe_name_expand("dbg%d", 1234, 77, out, sizeof(out), t->err, sizeof(t->err)), 0);
	assert_string_equal(out, "dbg1234");
	/* The first code is the pid, the second the tid, whichever letter. */
	assert_int_equal(npipe_name_expand("p%x-t%d", 255, 77, out, sizeof(out), t->err, sizeof(t->err)), 0);
	assert_string_equal(out, "pff-t77");
	assert_int_equal(npipe_name_expand("%d.%x", 10, 26, out, sizeof(out), t->err, sizeof(t->err)), 0);
	assert_string_equal(out, "10.1a");
	assert_int_equal(npipe_name_expand("100%%%d", 5, 6, out, sizeof(out), t->err, sizeof(t->err)), 0);
	assert_string_equal(out, "100%5");
	assert_int_equal(npipe_name_expand("%%d", 5, 6, out, sizeof(out), t->err, sizeof(t->err)), 0);
	assert_string_equal(out, "%d");

	assert_int_equal(npipe_name_expand("a%d%d%d", 1, 2, out, sizeof(out), t->err, sizeof(t->err)),
			 -EINVAL);
	assert_contains(t->err, "more than two");
	assert_int_equal(npipe_name_expand("a%s", 1, 2, out, sizeof(out), t->err, sizeof(t->err)), -EINVAL);
	assert_contains(t->err, "a%s");
	assert_int_equal(npipe_name_expand("a%", 1, 2, out, sizeof(out), t->err, sizeof(t->err)), -EINVAL);
	assert_int_equal(npipe_name_expand("%5d", 1, 2, out, sizeof(out), t->err, sizeof(t->err)), -EINVAL);
	/* The expanded name is checked like any other. */
	assert_int_equal(npipe_name_expand("a b%d", 1, 2, out, sizeof(out), t->err, sizeof(t->err)),
			 -EINVAL);
	assert_contains(t->err, "a space");
	/* Expansion may push a name over the limit. */
	char longname[NPIPE_NAME_MAX + 1];

	memset(longname, 'n', NPIPE_NAME_MAX - 2);
	strcpy(longname + NPIPE_NAME_MAX - 2, "%d");
	assert_int_equal(npipe_name_expand(longname, 99, 2, out, sizeof(out), t->err, sizeof(t->err)), 0);
	assert_int_equal(strlen(out), NPIPE_NAME_MAX);
	assert_int_equal(npipe_name_expand(longname, 100, 2, out, sizeof(out), t->err, sizeof(t->err)),
			 -ENAMETOOLONG);
	assert_contains(t->err, "100 characters");
	/* A small output buffer is not overrun. */
	char small[4];

	assert_int_equal(npipe_name_expand("abcd", 1, 2, small, sizeof(small), t->err, sizeof(t->err)),
			 -ENAMETOOLONG);
}

static void test_name_characters(void **state)
{
	static const struct {
		const char *name, *says;
	} bad[] = {
		{ "a/b", "a slash" },
		{ "a b", "a space" },
		{ "a\tb", "a tab" },
		{ "a\"b", "a double quote" },
		{ "a'b", "a single quote" },
		{ "a\\b", "a backslash" },
		{ "a\nb", "byte 0x0A" },
		{ "a\x1b[2Jb", "byte 0x1B" },
		{ "caf\xc3\xa9", "byte 0xC3" },
		{ "a*b", "'*'" },
		{ "a:b", "':'" },
		{ "a,b", "','" },
		{ ".hidden", "start with '.'" },
		{ ".", "start with '.'" },
		{ "..", "start with '.'" },
		{ "a..b", "\"..\"" },
		{ "", "empty" },
	};
	struct t *t = *state;
	char out[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(npipe_name_check(bad[i].name, t->err, sizeof(t->err)) < 0);
		assert_contains(t->err, bad[i].says);
		/* Errors stay one printable line. */
		for (const char *p = t->err; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		assert_true(npipe_name_expand(bad[i].name, 1, 2, out, sizeof(out), t->err, sizeof(t->err)) < 0);
	}
	assert_int_equal(npipe_name_check("Dbg_1.2-x+y@host%", t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_name_check("-dash", t->err, sizeof(t->err)), 0);
	memset(out, 'x', NPIPE_NAME_MAX + 1);
	out[NPIPE_NAME_MAX + 1] = '\0';
	assert_int_equal(npipe_name_check(out, t->err, sizeof(t->err)), -ENAMETOOLONG);
	out[NPIPE_NAME_MAX] = '\0';
	assert_int_equal(npipe_name_check(out, t->err, sizeof(t->err)), 0);
}

static void test_path_limit(void **state)
{
	struct t *t = *state;
	char dir[128], path[256], limit[16];
	struct npipe_listener l;
	int dfd;

	/* 100 bytes of directory + '/' + 7-byte name = 108: one too many. */
	memset(dir, 'd', 100);
	dir[0] = '/';
	dir[100] = '\0';
	assert_int_equal(npipe_path(dir, "sixsix7", path, sizeof(path), t->err, sizeof(t->err)),
			 -ENAMETOOLONG);
	snprintf(limit, sizeof(limit), "%zu", NPIPE_PATH_MAX);
	assert_string_equal(limit, "107");
	assert_contains(t->err, "at most 107");
	assert_contains(t->err, "108 bytes");
	assert_contains(t->err, "pipe sixsix7");
	assert_int_equal(npipe_path(dir, "sixsi6", path, sizeof(path), t->err, sizeof(t->err)), 0);
	assert_int_equal(strlen(path), 107);
	assert_int_equal(npipe_path(dir, "bad/name", path, sizeof(path), t->err, sizeof(t->err)), -EINVAL);

	/* Listening checks it too, before touching anything. */
	dfd = pipe_dir(t, path, sizeof(path), 0);
	memset(dir, 'n', NPIPE_NAME_MAX);
	dir[NPIPE_NAME_MAX] = '\0';
	assert_int_equal(npipe_listen(path, dfd, dir, NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)),
			 -ENAMETOOLONG);
	assert_contains(t->err, "at most 107");
	assert_int_equal(l.fd, -1);
	assert_int_equal(l.dirfd, -1);
	npipe_unlisten(&l);
	close(dfd);
}

/* ---- listening ---- */

static void test_listen_mode_and_connect(void **state)
{
	struct t *t = *state;
	char dir[200], path[256];
	struct npipe_listener l;
	struct stat st;
	int dfd, c, a;

	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	umask(0);	/* the socket's mode must not come from the umask */
	assert_int_equal(npipe_listen(dir, dfd, "dbg", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)), 0);
	snprintf(path, sizeof(path), "%s/dbg", dir);
	assert_string_equal(l.path, path);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(fcntl(l.fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(l.fd, F_GETFD) & FD_CLOEXEC);

	assert_int_equal(npipe_connect(path, &c, t->err, sizeof(t->err)), 0);
	a = accept_one(l.fd);
	assert_true(a >= 0);
	assert_int_equal(npipe_check_server(c, path, NULL, t->err, sizeof(t->err)), 0);
	close(a);
	close(c);

	npipe_unlisten(&l);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	npipe_unlisten(&l);	/* twice is fine */
	assert_int_equal(npipe_connect(path, &c, t->err, sizeof(t->err)), -ENOENT);
	assert_contains(t->err, "no server on pipe dbg");

	/* A umask that would leave a shared socket unusable. */
	umask(0277);
	assert_int_equal(npipe_listen(dir, dfd, "dbg", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	npipe_unlisten(&l);
	umask(022);
	assert_int_equal(npipe_listen(dir, dfd, "shared", NPIPE_SHARED_MODE, 0, &l, t->err, sizeof(t->err)), 0);
	assert_int_equal(lstat(l.path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0666);
	npipe_unlisten(&l);
	close(dfd);
}

static void test_listen_live_name_in_use(void **state)
{
	struct t *t = *state;
	char dir[256];
	struct npipe_listener l1, l2;
	int dfd, c;

	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	assert_int_equal(npipe_listen(dir, dfd, "live", NPIPE_SOCKET_MODE, 0, &l1, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_listen(dir, dfd, "live", NPIPE_SOCKET_MODE, 0, &l2, t->err, sizeof(t->err)),
			 -EADDRINUSE);
	assert_contains(t->err, "pipe live is in use by another server");
	assert_contains(t->err, l1.path);
	assert_int_equal(l2.fd, -1);
	npipe_unlisten(&l2);
	/* The first one still serves (the probe's connection is queued). */
	assert_int_equal(npipe_connect(l1.path, &c, t->err, sizeof(t->err)), 0);
	close(c);

	/* Even with a full backlog the name counts as live. */
	struct npipe_listener l3;
	int fds[8], n = 0;

	assert_int_equal(npipe_listen(dir, dfd, "busy", NPIPE_SOCKET_MODE, 1, &l3, t->err, sizeof(t->err)), 0);
	while (n < 8 && npipe_connect(l3.path, &fds[n], t->err, sizeof(t->err)) == 0)
		n++;
	assert_true(n < 8);	/* the backlog filled */
	assert_int_equal(npipe_listen(dir, dfd, "busy", NPIPE_SOCKET_MODE, 0, &l2, t->err, sizeof(t->err)),
			 -EADDRINUSE);
	while (n > 0)
		close(fds[--n]);
	npipe_unlisten(&l3);
	npipe_unlisten(&l1);
	close(dfd);
}

static void test_listen_replaces_stale_socket(void **state)
{
	struct t *t = *state;
	char dir[96];
	struct npipe_listener l;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat old, now;
	int dfd, s, c;

	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	/* A server that died without removing its socket. */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/stale", dir);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	umask(0);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s, 1), 0);
	close(s);
	umask(022);
	assert_int_equal(lstat(sun.sun_path, &old), 0);
	assert_int_equal(old.st_mode & 07777, 0777);

	assert_int_equal(npipe_listen(dir, dfd, "stale", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)), 0);
	assert_int_equal(lstat(sun.sun_path, &now), 0);
	assert_true(S_ISSOCK(now.st_mode));
	assert_int_equal(now.st_mode & 07777, 0600);	/* ours, not the old 0755-ish one */
	assert_int_equal(npipe_connect(l.path, &c, t->err, sizeof(t->err)), 0);
	close(c);
	npipe_unlisten(&l);
	close(dfd);
}

static void test_listen_leaves_non_socket_alone(void **state)
{
	struct t *t = *state;
	char dir[256], path[300], buf[16] = "";
	struct npipe_listener l;
	int dfd, fd;

	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_int_equal(write(fd, "keep me", 7), 7);
	close(fd);
	assert_int_equal(npipe_listen(dir, dfd, "file", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)),
			 -EEXIST);
	assert_contains(t->err, "not a socket");
	assert_contains(t->err, path);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 7);
	assert_string_equal(buf, "keep me");
	close(fd);

	/* Nor is a symlink to a socket followed or removed. */
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink("/nonexistent/sock", path), 0);
	assert_int_equal(npipe_listen(dir, dfd, "link", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)),
			 -EEXIST);
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	close(dfd);
}

static void test_unlisten_spares_a_replacement(void **state)
{
	struct t *t = *state;
	char dir[256];
	struct npipe_listener l1, l2;
	struct stat st;
	int dfd, c;

	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	assert_int_equal(npipe_listen(dir, dfd, "same", NPIPE_SOCKET_MODE, 0, &l1, t->err, sizeof(t->err)), 0);
	/* The first server stops answering (hung, or its fd is gone)... */
	close(l1.fd);
	l1.fd = -1;
	/* ...a second one takes the name as stale... */
	assert_int_equal(npipe_listen(dir, dfd, "same", NPIPE_SOCKET_MODE, 0, &l2, t->err, sizeof(t->err)), 0);
	/* ...and the first one's cleanup leaves the second one's socket. */
	npipe_unlisten(&l1);
	assert_int_equal(lstat(l2.path, &st), 0);
	assert_int_equal(st.st_ino, l2.ino);
	assert_int_equal(npipe_connect(l2.path, &c, t->err, sizeof(t->err)), 0);
	close(c);
	npipe_unlisten(&l2);
	assert_int_equal(lstat(l2.path, &st), -1);
	close(dfd);
}

/* ---- credentials ---- */

/* A child that becomes nobody (with GROUP as supplementary group), connects
 * to PATH and waits for the parent to hang up.  Returns its pid. */
static pid_t nobody_connects(const char *path, gid_t group)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[16];
		int fd;

		become_nobody(group);
		if (npipe_connect(path, &fd, NULL, 0) < 0)
			_exit(98);
		fcntl(fd, F_SETFL, 0);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_peer_of_another_uid(void **state)
{
	struct t *t = *state;
	char dir[256], ident[128], why[256];
	struct npipe_listener l;
	struct npipe_allow allow;
	struct npipe_peer peer;
	int dfd, a;
	pid_t pid;

	NEED_ROOT();
	/* A shared directory: nobody must be able to reach the socket. */
	dfd = pipe_dir(t, dir, sizeof(dir), NPIPE_DIR_SHARED);
	assert_int_equal(fchmod(dfd, 0711), 0);
	assert_int_equal(npipe_listen(dir, dfd, "dbg", NPIPE_SHARED_MODE, 0, &l, t->err, sizeof(t->err)), 0);

	pid = nobody_connects(l.path, 4242);
	a = accept_one(l.fd);
	assert_true(a >= 0);
	assert_int_equal(npipe_peer(a, &peer), 0);
	assert_int_equal(peer.uid, NOBODY);
	assert_int_equal(peer.gid, NOBODY);
	assert_int_equal(peer.pid, pid);
	assert_string_equal(peer.user, "nobody");
	assert_int_equal(peer.ngroups, 1);
	assert_int_equal(peer.groups[0], 4242);

	/* Not by default... */
	assert_false(npipe_allowed(NULL, geteuid(), &peer));
	npipe_refusal("dbg", &peer, why, sizeof(why));
	assert_contains(why, "npipe dbg: uid 65534 (nobody) is not allowed");
	/* ...but by uid, user name, group id, group name or supplementary group. */
	static const char *const admit[] = {
		"65534", "nobody", "@65534", "@nogroup", "@4242", "1000:nobody", "@12345:65534",
	};
	for (size_t i = 0; i < sizeof(admit) / sizeof(admit[0]); i++) {
		if (npipe_allow_parse(admit[i], &allow, t->err, sizeof(t->err)))
			fail_msg("allow=%s: %s", admit[i], t->err);
		if (!npipe_allowed(&allow, geteuid(), &peer))
			fail_msg("allow=%s does not admit nobody", admit[i]);
	}
	assert_int_equal(npipe_allow_parse("1000:@12345", &allow, t->err, sizeof(t->err)), 0);
	assert_false(npipe_allowed(&allow, geteuid(), &peer));

	npipe_identity("npipe", l.name, &peer, ident, sizeof(ident));
	snprintf(why, sizeof(why), "(npipe dbg pid %d)", (int)pid);
	assert_string_equal(ident, why);
	close(a);
	reap(pid);
	npipe_unlisten(&l);
	close(dfd);
}

static void test_peer_own_uid_and_root(void **state)
{
	struct t *t = *state;
	char dir[256];
	struct npipe_listener l;
	struct npipe_peer peer;
	int dfd, c, a;

	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	assert_int_equal(npipe_listen(dir, dfd, "me", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_connect(l.path, &c, t->err, sizeof(t->err)), 0);
	a = accept_one(l.fd);
	assert_int_equal(npipe_peer(a, &peer), 0);
	assert_int_equal(peer.uid, geteuid());
	assert_int_equal(peer.pid, getpid());
	assert_true(npipe_allowed(NULL, geteuid(), &peer));
	close(a);
	close(c);
	npipe_unlisten(&l);
	close(dfd);

	/* Root is admitted by every server; others only by their own. */
	memset(&peer, 0, sizeof(peer));
	peer.uid = 0;
	assert_true(npipe_allowed(NULL, 1000, &peer));
	peer.uid = 1001;
	peer.gid = 1001;
	assert_false(npipe_allowed(NULL, 1000, &peer));
	assert_true(npipe_allowed(NULL, 1001, &peer));
	peer.pid = 0;
	char ident[64];

	npipe_identity("npipe", "x", &peer, ident, sizeof(ident));
	assert_string_equal(ident, "(npipe x pid ?)");
}

static void test_allow_parse_errors(void **state)
{
	struct t *t = *state;
	struct npipe_allow allow;
	char many[256] = "";

	assert_int_equal(npipe_allow_parse("", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_int_equal(npipe_allow_parse("no-such-user-xyz", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_contains(t->err, "no-such-user-xyz: no such user");
	assert_int_equal(npipe_allow_parse("@no-such-group-xyz", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_contains(t->err, "@no-such-group-xyz: no such group");
	assert_int_equal(npipe_allow_parse("1000::1001", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_int_equal(npipe_allow_parse("@", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_int_equal(npipe_allow_parse("a b", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_int_equal(npipe_allow_parse("99999999999", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_contains(t->err, "out of range");
	assert_int_equal(npipe_allow_parse("4294967295", &allow, t->err, sizeof(t->err)), -EINVAL);
	assert_int_equal(allow.n, 0);
	for (int i = 0; i <= NPIPE_ALLOW_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%d", i ? ":" : "", 1000 + i);
	assert_int_equal(npipe_allow_parse(many, &allow, t->err, sizeof(t->err)), -E2BIG);
	assert_int_equal(npipe_allow_parse("0:root:@0:@root", &allow, t->err, sizeof(t->err)), 0);
	assert_int_equal(allow.n, 4);
	assert_false(allow.ent[1].group);
	assert_int_equal(allow.ent[1].id, 0);
	assert_true(allow.ent[3].group);
}

/* ---- the client's checks ---- */

static void test_client_refuses_socket_of_another_owner(void **state)
{
	struct t *t = *state;
	char dir[256];
	struct npipe_listener l;
	struct npipe_allow trust;
	int dfd, c;

	NEED_ROOT();
	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	assert_int_equal(npipe_listen(dir, dfd, "planted", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)), 0);
	assert_int_equal(chown(l.path, NOBODY, NOBODY), 0);
	assert_int_equal(npipe_connect(l.path, &c, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_check_server(c, l.path, NULL, t->err, sizeof(t->err)), -EPERM);
	assert_contains(t->err, l.path);
	assert_contains(t->err, "owned by uid 65534 (nobody)");
	close(c);
	/* Neither is a symlink to a good socket taken. */
	char link[300];

	assert_int_equal(chown(l.path, 0, 0), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(l.path, link), 0);
	assert_int_equal(npipe_connect(link, &c, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_check_server(c, link, NULL, t->err, sizeof(t->err)), -ENOTSOCK);
	close(c);
	/* trust= names whom else a client will talk to. */
	assert_int_equal(chown(l.path, NOBODY, NOBODY), 0);
	assert_int_equal(npipe_allow_parse("nobody", &trust, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_connect(l.path, &c, t->err, sizeof(t->err)), 0);
	/* The file is nobody's, but the server (SO_PEERCRED) is root's: fine. */
	assert_int_equal(npipe_check_server(c, l.path, &trust, t->err, sizeof(t->err)), 0);
	close(c);
	npipe_unlisten(&l);
	close(dfd);
}

static void test_client_refuses_server_of_another_uid(void **state)
{
	struct t *t = *state;
	char dir[256], path[300];
	struct npipe_allow trust;
	int ready[2], c;
	pid_t pid;
	char b;

	NEED_ROOT();
	snprintf(dir, sizeof(dir), "%s/nobody", t->base);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
	snprintf(path, sizeof(path), "%s/impostor", dir);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct npipe_listener l;
		int dfd;

		close(ready[0]);
		become_nobody(0);
		setenv("RINGSIDE_PIPE_DIR", dir, 1);
		if (npipe_dir(dir, sizeof(dir), 0, &dfd, NULL, 0) ||
		    npipe_listen(dir, dfd, "impostor", NPIPE_SOCKET_MODE, 0, &l, NULL, 0))
			_exit(97);
		if (write(ready[1], "r", 1) != 1)
			_exit(96);
		for (;;)
			pause();	/* until the parent's SIGTERM */
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &b, 1), 1);

	/* Make the file look like ours: SO_PEERCRED still tells. */
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(npipe_connect(path, &c, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_check_server(c, path, NULL, t->err, sizeof(t->err)), -EPERM);
	assert_contains(t->err, "runs as uid 65534 (nobody)");
	assert_contains(t->err, "not as you (uid 0)");
	close(c);
	assert_int_equal(npipe_allow_parse("65534", &trust, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_connect(path, &c, t->err, sizeof(t->err)), 0);
	assert_int_equal(npipe_check_server(c, path, &trust, t->err, sizeof(t->err)), 0);
	close(c);

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(ready[0]);
}

static void test_server_locality(void **state)
{
	struct t *t = *state;
	char host[256], first[300];

	assert_true(npipe_server_is_local(".", t->err, sizeof(t->err)));
	assert_true(npipe_server_is_local("\\\\.", t->err, sizeof(t->err)));
	assert_true(npipe_server_is_local("localhost", t->err, sizeof(t->err)));
	assert_true(npipe_server_is_local("LocalHost", t->err, sizeof(t->err)));
	assert_true(npipe_server_is_local("127.0.0.1", t->err, sizeof(t->err)));
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_true(npipe_server_is_local(host, t->err, sizeof(t->err)));
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(host, "."), host);
	assert_true(npipe_server_is_local(first, t->err, sizeof(t->err)));

	assert_false(npipe_server_is_local("otherhost", t->err, sizeof(t->err)));
	assert_string_equal(t->err,
			    "npipe: server=otherhost: pipes are local to this machine; use tcp: or ssh port forwarding to reach otherhost");
	/* The first label of someone else's name is not ours. */
	snprintf(first, sizeof(first), "%s.example.invalid", host);
	if (!strchr(host, '.'))
		assert_false(npipe_server_is_local(first, t->err, sizeof(t->err)));
}

/* socat and nc -U need nothing of ours: a plain connect and bytes. */
static void test_raw_client(void **state)
{
	struct t *t = *state;
	char dir[256], cmd[512], buf[16] = "";
	struct npipe_listener l;
	int dfd, a;
	FILE *f;

	if (system("command -v socat >/dev/null 2>&1") != 0)
		skip();
	dfd = pipe_dir(t, dir, sizeof(dir), 0);
	assert_int_equal(npipe_listen(dir, dfd, "raw", NPIPE_SOCKET_MODE, 0, &l, t->err, sizeof(t->err)), 0);
	snprintf(cmd, sizeof(cmd), "printf hello | timeout 5 socat - UNIX-CONNECT:%s", l.path);
	f = popen(cmd, "r");
	assert_non_null(f);
	a = accept_one(l.fd);
	assert_true(a >= 0);
	fcntl(a, F_SETFL, 0);
	assert_int_equal(read(a, buf, 5), 5);
	assert_string_equal(buf, "hello");
	close(a);
	pclose(f);
	npipe_unlisten(&l);
	close(dfd);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_dir_created_private),
		T(test_dir_wide_mode_refused),
		T(test_dir_other_owner_refused),
		T(test_dir_symlink_refused),
		T(test_dir_environment_precedence),
		T(test_name_expansion),
		T(test_name_characters),
		T(test_path_limit),
		T(test_listen_mode_and_connect),
		T(test_listen_live_name_in_use),
		T(test_listen_replaces_stale_socket),
		T(test_listen_leaves_non_socket_alone),
		T(test_unlisten_spares_a_replacement),
		T(test_peer_of_another_uid),
		T(test_peer_own_uid_and_root),
		T(test_allow_parse_errors),
		T(test_client_refuses_socket_of_another_owner),
		T(test_client_refuses_server_of_another_uid),
		T(test_server_locality),
		T(test_raw_client),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("npipe", tests, group_setup, group_teardown);
}
