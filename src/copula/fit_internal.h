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

/* Maps a q×q correlation estimate onto a constraint set in place (the M-step's projection). */
typedef void (*GcProjectFn) (double *S, int q, void *arg);

/*
 * The EM iterations of the standard and mini-batch offline fits on the n×q row-major latent
 * arrays of the active columns (Z with NaN for missing; LO, HI, ISINT as built by
 * gc_fit_build_columns; mayint[a] says whether column a can hold intervals). project, when
 * not NULL, is applied to Σ₀ and to every M-step estimate. The arrays may be replaced by
 * permuted copies (originals freed): the caller frees what *Z, *LO, *HI, *ISINT point to
 * afterwards. Sig (q×q) receives the fitted correlation, model the diagnostics (n_iter,
 * max_iter, delta, loglik, converged, ridge_steps).
 */
extern GcStatus gc_em_latent(double **Z, double **LO, double **HI, uint8_t **ISINT,
							 const uint8_t *mayint, size_t n, int q, const GcFitOptions *opt,
							 GcProjectFn project, void *project_arg, const GcAlloc *alloc,
							 GcModel *model, double *Sig, char *errmsg, size_t errlen);

/*
 * The latent rows of a fit's active (non-constant) columns: n×q row-major Z, LO, HI, ISINT as
 * gc_fit_build_columns makes them, act[q] the columns' numbers, mayint[q] whether a column
 * can hold intervals.
 */
typedef struct GcLatent
{
	int			q;
	int		   *act;
	double	   *Z,
			   *LO,
			   *HI;
	uint8_t    *ISINT,
			   *mayint;
} GcLatent;

/* The row count and width checks shared by the fits: 0 when fine, else -1 and a message. */
extern int	gc_fit_check_size(size_t n, int p, char *errmsg, size_t errlen);

/*
 * The start every full-model fit shares: errmsg cleared, the row count and width checked,
 * a new model (*model; corr the identity) with the marginals built from the n×p rows X, and
 * the latent rows of its active columns in lat (q = 0, model converged, when every column
 * is constant). Whatever the status, finish with gc_fit_end.
 */
extern GcStatus gc_fit_begin(const double *X, size_t n, int p, const GcFitOptions *opt,
							 const GcAlloc *alloc, GcModel **model, GcLatent *lat,
							 char *errmsg, size_t errlen);

/*
 * The end every full-model fit shares: lat and Sig (may be NULL) freed; on GC_OK the model
 * goes to *model_out, otherwise it is freed and *model_out is NULL. Returns status.
 */
extern GcStatus gc_fit_end(GcStatus status, GcModel *model, GcLatent *lat, double *Sig,
						   const GcAlloc *alloc, GcModel **model_out);

#endif
