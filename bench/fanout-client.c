/* fanout-client.c: the client harness every contender is measured with.
 *
 * One process (pinned to the harness core by the runner) opens N connections
 * (TCP to 127.0.0.1:PORT or a Unix socket, optionally with TLS: xport.c),
 * waits until the server has registered them all, then drives the producer
 * through phases ("go <rate> <count> <phase>") and, for every record each
 * client receives, records
 *   delivery latency   = receive time - the record's scheduled send time
 *   completion latency = when the last counted client got it - scheduled time
 * in log-linear histograms (hist.c).  It checks sequence numbers per client
 * (missing, out of order, missing after a "[ringside: N bytes skipped]" gap),
 * samples the server's CPU and RSS from /proc, and prints one JSON object per
 * phase plus a summary on stdout for bench/run.py.
 *
 * Phases: warm-up (discarded), latency (open loop, well under saturation),
 * then optionally throughput steps (rate x factor until not sustainable), or,
 * with --slow, a no-stall phase and a phase in which 1% of the clients stop
 * reading for --stall-secs.
 *
 * Two modes without phases: --idle (what an idle connected client costs the
 * server in RSS, see run_idle()) and --storm (all connects at once, storm.c). */
#include "hist.h"
#include "parse.h"
#include "storm.h"
#include "util.h"
#include "xport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct client {
	int fd;
	SSL *ssl;             /* TLS session, NULL for a plain stream */
	bool tcp_up;          /* connect done (TLS: handshake may still run) */
	bool again;           /* TLS bytes buffered past a read budget: read again */
	bool dead;
	bool stalled;         /* member of the stall set (slow scenario) */
	bool paused;          /* currently not being read */
	bool ready;
	bool connected;
	bool ended;           /* saw the current phase's "@RE" */
	bool gap_pending;     /* a gap marker arrived since the last record */
	uint64_t exp_seq;     /* next sequence number expected */
	struct linescan ls;
};

/* Per-phase counters, one set for normal clients, one for stalled clients. */
struct agg {
	uint64_t clients, deliveries, missing, missing_gap, ooo, corrupt, gaps, gap_bytes;
	uint64_t disconnects, lost_disconnect, late;
	uint64_t undelivered;  /* not received when the phase hit its deadline */
};

struct phase {
	char name[16];
	uint64_t id;
	double rate;
	uint64_t count, first_seq;
	bool stall;
	uint64_t t_go, t_first_sched, t_last_recv;
	uint32_t *remaining;  /* per record: counted clients still to receive it */
	uint64_t *sched;      /* per record: scheduled time (from the first copy seen) */
	uint64_t *compl_ns;   /* per record: completion latency, 0 = not complete */
	int pending_end;      /* live clients that have not seen "@RE" yet */
	struct hist *lat[2];
	struct hist *compl_h;
	struct agg agg[2];
	bool timed_out;
};

static struct harness_opts o;
static struct client *cl;
static int ep = -1;
static int live;                  /* clients not disconnected */
static uint64_t g_now;            /* time of the recv being parsed */
static struct phase *cur;         /* NULL outside phases */
static long stats_clients = -1;   /* last "clients=" seen by client 0 */
static char stats_line[LS_HEAD + 1]; /* last stats line seen by client 0 */
static int ready_count;
static pid_t producer_pid;
static int producer_in = -1;
static uint64_t run_deadline;
static uint64_t next_phase_id, next_seq_expected;
static char rbuf[256 * 1024];
static SSL_CTX *tls_ctx;
static uint32_t *again_list;      /* clients with c->again set */
static int nagain;
static uint64_t last_rx;          /* when any client last received bytes */

static void cleanup(void)
{
	if (producer_pid > 0) {
		kill(producer_pid, SIGTERM);
		waitpid(producer_pid, NULL, 0);
		producer_pid = 0;
	}
	/* RST instead of FIN: the harness side would otherwise hold N ports in
	 * TIME_WAIT for 60 s and runs at N = 10,000 would exhaust the ephemeral range. */
	if (cl) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		for (int i = 0; i < o.clients; i++) {
			if (cl[i].ssl) {
				SSL_free(cl[i].ssl);
				cl[i].ssl = NULL;
			}
			if (cl[i].fd >= 0) {
				setsockopt(cl[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
				close(cl[i].fd);
				cl[i].fd = -1;
			}
		}
	}
}

static void on_signal(int sig)
{
	(void)sig;
	cleanup();
	_exit(3);
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	char msg[512];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "fanout-client[%s]: %s\n", o.label, msg);
	printf("{\"label\":\"%s\",\"summary\":1,\"error\":\"%s\"}\n", o.label, msg);
	fflush(stdout);
	cleanup();
	exit(1);
}

/* ------------------------------------------------------------------ stream */

static void disconnect(struct client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	live--;
	if (!c->paused)
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	if (!cur)
		return;
	struct agg *a = &cur->agg[c->stalled && cur->stall];
	a->disconnects++;
	uint64_t end = cur->first_seq + cur->count;
	uint64_t from = c->exp_seq > cur->first_seq ? c->exp_seq : cur->first_seq;
	if (!c->ended) {
		cur->pending_end--;
		if (end > from)
			a->lost_disconnect += end - from;
	}
	/* A counted client that left no longer holds back completion of the
	 * records it never got. */
	if (!(c->stalled && cur->stall) && !c->ended) {
		for (uint64_t s = from; s < end; s++) {
			uint64_t i = s - cur->first_seq;
			if (cur->remaining[i] && --cur->remaining[i] == 0 && cur->sched[i]) {
				uint64_t l = g_now > cur->sched[i] ? g_now - cur->sched[i] : 1;
				cur->compl_ns[i] = l;
				hist_record(cur->compl_h, l);
			}
		}
	}
}

