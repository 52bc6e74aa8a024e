/*
 * cond_lowrank.h — the conditional distribution of a row's latent entries under a low-rank
 * copula Σ = WWᵀ + σI, through the Woodbury identity (docs/algorithms.md §11). With the thin SVD
 * W = U diag(d) Vᵀ and, for a row with observed set O,
 *
 *   M = U_OᵀU_O + σD⁻²,  A = M⁻¹,  s = A U_Oᵀ z_O,
 *   Σ_OO⁻¹ y = (y − U_O A U_Oᵀ y)/σ,  (Σ_OO⁻¹)_jj = (1 − u_jᵀ A u_j)/σ,  E[z_M | z_O] = U_M s,
 *
 * a row costs O(|O| k²) with k the rank, whatever its number of missing entries. Both sums
 * over O of k×k terms (U_OᵀU_O and u_jᵀAu_j) run over UU, whose column j holds the packed
 * lower triangle of u_j u_jᵀ. Shared by the low-rank EM (em_lowrank.c, which runs the same
 * algebra block-wise as dgemm) and by single imputation with a low-rank model (impute.c).
 */
#ifndef GC_COND_LOWRANK_H
#define GC_COND_LOWRANK_H

#include <math.h>
#include <stdint.h>

#include "copula/copula.h"

typedef struct GcLrCond
{
	int			q;				/* active columns */
	int			k;				/* rank */
	int			kp;				/* k(k+1)/2 */
	int			kpp,
				kq;				/* kp and k padded to GC_LRK_PAD (lrkern.h) */
	double		sigma;
	double	   *Ur;				/* q×kq row-major: U of the thin SVD of W (padding zero) */
	double	   *d;				/* k singular values (kept > 0) */
	double	   *Vt;				/* k×k: Vᵀ */
	double		logdet_d2;		/* Σ log d_c² */
	double	   *UU;				/* kpp×q: column j is the packed lower triangle of u_j u_jᵀ (padding zero) */
	/* the last row: observed columns, interval entries (columns), results */
	int			mo,
				nj;
	int		   *O,
			   *J,
			   *Mi;				/* imputation: the missing columns */
	double	   *zf;				/* q: latent row, zero where missing (intervals updated) */
	double	   *uw;				/* q: u_jᵀw for the interval entries, then E[z_j | z_O] for the missing ones */
	double	   *vJ;				/* |J|: conditional variances of the interval entries */
	double	   *A;				/* k×k: M⁻¹, full */
	double	   *s;				/* kq: A U_Oᵀ z_O */
	double		logdetM;
	/* scratch */
	double	   *L,
			   *Li;				/* k×k */
	double	   *pk,
			   *a2;				/* kpp */
	double	   *t,
			   *w;				/* kq */
	double	   *ajj;			/* q: u_jᵀAu_j for the interval entries */
	double	   *jlo,
			   *jhi;			/* q: the interval entries' latent bounds (by position in J) */
	double	   *svd_u,
			   *svd_a;			/* q×k, for the SVD */
	/* one row's ordinal updates as a batch (q each): arguments, results, columns */
	double	   *tmu,
			   *ts,
			   *tlo,
			   *thi,
			   *tmean,
			   *tvar;
	int		   *tidx;
	/*
	 * single imputation: the row's observed values (by position in O), per active column
	 * (cols) what the row's passes need of its marginal, per ordinal level its latent
	 * interval, start and value
	 */
	double	   *xo;				/* q */
	int		   *act;			/* q: model column of each active column (imputation) */
	struct GcLrCol *cols;		/* q (cond_lowrank.c) */
	int		   *lut;			/* small-integer value → level slot tables (cond_lowrank.c) */
	double	   *lvlo,
			   *lvhi,			/* per level: latent interval */
			   *lvmu,			/* per level: mean of N(0,1) truncated to it (the start) */
			   *lvthr,			/* per level l > 0: latent values above it map to level >= l */
			   *lvx,			/* per level: its value (the knot) */
			   *thr8,			/* per small ordinal column: its thresholds (cond_lowrank.c) */
			   *thr8raw;		/* thr8's allocation (thr8 is aligned to a cache line) */
} GcLrCond;

/*
 * The batch arrays of a row's interval entries (GcLrCond's tmu … tidx) as a value: a caller
 * takes it once per row and the queueing below stores through it, so that a store into one
 * array does not make the compiler reload the others from the GcLrCond (the build has
 * -fno-strict-aliasing).
 */
typedef struct GcLrQueue
{
	double	   *tmu,
			   *ts,
			   *tlo,
			   *thi,
			   *tmean,
			   *tvar;
	int		   *tidx;
} GcLrQueue;

/*
 * Queue one interval (ordinal or truncated) entry of a row for the batched truncated-normal
 * moments: its conditional N(μ_j, s_j²) given the rest, with s_j² = 1/(Σ_OO⁻¹)_jj and
 * μ_j = z_j − s_j²(Σ_OO⁻¹ z_O)_j, from (Σ_OO⁻¹)_jj = (1 − ajj)/σ and u_jᵀw = uw. Slot nb
 * gets the entry (idx is the caller's name for it); returns the next free slot, nb itself
 * when the conditional variance is not positive (the entry is left as it is).
 */
