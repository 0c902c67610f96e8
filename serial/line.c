/* SPDX-License-Identifier: MIT */
/*
 * Opening, finishing, using and closing one serial line, whichever backend
 * opened it, and the messages for what goes wrong on the way.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serial/serial_internal.h"

/* The group of L's device and its name, for a permission message. */
static bool device_group(const struct serial_line *l, char *out, size_t len)
{
	struct group gr, *res = NULL;
	char buf[1024];
	struct stat st;

	if (stat(l->path, &st) < 0 || getgrgid_r(st.st_gid, &gr, buf, sizeof(buf), &res) != 0 ||
	    !res)
		return false;
	snprintf(out, len, "%s", gr.gr_name);
	return true;
}

int serial_open_error(const struct serial_line *l, int errnum, char *err, size_t errlen)
{
	char who[96], group[64];

	switch (errnum) {
	case ENOENT:
		return serial_fail(-ENOENT, err, errlen,
				   "%s: no such device (ringside -serial-list shows the ports found)",
				   l->name);
	case EACCES:
	case EPERM:
		if (device_group(l, group, sizeof(group)) && strcmp(group, "root") != 0)
			return serial_fail(-EACCES, err, errlen,
					   "%s: permission denied; the device belongs to group %s: "
					   "add yourself to it (usermod -aG %s USER) and log in again",
					   l->name, group, group);
		return serial_fail(-EACCES, err, errlen, "%s: permission denied", l->name);
	case EBUSY:
	case EWOULDBLOCK:
		if (l->rdev && serial_holder(l->rdev, who, sizeof(who)) == 0)
			return serial_fail(-EBUSY, err, errlen, "%s is busy: in use by %s", l->name,
					   who);
		return serial_fail(-EBUSY, err, errlen,
				   "%s is busy: another program has exclusive use of it", l->name);
	case ENOTTY:
		return serial_fail(-ENOTTY, err, errlen, "%s is not a serial port or terminal",
				   l->name);
	case EIO:
	case ENXIO:
	case ENODEV:
		return serial_fail(-errnum, err, errlen,
				   "%s: no serial hardware answers (no UART behind the port, or the "
				   "device was unplugged): %s",
				   l->name, strerror(errnum));
	default:
		return serial_fail(-errnum, err, errlen, "%s: cannot open: %s", l->name,
				   strerror(errnum));
	}
}

/*
 * Before any backend touches the settings, open the device ourselves and
 * take the flock: a device another program holds is refused before its
 * baud rate is changed under it.  Another's TIOCEXCL stops the open, or,
 * for root whom it does not stop, shows in TIOCGEXCL.  The guard keeps the
 * flock for as long as the line is open.
 */
