// SPDX-License-Identifier: MIT
/* Unit tests for src/spec.c: every spec form on both sides, every error
 * class, passwords from files and the environment, formatting for .servers
 * and the .server banner, and masking passwords in text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serial/line.h"
#include "src/spec.h"

static struct spec
parse_ok(const char *text, enum spec_side side)
{
	struct spec s;
	char err[256] = "untouched";
	int rc = spec_parse(text, side, &s, err, sizeof(err));

	if (rc != 0)
		fail_msg("\"%s\" refused: %s", text, err);
	assert_string_equal(err, "");
	assert_int_equal(s.side, side);
	return s;
}

/* A refused spec: -EINVAL and one non-empty line mentioning NEEDLE. */
static void
check_refused(const char *text, enum spec_side side, const char *needle)
{
	struct spec s;
	char err[512];
	int rc = spec_parse(text, side, &s, err, sizeof(err));

	if (rc != -EINVAL)
		fail_msg("\"%s\" accepted (rc %d)", text, rc);
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
	assert_null(strchr(err, '\r'));
	if (strstr(err, needle) == NULL)
		fail_msg("error for \"%s\" lacks \"%s\": %s", text, needle, err);
}

static void
check_error(const char *text, enum spec_side side, const char *want)
{
	struct spec s;
	char err[512];

	assert_int_equal(spec_parse(text, side, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
}

static void
check_format(const struct spec *s, enum spec_style style, const char *host,
	     const char *want)
{
	char buf[512];
	int n = spec_format(s, style, host, buf, sizeof(buf));

	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
}

/* ---- server side ---- */

static void
test_spec_tcp_server_port(void **state)
{
	struct spec s = parse_ok("tcp:port=5005", SPEC_SERVER);

	assert_int_equal(s.transport, SPEC_TCP);
	assert_int_equal(s.port_lo, 5005);
	assert_int_equal(s.port_hi, 5005);
	assert_false(s.hidden);
	assert_false(s.has_password);
	assert_int_equal(s.ipversion, 0);
	assert_string_equal(s.clicon, "");
	assert_string_equal(s.bind, "");

	s = parse_ok("tcp:port=1", SPEC_SERVER);
	assert_int_equal(s.port_lo, 1);
	s = parse_ok("tcp:port=65535", SPEC_SERVER);
	assert_int_equal(s.port_hi, 65535);
	s = parse_ok("tcp:port=005005", SPEC_SERVER);
	assert_int_equal(s.port_lo, 5005);
}

static void
test_spec_tcp_server_range(void **state)
{
	struct spec s = parse_ok("tcp:port=51:60", SPEC_SERVER);

	assert_int_equal(s.port_lo, 51);
	assert_int_equal(s.port_hi, 60);
	s = parse_ok("tcp:port=7:7", SPEC_SERVER);
	assert_int_equal(s.port_lo, 7);
	assert_int_equal(s.port_hi, 7);
	s = parse_ok("tcp:port=1:65535", SPEC_SERVER);
	assert_int_equal(s.port_lo, 1);
	assert_int_equal(s.port_hi, 65535);
}

static void
test_spec_tcp_server_every_key(void **state)
{
	struct spec s = parse_ok("tcp:port=5005,hidden,password=s3cret,ipversion=6,"
	    "IcfEnable,bind=127.0.0.1,readonly", SPEC_SERVER);

	assert_true(s.hidden);
	assert_true(s.has_password);
	assert_string_equal(s.password, "s3cret");
	assert_int_equal(s.ipversion, 6);
	assert_true(s.icf_enable);
	assert_string_equal(s.bind, "127.0.0.1");
	assert_true(s.readonly);

	s = parse_ok("tcp:port=5005,ipversion=4,bind=::1", SPEC_SERVER);
	assert_int_equal(s.ipversion, 4);
	assert_string_equal(s.bind, "::1");
}

static void
test_spec_case_insensitive_keys_values_keep_case(void **state)
{
	struct spec s = parse_ok("TCP:PORT=5005,Password=AbC123,HIDDEN,icfenable",
	    SPEC_SERVER);

	assert_int_equal(s.transport, SPEC_TCP);
	assert_string_equal(s.password, "AbC123");
	assert_true(s.hidden);
	assert_true(s.icf_enable);

	s = parse_ok("NPipe:PIPE=MyPipe", SPEC_SERVER);
	assert_string_equal(s.pipe, "MyPipe");
	s = parse_ok("Ssl:Proto=TLS1,CertUser=MyCert,Port=1", SPEC_SERVER);
	assert_string_equal(s.cert, "MyCert");
}

static void
test_spec_tcp_server_clicon(void **state)
{
	struct spec s = parse_ok("tcp:port=5005,clicon=\\\\buildbox,password=x1",
	    SPEC_SERVER);

	assert_string_equal(s.clicon, "buildbox");
	assert_int_equal(s.port_lo, 5005);
	assert_int_equal(s.port_hi, 5005);
	s = parse_ok("tcp:clicon=client.example,port=7,ipversion=6", SPEC_SERVER);
	assert_string_equal(s.clicon, "client.example");

	check_error("tcp:port=5000:5010,clicon=box", SPEC_SERVER,
	    "tcp: port=5000:5010: expected a single port with clicon= (the server dials out)");
	check_error("tcp:port=5000,clicon=box,hidden", SPEC_SERVER,
	    "tcp: hidden is not allowed with clicon= (a reverse server is never listed)");
	check_refused("tcp:hidden,clicon=box,port=5000", SPEC_SERVER, "hidden");
	check_refused("tcp:port=5000,clicon=box,bind=0.0.0.0", SPEC_SERVER, "bind");
}

static void
test_spec_npipe_server(void **state)
{
	struct spec s = parse_ok("npipe:pipe=dbg_%d", SPEC_SERVER);
	char name[SPEC_PIPE_MAX + 2];

	assert_int_equal(s.transport, SPEC_NPIPE);
	assert_string_equal(s.pipe, "dbg_%d");
	s = parse_ok("npipe:pipe=a%xb%dc,hidden,password=pw,IcfEnable,readonly", SPEC_SERVER);
	assert_string_equal(s.pipe, "a%xb%dc");
	assert_true(s.hidden && s.has_password && s.icf_enable && s.readonly);
	s = parse_ok("npipe:pipe=100%%_%d_%x", SPEC_SERVER);
	assert_string_equal(s.pipe, "100%%_%d_%x");

	memset(name, 'p', SPEC_PIPE_MAX);
	name[SPEC_PIPE_MAX] = '\0';
	{
		char text[200];

		snprintf(text, sizeof(text), "npipe:pipe=%s", name);
		s = parse_ok(text, SPEC_SERVER);
		assert_int_equal(strlen(s.pipe), SPEC_PIPE_MAX);
		snprintf(text, sizeof(text), "npipe:pipe=%sp", name);
		check_refused(text, SPEC_SERVER, "pipe=");
	}

	check_error("npipe:pipe=a b", SPEC_SERVER,
	    "npipe: pipe=a b: expected a pipe name of 1-100 characters without spaces, quotes, slashes or control characters");
	check_refused("npipe:pipe=a\"b", SPEC_SERVER, "pipe=");
	check_refused("npipe:pipe=a'b", SPEC_SERVER, "pipe=");
	check_refused("npipe:pipe=a/b", SPEC_SERVER, "pipe=");
	check_refused("npipe:pipe=a\\b", SPEC_SERVER, "pipe=");
	check_refused("npipe:pipe=a\tb", SPEC_SERVER, "pipe=");
	check_error("npipe:pipe=a%s", SPEC_SERVER,
	    "npipe: pipe=a%s: expected only %d, %x or %% after %");
	check_refused("npipe:pipe=a%", SPEC_SERVER, "pipe=a%");
	check_refused("npipe:pipe=%08x", SPEC_SERVER, "pipe=");
	check_refused("npipe:pipe=%X", SPEC_SERVER, "pipe=");
	check_error("npipe:pipe=%d%x%d", SPEC_SERVER,
	    "npipe: pipe=%d%x%d: expected at most two %d/%x codes (process id, thread id)");
	check_refused("npipe:pipe=x,port=5", SPEC_SERVER, "\"port\"");
	check_refused("npipe:pipe=x,ipversion=6", SPEC_SERVER, "\"ipversion\"");
}

static void
test_spec_com_server(void **state)
{
	struct spec s = parse_ok("com:port=COM2,baud=115200,channel=0", SPEC_SERVER);

	assert_int_equal(s.transport, SPEC_COM);
	assert_string_equal(s.com_device, "/dev/ttyS1");
	assert_string_equal(s.com_name, "COM2");
	assert_int_equal(s.baud, 115200);
	assert_int_equal(s.channel, 0);

	s = parse_ok("com:port=com1,baud=9600,channel=254,hidden,password=a", SPEC_SERVER);
	assert_string_equal(s.com_device, "/dev/ttyS0");
	assert_string_equal(s.com_name, "COM1");
	assert_int_equal(s.channel, 254);
	assert_true(s.hidden && s.has_password);

	s = parse_ok("com:port=2,baud=50,channel=7", SPEC_SERVER);
	assert_string_equal(s.com_device, "/dev/ttyS1");
	assert_string_equal(s.com_name, "2");
	assert_int_equal(s.baud, 50);

	s = parse_ok("com:port=/dev/pts/3,baud=4000000,channel=1,readonly", SPEC_SERVER);
	assert_string_equal(s.com_device, "/dev/pts/3");
	assert_string_equal(s.com_name, "/dev/pts/3");
	assert_int_equal(s.baud, 4000000);
	assert_true(s.readonly);

	check_error("com:port=COM0,baud=9600,channel=0", SPEC_SERVER,
	    "com: port=COM0: serial port \"COM0\" is not COMn, a number 1-256 or a device path (/dev/...)");
	check_refused("com:port=COM257,baud=9600,channel=0", SPEC_SERVER, "port=COM257");
	check_refused("com:port=0,baud=9600,channel=0", SPEC_SERVER, "port=0");
	check_refused("com:port=COM,baud=9600,channel=0", SPEC_SERVER, "port=COM");
	check_refused("com:port=COMx,baud=9600,channel=0", SPEC_SERVER, "port=COMx");
	check_refused("com:port=ttyS0,baud=9600,channel=0", SPEC_SERVER, "port=ttyS0");
	check_refused("com:port=/dev/tty S0,baud=9600,channel=0", SPEC_SERVER, "port=");
	check_refused("com:port=COM1,baud=0,channel=0", SPEC_SERVER, "baud=0");
	check_error("com:port=COM1,baud=4000001,channel=0", SPEC_SERVER,
	    "com: baud=4000001: expected a standard baud rate such as 9600 or 115200");
	/* Only what a tty can be set to: serial_baud_check lists the rates. */
	check_error("com:port=COM1,baud=12345,channel=0", SPEC_SERVER,
	    "com: baud=12345: unsupported baud rate 12345 (expected one of 50, 75, 110, 134, "
	    "150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, "
	    "230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, "
	    "2500000, 3000000, 3500000, 4000000)");
	check_refused("com:port=COM1,baud=1,channel=0", SPEC_SERVER, "unsupported baud rate 1 ");
	check_refused("com:port=COM1,baud=fast,channel=0", SPEC_SERVER, "baud=fast");
	check_error("com:port=COM1,baud=9600,channel=255", SPEC_SERVER,
	    "com: channel=255: expected a channel number 0-254");
	check_refused("com:port=COM1,baud=9600,channel=-1", SPEC_SERVER, "channel=-1");
	check_error("com:port=COM1,channel=0", SPEC_SERVER,
	    "com: missing baud= (a standard baud rate such as 9600 or 115200)");
	check_refused("com:baud=9600,channel=0", SPEC_SERVER, "missing port=");
	check_refused("com:port=COM1,baud=9600", SPEC_SERVER, "missing channel=");
	check_refused("com:port=COM1,baud=9600,channel=0,IcfEnable", SPEC_SERVER,
	    "\"IcfEnable\"");

	/* raw: the whole line for a terminal, no channel. */
	s = parse_ok("com:port=/dev/pts/3,baud=115200,raw,password=a", SPEC_SERVER);
	assert_true(s.raw);
	check_error("com:port=COM1,baud=9600,channel=0,raw", SPEC_SERVER,
	    "com: raw and channel= together: a raw line carries one unframed server, without channels");
	check_refused("com:port=COM1,baud=9600,raw=1", SPEC_SERVER, "raw takes no value");
	/* flow=: xonxoff only where no frame can lose its 0x11 and 0x13. */
	s = parse_ok("com:port=COM1,baud=9600,channel=2,flow=RTSCTS", SPEC_SERVER);
	assert_int_equal(s.flow, SERIAL_FLOW_RTSCTS);
	s = parse_ok("com:port=COM1,baud=9600,raw,flow=xonxoff", SPEC_SERVER);
	assert_int_equal(s.flow, SERIAL_FLOW_XONXOFF);
	check_refused("com:port=COM1,baud=9600,channel=2,flow=xonxoff", SPEC_SERVER,
	    "flow=xonxoff needs raw");
	check_error("com:port=COM1,baud=9600,channel=2,flow=hw", SPEC_SERVER,
	    "com: flow=hw: expected none, rtscts or xonxoff");
	/* A bare device name gets a hint when it exists. */
	check_refused("com:port=null,baud=9600,channel=0", SPEC_SERVER,
	    "did you mean /dev/null?");
}

static void
test_spec_ssl_server(void **state)
{
	struct spec s = parse_ok("ssl:proto=tls1,certuser=mycert,port=5005", SPEC_SERVER);

	assert_int_equal(s.transport, SPEC_SSL);
	assert_int_equal(s.cert_store, SPEC_CERT_USER);
	assert_string_equal(s.cert, "mycert");
	assert_int_equal(s.port_lo, 5005);

	s = parse_ok("ssl:proto=tls1,machuser=AB CD 01,port=10:20,hidden,password=pw,"
	    "ipversion=6,bind=10.0.0.1,readonly", SPEC_SERVER);
	assert_int_equal(s.cert_store, SPEC_CERT_MACHINE);
	assert_string_equal(s.cert, "AB CD 01");
	assert_int_equal(s.port_lo, 10);
	assert_int_equal(s.port_hi, 20);
	assert_true(s.hidden && s.has_password && s.readonly);

	s = parse_ok("ssl:proto=tls1,certuser=c,port=5005,clicon=\\\\client", SPEC_SERVER);
	assert_string_equal(s.clicon, "client");

	check_error("ssl:proto=ssl3,certuser=c,port=1", SPEC_SERVER,
	    "ssl: proto=ssl3: refused, only tls1 (TLS 1.2 or newer) is supported");
	check_refused("ssl:proto=pct1,certuser=c,port=1", SPEC_SERVER, "only tls1");
	check_refused("ssl:proto=SSL2,certuser=c,port=1", SPEC_SERVER, "only tls1");
	check_error("ssl:proto=tls13,certuser=c,port=1", SPEC_SERVER,
	    "ssl: proto=tls13: expected tls1 (TLS 1.2 or newer)");
	check_error("ssl:proto=tls1,certuser=a,machuser=b,port=1", SPEC_SERVER,
	    "ssl: certuser= and machuser= together: expected exactly one");
	check_refused("ssl:proto=tls1,port=1", SPEC_SERVER, "missing certuser= or machuser=");
	check_refused("ssl:certuser=c,port=1", SPEC_SERVER, "missing proto=");
	check_refused("ssl:proto=tls1,certuser=c", SPEC_SERVER, "missing port=");
	check_refused("ssl:proto=tls1,certuser=../../etc/x,port=1", SPEC_SERVER, "certuser=");
	check_refused("ssl:proto=tls1,certuser=.hidden,port=1", SPEC_SERVER, "certuser=");
	check_refused("ssl:proto=tls1,machuser=a\\b,port=1", SPEC_SERVER, "machuser=");
	check_refused("ssl:proto=tls1,certuser=c,port=1:2,clicon=h", SPEC_SERVER, "port=1:2");
	check_refused("ssl:proto=tls1,certuser=c,port=1,IcfEnable", SPEC_SERVER, "\"IcfEnable\"");
}

static void
test_spec_spipe_server(void **state)
{
	struct spec s = parse_ok("spipe:proto=tls1,certuser=name,pipe=x_%d", SPEC_SERVER);

	assert_int_equal(s.transport, SPEC_SPIPE);
	assert_int_equal(s.cert_store, SPEC_CERT_USER);
	assert_string_equal(s.pipe, "x_%d");
	s = parse_ok("spipe:proto=tls1,machuser=m,pipe=p,hidden,password=P4ss,readonly",
	    SPEC_SERVER);
	assert_int_equal(s.cert_store, SPEC_CERT_MACHINE);
	assert_true(s.hidden && s.has_password && s.readonly);

	check_refused("spipe:proto=tls1,certuser=c", SPEC_SERVER, "missing pipe=");
	check_refused("spipe:proto=ssl2,certuser=c,pipe=p", SPEC_SERVER, "proto=ssl2");
	check_refused("spipe:proto=tls1,pipe=p", SPEC_SERVER, "certuser=");
	check_refused("spipe:proto=tls1,certuser=c,pipe=p,port=1", SPEC_SERVER, "\"port\"");
	check_refused("spipe:proto=tls1,certuser=c,pipe=p,clicon=h", SPEC_SERVER, "\"clicon\"");
}

static void
test_spec_readonly_every_server_transport(void **state)
{
	static const char *const specs[] = {
		"tcp:port=1,readonly",
		"npipe:pipe=p,readonly",
		"com:port=1,baud=9600,channel=1,readonly",
		"ssl:proto=tls1,certuser=c,port=1,readonly",
		"spipe:proto=tls1,certuser=c,pipe=p,readonly",
	};
	size_t i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		assert_true(parse_ok(specs[i], SPEC_SERVER).readonly);
	check_refused("tcp:server=h,port=1,readonly", SPEC_CLIENT, "readonly");
}

/* ---- client side ---- */

static void
test_spec_tcp_client(void **state)
{
	struct spec s = parse_ok("tcp:server=buildbox,port=5005,password=s3cret", SPEC_CLIENT);

	assert_int_equal(s.transport, SPEC_TCP);
	assert_int_equal(s.side, SPEC_CLIENT);
	assert_string_equal(s.server, "buildbox");
	assert_int_equal(s.port_lo, 5005);
	assert_string_equal(s.password, "s3cret");

	s = parse_ok("tcp:server=\\\\box,port=1", SPEC_CLIENT);
	assert_string_equal(s.server, "box");
	s = parse_ok("tcp:clicon=\\\\srv,port=5000:5010", SPEC_CLIENT);
	assert_string_equal(s.clicon, "srv");
	assert_int_equal(s.port_lo, 5000);
	assert_int_equal(s.port_hi, 5010);

	check_error("tcp:server=a,clicon=b,port=1", SPEC_CLIENT,
	    "tcp: server= and clicon= together: expected one of them");
	check_refused("tcp:port=1", SPEC_CLIENT, "server=");
	check_refused("tcp:server=h", SPEC_CLIENT, "missing port=");
	check_error("tcp:server=h,port=1:5", SPEC_CLIENT,
	    "tcp: port=1:5: expected a single port with server=");
	check_error("tcp:server=h,port=1,hidden", SPEC_CLIENT,
	    "tcp: key \"hidden\" is only valid with -server/.server (expected one of: server, port, password, passfile, passenv, clicon)");
	check_refused("tcp:server=h,port=1,bind=x", SPEC_CLIENT, "\"bind\"");
	check_refused("tcp:server=h,port=1,ipversion=6", SPEC_CLIENT, "\"ipversion\"");
	check_error("tcp:port=1,server=h", SPEC_SERVER,
	    "tcp: key \"server\" is only valid with -remote (expected one of: port, password, passfile, passenv, hidden, clicon, ipversion, IcfEnable, bind, readonly)");
}

static void
test_spec_npipe_client(void **state)
{
	struct spec s = parse_ok("npipe:server=.,pipe=dbg_1234", SPEC_CLIENT);

	assert_int_equal(s.transport, SPEC_NPIPE);
	assert_string_equal(s.server, ".");
	assert_string_equal(s.pipe, "dbg_1234");
	s = parse_ok("npipe:pipe=x,server=\\\\otherhost,password=pw", SPEC_CLIENT);
	assert_string_equal(s.server, "otherhost");
	assert_true(s.has_password);

	check_error("npipe:pipe=x", SPEC_CLIENT,
	    "npipe: missing server= (a host name of 1-255 characters without spaces, commas, quotes or backslashes)");
	check_refused("npipe:server=.", SPEC_CLIENT, "missing pipe=");
	check_refused("npipe:server=.,pipe=x,hidden", SPEC_CLIENT, "\"hidden\"");
	check_refused("npipe:server=.,pipe=x,IcfEnable", SPEC_CLIENT, "\"IcfEnable\"");
}

static void
test_spec_com_client(void **state)
{
	struct spec s = parse_ok("com:port=COM2,baud=115200,channel=0", SPEC_CLIENT);

	assert_int_equal(s.transport, SPEC_COM);
	assert_string_equal(s.com_device, "/dev/ttyS1");
	assert_int_equal(s.baud, 115200);
	s = parse_ok("com:port=/dev/pts/9,baud=9600,channel=3,password=a1,hidden", SPEC_CLIENT);
	assert_string_equal(s.com_device, "/dev/pts/9");
	assert_int_equal(s.channel, 3);

	check_refused("com:port=COM2,baud=115200", SPEC_CLIENT, "missing channel=");
	check_refused("com:port=COM2,baud=115200,channel=0,server=h", SPEC_CLIENT, "\"server\"");
	check_refused("com:port=COM2,baud=115200,raw", SPEC_CLIENT,
	    "\"raw\" is only valid with -server/.server");
}

static void
test_spec_ssl_client(void **state)
{
	struct spec s = parse_ok("ssl:proto=tls1,certuser=c,server=h,port=5005", SPEC_CLIENT);

	assert_int_equal(s.transport, SPEC_SSL);
	assert_string_equal(s.server, "h");
	assert_int_equal(s.cert_store, SPEC_CERT_USER);
	s = parse_ok("ssl:proto=tls1,machuser=m,clicon=\\\\srv,port=1:9,password=z", SPEC_CLIENT);
	assert_string_equal(s.clicon, "srv");
	assert_int_equal(s.port_hi, 9);
	assert_int_equal(s.cert_store, SPEC_CERT_MACHINE);

	check_refused("ssl:proto=tls1,certuser=c,port=1", SPEC_CLIENT, "server=");
	check_refused("ssl:certuser=c,server=h,port=1", SPEC_CLIENT, "proto=");
	check_refused("ssl:proto=tls1,certuser=c,server=h,clicon=h,port=1", SPEC_CLIENT,
	    "clicon=");
	check_refused("ssl:proto=tls1,certuser=c,server=h,port=1,hidden", SPEC_CLIENT,
	    "\"hidden\"");
}

static void
test_spec_spipe_client(void **state)
{
	struct spec s = parse_ok("spipe:proto=tls1,certuser=c,server=.,pipe=p", SPEC_CLIENT);

	assert_int_equal(s.transport, SPEC_SPIPE);
	assert_string_equal(s.server, ".");
	assert_string_equal(s.pipe, "p");
	s = parse_ok("spipe:proto=tls1,machuser=m,server=h,pipe=p,password=pw", SPEC_CLIENT);
	assert_int_equal(s.cert_store, SPEC_CERT_MACHINE);

	check_refused("spipe:proto=tls1,certuser=c,pipe=p", SPEC_CLIENT, "missing server=");
	check_refused("spipe:proto=tls1,certuser=c,server=h", SPEC_CLIENT, "missing pipe=");
	check_refused("spipe:proto=tls1,certuser=c,server=h,pipe=p,port=1", SPEC_CLIENT,
	    "\"port\"");
}

/* A client may name no certificate (known_servers decides) or pin one by
 * its SHA-256 fingerprint; a server must name its certificate. */
static void
test_spec_tls_client_fingerprint(void **state)
{
	static const char hex[] =
	    "00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0";
	char text[512], upper[200];
	struct spec s;
	size_t i, j;

	s = parse_ok("ssl:proto=tls1,server=h,port=5005", SPEC_CLIENT);
	assert_int_equal(s.cert_store, SPEC_CERT_NONE);
	assert_false(s.has_fingerprint);
	s = parse_ok("spipe:proto=tls1,server=.,pipe=p", SPEC_CLIENT);
	assert_int_equal(s.cert_store, SPEC_CERT_NONE);
	assert_false(s.has_fingerprint);

	snprintf(text, sizeof(text), "ssl:proto=tls1,server=h,port=1,fingerprint=sha256:%s", hex);
	s = parse_ok(text, SPEC_CLIENT);
	assert_true(s.has_fingerprint);
	assert_int_equal(s.fingerprint[0], 0x00);
	assert_int_equal(s.fingerprint[10], 0xaa);
	assert_int_equal(s.fingerprint[31], 0xf0);
	/* What `openssl x509 -fingerprint -sha256` prints after its '='. */
	for (i = j = 0; hex[i]; i += 2) {
		upper[j++] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
		upper[j++] = (char)(hex[i + 1] >= 'a' ? hex[i + 1] - 32 : hex[i + 1]);
		upper[j++] = ':';
	}
	upper[j - 1] = '\0';
	snprintf(text, sizeof(text), "spipe:proto=tls1,server=.,pipe=p,FingerPrint=%s", upper);
	s = parse_ok(text, SPEC_CLIENT);
	assert_true(s.has_fingerprint);
	assert_int_equal(s.fingerprint[31], 0xf0);

	check_error("ssl:proto=tls1,server=h,port=1,fingerprint=sha256:abcd", SPEC_CLIENT,
	    "ssl: fingerprint=sha256:abcd: expected sha256:HEX, the server certificate's SHA-256 fingerprint (64 hex digits, ':' allowed)");
	snprintf(text, sizeof(text), "ssl:proto=tls1,server=h,port=1,fingerprint=%s00", hex);
	check_refused(text, SPEC_CLIENT, "fingerprint=");
	snprintf(text, sizeof(text), "ssl:proto=tls1,server=h,port=1,fingerprint=%.63sg", hex);
	check_refused(text, SPEC_CLIENT, "fingerprint=");
	snprintf(text, sizeof(text), "ssl:proto=tls1,certuser=c,server=h,port=1,fingerprint=%s", hex);
	check_error(text, SPEC_CLIENT,
	    "ssl: certuser= and fingerprint= together: expected one of them");
	snprintf(text, sizeof(text), "spipe:proto=tls1,machuser=c,server=.,pipe=p,fingerprint=%s", hex);
	check_refused(text, SPEC_CLIENT, "machuser= and fingerprint= together");
	/* Servers present a certificate; they do not pin one. */
	snprintf(text, sizeof(text), "ssl:proto=tls1,certuser=c,port=1,fingerprint=%s", hex);
	check_refused(text, SPEC_SERVER, "\"fingerprint\" is only valid with -remote");
	check_refused("ssl:proto=tls1,port=1", SPEC_SERVER, "missing certuser= or machuser=");
	check_refused("tcp:server=h,port=1,fingerprint=00", SPEC_CLIENT, "\"fingerprint\"");
}

/* ---- values shared by several keys ---- */

static void
test_spec_password_rules(void **state)
{
	struct spec s = parse_ok("tcp:port=1,password=abcdefABC123", SPEC_SERVER);

	assert_string_equal(s.password, "abcdefABC123");
	s = parse_ok("tcp:port=1,password=Z", SPEC_SERVER);
	assert_string_equal(s.password, "Z");

	check_error("tcp:port=1,password=abcdefABC1234", SPEC_SERVER,
	    "tcp: password: expected 1-12 letters and digits");
	check_error("tcp:port=1,password=", SPEC_SERVER,
	    "tcp: password= is empty (expected 1-12 letters and digits)");
	check_refused("tcp:port=1,password=pass_word", SPEC_SERVER, "password");
	check_refused("tcp:port=1,password=pass:word", SPEC_SERVER, "password");
	check_refused("tcp:port=1,password=caf\xc3\xa9", SPEC_SERVER, "password");
	check_refused("tcp:port=1,password", SPEC_SERVER, "password needs a value");
	check_error("tcp:port=1,password=a,password=b", SPEC_SERVER,
	    "tcp: password given twice");
}

static void
test_spec_password_never_echoed(void **state)
{
	static const char *const bad[] = {
		"tcp:port=1,password=Secret!!",
		"tcp:port=1,password=Secret_toolong_Secret",
		"npipe:pipe=p,password=Secret-1",
		"com:port=1,baud=9600,channel=0,password=Secret 1",
		"tcp:server=h,port=1,password=Secret.",
		"tcp:port=1,password=Secret1,password=Secret1",
		"tcp:port=1,password=Secret=1",
	};
	char err[512];
	struct spec s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum spec_side side = strstr(bad[i], "server=") ? SPEC_CLIENT : SPEC_SERVER;

		assert_int_equal(spec_parse(bad[i], side, &s, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "password"));
		if (strstr(err, "Secret") != NULL)
			fail_msg("\"%s\" echoed the password: %s", bad[i], err);
	}
}

/* ---- passfile= and passenv= ---- */

/* Files for passfile= live here: short, so that errors quote whole paths. */
static char tmpdir[] = "/tmp/rs-spec-XXXXXX";

static int
make_tmpdir(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
remove_tmpdir(void **state)
{
	return nftw(tmpdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* PATH gets tmpdir/NAME, a file holding LEN bytes of DATA with MODE. */
static void
make_file(char path[PATH_MAX], const char *name, const void *data, size_t len, mode_t mode)
{
	int fd;

	snprintf(path, PATH_MAX, "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

#define MAKE_FILE(path, name, text, mode) make_file((path), (name), (text), strlen(text), (mode))

/* TEMPLATE with PATH in place of its "%s" (not a printf format: no checks). */
static const char *
fill(char *out, size_t len, const char *template, const char *path)
{
	const char *at = strstr(template, "%s");

	assert_non_null(at);
	snprintf(out, len, "%.*s%s%s", (int)(at - template), template, path, at + 2);
	return out;
}

static struct spec
parse_file_ok(const char *template, const char *path, enum spec_side side)
{
	char text[PATH_MAX + 100];

	return parse_ok(fill(text, sizeof(text), template, path), side);
}

static void
check_file_error(const char *template, const char *path, const char *want_template)
{
	char text[PATH_MAX + 100], want[PATH_MAX + 200];

	check_error(fill(text, sizeof(text), template, path), SPEC_SERVER,
	    fill(want, sizeof(want), want_template, path));
}

static void
test_spec_passfile_first_line(void **state)
{
	static const struct {
		const char *content, *password;
	} good[] = {
		{ "Abc123\n", "Abc123" },
		{ "Abc123", "Abc123" },
		{ "Abc123\r\n", "Abc123" },
		{ "Abc123\r", "Abc123" },
		{ "Abc123\nthe rest is not read\n", "Abc123" },
		{ "abcdefABC123\r\n", "abcdefABC123" },
		{ "Z\n\n\n", "Z" },
	};
	char path[PATH_MAX];
	struct spec s;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		MAKE_FILE(path, "pw", good[i].content, 0600);
		s = parse_file_ok("tcp:port=5005,passfile=%s", path, SPEC_SERVER);
		assert_true(s.has_password);
		assert_string_equal(s.password, good[i].password);
		assert_string_equal(s.passfile, path);
		assert_string_equal(s.passenv, "");
		assert_string_equal(s.password_warning, "");
	}
	/* Both sides, any transport, any key order, any key case. */
	MAKE_FILE(path, "pw", "Cl1ent\n", 0400);
	s = parse_file_ok("tcp:passfile=%s,server=box,port=5005", path, SPEC_CLIENT);
	assert_string_equal(s.password, "Cl1ent");
	assert_string_equal(s.server, "box");
	s = parse_file_ok("npipe:pipe=p,PassFile=%s", path, SPEC_SERVER);
	assert_string_equal(s.password, "Cl1ent");
	s = parse_file_ok("com:port=1,baud=9600,channel=0,passfile=%s", path, SPEC_CLIENT);
	assert_string_equal(s.password, "Cl1ent");
}

static void
test_spec_passfile_follows_symlinks(void **state)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct spec s;

	MAKE_FILE(path, "target", "L1nked\n", 0600);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	assert_int_equal(symlink(path, link), 0);
	s = parse_file_ok("tcp:port=1,passfile=%s", link, SPEC_SERVER);
	assert_string_equal(s.password, "L1nked");
	assert_string_equal(s.passfile, link);
}

static void
test_spec_passfile_refuses_what_is_not_a_regular_file(void **state)
{
	char path[PATH_MAX];

	check_file_error("tcp:port=1,passfile=%s/missing", tmpdir,
	    "tcp: passfile=%s/missing: cannot open: No such file or directory");
	MAKE_FILE(path, "notdir", "x\n", 0600);
	check_file_error("tcp:port=1,passfile=%s/sub", path,
	    "tcp: passfile=%s/sub: cannot open: Not a directory");
	check_file_error("tcp:port=1,passfile=%s", tmpdir,
	    "tcp: passfile=%s: not a regular file");
	/* Opening a FIFO for reading would wait for a writer: never opened. */
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	check_file_error("tcp:port=1,passfile=%s", path, "tcp: passfile=%s: not a regular file");
	/* Devices would never end or never start. */
	check_error("tcp:port=1,passfile=/dev/zero", SPEC_SERVER,
	    "tcp: passfile=/dev/zero: not a regular file");
	check_error("tcp:port=1,passfile=/dev/null", SPEC_SERVER,
	    "tcp: passfile=/dev/null: not a regular file");
	check_refused("tcp:port=1,passfile=/dev/stdin", SPEC_SERVER, "passfile=/dev/stdin: ");
}

static void
test_spec_passfile_bad_first_line(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"\r\n",
		"Secret123456X\n",	/* 13 characters */
		"Secret123456X",
		"Secret12345678901234567890",
		"Secret_1\n",
		"Secret 1\n",
		" Secret1\n",
		"Secret1 \n",
		"Secret1\r\r\n",
		"Secret\xc3\xa9\n",
		"\nSecret1\n",		/* the first line is empty */
	};
	char path[PATH_MAX], text[PATH_MAX + 64], err[512];
	struct spec s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		MAKE_FILE(path, "bad", bad[i], 0600);
		snprintf(text, sizeof(text), "tcp:port=1,passfile=%s", path);
		assert_int_equal(spec_parse(text, SPEC_SERVER, &s, err, sizeof(err)), -EINVAL);
		assert_false(s.has_password);
		check_file_error("tcp:port=1,passfile=%s", path,
		    "tcp: passfile=%s: the first line is not a password (1-12 letters and digits)");
		if (strstr(err, "Secret"))
			fail_msg("file %zu echoed: %s", i, err);
	}
	/* A NUL byte ends nothing: it is not a letter or digit. */
	make_file(path, "nul", "Abc\0def\n", 8, 0600);
	check_file_error("tcp:port=1,passfile=%s", path,
	    "tcp: passfile=%s: the first line is not a password (1-12 letters and digits)");
}

static void
test_spec_passfile_shared_file_warns(void **state)
{
	static const mode_t shared[] = { 0644, 0640, 0604, 0620, 0602, 0666 };
	static const mode_t private[] = { 0600, 0400, 0700, 0500 };
	char path[PATH_MAX], want[PATH_MAX + 200];
	struct spec s;
	size_t i;

	for (i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		MAKE_FILE(path, "shared", "Sh4red\n", shared[i]);
		s = parse_file_ok("tcp:port=1,passfile=%s", path, SPEC_SERVER);
		assert_string_equal(s.password, "Sh4red");
		snprintf(want, sizeof(want),
		    "tcp: passfile=%s: other users can read or change the file (mode %04o, chmod go-rw fixes that)",
		    path, (unsigned)shared[i]);
		assert_string_equal(s.password_warning, want);
		assert_null(strstr(s.password_warning, "Sh4red"));
	}
	for (i = 0; i < sizeof(private) / sizeof(private[0]); i++) {
		MAKE_FILE(path, "private", "Pr1vate\n", private[i]);
		s = parse_file_ok("tcp:port=1,passfile=%s", path, SPEC_SERVER);
		assert_string_equal(s.password_warning, "");
	}
}

static void
test_spec_passfile_path_rules(void **state)
{
	char text[600], path[400];

	check_error("tcp:port=1,passfile=", SPEC_SERVER,
	    "tcp: passfile= is empty (expected a file path of 1-255 characters without control characters)");
	check_error("tcp:port=1,passfile", SPEC_SERVER,
	    "tcp: passfile needs a value (expected a file path of 1-255 characters without control characters)");
	check_error("tcp:port=1,passfile=a\tb", SPEC_SERVER,
	    "tcp: passfile=a?b: expected a file path of 1-255 characters without control characters");
	memset(path, 'p', 256);
	path[256] = '\0';
	snprintf(text, sizeof(text), "tcp:port=1,passfile=%s", path);
	check_refused(text, SPEC_SERVER, "expected a file path of 1-255 characters");
	/* 255 characters is a valid path, just not an existing one. */
	path[255] = '\0';
	snprintf(text, sizeof(text), "tcp:port=1,passfile=%s", path);
	check_refused(text, SPEC_SERVER, ": cannot open: ");
	check_error("tcp:port=1,passfile=a,passfile=b", SPEC_SERVER, "tcp: passfile given twice");
}

/* Where the variable is read, the spec is otherwise good. */
static void
test_spec_passenv(void **state)
{
	struct spec s;

	assert_int_equal(setenv("RS_TEST_PW", "Env123", 1), 0);
	s = parse_ok("tcp:port=5005,passenv=RS_TEST_PW", SPEC_SERVER);
	assert_true(s.has_password);
	assert_string_equal(s.password, "Env123");
	assert_string_equal(s.passenv, "RS_TEST_PW");
	assert_string_equal(s.passfile, "");
	assert_string_equal(s.password_warning, "");
	s = parse_ok("tcp:server=h,port=1,PASSENV=RS_TEST_PW", SPEC_CLIENT);
	assert_string_equal(s.password, "Env123");
	s = parse_ok("npipe:pipe=p,passenv=RS_TEST_PW", SPEC_SERVER);
	assert_string_equal(s.password, "Env123");
	/* The name keeps its case; so does the environment. */
	assert_int_equal(setenv("rs_test_pw", "lower1", 1), 0);
	s = parse_ok("tcp:port=1,passenv=rs_test_pw", SPEC_SERVER);
	assert_string_equal(s.password, "lower1");
	assert_string_equal(s.passenv, "rs_test_pw");
	assert_int_equal(setenv("_", "Under1", 1), 0);
	s = parse_ok("tcp:port=1,passenv=_", SPEC_SERVER);
	assert_string_equal(s.password, "Under1");

	assert_int_equal(unsetenv("RS_TEST_UNSET"), 0);
	check_error("tcp:port=1,passenv=RS_TEST_UNSET", SPEC_SERVER,
	    "tcp: passenv=RS_TEST_UNSET: $RS_TEST_UNSET is not set");
	check_error("tcp:server=h,port=1,passenv=RS_TEST_UNSET", SPEC_CLIENT,
	    "tcp: passenv=RS_TEST_UNSET: $RS_TEST_UNSET is not set");
	unsetenv("rs_test_pw");
	unsetenv("RS_TEST_PW");
}

static void
test_spec_passenv_bad_value_never_echoed(void **state)
{
	static const char *const bad[] = {
		"", "Secret!!", "Secret123456X", "Secret 1", "Secret\n1", "Secret\xc3\xa9",
	};
	char err[512];
	struct spec s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("RS_TEST_BAD", bad[i], 1), 0);
		check_error("tcp:port=1,passenv=RS_TEST_BAD", SPEC_SERVER,
		    "tcp: passenv=RS_TEST_BAD: $RS_TEST_BAD is not a password (1-12 letters and digits)");
		assert_int_equal(spec_parse("tcp:port=1,passenv=RS_TEST_BAD", SPEC_SERVER, &s,
		    err, sizeof(err)), -EINVAL);
		assert_false(s.has_password);
		assert_null(strstr(err, "Secret"));
	}
	unsetenv("RS_TEST_BAD");
}

