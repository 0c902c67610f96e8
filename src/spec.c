// SPDX-License-Identifier: MIT
/*
 * WinDbg transport specs ("tcp:port=5005,password=x"): parsing the strings
 * -server, .server and -remote take, and formatting the ones users are shown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serial/line.h"
#include "src/spec.h"
#include "tls/tls.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Values echoed in errors are cut here so one bad value cannot flood a line. */
#define ECHO_MAX	40
#define COM_MAX		256	/* Windows numbers COM ports 1-256 */
#define BAUD_MAX	4000000
#define CHANNEL_MAX	254
/*
 * A password line is at most SPEC_PASSWORD_MAX characters and a CRLF.
 * Reading further would only copy more of a secret file into memory: a
 * longer first line is refused either way.
 */
#define PASSFILE_READ_MAX	(SPEC_PASSWORD_MAX + 2)
/* Group or others may read the password, or write their own into it. */
#define PASSFILE_SHARED_BITS	(S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)

/* Transport masks for the key table. */
#define TM(t)		(1u << (t))
#define T_TCP		TM(SPEC_TCP)
#define T_NPIPE		TM(SPEC_NPIPE)
#define T_COM		TM(SPEC_COM)
#define T_SSL		TM(SPEC_SSL)
#define T_SPIPE		TM(SPEC_SPIPE)
#define T_NET		(T_TCP | T_SSL)
#define T_PIPE		(T_NPIPE | T_SPIPE)
#define T_TLS		(T_SSL | T_SPIPE)
#define T_ALL		(T_NET | T_PIPE | T_COM)

/* What a valid value looks like; shared by "missing" and "bad value" errors. */
#define X_PORT		"a port number 1-65535 or a range LO:HI"
#define X_COMPORT	"COMn, n (1-256) or a device path such as /dev/ttyUSB0"
#define X_BAUD		"a standard baud rate such as 9600 or 115200"
#define X_FLOW		"none, rtscts or xonxoff"
#define X_CHANNEL	"a channel number 0-254"
#define X_PIPE		"a pipe name of 1-100 characters without spaces, quotes, slashes or control characters"
#define X_HOST		"a host name of 1-255 characters without spaces, commas, quotes or backslashes"
#define X_PASSWORD	"1-12 letters and digits"
#define X_PASSFILE	"a file path of 1-255 characters without control characters"
#define X_PASSENV	"an environment variable name of 1-64 letters, digits and underscores, not starting with a digit"
#define X_PROTO		"tls1 (TLS 1.2 or newer)"
#define X_CERT		"a certificate name or SHA-1 thumbprint without quotes, slashes or a leading dot"
#define X_FP		"sha256:HEX, the server certificate's SHA-256 fingerprint (64 hex digits, ':' allowed)"
#define X_IPVERSION	"4 or 6"
#define X_ALLOW		"users and groups separated by ':' (a uid or user name, @gid or @group)"

/*
 * A value parser stores a valid value in *S and returns NULL, or returns
 * why the value is wrong, phrased to follow "key=value: ".
 */
typedef const char *parse_fn(struct spec *s, const char *v, size_t n);

struct key {
	const char *name;	/* as shown in errors; matched case-insensitively */
	unsigned server;	/* transports taking the key with -server/.server */
	unsigned client;	/* transports taking it with -remote */
	parse_fn *parse;	/* NULL for a flag, which sets the bool at FLAG */
	size_t flag;
	const char *expect;	/* what a valid value looks like */
	bool secret;		/* never echo the value */
};

/* Table order is the order keys are listed in "expected one of" errors. */
enum key_id {
	K_PROTO, K_CERTUSER, K_MACHUSER, K_SERVER, K_PORT, K_COMPORT, K_PIPE,
	K_BAUD, K_CHANNEL, K_PASSWORD, K_PASSFILE, K_PASSENV, K_HIDDEN, K_CLICON,
	K_IPVERSION, K_ICFENABLE, K_BIND, K_READONLY, K_ALLOW, K_FINGERPRINT, K_RAW, K_FLOW,
	K_COUNT
};

/* Parsing state: the spec being filled and which keys have been seen. */
struct parse {
	struct spec *s;
	char *err;
	size_t errlen;
	const char *tname;
	unsigned seen;		/* bit per enum key_id */
};

static bool fail(struct parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool
fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err == NULL || p->errlen == 0)
		return false;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return false;
}

