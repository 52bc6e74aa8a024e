/*
 * estep.c — the E-step of the copula EM over a set of rows (docs/algorithms.md §5) and the moments of
 * the M-step (§6), one missingness pattern at a time.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* qsort_r */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "copula/estep.h"
#include "copula/normal.h"
#include "platform/simd.h"
#include "platform/sort.h"

GcStatus
gc_estep_init(GcEStep *es, int q, size_t cap, const double *Lam, const GcAlloc *alloc)
{
	size_t		qi = q > 0 ? q : 1;
	GcStatus	st;

	memset(es, 0, sizeof(*es));
	es->q = q;
	es->cap = cap;
	st = gc_cond_init(&es->cond, q, Lam, alloc);
	if (st != GC_OK)
		return st;
	es->cond.lazy_sm = 1;		/* C̄ takes Λ_MM⁻¹ from gc_cond_add_cov */
	es->Cbar = alloc->alloc(alloc->ctx, sizeof(double) * qi * qi);
	es->v = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	es->mean = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	es->buf = alloc->alloc(alloc->ctx, sizeof(double) * qi * (cap > 0 ? cap : 1));
	es->obs = alloc->alloc(alloc->ctx, qi);
	es->T = alloc->alloc(alloc->ctx, sizeof(double) * qi * (cap > 0 ? cap : 1));
	es->vsum = alloc->alloc(alloc->ctx, sizeof(double) * qi);
	if (!es->Cbar || !es->v || !es->mean || !es->buf || !es->obs || !es->T || !es->vsum)
		return GC_ENOMEM;
	memset(es->vsum, 0, sizeof(double) * qi);
	return GC_OK;
}

void
gc_estep_free(GcEStep *es, const GcAlloc *alloc)
{
	void	   *ptrs[] = {es->Cbar, es->v, es->mean, es->buf, es->obs, es->T, es->vsum};

	gc_cond_free(&es->cond, alloc);
	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	memset(es, 0, sizeof(*es));
}

typedef struct PatternSort
{
	const uint64_t *masks;
	int			nw;
} PatternSort;

static int
CmpPattern(const void *a, const void *b, void *arg)
{
	const PatternSort *ps = arg;
	size_t		i = *(const size_t *) a,
				j = *(const size_t *) b;
	int			c = memcmp(ps->masks + i * ps->nw, ps->masks + j * ps->nw,
						   sizeof(uint64_t) * ps->nw);

	if (c != 0)
		return c;
	return (i > j) - (i < j);
}

void
gc_sort_by_pattern(size_t *idx, size_t cnt, const uint64_t *masks, int nw)
{
	PatternSort ps = {masks, nw};

	qsort_r(idx, cnt, sizeof(size_t), CmpPattern, &ps);
}

/* observed entries of a pattern */
static inline int
PatternObserved(const uint64_t *mask, int nw)
{
	int			k = 0;

	for (int w = 0; w < nw; w++)
		k += __builtin_popcountll(mask[w]);
	return k;
}

static int
CmpSizePattern(const void *a, const void *b, void *arg)
{
	const PatternSort *ps = arg;
	size_t		i = *(const size_t *) a,
				j = *(const size_t *) b;
	int			ki = PatternObserved(ps->masks + i * ps->nw, ps->nw),
				kj = PatternObserved(ps->masks + j * ps->nw, ps->nw);

	/* most observed entries first: fewest missing */
	if (ki != kj)
		return kj - ki;
	return CmpPattern(a, b, arg);
}

