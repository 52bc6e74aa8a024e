/*
 * mills.c — truncated-normal moments through a tabulated Mills ratio (see mills.h).
 *
 * The ordinal update of the low-rank fit evaluates these moments for every interval entry
 * in every EM iteration (about 200 000 per iteration on a 914 × 400 ratings table), so
 * they are computed a batch at a time: with AVX2, four entries per instruction, the
 * exponential and the Mills polynomials included. The scalar and vector paths perform the
 * same IEEE operations in the same order (no fused multiply-add), so they agree to the bit.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "copula/mills.h"
#include "copula/mills_table.h"
#include "copula/normal.h"
#include "platform/simd.h"

/* 1/√(2π) */
#define GC_INV_SQRT2PI 0.39894228040143267794

/*
 * e^x = 2^m · 2^(j/64) · e^r with x = (64m + j)·ln2/64 + r, |r| <= ln2/128: 2^(j/64) from
 * the table below, e^r from its degree-5 Taylor polynomial (remainder below 4e-17 relative).
 * Rounding to the nearest multiple of ln2/64 adds and subtracts 1.5·2⁵², and ln2/64 is split
 * into a 25-bit head (so kd·head is exact) and a tail. Relative error about 2 ulp against
 * the libm exp (test_normal.c bounds it by 5e-16 over the range used).
 */
#define EXP_SHIFT 6755399441055744.0	/* 1.5·2⁵² */
#define EXP_INVLN2_64 92.33248261689366 /* 64/ln2 */
#define EXP_LN2_64_HI (0.6931471526622772 / 64)
#define EXP_LN2_64_LO (2.7897668087737545e-08 / 64)

/* 2^(j/64), j = 0..63, correctly rounded (Python's decimal module at 60 digits) */
static const double exp2_64[64] = {
	1.0, 1.0108892860517005, 1.0218971486541166, 1.0330248790212284,
	1.0442737824274138, 1.0556451783605572, 1.0671404006768237, 1.0787607977571199,
	1.0905077326652577, 1.102382583307841, 1.1143867425958924, 1.1265216186082418,
	1.1387886347566916, 1.1511892299529827, 1.1637248587775775, 1.1763969916502812,
	1.189207115002721, 1.202156731452703, 1.215247359980469, 1.22848053610687,
	1.241857812073484, 1.255380757024691, 1.2690509571917332, 1.2828700160787783,
	1.2968395546510096, 1.3109612115247644, 1.3252366431597413, 1.339667524053303,
	1.3542555469368927, 1.3690024229745905, 1.383909881963832, 1.3989796725383112,
	1.4142135623730951, 1.42961333839197, 1.4451808069770467, 1.460917794180647,
	1.4768261459394993, 1.4929077282912648, 1.5091644275934228, 1.5255981507445384,
	1.5422108254079407, 1.559004400237837, 1.5759808451078865, 1.593142151342267,
	1.6104903319492543, 1.6280274218573478, 1.645755478153965, 1.6636765803267364,
	1.681792830507429, 1.7001063537185235, 1.718619298122478, 1.7373338352737062,
	1.7562521603732995, 1.7753764925265212, 1.7947090750031072, 1.8142521755003989,
	1.8340080864093424, 1.8539791250833855, 1.8741676341103, 1.8945759815869656,
	1.9152065613971474, 1.9360617934922943, 1.9571441241754002, 1.978456026387951,
};

static inline double
ExpNonPos(double x)
{
	double		kd = (x * EXP_INVLN2_64 + EXP_SHIFT) - EXP_SHIFT;
	int			ki = (int) kd;
	double		r = (x - kd * EXP_LN2_64_HI) - kd * EXP_LN2_64_LO;
	double		p = 1.0 + (r + r * r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120)))));
	uint64_t	bits = (uint64_t) ((ki >> 6) + 1023) << 52;
	double		scale;

	memcpy(&scale, &bits, sizeof(scale));
	return exp2_64[ki & 63] * p * scale;
}

double
gc_exp_nonpos(double x)
{
	return ExpNonPos(x);
}

