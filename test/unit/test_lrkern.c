/*
 * test_lrkern.c — the column-list kernels of lrkern.h against plain loops: every group width
 * (1..8 vectors and beyond), weighted and unweighted sums, dot products, empty lists and
 * repeated columns. Run with and without the AVX2 build by the loader (whichever this CPU
 * picks); both must agree with the plain loops to rounding. The dense product gc_lrk_gemm
 * is checked with dgemm and, where the CPU has it (natively, not under valgrind), with the
 * AVX-512 kernel: both operand layouts, overwrite and accumulate, widths around multiples
 * of 8, and nothing written outside C's M×N part.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowrank/lrkern.h"
#include "unit.h"

static double
Rand(unsigned *st)
{
	*st = *st * 1103515245u + 12345u;
	return ((*st >> 8) & 0xffff) / 32771.0 - 1.0;
}

/* gc_lrk_gemm against a plain triple loop, with sentinels around C; returns the worst error */
static double
TestGemm(unsigned *st, int *outside)
{
	static const int Ms[] = {1, 7, 8, 9, 15, 16, 55, 56, 57, 63, 64, 113, 400};
	static const int Ns[] = {1, 3, 4, 5, 8, 10};
	static const int Ks[] = {0, 1, 10, 55, 256};
	double		worst = 0;

	for (size_t mi = 0; mi < sizeof(Ms) / sizeof(Ms[0]); mi++)
		for (size_t ni = 0; ni < sizeof(Ns) / sizeof(Ns[0]); ni++)
			for (size_t ki = 0; ki < sizeof(Ks) / sizeof(Ks[0]); ki++)
				for (int layout = 0; layout < 3; layout++)
					for (int acc = 0; acc < 2; acc++)
					{
						int			M = Ms[mi],
									N = Ns[ni],
									K = Ks[ki],
									lda = M + 3,
									ldc = M + 5,
									ldb = layout == 2 ? N : layout ? N + 2 : K + 1;
						/* layout 2: rows of B packed tightly, so N = 1 gives rsb = csb = 1 */
						size_t		rsb = layout ? (size_t) ldb : 1,
									csb = layout ? 1 : (size_t) ldb;
						double	   *A = malloc(sizeof(double) * ((size_t) lda * K + 1)),
								   *B = malloc(sizeof(double) * ((size_t) ldb * (layout ? K : N) + 1)),
								   *C = malloc(sizeof(double) * (size_t) ldc * N),
								   *R = malloc(sizeof(double) * (size_t) ldc * N);

						for (size_t e = 0; e < (size_t) lda * K; e++)
							A[e] = Rand(st);
						for (size_t e = 0; e < (size_t) ldb * (layout ? K : N); e++)
							B[e] = Rand(st);
						for (size_t e = 0; e < (size_t) ldc * N; e++)
							C[e] = R[e] = (e % ldc) < (size_t) M ? Rand(st) : 12345.0;
						for (int n = 0; n < N; n++)
							for (int m = 0; m < M; m++)
							{
								double		r = acc ? R[m + (size_t) n * ldc] : 0;

								for (int k = 0; k < K; k++)
									r += A[m + (size_t) k * lda] * B[k * rsb + n * csb];
								R[m + (size_t) n * ldc] = r;
							}
						gc_lrk_gemm(M, N, K, A, lda, B, rsb, csb, C, ldc, acc);
						for (int n = 0; n < N; n++)
							for (int m = 0; m < ldc; m++)
							{
								double		d = fabs(C[m + (size_t) n * ldc] - R[m + (size_t) n * ldc]);

								if (m >= M)
									*outside += d != 0;
								else if (!(d <= worst))
									worst = isnan(d) ? INFINITY : d;
							}
						free(A);
						free(B);
						free(C);
						free(R);
					}
	return worst;
}

/*
 * The sums and dot products at every level this CPU has equal the highest level's to the
 * bit (the AVX2 form does the portable form's operations, four lanes per instruction).
 */
static int
LevelsAgree(unsigned *st)
{
	int			top = gc_simd_supported(),
				same = 1;

	for (int len = 1; len <= 40; len += 3)
	{
		int			ld = gc_lrk_padded(len),
					q = 29,
					m = 0;
		double	   *M = calloc((size_t) ld * q, sizeof(double)),
				   *w = malloc(sizeof(double) * q),
				   *x = calloc(ld, sizeof(double)),
				   *ref = malloc(sizeof(double) * 3 * (ld + q)),
				   *out = malloc(sizeof(double) * 3 * (ld + q));
		int		   *idx = malloc(sizeof(int) * q);

		for (int j = 0; j < q; j++)
		{
			for (int e = 0; e < len; e++)
				M[(size_t) j * ld + e] = Rand(st);
			w[j] = Rand(st);
		}
		for (int e = 0; e < len; e++)
			x[e] = Rand(st);
		for (int j = 0; j < q; j += 1 + j % 3)
			idx[m++] = j;
		for (int lv = top; lv >= GC_SIMD_BASE; lv--)
		{
			double	   *o = lv == top ? ref : out;

			gc_simd_force(lv);
			gc_lrk_sum_cols(M, ld, idx, m, NULL, o);
			gc_lrk_sum_cols(M, ld, idx, m, w, o + ld);
			gc_lrk_dot_cols(M, ld, idx, m, x, o + 2 * ld);
			if (lv != top)
				same &= memcmp(ref, out, sizeof(double) * (2 * ld + m)) == 0;
		}
		free(M);
		free(w);
		free(x);
		free(ref);
		free(out);
		free(idx);
	}
	gc_simd_force(top);
	return same;
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

	gc_simd_init();
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
	CHECK(LevelsAgree(&st), "sums and dot products at every level equal the highest level's to the bit");

	{
		int			outside = 0;
		double		worst;

		/* every level this CPU has: dgemm below AVX-512 (valgrind's CPU has no AVX-512) */
		for (int lv = gc_simd_supported(); lv >= GC_SIMD_BASE; lv--)
		{
			gc_simd_force(lv);
			outside = 0;
			worst = TestGemm(&st, &outside);
			CHECK(worst < 1e-12 && outside == 0,
				  "gc_lrk_gemm at level %s agrees with plain loops (worst %.1e, %d written outside)",
				  gc_simd_name(lv), worst, outside);
		}
		gc_simd_init();
	}
	return UNIT_DONE();
}
