/*
 * test_latency.c — unit tests of the latency core: special functions against
 * reference values (SciPy 1.10), quantile/cdf inverses, hazard, the allowed
 * lateness against the exponential closed form, and maximum-likelihood fits on
 * seeded samples (the article's lognormal, a gamma and a Weibull).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "latency/latency.h"
#include "unit.h"

static uint64_t rng = 20260522;

static double
Uniform(void)
{
	uint64_t	z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return ((z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double
Normal(void)
{
	return sqrt(-2.0 * log(Uniform())) * cos(2.0 * M_PI * Uniform());
}

/* Marsaglia and Tsang (2000) for shape >= 1 */
static double
Gamma(double k)
{
	double		d = k - 1.0 / 3.0,
				c = 1.0 / sqrt(9.0 * d);

	for (;;)
	{
		double		z = Normal(),
					v = pow(1.0 + c * z, 3.0);

		if (v > 0.0 && log(Uniform()) < 0.5 * z * z + d - d * v + d * log(v))
			return d * v;
	}
}

static const char *
Name(int f)
{
	return gc_latency_family_name((gc_latency_family) f);
}

int
main(void)
{
	enum
	{
	N = 20000};
	static double x[N];
	gc_latency_fit_result r;
	size_t		bad = 0;

	gc_simd_init();
	/* special functions */
	CHECK_CLOSE(gc_digamma(1.0), -0.5772156649015329, 1e-13, "digamma(1)");
	CHECK_CLOSE(gc_digamma(0.5), -1.9635100260214235, 1e-13, "digamma(0.5)");
	CHECK_CLOSE(gc_trigamma(1.0), M_PI * M_PI / 6.0, 1e-12, "trigamma(1)");
	CHECK_CLOSE(gc_gamma_p(2.5, 3.0), 0.6937810815867212, 1e-13, "P(2.5, 3)");
	CHECK_CLOSE(gc_gamma_p(10.0, 4.0), 0.008132242796933871, 1e-15, "P(10, 4)");
	CHECK_CLOSE(gc_gamma_q(0.3, 50.0) / 4.113143423806662e-24, 1.0, 1e-10, "Q(0.3, 50) relative");
	CHECK_CLOSE(gc_norm_quantile(0.975), 1.959963984540054, 1e-13, "z(0.975)");
	CHECK_CLOSE(gc_norm_quantile(1e-10), -6.361340902404056, 1e-10, "z(1e-10)");
	CHECK(isnan(gc_norm_quantile(0.0)) && isnan(gc_norm_quantile(1.0)), "z outside (0,1) is NaN");

	/* quantiles invert the cdf in every family */
	{
		gc_latency_dist d[] = {
			{.family = GC_LAT_LOGNORMAL, .shape = 1.8964, .scale = 0.7898},
			{.family = GC_LAT_GAMMA, .shape = 0.4, .scale = 2.0},
			{.family = GC_LAT_GAMMA, .shape = 3.0, .scale = 0.5},
			{.family = GC_LAT_WEIBULL, .shape = 0.7, .scale = 3.0},
			{.family = GC_LAT_WEIBULL, .shape = 2.5, .scale = 1.0},
		};
		double		ps[] = {1e-6, 0.01, 0.5, 0.9, 0.99, 0.999999};

		for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		{
			double		worst = 0.0;

			for (size_t j = 0; j < sizeof(ps) / sizeof(ps[0]); j++)
			{
				double		q = gc_latency_quantile(&d[i], ps[j]);
				double		back = ps[j] < 0.5 ? gc_latency_cdf(&d[i], q) : 1.0 - gc_latency_sf(&d[i], q);
				double		err = fabs(back - ps[j]) / fmin(ps[j], 1.0 - ps[j]);

				if (err > worst)
					worst = err;
			}
			CHECK(worst < 1e-8, "%s(%g, %g): cdf(quantile(p)) = p, worst relative error %.2e",
				  Name(d[i].family), d[i].shape, d[i].scale, worst);
			CHECK(fabs(gc_latency_hazard(&d[i], 1.3) -
					   gc_latency_pdf(&d[i], 1.3) / gc_latency_sf(&d[i], 1.3)) < 1e-10,
				  "%s: hazard = pdf / survival", Name(d[i].family));
		}
		CHECK_CLOSE(gc_latency_quantile(&d[1], 0.99) / 2.0, 3.0000967446589715, 1e-9, "gamma(0.4) 99% quantile");
		CHECK_CLOSE(gc_latency_quantile(&d[2], 1e-6) / 0.5, 0.018254282963279297, 1e-9, "gamma(3) 1e-6 quantile");
		CHECK_CLOSE(gc_latency_hazard(&d[4], 2.0), 2.5 * pow(2.0, 1.5), 1e-12, "Weibull hazard closed form");
		{
			double		h = gc_latency_hazard(&d[0], 1e30);

			CHECK(isfinite(h) && h > 0.0, "lognormal hazard far in the tail is finite (%g)", h);
			h = gc_latency_hazard(&d[1], 5000.0);
			CHECK(fabs(h - 0.5) < 1e-3, "gamma hazard tends to 1/scale (%g)", h);
		}
		CHECK(gc_latency_pdf(&d[0], -1.0) == 0.0 && gc_latency_cdf(&d[0], -1.0) == 0.0 &&
			  gc_latency_hazard(&d[0], -1.0) == 0.0, "negative t: density, cdf and hazard 0");
		CHECK(isnan(gc_latency_quantile(&d[0], 1.0)), "quantile(1) is NaN");
	}

	/* allowed lateness: exponential closed form w = lambda ln(lambda (1 - e^{-W/lambda}) / (W (1 - c))) */
	{
		gc_latency_dist e = {.family = GC_LAT_WEIBULL, .shape = 1.0, .scale = 2.0};
		double		W = 10.0,
					c = 0.99;
		double		want = 2.0 * log(2.0 * (1.0 - exp(-W / 2.0)) / (W * (1.0 - c)));

		CHECK_CLOSE(gc_latency_allowed_lateness(&e, c, W), want, 1e-6, "exponential lateness over a 10 s window");
		CHECK_CLOSE(gc_latency_allowed_lateness(&e, c, 0.0), gc_latency_quantile(&e, c), 1e-12,
					"zero window: lateness is the quantile");
		CHECK(gc_latency_allowed_lateness(&e, 0.2, W) == 0.0, "20%% arrive before the close: no wait");
		CHECK(isnan(gc_latency_allowed_lateness(&e, 1.0, W)), "completeness 1 is NaN");
	}

	/* the article's lognormal: m = 0.7898, sigma = 1.8964 */
	for (int i = 0; i < N; i++)
		x[i] = 0.7898 * exp(1.8964 * Normal());
	CHECK(gc_latency_fit(x, N, &r, NULL) == GC_OK, "fit lognormal sample");
	CHECK(r.best == GC_LAT_LOGNORMAL, "best is %s (AIC lognormal %.1f gamma %.1f weibull %.1f)",
		  Name(r.best), r.fits[0].aic, r.fits[1].aic, r.fits[2].aic);
	CHECK(fabs(r.fits[0].scale / 0.7898 - 1) < 0.03, "scale %.4f within 3%% of 0.7898", r.fits[0].scale);
	CHECK(fabs(r.fits[0].shape / 1.8964 - 1) < 0.03, "shape %.4f within 3%% of 1.8964", r.fits[0].shape);
	CHECK(r.fits[0].ks < 0.02, "lognormal KS distance %.4f small", r.fits[0].ks);
	CHECK(r.fits[0].ks < r.fits[1].ks && r.fits[0].ks < r.fits[2].ks, "lognormal has the smallest KS");

	/* gamma(shape 2.5, scale 1.2) */
	for (int i = 0; i < 5000; i++)
		x[i] = 1.2 * Gamma(2.5);
	CHECK(gc_latency_fit(x, 5000, &r, NULL) == GC_OK && r.best == GC_LAT_GAMMA,
		  "gamma sample recognised (best %s)", Name(r.best));
	CHECK(fabs(r.fits[1].shape / 2.5 - 1) < 0.06 && fabs(r.fits[1].scale / 1.2 - 1) < 0.06,
		  "gamma shape %.3f scale %.3f (%d Newton steps)", r.fits[1].shape, r.fits[1].scale, r.fits[1].iterations);

	/* Weibull(shape 0.8, scale 3): inverse cdf */
	for (int i = 0; i < 5000; i++)
		x[i] = 3.0 * pow(-log(Uniform()), 1.0 / 0.8);
	CHECK(gc_latency_fit(x, 5000, &r, NULL) == GC_OK && r.best == GC_LAT_WEIBULL,
		  "Weibull sample recognised (best %s)", Name(r.best));
	CHECK(fabs(r.fits[2].shape / 0.8 - 1) < 0.05 && fabs(r.fits[2].scale / 3.0 - 1) < 0.06,
		  "Weibull shape %.3f scale %.3f (%d Newton steps)", r.fits[2].shape, r.fits[2].scale, r.fits[2].iterations);

	/* bad input */
	x[0] = 1.0;
	CHECK(gc_latency_fit(x, 1, &r, NULL) == GC_ETOOFEW, "one sample: too few");
	x[1] = -2.0;
	CHECK(gc_latency_fit(x, 2, &r, &bad) == GC_EINVAL && bad == 1, "negative sample at index 1");
	x[1] = NAN;
	CHECK(gc_latency_fit(x, 2, &r, &bad) == GC_EINVAL, "NaN sample");
	x[1] = INFINITY;
	CHECK(gc_latency_fit(x, 2, &r, &bad) == GC_EINVAL, "infinite sample");
	x[1] = 0.0;
	CHECK(gc_latency_fit(x, 2, &r, &bad) == GC_EINVAL, "zero sample");
	x[1] = 1.0;
	CHECK(gc_latency_fit(x, 2, &r, &bad) == GC_EDEGENERATE, "equal samples: degenerate");
	x[1] = 2.0;
	CHECK(gc_latency_fit(x, 2, &r, &bad) == GC_OK, "two distinct samples fit");
	return UNIT_DONE();
}
