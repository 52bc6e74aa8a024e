/*
 * temporal.c — fitting the temporal Gaussian copula and building its window models.
 *
 * The fit stacks each row with its lags, z̃_t = (z_t, z_{t−1}, …, z_{t−K}), a vector of
 * (K+1)q latent values (q active columns), and runs the copula EM of em.c on the stacked
 * rows. A lag without a row (the start of an entity, or a gap in time) is a missing entry,
 * which the E-step integrates out like any other. Two things make it the temporal model
 * rather than K+1 unrelated copies of the columns:
 *   - the marginals are fitted once per column, on the rows themselves, and each lag's
 *     latent value is the latent value of the row it comes from;
 *   - every M-step's correlation is projected onto block-Toeplitz form: the estimate of
 *     Γ(h) is the mean of the K+1−h blocks (a, a+h), which all estimate the same
 *     stationary cross-correlation. This is the least-squares (Frobenius) projection onto
 *     the block-Toeplitz matrices, and keeps the unit diagonal.
 * Each stacked row is one window of the series, so the fit maximises the composite
 * likelihood of the overlapping windows; under stationarity its maximiser is consistent
 * for Γ(0..K).
 *
 * The number of lags, when not given, is the K in 0..max_lags that minimises the BIC of the
 * conditional log-likelihood of a row given its K predecessors, Σ_t log p(z_t | z_{t−1..t−K}),
 * computed from the max_lags fit as the difference of two window log-likelihoods (the
 * leading blocks of a block-Toeplitz matrix are the smaller windows' correlations), with
 * q(q−1)/2 + K q² parameters.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "copula/estep.h"
#include "copula/fit_internal.h"
#include "copula/precision.h"
#include "copula/temporal.h"

#define NO_ROW ((size_t) -1)

void
gc_series_options_default(GcSeriesOptions *sopt)
{
	memset(sopt, 0, sizeof(*sopt));
	sopt->lags = -1;
	sopt->max_lags = GC_SERIES_DEFAULT_MAX_LAGS;
}

/* ---------- block-Toeplitz algebra ---------- */

typedef struct ToeplitzShape
{
	int			q;				/* block size */
	int			blocks;			/* K + 1 */
} ToeplitzShape;

/*
 * Shrinkage of every M-step towards the identity, (1−λ)Σ + λI. Rows of a smooth signal are
 * almost exact linear functions of their lags (a sampled sine is one of its two
 * predecessors), which makes the stacked correlation nearly singular and the EM steps
 * unstable; λ bounds its condition number by about Q/λ and costs the fit nothing measurable
 * on real data (a correlation of 0.9999 becomes 0.9998).
 */
#define TOEPLITZ_SHRINK 1e-4

/*
 * Replace the blocks of the (blocks·q)² column-major S by the mean of their block diagonal
 * (Γ(h) = mean of blocks (a, a+h)); Γ(0) is symmetrised; then shrink by TOEPLITZ_SHRINK.
 * The M-step's projection.
 */
static void
ToeplitzProject(double *S, int Q, void *arg)
{
	const ToeplitzShape *sh = arg;
	int			q = sh->q,
				B = sh->blocks;

	for (int h = 0; h < B; h++)
	{
		double		w = 1.0 / (B - h);

		for (int j = 0; j < q; j++)
			for (int i = 0; i < q; i++)
			{
				double		g = 0;

				for (int a = 0; a + h < B; a++)
					g += S[(a * q + i) + (size_t) ((a + h) * q + j) * Q];
				if (h == 0)
				{
					double		gt = 0;

					for (int a = 0; a < B; a++)
						gt += S[(a * q + j) + (size_t) (a * q + i) * Q];
					g = 0.5 * (g + gt);
				}
				g *= w;
				if (h > 0 || i != j)
					g *= 1 - TOEPLITZ_SHRINK;
				for (int a = 0; a + h < B; a++)
				{
					S[(a * q + i) + (size_t) ((a + h) * q + j) * Q] = g;
					S[((a + h) * q + j) + (size_t) (a * q + i) * Q] = g;
				}
			}
	}
}

/*
 * The correlation of W consecutive rows from Γ(0..W−1): with the rows in time order
 * (reverse = 0) block (a, b) is Γ(a−b) for a ≥ b, else Γ(b−a)ᵀ; reverse = 1 orders them
 * newest first, as the fit stacks a row and its lags (block (a, b) is then Γ(b−a) for b ≥ a).
 */
