/* Unit tests: EM fitting and imputation on small known cases (src/core/em.c, impute.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "copula.h"
#include "precision.h"
#include "rng.h"
#include "unit.h"

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
	return UNIT_DONE();
}
