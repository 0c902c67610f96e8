/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/telnet.c: plain text untouched, options refused once
 * each (TIMING-MARK every time), subnegotiations skipped and bounded, the
 * two-byte commands and their events, NVT line ends, the reply cap, any
 * split of the input giving the same result, and what Debian's telnet
 * really sends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/telnet.h"

/* Octal escapes: they never swallow a hex digit that follows. */
#define IAC "\377"
#define DONT "\376"
#define DO "\375"
#define WONT "\374"
#define WILL "\373"
#define SB "\372"
#define GA "\371"
#define EL "\370"
#define EC "\367"
#define AYT "\366"
#define AO "\365"
#define IP "\364"
#define BRK "\363"
#define DM "\362"
#define NOP "\361"
#define SE "\360"

#define O_BINARY "\000"
#define O_ECHO "\001"
#define O_SGA "\003"
#define O_STATUS "\005"
#define O_TM "\006"
#define O_TTYPE "\030"
#define O_NAWS "\037"
#define O_TSPEED "\040"
#define O_LFLOW "\041"
#define O_LINEMODE "\042"
#define O_ENCRYPT "\046"
#define O_NEW_ENVIRON "\047"

/* A string literal as bytes and length, NULs included. */
#define B(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* What a caller would have after feeding a connection's input. */
struct result {
	uint8_t text[8192];	/* data, with erase_line applied as the caller would */
	size_t text_len;
	uint8_t reply[4096];
	size_t reply_len;
	bool interrupt;
	bool are_you_there;
};

/* One call, as the caller makes it: the data goes through a copy of
 * exactly N bytes so that a write past it is a heap overflow. */
static void feed(struct telnet *t, struct result *r, const uint8_t *in, size_t n)
{
	uint8_t *buf = malloc(n ? n : 1);
	struct telnet_events ev;
	size_t len;

	assert_non_null(buf);
	memcpy(buf, in, n);
	len = telnet_filter(t, buf, n, r->reply, sizeof(r->reply), &r->reply_len, &ev);
	assert_true(len <= n);
	assert_true(r->reply_len <= sizeof(r->reply));
	if (ev.erase_line) {
		const uint8_t *lf = memrchr(r->text, '\n', r->text_len);

		r->text_len = lf ? (size_t)(lf - r->text) + 1 : 0;
	}
	assert_true(r->text_len + len <= sizeof(r->text));
	memcpy(r->text + r->text_len, buf, len);
	r->text_len += len;
	r->interrupt |= ev.interrupt;
	r->are_you_there |= ev.are_you_there;
	free(buf);
}

static void run_whole(struct result *r, const uint8_t *in, size_t n)
{
	struct telnet t = { 0 };

	memset(r, 0, sizeof(*r));
	feed(&t, r, in, n);
}

static void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
	if (got_len != want_len || memcmp(got, want, want_len) != 0) {
		print_error("got %zu bytes:", got_len);
		for (size_t i = 0; i < got_len; i++)
			print_error(" %02x", got[i]);
		print_error("\nwant %zu bytes:", want_len);
		for (size_t i = 0; i < want_len; i++)
			print_error(" %02x", want[i]);
		print_error("\n");
		fail();
	}
}

#define assert_text(r, lit) assert_bytes((r)->text, (r)->text_len, B(lit))
#define assert_reply(r, lit) assert_bytes((r)->reply, (r)->reply_len, B(lit))

static void test_plain_text_passes_unchanged(void **state)
{
	uint8_t all[255], buf[255];
	struct telnet t = { 0 };
	struct telnet_events ev;
	uint8_t reply[16];
	size_t reply_len = 0;

	/* Every byte but IAC, NUL and CR NUL included: until the peer turns
	 * out to be a telnet, nothing is interpreted. */
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	memcpy(buf, all, sizeof(buf));
	assert_int_equal(telnet_filter(&t, buf, sizeof(buf), reply, sizeof(reply), &reply_len, &ev),
			 sizeof(buf));
	assert_memory_equal(buf, all, sizeof(all));
	assert_int_equal(reply_len, 0);
	assert_false(ev.interrupt || ev.are_you_there || ev.erase_line);
	assert_false(t.active);

	memcpy(buf, "print 1\r\0\r\n", 11);
	assert_int_equal(telnet_filter(&t, buf, 11, reply, sizeof(reply), &reply_len, &ev), 11);
	assert_memory_equal(buf, "print 1\r\0\r\n", 11);

	assert_int_equal(telnet_filter(&t, buf, 0, reply, sizeof(reply), &reply_len, &ev), 0);
}

