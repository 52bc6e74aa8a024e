/*
 * fit_internal.h — pieces shared by the fitting algorithms (standard, low-rank, mini-batch).
 */
#ifndef GC_FIT_INTERNAL_H
#define GC_FIT_INTERNAL_H

#include <stdint.h>

#include "copula/copula.h"

/*
 * The latent intervals of a fit's interval entries, one per level (a group of equal observed
 * values of a column): level c has the interval (lo[c], hi[c]); level 0 is no interval.
 */
typedef struct GcLevels
{
	size_t		n;				/* levels, including the unused level 0 */
	size_t		cap;
	double	   *lo,
			   *hi;
} GcLevels;

extern void gc_levels_free(GcLevels *lv, const GcAlloc *alloc);

/*
 * Build the p marginals of model (which must have p zeroed GcMarginal slots) from the
 * n×p row-major data X, detecting types where opt->types asks for it, and fill the n×p
 * row-major latent matrices: Z (point value or interval starting value; NaN = missing)
 * and either LO/HI (interval bounds; equal for points) and ISINT (1 for an interval entry),
 * or — when CODE is not NULL, and LO, HI and ISINT are — CODE, the level of each interval
 * entry in lv (0 for points and missing entries; lv starts empty and is the caller's to free).
 * Continuous training values get the exact ECDF transform Φ⁻¹(F̂(x)·n/(n+1)).
 */
extern GcStatus gc_fit_build_columns(const double *X, size_t n, int p, const GcFitOptions *opt,
									 const GcAlloc *alloc, GcModel *model, double *Z,
									 double *LO, double *HI, uint8_t *ISINT,
									 uint32_t *CODE, GcLevels *lv,
									 char *errmsg, size_t errlen);

#endif
