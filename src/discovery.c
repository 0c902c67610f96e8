/* SPDX-License-Identifier: MIT */
/*
 * Discovery records: writing this session's, and reading everyone's for
 * -QR (locally, or on another machine through ssh).  See discovery.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/discovery.h"
#include "src/npipe.h"

#define RECORD_MAGIC "ringside-discovery 1"
#define RECORD_PREFIX ".session-"
#define RECORD_MAX (64 * 1024)

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks.
 * With the pid it names one process for the life of the machine. */
static int process_start(pid_t pid, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

/*
 * Where this session's record goes: /run/ringside as root (created 0755,
 * and used only if it is a real directory owned by root that nobody else
 * can write), else the user's runtime directory.
 */
static int record_dir(char *dir, size_t len, bool *machine, char *err, size_t errlen)
{
	struct stat st;
	int dirfd = -1, res;

	*machine = false;
	if (geteuid() == 0) {
		if (mkdir(DISCOVERY_MACHINE_DIR, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", DISCOVERY_MACHINE_DIR, strerror(errno));
			return -errno;
		}
		if (lstat(DISCOVERY_MACHINE_DIR, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != 0 || (st.st_mode & 022)) {
			snprintf(err, errlen, "%s is not a directory owned by root and closed to "
				 "others; not used", DISCOVERY_MACHINE_DIR);
			return -EPERM;
		}
		snprintf(dir, len, "%s", DISCOVERY_MACHINE_DIR);
		*machine = true;
		return 0;
	}
	res = npipe_dir(dir, len, NPIPE_DIR_CREATE, &dirfd, err, errlen);
	if (dirfd >= 0)
		close(dirfd);
	return res;
}

static bool clean_field(const char *s)
{
	return s && !strpbrk(s, "\t\n\r");
}

int discovery_publish(struct discovery *d, const char *host, const struct discovery_server *srv,
		      unsigned n, char *err, size_t errlen)
{
	char dir[sizeof(d->dir)], tmp[sizeof(d->path) + 8];
	unsigned long long start = 0;
	bool machine;
	FILE *f;
	int fd, res;

	if (n == 0) {
		discovery_withdraw(d);
		return 0;
	}
	if (!d->path[0]) {
		static unsigned sessions;

		if (d->dir[0]) {
			snprintf(dir, sizeof(dir), "%s", d->dir);
		} else {
			res = record_dir(dir, sizeof(dir), &machine, err, errlen);
			if (res < 0)
				return res;
		}
		d->seq = sessions++;
		snprintf(d->path, sizeof(d->path), "%s/" RECORD_PREFIX "%d-%u", dir, (int)getpid(),
			 d->seq);
	}
	process_start(getpid(), &start);
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->path);
	unlink(tmp);
	/* Readable by all in /run/ringside; the runtime directory is 0700. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		res = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return res;
	}
	fprintf(f, "%s\npid %d %llu\nhost %s\n", RECORD_MAGIC, (int)getpid(), start, host);
	for (unsigned i = 0; i < n; i++) {
		if (!clean_field(srv[i].listing))
			continue;
		if (srv[i].kind == DISCOVERY_TCP)
			fprintf(f, "tcp\t%u\t%s\n", srv[i].port, srv[i].listing);
		else if (clean_field(srv[i].path))
			fprintf(f, "unix\t%s\t%s\n", srv[i].path, srv[i].listing);
	}
	if (fclose(f) != 0 || rename(tmp, d->path) < 0) {
		res = -errno;
		snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
		unlink(tmp);
		return res;
	}
	return 0;
}

void discovery_withdraw(struct discovery *d)
{
	if (d->path[0])
		unlink(d->path);
	d->path[0] = '\0';
}

/* Is something listening on TCP PORT (any address, v4 or v6)? */
static bool tcp_listening(unsigned port)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char line[512];

	for (size_t t = 0; t < 2; t++) {
		FILE *f = fopen(tables[t], "re");

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':'), *addr_end;
			unsigned p, st;

			/* "  0: 0100007F:D301 00000000:0000 0A ..." */
			if (!colon || !(colon = strchr(colon + 1, ':')))
				continue;
			p = (unsigned)strtoul(colon + 1, &addr_end, 16);
			if (sscanf(addr_end, " %*s %x", &st) == 1 && p == port && st == 0x0A) {
				fclose(f);
				return true;
			}
		}
		fclose(f);
	}
	return false;
}

/* Is a Unix socket bound at PATH listening? */
static bool unix_listening(const char *path)
{
	char line[4608];
	FILE *f = fopen("/proc/net/unix", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long flags;
		char name[4096 + 1];

		line[strcspn(line, "\n")] = '\0';
		/* "Num RefCount Protocol Flags Type St Inode Path" */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %4096s", &flags, name) == 2 &&
		    (flags & 0x10000) && !strcmp(name, path))
			found = true;
	}
	fclose(f);
	return found;
}

