/* SPDX-License-Identifier: MIT */
/*
 * A program on a pseudo-terminal, shared: what ringside does, in a few
 * lines of the library.  Its output goes to every client, their command
 * lines become its input, and who joins, leaves and types is logged here.
 *
 *   ./pty 5005 gdb -q     then   ringside -remote tcp:server=127.0.0.1,port=5005
 */
#include <stdio.h>
#include <stdlib.h>

#include <ringside.h>

static void joined(void *arg, const struct ringside_client *who)
{
	fprintf(stderr, "joined: %s (%s, %s)\n", who->identity, who->native ? "native" : "raw",
		who->readonly ? "read-only" : "read-write");
}

static void left(void *arg, const struct ringside_client *who)
{
	fprintf(stderr, "left: %s\n", who->identity);
}

static void typed(void *arg, const struct ringside_client *who, const char *line, size_t len)
{
	fprintf(stderr, "typed: %s: %.*s\n", who->identity, (int)len, line);
}

int main(int argc, char **argv)
{
	struct ringside_callbacks cb = { .joined = joined, .left = left, .typed = typed };
	struct ringside_params p;
	struct ringside *s;
	char spec[64], err[256];
	unsigned id;
	int status;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	ringside_params_init(&p);
	p.history_lines = 100;
	snprintf(spec, sizeof(spec), "tcp:port=%s", argv[1]);
	if (ringside_new(&s, &p, &cb, NULL, err, sizeof(err)) < 0 ||
	    ringside_server_start(s, spec, &id, err, sizeof(err)) < 0 ||
	    ringside_spawn(s, argv + 2, err, sizeof(err)) < 0) {
		fprintf(stderr, "pty: %s\n", err);
		return 1;
	}
	fprintf(stderr, "server %u on %s; hosting %s\n", id, spec, argv[2]);
	/* Returns once the program has exited and clients have its last words. */
	status = ringside_run(s);
	ringside_destroy(s);
	fprintf(stderr, "%s ended with status %d\n", argv[2], status);
	return status < 0 ? 1 : status;
}