static bool
is_ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * Characters no path, pipe or host may hold: they would break the spec as one
 * shell word, or the line it is shown on.
 */
static bool
is_unsafe(unsigned char c)
{
	return is_ctrl(c) || c == ' ' || c == '"' || c == '\'';
}

/*
 * Typed text quoted in an error: cut to ECHO_MAX, control characters
 * replaced so that the error stays one line.
 */
static const char *
echo(char dst[ECHO_MAX + 4], const char *v, size_t n)
{
	size_t i, shown = n > ECHO_MAX ? ECHO_MAX : n;

	for (i = 0; i < shown; i++)
		dst[i] = is_ctrl(v[i]) ? '?' : v[i];
	strcpy(dst + shown, n > ECHO_MAX ? "..." : "");
	return dst;
}

static bool
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static bool
eq(const char *name, const char *v, size_t n)
{
	return strlen(name) == n && strncasecmp(name, v, n) == 0;
}

/* Decimal digits only (no sign, no spaces), at most MAX. */
static bool
parse_uint(const char *v, size_t n, unsigned long max, unsigned *out)
{
	unsigned long x = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (unsigned long)(v[i] - '0');
		if (x > max)
			return false;
	}
	*out = (unsigned)x;
	return true;
}

static void
copy(char *dst, const char *v, size_t n)
{
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* ---- value parsers ---- */

static const char *
parse_port(struct spec *s, const char *v, size_t n)
{
	const char *colon = memchr(v, ':', n);
	unsigned lo, hi;

	if (colon == NULL) {
		if (!parse_uint(v, n, 65535, &lo) || lo == 0)
			return "expected " X_PORT;
		hi = lo;
	} else {
		size_t lon = (size_t)(colon - v);

		if (!parse_uint(v, lon, 65535, &lo) || lo == 0 ||
		    !parse_uint(colon + 1, n - lon - 1, 65535, &hi) || hi == 0)
			return "expected " X_PORT;
		if (lo > hi)
			return "expected LO <= HI in a port range LO:HI";
	}
	s->port_lo = (uint16_t)lo;
	s->port_hi = (uint16_t)hi;
	return NULL;
}

/* serial/ words its own errors (naming the port or the rate, listing the
 * rates); a parse keeps the one it got here, per thread. */
static __thread char serial_why[320];

/* COMn or n is /dev/ttyS(n-1), a path is taken as is (serial_port_path). */
static const char *
parse_com_port(struct spec *s, const char *v, size_t n)
{
	char port[SPEC_PATH_MAX + 1];
	size_t i;

	if (n > SPEC_PATH_MAX)
		return "expected a device path of at most 255 characters";
	for (i = 0; i < n; i++)
		if (is_unsafe(v[i]))
			return "expected a device path without spaces, quotes or control characters";
	copy(port, v, n);
	if (serial_port_path(port, s->com_device, sizeof(s->com_device), serial_why,
	    sizeof(serial_why)) < 0)
		return serial_why;
	copy(s->com_name, v, n);
	if (v[0] != '/' && strncasecmp(v, "com", 3) == 0)
		memcpy(s->com_name, "COM", 3);
	return NULL;
}

/* Only the standard rates: a tty cannot be set to any other. */
static const char *
parse_baud(struct spec *s, const char *v, size_t n)
{
	if (!parse_uint(v, n, BAUD_MAX, &s->baud) || s->baud == 0)
		return "expected " X_BAUD;
	if (serial_baud_check(s->baud, serial_why, sizeof(serial_why)) < 0)
		return serial_why;
	return NULL;
}

static const char *
parse_channel(struct spec *s, const char *v, size_t n)
{
	if (!parse_uint(v, n, CHANNEL_MAX, &s->channel))
		return "expected " X_CHANNEL;
	return NULL;
}

static const char *
parse_flow(struct spec *s, const char *v, size_t n)
{
	char word[16];
	enum serial_flow flow;

	if (n >= sizeof(word))
		return "expected " X_FLOW;
	copy(word, v, n);
	if (serial_flow_parse(word, &flow, NULL, 0) < 0)
		return "expected " X_FLOW;
	s->flow = (uint8_t)flow;
	return NULL;
}

/*
 * %d and %x become the process and thread id when the server starts; any
 * other conversion would hand printf something it has no argument for.
 */
static const char *
parse_pipe(struct spec *s, const char *v, size_t n)
{
	size_t i;
	int codes = 0;

	if (n > SPEC_PIPE_MAX)
		return "expected " X_PIPE;
	for (i = 0; i < n; i++) {
		unsigned char c = v[i];

		if (is_unsafe(c) || c == '/' || c == '\\')
			return "expected " X_PIPE;
		if (c != '%')
			continue;
		c = i + 1 < n ? v[i + 1] : '\0';
		if (c == 'd' || c == 'x')
			codes++;
		else if (c != '%')
			return "expected only %d, %x or %% after %";
		i++;
	}
	if (codes > 2)
		return "expected at most two %d/%x codes (process id, thread id)";
	copy(s->pipe, v, n);
	return NULL;
}

/* server= and clicon= accept WinDbg's optional leading \\. */
static const char *
parse_host_into(char *dst, const char *v, size_t n, bool strip)
{
	size_t i;

	if (strip && n >= 2 && v[0] == '\\' && v[1] == '\\') {
		v += 2;
		n -= 2;
	}
	if (n == 0 || n > SPEC_HOST_MAX)
		return "expected " X_HOST;
	for (i = 0; i < n; i++)
		if (is_unsafe(v[i]) || v[i] == ',' || v[i] == '\\')
			return "expected " X_HOST;
	copy(dst, v, n);
	return NULL;
}

static const char *
parse_server(struct spec *s, const char *v, size_t n)
{
	return parse_host_into(s->server, v, n, true);
}

static const char *
parse_clicon(struct spec *s, const char *v, size_t n)
{
	return parse_host_into(s->clicon, v, n, true);
}

static const char *
parse_bind(struct spec *s, const char *v, size_t n)
{
	return parse_host_into(s->bind, v, n, false);
}

/* Names are resolved when the server starts (npipe_allow_parse); here
 * only the shape is checked, so a spec never carries anything else. */
static const char *
parse_allow(struct spec *s, const char *v, size_t n)
{
	if (n > SPEC_ALLOW_MAX)
		return "expected " X_ALLOW;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(v[i]) && !strchr("@:_.-", v[i]))
			return "expected " X_ALLOW;
	copy(s->allow, v, n);
	return NULL;
}

