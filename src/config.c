/* SPDX-License-Identifier: MIT */
/*
 * The option table and the parser and usage text it drives.  Options use
 * WinDbg's single-dash spelling (-server, -noio, -clines); "--" or the first
 * word that is not an option starts the hosted program's command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/config.h"
#include "src/nats_msg.h"
#include "src/spec.h"

enum opt_kind {
	OPT_FLAG,	/* bool, no argument */
	OPT_UINT,	/* unsigned, decimal */
	OPT_SIZE,	/* size_t, with an optional K/M/G suffix */
	OPT_SPEC,	/* char *, an owned copy of a spec */
	OPT_SPECS,	/* appended to config.servers, as owned copies */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t offset;
	unsigned long long min, max, def;
	const char *metavar;
	const char *help;
};

#define OFF(field) offsetof(struct config, field)
#define KiB 1024ull
#define MiB (1024ull * 1024)

static const struct opt options[] = {
	{ "server", OPT_SPECS, OFF(servers), 0, 0, 0, "SPEC",
	  "start a server (repeatable), e.g. tcp:port=5005[,password=W]" },
	{ "remote", OPT_SPEC, OFF(remote), 0, 0, 0, "SPEC",
	  "join a session as a client, e.g. tcp:server=H,port=5005" },
	{ "repeater", OPT_FLAG, OFF(repeater), 0, 0, 0, NULL,
	  "relay a session: one connection to it (-c), servers for any number of clients (-s)" },
	{ "c", OPT_SPEC, OFF(upstream), 0, 0, 0, "SPEC",
	  "-repeater: how to reach the session, as for -remote (no password: clients prove it)" },
	{ "s", OPT_SPECS, OFF(servers), 0, 0, 0, "SPEC",
	  "a server, as -server (repeatable): -repeater's are always hidden" },
	{ "p", OPT_FLAG, OFF(persist), 0, 0, 0, NULL,
	  "-repeater, -edge: keep running when the session ends" },
	{ "publish", OPT_SPEC, OFF(publish), 0, 0, 0, "NATS",
	  "publish the session to NATS JetStream for edges, e.g. nats://H:4222,session=NAME" },
	{ "edge", OPT_SPEC, OFF(edge), 0, 0, 0, "NATS",
	  "serve a published session from NATS (no program), e.g. nats://H:4222,session=NAME" },
	{ "QR", OPT_FLAG, OFF(query_servers), 0, 0, 0, NULL,
	  "list the debugging servers on this machine (-QR HOST: on HOST, through ssh)" },
	{ "noio", OPT_FLAG, OFF(noio), 0, 0, 0, NULL,
	  "no host console: do not read stdin or write stdout" },
	{ "clines", OPT_UINT, OFF(clines), 1, 1000000, 0, "N",
	  "joining clients first get the last N lines (default: -history bytes)" },
	{ "history", OPT_SIZE, OFF(history_bytes), 0, 1ull << 32, 64 * KiB, "BYTES",
	  "joining clients first get about this much recent output" },
	{ "ring", OPT_SIZE, OFF(ring_bytes), 256 * KiB, 1ull << 34, 8 * MiB, "BYTES",
	  "transcript ring size: output kept once for every client" },
	{ "lag", OPT_SIZE, OFF(lag_bytes), 64 * KiB, 1ull << 34, 0, "BYTES",
	  "a client further behind is skipped ahead (default: ring - 128K)" },
	{ "maxclients", OPT_UINT, OFF(max_clients), 1, 1000000, 0, "N",
	  "refuse connections beyond N clients (default: what RLIMIT_NOFILE allows)" },
	{ "maxauth", OPT_UINT, OFF(max_auth), 1, 100000, 128, "N",
	  "refuse new connections while N are still authenticating" },
	{ "peertimeout", OPT_UINT, OFF(peer_timeout_s), 0, 86400, 60, "SECONDS",
	  "drop a client that cannot be reached or makes no progress for this long (0: never)" },
	{ "linemax", OPT_UINT, OFF(line_max), 64, 1 << 20, 4096, "BYTES",
	  "longest input line a client may send" },
	{ "flushms", OPT_UINT, OFF(flush_ms), 0, 600000, 2000, "MS",
	  "at exit, keep sending output to clients for up to MS milliseconds" },
	{ "noticems", OPT_UINT, OFF(notice_ms), 0, 60000, 100, "MS",
	  "join/leave notices arriving within MS are coalesced" },
	{ "quiet", OPT_UINT, OFF(quiet_ms), 0, 600000, 1000, "MS",
	  "-remote with a script on stdin: leave once output was quiet for MS" },
	{ "h", OPT_FLAG, OFF(help), 0, 0, 0, NULL, "show this help" },
	{ "version", OPT_FLAG, OFF(version), 0, 0, 0, NULL, "show the version" },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct opt *o = &options[i];
		void *field = (char *)c + o->offset;

		if (o->kind == OPT_UINT)
			*(unsigned *)field = (unsigned)o->def;
		else if (o->kind == OPT_SIZE)
			*(size_t *)field = (size_t)o->def;
	}
}

