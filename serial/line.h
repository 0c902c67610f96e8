/* SPDX-License-Identifier: MIT */
/*
 * Serial lines: naming, opening, configuring and sharing the device a
 * com: server or client runs over.  No io_uring here: a line gives the loop
 * a non-blocking fd to poll and byte-level read/write calls that never
 * block, and carries the framing state (serial/frame.h, serial/out.h) of
 * the channels that share it.
 *
 * Two backends open a line:
 *  - libserialport, for real devices (16550 UARTs, USB serial adapters):
 *    it knows their quirks, sets baud, 8N1 and flow control;
 *  - termios, for pseudo-terminals and ttys without modem lines, which
 *    libserialport cannot open (it needs /sys/class/tty/NAME and TIOCMGET).
 * SERIAL_BACKEND_AUTO tries libserialport and falls back to termios only
 * when libserialport says the device is not one it handles; a line
 * records which backend opened it, for .servers and logs.
 *
 * Exclusive use, as other serial tools do it: a UUCP lock file
 * (LCK..NAME in /var/lock or /run/lock, HDB format, stale ones removed;
 * minicom's way), flock(LOCK_EX) (picocom's and pyserial's) and TIOCEXCL.
 * The flock and another's TIOCEXCL are checked on a fd of our own before
 * any backend changes a setting, so a busy device is left as it was.  A
 * busy device is an error that names the holder when it can be found.
 *
 * A line, once open, is 8N1, raw, O_NONBLOCK|O_CLOEXEC, with VMIN=1 and
 * VTIME=0: read(2) then returns -EAGAIN when nothing is waiting and 0 only
 * on hang-up, where VMIN=0 (libserialport's choice) would return 0 for both.
 *
 * Every function taking ERR writes there, on failure, one line a user can
 * act on (ERR may be NULL).  Errors are 0 or -errno.  Not thread-safe.
 */
#ifndef RINGSIDE_SERIAL_LINE_H
#define RINGSIDE_SERIAL_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <termios.h>

#include "serial/frame.h"
#include "serial/out.h"

#define SERIAL_PATH_MAX		256
/* COMn: n in 1..SERIAL_COM_MAX, as Windows numbers its ports. */
#define SERIAL_COM_MAX		256
/* A channel number that asks for the whole line, unframed. */
#define SERIAL_CHANNEL_RAW	256u
/* No channel: a user that only keeps the line open (serial_registry_retain). */
#define SERIAL_CHANNEL_NONE	257u

enum serial_backend {
	SERIAL_BACKEND_AUTO,
	SERIAL_BACKEND_LIBSERIALPORT,
	SERIAL_BACKEND_TERMIOS,
};

enum serial_flow {
	SERIAL_FLOW_NONE,
	SERIAL_FLOW_RTSCTS,
	/* XON/XOFF: the tty eats 0x11 and 0x13, so only for raw lines. */
	SERIAL_FLOW_XONXOFF,
};

/*
 * PORT as WinDbg takes it: "COMn" (any case) or "n" means /dev/ttyS(n-1);
 * a path starting with '/' is taken as is.  Writes the device path to PATH
 * (LEN bytes).  -EINVAL for anything else (the message suggests /dev/PORT
 * when that exists), -ENAMETOOLONG for a path that does not fit.
 */
int serial_port_path(const char *port, char *path, size_t len, char *err, size_t errlen);

/* 0 when BAUD is one of the standard rates (50 ... 4000000); else -EINVAL
 * and a message listing them. */
int serial_baud_check(unsigned baud, char *err, size_t errlen);

/* "none", "rtscts" or "xonxoff" (any case). */
int serial_flow_parse(const char *text, enum serial_flow *flow, char *err, size_t errlen);
const char *serial_flow_name(enum serial_flow flow);
/* "libserialport", "termios" ("auto" for SERIAL_BACKEND_AUTO). */
const char *serial_backend_name(enum serial_backend backend);

struct serial_config {
	const char *path;	/* the device (see serial_port_path) */
	const char *name;	/* as the user typed it, for messages; NULL: PATH */
	unsigned baud;
	enum serial_flow flow;
	enum serial_backend backend;
	/* Where UUCP lock files go; NULL: /var/lock, else /run/lock. */
	const char *lock_dir;
};

struct sp_port;

struct serial_line {
	char path[SERIAL_PATH_MAX];
	char name[2 * SERIAL_PATH_MAX + 4];	/* "COM1 (/dev/ttyS0)" or the path */
	int fd;
	int guard;			/* our own fd holding the flock, or -1 */
	enum serial_backend backend;	/* the one that opened it */
	unsigned baud;
	enum serial_flow flow;
	struct sp_port *sp;		/* libserialport's handle; it owns fd */
	dev_t rdev;			/* identifies the device across names */
	char lock_path[SERIAL_PATH_MAX + 16]; /* our lock file, "" if none */
	bool exclusive;			/* we set TIOCEXCL (and clear it at close) */
	bool restore;			/* termios: put SAVED back at close */
	struct termios saved;

