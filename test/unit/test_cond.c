/*
 * Unit tests: the conditional distribution from the precision matrix (src/copula/cond.c)
 * against the textbook formulas with Σ_OO⁻¹, computed independently with LAPACK.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "copula/cond.h"
#include "copula/precision.h"
#include "platform/rng.h"
#include "unit.h"

#define Q 13

int
main(void)
{
	double		W[Q * Q],
				S[Q * Q],
				z[Q],
				lo[Q],
				hi[Q],
				v[Q],
				var[Q];
	uint8_t		obs[Q],
				mayint[Q],
				isint[Q];
	GcRng		rng;
	GcPrecision prec;
	GcCond		c;
	double		worst_mean = 0,
				worst_cov = 0,
				worst_diag = 0;

	gc_simd_init();
	gc_rng_seed(&rng, 3);
	/* a random correlation matrix S = D^-1/2 (W Wᵀ + I) D^-1/2 */
	for (int k = 0; k < Q * Q; k++)
		W[k] = gc_rng_normal(&rng);
	for (int a = 0; a < Q; a++)
		for (int b = 0; b < Q; b++)
		{
			double		s = (a == b);

			for (int k = 0; k < Q; k++)
				s += W[a + k * Q] * W[b + k * Q];
			S[a + b * Q] = s;
		}
	gc_cov_to_corr(S, Q, 0);
	gc_precision_init(&prec, Q, &gc_malloc_alloc);
	CHECK(gc_precision_set(&prec, S, NULL) == GC_OK, "precision of a random correlation matrix");
	gc_cond_init(&c, Q, prec.Lam, &gc_malloc_alloc);

	for (int trial = 0; trial < 200; trial++)
	{
		int			mo = 0,
					mm = 0,
					O[Q],
					M[Q];
		double		Soo[Q * Q],
					Som[Q * Q],
					zo[Q];
		lapack_int	ipiv[Q];

		for (int j = 0; j < Q; j++)
		{
			obs[j] = gc_rng_uniform(&rng) < 0.6 || j == trial % Q;
			mayint[j] = 1;
			isint[j] = 0;
			z[j] = obs[j] ? gc_rng_normal(&rng) : NAN;
			if (obs[j])
				O[mo++] = j;
			else
				M[mm++] = j;
		}
		if (gc_cond_pattern(&c, obs, mayint) != GC_OK)
		{
			CHECK(0, "pattern %d set up", trial);
			continue;
		}
		gc_cond_row(&c, z, lo, hi, isint, 1, v);
		gc_cond_missing_variance(&c, NULL, var);

		/* reference: B = Σ_OO⁻¹ Σ_OM by dgesv; mean = Bᵀ z_O; cov = Σ_MM − Σ_MO B */
		for (int a = 0; a < mo; a++)
		{
			zo[a] = z[O[a]];
			for (int b = 0; b < mo; b++)
				Soo[a + b * mo] = S[O[a] + O[b] * Q];
			for (int b = 0; b < mm; b++)
				Som[a + b * mo] = S[O[a] + M[b] * Q];
		}
		if (mm > 0 && LAPACKE_dgesv(LAPACK_COL_MAJOR, mo, mm, Soo, mo, ipiv, Som, mo) != 0)
			continue;
		for (int b = 0; b < mm; b++)
		{
			double		mean = 0,
						cov = S[M[b] + M[b] * Q];

			for (int a = 0; a < mo; a++)
			{
				mean += Som[a + b * mo] * zo[a];
				cov -= S[M[b] + O[a] * Q] * Som[a + b * mo];
			}
			worst_mean = fmax(worst_mean, fabs(mean - z[M[b]]));
			worst_cov = fmax(worst_cov, fabs(cov - var[M[b]]));
		}
		/* (Σ_OO⁻¹)_jj from the Schur complement, against the inverse of Σ_OO */
		for (int a = 0; a < mo; a++)
			for (int b = 0; b < mo; b++)
				Soo[a + b * mo] = S[O[a] + O[b] * Q];
		if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', mo, Soo, mo) == 0 &&
			LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', mo, Soo, mo) == 0)
			for (int k = 0; k < c.nj; k++)
				for (int a = 0; a < mo; a++)
					if (O[a] == c.Jp[k])
						worst_diag = fmax(worst_diag, fabs(Soo[a + a * mo] - c.dJ[k]) / Soo[a + a * mo]);
	}
	CHECK(worst_mean < 1e-10, "conditional means agree with Σ_OO⁻¹Σ_OM (worst %.2g)", worst_mean);
	CHECK(worst_cov < 1e-10, "conditional variances agree with Σ_MM − Σ_MO Σ_OO⁻¹ Σ_OM (worst %.2g)", worst_cov);
	CHECK(worst_diag < 1e-10, "diag(Σ_OO⁻¹) from the Schur complement (worst relative %.2g)", worst_diag);
	gc_cond_free(&c, &gc_malloc_alloc);
	gc_precision_free(&prec, &gc_malloc_alloc);
	return UNIT_DONE();
}
