/*
 * em.c — fitting a Gaussian copula by EM (docs/algorithms.md §4–§7):
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

#include "copula/cond.h"
#include "copula/estep.h"
#include "platform/rng.h"
#include "copula/copula.h"
#include "copula/normal.h"
#include "copula/precision.h"
#include "platform/sort.h"
#include "copula/fit_internal.h"
#include "platform/hugemem.h"

void
gc_fit_options_default(GcFitOptions *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->max_iter = 50;
	opt->tol = 0.01;
	opt->min_ord_ratio = 0.1;
	opt->max_knots = 1024;
	opt->num_ord_updates = 1;
	opt->training = GC_TRAIN_STANDARD;
	opt->batch_size = 100;
	opt->num_pass = 2;
	opt->stepsize_c = 5;
	opt->stepsize = 0;
	opt->decay = 0;
	opt->seed = 101;
}

static const char *const training_names[] = {"standard", "minibatch-offline", "minibatch-online"};

int
gc_training_from_name(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, training_names[i]) == 0)
			return i;
	return -1;
}

const char *
gc_training_name(int training)
{
	return training >= 0 && training < 3 ? training_names[training] : "invalid";
}

/* columns set up together: eight doubles of a row are one cache line */
#define GC_COL_BLOCK 8

#define ALLOC(ptr, count) \
	do { \
		(ptr) = alloc->alloc(alloc->ctx, sizeof(*(ptr)) * ((count) > 0 ? (count) : 1)); \
		if ((ptr) == NULL) { status = GC_ENOMEM; goto done; } \
	} while (0)

/*
 * Build the p marginals (detecting types where asked) and the latent matrix in one pass per
 * column: sort the column's observed values with their row numbers, then give every group
 * of equal values its latent point or interval. Continuous training values get the exact
 * ECDF z = Φ⁻¹(F̂(x)·n/(n+1)) (docs/algorithms.md §2) even when the stored marginal is compressed.
 * Z, LO, HI, ISINT (or CODE) are n×p row-major; missing entries are NaN in Z. LO and HI are
 * set where the column's type can produce intervals (not for continuous columns).
 */

void
gc_levels_free(GcLevels *lv, const GcAlloc *alloc)
{
	if (lv->lo)
		alloc->dealloc(alloc->ctx, lv->lo);
	if (lv->hi)
		alloc->dealloc(alloc->ctx, lv->hi);
	memset(lv, 0, sizeof(*lv));
}

/* append the interval (lo, hi) as a new level; its number, or 0 when out of memory */
static uint32_t
LevelsPush(GcLevels *lv, const GcAlloc *alloc, double lo, double hi)
{
	if (lv->n == lv->cap)
	{
		size_t		cap = lv->cap ? 2 * lv->cap : 256;
		double	   *nlo,
				   *nhi;

		/* level numbers index gathers as 32-bit signed integers */
		if (cap > INT32_MAX)
			return 0;
		nlo = alloc->alloc(alloc->ctx, sizeof(double) * cap);
		nhi = alloc->alloc(alloc->ctx, sizeof(double) * cap);
		if (!nlo || !nhi)
		{
			if (nlo)
				alloc->dealloc(alloc->ctx, nlo);
			if (nhi)
				alloc->dealloc(alloc->ctx, nhi);
			return 0;
		}
		if (lv->n > 0)
		{
			memcpy(nlo, lv->lo, sizeof(double) * lv->n);
			memcpy(nhi, lv->hi, sizeof(double) * lv->n);
		}
		else
		{
			/* level 0: no interval */
			nlo[0] = nhi[0] = NAN;
			lv->n = 1;
		}
		if (lv->lo)
			alloc->dealloc(alloc->ctx, lv->lo);
		if (lv->hi)
			alloc->dealloc(alloc->ctx, lv->hi);
		lv->lo = nlo;
		lv->hi = nhi;
		lv->cap = cap;
	}
	lv->lo[lv->n] = lo;
	lv->hi[lv->n] = hi;
	return (uint32_t) lv->n++;
}

