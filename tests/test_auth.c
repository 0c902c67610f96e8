// SPDX-License-Identifier: MIT
/* Unit tests for src/auth.c: SRP-6a exchanges that must succeed, every way
 * one must fail, and what the wire bytes must never contain.  The last test
 * only prints the cost of each step. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/dh.h>

#include "src/auth.h"

#define PASSWORD "Tr0ub4dor3xy"

/* One exchange's wire bytes, as a recorder on the connection sees them. */
struct wire {
	uint8_t salt[AUTH_SALT_SIZE];
	uint8_t B[AUTH_GROUP_BYTES], A[AUTH_GROUP_BYTES];
	uint8_t M1[AUTH_PROOF_SIZE], M2[AUTH_PROOF_SIZE];
	size_t B_len, A_len, M1_len, M2_len;
	int server_rc, client_rc;
};

static struct auth_verifier make(const char *password)
{
	struct auth_verifier v;

	assert_int_equal(auth_verifier_make(password, &v), 0);
	assert_true(v.v_len > 0 && v.v_len <= AUTH_GROUP_BYTES);
	return v;
}

/* The whole flow; server_rc/client_rc say how far it got. */
static struct wire exchange(const struct auth_verifier *ver, const char *password)
{
	struct wire w = { .server_rc = 1, .client_rc = 1 };
	struct auth_server *as;
	struct auth_client *ac;

	memcpy(w.salt, ver->salt, sizeof(w.salt));
	assert_int_equal(auth_server_challenge(ver, &as, w.B, &w.B_len), 0);
	assert_true(w.B_len > 0 && w.B_len <= AUTH_GROUP_BYTES);
	assert_int_equal(auth_client_respond(password, w.salt, sizeof(w.salt), w.B, w.B_len, &ac,
					     w.A, &w.A_len, w.M1, &w.M1_len),
			 0);
	assert_true(w.A_len > 0 && w.A_len <= AUTH_GROUP_BYTES);
	assert_int_equal(w.M1_len, AUTH_PROOF_SIZE);
	w.server_rc = auth_server_verify(as, w.A, w.A_len, w.M1, w.M1_len, w.M2, &w.M2_len);
	if (w.server_rc == 0) {
		assert_int_equal(w.M2_len, AUTH_PROOF_SIZE);
		w.client_rc = auth_client_verify(ac, w.M2, w.M2_len);
	} else {
		assert_int_equal(w.M2_len, 0);
	}
	auth_server_free(as);
	auth_client_free(ac);
	return w;
}

/* A fresh challenge and an honest client response to it. */
struct pending {
	struct auth_server *as;
	struct auth_client *ac;
	struct wire w;
};

static void pending_start(struct pending *p, const struct auth_verifier *ver, const char *password)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(auth_server_challenge(ver, &p->as, p->w.B, &p->w.B_len), 0);
	assert_int_equal(auth_client_respond(password, ver->salt, AUTH_SALT_SIZE, p->w.B,
					     p->w.B_len, &p->ac, p->w.A, &p->w.A_len, p->w.M1,
					     &p->w.M1_len),
			 0);
}

static void pending_end(struct pending *p)
{
	auth_server_free(p->as);
	auth_client_free(p->ac);
}

static const uint8_t *group_p(void)
{
	const DhParams *d = wc_Dh_ffdhe2048_Get();

	assert_non_null(d);
	assert_int_equal(d->p_len, AUTH_GROUP_BYTES);
	return d->p;
}

static void assert_refused(int rc)
{
	if (rc != -EINVAL && rc != -EACCES)
		fail_msg("expected -EINVAL or -EACCES, got %d", rc);
}

static void test_auth_right_password(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	struct wire w = exchange(&v, PASSWORD);

	assert_int_equal(w.server_rc, 0);
	assert_int_equal(w.client_rc, 0);
}

