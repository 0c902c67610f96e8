/* SPDX-License-Identifier: MIT */
/*
 * ringside's configuration: one option table drives command-line parsing,
 * the usage text and the defaults.
 */
#ifndef RINGSIDE_CONFIG_H
#define RINGSIDE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_SERVERS 32

/*
 * The specs are copies the config owns (config_free releases them), so the
 * command line they came from can be scrubbed of passwords.
 */
struct config {
	char *servers[CONFIG_MAX_SERVERS]; /* -server SPEC, in order */
	unsigned nservers;
	char *remote;		/* -remote SPEC (client mode) */
	bool repeater;		/* -repeater: relay a session (servers are -s / -server) */
	char *upstream;		/* -c SPEC: the repeater's way to the session */
	bool persist;		/* -p: the repeater or edge outlives the session */
	char *publish;		/* -publish NATS: publish the session for edges */
	char *edge;		/* -edge NATS: serve a published session */
	bool query_servers;	/* -QR */
	const char *query_host;	/* -QR HOST (in argv), or NULL */
	bool noio;		/* no host console */
	unsigned clines;	/* history for joiners in lines; 0 = use history_bytes */
	size_t history_bytes;	/* history for joiners in bytes */
	size_t ring_bytes;	/* transcript capacity */
	size_t lag_bytes;	/* per-client lag budget; 0 = ring minus two chunks */
	unsigned max_clients;	/* 0 = as many as RLIMIT_NOFILE allows */
	unsigned max_auth;	/* connections allowed to be authenticating at once */
	unsigned line_max;	/* longest input line accepted */
	unsigned peer_timeout_s; /* dead-peer limit: keepalive, user timeout, no progress */
	unsigned flush_ms;	/* how long output is flushed to clients at exit */
	unsigned notice_ms;	/* join/leave notices coalescing window */
	unsigned quiet_ms;	/* -remote scripts: leave after this much quiet */
	bool help;
	bool version;
	char *const *argv;	/* PROGRAM ARGS..., NULL-terminated: the caller's argv */
};

/* Fill in every default. */
void config_defaults(struct config *c);

/*
 * Parse ARGV (argv[0] is the program name) into C, which config_defaults
 * prepared.  Returns 0, -EINVAL with a one-line message in ERR naming the
 * option and what it expected, or -ENOMEM.  Whatever it returns, C may own
 * copies: release them with config_free.
 */
int config_parse(struct config *c, int argc, char *const argv[], char *err, size_t errlen);

/* Wipe and free the specs config_parse copied; C is left with none. */
void config_free(struct config *c);

/*
 * Overwrite, in place, the value of every password= item in the -server and
 * -remote specs of ARGV with '*'s, so that /proc/PID/cmdline and ps no
 * longer show it.  Walks ARGV as config_parse does and stops where the
 * hosted program's words start: those are never touched.  Call it after
 * config_parse, whose copies are what the specs are read from afterwards.
 */
void config_scrub_argv(int argc, char *argv[]);

/* SPEC as it may be shown: password= values replaced by '*'. */
void config_redact_spec(const char *spec, char *out, size_t len);

/* The usage text, generated from the option table. */
void config_usage(FILE *out, const char *prog);

#endif