static void on_record(struct client *c, const struct line_info *li)
{
	if (!cur) {
		/* Records outside a phase (should not happen): keep order state only. */
		if (li->seq >= c->exp_seq)
			c->exp_seq = li->seq + 1;
		return;
	}
	bool st = c->stalled && cur->stall;
	struct agg *a = &cur->agg[st];
	if (li->rec_len != o.size - 1)
		a->corrupt++;
	if (li->seq < c->exp_seq) {
		a->ooo++;
		return;
	}
	if (li->seq > c->exp_seq) {
		uint64_t gap = li->seq - c->exp_seq;
		a->missing += gap;
		if (c->gap_pending)
			a->missing_gap += gap;
	}
	c->exp_seq = li->seq + 1;
	c->gap_pending = false;
	a->deliveries++;
	uint64_t lat = g_now > li->t_ns ? g_now - li->t_ns : 0;
	hist_record(cur->lat[st], lat);
	if (li->seq < cur->first_seq || li->seq >= cur->first_seq + cur->count) {
		a->late++;
		return;
	}
	uint64_t i = li->seq - cur->first_seq;
	if (!cur->sched[i])
		cur->sched[i] = li->t_ns ? li->t_ns : 1;
	if (!cur->t_first_sched || li->t_ns < cur->t_first_sched)
		cur->t_first_sched = li->t_ns;
	cur->t_last_recv = g_now;
	if (!st && cur->remaining[i] && --cur->remaining[i] == 0) {
		cur->compl_ns[i] = lat ? lat : 1;
		hist_record(cur->compl_h, lat);
	}
}

static void on_line(void *arg, const char *head, size_t hlen, uint64_t len)
{
	struct client *c = arg;
	struct line_info li;
	classify_line(head, hlen, len, &li);
	if (li.has_gap) {
		c->gap_pending = true;
		if (cur) {
			struct agg *a = &cur->agg[c->stalled && cur->stall];
			a->gaps++;
			a->gap_bytes += li.gap_bytes;
		}
	}
	switch (li.kind) {
	case LK_RECORD:
		on_record(c, &li);
		break;
	case LK_END:
		if (cur && li.phase == cur->id && !c->ended) {
			if (c->exp_seq < li.next_seq) {
				struct agg *a = &cur->agg[c->stalled && cur->stall];
				uint64_t gap = li.next_seq - c->exp_seq;
				a->missing += gap;
				if (c->gap_pending)
					a->missing_gap += gap;
				c->exp_seq = li.next_seq;
			}
			c->ended = true;
			cur->pending_end--;
		}
		break;
	case LK_STATS:
		if (c == &cl[0]) {
			stats_clients = li.clients;
			memcpy(stats_line, head, hlen);
			stats_line[hlen] = 0;
		}
		break;
	case LK_SUBSCRIBE:
		if (!c->ready) {
			c->ready = true;
			ready_count++;
		}
		break;
	case LK_SYNC:
		if (c != &cl[0] && !c->ready) {
			c->ready = true;
			ready_count++;
		}
		break;
	default:
		break;
	}
}

static void mark_again(struct client *c)
{
	if (!c->again) {
		c->again = true;
		again_list[nagain++] = (uint32_t)(c - cl);
	}
}

/* Reads one ready client: one recv() of up to sizeof rbuf for a plain
 * stream.  A TLS read returns one record at a time, so it reads records up to
 * the same budget; what OpenSSL then still holds is invisible to epoll and is
 * read in the next round. */
static void read_client(struct client *c)
{
	size_t got = 0;
	for (;;) {
		ssize_t r = xport_recv(c->fd, c->ssl, rbuf, sizeof rbuf);
		if (r > 0) {
			g_now = last_rx = now_ns();
			if (o.ready == READY_FIRST && !c->ready) {
				c->ready = true;
				ready_count++;
			}
			ls_feed(&c->ls, rbuf, (size_t)r, on_line, c);
			got += (size_t)r;
			if (!c->ssl)
				return;
			if (got >= sizeof rbuf) {
				if (xport_pending(c->ssl))
					mark_again(c);
				return;
			}
		} else {
			if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				g_now = now_ns();
				disconnect(c);
			}
			return;
		}
	}
}

/* One epoll round: reads each ready client once (fair), parses what came. */
static void poll_once(int timeout_ms)
{
	struct epoll_event evs[1024];
	if (nagain) {
		/* Copy first: reading may put a client back on the list. */
		uint32_t batch[1024];
		int k = nagain < 1024 ? nagain : 1024;
		memcpy(batch, again_list, (size_t)k * sizeof *batch);
		memmove(again_list, again_list + k, (size_t)(nagain - k) * sizeof *again_list);
		nagain -= k;
		for (int i = 0; i < k; i++) {
			struct client *c = &cl[batch[i]];
			c->again = false;
			if (!c->dead && !c->paused)
				read_client(c);
		}
		timeout_ms = 0;
	}
	int n = epoll_wait(ep, evs, 1024, timeout_ms);
	for (int e = 0; e < n; e++) {
		struct client *c = &cl[evs[e].data.u32];
		if (c->dead || c->paused)
			continue;
		read_client(c);
	}
}