static void test_auth_wrong_password(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	struct wire good = exchange(&v, PASSWORD);
	struct pending p;
	uint8_t M2[AUTH_PROOF_SIZE] = { 0xaa };
	size_t M2_len = 99;

	assert_int_equal(good.server_rc, 0);
	pending_start(&p, &v, "Tr0ub4dor3xz");
	assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len, M2,
					    &M2_len),
			 -EACCES);
	assert_int_equal(M2_len, 0);
	/* The client gets no M2; nothing it could be shown verifies, not even
	 * a genuine M2 from another exchange with this verifier. */
	assert_int_equal(auth_client_verify(p.ac, good.M2, sizeof(good.M2)), -EACCES);
	pending_end(&p);

	pending_start(&p, &v, "wrong");
	memset(M2, 0, sizeof(M2));
	assert_int_equal(auth_client_verify(p.ac, M2, sizeof(M2)), -EACCES);
	pending_end(&p);
}

static void test_auth_password_is_case_sensitive(void **state)
{
	struct auth_verifier v = make("S3cret");

	assert_int_equal(exchange(&v, "S3cret").server_rc, 0);
	assert_int_equal(exchange(&v, "s3cret").server_rc, -EACCES);
	assert_int_equal(exchange(&v, "S3CRET").server_rc, -EACCES);
	assert_int_equal(exchange(&v, "S3cre").server_rc, -EACCES);
	assert_int_equal(exchange(&v, "S3cret ").server_rc, -EACCES);
	assert_int_equal(exchange(&v, "").server_rc, -EACCES);
}

static void test_auth_empty_password_is_just_another_password(void **state)
{
	struct auth_verifier v = make("");

	assert_int_equal(exchange(&v, "").server_rc, 0);
	assert_int_equal(exchange(&v, "x").server_rc, -EACCES);
}

/* Server side: each bad (A, M1) gets its own fresh challenge. */
static int server_verify_with(const struct auth_verifier *v, const uint8_t *A, size_t A_len,
			      const uint8_t *M1, size_t M1_len)
{
	struct pending p;
	uint8_t M2[AUTH_PROOF_SIZE];
	size_t M2_len = 7;
	int rc;

	pending_start(&p, v, PASSWORD);
	rc = auth_server_verify(p.as, A ? A : p.w.A, A_len == SIZE_MAX ? p.w.A_len : A_len,
				M1 ? M1 : p.w.M1, M1_len == SIZE_MAX ? p.w.M1_len : M1_len, M2,
				&M2_len);
	assert_int_equal(M2_len, rc == 0 ? AUTH_PROOF_SIZE : 0);
	pending_end(&p);
	return rc;
}

