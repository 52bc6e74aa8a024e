/*
 * impute.c — single imputation of new rows with a fitted model (docs/algorithms.md §8, "transform"):
 * latent initialisation from the training marginals, Jacobi steps of the ordinal update,
 * conditional mean of the missing entries, inverse marginals. The precision matrix is
 * factored once per imputer; consecutive rows with the same missingness pattern reuse the
 * pattern's factorisation.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "copula/cond.h"
#include "lowrank/cond_lowrank.h"
#include "copula/copula.h"
#include "copula/normal.h"
#include "copula/precision.h"
#include "platform/rng.h"

struct GcImputer
{
	const GcModel *model;
	GcAlloc		alloc;
	int			q;
	int		   *act;
	double	   *Sig;
	GcPrecision prec;
	GcCond		cond;
	double	   *z,
			   *lo,
			   *hi;
	double	   *v,
			   *var;
	uint8_t    *isint,
			   *obs,
			   *mayint,
			   *last_obs;
	int			have_pattern;
	GcMarginalIndex *ix;		/* per column: search indexes over the knots */
	int32_t    *ixbuf;
	GcKnot	   *knots;
	GcLrCond   *lr;				/* low-rank model: Woodbury single imputation, or NULL */
	int			have_dense;		/* 1: prec and cond are set up (SetupDense); -1: that failed */
	GcStatus	dense_status;
};

/*
 * The dense conditional machinery: Σ of the active columns, its precision, and the
 * pattern cache. Made once per imputer (on first use for a low-rank model).
 */
static GcStatus
SetupDense(GcImputer *imp)
{
	const GcModel *model = imp->model;
	int			p = model->p,
				q = imp->q;
	GcStatus	status;

	for (int b = 0; b < q; b++)
		for (int a = 0; a < q; a++)
			imp->Sig[a + (size_t) b * q] = model->corr[imp->act[a] + (size_t) imp->act[b] * p];
	status = gc_precision_init(&imp->prec, q, &imp->alloc);
	if (status == GC_OK && q > 0)
		status = gc_precision_set(&imp->prec, imp->Sig, NULL);
	if (status == GC_OK)
		status = gc_cond_init(&imp->cond, q, imp->prec.Lam, &imp->alloc);
	imp->cond.lazy_sm = 1;		/* only intervals need Cov[z_M | z_O] */
	if (status == GC_OK)
		imp->have_dense = 1;
	return status;
}

