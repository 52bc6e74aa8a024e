/*
 * cond_lowrank.c — a row's conditional distribution under Σ = WWᵀ + σI by Woodbury
 * (docs/algorithms.md §11): the k×k matrix M = U_OᵀU_O + σD⁻² replaces the |O|×|O| block Σ_OO, so
 * neither the EM E-step nor imputation ever factors more than a k×k matrix per row.
 *
 * The per-row kernel (imputation) walks the row's lists of observed, interval and missing
 * columns with the vector kernels of lrkern.h: U_OᵀU_O is a sum of the precomputed packed
 * u_j u_jᵀ over O, u_jᵀAu_j a dot product with them for j in J only, U_Oᵀz_O a weighted sum
 * of the rows u_j. A matrix-vector product over all q columns (one dgemv against the 0/1
 * mask) did twice the arithmetic with half the columns missing, plus a BLAS call's overhead
 * eight times per row. The ordinal levels of a model's columns are translated to latent
 * intervals once per imputer, not once per value.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "lowrank/cond_lowrank.h"
#include "platform/simd.h"
#include "lowrank/lrkern.h"
#include "copula/mills.h"
#include "copula/normal.h"

GcStatus
gc_lrcond_init(GcLrCond *c, int q, int k, const GcAlloc *alloc)
{
	size_t		qk = (size_t) q * k,
				qkq;

	memset(c, 0, sizeof(*c));
	c->q = q;
	c->k = k;
	c->kp = k * (k + 1) / 2;
	c->kpp = gc_lrk_padded8(c->kp);
	c->kq = gc_lrk_padded(k);
	qkq = (size_t) q * c->kq;
#define LRALLOC(ptr, count) \
	((ptr) = alloc->alloc(alloc->ctx, sizeof(*(ptr)) * ((count) > 0 ? (count) : 1)))
	if (!LRALLOC(c->Ur, qkq) || !LRALLOC(c->d, k) || !LRALLOC(c->Vt, (size_t) k * k) ||
		!LRALLOC(c->UU, (size_t) c->kpp * q) ||
		!LRALLOC(c->O, q) || !LRALLOC(c->J, q) || !LRALLOC(c->Mi, q) || !LRALLOC(c->zf, q) ||
		!LRALLOC(c->uw, q) || !LRALLOC(c->vJ, q) ||
		!LRALLOC(c->A, (size_t) k * k) || !LRALLOC(c->s, c->kq) || !LRALLOC(c->L, (size_t) k * k) ||
		!LRALLOC(c->Li, (size_t) k * k) || !LRALLOC(c->pk, c->kpp) || !LRALLOC(c->a2, c->kpp) ||
		!LRALLOC(c->t, c->kq) || !LRALLOC(c->w, c->kq) || !LRALLOC(c->ajj, q) ||
		!LRALLOC(c->jlo, q) || !LRALLOC(c->jhi, q) ||
		!LRALLOC(c->svd_u, qk) || !LRALLOC(c->svd_a, qk) ||
		!LRALLOC(c->tmu, q) || !LRALLOC(c->ts, q) || !LRALLOC(c->tlo, q) || !LRALLOC(c->thi, q) ||
		!LRALLOC(c->tmean, q) || !LRALLOC(c->tvar, q) || !LRALLOC(c->tidx, q))
		return GC_ENOMEM;
#undef LRALLOC
	/* the padding of every vector the kernels read stays zero */
	memset(c->Ur, 0, sizeof(double) * qkq);
	memset(c->UU, 0, sizeof(double) * c->kpp * q);
	memset(c->a2, 0, sizeof(double) * c->kpp);
	memset(c->s, 0, sizeof(double) * c->kq);
	memset(c->t, 0, sizeof(double) * c->kq);
	memset(c->w, 0, sizeof(double) * c->kq);
	return GC_OK;
}

void
gc_lrcond_free(GcLrCond *c, const GcAlloc *alloc)
{
	void	   *ptrs[] = {c->Ur, c->d, c->Vt, c->UU, c->O, c->J, c->Mi, c->zf, c->uw, c->vJ, c->A, c->s, c->L,
		c->Li, c->pk, c->a2, c->t, c->w, c->ajj, c->jlo, c->jhi, c->svd_u, c->svd_a, c->tmu, c->ts, c->tlo,
		c->thi, c->tmean, c->tvar, c->tidx, c->xo, c->act, c->cols, c->lut, c->lvlo, c->lvhi, c->lvmu,
	c->lvthr, c->lvx, c->thr8raw};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	memset(c, 0, sizeof(*c));
}

