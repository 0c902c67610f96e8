/* SPDX-License-Identifier: MIT */
/*
 * embed-bench: what the embedding API costs next to the pty path.  A host
 * writes 1 KiB records as fast as it can to N raw clients, either itself
 * through ringside_write() (no pty), or as a program on a pty that the
 * session hosts (ringside_spawn(), the CLI's path).  Both run in this one
 * binary through the public API of the static library:
 *
 *   embed-bench [--clients N] [--records R] [--batch B] [--mode api|pty|both]
 *               [--size BYTES] [--cpus S,R]
 *
 * --size sets the record size (default 1024).  --cpus pins the session to
 * CPU S and the reader, and the hosted program of the pty path, to CPU R: the
 * placement of bench/run.py, whose ceiling search runs this.
 *
 * The API host runs a loop turn after every B records it writes (or when a
 * write is refused because sends in flight hold the transcript): B decides
 * how much each turn hands every client in one send.
 *
 * A forked reader process opens the N connections and reads every byte
 * (epoll); once all are in it types "go" on the first one, which starts the
 * writer (the host's command callback, or the hosted program's stdin).  The
 * writer ends with an "END" line; each reader closes once it has seen it.
 * Printed per mode, one JSON line: deliveries (records received, summed over
 * clients), the reader's seconds from the first record to the last END,
 * deliveries per second, and the session process's CPU (user + system,
 * getrusage, the hosted program's own excluded) per delivery.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "include/ringside.h"

#define RECORD_MAX 65536
#define READ_LIMIT_S 120

static unsigned nclients = 1000, nrecords = 5000, batch = 256, record = 1024;
static int cpu_session = -1, cpu_reader = -1;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("sched_setaffinity");
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* One record: "R<seq> xxx...\r\n", record bytes on the wire.  Without CRLF
 * it ends in "\n" alone (record - 1 bytes), to which the pty adds the "\r". */
static void make_record(char *buf, unsigned seq, bool crlf)
{
	size_t body = record - 2;
	int n = snprintf(buf, record, "R%08u ", seq);

	memset(buf + n, 'x', body - (size_t)n);
	memcpy(buf + body, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
}

/* The hosted program of the pty path: waits for "go", then writes. */
static int produce(void)
{
	static char rec[RECORD_MAX];
	char line[64];

	pin(cpu_reader);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (unsigned i = 0; i < nrecords; i++) {
		make_record(rec, i, false);
		fwrite(rec, 1, record - 1, stdout);
	}
	fputs("END\n", stdout);
	fflush(stdout);
	/* Stay until the session has read it all (it hangs us up). */
	return fgets(line, sizeof(line), stdin) ? 0 : 0;
}

/*
 * The readers: N connections, every byte read, records counted per line.
 * Reports "deliveries seconds" on REPORT_FD.
 */
struct reader {
	int fd;
	bool done, checked;
	unsigned nhead;
	char head[3];
};

static int read_all(unsigned port, int report_fd)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct reader *r = calloc(nclients, sizeof(*r));
	struct epoll_event ev, evs[256];
	static char buf[1 << 16];
	unsigned long long deliveries = 0;
	unsigned done = 0;
	double first = 0, last = 0, start = now_s();
	int ep = epoll_create1(0);

	raise_nofile();
	pin(cpu_reader);
	for (unsigned i = 0; i < nclients; i++) {
		r[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(r[i].fd, (struct sockaddr *)&in, sizeof(in)) < 0) {
			perror("connect");
			return 1;
		}
		fcntl(r[i].fd, F_SETFL, O_NONBLOCK);
		ev.events = EPOLLIN;
		ev.data.u32 = i;
		epoll_ctl(ep, EPOLL_CTL_ADD, r[i].fd, &ev);
	}
	/* The server has them all once it answers a command on the last one
	 * (in order: it has accepted every earlier connection by then). */
	if (write(r[nclients - 1].fd, ".echo all-in\n", 13) < 0)
		return 1;
	for (bool told = false; done < nclients && now_s() - start < READ_LIMIT_S;) {
		int n = epoll_wait(ep, evs, 256, 1000);

		for (int k = 0; k < n; k++) {
			struct reader *c = &r[evs[k].data.u32];
			ssize_t got;

			while ((got = read(c->fd, buf, sizeof(buf))) > 0) {
				const char *p = buf, *e = buf + got;

				while (p < e) {
					const char *nl;

					/* The first three bytes of each line tell what it is. */
					while (c->nhead < 3 && p < e && *p != '\n') {
						if (c->nhead == 0 && *p == 'R') {
							deliveries++;
							if (!first)
								first = now_s();
						}
						c->head[c->nhead++] = *p++;
					}
					if (c->nhead == 3 && !c->checked) {
						c->checked = true;
						if (!memcmp(c->head, "END", 3) && !c->done) {
							c->done = true;
							done++;
							last = now_s();
						} else if (!memcmp(c->head, "all", 3) && !told &&
							   c == &r[nclients - 1]) {
							/* "all-in" echoed: start the writer. */
							told = true;
							if (write(r[0].fd, "go\n", 3) < 0)
								return 1;
						}
					}
					nl = memchr(p, '\n', (size_t)(e - p));
					if (!nl)
						break;
					p = nl + 1;
					c->nhead = 0;
					c->checked = false;
				}
			}
			if (got == 0 || c->done) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				if (!c->done) {
					c->done = true;
					done++;
				}
			}
		}
	}
	for (unsigned i = 0; i < nclients; i++)
		close(r[i].fd);
	dprintf(report_fd, "%llu %.6f\n", deliveries, last > first ? last - first : 0);
	free(r);
	return 0;
}

/*
 * The session side.
 */
struct host {
	struct ringside *s;
	bool go;
};

