/* SPDX-License-Identifier: MIT */
/*
 * The ringside command: parse the command line, blank the passwords in it,
 * then hand over to the library.
 */
#include <stdio.h>
#include <string.h>

#include "src/config.h"
#include "src/remote.h"
#include "src/ringside.h"

static int run(const struct config *cfg)
{
	int res;

	if (cfg->help) {
		config_usage(stdout, "ringside");
		return 0;
	}
	if (cfg->version) {
		printf("ringside %s\n", RINGSIDE_VERSION);
		return 0;
	}
	if (cfg->remote) {
		struct remote_options opt = { .quiet_ms = cfg->quiet_ms };

		return ringside_remote(cfg->remote, &opt);
	}
	if (cfg->query_servers)
		return ringside_query_servers(cfg->query_host);
	res = ringside_host(cfg);
	return res < 0 ? 1 : res;
}

int main(int argc, char *argv[])
{
	struct config cfg;
	char err[512];
	int code;

	config_defaults(&cfg);
	if (config_parse(&cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	/* Other local users can read our command line in /proc until now. */
	config_scrub_argv(argc, argv);
	code = run(&cfg);
	config_free(&cfg);
	return code;
}