GcStatus
gc_fit_build_columns(const double *X, size_t n, int p, const GcFitOptions *opt,
			 const GcAlloc *alloc, GcModel *model, double *Z, double *LO, double *HI,
			 uint8_t *ISINT, uint32_t *CODE, GcLevels *lv, char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	double	   *vals = NULL,
			   *tmpv = NULL,
			   *XT = NULL,
			   *ZT = NULL;
	uint32_t   *idx = NULL,
			   *tmpi = NULL,
			   *CT = NULL;

	if (ISINT)
		memset(ISINT, 0, n * (size_t) p);
	ALLOC(vals, n);
	ALLOC(tmpv, n);
	ALLOC(idx, n);
	ALLOC(tmpi, n);
	ALLOC(XT, n * GC_COL_BLOCK);
	ALLOC(ZT, n * GC_COL_BLOCK);
	if (CODE)
		ALLOC(CT, n * GC_COL_BLOCK);

	/*
	 * Columns go in blocks of GC_COL_BLOCK, transposed in and out: reading a column of the
	 * row-major X, or scattering its latent values into Z, touches one cache line per row
	 * for a single value, and over large inputs those misses dominated the set-up. A
	 * block's values of one row share a cache line instead.
	 */
	for (int j0 = 0; j0 < p; j0 += GC_COL_BLOCK)
	{
		int			nb = p - j0 < GC_COL_BLOCK ? p - j0 : GC_COL_BLOCK;

		/* a full block with a constant width: the compiler unrolls it */
		if (nb == GC_COL_BLOCK)
			for (size_t i = 0; i < n; i++)
				for (int jb = 0; jb < GC_COL_BLOCK; jb++)
					XT[jb * n + i] = X[i * p + j0 + jb];
		else
			for (size_t i = 0; i < n; i++)
				for (int jb = 0; jb < nb; jb++)
					XT[jb * n + i] = X[i * p + j0 + jb];
		/* everything starts missing (and without a level) */
		for (size_t k = 0; k < n * (size_t) nb; k++)
			ZT[k] = NAN;
		if (CT)
			memset(CT, 0, sizeof(uint32_t) * n * nb);
		for (int jb = 0; jb < nb; jb++)
		{
			int			j = j0 + jb;
			const double *xc = XT + (size_t) jb * n;
			double	   *zc = ZT + (size_t) jb * n;
			size_t		nobs = 0,
						ndist;
			int			type = opt->types ? opt->types[j] : GC_AUTO;
			int			detected;
			GcMarginal *m = &model->marg[j];
			double	   *x,
					   *cum,
					   *mult;
			int			cap;

			/* branch-free: a missing entry is written and then overwritten */
			for (size_t i = 0; i < n; i++)
			{
				double		v = xc[i];

				vals[nobs] = v;
				idx[nobs] = (uint32_t) i;
				nobs += !isnan(v);
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

			if (type == GC_CONTINUOUS && ndist == nobs)
			{
				/*
				 * Distinct values (the usual continuous column): rank e gets Φ⁻¹(e/(n+1)),
				 * and Φ⁻¹ is odd about 1/2, so the upper half of the ranks mirrors the lower
				 * half; tmpv (free after the sort) keeps the lower half. Only Z is written:
				 * LO, HI and ISINT are read for interval entries only.
				 */
				double		dn = (double) nobs;
				size_t		half = (nobs + 1) / 2;

				for (size_t t = 0; t < nobs; t++)
				{
					double		z;

					if (t < half)
						z = tmpv[t] = gc_norm_ppf((double) (t + 1) / dn * (dn / (dn + 1)));
					else
						z = -tmpv[nobs - 1 - t];
					zc[idx[t]] = z;
				}
				continue;
			}
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

					z = gc_norm_ppf((double) e / dn * (dn / (dn + 1)));
					for (size_t t = g; t < e; t++)
						zc[idx[t]] = z;
					g = e;
					continue;
				}
				isint = gc_marginal_to_latent(m, vals[g], &lo, &hi);
				z = lo;
				if (isint)
				{
					double		var;

					/* docs/algorithms.md §4: start at the mean of N(0,1) truncated to the interval */
					if (gc_truncnorm_moments(0.0, 1.0, lo, hi, &z, &var) != 0)
						z = isfinite(lo) ? lo : hi;
				}
				if (CT)
				{
					/* the level's number in the block's column, like its latent value */
					uint32_t   *cc = CT + (size_t) jb * n;
					uint32_t	code = 0;

					if (isint && (code = LevelsPush(lv, alloc, lo, hi)) == 0)
					{
						status = GC_ENOMEM;
						goto done;
					}
					for (size_t t = g; t < e; t++)
					{
						zc[idx[t]] = z;
						cc[idx[t]] = code;
					}
					g = e;
					continue;
				}
				for (size_t t = g; t < e; t++)
				{
					size_t		k = (size_t) idx[t] * p + j;

					zc[idx[t]] = z;
					LO[k] = lo;
					HI[k] = hi;
					ISINT[k] = (uint8_t) isint;
				}
				g = e;
			}
		}
		/* the block's latent values (and levels) back into the rows */
		if (nb == GC_COL_BLOCK)
			for (size_t i = 0; i < n; i++)
				for (int jb = 0; jb < GC_COL_BLOCK; jb++)
					Z[i * p + j0 + jb] = ZT[jb * n + i];
		else
			for (size_t i = 0; i < n; i++)
				for (int jb = 0; jb < nb; jb++)
					Z[i * p + j0 + jb] = ZT[jb * n + i];
		if (CT && nb == GC_COL_BLOCK)
			for (size_t i = 0; i < n; i++)
				for (int jb = 0; jb < GC_COL_BLOCK; jb++)
					CODE[i * p + j0 + jb] = CT[jb * n + i];
		else if (CT)
			for (size_t i = 0; i < n; i++)
				for (int jb = 0; jb < nb; jb++)
					CODE[i * p + j0 + jb] = CT[jb * n + i];
	}