static void
test_spec_passenv_name_rules(void **state)
{
	static const char *const bad[] = {
		"1ABC", "A-B", "A B", "A.B", "A=B", "$HOME", "caf\xc3\xa9",
	};
	char text[200], name[SPEC_ENV_NAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "tcp:port=1,passenv=%s", bad[i]);
		check_refused(text, SPEC_SERVER,
		    "expected an environment variable name of 1-64 letters, digits and underscores, not starting with a digit");
	}
	check_error("tcp:port=1,passenv=1ABC", SPEC_SERVER,
	    "tcp: passenv=1ABC: expected an environment variable name of 1-64 letters, digits and underscores, not starting with a digit");
	check_refused("tcp:port=1,passenv=", SPEC_SERVER, "passenv= is empty");
	/* 64 characters are fine, 65 are not. */
	memset(name, 'N', SPEC_ENV_NAME_MAX + 1);
	name[SPEC_ENV_NAME_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "tcp:port=1,passenv=%s", name);
	check_refused(text, SPEC_SERVER, "expected an environment variable name of 1-64");
	name[SPEC_ENV_NAME_MAX] = '\0';
	assert_int_equal(setenv(name, "Long64", 1), 0);
	snprintf(text, sizeof(text), "tcp:port=1,passenv=%s", name);
	assert_string_equal(parse_ok(text, SPEC_SERVER).password, "Long64");
	unsetenv(name);
}

