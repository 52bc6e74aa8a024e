/*
 * Unit tests: single imputation with a low-rank model (cond_lowrank.c) gives, to the bit,
 * what the plain per-entry route gives — every observed value through gc_marginal_to_latent,
 * the row through gc_lrcond_row, every missing one through gc_marginal_from_latent — on a
 * model with every kind of column, values on and off the knots, outside their range and
 * off the small-integer level tables; and the tables' level lookup agrees with
 * gc_marginal_level everywhere.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowrank/cond_lowrank.h"
#include "copula/copula.h"
#include "lowrank/lrkern.h"
#include "copula/normal.h"
#include "copula/precision.h"
#include "platform/rng.h"
#include "unit.h"
#include "unit_lowrank.h"

#define N 1500
#define P 16
#define K 3

/*
 * column kinds: continuous (0–2), ordinal 1…5 (3–5), ordinal in halves (6), ordinal in
 * tens (7), binary (8), lower-truncated (9), ordinal −2…2 (10), ordinal with levels too far
 * apart for a table (11), constant (12), ordinal 0…7 (13), two-sided truncated (14),
 * ordinal 0…11 (15)
 */
static double
Value(int j, double z)
{
	switch (j)
	{
		case 0:
		case 1:
		case 2:
			return exp(z);
		case 6:
			return 0.5 * (z < -1.0 ? 1 : z < -0.3 ? 2 : z < 0.3 ? 3 : z < 1.0 ? 4 : 5);
		case 7:
			return 10.0 * (z < -1.0 ? 1 : z < -0.3 ? 2 : z < 0.3 ? 3 : z < 1.0 ? 4 : 5);
		case 8:
			return z < 0.2 ? 0 : 1;
		case 9:
			return z < -0.5 ? 0 : z + 0.5;
		case 10:
			return z < -1.0 ? -2 : z < -0.3 ? -1 : z < 0.3 ? 0 : z < 1.0 ? 1 : 2;
		case 11:
			return z < -0.5 ? 1 : z < 0.5 ? 1000 : 1e6;
		case 12:
			return 7;
		case 13:
			return fmin(fmax(floor(2 * z + 4), 0), 7);	/* 8 levels: the widest threshold block */
		case 14:
			return z < -0.8 ? -0.8 : z > 0.9 ? 0.9 : z;
		case 15:
			return fmin(fmax(floor(3 * z + 6), 0), 11);	/* 12 levels: binary search */
		default:
			return z < -1.0 ? 1 : z < -0.3 ? 2 : z < 0.3 ? 3 : z < 1.0 ? 4 : 5;
	}
}

/*
 * The plain route: the latent row entry by entry from the marginal, gc_lrcond_row, the
 * conditional means of the missing entries by the column-list kernel (the same sum as the
 * imputation's), and the inverse marginal of each.
 */
static GcStatus
ReferenceRow(GcLrCond *c, const GcModel *model, const int *act, const double *row, double *out)
{
	int			q = c->q,
				p = model->p,
				nm = 0;
	double		z[P],
				lo[P],
				hi[P],
				zm[P];
	uint8_t		isint[P];
	int			mi[P];
	GcStatus	st;

	for (int a = 0; a < q; a++)
	{
		const GcMarginal *m = &model->marg[act[a]];
		double		x = row[act[a]];

		isint[a] = 0;
		lo[a] = hi[a] = 0;
		if (isnan(x))
		{
			z[a] = NAN;
			mi[nm++] = a;
			continue;
		}
		isint[a] = (uint8_t) gc_marginal_to_latent(m, x, &lo[a], &hi[a]);
		z[a] = lo[a];
		if (isint[a])
		{
			double		mu = 0,
						var;

			if (gc_truncnorm_moments(0.0, 1.0, lo[a], hi[a], &mu, &var) != 0)
				mu = isfinite(lo[a]) ? lo[a] : hi[a];
			z[a] = mu;
		}
	}
	st = gc_lrcond_row(c, z, lo, hi, isint, GC_IMPUTE_ORD_UPDATES);
	if (st != GC_OK)
		return st;
	for (int j = 0; j < p; j++)
		out[j] = isnan(row[j]) && model->marg[j].type == GC_CONSTANT ? model->marg[j].x[0] : row[j];
	gc_lrk_dot_cols(c->Ur, c->kq, mi, nm, c->s, zm);
	for (int t = 0; t < nm; t++)
		out[act[mi[t]]] = gc_marginal_from_latent(&model->marg[act[mi[t]]], zm[t]);
	return GC_OK;
}