GcStatus
gc_lrcond_set(GcLrCond *c, const double *W, double sigma)
{
	int			q = c->q,
				k = c->k;
	lapack_int	info;

	memcpy(c->svd_a, W, sizeof(double) * q * k);
	info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', q, k, c->svd_a, q, c->d, c->svd_u, q, c->Vt, k);
	if (info < 0)
		return GC_ELAPACK;
	if (info > 0)
		return GC_EDEGENERATE;
	c->sigma = sigma;
	c->logdet_d2 = 0;
	for (int j = 0; j < k; j++)
	{
		/* a zero singular value would make σD⁻² infinite: keep it tiny instead */
		if (!(c->d[j] > 1e-12))
			c->d[j] = 1e-12;
		c->logdet_d2 += 2 * log(c->d[j]);
	}
	for (int a = 0; a < q; a++)
	{
		double	   *u = c->Ur + (size_t) a * c->kq;
		double	   *uu = c->UU + (size_t) a * c->kpp;

		for (int j = 0; j < k; j++)
			u[j] = c->svd_u[a + (size_t) j * q];
		/* packed lower triangle, column by column: the order of gc_lr_packidx */
		for (int j = 0; j < k; j++)
			for (int r = j; r < k; r++)
				*uu++ = u[r] * u[j];
	}
	return GC_OK;
}

/*
 * M = U_OᵀU_O + σD⁻² from its packed Gram part: Cholesky factor, log det M and the full
 * inverse A = L⁻ᵀL⁻¹ (k×k column-major, L and Li scratch). Returns 0, or 1 when M is not
 * positive definite.
 */
int
gc_lr_factor_invert(const double *pk, const double *d, double sigma, int k, double *L, double *Li,
					double *A, double *logdet)
{
	double		ld = 0;

	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++)
			L[r + (size_t) c * k] = pk[gc_lr_packidx(r, c, k)];
	for (int c = 0; c < k; c++)
		L[c + (size_t) c * k] += sigma / (d[c] * d[c]);
	/* Cholesky, left-looking by columns */
	for (int c = 0; c < k; c++)
	{
		double	   *lc = L + (size_t) c * k;
		double		dd;

		for (int m = 0; m < c; m++)
		{
			const double *lm = L + (size_t) m * k;
			double		f = lm[c];

			for (int r = c; r < k; r++)
				lc[r] -= f * lm[r];
		}
		dd = lc[c];
		if (!(dd > 0) || !isfinite(dd))
			return 1;
		dd = sqrt(dd);
		ld += 2 * log(dd);
		lc[c] = dd;
		for (int r = c + 1; r < k; r++)
			lc[r] /= dd;
	}
	/* Li = L⁻¹ (lower), column by column by forward substitution */
	for (int c = 0; c < k; c++)
	{
		double	   *xc = Li + (size_t) c * k;

		for (int r = 0; r < c; r++)
			xc[r] = 0;
		xc[c] = 1.0 / L[c + (size_t) c * k];
		for (int r = c + 1; r < k; r++)
		{
			double		acc = 0;

			for (int m = c; m < r; m++)
				acc += L[r + (size_t) m * k] * xc[m];
			xc[r] = -acc / L[r + (size_t) r * k];
		}
	}
	/* A = Liᵀ Li: A_rc = Σ_{m ≥ max(r,c)} Li_mr Li_mc */
	for (int c = 0; c < k; c++)
	{
		const double *lic = Li + (size_t) c * k;

		for (int r = c; r < k; r++)
		{
			const double *lir = Li + (size_t) r * k;
			double		acc = 0;

			for (int m = r; m < k; m++)
				acc += lir[m] * lic[m];
			A[r + (size_t) c * k] = acc;
			A[c + (size_t) r * k] = acc;
		}
	}
	*logdet = ld;
	return 0;
}

/*
 * The queue of a row's interval entries ji[0..nj) for the batched truncated-normal moments:
 * gc_lr_queue_interval for each, v = 0 at each. By column (bycol, the fit): entry e is
 * column a = ji[e], every array is indexed by a, and a is the slot's name. By position (the
 * imputation): z is indexed by the column ji[e], the other arrays and the slot's name are
 * e.
 */
