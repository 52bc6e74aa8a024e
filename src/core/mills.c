/*
 * mills.c — truncated-normal moments through a tabulated Mills ratio (see mills.h).
 */
#include <math.h>

#include "mills.h"
#include "normal.h"

/* 1/√(2π) */
#define GC_INV_SQRT2PI 0.39894228040143267794

double
gc_norm_mills(double x)
{
	if (!(x >= 0 && x < GC_MILLS_XMAX))
		return NAN;
	return gc_mills_unchecked(x);
}

int
gc_truncnorm_moments_mills(double mu, double s, double lo, double hi,
						   double *mean, double *var)
{
	double		is,
				a,
				b,
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
		pa = exp(-0.5 * a * a) * GC_INV_SQRT2PI;
		qa = pa * gc_mills_unchecked(fabs(a));
	}
	if (fb)
	{
		pb = exp(-0.5 * b * b) * GC_INV_SQRT2PI;
		qb = pb * gc_mills_unchecked(fabs(b));
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
	r2 = ((fb ? b * pb : 0) - (fa ? a * pa : 0)) * iz;
	*mean = mu - s * r1;
	v = s * s * (1.0 - r2 - r1 * r1);
	*var = v > 0 ? v : 0.0;
	return 0;
}
