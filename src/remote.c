/* SPDX-License-Identifier: MIT */
/*
 * `ringside -remote SPEC`: the native client.  It joins a session on the same
 * ring/ loop the server uses, authenticates without sending the password,
 * shows records (notices visibly apart from output), and when the connection
 * breaks reconnects with backoff and resumes exactly after the last record
 * it showed.  On a terminal it edits lines with libedit; otherwise it runs a
 * script from stdin and leaves once the output has gone quiet.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "ring/ring.h"
#include "src/auth.h"
#include "src/proto.h"
#include "src/remote.h"
#include "src/remote_internal.h"
#include "src/spec.h"

static void arm_recv(struct remote *r);
static void connect_now(struct remote *r);
static void conn_lost(struct remote *r, const char *why);


void remote_say(struct remote *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	memcpy(buf + n, "\r\n", 3);
	if (r->interactive) {
		remote_term_show(r, buf, (size_t)n + 2, true);
	} else {
		buf[n] = '\n';
		fwrite(buf, 1, (size_t)n + 1, stderr);
	}
}

void remote_finish(struct remote *r, int code)
{
	r->exit_code = code;
	r->done = true;
}

/*
 * Sending: records queue in one buffer with one SEND in flight.
 */

static void flush_out(struct remote *r)
{
	struct io_uring_sqe *sqe;

	if (r->send_inflight || r->out.len == 0 || r->fd < 0 || r->st == CONN_CONNECTING)
		return;
	sqe = ring_get_sqe(&r->ring, &r->send_op);
	if (!sqe)
		return;
	io_uring_prep_send(sqe, r->fd, r->out.p, r->out.len, MSG_NOSIGNAL);
	ring_sqe_set_op(sqe, &r->send_op);
	r->out_sending = r->out.len;
	r->send_inflight = true;
}

static bool buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *grown;

		while (cap < b->len + n)
			cap *= 2;
		grown = realloc(b->p, cap);
		if (!grown)
			return false;
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return true;
}

static void queue_bytes(struct remote *r, const void *p, size_t n)
{
	buf_put(&r->out, p, n);
	flush_out(r);
}

static void queue_record(struct remote *r, uint8_t type, const struct proto_msg *m)
{
	uint8_t buf[PROTO_HEADER_SIZE + 2048];
	int n = proto_record_encode(type, 0, m, buf, sizeof(buf));

	if (n > 0)
		queue_bytes(r, buf, (size_t)n);
}

/* Session records (INPUT, INTERRUPT, BYE) wait in 'held' until the
 * handshake is over: the server takes nothing else before ACCEPT. */
static void queue_raw_record(struct remote *r, uint8_t type, const void *p, size_t n)
{
	struct proto_header h = { .type = type, .length = (uint32_t)n };
	struct buf *b = r->st == CONN_LIVE ? &r->out : &r->held;
	uint8_t hdr[PROTO_HEADER_SIZE];

	proto_header_encode(&h, hdr);
	if (buf_put(b, hdr, sizeof(hdr)) && n)
		buf_put(b, p, n);
	flush_out(r);
}

static void on_send(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, send_op);

	r->send_inflight = false;
	if (res > 0 && r->out_sending) {
		memmove(r->out.p, r->out.p + res, r->out.len - (size_t)res);
		r->out.len -= (size_t)res;
	}
	r->out_sending = 0;
	if (res < 0 && res != -ECANCELED) {
		conn_lost(r, strerror(-res));
		return;
	}
	if (r->leaving && r->out.len == 0) {
		remote_finish(r, r->exit_code);
		return;
	}
	flush_out(r);
}

/* A command line for the session; kept until the session can take it. */
void remote_send_line(struct remote *r, const char *line, size_t len)
{
	queue_raw_record(r, PROTO_INPUT, line, len);
}

void remote_leave(struct remote *r)
{
	if (r->leaving)
		return;
	r->leaving = true;
	if (r->st == CONN_LIVE) {
		queue_raw_record(r, PROTO_BYE, NULL, 0);
		return;
	}
	remote_finish(r, r->exit_code);
}

/*
 * Receiving records.
 */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_quiet(struct ring_timer *t, int res)
{
	struct remote *r = container_of(t, struct remote, quiet_timer);
	uint64_t quiet = (uint64_t)r->opt->quiet_ms * 1000000u, idle = now_ns() - r->last_rx;

	if (res == -ECANCELED || r->done)
		return;
	/* A script's input is over, every line has gone out, and nothing has
	 * arrived for a while: its commands have had their say. */
	if (idle >= quiet && r->out.len == 0 && r->held.len == 0 && r->st == CONN_LIVE) {
		remote_leave(r);
		return;
	}
	ring_timer_arm(&r->ring, &r->quiet_timer, idle < quiet ? quiet - idle : quiet, on_quiet);
}

