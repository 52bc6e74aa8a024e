/*
 * lrbatch.c — the low-rank E-step's per-row k×k algebra, eight rows at a time (lrbatch.h).
 *
 * Every vector operation below is the scalar routine's operation on one lane: the same
 * products and sums in the same order, products rounded before they are added (the build's
 * -ffp-contract=off), IEEE division and square root, which are correctly rounded
 * in vector form too. A lane therefore gets exactly the scalar result, and a fit takes the
 * same path through its iterations whichever code ran (unit-tested in test_lrbatch.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lowrank/cond_lowrank.h"
#include "lowrank/lrbatch.h"
#include "platform/simd.h"

static void
UnpackFull(const double *pk, int k, double *S)
{
	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++)
		{
			double		x = pk[gc_lr_packidx(r, c, k)];

			S[r + (size_t) c * k] = x;
			S[c + (size_t) r * k] = x;
		}
}

void
gc_lr_second_moment(const double *A, const double *s, const double *pv, double sigma, int k,
					double *Mf, double *Bm, double *G, double *gout)
{
	int			kp = k * (k + 1) / 2,
				hasv = 0;

	for (int j = 0; j < k; j++)
		for (int r = j; r < k; r++)
			G[r + (size_t) j * k] = sigma * A[r + (size_t) j * k] + s[r] * s[j];
	if (pv)
		for (int e = 0; e < kp; e++)
			hasv |= pv[e] != 0;
	if (hasv)
	{
		/* Bm = P A, then G += A Bm (lower triangle) */
		UnpackFull(pv, k, Mf);
		for (int j = 0; j < k; j++)
			gc_sym_matvec(Mf, k, A + (size_t) j * k, Bm + (size_t) j * k);
		for (int j = 0; j < k; j++)
		{
			const double *bj = Bm + (size_t) j * k;

			for (int r = j; r < k; r++)
			{
				double		acc = 0;

				for (int m = 0; m < k; m++)
					acc += A[r + (size_t) m * k] * bj[m];
				G[r + (size_t) j * k] += acc;
			}
		}
	}
	for (int j = 0; j < k; j++)
		for (int r = j; r < k; r++)
			*gout++ = G[r + (size_t) j * k];
}

#ifdef GC_SIMD_X86

/* lane l's offset l·ld, as the index vector of a gather or scatter */
GC_TARGET_AVX512 static inline __m256i
LaneIndex(int ld)
{
	return _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(ld));
}

/* t[r + c·k] = the offset of entry (r, c), either triangle, in a packed lane-major matrix */
static inline void
SymIndex(int k, int *t)
{
	for (int c = 0; c < k; c++)
		for (int r = 0; r < k; r++)
			t[r + c * k] = 8 * (r >= c ? gc_lr_packidx(r, c, k) : gc_lr_packidx(c, r, k));
}

