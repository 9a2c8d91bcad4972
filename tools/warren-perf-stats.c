/*
 * warren-perf-stats.c: the latency histogram. Buckets are log-linear, as in HdrHistogram: values
 * below 64 ns have a bucket each, then every power of two is cut into 32 equal buckets, so a
 * reported quantile is within about 3% of the true value. One worker thread writes a histogram;
 * the main thread sums snapshots of them for the progress lines and the summary.
 */
#include <math.h>

#include "tools/warren-perf.h"

#define LINEAR (2 * PERF_HIST_SUB) /* values below this have their own bucket */
#define SUB_BITS 5                 /* log2(PERF_HIST_SUB) */

static unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* v >= 64, so e >= 6 */
	if (e >= 40)
		return PERF_HIST_BUCKETS - 1; /* beyond 2^40 ns (18 minutes): the last bucket */
	return LINEAR + (e - 6) * PERF_HIST_SUB +
	    (unsigned)((v >> (e - SUB_BITS)) & (PERF_HIST_SUB - 1));
}

/* The middle of bucket i, in ns. */
static uint64_t bucket_value(unsigned i)
{
	unsigned e, sub;

	if (i < LINEAR)
		return i;
	e = (i - LINEAR) / PERF_HIST_SUB + 6;
	sub = (i - LINEAR) % PERF_HIST_SUB;
	return ((uint64_t)(PERF_HIST_SUB + sub) << (e - SUB_BITS)) +
	    ((uint64_t)1 << (e - SUB_BITS)) / 2;
}

void perf_hist_add(struct perf_hist *h, uint64_t ns)
{
	perf_count(&h->n[bucket_of(ns)], 1);
	if (ns > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, ns, memory_order_relaxed);
}

void perf_hist_sum(uint64_t *dst, const struct perf_hist *src)
{
	unsigned i;

	for (i = 0; i < PERF_HIST_BUCKETS; i++)
		dst[i] += atomic_load_explicit(&src->n[i], memory_order_relaxed);
}

uint64_t perf_hist_count(const uint64_t *n)
{
	uint64_t total = 0;
	unsigned i;

	for (i = 0; i < PERF_HIST_BUCKETS; i++)
		total += n[i];
	return total;
}

uint64_t perf_hist_quantile(const uint64_t *n, double q)
{
	uint64_t total = perf_hist_count(n), rank, seen = 0;
	unsigned i;

	if (total == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)total);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < PERF_HIST_BUCKETS; i++) {
		seen += n[i];
		if (seen >= rank)
			return bucket_value(i);
	}
	return bucket_value(PERF_HIST_BUCKETS - 1);
}