static int guard_open(struct serial_line *l, char *err, size_t errlen)
{
	int fd = open(l->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC), excl = 0, e;

	/* A tty whose last user has just closed it is being released, and
	 * open(2) says EAGAIN meanwhile (a pty's slave, reopened at once by the
	 * next client): that is not another user.  It lasts microseconds. */
	for (int tries = 0; fd < 0 && errno == EAGAIN && tries < 20; tries++) {
		usleep(5000);
		fd = open(l->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0)
		return serial_open_error(l, errno, err, errlen);
	if (!isatty(fd))
		e = ENOTTY;
	else if (ioctl(fd, TIOCGEXCL, &excl) == 0 && excl)
		e = EBUSY;
	else if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		e = errno == EWOULDBLOCK ? EBUSY : errno;
	else
		e = 0;
	/* The flock of a process that has just exited can outlive it for a
	 * moment: an io_uring poll on the fd holds the file until the ring's
	 * teardown, which the kernel finishes after the exit.  A holder that
	 * lets go within 100 ms is not one. */
	for (int tries = 0; e == EBUSY && !excl && tries < 20; tries++) {
		usleep(5000);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			e = 0;
	}
	if (e) {
		close(fd);
		return serial_open_error(l, e, err, errlen);
	}
	l->guard = fd;
	return 0;
}

int serial_tty_finish(struct serial_line *l, char *err, size_t errlen)
{
	struct termios t;
	int fd = l->fd, flags;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return serial_fail(-errno, err, errlen, "%s: cannot set up the descriptor: %s",
				   l->name, strerror(errno));
	/* read(2) is then -EAGAIN when empty and 0 only on hang-up. */
	if (tcgetattr(fd, &t) < 0)
		return serial_open_error(l, errno, err, errlen);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return serial_fail(-errno, err, errlen, "%s: cannot set VMIN/VTIME: %s", l->name,
				   strerror(errno));
	if (ioctl(fd, TIOCEXCL) < 0)
		return serial_fail(-errno, err, errlen, "%s: cannot take exclusive use (TIOCEXCL): %s",
				   l->name, strerror(errno));
	l->exclusive = true;
	return 0;
}

/* Closes what a backend opened; the lock file stays. */
static void close_device(struct serial_line *l)
{
	if (l->guard >= 0)
		close(l->guard);
	l->guard = -1;
	if (l->fd < 0)
		return;
	/* A serial close waits for queued output to drain (closing_wait,
	 * 30 s by default, forever with flow control stuck): drop it.  Only
	 * when there is some: a pty reports none, and flushing it would throw
	 * away what the other side has not taken in yet (a last CLOSE). */
	{
		int queued = 1;

		if (ioctl(l->fd, TIOCOUTQ, &queued) < 0 || queued > 0)
			tcflush(l->fd, TCOFLUSH);
	}
	if (l->restore)
		tcsetattr(l->fd, TCSANOW, &l->saved);
	if (l->exclusive)
		ioctl(l->fd, TIOCNXCL);
	if (l->sp) {
		serial_sp_close(l);
	} else {
		close(l->fd);
		l->fd = -1;
	}
}

int serial_line_open(const struct serial_config *cfg, struct serial_line **out, char *err,
		     size_t errlen)
{
	struct serial_line *l;
	struct stat st;
	int res;

	if (!cfg->path || cfg->path[0] != '/')
		return serial_fail(-EINVAL, err, errlen, "a serial line needs a device path, not \"%s\"",
				   cfg->path ? cfg->path : "");
	if (strlen(cfg->path) >= SERIAL_PATH_MAX)
		return serial_fail(-ENAMETOOLONG, err, errlen, "serial device path too long");
	res = serial_baud_check(cfg->baud, err, errlen);
	if (res < 0)
		return res;
	if ((unsigned)cfg->flow > SERIAL_FLOW_XONXOFF ||
	    (unsigned)cfg->backend > SERIAL_BACKEND_TERMIOS)
		return serial_fail(-EINVAL, err, errlen, "invalid serial line settings");

	l = calloc(1, sizeof(*l));
	if (!l)
		return serial_fail(-ENOMEM, err, errlen, "out of memory opening %s", cfg->path);
	l->fd = l->guard = -1;
	l->baud = cfg->baud;
	l->flow = cfg->flow;
	strcpy(l->path, cfg->path);
	if (cfg->name && strcmp(cfg->name, cfg->path) != 0)
		snprintf(l->name, sizeof(l->name), "%s (%s)", cfg->name, cfg->path);
	else
		snprintf(l->name, sizeof(l->name), "%s", cfg->path);

	if (stat(l->path, &st) < 0) {
		res = serial_open_error(l, errno, err, errlen);
		goto fail;
	}
	if (!S_ISCHR(st.st_mode)) {
		res = serial_open_error(l, ENOTTY, err, errlen);
		goto fail;
	}
	l->rdev = st.st_rdev;

	res = serial_lock_take(cfg->lock_dir, l, l->lock_path, sizeof(l->lock_path), err, errlen);
	if (res < 0)
		goto fail;

	res = guard_open(l, err, errlen);
	if (res < 0)
		goto fail;

	res = SERIAL_SP_NOT_MINE;
	if (cfg->backend != SERIAL_BACKEND_TERMIOS) {
		res = serial_sp_open(l, cfg, err, errlen);
		if (res < 0)
			goto fail;
		if (res == 0) {
			l->backend = SERIAL_BACKEND_LIBSERIALPORT;
		} else if (cfg->backend == SERIAL_BACKEND_LIBSERIALPORT) {
			res = serial_fail(-ENOTSUP, err, errlen,
					  "%s: libserialport cannot drive it (a pseudo-terminal or a "
					  "tty without modem lines); the termios backend can",
					  l->name);
			goto fail;
		}
	}
	if (res == SERIAL_SP_NOT_MINE) {
		res = serial_termios_open(l, cfg, err, errlen);
		if (res < 0)
			goto fail;
		l->backend = SERIAL_BACKEND_TERMIOS;
	}
	res = serial_tty_finish(l, err, errlen);
	if (res < 0)
		goto fail;

	serial_dec_init(&l->dec);
	serial_out_init(&l->out, serial_out_frame_size(l->baud));
	*out = l;
	return 0;
fail:
	close_device(l);
	serial_lock_drop(l->lock_path);
	free(l);
	return res;
}

void serial_line_close(struct serial_line *l)
{
	if (!l)
		return;
	close_device(l);
	serial_lock_drop(l->lock_path);
	free(l);
}

ssize_t serial_line_read(struct serial_line *l, void *buf, size_t n)
{
	ssize_t r;

	if (n == 0)
		return 0;
	do
		r = read(l->fd, buf, n);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return r;
	if (r == 0)
		return -EIO;	/* hung up: with VMIN=1 an empty tty is EAGAIN */
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

ssize_t serial_line_write(struct serial_line *l, const void *p, size_t n)
{
	ssize_t r;

	do
		r = write(l->fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r >= 0)
		return r;
	return errno == EWOULDBLOCK ? 0 : -errno;
}

void serial_line_io_error(const struct serial_line *l, int res, char *err, size_t errlen)
{
	switch (-res) {
	case EIO:
	case ENODEV:
	case ENXIO:
	case EPIPE:
		serial_fail(res, err, errlen,
			    "%s hung up: the device was unplugged or the other end closed (%s)",
			    l->name, strerror(-res));
		break;
	default:
		serial_fail(res, err, errlen, "%s: I/O error: %s", l->name, strerror(-res));
		break;
	}
}