static void test_iac_iac_is_one_data_byte(void **state)
{
	struct result r;

	run_whole(&r, B("a" IAC IAC "b" IAC IAC IAC IAC "\n"));
	assert_text(&r, "a\377b\377\377\n");
	assert_int_equal(r.reply_len, 0);
}

static void test_options_refused(void **state)
{
	struct telnet t = { 0 };
	struct result r;

	memset(&r, 0, sizeof(r));
	feed(&t, &r, B("x" IAC DO O_ECHO "y" IAC WILL O_NAWS "z"));
	assert_text(&r, "xyz");
	assert_reply(&r, IAC WONT O_ECHO IAC DONT O_NAWS);
	assert_true(t.active);

	/* Refusals and withdrawals ask for what already is: no answer. */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B(IAC DONT O_SGA IAC WONT O_TTYPE "ok\r\n"));
	assert_text(&r, "ok\r\n");
	assert_int_equal(r.reply_len, 0);
}

static void test_each_option_answered_once(void **state)
{
	static uint8_t in[256 * 12];
	struct telnet t = { 0 };
	struct result r;
	size_t n = 0;

	/* Every option asked for and offered twice. */
	for (int round = 0; round < 2; round++) {
		for (int opt = 0; opt < 256; opt++) {
			in[n++] = 255, in[n++] = 253, in[n++] = (uint8_t)opt;
			in[n++] = 255, in[n++] = 251, in[n++] = (uint8_t)opt;
		}
	}
	memset(&r, 0, sizeof(r));
	feed(&t, &r, in, n);
	assert_int_equal(r.text_len, 0);
	/* One WONT and one DONT per option, plus the second WONT TM. */
	assert_int_equal(r.reply_len, (256 * 2 + 1) * 3);
	for (int opt = 0; opt < 256; opt++) {
		const uint8_t *a = r.reply + opt * 6;

		assert_int_equal(a[0], 255);
		assert_int_equal(a[1], 252);
		assert_int_equal(a[2], opt);
		assert_int_equal(a[3], 255);
		assert_int_equal(a[4], 254);
		assert_int_equal(a[5], opt);
	}
	assert_memory_equal(r.reply + 256 * 6, IAC WONT O_TM, 3);

	/* Later calls do not answer them again either. */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B(IAC DO O_SGA IAC WILL O_SGA IAC DO O_ECHO));
	assert_int_equal(r.reply_len, 0);
}

static void test_timing_mark_answered_every_time(void **state)
{
	struct telnet t = { 0 };
	struct result r;

	/* What telnet sends for each Ctrl+C; it discards the server's output
	 * until the answer to its DO TM comes. */
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 3; i++)
		feed(&t, &r, B(IAC IP IAC DO O_TM));
	assert_int_equal(r.text_len, 0);
	assert_true(r.interrupt);
	assert_reply(&r, IAC WONT O_TM IAC WONT O_TM IAC WONT O_TM);

	/* Offered, it is refused once like any other. */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B(IAC WILL O_TM IAC WILL O_TM));
	assert_reply(&r, IAC DONT O_TM);
}

static void test_subnegotiation_skipped(void **state)
{
	struct result r;

	/* NAWS 255 x 24: the 255 doubled inside SB. */
	run_whole(&r, B("a" IAC SB O_NAWS "\0" IAC IAC "\0\030" IAC SE "b\n"));
	assert_text(&r, "ab\n");
	assert_int_equal(r.reply_len, 0);

	/* Text-looking contents, CR LF included, are not data. */
	run_whole(&r, B(IAC SB O_TTYPE "\0XTERM\r\n" IAC SE "c"));
	assert_text(&r, "c");

	/* An empty one. */
	run_whole(&r, B(IAC SB IAC SE "d"));
	assert_text(&r, "d");
}

