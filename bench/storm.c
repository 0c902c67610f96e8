/* storm.c: the harness's join-storm mode (fanout-client --storm).
 *
 * All N connects are started at once: one non-blocking connect() after the
 * other, as fast as the harness core issues them, with no waiting for the
 * server in between.  Each client is timed from its own connect() call until
 * the server has registered it, as far as a client can tell:
 *   --ready first      the first byte from the server (ringside's history
 *                      replay, the floor's and the naive server's greeting)
 *   --ready subscribe  Redis's reply to the SUBSCRIBE sent once the connect
 *                      completed
 *   --ready sync       ncat --broker, which says nothing to a new client: the
 *                      first "@SYNC" line relayed to it from a probe connection
 *                      made before the storm, which sends one every --probe-ms
 *                      (so the figure is late by up to that interval)
 * Every byte each client receives from its connect until --settle-secs after
 * the last registration is counted: what join notices cost during a storm
 * (O(N) in total when a storm is told in a bounded number of lines).  Also
 * reported: the listener's overflows and drops and the SYN retransmissions
 * during the storm (TcpExt counters, machine-wide), the server's CPU and RSS.
 * Prints one JSON summary line. */
#include "hist.h"
#include "parse.h"
#include "storm.h"
#include "util.h"
#include "xport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum st { ST_WAIT, ST_CONNECTING, ST_UP, ST_REG, ST_FAILED };

struct sclient {
	int fd;
	enum st st;
	uint8_t attempts;
	uint64_t t_issue;       /* its (last) connect() call */
	uint64_t t_reg;
	uint64_t bytes;
	struct linescan ls;     /* only for subscribe / sync */
};

static const struct harness_opts *o;
static struct sclient *sc;
static int ep = -1, probe_fd = -1;
static int nreg, nfailed, retries, closed_by_server;
static uint64_t now;
static char rbuf[64 * 1024];
static char first_error[128];

#define MAX_ATTEMPTS 3

struct netc {
	uint64_t overflows, drops, syn_retrans;
};

static void read_netstat(struct netc *n)
{
	static char buf[16384];
	memset(n, 0, sizeof *n);
	int fd = open("/proc/net/netstat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t k = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (k <= 0)
		return;
	buf[k] = 0;
	netstat_value(buf, "TcpExt", "ListenOverflows", &n->overflows);
	netstat_value(buf, "TcpExt", "ListenDrops", &n->drops);
	netstat_value(buf, "TcpExt", "TCPSynRetrans", &n->syn_retrans);
}

static void registered(struct sclient *c)
{
	if (c->st == ST_REG)
		return;
	c->st = ST_REG;
	c->t_reg = now;
	nreg++;
}

static void on_line(void *arg, const char *head, size_t hlen, uint64_t len)
{
	struct sclient *c = arg;
	struct line_info li;
	classify_line(head, hlen, len, &li);
	if ((o->ready == READY_SUBSCRIBE && li.kind == LK_SUBSCRIBE) ||
	    (o->ready == READY_SYNC && li.kind == LK_SYNC))
		registered(c);
}

static void give_up(struct sclient *c, const char *why)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (!first_error[0])
		snprintf(first_error, sizeof first_error, "client %d: %s", (int)(c - sc), why);
	if (c->st != ST_REG && c->attempts < MAX_ATTEMPTS) {
		c->st = ST_WAIT;     /* started again by the main loop */
		retries++;
	} else if (c->st != ST_REG) {
		c->st = ST_FAILED;
		nfailed++;
	}
}

/* Starts one connect; false if the harness itself is out of resources. */
static bool start(struct sclient *c)
{
	c->attempts++;
	c->t_issue = now_ns();
	c->fd = xport_connect(o->unix_path, o->port, 0);
	if (c->fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			return false;
		/* EAGAIN: a Unix listener's backlog is full; others: try again too */
		char why[96];
		snprintf(why, sizeof why, "connect: %s", strerror(errno));
		give_up(c, why);
		return true;
	}
	c->st = ST_CONNECTING;
	ls_init(&c->ls);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - sc)};
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return true;
}