void
gc_sort_by_size_pattern(size_t *idx, size_t cnt, const uint64_t *masks, int nw, int q,
						const GcAlloc *alloc)
{
	PatternSort ps = {masks, nw};
	uint64_t   *keys = NULL,
			   *tmpk = NULL;
	uint32_t   *ri = NULL,
			   *tmpi = NULL;

	/*
	 * One mask word of at most 56 columns: the key (observed count, mask bytes in memcmp
	 * order) fits in 64 bits, and a stable radix sort of the keys with the row numbers is
	 * the comparison sort's order without its 300 000 calls to memcmp.
	 */
	if (nw == 1 && q <= 56 && cnt < UINT32_MAX)
	{
		keys = alloc->alloc(alloc->ctx, sizeof(uint64_t) * (cnt ? cnt : 1));
		tmpk = alloc->alloc(alloc->ctx, sizeof(uint64_t) * (cnt ? cnt : 1));
		ri = alloc->alloc(alloc->ctx, sizeof(uint32_t) * (cnt ? cnt : 1));
		tmpi = alloc->alloc(alloc->ctx, sizeof(uint32_t) * (cnt ? cnt : 1));
	}
	if (keys && tmpk && ri && tmpi)
	{
		for (size_t s = 0; s < cnt; s++)
		{
			uint64_t	m = masks[idx[s]];

			/* memcmp compares the little-endian word's bytes lowest first */
			keys[s] = ((uint64_t) (64 - __builtin_popcountll(m)) << 56) |
				(__builtin_bswap64(m) >> 8);
			ri[s] = (uint32_t) s;
		}
		gc_sort_u64(keys, ri, cnt, tmpk, tmpi);
		/* ties keep the given order (stable): sort the row numbers first */
		for (size_t s = 0; s < cnt; s++)
			tmpk[s] = idx[ri[s]];
		for (size_t s = 0; s < cnt; s++)
			idx[s] = (size_t) tmpk[s];
	}
	else
		qsort_r(idx, cnt, sizeof(size_t), CmpSizePattern, &ps);
	{
		void	   *ptrs[] = {keys, tmpk, ri, tmpi};

		for (int k = 0; k < 4; k++)
			if (ptrs[k])
				alloc->dealloc(alloc->ctx, ptrs[k]);
	}
}

/*
 * Several patterns at once. Rows without interval entries need, per pattern, the Cholesky
 * factor L of Λ_MM, L⁻¹ for the conditional covariance and two triangular solves per row:
 * about |M|³/2 flops in loops of |M| or fewer iterations. With 20% of 50 columns missing,
 * almost every row has a pattern of its own, and those short loops, their bounds changing
 * from row to row, cost more than their arithmetic. Patterns with the same number of
 * missing entries (the standard fit orders them so) are taken GC_LANES at a time, one per
 * lane of a vector: every loop then runs once for all of them, with bounds that stay the
 * same from batch to batch. Each lane does the same operations in the same order as the
 * scalar code in cond.c (no fused multiply-add), so the results are the same to the bit,
 * and the conditional covariances are added to C̄ pattern by pattern in the same order.
 */
#define GC_LANES 4
#define GC_BATCH_MAXM 24

typedef double GcVec __attribute__((vector_size(GC_LANES * sizeof(double))));

/* the vectors are assembled lane by lane in SweepBatch */
_Static_assert(GC_LANES == 4, "SweepBatch spells out four lanes");

typedef struct GcBatch
{
	int			mm;				/* missing entries of every pattern in the batch */
	int			ng;				/* patterns (lanes in use) */
	size_t		start[GC_LANES],	/* rows [start, end) of idx per pattern */
				end[GC_LANES];
	int			M[GC_LANES][GC_BATCH_MAXM];
} GcBatch;

/*
 * The missing columns of a pattern (clear bits among the first q), ascending, into M,
 * which has room for GC_BATCH_MAXM; returns how many there are (only the first
 * GC_BATCH_MAXM are listed).
 */
static inline int
MissingList(const uint64_t *mk, int nw, int q, int *M)
{
	int			mm = 0;

	for (int w = 0; w < nw; w++)
	{
		uint64_t	bits = ~mk[w];

		if (w == nw - 1 && q % 64 != 0)
			bits &= ((uint64_t) 1 << (q % 64)) - 1;
		while (bits)
		{
			if (mm < GC_BATCH_MAXM)
				M[mm] = 64 * w + __builtin_ctzll(bits);
			mm++;
			bits &= bits - 1;
		}
	}
	return mm;
}

static inline int
SamePattern(const uint64_t *a, const uint64_t *b, int nw)
{
	for (int w = 0; w < nw; w++)
		if (a[w] != b[w])
			return 0;
	return 1;
}

