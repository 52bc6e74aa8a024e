/*
 * cond.c — conditional mean, variance and the ordinal (interval) latent update of one row
 * given a prepared precision matrix; shared by the EM E-step and by imputation.
 *
 * The ordinal update is the approximation of Zhao & Udell (KDD 2020, §3.2) as implemented
 * in gcimpute (docs/algorithms.md §5 step 2): each interval entry j is replaced, simultaneously
 * (Jacobi), by the mean of N(μ_j, s_j²) truncated to its interval, where
 * s_j² = 1/(Σ_OO⁻¹)_jj and μ_j = z_j − s_j² (Σ_OO⁻¹ z_O)_j = E[z_j | z_{O∖j}].
 */
#include <math.h>
#include <string.h>

#include <lapacke.h>

#include "copula/cond.h"
#include "copula/normal.h"
#include "platform/rng.h"

/*
 * Solve (L Lᵀ) x = b in place for a lower Cholesky factor L (n×n, column-major; only the
 * lower triangle is read) with rd = 1/diag(L). Both sweeps run down the columns of L,
 * which are contiguous.
 */
static inline void
CholSolve(const double *restrict L, const double *restrict rd, int n, double *restrict b)
{
	/* L y = b: column-oriented forward substitution */
	for (int j = 0; j < n; j++)
	{
		const double *col = L + (size_t) j * n;
		double		y = b[j] * rd[j];

		b[j] = y;
		for (int i = j + 1; i < n; i++)
			b[i] -= col[i] * y;
	}
	/* Lᵀ x = y: each x_i is a dot product with column i of L */
	for (int i = n - 1; i >= 0; i--)
	{
		const double *col = L + (size_t) i * n;
		double		s = b[i];

		for (int k = i + 1; k < n; k++)
			s -= col[k] * b[k];
		b[i] = s * rd[i];
	}
}

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
	c->rdiag = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	if (!c->M || !c->O || !c->Jp || !c->jidx || !c->LM || !c->SM || !c->GJ ||
		!c->dJ || !c->r || !c->w || !c->znew || !c->rdiag)
		return GC_ENOMEM;
	return GC_OK;
}

void
gc_cond_free(GcCond *c, const GcAlloc *alloc)
{
	void	   *ptrs[] = {c->M, c->O, c->Jp, c->jidx, c->LM, c->SM, c->GJ, c->dJ,
	c->r, c->w, c->znew, c->rdiag};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	memset(c, 0, sizeof(*c));
}


/*
 * Cholesky factor (lower) of the n×n column-major A in place (only the lower triangle is
 * read or written), and rd = 1/diag(L); returns 0, or k > 0 when the leading k×k block is
 * not positive definite, like dpotrf. Blocks up to 32 rows are factored here
 * (left-looking, contiguous column updates), larger ones by LAPACK.
 */
static lapack_int
SmallCholesky(double *restrict A, int n, double *restrict rd)
{
	if (n > 32)
	{
		lapack_int	info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, A, n);

		if (info == 0)
			for (int j = 0; j < n; j++)
				rd[j] = 1.0 / A[j + (size_t) j * n];
		return info;
	}
	for (int j = 0; j < n; j++)
	{
		double	   *cj = A + (size_t) j * n;
		double		d,
					r;

		/* column j minus the contributions of the columns already factored */
		for (int k = 0; k < j; k++)
		{
			const double *ck = A + (size_t) k * n;
			double		f = ck[j];

			for (int i = j; i < n; i++)
				cj[i] -= f * ck[i];
		}
		d = cj[j];
		if (!(d > 0) || !isfinite(d))
			return j + 1;
		d = sqrt(d);
		r = 1.0 / d;
		cj[j] = d;
		rd[j] = r;
		for (int i = j + 1; i < n; i++)
			cj[i] *= r;
	}
	return 0;
}