GC_TARGET_AVX512 static unsigned
FactorInvertAvx512(const double *pk, int ldp, const double *dsig, int k, double *As,
				   double *diag, double *work)
{
	int			kp = k * (k + 1) / 2;
	double	   *L = work,
			   *Li = work + (size_t) 8 * kp;
	__m256i		ix = LaneIndex(ldp);
	__mmask8	bad = 0;

	/* L = P + diag(σ/d²), lower triangle, packed as P is */
	for (int e = 0; e < kp; e++)
		_mm512_storeu_pd(L + 8 * e, _mm512_i32gather_pd(ix, pk + e, 8));
	for (int c = 0; c < k; c++)
	{
		double	   *lcc = L + (size_t) 8 * gc_lr_packidx(c, c, k);

		_mm512_storeu_pd(lcc, _mm512_add_pd(_mm512_loadu_pd(lcc), _mm512_set1_pd(dsig[c])));
	}
	/* Cholesky, left-looking by columns (column c's entries r >= c are contiguous) */
	for (int c = 0; c < k; c++)
	{
		double	   *lc = L + (size_t) 8 * gc_lr_packidx(c, c, k);
		__m512d		dd;

		for (int m = 0; m < c; m++)
		{
			const double *lm = L + (size_t) 8 * gc_lr_packidx(c, m, k);
			__m512d		f = _mm512_loadu_pd(lm);

			for (int r = 0; r < k - c; r++)
				_mm512_storeu_pd(lc + 8 * r, _mm512_sub_pd(_mm512_loadu_pd(lc + 8 * r),
														   _mm512_mul_pd(f, _mm512_loadu_pd(lm + 8 * r))));
		}
		dd = _mm512_loadu_pd(lc);
		bad |= (__mmask8) ~(_mm512_cmp_pd_mask(dd, _mm512_setzero_pd(), _CMP_GT_OQ) &
							_mm512_cmp_pd_mask(dd, _mm512_set1_pd(HUGE_VAL), _CMP_LT_OQ));
		dd = _mm512_sqrt_pd(dd);
		_mm512_storeu_pd(diag + 8 * c, dd);
		_mm512_storeu_pd(lc, dd);
		for (int r = 1; r < k - c; r++)
			_mm512_storeu_pd(lc + 8 * r, _mm512_div_pd(_mm512_loadu_pd(lc + 8 * r), dd));
	}
	/* Li = L⁻¹ (lower), column by column by forward substitution */
	for (int c = 0; c < k; c++)
	{
		double	   *xc = Li + (size_t) 8 * gc_lr_packidx(c, c, k);	/* Li(c + t, c) at xc + 8t */

		_mm512_storeu_pd(xc, _mm512_div_pd(_mm512_set1_pd(1.0),
										   _mm512_loadu_pd(L + (size_t) 8 * gc_lr_packidx(c, c, k))));
		for (int r = c + 1; r < k; r++)
		{
			__m512d		acc = _mm512_setzero_pd();

			for (int m = c; m < r; m++)
				acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_loadu_pd(L + (size_t) 8 * gc_lr_packidx(r, m, k)),
													   _mm512_loadu_pd(xc + 8 * (m - c))));
			/* −acc / L_rr: flip the sign bit (0 − acc would turn −acc = −0 into +0) */
			acc = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(acc),
													   _mm512_set1_epi64(INT64_MIN)));
			_mm512_storeu_pd(xc + 8 * (r - c),
							 _mm512_div_pd(acc, _mm512_loadu_pd(L + (size_t) 8 * gc_lr_packidx(r, r, k))));
		}
	}
	/* A = Liᵀ Li: A_rc = Σ_{m >= r} Li_mr Li_mc, for r >= c */
	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++)
		{
			const double *lir = Li + (size_t) 8 * gc_lr_packidx(r, r, k),
					   *lic = Li + (size_t) 8 * gc_lr_packidx(r, c, k);
			__m512d		acc = _mm512_setzero_pd();

			for (int m = r; m < k; m++)
				acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_loadu_pd(lir + 8 * (m - r)),
													   _mm512_loadu_pd(lic + 8 * (m - r))));
			_mm512_storeu_pd(As + (size_t) 8 * gc_lr_packidx(r, c, k), acc);
		}
	return bad;
}

GC_TARGET_AVX512 static void
StorePackedAvx512(const double *As, int k, double *ac, double *a2, int ld)
{
	__m256i		ix = LaneIndex(ld);
	int			e = 0;

	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++, e++)
		{
			__m512d		x = _mm512_loadu_pd(As + 8 * e);

			_mm512_i32scatter_pd(ac + e, ix, x, 8);
			_mm512_i32scatter_pd(a2 + e, ix, r == c ? x : _mm512_mul_pd(_mm512_set1_pd(2.0), x), 8);
		}
}

GC_TARGET_AVX512 static void
SymvAvx512(const double *As, int k, const double *x, int ldx, double *ys, double *out, int ldo,
		   unsigned keep, double *dot)
{
	__m256i		ix = LaneIndex(ldx);
	__m512d		y[GC_LRB_MAXK],
				xv[GC_LRB_MAXK];
	int			sym[GC_LRB_MAXK * GC_LRB_MAXK];

	SymIndex(k, sym);
	for (int r = 0; r < k; r++)
		y[r] = _mm512_setzero_pd();
	/* gc_sym_matvec: y += A[:, j] x_j, j ascending */
	for (int j = 0; j < k; j++)
	{
		xv[j] = _mm512_i32gather_pd(ix, x + j, 8);
		for (int r = 0; r < k; r++)
			y[r] = _mm512_add_pd(y[r], _mm512_mul_pd(_mm512_loadu_pd(As + sym[r + j * k]), xv[j]));
	}
	if (ys)
		for (int r = 0; r < k; r++)
			_mm512_storeu_pd(ys + 8 * r, y[r]);
	if (out)
	{
		__m256i		io = LaneIndex(ldo);

		for (int r = 0; r < k; r++)
			_mm512_i32scatter_pd(out + r, io, _mm512_maskz_mov_pd((__mmask8) keep, y[r]), 8);
	}
	if (dot)
	{
		__m512d		d = _mm512_setzero_pd();

		for (int j = 0; j < k; j++)
			d = _mm512_add_pd(d, _mm512_mul_pd(xv[j], y[j]));
		_mm512_storeu_pd(dot, d);
	}
}

