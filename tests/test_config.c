// SPDX-License-Identifier: MIT
/* Unit tests for src/config.c: defaults from the option table, -server, where the program starts,
 * size suffixes, every error path's one-line message, the usage text, the copies a config owns
 * and scrubbing passwords from the command line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/config.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

/*
 * Every parse lands here and *C gets a shallow copy: the copies the config owns stay valid until
 * the next parse frees them, and the last ones are freed when the tests end.
 */
static struct config parsed;

static int free_parsed(void **state)
{
	config_free(&parsed);
	return 0;
}

/* Parse a NULL-terminated word list (argv[0] added); ERR gets the message. */
static int parse_words(struct config *c, char *err, size_t errlen, const char *const *words)
{
	static char *argv[2 * CONFIG_MAX_SERVERS + 16];
	int argc = 0, rc;

	argv[argc++] = (char *)"ringside";
	for (; *words; words++)
		argv[argc++] = (char *)*words;
	argv[argc] = NULL;
	config_free(&parsed);
	config_defaults(&parsed);
	err[0] = '\0';
	rc = config_parse(&parsed, argc, argv, err, errlen);
	*c = parsed;
	return rc;
}

#define PARSE(c, err, ...) parse_words((c), (err), sizeof(err), (const char *const[]){ __VA_ARGS__, NULL })

static void parse_ok(struct config *c, const char *const *words)
{
	char err[256];

	if (parse_words(c, err, sizeof(err), words) != 0)
		fail_msg("refused: %s", err);
}

#define PARSE_OK(c, ...) parse_ok((c), (const char *const[]){ __VA_ARGS__, NULL })

/* Refused with -EINVAL and exactly one line containing every NEEDLE. */
static void check_refused(const char *const *words, const char *needle1, const char *needle2)
{
	struct config c;
	char err[256];
	int rc = parse_words(&c, err, sizeof(err), words);

	if (rc != -EINVAL)
		fail_msg("accepted (rc %d) where \"%s\" was expected", rc, needle1);
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
	assert_null(strchr(err, '\r'));
	if (!strstr(err, needle1))
		fail_msg("error lacks \"%s\": %s", needle1, err);
	if (needle2 && !strstr(err, needle2))
		fail_msg("error lacks \"%s\": %s", needle2, err);
}

#define REFUSED(n1, n2, ...) check_refused((const char *const[]){ __VA_ARGS__, NULL }, (n1), (n2))

/* ---- defaults --------------------------------------------------------- */

static void test_config_defaults_match_table(void **state)
{
	struct config c;

	memset(&c, 0x5a, sizeof(c));
	config_defaults(&c);
	assert_int_equal(c.nservers, 0);
	assert_null(c.servers[0]);
	assert_null(c.remote);
	assert_false(c.query_servers);
	assert_false(c.noio);
	assert_int_equal(c.clines, 0);
	assert_int_equal(c.history_bytes, 64 * KiB);
	assert_int_equal(c.ring_bytes, 8 * MiB);
	assert_int_equal(c.lag_bytes, 0);
	assert_int_equal(c.max_clients, 0);
	assert_int_equal(c.line_max, 4096);
	assert_int_equal(c.flush_ms, 2000);
	assert_int_equal(c.notice_ms, 100);
	assert_false(c.help);
	assert_false(c.version);
	assert_null(c.argv);
}

static void test_config_parse_keeps_defaults_for_unset_options(void **state)
{
	struct config c, d;

	PARSE_OK(&c, "--", "gdb");
	config_defaults(&d);
	assert_int_equal(c.ring_bytes, d.ring_bytes);
	assert_int_equal(c.history_bytes, d.history_bytes);
	assert_int_equal(c.line_max, d.line_max);
	assert_int_equal(c.flush_ms, d.flush_ms);
	assert_int_equal(c.notice_ms, d.notice_ms);
	assert_int_equal(c.nservers, 0);
}

/* ---- -server, program start ------------------------------------------- */

