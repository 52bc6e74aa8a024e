/*
 * cond_lowrank.c — a row's conditional distribution under Σ = WWᵀ + σI by Woodbury
 * (spec §1.11): the k×k matrix M = U_OᵀU_O + σD⁻² replaces the |O|×|O| block Σ_OO, so
 * neither the EM E-step nor imputation ever factors more than a k×k matrix per row.
 *
 * The small products (k is typically 5–50) are written as plain loops: a BLAS call per
 * interval entry costs more in call overhead than in arithmetic. The per-row products over
 * |O| use BLAS (dsyrk, dgemv, dsymm), and every LAPACK info is checked.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "cond_lowrank.h"
#include "normal.h"

GcStatus
gc_lrcond_init(GcLrCond *c, int q, int k, const GcAlloc *alloc)
{
	size_t		qk = (size_t) q * k;

	memset(c, 0, sizeof(*c));
	c->q = q;
	c->k = k;
	c->kp = k * (k + 1) / 2;
#define LRALLOC(ptr, count) \
	((ptr) = alloc->alloc(alloc->ctx, sizeof(*(ptr)) * ((count) > 0 ? (count) : 1)))
	if (!LRALLOC(c->Ur, qk) || !LRALLOC(c->d, k) || !LRALLOC(c->Vt, (size_t) k * k) ||
		!LRALLOC(c->O, q) || !LRALLOC(c->J, q) || !LRALLOC(c->UO, qk) ||
		!LRALLOC(c->zO, q) || !LRALLOC(c->vJ, q) || !LRALLOC(c->L, (size_t) k * k) ||
		!LRALLOC(c->A, (size_t) k * k) || !LRALLOC(c->s, k) || !LRALLOC(c->P, qk) ||
		!LRALLOC(c->Y, qk) || !LRALLOC(c->t, k) || !LRALLOC(c->w, k) ||
		!LRALLOC(c->znew, q) || !LRALLOC(c->ajj, q) || !LRALLOC(c->svd_u, qk) ||
		!LRALLOC(c->svd_a, qk) || !LRALLOC(c->UU, (size_t) c->kp * q))
		return GC_ENOMEM;
#undef LRALLOC
	return GC_OK;
}

void
gc_lrcond_free(GcLrCond *c, const GcAlloc *alloc)
{
	void	   *ptrs[] = {c->Ur, c->d, c->Vt, c->O, c->J, c->UO, c->zO, c->vJ, c->L, c->A,
		c->s, c->P, c->Y, c->t, c->w, c->znew, c->ajj, c->svd_u, c->svd_a, c->UU, c->z, c->lo, c->hi,
	c->isint, c->act};

	for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
		if (ptrs[i])
			alloc->dealloc(alloc->ctx, ptrs[i]);
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
		const double *u = c->Ur + (size_t) a * k;
		double	   *uu = c->UU + (size_t) a * c->kp;

		for (int j = 0; j < k; j++)
			c->Ur[(size_t) a * k + j] = c->svd_u[a + (size_t) j * q];
		/* packed lower triangle, column by column: the order of gc_lr_packidx */
		for (int j = 0; j < k; j++)
			for (int r = j; r < k; r++)
				*uu++ = u[r] * u[j];
	}
	return GC_OK;
}

/* y = A x for the full symmetric k×k A */
static inline void
SymMatVec(const double *A, int k, const double *x, double *y)
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

static inline double
Dot(const double *x, const double *y, int k)
{
	double		s = 0;

	for (int j = 0; j < k; j++)
		s += x[j] * y[j];
	return s;
}

