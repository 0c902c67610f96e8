// SPDX-License-Identifier: MIT
/* Unit tests for src/native.c (with src/client.c around it): the server side of the native
 * protocol's handshake state machine, driven through a real client object on a real
 * socketpair(AF_UNIX, SOCK_STREAM) and a real io_uring loop, on a hand-built session with no
 * hosted program (a pipe stands in for its terminal where input must reach it).  The test
 * plays the client on the other end with the codec of src/proto.h and src/auth.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/auth.h"
#include "src/proto.h"
#include "src/server.h"
#include "src/spec.h"

#define MS (1000000ull)
#define HOST "testhost"
#define IDENTITY "BUILDBOX\\alice"
#define PEER_ADDR 0x0a010203u	/* 10.1.2.3: not loopback, so the name is the address */
#define PEER_PORT 4567
#define TRANSPORT " (tcp 10.1.2.3:4567)"
#define PASSWORD "Secret1"
#define MAX_PEERS 4

/* The client end of one connection, as the test plays it. */
struct peer {
	int fd;			/* our end (non-blocking); -1 once closed */
	struct client *c;	/* the server's object; freed by the library once closed */
	uint8_t *buf;		/* everything received */
	size_t cap, len;
	size_t pos;		/* next byte to scan or parse */
	bool eof;
	unsigned matched;	/* preamble scan state (PROTOCOL.md 1.2) */
	bool preamble;
	size_t raw_len;		/* bytes discarded before the server's preamble */
	uint8_t *payload;	/* the last record's payload (NUL-terminated copy) */
	size_t payload_cap;
};

/* One record received. */
struct rec {
	struct proto_header h;
	const uint8_t *payload;	/* valid until the next record on that peer */
	struct proto_msg m;	/* decoded when proto_type_tlv(h.type) */
};

struct fixture {
	struct hub_limits cfg;
	struct hub s;
	struct server srv;
	struct auth_verifier ver;
	struct peer peers[MAX_PEERS];
	unsigned npeers;
	int prog[2];		/* a pipe standing in for the program's terminal */
	unsigned inflight0;
};

/* ---- fixture ---------------------------------------------------------- */

static int setup_with(void **state, const char *spec_text, const char *password)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct hub *s;
	char err[256];

	if (!f)
		return -1;
	test_limits(&f->cfg);
	f->cfg.notice_ms = 0;
	s = &f->s;
	s->cfg = &f->cfg;
	s->reserve_fd = -1;
	s->ops = &test_hub_ops;
	test_program_fd = -1;
	s->next_client_id = 1;
	s->max_clients = 16;
	s->now = hub_clock();
	f->prog[0] = f->prog[1] = -1;
	snprintf(s->host, sizeof(s->host), "%s", HOST);
	snprintf(s->user, sizeof(s->user), "tester");
	snprintf(s->console_ident, sizeof(s->console_ident), "%s\\%s", s->host, s->user);
	if (getrandom(s->id, sizeof(s->id), 0) != (ssize_t)sizeof(s->id))
		goto fail;
	s->id[0] |= 0x80;	/* never all zero */
	if (transcript_init(&s->tr, 256 * 1024, 64 * 1024) < 0)
		goto fail;
	if (ring_init(&s->ring, 64, 256) < 0) {
		transcript_free(&s->tr);
		goto fail;
	}
	if (ring_bufs_init(&s->ring, &s->bufs, 1, 64, 2048) < 0) {
		ring_exit(&s->ring);
		transcript_free(&s->tr);
		goto fail;
	}
	s->links.ring = &s->ring;
	s->links.bufs = &s->bufs;
	s->links.ev = &client_link_events;
	s->lag_budget = s->tr.cap - 2 * s->tr.chunk;

	if (spec_parse(spec_text, SPEC_SERVER, &f->srv.spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "spec_parse(%s): %s\n", spec_text, err);
		goto fail_ring;
	}
	f->srv.hub = s;
	f->srv.fd = -1;
	f->srv.state = SERVER_ACTIVE;
	if (password) {
		if (auth_verifier_make(password, &f->ver) < 0)
			goto fail_ring;
		f->srv.verifier = &f->ver;
	}
	for (unsigned i = 0; i < MAX_PEERS; i++)
		f->peers[i].fd = -1;
	f->inflight0 = s->ring.inflight;
	*state = f;
	return 0;

fail_ring:
	ring_bufs_exit(&s->ring, &s->bufs);
	ring_exit(&s->ring);
	transcript_free(&s->tr);
fail:
	free(f);
	return -1;
}

static int setup_plain(void **state)
{
	return setup_with(state, "tcp:port=1", NULL);
}

static int setup_password(void **state)
{
	return setup_with(state, "tcp:port=1,password=" PASSWORD, PASSWORD);
}

static int setup_readonly(void **state)
{
	return setup_with(state, "tcp:port=1,readonly", NULL);
}