static void test_config_server_repeatable(void **state)
{
	struct config c;

	PARSE_OK(&c, "-server", "tcp:port=5005", "-server", "npipe:pipe=x", "-noio",
		 "-server", "tcp:port=6000", "--", "gdb", "-q");
	assert_int_equal(c.nservers, 3);
	assert_string_equal(c.servers[0], "tcp:port=5005");
	assert_string_equal(c.servers[1], "npipe:pipe=x");
	assert_string_equal(c.servers[2], "tcp:port=6000");
	assert_true(c.noio);
	assert_non_null(c.argv);
	assert_string_equal(c.argv[0], "gdb");
	assert_string_equal(c.argv[1], "-q");
	assert_null(c.argv[2]);
}

static void test_config_server_limit(void **state)
{
	const char *words[2 * CONFIG_MAX_SERVERS + 8];
	struct config c;
	char err[256];
	int n = 0;

	for (int i = 0; i < CONFIG_MAX_SERVERS; i++) {
		words[n++] = "-server";
		words[n++] = "tcp:port=1";
	}
	words[n++] = "gdb";
	words[n] = NULL;
	assert_int_equal(parse_words(&c, err, sizeof(err), words), 0);
	assert_int_equal(c.nservers, CONFIG_MAX_SERVERS);

	words[n - 1] = "-server";
	words[n++] = "tcp:port=2";
	words[n++] = "gdb";
	words[n] = NULL;
	assert_int_equal(parse_words(&c, err, sizeof(err), words), -EINVAL);
	assert_non_null(strstr(err, "-server"));
	assert_non_null(strstr(err, "32"));
}

static void test_config_double_dash_starts_program(void **state)
{
	struct config c;

	/* After --, words that look like options belong to the program. */
	PARSE_OK(&c, "-noio", "--", "-server", "x", "-ring", "1");
	assert_non_null(c.argv);
	assert_string_equal(c.argv[0], "-server");
	assert_string_equal(c.argv[1], "x");
	assert_string_equal(c.argv[3], "1");
	assert_null(c.argv[4]);
	assert_int_equal(c.nservers, 0);
	assert_int_equal(c.ring_bytes, 8 * MiB);
}

static void test_config_first_word_starts_program(void **state)
{
	struct config c;

	PARSE_OK(&c, "-server", "tcp:port=5005", "gdb", "-q", "-noio", "--", "./prog");
	assert_int_equal(c.nservers, 1);
	assert_string_equal(c.argv[0], "gdb");
	assert_string_equal(c.argv[1], "-q");
	assert_string_equal(c.argv[2], "-noio");
	assert_string_equal(c.argv[3], "--");
	assert_string_equal(c.argv[4], "./prog");
	assert_null(c.argv[5]);
	/* -noio after the program is the program's, not ours. */
	assert_false(c.noio);
}

static void test_config_option_names_case_insensitive(void **state)
{
	struct config c;

	PARSE_OK(&c, "-SERVER", "tcp:port=1", "-NoIo", "-CLines", "50", "gdb");
	assert_int_equal(c.nservers, 1);
	assert_true(c.noio);
	assert_int_equal(c.clines, 50);
	PARSE_OK(&c, "-qr");
	assert_true(c.query_servers);
	PARSE_OK(&c, "--version");
	assert_true(c.version);
}

static void test_config_help_and_version_need_no_program(void **state)
{
	struct config c;

	PARSE_OK(&c, "-h");
	assert_true(c.help);
	assert_null(c.argv);
	PARSE_OK(&c, "-version");
	assert_true(c.version);
}

static void test_config_remote_and_qr(void **state)
{
	struct config c;

	PARSE_OK(&c, "-remote", "tcp:server=box,port=5005");
	assert_string_equal(c.remote, "tcp:server=box,port=5005");
	assert_null(c.argv);
	assert_int_equal(c.nservers, 0);
	PARSE_OK(&c, "-QR");
	assert_true(c.query_servers);
	assert_null(c.argv);
	assert_null(c.query_host);
	/* WinDbg's form: the machine after -QR, with or without \\. */
	PARSE_OK(&c, "-QR", "\\\\box17");
	assert_string_equal(c.query_host, "\\\\box17");
	assert_null(c.argv);
	PARSE_OK(&c, "-serial-list");
	assert_true(c.serial_list);
	assert_null(c.argv);
}