static void send_line(struct client *c, const char *s)
{
	size_t n = strlen(s);
	const char *p = s;
	uint64_t until = now_ns() + 2000000000ull;
	while (n) {
		if (c->dead)
			fail("client %d was disconnected while sending a control line", (int)(c - cl));
		ssize_t k = xport_send(c->fd, c->ssl, p, n);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k < 0 && (errno == EAGAIN || errno == EINTR) && now_ns() < until) {
			poll_once(1);
		} else {
			fail("cannot send control line: %s", strerror(errno));
		}
	}
}

static void send_go(const char *line)
{
	if (o.go == GO_PRODUCER) {
		if (write_all(producer_in, line, strlen(line)))
			fail("producer stdin: %s", strerror(errno));
	} else {
		if (cl[0].dead)
			fail("control client (0) was disconnected");
		send_line(&cl[0], line);
	}
}

/* ------------------------------------------------------------------ set-up */

static char last_drop[256];        /* why the last connection attempt failed */

/* Gives up on a connection of the current batch (it is retried). */
static void drop_attempt(int cep, struct client *c, const char *why)
{
	epoll_ctl(cep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->tcp_up = false;
	if (why)
		snprintf(last_drop, sizeof last_drop, "%s", why);
	if (why)
		fprintf(stderr, "fanout-client[%s]: client %d: %s (will retry)\n", o.label, (int)(c - cl), why);
}

/* The connection is usable: it moves to the main loop. */
static void joined(int cep, struct client *c)
{
	epoll_ctl(cep, EPOLL_CTL_DEL, c->fd, NULL);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - cl)};
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	ls_init(&c->ls);
	c->connected = true;
	live++;
	if (c->ssl && xport_pending(c->ssl))
		mark_again(c);
	if (o.ready == READY_SUBSCRIBE)
		send_line(c, "SUBSCRIBE bench\r\n");
}

/* Advances one connection of the batch; true once it has left the batch
 * (joined or dropped). */
static bool advance(int cep, struct client *c)
{
	char why[256];
	if (!c->tcp_up) {
		int err = xport_connect_error(c->fd);
		if (err) {
			snprintf(last_drop, sizeof last_drop, "connect: %s", strerror(err));
			drop_attempt(cep, c, NULL);
			return true;
		}
		c->tcp_up = true;
		if (tls_ctx) {
			c->ssl = xport_tls_new(tls_ctx, c->fd);
			if (!c->ssl)
				fail("out of memory for TLS sessions");
		}
	}
	if (c->ssl) {
		int r = xport_tls_handshake(c->ssl, why, sizeof why);
		if (r < 0) {
			drop_attempt(cep, c, why);
			return true;
		}
		if (r > 0) {
			struct epoll_event ev = {.events = (uint32_t)r, .data.u32 = (uint32_t)(c - cl)};
			epoll_ctl(cep, EPOLL_CTL_MOD, c->fd, &ev);
			return false;
		}
	}
	joined(cep, c);
	return true;
}

/* Connects clients [lo, end) in batches of --connect-batch; with TLS a batch
 * is done when its handshakes are, which keeps the number of handshakes in
 * flight (what a server limits per source, like ringside's -maxauth share) at
 * one batch. */
static void connect_range(int lo, int end)
{
	int cep = epoll_create1(EPOLL_CLOEXEC);
	int step = o.stall_frac > 0 ? (int)lround(1.0 / o.stall_frac) : 0;

	for (int base = lo; base < end; base += o.connect_batch) {
		int hi = base + o.connect_batch < end ? base + o.connect_batch : end;
		for (int attempt = 0;; attempt++) {
			int pending = 0;
			for (int i = base; i < hi; i++) {
				struct client *c = &cl[i];
				if (c->fd >= 0)
					continue;
				c->stalled = o.slow && step > 1 && i % step == step / 2;
				/* A stalled client with autotuned buffers would soak up
				 * ~10 MB in the kernel and hide the server's policy. */
				c->fd = xport_connect(o.unix_path, o.port, c->stalled ? o.stall_rcvbuf : 0);
				if (c->fd < 0) {
					if (errno == EMFILE || errno == ENFILE)
						fail("socket: %s (ulimit -n?)", strerror(errno));
					snprintf(last_drop, sizeof last_drop, "connect: %s", strerror(errno));
					continue;
				}
				struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
				epoll_ctl(cep, EPOLL_CTL_ADD, c->fd, &ev);
				pending++;
			}
			uint64_t until = now_ns() + 10000000000ull;
			while (pending > 0 && now_ns() < until) {
				struct epoll_event evs[512];
				int n = epoll_wait(cep, evs, 512, 100);
				for (int e = 0; e < n; e++)
					if (advance(cep, &cl[evs[e].data.u32]))
						pending--;
			}
			int missing = 0;
			for (int i = base; i < hi; i++) {
				if (cl[i].connected)
					continue;
				if (cl[i].fd >= 0) /* still in progress: give up on this try */
					drop_attempt(cep, &cl[i], "no connection within 10 s");
				missing++;
			}
			if (!missing)
				break;
			if (attempt >= 3 || now_ns() > run_deadline)
				fail("could not connect %d of clients %d..%d (last: %s)", missing, base, hi - 1,
				     last_drop[0] ? last_drop : "no answer");
			/* A full Unix backlog or a server refusing a burst: let it drain. */
			poll_once(10);
		}
		/* Keep the server's initial output (history, join notices) moving. */
		poll_once(o.connect_pause_ms);
	}
	close(cep);
}

