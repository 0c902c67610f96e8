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

#include "src/hub.h"
#include "src/meta.h"
#include "src/notice.h"
#include "src/spec.h"
#include "src/writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hub sess;
static struct hub_limits limits;

static void fuzz_log(struct hub *h, const char *msg)
{
}

static void fuzz_line(struct hub *h, struct client *c, const char *line, size_t len)
{
}

static void fuzz_interrupt(struct hub *h, struct client *c)
{
}

/* The session's side of the hub, reduced to what meta-commands reach. */
static const struct hub_ops fuzz_ops = {
	.log = fuzz_log,
	.line = fuzz_line,
	.interrupt = fuzz_interrupt,
	.joined = notice_joined,
	.left = notice_left,
	.retracted = notice_retract,
	.unpinned = writer_flush,
};

static void setup(void)
{
	limits.history_bytes = 64 * 1024;
	limits.max_auth = 128;
	limits.line_max = 4096;
	limits.peer_timeout_s = 60;
	limits.notice_ms = 0;
	sess.cfg = &limits;
	sess.ops = &fuzz_ops;
	sess.reserve_fd = -1;
	sess.next_client_id = 1;
	sess.max_clients = 16;
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
