/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the cmocka suites.  Header-only, so every test stays
 * one .c file; include it after <cmocka.h>.
 */
#ifndef RINGSIDE_TESTS_SUPPORT_H
#define RINGSIDE_TESTS_SUPPORT_H

#include <string.h>

#include "src/session.h"

/* The transcript from FROM to head, NUL-terminated, in a static buffer. */
static inline const char *text_from(const struct session *s, uint64_t from)
{
	static char buf[64 * 1024];
	size_t got = 0;

	while (from < s->tr.head) {
		const char *p;
		size_t n = transcript_span(&s->tr, from, &p);

		assert_true(got + n < sizeof(buf));
		memcpy(buf + got, p, n);
		got += n;
		from += n;
	}
	buf[got] = '\0';
	return buf;
}

#endif
