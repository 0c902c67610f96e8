// SPDX-License-Identifier: MIT
/* Unit tests for src/comline.c, comconv.c and link_serial.c: serial channels as
 * links, on a real io_uring loop and real pseudo-terminals (openpty).  The
 * test plays the far end on the pty master with the frame codec: it opens
 * and closes conversations, sends data with and without gaps, stops
 * reading, and hangs up.  Covered: a server conversation both ways, record
 * pieces (sendmsg), a gap ending a conversation with a CLOSE to the peer,
 * the peer closing and starting over, channels nobody serves, the client
 * side's answers, a hang-up, a raw line, fairness between two channels,
 * an idle line costing no wake-ups, and a stress of sends, cancels and
 * conversations whose buffers are freed the moment they are given back
 * (run under ASan, a read after that is caught). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ring/ring.h"
#include "serial/frame.h"
#include "src/comline.h"
#include "src/link.h"

#define MS 1000000ull

struct conv {
	struct link link;
	bool used;
	char got[65536];
	size_t got_len;
	int ended, ended_res;
	int sent, sent_res;
	void *free_on_sent;	/* the stress test's lent buffer */
	size_t free_len;
	bool close_on_end;
};

struct fixture {
	struct ring ring;
	struct link_ctx ctx;
	struct comline *lines;
	struct serial_registry reg;
	struct comchan *ch[4];
	int master;
	char slave[64];
	char lock_dir[64];
	struct serial_config cfg;
	char err[512];
	/* The far end. */
	struct serial_dec dec;
	uint16_t seq[256];
	uint8_t far_data[256][32768];	/* the first bytes of each channel's data */
	size_t far_len[256];
	struct serial_ctl far_ctl[256][16];
	size_t far_nctl[256];
	unsigned order[4096];
	size_t nframes;
	/* What the channel owners heard. */
	struct conv convs[64];
	struct conv *current[256];	/* the conversation on each channel */
	int opened, refuse_next;
	int answered, answered_res, answered_reason;
	int failed;
	char failed_why[512];
	unsigned cut_short;	/* sends given back before all was framed */
};

static struct fixture *F;

/* ---- events ------------------------------------------------------------- */

static struct conv *conv_of(struct link *l)
{
	return container_of(l, struct conv, link);
}

static void on_received(struct link *l, char *data, size_t n)
{
	struct conv *c = conv_of(l);

	assert_true(c->got_len + n <= sizeof(c->got));
	memcpy(c->got + c->got_len, data, n);
	c->got_len += n;
}

static void on_recv_ended(struct link *l, int res)
{
	struct conv *c = conv_of(l);

	c->ended++;
	c->ended_res = res;
	if (c->close_on_end && !link_busy(l))
		link_close(l);
}

static void on_sent(struct link *l, int res)
{
	struct conv *c = conv_of(l);

	c->sent++;
	c->sent_res = res;
	if (c->free_on_sent) {
		if (res < 0 || (size_t)res < c->free_len)
			F->cut_short++;
		/* Given back: poisoned at once, so a later read is caught. */
		memset(c->free_on_sent, 0xAA, c->free_len);
		free(c->free_on_sent);
		c->free_on_sent = NULL;
	}
}

static const struct link_events events = {
	.received = on_received,
	.recv_ended = on_recv_ended,
	.sent = on_sent,
};

static struct conv *new_conv(void)
{
	for (size_t i = 0; i < sizeof(F->convs) / sizeof(F->convs[0]); i++)
		if (!F->convs[i].used) {
			memset(&F->convs[i], 0, sizeof(F->convs[i]));
			F->convs[i].used = true;
			return &F->convs[i];
		}
	fail_msg("out of conversations");
	return NULL;
}

static void ch_opened(struct comchan *ch)
{
	struct conv *c;

	F->opened++;
	if (F->refuse_next) {
		F->refuse_next = 0;
		comchan_refuse(ch, SERIAL_CLOSE_FULL);
		return;
	}
	c = new_conv();
	assert_int_equal(link_init_serial(&c->link, &F->ctx, ch), 0);
	assert_int_equal(link_recv(&c->link), 0);
	F->current[ch->channel == SERIAL_CHANNEL_RAW ? 255 : ch->channel] = c;
}

