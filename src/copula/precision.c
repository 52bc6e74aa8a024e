/*
 * precision.c — Cholesky-based precision matrix, covariance by dsyrk, correlation scaling.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "copula/precision.h"

GcStatus
gc_precision_init(GcPrecision *pr, int q, const GcAlloc *alloc)
{
	size_t		qq = (size_t) q * q;

	pr->q = q;
	pr->logdet = 0;
	pr->L = alloc->alloc(alloc->ctx, sizeof(double) * (qq ? qq : 1));
	pr->Lam = alloc->alloc(alloc->ctx, sizeof(double) * (qq ? qq : 1));
	if (!pr->L || !pr->Lam)
		return GC_ENOMEM;
	return GC_OK;
}

void
gc_precision_free(GcPrecision *pr, const GcAlloc *alloc)
{
	if (pr->L)
		alloc->dealloc(alloc->ctx, pr->L);
	if (pr->Lam)
		alloc->dealloc(alloc->ctx, pr->Lam);
	pr->L = pr->Lam = NULL;
}

GcStatus
gc_precision_set(GcPrecision *pr, const double *Sigma, int *ridge)
{
	int			q = pr->q;
	double		eps = 0;
	lapack_int	info;

	for (;;)
	{
		memcpy(pr->L, Sigma, sizeof(double) * q * q);
		if (eps > 0)
			for (int a = 0; a < q; a++)
				for (int b = 0; b < q; b++)
					pr->L[a + (size_t) b * q] = (1 - eps) * pr->L[a + (size_t) b * q] + (a == b ? eps : 0);
		info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', q, pr->L, q);
		if (info < 0)
			return GC_ELAPACK;
		if (info == 0)
			break;
		eps = eps == 0 ? 1e-10 : eps * 10;
		if (eps > 0.5)
			return GC_ENOTPD;
		if (ridge)
			(*ridge)++;
	}
	pr->logdet = 0;
	for (int a = 0; a < q; a++)
		pr->logdet += 2 * log(pr->L[a + (size_t) a * q]);
	memcpy(pr->Lam, pr->L, sizeof(double) * q * q);
	info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', q, pr->Lam, q);
	if (info != 0)
		return info > 0 ? GC_ENOTPD : GC_ELAPACK;
	for (int b = 0; b < q; b++)
		for (int a = 0; a < b; a++)
			pr->Lam[a + (size_t) b * q] = pr->Lam[b + (size_t) a * q];
	return GC_OK;
}

void
gc_cov_rows(const double *A, size_t n, int q, double *cov, double *mean,
			const double *Lam, double *quad)
{
	double		dn = (double) n;

	for (int a = 0; a < q; a++)
		mean[a] = 0;
	for (size_t i = 0; i < n; i++)
		for (int a = 0; a < q; a++)
			mean[a] += A[i * q + a];
	for (int a = 0; a < q; a++)
		mean[a] /= dn;

	/* A row-major n×q is column-major q×n: cov = A Aᵀ (q×q), lower triangle */
	cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, (int) n, 1.0, A, q, 0.0, cov, q);
	if (Lam)
	{
		double		s = 0;

		for (int b = 0; b < q; b++)
		{
			s += Lam[b + (size_t) b * q] * cov[b + (size_t) b * q];
			for (int a = b + 1; a < q; a++)
				s += 2 * Lam[a + (size_t) b * q] * cov[a + (size_t) b * q];
		}
		*quad = s;
	}
	for (int b = 0; b < q; b++)
		for (int a = b; a < q; a++)
		{
			double		c = (cov[a + (size_t) b * q] - dn * mean[a] * mean[b]) / (dn > 1 ? dn - 1 : 1);

			cov[a + (size_t) b * q] = c;
			cov[b + (size_t) a * q] = c;
		}
}

int
gc_cov_to_corr(double *S, int q, int lenient)
{
	double	   *dscale = malloc(sizeof(double) * (q > 0 ? q : 1));

	if (dscale == NULL)
		return 2;
	for (int a = 0; a < q; a++)
	{
		double		d = S[a + (size_t) a * q];

		if (!(d > 1e-12) || !isfinite(d))
		{
			if (!lenient)
			{
				free(dscale);
				return 1;
			}
			dscale[a] = 0;
		}
		else
			dscale[a] = 1.0 / sqrt(d);
	}
	for (int b = 0; b < q; b++)
		for (int a = 0; a < q; a++)
		{
			double	   *s = &S[a + (size_t) b * q];

			if (a == b)
				*s = 1.0;
			else if (dscale[a] == 0 || dscale[b] == 0)
				*s = 0.0;
			else
				*s = *s * (dscale[a] * dscale[b]);	/* same product for (a,b) and (b,a) */
		}
	free(dscale);
	return 0;
}

double
gc_rel_change(const double *A, const double *B, int q)
{
	double		num = 0,
				den = 0;

	for (size_t k = 0; k < (size_t) q * q; k++)
	{
		double		d = B[k] - A[k];

		num += d * d;
		den += B[k] * B[k];
	}
	return sqrt(num) / sqrt(den);
}

void
gc_model_free(GcModel *model, const GcAlloc *alloc)
{
	if (model->marg)
	{
		for (int j = 0; j < model->p; j++)
		{
			if (model->marg[j].x)
				alloc->dealloc(alloc->ctx, (void *) model->marg[j].x);
			if (model->marg[j].cum)
				alloc->dealloc(alloc->ctx, (void *) model->marg[j].cum);
			if (model->marg[j].mult)
				alloc->dealloc(alloc->ctx, (void *) model->marg[j].mult);
		}
		alloc->dealloc(alloc->ctx, model->marg);
	}
	if (model->corr)
		alloc->dealloc(alloc->ctx, model->corr);
	if (model->W)
		alloc->dealloc(alloc->ctx, model->W);
	if (model->lagcorr)
		alloc->dealloc(alloc->ctx, model->lagcorr);
	alloc->dealloc(alloc->ctx, model);
}
