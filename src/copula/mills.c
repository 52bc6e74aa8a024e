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

/*
 * The four-lane forms, written over GCC vector types: each operator is the scalar one lane
 * by lane, so the code reads as the scalar routines above, operation for operation.
 * Comparisons give lanes of all ones or all zeros (Mask4); masks select and clear lanes.
 */
typedef int GcI32x4 __attribute__((vector_size(4 * sizeof(int))));
typedef __typeof__((GcF64x4) {0} < (GcF64x4) {0}) Mask4;

/* x with the lanes outside m cleared to +0 */
static GC_ALWAYS_INLINE GC_TARGET_AVX2 GcF64x4
Keep4(GcF64x4 x, Mask4 m)
{
	return (GcF64x4) ((Mask4) x & m);
}

/* m ? a : b, lane by lane */
static GC_ALWAYS_INLINE GC_TARGET_AVX2 GcF64x4
Select4(Mask4 m, GcF64x4 a, GcF64x4 b)
{
	return (GcF64x4) (((Mask4) a & m) | ((Mask4) b & ~m));
}

static GC_ALWAYS_INLINE GC_TARGET_AVX2 GcF64x4
Abs4(GcF64x4 x)
{
	return (GcF64x4) ((Mask4) x & INT64_MAX);
}

/* base[k[l]] in lane l */
static GC_ALWAYS_INLINE GC_TARGET_AVX2 GcF64x4
Gather4(const double *base, GcI32x4 k)
{
	return (GcF64x4) {base[k[0]], base[k[1]], base[k[2]], base[k[3]]};
}

/* ExpNonPos, four lanes */
static GC_ALWAYS_INLINE GC_TARGET_AVX2 GcF64x4
ExpNonPos4(GcF64x4 x)
{
	GcF64x4		kd = (x * EXP_INVLN2_64 + EXP_SHIFT) - EXP_SHIFT;
	GcI32x4		ki = __builtin_convertvector(kd, GcI32x4);
	GcF64x4		r = (x - kd * EXP_LN2_64_HI) - kd * EXP_LN2_64_LO;
	GcF64x4		p = 1.0 + (r + r * r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120)))));
	Mask4		bits = __builtin_convertvector((ki >> 6) + 1023, Mask4) << 52;

	return Gather4(exp2_64, ki & 63) * p * (GcF64x4) bits;
}

/* Mills, four lanes */
static GC_ALWAYS_INLINE GC_TARGET_AVX2 GcF64x4
Mills4(GcF64x4 x)
{
	GcI32x4		seg = __builtin_convertvector(x * 8.0, GcI32x4);
	GcI32x4		row = seg * (GC_MILLS_DEG + 1);
	const double *c = &gc_mills_coef[0][0];
	GcF64x4		u = x - (__builtin_convertvector(seg, GcF64x4) + 0.5) * 0.125;
	GcF64x4		u2 = u * u,
				u4 = u2 * u2;

	return ((Gather4(c, row) + Gather4(c + 1, row) * u) + (Gather4(c + 2, row) + Gather4(c + 3, row) * u) * u2) +
		((Gather4(c + 4, row) + Gather4(c + 5, row) * u) + (Gather4(c + 6, row) + Gather4(c + 7, row) * u) * u2) * u4 +
		Gather4(c + 8, row) * (u4 * u4);
}

/*
 * Four entries at a time, the operations of gc_truncnorm_moments_mills with its branches
 * as selections: an infinite cut point enters as 0 with density 0. Lanes off the common
 * path are redone by the scalar routine. Returns the number of entries done.
 */
static GC_TARGET_AVX2 int
BatchAvx2(int n, const double *mu, const double *s, const double *lo, const double *hi,
		  double *mean, double *var)
{
	int			i;

	for (i = 0; i + 4 <= n; i += 4)
	{
		GcF64x4		vmu = *(const GcF64x4 *) (mu + i),
					vs = *(const GcF64x4 *) (s + i),
					is = 1.0 / vs,
					a = (*(const GcF64x4 *) (lo + i) - vmu) * is,
					b = (*(const GcF64x4 *) (hi + i) - vmu) * is,
					aa = Abs4(a),
					ab = Abs4(b),
					ca,
					cb,
					pa,
					pb,
					qa,
					qb,
					z,
					iz,
					r1,
					r2,
					v;
		Mask4		fa = aa < HUGE_VAL,
					fb = ab < HUGE_VAL,
					ok;
		int			okbits;

		/* s > 0, μ finite, a < b, and finite cut points inside the table */
		ok = (vs > 0) & (Abs4(vmu) < HUGE_VAL) & (a < b);
		ok &= (~fa & ok) | (aa < GC_MILLS_XMAX);
		ok &= (~fb & ok) | (ab < GC_MILLS_XMAX);

		ca = Keep4(a, fa & ok);
		cb = Keep4(b, fb & ok);
		pa = Keep4(ExpNonPos4(-0.5 * ca * ca) * GC_INV_SQRT2PI, fa);
		pb = Keep4(ExpNonPos4(-0.5 * cb * cb) * GC_INV_SQRT2PI, fb);
		qa = pa * Mills4(Abs4(ca));
		qb = pb * Mills4(Abs4(cb));
		/* Φ(b) − Φ(a) from the tails, as the scalar routine chooses */
		z = Select4(a >= 0, qa - qb, Select4(b <= 0, qb - qa, 1.0 - qa - qb));
		okbits = (ok[0] & 1) | (ok[1] & 2) | (ok[2] & 4) | (ok[3] & 8);
		ok &= z > 1e-6;
		iz = 1.0 / z;
		r1 = (pb - pa) * iz;
		r2 = (cb * pb - ca * pa) * iz;
		v = vs * vs * (1.0 - r2 - r1 * r1);
		/* successful lanes are written; the others keep the caller's values */
		*(GcF64x4 *) (mean + i) = Select4(ok, vmu - vs * r1, *(GcF64x4 *) (mean + i));
		*(GcF64x4 *) (var + i) = Select4(ok, Keep4(v, v > 0), *(GcF64x4 *) (var + i));
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
