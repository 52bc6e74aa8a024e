/*
 * online.c — online EM for the Gaussian copula with mergeable marginal sketches.
 *
 * The online EM step follows gcimpute's minibatch-online mode (docs/algorithms.md §10: E-step of a
 * batch with the current Σ, Σ ← η Σ_b + (1−η) Σ), but the marginals are weighted ECDF
 * sketches instead of a 200-value window initialised from an unseeded RNG: with decay 0
 * they are the ECDF of every row seen so far (bounded to max_knots knots), with decay d
 * each batch multiplies the old weights by 1−d, which tracks drifting streams.
 * The default step is η_t = max(c/(c+t), 0.02): decreasing, so a stationary stream
 * converges, but never so small that the model stops adapting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copula/estep.h"
#include "copula/normal.h"
#include "copula/online.h"
#include "copula/precision.h"
#include "platform/sort.h"

#define MIN_STEP 0.02
#define MIN_INIT_ROWS 500

static void *
Alloc(const GcAlloc *a, size_t size)
{
	return a->alloc(a->ctx, size > 0 ? size : 1);
}

/*
 * A search index over a sketch's knots: nb equal-width buckets over [x_0, x_K-1] and the
 * number of knots in the buckets before each one. A value's bucket is monotone in the
 * value (knots and queries go through the same gc_search_bucket()), so the first knot above v is
 * among the knots of v's bucket: the search halves over those few instead of all K.
 * Exact whatever the data; heavy tails only make some buckets longer.
 */
typedef struct KnotIndex
{
	int			valid;
	GcSearchIndex s;			/* over the knots; s.nb = 0: plain search */
	int32_t    *start;			/* its buffer, cap entries */
	int			cap;
	/*
	 * the ECDF in fractions of the total weight: frac[k] = cum[k]/n at knot k and the
	 * slope towards the next knot's lower edge, so the map needs no division (both are
	 * unchanged by the decay, which scales cum and n alike)
	 */
	double	   *frac,
			   *slope;
	int			fcap;
} KnotIndex;

/* caches and scratch space of a state: rebuilt on demand, never serialised */
typedef struct GcOnlineWork
{
	KnotIndex  *ix;				/* p, one per sketch */
	/*
	 * The map of a batch finds each value's gap among the knots; pending values keep
	 * it for the flush, as long as the knots do not change: pgap[j][0..npgap[j]) are
	 * valid, and bstart[j] is where this batch's values start in pend (-1: flushed).
	 */
	int32_t   **pgap;
	int		   *pgcap,
			   *npgap,
			   *bstart;
	int			ucap;			/* union of knots and pending values */
	double	   *ux,
			   *ucum,
			   *umult;
	int			vcap;			/* pending values */
	double	   *vals,
			   *tv;
	int32_t    *gap;
	uint32_t   *ri,
			   *rti;
	int			gcap;			/* knots */
	int32_t    *gstart;
	double	   *hit;
} GcOnlineWork;

/* a scratch array of n elements (old contents dropped) */
static int
Regrow(const GcAlloc *a, void **p, size_t elem, size_t n)
{
	if (*p)
		a->dealloc(a->ctx, *p);
	*p = Alloc(a, elem * n);
	return *p != NULL;
}

static void FreeWork(GcOnline *s);

static GcOnlineWork *
GetWork(GcOnline *s)
{
	GcOnlineWork *w;

	if (s->work)
		return s->work;
	w = Alloc(&s->alloc, sizeof(GcOnlineWork));
	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->ix = Alloc(&s->alloc, sizeof(KnotIndex) * s->p);
	if (!w->ix)
	{
		s->alloc.dealloc(s->alloc.ctx, w);
		return NULL;
	}
	memset(w->ix, 0, sizeof(KnotIndex) * s->p);
	w->pgap = Alloc(&s->alloc, sizeof(int32_t *) * s->p);
	w->pgcap = Alloc(&s->alloc, sizeof(int) * s->p * 3);
	if (!w->pgap || !w->pgcap)
	{
		s->work = w;
		FreeWork(s);
		return NULL;
	}
	memset(w->pgap, 0, sizeof(int32_t *) * s->p);
	memset(w->pgcap, 0, sizeof(int) * s->p * 3);
	w->npgap = w->pgcap + s->p;
	w->bstart = w->pgcap + 2 * s->p;
	s->work = w;
	return w;
}

