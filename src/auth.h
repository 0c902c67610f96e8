/* SPDX-License-Identifier: MIT */
/*
 * Password authentication in which the password never crosses the wire:
 * SRP-6a (RFC 5054 flow, RFC 7919 ffdhe2048 group, SHA-256) from wolfCrypt.
 * A recorded exchange gives an eavesdropper nothing to test guesses against
 * offline; an active attacker gets one guess per connection.
 *
 * Flow (each arrow one record of the native protocol):
 *   client -> server  HELLO            (no secret material)
 *   server -> client  CHALLENGE salt,B (auth_server_challenge)
 *   client -> server  PROOF A,M1       (auth_client_respond)
 *   server -> client  ACCEPT M2        (auth_server_verify; client: auth_client_verify)
 * Errors are 0 or -errno: -EACCES for a wrong password or a proof that
 * does not verify, -EINVAL for malformed input (including A or B that is
 * 0 or N), -ENOMEM, -EIO for anything else wolfCrypt reports (RNG failure).
 * Output lengths are set, never read: A and B buffers must hold
 * AUTH_GROUP_BYTES, M1 and M2 buffers AUTH_PROOF_SIZE.
 */
#ifndef RINGSIDE_AUTH_H
#define RINGSIDE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_SALT_SIZE 16
#define AUTH_GROUP_BYTES 256	/* ffdhe2048: A, B and the verifier */
#define AUTH_PROOF_SIZE 32	/* SHA-256: M1 and M2 */

/* What a server keeps instead of the password: salt and verifier. */
struct auth_verifier {
	uint8_t salt[AUTH_SALT_SIZE];
	uint8_t v[AUTH_GROUP_BYTES];
	size_t v_len;
};

/* Derive a verifier from PASSWORD with a fresh random salt (once per
 * server, at .server time: it costs a modular exponentiation). */
int auth_verifier_make(const char *password, struct auth_verifier *out);

struct auth_server;
/* Start one connection's exchange: a fresh secret b, and the salt and B to
 * send.  *B_LEN is set (at most AUTH_GROUP_BYTES). */
int auth_server_challenge(const struct auth_verifier *ver, struct auth_server **out,
			  uint8_t *B, size_t *B_len);
/* Check the client's A and M1.  On success writes M2 (AUTH_PROOF_SIZE)
 * for the client to check; -EACCES when the password was wrong.  One call
 * per challenge: any later call fails with -EINVAL, so each connection
 * gets one guess. */
int auth_server_verify(struct auth_server *as, const uint8_t *A, size_t A_len,
		       const uint8_t *M1, size_t M1_len, uint8_t *M2, size_t *M2_len);
void auth_server_free(struct auth_server *as);

struct auth_client;
/* Answer a challenge: computes A and M1 from PASSWORD, SALT and B. */
int auth_client_respond(const char *password, const uint8_t *salt, size_t salt_len,
			const uint8_t *B, size_t B_len, struct auth_client **out, uint8_t *A,
			size_t *A_len, uint8_t *M1, size_t *M1_len);
/* Check the server's M2: proves the server holds the verifier.  One call
 * per response; a later call fails with -EINVAL. */
int auth_client_verify(struct auth_client *ac, const uint8_t *M2, size_t M2_len);
void auth_client_free(struct auth_client *ac);

#endif