GcStatus
gc_imputer_create(const GcModel *model, const GcAlloc *alloc, GcImputer **imp_out,
				  char *errmsg, size_t errlen)
{
	GcImputer  *imp;
	int			p = model->p,
				q = 0;
	GcStatus	status;
	size_t		qi;

	*imp_out = NULL;
	imp = alloc->alloc(alloc->ctx, sizeof(GcImputer));
	if (!imp)
		return GC_ENOMEM;
	memset(imp, 0, sizeof(*imp));
	imp->model = model;
	imp->alloc = *alloc;
	imp->act = alloc->alloc(alloc->ctx, sizeof(int) * p);
	if (!imp->act)
	{
		gc_imputer_free(imp);
		return GC_ENOMEM;
	}
	for (int j = 0; j < p; j++)
		if (model->marg[j].type != GC_CONSTANT)
			imp->act[q++] = j;
	imp->q = q;
	qi = q > 0 ? q : 1;
	imp->Sig = alloc->alloc(alloc->ctx, sizeof(double) * qi * qi);
	imp->z = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	imp->lo = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	imp->hi = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	imp->v = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	imp->var = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	imp->isint = alloc->alloc(alloc->ctx, qi);
	imp->obs = alloc->alloc(alloc->ctx, qi);
	imp->mayint = alloc->alloc(alloc->ctx, qi);
	imp->last_obs = alloc->alloc(alloc->ctx, qi);
	if (!imp->Sig || !imp->z || !imp->lo || !imp->hi || !imp->v || !imp->var ||
		!imp->isint || !imp->obs ||
		!imp->mayint || !imp->last_obs)
	{
		gc_imputer_free(imp);
		return GC_ENOMEM;
	}
	/* about one knot per bucket: the knot searches of a row take a step or two each */
	{
		size_t		nbuf = 0,
					nkn = 0;

		for (int j = 0; j < p; j++)
		{
			nbuf += 2 * ((size_t) model->marg[j].nknots + 1);
			nkn += model->marg[j].nknots;
		}
		imp->ix = alloc->alloc(alloc->ctx, sizeof(GcMarginalIndex) * p);
		imp->ixbuf = alloc->alloc(alloc->ctx, sizeof(int32_t) * (nbuf > 0 ? nbuf : 1));
		imp->knots = alloc->alloc(alloc->ctx, sizeof(GcKnot) * (nkn > 0 ? nkn : 1));
		if (!imp->ix || !imp->ixbuf || !imp->knots)
		{
			gc_imputer_free(imp);
			return GC_ENOMEM;
		}
		nbuf = nkn = 0;
		for (int j = 0; j < p; j++)
		{
			gc_marginal_index_build(&imp->ix[j], &model->marg[j], imp->ixbuf + nbuf, imp->knots + nkn);
			nbuf += 2 * ((size_t) model->marg[j].nknots + 1);
			nkn += model->marg[j].nknots;
		}
	}
	for (int b = 0; b < q; b++)
		imp->mayint[b] = model->marg[imp->act[b]].type != GC_CONTINUOUS;
	/*
	 * A low-rank model imputes single rows by Woodbury (cond_lowrank.c); the dense
	 * precision, a q×q factorisation, is only made when a draw or an interval asks for it.
	 */
	if (model->kind == GC_MODEL_LOWRANK)
		status = gc_lrcond_from_model(model, alloc, &imp->lr);
	else
		status = SetupDense(imp);
	if (status != GC_OK)
	{
		snprintf(errmsg, errlen, "the model's correlation matrix is not positive definite");
		gc_imputer_free(imp);
		return status;
	}
	*imp_out = imp;
	return GC_OK;
}

