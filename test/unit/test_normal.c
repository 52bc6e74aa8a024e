/* Unit tests: standard normal CDF/quantile and truncated-normal moments (src/copula/normal.c). */
#include <math.h>
#include <string.h>

#include "copula/mills.h"
#include "copula/normal.h"
#include "unit.h"

/* E and Var of N(mu, s²) truncated to (lo, hi) by brute-force midpoint integration */
static void
Integrate(double mu, double s, double lo, double hi, double *m, double *v)
{
	double		a = fmax(lo, mu - 12 * s),
				b = fmin(hi, mu + 12 * s);
	int			n = 200000;
	double		h = (b - a) / n,
				z = 0,
				m1 = 0,
				m2 = 0;

	for (int i = 0; i < n; i++)
	{
		double		x = a + (i + 0.5) * h;
		double		w = gc_norm_pdf((x - mu) / s);

		z += w;
		m1 += w * x;
		m2 += w * x * x;
	}
	*m = m1 / z;
	*v = m2 / z - (*m) * (*m);
}

int
main(void)
{
	double		m,
				v,
				em,
				ev;
	double		worst = 0;

	gc_simd_init();
	CHECK_CLOSE(gc_norm_ppf(0.975), 1.959963984540054, 1e-14, "ppf(0.975)");
	CHECK_CLOSE(gc_norm_ppf(0.5), 0.0, 1e-15, "ppf(0.5)");
	CHECK_CLOSE(gc_norm_ppf(1e-10), -6.361340902404056, 1e-12, "ppf(1e-10)");
	CHECK(isinf(gc_norm_ppf(0)) && gc_norm_ppf(0) < 0, "ppf(0) = -inf");
	CHECK(isinf(gc_norm_ppf(1)) && gc_norm_ppf(1) > 0, "ppf(1) = +inf");
	CHECK(isnan(gc_norm_ppf(-0.1)) && isnan(gc_norm_ppf(1.1)), "ppf outside [0,1] is NaN");
	for (double p = 1e-300; p < 1; p = p < 1e-3 ? p * 10 : p + 0.0137)
	{
		double		r = fabs(gc_norm_cdf(gc_norm_ppf(p)) - p) / p;

		if (r > worst)
			worst = r;
	}
	/* the deep tail is ill-conditioned (dΦ/Φ grows like x·dx), so allow a few hundred ulps */
	CHECK(worst < 1e-12, "cdf(ppf(p)) = p to relative 1e-12 from 1e-300 to 1 (worst %.3g)", worst);

	/*
	 * AS 241 needs no refinement: one Halley step on Φ(x) − p, with the residual taken in
	 * the tail that keeps it accurate, moves the quantile by less than 1e-14 (relative)
	 * over the whole range.
	 */
	worst = 0;
	for (double p = 1e-300; p < 1; p = p < 1e-3 ? p * 3 : p + 0.000713)
	{
		double		x = gc_norm_ppf(p),
					e = x < 0 ? gc_norm_cdf(x) - p : (1.0 - p) - gc_norm_cdf(-x),
					u = e / gc_norm_pdf(x),
					step = u / (1.0 + 0.5 * x * u),
					r = fabs(step) / fmax(1, fabs(x));

		if (r > worst)
			worst = r;
	}
	CHECK(worst < 1e-14, "a Halley step moves ppf by < 1e-14 from 1e-300 to 1 (worst %.3g)", worst);
	CHECK_CLOSE(gc_norm_ppf(1 - 1e-10), 6.361340902404056, 1e-6, "ppf(1 - 1e-10)");
	CHECK(isnan(gc_norm_ppf(NAN)), "ppf(NaN) is NaN");
	CHECK_CLOSE(gc_norm_interval(8, 9), gc_norm_cdf(-8) - gc_norm_cdf(-9), 1e-25, "upper-tail interval without cancellation");

	/* truncated moments against numerical integration */
	CHECK(gc_truncnorm_moments(0, 1, -HUGE_VAL, 0, &m, &v) == 0, "half-normal has mass");
	CHECK_CLOSE(m, -sqrt(2 / M_PI), 1e-12, "half-normal mean");
	CHECK_CLOSE(v, 1 - 2 / M_PI, 1e-12, "half-normal variance");
	CHECK(gc_truncnorm_moments(0.3, 0.7, -0.2, 1.1, &m, &v) == 0, "interval has mass");
	Integrate(0.3, 0.7, -0.2, 1.1, &em, &ev);
	CHECK_CLOSE(m, em, 1e-8, "interval mean");
	CHECK_CLOSE(v, ev, 1e-8, "interval variance");
	CHECK(gc_truncnorm_moments(-1, 2, 0.5, HUGE_VAL, &m, &v) == 0, "upper tail has mass");
	Integrate(-1, 2, 0.5, HUGE_VAL, &em, &ev);
	CHECK_CLOSE(m, em, 1e-7, "upper tail mean");
	CHECK_CLOSE(v, ev, 1e-7, "upper tail variance");
	m = 123;
	CHECK(gc_truncnorm_moments(0, 1, 9, 10, &m, &v) == 1 && m == 123,
		  "an interval without mass reports failure and leaves the mean alone");
	/* the Mills ratio R(x) = Q(x)/φ(x) against erfc, and the table-based moments against erfc's */
	{
		double		wr = 0,
					wm = 0,
					wv = 0;
		int			agree = 1;
		static const double cuts[] = {-HUGE_VAL, -1.7, -0.6, 0.0, 0.45, 1.3, HUGE_VAL};

		for (int i = 0; i < 8000; i++)
		{
			double		x = i * (8.0 / 8000);
			double		r = 0.5 * erfc(x / sqrt(2)) / gc_norm_pdf(x);

			wr = fmax(wr, fabs(gc_norm_mills(x) / r - 1));
		}
		CHECK(wr < 5e-14, "Mills ratio on [0, 8) to relative 5e-14 of erfc/pdf (whose own error dominates) (worst %.3g)", wr);
		CHECK(isnan(gc_norm_mills(8.0)) && isnan(gc_norm_mills(-0.1)), "Mills ratio outside its table is NaN");
		for (int i = 0; i < 20000; i++)
		{
			double		mu = -9 + 18.0 * ((i * 7919) % 20000) / 20000,
						s = 0.05 + 2.0 * ((i * 104729) % 997) / 997;
			int			l = i % 6;
			double		m1 = 0,
						v1 = 0,
						m2 = 0,
						v2 = 0;
			int			r1 = gc_truncnorm_moments(mu, s, cuts[l], cuts[l + 1], &m1, &v1),
						r2 = gc_truncnorm_moments_mills(mu, s, cuts[l], cuts[l + 1], &m2, &v2);

			if (r1 != r2)
				agree = 0;
			else if (r1 == 0)
			{
				wm = fmax(wm, fabs(m1 - m2) / s);
				wv = fmax(wv, fabs(v1 - v2) / (s * s));
			}
		}
		CHECK(agree, "table-based truncated moments report failure exactly when erfc's do");
		/* the batch form used by the low-rank loops (vectorised with AVX2) gives the same bits */
		{
			enum
			{
			NB = 20003
			};
			static double bmu[NB],
						bs[NB],
						blo[NB],
						bhi[NB],
						bm[NB],
						bv[NB];

			for (int i = 0; i < NB; i++)
			{
				int			l = i % 6;

				bmu[i] = -10 + 20.0 * ((i * 7919) % 20000) / 20000;
				bs[i] = 0.05 + 2.0 * ((i * 104729) % 997) / 997;
				blo[i] = cuts[l];
				bhi[i] = cuts[l + 1];
				/* off the common path too: zero scale, NaN mean, an empty interval */
				if (i % 101 == 7)
					bs[i] = 0;
				if (i % 103 == 9)
					bmu[i] = NAN;
				if (i % 107 == 11)
					bhi[i] = blo[i];
				bm[i] = bv[i] = -7;
			}
			/* every path this CPU has (under valgrind: no AVX-512) */
			gc_truncnorm_moments_mills_batch(0, bmu, bs, blo, bhi, bm, bv);
			for (int lv = gc_simd_supported(); lv >= GC_SIMD_BASE; lv--)
			{
				gc_simd_force(lv);
				for (int i = 0; i < NB; i++)
					bm[i] = bv[i] = -7;
				gc_truncnorm_moments_mills_batch(NB, bmu, bs, blo, bhi, bm, bv);
				agree = 1;
				for (int i = 0; i < NB; i++)
				{
					double		m1 = -7,
								v1 = -7;

					gc_truncnorm_moments_mills(bmu[i], bs[i], blo[i], bhi[i], &m1, &v1);
					if (memcmp(&m1, &bm[i], sizeof(double)) != 0 || memcmp(&v1, &bv[i], sizeof(double)) != 0)
						agree = 0;
				}
				CHECK(agree, "batch moments (level %s) are identical to the bit, failures (values untouched) included",
					  gc_simd_name(lv));
			}
			gc_simd_init();
		}
		/* the exponential behind the densities */
		{
			double		we = 0;

			for (int i = 0; i <= 1000000; i++)
			{
				double		x = -40.0 * i / 1000000;

				we = fmax(we, fabs(gc_exp_nonpos(x) / exp(x) - 1));
			}
			CHECK(we < 5e-16 && gc_exp_nonpos(0) == 1.0, "exp on [-40, 0] to relative 5e-16 of libm's (worst %.3g)", we);
		}
		CHECK(wm < 1e-12 && wv < 1e-10, "table-based truncated moments agree (mean %.3g, variance %.3g, in units of s)", wm, wv);
		m = 123;
		CHECK(gc_truncnorm_moments_mills(0, 1, 9, 10, &m, &v) == 1 && m == 123,
			  "table-based moments: an interval without mass reports failure");
		CHECK(gc_truncnorm_moments_mills(0, 1, 1, 1, &m, &v) == 1 && gc_truncnorm_moments_mills(0, 0, -1, 1, &m, &v) == 1,
			  "table-based moments: empty interval and zero scale report failure");
	}
	return UNIT_DONE();
}