static void
FillBlockToeplitz(const double *G, int p, int W, int reverse, double *corr)
{
	size_t		P = (size_t) W * p;

	for (int b = 0; b < W; b++)
		for (int a = 0; a < W; a++)
		{
			/* times of slots a and b, oldest = 0 */
			int			ta = reverse ? W - 1 - a : a,
						tb = reverse ? W - 1 - b : b;
			int			h = ta >= tb ? ta - tb : tb - ta;
			const double *g = G + (size_t) h * p * p;

			for (int j = 0; j < p; j++)
				for (int i = 0; i < p; i++)
					corr[(a * p + i) + (b * p + j) * P] =
						ta >= tb ? g[i + (size_t) j * p] : g[j + (size_t) i * p];
		}
}

/*
 * Γ(0..H) (p×p blocks into G) of the series with Γ(0) = G0 and Γ(1..K) = Glag: those, then
 * Γ(h) = Σ_{i=1..K} A_i Γ(h−i) with the VAR coefficients A from the Yule–Walker equations
 * A R = [Γ(1) … Γ(K)], R the correlation of (z_{t−1}, …, z_{t−K}). With K = 0 the rows are
 * independent: Γ(h) = 0.
 */
static GcStatus
Autocorr(const double *G0, const double *Glag, int p, int K, int H, const GcAlloc *alloc,
		 double *G)
{
	size_t		pp = (size_t) p * p;
	int			KP = K * p;
	double	   *R = NULL,
			   *AT = NULL,
			   *A = NULL;
	GcStatus	status = GC_OK;
	lapack_int	info;

	memcpy(G, G0, sizeof(double) * pp);
	for (int h = 1; h <= H; h++)
	{
		if (h <= K)
			memcpy(G + h * pp, Glag + (h - 1) * pp, sizeof(double) * pp);
		else
			memset(G + h * pp, 0, sizeof(double) * pp);
	}
	if (H <= K || K == 0)
		return GC_OK;

	R = alloc->alloc(alloc->ctx, sizeof(double) * KP * KP);
	AT = alloc->alloc(alloc->ctx, sizeof(double) * KP * p);
	A = alloc->alloc(alloc->ctx, sizeof(double) * KP * p);
	if (!R || !AT || !A)
	{
		status = GC_ENOMEM;
		goto done;
	}
	/*
	 * R: the correlation of z_{t−K}, …, z_{t−1} in time order, and A R = Cov(z_t, those),
	 * whose block a is Γ(K−a); so R Aᵀ has row block a equal to Γ(K−a)ᵀ, and block a of A
	 * is the coefficient A_{K−a} of z_{t−(K−a)}.
	 */
	FillBlockToeplitz(G, p, K, 0, R);
	for (int a = 0; a < K; a++)
		for (int c = 0; c < p; c++)
			for (int r = 0; r < p; r++)
				AT[(a * p + c) + (size_t) r * KP] = G[(K - a) * pp + r + (size_t) c * p];
	info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'L', KP, p, R, KP, AT, KP);
	if (info != 0)
	{
		status = info > 0 ? GC_ENOTPD : GC_ELAPACK;
		goto done;
	}
	/* A (p × Kp, column-major): A_i occupies column block K−i */
	for (int r = 0; r < p; r++)
		for (int c = 0; c < KP; c++)
			A[r + (size_t) c * p] = AT[c + (size_t) r * KP];
	for (int h = K + 1; h <= H; h++)
	{
		double	   *g = G + h * pp;

		for (int i = 1; i <= K; i++)
			cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, p, p, p, 1.0,
						A + (size_t) (K - i) * pp, p, G + (size_t) (h - i) * pp, p, 1.0, g, p);
		for (size_t k = 0; k < pp; k++)
			g[k] = g[k] > 1 ? 1 : (g[k] < -1 ? -1 : g[k]);
	}
done:
	if (R)
		alloc->dealloc(alloc->ctx, R);
	if (AT)
		alloc->dealloc(alloc->ctx, AT);
	if (A)
		alloc->dealloc(alloc->ctx, A);
	return status;
}