/* One source only; the conflict is found before any file is opened. */
static void
test_spec_password_sources_exclusive(void **state)
{
	struct spec s;
	char err[512];

	assert_int_equal(setenv("RS_TEST_PW", "Env123", 1), 0);
	check_error("tcp:port=1,password=abc,passfile=/nonexistent", SPEC_SERVER,
	    "tcp: password= and passfile= together: expected one of them");
	check_error("tcp:port=1,passenv=RS_TEST_PW,password=abc", SPEC_SERVER,
	    "tcp: password= and passenv= together: expected one of them");
	check_error("tcp:port=1,passenv=RS_TEST_PW,passfile=/nonexistent", SPEC_SERVER,
	    "tcp: passfile= and passenv= together: expected one of them");
	check_error("tcp:server=h,port=1,passfile=/x,passenv=RS_TEST_PW,password=a", SPEC_CLIENT,
	    "tcp: password= and passfile= together: expected one of them");
	/* A failed parse keeps no password. */
	assert_int_equal(spec_parse("tcp:port=1,password=Secret,passenv=RS_TEST_PW", SPEC_SERVER,
	    &s, err, sizeof(err)), -EINVAL);
	assert_false(s.has_password);
	assert_memory_equal(s.password, "\0\0\0\0\0\0\0\0\0\0\0\0", sizeof(s.password));
	/* The transport's own rules come first: nothing is read for a bad spec. */
	check_error("tcp:passfile=/nonexistent", SPEC_SERVER,
	    "tcp: missing port= (a port number 1-65535 or a range LO:HI)");
	check_refused("tcp:port=1,passenv=RS_TEST_UNSET_TOO", SPEC_CLIENT, "missing server=");
	unsetenv("RS_TEST_PW");
}