static const char *
parse_password(struct spec *s, const char *v, size_t n)
{
	size_t i;

	/* "Password=*" is how listings (.servers, -QR) say there is one: a
	 * client given it pasted asks for the password, as if it had none. */
	if (s->side == SPEC_CLIENT && n == 1 && v[0] == '*')
		return NULL;
	if (n > SPEC_PASSWORD_MAX)
		return "expected " X_PASSWORD;
	for (i = 0; i < n; i++)
		if (!is_alnum(v[i]))
			return "expected " X_PASSWORD;
	copy(s->password, v, n);
	s->has_password = true;
	return NULL;
}

/*
 * Only the path is checked here: the file is read once the whole spec is
 * known to be good (load_passfile), so a spec with a typo reads nothing.
 */
static const char *
parse_passfile(struct spec *s, const char *v, size_t n)
{
	size_t i;

	if (n > SPEC_PATH_MAX)
		return "expected " X_PASSFILE;
	for (i = 0; i < n; i++)
		if (is_ctrl(v[i]))
			return "expected " X_PASSFILE;
	copy(s->passfile, v, n);
	return NULL;
}

/* The portable name syntax: what a shell can export. */
static const char *
parse_passenv(struct spec *s, const char *v, size_t n)
{
	size_t i;

	if (n > SPEC_ENV_NAME_MAX || (v[0] >= '0' && v[0] <= '9'))
		return "expected " X_PASSENV;
	for (i = 0; i < n; i++)
		if (!is_alnum(v[i]) && v[i] != '_')
			return "expected " X_PASSENV;
	copy(s->passenv, v, n);
	return NULL;
}

/*
 * Only TLS is left of the S-Channel protocols; the others are named so that
 * a WinDbg user is told why rather than "unknown".
 */
static const char *
parse_proto(struct spec *s, const char *v, size_t n)
{
	if (eq("tls1", v, n))
		return NULL;
	if (eq("pct1", v, n) || eq("ssl2", v, n) || eq("ssl3", v, n))
		return "refused, only " X_PROTO " is supported";
	return "expected " X_PROTO;
}

