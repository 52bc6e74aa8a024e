/*
 * Unit tests: the low-rank Gaussian copula (src/lowrank/em_lowrank.c) recovers a known
 * Σ = WWᵀ + σI from mixed continuous/ordinal data with missing entries, keeps its invariants,
 * imputes through the ordinary imputer, and rejects ranks out of range.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "copula/copula.h"
#include "copula/precision.h"
#include "platform/rng.h"
#include "platform/simd.h"
#include "unit.h"
#include "unit_lowrank.h"

#define N 3000
#define P 24
#define K 3
#define SIGMA 0.3

/* ‖A − B‖_F / ‖B‖_F over p×p matrices */
static double
RelDiff(const double *A, const double *B, int p)
{
	double		num = 0,
				den = 0;

	for (int e = 0; e < p * p; e++)
	{
		num += (A[e] - B[e]) * (A[e] - B[e]);
		den += B[e] * B[e];
	}
	return sqrt(num / den);
}

int
main(void)
{
	double	   *X = malloc(sizeof(double) * N * P);
	double	   *Ztrue = malloc(sizeof(double) * N * P);
	double		Wtrue[P * K],
				Sig[P * P];
	GcRng		rng;
	GcFitOptions opt;
	GcModel    *m = NULL,
			   *m2 = NULL,
			   *mf = NULL;
	GcImputer  *imp = NULL;
	char		err[256];
	GcStatus	st;
	double		maxdiag = 0,
				maxasym = 0,
				maxnorm = 0;
	int			nord = 0;

	gc_simd_init();
	/* a known low-rank correlation: rows of W of length √(1−σ) */
	gc_rng_seed(&rng, 20261122);
	UnitRandomFactor(&rng, Wtrue, P, K, 1 - SIGMA);
	for (int a = 0; a < P; a++)
		for (int b = 0; b < P; b++)
		{
			double		s = a == b ? SIGMA : 0;

			for (int c = 0; c < K; c++)
				s += Wtrue[a + c * P] * Wtrue[b + c * P];
			Sig[a + b * P] = s;
		}

	/*
	 * z = W t + √σ ε; columns 0..11 continuous (exp z), 12..23 ordinal with 5 levels; 15%
	 * of the entries missing at random, and one row entirely missing.
	 */
	for (int i = 0; i < N; i++)
	{
		double		t[K];

		for (int c = 0; c < K; c++)
			t[c] = gc_rng_normal(&rng);
		for (int j = 0; j < P; j++)
		{
			double		z = sqrt(SIGMA) * gc_rng_normal(&rng);

			for (int c = 0; c < K; c++)
				z += Wtrue[j + c * P] * t[c];
			Ztrue[i * P + j] = z;
			if (j < P / 2)
				X[i * P + j] = exp(z);
			else
				X[i * P + j] = z < -1.0 ? 1 : z < -0.3 ? 2 : z < 0.3 ? 3 : z < 1.0 ? 4 : 5;
			if (gc_rng_uniform(&rng) < 0.15 || i == 17)
				X[i * P + j] = NAN;
		}
	}

	gc_fit_options_default(&opt);
	opt.tol = 1e-4;
	opt.max_iter = 200;
	st = gc_fit_lowrank(X, N, P, K, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_OK, "low-rank fit succeeds (%s)", err);
	if (st != GC_OK)
		return UNIT_DONE();
	for (int j = P / 2; j < P; j++)
		nord += m->marg[j].type == GC_ORDINAL;
	CHECK(nord == P / 2, "ordinal columns detected (%d of %d)", nord, P / 2);
	CHECK(m->kind == GC_MODEL_LOWRANK && m->rank == K && m->W != NULL, "kind low_rank, rank %d", m->rank);
	CHECK(m->converged && m->n_iter > 1, "converged in %d iterations (last change %g)", m->n_iter, m->delta);
	CHECK(m->sigma > 0 && m->sigma < 1, "noise variance in (0,1): %g", m->sigma);
	CHECK_CLOSE(m->sigma, SIGMA, 0.05, "noise variance recovered");
	CHECK(RelDiff(m->corr, Sig, P) < 0.05, "correlation recovered: relative error %.4f", RelDiff(m->corr, Sig, P));
	for (int a = 0; a < P; a++)
	{
		double		len = m->sigma;

		for (int c = 0; c < K; c++)
			len += m->W[a + c * P] * m->W[a + c * P];
		maxnorm = fmax(maxnorm, fabs(len - 1));
		maxdiag = fmax(maxdiag, fabs(m->corr[a + a * P] - 1));
		for (int b = 0; b < P; b++)
		{
			double		wb = a == b ? m->sigma : 0;

			for (int c = 0; c < K; c++)
				wb += m->W[a + c * P] * m->W[b + c * P];
			maxasym = fmax(maxasym, fabs(m->corr[a + b * P] - m->corr[b + a * P]));
			if (a != b)
				maxnorm = fmax(maxnorm, fabs(m->corr[a + b * P] - wb));
		}
	}
	CHECK(maxdiag == 0 && maxasym == 0, "corr has an exact unit diagonal and is exactly symmetric");
	CHECK(maxnorm < 1e-12, "corr = WWᵀ + σI and ‖W_j‖² + σ = 1 (max deviation %g)", maxnorm);
	{
		/* a stored low-rank model keeps W alone and rebuilds corr: it must come back to the bit */
		double	   *C = malloc(sizeof(double) * P * P);

		gc_lowrank_corr(m, C);
		CHECK(memcmp(C, m->corr, sizeof(double) * P * P) == 0, "gc_lowrank_corr rebuilds the fitted corr to the bit");
		free(C);
	}

	/* deterministic */
	st = gc_fit_lowrank(X, N, P, K, &opt, &gc_malloc_alloc, &m2, err, sizeof(err));
	CHECK(st == GC_OK && m2->n_iter == m->n_iter && memcmp(m2->corr, m->corr, sizeof(double) * P * P) == 0 &&
		  m2->sigma == m->sigma, "a second fit is bit-identical");
	if (m2)
		gc_model_free(m2, &gc_malloc_alloc);

	/*
	 * Every level gives the same fit. The AVX2 and portable levels run the same operations
	 * (the moments four at a time or one at a time), so to the bit; the AVX-512 level fuses
	 * the E-step's long products into multiply-adds as dgemm does, in another order, so to
	 * rounding — checked also with a column count (21) and packed widths that are not
	 * multiples of 8 (rank 3 and 7: 6 and 28 packed entries). Under valgrind (no AVX-512)
	 * only the first comparison runs.
	 */
	{
		int			top = gc_simd_supported();
		double	   *X21 = malloc(sizeof(double) * N * 21);
		double		worst = 0;
		int			same_iter = 1,
					ok = 1;

		if (top >= GC_SIMD_AVX2)
		{
			GcModel    *ma = NULL,
					   *mb = NULL;

			gc_simd_force(GC_SIMD_AVX2);
			ok &= gc_fit_lowrank(X, N, P, K, &opt, &gc_malloc_alloc, &ma, err, sizeof(err)) == GC_OK;
			gc_simd_force(GC_SIMD_BASE);
			ok &= gc_fit_lowrank(X, N, P, K, &opt, &gc_malloc_alloc, &mb, err, sizeof(err)) == GC_OK;
			CHECK(ok && ma->n_iter == mb->n_iter && memcmp(ma->corr, mb->corr, sizeof(double) * P * P) == 0 &&
				  ma->sigma == mb->sigma && ma->loglik == mb->loglik,
				  "the portable level gives the AVX2 level's fit to the bit");
			if (ma)
				gc_model_free(ma, &gc_malloc_alloc);
			if (mb)
				gc_model_free(mb, &gc_malloc_alloc);
		}
		for (int i = 0; i < N; i++)
			memcpy(X21 + (size_t) i * 21, X + (size_t) i * P, sizeof(double) * 21);
		for (int r = 3; top >= GC_SIMD_AVX512 && r <= 7; r += 4)
		{
			GcModel    *ma = NULL,
					   *mb = NULL;

			gc_simd_force(GC_SIMD_AVX512);
			ok &= gc_fit_lowrank(X21, N, 21, r, &opt, &gc_malloc_alloc, &ma, err, sizeof(err)) == GC_OK;
			gc_simd_force(GC_SIMD_AVX2);
			ok &= gc_fit_lowrank(X21, N, 21, r, &opt, &gc_malloc_alloc, &mb, err, sizeof(err)) == GC_OK;
			if (ma && mb)
			{
				same_iter &= ma->n_iter == mb->n_iter;
				for (size_t e = 0; e < (size_t) 21 * 21; e++)
					worst = fmax(worst, fabs(ma->corr[e] - mb->corr[e]));
				worst = fmax(worst, fabs(ma->sigma - mb->sigma));
			}
			if (ma)
				gc_model_free(ma, &gc_malloc_alloc);
			if (mb)
				gc_model_free(mb, &gc_malloc_alloc);
		}
		if (top >= GC_SIMD_AVX512)
			CHECK(ok && same_iter && worst < 1e-10,
				  "the AVX2 level gives the AVX-512 level's fit to rounding (21 columns, ranks 3 and 7): worst difference %.1e",
				  worst);
		gc_simd_force(top);
		free(X21);
	}

	/* the full model on the same data agrees with the low-rank one */
	st = gc_fit_standard(X, N, P, &opt, &gc_malloc_alloc, &mf, err, sizeof(err));
	CHECK(st == GC_OK && RelDiff(m->corr, mf->corr, P) < 0.05, "close to the full model: %.4f",
		  st == GC_OK ? RelDiff(m->corr, mf->corr, P) : -1);
	if (mf)
		gc_model_free(mf, &gc_malloc_alloc);

	/* imputation through the ordinary imputer: observed kept, missing latent close to truth */
	st = gc_imputer_create(m, &gc_malloc_alloc, &imp, err, sizeof(err));
	CHECK(st == GC_OK, "imputer created from the low-rank model");
	if (st == GC_OK)
	{
		double		row[P],
					out[P],
					err_imp = 0,
					err_med = 0;
		int			kept = 1,
					cnt = 0;

		/* new rows: hide the first continuous column, predict it from the other 23 */
		for (int i = 0; i < 500; i++)
		{
			double		t[K],
						z0 = 0;

			for (int c = 0; c < K; c++)
				t[c] = gc_rng_normal(&rng);
			for (int j = 0; j < P; j++)
			{
				double		z = sqrt(SIGMA) * gc_rng_normal(&rng);

				for (int c = 0; c < K; c++)
					z += Wtrue[j + c * P] * t[c];
				if (j == 0)
					z0 = z;
				row[j] = j < P / 2 ? exp(z) : z < -1.0 ? 1 : z < -0.3 ? 2 : z < 0.3 ? 3 : z < 1.0 ? 4 : 5;
			}
			row[0] = NAN;
			gc_impute_row(imp, row, out, 2);
			for (int j = 1; j < P; j++)
				kept &= out[j] == row[j];
			err_imp += fabs(log(out[0]) - z0);
			err_med += fabs(z0);	/* the median of exp(z) is exp(0) */
			cnt++;
		}
		CHECK(kept, "observed entries come back unchanged");
		CHECK(err_imp < 0.75 * err_med, "imputation beats the median: latent MAE %.3f vs %.3f",
			  err_imp / cnt, err_med / cnt);
		gc_imputer_free(imp);
	}
	gc_model_free(m, &gc_malloc_alloc);

	/* a constant column is outside the copula */
	for (int i = 0; i < N; i++)
		if (!isnan(X[i * P + 5]))
			X[i * P + 5] = 7;
	st = gc_fit_lowrank(X, N, P, K, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_OK, "fit with a constant column (%s)", err);
	if (st == GC_OK)
	{
		int			zero = 1;

		for (int c = 0; c < K; c++)
			zero &= m->W[5 + c * P] == 0;
		for (int b = 0; b < P; b++)
			zero &= m->corr[5 + b * P] == (b == 5 ? 1 : 0);
		CHECK(m->marg[5].type == GC_CONSTANT && zero, "constant column: zero row of W, identity row of corr");
		gc_model_free(m, &gc_malloc_alloc);
	}

	/* no structure at all: independent columns still give a finite, valid model */
	for (int e = 0; e < N * P; e++)
		X[e] = gc_rng_normal(&rng);
	opt.tol = 0.01;
	st = gc_fit_lowrank(X, N, P, 2, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_OK, "independent columns fit (%s)", err);
	if (st == GC_OK)
	{
		int			finite = 1;

		for (int e = 0; e < P * P; e++)
			finite &= isfinite(m->corr[e]) && fabs(m->corr[e]) <= 1;
		CHECK(finite && m->sigma > 0.8, "independent columns: finite correlation, noise variance %g", m->sigma);
		gc_model_free(m, &gc_malloc_alloc);
	}

	/* rank out of range */
	st = gc_fit_lowrank(X, N, P, 0, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_EINVAL && m == NULL && strstr(err, "rank 0") != NULL, "rank 0 rejected: %s", err);
	st = gc_fit_lowrank(X, N, P, P, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_EINVAL && strstr(err, "24 columns") != NULL, "rank = p rejected: %s", err);
	st = gc_fit_lowrank(X, N, P, -3, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_EINVAL, "negative rank rejected");
	for (int i = 0; i < N; i++)
		for (int j = 2; j < P; j++)
			X[i * P + j] = 1;
	st = gc_fit_lowrank(X, N, P, 2, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_EINVAL && m == NULL && strstr(err, "non-constant columns (2 of 24)") != NULL,
		  "rank >= active columns rejected: %s", err);
	st = gc_fit_lowrank(X, N, 1, 1, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_EINVAL, "one column rejected: %s", err);

	free(X);
	free(Ztrue);
	return UNIT_DONE();
}
