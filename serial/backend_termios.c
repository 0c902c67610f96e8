/* SPDX-License-Identifier: MIT */
/*
 * The termios backend: open(2) and tcsetattr(3) for ttys libserialport
 * cannot drive, pseudo-terminals above all (socat pty pairs, openpty()),
 * and USB gadget or Bluetooth ttys without modem lines.  It configures the
 * fd serial_line_open() opened and flocked already; on failure the caller
 * closes it, putting the saved settings back.
 */
#include <errno.h>
#include <string.h>

#include "serial/serial_internal.h"

int serial_termios_open(struct serial_line *l, const struct serial_config *cfg, char *err,
			size_t errlen)
{
	speed_t speed = serial_baud_speed(cfg->baud);
	struct termios t;
	int fd, res;

	/* The guard fd, opened and flocked already, becomes the line's. */
	fd = l->guard;
	l->guard = -1;
	l->fd = fd;
	if (tcgetattr(fd, &l->saved) < 0)
		return serial_open_error(l, errno, err, errlen);
	l->restore = true;

	t = l->saved;
	cfmakeraw(&t);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
	t.c_cflag |= CS8 | CREAD | CLOCAL;
	t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	if (cfg->flow == SERIAL_FLOW_RTSCTS)
		t.c_cflag |= CRTSCTS;
	else if (cfg->flow == SERIAL_FLOW_XONXOFF)
		t.c_iflag |= IXON | IXOFF;
	cfsetispeed(&t, speed);
	cfsetospeed(&t, speed);
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		res = errno;
		return serial_fail(-res, err, errlen, "%s: cannot set %u baud 8N1 flow=%s: %s",
				   l->name, cfg->baud, serial_flow_name(cfg->flow), strerror(res));
	}

	/* tcsetattr succeeds when any one setting took; read back what counts. */
	if (tcgetattr(fd, &t) < 0 || cfgetospeed(&t) != speed ||
	    (cfg->flow == SERIAL_FLOW_RTSCTS) != !!(t.c_cflag & CRTSCTS))
		return serial_fail(-EINVAL, err, errlen,
				   "%s did not accept %u baud 8N1 flow=%s (the settings did not stick)",
				   l->name, cfg->baud, serial_flow_name(cfg->flow));
	return 0;
}