/* CERT names a file in a certificate directory: no way out of it. */
static const char *
parse_cert(struct spec *s, const char *v, size_t n, enum spec_cert_store store)
{
	size_t i;

	if (n > SPEC_CERT_MAX || v[0] == '.')
		return "expected " X_CERT;
	for (i = 0; i < n; i++)
		if (is_ctrl(v[i]) || v[i] == '"' || v[i] == '\'' ||
		    v[i] == '/' || v[i] == '\\')
			return "expected " X_CERT;
	copy(s->cert, v, n);
	s->cert_store = store;
	return NULL;
}

static const char *
parse_certuser(struct spec *s, const char *v, size_t n)
{
	return parse_cert(s, v, n, SPEC_CERT_USER);
}

static const char *
parse_machuser(struct spec *s, const char *v, size_t n)
{
	return parse_cert(s, v, n, SPEC_CERT_MACHINE);
}

/* As `openssl x509 -fingerprint -sha256` prints it, or as ringside does. */
static const char *
parse_fingerprint(struct spec *s, const char *v, size_t n)
{
	char buf[3 * SPEC_FP_LEN + 16];

	if (n >= sizeof(buf))
		return "expected " X_FP;
	copy(buf, v, n);
	if (tls_fp_parse(buf, s->fingerprint) < 0)
		return "expected " X_FP;
	s->has_fingerprint = true;
	return NULL;
}

static const char *
parse_ipversion(struct spec *s, const char *v, size_t n)
{
	if (eq("4", v, n))
		s->ipversion = 4;
	else if (eq("6", v, n))
		s->ipversion = 6;
	else
		return "expected " X_IPVERSION;
	return NULL;
}

#define FLAG(f)	.flag = offsetof(struct spec, f)

static const struct key keys[K_COUNT] = {
	[K_PROTO]     = { "proto",     T_TLS, T_TLS, parse_proto,    .expect = X_PROTO },
	[K_CERTUSER]  = { "certuser",  T_TLS, T_TLS, parse_certuser, .expect = X_CERT },
	[K_MACHUSER]  = { "machuser",  T_TLS, T_TLS, parse_machuser, .expect = X_CERT },
	[K_SERVER]    = { "server",    0, T_NET | T_PIPE, parse_server, .expect = X_HOST },
	[K_PORT]      = { "port",      T_NET, T_NET, parse_port,     .expect = X_PORT },
	[K_COMPORT]   = { "port",      T_COM, T_COM, parse_com_port, .expect = X_COMPORT },
	[K_PIPE]      = { "pipe",      T_PIPE, T_PIPE, parse_pipe,   .expect = X_PIPE },
	[K_BAUD]      = { "baud",      T_COM, T_COM, parse_baud,     .expect = X_BAUD },
	[K_CHANNEL]   = { "channel",   T_COM, T_COM, parse_channel,  .expect = X_CHANNEL },
	[K_PASSWORD]  = { "password",  T_ALL, T_ALL, parse_password, .expect = X_PASSWORD,
			  .secret = true },
	[K_PASSFILE]  = { "passfile",  T_ALL, T_ALL, parse_passfile, .expect = X_PASSFILE },
	[K_PASSENV]   = { "passenv",   T_ALL, T_ALL, parse_passenv,  .expect = X_PASSENV },
	/* com takes the same string on both sides, hidden included. */
	[K_HIDDEN]    = { "hidden",    T_ALL, T_COM, NULL, FLAG(hidden) },
	[K_CLICON]    = { "clicon",    T_NET, T_NET, parse_clicon,   .expect = X_HOST },
	[K_IPVERSION] = { "ipversion", T_NET, 0, parse_ipversion,    .expect = X_IPVERSION },
	[K_ICFENABLE] = { "IcfEnable", T_TCP | T_NPIPE, 0, NULL, FLAG(icf_enable) },
	[K_BIND]      = { "bind",      T_NET, 0, parse_bind,         .expect = X_HOST },
	[K_READONLY]  = { "readonly",  T_ALL, 0, NULL, FLAG(readonly) },
	[K_ALLOW]     = { "allow",     T_PIPE, 0, parse_allow,       .expect = X_ALLOW },
	[K_FINGERPRINT] = { "fingerprint", 0, T_TLS, parse_fingerprint, .expect = X_FP },
	/* Extensions: a terminal on the far end instead of channels, and the
	 * line's flow control. */
	[K_RAW]       = { "raw",       T_COM, 0, NULL, FLAG(raw) },
	[K_FLOW]      = { "flow",      T_COM, T_COM, parse_flow,     .expect = X_FLOW },
};