int
gc_lr_queue_row(GcLrQueue tq, const int *ji, const uint32_t *jc, int nj, const double *zc,
				const double *uw, const double *aj, const double *lo, const double *hi,
				double *vc, double isigma)
{
	int			nt = 0;

	if (jc)
		for (int e = 0; e < nj; e++)
		{
			int			a = ji[e];

			vc[a] = 0;
			nt = gc_lr_queue_interval(tq, nt, a, zc[a], uw[a], aj[a], isigma,
									  lo[jc[e]], hi[jc[e]]);
		}
	else
		for (int e = 0; e < nj; e++)
		{
			vc[e] = 0;
			nt = gc_lr_queue_interval(tq, nt, e, zc[ji[e]], uw[e], aj[e], isigma, lo[e], hi[e]);
		}
	return nt;
}

/*
 * One row from its lists (c->O, c->J) and latent values (zf, by column; the interval
 * entries' bounds jlo/jhi by position in J): M, A = M⁻¹ and s = A U_Oᵀ z_O after
 * num_ord_updates Jacobi steps of the ordinal update, zf's interval entries updated. Every
 * sum runs over the row's own lists of columns (lrkern.h): U_OᵀU_O packed = Σ_{j∈O} UU_j,
 * u_jᵀAu_j = UU_j · (A packed, off-diagonals doubled) for j ∈ J, U_Oᵀz_O = Σ_{j∈O} z_j u_j
 * and u_jᵀw for j ∈ J.
 */
static GcStatus
RowFromLists(GcLrCond *c, int mo, int nj, int num_ord_updates)
{
	int			k = c->k,
				kpp = c->kpp,
				kq = c->kq;
	double		sigma = c->sigma,
				isigma = 1.0 / c->sigma;

	/*
	 * c's arrays as locals: the build has -fno-strict-aliasing, so a store through one of
	 * them would make the compiler reload the others from c
	 */
	const int  *O = c->O,
			   *J = c->J;
	double	   *zf = c->zf,
			   *vJ = c->vJ;

	c->mo = mo;
	c->nj = nj;
	c->logdetM = 0;
	for (int t = 0; t < nj; t++)
		vJ[t] = 0;
	if (mo == 0)
	{
		memset(c->s, 0, sizeof(double) * k);
		return GC_OK;
	}

	/* M = U_OᵀU_O + σD⁻², log det M, A = M⁻¹ */
	gc_lrk_sum_cols(c->UU, kpp, O, mo, NULL, c->pk);
	if (gc_lr_factor_invert(c->pk, c->d, sigma, k, c->L, c->Li, c->A, &c->logdetM))
		return GC_ENOTPD;

	if (nj > 0 && mo >= 2 && num_ord_updates > 0)
	{
		/* (Σ_OO⁻¹)_jj = (1 − u_jᵀ A u_j)/σ = (1 − <A with doubled off-diagonal, u_j u_jᵀ>)/σ */
		double	   *a2 = c->a2;
		const double *ajj = c->ajj,
				   *uw = c->uw,
				   *jlo = c->jlo,
				   *jhi = c->jhi;
		GcLrQueue	tq = {c->tmu, c->ts, c->tlo, c->thi, c->tmean, c->tvar, c->tidx};

		for (int j = 0; j < k; j++)
			for (int r = j; r < k; r++)
				*a2++ = (r == j ? 1 : 2) * c->A[r + (size_t) j * k];
		gc_lrk_dot_cols(c->UU, kpp, J, nj, c->a2, c->ajj);

		for (int it = 0; it < num_ord_updates; it++)
		{
			int			nb;

			/* w = A U_Oᵀ z_O, so (Σ_OO⁻¹ z_O)_j = (z_j − u_jᵀ w)/σ */
			gc_lrk_sum_cols(c->Ur, kq, O, mo, zf, c->t);
			gc_sym_matvec(c->A, k, c->t, c->w);
			gc_lrk_dot_cols(c->Ur, kq, J, nj, c->w, c->uw);

			nb = gc_lr_queue_row(tq, J, NULL, nj, zf, uw, ajj, jlo, jhi, vJ, isigma);
			gc_truncnorm_moments_mills_batch(nb, tq.tmu, tq.ts, tq.tlo, tq.thi, tq.tmean, tq.tvar);
			/* Jacobi: every interval entry moves from the same previous vector */
			for (int e = 0; e < nb; e++)
			{
				zf[J[tq.tidx[e]]] = tq.tmean[e];
				vJ[tq.tidx[e]] = tq.tvar[e];
			}
		}
	}

	/* factor posterior mean s = A U_Oᵀ z_O (with the updated z_O) */
	gc_lrk_sum_cols(c->Ur, kq, O, mo, zf, c->t);
	gc_sym_matvec(c->A, k, c->t, c->s);
	return GC_OK;
}