/* L y = b, then Lᵀ x = y, for every lane: CholSolve of cond.c on vectors */
static inline void
VecCholSolve(const GcVec *L, const GcVec *rd, int n, GcVec *b)
{
	for (int j = 0; j < n; j++)
	{
		const GcVec *col = L + (size_t) j * n;
		GcVec		y = b[j] * rd[j];

		b[j] = y;
		for (int i = j + 1; i < n; i++)
			b[i] -= col[i] * y;
	}
	for (int i = n - 1; i >= 0; i--)
	{
		const GcVec *col = L + (size_t) i * n;
		GcVec		t = b[i];

		for (int k = i + 1; k < n; k++)
			t -= col[k] * b[k];
		b[i] = t * rd[i];
	}
}

/* the same for one lane of the factor: a pattern shared by several rows */
static void
LaneCholSolve(const GcVec *L, const GcVec *rd, int n, int l, double *b)
{
	for (int j = 0; j < n; j++)
	{
		double		y = b[j] * rd[j][l];

		b[j] = y;
		for (int i = j + 1; i < n; i++)
			b[i] -= L[i + (size_t) j * n][l] * y;
	}
	for (int i = n - 1; i >= 0; i--)
	{
		double		t = b[i];

		for (int k = i + 1; k < n; k++)
			t -= L[k + (size_t) i * n][l] * b[k];
		b[i] = t * rd[i][l];
	}
}

/*
 * out[a] = (Λ z₀)_{M[a]} for a < mm: columns M[a] of Λ (Λ is symmetric) against the row
 * with zeros at its missing entries, each dot product in GC_LANES partial sums over k ≡ l
 * (mod GC_LANES), summed pairwise, then the remainder. All mm sums advance together, so
 * they do not wait on each other's additions.
 */
static inline void
DotColumns(const double *Lam, int q, const int *M, int mm, const double *z, double *out)
{
	GcVec		acc[GC_BATCH_MAXM];
	int			k = 0;

	for (int a = 0; a < mm; a++)
		acc[a] = (GcVec) {0};
	for (; k + GC_LANES <= q; k += GC_LANES)
	{
		GcVec		zv;

		memcpy(&zv, z + k, sizeof(zv));
		for (int a = 0; a < mm; a++)
		{
			GcVec		xv;

			memcpy(&xv, Lam + (size_t) M[a] * q + k, sizeof(xv));
			acc[a] += xv * zv;
		}
	}
	for (int a = 0; a < mm; a++)
	{
		const double *x = Lam + (size_t) M[a] * q;
		double		s = (acc[a][0] + acc[a][1]) + (acc[a][2] + acc[a][3]);

		for (int kk = k; kk < q; kk++)
			s += x[kk] * z[kk];
		out[a] = s;
	}
}

/*
 * Factor the batch's Λ_MM, add the patterns' conditional covariances to C̄ (lower
 * triangle, mirror pairs summed, as gc_cond_add_cov), complete the rows into buf (as
 * gc_cond_mean_from, from T = Λ Z₀) and add the rows' log-likelihood terms to *ll.
 * Returns nonzero if a Λ_MM is not positive definite.
 */