static void pump(struct fixture *f)
{
	ring_run_once(&f->s.ring, 10 * MS);
	f->s.now = hub_clock();
	client_end_turn(&f->s);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool client_listed(const struct hub *s, const struct client *c)
{
	for (const struct client *x = s->clients; x; x = x->next)
		if (x == c)
			return true;
	return false;
}

/* Closes our ends, closes every client still open, and runs the loop until
 * every op is back (the library frees closed clients then).  Returns false
 * if something stayed in flight. */
static bool drain(struct fixture *f)
{
	struct hub *s = &f->s;
	uint64_t deadline = now_ms() + 3000;

	for (unsigned i = 0; i < f->npeers; i++) {
		if (f->peers[i].fd >= 0)
			close(f->peers[i].fd);
		f->peers[i].fd = -1;
	}
	for (struct client *c = s->clients, *next; c; c = next) {
		next = c->next;
		if (c->state != CLIENT_CLOSING)
			client_close(c, NULL);
	}
	if (s->notices.timer.armed)
		ring_timer_cancel(&s->ring, &s->notices.timer);
	while ((s->ring.inflight != f->inflight0 || s->clients) && now_ms() < deadline)
		pump(f);
	return s->ring.inflight == f->inflight0 && s->clients == NULL;
}

/* Every test ends here: nothing may stay in flight or allocated. */
static void finish(struct fixture *f)
{
	if (!drain(f))
		fail_msg("after closing: %u ops in flight (want %u), clients %s", f->s.ring.inflight,
			 f->inflight0, f->s.clients ? "left over" : "freed");
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	int rc = 0;

	if (!drain(f)) {
		fprintf(stderr, "teardown: %u ops still in flight\n", s->ring.inflight);
		rc = -1;
	}
	for (unsigned i = 0; i < MAX_PEERS; i++) {
		free(f->peers[i].buf);
		free(f->peers[i].payload);
	}
	if (f->prog[0] >= 0)
		close(f->prog[0]);
	if (f->prog[1] >= 0)
		close(f->prog[1]);
	free(s->backlog);
	free(s->idle);
	penalty_free(&s->penalties);
	ring_bufs_exit(&s->ring, &s->bufs);
	ring_exit(&s->ring);
	transcript_free(&s->tr);
	free(f);
	return rc;
}

/* A pipe as the program's terminal: lines that reach the program can be read
 * back from f->prog[0]. */
static void attach_program(struct fixture *f)
{
	assert_int_equal(pipe2(f->prog, O_CLOEXEC | O_NONBLOCK), 0);
	test_program_fd = f->prog[1];
}

/* What the program has been sent so far (NUL-terminated, static). */
static const char *program_got(struct fixture *f)
{
	static char buf[8192];
	ssize_t n = read(f->prog[0], buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* ---- transcript helpers ----------------------------------------------- */

/* Whether the transcript holds exactly DATA (N bytes) at FROM. */
static bool transcript_has(const struct hub *s, uint64_t from, const void *data, size_t n)
{
	const uint8_t *d = data;

	if (from < transcript_oldest(&s->tr) || from + n > s->tr.head)
		return false;
	while (n > 0) {
		const char *p;
		size_t span = transcript_span(&s->tr, from, &p);

		if (span > n)
			span = n;
		if (span == 0 || memcmp(p, d, span) != 0)
			return false;
		d += span;
		from += span;
		n -= span;
	}
	return true;
}

/* ---- the client's end ------------------------------------------------- */

/* SNDBUF, when non-zero, shrinks the server end's send buffer so that a raw
 * send can be kept in flight by not reading. */
static struct peer *peer_connect_sndbuf(struct fixture *f, int sndbuf)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct peer *p;
	int fds[2];

	assert_true(f->npeers < MAX_PEERS);
	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(PEER_PORT);
	in->sin_addr.s_addr = htonl(PEER_ADDR);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	if (sndbuf)
		assert_int_equal(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
					    sizeof(sndbuf)), 0);
	p = &f->peers[f->npeers++];
	p->fd = fds[1];
	p->c = client_new(&f->s, &f->srv, fds[0], &ss, false);
	if (!p->c)
		close(fds[0]);
	assert_non_null(p->c);
	return p;
}

static struct peer *peer_connect(struct fixture *f)
{
	return peer_connect_sndbuf(f, 0);
}

static void peer_read(struct peer *p)
{
	if (p->fd < 0)
		return;
	for (;;) {
		ssize_t n;

		if (p->cap - p->len < 64 * 1024) {
			size_t cap = p->cap ? p->cap * 2 : 256 * 1024;
			uint8_t *b = realloc(p->buf, cap);

			assert_non_null(b);
			p->buf = b;
			p->cap = cap;
		}
		n = read(p->fd, p->buf + p->len, p->cap - p->len);
		if (n > 0) {
			p->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		p->eof = true;	/* end of stream, or a reset */
		return;
	}
}

static void peer_send(struct peer *p, const void *data, size_t n)
{
	assert_int_equal(write(p->fd, data, n), (ssize_t)n);
}

static void send_preamble_v(struct peer *p, uint8_t version)
{
	uint8_t pre[PROTO_PREAMBLE_SIZE];

	memcpy(pre, proto_preamble, sizeof(pre));
	pre[PROTO_PREAMBLE_SIZE - 1] = version;
	peer_send(p, pre, sizeof(pre));
}

static void send_preamble(struct peer *p)
{
	send_preamble_v(p, PROTO_VERSION);
}

static void send_record(struct peer *p, uint8_t type, const struct proto_msg *m)
{
	uint8_t buf[PROTO_HEADER_SIZE + PROTO_MAX_CONTROL];
	int n = proto_record_encode(type, 0, m, buf, sizeof(buf));

	assert_true(n > 0);
	peer_send(p, buf, (size_t)n);
}

/* A record with a raw payload (INPUT, or anything hand-made). */
static void send_raw_record(struct peer *p, uint8_t type, const void *payload, size_t n)
{
	uint8_t buf[PROTO_HEADER_SIZE + 8192];
	struct proto_header h = { .type = type, .length = (uint32_t)n };

	assert_true(n <= sizeof(buf) - PROTO_HEADER_SIZE);
	proto_header_encode(&h, buf);
	if (n)
		memcpy(buf + PROTO_HEADER_SIZE, payload, n);
	peer_send(p, buf, PROTO_HEADER_SIZE + n);
}

static void send_input(struct peer *p, const char *line, size_t n)
{
	send_raw_record(p, PROTO_INPUT, line, n);
}

/* HELLO {VERSION=1, IDENTITY, [SESSION, RESUME]}; SESSION/RESUME when non-NULL. */
static void send_hello(struct peer *p, const char *identity, const uint8_t *session,
		       const uint64_t *resume)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.version = PROTO_VERSION;
	m.has_version = true;
	if (identity) {
		snprintf(m.identity, sizeof(m.identity), "%s", identity);
		m.has_identity = true;
	}
	if (session) {
		memcpy(m.session, session, sizeof(m.session));
		m.has_session = true;
	}
	if (resume) {
		m.resume = *resume;
		m.has_resume = true;
	}
	send_record(p, PROTO_HELLO, &m);
}

/* Scan for the server's preamble as a client does (PROTOCOL.md 1.2). */
static void scan_preamble(struct peer *p)
{
	while (!p->preamble && p->pos < p->len) {
		uint8_t c = p->buf[p->pos++];

		/* The last byte is the version, whichever it is. */
		if (p->matched == PROTO_PREAMBLE_SIZE - 1 || c == proto_preamble[p->matched])
			p->matched++;
		else if (c == 0x00)
			p->matched = 1;
		else
			p->matched = 0;
		if (p->matched == PROTO_PREAMBLE_SIZE) {
			p->preamble = true;
			p->raw_len = p->pos - PROTO_PREAMBLE_SIZE;
		}
	}
}

static bool wait_preamble(struct fixture *f, struct peer *p, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;

	for (;;) {
		peer_read(p);
		scan_preamble(p);
		if (p->preamble)
			return true;
		if (p->eof || now_ms() >= deadline)
			return false;
		pump(f);
	}
}

/* One whole record at p->pos, if the bytes are there. */
static bool parse_record(struct peer *p, struct rec *r)
{
	size_t avail = p->len - p->pos;
	int res;

	if (avail < PROTO_HEADER_SIZE)
		return false;
	res = proto_header_decode(p->buf + p->pos, &r->h);
	if (res < 0)
		fail_msg("the server sent a bad record header (type %u, length %u): %d", r->h.type,
			 r->h.length, res);
	if (avail - PROTO_HEADER_SIZE < r->h.length)
		return false;
	if (p->payload_cap < (size_t)r->h.length + 1) {
		free(p->payload);
		p->payload_cap = (size_t)r->h.length + 1;
		p->payload = malloc(p->payload_cap);
		assert_non_null(p->payload);
	}
	memcpy(p->payload, p->buf + p->pos + PROTO_HEADER_SIZE, r->h.length);
	p->payload[r->h.length] = '\0';
	r->payload = p->payload;
	p->pos += PROTO_HEADER_SIZE + r->h.length;
	memset(&r->m, 0, sizeof(r->m));
	if (proto_type_tlv(r->h.type) &&
	    proto_msg_decode(r->payload, r->h.length, &r->m) < 0)
		fail_msg("the server sent a malformed %s body", proto_type_name(r->h.type));
	return true;
}

/* The next record after the preamble; false on end of stream or timeout. */
static bool next_record(struct fixture *f, struct peer *p, unsigned ms, struct rec *r)
{
	uint64_t deadline = now_ms() + ms;

	assert_true(p->preamble);
	for (;;) {
		peer_read(p);
		if (parse_record(p, r))
			return true;
		if (p->eof || now_ms() >= deadline)
			return false;
		pump(f);
	}
}

static void expect_record(struct fixture *f, struct peer *p, uint8_t type, struct rec *r)
{
	if (!next_record(f, p, 2000, r))
		fail_msg("expected %s, got %s", proto_type_name(type),
			 p->eof ? "end of stream" : "nothing within 2 s");
	if (r->h.type != type)
		fail_msg("expected %s, got %s%s%s", proto_type_name(type),
			 proto_type_name(r->h.type), r->h.type == PROTO_REFUSE ? ": " : "",
			 r->h.type == PROTO_REFUSE ? r->m.reason : "");
}

/* Wait until the server closes its end; the bytes keep arriving in p->buf. */
static bool wait_eof(struct fixture *f, struct peer *p, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;

	for (;;) {
		peer_read(p);
		if (p->eof)
			return true;
		if (now_ms() >= deadline)
			return false;
		pump(f);
	}
}

/* Nothing arrives for MS (the connection stays open and quiet). */
static void expect_quiet(struct fixture *f, struct peer *p, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;
	size_t had = p->len;

	while (now_ms() < deadline) {
		pump(f);
		peer_read(p);
	}
	assert_false(p->eof);
	assert_int_equal(p->len, had);
}

/* Run the loop until the server has sent everything it has for P's client
 * (the raw view's history, a prompt): a client that waits before sending its
 * preamble.  Reads as it goes. */
static void settle(struct fixture *f, struct peer *p)
{
	struct hub *s = &f->s;
	struct client *c = p->c;
	uint64_t deadline = now_ms() + 2000;

	for (;;) {
		peer_read(p);
		if (!client_sending(c) && client_private_empty(c) &&
		    (c->state != CLIENT_LIVE || c->cursor == s->tr.head))
			return;
		if (now_ms() >= deadline)
			fail_msg("the raw view did not settle");
		pump(f);
	}
}

/*
 * A REFUSE record at the very end of what P received (the server closes
 * after it).  Found wherever it is, with or without a server preamble in
 * front; *PREAMBLE_FIRST says whether the preamble came right before it.
 */
static bool find_final_refuse(const struct peer *p, struct proto_msg *m, bool *preamble_first)
{
	for (size_t at = 0; at + PROTO_HEADER_SIZE <= p->len; at++) {
		struct proto_header h;

		if (p->buf[at] != PROTO_REFUSE || proto_header_decode(p->buf + at, &h) < 0)
			continue;
		if (at + PROTO_HEADER_SIZE + h.length != p->len)
			continue;
		if (proto_msg_decode(p->buf + at + PROTO_HEADER_SIZE, h.length, m) < 0 ||
		    !m->has_code || !m->has_reason)
			continue;
		*preamble_first = at >= PROTO_PREAMBLE_SIZE &&
				  memcmp(p->buf + at - PROTO_PREAMBLE_SIZE, proto_preamble,
					 PROTO_PREAMBLE_SIZE) == 0;
		return true;
	}
	return false;
}

/* The server refuses P and closes: returns the REFUSE's reason (static). */
static const char *expect_final_refuse(struct fixture *f, struct peer *p, unsigned ms)
{
	static struct proto_msg m;
	bool preamble_first;

	if (!wait_eof(f, p, ms))
		fail_msg("the server did not close the connection within %u ms", ms);
	if (!find_final_refuse(p, &m, &preamble_first))
		fail_msg("the connection ended without a REFUSE record (%zu bytes received)",
			 p->len);
	assert_int_equal(m.code, PROTO_REFUSAL_CODE);
	return m.reason;
}

static void expect_prefix(const char *got, const char *prefix)
{
	if (strncmp(got, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", got, prefix);
}

/* Read transcript records until the client's `next` (PROTOCOL.md 5.1)
 * reaches UPTO, checking contiguity and that every payload is exactly the
 * transcript's bytes at its seq, of the matching kind.  GAPs and PRIVATEs are
 * counted. */
static void read_transcript_until(struct fixture *f, struct peer *p, uint64_t *next,
				  uint64_t upto, unsigned *gaps, unsigned *privates)
{
	struct hub *s = &f->s;

	while (*next < upto) {
		struct rec r;
		uint64_t end;
		enum transcript_kind kind;
		uint8_t want;

		if (!next_record(f, p, 2000, &r))
			fail_msg("transcript stopped at %llu, want %llu (%s)",
				 (unsigned long long)*next, (unsigned long long)upto,
				 p->eof ? "end of stream" : "timeout");
		switch (r.h.type) {
		case PROTO_GAP:
			assert_int_equal(r.m.from, *next);
			assert_true(r.m.to > r.m.from);
			*next = r.m.to;
			if (gaps)
				++*gaps;
			continue;
		case PROTO_PRIVATE:
			if (privates)
				++*privates;
			continue;
		case PROTO_OUTPUT:
		case PROTO_NOTICE:
		case PROTO_TYPED:
			break;
		default:
			fail_msg("unexpected %s in the transcript stream", proto_type_name(r.h.type));
		}
		if (r.h.seq != *next)
			fail_msg("%s record at seq %llu, want %llu (contiguity, PROTOCOL.md 5.1)",
				 proto_type_name(r.h.type), (unsigned long long)r.h.seq,
				 (unsigned long long)*next);
		assert_true(transcript_has(s, r.h.seq, r.payload, r.h.length));
		if (r.h.length) {
			kind = transcript_kind_at(&s->tr, r.h.seq, &end);
			want = kind == TRANSCRIPT_NOTICE ? PROTO_NOTICE :
			       kind == TRANSCRIPT_TYPED ? PROTO_TYPED : PROTO_OUTPUT;
			assert_int_equal(r.h.type, want);
			assert_true(r.h.seq + r.h.length <= end);
		}
		*next += r.h.length;
	}
	assert_int_equal(*next, upto);
}

/* ---- the handshake, played by the test -------------------------------- */

struct joined {
	struct proto_msg welcome;
	struct proto_msg accept;
	uint8_t B[AUTH_GROUP_BYTES];
	size_t B_len;
	uint8_t A[AUTH_GROUP_BYTES], M1[AUTH_PROOF_SIZE];
	size_t A_len, M1_len;
};

static void read_welcome(struct fixture *f, struct peer *p, struct joined *j);

/* Sends preamble + HELLO and reads up to WELCOME (checking it). */
static void hello_and_welcome(struct fixture *f, struct peer *p, const char *identity,
			      const uint8_t *session, const uint64_t *resume, struct joined *j)
{
	send_preamble(p);
	send_hello(p, identity, session, resume);
	read_welcome(f, p, j);
}

/* Reads the server's preamble and WELCOME (checking it). */
static void read_welcome(struct fixture *f, struct peer *p, struct joined *j)
{
	struct hub *s = &f->s;
	struct rec r;

	if (!wait_preamble(f, p, 2000))
		fail_msg("no server preamble (%s)", p->eof ? "end of stream" : "timeout");
	expect_record(f, p, PROTO_WELCOME, &r);
	assert_int_equal(r.h.seq, 0);
	assert_true(r.m.has_version);
	assert_int_equal(r.m.version, PROTO_VERSION);
	assert_true(r.m.has_session);
	assert_memory_equal(r.m.session, s->id, sizeof(s->id));
	assert_true(r.m.has_host);
	assert_string_equal(r.m.host, HOST);
	assert_false(r.m.has_program);	/* no hosted program here */
	assert_true(r.m.has_auth);
	assert_int_equal(r.m.auth, f->srv.verifier ? 1 : 0);
	j->welcome = r.m;
}

/* CHALLENGE -> PROOF with PASSWORD; keeps B, A and M1. */
static struct auth_client *answer_challenge(struct fixture *f, struct peer *p,
					    const char *password, struct joined *j)
{
	struct auth_client *ac = NULL;
	struct proto_msg m;
	struct rec r;

	expect_record(f, p, PROTO_CHALLENGE, &r);
	assert_int_equal(r.m.salt_len, AUTH_SALT_SIZE);
	assert_memory_equal(r.m.salt, f->ver.salt, AUTH_SALT_SIZE);
	assert_true(r.m.srp_b_len > 0 && r.m.srp_b_len <= AUTH_GROUP_BYTES);
	memcpy(j->B, r.m.srp_b, r.m.srp_b_len);
	j->B_len = r.m.srp_b_len;
	j->A_len = sizeof(j->A);
	j->M1_len = sizeof(j->M1);
	assert_int_equal(auth_client_respond(password, r.m.salt, r.m.salt_len, r.m.srp_b,
					     r.m.srp_b_len, &ac, j->A, &j->A_len, j->M1,
					     &j->M1_len),
			 0);
	memset(&m, 0, sizeof(m));
	memcpy(m.srp_a, j->A, j->A_len);
	m.srp_a_len = j->A_len;
	memcpy(m.srp_m1, j->M1, j->M1_len);
	m.srp_m1_len = j->M1_len;
	send_record(p, PROTO_PROOF, &m);
	return ac;
}

static void check_accept(struct fixture *f, const struct rec *r)
{
	assert_int_equal(r->h.seq, 0);
	assert_true(r->m.has_session);
	assert_memory_equal(r->m.session, f->s.id, sizeof(f->s.id));
	assert_true(r->m.has_role);
	assert_int_equal(r->m.role, f->srv.spec.readonly ? 1 : 0);
	assert_true(r->m.has_start);
}

/* The server's side of a join after HELLO went out: preamble, WELCOME,
 * [CHALLENGE, our PROOF], ACCEPT (checked).  Returns START. */
static uint64_t join_read_accept(struct fixture *f, struct peer *p, struct joined *j)
{
	struct auth_client *ac = NULL;
	struct rec r;

	memset(&r, 0, sizeof(r));
	read_welcome(f, p, j);
	if (f->srv.verifier)
		ac = answer_challenge(f, p, PASSWORD, j);
	if (!next_record(f, p, 2000, &r) || r.h.type != PROTO_ACCEPT) {
		auth_client_free(ac);
		fail_msg("expected ACCEPT, got %s%s%s", p->eof ? "end of stream" :
			 proto_type_name(r.h.type), r.h.type == PROTO_REFUSE ? ": " : "",
			 r.h.type == PROTO_REFUSE ? r.m.reason : "");
	}
	if (ac) {
		int res = auth_client_verify(ac, r.m.srp_m2, r.m.srp_m2_len);

		auth_client_free(ac);
		assert_int_equal(r.m.srp_m2_len, AUTH_PROOF_SIZE);
		assert_int_equal(res, 0);
	} else {
		assert_int_equal(r.m.srp_m2_len, 0);	/* absent without a password */
	}
	check_accept(f, &r);
	j->accept = r.m;
	return r.m.start;
}

/* A whole join (with the password when the server has one): returns START. */
static uint64_t join(struct fixture *f, struct peer *p, const char *identity,
		     const uint8_t *session, const uint64_t *resume, struct joined *j)
{
	send_preamble(p);
	send_hello(p, identity, session, resume);
	return join_read_accept(f, p, j);
}

/* ---- joining ------------------------------------------------------------ */

static void test_native_join_without_password(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p = peer_connect(f);
	struct joined j;
	uint64_t history, start, next, mark;
	unsigned nclients = s->nclients;
	struct rec r;

	settle(f, p);
	history = transcript_history_start(&s->tr, f->cfg.history_bytes, f->cfg.history_lines);
	start = join(f, p, IDENTITY, NULL, NULL, &j);
	assert_true(p->c->native);
	assert_false(p->c->detecting);
	/* The raw view before the preamble was the recent history, as text. */
	assert_true(transcript_has(s, history, p->buf, p->raw_len));
	assert_int_equal(start, history);
	assert_int_equal(p->c->state, CLIENT_LIVE);
	assert_string_equal(CLIENT_IDENT(p->c), IDENTITY TRANSPORT);
	assert_int_equal(s->nclients, nclients);

	/* The history, then whatever is said next, as records at their offsets. */
	next = start;
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);

	mark = s->tr.head;
	assert_true(s->tr.at_line_start);
	writer_emit(s, "hello", 5);
	expect_record(f, p, PROTO_NOTICE, &r);
	assert_int_equal(r.h.seq, mark);
	assert_int_equal(r.h.length, s->tr.head - mark);
	assert_memory_equal(r.payload, "hello\r\n", 7);
	assert_true(transcript_has(s, mark, r.payload, r.h.length));

	/* Program output is OUTPUT, right after. */
	mark = s->tr.head;
	assert_int_equal(transcript_append(&s->tr, "(gdb) ", 6), 6);
	s->kick_pending = true;
	expect_record(f, p, PROTO_OUTPUT, &r);
	assert_int_equal(r.h.seq, mark);
	assert_int_equal(r.h.length, 6);
	assert_memory_equal(r.payload, "(gdb) ", 6);
	finish(f);
}

/* After ACCEPT {START}: the first record begins exactly at START (a raw send
 * that was in flight must not have moved the framed cursor), and records
 * then run contiguously to the head. */
static void expect_records_from_start(struct fixture *f, struct peer *p, uint64_t start)
{
	struct hub *s = &f->s;
	uint64_t next;
	struct rec r;

	expect_record(f, p, PROTO_NOTICE, &r);
	if (r.h.seq != start)
		fail_msg("first record after ACCEPT {START=%llu} has seq %llu: the raw send "
			 "that was in flight moved the framed cursor",
			 (unsigned long long)start, (unsigned long long)r.h.seq);
	assert_true(transcript_has(s, r.h.seq, r.payload, r.h.length));
	next = start + r.h.length;
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);
}

/* A native client sends its preamble and HELLO right after connecting (1.2:
 * "It does not wait for anything"), so the raw view's first send of the
 * history is often still in flight when the preamble is recognised. */
static void test_native_join_sending_at_once(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t start;

	/* Some history for the raw view to be sending. */
	writer_emit(s, "line one", 8);
	writer_emit(s, "line two", 8);
	p = peer_connect(f);
	start = join(f, p, IDENTITY, NULL, NULL, &j);
	assert_true(p->c->native);
	expect_records_from_start(f, p, start);
	finish(f);
}

/* The same, made certain: the raw view's send of a larger history is kept in
 * flight (small send buffer, nobody reading) while the preamble and HELLO are
 * handled, and completes only after ACCEPT.  Its byte count is raw text, not
 * record bytes, and must not move the framed cursor. */
static void test_native_join_while_raw_send_in_flight(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct client *c;
	struct joined j;
	uint64_t start, deadline;
	char line[64];

	for (unsigned i = 0; i < 1000; i++) {
		int n = snprintf(line, sizeof(line), "history line %04u", i);

		writer_emit(s, line, (size_t)n);
	}
	p = peer_connect_sndbuf(f, 4096);
	c = p->c;
	/* Without reading: the raw view's send blocks on the full socket. */
	deadline = now_ms() + 2000;
	for (int quiet = 0; quiet < 10 && now_ms() < deadline;) {
		quiet = ring_run_once(&s->ring, 10 * MS) == 0 && !s->kick_pending ? quiet + 1 : 0;
		client_end_turn(s);
	}
	assert_int_equal(c->send_kind, SEND_TRANSCRIPT);
	assert_true(c->cursor < s->tr.head);

	send_preamble(p);
	send_hello(p, IDENTITY, NULL, NULL);
	deadline = now_ms() + 2000;
	while (!(c->native && c->state == CLIENT_LIVE) && now_ms() < deadline) {
		ring_run_once(&s->ring, 10 * MS);
		client_end_turn(s);
	}
	assert_true(c->native);
	assert_int_equal(c->state, CLIENT_LIVE);	/* accepted */
	assert_int_equal(c->send_kind, SEND_TRANSCRIPT);	/* the raw send is still out */

	start = join_read_accept(f, p, &j);
	expect_records_from_start(f, p, start);
	finish(f);
}

static void test_native_join_with_password(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p = peer_connect(f);
	struct joined j;
	uint64_t start, next;

	writer_emit(s, "before", 6);
	settle(f, p);
	start = join(f, p, IDENTITY, NULL, NULL, &j);
	/* The raw view said only its prompt before the preamble. */
	assert_int_equal(p->raw_len, strlen("Password: "));
	assert_memory_equal(p->buf, "Password: ", p->raw_len);
	assert_int_equal(start,
			 transcript_history_start(&s->tr, f->cfg.history_bytes, f->cfg.history_lines));
	assert_int_equal(p->c->state, CLIENT_LIVE);
	/* Live: the handshake's deadline no longer applies. */
	f->cfg.peer_timeout_s = 0;
	client_check_deadlines(p->c, s->now + CLIENT_AUTH_GRACE_S + 1);
	assert_int_equal(p->c->state, CLIENT_LIVE);
	next = start;
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);
	assert_true(strstr(text_from(s, 0), IDENTITY TRANSPORT " connected at") != NULL);
	finish(f);
}