	/* Users, managed by a serial_registry. */
	struct serial_line *next;
	unsigned users;
	bool raw;			/* one unframed user */
	uint64_t channels[4];		/* framed channels in use */

	/* Framing of a shared line: what came in, what goes out. */
	struct serial_dec dec;
	struct serial_out out;
};

/*
 * Opens and configures CFG->path: validates the baud, takes the lock file
 * and the flock, opens with the chosen backend, sets the line up, reads the
 * settings back and takes TIOCEXCL.  *LINE is allocated.  Errors:
 * -ENOENT (no such device), -EACCES (permission; the message names the
 * device's group), -EBUSY (the message names the holder when known),
 * -ENOTTY (not a terminal), -EIO/-ENXIO/-ENODEV (no hardware answers),
 * -EINVAL (baud or flow control the device refused), or another -errno.
 */
int serial_line_open(const struct serial_config *cfg, struct serial_line **line, char *err,
		     size_t errlen);

/*
 * Closes the line and frees it: unsent output in the tty is discarded
 * first (a serial close otherwise waits up to 30 s for it to drain, longer
 * with flow control stuck), saved termios settings are put back, the lock
 * file is removed.  Nothing may be in flight on its fd.
 */
void serial_line_close(struct serial_line *l);

/* Reads what is waiting: > 0 bytes, -EAGAIN when nothing is, -EIO when the
 * line hung up (device unplugged, pty peer gone), or another -errno; 0
 * only when N is 0. */
ssize_t serial_line_read(struct serial_line *l, void *buf, size_t n);

/* Writes what the tty takes now: >= 0 bytes (0 when it is full), or -errno
 * (-EIO when the line hung up). */
ssize_t serial_line_write(struct serial_line *l, const void *p, size_t n);

/* The message for RES, a failure of read, write or poll on the line. */
void serial_line_io_error(const struct serial_line *l, int res, char *err, size_t errlen);

/* "/dev/ttyUSB0 115200 8N1 flow=none (libserialport)", for logs. */
int serial_line_describe(const struct serial_line *l, char *buf, size_t len);

static inline int serial_line_fd(const struct serial_line *l)
{
	return l->fd;
}

/* ---- sharing: one line per device per process ----------------------- */

struct serial_registry {
	struct serial_line *lines;
};

/*
 * CHANNEL (0..254, or SERIAL_CHANNEL_RAW for the whole line unframed) of
 * the device CFG names, opening the line if this is its first user.  The
 * same device under another name (COM1 and /dev/ttyS0, a symlink) is the
 * same line.  Errors, besides serial_line_open's: -EINVAL for a channel
 * out of range, a baud or flow control other than the open line's, or
 * xonxoff on a framed channel; -EADDRINUSE for a channel already in use
 * (the message names it); -EBUSY for raw and framed users of one line.
 */
int serial_registry_acquire(struct serial_registry *r, const struct serial_config *cfg,
			    unsigned channel, struct serial_line **line, char *err, size_t errlen);

/* Gives CHANNEL of L back (SERIAL_CHANNEL_NONE for a retain).  The last
 * user's release closes the line, so its I/O must have stopped first
 * (serial_line_users() == 1). */
void serial_registry_release(struct serial_registry *r, struct serial_line *l, unsigned channel);

/* One more user of L with no channel: whatever drives the line's fd keeps
 * it open while its I/O is in flight, after its channels are given back. */
static inline void serial_registry_retain(struct serial_line *l)
{
	l->users++;
}

static inline unsigned serial_line_users(const struct serial_line *l)
{
	return l->users;
}

/* ---- listing: ringside -serial-list --------------------------------- */

enum serial_transport {
	SERIAL_TRANSPORT_NATIVE,
	SERIAL_TRANSPORT_USB,
	SERIAL_TRANSPORT_BLUETOOTH,
};

struct serial_port_info {
	char name[SERIAL_PATH_MAX];	/* /dev/ttyUSB0 */
	char alias[8];			/* "COM1" for /dev/ttyS0, else "" */
	char description[128];
	enum serial_transport transport;
	int vid, pid;			/* USB only, else -1 */
	char manufacturer[64], product[64], serial[64]; /* USB, may be "" */
	char bluetooth[32];		/* Bluetooth address, may be "" */
};

/* The ports libserialport finds, sorted by name; *PORTS is allocated (free
 * it), NULL when there are none. */
int serial_list(struct serial_port_info **ports, size_t *n, char *err, size_t errlen);

/* Writes the listing of PORTS as `ringside -serial-list` prints it. */
int serial_list_print(FILE *f, const struct serial_port_info *ports, size_t n);

#endif