/* Until the server has registered clients [0, target). */
static void wait_ready(int target)
{
	uint64_t until = now_ns() + (uint64_t)(20e9 + target * 2e6);
	uint64_t last_probe = 0;
	for (;;) {
		uint64_t t = now_ns();
		bool ok = false;
		switch (o.ready) {
		case READY_NONE: ok = true; break;
		case READY_STATS: ok = stats_clients >= target; break;
		case READY_SUBSCRIBE: ok = ready_count >= target; break;
		case READY_SYNC: ok = ready_count >= target - 1; break;
		case READY_FIRST: ok = ready_count >= target; break;
		}
		if (ok)
			break;
		if (t > until || t > run_deadline)
			fail("server never reported all %d clients ready (stats clients=%ld, ready=%d, live=%d)",
			     target, stats_clients, ready_count, live);
		if (t - last_probe > 200000000ull) {
			if (o.ready == READY_STATS)
				send_line(&cl[0], ".stats\n");
			else if (o.ready == READY_SYNC)
				send_line(&cl[0], SYNC_MAGIC "\n");
			last_probe = t;
		}
		poll_once(20);
		if (live < target)
			fail("%d clients disconnected before the start", target - live);
	}
	/* Let the tail of the readiness chatter drain before timing anything. */
	uint64_t settle = now_ns() + 100000000ull;
	while (now_ns() < settle)
		poll_once(10);
}

static void start_producer(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		die("pipe");
	producer_pid = fork();
	if (producer_pid < 0)
		die("fork");
	if (producer_pid == 0) {
		dup2(p[0], 0);
		execvp(o.producer_argv[0], o.producer_argv);
		_exit(127);
	}
	close(p[0]);
	producer_in = p[1];
}

/* ------------------------------------------------------------------ phases */

static void set_paused(bool pause)
{
	for (int i = 0; i < o.clients; i++) {
		struct client *c = &cl[i];
		if (!c->stalled || c->dead || c->paused == pause)
			continue;
		if (pause) {
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		} else {
			struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		}
		c->paused = pause;
		/* What OpenSSL read ahead before the pause has no epoll event. */
		if (!pause && xport_pending(c->ssl))
			mark_again(c);
	}
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A throughput step at N = 10 can hold millions of records: qsort, not
 * anything quadratic. */
static uint64_t median_u64(uint64_t *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_u64);
	return v[n / 2];
}

/* Backlog growth check: completion latency of the last quarter of records
 * must not exceed twice the first quarter's plus 25 ms.  Open loop, so an
 * overloaded server shows a latency ramp even when the phase is short. */
static bool stationary(const struct phase *ph, uint64_t *first_q, uint64_t *last_q)
{
	size_t q = (size_t)(ph->count / 4);
	*first_q = *last_q = 0;
	if (q < 2)
		return true;
	uint64_t *a = malloc(q * sizeof *a), *b = malloc(q * sizeof *b);
	size_t na = 0, nb = 0;
	for (size_t i = 0; i < q; i++) {
		if (ph->compl_ns[i])
			a[na++] = ph->compl_ns[i];
		if (ph->compl_ns[ph->count - q + i])
			b[nb++] = ph->compl_ns[ph->count - q + i];
	}
	*first_q = median_u64(a, na);
	*last_q = median_u64(b, nb);
	free(a);
	free(b);
	return *last_q <= 2 * *first_q + 25000000ull;
}

static void print_hist(const char *pfx, const struct hist *h)
{
	printf(",\"%s_p50_us\":%.1f,\"%s_p99_us\":%.1f,\"%s_p999_us\":%.1f,\"%s_max_us\":%.1f,\"%s_mean_us\":%.1f",
	       pfx, us(hist_percentile(h, 50)), pfx, us(hist_percentile(h, 99)), pfx,
	       us(hist_percentile(h, 99.9)), pfx, us(h->max && h->total ? h->max : 0), pfx, hist_mean(h) / 1000.0);
}

static void print_agg(const char *pfx, const struct agg *a)
{
	printf(",\"%sclients\":%llu,\"%sdeliveries\":%llu,\"%smissing\":%llu,\"%smissing_after_gap\":%llu"
	       ",\"%sooo\":%llu,\"%scorrupt\":%llu,\"%sgaps\":%llu,\"%sgap_bytes\":%llu,\"%sdisconnects\":%llu"
	       ",\"%slost_disconnect\":%llu,\"%slate\":%llu,\"%sundelivered\":%llu",
	       pfx, (unsigned long long)a->clients, pfx, (unsigned long long)a->deliveries, pfx,
	       (unsigned long long)a->missing, pfx, (unsigned long long)a->missing_gap, pfx,
	       (unsigned long long)a->ooo, pfx, (unsigned long long)a->corrupt, pfx, (unsigned long long)a->gaps,
	       pfx, (unsigned long long)a->gap_bytes, pfx, (unsigned long long)a->disconnects, pfx,
	       (unsigned long long)a->lost_disconnect, pfx, (unsigned long long)a->late, pfx,
	       (unsigned long long)a->undelivered);
}

/* The producer's pid: our own child, or the hosting server's (ringside, the
 * floor and the naive server fork it); 0 if not found. */
static pid_t producer_of(void)
{
	if (o.go == GO_PRODUCER)
		return producer_pid;
	return o.server_pid ? proc_first_child(o.server_pid) : 0;
}

/* Runs one phase to completion (or its deadline) and prints its JSON line.
 * Returns true if the phase was sustainable (throughput verdict). */
static double last_harness_busy;   /* harness CPU / wall of the last phase */