GcStatus
gc_lrcond_row(GcLrCond *c, double *z, const double *lo, const double *hi,
			  const uint8_t *isint, int num_ord_updates)
{
	int			q = c->q,
				mo = 0,
				nj = 0;
	GcStatus	st;

	/* branch-free: whether an entry is observed is as good as random */
	for (int a = 0; a < q; a++)
	{
		int			o = !isnan(z[a]);

		c->O[mo] = a;
		c->J[nj] = a;
		c->jlo[nj] = lo[a];
		c->jhi[nj] = hi[a];
		c->zf[a] = o ? z[a] : 0.0;
		mo += o;
		nj += o & (isint[a] != 0);
	}
	st = RowFromLists(c, mo, nj, num_ord_updates);
	if (st == GC_OK && mo >= 2 && num_ord_updates > 0)
		for (int t = 0; t < nj; t++)
			z[c->J[t]] = c->zf[c->J[t]];
	return st;
}

/*
 * What the passes over a row need of an active column's marginal, in one place: its
 * ordinal levels' slots in the level tables, and a direct table from the small integers
 * among its values to their level slots (an observed rating 1 … 5 is found in one load,
 * not by a binary search over the knots).
 */
typedef struct GcLrCol
{
	int			lvoff;			/* first level slot of an ordinal column, or -1 */
	int			nlev;			/* its levels (knots) */
	int			lutoff;			/* its first entry in lut */
	int			lutn;			/* entries: the values lutbase, lutbase + 1, …; 0 for none */
	int			throff;			/* its thresholds' block in thr8, or -1 */
	double		lutbase;
} GcLrCol;

/*
 * The thresholds 1 … nlev − 1 of an ordinal column with at most GC_LR_THR levels, then +∞,
 * as one aligned block of GC_LR_THR (a cache line): the level of a latent z is the number
 * of them below z, four vector compares instead of a binary search's chain of dependent
 * loads, and both of z's neighbouring thresholds are in the same line.
 */
#define GC_LR_THR 8

/* a value table is made for at most this many integers per level, plus a few */
#define GC_LR_LUT_PER_LEVEL 8
#define GC_LR_LUT_EXTRA 8

/*
 * The level slot of an observed value x of ordinal column col: the table when x is one of
 * its integers, else gc_marginal_level. The table holds gc_marginal_level of those very
 * values, so the result is the same either way: base + i == x only when x is exactly the
 * integer the entry was made for, however x − base rounded (NaN fails the range test).
 */
static inline int
LevelSlot(const GcLrCol *col, const int *lut, const GcMarginal *m, double x)
{
	double		d = x - col->lutbase;

	if (d >= 0 && d < col->lutn)
	{
		int			i = (int) d;

		if (col->lutbase + i == x)
			return lut[col->lutoff + i];
	}
	return col->lvoff + gc_marginal_level(m, x);
}

int
gc_lrcond_level(const GcLrCond *c, const GcModel *model, int a, double x)
{
	const GcLrCol *col = &c->cols[a];

	if (col->lvoff < 0)
		return -1;
	return LevelSlot(col, c->lut, &model->marg[c->act[a]], x) - col->lvoff;
}

/*
 * The latent intervals of every ordinal column's levels, their starting means, values and
 * the latent thresholds of the inverse map: gc_marginal_from_latent sends z to the level
 * holding idx = ⌈round₃((n+1)Φ(z) − 1)⌉, which is at least l exactly when idx >= cum[l−1],
 * i.e. when Φ(z) > (cum[l−1] + 0.0005)/(n+1). Latent values within 1e-9 of a threshold take
 * gc_marginal_from_latent itself, so the result is the same to the bit. And the tables from
 * the integers between an ordinal column's first and last knot to their levels, where there
 * are not many more integers than levels.
 */