static GC_ALWAYS_INLINE int
SweepBatchBody(const GcBatch *bt, int q, const double *Lam, double lam_logdet,
			   const double *Z, const size_t *idx, double *buf,
			   double *Cbar, double *ll)
{
	const int	mm = bt->mm,
				ng = bt->ng;
	GcVec		A[GC_BATCH_MAXM * GC_BATCH_MAXM];
	GcVec		X[GC_BATCH_MAXM * GC_BATCH_MAXM];
	GcVec		rd[GC_BATCH_MAXM],
				r[GC_BATCH_MAXM];
	double		logdet[GC_LANES];
	const int  *Ml[GC_LANES];
	int			single = 1;

	/*
	 * The lower triangle of each Λ_MM; unused lanes repeat the first pattern. Each vector
	 * is assembled in a register and stored whole: a vector load right after four scalar
	 * stores to it would wait for them (no store forwarding).
	 */
	for (int l = 0; l < GC_LANES; l++)
		Ml[l] = bt->M[l < ng ? l : 0];
	for (int b = 0; b < mm; b++)
	{
		const double *c0 = Lam + (size_t) Ml[0][b] * q,
				   *c1 = Lam + (size_t) Ml[1][b] * q,
				   *c2 = Lam + (size_t) Ml[2][b] * q,
				   *c3 = Lam + (size_t) Ml[3][b] * q;

		for (int a = b; a < mm; a++)
			A[a + b * mm] = (GcVec) {c0[Ml[0][a]], c1[Ml[1][a]], c2[Ml[2][a]], c3[Ml[3][a]]};
	}

	/* Cholesky, left-looking (SmallCholesky) */
	for (int j = 0; j < mm; j++)
	{
		GcVec	   *cj = A + j * mm;
		GcVec		d,
					rj;

		for (int k = 0; k < j; k++)
		{
			const GcVec *ck = A + k * mm;
			GcVec		f = ck[j];

			for (int i = j; i < mm; i++)
				cj[i] -= f * ck[i];
		}
		d = cj[j];
		for (int l = 0; l < GC_LANES; l++)
		{
			if (!(d[l] > 0) || !isfinite(d[l]))
				return 1;
			d[l] = sqrt(d[l]);
		}
		rj = 1.0 / d;
		cj[j] = d;
		rd[j] = rj;
		for (int i = j + 1; i < mm; i++)
			cj[i] *= rj;
	}

	/* log det Λ_MM per pattern, as gc_cond_pattern */
	for (int l = 0; l < ng; l++)
	{
		double		prod = 1,
					logsum = 0;

		for (int a = 0; a < mm; a++)
		{
			prod *= A[a + a * mm][l];
			if (prod > 1e200 || prod < 1e-200)
			{
				logsum += log(prod);
				prod = 1;
			}
		}
		logdet[l] = 2 * (logsum + log(prod));
	}

	/* X = L⁻¹ (InvertFactor) */
	for (int k = 0; k < mm; k++)
	{
		GcVec	   *x = X + k * mm;

		x[k] = rd[k];
		for (int i = k + 1; i < mm; i++)
			x[i] = -A[i + k * mm] * x[k];
		for (int j = k + 1; j < mm; j++)
		{
			const GcVec *col = A + j * mm;
			GcVec		y = x[j] * rd[j];

			x[j] = y;
			for (int i = j + 1; i < mm; i++)
				x[i] -= col[i] * y;
		}
	}

	/*
	 * (Λ_MM⁻¹)_ab = Σ_{k>=a} X[k,a] X[k,b] (a >= b) for every lane; the upper triangle of
	 * X is free, so the products go there, transposed: entry (a, b) at [b + a·mm].
	 */
	for (int b = 0; b < mm; b++)
	{
		const GcVec *xb = X + b * mm;

		for (int a = b; a < mm; a++)
		{
			const GcVec *xa = X + a * mm;
			GcVec		t = {0};

			for (int k = a; k < mm; k++)
				t += xa[k] * xb[k];
			if (a == b)
				rd[b] = t;		/* rd is read again only by the solves, below */
			else
				X[b + a * mm] = t;
		}
	}
	/* ... into C̄, pattern by pattern in row order */
	for (int l = 0; l < ng; l++)
	{
		const int  *M = bt->M[l];
		double		w = (double) (bt->end[l] - bt->start[l]);

		if (bt->end[l] - bt->start[l] != 1)
			single = 0;
		for (int b = 0; b < mm; b++)
		{
			double	   *cb = Cbar + (size_t) M[b] * q;

			cb[M[b]] += w * rd[b][l];
			for (int a = b + 1; a < mm; a++)
				cb[M[a]] += 2 * w * X[b + a * mm][l];
		}
	}
	/* rd again: 1/diag(L) */
	for (int j = 0; j < mm; j++)
		rd[j] = 1.0 / A[j + j * mm];

	/* the rows: copied with zeros at the missing entries, then z_M = −Λ_MM⁻¹ (Λ z₀)_M */
	for (int l = 0; l < ng; l++)
		for (size_t s = bt->start[l]; s < bt->end[l]; s++)
		{
			double	   *zh = buf + s * q;

			memcpy(zh, Z + idx[s] * q, sizeof(double) * q);
			for (int a = 0; a < mm; a++)
				zh[bt->M[l][a]] = 0;
			*ll += -0.5 * (lam_logdet + logdet[l] + (q - mm) * GC_LOG2PI);
		}
	if (single)
	{
		double		t[GC_LANES][GC_BATCH_MAXM];

		for (int l = 0; l < GC_LANES; l++)
		{
			int			g = l < ng ? l : 0;

			DotColumns(Lam, q, bt->M[g], mm, buf + bt->start[g] * q, t[l]);
		}
		for (int a = 0; a < mm; a++)
			r[a] = (GcVec) {t[0][a], t[1][a], t[2][a], t[3][a]};
		VecCholSolve(A, rd, mm, r);
		for (int l = 0; l < ng; l++)
		{
			double	   *zh = buf + bt->start[l] * q;

			for (int a = 0; a < mm; a++)
				zh[bt->M[l][a]] = -r[a][l];
		}
	}
	else
		for (int l = 0; l < ng; l++)
			for (size_t s = bt->start[l]; s < bt->end[l]; s++)
			{
				double		b[GC_BATCH_MAXM];
				double	   *zh = buf + s * q;

				DotColumns(Lam, q, bt->M[l], mm, zh, b);
				LaneCholSolve(A, rd, mm, l, b);
				for (int a = 0; a < mm; a++)
					zh[bt->M[l][a]] = -b[a];
			}
	return 0;
}