static void test_auth_truncated_inputs_refused(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	struct pending p;
	uint8_t M2[AUTH_PROOF_SIZE];
	size_t M2_len;

	/* SIZE_MAX: the honest length; NULL: the honest bytes. */
	assert_int_equal(server_verify_with(&v, NULL, SIZE_MAX, NULL, SIZE_MAX), 0);

	pending_start(&p, &v, PASSWORD);
	assert_refused(auth_server_verify(p.as, p.w.A, p.w.A_len - 1, p.w.M1, p.w.M1_len, M2,
					  &M2_len));
	pending_end(&p);
	pending_start(&p, &v, PASSWORD);
	assert_refused(auth_server_verify(p.as, p.w.A + 1, p.w.A_len - 1, p.w.M1, p.w.M1_len, M2,
					  &M2_len));
	pending_end(&p);
	pending_start(&p, &v, PASSWORD);
	assert_int_equal(auth_server_verify(p.as, p.w.A, 0, p.w.M1, p.w.M1_len, M2, &M2_len),
			 -EINVAL);
	pending_end(&p);
	pending_start(&p, &v, PASSWORD);
	assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len - 1, M2,
					    &M2_len),
			 -EINVAL);
	pending_end(&p);
	pending_start(&p, &v, PASSWORD);
	assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, 0, M2, &M2_len),
			 -EINVAL);
	pending_end(&p);
	pending_start(&p, &v, PASSWORD);
	assert_int_equal(auth_server_verify(p.as, NULL, p.w.A_len, p.w.M1, p.w.M1_len, M2,
					    &M2_len),
			 -EINVAL);
	pending_end(&p);
	pending_start(&p, &v, PASSWORD);
	assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, NULL, p.w.M1_len, M2,
					    &M2_len),
			 -EINVAL);
	pending_end(&p);
	pending_start(&p, &v, PASSWORD);
	assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len, NULL,
					    &M2_len),
			 -EINVAL);
	assert_int_equal(auth_server_verify(NULL, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len, M2,
					    &M2_len),
			 -EINVAL);
	pending_end(&p);

	/* Client side: M2 one byte short, empty, NULL. */
	{
		size_t lens[] = { AUTH_PROOF_SIZE - 1, 0, AUTH_PROOF_SIZE };
		unsigned i;

		for (i = 0; i < 3; i++) {
			pending_start(&p, &v, PASSWORD);
			assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1,
							    p.w.M1_len, M2, &M2_len),
					 0);
			assert_int_equal(auth_client_verify(p.ac, i == 2 ? NULL : M2, lens[i]),
					 -EINVAL);
			pending_end(&p);
		}
	}
	assert_int_equal(auth_client_verify(NULL, M2, sizeof(M2)), -EINVAL);
}

static void test_auth_malformed_challenge_refused_by_client(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	struct auth_server *as;
	struct auth_client *ac = (struct auth_client *)&ac;
	uint8_t B[AUTH_GROUP_BYTES], A[AUTH_GROUP_BYTES], M1[AUTH_PROOF_SIZE];
	uint8_t M2[AUTH_PROOF_SIZE];
	size_t B_len, A_len, M1_len, M2_len;
	int rc;

	assert_int_equal(auth_server_challenge(&v, &as, B, &B_len), 0);
	/* Salt one byte short, empty, NULL; B empty, NULL, too long. */
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE - 1, B, B_len, &ac,
					     A, &A_len, M1, &M1_len),
			 -EINVAL);
	assert_null(ac);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, 0, B, B_len, &ac, A, &A_len, M1,
					     &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(PASSWORD, NULL, AUTH_SALT_SIZE, B, B_len, &ac, A,
					     &A_len, M1, &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, B, 0, &ac, A,
					     &A_len, M1, &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, NULL, B_len, &ac, A,
					     &A_len, M1, &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, B,
					     AUTH_GROUP_BYTES + 1, &ac, A, &A_len, M1, &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(NULL, v.salt, AUTH_SALT_SIZE, B, B_len, &ac, A,
					     &A_len, M1, &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, B, B_len, NULL, A,
					     &A_len, M1, &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, B, B_len, &ac, A,
					     NULL, M1, &M1_len),
			 -EINVAL);

	/* B one byte short is a different number: the client may answer,
	 * but the server must not accept the answer. */
	rc = auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, B, B_len - 1, &ac, A, &A_len,
				 M1, &M1_len);
	if (rc == 0) {
		assert_int_equal(auth_server_verify(as, A, A_len, M1, M1_len, M2, &M2_len),
				 -EACCES);
		auth_client_free(ac);
	} else {
		assert_int_equal(rc, -EINVAL);
	}
	auth_server_free(as);
}

static void test_auth_replayed_proof_refused(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	struct wire rec = exchange(&v, PASSWORD);
	struct auth_server *as;
	uint8_t B[AUTH_GROUP_BYTES], M2[AUTH_PROOF_SIZE];
	size_t B_len, M2_len;

	assert_int_equal(rec.server_rc, 0);
	assert_int_equal(rec.client_rc, 0);
	assert_int_equal(auth_server_challenge(&v, &as, B, &B_len), 0);
	assert_false(B_len == rec.B_len && memcmp(B, rec.B, B_len) == 0);
	assert_int_equal(auth_server_verify(as, rec.A, rec.A_len, rec.M1, rec.M1_len, M2, &M2_len),
			 -EACCES);
	assert_int_equal(M2_len, 0);
	auth_server_free(as);
}