done:
	if (CT)
		alloc->dealloc(alloc->ctx, CT);
	if (XT)
		alloc->dealloc(alloc->ctx, XT);
	if (ZT)
		alloc->dealloc(alloc->ctx, ZT);
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

/* The working state of gc_fit_standard, shared by its phases. */
typedef struct StdFit
{
	const GcFitOptions *opt;
	const GcAlloc *alloc;
	char	   *errmsg;
	size_t		errlen;
	size_t		n;
	int			p;
	int			q;				/* active (non-constant) columns */
	int			nw;				/* 64-bit words of a row's observation mask */
	int			minibatch;		/* mini-batch offline EM */
	size_t		bsize;			/* rows per sweep */
	size_t		full_pass;		/* sweeps that visit every row once */
	int			max_iter;
	GcModel    *model;
	int		   *act;			/* q active column numbers */
	double	   *Z,				/* n×q latent values, LO/HI bounds, ISINT interval flags */
			   *LO,
			   *HI,
			   *Sig,			/* q×q: the current Σ and the next */
			   *Snew,
			   *Z0;				/* zero-filled Z; reused as scratch for the pattern order */
	uint8_t    *ISINT,
			   *mayint;			/* per active column: can it hold intervals */
	uint64_t   *masks;			/* n×nw observation masks */
	size_t	   *order,			/* the rows in sweep order */
			   *batch;			/* mini-batch: the rows of the current batch */
	GcPrecision prec;
	GcEStep		es;
} StdFit;

/* Check the arguments and derive the sweep sizes (mini-batch: batches and passes). */
static GcStatus
StdValidate(StdFit *f)
{
	const GcFitOptions *opt = f->opt;

	f->minibatch = (opt->training == GC_TRAIN_MINIBATCH_OFFLINE);
	f->bsize = f->minibatch ? (size_t) opt->batch_size : f->n;
	f->max_iter = opt->max_iter;
	f->full_pass = 1;
	if (f->n == 0)
	{
		snprintf(f->errmsg, f->errlen, "no rows to fit");
		return GC_EINVAL;
	}
	if (f->n >= UINT32_MAX)
	{
		snprintf(f->errmsg, f->errlen, "too many rows: %zu", f->n);
		return GC_EINVAL;
	}
	if (f->p < 1)
	{
		snprintf(f->errmsg, f->errlen, "rows must have at least one column");
		return GC_EINVAL;
	}
	if (f->minibatch)
	{
		if (f->bsize < 2)
		{
			snprintf(f->errmsg, f->errlen, "batch_size must be at least 2");
			return GC_EINVAL;
		}
		if (f->bsize > f->n)
			f->bsize = f->n;
		f->full_pass = (f->n + f->bsize - 1) / f->bsize;
		f->max_iter = (int) (f->full_pass * (size_t) (opt->num_pass > 0 ? opt->num_pass : 1));
		if (opt->num_pass <= 0)
			f->max_iter = opt->max_iter > (int) f->full_pass ? opt->max_iter : (int) f->full_pass;
	}
	return GC_OK;
}