GcStatus
gc_temporal_window_corr(const GcModel *m, int back, int fwd, const GcAlloc *alloc, double *corr)
{
	int			W = back + fwd + 1;
	double	   *G = alloc->alloc(alloc->ctx, sizeof(double) * (size_t) W * m->p * m->p);
	GcStatus	status;

	if (G == NULL)
		return GC_ENOMEM;
	status = Autocorr(m->corr, m->lagcorr, m->p, m->lags, W - 1, alloc, G);
	if (status == GC_OK)
		FillBlockToeplitz(G, m->p, W, 0, corr);
	alloc->dealloc(alloc->ctx, G);
	return status;
}

GcStatus
gc_temporal_window_model(const GcModel *m, int back, int fwd, const GcAlloc *alloc,
						 GcModel **out)
{
	int			W = back + fwd + 1;
	int			P = W * m->p;
	GcModel    *w;
	GcStatus	status;

	*out = NULL;
	w = alloc->alloc(alloc->ctx, sizeof(GcModel));
	if (w == NULL)
		return GC_ENOMEM;
	*w = *m;
	w->p = P;
	w->temporal = 0;
	w->lags = 0;
	w->lagcorr = NULL;
	w->marg = alloc->alloc(alloc->ctx, sizeof(GcMarginal) * P);
	w->corr = alloc->alloc(alloc->ctx, sizeof(double) * (size_t) P * P);
	if (w->marg == NULL || w->corr == NULL)
	{
		gc_temporal_window_free(w, alloc);
		return GC_ENOMEM;
	}
	for (int s = 0; s < W; s++)
		memcpy(w->marg + (size_t) s * m->p, m->marg, sizeof(GcMarginal) * m->p);
	status = gc_temporal_window_corr(m, back, fwd, alloc, w->corr);
	if (status != GC_OK)
	{
		gc_temporal_window_free(w, alloc);
		return status;
	}
	*out = w;
	return GC_OK;
}

void
gc_temporal_window_free(GcModel *w, const GcAlloc *alloc)
{
	if (w == NULL)
		return;
	/* the knots belong to the temporal model */
	if (w->marg)
		alloc->dealloc(alloc->ctx, w->marg);
	if (w->corr)
		alloc->dealloc(alloc->ctx, w->corr);
	alloc->dealloc(alloc->ctx, w);
}

/* ---------- the fit ---------- */

/* lag[i·(K+1) + k]: the row that is row i's lag k (lag 0 is the row itself), or NO_ROW */
static void
LagRows(const int64_t *seg, const int64_t *tstep, size_t n, int K, size_t *lag)
{
	for (size_t i = 0; i < n; i++)
	{
		size_t	   *l = lag + i * (K + 1);

		l[0] = i;
		for (int k = 1; k <= K; k++)
			l[k] = NO_ROW;
		/* times strictly increase within an entity: at most K rows back can be in range */
		for (size_t j = i; j-- > 0 && seg[j] == seg[i];)
		{
			int64_t		d = tstep[i] - tstep[j];

			if (d > K)
				break;
			if (d >= 1 && l[d] == NO_ROW)
				l[d] = j;
		}
	}
}

typedef struct Stacked
{
	size_t		n;
	int			Q;
	double	   *Z,
			   *LO,
			   *HI;
	uint8_t    *ISINT,
			   *mayint;
} Stacked;

static void
StackedFree(Stacked *s, const GcAlloc *alloc)
{
	void	   *ptrs[] = {s->Z, s->LO, s->HI, s->ISINT, s->mayint};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	memset(s, 0, sizeof(*s));
}

static GcStatus
StackedAlloc(Stacked *s, size_t n, int Q, const GcAlloc *alloc)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->Q = Q;
	s->Z = alloc->alloc(alloc->ctx, sizeof(double) * n * Q);
	s->LO = alloc->alloc(alloc->ctx, sizeof(double) * n * Q);
	s->HI = alloc->alloc(alloc->ctx, sizeof(double) * n * Q);
	s->ISINT = alloc->alloc(alloc->ctx, n * Q);
	s->mayint = alloc->alloc(alloc->ctx, Q);
	if (!s->Z || !s->LO || !s->HI || !s->ISINT || !s->mayint)
	{
		StackedFree(s, alloc);
		return GC_ENOMEM;
	}
	return GC_OK;
}

/*
 * The stacked rows: block k of row i is the latent row lag[i][k] (n×q arrays Z, LO, HI,
 * ISINT of the active columns), or missing.
 */
