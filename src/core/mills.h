/*
 * mills.h — the normal distribution's tail through the Mills ratio R(x) = Q(x)/φ(x), for the
 * truncated-normal moments of the ordinal update in the low-rank fit and imputation.
 *
 * Q(x) = φ(x)·R(x), so one exp gives both the density and the tail probability at a cut
 * point, where Φ by erfc and φ by exp evaluate the exponential twice (and erfc is several
 * times dearer than a polynomial). R comes from a table of piecewise polynomials
 * (mills_table.h, generated and checked against mpmath by test/tools/gen_mills_table.py) and is
 * accurate to about one ulp.
 */
#ifndef GC_MILLS_H
#define GC_MILLS_H

#include <math.h>

#include "mills_table.h"

/* R(x) = Q(x)/φ(x) for 0 <= x < 8; NaN outside. */
extern double gc_norm_mills(double x);

/*
 * The moments of N(mu, s²) truncated to (lo, hi), with the contract of gc_truncnorm_moments
 * (normal.h) — same results up to rounding: returns 1, leaving *mean and *var untouched,
 * when the interval holds less than 1e-6 of the mass. Standardised cut points beyond the
 * table (|x| >= 8) take gc_truncnorm_moments itself.
 */
extern int	gc_truncnorm_moments_mills(double mu, double s, double lo, double hi,
									   double *mean, double *var);

/* R(x) for 0 <= x < GC_MILLS_XMAX, unchecked */
static inline double
gc_mills_unchecked(double x)
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

/*
 * gc_truncnorm_moments_mills for the inner loops of the low-rank E-step and imputation,
 * inlined and without data-dependent branches on the common path: an infinite cut point
 * gets density and tail 0 by selection rather than by a branch, and the three ways of
 * forming Φ(b) − Φ(a) are all computed and one selected. The ordinal update calls this for
 * every interval entry in every iteration, with cut points on either side of zero and
 * infinite for the extreme levels, so branches there are mispredicted often enough to cost
 * more than the arithmetic they would skip. The same operations in the same order as the
 * out-of-line version: the results are identical to the bit.
 */
static inline int
gc_truncnorm_moments_mills_inline(double mu, double s, double lo, double hi,
								  double *mean, double *var)
{
	double		is,
				a,
				b,
				aa,
				ab,
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
				v;
	int			fa,
				fb;

	if (!(s > 0) || !isfinite(mu))
		return 1;
	is = 1.0 / s;
	a = (lo - mu) * is;
	b = (hi - mu) * is;
	aa = fabs(a);
	ab = fabs(b);
	fa = aa < HUGE_VAL;
	fb = ab < HUGE_VAL;
	/* empty interval, or a finite cut beyond the table (rare): the general routine */
	if (!(a < b) || (fa & !(aa < GC_MILLS_XMAX)) || (fb & !(ab < GC_MILLS_XMAX)))
		return gc_truncnorm_moments_mills(mu, s, lo, hi, mean, var);
	/* an infinite cut point enters as 0 with density 0 (and so tail 0) */
	ca = fa ? a : 0.0;
	cb = fb ? b : 0.0;
	pa = exp(-0.5 * ca * ca) * (0.39894228040143267794 * fa);
	pb = exp(-0.5 * cb * cb) * (0.39894228040143267794 * fb);
	qa = pa * gc_mills_unchecked(fa ? aa : 0.0);
	qb = pb * gc_mills_unchecked(fb ? ab : 0.0);
	/* Φ(b) − Φ(a) from the tails, without cancellation when both lie in the same tail */
	zlo = b <= 0 ? qb - qa : 1.0 - qa - qb;
	z = a >= 0 ? qa - qb : zlo;
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

#endif
