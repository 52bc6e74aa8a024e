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

#endif
