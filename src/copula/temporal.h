/*
 * temporal.h — the temporal Gaussian copula (PostgreSQL-free): the stationary joint copula
 * of an entity's consecutive rows.
 *
 * The latent rows z_t of an entity form a stationary Gaussian series whose correlation is
 * described by Γ(h) = E[z_t z_{t−h}ᵀ], h = 0..lags (GcModel.corr is Γ(0), GcModel.lagcorr
 * holds the rest); each column keeps one marginal, shared by all of its lags. The copula of
 * a window of rows t−back..t+fwd is then block-Toeplitz: block (a, b) is Γ(a−b) for a ≥ b.
 * Beyond the fitted lags the series is continued as the VAR(lags) process with those
 * Γ(0..lags) (the maximum-entropy extension), which is what a window longer than lags+1
 * rows (the smoothing window, lags rows either side) needs.
 */
#ifndef GC_TEMPORAL_H
#define GC_TEMPORAL_H

#include <stddef.h>
#include <stdint.h>

#include "copula/copula.h"

/* the most lags a model may have (a window of smooth imputation spans 2·lags + 1 rows) */
#define GC_SERIES_MAX_LAGS 16
/* the range "auto" searches first */
#define GC_SERIES_DEFAULT_MAX_LAGS 6
/* bytes the fit needs per stacked value: the latent arrays and the E-step's copies */
#define GC_SERIES_BYTES_PER_VALUE (6 * sizeof(double))

typedef struct GcSeriesOptions
{
	int			lags;			/* >= 0: this many; -1: choose 0..max_lags by BIC */
	int			max_lags;		/* upper end of the choice, GC_SERIES_DEFAULT_MAX_LAGS */
	/*
	 * A choice that lands on max_lags itself is censored by the range: with widen_bytes > 0
	 * the choice is then made again over 0..GC_SERIES_MAX_LAGS, or over as many lags as
	 * keep all n rows stacked within widen_bytes (GC_SERIES_BYTES_PER_VALUE each).
	 * 0: max_lags is a hard cap.
	 */
	double		widen_bytes;
	int		   *searched;		/* when not NULL: receives the range finally searched */
	/* when not NULL: receives BIC(k) for k = 0..max_lags (lags chosen from the data) */
	double	   *bic;
	/*
	 * Rows the BIC is scaled to (0: the rows fitted). A choice made on a sample of the rows
	 * scales the sample's log-likelihood to this many rows, estimating the full data's BIC.
	 */
	size_t		bic_rows;
} GcSeriesOptions;

/*
 * Above this many rows "lags": "auto" chooses the order on an evenly spread sample of about
 * GC_SERIES_SAMPLE_ROWS rows (runs of GC_SERIES_SAMPLE_RUN consecutive rows) and then fits
 * only the chosen order on all rows: choosing fits max_lags lags, which costs about
 * ((max_lags + 1) / (lags + 1))² times the final fit.
 */
#define GC_SERIES_SAMPLE_ROWS 20000
#define GC_SERIES_SAMPLE_RUN 500

extern void gc_series_options_default(GcSeriesOptions *sopt);

/*
 * Fit the temporal copula by EM (standard training only) to the n×p row-major rows X (NaN
 * marks a missing entry). The rows of one entity are consecutive (seg[i] equal) and in time
 * order; tstep[i] is row i's time in steps, strictly increasing within an entity. Row i's
 * lag k is the row of its entity with tstep = tstep[i] − k, missing when there is none (a
 * gap in time is missing data, not a shorter step). The model is temporal, with step
 * (seconds) recorded as given.
 */
extern GcStatus gc_fit_temporal(const double *X, const int64_t *seg, const int64_t *tstep,
								size_t n, int p, double step, const GcFitOptions *opt,
								const GcSeriesOptions *sopt, const GcAlloc *alloc,
								GcModel **model, char *errmsg, size_t errlen);

/*
 * The correlation of the window of rows t−back..t+fwd of a temporal model: (back+fwd+1)·p
 * square, column-major, rows of the window in time order (row t is block back). Fails with
 * GC_ENOTPD when the lag correlations cannot be continued (not a valid stationary series).
 */
extern GcStatus gc_temporal_window_corr(const GcModel *m, int back, int fwd,
										const GcAlloc *alloc, double *corr);

/*
 * A plain model of the window t−back..t+fwd: (back+fwd+1)·p columns, the marginals of m
 * repeated per row (pointing into m's knots), correlation from gc_temporal_window_corr.
 * Imputing its stacked row with gc_impute_row imputes the window's row t given every
 * observed cell of the window. Free with gc_temporal_window_free (m must outlive it).
 */
extern GcStatus gc_temporal_window_model(const GcModel *m, int back, int fwd,
										 const GcAlloc *alloc, GcModel **out);
extern void gc_temporal_window_free(GcModel *w, const GcAlloc *alloc);

#endif
