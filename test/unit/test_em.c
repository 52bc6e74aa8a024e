/* Unit tests: EM fitting and imputation on small known cases (src/copula/em.c, impute.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "copula/cond.h"
#include "copula/copula.h"
#include "copula/estep.h"
#include "copula/normal.h"
#include "copula/precision.h"
#include "platform/rng.h"
#include "unit.h"

/*
 * The E-step over continuous rows (patterns of one size factored several at a time,
 * estep.c) against the per-pattern routines of cond.c row by row: the same C̄, the same
 * conditional means up to the order of the dot products, hence the same M-step moments.
 * q = 8 has few patterns (many rows share one), q = 20 mostly patterns of their own;
 * 26 columns with 25 missing in some rows exercise a factor beyond the batches' size.
 */
static void
EStepBatchesAgree(int q, size_t n, double miss)
{
	GcRng		rng;
	GcPrecision prec;
	GcEStep		es;
	GcCond		c;
	double	   *Z = malloc(sizeof(double) * n * q),
			   *buf = malloc(sizeof(double) * n * q),
			   *Sig = malloc(sizeof(double) * q * q),
			   *S = malloc(sizeof(double) * q * q),
			   *Sref = malloc(sizeof(double) * q * q),
			   *Cref = calloc((size_t) q * q, sizeof(double)),
			   *mean = malloc(sizeof(double) * q);
	uint8_t    *zero = calloc(n * q, 1),
			   *obs = malloc(q);
	int			nw = (q + 63) / 64;
	uint64_t   *masks = calloc(n * nw, sizeof(uint64_t));
	size_t	   *idx = malloc(sizeof(size_t) * n);
	double		ll = 0,
				llref = 0,
				quad = 0,
				worst = 0;
	char		err[256];
	GcStatus	st;

	err[0] = '\0';
	gc_rng_seed(&rng, 31 + q);
	/* AR(1) correlation 0.6^|a-b| and rows drawn from it, then masked */
	for (int a = 0; a < q; a++)
		for (int b = 0; b < q; b++)
			Sig[a + b * q] = pow(0.6, abs(a - b));
	for (size_t i = 0; i < n; i++)
	{
		double		prev = gc_rng_normal(&rng);

		for (int a = 0; a < q; a++)
		{
			if (a > 0)
				prev = 0.6 * prev + 0.8 * gc_rng_normal(&rng);
			Z[i * q + a] = gc_rng_uniform(&rng) < miss ? NAN : prev;
			if (!isnan(Z[i * q + a]))
				masks[i * nw + a / 64] |= (uint64_t) 1 << (a % 64);
		}
		idx[i] = i;
	}
	/* a few rows with all but one entry missing */
	for (size_t i = 0; i < n; i += 97)
	{
		memset(masks + i * nw, 0, sizeof(uint64_t) * nw);
		for (int a = 1; a < q; a++)
			Z[i * q + a] = NAN;
		Z[i * q] = 0.5;
		masks[i * nw] = 1;
	}
	gc_sort_by_size_pattern(idx, n, masks, nw, q, &gc_malloc_alloc);
	for (size_t s = 1; s < n; s++)
	{
		int			k0 = 0,
					k1 = 0;

		for (int w = 0; w < nw; w++)
		{
			k0 += __builtin_popcountll(masks[idx[s - 1] * nw + w]);
			k1 += __builtin_popcountll(masks[idx[s] * nw + w]);
		}
		if (k1 > k0)
			worst = 1;
	}
	CHECK(worst == 0, "q = %d: rows ordered by number of missing entries", q);

	st = gc_precision_init(&prec, q, &gc_malloc_alloc);
	st = st == GC_OK ? gc_precision_set(&prec, Sig, NULL) : st;
	st = st == GC_OK ? gc_estep_init(&es, q, n, prec.Lam, &gc_malloc_alloc) : st;
	st = st == GC_OK ? gc_cond_init(&c, q, prec.Lam, &gc_malloc_alloc) : st;
	CHECK(st == GC_OK, "q = %d: set-up", q);
	if (st != GC_OK)
		return;
	st = gc_estep_sweep(&es, &prec, Z, Z, Z, zero, zero, idx, n, masks, nw, 1, NULL, NULL,
						S, &ll, err, sizeof(err));
	CHECK(st == GC_OK, "q = %d: sweep (%s)", q, err);
	/* the same sweep at every lower level this CPU has: the same bits */
	{
		int			top = gc_simd_level,
					same = 1;
		double	   *S2 = malloc(sizeof(double) * q * q),
				   *buf2 = malloc(sizeof(double) * n * q),
					ll2 = 0;

		memcpy(buf2, es.buf, sizeof(double) * n * q);
		for (int lv = top - 1; lv >= GC_SIMD_BASE; lv--)
		{
			gc_simd_force(lv);
			st = gc_estep_sweep(&es, &prec, Z, Z, Z, zero, zero, idx, n, masks, nw, 1, NULL, NULL,
								S2, &ll2, err, sizeof(err));
			same &= st == GC_OK && memcmp(S, S2, sizeof(double) * q * q) == 0 && ll == ll2 &&
				memcmp(buf2, es.buf, sizeof(double) * n * q) == 0;
		}
		gc_simd_force(top);
		CHECK(same, "q = %d: every level below %s gives its sweep to the bit", q, gc_simd_name(top));
		free(S2);
		free(buf2);
	}

	/* the reference: one pattern per row, cond.c's routines */
	for (size_t s = 0; s < n; s++)
	{
		const double *z = Z + idx[s] * q;
		double	   *zh = buf + s * q;

		for (int a = 0; a < q; a++)
			obs[a] = !isnan(z[a]);
		if (gc_cond_pattern(&c, obs, zero) != GC_OK)
			worst = 1;
		gc_cond_add_cov(&c, Cref, 1.0);
		memcpy(zh, z, sizeof(double) * q);
		gc_cond_row(&c, zh, z, z, zero, 1, NULL);
		llref += -0.5 * (prec.logdet + c.logdet_lmm + c.mo * GC_LOG2PI);
	}
	gc_cov_rows(buf, n, q, Sref, mean, prec.Lam, &quad);
	llref += -0.5 * quad;
	for (int b = 0; b < q; b++)
		for (int a = b; a < q; a++)
		{
			double		v = (a == b ? Cref[a + a * q] : 0.5 * Cref[a + b * q]) / (double) n;

			Sref[a + b * q] += v;
			if (a != b)
				Sref[b + a * q] += v;
		}
	gc_cov_to_corr(Sref, q, 0);
	for (int k = 0; k < q * q; k++)
		worst = fmax(worst, fabs(S[k] - Sref[k]));
	CHECK(worst < 1e-12, "q = %d: batched E-step moments match the per-row routines (worst %.2g)",
		  q, worst);
	CHECK(fabs(ll - llref / (double) n) < 1e-10 * fabs(ll),
		  "q = %d: log-likelihood %.12g vs %.12g", q, ll, llref / (double) n);
	/* the completed rows */
	worst = 0;
	for (size_t k = 0; k < n * (size_t) q; k++)
		worst = fmax(worst, fabs(es.buf[k] - buf[k]));
	CHECK(worst < 1e-12, "q = %d: conditional means match (worst %.2g)", q, worst);

	gc_cond_free(&c, &gc_malloc_alloc);
	gc_estep_free(&es, &gc_malloc_alloc);
	gc_precision_free(&prec, &gc_malloc_alloc);
	free(Z);
	free(buf);
	free(Sig);
	free(S);
	free(Sref);
	free(Cref);
	free(mean);
	free(zero);
	free(obs);
	free(masks);
	free(idx);
}

