/* SPDX-License-Identifier: MIT */
/*
 * Telnet on raw connections.  `telnet host port` speaks the telnet protocol
 * (RFC 854/855) over what is otherwise a plain text connection, and its
 * option negotiation must not reach the debugger: IAC DO SGA ends in 0x03,
 * which the pty turns into an interrupt.  This is a per-connection filter
 * over the bytes a raw client sends: it takes the protocol out, refuses
 * every option the peer offers or asks for, and reports the few commands
 * the caller acts on.  Pure: no sockets, no allocation, no global state.
 */
#ifndef RINGSIDE_TELNET_H
#define RINGSIDE_TELNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Subnegotiation bytes (after IAC SB) skipped before the filter decides
 * the IAC SE is never coming and takes what follows as data again. */
#define TELNET_SB_MAX 512

/*
 * One connection's filter.  Zero-initialised is a fresh connection; the
 * fields are the filter's own.
 */
struct telnet {
	uint8_t state;
	uint8_t verb;		/* WILL/WONT/DO/DONT waiting for its option */
	bool active;		/* the peer sent a telnet command: it is a telnet */
	bool cr;		/* the last data byte was CR (kept only when active) */
	uint16_t sb_len;	/* bytes of the current subnegotiation */
	/*
	 * Options already refused, one bit each.  Refusing the same request
	 * over and over is what lets two telnets that each answer every
	 * message loop forever (RFC 1143); answering each option once makes
	 * this side unable to keep a loop going, and bounds the answers one
	 * connection can draw at 1536 bytes, for 64 bytes per client
	 * (TIMING-MARK aside: see telnet_filter()).
	 */
	uint8_t answered_do[32];	/* sent WONT x for a DO x */
	uint8_t answered_will[32];	/* sent DONT x for a WILL x */
};

/* Commands in one call's input that the caller acts on.  An event only
 * says that the command came, not where in the data it was. */
struct telnet_events {
	bool interrupt;		/* IP or BRK: the user pressed Ctrl+C */
	bool are_you_there;	/* AYT: answer with TELNET_AYT_ANSWER */
	/*
	 * EL (erase line).  Inside the output the filter has already erased
	 * back to the last LF; this flag means the line also reaches back
	 * before this call's output, so the caller drops the part of a line
	 * it assembled from earlier calls, then appends the output.
	 */
	bool erase_line;
};

/* What the caller sends back for AYT: visible, and a line of its own. */
#define TELNET_AYT_ANSWER "\r\n[ringside: yes]\r\n"

/* Reply space (REPLY_CAP - *REPLY_LEN) this large for N input bytes never
 * drops an answer: each answer is 3 bytes for a 3-byte command, and only
 * the first command can have begun in the previous call. */
#define TELNET_REPLY_MAX(n) ((n) + 2)

/*
 * Filter the N bytes at BUF in place and return how many data bytes are
 * left at its front; never more than N.
 *
 * - Until the peer sends its first command, data passes byte for byte.
 *   IAC IAC is a data byte 0xFF.
 * - DO x is answered IAC WONT x and WILL x is answered IAC DONT x, each
 *   option once per connection; DONT and WONT need no answer, since every
 *   option is off and stays off.  DO TIMING-MARK is answered every time:
 *   a telnet discards what the server prints from the moment it sends one
 *   until the answer comes (it sends one with each Ctrl+C).
 * - IAC SB ... IAC SE is skipped, for at most TELNET_SB_MAX bytes.  An IAC
 *   with anything but SE or IAC inside it ends it and counts as a command.
 * - IP, BRK, AYT and EL are reported in *EV (cleared on entry).  EC, AO,
 *   NOP, DM, GA, a stray SE and undefined commands are dropped: nothing
 *   sends EC while typing (a telnet edits the line itself in line mode and
 *   sends the erase key as a byte in character mode), and one client
 *   cannot abort the output that every client shares.
 * - Once the peer is a telnet, its NVT line ends become what the caller
 *   splits lines on: CR NUL (how character mode sends Enter) becomes
 *   CR LF, CR LF stays, and any other NUL, a no-op in NVT, is dropped.
 *
 * Answers are appended at REPLY + *REPLY_LEN as long as *REPLY_LEN stays
 * within REPLY_CAP; one that does not fit is dropped (a peer flooding DOs
 * gets fewer answers, never more memory) and its option counts as not
 * answered yet.  Every state survives a split between calls at any byte.
 */
size_t telnet_filter(struct telnet *t, uint8_t *buf, size_t n, uint8_t *reply, size_t reply_cap,
		     size_t *reply_len, struct telnet_events *ev);

#endif
