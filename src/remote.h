/* SPDX-License-Identifier: MIT */
/*
 * The native client (`ringside -remote SPEC`).
 */
#ifndef RINGSIDE_REMOTE_H
#define RINGSIDE_REMOTE_H

struct remote_options {
	unsigned quiet_ms;	/* scripts: leave once output was quiet this long */
};

/*
 * Join the session at SPEC and run until the user leaves, the session ends,
 * or the server refuses us.  Returns the process exit status: 0 when the
 * client left or the session ended, 1 on a refusal (the server's, or ours of
 * a server that broke the protocol or could not prove itself) or a lost
 * connection that could not be resumed within 60 s, 2 for a bad spec.
 */
int ringside_remote(const char *spec, const struct remote_options *opt);

#endif
