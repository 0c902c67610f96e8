/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the command-line parser: the input is split at NUL
 * bytes into argv words.  Checks that every outcome is either a parsed
 * config within the option table's bounds or one NUL-terminated error line,
 * and that scrubbing passwords changes no word's length, nothing of the
 * hosted program's words, and nothing the config kept.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/config.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_scrub(const struct config *c, int argc, char **argv, const char *orig,
			char *text)
{
	char *kept[CONFIG_MAX_SERVERS + 1];
	unsigned n = 0;

	for (unsigned i = 0; i < c->nservers; i++)
		kept[n++] = strdup(c->servers[i]);
	if (c->remote)
		kept[n++] = strdup(c->remote);
	config_scrub_argv(argc, argv);
	for (int i = 1; i < argc; i++) {
		size_t at = (size_t)(argv[i] - text);

		/* Same length: the NUL between words is where it was. */
		assert(strlen(argv[i]) == strlen(orig + at));
		for (size_t k = 0; argv[i][k]; k++)
			assert(argv[i][k] == orig[at + k] || argv[i][k] == '*');
	}
	for (char *const *w = c->argv; w && *w; w++)
		assert(strcmp(*w, orig + (*w - text)) == 0);
	n = 0;
	for (unsigned i = 0; i < c->nservers; i++, n++) {
		assert(!kept[n] || strcmp(kept[n], c->servers[i]) == 0);
		free(kept[n]);
	}
	if (c->remote) {
		assert(!kept[n] || strcmp(kept[n], c->remote) == 0);
		free(kept[n]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *orig = malloc(size + 1);
	char *argv[MAX_WORDS + 2];
	char err[256];
	struct config c;
	int argc = 1;

	if (!text || !orig) {
		free(text);
		free(orig);
		return 0;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	memcpy(orig, text, size + 1);
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
		/* Every parse ends in a mode: one of these, or a program. */
		assert(c.help || c.version || c.remote || c.query_servers || c.serial_list ||
		       c.repeater || c.edge || c.argv);
		check_scrub(&c, argc, argv, orig, text);
	} else {
		assert(memchr(err, '\0', sizeof(err)) != NULL);
		assert(err[0] != '\0' && strchr(err, '\n') == NULL);
	}
	config_free(&c);
	free(orig);
	free(text);
	return 0;
}