static bool
key_allowed(const struct key *k, enum spec_side side, enum spec_transport t)
{
	return ((side == SPEC_SERVER ? k->server : k->client) & TM(t)) != 0;
}

/* "port, password, hidden": the keys SIDE accepts for the spec's transport. */
static const char *
key_list(const struct spec *s, char *buf, size_t len)
{
	size_t i, pos = 0;

	buf[0] = '\0';
	for (i = 0; i < K_COUNT && pos < len; i++) {
		if (!key_allowed(&keys[i], s->side, s->transport))
			continue;
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s",
		    pos ? ", " : "", keys[i].name);
	}
	return buf;
}

/* The key named NAME for this transport and side; errors when there is none. */
static const struct key *
find_key(struct parse *p, const char *name, size_t n)
{
	enum spec_side other = p->s->side == SPEC_SERVER ? SPEC_CLIENT : SPEC_SERVER;
	char shown[ECHO_MAX + 4], list[256];
	const char *where = NULL;
	size_t i;

	for (i = 0; i < K_COUNT; i++) {
		if (!eq(keys[i].name, name, n))
			continue;
		if (key_allowed(&keys[i], p->s->side, p->s->transport))
			return &keys[i];
		if (key_allowed(&keys[i], other, p->s->transport))
			where = other == SPEC_CLIENT ? "-remote" : "-server/.server";
	}
	key_list(p->s, list, sizeof(list));
	if (where)
		fail(p, "%s: key \"%s\" is only valid with %s (expected one of: %s)",
		    p->tname, echo(shown, name, n), where, list);
	else
		fail(p, "%s: unknown key \"%s\" (expected one of: %s)",
		    p->tname, echo(shown, name, n), list);
	return NULL;
}

/* One "key" or "key=value" item, N bytes at ITEM. */
static bool
apply_item(struct parse *p, const char *item, size_t n)
{
	const char *eqs = memchr(item, '=', n), *v, *why;
	size_t keyn = eqs ? (size_t)(eqs - item) : n, vn;
	const struct key *k;
	char shown[ECHO_MAX + 4];

	if ((k = find_key(p, item, keyn)) == NULL)
		return false;
	if (p->seen & (1u << (k - keys)))
		return fail(p, "%s: %s given twice", p->tname, k->name);
	p->seen |= 1u << (k - keys);

	if (k->parse == NULL) {
		if (eqs)
			return fail(p, "%s: %s takes no value (write \"%s\" alone)",
			    p->tname, k->name, k->name);
		*(bool *)((char *)p->s + k->flag) = true;
		return true;
	}
	if (eqs == NULL)
		return fail(p, "%s: %s needs a value (expected %s)",
		    p->tname, k->name, k->expect);
	v = eqs + 1;
	vn = n - keyn - 1;
	if (vn == 0)
		return fail(p, "%s: %s= is empty (expected %s)",
		    p->tname, k->name, k->expect);
	if ((why = k->parse(p->s, v, vn)) == NULL)
		return true;
	if (k->secret)
		return fail(p, "%s: %s: %s", p->tname, k->name, why);
	return fail(p, "%s: %s=%s: %s", p->tname, k->name, echo(shown, v, vn), why);
}

/* Splits TEXT at commas; an empty item is always a mistake. */
static bool
apply_items(struct parse *p, const char *text)
{
	const char *cur = text, *end;

	if (*cur == '\0')
		return true;
	for (;;) {
		end = strchrnul(cur, ',');
		if (end == cur)
			return *end ? fail(p, "%s: empty key between commas", p->tname) :
			    fail(p, "%s: trailing comma after the last key", p->tname);
		if (!apply_item(p, cur, (size_t)(end - cur)))
			return false;
		if (*end == '\0')
			return true;
		cur = end + 1;
	}
}

/* ---- per-transport requirements, checked once every key is in ---- */

static bool
has(const struct parse *p, enum key_id k)
{
	return (p->seen & (1u << k)) != 0;
}

static bool
require(struct parse *p, enum key_id k)
{
	if (has(p, k))
		return true;
	return fail(p, "%s: missing %s= (%s)", p->tname, keys[k].name, keys[k].expect);
}

