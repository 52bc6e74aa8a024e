/*
 * lrkern.c — sums over a row's observed columns for the low-rank copula (see lrkern.h).
 *
 * A column is ld/4 vectors of four doubles. The sum over a list of columns keeps up to
 * eight of those vectors in registers and walks the list once per group of eight, so
 * every column costs one load and one add per vector and nothing is stored until the
 * list is done; the group's width is a compile-time constant in each specialised loop.
 */
#include <string.h>

#include <cblas.h>

#include "lowrank/lrkern.h"
#include "platform/simd.h"

typedef GcF64x4 GcV4;

#define GC_LRK_GROUP 8

/*
 * One group of nv (constant) vectors starting at vector v0. A narrow group (nv <= 4) walks
 * the list two columns at a time into two sets of accumulators, so that it still has eight
 * independent chains of additions; the two sets are added at the end.
 */
static inline __attribute__((always_inline)) void
SumGroup(const double *M, int ld, const int *idx, int m, const double *w, double *out, int v0,
		 const int nv)
{
	GcV4		acc[GC_LRK_GROUP],
				acc2[GC_LRK_GROUP];
	const int	two = nv <= GC_LRK_GROUP / 2;
	int			t = 0;

#pragma GCC unroll 8
	for (int c = 0; c < nv; c++)
		acc[c] = acc2[c] = (GcV4) {0, 0, 0, 0};
	if (two)
		for (; t + 1 < m; t += 2)
		{
			const GcV4 *col = (const GcV4 *) (M + (size_t) idx[t] * ld) + v0,
					   *col2 = (const GcV4 *) (M + (size_t) idx[t + 1] * ld) + v0;
			double		wt = w ? w[idx[t]] : 1.0,
						wt2 = w ? w[idx[t + 1]] : 1.0;

#pragma GCC unroll 8
			for (int c = 0; c < nv; c++)
			{
				acc[c] += wt * col[c];
				acc2[c] += wt2 * col2[c];
			}
		}
	if (w)
		for (; t < m; t++)
		{
			const GcV4 *col = (const GcV4 *) (M + (size_t) idx[t] * ld) + v0;
			double		wt = w[idx[t]];

#pragma GCC unroll 8
			for (int c = 0; c < nv; c++)
				acc[c] += wt * col[c];
		}
	else
		for (; t < m; t++)
		{
			const GcV4 *col = (const GcV4 *) (M + (size_t) idx[t] * ld) + v0;

#pragma GCC unroll 8
			for (int c = 0; c < nv; c++)
				acc[c] += col[c];
		}
#pragma GCC unroll 8
	for (int c = 0; c < nv; c++)
		((GcV4 *) out)[v0 + c] = acc[c] + acc2[c];
}

static GC_ALWAYS_INLINE void
SumCols(const double *M, int ld, const int *idx, int m, const double *w, double *out)
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

/* the dot product of one column with x, nv (constant) vectors, as two chains */
static inline __attribute__((always_inline)) double
DotOne(const GcV4 *col, const GcV4 *xv, const int nv)
{
	GcV4		a0 = {0, 0, 0, 0},
				a1 = {0, 0, 0, 0};
	int			c = 0;

#pragma GCC unroll 16
	for (; c + 1 < nv; c += 2)
	{
		a0 += col[c] * xv[c];
		a1 += col[c + 1] * xv[c + 1];
	}
	if (c < nv)
		a0 += col[c] * xv[c];
	a0 += a1;
	return (a0[0] + a0[1]) + (a0[2] + a0[3]);
}

/*
 * Four columns at a time: each column's sum is the same two chains in the same order as
 * alone, but four columns' chains are in flight together instead of one's waiting on the
 * latency of its additions.
 */
