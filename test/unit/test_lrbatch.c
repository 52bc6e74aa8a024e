/*
 * test_lrbatch.c — the eight-row batch kernels of lrbatch.h against the scalar routines they
 * mirror (gc_lr_factor_invert, gc_sym_matvec, gc_lr_second_moment): the same bits in every
 * lane, for ranks 1..GC_LRB_MAXK, column strides with padding, lanes whose M is not positive
 * definite (reported, the others unaffected), lanes without a P term, the keep mask of the
 * matrix-vector product and its dot product. Signed zeros are compared as bits too. The
 * kernels run natively on CPUs with AVX-512 only; elsewhere (and under valgrind, whose CPU
 * has none) the test checks that gc_lrb_ok declines and the scalar second moment alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lowrank/cond_lowrank.h"
#include "lowrank/lrbatch.h"
#include "unit.h"

static double
Rand(unsigned *st)
{
	*st = *st * 1103515245u + 12345u;
	return ((*st >> 8) & 0xffff) / 32771.0 - 1.0;
}

static int
SameBits(const double *a, const double *b, size_t n)
{
	return memcmp(a, b, sizeof(double) * n) == 0;
}

/* a random SPD-ish packed Gram part: Σ_t u_t u_tᵀ over `terms` random k-vectors */
static void
RandomGram(unsigned *st, int k, int terms, double *pk)
{
	int			kp = k * (k + 1) / 2;
	double		u[GC_LRB_MAXK];

	memset(pk, 0, sizeof(double) * kp);
	for (int t = 0; t < terms; t++)
	{
		int			e = 0;

		for (int j = 0; j < k; j++)
			u[j] = Rand(st);
		for (int c = 0; c < k; c++)
			for (int r = c; r < k; r++)
				pk[e++] += u[r] * u[c];
	}
}

