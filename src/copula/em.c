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

/*
 * The scratch of gc_fit_build_columns: one column's observed values and row numbers (with
 * the radix sort's spare arrays), and a block of GC_COL_BLOCK columns transposed (data,
 * latent values, level numbers).
 */
typedef struct ColumnScratch
{
	size_t		n;
	double	   *vals,
			   *tmpv,
			   *XT,
			   *ZT;
	uint32_t   *idx,
			   *tmpi,
			   *CT;				/* only when levels are wanted */
} ColumnScratch;

static void
ScratchFree(ColumnScratch *s, const GcAlloc *alloc)
{
	void	   *ptrs[] = {s->CT, s->XT, s->ZT, s->vals, s->tmpv, s->idx, s->tmpi};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	memset(s, 0, sizeof(*s));
}

static GcStatus
ScratchAlloc(ColumnScratch *s, size_t n, int codes, const GcAlloc *alloc)
{
	GcStatus	status = GC_OK;

	memset(s, 0, sizeof(*s));
	s->n = n;
	ALLOC(s->vals, n);
	ALLOC(s->tmpv, n);
	ALLOC(s->idx, n);
	ALLOC(s->tmpi, n);
	ALLOC(s->XT, n * GC_COL_BLOCK);
	ALLOC(s->ZT, n * GC_COL_BLOCK);
	if (codes)
		ALLOC(s->CT, n * GC_COL_BLOCK);
done:
	return status;
}

/*
 * Columns j0 … j0+nb−1 of the row-major X into XT, one column after the other: reading a
 * column of X, or scattering its latent values into Z, touches one cache line per row for a
 * single value, and over large inputs those misses dominated the set-up. A block's values
 * of one row share a cache line instead. Z and the levels start missing.
 */
static void
BlockIn(const double *X, size_t n, int p, int j0, int nb, ColumnScratch *s)
{
	/* a full block with a constant width: the compiler unrolls it */
	if (nb == GC_COL_BLOCK)
		for (size_t i = 0; i < n; i++)
			for (int jb = 0; jb < GC_COL_BLOCK; jb++)
				s->XT[jb * n + i] = X[i * p + j0 + jb];
	else
		for (size_t i = 0; i < n; i++)
			for (int jb = 0; jb < nb; jb++)
				s->XT[jb * n + i] = X[i * p + j0 + jb];
	for (size_t k = 0; k < n * (size_t) nb; k++)
		s->ZT[k] = NAN;
	if (s->CT)
		memset(s->CT, 0, sizeof(uint32_t) * n * nb);
}

/* The block's latent values (and levels) back into the rows of Z (and CODE). */
static void
BlockOut(const ColumnScratch *s, size_t n, int p, int j0, int nb, double *Z, uint32_t *CODE)
{
	if (nb == GC_COL_BLOCK)
		for (size_t i = 0; i < n; i++)
			for (int jb = 0; jb < GC_COL_BLOCK; jb++)
				Z[i * p + j0 + jb] = s->ZT[jb * n + i];
	else
		for (size_t i = 0; i < n; i++)
			for (int jb = 0; jb < nb; jb++)
				Z[i * p + j0 + jb] = s->ZT[jb * n + i];
	if (s->CT && nb == GC_COL_BLOCK)
		for (size_t i = 0; i < n; i++)
			for (int jb = 0; jb < GC_COL_BLOCK; jb++)
				CODE[i * p + j0 + jb] = s->CT[jb * n + i];
	else if (s->CT)
		for (size_t i = 0; i < n; i++)
			for (int jb = 0; jb < nb; jb++)
				CODE[i * p + j0 + jb] = s->CT[jb * n + i];
}

/*
 * Marginal m of column j (its values xc, n rows): the observed values sorted with their row
 * numbers into s->vals/s->idx (*nobs of them, *ndist distinct), the type decided (declared,
 * or detected where opt asks for it), the knots built.
 */
