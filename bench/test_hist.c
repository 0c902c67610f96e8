/* test_hist.c: cmocka tests of the log-linear histogram: bucket mapping,
 * percentiles against data whose exact answer is known, merge, edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <math.h>

#include "hist.h"

/* Exact percentile by sorting, same rank rule as hist_percentile. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t exact_pct(uint64_t *v, size_t n, double q)
{
	qsort(v, n, sizeof *v, cmp_u64);
	if (q <= 0)
		return v[0];
	if (q >= 100)
		return v[n - 1];
	double want = ceil(q / 100.0 * (double)n - 1e-9);
	size_t rank = want < 1 ? 1 : (size_t)want;
	return v[rank - 1];
}

static void test_empty(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	assert_non_null(h);
	assert_int_equal(h->total, 0);
	assert_int_equal(hist_percentile(h, 50), 0);
	assert_int_equal(hist_percentile(h, 100), 0);
	assert_true(hist_mean(h) == 0.0);
	hist_free(h);
}

static void test_single_value(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	hist_record(h, 123456789);
	/* min/max are exact, so every percentile of one sample is that sample */
	assert_int_equal(hist_percentile(h, 0), 123456789);
	assert_int_equal(hist_percentile(h, 50), 123456789);
	assert_int_equal(hist_percentile(h, 99.9), 123456789);
	assert_int_equal(hist_percentile(h, 100), 123456789);
	hist_free(h);
}

static void test_exact_small_values(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	for (uint64_t v = 1; v <= 1000; v++)
		hist_record(h, v);
	/* below 2048 every value has its own bucket: answers are exact */
	assert_int_equal(hist_percentile(h, 50), 500);
	assert_int_equal(hist_percentile(h, 99), 990);
	assert_int_equal(hist_percentile(h, 99.9), 999);
	assert_int_equal(hist_percentile(h, 100), 1000);
	assert_int_equal(hist_percentile(h, 0), 1);
	assert_int_equal(hist_percentile(h, 0.05), 1);
	assert_true(fabs(hist_mean(h) - 500.5) < 1e-9);
	hist_free(h);
}

static void test_rank_rule(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	hist_record(h, 10);
	hist_record(h, 20);
	assert_int_equal(hist_percentile(h, 50), 10);   /* ceil(0.5*2) = 1st */
	assert_int_equal(hist_percentile(h, 50.1), 20);
	hist_record(h, 30);
	assert_int_equal(hist_percentile(h, 50), 20);   /* ceil(1.5) = 2nd */
	hist_free(h);
}

static void test_bucket_mapping(void **state)
{
	(void)state;
	/* boundaries: exact region, first log octave, and the top */
	assert_int_equal(hist_index(0), 0);
	assert_int_equal(hist_index(2047), 2047);
	assert_int_equal(hist_index(2048), 2048);
	assert_int_equal(hist_index(2049), 2048);    /* width 2 in [2048, 4096) */
	assert_int_equal(hist_index(2050), 2049);
	assert_int_equal(hist_index(4095), 2048 + 1023);
	assert_int_equal(hist_index(4096), 2048 + 1024);
	assert_int_equal(hist_index(HIST_MAX_VALUE), HIST_NBUCKETS - 1);
	assert_int_equal(hist_index(UINT64_MAX), HIST_NBUCKETS - 1);
	/* every bucket's bounds map back to it, and buckets tile the range */
	for (size_t i = 0; i < HIST_NBUCKETS; i++) {
		assert_int_equal(hist_index(hist_bucket_low(i)), i);
		assert_int_equal(hist_index(hist_bucket_high(i)), i);
		if (i > 0)
			assert_int_equal(hist_bucket_low(i), hist_bucket_high(i - 1) + 1);
	}
	assert_int_equal(hist_bucket_high(HIST_NBUCKETS - 1), HIST_MAX_VALUE);
}

