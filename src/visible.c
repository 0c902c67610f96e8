/* SPDX-License-Identifier: MIT */
/*
 * Keeping other people's text inert on a terminal: strict UTF-8 decoding,
 * the set of characters that act instead of showing, and their visible
 * forms.
 */
#include <stdio.h>
#include <string.h>

#include "src/visible.h"

size_t visible_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;	/* a continuation byte, C0/C1 lead bytes, F5..FF */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool visible_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Offset of the first character that may not pass, or N. */
static size_t first_bad(const uint8_t *p, size_t n, bool allow_tab)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t len = visible_utf8_decode(p + i, n - i, &cp);

		if (len == 0 || (visible_is_control(cp) && !(allow_tab && cp == '\t')))
			return i;
		i += len;
	}
	return n;
}

bool visible_line_ok(const uint8_t *p, size_t n, bool allow_tab)
{
	return first_bad(p, n, allow_tab) == n;
}

bool visible_text_ok(const uint8_t *p, size_t n)
{
	return visible_line_ok(p, n, false);
}

static const char *const c0_names[32] = {
	"NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT",
	"FF", "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB",
	"CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
};

void visible_first_bad(const uint8_t *p, size_t n, bool allow_tab, char *name, size_t len)
{
	size_t at = first_bad(p, n, allow_tab);
	uint32_t cp;

	if (len == 0)
		return;
	name[0] = '\0';
	if (at == n)
		return;
	if (visible_utf8_decode(p + at, n - at, &cp) == 0)
		snprintf(name, len, "byte 0x%02X", p[at]);
	else if (cp < 0x20)
		snprintf(name, len, "%s", c0_names[cp]);
	else if (cp == 0x7f)
		snprintf(name, len, "DEL");
	else
		snprintf(name, len, "U+%04X", (unsigned)cp);
}

size_t visible_escape(const uint8_t *p, size_t n, const char *keep, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < n) {
		char form[16];
		const char *piece = form;
		size_t plen, len;
		uint32_t cp;

		len = visible_utf8_decode(p + i, n - i, &cp);
		if (len == 0) {
			plen = (size_t)snprintf(form, sizeof(form), "<%02X>", p[i]);
			len = 1;
		} else if (cp < 0x80 && keep && cp != 0 && strchr(keep, (int)cp)) {
			piece = (const char *)p + i;
			plen = len;
		} else if (cp < 0x20 || cp == 0x7f) {
			form[0] = '^';
			form[1] = cp == 0x7f ? '?' : (char)('@' + cp);
			plen = 2;
		} else if (visible_is_control(cp)) {
			plen = (size_t)snprintf(form, sizeof(form), "<U+%04X>", (unsigned)cp);
		} else {
			piece = (const char *)p + i;
			plen = len;
		}
		if (cap - o < plen)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += len;
	}
	return o;
}