static void test_native_wrong_password_refused_after_delay(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p = peer_connect(f);
	struct auth_client *ac;
	struct joined j;
	unsigned nclients;
	uint64_t t0;
	struct rec r;
	bool got;

	hello_and_welcome(f, p, IDENTITY, NULL, NULL, &j);
	ac = answer_challenge(f, p, "Secret2", &j);
	auth_client_free(ac);
	nclients = s->nclients;
	t0 = now_ms();
	got = next_record(f, p, 3000, &r);
	assert_true(got);
	assert_int_equal(r.h.type, PROTO_REFUSE);
	assert_true(now_ms() - t0 >= 900);	/* one guess per second at most */
	assert_int_equal(r.m.code, PROTO_REFUSAL_CODE);
	assert_string_equal(r.m.reason, "wrong password");
	assert_true(wait_eof(f, p, 2000));
	assert_int_equal(p->pos, p->len);	/* REFUSE was the last record */
	/* The server waits for our end to close too, so nothing we sent is
	 * left unread (which would turn its FIN into a reset). */
	close(p->fd);
	p->fd = -1;
	t0 = now_ms();
	while (s->nclients != nclients - 1 && now_ms() - t0 < 2000)
		pump(f);
	assert_int_equal(s->nclients, nclients - 1);
	/* Nothing of the transcript was shown to it. */
	assert_false(p->c && client_listed(s, p->c) && p->c->state == CLIENT_LIVE);
	finish(f);
}