/* Something arrived: the quiet period starts again. */
static void rearm_quiet(struct remote *r)
{
	r->last_rx = now_ns();
	if (r->interactive || !r->stdin_eof || r->quiet_timer.armed)
		return;
	ring_timer_arm(&r->ring, &r->quiet_timer, (uint64_t)r->opt->quiet_ms * 1000000u, on_quiet);
}

static void show_transcript(struct remote *r, const struct proto_header *h, const uint8_t *p)
{
	uint64_t seq = h->seq, len = h->length;

	/* Exactly once: skip what was already shown before a reconnect. */
	if (r->have_seq && seq < r->next_seq) {
		uint64_t dup = r->next_seq - seq;

		if (dup >= len)
			return;
		p += dup;
		len -= dup;
		seq = r->next_seq;
	}
	if (r->have_seq && seq > r->next_seq)
		remote_say(r, "[ringside: %llu bytes of output are missing]",
		    (unsigned long long)(seq - r->next_seq));
	remote_term_show(r, (const char *)p, (size_t)len, h->type != PROTO_OUTPUT);
	r->next_seq = seq + len;
	r->have_seq = true;
}

static void on_accept(struct remote *r, const struct proto_msg *m)
{
	if (r->server_wants_auth) {
		if (!r->auth || auth_client_verify(r->auth, m->srp_m2, m->srp_m2_len) < 0) {
			remote_say(r, "Error 0x80004005: the server could not prove it knows the password");
			remote_finish(r, 1);
			return;
		}
	}
	auth_client_free(r->auth);
	r->auth = NULL;
	if (m->has_session) {
		if (r->have_session && memcmp(r->session, m->session, 16) != 0) {
			remote_say(r, "[ringside: the server was restarted; this is a new session]");
			r->have_seq = false;
		}
		memcpy(r->session, m->session, 16);
		r->have_session = true;
	}
	if (!r->have_seq && m->has_start) {
		r->next_seq = m->start;
		r->have_seq = true;
	}
	if (m->has_role && m->role == 1 && !r->ever_joined)
		remote_say(r, "[ringside: read-only connection: you can watch but not type]");
	if (r->ever_joined)
		remote_say(r, "[ringside: reconnected]");
	r->ever_joined = true;
	r->st = CONN_LIVE;
	r->backoff_ns = 0;
	buf_put(&r->out, r->held.p, r->held.len);
	r->held.len = 0;
	flush_out(r);
	rearm_quiet(r);
}

static void on_challenge(struct remote *r, const struct proto_msg *m)
{
	struct proto_msg p;
	size_t a_len = sizeof(p.srp_a), m1_len = sizeof(p.srp_m1);
	int res;

	if (!r->have_password && !(r->interactive && remote_term_read_password(r) == 0)) {
		remote_say(r, "Error 0x80004005: the server wants a password; add password=W to the spec");
		remote_finish(r, 1);
		return;
	}
	memset(&p, 0, sizeof(p));
	res = auth_client_respond(r->password, m->salt, m->salt_len, m->srp_b, m->srp_b_len,
				  &r->auth, p.srp_a, &a_len, p.srp_m1, &m1_len);
	if (res < 0) {
		remote_say(r, "Error 0x80004005: bad authentication challenge from the server");
		remote_finish(r, 1);
		return;
	}
	p.srp_a_len = a_len;
	p.srp_m1_len = m1_len;
	queue_record(r, PROTO_PROOF, &p);
}