static void test_auth_one_guess_per_challenge(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	struct auth_server *as;
	struct auth_client *wrong, *right;
	struct wire w;
	uint8_t A[AUTH_GROUP_BYTES], M1[AUTH_PROOF_SIZE], M2[AUTH_PROOF_SIZE];
	size_t A_len, M1_len, M2_len;

	assert_int_equal(auth_server_challenge(&v, &as, w.B, &w.B_len), 0);
	assert_int_equal(auth_client_respond("guess1", v.salt, AUTH_SALT_SIZE, w.B, w.B_len,
					     &wrong, A, &A_len, M1, &M1_len),
			 0);
	assert_int_equal(auth_server_verify(as, A, A_len, M1, M1_len, M2, &M2_len), -EACCES);
	/* The right answer to the same B, after a wrong one, is too late. */
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, w.B, w.B_len,
					     &right, A, &A_len, M1, &M1_len),
			 0);
	assert_int_equal(auth_server_verify(as, A, A_len, M1, M1_len, M2, &M2_len), -EINVAL);
	assert_int_equal(M2_len, 0);
	auth_server_free(as);
	auth_client_free(wrong);
	auth_client_free(right);

	/* And a success is not repeatable either. */
	{
		struct pending p;

		pending_start(&p, &v, PASSWORD);
		assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len,
						    M2, &M2_len),
				 0);
		assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len,
						    p.w.M2, &p.w.M2_len),
				 -EINVAL);
		assert_int_equal(auth_client_verify(p.ac, M2, M2_len), 0);
		assert_int_equal(auth_client_verify(p.ac, M2, M2_len), -EINVAL);
		pending_end(&p);
	}
}

static void test_auth_tampered_m2_refused(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	unsigned byte;

	for (byte = 0; byte < AUTH_PROOF_SIZE; byte += AUTH_PROOF_SIZE - 1) {
		struct pending p;
		uint8_t M2[AUTH_PROOF_SIZE];
		size_t M2_len;

		pending_start(&p, &v, PASSWORD);
		assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len,
						    M2, &M2_len),
				 0);
		M2[byte] ^= 0x01;
		assert_int_equal(auth_client_verify(p.ac, M2, M2_len), -EACCES);
		pending_end(&p);
	}
}

static void test_auth_tampered_m1_refused(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	struct pending p;
	uint8_t M2[AUTH_PROOF_SIZE];
	size_t M2_len;

	pending_start(&p, &v, PASSWORD);
	p.w.M1[AUTH_PROOF_SIZE / 2] ^= 0x80;
	assert_int_equal(auth_server_verify(p.as, p.w.A, p.w.A_len, p.w.M1, p.w.M1_len, M2,
					    &M2_len),
			 -EACCES);
	pending_end(&p);
}

/* A = 0 or N makes S = 0 whatever the password: the classic bypass. */
static void test_auth_degenerate_A_refused(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	const uint8_t *N = group_p();
	uint8_t zeros[AUTH_GROUP_BYTES] = { 0 }, one[1] = { 1 }, big[AUTH_GROUP_BYTES + 1];
	uint8_t any_m1[AUTH_PROOF_SIZE] = { 0 };

	memset(big, 0, sizeof(big));
	memcpy(big + 1, N, AUTH_GROUP_BYTES);
	assert_int_equal(server_verify_with(&v, zeros, 1, any_m1, sizeof(any_m1)), -EINVAL);
	assert_int_equal(server_verify_with(&v, zeros, sizeof(zeros), any_m1, sizeof(any_m1)),
			 -EINVAL);
	assert_int_equal(server_verify_with(&v, N, AUTH_GROUP_BYTES, any_m1, sizeof(any_m1)),
			 -EINVAL);
	/* N with a leading zero byte is still N, and too long besides. */
	assert_int_equal(server_verify_with(&v, big, sizeof(big), any_m1, sizeof(any_m1)), -EINVAL);
	/* A = 1 is legal for SRP (S still needs v and b); only the proof fails. */
	assert_refused(server_verify_with(&v, one, sizeof(one), any_m1, sizeof(any_m1)));
	/* The honest M1 does not rescue a degenerate A. */
	assert_int_equal(server_verify_with(&v, zeros, 1, NULL, SIZE_MAX), -EINVAL);
	assert_int_equal(server_verify_with(&v, N, AUTH_GROUP_BYTES, NULL, SIZE_MAX), -EINVAL);
}