/* R(x) for 0 <= x < GC_MILLS_XMAX, unchecked */
static inline double
Mills(double x)
{
	int			seg = (int) (x * 8.0);
	const double *c = gc_mills_coef[seg];
	double		u = x - (seg + 0.5) * 0.125;
	double		u2 = u * u,
				u4 = u2 * u2;

	/* Estrin's scheme: a third of Horner's dependency chain, same accuracy here (|u| <= 1/16) */
	return ((c[0] + c[1] * u) + (c[2] + c[3] * u) * u2) +
		((c[4] + c[5] * u) + (c[6] + c[7] * u) * u2) * u4 + c[8] * (u4 * u4);
}

double
gc_norm_mills(double x)
{
	if (!(x >= 0 && x < GC_MILLS_XMAX))
		return NAN;
	return Mills(x);
}

int
gc_truncnorm_moments_mills(double mu, double s, double lo, double hi,
						   double *mean, double *var)
{
	double		is,
				a,
				b,
				ca = 0,
				cb = 0,
				pa = 0,
				pb = 0,
				qa = 0,
				qb = 0,
				z,
				iz,
				r1,
				r2,
				v;
	int			fa,
				fb;

	if (!(s > 0) || !isfinite(mu))
		return 1;
	is = 1.0 / s;
	a = (lo - mu) * is;
	b = (hi - mu) * is;
	if (!(a < b))
		return 1;
	fa = isfinite(a);
	fb = isfinite(b);
	if ((fa && !(fabs(a) < GC_MILLS_XMAX)) || (fb && !(fabs(b) < GC_MILLS_XMAX)))
		return gc_truncnorm_moments(mu, s, lo, hi, mean, var);

	/* density and the tail beyond |x| at each finite cut point, from one exp each */
	if (fa)
	{
		ca = a;
		pa = ExpNonPos(-0.5 * a * a) * GC_INV_SQRT2PI;
		qa = pa * Mills(fabs(a));
	}
	if (fb)
	{
		cb = b;
		pb = ExpNonPos(-0.5 * b * b) * GC_INV_SQRT2PI;
		qb = pb * Mills(fabs(b));
	}
	/* Φ(b) − Φ(a) from the tails, without cancellation when both lie in the same tail */
	if (a >= 0)
		z = qa - qb;
	else if (b <= 0)
		z = qb - qa;
	else
		z = 1.0 - qa - qb;
	if (!(z > 1e-6))
		return 1;
	iz = 1.0 / z;
	r1 = (pb - pa) * iz;
	r2 = (cb * pb - ca * pa) * iz;
	*mean = mu - s * r1;
	v = s * s * (1.0 - r2 - r1 * r1);
	*var = v > 0 ? v : 0.0;
	return 0;
}

#ifdef GC_SIMD_X86

GC_TARGET_AVX2
static inline __m256d
ExpNonPos4(__m256d x)
{
	const __m256d shift = _mm256_set1_pd(EXP_SHIFT);
	__m256d		kd = _mm256_sub_pd(_mm256_add_pd(_mm256_mul_pd(x, _mm256_set1_pd(EXP_INVLN2_64)), shift), shift);
	__m128i		ki = _mm256_cvttpd_epi32(kd);
	__m256d		r = _mm256_sub_pd(_mm256_sub_pd(x, _mm256_mul_pd(kd, _mm256_set1_pd(EXP_LN2_64_HI))),
								  _mm256_mul_pd(kd, _mm256_set1_pd(EXP_LN2_64_LO)));
	__m256d		p;
	__m256d		t = _mm256_i32gather_pd(exp2_64, _mm_and_si128(ki, _mm_set1_epi32(63)), 8);
	__m256i		e = _mm256_slli_epi64(_mm256_cvtepi32_epi64(_mm_add_epi32(_mm_srai_epi32(ki, 6),
																		   _mm_set1_epi32(1023))), 52);

	p = _mm256_add_pd(_mm256_set1_pd(1.0 / 24), _mm256_mul_pd(r, _mm256_set1_pd(1.0 / 120)));
	p = _mm256_add_pd(_mm256_set1_pd(1.0 / 6), _mm256_mul_pd(r, p));
	p = _mm256_add_pd(_mm256_set1_pd(0.5), _mm256_mul_pd(r, p));
	p = _mm256_add_pd(r, _mm256_mul_pd(_mm256_mul_pd(r, r), p));
	p = _mm256_add_pd(_mm256_set1_pd(1.0), p);
	return _mm256_mul_pd(_mm256_mul_pd(t, p), _mm256_castsi256_pd(e));
}

