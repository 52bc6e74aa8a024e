/*
 * Unit tests: online training (src/copula/online.c) — the marginal sketches built by the
 * indexed flush (exact while small, compressed later, long runs in one gap for a drifting
 * stream, merged states that keep streaming) and the correlation of the online map.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "copula/marginal.h"
#include "copula/online.h"
#include "copula/precision.h"
#include "unit.h"

static uint64_t rs = 0x9E3779B97F4A7C15ULL;

static double
Unif(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return ((rs >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double
Gauss(void)
{
	return sqrt(-2 * log(Unif())) * cos(2 * M_PI * Unif());
}

static int
CmpD(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* fit rows (n × p, NaN missing) online; NULL on failure */
static GcModel *
FitOnline(const double *X, int n, int p, GcFitOptions *opt)
{
	GcOnline   *s;
	GcModel    *m = NULL;
	char		msg[256];

	if (gc_online_create(p, opt, &gc_malloc_alloc, &s) != GC_OK)
		return NULL;
	for (int i = 0; i < n; i++)
		if (gc_online_add(s, X + (size_t) i * p, msg, sizeof(msg)) != GC_OK)
		{
			printf("# add: %s\n", msg);
			gc_online_free(s);
			return NULL;
		}
	if (gc_online_model(s, &gc_malloc_alloc, &m, msg, sizeof(msg)) != GC_OK)
		printf("# model: %s\n", msg);
	gc_online_free(s);
	return m;
}

/* largest |F_sketch(v) − F_true(v)| over the sorted observed values of column j */
static double
EcdfError(const GcMarginal *m, const double *X, int n, int p, int j)
{
	double	   *v = malloc(sizeof(double) * n);
	int			nv = 0;
	double		worst = 0;

	for (int i = 0; i < n; i++)
		if (!isnan(X[(size_t) i * p + j]))
			v[nv++] = X[(size_t) i * p + j];
	qsort(v, nv, sizeof(double), CmpD);
	for (int i = 0; i < nv; i++)
	{
		double		truth,
					e;

		if (i + 1 < nv && v[i + 1] == v[i])
			continue;
		truth = (i + 1.0) / nv;
		e = fabs(gc_marginal_ecdf(m, v[i]) - truth);
		if (e > worst)
			worst = e;
	}
	free(v);
	return worst;
}

/* the model's marginal j holds exactly the ECDF of column j's observed values */
static int
IsExactEcdf(const GcMarginal *m, const double *X, int n, int p, int j)
{
	double	   *v = malloc(sizeof(double) * n);
	int			nv = 0,
				k = 0,
				ok = 1;

	for (int i = 0; i < n; i++)
		if (!isnan(X[(size_t) i * p + j]))
			v[nv++] = X[(size_t) i * p + j];
	qsort(v, nv, sizeof(double), CmpD);
	for (int i = 0; i < nv && ok; i++)
	{
		int			e = i + 1;

		while (e < nv && v[e] == v[i])
			e++;
		ok = k < m->nknots && m->x[k] == v[i] && m->mult[k] == e - i && m->cum[k] == e;
		k++;
		i = e - 1;
	}
	ok = ok && k == m->nknots && m->n == nv;
	free(v);
	return ok;
}