static void test_config_repeater(void **state)
{
	struct config c;

	PARSE_OK(&c, "-repeater", "-c", "tcp:server=box,port=5005", "-s", "tcp:port=6000",
		 "-s", "npipe:pipe=rep", "-p", "-ring", "1M");
	assert_true(c.repeater && c.persist);
	assert_string_equal(c.upstream, "tcp:server=box,port=5005");
	assert_int_equal(c.nservers, 2);
	assert_string_equal(c.servers[1], "npipe:pipe=rep");
	assert_int_equal(c.ring_bytes, MiB);
	assert_null(c.argv);
	/* -s and -server fill the same list. */
	PARSE_OK(&c, "-repeater", "-c", "tcp:server=box,port=5005", "-server", "tcp:port=6000");
	assert_int_equal(c.nservers, 1);
	assert_false(c.persist);
	REFUSED("-repeater needs -c SPEC", NULL, "-repeater", "-s", "tcp:port=6000");
	REFUSED("-repeater needs at least one -s SPEC", NULL, "-repeater", "-c", "tcp:server=b,port=1");
	REFUSED("-repeater takes no -remote and no program", NULL, "-repeater", "-c",
		"tcp:server=b,port=1", "-s", "tcp:port=2", "--", "gdb");
	REFUSED("-c and -p go with -repeater", NULL, "-c", "tcp:server=b,port=1", "--", "gdb");
	REFUSED("-c and -p go with -repeater", NULL, "-p", "-server", "tcp:port=1", "gdb");
}

/* ---- numbers and sizes ------------------------------------------------ */

static void test_config_sizes_with_suffixes(void **state)
{
	struct config c;

	PARSE_OK(&c, "-ring", "512K", "-history", "1k", "gdb");
	assert_int_equal(c.ring_bytes, 512 * KiB);
	assert_int_equal(c.history_bytes, 1 * KiB);
	PARSE_OK(&c, "-ring", "16M", "-lag", "8m", "gdb");
	assert_int_equal(c.ring_bytes, 16 * MiB);
	assert_int_equal(c.lag_bytes, 8 * MiB);
	PARSE_OK(&c, "-ring", "2G", "-history", "4g", "gdb");
	assert_int_equal(c.ring_bytes, 2 * GiB);
	assert_int_equal(c.history_bytes, 4 * GiB);
	/* Plain bytes, and the exact limits. */
	PARSE_OK(&c, "-ring", "262144", "-history", "0", "gdb");
	assert_int_equal(c.ring_bytes, 256 * KiB);
	assert_int_equal(c.history_bytes, 0);
	PARSE_OK(&c, "-ring", "16G", "gdb");
	assert_int_equal(c.ring_bytes, 16 * GiB);
}

static void test_config_numbers(void **state)
{
	struct config c;

	PARSE_OK(&c, "-clines", "1", "-maxclients", "1000000", "-linemax", "64", "-flushms", "0",
		 "-noticems", "60000", "gdb");
	assert_int_equal(c.clines, 1);
	assert_int_equal(c.max_clients, 1000000);
	assert_int_equal(c.line_max, 64);
	assert_int_equal(c.flush_ms, 0);
	assert_int_equal(c.notice_ms, 60000);
	/* The last of a repeated option wins. */
	PARSE_OK(&c, "-linemax", "100", "-linemax", "200", "gdb");
	assert_int_equal(c.line_max, 200);
}

/* ---- errors ----------------------------------------------------------- */

static void test_config_error_unknown_option(void **state)
{
	REFUSED("-bogus", NULL, "-bogus", "gdb");
	REFUSED("-servers", NULL, "-servers", "x", "gdb");
	REFUSED("--noio-please", NULL, "--noio-please", "gdb");
}