static void ch_answered(struct comchan *ch, int res, unsigned reason)
{
	F->answered++;
	F->answered_res = res;
	F->answered_reason = (int)reason;
	if (res == 0) {
		struct conv *c = new_conv();

		assert_int_equal(link_init_serial(&c->link, &F->ctx, ch), 0);
		assert_int_equal(link_recv(&c->link), 0);
		F->current[ch->channel] = c;
	}
}

static void ch_line_failed(struct comchan *ch, const char *why)
{
	F->failed++;
	snprintf(F->failed_why, sizeof(F->failed_why), "%s", why);
}

static const struct comchan_ops ops = {
	.opened = ch_opened,
	.answered = ch_answered,
	.line_failed = ch_line_failed,
};

/* ---- the far end -------------------------------------------------------- */

static void far_write(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(F->master, b, n);

		if (w < 0 && errno == EAGAIN) {
			ring_run_once(&F->ring, MS);
			continue;
		}
		assert_true(w > 0);
		b += w;
		n -= (size_t)w;
	}
}

static void far_frame(unsigned ch, unsigned flags, const void *p, size_t n)
{
	uint8_t buf[SERIAL_FRAME_WIRE_WORST(SERIAL_FRAME_PAYLOAD_MAX)];
	size_t w = serial_frame_encode_flags(buf, sizeof(buf), ch, F->seq[ch]++, flags, p, n);

	assert_true(w > 0);
	far_write(buf, w);
}

static void far_ctl(unsigned ch, uint8_t op, uint16_t id, uint8_t reason)
{
	struct serial_ctl c = { .op = op, .id = id, .reason = reason };
	uint8_t msg[SERIAL_CTL_LEN];

	serial_ctl_encode(msg, &c);
	far_frame(ch, SERIAL_FRAME_CTL, msg, sizeof(msg));
}

/* Reads what our side wrote and decodes it. */
static void far_read(void)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = read(F->master, buf, sizeof(buf))) > 0) {
		const uint8_t *p = buf;
		size_t left = (size_t)n;
		struct serial_frame f;

		while (serial_dec_next(&F->dec, &p, &left, &f)) {
			unsigned ch = f.channel;

			assert_int_equal(f.gap, 0);
			if (F->nframes < sizeof(F->order) / sizeof(F->order[0]))
				F->order[F->nframes] = ch;
			F->nframes++;
			if (f.control) {
				assert_true(F->far_nctl[ch] < 16);
				assert_int_equal(serial_ctl_decode(f.payload, f.len,
								   &F->far_ctl[ch][F->far_nctl[ch]++]), 0);
				continue;
			}
			if (F->far_len[ch] + f.len <= sizeof(F->far_data[ch]))
				memcpy(F->far_data[ch] + F->far_len[ch], f.payload, f.len);
			F->far_len[ch] += f.len;
		}
	}
}

/* Reads and decodes, keeping only the checks: for the stress test. */
static void far_read_loose(void)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = read(F->master, buf, sizeof(buf))) > 0) {
		const uint8_t *p = buf;
		size_t left = (size_t)n;
		struct serial_frame f;

		while (serial_dec_next(&F->dec, &p, &left, &f))
			assert_int_equal(f.gap, 0);
	}
}

/* Runs the loop for about MSEC, reading the far end as it goes. */
static void run_for(unsigned msec)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ring_run_once(&F->ring, MS);
		far_read();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= msec)
			break;
	}
}

