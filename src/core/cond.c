/*
 * cond.c — conditional mean, variance and the ordinal (interval) latent update of one row
 * given a prepared precision matrix; shared by the EM E-step and by imputation.
 *
 * The ordinal update is the approximation of Zhao & Udell (KDD 2020, §3.2) as implemented
 * in gcimpute (spec §1.5 step 2): each interval entry j is replaced, simultaneously
 * (Jacobi), by the mean of N(μ_j, s_j²) truncated to its interval, where
 * s_j² = 1/(Σ_OO⁻¹)_jj and μ_j = z_j − s_j² (Σ_OO⁻¹ z_O)_j = E[z_j | z_{O∖j}].
 */
#include <math.h>
#include <string.h>

#include <lapacke.h>

#include "cond.h"
#include "normal.h"

GcStatus
gc_cond_init(GcCond *c, int q, const double *Lam, const GcAlloc *alloc)
{
	size_t		qq = (size_t) q * q;
	size_t		qi = (size_t) (q > 0 ? q : 1);

	memset(c, 0, sizeof(*c));
	c->q = q;
	c->Lam = Lam;
	c->M = alloc->alloc(alloc->ctx, sizeof(int) * qi);
	c->O = alloc->alloc(alloc->ctx, sizeof(int) * qi);
	c->Jp = alloc->alloc(alloc->ctx, sizeof(int) * qi);
	c->jidx = alloc->alloc(alloc->ctx, sizeof(int) * qi);
	c->LM = alloc->alloc(alloc->ctx, sizeof(double) * (qq > 0 ? qq : 1));
	c->SM = alloc->alloc(alloc->ctx, sizeof(double) * (qq > 0 ? qq : 1));
	c->GJ = alloc->alloc(alloc->ctx, sizeof(double) * (qq > 0 ? qq : 1));
	c->dJ = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	c->r = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	c->w = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	c->znew = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	if (!c->M || !c->O || !c->Jp || !c->jidx || !c->LM || !c->SM || !c->GJ ||
		!c->dJ || !c->r || !c->w || !c->znew)
		return GC_ENOMEM;
	return GC_OK;
}

void
gc_cond_free(GcCond *c, const GcAlloc *alloc)
{
	void	   *ptrs[] = {c->M, c->O, c->Jp, c->jidx, c->LM, c->SM, c->GJ, c->dJ,
	c->r, c->w, c->znew};

	for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
		if (ptrs[i])
			alloc->dealloc(alloc->ctx, ptrs[i]);
	memset(c, 0, sizeof(*c));
}

/* Solve (L Lᵀ) x = b in place for a lower Cholesky factor L (n×n, column-major). */
static void
CholSolve(const double *L, int n, double *b)
{
	for (int i = 0; i < n; i++)
	{
		double		s = b[i];

		for (int k = 0; k < i; k++)
			s -= L[i + (size_t) k * n] * b[k];
		b[i] = s / L[i + (size_t) i * n];
	}
	for (int i = n - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int k = i + 1; k < n; k++)
			s -= L[k + (size_t) i * n] * b[k];
		b[i] = s / L[i + (size_t) i * n];
	}
}

