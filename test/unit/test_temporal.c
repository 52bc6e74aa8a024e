/*
 * test_temporal.c — the temporal copula: recovery of the lag correlation of a known VAR(1)
 * series, lag choice by BIC, gaps in time as missing lags, block-Toeplitz windows and the
 * VAR continuation, and imputation that beats the plain copula on a time series.
 */
#include <stdlib.h>
#include <string.h>

#include "copula/copula.h"
#include "copula/precision.h"
#include "copula/temporal.h"
#include "platform/rng.h"
#include "unit.h"

#define P 3

/*
 * Two entities of a latent VAR(1) z_t = a z_{t−1} + e (a = 0.8 per channel, innovations
 * correlated 0.5 between channels 1 and 2; channel 3 also driven by channel 1's previous
 * value, which makes Γ(1) asymmetric), observed as x1 = z1, x2 = exp(z2) and an ordinal
 * x3 = round(2 z3). Rows with tstep ≡ 7 (mod 50) are absent (a gap in time).
 */
static size_t
Simulate(size_t len, double a, double *X, int64_t *seg, int64_t *tstep, double *truth)
{
	GcRng		rng;
	size_t		n = 0;
	double		sd = sqrt(1 - a * a);

	gc_rng_seed(&rng, 11);
	for (int e = 0; e < 2; e++)
	{
		double		z[P] = {0, 0, 0};

		for (size_t t = 0; t < len; t++)
		{
			double		u = gc_rng_normal(&rng),
						v = 0.5 * u + sqrt(0.75) * gc_rng_normal(&rng),
						w = gc_rng_normal(&rng);

			z[2] = a * z[2] + 0.4 * z[0] + sd * w;
			z[0] = a * z[0] + sd * u;
			z[1] = a * z[1] + sd * v;
			if (t % 50 == 7)
				continue;
			seg[n] = e;
			tstep[n] = (int64_t) t;
			truth[n * P + 0] = z[0];
			truth[n * P + 1] = exp(z[1]);
			truth[n * P + 2] = rint(2 * z[2]);
			n++;
		}
	}
	return n;
}

/* X: the n rows of truth with 20% of the cells missing at random */
static void
MaskCells(const double *truth, size_t n, uint64_t seed, double *X)
{
	GcRng		rng;

	memcpy(X, truth, sizeof(double) * n * P);
	gc_rng_seed(&rng, seed);
	for (size_t k = 0; k < n * P; k++)
		if (gc_rng_uniform(&rng) < 0.2)
			X[k] = NAN;
}

/* mean absolute error over the masked entries of column j */
static double
Mae(const double *truth, const double *X, const double *imp, size_t n, int j)
{
	double		s = 0;
	size_t		c = 0;

	for (size_t i = 0; i < n; i++)
		if (isnan(X[i * P + j]))
		{
			s += fabs(imp[i * P + j] - truth[i * P + j]);
			c++;
		}
	return c ? s / c : 0;
}

/*
 * Many rows: "auto" chooses the order on a sample of runs (the BIC scaled to all rows) and
 * fits only that order on all rows; the VAR(1) still gets one lag, the model counts every row.
 */
static void
CheckSampleChoice(const GcFitOptions *opt)
{
	size_t		len = GC_SERIES_SAMPLE_ROWS + 2000,
				n;
	double	   *X = malloc(sizeof(double) * 2 * len * P),
			   *truth = malloc(sizeof(double) * 2 * len * P);
	int64_t    *seg = malloc(sizeof(int64_t) * 2 * len),
			   *tstep = malloc(sizeof(int64_t) * 2 * len);
	GcSeriesOptions sopt;
	GcModel    *m = NULL;
	double		bic[7];
	char		err[256];
	GcStatus	st;

	n = Simulate(len, 0.8, X, seg, tstep, truth);
	MaskCells(truth, n, 6, X);
	gc_series_options_default(&sopt);
	sopt.bic = bic;
	st = gc_fit_temporal(X, seg, tstep, n, P, 1.0, opt, &sopt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_OK && n > 2 * GC_SERIES_SAMPLE_ROWS, "%zu rows: auto lags on a sample (%s)", n, err);
	if (st == GC_OK)
	{
		CHECK(m->lags == 1 && bic[0] - bic[1] > 10000,
			  "the sample chooses one lag (%d), its BIC scaled to all rows (BIC(0) − BIC(1) = %.0f)",
			  m->lags, bic[0] - bic[1]);
		CHECK(m->nrows == (int64_t) n, "the chosen order is fitted on all %zu rows (%lld)", n,
			  (long long) m->nrows);
		CHECK_CLOSE(m->lagcorr[0], 0.8, 0.03, "Γ(1) of channel 1 from all rows");
	}
	gc_model_free(m, &gc_malloc_alloc);
	free(X);
	free(truth);
	free(seg);
	free(tstep);
}

