/*
 * estep.c — the E-step of the copula EM over a set of rows (spec §1.5) and the moments of
 * the M-step (§1.6), one missingness pattern at a time.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* qsort_r */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "estep.h"
#include "normal.h"

GcStatus
gc_estep_init(GcEStep *es, int q, size_t cap, const double *Lam, const GcAlloc *alloc)
{
	size_t		qi = q > 0 ? q : 1;
	GcStatus	st;

	memset(es, 0, sizeof(*es));
	es->q = q;
	es->cap = cap;
	st = gc_cond_init(&es->cond, q, Lam, alloc);
	if (st != GC_OK)
		return st;
	es->cond.lazy_sm = 1;		/* C̄ takes Λ_MM⁻¹ from gc_cond_add_cov */
	es->Cbar = alloc->alloc(alloc->ctx, sizeof(double) * qi * qi);
	es->v = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	es->mean = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	es->buf = alloc->alloc(alloc->ctx, sizeof(double) * qi * (cap > 0 ? cap : 1));
	es->obs = alloc->alloc(alloc->ctx, qi);
	es->T = alloc->alloc(alloc->ctx, sizeof(double) * qi * (cap > 0 ? cap : 1));
	es->vsum = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	if (!es->Cbar || !es->v || !es->mean || !es->buf || !es->obs || !es->T || !es->vsum)
		return GC_ENOMEM;
	memset(es->vsum, 0, sizeof(double) * qi);
	return GC_OK;
}