static inline int
gc_lr_queue_interval(GcLrQueue tq, int nb, int idx, double z, double uw, double ajj,
					 double isigma, double lo, double hi)
{
	double		sjj = (1 - ajj) * isigma,
				g,
				s2;

	if (!(sjj > 0))
		return nb;
	g = (z - uw) * isigma;
	s2 = 1.0 / sjj;
	tq.tmu[nb] = z - g * s2;
	tq.ts[nb] = sqrt(s2);
	tq.tlo[nb] = lo;
	tq.thi[nb] = hi;
	tq.tmean[nb] = z;			/* kept where the moments fail */
	tq.tvar[nb] = 0;
	tq.tidx[nb] = idx;
	return nb + 1;
}

/*
 * The queue of a row's interval entries ji[0..nj): gc_lr_queue_interval for each and v = 0
 * at each, in order; returns the number queued. With level codes jc (the fit) zc, uw, aj
 * and v are indexed by the column a = ji[e], which names the slot, and the bounds are
 * lo[jc[e]], hi[jc[e]] (a table of latent intervals); with jc NULL (imputation) zc is
 * indexed by the column and uw, aj, lo, hi and v by the position e, which names the slot.
 * AVX-512 or portable as gc_simd_level says (the same bits).
 */
extern int	gc_lr_queue_row(GcLrQueue tq, const int *ji, const uint32_t *jc, int nj,
							const double *zc, const double *uw, const double *aj,
							const double *lo, const double *hi, double *vc, double isigma);

/* index of (r, c), r >= c, in a packed lower-triangular k×k matrix (column by column) */
static inline int
gc_lr_packidx(int r, int c, int k)
{
	return r + c * (2 * k - c - 1) / 2;
}

extern GcStatus gc_lrcond_init(GcLrCond *c, int q, int k, const GcAlloc *alloc);
extern void gc_lrcond_free(GcLrCond *c, const GcAlloc *alloc);

/*
 * Set the parameters: W (q×k column-major) and σ; computes the thin SVD of W (dgesdd) and
 * UU. GC_EDEGENERATE if the SVD does not converge.
 */
extern GcStatus gc_lrcond_set(GcLrCond *c, const double *W, double sigma);

/*
 * M = packed Gram part pk + σD⁻²: its Cholesky factor (L), log det M and the full inverse
 * A = M⁻¹ (k×k column-major; L and Li are k×k scratch). Returns 0, or 1 when M is not
 * positive definite.
 */
extern int	gc_lr_factor_invert(const double *pk, const double *d, double sigma, int k,
								double *L, double *Li, double *A, double *logdet);

/*
 * One row: z holds q latent values (NaN = missing; interval entries hold their current
 * estimate), lo/hi/isint describe the observed interval entries. Factors M, forms A, runs
 * num_ord_updates Jacobi steps of the ordinal update (docs/algorithms.md §5 step 2, when |O| >= 2 and the row
 * has interval entries; z's interval entries are updated in place), and leaves s, A, vJ and
 * log det M in c. A row with nothing observed gets s = 0 (c->mo == 0).
 */
extern GcStatus gc_lrcond_row(GcLrCond *c, double *z, const double *lo, const double *hi,
							  const uint8_t *isint, int num_ord_updates);

/*
 * For imputation with a fitted low-rank model: a GcLrCond for its active columns. Returns
 * GC_OK with *out = NULL when the Woodbury path does not apply (rank not below the number of
 * active columns, or model->corr is not WWᵀ + σI, e.g. a hand-edited model): the caller then
 * works from model->corr.
 */
extern GcStatus gc_lrcond_from_model(const GcModel *model, const GcAlloc *alloc, GcLrCond **out);
extern void gc_lrcond_destroy(GcLrCond *c, const GcAlloc *alloc);

/*
 * Single imputation of one row (p values, NaN = missing) into out, like gc_impute_row:
 * latent initialisation from the marginals, num_ord_updates Jacobi steps, conditional mean
 * U_M s, inverse marginals; observed entries are copied unchanged.
 */
extern GcStatus gc_lrcond_impute_row(GcLrCond *c, const GcModel *model, const double *row,
									 double *out, int num_ord_updates);

/*
 * The level (knot index) an observed value x of active column a gets in imputation, as
 * gc_marginal_level of its marginal gives it; -1 when the column is not ordinal. For tests.
 */
extern int	gc_lrcond_level(const GcLrCond *c, const GcModel *model, int a, double x);

/* y = A x for a full (both triangles stored) symmetric k×k A, column-major; k is small */
static inline void
gc_sym_matvec(const double *A, int k, const double *x, double *y)
{
	for (int r = 0; r < k; r++)
		y[r] = 0;
	for (int j = 0; j < k; j++)
	{
		const double *col = A + (size_t) j * k;
		double		xj = x[j];

		for (int r = 0; r < k; r++)
			y[r] += col[r] * xj;
	}
}

#endif
