/* SPDX-License-Identifier: MIT */
/*
 * Transport specs in WinDbg syntax ("tcp:port=5005,password=x"): parsing into a
 * struct spec and formatting back into the strings users see in .servers, the
 * .server banner and discovery.  No sockets and no allocation; the only I/O
 * is spec_parse reading a password from passfile= or passenv=.
 */
#ifndef RINGSIDE_SPEC_H
#define RINGSIDE_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum spec_transport {
	SPEC_TCP,
	SPEC_NPIPE,
	SPEC_COM,
	SPEC_SSL,
	SPEC_SPIPE,
};

/* Which command line the spec belongs to: `-server`/`.server`, or `-remote`. */
enum spec_side {
	SPEC_SERVER,
	SPEC_CLIENT,
};

enum spec_cert_store {
	SPEC_CERT_NONE,
	SPEC_CERT_USER,    /* certuser=: ~/.config/ringside/certs/ */
	SPEC_CERT_MACHINE, /* machuser=: /etc/ringside/certs/ */
};

#define SPEC_PASSWORD_MAX 12
#define SPEC_HOST_MAX 255
#define SPEC_PIPE_MAX 100
#define SPEC_ALLOW_MAX 255
#define SPEC_PATH_MAX 255
#define SPEC_CERT_MAX 255
#define SPEC_TEXT_MAX 1024
#define SPEC_ENV_NAME_MAX 64
#define SPEC_WARNING_LEN 192
#define SPEC_FP_LEN 32		/* SHA-256 */

struct spec {
	enum spec_transport transport;
	enum spec_side side;

	/* tcp, ssl: port=P or port=LO:HI; port_lo == port_hi for a single port. */
	uint16_t port_lo, port_hi;

	/* client side: server=H ("." for the local machine on npipe/spipe). */
	char server[SPEC_HOST_MAX + 1];
	/* tcp, ssl: clicon=H, leading backslashes stripped; "" when absent. */
	char clicon[SPEC_HOST_MAX + 1];
	/* extension: bind=ADDR (server side tcp/ssl); "" when absent. */
	char bind[SPEC_HOST_MAX + 1];

	/* npipe, spipe: pipe=NAME exactly as typed (%d/%x not expanded here;
	 * a server replaces it with the expanded name once it listens). */
	char pipe[SPEC_PIPE_MAX + 1];
	/* npipe, spipe server: allow=WHO, other users and groups admitted. */
	char allow[SPEC_ALLOW_MAX + 1];

	/* com: port=DEV as a device path (COMn mapped to /dev/ttyS(n-1)), baud=,
	 * channel= or raw, flow=. */
	char com_device[SPEC_PATH_MAX + 1];
	char com_name[SPEC_PATH_MAX + 1]; /* as typed, for display: "COM2", "/dev/pts/3" */
	unsigned baud;		/* a standard rate (serial_baud_check) */
	unsigned channel;	/* 0..254 */
	bool raw;		/* server: the whole line unframed, for a terminal; no channel */
	uint8_t flow;		/* enum serial_flow: none, rtscts, xonxoff (raw only) */

	/*
	 * ssl, spipe: proto=tls1 is the only accepted value; certuser= or
	 * machuser= (a server needs one).  A client names the certificate the
	 * server must present (pinning), or gives its SHA-256 fingerprint with
	 * fingerprint=, or neither: then known_servers decides (trust on first
	 * use).
	 */
	enum spec_cert_store cert_store;
	char cert[SPEC_CERT_MAX + 1];
	bool has_fingerprint;
	uint8_t fingerprint[SPEC_FP_LEN];

	/*
	 * The password, from exactly one of password=W, passfile=PATH (its
	 * first line, read by spec_parse) or passenv=NAME (that environment
	 * variable, read by spec_parse).  The same rules apply to all three.
	 */
	bool has_password;
	char password[SPEC_PASSWORD_MAX + 1];
	char passfile[SPEC_PATH_MAX + 1];	/* as typed; "" without passfile= */
	/*
	 * passenv=NAME, "" without it.  The hosted program must not inherit
	 * the variable: whoever spawns it removes NAME from its environment.
	 */
	char passenv[SPEC_ENV_NAME_MAX + 1];
	/*
	 * One line the caller should show (the password is still accepted):
	 * set when a passfile can be read or written by group or others, e.g.
	 *   tcp: passfile=pw.txt: other users can read or change the file (mode 0644, chmod go-rw fixes that)
	 * "" when there is nothing to say.
	 */
	char password_warning[SPEC_WARNING_LEN];

	bool hidden;
	bool icf_enable;   /* accepted, documented as a no-op on Linux */
	unsigned ipversion; /* 0 (unset), 4 or 6 */
	bool readonly;      /* extension key reserved for the native protocol issue */
};

/*
 * Parse TEXT ("tcp:port=5005,hidden") for SIDE into *OUT.  Keys and the
 * transport name are case-insensitive; values keep their case.  On success
 * returns 0.  On failure returns -EINVAL and writes one line (no trailing
 * newline) into ERR naming the offending key and what was expected, e.g.
 *   tcp: port=abc: expected a port number 1-65535 or a range LO:HI
 * *OUT is unspecified after a failure, except that it holds no password.
 * Errors never show a password, whether typed, read from a passfile or
 * taken from the environment.  A passfile must be a regular file (symbolic
 * links are followed); only its first SPEC_PASSWORD_MAX + 2 bytes are read.
 */
int spec_parse(const char *text, enum spec_side side, struct spec *out,
	       char *err, size_t errlen);

/* "tcp", "npipe", "com", "ssl", "spipe". */
const char *spec_transport_name(enum spec_transport t);

enum spec_style {
	/* .servers and discovery: "tcp:Port=5005", "tcp:Port=53:60" for a range,
	 * "npipe:Pipe=x,Password=*", "com:Port=COM2,Baud=115200,Channel=0"
	 * ("...,Raw" for a raw line, ",Flow=rtscts" when not none),
	 * "ssl:Proto=tls1,CertUser=name,Port=5005". Never the password itself. */
	SPEC_STYLE_LISTING,
	/* the .server banner: what a client types after -remote, with the
	 * actual port only and ",Server=HOST" last: "tcp:Port=5005,Server=box",
	 * "npipe:Pipe=x,Password=*,Server=box". */
	SPEC_STYLE_REMOTE,
};

/*
 * Format S into BUF for STYLE.  For a server whose port range has been
 * resolved, the caller sets port_lo to the port actually bound and leaves
 * port_hi as the range's end; for a pipe the caller stores the expanded
 * name in pipe.  HOST is used by SPEC_STYLE_REMOTE only.  Returns the length
 * written (as snprintf), or -ENOSPC when BUF is too small.
 */
int spec_format(const struct spec *s, enum spec_style style, const char *host,
		char *buf, size_t len);

/*
 * Copy TEXT (a spec, or a command line holding one) into OUT with the value
 * of every password= item replaced by "*", for echoing and logging.  Works on
 * text that does not parse.  OUT is always NUL-terminated when LEN > 0.
 */
void spec_redact(const char *text, char *out, size_t len);

/*
 * Overwrite the value of every password= item in TEXT, in place, with as
 * many '*' as it had characters: for text whose length must not change,
 * such as the process's own argv.  Items are found as spec_redact finds them.
 */
void spec_scrub(char *text);

#endif
