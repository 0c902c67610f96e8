/* SPDX-License-Identifier: MIT */
/*
 * What the files of serial/ share and nobody else uses: the backends, the
 * lock file, the tty set-up both backends finish with, and error text.
 */
#ifndef RINGSIDE_SERIAL_INTERNAL_H
#define RINGSIDE_SERIAL_INTERNAL_H

#include <stdarg.h>
#include <termios.h>

#include "serial/line.h"

/* The termios speed for a standard BAUD, or 0 (B0) when there is none. */
speed_t serial_baud_speed(unsigned baud);

/* Formats into ERR (ERRLEN bytes, ERR may be NULL); returns RES. */
int serial_fail(int res, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* What a user reads for open(2)-like failure ERRNUM of line L (name and
 * path set, rdev when known): who holds a busy device, which group a
 * device belongs to.  Returns -ERRNUM. */
int serial_open_error(const struct serial_line *l, int errnum, char *err, size_t errlen);

/* Backends, called with l->guard open and flocked.  serial_sp_open opens
 * its own fd and cleans up on failure; it returns SERIAL_SP_NOT_MINE (> 0)
 * when libserialport cannot drive the device.  serial_termios_open makes
 * the guard the line's fd; on failure the caller closes it. */
#define SERIAL_SP_NOT_MINE 1
int serial_sp_open(struct serial_line *l, const struct serial_config *cfg, char *err, size_t errlen);
void serial_sp_close(struct serial_line *l);
int serial_termios_open(struct serial_line *l, const struct serial_config *cfg, char *err,
			size_t errlen);

/* After either backend configured the line: close-on-exec, non-blocking,
 * VMIN=1/VTIME=0 and TIOCEXCL.  0 or -errno with a message. */
int serial_tty_finish(struct serial_line *l, char *err, size_t errlen);

/*
 * The UUCP lock file for device PATH in DIR (NULL: the standard one).
 * On success LOCK_PATH holds the file created, or "" when no lock directory
 * is writable (then nothing is locked, as other tools do).  -EBUSY when a
 * live process holds it (named in ERR).
 */
int serial_lock_take(const char *dir, const struct serial_line *l, char *lock_path, size_t len,
		     char *err, size_t errlen);
/* Removes LOCK_PATH if it is still ours. */
void serial_lock_drop(const char *lock_path);

/* "picocom (pid 4242)" for another process that has device RDEV open, or
 * for this one when only it has; -ENOENT when none is found. */
int serial_holder(dev_t rdev, char *who, size_t len);

#endif