static void test_config_error_missing_value(void **state)
{
	REFUSED("-server", "SPEC", "-server");
	REFUSED("-ring", "BYTES", "-noio", "-ring");
	REFUSED("-clines", "N", "-clines");
	REFUSED("-remote", "SPEC", "-remote");
}

static void test_config_error_out_of_range(void **state)
{
	REFUSED("-ring", "262144", "-ring", "255K", "gdb");
	REFUSED("-ring", "1K", "-ring", "1K", "gdb");
	REFUSED("-ring", NULL, "-ring", "17G", "gdb");
	REFUSED("-history", NULL, "-history", "5G", "gdb");
	REFUSED("-lag", "65536", "-lag", "1000", "gdb");
	REFUSED("-clines", NULL, "-clines", "0", "gdb");
	REFUSED("-clines", NULL, "-clines", "1000001", "gdb");
	REFUSED("-linemax", "64", "-linemax", "63", "gdb");
	REFUSED("-linemax", NULL, "-linemax", "1048577", "gdb");
	REFUSED("-flushms", NULL, "-flushms", "600001", "gdb");
	REFUSED("-noticems", NULL, "-noticems", "60001", "gdb");
	REFUSED("-maxclients", NULL, "-maxclients", "0", "gdb");
	/* Huge values must not wrap around into range. */
	REFUSED("-ring", NULL, "-ring", "18446744073709551615", "gdb");
	REFUSED("-ring", NULL, "-ring", "99999999999999999999999", "gdb");
	REFUSED("-ring", NULL, "-ring", "17179869184K", "gdb");
	REFUSED("-linemax", NULL, "-linemax", "4294967360", "gdb");
}

static void test_config_error_bad_number_or_suffix(void **state)
{
	REFUSED("-ring", "1T", "-ring", "1T", "gdb");
	REFUSED("-ring", NULL, "-ring", "1KB", "gdb");
	REFUSED("-ring", NULL, "-ring", "M", "gdb");
	REFUSED("-ring", NULL, "-ring", "", "gdb");
	REFUSED("-ring", NULL, "-ring", "-1", "gdb");
	REFUSED("-ring", NULL, "-ring", " 1M", "gdb");
	REFUSED("-ring", NULL, "-ring", "1.5M", "gdb");
	/* Counts take no suffix at all. */
	REFUSED("-clines", NULL, "-clines", "5K", "gdb");
	REFUSED("-linemax", NULL, "-linemax", "abc", "gdb");
	REFUSED("-flushms", NULL, "-flushms", "+5", "gdb");
}

static void test_config_error_no_program(void **state)
{
	REFUSED("no program", NULL, "-server", "tcp:port=5005");
	REFUSED("no program", NULL, "-server", "tcp:port=5005", "--");
	REFUSED("--", NULL, "-noio");
}

static void test_config_error_lag_larger_than_ring(void **state)
{
	struct config c;

	REFUSED("-lag", "-ring", "-ring", "1M", "-lag", "2M", "gdb");
	/* Equal is fine. */
	PARSE_OK(&c, "-ring", "1M", "-lag", "1M", "gdb");
	assert_int_equal(c.lag_bytes, 1 * MiB);
}

static void test_config_error_remote_with_program_or_server(void **state)
{
	REFUSED("-remote", "program", "-remote", "tcp:server=h,port=1", "gdb");
	REFUSED("-remote", NULL, "-remote", "tcp:server=h,port=1", "--", "gdb");
	REFUSED("-remote", "-server", "-server", "tcp:port=1", "-remote", "tcp:server=h,port=1");
	REFUSED("-QR", "only option", "-QR", "box", "gdb");
	REFUSED("-QR", "only option", "-QR", "-server", "tcp:port=1");
	REFUSED("-QR", "only option", "-noio", "-QR");
	REFUSED("-serial-list", "no program", "-serial-list", "gdb");
	REFUSED("-serial-list", "no other option", "-serial-list", "-noio");
}

static void test_config_error_is_bounded_by_errlen(void **state)
{
	struct config c;
	char err[16];

	memset(err, 'X', sizeof(err));
	assert_int_equal(PARSE(&c, err, "-a-very-long-unknown-option-name", "gdb"), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, "unknown option ", 15);
}

