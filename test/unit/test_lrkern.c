/*
 * test_lrkern.c — the column-list kernels of lrkern.h against plain loops: every group width
 * (1..8 vectors and beyond), weighted and unweighted sums, dot products, empty lists and
 * repeated columns. Run with and without the AVX2 build by the loader (whichever this CPU
 * picks); both must agree with the plain loops to rounding.
 */
#include <math.h>
#include <stdlib.h>

#include "lrkern.h"
#include "unit.h"

static double
Rand(unsigned *st)
{
	*st = *st * 1103515245u + 12345u;
	return ((*st >> 8) & 0xffff) / 32771.0 - 1.0;
}

int
main(void)
{
	unsigned	st = 7;
	double		worst_sum = 0,
				worst_wsum = 0,
				worst_dot = 0;
	int			pad_bad = 0,
				empty_bad = 0;

	for (int len = 1; len <= 80; len++)
	{
		int			ld = gc_lrk_padded(len),
					q = 53;
		double	   *M = calloc((size_t) ld * q, sizeof(double)),
				   *w = malloc(sizeof(double) * q),
				   *x = calloc(ld, sizeof(double)),
				   *out = malloc(sizeof(double) * (ld + q)),
				   *ref = malloc(sizeof(double) * (ld + q));
		int		   *idx = malloc(sizeof(int) * 2 * q),
					m = 0;

		if (ld % GC_LRK_PAD != 0 || ld < len || ld >= len + GC_LRK_PAD)
			pad_bad++;
		for (int j = 0; j < q; j++)
		{
			for (int e = 0; e < len; e++)
				M[(size_t) j * ld + e] = Rand(&st);
			w[j] = Rand(&st);
		}
		for (int e = 0; e < len; e++)
			x[e] = Rand(&st);
		/* every other column, some twice */
		for (int j = 0; j < q; j += 2)
		{
			idx[m++] = j;
			if (j % 6 == 0)
				idx[m++] = j;
		}

		gc_lrk_sum_cols(M, ld, idx, m, NULL, out);
		for (int e = 0; e < ld; e++)
		{
			double		r = 0;

			for (int t = 0; t < m; t++)
				r += M[(size_t) idx[t] * ld + e];
			if (fabs(out[e] - r) > worst_sum)
				worst_sum = fabs(out[e] - r);
		}
		gc_lrk_sum_cols(M, ld, idx, m, w, out);
		for (int e = 0; e < ld; e++)
		{
			double		r = 0;

			for (int t = 0; t < m; t++)
				r += w[idx[t]] * M[(size_t) idx[t] * ld + e];
			if (fabs(out[e] - r) > worst_wsum)
				worst_wsum = fabs(out[e] - r);
		}
		gc_lrk_dot_cols(M, ld, idx, m, x, out);
		for (int t = 0; t < m; t++)
		{
			double		r = 0;

			for (int e = 0; e < len; e++)
				r += M[(size_t) idx[t] * ld + e] * x[e];
			if (fabs(out[t] - r) > worst_dot)
				worst_dot = fabs(out[t] - r);
		}
		/* an empty list sums to zero and writes no dot product */
		out[0] = 42;
		gc_lrk_dot_cols(M, ld, idx, 0, x, out);
		empty_bad += out[0] != 42;
		gc_lrk_sum_cols(M, ld, idx, 0, w, out);
		for (int e = 0; e < ld; e++)
			empty_bad += out[e] != 0;
		free(M);
		free(w);
		free(x);
		free(out);
		free(ref);
		free(idx);
	}
	CHECK(pad_bad == 0, "padded lengths are the next multiple of %d (%d bad)", GC_LRK_PAD, pad_bad);
	CHECK(worst_sum < 1e-12, "column sums agree with plain loops, lengths 1..80 (worst %.1e)", worst_sum);
	CHECK(worst_wsum < 1e-12, "weighted column sums agree with plain loops (worst %.1e)", worst_wsum);
	CHECK(worst_dot < 1e-12, "dot products agree with plain loops (worst %.1e)", worst_dot);
	CHECK(empty_bad == 0, "empty lists: zero sums, no dot products written (%d bad)", empty_bad);
	return UNIT_DONE();
}
