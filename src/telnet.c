/* SPDX-License-Identifier: MIT */
/*
 * The telnet filter for raw connections: a byte-at-a-time state machine
 * for the protocol, with a memchr() fast path for the plain text that is
 * nearly all a raw client ever sends.  Output is written over the input
 * (it is never longer), so no buffer is needed.
 */
#include <string.h>

#include "src/telnet.h"

/* RFC 854 commands. */
enum {
	SE = 240,
	NOP = 241,
	DM = 242,
	BRK = 243,
	IP = 244,
	AO = 245,
	AYT = 246,
	EC = 247,
	EL = 248,
	GA = 249,
	SB = 250,
	WILL = 251,
	WONT = 252,
	DO = 253,
	DONT = 254,
	IAC = 255,
};

/* RFC 860 */
#define TELOPT_TIMING_MARK 6

enum telnet_state {
	TS_DATA,	/* must be 0: a zeroed struct telnet is a fresh one */
	TS_IAC,		/* IAC seen in data */
	TS_VERB,	/* IAC WILL/WONT/DO/DONT seen, the option comes next */
	TS_SB,		/* inside IAC SB ... */
	TS_SB_IAC,	/* IAC inside a subnegotiation */
};

static bool bit_test(const uint8_t *map, uint8_t i)
{
	return map[i >> 3] & (1u << (i & 7));
}

static void bit_set(uint8_t *map, uint8_t i)
{
	map[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* Append IAC VERB OPT if it fits whole; a partial answer would be worse
 * than none, since the peer would take what follows as its end. */
static bool put_reply(uint8_t *reply, size_t cap, size_t *len, uint8_t verb, uint8_t opt)
{
	if (*len > cap || cap - *len < 3)
		return false;
	reply[(*len)++] = IAC;
	reply[(*len)++] = verb;
	reply[(*len)++] = opt;
	return true;
}

/* Emit one data byte at BUF[OUT]; returns the new output length. */
static size_t put_data(struct telnet *t, uint8_t *buf, size_t out, uint8_t c)
{
	if (t->active) {
		bool after_cr = t->cr;

		t->cr = c == '\r';
		if (c == '\0') {
			if (!after_cr)
				return out;
			c = '\n';
		}
	}
	buf[out] = c;
	return out + 1;
}

static void answer_option(struct telnet *t, uint8_t opt, uint8_t *reply, size_t cap, size_t *len)
{
	switch (t->verb) {
	case DO:
		/* Answered every time: telnet sends one with each Ctrl+C
		 * and hides what we print until the answer comes.  It
		 * cannot start a loop, as nobody answers a WONT. */
		if (opt == TELOPT_TIMING_MARK) {
			put_reply(reply, cap, len, WONT, opt);
			break;
		}
		if (!bit_test(t->answered_do, opt) && put_reply(reply, cap, len, WONT, opt))
			bit_set(t->answered_do, opt);
		break;
	case WILL:
		if (!bit_test(t->answered_will, opt) && put_reply(reply, cap, len, DONT, opt))
			bit_set(t->answered_will, opt);
		break;
	default:
		/* DONT and WONT ask for what already is. */
		break;
	}
}

/* Erase back to the start of the current line: within BUF[0..OUT) if an
 * LF is there, otherwise all of it and the caller's part too. */
static size_t erase_line(struct telnet *t, uint8_t *buf, size_t out, struct telnet_events *ev)
{
	const uint8_t *lf = out ? memrchr(buf, '\n', out) : NULL;

	t->cr = false;
	if (lf)
		return (size_t)(lf - buf) + 1;
	ev->erase_line = true;
	return 0;
}

/* The byte after IAC in data.  Returns the new output length. */
static size_t command(struct telnet *t, uint8_t c, uint8_t *buf, size_t out,
		      struct telnet_events *ev)
{
	t->state = TS_DATA;
	if (c == IAC)
		return put_data(t, buf, out, IAC);
	if (c < SE)
		return out;	/* undefined: drop it, and do not take it as telnet */
	t->active = true;
	switch (c) {
	case WILL:
	case WONT:
	case DO:
	case DONT:
		t->verb = c;
		t->state = TS_VERB;
		break;
	case SB:
		t->sb_len = 0;
		t->state = TS_SB;
		break;
	case IP:
	case BRK:
		ev->interrupt = true;
		break;
	case AYT:
		ev->are_you_there = true;
		break;
	case EL:
		out = erase_line(t, buf, out, ev);
		break;
	default:
		/* SE, NOP, DM, AO, EC, GA: see telnet.h */
		break;
	}
	return out;
}

size_t telnet_filter(struct telnet *t, uint8_t *buf, size_t n, uint8_t *reply, size_t reply_cap,
		     size_t *reply_len, struct telnet_events *ev)
{
	size_t in = 0, out = 0;

	memset(ev, 0, sizeof(*ev));
	while (in < n) {
		uint8_t c;

		if (t->state == TS_DATA) {
			const uint8_t *iac = memchr(buf + in, IAC, n - in);
			size_t run = iac ? (size_t)(iac - (buf + in)) : n - in;

			if (t->active) {
				for (size_t i = 0; i < run; i++)
					out = put_data(t, buf, out, buf[in + i]);
			} else {
				/* Only moves once something was taken out. */
				if (out != in)
					memmove(buf + out, buf + in, run);
				out += run;
			}
			in += run;
			if (iac) {
				t->state = TS_IAC;
				in++;
			}
			continue;
		}

		c = buf[in++];
		switch (t->state) {
		case TS_IAC:
			out = command(t, c, buf, out, ev);
			break;
		case TS_VERB:
			answer_option(t, c, reply, reply_cap, reply_len);
			t->state = TS_DATA;
			break;
		case TS_SB:
			if (t->sb_len >= TELNET_SB_MAX) {
				/* Lost its IAC SE, or was never telnet: stop
				 * swallowing input, take this byte as data. */
				t->state = TS_DATA;
				in--;
				break;
			}
			t->sb_len++;
			if (c == IAC)
				t->state = TS_SB_IAC;
			break;
		case TS_SB_IAC:
			t->sb_len++;
			if (c == SE) {
				t->state = TS_DATA;
			} else if (c == IAC) {
				t->state = TS_SB;
			} else {
				/* A peer that forgot IAC SE: the subnegotiation
				 * ends here and this is the command after IAC. */
				out = command(t, c, buf, out, ev);
			}
			break;
		default:
			/* Not a state this file writes: start over as data. */
			t->state = TS_DATA;
			in--;
			break;
		}
	}
	return out;
}