static void test_native_replayed_proof_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p1 = peer_connect(f), *p2;
	struct joined j1, j2;
	struct proto_msg m;
	struct rec r;

	/* A successful exchange, as an eavesdropper would record it. */
	join(f, p1, IDENTITY, NULL, NULL, &j1);
	assert_int_equal(j1.M1_len, AUTH_PROOF_SIZE);

	/* Replayed on a new connection against its new challenge. */
	p2 = peer_connect(f);
	hello_and_welcome(f, p2, IDENTITY, NULL, NULL, &j2);
	expect_record(f, p2, PROTO_CHALLENGE, &r);
	assert_false(r.m.srp_b_len == j1.B_len && memcmp(r.m.srp_b, j1.B, j1.B_len) == 0);
	memset(&m, 0, sizeof(m));
	memcpy(m.srp_a, j1.A, j1.A_len);
	m.srp_a_len = j1.A_len;
	memcpy(m.srp_m1, j1.M1, j1.M1_len);
	m.srp_m1_len = j1.M1_len;
	send_record(p2, PROTO_PROOF, &m);
	if (!next_record(f, p2, 3000, &r))
		fail_msg("no answer to the replayed PROOF");
	assert_int_equal(r.h.type, PROTO_REFUSE);
	assert_int_equal(r.m.code, PROTO_REFUSAL_CODE);
	assert_string_equal(r.m.reason, "wrong password");
	assert_true(wait_eof(f, p2, 2000));
	/* The first connection is unaffected. */
	assert_false(p1->eof);
	assert_int_equal(p1->c->state, CLIENT_LIVE);
	finish(f);
}