static GcStatus
LevelTables(GcLrCond *c, const GcModel *model, const GcAlloc *alloc)
{
	int			q = c->q;
	size_t		total = 0,
				nlut = 0,
				nthr = 0;

	c->cols = alloc->alloc(alloc->ctx, sizeof(GcLrCol) * q);
	if (!c->cols)
		return GC_ENOMEM;
	for (int a = 0; a < q; a++)
	{
		const GcMarginal *m = &model->marg[c->act[a]];
		GcLrCol    *col = &c->cols[a];

		memset(col, 0, sizeof(*col));
		col->lvoff = -1;
		col->throff = -1;
		if ((m->type == GC_ORDINAL || m->type == GC_BINARY) && m->nknots >= 2)
		{
			double		first = ceil(m->x[0]),
						last = floor(m->x[m->nknots - 1]);

			col->lvoff = (int) total;
			col->nlev = m->nknots;
			total += m->nknots;
			if (m->nknots <= GC_LR_THR)
			{
				col->throff = (int) nthr;
				nthr += GC_LR_THR;
			}
			/* finite knots (gc_marginal_check): first and last are integers, maybe huge */
			if (first >= -1e9 && last <= 1e9 && last >= first &&
				last - first < (double) GC_LR_LUT_PER_LEVEL * m->nknots + GC_LR_LUT_EXTRA)
			{
				col->lutoff = (int) nlut;
				col->lutn = (int) (last - first) + 1;
				col->lutbase = first;
				nlut += col->lutn;
			}
		}
	}
#define LVALLOC(ptr, count) \
	((ptr) = alloc->alloc(alloc->ctx, sizeof(*(ptr)) * ((count) > 0 ? (count) : 1)))
	if (!LVALLOC(c->lvlo, total) || !LVALLOC(c->lvhi, total) || !LVALLOC(c->lvmu, total) ||
		!LVALLOC(c->lvthr, total) || !LVALLOC(c->lvx, total) || !LVALLOC(c->lut, nlut) ||
		!LVALLOC(c->thr8raw, nthr + GC_LR_THR))
		return GC_ENOMEM;
#undef LVALLOC
	c->thr8 = (double *) (((uintptr_t) c->thr8raw + 63) & ~(uintptr_t) 63);
	for (int a = 0; a < q; a++)
	{
		const GcMarginal *m = &model->marg[c->act[a]];
		GcLrCol    *col = &c->cols[a];
		int			off = col->lvoff;

		if (off < 0)
			continue;
		for (int l = 0; l < m->nknots; l++)
		{
			double		lo,
						hi,
						mu = 0,
						var;

			/* the knot itself maps to level l: the same interval as gc_marginal_to_latent */
			gc_marginal_to_latent(m, m->x[l], &lo, &hi);
			if (gc_truncnorm_moments(0.0, 1.0, lo, hi, &mu, &var) != 0)
				mu = isfinite(lo) ? lo : hi;
			c->lvlo[off + l] = lo;
			c->lvhi[off + l] = hi;
			c->lvmu[off + l] = mu;
			c->lvthr[off + l] = l == 0 ? -HUGE_VAL :
				gc_norm_ppf((m->cum[l - 1] + 0.0005) / (m->n + 1));
			c->lvx[off + l] = m->x[l];
		}
		for (int i = 0; i < col->lutn; i++)
			c->lut[col->lutoff + i] = off + gc_marginal_level(m, col->lutbase + i);
		if (col->throff >= 0)
		{
			/*
			 * Counting the thresholds below z finds the binary search's level only when they
			 * ascend (Φ⁻¹ of ascending shares: always, unless Φ⁻¹ were not monotone; such a
			 * column would keep the binary search)
			 */
			int			ascending = 1;

			for (int l = 0; l < GC_LR_THR; l++)
				c->thr8[col->throff + l] = l + 1 < m->nknots ? c->lvthr[off + l + 1] : HUGE_VAL;
			for (int l = 2; l < m->nknots; l++)
				ascending &= c->lvthr[off + l] >= c->lvthr[off + l - 1];
			if (!ascending)
				col->throff = -1;
		}
	}
	return GC_OK;
}

