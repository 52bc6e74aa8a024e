/*
 * latency.c — maximum-likelihood fits of lognormal, gamma and Weibull latency
 * distributions, their density, distribution, quantile and hazard functions,
 * and the allowed lateness for a target completeness.  See latency.h.
 */
#include "latency/latency.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "platform/sort.h"

#define TINY		1e-300
#define MAX_ITER	200

/* ---------- special functions ---------- */

/* psi(x) by recurrence up to x >= 10, then the asymptotic (Bernoulli) series. */
double
gc_digamma(double x)
{
	double		r = 0.0,
				f;

	while (x < 10.0)
	{
		r -= 1.0 / x;
		x += 1.0;
	}
	f = 1.0 / (x * x);
	return r + log(x) - 0.5 / x -
		f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

/* psi'(x), same scheme. */
double
gc_trigamma(double x)
{
	double		r = 0.0,
				f;

	while (x < 10.0)
	{
		r += 1.0 / (x * x);
		x += 1.0;
	}
	f = 1.0 / (x * x);
	return r + 1.0 / x + f / 2 +
		f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * 5.0 / 66))));
}

/* Series for P(a, x), good for x < a + 1. */
static double
GammaSeries(double a, double x)
{
	double		ap = a,
				del = 1.0 / a,
				sum = del;

	for (int n = 0; n < 10000; n++)
	{
		ap += 1.0;
		del *= x / ap;
		sum += del;
		if (fabs(del) < fabs(sum) * 1e-16)
			break;
	}
	return sum * exp(-x + a * log(x) - lgamma(a));
}

/*
 * Continued fraction for Q(a, x) (modified Lentz), good for x >= a + 1.
 * Returns h with Q = exp(-x + a ln x - lgamma(a)) * h, so callers can work
 * with the prefactor in log space far into the tail.
 */
static double
GammaCF(double a, double x)
{
	double		b = x + 1.0 - a,
				c = 1.0 / TINY,
				d = 1.0 / b,
				h = d;

	for (int i = 1; i < 10000; i++)
	{
		double		an = -i * (i - a),
					del;

		b += 2.0;
		d = an * d + b;
		if (fabs(d) < TINY)
			d = TINY;
		c = b + an / c;
		if (fabs(c) < TINY)
			c = TINY;
		d = 1.0 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1.0) < 1e-16)
			break;
	}
	return h;
}

double
gc_gamma_p(double a, double x)
{
	if (x <= 0.0)
		return 0.0;
	if (isinf(x))
		return 1.0;
	if (x < a + 1.0)
		return GammaSeries(a, x);
	return 1.0 - exp(-x + a * log(x) - lgamma(a)) * GammaCF(a, x);
}