/* HELLO without IDENTITY: named after the transport (3.4 note 1); a claimed
 * identity keeps its transport suffix and loses spaces and parentheses. */
static void test_native_identity(void **state)
{
	struct fixture *f = *state;
	struct peer *p1 = peer_connect(f), *p2;
	struct joined j;

	settle(f, p1);
	join(f, p1, NULL, NULL, NULL, &j);
	assert_string_equal(CLIENT_IDENT(p1->c), "10.1.2.3\\client1" TRANSPORT);
	p2 = peer_connect(f);
	settle(f, p2);
	join(f, p2, "BOX\\a b(c)", NULL, NULL, &j);
	assert_string_equal(CLIENT_IDENT(p2->c), "BOX\\a_b_c)" TRANSPORT);
	finish(f);
}

/* With the usual notice window the raw join notice is taken back and the
 * native client is announced by the name it claimed. */
static void test_native_join_notice_names_claimed_identity(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t deadline;

	f->cfg.notice_ms = 50;
	p = peer_connect(f);
	join(f, p, IDENTITY, NULL, NULL, &j);
	deadline = now_ms() + 1000;
	while (!strstr(text_from(s, 0), " connected at") && now_ms() < deadline)
		pump(f);
	assert_non_null(strstr(text_from(s, 0), IDENTITY TRANSPORT " connected at"));
	assert_null(strstr(text_from(s, 0), "client1"));
	finish(f);
}

/* ---- detection --------------------------------------------------------- */

static void test_native_raw_client_not_native(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	uint64_t deadline = now_ms() + 2000;

	settle(f, p);
	peer_send(p, "hello\n", 6);
	while (p->c->detecting && now_ms() < deadline)
		pump(f);
	assert_false(p->c->detecting);
	assert_false(p->c->native);
	assert_null(p->c->nat);
	assert_int_equal(p->c->state, CLIENT_LIVE);
	/* It was taken as a line: with no program reading, it is refused as text. */
	deadline = now_ms() + 2000;
	while (!memmem(p->buf, p->len, "line dropped", 12) && now_ms() < deadline) {
		pump(f);
		peer_read(p);
	}
	if (!memmem(p->buf, p->len, "ringside: the program is not reading input",
		    strlen("ringside: the program is not reading input")))
		fail_msg("got %zu bytes: \"%.*s\"", p->len, (int)p->len, (const char *)p->buf);
	scan_preamble(p);
	assert_false(p->preamble);
	finish(f);
}

static void test_native_preamble_split_across_reads(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct rec r;

	settle(f, p);
	peer_send(p, proto_preamble, 3);
	for (int i = 0; i < 5; i++)
		pump(f);
	assert_true(p->c->detecting);
	assert_false(p->c->native);
	peer_send(p, proto_preamble + 3, 4);
	for (int i = 0; i < 5; i++)
		pump(f);
	assert_true(p->c->detecting);
	/* join() sends the whole preamble: send only the last byte by hand. */
	peer_send(p, proto_preamble + 7, 1);
	send_hello(p, IDENTITY, NULL, NULL);
	assert_true(wait_preamble(f, p, 2000));
	assert_true(p->c->native);
	expect_record(f, p, PROTO_WELCOME, &r);
	expect_record(f, p, PROTO_ACCEPT, &r);
	check_accept(f, &r);
	finish(f);
}

/* 9: a server speaks versions 2 and 3 and answers each in kind; a version-3
 * HELLO with RELAY = 1 is a relay, and on a session with a password it is
 * locked until one of its clients proves the password (PROTOCOL.md 11.1). */
static void test_native_version_3_relay_welcome(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct rec r;
	struct proto_msg m;

	settle(f, p);
	send_preamble_v(p, PROTO_VERSION_RELAY);
	memset(&m, 0, sizeof(m));
	m.version = PROTO_VERSION_RELAY;
	m.has_version = true;
	snprintf(m.identity, sizeof(m.identity), IDENTITY);
	m.has_identity = true;
	m.relay = 1;
	m.has_relay = true;
	send_record(p, PROTO_HELLO, &m);
	assert_true(wait_preamble(f, p, 1000));
	assert_int_equal(p->buf[p->pos - 1], PROTO_VERSION_RELAY);
	expect_record(f, p, PROTO_WELCOME, &r);
	assert_int_equal(r.m.version, PROTO_VERSION_RELAY);
	assert_true(r.m.has_relay && r.m.relay == 1);
	assert_true(r.m.has_auth && r.m.auth == 1);
	assert_true(r.m.has_locked && r.m.locked == 1);
	/* Locked: its own line is not expected here (nor anywhere). */
	send_input(p, "x", 1);
	assert_string_equal(expect_final_refuse(f, p, 2000),
			    "protocol error: a record of type 34 (INPUT) is not expected here");
	finish(f);
}

/* A version-2 client is answered in version 2 by the same server, RELAY or not. */
static void test_native_version_2_stays_version_2(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct rec r;
	struct proto_msg m;

	settle(f, p);
	send_preamble(p);
	memset(&m, 0, sizeof(m));
	m.version = PROTO_VERSION;
	m.has_version = true;
	m.relay = 1;
	m.has_relay = true;
	send_record(p, PROTO_HELLO, &m);
	assert_true(wait_preamble(f, p, 1000));
	assert_int_equal(p->buf[p->pos - 1], PROTO_VERSION);
	expect_record(f, p, PROTO_WELCOME, &r);
	assert_int_equal(r.m.version, PROTO_VERSION);
	assert_false(r.m.has_relay);
	expect_record(f, p, PROTO_ACCEPT, &r);
	finish(f);
}

/* 1.2 and 9: a client preamble whose version the server does not speak is
 * still native; the server answers with its own preamble and REFUSE
 * "unsupported protocol version V". */
static void test_native_preamble_version_unsupported_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct rec r;
	struct proto_msg m;

	settle(f, p);
	send_preamble_v(p, 4);
	memset(&m, 0, sizeof(m));
	m.version = 4;
	m.has_version = true;
	snprintf(m.identity, sizeof(m.identity), IDENTITY);
	m.has_identity = true;
	send_record(p, PROTO_HELLO, &m);
	if (!wait_preamble(f, p, 1000))
		fail_msg("no server preamble after a version-4 client preamble; the client was "
			 "taken as %s", p->c->native ? "native" : "raw (its bytes became text input)");
	/* Our newest version: the client learns what it could use. */
	assert_int_equal(p->buf[p->pos - 1], PROTO_VERSION_MAX);
	expect_record(f, p, PROTO_REFUSE, &r);
	assert_int_equal(r.m.code, PROTO_REFUSAL_CODE);
	assert_string_equal(r.m.reason, "unsupported protocol version 4");
	assert_true(wait_eof(f, p, 2000));
	finish(f);
}

/* ---- refusals during the handshake -------------------------------------- */

static void test_native_hello_version_unsupported_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f), *q;
	struct proto_msg m;

	settle(f, p);
	send_preamble(p);
	memset(&m, 0, sizeof(m));
	m.version = 7;
	m.has_version = true;
	snprintf(m.identity, sizeof(m.identity), IDENTITY);
	m.has_identity = true;
	send_record(p, PROTO_HELLO, &m);
	assert_string_equal(expect_final_refuse(f, p, 2000), "unsupported protocol version 7");

	/* A missing VERSION counts as 0 (4.2). */
	q = peer_connect(f);
	settle(f, q);
	send_preamble(q);
	memset(&m, 0, sizeof(m));
	snprintf(m.identity, sizeof(m.identity), IDENTITY);
	m.has_identity = true;
	send_record(q, PROTO_HELLO, &m);
	assert_string_equal(expect_final_refuse(f, q, 2000), "unsupported protocol version 0");
	finish(f);
}

static void test_native_malformed_hello_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f), *q;
	/* VERSION's 4-byte value announced, 2 bytes given: the item runs past
	 * the end of the body. */
	static const uint8_t truncated[] = { 0x00, 0x01, 0x00, 0x04, 0x00, 0x00 };
	/* VERSION twice. */
	static const uint8_t twice[] = { 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
					 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01 };

	settle(f, p);
	send_preamble(p);
	send_raw_record(p, PROTO_HELLO, truncated, sizeof(truncated));
	expect_prefix(expect_final_refuse(f, p, 2000), "protocol error");
	assert_false(p->c && client_listed(&f->s, p->c) && p->c->state == CLIENT_LIVE);

	q = peer_connect(f);
	settle(f, q);
	send_preamble(q);
	send_raw_record(q, PROTO_HELLO, twice, sizeof(twice));
	expect_prefix(expect_final_refuse(f, q, 2000), "protocol error");
	finish(f);
}