static void test_subnegotiation_ended_by_a_command(void **state)
{
	struct result r;

	/* A peer that forgot IAC SE: the next command ends the SB and still
	 * counts. */
	run_whole(&r, B(IAC SB O_NAWS "\0\120\0\030" IAC DO O_ECHO "ok"));
	assert_text(&r, "ok");
	assert_reply(&r, IAC WONT O_ECHO);

	run_whole(&r, B(IAC SB O_TTYPE "x" IAC IP "y"));
	assert_text(&r, "y");
	assert_true(r.interrupt);

	run_whole(&r, B(IAC SB O_TTYPE "x" IAC SB O_NAWS "z" IAC SE "w"));
	assert_text(&r, "w");
}

static void check_unterminated(size_t sb_bytes, const uint8_t *tail, size_t tail_len,
			       const uint8_t *want, size_t want_len)
{
	static uint8_t in[2048];
	struct result r;
	size_t n = 0;

	in[n++] = 255;
	in[n++] = 250;
	memset(in + n, 'x', sb_bytes);
	n += sb_bytes;
	memcpy(in + n, tail, tail_len);
	n += tail_len;
	run_whole(&r, in, n);
	assert_bytes(r.text, r.text_len, want, want_len);
}

static void test_subnegotiation_bound(void **state)
{
	static uint8_t want[128];

	/* Terminated just inside the bound. */
	check_unterminated(TELNET_SB_MAX - 1, B(IAC SE "ok"), B("ok"));
	/* TELNET_SB_MAX bytes are skipped and what follows is data again... */
	check_unterminated(TELNET_SB_MAX, B("ok"), B("ok"));
	/* ...including an IAC SE that came just too late, which is dropped. */
	check_unterminated(TELNET_SB_MAX, B(IAC SE "ok"), B("ok"));
	/* Past the bound, the rest of a long one is data. */
	memset(want, 'x', 88);
	memcpy(want + 88, "ok", 2);
	check_unterminated(TELNET_SB_MAX + 88, B(IAC SE "ok"), want, 90);

	/* Doubled IACs count as two bytes each. */
	{
		static uint8_t in[2 + TELNET_SB_MAX + 8];
		struct result r;
		size_t n = 0;

		in[n++] = 255;
		in[n++] = 250;
		for (int i = 0; i < TELNET_SB_MAX / 2; i++)
			in[n++] = 255, in[n++] = 255;
		memcpy(in + n, "ok", 2);
		n += 2;
		run_whole(&r, in, n);
		assert_text(&r, "ok");
	}
}

static void test_two_byte_commands(void **state)
{
	struct telnet t = { 0 };
	struct result r;

	run_whole(&r, B("a" IAC NOP "b" IAC DM "c" IAC AO "d" IAC EC "e" IAC GA "f" IAC SE "g"));
	assert_text(&r, "abcdefg");
	assert_false(r.interrupt || r.are_you_there);
	assert_int_equal(r.reply_len, 0);

	run_whole(&r, B("a" IAC IP "b"));
	assert_text(&r, "ab");
	assert_true(r.interrupt);
	assert_false(r.are_you_there);

	run_whole(&r, B(IAC BRK));
	assert_true(r.interrupt);

	run_whole(&r, B(IAC AYT));
	assert_int_equal(r.text_len, 0);
	assert_true(r.are_you_there);
	assert_false(r.interrupt);

	/* Not a command: both bytes go, and the peer is not taken for a
	 * telnet (its CR NUL stays as it is). */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B("a" IAC "Ab\r\0"));
	assert_text(&r, "ab\r\0");
	assert_false(t.active);
}

