/*
 * latency.h — data-latency distributions for deciding how long to wait for late
 * readings (PostgreSQL-free core; the stream worker calls it directly).
 *
 * Following Algorithm 3 ("event history analysis") of the low-latency stream
 * processing article (PeerJ Comput. Sci. 7:e426, 2021), the latencies are fitted
 * by maximum likelihood with three families and the best is kept:
 *   lognormal  shape sigma, scale m = exp(mu)   (the article's m = 0.7898, sigma = 1.8964)
 *   gamma      shape k, scale theta             f = t^(k-1) e^(-t/theta) / (Gamma(k) theta^k)
 *   Weibull    shape k, scale lambda            F = 1 - exp(-(t/lambda)^k)
 * Gamma and Weibull shapes are found by safeguarded Newton iterations on the
 * score equation of the profile likelihood (scale eliminated in closed form).
 * Every fit reports its log-likelihood, AIC = 2*2 - 2 loglik and the
 * Kolmogorov-Smirnov distance to the sample; the best is the smallest AIC.
 *
 * The hazard h(t) = f(t) / (1 - F(t)) is the article's Eq. (5) written with the
 * survival function in the denominator (the article prints Phi where 1 - Phi is
 * meant).
 *
 * Usage from C:
 *     gc_latency_fit_result r;
 *     if (gc_latency_fit(samples, n, &r) == GC_OK)
 *         wait = gc_latency_allowed_lateness(&r.fits[r.best], 0.99, window_seconds);
 */
#ifndef GC_LATENCY_H
#define GC_LATENCY_H

#include <stddef.h>

#include "platform/status.h"

typedef enum gc_latency_family
{
	GC_LAT_LOGNORMAL = 0,
	GC_LAT_GAMMA = 1,
	GC_LAT_WEIBULL = 2
} gc_latency_family;

#define GC_LAT_NFAMILIES	3

/*
 * gc_latency_fit returns a GcStatus (platform/status.h): GC_ETOOFEW for fewer than 2
 * samples, GC_EINVAL when a sample is not finite and > 0, GC_EDEGENERATE when all samples
 * are equal (no spread to fit), GC_ENOCONV when Newton did not converge (not seen in
 * practice). GC_LAT_OK is the stream worker's name for GC_OK.
 */
#define GC_LAT_OK GC_OK

typedef struct gc_latency_dist
{
	gc_latency_family family;
	double		shape;			/* sigma (lognormal) or k (gamma, Weibull) */
	double		scale;			/* exp(mu) (lognormal), theta (gamma), lambda (Weibull) */
	double		loglik;			/* at the fitted parameters; 0 when not fitted */
	double		aic;
	double		ks;				/* Kolmogorov-Smirnov distance to the sample */
	int			iterations;		/* Newton iterations (0 for lognormal) */
} gc_latency_dist;

typedef struct gc_latency_fit_result
{
	size_t		n;
	double		mean;
	double		min;
	double		max;
	gc_latency_dist fits[GC_LAT_NFAMILIES];
	int			best;			/* index into fits: smallest AIC */
} gc_latency_fit_result;

/*
 * Fit all three families to x[0..n-1] (seconds, each finite and > 0).  Sorts x
 * in place (for the KS distance).  On GC_EINVAL, *bad (if not NULL) is the
 * index of the first offending sample.
 */
extern GcStatus gc_latency_fit(double *x, size_t n, gc_latency_fit_result *res, size_t *bad);

extern const char *gc_latency_family_name(gc_latency_family f);
/* 0 and *f set if name is "lognormal", "gamma" or "weibull"; -1 otherwise. */
extern int	gc_latency_family_parse(const char *name, gc_latency_family *f);

/* 1 if shape and scale are finite and > 0, else 0. */
extern int	gc_latency_valid(const gc_latency_dist *d);

/* Density, distribution, survival and hazard at t seconds (0 for t < 0). */
extern double gc_latency_pdf(const gc_latency_dist *d, double t);
extern double gc_latency_cdf(const gc_latency_dist *d, double t);
extern double gc_latency_sf(const gc_latency_dist *d, double t);
extern double gc_latency_hazard(const gc_latency_dist *d, double t);

/* Inverse of the cdf, p in (0, 1); NaN outside. */
extern double gc_latency_quantile(const gc_latency_dist *d, double p);

/*
 * Wait after a window closes until the given share (0, 1) of its late data has
 * arrived.  window = 0: every reading is assumed stamped at the window end, so
 * the answer is the quantile.  window > 0: readings spread evenly over the
 * window; solves (1/W) * integral_0^W F(w + s) ds = completeness for w >= 0.
 */
extern double gc_latency_allowed_lateness(const gc_latency_dist *d, double completeness,
										  double window);

/* Special functions, exported for the unit tests. */
extern double gc_digamma(double x);
extern double gc_trigamma(double x);
extern double gc_gamma_p(double a, double x);	/* regularized lower incomplete gamma */
extern double gc_gamma_q(double a, double x);	/* 1 - P */
extern double gc_norm_quantile(double p);

#endif							/* GC_LATENCY_H */
