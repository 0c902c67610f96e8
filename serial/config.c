/* SPDX-License-Identifier: MIT */
/*
 * Naming and settings of a serial line: COMn to device paths, the standard
 * baud rates, flow control, and the text that names a line in logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "serial/serial_internal.h"

static const struct {
	unsigned baud;
	speed_t speed;
} bauds[] = {
	{ 50, B50 },		{ 75, B75 },		{ 110, B110 },
	{ 134, B134 },		{ 150, B150 },		{ 200, B200 },
	{ 300, B300 },		{ 600, B600 },		{ 1200, B1200 },
	{ 1800, B1800 },	{ 2400, B2400 },	{ 4800, B4800 },
	{ 9600, B9600 },	{ 19200, B19200 },	{ 38400, B38400 },
	{ 57600, B57600 },	{ 115200, B115200 },	{ 230400, B230400 },
	{ 460800, B460800 },	{ 500000, B500000 },	{ 576000, B576000 },
	{ 921600, B921600 },	{ 1000000, B1000000 },	{ 1152000, B1152000 },
	{ 1500000, B1500000 },	{ 2000000, B2000000 },	{ 2500000, B2500000 },
	{ 3000000, B3000000 },	{ 3500000, B3500000 },	{ 4000000, B4000000 },
};

int serial_fail(int res, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return res;
}

speed_t serial_baud_speed(unsigned baud)
{
	for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
		if (bauds[i].baud == baud)
			return bauds[i].speed;
	return B0;
}

int serial_baud_check(unsigned baud, char *err, size_t errlen)
{
	char list[320];
	size_t at = 0;

	if (serial_baud_speed(baud) != B0)
		return 0;
	for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%u", i ? ", " : "",
				       bauds[i].baud);
	return serial_fail(-EINVAL, err, errlen, "unsupported baud rate %u (expected one of %s)",
			   baud, list);
}

/* Decimal digits only, no sign, no leading zero beyond "0", at most MAX. */
static bool parse_number(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

int serial_port_path(const char *port, char *path, size_t len, char *err, size_t errlen)
{
	const char *digits = port;
	unsigned n;
	char guess[SERIAL_PATH_MAX + 8];
	struct stat st;

	if (port[0] == '/') {
		if (strlen(port) >= len)
			return serial_fail(-ENAMETOOLONG, err, errlen,
					   "serial device path too long (at most %zu characters)",
					   len - 1);
		strcpy(path, port);
		return 0;
	}
	if (strncasecmp(port, "com", 3) == 0)
		digits = port + 3;
	if (parse_number(digits, SERIAL_COM_MAX, &n) && n > 0) {
		if ((size_t)snprintf(path, len, "/dev/ttyS%u", n - 1) >= len)
			return serial_fail(-ENAMETOOLONG, err, errlen, "no room for the device path");
		return 0;
	}
	snprintf(guess, sizeof(guess), "/dev/%s", port);
	if (*port && !strchr(port, '/') && stat(guess, &st) == 0 && S_ISCHR(st.st_mode))
		return serial_fail(-EINVAL, err, errlen,
				   "serial port \"%s\" is not COMn, a number 1-%d or a device path; did you mean %s?",
				   port, SERIAL_COM_MAX, guess);
	return serial_fail(-EINVAL, err, errlen,
			   "serial port \"%s\" is not COMn, a number 1-%d or a device path (/dev/...)",
			   port, SERIAL_COM_MAX);
}

static const char *const flow_names[] = {
	[SERIAL_FLOW_NONE] = "none",
	[SERIAL_FLOW_RTSCTS] = "rtscts",
	[SERIAL_FLOW_XONXOFF] = "xonxoff",
};

int serial_flow_parse(const char *text, enum serial_flow *flow, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(flow_names) / sizeof(flow_names[0]); i++)
		if (strcasecmp(text, flow_names[i]) == 0) {
			*flow = (enum serial_flow)i;
			return 0;
		}
	return serial_fail(-EINVAL, err, errlen,
			   "unknown flow control \"%s\" (expected none, rtscts or xonxoff)", text);
}

const char *serial_flow_name(enum serial_flow flow)
{
	return (unsigned)flow < sizeof(flow_names) / sizeof(flow_names[0]) ? flow_names[flow] : "?";
}

const char *serial_backend_name(enum serial_backend backend)
{
	switch (backend) {
	case SERIAL_BACKEND_AUTO:
		return "auto";
	case SERIAL_BACKEND_LIBSERIALPORT:
		return "libserialport";
	case SERIAL_BACKEND_TERMIOS:
		return "termios";
	}
	return "?";
}

int serial_line_describe(const struct serial_line *l, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s %u 8N1 flow=%s (%s)", l->path, l->baud,
			 serial_flow_name(l->flow), serial_backend_name(l->backend));

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
