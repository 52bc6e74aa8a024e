/*
 * normal.c — standard normal CDF, quantile and truncated-normal moments.
 */
#include <math.h>

#include "normal.h"

double
gc_norm_cdf(double x)
{
	/* erfc keeps the lower tail accurate; the upper tail follows by symmetry. */
	return 0.5 * erfc(-x / GC_SQRT2);
}

double
gc_norm_pdf(double x)
{
	return exp(-0.5 * x * x) / GC_SQRT2PI;
}

/*
 * Quantile: Acklam's rational approximation (relative error 1.15e-9) followed by one
 * Halley step on Φ(x) − p, which brings it to full double precision.
 */
double
gc_norm_ppf(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
		-2.759285104469687e+02, 1.383577518672690e+02,
	-3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
		-1.556989798598866e+02, 6.680131188771972e+01,
	-1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
		-2.400758277161838e+00, -2.549732539343734e+00,
	4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
	2.445134137142996e+00, 3.754408661907416e+00};
	const double plow = 0.02425;
	double		q,
				r,
				x,
				e,
				u;

	if (isnan(p) || p < 0.0 || p > 1.0)
		return NAN;
	if (p == 0.0)
		return -HUGE_VAL;
	if (p == 1.0)
		return HUGE_VAL;

	if (p < plow)
	{
		q = sqrt(-2.0 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}
	else if (p <= 1.0 - plow)
	{
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
			(((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
	}
	else
	{
		q = sqrt(-2.0 * log1p(-p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}

	/* Halley refinement of Φ(x) − p, in the tail that keeps the residual accurate. */
	if (x < 0)
		e = 0.5 * erfc(-x / GC_SQRT2) - p;
	else
		e = (1.0 - p) - 0.5 * erfc(x / GC_SQRT2);
	u = e * GC_SQRT2PI * exp(0.5 * x * x);
	x = x - u / (1.0 + 0.5 * x * u);
	return x;
}

double
gc_norm_interval(double a, double b)
{
	if (a >= b)
		return 0.0;
	/* Both in the upper tail: use upper-tail probabilities to avoid 1 − 1. */
	if (a > 0)
		return 0.5 * (erfc(a / GC_SQRT2) - erfc(b / GC_SQRT2));
	return 0.5 * (erfc(-b / GC_SQRT2) - erfc(-a / GC_SQRT2));
}

/*
 * Truncated normal moments (Johnson, Kotz & Balakrishnan, Continuous Univariate
 * Distributions vol. 1, §13.10): with α=(lo−μ)/s, β=(hi−μ)/s and Z=Φ(β)−Φ(α),
 *   E = μ − s (φ(β) − φ(α))/Z,  Var = s² [1 − (βφ(β) − αφ(α))/Z − ((φ(β) − φ(α))/Z)²].
 * Z below 1e-6 counts as "no mass" exactly as in the reference implementation.
 */
int
gc_truncnorm_moments(double mu, double s, double lo, double hi,
					 double *mean, double *var)
{
	double		alpha,
				beta,
				z,
				r1,
				r2,
				v;

	if (!(s > 0) || !isfinite(mu))
		return 1;
	alpha = (lo - mu) / s;
	beta = (hi - mu) / s;
	z = gc_norm_interval(alpha, beta);
	if (!(z > 1e-6))
		return 1;
	{
		/* each density once (x·φ(x) reuses it; the limit at ±∞ is 0) */
		double		pb = isinf(beta) ? 0 : gc_norm_pdf(beta),
					pa = isinf(alpha) ? 0 : gc_norm_pdf(alpha);

		r1 = (pb - pa) / z;
		r2 = ((isinf(beta) ? 0 : beta * pb) - (isinf(alpha) ? 0 : alpha * pa)) / z;
	}
	*mean = mu - s * r1;
	v = s * s * (1.0 - r2 - r1 * r1);
	*var = v > 0 ? v : 0.0;
	return 0;
}
