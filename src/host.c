/* SPDX-License-Identifier: MIT */
/*
 * ringside_host(): a whole hosted session, start to finish, for the CLI and
 * for programs that embed the library.
 */
#include <stdlib.h>

#include "src/ringside.h"
#include "src/session.h"

int ringside_host(const struct config *cfg)
{
	struct session *s = malloc(sizeof(*s));
	int res;

	if (!s)
		return -12;
	res = session_init(s, cfg);
	if (res == 0)
		res = session_run(s);
	session_destroy(s);
	free(s);
	return res;
}