GcStatus
gc_lrcond_row(GcLrCond *c, double *z, const double *lo, const double *hi,
			  const uint8_t *isint, int num_ord_updates)
{
	int			q = c->q,
				k = c->k;
	double		sigma = c->sigma;
	int			mo = 0,
				nj = 0;
	lapack_int	info;

	for (int a = 0; a < q; a++)
	{
		if (isnan(z[a]))
			continue;
		c->O[mo] = a;
		memcpy(c->UO + (size_t) mo * k, c->Ur + (size_t) a * k, sizeof(double) * k);
		c->zO[mo] = z[a];
		if (isint[a])
			c->J[nj++] = mo;
		mo++;
	}
	c->mo = mo;
	c->nj = nj;
	c->logdetM = 0;
	for (int t = 0; t < nj; t++)
		c->vJ[t] = 0;
	if (mo == 0)
	{
		memset(c->s, 0, sizeof(double) * k);
		return GC_OK;
	}

	/* M = U_OᵀU_O + σD⁻², its Cholesky factor L, and A = M⁻¹ */
	cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, k, mo, 1.0, c->UO, k, 0.0, c->L, k);
	for (int j = 0; j < k; j++)
		c->L[j + (size_t) j * k] += sigma / (c->d[j] * c->d[j]);
	info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', k, c->L, k);
	if (info > 0)
		return GC_ENOTPD;
	if (info < 0)
		return GC_ELAPACK;
	for (int j = 0; j < k; j++)
		c->logdetM += 2 * log(c->L[j + (size_t) j * k]);
	memcpy(c->A, c->L, sizeof(double) * k * k);
	info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', k, c->A, k);
	if (info > 0)
		return GC_ENOTPD;
	if (info < 0)
		return GC_ELAPACK;
	for (int j = 0; j < k; j++)
		for (int r = j + 1; r < k; r++)
			c->A[j + (size_t) r * k] = c->A[r + (size_t) j * k];

	if (nj > 0 && mo >= 2)
	{
		/* (Σ_OO⁻¹)_jj = (1 − u_jᵀ A u_j)/σ for the interval entries: Y = A U_J in one call */
		for (int t = 0; t < nj; t++)
			memcpy(c->P + (size_t) t * k, c->UO + (size_t) c->J[t] * k, sizeof(double) * k);
		cblas_dsymm(CblasColMajor, CblasLeft, CblasLower, k, nj, 1.0, c->A, k, c->P, k,
					0.0, c->Y, k);
		for (int t = 0; t < nj; t++)
			c->ajj[t] = (1 - Dot(c->P + (size_t) t * k, c->Y + (size_t) t * k, k)) / sigma;

		for (int it = 0; it < num_ord_updates; it++)
		{
			/* w = A U_Oᵀ z_O, so (Σ_OO⁻¹ z_O)_j = (z_j − u_jᵀ w)/σ */
			cblas_dgemv(CblasColMajor, CblasNoTrans, k, mo, 1.0, c->UO, k, c->zO, 1, 0.0, c->t, 1);
			SymMatVec(c->A, k, c->t, c->w);
			for (int t = 0; t < nj; t++)
			{
				int			o = c->J[t];
				int			a = c->O[o];
				double		g = (c->zO[o] - Dot(c->UO + (size_t) o * k, c->w, k)) / sigma;
				double		mean,
							var;

				c->znew[t] = c->zO[o];
				c->vJ[t] = 0;
				if (!(c->ajj[t] > 0))
					continue;
				/* N(μ_j, s_j²) with s_j² = 1/(Σ_OO⁻¹)_jj, μ_j = z_j − s_j²(Σ_OO⁻¹ z_O)_j */
				if (gc_truncnorm_moments(c->zO[o] - g / c->ajj[t], sqrt(1.0 / c->ajj[t]),
										 lo[a], hi[a], &mean, &var) == 0)
				{
					c->znew[t] = mean;
					c->vJ[t] = var;
				}
			}
			/* Jacobi: every interval entry moves from the same previous vector */
			for (int t = 0; t < nj; t++)
				c->zO[c->J[t]] = c->znew[t];
		}
		for (int t = 0; t < nj; t++)
			z[c->O[c->J[t]]] = c->zO[c->J[t]];
	}

	/* factor posterior mean s = A U_Oᵀ z_O (with the updated z_O) */
	cblas_dgemv(CblasColMajor, CblasNoTrans, k, mo, 1.0, c->UO, k, c->zO, 1, 0.0, c->t, 1);
	SymMatVec(c->A, k, c->t, c->s);
	return GC_OK;
}

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
		c->z = alloc->alloc(alloc->ctx, sizeof(double) * q);
		c->lo = alloc->alloc(alloc->ctx, sizeof(double) * q);
		c->hi = alloc->alloc(alloc->ctx, sizeof(double) * q);
		c->isint = alloc->alloc(alloc->ctx, q);
		if (!c->act || !c->z || !c->lo || !c->hi || !c->isint)
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

	/* the Woodbury path must give what model->corr gives: check corr = WWᵀ + σI */
	for (int b = 0; b < q && consistent; b++)
		for (int a = b; a < q; a++)
		{
			double		s = a == b ? model->sigma : 0;

			for (int j = 0; j < k; j++)
				s += model->W[c->act[a] + (size_t) j * p] * model->W[c->act[b] + (size_t) j * p];
			if (!(fabs(s - model->corr[c->act[a] + (size_t) c->act[b] * p]) <= 1e-9))
			{
				consistent = 0;
				break;
			}
		}
	/* W's active rows, q×k column-major, in the SVD input buffer's twin */
	W = c->Y;
	for (int j = 0; j < k; j++)
		for (int a = 0; a < q; a++)
			W[a + (size_t) j * q] = model->W[c->act[a] + (size_t) j * p];
	st = consistent ? gc_lrcond_set(c, W, model->sigma) : GC_OK;
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

GcStatus
gc_lrcond_impute_row(GcLrCond *c, const GcModel *model, const double *row, double *out,
					 int num_ord_updates)
{
	int			p = model->p,
				q = c->q,
				k = c->k;
	GcStatus	st;

	/* latent row: points, and intervals started at the truncated standard-normal mean */
	for (int a = 0; a < q; a++)
	{
		double		x = row[c->act[a]];

		c->isint[a] = 0;
		if (isnan(x))
		{
			c->z[a] = NAN;
			continue;
		}
		c->isint[a] = (uint8_t) gc_marginal_to_latent(&model->marg[c->act[a]], x, &c->lo[a], &c->hi[a]);
		if (c->isint[a])
		{
			double		mu = 0,
						var;

			if (gc_truncnorm_moments(0.0, 1.0, c->lo[a], c->hi[a], &mu, &var) != 0)
				mu = isfinite(c->lo[a]) ? c->lo[a] : c->hi[a];
			c->z[a] = mu;
		}
		else
			c->z[a] = c->lo[a];
	}
	st = gc_lrcond_row(c, c->z, c->lo, c->hi, c->isint, num_ord_updates);
	if (st != GC_OK)
		return st;
	for (int j = 0; j < p; j++)
		out[j] = isnan(row[j]) && model->marg[j].type == GC_CONSTANT ? model->marg[j].x[0] : row[j];
	/* E[z_M | z_O] = U_M s */
	for (int a = 0; a < q; a++)
		if (isnan(row[c->act[a]]))
			out[c->act[a]] = gc_marginal_from_latent(&model->marg[c->act[a]],
													 Dot(c->Ur + (size_t) a * k, c->s, k));
	return GC_OK;
}