static void
StackRows(const double *Z, const double *LO, const double *HI, const uint8_t *ISINT,
		  const uint8_t *mayint, size_t n, int q, int K, const size_t *lag, Stacked *s)
{
	int			Q = s->Q;

	for (int k = 0; k <= K; k++)
		memcpy(s->mayint + k * q, mayint, q);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k <= K; k++)
		{
			size_t		src = lag[i * (K + 1) + k];
			size_t		dst = i * Q + (size_t) k * q;

			if (src == NO_ROW)
			{
				for (int a = 0; a < q; a++)
				{
					s->Z[dst + a] = NAN;
					s->LO[dst + a] = s->HI[dst + a] = NAN;
					s->ISINT[dst + a] = 0;
				}
				continue;
			}
			memcpy(s->Z + dst, Z + src * q, sizeof(double) * q);
			memcpy(s->LO + dst, LO + src * q, sizeof(double) * q);
			memcpy(s->HI + dst, HI + src * q, sizeof(double) * q);
			memcpy(s->ISINT + dst, ISINT + src * q, q);
		}
}

/*
 * Total observed-data log-likelihood of the stacked rows' columns c0..c0+w under the w×w
 * correlation Sig. Works on copies: the sweep moves interval entries.
 */
static GcStatus
WindowLoglik(const Stacked *s, int c0, int w, const double *Sig, const GcFitOptions *opt,
			 const GcAlloc *alloc, double *total, char *errmsg, size_t errlen)
{
	size_t		n = s->n;
	int			Q = s->Q,
				nw = (w + 63) / 64;
	Stacked		c;
	double	   *Sw = NULL,
			   *Sout = NULL;
	uint64_t   *masks = NULL;
	size_t	   *order = NULL;
	GcPrecision prec;
	GcEStep		es;
	GcStatus	status;
	double		ll = 0;

	memset(&prec, 0, sizeof(prec));
	memset(&es, 0, sizeof(es));
	status = StackedAlloc(&c, n, w, alloc);
	if (status != GC_OK)
		return status;
	Sw = alloc->alloc(alloc->ctx, sizeof(double) * w * w);
	Sout = alloc->alloc(alloc->ctx, sizeof(double) * w * w);
	masks = alloc->alloc(alloc->ctx, sizeof(uint64_t) * n * nw);
	order = alloc->alloc(alloc->ctx, sizeof(size_t) * n);
	if (!Sw || !Sout || !masks || !order)
	{
		status = GC_ENOMEM;
		goto done;
	}
	memcpy(c.mayint, s->mayint + c0, w);
	memset(masks, 0, sizeof(uint64_t) * n * nw);
	for (size_t i = 0; i < n; i++)
	{
		memcpy(c.Z + i * w, s->Z + i * Q + c0, sizeof(double) * w);
		memcpy(c.LO + i * w, s->LO + i * Q + c0, sizeof(double) * w);
		memcpy(c.HI + i * w, s->HI + i * Q + c0, sizeof(double) * w);
		memcpy(c.ISINT + i * w, s->ISINT + i * Q + c0, w);
		for (int a = 0; a < w; a++)
			if (!isnan(c.Z[i * w + a]))
				masks[i * nw + a / 64] |= (uint64_t) 1 << (a % 64);
		order[i] = i;
	}
	gc_sort_by_pattern(order, n, masks, nw);
	memcpy(Sw, Sig, sizeof(double) * w * w);
	status = gc_precision_init(&prec, w, alloc);
	if (status == GC_OK)
		status = gc_precision_set(&prec, Sw, NULL);
	if (status == GC_OK)
		status = gc_estep_init(&es, w, n, prec.Lam, alloc);
	if (status == GC_OK)
		status = gc_estep_sweep(&es, &prec, c.Z, c.LO, c.HI, c.ISINT, c.mayint, order, n,
								masks, nw, opt->num_ord_updates, opt->tick, opt->progress_arg,
								Sout, &ll, errmsg, errlen);
	*total = ll * (double) n;
done:
	gc_estep_free(&es, alloc);
	gc_precision_free(&prec, alloc);
	StackedFree(&c, alloc);
	{
		void	   *ptrs[] = {Sw, Sout, masks, order};

		gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	}
	return status;
}