static inline __attribute__((always_inline)) void
DotCols(const double *M, int ld, const int *idx, int m, const double *x, double *out,
		const int nv)
{
	const GcV4 *xv = (const GcV4 *) x;
	int			t = 0;

	for (; t + 3 < m; t += 4)
	{
		const GcV4 *c0 = (const GcV4 *) (M + (size_t) idx[t] * ld),
				   *c1 = (const GcV4 *) (M + (size_t) idx[t + 1] * ld),
				   *c2 = (const GcV4 *) (M + (size_t) idx[t + 2] * ld),
				   *c3 = (const GcV4 *) (M + (size_t) idx[t + 3] * ld);

		out[t] = DotOne(c0, xv, nv);
		out[t + 1] = DotOne(c1, xv, nv);
		out[t + 2] = DotOne(c2, xv, nv);
		out[t + 3] = DotOne(c3, xv, nv);
	}
	for (; t < m; t++)
		out[t] = DotOne((const GcV4 *) (M + (size_t) idx[t] * ld), xv, nv);
}

static GC_ALWAYS_INLINE void
DotColsAnyWidth(const double *M, int ld, const int *idx, int m, const double *x, double *out)
{
	int			nvec = ld / GC_LRK_PAD;

	/* as constants: U's width for ranks up to 16, and UU's at rank 10; others generic */
	switch (nvec)
	{
#define GC_LRK_DOTW(nv) \
		case nv: \
			DotCols(M, ld, idx, m, x, out, nv); \
			break
			GC_LRK_DOTW(1);
			GC_LRK_DOTW(2);
			GC_LRK_DOTW(3);
			GC_LRK_DOTW(4);
			GC_LRK_DOTW(14);
#undef GC_LRK_DOTW
		default:
			for (int t = 0; t < m; t++)
				out[t] = DotOne((const GcV4 *) (M + (size_t) idx[t] * ld), (const GcV4 *) x, nvec);
			break;
	}
}

/* the two entry points, as AVX2 code where the level allows (one instruction per vector) */
GC_AVX2_FORM(, gc_lrk_sum_cols,
			 (const double *M, int ld, const int *idx, int m, const double *w, double *out),
			 (M, ld, idx, m, w, out), SumCols)
GC_AVX2_FORM(, gc_lrk_dot_cols,
			 (const double *M, int ld, const int *idx, int m, const double *x, double *out),
			 (M, ld, idx, m, x, out), DotColsAnyWidth)

/*
 * Dense products of the low-rank E-step: C (M×N) = or += A (M×K) · B, with B addressed by
 * strides, B[k, n] = B[k·rsb + n·csb], so the same kernel serves the row blocks' mask
 * (rsb = 1) and its transpose (csb = 1). With AVX-512 a tile of up to 56 rows of C by four
 * columns is kept in 28 registers through the whole K loop: per k, up to seven loads of A's
 * column, four broadcasts of B and 28 fused multiply-adds (explicit, as in dgemm: the only
 * kernel whose rounding is not the portable code's, and dgemm is its reference). OpenBLAS
 * runs its AVX2 kernels on CPUs it does not know, so on newer AVX-512 CPUs its dgemm falls
 * well short of this kernel on these narrow shapes. Rows past the last multiple of 8, lower
 * levels, and runs under valgrind (which hides AVX-512) go to dgemm.
 */
#ifdef GC_SIMD_X86
typedef GcF64x8 GcV8;

#define GC_LRK_NR 4