/* Seen in both paths (the typed hook runs before the line goes anywhere). */
static void on_typed(void *arg, const struct ringside_client *who, const char *line, size_t len)
{
	if (len == 2 && memcmp(line, "go", 2) == 0)
		((struct host *)arg)->go = true;
}

static int on_command(void *arg, const struct ringside_client *who, const char *line, size_t len)
{
	return 0;
}

static unsigned free_port(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	bind(fd, (struct sockaddr *)&in, sizeof(in));
	getsockname(fd, (struct sockaddr *)&in, &len);
	close(fd);
	return ntohs(in.sin_port);
}

static int run(bool pty, const char *self)
{
	struct ringside_callbacks cb = { .command = on_command, .typed = on_typed };
	struct ringside_params p;
	struct host h = { 0 };
	static char rec[RECORD_MAX];
	char spec[64], err[256], report[128] = "";
	unsigned port = free_port(), written = 0;
	unsigned long long deliveries;
	double seconds, cpu0 = 0, cpu;
	int pipefd[2], status;
	pid_t reader;

	ringside_params_init(&p);
	p.ring_bytes = 64u << 20;
	p.history_bytes = 0;
	p.notice_ms = 1000;
	if (ringside_new(&h.s, &p, &cb, &h, err, sizeof(err)) < 0 ||
	    ringside_take_process(h.s, RINGSIDE_PROCESS_NOFILE | RINGSIDE_PROCESS_SIGPIPE, err,
				  sizeof(err)) < 0)
		goto fail;
	snprintf(spec, sizeof(spec), "tcp:port=%u", port);
	if (ringside_server_start(h.s, spec, NULL, err, sizeof(err)) < 0)
		goto fail;
	if (pty) {
		char n[16], r[16], sz[16], cpus[32];
		char *argv[] = { (char *)self, "--produce", "--records", r, "--clients", n, "--size", sz,
				 "--cpus", cpus, NULL };

		snprintf(n, sizeof(n), "%u", nclients);
		snprintf(r, sizeof(r), "%u", nrecords);
		snprintf(sz, sizeof(sz), "%u", record);
		snprintf(cpus, sizeof(cpus), "%d,%d", cpu_session, cpu_reader);
		if (ringside_spawn(h.s, argv, err, sizeof(err)) < 0)
			goto fail;
	}
	if (pipe(pipefd) < 0)
		return 1;
	reader = fork();
	if (reader == 0) {
		close(pipefd[0]);
		_exit(read_all(port, pipefd[1]));
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	/* Until the readers report: the writing, then the flush. */
	for (;;) {
		ssize_t got = read(pipefd[0], report, sizeof(report) - 1);

		if (got > 0 || got == 0)
			break;
		if (!pty && h.go && written < nrecords) {
			if (!cpu0)
				cpu0 = cpu_s(RUSAGE_SELF);
			make_record(rec, written, true);
			if (ringside_write(h.s, rec, record) == (ssize_t)record) {
				if (++written == nrecords)
					ringside_write(h.s, "END\r\n", 5);
				if (written % batch)
					continue;
			} else {
				/* Sends in flight hold the transcript: wait for
				 * one to complete instead of spinning. */
				if (ringside_run_once(h.s, 100) != 0)
					break;
				continue;
			}
		}
		if (pty && h.go && !cpu0)
			cpu0 = cpu_s(RUSAGE_SELF);
		if (ringside_run_once(h.s, h.go && !pty && written < nrecords ? 0 : 100) != 0)
			break;
	}
	cpu = cpu_s(RUSAGE_SELF) - cpu0;
	if (sscanf(report, "%llu %lf", &deliveries, &seconds) != 2)
		deliveries = 0, seconds = 0;
	waitpid(reader, &status, 0);
	ringside_destroy(h.s);
	printf("{\"bench\":\"embed\",\"path\":\"%s\",\"clients\":%u,\"records\":%u,\"batch\":%u,"
	       "\"record_bytes\":%u,\"deliveries\":%llu,\"seconds\":%.3f,"
	       "\"deliveries_per_s\":%.0f,\"server_cpu_s\":%.3f,\"cpu_ns_per_delivery\":%.1f}\n",
	       pty ? "pty" : "api", nclients, nrecords, pty ? 0 : batch, record, deliveries, seconds,
	       seconds > 0 ? (double)deliveries / seconds : 0, cpu,
	       deliveries ? cpu * 1e9 / (double)deliveries : 0);
	fflush(stdout);
	return deliveries ? 0 : 1;
fail:
	fprintf(stderr, "embed-bench: %s\n", err);
	return 1;
}

int main(int argc, char **argv)
{
	const char *mode = "both";
	bool producer = false;
	int res = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--clients") && i + 1 < argc)
			nclients = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--records") && i + 1 < argc)
			nrecords = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--produce"))
			producer = true;
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			record = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpus") && i + 1 < argc &&
			 sscanf(argv[++i], "%d,%d", &cpu_session, &cpu_reader) == 2)
			;
		else {
			fprintf(stderr, "usage: %s [--clients N] [--records R] [--batch B] [--mode api|pty|both]\n"
					"       [--size BYTES] [--cpus SESSION,READER]\n",
				argv[0]);
			return 2;
		}
	}
	if (producer)
		return produce();
	if (nclients == 0 || nrecords == 0 || batch == 0 || record < 16 || record > RECORD_MAX) {
		fprintf(stderr, "embed-bench: want N, R, B > 0 and 16 <= size <= %d\n", RECORD_MAX);
		return 2;
	}
	pin(cpu_session);
	if (strcmp(mode, "pty"))
		res |= run(false, argv[0]);
	if (strcmp(mode, "api"))
		res |= run(true, argv[0]);
	return res;
}