static bool
check_net(struct parse *p)
{
	const struct spec *s = p->s;
	bool range = s->port_lo != s->port_hi;

	if (s->side == SPEC_SERVER) {
		if (!require(p, K_PORT))
			return false;
		if (!has(p, K_CLICON))
			return true;
		/* A reverse server dials one port and is never listed. */
		if (range)
			return fail(p, "%s: port=%u:%u: expected a single port with clicon= (the server dials out)",
			    p->tname, s->port_lo, s->port_hi);
		if (s->hidden)
			return fail(p, "%s: hidden is not allowed with clicon= (a reverse server is never listed)",
			    p->tname);
		if (has(p, K_BIND))
			return fail(p, "%s: bind= is not allowed with clicon= (the server dials out)",
			    p->tname);
		return true;
	}
	if (has(p, K_SERVER) && has(p, K_CLICON))
		return fail(p, "%s: server= and clicon= together: expected one of them", p->tname);
	if (!has(p, K_SERVER) && !has(p, K_CLICON))
		return fail(p, "%s: missing server= (the host to connect to) or clicon= (the server that dials in)",
		    p->tname);
	if (!require(p, K_PORT))
		return false;
	/* Only a listening client may take a range, like a listening server. */
	if (has(p, K_SERVER) && range)
		return fail(p, "%s: port=%u:%u: expected a single port with server=",
		    p->tname, s->port_lo, s->port_hi);
	return true;
}

static bool
check_pipe(struct parse *p)
{
	if (p->s->side == SPEC_CLIENT && !require(p, K_SERVER))
		return false;
	return require(p, K_PIPE);
}

static bool
check_com(struct parse *p)
{
	if (!require(p, K_COMPORT) || !require(p, K_BAUD))
		return false;
	if (p->s->raw) {
		if (has(p, K_CHANNEL))
			return fail(p, "%s: raw and channel= together: a raw line carries one unframed server, without channels",
			    p->tname);
		return true;
	}
	if (p->s->flow == SERIAL_FLOW_XONXOFF)
		return fail(p, "%s: flow=xonxoff needs raw: the line would eat the 0x11 and 0x13 bytes of framed channels (use rtscts or none)",
		    p->tname);
	return require(p, K_CHANNEL);
}

static bool
check_tls(struct parse *p)
{
	if (!require(p, K_PROTO))
		return false;
	if (has(p, K_CERTUSER) && has(p, K_MACHUSER))
		return fail(p, "%s: certuser= and machuser= together: expected exactly one",
		    p->tname);
	if (p->s->side == SPEC_CLIENT) {
		/* One way to know the server: its certificate, its
		 * fingerprint, or known_servers when neither is given. */
		if (has(p, K_FINGERPRINT) && (has(p, K_CERTUSER) || has(p, K_MACHUSER)))
			return fail(p, "%s: %s= and fingerprint= together: expected one of them",
			    p->tname, has(p, K_CERTUSER) ? "certuser" : "machuser");
		return true;
	}
	if (!has(p, K_CERTUSER) && !has(p, K_MACHUSER))
		return fail(p, "%s: missing certuser= or machuser= (%s)", p->tname, X_CERT);
	return true;
}

static bool
check_ssl(struct parse *p)
{
	return check_tls(p) && check_net(p);
}

static bool
check_spipe(struct parse *p)
{
	return check_tls(p) && check_pipe(p);
}

/* ---- the password from a file or the environment ---- */