/* SweepBatch as AVX2 code where the level allows: a GcVec is one register instead of two */
#ifdef GC_SIMD_X86
static GC_TARGET_AVX2 int
SweepBatchAvx2(const GcBatch *bt, int q, const double *Lam, double lam_logdet,
			   const double *Z, const size_t *idx, double *buf,
			   double *Cbar, double *ll)
{
	return SweepBatchBody(bt, q, Lam, lam_logdet, Z, idx, buf, Cbar, ll);
}
#endif

static int
SweepBatch(const GcBatch *bt, int q, const double *Lam, double lam_logdet,
		   const double *Z, const size_t *idx, double *buf,
		   double *Cbar, double *ll)
{
#ifdef GC_SIMD_X86
	if (gc_simd_level >= GC_SIMD_AVX2)
		return SweepBatchAvx2(bt, q, Lam, lam_logdet, Z, idx, buf, Cbar, ll);
#endif
	return SweepBatchBody(bt, q, Lam, lam_logdet, Z, idx, buf, Cbar, ll);
}

/*
 * T = Z₀ Λ for all the rows in one dgemm (Z₀: missing entries as 0): rows without interval
 * entries read Λ_MO z_O off it instead of gathering it row by row. (Batches need (Λ z₀)_M
 * only, a fifth of T with 20% missing: they compute it themselves.)
 */
static void
ObservedProducts(GcEStep *es, const GcPrecision *prec, const double *Z, const size_t *idx,
				 size_t cnt)
{
	int			q = es->q;

	for (size_t s = 0; s < cnt; s++)
	{
		const double *z = Z + idx[s] * q;
		double	   *b = es->buf + s * q;

		for (int a = 0; a < q; a++)
			b[a] = isnan(z[a]) ? 0.0 : z[a];
	}
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, q, (int) cnt, q, 1.0,
				prec->Lam, q, es->buf, q, 0.0, es->T, q);
}

/*
 * Into bt, the patterns from position start on (rows idx[start..cnt), in pattern order)
 * that have as many missing entries as the first, between 1 and GC_BATCH_MAXM, at most
 * GC_LANES of them. Returns the position after the last row taken.
 */
