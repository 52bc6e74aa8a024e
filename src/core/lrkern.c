/*
 * lrkern.c — sums over a row's observed columns for the low-rank copula (see lrkern.h).
 *
 * A column is ld/4 vectors of four doubles. The sum over a list of columns keeps up to
 * eight of those vectors in registers and walks the list once per group of eight, so
 * every column costs one load and one add per vector and nothing is stored until the
 * list is done; the group's width is a compile-time constant in each specialised loop.
 */
#include <string.h>

#include "lrkern.h"

typedef double GcV4 __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double)),
								   may_alias));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GC_LRK_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define GC_LRK_CLONES
#endif

#define GC_LRK_GROUP 8

/* one group of nv (constant) vectors starting at vector v0 */
static inline __attribute__((always_inline)) void
SumGroup(const double *M, int ld, const int *idx, int m, const double *w, double *out, int v0,
		 const int nv)
{
	GcV4		acc[GC_LRK_GROUP];

#pragma GCC unroll 8
	for (int c = 0; c < nv; c++)
		acc[c] = (GcV4) {0, 0, 0, 0};
	if (w)
		for (int t = 0; t < m; t++)
		{
			const GcV4 *col = (const GcV4 *) (M + (size_t) idx[t] * ld) + v0;
			double		wt = w[idx[t]];

#pragma GCC unroll 8
			for (int c = 0; c < nv; c++)
				acc[c] += wt * col[c];
		}
	else
		for (int t = 0; t < m; t++)
		{
			const GcV4 *col = (const GcV4 *) (M + (size_t) idx[t] * ld) + v0;

#pragma GCC unroll 8
			for (int c = 0; c < nv; c++)
				acc[c] += col[c];
		}
#pragma GCC unroll 8
	for (int c = 0; c < nv; c++)
		((GcV4 *) out)[v0 + c] = acc[c];
}

GC_LRK_CLONES void
gc_lrk_sum_cols(const double *M, int ld, const int *idx, int m, const double *w, double *out)
{
	int			nvec = ld / GC_LRK_PAD;

	for (int v0 = 0; v0 < nvec; v0 += GC_LRK_GROUP)
	{
		/* each width its own loop, its accumulators in registers */
#define GC_LRK_WIDTH(nv) \
			case nv: \
				SumGroup(M, ld, idx, m, w, out, v0, nv); \
				break
		switch (nvec - v0 < GC_LRK_GROUP ? nvec - v0 : GC_LRK_GROUP)
		{
				GC_LRK_WIDTH(1);
				GC_LRK_WIDTH(2);
				GC_LRK_WIDTH(3);
				GC_LRK_WIDTH(4);
				GC_LRK_WIDTH(5);
				GC_LRK_WIDTH(6);
				GC_LRK_WIDTH(7);
			default:
				SumGroup(M, ld, idx, m, w, out, v0, GC_LRK_GROUP);
				break;
		}
#undef GC_LRK_WIDTH
	}
}

GC_LRK_CLONES void
gc_lrk_dot_cols(const double *M, int ld, const int *idx, int m, const double *x, double *out)
{
	int			nvec = ld / GC_LRK_PAD;
	const GcV4 *xv = (const GcV4 *) x;

	for (int t = 0; t < m; t++)
	{
		const GcV4 *col = (const GcV4 *) (M + (size_t) idx[t] * ld);
		GcV4		a0 = {0, 0, 0, 0},
					a1 = {0, 0, 0, 0};
		int			c = 0;

		/* two chains, so consecutive multiply-adds do not wait for each other */
		for (; c + 1 < nvec; c += 2)
		{
			a0 += col[c] * xv[c];
			a1 += col[c + 1] * xv[c + 1];
		}
		if (c < nvec)
			a0 += col[c] * xv[c];
		a0 += a1;
		out[t] = (a0[0] + a0[1]) + (a0[2] + a0[3]);
	}
}