/*
 * gc_lr_queue_row on made-up rows, both addressings (by column with level codes, by position), against the scalar queue where there
 * is an AVX-512 one: lengths around multiples of 8, some conditional variances not positive
 */
static void
QueueCheck(GcRng *rng)
{
	enum
	{
		NQ = 40
	};
	double		zc[NQ],
				uw[NQ],
				aj[NQ],
				lo[NQ],
				hi[NQ],
				v[2][NQ],
				buf[2][6][NQ];
	uint32_t	jc[NQ];
	int			ji[NQ],
				idx[2][NQ],
				same = 1,
				bounds = 1,
				skipped = 0;

	for (int nj = 0; nj <= 23; nj++)
		for (int bycol = 0; bycol <= 1; bycol++)
		{
			int			nt[2];

			for (int a = 0, e = 0; a < NQ && e < nj; a++)
				if (gc_rng_uniform(rng) < 0.6 || NQ - a <= nj - e)
					ji[e++] = a;
			for (int a = 0; a < NQ; a++)
			{
				zc[a] = gc_rng_normal(rng);
				uw[a] = gc_rng_normal(rng);
				aj[a] = gc_rng_uniform(rng) < 0.15 ? 1 + gc_rng_uniform(rng) : gc_rng_uniform(rng);
				lo[a] = gc_rng_normal(rng);
				hi[a] = lo[a] + gc_rng_uniform(rng);
			}
			/* the fit's level codes: any entry of the interval table, repeats too */
			for (int e = 0; e < nj; e++)
				jc[e] = (uint32_t) (gc_rng_uniform(rng) * NQ) % NQ;
			for (int r = 0; r < 2; r++)
			{
				GcLrQueue	tq = {buf[r][0], buf[r][1], buf[r][2], buf[r][3], buf[r][4], buf[r][5], idx[r]};

				memset(buf[r], 0, sizeof(buf[r]));
				memset(idx[r], 0, sizeof(idx[r]));
				for (int a = 0; a < NQ; a++)
					v[r][a] = 5;
				nt[r] = gc_lr_queue_row(tq, ji, bycol ? jc : NULL, nj, zc, uw, aj, lo, hi, v[r], 0.7);
			}
			/* by column the bounds come from the level's table entry */
			for (int t = 0; bycol && t < nt[0]; t++)
				for (int e = 0; e < nj; e++)
					if (ji[e] == idx[0][t])
						bounds &= buf[0][2][t] == lo[jc[e]] && buf[0][3][t] == hi[jc[e]];
			same &= nt[0] == nt[1] && memcmp(buf[0], buf[1], sizeof(buf[0])) == 0 &&
				memcmp(idx[0], idx[1], sizeof(idx[0])) == 0 && memcmp(v[0], v[1], sizeof(v[0])) == 0;
			skipped += nj - nt[0];
		}
	CHECK(same, "the queue is deterministic, by column and by position (%d entries not queued)",
		  skipped);
	CHECK(bounds, "by column, each queued entry's bounds are its level's interval");
}