int
main(void)
{
	unsigned	st = 20261207;
	static const int ks[] = {1, 2, 3, 5, 7, 8, 10, 13, 16, 24, GC_LRB_MAXK};
	int			ok_fi = 1,
				ok_bad = 1,
				ok_pack = 1,
				ok_symv = 1,
				ok_sm = 1;

	gc_simd_init();
	/* the scalar second moment without P is σA + s sᵀ, packed */
	{
		double		A[4] = {2, 0.5, 0.5, 1},
					s[2] = {1, -2},
					Mf[4],
					Bm[4],
					G[4],
					g[3];

		gc_lr_second_moment(A, s, NULL, 0.5, 2, Mf, Bm, G, g);
		CHECK(g[0] == 0.5 * 2 + 1 && g[1] == 0.5 * 0.5 - 2 && g[2] == 0.5 * 1 + 4,
			  "scalar second moment without a P term is σA + s sᵀ");
	}
	if (!gc_lrb_ok(10))
	{
		CHECK(!gc_lrb_ok(1) && !gc_lrb_ok(GC_LRB_MAXK), "no batch kernels on this CPU: gc_lrb_ok declines every rank");
		return UNIT_DONE();
	}
	CHECK(!gc_lrb_ok(0) && !gc_lrb_ok(GC_LRB_MAXK + 1), "gc_lrb_ok declines ranks outside 1..GC_LRB_MAXK");

	for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
		for (int rep = 0; rep < 4; rep++)
		{
			int			k = ks[ki],
						kp = k * (k + 1) / 2,
						ldp = kp + (rep & 1) * 3,	/* packed columns, some padded */
						ldx = k + (rep >> 1);
			double		d[GC_LRB_MAXK],
						dsig[GC_LRB_MAXK],
						sigma = 0.3 + 0.1 * rep;
			double	   *pk = calloc((size_t) 8 * ldp, sizeof(double)),
					   *pv = calloc((size_t) 8 * ldp, sizeof(double)),
					   *x = calloc((size_t) 8 * ldx, sizeof(double)),
					   *As = malloc(sizeof(double) * 8 * kp),
					   *dg = malloc(sizeof(double) * 8 * k),
					   *work = malloc(sizeof(double) * GC_LRB_WORK(k)),
					   *ac = calloc((size_t) 8 * ldp, sizeof(double)),
					   *a2 = calloc((size_t) 8 * ldp, sizeof(double)),
					   *ys = malloc(sizeof(double) * 8 * k),
					   *out = malloc(sizeof(double) * 8 * ldx),
					   *g = calloc((size_t) 8 * ldp, sizeof(double)),
					   *L = malloc(sizeof(double) * k * k),
					   *Li = malloc(sizeof(double) * k * k),
					   *A = malloc(sizeof(double) * k * k),
					   *Mf = malloc(sizeof(double) * k * k),
					   *Bm = malloc(sizeof(double) * k * k),
					   *G = malloc(sizeof(double) * k * k),
					   *gs = malloc(sizeof(double) * kp),
					   *y = malloc(sizeof(double) * k);
			double		dot[8];
			unsigned	bad,
						expect_bad = 0,
						keep = 0x5a ^ (unsigned) rep;

			for (int j = 0; j < k; j++)
			{
				d[j] = 0.5 + fabs(Rand(&st));
				dsig[j] = sigma / (d[j] * d[j]);
			}
			for (int l = 0; l < 8; l++)
			{
				RandomGram(&st, k, k + 3 * l, pk + (size_t) l * ldp);
				/* P: zero in lanes 2 and 5 (no interval entries), with a −0 entry in lane 1 */
				if (l != 2 && l != 5)
					RandomGram(&st, k, 2, pv + (size_t) l * ldp);
				for (int j = 0; j < k; j++)
					x[(size_t) l * ldx + j] = Rand(&st);
			}
			x[1 * ldx] = -0.0;
			pv[(size_t) 1 * ldp] = -0.0;
			/* lane 6 of the second repetition: M with a negative pivot */
			if (rep == 1)
			{
				pk[(size_t) 6 * ldp + gc_lr_packidx(k - 1, k - 1, k)] = -1e3;
				expect_bad = 1u << 6;
			}

			bad = gc_lrb_factor_invert(pk, ldp, dsig, k, As, dg, work);
			ok_bad &= bad == expect_bad;
			gc_lrb_store_packed(As, k, ac, a2, ldp);
			gc_lrb_symv(As, k, x, ldx, ys, out, ldx, keep, dot);
			gc_lrb_second_moments(As, ys, pv, ldp, 0xff ^ (1u << 3), sigma, k, g, ldp, work);
			for (int l = 0; l < 8; l++)
			{
				double		ld,
							lds = 0,
							ts = 0;
				int			rb = gc_lr_factor_invert(pk + (size_t) l * ldp, d, sigma, k, L, Li, A, &ld);
				int			e = 0;

				if (rb)
					continue;	/* a failed lane: reported above */
				for (int c = 0; c < k; c++)
					lds += 2 * log(dg[8 * c + l]);
				ok_fi &= lds == ld;
				for (int c = 0; c < k; c++)
					for (int r = c; r < k; r++, e++)
					{
						double		v = A[r + (size_t) c * k],
									v2 = r == c ? v : 2 * v;

						ok_fi &= SameBits(&As[8 * e + l], &v, 1);
						ok_pack &= SameBits(&ac[(size_t) l * ldp + e], &v, 1) &&
							SameBits(&a2[(size_t) l * ldp + e], &v2, 1);
					}
				gc_sym_matvec(A, k, x + (size_t) l * ldx, y);
				for (int j = 0; j < k; j++)
				{
					double		kept = (keep >> l) & 1 ? y[j] : 0.0;

					ts += x[(size_t) l * ldx + j] * y[j];
					ok_symv &= SameBits(&ys[8 * j + l], &y[j], 1) &&
						SameBits(&out[(size_t) l * ldx + j], &kept, 1);
				}
				ok_symv &= SameBits(&dot[l], &ts, 1);
				gc_lr_second_moment(A, y, l == 3 ? NULL : pv + (size_t) l * ldp, sigma, k, Mf, Bm, G, gs);
				ok_sm &= SameBits(g + (size_t) l * ldp, gs, kp);
			}
			free(pk);
			free(pv);
			free(x);
			free(As);
			free(dg);
			free(work);
			free(ac);
			free(a2);
			free(ys);
			free(out);
			free(g);
			free(L);
			free(Li);
			free(A);
			free(Mf);
			free(Bm);
			free(G);
			free(gs);
			free(y);
		}
	CHECK(ok_fi, "factor and inverse: every lane's A and log det equal gc_lr_factor_invert's bits");
	CHECK(ok_bad, "a lane whose M is not positive definite is reported, and only that lane");
	CHECK(ok_pack, "packed A and doubled-off-diagonal A written to each lane's column");
	CHECK(ok_symv, "A x, its keep mask and x·(A x) equal gc_sym_matvec's bits (signed zeros too)");
	CHECK(ok_sm, "second moments equal gc_lr_second_moment's bits, with and without a P term");
	return UNIT_DONE();
}
