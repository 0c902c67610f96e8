/* hist.c: log-linear latency histogram (see hist.h for the layout). */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof *h);
	if (h)
		hist_init(h);
	return h;
}

void hist_free(struct hist *h)
{
	free(h);
}

static unsigned msb64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

size_t hist_index(uint64_t v)
{
	if (v > HIST_MAX_VALUE)
		v = HIST_MAX_VALUE;
	if (v < HIST_EXACT)
		return (size_t)v;
	unsigned m = msb64(v);                    /* >= 11 */
	unsigned shift = m - HIST_SUB_BITS;       /* bucket width is 2^shift */
	uint64_t sub = (v >> shift) - HIST_SUB_COUNT;   /* 0..1023 */
	return HIST_EXACT + (size_t)(m - (HIST_SUB_BITS + 1)) * HIST_SUB_COUNT + (size_t)sub;
}

uint64_t hist_bucket_low(size_t idx)
{
	if (idx < HIST_EXACT)
		return idx;
	size_t rel = idx - HIST_EXACT;
	unsigned m = (unsigned)(rel / HIST_SUB_COUNT) + HIST_SUB_BITS + 1;
	uint64_t sub = rel % HIST_SUB_COUNT + HIST_SUB_COUNT;
	return sub << (m - HIST_SUB_BITS);
}

uint64_t hist_bucket_high(size_t idx)
{
	if (idx < HIST_EXACT)
		return idx;
	size_t rel = idx - HIST_EXACT;
	unsigned m = (unsigned)(rel / HIST_SUB_COUNT) + HIST_SUB_BITS + 1;
	return hist_bucket_low(idx) + ((1ull << (m - HIST_SUB_BITS)) - 1);
}

void hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
	if (n == 0)
		return;
	if (v > HIST_MAX_VALUE) {
		h->clamped += n;
		v = HIST_MAX_VALUE;
	}
	h->counts[hist_index(v)] += n;
	h->total += n;
	h->sum += (double)v * (double)n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_record(struct hist *h, uint64_t v)
{
	hist_record_n(h, v, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->total == 0)
		return;
	for (size_t i = 0; i < HIST_NBUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->clamped += src->clamped;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double q)
{
	if (h->total == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 100)
		return h->max;
	/* ceil() of the rank, so p50 of {1,2} is 1 and p50 of {1,2,3} is 2. The
	 * small epsilon keeps 99.9% of 1000 samples at rank 999, not 1000, when
	 * the floating-point product lands a hair above the integer. */
	double want = ceil(q / 100.0 * (double)h->total - 1e-9);
	uint64_t target = want < 1 ? 1 : (uint64_t)want;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= target) {
			uint64_t v = hist_bucket_high(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}