static bool run_phase(const char *name, double rate, double secs, bool stall)
{
	struct phase ph;
	memset(&ph, 0, sizeof ph);
	snprintf(ph.name, sizeof ph.name, "%s", name);
	ph.id = next_phase_id++;
	ph.rate = rate;
	ph.count = (uint64_t)ceil(rate * secs);
	if (ph.count < 1)
		ph.count = 1;
	ph.first_seq = next_seq_expected;
	ph.stall = stall;
	ph.remaining = calloc(ph.count, sizeof *ph.remaining);
	ph.sched = calloc(ph.count, sizeof *ph.sched);
	ph.compl_ns = calloc(ph.count, sizeof *ph.compl_ns);
	ph.lat[0] = hist_new();
	ph.lat[1] = hist_new();
	ph.compl_h = hist_new();
	if (!ph.remaining || !ph.sched || !ph.compl_ns || !ph.lat[0] || !ph.lat[1] || !ph.compl_h)
		fail("out of memory for a phase of %llu records", (unsigned long long)ph.count);

	uint32_t counted = 0;
	for (int i = 0; i < o.clients; i++) {
		struct client *c = &cl[i];
		c->ended = false;
		c->gap_pending = false;
		if (c->dead)
			continue;
		ph.pending_end++;
		if (c->stalled && stall)
			ph.agg[1].clients++;
		else
			counted++;
	}
	ph.agg[0].clients = counted;
	for (uint64_t i = 0; i < ph.count; i++)
		ph.remaining[i] = counted;

	struct proc_cpu cpu_a = {0}, cpu_b = {0};
	uint64_t rss_start = 0, rss_max = 0, rss_end = 0, hwm = 0;
	if (o.server_pid) {
		proc_cpu_read(o.server_pid, &cpu_a);
		proc_rss_kib(o.server_pid, &rss_start, &hwm);
		rss_max = rss_start;
	}
	uint64_t self_a = self_cpu_ns();
	struct cpu_times core_a[2], core_b[2];
	struct proc_cpu prod_a = {0}, prod_b = {0};
	pid_t prod = producer_of();
	cpu_times_read(0, &core_a[0]);
	cpu_times_read(1, &core_a[1]);
	struct proc_io sio_a = {0}, sio_b = {0}, pio_a = {0}, pio_b = {0};
	if (prod) {
		proc_cpu_read(prod, &prod_a);
		proc_io_read(prod, &pio_a);
	}
	if (o.server_pid)
		proc_io_read(o.server_pid, &sio_a);

	cur = &ph;
	char go[128];
	/* Start delay: long enough for any server to broadcast the echo of this
	 * line to all N clients (~20 us each at worst) before the first record. */
	double delay_ms = 5 + 0.03 * o.clients;
	snprintf(go, sizeof go, "go %.6g %llu %llu %.1f\n", rate, (unsigned long long)ph.count,
		 (unsigned long long)ph.id, delay_ms);
	ph.t_go = now_ns();
	send_go(go);

	double dur = (double)ph.count / rate + delay_ms / 1000.0;
	double grace = (dur > 3 ? dur : 3) + (stall ? o.stall_secs + 10 : 0);
	uint64_t deadline = ph.t_go + (uint64_t)((dur + grace) * 1e9);
	if (deadline > run_deadline)
		deadline = run_deadline;
	uint64_t stall_on = ph.t_go + (uint64_t)(o.stall_at * 1e9);
	uint64_t stall_off = stall_on + (uint64_t)(o.stall_secs * 1e9);
	uint64_t last_sample = 0;
	bool stalled_now = false, stall_done = false;

	while (ph.pending_end > 0) {
		uint64_t t = now_ns();
		if (t > deadline) {
			ph.timed_out = true;
			break;
		}
		if (stall && !stalled_now && !stall_done && t >= stall_on) {
			set_paused(true);
			stalled_now = true;
		}
		if (stalled_now && t >= stall_off) {
			set_paused(false);
			stalled_now = false;
			stall_done = true;
		}
		if (o.server_pid && t - last_sample > 100000000ull) {
			uint64_t r = 0;
			proc_rss_kib(o.server_pid, &r, NULL);
			if (r > rss_max)
				rss_max = r;
			last_sample = t;
		}
		poll_once(stalled_now ? 10 : 20);
		if (o.go == GO_PRODUCER && producer_pid > 0 && waitpid(producer_pid, NULL, WNOHANG) == producer_pid) {
			producer_pid = 0;
			fail("producer exited during phase %s", name);
		}
	}
	if (stalled_now)
		set_paused(false);
	uint64_t t_done = now_ns();
	if (o.server_pid) {
		proc_cpu_read(o.server_pid, &cpu_b);
		proc_rss_kib(o.server_pid, &rss_end, &hwm);
		if (rss_end > rss_max)
			rss_max = rss_end;
	}
	uint64_t self_b = self_cpu_ns();
	cpu_times_read(0, &core_b[0]);
	cpu_times_read(1, &core_b[1]);
	if (prod) {
		proc_cpu_read(prod, &prod_b);
		proc_io_read(prod, &pio_b);
	}
	if (o.server_pid)
		proc_io_read(o.server_pid, &sio_b);
	cur = NULL;

	/* Clients that had not seen the end marker by the deadline: what they
	 * had not received yet is "undelivered at the deadline" (a phase that
	 * timed out), not loss, which is a hole in what did arrive. */
	uint64_t end_seq = ph.first_seq + ph.count;
	for (int i = 0; i < o.clients; i++) {
		struct client *c = &cl[i];
		if (c->dead || c->ended)
			continue;
		if (c->exp_seq < end_seq) {
			struct agg *a = &ph.agg[c->stalled && stall];
			a->undelivered += end_seq - (c->exp_seq > ph.first_seq ? c->exp_seq : ph.first_seq);
		}
	}
	next_seq_expected = end_seq;

	uint64_t incomplete = 0;
	for (uint64_t i = 0; i < ph.count; i++)
		if (!ph.compl_ns[i])
			incomplete++;
	if (counted == 0)
		incomplete = 0;
	uint64_t deliv = ph.agg[0].deliveries + ph.agg[1].deliveries;
	uint64_t cpu_ns = o.server_pid ? proc_cpu_delta(&cpu_a, &cpu_b) : 0;
	double span = ph.t_last_recv > ph.t_first_sched ? (double)(ph.t_last_recv - ph.t_first_sched) / 1e9 : 0;
	uint64_t fq, lq;
	bool stat_ok = stationary(&ph, &fq, &lq);
	uint64_t cmp99 = hist_percentile(ph.compl_h, 99);
	/* Kept up: the records were out by the end of the offered time plus a
	 * quarter of it (and 100 ms).  Completion latencies alone can miss a
	 * backlog that is large from the first quarter on: a step that took 2.1 s
	 * to deliver 1.5 s of records had last-quarter latencies < 2 x its
	 * first quarter's. */
	double offered_s = (double)ph.count / rate;
	double drain_s = span - offered_s;
	bool drained = drain_s <= 0.25 * offered_s + 0.1;
	bool sustainable = !ph.timed_out && ph.agg[0].missing == 0 && ph.agg[0].disconnects == 0 &&
			   incomplete == 0 && cmp99 <= 1000000000ull && stat_ok && drained;

	printf("{\"label\":\"%s\",\"phase\":\"%s\",\"id\":%llu,\"n\":%d,\"size\":%llu,\"rate\":%.6g,\"count\":%llu"
	       ",\"offered_dps\":%.1f",
	       o.label, ph.name, (unsigned long long)ph.id, o.clients, (unsigned long long)o.size, rate,
	       (unsigned long long)ph.count, rate * counted);
	print_agg("", &ph.agg[0]);
	printf(",\"expected\":%llu,\"incomplete_records\":%llu", (unsigned long long)(ph.count * counted),
	       (unsigned long long)incomplete);
	print_hist("lat", ph.lat[0]);
	print_hist("cmp", ph.compl_h);
	printf(",\"cmp_first_quarter_p50_us\":%.1f,\"cmp_last_quarter_p50_us\":%.1f,\"stationary\":%s"
	       ",\"drain_s\":%.3f,\"drained\":%s",
	       us(fq), us(lq), stat_ok ? "true" : "false", drain_s, drained ? "true" : "false");
	printf(",\"achieved_dps\":%.1f,\"wall_s\":%.3f,\"server_cpu_s\":%.4f,\"server_cpu_us_per_deliv\":%.3f"
	       ",\"server_sched_s\":%.4f,\"server_tick_s\":%.4f,\"core0_busy_s\":%.3f,\"harness_cpu_s\":%.3f",
	       span > 0 ? (double)ph.agg[0].deliveries / span : 0, (double)(t_done - ph.t_go) / 1e9,
	       (double)cpu_ns / 1e9, deliv ? (double)cpu_ns / 1e3 / (double)deliv : 0,
	       (double)(cpu_b.sched_ns - cpu_a.sched_ns) / 1e9, (double)(cpu_b.tick_ns - cpu_a.tick_ns) / 1e9,
	       (double)(core_b[0].busy - core_a[0].busy) / 1e9, (double)(self_b - self_a) / 1e9);
	/* Where a ceiling comes from: both cores, their softirq and steal, the
	 * producer (on the harness core). */
	printf(",\"core1_busy_s\":%.3f,\"core0_softirq_s\":%.3f,\"core1_softirq_s\":%.3f"
	       ",\"core0_steal_s\":%.3f,\"core1_steal_s\":%.3f,\"producer_cpu_s\":%.4f",
	       (double)(core_b[1].busy - core_a[1].busy) / 1e9,
	       (double)(core_b[0].softirq - core_a[0].softirq) / 1e9,
	       (double)(core_b[1].softirq - core_a[1].softirq) / 1e9,
	       (double)(core_b[0].steal - core_a[0].steal) / 1e9, (double)(core_b[1].steal - core_a[1].steal) / 1e9,
	       prod ? (double)proc_cpu_delta(&prod_a, &prod_b) / 1e9 : 0.0);
	/* The pty path: the producer's write()s, the server's read()s (its pty
	 * reads for a hosting server) and how often the server slept. */
	printf(",\"producer_writes\":%llu,\"producer_write_bytes\":%llu,\"server_reads\":%llu"
	       ",\"server_read_bytes\":%llu,\"server_wakeups\":%llu,\"server_preempted\":%llu",
	       (unsigned long long)(pio_b.syscw - pio_a.syscw), (unsigned long long)(pio_b.wchar - pio_a.wchar),
	       (unsigned long long)(sio_b.syscr - sio_a.syscr), (unsigned long long)(sio_b.rchar - sio_a.rchar),
	       (unsigned long long)(sio_b.vcsw - sio_a.vcsw), (unsigned long long)(sio_b.ivcsw - sio_a.ivcsw));
	printf(",\"rss_kib_start\":%llu,\"rss_kib_max\":%llu,\"rss_kib_end\":%llu,\"rss_growth_kib\":%lld",
	       (unsigned long long)rss_start, (unsigned long long)rss_max, (unsigned long long)rss_end,
	       (long long)rss_max - (long long)rss_start);
	last_harness_busy = t_done > ph.t_go ? (double)(self_b - self_a) / (double)(t_done - ph.t_go) : 0;
	printf(",\"harness_busy\":%.3f,\"timed_out\":%s,\"sustainable\":%s", last_harness_busy,
	       ph.timed_out ? "true" : "false", sustainable ? "true" : "false");
	if (stall) {
		print_agg("stalled_", &ph.agg[1]);
		print_hist("stalled_lat", ph.lat[1]);
	}
	printf("}\n");
	fflush(stdout);

	free(ph.remaining);
	free(ph.sched);
	free(ph.compl_ns);
	hist_free(ph.lat[0]);
	hist_free(ph.lat[1]);
	hist_free(ph.compl_h);
	if (ph.timed_out)
		fprintf(stderr, "fanout-client[%s]: phase %s timed out (%d clients without the end marker)\n",
			o.label, name, ph.pending_end);
	return sustainable && !ph.timed_out;
}