int
main(void)
{
	double	   *X = malloc(sizeof(double) * N * P);
	double		W[P * K];
	int			types[P],
				act[P],
				q = 0;
	GcRng		rng;
	GcFitOptions opt;
	GcModel    *m = NULL;
	GcLrCond   *c = NULL;
	char		err[256];
	GcStatus	st;

	gc_simd_init();
	gc_rng_seed(&rng, 20261207);
	UnitRandomFactor(&rng, W, P, K, 0.7);
	for (int j = 0; j < P; j++)
		types[j] = j < 3 ? GC_CONTINUOUS : j == 8 ? GC_BINARY : j == 9 ? GC_LOWER_TRUNCATED :
			j == 12 ? GC_AUTO : j == 14 ? GC_TWOSIDED_TRUNCATED : GC_ORDINAL;
	for (int i = 0; i < N; i++)
	{
		double		t[K];

		for (int r = 0; r < K; r++)
			t[r] = gc_rng_normal(&rng);
		for (int j = 0; j < P; j++)
		{
			double		z = sqrt(0.3) * gc_rng_normal(&rng);

			for (int r = 0; r < K; r++)
				z += W[j + r * P] * t[r];
			X[i * P + j] = gc_rng_uniform(&rng) < 0.3 ? NAN : Value(j, z);
		}
	}
	gc_fit_options_default(&opt);
	opt.types = types;
	opt.tol = 0.01;
	st = gc_fit_lowrank(X, N, P, K, &opt, &gc_malloc_alloc, &m, err, sizeof(err));
	CHECK(st == GC_OK, "low-rank fit of mixed columns (%s)", err);
	if (st != GC_OK)
		return UNIT_DONE();
	CHECK(m->marg[12].type == GC_CONSTANT && m->marg[9].type == GC_LOWER_TRUNCATED &&
		  m->marg[14].type == GC_TWOSIDED_TRUNCATED && m->marg[7].type == GC_ORDINAL &&
		  m->marg[13].nknots == 8 && m->marg[15].nknots == 12,
		  "column types and levels as requested (%d and %d levels)", m->marg[13].nknots,
		  m->marg[15].nknots);
	for (int j = 0; j < P; j++)
		if (m->marg[j].type != GC_CONSTANT)
			act[q++] = j;
	st = gc_lrcond_from_model(m, &gc_malloc_alloc, &c);
	CHECK(st == GC_OK && c != NULL && c->q == q, "Woodbury imputer made (%d active columns)", q);
	if (c == NULL)
		return UNIT_DONE();

	/* the level lookup: at, between, near and beyond the knots, integers on and off tables */
	{
		int			same = 1,
					tried = 0,
					nonord = 1;

		for (int a = 0; a < q; a++)
		{
			const GcMarginal *mg = &m->marg[act[a]];
			int			ord = mg->type == GC_ORDINAL || mg->type == GC_BINARY;
			double		xs[64];
			int			nx = 0;

			if (!ord)
			{
				nonord &= gc_lrcond_level(c, m, a, 1.0) == -1;
				continue;
			}
			for (int l = 0; l < mg->nknots; l++)
			{
				xs[nx++] = mg->x[l];
				xs[nx++] = nextafter(mg->x[l], -HUGE_VAL);
				xs[nx++] = nextafter(mg->x[l], HUGE_VAL);
				if (l + 1 < mg->nknots)
				{
					xs[nx++] = 0.5 * (mg->x[l] + mg->x[l + 1]);
					xs[nx++] = nextafter(0.5 * (mg->x[l] + mg->x[l + 1]), HUGE_VAL);
				}
			}
			xs[nx++] = -0.0;
			xs[nx++] = 1e300;
			xs[nx++] = -1e300;
			xs[nx++] = HUGE_VAL;
			xs[nx++] = -HUGE_VAL;
			xs[nx++] = 2147483648.0;
			for (double v = floor(mg->x[0]) - 3; v <= ceil(mg->x[mg->nknots - 1]) + 3 && nx < 64 &&
				 mg->x[mg->nknots - 1] - mg->x[0] < 100; v += 1)
				xs[nx++] = v;
			for (int e = 0; e < nx; e++)
			{
				same &= gc_lrcond_level(c, m, a, xs[e]) == gc_marginal_level(mg, xs[e]);
				tried++;
			}
		}
		CHECK(same, "the table lookup of a value's level equals gc_marginal_level (%d values)", tried);
		CHECK(nonord, "no level for columns that are not ordinal");
	}

	/* whole rows, bit for bit against the plain route */
	{
		double		row[P],
					out[P],
					ref[P];
		int			same = 1,
					ok = 1,
					odd = 0;

		for (int i = 0; i < 3000; i++)
		{
			if (i < N)
				memcpy(row, X + (size_t) i * P, sizeof(row));
			else
			{
				/* new rows, some entries off the levels, beyond the range, or infinite */
				for (int j = 0; j < P; j++)
				{
					double		u = gc_rng_uniform(&rng),
								z = gc_rng_normal(&rng);

					row[j] = u < 0.4 ? NAN : Value(j, z);
					if (u > 0.9)
					{
						static const double oddv[] = {2.5, 0.0, -0.0, 6, -3, 1e9, 3.0000000000000004,
						1.25, HUGE_VAL, -HUGE_VAL, 1e-300, 49.999};

						row[j] = oddv[(int) ((u - 0.9) * 10 * 12) % 12];
						odd++;
					}
				}
				if (i % 500 == 0)
					for (int j = 0; j < P; j++)
						row[j] = i % 1000 == 0 ? NAN : j == 3 ? 4 : NAN;	/* nothing or one observed */
			}
			st = gc_lrcond_impute_row(c, m, row, out, GC_IMPUTE_ORD_UPDATES);
			ok &= st == GC_OK && ReferenceRow(c, m, act, row, ref) == GC_OK;
			same &= memcmp(out, ref, sizeof(out)) == 0;
		}
		CHECK(ok, "every row imputes");
		CHECK(same, "imputed rows equal the plain route's to the bit (3000 rows, %d odd values)", odd);
	}
	/* the same rows at every lower level this CPU has equal the highest level's to the bit */
	for (int lv = gc_simd_supported() - 1; lv >= GC_SIMD_BASE; lv--)
	{
		double		out[P],
					ref[P];
		int			same = 1,
					top = gc_simd_supported();

		for (int i = 0; i < N; i++)
		{
			gc_simd_force(top);
			st = gc_lrcond_impute_row(c, m, X + (size_t) i * P, out, GC_IMPUTE_ORD_UPDATES);
			gc_simd_force(lv);
			st |= gc_lrcond_impute_row(c, m, X + (size_t) i * P, ref, GC_IMPUTE_ORD_UPDATES);
			same &= st == GC_OK && memcmp(out, ref, sizeof(out)) == 0;
		}
		gc_simd_force(top);
		CHECK(same, "imputed rows at level %s equal level %s's to the bit", gc_simd_name(lv),
			  gc_simd_name(top));
	}
	QueueCheck(&rng);
	gc_lrcond_destroy(c, &gc_malloc_alloc);

	/* a correlation that is not WWᵀ + σI (hand-edited) takes the dense path: no Woodbury */
	{
		int			e = act[q - 2] + act[q - 5] * P;	/* a corner of the lower triangle */
		double		keep = m->corr[e];
		GcLrCond   *c2 = NULL,
				   *c3 = NULL;

		m->corr[e] = keep + 1e-7;
		st = gc_lrcond_from_model(m, &gc_malloc_alloc, &c2);
		m->corr[e] = keep + 1e-11;
		st |= gc_lrcond_from_model(m, &gc_malloc_alloc, &c3);
		m->corr[e] = keep;
		CHECK(st == GC_OK && c2 == NULL && c3 != NULL,
			  "corr off WWᵀ + σI by 1e-7 refused, by 1e-11 accepted");
		if (c3)
			gc_lrcond_destroy(c3, &gc_malloc_alloc);
	}
	gc_model_free(m, &gc_malloc_alloc);
	free(X);
	return UNIT_DONE();
}
