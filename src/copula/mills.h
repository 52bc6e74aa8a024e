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

/*
 * n moments at once, for the ordinal updates of the low-rank E-step and imputation: entry i
 * is N(mu[i], s[i]²) truncated to (lo[i], hi[i]), with the contract of
 * gc_truncnorm_moments_mills per entry — mean[i] and var[i] are written where it succeeds and
 * left untouched where it reports failure — and the same results to the bit. With
 * gc_simd_level AVX2 or higher four entries go through at a time; entries off the common
 * path (a cut point beyond the table, an empty interval) take the scalar routine.
 */
extern void gc_truncnorm_moments_mills_batch(int n, const double *mu, const double *s,
											 const double *lo, const double *hi,
											 double *mean, double *var);

/* e^x for −700 <= x <= 0 to about one ulp (the density at the cut points); exposed for tests */
extern double gc_exp_nonpos(double x);

#endif