static void test_native_bad_record_header_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	uint8_t hdr[PROTO_HEADER_SIZE] = { 99 };	/* unknown type */

	settle(f, p);
	send_preamble(p);
	peer_send(p, hdr, sizeof(hdr));
	expect_prefix(expect_final_refuse(f, p, 2000), "protocol error");
	finish(f);
}

static void test_native_first_record_not_hello_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f), *q;

	settle(f, p);
	send_preamble(p);
	send_input(p, "bt", 2);
	expect_prefix(expect_final_refuse(f, p, 2000), "protocol error");
	/* Nothing reached the transcript as a typed line. */
	assert_null(strstr(text_from(&f->s, 0), ": bt"));

	q = peer_connect(f);
	settle(f, q);
	send_preamble(q);
	send_record(q, PROTO_BYE, NULL);
	expect_prefix(expect_final_refuse(f, q, 2000), "protocol error");
	finish(f);
}

static void test_native_proof_before_hello_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct proto_msg m;

	settle(f, p);
	send_preamble(p);
	memset(&m, 0, sizeof(m));
	memset(m.srp_a, 0x42, 256);
	m.srp_a_len = 256;
	memset(m.srp_m1, 0x17, AUTH_PROOF_SIZE);
	m.srp_m1_len = AUTH_PROOF_SIZE;
	send_record(p, PROTO_PROOF, &m);
	expect_prefix(expect_final_refuse(f, p, 2000), "protocol error");
	finish(f);
}

/* 4.1: anything but PROOF after CHALLENGE is a protocol error. */
static void test_native_input_instead_of_proof_refused(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct joined j;
	struct rec r;

	hello_and_welcome(f, p, IDENTITY, NULL, NULL, &j);
	expect_record(f, p, PROTO_CHALLENGE, &r);
	send_input(p, "bt", 2);
	expect_record(f, p, PROTO_REFUSE, &r);
	expect_prefix(r.m.reason, "protocol error");
	assert_true(wait_eof(f, p, 2000));
	finish(f);
}

/* 3.1/4.6: a PROOF that lacks a required field is a protocol error, not a
 * wrong password. */
static void test_native_proof_missing_field_is_protocol_error(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct joined j;
	struct proto_msg m;
	struct rec r;

	hello_and_welcome(f, p, IDENTITY, NULL, NULL, &j);
	expect_record(f, p, PROTO_CHALLENGE, &r);
	memset(&m, 0, sizeof(m));
	memset(m.srp_a, 0x42, 256);
	m.srp_a_len = 256;	/* SRP_M1 missing */
	send_record(p, PROTO_PROOF, &m);
	if (!next_record(f, p, 3000, &r))
		fail_msg("no answer to a PROOF without SRP_M1");
	assert_int_equal(r.h.type, PROTO_REFUSE);
	expect_prefix(r.m.reason, "protocol error");
	assert_true(wait_eof(f, p, 2000));
	finish(f);
}

/* 1.2 and 4.1: once the client's preamble is read, the server sends its own
 * preamble and then only records, so a client (which discards everything up
 * to the preamble) can read a REFUSE that comes before any WELCOME. */
static void test_native_early_refusal_follows_server_preamble(void **state)
{
	static const char *const what[] = { "HELLO with VERSION 7", "INPUT first",
					    "PROOF first", "a malformed HELLO" };
	static const uint8_t truncated[] = { 0x00, 0x01, 0x00, 0x04, 0x00, 0x00 };
	struct fixture *f = *state;

	for (unsigned i = 0; i < 4; i++) {
		struct peer *p = peer_connect(f);
		struct proto_msg m;
		struct rec r;

		send_preamble(p);
		memset(&m, 0, sizeof(m));
		switch (i) {
		case 0:
			m.version = 7;
			m.has_version = true;
			send_record(p, PROTO_HELLO, &m);
			break;
		case 1:
			send_input(p, "bt", 2);
			break;
		case 2:
			m.srp_a[0] = 2;
			m.srp_a_len = 1;
			m.srp_m1_len = AUTH_PROOF_SIZE;
			send_record(p, PROTO_PROOF, &m);
			break;
		default:
			send_raw_record(p, PROTO_HELLO, truncated, sizeof(truncated));
			break;
		}
		if (!wait_preamble(f, p, 2000))
			fail_msg("after %s: the server refused (%zu bytes, then %s) without "
				 "sending its preamble first; a client never sees the REFUSE",
				 what[i], p->len, p->eof ? "closed" : "silence");
		expect_record(f, p, PROTO_REFUSE, &r);
		assert_true(wait_eof(f, p, 2000));
		assert_int_equal(p->pos, p->len);
		close(p->fd);
		p->fd = -1;
	}
	finish(f);
}

/* 4.6: a native client that never completes the handshake is refused after
 * 60 s, on a server without a password too (the sweep is driven with a
 * clock 60 s on). */
static void test_native_handshake_timer_armed_without_password(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	uint64_t deadline = now_ms() + 2000;
	struct rec r;

	settle(f, p);
	send_preamble(p);
	while (!p->c->native && now_ms() < deadline)
		pump(f);
	assert_true(p->c->native);
	assert_int_equal(p->c->state, CLIENT_AUTH);
	client_check_deadlines(p->c, p->c->born + CLIENT_AUTH_GRACE_S - 1);
	assert_false(p->c->close_after_flush);
	client_check_deadlines(p->c, p->c->born + CLIENT_AUTH_GRACE_S);
	assert_true(wait_preamble(f, p, 1000));
	expect_record(f, p, PROTO_REFUSE, &r);
	assert_string_equal(r.m.reason, "the handshake took too long");
	assert_true(wait_eof(f, p, 4000));
	finish(f);
}

/* ---- resuming ------------------------------------------------------------ */

static void test_native_resume_inside_history(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t resume, start, next;
	unsigned gaps = 0;
	struct rec r;

	writer_emit(s, "line one", 8);
	resume = s->tr.head + 3;	/* inside a line: offsets are exact */
	writer_emit(s, "line two", 8);
	writer_emit(s, "line three", 10);
	p = peer_connect(f);
	settle(f, p);
	assert_true(resume != transcript_history_start(&s->tr, f->cfg.history_bytes,
						      f->cfg.history_lines));
	start = join(f, p, IDENTITY, s->id, &resume, &j);
	assert_int_equal(start, resume);
	expect_record(f, p, PROTO_NOTICE, &r);
	assert_int_equal(r.h.seq, resume);
	assert_true(transcript_has(s, resume, r.payload, r.h.length));
	assert_memory_equal(r.payload, "e two\r\n", 7);
	next = resume + r.h.length;
	read_transcript_until(f, p, &next, s->tr.head, &gaps, NULL);
	assert_int_equal(gaps, 0);
	finish(f);
}

static void test_native_resume_at_head(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t resume, start;
	struct rec r;

	writer_emit(s, "line one", 8);
	p = peer_connect(f);
	settle(f, p);
	resume = s->tr.head;
	start = join(f, p, IDENTITY, s->id, &resume, &j);
	assert_int_equal(start, resume);
	expect_quiet(f, p, 50);
	writer_emit(s, "next", 4);
	expect_record(f, p, PROTO_NOTICE, &r);
	assert_int_equal(r.h.seq, resume);
	assert_memory_equal(r.payload, "next\r\n", 6);
	finish(f);
}

/* Writes about 1 MiB of program output through a 256 KiB ring. */
static void wrap_transcript(struct hub *s)
{
	char line[64];

	for (unsigned i = 0; s->tr.head < 1024 * 1024; i++) {
		int n = snprintf(line, sizeof(line), "output line %06u\r\n", i);

		assert_int_equal(transcript_append(&s->tr, line, (size_t)n), (size_t)n);
	}
	assert_true(transcript_oldest(&s->tr) > 4096);
}

/* The common part of the too-old resumes: returns the GAP's TO. */
static uint64_t resume_too_old(struct fixture *f, uint64_t resume)
{
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t start, to, next;
	struct rec r;

	wrap_transcript(s);
	p = peer_connect(f);
	settle(f, p);
	assert_true(resume < transcript_oldest(&s->tr));
	start = join(f, p, IDENTITY, s->id, &resume, &j);
	/* 7.2: ACCEPT START = RESUME, then GAP {FROM = RESUME, TO}. */
	if (start != resume)
		fail_msg("ACCEPT START = %llu for RESUME = %llu older than the oldest held %llu",
			 (unsigned long long)start, (unsigned long long)resume,
			 (unsigned long long)transcript_oldest(&s->tr));
	expect_record(f, p, PROTO_GAP, &r);
	assert_int_equal(r.m.from, resume);
	to = r.m.to;
	assert_true(to >= transcript_oldest(&s->tr));
	assert_true(to <= s->tr.head);
	/* Records continue at TO, contiguously. */
	expect_record(f, p, PROTO_OUTPUT, &r);
	assert_int_equal(r.h.seq, to);
	assert_true(transcript_has(s, to, r.payload, r.h.length));
	next = to + r.h.length;
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);
	return to;
}