static void test_events_cleared_each_call(void **state)
{
	struct telnet t = { 0 };
	struct telnet_events ev;
	uint8_t buf[8];
	uint8_t reply[8];
	size_t reply_len = 0;

	memcpy(buf, IAC IP IAC AYT IAC EL, 6);
	assert_int_equal(telnet_filter(&t, buf, 6, reply, sizeof(reply), &reply_len, &ev), 0);
	assert_true(ev.interrupt && ev.are_you_there && ev.erase_line);
	memcpy(buf, "x", 1);
	assert_int_equal(telnet_filter(&t, buf, 1, reply, sizeof(reply), &reply_len, &ev), 1);
	assert_false(ev.interrupt || ev.are_you_there || ev.erase_line);
}

static void test_erase_line(void **state)
{
	struct telnet t = { 0 };
	struct telnet_events ev;
	uint8_t buf[64];
	uint8_t reply[8];
	size_t reply_len = 0, n;

	/* No LF before it in this call: everything before goes, and the
	 * caller is told to drop what it had too. */
	n = sizeof("abc" IAC EL "def") - 1;
	memcpy(buf, "abc" IAC EL "def", n);
	n = telnet_filter(&t, buf, n, reply, sizeof(reply), &reply_len, &ev);
	assert_bytes(buf, n, B("def"));
	assert_true(ev.erase_line);

	/* An LF before it: only the line after it goes. */
	n = sizeof("one\r\ntwo" IAC EL "x\r\n") - 1;
	memcpy(buf, "one\r\ntwo" IAC EL "x\r\n", n);
	n = telnet_filter(&t, buf, n, reply, sizeof(reply), &reply_len, &ev);
	assert_bytes(buf, n, B("one\r\nx\r\n"));
	assert_false(ev.erase_line);

	/* A pending CR goes with the line: the NUL after it is dropped. */
	n = sizeof("ab\r" IAC EL "\0c") - 1;
	memcpy(buf, "ab\r" IAC EL "\0c", n);
	n = telnet_filter(&t, buf, n, reply, sizeof(reply), &reply_len, &ev);
	assert_bytes(buf, n, B("c"));
	assert_true(ev.erase_line);
}

static void test_nvt_line_ends(void **state)
{
	struct telnet t = { 0 };
	struct result r;

	memset(&r, 0, sizeof(r));
	feed(&t, &r, B(IAC NOP));
	assert_true(t.active);
	/* Character mode's Enter, line mode's Enter, NUL as padding, a CR
	 * before something else, and CR NUL with a command in between. */
	feed(&t, &r, B("bt\r\0" "info\r\n" "\0x\0y\r" "z" "\r\r\0" "q\r" IAC NOP "\0"));
	assert_text(&r, "bt\r\n" "info\r\n" "xy\r" "z" "\r\r\n" "q\r\n");

	/* The CR NUL pair split between calls. */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B("c\r"));
	feed(&t, &r, B("\0"));
	assert_text(&r, "c\r\n");

	/* A doubled IAC between CR and NUL is data, so the NUL is a lone one. */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B("\r" IAC IAC "\0"));
	assert_text(&r, "\r\377");
}

static void test_reply_cap(void **state)
{
	struct telnet t = { 0 };
	struct telnet_events ev;
	uint8_t buf[64], reply[16];
	size_t reply_len, n;
	const uint8_t in[] = IAC DO "\1" IAC DO "\2" IAC DO "\3" IAC WILL "\4" "ok";

	/* Two answers fit in 7 bytes; the rest are dropped whole. */
	memset(reply, 0xaa, sizeof(reply));
	reply_len = 0;
	memcpy(buf, in, sizeof(in) - 1);
	n = telnet_filter(&t, buf, sizeof(in) - 1, reply, 7, &reply_len, &ev);
	assert_bytes(buf, n, B("ok"));
	assert_bytes(reply, reply_len, B(IAC WONT "\1" IAC WONT "\2"));
	assert_int_equal(reply[6], 0xaa);

	/* The dropped ones were not taken as answered. */
	reply_len = 0;
	memcpy(buf, in, sizeof(in) - 1);
	n = telnet_filter(&t, buf, sizeof(in) - 1, reply, sizeof(reply), &reply_len, &ev);
	assert_bytes(reply, reply_len, B(IAC WONT "\3" IAC DONT "\4"));

	/* Answers are appended after what REPLY already holds, and a full
	 * (or overfull) buffer takes none. */
	reply_len = 14;
	memcpy(buf, IAC DO "\11", 3);
	telnet_filter(&t, buf, 3, reply, sizeof(reply), &reply_len, &ev);
	assert_int_equal(reply_len, 14);
	reply_len = 20;
	telnet_filter(&t, buf, 3, reply, sizeof(reply), &reply_len, &ev);
	assert_int_equal(reply_len, 20);
	reply_len = 13;
	telnet_filter(&t, buf, 3, reply, sizeof(reply), &reply_len, &ev);
	assert_int_equal(reply_len, 16);
	assert_memory_equal(reply + 13, IAC WONT "\11", 3);

	/* No room at all. */
	reply_len = 0;
	memcpy(buf, IAC WILL "\12", 3);
	assert_int_equal(telnet_filter(&t, buf, 3, NULL, 0, &reply_len, &ev), 0);
	assert_int_equal(reply_len, 0);
}

