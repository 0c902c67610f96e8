// SPDX-License-Identifier: MIT
/* libFuzzer target for src/spec.c: any text on either side must give a
 * well-formed spec or one bounded error line, formatting must round-trip, and
 * masking passwords in place must agree with masking them in a copy.
 * passfile= makes the parser read files: it must refuse anything that is not
 * a regular file (passfile=/dev/stdin, /dev/zero) without blocking. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();					\
		}							\
	} while (0)

/* Every field must be a terminated string, and values within their rules. */
static void
check_spec(const struct spec *s, enum spec_side side)
{
	size_t i;

	CHECK(s->side == side);
	CHECK(s->port_lo <= s->port_hi);
	CHECK(memchr(s->server, '\0', sizeof(s->server)) != NULL);
	CHECK(memchr(s->clicon, '\0', sizeof(s->clicon)) != NULL);
	CHECK(memchr(s->bind, '\0', sizeof(s->bind)) != NULL);
	CHECK(memchr(s->pipe, '\0', sizeof(s->pipe)) != NULL);
	CHECK(memchr(s->com_device, '\0', sizeof(s->com_device)) != NULL);
	CHECK(memchr(s->com_name, '\0', sizeof(s->com_name)) != NULL);
	CHECK(memchr(s->cert, '\0', sizeof(s->cert)) != NULL);
	CHECK(memchr(s->password, '\0', sizeof(s->password)) != NULL);
	CHECK(s->has_password == (s->password[0] != '\0'));
	CHECK(memchr(s->passfile, '\0', sizeof(s->passfile)) != NULL);
	CHECK(memchr(s->passenv, '\0', sizeof(s->passenv)) != NULL);
	CHECK(memchr(s->password_warning, '\0', sizeof(s->password_warning)) != NULL);
	/* One source, and a source gives a password or an error. */
	CHECK(!(s->passfile[0] && s->passenv[0]));
	CHECK(!s->passfile[0] || s->has_password);
	CHECK(!s->passenv[0] || s->has_password);
	CHECK(!s->password_warning[0] || s->passfile[0]);
	CHECK(strlen(s->password) <= SPEC_PASSWORD_MAX);
	for (i = 0; s->password[i]; i++) {
		char c = s->password[i];

		CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'));
	}
	CHECK(s->channel <= 254);
	CHECK(s->ipversion == 0 || s->ipversion == 4 || s->ipversion == 6);

	switch (s->transport) {
	case SPEC_TCP:
	case SPEC_SSL:
		CHECK(s->port_lo >= 1);
		CHECK(s->clicon[0] == '\0' || side == SPEC_CLIENT ||
		    s->port_lo == s->port_hi);
		if (side == SPEC_CLIENT)
			CHECK((s->server[0] != '\0') != (s->clicon[0] != '\0'));
		break;
	case SPEC_NPIPE:
	case SPEC_SPIPE:
		CHECK(s->pipe[0] != '\0');
		break;
	case SPEC_COM:
		CHECK(s->com_device[0] == '/');
		CHECK(s->baud >= 1 && s->baud <= 4000000);
		break;
	default:
		CHECK(!"transport out of range");
	}
	/* A server presents a certificate; a client pins one, pins a
	 * fingerprint, or neither (known_servers), never both. */
	if ((s->transport == SPEC_SSL || s->transport == SPEC_SPIPE) && side == SPEC_SERVER)
		CHECK(s->cert_store != SPEC_CERT_NONE && s->cert[0] != '\0');
	if (s->cert_store != SPEC_CERT_NONE)
		CHECK(s->cert[0] != '\0' && !s->has_fingerprint);
	if (s->has_fingerprint)
		CHECK(side == SPEC_CLIENT &&
		      (s->transport == SPEC_SSL || s->transport == SPEC_SPIPE));
}

static void
check_error(const char *err, size_t len)
{
	CHECK(memchr(err, '\0', len) != NULL);
	CHECK(err[0] != '\0');
	CHECK(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL);
}

