/* SPDX-License-Identifier: MIT */
/*
 * The libserialport backend, for real serial devices.  libserialport opens
 * the device (O_RDWR|O_NOCTTY|O_NONBLOCK), puts it in raw mode and knows
 * how to set baud, framing and flow control on UARTs and USB adapters; the
 * fd it owns is what the loop polls.  It refuses devices without a
 * /sys/class/tty entry and ttys whose TIOCMGET fails (ptys, USB gadgets):
 * those are reported as SERIAL_SP_NOT_MINE for the termios backend.
 */
#include <errno.h>
#include <libserialport.h>
#include <string.h>
#include <sys/stat.h>

#include "serial/serial_internal.h"

/* The errno behind libserialport's result R. */
static int sp_errno(enum sp_return r)
{
	int e;

	switch (r) {
	case SP_ERR_FAIL:
		e = sp_last_error_code();
		return e > 0 ? e : EIO;
	case SP_ERR_MEM:
		return ENOMEM;
	case SP_ERR_SUPP:
		return ENOTSUP;
	default:
		return EINVAL;
	}
}

/* libserialport's own words for R, when it has any. */
static void sp_message(enum sp_return r, char *buf, size_t len)
{
	char *m;

	buf[0] = '\0';
	if (r != SP_ERR_FAIL)
		return;
	m = sp_last_error_message();
	if (m) {
		snprintf(buf, len, "%s", m);
		buf[strcspn(buf, "\r\n")] = '\0';
		sp_free_error_message(m);
	}
}

static enum sp_flowcontrol sp_flow(enum serial_flow flow)
{
	switch (flow) {
	case SERIAL_FLOW_RTSCTS:
		return SP_FLOWCONTROL_RTSCTS;
	case SERIAL_FLOW_XONXOFF:
		return SP_FLOWCONTROL_XONXOFF;
	default:
		return SP_FLOWCONTROL_NONE;
	}
}

/* Baud, 8N1 and flow control, then the baud read back: some USB adapters
 * take a rate silently and run at another. */
static int sp_configure(struct serial_line *l, const struct serial_config *cfg, char *err,
			size_t errlen)
{
	struct sp_port_config *c = NULL;
	enum sp_return r;
	int baud = 0;
	char why[128];
	const char *step = "allocate a configuration";

	if ((r = sp_new_config(&c)) != SP_OK)
		goto fail;
	step = "set the configuration";
	if ((r = sp_set_config_baudrate(c, (int)cfg->baud)) != SP_OK ||
	    (r = sp_set_config_bits(c, 8)) != SP_OK ||
	    (r = sp_set_config_parity(c, SP_PARITY_NONE)) != SP_OK ||
	    (r = sp_set_config_stopbits(c, 1)) != SP_OK ||
	    (r = sp_set_config_flowcontrol(c, sp_flow(cfg->flow))) != SP_OK)
		goto fail;
	step = "apply the configuration";
	if ((r = sp_set_config(l->sp, c)) != SP_OK)
		goto fail;
	step = "read the configuration back";
	if ((r = sp_get_config(l->sp, c)) != SP_OK || (r = sp_get_config_baudrate(c, &baud)) != SP_OK)
		goto fail;
	sp_free_config(c);
	if (baud != (int)cfg->baud)
		return serial_fail(-EINVAL, err, errlen,
				   "%s did not accept %u baud: it reports %d after setting it",
				   l->name, cfg->baud, baud);
	return 0;
fail:
	sp_message(r, why, sizeof(why));
	if (c)
		sp_free_config(c);
	return serial_fail(-sp_errno(r), err, errlen,
			   "%s: libserialport could not %s for %u baud 8N1 flow=%s%s%s", l->name, step,
			   cfg->baud, serial_flow_name(cfg->flow), why[0] ? ": " : "", why);
}

int serial_sp_open(struct serial_line *l, const struct serial_config *cfg, char *err,
		   size_t errlen)
{
	struct sp_port *port = NULL;
	enum sp_return r;
	struct stat st;
	int fd = -1, e, res;

	r = sp_get_port_by_name(l->path, &port);
	if (r == SP_ERR_ARG) {
		/* Not under /dev or not in /sys/class/tty: missing, or a
		 * pty or symlink that termios can still open. */
		if (stat(l->path, &st) < 0)
			return serial_open_error(l, errno, err, errlen);
		return SERIAL_SP_NOT_MINE;
	}
	if (r != SP_OK)
		return serial_open_error(l, sp_errno(r), err, errlen);

	r = sp_open(port, SP_MODE_READ_WRITE);
	if (r != SP_OK) {
		e = sp_errno(r);
		sp_free_port(port);
		/* TIOCMGET fails on ttys without modem lines. */
		if (e == ENOTTY)
			return SERIAL_SP_NOT_MINE;
		return serial_open_error(l, e, err, errlen);
	}
	l->sp = port;
	r = sp_get_port_handle(port, &fd);
	if (r != SP_OK || fd < 0) {
		res = serial_fail(-EIO, err, errlen, "%s: libserialport gave no file descriptor",
				  l->name);
		goto fail;
	}
	l->fd = fd;
	res = sp_configure(l, cfg, err, errlen);
	if (res < 0)
		goto fail;
	return 0;
fail:
	serial_sp_close(l);
	return res;
}

void serial_sp_close(struct serial_line *l)
{
	if (!l->sp)
		return;
	sp_close(l->sp);
	sp_free_port(l->sp);
	l->sp = NULL;
	l->fd = -1;
}