GcStatus
gc_cond_pattern(GcCond *c, const uint8_t *observed, const uint8_t *may_interval)
{
	int			q = c->q;
	const double *Lam = c->Lam;
	int			mm = 0,
				mo = 0,
				nj = 0;

	for (int j = 0; j < q; j++)
	{
		if (observed[j])
		{
			c->O[mo++] = j;
			if (may_interval[j])
				c->Jp[nj++] = j;
		}
		else
			c->M[mm++] = j;
	}
	c->mm = mm;
	c->mo = mo;
	c->nj = nj;
	c->logdet_lmm = 0;

	if (mm > 0)
	{
		lapack_int	info;

		for (int b = 0; b < mm; b++)
			for (int a = 0; a < mm; a++)
				c->LM[a + (size_t) b * mm] = Lam[c->M[a] + (size_t) c->M[b] * q];
		info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', mm, c->LM, mm);
		if (info > 0)
			return GC_ENOTPD;
		if (info < 0)
			return GC_ELAPACK;
		for (int a = 0; a < mm; a++)
			c->logdet_lmm += 2 * log(c->LM[a + (size_t) a * mm]);

		/*
		 * Λ_MM⁻¹ by two triangular solves against the identity: for the small blocks of a
		 * typical row this is two level-3 calls instead of potri's many level-2 ones.
		 */
		memset(c->SM, 0, sizeof(double) * mm * mm);
		for (int a = 0; a < mm; a++)
			c->SM[a + (size_t) a * mm] = 1.0;
		info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', mm, mm, c->LM, mm, c->SM, mm);
		if (info != 0)
			return GC_ELAPACK;

		if (nj > 0)
		{
			for (int b = 0; b < nj; b++)
				for (int a = 0; a < mm; a++)
					c->GJ[a + (size_t) b * mm] = Lam[c->M[a] + (size_t) c->Jp[b] * q];
			info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', mm, nj, c->LM, mm, c->GJ, mm);
			if (info != 0)
				return GC_ELAPACK;
		}
	}
	for (int b = 0; b < nj; b++)
	{
		int			j = c->Jp[b];
		double		d = Lam[j + (size_t) j * q];

		for (int a = 0; a < mm; a++)
			d -= Lam[c->M[a] + (size_t) j * q] * c->GJ[a + (size_t) b * mm];
		c->dJ[b] = d;
	}
	return GC_OK;
}

/* z_M ← E[z_M | z_O] = −Λ_MM⁻¹ Λ_MO z_O */
static void
CondMean(GcCond *c, double *z)
{
	int			q = c->q,
				mm = c->mm,
				mo = c->mo;

	if (mm == 0)
		return;
	for (int a = 0; a < mm; a++)
	{
		/* Λ is symmetric: Λ[M[a], o] = Λ[o, M[a]], read down column M[a] for locality */
		const double *col = c->Lam + (size_t) c->M[a] * q;
		double		s = 0;

		for (int b = 0; b < mo; b++)
			s += col[c->O[b]] * z[c->O[b]];
		c->r[a] = s;
	}
	CholSolve(c->LM, mm, c->r);
	for (int a = 0; a < mm; a++)
		z[c->M[a]] = -c->r[a];
}

int
gc_cond_row(GcCond *c, double *z, const double *lo, const double *hi,
			const uint8_t *isint, int num_ord_updates, double *v)
{
	int			q = c->q;
	int			nint = 0;

	for (int b = 0; b < c->nj; b++)
		if (isint[c->Jp[b]])
			c->jidx[nint++] = b;
	if (v)
		memset(v, 0, sizeof(double) * q);

	if (nint > 0 && c->mo >= 2)
	{
		for (int it = 0; it < num_ord_updates; it++)
		{
			CondMean(c, z);
			for (int t = 0; t < nint; t++)
			{
				int			b = c->jidx[t];
				int			j = c->Jp[b];
				const double *col = c->Lam + (size_t) j * q;
				double		w = 0,
							s2,
							mean,
							var;

				for (int k = 0; k < q; k++)
					w += col[k] * z[k];
				s2 = 1.0 / c->dJ[b];
				if (gc_truncnorm_moments(z[j] - s2 * w, sqrt(s2), lo[j], hi[j], &mean, &var) == 0)
				{
					c->znew[t] = mean;
					if (v)
						v[j] = var;
				}
				else
				{
					c->znew[t] = z[j];
					if (v)
						v[j] = 0;
				}
			}
			for (int t = 0; t < nint; t++)
				z[c->Jp[c->jidx[t]]] = c->znew[t];
		}
	}
	CondMean(c, z);
	return nint;
}

double
gc_cond_quadform(const GcCond *c, const double *z)
{
	int			q = c->q;
	double		s = 0;

	for (int j = 0; j < q; j++)
	{
		const double *col = c->Lam + (size_t) j * q;
		double		t = 0;

		for (int k = 0; k < q; k++)
			t += col[k] * z[k];
		s += t * z[j];
	}
	return s;
}
