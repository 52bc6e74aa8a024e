/* Unit tests: type detection, knots and the observed <-> latent maps (src/copula/marginal.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "copula/marginal.h"
#include "copula/normal.h"
#include "platform/rng.h"
#include "platform/sort.h"
#include "unit.h"

static int
Detect(const double *v, size_t n)
{
	return gc_detect_type(v, n, 0.1);
}

/*
 * gc_sort_u64 (distribution pass + insertion sort) and gc_radix_sort give exactly the
 * stable order of the LSD radix sort, keys and row numbers, on spread, clustered, tied,
 * constant and short inputs.
 */
static void
SortsAgree(void)
{
	size_t		sizes[] = {0, 1, 2, 47, 48, 49, 1000, 16000};
	GcRng		rng;
	int			bad = 0,
				cases = 0;

	gc_rng_seed(&rng, 11);
	for (int kind = 0; kind < 6; kind++)
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
		{
			size_t		n = sizes[si],
						n1 = n ? n : 1;
			uint64_t   *a = malloc(sizeof(uint64_t) * n1),
					   *b = malloc(sizeof(uint64_t) * n1),
					   *t = malloc(sizeof(uint64_t) * n1);
			uint32_t   *ia = malloc(sizeof(uint32_t) * n1),
					   *ib = malloc(sizeof(uint32_t) * n1),
					   *ti = malloc(sizeof(uint32_t) * n1);
			double	   *v = malloc(sizeof(double) * n1),
					   *w = malloc(sizeof(double) * n1);

			for (size_t i = 0; i < n; i++)
			{
				uint64_t	r = gc_rng_next(&rng);
				double		x;

				switch (kind)
				{
					case 0:		/* anything */
						a[i] = r;
						break;
					case 1:		/* a few distinct values: long equal runs */
						a[i] = r % 5;
						break;
					case 2:		/* constant */
						a[i] = 42;
						break;
					case 3:		/* a tight cluster and far outliers: crowded buckets */
						a[i] = (r % 10 == 0) ? r : 1000000 + (r >> 50);
						break;
					default:	/* doubles: exponential and with ties */
						x = -log(gc_rng_uniform(&rng) + 1e-300) * 3;
						if (kind == 5)
							x = floor(x * 4) / 4;
						if (r % 50 == 0)
							x = -x - 1;
						memcpy(&a[i], &x, sizeof(x));
						v[i] = w[i] = x;
						break;
				}
				b[i] = a[i];
				ia[i] = ib[i] = (uint32_t) i;
			}
			cases++;
			if (kind < 4)
			{
				gc_radix_sort_u64(a, ia, n, t, ti);
				gc_sort_u64(b, ib, n, t, ti);
				if ((n && memcmp(a, b, sizeof(uint64_t) * n) != 0) ||
					(n && memcmp(ia, ib, sizeof(uint32_t) * n) != 0))
					bad++;
			}
			else
			{
				/* gc_radix_sort against a stable reference: LSD radix on the keys */
				double	   *tv = (double *) t;

				gc_radix_sort(v, ia, n, tv, ti);
				for (size_t i = 0; i + 1 < n; i++)
					if (v[i] > v[i + 1] || (v[i] == v[i + 1] && ia[i] > ia[i + 1]))
						bad++;
				for (size_t i = 0; i < n; i++)
					if (v[i] != w[ia[i]])
						bad++;
			}
			free(a);
			free(b);
			free(t);
			free(ia);
			free(ib);
			free(ti);
			free(v);
			free(w);
		}
	CHECK(bad == 0, "bucket sort gives the radix sort's stable order in %d cases (%d differences)",
		  cases, bad);
}

/*
 * The search indexes used by imputation give the same maps as plain binary search, bit
 * for bit, on skewed, heavy-tailed, tied and ordinal data, at knots and between them.
 */