int
main(void)
{
	size_t		n = 3000;
	int			p = 3;
	double	   *X = malloc(sizeof(double) * n * p);
	double		rho = 0.7;
	GcRng		rng;
	GcFitOptions opt;
	GcModel    *m = NULL,
			   *m2 = NULL;
	GcImputer  *imp = NULL;
	char		err[256];
	GcStatus	st;
	double		row[3],
				out[3];

	gc_simd_init();
	/* z1, z2 correlated rho; x1 = exp(z1) (continuous), x2 = z2 > 0 (binary), x3 = 5 (constant) */
	gc_rng_seed(&rng, 7);
	for (size_t i = 0; i < n; i++)
	{
		double		a = gc_rng_normal(&rng),
					b = rho * a + sqrt(1 - rho * rho) * gc_rng_normal(&rng);

		X[i * p + 0] = gc_rng_uniform(&rng) < 0.2 ? NAN : exp(a);
		X[i * p + 1] = gc_rng_uniform(&rng) < 0.2 ? NAN : (b > 0.3 ? 1 : 0);
		X[i * p + 2] = gc_rng_uniform(&rng) < 0.1 ? NAN : 5;
	}
	gc_fit_options_default(&opt);
	opt.tol = 1e-4;
	st = gc_fit_standard(X, n, p, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_OK, "fit succeeds (%s)", err);
	if (st != GC_OK)
		return UNIT_DONE();
	CHECK(m->marg[0].type == GC_CONTINUOUS && m->marg[1].type == GC_BINARY && m->marg[2].type == GC_CONSTANT,
		  "types: continuous, binary, constant");
	CHECK_CLOSE(m->corr[1], rho, 0.06, "latent correlation recovered from a binary column");
	CHECK(m->corr[2] == 0 && m->corr[2 + 2 * p] == 1, "constant column is uncorrelated");
	CHECK(m->converged && m->n_iter > 1, "converged in %d iterations", m->n_iter);

	/* the same rows in another order give the same model */
	for (size_t i = 0; i < n / 2; i++)
		for (int j = 0; j < p; j++)
		{
			double		t = X[i * p + j];

			X[i * p + j] = X[(n - 1 - i) * p + j];
			X[(n - 1 - i) * p + j] = t;
		}
	st = gc_fit_standard(X, n, p, &opt, &gc_malloc_alloc, &m2, err, sizeof(err));
	CHECK(st == GC_OK && m2->n_iter == m->n_iter && fabs(m2->corr[1] - m->corr[1]) < 1e-12,
		  "row order does not change the fit beyond rounding");
	if (m2)
		gc_model_free(m2, &gc_malloc_alloc);

	/* imputation: observed entries unchanged; binary imputed as a level that follows x1 */
	st = gc_imputer_create(m, &gc_malloc_alloc, &imp, err, sizeof(err));
	CHECK(st == GC_OK, "imputer created");
	row[0] = exp(2.0);
	row[1] = NAN;
	row[2] = NAN;
	gc_impute_row(imp, row, out, 2);
	CHECK(out[0] == row[0] && out[1] == 1 && out[2] == 5, "high x1 imputes binary 1 and the constant (%g, %g)", out[1], out[2]);
	row[0] = exp(-2.0);
	gc_impute_row(imp, row, out, 2);
	CHECK(out[1] == 0, "low x1 imputes binary 0");
	row[0] = NAN;
	row[1] = 1;
	row[2] = 5;
	gc_impute_row(imp, row, out, 2);
	CHECK(out[0] > 1.0 && out[1] == 1, "binary 1 imputes an above-median x1 (%g)", out[0]);
	gc_imputer_free(imp);
	gc_model_free(m, &gc_malloc_alloc);

	/* errors: an all-missing column, zero rows */
	for (size_t i = 0; i < n; i++)
		X[i * p + 1] = NAN;
	st = gc_fit_standard(X, n, p, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_EINVAL && strstr(err, "column 2") != NULL, "all-missing column is an error: %s", err);
	st = gc_fit_standard(X, 0, p, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_EINVAL, "zero rows is an error: %s", err);
	free(X);

	EStepBatchesAgree(8, 3000, 0.3);
	EStepBatchesAgree(20, 2000, 0.25);
	EStepBatchesAgree(26, 500, 0.5);
	return UNIT_DONE();
}
