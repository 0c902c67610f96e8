/* SPDX-License-Identifier: MIT */
/*
 * libringside's public entry points: host a program as a shared debugging
 * session.  The CLI in main.c is a thin layer over these.
 */
#ifndef RINGSIDE_H
#define RINGSIDE_H

#include "src/config.h"

#define RINGSIDE_VERSION "0.1.0"

/*
 * Host CFG->argv on a pseudo-terminal, serve it on CFG->servers, and run
 * until the program exits or SIGINT/SIGTERM/SIGHUP ends the session.
 * Returns the exit status to report (the program's, or 128 + the signal
 * that ended the session), or a negative errno when the session could not
 * start (the reason has been printed on stderr).
 */
int ringside_host(const struct config *cfg);

/*
 * -QR [HOST]: list the debugging servers on this machine (HOST NULL, ".",
 * "localhost" or this machine's name, with or without a leading \\\\), or
 * on HOST through ssh.  Returns the exit status for the CLI.
 */
int ringside_query_servers(const char *host);

#endif