static void
IndexedMapsAgree(void)
{
	enum
	{
		N = 5000, KMAX = 256
	};
	static double vals[N];
	double		x[KMAX],
				cum[KMAX],
				mult[KMAX];
	int32_t		starts[2 * (KMAX + 1)];
	GcKnot		kn[KMAX];
	const int	types[] = {GC_CONTINUOUS, GC_CONTINUOUS, GC_CONTINUOUS, GC_ORDINAL, GC_LOWER_TRUNCATED};
	unsigned int seed = 7;

	for (int c = 0; c < 5; c++)
	{
		GcMarginal	m;
		GcMarginalIndex ix;
		int			K,
					exact,
					bad = 0;

		for (int i = 0; i < N; i++)
		{
			double		u = (rand_r(&seed) + 0.5) / ((double) RAND_MAX + 1);

			if (c == 0)
				vals[i] = -3 * log(u);	/* exponential */
			else if (c == 1)
				vals[i] = pow(u, -3.0); /* heavy tail: range far wider than the bulk */
			else if (c == 2)
				vals[i] = floor(u * 3000) / 7;	/* ties */
			else if (c == 3)
				vals[i] = floor(u * 9);
			else
				vals[i] = u < 0.3 ? 0 : u;
		}
		/* insertion sort is too slow for N; a simple shell sort */
		for (int gap = N / 2; gap > 0; gap /= 2)
			for (int i = gap; i < N; i++)
				for (int j = i; j >= gap && vals[j - gap] > vals[j]; j -= gap)
				{
					double		t = vals[j];

					vals[j] = vals[j - gap];
					vals[j - gap] = t;
				}
		K = gc_build_knots(vals, N, KMAX, x, cum, mult, &exact);
		m.type = types[c];
		m.nknots = K;
		m.exact = exact;
		m.n = N;
		m.x = x;
		m.cum = cum;
		m.mult = mult;
		gc_marginal_prepare(&m);
		for (int packed = 0; packed < 2; packed++)
		{
			bad = 0;
			gc_marginal_index_build(&ix, &m, starts, packed ? kn : NULL);
			for (int i = 0; i < N + 2000; i++)
			{
				double		v = i < N ? vals[i] : vals[0] - 1 + (vals[N - 1] - vals[0] + 2) * (i - N) / 2000.0;
				double		z = -4 + 8.0 * i / (N + 2000);
				double		lo1,
							hi1,
							lo2,
							hi2;
				int			t1 = gc_marginal_to_latent(&m, v, &lo1, &hi1),
							t2 = gc_marginal_to_latent_ix(&m, &ix, v, &lo2, &hi2);

				if (t1 != t2 || memcmp(&lo1, &lo2, sizeof(double)) != 0 || memcmp(&hi1, &hi2, sizeof(double)) != 0)
					bad++;
				lo1 = gc_marginal_from_latent(&m, z);
				lo2 = gc_marginal_from_latent_ix(&m, &ix, z);
				if (memcmp(&lo1, &lo2, sizeof(double)) != 0)
					bad++;
		}
		CHECK(bad == 0 && ix.xs.nb == K, "indexed maps agree with binary search (data set %d, %d knots, %s): %d differences", c, K, packed ? "packed knots" : "plain knots", bad);
		}
	}
}

