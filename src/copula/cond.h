/*
 * cond.h — the conditional distribution of a row's missing latent entries given the
 * observed ones, computed from the precision matrix Λ = Σ⁻¹ (never Σ_OO⁻¹ per row):
 *
 *   E[z_M | z_O] = −Λ_MM⁻¹ Λ_MO z_O,   Cov[z_M | z_O] = Λ_MM⁻¹,
 *   (Σ_OO⁻¹ z_O)_j = (Λ ẑ)_j,          (Σ_OO⁻¹)_jj = Λ_jj − Λ_jM Λ_MM⁻¹ Λ_Mj,
 *
 * where ẑ is the row completed with the conditional mean (block inversion / Schur
 * complement). A pattern costs O(|M|³ + |M|²|J|) once; a row O(|M|·|O| + |J|·p).
 */
#ifndef GC_COND_H
#define GC_COND_H

#include <stdint.h>

#include "copula/copula.h"

typedef struct GcCond
{
	int			q;				/* active columns */
	const double *Lam;			/* q×q precision matrix, column-major, full */
	int			mm,
				mo,
				nj;
	int		   *M,				/* missing columns */
			   *O,				/* observed columns */
			   *Jp;				/* observed columns that can hold intervals */
	double	   *LM;				/* Cholesky factor of Λ_MM (lower, mm×mm) */
	double	   *SM;				/* Λ_MM⁻¹ = Cov[z_M | z_O] (mm×mm, full) */
	double	   *GJ;				/* Λ_MM⁻¹ Λ_{M,Jp} (mm×nj) */
	double	   *dJ;				/* (Σ_OO⁻¹)_jj for j in Jp */
	double		logdet_lmm;		/* log det Λ_MM */
	int			lazy_sm;		/* compute SM only when asked for (imputation) */
	int			sm_valid;
	double	   *r;				/* scratch: mm */
	double	   *w;				/* scratch: nj */
	double	   *znew;			/* scratch: nj */
	int		   *jidx;			/* scratch: nj, row's interval entries (positions in Jp) */
	double	   *rdiag;			/* 1 / diagonal of LM: the solves multiply, not divide */
} GcCond;

/* Allocate workspace for q active columns. */
extern GcStatus gc_cond_init(GcCond *c, int q, const double *Lam, const GcAlloc *alloc);
extern void gc_cond_free(GcCond *c, const GcAlloc *alloc);

/*
 * Set up a missingness pattern: observed[j] says whether column j is observed, and
 * may_interval[j] whether its type can produce interval entries (ordinal, truncated).
 */
extern GcStatus gc_cond_pattern(GcCond *c, const uint8_t *observed, const uint8_t *may_interval);

/*
 * One row under the current pattern. z holds the latent row (observed entries set;
 * interval entries hold their current estimate and are updated in place); lo/hi/isint
 * describe observed interval entries. Runs num_ord_updates Jacobi steps of the ordinal
 * update (when |O| >= 2 and the row has interval entries), writes the conditional
 * variances of the updated interval entries to v (q, zero elsewhere), then fills z's
 * missing entries with the conditional mean. Returns the number of interval entries.
 */
extern int	gc_cond_row(GcCond *c, double *z, const double *lo, const double *hi,
						const uint8_t *isint, int num_ord_updates, double *v);

/*
 * Gibbs sweeps over the row's interval entries: each is redrawn from its conditional
 * N(μ_j, s_j²) given the other observed entries, truncated to its interval. Used to
 * sample the latent position of ordinal observations for multiple imputation.
 */
struct GcRng;
extern void gc_cond_gibbs(GcCond *c, double *z, const double *lo, const double *hi,
						  const uint8_t *isint, int sweeps, struct GcRng *rng);

/* Replace z_M by a draw from N(E[z_M | z_O], Λ_MM⁻¹). */
extern void gc_cond_draw_missing(GcCond *c, double *z, struct GcRng *rng);

/*
 * Conditional variance of each missing entry (docs/algorithms.md §12): (Λ_MM⁻¹)_mm plus the ordinal
 * term Σ_j v_j B_jm² with B = Σ_OO⁻¹Σ_OM; var receives q values (0 at observed entries).
 */
extern void gc_cond_missing_variance(GcCond *c, const double *v, double *var);

/*
 * For a row without interval entries: fill z_M with the conditional mean given
 * t = Λ z₀ (z₀ = the row with zeros at missing entries), computed beforehand for many
 * rows at once with one dgemm, since (Λ z₀)_M = Λ_MO z_O.
 */
extern void gc_cond_mean_from(GcCond *c, double *z, const double *t);

/*
 * C += w Λ_MM⁻¹ for the current pattern, written to the lower triangle of the q×q
 * column-major C only, with the off-diagonal entries doubled: C then holds, below the
 * diagonal, the sum of both mirror entries of the symmetric sum (the E-step halves it).
 */
extern void gc_cond_add_cov(GcCond *c, double *C, double w);

/* z̃ᵀ Λ z̃ for a completed row: equals z_Oᵀ Σ_OO⁻¹ z_O. */
extern double gc_cond_quadform(const GcCond *c, const double *z);

#endif