GC_TARGET_AVX512 static void
SecondMomentsAvx512(const double *As, const double *ss, const double *pv, int ldp,
					unsigned vlanes, double sigma, int k, double *g, int ldg, double *work)
{
	int			kp = k * (k + 1) / 2;
	size_t		kk = (size_t) k * k;
	double	   *Pf = work,			/* k×k×8 each, full, column-major, lane-major: P */
			   *Af = work + 8 * kk, /* A */
			   *Bm = work + 16 * kk;	/* P A */
	__m512d		sg = _mm512_set1_pd(sigma);
	__mmask8	vl = 0;
	int			sym[GC_LRB_MAXK * GC_LRB_MAXK];

	SymIndex(k, sym);
	if (vlanes)
	{
		__m256i		ix = LaneIndex(ldp);
		__m512d		x;

		/* P in full; pv[e] != 0 (true for NaN, as in C) tells the lanes that have one */
		for (int e = 0; e < kp; e++)
		{
			x = _mm512_i32gather_pd(ix, pv + e, 8);
			vl |= _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_NEQ_UQ);
			_mm512_storeu_pd(Bm + 8 * e, x);
		}
		vl &= (__mmask8) vlanes;
		if (vl)
			for (size_t t = 0; t < kk; t++)
			{
				_mm512_storeu_pd(Pf + 8 * t, _mm512_loadu_pd(Bm + sym[t]));
				_mm512_storeu_pd(Af + 8 * t, _mm512_loadu_pd(As + sym[t]));
			}
	}
	/* Bm = P A as gc_sym_matvec forms it column by column: Bm_rj = Σ_m P_rm A_mj */
	if (vl)
		for (int j = 0; j < k; j++)
			for (int r = 0; r < k; r++)
			{
				__m512d		acc = _mm512_setzero_pd();

				for (int m = 0; m < k; m++)
					acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_loadu_pd(Pf + 8 * (r + (size_t) m * k)),
														   _mm512_loadu_pd(Af + 8 * (m + (size_t) j * k))));
				_mm512_storeu_pd(Bm + 8 * (r + (size_t) j * k), acc);
			}
	{
		__m256i		ig = LaneIndex(ldg);
		int			e = 0;

		for (int j = 0; j < k; j++)
		{
			__m512d		sj = _mm512_loadu_pd(ss + 8 * j);

			for (int r = j; r < k; r++, e++)
			{
				__m512d		gv = _mm512_add_pd(_mm512_mul_pd(sg, _mm512_loadu_pd(As + 8 * e)),
											   _mm512_mul_pd(_mm512_loadu_pd(ss + 8 * r), sj));

				if (vl)
				{
					/* G_rj += Σ_m A_rm Bm_mj */
					__m512d		acc = _mm512_setzero_pd();

					for (int m = 0; m < k; m++)
						acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_loadu_pd(Af + 8 * (r + (size_t) m * k)),
															   _mm512_loadu_pd(Bm + 8 * (m + (size_t) j * k))));
					gv = _mm512_mask_add_pd(gv, vl, gv, acc);
				}
				_mm512_i32scatter_pd(g + e, ig, gv, 8);
			}
		}
	}
}
#endif

int
gc_lrb_ok(int k)
{
#ifdef GC_SIMD_X86
	return gc_simd_level >= GC_SIMD_AVX512 && k >= 1 && k <= GC_LRB_MAXK;
#else
	return 0;
#endif
}

/*
 * The entry points: callers ask gc_lrb_ok(k) first, so on builds and CPUs without the
 * kernels these are never reached (and do nothing).
 */
unsigned
gc_lrb_factor_invert(const double *pk, int ldp, const double *dsig, int k, double *As,
					 double *diag, double *work)
{
#ifdef GC_SIMD_X86
	return FactorInvertAvx512(pk, ldp, dsig, k, As, diag, work);
#else
	return 0xff;
#endif
}

void
gc_lrb_store_packed(const double *As, int k, double *ac, double *a2, int ld)
{
#ifdef GC_SIMD_X86
	StorePackedAvx512(As, k, ac, a2, ld);
#endif
}

void
gc_lrb_symv(const double *As, int k, const double *x, int ldx, double *ys, double *out,
			int ldo, unsigned keep, double *dot)
{
#ifdef GC_SIMD_X86
	SymvAvx512(As, k, x, ldx, ys, out, ldo, keep, dot);
#endif
}

void
gc_lrb_second_moments(const double *As, const double *ss, const double *pv, int ldp,
					  unsigned vlanes, double sigma, int k, double *g, int ldg, double *work)
{
#ifdef GC_SIMD_X86
	SecondMomentsAvx512(As, ss, pv, ldp, vlanes, sigma, k, g, ldg, work);
#endif
}