/* Lines of one record file, read whole (records are small). */
static char *read_record(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > RECORD_MAX ||
	    !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Print the live servers of one record; false if its process is gone. */
static bool list_record(FILE *out, char *text, const char *fallback_host)
{
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	unsigned long long start = 0, now_start;
	const char *host = fallback_host;
	int pid = 0;

	if (!line || strcmp(line, RECORD_MAGIC) != 0)
		return true;	/* not ours to judge: leave it */
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *kind = line, *endpoint, *listing;
		bool live;

		if (!strncmp(line, "pid ", 4)) {
			if (sscanf(line + 4, "%d %llu", &pid, &start) != 2 || pid <= 0)
				return true;
			if (process_start(pid, &now_start) < 0 || now_start != start)
				return false;
			continue;
		}
		if (!strncmp(line, "host ", 5)) {
			host = line + 5;
			continue;
		}
		if (!pid || !(endpoint = strchr(kind, '\t')))
			continue;
		*endpoint++ = '\0';
		if (!(listing = strchr(endpoint, '\t')))
			continue;
		*listing++ = '\0';
		if (!strcmp(kind, "tcp"))
			live = tcp_listening((unsigned)strtoul(endpoint, NULL, 10));
		else if (!strcmp(kind, "unix"))
			live = unix_listening(endpoint);
		else
			continue;
		if (live)
			fprintf(out, "Debugger Server - %s,Server=%s\n", listing, host);
	}
	return true;
}

static void list_dir(FILE *out, const char *path, const char *host)
{
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *e;
	DIR *dir;

	if (dirfd < 0)
		return;
	dir = fdopendir(dirfd);
	if (!dir) {
		close(dirfd);
		return;
	}
	while ((e = readdir(dir))) {
		char *text;
		size_t len = strlen(e->d_name);

		if (strncmp(e->d_name, RECORD_PREFIX, strlen(RECORD_PREFIX)) != 0 ||
		    (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")))
			continue;
		text = read_record(dirfd, e->d_name);
		if (text && !list_record(out, text, host))
			/* A dead session's record; removing it may fail (not
			 * ours), and then the next -QR skips it again. */
			unlinkat(dirfd, e->d_name, 0);
		free(text);
	}
	closedir(dir);
}

int discovery_list(FILE *out, const char *host, const char *const *dirs)
{
	char user_dir[NPIPE_PATH_MAX + 1], err[256];
	int dirfd = -1;

	fprintf(out, "Servers on \\\\%s:\n", host);
	if (dirs) {
		for (; *dirs; dirs++)
			list_dir(out, *dirs, host);
		return 0;
	}
	list_dir(out, DISCOVERY_MACHINE_DIR, host);
	/* Root's own sessions are all in the machine directory. */
	if (geteuid() != 0 && npipe_dir(user_dir, sizeof(user_dir), 0, &dirfd, err,
					 sizeof(err)) == 0) {
		close(dirfd);
		list_dir(out, user_dir, host);
	}
	return 0;
}

/* A host name we may hand to ssh as one argument (never an option). */
static bool host_ok(const char *host)
{
	if (!host[0] || host[0] == '-' || strlen(host) > 255)
		return false;
	for (const char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".-_:[]@", *p)))
			return false;
	return true;
}

int discovery_list_remote(const char *host)
{
	char *const argv[] = { "ssh", "-o", "BatchMode=yes", "-T", "--", (char *)host,
			       "ringside", "-QR", NULL };
	int status;
	pid_t pid;

	if (!host_ok(host)) {
		fprintf(stderr, "ringside: -QR %s: not a host name\n", host);
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ringside: -QR %s: fork: %s\n", host, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, 0);
		execvp("ssh", argv);
		_exit(errno == ENOENT ? 126 : 125);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (!WIFEXITED(status)) {
		fprintf(stderr, "ringside: -QR %s: ssh ended by a signal\n", host);
		return 1;
	}
	switch (WEXITSTATUS(status)) {
	case 0:
		return 0;
	case 126:
		fprintf(stderr, "ringside: -QR %s: needs ssh, which is not installed here\n", host);
		return 1;
	case 127:
		fprintf(stderr, "ringside: -QR %s: ringside is not installed on %s (or not in the "
			"PATH of a non-interactive ssh session there)\n", host, host);
		return 1;
	case 255:
		fprintf(stderr, "ringside: -QR %s: ssh could not connect or log in (see its message "
			"above; -QR uses your ssh config, keys and known_hosts)\n", host);
		return 1;
	default:
		return WEXITSTATUS(status);
	}
}

int ringside_query_servers(const char *host)
{
	char self[256] = "localhost", *dot;

	if (gethostname(self, sizeof(self) - 1) == 0) {
		self[sizeof(self) - 1] = '\0';
		/* The short name, as sessions name themselves. */
		dot = strchr(self, '.');
		if (dot)
			*dot = '\0';
	}
	if (host && host[0] == '\\' && host[1] == '\\')
		host += 2;
	if (!host || !strcmp(host, ".") || !strcasecmp(host, "localhost") || !strcasecmp(host, self))
		return discovery_list(stdout, self, NULL);
	return discovery_list_remote(host);
}
