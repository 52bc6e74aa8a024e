/*
 * lrkern.h — the low-rank copula's sums over a row's observed columns, taken over those
 * columns only.
 *
 * What single imputation with a low-rank model needs per row is a sum over the observed
 * set O (or a product for each of its interval entries J, or missing entries M) with a
 * column of a small matrix: Σ_{j∈O} packed u_j u_jᵀ, Σ_{j∈O} z_j u_j, u_jᵀ A u_j for j ∈ J,
 * u_jᵀ s for j ∈ M. As matrix-vector products against a 0/1 mask they cost q columns per
 * row whatever |O| is (half of it multiplying by zero when half the entries are missing)
 * plus a BLAS call's overhead each. These kernels walk the list of columns instead; a
 * column is a contiguous vector of `ld` doubles (ld a multiple of GC_LRK_PAD, the padding
 * zero), and sums stay in vector registers across the list.
 *
 * (The fit's E-step keeps dgemm over blocks of rows: there dgemm reuses each column of UU
 * across the block's rows from cache, which these kernels cannot.)
 *
 * PostgreSQL-free C11 (GCC vector extensions; an AVX2 build beside the portable one on
 * x86-64, chosen by gc_simd_level).
 */
#ifndef GC_LRKERN_H
#define GC_LRKERN_H

#include <stddef.h>

/* column lengths are padded to a multiple of this many doubles */
#define GC_LRK_PAD 4

/* n rounded up to the padding */
static inline int
gc_lrk_padded(int n)
{
	return (n + GC_LRK_PAD - 1) / GC_LRK_PAD * GC_LRK_PAD;
}

/* n rounded up to a multiple of 8 (one AVX-512 vector): packed k×k columns */
static inline int
gc_lrk_padded8(int n)
{
	return (n + 7) / 8 * 8;
}

/* out[0..ld) = Σ_t M[idx[t]·ld ..], or Σ_t w[idx[t]]·M[idx[t]·ld ..] when w is not NULL */
extern void gc_lrk_sum_cols(const double *M, int ld, const int *idx, int m, const double *w,
							double *out);

/* out[t] = M[idx[t]·ld ..] · x for t < m */
extern void gc_lrk_dot_cols(const double *M, int ld, const int *idx, int m, const double *x,
							double *out);

/*
 * C (M×N, leading dimension ldc) = A·B, or += A·B when accumulate, with A M×K column-major
 * (lda) and B[k, n] = B[k·rsb + n·csb] (rsb or csb is 1). An AVX-512 kernel computes the
 * rows up to the last multiple of 8, dgemm the others (and everything on CPUs without it).
 */
extern void gc_lrk_gemm(int M, int N, int K, const double *A, int lda, const double *B,
						size_t rsb, size_t csb, double *C, int ldc, int accumulate);

#endif							/* GC_LRKERN_H */