static void on_record(struct remote *r, const struct proto_header *h, const uint8_t *p)
{
	struct proto_msg m;

	switch (h->type) {
	case PROTO_OUTPUT:
	case PROTO_NOTICE:
	case PROTO_TYPED:
		if (r->st == CONN_LIVE)
			show_transcript(r, h, p);
		return;
	case PROTO_PRIVATE:
		remote_term_show(r, (const char *)p, h->length, true);
		if (h->length && p[h->length - 1] != '\n')
			remote_term_show(r, "\r\n", 2, true);
		return;
	default:
		break;
	}
	if (proto_msg_decode(p, h->length, &m) < 0) {
		remote_say(r, "ringside: protocol error: malformed %s record from the server",
		    proto_type_name(h->type));
		remote_finish(r, 1);
		return;
	}
	switch (h->type) {
	case PROTO_WELCOME:
		r->server_wants_auth = m.has_auth && m.auth;
		/* A server that does not ask for the password we hold may be an
		 * impostor that wants us to skip proving who it is. */
		if (r->have_password && !r->server_wants_auth) {
			remote_say(r, "Error 0x80004005: the server did not ask for the password; "
			    "refusing to continue");
			remote_finish(r, 1);
		}
		return;
	case PROTO_CHALLENGE:
		on_challenge(r, &m);
		return;
	case PROTO_ACCEPT:
		on_accept(r, &m);
		return;
	case PROTO_REFUSE:
		remote_say(r, "Error 0x%08X: %s", m.has_code ? m.code : PROTO_REFUSAL_CODE,
		    m.has_reason ? m.reason : "refused");
		remote_finish(r, 1);
		return;
	case PROTO_GAP:
		if (m.has_from && m.has_to && m.to > m.from)
			remote_say(r, "[ringside: %llu bytes of output were dropped before you could see "
			    "them]", (unsigned long long)(m.to - m.from));
		if (m.has_to) {
			r->next_seq = m.to;
			r->have_seq = true;
		}
		return;
	case PROTO_STATE:
		if (m.has_state && m.state == 1)
			r->ended = true;
		return;
	default:
		remote_say(r, "ringside: protocol error: unexpected %s record from the server",
		    proto_type_name(h->type));
		remote_finish(r, 1);
		return;
	}
}

static void on_bytes(struct remote *r, const uint8_t *p, size_t n)
{
	/* The raw view comes first (a server cannot know yet what we are):
	 * skip to the server's preamble. */
	while (!r->preamble_seen && n > 0) {
		/* Seven fixed bytes, then the server's protocol version. */
		if (r->preamble_got == PROTO_PREAMBLE_SIZE - 1) {
			r->preamble_seen = true;
			if (*p != PROTO_VERSION) {
				remote_say(r, "ringside: the server speaks protocol version %u; this client "
				    "speaks %u", *p, PROTO_VERSION);
				remote_finish(r, 1);
				return;
			}
		} else if (*p == proto_preamble[r->preamble_got]) {
			r->preamble_got++;
		} else {
			r->preamble_got = *p == proto_preamble[0] ? 1 : 0;
		}
		p++;
		n--;
	}
	while (n > 0 && !r->done && r->fd >= 0) {
		size_t used = 0;
		int res = proto_reader_feed(&r->reader, p, n, &used);

		p += used;
		n -= used;
		if (res < 0) {
			remote_say(r, "ringside: protocol error: %s", strerror(-res));
			remote_finish(r, 1);
			return;
		}
		if (res == 0)
			return;
		on_record(r, &r->reader.h, r->reader.payload);
		proto_reader_next(&r->reader);
	}
}

static void on_recv(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, recv_op);

	r->recv_inflight = false;
	if (r->done || r->fd < 0)
		return;
	if (res <= 0) {
		if (r->ended) {
			remote_finish(r, 0);
			return;
		}
		conn_lost(r, res == 0 ? "the server closed the connection" : strerror(-res));
		return;
	}
	on_bytes(r, r->rbuf, (size_t)res);
	if (!r->done && r->fd >= 0) {
		rearm_quiet(r);
		arm_recv(r);
	}
}

static void arm_recv(struct remote *r)
{
	struct io_uring_sqe *sqe = ring_get_sqe(&r->ring, &r->recv_op);

	if (!sqe)
		return;
	io_uring_prep_recv(sqe, r->fd, r->rbuf, sizeof(r->rbuf), 0);
	ring_sqe_set_op(sqe, &r->recv_op);
	r->recv_inflight = true;
}

/*
 * Connecting and reconnecting.
 */

static void send_hello(struct remote *r)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.version = PROTO_VERSION;
	m.has_version = true;
	snprintf(m.identity, sizeof(m.identity), "%s", r->identity);
	m.has_identity = true;
	if (r->have_session && r->have_seq) {
		memcpy(m.session, r->session, 16);
		m.has_session = true;
		m.resume = r->next_seq;
		m.has_resume = true;
	}
	r->out.len = 0;
	buf_put(&r->out, proto_preamble, PROTO_PREAMBLE_SIZE);
	queue_record(r, PROTO_HELLO, &m);
}