static void
FreeWork(GcOnline *s)
{
	GcOnlineWork *w = s->work;
	GcAlloc		a = s->alloc;

	if (!w)
		return;
	for (int j = 0; j < s->p; j++)
	{
		if (w->ix[j].start)
			a.dealloc(a.ctx, w->ix[j].start);
		if (w->ix[j].frac)
		{
			a.dealloc(a.ctx, w->ix[j].frac);
			a.dealloc(a.ctx, w->ix[j].slope);
		}
		if (w->pgap && w->pgap[j])
			a.dealloc(a.ctx, w->pgap[j]);
	}
	{
		void	   *ptrs[] = {w->ix, w->pgap, w->pgcap, w->ux, w->ucum, w->umult, w->vals, w->tv, w->gap,
		w->ri, w->rti, w->gstart, w->hit};

		gc_free_each(&a, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	}
	a.dealloc(a.ctx, w);
	s->work = NULL;
}

/* the knots of sketch j changed */
static void
Invalidate(GcOnline *s, int j)
{
	if (s->work)
	{
		s->work->ix[j].valid = 0;
		s->work->npgap[j] = 0;
	}
}

/* the index of sketch j, built if its knots changed; NULL when out of memory */
static const KnotIndex *
IndexFor(GcOnline *s, int j)
{
	GcOnlineWork *w = GetWork(s);
	const GcSketch *sk = &s->sk[j];
	KnotIndex  *ix;
	int			K = sk->nk,
				nb = 2 * K;

	if (!w)
		return NULL;
	ix = &w->ix[j];
	if (ix->valid)
		return ix;
	if (K > ix->fcap)
	{
		if (!Regrow(&s->alloc, (void **) &ix->frac, sizeof(double), K) ||
			!Regrow(&s->alloc, (void **) &ix->slope, sizeof(double), K))
		{
			ix->fcap = 0;
			return NULL;
		}
		ix->fcap = K;
	}
	for (int k = 0; k < K; k++)
	{
		ix->frac[k] = sk->cum[k] / sk->n;
		ix->slope[k] = k + 1 < K ?
			(sk->cum[k + 1] - sk->mult[k + 1] - sk->cum[k]) / (sk->n * (sk->x[k + 1] - sk->x[k])) : 0;
	}
	if (nb + 1 > ix->cap)
	{
		if (!Regrow(&s->alloc, (void **) &ix->start, sizeof(int32_t), nb + 1))
		{
			ix->cap = 0;
			return NULL;
		}
		ix->cap = nb + 1;
	}
	gc_search_index_build(&ix->s, sk->x, K, nb, ix->start);
	ix->valid = 1;
	return ix;
}

/* #{k : x[k] <= v}: the index of the first knot above v (K if none) */
static inline int
UpperIx(const GcSketch *sk, const KnotIndex *ix, double v)
{
	const double *p;
	int			len;

	if (ix->s.nb > 0)
	{
		int			b = gc_search_bucket(&ix->s, v);

		p = sk->x + ix->s.start[b];
		len = ix->s.start[b + 1] - ix->s.start[b];
	}
	else
	{
		p = sk->x;
		len = sk->nk;
	}
	if (len == 0)
		return (int) (p - sk->x);
	while (len > 1)
	{
		int			half = len / 2;

		p += (p[half] <= v) ? half : 0;
		len -= half;
	}
	return (int) (p - sk->x) + (*p <= v);
}

/* weight ≤ v, given g = UpperIx(v): exact at knots, linear in the gaps (the marginal's CountLE) */
static inline double
CountAt(const GcSketch *sk, int g, double v)
{
	int			k = g - 1;
	double		below;

	if (k < 0)
		return 0;
	if (k == sk->nk - 1 || v == sk->x[k])
		return sk->cum[k];
	below = sk->cum[k + 1] - sk->mult[k + 1];
	return sk->cum[k] + (below - sk->cum[k]) * (v - sk->x[k]) / (sk->x[k + 1] - sk->x[k]);
}

/*
 * The observed → latent map of gc_marginal_to_latent for a truncated column, given x's
 * gap g = UpperIx(x) from the knot index, with the unrefined AS 241 quantile (exact to
 * rounding). Returns 1 for an interval (x at a truncation point), 0 for a point.
 */
static inline int
TruncatedToLatent(const GcSketch *sk, int g, int type, double x, double *lo, double *hi)
{
	double		n = sk->n;
	int			K = sk->nk;
	int			lower = type != GC_UPPER_TRUNCATED,
				upper = type != GC_LOWER_TRUNCATED;
	double		qlo = lower ? sk->mult[0] / n : 0;
	double		qhi = upper ? sk->mult[K - 1] / n : 0;

	if (gc_truncated_tail(x, sk->x[0], sk->x[K - 1], qlo, qhi, lower, upper, lo, hi))
		return 1;
	*lo = *hi = gc_norm_ppf(gc_truncated_quantile(CountAt(sk, g, x), n, qlo, qhi));
	return 0;
}

GcStatus
gc_sketch_reserve(GcSketch *sk, int k, const GcAlloc *alloc)
{
	double	   *x,
			   *cum,
			   *mult;

	if (k <= sk->cap)
		return GC_OK;
	x = Alloc(alloc, sizeof(double) * k);
	cum = Alloc(alloc, sizeof(double) * k);
	mult = Alloc(alloc, sizeof(double) * k);
	if (!x || !cum || !mult)
		return GC_ENOMEM;
	if (sk->nk > 0)
	{
		memcpy(x, sk->x, sizeof(double) * sk->nk);
		memcpy(cum, sk->cum, sizeof(double) * sk->nk);
		memcpy(mult, sk->mult, sizeof(double) * sk->nk);
	}
	if (sk->x)
	{
		alloc->dealloc(alloc->ctx, sk->x);
		alloc->dealloc(alloc->ctx, sk->cum);
		alloc->dealloc(alloc->ctx, sk->mult);
	}
	sk->x = x;
	sk->cum = cum;
	sk->mult = mult;
	sk->cap = k;
	return GC_OK;
}

GcStatus
gc_sketch_reserve_pending(GcSketch *sk, int k, const GcAlloc *alloc)
{
	double	   *p;

	if (k <= sk->pendcap)
		return GC_OK;
	p = Alloc(alloc, sizeof(double) * k);
	if (!p)
		return GC_ENOMEM;
	if (sk->npend > 0)
		memcpy(p, sk->pend, sizeof(double) * sk->npend);
	if (sk->pend)
		alloc->dealloc(alloc->ctx, sk->pend);
	sk->pend = p;
	sk->pendcap = k;
	return GC_OK;
}

/* A sketch viewed as a marginal (for the ECDF and the latent maps). */
static GcMarginal
AsMarginal(const GcSketch *sk, int type)
{
	GcMarginal	m;

	m.type = type;
	m.nknots = sk->nk;
	m.exact = sk->exact;
	m.n = sk->n;
	m.x = sk->x;
	m.cum = sk->cum;
	m.mult = sk->mult;
	m.halfgap = 0.5;
	/* only the ordinal map uses the smallest gap */
	if (type == GC_ORDINAL || type == GC_BINARY)
		gc_marginal_prepare(&m);
	return m;
}

/*
 * Cumulative weight ≤ t and weight at t of a sketch, for t visited in ascending order:
 * *pos is the caller's cursor (index of the last knot ≤ the previous t, or -1), so a
 * whole merge is one linear walk. Exact at knots, linear in the gaps (as the marginal).
 */
static void
SketchAt(const GcSketch *s, double t, int *pos, double *cumle, double *mult)
{
	int			k = *pos;

	while (k + 1 < s->nk && s->x[k + 1] <= t)
		k++;
	*pos = k;
	*mult = 0;
	if (k < 0)
	{
		*cumle = 0;
		return;
	}
	if (s->x[k] == t)
	{
		*cumle = s->cum[k];
		*mult = s->mult[k];
		return;
	}
	if (k == s->nk - 1)
	{
		*cumle = s->cum[k];
		return;
	}
	*cumle = s->cum[k] + (s->cum[k + 1] - s->mult[k + 1] - s->cum[k]) *
		(t - s->x[k]) / (s->x[k + 1] - s->x[k]);
}

/*
 * Compress k union knots (total weight n) to at most max_knots, in place: the extremes,
 * the heavy atoms and an even grid of cumulative weight. Returns the new count.
 */
static int
Compress(double *x, double *cum, double *mult, int k, double n, int max_knots)
{
	double		heavy = n / (max_knots / 4);
	int			nheavy = 0,
				out = 0;
	double		step,
				next;

	for (int t = 0; t < k; t++)
		nheavy += mult[t] >= heavy;
	step = n / (max_knots - 2 - nheavy > 1 ? max_knots - 2 - nheavy : 1);
	next = step;

	/*
	 * Branch-free: every knot is written at the output position, which only advances for
	 * a kept one (out <= t, so nothing unread is overwritten). The last slot is kept for
	 * the maximum.
	 */
	for (int t = 0; t < k; t++)
	{
		double		c = cum[t],
					m = mult[t];
		int			last = (t == k - 1);
		int			keep = (t == 0) | last | (m >= heavy) | (c >= next);

		x[out] = x[t];
		cum[out] = c;
		mult[out] = m;
		keep &= (out != max_knots - 1) | last;
		out += keep;
		/* the grid point after c (a knot not kept has c < next: no change) */
		next += (next <= c) ? step : 0;
		while (next <= c)
			next += step;
	}
	return out;
}

/*
 * a ← a ∪ b: knots at the union of both knot sets, cumulative weights added (each side
 * interpolated in its own gaps), then compressed to max_knots if needed.
 */
static GcStatus
SketchMerge(GcSketch *a, const GcSketch *b, int max_knots, const GcAlloc *alloc)
{
	int			na = a->nk,
				nb = b->nk,
				k = 0,
				i = 0,
				j = 0,
				pa = -1,
				pb = -1;
	GcSketch	u;

	if (nb == 0)
		return GC_OK;
	memset(&u, 0, sizeof(u));
	if (gc_sketch_reserve(&u, na + nb, alloc) != GC_OK)
		return GC_ENOMEM;
	while (i < na || j < nb)
	{
		double		t;

		if (j >= nb || (i < na && a->x[i] < b->x[j]))
			t = a->x[i++];
		else if (i >= na || b->x[j] < a->x[i])
			t = b->x[j++];
		else
		{
			t = a->x[i++];
			j++;
		}
		{
			double		ca,
						ma,
						cb,
						mb;

			SketchAt(a, t, &pa, &ca, &ma);
			SketchAt(b, t, &pb, &cb, &mb);
			u.x[k] = t;
			u.cum[k] = ca + cb;
			u.mult[k] = ma + mb;
		}
		k++;
	}
	u.nk = k;
	u.n = a->n + b->n;
	u.cum[k - 1] = u.n;
	u.exact = a->exact && b->exact;

	if (k > max_knots)
	{
		u.nk = Compress(u.x, u.cum, u.mult, k, u.n, max_knots);
		u.exact = 0;
	}
	if (a->x)
	{
		alloc->dealloc(alloc->ctx, a->x);
		alloc->dealloc(alloc->ctx, a->cum);
		alloc->dealloc(alloc->ctx, a->mult);
	}
	u.pend = a->pend;
	u.npend = a->npend;
	u.pendcap = a->pendcap;
	*a = u;
	return GC_OK;
}

static void
SketchScale(GcSketch *s, double f)
{
	for (int k = 0; k < s->nk; k++)
	{
		s->cum[k] *= f;
		s->mult[k] *= f;
	}
	s->n *= f;
}

static GcStatus
InitState(int p, const GcFitOptions *opt, const GcAlloc *alloc, GcOnline **out)
{
	GcOnline   *s = Alloc(alloc, sizeof(GcOnline));

	*out = NULL;
	if (!s)
		return GC_ENOMEM;
	memset(s, 0, sizeof(*s));
	s->alloc = *alloc;
	s->opt = *opt;
	s->p = p;
	s->types = Alloc(alloc, sizeof(int) * p);
	s->sk = Alloc(alloc, sizeof(GcSketch) * p);
	s->Sig = Alloc(alloc, sizeof(double) * p * p);
	s->init_rows = opt->batch_size > MIN_INIT_ROWS ? opt->batch_size : MIN_INIT_ROWS;
	s->bufcap = s->init_rows;
	s->buf = Alloc(alloc, sizeof(double) * p * s->bufcap);
	if (!s->types || !s->sk || !s->Sig || !s->buf)
	{
		gc_online_free(s);
		return GC_ENOMEM;
	}
	memset(s->sk, 0, sizeof(GcSketch) * p);
	for (int j = 0; j < p; j++)
	{
		s->types[j] = opt->types ? opt->types[j] : GC_AUTO;
		for (int k = 0; k < p; k++)
			s->Sig[j + (size_t) k * p] = (j == k);
	}
	s->opt.types = s->types;
	*out = s;
	return GC_OK;
}

GcStatus
gc_online_create(int p, const GcFitOptions *opt, const GcAlloc *alloc, GcOnline **out)
{
	return InitState(p, opt, alloc, out);
}

GcStatus
gc_online_from_model(const GcModel *model, const GcFitOptions *opt, const GcAlloc *alloc,
					 GcOnline **out, char *errmsg, size_t errlen)
{
	GcOnline   *s;
	GcStatus	st = InitState(model->p, opt, alloc, out);
	int			p = model->p;

	if (st != GC_OK)
		return st;
	s = *out;
	s->initialized = 1;
	s->bufcap = opt->batch_size;	/* no detection block: the model has types */
	s->nrows = model->nrows;
	/* continue the step schedule as if the model's rows had come in batches */
	s->steps = model->training == GC_TRAIN_MINIBATCH_ONLINE ? model->n_iter
		: (model->nrows + opt->batch_size - 1) / opt->batch_size;
	memcpy(s->Sig, model->corr, sizeof(double) * p * p);
	for (int j = 0; j < p; j++)
	{
		const GcMarginal *m = &model->marg[j];
		GcSketch   *sk = &s->sk[j];

		s->types[j] = m->type;
		if (gc_sketch_reserve(sk, m->nknots, alloc) != GC_OK)
			return GC_ENOMEM;
		memcpy(sk->x, m->x, sizeof(double) * m->nknots);
		memcpy(sk->cum, m->cum, sizeof(double) * m->nknots);
		memcpy(sk->mult, m->mult, sizeof(double) * m->nknots);
		sk->nk = m->nknots;
		sk->n = m->n;
		sk->exact = m->exact;
	}
	(void) errmsg;
	(void) errlen;
	return GC_OK;
}

void
gc_online_free(GcOnline *s)
{
	GcAlloc		a = s->alloc;

	FreeWork(s);
	if (s->sk)
		for (int j = 0; j < s->p; j++)
		{
			if (s->sk[j].x)
			{
				a.dealloc(a.ctx, s->sk[j].x);
				a.dealloc(a.ctx, s->sk[j].cum);
				a.dealloc(a.ctx, s->sk[j].mult);
			}
			if (s->sk[j].pend)
				a.dealloc(a.ctx, s->sk[j].pend);
		}
	if (s->types)
		a.dealloc(a.ctx, s->types);
	if (s->sk)
		a.dealloc(a.ctx, s->sk);
	if (s->Sig)
		a.dealloc(a.ctx, s->Sig);
	if (s->buf)
		a.dealloc(a.ctx, s->buf);
	a.dealloc(a.ctx, s);
}

GcStatus
gc_online_copy(const GcOnline *s, const GcAlloc *alloc, GcOnline **out)
{
	GcOnline   *c;
	GcStatus	st = InitState(s->p, &s->opt, alloc, out);
	int			p = s->p;

	if (st != GC_OK)
		return st;
	c = *out;
	c->initialized = s->initialized;
	memcpy(c->types, s->types, sizeof(int) * p);
	memcpy(c->Sig, s->Sig, sizeof(double) * p * p);
	c->nrows = s->nrows;
	c->steps = s->steps;
	c->delta = s->delta;
	c->loglik = s->loglik;
	c->ridge_steps = s->ridge_steps;
	c->init_rows = s->init_rows;
	if (s->bufcap > c->bufcap)
	{
		alloc->dealloc(alloc->ctx, c->buf);
		c->buf = Alloc(alloc, sizeof(double) * p * s->bufcap);
		if (!c->buf)
			return GC_ENOMEM;
	}
	c->bufcap = s->bufcap;
	c->nbuf = s->nbuf;
	memcpy(c->buf, s->buf, sizeof(double) * p * s->nbuf);
	for (int j = 0; j < p; j++)
	{
		if (gc_sketch_reserve(&c->sk[j], s->sk[j].nk > 0 ? s->sk[j].nk : 1, alloc) != GC_OK)
			return GC_ENOMEM;
		c->sk[j].nk = s->sk[j].nk;
		c->sk[j].n = s->sk[j].n;
		c->sk[j].exact = s->sk[j].exact;
		memcpy(c->sk[j].x, s->sk[j].x, sizeof(double) * s->sk[j].nk);
		memcpy(c->sk[j].cum, s->sk[j].cum, sizeof(double) * s->sk[j].nk);
		memcpy(c->sk[j].mult, s->sk[j].mult, sizeof(double) * s->sk[j].nk);
		if (gc_sketch_reserve_pending(&c->sk[j], s->sk[j].npend, alloc) != GC_OK)
			return GC_ENOMEM;
		c->sk[j].npend = s->sk[j].npend;
		if (s->sk[j].npend > 0)
			memcpy(c->sk[j].pend, s->sk[j].pend, sizeof(double) * s->sk[j].npend);
	}
	return GC_OK;
}

/* small runs: insertion sort; long ones (a drifting stream piles values in one gap): radix */
static void
SortRun(double *v, int n, GcOnlineWork *w)
{
	if (n <= 32)
	{
		for (int i = 1; i < n; i++)
		{
			double		t = v[i];
			int			k = i;

			while (k > 0 && v[k - 1] > t)
			{
				v[k] = v[k - 1];
				k--;
			}
			v[k] = t;
		}
		return;
	}
	for (int i = 0; i < n; i++)
		w->ri[i] = (uint32_t) i;
	gc_radix_sort(v, w->ri, n, w->tv, w->rti);
}

/* Room in w for merging M pending values into K knots; 0 when out of memory. */
static int
FlushReserve(const GcAlloc *alloc, GcOnlineWork *w, int K, int M)
{
	if (K + M > w->ucap)
	{
		int			cap = K + M > 2 * w->ucap ? K + M : 2 * w->ucap;

		if (!Regrow(alloc, (void **) &w->ux, sizeof(double), cap) ||
			!Regrow(alloc, (void **) &w->ucum, sizeof(double), cap) ||
			!Regrow(alloc, (void **) &w->umult, sizeof(double), cap))
		{
			w->ucap = 0;
			return 0;
		}
		w->ucap = cap;
	}
	if (M > w->vcap)
	{
		int			cap = M > 2 * w->vcap ? M : 2 * w->vcap;

		if (!Regrow(alloc, (void **) &w->vals, sizeof(double), cap) ||
			!Regrow(alloc, (void **) &w->tv, sizeof(double), cap) ||
			!Regrow(alloc, (void **) &w->gap, sizeof(int32_t), cap) ||
			!Regrow(alloc, (void **) &w->ri, sizeof(uint32_t), cap) ||
			!Regrow(alloc, (void **) &w->rti, sizeof(uint32_t), cap))
		{
			w->vcap = 0;
			return 0;
		}
		w->vcap = cap;
	}
	if (K + 2 > w->gcap)
	{
		int			cap = K + 2 > 2 * w->gcap ? K + 2 : 2 * w->gcap;

		if (!Regrow(alloc, (void **) &w->gstart, sizeof(int32_t), cap) ||
			!Regrow(alloc, (void **) &w->hit, sizeof(double), cap))
		{
			w->gcap = 0;
			return 0;
		}
		w->gcap = cap;
	}
	return 1;
}

/* The first values of an empty sketch as knots in w (sorted, equal ones counted); their number. */
static int
FirstKnots(const GcSketch *sk, GcOnlineWork *w)
{
	int			M = sk->npend,
				k = 0;

	memcpy(w->vals, sk->pend, sizeof(double) * M);
	SortRun(w->vals, M, w);
	for (int i = 0; i < M; i++)
	{
		if (k > 0 && w->ux[k - 1] == w->vals[i])
			w->umult[k - 1] += 1;
		else
		{
			w->ux[k] = w->vals[i];
			w->umult[k] = 1;
			k++;
		}
		w->ucum[k - 1] = i + 1;
	}
	return k;
}

/*
 * Sketch sk's pending values laid out in w->vals by the gap between knots they fall in
 * (w->gstart[g] where gap g starts; gap g holds the values strictly between knots g−1 and
 * g); a value at a knot counts as a hit of that knot (w->hit).
 */
static void
PendingByGap(const GcSketch *sk, const KnotIndex *ix, const int32_t *pgap, int npgap,
			 GcOnlineWork *w)
{
	int			M = sk->npend,
				K = sk->nk;
	int32_t    *gs = w->gstart;

	memset(gs, 0, sizeof(int32_t) * (K + 2));
	memset(w->hit, 0, sizeof(double) * K);
	for (int i = 0; i < M; i++)
	{
		double		v = sk->pend[i];
		int			g = i < npgap ? pgap[i] : UpperIx(sk, ix, v);

		if (g > 0 && sk->x[g - 1] == v)
		{
			w->hit[g - 1] += 1;
			w->gap[i] = -1;
		}
		else
		{
			w->gap[i] = g;
			gs[g + 1]++;
		}
	}
	for (int g = 0; g <= K; g++)
		gs[g + 1] += gs[g];
	/* lay the values out by gap (gs[g] moves to the end of gap g), then restore */
	for (int i = 0; i < M; i++)
		if (w->gap[i] >= 0)
			w->vals[gs[w->gap[i]]++] = sk->pend[i];
	for (int g = K; g > 0; g--)
		gs[g] = gs[g - 1];
	gs[0] = 0;
}

/*
 * The union of sk's knots and its pending values (laid out by PendingByGap) as knots in
 * w, gap by gap: each gap's values sorted and counted, with the old sketch's weight below
 * them interpolated in the gap (SketchAt), then the knot closing the gap. Their number.
 */
static int
MergeGaps(const GcSketch *sk, GcOnlineWork *w)
{
	const double *x = sk->x,
			   *cum = sk->cum,
			   *mult = sk->mult;
	const int32_t *gs = w->gstart;
	int			K = sk->nk,
				k = 0;
	double		cb = 0;

	for (int g = 0; g <= K; g++)
	{
		double	   *v = w->vals + gs[g];
		int			len = gs[g + 1] - gs[g];

		if (len > 1)
			SortRun(v, len, w);
		for (int i = 0; i < len;)
		{
			double		t = v[i],
						ca;
			int			e = i + 1;

			while (e < len && v[e] == t)
				e++;
			cb += e - i;
			if (g == 0)
				ca = 0;
			else if (g == K)
				ca = cum[K - 1];
			else
				ca = cum[g - 1] + (cum[g] - mult[g] - cum[g - 1]) *
					(t - x[g - 1]) / (x[g] - x[g - 1]);
			w->ux[k] = t;
			w->ucum[k] = ca + cb;
			w->umult[k] = e - i;
			k++;
			i = e;
		}
		if (g < K)
		{
			cb += w->hit[g];
			w->ux[k] = x[g];
			w->ucum[k] = cum[g] + cb;
			w->umult[k] = mult[g] + w->hit[g];
			k++;
		}
	}
	return k;
}

/*
 * Merge sketch j's pending values (an exact sketch) into its knots; the decay has been
 * applied to the old part already. The same union as SketchMerge, but the pending side
 * needs no interpolation and no comparison sort: each value is placed in its gap between
 * the current knots by the knot index, the gaps are laid out by a counting pass, and only
 * the few values inside one gap are sorted. O(K + M) for K knots and M values.
 */
static GcStatus
FlushPending(GcOnline *s, int j)
{
	const GcAlloc *alloc = &s->alloc;
	GcSketch   *sk = &s->sk[j];
	GcOnlineWork *w = GetWork(s);
	int			M = sk->npend,
				k;
	double		n;

	if (M == 0)
		return GC_OK;
	if (!w || !FlushReserve(alloc, w, sk->nk, M))
		return GC_ENOMEM;
	if (sk->nk == 0)
		k = FirstKnots(sk, w);
	else
	{
		const KnotIndex *ix = IndexFor(s, j);

		if (!ix)
			return GC_ENOMEM;
		PendingByGap(sk, ix, w->pgap[j], w->npgap[j], w);
		k = MergeGaps(sk, w);
	}
	n = sk->n + M;
	w->ucum[k - 1] = n;
	if (k > s->opt.max_knots)
	{
		k = Compress(w->ux, w->ucum, w->umult, k, n, s->opt.max_knots);
		sk->exact = 0;
	}
	if (gc_sketch_reserve(sk, k, alloc) != GC_OK)
		return GC_ENOMEM;
	memcpy(sk->x, w->ux, sizeof(double) * k);
	memcpy(sk->cum, w->ucum, sizeof(double) * k);
	memcpy(sk->mult, w->umult, sizeof(double) * k);
	sk->nk = k;
	sk->n = n;
	sk->npend = 0;
	Invalidate(s, j);
	return GC_OK;
}

/*
 * Fold the observed values of a batch into the marginal sketches. While a sketch is
 * small (exact) every batch is merged at once; a full sketch collects max_knots values
 * before it is rebuilt (a merge costs O(max_knots)), so its ECDF lags the stream by at
 * most that many values.
 */
static GcStatus
UpdateMarginals(GcOnline *s, const double *rows, int nrows)
{
	const GcAlloc *alloc = &s->alloc;
	GcOnlineWork *w = GetWork(s);

	if (!w)
		return GC_ENOMEM;
	for (int j = 0; j < s->p; j++)
	{
		GcSketch   *sk = &s->sk[j];
		int			nv = 0;
		GcStatus	st;

		w->bstart[j] = -1;

		/* a constant column keeps its single level (its later values are ignored) */
		if (s->types[j] == GC_CONSTANT && sk->nk > 0)
			continue;
		if (gc_sketch_reserve_pending(sk, sk->npend + nrows, alloc) != GC_OK)
			return GC_ENOMEM;
		for (int i = 0; i < nrows; i++)
		{
			double		v = rows[(size_t) i * s->p + j];

			if (!isnan(v))
			{
				sk->pend[sk->npend++] = v;
				nv++;
			}
		}
		if (nv > 0 && s->opt.decay > 0 && sk->nk > 0)
		{
			SketchScale(sk, 1 - s->opt.decay);
			sk->exact = 0;
		}
		/*
		 * Pending values carry weight 1, so with decay they are merged at once: a batch
		 * left pending would miss the discount of the batches that follow it.
		 */
		if (sk->nk + sk->npend <= s->opt.max_knots || sk->npend >= s->opt.max_knots ||
			sk->nk == 0 || s->opt.decay > 0)
		{
			st = FlushPending(s, j);
			if (st != GC_OK)
				return st;
		}
		else
			w->bstart[j] = sk->npend - nv;
	}
	return GC_OK;
}

/* Decide the column types on the first block (declared types win; detection otherwise). */
static GcStatus
DetectTypes(GcOnline *s, const double *rows, int nrows, char *errmsg, size_t errlen)
{
	double	   *vals = Alloc(&s->alloc, sizeof(double) * (nrows > 0 ? nrows : 1));

	if (!vals)
		return GC_ENOMEM;
	for (int j = 0; j < s->p; j++)
	{
		int			nv = 0,
					det;

		for (int i = 0; i < nrows; i++)
			if (!isnan(rows[(size_t) i * s->p + j]))
				vals[nv++] = rows[(size_t) i * s->p + j];
		if (nv == 0)
		{
			snprintf(errmsg, errlen, "column %d has no observed values in the first %d rows", j + 1, nrows);
			s->alloc.dealloc(s->alloc.ctx, vals);
			return GC_EINVAL;
		}
		gc_sort_doubles(vals, nv);
		det = gc_detect_type(vals, nv, s->opt.min_ord_ratio);
		if (det == GC_CONSTANT)
			s->types[j] = GC_CONSTANT;
		else if (s->types[j] == GC_AUTO)
			s->types[j] = det;
		else if (s->types[j] == GC_ORDINAL && gc_count_distinct(vals, nv) == 2)
			s->types[j] = GC_BINARY;
	}
	s->alloc.dealloc(s->alloc.ctx, vals);
	return GC_OK;
}

/*
 * The latent points (or intervals) of column a (sketch j) of a batch, written with stride
 * q into Z/LO/HI/ISINT, its bit set in the missingness masks. gsave, if not NULL,
 * receives the knot gap of each observed value (for the flush).
 */
static void
MapColumn(GcOnline *s, int j, const KnotIndex *ix, const GcMarginal *marg,
		  const double *rows, int nrows, int a, int q, int32_t *gsave,
		  double *Z, double *LO, double *HI, uint8_t *ISINT, uint64_t *masks, int nw)
{
	const GcSketch *sk = &s->sk[j];
	int			type = s->types[j],
				p = s->p;
	uint64_t	bit = (uint64_t) 1 << (a % 64);

	if (type == GC_CONTINUOUS)
	{
		/*
		 * two passes: the ECDF fractions first (search and interpolation), then the
		 * quantiles, so neither waits on the other's latency
		 */
		const double *x = sk->x,
				   *frac = ix->frac,
				   *slope = ix->slope;
		int			K = sk->nk;
		double		n = sk->n,
					shrink = n / (n + 1),
					qmin = 1.0 / (2 * (n + 1));

		for (int i = 0; i < nrows; i++)
		{
			double		v = rows[(size_t) i * p + j];
			size_t		k = (size_t) i * q + a;
			int			g;
			double		f;

			ISINT[k] = 0;
			if (isnan(v))
			{
				Z[k] = LO[k] = HI[k] = NAN;
				continue;
			}
			masks[(size_t) i * nw + a / 64] |= bit;
			g = UpperIx(sk, ix, v);
			if (gsave)
				*gsave++ = g;
			if (g == 0)
				f = 0;
			else if (g == K || v == x[g - 1])
				f = frac[g - 1];
			else
				f = frac[g - 1] + slope[g - 1] * (v - x[g - 1]);
			f *= shrink;
			Z[k] = f > 0 ? f : qmin;
		}
		for (int i = 0; i < nrows; i++)
		{
			size_t		k = (size_t) i * q + a;

			if (!isnan(Z[k]))
				Z[k] = LO[k] = HI[k] = gc_norm_ppf(Z[k]);
		}
		return;
	}
	for (int i = 0; i < nrows; i++)
	{
		double		v = rows[(size_t) i * p + j];
		size_t		k = (size_t) i * q + a;

		ISINT[k] = 0;
		if (isnan(v))
		{
			Z[k] = LO[k] = HI[k] = NAN;
			continue;
		}
		masks[(size_t) i * nw + a / 64] |= bit;
		if (type == GC_LOWER_TRUNCATED || type == GC_UPPER_TRUNCATED ||
			type == GC_TWOSIDED_TRUNCATED)
		{
			int			g = UpperIx(sk, ix, v);

			if (gsave)
				*gsave++ = g;
			ISINT[k] = (uint8_t) TruncatedToLatent(sk, g, type, v, &LO[k], &HI[k]);
		}
		else
			ISINT[k] = (uint8_t) gc_marginal_to_latent(marg, v, &LO[k], &HI[k]);
		Z[k] = LO[k];
		if (ISINT[k])
		{
			double		var;

			if (gc_truncnorm_moments(0.0, 1.0, LO[k], HI[k], &Z[k], &var) != 0)
				Z[k] = isfinite(LO[k]) ? LO[k] : HI[k];
		}
	}
}

/* The latent rows of one online step, over the q active columns act[0..q). */
typedef struct StepRows
{
	int			nrows,
				q,
				nw;
	int		   *act;
	GcMarginal *marg;			/* all p columns, as their sketches stand */
	double	   *Z,
			   *LO,
			   *HI,
			   *Sq,				/* Σ of the active columns before the step */
			   *Sb;				/* the batch's estimate, then Σ after the step */
	uint8_t    *ISINT,
			   *mayint;
	uint64_t   *masks;
	size_t	   *idx;
} StepRows;

static void
StepRowsFree(StepRows *b, const GcAlloc *alloc)
{
	void	   *ptrs[] = {b->act, b->marg, b->Z, b->LO, b->HI, b->ISINT, b->mayint, b->masks, b->idx,
	b->Sq, b->Sb};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
}

/* The active columns and the marginals as the sketches stand. */
static GcStatus
StepColumns(GcOnline *s, StepRows *b)
{
	int			p = s->p;

	b->act = Alloc(&s->alloc, sizeof(int) * p);
	b->marg = Alloc(&s->alloc, sizeof(GcMarginal) * p);
	if (!b->act || !b->marg)
		return GC_ENOMEM;
	for (int j = 0; j < p; j++)
	{
		if (s->types[j] != GC_CONSTANT)
			b->act[b->q++] = j;
		b->marg[j] = AsMarginal(&s->sk[j], s->types[j]);
	}
	return GC_OK;
}

/* The batch's latent arrays, masks and row order, for nrows rows of q columns. */
static GcStatus
StepAlloc(const GcAlloc *alloc, StepRows *b)
{
	int			nrows = b->nrows,
				q = b->q,
				nw = b->nw = (q + 63) / 64;

	b->Z = Alloc(alloc, sizeof(double) * nrows * q);
	b->LO = Alloc(alloc, sizeof(double) * nrows * q);
	b->HI = Alloc(alloc, sizeof(double) * nrows * q);
	b->ISINT = Alloc(alloc, (size_t) nrows * q);
	b->mayint = Alloc(alloc, q);
	b->masks = Alloc(alloc, sizeof(uint64_t) * nrows * nw);
	b->idx = Alloc(alloc, sizeof(size_t) * nrows);
	b->Sq = Alloc(alloc, sizeof(double) * q * q);
	b->Sb = Alloc(alloc, sizeof(double) * q * q);
	if (!b->Z || !b->LO || !b->HI || !b->ISINT || !b->mayint || !b->masks || !b->idx || !b->Sq || !b->Sb)
		return GC_ENOMEM;
	memset(b->masks, 0, sizeof(uint64_t) * nrows * nw);
	for (int i = 0; i < nrows; i++)
		b->idx[i] = i;
	return GC_OK;
}

/*
 * Where column j's values of this batch keep their gaps among the knots for the flush
 * (*gsave; NULL when they need not: a column that is not mapped by the fast path, or whose
 * pending values do not start with this batch's).
 */
static GcStatus
BatchGaps(GcOnline *s, int j, int32_t **gsave)
{
	const GcAlloc *alloc = &s->alloc;
	const GcSketch *sk = &s->sk[j];
	int			type = s->types[j];
	int			fast = type == GC_CONTINUOUS || type == GC_LOWER_TRUNCATED ||
		type == GC_UPPER_TRUNCATED || type == GC_TWOSIDED_TRUNCATED;
	GcOnlineWork *w = s->work;

	*gsave = NULL;
	if (!(fast && w->bstart[j] >= 0 && w->npgap[j] == w->bstart[j]))
		return GC_OK;
	if (sk->npend > w->pgcap[j])
	{
		int32_t    *ng = Alloc(alloc, sizeof(int32_t) * sk->pendcap);

		if (!ng)
			return GC_ENOMEM;
		if (w->pgap[j])
		{
			memcpy(ng, w->pgap[j], sizeof(int32_t) * w->npgap[j]);
			alloc->dealloc(alloc->ctx, w->pgap[j]);
		}
		w->pgap[j] = ng;
		w->pgcap[j] = sk->pendcap;
	}
	*gsave = w->pgap[j] + w->bstart[j];
	w->npgap[j] = sk->npend;
	return GC_OK;
}

/* The batch's latent rows, column by column (one sketch and its index stay in cache). */
static GcStatus
StepLatent(GcOnline *s, const double *rows, StepRows *b)
{
	int			q = b->q,
				p = s->p;

	for (int a = 0; a < q; a++)
		b->mayint[a] = s->types[b->act[a]] != GC_CONTINUOUS;
	for (int a = 0; a < q; a++)
	{
		int			j = b->act[a];
		const KnotIndex *ix = IndexFor(s, j);
		int32_t    *gsave;

		if (!ix || BatchGaps(s, j, &gsave) != GC_OK)
			return GC_ENOMEM;
		MapColumn(s, j, ix, &b->marg[j], rows, b->nrows, a, q, gsave, b->Z, b->LO, b->HI, b->ISINT,
				  b->masks, b->nw);
	}
	gc_sort_by_pattern(b->idx, b->nrows, b->masks, b->nw);
	for (int bb = 0; bb < q; bb++)
		for (int a = 0; a < q; a++)
			b->Sq[a + (size_t) bb * q] = s->Sig[b->act[a] + (size_t) b->act[bb] * p];
	return GC_OK;
}

/* The batch's E-step under Σ = Sq: its estimate into Sb, its log-likelihood into *ll. */
static GcStatus
StepEStep(GcOnline *s, StepRows *b, double *ll, char *errmsg, size_t errlen)
{
	const GcAlloc *alloc = &s->alloc;
	GcPrecision prec;
	GcEStep		es;
	GcStatus	st;

	memset(&prec, 0, sizeof(prec));
	memset(&es, 0, sizeof(es));
	st = gc_precision_init(&prec, b->q, alloc);
	if (st == GC_OK)
		st = gc_precision_set(&prec, b->Sq, &s->ridge_steps);
	if (st == GC_OK)
		st = gc_estep_init(&es, b->q, b->nrows, prec.Lam, alloc);
	if (st == GC_OK)
		st = gc_estep_sweep(&es, &prec, b->Z, b->LO, b->HI, b->ISINT, b->mayint, b->idx, b->nrows,
							b->masks, b->nw, s->opt.num_ord_updates, s->opt.tick,
							s->opt.progress_arg, b->Sb, ll, errmsg, errlen);
	gc_estep_free(&es, alloc);
	gc_precision_free(&prec, alloc);
	return st;
}

/* Σ ← η Σ_b + (1 − η) Σ; the very first step takes the batch estimate (η = 1). */
static void
StepMove(GcOnline *s, StepRows *b, double ll)
{
	int			q = b->q,
				p = s->p;
	double		eta;

	s->steps++;
	if (s->steps == 1)
		eta = 1;
	else if (s->opt.stepsize > 0)
		eta = s->opt.stepsize;
	else
	{
		eta = s->opt.stepsize_c / (s->opt.stepsize_c + s->steps);
		if (eta < MIN_STEP)
			eta = MIN_STEP;
	}
	for (int k = 0; k < q * q; k++)
		b->Sb[k] = eta * b->Sb[k] + (1 - eta) * b->Sq[k];
	s->delta = gc_rel_change(b->Sq, b->Sb, q);
	s->loglik = ll;
	for (int bb = 0; bb < q; bb++)
		for (int a = 0; a < q; a++)
			s->Sig[b->act[a] + (size_t) b->act[bb] * p] = b->Sb[a + (size_t) bb * q];
	if (s->opt.progress)
		s->opt.progress(s->opt.progress_arg, (int) s->steps, s->delta, ll);
}

/* One online EM step on rows[0..nrows). */
static GcStatus
Step(GcOnline *s, const double *rows, int nrows, char *errmsg, size_t errlen)
{
	StepRows	b = {.nrows = nrows};
	GcStatus	st;
	double		ll = 0;

	if (!s->initialized)
	{
		st = DetectTypes(s, rows, nrows, errmsg, errlen);
		if (st != GC_OK)
			return st;
		s->initialized = 1;
	}
	st = UpdateMarginals(s, rows, nrows);
	if (st != GC_OK)
		return st;
	s->nrows += nrows;

	st = StepColumns(s, &b);
	if (st == GC_OK && b.q > 0 && nrows >= 2)
	{
		st = StepAlloc(&s->alloc, &b);
		if (st == GC_OK)
			st = StepLatent(s, rows, &b);
		if (st == GC_OK)
			st = StepEStep(s, &b, &ll, errmsg, errlen);
		if (st == GC_OK)
			StepMove(s, &b, ll);
	}
	StepRowsFree(&b, &s->alloc);
	return st;
}

GcStatus
gc_online_add(GcOnline *s, const double *row, char *errmsg, size_t errlen)
{
	GcStatus	st;
	int			need = s->initialized ? s->opt.batch_size : s->init_rows;

	memcpy(s->buf + (size_t) s->nbuf * s->p, row, sizeof(double) * s->p);
	s->nbuf++;
	if (s->nbuf < need)
		return GC_OK;
	st = Step(s, s->buf, s->nbuf, errmsg, errlen);
	s->nbuf = 0;
	return st;
}

GcStatus
gc_online_flush(GcOnline *s, char *errmsg, size_t errlen)
{
	GcStatus	st;

	if (s->nbuf == 0)
		return GC_OK;
	st = Step(s, s->buf, s->nbuf, errmsg, errlen);
	s->nbuf = 0;
	return st;
}

GcStatus
gc_online_merge(GcOnline *a, const GcOnline *b, char *errmsg, size_t errlen)
{
	int			p = a->p;
	GcStatus	st;

	if (b->p != p)
	{
		snprintf(errmsg, errlen, "cannot merge online states of %d and %d columns", p, b->p);
		return GC_EINVAL;
	}
	/* b's buffered rows go through a's batches */
	for (int i = 0; i < b->nbuf; i++)
	{
		st = gc_online_add(a, b->buf + (size_t) i * p, errmsg, errlen);
		if (st != GC_OK)
			return st;
	}
	if (!b->initialized || b->nrows == 0)
		return GC_OK;
	if (!a->initialized || a->nrows == 0)
	{
		/* a has seen no batch yet: take b's model, keep a's buffer */
		memcpy(a->types, b->types, sizeof(int) * p);
		memcpy(a->Sig, b->Sig, sizeof(double) * p * p);
		a->initialized = 1;
	}
	else
	{
		double		wa = (double) a->nrows / (double) (a->nrows + b->nrows);

		for (int j = 0; j < p; j++)
			if (a->types[j] != b->types[j])
			{
				snprintf(errmsg, errlen, "column %d has type %s in one partial state and %s in the other",
						 j + 1, gc_vartype_name(a->types[j]), gc_vartype_name(b->types[j]));
				return GC_EINVAL;
			}
		for (int k = 0; k < p * p; k++)
			a->Sig[k] = wa * a->Sig[k] + (1 - wa) * b->Sig[k];
	}
	for (int j = 0; j < p; j++)
	{
		st = SketchMerge(&a->sk[j], &b->sk[j], a->opt.max_knots, &a->alloc);
		if (st != GC_OK)
			return st;
		Invalidate(a, j);
		if (b->sk[j].npend > 0)
		{
			if (gc_sketch_reserve_pending(&a->sk[j], a->sk[j].npend + b->sk[j].npend, &a->alloc) != GC_OK)
				return GC_ENOMEM;
			memcpy(a->sk[j].pend + a->sk[j].npend, b->sk[j].pend, sizeof(double) * b->sk[j].npend);
			a->sk[j].npend += b->sk[j].npend;
		}
	}
	a->nrows += b->nrows;
	a->steps += b->steps;
	return GC_OK;
}

GcStatus
gc_online_model(const GcOnline *s0, const GcAlloc *alloc, GcModel **out,
				char *errmsg, size_t errlen)
{
	GcOnline   *s;
	GcModel    *m;
	GcStatus	st;
	int			p = s0->p;

	*out = NULL;
	st = gc_online_copy(s0, alloc, &s);
	if (st != GC_OK)
		return st;
	st = gc_online_flush(s, errmsg, errlen);
	for (int j = 0; j < p && st == GC_OK; j++)
		st = FlushPending(s, j);
	if (st != GC_OK)
	{
		gc_online_free(s);
		return st;
	}
	if (!s->initialized || s->nrows == 0)
	{
		snprintf(errmsg, errlen, "no rows to fit");
		gc_online_free(s);
		return GC_EINVAL;
	}
	m = Alloc(alloc, sizeof(GcModel));
	if (!m)
	{
		gc_online_free(s);
		return GC_ENOMEM;
	}
	memset(m, 0, sizeof(*m));
	m->p = p;
	m->kind = GC_MODEL_FULL;
	m->nrows = s->nrows;
	m->n_iter = (int) s->steps;
	m->max_iter = (int) s->steps;
	m->converged = 0;
	m->delta = s->delta;
	m->loglik = s->loglik;
	m->tol = s->opt.tol;
	m->ridge_steps = s->ridge_steps;
	m->training = GC_TRAIN_MINIBATCH_ONLINE;
	m->marg = Alloc(alloc, sizeof(GcMarginal) * p);
	m->corr = Alloc(alloc, sizeof(double) * p * p);
	if (!m->marg || !m->corr)
	{
		gc_online_free(s);
		return GC_ENOMEM;
	}
	memset(m->marg, 0, sizeof(GcMarginal) * p);
	memcpy(m->corr, s->Sig, sizeof(double) * p * p);
	for (int j = 0; j < p; j++)
	{
		GcSketch   *sk = &s->sk[j];
		double	   *x = Alloc(alloc, sizeof(double) * (sk->nk > 0 ? sk->nk : 1)),
				   *cum = Alloc(alloc, sizeof(double) * (sk->nk > 0 ? sk->nk : 1)),
				   *mult = Alloc(alloc, sizeof(double) * (sk->nk > 0 ? sk->nk : 1));

		if (!x || !cum || !mult)
		{
			gc_online_free(s);
			return GC_ENOMEM;
		}
		memcpy(x, sk->x, sizeof(double) * sk->nk);
		memcpy(cum, sk->cum, sizeof(double) * sk->nk);
		memcpy(mult, sk->mult, sizeof(double) * sk->nk);
		m->marg[j].type = s->types[j];
		m->marg[j].nknots = sk->nk;
		m->marg[j].exact = sk->exact;
		m->marg[j].n = sk->n;
		m->marg[j].x = x;
		m->marg[j].cum = cum;
		m->marg[j].mult = mult;
		gc_marginal_prepare(&m->marg[j]);
		/* a column whose distinct values shrank to one (heavy decay) is constant now */
		if (sk->nk == 1 && m->marg[j].type != GC_CONSTANT)
		{
			snprintf(errmsg, errlen, "column %d has a single observed value in the stream", j + 1);
			gc_online_free(s);
			return GC_EDEGENERATE;
		}
		if (sk->nk == 0)
		{
			snprintf(errmsg, errlen, "column %d has no observed values", j + 1);
			gc_online_free(s);
			return GC_EINVAL;
		}
	}
	gc_online_free(s);
	*out = m;
	return GC_OK;
}