double
gc_gamma_q(double a, double x)
{
	if (x <= 0.0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	if (x < a + 1.0)
		return 1.0 - GammaSeries(a, x);
	return exp(-x + a * log(x) - lgamma(a)) * GammaCF(a, x);
}

static double
NormCdf(double z)
{
	return 0.5 * erfc(-z / M_SQRT2);
}

/*
 * Inverse standard normal: Acklam's rational approximation (relative error
 * 1.15e-9) refined by one Halley step on erfc, which brings it to full double
 * precision.
 */
double
gc_norm_quantile(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
		-2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01,
	2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
		-1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
		-2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00,
	2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
	2.445134137142996e+00, 3.754408661907416e+00};
	double		q,
				r,
				x,
				e,
				u;

	if (!(p > 0.0 && p < 1.0))
		return NAN;
	if (p < 0.02425)
	{
		q = sqrt(-2.0 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}
	else if (p <= 1.0 - 0.02425)
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
	e = NormCdf(x) - p;
	u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
	return x - u / (1.0 + x * u / 2.0);
}

/* ---------- distributions ---------- */

const char *
gc_latency_family_name(gc_latency_family f)
{
	switch (f)
	{
		case GC_LAT_LOGNORMAL:
			return "lognormal";
		case GC_LAT_GAMMA:
			return "gamma";
		case GC_LAT_WEIBULL:
			return "weibull";
	}
	return "unknown";
}

int
gc_latency_family_parse(const char *name, gc_latency_family *f)
{
	for (int i = 0; i < GC_LAT_NFAMILIES; i++)
		if (strcmp(name, gc_latency_family_name((gc_latency_family) i)) == 0)
		{
			*f = (gc_latency_family) i;
			return 0;
		}
	return -1;
}

int
gc_latency_valid(const gc_latency_dist *d)
{
	return (d->family == GC_LAT_LOGNORMAL || d->family == GC_LAT_GAMMA ||
			d->family == GC_LAT_WEIBULL) &&
		isfinite(d->shape) && d->shape > 0.0 && isfinite(d->scale) && d->scale > 0.0;
}

double
gc_latency_pdf(const gc_latency_dist *d, double t)
{
	double		k = d->shape,
				s = d->scale;

	if (t < 0.0)
		return 0.0;
	switch (d->family)
	{
		case GC_LAT_LOGNORMAL:
			{
				double		z;

				if (t == 0.0)
					return 0.0;
				z = log(t / s) / k;
				return exp(-0.5 * z * z) / (t * k * sqrt(2.0 * M_PI));
			}
		case GC_LAT_GAMMA:
			if (t == 0.0)
				return k < 1.0 ? INFINITY : (k == 1.0 ? 1.0 / s : 0.0);
			return exp((k - 1.0) * log(t) - t / s - lgamma(k) - k * log(s));
		case GC_LAT_WEIBULL:
			if (t == 0.0)
				return k < 1.0 ? INFINITY : (k == 1.0 ? 1.0 / s : 0.0);
			return (k / s) * pow(t / s, k - 1.0) * exp(-pow(t / s, k));
	}
	return NAN;
}

double
gc_latency_cdf(const gc_latency_dist *d, double t)
{
	if (t <= 0.0)
		return 0.0;
	switch (d->family)
	{
		case GC_LAT_LOGNORMAL:
			return NormCdf(log(t / d->scale) / d->shape);
		case GC_LAT_GAMMA:
			return gc_gamma_p(d->shape, t / d->scale);
		case GC_LAT_WEIBULL:
			return -expm1(-pow(t / d->scale, d->shape));
	}
	return NAN;
}

double
gc_latency_sf(const gc_latency_dist *d, double t)
{
	if (t <= 0.0)
		return 1.0;
	switch (d->family)
	{
		case GC_LAT_LOGNORMAL:
			return 0.5 * erfc(log(t / d->scale) / d->shape / M_SQRT2);
		case GC_LAT_GAMMA:
			return gc_gamma_q(d->shape, t / d->scale);
		case GC_LAT_WEIBULL:
			return exp(-pow(t / d->scale, d->shape));
	}
	return NAN;
}

/*
 * h(t) = f(t) / S(t), computed so that it stays finite where S underflows:
 * the normal Mills ratio's asymptotic form for the lognormal, the continued
 * fraction's own prefactor for the gamma, the closed form for the Weibull.
 */
double
gc_latency_hazard(const gc_latency_dist *d, double t)
{
	double		k = d->shape,
				s = d->scale;

	if (t < 0.0)
		return 0.0;
	switch (d->family)
	{
		case GC_LAT_LOGNORMAL:
			{
				double		z,
							ratio;

				if (t == 0.0)
					return 0.0;
				z = log(t / s) / k;
				if (z < 35.0)
					ratio = exp(-0.5 * z * z) / sqrt(2.0 * M_PI) / (0.5 * erfc(z / M_SQRT2));
				else
					ratio = z + 1.0 / z - 2.0 / (z * z * z);	/* phi/Q ~ z + 1/z - 2/z^3 */
				return ratio / (t * k);
			}
		case GC_LAT_GAMMA:
			{
				double		x = t / s;

				if (t == 0.0)
					return gc_latency_pdf(d, 0.0);
				if (x < k + 1.0)
					return gc_latency_pdf(d, t) / gc_gamma_q(k, x);
				/* f/Q = [x^(k-1) e^-x / Gamma(k)] / [x^k e^-x / Gamma(k) * h] / scale */
				return 1.0 / (x * GammaCF(k, x) * s);
			}
		case GC_LAT_WEIBULL:
			if (t == 0.0)
				return gc_latency_pdf(d, 0.0);
			return (k / s) * pow(t / s, k - 1.0);
	}
	return NAN;
}

/* Gamma quantile: safeguarded Newton on P (or Q above the median) in x = t/scale. */
static double
GammaQuantile(double k, double p)
{
	double		z = gc_norm_quantile(p),
				x,
				lo = 0.0,
				hi = INFINITY;

	/* Wilson-Hilferty start; small-p power law when it goes non-positive */
	x = k * pow(1.0 - 1.0 / (9.0 * k) + z / (3.0 * sqrt(k)), 3.0);
	if (!(x > 0.0))
		x = exp((log(p) + lgamma(k + 1.0)) / k);
	for (int i = 0; i < MAX_ITER; i++)
	{
		double		f = p < 0.5 ? gc_gamma_p(k, x) - p : (1.0 - p) - gc_gamma_q(k, x);
		double		dens = exp((k - 1.0) * log(x) - x - lgamma(k));
		double		next;

		if (f == 0.0)
			return x;
		if (f > 0.0)
			hi = x;
		else
			lo = x;
		next = x - f / dens;
		if (!(next > lo && next < hi) || !isfinite(next))
			next = isinf(hi) ? 2.0 * x : (lo == 0.0 ? x / 2.0 : 0.5 * (lo + hi));
		if (fabs(next - x) <= 1e-14 * x)
			return next;
		x = next;
	}
	return x;
}

double
gc_latency_quantile(const gc_latency_dist *d, double p)
{
	if (!(p > 0.0 && p < 1.0))
		return NAN;
	switch (d->family)
	{
		case GC_LAT_LOGNORMAL:
			return d->scale * exp(d->shape * gc_norm_quantile(p));
		case GC_LAT_GAMMA:
			return d->scale * GammaQuantile(d->shape, p);
		case GC_LAT_WEIBULL:
			return d->scale * pow(-log1p(-p), 1.0 / d->shape);
	}
	return NAN;
}

/* Share of a window's readings that have arrived w seconds after it closed. */
static double
WindowArrived(const gc_latency_dist *d, double w, double window)
{
	const int	n = 256;		/* Simpson panels: F is smooth on (0, inf) */
	double		h = window / n,
				sum = gc_latency_cdf(d, w) + gc_latency_cdf(d, w + window);

	for (int i = 1; i < n; i++)
		sum += (i % 2 ? 4.0 : 2.0) * gc_latency_cdf(d, w + i * h);
	return sum * h / 3.0 / window;
}

double
gc_latency_allowed_lateness(const gc_latency_dist *d, double completeness, double window)
{
	double		lo = 0.0,
				hi;

	if (!(completeness > 0.0 && completeness < 1.0) || !(window >= 0.0) || isinf(window))
		return NAN;
	hi = gc_latency_quantile(d, completeness);
	if (window == 0.0)
		return hi;
	/* a reading stamped s before the close waits w + s, so F(hi + s) >= c */
	if (WindowArrived(d, 0.0, window) >= completeness)
		return 0.0;
	for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++)
	{
		double		mid = 0.5 * (lo + hi);

		if (WindowArrived(d, mid, window) >= completeness)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* ---------- fitting ---------- */

typedef double (*ScoreFn) (double k, const void *ctx, double *deriv);

/*
 * Root of a decreasing score g on (0, inf): Newton steps while they stay inside
 * the bracket known so far, doubling / halving / bisecting otherwise.
 */
static int
SolveShape(ScoreFn g, const void *ctx, double k0, double *root, int *iters)
{
	double		lo = 0.0,
				hi = INFINITY,
				k = k0;

	for (int i = 1; i <= MAX_ITER; i++)
	{
		double		dg,
					v = g(k, ctx, &dg),
					next;

		if (!isfinite(v))
			return GC_ENOCONV;
		if (v > 0.0)
			lo = k;
		else
			hi = k;
		next = k - v / dg;
		if (!(next > lo && next < hi) || !isfinite(next))
			next = isinf(hi) ? 2.0 * k : (lo == 0.0 ? 0.5 * k : 0.5 * (lo + hi));
		*iters = i;
		if (v == 0.0 || fabs(next - k) <= 1e-12 * k)
		{
			*root = next;
			return GC_OK;
		}
		k = next;
	}
	return GC_ENOCONV;
}

typedef struct SampleStats
{
	const double *x;
	size_t		n;
	double		mean;
	double		meanlog;
	double		sdlog;
	double		logmax;
} SampleStats;

/* Gamma profile score (Minka 2002): ln k - psi(k) = ln(mean) - mean(ln x). */
static double
GammaScore(double k, const void *ctx, double *deriv)
{
	const SampleStats *st = ctx;
	double		s = log(st->mean) - st->meanlog;

	*deriv = 1.0 / k - gc_trigamma(k);
	return log(k) - gc_digamma(k) - s;
}

/*
 * Weibull profile score: 1/k + mean(ln x) - sum x^k ln x / sum x^k, evaluated
 * with y = x / max(x) so that y^k never overflows (the score is scale-free).
 */
static double
WeibullScore(double k, const void *ctx, double *deriv)
{
	const SampleStats *st = ctx;
	double		s0 = 0.0,
				s1 = 0.0,
				s2 = 0.0;

	for (size_t i = 0; i < st->n; i++)
	{
		double		ly = log(st->x[i]) - st->logmax;
		double		yk = exp(k * ly);

		s0 += yk;
		s1 += yk * ly;
		s2 += yk * ly * ly;
	}
	*deriv = -1.0 / (k * k) - (s2 * s0 - s1 * s1) / (s0 * s0);
	return 1.0 / k + (st->meanlog - st->logmax) - s1 / s0;
}

/* KS distance of sorted x to d. */
static double
KsDistance(const gc_latency_dist *d, const double *x, size_t n)
{
	double		D = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		F = gc_latency_cdf(d, x[i]);
		double		a = F - (double) i / n,
					b = (double) (i + 1) / n - F;

		if (a > D)
			D = a;
		if (b > D)
			D = b;
	}
	return D;
}

static double
LogLik(const gc_latency_dist *d, const SampleStats *st)
{
	double		ll = 0.0;

	for (size_t i = 0; i < st->n; i++)
		ll += log(gc_latency_pdf(d, st->x[i]));
	return ll;
}

GcStatus
gc_latency_fit(double *x, size_t n, gc_latency_fit_result *res, size_t *bad)
{
	SampleStats st;
	double		sum = 0.0,
				sumlog = 0.0,
				ss = 0.0,
				mx = 0.0,
				mn = INFINITY;
	int			rc;

	memset(res, 0, sizeof(*res));
	if (n < 2)
		return GC_ETOOFEW;
	for (size_t i = 0; i < n; i++)
	{
		if (!(isfinite(x[i]) && x[i] > 0.0))
		{
			if (bad)
				*bad = i;
			return GC_EINVAL;
		}
		sum += x[i];
		sumlog += log(x[i]);
		if (x[i] > mx)
			mx = x[i];
		if (x[i] < mn)
			mn = x[i];
	}
	if (mx == mn)
		return GC_EDEGENERATE;
	st.x = x;
	st.n = n;
	st.mean = sum / n;
	st.meanlog = sumlog / n;
	st.logmax = log(mx);
	for (size_t i = 0; i < n; i++)
	{
		double		dl = log(x[i]) - st.meanlog;

		ss += dl * dl;
	}
	st.sdlog = sqrt(ss / n);
	res->n = n;
	res->mean = st.mean;
	res->min = mn;
	res->max = mx;

	/* lognormal: closed form, mu = mean(ln x), sigma^2 = mean((ln x - mu)^2) */
	res->fits[GC_LAT_LOGNORMAL].family = GC_LAT_LOGNORMAL;
	res->fits[GC_LAT_LOGNORMAL].shape = st.sdlog;
	res->fits[GC_LAT_LOGNORMAL].scale = exp(st.meanlog);

	/* gamma: Newton from Minka's closed-form approximation; theta = mean / k */
	{
		double		s = log(st.mean) - st.meanlog;
		double		k0 = (3.0 - s + sqrt((s - 3.0) * (s - 3.0) + 24.0 * s)) / (12.0 * s);
		double		k;
		gc_latency_dist *g = &res->fits[GC_LAT_GAMMA];

		g->family = GC_LAT_GAMMA;
		if ((rc = SolveShape(GammaScore, &st, k0, &k, &g->iterations)) != GC_OK)
			return rc;
		g->shape = k;
		g->scale = st.mean / k;
	}

	/* Weibull: Newton from the Gumbel moment estimate k0 = pi / (sqrt 6 * sd(ln x)) */
	{
		double		k0 = M_PI / (sqrt(6.0) * st.sdlog);
		double		k,
					s0 = 0.0;
		gc_latency_dist *w = &res->fits[GC_LAT_WEIBULL];

		w->family = GC_LAT_WEIBULL;
		if ((rc = SolveShape(WeibullScore, &st, k0, &k, &w->iterations)) != GC_OK)
			return rc;
		for (size_t i = 0; i < n; i++)
			s0 += exp(k * (log(x[i]) - st.logmax));
		w->shape = k;
		w->scale = mx * pow(s0 / n, 1.0 / k);
	}

	gc_sort_doubles(x, n);
	st.x = x;
	res->best = 0;
	for (int f = 0; f < GC_LAT_NFAMILIES; f++)
	{
		gc_latency_dist *d = &res->fits[f];

		d->loglik = LogLik(d, &st);
		d->aic = 2.0 * 2 - 2.0 * d->loglik;
		d->ks = KsDistance(d, x, n);
		if (!isfinite(d->loglik))
			return GC_ENOCONV;
		if (d->aic < res->fits[res->best].aic)
			res->best = f;
	}
	return GC_OK;
}