/* Runs the loop until *FLAG is nonzero (or 2 s pass: a failure). */
#define RUN_UNTIL(cond)							\
	do {								\
		for (int i_ = 0; i_ < 2000 && !(cond); i_++) {		\
			ring_run_once(&F->ring, MS);			\
			far_read();					\
		}							\
		assert_true(cond);					\
	} while (0)

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
	int slave;

	F = calloc(1, sizeof(*F));
	if (!F || openpty(&F->master, &slave, F->slave, NULL, NULL) < 0)
		return -1;
	close(slave);
	fcntl(F->master, F_SETFL, fcntl(F->master, F_GETFL) | O_NONBLOCK);
	snprintf(F->lock_dir, sizeof(F->lock_dir), "/tmp/ringside-lock.XXXXXX");
	if (!mkdtemp(F->lock_dir))
		return -1;
	if (ring_init(&F->ring, 64, 256) < 0)
		return -1;
	F->ctx.ring = &F->ring;
	F->ctx.ev = &events;
	F->cfg.path = F->slave;
	F->cfg.baud = 115200;
	F->cfg.lock_dir = F->lock_dir;
	serial_dec_init(&F->dec);
	*state = F;
	return 0;
}

static void close_convs(void)
{
	for (size_t i = 0; i < sizeof(F->convs) / sizeof(F->convs[0]); i++) {
		struct conv *c = &F->convs[i];

		if (!c->used || c->link.kind != LINK_SERIAL || !c->link.serial)
			continue;
		if (link_busy(&c->link)) {
			link_cancel(&c->link);
			RUN_UNTIL(!link_busy(&c->link));
		}
		link_close(&c->link);
	}
}

static int teardown(void **state)
{
	close_convs();
	for (int i = 0; i < 4; i++)
		if (F->ch[i])
			comchan_close(F->ch[i]);
	/* The line closes once its polls are back. */
	for (int i = 0; i < 200 && F->lines; i++)
		ring_run_once(&F->ring, MS);
	assert_null(F->lines);
	ring_exit(&F->ring);
	if (F->master >= 0)
		close(F->master);
	rmdir(F->lock_dir);
	free(F);
	return 0;
}

static void open_chan(int i, unsigned channel, enum comchan_role role)
{
	int res = comchan_open(&F->ch[i], &F->ring, &F->lines, &F->reg, &F->cfg, channel, role,
			       &ops, NULL, F->err, sizeof(F->err));

	if (res < 0)
		fail_msg("comchan_open: %s", F->err);
}

/* Opens conversation ID on CHANNEL from the far end; returns its link. */
static struct conv *far_open(unsigned channel, uint16_t id)
{
	int before = F->opened;
	size_t nctl = F->far_nctl[channel];

	far_ctl(channel, SERIAL_CTL_OPEN, id, 0);
	RUN_UNTIL(F->opened > before && F->far_nctl[channel] > nctl);
	assert_int_equal(F->far_ctl[channel][nctl].op, SERIAL_CTL_OPEN);
	assert_int_equal(F->far_ctl[channel][nctl].id, id);
	return F->current[channel];
}

/* ---- tests -------------------------------------------------------------- */

static void test_server_conversation(void **state)
{
	struct conv *c;

	open_chan(0, 3, COMCHAN_SERVER);
	c = far_open(3, 77);
	assert_non_null(c);
	assert_int_equal(c->link.kind, LINK_SERIAL);
	far_frame(3, 0, "hello", 5);
	RUN_UNTIL(c->got_len == 5);
	assert_memory_equal(c->got, "hello", 5);
	assert_int_equal(link_send(&c->link, "world", 5), 0);
	assert_int_equal(link_send(&c->link, "again", 5), -EBUSY);
	/* Nothing is reported from inside the call. */
	assert_int_equal(c->sent, 0);
	RUN_UNTIL(c->sent == 1 && F->far_len[3] == 5);
	assert_int_equal(c->sent_res, 5);
	assert_memory_equal(F->far_data[3], "world", 5);
	/* Our side ends it: the peer is told, the link gets its end. */
	link_cancel(&c->link);
	assert_int_equal(c->ended, 0);
	RUN_UNTIL(c->ended == 1 && F->far_nctl[3] == 2);
	assert_int_equal(c->ended_res, -ECANCELED);
	assert_int_equal(F->far_ctl[3][1].op, SERIAL_CTL_CLOSE);
	assert_int_equal(F->far_ctl[3][1].id, 77);
	assert_int_equal(F->far_ctl[3][1].reason, SERIAL_CLOSE_DONE);
	assert_false(link_busy(&c->link));
	/* Data for the ended conversation: answered once, not delivered. */
	far_frame(3, 0, "late", 4);
	far_frame(3, 0, "later", 5);
	run_for(30);
	assert_int_equal(c->got_len, 5);
	assert_int_equal(F->far_nctl[3], 3);
	assert_int_equal(F->far_ctl[3][2].op, SERIAL_CTL_CLOSE);
	assert_int_equal(F->far_ctl[3][2].id, 0);
	assert_int_equal(F->far_ctl[3][2].reason, SERIAL_CLOSE_NOCONN);
}