/* Whatever the source, listings and banners show Password=* and nothing else. */
static void
test_spec_format_never_shows_password_sources(void **state)
{
	char path[PATH_MAX], text[PATH_MAX + 64], buf[512];
	struct spec s;

	MAKE_FILE(path, "fmt", "Fmt123\n", 0600);
	assert_int_equal(setenv("RS_TEST_FMT", "Env456", 1), 0);
	s = parse_file_ok("tcp:port=5005,passfile=%s,hidden", path, SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "tcp:Port=5005,Password=*");
	check_format(&s, SPEC_STYLE_REMOTE, "box", "tcp:Port=5005,Password=*,Server=box");
	s = parse_ok("tcp:port=5005,passenv=RS_TEST_FMT", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "tcp:Port=5005,Password=*");
	check_format(&s, SPEC_STYLE_REMOTE, "box", "tcp:Port=5005,Password=*,Server=box");
	s = parse_file_ok("tcp:server=h,port=1,passfile=%s", path, SPEC_CLIENT);
	assert_true(spec_format(&s, SPEC_STYLE_REMOTE, NULL, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "tcp:Port=1,Password=*,Server=h");
	/* Redaction is about password= only: the path and the name are no secret. */
	snprintf(text, sizeof(text), "tcp:port=1,passfile=%s", path);
	spec_redact(text, buf, sizeof(buf));
	assert_string_equal(buf, text);
	unsetenv("RS_TEST_FMT");
}

/* ---- masking password= in text ---- */

static void
test_spec_redact(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "tcp:port=1,password=abc", "tcp:port=1,password=*" },
		{ "tcp:password=abc,port=1", "tcp:password=*,port=1" },
		{ "password=abc", "password=*" },
		{ "tcp:PassWord=abc,hidden,PASSWORD=d", "tcp:PassWord=*,hidden,PASSWORD=*" },
		{ ".server tcp:port=1,password=a b c,hidden", ".server tcp:port=1,password=*,hidden" },
		{ "-server tcp:port=1\tpassword=x", "-server tcp:port=1\tpassword=*" },
		{ "tcp:port=1,password=", "tcp:port=1,password=*" },
		/* Only where an item starts. */
		{ "tcp:port=1,mypassword=abc", "tcp:port=1,mypassword=abc" },
		{ "tcp:port=1,password:abc", "tcp:port=1,password:abc" },
		{ "tcp:port=1,password", "tcp:port=1,password" },
		{ "", "" },
	};
	char out[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spec_redact(cases[i].text, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
	/* Cut to the buffer, still terminated, never overrun. */
	memset(out, 'X', sizeof(out));
	spec_redact("tcp:port=1,password=abc", out, 16);
	assert_string_equal(out, "tcp:port=1,pass");
	assert_int_equal(out[16], 'X');
	spec_redact("tcp:port=1,password=abc", out, 22);
	assert_string_equal(out, "tcp:port=1,password=*");
	spec_redact("tcp:port=1,password=abc", out, 21);
	assert_string_equal(out, "tcp:port=1,password=");
	memset(out, 'X', sizeof(out));
	spec_redact("anything", out, 1);
	assert_int_equal(out[0], '\0');
	assert_int_equal(out[1], 'X');
	spec_redact("anything", out, 0);
	assert_int_equal(out[0], '\0');
}

static void
test_spec_scrub_in_place(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "tcp:port=1,password=abc123", "tcp:port=1,password=******" },
		{ "tcp:Password=a,port=1,PASSWORD=bcdefghijklm",
		  "tcp:Password=*,port=1,PASSWORD=************" },
		{ "password=x y,hidden", "password=***,hidden" },
		{ "tcp:port=1,password=", "tcp:port=1,password=" },
		{ "tcp:port=1,mypassword=abc", "tcp:port=1,mypassword=abc" },
		{ "tcp:port=1,passfile=/p,passenv=P", "tcp:port=1,passfile=/p,passenv=P" },
		{ "", "" },
	};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s", cases[i].text);
		spec_scrub(text);
		assert_string_equal(text, cases[i].want);
	}
}