static void test_native_resume_too_old_gets_gap(void **state)
{
	struct fixture *f = *state;

	resume_too_old(f, 100);
	finish(f);
}

/* 7.2: "GAP {FROM = RESUME, TO = where recent history starts (what a new
 * join would get ...)}, then records from TO". */
static void test_native_resume_gap_ends_at_history_start(void **state)
{
	struct fixture *f = *state;
	uint64_t to = resume_too_old(f, 100);
	uint64_t history = transcript_history_start(&f->s.tr, f->cfg.history_bytes, f->cfg.history_lines);

	if (to != history)
		fail_msg("GAP TO = %llu, but recent history starts at %llu",
			 (unsigned long long)to, (unsigned long long)history);
	finish(f);
}

/* RESUME = 0 (a client that had START = 0 and got nothing yet) is as old as
 * any other offset that is gone. */
static void test_native_resume_zero_too_old_gets_gap(void **state)
{
	struct fixture *f = *state;

	resume_too_old(f, 0);
	finish(f);
}

static void test_native_resume_other_session_is_fresh_join(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint8_t other[16];
	uint64_t resume, history, start, next;
	unsigned gaps = 0;

	writer_emit(s, "line one", 8);
	resume = s->tr.head + 2;
	writer_emit(s, "line two", 8);
	memcpy(other, s->id, sizeof(other));
	other[15] ^= 0x5a;
	p = peer_connect(f);
	settle(f, p);
	history = transcript_history_start(&s->tr, f->cfg.history_bytes, f->cfg.history_lines);
	assert_true(history != resume);
	start = join(f, p, IDENTITY, other, &resume, &j);
	assert_int_equal(start, history);
	assert_memory_equal(j.accept.session, s->id, sizeof(s->id));	/* this session's */
	next = start;
	read_transcript_until(f, p, &next, s->tr.head, &gaps, NULL);
	assert_int_equal(gaps, 0);
	finish(f);
}

static void test_native_resume_beyond_head_is_fresh_join(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t resume, history, start, next;
	unsigned gaps = 0;

	writer_emit(s, "line one", 8);
	p = peer_connect(f);
	settle(f, p);
	resume = s->tr.head + 1000;
	history = transcript_history_start(&s->tr, f->cfg.history_bytes, f->cfg.history_lines);
	start = join(f, p, IDENTITY, s->id, &resume, &j);
	assert_int_equal(start, history);
	next = start;
	read_transcript_until(f, p, &next, s->tr.head, &gaps, NULL);
	assert_int_equal(gaps, 0);
	finish(f);
}

/* SESSION without RESUME (or the reverse) is a new join (3.4 note 2). */
static void test_native_session_without_resume_is_fresh_join(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t history;

	writer_emit(s, "line one", 8);
	writer_emit(s, "line two", 8);
	p = peer_connect(f);
	settle(f, p);
	history = transcript_history_start(&s->tr, f->cfg.history_bytes, f->cfg.history_lines);
	assert_int_equal(join(f, p, IDENTITY, s->id, NULL, &j), history);
	finish(f);
}

/* ---- after ACCEPT ----------------------------------------------------------- */

static void test_native_input_reaches_program(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t next, mark;
	struct rec r;

	attach_program(f);
	p = peer_connect(f);
	settle(f, p);
	next = join(f, p, IDENTITY, NULL, NULL, &j);
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);

	mark = s->tr.head;
	send_input(p, "bt", 2);
	expect_record(f, p, PROTO_TYPED, &r);
	assert_int_equal(r.h.seq, mark);
	assert_string_equal((const char *)r.payload, IDENTITY TRANSPORT ": bt\r\n");
	assert_string_equal(program_got(f), "bt\n");

	/* An empty INPUT is an empty line (Enter). */
	mark = s->tr.head;
	send_input(p, "", 0);
	expect_record(f, p, PROTO_TYPED, &r);
	assert_int_equal(r.h.seq, mark);
	assert_string_equal(program_got(f), "\n");

	/* INTERRUPT writes the interrupt character to the program's terminal. */
	mark = s->tr.head;
	send_record(p, PROTO_INTERRUPT, NULL);
	expect_record(f, p, PROTO_TYPED, &r);
	assert_int_equal(r.h.seq, mark);
	assert_string_equal((const char *)r.payload, IDENTITY TRANSPORT ": ^C (interrupt)\r\n");
	assert_string_equal(program_got(f), "\x03");
	finish(f);
}

static void test_native_long_input_refused_privately(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t next, mark;
	char line[5000];
	struct rec r;

	attach_program(f);
	p = peer_connect(f);
	settle(f, p);
	next = join(f, p, IDENTITY, NULL, NULL, &j);
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);
	mark = s->tr.head;
	memset(line, 'x', sizeof(line));
	send_input(p, line, sizeof(line));
	expect_record(f, p, PROTO_PRIVATE, &r);
	assert_int_equal(r.h.seq, 0);
	assert_non_null(strstr((const char *)r.payload, "line longer than 4096 bytes"));
	assert_int_equal(s->tr.head, mark);
	assert_string_equal(program_got(f), "");
	/* The connection stays open and usable. */
	send_input(p, "bt", 2);
	expect_record(f, p, PROTO_TYPED, &r);
	assert_string_equal(program_got(f), "bt\n");
	finish(f);
}

/* 6: "Servers refuse lines that contain LF, CR or NUL the same way" (a
 * PRIVATE notice, nothing sent).  An INPUT with an LF must not become two
 * commands for the program. */
static void test_native_input_with_line_break_refused(void **state)
{
	static const char *const bad[] = { "bt\nquit", "bt\rquit", "bt\0quit", "bt\033]0;x" };
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t next;

	attach_program(f);
	p = peer_connect(f);
	settle(f, p);
	next = join(f, p, IDENTITY, NULL, NULL, &j);
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t mark = s->tr.head;
		const char *got;
		struct rec r;

		send_input(p, bad[i], 7);
		if (!next_record(f, p, 2000, &r))
			fail_msg("no answer to INPUT #%u", i);
		got = program_got(f);
		if (r.h.type != PROTO_PRIVATE || got[0] || s->tr.head != mark)
			fail_msg("INPUT #%u with a line break or NUL was not refused: got %s, "
				 "the program was sent \"%s\" (%zu bytes)", i,
				 proto_type_name(r.h.type), got, strlen(got));
	}
	finish(f);
}

/* 6.1: a HEARTBEAT is answered at once with its own seq, read-only or not. */
static void test_native_heartbeat_answered(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	uint8_t hdr[PROTO_HEADER_SIZE];
	struct proto_header h = { .type = PROTO_HEARTBEAT, .seq = 0x1122334455667788ull };
	struct joined j;
	struct rec r;

	settle(f, p);
	join(f, p, IDENTITY, NULL, NULL, &j);
	proto_header_encode(&h, hdr);
	peer_send(p, hdr, sizeof(hdr));
	do {
		if (!next_record(f, p, 2000, &r))
			fail_msg("no HEARTBEAT_ACK");
	} while (r.h.type != PROTO_HEARTBEAT_ACK);
	assert_true(r.h.seq == h.seq);
	assert_int_equal(r.h.length, 0);
	finish(f);
}

/* 6.1: a native client heard nothing from for max(-peertimeout, 45 s) is
 * dropped; one that keeps talking is not. */
static void test_native_silent_client_dropped(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p = peer_connect(f);
	struct joined j;

	f->cfg.peer_timeout_s = 10;
	settle(f, p);
	join(f, p, IDENTITY, NULL, NULL, &j);
	while (client_sending(p->c) || !client_private_empty(p->c)) {
		pump(f);
		peer_read(p);
	}
	client_check_deadlines(p->c, p->c->heard_at + PROTO_READ_TIMEOUT_S - 1);
	assert_int_equal(p->c->state, CLIENT_LIVE);
	client_check_deadlines(p->c, p->c->heard_at + PROTO_READ_TIMEOUT_S);
	assert_int_equal(p->c->state, CLIENT_CLOSING);
	assert_true(wait_eof(f, p, 2000));
	(void)s;
	finish(f);
}