static size_t
GatherBatch(GcBatch *bt, const uint64_t *masks, int nw, int q, const size_t *idx, size_t start,
			size_t cnt)
{
	size_t		pos = start;

	bt->ng = 0;
	bt->mm = MissingList(masks + idx[start] * nw, nw, q, bt->M[0]);
	while (bt->ng < GC_LANES && pos < cnt && bt->mm >= 1 && bt->mm <= GC_BATCH_MAXM)
	{
		const uint64_t *mk = masks + idx[pos] * nw;
		size_t		e = pos + 1;

		if (bt->ng > 0 && MissingList(mk, nw, q, bt->M[bt->ng]) != bt->mm)
			break;
		while (e < cnt && SamePattern(masks + idx[e] * nw, mk, nw))
			e++;
		bt->start[bt->ng] = pos;
		bt->end[bt->ng] = e;
		bt->ng++;
		pos = e;
	}
	return pos;
}

/*
 * The rows idx[start..end) of one pattern (es->cond set up for it): conditional means, with
 * the ordinal updates of interval entries, into es->buf; the updated interval entries back
 * into Z (warm start next time); each row's log-likelihood without its quadratic term added
 * to *ll; the rows' v summed per observed ordinal column into es->vsum.
 */
static void
PatternRows(GcEStep *es, const GcPrecision *prec, double *Z, const double *LO, const double *HI,
			const uint8_t *ISINT, const size_t *idx, size_t start, size_t end, int batchable,
			int num_ord_updates, double *ll)
{
	int			q = es->q;
	GcCond	   *cond = &es->cond;
	double		acc = *ll;

	for (size_t s = start; s < end; s++)
	{
		size_t		i = idx[s];
		double	   *zh = es->buf + s * q;
		double	   *z = Z + i * q;
		int			nint;

		memcpy(zh, z, sizeof(double) * q);
		nint = 0;
		for (int b = 0; b < cond->nj; b++)
			nint += ISINT[i * q + cond->Jp[b]];
		if (nint == 0 && !batchable)
			gc_cond_mean_from(cond, zh, es->T + s * q);
		else
			nint = gc_cond_row(cond, zh, LO + i * q, HI + i * q, ISINT + i * q,
							   num_ord_updates, es->v);
		if (nint > 0)
			for (int b = 0; b < cond->nj; b++)
				z[cond->Jp[b]] = zh[cond->Jp[b]];
		/* ℓ_i without its quadratic term z̃ᵀΛz̃, added from the Gram matrix later */
		acc += -0.5 * (prec->logdet + cond->logdet_lmm + cond->mo * GC_LOG2PI);

		/* C_i's ordinal terms are linear in v: sum v over the pattern's rows first */
		if (nint > 0)
			for (int k = 0; k < cond->nj; k++)
				es->vsum[k] += es->v[cond->Jp[k]];
	}
	*ll = acc;
}

/*
 * C̄ += Σ_rows C_i for the pattern (docs/algorithms.md §5 step 5): with V = Σ_rows v (per
 * observed ordinal column j) and B_J = −GJᵀ, the terms are diag(V) on J,
 * K = B_Jᵀ diag(V) on (M,J) and (J,M), and K B_J = GJ diag(V) GJᵀ on (M,M).
 * Like the covariance term, only the lower triangle is written, each entry
 * with the sum of its mirror pair. es->vsum is cleared for the next pattern.
 */
static void
AddOrdinalTerms(GcEStep *es, double *Cbar)
{
	int			q = es->q;
	GcCond	   *cond = &es->cond;

	for (int k = 0; k < cond->nj; k++)
	{
		int			j = cond->Jp[k];
		double		vj = es->vsum[k];
		const double *g = cond->GJ + (size_t) k * cond->mm;

		if (vj == 0)
			continue;
		Cbar[j + (size_t) j * q] += vj;
		for (int a = 0; a < cond->mm; a++)
		{
			int			m = cond->M[a];
			double		gv = g[a] * vj;
			double	   *cm = Cbar + (size_t) m * q;

			/* (m, j) and (j, m): the same value twice, in the cell below the diagonal */
			if (m > j)
				Cbar[m + (size_t) j * q] -= 2 * gv;
			else
				cm[j] -= 2 * gv;
			/* (m, m') for m' >= m: once on the diagonal, twice below it */
			cm[m] += gv * g[a];
			for (int a2 = a + 1; a2 < cond->mm; a2++)
				cm[cond->M[a2]] += 2 * gv * g[a2];
		}
		es->vsum[k] = 0;
	}
}