/*
 * The rows a BIC is for: the rows fitted, or the rows a sample stands for.
 */
static double
BicRows(size_t fitted, size_t bic_rows)
{
	return (double) (bic_rows > fitted ? bic_rows : fitted);
}

/*
 * The number of lags k in 0..K with the smallest BIC. Every candidate is judged on the same
 * data, the window of K+1 rows: the model of order k (Γ(0..k) of the fit, continued as a
 * VAR(k) to K lags) gives the conditional log-likelihood
 * log p(z_t | z_{t−1..t−K}) = log p(window) − log p(its K earlier rows), and has
 * q(q−1)/2 + k q² parameters. (Judging order k on a window of k+1 rows instead would favour
 * long orders whenever cells are missing, because farther rows then stand in for missing
 * nearer ones; that is the span's job, not the order's.)
 */
static GcStatus
ChooseLags(const Stacked *s, int q, int K, const double *Sig, size_t bic_rows,
		   const GcFitOptions *opt, const GcAlloc *alloc, int *best, double *bic_out,
		   char *errmsg, size_t errlen)
{
	double		rows = BicRows(s->n, bic_rows);
	double		scale = rows / (double) s->n;
	double		logn = log(rows);
	double		best_bic = INFINITY;
	size_t		qq = (size_t) q * q;
	int			Q = (K + 1) * q;
	double	   *G = alloc->alloc(alloc->ctx, sizeof(double) * qq * (K + 1));
	double	   *Gk = alloc->alloc(alloc->ctx, sizeof(double) * qq * (K + 1));
	double	   *Sk = alloc->alloc(alloc->ctx, sizeof(double) * Q * Q);
	GcStatus	status = GC_OK;

	*best = 0;
	if (!G || !Gk || !Sk)
	{
		status = GC_ENOMEM;
		goto done;
	}
	/* Γ(h) = block (0, h) of the stacked correlation */
	for (int h = 0; h <= K; h++)
		for (int b = 0; b < q; b++)
			memcpy(G + h * qq + (size_t) b * q, Sig + (size_t) (h * q + b) * Q, sizeof(double) * q);
	for (int k = 0; k <= K; k++)
	{
		double		joint,
					past = 0,
					bic;

		status = Autocorr(G, G + qq, q, k, K, alloc, Gk);
		if (status == GC_OK)
		{
			FillBlockToeplitz(Gk, q, K + 1, 1, Sk);
			status = WindowLoglik(s, 0, Q, Sk, opt, alloc, &joint, errmsg, errlen);
		}
		if (status == GC_OK && K > 0)
		{
			/* the earlier K rows: the leading Kq block of the same matrix */
			FillBlockToeplitz(Gk, q, K, 1, Sk);
			status = WindowLoglik(s, q, K * q, Sk, opt, alloc, &past, errmsg, errlen);
		}
		if (status == GC_ENOMEM)
			goto done;
		if (status != GC_OK)
		{
			/*
			 * A lower order whose continuation is not a valid series (possible when the
			 * fitted lags are nearly deterministic) is not a candidate; order K always is.
			 */
			if (bic_out)
				bic_out[k] = INFINITY;
			status = GC_OK;
			continue;
		}
		bic = -2.0 * scale * (joint - past) + (0.5 * q * (q - 1) + (double) k * q * q) * logn;
		if (bic_out)
			bic_out[k] = bic;
		if (bic < best_bic)
		{
			best_bic = bic;
			*best = k;
		}
	}
done:
	if (G)
		alloc->dealloc(alloc->ctx, G);
	if (Gk)
		alloc->dealloc(alloc->ctx, Gk);
	if (Sk)
		alloc->dealloc(alloc->ctx, Sk);
	return status;
}

/*
 * Shrink a block-Toeplitz correlation towards the identity, (1−ε)Σ + εI (which keeps it
 * block-Toeplitz with a unit diagonal), until it is numerically positive definite; the
 * fit's projection can leave it slightly indefinite. Counts the steps in *ridge.
 */