/* B = 0 or N would let a fake server make S independent of the password. */
static void test_auth_degenerate_B_refused(void **state)
{
	struct auth_verifier v = make(PASSWORD);
	const uint8_t *N = group_p();
	uint8_t zeros[AUTH_GROUP_BYTES] = { 0 };
	uint8_t A[AUTH_GROUP_BYTES], M1[AUTH_PROOF_SIZE];
	size_t A_len = 5, M1_len = 5;
	struct auth_client *ac;

	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, zeros, 1, &ac, A,
					     &A_len, M1, &M1_len),
			 -EINVAL);
	assert_null(ac);
	assert_int_equal(A_len, 0);
	assert_int_equal(M1_len, 0);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, zeros,
					     sizeof(zeros), &ac, A, &A_len, M1, &M1_len),
			 -EINVAL);
	assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, N, AUTH_GROUP_BYTES,
					     &ac, A, &A_len, M1, &M1_len),
			 -EINVAL);
}

static void test_auth_bad_verifier_refused(void **state)
{
	struct auth_verifier v = make(PASSWORD), bad;
	struct auth_server *as = (struct auth_server *)&as;
	uint8_t B[AUTH_GROUP_BYTES];
	size_t B_len = 5;

	assert_int_equal(auth_verifier_make(NULL, &bad), -EINVAL);
	assert_int_equal(auth_verifier_make(PASSWORD, NULL), -EINVAL);

	bad = v;
	bad.v_len = 0;
	assert_int_equal(auth_server_challenge(&bad, &as, B, &B_len), -EINVAL);
	assert_null(as);
	assert_int_equal(B_len, 0);
	bad.v_len = AUTH_GROUP_BYTES + 1;
	assert_int_equal(auth_server_challenge(&bad, &as, B, &B_len), -EINVAL);
	memset(&bad, 0, sizeof(bad));
	bad.v_len = AUTH_GROUP_BYTES;
	assert_int_equal(auth_server_challenge(&bad, &as, B, &B_len), -EINVAL);
	assert_int_equal(auth_server_challenge(NULL, &as, B, &B_len), -EINVAL);
	assert_int_equal(auth_server_challenge(&v, NULL, B, &B_len), -EINVAL);
	assert_int_equal(auth_server_challenge(&v, &as, NULL, &B_len), -EINVAL);
	assert_int_equal(auth_server_challenge(&v, &as, B, NULL), -EINVAL);
	auth_server_free(NULL);
	auth_client_free(NULL);
}

static void test_auth_verifiers_differ_for_same_password(void **state)
{
	struct auth_verifier a = make(PASSWORD), b = make(PASSWORD);

	assert_memory_not_equal(a.salt, b.salt, AUTH_SALT_SIZE);
	assert_false(a.v_len == b.v_len && memcmp(a.v, b.v, a.v_len) == 0);
	/* Both still work. */
	assert_int_equal(exchange(&a, PASSWORD).client_rc, 0);
	assert_int_equal(exchange(&b, PASSWORD).client_rc, 0);
}

