/* SPDX-License-Identifier: MIT */
/*
 * The repeater (`ringside -repeater -c CLIENTSPEC -s SERVERSPEC... [-p]`,
 * WinDbg's dbengprx): one native client of a session, and a server of that
 * session's transcript to any number of local clients.
 */
#ifndef RINGSIDE_REPEATER_H
#define RINGSIDE_REPEATER_H

#include <stdbool.h>

#include "include/ringside.h"

struct repeater_options {
	const char *upstream;		/* -c: how to reach the session (a -remote spec) */
	char *const *servers;		/* -s: where its clients connect */
	unsigned nservers;
	bool persist;			/* -p: keep running when the session ends */
	struct ringside_params params;	/* the local session's limits */
};

/*
 * Run until the session ends (or, with persist, until a signal).  Returns
 * the process exit status: 0 when the session ended or a signal stopped it
 * after the clients were told, 1 when the origin refused the repeater or
 * could not be reached, 2 for a bad spec.
 */
int ringside_repeater(const struct repeater_options *opt);

#endif
