/* SPDX-License-Identifier: MIT */
/*
 * `ringside -serial-list`: the serial ports libserialport finds, with what
 * a user needs to pick one (its COMn alias, USB IDs, product and maker),
 * in the spirit of pyserial's list_ports.  Pseudo-terminals are not ports
 * to libserialport and are not listed; com:port= takes their path anyway.
 */
#include <errno.h>
#include <libserialport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serial/serial_internal.h"

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* "COM1" for /dev/ttyS0, as serial_port_path maps it the other way. */
static void com_alias(const char *name, char *out, size_t len)
{
	unsigned n;
	char end;

	out[0] = '\0';
	if (sscanf(name, "/dev/ttyS%u%c", &n, &end) == 1 && n < SERIAL_COM_MAX)
		snprintf(out, len, "COM%u", n + 1);
}

static int by_name(const void *a, const void *b)
{
	return strverscmp(((const struct serial_port_info *)a)->name,
			  ((const struct serial_port_info *)b)->name);
}

int serial_list(struct serial_port_info **ports, size_t *n, char *err, size_t errlen)
{
	struct sp_port **list = NULL;
	struct serial_port_info *out;
	enum sp_return r;
	size_t count = 0;

	*ports = NULL;
	*n = 0;
	r = sp_list_ports(&list);
	if (r != SP_OK) {
		int e = r == SP_ERR_FAIL && sp_last_error_code() > 0 ? sp_last_error_code() : EIO;

		return serial_fail(-e, err, errlen, "cannot list serial ports: %s", strerror(e));
	}
	while (list[count])
		count++;
	if (count == 0) {
		sp_free_port_list(list);
		return 0;
	}
	out = calloc(count, sizeof(*out));
	if (!out) {
		sp_free_port_list(list);
		return serial_fail(-ENOMEM, err, errlen, "out of memory listing serial ports");
	}
	for (size_t i = 0; i < count; i++) {
		struct sp_port *p = list[i];
		struct serial_port_info *o = &out[i];

		copy(o->name, sizeof(o->name), sp_get_port_name(p));
		copy(o->description, sizeof(o->description), sp_get_port_description(p));
		com_alias(o->name, o->alias, sizeof(o->alias));
		o->vid = o->pid = -1;
		switch (sp_get_port_transport(p)) {
		case SP_TRANSPORT_USB:
			o->transport = SERIAL_TRANSPORT_USB;
			if (sp_get_port_usb_vid_pid(p, &o->vid, &o->pid) != SP_OK)
				o->vid = o->pid = -1;
			copy(o->manufacturer, sizeof(o->manufacturer), sp_get_port_usb_manufacturer(p));
			copy(o->product, sizeof(o->product), sp_get_port_usb_product(p));
			copy(o->serial, sizeof(o->serial), sp_get_port_usb_serial(p));
			break;
		case SP_TRANSPORT_BLUETOOTH:
			o->transport = SERIAL_TRANSPORT_BLUETOOTH;
			copy(o->bluetooth, sizeof(o->bluetooth), sp_get_port_bluetooth_address(p));
			break;
		default:
			o->transport = SERIAL_TRANSPORT_NATIVE;
			break;
		}
	}
	sp_free_port_list(list);
	qsort(out, count, sizeof(*out), by_name);
	*ports = out;
	*n = count;
	return 0;
}

static const char *transport_name(enum serial_transport t)
{
	switch (t) {
	case SERIAL_TRANSPORT_USB:
		return "usb";
	case SERIAL_TRANSPORT_BLUETOOTH:
		return "bluetooth";
	default:
		return "native";
	}
}

/* The description, then what else identifies the device, in brackets:
 * "FT232R USB UART (FTDI, serial A50285BI)". */
static void details(const struct serial_port_info *p, char *out, size_t len)
{
	const char *extra[3];
	char serial[80];
	size_t k = 0, at;

	if (p->manufacturer[0] && !strstr(p->description, p->manufacturer))
		extra[k++] = p->manufacturer;
	if (p->serial[0]) {
		snprintf(serial, sizeof(serial), "serial %s", p->serial);
		extra[k++] = serial;
	}
	if (p->bluetooth[0])
		extra[k++] = p->bluetooth;
	at = (size_t)snprintf(out, len, "%s", p->description[0] ? p->description :
					      p->product[0] ? p->product : "-");
	for (size_t i = 0; i < k && at < len; i++)
		at += (size_t)snprintf(out + at, len - at, "%s%s%s", i ? ", " : " (", extra[i],
				       i + 1 == k ? ")" : "");
}

int serial_list_print(FILE *f, const struct serial_port_info *ports, size_t n)
{
	int width = (int)strlen("PORT");
	char ids[16], text[400];

	if (n == 0) {
		fprintf(f, "No serial ports found.  (Pseudo-terminals are not listed; "
			   "com:port= takes any tty's path.)\n");
		return ferror(f) ? -EIO : 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(ports[i].name) > width)
			width = (int)strlen(ports[i].name);
	fprintf(f, "%-*s  %-5s  %-9s  %-9s  %s\n", width, "PORT", "ALIAS", "TYPE", "VID:PID",
		"DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		const struct serial_port_info *p = &ports[i];

		if (p->vid >= 0 && p->pid >= 0)
			snprintf(ids, sizeof(ids), "%04x:%04x", (unsigned)p->vid & 0xffff,
				 (unsigned)p->pid & 0xffff);
		else
			snprintf(ids, sizeof(ids), "-");
		details(p, text, sizeof(text));
		fprintf(f, "%-*s  %-5s  %-9s  %-9s  %s\n", width, p->name, p->alias[0] ? p->alias : "-",
			transport_name(p->transport), ids, text);
	}
	return ferror(f) ? -EIO : 0;
}
