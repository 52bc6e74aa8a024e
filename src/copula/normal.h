/*
 * normal.h — the standard normal distribution: CDF, quantile, truncated moments.
 *
 * PostgreSQL-free. Accurate to double precision where it matters for the copula:
 * the quantile is refined to full precision, tails use erfc to avoid cancellation.
 */
#ifndef GC_NORMAL_H
#define GC_NORMAL_H

#define GC_SQRT2 1.41421356237309504880
#define GC_SQRT2PI 2.50662827463100050242
#define GC_LOG2PI 1.83787706640934548356

/* Φ(x), the standard normal CDF. */
extern double gc_norm_cdf(double x);

/* φ(x), the standard normal density. */
extern double gc_norm_pdf(double x);

/* Φ⁻¹(p) for p in [0,1]; ±HUGE_VAL at 0 and 1, NaN outside. */
extern double gc_norm_ppf(double p);

/* Φ(b) − Φ(a) for a ≤ b, computed without cancellation in either tail. */
extern double gc_norm_interval(double a, double b);

/*
 * Mean and variance of N(mu, s²) truncated to (lo, hi) (either may be infinite).
 * Returns 0 on success; 1 when the interval holds (numerically) no mass, in which case
 * *mean and *var are left untouched (the caller keeps its previous value, as gcimpute does).
 */
extern int	gc_truncnorm_moments(double mu, double s, double lo, double hi,
								 double *mean, double *var);

#endif