static GcStatus
MakePositiveDefinite(double *Sig, int Q, const GcAlloc *alloc, int *ridge)
{
	double	   *L = alloc->alloc(alloc->ctx, sizeof(double) * Q * Q);
	double	   *S0 = alloc->alloc(alloc->ctx, sizeof(double) * Q * Q);
	GcStatus	status = GC_ENOTPD;

	if (L == NULL || S0 == NULL)
	{
		status = GC_ENOMEM;
		goto done;
	}
	memcpy(S0, Sig, sizeof(double) * Q * Q);
	for (int step = 0; step < 24; step++)
	{
		double		eps = step == 0 ? 0 : fmin(1.0, 1e-10 * pow(4.0, step));

		for (int b = 0; b < Q; b++)
			for (int a = 0; a < Q; a++)
				Sig[a + (size_t) b * Q] = a == b ? 1.0 : (1 - eps) * S0[a + (size_t) b * Q];
		memcpy(L, Sig, sizeof(double) * Q * Q);
		if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', Q, L, Q) == 0)
		{
			status = GC_OK;
			break;
		}
		(*ridge)++;
	}
done:
	if (L)
		alloc->dealloc(alloc->ctx, L);
	if (S0)
		alloc->dealloc(alloc->ctx, S0);
	return status;
}

/* Γ(0..lags) of the active columns (blocks of Sig) into the model's p×p matrices. */
static GcStatus
StoreLags(GcModel *model, const double *Sig, int Q, const int *act, int q, int lags,
		  const GcAlloc *alloc)
{
	int			p = model->p;
	size_t		pp = (size_t) p * p;

	model->lags = lags;
	if (lags > 0)
	{
		model->lagcorr = alloc->alloc(alloc->ctx, sizeof(double) * pp * lags);
		if (model->lagcorr == NULL)
			return GC_ENOMEM;
		memset(model->lagcorr, 0, sizeof(double) * pp * lags);
	}
	for (int h = 0; h <= lags; h++)
	{
		double	   *g = h == 0 ? model->corr : model->lagcorr + (h - 1) * pp;

		for (int b = 0; b < q; b++)
			for (int a = 0; a < q; a++)
				g[act[a] + (size_t) act[b] * p] = Sig[a + (size_t) (h * q + b) * Q];
	}
	/* Γ(0) exactly symmetric with a unit diagonal */
	for (int b = 0; b < p; b++)
	{
		model->corr[b + (size_t) b * p] = 1.0;
		for (int a = b + 1; a < p; a++)
			model->corr[b + (size_t) a * p] = model->corr[a + (size_t) b * p];
	}
	return GC_OK;
}

/* The fit proper: the stacked EM with max_lags (or the given) lags, the choice, the model. */
static GcStatus
FitStacked(const double *X, const int64_t *seg, const int64_t *tstep, size_t n, int p,
		   double step, const GcFitOptions *opt, const GcSeriesOptions *sopt,
		   const GcAlloc *alloc, GcModel **model_out, char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	GcModel    *model = NULL;
	int			K = sopt->lags >= 0 ? sopt->lags : sopt->max_lags;
	int			q,
				Q,
				lags = K;
	GcLatent	lat;
	double	   *Sig = NULL;
	size_t	   *lag = NULL;
	Stacked		s;
	ToeplitzShape shape;

	memset(&s, 0, sizeof(s));
	*model_out = NULL;

	/* marginals and latent values once per column, from the rows themselves */
	status = gc_fit_begin(X, n, p, opt, alloc, &model, &lat, errmsg, errlen);
	if (model)
	{
		model->temporal = 1;
		model->step = step;
	}
	if (status != GC_OK || lat.q == 0)
		goto done;
	q = lat.q;

	/* each row with its K lags: n × (K+1)q */
	Q = (K + 1) * q;
	lag = alloc->alloc(alloc->ctx, sizeof(size_t) * n * (K + 1));
	status = lag ? StackedAlloc(&s, n, Q, alloc) : GC_ENOMEM;
	if (status != GC_OK)
		goto done;
	LagRows(seg, tstep, n, K, lag);
	StackRows(lat.Z, lat.LO, lat.HI, lat.ISINT, lat.mayint, n, q, K, lag, &s);
	alloc->dealloc(alloc->ctx, lag);
	lag = NULL;
	/* the stacked copies are all the EM needs of the latent rows */
	alloc->dealloc(alloc->ctx, lat.Z);
	alloc->dealloc(alloc->ctx, lat.LO);
	alloc->dealloc(alloc->ctx, lat.HI);
	alloc->dealloc(alloc->ctx, lat.ISINT);
	lat.Z = lat.LO = lat.HI = NULL;
	lat.ISINT = NULL;

	Sig = alloc->alloc(alloc->ctx, sizeof(double) * Q * Q);
	if (Sig == NULL)
	{
		status = GC_ENOMEM;
		goto done;
	}
	shape.q = q;
	shape.blocks = K + 1;
	status = gc_em_latent(&s.Z, &s.LO, &s.HI, &s.ISINT, s.mayint, n, Q, opt, ToeplitzProject,
						  &shape, alloc, model, Sig, errmsg, errlen);
	if (status != GC_OK)
		goto done;
	status = MakePositiveDefinite(Sig, Q, alloc, &model->ridge_steps);
	if (status != GC_OK)
	{
		snprintf(errmsg, errlen, "the lag correlations are not positive definite");
		goto done;
	}
	if (sopt->lags < 0)
	{
		status = ChooseLags(&s, q, K, Sig, sopt->bic_rows, opt, alloc, &lags, sopt->bic,
							errmsg, errlen);
		if (status != GC_OK)
			goto done;
	}
	status = StoreLags(model, Sig, Q, lat.act, q, lags, alloc);

done:
	StackedFree(&s, alloc);
	if (lag)
		alloc->dealloc(alloc->ctx, lag);
	return gc_fit_end(status, model, &lat, Sig, alloc, model_out);
}