/* ---- owned copies and scrubbing passwords ------------------------------ */

/* A writable argv from WORDS (argv[0] added), as main() gets it; ARGC is set. */
struct argv_copy {
	int argc;
	char *argv[64];
	char text[4096];
};

static void make_argv(struct argv_copy *a, const char *const *words)
{
	size_t pos = 0;

	a->argc = 0;
	for (const char *word = "ringside"; word; word = *words++) {
		size_t n = strlen(word) + 1;

		assert_true(pos + n <= sizeof(a->text) && a->argc + 1 < 64);
		memcpy(a->text + pos, word, n);
		a->argv[a->argc++] = a->text + pos;
		pos += n;
	}
	a->argv[a->argc] = NULL;
}

#define MAKE_ARGV(a, ...) make_argv((a), (const char *const[]){ __VA_ARGS__, NULL })

static void parse_argv_ok(struct config *c, struct argv_copy *a)
{
	char err[256];

	config_defaults(c);
	if (config_parse(c, a->argc, a->argv, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

static void test_config_owns_copies_of_specs(void **state)
{
	struct argv_copy a;
	struct config c;

	MAKE_ARGV(&a, "-server", "tcp:port=1,password=abc", "-server", "tcp:port=2", "--", "gdb");
	parse_argv_ok(&c, &a);
	assert_int_equal(c.nservers, 2);
	assert_ptr_not_equal(c.servers[0], a.argv[2]);
	assert_ptr_not_equal(c.servers[1], a.argv[4]);
	/* The program's words are the caller's, as they were. */
	assert_ptr_equal(c.argv, &a.argv[6]);
	memset(a.argv[2], 'X', strlen(a.argv[2]));
	memset(a.argv[4], 'X', strlen(a.argv[4]));
	assert_string_equal(c.servers[0], "tcp:port=1,password=abc");
	assert_string_equal(c.servers[1], "tcp:port=2");
	config_free(&c);
	assert_int_equal(c.nservers, 0);
	assert_null(c.servers[0]);
	assert_null(c.servers[1]);
	/* Freeing twice, or a config nothing was parsed into, is harmless. */
	config_free(&c);
	config_defaults(&c);
	config_free(&c);

	MAKE_ARGV(&a, "-remote", "tcp:server=h,port=1,password=abc");
	parse_argv_ok(&c, &a);
	assert_ptr_not_equal(c.remote, a.argv[2]);
	memset(a.argv[2], 'X', strlen(a.argv[2]));
	assert_string_equal(c.remote, "tcp:server=h,port=1,password=abc");
	config_free(&c);
	assert_null(c.remote);

	/* The last -remote wins; the one it replaces is not leaked. */
	MAKE_ARGV(&a, "-remote", "tcp:server=a,port=1", "-remote", "tcp:server=b,port=2");
	parse_argv_ok(&c, &a);
	assert_string_equal(c.remote, "tcp:server=b,port=2");
	config_free(&c);
}

/* A failed parse may have copied some specs already: config_free takes them. */
static void test_config_free_after_failed_parse(void **state)
{
	struct argv_copy a;
	struct config c;
	char err[256];

	MAKE_ARGV(&a, "-server", "tcp:port=1", "-remote", "tcp:server=h,port=1", "-bogus");
	config_defaults(&c);
	assert_int_equal(config_parse(&c, a.argc, a.argv, err, sizeof(err)), -EINVAL);
	assert_int_equal(c.nservers, 1);
	assert_non_null(c.remote);
	config_free(&c);
	assert_int_equal(c.nservers, 0);
	assert_null(c.remote);
}

/* Parse, scrub, and check the argv text against WANT word by word. */
static void check_scrub(struct argv_copy *a, const char *const *want)
{
	char *before[64];
	struct config c;
	int i;

	parse_argv_ok(&c, a);
	memcpy(before, a->argv, sizeof(before));
	config_scrub_argv(a->argc, a->argv);
	for (i = 0; want[i]; i++) {
		/* Same words at the same places: only bytes inside them change. */
		assert_ptr_equal(a->argv[i + 1], before[i + 1]);
		assert_string_equal(a->argv[i + 1], want[i]);
	}
	assert_int_equal(i + 1, a->argc);
	config_free(&c);
}

#define CHECK_SCRUB(a, ...) check_scrub((a), (const char *const[]){ __VA_ARGS__, NULL })

static void test_config_scrub_blanks_spec_passwords(void **state)
{
	struct argv_copy a;
	struct config c;

	MAKE_ARGV(&a, "-server", "tcp:port=5005,password=abc123", "--", "gdb");
	CHECK_SCRUB(&a, "-server", "tcp:port=5005,password=******", "--", "gdb");

	/* Every spec, every password item in it, any key case, any option case. */
	MAKE_ARGV(&a, "-server", "tcp:port=1,Password=Secret1,hidden", "-noio", "-clines", "5",
		  "-SERVER", "npipe:PASSWORD=x,pipe=p", "-server", "tcp:port=3",
		  "-server", "tcp:port=4,password=a,password=bb", "gdb", "-q");
	CHECK_SCRUB(&a, "-server", "tcp:port=1,Password=*******,hidden", "-noio", "-clines", "5",
		    "-SERVER", "npipe:PASSWORD=*,pipe=p", "-server", "tcp:port=3",
		    "-server", "tcp:port=4,password=*,password=**", "gdb", "-q");

	MAKE_ARGV(&a, "-remote", "tcp:server=h,port=1,password=Sesame12", "-quiet", "100");
	CHECK_SCRUB(&a, "-remote", "tcp:server=h,port=1,password=********", "-quiet", "100");

	/* A repeater refuses passwords, but not before they are off the process list. */
	MAKE_ARGV(&a, "-repeater", "-c", "tcp:server=h,port=1,password=abc", "-s",
		  "tcp:port=2,password=de");
	CHECK_SCRUB(&a, "-repeater", "-c", "tcp:server=h,port=1,password=***", "-s",
		    "tcp:port=2,password=**");

	/* What config_parse kept is untouched: the server still gets its password. */
	MAKE_ARGV(&a, "-server", "tcp:port=1,password=abc123", "gdb");
	parse_argv_ok(&c, &a);
	config_scrub_argv(a.argc, a.argv);
	assert_string_equal(a.argv[2], "tcp:port=1,password=******");
	assert_string_equal(c.servers[0], "tcp:port=1,password=abc123");
	config_free(&c);

	/* passfile= and passenv= hold no secret and stay readable. */
	MAKE_ARGV(&a, "-server", "tcp:port=1,passfile=/run/pw", "-server", "tcp:port=2,passenv=PW",
		  "gdb");
	CHECK_SCRUB(&a, "-server", "tcp:port=1,passfile=/run/pw", "-server",
		    "tcp:port=2,passenv=PW", "gdb");
}

/* The hosted program's command line is its own business, passwords included. */
static void test_config_scrub_leaves_the_program_alone(void **state)
{
	struct argv_copy a;

	MAKE_ARGV(&a, "-server", "tcp:port=1,password=abc", "--", "prog", "password=mine",
		  "-server", "tcp:port=1,password=theirs", "-remote", "tcp:password=x");
	CHECK_SCRUB(&a, "-server", "tcp:port=1,password=***", "--", "prog", "password=mine",
		    "-server", "tcp:port=1,password=theirs", "-remote", "tcp:password=x");

	/* Without --, the first word that is no option starts the program. */
	MAKE_ARGV(&a, "-server", "tcp:port=1,password=abc", "prog", "-server",
		  "tcp:port=1,password=theirs");
	CHECK_SCRUB(&a, "-server", "tcp:port=1,password=***", "prog", "-server",
		    "tcp:port=1,password=theirs");
}

/* Scrubbing walks like the parser even where the parser would refuse. */
static void test_config_scrub_stops_where_parsing_stops(void **state)
{
	struct argv_copy a;

	MAKE_ARGV(&a, "-server", "tcp:password=abc", "-bogus", "-server", "tcp:password=def");
	config_scrub_argv(a.argc, a.argv);
	assert_string_equal(a.argv[2], "tcp:password=***");
	assert_string_equal(a.argv[4], "-server");
	assert_string_equal(a.argv[5], "tcp:password=def");

	/* -server without a value: nothing to scrub, nothing read past argc. */
	MAKE_ARGV(&a, "-noio", "-server");
	config_scrub_argv(a.argc, a.argv);
	assert_string_equal(a.argv[2], "-server");
	MAKE_ARGV(&a, "-server", "tcp:password=abc");
	config_scrub_argv(1, a.argv);
	assert_string_equal(a.argv[2], "tcp:password=abc");
}

/* ---- usage ------------------------------------------------------------ */

static void test_config_usage_lists_every_option(void **state)
{
	static const char *const names[] = {
		"-server SPEC", "-remote SPEC", "-QR", "-serial-list", "-noio", "-clines N",
		"-history BYTES",
		"-ring BYTES", "-lag BYTES", "-maxclients N", "-linemax BYTES", "-flushms MS",
		"-noticems MS", "-h ", "-version", "-repeater", "-c SPEC", "-s SPEC", "-p ",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	config_usage(f, "ringside");
	fclose(f);
	assert_non_null(text);
	assert_true(strncmp(text, "usage: ringside ", 16) == 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strstr(text, names[i]))
			fail_msg("usage text lacks \"%s\":\n%s", names[i], text);
	/* Numeric defaults are shown from the same table. */
	assert_non_null(strstr(text, "[8388608]"));
	assert_non_null(strstr(text, "[65536]"));
	assert_non_null(strstr(text, "[4096]"));
	assert_non_null(strstr(text, "[2000]"));
	assert_non_null(strstr(text, "[100]"));
	/* Every way to give a password. */
	assert_non_null(strstr(text, "password=W"));
	assert_non_null(strstr(text, "passfile=PATH"));
	assert_non_null(strstr(text, "passenv=NAME"));
	/* And the meta-commands. */
	assert_non_null(strstr(text, ".server"));
	assert_non_null(strstr(text, ".endsrv"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults_match_table),
		cmocka_unit_test(test_config_parse_keeps_defaults_for_unset_options),
		cmocka_unit_test(test_config_server_repeatable),
		cmocka_unit_test(test_config_server_limit),
		cmocka_unit_test(test_config_double_dash_starts_program),
		cmocka_unit_test(test_config_first_word_starts_program),
		cmocka_unit_test(test_config_option_names_case_insensitive),
		cmocka_unit_test(test_config_help_and_version_need_no_program),
		cmocka_unit_test(test_config_remote_and_qr),
		cmocka_unit_test(test_config_repeater),
		cmocka_unit_test(test_config_sizes_with_suffixes),
		cmocka_unit_test(test_config_numbers),
		cmocka_unit_test(test_config_error_unknown_option),
		cmocka_unit_test(test_config_error_missing_value),
		cmocka_unit_test(test_config_error_out_of_range),
		cmocka_unit_test(test_config_error_bad_number_or_suffix),
		cmocka_unit_test(test_config_error_no_program),
		cmocka_unit_test(test_config_error_lag_larger_than_ring),
		cmocka_unit_test(test_config_error_remote_with_program_or_server),
		cmocka_unit_test(test_config_error_is_bounded_by_errlen),
		cmocka_unit_test(test_config_owns_copies_of_specs),
		cmocka_unit_test(test_config_free_after_failed_parse),
		cmocka_unit_test(test_config_scrub_blanks_spec_passwords),
		cmocka_unit_test(test_config_scrub_leaves_the_program_alone),
		cmocka_unit_test(test_config_scrub_stops_where_parsing_stops),
		cmocka_unit_test(test_config_usage_lists_every_option),
	};

	return cmocka_run_group_tests(tests, NULL, free_parsed);
}