GC_TARGET_AVX2
static inline __m256d
Mills4(__m256d x)
{
	__m128i		seg = _mm256_cvttpd_epi32(_mm256_mul_pd(x, _mm256_set1_pd(8.0)));
	__m128i		row = _mm_add_epi32(_mm_slli_epi32(seg, 3), seg);	/* seg · (GC_MILLS_DEG + 1) */
	__m256d		u = _mm256_sub_pd(x, _mm256_mul_pd(_mm256_add_pd(_mm256_cvtepi32_pd(seg), _mm256_set1_pd(0.5)),
												_mm256_set1_pd(0.125)));
	__m256d		u2 = _mm256_mul_pd(u, u),
				u4 = _mm256_mul_pd(u2, u2);
	const double *base = &gc_mills_coef[0][0];
	__m256d		c[GC_MILLS_DEG + 1];
	__m256d		lo,
				hi;

	for (int k = 0; k <= GC_MILLS_DEG; k++)
		c[k] = _mm256_i32gather_pd(base + k, row, 8);
	lo = _mm256_add_pd(_mm256_add_pd(c[0], _mm256_mul_pd(c[1], u)),
					   _mm256_mul_pd(_mm256_add_pd(c[2], _mm256_mul_pd(c[3], u)), u2));
	hi = _mm256_add_pd(_mm256_add_pd(c[4], _mm256_mul_pd(c[5], u)),
					   _mm256_mul_pd(_mm256_add_pd(c[6], _mm256_mul_pd(c[7], u)), u2));
	return _mm256_add_pd(_mm256_add_pd(lo, _mm256_mul_pd(hi, u4)), _mm256_mul_pd(c[8], _mm256_mul_pd(u4, u4)));
}

/*
 * Four entries at a time, the operations of gc_truncnorm_moments_mills with its branches
 * as selections: an infinite cut point enters as 0 with density 0. Lanes off the common
 * path are redone by the scalar routine. Returns the number of entries done.
 */