void
gc_imputer_free(GcImputer *imp)
{
	GcAlloc		alloc = imp->alloc;
	void	   *ptrs[] = {imp->act, imp->Sig, imp->z, imp->lo, imp->hi, imp->v, imp->var, imp->isint,
	imp->obs, imp->mayint, imp->last_obs, imp->ix, imp->ixbuf, imp->knots};

	gc_cond_free(&imp->cond, &alloc);
	gc_precision_free(&imp->prec, &alloc);
	if (imp->lr)
		gc_lrcond_destroy(imp->lr, &alloc);
	gc_free_each(&alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	alloc.dealloc(alloc.ctx, imp);
}

/*
 * Latent row of the active columns: points, intervals (initialised at the truncated
 * standard-normal mean) and the missingness pattern. Sets up the pattern if it changed.
 */
static GcStatus
LatentRow(GcImputer *imp, const double *row)
{
	const GcModel *model = imp->model;
	int			q = imp->q;

	if (imp->have_dense != 1)
	{
		/* a low-rank model's first draw or interval: tried once, the outcome kept */
		if (imp->have_dense == 0)
			imp->dense_status = SetupDense(imp);
		if (imp->dense_status != GC_OK)
		{
			imp->have_dense = -1;
			return imp->dense_status;
		}
	}

	for (int a = 0; a < q; a++)
	{
		double		x = row[imp->act[a]];

		if (isnan(x))
		{
			imp->obs[a] = 0;
			imp->isint[a] = 0;
			imp->z[a] = 0;
			continue;
		}
		imp->obs[a] = 1;
		imp->isint[a] = (uint8_t) gc_marginal_to_latent_ix(&model->marg[imp->act[a]],
														   &imp->ix[imp->act[a]], x,
														   &imp->lo[a], &imp->hi[a]);
		if (imp->isint[a])
		{
			double		mu = 0,
						var;

			if (gc_truncnorm_moments(0.0, 1.0, imp->lo[a], imp->hi[a], &mu, &var) != 0)
				mu = isfinite(imp->lo[a]) ? imp->lo[a] : imp->hi[a];
			imp->z[a] = mu;
		}
		else
			imp->z[a] = imp->lo[a];
	}
	if (!imp->have_pattern || memcmp(imp->obs, imp->last_obs, q) != 0)
	{
		GcStatus	st = gc_cond_pattern(&imp->cond, imp->obs, imp->mayint);

		if (st != GC_OK)
		{
			imp->have_pattern = 0;
			return st;
		}
		memcpy(imp->last_obs, imp->obs, q);
		imp->have_pattern = 1;
	}
	return GC_OK;
}

GcStatus
gc_impute_row(GcImputer *imp, const double *row, double *out, int num_ord_updates)
{
	const GcModel *model = imp->model;
	int			p = model->p;
	GcStatus	st;

	/* a low-rank model: O(|O| k²) per row by Woodbury instead of O(|M|³) */
	if (imp->lr)
		return gc_lrcond_impute_row(imp->lr, model, row, out, num_ord_updates);
	if (imp->q > 0)
	{
		st = LatentRow(imp, row);
		if (st != GC_OK)
			return st;
		gc_cond_row(&imp->cond, imp->z, imp->lo, imp->hi, imp->isint, num_ord_updates, NULL);
	}
	for (int j = 0; j < p; j++)
		out[j] = row[j];
	for (int a = 0; a < imp->q; a++)
		if (!imp->obs[a])
			out[imp->act[a]] = gc_marginal_from_latent_ix(&model->marg[imp->act[a]],
															   &imp->ix[imp->act[a]], imp->z[a]);
	for (int j = 0; j < p; j++)
		if (isnan(row[j]) && model->marg[j].type == GC_CONSTANT)
			out[j] = model->marg[j].x[0];
	return GC_OK;
}

GcStatus
gc_impute_row_draw(GcImputer *imp, const double *row, double *out, GcRng *rng)
{
	const GcModel *model = imp->model;
	int			p = model->p;
	GcStatus	st;

	if (imp->q > 0)
	{
		st = LatentRow(imp, row);
		if (st != GC_OK)
			return st;
		/* start the chain at the deterministic estimate, then sample */
		gc_cond_row(&imp->cond, imp->z, imp->lo, imp->hi, imp->isint, 1, NULL);
		gc_cond_gibbs(&imp->cond, imp->z, imp->lo, imp->hi, imp->isint, 3, rng);
		gc_cond_draw_missing(&imp->cond, imp->z, rng);
	}
	for (int j = 0; j < p; j++)
		out[j] = isnan(row[j]) && model->marg[j].type == GC_CONSTANT ? model->marg[j].x[0] : row[j];
	for (int a = 0; a < imp->q; a++)
		if (!imp->obs[a])
			out[imp->act[a]] = gc_marginal_from_latent_ix(&model->marg[imp->act[a]],
															   &imp->ix[imp->act[a]], imp->z[a]);
	return GC_OK;
}

GcStatus
gc_impute_row_interval(GcImputer *imp, const double *row, double level,
					   double *est, double *lower, double *upper)
{
	const GcModel *model = imp->model;
	int			p = model->p;
	double		zq = gc_norm_ppf(0.5 + level / 2);
	GcStatus	st;

	for (int j = 0; j < p; j++)
	{
		est[j] = row[j];
		lower[j] = upper[j] = NAN;
		if (isnan(row[j]) && model->marg[j].type == GC_CONSTANT)
			est[j] = lower[j] = upper[j] = model->marg[j].x[0];
	}
	if (imp->q == 0)
		return GC_OK;
	st = LatentRow(imp, row);
	if (st != GC_OK)
		return st;
	gc_cond_row(&imp->cond, imp->z, imp->lo, imp->hi, imp->isint, 2, imp->v);
	gc_cond_missing_variance(&imp->cond, imp->v, imp->var);
	for (int a = 0; a < imp->q; a++)
	{
		const GcMarginal *m = &model->marg[imp->act[a]];
		const GcMarginalIndex *ix = &imp->ix[imp->act[a]];
		double		sd;

		if (imp->obs[a])
			continue;
		sd = sqrt(fmax(imp->var[a], 0));
		est[imp->act[a]] = gc_marginal_from_latent_ix(m, ix, imp->z[a]);
		lower[imp->act[a]] = gc_marginal_from_latent_ix(m, ix, imp->z[a] - zq * sd);
		upper[imp->act[a]] = gc_marginal_from_latent_ix(m, ix, imp->z[a] + zq * sd);
	}
	return GC_OK;
}
