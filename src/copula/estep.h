/*
 * estep.h — one EM sweep (E-step and the second moments of the M-step) over a set of rows,
 * shared by standard, mini-batch and online training.
 */
#ifndef GC_ESTEP_H
#define GC_ESTEP_H

#include <stddef.h>
#include <stdint.h>

#include "copula/cond.h"
#include "copula/copula.h"
#include "copula/precision.h"

typedef struct GcEStep
{
	int			q;
	size_t		cap;			/* rows the gather buffer holds */
	GcCond		cond;
	double	   *Cbar;			/* q×q */
	double	   *v;				/* q */
	double	   *mean;			/* q */
	double	   *buf;			/* cap×q completed rows */
	uint8_t    *obs;			/* q */
	double	   *T;				/* cap×q: Λ times the zero-filled rows */
	double	   *vsum;			/* q: ordinal variances summed over a pattern's rows */
} GcEStep;

extern GcStatus gc_estep_init(GcEStep *es, int q, size_t cap, const double *Lam,
							  const GcAlloc *alloc);
extern void gc_estep_free(GcEStep *es, const GcAlloc *alloc);

/*
 * E-step over the rows idx[0..cnt) of the row-major n×q latent arrays (rows grouped by
 * missingness pattern, which masks/nw describe), with the precision matrix in prec (the
 * GcEStep's cond must point at prec->Lam). Interval entries of Z are updated in place (warm
 * start). S receives the correlation matrix rescaled from cov(Ẑ) + C̄/cnt (docs/algorithms.md §6) and
 * *ll the mean log-likelihood of the rows. cnt must not exceed es->cap. When no column may
 * hold intervals, consecutive patterns with as many missing entries are factored together
 * (same results as one by one); gc_sort_by_size_pattern puts the rows in such an order.
 */
extern GcStatus gc_estep_sweep(GcEStep *es, const GcPrecision *prec, double *Z,
							   const double *LO, const double *HI, const uint8_t *ISINT,
							   const uint8_t *mayint, const size_t *idx, size_t cnt,
							   const uint64_t *masks, int nw, int num_ord_updates,
							   void (*tick) (void *), void *tick_arg,
							   double *S, double *ll, char *errmsg, size_t errlen);

/* Sort idx[0..cnt) by missingness pattern (then by row number). */
extern void gc_sort_by_pattern(size_t *idx, size_t cnt, const uint64_t *masks, int nw);

/*
 * Sort idx[0..cnt) by the number of missing entries, then by pattern, then by row number:
 * patterns with as many missing entries are then next to each other, which lets the
 * E-step work on several at once (idx must be ascending on entry for the row-number tie
 * break). q is the number of columns the masks cover; scratch comes from alloc (the sort
 * falls back to a comparison sort without it).
 */
extern void gc_sort_by_size_pattern(size_t *idx, size_t cnt, const uint64_t *masks, int nw,
									int q, const GcAlloc *alloc);

#endif