/* Idle gap between phases so one phase's tail does not bleed into the next. */
static void quiet(double secs)
{
	uint64_t until = now_ns() + (uint64_t)(secs * 1e9);
	while (now_ns() < until)
		poll_once(10);
}

/* Until no client has received anything for 300 ms (at most 5 s): the server
 * has sent the history, greetings and join notices it had for them. */
static void drain(void)
{
	uint64_t t0 = now_ns(), until = t0 + 5000000000ull;
	last_rx = t0;
	while (now_ns() < until && now_ns() - last_rx < 300000000ull)
		poll_once(10);
}

/* --idle: what an idle connected client costs the server in RSS.  W warm
 * clients first (the server's one-off costs of its first clients: allocator
 * arenas, code paths paged in), ready and drained; then the other N - W,
 * ready and drained.  Per client = (RSS(N) - RSS(W)) / (N - W); the old
 * figure, (RSS(N) - RSS(0)) / N, is printed too. */
static int run_idle(void)
{
	struct proc_mem m0, mw, mn;
	if (!o.server_pid)
		fail("--idle needs --server-pid");
	proc_mem_kib(o.server_pid, &m0);
	connect_range(0, o.warm_clients);
	wait_ready(o.warm_clients);
	drain();
	proc_mem_kib(o.server_pid, &mw);
	uint64_t t0 = now_ns();
	connect_range(o.warm_clients, o.clients);
	wait_ready(o.clients);
	double join_s = (double)(now_ns() - t0) / 1e9;
	drain();
	proc_mem_kib(o.server_pid, &mn);
	int k = o.clients - o.warm_clients;
	printf("{\"label\":\"%s\",\"summary\":1,\"idle\":1,\"n\":%d,\"warm_clients\":%d,\"transport\":\"%s%s\""
	       ",\"rss0_kib\":%llu,\"rss_warm_kib\":%llu,\"rss_n_kib\":%llu"
	       ",\"anon0_kib\":%llu,\"anon_warm_kib\":%llu,\"anon_n_kib\":%llu"
	       ",\"file_warm_kib\":%llu,\"file_n_kib\":%llu,\"shmem_warm_kib\":%llu,\"shmem_n_kib\":%llu"
	       ",\"rss_b_per_client\":%.1f,\"anon_b_per_client\":%.1f,\"rss_b_per_client_from0\":%.1f"
	       ",\"join_s\":%.3f,\"live\":%d}\n",
	       o.label, o.clients, o.warm_clients, o.unix_path ? "unix" : "tcp", o.tls ? "+tls" : "",
	       (unsigned long long)m0.rss, (unsigned long long)mw.rss, (unsigned long long)mn.rss,
	       (unsigned long long)m0.anon, (unsigned long long)mw.anon, (unsigned long long)mn.anon,
	       (unsigned long long)mw.file, (unsigned long long)mn.file, (unsigned long long)mw.shmem,
	       (unsigned long long)mn.shmem, ((double)mn.rss - (double)mw.rss) * 1024.0 / k,
	       ((double)mn.anon - (double)mw.anon) * 1024.0 / k,
	       ((double)mn.rss - (double)m0.rss) * 1024.0 / o.clients, join_s, live);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	char err[256];
	if (harness_parse_args(argc, argv, &o, err, sizeof err)) {
		fprintf(stderr, "fanout-client: %s\n", err);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	atexit(cleanup);
	long nofile = raise_nofile();
	if (nofile < o.clients + 32)
		fail("RLIMIT_NOFILE %ld is too small for %d clients", nofile, o.clients);
	uint64_t t_start = now_ns();
	run_deadline = t_start + (uint64_t)(o.timeout * 1e9);
	alarm((unsigned)o.timeout + 15); /* last resort if the loop itself wedges */

	cl = calloc((size_t)o.clients, sizeof *cl);
	again_list = calloc((size_t)o.clients, sizeof *again_list);
	if (!cl || !again_list)
		fail("out of memory");
	if (o.tls) {
		tls_ctx = xport_tls_ctx(o.tls_ca, o.tls_suites, err, sizeof err);
		if (!tls_ctx)
			fail("%s", err);
	}
	for (int i = 0; i < o.clients; i++)
		cl[i].fd = -1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (o.storm) {
		int r = storm_run(&o, err, sizeof err);
		if (r < 0)
			fail("%s", err);
		return r;
	}
	if (o.idle) {
		run_idle();
		if (o.go == GO_CLIENT0 && !cl[0].dead) {
			send_line(&cl[0], "quit\n");
			quiet(0.05);
		}
		cleanup();
		return 0;
	}

	/* Joining: the server's RSS and CPU from before the first connect to
	 * when every client is ready (TLS: handshakes included) and idle. */
	uint64_t rss_base = 0, rss_conn = 0, rss_after = 0, hwm = 0;
	struct proc_cpu join_a = {0}, join_b = {0};
	if (o.server_pid) {
		proc_rss_kib(o.server_pid, &rss_base, &hwm);
		proc_cpu_read(o.server_pid, &join_a);
	}
	connect_range(0, o.clients);
	uint64_t t_conn = now_ns();
	wait_ready(o.clients);
	uint64_t t_ready = now_ns();
	if (o.server_pid) {
		proc_rss_kib(o.server_pid, &rss_conn, &hwm);
		proc_cpu_read(o.server_pid, &join_b);
	}
	char tls_desc[128] = "";
	if (cl[0].ssl)
		xport_tls_describe(cl[0].ssl, tls_desc, sizeof tls_desc);
	if (o.go == GO_PRODUCER)
		start_producer();

	double best_rate = 0;
	int steps = 0;
	bool harness_bound = false, limit_found = false;
	if (o.warm_secs > 0) {
		run_phase("warmup", o.lat_rate, o.warm_secs, false);
		quiet(0.1);
	}
	if (o.slow) {
		run_phase("nostall", o.lat_rate, o.lat_secs, false);
		quiet(0.2);
		run_phase("stall", o.lat_rate, o.slow_secs, true);
	} else {
		run_phase("latency", o.lat_rate, o.lat_secs, false);
		if (o.tput) {
			double r = o.tput_start > 0 ? o.tput_start : o.lat_rate * 2;
			double failed = 0;
			while (steps < o.tput_max_steps && r * o.clients <= o.tput_max_deliv &&
			       now_ns() + (uint64_t)((o.tput_secs * 3 + 4) * 1e9) < run_deadline) {
				quiet(0.2);
				steps++;
				if (!run_phase("tput", r, o.tput_secs, false)) {
					failed = r;
					/* A step the harness could not keep up with says
					 * nothing about the server: the limit is a lower bound.
					 * (Not a reason to stop earlier: the harness is busiest
					 * when the server does not coalesce, and coalescing
					 * grows with the rate.) */
					harness_bound = last_harness_busy > 0.9;
					break;
				}
				best_rate = r;
				r *= o.tput_factor;
			}
			limit_found = failed > 0;
			/* One bisection step between the last good and the first bad rate. */
			if (failed > 0 && best_rate > 0 && o.tput_factor >= 1.5 &&
			    now_ns() + (uint64_t)((o.tput_secs * 3 + 4) * 1e9) < run_deadline) {
				double mid = sqrt(best_rate * failed);
				quiet(0.5);
				steps++;
				if (run_phase("tput", mid, o.tput_secs, false))
					best_rate = mid;
			}
		}
	}

	/* The server's own counters after the run, where it has them. */
	if (o.ready == READY_STATS && !cl[0].dead) {
		stats_line[0] = 0;
		send_line(&cl[0], ".stats\n");
		uint64_t until = now_ns() + 2000000000ull;
		while (!stats_line[0] && now_ns() < until)
			poll_once(10);
	}
	/* Idle again after the traffic: what the server kept (buffers it did
	 * not give back, touched ring pages, allocator caches). */
	quiet(0.3);
	if (o.server_pid)
		proc_rss_kib(o.server_pid, &rss_after, &hwm);
	char esc[2 * LS_HEAD + 1];
	size_t k = 0;
	for (const char *p = stats_line; *p && k + 2 < sizeof esc; p++) {
		if (*p == '"' || *p == '\\')
			esc[k++] = '\\';
		esc[k++] = (*p >= 32 && *p < 127) ? *p : '?';
	}
	esc[k] = 0;
	printf("{\"label\":\"%s\",\"server_stats\":\"%s\",\"summary\":1,\"n\":%d,\"size\":%llu,\"rss_base_kib\":%llu,\"rss_connected_kib\":%llu"
	       ",\"rss_per_client_kib\":%.3f,\"rss_after_kib\":%llu,\"join_cpu_us_per_client\":%.1f"
	       ",\"transport\":\"%s%s\",\"tls\":\"%s\""
	       ",\"connect_s\":%.3f,\"ready_s\":%.3f,\"tput_best_rate\":%.6g"
	       ",\"tput_best_dps\":%.1f,\"tput_steps\":%d,\"tput_harness_bound\":%s,\"tput_limit_found\":%s"
	       ",\"live\":%d}\n",
	       o.label, esc, o.clients, (unsigned long long)o.size, (unsigned long long)rss_base,
	       (unsigned long long)rss_conn,
	       rss_conn > rss_base ? (double)(rss_conn - rss_base) / o.clients : 0.0,
	       (unsigned long long)rss_after,
	       o.server_pid ? (double)proc_cpu_delta(&join_a, &join_b) / 1e3 / o.clients : 0.0,
	       o.unix_path ? "unix" : "tcp", o.tls ? "+tls" : "", tls_desc,
	       (double)(t_conn - t_start) / 1e9, (double)(t_ready - t_conn) / 1e9, best_rate,
	       best_rate * o.clients, steps, harness_bound ? "true" : "false", limit_found ? "true" : "false",
	       live);
	fflush(stdout);

	/* Ask the producer to exit (ringside then ends the session itself). */
	if (o.go == GO_PRODUCER) {
		close(producer_in);
		producer_in = -1;
		int st;
		for (int i = 0; i < 100; i++) {
			if (waitpid(producer_pid, &st, WNOHANG) == producer_pid) {
				producer_pid = 0;
				break;
			}
			usleep(10000);
		}
	} else if (!cl[0].dead) {
		send_line(&cl[0], "quit\n");
		quiet(0.05);
	}
	cleanup();
	return 0;
}