/*
 * The model with its marginals, the latent matrices (n×p), the active columns and Σ over
 * all p columns as the identity (constant columns keep identity rows).
 */
static GcStatus
StdBuildColumns(StdFit *f, const double *X)
{
	const GcAlloc *alloc = f->alloc;
	GcStatus	status = GC_OK;
	size_t		n = f->n;
	int			p = f->p;
	GcModel    *model;

	ALLOC(f->model, 1);
	model = f->model;
	memset(model, 0, sizeof(*model));
	model->p = p;
	model->kind = GC_MODEL_FULL;
	model->nrows = (int64_t) n;
	model->tol = f->opt->tol;
	model->max_iter = f->max_iter;
	model->training = f->opt->training;
	ALLOC(model->marg, p);
	memset(model->marg, 0, sizeof(GcMarginal) * p);
	ALLOC(model->corr, (size_t) p * p);
	ALLOC(f->Z, n * p);
	ALLOC(f->LO, n * p);
	ALLOC(f->HI, n * p);
	ALLOC(f->ISINT, n * p);
	status = gc_fit_build_columns(X, n, p, f->opt, alloc, model, f->Z, f->LO, f->HI,
								  f->ISINT, NULL, NULL, f->errmsg, f->errlen);
	if (status != GC_OK)
		goto done;

	ALLOC(f->act, p);
	for (int j = 0; j < p; j++)
		if (model->marg[j].type != GC_CONSTANT)
			f->act[f->q++] = j;
	memset(model->corr, 0, sizeof(double) * p * p);
	for (int j = 0; j < p; j++)
		model->corr[j + (size_t) j * p] = 1.0;
done:
	return status;
}

/*
 * Keep the active columns only: n×q row-major (in place, moving entries left); which of
 * them can hold intervals; and Σ₀ = corrcoef of the zero-filled latent matrix
 * (docs/algorithms.md §4), whose zero-filled copy Z0 is kept for the pattern order.
 */
static GcStatus
StdActiveAndStart(StdFit *f)
{
	const GcAlloc *alloc = f->alloc;
	GcStatus	status = GC_OK;
	size_t		n = f->n;
	int			p = f->p,
				q = f->q;
	double	   *mean = NULL;

	if (q < p)
		for (size_t i = 0; i < n; i++)
			for (int a = 0; a < q; a++)
			{
				f->Z[i * q + a] = f->Z[i * p + f->act[a]];
				f->LO[i * q + a] = f->LO[i * p + f->act[a]];
				f->HI[i * q + a] = f->HI[i * p + f->act[a]];
				f->ISINT[i * q + a] = f->ISINT[i * p + f->act[a]];
			}
	ALLOC(f->mayint, q);
	for (int a = 0; a < q; a++)
		f->mayint[a] = (f->model->marg[f->act[a]].type != GC_CONTINUOUS);

	ALLOC(f->Sig, (size_t) q * q);
	ALLOC(f->Snew, (size_t) q * q);
	ALLOC(f->Z0, n * q);
	ALLOC(mean, q);
	for (size_t k = 0; k < n * q; k++)
		f->Z0[k] = isnan(f->Z[k]) ? 0.0 : f->Z[k];
	gc_cov_rows(f->Z0, n, q, f->Sig, mean, NULL, NULL);
	gc_cov_to_corr(f->Sig, q, 1);
done:
	if (mean)
		alloc->dealloc(alloc->ctx, mean);
	return status;
}

/*
 * The rows' observation masks and the sweep order: a seeded permutation (Fisher–Yates)
 * for mini-batches; for standard EM the rows in pattern order, put in that order once,
 * physically, so that the sweeps read the latent matrices in sequence instead of jumping
 * from row to row (when patterns are mostly distinct, pattern order is a random
 * permutation). Same rows in the same order: the same arithmetic.
 */