/* ARG as it may be quoted in a one-line error: cut, control bytes shown as '?'. */
static const char *shown(const char *arg, char *buf, size_t len)
{
	size_t i;

	for (i = 0; arg[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)arg[i] < 0x20 || arg[i] == 0x7f ? '?' : arg[i];
	buf[i] = '\0';
	return buf;
}

/* The words of ARGV as config_parse reads them; I is the next one. */
struct cursor {
	int argc, i;
	char *const *argv;
};

enum step {
	STEP_OPTION,	/* *OPT with *VALUE (NULL for a flag) */
	STEP_END,	/* I is the program's first word (or argc) */
	STEP_UNKNOWN,	/* I is a word that looks like an option but is none */
	STEP_NO_VALUE,	/* I is an option whose value is missing */
};

static const struct opt *find_option(const char *arg)
{
	const char *name = arg + 1;

	if (arg[0] != '-')
		return NULL;
	if (name[0] == '-' && name[1] != '\0')
		name++; /* accept --version as well as -version */
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strcasecmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

/*
 * One option and its value.  Shared by config_parse and config_scrub_argv so
 * that the scrub can never disagree with the parser about which words are
 * specs and where the program's words start.
 */
static enum step next_option(struct cursor *cur, const struct opt **opt, char **value)
{
	char *arg;

	if (cur->i >= cur->argc)
		return STEP_END;
	arg = cur->argv[cur->i];
	if (strcmp(arg, "--") == 0) {
		cur->i++;
		return STEP_END;
	}
	if (arg[0] != '-')
		return STEP_END;
	*opt = find_option(arg);
	if (!*opt)
		return STEP_UNKNOWN;
	*value = NULL;
	if ((*opt)->kind != OPT_FLAG) {
		if (cur->i + 1 >= cur->argc)
			return STEP_NO_VALUE;
		*value = cur->argv[++cur->i];
	}
	cur->i++;
	return STEP_OPTION;
}

static int parse_number(const struct opt *o, const char *text, unsigned long long *out)
{
	unsigned long long v, mult = 1;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	if (o->kind == OPT_SIZE && *end) {
		switch (*end | 0x20) {
		case 'k': mult = KiB; break;
		case 'm': mult = MiB; break;
		case 'g': mult = 1024 * MiB; break;
		default: return -EINVAL;
		}
		end++;
	}
	if (*end || v > o->max / mult)
		return -EINVAL;
	v *= mult;
	if (v < o->min || v > o->max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A spec may hold a password: it is wiped before its memory is given back. */
static void free_spec(char **spec)
{
	if (*spec) {
		explicit_bzero(*spec, strlen(*spec));
		free(*spec);
		*spec = NULL;
	}
}

static int copy_spec(char **dst, const char *value, char *err, size_t errlen)
{
	char *copy = strdup(value);

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	free_spec(dst);
	*dst = copy;
	return 0;
}

static int apply_option(struct config *c, const struct opt *o, const char *value, char *err,
			size_t errlen)
{
	void *field = (char *)c + o->offset;
	unsigned long long v;
	int res;

	switch (o->kind) {
	case OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case OPT_SPEC:
		return copy_spec((char **)field, value, err, errlen);
	case OPT_SPECS:
		if (c->nservers == CONFIG_MAX_SERVERS) {
			snprintf(err, errlen, "-server: at most %d servers on the command line",
				 CONFIG_MAX_SERVERS);
			return -EINVAL;
		}
		res = copy_spec(&c->servers[c->nservers], value, err, errlen);
		if (res < 0)
			return res;
		c->nservers++;
		return 0;
	case OPT_UINT:
	case OPT_SIZE:
		if (parse_number(o, value, &v) < 0) {
			char buf[48];

			snprintf(err, errlen, "-%s %s: expected %s from %llu to %llu", o->name,
				 shown(value, buf, sizeof(buf)),
				 o->kind == OPT_SIZE ? "a size (K, M, G suffixes allowed)" : "a number",
				 o->min, o->max);
			return -EINVAL;
		}
		if (o->kind == OPT_UINT)
			*(unsigned *)field = (unsigned)v;
		else
			*(size_t *)field = (size_t)v;
		return 0;
	}
	return -EINVAL;
}

int config_parse(struct config *c, int argc, char *const argv[], char *err, size_t errlen)
{
	struct cursor cur = { .argc = argc, .i = 1, .argv = argv };
	const struct opt *o = NULL;
	enum step step;
	unsigned noptions = 0;
	char *value;
	int res;

	while ((step = next_option(&cur, &o, &value)) == STEP_OPTION) {
		res = apply_option(c, o, value, err, errlen);
		if (res < 0)
			return res;
		noptions++;
	}
	if (step == STEP_UNKNOWN) {
		char buf[48];

		snprintf(err, errlen, "unknown option %s (see -h)",
			 shown(argv[cur.i], buf, sizeof(buf)));
		return -EINVAL;
	}
	if (step == STEP_NO_VALUE) {
		snprintf(err, errlen, "-%s: missing %s", o->name, o->metavar);
		return -EINVAL;
	}
	c->argv = cur.i < argc ? &argv[cur.i] : NULL;
	if (c->lag_bytes && c->lag_bytes > c->ring_bytes) {
		snprintf(err, errlen, "-lag %zu: must not exceed -ring %zu", c->lag_bytes,
			 c->ring_bytes);
		return -EINVAL;
	}
	if (c->help || c->version)
		return 0;
	if (c->query_servers) {
		/* As in WinDbg: -QR [\\HOST] and nothing else. */
		if (noptions > 1 || (c->argv && c->argv[1])) {
			snprintf(err, errlen, "-QR must be the only option: -QR or -QR HOST");
			return -EINVAL;
		}
		c->query_host = c->argv ? c->argv[0] : NULL;
		c->argv = NULL;
		return 0;
	}
	if (c->repeater) {
		if (c->remote || c->argv || c->edge || c->publish) {
			snprintf(err, errlen, "-repeater takes no -remote, -edge, -publish and no "
				 "program");
			return -EINVAL;
		}
		if (!c->upstream) {
			snprintf(err, errlen, "-repeater needs -c SPEC: how to reach the session, "
				 "e.g. -c tcp:server=H,port=5005");
			return -EINVAL;
		}
		if (!c->nservers) {
			snprintf(err, errlen, "-repeater needs at least one -s SPEC for its clients, "
				 "e.g. -s tcp:port=5006");
			return -EINVAL;
		}
		return 0;
	}
	if (c->publish || c->edge) {
		struct nats_conf nc;
		char why[256];
		bool named;

		res = nats_conf_parse(&nc, c->publish ? c->publish : c->edge, why, sizeof(why));
		named = nc.has_session;
		explicit_bzero(&nc, sizeof(nc));
		if (res < 0) {
			snprintf(err, errlen, "-%s: %s", c->publish ? "publish" : "edge", why);
			return res;
		}
		if (c->edge && !named) {
			snprintf(err, errlen, "-edge needs session=NAME (the origin's, as it logged it)");
			return -EINVAL;
		}
	}
	if (c->edge) {
		if (c->remote || c->argv || c->upstream || c->publish) {
			snprintf(err, errlen, "-edge takes no -remote, -c, -publish and no program: "
				 "the session's program runs at the origin");
			return -EINVAL;
		}
		if (!c->nservers) {
			snprintf(err, errlen, "-edge needs at least one -server SPEC for its clients, "
				 "e.g. -server tcp:port=5006");
			return -EINVAL;
		}
		return 0;
	}
	if (c->upstream || c->persist) {
		snprintf(err, errlen, "-c goes with -repeater, -p with -repeater or -edge");
		return -EINVAL;
	}
	if (c->remote) {
		if (c->argv || c->nservers || c->publish) {
			snprintf(err, errlen, "-remote takes no -server, no -publish and no program");
			return -EINVAL;
		}
		return 0;
	}
	if (!c->argv) {
		snprintf(err, errlen, "no program to host: put it after --, e.g. -- gdb -q ./prog");
		return -EINVAL;
	}
	return 0;
}

void config_free(struct config *c)
{
	for (unsigned i = 0; i < c->nservers; i++)
		free_spec(&c->servers[i]);
	c->nservers = 0;
	free_spec(&c->remote);
	free_spec(&c->upstream);
	free_spec(&c->publish);
	free_spec(&c->edge);
}

/*
 * The value is overwritten with as many '*' as it has characters.  argv's
 * strings lie back to back in one block, and /proc/PID/cmdline is that
 * block verbatim: a shorter value would need NUL padding, which ps shows
 * as extra empty arguments, or moving every later word, including the
 * hosted program's, which the config points into.  What stays visible is
 * the password's length, and the password itself from exec until here;
 * passfile= and passenv= avoid both.
 */
void config_scrub_argv(int argc, char *argv[])
{
	struct cursor cur = { .argc = argc, .i = 1, .argv = argv };
	const struct opt *o;
	char *value;

	while (next_option(&cur, &o, &value) == STEP_OPTION)
		if (o->kind == OPT_SPEC || o->kind == OPT_SPECS)
			spec_scrub(value);
}

void config_usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [-server SPEC]... [options] -- PROGRAM [ARGS...]\n"
		"       %s -remote SPEC\n"
		"       %s -repeater -c SPEC -s SPEC [-s SPEC]... [-p] [options]\n"
		"       %s -edge NATS -server SPEC [-server SPEC]... [-p] [options]\n"
		"Hosts PROGRAM (a debugger) on a terminal and shares it with every client.\n\n",
		prog, prog, prog, prog);
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct opt *o = &options[i];
		char left[40];

		snprintf(left, sizeof(left), "-%s%s%s", o->name, o->metavar ? " " : "",
			 o->metavar ? o->metavar : "");
		fprintf(out, "  %-20s %s", left, o->help);
		if ((o->kind == OPT_UINT || o->kind == OPT_SIZE) && o->def)
			fprintf(out, " [%llu]", o->def);
		fputc('\n', out);
	}
	fprintf(out,
		"\nSpecs: tcp:port=P|LO:HI[,PASSWORD][,hidden][,bind=ADDR][,ipversion=6][,IcfEnable]\n"
		"       tcp:server=H,port=P[,PASSWORD] (with -remote)\n"
		"       npipe:pipe=NAME[,PASSWORD][,allow=WHO]   npipe:server=.,pipe=NAME (-remote)\n"
		"       ssl:proto=tls1,certuser=CERT|machuser=CERT,port=P[,PASSWORD][,...]\n"
		"       spipe:proto=tls1,certuser=CERT|machuser=CERT,pipe=NAME[,PASSWORD][,...]\n"
		"CERT is NAME (NAME.crt and NAME.key in ~/.config/ringside/certs/ or, with\n"
		"machuser=, /etc/ringside/certs/) or the certificate's SHA-1 thumbprint.\n"
		"PASSWORD is one of password=W (1-12 letters and digits), passfile=PATH (W is\n"
		"the first line of PATH) or passenv=NAME (W is in environment variable NAME).\n"
		"A password= value is blanked from the process list once parsed; passfile=\n"
		"and passenv= never put it there.\n"
		"NATS is nats://HOST:PORT[,session=NAME][,creds=FILE][,user=U,passfile=FILE]\n"
		"       [,ca=FILE][,maxbytes=N][,maxage=SECONDS][,name=EDGE] (see the README).\n"
		"Inside the session: .server SPEC, .servers, .endsrv ID, .clients, .echo TEXT, .stats,\n"
		"       .publish [NATS|off]\n");
}

void config_redact_spec(const char *spec, char *out, size_t len)
{
	spec_redact(spec, out, len);
}