/* gc_marginal_from_latent for an ordinal column with level tables */
static inline double
OrdinalFromLatent(const GcLrCond *c, const GcLrCol *col, const GcMarginal *m, double z)
{
	const double *thr = c->lvthr + col->lvoff;
	int			lo,
				bad;

	if (col->throff >= 0)
	{
		/*
		 * The level is how many of thresholds 1 … nlev − 1 lie below z (the +∞ padding
		 * never does; a true compare is all ones, −1); the thresholds on either side of z,
		 * lo and lo + 1, are entries lo − 1 and lo of the block, tested without a branch on
		 * the level (which is as good as random)
		 */
		const double *b = c->thr8 + col->throff;
		double		tl,
					th;

		/* two thresholds per compare (GCC makes a plain loop eight scalar compares) */
		const GcF64x2 *bv = (const GcF64x2 *) b;
		GcF64x2		zz = {z, z};
		GcI64x2		n = (bv[0] < zz) + (bv[1] < zz) + (bv[2] < zz) + (bv[3] < zz);

		_Static_assert(GC_LR_THR == 8, "four pairs of thresholds");
		lo = (int) -(n[0] + n[1]);
		tl = b[lo - (lo > 0)];
		th = b[lo];
		bad = ((lo > 0) & !(z - tl > 1e-9 * (1 + fabs(tl)))) |
			((lo < col->nlev - 1) & !(th - z > 1e-9 * (1 + fabs(th))));
	}
	else
	{
		/* the last level whose threshold lies below z (branch-free: z is as good as random) */
		const double *t = thr;
		int			len = col->nlev;

		while (len > 1)
		{
			int			half = len / 2;

			t += t[half] < z ? half : 0;
			len -= half;
		}
		lo = (int) (t - thr);
		bad = (lo > 0 && !(z - thr[lo] > 1e-9 * (1 + fabs(thr[lo])))) ||
			(lo < col->nlev - 1 && !(thr[lo + 1] - z > 1e-9 * (1 + fabs(thr[lo + 1]))));
	}
	if (bad)
		return gc_marginal_from_latent(m, z);
	return c->lvx[col->lvoff + lo];
}

/*
 * acc[a] = σ[a = b] + Σ_j W[a, j] W[b, j] for b <= a < q (W q×k column-major), the sum in
 * the order j = 0, 1, …: four rows at a time with their sums in a register across j
 * (the same operations on each row as one at a time)
 */
static GC_ALWAYS_INLINE void
WwtColumnBody(const double *W, int q, int k, int b, double sigma, double *acc)
{
	int			a = b;

	for (; a + 4 <= q; a += 4)
	{
		GcF64x4		v = {a == b ? sigma : 0, 0, 0, 0};

		for (int j = 0; j < k; j++)
			v += *(const GcF64x4 *) (W + (size_t) j * q + a) * W[b + (size_t) j * q];
		*(GcF64x4 *) (acc + a) = v;
	}
	for (; a < q; a++)
	{
		double		v = a == b ? sigma : 0;

		for (int j = 0; j < k; j++)
			v += W[a + (size_t) j * q] * W[b + (size_t) j * q];
		acc[a] = v;
	}
}

/* WwtColumn as AVX2 code where the level allows: a GcF64x4 is one register, not two */
GC_AVX2_FORM(static, WwtColumn, (const double *W, int q, int k, int b, double sigma, double *acc),
			 (W, q, k, b, sigma, acc), WwtColumnBody)

GcStatus
gc_lrcond_from_model(const GcModel *model, const GcAlloc *alloc, GcLrCond **out)
{
	int			p = model->p,
				k = model->rank,
				q = 0;
	GcLrCond   *c;
	double	   *W;
	GcStatus	st;
	int			consistent = 1;

	*out = NULL;
	if (model->kind != GC_MODEL_LOWRANK || model->W == NULL || k < 1)
		return GC_OK;
	for (int j = 0; j < p; j++)
		q += model->marg[j].type != GC_CONSTANT;
	if (k >= q)
		return GC_OK;
	c = alloc->alloc(alloc->ctx, sizeof(GcLrCond));
	if (c == NULL)
		return GC_ENOMEM;
	st = gc_lrcond_init(c, q, k, alloc);
	if (st == GC_OK)
	{
		c->act = alloc->alloc(alloc->ctx, sizeof(int) * q);
		c->xo = alloc->alloc(alloc->ctx, sizeof(double) * q);
		if (!c->act || !c->xo)
			st = GC_ENOMEM;
	}
	if (st != GC_OK)
	{
		gc_lrcond_destroy(c, alloc);
		return st;
	}
	q = 0;
	for (int j = 0; j < p; j++)
		if (model->marg[j].type != GC_CONSTANT)
			c->act[q++] = j;

	/* W's active rows, q×k column-major, in the SVD's U buffer (gc_lrcond_set copies it) */
	W = c->svd_u;
	for (int j = 0; j < k; j++)
		for (int a = 0; a < q; a++)
			W[a + (size_t) j * q] = model->W[c->act[a] + (size_t) j * p];
	/*
	 * The Woodbury path must give what model->corr gives: check corr = WWᵀ + σI, a column
	 * of the lower triangle at a time as contiguous multiply-adds (uw is scratch here)
	 */
	for (int b = 0; b < q && consistent; b++)
	{
		double	   *acc = c->uw;
		const double *cb = model->corr + (size_t) c->act[b] * p;

		WwtColumn(W, q, k, b, model->sigma, acc);
		for (int a = b; a < q; a++)
			consistent &= fabs(acc[a] - cb[c->act[a]]) <= 1e-9;
	}
	st = consistent ? gc_lrcond_set(c, W, model->sigma) : GC_OK;
	if (st == GC_OK && consistent)
		st = LevelTables(c, model, alloc);
	if (st != GC_OK || !consistent)
	{
		gc_lrcond_destroy(c, alloc);
		return st;
	}
	*out = c;
	return GC_OK;
}