static void on_connect(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, connect_op);
	int one = 1;

	if (r->done)
		return;
	if (res < 0) {
		if (!r->ever_joined) {
			remote_say(r, "ringside: cannot connect to %s port %u: %s", r->spec.server,
			    r->spec.port_lo, strerror(-res));
			remote_finish(r, 1);
			return;
		}
		conn_lost(r, strerror(-res));
		return;
	}
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->st = CONN_HANDSHAKE;
	r->preamble_got = 0;
	r->preamble_seen = false;
	proto_reader_free(&r->reader);
	proto_reader_init(&r->reader);
	send_hello(r);
	arm_recv(r);
}

static void connect_now(struct remote *r)
{
	struct io_uring_sqe *sqe;

	r->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		remote_say(r, "ringside: socket: %s", strerror(errno));
		remote_finish(r, 1);
		return;
	}
	sqe = ring_get_sqe(&r->ring, &r->connect_op);
	if (!sqe)
		return;
	io_uring_prep_connect(sqe, r->fd, (struct sockaddr *)&r->addr, r->addr_len);
	ring_sqe_set_op(sqe, &r->connect_op);
	r->st = CONN_CONNECTING;
}

static void on_backoff(struct ring_timer *t, int res)
{
	struct remote *r = container_of(t, struct remote, backoff_timer);

	if (res != -ECANCELED && !r->done)
		connect_now(r);
}

static void conn_lost(struct remote *r, const char *why)
{
	bool was_live = r->st == CONN_LIVE;

	if (r->fd >= 0) {
		if (r->recv_inflight)
			ring_cancel(&r->ring, &r->recv_op);
		if (r->send_inflight)
			ring_cancel(&r->ring, &r->send_op);
		shutdown(r->fd, SHUT_RDWR);
		close(r->fd);
		r->fd = -1;
	}
	r->st = CONN_DOWN;
	auth_client_free(r->auth);
	r->auth = NULL;
	/* What this connection had queued dies with it; lines typed from now
	 * on wait in 'held' for the next one. */
	r->out.len = 0;
	if (r->leaving || r->done) {
		remote_finish(r, r->exit_code);
		return;
	}
	if (!r->ever_joined) {
		remote_say(r, "ringside: %s", why);
		remote_finish(r, 1);
		return;
	}
	if (was_live || !r->down_since) {
		remote_say(r, "[ringside: connection lost (%s); reconnecting]", why);
		r->down_since = time(NULL);
	}
	if (time(NULL) - r->down_since > GIVE_UP_SECONDS) {
		remote_say(r, "ringside: could not reconnect for %d seconds; giving up", GIVE_UP_SECONDS);
		remote_finish(r, 1);
		return;
	}
	r->backoff_ns = r->backoff_ns ? r->backoff_ns * 2 : BACKOFF_FIRST_NS;
	if (r->backoff_ns > BACKOFF_MAX_NS)
		r->backoff_ns = BACKOFF_MAX_NS;
	ring_timer_arm(&r->ring, &r->backoff_timer, r->backoff_ns, on_backoff);
}

/*
 * Local input: libedit on a terminal, plain lines otherwise.
 */

bool remote_wants_to_leave(const char *line)
{
	/* Ctrl+B then Enter, as in WinDbg, or .remote_exit. */
	if (strcmp(line, "\x02") == 0)
		return true;
	while (*line == ' ' || *line == '\t')
		line++;
	return strncmp(line, ".remote_exit", 12) == 0 &&
	       (line[12] == '\0' || line[12] == ' ');
}

static void script_input(struct remote *r, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (r->partial_len < sizeof(r->partial))
				r->partial[r->partial_len++] = p[i];
			continue;
		}
		if (r->partial_len && r->partial[r->partial_len - 1] == '\r')
			r->partial_len--;
		r->partial[r->partial_len < sizeof(r->partial) ? r->partial_len :
								 sizeof(r->partial) - 1] = '\0';
		if (remote_wants_to_leave(r->partial)) {
			remote_leave(r);
			return;
		}
		remote_send_line(r, r->partial, r->partial_len);
		r->partial_len = 0;
	}
}

static void arm_stdin(struct remote *r)
{
	if (r->stdin_inflight || r->stdin_eof || r->done)
		return;
	if (ring_poll(&r->ring, &r->stdin_op, 0, POLLIN) == 0)
		r->stdin_inflight = true;
}