static void test_reply_max_is_enough(void **state)
{
	static uint8_t in[2 + 3 * 100];
	static uint8_t reply[TELNET_REPLY_MAX(sizeof(in))];
	struct telnet t = { 0 };
	struct telnet_events ev;
	size_t reply_len = 0, n = 0;

	/* The worst case: a DO begun in the previous call, then nothing but
	 * DOs, for options not answered yet. */
	in[n++] = 255;
	in[n++] = 253;
	assert_int_equal(telnet_filter(&t, in, n, reply, sizeof(reply), &reply_len, &ev), 0);
	assert_int_equal(reply_len, 0);
	n = 0;
	in[n++] = 1;
	for (int i = 0; i < 100 && n + 3 <= sizeof(in) - 2; i++)
		in[n++] = 255, in[n++] = 253, in[n++] = (uint8_t)(2 + i);
	telnet_filter(&t, in, n, reply, TELNET_REPLY_MAX(n), &reply_len, &ev);
	assert_int_equal(reply_len, 3 * (1 + (n - 1) / 3));
	assert_true(reply_len <= TELNET_REPLY_MAX(n));
}

/*
 * Inputs with every state in them; each is fed whole, in two pieces split
 * at every point, in three pieces split at every pair of points, and a
 * byte at a time, and must come out the same.
 */
static void check_split_anywhere(const uint8_t *in, size_t n)
{
	struct result whole, split;
	struct telnet t;

	run_whole(&whole, in, n);

	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			memset(&t, 0, sizeof(t));
			memset(&split, 0, sizeof(split));
			feed(&t, &split, in, a);
			feed(&t, &split, in + a, b - a);
			feed(&t, &split, in + b, n - b);
			assert_bytes(split.text, split.text_len, whole.text, whole.text_len);
			assert_bytes(split.reply, split.reply_len, whole.reply, whole.reply_len);
			assert_int_equal(split.interrupt, whole.interrupt);
			assert_int_equal(split.are_you_there, whole.are_you_there);
		}
	}

	memset(&t, 0, sizeof(t));
	memset(&split, 0, sizeof(split));
	for (size_t i = 0; i < n; i++)
		feed(&t, &split, in + i, 1);
	assert_bytes(split.text, split.text_len, whole.text, whole.text_len);
	assert_bytes(split.reply, split.reply_len, whole.reply, whole.reply_len);
	assert_int_equal(split.interrupt, whole.interrupt);
	assert_int_equal(split.are_you_there, whole.are_you_there);
}

static void test_split_anywhere(void **state)
{
	check_split_anywhere(B("pl\r\0ain" IAC IAC "x" IAC DO O_SGA "a\r" IAC NOP "\0b"
			       IAC SB O_NAWS "\0\120" IAC IAC "\030" IAC SE "c\r\n"
			       IAC WILL O_NAWS IAC DO O_SGA IAC DO O_TM IAC DO O_TM
			       "line one\n" "two" IAC EL "three" IAC EC "\r\0"
			       IAC AYT "\0" IAC IP "d" IAC "A" "e\r"));
	check_split_anywhere(B("before" IAC EL "\n" "ab" IAC EL "c" IAC EL "d\r\n"
			       IAC SB O_TTYPE "x" IAC DONT O_ECHO "y" IAC BRK));
	/* The same before the peer is a telnet: only the IAC IAC is touched
	 * until the DO, and CR NUL is translated only after it. */
	check_split_anywhere(B("a\r\0b" IAC IAC "c\r\0" IAC DO O_ECHO "d\r\0e"));
}