/*
 * B ← (L Lᵀ)⁻¹ B for nrhs columns. The blocks of one row are tiny (a handful of missing
 * entries): there LAPACK's dpotrs costs thousands of instructions of call, packing and
 * buffer overhead for a few hundred flops, so small systems use the same two triangular
 * solves as the conditional mean; larger ones go to LAPACK.
 */
static lapack_int
SolveColumns(const double *L, const double *rd, int n, double *B, int nrhs)
{
	if (n > 32)
		return LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', n, nrhs, L, n, B, n);
	for (int k = 0; k < nrhs; k++)
		CholSolve(L, rd, n, B + (size_t) k * n);
	return 0;
}

/*
 * X ← L⁻¹ (lower triangle of the mm×mm X; the upper one is left alone), column by column
 * from the diagonal down, about mm³/6 flops without LAPACK's per-call overhead.
 */
static void
InvertFactor(const double *restrict L, const double *restrict rd, int mm, double *restrict X)
{
	for (int k = 0; k < mm; k++)
	{
		double	   *x = X + (size_t) k * mm;

		x[k] = rd[k];
		for (int i = k + 1; i < mm; i++)
			x[i] = -L[i + (size_t) k * mm] * x[k];
		for (int j = k + 1; j < mm; j++)
		{
			const double *col = L + (size_t) j * mm;
			double		y = x[j] * rd[j];

			x[j] = y;
			for (int i = j + 1; i < mm; i++)
				x[i] -= col[i] * y;
		}
	}
}

/* Λ_MM⁻¹ = Cov[z_M | z_O] */
static lapack_int
ComputeSM(GcCond *c)
{
	int			mm = c->mm;
	double	   *X = c->SM;

	if (mm > 32)
	{
		lapack_int	info;

		memcpy(X, c->LM, sizeof(double) * mm * mm);
		info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', mm, X, mm);
		for (int b = 0; b < mm; b++)
			for (int a = 0; a < b; a++)
				X[a + (size_t) b * mm] = X[b + (size_t) a * mm];
		c->sm_valid = (info == 0);
		return info;
	}

	/*
	 * Small blocks: L⁻¹ into the lower triangle of SM, then Λ_MM⁻¹ = L⁻ᵀL⁻¹ from dot
	 * products of its columns into the upper one, then mirrored. Entry (a, b), a <= b, is
	 * Σ_{k>=b} X[k,a] X[k,b]; the diagonal X[b,b] is read for the last time by the a = b
	 * term itself, so it can be overwritten there.
	 */
	InvertFactor(c->LM, c->rdiag, mm, X);
	for (int b = 0; b < mm; b++)
		for (int a = 0; a <= b; a++)
		{
			const double *xa = X + (size_t) a * mm,
					   *xb = X + (size_t) b * mm;
			double		s = 0;

			for (int k = b; k < mm; k++)
				s += xa[k] * xb[k];
			X[a + (size_t) b * mm] = s;
		}
	for (int b = 0; b < mm; b++)
		for (int a = 0; a < b; a++)
			X[b + (size_t) a * mm] = X[a + (size_t) b * mm];
	c->sm_valid = 1;
	return 0;
}