static GC_ALWAYS_INLINE GC_TARGET_AVX512 void
GemmTile(const int nv, const int nr, int K, const double *A, int lda, const double *B,
		 size_t rsb, size_t csb, double *C, int ldc, int accumulate)
{
	GcV8		c[GC_LRK_NR][7];

#pragma GCC unroll 4
	for (int r = 0; r < nr; r++)
#pragma GCC unroll 7
		for (int v = 0; v < nv; v++)
			c[r][v] = accumulate ? *(const GcV8 *) (C + (size_t) r * ldc + 8 * v) : (GcV8) {0};
	for (int k = 0; k < K; k++)
	{
		const double *a = A + (size_t) k * lda,
				   *b = B + (size_t) k * rsb;
		double		bb[GC_LRK_NR];

#pragma GCC unroll 4
		for (int r = 0; r < nr; r++)
			bb[r] = b[r * csb];
#pragma GCC unroll 7
		for (int v = 0; v < nv; v++)
		{
			GcV8		av = *(const GcV8 *) (a + 8 * v);

#pragma GCC unroll 4
			for (int r = 0; r < nr; r++)
				c[r][v] = _mm512_fmadd_pd(av, _mm512_set1_pd(bb[r]), c[r][v]);
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < nr; r++)
#pragma GCC unroll 7
		for (int v = 0; v < nv; v++)
			*(GcV8 *) (C + (size_t) r * ldc + 8 * v) = c[r][v];
}

/* one strip of nv·8 rows of C, all N columns */
static GC_ALWAYS_INLINE GC_TARGET_AVX512 void
GemmStrip(const int nv, int N, int K, const double *A, int lda, const double *B, size_t rsb,
		  size_t csb, double *C, int ldc, int accumulate)
{
	int			n = 0;

	for (; n + GC_LRK_NR <= N; n += GC_LRK_NR)
		GemmTile(nv, GC_LRK_NR, K, A, lda, B + n * csb, rsb, csb, C + (size_t) n * ldc, ldc,
				 accumulate);
	/* the last one to three columns as one narrower tile */
	switch (N - n)
	{
		case 3:
			GemmTile(nv, 3, K, A, lda, B + n * csb, rsb, csb, C + (size_t) n * ldc, ldc, accumulate);
			break;
		case 2:
			GemmTile(nv, 2, K, A, lda, B + n * csb, rsb, csb, C + (size_t) n * ldc, ldc, accumulate);
			break;
		case 1:
			GemmTile(nv, 1, K, A, lda, B + n * csb, rsb, csb, C + (size_t) n * ldc, ldc, accumulate);
			break;
	}
}

static GC_TARGET_AVX512 void
GemmAvx512(int M, int N, int K, const double *A, int lda, const double *B, size_t rsb,
		   size_t csb, double *C, int ldc, int accumulate)
{
	for (int m0 = 0; m0 < M; m0 += 56)
	{
		const double *a = A + m0;
		double	   *c = C + m0;

		switch ((M - m0) / 8 < 7 ? (M - m0) / 8 : 7)
		{
#define GC_LRK_STRIP(nv) \
			case nv: \
				GemmStrip(nv, N, K, a, lda, B, rsb, csb, c, ldc, accumulate); \
				break
				GC_LRK_STRIP(1);
				GC_LRK_STRIP(2);
				GC_LRK_STRIP(3);
				GC_LRK_STRIP(4);
				GC_LRK_STRIP(5);
				GC_LRK_STRIP(6);
				GC_LRK_STRIP(7);
#undef GC_LRK_STRIP
		}
	}
}
#endif

void
gc_lrk_gemm(int M, int N, int K, const double *A, int lda, const double *B, size_t rsb,
			size_t csb, double *C, int ldc, int accumulate)
{
	if (M <= 0 || N <= 0)
		return;
#ifdef GC_SIMD_X86
	if (gc_simd_level >= GC_SIMD_AVX512 && M >= 8)
	{
		int			m8 = M / 8 * 8;

		GemmAvx512(m8, N, K, A, lda, B, rsb, csb, C, ldc, accumulate);
		if (m8 == M)
			return;
		/* the last M mod 8 rows by dgemm */
		A += m8;
		C += m8;
		M -= m8;
	}
#endif
	if (K <= 0)
	{
		if (!accumulate)
			for (int n = 0; n < N; n++)
				memset(C + (size_t) n * ldc, 0, sizeof(double) * M);
		return;
	}
	/*
	 * B's layout decides the transposition.  With one column (N = 1) both strides can be 1
	 * (a rank-1 fit): then the column is contiguous and its leading dimension is K, which
	 * BLAS requires to be at least K, whatever stride the caller named for columns.
	 */
	if (rsb == 1 && (N == 1 || csb >= (size_t) K))
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0, A, lda, B,
					N == 1 ? K : (int) csb, accumulate ? 1.0 : 0.0, C, ldc);
	else
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0, A, lda, B,
					(int) rsb, accumulate ? 1.0 : 0.0, C, ldc);
}
