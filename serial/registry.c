/* SPDX-License-Identifier: MIT */
/*
 * One line per device per process: the channels of every com: server and
 * client on a device share the line that its first user opened, and the
 * last one to leave closes it.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "serial/serial_internal.h"

static bool channel_used(const struct serial_line *l, unsigned ch)
{
	return l->channels[ch >> 6] >> (ch & 63) & 1;
}

/* The open line for the device at PATH, known by device number, so that
 * COM1, /dev/ttyS0 and a symlink to it are one line. */
static struct serial_line *find_line(struct serial_registry *r, const char *path)
{
	struct serial_line *l;
	struct stat st;
	bool by_dev = stat(path, &st) == 0 && S_ISCHR(st.st_mode);

	for (l = r->lines; l; l = l->next)
		if (by_dev ? l->rdev == st.st_rdev : strcmp(l->path, path) == 0)
			return l;
	return NULL;
}

/* Whether CFG agrees with the open line L, and CHANNEL is free on it. */
static int check_share(const struct serial_line *l, const struct serial_config *cfg,
		       unsigned channel, char *err, size_t errlen)
{
	if (l->baud != cfg->baud)
		return serial_fail(-EINVAL, err, errlen,
				   "%s is already open at %u baud, not %u: one line has one speed",
				   l->name, l->baud, cfg->baud);
	if (l->flow != cfg->flow)
		return serial_fail(-EINVAL, err, errlen,
				   "%s is already open with flow=%s, not %s", l->name,
				   serial_flow_name(l->flow), serial_flow_name(cfg->flow));
	if (l->raw)
		return serial_fail(-EBUSY, err, errlen,
				   "%s carries a raw (unframed) server already; a raw line carries one server only",
				   l->name);
	if (channel == SERIAL_CHANNEL_RAW)
		return serial_fail(-EBUSY, err, errlen,
				   "%s carries framed channels already; a raw line carries one server only",
				   l->name);
	if (channel_used(l, channel))
		return serial_fail(-EADDRINUSE, err, errlen, "channel %u is already in use on %s",
				   channel, l->name);
	return 0;
}

int serial_registry_acquire(struct serial_registry *r, const struct serial_config *cfg,
			    unsigned channel, struct serial_line **out, char *err, size_t errlen)
{
	struct serial_line *l;
	int res;

	if (channel > SERIAL_CHANNEL_MAX && channel != SERIAL_CHANNEL_RAW)
		return serial_fail(-EINVAL, err, errlen, "channel %u is out of range (expected 0-%u)",
				   channel, SERIAL_CHANNEL_MAX);
	if (channel != SERIAL_CHANNEL_RAW && cfg->flow == SERIAL_FLOW_XONXOFF)
		return serial_fail(-EINVAL, err, errlen,
				   "flow=xonxoff cannot carry framed channels (the tty would eat their "
				   "0x11 and 0x13 bytes): use rtscts or none, or a raw line");
	if (!cfg->path)
		return serial_fail(-EINVAL, err, errlen, "a serial line needs a device path");

	l = find_line(r, cfg->path);
	if (l) {
		res = check_share(l, cfg, channel, err, errlen);
		if (res < 0)
			return res;
	} else {
		res = serial_line_open(cfg, &l, err, errlen);
		if (res < 0)
			return res;
		l->next = r->lines;
		r->lines = l;
	}
	if (channel == SERIAL_CHANNEL_RAW)
		l->raw = true;
	else
		l->channels[channel >> 6] |= 1ull << (channel & 63);
	l->users++;
	*out = l;
	return 0;
}

void serial_registry_release(struct serial_registry *r, struct serial_line *l, unsigned channel)
{
	struct serial_line **pp;

	if (channel == SERIAL_CHANNEL_RAW)
		l->raw = false;
	else if (channel <= SERIAL_CHANNEL_MAX)
		l->channels[channel >> 6] &= ~(1ull << (channel & 63));
	if (--l->users > 0)
		return;
	for (pp = &r->lines; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	serial_line_close(l);
}
