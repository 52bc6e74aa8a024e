/*
 * fit_internal.h — pieces shared by the fitting algorithms (standard, low-rank, mini-batch).
 */
#ifndef GC_FIT_INTERNAL_H
#define GC_FIT_INTERNAL_H

#include <stdint.h>

#include "copula.h"

/*
 * Build the p marginals of model (which must have p zeroed GcMarginal slots) from the
 * n×p row-major data X, detecting types where opt->types asks for it, and fill the n×p
 * row-major latent matrices: Z (point value or interval starting value; NaN = missing),
 * LO/HI (interval bounds; equal for points) and ISINT (1 for an interval entry).
 * Continuous training values get the exact ECDF transform Φ⁻¹(F̂(x)·n/(n+1)).
 */
extern GcStatus gc_fit_build_columns(const double *X, size_t n, int p, const GcFitOptions *opt,
									 const GcAlloc *alloc, GcModel *model, double *Z,
									 double *LO, double *HI, uint8_t *ISINT,
									 char *errmsg, size_t errlen);

#endif
