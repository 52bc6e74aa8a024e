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

static inline double
Poly7(const double *c, double x)
{
	return ((((((c[7] * x + c[6]) * x + c[5]) * x + c[4]) * x + c[3]) * x + c[2]) * x + c[1]) * x + c[0];
}

/*
 * Quantile without a refinement step: Wichura's AS 241 (PPND16, Applied Statistics 37,
 * 1988), three rational approximations of degree 7 that are accurate to about 1e-16
 * on their own, so no erfc/exp is needed. Used by the online map, which transforms
 * every observed value of the stream; gc_norm_ppf stays the reference implementation.
 */
double
gc_norm_ppf_fast(double p)
{
	static const double a[] = {3.387132872796366608, 133.14166789178437745,
		1971.5909503065514427, 13731.693765509461125, 45921.953931549871457,
		67265.770927008700853, 33430.575583588128105, 2509.0809287301226727};
	static const double b[] = {1.0, 42.313330701600911252, 687.1870074920579083,
		5394.1960214247511077, 21213.794301586595867, 39307.89580009271061,
		28729.085735721942674, 5226.495278852545925};
	static const double c[] = {1.42343711074968357734, 4.6303378461565452959,
		5.7694972214606914055, 3.64784832476320460504, 1.27045825245236838258,
		0.24178072517745061177, 0.0227238449892691845833, 7.7454501427834140764e-4};
	static const double d[] = {1.0, 2.05319162663775882187, 1.6763848301838038494,
		0.68976733498510000455, 0.14810397642748007459, 0.0151986665636164571966,
		5.475938084995344946e-4, 1.05075007164441684324e-9};
	static const double e[] = {6.6579046435011037772, 5.4637849111641143699,
		1.7848265399172913358, 0.29656057182850489123, 0.026532189526576123093,
		0.0012426609473880784386, 2.71155556874348757815e-5, 2.01033439929228813265e-7};
	static const double f[] = {1.0, 0.59983220655588793769, 0.13692988092273580531,
		0.0148753612908506148525, 7.868691311456132591e-4, 1.8463183175100546818e-5,
		1.4215117583164458887e-7, 2.04426310338993978564e-15};
	double		q = p - 0.5,
				r,
				x;

	if (fabs(q) <= 0.425)
	{
		r = 0.180625 - q * q;
		return q * Poly7(a, r) / Poly7(b, r);
	}
	if (isnan(p) || p < 0.0 || p > 1.0)
		return NAN;
	if (p == 0.0)
		return -HUGE_VAL;
	if (p == 1.0)
		return HUGE_VAL;
	r = sqrt(-log(q < 0 ? p : 1.0 - p));
	if (r <= 5.0)
	{
		r -= 1.6;
		x = Poly7(c, r) / Poly7(d, r);
	}
	else
	{
		r -= 5.0;
		x = Poly7(e, r) / Poly7(f, r);
	}
	return q < 0 ? -x : x;
}