/* The listing, with the password left out (it shows as "*"), parses back
 * on the same side to the same endpoint. */
static void
check_listing(const struct spec *s)
{
	struct spec copy = *s, back;
	char buf[1024], err[256];
	int n;

	copy.has_password = false;
	copy.password[0] = '\0';
	n = spec_format(&copy, SPEC_STYLE_LISTING, NULL, buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n == strlen(buf));
	/* A client spec's listing drops server=, so it is no longer complete. */
	if (s->side == SPEC_CLIENT)
		return;
	if (spec_parse(buf, s->side, &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "listing \"%s\" does not parse: %s\n", buf, err);
		abort();
	}
	CHECK(back.transport == s->transport);
	CHECK(back.port_lo == s->port_lo && back.port_hi == s->port_hi);
	CHECK(strcmp(back.pipe, s->pipe) == 0);
	CHECK(strcmp(back.clicon, s->clicon) == 0);
	CHECK(strcmp(back.com_device, s->com_device) == 0);
	CHECK(back.baud == s->baud && back.channel == s->channel);
	CHECK(back.cert_store == s->cert_store && strcmp(back.cert, s->cert) == 0);
}

/* What a server's banner tells clients to type must be accepted by -remote. */
static void
check_remote(const struct spec *s)
{
	struct spec copy = *s, back;
	char buf[1024], err[256], tiny[8];
	int n;

	copy.has_password = false;
	copy.password[0] = '\0';
	n = spec_format(&copy, SPEC_STYLE_REMOTE, "host", buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n == strlen(buf));
	CHECK(spec_format(&copy, SPEC_STYLE_REMOTE, "host", tiny, sizeof(tiny)) == -ENOSPC);
	CHECK(tiny[0] == '\0');
	/* A raw serial line's banner names a terminal program, not a
	 * ringside -remote command: there is nothing for -remote to accept. */
	if (s->side == SPEC_CLIENT || s->raw)
		return;
	if (spec_parse(buf, SPEC_CLIENT, &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "remote \"%s\" does not parse: %s\n", buf, err);
		abort();
	}
	CHECK(back.transport == s->transport && back.port_lo == s->port_lo);
	CHECK(strcmp(back.pipe, s->pipe) == 0);
	CHECK(strcmp(back.com_device, s->com_device) == 0);
}

/* In place, every masked value keeps its length; redacting either gives the same. */
static void
check_scrub(const char *text)
{
	size_t len = strlen(text) + 1;
	char *scrubbed = malloc(len), *a = malloc(len + 1), *b = malloc(len + 1);

	if (scrubbed && a && b) {
		memcpy(scrubbed, text, len);
		spec_scrub(scrubbed);
		CHECK(strlen(scrubbed) == len - 1);
		spec_redact(text, a, len + 1);
		spec_redact(scrubbed, b, len + 1);
		CHECK(strcmp(a, b) == 0);
	}
	free(scrubbed);
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum spec_side sides[] = { SPEC_SERVER, SPEC_CLIENT };
	char *text, err[128], small[5];
	struct spec s;
	size_t i;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_scrub(text);

	for (i = 0; i < 2; i++) {
		memset(err, 'X', sizeof(err));
		if (spec_parse(text, sides[i], &s, err, sizeof(err)) != 0) {
			check_error(err, sizeof(err));
			/* A short buffer is cut, never overrun. */
			memset(small, 'X', sizeof(small));
			CHECK(spec_parse(text, sides[i], &s, small, sizeof(small) - 1) == -EINVAL);
			CHECK(memchr(small, '\0', sizeof(small) - 1) != NULL);
			CHECK(small[sizeof(small) - 1] == 'X');
			continue;
		}
		CHECK(err[0] == '\0');
		check_spec(&s, sides[i]);
		check_listing(&s);
		check_remote(&s);
	}
	free(text);
	return 0;
}