static void
test_spec_host_values(void **state)
{
	char text[600], host[300];
	struct spec s;

	memset(host, 'h', SPEC_HOST_MAX);
	host[SPEC_HOST_MAX] = '\0';
	snprintf(text, sizeof(text), "tcp:server=%s,port=1", host);
	s = parse_ok(text, SPEC_CLIENT);
	assert_int_equal(strlen(s.server), SPEC_HOST_MAX);
	snprintf(text, sizeof(text), "tcp:server=\\\\%s,port=1", host);
	s = parse_ok(text, SPEC_CLIENT);
	assert_int_equal(strlen(s.server), SPEC_HOST_MAX);
	snprintf(text, sizeof(text), "tcp:server=%sh,port=1", host);
	check_refused(text, SPEC_CLIENT, "server=");
	snprintf(text, sizeof(text), "tcp:port=1,bind=%sh", host);
	check_refused(text, SPEC_SERVER, "bind=");

	check_error("tcp:server=a b,port=1", SPEC_CLIENT,
	    "tcp: server=a b: expected a host name of 1-255 characters without spaces, commas, quotes or backslashes");
	check_refused("tcp:server=\\\\,port=1", SPEC_CLIENT, "server=");
	check_refused("tcp:server=\\\\\\\\x,port=1", SPEC_CLIENT, "server=");
	check_refused("tcp:server=a\"b,port=1", SPEC_CLIENT, "server=");
	check_refused("tcp:clicon=a'b,port=1", SPEC_CLIENT, "clicon=");
	check_refused("tcp:port=1,bind=\\\\h", SPEC_SERVER, "bind=");
	check_refused("tcp:port=1,bind=a\x01", SPEC_SERVER, "bind=");
}