GcStatus
gc_cond_pattern(GcCond *c, const uint8_t *observed, const uint8_t *may_interval)
{
	const int	q = c->q;
	const double *const Lam = c->Lam;
	int		   *const M = c->M,
			   *const O = c->O,
			   *const Jp = c->Jp;
	double	   *const LM = c->LM;
	int			mm = 0,
				mo = 0,
				nj = 0;

	/*
	 * Branch-free: in the E-step almost every row has a pattern of its own, and branches
	 * on the pattern would mispredict. Each index is written at the current end of all
	 * three lists; only the list it belongs to advances.
	 */
	for (int j = 0; j < q; j++)
	{
		int			ob = observed[j] != 0;

		O[mo] = j;
		M[mm] = j;
		Jp[nj] = j;
		mo += ob;
		mm += 1 - ob;
		nj += ob & (may_interval[j] != 0);
	}
	c->mm = mm;
	c->mo = mo;
	c->nj = nj;
	c->logdet_lmm = 0;

	if (mm > 0)
	{
		lapack_int	info;
		double		prod = 1,
					logsum = 0;

		/* the lower triangle of Λ_MM: all the factorisation reads */
		for (int b = 0; b < mm; b++)
		{
			const double *col = Lam + (size_t) M[b] * q;
			double	   *dst = LM + (size_t) b * mm;

			for (int a = b; a < mm; a++)
				dst[a] = col[M[a]];
		}
		info = SmallCholesky(LM, mm, c->rdiag);
		if (info > 0)
			return GC_ENOTPD;
		if (info < 0)
			return GC_ELAPACK;
		/* log det Λ_MM = 2 Σ log L_aa, with one log per 2^±700 of product instead of one per entry */
		for (int a = 0; a < mm; a++)
		{
			prod *= LM[a + (size_t) a * mm];
			if (prod > 1e200 || prod < 1e-200)
			{
				logsum += log(prod);
				prod = 1;
			}
		}
		c->logdet_lmm = 2 * (logsum + log(prod));

		c->sm_valid = 0;
		if (!c->lazy_sm && (info = ComputeSM(c)) != 0)
			return GC_ELAPACK;

		if (nj > 0)
		{
			for (int b = 0; b < nj; b++)
				for (int a = 0; a < mm; a++)
					c->GJ[a + (size_t) b * mm] = Lam[M[a] + (size_t) Jp[b] * q];
			info = SolveColumns(LM, c->rdiag, mm, c->GJ, nj);
			if (info != 0)
				return GC_ELAPACK;
		}
	}
	for (int b = 0; b < nj; b++)
	{
		int			j = Jp[b];
		double		d = Lam[j + (size_t) j * q];

		for (int a = 0; a < mm; a++)
			d -= Lam[M[a] + (size_t) j * q] * c->GJ[a + (size_t) b * mm];
		c->dJ[b] = d;
	}
	return GC_OK;
}

void
gc_cond_add_cov(GcCond *c, double *C, double w)
{
	const int	q = c->q,
				mm = c->mm;
	const int  *const M = c->M;
	const double *X = c->SM;

	if (mm == 0)
		return;
	if (mm > 32)
	{
		/* LAPACK's inverse (full, symmetric): the lower triangle of it */
		if (!c->sm_valid && ComputeSM(c) != 0)
			return;
		for (int b = 0; b < mm; b++)
			for (int a = b; a < mm; a++)
				C[M[a] + (size_t) M[b] * q] += (a == b ? w : 2 * w) * X[a + (size_t) b * mm];
		return;
	}

	/*
	 * (Λ_MM⁻¹)_ab = Σ_{k>=a} X[k,a] X[k,b] for a >= b with X = L⁻¹: dot products of
	 * contiguous column tails, straight into C (M is ascending, so (M[a], M[b]) is below
	 * the diagonal). SM is scratch here; it does not hold Λ_MM⁻¹ afterwards.
	 */
	InvertFactor(c->LM, c->rdiag, mm, c->SM);
	c->sm_valid = 0;
	for (int b = 0; b < mm; b++)
	{
		const double *xb = X + (size_t) b * mm;
		double	   *cb = C + (size_t) M[b] * q;
		double		s = 0;

		for (int k = b; k < mm; k++)
			s += xb[k] * xb[k];
		cb[M[b]] += w * s;
		for (int a = b + 1; a < mm; a++)
		{
			const double *xa = X + (size_t) a * mm;

			s = 0;
			for (int k = a; k < mm; k++)
				s += xa[k] * xb[k];
			cb[M[a]] += 2 * w * s;
		}
	}
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
	CholSolve(c->LM, c->rdiag, mm, c->r);
	for (int a = 0; a < mm; a++)
		z[c->M[a]] = -c->r[a];
}

