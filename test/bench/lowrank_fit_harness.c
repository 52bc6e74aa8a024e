/*
 * lowrank_fit_harness.c — times gc_fit_lowrank (the numerics, no server) on a matrix dumped from
 * Python, for A/B comparisons of the low-rank fit between builds. Reads n×p float64
 * (little-endian, NaN = missing) from a file, puts the rows in the canonical order gc_fit
 * uses, fits `reps` times and prints the CPU seconds of each fit, the iterations, σ, the
 * change of W per iteration and a checksum of W's bits (equal checksums: the same model to
 * the bit). With a second file holding the complete matrix it also imputes every row (as
 * gc_impute does) and prints the MAE of the entries missing from the first and a checksum of
 * the bits of every imputed row (LRH_IMPREP=r runs r − 1 untimed imputation passes first).
 *
 *   cc -O2 -g -fno-omit-frame-pointer -fwrapv -fno-strict-aliasing $(make -s print-fp-cflags) -Isrc \
 *      -o /tmp/lrh test/bench/lowrank_fit_harness.c $(make -s print-core-srcs) \
 *      -L/usr/lib/x86_64-linux-gnu/openblas-serial -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-serial \
 *      -llapacke -lopenblas -lm
 *   python: load_data(400, 150) from test/bench/bench_lowrank.py; Xm.tofile('xm.bin'); X.tofile('x.bin')
 *   /tmp/lrh xm.bin 914 400 10 0.01 5 [x.bin]
 *
 * Built with -DGC_LR_PROFILE (the library too: it compiles em_lowrank.c's phase timers in)
 * it prints CPU milliseconds per phase of the fit; LRH_DUMP_W=file writes W and σ of the
 * last fit, to compare two builds' models beyond the checksum.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lowrank/cond_lowrank.h"
#include "copula/precision.h"
#include "copula/copula.h"
#include "platform/simd.h"
#include "platform/sort.h"

#ifdef GC_LR_PROFILE
extern double gc_lr_prof[20];
static const char *const prof_names[] = {
	"marginals and latent matrix", "observation pattern, buffers", "Z0'Z0",
	"top-k eigenvectors of Z0'Z0", "L, Z_init and its Gram matrix",
	"correlation, its top-k eigenpairs, W0", "SVD of W (per iteration)",
	"E: U_O'U_O products", "E: factor and invert M_i", "E: ordinal-update products",
	"E: truncated-normal moments", "E: s_i and data terms", "E: second moments G_i",
	"E: flush into column sums", "zeroing sums, misc", "M-step, new W", "materialise corr",
	"E: (of ord.) u_j'A_iu_j product", "E: (of ord.) w_i, U w_i products", "E: (of G) U_O'V U_O product"
};
#endif

static double
CpuNow(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
Progress(void *arg, int iter, double delta, double loglik)
{
	if (arg)
		printf("  iter %d delta %.6f loglik %.6f\n", iter, delta, loglik);
}

static double *
ReadMatrix(const char *path, size_t count)
{
	FILE	   *f = fopen(path, "rb");
	double	   *x = malloc(sizeof(double) * count);

	if (!f || !x || fread(x, sizeof(double), count, f) != count)
	{
		fprintf(stderr, "cannot read %zu doubles from %s\n", count, path);
		exit(2);
	}
	fclose(f);
	return x;
}

int
main(int argc, char **argv)
{
	size_t		n;
	int			p,
				rank,
				reps;
	double	   *X,
			   *Xs,
			   *Xt = NULL;
	uint32_t   *perm;
	GcFitOptions opt;
	GcModel    *model = NULL;
	char		err[256];

	if (argc < 7)
	{
		fprintf(stderr, "usage: %s xm.bin n p rank tol reps [x.bin]\n", argv[0]);
		return 2;
	}
	gc_simd_init();
	n = strtoul(argv[2], NULL, 10);
	p = atoi(argv[3]);
	rank = atoi(argv[4]);
	reps = atoi(argv[6]);
	X = ReadMatrix(argv[1], n * p);
	if (argc > 7)
		Xt = ReadMatrix(argv[7], n * p);
	perm = malloc(sizeof(uint32_t) * n);
	Xs = malloc(sizeof(double) * n * p);
	if (gc_canonical_order(X, n, p, perm, &gc_malloc_alloc) != 0)
		return 2;
	for (size_t i = 0; i < n; i++)
		memcpy(Xs + i * p, X + (size_t) perm[i] * p, sizeof(double) * p);

	gc_fit_options_default(&opt);
	opt.tol = atof(argv[5]);
	for (int r = 0; r < reps; r++)
	{
		double		t0,
					t1;
		uint64_t	h = 1469598103934665603ULL;

		if (model)
			gc_model_free(model, &gc_malloc_alloc);
		model = NULL;
		opt.progress = Progress;
		opt.progress_arg = (r == 0) ? (void *) 1 : NULL;
		t0 = CpuNow();
		if (gc_fit_lowrank(Xs, n, p, rank, &opt, &gc_malloc_alloc, &model, err, sizeof(err)) != GC_OK)
		{
			fprintf(stderr, "fit failed: %s\n", err);
			return 1;
		}
		t1 = CpuNow();
		for (size_t e = 0; e < (size_t) p * rank; e++)
		{
			uint64_t	b;

			memcpy(&b, model->W + e, 8);
			h = (h ^ b) * 1099511628211ULL;
		}
		printf("fit %.4f s cpu  iters %d  sigma %.10f  W-bits %016llx\n", t1 - t0, model->n_iter,
			   model->sigma, (unsigned long long) h);
	}
#ifdef GC_LR_PROFILE
	{
		double		tot = 0;

		for (int ph = 0; ph < 20; ph++)
			tot += gc_lr_prof[ph];
		printf("phase profile, CPU ms per fit (mean of %d fits):\n", reps);
		for (int ph = 0; ph < 20; ph++)
			printf("  %-42s %7.2f ms  %5.1f%%\n", prof_names[ph], 1e3 * gc_lr_prof[ph] / reps,
				   100 * gc_lr_prof[ph] / tot);
		printf("  %-42s %7.2f ms\n", "total", 1e3 * tot / reps);
	}
#endif
	if (getenv("LRH_DUMP_W"))
	{
		/* W (p×rank column-major) and σ, to compare two builds' models */
		FILE	   *f = fopen(getenv("LRH_DUMP_W"), "wb");

		if (!f || fwrite(model->W, sizeof(double), (size_t) p * rank, f) != (size_t) p * rank ||
			fwrite(&model->sigma, sizeof(double), 1, f) != 1 || fclose(f) != 0)
			return 2;
	}
	{
		/* the materialised correlation: checksum, and CPU time of rebuilding it from W */
		double	   *corr = malloc(sizeof(double) * p * p),
					t0 = CpuNow();
		uint64_t	h = 1469598103934665603ULL;

		for (int r = 0; r < 20; r++)
			gc_lowrank_corr(model, corr);
		printf("corr %.3f ms cpu", (CpuNow() - t0) / 20 * 1e3);
		for (size_t e = 0; e < (size_t) p * p; e++)
		{
			uint64_t	b;

			memcpy(&b, model->corr + e, 8);
			h = (h ^ b) * 1099511628211ULL;
		}
		printf("  corr-bits %016llx  rebuilt %s\n", (unsigned long long) h,
			   memcmp(corr, model->corr, sizeof(double) * p * p) == 0 ? "identical" : "DIFFERENT");
		free(corr);
	}
	if (Xt)
	{
		GcLrCond   *c = NULL;
		double	   *out = malloc(sizeof(double) * p),
					sum = 0;
		size_t		cnt = 0;
		double		t0 = CpuNow(),
					t1;
		int			imprep = getenv("LRH_IMPREP") ? atoi(getenv("LRH_IMPREP")) : 1;
		uint64_t	h = 1469598103934665603ULL;

		if (gc_lrcond_from_model(model, &gc_malloc_alloc, &c) != GC_OK || !c)
			return 1;
		t1 = CpuNow();
		/* LRH_IMPREP=r: r − 1 untimed passes over the rows first (for perf), then the timed one */
		for (int rr = 1; rr < imprep; rr++)
			for (size_t i = 0; i < n; i++)
				if (gc_lrcond_impute_row(c, model, X + i * p, out, GC_IMPUTE_ORD_UPDATES) != GC_OK)
					return 1;
		if (imprep > 1)
			t0 = CpuNow() - (t1 - t0);
		for (size_t i = 0; i < n; i++)
		{
			if (gc_lrcond_impute_row(c, model, X + i * p, out, GC_IMPUTE_ORD_UPDATES) != GC_OK)
				return 1;
			for (int j = 0; j < p; j++)
			{
				uint64_t	b;

				memcpy(&b, out + j, 8);
				h = (h ^ b) * 1099511628211ULL;
				if (isnan(X[i * p + j]) && !isnan(Xt[i * p + j]))
				{
					sum += fabs(out[j] - Xt[i * p + j]);
					cnt++;
				}
			}
		}
		printf("impute %.4f s cpu  MAE %.6f over %zu entries  out-bits %016llx\n", CpuNow() - t0,
			   sum / cnt, cnt, (unsigned long long) h);
		gc_lrcond_destroy(c, &gc_malloc_alloc);
		free(out);
	}
	gc_model_free(model, &gc_malloc_alloc);
	free(X);
	free(Xs);
	free(Xt);
	free(perm);
	return 0;
}