static void
test_spec_port_values(void **state)
{
	check_error("tcp:port=abc", SPEC_SERVER,
	    "tcp: port=abc: expected a port number 1-65535 or a range LO:HI");
	check_refused("tcp:port=0", SPEC_SERVER, "port=0");
	check_refused("tcp:port=65536", SPEC_SERVER, "port=65536");
	check_refused("tcp:port=99999999999999999999", SPEC_SERVER, "port=");
	check_refused("tcp:port=-1", SPEC_SERVER, "port=-1");
	check_refused("tcp:port=+5", SPEC_SERVER, "port=+5");
	check_refused("tcp:port= 5", SPEC_SERVER, "port=");
	check_refused("tcp:port=5005x", SPEC_SERVER, "port=5005x");
	check_refused("tcp:port=:5", SPEC_SERVER, "port=:5");
	check_refused("tcp:port=5:", SPEC_SERVER, "port=5:");
	check_refused("tcp:port=0:5", SPEC_SERVER, "port=0:5");
	check_refused("tcp:port=1:2:3", SPEC_SERVER, "port=1:2:3");
	check_error("tcp:port=60:53", SPEC_SERVER,
	    "tcp: port=60:53: expected LO <= HI in a port range LO:HI");
	check_refused("tcp:port=1,ipversion=5", SPEC_SERVER, "ipversion=5");
}

/* ---- errors ---- */

