/* hist.h: HDR-style log-linear histogram of uint64 values (latencies in ns).
 *
 * Why not keep samples: at 10,000 clients x thousands of records a per-sample
 * array is gigabytes; this histogram is a fixed ~300 KiB with 3 significant
 * digits (relative error <= 1/1024) from 1 ns to ~19 hours.
 *
 * Layout: values below 2048 have one bucket each (exact).  Above, every power
 * of two [2^m, 2^(m+1)) is split into 1024 equal buckets of width 2^(m-10). */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS   10                       /* 1024 linear buckets per octave */
#define HIST_SUB_COUNT  (1u << HIST_SUB_BITS)
#define HIST_EXACT      (2u * HIST_SUB_COUNT)    /* values < 2048 are exact */
#define HIST_MAX_MSB    45                       /* highest octave: [2^45, 2^46) */
#define HIST_NBUCKETS   (HIST_EXACT + (HIST_MAX_MSB - HIST_SUB_BITS) * HIST_SUB_COUNT)
#define HIST_MAX_VALUE  ((1ull << (HIST_MAX_MSB + 1)) - 1)

struct hist {
	uint64_t total;       /* samples recorded */
	uint64_t min, max;    /* exact extremes (min = UINT64_MAX when empty) */
	uint64_t clamped;     /* samples above HIST_MAX_VALUE, stored as the top value */
	double sum;           /* for the mean; double because ns x 1e10 samples overflows */
	uint64_t counts[HIST_NBUCKETS];
};

void hist_init(struct hist *h);
struct hist *hist_new(void);            /* heap, initialised; NULL on OOM */
void hist_free(struct hist *h);

void hist_record(struct hist *h, uint64_t v);
void hist_record_n(struct hist *h, uint64_t v, uint64_t n);
void hist_merge(struct hist *dst, const struct hist *src);

/* Value at percentile q in [0, 100]: the smallest recorded bucket whose
 * cumulative count reaches ceil(q/100 * total), reported as that bucket's
 * highest equivalent value and clamped to the exact [min, max].  q <= 0 gives
 * min, q >= 100 gives max; an empty histogram gives 0. */
uint64_t hist_percentile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

/* Bucket mapping, exposed for tests. */
size_t hist_index(uint64_t v);
uint64_t hist_bucket_low(size_t idx);
uint64_t hist_bucket_high(size_t idx);

#endif
