/* util.c: clock, pinning and /proc accounting helpers for the bench programs. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int pin_cpu(int cpu)
{
	if (cpu < 0)
		return 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

void die(const char *msg)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, msg, strerror(errno));
	exit(1);
}

int set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Reads a small /proc file into buf (NUL-terminated); returns bytes or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

int proc_cpu_read(pid_t pid, struct proc_cpu *out)
{
	char path[64], buf[1024];
	out->sched_ns = out->tick_ns = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return -1;
	/* comm may contain spaces: fields restart after the last ')'. utime and
	 * stime are fields 14 and 15, i.e. the 12th and 13th after ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	unsigned long long ut = 0, st = 0;
	char *save = NULL;
	int field = 3;
	for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 14)
			ut = strtoull(tok, NULL, 10);
		if (field == 15) {
			st = strtoull(tok, NULL, 10);
			break;
		}
	}
	long hz = sysconf(_SC_CLK_TCK);
	out->tick_ns = (ut + st) * (1000000000ull / (unsigned long long)(hz > 0 ? hz : 100));

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char tpath[320];
		snprintf(tpath, sizeof tpath, "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
		if (read_small(tpath, buf, sizeof buf) > 0)
			out->sched_ns += strtoull(buf, NULL, 10);
	}
	closedir(d);
	return 0;
}

/* schedstat is precise but forgets threads that exited between the samples;
 * ticks remember them but have 10 ms resolution.  Trust schedstat unless the
 * tick count says clearly more CPU was used (two ticks of slack plus 5%). */
uint64_t proc_cpu_delta(const struct proc_cpu *a, const struct proc_cpu *b)
{
	uint64_t s = b->sched_ns > a->sched_ns ? b->sched_ns - a->sched_ns : 0;
	uint64_t t = b->tick_ns > a->tick_ns ? b->tick_ns - a->tick_ns : 0;
	if (t > s + 20000000ull + s / 20)
		return t;
	return s;
}

int proc_rss_kib(pid_t pid, uint64_t *rss_kib, uint64_t *hwm_kib)
{
	char path[64], buf[4096];
	*rss_kib = 0;
	if (hwm_kib)
		*hwm_kib = 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return -1;
	char *p = strstr(buf, "VmRSS:");
	if (p)
		*rss_kib = strtoull(p + 6, NULL, 10);
	p = strstr(buf, "VmHWM:");
	if (p && hwm_kib)
		*hwm_kib = strtoull(p + 6, NULL, 10);
	return p ? 0 : -1;
}

int proc_mem_kib(pid_t pid, struct proc_mem *m)
{
	char path[64], buf[4096];
	static const struct {
		const char *tag;
		size_t off;
	} f[] = {
		{"VmRSS:", offsetof(struct proc_mem, rss)},
		{"RssAnon:", offsetof(struct proc_mem, anon)},
		{"RssFile:", offsetof(struct proc_mem, file)},
		{"RssShmem:", offsetof(struct proc_mem, shmem)},
	};
	memset(m, 0, sizeof *m);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return -1;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		char *p = strstr(buf, f[i].tag);
		if (!p)
			return -1;
		*(uint64_t *)((char *)m + f[i].off) = strtoull(p + strlen(f[i].tag), NULL, 10);
	}
	return 0;
}

int cpu_times_read(int cpu, struct cpu_times *t)
{
	static char buf[16384];
	memset(t, 0, sizeof *t);
	if (read_small("/proc/stat", buf, sizeof buf) <= 0)
		return -1;
	char tag[16];
	snprintf(tag, sizeof tag, "\ncpu%d ", cpu);
	char *p = strstr(buf, tag);
	if (!p)
		return -1;
	p += strlen(tag);
	/* user nice system idle iowait irq softirq steal ... */
	unsigned long long v[8] = {0};
	for (int i = 0; i < 8; i++)
		v[i] = strtoull(p, &p, 10);
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long tick = 1000000000ull / (unsigned long long)(hz > 0 ? hz : 100);
	t->busy = (v[0] + v[1] + v[2] + v[5] + v[6]) * tick;
	t->irq = v[5] * tick;
	t->softirq = v[6] * tick;
	t->steal = v[7] * tick;
	return 0;
}

int proc_io_read(pid_t pid, struct proc_io *io)
{
	char path[64], buf[4096];
	memset(io, 0, sizeof *io);
	snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return -1;
	char *p;
	if ((p = strstr(buf, "rchar:")))
		io->rchar = strtoull(p + 6, NULL, 10);
	if ((p = strstr(buf, "wchar:")))
		io->wchar = strtoull(p + 6, NULL, 10);
	if ((p = strstr(buf, "syscr:")))
		io->syscr = strtoull(p + 6, NULL, 10);
	if ((p = strstr(buf, "syscw:")))
		io->syscw = strtoull(p + 6, NULL, 10);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return -1;
	if ((p = strstr(buf, "\nvoluntary_ctxt_switches:")))
		io->vcsw = strtoull(p + 26, NULL, 10);
	if ((p = strstr(buf, "nonvoluntary_ctxt_switches:")))
		io->ivcsw = strtoull(p + 27, NULL, 10);
	return 0;
}

pid_t proc_first_child(pid_t pid)
{
	char path[96], buf[256];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return 0;
	return (pid_t)strtol(buf, NULL, 10);
}

uint64_t self_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

long raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

int listen_tcp(int port, int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) || listen(fd, backlog)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (r || listen(fd, backlog)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static const pid_t *term_child;

static void on_term(int sig)
{
	(void)sig;
	if (term_child && *term_child > 0)
		kill(*term_child, SIGTERM);
	_exit(0);
}

void exit_on_term(const pid_t *child)
{
	term_child = child;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
}