static void assert_lacks(const void *hay, size_t len, const char *what)
{
	static const char pw[] = PASSWORD;

	if (memmem(hay, len, pw, sizeof(pw) - 1) != NULL)
		fail_msg("%s contains the password", what);
}

static void test_auth_no_password_on_the_wire(void **state)
{
	unsigned i;

	for (i = 0; i < 5; i++) {
		struct auth_verifier v = make(PASSWORD);
		struct wire ok = exchange(&v, PASSWORD);
		struct wire bad = exchange(&v, PASSWORD "!");

		assert_int_equal(ok.client_rc, 0);
		assert_int_equal(bad.server_rc, -EACCES);
		assert_lacks(&v, sizeof(v), "verifier");
		assert_lacks(&ok, sizeof(ok), "transcript");
		assert_lacks(&bad, sizeof(bad), "failed transcript");
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a test of timing: it reports what each step costs the loop. */
static void test_auth_cost_report(void **state)
{
	enum { RUNS = 20 };
	double t_make = 0, t_chal = 0, t_resp = 0, t_verify = 0, t_cverify = 0, t0;
	unsigned i;

	for (i = 0; i < RUNS; i++) {
		struct auth_verifier v;
		struct auth_server *as;
		struct auth_client *ac;
		struct wire w;

		t0 = now();
		assert_int_equal(auth_verifier_make(PASSWORD, &v), 0);
		t_make += now() - t0;
		t0 = now();
		assert_int_equal(auth_server_challenge(&v, &as, w.B, &w.B_len), 0);
		t_chal += now() - t0;
		t0 = now();
		assert_int_equal(auth_client_respond(PASSWORD, v.salt, AUTH_SALT_SIZE, w.B,
						     w.B_len, &ac, w.A, &w.A_len, w.M1, &w.M1_len),
				 0);
		t_resp += now() - t0;
		t0 = now();
		assert_int_equal(auth_server_verify(as, w.A, w.A_len, w.M1, w.M1_len, w.M2,
						    &w.M2_len),
				 0);
		t_verify += now() - t0;
		t0 = now();
		assert_int_equal(auth_client_verify(ac, w.M2, w.M2_len), 0);
		t_cverify += now() - t0;
		auth_server_free(as);
		auth_client_free(ac);
	}
	printf("auth cost, mean of %d runs:\n", RUNS);
	printf("  auth_verifier_make     %8.3f ms\n", t_make * 1e3 / RUNS);
	printf("  auth_server_challenge  %8.3f ms\n", t_chal * 1e3 / RUNS);
	printf("  auth_client_respond    %8.3f ms\n", t_resp * 1e3 / RUNS);
	printf("  auth_server_verify     %8.3f ms\n", t_verify * 1e3 / RUNS);
	printf("  auth_client_verify     %8.3f ms\n", t_cverify * 1e3 / RUNS);
	printf("  server total/handshake %8.3f ms\n", (t_chal + t_verify) * 1e3 / RUNS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_right_password),
		cmocka_unit_test(test_auth_wrong_password),
		cmocka_unit_test(test_auth_password_is_case_sensitive),
		cmocka_unit_test(test_auth_empty_password_is_just_another_password),
		cmocka_unit_test(test_auth_truncated_inputs_refused),
		cmocka_unit_test(test_auth_malformed_challenge_refused_by_client),
		cmocka_unit_test(test_auth_replayed_proof_refused),
		cmocka_unit_test(test_auth_one_guess_per_challenge),
		cmocka_unit_test(test_auth_tampered_m2_refused),
		cmocka_unit_test(test_auth_tampered_m1_refused),
		cmocka_unit_test(test_auth_degenerate_A_refused),
		cmocka_unit_test(test_auth_degenerate_B_refused),
		cmocka_unit_test(test_auth_bad_verifier_refused),
		cmocka_unit_test(test_auth_verifiers_differ_for_same_password),
		cmocka_unit_test(test_auth_no_password_on_the_wire),
		cmocka_unit_test(test_auth_cost_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