void
gc_lrcond_destroy(GcLrCond *c, const GcAlloc *alloc)
{
	gc_lrcond_free(c, alloc);
	alloc->dealloc(alloc->ctx, c);
}

/*
 * Two passes over the row: the first only splits the columns into the
 * observed and missing lists (branch-free: which entries are observed is as good as
 * random), the second walks the observed list alone, where the branches (the column's
 * kind, a value off the level table) go the same way row after row.
 */
GcStatus
gc_lrcond_impute_row(GcLrCond *c, const GcModel *model, const double *row, double *out,
					 int num_ord_updates)
{
	int			p = model->p,
				q = c->q,
				mo = 0,
				nj = 0,
				nm = 0;
	const int  *act = c->act;
	const GcLrCol *cols = c->cols;
	int		   *O = c->O,
			   *J = c->J,
			   *Mi = c->Mi;
	double	   *zf = c->zf,
			   *xo = c->xo;
	GcStatus	st;

	for (int a = 0; a < q; a++)
	{
		double		x = row[act[a]];
		int			o = !isnan(x);

		O[mo] = a;
		Mi[nm] = a;
		xo[mo] = x;
		mo += o;
		nm += 1 - o;
	}
	/* latent row: points, and intervals started at the truncated standard-normal mean */
	for (int t = 0; t < mo; t++)
	{
		int			a = O[t];
		const GcLrCol *col = &cols[a];
		double		x = xo[t];

		if (col->lvoff >= 0)
		{
			int			l = LevelSlot(col, c->lut, &model->marg[act[a]], x);

			J[nj] = a;
			c->jlo[nj] = c->lvlo[l];
			c->jhi[nj] = c->lvhi[l];
			zf[a] = c->lvmu[l];
			nj++;
		}
		else
		{
			double		lo,
						hi;

			if (gc_marginal_to_latent(&model->marg[act[a]], x, &lo, &hi))
			{
				double		mu = 0,
							var;

				if (gc_truncnorm_moments(0.0, 1.0, lo, hi, &mu, &var) != 0)
					mu = isfinite(lo) ? lo : hi;
				J[nj] = a;
				c->jlo[nj] = lo;
				c->jhi[nj] = hi;
				zf[a] = mu;
				nj++;
			}
			else
				zf[a] = lo;
		}
	}
	st = RowFromLists(c, mo, nj, num_ord_updates);
	if (st != GC_OK)
		return st;
	/* observed entries unchanged, a constant column's missing ones its value */
	memcpy(out, row, sizeof(double) * p);
	if (q < p)
		for (int j = 0; j < p; j++)
			if (isnan(row[j]) && model->marg[j].type == GC_CONSTANT)
				out[j] = model->marg[j].x[0];
	/* E[z_M | z_O] = U_M s */
	gc_lrk_dot_cols(c->Ur, c->kq, Mi, nm, c->s, c->uw);
	for (int t = 0; t < nm; t++)
	{
		int			a = Mi[t];
		const GcMarginal *m = &model->marg[act[a]];
		double		zm = c->uw[t];

		out[act[a]] = cols[a].lvoff >= 0 ? OrdinalFromLatent(c, &cols[a], m, zm) :
			gc_marginal_from_latent(m, zm);
	}
	return GC_OK;
}
