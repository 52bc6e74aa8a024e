/*
 * em.c — fitting a Gaussian copula by EM (gcimpute reference spec §1.4–1.7):
 * marginals and types from the data, latent initialisation, Σ₀ from the zero-filled
 * latent matrix, then E-steps grouped by missingness pattern (cond.c) and M-steps
 * S = cov(Ẑ) + C̄ rescaled to a correlation matrix, until ‖ΔΣ‖_F/‖Σ_new‖_F < tol.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* qsort_r */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "cond.h"
#include "copula.h"
#include "normal.h"
#include "precision.h"
#include "sort.h"

static void *
MallocAlloc(void *ctx, size_t size)
{
	return malloc(size > 0 ? size : 1);
}

static void
MallocFree(void *ctx, void *ptr)
{
	free(ptr);
}

const GcAlloc gc_malloc_alloc = {MallocAlloc, MallocFree, NULL};

void
gc_fit_options_default(GcFitOptions *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->max_iter = 50;
	opt->tol = 0.01;
	opt->min_ord_ratio = 0.1;
	opt->max_knots = 1024;
	opt->num_ord_updates = 1;
}

typedef struct PatternSort
{
	const uint64_t *masks;
	int			nw;
} PatternSort;

static int
CmpPattern(const void *a, const void *b, void *arg)
{
	const PatternSort *ps = arg;
	size_t		i = *(const size_t *) a,
				j = *(const size_t *) b;
	int			c = memcmp(ps->masks + i * ps->nw, ps->masks + j * ps->nw,
						   sizeof(uint64_t) * ps->nw);

	if (c != 0)
		return c;
	return (i > j) - (i < j);
}

#define ALLOC(ptr, count) \
	do { \
		(ptr) = alloc->alloc(alloc->ctx, sizeof(*(ptr)) * ((count) > 0 ? (count) : 1)); \
		if ((ptr) == NULL) { status = GC_ENOMEM; goto done; } \
	} while (0)

/*
 * Build the p marginals (detecting types where asked) and the latent matrix in one pass per
 * column: sort the column's observed values with their row numbers, then give every group
 * of equal values its latent point or interval. Continuous training values get the exact
 * ECDF z = Φ⁻¹(F̂(x)·n/(n+1)) (spec §1.2) even when the stored marginal is compressed.
 * Z, LO, HI, ISINT are n×p row-major; missing entries are NaN in Z.
 */