static void on_event(struct sclient *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (c->st == ST_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = xport_connect_error(c->fd);
		if (err) {
			char why[96];
			snprintf(why, sizeof why, "connect: %s", strerror(err));
			give_up(c, why);
			return;
		}
		c->st = ST_UP;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - sc)};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		if (o->ready == READY_SUBSCRIBE) {
			static const char sub[] = "SUBSCRIBE bench\r\n";
			if (send(c->fd, sub, sizeof sub - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof sub - 1)) {
				give_up(c, "cannot send SUBSCRIBE");
				return;
			}
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->st == ST_CONNECTING)
		return;
	ssize_t r = recv(c->fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
	if (r > 0) {
		now = now_ns();
		c->bytes += (uint64_t)r;
		if (o->ready == READY_FIRST)
			registered(c);
		else
			ls_feed(&c->ls, rbuf, (size_t)r, on_line, c);
	} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
		closed_by_server++;
		give_up(c, r == 0 ? "closed by the server" : strerror(errno));
	}
}

static void poll_events(int timeout_ms)
{
	struct epoll_event evs[1024];
	int n = epoll_wait(ep, evs, 1024, timeout_ms);
	now = now_ns();
	for (int e = 0; e < n; e++) {
		if (evs[e].data.u32 == UINT32_MAX) {
			/* the probe: ncat relays nothing back to its sender; drain anyway */
			if (recv(probe_fd, rbuf, sizeof rbuf, MSG_DONTWAIT) == 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, probe_fd, NULL);
				close(probe_fd);
				probe_fd = -1;
			}
			continue;
		}
		on_event(&sc[evs[e].data.u32], evs[e].events);
	}
}

