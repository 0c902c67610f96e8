/* SPDX-License-Identifier: MIT */
/*
 * The ringside command: parse the command line, then hand over to the
 * library.
 */
#include <stdio.h>
#include <string.h>

#include "src/config.h"
#include "src/ringside.h"

int main(int argc, char *argv[])
{
	struct config cfg;
	char err[512];
	int res;

	config_defaults(&cfg);
	if (config_parse(&cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringside: %s\n", err);
		return 2;
	}
	if (cfg.help) {
		config_usage(stdout, "ringside");
		return 0;
	}
	if (cfg.version) {
		printf("ringside %s\n", RINGSIDE_VERSION);
		return 0;
	}
	if (cfg.remote || cfg.query_servers) {
		fprintf(stderr, "ringside: %s is not available in this build\n",
			cfg.remote ? "-remote (the ringside client)" : "-QR (server discovery)");
		return 2;
	}
	res = ringside_host(&cfg);
	return res < 0 ? 1 : res;
}
