/*
 * copula.h — the Gaussian copula model and its fitting and imputation API (PostgreSQL-free).
 *
 * A model has p columns; each has a marginal (marginal.h). Columns of type constant are
 * outside the copula; the others ("active") share a correlation matrix Σ (full model) or
 * Σ = WWᵀ + σI (low rank). Callers supply an allocator so that the PostgreSQL glue can
 * place everything in a memory context and unit tests can use malloc.
 */
#ifndef GC_COPULA_H
#define GC_COPULA_H

#include <stddef.h>
#include <stdint.h>

#include "copula/marginal.h"
#include "platform/alloc.h"
#include "platform/status.h"

#define GC_MODEL_FULL 0
#define GC_MODEL_LOWRANK 1

typedef struct GcModel
{
	int			p;
	int			kind;			/* GC_MODEL_FULL or GC_MODEL_LOWRANK */
	int			rank;			/* low rank: columns of W */
	GcMarginal *marg;			/* p marginals */
	double	   *corr;			/* p×p column-major correlation (identity rows for constants) */
	double	   *W;				/* low rank: p×rank column-major (zero rows for constants) */
	double		sigma;			/* low rank: noise variance */
	/* diagnostics of the fit */
	int64_t		nrows;
	int			n_iter;
	int			converged;
	double		delta;			/* last relative change of Σ */
	double		loglik;			/* mean observed-data log-likelihood per row at the last E-step */
	double		tol;
	int			max_iter;
	int			ridge_steps;	/* times Σ had to be regularised to stay positive definite */
	int			training;		/* GC_TRAIN_* the model was fitted with */
	/*
	 * A temporal model (temporal.h) is the stationary copula of an entity's consecutive
	 * rows: corr is the correlation Γ(0) within a row, lagcorr holds Γ(1..lags), each p×p
	 * column-major, Γ(h)[a,b] = corr(z_{t,a}, z_{t−h,b}), zero rows and columns for
	 * constants; step is the time between rows in seconds. A plain model has temporal = 0.
	 */
	int			temporal;
	int			lags;
	double		step;
	double	   *lagcorr;		/* lags × p × p, NULL when lags = 0 */
} GcModel;

#define GC_TRAIN_STANDARD 0
#define GC_TRAIN_MINIBATCH_OFFLINE 1
#define GC_TRAIN_MINIBATCH_ONLINE 2

typedef struct GcFitOptions
{
	int			training;		/* GC_TRAIN_* */
	int			batch_size;		/* mini-batch modes: rows per batch, 100 */
	int			num_pass;		/* mini-batch offline: passes over the data, 2 */
	double		stepsize_c;		/* step η_t = c/(c+t), c = 5 */
	double		stepsize;		/* online: constant step if > 0 */
	double		decay;			/* online: forgetting factor of the marginals per batch, 0 */
	uint64_t	seed;			/* mini-batch permutation */
	int			max_iter;		/* default 50 */
	double		tol;			/* stop when ‖ΔΣ‖_F/‖Σ_new‖_F < tol */
	double		min_ord_ratio;	/* type detection threshold, 0.1 */
	int			max_knots;		/* marginal size bound per column */
	int			num_ord_updates;	/* Jacobi steps of the ordinal update per E-step, 1 */
	const int  *types;			/* p requested types (GC_AUTO to detect) or NULL */
	/* called after every iteration when non-NULL (verbose output) */
	void		(*progress) (void *arg, int iter, double delta, double loglik);
	void	   *progress_arg;
	/* called every few thousand rows of work when non-NULL (e.g. to honour cancellation) */
	void		(*tick) (void *arg);
} GcFitOptions;

extern void gc_fit_options_default(GcFitOptions *opt);

/* training mode names ("standard", "minibatch-offline", "minibatch-online"); -1 if unknown */
extern int	gc_training_from_name(const char *name);
extern const char *gc_training_name(int training);

/*
 * Fit a full Gaussian copula by EM (docs/algorithms.md §4–§7) to the n×p row-major matrix X with NaN
 * marking missing entries. On success *model is allocated with alloc. errmsg (size
 * errlen) receives a message on failure.
 */
extern GcStatus gc_fit_standard(const double *X, size_t n, int p, const GcFitOptions *opt,
								const GcAlloc *alloc, GcModel **model,
								char *errmsg, size_t errlen);

/*
 * Fit a low-rank Gaussian copula Σ = WWᵀ + σI (‖W_j‖² + σ = 1) of the given rank by the EM
 * of docs/algorithms.md §11 (Woodbury E-step per row, per-column M-step; stops when
 * ‖W_new − W_old‖_F/‖W_new‖_F < tol). Constant columns are outside the copula (zero rows of W,
 * identity rows of corr); 1 <= rank < number of non-constant columns, else GC_EINVAL.
 * The model has kind GC_MODEL_LOWRANK, W (p×rank), sigma, and corr = WWᵀ + σI materialised
 * (unit diagonal, exactly symmetric), so gc_imputer_create works on it unchanged.
 */
extern GcStatus gc_fit_lowrank(const double *X, size_t n, int p, int rank,
							   const GcFitOptions *opt, const GcAlloc *alloc, GcModel **model,
							   char *errmsg, size_t errlen);

/*
 * The correlation of a low-rank model, corr = WWᵀ + σI with a unit diagonal (p×p
 * column-major, exactly symmetric, off-diagonal entries clamped to [−1, 1]), from model->W
 * (p×rank, zero rows for constants) by plain loops in a fixed order: the fit materialises
 * model->corr with it, so a stored model may keep W alone and rebuild corr to the bit.
 */
extern void gc_lowrank_corr(const GcModel *model, double *corr);

/*
 * An imputer holds what imputation needs of a model, precomputed once:
 * the precision matrix Λ = Σ⁻¹ of the active columns and scratch space.
 */
typedef struct GcImputer GcImputer;

extern GcStatus gc_imputer_create(const GcModel *model, const GcAlloc *alloc,
								  GcImputer **imp, char *errmsg, size_t errlen);
extern void gc_imputer_free(GcImputer *imp);

/* ordinal updates of single imputation: gc_impute and the stream worker use the same */
#define GC_IMPUTE_ORD_UPDATES 2

/*
 * Single imputation of one row of p values (NaN = missing) into out (p values): latent
 * initialisation from the marginals, num_ord_updates Jacobi steps of the ordinal update,
 * conditional mean of the missing latent entries, inverse marginals (docs/algorithms.md §8 transform).
 * Observed entries are copied unchanged.
 */
extern GcStatus gc_impute_row(GcImputer *imp, const double *row, double *out,
							  int num_ord_updates);

struct GcRng;

/*
 * One draw of a row's missing entries from their conditional distribution (multiple
 * imputation): interval entries (ordinal observations) are first drawn by Gibbs sweeps
 * within their intervals, then z_M ~ N(E[z_M | z_O], Cov[z_M | z_O]), through the marginals.
 */
extern GcStatus gc_impute_row_draw(GcImputer *imp, const double *row, double *out,
								   struct GcRng *rng);

/*
 * Single imputation with analytical intervals (docs/algorithms.md §12): est, lower, upper receive p
 * values; for observed entries lower/upper are NaN and est is the observed value.
 * level is the coverage, e.g. 0.95.
 */
extern GcStatus gc_impute_row_interval(GcImputer *imp, const double *row, double level,
									   double *est, double *lower, double *upper);

#endif