static GcStatus
BuildColumns(const double *X, size_t n, int p, const GcFitOptions *opt,
			 const GcAlloc *alloc, GcModel *model, double *Z, double *LO, double *HI,
			 uint8_t *ISINT, char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	double	   *vals = NULL,
			   *tmpv = NULL;
	uint32_t   *idx = NULL,
			   *tmpi = NULL;

	ALLOC(vals, n);
	ALLOC(tmpv, n);
	ALLOC(idx, n);
	ALLOC(tmpi, n);
	for (int j = 0; j < p; j++)
	{
		size_t		nobs = 0,
					ndist;
		int			type = opt->types ? opt->types[j] : GC_AUTO;
		int			detected;
		GcMarginal *m = &model->marg[j];
		double	   *x,
				   *cum,
				   *mult;
		int			cap;

		for (size_t i = 0; i < n; i++)
		{
			double		v = X[i * p + j];

			Z[i * p + j] = NAN;
			ISINT[i * p + j] = 0;
			if (!isnan(v))
			{
				vals[nobs] = v;
				idx[nobs++] = (uint32_t) i;
			}
		}
		if (nobs == 0)
		{
			snprintf(errmsg, errlen, "column %d has no observed values", j + 1);
			status = GC_EINVAL;
			goto done;
		}
		gc_radix_sort(vals, idx, nobs, tmpv, tmpi);
		ndist = gc_count_distinct(vals, nobs);
		detected = gc_detect_type(vals, nobs, opt->min_ord_ratio);
		if (detected == GC_CONSTANT)
			type = GC_CONSTANT;
		else if (type == GC_AUTO)
			type = detected;
		else if (type == GC_ORDINAL && ndist == 2)
			type = GC_BINARY;
		else if (type == GC_BINARY && ndist != 2)
		{
			snprintf(errmsg, errlen, "column %d is declared binary but has %zu distinct values",
					 j + 1, ndist);
			status = GC_EINVAL;
			goto done;
		}

		cap = opt->max_knots;
		if (ndist < (size_t) cap)
			cap = (int) ndist;
		ALLOC(x, cap);
		ALLOC(cum, cap);
		ALLOC(mult, cap);
		m->type = type;
		m->n = (double) nobs;
		m->nknots = gc_build_knots(vals, nobs, opt->max_knots, x, cum, mult, &m->exact);
		m->x = x;
		m->cum = cum;
		m->mult = mult;
		gc_marginal_prepare(m);
		if (gc_marginal_check(m) != NULL)
		{
			snprintf(errmsg, errlen, "column %d cannot be modelled as %s: %s", j + 1,
					 gc_vartype_name(type), gc_marginal_check(m));
			status = GC_EINVAL;
			goto done;
		}
		if (type == GC_CONSTANT)
			continue;

		for (size_t g = 0; g < nobs;)
		{
			size_t		e = g + 1;
			double		lo,
						hi,
						z;
			int			isint;

			while (e < nobs && vals[e] == vals[g])
				e++;
			if (type == GC_CONTINUOUS)
			{
				double		dn = (double) nobs;

				lo = hi = gc_norm_ppf((double) e / dn * (dn / (dn + 1)));
				isint = 0;
			}
			else
				isint = gc_marginal_to_latent(m, vals[g], &lo, &hi);
			z = lo;
			if (isint)
			{
				double		var;

				/* spec §1.4: start at the mean of N(0,1) truncated to the interval */
				if (gc_truncnorm_moments(0.0, 1.0, lo, hi, &z, &var) != 0)
					z = isfinite(lo) ? lo : hi;
			}
			for (size_t t = g; t < e; t++)
			{
				size_t		k = (size_t) idx[t] * p + j;

				Z[k] = z;
				LO[k] = lo;
				HI[k] = hi;
				ISINT[k] = (uint8_t) isint;
			}
			g = e;
		}
	}
done:
	if (vals)
		alloc->dealloc(alloc->ctx, vals);
	if (tmpv)
		alloc->dealloc(alloc->ctx, tmpv);
	if (idx)
		alloc->dealloc(alloc->ctx, idx);
	if (tmpi)
		alloc->dealloc(alloc->ctx, tmpi);
	return status;
}