static void test_relative_error(void **state)
{
	(void)state;
	/* 3 significant digits: a bucket is never wider than 1/1024 of its low end */
	for (size_t i = HIST_EXACT; i < HIST_NBUCKETS; i += 97) {
		uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
		assert_true((double)(hi - lo + 1) / (double)lo <= 1.0 / 1024 + 1e-12);
	}
}

static void test_percentiles_vs_sorted(void **state)
{
	(void)state;
	/* log-uniform data from 1 us to 10 s, deterministic LCG */
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof *v);
	struct hist *h = hist_new();
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < N; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		double u = (double)(x >> 11) / 9007199254740992.0;
		v[i] = (uint64_t)(1000.0 * pow(1e7, u));
		hist_record(h, v[i]);
	}
	const double qs[] = {1, 10, 50, 90, 99, 99.9, 99.99};
	for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
		uint64_t want = exact_pct(v, N, qs[k]);
		uint64_t got = hist_percentile(h, qs[k]);
		/* reported as the bucket's highest equivalent value: never below
		 * the truth, and above it by less than one bucket width */
		assert_true(got >= want);
		assert_true((double)(got - want) <= (double)want / 1024.0 + 1);
	}
	assert_int_equal(hist_percentile(h, 100), exact_pct(v, N, 100));
	assert_int_equal(hist_percentile(h, 0), exact_pct(v, N, 0));
	free(v);
	hist_free(h);
}

static void test_bimodal(void **state)
{
	(void)state;
	/* 990 fast samples at 100 us, 10 slow at 50 ms: p99 fast, p99.9 slow */
	struct hist *h = hist_new();
	hist_record_n(h, 100000, 990);
	hist_record_n(h, 50000000, 10);
	uint64_t p99 = hist_percentile(h, 99), p999 = hist_percentile(h, 99.9);
	assert_true(p99 >= 100000 && p99 < 100000 + 100);
	assert_true(p999 >= 50000000 && p999 <= 50000000);   /* clamped to exact max */
	assert_int_equal(h->total, 1000);
	hist_free(h);
}

static void test_merge(void **state)
{
	(void)state;
	struct hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	for (uint64_t v = 1; v <= 5000; v++) {
		hist_record(v % 2 ? a : b, v * 1000);
		hist_record(all, v * 1000);
	}
	hist_merge(a, b);
	assert_int_equal(a->total, all->total);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	for (double q = 0; q <= 100; q += 0.5)
		assert_int_equal(hist_percentile(a, q), hist_percentile(all, q));
	assert_true(fabs(hist_mean(a) - hist_mean(all)) < 1e-6);
	/* merging an empty histogram changes nothing, min included */
	struct hist *e = hist_new();
	hist_merge(a, e);
	assert_int_equal(a->total, all->total);
	assert_int_equal(a->min, 1000);
	hist_merge(e, a);
	assert_int_equal(e->min, 1000);
	assert_int_equal(hist_percentile(e, 50), hist_percentile(all, 50));
	hist_free(a);
	hist_free(b);
	hist_free(all);
	hist_free(e);
}

static void test_clamp_and_zero(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	hist_record(h, 0);
	hist_record(h, UINT64_MAX);
	assert_int_equal(h->clamped, 1);
	assert_int_equal(h->max, HIST_MAX_VALUE);
	assert_int_equal(hist_percentile(h, 50), 0);
	assert_int_equal(hist_percentile(h, 100), HIST_MAX_VALUE);
	hist_record_n(h, 5, 0); /* n = 0 is a no-op */
	assert_int_equal(h->total, 2);
	hist_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_value),
		cmocka_unit_test(test_exact_small_values),
		cmocka_unit_test(test_rank_rule),
		cmocka_unit_test(test_bucket_mapping),
		cmocka_unit_test(test_relative_error),
		cmocka_unit_test(test_percentiles_vs_sorted),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_clamp_and_zero),
	};
	return cmocka_run_group_tests_name("bench_hist", tests, NULL, NULL);
}