static GcStatus
StdOrderRows(StdFit *f)
{
	GcStatus	status = GC_OK;
	const GcAlloc *alloc = f->alloc;
	size_t		n = f->n;
	int			q = f->q,
				nw = (q + 63) / 64;

	f->nw = nw;
	ALLOC(f->masks, n * nw);
	ALLOC(f->order, n);
	memset(f->masks, 0, sizeof(uint64_t) * n * nw);
	for (size_t i = 0; i < n; i++)
	{
		f->order[i] = i;
		for (int a = 0; a < q; a++)
			if (!isnan(f->Z[i * q + a]))
				f->masks[i * nw + a / 64] |= (uint64_t) 1 << (a % 64);
	}
	if (f->minibatch)
	{
		GcRng		rng;

		alloc->dealloc(alloc->ctx, f->Z0);
		f->Z0 = NULL;
		gc_rng_seed(&rng, f->opt->seed);
		for (size_t i = n - 1; i > 0; i--)
		{
			size_t		j = (size_t) gc_rng_below(&rng, i + 1);
			size_t		t = f->order[i];

			f->order[i] = f->order[j];
			f->order[j] = t;
		}
		ALLOC(f->batch, f->bsize);
	}
	else
	{
		double	   *tmp;
		uint8_t    *tmpb;
		uint64_t   *tmpm;
		double	  **mats[] = {&f->Z, &f->LO, &f->HI};
		int			anyint = 0;

		for (int a = 0; a < q; a++)
			anyint |= f->mayint[a];

		/*
		 * Without interval entries (all columns continuous) the rows go by number of
		 * missing entries first: the E-step then factors several patterns of one size at
		 * once (estep.c). LO, HI and ISINT are never read then, so they stay as they are.
		 */
		if (anyint)
			gc_sort_by_pattern(f->order, n, f->masks, nw);
		else
			gc_sort_by_size_pattern(f->order, n, f->masks, nw, q, alloc);
		tmp = f->Z0;
		f->Z0 = NULL;
		for (int k = 0; k < (anyint ? 3 : 1); k++)
		{
			double	   *src = *mats[k];

			for (size_t s = 0; s < n; s++)
				memcpy(tmp + s * q, src + f->order[s] * q, sizeof(double) * q);
			*mats[k] = tmp;
			tmp = src;
		}
		alloc->dealloc(alloc->ctx, tmp);
		if (anyint)
		{
			ALLOC(tmpb, n * q);
			for (size_t s = 0; s < n; s++)
				memcpy(tmpb + s * q, f->ISINT + f->order[s] * q, q);
			alloc->dealloc(alloc->ctx, f->ISINT);
			f->ISINT = tmpb;
		}
		ALLOC(tmpm, n * nw);
		for (size_t s = 0; s < n; s++)
			memcpy(tmpm + s * nw, f->masks + f->order[s] * nw, sizeof(uint64_t) * nw);
		alloc->dealloc(alloc->ctx, f->masks);
		f->masks = tmpm;
		for (size_t s = 0; s < n; s++)
			f->order[s] = s;
	}
done:
	return status;
}

/*
 * The EM iterations: Λ = Σ⁻¹ (regularised if Σ lost positive definiteness), a sweep over
 * all rows or over the next batch of the permutation (wrapping around), for mini-batches
 * the step Σ ← ηΣ_batch + (1 − η)Σ, and the stopping rule (never before every row has been
 * visited once); then Σ into the model's p×p correlation.
 */
