/* SPDX-License-Identifier: MIT */
/*
 * Who else uses a serial device: UUCP lock files (the convention minicom,
 * cu and lockdev follow, FHS 3.0 section 5.9) and, when a device is busy
 * without one, the process that has it open, found in /proc.
 *
 * A lock file is DIR/LCK..BASENAME holding the owner's pid as ten ASCII
 * digits and a newline.  It is created complete under a temporary name and
 * link(2)ed into place, so no reader ever sees it half-written and two
 * creators cannot both win.  A lock whose process is gone is stale and
 * removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serial/serial_internal.h"

static const char *const lock_dirs[] = { "/var/lock", "/run/lock" };

/* Examining more /proc entries than this to name a holder is not worth it. */
#define HOLDER_SCAN_MAX 100000

/* The pid in lock file PATH: > 0, 0 when unreadable or not a pid, or
 * -ENOENT when there is no file. */
static long lock_read_pid(const char *path)
{
	char buf[32];
	ssize_t n;
	long pid;
	char *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n == 4) {
		/* The old binary format: a native int. */
		int bin;

		memcpy(&bin, buf, sizeof(bin));
		return bin > 0 ? bin : 0;
	}
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || pid <= 0 || pid > INT_MAX || (*end && *end != '\n'))
		return 0;
	return pid;
}

static bool pid_alive(long pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* "picocom" from /proc/PID/comm, or "?" */
static void pid_comm(long pid, char *out, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0) {
		snprintf(out, len, "?");
		return;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The directory for lock files: DIR when given, else the first standard
 * one that exists; NULL when none does. */
static const char *lock_dir(const char *dir)
{
	struct stat st;

	if (dir)
		return dir;
	for (size_t i = 0; i < sizeof(lock_dirs) / sizeof(lock_dirs[0]); i++)
		if (stat(lock_dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			return lock_dirs[i];
	return NULL;
}

static int lock_busy(const struct serial_line *l, const char *path, long pid, char *err,
		     size_t errlen)
{
	char comm[32];

	if (pid == getpid())
		return serial_fail(-EBUSY, err, errlen,
				   "%s is busy: this process already has it open (lock file %s)",
				   l->name, path);
	pid_comm(pid, comm, sizeof(comm));
	return serial_fail(-EBUSY, err, errlen, "%s is busy: locked by %s (pid %ld, lock file %s)",
			   l->name, comm, pid, path);
}

/* Writes our pid in HDB format to a new file TMP.  0 or -errno. */
static int lock_write_tmp(const char *tmp)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%10ld\n", (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int res = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		res = -EIO;
	close(fd);
	if (res < 0)
		unlink(tmp);
	return res;
}

int serial_lock_take(const char *dir, const struct serial_line *l, char *lock_path, size_t len,
		     char *err, size_t errlen)
{
	char tmp[SERIAL_PATH_MAX + 32];
	const char *d = lock_dir(dir);
	bool can_lock;
	long pid;
	int res, attempt;

	lock_path[0] = '\0';
	if (!d)
		return 0;
	if ((size_t)snprintf(lock_path, len, "%s/LCK..%s", d, base_name(l->path)) >= len ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/LTMP.%ld", d, (long)getpid()) >= sizeof(tmp)) {
		lock_path[0] = '\0';
		return serial_fail(-ENAMETOOLONG, err, errlen, "lock file name too long for %s",
				   l->path);
	}

	/* A directory we cannot write means no lock of ours, as with other
	 * tools; another program's live lock is honoured all the same. */
	res = lock_write_tmp(tmp);
	can_lock = res == 0;
	if (!can_lock && res != -EACCES && res != -EPERM && res != -EROFS) {
		serial_fail(res, err, errlen, "cannot write lock file %s: %s", tmp, strerror(-res));
		lock_path[0] = '\0';
		return res;
	}

	for (attempt = 0; attempt < 3; attempt++) {
		if (can_lock) {
			if (link(tmp, lock_path) == 0) {
				unlink(tmp);
				return 0;
			}
			if (errno != EEXIST) {
				res = -errno;
				serial_fail(res, err, errlen, "cannot create lock file %s: %s",
					    lock_path, strerror(-res));
				break;
			}
		}
		pid = lock_read_pid(lock_path);
		if (pid > 0 && pid_alive(pid)) {
			res = lock_busy(l, lock_path, pid, err, errlen);
			break;
		}
		/* Stale (its process is gone) or garbage: remove it. */
		if (pid != -ENOENT && unlink(lock_path) < 0 && errno != ENOENT && can_lock) {
			res = -errno;
			serial_fail(res, err, errlen, "cannot remove stale lock file %s: %s",
				    lock_path, strerror(-res));
			break;
		}
		if (!can_lock) {
			res = 0;	/* nothing live stands in the way */
			break;
		}
	}
	if (can_lock)
		unlink(tmp);
	if (attempt == 3)
		res = serial_fail(-EBUSY, err, errlen, "%s is busy: lock file %s keeps coming back",
				  l->name, lock_path);
	lock_path[0] = '\0';
	return res;
}

void serial_lock_drop(const char *lock_path)
{
	if (lock_path[0] && lock_read_pid(lock_path) == getpid())
		unlink(lock_path);
}

int serial_holder(dev_t rdev, char *who, size_t len)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	long self = getpid(), found = 0;
	bool self_holds = false;
	unsigned budget = HOLDER_SCAN_MAX;
	char comm[32];

	if (!proc)
		return -ENOENT;
	while (!found && budget && (e = readdir(proc))) {
		char fds[64];
		struct dirent *f;
		struct stat st;
		long pid;
		char *end;
		DIR *dir;

		pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		snprintf(fds, sizeof(fds), "/proc/%ld/fd", pid);
		dir = opendir(fds);
		if (!dir)
			continue;
		while (budget && (f = readdir(dir))) {
			budget--;
			if (f->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(dir), f->d_name, &st, 0) < 0 || !S_ISCHR(st.st_mode) ||
			    st.st_rdev != rdev)
				continue;
			if (pid == self) {
				self_holds = true;
				continue;
			}
			found = pid;
			break;
		}
		closedir(dir);
	}
	closedir(proc);
	if (!found && !self_holds)
		return -ENOENT;
	if (!found) {
		snprintf(who, len, "this process (pid %ld)", self);
		return 0;
	}
	pid_comm(found, comm, sizeof(comm));
	snprintf(who, len, "%s (pid %ld)", comm, found);
	return 0;
}
