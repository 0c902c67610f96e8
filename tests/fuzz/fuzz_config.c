/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the command-line parser: the input is split at NUL
 * bytes into argv words.  Checks that every outcome is either a parsed
 * config within the option table's bounds or one NUL-terminated error line.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/config.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char *argv[MAX_WORDS + 2];
	char err[256];
	struct config c;
	int argc = 1;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	argv[0] = "ringside";
	for (size_t i = 0; i <= size && argc <= MAX_WORDS; ) {
		argv[argc++] = text + i;
		i += strlen(text + i) + 1;
	}
	argv[argc] = NULL;

	config_defaults(&c);
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if (config_parse(&c, argc, argv, err, sizeof(err)) == 0) {
		assert(c.nservers <= CONFIG_MAX_SERVERS);
		assert(c.line_max >= 64);
		assert(c.ring_bytes >= 256 * 1024);
		assert(!c.lag_bytes || c.lag_bytes <= c.ring_bytes);
		assert(c.help || c.version || c.remote || c.query_servers || c.argv);
	} else {
		assert(memchr(err, '\0', sizeof(err)) != NULL);
		assert(err[0] != '\0' && strchr(err, '\n') == NULL);
	}
	free(text);
	return 0;
}