void
gc_cond_mean_from(GcCond *c, double *z, const double *t)
{
	int			mm = c->mm;

	for (int a = 0; a < mm; a++)
		c->r[a] = t[c->M[a]];
	CholSolve(c->LM, c->rdiag, mm, c->r);
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

/* a draw from N(mu, s²) truncated to (lo, hi) by inversion, in the tail that keeps precision */
static double
DrawTruncated(double mu, double s, double lo, double hi, GcRng *rng)
{
	double		a = (lo - mu) / s,
				b = (hi - mu) / s,
				u = gc_rng_uniform(rng),
				x;

	if (a > 0)
	{
		/* upper tail: work with upper-tail probabilities */
		double		qa = gc_norm_cdf(-a),
					qb = gc_norm_cdf(-b);

		x = -gc_norm_ppf(qb + u * (qa - qb));
	}
	else
	{
		double		pa = gc_norm_cdf(a),
					pb = gc_norm_cdf(b);

		x = gc_norm_ppf(pa + u * (pb - pa));
	}
	if (!isfinite(x))
		x = isfinite(a) ? a : b;
	return mu + s * fmin(fmax(x, a), b);
}

void
gc_cond_gibbs(GcCond *c, double *z, const double *lo, const double *hi,
			  const uint8_t *isint, int sweeps, GcRng *rng)
{
	int			q = c->q;

	if (c->mo < 2)
	{
		/* nothing to condition on: each interval entry from its marginal N(0,1) */
		for (int b = 0; b < c->nj; b++)
		{
			int			j = c->Jp[b];

			if (isint[j])
				z[j] = DrawTruncated(0, 1, lo[j], hi[j], rng);
		}
		return;
	}
	for (int s = 0; s < sweeps; s++)
		for (int b = 0; b < c->nj; b++)
		{
			int			j = c->Jp[b];
			const double *col = c->Lam + (size_t) j * q;
			double		w = 0,
						s2;

			if (!isint[j])
				continue;
			CondMean(c, z);
			for (int k = 0; k < q; k++)
				w += col[k] * z[k];
			s2 = 1.0 / c->dJ[b];
			z[j] = DrawTruncated(z[j] - s2 * w, sqrt(s2), lo[j], hi[j], rng);
		}
}

void
gc_cond_draw_missing(GcCond *c, double *z, GcRng *rng)
{
	int			mm = c->mm;

	CondMean(c, z);
	if (mm == 0)
		return;
	/* x = L⁻ᵀ ε has covariance (L Lᵀ)⁻¹ = Λ_MM⁻¹ */
	for (int a = 0; a < mm; a++)
		c->r[a] = gc_rng_normal(rng);
	for (int i = mm - 1; i >= 0; i--)
	{
		double		s = c->r[i];

		for (int k = i + 1; k < mm; k++)
			s -= c->LM[k + (size_t) i * mm] * c->r[k];
		c->r[i] = s / c->LM[i + (size_t) i * mm];
	}
	for (int a = 0; a < mm; a++)
		z[c->M[a]] += c->r[a];
}

void
gc_cond_missing_variance(GcCond *c, const double *v, double *var)
{
	int			mm = c->mm;

	memset(var, 0, sizeof(double) * c->q);
	if (mm > 0 && !c->sm_valid && ComputeSM(c) != 0)
	{
		for (int a = 0; a < mm; a++)
			var[c->M[a]] = NAN;
		return;
	}
	for (int a = 0; a < mm; a++)
	{
		double		s = c->SM[a + (size_t) a * mm];

		/* B[j, m] = −GJ[m, j]: the ordinal term Σ_j v_j B_jm² */
		if (v)
			for (int b = 0; b < c->nj; b++)
			{
				double		g = c->GJ[a + (size_t) b * mm];

				s += v[c->Jp[b]] * g * g;
			}
		var[c->M[a]] = s;
	}
}