/* Up to LEN bytes, fewer only at the end of the file. */
static int
read_full(int fd, char *buf, size_t len, size_t *got)
{
	ssize_t r;

	*got = 0;
	while (*got < len) {
		r = read(fd, buf + *got, len - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/*
 * The first line of the passfile becomes the password.  stat() comes first
 * so that only a regular file is ever opened: opening a FIFO waits for a
 * writer, and opening a device may act on it (a serial line raises DTR).
 * Should the path change in between, O_NONBLOCK keeps a FIFO from blocking
 * the open and fstat() refuses what was opened.  Symbolic links are followed, as for any configuration file;
 * secret stores commonly hand out links.  Errors name the file, never what
 * is in it.
 */
static bool
load_passfile(struct parse *p)
{
	struct spec *s = p->s;
	char shown[ECHO_MAX + 4], line[PASSFILE_READ_MAX];
	const char *nl;
	struct stat st;
	size_t got, n;
	bool ok;
	int fd, res;

	echo(shown, s->passfile, strlen(s->passfile));
	if (stat(s->passfile, &st) < 0)
		return fail(p, "%s: passfile=%s: cannot open: %s", p->tname, shown,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(p, "%s: passfile=%s: not a regular file", p->tname, shown);
	fd = open(s->passfile, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail(p, "%s: passfile=%s: cannot open: %s", p->tname, shown,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(p, "%s: passfile=%s: not a regular file", p->tname, shown);
	}
	res = read_full(fd, line, sizeof(line), &got);
	close(fd);
	if (res < 0) {
		explicit_bzero(line, sizeof(line));
		return fail(p, "%s: passfile=%s: cannot read: %s", p->tname, shown,
		    strerror(-res));
	}
	nl = memchr(line, '\n', got);
	n = nl ? (size_t)(nl - line) : got;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	ok = n > 0 && parse_password(s, line, n) == NULL;
	explicit_bzero(line, sizeof(line));
	if (!ok)
		return fail(p, "%s: passfile=%s: the first line is not a password (%s)",
		    p->tname, shown, X_PASSWORD);
	if (st.st_mode & PASSFILE_SHARED_BITS)
		snprintf(s->password_warning, sizeof(s->password_warning),
		    "%s: passfile=%s: other users can read or change the file (mode %04o, chmod go-rw fixes that)",
		    p->tname, shown, (unsigned)(st.st_mode & 07777));
	return true;
}

/* Errors name the variable, never its value. */
static bool
load_passenv(struct parse *p)
{
	struct spec *s = p->s;
	const char *value = getenv(s->passenv);
	size_t n;

	if (value == NULL)
		return fail(p, "%s: passenv=%s: $%s is not set", p->tname, s->passenv,
		    s->passenv);
	n = strlen(value);
	if (n == 0 || parse_password(s, value, n) != NULL)
		return fail(p, "%s: passenv=%s: $%s is not a password (%s)", p->tname,
		    s->passenv, s->passenv, X_PASSWORD);
	return true;
}

/*
 * A password has one source.  Checked after the transport's own rules, so
 * that no file is read and no variable looked at for a spec that is wrong
 * anyway.
 */
static bool
load_password(struct parse *p)
{
	static const enum key_id sources[] = { K_PASSWORD, K_PASSFILE, K_PASSENV };
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(sources); i++)
		for (j = i + 1; j < ARRAY_SIZE(sources); j++)
			if (has(p, sources[i]) && has(p, sources[j]))
				return fail(p, "%s: %s= and %s= together: expected one of them",
				    p->tname, keys[sources[i]].name, keys[sources[j]].name);
	if (has(p, K_PASSFILE))
		return load_passfile(p);
	if (has(p, K_PASSENV))
		return load_passenv(p);
	return true;
}

static const struct transport {
	const char *name;
	bool (*check)(struct parse *);
} transports[] = {
	[SPEC_TCP]   = { "tcp",   check_net },
	[SPEC_NPIPE] = { "npipe", check_pipe },
	[SPEC_COM]   = { "com",   check_com },
	[SPEC_SSL]   = { "ssl",   check_ssl },
	[SPEC_SPIPE] = { "spipe", check_spipe },
};

const char *
spec_transport_name(enum spec_transport t)
{
	if ((unsigned)t >= ARRAY_SIZE(transports))
		return "?";
	return transports[t].name;
}

/* The transport name before the first ':'; *REST is what follows it. */
static bool
parse_transport(struct parse *p, const char *text, const char **rest)
{
	char shown[ECHO_MAX + 4];
	const char *colon;
	size_t i, n;

	if (text == NULL || *text == '\0')
		return fail(p, "empty spec (expected e.g. tcp:port=5005)");
	if ((colon = strchr(text, ':')) == NULL)
		return fail(p, "missing \":\" after the transport (expected e.g. tcp:port=5005)");
	n = (size_t)(colon - text);
	for (i = 0; i < ARRAY_SIZE(transports); i++) {
		if (eq(transports[i].name, text, n)) {
			p->s->transport = (enum spec_transport)i;
			p->tname = transports[i].name;
			*rest = colon + 1;
			return true;
		}
	}
	return fail(p, "unknown transport \"%s\" (expected tcp, npipe, com, ssl or spipe)",
	    echo(shown, text, n));
}

int
spec_parse(const char *text, enum spec_side side, struct spec *out,
	   char *err, size_t errlen)
{
	struct parse p = { .s = out, .err = err, .errlen = errlen };
	const char *rest = "";

	memset(out, 0, sizeof(*out));
	out->side = side;
	if (err && errlen)
		err[0] = '\0';
	if (!parse_transport(&p, text, &rest) || !apply_items(&p, rest) ||
	    !transports[out->transport].check(&p) || !load_password(&p)) {
		explicit_bzero(out->password, sizeof(out->password));
		out->has_password = false;
		return -EINVAL;
	}
	return 0;
}

/* ---- formatting ---- */

struct out {
	char *buf;
	size_t len, pos;
	bool full;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (o->full)
		return;
	va_start(ap, fmt);
	r = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= o->len - o->pos)
		o->full = true;
	else
		o->pos += (size_t)r;
}

/*
 * Keys come out in WinDbg's capitalisation and order.  For SPEC_STYLE_REMOTE
 * with no HOST, the spec's own server=/clicon= is used, so a parsed client
 * spec formats back to itself; with neither, the host part is left out.
 */
int
spec_format(const struct spec *s, enum spec_style style, const char *host,
	    char *buf, size_t len)
{
	struct out o = { .buf = buf, .len = len, .full = buf == NULL || len == 0 };
	bool remote = style == SPEC_STYLE_REMOTE;

	if ((unsigned)s->transport >= ARRAY_SIZE(transports))
		return -EINVAL;
	if (host == NULL || *host == '\0')
		host = s->clicon[0] && s->side == SPEC_CLIENT ? s->clicon : s->server;

	put(&o, "%s:", transports[s->transport].name);
	if (s->transport == SPEC_SSL || s->transport == SPEC_SPIPE)
		put(&o, "Proto=tls1,%s=%s,",
		    s->cert_store == SPEC_CERT_MACHINE ? "MachUser" : "CertUser", s->cert);
	switch (s->transport) {
	case SPEC_TCP:
	case SPEC_SSL:
		put(&o, "Port=%u", s->port_lo);
		if (!remote && s->port_hi != s->port_lo)
			put(&o, ":%u", s->port_hi);
		break;
	case SPEC_NPIPE:
	case SPEC_SPIPE:
		put(&o, "Pipe=%s", s->pipe);
		break;
	case SPEC_COM:
		put(&o, "Port=%s,Baud=%u", s->com_name, s->baud);
		if (s->raw)
			put(&o, ",Raw");
		else
			put(&o, ",Channel=%u", s->channel);
		if (s->flow != SERIAL_FLOW_NONE)
			put(&o, ",Flow=%s", serial_flow_name((enum serial_flow)s->flow));
		break;
	}
	if (s->has_password)
		put(&o, ",Password=*");
	if (s->clicon[0]) {
		/* Reversed: the client listens for the server's host. */
		if (!remote || *host)
			put(&o, ",Clicon=%s", remote ? host : s->clicon);
	} else if (remote && s->transport != SPEC_COM && *host)
		put(&o, ",Server=%s", host);

	if (o.full) {
		if (buf && len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.pos;
}

/*
 * The value of the first password= item in TEXT, *LEN bytes long, or NULL.
 * An item starts the text or follows a colon, comma or blank, so a password
 * is found in a whole command line and in text that does not parse.  TEXT
 * itself is taken as an item start: callers resume at the end of a value,
 * which is a comma or the end of the text.
 */
static const char *
find_password(const char *text, size_t *len)
{
	static const char key[] = "password=";
	bool item_start = true;

	for (const char *p = text; *p; p++) {
		if (item_start && strncasecmp(p, key, sizeof(key) - 1) == 0) {
			p += sizeof(key) - 1;
			*len = strcspn(p, ",");
			return p;
		}
		item_start = *p == ':' || *p == ',' || *p == ' ' || *p == '\t';
	}
	return NULL;
}

/* N bytes of SRC after the *POS bytes of OUT, cut to leave room for a NUL. */
static void
append(char *out, size_t len, size_t *pos, const char *src, size_t n)
{
	if (n > len - 1 - *pos)
		n = len - 1 - *pos;
	memcpy(out + *pos, src, n);
	*pos += n;
}

void
spec_redact(const char *text, char *out, size_t len)
{
	const char *value;
	size_t pos = 0, n;

	if (len == 0)
		return;
	while ((value = find_password(text, &n)) != NULL) {
		append(out, len, &pos, text, (size_t)(value - text));
		append(out, len, &pos, "*", 1);
		text = value + n;
	}
	append(out, len, &pos, text, strlen(text));
	out[pos] = '\0';
}

void
spec_scrub(char *text)
{
	const char *value;
	size_t n;

	while ((value = find_password(text, &n)) != NULL) {
		char *writable = text + (value - text);

		memset(writable, '*', n);
		text = writable + n;
	}
}