/*
 * The M-step moments: S = cov(Ẑ) (divisor cnt−1) + C̄/cnt, rescaled to a correlation
 * matrix; *ll_out the mean log-likelihood, ll plus the quadratic terms from the Gram matrix.
 */
static GcStatus
SweepMoments(GcEStep *es, const GcPrecision *prec, size_t cnt, double ll, double *S,
			 double *ll_out, char *errmsg, size_t errlen)
{
	int			q = es->q;
	const double *Cbar = es->Cbar;
	double		quad = 0;

	gc_cov_rows(es->buf, cnt, q, S, es->mean, prec->Lam, &quad);
	ll += -0.5 * quad;
	/* C̄'s lower triangle holds mirror-pair sums: halve them off the diagonal */
	for (int b = 0; b < q; b++)
		for (int a = b; a < q; a++)
		{
			double		c = (a == b ? Cbar[a + (size_t) a * q] : 0.5 * Cbar[a + (size_t) b * q]) / (double) cnt;

			S[a + (size_t) b * q] += c;
			if (a != b)
				S[b + (size_t) a * q] += c;
		}
	if (gc_cov_to_corr(S, q, 0) != 0)
	{
		snprintf(errmsg, errlen, "a latent variable has zero variance in the E-step");
		return GC_EDEGENERATE;
	}
	*ll_out = ll / (double) cnt;
	return GC_OK;
}

GcStatus
gc_estep_sweep(GcEStep *es, const GcPrecision *prec, double *Z,
			   const double *LO, const double *HI, const uint8_t *ISINT,
			   const uint8_t *mayint, const size_t *idx, size_t cnt,
			   const uint64_t *masks, int nw, int num_ord_updates,
			   void (*tick) (void *), void *tick_arg,
			   double *S, double *ll_out, char *errmsg, size_t errlen)
{
	int			q = es->q;
	double		ll = 0;
	size_t		start = 0,
				ticked = 0;
	int			batchable = 1;

	memset(es->Cbar, 0, sizeof(double) * q * q);
	for (int a = 0; a < q; a++)
		batchable &= !mayint[a];
	if (!batchable)
		ObservedProducts(es, prec, Z, idx, cnt);

	while (start < cnt)
	{
		size_t		end = start + 1;
		size_t		i0 = idx[start];
		GcStatus	st;

		if (tick && start - ticked >= 4096)
		{
			tick(tick_arg);
			ticked = start;
		}

		/*
		 * No interval entries anywhere: the next patterns with as many missing entries
		 * as this one go together (SweepBatch). A pattern alone of its size goes on below.
		 */
		if (batchable)
		{
			GcBatch		bt;
			size_t		pos = GatherBatch(&bt, masks, nw, q, idx, start, cnt);

			if (bt.ng > 1)
			{
				if (SweepBatch(&bt, q, prec->Lam, prec->logdet, Z, idx, es->buf,
							   es->Cbar, &ll) != 0)
				{
					snprintf(errmsg, errlen, "the conditional precision of a missingness pattern is not positive definite");
					return GC_ENOTPD;
				}
				start = pos;
				continue;
			}
		}
		while (end < cnt && memcmp(masks + idx[end] * nw, masks + i0 * nw,
								   sizeof(uint64_t) * nw) == 0)
			end++;
		for (int a = 0; a < q; a++)
			es->obs[a] = !isnan(Z[i0 * q + a]);
		st = gc_cond_pattern(&es->cond, es->obs, mayint);
		if (st != GC_OK)
		{
			snprintf(errmsg, errlen, "the conditional precision of a missingness pattern is not positive definite");
			return st;
		}
		/* C̄[M,M] += rows × Cov[z_M | z_O] (lower triangle, mirror pairs summed) */
		gc_cond_add_cov(&es->cond, es->Cbar, (double) (end - start));
		PatternRows(es, prec, Z, LO, HI, ISINT, idx, start, end, batchable, num_ord_updates, &ll);
		AddOrdinalTerms(es, es->Cbar);
		start = end;
	}
	return SweepMoments(es, prec, cnt, ll, S, ll_out, errmsg, errlen);
}