/*
 * What Debian bookworm's `telnet` (inetutils 2.4) sends, recorded from a
 * server that answered as this filter does.
 */
static void test_telnet_client_captures(void **state)
{
	struct telnet t = { 0 };
	struct result r;

	/* `telnet host port`, then "^] mode character": it asks for SGA and
	 * ECHO.  Refused, it stays in line mode: "ab" Enter comes as CR LF,
	 * Ctrl+C as IP plus a TIMING-MARK, and so on. */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B(IAC DO O_SGA IAC DO O_ECHO));
	assert_reply(&r, IAC WONT O_SGA IAC WONT O_ECHO);
	feed(&t, &r, B("ab\r\n"));
	feed(&t, &r, B(IAC IP IAC DO O_TM));
	feed(&t, &r, B("cd\r\n"));
	feed(&t, &r, B(IAC IP IAC DO O_TM));
	assert_text(&r, "ab\r\ncd\r\n");
	assert_true(r.interrupt);
	assert_reply(&r, IAC WONT O_SGA IAC WONT O_ECHO IAC WONT O_TM IAC WONT O_TM);

	/* "mode character" a second time asks again, gets no answer, and
	 * telnet goes to character mode: a packet per key, Enter as CR NUL,
	 * Ctrl+C as a plain 0x03 (the caller's to judge). */
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B(IAC DO O_SGA IAC DO O_ECHO));
	feed(&t, &r, B("a"));
	feed(&t, &r, B("b"));
	feed(&t, &r, B("\r\0"));
	feed(&t, &r, B("\003"));
	feed(&t, &r, B("cd\r\0"));
	assert_text(&r, "ab\r\n\003cd\r\n");
	assert_int_equal(r.reply_len, 0);

	/* "telnet -- host -port" negotiates from the start, as on port 23. */
	memset(&t, 0, sizeof(t));
	memset(&r, 0, sizeof(r));
	feed(&t, &r, B(IAC DO O_ENCRYPT IAC WILL O_ENCRYPT IAC DO O_SGA IAC WILL O_TTYPE
		       IAC WILL O_NAWS IAC WILL O_TSPEED IAC WILL O_LFLOW IAC WILL O_LINEMODE
		       IAC WILL O_NEW_ENVIRON IAC DO O_STATUS));
	feed(&t, &r, B("ab\r\n"));
	assert_text(&r, "ab\r\n");
	assert_reply(&r, IAC WONT O_ENCRYPT IAC DONT O_ENCRYPT IAC WONT O_SGA IAC DONT O_TTYPE
			 IAC DONT O_NAWS IAC DONT O_TSPEED IAC DONT O_LFLOW IAC DONT O_LINEMODE
			 IAC DONT O_NEW_ENVIRON IAC WONT O_STATUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_passes_unchanged),
		cmocka_unit_test(test_iac_iac_is_one_data_byte),
		cmocka_unit_test(test_options_refused),
		cmocka_unit_test(test_each_option_answered_once),
		cmocka_unit_test(test_timing_mark_answered_every_time),
		cmocka_unit_test(test_subnegotiation_skipped),
		cmocka_unit_test(test_subnegotiation_ended_by_a_command),
		cmocka_unit_test(test_subnegotiation_bound),
		cmocka_unit_test(test_two_byte_commands),
		cmocka_unit_test(test_events_cleared_each_call),
		cmocka_unit_test(test_erase_line),
		cmocka_unit_test(test_nvt_line_ends),
		cmocka_unit_test(test_reply_cap),
		cmocka_unit_test(test_reply_max_is_enough),
		cmocka_unit_test(test_split_anywhere),
		cmocka_unit_test(test_telnet_client_captures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