void
gc_estep_free(GcEStep *es, const GcAlloc *alloc)
{
	void	   *ptrs[] = {es->Cbar, es->v, es->mean, es->buf, es->obs, es->T, es->vsum};

	gc_cond_free(&es->cond, alloc);
	for (size_t k = 0; k < sizeof(ptrs) / sizeof(ptrs[0]); k++)
		if (ptrs[k])
			alloc->dealloc(alloc->ctx, ptrs[k]);
	memset(es, 0, sizeof(*es));
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

void
gc_sort_by_pattern(size_t *idx, size_t cnt, const uint64_t *masks, int nw)
{
	PatternSort ps = {masks, nw};

	qsort_r(idx, cnt, sizeof(size_t), CmpPattern, &ps);
}

GcStatus
gc_estep_sweep(GcEStep *es, const GcPrecision *prec, double *Z,
			   const double *LO, const double *HI, const uint8_t *ISINT,
			   const uint8_t *mayint, const size_t *idx, size_t cnt,
			   const uint64_t *masks, int nw, int num_ord_updates,
			   void (*tick) (void *), void *tick_arg,
			   double *S, double *ll_out, char *errmsg, size_t errlen)
{
	int			q = es->q;
	GcCond	   *cond = &es->cond;
	double	   *Cbar = es->Cbar;
	double		ll = 0,
				quad = 0;
	size_t		start = 0,
				ticked = 0;

	memset(Cbar, 0, sizeof(double) * q * q);

	/*
	 * T = Z₀ Λ for all the rows in one dgemm (Z₀: missing entries as 0): rows without
	 * interval entries read Λ_MO z_O off it instead of gathering it row by row.
	 */
	for (size_t s = 0; s < cnt; s++)
	{
		const double *z = Z + idx[s] * q;
		double	   *b = es->buf + s * q;

		for (int a = 0; a < q; a++)
			b[a] = isnan(z[a]) ? 0.0 : z[a];
	}
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, q, (int) cnt, q, 1.0,
				prec->Lam, q, es->buf, q, 0.0, es->T, q);

	while (start < cnt)
	{
		size_t		end = start + 1;
		size_t		i0 = idx[start];
		GcStatus	st;

		if (tick && start - ticked >= 4096)
		{
			tick(tick_arg);
			ticked = start;
		}
		while (end < cnt && memcmp(masks + idx[end] * nw, masks + i0 * nw,
								   sizeof(uint64_t) * nw) == 0)
			end++;
		for (int a = 0; a < q; a++)
			es->obs[a] = !isnan(Z[i0 * q + a]);
		st = gc_cond_pattern(cond, es->obs, mayint);
		if (st != GC_OK)
		{
			snprintf(errmsg, errlen, "the conditional precision of a missingness pattern is not positive definite");
			return st;
		}
		/* C̄[M,M] += rows × Cov[z_M | z_O] (lower triangle, mirror pairs summed) */
		gc_cond_add_cov(cond, Cbar, (double) (end - start));

		for (size_t s = start; s < end; s++)
		{
			size_t		i = idx[s];
			double	   *zh = es->buf + s * q;
			double	   *z = Z + i * q;
			int			nint;

			memcpy(zh, z, sizeof(double) * q);
			nint = 0;
			for (int b = 0; b < cond->nj; b++)
				nint += ISINT[i * q + cond->Jp[b]];
			if (nint == 0)
				gc_cond_mean_from(cond, zh, es->T + s * q);
			else
				nint = gc_cond_row(cond, zh, LO + i * q, HI + i * q, ISINT + i * q,
								   num_ord_updates, es->v);
			/* the updated interval entries persist (warm start next time) */
			if (nint > 0)
				for (int b = 0; b < cond->nj; b++)
					z[cond->Jp[b]] = zh[cond->Jp[b]];
			/* ℓ_i without its quadratic term z̃ᵀΛz̃, added from the Gram matrix below */
			ll += -0.5 * (prec->logdet + cond->logdet_lmm + cond->mo * GC_LOG2PI);

			/* C_i's ordinal terms are linear in v: sum v over the pattern's rows first */
			if (nint > 0)
				for (int k = 0; k < cond->nj; k++)
					es->vsum[k] += es->v[cond->Jp[k]];
		}

		/*
		 * C̄ += Σ_rows C_i for the pattern (spec §1.5 step 5): with V = Σ_rows v (per
		 * observed ordinal column j) and B_J = −GJᵀ, the terms are diag(V) on J,
		 * K = B_Jᵀ diag(V) on (M,J) and (J,M), and K B_J = GJ diag(V) GJᵀ on (M,M).
		 * Like the covariance term, only the lower triangle is written, each entry
		 * with the sum of its mirror pair.
		 */
		for (int k = 0; k < cond->nj; k++)
		{
			int			j = cond->Jp[k];
			double		vj = es->vsum[k];
			const double *g = cond->GJ + (size_t) k * cond->mm;

			if (vj == 0)
				continue;
			Cbar[j + (size_t) j * q] += vj;
			for (int a = 0; a < cond->mm; a++)
			{
				int			m = cond->M[a];
				double		gv = g[a] * vj;
				double	   *cm = Cbar + (size_t) m * q;

				/* (m, j) and (j, m): the same value twice, in the cell below the diagonal */
				if (m > j)
					Cbar[m + (size_t) j * q] -= 2 * gv;
				else
					cm[j] -= 2 * gv;
				/* (m, m') for m' >= m: once on the diagonal, twice below it */
				cm[m] += gv * g[a];
				for (int a2 = a + 1; a2 < cond->mm; a2++)
					cm[cond->M[a2]] += 2 * gv * g[a2];
			}
			es->vsum[k] = 0;
		}
		start = end;
	}

	/* M-step moments: S = cov(Ẑ) (divisor cnt−1) + C̄/cnt, rescaled to a correlation matrix */
	gc_cov_rows(es->buf, cnt, q, S, es->mean, prec->Lam, &quad);
	ll += -0.5 * quad;
	/* C̄'s lower triangle holds mirror-pair sums: halve them off the diagonal */
	for (int b = 0; b < q; b++)
		for (int a = b; a < q; a++)
		{
			double		c = (a == b ? Cbar[a + (size_t) a * q] : 0.5 * Cbar[a + (size_t) b * q]) / (double) cnt;

			S[a + (size_t) b * q] += c;
			if (a != b)
				S[b + (size_t) a * q] += c;
		}
	if (gc_cov_to_corr(S, q, 0) != 0)
	{
		snprintf(errmsg, errlen, "a latent variable has zero variance in the E-step");
		return GC_EDEGENERATE;
	}
	*ll_out = ll / (double) cnt;
	return GC_OK;
}