static void
test_spec_error_exact_text(void **state)
{
	check_error("", SPEC_SERVER, "empty spec (expected e.g. tcp:port=5005)");
	check_error("port=5005", SPEC_SERVER,
	    "missing \":\" after the transport (expected e.g. tcp:port=5005)");
	check_error("udp:port=5005", SPEC_SERVER,
	    "unknown transport \"udp\" (expected tcp, npipe, com, ssl or spipe)");
	check_error("tcp:port=5005,foo=1", SPEC_SERVER,
	    "tcp: unknown key \"foo\" (expected one of: port, password, passfile, passenv, hidden, clicon, ipversion, IcfEnable, bind, readonly)");
	check_error("ssl:proto=tls1,cert=x", SPEC_SERVER,
	    "ssl: unknown key \"cert\" (expected one of: proto, certuser, machuser, port, password, passfile, passenv, hidden, clicon, ipversion, bind, readonly)");
	check_error("tcp:port=1,PORT=2", SPEC_SERVER, "tcp: port given twice");
	check_error("tcp:port=", SPEC_SERVER,
	    "tcp: port= is empty (expected a port number 1-65535 or a range LO:HI)");
	check_error("tcp:port", SPEC_SERVER,
	    "tcp: port needs a value (expected a port number 1-65535 or a range LO:HI)");
	check_error("tcp:port=1,hidden=1", SPEC_SERVER,
	    "tcp: hidden takes no value (write \"hidden\" alone)");
	check_error("tcp:port=1,", SPEC_SERVER, "tcp: trailing comma after the last key");
	check_error("tcp:port=1,,hidden", SPEC_SERVER, "tcp: empty key between commas");
	check_error("tcp:,port=1", SPEC_SERVER, "tcp: empty key between commas");
	check_error("tcp:", SPEC_SERVER,
	    "tcp: missing port= (a port number 1-65535 or a range LO:HI)");
	check_error("npipe:", SPEC_SERVER,
	    "npipe: missing pipe= (a pipe name of 1-100 characters without spaces, quotes, slashes or control characters)");
	check_error("tcp:server=h,clicon=h", SPEC_CLIENT,
	    "tcp: server= and clicon= together: expected one of them");
	check_error("tcp:port=1", SPEC_CLIENT,
	    "tcp: missing server= (the host to connect to) or clicon= (the server that dials in)");
	check_error("ssl:proto=tls1,port=1", SPEC_SERVER,
	    "ssl: missing certuser= or machuser= (a certificate name or SHA-1 thumbprint without quotes, slashes or a leading dot)");
}

