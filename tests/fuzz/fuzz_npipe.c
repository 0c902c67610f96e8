// SPDX-License-Identifier: MIT
/* libFuzzer target for the pure parts of src/npipe.c: pipe name expansion
 * and checking, socket path building, and allow= parsing.  Any input must
 * give either a name that passes the checks and fits, or one printable error
 * line.  No files, sockets or environment are touched (allow= names are
 * looked up in the password and group databases, read-only). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/npipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();					\
		}							\
	} while (0)

static void check_err(const char *err, size_t len)
{
	const char *end = memchr(err, '\0', len);

	CHECK(end != NULL);
	for (const char *p = err; p < end; p++)
		CHECK(*p >= 0x20 && *p < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], out[NPIPE_NAME_MAX + 1], path[NPIPE_PATH_MAX + 1], err[512];
	struct npipe_allow allow;
	uint32_t pid, tid;
	size_t n;
	int rc;

	if (size < 9 || size > 8 + sizeof(text) - 1)
		return 0;
	memcpy(&pid, data, 4);
	memcpy(&tid, data + 4, 4);
	n = size - 8;
	memcpy(text, data + 8, n);
	text[n] = '\0';		/* an embedded NUL just ends the name early */

	err[0] = '\0';
	memset(out, 0x55, sizeof(out));
	rc = npipe_name_expand(text, (pid_t)pid, (pid_t)tid, out, sizeof(out), err, sizeof(err));
	if (rc == 0) {
		CHECK(strlen(out) >= 1 && strlen(out) <= NPIPE_NAME_MAX);
		CHECK(npipe_name_check(out, NULL, 0) == 0);
		CHECK(strchr(out, '/') == NULL && strstr(out, "..") == NULL);
		rc = npipe_path("/run/user/1000/ringside", out, path, sizeof(path), err, sizeof(err));
		CHECK(rc == 0 || rc == -ENAMETOOLONG);
		if (rc == 0)
			CHECK(strlen(path) <= NPIPE_PATH_MAX);
		else
			check_err(err, sizeof(err));
	} else {
		CHECK(rc < 0);
		check_err(err, sizeof(err));
		CHECK(err[0] != '\0');
	}

	/* Literal names: the checker agrees with itself and never fails quietly. */
	rc = npipe_name_check(text, err, sizeof(err));
	if (rc)
		check_err(err, sizeof(err));

	if (n <= 200) {
		rc = npipe_allow_parse(text, &allow, err, sizeof(err));
		if (rc == 0) {
			size_t colons = 0;

			for (size_t i = 0; text[i]; i++)
				colons += text[i] == ':';
			CHECK(allow.n == colons + 1 && allow.n <= NPIPE_ALLOW_MAX);
		} else {
			CHECK(allow.n == 0);
			check_err(err, sizeof(err));
		}
	}
	return 0;
}