static GcStatus
ColumnMarginal(const double *xc, size_t n, int j, const GcFitOptions *opt, const GcAlloc *alloc,
			   ColumnScratch *s, GcMarginal *m, size_t *nobs_out, size_t *ndist_out,
			   char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	size_t		nobs = 0,
				ndist;
	int			type = opt->types ? opt->types[j] : GC_AUTO;
	int			detected;
	double	   *x,
			   *cum,
			   *mult;
	int			cap;

	/* branch-free: a missing entry is written and then overwritten */
	for (size_t i = 0; i < n; i++)
	{
		double		v = xc[i];

		s->vals[nobs] = v;
		s->idx[nobs] = (uint32_t) i;
		nobs += !isnan(v);
	}
	if (nobs == 0)
	{
		snprintf(errmsg, errlen, "column %d has no observed values", j + 1);
		return GC_EINVAL;
	}
	gc_radix_sort(s->vals, s->idx, nobs, s->tmpv, s->tmpi);
	ndist = gc_count_distinct(s->vals, nobs);
	detected = gc_detect_type(s->vals, nobs, opt->min_ord_ratio);
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
		return GC_EINVAL;
	}

	cap = opt->max_knots;
	if (ndist < (size_t) cap)
		cap = (int) ndist;
	ALLOC(x, cap);
	ALLOC(cum, cap);
	ALLOC(mult, cap);
	m->type = type;
	m->n = (double) nobs;
	m->nknots = gc_build_knots(s->vals, nobs, opt->max_knots, x, cum, mult, &m->exact);
	m->x = x;
	m->cum = cum;
	m->mult = mult;
	gc_marginal_prepare(m);
	if (gc_marginal_check(m) != NULL)
	{
		snprintf(errmsg, errlen, "column %d cannot be modelled as %s: %s", j + 1,
				 gc_vartype_name(type), gc_marginal_check(m));
		return GC_EINVAL;
	}
	*nobs_out = nobs;
	*ndist_out = ndist;
done:
	return status;
}

/*
 * A continuous column of distinct values (the usual one): rank e gets Φ⁻¹(e/(n+1)), and Φ⁻¹
 * is odd about 1/2, so the upper half of the ranks mirrors the lower half; s->tmpv (free
 * after the sort) keeps the lower half. Only Z is written: LO, HI and ISINT are read for
 * interval entries only.
 */
static void
LatentDistinct(ColumnScratch *s, size_t nobs, double *zc)
{
	double		dn = (double) nobs;
	size_t		half = (nobs + 1) / 2;

	for (size_t t = 0; t < nobs; t++)
	{
		double		z;

		if (t < half)
			z = s->tmpv[t] = gc_norm_ppf((double) (t + 1) / dn * (dn / (dn + 1)));
		else
			z = -s->tmpv[nobs - 1 - t];
		zc[s->idx[t]] = z;
	}
}

/*
 * The latent point or interval of every group of equal observed values of column j
 * (jb-th of its block, marginal m): continuous ties share the ECDF value of the group's
 * end; other types get the interval of their level, starting at its truncated-normal mean,
 * written to LO/HI/ISINT, or as a level number in s->CT when levels are wanted.
 */