/* Arguments the fit cannot work with; the rows' time order. */
static GcStatus
CheckSeries(const int64_t *seg, const int64_t *tstep, size_t n, int p, double step,
			const GcFitOptions *opt, const GcSeriesOptions *sopt, char *errmsg, size_t errlen)
{
	int			K = sopt->lags >= 0 ? sopt->lags : sopt->max_lags;

	if (gc_fit_check_size(n, p, errmsg, errlen) != 0)
		return GC_EINVAL;
	if (K < 0 || K > GC_SERIES_MAX_LAGS || !(step > 0) || !isfinite(step) ||
		opt->training != GC_TRAIN_STANDARD)
	{
		snprintf(errmsg, errlen, "a temporal model needs 0 to %d lags, a positive step and standard training",
				 GC_SERIES_MAX_LAGS);
		return GC_EINVAL;
	}
	for (size_t i = 1; i < n; i++)
		if (seg[i] == seg[i - 1] && tstep[i] <= tstep[i - 1])
		{
			snprintf(errmsg, errlen, "row %zu is not after the previous row of its entity", i + 1);
			return GC_EINVAL;
		}
	return GC_OK;
}

/*
 * The sample the order is chosen on: runs of GC_SERIES_SAMPLE_RUN consecutive rows spread
 * evenly over the rows. Each run, and each change of entity inside one, starts a series of
 * its own, so a lag is never taken across rows left out. Returns the sample's row count.
 */
static size_t
SampleRuns(const double *X, const int64_t *seg, const int64_t *tstep, size_t n, int p,
		   double *Xs, int64_t *segs, int64_t *ts)
{
	size_t		runs = (n + GC_SERIES_SAMPLE_RUN - 1) / GC_SERIES_SAMPLE_RUN,
				want = (GC_SERIES_SAMPLE_ROWS + GC_SERIES_SAMPLE_RUN - 1) / GC_SERIES_SAMPLE_RUN,
				m = 0;

	for (size_t i = 0; i < want; i++)
	{
		size_t		lo = i * runs / want * GC_SERIES_SAMPLE_RUN,
					hi = lo + GC_SERIES_SAMPLE_RUN < n ? lo + GC_SERIES_SAMPLE_RUN : n;

		for (size_t j = lo; j < hi; j++, m++)
		{
			memcpy(Xs + m * p, X + j * p, sizeof(double) * p);
			segs[m] = m == 0 ? 0 : segs[m - 1] + (j == lo || seg[j] != seg[j - 1]);
			ts[m] = tstep[j];
		}
	}
	return m;
}

/*
 * "lags": "auto" on many rows: the order chosen on a sample (its BIC scaled to all n rows).
 */