/* A record's pieces go out in order as one send, empty pieces skipped. */
static void test_sendmsg_pieces(void **state)
{
	char big[3000];
	struct iovec iov[4] = {
		{ "head:", 5 }, { "", 0 }, { big, sizeof(big) }, { ":tail", 5 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 4 };
	struct conv *c;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	open_chan(0, 9, COMCHAN_SERVER);
	c = far_open(9, 1);
	assert_int_equal(link_sendmsg(&c->link, &m), 0);
	RUN_UNTIL(c->sent == 1 && F->far_len[9] == 3010);
	assert_int_equal(c->sent_res, 3010);
	assert_memory_equal(F->far_data[9], "head:", 5);
	assert_memory_equal(F->far_data[9] + 5, big, sizeof(big));
	assert_memory_equal(F->far_data[9] + 3005, ":tail", 5);
}

/* A lost frame ends the conversation at once, on both sides: never a
 * silent hole in the stream. */
static void test_gap_ends_conversation(void **state)
{
	struct conv *c;

	open_chan(0, 4, COMCHAN_SERVER);
	c = far_open(4, 5);
	far_frame(4, 0, "one", 3);
	F->seq[4]++;			/* a frame lost on the way */
	far_frame(4, 0, "three", 5);
	RUN_UNTIL(c->ended == 1 && F->far_nctl[4] == 2);
	assert_memory_equal(c->got, "one", 3);
	assert_int_equal(c->got_len, 3);
	assert_int_equal(c->ended_res, -EPROTO);
	assert_string_equal(link_error(&c->link), "frames were lost on the line");
	assert_int_equal(F->far_ctl[4][1].op, SERIAL_CTL_CLOSE);
	assert_int_equal(F->far_ctl[4][1].id, 5);
	assert_int_equal(F->far_ctl[4][1].reason, SERIAL_CLOSE_BROKEN);
	assert_int_equal(comline_stats(F->ch[0]->line)->breaks, 1);
	/* A repeated frame is as bad as a lost one. */
	c = far_open(4, 6);
	far_frame(4, 0, "x", 1);
	F->seq[4]--;
	far_frame(4, 0, "x", 1);
	RUN_UNTIL(c->ended == 1);
	assert_int_equal(c->got_len, 1);
}

/* The peer closing, and the peer starting over while a conversation is on. */
static void test_peer_close_and_restart(void **state)
{
	struct conv *a, *b;

	open_chan(0, 7, COMCHAN_SERVER);
	a = far_open(7, 10);
	far_ctl(7, SERIAL_CTL_CLOSE, 10, SERIAL_CLOSE_DONE);
	RUN_UNTIL(a->ended == 1);
	assert_int_equal(a->ended_res, 0);
	/* A send after the end completes with an error, later, not inside. */
	assert_int_equal(link_send(&a->link, "x", 1), 0);
	assert_int_equal(a->sent, 0);
	RUN_UNTIL(a->sent == 1);
	assert_true(a->sent_res < 0);

	a = far_open(7, 11);
	b = far_open(7, 12);
	assert_ptr_not_equal(a, b);
	RUN_UNTIL(a->ended == 1);
	assert_int_equal(a->ended_res, -ECONNRESET);
	far_frame(7, 0, "to b", 4);
	RUN_UNTIL(b->got_len == 4);
	assert_int_equal(a->got_len, 0);
	/* A stale CLOSE for the old conversation does not end the new one. */
	far_ctl(7, SERIAL_CTL_CLOSE, 11, SERIAL_CLOSE_DONE);
	run_for(20);
	assert_int_equal(b->ended, 0);
	/* The owner may refuse; the peer is told why instead of the ack. */
	F->refuse_next = 1;
	far_ctl(7, SERIAL_CTL_OPEN, 13, 0);
	RUN_UNTIL(F->far_nctl[7] == 4);
	assert_int_equal(F->far_ctl[7][3].op, SERIAL_CTL_CLOSE);
	assert_int_equal(F->far_ctl[7][3].id, 13);
	assert_int_equal(F->far_ctl[7][3].reason, SERIAL_CLOSE_FULL);
	RUN_UNTIL(b->ended == 1);
}

/* Channels nobody serves say so; two channels share one line. */
static void test_channels(void **state)
{
	struct conv *a, *b;
	char *big = malloc(20000);

	open_chan(0, 1, COMCHAN_SERVER);
	open_chan(1, 2, COMCHAN_SERVER);
	/* One line: the second channel reused it. */
	assert_ptr_equal(F->ch[0]->line, F->ch[1]->line);
	assert_int_equal(comchan_open(&F->ch[2], &F->ring, &F->lines, &F->reg, &F->cfg, 2,
				      COMCHAN_SERVER, &ops, NULL, F->err, sizeof(F->err)),
			 -EADDRINUSE);
	assert_non_null(strstr(F->err, "channel 2 is already in use"));
	far_ctl(5, SERIAL_CTL_OPEN, 99, 0);
	RUN_UNTIL(F->far_nctl[5] == 1);
	assert_int_equal(F->far_ctl[5][0].op, SERIAL_CTL_CLOSE);
	assert_int_equal(F->far_ctl[5][0].id, 99);
	assert_int_equal(F->far_ctl[5][0].reason, SERIAL_CLOSE_NOBODY);

	a = far_open(1, 1);
	b = far_open(2, 1);
	memset(big, 'B', 20000);
	F->nframes = 0;
	assert_int_equal(link_send(&a->link, big, 20000), 0);
	assert_int_equal(link_send(&b->link, "k", 1), 0);
	/* The keystroke's echo is not held behind 20 KB. */
	RUN_UNTIL(b->sent == 1);
	RUN_UNTIL(F->far_len[2] == 1);
	{
		size_t before = 0;

		for (size_t i = 0; i < F->nframes && F->order[i] != 2; i++)
			before++;
		assert_true(before <= 2);
	}
	RUN_UNTIL(a->sent == 1 && F->far_len[1] == 20000);
	free(big);
}

/* The client side: an OPEN with a fresh id, only the matching answer
 * counts, and a refusal says why. */
static void test_client_answers(void **state)
{
	struct conv *c;
	uint16_t id;

	open_chan(0, 3, COMCHAN_CLIENT);
	comchan_connect(F->ch[0]);
	RUN_UNTIL(F->far_nctl[3] == 1);
	assert_int_equal(F->far_ctl[3][0].op, SERIAL_CTL_OPEN);
	id = F->far_ctl[3][0].id;
	assert_int_not_equal(id, 0);
	/* Stale data and a stale answer are ignored. */
	far_frame(3, 0, "old", 3);
	far_ctl(3, SERIAL_CTL_OPEN, (uint16_t)(id - 1), 0);
	far_ctl(3, SERIAL_CTL_CLOSE, 0, SERIAL_CLOSE_NOCONN);
	run_for(20);
	assert_int_equal(F->answered, 0);
	far_ctl(3, SERIAL_CTL_OPEN, id, 0);
	RUN_UNTIL(F->answered == 1);
	assert_int_equal(F->answered_res, 0);
	c = F->current[3];
	far_frame(3, 0, "new", 3);
	RUN_UNTIL(c->got_len == 3);
	assert_memory_equal(c->got, "new", 3);
	assert_int_equal(link_send(&c->link, "hi", 2), 0);
	RUN_UNTIL(F->far_len[3] == 2);
	/* The server ends it. */
	far_ctl(3, SERIAL_CTL_CLOSE, id, SERIAL_CLOSE_DONE);
	RUN_UNTIL(c->ended == 1);
	assert_int_equal(c->ended_res, 0);
	/* A new attempt, refused: nobody on that channel. */
	comchan_connect(F->ch[0]);
	RUN_UNTIL(F->far_nctl[3] == 2);
	id = F->far_ctl[3][1].id;
	far_ctl(3, SERIAL_CTL_CLOSE, id, SERIAL_CLOSE_NOBODY);
	RUN_UNTIL(F->answered == 2);
	assert_int_equal(F->answered_res, -ECONNREFUSED);
	assert_int_equal(F->answered_reason, SERIAL_CLOSE_NOBODY);
}

/* The far end goes away: every conversation ends, owners are told. */
static void test_hangup(void **state)
{
	struct conv *c;

	open_chan(0, 3, COMCHAN_SERVER);
	c = far_open(3, 1);
	close(F->master);
	F->master = -1;
	RUN_UNTIL(F->failed == 1 && c->ended == 1);
	assert_int_equal(c->ended_res, -EIO);
	assert_non_null(strstr(F->failed_why, "hung up"));
	assert_int_equal(link_send(&c->link, "x", 1), 0);
	RUN_UNTIL(c->sent == 1);
	assert_int_equal(c->sent_res, -EIO);
	comchan_close(F->ch[0]);
	F->ch[0] = NULL;
}

/* A raw line: bytes as they are, both ways; a send the tty cannot take
 * whole completes with what went. */
static void test_raw_line(void **state)
{
	struct conv *c = new_conv();
	char *big = malloc(1 << 20);
	uint8_t buf[4096];
	size_t got = 0;

	open_chan(0, SERIAL_CHANNEL_RAW, COMCHAN_SERVER);
	assert_int_equal(link_init_serial(&c->link, &F->ctx, F->ch[0]), 0);
	assert_true(link_serial_raw(&c->link));
	assert_int_equal(link_recv(&c->link), 0);
	/* A terminal's Enter (CR, or CR LF, across reads too) is one LF. */
	far_write("typed\r", 6);
	while (c->got_len < 6)
		ring_run_once(&F->ring, MS);
	far_write("\nmore\rlast\n", 11);
	while (c->got_len < 16)
		ring_run_once(&F->ring, MS);
	assert_int_equal(c->got_len, 16);
	assert_memory_equal(c->got, "typed\nmore\nlast\n", 16);
	memset(big, 'r', 1 << 20);
	assert_int_equal(link_send(&c->link, big, 1 << 20), 0);
	while (!c->sent)
		ring_run_once(&F->ring, MS);
	/* A pty holds far less than a megabyte. */
	assert_true(c->sent_res > 0 && c->sent_res < (1 << 20));
	for (int i = 0; i < 100; i++) {
		ssize_t n = read(F->master, buf, sizeof(buf));

		if (n > 0) {
			for (ssize_t j = 0; j < n; j++)
				assert_int_equal(buf[j], 'r');
			got += (size_t)n;
		}
		if (got == (size_t)c->sent_res)
			break;
		ring_run_once(&F->ring, MS);
	}
	assert_int_equal(got, c->sent_res);
	/* A raw line carries nothing else. */
	assert_int_equal(comchan_open(&F->ch[1], &F->ring, &F->lines, &F->reg, &F->cfg, 2,
				      COMCHAN_SERVER, &ops, NULL, F->err, sizeof(F->err)),
			 -EBUSY);
	assert_non_null(strstr(F->err, "a raw line carries one server only"));
	free(big);
}

/* A send stuck behind a far end that does not read is given back on
 * cancel without the tty draining, and its bytes are never read after. */
static void test_cancel_while_blocked(void **state)
{
	struct conv *c;
	size_t len = 256 * 1024;
	char *buf = malloc(len);

	open_chan(0, 3, COMCHAN_SERVER);
	c = far_open(3, 1);
	memset(buf, 'z', len);
	c->free_on_sent = buf;
	c->free_len = len;
	assert_int_equal(link_send(&c->link, buf, len), 0);
	/* The far end does not read: the line fills. */
	for (int i = 0; i < 200; i++)
		ring_run_once(&F->ring, MS);
	assert_int_equal(c->sent, 0);
	link_cancel(&c->link);
	for (int i = 0; i < 100 && !c->sent; i++)
		ring_run_once(&F->ring, MS);
	assert_int_equal(c->sent, 1);
	assert_true(c->sent_res > 0 && (size_t)c->sent_res < len);
	assert_null(c->free_on_sent);
	/* Drained now: nothing read from the freed buffer (ASan would say). */
	run_for(100);
}

/* An idle line costs no completions: the pollers wait in the kernel. */
static void test_idle_line_sleeps(void **state)
{
	uint64_t before;

	open_chan(0, 3, COMCHAN_SERVER);
	run_for(20);
	before = F->ring.stats.completed;
	for (int i = 0; i < 5; i++)
		ring_run_once(&F->ring, 100 * MS);
	assert_int_equal(F->ring.stats.completed, before);
}

/* Conversations opened, fed, broken and closed at random, sends lent and
 * cancelled, each send's buffer freed the moment it is given back: under
 * ASan a single late read fails the test. */
static void test_stress(void **state)
{
	unsigned seed = 12345;
	uint16_t id = 1;
	char *lent = NULL;
	unsigned sends = 0, cancels = 0, closes = 0;

	open_chan(0, 3, COMCHAN_SERVER);
	open_chan(1, 4, COMCHAN_SERVER);
	for (int round = 0; round < 6000; round++) {
		unsigned r = (seed = seed * 1103515245u + 12345u) >> 8;
		unsigned ch = 3 + (r & 1);
		struct conv *c = F->current[ch];

		switch ((r >> 1) % 8) {
		case 0:
			far_ctl(ch, SERIAL_CTL_OPEN, id++, 0);
			break;
		case 1:
			far_frame(ch, 0, "data", 4);
			break;
		case 2:
			if (r & 64)
				F->seq[ch]++;	/* a gap */
			far_frame(ch, 0, "gap?", 4);
			break;
		case 3:
			far_ctl(ch, SERIAL_CTL_CLOSE, 0, SERIAL_CLOSE_DONE);
			break;
		case 4:
		case 5:
			if (c && !c->link.sending && c->link.serial) {
				size_t n = 1 + (r >> 4) % 40000;

				lent = malloc(n);
				memset(lent, 's', n);
				c->free_on_sent = lent;
				c->free_len = n;
				link_send(&c->link, lent, n);
				sends++;
			}
			break;
		case 6:
			if (c && c->link.sending) {
				link_cancel_send(&c->link);
				cancels++;
			}
			break;
		case 7:
			if (c && c->link.serial && c->link.receiving) {
				link_cancel(&c->link);
				F->current[ch] = NULL;
				closes++;
			}
			break;
		}
		ring_run_once(&F->ring, r & 4 ? 1 : MS / 4);
		/* The far end reads in some stretches and not in others, so
		 * that sends are caught in flight as well as done. */
		if ((round / 150) % 2 == 0 && (r & 8))
			far_read_loose();
		/* Links whose conversation is over, and idle, are closed. */
		for (size_t i = 0; i < sizeof(F->convs) / sizeof(F->convs[0]); i++) {
			struct conv *k = &F->convs[i];

			if (k->used && k->link.serial && k->ended && !link_busy(&k->link)) {
				link_close(&k->link);
				k->used = false;
				for (unsigned j = 0; j < 256; j++)
					if (F->current[j] == k)
						F->current[j] = NULL;
			}
		}
	}
	/* It did what it is for. */
	fprintf(stderr, "stress: %d conversations, %u sends (%u cut short), %u cancels, "
		"%u closes, %llu breaks\n", F->opened, sends, F->cut_short, cancels, closes,
		(unsigned long long)(comline_stats(F->ch[0]->line)->breaks));
	assert_true(F->opened > 400 && sends > 200 && F->cut_short > 50 && cancels > 10 &&
		    closes > 100);
	assert_true(comline_stats(F->ch[0]->line)->breaks > 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_conversation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendmsg_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gap_ends_conversation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_close_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_while_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_line_sleeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