static void on_stdin(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, stdin_op);
	char buf[4096];
	ssize_t n;

	r->stdin_inflight = false;
	if (res < 0 || r->done)
		return;
	if (r->interactive) {
		remote_term_on_input(r);
	} else {
		n = read(0, buf, sizeof(buf));
		if (n > 0) {
			script_input(r, buf, (size_t)n);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			if (r->partial_len)
				script_input(r, "\n", 1);
			r->stdin_eof = true;
			rearm_quiet(r);
			return;
		}
	}
	arm_stdin(r);
}

static void on_signal(struct ring_op *op, int res, unsigned flags)
{
	struct remote *r = container_of(op, struct remote, signal_op);
	struct signalfd_siginfo si;

	r->signal_inflight = false;
	if (res < 0 || r->done)
		return;
	while (read(r->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGINT) {
			/* Ctrl+C interrupts the debugger, not this client. */
			if (r->st == CONN_LIVE)
				queue_raw_record(r, PROTO_INTERRUPT, NULL, 0);
			if (r->interactive)
				remote_term_interrupted(r);
		} else {
			remote_leave(r);
		}
	}
	if (ring_poll(&r->ring, &r->signal_op, r->signal_fd, POLLIN) == 0)
		r->signal_inflight = true;
}

static int resolve(struct remote *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char port[8];
	int res;

	snprintf(port, sizeof(port), "%u", r->spec.port_lo);
	res = getaddrinfo(strcmp(r->spec.server, ".") ? r->spec.server : "localhost", port, &hints,
			  &ai);
	if (res != 0) {
		fprintf(stderr, "ringside: -remote: server=%s: %s\n", r->spec.server,
			gai_strerror(res));
		return -EINVAL;
	}
	memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
	r->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void identify(struct remote *r)
{
	struct passwd *pw = getpwuid(getuid());
	char host[64];
	char *dot;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	snprintf(r->identity, sizeof(r->identity), "%s\\%s", host, pw ? pw->pw_name : "user");
}

static int setup(struct remote *r, const char *spec_text)
{
	char err[512];
	sigset_t mask;
	int res;

	if (spec_parse(spec_text, SPEC_CLIENT, &r->spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: -remote: %s\n", err);
		return -EINVAL;
	}
	if (r->spec.transport != SPEC_TCP || r->spec.clicon[0]) {
		fprintf(stderr, "ringside: -remote: %s is not available in this build\n",
			r->spec.clicon[0] ? "clicon= (reverse connections)" :
					    spec_transport_name(r->spec.transport));
		return -EOPNOTSUPP;
	}
	if (r->spec.has_password) {
		memcpy(r->password, r->spec.password, sizeof(r->password));
		r->have_password = true;
	}
	if (resolve(r) < 0)
		return -EINVAL;
	identify(r);
	r->interactive = isatty(0) && isatty(1);
	r->color = isatty(1) && !getenv("NO_COLOR");
	res = ring_init(&r->ring, 64, 256);
	if (res < 0) {
		fprintf(stderr, "ringside: io_uring setup failed: %s\n", strerror(-res));
		return res;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	r->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	r->fd = -1;
	r->connect_op.cb = on_connect;
	r->recv_op.cb = on_recv;
	r->send_op.cb = on_send;
	r->stdin_op.cb = on_stdin;
	r->signal_op.cb = on_signal;
	proto_reader_init(&r->reader);
	if (r->signal_fd >= 0 && ring_poll(&r->ring, &r->signal_op, r->signal_fd, POLLIN) == 0)
		r->signal_inflight = true;
	if (r->interactive)
		remote_term_start(r);
	return 0;
}

int ringside_remote(const char *spec_text, const struct remote_options *opt)
{
	struct remote *r = calloc(1, sizeof(*r));
	int code;

	if (!r)
		return 1;
	r->opt = opt;
	if (setup(r, spec_text) < 0) {
		free(r);
		return 2;
	}
	connect_now(r);
	arm_stdin(r);
	while (!r->done) {
		int res = ring_run_once(&r->ring, 0);

		if (res < 0 && res != -EINTR)
			break;
	}
	if (r->interactive)
		remote_term_stop(r);
	fflush(stdout);
	code = r->exit_code;
	if (r->fd >= 0)
		close(r->fd);
	ring_exit(&r->ring);
	auth_client_free(r->auth);
	proto_reader_free(&r->reader);
	explicit_bzero(r->password, sizeof(r->password));
	free(r->out.p);
	free(r->held.p);
	free(r);
	return code;
}