int
main(void)
{
	size_t		len = 3000,
				n;
	double	   *X = malloc(sizeof(double) * 2 * len * P),
			   *truth = malloc(sizeof(double) * 2 * len * P),
			   *imp_plain = malloc(sizeof(double) * 2 * len * P),
			   *imp_causal = malloc(sizeof(double) * 2 * len * P),
			   *imp_smooth = malloc(sizeof(double) * 2 * len * P);
	int64_t    *seg = malloc(sizeof(int64_t) * 2 * len),
			   *tstep = malloc(sizeof(int64_t) * 2 * len);
	GcFitOptions opt;
	GcSeriesOptions sopt;
	GcModel    *m = NULL,
			   *mp = NULL,
			   *m2 = NULL,
			   *wc = NULL,
			   *ws = NULL;
	GcImputer  *ip = NULL,
			   *ic = NULL,
			   *is = NULL;
	char		err[256];
	GcStatus	st;
	double		bic[7];
	double		a = 0.8;

	n = Simulate(len, a, X, seg, tstep, truth);
	MaskCells(truth, n, 5, X);

	gc_fit_options_default(&opt);
	opt.tol = 1e-4;
	gc_series_options_default(&sopt);
	sopt.bic = bic;
	st = gc_fit_temporal(X, seg, tstep, n, P, 1.0, &opt, &sopt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_OK, "temporal fit succeeds (%s)", err);
	if (st != GC_OK)
		return UNIT_DONE();
	CHECK(m->temporal && m->step == 1.0, "the model is temporal with step 1");
	CHECK(m->lags == 1, "BIC chooses the one lag of a VAR(1) (chose %d; BIC %.1f %.1f %.1f %.1f)",
		  m->lags, bic[0], bic[1], bic[2], bic[3]);
	CHECK(bic[0] - bic[1] > 1000, "a lag improves the BIC by a lot (%.1f)", bic[0] - bic[1]);
	CHECK(m->marg[0].type == GC_CONTINUOUS && m->marg[2].type == GC_ORDINAL,
		  "marginals detected once per column");
	CHECK_CLOSE(m->corr[0 + 1 * P], 0.5, 0.06, "Γ(0) between channels 1 and 2");
	CHECK_CLOSE(m->lagcorr[0], a, 0.05, "Γ(1) of channel 1 is the AR coefficient");
	CHECK_CLOSE(m->lagcorr[1 + 1 * P], a, 0.05, "Γ(1) of channel 2 (through exp) too");
	CHECK_CLOSE(m->lagcorr[0 + 1 * P], 0.5 * a, 0.06, "Γ(1) across channels 1 and 2");
	CHECK(m->lagcorr[2 + 0 * P] > 0.3 && m->lagcorr[2 + 0 * P] > m->lagcorr[0 + 2 * P] + 0.1,
		  "Γ(1) is oriented: corr(z3_t, z1_{t−1}) %.3f > corr(z1_t, z3_{t−1}) %.3f",
		  m->lagcorr[2 + 0 * P], m->lagcorr[0 + 2 * P]);

	/* the VAR(1) continuation: Γ(2) = A Γ(1) with A = Γ(1) Γ(0)⁻¹, here ≈ a² I on the diagonal */
	{
		int			W = 3;
		double	   *corr = malloc(sizeof(double) * W * P * W * P);

		st = gc_temporal_window_corr(m, 2, 0, &gc_malloc_alloc, corr);
		CHECK(st == GC_OK, "window corr of three rows");
		CHECK_CLOSE(corr[(2 * P + 0) + (size_t) 0 * W * P], a * a, 0.06,
					"Γ(2) of channel 1 continues the AR(1)");
		CHECK(corr[(1 * P + 0) + (size_t) 0 * W * P] == m->lagcorr[0] &&
			  corr[0 + (size_t) (1 * P) * W * P] == m->lagcorr[0],
			  "blocks (1,0) and (0,1) are Γ(1) and Γ(1)ᵀ");
		free(corr);
	}

	/* a fixed number of lags, and lags = 0 equals a plain fit's correlation */
	sopt.lags = 2;
	sopt.bic = NULL;
	st = gc_fit_temporal(X, seg, tstep, n, P, 1.0, &opt, &sopt, &gc_malloc_alloc, &m2, err, sizeof(err));
	CHECK(st == GC_OK && m2->lags == 2, "two lags when asked for");
	if (st == GC_OK)
	{
		double	   *corr = malloc(sizeof(double) * 9 * P * P);
		double		d = 0;

		CHECK_CLOSE(m2->lagcorr[P * P], a * a, 0.06, "Γ(2) of channel 1 near a²");
		/* Γ(2) continued from the one-lag model matches the two-lag fit, asymmetry included */
		gc_temporal_window_corr(m, 2, 0, &gc_malloc_alloc, corr);
		for (int j = 0; j < P; j++)
			for (int i = 0; i < P; i++)
				d = fmax(d, fabs(corr[(2 * P + i) + (size_t) j * 3 * P] - m2->lagcorr[P * P + i + j * P]));
		CHECK(d < 0.06, "VAR continuation of Γ(2) agrees with the fitted Γ(2) (max diff %.3f)", d);
		free(corr);
	}
	gc_model_free(m2, &gc_malloc_alloc);
	m2 = NULL;
	sopt.lags = 0;
	st = gc_fit_temporal(X, seg, tstep, n, P, 1.0, &opt, &sopt, &gc_malloc_alloc, &m2, err, sizeof(err));
	st = st == GC_OK ? gc_fit_standard(X, n, P, &opt, &gc_malloc_alloc, &mp, err, sizeof(err)) : st;
	CHECK(st == GC_OK, "zero lags and a plain fit");
	if (st == GC_OK)
	{
		double		d = 0;

		for (int k = 0; k < P * P; k++)
			d = fmax(d, fabs(m2->corr[k] - mp->corr[k]));
		CHECK(d < 1e-3, "zero lags is the plain copula up to the shrinkage (max diff %g)", d);
	}
	gc_model_free(m2, &gc_malloc_alloc);

	/* out-of-order time within an entity is refused */
	{
		int64_t		t1 = tstep[1];

		tstep[1] = tstep[0];
		st = gc_fit_temporal(X, seg, tstep, n, P, 1.0, &opt, &sopt, &gc_malloc_alloc, &m2, err, sizeof(err));
		CHECK(st == GC_EINVAL && strstr(err, "not after") != NULL, "equal times refused: %s", err);
		tstep[1] = t1;
	}

	/* imputation: causal (row and its lag) and smooth (lag and lead) beat the plain copula */
	st = gc_temporal_window_model(m, 1, 0, &gc_malloc_alloc, &wc);
	if (st == GC_OK)
		st = gc_temporal_window_model(m, 1, 1, &gc_malloc_alloc, &ws);
	if (st == GC_OK)
		st = gc_imputer_create(mp, &gc_malloc_alloc, &ip, err, sizeof(err));
	if (st == GC_OK)
		st = gc_imputer_create(wc, &gc_malloc_alloc, &ic, err, sizeof(err));
	if (st == GC_OK)
		st = gc_imputer_create(ws, &gc_malloc_alloc, &is, err, sizeof(err));
	CHECK(st == GC_OK, "window models and imputers");
	if (st == GC_OK)
	{
		double		in[3 * P],
					out[3 * P];

		for (size_t i = 0; i < n; i++)
		{
			int			has_prev = i > 0 && seg[i - 1] == seg[i] && tstep[i - 1] == tstep[i] - 1;
			int			has_next = i + 1 < n && seg[i + 1] == seg[i] && tstep[i + 1] == tstep[i] + 1;

			gc_impute_row(ip, X + i * P, imp_plain + i * P, 2);
			for (int j = 0; j < P; j++)
			{
				in[j] = has_prev ? X[(i - 1) * P + j] : NAN;
				in[P + j] = X[i * P + j];
				in[2 * P + j] = has_next ? X[(i + 1) * P + j] : NAN;
			}
			gc_impute_row(ic, in, out, 2);
			memcpy(imp_causal + i * P, out + P, sizeof(double) * P);
			gc_impute_row(is, in, out, 2);
			memcpy(imp_smooth + i * P, out + P, sizeof(double) * P);
		}
		for (int j = 0; j < P; j++)
		{
			double		ep = Mae(truth, X, imp_plain, n, j),
						ec = Mae(truth, X, imp_causal, n, j),
						es = Mae(truth, X, imp_smooth, n, j);

			CHECK(ec < 0.85 * ep && es < ec, "column %d: MAE plain %.3f > causal %.3f > smooth %.3f",
				  j + 1, ep, ec, es);
		}
	}
	CheckSampleChoice(&opt);
	gc_imputer_free(ip);
	gc_imputer_free(ic);
	gc_imputer_free(is);
	gc_temporal_window_free(wc, &gc_malloc_alloc);
	gc_temporal_window_free(ws, &gc_malloc_alloc);
	gc_model_free(m, &gc_malloc_alloc);
	gc_model_free(mp, &gc_malloc_alloc);
	free(X);
	free(truth);
	free(imp_plain);
	free(imp_causal);
	free(imp_smooth);
	free(seg);
	free(tstep);
	return UNIT_DONE();
}