int
main(void)
{
	double		cont[100],
				ord[100],
				bin[10] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1},
				lower[100],
				upper[100],
				two[100],
				one[5] = {3, 3, 3, 3, 3};
	double		x[128],
				cum[128],
				mult[128];
	int			exact,
				K;
	GcMarginal	m;
	double		lo,
				hi;

	gc_simd_init();
	for (int i = 0; i < 100; i++)
	{
		cont[i] = i * 0.5;
		ord[i] = i / 20;		/* 5 levels of 20 */
		lower[i] = i < 30 ? 0 : i;	/* 30% at the minimum, the rest distinct */
		upper[i] = i < 70 ? i : 100;	/* 30% at the maximum */
		two[i] = i < 20 ? 0 : (i >= 80 ? 100 : i);	/* 20% at each end */
	}
	CHECK(Detect(cont, 100) == GC_CONTINUOUS, "distinct values are continuous");
	CHECK(Detect(ord, 100) == GC_ORDINAL, "five levels of 20%% are ordinal");
	CHECK(Detect(bin, 10) == GC_BINARY, "two levels are binary");
	CHECK(Detect(lower, 100) == GC_LOWER_TRUNCATED, "mass at the minimum is lower-truncated");
	CHECK(Detect(upper, 100) == GC_UPPER_TRUNCATED, "mass at the maximum is upper-truncated");
	CHECK(Detect(two, 100) == GC_TWOSIDED_TRUNCATED, "mass at both ends is two-sided truncated");
	CHECK(Detect(one, 5) == GC_CONSTANT, "one level is constant");

	/* exact knots: ECDF and order statistics of the data */
	K = gc_build_knots(ord, 100, 16, x, cum, mult, &exact);
	CHECK(K == 5 && exact, "five levels give five exact knots (K=%d)", K);
	m.type = GC_ORDINAL;
	m.nknots = K;
	m.exact = exact;
	m.n = 100;
	m.x = x;
	m.cum = cum;
	m.mult = mult;
	gc_marginal_prepare(&m);
	CHECK(gc_marginal_check(&m) == NULL, "exact marginal is consistent");
	CHECK_CLOSE(gc_marginal_ecdf(&m, 2), 0.6, 0, "ECDF at a level");
	CHECK_CLOSE(gc_marginal_ecdf(&m, 2.5), 0.6, 0, "ECDF between levels (step)");
	CHECK(gc_marginal_to_latent(&m, 2, &lo, &hi) == 1, "ordinal value is an interval");
	CHECK_CLOSE(lo, gc_norm_ppf(0.4), 1e-15, "interval lower bound");
	CHECK_CLOSE(hi, gc_norm_ppf(0.6), 1e-15, "interval upper bound");
	gc_marginal_to_latent(&m, 0, &lo, &hi);
	CHECK(isinf(lo) && lo < 0, "first level opens to -inf");
	gc_marginal_to_latent(&m, 7, &lo, &hi);
	CHECK(isinf(hi) && hi > 0, "values above the range clip to the last level");
	for (int level = 0; level < 5; level++)
	{
		gc_marginal_to_latent(&m, level, &lo, &hi);
		CHECK(gc_marginal_from_latent(&m, (isinf(lo) ? hi - 1 : isinf(hi) ? lo + 1 : (lo + hi) / 2)) == level,
			  "level %d round-trips through the latent space", level);
	}

	/* compressed knots stay within the budget and keep the extremes */
	K = gc_build_knots(cont, 100, 16, x, cum, mult, &exact);
	CHECK(K <= 16 && !exact && x[0] == 0 && x[K - 1] == 49.5 && cum[K - 1] == 100,
		  "100 distinct values compress to %d <= 16 knots with both extremes", K);
	m.type = GC_CONTINUOUS;
	m.nknots = K;
	m.exact = exact;
	gc_marginal_prepare(&m);
	CHECK(gc_marginal_check(&m) == NULL, "compressed marginal is consistent");
	CHECK_CLOSE(gc_marginal_ecdf(&m, 24.75), 0.5, 0.03, "interpolated ECDF near the median");
	CHECK_CLOSE(gc_marginal_from_latent(&m, 0), 24.75, 1.0, "inverse at z=0 is near the median");

	/* lower truncation: the minimum is an interval, other values are points */
	K = gc_build_knots(lower, 100, 128, x, cum, mult, &exact);
	m.type = GC_LOWER_TRUNCATED;
	m.nknots = K;
	m.exact = exact;
	gc_marginal_prepare(&m);
	CHECK(gc_marginal_check(&m) == NULL, "truncated marginal is consistent");
	CHECK(gc_marginal_to_latent(&m, 0, &lo, &hi) == 1 && isinf(lo) && fabs(hi - gc_norm_ppf(0.3)) < 1e-15,
		  "truncation point maps to (-inf, ppf(0.3)]");
	CHECK(gc_marginal_to_latent(&m, 50, &lo, &hi) == 0 && lo == hi && lo > gc_norm_ppf(0.3),
		  "a value above the truncation point is a point above the bound");
	CHECK(gc_marginal_from_latent(&m, gc_norm_ppf(0.1)) == 0, "low latent values map to the truncation point");
	CHECK(gc_marginal_from_latent(&m, 3) > 90, "high latent values map to high observed values");
	IndexedMapsAgree();
	SortsAgree();
	return UNIT_DONE();
}
