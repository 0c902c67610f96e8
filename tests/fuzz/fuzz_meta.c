/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for meta-command parsing and the password redaction on
 * their echo: each input is one line typed at the console of a minimal
 * session (no program, no servers).  .server is left to fuzz_spec, since
 * here it would bind real ports.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/meta.h"
#include "src/session.h"
#include "src/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct session sess;
static struct config cfg;

static void setup(void)
{
	config_defaults(&cfg);
	cfg.notice_ms = 0;
	sess.cfg = &cfg;
	sess.pty_fd = sess.signal_fd = sess.reserve_fd = -1;
	snprintf(sess.host, sizeof(sess.host), "fuzzhost");
	snprintf(sess.user, sizeof(sess.user), "fuzzer");
	snprintf(sess.console_ident, sizeof(sess.console_ident), "fuzzhost\\fuzzer");
	sess.lag_budget = 128 * 1024;
	if (transcript_init(&sess.tr, 256 * 1024, 64 * 1024) < 0 ||
	    ring_init(&sess.ring, 64, 256) < 0)
		abort();
}

static bool starts_server(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return len - i >= 7 && strncasecmp(line + i, ".server", 7) == 0 &&
	       (len - i == 7 || line[i + 7] == ' ' || line[i + 7] == '\t');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char redacted[512], text[256];
	uint64_t before;

	if (!sess.cfg)
		setup();
	if (size > 200 || starts_server((const char *)data, size))
		return 0;
	before = sess.tr.head;
	meta_execute(&sess, NULL, (const char *)data, size);
	assert(sess.tr.head >= before);
	assert(sess.backlog_len == 0);

	/* Redaction keeps no byte of any password= value. */
	memcpy(text, data, size);
	text[size] = '\0';
	spec_redact(text, redacted, sizeof(redacted));
	for (char *p = redacted; (p = strcasestr(p, "password=")) != NULL; p += 9) {
		if (p != redacted && p[-1] != ':' && p[-1] != ',' && p[-1] != ' ' && p[-1] != '\t')
			continue;
		assert(p[9] == '*' && (p[10] == '\0' || p[10] == ','));
	}
	return 0;
}