GC_TARGET_AVX2
static int
BatchAvx2(int n, const double *mu, const double *s, const double *lo, const double *hi,
		  double *mean, double *var)
{
	const __m256d zero = _mm256_setzero_pd(),
				one = _mm256_set1_pd(1.0),
				inf = _mm256_set1_pd(HUGE_VAL),
				xmax = _mm256_set1_pd(GC_MILLS_XMAX),
				absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL)),
				mhalf = _mm256_set1_pd(-0.5),
				invs2p = _mm256_set1_pd(GC_INV_SQRT2PI);
	int			i;

	for (i = 0; i + 4 <= n; i += 4)
	{
		__m256d		vmu = _mm256_loadu_pd(mu + i),
					vs = _mm256_loadu_pd(s + i),
					is = _mm256_div_pd(one, vs),
					a = _mm256_mul_pd(_mm256_sub_pd(_mm256_loadu_pd(lo + i), vmu), is),
					b = _mm256_mul_pd(_mm256_sub_pd(_mm256_loadu_pd(hi + i), vmu), is),
					aa = _mm256_and_pd(a, absmask),
					ab = _mm256_and_pd(b, absmask),
					fa = _mm256_cmp_pd(aa, inf, _CMP_LT_OQ),
					fb = _mm256_cmp_pd(ab, inf, _CMP_LT_OQ),
					ok,
					ca,
					cb,
					pa,
					pb,
					qa,
					qb,
					z,
					zlo,
					iz,
					r1,
					r2,
					v,
					m;
		int			okbits;

		/* s > 0, μ finite, a < b, and finite cut points inside the table */
		ok = _mm256_and_pd(_mm256_cmp_pd(vs, zero, _CMP_GT_OQ),
						   _mm256_cmp_pd(_mm256_and_pd(vmu, absmask), inf, _CMP_LT_OQ));
		ok = _mm256_and_pd(ok, _mm256_cmp_pd(a, b, _CMP_LT_OQ));
		ok = _mm256_and_pd(ok, _mm256_or_pd(_mm256_andnot_pd(fa, ok), _mm256_cmp_pd(aa, xmax, _CMP_LT_OQ)));
		ok = _mm256_and_pd(ok, _mm256_or_pd(_mm256_andnot_pd(fb, ok), _mm256_cmp_pd(ab, xmax, _CMP_LT_OQ)));

		ca = _mm256_and_pd(a, _mm256_and_pd(fa, ok));
		cb = _mm256_and_pd(b, _mm256_and_pd(fb, ok));
		pa = _mm256_and_pd(_mm256_mul_pd(ExpNonPos4(_mm256_mul_pd(_mm256_mul_pd(mhalf, ca), ca)), invs2p), fa);
		pb = _mm256_and_pd(_mm256_mul_pd(ExpNonPos4(_mm256_mul_pd(_mm256_mul_pd(mhalf, cb), cb)), invs2p), fb);
		qa = _mm256_mul_pd(pa, Mills4(_mm256_and_pd(ca, absmask)));
		qb = _mm256_mul_pd(pb, Mills4(_mm256_and_pd(cb, absmask)));
		zlo = _mm256_blendv_pd(_mm256_sub_pd(_mm256_sub_pd(one, qa), qb), _mm256_sub_pd(qb, qa),
							   _mm256_cmp_pd(b, zero, _CMP_LE_OQ));
		z = _mm256_blendv_pd(zlo, _mm256_sub_pd(qa, qb), _mm256_cmp_pd(a, zero, _CMP_GE_OQ));
		okbits = _mm256_movemask_pd(ok);
		ok = _mm256_and_pd(ok, _mm256_cmp_pd(z, _mm256_set1_pd(1e-6), _CMP_GT_OQ));
		iz = _mm256_div_pd(one, z);
		r1 = _mm256_mul_pd(_mm256_sub_pd(pb, pa), iz);
		r2 = _mm256_mul_pd(_mm256_sub_pd(_mm256_mul_pd(cb, pb), _mm256_mul_pd(ca, pa)), iz);
		m = _mm256_sub_pd(vmu, _mm256_mul_pd(vs, r1));
		v = _mm256_mul_pd(_mm256_mul_pd(vs, vs), _mm256_sub_pd(_mm256_sub_pd(one, r2), _mm256_mul_pd(r1, r1)));
		v = _mm256_and_pd(v, _mm256_cmp_pd(v, zero, _CMP_GT_OQ));
		/* successful lanes are written; the others keep the caller's values */
		_mm256_storeu_pd(mean + i, _mm256_blendv_pd(_mm256_loadu_pd(mean + i), m, ok));
		_mm256_storeu_pd(var + i, _mm256_blendv_pd(_mm256_loadu_pd(var + i), v, ok));
		/* lanes off the common path (not those that merely have no mass) take the scalar routine */
		if (okbits != 0xf)
			for (int l = 0; l < 4; l++)
				if (!(okbits & (1 << l)))
					gc_truncnorm_moments_mills(mu[i + l], s[i + l], lo[i + l], hi[i + l],
											   &mean[i + l], &var[i + l]);
	}
	return i;
}

#endif

void
gc_truncnorm_moments_mills_batch(int n, const double *mu, const double *s, const double *lo,
								 const double *hi, double *mean, double *var)
{
	int			i = 0;

#ifdef GC_SIMD_X86
	if (gc_simd_level >= GC_SIMD_AVX2)
		i = BatchAvx2(n, mu, s, lo, hi, mean, var);
#endif
	for (; i < n; i++)
		gc_truncnorm_moments_mills(mu[i], s[i], lo[i], hi[i], &mean[i], &var[i]);
}