static GcStatus
ChooseOnSample(const double *X, const int64_t *seg, const int64_t *tstep, size_t n, int p,
			   double step, const GcFitOptions *opt, const GcSeriesOptions *sopt,
			   const GcAlloc *alloc, int *lags, char *errmsg, size_t errlen)
{
	size_t		cap = ((GC_SERIES_SAMPLE_ROWS + GC_SERIES_SAMPLE_RUN - 1) / GC_SERIES_SAMPLE_RUN) *
		GC_SERIES_SAMPLE_RUN;
	double	   *Xs = alloc->alloc(alloc->ctx, sizeof(double) * cap * p);
	int64_t    *segs = alloc->alloc(alloc->ctx, sizeof(int64_t) * cap);
	int64_t    *ts = alloc->alloc(alloc->ctx, sizeof(int64_t) * cap);
	GcSeriesOptions so = *sopt;
	GcModel    *sample = NULL;
	GcStatus	status = GC_ENOMEM;

	if (Xs && segs && ts)
	{
		size_t		m = SampleRuns(X, seg, tstep, n, p, Xs, segs, ts);

		so.bic_rows = n;
		status = FitStacked(Xs, segs, ts, m, p, step, opt, &so, alloc, &sample, errmsg, errlen);
	}
	if (Xs)
		alloc->dealloc(alloc->ctx, Xs);
	if (segs)
		alloc->dealloc(alloc->ctx, segs);
	if (ts)
		alloc->dealloc(alloc->ctx, ts);
	if (status == GC_OK)
	{
		*lags = sample->lags;
		gc_model_free(sample, alloc);
	}
	return status;
}

/*
 * Widen the range of a censored choice to GC_SERIES_MAX_LAGS, or to as many lags as the
 * fit of all n rows can stack within the budget.
 */
static bool
WidenRange(GcSeriesOptions *so, size_t n, int p)
{
	int			K = GC_SERIES_MAX_LAGS;

	if (so->widen_bytes <= 0)
		return false;
	while (K > so->max_lags && (double) n * p * (K + 1) * GC_SERIES_BYTES_PER_VALUE > so->widen_bytes)
		K--;
	if (K <= so->max_lags)
		return false;
	so->max_lags = K;
	return true;
}

/*
 * "lags": "auto": choose the order by BIC (on a sample above 2 × GC_SERIES_SAMPLE_ROWS rows,
 * then fit it on all rows), searching a wider range when the choice sits on its end.
 */
static GcStatus
FitChosen(const double *X, const int64_t *seg, const int64_t *tstep, size_t n, int p,
		  double step, const GcFitOptions *opt, const GcSeriesOptions *sopt,
		  const GcAlloc *alloc, GcModel **model_out, char *errmsg, size_t errlen)
{
	GcSeriesOptions so = *sopt;
	bool		sample = n > 2 * (size_t) GC_SERIES_SAMPLE_ROWS;
	GcModel    *model = NULL;
	GcStatus	status;
	int			lags;

	for (;;)
	{
		status = sample ? ChooseOnSample(X, seg, tstep, n, p, step, opt, &so, alloc, &lags, errmsg, errlen)
			: FitStacked(X, seg, tstep, n, p, step, opt, &so, alloc, &model, errmsg, errlen);
		if (status != GC_OK)
			return status;
		lags = sample ? lags : model->lags;
		if (lags < so.max_lags || !WidenRange(&so, n, p))
			break;
		if (model)
			gc_model_free(model, alloc);
		model = NULL;
	}
	if (sopt->searched)
		*sopt->searched = so.max_lags;
	if (!sample)
	{
		*model_out = model;
		return GC_OK;
	}
	so.lags = lags;
	so.bic = NULL;
	return FitStacked(X, seg, tstep, n, p, step, opt, &so, alloc, model_out, errmsg, errlen);
}

GcStatus
gc_fit_temporal(const double *X, const int64_t *seg, const int64_t *tstep, size_t n, int p,
				double step, const GcFitOptions *opt, const GcSeriesOptions *sopt,
				const GcAlloc *alloc, GcModel **model_out, char *errmsg, size_t errlen)
{
	GcStatus	status;

	*model_out = NULL;
	if (errlen > 0)
		errmsg[0] = '\0';
	status = CheckSeries(seg, tstep, n, p, step, opt, sopt, errmsg, errlen);
	if (status != GC_OK)
		return status;
	if (sopt->lags < 0)
		return FitChosen(X, seg, tstep, n, p, step, opt, sopt, alloc, model_out, errmsg, errlen);
	return FitStacked(X, seg, tstep, n, p, step, opt, sopt, alloc, model_out, errmsg, errlen);
}