/* A HELLO whose identity carries a C1 control (CSI as UTF-8) or a bidi
 * override is malformed: it would act on every other client's terminal
 * through the join notice. */
static void test_native_identity_with_controls_refused(void **state)
{
	static const char *const bad[] = { "box\\ev\xc2\x9b" "2J", "box\\\xe2\x80\xaeil",
					   "box\\\x9b" "2J" };
	struct fixture *f = *state;

	for (unsigned i = 0; i < 3; i++) {
		struct peer *p = peer_connect(f);
		uint8_t body[64];
		size_t n = strlen(bad[i]);

		settle(f, p);
		send_preamble(p);
		/* By hand: the encoder refuses such text itself. */
		body[0] = 0, body[1] = PROTO_T_VERSION, body[2] = 0, body[3] = 4;
		body[4] = 0, body[5] = 0, body[6] = 0, body[7] = PROTO_VERSION;
		body[8] = 0, body[9] = PROTO_T_IDENTITY, body[10] = 0, body[11] = (uint8_t)n;
		memcpy(body + 12, bad[i], n);
		send_raw_record(p, PROTO_HELLO, body, 12 + n);
		expect_prefix(expect_final_refuse(f, p, 2000), "protocol error");
		assert_null(strstr(text_from(&f->s, 0), "\x9b"));
	}
	finish(f);
}

/* Before ACCEPT a record other than the next handshake record is refused
 * on its header: its payload is never read, however long it says it is. */
static void test_native_unexpected_record_refused_at_header(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	struct proto_header h = { .type = PROTO_OUTPUT, .length = PROTO_MAX_OUTPUT };
	uint8_t hdr[PROTO_HEADER_SIZE], junk[4096];
	const char *reason;

	settle(f, p);
	send_preamble(p);
	proto_header_encode(&h, hdr);
	peer_send(p, hdr, sizeof(hdr));
	memset(junk, 'x', sizeof(junk));
	peer_send(p, junk, sizeof(junk));
	reason = expect_final_refuse(f, p, 2000);
	expect_prefix(reason, "protocol error: a record of type 16 (OUTPUT) is not expected here");
	finish(f);
}

static void test_native_readonly_input_refused(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p;
	struct joined j;
	uint64_t start, next, mark;
	uint64_t refused = s->stats.lines_refused;
	struct rec r;

	attach_program(f);	/* so that a line let through would show */
	p = peer_connect(f);
	settle(f, p);
	start = join(f, p, IDENTITY, NULL, NULL, &j);
	assert_int_equal(j.accept.role, 1);
	assert_true(p->c->readonly);
	next = start;
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);

	mark = s->tr.head;
	send_input(p, "bt", 2);
	expect_record(f, p, PROTO_PRIVATE, &r);
	assert_int_equal(r.h.seq, 0);
	assert_non_null(strstr((const char *)r.payload, "read-only"));
	assert_int_equal(s->stats.lines_refused, refused + 1);
	assert_int_equal(s->tr.head, mark);	/* no who-typed line */
	assert_null(strstr(text_from(s, 0), ": bt"));
	assert_string_equal(program_got(f), "");

	/* Meta-commands too. */
	send_input(p, ".echo hi", 8);
	expect_record(f, p, PROTO_PRIVATE, &r);
	assert_int_equal(s->tr.head, mark);

	/* INTERRUPT is refused the same way. */
	send_record(p, PROTO_INTERRUPT, NULL);
	expect_record(f, p, PROTO_PRIVATE, &r);
	assert_non_null(strstr((const char *)r.payload, "read-only"));
	assert_int_equal(s->tr.head, mark);
	assert_string_equal(program_got(f), "");

	/* The connection stays open. */
	expect_quiet(f, p, 30);
	assert_int_equal(p->c->state, CLIENT_LIVE);
	finish(f);
}

static void test_native_bye_closes_client(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p = peer_connect(f);
	struct client *c = p->c;
	struct joined j;
	unsigned nclients;
	uint64_t next, mark, deadline;

	settle(f, p);
	next = join(f, p, IDENTITY, NULL, NULL, &j);
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);
	nclients = s->nclients;
	assert_int_equal(nclients, 1);
	mark = s->tr.head;
	send_record(p, PROTO_BYE, NULL);
	assert_true(wait_eof(f, p, 2000));
	assert_int_equal(s->nclients, nclients - 1);
	assert_non_null(strstr(text_from(s, mark), IDENTITY TRANSPORT " disconnected at"));
	/* The library frees it once its ops are back. */
	deadline = now_ms() + 2000;
	while (client_listed(s, c) && now_ms() < deadline)
		pump(f);
	assert_false(client_listed(s, c));
	p->c = NULL;
	finish(f);
}

/* 5.5: a protocol error after ACCEPT is answered with REFUSE, then close. */
static void test_native_protocol_error_after_accept_refused(void **state)
{
	struct fixture *f = *state;
	struct hub *s = &f->s;
	struct peer *p = peer_connect(f), *q;
	struct joined j;
	uint64_t next;
	uint8_t hdr[PROTO_HEADER_SIZE] = { 99 };
	struct rec r;

	settle(f, p);
	next = join(f, p, IDENTITY, NULL, NULL, &j);
	read_transcript_until(f, p, &next, s->tr.head, NULL, NULL);
	peer_send(p, hdr, sizeof(hdr));	/* unknown record type */
	for (;;) {
		if (!next_record(f, p, 2000, &r))
			fail_msg("no REFUSE after an unknown record type");
		if (r.h.type == PROTO_REFUSE)
			break;
	}
	expect_prefix(r.m.reason, "protocol error");
	assert_true(wait_eof(f, p, 2000));

	/* A second HELLO is a record in the wrong place. */
	q = peer_connect(f);
	settle(f, q);
	join(f, q, IDENTITY, NULL, NULL, &j);
	send_hello(q, IDENTITY, NULL, NULL);
	for (;;) {
		if (!next_record(f, q, 2000, &r))
			fail_msg("no REFUSE after a second HELLO");
		if (r.h.type == PROTO_REFUSE)
			break;
	}
	expect_prefix(r.m.reason, "protocol error");
	assert_true(wait_eof(f, q, 2000));
	finish(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_native_join_without_password, setup_plain),
		T(test_native_join_sending_at_once, setup_plain),
		T(test_native_join_while_raw_send_in_flight, setup_plain),
		T(test_native_join_with_password, setup_password),
		T(test_native_wrong_password_refused_after_delay, setup_password),
		T(test_native_replayed_proof_refused, setup_password),
		T(test_native_identity, setup_plain),
		T(test_native_join_notice_names_claimed_identity, setup_plain),
		T(test_native_raw_client_not_native, setup_plain),
		T(test_native_preamble_split_across_reads, setup_plain),
		T(test_native_preamble_version_unsupported_refused, setup_plain),
		T(test_native_version_3_relay_welcome, setup_password),
		T(test_native_version_2_stays_version_2, setup_plain),
		T(test_native_hello_version_unsupported_refused, setup_plain),
		T(test_native_malformed_hello_refused, setup_plain),
		T(test_native_bad_record_header_refused, setup_plain),
		T(test_native_first_record_not_hello_refused, setup_plain),
		T(test_native_proof_before_hello_refused, setup_password),
		T(test_native_input_instead_of_proof_refused, setup_password),
		T(test_native_proof_missing_field_is_protocol_error, setup_password),
		T(test_native_early_refusal_follows_server_preamble, setup_password),
		T(test_native_handshake_timer_armed_without_password, setup_plain),
		T(test_native_resume_inside_history, setup_plain),
		T(test_native_resume_at_head, setup_plain),
		T(test_native_resume_too_old_gets_gap, setup_plain),
		T(test_native_resume_gap_ends_at_history_start, setup_plain),
		T(test_native_resume_zero_too_old_gets_gap, setup_plain),
		T(test_native_resume_other_session_is_fresh_join, setup_plain),
		T(test_native_resume_beyond_head_is_fresh_join, setup_plain),
		T(test_native_session_without_resume_is_fresh_join, setup_plain),
		T(test_native_input_reaches_program, setup_plain),
		T(test_native_long_input_refused_privately, setup_plain),
		T(test_native_input_with_line_break_refused, setup_plain),
		T(test_native_readonly_input_refused, setup_readonly),
		T(test_native_heartbeat_answered, setup_readonly),
		T(test_native_silent_client_dropped, setup_plain),
		T(test_native_identity_with_controls_refused, setup_plain),
		T(test_native_unexpected_record_refused_at_header, setup_password),
		T(test_native_bye_closes_client, setup_plain),
		T(test_native_protocol_error_after_accept_refused, setup_plain),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