/* The ncat probe: connected, and seen by the broker, before the storm. */
static int probe_connect(char *err, size_t errlen)
{
	int fd = xport_connect(o->unix_path, o->port, 0);
	if (fd < 0) {
		snprintf(err, errlen, "probe connect: %s", strerror(errno));
		return -1;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int e = poll(&p, 1, 5000) == 1 ? xport_connect_error(fd) : ETIMEDOUT;
	if (e) {
		snprintf(err, errlen, "probe connect: %s", strerror(e));
		close(fd);
		return -1;
	}
	/* Give the broker a moment to take it into its select() set. */
	usleep(100000);
	return fd;
}

static void close_all(void)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	for (int i = 0; sc && i < o->clients; i++) {
		if (sc[i].fd >= 0) {
			/* RST: no TIME_WAIT for N ports (see fanout-client.c) */
			setsockopt(sc[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(sc[i].fd);
			sc[i].fd = -1;
		}
	}
	if (probe_fd >= 0) {
		setsockopt(probe_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(probe_fd);
		probe_fd = -1;
	}
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

int storm_run(const struct harness_opts *opts, char *err, size_t errlen)
{
	o = opts;
	sc = calloc((size_t)o->clients, sizeof *sc);
	struct hist *h = hist_new(), *hb = hist_new();
	if (!sc || !h || !hb) {
		snprintf(err, errlen, "out of memory for %d clients", o->clients);
		return -1;
	}
	for (int i = 0; i < o->clients; i++)
		sc[i].fd = -1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (o->ready == READY_SYNC) {
		probe_fd = probe_connect(err, errlen);
		if (probe_fd < 0)
			return -1;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
		epoll_ctl(ep, EPOLL_CTL_ADD, probe_fd, &ev);
	}

	struct proc_cpu cpu_a = {0}, cpu_b = {0};
	uint64_t rss_base = 0, rss_reg = 0, rss_after = 0;
	if (o->server_pid) {
		proc_cpu_read(o->server_pid, &cpu_a);
		proc_rss_kib(o->server_pid, &rss_base, NULL);
	}
	struct netc na, nb;
	read_netstat(&na);
	uint64_t self_a = self_cpu_ns();

	/* The storm: every connect issued back to back.  Events are looked at
	 * (without waiting) every 64 connects so that an early client's first
	 * byte is timed when it arrives, not after the last connect. */
	uint64_t t0 = now_ns(), next_probe = t0;
	for (int i = 0; i < o->clients; i++) {
		if (!start(&sc[i])) {
			snprintf(err, errlen, "socket: %s (ulimit -n?)", strerror(errno));
			close_all();
			return -1;
		}
		if ((i & 63) == 63)
			poll_events(0);
	}
	uint64_t t_issued = now_ns();

	uint64_t deadline = t0 + (uint64_t)(o->timeout * 1e9);
	uint64_t last_retry = t_issued;
	while (nreg + nfailed < o->clients && now_ns() < deadline) {
		if (probe_fd >= 0 && now_ns() >= next_probe) {
			static const char syn[] = SYNC_MAGIC "\n";
			if (send(probe_fd, syn, sizeof syn - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
				snprintf(err, errlen, "probe: %s", strerror(errno));
				close_all();
				return -1;
			}
			next_probe += (uint64_t)o->probe_ms * 1000000ull;
		}
		poll_events(o->ready == READY_SYNC ? 1 : 5);
		/* Clients whose connect failed outright start again, at most every 10 ms. */
		if (now - last_retry > 10000000ull) {
			last_retry = now;
			for (int i = 0; i < o->clients; i++)
				if (sc[i].st == ST_WAIT && !start(&sc[i])) {
					snprintf(err, errlen, "socket: %s (ulimit -n?)", strerror(errno));
					close_all();
					return -1;
				}
		}
	}
	uint64_t t_last = t0;
	for (int i = 0; i < o->clients; i++)
		if (sc[i].st == ST_REG && sc[i].t_reg > t_last)
			t_last = sc[i].t_reg;
	if (o->server_pid)
		proc_rss_kib(o->server_pid, &rss_reg, NULL);

	/* Join notices still on their way (ringside tells a window's joins when
	 * the window closes): counted until settle_secs after the last join. */
	uint64_t settle_end = (nreg ? t_last : now_ns()) + (uint64_t)(o->settle_secs * 1e9);
	while (now_ns() < settle_end)
		poll_events(5);
	if (o->server_pid) {
		proc_cpu_read(o->server_pid, &cpu_b);
		proc_rss_kib(o->server_pid, &rss_after, NULL);
	}
	read_netstat(&nb);
	uint64_t self_b = self_cpu_ns();

	uint64_t bytes_total = 0, bytes_max = 0;
	for (int i = 0; i < o->clients; i++) {
		struct sclient *c = &sc[i];
		bytes_total += c->bytes;
		if (c->bytes > bytes_max)
			bytes_max = c->bytes;
		if (c->st == ST_REG) {
			hist_record(h, c->t_reg - c->t_issue);
			hist_record(hb, c->bytes);
		}
	}
	uint64_t cpu_ns = o->server_pid ? proc_cpu_delta(&cpu_a, &cpu_b) : 0;
	printf("{\"label\":\"%s\",\"summary\":1,\"storm\":1,\"n\":%d,\"transport\":\"%s\",\"ready\":\"%s\""
	       ",\"registered\":%d,\"failed\":%d,\"retries\":%d,\"closed_by_server\":%d,\"first_error\":\"%s\""
	       ",\"issue_s\":%.4f,\"all_registered_s\":%.4f"
	       ",\"reg_p50_ms\":%.3f,\"reg_p90_ms\":%.3f,\"reg_p99_ms\":%.3f,\"reg_max_ms\":%.3f"
	       ",\"bytes_total\":%llu,\"bytes_per_client_mean\":%.1f,\"bytes_per_client_p50\":%llu"
	       ",\"bytes_per_client_max\":%llu,\"settle_s\":%.3f"
	       ",\"listen_overflows\":%llu,\"listen_drops\":%llu,\"syn_retrans\":%llu"
	       ",\"server_cpu_s\":%.4f,\"server_cpu_us_per_client\":%.2f,\"harness_cpu_s\":%.3f"
	       ",\"rss_base_kib\":%llu,\"rss_registered_kib\":%llu,\"rss_after_kib\":%llu}\n",
	       o->label, o->clients, o->unix_path ? "unix" : "tcp",
	       o->ready == READY_FIRST ? "first byte" : o->ready == READY_SUBSCRIBE ? "subscribe" : "sync",
	       nreg, o->clients - nreg, retries, closed_by_server, first_error,
	       (double)(t_issued - t0) / 1e9, nreg ? (double)(t_last - t0) / 1e9 : 0.0,
	       ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)), ms(hist_percentile(h, 99)),
	       ms(hist_percentile(h, 100)), (unsigned long long)bytes_total,
	       (double)bytes_total / o->clients, (unsigned long long)hist_percentile(hb, 50),
	       (unsigned long long)bytes_max, o->settle_secs,
	       (unsigned long long)(nb.overflows - na.overflows), (unsigned long long)(nb.drops - na.drops),
	       (unsigned long long)(nb.syn_retrans - na.syn_retrans), (double)cpu_ns / 1e9,
	       nreg ? (double)cpu_ns / 1e3 / nreg : 0.0, (double)(self_b - self_a) / 1e9,
	       (unsigned long long)rss_base, (unsigned long long)rss_reg, (unsigned long long)rss_after);
	fflush(stdout);
	close_all();
	hist_free(h);
	hist_free(hb);
	free(sc);
	sc = NULL;
	close(ep);
	return 0;
}