GcStatus
gc_fit_standard(const double *X, size_t n, int p, const GcFitOptions *opt,
				const GcAlloc *alloc, GcModel **model_out,
				char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	GcModel    *model = NULL;
	int		   *act = NULL;
	int			q = 0;
	double	   *Z = NULL,
			   *LO = NULL,
			   *HI = NULL,
			   *ZH = NULL,
			   *Sig = NULL,
			   *Snew = NULL,
			   *Cbar = NULL,
			   *mean = NULL,
			   *v = NULL;
	uint8_t    *ISINT = NULL,
			   *obs = NULL,
			   *mayint = NULL;
	uint64_t   *masks = NULL;
	size_t	   *order = NULL;
	GcPrecision prec;
	GcCond		cond;
	int			nw;

	/* inputs are validated here; LAPACKE's NaN scans would only cost time */
	LAPACKE_set_nancheck(0);
	memset(&prec, 0, sizeof(prec));
	memset(&cond, 0, sizeof(cond));
	*model_out = NULL;
	if (errlen > 0)
		errmsg[0] = '\0';
	if (n == 0)
	{
		snprintf(errmsg, errlen, "no rows to fit");
		return GC_EINVAL;
	}
	if (n >= UINT32_MAX)
	{
		snprintf(errmsg, errlen, "too many rows: %zu", n);
		return GC_EINVAL;
	}
	if (p < 1)
	{
		snprintf(errmsg, errlen, "rows must have at least one column");
		return GC_EINVAL;
	}

	ALLOC(model, 1);
	memset(model, 0, sizeof(*model));
	model->p = p;
	model->kind = GC_MODEL_FULL;
	model->nrows = (int64_t) n;
	model->tol = opt->tol;
	model->max_iter = opt->max_iter;
	ALLOC(model->marg, p);
	memset(model->marg, 0, sizeof(GcMarginal) * p);
	ALLOC(model->corr, (size_t) p * p);
	ALLOC(Z, n * p);
	ALLOC(LO, n * p);
	ALLOC(HI, n * p);
	ALLOC(ISINT, n * p);
	status = BuildColumns(X, n, p, opt, alloc, model, Z, LO, HI, ISINT, errmsg, errlen);
	if (status != GC_OK)
		goto done;

	ALLOC(act, p);
	for (int j = 0; j < p; j++)
		if (model->marg[j].type != GC_CONSTANT)
			act[q++] = j;

	/* Σ over all p columns starts as the identity; constant columns keep identity rows. */
	memset(model->corr, 0, sizeof(double) * p * p);
	for (int j = 0; j < p; j++)
		model->corr[j + (size_t) j * p] = 1.0;
	if (q == 0)
	{
		model->converged = 1;
		goto done;
	}

	/* Keep the active columns only: n×q row-major (in place, moving entries left). */
	if (q < p)
		for (size_t i = 0; i < n; i++)
			for (int a = 0; a < q; a++)
			{
				Z[i * q + a] = Z[i * p + act[a]];
				LO[i * q + a] = LO[i * p + act[a]];
				HI[i * q + a] = HI[i * p + act[a]];
				ISINT[i * q + a] = ISINT[i * p + act[a]];
			}
	ALLOC(ZH, n * q);
	ALLOC(mayint, q);
	for (int a = 0; a < q; a++)
		mayint[a] = (model->marg[act[a]].type != GC_CONTINUOUS);

	/* Σ₀ = corrcoef of the zero-filled latent matrix (spec §1.4 step 2) */
	ALLOC(Sig, (size_t) q * q);
	ALLOC(Snew, (size_t) q * q);
	ALLOC(Cbar, (size_t) q * q);
	ALLOC(mean, q);
	ALLOC(v, q);
	for (size_t k = 0; k < n * q; k++)
		ZH[k] = isnan(Z[k]) ? 0.0 : Z[k];
	gc_cov_rows(ZH, n, q, Sig, mean, NULL, NULL);
	gc_cov_to_corr(Sig, q, 1);

	/* Missingness patterns: sort rows so each pattern's rows are contiguous. */
	nw = (q + 63) / 64;
	ALLOC(masks, n * nw);
	ALLOC(order, n);
	memset(masks, 0, sizeof(uint64_t) * n * nw);
	for (size_t i = 0; i < n; i++)
	{
		order[i] = i;
		for (int a = 0; a < q; a++)
			if (!isnan(Z[i * q + a]))
				masks[i * nw + a / 64] |= (uint64_t) 1 << (a % 64);
	}
	{
		PatternSort ps = {masks, nw};

		qsort_r(order, n, sizeof(size_t), CmpPattern, &ps);
	}
	ALLOC(obs, q);

	status = gc_precision_init(&prec, q, alloc);
	if (status != GC_OK)
		goto done;
	status = gc_cond_init(&cond, q, prec.Lam, alloc);
	if (status != GC_OK)
		goto done;

	for (int iter = 1; iter <= opt->max_iter; iter++)
	{
		double		ll = 0,
					quad = 0,
					delta;
		size_t		start = 0,
					ticked = 0;

		/* Λ = Σ⁻¹ once per iteration (regularised if Σ lost positive definiteness) */
		status = gc_precision_set(&prec, Sig, &model->ridge_steps);
		if (status != GC_OK)
		{
			snprintf(errmsg, errlen, "the correlation matrix is not positive definite at iteration %d", iter);
			goto done;
		}
		memset(Cbar, 0, sizeof(double) * q * q);

		/* E-step, one missingness pattern at a time */
		while (start < n)
		{
			size_t		end = start + 1;
			size_t		i0 = order[start];

			if (opt->tick && start - ticked >= 4096)
			{
				opt->tick(opt->progress_arg);
				ticked = start;
			}

			while (end < n && memcmp(masks + order[end] * nw, masks + i0 * nw,
									 sizeof(uint64_t) * nw) == 0)
				end++;
			for (int a = 0; a < q; a++)
				obs[a] = !isnan(Z[i0 * q + a]);
			status = gc_cond_pattern(&cond, obs, mayint);
			if (status != GC_OK)
			{
				snprintf(errmsg, errlen, "conditional precision not positive definite at iteration %d", iter);
				goto done;
			}
			/* C̄[M,M] += rows × Cov[z_M | z_O] */
			for (int b = 0; b < cond.mm; b++)
				for (int a = 0; a < cond.mm; a++)
					Cbar[cond.M[a] + (size_t) cond.M[b] * q] +=
						(double) (end - start) * cond.SM[a + (size_t) b * cond.mm];

			for (size_t s = start; s < end; s++)
			{
				size_t		i = order[s];
				double	   *zh = ZH + i * q;
				double	   *z = Z + i * q;
				int			nint;

				memcpy(zh, z, sizeof(double) * q);
				nint = gc_cond_row(&cond, zh, LO + i * q, HI + i * q, ISINT + i * q,
								   opt->num_ord_updates, v);
				/* the updated interval entries persist (warm start next iteration) */
				if (nint > 0)
					for (int b = 0; b < cond.nj; b++)
						z[cond.Jp[b]] = zh[cond.Jp[b]];
				/* ℓ_i without its quadratic term z̃ᵀΛz̃, added from the Gram matrix below */
				ll += -0.5 * (prec.logdet + cond.logdet_lmm + cond.mo * GC_LOG2PI);

				/* C_i: diag(v), and the ordinal terms K = B_Jᵀ diag(v_J) (spec §1.5 step 5) */
				if (nint > 0)
				{
					for (int b = 0; b < cond.nj; b++)
					{
						int			j = cond.Jp[b];
						double		vj = v[j];

						if (vj == 0)
							continue;
						Cbar[j + (size_t) j * q] += vj;
						if (cond.mm == 0)
							continue;
						/* B[j, m] = −GJ[m, b] */
						for (int a = 0; a < cond.mm; a++)
						{
							double		kma = -cond.GJ[a + (size_t) b * cond.mm] * vj;
							int			m = cond.M[a];

							Cbar[m + (size_t) j * q] += kma;
							Cbar[j + (size_t) m * q] += kma;
							for (int a2 = 0; a2 < cond.mm; a2++)
								Cbar[m + (size_t) cond.M[a2] * q] +=
									-kma * cond.GJ[a2 + (size_t) b * cond.mm];
						}
					}
				}
			}
			start = end;
		}

		/* M-step: S = cov(Ẑ) (divisor n−1) + C̄/n, rescaled to a correlation matrix */
		gc_cov_rows(ZH, n, q, Snew, mean, prec.Lam, &quad);
		ll += -0.5 * quad;
		/* C̄ is symmetric in exact arithmetic; make it so in floating point too */
		for (int b = 0; b < q; b++)
			for (int a = b; a < q; a++)
			{
				double		c = 0.5 * (Cbar[a + (size_t) b * q] + Cbar[b + (size_t) a * q]) / (double) n;

				Snew[a + (size_t) b * q] += c;
				if (a != b)
					Snew[b + (size_t) a * q] += c;
			}
		if (gc_cov_to_corr(Snew, q, 0) != 0)
		{
			snprintf(errmsg, errlen, "a latent variable has zero variance at iteration %d", iter);
			status = GC_EDEGENERATE;
			goto done;
		}
		delta = gc_rel_change(Sig, Snew, q);
		memcpy(Sig, Snew, sizeof(double) * q * q);
		model->n_iter = iter;
		model->delta = delta;
		model->loglik = ll / (double) n;
		if (opt->progress)
			opt->progress(opt->progress_arg, iter, delta, model->loglik);
		if (delta < opt->tol)
		{
			model->converged = 1;
			break;
		}
	}

	for (int b = 0; b < q; b++)
		for (int a = 0; a < q; a++)
			model->corr[act[a] + (size_t) act[b] * p] = Sig[a + (size_t) b * q];

done:
	gc_cond_free(&cond, alloc);
	gc_precision_free(&prec, alloc);
	{
		void	   *ptrs[] = {act, Z, LO, HI, ZH, Sig, Snew, Cbar, mean, v, ISINT, obs,
		mayint, masks, order};

		for (size_t k = 0; k < sizeof(ptrs) / sizeof(ptrs[0]); k++)
			if (ptrs[k])
				alloc->dealloc(alloc->ctx, ptrs[k]);
	}
	if (status != GC_OK)
	{
		if (model)
			gc_model_free(model, alloc);
		return status;
	}
	*model_out = model;
	return GC_OK;
}