/* Every error class: one non-empty line that names the key (or transport). */
static void
test_spec_every_error_is_one_line_naming_the_key(void **state)
{
	static const struct {
		const char *text;
		enum spec_side side;
		const char *needle;
	} cases[] = {
		{ "", SPEC_SERVER, "empty spec" },
		{ "tcp", SPEC_SERVER, "\":\"" },
		{ "TCP port=5", SPEC_CLIENT, "\":\"" },
		{ "x:port=1", SPEC_SERVER, "\"x\"" },
		{ ":port=1", SPEC_SERVER, "unknown transport \"\"" },
		{ "tcpx:port=1", SPEC_SERVER, "\"tcpx\"" },
		{ "tcp:prot=1", SPEC_SERVER, "\"prot\"" },
		{ "tcp:=1", SPEC_SERVER, "unknown key \"\"" },
		{ "tcp: port=1", SPEC_SERVER, "\" port\"" },
		{ "tcp:port=1,port=1", SPEC_SERVER, "port given twice" },
		{ "tcp:port=1,hidden,Hidden", SPEC_SERVER, "hidden given twice" },
		{ "tcp:port=1,bind=", SPEC_SERVER, "bind= is empty" },
		{ "tcp:port=1,clicon", SPEC_SERVER, "clicon needs a value" },
		{ "tcp:port=1,IcfEnable=yes", SPEC_SERVER, "IcfEnable takes no value" },
		{ "tcp:port=1,readonly=", SPEC_SERVER, "readonly takes no value" },
		{ "tcp:port=1,hidden,", SPEC_SERVER, "trailing comma" },
		{ "npipe:pipe=a,,", SPEC_SERVER, "empty key" },
		{ "npipe:pipe=a b", SPEC_SERVER, "pipe=a b" },
		{ "npipe:pipe=x", SPEC_CLIENT, "server=" },
		{ "com:port=COM1,baud=9600,channel=x", SPEC_SERVER, "channel=x" },
		{ "com:port=COM1,baud=,channel=0", SPEC_SERVER, "baud=" },
		{ "ssl:proto=tls1,certuser=a,machuser=b,port=1", SPEC_SERVER, "machuser=" },
		{ "ssl:proto=tls1,certuser=,port=1", SPEC_SERVER, "certuser=" },
		{ "ssl:proto=,certuser=c,port=1", SPEC_SERVER, "proto=" },
		{ "ssl:proto=tls1,certuser=c,port=1,clicon=h,hidden", SPEC_SERVER, "hidden" },
		{ "spipe:proto=tls1,certuser=c,pipe=a%q", SPEC_SERVER, "pipe=a%q" },
		{ "tcp:port=1,password=!", SPEC_SERVER, "password" },
		{ "tcp:server=h,port=1,clicon=h", SPEC_CLIENT, "clicon=" },
		{ "tcp:server=h,port=1:2", SPEC_CLIENT, "port=1:2" },
		{ "tcp:port=1,ipversion=", SPEC_SERVER, "ipversion=" },
		{ "tcp:port=1,pipe=x", SPEC_SERVER, "\"pipe\"" },
		{ "com:port=1,baud=9600,channel=1,clicon=h", SPEC_SERVER, "\"clicon\"" },
		{ "tcp:port=1\nhidden", SPEC_SERVER, "port=1?hidden" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_refused(cases[i].text, cases[i].side, cases[i].needle);
}

static void
test_spec_error_echo_is_cut_and_sanitised(void **state)
{
	char text[300], err[512];
	struct spec s;

	snprintf(text, sizeof(text), "tcp:port=%s", "0123456789012345678901234567890123456789EXTRA");
	assert_int_equal(spec_parse(text, SPEC_SERVER, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
	    "tcp: port=0123456789012345678901234567890123456789...: expected a port number 1-65535 or a range LO:HI");

	assert_int_equal(spec_parse("tcp:port=5\r\x1b[2J", SPEC_SERVER, &s, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err,
	    "tcp: port=5??[2J: expected a port number 1-65535 or a range LO:HI");

	assert_int_equal(spec_parse("bad\nname:port=1", SPEC_SERVER, &s, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "\"bad?name\""));
}

static void
test_spec_error_truncated_to_errlen(void **state)
{
	char err[16];
	struct spec s;

	memset(err, 'X', sizeof(err));
	assert_int_equal(spec_parse("udp:port=1", SPEC_SERVER, &s, err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'X');

	memset(err, 'X', sizeof(err));
	assert_int_equal(spec_parse("udp:port=1", SPEC_SERVER, &s, err, 8), -EINVAL);
	assert_string_equal(err, "unknown");
	assert_int_equal(err[8], 'X');

	memset(err, 'X', sizeof(err));
	assert_int_equal(spec_parse("tcp:foo", SPEC_SERVER, &s, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);

	/* No buffer at all is allowed. */
	assert_int_equal(spec_parse("tcp:foo", SPEC_SERVER, &s, NULL, 0), -EINVAL);
	assert_int_equal(spec_parse("tcp:port=1", SPEC_SERVER, &s, NULL, 0), 0);

	/* Success clears a stale error. */
	strcpy(err, "stale");
	assert_int_equal(spec_parse("tcp:port=1", SPEC_SERVER, &s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

/* ---- formatting ---- */

static void
test_spec_format_listing(void **state)
{
	struct spec s;

	s = parse_ok("tcp:port=5005", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "tcp:Port=5005");
	s = parse_ok("tcp:port=51:60", SPEC_SERVER);
	s.port_lo = 53;
	check_format(&s, SPEC_STYLE_LISTING, NULL, "tcp:Port=53:60");
	s = parse_ok("tcp:port=5005,password=s3cret,hidden,ipversion=6", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "tcp:Port=5005,Password=*");
	s = parse_ok("tcp:port=5005,clicon=\\\\client", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "tcp:Port=5005,Clicon=client");
	s = parse_ok("npipe:pipe=x,password=pw", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "npipe:Pipe=x,Password=*");
	s = parse_ok("npipe:pipe=dbg_%d", SPEC_SERVER);
	strcpy(s.pipe, "dbg_4242");
	check_format(&s, SPEC_STYLE_LISTING, NULL, "npipe:Pipe=dbg_4242");
	s = parse_ok("com:port=com2,baud=115200,channel=0", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "com:Port=COM2,Baud=115200,Channel=0");
	s = parse_ok("com:port=/dev/pts/3,baud=115200,raw,flow=rtscts", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "com:Port=/dev/pts/3,Baud=115200,Raw,Flow=rtscts");
	s = parse_ok("com:port=/dev/pts/3,baud=9600,channel=5,password=a", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL,
	    "com:Port=/dev/pts/3,Baud=9600,Channel=5,Password=*");
	s = parse_ok("ssl:proto=tls1,certuser=name,port=5005", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "ssl:Proto=tls1,CertUser=name,Port=5005");
	s = parse_ok("ssl:proto=TLS1,machuser=name,port=5005:5010", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL,
	    "ssl:Proto=tls1,MachUser=name,Port=5005:5010");
	s = parse_ok("spipe:proto=tls1,certuser=name,pipe=x", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_LISTING, NULL, "spipe:Proto=tls1,CertUser=name,Pipe=x");
}

static void
test_spec_format_remote(void **state)
{
	struct spec s;

	s = parse_ok("tcp:port=5005", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "box", "tcp:Port=5005,Server=box");
	s = parse_ok("tcp:port=51:60", SPEC_SERVER);
	s.port_lo = 53;
	check_format(&s, SPEC_STYLE_REMOTE, "box", "tcp:Port=53,Server=box");
	s = parse_ok("tcp:port=5005,password=s3cret", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "box", "tcp:Port=5005,Password=*,Server=box");
	s = parse_ok("tcp:port=5005,clicon=client", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "srv", "tcp:Port=5005,Clicon=srv");
	s = parse_ok("npipe:pipe=x", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "box", "npipe:Pipe=x,Server=box");
	s = parse_ok("npipe:pipe=x,password=pw", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "box", "npipe:Pipe=x,Password=*,Server=box");
	s = parse_ok("com:port=COM2,baud=115200,channel=0", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "box", "com:Port=COM2,Baud=115200,Channel=0");
	s = parse_ok("ssl:proto=tls1,certuser=name,port=5005:5009", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "box",
	    "ssl:Proto=tls1,CertUser=name,Port=5005,Server=box");
	s = parse_ok("ssl:proto=tls1,machuser=m,port=5005,clicon=c,password=p", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "srv",
	    "ssl:Proto=tls1,MachUser=m,Port=5005,Password=*,Clicon=srv");
	s = parse_ok("spipe:proto=tls1,certuser=name,pipe=x", SPEC_SERVER);
	check_format(&s, SPEC_STYLE_REMOTE, "box",
	    "spipe:Proto=tls1,CertUser=name,Pipe=x,Server=box");

	/* No host: a parsed client spec formats back to itself. */
	s = parse_ok("tcp:server=buildbox,port=5005", SPEC_CLIENT);
	check_format(&s, SPEC_STYLE_REMOTE, NULL, "tcp:Port=5005,Server=buildbox");
	s = parse_ok("tcp:clicon=srv,port=5005", SPEC_CLIENT);
	check_format(&s, SPEC_STYLE_REMOTE, "", "tcp:Port=5005,Clicon=srv");
}

/* What the banner prints must be what -remote accepts. */
static void
test_spec_format_remote_parses_as_client(void **state)
{
	static const char *const servers[] = {
		"tcp:port=5005",
		"tcp:port=51:60,hidden",
		"tcp:port=5005,clicon=client",
		"npipe:pipe=dbg",
		"com:port=COM3,baud=57600,channel=9",
		"com:port=/dev/ttyUSB0,baud=57600,channel=9",
		"ssl:proto=tls1,machuser=m,port=443",
		"spipe:proto=tls1,certuser=c,pipe=p",
	};
	char buf[256];
	struct spec s, c;
	size_t i;

	for (i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		s = parse_ok(servers[i], SPEC_SERVER);
		assert_true(spec_format(&s, SPEC_STYLE_REMOTE, "box", buf, sizeof(buf)) > 0);
		c = parse_ok(buf, SPEC_CLIENT);
		assert_int_equal(c.transport, s.transport);
		assert_int_equal(c.port_lo, s.port_lo);
		assert_string_equal(c.pipe, s.pipe);
		assert_string_equal(c.com_device, s.com_device);
		assert_string_equal(c.cert, s.cert);
		assert_int_equal(c.cert_store, s.cert_store);
	}
}

static void
test_spec_format_enospc(void **state)
{
	struct spec s = parse_ok("tcp:port=5005", SPEC_SERVER);
	char buf[32];

	/* "tcp:Port=5005" is 13 characters: 14 bytes fit, 13 do not. */
	assert_int_equal(spec_format(&s, SPEC_STYLE_LISTING, NULL, buf, 14), 13);
	assert_string_equal(buf, "tcp:Port=5005");
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(spec_format(&s, SPEC_STYLE_LISTING, NULL, buf, 13), -ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(buf[13], 'X');
	assert_int_equal(spec_format(&s, SPEC_STYLE_LISTING, NULL, NULL, 0), -ENOSPC);
	assert_int_equal(spec_format(&s, SPEC_STYLE_REMOTE, "box", buf, 20), -ENOSPC);
	assert_int_equal(spec_format(&s, SPEC_STYLE_REMOTE, "box", buf, 25), 24);
	assert_string_equal(buf, "tcp:Port=5005,Server=box");
	s.transport = (enum spec_transport)99;
	assert_int_equal(spec_format(&s, SPEC_STYLE_LISTING, NULL, buf, sizeof(buf)), -EINVAL);
}

static void
test_spec_transport_names(void **state)
{
	assert_string_equal(spec_transport_name(SPEC_TCP), "tcp");
	assert_string_equal(spec_transport_name(SPEC_NPIPE), "npipe");
	assert_string_equal(spec_transport_name(SPEC_COM), "com");
	assert_string_equal(spec_transport_name(SPEC_SSL), "ssl");
	assert_string_equal(spec_transport_name(SPEC_SPIPE), "spipe");
	assert_string_equal(spec_transport_name((enum spec_transport)42), "?");
}

/* A listing's "Password=*" pasted into -remote means "ask me"; a server
 * never takes it. */
static void test_spec_client_password_star_means_ask(void **state)
{
	struct spec s = parse_ok("npipe:Pipe=dbg,Password=*,Server=box", SPEC_CLIENT);

	assert_false(s.has_password);
	assert_string_equal(s.password, "");
	s = parse_ok("tcp:Port=5005,Password=*,Server=box", SPEC_CLIENT);
	assert_false(s.has_password);
	check_refused("tcp:port=5005,password=*", SPEC_SERVER, "password: expected");
	check_refused("tcp:server=h,port=5005,password=**", SPEC_CLIENT, "password: expected");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_tcp_server_port),
		cmocka_unit_test(test_spec_tcp_server_range),
		cmocka_unit_test(test_spec_tcp_server_every_key),
		cmocka_unit_test(test_spec_case_insensitive_keys_values_keep_case),
		cmocka_unit_test(test_spec_tcp_server_clicon),
		cmocka_unit_test(test_spec_npipe_server),
		cmocka_unit_test(test_spec_com_server),
		cmocka_unit_test(test_spec_ssl_server),
		cmocka_unit_test(test_spec_spipe_server),
		cmocka_unit_test(test_spec_readonly_every_server_transport),
		cmocka_unit_test(test_spec_tcp_client),
		cmocka_unit_test(test_spec_npipe_client),
		cmocka_unit_test(test_spec_com_client),
		cmocka_unit_test(test_spec_ssl_client),
		cmocka_unit_test(test_spec_spipe_client),
		cmocka_unit_test(test_spec_tls_client_fingerprint),
		cmocka_unit_test(test_spec_password_rules),
		cmocka_unit_test(test_spec_password_never_echoed),
		cmocka_unit_test(test_spec_passfile_first_line),
		cmocka_unit_test(test_spec_passfile_follows_symlinks),
		cmocka_unit_test(test_spec_passfile_refuses_what_is_not_a_regular_file),
		cmocka_unit_test(test_spec_passfile_bad_first_line),
		cmocka_unit_test(test_spec_passfile_shared_file_warns),
		cmocka_unit_test(test_spec_passfile_path_rules),
		cmocka_unit_test(test_spec_passenv),
		cmocka_unit_test(test_spec_passenv_bad_value_never_echoed),
		cmocka_unit_test(test_spec_passenv_name_rules),
		cmocka_unit_test(test_spec_password_sources_exclusive),
		cmocka_unit_test(test_spec_format_never_shows_password_sources),
		cmocka_unit_test(test_spec_redact),
		cmocka_unit_test(test_spec_scrub_in_place),
		cmocka_unit_test(test_spec_host_values),
		cmocka_unit_test(test_spec_port_values),
		cmocka_unit_test(test_spec_error_exact_text),
		cmocka_unit_test(test_spec_every_error_is_one_line_naming_the_key),
		cmocka_unit_test(test_spec_error_echo_is_cut_and_sanitised),
		cmocka_unit_test(test_spec_error_truncated_to_errlen),
		cmocka_unit_test(test_spec_format_listing),
		cmocka_unit_test(test_spec_format_remote),
		cmocka_unit_test(test_spec_format_remote_parses_as_client),
		cmocka_unit_test(test_spec_format_enospc),
		cmocka_unit_test(test_spec_transport_names),
		cmocka_unit_test(test_spec_client_password_star_means_ask),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