int
main(void)
{
	int			n = 6000,
				p = 3;
	double	   *X = malloc(sizeof(double) * n * p);
	int			types[3] = {GC_CONTINUOUS, GC_CONTINUOUS, GC_CONTINUOUS};
	GcFitOptions opt;
	GcModel    *m;

	gc_simd_init();
	/* col 0: rounded (many values repeat, so pending values hit existing knots); col 1, 2 correlated */
	for (int i = 0; i < n; i++)
	{
		double		z0 = Gauss(),
					z1 = Gauss();

		X[i * p + 0] = round(8 * Gauss()) / 4;
		X[i * p + 1] = exp(z0);
		X[i * p + 2] = 0.6 * z0 + 0.8 * z1;
		for (int j = 0; j < p; j++)
			if (Unif() < 0.2)
				X[i * p + j] = NAN;
	}

	/* exact: a budget above the number of distinct values keeps the whole ECDF */
	gc_fit_options_default(&opt);
	opt.training = GC_TRAIN_MINIBATCH_ONLINE;
	opt.types = types;
	opt.max_knots = 10000;
	m = FitOnline(X, n, p, &opt);
	CHECK(m != NULL, "online fit with a large knot budget");
	if (m)
	{
		for (int j = 0; j < p; j++)
		{
			CHECK(IsExactEcdf(&m->marg[j], X, n, p, j), "column %d: knots, multiplicities and counts are the exact ECDF", j);
			CHECK(gc_marginal_check(&m->marg[j]) == NULL, "column %d: a valid marginal", j);
		}
		/* the latent map is right if the normal-scores correlation is recovered */
		CHECK_CLOSE(m->corr[1 + 2 * p], 0.6, 0.05, "correlation of columns 1 and 2");
		gc_model_free(m, &gc_malloc_alloc);
	}

	/* compressed: 64 knots per column, flushed every 64 pending values */
	opt.max_knots = 64;
	m = FitOnline(X, n, p, &opt);
	CHECK(m != NULL, "online fit with 64 knots");
	if (m)
	{
		for (int j = 0; j < p; j++)
		{
			double		e = EcdfError(&m->marg[j], X, n, p, j);

			CHECK(gc_marginal_check(&m->marg[j]) == NULL && m->marg[j].nknots <= 64,
				  "column %d: a valid marginal of at most 64 knots (%d)", j, m->marg[j].nknots);
			CHECK(e < 0.04, "column %d: ECDF within 0.04 of the data's (%.4f)", j, e);
		}
		CHECK_CLOSE(m->corr[1 + 2 * p], 0.6, 0.05, "correlation of columns 1 and 2 (64 knots)");
		gc_model_free(m, &gc_malloc_alloc);
	}

	/*
	 * drifting: half the values climb above all knots, so a flush sorts one long run of
	 * them (the other half keeps each batch's map from being constant)
	 */
	{
		double	   *D = malloc(sizeof(double) * n * 2);
		int			t2[2] = {GC_CONTINUOUS, GC_CONTINUOUS};

		for (int i = 0; i < n; i++)
		{
			double		z = Gauss();

			D[i * 2 + 0] = (i % 2) ? Gauss() : 1000 + i + 0.5 * Unif();
			D[i * 2 + 1] = z + 0.001 * i;
		}
		opt.types = t2;
		opt.max_knots = 128;
		m = FitOnline(D, n, 2, &opt);
		CHECK(m != NULL, "online fit of a drifting stream");
		if (m)
		{
			double		e = EcdfError(&m->marg[0], D, n, 2, 0);

			CHECK(gc_marginal_check(&m->marg[0]) == NULL, "drifting column: a valid marginal");
			CHECK(m->marg[0].x[m->marg[0].nknots - 1] == D[(n - 2) * 2],
				  "drifting column: the last value is the largest knot");
			CHECK(e < 0.03, "drifting column: ECDF within 0.03 (%.4f)", e);
			gc_model_free(m, &gc_malloc_alloc);
		}
		free(D);
		opt.types = types;
	}

	/* merged states keep streaming: a's knots change under its pending values */
	{
		GcOnline   *a,
				   *b;
		char		msg[256];
		int			ok = 1;

		opt.max_knots = 64;
		ok = gc_online_create(p, &opt, &gc_malloc_alloc, &a) == GC_OK &&
			gc_online_create(p, &opt, &gc_malloc_alloc, &b) == GC_OK;
		for (int i = 0; ok && i < n; i++)
		{
			GcOnline   *s = (i < n / 3) ? a : (i < 2 * n / 3) ? b : NULL;

			if (i == 2 * n / 3)
				ok = gc_online_merge(a, b, msg, sizeof(msg)) == GC_OK;
			if (ok)
				ok = gc_online_add(s ? s : a, X + (size_t) i * p, msg, sizeof(msg)) == GC_OK;
		}
		CHECK(ok, "two partial states merged, then more rows");
		m = NULL;
		if (ok && gc_online_model(a, &gc_malloc_alloc, &m, msg, sizeof(msg)) == GC_OK)
		{
			for (int j = 0; j < p; j++)
			{
				double		e = EcdfError(&m->marg[j], X, n, p, j);

				CHECK(gc_marginal_check(&m->marg[j]) == NULL && e < 0.05,
					  "merged column %d: a valid marginal, ECDF within 0.05 (%.4f)", j, e);
			}
			CHECK_CLOSE(m->corr[1 + 2 * p], 0.6, 0.08, "merged: correlation of columns 1 and 2");
			gc_model_free(m, &gc_malloc_alloc);
		}
		else
			CHECK(0, "model of the merged state");
		gc_online_free(a);
		gc_online_free(b);
	}

	/*
	 * detected types: lower-truncated (the indexed map with its point mass), ordinal (the
	 * shared map) and continuous, all from one latent factor; then the same with decay
	 */
	for (int i = 0; i < n; i++)
	{
		double		f = Gauss();

		X[i * p + 0] = fmax(0, 0.3 + 0.7 * f + 0.71 * Gauss());
		X[i * p + 1] = fmin(fmax(round(0.7 * f + 0.71 * Gauss()), -2), 2);
		X[i * p + 2] = exp(0.7 * f + 0.71 * Gauss());
		for (int j = 0; j < p; j++)
			if (Unif() < 0.2)
				X[i * p + j] = NAN;
	}
	gc_fit_options_default(&opt);
	opt.training = GC_TRAIN_MINIBATCH_ONLINE;
	opt.max_knots = 10000;
	m = FitOnline(X, n, p, &opt);
	CHECK(m != NULL, "online fit of mixed types");
	if (m)
	{
		CHECK(m->marg[0].type == GC_LOWER_TRUNCATED && m->marg[1].type == GC_ORDINAL &&
			  m->marg[2].type == GC_CONTINUOUS, "types detected: lower_truncated, ordinal, continuous");
		for (int j = 0; j < p; j++)
			CHECK(IsExactEcdf(&m->marg[j], X, n, p, j), "mixed column %d: the exact ECDF", j);
		/* latent correlations are 0.7² ≈ 0.49 */
		CHECK_CLOSE(m->corr[0 + 2 * p], 0.49, 0.08, "truncated vs continuous correlation");
		CHECK_CLOSE(m->corr[1 + 2 * p], 0.49, 0.08, "ordinal vs continuous correlation");
		gc_model_free(m, &gc_malloc_alloc);
	}
	opt.max_knots = 256;
	opt.decay = 0.01;
	m = FitOnline(X, n, p, &opt);
	CHECK(m != NULL, "online fit of mixed types with decay");
	if (m)
	{
		int			nobs = 0;

		for (int j = 0; j < p; j++)
			CHECK(gc_marginal_check(&m->marg[j]) == NULL, "decayed column %d: a valid marginal", j);
		for (int i = 0; i < n; i++)
			nobs += !isnan(X[i * p + 2]);
		CHECK(m->marg[2].n < 0.9 * nobs, "decay forgets: total weight %.0f below the %d values", m->marg[2].n, nobs);
		CHECK_CLOSE(m->corr[0 + 2 * p], 0.49, 0.1, "decay: truncated vs continuous correlation");
		gc_model_free(m, &gc_malloc_alloc);
	}
	free(X);

	/*
	 * Decay weighs every batch by its age, also values still pending (not yet merged into
	 * a full sketch): after the first block of 500 and T batches of 50 the total weight is
	 * w ← (1 − d)·w + 50 per batch, exactly, whichever batches were merged late.
	 */
	{
		int			nb = 50,
					T = 40,
					nd = 500 + nb * T;
		double	   *D = malloc(sizeof(double) * nd);
		double		expect = 500;

		for (int i = 0; i < nd; i++)
			D[i] = Gauss();
		for (int t = 0; t < T; t++)
			expect = expect * (1 - 0.05) + nb;
		gc_fit_options_default(&opt);
		opt.training = GC_TRAIN_MINIBATCH_ONLINE;
		opt.batch_size = nb;
		opt.max_knots = 64;
		opt.decay = 0.05;
		m = FitOnline(D, nd, 1, &opt);
		CHECK(m != NULL, "online fit with decay and deferred merges");
		if (m)
		{
			CHECK_CLOSE(m->marg[0].n, expect, 1e-9 * expect,
						"decay: total weight is the decayed count of every batch");
			CHECK(gc_marginal_check(&m->marg[0]) == NULL, "decayed sketch: a valid marginal");
			gc_model_free(m, &gc_malloc_alloc);
		}
		free(D);
	}
	return UNIT_DONE();
}