static GcStatus
StdIterate(StdFit *f)
{
	const GcFitOptions *opt = f->opt;
	GcModel    *model = f->model;
	GcStatus	status;
	size_t		n = f->n;
	int			q = f->q,
				p = f->p;

	status = gc_precision_init(&f->prec, q, f->alloc);
	if (status != GC_OK)
		return status;
	status = gc_estep_init(&f->es, q, f->bsize, f->prec.Lam, f->alloc);
	if (status != GC_OK)
		return status;

	for (int iter = 1; iter <= f->max_iter; iter++)
	{
		double		ll = 0,
					delta;
		const size_t *rows = f->order;
		size_t		cnt = n;

		status = gc_precision_set(&f->prec, f->Sig, &model->ridge_steps);
		if (status != GC_OK)
		{
			snprintf(f->errmsg, f->errlen, "the correlation matrix is not positive definite at iteration %d", iter);
			return status;
		}
		if (f->minibatch)
		{
			size_t		lo = ((size_t) (iter - 1) * f->bsize) % n;

			for (size_t k = 0; k < f->bsize; k++)
				f->batch[k] = f->order[(lo + k) % n];
			gc_sort_by_pattern(f->batch, f->bsize, f->masks, f->nw);
			rows = f->batch;
			cnt = f->bsize;
		}
		status = gc_estep_sweep(&f->es, &f->prec, f->Z, f->LO, f->HI, f->ISINT, f->mayint,
								rows, cnt, f->masks, f->nw, opt->num_ord_updates, opt->tick,
								opt->progress_arg, f->Snew, &ll, f->errmsg, f->errlen);
		if (status != GC_OK)
			return status;
		if (f->minibatch)
		{
			double		eta = opt->stepsize_c / (opt->stepsize_c + iter);

			for (size_t k = 0; k < (size_t) q * q; k++)
				f->Snew[k] = eta * f->Snew[k] + (1 - eta) * f->Sig[k];
		}
		delta = gc_rel_change(f->Sig, f->Snew, q);
		memcpy(f->Sig, f->Snew, sizeof(double) * q * q);
		model->n_iter = iter;
		model->delta = delta;
		model->loglik = ll;
		if (opt->progress)
			opt->progress(opt->progress_arg, iter, delta, model->loglik);
		if (delta < opt->tol && (size_t) iter >= f->full_pass)
		{
			model->converged = 1;
			break;
		}
	}

	for (int b = 0; b < q; b++)
		for (int a = 0; a < q; a++)
			model->corr[f->act[a] + (size_t) f->act[b] * p] = f->Sig[a + (size_t) b * q];
	return GC_OK;
}

/* Free the working state; the model too unless the fit succeeded. */
static void
StdFree(StdFit *f, GcStatus status)
{
	const GcAlloc *alloc = f->alloc;
	void	   *ptrs[] = {f->act, f->Z, f->LO, f->HI, f->Sig, f->Snew, f->ISINT, f->mayint,
	f->masks, f->order, f->batch, f->Z0};

	gc_estep_free(&f->es, alloc);
	gc_precision_free(&f->prec, alloc);
	for (size_t k = 0; k < sizeof(ptrs) / sizeof(ptrs[0]); k++)
		if (ptrs[k])
			alloc->dealloc(alloc->ctx, ptrs[k]);
	if (status != GC_OK && f->model)
		gc_model_free(f->model, alloc);
}

/*
 * Standard EM (every iteration sweeps all rows) or mini-batch offline EM (docs/algorithms.md
 * §9: each step sweeps one batch of a seeded permutation and moves Σ towards the batch
 * estimate by η_t = c/(c+t); unlike the reference it never stops before every row has
 * been visited once).
 */
GcStatus
gc_fit_standard(const double *X, size_t n, int p, const GcFitOptions *opt,
				const GcAlloc *alloc, GcModel **model_out,
				char *errmsg, size_t errlen)
{
	StdFit		f = {.opt = opt, .alloc = alloc, .errmsg = errmsg, .errlen = errlen, .n = n, .p = p};
	GcStatus	status;

	/* inputs are validated here; LAPACKE's NaN scans would only cost time */
	LAPACKE_set_nancheck(0);
	*model_out = NULL;
	if (errlen > 0)
		errmsg[0] = '\0';
	status = StdValidate(&f);
	if (status != GC_OK)
		return status;
	status = StdBuildColumns(&f, X);
	if (status == GC_OK && f.q == 0)
		f.model->converged = 1;
	else if (status == GC_OK)
	{
		status = StdActiveAndStart(&f);
		if (status == GC_OK)
			status = StdOrderRows(&f);
		if (status == GC_OK)
			status = StdIterate(&f);
	}
	StdFree(&f, status);
	if (status == GC_OK)
		*model_out = f.model;
	return status;
}
