/*
 * marginal.h — per-column marginals of the Gaussian copula: variable types, the
 * empirical distribution kept as knots, and the maps observed ↔ latent (docs/algorithms.md §1–§3).
 *
 * A marginal is a sorted list of knots x[k] with cum[k] = #obs ≤ x[k] and
 * mult[k] = #obs == x[k]. When every distinct value is a knot ("exact"), the ECDF and the
 * order statistics are those of the training data to the bit. A compressed marginal keeps
 * at most max_knots knots (the extremes and every heavy atom among them) and interpolates
 * linearly in between, so a model of any number of rows stays small.
 */
#ifndef GC_MARGINAL_H
#define GC_MARGINAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum GcVarType
{
	GC_CONTINUOUS = 0,
	GC_ORDINAL = 1,
	GC_BINARY = 2,				/* an ordinal with two levels */
	GC_LOWER_TRUNCATED = 3,
	GC_UPPER_TRUNCATED = 4,
	GC_TWOSIDED_TRUNCATED = 5,
	GC_CONSTANT = 6,			/* a single observed level: left out of the copula */
	GC_AUTO = 7					/* only as a request: detect */
} GcVarType;

#define GC_NUM_VARTYPES 7

extern const char *gc_vartype_name(int type);
/* -1 if the name is unknown */
extern int	gc_vartype_from_name(const char *name);

typedef struct GcMarginal
{
	int			type;
	int			nknots;
	int			exact;			/* every distinct training value is a knot */
	double		n;				/* number of observations */
	const double *x;			/* knots, strictly ascending */
	const double *cum;			/* observations <= x[k] */
	const double *mult;			/* observations == x[k] */
	double		halfgap;		/* half the smallest gap between knots (set by prepare) */
} GcMarginal;

/* Derive cached fields (halfgap) after x/cum/mult are set. */
extern void gc_marginal_prepare(GcMarginal *m);

/*
 * Detect a column's type from its sorted observed values (docs/algorithms.md §1), with the mode-share
 * threshold min_ord_ratio. Returns GC_CONSTANT for a single level.
 */
extern int	gc_detect_type(const double *sorted, size_t n, double min_ord_ratio);

/* Number of distinct values in a sorted array. */
extern size_t gc_count_distinct(const double *sorted, size_t n);

/*
 * Build knots from sorted observed values: writes at most max_knots knots to x/cum/mult
 * (each of capacity max_knots) and returns their number; *exact tells whether all distinct
 * values were kept. max_knots must be >= 3.
 */
extern int	gc_build_knots(const double *sorted, size_t n, int max_knots,
						   double *x, double *cum, double *mult, int *exact);

/*
 * Check a marginal's internal consistency (used when a model comes from outside).
 * Returns NULL if fine, else a static message.
 */
extern const char *gc_marginal_check(const GcMarginal *m);

/*
 * Observed value → latent point or interval (docs/algorithms.md §2). Sets *lo and *hi; they are equal
 * for a point. Returns 1 when the entry is an interval (ordinal level or truncation point).
 */
extern int	gc_marginal_to_latent(const GcMarginal *m, double x, double *lo, double *hi);

/*
 * The knot an ordinal or binary value x maps to (the level within half a gap of x, or the
 * next one above, clipped to range): its latent interval is (Φ⁻¹(cum[k−1]/n), Φ⁻¹(cum[k]/n)).
 */
extern int	gc_marginal_level(const GcMarginal *m, double x);

/* Latent value → observed scale (docs/algorithms.md §3): an observed level for ordinals. */
extern double gc_marginal_from_latent(const GcMarginal *m, double z);

/* Empirical CDF F̂(x) (right-continuous), interpolated between knots of a compressed marginal. */
extern double gc_marginal_ecdf(const GcMarginal *m, double x);

/* Order statistic of rank r (0-based, may be fractional between ranks: linear). */
extern double gc_marginal_order_stat(const GcMarginal *m, double r);

/*
 * A search index over a sorted array a[0..n): value buckets of equal width, each with the
 * range of elements whose bucket is that one, so that "how many a[k] <= v" is a search of
 * a bucket's few elements instead of log2(n) dependent loads over the whole array. Exact
 * for any data: the bucket map is monotone, so elements outside v's bucket are on the
 * known side of v. nb == 0 means no index (plain binary search).
 */
typedef struct GcSearchIndex
{
	int			nb;
	double		base,
				scale;
	int32_t    *start;			/* nb + 1: elements in buckets before b */
} GcSearchIndex;

/* A knot packed for lookups: value, cumulative count, and the count below it (cum − mult). */
typedef struct GcKnot
{
	double		x,
				cum,
				below;
} GcKnot;

/*
 * Marginal indexes for imputation: on the knot values and on the cumulative counts, and
 * (optional) the knots packed so that a lookup touches one place in memory, not three.
 */
typedef struct GcMarginalIndex
{
	GcSearchIndex xs,
				cs;
	GcKnot	   *kn;
} GcMarginalIndex;

/* Both indexes of a marginal: start has room for 2 (nknots + 1), kn (or NULL) for nknots. */
extern void gc_marginal_index_build(GcMarginalIndex *ix, const GcMarginal *m, int32_t *start,
									GcKnot *kn);

/* Build an index with nb buckets; start has room for nb + 1. */
/* the bucket of v: monotone in v, NaN and values below the range go to bucket 0 */
static inline int
gc_search_bucket(const GcSearchIndex *ix, double v)
{
	double		t = (v - ix->base) * ix->scale;

	if (!(t > 0))
		return 0;
	if (t >= ix->nb - 1)
		return ix->nb - 1;
	return (int) t;
}

extern void gc_search_index_build(GcSearchIndex *ix, const double *a, int n, int nb,
								  int32_t *start);

/* The same maps as above, using an index built on m->x and m->cum (ix may be NULL). */
extern int	gc_marginal_to_latent_ix(const GcMarginal *m, const GcMarginalIndex *ix,
									 double x, double *lo, double *hi);
extern double gc_marginal_from_latent_ix(const GcMarginal *m, const GcMarginalIndex *ix,
										 double z);

/* shared halves of the truncated observed → latent map (marginal.c) */
extern int	gc_truncated_tail(double x, double xmin, double xmax, double qlo, double qhi,
							  int lower, int upper, double *lo, double *hi);
extern double gc_truncated_quantile(double count_le, double n, double qlo, double qhi);

#endif
