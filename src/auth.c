/* SPDX-License-Identifier: MIT */
/*
 * SRP-6a (see auth.h) on wolfCrypt's wc_Srp*: this file pins the group, hash
 * and username, checks sizes before wolfCrypt sees them, allows one proof per
 * challenge, and turns wolfCrypt's error codes into -errno.
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/srp.h>
#include <wolfssl/wolfcrypt/dh.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/auth.h"

/*
 * SRP hashes a username into x and M1.  Who is connecting is settled
 * elsewhere (HOST\user in the native hello); one fixed name keeps a
 * verifier independent of it, so .server needs only the password.
 */
#define SRP_USER "ringside"

struct auth_server {
	Srp srp;
	uint8_t B[AUTH_GROUP_BYTES];	/* wc_SrpComputeKey needs B again */
	word32 B_len;
	bool used;
};

struct auth_client {
	Srp srp;
	bool used;
};

/* wolfCrypt's codes stay inside this file. */
static int errno_of(int wc)
{
	switch (wc) {
	case 0:
		return 0;
	case SRP_VERIFY_E:
		return -EACCES;
	case BAD_FUNC_ARG:
	case BUFFER_E:
	case SRP_BAD_KEY_E:	/* A or B is 0, 1, -1 or >= N */
	case MP_VAL:
		return -EINVAL;
	case MEMORY_E:
	case MP_MEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static const DhParams *group(void)
{
	const DhParams *d = wc_Dh_ffdhe2048_Get();

	/* AUTH_GROUP_BYTES is a promise the header makes about this group. */
	if (d == NULL || d->p_len != AUTH_GROUP_BYTES || d->g_len == 0 || d->g_len > d->p_len)
		return NULL;
	return d;
}

/* Password length as wolfCrypt takes it; false if it would not fit. */
static bool password_len(const char *password, word32 *len)
{
	size_t n = strlen(password);

	if (n > UINT32_MAX)
		return false;
	*len = (word32)n;
	return true;
}

/* OR of all bytes rather than an early exit: V is password-equivalent. */
static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/*
 * Init, username, group and salt: the part both sides share.  All or
 * nothing: on failure SRP has been released and the caller only frees.
 */
static int srp_start(Srp *srp, SrpSide side, const uint8_t *salt)
{
	const DhParams *d = group();
	int r;

	if (d == NULL)
		return -EIO;
	r = wc_SrpInit(srp, SRP_TYPE_SHA256, side);
	if (r != 0)
		return errno_of(r);
	r = wc_SrpSetUsername(srp, (const byte *)SRP_USER, sizeof(SRP_USER) - 1);
	if (r == 0)
		r = wc_SrpSetParams(srp, d->p, d->p_len, d->g, d->g_len, salt, AUTH_SALT_SIZE);
	if (r != 0) {
		wc_SrpTerm(srp);
		return errno_of(r);
	}
	return 0;
}

int auth_verifier_make(const char *password, struct auth_verifier *out)
{
	Srp srp;
	WC_RNG rng;
	word32 pw_len, v_len = AUTH_GROUP_BYTES;
	int r;

	if (password == NULL || out == NULL || !password_len(password, &pw_len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));

	r = wc_InitRng(&rng);
	if (r != 0)
		return errno_of(r);
	r = wc_RNG_GenerateBlock(&rng, out->salt, AUTH_SALT_SIZE);
	wc_FreeRng(&rng);
	if (r != 0)
		return errno_of(r);

	/* Only wolfCrypt's client side derives x and v = g^x. */
	r = srp_start(&srp, SRP_CLIENT_SIDE, out->salt);
	if (r != 0)
		return r;
	r = wc_SrpSetPassword(&srp, (const byte *)password, pw_len);
	if (r == 0)
		r = wc_SrpGetVerifier(&srp, out->v, &v_len);
	wc_SrpTerm(&srp);
	if (r != 0) {
		explicit_bzero(out, sizeof(*out));
		return errno_of(r);
	}
	out->v_len = v_len;
	return 0;
}

void auth_server_free(struct auth_server *as)
{
	if (as == NULL)
		return;
	wc_SrpTerm(&as->srp);
	explicit_bzero(as, sizeof(*as));
	free(as);
}

int auth_server_challenge(const struct auth_verifier *ver, struct auth_server **out, uint8_t *B,
			  size_t *B_len)
{
	struct auth_server *as;
	word32 len = AUTH_GROUP_BYTES;
	int r;

	if (out != NULL)
		*out = NULL;
	if (B_len != NULL)
		*B_len = 0;
	if (ver == NULL || out == NULL || B == NULL || B_len == NULL)
		return -EINVAL;
	/* A zeroed verifier would reach wolfCrypt as a call-order error. */
	if (ver->v_len == 0 || ver->v_len > AUTH_GROUP_BYTES || all_zero(ver->v, ver->v_len))
		return -EINVAL;

	as = calloc(1, sizeof(*as));
	if (as == NULL)
		return -ENOMEM;
	r = srp_start(&as->srp, SRP_SERVER_SIDE, ver->salt);
	if (r != 0) {
		explicit_bzero(as, sizeof(*as));
		free(as);
		return r;
	}
	/* wc_SrpGetPublic draws b from its own WC_RNG. */
	r = wc_SrpSetVerifier(&as->srp, ver->v, (word32)ver->v_len);
	if (r == 0)
		r = wc_SrpGetPublic(&as->srp, as->B, &len);
	if (r != 0) {
		auth_server_free(as);
		return errno_of(r);
	}
	as->B_len = len;
	memcpy(B, as->B, len);
	*B_len = len;
	*out = as;
	return 0;
}

int auth_server_verify(struct auth_server *as, const uint8_t *A, size_t A_len, const uint8_t *M1,
		       size_t M1_len, uint8_t *M2, size_t *M2_len)
{
	/* Copies: wolfCrypt takes these as non-const. */
	uint8_t a[AUTH_GROUP_BYTES], m1[AUTH_PROOF_SIZE];
	word32 len = AUTH_PROOF_SIZE;
	int r;

	if (M2_len != NULL)
		*M2_len = 0;
	if (as == NULL || A == NULL || M1 == NULL || M2 == NULL || M2_len == NULL)
		return -EINVAL;
	/*
	 * One proof per challenge, whatever its outcome: b stays fixed, so a
	 * second try would be a second guess, and wolfCrypt's proof hashes
	 * are spent after one use anyway.
	 */
	if (as->used)
		return -EINVAL;
	as->used = true;
	if (A_len == 0 || A_len > AUTH_GROUP_BYTES || M1_len != AUTH_PROOF_SIZE)
		return -EINVAL;
	memcpy(a, A, A_len);
	memcpy(m1, M1, AUTH_PROOF_SIZE);

	/* Rejects A mod N in {0, 1, -1}; compares M1 in constant time. */
	r = wc_SrpComputeKey(&as->srp, a, (word32)A_len, as->B, as->B_len);
	if (r == 0)
		r = wc_SrpVerifyPeersProof(&as->srp, m1, AUTH_PROOF_SIZE);
	if (r == 0)
		r = wc_SrpGetProof(&as->srp, M2, &len);
	if (r != 0)
		return errno_of(r);
	*M2_len = len;
	return 0;
}

void auth_client_free(struct auth_client *ac)
{
	if (ac == NULL)
		return;
	wc_SrpTerm(&ac->srp);
	explicit_bzero(ac, sizeof(*ac));
	free(ac);
}

int auth_client_respond(const char *password, const uint8_t *salt, size_t salt_len,
			const uint8_t *B, size_t B_len, struct auth_client **out, uint8_t *A,
			size_t *A_len, uint8_t *M1, size_t *M1_len)
{
	struct auth_client *ac;
	uint8_t pub[AUTH_GROUP_BYTES], b[AUTH_GROUP_BYTES];
	word32 pw_len, a_len = AUTH_GROUP_BYTES, m1_len = AUTH_PROOF_SIZE;
	int r;

	if (out != NULL)
		*out = NULL;
	if (A_len != NULL)
		*A_len = 0;
	if (M1_len != NULL)
		*M1_len = 0;
	if (password == NULL || salt == NULL || B == NULL || out == NULL || A == NULL ||
	    A_len == NULL || M1 == NULL || M1_len == NULL || !password_len(password, &pw_len))
		return -EINVAL;
	if (salt_len != AUTH_SALT_SIZE || B_len == 0 || B_len > AUTH_GROUP_BYTES)
		return -EINVAL;
	memcpy(b, B, B_len);

	ac = calloc(1, sizeof(*ac));
	if (ac == NULL)
		return -ENOMEM;
	r = srp_start(&ac->srp, SRP_CLIENT_SIDE, salt);
	if (r != 0) {
		explicit_bzero(ac, sizeof(*ac));
		free(ac);
		return r;
	}
	/* wc_SrpGetPublic parks the fresh a in PUB before computing A. */
	r = wc_SrpSetPassword(&ac->srp, (const byte *)password, pw_len);
	if (r == 0)
		r = wc_SrpGetPublic(&ac->srp, pub, &a_len);
	/* Rejects B mod N == 0 (and B >= N). */
	if (r == 0)
		r = wc_SrpComputeKey(&ac->srp, pub, a_len, b, (word32)B_len);
	if (r == 0)
		r = wc_SrpGetProof(&ac->srp, M1, &m1_len);
	if (r != 0) {
		explicit_bzero(pub, sizeof(pub));
		auth_client_free(ac);
		return errno_of(r);
	}
	memcpy(A, pub, a_len);
	*A_len = a_len;
	*M1_len = m1_len;
	*out = ac;
	return 0;
}

int auth_client_verify(struct auth_client *ac, const uint8_t *M2, size_t M2_len)
{
	uint8_t m2[AUTH_PROOF_SIZE];

	if (ac == NULL || M2 == NULL)
		return -EINVAL;
	/* The expected M2 is a finalised hash: a second look would compare
	 * against the hash of nothing. */
	if (ac->used)
		return -EINVAL;
	ac->used = true;
	if (M2_len != AUTH_PROOF_SIZE)
		return -EINVAL;
	memcpy(m2, M2, AUTH_PROOF_SIZE);
	return errno_of(wc_SrpVerifyPeersProof(&ac->srp, m2, AUTH_PROOF_SIZE));
}