static GcStatus
LatentGroups(ColumnScratch *s, size_t nobs, int p, int j, int jb, const GcMarginal *m,
			 const GcAlloc *alloc, GcLevels *lv, double *LO, double *HI, uint8_t *ISINT)
{
	size_t		n = s->n;
	double	   *zc = s->ZT + (size_t) jb * n;
	const double *vals = s->vals;
	const uint32_t *idx = s->idx;

	for (size_t g = 0; g < nobs;)
	{
		size_t		e = g + 1;
		double		lo,
					hi,
					z;
		int			isint;

		while (e < nobs && vals[e] == vals[g])
			e++;
		if (m->type == GC_CONTINUOUS)
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
		if (s->CT)
		{
			/* the level's number in the block's column, like its latent value */
			uint32_t   *cc = s->CT + (size_t) jb * n;
			uint32_t	code = 0;

			if (isint && (code = LevelsPush(lv, alloc, lo, hi)) == 0)
				return GC_ENOMEM;
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
	return GC_OK;
}

/*
 * Build the p marginals (detecting types where asked) and the latent matrix in one pass per
 * column: sort the column's observed values with their row numbers, then give every group
 * of equal values its latent point or interval. Continuous training values get the exact
 * ECDF z = Φ⁻¹(F̂(x)·n/(n+1)) (docs/algorithms.md §2) even when the stored marginal is compressed.
 * Z, LO, HI, ISINT (or CODE) are n×p row-major; missing entries are NaN in Z. LO and HI are
 * set where the column's type can produce intervals (not for continuous columns).
 */
GcStatus
gc_fit_build_columns(const double *X, size_t n, int p, const GcFitOptions *opt,
			 const GcAlloc *alloc, GcModel *model, double *Z, double *LO, double *HI,
			 uint8_t *ISINT, uint32_t *CODE, GcLevels *lv, char *errmsg, size_t errlen)
{
	GcStatus	status;
	ColumnScratch s;

	if (ISINT)
		memset(ISINT, 0, n * (size_t) p);
	status = ScratchAlloc(&s, n, CODE != NULL, alloc);
	for (int j0 = 0; status == GC_OK && j0 < p; j0 += GC_COL_BLOCK)
	{
		int			nb = p - j0 < GC_COL_BLOCK ? p - j0 : GC_COL_BLOCK;

		BlockIn(X, n, p, j0, nb, &s);
		for (int jb = 0; status == GC_OK && jb < nb; jb++)
		{
			int			j = j0 + jb;
			GcMarginal *m = &model->marg[j];
			size_t		nobs,
						ndist;

			status = ColumnMarginal(s.XT + (size_t) jb * n, n, j, opt, alloc, &s, m, &nobs, &ndist,
									errmsg, errlen);
			if (status != GC_OK || m->type == GC_CONSTANT)
				continue;
			if (m->type == GC_CONTINUOUS && ndist == nobs)
				LatentDistinct(&s, nobs, s.ZT + (size_t) jb * n);
			else
				status = LatentGroups(&s, nobs, p, j, jb, m, alloc, lv, LO, HI, ISINT);
		}
		if (status == GC_OK)
			BlockOut(&s, n, p, j0, nb, Z, CODE);
	}
	ScratchFree(&s, alloc);
	return status;
}

/* The working state of gc_em_latent's iterations. */
typedef struct EmRun
{
	size_t		n;
	int			q;
	int			nw;				/* 64-bit words of a row's observed mask */
	int			minibatch;
	size_t		bsize;			/* rows per E-step */
	size_t		full_pass;		/* steps that visit every row once */
	int			max_iter;
	double	   *Snew,			/* the M-step's estimate, q×q */
			   *Z0;				/* zero-filled latent rows; reused as a buffer */
	uint64_t   *masks;			/* n×nw observed masks */
	size_t	   *order,			/* the rows in sweep order */
			   *batch;			/* mini-batch: this step's rows */
	GcPrecision prec;
	GcEStep		es;
} EmRun;

/* Validate: the rows per step, the steps per pass and the iteration limit of the schedule. */
static GcStatus
EmSchedule(EmRun *r, const GcFitOptions *opt, char *errmsg, size_t errlen)
{
	r->minibatch = (opt->training == GC_TRAIN_MINIBATCH_OFFLINE);
	r->bsize = r->minibatch ? (size_t) opt->batch_size : r->n;
	r->max_iter = opt->max_iter;
	r->full_pass = 1;
	if (!r->minibatch)
		return GC_OK;
	if (r->bsize < 2)
	{
		snprintf(errmsg, errlen, "batch_size must be at least 2");
		return GC_EINVAL;
	}
	if (r->bsize > r->n)
		r->bsize = r->n;
	r->full_pass = (r->n + r->bsize - 1) / r->bsize;
	r->max_iter = (int) (r->full_pass * (size_t) (opt->num_pass > 0 ? opt->num_pass : 1));
	if (opt->num_pass <= 0)
		r->max_iter = opt->max_iter > (int) r->full_pass ? opt->max_iter : (int) r->full_pass;
	return GC_OK;
}

/* Σ₀ = corrcoef of the zero-filled latent matrix (docs/algorithms.md §4), projected. */
static GcStatus
EmStart(EmRun *r, const double *Z, GcProjectFn project, void *project_arg, const GcAlloc *alloc,
		double *Sig)
{
	GcStatus	status = GC_OK;
	size_t		n = r->n;
	int			q = r->q;
	double	   *mean;

	ALLOC(r->Snew, (size_t) q * q);
	/* Z0 is kept: the rows are put in pattern order into it */
	ALLOC(r->Z0, n * q);
	ALLOC(mean, q);
	for (size_t k = 0; k < n * q; k++)
		r->Z0[k] = isnan(Z[k]) ? 0.0 : Z[k];
	gc_cov_rows(r->Z0, n, q, Sig, mean, NULL, NULL);
	gc_cov_to_corr(Sig, q, 1);
	alloc->dealloc(alloc->ctx, mean);
	if (project)
		project(Sig, q, project_arg);
done:
	return status;
}

/* Each row's missingness pattern as a bit mask of its observed entries; order the identity. */
static GcStatus
EmPatterns(EmRun *r, const double *Z, const GcAlloc *alloc)
{
	GcStatus	status = GC_OK;
	size_t		n = r->n;
	int			q = r->q,
				nw = r->nw = (q + 63) / 64;

	ALLOC(r->masks, n * nw);
	ALLOC(r->order, n);
	memset(r->masks, 0, sizeof(uint64_t) * n * nw);
	for (size_t i = 0; i < n; i++)
	{
		r->order[i] = i;
		for (int a = 0; a < q; a++)
			if (!isnan(Z[i * q + a]))
				r->masks[i * nw + a / 64] |= (uint64_t) 1 << (a % 64);
	}
done:
	return status;
}

/* Mini-batch: the rows in a seeded permutation (Fisher–Yates), and room for one batch. */
static GcStatus
EmShuffle(EmRun *r, uint64_t seed, const GcAlloc *alloc)
{
	GcStatus	status = GC_OK;
	GcRng		rng;

	alloc->dealloc(alloc->ctx, r->Z0);
	r->Z0 = NULL;
	gc_rng_seed(&rng, seed);
	for (size_t i = r->n - 1; i > 0; i--)
	{
		size_t		j = (size_t) gc_rng_below(&rng, i + 1);
		size_t		t = r->order[i];

		r->order[i] = r->order[j];
		r->order[j] = t;
	}
	ALLOC(r->batch, r->bsize);
done:
	return status;
}

/*
 * Standard EM sweeps every row in pattern order each iteration. Put the rows in that order
 * once, physically: the sweeps then read the latent matrices in sequence instead of jumping
 * from row to row (when patterns are mostly distinct, pattern order is a random
 * permutation). Same rows in the same order: the same arithmetic.
 */
static GcStatus
EmPatternOrder(EmRun *r, double **Zp, double **LOp, double **HIp, uint8_t **ISINTp,
			   const uint8_t *mayint, const GcAlloc *alloc)
{
	GcStatus	status = GC_OK;
	size_t		n = r->n;
	int			q = r->q,
				nw = r->nw;
	double	   *tmp;
	uint8_t    *tmpb;
	uint64_t   *tmpm;
	double	  **mats[] = {Zp, LOp, HIp};
	int			anyint = 0;

	for (int a = 0; a < q; a++)
		anyint |= mayint[a];

	/*
	 * Without interval entries (all columns continuous) the rows go by number of missing
	 * entries first: the E-step then factors several patterns of one size at once
	 * (estep.c). LO, HI and ISINT are never read then, so they stay as they are.
	 */
	if (anyint)
		gc_sort_by_pattern(r->order, n, r->masks, nw);
	else
		gc_sort_by_size_pattern(r->order, n, r->masks, nw, q, alloc);
	tmp = r->Z0;
	r->Z0 = NULL;
	for (int k = 0; k < (anyint ? 3 : 1); k++)
	{
		double	   *src = *mats[k];

		for (size_t s = 0; s < n; s++)
			memcpy(tmp + s * q, src + r->order[s] * q, sizeof(double) * q);
		*mats[k] = tmp;
		tmp = src;
	}
	alloc->dealloc(alloc->ctx, tmp);
	if (anyint)
	{
		ALLOC(tmpb, n * q);
		for (size_t s = 0; s < n; s++)
			memcpy(tmpb + s * q, *ISINTp + r->order[s] * q, q);
		alloc->dealloc(alloc->ctx, *ISINTp);
		*ISINTp = tmpb;
	}
	ALLOC(tmpm, n * nw);
	for (size_t s = 0; s < n; s++)
		memcpy(tmpm + s * nw, r->masks + r->order[s] * nw, sizeof(uint64_t) * nw);
	alloc->dealloc(alloc->ctx, r->masks);
	r->masks = tmpm;
	for (size_t s = 0; s < n; s++)
		r->order[s] = s;
done:
	return status;
}

/*
 * The iterations: Λ = Σ⁻¹, an E-step over all rows (or this step's batch), the M-step
 * (moved towards by η_t = c/(c+t) in mini-batch), the projection, until the relative change
 * falls below tol after at least one full pass.
 */
static GcStatus
EmIterate(EmRun *r, double *Z, double *LO, double *HI, uint8_t *ISINT, const uint8_t *mayint,
		  const GcFitOptions *opt, GcProjectFn project, void *project_arg, GcModel *model,
		  double *Sig, char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	size_t		n = r->n;
	int			q = r->q;

	for (int iter = 1; iter <= r->max_iter; iter++)
	{
		double		ll = 0,
					delta;
		const size_t *rows = r->order;
		size_t		cnt = n;

		/* Λ = Σ⁻¹ once per iteration (regularised if Σ lost positive definiteness) */
		status = gc_precision_set(&r->prec, Sig, &model->ridge_steps);
		if (status != GC_OK)
		{
			snprintf(errmsg, errlen, "the correlation matrix is not positive definite at iteration %d", iter);
			return status;
		}
		if (r->minibatch)
		{
			/* batch iter-1 of the permutation, wrapping around */
			size_t		lo = ((size_t) (iter - 1) * r->bsize) % n;

			for (size_t k = 0; k < r->bsize; k++)
				r->batch[k] = r->order[(lo + k) % n];
			gc_sort_by_pattern(r->batch, r->bsize, r->masks, r->nw);
			rows = r->batch;
			cnt = r->bsize;
		}
		status = gc_estep_sweep(&r->es, &r->prec, Z, LO, HI, ISINT, mayint, rows, cnt, r->masks, r->nw,
								opt->num_ord_updates, opt->tick, opt->progress_arg,
								r->Snew, &ll, errmsg, errlen);
		if (status != GC_OK)
			return status;
		if (r->minibatch)
		{
			double		eta = opt->stepsize_c / (opt->stepsize_c + iter);

			for (size_t k = 0; k < (size_t) q * q; k++)
				r->Snew[k] = eta * r->Snew[k] + (1 - eta) * Sig[k];
		}
		if (project)
			project(r->Snew, q, project_arg);
		delta = gc_rel_change(Sig, r->Snew, q);
		memcpy(Sig, r->Snew, sizeof(double) * q * q);
		model->n_iter = iter;
		model->delta = delta;
		model->loglik = ll;
		if (opt->progress)
			opt->progress(opt->progress_arg, iter, delta, model->loglik);
		if (delta < opt->tol && (size_t) iter >= r->full_pass)
		{
			model->converged = 1;
			break;
		}
	}
	return status;
}

static void
EmFree(EmRun *r, const GcAlloc *alloc)
{
	void	   *ptrs[] = {r->Snew, r->masks, r->order, r->batch, r->Z0};

	gc_estep_free(&r->es, alloc);
	gc_precision_free(&r->prec, alloc);
	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
}

/*
 * The EM iterations on an n×q latent matrix of active columns (docs/algorithms.md §4–§7): Σ₀ from the
 * zero-filled matrix, then E-steps grouped by missingness pattern and M-steps, until
 * ‖ΔΣ‖_F/‖Σ_new‖_F < tol. Standard EM sweeps every row per iteration; mini-batch offline EM
 * (docs/algorithms.md §9) sweeps one batch of a seeded permutation per step and moves Σ towards the
 * batch estimate by η_t = c/(c+t) (unlike the reference it never stops before every row
 * has been visited once). project, when given, maps Σ₀ and every M-step estimate onto a
 * constraint set in place (the temporal model's block-Toeplitz form). *Z, *LO, *HI and
 * *ISINT may be replaced by permuted copies (the originals freed); the caller frees what
 * they point to on return. Sig (q×q) receives Σ; model the fit's diagnostics.
 */
GcStatus
gc_em_latent(double **Zp, double **LOp, double **HIp, uint8_t **ISINTp, const uint8_t *mayint,
			 size_t n, int q, const GcFitOptions *opt, GcProjectFn project, void *project_arg,
			 const GcAlloc *alloc, GcModel *model, double *Sig, char *errmsg, size_t errlen)
{
	GcStatus	status;
	EmRun		r = {.n = n, .q = q};

	status = EmSchedule(&r, opt, errmsg, errlen);
	if (status != GC_OK)
		return status;
	model->max_iter = r.max_iter;
	status = EmStart(&r, *Zp, project, project_arg, alloc, Sig);
	if (status == GC_OK)
		status = EmPatterns(&r, *Zp, alloc);
	if (status == GC_OK)
		status = r.minibatch ? EmShuffle(&r, opt->seed, alloc)
			: EmPatternOrder(&r, Zp, LOp, HIp, ISINTp, mayint, alloc);
	if (status == GC_OK)
		status = gc_precision_init(&r.prec, q, alloc);
	if (status == GC_OK)
		status = gc_estep_init(&r.es, q, r.bsize, r.prec.Lam, alloc);
	if (status == GC_OK)
		status = EmIterate(&r, *Zp, *LOp, *HIp, *ISINTp, mayint, opt, project, project_arg, model,
						   Sig, errmsg, errlen);
	EmFree(&r, alloc);
	return status;
}

/* Check the row count and width shared by the fits; 0 when fine. */
int
gc_fit_check_size(size_t n, int p, char *errmsg, size_t errlen)
{
	if (n == 0)
	{
		snprintf(errmsg, errlen, "no rows to fit");
		return -1;
	}
	if (n >= UINT32_MAX)
	{
		snprintf(errmsg, errlen, "too many rows: %zu", n);
		return -1;
	}
	if (p < 1)
	{
		snprintf(errmsg, errlen, "rows must have at least one column");
		return -1;
	}
	return 0;
}

/* A model of p columns with its marginal slots zeroed and corr the identity; NULL on ENOMEM. */
static GcModel *
NewModel(int p, size_t nrows, const GcFitOptions *opt, const GcAlloc *alloc)
{
	GcModel    *model = alloc->alloc(alloc->ctx, sizeof(GcModel));

	if (model == NULL)
		return NULL;
	memset(model, 0, sizeof(*model));
	model->p = p;
	model->kind = GC_MODEL_FULL;
	model->nrows = (int64_t) nrows;
	model->tol = opt->tol;
	model->max_iter = opt->max_iter;
	model->training = opt->training;
	model->marg = alloc->alloc(alloc->ctx, sizeof(GcMarginal) * p);
	if (model->marg != NULL)
		memset(model->marg, 0, sizeof(GcMarginal) * p);
	model->corr = alloc->alloc(alloc->ctx, sizeof(double) * (size_t) p * p);
	if (model->marg == NULL || model->corr == NULL)
	{
		gc_model_free(model, alloc);
		return NULL;
	}
	/* Σ over all p columns starts as the identity; constant columns keep identity rows */
	memset(model->corr, 0, sizeof(double) * p * p);
	for (int j = 0; j < p; j++)
		model->corr[j + (size_t) j * p] = 1.0;
	return model;
}

static void
LatentFree(GcLatent *lat, const GcAlloc *alloc)
{
	void	   *ptrs[] = {lat->act, lat->Z, lat->LO, lat->HI, lat->ISINT, lat->mayint};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	memset(lat, 0, sizeof(*lat));
}

/*
 * Build model's marginals from the n×p rows X and the latent rows of its active columns
 * into lat (q = 0 when every column is constant). The caller frees lat, also on failure.
 */
static GcStatus
LatentActive(const double *X, size_t n, int p, const GcFitOptions *opt,
			 const GcAlloc *alloc, GcModel *model, GcLatent *lat,
			 char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	int			q = 0;

	memset(lat, 0, sizeof(*lat));
	ALLOC(lat->Z, n * p);
	ALLOC(lat->LO, n * p);
	ALLOC(lat->HI, n * p);
	ALLOC(lat->ISINT, n * p);
	status = gc_fit_build_columns(X, n, p, opt, alloc, model, lat->Z, lat->LO, lat->HI,
								  lat->ISINT, NULL, NULL, errmsg, errlen);
	if (status != GC_OK)
		goto done;
	ALLOC(lat->act, p);
	for (int j = 0; j < p; j++)
		if (model->marg[j].type != GC_CONSTANT)
			lat->act[q++] = j;
	lat->q = q;
	/* keep the active columns: n×q row-major, in place (entries only move left) */
	if (q < p)
		for (size_t i = 0; i < n; i++)
			for (int a = 0; a < q; a++)
			{
				lat->Z[i * q + a] = lat->Z[i * p + lat->act[a]];
				lat->LO[i * q + a] = lat->LO[i * p + lat->act[a]];
				lat->HI[i * q + a] = lat->HI[i * p + lat->act[a]];
				lat->ISINT[i * q + a] = lat->ISINT[i * p + lat->act[a]];
			}
	ALLOC(lat->mayint, q);
	for (int a = 0; a < q; a++)
		lat->mayint[a] = (model->marg[lat->act[a]].type != GC_CONTINUOUS);
done:
	return status;
}

GcStatus
gc_fit_begin(const double *X, size_t n, int p, const GcFitOptions *opt, const GcAlloc *alloc,
			 GcModel **model, GcLatent *lat, char *errmsg, size_t errlen)
{
	GcStatus	status;

	/* inputs are validated here; LAPACKE's NaN scans would only cost time */
	LAPACKE_set_nancheck(0);
	memset(lat, 0, sizeof(*lat));
	*model = NULL;
	if (errlen > 0)
		errmsg[0] = '\0';
	if (gc_fit_check_size(n, p, errmsg, errlen) != 0)
		return GC_EINVAL;
	*model = NewModel(p, n, opt, alloc);
	if (*model == NULL)
		return GC_ENOMEM;
	status = LatentActive(X, n, p, opt, alloc, *model, lat, errmsg, errlen);
	/* nothing to iterate on when every column is constant */
	if (status == GC_OK && lat->q == 0)
		(*model)->converged = 1;
	return status;
}

GcStatus
gc_fit_end(GcStatus status, GcModel *model, GcLatent *lat, double *Sig, const GcAlloc *alloc,
		   GcModel **model_out)
{
	LatentFree(lat, alloc);
	if (Sig)
		alloc->dealloc(alloc->ctx, Sig);
	*model_out = NULL;
	if (status != GC_OK)
	{
		if (model)
			gc_model_free(model, alloc);
		return status;
	}
	*model_out = model;
	return GC_OK;
}

/* Standard or mini-batch offline EM on the rows of X (copula.h). */
GcStatus
gc_fit_standard(const double *X, size_t n, int p, const GcFitOptions *opt,
				const GcAlloc *alloc, GcModel **model_out,
				char *errmsg, size_t errlen)
{
	GcStatus	status;
	GcModel    *model;
	GcLatent	lat;
	double	   *Sig = NULL;
	int			q;

	status = gc_fit_begin(X, n, p, opt, alloc, &model, &lat, errmsg, errlen);
	if (status != GC_OK || lat.q == 0)
		goto done;
	q = lat.q;
	ALLOC(Sig, (size_t) q * q);
	status = gc_em_latent(&lat.Z, &lat.LO, &lat.HI, &lat.ISINT, lat.mayint, n, q, opt, NULL,
						  NULL, alloc, model, Sig, errmsg, errlen);
	if (status != GC_OK)
		goto done;
	for (int b = 0; b < q; b++)
		for (int a = 0; a < q; a++)
			model->corr[lat.act[a] + (size_t) lat.act[b] * p] = Sig[a + (size_t) b * q];

done:
	return gc_fit_end(status, model, &lat, Sig, alloc, model_out);
}
