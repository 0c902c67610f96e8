/* producer.c: the one record source every contender is fed by.
 *
 * It reads commands on stdin and writes records open-loop:
 *     go <rate> <count> <phase> [<delay_ms>]
 *                                 after delay_ms (default 1), emit <count> records at
 *                                 <rate> records/s, then "@RE <phase> <next_seq>";
 *                                 seq continues across phases
 *     quit                        exit 0 (EOF on stdin too)
 * Each record carries the time it was *scheduled* for, not the time it was
 * written, so a server (or pty) that pushes back shows up as latency instead of
 * silently slowing the offered load (coordinated omission).
 *
 * Output (--out):
 *   stdout          plain lines; for ringside and the naive server stdout is the
 *                   pty they host us on, for the floor it is a pipe
 *   redis:PORT      each record is the payload of "PUBLISH bench <record>"
 *   tcp:PORT        lines written to a TCP peer (ncat --broker relays them)
 * --cpu C pins us: a hosting server forks us with its own pinning inherited.
 * --tick-us T wakes us at most every T us (records due in between go out
 * together at the next tick, up to T late, still stamped with their own
 * scheduled time): the ceiling search's producer, whose wake-up and write()
 * per record would otherwise cost a fifth of the harness core at 12,800
 * records/s. */
#include "parse.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum out_kind { OUT_STDOUT, OUT_REDIS, OUT_TCP };

static enum out_kind out_kind = OUT_STDOUT;
static int out_fd = 1;
static size_t rec_size = 64;
static char *batch;           /* records due at one wake-up, written in one go */
static size_t batch_len, batch_cap;
static uint64_t tick_ns;      /* 0: wake for every record */

static int connect_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin))
		die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Replies (Redis ":<n>") or relayed bytes (ncat) must be read, or the peer's
 * send buffer fills and it stops reading us. */
static void drain_peer(void)
{
	if (out_kind == OUT_STDOUT)
		return;
	char tmp[65536];
	for (;;) {
		ssize_t k = recv(out_fd, tmp, sizeof tmp, MSG_DONTWAIT);
		if (k == 0) {
			fprintf(stderr, "producer: peer closed\n");
			exit(1);
		}
		if (k < 0)
			return;
	}
}

static void batch_reserve(size_t more)
{
	if (batch_len + more <= batch_cap)
		return;
	size_t cap = batch_cap ? batch_cap : 65536;
	while (cap < batch_len + more)
		cap *= 2;
	batch = realloc(batch, cap);
	if (!batch)
		die("realloc");
	batch_cap = cap;
}

/* Appends one line (incl. its "\n") to the batch in the output's framing. */
static void batch_line(const char *line, size_t len)
{
	if (out_kind == OUT_REDIS) {
		char hdr[96];
		int h = snprintf(hdr, sizeof hdr, "*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n$%zu\r\n", len);
		batch_reserve((size_t)h + len + 2);
		memcpy(batch + batch_len, hdr, (size_t)h);
		batch_len += (size_t)h;
		memcpy(batch + batch_len, line, len);
		batch_len += len;
		memcpy(batch + batch_len, "\r\n", 2);
		batch_len += 2;
	} else {
		batch_reserve(len);
		memcpy(batch + batch_len, line, len);
		batch_len += len;
	}
}

static void batch_flush(void)
{
	if (batch_len && write_all(out_fd, batch, batch_len))
		die("write");
	batch_len = 0;
	drain_peer();
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t next_seq;

static void run_phase(double rate, uint64_t count, uint64_t phase, double delay_ms)
{
	char *rec = malloc(rec_size);
	if (!rec)
		die("malloc");
	/* Cap one write's worth so a fast rate still flushes regularly. */
	const size_t max_batch_bytes = 1u << 20;
	/* The start delay lets the server finish broadcasting the echo of the
	 * typed "go" line first (ringside and the naive server host us on a
	 * tty, which echoes it to every client); otherwise the first record
	 * of each phase would queue behind that fan-out. */
	if (delay_ms < 1)
		delay_ms = 1;
	uint64_t t0 = now_ns() + (uint64_t)(delay_ms * 1e6);
	for (uint64_t i = 0; i < count;) {
		uint64_t due = t0 + (uint64_t)((double)i * 1e9 / rate);
		uint64_t now = now_ns();
		if (tick_ns && due > t0)
			due = t0 + (due - t0 + tick_ns - 1) / tick_ns * tick_ns;
		if (due > now) {
			sleep_until(due);
			now = now_ns();
		}
		/* Everything already due goes out together: behind schedule we catch
		 * up at full speed, with the original timestamps. */
		while (i < count && batch_len < max_batch_bytes) {
			uint64_t t = t0 + (uint64_t)((double)i * 1e9 / rate);
			if (t > now)
				break;
			record_format(rec, rec_size, next_seq++, t);
			batch_line(rec, rec_size);
			i++;
		}
		batch_flush();
	}
	char end[64];
	int n = snprintf(end, sizeof end, END_MAGIC "%llu %llu\n", (unsigned long long)phase,
			 (unsigned long long)next_seq);
	batch_line(end, (size_t)n);
	batch_flush();
	free(rec);
}

static void usage(void)
{
	fprintf(stderr, "usage: producer [--size S] [--cpu C] [--tick-us T] [--out stdout|redis:PORT|tcp:PORT]\n"
			"  then on stdin: 'go <rate> <count> <phase> [<delay_ms>]' ... 'quit'\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"size", required_argument, 0, 's'},
		{"cpu", required_argument, 0, 'c'},
		{"out", required_argument, 0, 'o'},
		{"tick-us", required_argument, 0, 't'},
		{0, 0, 0, 0},
	};
	const char *out = "stdout";
	int cpu = -1, c;
	uint64_t sz = 64;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's') {
			if (parse_size(optarg, &sz) || sz < REC_MIN_SIZE || sz > REC_MAX_SIZE)
				usage();
		} else if (c == 'c') {
			cpu = atoi(optarg);
		} else if (c == 'o') {
			out = optarg;
		} else if (c == 't') {
			char *e;
			unsigned long t = strtoul(optarg, &e, 10);
			if (*e || t > 1000000)
				usage();
			tick_ns = (uint64_t)t * 1000;
		} else {
			usage();
		}
	}
	rec_size = (size_t)sz;
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* default 50 us slack would blur the schedule */
	if (pin_cpu(cpu))
		die("sched_setaffinity");

	if (!strncmp(out, "redis:", 6)) {
		out_kind = OUT_REDIS;
		out_fd = connect_port(atoi(out + 6));
	} else if (!strncmp(out, "tcp:", 4)) {
		out_kind = OUT_TCP;
		out_fd = connect_port(atoi(out + 4));
	} else if (strcmp(out, "stdout") != 0) {
		usage();
	}

	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		double rate;
		unsigned long long count, phase;
		double delay_ms = 1;
		if (sscanf(line, "go %lf %llu %llu %lf", &rate, &count, &phase, &delay_ms) >= 3 && rate > 0) {
			run_phase(rate, count, phase, delay_ms);
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
		/* Anything else (echo, notices) is not for us. */
	}
	if (out_kind != OUT_STDOUT)
		close(out_fd);
	return 0;
}
